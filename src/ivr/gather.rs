//! Keypad answers: collecting keys into an answer, mapping and validating it.
//!
//! An answer is complete when the terminator is pressed, when `max_digits` keys are
//! in, when the inter-digit timer fires, or as soon as no further key could make a
//! valid answer: on a 1–10 scale `2` is final at once, `1` waits for a possible `0`.
//! Calls must be short (seed 002: citizens hang up on what sounds like spam).

use std::time::Duration;

use super::dialplan::{Defaults, Gather, Valid};
use super::outcome::NoAnswerWhy;

/// The most keys a gather may take; keeps range arithmetic inside `u64`.
pub const MAX_DIGITS: usize = 18;

/// Keys a DTMF event can carry (RFC 4733 §3.2, events 0–15).
pub fn is_key(c: char) -> bool {
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')
}

impl Gather {
    /// The key that ends an answer early.
    pub fn terminator_key(&self, d: &Defaults) -> char {
        self.terminator.unwrap_or(d.terminator)
    }

    /// How long to wait for the first key once the question has played.
    pub fn first_digit_timeout(&self, d: &Defaults) -> Duration {
        Duration::from_millis(
            self.first_digit_timeout_ms
                .unwrap_or(d.first_digit_timeout_ms),
        )
    }

    /// How long to wait for each further key.
    pub fn inter_digit_timeout(&self, d: &Defaults) -> Duration {
        Duration::from_millis(
            self.inter_digit_timeout_ms
                .unwrap_or(d.inter_digit_timeout_ms),
        )
    }

    /// Attempts after the first.
    pub fn retries_allowed(&self, d: &Defaults) -> u32 {
        self.retries.unwrap_or(d.retries)
    }

    /// The prompt replayed before the question after a failed attempt.
    pub fn retry_prompt<'a>(&'a self, d: &'a Defaults, why: NoAnswerWhy) -> Option<&'a str> {
        let (own, default) = match why {
            NoAnswerWhy::Invalid => (&self.invalid_prompt, &d.invalid_prompt),
            NoAnswerWhy::NoInput | NoAnswerWhy::NoSpeech => {
                (&self.no_input_prompt, &d.no_input_prompt)
            }
        };
        own.as_deref().or(default.as_deref())
    }

    /// Maps and validates keyed-in digits; `Err(Invalid)` if they are not an answer.
    pub fn evaluate(&self, raw: &str) -> Result<String, NoAnswerWhy> {
        if raw.len() < self.min_digits {
            return Err(NoAnswerWhy::Invalid);
        }
        let value = self.map.get(raw).map_or(raw, String::as_str);
        if self.accepts(value) {
            Ok(value.to_owned())
        } else {
            Err(NoAnswerWhy::Invalid)
        }
    }

    /// Whether `value` (after `map`) is an accepted answer.
    pub fn accepts(&self, value: &str) -> bool {
        match &self.valid {
            None => !value.is_empty(),
            Some(Valid::Answers(list)) => list.iter().any(|a| a == value),
            Some(Valid::Range { min, max }) => {
                canonical_number(value).is_some_and(|n| (*min..=*max).contains(&n))
            }
        }
    }

    /// Whether more keys after `raw` could still make an accepted answer.
    pub fn could_extend(&self, raw: &str) -> bool {
        let longer = |k: &String| k.len() > raw.len() && k.len() <= self.max_digits;
        if raw.len() >= self.max_digits {
            return false;
        }
        if self.map.keys().any(|k| longer(k) && k.starts_with(raw)) {
            return true;
        }
        match &self.valid {
            None => true,
            Some(Valid::Answers(list)) => list.iter().any(|a| longer(a) && a.starts_with(raw)),
            Some(Valid::Range { min, max }) => {
                range_extends(raw, *min, *max, self.max_digits - raw.len())
            }
        }
    }
}

/// `s` as a number written without a leading zero, else `None`.
fn canonical_number(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// Whether some number in `min..=max` is `prefix` followed by 1..=`extra` digits.
fn range_extends(prefix: &str, min: u64, max: u64, extra: usize) -> bool {
    let Some(p) = canonical_number(prefix).filter(|&p| p != 0) else {
        return false;
    };
    (1..=extra as u32).any(|k| {
        let Some(scale) = 10u64.checked_pow(k) else {
            return false;
        };
        let Some(lo) = p.checked_mul(scale) else {
            return false;
        };
        lo <= max && lo.saturating_add(scale - 1) >= min
    })
}

/// Where an attempt at a question stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The question is playing; a key stops it (barge-in).
    Prompting,
    /// The question has played; the first-digit timer runs.
    Waiting,
    /// Keys are coming in; the inter-digit timer runs.
    Collecting,
}

/// One attempt at a question.
#[derive(Debug)]
pub struct Attempt {
    /// Retries used before this attempt (0 for the first).
    pub number: u32,
    /// Where the attempt stands.
    pub stage: Stage,
    digits: String,
}

/// What a key did to an attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Still collecting (or the key was a stray terminator and was ignored).
    Pending,
    /// The keys are complete; evaluate them.
    Done(String),
}

impl Attempt {
    /// A fresh attempt, before its prompt plays.
    pub fn new(number: u32) -> Self {
        Self {
            number,
            stage: Stage::Prompting,
            digits: String::new(),
        }
    }

    /// Whether any key has been taken in this attempt.
    pub fn has_digits(&self) -> bool {
        !self.digits.is_empty()
    }

    /// Whether `key` would be taken (a terminator with nothing before it is ignored:
    /// it is usually the `#` after an answer that was already complete).
    pub fn takes(&self, key: char, terminator: char) -> bool {
        key != terminator || self.has_digits()
    }

