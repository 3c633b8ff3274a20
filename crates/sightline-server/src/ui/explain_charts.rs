//! Charts of explanations, drawn with plotters like the others: horizontal bars (global
//! importance), a waterfall (one prediction's attributions from the expected value to
//! its margin), a beeswarm (every sampled attribution, coloured by the feature's value),
//! partial dependence with ICE curves, and a tree of an ensemble drawn node by node.
//!
//! Rows of features need room for their names, so these charts have a wider label area
//! than the time charts; their hover data is one entry per row, top to bottom.

use super::charts::{COLORS, Chart, number};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::json;
use sightline_explain::{Condition, NodeKind, SplitRule, Tree};

const WIDTH: u32 = 760;
const MARGIN: u32 = 12;
/// Room for feature names left of the plot.
const NAMES: u32 = 200;
const X_LABELS: u32 = 28;
const ROW: u32 = 24;

fn err(e: impl std::fmt::Display) -> String {
    format!("chart: {e}")
}

fn height(rows: usize) -> u32 {
    2 * MARGIN + X_LABELS + ROW * rows.max(1) as u32
}

fn plot_box(rows: usize) -> [u32; 4] {
    [MARGIN + NAMES, MARGIN, WIDTH - MARGIN, height(rows) - MARGIN - X_LABELS]
}

/// Names down the left of the plot, one per row, row 0 at the top.
fn row_names(root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, names: &[String]) -> Result<(), String> {
    let [left, top, _, _] = plot_box(names.len());
    for (i, name) in names.iter().enumerate() {
        let text: String = name.chars().take(32).collect();
        let y = top as i32 + (ROW as i32) * i as i32 + ROW as i32 / 2;
        let style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(text, (left as i32 - 6, y), style)).map_err(err)?;
    }
    Ok(())
}

/// The x range covering `values` (and 0), padded.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((0.0_f64, 0.0_f64), |(a, b), v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.08).max(1e-9);
    (lo - pad, hi + pad)
}

type RowsChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart of one row per name (row 0 at the top) over x in `span`: the frame, the x
/// axis and the names; `marks` draws what the rows show.
fn rows_chart(
    names: &[String],
    (x0, x1): (f64, f64),
    marks: impl FnOnce(&mut RowsChart<'_, '_>) -> Result<(), String>,
) -> Result<String, String> {
    let rows = names.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height(rows))).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(MARGIN)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(NAMES)
            .build_cartesian_2d(x0..x1, rows as f64..0.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_label_formatter(&|v| number(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        marks(&mut chart)?;
        row_names(&root, names)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Horizontal bars, one per row (row 0 at the top), each labelled with its value.
pub fn hbars(names: &[String], values: &[f64]) -> Result<Chart, String> {
    let svg = rows_chart(names, span(values.iter().copied()), |chart| {
        let bars = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Rectangle::new([(0.0, i as f64 + 0.2), (v, i as f64 + 0.8)], COLORS[0].mix(0.85).filled()));
        chart.draw_series(bars).map(|_| ()).map_err(err)
    })?;
    let hover: Vec<String> = names.iter().zip(values).map(|(n, v)| format!("{n} · {}", number(*v))).collect();
    Ok(Chart { svg, plot: plot_box(names.len()), hover: json!(hover) })
}

/// A prediction's attributions as a waterfall: from the expected value (top row), each
/// feature's contribution moves the running total right (positive, red) or left
/// (negative, blue), down to the margin (bottom row).
pub fn waterfall(expected: f64, steps: &[(String, f64)], margin: f64) -> Result<Chart, String> {
    let mut names = vec!["expected value".to_owned()];
    names.extend(steps.iter().map(|(n, v)| format!("{n} ({}{})", if *v >= 0.0 { "+" } else { "" }, number(*v))));
    names.push("margin".to_owned());
    let rows = names.len();
    let mut running = expected;
    let mut spans = vec![(0.0_f64.min(expected), 0.0_f64.max(expected), COLORS[5])];
    for (_, v) in steps {
        let next = running + v;
        let color = if *v >= 0.0 { RGBColor(213, 94, 0) } else { RGBColor(0, 114, 178) };
        spans.push((running.min(next), running.max(next), color));
        running = next;
    }
    spans.push((0.0_f64.min(margin), 0.0_f64.max(margin), COLORS[5]));
    let (x0, x1) = span(spans.iter().flat_map(|(a, b, _)| [*a, *b]));
    let svg = rows_chart(&names, (x0, x1), |chart| {
        let bars = spans.iter().enumerate().map(|(i, &(a, b, color))| {
            // A zero contribution still shows as a hairline.
            let b = if b - a < (x1 - x0) * 0.002 { a + (x1 - x0) * 0.002 } else { b };
            Rectangle::new([(a, i as f64 + 0.2), (b, i as f64 + 0.8)], color.mix(0.9).filled())
        });
        chart.draw_series(bars).map(|_| ()).map_err(err)
    })?;
    let mut hover = vec![format!("expected value · {}", number(expected))];
    hover.extend(steps.iter().map(|(n, v)| format!("{n} · {}", number(*v))));
    hover.push(format!("margin · {}", number(margin)));
    Ok(Chart { svg, plot: plot_box(rows), hover: json!(hover) })
}

/// Blue (low) to red (high) through grey, for a feature value's rank in [0, 1].
fn low_high(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(0.0, 213.0), lerp(114.0, 94.0), lerp(178.0, 0.0))
}

/// Every sampled attribution of each feature (row) as a dot at its SHAP value, spread
/// vertically where dots crowd, coloured by the feature's value (`t`: its rank among
/// the sample, 0 low, 1 high; `None` for a missing value, drawn grey).
pub fn beeswarm(names: &[String], points: &[Vec<(f64, Option<f64>)>]) -> Result<Chart, String> {
    let (x0, x1) = span(points.iter().flatten().map(|(v, _)| *v));
    let svg = rows_chart(names, (x0, x1), |chart| {
        for (row, dots) in points.iter().enumerate() {
            // Deterministic spread: dots falling in the same of 120 x-bins stack up and
            // down from the row's centre line.
            let mut stacked = std::collections::HashMap::<i64, usize>::new();
            let placed = dots.iter().map(|&(v, t)| {
                let bin = ((v - x0) / (x1 - x0) * 120.0).floor() as i64;
                let k = stacked.entry(bin).or_insert(0);
                let offset = (((*k as f64) + 1.0) / 2.0).floor() * if (*k).is_multiple_of(2) { 1.0 } else { -1.0 };
                *k += 1;
                let y = row as f64 + 0.5 + (offset * 0.06).clamp(-0.42, 0.42);
                let color = t.map_or(RGBColor(150, 150, 150), low_high);
                Circle::new((v, y), 2, color.mix(0.8).filled())
            });
            chart.draw_series(placed).map_err(err)?;
        }
        Ok(())
    })?;
    let hover: Vec<String> = names
        .iter()
        .zip(points)
        .map(|(n, dots)| {
            let mean = dots.iter().map(|(v, _)| v.abs()).sum::<f64>() / dots.len().max(1) as f64;
            format!("{n} · mean |SHAP| {}", number(mean))
        })
        .collect();
    Ok(Chart { svg, plot: plot_box(names.len()), hover: json!(hover) })
}

const CURVE_HEIGHT: u32 = 280;

/// Partial dependence (bold) over ICE curves (thin, grey) against the feature's grid.
pub fn curves(grid: &[f64], average: &[f64], individual: &[Vec<f64>]) -> Result<Chart, String> {
    let (Some(&first), Some(&last)) = (grid.first(), grid.last()) else { return Err("chart: empty grid".into()) };
    let (x0, x1) = if last > first { (first, last) } else { (first - 0.5, first + 0.5) };
    let values = individual.iter().flatten().chain(average).copied().filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0) - 0.5, hi.max(0.0) + 0.5) };
    let pad = (hi - lo) * 0.08;
    let mut svg = String::new();
    let left = 56;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, CURVE_HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(MARGIN)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(left)
            .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| number(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        for curve in individual {
            let line = grid.iter().copied().zip(curve.iter().copied());
            chart.draw_series(LineSeries::new(line, RGBColor(180, 180, 180).stroke_width(1))).map_err(err)?;
        }
        let line = grid.iter().copied().zip(average.iter().copied());
        chart.draw_series(LineSeries::new(line, COLORS[0].stroke_width(3))).map_err(err)?;
        root.present().map_err(err)?;
    }
    let hover: Vec<String> = grid
        .iter()
        .zip(average)
        .map(|(x, y)| format!("at {} · partial dependence {}", number(*x), number(*y)))
        .collect();
    Ok(Chart {
        svg,
        plot: [MARGIN + left, MARGIN, WIDTH - MARGIN, CURVE_HEIGHT - MARGIN - X_LABELS],
        hover: json!(hover),
    })
}

