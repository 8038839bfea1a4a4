//! Which dossiers to call: a random sample, stratified by unit in proportion to
//! volume, drawn only from dossiers whose result was returned (brief, seed 004), with
//! do-not-call numbers and recently surveyed citizens left out.
//!
//! A draw is a pure function of (candidates, rule, exclusions, units, seed, now):
//! the rule and the seed are stored with the sample, so an auditor can re-draw it
//! and get the same dossiers in the same order. To make that hold across machines,
//! input orders and versions, candidates are sorted by dossier code before any
//! random number is used, and the random numbers come from a pinned generator
//! ([`rng`]).
//!
//! Steps: filter → one dossier per phone (chosen at random among that phone's
//! eligible dossiers) → split `size` over units by largest remainder → a uniform
//! random subset within each unit (the smallest random keys) → interleave the units
//! so any prefix of the call list (one day's calls) is itself spread over units.

mod apportion;
mod quota;
mod quota_rule;
mod rng;
mod synthetic;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use apportion::largest_remainder;
pub use quota::{Quota, QuotaState, QuotaStatus, quota_report};
pub use quota_rule::{QuotaRule, QuotaRuleError, UnitPlan, UnitVolume};
pub use synthetic::{SYNTHETIC_YEAR, synthetic_period, synthetic_year};

use crate::dialer::units::{Level, UnitTree};
use rng::{Rng, Stream};

/// One dossier that could be called. Phones are compared as written: intake stores
/// them normalised (`crate::number::normalize`, national form), and the do-not-call
/// and last-surveyed lists must use the same form.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub dossier_code: String,
    pub unit_code: String,
    pub field: String,
    pub phone: String,
    /// When the citizen received the result; `None` while it is being processed.
    pub returned_at: Option<DateTime<Utc>>,
}

/// What a campaign samples from; stored with the sample so it can be audited.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SampleRule {
    /// Unit codes; a unit includes its descendants. Empty: all units.
    #[serde(default)]
    pub units: Vec<String>,
    /// Empty: all levels.
    #[serde(default)]
    pub levels: Vec<Level>,
    /// Fields (lĩnh vực) exactly as on the dossiers. Empty: all fields.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Results returned in `[returned_from, returned_to)`.
    pub returned_from: DateTime<Utc>,
    pub returned_to: DateTime<Utc>,
    /// How many dossiers to draw.
    pub size: usize,
    /// Dossiers to draw per unit code (from a [`QuotaRule`]); when set it replaces
    /// the proportional split of `size`, and a unit not listed gets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_sizes: Option<BTreeMap<String, usize>>,
    /// Leave out phones surveyed fewer than this many days before the draw.
    #[serde(default = "default_recent_days")]
    pub recent_days: u32,
}

fn default_recent_days() -> u32 {
    90
}

impl SampleRule {
    /// All units, levels and fields, 90 days between surveys of one phone.
    pub fn new(returned_from: DateTime<Utc>, returned_to: DateTime<Utc>, size: usize) -> Self {
        SampleRule {
            units: Vec::new(),
            levels: Vec::new(),
            fields: Vec::new(),
            returned_from,
            returned_to,
            size,
            unit_sizes: None,
            recent_days: default_recent_days(),
        }
    }

