//! Creating a campaign: draw the lawful random sample (dialer::sampling) from the
//! dossiers in the database and store it as the campaign's targets, together
//! with the rule and the seed so the same sample can be re-drawn and audited.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::policy::CampaignPolicy;
use crate::dialer::sampling::{
    self, Candidate, Exclusions, Quota, QuotaRule, Sample, SampleRule, UnitPlan,
};
use crate::dialer::schedule::{CallWindows, RetryPolicy};
use crate::dialer::units::{Level, UnitTree};
use crate::store::{CampaignId, CampaignMode, NewCampaign, NewTarget, Store, StoreError};

/// What a supervisor asks for (API body and CLI flags).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    /// Dossiers whose result was returned in this period (inclusive dates).
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub levels: Vec<Level>,
    #[serde(default)]
    pub fields: Vec<String>,
    /// How many citizens to sample; leave out (0) with `quota_rule`, which sizes
    /// the draw per unit.
    #[serde(default)]
    pub size: usize,
    #[serde(default = "default_daily_target")]
    pub daily_target: u32,
    /// The dialplan each call runs; `None`: the mode's own (see [`CampaignSpec::dialplan`]).
    #[serde(default)]
    pub dialplan: Option<String>,
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default = "default_concurrent")]
    pub max_concurrent: u32,
    #[serde(default = "default_cps")]
    pub calls_per_second: f64,
    #[serde(default = "default_recent_days")]
    pub recent_days: u32,
    pub windows: Option<CallWindows>,
    pub retry: Option<RetryPolicy>,
    #[serde(default)]
    pub quotas: Vec<Quota>,
    /// Size the draw per unit from the law's quota (seed 004) and store the
    /// resulting quotas; excludes `size` and `quotas`.
    #[serde(default)]
    pub quota_rule: Option<QuotaRule>,
    /// Fix the random draw (for re-drawing an audited sample); random otherwise.
    pub seed: Option<u64>,
}

fn default_daily_target() -> u32 {
    25
}
fn default_mode() -> String {
    "ivr".into()
}
fn default_concurrent() -> u32 {
    5
}
fn default_cps() -> f64 {
    1.0
}
fn default_recent_days() -> u32 {
    90
}

/// The dialplan of IVR campaigns: the survey itself.
pub const IVR_DIALPLAN: &str = "survey-1022";
/// The dialplan of operator campaigns: the operator, claimed before the
/// citizen was dialled, is bridged the moment the citizen answers.
pub const OPERATOR_DIALPLAN: &str = "operator-direct";

impl CampaignSpec {
    /// The dialplan given, or the mode's default: an operator campaign's calls
    /// go straight to their operator, an IVR campaign's run the survey.
    pub fn dialplan(&self) -> &str {
        match (&self.dialplan, self.mode.as_str()) {
            (Some(d), _) => d,
            (None, "operator") => OPERATOR_DIALPLAN,
            (None, _) => IVR_DIALPLAN,
        }
    }
}