/// Deepest level of a tree the view draws; deeper subtrees end in "…".
pub const TREE_LEVELS: usize = 6;

/// The text of a split: the test that sends a row left.
fn split_text(names: &[String], feature: usize, condition: &Condition, rule: SplitRule) -> String {
    let name = names.get(feature).map_or_else(|| format!("f{feature}"), Clone::clone);
    let name: String = name.chars().take(14).collect();
    match condition {
        Condition::Threshold(t) => {
            format!("{name} {} {}", if rule == SplitRule::Less { "<" } else { "≤" }, number(*t))
        }
        Condition::Equal(t) => format!("{name} = {}", number(*t)),
        Condition::Categories(_) => format!("{name} in set"),
    }
}

/// One tree of an ensemble: each node a box (splits with their test and cover, leaves
/// with their value), left branch (the test holds) to the left, levels top to bottom.
pub fn tree(tree: &Tree, names: &[String], rule: SplitRule) -> Result<Chart, String> {
    let levels = tree.depth().min(TREE_LEVELS) + 1;
    let level_height = 70;
    let total_height = 2 * MARGIN + level_height * levels as u32;
    let mut layout = Layout { tree, names, rule, slot: 0.0, placed: Vec::new() };
    layout.place(0, 0, None);
    let Layout { slot, placed, .. } = layout;
    let slots = slot.max(1.0);
    // Wide trees get a wider drawing (scrolled in the page) rather than unreadable boxes.
    let width = (WIDTH as f64).max(slots * 96.0) as u32;
    let px = |x: f64| (MARGIN as f64 + x / slots * f64::from(width - 2 * MARGIN)).round() as i32;
    let py = |level: usize| (MARGIN + level as u32 * level_height + 18) as i32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, total_height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        for p in &placed {
            if let Some(parent) = p.parent {
                let q = &placed[parent];
                let line =
                    PathElement::new(vec![(px(q.x), py(q.level) + 14), (px(p.x), py(p.level) - 14)], BLACK.mix(0.4));
                root.draw(&line).map_err(err)?;
            }
        }
        for p in &placed {
            let (x, y) = (px(p.x), py(p.level));
            let fill = if p.leaf { RGBColor(236, 244, 250) } else { RGBColor(255, 244, 224) };
            root.draw(&Rectangle::new([(x - 44, y - 14), (x + 44, y + 14)], fill.filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x - 44, y - 14), (x + 44, y + 14)], BLACK.mix(0.3))).map_err(err)?;
            let centre =
                |size| TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(p.text.clone(), (x, y - 5), centre(10))).map_err(err)?;
            root.draw(&Text::new(p.sub.clone(), (x, y + 7), centre(9))).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Chart { svg, plot: [0, 0, width, total_height], hover: json!([]) })
}

/// A node's place in the tree view.
struct Placed {
    x: f64,
    level: usize,
    text: String,
    sub: String,
    leaf: bool,
    parent: Option<usize>,
}

/// In-order positions: leaves (or cut subtrees) take one slot each, splits sit over the
/// middle of their children.
struct Layout<'a> {
    tree: &'a Tree,
    names: &'a [String],
    rule: SplitRule,
    slot: f64,
    placed: Vec<Placed>,
}

impl Layout<'_> {
    /// Places node `index` and its subtree; its x (in slots).
    fn place(&mut self, index: usize, level: usize, parent: Option<usize>) -> f64 {
        let Some(node) = self.tree.nodes().get(index) else { return self.slot };
        let at = self.placed.len();
        let cover = format!("cover {}", number(node.cover));
        self.placed.push(Placed { x: 0.0, level, text: String::new(), sub: cover, leaf: true, parent });
        let x = match &node.kind {
            NodeKind::Leaf { value } => {
                self.placed[at].text = format!("leaf {}", number(*value));
                self.slot += 1.0;
                self.slot - 0.5
            }
            NodeKind::Split(_) if level + 1 >= TREE_LEVELS => {
                self.placed[at].text = "…".into();
                self.slot += 1.0;
                self.slot - 0.5
            }
            NodeKind::Split(split) => {
                self.placed[at].text = split_text(self.names, split.feature, &split.condition, self.rule);
                self.placed[at].leaf = false;
                let (left, right) = (split.left, split.right);
                let l = self.place(left, level + 1, Some(at));
                let r = self.place(right, level + 1, Some(at));
                (l + r) / 2.0
            }
        };
        self.placed[at].x = x;
        x
    }
}
