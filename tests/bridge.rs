//! A citizen's call handed to a live operator, against real peers on loopback.
//!
//! `carecall call` (registrar on, on a fixed SIP port) dials a citizen played by sipp
//! (tests/peers/sipp/uas_bridge.xml, A-law only) whose pcap speaks during the greeting,
//! presses RFC 4733 "0" (operator) and then speaks on. The operator is baresip,
//! registered with carecall's registrar as `op7` (µ-law only), auto-answering with a
//! 440 Hz tone as its microphone, so the recording's right channel tells the prompts
//! (speech) from the operator (the tone). Artifacts stay in target/tmp/peers/<test>/.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use carecall::store::{CallId, OperatorState, RegistrationRecord};
use common::peers::*;

const TARGET: &str = "0901234567";
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

fn op_state(dir: &Path) -> Option<OperatorState> {
    let s = open_store(dir);
    let ops = rt().block_on(s.operators()).ok()?;
    ops.into_iter()
        .find(|o| o.sip_user == "op7")
        .map(|o| o.state)
}

/// A config with the registrar on a fixed SIP port and a short `[bridge]` wait.
fn write_config(dir: &Path, trunk: &str, sip_port: u16) -> PathBuf {
    let path = CarecallConfig::new(trunk).write(dir);
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "bind = \"127.0.0.1:0\"",
        &format!("bind = \"127.0.0.1:{sip_port}\""),
        1,
    );
    let text = format!(
        "{text}\n[registrar]\nenabled = true\nmin_expires_secs = 1\n\n\
         [bridge]\nring_timeout_secs = 10\nwait_secs = 5\nwrap_up_secs = 30\nretry_ms = 500\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `carecall operator add op7`, then `available` (a supervisor's or the
/// operator's own action; the test sets it in the database).
fn add_available_operator(dir: &Path, config: &Path) {
    let mut cmd = Command::new(carecall_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARECALL_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(["operator", "add", "op7.login", "--sip-user", "op7"])
        .args(["--name", "Trần Thị Lan", "--unit", "DT"])
        .env("CARECALL_OPERATOR_PASSWORD", "baresip-pw")
        .output()
        .expect("run carecall operator add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = open_store(dir);
    let r = rt();
    let op = r
        .block_on(s.operators())
        .unwrap()
        .into_iter()
        .find(|o| o.sip_user == "op7")
        .unwrap();
    r.block_on(s.set_operator_state(&op.id, OperatorState::Available, chrono::Utc::now()))
        .unwrap();
}

/// baresip registering as op7 with carecall, auto-answering, `mic` as its voice.
struct Operator(OperatorPhone);

impl Operator {
    fn start(dir: &Path, carecall_port: u16, mic: &Path) -> Operator {
        Operator(OperatorPhone::start(
            dir,
            carecall_port,
            mic,
            &[
                "--exit-on-close",
                "wait:CALL_ESTABLISHED:90",
                "wait:CALL_CLOSED:150",
            ],
        ))
    }

    /// Waits until carecall has the phone's binding.
    fn wait_registered(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let s = open_store(&self.0.dir);
            let r = rt();
            let ops = r.block_on(s.operators()).unwrap();
            let op = ops.iter().find(|o| o.sip_user == "op7").unwrap();
            if !r
                .block_on(s.contacts_of(&op.id, chrono::Utc::now()))
                .unwrap()
                .is_empty()
            {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "baresip did not register: {}",
            tail(&read_lossy(&self.0.dir.join("baresip.stdout")), 20)
        );
    }

    /// The ctrl log (CALL_ESTABLISHED / CALL_CLOSED lines), after baresip stops.
    fn finish(self) -> String {
        self.0.finish(Duration::from_secs(20))
    }
}

fn loud(w: &[(f64, f64)]) -> usize {
    w.iter().filter(|(rms, _)| *rms > 300.0).count()
}

struct Bridged {
    run: CallRun,
    sipp: SippOutcome,
    ctrl_log: String,
    states: Vec<OperatorState>,
}

/// One call: sipp citizen with `pcap`, baresip operator with `mic` (none: no
/// operator registered).
fn bridged_call(name: &str, pcap: &str, mic: Option<&str>) -> Bridged {
    bridged_call_with(name, pcap, mic, |_, _| {})
}

/// As [`bridged_call`], with `prepare(dir, sipp)` run on the database before dialling.
fn bridged_call_with(
    name: &str,
    pcap: &str,
    mic: Option<&str>,
    prepare: impl FnOnce(&Path, &Sipp),
) -> Bridged {
    let dir = test_dir(name);
    let pcap = fixtures().join(pcap);
    let mut sipp = Sipp::start(
        &dir,
        "uas_bridge.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    );
    let sip_port = free_udp_port();
    let config = write_config(&dir, &sipp.trunk_uri(), sip_port);
    add_available_operator(&dir, &config);
    prepare(&dir, &sipp);
    let started = Instant::now();
    let mut carecall = carecall_start(&dir, &config, TARGET, &[]);
    assert!(
        wait_listening(sip_port, true, Duration::from_secs(10)),
        "carecall did not listen"
    );
    let operator = mic.map(|m| {
        let op = Operator::start(&dir, sip_port, &fixtures().join(m));
        op.wait_registered();
        op
    });
    // The operator's state as the call goes, until carecall exits.
    let mut states = vec![];
    let status = loop {
        if let Some(s) = op_state(&dir)
            && states.last() != Some(&s)
        {
            states.push(s);
        }
        if let Some(st) = carecall.wait_timeout(Duration::from_millis(300)) {
            break Some(st);
        }
        if started.elapsed() > CALL_TIMEOUT {
            break None;
        }
    };
    if let Some(s) = op_state(&dir)
        && states.last() != Some(&s)
    {
        states.push(s);
    }
    drop(carecall);
    let stdout = read_lossy(&dir.join("carecall.stdout"));
    let json = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or(serde_json::Value::Null);
    let run = CallRun {
        status,
        json,
        stdout,
        stderr: read_lossy(&dir.join("carecall.stderr")),
        wall: started.elapsed(),
        dir: dir.clone(),
    };
    let sipp = sipp.wait(Duration::from_secs(60));
    let ctrl_log = operator.map(Operator::finish).unwrap_or_default();
    Bridged {
        run,
        sipp,
        ctrl_log,
        states,
    }
}

fn recording(run: &CallRun) -> PathBuf {
    let d = run.describe();
    let rec = run.json["recording"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no recording\n{d}"));
    run.resolve(rec)
}

/// The first 0.5 s window from which the right channel is the operator's tone.
fn hand_over(right: &[(f64, f64)]) -> Option<usize> {
    (0..right.len().saturating_sub(4)).find(|&i| {
        right[i..i + 4]
            .iter()
            .all(|(rms, share)| *rms > 300.0 && *share > 0.8)
    })
}

/// What every bridged call shows: the recording's two phases and the call row.
fn expect_bridged(b: &Bridged) {
    let d = format!("{}\n--- sipp:\n{}", b.run.describe(), b.sipp.describe());
    assert_eq!(b.run.disposition(), "completed", "{d}");
    let path = recording(&b.run);
    let left = tone_windows(&path, 0);
    let right = tone_windows(&path, 1);
    let h = hand_over(&right).unwrap_or_else(|| {
        panic!("the operator's tone never reaches the recording: {right:?}\n{d}")
    });
    let secs = h as f64 / 2.0;
    assert!((14.0..32.0).contains(&secs), "hand-over at {secs} s\n{d}");
    // Before: the IVR's prompts (speech, not the tone) and the citizen's speech (1-6.5 s).
    let before = &right[2..(h - 2).min(right.len())];
    assert!(
        loud(before) >= 10,
        "no prompts before the hand-over: {before:?}\n{d}"
    );
    assert!(
        before.iter().all(|(_, share)| *share < 0.5),
        "the tone before the hand-over: {before:?}\n{d}"
    );
    assert!(
        loud(&left[2..13]) >= 6,
        "citizen silent before: {:?}\n{d}",
        &left[..14]
    );
    // After: the operator (the tone) on the right, the citizen (22-33.5 s) on the left,
    // in the same file with no gap (the file is as long as the call).
    let after_end = (h + 16).min(right.len());
    assert!(
        right[h..after_end].iter().filter(|(_, s)| *s > 0.8).count() >= 8,
        "the operator is not on the right after the hand-over\n{d}"
    );
    assert!(
        loud(&left[h.max(44)..left.len().min(66)]) >= 6,
        "citizen silent after the hand-over: {:?}\n{d}",
        &left[h..]
    );
    // The call row names the operator.
    let s = open_store(&b.run.dir);
    let r = rt();
    let row = CallId(b.run.json["db_id"].as_str().expect("db_id").to_string());
    let op = r.block_on(s.call_operator(&row)).unwrap();
    let op7 = r
        .block_on(s.operators())
        .unwrap()
        .into_iter()
        .find(|o| o.sip_user == "op7")
        .unwrap();
    assert_eq!(op, Some(op7.id), "{d}");
    assert!(
        b.states.contains(&OperatorState::OnCall)
            && b.states.last() == Some(&OperatorState::WrapUp),
        "operator states {:?}\n{d}",
        b.states
    );
    // PCMA to the citizen, PCMU to the operator.
    let log = &b.run.stderr;
    assert!(
        log.lines()
            .any(|l| l.contains("media negotiated") && l.contains("PCMA")),
        "{d}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("the operator answered") && l.contains("PCMU")),
        "{d}"
    );
}

#[test]
fn operator_hangs_up_first_and_the_citizen_gets_bye() {
    let b = bridged_call(
        "bridge_operator_hangs_up",
        "bridge_citizen.pcap",
        Some("operator_short.wav"),
    );
    expect_bridged(&b);
    let d = b.run.describe();
    assert_eq!(b.run.json["end_reason"], "operator_hangup", "{d}");
    assert!(
        b.sipp.log.contains("PEER_BYE"),
        "the citizen got no BYE\n{}",
        b.sipp.describe()
    );
    assert!(b.ctrl_log.contains("CALL_CLOSED"), "{}", b.ctrl_log);
}

#[test]
fn citizen_hangs_up_first_and_the_operator_gets_bye() {
    let b = bridged_call(
        "bridge_citizen_hangs_up",
        "bridge_citizen.pcap",
        Some("operator_long.wav"),
    );
    expect_bridged(&b);
    let d = b.run.describe();
    assert_eq!(b.run.json["end_reason"], "citizen_hangup", "{d}");
    assert!(
        b.sipp.log.contains("PEER_SENT_BYE"),
        "{}",
        b.sipp.describe()
    );
    // The operator's 90 s microphone did not run out: the call closed on our BYE.
    assert!(
        b.ctrl_log.contains("CALL_CLOSED"),
        "the operator's phone was not hung up: {}",
        b.ctrl_log
    );
    assert!(b.run.wall < Duration::from_secs(80), "{d}");
}

#[test]
fn no_operator_plays_hold_then_stores_the_callback_choice() {
    let b = bridged_call("bridge_no_operator", "bridge_callback.pcap", None);
    let d = format!("{}\n--- sipp:\n{}", b.run.describe(), b.sipp.describe());
    assert_eq!(b.run.answer("consent"), "0", "{d}");
    assert_eq!(b.run.answer("callback"), "1", "{d}");
    assert_eq!(b.run.json["end_reason"], "no_operator", "{d}");
    assert!(
        b.sipp.log.contains("PEER_BYE"),
        "carecall hangs up after the goodbye\n{d}"
    );
    assert!(
        b.run.stderr.contains("operator_hold"),
        "the hold prompt was not played\n{d}"
    );
    assert_eq!(b.states, [OperatorState::Available], "never rung: {d}");
}

/// Toll fraud (issue 9): a binding of op7 aimed at the trunk itself (as if the
/// registrar had let it in) would make carecall INVITE any number through its own
/// IP-authenticated trunk. It is put straight into the database; the dialing side
/// must refuse it: the trunk sees the citizen's INVITE only, and the citizen is
/// told no operator is free.
#[test]
fn operator_binding_aimed_at_the_trunk_is_never_dialled() {
    let b = bridged_call_with(
        "bridge_binding_at_trunk",
        "bridge_callback.pcap",
        None,
        |dir, sipp| {
            let s = open_store(dir);
            let r = rt();
            let op = r
                .block_on(s.operators())
                .unwrap()
                .into_iter()
                .find(|o| o.sip_user == "op7")
                .unwrap();
            let trunk = format!("127.0.0.1:{}", sipp.port);
            r.block_on(s.upsert_registration(&RegistrationRecord {
                operator_id: op.id.clone(),
                contact: format!("sip:0987654321@{trunk}"),
                source: trunk,
                transport: "udp".into(),
                user_agent: Some("fraud".into()),
                call_id: "fraud@attacker".into(),
                cseq: 1,
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
            }))
            .unwrap();
        },
    );
    let d = format!("{}\n--- sipp:\n{}", b.run.describe(), b.sipp.describe());
    assert_eq!(
        b.sipp.requests_received("INVITE"),
        1,
        "only the citizen's INVITE reaches the trunk\n{d}"
    );
    assert!(!b.sipp.messages.contains("0987654321"), "{d}");
    assert_eq!(b.run.json["end_reason"], "no_operator", "{d}");
    assert_eq!(b.run.answer("callback"), "1", "{d}");
    assert!(
        b.run.stderr.contains("binding points at the trunk"),
        "the refusal is logged\n{d}"
    );
}
