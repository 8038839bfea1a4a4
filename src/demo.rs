//! `carecall demo`: the newcomer's first command. With no configuration at all it
//! starts the simulated phone on loopback, points a throw-away trunk at it,
//! imports two sample dossiers into a fresh SQLite file, places a handful of
//! survey calls at once (a full survey, busy, no answer, a hang-up mid-way, a
//! silent line) and prints what the database then holds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::call::{self, CallError, CallReport, CallRequest, CallServices};
use crate::config::Config;
use crate::phone::{Phone, PhoneError, voice::repo_path};
use crate::setup::SetupError;
use crate::store::{AnswerKind, AnswerRecord, CallSummary, Dossier, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create the demo directory {}: {source}", dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Phone(#[from] PhoneError),
    #[error("cannot start carecall: {0}")]
    Setup(#[from] SetupError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("the {scenario} call could not be placed: {source}")]
    Call {
        scenario: &'static str,
        source: CallError,
    },
    #[error("cannot set up the demo login: {0}")]
    Login(String),
    #[error("serving the pages failed: {0}")]
    Serve(#[from] crate::serve::ServeFailed),
}

/// The login `carecall demo --serve` creates (an administrator of the demo database).
pub const DEMO_USER: &str = "demo";

/// `carecall demo --serve`: keeps the demo's database up behind the pages and
/// the API on `http_bind`, with the simulated phone as the trunk, so that the
/// calls just placed can be reviewed and a campaign created in the pages dials
/// the simulated citizen, until `stop`. Prints the address and a fresh password
/// for [`DEMO_USER`] through `announce`.
pub async fn serve(
    dir: &Path,
    http_bind: &str,
    stop: tokio_util::sync::CancellationToken,
    announce: impl Fn(String),
) -> Result<(), DemoError> {
    std::fs::create_dir_all(dir).map_err(|source| DemoError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let phone = Phone::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let mut cfg = config(dir, phone.local_addr());
    cfg.http.bind = http_bind.to_string();
    cfg.dialer.units_file = repo_path("data/units.csv");
    let svc = std::sync::Arc::new(crate::setup::services(cfg).await?);
    for d in dossiers() {
        svc.store.upsert_dossier(&d).await?;
    }
    let password = demo_login(&svc.store).await?;
    announce(format!(
        "Pages: http://{http_bind}/  login: {DEMO_USER}  password: {password}\n\
         Campaigns created there dial the simulated phone on {}. Ctrl-C stops.",
        phone.local_addr()
    ));
    let served = crate::serve::run(svc.clone(), stop).await;
    svc.agent.shutdown();
    phone.shutdown().await;
    served.map_err(Into::into)
}

/// Creates [`DEMO_USER`] (or gives it a new password) and returns the password:
/// a random one each time, since the pages listen on the network.
async fn demo_login(store: &crate::store::Store) -> Result<String, DemoError> {
    let password = hex::encode(rand::random::<[u8; 8]>());
    let hash =
        crate::auth::hash_password(&password).map_err(|e| DemoError::Login(e.to_string()))?;
    let existing = store
        .users()
        .await?
        .into_iter()
        .find(|u| u.username == DEMO_USER);
    match existing {
        Some(u) => {
            let change = crate::store::UserChange {
                password_hash: Some(&hash),
                disabled: Some(false),
                ..Default::default()
            };
            store.update_user(&u.id, &change).await?;
        }
        None => {
            store
                .create_user(&crate::store::NewUser {
                    username: DEMO_USER,
                    display_name: "Quản trị (demo)",
                    password_hash: &hash,
                    role: "admin",
                    unit_code: None,
                })
                .await?;
        }
    }
    Ok(password)
}

/// One demo call: what the simulated citizen does and who is called.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// What the table calls it.
    pub name: &'static str,
    /// A phone number (the full survey) or a behaviour name of the phone.
    pub callee: &'static str,
    pub dossier: Option<&'static str>,
}

/// The calls the demo places, all at once.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "full survey",
        callee: "0912345678",
        dossier: Some("DT-2024-000123"),
    },
    Scenario {
        name: "busy",
        callee: "busy",
        dossier: None,
    },
    Scenario {
        name: "no answer",
        callee: "noanswer",
        dossier: None,
    },
    Scenario {
        name: "hangs up mid-way",
        callee: "hangup",
        dossier: Some("DT-2024-000456"),
    },
    Scenario {
        name: "silent line",
        callee: "silent",
        dossier: None,
    },
];

