//! The dashboard: satisfaction rate, the /10 score distribution, Q2 reasons,
//! response rate, calls per day and a per-unit table, for a period and a
//! unit, with bar charts drawn as inline SVG on the server (no chart library,
//! no script), and the report exports of the same filters.
//!
//! The first card counts dossiers (the survey's cases): returned in the
//! period → sampled → complete, RR1, and satisfaction and score weighted by
//! unit, each with its n, 95 % interval and a small-cell mark
//! ([`report::coverage`]). The call figures below it count attempts.
//!
//! Every figure comes from the reports module ([`report::table`]), which
//! counts in SQL over the latest revision of each answer: the page shows the
//! same numbers as `/api/v1/reports` and the XLSX it links to, whatever the
//! size of the period. The shaping below is pure and unit-tested.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::filters::{percent, vn_day};
use super::links::Exports;
use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::reports::{ReportParams, coverage_settings, filter_from_params};
use crate::http::{ApiError, AppState};
use crate::report::{
    self, CoverageRow, Dimension, Estimate, Month, Q2_LABELS, ReportRow, ReportTable, Stats,
};
use crate::store::UnitRecord;

/// Days the calls-per-day chart fills in (empty days as zero bars); a longer
/// period shows only the days that had calls.
const MAX_FILLED_DAYS: i64 = 400;

/// The filter form as the browser sends it; blank fields are no filter.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DashQuery {
    from: String,
    to: String,
    unit: String,
}

/// `GET /`: the last 30 days of every unit in scope unless chosen otherwise.
pub async fn page(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Query(q): Query<DashQuery>,
) -> Result<axum::response::Response, PageError> {
    // Operators work at their desk, not on the results.
    if !p.role.can(Permission::ReadResults) && p.role.can(Permission::OperateCalls) {
        return Ok(crate::http::web_redirect(super::operator::PATH));
    }
    p.require(Permission::ReadResults)?;
    let today = Utc::now();
    let from = non_empty(&q.from).unwrap_or_else(|| vn_day(today - Duration::days(29)));
    let to = non_empty(&q.to).unwrap_or_else(|| vn_day(today + Duration::days(1)));
    let unit = non_empty(&q.unit);
    let params = ReportParams {
        from: Some(from.clone()),
        to: Some(to.clone()),
        unit: unit.clone(),
        ..ReportParams::default()
    };
    let scope = p.scope.unit_codes();
    let filter = filter_from_params(&s, &params, scope.as_deref()).await?;
    let table = |by| report::table(&s.store, &filter, by);
    let total = table(Dimension::Total).await.map_err(ApiError::from)?;
    let days = table(Dimension::Day).await.map_err(ApiError::from)?;
    let by_unit = table(Dimension::Unit).await.map_err(ApiError::from)?;
    let units: Vec<UnitRecord> = s
        .store
        .units()
        .await?
        .into_iter()
        .filter(|u| p.scope.allows(Some(&u.code)))
        .collect();
    let cases = report::coverage(&s.store, &filter, Dimension::Unit, &coverage_settings(&s))
        .await
        .map_err(ApiError::from)?;
    let mut ctx = view(&total.total, &days, &by_unit, &units, (&from, &to));
    let case_rows = cases.rows.iter().chain([&cases.total]);
    ctx["cases"] = json!(case_rows.map(case_view).collect::<Vec<_>>());
    ctx["min_responses"] = json!(cases.min_responses);
    let filters = [("from", from.as_str()), ("to", to.as_str())]
        .into_iter()
        .chain(unit.as_deref().map(|u| ("unit", u)));
    ctx["exports"] = json!(Exports::new(filters));
    ctx["month"] = json!(Month::of(today).to_string());
    ctx["from"] = json!(from);
    ctx["to"] = json!(to);
    ctx["unit"] = json!(unit.unwrap_or_default());
    ctx["unit_choices"] = json!(units);
    render::page("dashboard.html", &p, "dashboard", ctx).map(IntoResponse::into_response)
}

