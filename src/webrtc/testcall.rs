//! A test call: the citizen's side of a leg played by the server itself, to
//! check a softphone end to end. It rings the page, plays a steady tone to the
//! operator and measures what comes back (the operator's microphone).

use std::f64::consts::TAU;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::protocol::RingInfo;
use super::registry::WebPhones;
use crate::bridge::{Frame, LegCommand, LegEvent};
use crate::media::codec::{FRAME_SAMPLES, SAMPLE_RATE};
use crate::store::OperatorId;

/// Frames whose RMS is above this count as voiced (about -40 dBFS).
pub const VOICED_RMS: f64 = 330.0;

/// What to play and for how long.
#[derive(Debug, Clone, Deserialize)]
pub struct TestCallSpec {
    /// The operator's login name.
    pub operator: String,
    #[serde(default = "default_secs")]
    pub secs: u64,
    #[serde(default = "default_tone")]
    pub tone_hz: u32,
}

fn default_secs() -> u64 {
    6
}

fn default_tone() -> u32 {
    440
}

/// What the test call heard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TestCallReport {
    pub answered: bool,
    /// Why the call did not happen, or ended early.
    pub failure: Option<String>,
    /// 20 ms frames received from the operator.
    pub frames_in: u64,
    /// Of those, frames above [`VOICED_RMS`].
    pub voiced_frames: u64,
    pub max_rms: f64,
    /// Digits the operator pressed.
    pub digits: String,
}

/// A continuous sine tone, one frame at a time.
#[derive(Debug)]
pub struct Tone {
    step: f64,
    phase: f64,
    amplitude: f64,
}

impl Tone {
    pub fn new(hz: u32, amplitude: i16) -> Tone {
        Tone {
            step: TAU * f64::from(hz) / f64::from(SAMPLE_RATE),
            phase: 0.0,
            amplitude: f64::from(amplitude),
        }
    }

    pub fn next_frame(&mut self, out: &mut Frame) {
        for s in out.iter_mut() {
            *s = (self.phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
    }
}

/// Root mean square of a frame.
pub fn rms(frame: &Frame) -> f64 {
    let sum: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / FRAME_SAMPLES as f64).sqrt()
}

/// Rings `op`, and once answered plays the tone for `spec.secs` while
/// measuring the operator's audio; then hangs up.
pub async fn run(phones: &WebPhones, op: &OperatorId, spec: &TestCallSpec) -> TestCallReport {
    let mut report = TestCallReport::default();
    let info = RingInfo {
        dossier_code: Some("TEST-0000".into()),
        procedure: Some("Cuộc gọi thử".into()),
        citizen: Some("Người gọi thử".into()),
        ..RingInfo::default()
    };
    let Some(mut leg) = phones.dial(op, info).await else {
        report.failure = Some("the operator has no softphone page ready".into());
        return report;
    };
    let ring_wait = Duration::from_secs(phones.config().ring_timeout_secs + 5);
    match tokio::time::timeout(ring_wait, leg.events.recv()).await {
        Ok(Some(LegEvent::Answered)) => report.answered = true,
        Ok(Some(other)) => {
            report.failure = Some(format!("{other:?}"));
            return report;
        }
        Ok(None) | Err(_) => {
            report.failure = Some("no answer".into());
            return report;
        }
    }
    let mut tone = Tone::new(spec.tone_hz, 8000);
    let mut frame = [0i16; FRAME_SAMPLES];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..spec.secs.min(120) * 50 {
        tokio::select! {
            _ = tick.tick() => {
                tone.next_frame(&mut frame);
                leg.send_audio(&frame);
            }
            ev = leg.events.recv() => match ev {
                Some(LegEvent::Digit(d)) => report.digits.push(d),
                Some(LegEvent::Hold(_)) => {}
                other => {
                    report.failure = Some(format!("ended early: {other:?}"));
                    break;
                }
            },
        }
        while let Ok(f) = leg.from_operator.try_recv() {
            report.frames_in += 1;
            let r = rms(&f);
            report.max_rms = report.max_rms.max(r);
            if r > VOICED_RMS {
                report.voiced_frames += 1;
            }
        }
    }
    let _ = leg.commands.send(LegCommand::Hangup).await;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_is_continuous_and_loud_silence_is_not() {
        let mut t = Tone::new(440, 8000);
        let mut a = [0i16; FRAME_SAMPLES];
        let mut b = [0i16; FRAME_SAMPLES];
        t.next_frame(&mut a);
        t.next_frame(&mut b);
        // A sine of amplitude A has RMS A/√2.
        assert!(
            (rms(&a) - 8000.0 / 2f64.sqrt()).abs() < 150.0,
            "{}",
            rms(&a)
        );
        let jump = (i32::from(b[0]) - i32::from(a[FRAME_SAMPLES - 1])).abs();
        assert!(jump < 3000, "no click between frames: {jump}");
        assert!(rms(&[0; FRAME_SAMPLES]) < VOICED_RMS);
        assert!(rms(&a) > VOICED_RMS);
    }
}
