//! A campaign's operating rules, read back from the JSON it was stored with:
//! call windows, retry policy, sampling rule and quotas.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::dialer::sampling::{Quota, SampleRule};
use crate::dialer::schedule::{CallWindows, RetryPolicy};
use crate::store::CampaignRecord;

#[derive(Debug, thiserror::Error)]
#[error("campaign {campaign}: stored {what} is not valid JSON: {source}")]
pub struct PolicyError {
    pub campaign: String,
    pub what: &'static str,
    pub source: serde_json::Error,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignPolicy {
    pub windows: CallWindows,
    pub retry: RetryPolicy,
    pub rule: SampleRule,
    #[serde(default)]
    pub quotas: Vec<Quota>,
}

impl CampaignPolicy {
    pub fn from_record(c: &CampaignRecord) -> Result<CampaignPolicy, PolicyError> {
        let parse = |what: &'static str, text: &str| {
            serde_json::from_str::<serde_json::Value>(text).map_err(|source| PolicyError {
                campaign: c.id.to_string(),
                what,
                source,
            })
        };
        let value = serde_json::json!({
            "windows": parse("windows", &c.windows_json)?,
            "retry": parse("retry policy", &c.retry_json)?,
            "rule": parse("sampling rule", &c.rule_json)?,
            "quotas": parse("quotas", &c.quotas_json)?,
        });
        serde_json::from_value(value).map_err(|source| PolicyError {
            campaign: c.id.to_string(),
            what: "settings",
            source,
        })
    }

    /// Midnight of `now`'s day in the province (the default windows' zone,
    /// Asia/Ho_Chi_Minh): the province-wide daily cap counts from it.
    pub fn province_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
        midnight_in(CallWindows::default().tz, now)
    }

    /// Midnight of `now`'s day in the campaign's time zone: the daily target counts from it.
    pub fn local_midnight(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        midnight_in(self.windows.tz, now)
    }
}

fn midnight_in(tz: chrono_tz::Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).date_naive();
    tz.from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now)
}
