//! The template environment, built once, and the shell every page shares
//! (who is logged in, the menu their role may see, the CSRF token for forms).

use std::sync::OnceLock;

use axum::response::Html;
use serde::Serialize;
use serde_json::Value;

use super::PageError;
use crate::auth::Permission;
use crate::http::auth::Principal;

/// Templates compiled into the binary: `(name, source)`. Names ending in
/// `.html` are auto-escaped by minijinja, so a unit named `<script>` is text.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("campaigns.html", include_str!("templates/campaigns.html")),
    (
        "campaign_new.html",
        include_str!("templates/campaign_new.html"),
    ),
    ("campaign.html", include_str!("templates/campaign.html")),
    ("calls.html", include_str!("templates/calls.html")),
    ("review.html", include_str!("templates/review.html")),
    ("users.html", include_str!("templates/users.html")),
    ("live.html", include_str!("templates/live.html")),
    ("complaints.html", include_str!("templates/complaints.html")),
    ("complaint.html", include_str!("templates/complaint.html")),
    ("operators.html", include_str!("templates/operators.html")),
    ("operator.html", include_str!("templates/operator.html")),
];

fn env() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        // Strict: a misspelt variable is a test failure, not an empty cell.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        super::filters::register(&mut env);
        for (name, src) in TEMPLATES {
            // The sources are fixed at build time; the tests render each one.
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "template does not parse");
            }
        }
        env
    })
}

/// Renders template `name` with `ctx`.
pub fn html<C: Serialize>(name: &'static str, ctx: &C) -> Result<Html<String>, PageError> {
    let t = env()
        .get_template(name)
        .map_err(|source| PageError::Template { name, source })?;
    t.render(minijinja::Value::from_serialize(ctx))
        .map(Html)
        .map_err(|source| PageError::Template { name, source })
}

/// What the shell (menu, user box, forms) needs to know of the user.
#[derive(Debug, Clone, Serialize)]
pub struct Shell {
    pub username: String,
    pub display_name: String,
    pub role: &'static str,
    pub unit: Option<String>,
    /// Empty for a bearer-token request (no form will be posted back).
    pub csrf: String,
    pub can_campaigns: bool,
    pub can_revise: bool,
    pub can_follow: bool,
    pub can_admin: bool,
    /// Operators (and admins) get the operator's screen in the menu.
    pub can_operate: bool,
}

impl Shell {
    pub fn of(p: &Principal) -> Shell {
        Shell {
            username: p.user.username.clone(),
            display_name: p.user.display_name.clone(),
            role: p.role.label_vi(),
            unit: p.user.unit_code.clone(),
            csrf: p.csrf().unwrap_or_default().to_string(),
            can_campaigns: p.role.can(Permission::ManageCampaigns),
            can_revise: p.role.can(Permission::ReviseAnswers),
            can_follow: p.role.can(Permission::FollowComplaints),
            can_admin: p.role.can(Permission::Administer),
            can_operate: p.role.can(Permission::OperateCalls),
        }
    }
}

/// Renders a page of the logged-in area: `ctx` (an object) plus `me` and `nav`.
pub fn page(
    name: &'static str,
    p: &Principal,
    nav: &'static str,
    mut ctx: Value,
) -> Result<Html<String>, PageError> {
    if let Value::Object(m) = &mut ctx {
        m.insert("me".into(), serde_json::json!(Shell::of(p)));
        m.insert("nav".into(), Value::String(nav.into()));
    }
    html(name, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            env()
                .get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn html_is_escaped() {
        let out = html(
            "error.html",
            &serde_json::json!({
                "status": 400, "heading": "x", "detail": "<script>alert(1)</script>",
            }),
        )
        .unwrap();
        assert!(out.0.contains("&lt;script&gt;"));
        assert!(!out.0.contains("<script>alert"));
    }
}
