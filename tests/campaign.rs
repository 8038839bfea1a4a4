//! A campaign end to end against real peers: dossiers imported from CSV, a
//! do-not-call number added and a campaign created through the HTTP API, then
//! `carecall serve` dials the sample through sipp (the trunk) and every target
//! ends completed. The excluded citizens (do-not-call, result not yet returned)
//! are never dialled; a malformed API body is a 400 problem and writes nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::peers::*;
use serde_json::{Value, json};

/// A `carecall serve` process and the address of its API.
struct Serve {
    peer: Peer,
    api: String,
}

fn carecall(dir: &Path) -> Command {
    carecall_in(dir, "info")
}

/// sipp as the trunk, answering `calls` survey calls with the timeline's answers.
fn survey_trunk(dir: &Path, calls: u32) -> Sipp {
    let pcap = fixtures().join("survey_rfc4733.pcap");
    Sipp::start_calls(
        dir,
        "uas_survey_answer.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
        calls,
    )
}

/// Writes the per-test config with the API on a free port and the shipped units.
fn write_config(dir: &Path, trunk: &str) -> PathBuf {
    write_node_config(dir, trunk, "node-a", None)
}

/// The config of one dialer node; `db` replaces the test's SQLite file.
fn write_node_config(dir: &Path, trunk: &str, node: &str, db: Option<&str>) -> PathBuf {
    let mut cfg = CarecallConfig::new(trunk);
    cfg.database_url = db.map(str::to_string);
    let path = cfg.write(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[http]\nbind = \"127.0.0.1:0\"\n\n[dialer]\nnode = \"{node}\"\nmax_concurrent = 10\n\
         calls_per_second = 5.0\nunits_file = \"{}\"\n",
        manifest_dir().join("data/units.csv").display()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// `n` eligible dossiers (generic greeting: no field/place prompts), imported by the CLI.
fn import_dossiers(dir: &Path, config: &Path, n: usize) {
    let mut csv = CSV_HEADER.to_string();
    for i in 1..=n {
        csv.push_str(&format!(
            "HS-{i:03},Đăng ký khai sinh,Khác,huyen-lap-vo.tan-my,cá nhân,Công dân {i},09130000{i:02},02/11/2026,05/11/2026\n"
        ));
    }
    let file = dir.join("dossiers.csv");
    std::fs::write(&file, csv).unwrap();
    let out = carecall(dir)
        .arg("--config")
        .arg(config)
        .args(["import", "dossiers"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates and starts a campaign over November 2026, open around the clock.
fn start_campaign(api: &str, size: usize, max_concurrent: u32) -> String {
    start_campaign_with(api, size, max_concurrent, Value::Null)
}

/// As [`start_campaign`], with a `retry` policy (`null`: the defaults).
fn start_campaign_with(api: &str, size: usize, max_concurrent: u32, retry: Value) -> String {
    let mut spec = json!({
        "name": "Khảo sát tháng 11",
        "period_from": "2026-11-01", "period_to": "2026-11-30",
        "size": size, "daily_target": 50, "max_concurrent": max_concurrent,
        "calls_per_second": 5.0, "seed": 11,
        "windows": {"weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "00:00", "end": "24:00"}]}
    });
    if !retry.is_null() {
        spec["retry"] = retry;
    }
    let (st, created, _) = http(
        "POST",
        &format!("{api}/api/v1/campaigns"),
        Some(&spec.to_string()),
    );
    assert_eq!(st, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (st, body, _) = http("POST", &format!("{api}/api/v1/campaigns/{id}/start"), None);
    assert_eq!(st, 200, "{body}");
    id
}

/// Polls the campaign until `done(progress)` holds.
fn wait_progress(
    api: &str,
    id: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, c, _) = http("GET", &format!("{api}/api/v1/campaigns/{id}"), None);
        if done(&c["progress"]) {
            return c["progress"].clone();
        }
        assert!(Instant::now() < deadline, "{what}: {c}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// An administrator and a bearer token for the API, made with the CLI the way
/// an installer makes the first admin (idempotent: nodes may share a database).
fn admin_token(dir: &Path, config: &Path) -> String {
    let add = carecall(dir)
        .arg("--config")
        .arg(config)
        .args([
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password",
            "mật-khẩu-1022",
        ])
        .output()
        .expect("run carecall user add");
    let err = String::from_utf8_lossy(&add.stderr);
    assert!(
        add.status.success() || err.contains("already exists"),
        "user add: {err}"
    );
    let tok = carecall(dir)
        .arg("--config")
        .arg(config)
        .args(["user", "token", "admin"])
        .output()
        .expect("run carecall user token");
    assert!(
        tok.status.success(),
        "{}",
        String::from_utf8_lossy(&tok.stderr)
    );
    String::from_utf8_lossy(&tok.stdout).trim().to_string()
}

/// Bearer tokens by API base URL, for [`http`].
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn start_serve(dir: &Path, config: &Path) -> Serve {
    let token = admin_token(dir, config);
    let mut cmd = carecall(dir);
    cmd.arg("--config").arg(config).arg("serve");
    let served = spawn_serve(dir, &mut cmd);
    TOKENS.lock().unwrap().push((served.api.clone(), token));
    Serve {
        peer: served.peer,
        api: served.api,
    }
}

/// One HTTP request with curl, as the admin of the serve at `url`: (status, JSON body).
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, Value, String) {
    let mut cmd = Command::new("curl");
    let token = TOKENS
        .lock()
        .unwrap()
        .iter()
        .find(|(base, _)| url.starts_with(base.as_str()))
        .map(|(_, t)| t.clone());
    if let Some(t) = token {
        cmd.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    cmd.args([
        "-sS",
        "-X",
        method,
        "-w",
        "\n%{http_code}\n%{content_type}",
        url,
    ]);
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    let out = cmd.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    let ctype = lines.pop().unwrap_or_default().to_string();
    let status = lines.pop().and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = serde_json::from_str(&lines.join("\n")).unwrap_or(Value::Null);
    (status, json, ctype)
}

const CSV_HEADER: &str =
    "code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at\n";

#[test]
fn campaign_samples_dials_and_completes_through_the_trunk() {
    let dir = test_dir("campaign_e2e");
    let mut sipp = survey_trunk(&dir, 3);
    let config = write_config(&dir, &sipp.trunk_uri());

    // Five dossiers: three eligible, one whose citizen refuses calls, one not returned yet.
    // Fields and communes without recorded prompts keep the greeting generic, so the
    // survey timeline of the sipp peer (tests/peers/survey-timeline.txt) lines up.
    let csv = dir.join("dossiers.csv");
    std::fs::write(
        &csv,
        format!(
            "{CSV_HEADER}\
             HS-001,Cấp giấy chứng nhận quyền sử dụng đất,Khác,tp-cao-lanh.phuong-1,cá nhân,Nguyễn Văn A,0912000001,01/11/2026,10/11/2026\n\
             HS-002,Đăng ký khai sinh,Khác,huyen-lap-vo.tan-my,cá nhân,Trần Thị B,0912000002,02/11/2026,05/11/2026\n\
             HS-003,Đăng ký kinh doanh,Khác,\"Phường 1, thành phố Cao Lãnh\",tổ chức,Công ty C,0912000003,03/11/2026,12/11/2026\n\
             HS-004,Đăng ký kết hôn,Hộ tịch,huyen-lap-vo,cá nhân,Lê Văn D,0912000004,03/11/2026,06/11/2026\n\
             HS-005,Cấp phép xây dựng,Xây dựng,tp-cao-lanh,cá nhân,Phạm Thị E,0912000005,04/11/2026,\n"
        ),
    )
    .unwrap();
    let import = carecall(&dir)
        .arg("--config")
        .arg(&config)
        .args(["import", "dossiers"])
        .arg(&csv)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&import.stdout).unwrap_or(Value::Null);
    assert!(
        import.status.success(),
        "{report} {}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert_eq!(report["inserted"], 5, "{report}");

    let mut serve = start_serve(&dir, &config);
    let api = serve.api.clone();
    let (st, _, _) = http(
        "POST",
        &format!("{api}/api/v1/do-not-call"),
        Some(r#"{"phone":"+84 912 000 004","reason":"test"}"#),
    );
    assert_eq!(st, 200);

    // A malformed body is a problem+json 400 and creates nothing.
    let (st, body, ctype) = http(
        "POST",
        &format!("{api}/api/v1/campaigns"),
        Some(r#"{"name": 5"#),
    );
    assert_eq!(st, 400, "{body}");
    assert!(ctype.starts_with("application/problem+json"), "{ctype}");
    let (_, list, _) = http("GET", &format!("{api}/api/v1/campaigns"), None);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");

    let always = json!({"weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "00:00", "end": "24:00"}]});
    let spec = json!({
        "name": "Khảo sát tháng 11",
        "period_from": "2026-11-01", "period_to": "2026-11-30",
        "size": 10, "daily_target": 10, "max_concurrent": 3, "calls_per_second": 5.0,
        "windows": always, "seed": 7
    });
    let (st, created, _) = http(
        "POST",
        &format!("{api}/api/v1/campaigns"),
        Some(&spec.to_string()),
    );
    assert_eq!(st, 201, "{created}");
    assert_eq!(
        created["targets"], 3,
        "DNC and not-returned dossiers excluded: {created}"
    );
    assert_eq!(created["seed"], 7);
    let id = created["id"].as_str().unwrap().to_string();
    let (st, _, _) = http("POST", &format!("{api}/api/v1/campaigns/{id}/start"), None);
    assert_eq!(st, 200);

    let deadline = Instant::now() + Duration::from_secs(200);
    let progress = loop {
        let (_, c, _) = http("GET", &format!("{api}/api/v1/campaigns/{id}"), None);
        if c["progress"]["done"] == 3 {
            break c["progress"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "campaign did not finish: {c}\n{}",
            tail(&read_lossy(&dir.join("serve.stderr")), 40)
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(progress["by_disposition"]["completed"], 3, "{progress}");

    let peer = sipp.wait(Duration::from_secs(20));
    assert_eq!(peer.requests_received("INVITE"), 3, "{}", peer.describe());
    for excluded in ["0912000004", "0912000005"] {
        assert!(!peer.messages.contains(excluded), "{excluded} was dialled");
    }
    serve.peer.terminate(Duration::from_secs(10));
    let status = serve.peer.wait_timeout(Duration::ZERO);
    assert!(status.is_some_and(|s| s.success()), "serve exit {status:?}");
}

/// kill -9 of `serve` while two calls are in progress, then a restart: the calls
/// are recorded as interrupted with the answers already given, the targets wait
/// the retry window (nobody is dialled twice), and the new process takes over.
#[test]
fn kill_9_of_serve_never_dials_a_citizen_twice() {
    let dir = test_dir("campaign_kill9");
    let mut sipp = survey_trunk(&dir, 4);
    let config = write_config(&dir, &sipp.trunk_uri());
    import_dossiers(&dir, &config, 2);
    let mut serve = start_serve(&dir, &config);
    let id = start_campaign(&serve.api, 2, 2);
    wait_progress(&serve.api, &id, 20, "both calls dialling", |p| {
        p["dialling"] == 2
    });
    // Consent is given at ~20 s of each call; kill after it is stored.
    std::thread::sleep(Duration::from_secs(26));
    Command::new("kill")
        .args(["-9", &serve.peer.pid().to_string()])
        .status()
        .unwrap();
    assert!(serve.peer.wait_timeout(Duration::from_secs(5)).is_some());
    drop(serve);

    let serve = start_serve(&dir, &config);
    let progress = wait_progress(&serve.api, &id, 20, "targets recovered", |p| {
        p["pending"] == 2
    });
    assert_eq!(progress["by_disposition"]["interrupted"], 2, "{progress}");
    assert_eq!(progress["attempts"], 2, "{progress}");
    // The dialer keeps running: nothing is re-dialled within the retry window.
    std::thread::sleep(Duration::from_secs(5));
    let (_, c, _) = http("GET", &format!("{}/api/v1/campaigns/{id}", serve.api), None);
    assert_eq!(c["progress"]["dialling"], 0, "{c}");
    let calls = sqlite_rows_with(&dir.join("carecall.db"), "interrupted");
    let interrupted = calls.iter().filter(|(t, _)| t == "calls").count();
    assert_eq!(
        interrupted, 2,
        "both calls recorded as interrupted: {calls:?}"
    );
    let consents = sqlite_rows_with(&dir.join("carecall.db"), "consent");
    assert_eq!(
        consents.iter().filter(|(t, _)| t == "answers").count(),
        2,
        "{consents:?}"
    );
    drop(serve);
    let peer = sipp.wait(Duration::from_millis(100));
    assert_eq!(peer.requests_received("INVITE"), 2, "{}", peer.describe());
}

/// Two `serve` processes on one PostgreSQL share a campaign: every target is
/// called exactly once and both nodes place calls (each may run 2 at a time).
#[test]
fn two_nodes_on_postgresql_share_a_campaign() {
    let Some(pg) = common::pg::PgServer::start() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(pg.fresh_database());
    let dir = test_dir("campaign_two_nodes");
    let mut sipp = survey_trunk(&dir, 4);
    let (dir_a, dir_b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let config_a = write_node_config(&dir_a, &sipp.trunk_uri(), "node-a", Some(&url));
    let config_b = write_node_config(&dir_b, &sipp.trunk_uri(), "node-b", Some(&url));
    import_dossiers(&dir_a, &config_a, 4);
    let a = start_serve(&dir_a, &config_a);
    let b = start_serve(&dir_b, &config_b);
    let id = start_campaign(&a.api, 4, 2);
    let progress = wait_progress(&b.api, &id, 200, "campaign done", |p| p["done"] == 4);
    assert_eq!(progress["by_disposition"]["completed"], 4, "{progress}");
    assert_eq!(
        progress["attempts"], 4,
        "each target called once: {progress}"
    );
    let peer = sipp.wait(Duration::from_secs(20));
    assert_eq!(peer.requests_received("INVITE"), 4, "{}", peer.describe());
    for (node, d) in [("node-a", &dir_a), ("node-b", &dir_b)] {
        let log = read_lossy(&d.join("serve.stderr"));
        assert!(
            log.contains("attempt finished"),
            "{node} placed no call:\n{}",
            tail(&log, 20)
        );
    }
}

/// A trunk that never answers: attempts fail (Timer B), are rescheduled, and
/// after three in a row the `trunk_down` alarm is raised and health degrades.
#[test]
fn trunk_down_raises_an_alarm_and_reschedules() {
    let dir = test_dir("campaign_trunk_down");
    let dead = format!("sip:127.0.0.1:{}", free_udp_port());
    let config = write_config(&dir, &dead);
    import_dossiers(&dir, &config, 3);
    let serve = start_serve(&dir, &config);
    let id = start_campaign(&serve.api, 3, 3);
    let progress = wait_progress(&serve.api, &id, 90, "attempts failed", |p| {
        p["by_disposition"]["failed"] == 3 && p["pending"] == 3
    });
    assert_eq!(progress["attempts"], 3, "{progress}");
    let (_, alarms, _) = http("GET", &format!("{}/api/v1/alarms", serve.api), None);
    assert!(alarms.to_string().contains("trunk_down"), "{alarms}");
    let (_, health, _) = http("GET", &format!("{}/api/v1/health", serve.api), None);
    assert_eq!(health["status"], "degraded", "{health}");
}

// ── Issue 15: one honest survey per dossier ──────────────────────────────────

/// Rows of `sql` on the test's SQLite database, every column as text.
fn db_rows(dir: &Path, sql: &str) -> Vec<Vec<String>> {
    use sqlx::{Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", dir.join("carecall.db").display());
        let mut db = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .map(|v| v.unwrap_or_default())
                            .or_else(|_| r.try_get::<i64, _>(i).map(|n| n.to_string()))
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect()
    })
}

/// A policy that would dial again at once if the target were not final: so a
/// complete call mistaken for a partial one shows as a second INVITE.
fn redial_at_once(max_attempts: u32) -> Value {
    json!({"busy": 0, "no_answer": 0, "failed": 0, "no_input": 0,
           "max_attempts": max_attempts, "per_day": 5, "min_days": 1})
}

/// One dossier, one citizen who behaves as `sipp` says: the call must be
/// stored once, complete, and never re-dialled.
fn complete_whatever_follows(name: &str, sipp: impl FnOnce(&Path) -> Sipp, end_reason: &str) {
    let dir = test_dir(name);
    let mut sipp = sipp(&dir);
    let config = write_config(&dir, &sipp.trunk_uri());
    import_dossiers(&dir, &config, 1);
    let serve = start_serve(&dir, &config);
    let id = start_campaign_with(&serve.api, 1, 1, redial_at_once(3));
    let progress = wait_progress(&serve.api, &id, 150, "the dossier done", |p| p["done"] == 1);
    assert_eq!(progress["by_disposition"]["completed"], 1, "{progress}");
    assert_eq!(progress["attempts"], 1, "{progress}");
    // The dialer keeps running: nothing more is dialled.
    std::thread::sleep(Duration::from_secs(3));
    let calls = db_rows(&dir, "SELECT disposition, end_reason FROM calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0][0], "completed", "{calls:?}");
    assert_eq!(calls[0][1], end_reason, "{calls:?}");
    let responses = db_rows(
        &dir,
        "SELECT dossier_code, status, target_id IS NOT NULL FROM survey_responses",
    );
    assert_eq!(
        responses,
        [["HS-001", "completed", "1"]],
        "stored once, complete"
    );
    let q4 = db_rows(&dir, "SELECT value FROM answers WHERE key = 'q4'");
    assert_eq!(q4, [["10"]]);
    let targets = db_rows(&dir, "SELECT state, final_reason FROM campaign_targets");
    assert_eq!(targets, [["done", "completed"]]);
    let peer = sipp.wait(Duration::from_secs(10));
    assert_eq!(peer.requests_received("INVITE"), 1, "{}", peer.describe());
}

/// sipp as the trunk whose citizen answers the timeline and hangs up
/// `after_ms` after the answer, for `calls` calls.
fn hanging_up(dir: &Path, after_ms: u32, calls: u32) -> Sipp {
    let pcap = fixtures().join("survey_rfc4733.pcap");
    Sipp::start_with(
        dir,
        "uas_survey_hangup.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
        calls,
        &["-d", &after_ms.to_string()],
    )
}

/// Q1–Q4 answered (Q4 at ~52 s), then the citizen hangs up during Q5's prompt.
#[test]
fn hang_up_at_q5_is_a_complete_never_redialled() {
    complete_whatever_follows("dossier_q5", |d| hanging_up(d, 60_000, 1), "peer_hangup");
}

/// Every answer given, then the citizen hangs up during the 15 s thank-you.
#[test]
fn hang_up_during_the_thanks_is_a_complete_never_redialled() {
    complete_whatever_follows("dossier_thanks", |d| hanging_up(d, 80_000, 1), "completed");
}

/// The citizen's RTP stops right after Q4: carecall hangs up on no media,
/// and the survey is complete all the same.
#[test]
fn media_lost_after_q4_is_a_complete_never_redialled() {
    complete_whatever_follows(
        "dossier_no_media",
        |d| {
            let pcap = fixtures().join("survey_until_q4.pcap");
            Sipp::start(
                d,
                "uas_survey_answer.xml",
                &[("pcap", &pcap.to_string_lossy())],
                Transport::Udp,
            )
        },
        "no_media",
    );
}

/// A citizen who hangs up after Q2 (partial) is dialled again; the retry
/// asks consent, skips Q1 and Q2, and writes into the same response: the
/// dossier has one response, its two calls stay the attempt history.
#[test]
fn a_partial_call_and_its_retry_make_one_response() {
    let dir = test_dir("dossier_retry");
    let mut sipp = hanging_up(&dir, 30_000, 2);
    let config = write_config(&dir, &sipp.trunk_uri());
    import_dossiers(&dir, &config, 1);
    let serve = start_serve(&dir, &config);
    let id = start_campaign_with(&serve.api, 1, 1, redial_at_once(2));
    let progress = wait_progress(&serve.api, &id, 150, "two attempts", |p| p["done"] == 1);
    assert_eq!(progress["attempts"], 2, "{progress}");
    let calls = db_rows(&dir, "SELECT disposition FROM calls ORDER BY started_at");
    assert_eq!(calls, [["answered"], ["answered"]]);
    let responses = db_rows(&dir, "SELECT id, status FROM survey_responses");
    assert_eq!(
        responses.len(),
        1,
        "one response per dossier: {responses:?}"
    );
    assert_eq!(responses[0][1], "partial");
    let answers = db_rows(
        &dir,
        "SELECT key, revision, value FROM answers ORDER BY answered_at, key",
    );
    let keys: Vec<(&str, &str)> = answers
        .iter()
        .map(|a| (a[0].as_str(), a[1].as_str()))
        .collect();
    // Consent is asked on each call; Q1 and Q2 only on the first.
    assert_eq!(
        keys,
        [("consent", "1"), ("q1", "1"), ("q2", "1"), ("consent", "2")],
        "{answers:?}"
    );
    let peer = sipp.wait(Duration::from_secs(10));
    assert_eq!(peer.requests_received("INVITE"), 2, "{}", peer.describe());
}

/// `dialer.daily_cap` bounds the province's campaign calls per day whatever
/// the campaigns' own daily targets: with a cap of 1, the second citizen is
/// not dialled today although the campaign allows 50.
#[test]
fn the_province_daily_cap_stops_new_calls() {
    let dir = test_dir("dossier_daily_cap");
    let mut sipp = Sipp::start_calls(&dir, "uas_busy.xml", &[], Transport::Udp, 2);
    let config = write_config(&dir, &sipp.trunk_uri());
    let mut text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.trim_end().ends_with(".csv\""),
        "[dialer] is last: {text}"
    );
    text.push_str("daily_cap = 1\n");
    std::fs::write(&config, text).unwrap();
    import_dossiers(&dir, &config, 2);
    let serve = start_serve(&dir, &config);
    let id = start_campaign(&serve.api, 2, 2);
    wait_progress(&serve.api, &id, 30, "one busy attempt", |p| {
        p["attempts"] == 1 && p["dialling"] == 0
    });
    std::thread::sleep(Duration::from_secs(5));
    let (_, c, _) = http("GET", &format!("{}/api/v1/campaigns/{id}", serve.api), None);
    assert_eq!(c["progress"]["attempts"], 1, "{c}");
    assert_eq!(c["progress"]["pending"], 2, "{c}");
    drop(serve);
    let peer = sipp.wait(Duration::from_millis(100));
    assert_eq!(peer.requests_received("INVITE"), 1, "{}", peer.describe());
}