    /// Checks what [`draw`] would silently treat as "nothing matches".
    pub fn check(&self, units: &UnitTree) -> Result<(), RuleError> {
        if self.returned_from >= self.returned_to {
            return Err(RuleError::EmptyPeriod {
                from: self.returned_from,
                to: self.returned_to,
            });
        }
        match self.units.iter().find(|c| units.get(c).is_none()) {
            Some(code) => Err(RuleError::UnknownUnit { code: code.clone() }),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the sampling period {from} – {to} is empty: the end must come after the start")]
    EmptyPeriod {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("the sampling rule names unit {code}, which is not in the unit list")]
    UnknownUnit { code: String },
}

/// Who must not be called, as of the draw.
#[derive(Clone, Debug, Default)]
pub struct Exclusions {
    pub do_not_call: HashSet<String>,
    /// Numbers still to be called by a running (or paused) campaign: one
    /// citizen is never in two campaigns at once (issue 10).
    pub in_running_campaign: HashSet<String>,
    /// Phone → when its last survey was taken.
    pub last_surveyed: HashMap<String, DateTime<Utc>>,
}

/// How many candidates each rule left out; each candidate is counted once, under
/// the first reason in this order.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExclusionCounts {
    /// No result yet, or a result dated after the draw.
    pub not_returned: usize,
    /// Outside the rule's period, units, levels or fields.
    pub out_of_scope: usize,
    pub do_not_call: usize,
    /// A target of another running or paused campaign, not yet done.
    #[serde(default)]
    pub in_running_campaign: usize,
    pub recently_surveyed: usize,
    /// Another eligible dossier of the same phone represents it in this draw.
    pub duplicate_phone: usize,
    /// The same dossier code given more than once (the first in sort order is kept).
    pub duplicate_dossier: usize,
}

/// One unit's share of the draw.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Stratum {
    pub unit_code: String,
    /// Eligible dossiers (one per phone) of this unit.
    pub eligible: usize,
    pub picked: usize,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Sample {
    pub seed: u64,
    /// The `now` of the draw (which results counted as returned, which surveys as recent).
    pub drawn_at: DateTime<Utc>,
    /// In call order.
    pub selected: Vec<Candidate>,
    /// Units with at least one eligible dossier, by unit code.
    pub strata: Vec<Stratum>,
    pub excluded: ExclusionCounts,
}

/// Draws `rule.size` dossiers (all eligible ones if fewer), or `rule.unit_sizes`
/// per unit when set. See the module docs.
pub fn draw(
    candidates: &[Candidate],
    rule: &SampleRule,
    exclusions: &Exclusions,
    units: &UnitTree,
    seed: u64,
    now: DateTime<Utc>,
) -> Sample {
    let Filtered {
        eligible, excluded, ..
    } = filter(candidates, rule, exclusions, units, seed, now);
    let (strata, picks) = pick_within_strata(&eligible, rule, seed);
    let selected = interleave(picks, seed)
        .into_iter()
        .map(|i| eligible[i].clone())
        .collect();
    Sample {
        seed,
        drawn_at: now,
        selected,
        strata,
        excluded,
    }
}

/// Per unit (by code): dossiers in the rule's scope and, of those, the eligible
/// ones the draw would choose from: what a [`QuotaRule`] sizes the draw by.
pub fn unit_volumes(
    candidates: &[Candidate],
    rule: &SampleRule,
    exclusions: &Exclusions,
    units: &UnitTree,
    seed: u64,
    now: DateTime<Utc>,
) -> Vec<UnitVolume> {
    let filtered = filter(candidates, rule, exclusions, units, seed, now);
    let mut eligible: HashMap<&str, u32> = HashMap::new();
    for c in &filtered.eligible {
        *eligible.entry(c.unit_code.as_str()).or_default() += 1;
    }
    filtered
        .in_scope
        .into_iter()
        .map(|(code, dossiers)| UnitVolume {
            unit_code: code.to_string(),
            dossiers,
            eligible: eligible.get(code).copied().unwrap_or(0),
        })
        .collect()
}

/// The candidates a draw chooses from, and why the others were left out.
struct Filtered<'a> {
    /// One per phone, in canonical order.
    eligible: Vec<&'a Candidate>,
    excluded: ExclusionCounts,
    /// Returned dossiers in scope per unit (distinct codes), before exclusions.
    in_scope: BTreeMap<&'a str, u32>,
}

