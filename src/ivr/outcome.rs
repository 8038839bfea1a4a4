//! What an IVR run produces: answers to questions and the reason the call ended.
//!
//! These values leave the engine (in [`Action`](super::Action)s) and are stored with the
//! survey record, so their serialised form is part of the data model: short snake_case
//! strings that read well in JSON, SQL and reports.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One stored answer to a question.
///
/// Serialised externally tagged in snake_case: `{"value":"10"}`, `"clip"`,
/// `{"unanswered":{"why":"no_input"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// A keypad answer after the node's `map`, e.g. `"10"` for a lone `0` on question 4.
    Value(String),
    /// A spoken answer: the clip the driver wrote between `StartClip` and `StopClip`.
    Clip,
    /// The question was asked but no usable answer was given. Never replaced by a
    /// default: the survey must show the citizen did not answer.
    Unanswered {
        /// Why the question has no answer.
        why: NoAnswerWhy,
    },
}

/// Why a question ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoAnswerWhy {
    /// No key was pressed before the first-digit timeout, on every attempt.
    NoInput,
    /// Keys were pressed but never formed an accepted answer.
    Invalid,
    /// A spoken answer was asked for but no speech was heard.
    NoSpeech,
}

impl NoAnswerWhy {
    /// The snake_case name used in storage and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoInput => "no_input",
            Self::Invalid => "invalid",
            Self::NoSpeech => "no_speech",
        }
    }
}

/// Why the IVR ended the call (or saw it end).
///
/// Serialised as a bare snake_case string (`"completed"`, `"do_not_call"`); any other
/// string written in a dialplan's `hangup.reason` round-trips as [`EndReason::Custom`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EndReason {
    /// The questionnaire ran to its end.
    Completed,
    /// The citizen declined the survey.
    Declined,
    /// The citizen asked never to be called again.
    DoNotCall,
    /// The call was answered but the citizen never gave usable input.
    NoInput,
    /// The citizen hung up first.
    PeerHangup,
    /// A reason named by the dialplan, or an engine safety stop (`time_limit`,
    /// `dialplan_loop`, `dialplan_error`).
    Custom(String),
}

impl EndReason {
    /// The snake_case name used in storage, logs and dialplans.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Completed => "completed",
            Self::Declined => "declined",
            Self::DoNotCall => "do_not_call",
            Self::NoInput => "no_input",
            Self::PeerHangup => "peer_hangup",
            Self::Custom(s) => s,
        }
    }
}

impl From<String> for EndReason {
    fn from(s: String) -> Self {
        match s.as_str() {
            "completed" => Self::Completed,
            "declined" => Self::Declined,
            "do_not_call" => Self::DoNotCall,
            "no_input" => Self::NoInput,
            "peer_hangup" => Self::PeerHangup,
            _ => Self::Custom(s),
        }
    }
}

impl From<EndReason> for String {
    fn from(r: EndReason) -> Self {
        match r {
            EndReason::Custom(s) => s,
            other => other.as_str().to_owned(),
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_serialise_as_snake_case() {
        let json = |a: &Answer| serde_json::to_string(a).unwrap();
        assert_eq!(json(&Answer::Value("10".into())), r#"{"value":"10"}"#);
        assert_eq!(json(&Answer::Clip), r#""clip""#);
        let none = Answer::Unanswered {
            why: NoAnswerWhy::NoSpeech,
        };
        assert_eq!(json(&none), r#"{"unanswered":{"why":"no_speech"}}"#);
        assert_eq!(serde_json::from_str::<Answer>(&json(&none)).unwrap(), none);
    }

    #[test]
    fn end_reasons_round_trip_as_bare_strings() {
        for (reason, s) in [
            (EndReason::Completed, "completed"),
            (EndReason::DoNotCall, "do_not_call"),
            (EndReason::NoInput, "no_input"),
            (EndReason::PeerHangup, "peer_hangup"),
            (EndReason::Custom("busy_later".into()), "busy_later"),
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<EndReason>(&json).unwrap(), reason);
            assert_eq!(reason.to_string(), s);
        }
    }
}
