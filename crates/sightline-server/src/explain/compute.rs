//! Runs the chosen method over every row, spread over threads: the one engine behind
//! `sightline explain` and the server's explain endpoint.
//!
//! Rows are explained independently, so each thread takes a contiguous block and the
//! blocks are joined in order: the result is the same as a serial run, bit for bit.

use anyhow::{Context, bail};
use sightline_explain::kernelshap::{Budget, KernelShap};
use sightline_explain::lime::{LimeOptions, LimeTabular};
use sightline_explain::{Ensemble, InterventionalTreeShap, TreeShap};
use sightline_explain::{PredictError, Predictor};

/// How a prediction is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Path-dependent TreeSHAP (the training covers; an ONNX model's from the background).
    Treeshap,
    /// Interventional TreeSHAP against the background rows.
    Interventional,
    /// KernelSHAP with every coalition enumerated, against the background rows.
    Kernelshap,
    /// LIME for tabular data with lime's defaults, discretized on the background rows.
    Lime,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Treeshap, Method::Interventional, Method::Kernelshap, Method::Lime];

    pub fn name(self) -> &'static str {
        match self {
            Method::Treeshap => "treeshap",
            Method::Interventional => "interventional",
            Method::Kernelshap => "kernelshap",
            Method::Lime => "lime",
        }
    }

    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether missing values may reach the method: trees route them; the model-agnostic
    /// methods mix rows with the background, where a missing value has no meaning.
    pub fn accepts_missing(self) -> bool {
        matches!(self, Method::Treeshap | Method::Interventional)
    }

    /// Whether the method reads the model's trees (and so needs a model file).
    pub fn needs_trees(self) -> bool {
        matches!(self, Method::Treeshap | Method::Interventional)
    }
}

/// A model called in batches that returns every output per row (the caller's endpoint).
pub trait RemoteModel: Sync {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError>;
    /// Rows per call and calls per explanation.
    fn budget(&self) -> Budget;
}

/// What is explained: a tree ensemble Sightline evaluates, or a remote model.
#[derive(Clone, Copy)]
pub enum Model<'a> {
    /// `needs_covers`: the file carries none (ONNX): path-dependent TreeSHAP counts them
    /// on the background.
    Trees {
        ensemble: &'a Ensemble,
        needs_covers: bool,
    },
    Remote(&'a dyn RemoteModel),
}

pub struct Request<'a> {
    pub method: Method,
    pub model: Model<'a>,
    pub rows: &'a [Vec<f64>],
    pub background: Option<&'a [Vec<f64>]>,
    /// A weight per background row (a summarized background); KernelSHAP only.
    pub background_weights: Option<&'a [f64]>,
    pub threads: usize,
    pub lime_samples: usize,
    pub seed: u64,
}

/// One output's explanation of one row.
pub enum Explanation {
    /// SHAP methods: `expected_value + sum(attributions) == margin`.
    Shap { expected_value: f64, margin: f64, attributions: Vec<f64> },
    /// LIME's local linear fit of the prediction; features it left out weigh 0.
    Lime { intercept: f64, prediction: f64, local_prediction: f64, score: f64, weights: Vec<f64> },
}

/// `[row][output]`.
pub type Explanations = Vec<Vec<Explanation>>;

/// Rows per KernelSHAP model call on a local model: the batch only bounds memory.
const KERNEL_BATCH_ROWS: usize = 8192;

/// A remote model as the model-agnostic methods call it.
struct Remote<'a>(&'a dyn RemoteModel);

impl Predictor for Remote<'_> {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, PredictError> {
        self.0.predict(rows)
    }
}

