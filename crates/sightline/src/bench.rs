//! `sightline bench`: whole-process benchmarks that start their own server on a
//! temporary data directory and drive it over loopback, and in-process ones (profile
//! updates, TreeSHAP throughput) that need no server.

mod ingest;
mod lineage;
mod metrics;
mod profile;
mod queries;
mod server_process;
mod treeshap;

#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Stream prediction events into a fresh server and report throughput, batch
    /// acknowledgement latency and the server's peak memory.
    Ingest(ingest::Args),
    /// Drift, data-quality and performance queries and the web UI's pages over 30 days
    /// of minute-level traffic with labels.
    Queries(queries::Args),
    /// The full binary metric set over 10M labelled predictions (scikit-learn side by
    /// side: scripts/bench/metrics_sklearn.py on the records it writes).
    Metrics(metrics::Args),
    /// Lineage graph queries over a warehouse of 100,000 nodes (in-process store).
    Lineage(lineage::Args),
    /// Fold rows into profiles in-process (the aggregator's code), one thread and all cores.
    Profile(profile::Args),
    /// Path-dependent TreeSHAP throughput on a model file and rows (no server).
    Treeshap(treeshap::Args),
}

pub fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Ingest(args) => ingest::run(args),
        Which::Profile(args) => profile::run(args),
        Which::Queries(args) => queries::run(args),
        Which::Treeshap(args) => treeshap::run(args),
        Which::Lineage(args) => lineage::run(args),
        Which::Metrics(args) => metrics::run(args),
    }
}
