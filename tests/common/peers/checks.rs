//! Assertions shared by the trunk and phone tests.

use serde_json::Value;

use super::{CallRun, WavStats, sha256_hex, sqlite_rows_with, value_text, wav_stats};

// ---------------------------------------------------------------------------------------
// Assertions shared by the trunk and phone tests

/// RMS (16-bit units) a channel must exceed to count as "carries audio": G.711 silence
/// decodes to 0 (µ-law 0xFF) or ±8 (A-law 0xD5); speech and prompts sit in the thousands.
pub const AUDIO_RMS: f64 = 40.0;
/// Loudest 20 ms window a channel must reach (speech peaks, not just noise).
pub const AUDIO_PEAK_RMS: f64 = 300.0;

/// The outcome every finished call must report, also when it failed: a parsable JSON
/// object with this disposition and SIP code, a clean exit (no signal, so no crash) whose
/// code matches the contract, a one-line reason on stderr when non-zero, and a DB row.
pub fn expect_outcome(run: &CallRun, disposition: &str, sip_codes: &[Option<u64>]) {
    let d = run.describe();
    let status = run
        .status
        .unwrap_or_else(|| panic!("carecall did not finish\n{d}"));
    assert!(
        status.code().is_some(),
        "carecall died by a signal: {status}\n{d}"
    );
    assert!(run.json.is_object(), "no JSON object on stdout\n{d}");
    assert_eq!(run.disposition(), disposition, "disposition\n{d}");
    assert!(
        sip_codes.contains(&run.sip_code()),
        "sip_code {:?}, expected one of {sip_codes:?}\n{d}",
        run.json["sip_code"]
    );
    if disposition == "completed" {
        assert!(status.success(), "completed call must exit 0\n{d}");
    } else {
        assert!(!status.success(), "{disposition} must exit non-zero\n{d}");
        assert!(
            run.stderr.lines().any(|l| !l.trim().is_empty()),
            "a failed call must say why on stderr\n{d}"
        );
    }
    expect_db_row(run);
}

/// The call is in the database under the `call_id` it printed, with its disposition.
pub fn expect_db_row(run: &CallRun) {
    let d = run.describe();
    let call_id = value_text(&run.json["call_id"]);
    assert!(!call_id.is_empty(), "no call_id in the JSON\n{d}");
    let rows = sqlite_rows_with(&run.db_path(), &call_id);
    assert!(!rows.is_empty(), "no DB row holds call_id {call_id}\n{d}");
    let disp = run.disposition();
    assert!(
        rows.iter()
            .any(|(_, r)| r.values().any(|v| value_text(v) == disp)),
        "no DB row for {call_id} records disposition {disp}: {rows:?}\n{d}"
    );
}

/// The survey timeline's answers (tests/peers/survey-timeline.txt): keys 1, 1, 1, speech,
/// "1","0","#" and speech.
pub fn expect_survey_answers(run: &CallRun) {
    let d = run.describe();
    for (key, want) in [("consent", "1"), ("q1", "1"), ("q2", "1"), ("q4", "10")] {
        assert_eq!(run.answer(key), &Value::from(want), "answer {key}\n{d}");
    }
    for key in ["q3", "q5"] {
        let a = run.answer(key);
        let secs = a["seconds"].as_f64().unwrap_or(0.0);
        assert!(secs > 0.5, "{key}: spoken answer of {secs} s: {a}\n{d}");
        let clip = run.resolve(
            a["clip"]
                .as_str()
                .unwrap_or_else(|| panic!("{key}: no clip: {a}\n{d}")),
        );
        let st = wav_stats(&clip);
        assert!(
            st.seconds > 0.5,
            "{key}: clip {} lasts {} s\n{d}",
            clip.display(),
            st.seconds
        );
        assert!(
            st.peak_window_rms.iter().any(|&p| p > AUDIO_PEAK_RMS),
            "{key}: clip {} holds no speech (peak RMS {:?})\n{d}",
            clip.display(),
            st.peak_window_rms
        );
    }
}

/// The stereo recording: exists, matches its sha256 and `seconds`, both channels carry
/// audio (IVR prompts on one, the callee on the other), and it lasts as long as the call
/// the peer saw, ±`tolerance` s.
pub fn expect_recording(run: &CallRun, peer_secs: f64, tolerance: f64) -> WavStats {
    let d = run.describe();
    let rec = &run.json["recording"];
    let path = run.resolve(
        rec["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no recording.path: {rec}\n{d}")),
    );
    assert!(path.exists(), "recording {} missing\n{d}", path.display());
    assert_eq!(
        rec["sha256"].as_str().map(str::to_ascii_lowercase),
        Some(sha256_hex(&path)),
        "recording sha256\n{d}"
    );
    let st = wav_stats(&path);
    assert_eq!(st.channels, 2, "recording must be stereo\n{d}");
    let json_secs = rec["seconds"].as_f64().unwrap_or(-1.0);
    assert!(
        (json_secs - st.seconds).abs() < 0.25,
        "recording.seconds {json_secs} vs file {}\n{d}",
        st.seconds
    );
    for c in 0..2 {
        assert!(
            st.rms[c] > AUDIO_RMS && st.peak_window_rms[c] > AUDIO_PEAK_RMS,
            "channel {c} of {} is (nearly) silent: rms {:?} peak {:?}\n{d}",
            path.display(),
            st.rms,
            st.peak_window_rms
        );
    }
    assert!(
        (st.seconds - peer_secs).abs() <= tolerance,
        "recording lasts {:.2} s, the peer saw a {peer_secs:.2} s call\n{d}",
        st.seconds
    );
    st
}
