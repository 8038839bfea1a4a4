//! Sample sizes per unit from the law's quota (brief, seed 004: Da Nang surveys at
//! least 200 citizens AND 30 % of the dossiers of each unit with 200–1,000 dossiers a
//! year). The quota counts *completed* surveys, so each unit's draw is inflated by the
//! expected response rate; a unit whose eligible citizens cannot reach its quota even
//! then is named with its numbers rather than silently sampled short.
//!
//! Pure arithmetic: counts in, sizes out, no I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::quota::{Quota, SHARE_EPSILON};

/// The rule a campaign asks to be sampled by; every field has the seed's default.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuotaRule {
    /// Completed surveys a unit in the band needs whatever its volume (200).
    #[serde(default = "default_min_surveys")]
    pub min_surveys: u32,
    /// Share of a unit's returned dossiers to survey (0.30).
    #[serde(default = "default_min_share")]
    pub min_share: f64,
    /// The band of returned dossiers in the period where `min_surveys` applies,
    /// inclusive (200–1,000); outside it a unit needs only `min_share` of its dossiers.
    #[serde(default = "default_applies_from")]
    pub applies_from: u32,
    #[serde(default = "default_applies_to")]
    pub applies_to: u32,
    /// Share of sampled citizens expected to complete the survey (0.6).
    #[serde(default = "default_response_rate")]
    pub expected_response_rate: f64,
    /// Sample every eligible dossier of a unit that cannot reach its quota and report
    /// the shortfall, instead of refusing the campaign.
    #[serde(default)]
    pub allow_short: bool,
}

fn default_min_surveys() -> u32 {
    200
}
fn default_min_share() -> f64 {
    0.30
}
fn default_applies_from() -> u32 {
    200
}
fn default_applies_to() -> u32 {
    1_000
}
fn default_response_rate() -> f64 {
    0.6
}

impl Default for QuotaRule {
    fn default() -> Self {
        QuotaRule {
            min_surveys: default_min_surveys(),
            min_share: default_min_share(),
            applies_from: default_applies_from(),
            applies_to: default_applies_to(),
            expected_response_rate: default_response_rate(),
            allow_short: false,
        }
    }
}

/// One unit's volume in the campaign's scope.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnitVolume {
    pub unit_code: String,
    /// Dossiers returned in the period (in the campaign's units, levels, fields).
    pub dossiers: u32,
    /// Of those, citizens that may be called (one per phone, no do-not-call, …).
    pub eligible: u32,
}

/// What the rule asks of one unit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnitPlan {
    pub unit_code: String,
    pub dossiers: u32,
    pub eligible: u32,
    /// Completed surveys the quota needs.
    pub needed: u32,
    /// Completed surveys to expect from all eligible citizens: ⌊eligible × rate⌋.
    pub reachable: u32,
    /// Dossiers to draw: ⌈needed / rate⌉, at most `eligible`.
    pub sample: u32,
    /// Surveys the unit is expected to miss its quota by (0 when feasible).
    pub shortfall: u32,
}

impl UnitPlan {
    /// The stored quota the progress report measures this unit against: the
    /// surveys needed, as a count (the share is already in it).
    pub fn quota(&self) -> Quota {
        Quota {
            unit_code: self.unit_code.clone(),
            min_count: self.needed,
            min_share: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuotaRuleError {
    #[error(
        "quota_rule: {0} (min_share 0..=1, expected_response_rate in (0, 1], applies_from <= applies_to)"
    )]
    Invalid(&'static str),
    #[error("quota_rule cannot be met (set \"allow_short\": true to sample them anyway): {}", Units(.0))]
    Infeasible(Vec<UnitPlan>),
}

/// Lists short units as "unit X: N dossiers, E eligible, needed K, reachable R".
struct Units<'a>(&'a [UnitPlan]);

impl fmt::Display for Units<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, u) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            write!(
                f,
                "{sep}unit {}: {} dossiers, {} eligible, needed {}, reachable {}",
                u.unit_code, u.dossiers, u.eligible, u.needed, u.reachable
            )?;
        }
        Ok(())
    }
}

