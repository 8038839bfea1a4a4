//! Read side: a call with its survey answers and recording, for the CLI's JSON.

use super::calls::call_from_row;
use super::error::classify;
use super::survey::latest_per_key;
use super::types::{CallId, CallRecord, CallSummary};
use super::{Store, StoreError};

impl Store {
    /// The call, its latest response's answers (latest revision per key) and
    /// its latest recording; `None` if there is no such call.
    pub async fn call_summary(&self, id: &CallId) -> Result<Option<CallSummary>, StoreError> {
        const OP: &str = "call_summary";
        let row = sqlx::query(
            "SELECT id, dossier_code, sip_call_id, destination, caller_id, dialplan, started_at, \
             answered_at, ended_at, disposition, sip_code, reason, end_reason \
             FROM calls WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        match row {
            Some(r) => Ok(Some(self.summarise(call_from_row(&r, OP)?, OP).await?)),
            None => Ok(None),
        }
    }

    /// The `limit` most recently started calls, newest first, with their surveys.
    pub async fn recent_calls(&self, limit: i64) -> Result<Vec<CallSummary>, StoreError> {
        const OP: &str = "recent_calls";
        let rows = sqlx::query(
            "SELECT id, dossier_code, sip_call_id, destination, caller_id, dialplan, started_at, \
             answered_at, ended_at, disposition, sip_code, reason, end_reason \
             FROM calls ORDER BY started_at DESC, id LIMIT $1",
        )
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.summarise(call_from_row(r, OP)?, OP).await?);
        }
        Ok(out)
    }

    async fn summarise(
        &self,
        call: CallRecord,
        op: &'static str,
    ) -> Result<CallSummary, StoreError> {
        let response = self.latest_response(&call.id, op).await?;
        let answers = match &response {
            Some(resp) => latest_per_key(self.answer_history(&resp.id).await?),
            None => Vec::new(),
        };
        let recording = self.latest_recording(&call.id, op).await?;
        Ok(CallSummary {
            call,
            response,
            answers,
            recording,
        })
    }
}
