//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1, built from
//! one table ([`OPERATIONS`]). A test reads the router's source and fails when
//! a route is missing here, so the document cannot drift from the code.

use axum::Json;
use serde_json::{Map, Value, json};

/// One operation of the API.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// The permission needed (see `crate::auth::Permission`); `None`: public.
    pub permission: Option<&'static str>,
    /// Query parameters (all optional strings unless noted in the summary).
    pub query: &'static [&'static str],
    /// Name of the request body schema in `components.schemas`.
    pub body: Option<&'static str>,
    /// Content type of a success that is not JSON.
    pub produces: Option<&'static str>,
}

macro_rules! op {
    ($m:literal $p:literal, $tag:literal, $sum:literal, $perm:expr $(, query = $q:expr)? $(, body = $b:literal)? $(, produces = $pr:literal)?) => {
        Operation {
            method: $m,
            path: $p,
            tag: $tag,
            summary: $sum,
            permission: $perm,
            query: { #[allow(unused_mut, unused_assignments)] let mut q: &[&str] = &[]; $(q = $q;)? q },
            body: { #[allow(unused_mut, unused_assignments)] let mut b = None; $(b = Some($b);)? b },
            produces: { #[allow(unused_mut, unused_assignments)] let mut p = None; $(p = Some($pr);)? p },
        }
    };
}

const R: Option<&str> = Some("read_results");

/// Every operation of the API.
pub const OPERATIONS: &[Operation] = &[
    op!("get" "/api/v1/health", "system", "Liveness and open alarm count", None),
    op!("get" "/api/v1/openapi.json", "system", "This document", None),
    op!("post" "/api/v1/session", "auth", "Log in: sets the session cookie, returns the CSRF token", None, body = "Login"),
    op!("delete" "/api/v1/session", "auth", "Log out", None),
    op!("get" "/api/v1/me", "auth", "The current user, role, unit scope and CSRF token", Some("any")),
    op!("get" "/api/v1/users", "users", "List users", Some("administer")),
    op!("post" "/api/v1/users", "users", "Add a user", Some("administer"), body = "NewUser"),
    op!("patch" "/api/v1/users/{id}", "users", "Change role, scope, name, password; disable", Some("administer"), body = "UserPatch"),
    op!("get" "/api/v1/tokens", "auth", "My API tokens", Some("any")),
    op!("post" "/api/v1/tokens", "auth", "Create an API token (shown once)", Some("any"), body = "NewToken"),
    op!("delete" "/api/v1/tokens/{id}", "auth", "Revoke one of my tokens", Some("any")),
    op!("get" "/api/v1/audit-log", "users", "Changes made through the API, newest first", Some("administer"), query = &["actor", "action", "target", "before", "limit"]),
    op!("get" "/api/v1/units", "data", "Administrative units", R),
    op!("post" "/api/v1/units", "data", "Add or change units", Some("manage_data"), body = "Units"),
    op!("post" "/api/v1/dossiers", "data", "Import dossiers (JSON rows with the CSV's columns)", Some("manage_data"), body = "Dossiers"),
    op!("get" "/api/v1/campaigns", "campaigns", "Campaigns", R),
    op!("post" "/api/v1/campaigns", "campaigns", "Create a campaign (draws the sample)", Some("manage_campaigns"), body = "CampaignSpec"),
    op!("get" "/api/v1/campaigns/{id}", "campaigns", "A campaign, its progress and quotas", R),
    op!("post" "/api/v1/campaigns/{id}/{action}", "campaigns", "start, pause, resume or stop", Some("manage_campaigns")),
    op!("post" "/api/v1/do-not-call", "data", "List a number that must not be called", Some("manage_do_not_call"), body = "DoNotCall"),
    op!("get" "/api/v1/alarms", "system", "Open alarms", Some("read_live")),
    op!("get" "/api/v1/operators", "system", "Operators and their states", Some("read_live")),
    op!("get" "/api/v1/softphone/ws", "softphone", "WebSocket upgrade: the browser softphone's signalling (operator or admin with an operator account; JSON messages offer/answer, ring, accept, hangup, digit, hold, state, connected, ended)", Some("operator")),
    op!("post" "/api/v1/softphone/test-call", "softphone", "Ring an operator's softphone page, play a tone, report what came back", Some("administer"), body = "TestCall"),
    op!("get" "/api/v1/live", "system", "Server-sent events: calls in progress, running campaigns, alarms", Some("read_live"), produces = "text/event-stream"),
    op!("get" "/api/v1/calls", "results", "Calls with their survey, filtered, newest first, keyset-paged", R, query = &["from", "to", "unit", "level", "field", "campaign", "disposition", "score_min", "score_max", "satisfied", "has_complaint", "cursor", "limit"]),
    op!("get" "/api/v1/calls/{id}", "results", "One call: dossier, answers with every revision, recording", R),
    op!("get" "/api/v1/responses/{id}", "results", "Every revision of every answer of a response", R),
    op!("post" "/api/v1/responses/{id}/revisions", "results", "Propose a correction of an answer with its reason (202); it takes effect when a second user at a higher level approves it", Some("revise_answers"), body = "Revision"),
    op!("get" "/api/v1/corrections", "results", "Correction proposals waiting for approval in the user's scope", R),
    op!("post" "/api/v1/corrections/{id}/approve", "results", "Approve a correction (four eyes: not the proposer, not the unit's own, a higher level): a new revision naming both", Some("revise_answers")),
    op!("post" "/api/v1/corrections/{id}/refuse", "results", "Refuse a correction proposal (or withdraw one's own)", Some("revise_answers")),
    op!("get" "/api/v1/calls/{id}/recording", "recordings", "The call's stereo WAV (left: citizen, right: carecall/operator); Range, ETag; ?download=1", R, query = &["download"], produces = "audio/wav"),
    op!("get" "/api/v1/calls/{id}/recording/marks", "recordings", "Recording facts, the answer marks (offset in seconds) and spoken-answer clips", R),
    op!("get" "/api/v1/calls/{id}/waveform", "recordings", "Min/max peaks per channel for drawing the waveform", R, query = &["buckets"]),
    op!("get" "/api/v1/calls/{id}/clips/{key}", "recordings", "A spoken answer's clip as WAV; Range; ?download=1", R, query = &["download"], produces = "audio/wav"),
    op!("get" "/api/v1/reports", "reports", "Satisfaction, scores, Q2 reasons, response rate by unit, level, field, month, day or campaign; JSON, CSV or XLSX", R, query = &["by", "format", "from", "to", "month", "unit", "level", "field", "campaign", "disposition", "score_min", "score_max", "satisfied", "has_complaint"]),
    op!("get" "/api/v1/units/pending", "data", "Unit names that matched no unit, with the number of dossier rows waiting for each", Some("manage_data")),
    op!("post" "/api/v1/units/aliases", "data", "Map a unit name as exports write it to a unit; the waiting rows with that name are stored", Some("manage_data"), body = "UnitAlias"),
    op!("get" "/api/v1/reports/coverage", "reports", "Dossiers returned in the period: frame, sampled, reached, complete, RR1, satisfaction and score weighted by unit with n, 95 % CI and small-cell flag; JSON, CSV or XLSX", R, query = &["by", "format", "from", "to", "unit", "level", "field", "campaign"]),
    op!("get" "/api/v1/reports/feedback", "reports", "Complaints (Q3) and suggestions (Q5); JSON, CSV or XLSX", R, query = &["format", "from", "to", "unit", "level", "field", "campaign", "limit"]),
    op!("get" "/api/v1/reports/monthly", "reports", "The plan's monthly report as one XLSX workbook", R, query = &["month", "unit"], produces = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    op!("get" "/api/v1/complaints", "complaints", "Q3 complaints with their follow-up state", R, query = &["state", "from", "to"]),
    op!("get" "/api/v1/complaints/{id}", "complaints", "One complaint (by response id) with its history", R),
    op!("post" "/api/v1/complaints/{id}/actions", "complaints", "forward, note, resolve or reopen", Some("follow_complaints"), body = "ComplaintAction"),
    op!("get" "/api/v1/questionnaire", "results", "The survey form", Some("any")),
    op!("get" "/api/v1/operator/me", "operator", "My operator account, state and the call I am on (dossier, response id, answers so far)", Some("operate_calls")),
    op!("post" "/api/v1/operator/state", "operator", "Set my own state: available or paused (not while on a call or offline)", Some("operate_calls"), body = "OperatorStateChange"),
    op!("post" "/api/v1/operator/calls", "operator", "Click-to-call: claim me, dial the dossier's citizen through the operator-direct dialplan; 202 with the call id", Some("operate_calls"), body = "ClickToCall"),
    op!("post" "/api/v1/responses/{id}/answers", "operator", "Answers taken down by the call's operator (or a supervisor in scope, with a reason), checked against the form; empty values skipped; a recorded clip is never replaced (409)", Some("operate_calls"), body = "OperatorAnswers"),
];

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false });
    let text = json!({ "type": "string" });
    json!({
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details",
            "properties": { "type": text, "title": text, "status": { "type": "integer" }, "detail": text },
        },
        "Login": s(json!({ "username": text, "password": text }), &["username", "password"]),
        "NewUser": s(json!({
            "username": text, "display_name": text, "password": { "type": "string", "minLength": 8 },
            "role": { "enum": ["admin", "supervisor", "operator", "viewer"] },
            "unit": { "type": ["string", "null"], "description": "scope: this unit and the units under it" },
        }), &["username", "password", "role"]),
        "UserPatch": s(json!({
            "display_name": text, "role": { "enum": ["admin", "supervisor", "operator", "viewer"] },
            "password": text, "disabled": { "type": "boolean" }, "unit": { "type": ["string", "null"] },
        }), &[]),
        "TestCall": s(json!({
            "operator": { "type": "string", "description": "the operator's login name" },
            "secs": { "type": "integer", "minimum": 1, "maximum": 120 },
            "tone_hz": { "type": "integer" },
        }), &["operator"]),
        "NewToken": s(json!({ "name": text, "days": { "type": "integer", "minimum": 1 } }), &["name"]),
        "Revision": s(json!({ "key": text, "value": text, "reason": { "type": "string", "minLength": 5 } }), &["key", "value", "reason"]),
        "OperatorStateChange": s(json!({ "state": { "enum": ["available", "paused"] } }), &["state"]),
        "ClickToCall": s(json!({ "dossier": { "type": "string", "description": "the dossier's code" } }), &["dossier"]),
        "OperatorAnswers": s(json!({ "answers": { "type": "object", "additionalProperties": text,
            "description": "question key → value (a choice's code, a score, text); empty values are skipped" },
            "reason": { "type": "string", "minLength": 5,
            "description": "why the answers are changed; required unless the user is the call's operator" } }), &["answers"]),
        "DoNotCall": s(json!({ "phone": text, "reason": text }), &["phone"]),
        "Units": { "type": "array", "items": s(json!({
            "code": text, "name": text, "level": { "enum": ["province", "district", "commune"] },
            "parent": { "type": ["string", "null"] },
        }), &["code", "name", "level"]) },
        "UnitAlias": s(json!({
            "name": { "type": "string", "description": "the unit name as exports write it" },
            "unit": { "type": "string", "description": "the unit's code" },
        }), &["name", "unit"]),
        "Dossiers": { "type": "array", "items": { "type": "object", "description":
            "code, procedure, field, unit, applicant_kind, applicant_name, phone, received_at, returned_at" } },
        "ComplaintAction": s(json!({
            "action": { "enum": ["forward", "note", "resolve", "reopen"] }, "note": text,
            "unit": { "type": "string", "description": "forward to this unit" },
            "mask_identity": { "type": "boolean", "description": "forward with the citizen's identity hidden from the unit" },
        }), &["action"]),
        "CampaignSpec": { "type": "object", "description": "see README, section Campaigns" },
    })
}

