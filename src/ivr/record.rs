//! Spoken answers: deciding when a recorded answer has started and ended.
//!
//! The driver reports every 20 ms frame as voiced or not (its VAD decides; RTP that
//! stops arriving is reported as unvoiced). Speech starts after `min_speech_ms` of
//! unbroken voice, so a click or a breath does not arm the silence timer; the answer
//! ends after `silence_ms` without voice once speech started. Frame handling is on the
//! per-packet path: it only updates counters.

use std::time::Duration;

use super::dialplan::{Defaults, Record};
use super::outcome::{Answer, NoAnswerWhy};

/// Audio carried by one [`Event::Frame`](super::Event::Frame).
pub const FRAME: Duration = Duration::from_millis(20);

/// Where a record node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The question and beep are playing.
    Prompting,
    /// The clip is being written.
    Capturing,
}

/// What a frame meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Nothing that changes timers.
    Nothing,
    /// Speech has just started: stop the no-speech timer, arm the silence timer.
    SpeechStarted,
    /// More speech: push the silence timer back.
    Speech,
}

/// A spoken answer in progress.
#[derive(Debug)]
pub struct Recording {
    /// The answer key, also the clip's key.
    pub key: String,
    /// Where the node stands.
    pub stage: Stage,
    /// The key that ends the recording.
    pub terminator: char,
    /// Silence that ends the answer once speech started.
    pub silence: Duration,
    min_speech: Duration,
    voiced_run: Duration,
    speech: bool,
}

impl Recording {
    /// A recording for `node`, before its prompts play.
    pub fn new(node: &Record, defaults: &Defaults) -> Self {
        Self {
            key: node.store.clone(),
            stage: Stage::Prompting,
            terminator: node.terminator.unwrap_or(defaults.terminator),
            silence: Duration::from_millis(node.silence_ms),
            min_speech: Duration::from_millis(node.min_speech_ms),
            voiced_run: Duration::ZERO,
            speech: false,
        }
    }

    /// Takes one frame's voice decision.
    pub fn frame(&mut self, voiced: bool) -> Heard {
        if !voiced {
            self.voiced_run = Duration::ZERO;
            return Heard::Nothing;
        }
        self.voiced_run += FRAME;
        if self.speech {
            Heard::Speech
        } else if self.voiced_run >= self.min_speech {
            self.speech = true;
            Heard::SpeechStarted
        } else {
            Heard::Nothing
        }
    }

    /// The answer to store when the recording ends now.
    pub fn answer(&self) -> Answer {
        if self.speech {
            Answer::Clip
        } else {
            Answer::Unanswered {
                why: NoAnswerWhy::NoSpeech,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(min_speech_ms: u64) -> Recording {
        let node = Record {
            prompts: vec![],
            store: "q3".into(),
            max_length_ms: 60_000,
            silence_ms: 3_000,
            no_speech_timeout_ms: 6_000,
            min_speech_ms,
            terminator: None,
            next: "x".into(),
        };
        Recording::new(&node, &Defaults::default())
    }

    #[test]
    fn speech_needs_an_unbroken_run_of_voice() {
        let mut r = recording(60);
        assert_eq!(r.frame(true), Heard::Nothing);
        assert_eq!(r.frame(true), Heard::Nothing);
        assert_eq!(r.frame(false), Heard::Nothing, "a click is not speech");
        assert_eq!(
            r.answer(),
            Answer::Unanswered {
                why: NoAnswerWhy::NoSpeech
            }
        );
        assert_eq!(r.frame(true), Heard::Nothing);
        assert_eq!(r.frame(true), Heard::Nothing);
        assert_eq!(r.frame(true), Heard::SpeechStarted);
        assert_eq!(r.frame(true), Heard::Speech);
        assert_eq!(r.frame(false), Heard::Nothing);
        assert_eq!(r.answer(), Answer::Clip);
        assert_eq!(r.terminator, '#');
    }
}
