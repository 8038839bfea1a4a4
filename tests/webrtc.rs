//! The browser softphone end to end: `carecall serve`, an operator logged in
//! from headless Chromium (Debian's chromium, driven by playwright-core in
//! tests/browser/softphone.mjs) with a fake microphone playing a Vietnamese
//! voice WAV. The admin's test call rings the page, the page accepts, and:
//! the operator's voice reaches the server (voiced frames for seconds), the
//! server's tone reaches the page (WebAudio meter and getStats energy), a
//! keypad digit arrives, and the operator is `available` while the page is
//! open and `offline` once it closes. DTLS/ICE run over 127.0.0.1 only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::peers::*;
use serde_json::Value;

const OP_USER: &str = "lan.tran";
const OP_PASS: &str = "Mật-khẩu-điện-thoại-viên";

fn carecall(dir: &Path) -> Command {
    carecall_in(dir, "info,carecall::webrtc=debug")
}

fn write_config(dir: &Path) -> PathBuf {
    let path = CarecallConfig::new("sip:127.0.0.1:9").write(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "\n[http]\nbind = \"127.0.0.1:0\"\n\n[webrtc]\nbind = \"127.0.0.1:0\"\nring_timeout_secs = 15\n",
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// An admin (for the test call) with a token, and an operator who logs in
/// to the page: a user with the operator role and the operator account of
/// the same name.
fn make_users(dir: &Path, config: &Path) -> String {
    let cli = |args: &[&str]| {
        let mut c = carecall(dir);
        c.arg("--config").arg(config).args(args);
        c
    };
    run_ok(
        &mut cli(&[
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
    run_ok(
        &mut cli(&[
            "user",
            "add",
            OP_USER,
            "--role",
            "operator",
            "--password",
            OP_PASS,
        ]),
        "user add operator",
    );
    run_ok(
        cli(&[
            "operator",
            "add",
            OP_USER,
            "--sip-user",
            "1001",
            "--name",
            "Trần Thị Lan",
        ])
        .env("CARECALL_OPERATOR_PASSWORD", "sip-pass-1001"),
        "operator add",
    );
    run_ok(&mut cli(&["user", "token", "admin"]), "user token")
}

fn start_serve(dir: &Path, config: &Path) -> (Peer, String) {
    let served = spawn_serve(dir, carecall(dir).arg("--config").arg(config).arg("serve"));
    (served.peer, served.api)
}

/// The status of a WebSocket upgrade request to the softphone endpoint.
fn ws_upgrade_status(base: &str, token: Option<&str>) -> u16 {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "5",
    ])
    .args(["-H", "Connection: Upgrade", "-H", "Upgrade: websocket"])
    .args(["-H", "Sec-WebSocket-Version: 13"])
    .args(["-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    let out = cmd
        .arg(format!("{base}/api/v1/softphone/ws"))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// `POST /api/v1/softphone/test-call` for the operator, as the admin.
fn test_call(base: &str, token: &str) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST"])
        .args(["-H", &format!("authorization: Bearer {token}")])
        .args(["-H", "content-type: application/json"])
        .args([
            "--data-binary",
            &format!("{{\"operator\":\"{OP_USER}\",\"secs\":1}}"),
        ])
        .arg(format!("{base}/api/v1/softphone/test-call"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn browser_operator_talks_and_hears_over_webrtc() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed (apt-get install chromium)"
    );
    let dir = test_dir("webrtc_softphone");
    let config = write_config(&dir);
    let token = make_users(&dir, &config);
    let (mut serve, base) = start_serve(&dir, &config);

    // No login, or a login without an operator account: no softphone.
    assert_eq!(ws_upgrade_status(&base, None), 401);
    assert_eq!(
        ws_upgrade_status(&base, Some(&token)),
        403,
        "admin has no operator account"
    );
    // No page open yet: the test call fails at once, and says why.
    let (st, body) = test_call(&base, &token);
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["answered"], false, "{body}");
    assert!(
        body["failure"]
            .as_str()
            .unwrap()
            .contains("no softphone page"),
        "{body}"
    );

    let mic = manifest_dir().join("tests/fixtures/speech_vi.wav");
    let out = Command::new("node")
        .arg("softphone.mjs")
        .current_dir(browser_driver_dir())
        .env("BASE", &base)
        .env("OP_USER", OP_USER)
        .env("OP_PASS", OP_PASS)
        .env("ADMIN_TOKEN", &token)
        .env("MIC_WAV", &mic)
        .env("USER_DATA", dir.join("chromium-profile"))
        .output()
        .expect("run node tests/browser/softphone.mjs");
    std::fs::write(dir.join("browser.stderr"), &out.stderr).unwrap();
    std::fs::write(dir.join("browser.stdout"), &out.stdout).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no result from the browser driver:\n{stdout}\n{}\nserve:\n{}",
                tail(&String::from_utf8_lossy(&out.stderr), 30),
                tail(&read_lossy(&dir.join("serve.stderr")), 40)
            )
        });
    let ctx = || {
        format!(
            "{r:#}\nserve:\n{}",
            tail(&read_lossy(&dir.join("serve.stderr")), 40)
        )
    };
    assert!(r.get("error").is_none(), "browser driver failed: {}", ctx());
    assert_eq!(r["states"]["ready"], "available", "{}", ctx());

    // The page rang with the dossier, and was answered.
    assert!(
        r["ring"].as_str().unwrap_or("").contains("TEST-0000"),
        "{}",
        ctx()
    );
    let server = &r["server"];
    assert_eq!(r["server_status"], 200, "{}", ctx());
    assert_eq!(server["answered"], true, "{}", ctx());
    assert!(server["failure"].is_null(), "{}", ctx());

    // The fake microphone (speech, looping) reached the server: 6 s of call
    // is 300 frames; speech has pauses, so ask for 2 s of voiced frames.
    let frames_in = server["frames_in"].as_u64().unwrap();
    let voiced = server["voiced_frames"].as_u64().unwrap();
    assert!(frames_in >= 200, "frames from the page: {}", ctx());
    assert!(voiced >= 100, "voiced frames from the page: {}", ctx());
    assert_eq!(server["digits"], "5", "the keypad digit: {}", ctx());

    // The server's tone reached the page: the WebAudio meter saw it for more
    // than a second, and the receiver counted seconds of audio with energy.
    let page = &r["page"];
    assert!(
        page["meter"]["voicedTicks"].as_u64().unwrap_or(0) >= 10,
        "page meter: {}",
        ctx()
    );
    let stats = &page["stats"];
    assert!(
        stats["totalSamplesReceived"].as_f64().unwrap_or(0.0) >= 8_000.0 * 3.0,
        "samples received: {}",
        ctx()
    );
    assert!(
        stats["totalAudioEnergy"].as_f64().unwrap_or(0.0) > 0.1,
        "audio energy received: {}",
        ctx()
    );
    let log: Vec<&str> = page["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        log.contains(&"ring") && log.contains(&"connected"),
        "{}",
        ctx()
    );
    assert!(
        log.iter().any(|e| e.starts_with("ended:citizen_hangup")),
        "the test call hung up from the citizen's side: {}",
        ctx()
    );

    // Closing the page took the operator offline.
    assert_eq!(r["states"]["after"], "offline", "{}", ctx());
    serve.terminate(Duration::from_secs(5));
}
