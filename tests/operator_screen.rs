//! The operator's screen end to end: `carecall serve` with a sipp trunk whose
//! citizen answers and speaks (tests/peers/sipp/uas_bridge.xml, A-law), an
//! operator (user + operator account) in headless Chromium (Debian's chromium
//! driven by tests/browser/operator.mjs, a Vietnamese voice WAV as the fake
//! microphone) on `/dien-thoai-vien`: they get ready, click "Gọi" on a
//! dossier, the ring of their own call is taken automatically, they fill the
//! questionnaire (parts I and II), save, talk a little and hang up.
//!
//! Checked: the survey record holds the answers with `changed_by` = the
//! operator; the recording's right channel (what the citizen heard: the
//! operator) is not silent after the answer; the operator ends in
//! `wrap_up`. Screenshots go to target/screenshots/. Without Chromium the
//! test is skipped, unless CARECALL_REQUIRE_BROWSER is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use carecall::store::{CallId, Dossier, ResponseId, UnitRecord};
use chrono::Utc;
use common::peers::*;
use serde_json::Value;

const OP_USER: &str = "hoa.nguyen";
const OP_PASS: &str = "Mật-khẩu-bàn-gọi";
const DOSSIER: &str = "000.00.21.H19-261020-0042";

fn carecall(dir: &Path, config: &Path) -> Command {
    let mut cmd = carecall_in(dir, "info,carecall::webrtc=debug");
    cmd.arg("--config").arg(config);
    cmd
}

