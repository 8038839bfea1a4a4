//! Follow-up of the complaints citizens make at Q3 ("what was inconvenient or
//! improper and needs fixing?").
//!
//! A complaint is a survey response whose latest Q3 answer is a clip or a
//! non-empty text value (operators may type it); it has no row of its own.
//! What supervisors do about it is an append-only list of events in
//! `complaint_events` (migration 7), and the complaint's state is derived from
//! that list by [`next_state`], a pure function: the history is the truth, so
//! a state can never disagree with how it was reached.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

mod lifecycle;

pub use lifecycle::{ComplaintAction, ComplaintState, TransitionError, next_state, replay};

use crate::store::error::classify;
use crate::store::survey::answer_from_row;
use crate::store::types::{AnswerRecord, CallId, ResponseId, to_ms};
use crate::store::{Store, StoreError, col, ts};

/// The answer key of the complaint question in the 1022 dialplan.
pub const COMPLAINT_KEY: &str = "q3";

/// A row of `complaint_events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplaintEvent {
    pub id: String,
    pub response_id: ResponseId,
    /// 1, 2, 3, ... per complaint.
    pub seq: i64,
    /// The unit the complaint is with after this event.
    pub unit_code: Option<String>,
    pub action: ComplaintAction,
    pub note: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    /// On a `forwarded` event: the province chose to hide the citizen's
    /// identity from the unit it forwards to.
    pub mask_identity: bool,
}

/// What a supervisor asks to do.
#[derive(Debug, Clone, PartialEq)]
pub struct NewComplaintEvent {
    pub action: ComplaintAction,
    pub note: Option<String>,
    /// The unit to forward to; read for `forwarded` (default: the dossier's
    /// unit) and `opened` only, other events keep the current unit.
    pub unit_code: Option<String>,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// For `forwarded`: hide the citizen's identity from the receiving unit.
    pub mask_identity: bool,
}

/// A complaint and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Complaint {
    pub response_id: ResponseId,
    pub call_id: CallId,
    pub dossier_code: Option<String>,
    /// The unit that handled the dossier.
    pub dossier_unit: Option<String>,
    /// The unit the complaint is with now (the dossier's until forwarded).
    pub assigned_unit: Option<String>,
    pub state: ComplaintState,
    /// The latest revision of the Q3 answer (clip or text).
    pub answer: AnswerRecord,
    pub call_started_at: DateTime<Utc>,
    /// When the last event was written; `None` if nobody has acted yet.
    pub updated_at: Option<DateTime<Utc>>,
    /// Whether the province has forwarded it (to `assigned_unit`).
    pub forwarded: bool,
    /// Whether the last forwarding hid the citizen's identity.
    pub identity_masked: bool,
}

impl Complaint {
    /// Whether a user scoped to `units` (already expanded to the units below
    /// theirs) may see it. A complaint is about the unit that handled the
    /// dossier, so that unit's supervisor must not see it first: a scoped
    /// user sees it only once it has been forwarded to a unit in their scope.
    /// Users of the whole province (`None`) see every complaint.
    pub fn in_scope(&self, units: Option<&[String]>) -> bool {
        let Some(units) = units else { return true };
        self.forwarded
            && self
                .assigned_unit
                .as_ref()
                .is_some_and(|u| units.contains(u))
    }
}

/// A complaint with its whole history, oldest event first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplaintDetail {
    #[serde(flatten)]
    pub complaint: Complaint,
    pub events: Vec<ComplaintEvent>,
}

