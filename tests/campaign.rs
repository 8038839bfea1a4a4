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
    let mut cmd = Command::new(carecall_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARECALL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info").current_dir(dir);
    cmd
}

/// Writes the per-test config with the API on a free port and the shipped units.
fn write_config(dir: &Path, trunk: &str) -> PathBuf {
    let path = CarecallConfig::new(trunk).write(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[http]\nbind = \"127.0.0.1:0\"\n\n[dialer]\nnode = \"node-a\"\nmax_concurrent = 10\n\
         calls_per_second = 5.0\nunits_file = \"{}\"\n",
        manifest_dir().join("data/units.csv").display()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn start_serve(dir: &Path, config: &Path) -> Serve {
    let mut cmd = carecall(dir);
    cmd.arg("--config").arg(config).arg("serve");
    let peer = Peer::spawn("serve", dir, &mut cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = read_lossy(&dir.join("serve.stdout"));
        if let Some(v) = out
            .lines()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            let api = format!("http://{}", v["http"].as_str().unwrap());
            return Serve { peer, api };
        }
        assert!(
            Instant::now() < deadline,
            "serve did not start:\n{}",
            tail(&read_lossy(&dir.join("serve.stderr")), 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP request with curl: (status, JSON body).
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, Value, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}\n%{content_type}", url]);
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
    let pcap = fixtures().join("survey_rfc4733.pcap");
    let mut sipp = Sipp::start_calls(
        &dir,
        "uas_survey_answer.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
        3,
    );
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
    assert!(import.status.success(), "{report} {}", String::from_utf8_lossy(&import.stderr));
    assert_eq!(report["inserted"], 5, "{report}");

    let mut serve = start_serve(&dir, &config);
    let api = serve.api.clone();
    let (st, _, _) = http("POST", &format!("{api}/api/v1/do-not-call"), Some(r#"{"phone":"+84 912 000 004","reason":"test"}"#));
    assert_eq!(st, 200);

    // A malformed body is a problem+json 400 and creates nothing.
    let (st, body, ctype) = http("POST", &format!("{api}/api/v1/campaigns"), Some(r#"{"name": 5"#));
    assert_eq!(st, 400, "{body}");
    assert!(ctype.starts_with("application/problem+json"), "{ctype}");
    let (_, list, _) = http("GET", &format!("{api}/api/v1/campaigns"), None);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");

    let always = json!({"weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "00:00", "end": "23:59"}]});
    let spec = json!({
        "name": "Khảo sát tháng 11",
        "period_from": "2026-11-01", "period_to": "2026-11-30",
        "size": 10, "daily_target": 10, "max_concurrent": 3, "calls_per_second": 5.0,
        "windows": always, "seed": 7
    });
    let (st, created, _) = http("POST", &format!("{api}/api/v1/campaigns"), Some(&spec.to_string()));
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["targets"], 3, "DNC and not-returned dossiers excluded: {created}");
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
