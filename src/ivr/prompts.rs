//! Turning a node's prompt list into the prompt names to play for one call.
//!
//! The greeting names the citizen's procedure, field and office when the dossier gives
//! them and a recording exists ("about your dossier … in the field … at …", Plan
//! 362/KH-UBND annex); otherwise it falls back to generic wording. That choice is made
//! here, per call, from the call variables and the prompt set.

use std::collections::HashMap;

use super::dialplan::PromptEntry;

/// Answers "is there a recording with this name?" (the prompt set of the language).
pub type PromptExists = dyn Fn(&str) -> bool + Send;

/// The prompts to play, in order. See [`PromptEntry`] for the rules.
pub fn resolve(
    entries: &[PromptEntry],
    vars: &HashMap<String, String>,
    exists: &PromptExists,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut group_played = false;
    for entry in entries {
        match entry {
            PromptEntry::Always(name) => {
                if exists(name) {
                    out.push(name.clone());
                } else {
                    tracing::warn!(prompt = %name, "prompt missing; skipped");
                }
            }
            PromptEntry::When { prompt, when } => {
                if let Some(names) = render_all(prompt, when, vars, exists) {
                    out.extend(names);
                    group_played = true;
                }
            }
            PromptEntry::Otherwise { otherwise } => {
                if !group_played {
                    out.extend(otherwise.iter().filter(|p| exists(p)).cloned());
                }
                group_played = false;
            }
        }
    }
    out
}

/// All of a conditional entry's prompts, or `None` if any condition fails.
fn render_all(
    templates: &[String],
    when: &[String],
    vars: &HashMap<String, String>,
    exists: &PromptExists,
) -> Option<Vec<String>> {
    if !when
        .iter()
        .all(|v| vars.get(v).is_some_and(|s| !s.is_empty()))
    {
        return None;
    }
    templates
        .iter()
        .map(|t| render(t, vars).filter(|name| exists(name)))
        .collect()
}

/// Substitutes `{variable}`s. `None` when a variable is missing or is not a slug.
///
/// Values come from dossier data and end up in a file path, so only slugs
/// (`[A-Za-z0-9_-]+`) are substituted: `../` can never reach the prompt store.
pub fn render(template: &str, vars: &HashMap<String, String>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        let value = vars.get(&rest[open + 1..close])?;
        if !is_slug(value) {
            return None;
        }
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The variables a template uses, or `None` if its braces are malformed.
pub fn template_vars(template: &str) -> Option<Vec<&str>> {
    let mut vars = Vec::new();
    let mut rest = template;
    loop {
        let open = rest.find('{');
        let close = rest.find('}');
        match (open, close) {
            (None, None) => return Some(vars),
            (Some(o), Some(c)) if o < c => {
                let name = &rest[o + 1..c];
                if name.is_empty() || name.contains('{') || !is_slug(name) {
                    return None;
                }
                vars.push(name);
                rest = &rest[c + 1..];
            }
            _ => return None,
        }
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn greeting() -> Vec<PromptEntry> {
        let when = |p: &[&str], w: &str| PromptEntry::When {
            prompt: p.iter().map(|s| (*s).to_owned()).collect(),
            when: vec![w.to_owned()],
        };
        vec![
            PromptEntry::Always("intro".into()),
            when(&["field_word", "field/{field_slug}"], "field_slug"),
            when(&["place_word", "place/{unit_slug}"], "unit_slug"),
            PromptEntry::Otherwise {
                otherwise: vec!["generic".into()],
            },
            PromptEntry::Always("ask".into()),
        ]
    }

    #[test]
    fn names_field_and_place_when_known() {
        let all: &PromptExists = &|_| true;
        let v = vars(&[("field_slug", "dat-dai"), ("unit_slug", "tp-cao-lanh")]);
        assert_eq!(
            resolve(&greeting(), &v, all),
            [
                "intro",
                "field_word",
                "field/dat-dai",
                "place_word",
                "place/tp-cao-lanh",
                "ask"
            ]
        );
    }

    #[test]
    fn falls_back_to_generic_without_variables_or_recordings() {
        let all: &PromptExists = &|_| true;
        assert_eq!(
            resolve(&greeting(), &vars(&[]), all),
            ["intro", "generic", "ask"]
        );
        // The field is known but has no recording: the whole entry is skipped, so the
        // caller never hears "in the field" followed by nothing.
        let no_fields: &PromptExists = &|p| !p.starts_with("field/");
        let v = vars(&[("field_slug", "xay-dung")]);
        assert_eq!(
            resolve(&greeting(), &v, no_fields),
            ["intro", "generic", "ask"]
        );
    }

    #[test]
    fn one_known_detail_suppresses_the_generic_wording() {
        let all: &PromptExists = &|_| true;
        let v = vars(&[("unit_slug", "huyen-lai-vung")]);
        assert_eq!(
            resolve(&greeting(), &v, all),
            ["intro", "place_word", "place/huyen-lai-vung", "ask"]
        );
    }

    #[test]
    fn render_refuses_non_slug_values() {
        assert_eq!(
            render("field/{f}", &vars(&[("f", "dat-dai")])).as_deref(),
            Some("field/dat-dai")
        );
        assert_eq!(render("field/{f}", &vars(&[("f", "../../etc")])), None);
        assert_eq!(render("field/{f}", &vars(&[])), None);
        assert_eq!(render("field/{f", &vars(&[("f", "x")])), None);
    }

    #[test]
    fn template_vars_checks_braces() {
        assert_eq!(template_vars("a/{x}/{y}"), Some(vec!["x", "y"]));
        assert_eq!(template_vars("plain"), Some(vec![]));
        assert_eq!(template_vars("a/{x"), None);
        assert_eq!(template_vars("a/}x{"), None);
        assert_eq!(template_vars("a/{}"), None);
    }
}
