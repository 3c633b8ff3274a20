//! The lineage benchmark: a warehouse of 100,000 nodes (jobs each reading two earlier
//! datasets and writing four new ones, in layers) folded through the store's own
//! `record_lineage`, then the time of the API's graph work — the walk and the
//! Marquez-shaped rendering — for a depth-20 graph around a mid-pipeline dataset, the
//! upstream of a leaf, and the impact of a source table.

use anyhow::Context;
use rand::{Rng, SeedableRng};
use sightline_server::lineage::{MAX_GRAPH_NODES, find_node, graph_json, impact};
use sightline_store::lineage::Direction;
use sightline_store::{AccessStore, DEFAULT_PROJECT, Synchronous};
use sightline_store::{DatasetRef, KeyRing, Keys, LineageStore, LineageUpdate, RunRef, SqliteOptions, SqliteStore};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jobs; each adds itself and four datasets (20,000 jobs: 100,000 nodes).
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Timed repetitions of each query.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

const OUTPUTS: usize = 4;
const SOURCES: usize = 100;

fn dataset(name: String) -> DatasetRef {
    DatasetRef { namespace: "warehouse".into(), name, facets: "{}".into(), ..DatasetRef::default() }
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let keys = Arc::new(Keys::new(KeyRing::generate(1)));
    let options = SqliteOptions { synchronous: Synchronous::Normal, ..SqliteOptions::default() };
    let store = SqliteStore::open(&dir.path().join("sightline.db"), options, keys).context("opening the store")?;
    let project = store.get_project(DEFAULT_PROJECT)?.context("the default project")?.id;

    // Layers: job i reads two datasets written before it (nearby ones mostly, so the
    // pipeline is deep) and writes four.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut written: Vec<String> = (0..SOURCES).map(|i| format!("source_{i}")).collect();
    let started = Instant::now();
    for job in 0..args.jobs {
        let pick = |rng: &mut rand::rngs::StdRng| {
            let n = written.len();
            let back = (rng.random::<f64>().powi(3) * n as f64) as usize;
            written[n - 1 - back.min(n - 1)].clone()
        };
        let inputs = vec![dataset(pick(&mut rng)), dataset(pick(&mut rng))];
        let outputs: Vec<DatasetRef> = (0..OUTPUTS).map(|o| dataset(format!("table_{job}_{o}"))).collect();
        written.extend(outputs.iter().map(|d| d.name.clone()));
        let update = LineageUpdate {
            project_id: project,
            kind: "run",
            event_time_ms: 1_790_000_000_000 + job as i64 * 1_000,
            raw: "{}".into(),
            job: Some(("etl".into(), format!("job_{job}"), "{}".into())),
            run: Some(RunRef { run_id: format!("run-{job}"), state: "COMPLETE".into(), facets: "{}".into() }),
            inputs,
            outputs,
        };
        store.record_lineage(&update, update.event_time_ms)?;
    }
    let nodes = args.jobs * (OUTPUTS + 1) + SOURCES;
    println!("folded {} events into {nodes} nodes in {:.1} s", args.jobs, started.elapsed().as_secs_f64());

    let mid = format!("dataset:warehouse:table_{}_0", args.jobs / 2);
    let leaf = format!("dataset:warehouse:table_{}_0", args.jobs - 1);
    let source = "dataset:warehouse:source_0".to_owned();
    let cases: [(&str, &str, Direction, usize, bool); 3] = [
        ("graph, depth 20, both ways, around a mid-pipeline table", &mid, Direction::Both, 20, false),
        ("upstream of a leaf table, depth 20", &leaf, Direction::Upstream, 20, false),
        ("impact of a source table (everything downstream)", &source, Direction::Downstream, usize::MAX, true),
    ];
    println!("| query | nodes returned | walk, median ms | walk + answer, median ms |");
    println!("|---|---|---|---|");
    for (label, id, direction, depth, is_impact) in cases {
        let node = find_node(&store, project, id).map_err(anyhow::Error::msg)?.context("the node exists")?;
        let mut times = Vec::with_capacity(args.repeat);
        let mut walks = Vec::with_capacity(args.repeat);
        let mut returned = 0;
        for _ in 0..args.repeat {
            let t = Instant::now();
            if is_impact {
                let doc = impact(&store, &node, None).map_err(anyhow::Error::msg)?;
                returned = doc["datasets"].as_array().map_or(0, Vec::len) + doc["jobs"].as_array().map_or(0, Vec::len);
            } else {
                let graph = store.lineage_graph(node.id, depth, direction, None, MAX_GRAPH_NODES)?;
                walks.push(t.elapsed().as_secs_f64() * 1000.0);
                let doc = graph_json(&store, &graph)?;
                returned = doc["graph"].as_array().map_or(0, Vec::len);
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let walk = if walks.is_empty() { "—".to_owned() } else { format!("{:.1}", median_ms(walks)) };
        println!("| {label} | {returned} | {walk} | {:.1} |", median_ms(times));
    }
    Ok(())
}
