//! What must survive bad conditions, against real peers:
//! - a dead media path (answered, no RTP at all) is hung up as no_media, and the
//!   call row says so;
//! - `kill -9` of carecall mid-survey: at the next start the call is marked
//!   interrupted, the answers already given are still in the database, the
//!   half-written recording is repaired into a playable WAV of the right length and
//!   linked to the call, and the trunk gets a BYE for the dead dialog;
//! - the same survey stored in PostgreSQL instead of SQLite.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use carecall::store::Store;
use common::peers::*;

const TARGET: &str = "0901234567";

fn survey_sipp(dir: &std::path::Path) -> Sipp {
    let pcap = fixtures().join("survey_rfc4733.pcap");
    Sipp::start(
        dir,
        "uas_survey_answer.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    )
}

#[test]
fn answered_call_without_rtp_is_hung_up_as_no_media() {
    let dir = test_dir("no_rtp");
    let mut sipp = Sipp::start(&dir, "uas_answer_no_rtp.xml", &[], Transport::Udp);
    let mut cfg = CarecallConfig::new(&sipp.trunk_uri());
    cfg.no_media_timeout_secs = 3;
    let config = cfg.write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], Duration::from_secs(60));
    let peer = sipp.wait(Duration::from_secs(15));
    let d = run.describe();
    assert_eq!(run.disposition(), "no_input", "{d}");
    assert_eq!(run.json["end_reason"], "no_media", "{d}");
    assert!(
        run.wall < Duration::from_secs(15),
        "hung up after {:?}\n{d}",
        run.wall
    );
    assert!(peer.caller_hung_up(), "{}", peer.describe());
    expect_db_row(&run);
}

