//! The survey form (phiếu hỏi) as data: questions, their answer kinds and
//! Vietnamese labels, loaded from `data/questionnaire-1022.toml`. The pages
//! render it, and corrections and operator answers are checked against it, so
//! that a changed form needs no new code.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The form shipped with carecall (used when the configured file is absent).
const SHIPPED: &str = include_str!("../data/questionnaire-1022.toml");

/// How a question is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// One of `options` (the value is the option's code).
    Choice,
    /// An integer from `min` to `max`.
    Score,
    /// Free text (an IVR answer is a recorded clip instead).
    Text,
}

/// Show a question only when another has a given answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShownWhen {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub key: String,
    /// 1: the questions; 2: about the citizen.
    pub part: u8,
    pub label: String,
    pub kind: QuestionKind,
    /// (code, label) pairs of a choice.
    #[serde(default)]
    pub options: Vec<(String, String)>,
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
    #[serde(default)]
    pub shown_when: Option<ShownWhen>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    pub title: String,
    /// The questions a response needs answered to count as a complete
    /// interview (AAPOR *I*); fewer answers make a partial (*P*). A call that
    /// reaches this point is complete whatever happens after it (hang-up in
    /// Q5 or the thanks, lost media), so the citizen is never dialled again.
    /// Empty: only a dialplan that runs to its end completes a response.
    #[serde(default)]
    pub complete_when: Vec<String>,
    pub questions: Vec<Question>,
}

/// How much of the questionnaire a response holds (AAPOR *Standard
/// Definitions*: complete *I*, partial *P*, or no interview at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Every question of `complete_when` has an answer.
    Complete,
    /// Some questions of the form are answered, not all that a complete needs.
    Partial,
    /// No question of the form is answered (consent alone is not an answer).
    Empty,
}

#[derive(Debug, thiserror::Error)]
pub enum QuestionnaireError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}: question {key:?}: {why}")]
    Invalid {
        path: String,
        key: String,
        why: &'static str,
    },
}

/// Why an answer does not fit its question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the form has no question {0:?}")]
    UnknownKey(String),
    #[error("{key}: {value:?} is not one of the options ({options})")]
    NotAnOption {
        key: String,
        value: String,
        options: String,
    },
    #[error("{key}: {value:?} is not a whole number from {min} to {max}")]
    OutOfRange {
        key: String,
        value: String,
        min: i64,
        max: i64,
    },
    #[error("{key}: the answer is empty")]
    Empty { key: String },
    #[error("{key}: the answer is longer than {max} characters")]
    TooLong { key: String, max: usize },
}

const MAX_TEXT_CHARS: usize = 4000;

