//! Survey quotas per unit: "at least 200 surveys and 30 % of dossiers for a unit with
//! 200–1,000 dossiers a year" (other provinces' rules, brief seed 004).

use serde::{Deserialize, Serialize};

/// A minimum number of surveys for one unit over a campaign's period.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Quota {
    pub unit_code: String,
    /// Surveys required whatever the volume (capped at the number of dossiers).
    pub min_count: u32,
    /// Share of the period's dossiers to survey, 0..=1.
    pub min_share: f64,
}

impl Quota {
    /// The plan's yearly rule: at least 200 surveys and 30 % of the dossiers.
    pub fn plan(unit_code: impl Into<String>) -> Self {
        Quota {
            unit_code: unit_code.into(),
            min_count: 200,
            min_share: 0.30,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QuotaState {
    /// The target is met.
    Reached,
    /// Behind the target but at least at the pace the elapsed period calls for.
    OnTrack,
    /// Behind the pace: more calls are needed for this unit.
    FallingShort,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaStatus {
    /// Surveys required for the whole period.
    pub target: u32,
    /// Surveys done so far.
    pub reached: u32,
    pub status: QuotaState,
}

/// Shares like 0.3 are not exact in binary (0.3 × 10 = 3.0000000000000004), so a
/// product within this much of an integer counts as that integer.
pub(super) const SHARE_EPSILON: f64 = 1e-9;

/// Where `quota` stands after `surveyed` surveys, `period_elapsed` (0..=1) into a
/// period with `dossiers_in_period` dossiers.
///
/// target = max(min(min_count, dossiers), ceil(min_share × dossiers)): a unit with
/// fewer dossiers than `min_count` must survey all of them. On track means at least
/// target × elapsed surveys so far.
pub fn quota_report(
    quota: &Quota,
    dossiers_in_period: u32,
    surveyed: u32,
    period_elapsed: f64,
) -> QuotaStatus {
    let share = if quota.min_share.is_nan() {
        0.0
    } else {
        quota.min_share.clamp(0.0, 1.0)
    };
    let by_share = (share * f64::from(dossiers_in_period) - SHARE_EPSILON).ceil();
    let by_share = (by_share.max(0.0) as u32).min(dossiers_in_period);
    let target = quota.min_count.min(dossiers_in_period).max(by_share);
    let elapsed = if period_elapsed.is_nan() {
        0.0
    } else {
        period_elapsed.clamp(0.0, 1.0)
    };
    let status = if surveyed >= target {
        QuotaState::Reached
    } else if f64::from(surveyed) >= f64::from(target) * elapsed - SHARE_EPSILON {
        QuotaState::OnTrack
    } else {
        QuotaState::FallingShort
    };
    QuotaStatus {
        target,
        reached: surveyed,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dossiers: u32) -> u32 {
        quota_report(&Quota::plan("u"), dossiers, 0, 0.0).target
    }

    #[test]
    fn target_is_the_larger_of_count_and_share() {
        assert_eq!(target(1_000), 300); // 30 % beats 200
        assert_eq!(target(667), 201); // 200.1 → 201
        assert_eq!(target(666), 200); // 199.8 → 200, the count wins
        assert_eq!(target(500), 200);
        assert_eq!(target(200), 200);
        assert_eq!(target(150), 150); // fewer than 200 dossiers: survey them all
        assert_eq!(target(0), 0);
        assert_eq!(target(10_000), 3_000);
    }

    #[test]
    fn share_products_are_not_rounded_up_by_float_error() {
        let q = Quota {
            unit_code: "u".into(),
            min_count: 0,
            min_share: 0.3,
        };
        assert_eq!(quota_report(&q, 10, 0, 0.0).target, 3);
        assert_eq!(quota_report(&q, 11, 0, 0.0).target, 4);
        let all = Quota {
            min_share: 1.5,
            ..q.clone()
        };
        assert_eq!(quota_report(&all, 10, 0, 0.0).target, 10);
    }

    #[test]
    fn status_follows_the_pace() {
        let q = Quota::plan("u");
        let at = |surveyed, elapsed| quota_report(&q, 1_000, surveyed, elapsed).status;
        assert_eq!(at(300, 0.2), QuotaState::Reached);
        assert_eq!(at(400, 1.0), QuotaState::Reached);
        assert_eq!(at(150, 0.5), QuotaState::OnTrack);
        assert_eq!(at(149, 0.5), QuotaState::FallingShort);
        assert_eq!(at(0, 0.0), QuotaState::OnTrack);
        assert_eq!(at(299, 1.0), QuotaState::FallingShort);
        assert_eq!(at(90, 0.3), QuotaState::OnTrack);
        let r = quota_report(&q, 1_000, 123, 0.9);
        assert_eq!((r.target, r.reached), (300, 123));
    }
}
