//! What a report covers ([`ReportFilter`]), how its rows are grouped
//! ([`Dimension`]), and the reporting month on the province's calendar.
//!
//! The unit list is also how a supervisor's scope is enforced: the caller puts
//! in the units the user may see (already expanded to their descendants), and
//! [`ReportFilter::restrict_to`] narrows a user's own choice to that scope.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use serde::{Deserialize, Serialize};

use crate::store::UnitRecord;

/// Which calls a report counts. Every field narrows; `Default` is everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportFilter {
    /// Calls started at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Calls started before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Units allowed (dossier's unit), already expanded to descendants. `Some`
    /// of an empty list matches nothing: an empty scope must never mean "all".
    pub units: Option<Vec<String>>,
    /// `province`, `district` or `commune`.
    pub level: Option<String>,
    pub field: Option<String>,
    pub campaign: Option<String>,
    /// A call disposition (`completed`, `no_answer`, …).
    pub disposition: Option<String>,
    /// Q4 score at least this (1..=10).
    pub score_min: Option<u8>,
    /// Q4 score at most this (1..=10).
    pub score_max: Option<u8>,
    /// Q1 answered "satisfied" (true) or answered otherwise (false).
    pub satisfied: Option<bool>,
    /// Q3 (complaint) given (true) or not (false).
    pub has_complaint: Option<bool>,
    /// Calls an operator (by operator id) took part in.
    #[serde(default)]
    pub operator: Option<String>,
}

/// A filter that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("score must be between 1 and 10, got {0}")]
    ScoreOutOfRange(u8),
    #[error("score_min {min} is above score_max {max}")]
    ScoreRange { min: u8, max: u8 },
    #[error("period is empty: from {from} is not before to {to}")]
    EmptyPeriod {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("level must be province, district or commune, got {0:?}")]
    Level(String),
    #[error("month must look like 2026-10, got {0:?}")]
    Month(String),
    #[error("unknown report grouping {0:?}: use total, unit, level, field, month, day or campaign")]
    Dimension(String),
    #[error(
        "{0} describes calls, not dossiers: use it on the attempts report (/api/v1/reports), \
         not on the dossier coverage"
    )]
    NotPerDossier(&'static str),
}

impl ReportFilter {
    /// Checks ranges and names before any SQL runs.
    pub fn validate(&self) -> Result<(), FilterError> {
        for s in [self.score_min, self.score_max].into_iter().flatten() {
            if !(1..=10).contains(&s) {
                return Err(FilterError::ScoreOutOfRange(s));
            }
        }
        if let (Some(min), Some(max)) = (self.score_min, self.score_max)
            && min > max
        {
            return Err(FilterError::ScoreRange { min, max });
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(FilterError::EmptyPeriod { from, to });
        }
        if let Some(l) = &self.level
            && !matches!(l.as_str(), "province" | "district" | "commune")
        {
            return Err(FilterError::Level(l.clone()));
        }
        Ok(())
    }

    /// Narrows the unit list to `scope` (a supervisor's units): the units
    /// asked for that are in scope, or the whole scope when none were asked.
    pub fn restrict_to(mut self, scope: &[String]) -> ReportFilter {
        self.units = Some(match self.units.take() {
            Some(asked) => asked.into_iter().filter(|u| scope.contains(u)).collect(),
            None => scope.to_vec(),
        });
        self
    }

    /// The Q4 scores the score range allows, or `None` when it allows all.
    pub(crate) fn scores(&self) -> Option<Vec<u8>> {
        if self.score_min.is_none() && self.score_max.is_none() {
            return None;
        }
        let (min, max) = (self.score_min.unwrap_or(1), self.score_max.unwrap_or(10));
        Some((min..=max).collect())
    }

    /// Whether a filter on the survey's answers (not only on the call) is set.
    pub(crate) fn filters_answers(&self) -> bool {
        self.scores().is_some() || self.satisfied.is_some() || self.has_complaint.is_some()
    }
}

/// `code` and every unit under it, from the units table (parents linked by
/// `parent`). An unknown code gives just itself, which then matches nothing.
pub fn with_descendants(units: &[UnitRecord], code: &str) -> Vec<String> {
    let mut out = vec![code.to_owned()];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].clone();
        out.extend(
            units
                .iter()
                .filter(|u| u.parent.as_deref() == Some(parent.as_str()))
                .map(|u| u.code.clone()),
        );
        i += 1;
    }
    out
}

