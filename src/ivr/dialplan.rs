//! The dialplan: a questionnaire as data (TOML), read from `dialplans/`.
//!
//! The survey form "may change with circumstances" (Plan 362/KH-UBND annex), so the
//! flow lives in a file a supervisor can edit, not in code — as Kamailio keeps routing
//! in a script. A dialplan is a set of named nodes; each says what to play and where to
//! go next. The format is described for authors in `dialplans/README.md`.
//!
//! [`Dialplan::load`] only parses; call [`Dialplan::validate`] with the prompt set
//! before running a plan, so a typo fails at start-up rather than mid-call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::outcome::EndReason;

/// A parsed dialplan. Times are milliseconds (`*_ms`), as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialplan {
    /// Human name, e.g. `survey-1022`.
    pub name: String,
    /// The node the call starts in.
    pub start: String,
    /// Values used by every node that does not set its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// The nodes, by name.
    pub nodes: BTreeMap<String, Node>,
}

/// Plan-wide defaults for gather and record nodes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Defaults {
    /// Time allowed for the first key, counted from the end of the question prompt.
    pub first_digit_timeout_ms: u64,
    /// Time allowed between keys before the answer is taken as complete.
    pub inter_digit_timeout_ms: u64,
    /// Attempts after the first before a question is given up.
    pub retries: u32,
    /// The key that ends an answer (and a recording) early.
    pub terminator: char,
    /// Played before the question again after an invalid answer.
    pub invalid_prompt: Option<String>,
    /// Played before the question again after a first-digit timeout.
    pub no_input_prompt: Option<String>,
    /// Safety net: the engine hangs up (`time_limit`) this long after it was created.
    pub max_call_ms: u64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            first_digit_timeout_ms: 5_000,
            inter_digit_timeout_ms: 3_000,
            retries: 2,
            terminator: '#',
            invalid_prompt: None,
            no_input_prompt: None,
            max_call_ms: 15 * 60_000,
        }
    }
}

/// One step of the flow, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Node {
    /// Play prompts, then go on.
    Play(Play),
    /// Ask a keypad question.
    Gather(Gather),
    /// Ask a spoken question and record the answer.
    Record(Record),
    /// Go somewhere depending on an answer or call variable.
    Branch(Branch),
    /// Optionally play prompts, then end the call.
    Hangup(Hangup),
    /// Hand the call to a queue of operators.
    Bridge(Bridge),
}

/// `kind = "play"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Play {
    /// What to say; see [`PromptEntry`].
    pub prompts: Vec<PromptEntry>,
    /// Where to go when the prompts have played.
    pub next: String,
}

/// `kind = "gather"`: a keypad question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    /// The question.
    #[serde(default)]
    pub prompts: Vec<PromptEntry>,
    /// Answer key (e.g. `q1`); without it the answer only steers the flow.
    pub store: Option<String>,
    /// Fewest keys that make an answer.
    #[serde(default = "one")]
    pub min_digits: usize,
    /// Most keys; the answer is complete as soon as this many are pressed.
    #[serde(default = "one")]
    pub max_digits: usize,
    /// Overrides [`Defaults::terminator`].
    pub terminator: Option<char>,
    /// Overrides [`Defaults::first_digit_timeout_ms`].
    pub first_digit_timeout_ms: Option<u64>,
    /// Overrides [`Defaults::inter_digit_timeout_ms`].
    pub inter_digit_timeout_ms: Option<u64>,
    /// Accepted answers (after `map`); any answer of the right length if absent.
    pub valid: Option<Valid>,
    /// Rewrites keyed-in strings before validation, e.g. `{ "0" = "10" }`.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// Overrides [`Defaults::retries`].
    pub retries: Option<u32>,
    /// Overrides [`Defaults::invalid_prompt`].
    pub invalid_prompt: Option<String>,
    /// Overrides [`Defaults::no_input_prompt`].
    pub no_input_prompt: Option<String>,
    /// Targets by answer; answers not listed go to `next`.
    #[serde(default)]
    pub on: BTreeMap<String, String>,
    /// Where an accepted answer goes by default, and where an unanswered one goes
    /// unless `on_no_input` / `on_invalid` say otherwise.
    pub next: String,
    /// Where to go when the last attempt timed out with no key.
    pub on_no_input: Option<String>,
    /// Where to go when the last attempt was an invalid answer.
    pub on_invalid: Option<String>,
    /// Whether keys pressed during the preceding play nodes count toward this answer.
    #[serde(default = "yes")]
    pub type_ahead: bool,
}

/// Which answers a gather accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Valid {
    /// An explicit list: `valid = ["1", "2", "9"]`.
    Answers(Vec<String>),
    /// A whole-number range, bounds included: `valid = { min = 1, max = 10 }`.
    /// Answers with a leading zero (`05`) are not accepted.
    Range {
        /// Smallest accepted number.
        min: u64,
        /// Largest accepted number.
        max: u64,
    },
}

