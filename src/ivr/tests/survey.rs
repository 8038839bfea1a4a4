//! survey-1022 end to end.

use super::*;
use crate::ivr::EndReason;

#[test]
fn the_real_plan_validates_against_the_prompt_set() {
    survey_plan().validate(&recorded).unwrap();
}

#[test]
fn happy_path_answers_every_question() {
    let mut c = Call::survey();
    assert_eq!(
        c.start(),
        [play(&[
            "greeting_intro",
            "greeting_generic",
            "greeting_ask"
        ])]
    );
    assert_eq!(c.played(), [play(&["recording_notice"])]);
    assert_eq!(c.played(), [play(&["consent", "operator_offer"])]);
    assert_eq!(c.played(), []);
    c.wait_ms(1_000);
    assert_eq!(c.keys("1"), [value("consent", "1"), play(&["q1"])]);
    c.played();
    assert_eq!(c.keys("1"), [value("q1", "1"), play(&["q2"])]);
    c.played();
    assert_eq!(c.keys("1"), [value("q2", "1"), play(&["q3", "beep"])]);
    assert_eq!(c.played(), [Action::StartClip { key: "q3".into() }]);
    c.audio(false, 400);
    c.audio(true, 4_000);
    let ended = c.audio(false, 3_000);
    assert_eq!(
        ended,
        [
            Action::StopClip { key: "q3".into() },
            Action::Answer {
                key: "q3".into(),
                answer: Answer::Clip
            },
            play(&["q4"]),
        ]
    );
    c.played();
    assert_eq!(c.keys("10#"), [value("q4", "10"), play(&["q5", "beep"])]);
    assert_eq!(c.played(), [Action::StartClip { key: "q5".into() }]);
    c.audio(true, 2_000);
    c.audio(false, 3_000);
    assert_eq!(c.engine.current_node(), "thanks");
    assert_eq!(
        c.played(),
        [Action::Hangup {
            reason: EndReason::Completed
        }]
    );
    assert_eq!(
        c.answers(),
        [
            ("consent", Answer::Value("1".into())),
            ("q1", Answer::Value("1".into())),
            ("q2", Answer::Value("1".into())),
            ("q3", Answer::Clip),
            ("q4", Answer::Value("10".into())),
            ("q5", Answer::Clip),
        ]
    );
    assert_eq!(c.engine.finished(), Some(&EndReason::Completed));
    assert!(c.engine.had_input());
    assert_eq!(c.engine.poll_timeout(), None);
}

/// Issue 15: a lone 0 used to be stored as 10, the best mark, for a citizen
/// who may have meant the worst. It is invalid and asked again; "1 0" is 10.
#[test]
fn q4_lone_zero_is_asked_again_never_ten() {
    let mut c = Call::survey();
    c.reach_q4();
    c.played();
    assert_eq!(c.keys("0"), [play(&["invalid", "q4"])]);
    assert!(
        c.answers().iter().all(|(k, _)| *k != "q4"),
        "nothing stored"
    );
    c.played();
    // Zero again, then silence: still nothing stored, asked a third time.
    assert_eq!(c.keys("0"), [play(&["invalid", "q4"])]);
    c.played();
    assert_eq!(c.keys("1"), []);
    assert_eq!(c.wait_ms(2_999), [], "1 may become 10");
    assert_eq!(c.keys("0"), [value("q4", "10"), play(&["q5", "beep"])]);
    let q4: Vec<_> = c
        .answers()
        .into_iter()
        .filter(|(k, _)| *k == "q4")
        .collect();
    assert_eq!(q4, [("q4", Answer::Value("10".into()))]);
}

#[test]
fn q4_ten_with_terminator_and_single_digits() {
    for (keys, score) in [("10#", "10"), ("7", "7"), ("9", "9"), ("1#", "1")] {
        let mut c = Call::survey();
        c.reach_q4();
        c.played();
        assert_eq!(
            c.keys(keys),
            [value("q4", score), play(&["q5", "beep"])],
            "{keys}"
        );
    }
}

#[test]
fn q4_three_lone_zeros_leave_it_unanswered_with_an_operator_offered() {
    let mut c = Call::survey();
    c.reach_q4();
    c.played();
    c.keys("0");
    c.played();
    c.keys("0");
    c.played();
    let out = c.keys("0");
    assert_eq!(out[0], unanswered("q4", NoAnswerWhy::Invalid), "{out:?}");
    assert_eq!(c.engine.current_node(), "operator");
}

#[test]
fn q4_one_then_pause_is_one() {
    let mut c = Call::survey();
    c.reach_q4();
    c.played();
    assert_eq!(c.keys("1"), []);
    assert_eq!(c.wait_ms(2_999), [], "still waiting for a possible 0");
    assert_eq!(c.wait_ms(1), [value("q4", "1"), play(&["q5", "beep"])]);
}

#[test]
fn invalid_answer_is_asked_again_then_accepted() {
    let mut c = Call::survey();
    c.reach_question("q1");
    c.played();
    assert_eq!(c.keys("7"), [play(&["invalid", "q1"])]);
    c.played();
    assert_eq!(c.keys("2"), [value("q1", "2"), play(&["q2"])]);
}

