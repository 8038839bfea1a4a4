//! The report queries: counts per group of calls, and the complaints and
//! suggestions list (see `crate::report` for what they mean).
//!
//! One pass, filter first: the calls that pass the call-level filters (period,
//! units, level, field, campaign, disposition) are joined to the latest
//! revision of their answers and folded into one row per call (`per_call`);
//! the answer-level filters (score, satisfied, complaint) then apply to those
//! rows, and the outer query counts per group. Answers are append-only with
//! revisions; the newest revision of each (response, key) is kept in
//! `answer_latest`, written with each answer, so no query searches revisions.
//!
//! The SQL is built from constants and `$n` placeholders only; every value
//! from the filter is bound.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::classify;
use super::sql::{Param, Sql};
use super::types::{from_ms, to_ms};
use super::{Backend, Store, StoreError, col};
use crate::report::{Dimension, Feedback, FeedbackKind, ReportFilter, Stats};

/// Asia/Ho_Chi_Minh is UTC+7 all year and has been since 1975 (no DST), so a
/// fixed offset in SQL puts each call in the same month as chrono-tz does.
const HO_CHI_MINH_OFFSET_MS: i64 = 7 * 3600 * 1000;

/// Dispositions that mean someone picked up (`Disposition::was_answered`).
pub(super) const ANSWERED_DISPOSITIONS: &str =
    "('completed', 'answered', 'no_input', 'declined', 'do_not_call')";

/// A spoken (clip) answer, or a written one an operator typed in.
pub(super) const GIVEN: &str =
    "(a.kind = 'clip' OR (a.kind = 'value' AND a.value IS NOT NULL AND a.value <> ''))";

/// The grouping key of a call, as an SQL expression over `c`, `d`, `u`.
fn group_expr(by: Dimension, backend: Backend) -> String {
    match by {
        Dimension::Total => "''".to_owned(),
        Dimension::Unit => "d.unit_code".to_owned(),
        Dimension::Level => "u.level".to_owned(),
        Dimension::Field => "d.field".to_owned(),
        Dimension::Campaign => "c.campaign_id".to_owned(),
        Dimension::Month => local_date(backend, "c.started_at", "%Y-%m", "YYYY-MM"),
        Dimension::Day => local_date(backend, "c.started_at", "%Y-%m-%d", "YYYY-MM-DD"),
    }
}

/// An instant column (milliseconds) as text on the Vietnam calendar:
/// `sqlite` is the `strftime` format, `postgres` the `to_char` pattern of the
/// same text.
pub(super) fn local_date(backend: Backend, column: &str, sqlite: &str, postgres: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "strftime('{sqlite}', ({column} + {HO_CHI_MINH_OFFSET_MS}) / 1000, 'unixepoch')"
        ),
        Backend::Postgres => format!(
            "to_char(to_timestamp(({column} + {HO_CHI_MINH_OFFSET_MS}) / 1000) \
             AT TIME ZONE 'UTC', '{postgres}')"
        ),
    }
}

/// `FROM calls c` with its dossier and unit, then `joins`, then the
/// call-level filters.
pub(super) fn push_calls(sql: &mut Sql, f: &ReportFilter, joins: &str) {
    sql.push(
        " FROM calls c LEFT JOIN dossiers d ON d.code = c.dossier_code \
         LEFT JOIN units u ON u.code = d.unit_code",
    )
    .push(joins)
    .push(" WHERE 1 = 1");
    if let Some(from) = f.from {
        sql.push(" AND c.started_at >= ")
            .bind(Param::Int(to_ms(from)));
    }
    if let Some(to) = f.to {
        sql.push(" AND c.started_at < ").bind(Param::Int(to_ms(to)));
    }
    if let Some(units) = &f.units {
        if units.is_empty() {
            sql.push(" AND 1 = 0");
        } else {
            sql.push(" AND d.unit_code IN (");
            for (i, unit) in units.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind_text(unit);
            }
            sql.push(")");
        }
    }
    for (column, value) in [
        ("u.level", &f.level),
        ("d.field", &f.field),
        ("c.campaign_id", &f.campaign),
        ("c.disposition", &f.disposition),
        ("c.operator_id", &f.operator),
    ] {
        if let Some(v) = value {
            sql.push(" AND ").push(column).push(" = ").bind_text(v);
        }
    }
}

