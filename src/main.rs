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
    /// Log lines as text (colours only at a terminal) or one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "CARECALL_LOG_FORMAT"
    )]
    log_format: carecall::telemetry::LogFormat,
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
        /// Then keep the pages up on the demo database (a login is printed), with
        /// the simulated phone as the trunk for campaigns, until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Where the pages listen with --serve.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: String,
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
        CampaignCmd::List { json } => {
            let mut rows = Vec::new();
            for c in store.campaigns().await? {
                let progress = store.campaign_progress(&c.id).await?;
                rows.push((c, progress));
            }
            if json {
                for (c, progress) in &rows {
                    println!("{}", campaign_json(c, progress));
                }
            } else {
                print!("{}", campaign_table(&rows));
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Start { id } => set(id, CampaignStatus::Running).await,
        CampaignCmd::Pause { id } => set(id, CampaignStatus::Paused).await,
        CampaignCmd::Resume { id } => set(id, CampaignStatus::Running).await,
        CampaignCmd::Stop { id } => set(id, CampaignStatus::Stopped).await,
    }
}

/// A campaign as JSON with its stored rules parsed (they are kept as JSON text),
/// so that `jq` reads `.policy.windows` rather than a string to decode again.
fn campaign_json(
    c: &carecall::store::CampaignRecord,
    progress: &carecall::store::CampaignProgress,
) -> serde_json::Value {
    let policy = carecall::campaign::policy::CampaignPolicy::from_record(c)
        .map(|p| serde_json::json!(p))
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    let mut campaign = serde_json::json!(c);
    if let Some(obj) = campaign.as_object_mut() {
        for key in ["rule_json", "windows_json", "retry_json", "quotas_json"] {
            obj.remove(key);
        }
    }
    serde_json::json!({ "campaign": campaign, "policy": policy, "progress": progress })
}

/// The campaigns as an aligned text table: id, status, mode, period, done/total.
fn campaign_table(
    rows: &[(
        carecall::store::CampaignRecord,
        carecall::store::CampaignProgress,
    )],
) -> String {
    let mut lines = vec![[
        "ID".to_string(),
        "STATUS".into(),
        "MODE".into(),
        "PERIOD".into(),
        "DONE/TARGETS".into(),
        "ATTEMPTS".into(),
        "NAME".into(),
    ]];
    for (c, p) in rows {
        lines.push([
            c.id.to_string(),
            c.status.to_string(),
            c.mode.to_string(),
            local_period(c),
            format!("{}/{}", p.done, p.total()),
            p.attempts.to_string(),
            c.name.clone(),
        ]);
    }
    let mut widths = [0usize; 7];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no campaigns yet: `carecall campaign create SPEC.json`)\n");
    }
    out
}

/// The campaign's period as the days its creator chose, in its time zone (the
/// end is stored as the next day's midnight, exclusive).
fn local_period(c: &carecall::store::CampaignRecord) -> String {
    let tz = carecall::campaign::policy::CampaignPolicy::from_record(c)
        .map(|p| p.windows.tz)
        .unwrap_or(chrono_tz::Asia::Ho_Chi_Minh);
    let last = c.period_to - chrono::Duration::milliseconds(1);
    format!(
        "{}..{}",
        c.period_from.with_timezone(&tz).format("%d/%m/%Y"),
        last.with_timezone(&tz).format("%d/%m/%Y")
    )
}

/// `carecall call` on a machine where `carecall serve` holds the configured SIP
/// port: the call takes a free port on the same address instead of failing
/// (the trunk answers to the Via/Contact, so any local port works; its calls
/// are stamped with its own instance, so neither process ends the other's).
fn beside_a_running_serve(config: &mut Config) {
    let Ok(bind) = config.sip_bind() else { return };
    if bind.port() == 0 || std::net::UdpSocket::bind(bind).is_ok() {
        return;
    }
    let free = std::net::SocketAddr::new(bind.ip(), 0);
    eprintln!("carecall: SIP port {bind} is in use (a running serve?); this call uses a free port");
    config.sip.bind = free.to_string();
}

