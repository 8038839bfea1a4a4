//! Estimates a statistician would sign: every rate and mean with its n and a
//! 95 % confidence interval, small cells flagged, and figures above one unit
//! weighted by stratum when the draw was not proportional.
//!
//! * Rates: the Wilson score interval (Wilson 1927), which keeps its coverage
//!   near 95 % for the small n and the rates near 100 % a satisfaction survey
//!   produces, where the textbook `p ± 1.96·√(pq/n)` collapses to a zero-width
//!   interval (Newcombe 1998; Brown, Cai & DasGupta 2001).
//! * Means (the 1–10 score): Student's t with n − 1 degrees of freedom.
//! * Strata: each unit (one-stop desk) is a stratum. Quotas give small units
//!   more than their share of calls (seed 004: at least 200 surveys or 30 % of
//!   a unit's dossiers), so pooling the answers of a district's communes would
//!   let the over-sampled small ones speak for the large ones. A district's or
//!   the province's figure is Σ W_h·p_h with W_h = N_h / Σ N (N_h: dossiers
//!   returned by unit h in the period), i.e. every response of unit h weighs
//!   N_h / n_h. Its interval is Wilson's on Kish's effective sample size
//!   n_eff = (Σ w)² / Σ w² (Kish 1965, §11.7), which equals n when the draw is
//!   proportional; the mean's interval uses the stratified variance
//!   Σ W_h² s_h² / n_h with n − H degrees of freedom (Cochran 1977, §5.3).
//!
//! Pure functions over counts: no I/O, no clock.

use serde::Serialize;

/// The 97.5th percentile of the standard normal distribution.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Fewer responses than this flag a cell (`reports.min_responses` in the
/// configuration). 30 is the usual floor below which a rate is "unreliable"
/// in official statistics (e.g. the US NCHS presentation standards).
pub const DEFAULT_MIN_RESPONSES: u64 = 30;

/// A two-sided 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// A rate or a mean with its n, interval and small-cell flag.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// `None` when no response bears on it (not the same as 0 %).
    pub value: Option<f64>,
    /// Responses it rests on (the actual count, not weighted).
    pub n: u64,
    /// Kish's effective sample size (= n unless weighted unequally).
    pub n_effective: f64,
    pub ci95: Option<Interval>,
    /// n is below the configured minimum: read with care.
    pub small: bool,
}

impl Estimate {
    fn empty(min_n: u64) -> Estimate {
        Estimate {
            value: None,
            n: 0,
            n_effective: 0.0,
            ci95: None,
            small: min_n > 0,
        }
    }
}

/// The Wilson score interval of `successes` out of `n` (`None` for n = 0).
pub fn wilson(successes: u64, n: u64) -> Option<Interval> {
    (n > 0).then(|| wilson_at(successes as f64 / n as f64, n as f64))
}

