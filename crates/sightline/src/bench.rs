//! `sightline bench`: whole-process benchmarks that start their own server on a
//! temporary data directory and drive it over loopback, and TreeSHAP throughput, which
//! needs no server.

mod ingest;
mod server_process;
mod treeshap;

#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Stream prediction events into a fresh server and report throughput, batch
    /// acknowledgement latency and the server's peak memory.
    Ingest(ingest::Args),
    /// Path-dependent TreeSHAP throughput on a model file and rows (no server).
    Treeshap(treeshap::Args),
}

pub fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Ingest(args) => ingest::run(args),
        Which::Treeshap(args) => treeshap::run(args),
    }
}
