//! The `survey_responses` and `answers` repositories.
//!
//! Answers are append-only. Each is written the moment it is given, so a call
//! cut off mid-survey keeps what was said; a changed answer is a new row with
//! the next revision for its key.

use sqlx::any::AnyRow;

use super::campaign_types::TargetId;
use super::error::classify;
use super::types::{
    AnswerId, AnswerKind, AnswerRecord, CallId, NewAnswer, ResponseId, ResponseRecord,
    response_status, to_ms,
};
use super::{Store, StoreError, col, ts};

impl Store {
    /// Opens a survey response on a call, with status `in_progress` (a call
    /// outside any campaign: `carecall call`, the demo, click-to-call).
    pub async fn start_response(
        &self,
        call: &CallId,
        dossier: Option<&str>,
        dialplan: &str,
    ) -> Result<ResponseId, StoreError> {
        self.insert_response("start_response", call, dossier, dialplan, None)
            .await
    }

    /// The one survey response of a sampled dossier (campaign target), for a
    /// call about to be placed: the target's response when an earlier call
    /// opened one (set back to `in_progress`; its latest answers are returned
    /// so the dialplan can resume instead of asking again), else a new one on
    /// `call`. A dossier is one case, never two (issue 15; AAPOR).
    pub async fn open_target_response(
        &self,
        call: &CallId,
        target: &TargetId,
        dossier: Option<&str>,
        dialplan: &str,
    ) -> Result<(ResponseId, Vec<AnswerRecord>), StoreError> {
        const OP: &str = "open_target_response";
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM survey_responses WHERE target_id = $1")
                .bind(target.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| classify(OP, e))?;
        match existing {
            Some(id) => {
                let id = ResponseId(id);
                self.set_response_status(&id, response_status::IN_PROGRESS)
                    .await?;
                let given = latest_per_key(self.answer_history(&id).await?);
                Ok((id, given))
            }
            None => {
                let id = self
                    .insert_response(OP, call, dossier, dialplan, Some(target))
                    .await?;
                Ok((id, Vec::new()))
            }
        }
    }

    async fn insert_response(
        &self,
        op: &'static str,
        call: &CallId,
        dossier: Option<&str>,
        dialplan: &str,
        target: Option<&TargetId>,
    ) -> Result<ResponseId, StoreError> {
        let id = ResponseId::new_v4();
        sqlx::query(
            "INSERT INTO survey_responses \
             (id, call_id, dossier_code, dialplan, created_at, status, target_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(call.as_str())
        .bind(dossier)
        .bind(dialplan)
        .bind(to_ms(chrono::Utc::now()))
        .bind(response_status::IN_PROGRESS)
        .bind(target.map(TargetId::as_str))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(op, e))?;
        Ok(id)
    }

