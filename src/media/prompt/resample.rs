//! Band-limited resampling to 8 kHz (windowed sinc).
//!
//! Prompts recorded in a studio arrive at 16, 22.05, 44.1 or 48 kHz. Dropping
//! samples (or linear interpolation alone) would fold everything above 4 kHz back
//! into the voice band as hiss and whistles, so each output sample is a windowed-sinc
//! low-pass of the input evaluated at the output instant: cutoff at 92 % of the
//! lower Nyquist, 24 zero crossings per side, Blackman window (≈ −74 dB stopband).
//!
//! For a rational ratio `to/from = L/M` the kernel only ever needs `L` distinct
//! fractional phases, so they are tabulated once when `L` is small (every common
//! rate); odd rates compute weights per output sample instead.

use std::f64::consts::PI;

/// Cutoff as a fraction of the lower of the two Nyquist frequencies.
const CUTOFF: f64 = 0.92;
/// Zero crossings of the sinc on each side of the centre.
const ZERO_CROSSINGS: f64 = 24.0;
/// Largest phase table built (phases × taps floats): beyond, compute on the fly.
const MAX_TABLE_PHASES: u64 = 1024;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The low-pass kernel for one rate pair, in units of input samples.
struct Kernel {
    /// Cutoff in cycles per input sample.
    fc: f64,
    /// Half the kernel length in input samples.
    half_width: f64,
    /// Taps per output sample (`2 * ceil(half_width)`).
    taps: usize,
}

impl Kernel {
    fn new(from: u32, to: u32) -> Self {
        let fc = 0.5 * CUTOFF * f64::from(from.min(to)) / f64::from(from);
        let half_width = ZERO_CROSSINGS / (2.0 * fc);
        Self {
            fc,
            half_width,
            taps: 2 * half_width.ceil() as usize,
        }
    }

    fn h(&self, t: f64) -> f64 {
        if t.abs() >= self.half_width {
            return 0.0;
        }
        let x = 2.0 * self.fc * t;
        let sinc = if x == 0.0 {
            1.0
        } else {
            (PI * x).sin() / (PI * x)
        };
        // Blackman window over [-half_width, half_width].
        let w = (t / self.half_width + 1.0) * PI;
        let window = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
        sinc * window
    }

    /// Weights for the taps `i0 - taps/2 + 1 ..= i0 + taps/2` around an output
    /// instant `i0 + frac`, normalised to unity DC gain.
    fn weights(&self, frac: f64, out: &mut [f32]) {
        let first = 1 - (self.taps as i64 / 2);
        let mut sum = 0.0;
        for (j, o) in out.iter_mut().enumerate() {
            let v = self.h(frac - (first + j as i64) as f64);
            sum += v;
            *o = v as f32;
        }
        let scale = (1.0 / sum) as f32;
        out.iter_mut().for_each(|o| *o *= scale);
    }
}

/// Resamples `input` from `from` Hz to `to` Hz.
pub(crate) fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let g = gcd(u64::from(from), u64::from(to));
    let (up, down) = (u64::from(to) / g, u64::from(from) / g);
    let kernel = Kernel::new(from, to);
    let taps = kernel.taps;
    let table: Option<Vec<f32>> = (up <= MAX_TABLE_PHASES).then(|| {
        let mut t = vec![0.0f32; up as usize * taps];
        for (p, row) in t.chunks_mut(taps).enumerate() {
            kernel.weights(p as f64 / up as f64, row);
        }
        t
    });
    let out_len = (input.len() as u64 * up).div_ceil(down) as usize;
    let mut scratch = vec![0.0f32; taps];
    let first = 1 - (taps as i64 / 2);
    let mut output = Vec::with_capacity(out_len);
    for n in 0..out_len as u64 {
        // Output sample n sits at input position n * down / up = i0 + phase / up.
        let pos = n * down;
        let (i0, phase) = ((pos / up) as i64, pos % up);
        let w: &[f32] = match &table {
            Some(t) => &t[phase as usize * taps..(phase as usize + 1) * taps],
            None => {
                kernel.weights(phase as f64 / up as f64, &mut scratch);
                &scratch
            }
        };
        let mut acc = 0.0f32;
        for (j, &wj) in w.iter().enumerate() {
            let k = i0 + first + j as i64;
            if let Some(&x) = usize::try_from(k).ok().and_then(|k| input.get(k)) {
                acc += x * wj;
            }
        }
        output.push(acc);
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (0.5 * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    /// RMS of the middle half (away from the zero-padded edges).
    fn rms_mid(x: &[f32]) -> f64 {
        let mid = &x[x.len() / 4..x.len() * 3 / 4];
        (mid.iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / mid.len() as f64)
            .sqrt()
    }

    /// Amplitude of `freq` in `x` (sampled at 8 kHz) by correlation.
    fn amplitude_at(x: &[f32], freq: f64) -> f64 {
        let mid = &x[x.len() / 4..x.len() * 3 / 4];
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in mid.iter().enumerate() {
            let ph = 2.0 * PI * freq * i as f64 / 8000.0;
            re += f64::from(v) * ph.cos();
            im += f64::from(v) * ph.sin();
        }
        2.0 * (re * re + im * im).sqrt() / mid.len() as f64
    }

    fn db(ratio: f64) -> f64 {
        20.0 * ratio.log10()
    }

    #[test]
    fn passband_tone_survives_from_every_studio_rate() {
        for rate in [16_000, 22_050, 44_100, 48_000] {
            let out = resample(&tone(3000.0, rate, 0.5), rate, 8000);
            assert_eq!(out.len(), 4000, "{rate}");
            let gain = amplitude_at(&out, 3000.0) / 0.5;
            assert!(
                db(gain).abs() < 0.5,
                "{rate}: 3 kHz gain {:.2} dB",
                db(gain)
            );
        }
    }

    #[test]
    fn tones_above_4k_are_attenuated_not_aliased() {
        for (rate, freq) in [
            (48_000, 6000.0),
            (44_100, 5000.0),
            (16_000, 4600.0),
            (22_050, 7000.0),
        ] {
            let input = tone(freq, rate, 0.5);
            let out = resample(&input, rate, 8000);
            let atten = db(rms_mid(&out) / rms_mid(&input));
            assert!(atten < -30.0, "{freq} Hz at {rate}: only {atten:.1} dB");
        }
    }

    #[test]
    fn untabulated_odd_rate_matches_expectations() {
        // 44 101 Hz shares no useful factor with 8 kHz: weights are computed per sample.
        let out = resample(&tone(1000.0, 44_101, 0.25), 44_101, 8000);
        assert_eq!(out.len(), 2000);
        assert!(db(amplitude_at(&out, 1000.0) / 0.5).abs() < 0.5);
    }

    #[test]
    fn upsampling_keeps_a_tone() {
        let out = resample(&tone(1000.0, 6000, 0.5), 6000, 8000);
        assert_eq!(out.len(), 4000);
        assert!(db(amplitude_at(&out, 1000.0) / 0.5).abs() < 0.5);
    }

    #[test]
    fn dc_passes_at_unity() {
        let out = resample(&[0.25; 4410], 44_100, 8000);
        assert!((out[400] - 0.25).abs() < 1e-4);
    }
}
