//! Read side of the review page: a call's recording, the answers marked on
//! it and its spoken-answer clips, and the unit the call belongs to (for the
//! caller's scope check).

use super::error::classify;
use super::survey::latest_per_key;
use super::types::{AnswerRecord, CallId, RecordingRecord};
use super::{Store, StoreError, col};

impl Store {
    /// The latest recording of a call, if any.
    pub async fn recording_of_call(
        &self,
        call: &CallId,
    ) -> Result<Option<RecordingRecord>, StoreError> {
        self.latest_recording(call, "recording_of_call").await
    }

    /// The latest revision of each answer of the call's latest response, in
    /// the order keys were first answered; empty if no survey was started.
    /// Clips are the rows of kind [`AnswerKind::Clip`](super::AnswerKind::Clip) with a `clip_path`.
    pub async fn call_answers(&self, call: &CallId) -> Result<Vec<AnswerRecord>, StoreError> {
        match self.latest_response(call, "call_answers").await? {
            Some(r) => Ok(latest_per_key(self.answer_history(&r.id).await?)),
            None => Ok(Vec::new()),
        }
    }

    /// The unit of the call's dossier: `None` if there is no such call,
    /// `Some(None)` if the call has no dossier or the dossier was never imported.
    /// Used to check a supervisor's unit scope before serving a recording.
    pub async fn call_unit(&self, call: &CallId) -> Result<Option<Option<String>>, StoreError> {
        const OP: &str = "call_unit";
        let row = sqlx::query(
            "SELECT d.unit_code AS unit_code FROM calls c \
             LEFT JOIN dossiers d ON d.code = c.dossier_code WHERE c.id = $1",
        )
        .bind(call.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| col(&r, OP, "unit_code")).transpose()
    }
}
