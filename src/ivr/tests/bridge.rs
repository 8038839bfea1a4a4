//! The bridge node: hold prompt while waiting, operator answer, failure to
//! `on_fail`, and who hung up first — on the fake clock.

use super::*;
use crate::ivr::EndReason;

const PLAN: &str = r#"
    name = "bridge"
    start = "offer"
    [nodes.offer]
    kind = "gather"
    prompts = ["offer"]
    valid = ["0", "1"]
    on = { "0" = "operator" }
    retries = 0
    next = "bye"
    [nodes.operator]
    kind = "bridge"
    queue = "operators"
    hold_prompt = "hold"
    wait_ms = 20000
    on_fail = "callback"
    [nodes.callback]
    kind = "gather"
    prompts = ["callback_offer"]
    store = "callback"
    valid = ["1", "2"]
    retries = 0
    next = "bye"
    [nodes.bye]
    kind = "hangup"
    prompts = ["thanks"]
    reason = "completed"
"#;

fn plan(text: &str) -> Dialplan {
    let plan = Dialplan::from_toml(text).unwrap();
    plan.validate(&|_: &str| true).unwrap();
    plan
}

fn waiting() -> Call {
    let mut c = Call::new(plan(PLAN), &[], |_: &str| true);
    assert_eq!(c.start(), [play(&["offer"])]);
    c.played();
    assert_eq!(
        c.keys("0"),
        [
            Action::Bridge {
                queue: "operators".into(),
                wait_ms: Some(20_000),
            },
            play(&["hold"]),
        ]
    );
    c
}

#[test]
fn hold_prompt_loops_until_an_operator_answers() {
    let mut c = waiting();
    assert_eq!(c.played(), [play(&["hold"])], "the hold prompt loops");
    assert_eq!(c.played(), [play(&["hold"])]);
    assert_eq!(c.keys("5"), [], "keys while waiting are not answers");
    assert_eq!(c.event(Event::BridgeAnswered), [Action::StopPlayback]);
    assert_eq!(c.played(), [], "a stale end of playback replays nothing");
    assert_eq!(
        c.engine.poll_timeout(),
        None,
        "no IVR timers with an operator"
    );
    assert_eq!(
        c.wait_ms(3_600_000),
        [],
        "no time limit on the conversation"
    );
    assert_eq!(c.keys("1"), [], "keys go to the operator, not the engine");
    assert_eq!(
        c.event(Event::BridgeEnded),
        [Action::Hangup {
            reason: EndReason::Custom(crate::ivr::OPERATOR_HANGUP.into())
        }]
    );
    assert_eq!(
        c.engine.finished(),
        Some(&EndReason::Custom("operator_hangup".into()))
    );
    assert!(c.engine.had_input());
}

#[test]
fn a_citizen_hanging_up_on_the_operator_is_citizen_hangup() {
    let mut c = waiting();
    c.event(Event::BridgeAnswered);
    assert_eq!(c.event(Event::PeerHangup), []);
    assert_eq!(
        c.engine.finished(),
        Some(&EndReason::Custom(crate::ivr::CITIZEN_HANGUP.into()))
    );
}

#[test]
fn hanging_up_while_waiting_is_a_plain_peer_hangup() {
    let mut c = waiting();
    c.event(Event::PeerHangup);
    assert_eq!(c.engine.finished(), Some(&EndReason::PeerHangup));
}

#[test]
fn no_operator_goes_to_on_fail_and_the_callback_choice_is_stored() {
    let mut c = waiting();
    c.wait_ms(5_000);
    assert_eq!(
        c.event(Event::BridgeFailed),
        [Action::StopPlayback, play(&["callback_offer"])]
    );
    assert_eq!(
        c.event(Event::BridgeAnswered),
        [],
        "a late answer is ignored"
    );
    c.played();
    assert_eq!(c.keys("1"), [value("callback", "1"), play(&["thanks"])]);
    c.played();
    assert_eq!(c.engine.finished(), Some(&EndReason::Completed));
}

#[test]
fn without_on_fail_the_call_ends_as_no_operator() {
    let text = PLAN.replace("on_fail = \"callback\"\n", "");
    let mut c = Call::new(plan(&text), &[], |p: &str| p != "hold");
    c.start();
    c.played();
    assert_eq!(
        c.keys("0"),
        [Action::Bridge {
            queue: "operators".into(),
            wait_ms: Some(20_000),
        }],
        "a hold prompt that is not recorded is skipped"
    );
    assert_eq!(
        c.event(Event::BridgeFailed),
        [Action::Hangup {
            reason: EndReason::Custom(crate::ivr::NO_OPERATOR.into())
        }]
    );
}

#[test]
fn the_call_limit_still_runs_while_waiting() {
    let text = format!("{PLAN}\n[defaults]\nmax_call_ms = 60000\n");
    let mut c = Call::new(plan(&text), &[], |_: &str| true);
    c.start();
    c.played();
    c.keys("0");
    let end = c.wait_ms(61_000);
    assert_eq!(
        end,
        [Action::Hangup {
            reason: EndReason::Custom("time_limit".into())
        }]
    );
}

/// Every shipped dialplan parses and validates against the shipped prompts
/// (a dialplan that names a missing prompt or node fails here, not on a call).
#[test]
fn shipped_dialplans_validate_against_shipped_prompts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let prompts_dir = root.join("prompts/vi");
    let exists = |p: &str| prompts_dir.join(format!("{p}.wav")).exists();
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("dialplans")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let plan = Dialplan::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(problems) = plan.validate(&exists) {
                panic!("{}: {problems:?}", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 2, "survey-1022 and operator-direct at least");
}