/// `kind = "record"`: a spoken question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The question, usually followed by `beep`.
    #[serde(default)]
    pub prompts: Vec<PromptEntry>,
    /// Answer key.
    pub store: String,
    /// The recording stops after this long whatever happens.
    #[serde(default = "record_max_length")]
    pub max_length_ms: u64,
    /// The recording stops after this much silence once speech has started.
    #[serde(default = "record_silence")]
    pub silence_ms: u64,
    /// With no speech at all for this long the question is unanswered (`no_speech`).
    #[serde(default = "record_no_speech")]
    pub no_speech_timeout_ms: u64,
    /// Voiced audio must last this long, unbroken, to count as speech (not a click).
    #[serde(default = "record_min_speech")]
    pub min_speech_ms: u64,
    /// Overrides [`Defaults::terminator`]: the key that ends the recording.
    pub terminator: Option<char>,
    /// Where to go afterwards, answered or not.
    pub next: String,
}

/// `kind = "branch"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// An answer key (the latest answer wins) or else a call variable.
    pub key: String,
    /// Targets by value.
    #[serde(default)]
    pub on: BTreeMap<String, String>,
    /// Where any other value, or none, goes.
    pub next: String,
}

/// `kind = "hangup"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hangup {
    /// Played in full before hanging up.
    #[serde(default)]
    pub prompts: Vec<PromptEntry>,
    /// Recorded as the call's end reason.
    pub reason: EndReason,
}

/// `kind = "bridge"`: hand the call to a live operator. The engine emits
/// `Action::Bridge`, loops `hold_prompt` while the driver looks for an operator,
/// and then either stays out of the conversation (`Event::BridgeAnswered`) or
/// goes to `on_fail` (`Event::BridgeFailed`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Operator queue name.
    pub queue: String,
    /// Played, over and over, while the citizen waits for an operator.
    pub hold_prompt: Option<String>,
    /// How long to wait for an operator to answer; the `[bridge] wait_secs`
    /// setting when absent.
    pub wait_ms: Option<u64>,
    /// Where to go when no operator answered in time; the call ends
    /// (`no_operator`) when absent.
    pub on_fail: Option<String>,
}

/// One item of a prompt list.
///
/// ```toml
/// prompts = [
///   "greeting_intro",                                               # always
///   { prompt = ["greeting_field", "field/{field_slug}"], when = "field_slug" },
///   { otherwise = "greeting_generic" },
/// ]
/// ```
/// A conditional entry plays all its prompts or none: it is skipped when a `when`
/// variable or a `{template}` variable is missing, or a resulting prompt does not
/// exist. An `otherwise` entry plays only if none of the conditional entries since
/// the previous `otherwise` (or the start of the list) played.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PromptEntry {
    /// A prompt that always plays.
    Always(String),
    /// Prompts that play only when their variables and files are there.
    When {
        /// Prompt names, possibly with `{variable}` templates.
        #[serde(deserialize_with = "one_or_many")]
        prompt: Vec<String>,
        /// Call variables that must be set (and non-empty).
        #[serde(default, deserialize_with = "one_or_many")]
        when: Vec<String>,
    },
    /// Fallback prompts for the conditional entries before it.
    Otherwise {
        /// Prompt names (no templates).
        #[serde(deserialize_with = "one_or_many")]
        otherwise: Vec<String>,
    },
}

/// Why a dialplan could not be loaded or is not fit to run.
#[derive(Debug, thiserror::Error)]
pub enum DialplanError {
    /// The file could not be read.
    #[error("cannot read dialplan {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not describe a dialplan.
    #[error("dialplan {path} is not a valid dialplan: {source}")]
    Parse {
        /// The file, or `<string>` for [`Dialplan::from_toml`].
        path: PathBuf,
        /// The parser's error, with line and column.
        source: toml::de::Error,
    },
    /// `start` names no node.
    #[error("start node `{0}` does not exist: set `start` to one of the [nodes.*] tables")]
    MissingStart(String),
    /// A `next`, `on` or `on_*` target names no node.
    #[error("node `{node}`: `{field}` goes to `{target}`, which is not a node")]
    DanglingTarget {
        /// The node holding the reference.
        node: String,
        /// The field (`next`, `on.3`, `on_no_input`, ...).
        field: String,
        /// The missing node.
        target: String,
    },
    /// A fixed prompt name has no recording.
    #[error("node `{node}`: prompt `{prompt}` does not exist: record it or fix the name")]
    MissingPrompt {
        /// The node.
        node: String,
        /// The prompt name.
        prompt: String,
    },
    /// A `{template}` is not well formed.
    #[error("node `{node}`: prompt template `{template}` is malformed: use `dir/{{variable}}`")]
    BadTemplate {
        /// The node.
        node: String,
        /// The template.
        template: String,
    },
    /// `min_digits` / `max_digits` make no sense.
    #[error(
        "node `{node}`: digits must satisfy 1 <= min_digits ({min}) <= max_digits ({max}) <= {limit}"
    )]
    DigitBounds {
        /// The node.
        node: String,
        /// `min_digits`.
        min: usize,
        /// `max_digits`.
        max: usize,
        /// The largest allowed `max_digits`.
        limit: usize,
    },
    /// `valid` is an empty list or a range with min > max.
    #[error("node `{node}`: `valid` accepts nothing")]
    EmptyValid {
        /// The node.
        node: String,
    },
    /// A listed answer, `on` key or `map` key can never be keyed in or accepted.
    #[error("node `{node}`: answer `{answer}` can never be given: {why}")]
    UnreachableAnswer {
        /// The node.
        node: String,
        /// The answer or key.
        answer: String,
        /// Which rule it breaks.
        why: &'static str,
    },
}

