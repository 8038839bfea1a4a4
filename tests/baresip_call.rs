//! `carecall call` dialling a real SIP phone: baresip 1.0, auto-answering, its microphone a
//! 90 s WAV with Vietnamese speech at the survey's spoken questions. Keys come either as
//! RFC 4733 events (ctrl_tcp `/sndcode` at the timeline's times) or as in-band tones in the
//! microphone WAV (tests/peers/survey-timeline.txt). No trunk: carecall sends the INVITE
//! straight to baresip's address, without auth.

mod common;

use std::time::Duration;

use common::peers::*;

fn phone_survey(name: &str, dtmf: PhoneDtmf) {
    let dir = test_dir(name);
    let mut phone = Baresip::start(&dir, dtmf);
    let config = CarecallConfig::new(&format!("sip:127.0.0.1:{}", phone.sip_port)).write(&dir);
    let run = carecall_call(&dir, &config, &phone.uri(), &[], Duration::from_secs(150));
    let seen = phone.finish(Duration::from_secs(20));
    let peer = format!("--- phone ctrl log:\n{}", tail(&seen.ctrl_log, 30));

    expect_outcome(&run, "completed", &[Some(200)]);
    expect_survey_answers(&run);
    let secs = seen
        .answered_secs()
        .unwrap_or_else(|| panic!("phone saw no established/closed call\n{peer}"));
    expect_recording(&run, secs, 1.5);

    // The phone heard the IVR: its decoded audio carries the prompts.
    assert!(
        !seen.heard.is_empty(),
        "baresip wrote no dump-*-dec.wav\n{peer}"
    );
    let heard = wav_stats(&seen.heard[0]);
    assert!(
        heard.rms[0] > AUDIO_RMS && heard.peak_window_rms[0] > AUDIO_PEAK_RMS,
        "the phone heard silence ({:?})\n{peer}",
        heard.rms
    );
}

#[test]
fn phone_rfc4733_survey_completes() {
    phone_survey("phone_rfc4733", PhoneDtmf::Rfc4733);
}

#[test]
fn phone_inband_survey_completes() {
    phone_survey("phone_inband", PhoneDtmf::InBand);
}
