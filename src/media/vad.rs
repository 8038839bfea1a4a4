//! Energy voice-activity detector for 20 ms frames of 8 kHz audio.
//!
//! Used to tell whether a citizen is speaking (spoken answers, barge-in, end of answer).
//! Deliberately simple: frame energy in dB against an adaptive noise floor, plus a
//! hangover so the short gaps between Vietnamese syllables and words do not split an
//! utterance. Line noise differs wildly between mobile and fixed callers, hence the
//! adaptive floor rather than a fixed threshold.

/// Frames to keep reporting voice after the last voiced frame: 10 × 20 ms = 200 ms.
const HANGOVER_FRAMES: u32 = 10;
/// Voice must be this far above the noise floor (dB).
const MARGIN_DB: f32 = 9.0;
/// Below this level (dB of mean square, 16-bit scale) nothing is voice: about −60 dBFS.
const ABSOLUTE_MIN_DB: f32 = 30.0;
/// The floor follows a quieter frame quickly...
const FLOOR_DOWN: f32 = 0.3;
/// ...and rises slowly: faster in pauses, very slowly during speech, so a long answer
/// does not teach the floor that speech is noise while a real change in line noise is
/// still learnt within a few seconds.
const FLOOR_UP_SILENT: f32 = 0.02;
const FLOOR_UP_VOICED: f32 = 0.002;

/// Streaming voice-activity detector.
#[derive(Clone, Debug, Default)]
pub struct Vad {
    floor_db: Option<f32>,
    hangover: u32,
}

impl Vad {
    /// A detector that learns the noise floor from the first frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Classify one frame (normally 160 samples); `true` while speech is present,
    /// including the hangover after it.
    pub fn process(&mut self, frame: &[i16]) -> bool {
        if frame.is_empty() {
            return self.hangover > 0;
        }
        let level = level_db(frame);
        let floor = *self.floor_db.get_or_insert(level);
        let voiced = level >= ABSOLUTE_MIN_DB && level >= floor + MARGIN_DB;
        let rate = if level < floor {
            FLOOR_DOWN
        } else if voiced {
            FLOOR_UP_VOICED
        } else {
            FLOOR_UP_SILENT
        };
        self.floor_db = Some(floor + rate * (level - floor));
        if voiced {
            self.hangover = HANGOVER_FRAMES;
            true
        } else if self.hangover > 0 {
            self.hangover -= 1;
            true
        } else {
            false
        }
    }

    /// Current noise-floor estimate in dB (mean square, 16-bit scale), for diagnostics.
    pub fn noise_floor_db(&self) -> Option<f32> {
        self.floor_db
    }
}

/// Mean-square energy of a frame in dB; digital silence is 0 dB.
fn level_db(frame: &[i16]) -> f32 {
    let sum: f64 = frame.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (10.0 * (1.0 + sum / frame.len() as f64).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, amp: i32, seed: u32) -> Vec<i16> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 16) as i32 % (2 * amp) - amp) as i16
            })
            .collect()
    }

    fn run(vad: &mut Vad, audio: &[i16]) -> Vec<bool> {
        audio.chunks(160).map(|f| vad.process(f)).collect()
    }

    #[test]
    fn silence_is_not_voice() {
        let mut v = Vad::new();
        assert!(run(&mut v, &[0; 8000]).iter().all(|&b| !b));
        // Very quiet hiss after digital silence is still below the absolute minimum.
        assert!(run(&mut v, &noise(8000, 20, 3)).iter().all(|&b| !b));
    }

    #[test]
    fn steady_noise_is_learnt_as_floor() {
        let mut v = Vad::new();
        let out = run(&mut v, &noise(8000 * 5, 3000, 1));
        assert!(
            out.iter().all(|&b| !b),
            "steady line noise must not count as speech"
        );
        // A noise floor that jumps 12 dB is learnt within a few seconds.
        let out = run(&mut v, &noise(8000 * 8, 12000, 2));
        assert!(out[out.len() - 50..].iter().all(|&b| !b));
    }

    #[test]
    fn burst_over_noise_then_hangover() {
        let mut v = Vad::new();
        let mut audio = noise(8000, 300, 5);
        // 300 ms of a loud 300 Hz "vowel" then 1 s of the same noise.
        audio.extend((0..2400).map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * 300.0 * i as f64 / 8000.0).sin()) as i16
        }));
        audio.extend(noise(8000, 300, 6));
        let out = run(&mut v, &audio);
        assert!(out[..50].iter().all(|&b| !b));
        assert!(out[50..65].iter().all(|&b| b), "the burst is voice");
        assert!(
            out[65..65 + HANGOVER_FRAMES as usize].iter().all(|&b| b),
            "hangover"
        );
        assert!(out[65 + HANGOVER_FRAMES as usize..].iter().all(|&b| !b));
    }

    #[test]
    fn speech_fixture_is_mostly_voice_with_pauses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_vi.wav");
        let audio: Vec<i16> = hound::WavReader::open(path)
            .expect("speech fixture")
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        // Lead-in of line noise, the sentence over the same noise, then noise again.
        let mut input = noise(8000, 200, 9);
        let speech_start = input.len() / 160;
        input.extend(
            audio
                .iter()
                .zip(noise(audio.len(), 200, 10))
                .map(|(a, n)| a.saturating_add(n)),
        );
        let speech_end = input.len() / 160;
        input.extend(noise(8000 * 2, 200, 11));
        let out = run(&mut Vad::new(), &input);
        let voiced = out[speech_start..speech_end].iter().filter(|&&b| b).count();
        let share = voiced as f64 / (speech_end - speech_start) as f64;
        assert!(share > 0.6, "speech voiced share {share:.2}");
        assert!(out[..speech_start].iter().all(|&b| !b));
        assert!(
            out[speech_end + 20..].iter().all(|&b| !b),
            "silent after the hangover"
        );
    }
}
