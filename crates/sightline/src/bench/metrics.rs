//! The performance-metrics benchmark: the full binary metric set (confusion matrix,
//! accuracy, precision, recall, F1, specificity, ROC AUC, average precision, log loss,
//! Brier, ECE) over 10,000,000 labelled predictions with `sightline_stats`. The records
//! are written to a file first, so that `scripts/bench/metrics_sklearn.py` times
//! scikit-learn on the very same data and checks the values agree.

use anyhow::Context;
use rand::{Rng, SeedableRng};
use sightline_stats::performance::{BinaryRecord, Decision, binary};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Labelled predictions.
    #[arg(long, default_value_t = 10_000_000)]
    rows: usize,
    /// Where to write the records (scores as little-endian f64, then labels and
    /// predictions as one byte each) and the metrics as JSON.
    #[arg(long, default_value = "/tmp/sightline-metrics-bench")]
    dir: PathBuf,
    /// Timed repetitions.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Scores with ties (four decimals, as models often log them), labels drawn from the
    // score so the metrics are those of a fairly calibrated model.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let records: Vec<BinaryRecord> = (0..args.rows)
        .map(|_| {
            let score = (rng.random::<f64>() * 10_000.0).round() / 10_000.0;
            let label = rng.random::<f64>() < 0.1 + 0.8 * score;
            BinaryRecord { label, prediction: score >= 0.5, score }
        })
        .collect();
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(args.dir.join("records.bin"))?);
    for r in &records {
        out.write_all(&r.score.to_le_bytes())?;
    }
    for r in &records {
        out.write_all(&[u8::from(r.label)])?;
    }
    for r in &records {
        out.write_all(&[u8::from(r.prediction)])?;
    }
    out.flush()?;

    let mut times = Vec::with_capacity(args.repeat);
    let mut metrics = None;
    for _ in 0..args.repeat.max(1) {
        let t = Instant::now();
        metrics = Some(binary(&records, Decision::Logged).map_err(|e| anyhow::anyhow!("{e}"))?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let m = metrics.context("at least one run")?;
    let doc = serde_json::json!({
        "rows": args.rows,
        "seconds_median": times[times.len() / 2],
        "accuracy": m.accuracy, "precision": m.precision, "recall": m.recall, "f1": m.f1,
        "specificity": m.specificity, "roc_auc": m.roc_auc, "average_precision": m.average_precision,
        "log_loss": m.log_loss, "brier": m.brier, "expected_calibration_error": m.expected_calibration_error,
        "confusion": [[m.confusion.true_negatives, m.confusion.false_positives],
                      [m.confusion.false_negatives, m.confusion.true_positives]],
    });
    std::fs::write(args.dir.join("sightline.json"), serde_json::to_vec_pretty(&doc)?)?;
    println!(
        "sightline: {} rows, full binary metric set in {:.3} s (median of {}; one thread)",
        args.rows,
        times[times.len() / 2],
        times.len()
    );
    Ok(())
}
