//! Progressive dialling for operator campaigns: a citizen is dialled only for
//! an operator who is free, claimed (`on_call`) before the INVITE leaves, so
//! the operator is connected the moment the citizen answers and never has two
//! calls at once. The decisions are here, without I/O; the runner
//! (`campaign::runner`) does the claims and places the calls.
//!
//! Which campaign a free operator serves: an operator with a unit
//! (`operators.unit_code`) takes the campaigns whose sample names that unit
//! first (the unit code listed in the campaign's rule), and any other running
//! operator campaign after them, so nobody sits idle while citizens wait; an
//! operator without a unit takes any campaign. Within each group the order is
//! the runner's (oldest campaign first), so one campaign is served before the
//! next rather than interleaved. Subtrees are not looked at: a province-level
//! operator prefers only campaigns that name the province itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::store::CampaignId;

/// How long a campaign that had nothing due when an operator was claimed for
/// it rests: without it, a free operator would be claimed and given back on
/// every tick (200 ms) while the campaign's targets wait for their retries.
pub const REST: Duration = Duration::from_secs(1);

/// The order in which an operator of `unit` draws from campaigns whose rules
/// name `campaign_units` (one list per campaign): indices, the operator's
/// unit's campaigns first, each group in the given order.
pub fn campaign_order(unit: Option<&str>, campaign_units: &[&[String]]) -> Vec<usize> {
    let own = |units: &[String]| unit.is_some_and(|u| units.iter().any(|c| c == u));
    let (mut first, rest): (Vec<usize>, Vec<usize>) =
        (0..campaign_units.len()).partition(|&i| own(campaign_units[i]));
    first.extend(rest);
    first
}

/// Campaigns resting after an operator found nothing due in them.
#[derive(Debug)]
pub struct Resting {
    rest: Duration,
    until: HashMap<CampaignId, Instant>,
}

impl Default for Resting {
    fn default() -> Self {
        Resting::new(REST)
    }
}

impl Resting {
    pub fn new(rest: Duration) -> Resting {
        Resting {
            rest,
            until: HashMap::new(),
        }
    }

    /// An operator was claimed for `campaign` and no target was due.
    pub fn nothing_due(&mut self, campaign: &CampaignId, now: Instant) {
        self.until.insert(campaign.clone(), now + self.rest);
    }

    /// Whether `campaign` is still resting at `now` (no operator is claimed for it).
    pub fn is_resting(&self, campaign: &CampaignId, now: Instant) -> bool {
        self.until.get(campaign).is_some_and(|&t| now < t)
    }

    /// Forgets rests that are over (campaigns finish; the map stays small).
    pub fn prune(&mut self, now: Instant) {
        self.until.retain(|_, &mut t| now < t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_operator_takes_their_units_campaigns_first_then_any() {
        let a = units(&["CL"]);
        let b = units(&["DT", "LV"]);
        let c = units(&[]);
        let d = units(&["LV"]);
        let all: [&[String]; 4] = [&a, &b, &c, &d];
        assert_eq!(campaign_order(Some("LV"), &all), [1, 3, 0, 2]);
        assert_eq!(campaign_order(Some("CL"), &all), [0, 1, 2, 3]);
        // No unit, or a unit no campaign names: the runner's order.
        assert_eq!(campaign_order(None, &all), [0, 1, 2, 3]);
        assert_eq!(campaign_order(Some("XX"), &all), [0, 1, 2, 3]);
        // A province operator does not prefer a district's campaign (no subtree).
        assert_eq!(campaign_order(Some("DT"), &[&a, &d, &b]), [2, 0, 1]);
        assert!(campaign_order(Some("DT"), &[]).is_empty());
    }

    #[test]
    fn a_campaign_with_nothing_due_rests_for_a_while() {
        let t0 = Instant::now();
        let mut r = Resting::new(Duration::from_secs(1));
        let (a, b) = (CampaignId("a".into()), CampaignId("b".into()));
        assert!(!r.is_resting(&a, t0));
        r.nothing_due(&a, t0);
        assert!(r.is_resting(&a, t0));
        assert!(r.is_resting(&a, t0 + Duration::from_millis(999)));
        assert!(!r.is_resting(&b, t0), "only the campaign found empty");
        assert!(!r.is_resting(&a, t0 + Duration::from_secs(1)));
        r.nothing_due(&b, t0 + Duration::from_millis(500));
        r.prune(t0 + Duration::from_secs(1));
        assert_eq!(r.until.len(), 1, "a's rest is over and forgotten");
        assert!(r.is_resting(&b, t0 + Duration::from_millis(1400)));
    }
}
