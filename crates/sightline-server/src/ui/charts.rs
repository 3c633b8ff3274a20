//! SVG charts drawn on the server with plotters: lines over time, grouped bars
//! (distributions) and the drift heatmap. Each chart comes with the pixel box of its
//! plotting area and its data as JSON, which `ui.js` reads for hover details.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::{Value, json};

const WIDTH: u32 = 760;
const HEIGHT: u32 = 260;
const MARGIN: u32 = 12;
const X_LABELS: u32 = 28;
const Y_LABELS: u32 = 56;

/// The palette, colour-blind safe (Okabe–Ito).
pub const COLORS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
];

/// A rendered chart: the SVG text, and what the page's script needs for hover details.
#[derive(Debug, Clone)]
pub struct Chart {
    pub svg: String,
    /// `[left, top, right, bottom]` of the plotting area, in SVG pixels.
    pub plot: [u32; 4],
    /// Per hover column: its label and its values (`kind`-specific), as JSON.
    pub hover: Value,
}

/// One line of a time chart; `None` where a window has no value.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("chart: {e}")
}

/// `HH:MM` (UTC) for ranges within two days, else `MM-DD HH:MM`.
pub fn time_label(ms: i64, span_ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    if span_ms <= 2 * 86_400_000 {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{:02}-{:02} {:02}:{:02}", u8::from(t.month()), t.day(), t.hour(), t.minute())
    }
}

/// A readable number: integers as integers, else up to four significant digits.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v == v.trunc() && v.abs() < 1e12 {
        return format!("{v:.0}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A legend along the top of the plotting area: a swatch and the name of each series.
fn legend(root: &Area<'_>, names: &[&str]) -> Result<(), String> {
    let mut x = (MARGIN + Y_LABELS + 10) as i32;
    let y = (MARGIN + 6) as i32;
    for (i, name) in names.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        root.draw(&Rectangle::new([(x, y), (x + 12, y + 10)], color.filled())).map_err(err)?;
        root.draw(&Text::new(name.to_string(), (x + 16, y - 1), ("sans-serif", 12).into_font())).map_err(err)?;
        x += 16 + 7 * name.chars().count() as i32 + 18;
    }
    Ok(())
}

fn plot_box(height: u32) -> [u32; 4] {
    [MARGIN + Y_LABELS, MARGIN, WIDTH - MARGIN, height - MARGIN - X_LABELS]
}

fn finish(svg: String, height: u32, hover: Value) -> Chart {
    Chart { svg, plot: plot_box(height), hover }
}

/// The hover readout of point `i`: every series' name and value there.
fn readout(series: &[Series], i: usize) -> String {
    let parts: Vec<String> = series
        .iter()
        .map(|s| format!("{} {}", s.name, s.values.get(i).copied().flatten().map_or("–".into(), number)))
        .collect();
    parts.join(" · ")
}

/// Lines over the windows `[(from, to)]`, each point at its window's start.
pub fn lines(windows: &[(i64, i64)], series: &[Series], y_floor_zero: bool) -> Result<Chart, String> {
    let mut svg = String::new();
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Err("chart: no windows".into());
    };
    let (x0, x1) = (first.0, last.1.max(first.0 + 1));
    let values = series.iter().flat_map(|s| s.values.iter().flatten().copied()).filter(|v| v.is_finite());
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if y_floor_zero {
        lo = lo.min(0.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.08 } else { hi.abs().max(1.0) * 0.1 };
    let (y0, y1) = (if y_floor_zero && lo >= 0.0 { 0.0 } else { lo - pad }, hi + pad);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(MARGIN)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let span = x1 - x0;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|t| time_label(*t, span))
            .y_label_formatter(&|v| number(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            // A gap in the data breaks the line, rather than bridging it.
            let mut run: Vec<(i64, f64)> = Vec::new();
            let mut runs = Vec::new();
            for (w, v) in windows.iter().zip(&s.values) {
                match v {
                    Some(v) if v.is_finite() => run.push((w.0, *v)),
                    _ => runs.push(std::mem::take(&mut run)),
                }
            }
            runs.push(run);
            for run in runs.into_iter().filter(|r| !r.is_empty()) {
                if run.len() == 1 {
                    chart.draw_series(run.iter().map(|p| Circle::new(*p, 2, color.filled()))).map_err(err)?;
                } else {
                    chart.draw_series(LineSeries::new(run, color.stroke_width(2))).map_err(err)?;
                }
            }
        }
        if series.len() > 1 {
            legend(&root, &series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())?;
        }
        root.present().map_err(err)?;
    }
    let hover: Vec<Value> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| json!(format!("{} · {}", time_label(w.0, x1 - x0), readout(series, i))))
        .collect();
    Ok(finish(svg, HEIGHT, json!(hover)))
}

