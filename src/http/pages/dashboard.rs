//! The dashboard: satisfaction rate, the /10 score distribution, calls per
//! day and a per-unit table, with bar charts drawn as inline SVG on the
//! server (no chart library, no script).
//!
//! The figures are folded from the call list ([`Dashboard::add`] is pure, so
//! the arithmetic is unit-tested without a database). The fold reads at most
//! [`MAX_CALLS`] calls of the period; past that the page says the figures are
//! partial and points to the reports, which aggregate in SQL.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::filters::{percent, vn_day};
use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::AppState;
use crate::http::results::ListParams;
use crate::store::{CallListItem, Cursor};

/// How many calls the dashboard folds at most.
pub const MAX_CALLS: usize = 20_000;
const PAGE: i64 = 500;

/// Calls started on one (Vietnam) day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayCount {
    pub day: String,
    pub dialled: u64,
    pub answered: u64,
}

/// One line of the per-unit table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub level: String,
    pub dialled: u64,
    pub answered: u64,
    pub q1_answered: u64,
    pub satisfied: u64,
    pub score_sum: u64,
    pub scores: u64,
    pub complaints: u64,
}

impl UnitRow {
    fn add(&mut self, c: &CallListItem) {
        self.dialled += 1;
        self.answered += u64::from(c.answered_at.is_some());
        if let Some(q1) = c.q1.as_deref().filter(|v| matches!(*v, "1" | "2" | "3")) {
            self.q1_answered += 1;
            self.satisfied += u64::from(q1 == "1");
        }
        if let Some(score) = c.q4.as_deref().and_then(score) {
            self.score_sum += u64::from(score);
            self.scores += 1;
        }
        self.complaints += u64::from(c.has_complaint);
    }

    /// Q1 "satisfied" over Q1 answered (NaN when nobody answered Q1).
    pub fn satisfaction(&self) -> f64 {
        self.satisfied as f64 / self.q1_answered as f64
    }

    pub fn response_rate(&self) -> f64 {
        self.answered as f64 / self.dialled as f64
    }

    pub fn average_score(&self) -> f64 {
        self.score_sum as f64 / self.scores as f64
    }
}

/// A Q4 value, if it is a score of 1..=10.
fn score(v: &str) -> Option<u8> {
    v.trim().parse::<u8>().ok().filter(|s| (1..=10).contains(s))
}

/// The dashboard's figures, folded one call at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dashboard {
    pub total: UnitRow,
    /// Count of each score 1..=10 (index 0 is score 1).
    pub score_counts: [u64; 10],
    pub days: BTreeMap<String, DayCount>,
    pub units: BTreeMap<String, UnitRow>,
    /// More calls matched than were folded.
    pub truncated: bool,
}

impl Dashboard {
    pub fn add(&mut self, c: &CallListItem) {
        self.total.add(c);
        if let Some(s) = c.q4.as_deref().and_then(score) {
            self.score_counts[usize::from(s) - 1] += 1;
        }
        let day = vn_day(c.started_at);
        let d = self.days.entry(day.clone()).or_insert_with(|| DayCount {
            day,
            ..DayCount::default()
        });
        d.dialled += 1;
        d.answered += u64::from(c.answered_at.is_some());
        let code = c.unit_code.clone().unwrap_or_default();
        let u = self.units.entry(code.clone()).or_insert_with(|| UnitRow {
            code,
            name: c
                .unit_name
                .clone()
                .unwrap_or_else(|| "(không rõ đơn vị)".into()),
            level: c.level.clone().unwrap_or_default(),
            ..UnitRow::default()
        });
        u.add(c);
    }

    /// The template's view: rates computed, bars scaled to the largest one.
    pub fn view(&self) -> serde_json::Value {
        let max_score = self.score_counts.iter().copied().max().unwrap_or(0).max(1);
        let scores: Vec<_> = self
            .score_counts
            .iter()
            .enumerate()
            .map(|(i, n)| json!({ "score": i + 1, "count": n, "height": bar(*n, max_score) }))
            .collect();
        let max_day = self
            .days
            .values()
            .map(|d| d.dialled)
            .max()
            .unwrap_or(0)
            .max(1);
        let days: Vec<_> = self
            .days
            .values()
            .map(|d| {
                json!({
                    "day": d.day, "dialled": d.dialled, "answered": d.answered,
                    "height": bar(d.dialled, max_day), "answered_height": bar(d.answered, max_day),
                })
            })
            .collect();
        let units: Vec<_> = self.units.values().map(row_view).collect();
        json!({
            "total": row_view(&self.total),
            "scores": scores,
            "days": days,
            "units": units,
            "truncated": self.truncated,
        })
    }
}

/// A bar's height in percent of the tallest.
fn bar(n: u64, max: u64) -> u64 {
    (n * 100).div_ceil(max.max(1))
}

/// A ratio as a bar width in percent (0 when undefined).
fn ratio_bar(r: f64) -> u64 {
    if r.is_finite() {
        (r * 100.0).round().clamp(0.0, 100.0) as u64
    } else {
        0
    }
}