#[test]
fn kill_9_mid_call_keeps_answers_and_repairs_the_recording() {
    let dir = test_dir("kill9");
    let mut sipp = survey_sipp(&dir);
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let mut peer = carecall_start(&dir, &config, TARGET, &[]);
    // The survey timeline answers consent, q1 and q2 by ~24 s; q3 is being asked at 30 s.
    let killed_after = Duration::from_secs(30);
    let started = Instant::now();
    std::thread::sleep(killed_after);
    let status = Command::new("kill")
        .args(["-9", &peer.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(peer.wait_timeout(Duration::from_secs(5)).is_some());
    drop(peer);
    // sipp (the trunk) stays up: the next start must BYE the dead dialog.

    let db = dir.join("carecall.db");
    let rows = sqlite_rows_with(&db, "in_progress");
    assert!(
        rows.iter().any(|(t, _)| t == "calls"),
        "the killed call must be in the database as in progress: {rows:?}"
    );

    // The next start (any command that opens the services) recovers.
    std::fs::create_dir_all(dir.join("second")).unwrap();
    let mut busy = Sipp::start(&dir.join("second"), "uas_busy.xml", &[], Transport::Udp);
    let second = CarecallConfig::new(&busy.trunk_uri());
    let config2 = second.write(&dir.join("second"));
    let text = std::fs::read_to_string(&config2)
        .unwrap()
        .replace(
            &format!("sqlite://{}", dir.join("second/carecall.db").display()),
            &format!("sqlite://{}", db.display()),
        )
        .replace(
            &dir.join("second/recordings").display().to_string(),
            &dir.join("recordings").display().to_string(),
        );
    std::fs::write(&config2, text).unwrap();
    let run = carecall_call(
        &dir.join("second"),
        &config2,
        TARGET,
        &[],
        Duration::from_secs(30),
    );
    drop(busy.wait(Duration::from_secs(5)));
    assert_eq!(run.disposition(), "busy", "{}", run.describe());
    // Issue 9 item 18b: the restart ended the dead call at the trunk.
    let trunk = sipp.wait(Duration::from_millis(500));
    let invite = trunk
        .messages
        .find("INVITE sip:")
        .expect("the killed call's INVITE");
    let call_id = trunk.messages[invite..]
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .expect("Call-ID")
        .trim()
        .to_string();
    let bye = trunk
        .messages
        .split("\n\n")
        .any(|m| m.trim_start().starts_with("BYE sip:") && m.contains(&call_id));
    assert!(
        bye,
        "no BYE for the dead dialog {call_id} reached the trunk:\n{}",
        tail(&trunk.messages, 40)
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt
        .block_on(Store::connect(&format!("sqlite://{}", db.display())))
        .unwrap();
    let calls = rt.block_on(store.recent_calls(10)).unwrap();
    let killed = calls
        .iter()
        .find(|c| c.call.disposition == "interrupted")
        .unwrap_or_else(|| panic!("no interrupted call: {calls:#?}"));
    let keys: Vec<&str> = killed.answers.iter().map(|a| a.key.as_str()).collect();
    for key in ["consent", "q1", "q2"] {
        assert!(keys.contains(&key), "answer {key} lost: {keys:?}");
    }
    // The recording was being written when the process died: the next start
    // repaired its header, so it reads as a WAV about as long as the call ran.
    let wav = find_wavs(&dir.join("recordings"))
        .into_iter()
        .find(|p| !p.file_name().unwrap().to_string_lossy().contains(".q"))
        .expect("the killed call's recording");
    let st = wav_stats(&wav);
    let ran = killed_after.min(started.elapsed()).as_secs_f64();
    assert!(
        (st.seconds - ran).abs() < 4.0,
        "recording {:.1} s, call ran ~{ran:.1} s ({})",
        st.seconds,
        wav.display()
    );
    // Before 30 s the peer sent only silence and key events; the prompts are on the right.
    assert_eq!(st.channels, 2);
    assert!(st.rms[1] > 100.0, "prompts missing: {:?}", st.rms);
    // Issue 9 item 18a: the repaired file is linked to the interrupted call, so the
    // review page (which reads `recording_of_call`) plays it.
    let linked = rt
        .block_on(store.recording_of_call(&killed.call.id))
        .unwrap()
        .unwrap_or_else(|| panic!("the interrupted call has no recording linked"));
    assert_eq!(std::path::Path::new(&linked.path), wav.as_path());
    assert_eq!(linked.sha256.to_ascii_lowercase(), sha256_hex(&wav));
    assert!(
        (linked.seconds - st.seconds).abs() < 0.1,
        "linked {} s, file {} s",
        linked.seconds,
        st.seconds
    );
}

fn find_wavs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(find_wavs(&p));
        } else if p.extension().is_some_and(|e| e == "wav") {
            out.push(p);
        }
    }
    out
}

#[test]
fn survey_is_stored_in_postgresql() {
    let Some(pg) = common::pg::PgServer::start() else {
        return; // CARECALL_SKIP_PG=1: skipped loudly by the helper
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(pg.fresh_database());
    let dir = test_dir("postgres_survey");
    let mut sipp = survey_sipp(&dir);
    let mut cfg = CarecallConfig::new(&sipp.trunk_uri());
    cfg.database_url = Some(url.clone());
    let config = cfg.write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], Duration::from_secs(150));
    drop(sipp.wait(Duration::from_secs(15)));
    let d = run.describe();
    assert_eq!(run.disposition(), "completed", "{d}");

    let store = rt.block_on(Store::connect(&url)).unwrap();
    let calls = rt.block_on(store.recent_calls(5)).unwrap();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let call = &calls[0];
    assert_eq!(call.call.disposition, "completed");
    assert_eq!(
        call.call.sip_call_id.as_deref(),
        run.json["call_id"].as_str()
    );
    let got: Vec<(&str, Option<&str>)> = call
        .answers
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_deref()))
        .collect();
    for (key, value) in [("consent", "1"), ("q1", "1"), ("q2", "1"), ("q4", "10")] {
        assert!(
            got.contains(&(key, Some(value))),
            "{key}={value} missing: {got:?}"
        );
    }
    let rec = call.recording.as_ref().expect("recording row");
    assert_eq!(
        Some(rec.sha256.as_str()),
        run.json["recording"]["sha256"].as_str()
    );
}