fn filter<'a>(
    candidates: &'a [Candidate],
    rule: &SampleRule,
    exclusions: &Exclusions,
    units: &UnitTree,
    seed: u64,
    now: DateTime<Utc>,
) -> Filtered<'a> {
    let mut excluded = ExclusionCounts::default();
    let scope = Scope::new(rule, units);
    let recent_cutoff = now - Duration::days(i64::from(rule.recent_days));
    let mut eligible: Vec<&Candidate> = Vec::with_capacity(candidates.len());
    let mut scoped: HashSet<(&str, &str)> = HashSet::new();
    for c in candidates {
        match c.returned_at {
            Some(t) if t <= now => {}
            _ => {
                excluded.not_returned += 1;
                continue;
            }
        }
        if !scope.contains(c) {
            excluded.out_of_scope += 1;
            continue;
        }
        scoped.insert((c.unit_code.as_str(), c.dossier_code.as_str()));
        if exclusions.do_not_call.contains(&c.phone) {
            excluded.do_not_call += 1;
        } else if exclusions.in_running_campaign.contains(&c.phone) {
            excluded.in_running_campaign += 1;
        } else if rule.recent_days > 0
            && exclusions
                .last_surveyed
                .get(&c.phone)
                .is_some_and(|&t| t > recent_cutoff)
        {
            excluded.recently_surveyed += 1;
        } else {
            eligible.push(c);
        }
    }
    let mut in_scope: BTreeMap<&str, u32> = BTreeMap::new();
    for (unit, _) in scoped {
        *in_scope.entry(unit).or_default() += 1;
    }
    eligible.sort_unstable_by(|a, b| canonical(a, b));
    let before = eligible.len();
    eligible.dedup_by(|b, a| a.dossier_code == b.dossier_code);
    excluded.duplicate_dossier = before - eligible.len();

    let eligible = one_per_phone(eligible, seed);
    excluded.duplicate_phone = before - excluded.duplicate_dossier - eligible.len();
    Filtered {
        eligible,
        excluded,
        in_scope,
    }
}

/// Total order on candidates, so that neither input order nor an unstable sort
/// changes which random number a dossier gets.
fn canonical(a: &Candidate, b: &Candidate) -> Ordering {
    (
        &a.dossier_code,
        &a.unit_code,
        &a.field,
        &a.phone,
        a.returned_at,
    )
        .cmp(&(
            &b.dossier_code,
            &b.unit_code,
            &b.field,
            &b.phone,
            b.returned_at,
        ))
}

/// The rule's period, units (with descendants), levels and fields.
struct Scope<'a> {
    rule: &'a SampleRule,
    units: Option<HashSet<&'a str>>,
    tree: &'a UnitTree,
    fields: Option<HashSet<&'a str>>,
}

impl<'a> Scope<'a> {
    fn new(rule: &'a SampleRule, tree: &'a UnitTree) -> Self {
        let units = (!rule.units.is_empty()).then(|| {
            rule.units
                .iter()
                .flat_map(|code| {
                    let below = tree.descendants(code).into_iter().map(|u| u.code.as_str());
                    std::iter::once(code.as_str()).chain(below)
                })
                .collect()
        });
        let fields =
            (!rule.fields.is_empty()).then(|| rule.fields.iter().map(String::as_str).collect());
        Scope {
            rule,
            units,
            tree,
            fields,
        }
    }

    fn contains(&self, c: &Candidate) -> bool {
        let in_period = c
            .returned_at
            .is_some_and(|t| self.rule.returned_from <= t && t < self.rule.returned_to);
        in_period
            && self
                .units
                .as_ref()
                .is_none_or(|set| set.contains(c.unit_code.as_str()))
            && (self.rule.levels.is_empty()
                || self
                    .tree
                    .get(&c.unit_code)
                    .is_some_and(|u| self.rule.levels.contains(&u.level)))
            && self
                .fields
                .as_ref()
                .is_none_or(|set| set.contains(c.field.as_str()))
    }
}