pub fn explain(request: &Request<'_>) -> anyhow::Result<Explanations> {
    let background = || request.background.with_context(|| format!("{} needs a background", request.method.name()));
    match (request.method, request.model) {
        (Method::Treeshap, Model::Trees { ensemble, needs_covers }) => {
            let counted;
            let model = if needs_covers {
                let background = request.background.context(
                    "an onnx model carries no covers: give a background (the training data or a sample of it) \
                     to count them on, or use the interventional method",
                )?;
                counted = ensemble.with_covers_from(background)?;
                &counted
            } else {
                ensemble
            };
            let shap = TreeShap::new(model)?;
            let explained = in_parallel_batches(request.rows, request.threads, |batch| Ok(shap.explain_batch(batch)?))?;
            Ok(explained.iter().map(|attributions| shap_outputs(attributions, model)).collect())
        }
        (Method::Interventional, Model::Trees { ensemble, .. }) => {
            let shap = InterventionalTreeShap::new(ensemble, background()?)?;
            in_parallel(request.rows, request.threads, |row| Ok(shap_outputs(&shap.explain(row)?, ensemble)))
        }
        (Method::Treeshap | Method::Interventional, Model::Remote(_)) => {
            bail!("{} reads the model's trees: upload the version's model file", request.method.name())
        }
        (Method::Kernelshap, model) => {
            let budget = match model {
                Model::Trees { .. } => Budget { batch_rows: KERNEL_BATCH_ROWS, max_calls: usize::MAX },
                Model::Remote(remote) => remote.budget(),
            };
            let kernel = match request.background_weights {
                Some(weights) => KernelShap::weighted(background()?, weights, budget)?,
                None => KernelShap::new(background()?, budget)?,
            };
            let outputs = output_count(model, request.rows)?;
            in_parallel(request.rows, request.threads, |row| {
                (0..outputs)
                    .map(|output| -> anyhow::Result<Explanation> {
                        // An output that cannot be computed is NaN, which KernelSHAP reports.
                        let call = |batch: &[Vec<f64>]| -> Vec<f64> {
                            match model {
                                Model::Trees { ensemble, .. } => batch
                                    .iter()
                                    .map(|r| ensemble.predict_margin(r).map_or(f64::NAN, |m| m[output]))
                                    .collect(),
                                Model::Remote(remote) => match remote.predict(batch) {
                                    Ok(answer) => answer
                                        .iter()
                                        .map(|values| values.get(output).copied().unwrap_or(f64::NAN))
                                        .collect(),
                                    Err(_) => vec![f64::NAN; batch.len()],
                                },
                            }
                        };
                        let explained = kernel.explain(call, row)?;
                        Ok(Explanation::Shap {
                            expected_value: explained.expected_value(),
                            margin: explained.prediction(),
                            attributions: explained.values().to_vec(),
                        })
                    })
                    .collect()
            })
        }
        (Method::Lime, model) => {
            if request.lime_samples < 2 {
                bail!("lime_samples must be at least 2");
            }
            let lime = LimeTabular::new(background()?)?;
            let outputs = output_count(model, request.rows)?;
            let remote;
            let predictor: &(dyn Predictor + Sync) = match model {
                Model::Trees { ensemble, .. } => ensemble,
                Model::Remote(r) => {
                    remote = Remote(r);
                    &remote
                }
            };
            let options = LimeOptions { num_features: lime.num_features(), ..LimeOptions::default() };
            in_parallel(request.rows, request.threads, |row| {
                let neighborhood = lime.sample(row, request.lime_samples, request.seed)?;
                (0..outputs)
                    .map(|output| -> anyhow::Result<Explanation> {
                        let fit = lime.explain(predictor, &neighborhood, output, &options)?;
                        let mut weights = vec![0.0; lime.num_features()];
                        for &(feature, weight) in &fit.weights {
                            if let Some(slot) = weights.get_mut(feature) {
                                *slot = weight;
                            }
                        }
                        Ok(Explanation::Lime {
                            intercept: fit.intercept,
                            prediction: fit.prediction,
                            local_prediction: fit.local_prediction,
                            score: fit.score,
                            weights,
                        })
                    })
                    .collect()
            })
        }
    }
}

/// How many outputs each row's explanation has: the ensemble's, or what the remote
/// model answers for the first row.
fn output_count(model: Model<'_>, rows: &[Vec<f64>]) -> anyhow::Result<usize> {
    match model {
        Model::Trees { ensemble, .. } => Ok(ensemble.num_outputs()),
        Model::Remote(remote) => {
            let Some(first) = rows.first() else { return Ok(0) };
            let answer = remote.predict(std::slice::from_ref(first)).map_err(|e| anyhow::anyhow!("{e}"))?;
            match answer.first() {
                Some(values) if !values.is_empty() => Ok(values.len()),
                _ => bail!("the model endpoint returned no outputs for a row"),
            }
        }
    }
}

fn shap_outputs(attributions: &sightline_explain::Attributions, ensemble: &Ensemble) -> Vec<Explanation> {
    (0..ensemble.num_outputs())
        .map(|output| Explanation::Shap {
            expected_value: attributions.expected_value(output),
            margin: attributions.margin(output),
            attributions: attributions.values(output).to_vec(),
        })
        .collect()
}

