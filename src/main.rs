//! The carecall command line. `anyhow` lives here only, at the binary's edge.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use std::sync::Arc;

use carecall::call::{self, CallRequest, CallServices};
use carecall::config::Config;

#[derive(Parser)]
#[command(
    name = "carecall",
    version,
    about = "Outbound survey calls for the 1022 hotline"
)]
struct Cli {
    /// Config file (default: carecall.toml when present, else built-in defaults).
    #[arg(long, global = true, env = "CARECALL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Place one call through the trunk, run the dialplan, print the result as JSON.
    Call {
        /// A Vietnamese number (0912345678, +84912345678…) or a SIP URI.
        target: String,
        #[arg(long)]
        dialplan: Option<String>,
        /// Dossier code whose procedure/field/place the greeting names.
        #[arg(long)]
        dossier: Option<String>,
        /// Place this many calls to the target at once (load testing); one JSON
        /// line per call, a summary on stderr.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// Run the simulated phone (a SIP UA that answers and presses keys).
    Phone {
        #[arg(long, default_value = "127.0.0.1:5090")]
        bind: std::net::SocketAddr,
    },
    /// Try carecall with no setup: a loopback trunk, SQLite and local files.
    Demo {
        /// Working directory for the demo's database and recordings.
        #[arg(long, default_value = "demo-data")]
        dir: PathBuf,
    },
}

async fn call_once(svc: &CallServices, request: CallRequest) -> anyhow::Result<ExitCode> {
    let report = call::place_call(svc, request).await?;
    println!("{}", serde_json::to_string(&report)?);
    if report.ran_to_end() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "carecall: call {}: {} ({})",
        report.disposition.as_str(),
        report.reason,
        report
            .sip_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "no SIP status".into())
    );
    Ok(ExitCode::from(1))
}

/// Places `n` calls at once, each in its own task, and prints a summary.
async fn call_many(
    svc: &Arc<CallServices>,
    request: CallRequest,
    n: usize,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (svc, request) = (svc.clone(), request.clone());
            tokio::spawn(async move { call::place_call(&svc, request).await })
        })
        .collect();
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    let mut seconds = 0.0;
    for task in tasks {
        let label = match task.await {
            Ok(Ok(report)) => {
                println!("{}", serde_json::to_string(&report)?);
                seconds += report.recording.as_ref().map_or(0.0, |r| r.seconds);
                report.disposition.as_str().to_string()
            }
            Ok(Err(e)) => format!("not placed: {e}"),
            Err(e) => format!("task failed: {e}"),
        };
        *tally.entry(label).or_default() += 1;
    }
    eprintln!(
        "carecall: {n} calls in {:.1} s, {:.1} call-minutes recorded: {tally:?}",
        started.elapsed().as_secs_f64(),
        seconds / 60.0
    );
    let ok = tally.get("completed").copied().unwrap_or(0) == n;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    carecall::telemetry::init(matches!(cli.command, Command::Demo { .. }));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("carecall: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("carecall: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Call {
            target,
            dialplan,
            dossier,
            repeat,
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let dialplan = dialplan.unwrap_or_else(|| config.ivr.default_dialplan.clone());
            let svc = Arc::new(carecall::setup::services(config).await?);
            let request = CallRequest {
                target,
                dialplan,
                dossier,
            };
            let code = if repeat <= 1 {
                call_once(&svc, request).await?
            } else {
                call_many(&svc, request, repeat).await?
            };
            svc.agent.shutdown();
            Ok(code)
        }
        Command::Phone { bind } => {
            let phone = carecall::phone::Phone::start(bind).await?;
            eprintln!("carecall phone listening on {}", phone.local_addr());
            tokio::signal::ctrl_c().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir } => {
            carecall::demo::run(&dir).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