impl Dialplan {
    /// Reads and parses a dialplan file. Does not validate it.
    pub fn load(path: impl AsRef<Path>) -> Result<Dialplan, DialplanError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DialplanError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a dialplan from TOML text. Does not validate it.
    pub fn from_toml(text: &str) -> Result<Dialplan, DialplanError> {
        Self::parse(text, Path::new("<string>"))
    }

    fn parse(text: &str, path: &Path) -> Result<Dialplan, DialplanError> {
        toml::from_str(text).map_err(|source| DialplanError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

fn record_max_length() -> u64 {
    60_000
}

fn record_silence() -> u64 {
    3_000
}

fn record_no_speech() -> u64 {
    6_000
}

fn record_min_speech() -> u64 {
    200
}

/// Accepts `"a"` or `["a", "b"]`: single prompts read better without brackets.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
        name = "small"
        start = "hello"
        [defaults]
        retries = 1
        [nodes.hello]
        kind = "play"
        prompts = ["a", { prompt = "x/{v}", when = "v" }, { otherwise = ["b", "c"] }]
        next = "ask"
        [nodes.ask]
        kind = "gather"
        max_digits = 2
        valid = { min = 1, max = 10 }
        map = { "0" = "10" }
        next = "bye"
        [nodes.bye]
        kind = "hangup"
        reason = "completed"
    "#;

    #[test]
    fn parses_nodes_defaults_and_prompt_entries() {
        let plan = Dialplan::from_toml(SMALL).unwrap();
        assert_eq!(plan.defaults.retries, 1);
        assert_eq!(plan.defaults.first_digit_timeout_ms, 5_000);
        let Node::Play(play) = &plan.nodes["hello"] else {
            panic!("hello is not a play node")
        };
        assert_eq!(play.prompts[0], PromptEntry::Always("a".into()));
        assert_eq!(
            play.prompts[1],
            PromptEntry::When {
                prompt: vec!["x/{v}".into()],
                when: vec!["v".into()]
            }
        );
        assert_eq!(
            play.prompts[2],
            PromptEntry::Otherwise {
                otherwise: vec!["b".into(), "c".into()]
            }
        );
        let Node::Gather(g) = &plan.nodes["ask"] else {
            panic!("ask is not a gather node")
        };
        assert_eq!(g.valid, Some(Valid::Range { min: 1, max: 10 }));
        assert!(g.type_ahead);
        assert_eq!(g.min_digits, 1);
        let Node::Hangup(h) = &plan.nodes["bye"] else {
            panic!("bye is not a hangup node")
        };
        assert_eq!(h.reason, EndReason::Completed);
    }

    #[test]
    fn rejects_misspelt_fields() {
        let typo = SMALL.replace("max_digits = 2", "max_digit = 2");
        assert!(matches!(
            Dialplan::from_toml(&typo),
            Err(DialplanError::Parse { .. })
        ));
        let entry = SMALL.replace("when = \"v\"", "wen = \"v\"");
        assert!(Dialplan::from_toml(&entry).is_err());
    }

    #[test]
    fn parses_reserved_bridge_and_custom_reason() {
        let plan = Dialplan::from_toml(
            r#"
            name = "b"
            start = "op"
            [nodes.op]
            kind = "bridge"
            queue = "operators"
            hold_prompt = "hold"
            wait_ms = 30000
            on_fail = "later"
            [nodes.later]
            kind = "hangup"
            reason = "call_back_later"
            "#,
        )
        .unwrap();
        assert!(
            matches!(&plan.nodes["op"], Node::Bridge(b) if b.queue == "operators"
            && b.hold_prompt.as_deref() == Some("hold") && b.wait_ms == Some(30_000)
            && b.on_fail.as_deref() == Some("later"))
        );
        assert!(matches!(&plan.nodes["later"],
            Node::Hangup(h) if h.reason == EndReason::Custom("call_back_later".into())));
    }

    #[test]
    fn load_reports_missing_file() {
        let err = Dialplan::load("/nonexistent/plan.toml").unwrap_err();
        assert!(matches!(err, DialplanError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/plan.toml"));
    }
}
