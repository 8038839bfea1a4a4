//! The `calls` repository: one row per call attempt, from dial to hang-up.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{CallId, CallOutcome, CallRecord, NewCall, disposition, response_status, to_ms};
use super::{Store, StoreError, col, ts, ts_opt, unsigned};

impl Store {
    /// Records a call being placed, with disposition `in_progress`.
    pub async fn start_call(&self, c: &NewCall) -> Result<CallId, StoreError> {
        const OP: &str = "start_call";
        let id = c.id.clone().unwrap_or_else(CallId::new_v4);
        sqlx::query(
            "INSERT INTO calls (id, dossier_code, sip_call_id, destination, caller_id, dialplan, \
             started_at, disposition, instance_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.as_str())
        .bind(c.dossier_code.as_deref())
        .bind(c.sip_call_id.as_deref())
        .bind(&c.destination)
        .bind(&c.caller_id)
        .bind(&c.dialplan)
        .bind(to_ms(c.started_at))
        .bind(disposition::IN_PROGRESS)
        .bind(self.instance.as_deref())
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(id)
    }

    /// Sets the SIP Call-ID once the INVITE has been built.
    pub async fn set_sip_call_id(&self, id: &CallId, sip_call_id: &str) -> Result<(), StoreError> {
        const OP: &str = "set_sip_call_id";
        let done = sqlx::query("UPDATE calls SET sip_call_id = $1 WHERE id = $2")
            .bind(sip_call_id)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        expect_one(OP, id, done.rows_affected())
    }

    /// Records the 200 OK. The disposition stays `in_progress` until
    /// [`Store::finish_call`], so a crash mid-survey is still caught by
    /// [`Store::mark_interrupted`].
    pub async fn call_answered(&self, id: &CallId, at: DateTime<Utc>) -> Result<(), StoreError> {
        const OP: &str = "call_answered";
        let done = sqlx::query("UPDATE calls SET answered_at = $1 WHERE id = $2")
            .bind(to_ms(at))
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        expect_one(OP, id, done.rows_affected())
    }

    /// Records how the call ended, and seals the call into the audit chain
    /// in the same transaction (`seals.rs`).
    pub async fn finish_call(&self, id: &CallId, f: &CallOutcome) -> Result<(), StoreError> {
        const OP: &str = "finish_call";
        let (mut tx, locked) = self.begin_link(OP).await?;
        let done = sqlx::query(
            "UPDATE calls SET disposition = $1, sip_code = $2, reason = $3, end_reason = $4, \
             ended_at = $5 WHERE id = $6",
        )
        .bind(&f.disposition)
        .bind(f.sip_code.map(i64::from))
        .bind(f.reason.as_deref())
        .bind(f.end_reason.as_deref())
        .bind(to_ms(f.ended_at))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(OP, e))?;
        expect_one(OP, id, done.rows_affected())?;
        self.commit_seal(tx, locked, id, OP).await
    }

    /// Marks one call left `in_progress` by a process that is gone
    /// `interrupted` (its open survey response too), sealed into the audit
    /// chain in the same transaction. Answers are untouched; `ended_at` stays
    /// empty (when the call really ended is unknown). False when the call was
    /// finished meanwhile by its own (still running) writer.
    pub(super) async fn interrupt_call(&self, id: &CallId) -> Result<bool, StoreError> {
        const OP: &str = "mark_interrupted";
        let (mut tx, locked) = self.begin_link(OP).await?;
        sqlx::query("UPDATE survey_responses SET status = $1 WHERE status = $2 AND call_id = $3")
            .bind(response_status::INTERRUPTED)
            .bind(response_status::IN_PROGRESS)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(OP, e))?;
        let done = sqlx::query(
            "UPDATE calls SET disposition = $1, \
             end_reason = COALESCE(end_reason, 'process stopped during the call') \
             WHERE id = $2 AND disposition = $3",
        )
        .bind(disposition::INTERRUPTED)
        .bind(id.as_str())
        .bind(disposition::IN_PROGRESS)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(OP, e))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.commit_seal(tx, locked, id, OP).await?;
        Ok(true)
    }
}

impl Store {
    /// Interrupted calls that were answered but have no recording linked: the
    /// start-up pass looks for the file each one left (`call::recovery`).
    pub async fn interrupted_unrecorded(&self) -> Result<Vec<CallRecord>, StoreError> {
        const OP: &str = "interrupted_unrecorded";
        let rows = sqlx::query(
            "SELECT id, dossier_code, sip_call_id, destination, caller_id, dialplan, started_at, \
             answered_at, ended_at, disposition, sip_code, reason, end_reason FROM calls c \
             WHERE disposition = $1 AND answered_at IS NOT NULL AND sip_call_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.id)",
        )
        .bind(disposition::INTERRUPTED)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| call_from_row(r, OP)).collect()
    }
}

fn expect_one(op: &'static str, id: &CallId, rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        return Err(StoreError::NotFound {
            op,
            what: "call",
            id: id.to_string(),
        });
    }
    Ok(())
}

pub(super) fn call_from_row(r: &AnyRow, op: &'static str) -> Result<CallRecord, StoreError> {
    Ok(CallRecord {
        id: CallId(col(r, op, "id")?),
        dossier_code: col(r, op, "dossier_code")?,
        sip_call_id: col(r, op, "sip_call_id")?,
        destination: col(r, op, "destination")?,
        caller_id: col(r, op, "caller_id")?,
        dialplan: col(r, op, "dialplan")?,
        started_at: ts(r, op, "started_at")?,
        answered_at: ts_opt(r, op, "answered_at")?,
        ended_at: ts_opt(r, op, "ended_at")?,
        disposition: col(r, op, "disposition")?,
        sip_code: unsigned(r, op, "sip_code")?,
        reason: col(r, op, "reason")?,
        end_reason: col(r, op, "end_reason")?,
    })
}