/// One row per call that passes the call-level filters: its group, whether it
/// was answered, and the latest Q1, Q2, Q4 values and Q3/Q5 given (0/1).
fn push_per_call(sql: &mut Sql, f: &ReportFilter, group: &str) {
    let pick = |key: &str| {
        format!("MAX(CASE WHEN a.key = '{key}' AND a.kind = 'value' THEN a.value END) AS {key}")
    };
    let given = |key: &str| {
        format!("MAX(CASE WHEN a.key = '{key}' AND {GIVEN} THEN 1 ELSE 0 END) AS {key}")
    };
    sql.push(&format!(
        "SELECT c.id AS call_id, MAX({group}) AS grp, \
         MAX(CASE WHEN c.answered_at IS NOT NULL OR c.disposition IN {ANSWERED_DISPOSITIONS} \
         THEN 1 ELSE 0 END) AS answered, {}, {}, {}, {}, {}",
        pick("q1"),
        pick("q2"),
        pick("q4"),
        given("q3"),
        given("q5"),
    ));
    let joins = " LEFT JOIN survey_responses r ON r.call_id = c.id \
         LEFT JOIN answer_latest a ON a.response_id = r.id \
         AND a.key IN ('q1', 'q2', 'q3', 'q4', 'q5')";
    push_calls(sql, f, joins);
    sql.push(" GROUP BY c.id");
}

/// The answer-level filters, over the rows of [`push_per_call`] aliased `p`.
pub(super) fn push_answer_filters(sql: &mut Sql, f: &ReportFilter) {
    sql.push(" WHERE 1 = 1");
    if let Some(scores) = f.scores() {
        let list: Vec<String> = scores.iter().map(|s| format!("'{s}'")).collect();
        sql.push(&format!(" AND p.q4 IN ({})", list.join(", ")));
    }
    match f.satisfied {
        Some(true) => sql.push(" AND p.q1 = '1'"),
        Some(false) => sql.push(" AND p.q1 IN ('2', '3')"),
        None => sql,
    };
    match f.has_complaint {
        Some(true) => sql.push(" AND p.q3 = 1"),
        Some(false) => sql.push(" AND p.q3 = 0"),
        None => sql,
    };
}

/// `SUM(CASE WHEN p.<key> = '<v>' ...) AS <key>_<v>` for each value.
fn value_counts(key: &str, values: std::ops::RangeInclusive<u8>) -> String {
    values
        .map(|v| format!("SUM(CASE WHEN p.{key} = '{v}' THEN 1 ELSE 0 END) AS {key}_{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Counts per group (`None` key: calls without a dossier, unit or
    /// campaign), ordered by key. [`Dimension::Total`] gives one row with an
    /// empty key, or none when no call matches.
    pub async fn report_stats(
        &self,
        f: &ReportFilter,
        by: Dimension,
    ) -> Result<Vec<(Option<String>, Stats)>, StoreError> {
        const OP: &str = "report_stats";
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT p.grp AS grp, COUNT(*) AS dialled, SUM(p.answered) AS answered, \
             SUM(CASE WHEN p.q1 IS NOT NULL OR p.q2 IS NOT NULL OR p.q4 IS NOT NULL \
             OR p.q3 = 1 OR p.q5 = 1 THEN 1 ELSE 0 END) AS surveyed, {}, {}, {}, \
             SUM(p.q3) AS complaints, SUM(p.q5) AS suggestions FROM (",
            value_counts("q1", 1..=3),
            value_counts("q2", 1..=5),
            value_counts("q4", 1..=10),
        ));
        push_per_call(&mut sql, f, &group_expr(by, self.backend));
        sql.push(") p");
        push_answer_filters(&mut sql, f);
        sql.push(" GROUP BY p.grp ORDER BY p.grp");
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| stats_from_row(r, OP)).collect()
    }

    /// The complaints (Q3) and suggestions (Q5) of the matching calls, latest
    /// revision, oldest call first; at most `limit` when given.
    pub async fn report_feedback(
        &self,
        f: &ReportFilter,
        limit: Option<u64>,
    ) -> Result<Vec<Feedback>, StoreError> {
        const OP: &str = "report_feedback";
        let mut sql = Sql::default();
        sql.push(
            "SELECT c.id AS call_id, r.id AS response_id, \
             COALESCE(r.dossier_code, c.dossier_code) AS dossier_code, d.unit_code AS unit_code, \
             c.started_at AS started_at, a.key AS key, a.kind AS kind, a.value AS value, \
             a.clip_path AS clip_path, a.clip_ms AS clip_ms",
        );
        push_calls(
            &mut sql,
            f,
            " JOIN survey_responses r ON r.call_id = c.id \
             JOIN answer_latest l ON l.response_id = r.id AND l.key IN ('q3', 'q5') \
             JOIN answers a ON a.id = l.answer_id",
        );
        sql.push(&format!(" AND {GIVEN}"));
        if f.filters_answers() {
            sql.push(" AND c.id IN (SELECT p.call_id FROM (");
            push_per_call(&mut sql, f, "''");
            sql.push(") p");
            push_answer_filters(&mut sql, f);
            sql.push(")");
        }
        sql.push(" ORDER BY c.started_at, c.id, a.key");
        if let Some(n) = limit {
            sql.push(" LIMIT ")
                .bind(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
        }
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| feedback_from_row(r, OP)).collect()
    }
}