/// `explain_row` on every row, on `threads` threads in contiguous blocks, in row order.
/// The first error (by row) is returned with the row's number (1-based, as in the file).
pub fn in_parallel<T, F>(rows: &[Vec<f64>], threads: usize, explain_row: F) -> anyhow::Result<Vec<T>>
where
    T: Send,
    F: Fn(&[f64]) -> anyhow::Result<T> + Sync,
{
    let block = rows.len().div_ceil(threads.max(1)).max(1);
    let explain_block = |start: usize, block: &[Vec<f64>]| {
        block
            .iter()
            .enumerate()
            .map(|(i, row)| explain_row(row).with_context(|| format!("row {}", start + i + 1)))
            .collect::<anyhow::Result<Vec<T>>>()
    };
    over_blocks(rows, block, explain_block)
}

/// Runs `explain_block(first row index, block)` on each `block`-row slice of `rows`, one
/// scoped thread per slice, and joins the results in row order.
fn over_blocks<T, F>(rows: &[Vec<f64>], block: usize, explain_block: F) -> anyhow::Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, &[Vec<f64>]) -> anyhow::Result<Vec<T>> + Sync,
{
    let results: Vec<anyhow::Result<Vec<T>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(block)
            .enumerate()
            .map(|(index, chunk)| {
                let explain_block = &explain_block;
                scope.spawn(move || explain_block(index * block, chunk))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("an explanation thread panicked"))))
            .collect()
    });
    let mut out = Vec::with_capacity(rows.len());
    for result in results {
        out.extend(result?);
    }
    Ok(out)
}

/// Rows per [`TreeShap::explain_batch`] call: enough that each tree is walked for many
/// rows while it is in cache, few enough that a thread's batch results stay small.
pub const TREESHAP_BATCH_ROWS: usize = 64;

/// As [`in_parallel`], but `explain_batch` takes up to [`TREESHAP_BATCH_ROWS`] rows at
/// once and returns one result per row; an error names the batch's rows.
pub fn in_parallel_batches<T, F>(rows: &[Vec<f64>], threads: usize, explain_batch: F) -> anyhow::Result<Vec<T>>
where
    T: Send,
    F: Fn(&[Vec<f64>]) -> anyhow::Result<Vec<T>> + Sync,
{
    let block = rows.len().div_ceil(threads.max(1)).max(1);
    let explain_block = |start: usize, block: &[Vec<f64>]| -> anyhow::Result<Vec<T>> {
        let mut out = Vec::with_capacity(block.len());
        for (index, batch) in block.chunks(TREESHAP_BATCH_ROWS).enumerate() {
            let first = start + index * TREESHAP_BATCH_ROWS + 1;
            let explained =
                explain_batch(batch).with_context(|| format!("rows {first} to {}", first + batch.len() - 1))?;
            out.extend(explained);
        }
        Ok(out)
    };
    over_blocks(rows, block, explain_block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_blocks_keep_row_order_and_report_the_first_failing_row() {
        let rows: Vec<Vec<f64>> = (0..11).map(|i| vec![f64::from(i)]).collect();
        for threads in 1..5 {
            let doubled = in_parallel(&rows, threads, |row| Ok(row[0] * 2.0)).expect("no errors");
            assert_eq!(doubled, (0..11).map(|i| f64::from(i) * 2.0).collect::<Vec<_>>());
            let error = in_parallel(&rows, threads, |row| if row[0] >= 7.0 { bail!("too big") } else { Ok(()) })
                .expect_err("rows 8 on fail");
            assert_eq!(format!("{error:#}"), "row 8: too big");
        }
        assert!(in_parallel(&[], 2, |_| Ok(())).expect("empty").is_empty());
        let rows: Vec<Vec<f64>> = (0..300).map(|i| vec![f64::from(i)]).collect();
        for threads in 1..4 {
            let batched = in_parallel_batches(&rows, threads, |batch| Ok(batch.iter().map(|r| r[0]).collect()))
                .expect("no errors");
            assert_eq!(batched, (0..300).map(f64::from).collect::<Vec<_>>());
        }
        let error =
            in_parallel_batches(
                &rows,
                1,
                |batch| if batch[0][0] >= 64.0 { bail!("bad") } else { Ok(vec![(); batch.len()]) },
            )
            .expect_err("second batch fails");
        assert_eq!(format!("{error:#}"), "rows 65 to 128: bad");
    }
}
