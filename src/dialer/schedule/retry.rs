//! When to call a target again after an attempt that did not complete the survey.
//!
//! A citizen who answered and said no is not asked again (issue 3: "answered but
//! declined is final"); a line that was busy, unanswered or failed is, after a
//! delay, at most `max_attempts` times in all, and always inside a call window.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::CallWindows;
use crate::call::disposition::Disposition;

/// Delays before the next attempt, by what happened on the last one. In
/// configuration and JSON the delays are whole minutes (`busy = 30`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default)]
pub struct RetryPolicy {
    #[serde(with = "minutes")]
    pub busy: Duration,
    #[serde(with = "minutes")]
    pub no_answer: Duration,
    /// Trunk or network failures: retried soon, the fault is usually ours.
    #[serde(with = "minutes")]
    pub failed: Duration,
    /// Answered but silent (voicemail, announcement), hung up mid-survey, or cut
    /// off by our own restart.
    #[serde(with = "minutes")]
    pub no_input: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        RetryPolicy {
            busy: min(30),
            no_answer: min(120),
            failed: min(10),
            no_input: min(120),
            max_attempts: 3,
        }
    }
}

/// What to do with a target after an attempt.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "next")]
pub enum Next {
    /// Dial again at `at` (inside a call window).
    Retry { at: DateTime<Utc> },
    /// Never dial this target again.
    Final { reason: FinalReason },
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FinalReason {
    Completed,
    Declined,
    DoNotCall,
    /// The callee's side refused the call (e.g. 603 Decline): asking again would
    /// be the spam the hotline must not look like.
    Rejected,
    MaxAttempts,
    /// The call windows never open again (misconfigured campaign).
    NoWindow,
}

impl RetryPolicy {
    /// The next step after an attempt that ended with `disposition`;
    /// `attempts_so_far` counts every attempt made, the one that just ended included.
    pub fn next_attempt(
        &self,
        disposition: Disposition,
        attempts_so_far: u32,
        now: DateTime<Utc>,
        windows: &CallWindows,
    ) -> Next {
        let delay = match disposition {
            Disposition::Completed => return final_(FinalReason::Completed),
            Disposition::Declined => return final_(FinalReason::Declined),
            Disposition::DoNotCall => return final_(FinalReason::DoNotCall),
            Disposition::Rejected => return final_(FinalReason::Rejected),
            Disposition::Busy => self.busy,
            Disposition::NoAnswer => self.no_answer,
            Disposition::Failed => self.failed,
            Disposition::NoInput | Disposition::Answered | Disposition::Interrupted => {
                self.no_input
            }
        };
        if attempts_so_far >= self.max_attempts {
            return final_(FinalReason::MaxAttempts);
        }
        TimeDelta::from_std(delay)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .and_then(|earliest| windows.next_open(earliest))
            .map_or(final_(FinalReason::NoWindow), |at| Next::Retry { at })
    }
}

fn final_(reason: FinalReason) -> Next {
    Next::Final { reason }
}

/// `Duration` as whole minutes.
mod minutes {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs() / 60)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let minutes = u64::deserialize(d)?;
        Ok(Duration::from_secs(minutes.saturating_mul(60)))
    }
}