/// How the rows of a report table are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    /// One row for everything.
    Total,
    /// The dossier's unit (one-stop desk).
    Unit,
    /// The unit's level (province, district, commune).
    Level,
    /// The dossier's field (lĩnh vực).
    Field,
    /// The call's month on the Asia/Ho_Chi_Minh calendar, `YYYY-MM`.
    Month,
    /// The call's day on the Asia/Ho_Chi_Minh calendar, `YYYY-MM-DD` (the
    /// dashboard's calls-per-day chart).
    Day,
    Campaign,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Dimension::Total,
        Dimension::Unit,
        Dimension::Level,
        Dimension::Field,
        Dimension::Month,
        Dimension::Day,
        Dimension::Campaign,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Total => "total",
            Dimension::Unit => "unit",
            Dimension::Level => "level",
            Dimension::Field => "field",
            Dimension::Month => "month",
            Dimension::Day => "day",
            Dimension::Campaign => "campaign",
        }
    }

    pub fn parse(s: &str) -> Result<Dimension, FilterError> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| FilterError::Dimension(s.to_owned()))
    }

    /// The Vietnamese heading of the grouping column.
    pub fn heading(self) -> &'static str {
        match self {
            Dimension::Total => "Tổng hợp",
            Dimension::Unit => "Đơn vị",
            Dimension::Level => "Cấp",
            Dimension::Field => "Lĩnh vực",
            Dimension::Month => "Tháng",
            Dimension::Day => "Ngày",
            Dimension::Campaign => "Đợt khảo sát",
        }
    }
}

/// A calendar month in Asia/Ho_Chi_Minh, the province's reporting month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Month {
    pub year: i32,
    /// 1..=12.
    pub month: u32,
}

impl Month {
    /// Parses `2026-10`.
    pub fn parse(s: &str) -> Result<Month, FilterError> {
        let bad = || FilterError::Month(s.to_owned());
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        Ok(Month { year, month })
    }

    /// `[first instant, first instant of the next month)` in UTC.
    pub fn period(self) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        };
        (self.start(), next.start())
    }

    fn start(self) -> DateTime<Utc> {
        let day = NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("validated month");
        Ho_Chi_Minh
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
            .single()
            .expect("Asia/Ho_Chi_Minh has no DST gap at midnight")
            .with_timezone(&Utc)
    }

    /// The month `t` falls in, on the province's calendar.
    pub fn of(t: DateTime<Utc>) -> Month {
        let local = t.with_timezone(&Ho_Chi_Minh);
        Month {
            year: local.year(),
            month: local.month(),
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_period_is_local_midnight() {
        let m = Month::parse("2026-12").unwrap();
        let (from, to) = m.period();
        assert_eq!(from.to_rfc3339(), "2026-11-30T17:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-12-31T17:00:00+00:00");
        assert_eq!(Month::of(from), m);
        assert_eq!(Month::of(to - chrono::Duration::milliseconds(1)), m);
        assert_eq!(m.to_string(), "2026-12");
        assert!(Month::parse("2026-13").is_err());
        assert!(Month::parse("october").is_err());
    }

    #[test]
    fn validation_catches_bad_ranges() {
        let f = |min, max| ReportFilter {
            score_min: min,
            score_max: max,
            ..Default::default()
        };
        assert_eq!(
            f(Some(0), None).validate(),
            Err(FilterError::ScoreOutOfRange(0))
        );
        assert_eq!(
            f(Some(8), Some(3)).validate(),
            Err(FilterError::ScoreRange { min: 8, max: 3 })
        );
        assert_eq!(f(Some(8), None).scores(), Some(vec![8, 9, 10]));
        assert_eq!(f(None, None).scores(), None);
        let lvl = ReportFilter {
            level: Some("ward".into()),
            ..Default::default()
        };
        assert!(lvl.validate().is_err());
    }

    #[test]
    fn scope_narrows_the_asked_units() {
        let scope = vec!["a".to_string(), "a1".to_string()];
        let all = ReportFilter::default().restrict_to(&scope);
        assert_eq!(all.units, Some(scope.clone()));
        let asked = ReportFilter {
            units: Some(vec!["a1".into(), "b".into()]),
            ..Default::default()
        };
        assert_eq!(asked.restrict_to(&scope).units, Some(vec!["a1".into()]));
    }

    #[test]
    fn descendants_follow_parents() {
        let u = |code: &str, parent: Option<&str>| UnitRecord {
            code: code.into(),
            name: code.into(),
            level: "commune".into(),
            parent: parent.map(Into::into),
        };
        let units = vec![
            u("p", None),
            u("d1", Some("p")),
            u("d2", Some("p")),
            u("c1", Some("d1")),
        ];
        assert_eq!(with_descendants(&units, "d1"), vec!["d1", "c1"]);
        assert_eq!(with_descendants(&units, "p").len(), 4);
        assert_eq!(with_descendants(&units, "zz"), vec!["zz"]);
    }
}
