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
    /// Run the SIP side, the campaign dialer and the HTTP API until stopped.
    Serve,
    /// Import dossiers (CSV or XLSX) or units (CSV) into the database.
    Import {
        #[command(subcommand)]
        what: ImportKind,
    },
    /// Create and control campaigns.
    Campaign {
        #[command(subcommand)]
        action: CampaignCmd,
    },
    /// Check that stored survey answers were not changed behind carecall's back.
    Audit {
        #[command(subcommand)]
        action: AuditCmd,
    },
    /// Add and list users of the admin pages and API.
    User {
        #[command(subcommand)]
        action: UserCmd,
    },
    /// Operator accounts (SIP credentials for the built-in registrar).
    Operator {
        #[command(subcommand)]
        action: OperatorCmd,
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

async fn campaign_cmd(
    store: &carecall::store::Store,
    config: &Config,
    action: CampaignCmd,
) -> anyhow::Result<ExitCode> {
    use carecall::store::CampaignId;
    use carecall::store::CampaignStatus;
    let set = |id: String, status: CampaignStatus| async move {
        store
            .set_campaign_status(&CampaignId(id.clone()), status)
            .await?;
        println!("{{\"id\":\"{id}\",\"status\":\"{status}\"}}");
        anyhow::Ok(ExitCode::SUCCESS)
    };
    match action {
        CampaignCmd::Create { spec } => {
            if config.dialer.units_file.exists() {
                carecall::campaign::load_units(store, &config.dialer.units_file).await?;
            }
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("reading {}", spec.display()))?;
            let spec: carecall::campaign::create::CampaignSpec = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a campaign spec", spec.display()))?;
            let created =
                carecall::campaign::create::create(store, spec, chrono::Utc::now()).await?;
            println!("{}", serde_json::to_string(&created)?);
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::List => {
            for c in store.campaigns().await? {
                let progress = store.campaign_progress(&c.id).await?;
                println!(
                    "{}",
                    serde_json::json!({"campaign": c, "progress": progress})
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Start { id } => set(id, CampaignStatus::Running).await,
        CampaignCmd::Pause { id } => set(id, CampaignStatus::Paused).await,
        CampaignCmd::Stop { id } => set(id, CampaignStatus::Stopped).await,
    }
}

/// Ctrl-C or SIGTERM (systemd, docker stop).
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
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

#[derive(Subcommand)]
enum ImportKind {
    /// Dossiers: code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at
    Dossiers { file: PathBuf },
    /// Administrative units: code,name,level,parent
    Units { file: PathBuf },
}

#[derive(Subcommand)]
enum OperatorCmd {
    /// Create an operator; only the digest HA1 for `registrar.realm` is stored.
    Add {
        username: String,
        #[arg(long)]
        sip_user: String,
        /// The SIP password (or CARECALL_OPERATOR_PASSWORD, kept out of `ps`).
        #[arg(long, env = "CARECALL_OPERATOR_PASSWORD", hide_env_values = true)]
        password: String,
        /// Display name (default: the username).
        #[arg(long)]
        name: Option<String>,
        /// Administrative unit code the operator belongs to.
        #[arg(long)]
        unit: Option<String>,
    },
    /// List operators with their state and registered contacts, one JSON line each.
    List,
}

async fn operator_cmd(
    store: &carecall::store::Store,
    config: &Config,
    action: OperatorCmd,
) -> anyhow::Result<ExitCode> {
    match action {
        OperatorCmd::Add {
            username,
            sip_user,
            password,
            name,
            unit,
        } => {
            let signup = carecall::http::operators::OperatorSignup {
                username: &username,
                display_name: name.as_deref(),
                sip_user: &sip_user,
                password: &password,
                unit_code: unit.as_deref(),
            };
            let op = carecall::http::operators::add_operator(
                store,
                &signup,
                &config.registrar.realm,
                chrono::Utc::now(),
            )
            .await?;
            println!("{}", serde_json::to_string(&op)?);
        }
        OperatorCmd::List => {
            let now = chrono::Utc::now();
            for op in store.operators().await? {
                let contacts = store.contacts_of(&op.id, now).await?;
                println!(
                    "{}",
                    serde_json::json!({"operator": op, "contacts": contacts})
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Walk the answers' hash chain; exit 1 and name the first broken link.
    Verify,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; the password is read from stdin (one line) unless --password is given.
    Add {
        username: String,
        #[arg(long, value_parser = ["admin", "supervisor", "operator", "viewer"])]
        role: String,
        /// Scope a supervisor or viewer to this unit and the units under it.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, env = "CARECALL_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List users.
    List,
    /// Create an API bearer token for a user and print it (shown once).
    Token {
        username: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until it expires (default: never).
        #[arg(long)]
        days: Option<u32>,
    },
}

#[derive(Subcommand)]
enum CampaignCmd {
    /// Draw the sample and create the campaign from a JSON spec (see README).
    Create {
        spec: PathBuf,
    },
    /// List campaigns with their progress.
    List,
    Start {
        id: String,
    },
    Pause {
        id: String,
    },
    Stop {
        id: String,
    },
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
                ..Default::default()
            };
            let code = if repeat <= 1 {
                call_once(&svc, request).await?
            } else {
                call_many(&svc, request, repeat).await?
            };
            svc.agent.shutdown();
            Ok(code)
        }
        Command::Serve => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let svc = Arc::new(carecall::setup::services(config).await?);
            let stop = tokio_util::sync::CancellationToken::new();
            tokio::spawn({
                let stop = stop.clone();
                async move {
                    shutdown_signal().await;
                    stop.cancel();
                }
            });
            carecall::serve::run(svc.clone(), stop).await?;
            svc.agent.shutdown();
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { what } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let store = carecall::store::Store::connect(&config.database.url).await?;
            match what {
                ImportKind::Units { file } => {
                    let n = carecall::campaign::load_units(&store, &file).await?;
                    println!("{{\"units\":{n}}}");
                    Ok(ExitCode::SUCCESS)
                }
                ImportKind::Dossiers { file } => {
                    if config.dialer.units_file.exists() {
                        carecall::campaign::load_units(&store, &config.dialer.units_file).await?;
                    }
                    let matcher = carecall::intake::unit_matcher(&store).await?;
                    let resolve = move |u: &str| matcher.resolve(u);
                    let report =
                        carecall::intake::import_file(&store, &file, &resolve, None).await?;
                    println!("{}", serde_json::to_string(&report)?);
                    for issue in &report.errors {
                        eprintln!("{}:{}: {}", file.display(), issue.line, issue.reason);
                    }
                    for w in &report.waiting {
                        eprintln!(
                            "{}:{}: unit {:?} is not in the unit list; the row waits until an \
                             administrator maps the name (POST /api/v1/units/aliases)",
                            file.display(),
                            w.line,
                            w.unit
                        );
                    }
                    Ok(if report.errors.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    })
                }
            }
        }
        Command::Campaign { action } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let store = carecall::store::Store::connect(&config.database.url).await?;
            campaign_cmd(&store, &config, action).await
        }
        Command::Operator { action } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let store = carecall::store::Store::connect(&config.database.url).await?;
            operator_cmd(&store, &config, action).await
        }
        Command::Audit {
            action: AuditCmd::Verify,
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let store = carecall::store::Store::connect(&config.database.url).await?;
            let report = store.verify_chain().await?;
            println!("{}", serde_json::to_string(&report)?);
            match &report.first_broken {
                None => Ok(ExitCode::SUCCESS),
                Some(link) => {
                    eprintln!(
                        "carecall: answer chain broken at seq {}: {} (answer {}, key {})",
                        link.seq
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "?".into()),
                        link.reason,
                        link.answer_id
                            .as_ref()
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into()),
                        link.key.as_deref().unwrap_or("-"),
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::User { action } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let store = carecall::store::Store::connect(&config.database.url).await?;
            if config.dialer.units_file.exists() {
                carecall::campaign::load_units(&store, &config.dialer.units_file).await?;
            }
            user_cmd(&store, action).await
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

async fn user_cmd(store: &carecall::store::Store, action: UserCmd) -> anyhow::Result<ExitCode> {
    use carecall::http::users::{NewUserBody, add_user};
    match action {
        UserCmd::Add {
            username,
            role,
            unit,
            name,
            password,
        } => {
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the password from stdin")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let body = NewUserBody {
                username,
                display_name: name,
                password,
                role: carecall::auth::Role::parse(&role).context("unknown role")?,
                unit,
            };
            let id = add_user(store, &body)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store
                .log_change(&carecall::store::NewAuditEntry {
                    actor: "cli",
                    action: "user.create",
                    target: Some(id.as_str()),
                    detail: Some(serde_json::json!({ "username": body.username, "role": role })),
                    remote: None,
                })
                .await?;
            println!(
                "{}",
                serde_json::json!({ "id": id, "username": body.username })
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCmd::List => {
            for u in store.users().await? {
                println!("{}", serde_json::to_string(&u)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCmd::Token {
            username,
            name,
            days,
        } => {
            let (user, _) = store
                .user_for_login(&username)
                .await?
                .with_context(|| format!("no user {username:?}"))?;
            let token = carecall::auth::Secret::new("cc_tok");
            let expires = days.map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
            store
                .create_token(&token.hash(), &user.id, &name, expires)
                .await?;
            println!("{}", token.as_str());
            Ok(ExitCode::SUCCESS)
        }
    }
}
