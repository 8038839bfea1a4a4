//! Read side for supervisors: calls filtered by period, unit, level, field,
//! campaign, disposition, score, satisfaction and complaint, newest first,
//! paged by keyset (started_at, id) so deep pages stay cheap; and the unit a
//! call or response belongs to, for scope checks.
//!
//! The filters are the reports' (`reports.rs`), so a list and a report over
//! the same parameters count the same calls.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

use super::error::classify;
use super::reports::{push_answer_filters, push_calls};
use super::sql::{Param, Sql};
use super::types::{CallId, ResponseId, to_ms};
use super::{Store, StoreError, col, ts, ts_opt};
use crate::report::ReportFilter;

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at_ms: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.started_at_ms, self.id)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (ms, id) = s.split_once('_')?;
        Some(Cursor {
            started_at_ms: ms.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// One row of the list.
#[derive(Debug, Clone, Serialize)]
pub struct CallListItem {
    pub id: CallId,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub disposition: String,
    pub sip_code: Option<i64>,
    /// Masked: lists travel to screens and exports.
    pub destination: String,
    pub dossier_code: Option<String>,
    pub procedure: Option<String>,
    pub field: Option<String>,
    pub unit_code: Option<String>,
    pub unit_name: Option<String>,
    pub level: Option<String>,
    pub campaign_id: Option<String>,
    pub response_id: Option<ResponseId>,
    pub q1: Option<String>,
    pub q4: Option<String>,
    pub has_complaint: bool,
    pub has_recording: bool,
}

/// A page of calls and the cursor of the next page, if any.
#[derive(Debug, Clone, Serialize)]
pub struct CallPage {
    pub items: Vec<CallListItem>,
    pub next: Option<String>,
}

/// One row per call with the latest Q1, Q4 and whether Q3 was given, in the
/// shape the report's answer filters read (`p.q1`, `p.q4`, `p.q3`).
const SELECT: &str = "SELECT p.* FROM (SELECT c.id AS id, c.started_at AS started_at, \
     c.answered_at AS answered_at, c.ended_at AS ended_at, c.disposition AS disposition, \
     c.sip_code AS sip_code, c.destination AS destination, c.dossier_code AS dossier_code, \
     c.campaign_id AS campaign_id, d.procedure AS procedure, d.field AS field, \
     d.unit_code AS unit_code, u.name AS unit_name, u.level AS level, \
     r.id AS response_id, l1.value AS q1, l4.value AS q4, \
     CASE WHEN a.kind = 'clip' OR (a.kind = 'value' AND a.value IS NOT NULL AND a.value <> '') \
     THEN 1 ELSE 0 END AS q3, \
     (SELECT COUNT(*) FROM recordings g WHERE g.call_id = c.id) AS recordings";

/// The call's latest response and its latest Q1, Q3 (as `a`, for the
/// "given" test shared with the reports) and Q4.
const JOINS: &str = " LEFT JOIN survey_responses r ON r.id = (SELECT r2.id FROM survey_responses r2 \
     WHERE r2.call_id = c.id ORDER BY r2.created_at DESC, r2.id LIMIT 1) \
     LEFT JOIN answer_latest l1 ON l1.response_id = r.id AND l1.key = 'q1' \
     LEFT JOIN answer_latest l4 ON l4.response_id = r.id AND l4.key = 'q4' \
     LEFT JOIN answer_latest a ON a.response_id = r.id AND a.key = 'q3'";

/// The list's query: the report's call-level and answer-level filters, then
/// the keyset cursor.
fn filter_sql(f: &ReportFilter, cursor: Option<&Cursor>) -> Sql {
    let mut q = Sql::default();
    q.push(SELECT);
    push_calls(&mut q, f, JOINS);
    q.push(") p");
    push_answer_filters(&mut q, f);
    if let Some(c) = cursor {
        q.push(" AND (p.started_at < ")
            .bind(Param::Int(c.started_at_ms))
            .push(" OR (p.started_at = ")
            .bind(Param::Int(c.started_at_ms))
            .push(" AND p.id < ")
            .bind_text(&c.id)
            .push("))");
    }
    q
}

impl Store {
    /// A page of calls matching `f`, newest first.
    pub async fn list_calls(
        &self,
        f: &ReportFilter,
        cursor: Option<&Cursor>,
        limit: i64,
    ) -> Result<CallPage, StoreError> {
        const OP: &str = "list_calls";
        let limit = limit.clamp(1, 500);
        let mut q = filter_sql(f, cursor);
        q.push(" ORDER BY p.started_at DESC, p.id DESC LIMIT ")
            .bind(Param::Int(limit + 1));
        let rows = q
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        let mut items = rows
            .iter()
            .map(|r| item_from_row(r, OP))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|i| {
                Cursor {
                    started_at_ms: to_ms(i.started_at),
                    id: i.id.0.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(CallPage { items, next })
    }

    /// The unit of a call's dossier (`Ok(None)`: the call exists but has no
    /// unit; `Err(NotFound)`: no such call).
    pub async fn call_unit(&self, id: &CallId) -> Result<Option<String>, StoreError> {
        const OP: &str = "call_unit";
        let row = sqlx::query(
            "SELECT d.unit_code FROM calls c LEFT JOIN dossiers d ON d.code = c.dossier_code \
             WHERE c.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        match row {
            Some(r) => col(&r, OP, "unit_code"),
            None => Err(StoreError::NotFound {
                op: OP,
                what: "call",
                id: id.to_string(),
            }),
        }
    }

    /// The call of a response and the unit of its dossier.
    pub async fn response_owner(
        &self,
        id: &ResponseId,
    ) -> Result<(CallId, Option<String>), StoreError> {
        const OP: &str = "response_owner";
        let row = sqlx::query(
            "SELECT r.call_id, d.unit_code FROM survey_responses r \
             LEFT JOIN dossiers d ON d.code = r.dossier_code WHERE r.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        match row {
            Some(r) => Ok((CallId(col(&r, OP, "call_id")?), col(&r, OP, "unit_code")?)),
            None => Err(StoreError::NotFound {
                op: OP,
                what: "survey response",
                id: id.to_string(),
            }),
        }
    }
}

fn item_from_row(r: &AnyRow, op: &'static str) -> Result<CallListItem, StoreError> {
    let destination: String = col(r, op, "destination")?;
    Ok(CallListItem {
        id: CallId(col(r, op, "id")?),
        started_at: ts(r, op, "started_at")?,
        answered_at: ts_opt(r, op, "answered_at")?,
        ended_at: ts_opt(r, op, "ended_at")?,
        disposition: col(r, op, "disposition")?,
        sip_code: col(r, op, "sip_code")?,
        destination: crate::pii::mask_phone(&destination),
        dossier_code: col(r, op, "dossier_code")?,
        procedure: col(r, op, "procedure")?,
        field: col(r, op, "field")?,
        unit_code: col(r, op, "unit_code")?,
        unit_name: col(r, op, "unit_name")?,
        level: col(r, op, "level")?,
        campaign_id: col(r, op, "campaign_id")?,
        response_id: col::<Option<String>>(r, op, "response_id")?.map(ResponseId),
        q1: col(r, op, "q1")?,
        q4: col(r, op, "q4")?,
        has_complaint: col::<i64>(r, op, "q3")? == 1,
        has_recording: col::<i64>(r, op, "recordings")? > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_bind_order() {
        let f = ReportFilter {
            from: Some(Utc::now()),
            units: Some(vec!["a".into(), "b".into()]),
            field: Some("Hộ tịch".into()),
            score_min: Some(8),
            satisfied: Some(true),
            ..Default::default()
        };
        let c = Cursor {
            started_at_ms: 5,
            id: "z".into(),
        };
        let q = filter_sql(&f, Some(&c));
        // from, 2 units, field, then the cursor (its instant twice, its id).
        assert_eq!(q.params.len(), 7);
        for n in 1..=7 {
            assert!(q.text.contains(&format!("${n}")), "${n} in {}", q.text);
        }
        assert!(!q.text.contains("$8"));
        assert!(q.text.contains("d.unit_code IN ($2, $3)"), "{}", q.text);
        assert!(q.text.contains("p.q4 IN ('8', '9', '10')"), "{}", q.text);
        assert!(q.text.contains("p.q1 = '1'"));
        assert!(
            !q.text.contains("Hộ tịch"),
            "values are bound, never inlined"
        );
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("x_y"), None);
    }

    #[test]
    fn an_empty_scope_matches_nothing() {
        let f = ReportFilter {
            units: Some(vec![]),
            ..Default::default()
        };
        assert!(filter_sql(&f, None).text.contains(" AND 1 = 0"));
    }
}
