//! Checking a dialplan before it runs: every target exists, every fixed prompt has a
//! recording, templates are well formed and digit rules can be satisfied.
//!
//! All problems are reported at once, so an author fixes a file in one pass.

use super::dialplan::{Dialplan, DialplanError, Gather, Node, PromptEntry, Valid};
use super::gather::{MAX_DIGITS, is_key};
use super::prompts::template_vars;

type Problems = Vec<DialplanError>;

impl Dialplan {
    /// Checks the plan against a prompt set; returns every problem found.
    pub fn validate(&self, prompt_exists: &dyn Fn(&str) -> bool) -> Result<(), Vec<DialplanError>> {
        let mut problems = Problems::new();
        if !self.nodes.contains_key(&self.start) {
            problems.push(DialplanError::MissingStart(self.start.clone()));
        }
        for (name, node) in &self.nodes {
            let mut check = Check {
                plan: self,
                node: name,
                exists: prompt_exists,
                problems: &mut problems,
            };
            check.node(node);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

struct Check<'a> {
    plan: &'a Dialplan,
    node: &'a str,
    exists: &'a dyn Fn(&str) -> bool,
    problems: &'a mut Problems,
}

impl Check<'_> {
    fn node(&mut self, node: &Node) {
        match node {
            Node::Play(p) => {
                self.prompts(&p.prompts);
                self.target("next", &p.next);
            }
            Node::Gather(g) => self.gather(g),
            Node::Record(r) => {
                self.prompts(&r.prompts);
                self.target("next", &r.next);
            }
            Node::Branch(b) => {
                for (value, target) in &b.on {
                    self.target(&format!("on.{value}"), target);
                }
                self.target("next", &b.next);
            }
            Node::Hangup(h) => self.prompts(&h.prompts),
            Node::Bridge(b) => {
                if let Some(p) = &b.hold_prompt {
                    self.prompt(p);
                }
                if let Some(t) = &b.on_fail {
                    self.target("on_fail", t);
                }
            }
        }
    }

    fn gather(&mut self, g: &Gather) {
        self.prompts(&g.prompts);
        let d = &self.plan.defaults;
        for why in [
            super::outcome::NoAnswerWhy::Invalid,
            super::outcome::NoAnswerWhy::NoInput,
        ] {
            if let Some(p) = g.retry_prompt(d, why) {
                self.prompt(p);
            }
        }
        self.target("next", &g.next);
        for (value, target) in &g.on {
            self.target(&format!("on.{value}"), target);
        }
        if let Some(t) = &g.on_no_input {
            self.target("on_no_input", t);
        }
        if let Some(t) = &g.on_invalid {
            self.target("on_invalid", t);
        }
        self.digits(g);
    }

    fn digits(&mut self, g: &Gather) {
        if g.min_digits < 1 || g.min_digits > g.max_digits || g.max_digits > MAX_DIGITS {
            self.problems.push(DialplanError::DigitBounds {
                node: self.node.to_owned(),
                min: g.min_digits,
                max: g.max_digits,
                limit: MAX_DIGITS,
            });
            return;
        }
        let empty = match &g.valid {
            Some(Valid::Answers(list)) => list.is_empty(),
            Some(Valid::Range { min, max }) => min > max,
            None => false,
        };
        if empty {
            self.problems.push(DialplanError::EmptyValid {
                node: self.node.to_owned(),
            });
        }
        let terminator = g.terminator_key(&self.plan.defaults);
        let keyable = |s: &str| {
            (g.min_digits..=g.max_digits).contains(&s.len())
                && s.chars().all(|c| is_key(c) && c != terminator)
        };
        for key in g.map.keys() {
            if !keyable(key) {
                self.unreachable(key, "`map` key cannot be keyed in (length or keys)");
            }
        }
        if let Some(Valid::Answers(list)) = &g.valid {
            for a in list {
                if !keyable(a) && !g.map.values().any(|v| v == a) {
                    self.unreachable(a, "cannot be keyed in and no `map` entry gives it");
                }
            }
        }
        for value in g.on.keys() {
            if !g.accepts(value) {
                self.unreachable(value, "`on` key is not accepted by `valid`");
            }
        }
    }

    fn unreachable(&mut self, answer: &str, why: &'static str) {
        self.problems.push(DialplanError::UnreachableAnswer {
            node: self.node.to_owned(),
            answer: answer.to_owned(),
            why,
        });
    }

    fn target(&mut self, field: &str, target: &str) {
        if !self.plan.nodes.contains_key(target) {
            self.problems.push(DialplanError::DanglingTarget {
                node: self.node.to_owned(),
                field: field.to_owned(),
                target: target.to_owned(),
            });
        }
    }

    fn prompts(&mut self, entries: &[PromptEntry]) {
        for entry in entries {
            match entry {
                PromptEntry::Always(p) => self.prompt(p),
                PromptEntry::Otherwise { otherwise } => {
                    otherwise.iter().for_each(|p| self.prompt(p))
                }
                PromptEntry::When { prompt, .. } => prompt.iter().for_each(|p| self.template(p)),
            }
        }
    }

    /// Templated prompts depend on the call, so only their shape is checked here.
    fn template(&mut self, template: &str) {
        match template_vars(template) {
            None => self.problems.push(DialplanError::BadTemplate {
                node: self.node.to_owned(),
                template: template.to_owned(),
            }),
            Some(vars) if vars.is_empty() => self.prompt(template),
            Some(_) => {}
        }
    }

    fn prompt(&mut self, name: &str) {
        if !(self.exists)(name) {
            self.problems.push(DialplanError::MissingPrompt {
                node: self.node.to_owned(),
                prompt: name.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
        name = "t"
        start = "ask"
        [defaults]
        invalid_prompt = "invalid"
        [nodes.ask]
        kind = "gather"
        prompts = ["q", { prompt = ["word", "field/{field_slug}"], when = "field_slug" }]
        max_digits = 2
        valid = { min = 1, max = 10 }
        map = { "0" = "10" }
        on = { "10" = "bye" }
        next = "bye"
        [nodes.bye]
        kind = "hangup"
        reason = "completed"
        prompts = ["thanks"]
    "#;

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn a_sound_plan_passes() {
        let plan = Dialplan::from_toml(PLAN).unwrap();
        plan.validate(&all).unwrap();
    }

    #[test]
    fn catches_a_dangling_next_and_missing_start() {
        let plan = Dialplan::from_toml(
            &PLAN
                .replace("next = \"bye\"", "next = \"byee\"")
                .replace("start = \"ask\"", "start = \"begin\""),
        )
        .unwrap();
        let problems = plan.validate(&all).unwrap_err();
        assert!(problems.iter().any(|p| matches!(p,
            DialplanError::DanglingTarget { node, field, target }
                if node == "ask" && field == "next" && target == "byee")));
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, DialplanError::MissingStart(s) if s == "begin"))
        );
    }

    #[test]
    fn catches_missing_fixed_prompts_but_not_templated_ones() {
        let plan = Dialplan::from_toml(PLAN).unwrap();
        let problems = plan
            .validate(&|p: &str| p != "word" && p != "invalid" && !p.starts_with("field/"))
            .unwrap_err();
        let missing: Vec<_> = problems
            .iter()
            .filter_map(|p| match p {
                DialplanError::MissingPrompt { prompt, .. } => Some(prompt.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(missing, ["word", "invalid"]);
    }

    #[test]
    fn catches_bad_digit_rules_and_templates() {
        let bad = PLAN
            .replace("max_digits = 2", "max_digits = 2\nmin_digits = 3")
            .replace("field/{field_slug}", "field/{field_slug");
        let problems = Dialplan::from_toml(&bad)
            .unwrap()
            .validate(&all)
            .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, DialplanError::DigitBounds { .. }))
        );
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, DialplanError::BadTemplate { .. }))
        );

        let bad = PLAN
            .replace("min = 1, max = 10", "min = 10, max = 1")
            .replace("\"10\" = \"bye\"", "\"11\" = \"bye\"");
        let problems = Dialplan::from_toml(&bad)
            .unwrap()
            .validate(&all)
            .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, DialplanError::EmptyValid { .. }))
        );
        assert!(problems.iter().any(|p| matches!(p,
            DialplanError::UnreachableAnswer { answer, .. } if answer == "11")));
    }
}
