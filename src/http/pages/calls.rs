//! Calls and survey responses: the filterable list, the review page (audio
//! player, waveform, answer marks to jump to, the form's answers with every
//! revision, the spoken-answer clips) and corrections from the review page.
//!
//! Scope and permission checks are those of the API ([`results::call_record`],
//! [`results::revise`]): a district supervisor opening another district's
//! call gets the same 404 the API gives.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::links::Links;
use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::reports::ReportParams;
use crate::http::results::{self, Revision};
use crate::http::{AppState, web_redirect};
use crate::questionnaire::{QuestionKind, Questionnaire};
use crate::store::{CallId, ResponseId, disposition};

/// Rows per page of the list.
const PAGE: i64 = 50;

/// The list's filter form as the browser sends it: every field a string,
/// empty when not chosen (an `<input>` left blank still sends `name=`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CallQuery {
    pub from: String,
    pub to: String,
    pub unit: String,
    pub level: String,
    pub field: String,
    pub campaign: String,
    pub disposition: String,
    pub score_min: String,
    pub score_max: String,
    pub satisfied: String,
    pub has_complaint: String,
    #[serde(skip_serializing)]
    pub cursor: String,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn opt_int(name: &str, s: &str) -> Result<Option<u8>, PageError> {
    opt(s)
        .map(|v| {
            v.parse()
                .map_err(|_| PageError::bad(format!("{name}: {v:?} không phải là số")))
        })
        .transpose()
}

fn opt_bool(name: &str, s: &str) -> Result<Option<bool>, PageError> {
    match s.trim() {
        "" => Ok(None),
        "true" | "1" | "co" => Ok(Some(true)),
        "false" | "0" | "khong" => Ok(Some(false)),
        v => Err(PageError::bad(format!(
            "{name}: {v:?} phải là có hoặc không"
        ))),
    }
}

impl CallQuery {
    /// The API's query parameters, blanks dropped.
    pub fn params(&self) -> Result<ReportParams, PageError> {
        Ok(ReportParams {
            from: opt(&self.from),
            to: opt(&self.to),
            unit: opt(&self.unit),
            level: opt(&self.level),
            field: opt(&self.field),
            campaign: opt(&self.campaign),
            disposition: opt(&self.disposition),
            score_min: opt_int("score_min", &self.score_min)?,
            score_max: opt_int("score_max", &self.score_max)?,
            satisfied: opt_bool("satisfied", &self.satisfied)?,
            has_complaint: opt_bool("has_complaint", &self.has_complaint)?,
            cursor: opt(&self.cursor),
            limit: Some(PAGE as u64),
            ..ReportParams::default()
        })
    }

    /// The query string of the same filters (for the next page's link).
    pub fn query_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("from", &self.from),
            ("to", &self.to),
            ("unit", &self.unit),
            ("level", &self.level),
            ("field", &self.field),
            ("campaign", &self.campaign),
            ("disposition", &self.disposition),
            ("score_min", &self.score_min),
            ("score_max", &self.score_max),
            ("satisfied", &self.satisfied),
            ("has_complaint", &self.has_complaint),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.trim()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// `GET /cuoc-goi`.
pub async fn list(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Query(q): Query<CallQuery>,
) -> Result<Html<String>, PageError> {
    p.require(Permission::ReadResults)?;
    let params = q.params()?;
    let page = results::call_page(&s, &p, &params).await?;
    let rows: Vec<Value> = page
        .items
        .iter()
        .map(|c| {
            let q1 =
                c.q1.as_deref()
                    .map(|v| s.form.option_label("q1", v).unwrap_or(v));
            json!({
                "id": c.id, "started_at": c.started_at, "disposition": c.disposition,
                "destination": c.destination, "dossier": c.dossier_code,
                "unit": c.unit_name.as_deref().or(c.unit_code.as_deref()),
                "field": c.field, "q1": q1, "q4": c.q4,
                "has_complaint": c.has_complaint, "has_recording": c.has_recording,
            })
        })
        .collect();
    let units: Vec<Value> = s
        .store
        .units()
        .await?
        .into_iter()
        .filter(|u| p.scope.allows(Some(&u.code)))
        .map(|u| json!({ "code": u.code, "name": u.name, "level": u.level }))
        .collect();
    let campaigns: Vec<Value> = s
        .store
        .campaigns_in(p.scope.unit_codes().as_deref())
        .await?
        .into_iter()
        .map(|c| json!({ "id": c.id, "name": c.name }))
        .collect();
    let qs = q.query_string();
    let next = page.next.map(|n| {
        let sep = if qs.is_empty() { "" } else { "&" };
        format!(
            "/cuoc-goi?{qs}{sep}cursor={}",
            super::filters::url_encode(&n)
        )
    });
    let ctx = json!({
        "q": q, "rows": rows, "next": next, "units": units, "campaigns": campaigns,
        "dispositions": disposition::ALL,
    });
    render::page("calls.html", &p, "calls", ctx)
}

#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    saved: String,
}