/// Grouped bars: one group per label, one bar per series (shares, 0–1).
pub fn bars(labels: &[String], series: &[Series]) -> Result<Chart, String> {
    let mut svg = String::new();
    let n = labels.len().max(1);
    let top = series.iter().flat_map(|s| s.values.iter().flatten().copied()).fold(0.0_f64, f64::max);
    let y1 = if top > 0.0 { top * 1.1 } else { 1.0 };
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(MARGIN)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(0.0..n as f64, 0.0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_label_formatter(&|v| number(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()
            .map_err(err)?;
        // Group labels by hand, centred under their groups, every other one lower so
        // that long bin labels do not overlap.
        let [left, _, right, bottom] = plot_box(HEIGHT);
        let group = f64::from(right - left) / n as f64;
        for (i, label) in labels.iter().enumerate() {
            let x = f64::from(left) + group * (i as f64 + 0.5);
            let y = bottom as i32 + 4 + if n > 6 && i % 2 == 1 { 12 } else { 0 };
            let text: String = label.chars().take(16).collect();
            let style = TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(text, (x.round() as i32, y), style)).map_err(err)?;
        }
        let k = series.len().max(1) as f64;
        for (j, s) in series.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let bars = s.values.iter().enumerate().filter_map(|(i, v)| {
                let v = (*v)?;
                let left = i as f64 + 0.1 + 0.8 * j as f64 / k;
                Some(Rectangle::new([(left, 0.0), (left + 0.8 / k, v)], color.mix(0.85).filled()))
            });
            chart.draw_series(bars).map_err(err)?;
        }
        legend(&root, &series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())?;
        root.present().map_err(err)?;
    }
    let hover: Vec<Value> =
        labels.iter().enumerate().map(|(i, l)| json!(format!("{l} · {}", readout(series, i)))).collect();
    Ok(finish(svg, HEIGHT, json!(hover)))
}

/// One heatmap cell: the drift score, how strong the drift is relative to the
/// column's threshold (1 at the threshold), and whether it drifted.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub score: f64,
    pub strength: f64,
    pub drifted: bool,
}

/// Colour of a drift strength: pale near 0, deepening to red at twice the threshold.
fn heat(strength: f64) -> RGBColor {
    let t = (strength / 2.0).clamp(0.0, 1.0);
    let lerp = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    RGBColor(lerp(236, 200), lerp(244, 40), lerp(250, 40))
}

/// Features (rows) × windows (columns), coloured by score over threshold; drifted
/// cells carry a dark outline and a dot.
pub fn heatmap(features: &[String], windows: &[(i64, i64)], cells: &[Vec<Option<Cell>>]) -> Result<Chart, String> {
    let mut svg = String::new();
    let rows = features.len().max(1);
    let height = (rows as u32 * 22 + MARGIN * 2 + X_LABELS).max(120);
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Err("chart: no windows".into());
    };
    let span = last.1 - first.0;
    let cols = windows.len();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(MARGIN)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS + 60)
            .build_cartesian_2d(0.0..cols as f64, 0.0..rows as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(cols.min(8))
            .x_label_formatter(&|x| windows.get(x.floor() as usize).map_or_else(String::new, |w| time_label(w.0, span)))
            .y_labels(0)
            .draw()
            .map_err(err)?;
        // Row labels by hand, centred on their rows (axis labels sit on grid lines).
        let [_, top, _, bottom] = heatmap_box(height);
        let row_height = f64::from(bottom - top) / rows as f64;
        for (r, name) in features.iter().enumerate() {
            let label: String = name.chars().take(18).collect();
            let y = f64::from(top) + row_height * (r as f64 + 0.5) - 6.0;
            root.draw(&Text::new(label, (MARGIN as i32, y.round() as i32), ("sans-serif", 12).into_font()))
                .map_err(err)?;
        }
        let area = chart.plotting_area();
        for (r, row) in cells.iter().enumerate() {
            let y = (rows - 1 - r) as f64;
            for (c, cell) in row.iter().enumerate() {
                let x = c as f64;
                let color = cell.map_or(RGBColor(248, 248, 248), |c| heat(c.strength));
                area.draw(&Rectangle::new([(x, y), (x + 1.0, y + 1.0)], color.filled())).map_err(err)?;
                area.draw(&Rectangle::new([(x, y), (x + 1.0, y + 1.0)], WHITE.stroke_width(1))).map_err(err)?;
                if cell.is_some_and(|c| c.drifted) {
                    area.draw(&Circle::new((x + 0.5, y + 0.5), 3, BLACK.filled())).map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    // Hover: per column, every feature's score (top to bottom).
    let hover: Vec<Value> = windows
        .iter()
        .enumerate()
        .map(|(c, w)| {
            let parts: Vec<Value> = features
                .iter()
                .zip(cells)
                .map(|(f, row)| match row.get(c).copied().flatten() {
                    Some(cell) => {
                        json!(format!("{f} {}{}", number(cell.score), if cell.drifted { " (drifted)" } else { "" }))
                    }
                    None => json!(format!("{f} –")),
                })
                .collect();
            json!({ "label": time_label(w.0, span), "rows": parts })
        })
        .collect();
    let mut chart = finish(svg, height, json!(hover));
    chart.plot = heatmap_box(height);
    Ok(chart)
}

/// The heatmap's plotting area: wider labels on the left than the other charts.
fn heatmap_box(height: u32) -> [u32; 4] {
    [MARGIN + Y_LABELS + 60, MARGIN, WIDTH - MARGIN, height - MARGIN - X_LABELS]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_is_an_svg_with_a_path() {
        let windows = vec![(0, 60_000), (60_000, 120_000), (120_000, 180_000)];
        let s = Series { name: "p99".into(), values: vec![Some(1.0), None, Some(3.0)] };
        let c = lines(&windows, &[s], true).expect("drawn");
        assert!(c.svg.starts_with("<svg"), "{}", &c.svg[..40]);
        assert!(c.svg.contains("<circle") || c.svg.contains("<polyline"));
        assert_eq!(c.hover.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.123456), "0.1235");
        assert_eq!(number(123.456), "123.5");
        assert_eq!(number(0.2), "0.2");
        assert_eq!(number(f64::NAN), "–");
    }
}