/// A finished demo call: the driver's report and the rows read back.
#[derive(Debug)]
pub struct DemoCall {
    pub scenario: Scenario,
    pub report: CallReport,
    pub stored: Option<CallSummary>,
}

/// Runs the demo in `dir` and prints the results.
pub async fn run(dir: &Path) -> Result<(), DemoError> {
    let calls = run_calls(dir, |line| println!("{line}")).await?;
    println!("\n{}", table(&calls));
    println!(
        "Database: {}   Recordings: {}",
        dir.join("carecall.db").display(),
        dir.join("recordings").display()
    );
    Ok(())
}

/// Starts the phone and carecall in `dir`, places every [`SCENARIOS`] call
/// concurrently, and returns them with what the store holds. `progress` gets
/// one line per event worth telling a person watching.
pub async fn run_calls(dir: &Path, progress: impl Fn(String)) -> Result<Vec<DemoCall>, DemoError> {
    std::fs::create_dir_all(dir).map_err(|source| DemoError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let phone = Phone::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let svc = crate::setup::services(config(dir, phone.local_addr())).await?;
    for d in dossiers() {
        svc.store.upsert_dossier(&d).await?;
    }
    progress(format!(
        "Simulated phone on {}; placing {} calls (the full survey takes about 2½ minutes)…",
        phone.local_addr(),
        SCENARIOS.len()
    ));
    let started = Instant::now();
    let mut pending: FuturesUnordered<_> = SCENARIOS
        .iter()
        .map(|s| async { (*s, place(&svc, phone.local_addr(), s).await) })
        .collect();
    let mut reports = Vec::new();
    while let Some((scenario, result)) = pending.next().await {
        let report = result.map_err(|source| DemoError::Call {
            scenario: scenario.name,
            source,
        })?;
        progress(format!(
            "  {:>5.1} s  {:<18} {}",
            started.elapsed().as_secs_f64(),
            scenario.name,
            report.disposition.as_str()
        ));
        reports.push((scenario, report));
    }
    drop(pending);
    let recent = svc.store.recent_calls(100).await?;
    svc.agent.shutdown();
    phone.shutdown().await;
    svc.store.close().await;
    let mut calls: Vec<DemoCall> = reports
        .into_iter()
        .map(|(scenario, report)| DemoCall {
            stored: recent
                .iter()
                .find(|c| c.call.sip_call_id.as_deref() == Some(&report.call_id))
                .cloned(),
            scenario,
            report,
        })
        .collect();
    calls.sort_by_key(|c| SCENARIOS.iter().position(|s| s.name == c.scenario.name));
    Ok(calls)
}

async fn place(
    svc: &CallServices,
    phone: SocketAddr,
    s: &Scenario,
) -> Result<CallReport, CallError> {
    // A number goes through the trunk as dialled; a behaviour is the user part.
    let target = if s.callee.starts_with(|c: char| c.is_ascii_digit()) {
        s.callee.to_string()
    } else {
        format!("sip:{}@{phone}", s.callee)
    };
    call::place_call(
        svc,
        CallRequest {
            target,
            dialplan: svc.config.ivr.default_dialplan.clone(),
            dossier: s.dossier.map(str::to_string),
            ..Default::default()
        },
    )
    .await
}

/// A loopback configuration: the phone is the trunk, everything lives in `dir`.
pub fn config(dir: &Path, phone: SocketAddr) -> Config {
    let mut c = Config::default();
    c.sip.bind = "127.0.0.1:0".into();
    c.trunk.uri = format!("sip:{phone}");
    // Long enough to hear the phone ring, short enough for a demo.
    c.trunk.ring_timeout_secs = 6;
    c.database.url = format!("sqlite://{}", dir.join("carecall.db").display());
    c.recordings.dir = dir.join("recordings");
    c.database.audit_key_file = dir.join("audit.key");
    c.ivr.prompts_dir = repo_path("prompts/vi");
    c.ivr.dialplans_dir = repo_path("dialplans");
    c
}

/// Two dossiers whose field and unit have recorded prompts
/// (`prompts/vi/field/`, `prompts/vi/place/`), so the greeting names them.
pub fn dossiers() -> Vec<Dossier> {
    let now = chrono::Utc::now();
    let days = |n| Some(now - chrono::Duration::days(n));
    vec![
        Dossier {
            code: "DT-2024-000123".into(),
            procedure: "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu".into(),
            field: "Đất đai".into(),
            unit_code: "tp-cao-lanh".into(),
            applicant_kind: "person".into(),
            applicant_name: "Nguyễn Văn An".into(),
            phone: "0912345678".into(),
            received_at: days(30),
            returned_at: days(2),
            created_at: now,
        },
        Dossier {
            code: "DT-2024-000456".into(),
            procedure: "Đăng ký khai sinh".into(),
            field: "Hộ tịch".into(),
            unit_code: "huyen-lap-vo".into(),
            applicant_kind: "person".into(),
            applicant_name: "Trần Thị Bình".into(),
            phone: "0987654321".into(),
            received_at: days(5),
            returned_at: days(1),
            created_at: now,
        },
    ]
}

/// The results as a plain-text table, one block per call.
pub fn table(calls: &[DemoCall]) -> String {
    let mut out = format!(
        "{:<18} {:<12} {:>4}  {}\n{}\n",
        "scenario",
        "disposition",
        "SIP",
        "answers",
        "-".repeat(78)
    );
    for c in calls {
        let Some(s) = &c.stored else {
            out.push_str(&format!(
                "{:<18} (not found in the database)\n",
                c.scenario.name
            ));
            continue;
        };
        let sip = s.call.sip_code.map(|c| c.to_string()).unwrap_or("-".into());
        let answers: Vec<String> = s.answers.iter().map(answer_cell).collect();
        let answers = if answers.is_empty() {
            "-".to_string()
        } else {
            answers.join("  ")
        };
        out.push_str(&format!(
            "{:<18} {:<12} {:>4}  {}\n",
            c.scenario.name, s.call.disposition, sip, answers
        ));
        if let Some(r) = &s.recording {
            out.push_str(&format!(
                "{:<18} recording {} ({:.1} s)\n",
                "", r.path, r.seconds
            ));
        }
    }
    out
}

fn answer_cell(a: &AnswerRecord) -> String {
    match a.kind {
        AnswerKind::Value => format!("{}={}", a.key, a.value.as_deref().unwrap_or("?")),
        AnswerKind::Clip => format!("{}=clip {:.1}s", a.key, a.clip_seconds.unwrap_or(0.0)),
        AnswerKind::Unanswered => format!("{}=({})", a.key, a.why.as_deref().unwrap_or("none")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dossiers_name_recorded_fields_and_places() {
        let prompts = repo_path("prompts/vi");
        for d in dossiers() {
            let vars = call::dossier_vars(&d);
            let field = prompts.join(format!("field/{}.wav", vars["field_slug"]));
            let place = prompts.join(format!("place/{}.wav", vars["unit_slug"]));
            assert!(field.is_file(), "{} has no prompt", field.display());
            assert!(place.is_file(), "{} has no prompt", place.display());
        }
    }

    #[test]
    fn the_config_is_loopback_and_local_to_the_demo_dir() {
        let c = config(Path::new("/tmp/d"), "127.0.0.1:5999".parse().unwrap());
        assert_eq!(c.trunk.uri, "sip:127.0.0.1:5999");
        assert_eq!(c.database.url, "sqlite:///tmp/d/carecall.db");
        assert!(c.ivr.dialplans_dir.join("survey-1022.toml").is_file());
        assert!(c.ivr.prompts_dir.join("manifest.toml").is_file());
        assert_eq!(c.sip_bind().unwrap().ip().to_string(), "127.0.0.1");
    }
}