#[test]
fn three_silent_attempts_leave_the_question_unanswered_and_go_on() {
    let mut c = Call::survey();
    c.reach_question("q1");
    c.played();
    assert_eq!(c.wait_ms(4_999), []);
    assert_eq!(c.wait_ms(1), [play(&["no_input", "q1"])]);
    c.wait_ms(60_000); // the first-digit timer only starts when the prompt has played
    c.played();
    assert_eq!(c.wait_ms(5_000), [play(&["no_input", "q1"])]);
    c.played();
    assert_eq!(
        c.wait_ms(5_000),
        [unanswered("q1", NoAnswerWhy::NoInput), play(&["q2"])]
    );
}

#[test]
fn q1_other_records_a_spoken_answer() {
    let mut c = Call::survey();
    c.reach_question("q1");
    c.played();
    assert_eq!(c.keys("3"), [value("q1", "3"), play(&["q1_other", "beep"])]);
    c.played();
    c.audio(true, 1_000);
    c.audio(false, 3_000);
    assert_eq!(c.engine.current_node(), "q2");
    assert_eq!(c.answers().last(), Some(&("q1_other", Answer::Clip)));
}

#[test]
fn type_ahead_during_the_greeting_answers_consent() {
    let mut c = Call::survey();
    c.start();
    assert_eq!(c.keys("1"), [], "the greeting is not interrupted");
    c.played();
    assert_eq!(
        c.played(),
        [value("consent", "1"), play(&["q1"])],
        "the consent question is skipped"
    );
}

#[test]
fn type_ahead_during_the_recording_notice_answers_consent() {
    let mut c = Call::survey();
    c.start();
    c.played();
    c.keys("9");
    assert_eq!(c.played(), [value("consent", "9"), play(&["do_not_call"])]);
}

#[test]
fn barge_in_stops_the_question_and_counts() {
    let mut c = Call::survey();
    c.reach_question("q1");
    assert_eq!(
        c.keys("2"),
        [Action::StopPlayback, value("q1", "2"), play(&["q2"])]
    );
    // A PlaybackFinished already in flight when the queue was cleared is stale.
    assert_eq!(c.played(), []);
    assert_eq!(c.engine.current_node(), "q2");
    c.played();
    assert_eq!(c.keys("5"), [value("q2", "5"), play(&["q3", "beep"])]);
}

#[test]
fn barge_in_on_q4_waits_for_a_second_key() {
    let mut c = Call::survey();
    c.reach_q4();
    assert_eq!(c.keys("1"), [Action::StopPlayback]);
    assert_eq!(c.keys("0"), [value("q4", "10"), play(&["q5", "beep"])]);
}

#[test]
fn decline_ends_the_call() {
    let mut c = Call::survey();
    c.reach_question("consent");
    c.played();
    assert_eq!(c.keys("2"), [value("consent", "2"), play(&["declined"])]);
    assert_eq!(
        c.played(),
        [Action::Hangup {
            reason: EndReason::Declined
        }]
    );
    assert_eq!(c.engine.finished(), Some(&EndReason::Declined));
}

#[test]
fn do_not_call_is_stored_and_ends_the_call() {
    let mut c = Call::survey();
    c.reach_question("consent");
    c.played();
    assert_eq!(c.keys("9"), [value("consent", "9"), play(&["do_not_call"])]);
    assert_eq!(
        c.played(),
        [Action::Hangup {
            reason: EndReason::DoNotCall
        }]
    );
    assert_eq!(c.answers(), [("consent", Answer::Value("9".into()))]);
}

#[test]
fn silent_call_ends_as_no_input() {
    let mut c = Call::survey();
    c.reach_question("consent");
    for _ in 0..2 {
        c.played();
        assert_eq!(
            c.wait_ms(5_000),
            [play(&["no_input", "consent", "operator_offer"])]
        );
    }
    c.played();
    assert_eq!(
        c.wait_ms(5_000),
        [
            unanswered("consent", NoAnswerWhy::NoInput),
            play(&["goodbye_no_input"])
        ]
    );
    assert_eq!(
        c.played(),
        [Action::Hangup {
            reason: EndReason::NoInput
        }]
    );
    assert!(!c.engine.had_input());
    assert_eq!(c.engine.poll_timeout(), None);
}

#[test]
fn greeting_names_field_and_place_when_recorded() {
    let vars = [
        ("procedure_slug", "cap-giay-chung-nhan"), // no recording for it
        ("field_slug", "dat-dai"),
        ("unit_slug", "tp-cao-lanh"),
    ];
    let mut c = Call::new(survey_plan(), &vars, recorded);
    assert_eq!(
        c.start(),
        [play(&[
            "greeting_intro",
            "greeting_field",
            "field/dat-dai",
            "greeting_place",
            "place/tp-cao-lanh",
            "greeting_ask"
        ])]
    );
}

