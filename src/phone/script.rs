//! The simulated citizen's side of the conversation, without I/O.
//!
//! A [`Script`] is a list of [`Step`]s. Keypad and spoken steps wait for the IVR
//! to finish talking, which the [`Ear`] decides from the received audio: the
//! IVR spoke, then stayed silent for [`IVR_DONE_AFTER`]. So the phone follows the
//! prompts as a person does, whatever their length, instead of fixed timings;
//! and it never speaks before the beep of a spoken question.

use std::time::{Duration, Instant};

use super::mouth::keys_duration;
use crate::media::vad::Vad;

/// Silence after IVR speech that means "your turn". The survey prompts pause at
/// most ~0.5 s between words and sentences; the VAD's own 200 ms hangover comes on
/// top, so the phone answers about one second after a prompt ends.
pub const IVR_DONE_AFTER: Duration = Duration::from_millis(800);

/// One thing the citizen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Press these keys once the IVR has finished talking.
    Keys(&'static str),
    /// Speak this long once the IVR has finished talking, then stay silent.
    Speak(Duration),
    /// Hang up this long after the previous step.
    HangUpAfter(Duration),
    /// Wait for the IVR to hang up; hang up ourselves after this long.
    AwaitBye(Duration),
}

/// What the driver must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Press(&'static str),
    Speak(Duration),
    HangUp,
}

/// Hears when the IVR has stopped talking.
#[derive(Debug, Default)]
pub struct Ear {
    vad: Vad,
    /// Last time a received frame was voice, since the last [`Ear::reset`].
    last_voice: Option<Instant>,
}

impl Ear {
    /// Takes one decoded frame of what the IVR sends.
    pub fn hear(&mut self, frame: &[i16], now: Instant) {
        if self.vad.process(frame) {
            self.last_voice = Some(now);
        }
    }

    /// The IVR spoke since the last reset and has been silent for
    /// [`IVR_DONE_AFTER`]. Time-based, so it holds even if the IVR stops sending
    /// packets altogether.
    pub fn finished(&self, now: Instant) -> bool {
        self.last_voice
            .is_some_and(|t| now.saturating_duration_since(t) >= IVR_DONE_AFTER)
    }

    /// Forget what was heard: the next turn needs new IVR speech.
    pub fn reset(&mut self) {
        self.last_voice = None;
    }
}

/// A citizen following a script.
#[derive(Debug)]
pub struct Script {
    steps: Vec<Step>,
    next: usize,
    ear: Ear,
    /// When the current step began: the end of the previous action.
    since: Instant,
}

impl Script {
    /// The call was answered at `now`.
    pub fn new(steps: &[Step], now: Instant) -> Script {
        Script {
            steps: steps.to_vec(),
            next: 0,
            ear: Ear::default(),
            since: now,
        }
    }

    /// A decoded frame received from the IVR.
    pub fn hear(&mut self, frame: &[i16], now: Instant) {
        self.ear.hear(frame, now);
    }

    /// The action due at `now`, if any. Call it on every tick.
    pub fn poll(&mut self, now: Instant) -> Option<Action> {
        if now < self.since {
            return None; // still pressing or speaking
        }
        let step = *self.steps.get(self.next)?;
        let turn = self.ear.finished(now);
        let waited = now.saturating_duration_since(self.since);
        let (action, busy) = match step {
            Step::Keys(keys) if turn => (Action::Press(keys), keys_duration(keys)),
            Step::Speak(length) if turn => (Action::Speak(length), length),
            Step::HangUpAfter(d) | Step::AwaitBye(d) if waited >= d => {
                (Action::HangUp, Duration::ZERO)
            }
            _ => return None,
        };
        self.next += 1;
        self.since = now + busy;
        // What the IVR says while we press or speak counts for the next turn.
        self.ear.reset();
        Some(action)
    }