/// Which complaints to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComplaintFilter {
    /// Unit scope, already expanded to descendants by the caller; `None` = all.
    pub units: Option<Vec<String>>,
    pub state: Option<ComplaintState>,
    /// Period of the survey call: `from <= started_at < to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Why an action was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ComplaintError {
    #[error("no complaint on survey response {0}")]
    NotFound(ResponseId),
    #[error("complaint {response}: {source}")]
    Transition {
        response: ResponseId,
        #[source]
        source: TransitionError,
    },
    #[error("complaint {0}: no unit to forward to (give one: the dossier has none)")]
    NoUnit(ResponseId),
    #[error("complaint {0}: history does not replay; it was edited outside carecall")]
    CorruptHistory(ResponseId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const COMPLAINT_SELECT: &str = "SELECT r.id AS r_id, r.call_id AS r_call_id, \
     COALESCE(r.dossier_code, c.dossier_code) AS r_dossier, d.unit_code AS d_unit, \
     c.started_at AS c_started_at, a.id, a.response_id, a.key, a.revision, a.kind, a.value, \
     a.why, a.offset_ms, a.clip_path, a.clip_ms, a.clip_sha256, a.answered_at, \
     a.changed_by, a.change_reason \
     FROM answers a \
     JOIN survey_responses r ON r.id = a.response_id \
     JOIN calls c ON c.id = r.call_id \
     LEFT JOIN dossiers d ON d.code = COALESCE(r.dossier_code, c.dossier_code) \
     WHERE a.key = 'q3' /* COMPLAINT_KEY */ \
     AND a.revision = (SELECT MAX(a2.revision) FROM answers a2 \
                       WHERE a2.response_id = a.response_id AND a2.key = 'q3') \
     AND (a.kind = 'clip' OR (a.kind = 'value' AND a.value IS NOT NULL AND a.value <> ''))";

const EVENT_COLUMNS: &str = "id, response_id, seq, unit_code, action, note, actor, created_at, \
     mask_identity FROM complaint_events";

/// Placeholders `$first, $first+1, ...` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Complaints matching `filter`, most recent call first.
    pub async fn complaints(&self, filter: &ComplaintFilter) -> Result<Vec<Complaint>, StoreError> {
        const OP: &str = "complaints";
        let mut sql = String::from(COMPLAINT_SELECT);
        let mut binds = Vec::new();
        for (bound, cmp) in [(filter.from, ">="), (filter.to, "<")] {
            if let Some(t) = bound {
                binds.push(to_ms(t));
                sql.push_str(&format!(" AND c.started_at {cmp} ${}", binds.len()));
            }
        }
        sql.push_str(" ORDER BY c.started_at DESC, r.id");
        // Only constants and numbered placeholders go into `sql`; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(|e| classify(OP, e))?;
        let mut events = self.events_of(&rows, OP).await?;
        let mut out = Vec::new();
        for row in &rows {
            let id: String = col(row, OP, "r_id")?;
            let history = events.remove(&id).unwrap_or_default();
            let c = complaint_from_row(row, &history, OP)?;
            if c.in_scope(filter.units.as_deref()) && filter.state.is_none_or(|s| s == c.state) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// One complaint with its history; `None` if the response has no complaint.
    pub async fn complaint(
        &self,
        response: &ResponseId,
    ) -> Result<Option<ComplaintDetail>, StoreError> {
        const OP: &str = "complaint";
        let sql = format!("{COMPLAINT_SELECT} AND r.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(response.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        let Some(row) = row else { return Ok(None) };
        let events = self.complaint_events(response, OP).await?;
        let complaint = complaint_from_row(&row, &events, OP)?;
        Ok(Some(ComplaintDetail { complaint, events }))
    }

    /// Records `ev` if the life cycle allows it (see [`next_state`]), writing
    /// an `opened` event first when it is the complaint's first. Returns the
    /// complaint as it now stands. Two writers racing on the same complaint:
    /// the loser gets [`StoreError::Constraint`] (UNIQUE response, seq).
    pub async fn add_complaint_event(
        &self,
        response: &ResponseId,
        ev: &NewComplaintEvent,
    ) -> Result<ComplaintDetail, ComplaintError> {
        const OP: &str = "add_complaint_event";
        let detail = self
            .complaint(response)
            .await?
            .ok_or_else(|| ComplaintError::NotFound(response.clone()))?;
        let plan = plan_events(&detail, ev)?;
        let mut tx = self.pool.begin().await.map_err(|e| classify(OP, e))?;
        for (i, (action, unit)) in plan.into_iter().enumerate() {
            let seq = detail.events.len() as i64 + 1 + i as i64;
            let note = if action == ev.action {
                ev.note.as_deref()
            } else {
                None
            };
            let mask = ev.mask_identity && action == ComplaintAction::Forwarded;
            sqlx::query(
                "INSERT INTO complaint_events \
                 (id, response_id, seq, unit_code, action, note, actor, created_at, mask_identity) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(response.as_str())
            .bind(seq)
            .bind(unit)
            .bind(action.as_str())
            .bind(note)
            .bind(&ev.actor)
            .bind(to_ms(ev.at))
            .bind(i64::from(mask))
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(OP, e))?;
        }
        tx.commit().await.map_err(|e| classify(OP, e))?;
        self.complaint(response)
            .await?
            .ok_or_else(|| ComplaintError::NotFound(response.clone()))
    }

    async fn complaint_events(
        &self,
        response: &ResponseId,
        op: &'static str,
    ) -> Result<Vec<ComplaintEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} WHERE response_id = $1 ORDER BY seq");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(response.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(op, e))?;
        rows.iter().map(|r| event_from_row(r, op)).collect()
    }

    /// The events of the complaints in `rows`, by response id, in seq order.
    async fn events_of(
        &self,
        rows: &[AnyRow],
        op: &'static str,
    ) -> Result<std::collections::HashMap<String, Vec<ComplaintEvent>>, StoreError> {
        let mut out: std::collections::HashMap<String, Vec<ComplaintEvent>> = Default::default();
        let ids = rows
            .iter()
            .map(|r| col::<String>(r, op, "r_id"))
            .collect::<Result<Vec<_>, _>>()?;
        // Bounded IN lists: SQLite allows 32,766 parameters, PostgreSQL 65,535.
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} WHERE response_id IN ({}) ORDER BY response_id, seq",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.as_str());
            }
            let rows = q.fetch_all(&self.pool).await.map_err(|e| classify(op, e))?;
            for r in &rows {
                let e = event_from_row(r, op)?;
                out.entry(e.response_id.0.clone()).or_default().push(e);
            }
        }
        Ok(out)
    }
}

