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
    /// What the reports read this question as (see [`Role`]).
    #[serde(default)]
    pub role: Option<Role>,
    /// For a [`Role::Satisfaction`] or factor question on a 2- or 4-level
    /// scale: the option codes that count as satisfied ("hài lòng"; "rất
    /// tốt" and "tốt").
    #[serde(default)]
    pub positive: Vec<String>,
    /// The SIPAS factor (seed 003) a scale question measures.
    #[serde(default)]
    pub factor: Option<Factor>,
    /// The SIPAS factor each option of a "what satisfied you most" question
    /// names (option code → factor).
    #[serde(default)]
    pub option_factors: std::collections::BTreeMap<String, Factor>,
}

/// The part a question plays in the reports, so that they follow the form
/// (a renumbered or 4-level form needs no new code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The overall satisfaction question: its `positive` options are the
    /// satisfied answers, every option an answer.
    Satisfaction,
    /// The overall score (a [`QuestionKind::Score`]).
    Score,
    /// Complaints, problems to fix (phản ánh, kiến nghị).
    Complaint,
    /// Suggestions for improvement.
    Suggestion,
}

/// The five factors of the national satisfaction index (SIPAS, seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// Tiếp cận dịch vụ: the office, its signs, the waiting area.
    Access,
    /// Thủ tục hành chính: published, the right papers and fees, on time.
    Procedure,
    /// Công chức: polite, listens, answers, guides, follows the rules.
    CivilServant,
    /// Kết quả: correct, complete, accurate.
    Result,
    /// Tiếp nhận, xử lý phản ánh, kiến nghị.
    Feedback,
}

impl Factor {
    pub const ALL: [Factor; 5] = [
        Factor::Access,
        Factor::Procedure,
        Factor::CivilServant,
        Factor::Result,
        Factor::Feedback,
    ];

    /// The factor's name in the SIPAS method's words.
    pub fn label(self) -> &'static str {
        match self {
            Factor::Access => "Tiếp cận dịch vụ",
            Factor::Procedure => "Thủ tục hành chính",
            Factor::CivilServant => "Công chức trực tiếp giải quyết",
            Factor::Result => "Kết quả giải quyết",
            Factor::Feedback => "Tiếp nhận, xử lý phản ánh, kiến nghị",
        }
    }
}

/// Where the reports find the questions they read, from the form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportRoles {
    /// The satisfaction question: key, satisfied option codes, all codes.
    pub satisfaction: Option<(String, Vec<String>, Vec<String>)>,
    /// The score question: key, min, max.
    pub score: Option<(String, i64, i64)>,
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
            check_roles(&q, question).map_err(bad)?;
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

    /// The questions the reports read, by role.
    pub fn report_roles(&self) -> ReportRoles {
        let by = |role| self.questions.iter().find(|q| q.role == Some(role));
        ReportRoles {
            satisfaction: by(Role::Satisfaction).map(|q| {
                let all = q.options.iter().map(|(c, _)| c.clone()).collect();
                (q.key.clone(), q.positive.clone(), all)
            }),
            score: by(Role::Score).and_then(|q| Some((q.key.clone(), q.min?, q.max?))),
        }
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

/// A role or factor must fit its question: one question per role, the
/// satisfaction and factor questions are choices whose `positive` codes are
/// options, the score is a score, option factors name options.
fn check_roles(form: &Questionnaire, q: &Question) -> Result<(), &'static str> {
    if let Some(role) = q.role
        && form
            .questions
            .iter()
            .filter(|o| o.role == Some(role))
            .count()
            > 1
    {
        return Err("another question has the same role");
    }
    let scale = q.role == Some(Role::Satisfaction) || q.factor.is_some();
    if scale && (q.kind != QuestionKind::Choice || q.positive.is_empty()) {
        return Err("a satisfaction or factor question is a choice with positive options");
    }
    if !q.positive.is_empty() && !scale {
        return Err("positive is only for the satisfaction question or a factor question");
    }
    let is_option = |code: &String| q.options.iter().any(|(c, _)| c == code);
    if !q.positive.iter().all(is_option) || !q.option_factors.keys().all(is_option) {
        return Err("positive and option_factors must name the question's options");
    }
    if q.role == Some(Role::Score) && q.kind != QuestionKind::Score {
        return Err("the score role needs a score question");
    }
    Ok(())
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
    fn the_shipped_form_names_its_report_roles() {
        let roles = Questionnaire::shipped().report_roles();
        assert_eq!(
            roles.satisfaction,
            Some((
                "q1".into(),
                vec!["1".into()],
                vec!["1".into(), "2".into(), "3".into()]
            ))
        );
        assert_eq!(roles.score, Some(("q4".into(), 1, 10)));
        let q2 = Questionnaire::shipped();
        let q2 = q2.question("q2").unwrap();
        assert_eq!(q2.option_factors.get("2"), Some(&Factor::CivilServant));
        assert_eq!(q2.option_factors.len(), 5);
    }

    /// A 4-level scale (rất tốt, tốt, bình thường, chưa tốt) renumbered as
    /// "s": the reports follow the data.
    #[test]
    fn a_four_level_form_is_read_from_data() {
        let text = r#"title = "t"
[[questions]]
key = "s"
part = 1
label = "Đánh giá chung"
kind = "choice"
options = [["a", "Rất tốt"], ["b", "Tốt"], ["c", "Bình thường"], ["d", "Chưa tốt"]]
role = "satisfaction"
positive = ["a", "b"]
[[questions]]
key = "cs"
part = 1
label = "Công chức"
kind = "choice"
options = [["1", "Hài lòng"], ["2", "Không hài lòng"]]
factor = "civil_servant"
positive = ["1"]
"#;
        let q = Questionnaire::parse(text, "f.toml").unwrap();
        let (key, positive, all) = q.report_roles().satisfaction.unwrap();
        assert_eq!((key.as_str(), positive.len(), all.len()), ("s", 2, 4));
        assert_eq!(q.report_roles().score, None);
        assert_eq!(q.question("cs").unwrap().factor, Some(Factor::CivilServant));
    }

    #[test]
    fn roles_that_do_not_fit_are_refused() {
        let head = "title = 't'\n[[questions]]\nkey = 'a'\npart = 1\nlabel = 'x'\n";
        for (body, why) in [
            ("kind = 'text'\nrole = 'satisfaction'\n", "choice"),
            (
                "kind = 'choice'\noptions = [['1', 'x']]\nrole = 'satisfaction'\npositive = ['9']\n",
                "options",
            ),
            ("kind = 'text'\nrole = 'score'\n", "score"),
            (
                "kind = 'choice'\noptions = [['1', 'x']]\npositive = ['1']\n",
                "only",
            ),
        ] {
            let e = Questionnaire::parse(&format!("{head}{body}"), "f.toml").unwrap_err();
            assert!(e.to_string().contains(why), "{body}: {e}");
        }
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
