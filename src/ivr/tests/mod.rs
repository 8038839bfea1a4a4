//! Flow tests: a fake driver around the engine on a simulated clock (no sleeping).

mod bridge;
mod edge;
mod survey;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Action, Answer, Dialplan, Engine, Event, NoAnswerWhy};
use crate::ivr::record::FRAME;

/// The prompts recorded for survey-1022 (prompts/vi), plus some field/place names.
pub const PROMPTS: &[&str] = &[
    "greeting_intro",
    "greeting_field",
    "greeting_place",
    "greeting_generic",
    "greeting_ask",
    "recording_notice",
    "consent",
    "q1",
    "q1_other",
    "q2",
    "q3",
    "q4",
    "q5",
    "thanks",
    "declined",
    "do_not_call",
    "invalid",
    "no_input",
    "beep",
    "goodbye_no_input",
    "operator_offer",
    "operator_hold",
    "callback_offer",
    "callback_bye",
    "field/dat-dai",
    "place/tp-cao-lanh",
];

pub fn recorded(name: &str) -> bool {
    PROMPTS.contains(&name)
}

pub fn survey_plan() -> Dialplan {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans/survey-1022.toml");
    Dialplan::load(path).expect("survey-1022.toml parses")
}

/// A fake driver: one engine, a clock, and every action seen so far.
pub struct Call {
    pub engine: Engine,
    pub now: Instant,
    pub log: Vec<Action>,
}

impl Call {
    pub fn new(
        plan: Dialplan,
        vars: &[(&str, &str)],
        exists: impl Fn(&str) -> bool + Send + 'static,
    ) -> Call {
        let now = Instant::now();
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Call {
            engine: Engine::new(Arc::new(plan), vars, exists, now),
            now,
            log: Vec::new(),
        }
    }

    /// survey-1022 with no dossier variables and every prompt recorded.
    pub fn survey() -> Call {
        Call::new(survey_plan(), &[], recorded)
    }

    fn record(&mut self, actions: Vec<Action>) -> Vec<Action> {
        self.log.extend(actions.iter().cloned());
        actions
    }

    pub fn start(&mut self) -> Vec<Action> {
        let a = self.engine.start(self.now);
        self.record(a)
    }

    pub fn event(&mut self, e: Event) -> Vec<Action> {
        let a = self.engine.on_event(e, self.now);
        self.record(a)
    }

    /// The play queue drained.
    pub fn played(&mut self) -> Vec<Action> {
        self.event(Event::PlaybackFinished)
    }

    /// Keys pressed 100 ms apart (the first one now).
    pub fn keys(&mut self, keys: &str) -> Vec<Action> {
        let mut all = Vec::new();
        for (i, k) in keys.chars().enumerate() {
            if i > 0 {
                all.extend(self.wait_ms(100));
            }
            all.extend(self.event(Event::Digit(k)));
        }
        all
    }

    /// Lets time pass, firing timers as a driver sleeping on `poll_timeout` would.
    pub fn wait_ms(&mut self, ms: u64) -> Vec<Action> {
        let until = self.now + Duration::from_millis(ms);
        let mut all = Vec::new();
        while let Some(at) = self.engine.poll_timeout().filter(|&at| at <= until) {
            self.now = at;
            let a = self.engine.handle_timeout(at);
            all.extend(self.record(a));
        }
        self.now = until;
        all
    }

    /// `ms` of audio frames, all voiced or all silent.
    pub fn audio(&mut self, voiced: bool, ms: u64) -> Vec<Action> {
        let mut all = Vec::new();
        for _ in 0..ms / FRAME.as_millis() as u64 {
            self.now += FRAME;
            all.extend(self.event(Event::Frame { voiced }));
        }
        all
    }

    pub fn answers(&self) -> Vec<(&str, Answer)> {
        self.engine
            .answers()
            .iter()
            .map(|(k, a)| (k.as_str(), a.clone()))
            .collect()
    }

    /// Plays the survey up to question 4 (q3 answered by speech ended with `#`).
    pub fn reach_q4(&mut self) {
        self.reach_question("q3");
        self.played();
        self.audio(true, 1_000);
        self.keys("#");
        assert_eq!(self.engine.current_node(), "q4");
    }

    /// Plays the survey up to the point where question `node` has just been asked.
    pub fn reach_question(&mut self, node: &str) {
        self.start();
        self.played(); // greeting
        self.played(); // recording notice
        let route: &[(&str, &str)] = &[("consent", "1"), ("q1", "1"), ("q2", "1")];
        for (question, key) in route {
            if *question == node {
                break;
            }
            self.played();
            self.keys(key);
        }
        assert_eq!(
            self.engine.current_node(),
            node,
            "route does not reach {node}"
        );
    }
}

pub fn play(names: &[&str]) -> Action {
    Action::Play(names.iter().map(|s| (*s).to_owned()).collect())
}

pub fn value(key: &str, v: &str) -> Action {
    Action::Answer {
        key: key.into(),
        answer: Answer::Value(v.into()),
    }
}

pub fn unanswered(key: &str, why: NoAnswerWhy) -> Action {
    Action::Answer {
        key: key.into(),
        answer: Answer::Unanswered { why },
    }
}
