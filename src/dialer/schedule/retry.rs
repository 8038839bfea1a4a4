//! When to call a target again after an attempt that did not complete the survey.
//!
//! A citizen who answered and said no is not asked again (issue 3: "answered but
//! declined is final"); a line that was busy, unanswered or failed is, after a
//! delay, at most `max_attempts` times in all, and always inside a call window.
//! Re-dials respect people (issue 15, seed 002's fear of spam calls): one
//! attempt per citizen per day and three days at least by default, and a
//! hang-up before consent is a soft refusal: one more try on another day.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::CallWindows;
use crate::call::disposition::Disposition;

/// How a campaign re-dials: delays by what happened on the last attempt, and
/// the rules that keep re-dials from feeling like spam (seed 002): at most
/// `per_day` attempts per citizen per local day, at most `max_attempts` spread
/// over at least `min_days` different days, a hang-up before consent tried
/// once more on another day, never outside the call windows. In
/// configuration and JSON the delays are whole minutes (`busy = 30`); every
/// field may be left out and takes the default shown in the README.
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
    /// Attempts per citizen per local day (the windows' time zone).
    pub per_day: u32,
    /// Different local days the attempts are spread over, as far as
    /// `max_attempts` allows: a retry moves to another day when the attempts
    /// left could not reach this many days otherwise.
    pub min_days: u32,
    /// Hang-ups before consent that are retried (each on another day); the
    /// next one is a final refusal.
    pub soft_refusals: u32,
    /// A number is dialled for one dossier only within this many days: the
    /// same citizen's other dossiers wait (checked when a target is claimed).
    pub same_number_days: u32,
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
            per_day: 1,
            min_days: 3,
            soft_refusals: 1,
            same_number_days: 7,
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
    /// Hung up before consent more often than `soft_refusals` allows.
    Refused,
    MaxAttempts,
    /// The call windows never open again (misconfigured campaign).
    NoWindow,
}

/// A target's attempts so far, the one that just ended included.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// When each attempt started.
    pub started: Vec<DateTime<Utc>>,
    /// How many of them were hang-ups before consent.
    pub soft_refusals: u32,
}

/// The attempt that just ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub disposition: Disposition,
    /// The citizen picked up and hung up before consent.
    pub soft_refusal: bool,
    pub at: DateTime<Utc>,
}

impl RetryPolicy {
    /// The next step after the attempt `last`, given every attempt so far.
    pub fn next_attempt(&self, last: Ended, history: &History, windows: &CallWindows) -> Next {
        let delay = match last.disposition {
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
        if last.soft_refusal && history.soft_refusals > self.soft_refusals {
            return final_(FinalReason::Refused);
        }
        let attempts = (history.started.len() as u32).max(1);
        if attempts >= self.max_attempts {
            return final_(FinalReason::MaxAttempts);
        }
        let Some(mut earliest) = TimeDelta::from_std(delay)
            .ok()
            .and_then(|d| last.at.checked_add_signed(d))
        else {
            return final_(FinalReason::NoWindow);
        };
        if last.soft_refusal || self.needs_another_day(attempts, history, last.at, windows) {
            match next_local_day(last.at, windows) {
                Some(day) => earliest = earliest.max(day),
                None => return final_(FinalReason::NoWindow),
            }
        }
        windows
            .next_open(earliest)
            .map_or(final_(FinalReason::NoWindow), |at| Next::Retry { at })
    }

    /// Whether the next attempt must wait for another local day: today's
    /// quota is used, or the attempts left could not reach `min_days` days.
    fn needs_another_day(
        &self,
        attempts: u32,
        history: &History,
        now: DateTime<Utc>,
        windows: &CallWindows,
    ) -> bool {
        let day = |t: &DateTime<Utc>| t.with_timezone(&windows.tz).date_naive();
        let today = day(&now);
        let today_count = history.started.iter().filter(|t| day(t) == today).count() as u32;
        let mut days: Vec<_> = history.started.iter().map(day).collect();
        days.push(today);
        days.sort_unstable();
        days.dedup();
        let days_missing = self.min_days.saturating_sub(days.len() as u32);
        let left = self.max_attempts.saturating_sub(attempts);
        today_count.max(1) >= self.per_day || (days_missing > 0 && left <= days_missing)
    }
}

/// Midnight starting the local day after `t`'s.
fn next_local_day(t: DateTime<Utc>, windows: &CallWindows) -> Option<DateTime<Utc>> {
    let tomorrow = t.with_timezone(&windows.tz).date_naive().succ_opt()?;
    windows
        .tz
        .from_local_datetime(&tomorrow.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
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
