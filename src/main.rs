//! The `weir` command line: `weir serve` runs a broker, `weir dump-log`
//! prints log files; nothing else lives here.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "weir", version, about = "A Kafka-wire-compatible message broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker (defaults: node.id 1, PLAINTEXT://localhost:9092, log.dirs ./data).
    Serve {
        /// A Kafka `server.properties` file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override one property: `--override key=value` (repeatable).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Print log segments, indexes and producer snapshots (kafka-dump-log).
    DumpLog(weir::tools::dump_log::DumpLogArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_target(false)
        .init();
    match cli.command {
        Command::Serve { config, overrides } => {
            let cfg =
                weir::config::BrokerConfig::load(config.as_deref(), &overrides).context("invalid configuration")?;
            raise_open_files_limit();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(cfg))
        }
        Command::DumpLog(args) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let summary = weir::tools::dump_log::run(&args, &mut out, &mut std::io::stderr())?;
            if summary.unreadable_files > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as the JVM does
/// for Kafka (every partition's active segment holds a file descriptor, so
/// thousands of partitions need more than the usual soft limit of 1024),
/// and lets rolled segments keep up to half of it open.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let old = limit.rlim_cur;
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                tracing::debug!(from = old, to = raised.rlim_cur, "raised the open files limit");
                limit = raised;
            }
        }
    }
    let soft = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    weir::storage::segment_file::set_idle_file_limit(soft / 2);
}

async fn serve(cfg: weir::config::BrokerConfig) -> anyhow::Result<()> {
    let server = weir::node::compose_and_start(cfg).await.context("cannot start broker")?;
    for (name, addr) in &server.addrs {
        println!("weir listening on {name} {addr}");
    }
    // A signal starts the clean stop (controlled shutdown first, while every
    // listener and the controller role still serve); cancelling the shared
    // token first would close the CONTROLLER listener under the quorum.
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
        _ = term.recv() => tracing::info!("shutting down"),
        _ = server.shutdown.cancelled() => {}
    }
    server.shutdown().await;
    Ok(())
}
