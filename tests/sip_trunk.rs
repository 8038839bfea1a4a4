//! `carecall call` against sipp playing the carrier trunk (tests/peers/sipp/*.xml).
//!
//! Each test starts its own sipp on fresh loopback ports, writes its own config (temp
//! SQLite DB, recordings dir) and runs the real binary. The answering scenarios replay a
//! pcap whose RFC 4733 digits and speech follow tests/peers/survey-timeline.txt, so a
//! completed call must come back with consent=1, q1=1, q2=1, q3/q5 clips and q4=10.
//! Artifacts (sipp traces, carecall stderr, DB, recordings) stay in
//! target/tmp/peers/<test>/.

mod common;

use std::time::Duration;

use common::peers::*;

const CALL_TIMEOUT: Duration = Duration::from_secs(150);
const SHORT_TIMEOUT: Duration = Duration::from_secs(60);
const USER: &str = "carecall1022";
const PASSWORD: &str = "Tr0ng-Mat-Khau";
const TARGET: &str = "0901234567";

/// A full survey through an answering scenario; returns sipp's outcome for extra checks.
fn survey_call(
    name: &str,
    scenario: &str,
    pcap: &str,
    keys: &[(&str, &str)],
    transport: Transport,
    auth: bool,
) -> (CallRun, SippOutcome) {
    let dir = test_dir(name);
    let pcap = fixtures().join(pcap);
    let pcap = pcap.to_string_lossy();
    let mut all_keys = vec![("pcap", &*pcap)];
    all_keys.extend_from_slice(keys);
    let mut sipp = Sipp::start(&dir, scenario, &all_keys, transport);
    let mut cfg = CarecallConfig::new(&sipp.trunk_uri());
    cfg.transport = transport;
    if auth {
        cfg = cfg.with_auth(USER, PASSWORD);
    }
    let config = cfg.write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], CALL_TIMEOUT);
    let peer = sipp.wait(Duration::from_secs(15));
    (run, peer)
}

fn expect_completed_survey(run: &CallRun, peer: &SippOutcome) {
    expect_outcome(run, "completed", &[Some(200)]);
    expect_survey_answers(run);
    assert!(
        peer.passed(),
        "sipp saw a protocol problem\n{}",
        peer.describe()
    );
    assert!(
        peer.caller_hung_up(),
        "carecall must hang up itself after the thanks prompt\n{}",
        peer.describe()
    );
    let secs = peer.answered_secs().expect("sipp logged answer and BYE");
    expect_recording(run, secs, 1.5);
}

#[test]
fn proxy_auth_407_then_survey_completes() {
    let (run, peer) = survey_call(
        "proxy_auth_407",
        "uas_auth407_answer.xml",
        "survey_rfc4733.pcap",
        &[("user", USER)],
        Transport::Udp,
        true,
    );
    expect_completed_survey(&run, &peer);
    assert_eq!(peer.requests_received("INVITE"), 2, "{}", peer.describe());
    // sipp's verifyauth cannot read Proxy-Authorization: recompute the digest here.
    let (ok, report) = digest_verifies(&peer.messages_path, PASSWORD);
    assert!(ok, "Proxy-Authorization digest does not verify:\n{report}");
}

#[test]
fn www_auth_401_verified_then_survey_completes() {
    let (run, peer) = survey_call(
        "www_auth_401",
        "uas_auth401_answer.xml",
        "survey_rfc4733.pcap",
        &[("user", USER), ("pass", PASSWORD)],
        Transport::Udp,
        true,
    );
    expect_completed_survey(&run, &peer);
    assert_eq!(peer.requests_received("INVITE"), 2, "{}", peer.describe());
}

#[test]
fn tcp_trunk_survey_completes() {
    let (run, peer) = survey_call(
        "tcp_trunk",
        "uas_survey_answer.xml",
        "survey_rfc4733.pcap",
        &[],
        Transport::Tcp,
        false,
    );
    expect_completed_survey(&run, &peer);
}

