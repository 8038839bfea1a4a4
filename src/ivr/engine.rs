//! The IVR engine: runs one call through a [`Dialplan`], sans I/O.
//!
//! Like rustpbx's IVR app it turns events into actions, and like quinn-proto it owns
//! its timers but not the clock: the driver passes `now` in, sleeps until
//! [`Engine::poll_timeout`], then calls [`Engine::handle_timeout`]. The engine never
//! plays audio, reads keys or writes files; tests drive it with a fake clock.
//!
//! Driver contract:
//! * `Action::Play` appends to the play queue; send [`Event::PlaybackFinished`] once
//!   each time the queue drains. After `Action::StopPlayback` clear the queue and drop
//!   any `PlaybackFinished` not yet delivered.
//! * Send [`Event::Frame`] for every 20 ms of received audio, `voiced: false` when RTP
//!   stops arriving, so silence is measured even on a dead line.
//! * After `Action::Hangup`, or after sending [`Event::PeerHangup`], the engine
//!   takes no further part in the call.
//! * After `Action::Bridge` look for an operator (the engine loops the hold
//!   prompt meanwhile), then send [`Event::BridgeAnswered`] or
//!   [`Event::BridgeFailed`]; once answered, the conversation is the operator's
//!   and the engine only waits for [`Event::BridgeEnded`] or a hang-up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dialplan::{Dialplan, Gather, Node, Record};
use super::gather::{Attempt, Stage as AskStage, Step, is_key};
use super::outcome::{Answer, EndReason, NoAnswerWhy};
use super::prompts::{self, PromptExists};
use super::record::{Heard, Recording, Stage as RecStage};
use super::timer::{Timer, TimerTable};

/// What happened on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key (RFC 4733 event or in-band DTMF): `0`–`9`, `*`, `#`, `A`–`D`.
    Digit(char),
    /// The play queue drained.
    PlaybackFinished,
    /// 20 ms of the citizen's audio; `voiced` is the driver's VAD decision.
    Frame {
        /// Whether the frame held voice.
        voiced: bool,
    },
    /// The citizen hung up.
    PeerHangup,
    /// An operator answered the bridge: the hold prompt stops.
    BridgeAnswered,
    /// No operator answered in time: the bridge node's `on_fail` runs.
    BridgeFailed,
    /// The operator hung up (or their leg died): the call ends.
    BridgeEnded,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Append these prompts, in order, to the play queue.
    Play(Vec<String>),
    /// Stop playing and clear the queue (the citizen barged in).
    StopPlayback,
    /// Start writing the citizen's audio to a clip for answer `key`.
    StartClip {
        /// The answer key.
        key: String,
    },
    /// Finalise the clip for `key` (an `Answer` for the key follows).
    StopClip {
        /// The answer key.
        key: String,
    },
    /// Store this answer now (the driver stamps the offset into the call recording).
    Answer {
        /// The answer key.
        key: String,
        /// The answer.
        answer: Answer,
    },
    /// Look for an operator of `queue` and connect the call to them.
    Bridge {
        /// The queue.
        queue: String,
        /// How long to try before [`Event::BridgeFailed`]; the driver's default
        /// when `None`.
        wait_ms: Option<u64>,
    },
    /// Hang up.
    Hangup {
        /// Why, for the call record.
        reason: EndReason,
    },
}

/// End reasons of a bridged call, by who hung up first.
pub const OPERATOR_HANGUP: &str = "operator_hangup";
/// See [`OPERATOR_HANGUP`].
pub const CITIZEN_HANGUP: &str = "citizen_hangup";
/// A bridge node without `on_fail` found no operator.
pub const NO_OPERATOR: &str = "no_operator";

/// Most keys kept from play nodes for the next question.
const MAX_TYPE_AHEAD: usize = 16;
/// Most node changes without waiting for an event; more means a cycle of branches.
const MAX_HOPS: usize = 64;

/// The leave-this-node decision of a step: `Some(target)` to go there.
type Next = Option<String>;