fn row_view(r: &UnitRow) -> serde_json::Value {
    json!({
        "code": r.code, "name": r.name, "level": r.level,
        "dialled": r.dialled, "answered": r.answered, "q1_answered": r.q1_answered,
        "satisfied": r.satisfied, "complaints": r.complaints, "scores": r.scores,
        "satisfaction": percent(r.satisfaction()),
        "satisfaction_bar": ratio_bar(r.satisfaction()),
        "response_rate": percent(r.response_rate()),
        "average_score": if r.scores == 0 { String::from("–") }
            else { format!("{:.1}", r.average_score()).replace('.', ",") },
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct Period {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /`: the last 30 days unless a period is chosen.
pub async fn page(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Query(q): Query<Period>,
) -> Result<Html<String>, PageError> {
    p.require(Permission::ReadResults)?;
    let today = Utc::now();
    let from = non_empty(&q.from).unwrap_or_else(|| vn_day(today - Duration::days(29)));
    let to = non_empty(&q.to).unwrap_or_else(|| vn_day(today + Duration::days(1)));
    let params = ListParams {
        from: Some(from.clone()),
        to: Some(to.clone()),
        ..ListParams::default()
    };
    let filter = params.filter(&p, &s).await?;
    let mut dash = Dashboard::default();
    let mut cursor: Option<Cursor> = None;
    let mut seen = 0usize;
    loop {
        let page = s.store.list_calls(&filter, cursor.as_ref(), PAGE).await?;
        page.items.iter().for_each(|c| dash.add(c));
        seen += page.items.len();
        match page.next.as_deref().and_then(Cursor::decode) {
            Some(next) if seen < MAX_CALLS => cursor = Some(next),
            Some(_) => {
                dash.truncated = true;
                break;
            }
            None => break,
        }
    }
    let mut ctx = dash.view();
    ctx["from"] = json!(from);
    ctx["to"] = json!(to);
    render::page("dashboard.html", &p, "dashboard", ctx)
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CallId;
    use chrono::TimeZone;

    pub(crate) fn item(
        unit: &str,
        q1: Option<&str>,
        q4: Option<&str>,
        answered: bool,
    ) -> CallListItem {
        let t = Utc.with_ymd_and_hms(2026, 10, 5, 3, 0, 0).unwrap();
        CallListItem {
            id: CallId::new_v4(),
            started_at: t,
            answered_at: answered.then_some(t),
            ended_at: Some(t),
            disposition: if answered { "answered" } else { "no_answer" }.into(),
            sip_code: None,
            destination: "*******678".into(),
            dossier_code: Some("H1".into()),
            procedure: None,
            field: Some("Đất đai".into()),
            unit_code: Some(unit.into()),
            unit_name: Some(format!("Đơn vị {unit}")),
            level: Some("district".into()),
            campaign_id: None,
            response_id: None,
            q1: q1.map(str::to_string),
            q4: q4.map(str::to_string),
            has_complaint: false,
            has_recording: false,
        }
    }

    #[test]
    fn rates_scores_and_units_are_exact() {
        let mut d = Dashboard::default();
        d.add(&item("A", Some("1"), Some("9"), true));
        d.add(&item("A", Some("2"), Some("4"), true));
        d.add(&item("A", Some("1"), Some("abc"), true));
        d.add(&item("B", None, None, false));
        d.add(&item("B", Some("3"), Some("10"), true));
        assert_eq!(d.total.dialled, 5);
        assert_eq!(d.total.answered, 4);
        assert_eq!(d.total.q1_answered, 4);
        assert_eq!(d.total.satisfied, 2);
        assert!((d.total.satisfaction() - 0.5).abs() < 1e-9);
        assert!((d.total.response_rate() - 0.8).abs() < 1e-9);
        // "abc" is not a score: (9 + 4 + 10) / 3.
        assert_eq!(d.total.scores, 3);
        assert!((d.total.average_score() - 23.0 / 3.0).abs() < 1e-9);
        assert_eq!(d.score_counts, [0, 0, 0, 1, 0, 0, 0, 0, 1, 1]);
        assert_eq!(d.units["A"].satisfied, 2);
        assert_eq!(d.units["B"].dialled, 2);
        assert_eq!(d.units["B"].answered, 1);
        // 03:00 UTC is 10:00 the same day in Vietnam.
        assert_eq!(d.days["2026-10-05"].dialled, 5);
    }

    #[test]
    fn bars_scale_to_the_tallest() {
        let mut d = Dashboard::default();
        d.add(&item("A", Some("1"), Some("8"), true));
        d.add(&item("A", Some("1"), Some("8"), true));
        d.add(&item("A", Some("1"), Some("5"), true));
        let v = d.view();
        assert_eq!(v["scores"][7]["height"], 100);
        assert_eq!(v["scores"][4]["height"], 50);
        assert_eq!(v["scores"][0]["height"], 0);
        assert_eq!(v["total"]["average_score"], "7,0");
        assert_eq!(v["total"]["satisfaction"], "100,0%");
        assert_eq!(v["total"]["satisfaction_bar"], 100);
    }

    #[test]
    fn an_empty_period_has_no_rates() {
        let v = Dashboard::default().view();
        assert_eq!(v["total"]["average_score"], "–");
        assert_eq!(v["total"]["satisfaction"], "–");
        assert_eq!(v["total"]["satisfaction_bar"], 0);
        assert!(Dashboard::default().total.satisfaction().is_nan());
    }
}
