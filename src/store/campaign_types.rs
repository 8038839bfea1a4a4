//! The plain data of campaigns: units, campaigns, their targets, alarms.
//!
//! Timestamps are `DateTime<Utc>` here and BIGINT unix milliseconds in the
//! database (see `types.rs`). Enumerations are Rust enums whose `as_str` values
//! are the ones the migration's CHECK constraints allow.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::text_id;

text_id!(
    /// Id of a row in `campaigns`.
    CampaignId
);
text_id!(
    /// Id of a row in `campaign_targets`.
    TargetId
);
text_id!(
    /// Id of a row in `alarms`.
    AlarmId
);

/// Levels of government a unit can sit at (the `units.level` CHECK).
pub mod unit_level {
    /// The province itself (its one-stop centre).
    pub const PROVINCE: &str = "province";
    /// A district-level unit (huyện, thị xã, thành phố thuộc tỉnh).
    pub const DISTRICT: &str = "district";
    /// A commune-level unit (xã, phường, thị trấn).
    pub const COMMUNE: &str = "commune";
    pub const ALL: [&str; 3] = [PROVINCE, DISTRICT, COMMUNE];
}

/// A row of `units`: an administrative unit and the unit above it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRecord {
    pub code: String,
    pub name: String,
    /// One of [`unit_level`].
    pub level: String,
    /// Code of the parent unit; `None` for the province.
    pub parent: Option<String>,
}

/// Declares a string-valued enum with `as_str`, `parse`, `ALL` and `Display`.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and serialised) form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Who conducts the survey on a campaign's calls.
    CampaignMode {
        /// The IVR plays the questionnaire (the campaign's dialplan).
        Ivr => "ivr",
        /// A call-centre operator is bridged in and enters the answers.
        Operator => "operator",
    }
);

text_enum!(
    /// A campaign's life cycle; see [`CampaignStatus::can_become`].
    CampaignStatus {
        /// Being set up; nothing is dialled.
        Draft => "draft",
        /// Targets are claimed and dialled within the call windows.
        Running => "running",
        /// Temporarily not dialling; can be resumed.
        Paused => "paused",
        /// Ended by an operator before its end; final.
        Stopped => "stopped",
        /// Every target is done or the period is over; final.
        Finished => "finished",
    }
);

impl CampaignStatus {
    /// Allowed changes: draft → running, running ↔ paused, running or paused →
    /// stopped, running → finished. Stopped and finished are final so that an
    /// audited campaign cannot quietly start dialling again.
    pub fn can_become(self, to: CampaignStatus) -> bool {
        use CampaignStatus::*;
        matches!(
            (self, to),
            (Draft, Running)
                | (Running, Paused)
                | (Paused, Running)
                | (Running, Stopped)
                | (Paused, Stopped)
                | (Running, Finished)
        )
    }
}

text_enum!(
    /// Where a campaign target stands in the claim protocol.
    TargetState {
        /// Waiting for `next_attempt_at`.
        Pending => "pending",
        /// Taken by a node (`claimed_by`, until `lease_until`), not yet dialled.
        Claimed => "claimed",
        /// A call to it may be under way: never handed out again without an
        /// attempt being counted.
        Dialling => "dialling",
        /// No more attempts (`final_reason` says why).
        Done => "done",
    }
);

/// What is known when a campaign is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCampaign {
    pub name: String,
    pub mode: CampaignMode,
    /// Dialplan (questionnaire) run on the campaign's calls.
    pub dialplan: String,
    /// Dossiers returned in `[period_from, period_to)` are eligible.
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    /// Calls to aim for per day.
    pub daily_target: u32,
    pub max_concurrent: u32,
    pub calls_per_second: f64,
    /// The sampling rule (units, levels, fields, exclusions), opaque JSON.
    pub rule_json: String,
    /// Call windows and holidays, opaque JSON.
    pub windows_json: String,
    /// Retry delays per disposition and the attempt limit, opaque JSON.
    pub retry_json: String,
    /// Quotas, opaque JSON.
    pub quotas_json: String,
    /// Seed of the sample's random generator, so the draw can be repeated and audited.
    pub sample_seed: u64,
}