/// RFC 3960: media before the answer (a 183 with SDP: a network announcement or
/// ringback) is recorded but is not the answer: the IVR starts only at 200 OK.
/// sipp plays 4 s of early speech, answers, and hangs up 2 s later.
#[test]
fn early_media_is_recorded_before_the_answer() {
    let dir = test_dir("early_media");
    let pcap = fixtures().join("announcement.pcap");
    let mut sipp = Sipp::start(
        &dir,
        "uas_early_media.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    );
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], Duration::from_secs(60));
    let peer = sipp.wait(Duration::from_secs(15));
    let d = run.describe();
    assert!(peer.passed(), "{}", peer.describe());
    assert_eq!(run.disposition(), "no_input", "{d}");
    assert_eq!(run.json["end_reason"], "peer_hangup", "{d}");
    let rec = run.resolve(run.json["recording"]["path"].as_str().unwrap_or_default());
    let st = wav_stats(&rec);
    // ~4 s of early media + ~2 s answered: the recording starts at the 183.
    assert!(
        (5.0..8.0).contains(&st.seconds),
        "recording {:.1} s should cover early media\n{d}",
        st.seconds
    );
    assert!(
        st.rms[0] > 100.0,
        "announcement missing on the left: {:?}",
        st.rms
    );
}

/// Unmounts the test's tiny tmpfs when the test ends, even on panic.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 9 item 18c: the recordings' disk fills up early in the call (a 256 KiB
/// tmpfs holds ~8 s of stereo audio). The survey must go on and complete with every
/// keyed answer kept, end `completed` (final: the citizen is not dialled again) with a
/// `recording_failed` reason, and raise the `recording_failed` alarm.
#[test]
fn full_recording_disk_keeps_the_survey_and_raises_an_alarm() {
    let dir = test_dir("disk_full");
    let mut sipp = survey_sipp(&dir);
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let recordings = dir.join("recordings");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&recordings)
        .status()
        .expect("run mount (the tests run as root)");
    assert!(
        status.success(),
        "mount a tmpfs on {}",
        recordings.display()
    );
    let _mounted = Mounted(recordings.clone());
    let run = carecall_call(&dir, &config, TARGET, &[], Duration::from_secs(150));
    let peer = sipp.wait(Duration::from_secs(15));
    let d = run.describe();

    assert_eq!(run.disposition(), "completed", "{d}");
    let reason = run.json["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("recording_failed: "),
        "reason {reason:?}\n{d}"
    );
    assert!(
        reason.contains("No space left"),
        "the reason says why: {reason:?}\n{d}"
    );
    for (key, want) in [("consent", "1"), ("q1", "1"), ("q2", "1"), ("q4", "10")] {
        assert_eq!(run.answer(key), want, "answer {key}\n{d}");
    }
    assert!(peer.caller_hung_up(), "{}", peer.describe());
    let store = open_store(&dir);
    let rt = rt();
    let alarms = rt.block_on(store.open_alarms()).unwrap();
    assert!(
        alarms.iter().any(|a| a.kind == "recording_failed"),
        "no recording_failed alarm: {alarms:?}\n{d}"
    );
    let calls = rt.block_on(store.recent_calls(5)).unwrap();
    let call = &calls[0];
    assert_eq!(call.call.disposition, "completed", "{d}");
    let keys: Vec<&str> = call.answers.iter().map(|a| a.key.as_str()).collect();
    for key in ["consent", "q1", "q2", "q3", "q4", "q5"] {
        assert!(
            keys.contains(&key),
            "answer {key} not stored: {keys:?}\n{d}"
        );
    }
}