fn count(r: &AnyRow, op: &'static str, name: &str) -> Result<u64, StoreError> {
    // SUM over no rows is NULL; counts are never negative.
    let n: Option<i64> = r
        .try_get(name)
        .map_err(|source| StoreError::Query { op, source })?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

fn stats_from_row(r: &AnyRow, op: &'static str) -> Result<(Option<String>, Stats), StoreError> {
    let mut s = Stats {
        dialled: count(r, op, "dialled")?,
        answered: count(r, op, "answered")?,
        surveyed: count(r, op, "surveyed")?,
        complaints: count(r, op, "complaints")?,
        suggestions: count(r, op, "suggestions")?,
        ..Stats::default()
    };
    for (key, slots) in [
        ("q1", &mut s.q1[..]),
        ("q2", &mut s.q2[..]),
        ("q4", &mut s.q4[..]),
    ] {
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = count(r, op, &format!("{key}_{}", i + 1))?;
        }
    }
    let grp: Option<String> = col(r, op, "grp")?;
    Ok((grp, s))
}

fn feedback_from_row(r: &AnyRow, op: &'static str) -> Result<Feedback, StoreError> {
    let key: String = col(r, op, "key")?;
    let kind: String = col(r, op, "kind")?;
    let started: i64 = col(r, op, "started_at")?;
    let clip = kind == "clip";
    Ok(Feedback {
        kind: if key == "q3" {
            FeedbackKind::Complaint
        } else {
            FeedbackKind::Suggestion
        },
        call_id: col(r, op, "call_id")?,
        response_id: col(r, op, "response_id")?,
        dossier_code: col(r, op, "dossier_code")?,
        unit_code: col(r, op, "unit_code")?,
        at: from_ms(started).ok_or(StoreError::Corrupt {
            op,
            column: "started_at",
        })?,
        text: if clip { None } else { col(r, op, "value")? },
        clip_path: if clip { col(r, op, "clip_path")? } else { None },
        clip_ms: if clip { col(r, op, "clip_ms")? } else { None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_value_is_bound() {
        let f = ReportFilter {
            units: Some(vec!["a'; DROP TABLE calls; --".into(), "b".into()]),
            level: Some("district".into()),
            score_min: Some(9),
            satisfied: Some(false),
            ..Default::default()
        };
        let mut sql = Sql::default();
        push_per_call(&mut sql, &f, "d.field");
        push_answer_filters(&mut sql, &f);
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert!(sql.text.contains("d.unit_code IN ($1, $2)"), "{}", sql.text);
        assert!(sql.text.contains("u.level = $3"), "{}", sql.text);
        assert!(sql.text.contains("p.q4 IN ('9', '10')"), "{}", sql.text);
        assert!(sql.text.contains("p.q1 IN ('2', '3')"), "{}", sql.text);
        assert_eq!(sql.params.len(), 3);
    }

    #[test]
    fn an_empty_scope_matches_nothing() {
        let f = ReportFilter {
            units: Some(vec![]),
            ..Default::default()
        };
        let mut sql = Sql::default();
        push_calls(&mut sql, &f, "");
        assert!(sql.text.ends_with("AND 1 = 0"), "{}", sql.text);
    }

    /// 16:59 and 17:00 UTC are 23:59 and 00:00 in Vietnam: the second call
    /// is on the next local day, and the days come back in order.
    #[tokio::test]
    async fn days_follow_the_vietnam_calendar() {
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("day.db").display());
        let store = Store::connect(&url).await.unwrap();
        for (h, m) in [(16, 59), (17, 0), (18, 30)] {
            let started_at = chrono::Utc.with_ymd_and_hms(2026, 10, 4, h, m, 0).unwrap();
            store
                .start_call(&crate::store::NewCall {
                    id: None,
                    dossier_code: None,
                    sip_call_id: None,
                    destination: "0912345678".into(),
                    caller_id: "1022".into(),
                    dialplan: "survey-1022".into(),
                    started_at,
                })
                .await
                .unwrap();
        }
        let rows = store
            .report_stats(&ReportFilter::default(), Dimension::Day)
            .await
            .unwrap();
        let days: Vec<(Option<&str>, u64)> = rows
            .iter()
            .map(|(k, s)| (k.as_deref(), s.dialled))
            .collect();
        assert_eq!(days, [(Some("2026-10-04"), 1), (Some("2026-10-05"), 2)]);
        assert!(group_expr(Dimension::Day, Backend::Postgres).contains("'YYYY-MM-DD'"));
    }
}