    /// Feeds one key.
    pub fn key(&mut self, g: &Gather, terminator: char, key: char) -> Step {
        if key == terminator {
            return self.finish();
        }
        self.digits.push(key);
        self.stage = Stage::Collecting;
        if g.could_extend(&self.digits) {
            Step::Pending
        } else {
            self.finish()
        }
    }

    /// Ends the attempt with whatever was keyed in (inter-digit timeout, terminator).
    pub fn finish(&mut self) -> Step {
        if self.digits.is_empty() {
            Step::Pending
        } else {
            Step::Done(std::mem::take(&mut self.digits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dialplan::{Dialplan, Node};
    use super::*;

    fn gather(fields: &str) -> Gather {
        let text = format!("name='t'\nstart='g'\n[nodes.g]\nkind='gather'\nnext='g'\n{fields}");
        match Dialplan::from_toml(&text).unwrap().nodes.remove("g") {
            Some(Node::Gather(g)) => g,
            other => panic!("not a gather: {other:?}"),
        }
    }

    /// Q4 exactly as the shipped survey dialplan declares it.
    fn score() -> Gather {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans/survey-1022.toml");
        let text = std::fs::read_to_string(path).unwrap();
        match Dialplan::from_toml(&text).unwrap().nodes.remove("q4") {
            Some(Node::Gather(g)) => g,
            other => panic!("q4 is not a gather: {other:?}"),
        }
    }

    fn keys(g: &Gather, keys: &str) -> Step {
        let mut a = Attempt::new(0);
        let mut last = Step::Pending;
        for k in keys.chars() {
            last = a.key(g, '#', k);
        }
        last
    }

    /// Keys as the engine would turn them into an answer: evaluated when
    /// complete, or when the inter-digit timer ends a pending attempt.
    fn scored(g: &Gather, input: &str) -> Result<String, NoAnswerWhy> {
        let mut a = Attempt::new(0);
        for k in input.chars() {
            if let Step::Done(raw) = a.key(g, '#', k) {
                return g.evaluate(&raw);
            }
        }
        match a.finish() {
            Step::Done(raw) => g.evaluate(&raw),
            Step::Pending => Err(NoAnswerWhy::NoInput),
        }
    }

    #[test]
    fn score_is_one_to_ten_and_a_lone_zero_is_not_ten() {
        let g = score();
        // Issue 15: "0" was mapped to 10, so a dissatisfied citizen pressing 0
        // was recorded as the best mark.
        assert!(g.map.is_empty(), "q4 maps keys: {:?}", g.map);
        assert_eq!(scored(&g, "0"), Err(NoAnswerWhy::Invalid));
        assert_eq!(scored(&g, "00"), Err(NoAnswerWhy::Invalid));
        assert_eq!(scored(&g, "0#"), Err(NoAnswerWhy::Invalid));
        assert_eq!(scored(&g, "10").as_deref(), Ok("10"));
        assert_eq!(scored(&g, "10#").as_deref(), Ok("10"));
        assert_eq!(scored(&g, "1").as_deref(), Ok("1"), "1 then the pause");
        assert_eq!(scored(&g, "1#").as_deref(), Ok("1"));
        for d in 2..=9 {
            assert_eq!(scored(&g, &d.to_string()), Ok(d.to_string()));
        }
        for bad in ["11", "05", "*", "19"] {
            assert_eq!(scored(&g, bad), Err(NoAnswerWhy::Invalid), "{bad}");
        }
    }

    #[test]
    fn completes_as_soon_as_the_answer_is_unambiguous() {
        let g = score();
        assert_eq!(keys(&g, "1"), Step::Pending, "1 may become 10");
        assert_eq!(keys(&g, "2"), Step::Done("2".into()));
        assert_eq!(keys(&g, "0"), Step::Done("0".into()));
        assert_eq!(keys(&g, "10"), Step::Done("10".into()));
        assert_eq!(keys(&g, "1#"), Step::Done("1".into()));
    }

    #[test]
    fn stray_terminator_is_ignored() {
        let g = score();
        let a = Attempt::new(0);
        assert!(!a.takes('#', '#'));
        assert_eq!(keys(&g, "#"), Step::Pending);
    }

    #[test]
    fn list_answers_complete_at_their_length() {
        let g = gather("max_digits = 3\nvalid = ['1', '2', '123']");
        assert_eq!(keys(&g, "2"), Step::Done("2".into()));
        assert_eq!(keys(&g, "1"), Step::Pending);
        assert_eq!(keys(&g, "12"), Step::Pending);
        assert_eq!(keys(&g, "123"), Step::Done("123".into()));
        assert_eq!(keys(&g, "5"), Step::Done("5".into()));
        assert_eq!(g.evaluate("5"), Err(NoAnswerWhy::Invalid));
    }

    #[test]
    fn min_digits_applies_to_raw_keys() {
        let g = gather("min_digits = 2\nmax_digits = 4");
        assert_eq!(g.evaluate("1"), Err(NoAnswerWhy::Invalid));
        assert_eq!(g.evaluate("12").as_deref(), Ok("12"));
        assert_eq!(keys(&g, "123"), Step::Pending);
        assert_eq!(keys(&g, "1234"), Step::Done("1234".into()));
    }

    #[test]
    fn range_extension_arithmetic() {
        assert!(range_extends("1", 1, 10, 1));
        assert!(!range_extends("2", 1, 10, 1));
        assert!(!range_extends("0", 0, 99, 1));
        assert!(range_extends("9", 0, 1000, 2));
        assert!(!range_extends("9", 0, 89, 2));
        // Overflow is "cannot extend", not a panic.
        assert!(!range_extends("9999999999999999999", 0, u64::MAX, 3));
    }
}
