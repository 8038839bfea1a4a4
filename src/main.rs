//! The carecall command line. `anyhow` lives here only, at the binary's edge.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use carecall::call::{self, CallRequest};
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    carecall::telemetry::init();
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
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let dialplan = dialplan.unwrap_or_else(|| config.ivr.default_dialplan.clone());
            let svc = carecall::setup::services(config).await?;
            let report = call::place_call(
                &svc,
                CallRequest {
                    target,
                    dialplan,
                    dossier,
                },
            )
            .await?;
            println!("{}", serde_json::to_string(&report)?);
            svc.agent.shutdown();
            if report.ran_to_end() {
                Ok(ExitCode::SUCCESS)
            } else {
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