/// A token cancelled by Ctrl-C or SIGTERM.
fn stop_on_signal() -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    stop
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
    /// Walk the audit chain (answers and call seals) with the audit key, compare
    /// sealed calls and recording/clip files with their rows; exit 1 and name
    /// what changed. Run it from the directory `serve` runs in (relative file
    /// paths resolve there).
    Verify,
}

/// `carecall audit verify`: the JSON report on stdout, one line per finding
/// on stderr, exit 1 if anything was changed behind carecall's back.
async fn audit_verify(config: &Config) -> anyhow::Result<ExitCode> {
    use carecall::store::{ChainKey, Store};
    let key = ChainKey::load(&config.database.audit_key_file)?;
    let store = Store::connect_existing(&config.database.url)
        .await?
        .with_chain_key(key);
    let mut report = store.verify_chain().await?;
    report.files = store.verify_files().await?;
    store.close().await;
    println!("{}", serde_json::to_string(&report)?);
    if let Some(link) = &report.first_broken {
        let named = match (&link.answer_id, &link.call_id) {
            (Some(a), _) => format!(" (answer {a}, key {})", link.key.as_deref().unwrap_or("-")),
            (None, Some(c)) => format!(" (seal of call {c})"),
            (None, None) => String::new(),
        };
        let seq = link.seq.map_or_else(|| "?".into(), |s| s.to_string());
        eprintln!(
            "carecall: audit chain broken at seq {seq}: {}{named}",
            link.reason
        );
    }
    for c in &report.changed_records {
        eprintln!(
            "carecall: call {} changed since sealed: {}",
            c.call_id,
            c.fields.join(", ")
        );
    }
    for f in &report.files.findings {
        let owner = f
            .call_id
            .as_ref()
            .map(|c| format!("call {c}"))
            .or_else(|| f.answer_id.as_ref().map(|a| format!("answer {a}")))
            .unwrap_or_default();
        eprintln!(
            "carecall: {} file {} {} ({owner})",
            f.kind.as_str(),
            f.path,
            f.problem.as_str()
        );
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
    /// Draw the sample and create the campaign (as a draft) from a JSON spec (see README).
    Create {
        /// The campaign spec: a JSON file with name, period_from, period_to, size, units…
        spec: PathBuf,
    },
    /// List campaigns with their progress: a table, or one JSON object per line with --json.
    List {
        /// One JSON object per campaign (its stored rules as JSON, not strings).
        #[arg(long)]
        json: bool,
    },
    /// Start dialling a draft campaign.
    Start {
        /// The campaign's id (from `campaign create` or `campaign list`).
        id: String,
    },
    /// Stop dialling for now; `resume` goes on where it stopped.
    Pause {
        /// The campaign's id.
        id: String,
    },
    /// Resume a paused campaign.
    Resume {
        /// The campaign's id.
        id: String,
    },
    /// End the campaign for good: no target is dialled again.
    Stop {
        /// The campaign's id.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    carecall::telemetry::init(matches!(cli.command, Command::Demo { .. }), cli.log_format);
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
            let mut config =
                Config::load(cli.config.as_deref()).context("loading configuration")?;
            beside_a_running_serve(&mut config);
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
            svc.store.end_own_instance().await;
            Ok(code)
        }
        Command::Serve => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let svc = Arc::new(carecall::setup::services(config).await?);
            let stop = stop_on_signal();
            carecall::serve::run(svc.clone(), stop).await?;
            svc.agent.shutdown();
            svc.store.end_own_instance().await;
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
            audit_verify(&config).await
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
        Command::Demo { dir, serve, http } => {
            carecall::demo::run(&dir).await?;
            if serve {
                let stop = stop_on_signal();
                carecall::demo::serve(&dir, &http, stop, |line| println!("{line}")).await?;
            } else {
                println!(
                    "To review these calls in the pages: carecall demo --serve --dir {}",
                    dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The new user's password: asked for without echo on a terminal (twice, so a
/// typo is not stored), else one line of stdin (scripts).
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        anyhow::ensure!(
            first == again,
            "the two passwords differ; nothing was saved"
        );
        anyhow::ensure!(
            !first.is_empty(),
            "the password is empty; nothing was saved"
        );
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
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
                None => read_password()?,
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
