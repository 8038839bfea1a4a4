//! Engine behaviour on small inline plans: recording ends, branches, safety nets.

use super::*;
use crate::ivr::EndReason;

const RECORD: &str = r#"
    name = "rec"
    start = "say"
    [nodes.say]
    kind = "record"
    prompts = ["q", "beep"]
    store = "say"
    max_length_ms = 10000
    silence_ms = 2000
    no_speech_timeout_ms = 4000
    next = "bye"
    [nodes.bye]
    kind = "hangup"
    reason = "completed"
"#;

fn plan(text: &str) -> Dialplan {
    let plan = Dialplan::from_toml(text).unwrap();
    plan.validate(&|_: &str| true).unwrap();
    plan
}

fn recording() -> Call {
    let mut c = Call::new(plan(RECORD), &[], |_: &str| true);
    assert_eq!(c.start(), [play(&["q", "beep"])]);
    assert_eq!(
        c.audio(true, 1_000),
        [],
        "speech over the prompt is not recorded"
    );
    assert_eq!(c.played(), [Action::StartClip { key: "say".into() }]);
    c
}

#[test]
fn terminator_during_the_question_does_not_skip_the_recording() {
    let mut c = Call::new(plan(RECORD), &[], |_: &str| true);
    c.start();
    assert_eq!(c.keys("#"), []);
    assert_eq!(c.played(), [Action::StartClip { key: "say".into() }]);
    assert!(c.engine.had_input());
}

fn stored(answer: Answer) -> [Action; 3] {
    [
        Action::StopClip { key: "say".into() },
        Action::Answer {
            key: "say".into(),
            answer,
        },
        Action::Hangup {
            reason: EndReason::Completed,
        },
    ]
}

#[test]
fn record_ends_on_silence_after_speech() {
    let mut c = recording();
    c.audio(true, 600);
    c.audio(false, 1_000);
    c.audio(true, 600); // a pause shorter than silence_ms does not end it
    assert_eq!(c.audio(false, 1_980), []);
    assert_eq!(c.audio(false, 20), stored(Answer::Clip));
    assert!(c.engine.had_input());
}

#[test]
fn record_ends_on_terminator() {
    let mut c = recording();
    c.audio(true, 800);
    assert_eq!(c.keys("#"), stored(Answer::Clip));
}

#[test]
fn record_ends_at_max_length() {
    let mut c = recording();
    assert_eq!(c.audio(true, 9_980), []);
    assert_eq!(c.audio(true, 20), stored(Answer::Clip));
}

#[test]
fn record_without_speech_is_unanswered() {
    let mut c = recording();
    c.audio(true, 100); // a click: shorter than min_speech_ms
    assert_eq!(c.audio(false, 3_880), []);
    assert_eq!(
        c.audio(false, 20),
        stored(Answer::Unanswered {
            why: NoAnswerWhy::NoSpeech
        })
    );
    assert!(!c.engine.had_input());
}

#[test]
fn silence_is_measured_by_the_clock_when_frames_stop() {
    let mut c = recording();
    c.audio(true, 500);
    assert_eq!(c.wait_ms(2_000), stored(Answer::Clip));
}

const BRANCH: &str = r#"
    name = "branch"
    start = "by_level"
    [nodes.by_level]
    kind = "branch"
    key = "level"
    on = { province = "ask" }
    next = "bye"
    [nodes.ask]
    kind = "gather"
    prompts = ["ask"]
    store = "who"
    valid = ["1", "2"]
    retries = 0
    next = "route"
    [nodes.route]
    kind = "branch"
    key = "who"
    on = { "2" = "operator", unanswered = "bye" }
    next = "bye"
    [nodes.operator]
    kind = "bridge"
    queue = "operators"
    [nodes.bye]
    kind = "hangup"
    reason = "no_more"
"#;

#[test]
fn branch_on_call_variable_and_answer_then_bridge() {
    let mut c = Call::new(plan(BRANCH), &[("level", "province")], |_: &str| true);
    assert_eq!(c.start(), [play(&["ask"])]);
    c.played();
    assert_eq!(
        c.keys("2"),
        [
            value("who", "2"),
            Action::Bridge {
                queue: "operators".into(),
                wait_ms: None,
            }
        ]
    );
    assert_eq!(c.engine.finished(), None, "a bridged call is not over");
    assert_eq!(c.event(Event::Digit('1')), []);
}

#[test]
fn branch_default_and_unanswered_routes() {
    let mut c = Call::new(plan(BRANCH), &[("level", "commune")], |_: &str| true);
    assert_eq!(
        c.start(),
        [Action::Hangup {
            reason: EndReason::Custom("no_more".into())
        }]
    );

    let mut c = Call::new(plan(BRANCH), &[("level", "province")], |_: &str| true);
    c.start();
    c.played();
    assert_eq!(
        c.keys("5"),
        [
            unanswered("who", NoAnswerWhy::Invalid),
            Action::Hangup {
                reason: EndReason::Custom("no_more".into())
            }
        ]
    );
}

#[test]
fn type_ahead_can_be_switched_off() {
    let text = r#"
        name = "t"
        start = "hello"
        [nodes.hello]
        kind = "play"
        prompts = ["hello"]
        next = "ask"
        [nodes.ask]
        kind = "gather"
        prompts = ["ask"]
        store = "a"
        type_ahead = false
        next = "bye"
        [nodes.bye]
        kind = "hangup"
        reason = "completed"
    "#;
    let mut c = Call::new(plan(text), &[], |_: &str| true);
    c.start();
    c.keys("1");
    assert_eq!(c.played(), [play(&["ask"])]);
    assert!(c.engine.had_input());
}

#[test]
fn a_cycle_of_branches_hangs_up_instead_of_spinning() {
    let text = r#"
        name = "loop"
        start = "a"
        [nodes.a]
        kind = "branch"
        key = "x"
        next = "b"
        [nodes.b]
        kind = "branch"
        key = "x"
        next = "a"
    "#;
    let mut c = Call::new(plan(text), &[], |_: &str| true);
    assert_eq!(
        c.start(),
        [Action::Hangup {
            reason: EndReason::Custom("dialplan_loop".into())
        }]
    );
}

#[test]
fn call_limit_closes_an_open_clip_and_hangs_up() {
    let text = format!("{RECORD}\n[defaults]\nmax_call_ms = 5000\n");
    let mut c = Call::new(plan(&text), &[], |_: &str| true);
    c.start();
    c.wait_ms(1_000);
    c.played();
    c.audio(true, 3_000);
    let end = c.audio(true, 1_000);
    assert_eq!(
        end,
        [
            Action::StopClip { key: "say".into() },
            Action::Answer {
                key: "say".into(),
                answer: Answer::Clip
            },
            Action::Hangup {
                reason: EndReason::Custom("time_limit".into())
            }
        ]
    );
}

#[test]
fn missing_prompts_are_skipped_not_sent() {
    let mut c = Call::new(plan(RECORD), &[], |p: &str| p != "beep");
    assert_eq!(c.start(), [play(&["q"])]);
}

#[test]
fn engine_can_move_to_a_call_task() {
    fn send<T: Send + 'static>() {}
    send::<Engine>();
    send::<Action>();
}
