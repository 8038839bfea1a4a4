//! What a call produced: its outcome, the answers as given, and the printed
//! report; plus the writer task that puts each of them in the database the
//! moment it happens (so a killed process loses nothing already said).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::warn;

use super::disposition::Disposition;
use crate::ivr::{Answer, EndReason};
use crate::ivr::{CITIZEN_HANGUP, OPERATOR_HANGUP};
use crate::media::recorder::RecordingInfo;
use crate::questionnaire::Completeness;
use crate::store::{
    AnswerKind, CallId, CallOutcome, NewAnswer, NewRecording, ResponseId, Store, response_status,
};

#[derive(Debug, Clone)]
pub struct AnswerRecord {
    pub key: String,
    pub answer: Answer,
    /// Offset into the call recording when the answer was given.
    pub offset: Duration,
    pub clip: Option<RecordingInfo>,
    /// Wall-clock time the answer was given (not when it reached the database).
    pub given_at: chrono::DateTime<chrono::Utc>,
}

/// What is known about how the call went, filled in as it runs.
#[derive(Debug, Default)]
pub struct Outcome {
    pub sip_code: Option<u16>,
    pub answered_at: Option<chrono::DateTime<chrono::Utc>>,
    pub answers: Vec<AnswerRecord>,
    pub end_reason: Option<EndReason>,
    pub peer_hung_up: bool,
    pub ring_timeout: bool,
    pub no_media: bool,
    /// Any response (even 100 Trying) came back from the trunk.
    pub heard_from_trunk: bool,
    /// The dossier's response holds every answer the form's `complete_when`
    /// names (this call's and earlier calls' answers together).
    pub complete: bool,
    /// Writing the recording failed (the error): the survey went on unrecorded.
    /// Unlike a failure it does not decide the disposition, the answers do, so a
    /// full disk neither loses a completed survey nor re-dials its citizen.
    pub recording_failed: Option<String>,
    failure: Option<(Disposition, String)>,
}

impl Outcome {
    pub fn fail(&mut self, code: Option<u16>, reason: String) {
        if code.is_some() {
            self.sip_code = code;
        }
        self.failure.get_or_insert((Disposition::Failed, reason));
    }

    pub fn final_failure(&mut self, code: u16, disposition: Disposition, cause: &str) {
        self.sip_code = Some(code);
        let disposition = if self.ring_timeout && code == 487 {
            Disposition::NoAnswer
        } else {
            disposition
        };
        self.failure = Some((disposition, format!("{code} {cause}")));
    }

    /// The disposition of an attempt, from what happened on the line.
    pub fn disposition(&self, answered: bool, had_input: bool) -> Disposition {
        if !answered {
            if self.ring_timeout && self.failure.is_none() {
                return Disposition::NoAnswer;
            }
            return self
                .failure
                .as_ref()
                .map(|f| f.0)
                .unwrap_or(Disposition::Failed);
        }
        // A complete response is a complete interview whatever came after it
        // (hang-up in Q5 or the thanks, media lost, an error on our side):
        // dialling the citizen again would survey them twice (issue 15).
        if self.complete {
            return Disposition::Completed;
        }
        // A failure on our side (unusable SDP, recording error) outranks what
        // the citizen did; then how the dialplan ended; then whether anyone
        // ever answered anything (no_media with no input is a silent line).
        if self.failure.is_some() {
            return Disposition::Failed;
        }
        match &self.end_reason {
            Some(EndReason::Completed) => Disposition::Completed,
            // The citizen talked with an operator, who filled the form: the
            // attempt is done whoever hung up (calling back someone who just
            // spoke to the hotline is what makes citizens take it for spam).
            Some(EndReason::Custom(r)) if r == OPERATOR_HANGUP || r == CITIZEN_HANGUP => {
                Disposition::Completed
            }
            Some(EndReason::Declined) => Disposition::Declined,
            Some(EndReason::DoNotCall) => Disposition::DoNotCall,
            Some(EndReason::NoInput) => Disposition::NoInput,
            _ if !had_input => Disposition::NoInput,
            _ => Disposition::Answered,
        }
    }

    /// The citizen picked up and hung up before giving any answer, consent
    /// included: a soft refusal (one more try on another day, then final),
    /// not a silent line (no media) nor a problem of ours.
    pub fn hung_up_before_consent(&self, answered: bool) -> bool {
        answered
            && self.peer_hung_up
            && !self.no_media
            && !self.complete
            && self.failure.is_none()
            && matches!(
                self.end_reason,
                None | Some(EndReason::PeerHangup) | Some(EndReason::NoInput)
            )
            && self
                .answers
                .iter()
                .all(|a| matches!(a.answer, Answer::Unanswered { .. }))
    }

