//! The plain data the store reads and writes.
//!
//! Timestamps are `DateTime<Utc>` here and BIGINT unix milliseconds in the
//! database, so sub-millisecond precision is dropped on the way in.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Call dispositions. The column is free text so that `call/` can grow the set
/// without a migration; these are the values it uses today.
pub mod disposition {
    /// Set by [`crate::store::Store::start_call`]; still so while the call runs.
    pub const IN_PROGRESS: &str = "in_progress";
    /// The callee picked up (the caller decides whether that also means "completed").
    pub const ANSWERED: &str = "answered";
    /// Picked up, but never pressed a key or said anything.
    pub const NO_INPUT: &str = "no_input";
    /// SIP 486/600.
    pub const BUSY: &str = "busy";
    /// Rang out (SIP 408/480 or our own ring timeout).
    pub const NO_ANSWER: &str = "no_answer";
    /// SIP 603 or another explicit refusal.
    pub const REJECTED: &str = "rejected";
    /// Trunk, network or media failure.
    pub const FAILED: &str = "failed";
    /// The process stopped while the call was in progress; set at the next start by
    /// [`crate::store::Store::mark_interrupted`].
    pub const INTERRUPTED: &str = "interrupted";

    /// Every value above, for validation and documentation.
    pub const ALL: [&str; 8] = [
        IN_PROGRESS,
        ANSWERED,
        NO_INPUT,
        BUSY,
        NO_ANSWER,
        REJECTED,
        FAILED,
        INTERRUPTED,
    ];
}

/// Survey response statuses (free text, like dispositions).
pub mod response_status {
    pub const IN_PROGRESS: &str = "in_progress";
    /// Every question the form's `complete_when` names is answered (AAPOR *I*),
    /// whatever happened after that on the line.
    pub const COMPLETED: &str = "completed";
    /// Some questions answered, not all a complete needs (AAPOR *P*); a
    /// campaign retry resumes it.
    pub const PARTIAL: &str = "partial";
    /// The call ended without any question of the form answered (unanswered,
    /// busy, declined, hung up before consent): no interview.
    pub const NOT_STARTED: &str = "not_started";
    /// The process stopped mid-survey; the answers given so far are kept.
    pub const INTERRUPTED: &str = "interrupted";
}

/// Declares a TEXT UUID id newtype (used by `campaign_types.rs` too).
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new_v4() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(super) use text_id;

text_id!(
    /// Id of a row in `calls`.
    CallId
);
text_id!(
    /// Id of a row in `survey_responses`.
    ResponseId
);
text_id!(
    /// Id of a row in `answers`.
    AnswerId
);
text_id!(
    /// Id of a row in `recordings`.
    RecordingId
);

/// A dossier from the one-stop information system: the subject of a survey call.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Dossier {
    pub code: String,
    /// Name of the administrative procedure (thủ tục hành chính).
    pub procedure: String,
    pub field: String,
    /// The one-stop desk (province centre, district or commune) that handled it.
    pub unit_code: String,
    /// "person" or "organisation" (the brief's applicant kinds).
    pub applicant_kind: String,
    pub applicant_name: String,
    pub phone: String,
    pub received_at: Option<DateTime<Utc>>,
    /// When the result was handed back; surveys happen only after this.
    pub returned_at: Option<DateTime<Utc>>,
    /// Kept from the first upsert; later upserts do not change it.
    pub created_at: DateTime<Utc>,
}