#[test]
fn greeting_names_the_procedure_when_recorded() {
    let vars = [("procedure_slug", "khai-sinh"), ("field_slug", "ho-tich")];
    let exists = |p: &str| recorded(p) || p == "procedure/khai-sinh";
    let mut c = Call::new(survey_plan(), &vars, exists);
    assert_eq!(
        c.start(),
        [play(&[
            "greeting_intro",
            "procedure/khai-sinh",
            "greeting_ask"
        ])],
        "field ho-tich has no recording, so it is left out"
    );
}

#[test]
fn greeting_is_generic_when_nothing_can_be_named() {
    let vars = [("field_slug", "xay-dung"), ("unit_slug", "")];
    let mut c = Call::new(survey_plan(), &vars, recorded);
    assert_eq!(
        c.start(),
        [play(&[
            "greeting_intro",
            "greeting_generic",
            "greeting_ask"
        ])]
    );
}

#[test]
fn caller_hanging_up_mid_answer_keeps_the_clip() {
    let mut c = Call::survey();
    c.reach_question("q3");
    c.played();
    c.audio(true, 2_000);
    assert_eq!(
        c.event(Event::PeerHangup),
        [
            Action::StopClip { key: "q3".into() },
            Action::Answer {
                key: "q3".into(),
                answer: Answer::Clip
            }
        ]
    );
    assert_eq!(c.engine.finished(), Some(&EndReason::PeerHangup));
    assert_eq!(c.event(Event::Digit('1')), []);
    assert_eq!(c.engine.poll_timeout(), None);
}

#[test]
fn hanging_up_during_the_goodbye_keeps_do_not_call() {
    let mut c = Call::survey();
    c.reach_question("consent");
    c.played();
    assert_eq!(c.keys("9"), [value("consent", "9"), play(&["do_not_call"])]);
    // The citizen hangs up before "we will not call again" ends.
    assert_eq!(c.event(Event::PeerHangup), []);
    assert_eq!(c.engine.finished(), Some(&EndReason::DoNotCall));
}

#[test]
fn zero_at_consent_asks_for_an_operator() {
    let mut c = Call::survey();
    c.reach_question("consent");
    c.played();
    assert_eq!(
        c.keys("0"),
        [
            value("consent", "0"),
            Action::Bridge {
                queue: "operators".into(),
                wait_ms: None
            },
            play(&["operator_hold"]),
        ]
    );
    assert_eq!(c.event(Event::BridgeAnswered), [Action::StopPlayback]);
}

#[test]
fn a_question_the_keypad_cannot_answer_goes_to_an_operator() {
    let mut c = Call::survey();
    c.reach_question("q1");
    for _ in 0..2 {
        c.played();
        assert_eq!(c.keys("7"), [play(&["invalid", "q1"])]);
    }
    c.played();
    let a = c.keys("7");
    assert_eq!(a[0], unanswered("q1", NoAnswerWhy::Invalid));
    assert!(matches!(&a[1], Action::Bridge { queue, .. } if queue == "operators"));
}

#[test]
fn no_operator_offers_a_callback_and_stores_the_choice() {
    let mut c = Call::survey();
    c.reach_question("consent");
    c.played();
    c.keys("0");
    c.wait_ms(60_000);
    assert_eq!(
        c.event(Event::BridgeFailed),
        [Action::StopPlayback, play(&["callback_offer"])]
    );
    c.played();
    assert_eq!(
        c.keys("1"),
        [value("callback", "1"), play(&["callback_bye"])]
    );
    assert_eq!(
        c.played(),
        [Action::Hangup {
            reason: EndReason::Custom("no_operator".into())
        }]
    );
}

/// Issue 15: a retry after a partial call does not ask again what the citizen
/// already answered; consent is asked again (it is the dialplan's, not the
/// form's, and the caller does not pass it).
#[test]
fn a_resumed_survey_asks_consent_then_only_what_is_missing() {
    let mut c = Call::survey();
    let given = vec![
        ("q1".to_string(), Answer::Value("3".into())),
        ("q1_other".to_string(), Answer::Clip),
        ("q2".to_string(), Answer::Value("4".into())),
        (
            "q3".to_string(),
            Answer::Unanswered {
                why: NoAnswerWhy::NoSpeech,
            },
        ),
    ];
    c.engine.resume(given);
    c.start();
    c.played(); // greeting
    c.played(); // recording notice
    c.played(); // the consent question
    // q1 ("3": other) and its spoken follow-up, then q2, are skipped; q3 was
    // left unanswered, so it is asked.
    assert_eq!(c.keys("1"), [value("consent", "1"), play(&["q3", "beep"])]);
    assert_eq!(c.engine.current_node(), "q3");
    assert_eq!(
        c.answers(),
        [("consent", Answer::Value("1".into()))],
        "nothing given earlier is stored again"
    );
}

#[test]
fn a_resumed_survey_with_a_score_goes_to_q5() {
    let mut c = Call::survey();
    let given = ["q1", "q2", "q4"]
        .into_iter()
        .map(|k| (k.to_string(), Answer::Value("2".into())))
        .chain([("q3".to_string(), Answer::Clip)])
        .collect();
    c.engine.resume(given);
    c.start();
    c.played(); // greeting
    c.played(); // recording notice
    c.played(); // the consent question
    assert_eq!(c.keys("1"), [value("consent", "1"), play(&["q5", "beep"])]);
}