fn operation(o: &Operation) -> Value {
    let mut params: Vec<Value> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    params.extend(o.query.iter().map(
        |q| json!({ "name": q, "in": "query", "required": false, "schema": { "type": "string" } }),
    ));
    let ok = match o.produces {
        Some(ct) => json!({ "description": "OK", "content": { ct: {} } }),
        None => json!({ "description": "OK", "content": { "application/json": {} } }),
    };
    let problem = json!({ "description": "Problem", "content": {
        "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } });
    let mut v = json!({
        "tags": [o.tag],
        "summary": o.summary,
        "parameters": params,
        "responses": { "200": ok, "4XX": problem.clone(), "5XX": problem },
    });
    if let Some(b) = o.body {
        v["requestBody"] = json!({ "required": true, "content": {
            "application/json": { "schema": { "$ref": format!("#/components/schemas/{b}") } } } });
    }
    match o.permission {
        None => v["security"] = json!([]),
        Some(p) => v["description"] = json!(format!("Needs permission: {p}.")),
    }
    v
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let entry = paths.entry(o.path).or_insert_with(|| json!({}));
        entry[o.method] = operation(o);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "carecall admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Campaigns, calls, survey results, recordings and reports of the \
                1022 customer-care line. Authenticate with a bearer token or the session \
                cookie; cookie-authenticated changes need the X-CSRF-Token header. Errors are \
                application/problem+json.",
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE },
            },
        },
        "security": [{ "bearer": [] }, { "session": [] }],
    })
}

pub async fn openapi() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route("/api/v1/…", method(…))` of the router is documented,
    /// with the same methods, and nothing documented is missing from it.
    #[test]
    fn document_matches_the_router() {
        let src = include_str!("mod.rs");
        let mut routed = Vec::new();
        for chunk in src.split(".route(").skip(1) {
            let Some(path) = chunk.split('"').nth(1) else {
                continue;
            };
            let body = chunk.split(")\n").next().unwrap_or("");
            for m in ["get", "post", "patch", "delete", "put"] {
                if body.contains(&format!("{m}(")) {
                    routed.push(format!("{m} {path}"));
                }
            }
        }
        assert!(routed.len() > 20, "router parsed: {routed:?}");
        let documented: Vec<String> = OPERATIONS
            .iter()
            .map(|o| format!("{} {}", o.method, o.path))
            .collect();
        for r in &routed {
            assert!(
                documented.contains(r),
                "route {r} is not in the OpenAPI table"
            );
        }
        for d in &documented {
            assert!(routed.contains(d), "documented {d} is not routed");
        }
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        for o in OPERATIONS {
            if let Some(b) = o.body {
                assert!(doc["components"]["schemas"][b].is_object(), "schema {b}");
            }
        }
    }
}