#[test]
fn inband_dtmf_survey_completes() {
    let (run, peer) = survey_call(
        "inband_dtmf",
        "uas_survey_answer.xml",
        "survey_inband.pcap",
        &[],
        Transport::Udp,
        false,
    );
    expect_completed_survey(&run, &peer);
}

#[test]
fn broken_responses_and_garbage_rtp_do_not_derail_the_survey() {
    let (run, peer) = survey_call(
        "broken_headers_garbage_rtp",
        "uas_broken_headers.xml",
        "survey_garbled.pcap",
        &[],
        Transport::Udp,
        false,
    );
    expect_completed_survey(&run, &peer);
}

#[test]
fn silent_callee_is_no_input() {
    let dir = test_dir("silent_callee");
    let pcap = fixtures().join("silence.pcap");
    let mut sipp = Sipp::start(
        &dir,
        "uas_survey_answer.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    );
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], CALL_TIMEOUT);
    let peer = sipp.wait(Duration::from_secs(15));
    let d = run.describe();
    let status = run
        .status
        .unwrap_or_else(|| panic!("carecall did not finish\n{d}"));
    assert!(status.code().is_some(), "carecall died by a signal\n{d}");
    assert_eq!(run.disposition(), "no_input", "{d}");
    assert_eq!(run.sip_code(), Some(200), "{d}");
    assert_eq!(run.answer("consent")["unanswered"], "no_input", "{d}");
    expect_db_row(&run);
    assert!(
        peer.passed() && peer.caller_hung_up(),
        "{}",
        peer.describe()
    );
    let rec = run.resolve(run.json["recording"]["path"].as_str().unwrap_or_default());
    let st = wav_stats(&rec);
    assert!(
        st.rms[0].max(st.rms[1]) > AUDIO_RMS,
        "prompts missing from the recording\n{d}"
    );
}

/// A call that ends before the dialplan runs: checks the outcome and that sipp saw a
/// clean transaction (ACK, CANCEL… as the scenario expects).
fn unanswered(
    name: &str,
    scenario: &str,
    keys: &[(&str, &str)],
    tune: impl FnOnce(&mut CarecallConfig),
    disposition: &str,
    sip_codes: &[Option<u64>],
) -> (CallRun, SippOutcome) {
    let dir = test_dir(name);
    let mut sipp = Sipp::start(&dir, scenario, keys, Transport::Udp);
    let mut cfg = CarecallConfig::new(&sipp.trunk_uri());
    tune(&mut cfg);
    let config = cfg.write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], SHORT_TIMEOUT);
    let peer = sipp.wait(Duration::from_secs(15));
    expect_outcome(&run, disposition, sip_codes);
    assert!(
        peer.passed(),
        "sipp: {}\n{}",
        peer.describe(),
        run.describe()
    );
    (run, peer)
}

#[test]
fn busy_486() {
    unanswered(
        "busy_486",
        "uas_busy.xml",
        &[],
        |_| {},
        "busy",
        &[Some(486)],
    );
}

/// `carecall call` beside a running `serve` (here: a socket holding the
/// configured SIP port) places its call from a free port instead of failing.
#[test]
fn a_call_beside_a_running_serve_takes_a_free_sip_port() {
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let dir = test_dir("busy_port_taken");
    let mut sipp = Sipp::start(&dir, "uas_busy.xml", &[], Transport::Udp);
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "bind = \"127.0.0.1:0\"",
        &format!("bind = \"{taken}\""),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let run = carecall_call(&dir, &config, TARGET, &[], SHORT_TIMEOUT);
    let peer = sipp.wait(Duration::from_secs(15));
    expect_outcome(&run, "busy", &[Some(486)]);
    assert!(peer.passed(), "sipp: {}", peer.describe());
    assert!(
        run.stderr.contains(&format!("SIP port {taken} is in use")),
        "{}",
        run.describe()
    );
    drop(holder);
}

#[test]
fn declined_603_is_rejected() {
    unanswered(
        "reject_603",
        "uas_reject603.xml",
        &[],
        |_| {},
        "rejected",
        &[Some(603)],
    );
}