    pub fn reason(&self, disposition: Disposition) -> String {
        if let Some((_, r)) = &self.failure {
            return r.clone();
        }
        if let Some(e) = &self.recording_failed {
            return format!("{RECORDING_FAILED}: {e}");
        }
        if self.no_media {
            return "no_media: no RTP received".into();
        }
        if self.peer_hung_up && disposition != Disposition::Completed {
            return "the citizen hung up".into();
        }
        if self.ring_timeout {
            return "ring timeout".into();
        }
        disposition.as_str().into()
    }

    pub fn end_reason_str(&self) -> Option<String> {
        if self.no_media {
            return Some("no_media".into());
        }
        if let Some(r) = &self.end_reason {
            return Some(serde_name(r));
        }
        self.peer_hung_up.then(|| "peer_hangup".into())
    }
}

/// The start of the reason of a call whose recording could not be written.
pub const RECORDING_FAILED: &str = "recording_failed";

/// The snake_case name serde gives an enum value ("no_input", "completed").
fn serde_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "unknown".into(),
    }
}

/// The JSON printed by `carecall call`.
#[derive(Debug, Serialize)]
pub struct CallReport {
    pub call_id: String,
    pub db_id: String,
    pub disposition: Disposition,
    pub sip_code: Option<u16>,
    pub reason: String,
    pub end_reason: Option<String>,
    pub answers: BTreeMap<String, Value>,
    pub recording: Option<RecordingSummary>,
    /// Hung up before consent: a soft refusal for the retry policy.
    pub soft_refusal: bool,
    /// The citizen's RTP as received: what the strict-source latch dropped shows here.
    pub rtp: Option<RtpSummary>,
}

/// Receive counters of the citizen's RTP (`media::rtp::RtpStats`).
#[derive(Debug, Serialize)]
pub struct RtpSummary {
    pub received: u64,
    /// Dropped by the strict-source latch (wrong address, or on probation).
    pub rejected: u64,
    /// Times the latch moved (NAT rebinding).
    pub moved: u64,
    pub malformed: u64,
    pub lost: u64,
}

#[derive(Debug, Serialize)]
pub struct RecordingSummary {
    pub path: String,
    pub seconds: f64,
    pub sha256: String,
}

impl CallReport {
    pub fn new(
        call_id: String,
        row: CallId,
        disposition: Disposition,
        outcome: &Outcome,
        recording: Option<RecordingInfo>,
        answered: bool,
        rtp: Option<&crate::media::rtp::RtpStats>,
    ) -> CallReport {
        let answers = outcome
            .answers
            .iter()
            .map(|a| (a.key.clone(), answer_json(a)))
            .collect();
        CallReport {
            call_id,
            db_id: row.to_string(),
            disposition,
            sip_code: outcome.sip_code,
            reason: outcome.reason(disposition),
            end_reason: outcome.end_reason_str(),
            answers,
            recording: recording.map(|r| RecordingSummary {
                path: r.path.display().to_string(),
                seconds: r.seconds,
                sha256: r.sha256,
            }),
            soft_refusal: outcome.hung_up_before_consent(answered),
            rtp: rtp.map(|s| RtpSummary {
                received: s.received,
                rejected: s.rejected,
                moved: s.moved,
                malformed: s.malformed,
                lost: s.lost,
            }),
        }
    }

    /// `carecall call` exits 0 only when the dialplan ran to its end.
    pub fn ran_to_end(&self) -> bool {
        matches!(
            self.disposition,
            Disposition::Completed | Disposition::Declined | Disposition::DoNotCall
        )
    }
}

pub fn answer_json(a: &AnswerRecord) -> Value {
    match &a.answer {
        Answer::Value(v) => Value::String(v.clone()),
        Answer::Clip => match &a.clip {
            Some(c) => json!({"clip": c.path.display().to_string(), "seconds": c.seconds}),
            None => json!({"clip": null, "seconds": 0.0}),
        },
        Answer::Unanswered { why } => json!({ "unanswered": why }),
    }
}

/// One database write, in call order.
pub enum Write {
    Answered(chrono::DateTime<chrono::Utc>),
    /// The answered dialog, kept until the call is finished.
    Dialog(crate::store::LiveDialog),
    Answer(AnswerRecord),
    Recording(RecordingInfo),
    DoNotCall,
    Finished {
        disposition: Disposition,
        sip_code: Option<u16>,
        reason: String,
        end_reason: Option<String>,
        ended_at: chrono::DateTime<chrono::Utc>,
        /// How complete the dossier's response is now: its status.
        response: Completeness,
    },
}