/// The template's figures: the period's total, its score and Q2 charts, the
/// days and the units.
pub fn view(
    total: &ReportRow,
    days: &ReportTable,
    by_unit: &ReportTable,
    units: &[UnitRecord],
    period: (&str, &str),
) -> Value {
    json!({
        "total": row_view(total, None),
        "scores": score_bars(&total.stats),
        "reasons": reason_bars(&total.stats),
        "days": day_bars(days, period),
        "units": by_unit.rows.iter().map(|r| row_view(r, Some(units))).collect::<Vec<_>>(),
    })
}

/// A report row as the KPI boxes and the unit table show it.
fn row_view(r: &ReportRow, units: Option<&[UnitRecord]>) -> Value {
    let s = &r.stats;
    let rate = |x: Option<f64>| percent(x.unwrap_or(f64::NAN));
    let level = units
        .zip(r.key.as_deref())
        .and_then(|(units, code)| units.iter().find(|u| u.code == code))
        .map(|u| u.level.clone())
        .unwrap_or_default();
    json!({
        "code": r.key, "name": r.label, "level": level,
        "dialled": s.dialled, "answered": s.answered, "q1_answered": s.q1_answered(),
        "satisfied": s.q1[0], "scores": s.q4_answered(), "complaints": s.complaints,
        "suggestions": s.suggestions,
        "satisfaction": rate(r.rates.satisfaction),
        "satisfaction_bar": ratio_bar(r.rates.satisfaction),
        "response_rate": rate(r.rates.response),
        "average_score": r.rates.score_average
            .map_or_else(|| "–".to_string(), |a| format!("{a:.1}").replace('.', ",")),
    })
}

/// A dossier coverage row as the cases card shows it: each estimate as
/// value, n and 95 % interval, and whether the cell is small.
fn case_view(r: &CoverageRow) -> Value {
    let rate = |e: &Estimate| {
        json!({
            "value": percent(e.value.unwrap_or(f64::NAN)),
            "n": e.n,
            "ci": e.ci95.map_or_else(String::new, |c| {
                format!("{} – {}", percent(c.low), percent(c.high))
            }),
            "small": e.small,
        })
    };
    let decimal = |x: f64| format!("{x:.1}").replace('.', ",");
    let score = &r.score;
    json!({
        "code": r.key, "name": r.label, "level": r.level.clone().unwrap_or_default(),
        "frame": r.counts.frame, "sampled": r.counts.sampled, "attempts": r.counts.attempts,
        "reached": r.counts.reached, "complete": r.counts.complete,
        "response_rate": rate(&r.response_rate),
        "satisfaction": rate(&r.satisfaction),
        "score": {
            "value": score.value.map_or_else(|| "–".to_string(), decimal),
            "n": score.n,
            "ci": score.ci95.map_or_else(String::new, |c| {
                format!("{} – {}", decimal(c.low), decimal(c.high))
            }),
            "small": score.small,
        },
    })
}

/// Count of each score 1..=10, with its bar's height in percent of the tallest.
fn score_bars(s: &Stats) -> Vec<Value> {
    let max = s.q4.iter().copied().max().unwrap_or(0);
    (1..)
        .zip(s.q4)
        .map(|(score, n)| json!({ "score": score, "count": n, "height": bar(n, max) }))
        .collect()
}

/// Q2 "what satisfied you most": each reason's count and share of the Q2 answers.
fn reason_bars(s: &Stats) -> Vec<Value> {
    let answered: u64 = s.q2.iter().sum();
    Q2_LABELS
        .iter()
        .zip(s.q2)
        .map(|(label, n)| {
            let share = (answered > 0).then(|| n as f64 / answered as f64);
            json!({ "label": label, "count": n, "share": percent(share.unwrap_or(f64::NAN)),
                    "bar": ratio_bar(share) })
        })
        .collect()
}

