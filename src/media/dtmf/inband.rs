//! In-band DTMF detection (Goertzel) for peers that send key presses only as audio.
//!
//! The audio is cut into 10 ms blocks (80 samples at 8 kHz). Each block is classified by
//! evaluating the eight DTMF frequencies with the Goertzel algorithm and applying the
//! usual talk-off guards (ITU-T Q.24 and Bellcore practice):
//! - both tones above a minimum level (about −33 dBm0 each);
//! - each tone clearly the strongest of its group;
//! - twist within limits: high group at most 8 dB above the low group ("normal"), low
//!   group at most 4 dB above the high group ("reverse");
//! - the two tones carry most of the block's energy (speech spreads its energy);
//! - little energy at the high tone's second harmonic (voiced speech is harmonic-rich,
//!   a DTMF generator is not). The low tone's harmonic (1394–1882 Hz) lies within one
//!   10 ms bin of the high-group tones, so it is covered by the energy ratio instead.
//!
//! A key is emitted once per tone, when three consecutive blocks agree: every tone of
//! 40 ms or more contains three whole blocks, whatever its alignment, while a 20 ms tone
//! contains at most two blocks with enough of the tone to pass the energy-ratio test.
//! Dropouts of up to two blocks are bridged; the same key is emitted again only after a
//! pause of at least three silent blocks.

const BLOCK: usize = 80;
const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Minimum amplitude of each tone: about −33 dBm0 (0 dBm0 ≈ 22 656 peak in 16-bit G.711).
const MIN_AMPLITUDE: f32 = 500.0;
/// Goertzel power of a tone at `MIN_AMPLITUDE`: (A·N/2)².
const MIN_POWER: f32 = (MIN_AMPLITUDE * BLOCK as f32 / 2.0) * (MIN_AMPLITUDE * BLOCK as f32 / 2.0);
/// 8 dB and 4 dB as power ratios.
const NORMAL_TWIST: f32 = 6.31;
const REVERSE_TWIST: f32 = 2.51;
/// The peak tone must beat the other tones of its group by 6 dB.
const GROUP_MARGIN: f32 = 3.98;
/// Share of the block energy the two tones must carry.
const MIN_TONE_RATIO: f32 = 0.7;
/// Second harmonic of the high tone at most −12 dB relative to it.
const MAX_HARMONIC: f32 = 0.063;
/// Consecutive agreeing blocks needed to accept a key (3 × 10 ms).
const MIN_BLOCKS: u32 = 3;
/// Consecutive silent blocks that end a tone (30 ms); shorter gaps are bridged.
const PAUSE_BLOCKS: u32 = 3;

/// Goertzel recurrence coefficient 2·cos(2πf/fs) for an arbitrary (non-bin) frequency.
fn coefficient(freq: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * freq / crate::media::codec::SAMPLE_RATE as f32).cos()
}