/// A row of `campaigns`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignRecord {
    pub id: CampaignId,
    pub name: String,
    pub mode: CampaignMode,
    pub dialplan: String,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub daily_target: u32,
    pub max_concurrent: u32,
    pub calls_per_second: f64,
    pub rule_json: String,
    pub windows_json: String,
    pub retry_json: String,
    pub quotas_json: String,
    pub sample_seed: u64,
    pub status: CampaignStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A sampled dossier to add to a campaign.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTarget {
    pub dossier_code: String,
    pub phone: String,
    pub unit_code: String,
    /// Position in the sample: lower ranks are dialled first.
    pub rank: i64,
}

/// A row of `campaign_targets`.
#[derive(Clone, PartialEq, Serialize)]
pub struct TargetRecord {
    pub id: TargetId,
    pub campaign_id: CampaignId,
    pub dossier_code: String,
    pub phone: String,
    pub unit_code: String,
    pub rank: i64,
    pub state: TargetState,
    /// Attempts finished (or interrupted) so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_disposition: Option<String>,
    pub last_call_id: Option<super::CallId>,
    pub final_reason: Option<String>,
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Phone numbers stay out of logs.
impl fmt::Debug for NewTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewTarget")
            .field("dossier_code", &self.dossier_code)
            .field("phone", &crate::pii::Pii(&self.phone))
            .field("unit_code", &self.unit_code)
            .field("rank", &self.rank)
            .finish()
    }
}

/// Phone numbers stay out of logs.
impl fmt::Debug for TargetRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetRecord")
            .field("id", &self.id)
            .field("campaign_id", &self.campaign_id)
            .field("dossier_code", &self.dossier_code)
            .field("phone", &crate::pii::Pii(&self.phone))
            .field("unit_code", &self.unit_code)
            .field("rank", &self.rank)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("last_disposition", &self.last_disposition)
            .field("last_call_id", &self.last_call_id)
            .field("final_reason", &self.final_reason)
            .field("claimed_by", &self.claimed_by)
            .field("lease_until", &self.lease_until)
            .finish_non_exhaustive()
    }
}

/// Counts over a campaign's targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CampaignProgress {
    pub pending: u64,
    pub claimed: u64,
    pub dialling: u64,
    pub done: u64,
    /// Targets per last disposition (targets never attempted are not counted).
    pub by_disposition: BTreeMap<String, u64>,
    /// Done targets per final reason.
    pub by_final_reason: BTreeMap<String, u64>,
    /// Attempts over all targets.
    pub attempts: u64,
}

impl CampaignProgress {
    pub fn total(&self) -> u64 {
        self.pending + self.claimed + self.dialling + self.done
    }
}

/// What [`super::Store::recover_stale`] put back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecoveredCounts {
    /// Claimed but never dialled: back to pending as they were.
    pub released: u64,
    /// Possibly dialled: one attempt counted as `interrupted`, retried later.
    pub interrupted: u64,
}

/// A row of `alarms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmRecord {
    pub id: AlarmId,
    /// Stable machine name ("trunk_down", "disk_full").
    pub kind: String,
    pub message: String,
    pub raised_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_text() {
        for s in CampaignStatus::ALL {
            assert_eq!(CampaignStatus::parse(s.as_str()), Some(*s));
        }
        for s in TargetState::ALL {
            assert_eq!(TargetState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            CampaignMode::parse("operator"),
            Some(CampaignMode::Operator)
        );
        assert_eq!(CampaignMode::parse("Operator"), None);
        assert_eq!(
            serde_json::to_string(&CampaignStatus::Paused).unwrap(),
            "\"paused\""
        );
    }

    #[test]
    fn life_cycle_allows_only_the_documented_moves() {
        use CampaignStatus::*;
        let allowed: Vec<(CampaignStatus, CampaignStatus)> = CampaignStatus::ALL
            .iter()
            .flat_map(|a| CampaignStatus::ALL.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            [
                (Draft, Running),
                (Running, Paused),
                (Running, Stopped),
                (Running, Finished),
                (Paused, Running),
                (Paused, Stopped),
            ]
        );
    }

    #[test]
    fn debug_hides_phone_numbers() {
        let t = NewTarget {
            dossier_code: "HS-1".into(),
            phone: "0912345678".into(),
            unit_code: "DT".into(),
            rank: 1,
        };
        if !crate::pii::log_pii() {
            assert!(!format!("{t:?}").contains("0912345678"));
        }
    }
}