/// Names and phone numbers stay out of logs.
impl fmt::Debug for Dossier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dossier")
            .field("code", &self.code)
            .field("procedure", &self.procedure)
            .field("field", &self.field)
            .field("unit_code", &self.unit_code)
            .field("applicant_kind", &self.applicant_kind)
            .field("applicant_name", &"{REDACTED}")
            .field("phone", &"{REDACTED}")
            .field("received_at", &self.received_at)
            .field("returned_at", &self.returned_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What is known when a call is placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCall {
    /// The row id to use (a dialer records it on the target before dialling); new if None.
    pub id: Option<CallId>,
    pub dossier_code: Option<String>,
    pub sip_call_id: Option<String>,
    /// Phone number or SIP URI dialled.
    pub destination: String,
    /// The number presented to the callee (the hotline's official number).
    pub caller_id: String,
    /// Name of the dialplan (questionnaire) run on the call.
    pub dialplan: String,
    pub started_at: DateTime<Utc>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOutcome {
    /// One of [`disposition`].
    pub disposition: String,
    /// Final SIP status code, if a final response was seen.
    pub sip_code: Option<u16>,
    /// SIP reason phrase or Reason header text.
    pub reason: Option<String>,
    /// Why the call ended from our side ("bye_remote", "survey_done", "timeout", ...).
    pub end_reason: Option<String>,
    pub ended_at: DateTime<Utc>,
}

/// The three shapes of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerKind {
    /// A keypad (or operator-entered) value.
    Value,
    /// A spoken answer, stored as an audio clip.
    Clip,
    /// The question was asked but not answered (`why` says how).
    Unanswered,
}

impl AnswerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::Value => "value",
            AnswerKind::Clip => "clip",
            AnswerKind::Unanswered => "unanswered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "value" => Some(AnswerKind::Value),
            "clip" => Some(AnswerKind::Clip),
            "unanswered" => Some(AnswerKind::Unanswered),
            _ => None,
        }
    }
}

/// One answer, written the moment it is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAnswer {
    /// Question key from the dialplan.
    pub key: String,
    pub kind: AnswerKind,
    pub value: Option<String>,
    /// Free text: why unanswered ("timeout", "invalid"), or how the value was got.
    pub why: Option<String>,
    /// Where in the call's recording the answer was given.
    pub offset_ms: Option<i64>,
    pub clip_path: Option<String>,
    /// Stored to the millisecond.
    pub clip_seconds: Option<f64>,
    pub clip_sha256: Option<String>,
    pub answered_at: DateTime<Utc>,
}

/// A finished recording file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRecording {
    pub path: String,
    pub seconds: f64,
    pub sha256: String,
    pub bytes: u64,
    pub created_at: DateTime<Utc>,
}

/// A row of `calls`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub id: CallId,
    pub dossier_code: Option<String>,
    pub sip_call_id: Option<String>,
    pub destination: String,
    pub caller_id: String,
    pub dialplan: String,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub disposition: String,
    pub sip_code: Option<u16>,
    pub reason: Option<String>,
    pub end_reason: Option<String>,
}

/// A row of `survey_responses`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseRecord {
    pub id: ResponseId,
    pub call_id: CallId,
    pub dossier_code: Option<String>,
    pub dialplan: String,
    pub created_at: DateTime<Utc>,
    pub status: String,
}

/// A row of `answers`. `revision` counts from 1 per (response, key).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerRecord {
    pub id: AnswerId,
    pub response_id: ResponseId,
    pub key: String,
    pub revision: i64,
    pub kind: AnswerKind,
    pub value: Option<String>,
    pub why: Option<String>,
    pub offset_ms: Option<i64>,
    pub clip_path: Option<String>,
    pub clip_seconds: Option<f64>,
    pub clip_sha256: Option<String>,
    pub answered_at: DateTime<Utc>,
    /// Who corrected the answer (a user), for revisions made after the call.
    pub changed_by: Option<String>,
    /// Why it was corrected.
    pub change_reason: Option<String>,
}

/// A row of `recordings`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingRecord {
    pub id: RecordingId,
    pub call_id: CallId,
    pub path: String,
    pub seconds: f64,
    pub sha256: String,
    pub bytes: u64,
    pub created_at: DateTime<Utc>,
}

/// A call with its survey: what the CLI prints as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSummary {
    pub call: CallRecord,
    /// The call's latest survey response, if one was started.
    pub response: Option<ResponseRecord>,
    /// The latest revision of each answered key, in the order keys were first answered.
    pub answers: Vec<AnswerRecord>,
    /// The call's latest recording.
    pub recording: Option<RecordingRecord>,
}

/// Unix milliseconds, the stored form of every timestamp.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}