#[test]
fn no_common_codec_488_fails() {
    unanswered(
        "codec_488",
        "uas_488.xml",
        &[],
        |_| {},
        "failed",
        &[Some(488)],
    );
}

#[test]
fn ring_timeout_cancels() {
    let (run, peer) = unanswered(
        "ring_timeout",
        "uas_noanswer.xml",
        &[],
        |c| c.ring_timeout_secs = 4,
        "no_answer",
        &[Some(487)],
    );
    assert_eq!(peer.requests_received("CANCEL"), 1, "{}", peer.describe());
    let wall = run.wall.as_secs_f64();
    assert!(
        (4.0..15.0).contains(&wall),
        "ring timeout of 4 s took {wall:.1} s\n{}",
        run.describe()
    );
}

#[test]
fn wrong_password_407_gives_up() {
    let (_run, peer) = unanswered(
        "wrong_password_407",
        "uas_auth407_wrong.xml",
        &[("user", USER)],
        |c| *c = c.clone().with_auth(USER, "not-the-password"),
        "failed",
        &[Some(407), Some(401), Some(403)],
    );
    assert_eq!(
        peer.requests_received("INVITE"),
        2,
        "one retry only\n{}",
        peer.describe()
    );
}

#[test]
fn wrong_password_401_gives_up() {
    let (_run, peer) = unanswered(
        "wrong_password_401",
        "uas_auth401_wrong.xml",
        &[("user", USER), ("pass", PASSWORD)],
        |c| *c = c.clone().with_auth(USER, "not-the-password"),
        "failed",
        &[Some(401), Some(407), Some(403)],
    );
    assert_eq!(
        peer.requests_received("INVITE"),
        2,
        "one retry only\n{}",
        peer.describe()
    );
}

#[test]
fn garbage_sdp_in_200_ok_fails_cleanly() {
    let dir = test_dir("garbage_sdp");
    let mut sipp = Sipp::start(&dir, "uas_garbage_sdp.xml", &[], Transport::Udp);
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], SHORT_TIMEOUT);
    let peer = sipp.wait(Duration::from_secs(40));
    expect_outcome(&run, "failed", &[Some(200), None]);
    // RFC 3261 §13.2.2.4: ACK the 2xx, then BYE the dialog it cannot use.
    assert_eq!(peer.requests_received("ACK"), 1, "{}", peer.describe());
    assert!(
        peer.caller_hung_up(),
        "carecall must BYE the unusable dialog\n{}",
        peer.describe()
    );
    assert!(peer.passed(), "{}", peer.describe());
}

/// In-dialog requests from the trunk: OPTIONS answered, a hold re-INVITE answered
/// recvonly and a resume answered sendrecv (checked by sipp), and a SIP INFO digit
/// (application/dtmf-relay) taken as the consent answer: 2 declines the survey,
/// carecall plays the goodbye and hangs up.
#[test]
fn in_dialog_options_hold_resume_and_info_dtmf() {
    let dir = test_dir("in_dialog");
    let pcap = fixtures().join("silence.pcap");
    let mut sipp = Sipp::start(
        &dir,
        "uas_indialog.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    );
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let run = carecall_call(&dir, &config, TARGET, &[], CALL_TIMEOUT);
    let peer = sipp.wait(Duration::from_secs(15));
    let d = run.describe();
    assert_eq!(run.disposition(), "declined", "{d}");
    assert_eq!(run.answer("consent"), "2", "{d}");
    assert_eq!(run.status.and_then(|s| s.code()), Some(0), "{d}");
    expect_db_row(&run);
    assert!(peer.passed(), "{}", peer.describe());
    assert!(peer.caller_hung_up(), "{}", peer.describe());
    for mark in ["HOLD_ANSWERED", "RESUME_ANSWERED"] {
        assert!(
            peer.log.contains(mark),
            "{mark} missing\n{}",
            peer.describe()
        );
    }
}
