//! Read side for supervisors: calls filtered by period, unit, level, field,
//! campaign, disposition, score, satisfaction and complaint, newest first,
//! paged by keyset (started_at, id) so deep pages stay cheap; and the unit a
//! call or response belongs to, for scope checks.
//!
//! The filter is built as SQL text with numbered `$n` placeholders (the Any
//! driver's query builder writes `?`, which PostgreSQL refuses); only fixed
//! fragments are concatenated, every value is bound.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{CallId, ResponseId, to_ms};
use super::{Store, StoreError, col, ts, ts_opt};

/// Which calls to list. `units: Some(..)` restricts to those units (the
/// caller's scope already applied); `None` means every call.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub units: Option<Vec<String>>,
    pub level: Option<String>,
    pub field: Option<String>,
    pub campaign: Option<String>,
    pub disposition: Option<String>,
    pub score_min: Option<i64>,
    pub score_max: Option<i64>,
    pub satisfied: Option<bool>,
    pub has_complaint: Option<bool>,
}

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

/// The latest revision's column `c` of answer `key` of response `r.id`.
macro_rules! latest {
    ($c:literal, $key:literal) => {
        concat!(
            "(SELECT a.",
            $c,
            " FROM answers a WHERE a.response_id = r.id AND a.key = '",
            $key,
            "' ORDER BY a.revision DESC LIMIT 1)"
        )
    };
}

const BASE: &str = concat!(
    "SELECT * FROM (SELECT c.id, c.started_at, c.answered_at, c.ended_at, c.disposition, \
     c.sip_code, c.destination, c.dossier_code, c.campaign_id, d.procedure, d.field, \
     d.unit_code, un.name AS unit_name, un.level, r.id AS response_id, ",
    latest!("value", "q1"),
    " AS q1, ",
    latest!("value", "q4"),
    " AS q4, ",
    latest!("kind", "q3"),
    " AS q3_kind, \
     (SELECT COUNT(*) FROM recordings g WHERE g.call_id = c.id) AS recordings \
     FROM calls c \
     LEFT JOIN dossiers d ON d.code = c.dossier_code \
     LEFT JOIN units un ON un.code = d.unit_code \
     LEFT JOIN survey_responses r ON r.id = (SELECT r2.id FROM survey_responses r2 \
       WHERE r2.call_id = c.id ORDER BY r2.created_at DESC, r2.id LIMIT 1)) x WHERE 1 = 1"
);

/// A bound value of the dynamic query.
enum Bind {
    Text(String),
    Int(i64),
}

#[derive(Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    /// Appends `fragment` with `{}` replaced by the next placeholder.
    fn and(&mut self, fragment: &str, value: Bind) {
        self.binds.push(value);
        let n = format!("${}", self.binds.len());
        self.text.push_str(" AND ");
        self.text.push_str(&fragment.replace("{}", &n));
    }

    fn and_in(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.text.push_str(" AND 1 = 0");
            return;
        }
        let mut list = Vec::with_capacity(values.len());
        for v in values {
            self.binds.push(Bind::Text(v.clone()));
            list.push(format!("${}", self.binds.len()));
        }
        self.text
            .push_str(&format!(" AND {column} IN ({})", list.join(", ")));
    }
}

fn filter_sql(f: &CallFilter, cursor: Option<&Cursor>) -> Sql {
    let mut q = Sql {
        text: BASE.to_string(),
        binds: Vec::new(),
    };
    if let Some(t) = f.from {
        q.and("x.started_at >= {}", Bind::Int(to_ms(t)));
    }
    if let Some(t) = f.to {
        q.and("x.started_at < {}", Bind::Int(to_ms(t)));
    }
    if let Some(units) = &f.units {
        q.and_in("x.unit_code", units);
    }
    for (col, v) in [
        ("x.level", &f.level),
        ("x.field", &f.field),
        ("x.campaign_id", &f.campaign),
        ("x.disposition", &f.disposition),
    ] {
        if let Some(v) = v {
            q.and(&format!("{col} = {{}}"), Bind::Text(v.clone()));
        }
    }
    // Scores are validated digits; the cast is guarded all the same.
    let score = "(CASE WHEN x.q4 IN ('1','2','3','4','5','6','7','8','9','10') \
                 THEN CAST(x.q4 AS BIGINT) END)";
    if let Some(n) = f.score_min {
        q.and(&format!("{score} >= {{}}"), Bind::Int(n));
    }
    if let Some(n) = f.score_max {
        q.and(&format!("{score} <= {{}}"), Bind::Int(n));
    }
    match f.satisfied {
        Some(true) => q.text.push_str(" AND x.q1 = '1'"),
        Some(false) => q.text.push_str(" AND x.q1 IN ('2', '3')"),
        None => {}
    }
    match f.has_complaint {
        Some(true) => q.text.push_str(" AND x.q3_kind IN ('clip', 'value')"),
        Some(false) => q
            .text
            .push_str(" AND (x.q3_kind IS NULL OR x.q3_kind = 'unanswered')"),
        None => {}
    }
    if let Some(c) = cursor {
        q.binds.push(Bind::Int(c.started_at_ms));
        q.binds.push(Bind::Text(c.id.clone()));
        let (a, b) = (q.binds.len() - 1, q.binds.len());
        q.text.push_str(&format!(
            " AND (x.started_at < ${a} OR (x.started_at = ${a} AND x.id < ${b}))"
        ));
    }
    q
}

impl Store {
    /// A page of calls matching `f`, newest first.
    pub async fn list_calls(
        &self,
        f: &CallFilter,
        cursor: Option<&Cursor>,
        limit: i64,
    ) -> Result<CallPage, StoreError> {
        const OP: &str = "list_calls";
        let limit = limit.clamp(1, 500);
        let mut q = filter_sql(f, cursor);
        q.text.push_str(&format!(
            " ORDER BY x.started_at DESC, x.id DESC LIMIT {}",
            limit + 1
        ));
        let mut query = sqlx::query(AssertSqlSafe(q.text));
        for b in q.binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(n) => query.bind(n),
            };
        }
        let rows = query
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
    let q3_kind: Option<String> = col(r, op, "q3_kind")?;
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
        has_complaint: matches!(q3_kind.as_deref(), Some("clip" | "value")),
        has_recording: col::<i64>(r, op, "recordings")? > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_bind_order() {
        let f = CallFilter {
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
        assert_eq!(q.binds.len(), 7);
        for n in 1..=7 {
            assert!(q.text.contains(&format!("${n}")), "${n} in {}", q.text);
        }
        assert!(!q.text.contains("$8"));
        assert!(q.text.contains("x.unit_code IN ($2, $3)"));
        assert!(
            !q.text.contains("Hộ tịch"),
            "values are bound, never inlined"
        );
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("x_y"), None);
    }

    #[test]
    fn an_empty_scope_matches_nothing() {
        let f = CallFilter {
            units: Some(vec![]),
            ..Default::default()
        };
        assert!(filter_sql(&f, None).text.ends_with("AND 1 = 0"));
    }
}