#[derive(Debug)]
enum Phase {
    Idle,
    Playing,
    Gather(Attempt),
    Record(Recording),
    Closing(EndReason),
    /// Waiting for an operator (`false`), or talking with one (`true`).
    Bridge {
        answered: bool,
    },
    Done,
}

/// One call's run through a dialplan.
pub struct Engine {
    plan: Arc<Dialplan>,
    vars: HashMap<String, String>,
    prompt_exists: Box<PromptExists>,
    node: String,
    phase: Phase,
    playing: bool,
    timers: TimerTable,
    type_ahead: String,
    answers: Vec<(String, Answer)>,
    /// Answers an earlier call of the same dossier already holds (see
    /// [`Engine::resume`]): their questions are not asked again.
    given: Vec<(String, Answer)>,
    had_input: bool,
    finished: Option<EndReason>,
}

impl Engine {
    /// An engine for one call. `vars` are the dossier's call variables (e.g.
    /// `field_slug`); `prompt_exists` tells which recordings exist. The call-length
    /// safety net ([`Defaults::max_call_ms`](super::Defaults::max_call_ms)) counts
    /// from `now`.
    pub fn new<F>(
        plan: Arc<Dialplan>,
        vars: HashMap<String, String>,
        prompt_exists: F,
        now: Instant,
    ) -> Engine
    where
        F: Fn(&str) -> bool + Send + 'static,
    {
        let mut timers = TimerTable::default();
        timers.set(Timer::CallLimit, now + ms(plan.defaults.max_call_ms));
        Engine {
            node: plan.start.clone(),
            plan,
            vars,
            prompt_exists: Box::new(prompt_exists),
            phase: Phase::Idle,
            playing: false,
            timers,
            type_ahead: String::new(),
            answers: Vec::new(),
            given: Vec::new(),
            had_input: false,
            finished: None,
        }
    }

    /// Resumes a survey an earlier call left partial (issue 15): a gather or
    /// record node whose key has an answer in `given` is passed as if it had
    /// just been answered so (its branches follow the earlier value), and
    /// nothing is stored again. Unanswered entries are ignored: those
    /// questions are asked. The caller passes only the form's questions, so
    /// consent is asked again on every call.
    /// Call before [`Engine::start`].
    pub fn resume(&mut self, given: Vec<(String, Answer)>) {
        self.given = given
            .into_iter()
            .filter(|(_, a)| !matches!(a, Answer::Unanswered { .. }))
            .collect();
    }