/// Keeps, for each phone, the dossier with the smallest random key (a uniform choice
/// among its dossiers), in canonical order.
fn one_per_phone(eligible: Vec<&Candidate>, seed: u64) -> Vec<&Candidate> {
    let mut rng = Rng::new(seed, Stream::PhoneChoice);
    let mut best: HashMap<&str, (u64, usize)> = HashMap::with_capacity(eligible.len());
    for (i, c) in eligible.iter().enumerate() {
        let key = rng.next_u64();
        best.entry(c.phone.as_str())
            .and_modify(|b| {
                if key < b.0 {
                    *b = (key, i);
                }
            })
            .or_insert((key, i));
    }
    if best.len() == eligible.len() {
        return eligible;
    }
    let mut keep = vec![false; eligible.len()];
    for (_, i) in best.into_values() {
        keep[i] = true;
    }
    eligible
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect()
}

/// Splits `rule.size` over units (or takes `rule.unit_sizes`, capped by each unit's
/// eligible dossiers) and picks a uniform random subset of each. Returns the strata
/// (by unit code) and, per stratum, the indices picked in random order.
fn pick_within_strata(
    eligible: &[&Candidate],
    rule: &SampleRule,
    seed: u64,
) -> (Vec<Stratum>, Vec<Vec<usize>>) {
    let mut rng = Rng::new(seed, Stream::Selection);
    let mut by_unit: HashMap<&str, Vec<(u64, usize)>> = HashMap::new();
    for (i, c) in eligible.iter().enumerate() {
        let key = rng.next_u64();
        by_unit.entry(&c.unit_code).or_default().push((key, i));
    }
    let mut groups: Vec<(&str, Vec<(u64, usize)>)> = by_unit.into_iter().collect();
    groups.sort_unstable_by_key(|(code, _)| *code);
    let volumes: Vec<usize> = groups.iter().map(|(_, g)| g.len()).collect();
    let seats: Vec<usize> = match &rule.unit_sizes {
        Some(sizes) => groups
            .iter()
            .zip(&volumes)
            .map(|((code, _), &v)| sizes.get(*code).copied().unwrap_or(0).min(v))
            .collect(),
        None => largest_remainder(rule.size, &volumes),
    };
    let mut strata = Vec::with_capacity(groups.len());
    let mut picks = Vec::with_capacity(groups.len());
    for ((code, mut group), k) in groups.into_iter().zip(seats) {
        strata.push(Stratum {
            unit_code: code.to_string(),
            eligible: group.len(),
            picked: k,
        });
        // (key, index) pairs are distinct, so the k smallest are well defined.
        if k < group.len() {
            group.select_nth_unstable(k);
            group.truncate(k);
        }
        group.sort_unstable();
        picks.push(group.into_iter().map(|(_, i)| i).collect());
    }
    (strata, picks)
}

/// Merges the strata so each is spread evenly through the call list: the j-th of a
/// stratum's k picks sits at (j + ½) / k of the way down (stride scheduling); strata
/// at the same point go in a random order fixed per draw.
fn interleave(picks: Vec<Vec<usize>>, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed, Stream::Interleave);
    let rank: Vec<u64> = picks.iter().map(|_| rng.next_u64()).collect();
    let mut slots: Vec<(u64, u64, usize, usize)> = picks
        .iter()
        .enumerate()
        .flat_map(|(s, p)| {
            let k = p.len() as u64;
            p.iter()
                .enumerate()
                .map(move |(j, &i)| (2 * j as u64 + 1, 2 * k, s, i))
        })
        .collect();
    // Compare (2j+1)/(2k) as fractions without rounding.
    slots.sort_unstable_by(|a, b| {
        (u128::from(a.0) * u128::from(b.1))
            .cmp(&(u128::from(b.0) * u128::from(a.1)))
            .then(rank[a.2].cmp(&rank[b.2]))
            .then(a.2.cmp(&b.2))
    });
    slots.into_iter().map(|(_, _, _, i)| i).collect()
}