/// Starts the task that applies a call's writes in order. Failures are logged
/// and the rest still applied: one failed write must not lose the others.
pub fn spawn_writer(
    store: Store,
    call: CallId,
    response: ResponseId,
) -> (mpsc::UnboundedSender<Write>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    let task = tokio::spawn(async move {
        let mut destination = None;
        while let Some(w) = rx.recv().await {
            let mut delay = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            loop {
                match apply(&store, &call, &response, &w, &mut destination).await {
                    Ok(()) => break,
                    // An overloaded database must not cost an answer: retry with
                    // backoff for up to WRITE_PATIENCE before giving up loudly.
                    Err(e) if e.is_transient() && waited < WRITE_PATIENCE => {
                        warn!(error = %e, retry_ms = delay.as_millis() as u64, "database busy: retrying write");
                        tokio::time::sleep(delay).await;
                        waited += delay;
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "database write failed: {}", w.describe());
                        break;
                    }
                }
            }
        }
    });
    (tx, task)
}

/// How long a call's writer keeps retrying one write on a transient error.
const WRITE_PATIENCE: Duration = Duration::from_secs(120);

impl Write {
    fn describe(&self) -> String {
        match self {
            Write::Answered(_) => "answered time".into(),
            Write::Dialog(_) => "live dialog".into(),
            Write::Answer(a) => format!("answer {}", a.key),
            Write::Recording(r) => format!("recording {}", r.path.display()),
            Write::DoNotCall => "do-not-call entry".into(),
            Write::Finished { disposition, .. } => format!("outcome {}", disposition.as_str()),
        }
    }
}

async fn apply(
    store: &Store,
    call: &CallId,
    response: &ResponseId,
    w: &Write,
    destination: &mut Option<String>,
) -> Result<(), crate::store::StoreError> {
    match w {
        Write::Answered(at) => store.call_answered(call, *at).await,
        Write::Dialog(d) => store.save_live_dialog(call, d).await,
        Write::Answer(a) => store.add_answer(response, &new_answer(a)).await.map(drop),
        Write::Recording(r) => store
            .add_recording(
                call,
                &NewRecording {
                    path: r.path.display().to_string(),
                    seconds: r.seconds,
                    sha256: r.sha256.clone(),
                    bytes: r.bytes,
                    created_at: chrono::Utc::now(),
                },
            )
            .await
            .map(drop),
        Write::DoNotCall => {
            if destination.is_none() {
                *destination = store.call_summary(call).await?.map(|s| s.call.destination);
            }
            match destination {
                Some(d) => {
                    store
                        .add_do_not_call(
                            &crate::number::canonical(d),
                            "citizen pressed 9 in the survey",
                        )
                        .await
                }
                None => Ok(()),
            }
        }
        Write::Finished {
            disposition,
            sip_code,
            reason,
            end_reason,
            ended_at,
            response: completeness,
        } => {
            // The response's status is settled when the call ends (it used to
            // stay `in_progress` forever, issue 10).
            store
                .set_response_status(response, response_status_of(*completeness))
                .await?;
            store
                .finish_call(
                    call,
                    &CallOutcome {
                        disposition: disposition.as_str().to_string(),
                        sip_code: *sip_code,
                        reason: Some(reason.clone()),
                        end_reason: end_reason.clone(),
                        ended_at: *ended_at,
                    },
                )
                .await?;
            // The call is over at both ends: nothing to BYE after a restart.
            store.forget_live_dialog(call).await
        }
    }
}

/// The stored status of a response: text only at the storage edge.
pub fn response_status_of(c: Completeness) -> &'static str {
    match c {
        Completeness::Complete => response_status::COMPLETED,
        Completeness::Partial => response_status::PARTIAL,
        Completeness::Empty => response_status::NOT_STARTED,
    }
}

