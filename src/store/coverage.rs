//! The dossier-level report query: per unit (the stratum) and group, the
//! sampling frame, the sample, the attempts and the one response that
//! counts for each dossier (see `crate::report::coverage`).
//!
//! A case is a dossier, never a call (AAPOR *Standard Definitions*: "a
//! dossier surveyed twice is one case"). Several calls may have left a
//! response for the same dossier (a retry after a break-off, an operator's
//! call-back); the query ranks them per dossier — complete first, then the
//! most questions answered, then the latest — and keeps only the first, so a
//! dossier counts at most once whether the data holds one response per
//! dossier or one per call. A response counts for the dossier it names
//! (`survey_responses.dossier_code`, written from the call's dossier).
//!
//! The SQL is built from constants and `$n` placeholders only; every value
//! from the filter and the questionnaire is bound.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::classify;
use super::reports::{ANSWERED_DISPOSITIONS, GIVEN, local_date};
use super::sql::{Param, Sql};
use super::types::{response_status, to_ms};
use super::{Store, StoreError};
use crate::questionnaire::ReportRoles;
use crate::report::{CoverageCell, Dimension, DossierCounts, ReportFilter, Stratum};

/// The group of a dossier, as an SQL expression over `d` and `u`; months and
/// days are those of the return of the result (the frame's period).
fn group_expr(by: Dimension, backend: super::Backend) -> String {
    match by {
        Dimension::Total | Dimension::Unit | Dimension::Campaign => "''".to_owned(),
        Dimension::Level => "u.level".to_owned(),
        Dimension::Field => "d.field".to_owned(),
        Dimension::Month => local_date(backend, "d.returned_at", "%Y-%m", "YYYY-MM"),
        Dimension::Day => local_date(backend, "d.returned_at", "%Y-%m-%d", "YYYY-MM-DD"),
    }
}

/// `(column IN ($a, $b, …))`, or a false condition for an empty list.
fn push_in(sql: &mut Sql, column: &str, values: &[String]) {
    if values.is_empty() {
        sql.push("(1 = 0)");
        return;
    }
    sql.push("(").push(column).push(" IN (");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind_text(v);
    }
    sql.push("))");
}

/// ` AND <column> = $n` when the report is about one campaign.
fn push_campaign(sql: &mut Sql, f: &ReportFilter, column: &str) {
    if let Some(c) = &f.campaign {
        sql.push(" AND ").push(column).push(" = ").bind_text(c);
    }
}

/// One row per dossier of the frame — returned in the period (seed 004), in
/// the units, level and field asked for — with whether it was sampled, its
/// attempts, whether anyone picked up, and the one response that counts
/// (`best`). Every part is a lookup on an indexed column of one dossier, so
/// the query grows linearly with the frame.
fn push_per_dossier(sql: &mut Sql, f: &ReportFilter, group: &str) {
    sql.push(&format!(
        "SELECT d.code AS code, d.unit_code AS unit_code, {group} AS grp, \
         CASE WHEN EXISTS (SELECT 1 FROM campaign_targets t WHERE t.dossier_code = d.code"
    ));
    push_campaign(sql, f, "t.campaign_id");
    sql.push(") OR EXISTS (SELECT 1 FROM calls c WHERE c.dossier_code = d.code");
    push_campaign(sql, f, "c.campaign_id");
    sql.push(
        ") THEN 1 ELSE 0 END AS sampled, \
         CAST((SELECT COUNT(*) FROM calls c WHERE c.dossier_code = d.code",
    );
    push_campaign(sql, f, "c.campaign_id");
    sql.push(&format!(
        ") AS INTEGER) AS attempts, \
         CASE WHEN EXISTS (SELECT 1 FROM calls c WHERE c.dossier_code = d.code \
         AND (c.answered_at IS NOT NULL OR c.disposition IN {ANSWERED_DISPOSITIONS})"
    ));
    push_campaign(sql, f, "c.campaign_id");
    sql.push(
        ") THEN 1 ELSE 0 END AS reached, \
         (SELECT r.id FROM survey_responses r JOIN calls c ON c.id = r.call_id \
         WHERE r.dossier_code = d.code",
    );
    push_campaign(sql, f, "c.campaign_id");
    sql.push(&format!(
        " ORDER BY CASE WHEN r.status IN ('{}', 'complete') THEN 1 ELSE 0 END DESC, \
         (SELECT COUNT(*) FROM answer_latest a WHERE a.response_id = r.id AND {GIVEN}) DESC, \
         r.created_at DESC, r.id DESC LIMIT 1) AS best \
         FROM dossiers d LEFT JOIN units u ON u.code = d.unit_code \
         WHERE d.returned_at IS NOT NULL",
        response_status::COMPLETED
    ));
    if let Some(from) = f.from {
        sql.push(" AND d.returned_at >= ")
            .bind(Param::Int(to_ms(from)));
    }
    if let Some(to) = f.to {
        sql.push(" AND d.returned_at < ")
            .bind(Param::Int(to_ms(to)));
    }
    if let Some(units) = &f.units {
        sql.push(" AND ");
        push_in(sql, "d.unit_code", units);
    }
    for (column, value) in [("u.level", &f.level), ("d.field", &f.field)] {
        if let Some(v) = value {
            sql.push(" AND ").push(column).push(" = ").bind_text(v);
        }
    }
}