/// `GET /cuoc-goi/{id}`: the review page.
pub async fn review(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, PageError> {
    let record = results::call_record(&s, &p, &CallId(id.clone())).await?;
    let answers = answer_views(&s.form, &id, record["answers"].as_array());
    let history: Vec<Value> = answer_views(&s.form, &id, record["history"].as_array())
        .into_iter()
        .filter(|a| a["revision"].as_i64().unwrap_or(1) > 1 || has_later(&record, a))
        .collect();
    let ctx = json!({
        "call": record["call"],
        "dossier": record["dossier"],
        "response": record["response"],
        "recording": record["recording"],
        "answers": answers,
        "history": history,
        "links": Links::for_call(&id),
        "revisable": revisable(&s.form),
        "saved": s.form.question(&flash.saved).map(|q| q.label.clone()),
    });
    render::page("review.html", &p, "calls", ctx)
}

/// True when `a` (revision 1) was later corrected: its original is shown
/// in the history beside the corrections.
fn has_later(record: &Value, a: &Value) -> bool {
    record["history"].as_array().is_some_and(|h| {
        h.iter()
            .any(|o| o["key"] == a["key"] && o["revision"].as_i64().unwrap_or(1) > 1)
    })
}

/// Answers as the review page shows them: labels from the form, the value's
/// label for a choice, the mark in seconds, and the clip's address.
fn answer_views(form: &Questionnaire, call: &str, answers: Option<&Vec<Value>>) -> Vec<Value> {
    answers
        .into_iter()
        .flatten()
        .map(|a| {
            let key = a["key"].as_str().unwrap_or_default();
            let value = a["value"].as_str();
            let shown = value.map(|v| form.option_label(key, v).unwrap_or(v).to_string());
            let label = form
                .question(key)
                .map(|q| q.label.clone())
                .unwrap_or_else(|| key_label(key).to_string());
            let offset = a["offset_ms"].as_f64().map(|ms| ms / 1000.0);
            json!({
                "key": key, "label": label, "kind": a["kind"], "value": value, "shown": shown,
                "why": a["why"], "revision": a["revision"], "offset": offset,
                "clip": (a["kind"] == "clip").then(|| Links::clip(call, key)),
                "clip_seconds": a["clip_seconds"], "changed_by": a["changed_by"],
                "change_reason": a["change_reason"], "answered_at": a["answered_at"],
            })
        })
        .collect()
}

/// Labels of the dialplan's keys that are not questions of the form.
fn key_label(key: &str) -> &str {
    match key {
        "consent" => "Đồng ý tham gia khảo sát",
        other => other,
    }
}

/// The questions a supervisor may correct from the page: those with a
/// closed set of answers (a spoken answer stays the citizen's recording).
fn revisable(form: &Questionnaire) -> Vec<Value> {
    form.questions
        .iter()
        .filter(|q| matches!(q.kind, QuestionKind::Choice | QuestionKind::Score))
        .map(|q| {
            let options: Vec<(String, String)> = match q.kind {
                QuestionKind::Score => (q.min.unwrap_or(1)..=q.max.unwrap_or(10))
                    .map(|n| (n.to_string(), n.to_string()))
                    .collect(),
                _ => q.options.clone(),
            };
            json!({ "key": q.key, "label": q.label, "options": options })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct RevisionForm {
    response: String,
    key: String,
    value: String,
    reason: String,
}

/// `POST /cuoc-goi/{id}/sua`: a correction, proposed with the user and the
/// reason (it becomes a new revision when a higher level approves it; the
/// original always stays), then back to the review.
pub async fn revise(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<RevisionForm>,
) -> Result<Response, PageError> {
    let rev = Revision {
        key: f.key.clone(),
        value: f.value,
        reason: f.reason,
    };
    let response = ResponseId(f.response);
    let (call, _) = s.store.response_owner(&response).await?;
    if call.as_str() != id {
        return Err(PageError::bad("phiếu không thuộc cuộc gọi này"));
    }
    results::revise(&s, &p, &response, &rev).await?;
    Ok(web_redirect(&format!(
        "/cuoc-goi/{}?saved={}",
        super::filters::url_encode(&id),
        super::filters::url_encode(&f.key)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_fields_are_no_filter() {
        let q = CallQuery {
            unit: " DT01 ".into(),
            score_min: "7".into(),
            satisfied: "false".into(),
            ..CallQuery::default()
        };
        let p = q.params().unwrap();
        assert_eq!(p.unit.as_deref(), Some("DT01"));
        assert_eq!(p.from, None);
        assert_eq!(p.score_min, Some(7));
        assert_eq!(p.score_max, None);
        assert_eq!(p.satisfied, Some(false));
        assert_eq!(p.has_complaint, None);
        assert_eq!(q.query_string(), "unit=DT01&score_min=7&satisfied=false");
    }

    #[test]
    fn garbage_is_a_400() {
        let q = CallQuery {
            score_max: "ten".into(),
            ..CallQuery::default()
        };
        assert!(q.params().is_err());
        let q = CallQuery {
            has_complaint: "maybe".into(),
            ..CallQuery::default()
        };
        assert!(q.params().is_err());
    }

    #[test]
    fn answers_get_labels_marks_and_clips() {
        let form = Questionnaire::shipped();
        let answers = vec![
            json!({ "key": "q1", "kind": "value", "value": "1", "revision": 1, "offset_ms": 12500 }),
            json!({ "key": "q3", "kind": "clip", "value": null, "revision": 1, "offset_ms": null }),
        ];
        let v = answer_views(&form, "c1", Some(&answers));
        assert_eq!(v[0]["shown"], "Hài lòng");
        assert_eq!(v[0]["offset"], 12.5);
        assert_eq!(v[0]["clip"], Value::Null);
        assert_eq!(v[1]["clip"], "/api/v1/calls/c1/clips/q3");
        let r = revisable(&form);
        let q4 = r.iter().find(|q| q["key"] == "q4").unwrap();
        assert_eq!(q4["options"].as_array().unwrap().len(), 10);
        assert!(!r.iter().any(|q| q["key"] == "q3"));
    }
}