    /// Sets a response's status (see [`response_status`]).
    pub async fn set_response_status(
        &self,
        id: &ResponseId,
        status: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_response_status";
        let done = sqlx::query("UPDATE survey_responses SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                op: OP,
                what: "survey response",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Appends an answer as the next revision of its key and the next link of
    /// the answers' hash chain (see `audit.rs`), in one transaction serialised
    /// on the chain head; the UNIQUE (response, key, revision) constraint still
    /// refuses a duplicate instead of hiding it.
    /// An unknown response gives [`StoreError::Constraint`].
    pub async fn add_answer(&self, r: &ResponseId, a: &NewAnswer) -> Result<AnswerId, StoreError> {
        self.append_answer(r, a, None, None).await
    }

    /// Corrects an answer after the call: a new revision of `a.key` naming
    /// the user and the reason (both hashed into the chain). The original
    /// stays readable in [`Store::answer_history`].
    pub async fn revise_answer(
        &self,
        r: &ResponseId,
        a: &NewAnswer,
        changed_by: &str,
        reason: &str,
    ) -> Result<AnswerId, StoreError> {
        self.append_answer(r, a, Some(changed_by), Some(reason))
            .await
    }

    /// An answer entered by a user during the call (the operator's screen):
    /// the next revision of `a.key`, naming who gave it but no reason, since
    /// it is an answer, not a correction. It lands in the same record (and
    /// the same hash chain) as the IVR's answers.
    pub async fn add_answer_by(
        &self,
        r: &ResponseId,
        a: &NewAnswer,
        user: &str,
    ) -> Result<AnswerId, StoreError> {
        self.append_answer(r, a, Some(user), None).await
    }

    /// Every revision of every answer of a response, oldest first.
    pub async fn answer_history(&self, r: &ResponseId) -> Result<Vec<AnswerRecord>, StoreError> {
        const OP: &str = "answer_history";
        let rows = sqlx::query(
            "SELECT id, response_id, key, revision, kind, value, why, offset_ms, clip_path, \
             clip_ms, clip_sha256, answered_at, changed_by, change_reason FROM answers \
             WHERE response_id = $1 \
             ORDER BY answered_at, key, revision",
        )
        .bind(r.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|row| answer_from_row(row, OP)).collect()
    }

    /// The response a call wrote into: the most recent one opened on it, else
    /// (a campaign retry that resumed its dossier's response) its target's.
    pub(super) async fn latest_response(
        &self,
        call: &CallId,
        op: &'static str,
    ) -> Result<Option<ResponseRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, call_id, dossier_code, dialplan, created_at, status \
             FROM survey_responses WHERE call_id = $1 \
             OR target_id = (SELECT target_id FROM calls WHERE id = $2) \
             ORDER BY CASE WHEN call_id = $3 THEN 0 ELSE 1 END, created_at DESC, id LIMIT 1",
        )
        .bind(call.as_str())
        .bind(call.as_str())
        .bind(call.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(op, e))?;
        row.map(|r| response_from_row(&r, op)).transpose()
    }
}

/// Clip lengths are stored as integer milliseconds. A nullable float column
/// would be simpler, but sqlx 0.9's Any driver binds `None::<f64>` as a float4
/// NULL on PostgreSQL; the statement is then prepared and cached with a float4
/// parameter and the next `Some(f64)` fails ("incorrect binary data format").
pub(super) fn seconds_to_ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

/// The latest revision of each key, in the order keys were first answered.
/// `history` must be ordered by time, as [`Store::answer_history`] returns it.
pub(super) fn latest_per_key(history: Vec<AnswerRecord>) -> Vec<AnswerRecord> {
    let mut latest: Vec<AnswerRecord> = Vec::new();
    for a in history {
        match latest.iter_mut().find(|l| l.key == a.key) {
            Some(l) if a.revision > l.revision => *l = a,
            Some(_) => {}
            None => latest.push(a),
        }
    }
    latest
}

fn response_from_row(r: &AnyRow, op: &'static str) -> Result<ResponseRecord, StoreError> {
    Ok(ResponseRecord {
        id: ResponseId(col(r, op, "id")?),
        call_id: CallId(col(r, op, "call_id")?),
        dossier_code: col(r, op, "dossier_code")?,
        dialplan: col(r, op, "dialplan")?,
        created_at: ts(r, op, "created_at")?,
        status: col(r, op, "status")?,
    })
}

pub(super) fn answer_from_row(r: &AnyRow, op: &'static str) -> Result<AnswerRecord, StoreError> {
    let kind: String = col(r, op, "kind")?;
    Ok(AnswerRecord {
        id: AnswerId(col(r, op, "id")?),
        response_id: ResponseId(col(r, op, "response_id")?),
        key: col(r, op, "key")?,
        revision: col(r, op, "revision")?,
        kind: AnswerKind::parse(&kind).ok_or(StoreError::Corrupt { op, column: "kind" })?,
        value: col(r, op, "value")?,
        why: col(r, op, "why")?,
        offset_ms: col(r, op, "offset_ms")?,
        clip_path: col(r, op, "clip_path")?,
        clip_seconds: col::<Option<i64>>(r, op, "clip_ms")?.map(|ms| ms as f64 / 1000.0),
        clip_sha256: col(r, op, "clip_sha256")?,
        answered_at: ts(r, op, "answered_at")?,
        changed_by: col(r, op, "changed_by")?,
        change_reason: col(r, op, "change_reason")?,
    })
}