impl QuotaRule {
    pub fn check(&self) -> Result<(), QuotaRuleError> {
        if !(0.0..=1.0).contains(&self.min_share) {
            return Err(QuotaRuleError::Invalid("min_share out of range"));
        }
        let rate = self.expected_response_rate;
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(QuotaRuleError::Invalid(
                "expected_response_rate out of range",
            ));
        }
        if self.applies_from > self.applies_to {
            return Err(QuotaRuleError::Invalid("applies_from above applies_to"));
        }
        Ok(())
    }

    /// Completed surveys a unit with `dossiers` returned dossiers needs: in the band,
    /// max(min_surveys, ⌈min_share × dossiers⌉) capped at the dossiers; outside it,
    /// the proportional ⌈min_share × dossiers⌉.
    pub fn needed(&self, dossiers: u32) -> u32 {
        let by_share = ceil_tolerant(self.min_share * f64::from(dossiers)).min(dossiers);
        if (self.applies_from..=self.applies_to).contains(&dossiers) {
            by_share.max(self.min_surveys.min(dossiers))
        } else {
            by_share
        }
    }

    /// One unit's plan; `shortfall > 0` marks it infeasible.
    pub fn plan_unit(&self, v: &UnitVolume) -> UnitPlan {
        let rate = self.expected_response_rate;
        let needed = self.needed(v.dossiers);
        let reachable = floor_tolerant(f64::from(v.eligible) * rate).min(v.eligible);
        let sample = ceil_tolerant(f64::from(needed) / rate).min(v.eligible);
        UnitPlan {
            unit_code: v.unit_code.clone(),
            dossiers: v.dossiers,
            eligible: v.eligible,
            needed,
            reachable,
            sample,
            shortfall: needed.saturating_sub(reachable),
        }
    }

    /// Every unit's plan, or the infeasible units when the rule does not allow short.
    pub fn plan(&self, volumes: &[UnitVolume]) -> Result<Vec<UnitPlan>, QuotaRuleError> {
        self.check()?;
        let plans: Vec<UnitPlan> = volumes.iter().map(|v| self.plan_unit(v)).collect();
        let short: Vec<UnitPlan> = plans.iter().filter(|p| p.shortfall > 0).cloned().collect();
        if short.is_empty() || self.allow_short {
            Ok(plans)
        } else {
            Err(QuotaRuleError::Infeasible(short))
        }
    }
}

/// ⌈x⌉, but a product within [`SHARE_EPSILON`] of an integer is that integer
/// (0.3 × 10 = 3.0000000000000004 must not become 4; 180 / 0.6 is 300).
fn ceil_tolerant(x: f64) -> u32 {
    (x - SHARE_EPSILON).ceil().max(0.0) as u32
}

