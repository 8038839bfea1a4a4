//! A synthetic year of dossiers for tests and benchmarks: every unit × field × day of
//! 2025, with the skew real one-stop desks show (the province centre and the cities
//! handle far more than a rural commune), some results not yet returned and some
//! citizens with several dossiers.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::Candidate;
use super::rng::{Rng, Stream};
use crate::dialer::units::{Level, UnitTree};

/// The year [`synthetic_year`] covers: received dates fall in 2025 (UTC).
pub const SYNTHETIC_YEAR: i32 = 2025;

/// Share of dossiers still being processed (no `returned_at`), in per mille.
const NOT_RETURNED_PER_MILLE: u64 = 80;
/// Share of dossiers filed by someone who already filed one, in per mille.
const REPEAT_PHONE_PER_MILLE: u64 = 100;

/// `n` dossiers over `units` (all levels) and `fields`, reproducible from `seed`.
///
/// Unit volumes are skewed: weight = level base (province 40, district 12, commune 2)
/// divided by 1 + the unit's rank within its level, so the busiest unit of a level
/// gets several times the volume of the quietest. Fields follow 1/(1 + rank).
/// Codes are `DT-2025-0000001`…, phones valid Vietnamese mobile numbers (`09…`),
/// received at office hours on a uniform day of the year and returned 0–20 days
/// later (so some results land in January of the next year).
///
/// # Panics
/// If `units` or `fields` is empty.
pub fn synthetic_year(units: &UnitTree, fields: &[&str], n: usize, seed: u64) -> Vec<Candidate> {
    assert!(!units.units().is_empty() && !fields.is_empty());
    let unit_pick = Weighted::new(&unit_weights(units));
    let field_weights: Vec<u64> = (0..fields.len()).map(|r| 1_000 / (1 + r as u64)).collect();
    let field_pick = Weighted::new(&field_weights);
    let start = Utc
        .with_ymd_and_hms(SYNTHETIC_YEAR, 1, 1, 0, 30, 0)
        .single()
        .expect("a valid date");
    let mut rng = Rng::new(seed, Stream::Synthetic);
    let mut phones: Vec<u64> = Vec::with_capacity(n);
    (0..n)
        .map(|i| {
            let unit = &units.units()[unit_pick.pick(&mut rng)];
            let phone = if !phones.is_empty() && rng.below(1_000) < REPEAT_PHONE_PER_MILLE {
                phones[rng.below(phones.len() as u64) as usize]
            } else {
                scrambled(i as u64, seed)
            };
            phones.push(phone);
            let received = start
                + Duration::days(rng.below(365) as i64)
                + Duration::minutes(rng.below(9 * 60) as i64);
            let returned = (rng.below(1_000) >= NOT_RETURNED_PER_MILLE)
                .then(|| received + Duration::days(rng.below(21) as i64) + Duration::hours(2));
            Candidate {
                dossier_code: format!("DT-{SYNTHETIC_YEAR}-{:07}", i + 1),
                unit_code: unit.code.clone(),
                field: fields[field_pick.pick(&mut rng)].to_string(),
                phone: format!("09{phone:08}"),
                returned_at: returned,
            }
        })
        .collect()
}

/// 1 January of [`SYNTHETIC_YEAR`] and of the year after, as a rule's period.
pub fn synthetic_period() -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |y| {
        Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
            .single()
            .expect("valid")
    };
    (at(SYNTHETIC_YEAR), at(SYNTHETIC_YEAR + 1))
}

fn unit_weights(units: &UnitTree) -> Vec<u64> {
    let mut rank = [0u64; 3];
    units
        .units()
        .iter()
        .map(|u| {
            let (slot, base) = match u.level {
                Level::Province => (0, 40_000),
                Level::District => (1, 12_000),
                Level::Commune => (2, 2_000),
            };
            rank[slot] += 1;
            // Ranks cycle every 6 units so no commune's volume rounds to nothing.
            base / (1 + (rank[slot] - 1) % 6)
        })
        .collect()
}

/// A distinct 8-digit number per index: multiplying by a constant coprime with 10^8
/// permutes 0..10^8, so phones look random but never collide by accident.
fn scrambled(i: u64, seed: u64) -> u64 {
    const MOD: u64 = 100_000_000;
    (i % MOD * 48_271 + seed % MOD) % MOD
}

/// Picks an index with probability proportional to its weight.
struct Weighted {
    cumulative: Vec<u64>,
}

impl Weighted {
    fn new(weights: &[u64]) -> Self {
        let cumulative = weights
            .iter()
            .scan(0u64, |sum, w| {
                *sum += w;
                Some(*sum)
            })
            .collect();
        Weighted { cumulative }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().expect("non-empty weights");
        let x = rng.below(total);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn a_year_is_skewed_has_repeats_and_unreturned_results() {
        let tree = UnitTree::shipped().unwrap();
        let year = synthetic_year(&tree, &["dat-dai", "ho-tich", "xay-dung"], 20_000, 1);
        assert_eq!(year.len(), 20_000);
        assert_eq!(
            year,
            synthetic_year(&tree, &["dat-dai", "ho-tich", "xay-dung"], 20_000, 1)
        );

        let mut per_unit: HashMap<&str, usize> = HashMap::new();
        for c in &year {
            *per_unit.entry(&c.unit_code).or_default() += 1;
            assert!(crate::number::is_valid(&c.phone), "{}", c.phone);
        }
        assert_eq!(
            per_unit.len(),
            tree.units().len(),
            "every unit has dossiers"
        );
        let (min, max) = (
            per_unit.values().min().unwrap(),
            per_unit.values().max().unwrap(),
        );
        assert!(*max > 10 * *min, "volumes are skewed: {min}..{max}");

        let not_returned = year.iter().filter(|c| c.returned_at.is_none()).count();
        assert!((1_300..1_900).contains(&not_returned), "{not_returned}");
        let phones: HashSet<&str> = year.iter().map(|c| c.phone.as_str()).collect();
        let repeats = year.len() - phones.len();
        assert!((1_500..2_500).contains(&repeats), "{repeats}");
        let codes: HashSet<&str> = year.iter().map(|c| c.dossier_code.as_str()).collect();
        assert_eq!(codes.len(), year.len());
    }
}