/// Power of `block` at the frequency with coefficient `c`: ≈ (A·N/2)² for a tone of
/// amplitude A.
fn goertzel(block: &[f32; BLOCK], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in block {
        let s0 = x + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

fn strongest(powers: &[f32; 4]) -> Option<usize> {
    let best = (0..4).max_by(|&a, &b| powers[a].total_cmp(&powers[b]))?;
    let clear = (0..4)
        .filter(|&i| i != best)
        .all(|i| powers[i] * GROUP_MARGIN <= powers[best]);
    clear.then_some(best)
}

/// Streaming DTMF detector for one 8 kHz audio direction.
#[derive(Clone, Debug)]
pub struct Detector {
    low: [f32; 4],
    high: [f32; 4],
    harmonic: [f32; 4],
    block: [f32; BLOCK],
    fill: usize,
    candidate: Option<char>,
    run: u32,
    misses: u32,
    emitted: Option<char>,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    /// A detector with no tone in progress.
    pub fn new() -> Self {
        Detector {
            low: LOW.map(coefficient),
            high: HIGH.map(coefficient),
            harmonic: HIGH.map(|f| coefficient(2.0 * f)),
            block: [0.0; BLOCK],
            fill: 0,
            candidate: None,
            run: 0,
            misses: 0,
            emitted: None,
        }
    }

    /// Feed audio (normally one 20 ms frame of 160 samples; any length works, with
    /// partial blocks carried over). Returns a key when a tone has just been accepted;
    /// with frames longer than 30 ms a second key in the same call would be dropped.
    pub fn process(&mut self, frame: &[i16]) -> Option<char> {
        let mut found = None;
        for &s in frame {
            self.block[self.fill] = f32::from(s);
            self.fill += 1;
            if self.fill == BLOCK {
                self.fill = 0;
                let key = self.classify();
                found = found.or(self.step(key));
            }
        }
        found
    }

    /// Which key, if any, the current block holds.
    fn classify(&self) -> Option<char> {
        let energy: f32 = self.block.iter().map(|x| x * x).sum();
        if energy < 2.0 * MIN_POWER * 2.0 / BLOCK as f32 {
            return None; // too quiet to hold two tones at the minimum level
        }
        let low = self.low.map(|c| goertzel(&self.block, c));
        let high = self.high.map(|c| goertzel(&self.block, c));
        let (row, col) = (strongest(&low)?, strongest(&high)?);
        let (pl, ph) = (low[row], high[col]);
        let level_ok = pl >= MIN_POWER && ph >= MIN_POWER;
        let twist_ok = ph <= pl * NORMAL_TWIST && pl <= ph * REVERSE_TWIST;
        // Σx² of a tone is A²N/2, its Goertzel power (AN/2)²: scale by N/2 to compare.
        let ratio_ok = pl + ph >= MIN_TONE_RATIO * energy * (BLOCK as f32 / 2.0);
        let harmonic_ok = || goertzel(&self.block, self.harmonic[col]) <= ph * MAX_HARMONIC;
        (level_ok && twist_ok && ratio_ok && harmonic_ok()).then_some(KEYS[row][col])
    }

    /// Advance the duration state machine by one block; returns a newly accepted key.
    fn step(&mut self, key: Option<char>) -> Option<char> {
        let Some(key) = key else {
            self.misses += 1;
            if self.misses >= PAUSE_BLOCKS {
                self.candidate = None;
                self.run = 0;
                self.emitted = None;
            }
            return None;
        };
        self.misses = 0;
        if self.candidate == Some(key) {
            self.run += 1;
        } else {
            self.candidate = Some(key);
            self.run = 1;
        }
        if self.run >= MIN_BLOCKS && self.emitted != Some(key) {
            self.emitted = Some(key);
            return Some(key);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::Codec;

    /// −10 dBm0 per tone.
    const AMP: f64 = 7165.0;

    fn freqs(key: char) -> (f64, f64) {
        for (r, row) in KEYS.iter().enumerate() {
            if let Some(c) = row.iter().position(|&k| k == key) {
                return (LOW[r] as f64, HIGH[c] as f64);
            }
        }
        panic!("not a key: {key}")
    }

    /// Append a dual tone of `ms` milliseconds with the given per-tone amplitudes, passed
    /// through A-law like real trunk audio.
    fn tone(out: &mut Vec<i16>, key: char, ms: usize, low_amp: f64, high_amp: f64) {
        let (fl, fh) = freqs(key);
        let start = out.len();
        let n = ms * 8;
        let pcm: Vec<i16> = (0..n)
            .map(|i| {
                let t = (start + i) as f64 / 8000.0;
                let v = low_amp * (2.0 * std::f64::consts::PI * fl * t).sin()
                    + high_amp * (2.0 * std::f64::consts::PI * fh * t).sin();
                v as i16
            })
            .collect();
        let mut g = vec![0u8; n];
        Codec::Pcma.encode(&pcm, &mut g);
        let mut back = vec![0i16; n];
        Codec::Pcma.decode(&g, &mut back);
        out.extend(back);
    }

    fn silence(out: &mut Vec<i16>, ms: usize) {
        out.extend(std::iter::repeat_n(0i16, ms * 8));
    }

    fn detect(audio: &[i16]) -> String {
        let mut d = Detector::new();
        audio.chunks(160).filter_map(|f| d.process(f)).collect()
    }

    #[test]
    fn all_sixteen_keys() {
        for key in "0123456789*#ABCD".chars() {
            let mut a = Vec::new();
            silence(&mut a, 30);
            tone(&mut a, key, 60, AMP, AMP);
            silence(&mut a, 60);
            assert_eq!(detect(&a), key.to_string(), "key {key}");
        }
    }

    #[test]
    fn forty_ms_accepted_twenty_ms_rejected_at_any_alignment() {
        for offset_ms in [0, 1, 3, 5, 7, 9, 12, 15, 18] {
            for key in ['1', '5', '9', '0', 'D'] {
                let mut a = Vec::new();
                silence(&mut a, 20 + offset_ms);
                tone(&mut a, key, 40, AMP, AMP);
                silence(&mut a, 60);
                assert_eq!(detect(&a), key.to_string(), "40 ms {key} at +{offset_ms}");

                let mut a = Vec::new();
                silence(&mut a, 20 + offset_ms);
                tone(&mut a, key, 20, AMP, AMP);
                silence(&mut a, 60);
                assert_eq!(detect(&a), "", "20 ms {key} at +{offset_ms}");
            }
        }
    }

    #[test]
    fn a_run_of_keys_with_pauses() {
        let mut a = Vec::new();
        for key in ['1', '9', '1', '0', '#'] {
            silence(&mut a, 45);
            tone(&mut a, key, 70, AMP, AMP);
        }
        silence(&mut a, 100);
        assert_eq!(detect(&a), "1910#");
    }

    #[test]
    fn same_key_needs_a_pause_and_long_tone_is_one_press() {
        let mut a = Vec::new();
        tone(&mut a, '5', 1000, AMP, AMP);
        assert_eq!(detect(&a), "5");
        let mut a = Vec::new();
        tone(&mut a, '5', 100, AMP, AMP);
        silence(&mut a, 10); // a 10 ms interruption is not a pause
        tone(&mut a, '5', 100, AMP, AMP);
        silence(&mut a, 50); // 50 ms is
        tone(&mut a, '5', 100, AMP, AMP);
        assert_eq!(detect(&a), "55");
    }

    #[test]
    fn twist_limits() {
        let db = |d: f64| 10f64.powf(d / 20.0);
        let run = |low: f64, high: f64| {
            let mut a = Vec::new();
            tone(&mut a, '8', 80, low, high);
            silence(&mut a, 40);
            detect(&a)
        };
        assert_eq!(run(AMP / db(6.0), AMP), "8", "6 dB normal twist");
        assert_eq!(run(AMP / db(10.0), AMP), "", "10 dB normal twist");
        assert_eq!(run(AMP, AMP / db(3.0)), "8", "3 dB reverse twist");
        assert_eq!(run(AMP, AMP / db(6.0)), "", "6 dB reverse twist");
    }

    #[test]
    fn level_limits() {
        let mut quiet = Vec::new();
        tone(&mut quiet, '2', 80, 300.0, 300.0);
        assert_eq!(detect(&quiet), "");
        let mut ok = Vec::new();
        tone(&mut ok, '2', 80, 1000.0, 1000.0);
        assert_eq!(detect(&ok), "2");
    }

    /// Deterministic white-ish noise.
    fn noise(n: usize, amp: i32, seed: u32) -> Vec<i16> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 16) as i32 % (2 * amp) - amp) as i16
            })
            .collect()
    }

    #[test]
    fn noise_gives_no_keys_and_tones_survive_moderate_noise() {
        assert_eq!(detect(&noise(8000 * 5, 8000, 1)), "");
        let mut a = Vec::new();
        tone(&mut a, '3', 80, AMP, AMP);
        silence(&mut a, 40);
        for (x, n) in a.iter_mut().zip(noise(960, 700, 7)) {
            *x = x.saturating_add(n);
        }
        assert_eq!(detect(&a), "3");
    }

    #[test]
    fn harmonic_rich_signal_is_rejected() {
        // Both DTMF tones plus a strong second harmonic of the high tone: not a generator.
        let mut a = Vec::new();
        tone(&mut a, '6', 80, AMP, AMP);
        for (i, x) in a.iter_mut().enumerate() {
            let h = 0.5 * AMP * (2.0 * std::f64::consts::PI * 2954.0 * i as f64 / 8000.0).sin();
            *x = x.saturating_add(h as i16);
        }
        assert_eq!(detect(&a), "");
    }

    #[test]
    fn vowel_with_harmonics_on_dtmf_frequencies_is_rejected() {
        // Talk-off case: a voiced sound at f0 = 99.57 Hz puts its 7th harmonic on 697 Hz
        // and its 12th within 15 Hz of 1209 Hz ('1'), both boosted like formants.
        let f0 = 697.0 / 7.0;
        let a: Vec<i16> = (0..8000)
            .map(|i| {
                let t = i as f64 / 8000.0;
                (1..=25)
                    .map(|h| {
                        let amp = if h == 7 || h == 12 { 6000.0 } else { 1500.0 };
                        amp * (2.0 * std::f64::consts::PI * f0 * h as f64 * t).sin()
                    })
                    .sum::<f64>()
                    .clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        assert_eq!(detect(&a), "");
        // The same two partials alone are a valid key: the guards, not the level, decide.
        let b: Vec<i16> = (0..8000)
            .map(|i| {
                let t = i as f64 / 8000.0;
                let w = 2.0 * std::f64::consts::PI * f0 * t;
                (6000.0 * (7.0 * w).sin() + 6000.0 * (12.0 * w).sin()) as i16
            })
            .collect();
        assert_eq!(detect(&b), "1");
    }

    #[test]
    fn vietnamese_speech_gives_no_false_keys() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_vi.wav");
        let mut reader = hound::WavReader::open(path).expect("speech fixture");
        assert_eq!(reader.spec().sample_rate, 8000);
        let audio: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert!(audio.len() > 8000 * 3, "fixture should be several seconds");
        // At the recorded level and 6 dB louder (a loud callee).
        assert_eq!(detect(&audio), "");
        let loud: Vec<i16> = audio.iter().map(|&x| x.saturating_mul(2)).collect();
        assert_eq!(detect(&loud), "");
    }
}