/// ⌊x⌋ with the same tolerance (180 × 0.6 = 107.99999999999999 is 108).
fn floor_tolerant(x: f64) -> u32 {
    (x + SHARE_EPSILON).floor().max(0.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, dossiers: u32, eligible: u32) -> UnitVolume {
        UnitVolume {
            unit_code: code.into(),
            dossiers,
            eligible,
        }
    }

    #[test]
    fn a_unit_in_the_band_needs_the_larger_of_count_and_share() {
        let p = QuotaRule::default().plan_unit(&unit("a", 500, 480));
        // max(200, 0.3 × 500 = 150) = 200; 200 / 0.6 = 333.3 → 334 dossiers.
        assert_eq!(
            (p.needed, p.sample, p.reachable, p.shortfall),
            (200, 334, 288, 0)
        );
        let p = QuotaRule::default().plan_unit(&unit("b", 1_000, 1_000));
        assert_eq!((p.needed, p.sample), (300, 500), "the share wins at 1,000");
        let p = QuotaRule::default().plan_unit(&unit("c", 200, 200));
        assert_eq!(
            (p.needed, p.sample, p.reachable, p.shortfall),
            (200, 200, 120, 80)
        );
    }

    #[test]
    fn a_unit_outside_the_band_needs_its_proportional_share() {
        let rule = QuotaRule::default();
        let p = rule.plan_unit(&unit("big", 1_500, 1_400));
        assert_eq!((p.needed, p.sample, p.shortfall), (450, 750, 0));
        let p = rule.plan_unit(&unit("small", 150, 150));
        // 0.3 × 150 = 45 (not min(200, 150)): the count applies from 200 dossiers.
        assert_eq!((p.needed, p.sample, p.reachable), (45, 75, 90));
        assert_eq!(rule.needed(1_001), 301);
        assert_eq!(rule.needed(199), 60);
    }

    #[test]
    fn a_unit_with_too_few_eligible_is_refused_with_its_numbers() {
        let rule = QuotaRule::default();
        let err = rule
            .plan(&[unit("ok", 500, 480), unit("xa-tan-my", 250, 180)])
            .unwrap_err();
        let QuotaRuleError::Infeasible(short) = &err else {
            panic!("{err}");
        };
        assert_eq!(short.len(), 1, "only the short unit is named");
        // needed max(200, 75) = 200; reachable 180 × 0.6 = 108.
        assert_eq!((short[0].needed, short[0].reachable), (200, 108));
        let text = err.to_string();
        assert!(
            text.contains("unit xa-tan-my: 250 dossiers, 180 eligible, needed 200, reachable 108"),
            "{text}"
        );
        assert!(!text.contains("unit ok"), "{text}");
    }

    #[test]
    fn allow_short_samples_every_eligible_and_reports_the_shortfall() {
        let rule = QuotaRule {
            allow_short: true,
            ..QuotaRule::default()
        };
        let plans = rule.plan(&[unit("xa", 250, 180)]).unwrap();
        assert_eq!((plans[0].sample, plans[0].shortfall), (180, 92));
        assert_eq!(plans[0].quota().min_count, 200, "the legal need is kept");
    }

    #[test]
    fn rounding_is_exact_at_integers_and_up_otherwise() {
        let rule = QuotaRule {
            min_surveys: 0,
            expected_response_rate: 0.6,
            ..QuotaRule::default()
        };
        // 180 / 0.6 and 108 / 0.6 are integers in decimal but not in binary.
        assert_eq!(ceil_tolerant(180.0 / 0.6), 300);
        assert_eq!(floor_tolerant(180.0 * 0.6), 108);
        assert_eq!(rule.needed(10), 3, "0.3 × 10 is 3, not 4");
        assert_eq!(rule.needed(11), 4, "3.3 → 4");
        let p = rule.plan_unit(&unit("u", 1_000, 1_000));
        assert_eq!((p.needed, p.sample, p.reachable), (300, 500, 600));
        let all = QuotaRule {
            expected_response_rate: 1.0,
            ..QuotaRule::default()
        };
        assert_eq!(all.plan_unit(&unit("u", 500, 200)).sample, 200);
    }

    #[test]
    fn zero_dossiers_need_nothing() {
        let p = QuotaRule::default().plan_unit(&unit("empty", 0, 0));
        assert_eq!((p.needed, p.sample, p.reachable, p.shortfall), (0, 0, 0, 0));
        assert_eq!(QuotaRule::default().plan(&[]).unwrap(), vec![]);
    }

    #[test]
    fn bad_rules_are_refused_before_any_arithmetic() {
        for rule in [
            QuotaRule {
                min_share: 1.5,
                ..QuotaRule::default()
            },
            QuotaRule {
                expected_response_rate: 0.0,
                ..QuotaRule::default()
            },
            QuotaRule {
                expected_response_rate: f64::NAN,
                ..QuotaRule::default()
            },
            QuotaRule {
                applies_from: 1_001,
                ..QuotaRule::default()
            },
        ] {
            assert!(matches!(rule.plan(&[]), Err(QuotaRuleError::Invalid(_))));
        }
        // Extreme but legal input stays bounded: the draw never exceeds the eligible.
        let tiny = QuotaRule {
            expected_response_rate: 1e-300,
            min_surveys: u32::MAX,
            allow_short: true,
            ..QuotaRule::default()
        };
        let p = tiny.plan_unit(&unit("u", 500, 480));
        assert_eq!((p.needed, p.sample, p.reachable), (500, 480, 0));
        let parsed: QuotaRule = serde_json::from_str("{}").unwrap();
        assert_eq!(
            parsed,
            QuotaRule::default(),
            "all fields default to the seed"
        );
        assert!(serde_json::from_str::<QuotaRule>(r#"{"min_survey": 1}"#).is_err());
    }
}
