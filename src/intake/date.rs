//! Dates as the one-stop systems export them, read as Vietnamese local time.
//!
//! Two shapes are accepted, told apart by whether the text starts with a 4-digit
//! year:
//! - day first, as Vietnamese one-stop systems and Excel in the `vi-VN` locale
//!   write them: `dd/mm/yyyy`, `d/m/yyyy`, optionally followed by `HH:MM` or
//!   `HH:MM:SS` (`-` and `.` are accepted as date separators too);
//! - ISO 8601 / RFC 3339: `yyyy-mm-dd`, `yyyy-mm-ddTHH:MM[:SS[.fff]]` (a space may
//!   replace the `T`), optionally with `Z` or an offset (`+07:00`, `+0700`, `+07`).
//!
//! Anything without an offset is local time in Asia/Ho_Chi_Minh, which is UTC+7
//! all year (Vietnam has kept no daylight saving time since 1975), so a fixed
//! offset is exact and no time-zone database is needed. A date alone is local
//! midnight. Results are in UTC, the store's form.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Asia/Ho_Chi_Minh's offset: UTC+7, no DST.
pub const VIETNAM_OFFSET_SECS: i32 = 7 * 3600;

/// Asia/Ho_Chi_Minh as a fixed offset.
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(VIETNAM_OFFSET_SECS).expect("+07:00 is a valid offset")
}

/// Parses `input` (see the module doc); `None` if it is not a date we accept.
pub fn parse(input: &str) -> Option<DateTime<Utc>> {
    let s = input.trim();
    let starts_with_year =
        s.len() > 4 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) && s.as_bytes()[4] == b'-';
    if starts_with_year {
        iso(s)
    } else {
        day_first(s)
    }
}

/// A local (UTC+7) wall-clock time as UTC.
pub fn local_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    (local - chrono::Duration::seconds(i64::from(VIETNAM_OFFSET_SECS))).and_utc()
}

/// `dd/mm/yyyy HH:MM` in Vietnam time, as the people fixing a file read dates.
pub fn display(t: DateTime<Utc>) -> String {
    t.with_timezone(&vietnam())
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// `dd/mm/yyyy[ HH:MM[:SS]]`.
fn day_first(s: &str) -> Option<DateTime<Utc>> {
    let (date, time) = match s.split_once(char::is_whitespace) {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let mut parts = date.split(['/', '-', '.']);
    let day = small_number(parts.next()?, 1..=2)?;
    let month = small_number(parts.next()?, 1..=2)?;
    let year_text = parts.next()?;
    if parts.next().is_some() || year_text.len() != 4 {
        return None;
    }
    let year = i32::try_from(small_number(year_text, 4..=4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = match time {
        Some(t) => clock_time(t)?,
        None => NaiveTime::MIN,
    };
    Some(local_to_utc(date.and_time(time)))
}

/// `yyyy-mm-dd[(T| )HH:MM[:SS[.f]][Z|±HH[:MM]]]`.
fn iso(s: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(local_to_utc(date.and_time(NaiveTime::MIN)));
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, offset) = split_offset(rest)?;
    let local = date.and_time(clock_time(time)?);
    Some(match offset {
        Some(offset) => {
            (local - chrono::Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
        None => local_to_utc(local),
    })
}

/// Splits `HH:MM:SS+07:00` into the clock time and its offset, if any.
fn split_offset(s: &str) -> Option<(&str, Option<FixedOffset>)> {
    if let Some(time) = s.strip_suffix(['Z', 'z']) {
        return Some((time, FixedOffset::east_opt(0)));
    }
    let Some(at) = s.rfind(['+', '-']) else {
        return Some((s, None));
    };
    let (time, offset) = s.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    let (hours, minutes) = match digits.len() {
        2 => (small_number(&digits, 2..=2)?, 0),
        4 => (
            small_number(&digits[..2], 2..=2)?,
            small_number(&digits[2..], 2..=2)?,
        ),
        _ => return None,
    };
    let secs = i32::try_from(hours * 3600 + minutes * 60).ok()?;
    Some((time, Some(FixedOffset::east_opt(sign * secs)?)))
}

/// `H:MM`, `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff`.
fn clock_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .ok()
}

/// An unsigned decimal of `digits` digits (no sign, no spaces).
fn small_number(s: &str, digits: std::ops::RangeInclusive<usize>) -> Option<u32> {
    if !digits.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn day_first_dates_are_local_midnight() {
        let want = utc("2024-03-04T00:00:00+07:00");
        assert_eq!(want, utc("2024-03-03T17:00:00Z"));
        for s in [
            "04/03/2024",
            "4/3/2024",
            " 04/3/2024 ",
            "04-03-2024",
            "04.03.2024",
        ] {
            assert_eq!(parse(s), Some(want), "{s}");
        }
    }

    #[test]
    fn day_first_with_time() {
        assert_eq!(
            parse("04/03/2024 08:30"),
            Some(utc("2024-03-04T08:30:00+07:00"))
        );
        assert_eq!(
            parse("4/3/2024 8:05:09"),
            Some(utc("2024-03-04T08:05:09+07:00"))
        );
    }

    #[test]
    fn iso_dates_and_datetimes() {
        assert_eq!(parse("2024-03-04"), Some(utc("2024-03-04T00:00:00+07:00")));
        assert_eq!(
            parse("2024-03-04T08:30:00"),
            Some(utc("2024-03-04T08:30:00+07:00"))
        );
        assert_eq!(
            parse("2024-03-04 08:30"),
            Some(utc("2024-03-04T08:30:00+07:00"))
        );
        assert_eq!(
            parse("2024-03-04T08:30:00Z"),
            Some(utc("2024-03-04T08:30:00Z"))
        );
        assert_eq!(
            parse("2024-03-04T08:30:00.250+0200"),
            Some(utc("2024-03-04T06:30:00.250Z"))
        );
        assert_eq!(
            parse("2024-03-04T08:30:00-05:00"),
            Some(utc("2024-03-04T13:30:00Z"))
        );
        assert_eq!(
            parse("2024-03-04T08:30+07"),
            Some(utc("2024-03-04T01:30:00Z"))
        );
    }

    #[test]
    fn displays_in_vietnam_time() {
        assert_eq!(display(utc("2024-03-03T17:00:00Z")), "04/03/2024 00:00");
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        for s in [
            "",
            "31/02/2024",
            "13/13/2024",
            "04/03/24",
            "2024/03/04",
            "03/04",
            "04/03/2024 25:00",
            "04/03/2024 8h30",
            "2024-03-04T",
            "2024-03-04X08:00",
            "2024-03-04T08:00+7:00:00",
            "hôm qua",
            "45354",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }
}
