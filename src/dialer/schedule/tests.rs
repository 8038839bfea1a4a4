//! Windows and retries on a fixed clock: every instant is built from local wall-clock
//! time in Đồng Tháp (UTC+7 all year).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::call::disposition::Disposition;

/// Local time in Asia/Ho_Chi_Minh as a UTC instant.
fn vn(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Ho_Chi_Minh
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

// 30 June 2025 is a Monday.

#[test]
fn windows_open_and_close_on_the_minute() {
    let w = CallWindows::default();
    let sec = chrono::Duration::seconds(1);
    assert!(!w.is_open(vn(2025, 6, 30, 7, 30) - sec));
    assert!(w.is_open(vn(2025, 6, 30, 7, 30)));
    assert!(w.is_open(vn(2025, 6, 30, 11, 30) - sec));
    assert!(!w.is_open(vn(2025, 6, 30, 11, 30)), "lunch break");
    assert!(!w.is_open(vn(2025, 6, 30, 12, 45)), "lunch break");
    assert!(w.is_open(vn(2025, 6, 30, 13, 30)));
    assert!(w.is_open(vn(2025, 6, 30, 17, 0) - sec));
    assert!(!w.is_open(vn(2025, 6, 30, 17, 0)));
    assert!(!w.is_open(vn(2025, 6, 28, 9, 0)), "Saturday");
    assert!(!w.is_open(vn(2025, 6, 29, 9, 0)), "Sunday");
    assert!(w.is_open(vn(2025, 7, 4, 16, 0)), "Friday");
}

#[test]
fn next_open_is_the_start_of_the_next_window() {
    let w = CallWindows::default();
    let open = vn(2025, 6, 30, 9, 17);
    assert_eq!(w.next_open(open), Some(open), "already open: now");
    assert_eq!(
        w.next_open(vn(2025, 6, 30, 6, 0)),
        Some(vn(2025, 6, 30, 7, 30))
    );
    assert_eq!(
        w.next_open(vn(2025, 6, 30, 11, 30)),
        Some(vn(2025, 6, 30, 13, 30))
    );
    assert_eq!(
        w.next_open(vn(2025, 6, 30, 17, 0)),
        Some(vn(2025, 7, 1, 7, 30))
    );
    assert_eq!(
        w.next_open(vn(2025, 7, 4, 17, 5)),
        Some(vn(2025, 7, 7, 7, 30)),
        "Fri → Mon"
    );
    assert_eq!(
        w.next_open(vn(2025, 7, 5, 10, 0)),
        Some(vn(2025, 7, 7, 7, 30)),
        "Sat → Mon"
    );
}

#[test]
fn the_local_day_counts_not_the_utc_day() {
    let w = CallWindows::default();
    // Sunday 23:00 UTC is Monday 06:00 in Vietnam.
    let t = Utc.with_ymd_and_hms(2025, 6, 29, 23, 0, 0).unwrap();
    assert_eq!(w.next_open(t), Some(vn(2025, 6, 30, 7, 30)));
    // Monday 01:00 UTC is Monday 08:00 local: open.
    assert!(w.is_open(Utc.with_ymd_and_hms(2025, 6, 30, 1, 0, 0).unwrap()));
}

#[test]
fn vietnam_keeps_one_offset_all_year() {
    let w = CallWindows::default();
    for month in 1..=12 {
        let t = vn(2025, month, 15, 7, 30);
        assert_eq!(t.format("%H:%M").to_string(), "00:30", "month {month}");
    }
    // 2 January 2025 (Thursday) 00:30 UTC opens the day, as in July.
    assert!(w.is_open(Utc.with_ymd_and_hms(2025, 1, 2, 0, 30, 0).unwrap()));
    assert!(!w.is_open(Utc.with_ymd_and_hms(2025, 1, 2, 0, 29, 0).unwrap()));
}

#[test]
fn holidays_are_closed_all_day() {
    let w = CallWindows::default().with_vietnam_holidays([2025]);
    // 30/4 (Wednesday) and 1/5 (Thursday) 2025.
    assert!(!w.is_open(vn(2025, 4, 30, 9, 0)));
    assert_eq!(
        w.next_open(vn(2025, 4, 29, 17, 0)),
        Some(vn(2025, 5, 2, 7, 30))
    );
    // 1 January 2025 is a Wednesday.
    assert!(!w.is_open(vn(2025, 1, 1, 9, 0)));
    // The second National Day holiday is entered by hand: 1/9/2025 (Monday).
    let mut w = w;
    w.holidays.push(date(2025, 9, 1));
    assert_eq!(
        w.next_open(vn(2025, 8, 29, 17, 0)),
        Some(vn(2025, 9, 3, 7, 30))
    );
}

#[test]
fn fixed_public_holidays() {
    assert_eq!(
        vietnam_public_holidays(2026),
        [
            date(2026, 1, 1),
            date(2026, 4, 30),
            date(2026, 5, 1),
            date(2026, 9, 2)
        ]
    );
}

#[test]
fn closes_at_the_end_of_the_window_in_progress() {
    let w = CallWindows::default();
    assert_eq!(
        w.closes_at(vn(2025, 6, 30, 10, 0)),
        Some(vn(2025, 6, 30, 11, 30))
    );
    assert_eq!(
        w.closes_at(vn(2025, 6, 30, 14, 0)),
        Some(vn(2025, 6, 30, 17, 0))
    );
    assert_eq!(w.closes_at(vn(2025, 6, 30, 12, 0)), None);
    assert_eq!(w.closes_at(vn(2025, 6, 28, 10, 0)), None, "Saturday");
    // Touching windows are one.
    let hm = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    let touching = CallWindows {
        weekly: vec![
            WindowRule {
                days: vec![Weekday::Mon],
                start: hm(8),
                end: hm(10),
            },
            WindowRule {
                days: vec![Weekday::Mon],
                start: hm(10),
                end: hm(12),
            },
        ],
        ..CallWindows::default()
    };
    assert_eq!(
        touching.closes_at(vn(2025, 6, 30, 9, 0)),
        Some(vn(2025, 6, 30, 12, 0))
    );
}

#[test]
fn a_window_starting_in_a_dst_gap_opens_when_the_clock_exists() {
    // Europe/Paris skipped 02:00–03:00 on Sunday 30 March 2025.
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let w = CallWindows {
        tz: chrono_tz::Europe::Paris,
        weekly: vec![WindowRule {
            days: vec![Weekday::Sun],
            start: hm(2, 30),
            end: hm(4, 0),
        }],
        holidays: vec![],
    };
    let saturday = Utc.with_ymd_and_hms(2025, 3, 29, 12, 0, 0).unwrap();
    // 03:00 CEST = 01:00 UTC.
    assert_eq!(
        w.next_open(saturday),
        Some(Utc.with_ymd_and_hms(2025, 3, 30, 1, 0, 0).unwrap())
    );
}

#[test]
fn windows_deserialise_from_configuration_and_are_checked() {
    let json =
        r#"{"weekly":[{"days":["Sat"],"start":"08:00","end":"11:00"}],"holidays":["2025-09-01"]}"#;
    let w: CallWindows = serde_json::from_str(json).unwrap();
    assert_eq!(w.tz, chrono_tz::Asia::Ho_Chi_Minh, "default zone");
    assert!(w.is_open(vn(2025, 7, 5, 8, 0)));
    assert!(!w.is_open(vn(2025, 7, 7, 8, 0)));
    assert_eq!(w.check(), Ok(()));
    let text = serde_json::to_string(&CallWindows::default()).unwrap();
    assert!(text.contains(r#""start":"07:30""#), "{text}");
    assert!(text.contains("Asia/Ho_Chi_Minh"), "{text}");
    assert_eq!(
        serde_json::from_str::<CallWindows>(&text).unwrap(),
        CallWindows::default()
    );
    assert!(
        serde_json::from_str::<CallWindows>(
            r#"{"weekly":[{"days":["Mon"],"start":"7h30","end":"11:00"}]}"#
        )
        .is_err()
    );

    let none = CallWindows {
        weekly: vec![],
        ..CallWindows::default()
    };
    assert_eq!(none.check(), Err(ScheduleError::NoWindows));
    assert_eq!(none.next_open(vn(2025, 6, 30, 9, 0)), None);
    let mut backwards = CallWindows::default();
    backwards.weekly[1].end = backwards.weekly[1].start;
    assert!(matches!(
        backwards.check(),
        Err(ScheduleError::EmptyWindow { index: 1, .. })
    ));
}

// ── Retries ────────────────────────────────────────────────────────────────

/// A policy that allows several attempts a day, to test the delays alone.
fn same_day() -> RetryPolicy {
    RetryPolicy {
        per_day: 10,
        min_days: 1,
        ..RetryPolicy::default()
    }
}

/// `attempts` attempts, all started at `now` (the last one ends then).
fn next_with(p: &RetryPolicy, d: Disposition, attempts: u32, now: DateTime<Utc>) -> Next {
    let history = History {
        started: vec![now; attempts as usize],
        soft_refusals: 0,
    };
    let last = Ended {
        disposition: d,
        soft_refusal: false,
        at: now,
    };
    p.next_attempt(last, &history, &CallWindows::default())
}

fn next(d: Disposition, attempts: u32, now: DateTime<Utc>) -> Next {
    next_with(&same_day(), d, attempts, now)
}

fn retry_at(at: DateTime<Utc>) -> Next {
    Next::Retry { at }
}

#[test]
fn retries_wait_the_delay_for_the_disposition() {
    let t = vn(2025, 6, 30, 9, 0);
    assert_eq!(
        next(Disposition::Busy, 1, t),
        retry_at(vn(2025, 6, 30, 9, 30))
    );
    assert_eq!(
        next(Disposition::NoAnswer, 1, t),
        retry_at(vn(2025, 6, 30, 11, 0))
    );
    assert_eq!(
        next(Disposition::Failed, 1, t),
        retry_at(vn(2025, 6, 30, 9, 10))
    );
    for d in [
        Disposition::NoInput,
        Disposition::Answered,
        Disposition::Interrupted,
    ] {
        assert_eq!(next(d, 1, t), retry_at(vn(2025, 6, 30, 11, 0)), "{d:?}");
    }
}

#[test]
fn retries_land_inside_a_window() {
    // 16:00 + 2 h = 18:00 → next morning.
    assert_eq!(
        next(Disposition::NoAnswer, 1, vn(2025, 6, 30, 16, 0)),
        retry_at(vn(2025, 7, 1, 7, 30))
    );
    // 11:25 + 10 min falls in the lunch break.
    assert_eq!(
        next(Disposition::Failed, 2, vn(2025, 6, 30, 11, 25)),
        retry_at(vn(2025, 6, 30, 13, 30))
    );
    // Friday afternoon → Monday.
    assert_eq!(
        next(Disposition::Busy, 1, vn(2025, 7, 4, 16, 45)),
        retry_at(vn(2025, 7, 7, 7, 30))
    );
}

#[test]
fn some_dispositions_are_final() {
    let t = vn(2025, 6, 30, 9, 0);
    for (d, reason) in [
        (Disposition::Completed, FinalReason::Completed),
        (Disposition::Declined, FinalReason::Declined),
        (Disposition::DoNotCall, FinalReason::DoNotCall),
        (Disposition::Rejected, FinalReason::Rejected),
    ] {
        assert_eq!(next(d, 1, t), Next::Final { reason }, "{d:?}");
        assert_eq!(
            next_with(&RetryPolicy::default(), d, 1, t),
            Next::Final { reason },
            "{d:?}"
        );
    }
}

#[test]
fn attempts_stop_at_the_maximum() {
    let t = vn(2025, 6, 30, 9, 0);
    assert!(matches!(next(Disposition::Busy, 2, t), Next::Retry { .. }));
    let max = Next::Final {
        reason: FinalReason::MaxAttempts,
    };
    assert_eq!(next(Disposition::Busy, 3, t), max);
    assert_eq!(next(Disposition::Failed, 7, t), max);
    let none = CallWindows {
        weekly: vec![],
        ..CallWindows::default()
    };
    let last = Ended {
        disposition: Disposition::Busy,
        soft_refusal: false,
        at: t,
    };
    assert_eq!(
        RetryPolicy::default().next_attempt(
            last,
            &History {
                started: vec![t],
                soft_refusals: 0
            },
            &none
        ),
        Next::Final {
            reason: FinalReason::NoWindow
        }
    );
}

/// Issue 15 on a simulated clock: by default one attempt per citizen per day,
/// three attempts on three different days, always inside the windows. A busy
/// line at 09:00 is not dialled again at 09:30 but the next working morning.
#[test]
fn by_default_one_attempt_a_day_over_three_days() {
    let p = RetryPolicy::default();
    let w = CallWindows::default();
    let mut history = History::default();
    let mut at = vn(2025, 7, 3, 9, 0); // a Thursday
    let mut dialled = Vec::new();
    loop {
        history.started.push(at);
        dialled.push(at);
        let last = Ended {
            disposition: Disposition::Busy,
            soft_refusal: false,
            at: at + chrono::Duration::seconds(20),
        };
        match p.next_attempt(last, &history, &w) {
            Next::Retry { at: next } => {
                assert!(w.is_open(next), "{next} outside the windows");
                at = next;
            }
            Next::Final { reason } => {
                assert_eq!(reason, FinalReason::MaxAttempts);
                break;
            }
        }
    }
    assert_eq!(
        dialled,
        [
            vn(2025, 7, 3, 9, 0),
            vn(2025, 7, 4, 7, 30),
            vn(2025, 7, 7, 7, 30), // the weekend has no window
        ]
    );
}

#[test]
fn several_a_day_still_spread_over_the_minimum_of_days() {
    // Two a day allowed, three attempts over at least two days: the second
    // attempt may be the same day, the third must then move.
    let p = RetryPolicy {
        per_day: 2,
        min_days: 2,
        ..RetryPolicy::default()
    };
    let t = vn(2025, 6, 30, 9, 0);
    assert_eq!(
        next_with(&p, Disposition::Busy, 1, t),
        retry_at(vn(2025, 6, 30, 9, 30))
    );
    assert_eq!(
        next_with(&p, Disposition::Busy, 2, vn(2025, 6, 30, 9, 30)),
        retry_at(vn(2025, 7, 1, 7, 30))
    );
    // Three days for three attempts: each retry moves, even with 5 a day.
    let p = RetryPolicy {
        per_day: 5,
        min_days: 3,
        ..RetryPolicy::default()
    };
    assert_eq!(
        next_with(&p, Disposition::Busy, 1, t),
        retry_at(vn(2025, 7, 1, 7, 30))
    );
}

/// A hang-up before consent: one more try on another day, then final.
#[test]
fn a_hang_up_before_consent_is_tried_once_more_on_another_day() {
    let p = same_day(); // even a policy allowing same-day retries moves it
    let t = vn(2025, 6, 30, 9, 0);
    let refused = |n| {
        p.next_attempt(
            Ended {
                disposition: Disposition::NoInput,
                soft_refusal: true,
                at: t,
            },
            &History {
                started: vec![t; n as usize],
                soft_refusals: n,
            },
            &CallWindows::default(),
        )
    };
    assert_eq!(refused(1), retry_at(vn(2025, 7, 1, 7, 30)));
    assert_eq!(
        refused(2),
        Next::Final {
            reason: FinalReason::Refused
        }
    );
}

#[test]
fn the_policy_is_configured_in_minutes() {
    let p: RetryPolicy = serde_json::from_str(r#"{"busy":15,"max_attempts":5}"#).unwrap();
    assert_eq!(p.busy, std::time::Duration::from_secs(15 * 60));
    assert_eq!(p.no_answer, RetryPolicy::default().no_answer);
    assert_eq!(p.max_attempts, 5);
    assert_eq!((p.per_day, p.min_days, p.soft_refusals), (1, 3, 1));
    let text = serde_json::to_string(&RetryPolicy::default()).unwrap();
    assert_eq!(
        text,
        r#"{"busy":30,"no_answer":120,"failed":10,"no_input":120,"max_attempts":3,"per_day":1,"min_days":3,"soft_refusals":1,"same_number_days":7}"#
    );
}

/// "24:00" ends a window at midnight: the last minute of the day is open
/// (a window ending "23:59" left it closed), and it reads back as "24:00".
#[test]
fn a_window_can_run_to_midnight() {
    let w: CallWindows = serde_json::from_value(serde_json::json!({
        "weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "00:00", "end": "24:00"}]
    }))
    .unwrap();
    assert!(w.is_open(vn(2026, 11, 23, 23, 59)));
    assert!(w.is_open(vn(2026, 11, 24, 0, 0)));
    let back = serde_json::to_value(&w).unwrap();
    assert_eq!(back["weekly"][0]["end"], "24:00");
    assert!(
        serde_json::from_value::<CallWindows>(serde_json::json!({
            "weekly": [{"days": ["Mon"], "start": "07:00", "end": "24:01"}]
        }))
        .is_err()
    );
}
