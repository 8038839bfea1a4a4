//! Read side of the review page: a call's recording, the answers marked on
//! it and its spoken-answer clips, and the unit the call belongs to (for the
//! caller's scope check: `Store::call_unit`, in call_list.rs).

use super::survey::latest_per_key;
use super::types::{AnswerRecord, CallId, RecordingRecord};
use super::{Store, StoreError};

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
}