    /// Every step was taken.
    pub fn is_done(&self) -> bool {
        self.next >= self.steps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// A fake line: feeds 20 ms frames of "prompt" or silence, polls every frame.
    struct Line {
        script: Script,
        now: Instant,
        actions: Vec<(u64, Action)>,
        start: Instant,
    }

    impl Line {
        fn new(steps: &[Step]) -> Line {
            let now = Instant::now();
            Line {
                script: Script::new(steps, now),
                now,
                actions: Vec::new(),
                start: now,
            }
        }

        fn feed(&mut self, ms: u64, loud: bool) {
            for i in 0..ms / 20 {
                let frame: Vec<i16> = (0..160)
                    .map(|n| {
                        if loud && i % 25 < 20 {
                            // 400 ms syllables with 100 ms gaps between them
                            (8000.0 * (n as f64 * 0.3).sin()) as i16
                        } else {
                            0
                        }
                    })
                    .collect();
                self.script.hear(&frame, self.now);
                if let Some(a) = self.script.poll(self.now) {
                    let at = self.now.duration_since(self.start).as_millis() as u64;
                    self.actions.push((at, a));
                }
                self.now += MS(20);
            }
        }
    }

    #[test]
    fn waits_for_the_prompt_to_end_not_for_pauses_inside_it() {
        let mut line = Line::new(&[Step::Keys("1"), Step::Keys("2")]);
        line.feed(500, false); // ring-back silence before the IVR speaks
        line.feed(3000, true);
        line.feed(400, false); // a pause between sentences
        line.feed(2000, true);
        assert!(line.actions.is_empty(), "no answer mid-prompt");
        line.feed(1500, false);
        assert_eq!(line.actions.len(), 1);
        let (at, action) = line.actions[0];
        assert_eq!(action, Action::Press("1"));
        // The last syllable ended at 5800 ms; the VAD hangover (200 ms), then
        // 800 ms of silence.
        assert!((6700..=6900).contains(&at), "pressed at {at} ms");
        // Silence alone does not trigger the next step: the IVR must speak again.
        line.feed(5000, false);
        assert_eq!(line.actions.len(), 1);
        line.feed(1000, true);
        line.feed(1200, false);
        assert_eq!(line.actions[1].1, Action::Press("2"));
        assert!(line.script.is_done());
    }

    #[test]
    fn speech_waits_for_the_beep_and_blocks_the_next_turn_while_speaking() {
        let mut line = Line::new(&[Step::Speak(MS(2500)), Step::Keys("10#")]);
        line.feed(2000, true); // question
        line.feed(300, false); // gap before the beep (shorter than 800 ms)
        line.feed(400, true); // beep
        line.feed(1200, false);
        assert_eq!(line.actions.len(), 1);
        let (spoke_at, action) = line.actions[0];
        assert_eq!(action, Action::Speak(MS(2500)));
        assert!(
            spoke_at >= 2700 + 800,
            "spoke before the beep ended: {spoke_at}"
        );
        // The IVR stays silent while recording, then asks the next question.
        line.feed(5000, false);
        line.feed(1000, true);
        line.feed(1000, false);
        assert_eq!(line.actions[1].1, Action::Press("10#"));
    }

    #[test]
    fn ivr_talking_during_our_keys_counts_for_the_next_turn() {
        let mut line = Line::new(&[Step::Keys("10#"), Step::Speak(MS(1000))]);
        line.feed(1000, true);
        line.feed(1000, false);
        assert_eq!(line.actions.len(), 1);
        // The next question starts while "#" is still being sent (keys take ~1 s).
        line.feed(600, true);
        line.feed(1000, false);
        assert_eq!(line.actions.len(), 2, "{:?}", line.actions);
    }

    #[test]
    fn hang_up_and_bye_timers_count_from_the_previous_action() {
        let mut line = Line::new(&[Step::Keys("1"), Step::HangUpAfter(MS(8000))]);
        line.feed(1000, true);
        line.feed(1000, false);
        let pressed = line.actions[0].0;
        line.feed(10_000, true);
        let (hung, action) = line.actions[1];
        assert_eq!(action, Action::HangUp);
        let key_end = pressed + keys_duration("1").as_millis() as u64;
        assert_eq!(hung, key_end + 8000);

        let mut silent = Line::new(&[Step::AwaitBye(MS(3000))]);
        silent.feed(2980, true);
        assert!(silent.actions.is_empty());
        silent.feed(40, false);
        assert_eq!(silent.actions, vec![(3000, Action::HangUp)]);
        silent.feed(5000, true);
        assert_eq!(silent.actions.len(), 1, "a finished script does nothing");
    }
}