impl Questionnaire {
    /// The form at `path`, or the shipped one when no file is there.
    pub fn load(path: &Path) -> Result<Questionnaire, QuestionnaireError> {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SHIPPED.to_string(),
            Err(source) => return Err(QuestionnaireError::Read { path: name, source }),
        };
        Self::parse(&text, &name)
    }

    pub fn shipped() -> Questionnaire {
        Self::parse(SHIPPED, "shipped questionnaire").expect("the shipped questionnaire is valid")
    }

    fn parse(text: &str, path: &str) -> Result<Questionnaire, QuestionnaireError> {
        let q: Questionnaire =
            toml::from_str(text).map_err(|source| QuestionnaireError::Parse {
                path: path.to_string(),
                source,
            })?;
        for question in &q.questions {
            let bad = |why| QuestionnaireError::Invalid {
                path: path.to_string(),
                key: question.key.clone(),
                why,
            };
            match question.kind {
                QuestionKind::Choice if question.options.is_empty() => {
                    return Err(bad("a choice needs options"));
                }
                QuestionKind::Score
                    if question.min.zip(question.max).is_none_or(|(a, b)| a > b) =>
                {
                    return Err(bad("a score needs min <= max"));
                }
                _ => {}
            }
            if q.questions.iter().filter(|o| o.key == question.key).count() > 1 {
                return Err(bad("the key is used twice"));
            }
        }
        if let Some(key) = q.complete_when.iter().find(|k| q.question(k).is_none()) {
            return Err(QuestionnaireError::Invalid {
                path: path.to_string(),
                key: key.clone(),
                why: "complete_when names a question the form does not have",
            });
        }
        Ok(q)
    }

    pub fn question(&self, key: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.key == key)
    }

    /// Checks `value` against question `key`; returns it trimmed.
    pub fn check(&self, key: &str, value: &str) -> Result<String, AnswerError> {
        let q = self
            .question(key)
            .ok_or_else(|| AnswerError::UnknownKey(key.to_string()))?;
        let v = value.trim();
        if v.is_empty() {
            return Err(AnswerError::Empty { key: key.into() });
        }
        match q.kind {
            QuestionKind::Choice if !q.options.iter().any(|(code, _)| code == v) => {
                Err(AnswerError::NotAnOption {
                    key: key.into(),
                    value: v.into(),
                    options: q
                        .options
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
            QuestionKind::Score => {
                let (min, max) = (q.min.unwrap_or(i64::MIN), q.max.unwrap_or(i64::MAX));
                match v.parse::<i64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                    _ => Err(AnswerError::OutOfRange {
                        key: key.into(),
                        value: v.into(),
                        min,
                        max,
                    }),
                }
            }
            QuestionKind::Text if v.chars().count() > MAX_TEXT_CHARS => Err(AnswerError::TooLong {
                key: key.into(),
                max: MAX_TEXT_CHARS,
            }),
            _ => Ok(v.to_string()),
        }
    }

    /// How complete a response is, given which keys hold an answer (a value
    /// or a spoken clip; an `unanswered` row is not an answer).
    pub fn completeness<'a>(&self, answered: impl IntoIterator<Item = &'a str>) -> Completeness {
        let answered: Vec<&str> = answered
            .into_iter()
            .filter(|k| self.question(k).is_some())
            .collect();
        let complete = !self.complete_when.is_empty()
            && self
                .complete_when
                .iter()
                .all(|k| answered.contains(&k.as_str()));
        match (complete, answered.is_empty()) {
            (true, _) => Completeness::Complete,
            (false, false) => Completeness::Partial,
            (false, true) => Completeness::Empty,
        }
    }

    /// Whether `key` is a question of the form (answers to it are kept across
    /// a retry; dialplan-only keys such as consent are asked again).
    pub fn asks(&self, key: &str) -> bool {
        self.question(key).is_some()
    }

    /// The label of a choice's option, for display.
    pub fn option_label(&self, key: &str, value: &str) -> Option<&str> {
        self.question(key)?
            .options
            .iter()
            .find(|(c, _)| c == value)
            .map(|(_, l)| l.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_form_has_both_parts_and_checks_answers() {
        let q = Questionnaire::shipped();
        assert!(q.questions.iter().any(|q| q.part == 2));
        for key in ["q1", "q2", "q3", "q4", "q5"] {
            assert!(q.question(key).is_some(), "{key}");
        }
        assert_eq!(q.check("q1", " 1 "), Ok("1".into()));
        assert!(matches!(
            q.check("q1", "4"),
            Err(AnswerError::NotAnOption { .. })
        ));
        assert_eq!(q.check("q4", "10"), Ok("10".into()));
        assert!(matches!(
            q.check("q4", "11"),
            Err(AnswerError::OutOfRange { .. })
        ));
        assert!(matches!(
            q.check("q4", "x"),
            Err(AnswerError::OutOfRange { .. })
        ));
        assert!(matches!(
            q.check("q9", "1"),
            Err(AnswerError::UnknownKey(_))
        ));
        assert!(matches!(
            q.check("q3", "  "),
            Err(AnswerError::Empty { .. })
        ));
        assert_eq!(q.option_label("gender", "f"), Some("Nữ"));
    }

    #[test]
    fn q1_and_q4_make_a_complete_whatever_follows() {
        let q = Questionnaire::shipped();
        assert_eq!(q.complete_when, ["q1", "q4"]);
        assert_eq!(
            q.completeness(["consent", "q1", "q2", "q3", "q4"]),
            Completeness::Complete
        );
        assert_eq!(q.completeness(["q4", "q1"]), Completeness::Complete);
        assert_eq!(
            q.completeness(["consent", "q1", "q2", "q3"]),
            Completeness::Partial
        );
        // Consent and the callback offer are the dialplan's, not the form's.
        assert_eq!(q.completeness(["consent", "callback"]), Completeness::Empty);
        assert!(q.asks("q3") && !q.asks("consent"));
    }

    #[test]
    fn completeness_needs_a_rule_and_names_known_questions() {
        let form = "title = 't'\n[[questions]]\nkey = 'a'\npart = 1\nlabel = 'x'\nkind = 'text'\n";
        let q = Questionnaire::parse(form, "f.toml").unwrap();
        // No rule: answers alone never make a complete.
        assert_eq!(q.completeness(["a"]), Completeness::Partial);
        let bad = format!("complete_when = ['a', 'zz']\n{form}");
        let e = Questionnaire::parse(&bad, "f.toml").unwrap_err();
        assert!(e.to_string().contains("\"zz\""), "{e}");
    }

    #[test]
    fn a_broken_form_is_refused_with_its_key() {
        let bad = "title = 't'\n[[questions]]\nkey = 'a'\npart = 1\nlabel = 'x'\nkind = 'choice'\n";
        let e = Questionnaire::parse(bad, "f.toml").unwrap_err();
        assert!(
            e.to_string().contains("\"a\"") && e.to_string().contains("options"),
            "{e}"
        );
    }
}