fn new_answer(a: &AnswerRecord) -> NewAnswer {
    let (kind, value, why) = match &a.answer {
        Answer::Value(v) => (AnswerKind::Value, Some(v.clone()), None),
        Answer::Clip => (AnswerKind::Clip, None, None),
        Answer::Unanswered { why } => (AnswerKind::Unanswered, None, Some(serde_name(why))),
    };
    NewAnswer {
        key: a.key.clone(),
        kind,
        value,
        why,
        offset_ms: Some(a.offset.as_millis() as i64),
        clip_path: a.clip.as_ref().map(|c| c.path.display().to_string()),
        clip_seconds: a.clip.as_ref().map(|c| c.seconds),
        clip_sha256: a.clip.as_ref().map(|c| c.sha256.clone()),
        answered_at: a.given_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(reason: EndReason, had_input: bool) -> Disposition {
        let o = Outcome {
            end_reason: Some(reason),
            ..Outcome::default()
        };
        o.disposition(true, had_input)
    }

    #[test]
    fn a_call_handled_by_an_operator_is_done_whoever_hung_up() {
        for r in [OPERATOR_HANGUP, CITIZEN_HANGUP] {
            assert_eq!(
                ended(EndReason::Custom(r.into()), true),
                Disposition::Completed
            );
        }
        // No operator took it: the callback offer's end is not a survey.
        assert_eq!(
            ended(EndReason::Custom(crate::ivr::NO_OPERATOR.into()), true),
            Disposition::Answered
        );
        assert_eq!(ended(EndReason::Completed, true), Disposition::Completed);
        assert_eq!(ended(EndReason::PeerHangup, false), Disposition::NoInput);
    }

    fn answer(key: &str, answer: Answer) -> AnswerRecord {
        AnswerRecord {
            key: key.into(),
            answer,
            offset: Duration::ZERO,
            clip: None,
            given_at: chrono::Utc::now(),
        }
    }

    /// Issue 15: Q1–Q4 answered, then the citizen hangs up at Q5 or in the
    /// thanks, the line goes quiet, or we fail: a complete, never re-dialled.
    #[test]
    fn a_complete_response_completes_the_call_whatever_follows() {
        let hung_up = Outcome {
            complete: true,
            peer_hung_up: true,
            end_reason: Some(EndReason::PeerHangup),
            ..Outcome::default()
        };
        assert_eq!(hung_up.disposition(true, true), Disposition::Completed);
        let silent = Outcome {
            complete: true,
            no_media: true,
            ..Outcome::default()
        };
        assert_eq!(silent.disposition(true, true), Disposition::Completed);
        let mut failed = Outcome {
            complete: true,
            ..Outcome::default()
        };
        failed.fail(None, "recording: disk full".into());
        assert_eq!(failed.disposition(true, true), Disposition::Completed);
        // The same hang-up without the completing answers stays a break-off.
        let partial = Outcome {
            complete: false,
            ..hung_up
        };
        assert_eq!(partial.disposition(true, true), Disposition::Answered);
        assert_eq!(
            response_status_of(Completeness::Complete),
            response_status::COMPLETED
        );
    }

    #[test]
    fn a_hang_up_before_any_answer_is_a_soft_refusal() {
        let mut o = Outcome {
            peer_hung_up: true,
            end_reason: Some(EndReason::PeerHangup),
            ..Outcome::default()
        };
        assert!(o.hung_up_before_consent(true));
        assert!(
            !o.hung_up_before_consent(false),
            "never answered: not a refusal"
        );
        o.answers.push(answer(
            "consent",
            Answer::Unanswered {
                why: crate::ivr::NoAnswerWhy::NoInput,
            },
        ));
        assert!(o.hung_up_before_consent(true), "an unanswered consent");
        o.answers.push(answer("consent", Answer::Value("1".into())));
        assert!(!o.hung_up_before_consent(true), "consented, then hung up");
        let silent = Outcome {
            peer_hung_up: true,
            no_media: true,
            ..Outcome::default()
        };
        assert!(!silent.hung_up_before_consent(true), "a silent line");
    }

    /// Issue 9 item 18c: a recording that could not be written says so in the reason
    /// but leaves the disposition to the answers (a failure would re-dial the citizen).
    #[test]
    fn a_recording_failure_keeps_the_disposition_of_the_answers() {
        let mut o = Outcome {
            end_reason: Some(EndReason::Completed),
            recording_failed: Some("No space left on device".into()),
            ..Outcome::default()
        };
        let disposition = o.disposition(true, true);
        assert_eq!(disposition, Disposition::Completed);
        assert_eq!(
            o.reason(disposition),
            "recording_failed: No space left on device"
        );
        o.end_reason = None;
        assert_eq!(o.disposition(true, true), Disposition::Answered);
        // A real failure (on our side, before anything) still outranks it.
        o.fail(None, "unusable SDP".into());
        assert_eq!(o.disposition(true, true), Disposition::Failed);
        assert_eq!(o.reason(Disposition::Failed), "unusable SDP");
    }
}
