//! Operator campaigns (progressive dialling) against real peers on loopback.
//!
//! `carecall serve` (registrar on, on a fixed SIP port) runs an operator campaign
//! whose trunk is sipp (tests/peers/sipp/uas_bridge.xml, A-law only: the citizen
//! answers and speaks at 1-6.5 s). The operator is baresip registered as `op7`
//! (µ-law only), auto-answering with a 12 s 440 Hz tone as its microphone and then
//! hanging up, so the recording's right channel shows the operator (the tone) and
//! nothing else before it (no IVR prompt). A citizen is dialled only while the
//! operator is free: with one operator, calls come one after the other, and with
//! none registered nobody is dialled. Artifacts stay in target/tmp/peers/<test>/.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use carecall::store::{CallId, CallRecord, CampaignId, OperatorRecord};
use chrono::{DateTime, Utc};
use common::peers::*;
use serde_json::{Value, json};

/// Registrar on a fixed SIP port, a short wrap-up, the API on a free port.
fn carecall_in_info(dir: &Path) -> Command {
    carecall_in(dir, "info")
}

fn write_config(dir: &Path, trunk: &str, sip_port: u16) -> PathBuf {
    let path = CarecallConfig::new(trunk).write(dir);
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "bind = \"127.0.0.1:0\"",
        &format!("bind = \"127.0.0.1:{sip_port}\""),
        1,
    );
    let text = format!(
        "{text}\n[registrar]\nenabled = true\nmin_expires_secs = 1\n\n\
         [bridge]\nring_timeout_secs = 10\nwait_secs = 10\nwrap_up_secs = 2\nretry_ms = 500\n\n\
         [http]\nbind = \"127.0.0.1:0\"\n\n[dialer]\nnode = \"node-a\"\nmax_concurrent = 10\n\
         calls_per_second = 5.0\nunits_file = \"{}\"\n",
        manifest_dir().join("data/units.csv").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

const CSV_HEADER: &str =
    "code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at\n";

/// `n` eligible dossiers, the operator account op7 (offline until its phone
/// registers) and an admin token, all made with the CLI.
fn prepare(dir: &Path, config: &Path, n: usize) -> String {
    let mut csv = CSV_HEADER.to_string();
    for i in 1..=n {
        csv.push_str(&format!(
            "HS-{i:03},Đăng ký khai sinh,Khác,huyen-lap-vo.tan-my,cá nhân,Công dân {i},09130000{i:02},02/11/2026,05/11/2026\n"
        ));
    }
    let file = dir.join("dossiers.csv");
    std::fs::write(&file, csv).unwrap();
    let c = || {
        let mut cmd = carecall_in_info(dir);
        cmd.arg("--config").arg(config);
        cmd
    };
    run_ok(c().args(["import", "dossiers"]).arg(&file), "import");
    run_ok(
        c().args(["operator", "add", "op7.login", "--sip-user", "op7"])
            .args(["--name", "Trần Thị Lan", "--unit", "DT"])
            .env("CARECALL_OPERATOR_PASSWORD", "baresip-pw"),
        "operator add",
    );
    run_ok(
        c().args(["user", "add", "admin", "--role", "admin"])
            .args(["--password", "mật-khẩu-1022"]),
        "user add",
    );
    run_ok(c().args(["user", "token", "admin"]), "user token")
}

/// A `carecall serve` process and its API.
struct Serve {
    peer: Peer,
    api: String,
    token: String,
    dir: PathBuf,
}

impl Serve {
    fn start(dir: &Path, config: &Path, token: String) -> Serve {
        let mut cmd = carecall_in_info(dir);
        cmd.arg("--config").arg(config).arg("serve");
        let served = spawn_serve(dir, &mut cmd);
        Serve {
            peer: served.peer,
            api: served.api,
            token,
            dir: dir.to_path_buf(),
        }
    }

    /// One API request with curl as the admin: (status, JSON body).
    fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-H", &format!("authorization: Bearer {}", self.token)])
            .args(["-sS", "-X", method, "-w", "\n%{http_code}"])
            .arg(format!("{}{path}", self.api));
        if let Some(b) = body {
            cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
        }
        let out = cmd.output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (json, status) = text.rsplit_once('\n').unwrap_or(("", ""));
        (
            status.trim().parse().unwrap_or(0),
            serde_json::from_str(json).unwrap_or(Value::Null),
        )
    }

    /// Creates and starts an operator campaign of `size` over November 2026,
    /// open around the clock, allowed more calls at once than the operator has lines.
    fn start_operator_campaign(&self, size: usize) -> CampaignId {
        let spec = json!({
            "name": "Điện thoại viên tháng 11", "mode": "operator",
            "period_from": "2026-11-01", "period_to": "2026-11-30",
            "size": size, "daily_target": 50, "max_concurrent": 2,
            "calls_per_second": 5.0, "seed": 11,
            "windows": {"weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "00:00", "end": "24:00"}]}
        });
        let (st, created) = self.http("POST", "/api/v1/campaigns", Some(&spec.to_string()));
        assert_eq!(st, 201, "{created}");
        assert_eq!(created["targets"], size, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let (st, body) = self.http("POST", &format!("/api/v1/campaigns/{id}/start"), None);
        assert_eq!(st, 200, "{body}");
        CampaignId(id)
    }

    fn progress(&self, id: &CampaignId) -> Value {
        self.http("GET", &format!("/api/v1/campaigns/{id}"), None).1["progress"].clone()
    }

    /// Polls the campaign until `done(progress)` holds.
    fn wait_progress(&self, id: &CampaignId, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = self.progress(id);
            if done(&p) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "campaign stuck: {p}\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// Stops serve (SIGTERM: it releases its claims and exits cleanly).
    fn stop(mut self) {
        self.peer.terminate(Duration::from_secs(10));
        let status = self.peer.wait_timeout(Duration::ZERO);
        assert!(status.is_some_and(|s| s.success()), "serve exit {status:?}");
    }

    fn log(&self) -> String {
        tail(&read_lossy(&self.dir.join("serve.stderr")), 40)
    }
}

/// baresip registering as op7, auto-answering `calls` calls with `mic` as its voice.
struct Operator(OperatorPhone);

impl Operator {
    fn start(dir: &Path, carecall_port: u16, mic: &Path, calls: usize) -> Operator {
        let mut steps = Vec::new();
        for _ in 0..calls {
            steps.extend(["wait:CALL_ESTABLISHED:90", "wait:CALL_CLOSED:60"]);
        }
        Operator(OperatorPhone::start(dir, carecall_port, mic, &steps))
    }

    /// The ctrl log (CALL_ESTABLISHED / CALL_CLOSED lines), after baresip stops.
    fn finish(self) -> String {
        self.0.finish(Duration::from_secs(30))
    }
}

fn op7(dir: &Path) -> OperatorRecord {
    let ops = rt().block_on(open_store(dir).operators()).unwrap();
    ops.into_iter().find(|o| o.sip_user == "op7").unwrap()
}

/// The campaign's calls, oldest first.
fn campaign_calls(dir: &Path, id: &CampaignId) -> Vec<CallRecord> {
    let s = open_store(dir);
    let r = rt();
    let mut calls: Vec<CallRecord> = r
        .block_on(s.recent_calls(100))
        .unwrap()
        .into_iter()
        .map(|c| c.call)
        .collect();
    let ours: Vec<CallId> = r
        .block_on(s.campaign_targets(id))
        .unwrap()
        .into_iter()
        .filter_map(|t| t.last_call_id)
        .collect();
    calls.retain(|c| ours.contains(&c.id));
    calls.sort_by_key(|c| c.started_at);
    calls
}

/// A call of the campaign: answered, bridged to op7 from its first seconds,
/// the tone on the right with nothing (no prompt) before it, the citizen on the left.
fn expect_direct_to_operator(dir: &Path, call: &CallRecord, op: &OperatorRecord, d: &str) {
    let s = open_store(dir);
    let r = rt();
    assert!(call.answered_at.is_some(), "{call:?}\n{d}");
    assert_eq!(call.dialplan, "operator-direct", "{d}");
    let named = r.block_on(s.call_operator(&call.id)).unwrap();
    assert_eq!(named.as_ref(), Some(&op.id), "the call row names op7\n{d}");
    let rec = r
        .block_on(s.recording_of_call(&call.id))
        .unwrap()
        .unwrap_or_else(|| panic!("no recording for {call:?}\n{d}"));
    let path = if Path::new(&rec.path).is_absolute() {
        PathBuf::from(&rec.path)
    } else {
        dir.join(&rec.path)
    };
    let left = tone_windows(&path, 0);
    let right = tone_windows(&path, 1);
    let tone = right
        .iter()
        .position(|(rms, share)| *rms > 300.0 && *share > 0.8)
        .unwrap_or_else(|| panic!("the operator never reaches the recording: {right:?}\n{d}"));
    assert!(
        tone <= 6,
        "the operator came {} s after the answer: {right:?}\n{d}",
        tone as f64 / 2.0
    );
    assert!(
        right[..tone].iter().all(|(rms, _)| *rms < 300.0),
        "something played before the operator (a prompt?): {right:?}\n{d}"
    );
    let end = (tone + 16).min(right.len());
    assert!(
        right[tone..end].iter().filter(|(_, s)| *s > 0.8).count() >= 12,
        "the operator is not on the right after the answer: {right:?}\n{d}"
    );
    assert!(
        left[2..13.min(left.len())]
            .iter()
            .filter(|(rms, _)| *rms > 300.0)
            .count()
            >= 6,
        "the citizen is not on the left: {left:?}\n{d}"
    );
}

fn describe(dir: &Path, sipp: &SippOutcome, ctrl: &str) -> String {
    format!(
        "artifacts in {}\n--- serve (tail):\n{}\n--- sipp:\n{}\n--- operator ctrl:\n{ctrl}",
        dir.display(),
        tail(&read_lossy(&dir.join("serve.stderr")), 40),
        sipp.describe()
    )
}

#[test]
fn operator_campaign_bridges_each_answer_to_the_free_operator_one_at_a_time() {
    let dir = test_dir("progressive_two_calls");
    let pcap = fixtures().join("bridge_citizen.pcap");
    let mut sipp = Sipp::start_calls(
        &dir,
        "uas_bridge.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
        2,
    );
    let sip_port = free_udp_port();
    let config = write_config(&dir, &sipp.trunk_uri(), sip_port);
    let token = prepare(&dir, &config, 2);
    let serve = Serve::start(&dir, &config, token);
    assert!(wait_listening(sip_port, true, Duration::from_secs(10)));
    let operator = Operator::start(&dir, sip_port, &fixtures().join("operator_short.wav"), 2);
    let id = serve.start_operator_campaign(2);
    let progress = serve.wait_progress(&id, 150, |p| p["attempts"] == 2 && p["dialling"] == 0);
    let sipp_out = sipp.wait(Duration::from_secs(30));
    let ctrl = operator.finish();
    let d = format!("{progress}\n{}", describe(&dir, &sipp_out, &ctrl));
    assert_eq!(sipp_out.requests_received("INVITE"), 2, "{d}");

    let op = op7(&dir);
    let calls = campaign_calls(&dir, &id);
    assert_eq!(calls.len(), 2, "{calls:?}\n{d}");
    for c in &calls {
        expect_direct_to_operator(&dir, c, &op, &d);
    }
    // One line: the second citizen was dialled only after the first call ended.
    let first_end: DateTime<Utc> = calls[0].ended_at.expect("first call ended");
    assert!(
        calls[1].started_at >= first_end,
        "two calls at once for one operator: {calls:?}\n{d}"
    );
    let events: Vec<&str> = ctrl
        .lines()
        .filter_map(|l| {
            ["CALL_ESTABLISHED", "CALL_CLOSED"]
                .into_iter()
                .find(|e| l.contains(&format!("\"type\": \"{e}\"")))
        })
        .collect();
    assert_eq!(
        events,
        [
            "CALL_ESTABLISHED",
            "CALL_CLOSED",
            "CALL_ESTABLISHED",
            "CALL_CLOSED"
        ],
        "{d}"
    );
    serve.stop();
}

#[test]
fn nobody_is_dialled_until_an_operator_is_free() {
    let dir = test_dir("progressive_no_operator");
    let pcap = fixtures().join("bridge_citizen.pcap");
    let mut sipp = Sipp::start(
        &dir,
        "uas_bridge.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    );
    let sip_port = free_udp_port();
    let config = write_config(&dir, &sipp.trunk_uri(), sip_port);
    let token = prepare(&dir, &config, 1);
    let serve = Serve::start(&dir, &config, token);
    assert!(wait_listening(sip_port, true, Duration::from_secs(10)));
    let id = serve.start_operator_campaign(1);

    // The campaign runs (its ticks see a due target) but no operator is registered.
    thread::sleep(Duration::from_secs(6));
    let p = serve.progress(&id);
    assert_eq!(
        (&p["attempts"], &p["dialling"], &p["pending"]),
        (&json!(0), &json!(0), &json!(1)),
        "{p}"
    );
    assert!(
        campaign_calls(&dir, &id).is_empty(),
        "a call was placed with no operator"
    );
    assert!(
        !read_lossy(&dir.join("sipp_messages.log")).contains("INVITE sip:"),
        "sipp saw an INVITE with no operator"
    );
    assert_eq!(op7(&dir).state.as_str(), "offline");

    // The operator's phone registers: they become available and the call starts.
    let registered_at = Utc::now();
    let operator = Operator::start(&dir, sip_port, &fixtures().join("operator_short.wav"), 1);
    let progress = serve.wait_progress(&id, 90, |p| p["attempts"] == 1 && p["dialling"] == 0);
    let sipp_out = sipp.wait(Duration::from_secs(30));
    let ctrl = operator.finish();
    let d = format!("{progress}\n{}", describe(&dir, &sipp_out, &ctrl));
    assert_eq!(sipp_out.requests_received("INVITE"), 1, "{d}");
    let calls = campaign_calls(&dir, &id);
    assert_eq!(calls.len(), 1, "{d}");
    assert!(calls[0].started_at >= registered_at, "{calls:?}\n{d}");
    expect_direct_to_operator(&dir, &calls[0], &op7(&dir), &d);
    serve.stop();
}
