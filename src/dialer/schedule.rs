//! When a call may start: weekly call windows in the province's time zone minus
//! holidays (issue 3: "no call starts outside a window"), and when a call that did
//! not complete is tried again ([`retry`]).
//!
//! Windows are local office hours, so every question is asked in local time: a UTC
//! instant is converted to the window's zone before its weekday and time are read.

mod retry;
#[cfg(test)]
mod tests;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use retry::{Ended, FinalReason, History, Next, RetryPolicy};

/// How far ahead [`CallWindows::next_open`] looks before deciding that no window
/// will ever open (no weekly window, or a year of holidays).
const SEARCH_DAYS: u64 = 400;

/// Hours on given weekdays during which calls may start.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WindowRule {
    pub days: Vec<Weekday>,
    /// Local time, `"07:30"` in configuration; the window is `[start, end)`.
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

/// A campaign's calling hours. Missing fields take the defaults (Asia/Ho_Chi_Minh,
/// Monday–Friday 07:30–11:30 and 13:30–17:00, no holidays).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct CallWindows {
    pub tz: Tz,
    pub weekly: Vec<WindowRule>,
    /// Local dates on which no call starts.
    pub holidays: Vec<NaiveDate>,
}

impl Default for CallWindows {
    fn default() -> Self {
        let weekdays = vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ];
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid time");
        CallWindows {
            tz: chrono_tz::Asia::Ho_Chi_Minh,
            weekly: vec![
                WindowRule {
                    days: weekdays.clone(),
                    start: hm(7, 30),
                    end: hm(11, 30),
                },
                WindowRule {
                    days: weekdays,
                    start: hm(13, 30),
                    end: hm(17, 0),
                },
            ],
            holidays: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("the call windows have no weekly window: no call could ever start")]
    NoWindows,
    #[error(
        "call window {index} ({start}–{end}) is empty: it needs at least one weekday and a \
         start before its end (windows cannot cross midnight; split them)"
    )]
    EmptyWindow {
        index: usize,
        start: NaiveTime,
        end: NaiveTime,
    },
}

impl CallWindows {
    /// Refuses windows that could never open (a campaign override is checked before
    /// it is saved).
    pub fn check(&self) -> Result<(), ScheduleError> {
        if self.weekly.is_empty() {
            return Err(ScheduleError::NoWindows);
        }
        match self
            .weekly
            .iter()
            .position(|w| w.days.is_empty() || w.start >= w.end)
        {
            Some(index) => Err(ScheduleError::EmptyWindow {
                index,
                start: self.weekly[index].start,
                end: self.weekly[index].end,
            }),
            None => Ok(()),
        }
    }

    /// Adds the fixed-date public holidays of `years` ([`vietnam_public_holidays`]).
    pub fn with_vietnam_holidays(mut self, years: impl IntoIterator<Item = i32>) -> Self {
        for year in years {
            self.holidays.extend(vietnam_public_holidays(year));
        }
        self.holidays.sort_unstable();
        self.holidays.dedup();
        self
    }

    /// Whether a call may start at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz).naive_local();
        self.windows_on(local.date())
            .any(|w| w.start <= local.time() && local.time() < w.end)
    }

    /// The first instant at or after `t` when a call may start (`t` itself if open);
    /// `None` if no window opens within 400 days (see [`CallWindows::check`]).
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(t) {
            return Some(t);
        }
        let local = t.with_timezone(&self.tz).naive_local();
        (0..=SEARCH_DAYS).find_map(|offset| {
            let day = local.date().checked_add_days(Days::new(offset))?;
            let earliest = if offset == 0 {
                local.time()
            } else {
                NaiveTime::MIN
            };
            let start = self
                .windows_on(day)
                .filter(|w| earliest < w.end)
                .map(|w| w.start.max(earliest))
                .min()?;
            self.resolve(day.and_time(start)).map(|at| at.max(t))
        })
    }

    /// When the window open at `t` closes (windows that touch or overlap count as
    /// one); `None` if `t` is outside every window.
    pub fn closes_at(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz).naive_local();
        let (day, now) = (local.date(), local.time());
        let mut end = self
            .windows_on(day)
            .filter(|w| w.start <= now && now < w.end)
            .map(|w| w.end)
            .max()?;
        while let Some(later) = self
            .windows_on(day)
            .filter(|w| w.start <= end && w.end > end)
            .map(|w| w.end)
            .max()
        {
            end = later;
        }
        self.resolve(day.and_time(end))
    }

    /// The usable windows on a local date: none on a holiday.
    fn windows_on(&self, day: NaiveDate) -> impl Iterator<Item = &WindowRule> {
        let holiday = self.holidays.contains(&day);
        let weekday = day.weekday();
        self.weekly
            .iter()
            .filter(move |w| !holiday && w.start < w.end && w.days.contains(&weekday))
    }

    /// Local wall-clock time → UTC. An ambiguous time (clocks going back) takes the
    /// earlier instant; a time skipped by clocks going forward moves to the first
    /// minute that exists. Vietnam has no daylight saving; other zones may.
    fn resolve(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        (0..=180).find_map(|minutes| {
            match self
                .tz
                .from_local_datetime(&(local + chrono::Duration::minutes(minutes)))
            {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    Some(t.with_timezone(&Utc))
                }
                LocalResult::None => None,
            }
        })
    }
}

/// Vietnam's fixed-date public holidays in `year` (Labour Code 2019, art. 112):
/// New Year 1/1, Reunification Day 30/4, Labour Day 1/5, National Day 2/9.
///
/// Not included, because they change every year and must be added to
/// [`CallWindows::holidays`] by hand: Tết Nguyên Đán (5 days around the lunar new
/// year) and the Hùng Kings' Commemoration (10th day of the 3rd lunar month), both
/// lunar; the second National Day holiday (1/9 or 3/9, decided each year); days off
/// in lieu when a holiday falls on a weekend; and bridge days swapped by decision
/// of the Prime Minister.
pub fn vietnam_public_holidays(year: i32) -> Vec<NaiveDate> {
    [(1, 1), (4, 30), (5, 1), (9, 2)]
        .into_iter()
        .filter_map(|(m, d)| NaiveDate::from_ymd_opt(year, m, d))
        .collect()
}

/// `NaiveTime` as `"HH:MM"` (seconds accepted and written only when non-zero).
/// `"24:00"` is the end of the day, so that a window can run to midnight
/// (windows are `[start, end)` and `NaiveTime` has no 24:00).
mod hhmm {
    use chrono::{NaiveTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// The last instant of a day, written and read as `24:00`.
    pub const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999) {
        Some(t) => t,
        None => panic!("a valid time"),
    };

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        if *t == END_OF_DAY {
            return s.serialize_str("24:00");
        }
        let fmt = if t.second() == 0 { "%H:%M" } else { "%H:%M:%S" };
        s.collect_str(&t.format(fmt))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        if text == "24:00" {
            return Ok(END_OF_DAY);
        }
        NaiveTime::parse_from_str(&text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M:%S"))
            .map_err(|_| D::Error::custom(format!("`{text}` is not a time of day like 07:30")))
    }
}