/// Wilson's interval for a proportion `p` observed on `n` (possibly
/// fractional: an effective sample size) responses.
fn wilson_at(p: f64, n: f64) -> Interval {
    let z2 = Z_95 * Z_95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// Two-sided 95 % critical value of Student's t with `df` degrees of freedom:
/// the exact table up to 30, then the Cornish–Fisher expansion (error below
/// 10⁻⁴ from 31 on), then the normal value.
pub fn t_95(df: u64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706_205, 4.302_653, 3.182_446, 2.776_445, 2.570_582, 2.446_912, 2.364_624, 2.306_004,
        2.262_157, 2.228_139, 2.200_985, 2.178_813, 2.160_369, 2.144_787, 2.131_450, 2.119_905,
        2.109_816, 2.100_922, 2.093_024, 2.085_963, 2.079_614, 2.073_873, 2.068_658, 2.063_899,
        2.059_539, 2.055_529, 2.051_831, 2.048_407, 2.045_230, 2.042_272,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df as usize - 1],
        _ => {
            let (z, d) = (Z_95, df as f64);
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// What one stratum (a unit, within a report cell) contributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stratum {
    /// N_h: dossiers the unit returned in the period (the sampling frame).
    pub frame: u64,
    /// Responses that answered the rate's question, and how many of them
    /// gave a positive answer.
    pub rate_n: u64,
    pub rate_yes: u64,
    /// Responses with a valid score, the sum of the scores and of their squares.
    pub score_n: u64,
    pub score_sum: u64,
    pub score_sum_sq: u64,
}

impl Stratum {
    /// Adds another stratum's counts (the same unit seen twice).
    pub fn add(&mut self, o: &Stratum) {
        self.frame += o.frame;
        self.rate_n += o.rate_n;
        self.rate_yes += o.rate_yes;
        self.score_n += o.score_n;
        self.score_sum += o.score_sum;
        self.score_sum_sq += o.score_sum_sq;
    }
}

/// The strata that carry weight: with a frame and at least one response. A
/// stratum with responses but no returned dossier in the frame (a call about
/// a dossier returned in another period) has N_h = 0 and weighs nothing.
fn weights<'a>(
    strata: &'a [Stratum],
    n_of: impl Fn(&Stratum) -> u64 + 'a,
) -> impl Iterator<Item = (f64, &'a Stratum)> + 'a {
    let total: u64 = strata.iter().filter(|s| n_of(s) > 0).map(|s| s.frame).sum();
    strata
        .iter()
        .filter(move |s| n_of(s) > 0 && s.frame > 0 && total > 0)
        .map(move |s| (s.frame as f64 / total as f64, s))
}

/// Kish's effective n: with every response of stratum h weighing W_h / n_h,
/// (Σ w)² / Σ w² = 1 / Σ (W_h² / n_h).
fn kish(parts: impl Iterator<Item = (f64, u64)>) -> f64 {
    let s: f64 = parts.map(|(w, n)| w * w / n as f64).sum();
    if s > 0.0 { 1.0 / s } else { 0.0 }
}

/// The stratum-weighted rate with Wilson's interval on the effective n.
pub fn weighted_rate(strata: &[Stratum], min_n: u64) -> Estimate {
    let n: u64 = strata.iter().map(|s| s.rate_n).sum();
    let parts: Vec<(f64, &Stratum)> = weights(strata, |s| s.rate_n).collect();
    if parts.is_empty() {
        return Estimate {
            n,
            small: n < min_n,
            ..Estimate::empty(min_n)
        };
    }
    let p: f64 = parts
        .iter()
        .map(|(w, s)| w * s.rate_yes as f64 / s.rate_n as f64)
        .sum();
    let n_eff = kish(parts.iter().map(|(w, s)| (*w, s.rate_n)));
    Estimate {
        value: Some(p),
        n,
        n_effective: n_eff,
        ci95: Some(wilson_at(p, n_eff)),
        small: n < min_n,
    }
}

/// The stratum-weighted mean score with a t interval on the stratified
/// variance. A stratum of one response has no variance of its own; it borrows
/// the variance of all responses pooled, rather than claiming certainty.
pub fn weighted_mean(strata: &[Stratum], min_n: u64) -> Estimate {
    let n: u64 = strata.iter().map(|s| s.score_n).sum();
    let parts: Vec<(f64, &Stratum)> = weights(strata, |s| s.score_n).collect();
    if parts.is_empty() {
        return Estimate {
            n,
            small: n < min_n,
            ..Estimate::empty(min_n)
        };
    }
    let pooled = {
        let (sum, sq) = strata.iter().fold((0u64, 0u64), |(a, b), s| {
            (a + s.score_sum, b + s.score_sum_sq)
        });
        sample_variance(n, sum, sq)
    };
    let mut mean = 0.0;
    let mut var = 0.0;
    for (w, s) in &parts {
        let m = s.score_sum as f64 / s.score_n as f64;
        let v = sample_variance(s.score_n, s.score_sum, s.score_sum_sq).or(pooled);
        mean += w * m;
        var += w * w * v.unwrap_or(0.0) / s.score_n as f64;
    }
    let used: u64 = parts.iter().map(|(_, s)| s.score_n).sum();
    let df = used.saturating_sub(parts.len() as u64);
    let ci95 = (df > 0).then(|| {
        let half = t_95(df) * var.sqrt();
        Interval {
            low: mean - half,
            high: mean + half,
        }
    });
    Estimate {
        value: Some(mean),
        n,
        n_effective: kish(parts.iter().map(|(w, s)| (*w, s.score_n))),
        ci95,
        small: n < min_n,
    }
}

/// s² = (Σx² − (Σx)²/n) / (n − 1); `None` below two values.
fn sample_variance(n: u64, sum: u64, sum_sq: u64) -> Option<f64> {
    (n >= 2).then(|| {
        let (n, sum, sq) = (n as f64, sum as f64, sum_sq as f64);
        ((sq - sum * sum / n) / (n - 1.0)).max(0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    /// Newcombe (1998), Statistics in Medicine 17:857, table I, method 3.
    #[test]
    fn wilson_matches_newcombes_table() {
        for (x, n, low, high) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let ci = wilson(x, n).unwrap();
            assert!((ci.low - low).abs() < 1e-4, "{x}/{n}: {ci:?}");
            assert!((ci.high - high).abs() < 1e-4, "{x}/{n}: {ci:?}");
        }
        assert_eq!(wilson(0, 0), None);
        // 100 % satisfied of 29 is not "certainly 100 %".
        let all = wilson(29, 29).unwrap();
        assert!(close(all.low, 0.88303) && all.high == 1.0, "{all:?}");
    }

    #[test]
    fn t_critical_values() {
        assert!(close(t_95(3), 3.182446));
        assert!(close(t_95(30), 2.042272));
        // Tables: t(0.975; 40) = 2.021075, t(0.975; 120) = 1.979930.
        assert!((t_95(40) - 2.021075).abs() < 1e-4, "{}", t_95(40));
        assert!((t_95(120) - 1.979930).abs() < 1e-4, "{}", t_95(120));
        assert!(t_95(100_000) > Z_95 && t_95(100_000) < Z_95 + 1e-4);
    }

    fn unit(frame: u64, n: u64, yes: u64) -> Stratum {
        Stratum {
            frame,
            rate_n: n,
            rate_yes: yes,
            ..Stratum::default()
        }
    }

    /// A district of a large commune (1,000 dossiers, 10 answers, 9
    /// satisfied) and a small one over-sampled by its quota (100 dossiers, 10
    /// answers, 5 satisfied). Pooled: 14/20 = 70 %. Weighted:
    /// (1000·0.9 + 100·0.5) / 1100 = 86.36 %; n_eff = 1 / (W₁²/10 + W₂²/10) =
    /// 11.980; Wilson at 0.8636 on 11.98 = [0.5846, 0.9661].
    #[test]
    fn a_non_proportional_district_is_weighted_not_pooled() {
        let e = weighted_rate(&[unit(1000, 10, 9), unit(100, 10, 5)], 30);
        assert!(close(e.value.unwrap(), 950.0 / 1100.0), "{e:?}");
        assert_ne!(e.value, Some(0.7));
        assert_eq!(e.n, 20);
        assert!(close(e.n_effective, 11.980198), "{e:?}");
        let ci = e.ci95.unwrap();
        assert!(
            close(ci.low, 0.584587) && close(ci.high, 0.966105),
            "{ci:?}"
        );
        assert!(e.small);
    }

    /// A proportional draw weighs every response alike: the weighted rate is
    /// the pooled one and its interval is plain Wilson.
    #[test]
    fn a_proportional_draw_gives_the_pooled_rate() {
        let e = weighted_rate(&[unit(1000, 100, 90), unit(100, 10, 5)], 30);
        assert!(close(e.value.unwrap(), 95.0 / 110.0), "{e:?}");
        assert!(close(e.n_effective, 110.0));
        let plain = wilson(95, 110).unwrap();
        let ci = e.ci95.unwrap();
        assert!(close(ci.low, plain.low) && close(ci.high, plain.high));
        assert!(!e.small);
    }

    #[test]
    fn one_unit_is_the_plain_rate_and_small_cells_are_flagged() {
        let e = weighted_rate(&[unit(500, 3, 3)], 30);
        assert_eq!(e.value, Some(1.0));
        assert_eq!(e.n, 3);
        assert!(e.small);
        let (ci, plain) = (e.ci95.unwrap(), wilson(3, 3).unwrap());
        assert!(
            close(ci.low, plain.low) && close(ci.high, plain.high),
            "{ci:?}"
        );
        let none = weighted_rate(&[unit(500, 0, 0)], 30);
        assert_eq!(
            (none.value, none.n, none.ci95, none.small),
            (None, 0, None, true)
        );
        assert!(!weighted_rate(&[unit(500, 3, 3)], 3).small);
    }

    /// Scores 8, 9, 10, 10: mean 9.25, s² = 2.75 / 3, se = 0.47871, t(3) =
    /// 3.182446: [7.7265, 10.7735].
    #[test]
    fn mean_with_a_t_interval() {
        let s = Stratum {
            frame: 40,
            score_n: 4,
            score_sum: 37,
            score_sum_sq: 64 + 81 + 100 + 100,
            ..Stratum::default()
        };
        let e = weighted_mean(&[s], 30);
        assert_eq!(e.value, Some(9.25));
        let ci = e.ci95.unwrap();
        assert!(close(ci.low, 7.72651) && close(ci.high, 10.77349), "{ci:?}");
        assert!(e.small);
    }

    /// Two units, means 9 (N 900) and 5 (N 100): weighted 8.6, not the pooled 7.
    #[test]
    fn weighted_mean_of_two_units() {
        let a = Stratum {
            frame: 900,
            score_n: 2,
            score_sum: 18,
            score_sum_sq: 8 * 8 + 10 * 10,
            ..Stratum::default()
        };
        let b = Stratum {
            frame: 100,
            score_n: 2,
            score_sum: 10,
            score_sum_sq: 4 * 4 + 6 * 6,
            ..Stratum::default()
        };
        let e = weighted_mean(&[a, b], 30);
        assert!(close(e.value.unwrap(), 8.6), "{e:?}");
        // var = 0.81·2/2 + 0.01·2/2 = 0.82; df = 4 − 2 = 2; t = 4.302653.
        let half = 4.302653 * 0.82f64.sqrt();
        let ci = e.ci95.unwrap();
        assert!(
            close(ci.low, 8.6 - half) && close(ci.high, 8.6 + half),
            "{ci:?}"
        );
    }
}