impl CampaignSpec {
    /// Every unit the spec names (sampled units and quota units): what must
    /// lie inside the creator's unit scope.
    pub fn named_units(&self) -> impl Iterator<Item = &str> {
        self.units
            .iter()
            .map(String::as_str)
            .chain(self.quotas.iter().map(|q| q.unit_code.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("invalid campaign: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The created campaign and how its sample was drawn.
#[derive(Debug, Serialize)]
pub struct Created {
    pub id: CampaignId,
    pub seed: u64,
    pub targets: usize,
    pub strata: Vec<sampling::Stratum>,
    pub excluded: sampling::ExclusionCounts,
    /// Per unit, what `quota_rule` asked for and drew (absent without one); a
    /// `shortfall` above 0 is a unit sampled short under `allow_short`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_plan: Option<Vec<UnitPlan>>,
}

pub async fn create(
    store: &Store,
    spec: CampaignSpec,
    now: DateTime<Utc>,
) -> Result<Created, CreateError> {
    validate(&spec)?;
    let windows = spec.windows.clone().unwrap_or_default();
    let mut rule = SampleRule {
        units: spec.units.clone(),
        levels: spec.levels.clone(),
        fields: spec.fields.clone(),
        returned_from: local_day_start(&windows, spec.period_from),
        returned_to: local_day_start(
            &windows,
            spec.period_to.succ_opt().unwrap_or(spec.period_to),
        ),
        size: spec.size,
        unit_sizes: None,
        recent_days: spec.recent_days,
    };
    let units = unit_tree(store).await?;
    let candidates = candidates(store, &rule).await?;
    let phones: Vec<String> = candidates.iter().map(|c| c.phone.clone()).collect();
    let exclusions = Exclusions {
        do_not_call: store.do_not_call_numbers().await?,
        in_running_campaign: store.phones_in_running_campaigns().await?,
        last_surveyed: store.last_surveyed(&phones).await?,
    };
    let seed = spec
        .seed
        .unwrap_or_else(|| rand::random::<u64>() & MAX_SEED);
    let (quotas, quota_plan) = match &spec.quota_rule {
        None => (spec.quotas.clone(), None),
        Some(quota_rule) => {
            let volumes =
                sampling::unit_volumes(&candidates, &rule, &exclusions, &units, seed, now);
            let plan = quota_rule
                .plan(&volumes)
                .map_err(|e| CreateError::Invalid(e.to_string()))?;
            size_by_plan(&mut rule, &plan);
            (plan.iter().map(UnitPlan::quota).collect(), Some(plan))
        }
    };
    let sample: Sample = sampling::draw(&candidates, &rule, &exclusions, &units, seed, now);
    let policy = CampaignPolicy {
        windows,
        retry: spec.retry.clone().unwrap_or_default(),
        rule,
        quotas,
    };
    let id = store
        .create_campaign(&NewCampaign {
            name: spec.name.clone(),
            mode: CampaignMode::parse(&spec.mode)
                .ok_or_else(|| CreateError::Invalid("mode must be ivr or operator".into()))?,
            dialplan: spec.dialplan().to_string(),
            period_from: local_day_start(&policy.windows, spec.period_from),
            // Stored exclusive, as the sample's rule: the last day is included.
            period_to: policy.rule.returned_to,
            daily_target: spec.daily_target,
            max_concurrent: spec.max_concurrent,
            calls_per_second: spec.calls_per_second,
            rule_json: json(&policy.rule),
            windows_json: json(&policy.windows),
            retry_json: json(&policy.retry),
            quotas_json: json(&policy.quotas),
            sample_seed: seed,
        })
        .await?;
    let targets: Vec<NewTarget> = sample
        .selected
        .iter()
        .enumerate()
        .map(|(rank, c)| NewTarget {
            dossier_code: c.dossier_code.clone(),
            phone: c.phone.clone(),
            unit_code: c.unit_code.clone(),
            rank: rank as i64,
        })
        .collect();
    // The campaign's unit scope (who may see and run it), before its targets.
    store.set_campaign_units(&id, &spec.units).await?;
    store.add_targets(&id, &targets).await?;
    Ok(Created {
        id,
        seed,
        targets: targets.len(),
        strata: sample.strata,
        excluded: sample.excluded,
        quota_plan,
    })
}

/// Makes the draw take each unit's planned sample (stored in the rule, so an
/// audit re-draw gets the same per-unit sizes).
fn size_by_plan(rule: &mut SampleRule, plan: &[UnitPlan]) {
    let sizes: std::collections::BTreeMap<String, usize> = plan
        .iter()
        .map(|p| (p.unit_code.clone(), p.sample as usize))
        .collect();
    rule.size = sizes.values().sum();
    rule.unit_sizes = Some(sizes);
}

/// The JSON text a policy part is stored as (plain data: serialising cannot fail).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The largest seed: 2^53 − 1. Browsers and most JSON clients read numbers as
/// IEEE doubles, so a larger seed would come back rounded and re-draw another
/// sample than the one audited.
pub const MAX_SEED: u64 = (1 << 53) - 1;

fn validate(spec: &CampaignSpec) -> Result<(), CreateError> {
    let bad = |m: &str| Err(CreateError::Invalid(m.to_string()));
    if spec.seed.is_some_and(|s| s > MAX_SEED) {
        return bad(
            "seed must be at most 9007199254740991 (2^53 - 1), the largest integer JSON clients keep exactly",
        );
    }
    if spec.name.trim().is_empty() {
        return bad("name is empty");
    }
    if spec.period_to < spec.period_from {
        return bad("period_to is before period_from");
    }
    match &spec.quota_rule {
        None if spec.size == 0 => return bad("size must be at least 1"),
        None => {}
        Some(_) if spec.size != 0 || !spec.quotas.is_empty() => {
            return bad("quota_rule sizes the draw and sets the quotas: leave out size and quotas");
        }
        Some(q) => q.check().map_err(|e| CreateError::Invalid(e.to_string()))?,
    }
    if spec.daily_target == 0 || spec.max_concurrent == 0 || spec.calls_per_second <= 0.0 {
        return bad("daily_target, max_concurrent and calls_per_second must be positive");
    }
    if CampaignMode::parse(&spec.mode).is_none() {
        return bad("mode must be ivr or operator");
    }
    if spec
        .dialplan
        .as_deref()
        .is_some_and(|d| d.trim().is_empty())
    {
        return bad("dialplan is empty (leave it out for the mode's default)");
    }
    if spec
        .retry
        .as_ref()
        .is_some_and(|r| r.max_attempts == 0 || r.per_day == 0)
    {
        return bad("retry.max_attempts and retry.per_day must be at least 1");
    }
    Ok(())
}

fn local_day_start(windows: &CallWindows, day: NaiveDate) -> DateTime<Utc> {
    windows
        .tz
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// The unit hierarchy from the database (loaded from data/units.csv at start-up).
async fn unit_tree(store: &Store) -> Result<UnitTree, CreateError> {
    super::unit_tree(&store.units().await?).map_err(|e| CreateError::Invalid(e.to_string()))
}

async fn candidates(store: &Store, rule: &SampleRule) -> Result<Vec<Candidate>, CreateError> {
    let fields = (!rule.fields.is_empty()).then_some(rule.fields.as_slice());
    let dossiers = store
        .dossiers_returned_between(rule.returned_from, rule.returned_to, None, fields)
        .await?;
    Ok(dossiers
        .into_iter()
        .map(|d| Candidate {
            dossier_code: d.code,
            unit_code: d.unit_code,
            field: d.field,
            phone: d.phone,
            returned_at: d.returned_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CampaignSpec {
        serde_json::from_value(serde_json::json!({
            "name": "Tháng 11", "period_from": "2026-11-01", "period_to": "2026-11-30", "size": 25
        }))
        .unwrap()
    }

    #[test]
    fn defaults_follow_the_plan() {
        let s = spec();
        assert_eq!(s.daily_target, 25);
        assert_eq!(s.recent_days, 90);
        assert_eq!(s.dialplan(), "survey-1022");
        validate(&s).unwrap();
    }

    #[test]
    fn operator_campaigns_are_accepted_and_go_straight_to_the_operator() {
        let mut s = spec();
        s.mode = "operator".into();
        validate(&s).unwrap();
        assert_eq!(s.dialplan(), "operator-direct");
        s.dialplan = Some("survey-1022".into());
        assert_eq!(s.dialplan(), "survey-1022", "a named dialplan wins");
    }

    type Breaker = fn(&mut CampaignSpec);

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let cases: [(Breaker, &str); 7] = [
            (|s| s.name = " ".into(), "name"),
            (
                |s| s.period_to = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
                "period_to",
            ),
            (|s| s.size = 0, "size"),
            (|s| s.calls_per_second = 0.0, "calls_per_second"),
            (|s| s.mode = "robot".into(), "mode"),
            (|s| s.dialplan = Some(" ".into()), "dialplan"),
            (|s| s.seed = Some(MAX_SEED + 1), "seed"),
        ];
        for (break_it, word) in cases {
            let mut s = spec();
            break_it(&mut s);
            let err = validate(&s).unwrap_err().to_string();
            assert!(err.contains(word), "{err}");
        }
        let unknown = serde_json::from_value::<CampaignSpec>(serde_json::json!({
            "name": "x", "period_from": "2026-11-01", "period_to": "2026-11-30", "size": 1, "sise": 2
        }));
        assert!(unknown.is_err(), "unknown fields are errors");
    }

    #[test]
    fn a_quota_rule_replaces_size_and_quotas_and_is_checked() {
        let with_rule = |extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "name": "Q", "period_from": "2026-11-01", "period_to": "2026-11-30",
                "quota_rule": {"expected_response_rate": 0.5}
            });
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            serde_json::from_value::<CampaignSpec>(v).unwrap()
        };
        let s = with_rule(serde_json::json!({}));
        validate(&s).unwrap();
        let rule = s.quota_rule.unwrap();
        assert_eq!(
            (rule.min_surveys, rule.applies_to),
            (200, 1_000),
            "seed defaults"
        );
        for (extra, word) in [
            (serde_json::json!({"size": 10}), "leave out size"),
            (
                serde_json::json!({"quotas": [{"unit_code": "u", "min_count": 1, "min_share": 0.1}]}),
                "leave out size and quotas",
            ),
            (
                serde_json::json!({"quota_rule": {"expected_response_rate": 1.2}}),
                "expected_response_rate",
            ),
        ] {
            let err = validate(&with_rule(extra)).unwrap_err().to_string();
            assert!(err.contains(word), "{err}");
        }
    }

    #[test]
    fn seeds_survive_a_round_trip_through_a_double() {
        let mut s = spec();
        s.seed = Some(MAX_SEED);
        validate(&s).unwrap();
        assert_eq!(
            MAX_SEED as f64 as u64, MAX_SEED,
            "JSON clients keep it exactly"
        );
        assert_ne!(
            (MAX_SEED + 2) as f64 as u64,
            MAX_SEED + 2,
            "one beyond is rounded"
        );
    }
}