    /// Enters the start node (call once, when the call is answered).
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if matches!(self.phase, Phase::Idle) {
            let start = self.plan.start.clone();
            self.goto(start, now, &mut out);
        }
        out
    }

    /// Takes one event. Timers already due at `now` fire first, so the outcome does
    /// not depend on how promptly the driver called [`Engine::handle_timeout`].
    pub fn on_event(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.fire_due(now, &mut out);
        if self.is_over() {
            return out;
        }
        match event {
            Event::Digit(key) => self.on_key(key, now, &mut out),
            Event::PlaybackFinished => self.on_played(now, &mut out),
            Event::Frame { voiced } => self.on_frame(voiced, now),
            Event::PeerHangup => {
                self.close_clip(&mut out);
                // A hang-up during the closing prompt (thanks, goodbye, "we will
                // not call again") does not change how the dialplan ended: the
                // citizen declined, asked not to be called, or completed.
                let reason = match &self.phase {
                    Phase::Closing(reason) => reason.clone(),
                    Phase::Bridge { answered: true } => EndReason::Custom(CITIZEN_HANGUP.into()),
                    _ => EndReason::PeerHangup,
                };
                self.stop(reason);
            }
            Event::BridgeAnswered | Event::BridgeFailed | Event::BridgeEnded => {
                self.on_bridge(event, now, &mut out)
            }
        }
        out
    }

    /// The driver's answer to `Action::Bridge`. Events that do not fit the
    /// phase (a late answer after a failure) are ignored.
    fn on_bridge(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        let Phase::Bridge { answered } = self.phase else {
            return;
        };
        match (event, answered) {
            (Event::BridgeAnswered, false) => {
                self.stop_playing(out);
                // The conversation is the operator's now: no IVR time limit, and
                // a call an operator took is not a "no input" call.
                self.timers.stop_all();
                self.had_input = true;
                self.phase = Phase::Bridge { answered: true };
            }
            (Event::BridgeFailed, false) => {
                self.stop_playing(out);
                let plan = Arc::clone(&self.plan);
                match plan.nodes.get(&self.node) {
                    Some(Node::Bridge(b)) if b.on_fail.is_some() => {
                        self.phase = Phase::Idle;
                        self.follow(b.on_fail.clone(), now, out);
                    }
                    _ => self.end(EndReason::Custom(NO_OPERATOR.into()), out),
                }
            }
            (Event::BridgeEnded, true) => self.end(EndReason::Custom(OPERATOR_HANGUP.into()), out),
            _ => {}
        }
    }

    /// Plays the bridge node's hold prompt (again), if it has one.
    fn play_hold(&mut self, out: &mut Vec<Action>) {
        let plan = Arc::clone(&self.plan);
        if let Some(Node::Bridge(b)) = plan.nodes.get(&self.node)
            && let Some(hold) = &b.hold_prompt
            && (self.prompt_exists)(hold)
        {
            self.play(vec![hold.clone()], out);
        }
    }

    fn stop_playing(&mut self, out: &mut Vec<Action>) {
        if self.playing {
            out.push(Action::StopPlayback);
            self.playing = false;
        }
    }

    /// When [`Engine::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_over() {
            None
        } else {
            self.timers.next_deadline()
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.fire_due(now, &mut out);
        out
    }

    /// Whether the citizen ever pressed a key or spoke an answer. An answered call
    /// without any is a `no_input` call, whatever its end reason.
    pub fn had_input(&self) -> bool {
        self.had_input
    }

    /// Why the call ended, once it has.
    pub fn finished(&self) -> Option<&EndReason> {
        self.finished.as_ref()
    }

    /// The answers, in the order they were given.
    pub fn answers(&self) -> &[(String, Answer)] {
        &self.answers
    }

    /// The node the call is in (for logs).
    pub fn current_node(&self) -> &str {
        &self.node
    }

    fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    fn fire_due(&mut self, now: Instant, out: &mut Vec<Action>) {
        while !self.is_over() {
            let Some(timer) = self.timers.pop_expired(now) else {
                return;
            };
            self.on_timer(timer, now, out);
        }
    }

    // ---- moving between nodes -------------------------------------------------------

    fn goto(&mut self, target: String, now: Instant, out: &mut Vec<Action>) {
        let mut next = Some(target);
        let mut hops = 0;
        while let Some(name) = next.take() {
            if hops == MAX_HOPS {
                tracing::error!(node = %name, "dialplan loops without waiting; hanging up");
                self.end(EndReason::Custom("dialplan_loop".into()), out);
                return;
            }
            hops += 1;
            self.timers.stop_node_timers();
            next = self.enter(name, now, out);
        }
    }

    fn follow(&mut self, next: Next, now: Instant, out: &mut Vec<Action>) {
        if let Some(target) = next {
            self.goto(target, now, out);
        }
    }

    fn enter(&mut self, name: String, now: Instant, out: &mut Vec<Action>) -> Next {
        let plan = Arc::clone(&self.plan);
        let Some(node) = plan.nodes.get(&name) else {
            tracing::error!(node = %name, "dialplan goes to a missing node; validate it");
            self.end(EndReason::Custom("dialplan_error".into()), out);
            return None;
        };
        self.node = name;
        match node {
            Node::Play(p) => {
                let prompts = self.resolve(&p.prompts);
                if prompts.is_empty() {
                    return Some(p.next.clone());
                }
                self.phase = Phase::Playing;
                self.play(prompts, out);
                None
            }
            Node::Gather(g) => match g.store.as_deref().and_then(|k| self.given(k)) {
                Some(Answer::Value(v)) => Some(g.on.get(v).unwrap_or(&g.next).clone()),
                Some(_) => Some(g.next.clone()),
                None => self.begin_attempt(g, 0, None, now, out),
            },
            Node::Record(r) if self.given(&r.store).is_some() => Some(r.next.clone()),
            Node::Record(r) => {
                self.type_ahead.clear();
                self.phase = Phase::Record(Recording::new(r, &plan.defaults));
                let prompts = self.resolve(&r.prompts);
                if prompts.is_empty() {
                    self.begin_capture(r, now, out);
                } else {
                    self.play(prompts, out);
                }
                None
            }
            Node::Branch(b) => {
                let value = self.lookup(&b.key);
                Some(value.and_then(|v| b.on.get(v)).unwrap_or(&b.next).clone())
            }
            Node::Hangup(h) => {
                let prompts = self.resolve(&h.prompts);
                if prompts.is_empty() {
                    self.end(h.reason.clone(), out);
                } else {
                    self.phase = Phase::Closing(h.reason.clone());
                    self.play(prompts, out);
                }
                None
            }
            Node::Bridge(b) => {
                out.push(Action::Bridge {
                    queue: b.queue.clone(),
                    wait_ms: b.wait_ms,
                });
                self.type_ahead.clear();
                self.phase = Phase::Bridge { answered: false };
                self.play_hold(out);
                None
            }
        }
    }

    // ---- events ---------------------------------------------------------------------

    fn on_key(&mut self, key: char, now: Instant, out: &mut Vec<Action>) {
        if !is_key(key) {
            return;
        }
        self.had_input = true;
        match &self.phase {
            // Type-ahead: kept for the next question (e.g. 1 during the recording notice).
            Phase::Idle | Phase::Playing => {
                if self.type_ahead.len() < MAX_TYPE_AHEAD {
                    self.type_ahead.push(key);
                }
            }
            Phase::Gather(_) => {
                let plan = Arc::clone(&self.plan);
                if let Some(Node::Gather(g)) = plan.nodes.get(&self.node)
                    && let Step::Done(raw) = self.feed_key(g, key, now, out)
                {
                    let next = self.answer_gather(g, &raw, now, out);
                    self.follow(next, now, out);
                }
            }
            Phase::Record(r) if r.stage == RecStage::Capturing && key == r.terminator => {
                self.end_recording(now, out);
            }
            // While bridged the driver passes keys to the operator instead.
            Phase::Record(_) | Phase::Closing(_) | Phase::Bridge { .. } | Phase::Done => {}
        }
    }

    fn on_played(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.playing {
            return; // stale: the queue was cleared by StopPlayback
        }
        self.playing = false;
        let plan = Arc::clone(&self.plan);
        let node = plan.nodes.get(&self.node);
        match (&mut self.phase, node) {
            (Phase::Playing, Some(Node::Play(p))) => self.goto(p.next.clone(), now, out),
            (Phase::Gather(a), Some(Node::Gather(g))) if a.stage == AskStage::Prompting => {
                self.await_first_key(g, now);
            }
            (Phase::Record(r), Some(Node::Record(node))) if r.stage == RecStage::Prompting => {
                self.begin_capture(node, now, out);
            }
            (Phase::Closing(reason), _) => {
                let reason = reason.clone();
                self.end(reason, out);
            }
            (Phase::Bridge { answered: false }, _) => self.play_hold(out),
            _ => {}
        }
    }

    /// Per-packet path: no allocation, no lookup.
    fn on_frame(&mut self, voiced: bool, now: Instant) {
        let Phase::Record(r) = &mut self.phase else {
            return;
        };
        if r.stage != RecStage::Capturing {
            return;
        }
        match r.frame(voiced) {
            Heard::Nothing => {}
            Heard::SpeechStarted => {
                self.had_input = true;
                self.timers.stop(Timer::NoSpeech);
                self.timers.set(Timer::Silence, now + r.silence);
            }
            Heard::Speech => self.timers.set(Timer::Silence, now + r.silence),
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        match timer {
            Timer::CallLimit => {
                self.close_clip(out);
                self.end(EndReason::Custom("time_limit".into()), out);
            }
            Timer::NoSpeech | Timer::Silence | Timer::MaxLength => self.end_recording(now, out),
            Timer::FirstDigit | Timer::InterDigit => {
                let plan = Arc::clone(&self.plan);
                let Some(Node::Gather(g)) = plan.nodes.get(&self.node) else {
                    return;
                };
                let Phase::Gather(a) = &mut self.phase else {
                    return;
                };
                let next = match (timer, a.finish()) {
                    (Timer::InterDigit, Step::Done(raw)) => self.answer_gather(g, &raw, now, out),
                    _ => self.gather_failed(g, NoAnswerWhy::NoInput, now, out),
                };
                self.follow(next, now, out);
            }
        }
    }

    // ---- gather -----------------------------------------------------------------------

    /// Starts attempt `number` at `g`: consumes type-ahead on the first attempt, else
    /// plays `preface` (the invalid / no-input prompt) and the question.
    fn begin_attempt(
        &mut self,
        g: &Gather,
        number: u32,
        preface: Option<&str>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Next {
        self.timers.stop_node_timers();
        self.phase = Phase::Gather(Attempt::new(number));
        let typed = std::mem::take(&mut self.type_ahead);
        if number == 0 && g.type_ahead {
            for key in typed.chars() {
                if let Step::Done(raw) = self.feed_key(g, key, now, out) {
                    return self.answer_gather(g, &raw, now, out);
                }
            }
            if matches!(&self.phase, Phase::Gather(a) if a.has_digits()) {
                return None; // the citizen is mid-answer: no question, inter-digit timer runs
            }
        }
        let mut prompts: Vec<String> = preface
            .filter(|p| (self.prompt_exists)(p))
            .map(str::to_owned)
            .into_iter()
            .collect();
        prompts.extend(self.resolve(&g.prompts));
        if prompts.is_empty() {
            self.await_first_key(g, now);
        } else {
            self.play(prompts, out);
        }
        None
    }

    /// Feeds a key to the current attempt; a key during the question stops it.
    fn feed_key(&mut self, g: &Gather, key: char, now: Instant, out: &mut Vec<Action>) -> Step {
        let d = &self.plan.defaults;
        let terminator = g.terminator_key(d);
        let Phase::Gather(a) = &mut self.phase else {
            return Step::Pending;
        };
        if !a.takes(key, terminator) {
            return Step::Pending;
        }
        if a.stage == AskStage::Prompting && self.playing {
            out.push(Action::StopPlayback); // barge-in
            self.playing = false;
        }
        self.timers.stop(Timer::FirstDigit);
        let step = a.key(g, terminator, key);
        match step {
            Step::Pending => self
                .timers
                .set(Timer::InterDigit, now + g.inter_digit_timeout(d)),
            Step::Done(_) => self.timers.stop(Timer::InterDigit),
        }
        step
    }

    fn await_first_key(&mut self, g: &Gather, now: Instant) {
        if let Phase::Gather(a) = &mut self.phase {
            a.stage = AskStage::Waiting;
            let after = g.first_digit_timeout(&self.plan.defaults);
            self.timers.set(Timer::FirstDigit, now + after);
        }
    }

    fn answer_gather(
        &mut self,
        g: &Gather,
        raw: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Next {
        match g.evaluate(raw) {
            Ok(value) => {
                let target = g.on.get(&value).unwrap_or(&g.next).clone();
                self.store(g.store.as_deref(), Answer::Value(value), out);
                Some(target)
            }
            Err(why) => self.gather_failed(g, why, now, out),
        }
    }

    /// Retries the question, or gives it up: stored as unanswered, never a default.
    fn gather_failed(
        &mut self,
        g: &Gather,
        why: NoAnswerWhy,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Next {
        let plan = Arc::clone(&self.plan);
        let number = match &self.phase {
            Phase::Gather(a) => a.number,
            _ => 0,
        };
        if number < g.retries_allowed(&plan.defaults) {
            let preface = g.retry_prompt(&plan.defaults, why);
            return self.begin_attempt(g, number + 1, preface, now, out);
        }
        self.store(g.store.as_deref(), Answer::Unanswered { why }, out);
        let special = match why {
            NoAnswerWhy::NoInput => &g.on_no_input,
            NoAnswerWhy::Invalid | NoAnswerWhy::NoSpeech => &g.on_invalid,
        };
        Some(special.as_ref().unwrap_or(&g.next).clone())
    }

    // ---- record -----------------------------------------------------------------------

    fn begin_capture(&mut self, node: &Record, now: Instant, out: &mut Vec<Action>) {
        let Phase::Record(r) = &mut self.phase else {
            return;
        };
        r.stage = RecStage::Capturing;
        out.push(Action::StartClip { key: r.key.clone() });
        self.timers
            .set(Timer::MaxLength, now + ms(node.max_length_ms));
        self.timers
            .set(Timer::NoSpeech, now + ms(node.no_speech_timeout_ms));
    }

    fn end_recording(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.close_clip(out);
        let plan = Arc::clone(&self.plan);
        if let Some(Node::Record(node)) = plan.nodes.get(&self.node) {
            self.goto(node.next.clone(), now, out);
        }
    }

    /// Finalises a clip being written and stores what it holds.
    fn close_clip(&mut self, out: &mut Vec<Action>) {
        let Phase::Record(r) = &self.phase else {
            return;
        };
        if r.stage != RecStage::Capturing {
            return;
        }
        let (key, answer) = (r.key.clone(), r.answer());
        self.timers.stop_node_timers();
        self.phase = Phase::Idle;
        out.push(Action::StopClip { key: key.clone() });
        self.store(Some(&key), answer, out);
    }

    // ---- helpers ------------------------------------------------------------------------

    fn resolve(&self, entries: &[super::dialplan::PromptEntry]) -> Vec<String> {
        prompts::resolve(entries, &self.vars, &*self.prompt_exists)
    }

    fn play(&mut self, prompts: Vec<String>, out: &mut Vec<Action>) {
        out.push(Action::Play(prompts));
        self.playing = true;
    }

    fn store(&mut self, key: Option<&str>, answer: Answer, out: &mut Vec<Action>) {
        let Some(key) = key else { return };
        self.answers.push((key.to_owned(), answer.clone()));
        out.push(Action::Answer {
            key: key.to_owned(),
            answer,
        });
    }

    /// An answer an earlier call already holds for `key`.
    fn given(&self, key: &str) -> Option<&Answer> {
        self.given.iter().find(|(k, _)| k == key).map(|(_, a)| a)
    }

    /// A branch value: the latest answer for `key` (`clip` / `unanswered` for spoken
    /// and missing answers), else the call variable.
    fn lookup(&self, key: &str) -> Option<&str> {
        let this_call = self.answers.iter().rev().find(|(k, _)| k == key);
        match this_call.or_else(|| self.given.iter().find(|(k, _)| k == key)) {
            Some((_, Answer::Value(v))) => Some(v),
            Some((_, Answer::Clip)) => Some("clip"),
            Some((_, Answer::Unanswered { .. })) => Some("unanswered"),
            None => self.vars.get(key).map(String::as_str),
        }
    }

    fn end(&mut self, reason: EndReason, out: &mut Vec<Action>) {
        out.push(Action::Hangup {
            reason: reason.clone(),
        });
        self.stop(reason);
    }

    fn stop(&mut self, reason: EndReason) {
        self.timers.stop_all();
        self.playing = false;
        self.phase = Phase::Done;
        self.finished = Some(reason);
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
