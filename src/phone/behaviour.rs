//! How the simulated phone treats a call, chosen by the Request-URI's user part
//! so that one phone serves every scenario: `sip:busy@…` is busy,
//! `sip:0912345678@…` (any other user) answers the whole survey.

use std::time::Duration;

use super::script::Step;

/// How long a phone rings before an answering behaviour picks up.
pub const RING_BEFORE_ANSWER: Duration = Duration::from_millis(1000);

/// A ringing phone nobody answers gives up after this, if the caller never
/// cancels (RFC 3261 §13.3.1.1: the UAS may end an unanswered INVITE with 480).
pub const MAX_RING: Duration = Duration::from_secs(120);

/// The full survey of `dialplans/survey-1022.toml`: consent, satisfied, premises,
/// a spoken inconvenience, score 10 keyed as `1 0 #`, a spoken suggestion.
pub const FULL_SURVEY: &[Step] = &[
    Step::Keys("1"),
    Step::Keys("1"),
    Step::Keys("1"),
    Step::Speak(Duration::from_millis(2500)),
    Step::Keys("10#"),
    Step::Speak(Duration::from_millis(2500)),
    Step::AwaitBye(Duration::from_secs(60)),
];

/// Consents, then hangs up during the first question.
pub const HANG_UP_MIDWAY: &[Step] = &[Step::Keys("1"), Step::HangUpAfter(Duration::from_secs(8))];

/// Declines the survey.
pub const DECLINE: &[Step] = &[Step::Keys("2"), Step::AwaitBye(Duration::from_secs(60))];

/// Never presses or says anything. The IVR asks three times and hangs up after
/// about 80 s; the phone waits longer than that.
pub const SILENT: &[Step] = &[Step::AwaitBye(Duration::from_secs(180))];

/// What the phone does with an INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 486 Busy Here.
    Busy,
    /// 603 Decline.
    Reject,
    /// 180 Ringing, never answered; the caller's CANCEL gets 487.
    NoAnswer,
    /// Answers and follows the script.
    Answer {
        /// For logs: never the dialled number, which is personal data.
        name: &'static str,
        steps: &'static [Step],
    },
}

impl Behaviour {
    /// The behaviour for a Request-URI user part (case-insensitive); `None`
    /// (no user part) is treated like a phone number.
    pub fn for_user(user: Option<&str>) -> Behaviour {
        match user.unwrap_or_default().to_ascii_lowercase().as_str() {
            "busy" => Behaviour::Busy,
            "reject" => Behaviour::Reject,
            "noanswer" => Behaviour::NoAnswer,
            "hangup" => answer("hangup", HANG_UP_MIDWAY),
            "silent" => answer("silent", SILENT),
            "decline" => answer("decline", DECLINE),
            _ => answer("full_survey", FULL_SURVEY),
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Behaviour::Busy => "busy",
            Behaviour::Reject => "reject",
            Behaviour::NoAnswer => "noanswer",
            Behaviour::Answer { name, .. } => name,
        }
    }
}

fn answer(name: &'static str, steps: &'static [Step]) -> Behaviour {
    Behaviour::Answer { name, steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_part_picks_the_behaviour() {
        assert_eq!(Behaviour::for_user(Some("busy")), Behaviour::Busy);
        assert_eq!(Behaviour::for_user(Some("Reject")), Behaviour::Reject);
        assert_eq!(Behaviour::for_user(Some("noanswer")), Behaviour::NoAnswer);
        let steps = |user: Option<&str>| match Behaviour::for_user(user) {
            Behaviour::Answer { steps, .. } => steps,
            other => panic!("{user:?} does not answer: {other:?}"),
        };
        assert_eq!(steps(Some("hangup")), HANG_UP_MIDWAY);
        assert_eq!(steps(Some("silent")), SILENT);
        assert_eq!(steps(Some("decline")), DECLINE);
        for number in ["0912345678", "+84912345678", "84277123456"] {
            assert_eq!(steps(Some(number)), FULL_SURVEY);
            assert_eq!(Behaviour::for_user(Some(number)).name(), "full_survey");
        }
        assert_eq!(steps(None), FULL_SURVEY);
    }

    #[test]
    fn the_survey_script_matches_the_dialplan_question_by_question() {
        use crate::ivr::dialplan::{Dialplan, Node};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans/survey-1022.toml");
        let plan = Dialplan::load(path).unwrap();
        let turns: Vec<&Step> = FULL_SURVEY
            .iter()
            .filter(|s| matches!(s, Step::Keys(_) | Step::Speak(_)))
            .collect();
        let asked = ["consent", "q1", "q2", "q3", "q4", "q5"];
        assert_eq!(turns.len(), asked.len());
        for (name, step) in asked.iter().zip(turns) {
            match (&plan.nodes[*name], step) {
                (Node::Gather(_), Step::Keys(_)) | (Node::Record(_), Step::Speak(_)) => {}
                (node, step) => panic!("{name}: {step:?} does not answer {node:?}"),
            }
        }
    }
}