/// sipp as the trunk, HTTP and WebRTC on loopback, a wrap-up long enough to see.
fn write_config(dir: &Path, trunk: &str) -> PathBuf {
    let path = CarecallConfig::new(trunk).write(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "\n[http]\nbind = \"127.0.0.1:0\"\n\n[webrtc]\nbind = \"127.0.0.1:0\"\nring_timeout_secs = 15\n\n\
         [bridge]\nring_timeout_secs = 15\nwait_secs = 20\nwrap_up_secs = 600\nretry_ms = 500\n",
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The operator's login and operator account, an admin, and the dossier to
/// call; returns the admin's API token (for the incoming test call).
fn seed(dir: &Path, config: &Path) -> String {
    run_ok(
        carecall(dir, config).args([
            "user",
            "add",
            OP_USER,
            "--role",
            "operator",
            "--password",
            OP_PASS,
        ]),
        "user add",
    );
    run_ok(
        carecall(dir, config)
            .args([
                "operator",
                "add",
                OP_USER,
                "--sip-user",
                "2001",
                "--name",
                "Nguyễn Thị Hoa",
            ])
            .env("CARECALL_OPERATOR_PASSWORD", "sip-pass-2001"),
        "operator add",
    );
    let s = open_store(dir);
    let r = rt();
    r.block_on(s.upsert_unit(&UnitRecord {
        code: "h-lap-vo".into(),
        name: "Huyện Lấp Vò".into(),
        level: "district".into(),
        parent: None,
    }))
    .unwrap();
    let t = Utc::now() - chrono::Duration::days(20);
    r.block_on(s.upsert_dossier(&Dossier {
        code: DOSSIER.into(),
        procedure: "Đăng ký khai sinh".into(),
        field: "Hộ tịch".into(),
        unit_code: "h-lap-vo".into(),
        applicant_kind: "person".into(),
        applicant_name: "Lê Văn Tâm".into(),
        phone: "0901234567".into(),
        received_at: Some(t),
        returned_at: Some(t + chrono::Duration::days(3)),
        created_at: t,
    }))
    .unwrap();
    run_ok(
        carecall(dir, config).args([
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password",
            "mật-khẩu-1022",
        ]),
        "user add admin",
    );
    let out = carecall(dir, config)
        .args(["user", "token", "admin"])
        .output()
        .expect("user token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn start_serve(dir: &Path, config: &Path) -> (Peer, String) {
    let served = spawn_serve(dir, carecall(dir, config).arg("serve"));
    (served.peer, served.api)
}

/// RMS per 0.5 s window of one channel.
fn window_rms(path: &Path, channel: usize) -> Vec<f64> {
    tone_windows(path, channel)
        .into_iter()
        .map(|(rms, _)| rms)
        .collect()
}

/// The call's row once it has ended (the browser hung up).
fn finished_call(dir: &Path, id: &CallId) -> carecall::store::CallSummary {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = open_store(dir);
        if let Some(sum) = rt().block_on(s.call_summary(id)).unwrap()
            && sum.call.disposition != "in_progress"
            && sum.recording.is_some()
        {
            return sum;
        }
        assert!(Instant::now() < deadline, "call {id} did not end");
        thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn operator_calls_a_citizen_fills_the_form_and_hangs_up() {
    if !Path::new("/usr/bin/chromium").exists() {
        assert!(
            std::env::var_os("CARECALL_REQUIRE_BROWSER").is_none(),
            "Debian's chromium is needed (apt-get install chromium)"
        );
        eprintln!("skipped: no /usr/bin/chromium");
        return;
    }
    let dir = test_dir("operator_screen");
    let pcap = fixtures().join("bridge_citizen.pcap");
    let mut sipp = Sipp::start(
        &dir,
        "uas_bridge.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    );
    let config = write_config(&dir, &sipp.trunk_uri());
    let admin = seed(&dir, &config);
    let (mut serve, base) = start_serve(&dir, &config);

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    let out = Command::new("node")
        .arg("operator.mjs")
        .current_dir(browser_driver_dir())
        .env("BASE", &base)
        .env("OP_USER", OP_USER)
        .env("OP_PASS", OP_PASS)
        .env("DOSSIER", DOSSIER)
        .env("ADMIN_TOKEN", &admin)
        .env(
            "MIC_WAV",
            manifest_dir().join("tests/fixtures/speech_vi.wav"),
        )
        .env("USER_DATA", dir.join("chromium-profile"))
        .env("SHOTS", &shots)
        .output()
        .expect("run node tests/browser/operator.mjs");
    std::fs::write(dir.join("browser.stderr"), &out.stderr).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ctx = |r: &Value| {
        format!(
            "{r:#}\nbrowser:\n{}\nserve:\n{}",
            tail(&String::from_utf8_lossy(&out.stderr), 20),
            tail(&read_lossy(&dir.join("serve.stderr")), 40)
        )
    };
    let r: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no result from the browser driver:\n{stdout}\n{}",
                ctx(&Value::Null)
            )
        });
    assert!(
        r.get("error").is_none(),
        "browser driver failed: {}",
        ctx(&r)
    );
    assert_eq!(r["states"]["ready"], "available", "{}", ctx(&r));
    // The incoming call: rung with its dossier, taken with "Nhận", a digit sent.
    let incoming = &r["incoming"];
    assert!(
        incoming["ring"]
            .as_str()
            .unwrap_or("")
            .contains("TEST-0000"),
        "{}",
        ctx(&r)
    );
    assert_eq!(incoming["report"]["answered"], true, "{}", ctx(&r));
    assert_eq!(incoming["report"]["digits"], "5", "{}", ctx(&r));
    assert_eq!(r["states"]["connected"], "on_call", "{}", ctx(&r));
    assert!(
        r["dossier_shown"]
            .as_str()
            .unwrap_or("")
            .contains("Đăng ký khai sinh"),
        "{}",
        ctx(&r)
    );
    assert_eq!(r["gender_hidden_before"], true, "shown_when: {}", ctx(&r));
    assert_eq!(r["save"]["ok"], true, "{}", ctx(&r));
    assert_eq!(r["states"]["after"], "wrap_up", "{}", ctx(&r));
    let log: Vec<&str> = r["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        log.contains(&"ring")
            && log.contains(&"connected")
            && log.iter().any(|e| e.starts_with("ended")),
        "{}",
        ctx(&r)
    );

    // The answers landed in the call's survey record, by the operator.
    let call = CallId(r["call_id"].as_str().expect("call id").to_string());
    let sum = finished_call(&dir, &call);
    let response = ResponseId(r["response_id"].as_str().unwrap().to_string());
    assert_eq!(sum.response.as_ref().map(|x| &x.id), Some(&response));
    let history = rt()
        .block_on(open_store(&dir).answer_history(&response))
        .unwrap();
    for (key, value) in [
        ("q1", "1"),
        ("q4", "9"),
        ("q3", "Phải chờ lâu ở bộ phận một cửa"),
        ("for_whom", "1"),
        ("gender", "f"),
    ] {
        let a = history
            .iter()
            .filter(|a| a.key == key)
            .max_by_key(|a| a.revision)
            .unwrap_or_else(|| panic!("no {key}: {history:#?}"));
        assert_eq!(a.value.as_deref(), Some(value), "{key}");
        assert_eq!(a.changed_by.as_deref(), Some(OP_USER), "{key}");
    }
    assert_eq!(sum.call.dossier_code.as_deref(), Some(DOSSIER));

    // What the citizen heard after the answer: the operator's voice.
    let rec = sum.recording.unwrap();
    let path = if Path::new(&rec.path).is_absolute() {
        PathBuf::from(&rec.path)
    } else {
        dir.join(&rec.path)
    };
    let right = window_rms(&path, 1);
    let left = window_rms(&path, 0);
    let loud = |w: &[f64]| w.iter().filter(|rms| **rms > 300.0).count();
    assert!(
        right.len() >= 10,
        "recording of {} s: {right:?}",
        right.len() / 2
    );
    assert!(
        loud(&right[2..]) >= 4,
        "the citizen heard no operator: {right:?}\n{}",
        ctx(&r)
    );
    assert!(loud(&left) >= 2, "the citizen is silent: {left:?}");
    let serve_log = read_lossy(&dir.join("serve.stderr"));
    assert!(serve_log.contains("operator connected"), "{}", ctx(&r));

    serve.terminate(Duration::from_secs(5));
    let sipp = sipp.wait(Duration::from_secs(30));
    assert!(
        sipp.log.contains("PEER_BYE"),
        "the citizen got the operator's BYE: {}",
        sipp.describe()
    );
}
