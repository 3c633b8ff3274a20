//! The `sightline` binary: command-line parsing and wiring only.

mod admin;
mod allocator;
mod audit_cmd;
mod bench;
mod config;
mod explain;
mod export_cmd;
mod logging;
mod monitors_cmd;
mod report;
mod rotate_key;
mod server_conn;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "sightline", version, about = "Observability for machine-learning models in production")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<config::ServeArgs>),
    /// Users and tokens on a data directory: the first administrator, automation
    /// tokens, and revoking or disabling in an incident; master key rotation.
    Admin {
        #[command(subcommand)]
        which: admin::Which,
    },
    /// Verify or export the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        which: audit_cmd::Which,
    },
    /// Monitors as code: check a monitors file, export Prometheus alerting rules.
    Monitors {
        #[command(subcommand)]
        which: monitors_cmd::Which,
    },
    /// Offline reports from files, without a server.
    Report {
        #[command(subcommand)]
        which: report::Which,
    },
    /// Explain a tree-ensemble model's predictions for the rows of a file (TreeSHAP,
    /// interventional TreeSHAP, KernelSHAP, LIME), without a server.
    Explain(explain::Args),
    /// Download a model's training data (labelled predictions) from a running server as
    /// CSV, NDJSON or Parquet.
    Export(export_cmd::ExportArgs),
    /// Benchmarks that start their own server.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            allocator::reexec_tuned_for_serving();
            serve(*args)
        }
        Command::Admin { which } => admin::run(which),
        Command::Audit { which } => audit_cmd::run(which),
        Command::Monitors { which } => monitors_cmd::run(which),
        Command::Report { which } => report::run(which),
        Command::Explain(args) => explain::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::Bench { which } => bench::run(which),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; no backtrace, which helps no operator.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: config::ServeArgs) -> anyhow::Result<()> {
    let settings = config::resolve(args)?;
    logging::init(settings.log_format, &settings.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        tracing::info!(data_dir = %settings.server.data_dir.display(), "starting");
        let server = sightline_server::Server::start(settings.server).await?;
        let demo = match settings.demo {
            Some(config) => Some(start_demo(&server, config).await?),
            None => None,
        };
        let served = server.serve(shutdown_signal()).await.context("serving");
        if let Some(task) = demo {
            task.abort();
        }
        served
    })
}

/// Prepares the demo's user and token, says how to sign in, and starts its traffic.
async fn start_demo(
    server: &sightline_server::Server,
    config: sightline_server::demo::DemoConfig,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let credentials = sightline_server::demo::prepare(server).await?;
    let addr = server.local_addr().context("reading the listening address")?;
    println!(
        "demo: open http://{addr}/ui/ and sign in as {:?} with the password {} (new at every start)",
        credentials.user, credentials.password
    );
    Ok(sightline_server::demo::spawn(addr, credentials.token, config))
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