/// Calls and answered calls per day, every day of the period when it is a
/// range of calendar days (a gap in the chart is a day without calls).
fn day_bars(t: &ReportTable, (from, to): (&str, &str)) -> Vec<Value> {
    let counts = |day: &str| {
        t.rows
            .iter()
            .find(|r| r.key.as_deref() == Some(day))
            .map_or((0, 0), |r| (r.stats.dialled, r.stats.answered))
    };
    let keys: Vec<String> = match (day(from), day(to)) {
        (Some(a), Some(b)) if (b - a).num_days() <= MAX_FILLED_DAYS => a
            .iter_days()
            .take_while(|d| *d < b)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect(),
        _ => t.rows.iter().filter_map(|r| r.key.clone()).collect(),
    };
    let max = keys.iter().map(|k| counts(k).0).max().unwrap_or(0);
    keys.iter()
        .map(|k| {
            let (dialled, answered) = counts(k);
            let label = day(k).map_or_else(|| k.clone(), |d| d.format("%d/%m").to_string());
            json!({
                "day": k, "label": label, "dialled": dialled, "answered": answered,
                "height": bar(dialled, max), "answered_height": bar(answered, max),
            })
        })
        .collect()
}

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A bar's height in percent of the tallest.
fn bar(n: u64, max: u64) -> u64 {
    (n * 100).div_ceil(max.max(1))
}

/// A ratio as a bar width in percent (0 when undefined).
fn ratio_bar(r: Option<f64>) -> u64 {
    r.filter(|r| r.is_finite())
        .map_or(0, |r| (r * 100.0).round().clamp(0.0, 100.0) as u64)
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, stats: Stats) -> ReportRow {
        ReportRow {
            key: Some(key.into()),
            label: format!("Đơn vị {key}"),
            rates: stats.rates(),
            stats,
        }
    }

    fn table(by: Dimension, rows: Vec<ReportRow>) -> ReportTable {
        let total = rows
            .first()
            .cloned()
            .unwrap_or_else(|| row("", Stats::default()));
        ReportTable { by, rows, total }
    }

    fn sample() -> Stats {
        Stats {
            dialled: 5,
            answered: 4,
            surveyed: 4,
            q1: [2, 1, 1],
            q2: [3, 1, 0, 0, 0],
            q4: [0, 0, 0, 1, 0, 0, 0, 0, 1, 1],
            complaints: 1,
            suggestions: 0,
        }
    }

    #[test]
    fn rates_scores_and_reasons() {
        let total = row("", sample());
        let units = [UnitRecord {
            code: "A".into(),
            name: "Đơn vị A".into(),
            level: "district".into(),
            parent: None,
        }];
        let by_unit = table(Dimension::Unit, vec![row("A", sample())]);
        let v = view(
            &total,
            &table(Dimension::Day, vec![]),
            &by_unit,
            &units,
            ("", ""),
        );
        assert_eq!(v["total"]["satisfaction"], "50,0%");
        assert_eq!(v["total"]["response_rate"], "80,0%");
        // (4 + 9 + 10) / 3
        assert_eq!(v["total"]["average_score"], "7,7");
        assert_eq!(v["scores"][3]["height"], 100);
        assert_eq!(v["scores"][0]["height"], 0);
        assert_eq!(v["reasons"][0]["share"], "75,0%");
        assert_eq!(v["reasons"][0]["bar"], 75);
        assert_eq!(v["units"][0]["level"], "district");
        assert_eq!(v["units"][0]["satisfaction_bar"], 50);
    }

    #[test]
    fn days_are_filled_in_over_the_period() {
        let busy = Stats {
            dialled: 4,
            answered: 2,
            ..Stats::default()
        };
        let days = table(Dimension::Day, vec![row("2026-10-02", busy)]);
        let v = day_bars(&days, ("2026-10-01", "2026-10-04"));
        let keys: Vec<&str> = v.iter().map(|d| d["day"].as_str().unwrap()).collect();
        assert_eq!(keys, ["2026-10-01", "2026-10-02", "2026-10-03"]);
        assert_eq!(v[0]["dialled"], 0);
        assert_eq!(v[1]["height"], 100);
        assert_eq!(v[1]["answered_height"], 50);
        assert_eq!(v[1]["label"], "02/10");
        // Instants instead of days: only the days that had calls.
        assert_eq!(day_bars(&days, ("2026-10-01T00:00:00Z", "")).len(), 1);
    }

    #[test]
    fn an_empty_period_has_no_rates() {
        let v = row_view(&row("", Stats::default()), None);
        assert_eq!(v["average_score"], "–");
        assert_eq!(v["satisfaction"], "–");
        assert_eq!(v["satisfaction_bar"], 0);
        assert!(reason_bars(&Stats::default()).iter().all(|r| r["bar"] == 0));
    }
}
