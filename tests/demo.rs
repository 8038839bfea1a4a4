//! End to end on loopback: carecall calls the simulated phone, which answers the
//! survey by ear, and the results are read back from SQLite and the WAV files.
//!
//! Real time: the full survey plays every prompt of `survey-1022` (~2.5 min);
//! the tests run concurrently, so the binary takes about that long.

use std::net::SocketAddr;
use std::path::Path;

use carecall::call::{self, CallRequest};
use carecall::demo::{self, DemoCall};
use carecall::phone::Phone;
use carecall::store::{AnswerKind, AnswerRecord, CallSummary};

fn stored<'a>(calls: &'a [DemoCall], scenario: &str) -> &'a CallSummary {
    let call = calls
        .iter()
        .find(|c| c.scenario.name == scenario)
        .unwrap_or_else(|| panic!("no {scenario} call"));
    call.stored
        .as_ref()
        .unwrap_or_else(|| panic!("the {scenario} call is not in the database"))
}

fn answer<'a>(s: &'a CallSummary, key: &str) -> &'a AnswerRecord {
    s.answers
        .iter()
        .find(|a| a.key == key)
        .unwrap_or_else(|| panic!("no answer {key}: {:?}", s.answers))
}

fn value(s: &CallSummary, key: &str) -> String {
    let a = answer(s, key);
    assert_eq!(a.kind, AnswerKind::Value, "{key}: {a:?}");
    a.value.clone().unwrap_or_default()
}

/// RMS of each channel of a stereo recording.
fn channel_levels(path: &Path) -> [f64; 2] {
    let mut reader = hound::WavReader::open(path).expect("recording readable");
    assert_eq!(reader.spec().channels, 2, "recordings are stereo");
    let mut sums = [0f64; 2];
    let mut n = 0usize;
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = f64::from(s.unwrap());
        sums[i % 2] += s * s;
        n += 1;
    }
    let frames = (n / 2).max(1) as f64;
    [(sums[0] / frames).sqrt(), (sums[1] / frames).sqrt()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_calls_end_as_the_phone_behaves() {
    let dir = tempfile::tempdir().unwrap();
    let calls = demo::run_calls(dir.path(), |line| eprintln!("{line}"))
        .await
        .expect("demo runs");
    eprintln!("{}", demo::table(&calls));

    let full = stored(&calls, "full survey");
    assert_eq!(full.call.disposition, "completed");
    assert_eq!(full.call.sip_code, Some(200));
    assert_eq!(full.call.dossier_code.as_deref(), Some("DT-2024-000123"));
    assert_eq!(value(full, "consent"), "1");
    assert_eq!(value(full, "q1"), "1");
    assert_eq!(value(full, "q2"), "1");
    assert_eq!(value(full, "q4"), "10", "1 0 # scores 10");
    for key in ["q3", "q5"] {
        let clip = answer(full, key);
        assert_eq!(clip.kind, AnswerKind::Clip, "{key}: {clip:?}");
        let seconds = clip.clip_seconds.unwrap_or(0.0);
        assert!(seconds > 1.0, "{key} clip of {seconds} s");
        let path = clip.clip_path.as_deref().expect("clip path");
        assert!(Path::new(path).is_file(), "{path} missing");
    }
    let rec = full.recording.as_ref().expect("full survey recorded");
    assert!(rec.seconds > 60.0, "recording of {} s", rec.seconds);
    let [citizen, ivr] = channel_levels(Path::new(&rec.path));
    assert!(
        citizen > 100.0,
        "the citizen's channel is silent (rms {citizen:.0})"
    );
    assert!(ivr > 100.0, "the IVR's channel is silent (rms {ivr:.0})");

    let busy = stored(&calls, "busy");
    assert_eq!(
        (busy.call.disposition.as_str(), busy.call.sip_code),
        ("busy", Some(486))
    );
    assert!(busy.recording.is_none());

    let ring = stored(&calls, "no answer");
    assert_eq!(
        (ring.call.disposition.as_str(), ring.call.sip_code),
        ("no_answer", Some(487))
    );

    let silent = stored(&calls, "silent line");
    assert_eq!(silent.call.disposition, "no_input");
    assert_eq!(answer(silent, "consent").kind, AnswerKind::Unanswered);

    let hangup = stored(&calls, "hangs up mid-way");
    assert_eq!(hangup.call.disposition, "answered");
    assert_eq!(value(hangup, "consent"), "1");
    assert!(
        hangup.answers.iter().all(|a| a.key == "consent"),
        "{:?}",
        hangup.answers
    );
    let rec = hangup.recording.as_ref().expect("hang-up recorded");
    assert!(Path::new(&rec.path).is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_rejects_and_declines() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let at = phone.local_addr();
    let svc = carecall::setup::services(demo::config(dir.path(), at))
        .await
        .unwrap();
    let place = |user: &str| {
        call::place_call(
            &svc,
            CallRequest {
                target: format!("sip:{user}@{at}"),
                dialplan: "survey-1022".into(),
                dossier: None,
                ..Default::default()
            },
        )
    };
    let (reject, decline) = tokio::join!(place("reject"), place("decline"));
    let (reject, decline) = (reject.unwrap(), decline.unwrap());
    assert_eq!(reject.disposition.as_str(), "rejected");
    assert_eq!(reject.sip_code, Some(603));
    assert_eq!(decline.disposition.as_str(), "declined");
    assert_eq!(decline.answers["consent"], "2");
    svc.agent.shutdown();
    phone.shutdown().await;
    assert_eq!(phone.active_calls(), 0, "every call of the phone ended");
}

/// `carecall demo --serve`: the demo database stays up behind the pages, with
/// a printed login that works (and only that one), until stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serve_keeps_the_pages_up_with_a_printed_login() {
    let dir = std::env::temp_dir().join(format!("carecall-demo-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let stop = tokio_util::sync::CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Not spawned: serve's future is not `Send` (sqlx's `Any` driver); the
    // client below runs beside it on this task.
    let serving = demo::serve(&dir, &bind, stop.clone(), move |line| {
        tx.send(line).ok();
    });
    let client = async {
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
            .await
            .expect("the login is printed")
            .unwrap();
        let password = line
            .split("password: ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no password in {line:?}"))
            .to_string();
        assert!(line.contains(&format!("http://{bind}/")), "{line}");
        // The HTTP task may still be binding when the line is printed.
        let mut status = String::new();
        for _ in 0..100 {
            status = login(&bind, &password).await;
            if status == "200" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, "200", "the printed login works");
        assert_eq!(
            login(&bind, "not-the-password").await,
            "401",
            "another password does not"
        );
        stop.cancel();
    };
    let (served, ()) = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        tokio::join!(serving, client)
    })
    .await
    .expect("serve stops when asked");
    served.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// POSTs a login for the demo user; returns the HTTP status.
async fn login(bind: &str, password: &str) -> String {
    let body = serde_json::json!({ "username": demo::DEMO_USER, "password": password });
    let url = format!("http://{bind}/api/v1/session");
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args(["-H", "content-type: application/json", "--data-binary"])
            .arg(body.to_string())
            .arg(url)
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    })
    .await
    .unwrap()
}