/// The counts per (unit, group) over the rows of [`push_per_dossier`]
/// (aliased `p`), reading the questions the form names from the counted
/// response `b`.
fn push_counts(sql: &mut Sql, f: &ReportFilter, group: &str, roles: &ReportRoles) {
    let (sat_key, positive, options) = roles.satisfaction.clone().unwrap_or_default();
    let (score_key, scores) = match &roles.score {
        Some((key, min, max)) => (key.clone(), (*min..=*max).map(|s| s.to_string()).collect()),
        None => (String::new(), Vec::new()),
    };
    sql.push(&format!(
        "SELECT p.unit_code AS unit_code, p.grp AS grp, COUNT(*) AS frame, \
         SUM(p.sampled) AS sampled, SUM(p.attempts) AS attempts, SUM(p.reached) AS reached, \
         SUM(CASE WHEN EXISTS (SELECT 1 FROM answer_latest a WHERE a.response_id = p.best \
         AND {GIVEN}) THEN 1 ELSE 0 END) AS responded, \
         SUM(CASE WHEN b.status IN ('{}', 'complete') THEN 1 ELSE 0 END) AS complete, \
         SUM(CASE WHEN ",
        response_status::COMPLETED
    ));
    push_in(sql, "s.value", &options);
    sql.push(" THEN 1 ELSE 0 END) AS sat_n, SUM(CASE WHEN ");
    push_in(sql, "s.value", &positive);
    sql.push(" THEN 1 ELSE 0 END) AS sat_yes");
    for (name, expr) in [
        ("score_n", "1"),
        ("score_sum", "CAST(k.value AS INTEGER)"),
        (
            "score_sq",
            "CAST(k.value AS INTEGER) * CAST(k.value AS INTEGER)",
        ),
    ] {
        sql.push(", SUM(CASE WHEN ");
        push_in(sql, "k.value", &scores);
        sql.push(&format!(" THEN {expr} ELSE 0 END) AS {name}"));
    }
    sql.push(" FROM (");
    push_per_dossier(sql, f, group);
    sql.push(
        ") p LEFT JOIN survey_responses b ON b.id = p.best \
         LEFT JOIN answer_latest s ON s.response_id = p.best AND s.kind = 'value' AND s.key = ",
    )
    .bind_text(&sat_key)
    .push(" LEFT JOIN answer_latest k ON k.response_id = p.best AND k.kind = 'value' AND k.key = ")
    .bind_text(&score_key)
    .push(" GROUP BY p.unit_code, p.grp ORDER BY p.unit_code, p.grp");
}

impl Store {
    /// One cell per (unit, group) of the dossiers returned in `f`'s period:
    /// frame, sample, attempts, contact, the one response per dossier and
    /// what it says on the form's satisfaction and score questions.
    pub async fn coverage_cells(
        &self,
        f: &ReportFilter,
        by: Dimension,
        roles: &ReportRoles,
    ) -> Result<Vec<CoverageCell>, StoreError> {
        const OP: &str = "coverage_cells";
        let mut sql = Sql::default();
        push_counts(&mut sql, f, &group_expr(by, self.backend), roles);
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| cell_from_row(r, OP)).collect()
    }
}

fn count(r: &AnyRow, op: &'static str, name: &str) -> Result<u64, StoreError> {
    // SUM over no rows is NULL; counts are never negative.
    let n: Option<i64> = r
        .try_get(name)
        .map_err(|source| StoreError::Query { op, source })?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

fn cell_from_row(r: &AnyRow, op: &'static str) -> Result<CoverageCell, StoreError> {
    let c = |name| count(r, op, name);
    let grp: Option<String> = super::col(r, op, "grp")?;
    let frame = c("frame")?;
    Ok(CoverageCell {
        unit: super::col(r, op, "unit_code")?,
        key: grp.filter(|g| !g.is_empty()),
        counts: DossierCounts {
            frame,
            sampled: c("sampled")?,
            attempts: c("attempts")?,
            reached: c("reached")?,
            responded: c("responded")?,
            complete: c("complete")?,
        },
        stratum: Stratum {
            frame,
            rate_n: c("sat_n")?,
            rate_yes: c("sat_yes")?,
            score_n: c("score_n")?,
            score_sum: c("score_sum")?,
            score_sum_sq: c("score_sq")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_bound() {
        let f = ReportFilter {
            units: Some(vec!["a'; DROP TABLE dossiers; --".into()]),
            field: Some("x'".into()),
            campaign: Some("c'".into()),
            ..Default::default()
        };
        let roles = ReportRoles {
            satisfaction: Some(("q1'".into(), vec!["1'".into()], vec!["1'".into()])),
            score: Some(("q4".into(), 1, 2)),
        };
        let mut sql = Sql::default();
        push_counts(&mut sql, &f, "''", &roles);
        assert!(
            !sql.text.contains("DROP") && !sql.text.contains("x'"),
            "{}",
            sql.text
        );
        assert!(
            !sql.text.contains("q1'") && !sql.text.contains("c'"),
            "{}",
            sql.text
        );
    }

    #[test]
    fn a_form_without_roles_counts_no_answers() {
        let mut sql = Sql::default();
        push_counts(
            &mut sql,
            &ReportFilter::default(),
            "''",
            &ReportRoles::default(),
        );
        assert!(
            sql.text.contains("(1 = 0) THEN 1 ELSE 0 END) AS sat_n"),
            "{}",
            sql.text
        );
        assert!(
            sql.text.contains("(1 = 0) THEN 1 ELSE 0 END) AS score_n"),
            "{}",
            sql.text
        );
    }
}