/// The events to insert for `ev` on `detail`, with the unit each leaves the
/// complaint with: an automatic `opened` first if nothing was recorded yet.
fn plan_events(
    detail: &ComplaintDetail,
    ev: &NewComplaintEvent,
) -> Result<Vec<(ComplaintAction, Option<String>)>, ComplaintError> {
    let id = &detail.complaint.response_id;
    let transition = |source| ComplaintError::Transition {
        response: id.clone(),
        source,
    };
    let current = match detail.events.last() {
        None => None,
        Some(_) => Some(
            replay(detail.events.iter().map(|e| e.action))
                .map_err(|_| ComplaintError::CorruptHistory(id.clone()))?,
        ),
    };
    let mut plan = Vec::new();
    let mut state = current;
    let mut unit = detail.complaint.assigned_unit.clone();
    if current.is_none() && ev.action != ComplaintAction::Opened {
        state = Some(next_state(None, ComplaintAction::Opened).map_err(transition)?);
        plan.push((ComplaintAction::Opened, unit.clone()));
    }
    next_state(state, ev.action).map_err(transition)?;
    match ev.action {
        ComplaintAction::Forwarded => {
            unit = ev
                .unit_code
                .clone()
                .or(detail.complaint.dossier_unit.clone());
            if unit.is_none() {
                return Err(ComplaintError::NoUnit(id.clone()));
            }
        }
        ComplaintAction::Opened => unit = ev.unit_code.clone().or(unit),
        _ => {}
    }
    plan.push((ev.action, unit));
    Ok(plan)
}

fn complaint_from_row(
    r: &AnyRow,
    events: &[ComplaintEvent],
    op: &'static str,
) -> Result<Complaint, StoreError> {
    let dossier_unit: Option<String> = col(r, op, "d_unit")?;
    let state = replay(events.iter().map(|e| e.action)).map_err(|_| StoreError::Corrupt {
        op,
        column: "complaint_events.action",
    })?;
    let assigned_unit = match events.last() {
        Some(e) => e.unit_code.clone(),
        None => dossier_unit.clone(),
    };
    let last_forward = events
        .iter()
        .rev()
        .find(|e| e.action == ComplaintAction::Forwarded);
    Ok(Complaint {
        forwarded: last_forward.is_some(),
        identity_masked: last_forward.is_some_and(|e| e.mask_identity),
        response_id: ResponseId(col(r, op, "r_id")?),
        call_id: CallId(col(r, op, "r_call_id")?),
        dossier_code: col(r, op, "r_dossier")?,
        dossier_unit,
        assigned_unit,
        state,
        answer: answer_from_row(r, op)?,
        call_started_at: ts(r, op, "c_started_at")?,
        updated_at: events.last().map(|e| e.created_at),
    })
}

fn event_from_row(r: &AnyRow, op: &'static str) -> Result<ComplaintEvent, StoreError> {
    let action: String = col(r, op, "action")?;
    Ok(ComplaintEvent {
        id: col(r, op, "id")?,
        response_id: ResponseId(col(r, op, "response_id")?),
        seq: col(r, op, "seq")?,
        unit_code: col(r, op, "unit_code")?,
        action: ComplaintAction::parse(&action).ok_or(StoreError::Corrupt {
            op,
            column: "action",
        })?,
        note: col(r, op, "note")?,
        actor: col(r, op, "actor")?,
        created_at: ts(r, op, "created_at")?,
        mask_identity: col::<i64>(r, op, "mask_identity")? != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
    }
}
