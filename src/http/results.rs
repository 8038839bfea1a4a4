//! Calls and survey responses for supervisors: the filterable list, one
//! call's whole record (answers with every revision, recording), and
//! corrections, which are new revisions with the user and the reason.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, JsonBody};
use crate::auth::Permission;
use crate::store::{AnswerKind, CallFilter, CallId, CallPage, Cursor, NewAnswer, ResponseId};

type ApiResult<T> = Result<T, ApiError>;

/// Query string of the list (and of the reports): every filter the issue names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `YYYY-MM-DD` (Vietnam midnight) or RFC 3339.
    pub from: Option<String>,
    /// Exclusive; `YYYY-MM-DD` means up to the start of that day.
    pub to: Option<String>,
    /// Unit codes, comma-separated; each includes the units under it.
    pub unit: Option<String>,
    pub level: Option<String>,
    pub field: Option<String>,
    pub campaign: Option<String>,
    pub disposition: Option<String>,
    pub score_min: Option<i64>,
    pub score_max: Option<i64>,
    pub satisfied: Option<bool>,
    pub has_complaint: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// A date or instant from a query string.
pub fn parse_instant(name: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| crate::intake::vietnam().from_local_datetime(&t).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{name}: {s:?} is neither YYYY-MM-DD nor RFC 3339"))
        })
}

impl ListParams {
    /// The store filter, with the requested units expanded to the units under
    /// them and narrowed to the user's scope.
    pub async fn filter(&self, p: &Principal, s: &AppState) -> Result<CallFilter, ApiError> {
        let requested = match &self.unit {
            None => None,
            Some(list) => {
                let tree = super::auth::unit_tree(s).await?;
                let mut codes = Vec::new();
                for code in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    if tree.get(code).is_none() {
                        return Err(ApiError::BadRequest(format!("no unit {code:?}")));
                    }
                    codes.push(code.to_string());
                    codes.extend(tree.descendants(code).into_iter().map(|u| u.code.clone()));
                }
                Some(codes)
            }
        };
        if let (Some(a), Some(b)) = (self.score_min, self.score_max)
            && a > b
        {
            return Err(ApiError::BadRequest("score_min is above score_max".into()));
        }
        Ok(CallFilter {
            from: self
                .from
                .as_deref()
                .map(|v| parse_instant("from", v))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|v| parse_instant("to", v))
                .transpose()?,
            units: p.scope.narrow(requested),
            level: self.level.clone(),
            field: self.field.clone(),
            campaign: self.campaign.clone(),
            disposition: self.disposition.clone(),
            score_min: self.score_min,
            score_max: self.score_max,
            satisfied: self.satisfied,
            has_complaint: self.has_complaint,
        })
    }
}

/// `GET /api/v1/calls`: a page of calls, newest first; `next` is the cursor of the next page.
pub async fn list_calls(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<CallPage>> {
    p.require(Permission::ReadResults)?;
    let filter = q.filter(&p, &s).await?;
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            Cursor::decode(c).ok_or_else(|| ApiError::BadRequest(format!("bad cursor {c:?}")))?,
        ),
    };
    let page = s
        .store
        .list_calls(&filter, cursor.as_ref(), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(page))
}

/// The whole record of one call, for the review page and the API.
pub async fn call_record(s: &AppState, p: &Principal, id: &CallId) -> Result<Value, ApiError> {
    p.require(Permission::ReadResults)?;
    let unit = s.store.call_unit(id).await?;
    p.require_unit(unit.as_deref(), "call")?;
    let summary = s
        .store
        .call_summary(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no call {id}")))?;
    let dossier = match &summary.call.dossier_code {
        Some(code) => s.store.dossier(code).await?,
        None => None,
    };
    let history = match &summary.response {
        Some(r) => s.store.answer_history(&r.id).await?,
        None => Vec::new(),
    };
    let mut call = json!(summary.call);
    call["destination"] = json!(crate::pii::mask_phone(&summary.call.destination));
    Ok(json!({
        "call": call,
        "dossier": dossier.map(|d| json!({
            "code": d.code, "procedure": d.procedure, "field": d.field,
            "unit_code": d.unit_code, "applicant_kind": d.applicant_kind,
            "received_at": d.received_at, "returned_at": d.returned_at,
        })),
        "response": summary.response,
        "answers": summary.answers,
        "history": history,
        "recording": summary.recording.map(|r| json!({
            "seconds": r.seconds, "bytes": r.bytes, "sha256": r.sha256,
        })),
    }))
}

/// `GET /api/v1/calls/{id}`.
pub async fn call(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(call_record(&s, &p, &CallId(id)).await?))
}

/// A correction of one answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    pub key: String,
    pub value: String,
    /// Required: a correction without a reason is not accepted.
    pub reason: String,
}

/// Checks and stores a correction; shared by the API and the review page.
pub async fn revise(
    s: &AppState,
    p: &Principal,
    response: &ResponseId,
    r: &Revision,
) -> Result<Value, ApiError> {
    p.require(Permission::ReviseAnswers)?;
    let (call, unit) = s.store.response_owner(response).await?;
    p.require_unit(unit.as_deref(), "survey response")?;
    let reason = r.reason.trim();
    if reason.chars().count() < 5 {
        return Err(ApiError::BadRequest(
            "reason: say why the answer is corrected (at least 5 characters)".into(),
        ));
    }
    let value = s
        .form
        .check(&r.key, &r.value)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let previous = s
        .store
        .answer_history(response)
        .await?
        .into_iter()
        .filter(|a| a.key == r.key)
        .max_by_key(|a| a.revision);
    let answer = NewAnswer {
        key: r.key.clone(),
        kind: AnswerKind::Value,
        value: Some(value.clone()),
        why: Some("corrected".into()),
        // The mark stays where the citizen answered in the recording.
        offset_ms: previous.as_ref().and_then(|a| a.offset_ms),
        clip_path: None,
        clip_seconds: None,
        clip_sha256: None,
        answered_at: Utc::now(),
    };
    let id = s
        .store
        .revise_answer(response, &answer, p.actor(), reason)
        .await?;
    let detail = json!({
        "call": call, "key": r.key, "value": value, "reason": reason,
        "previous": previous.as_ref().map(|a| json!({
            "revision": a.revision, "kind": a.kind, "value": a.value,
        })),
    });
    p.audit(s, "answer.revise", Some(response.as_str()), Some(detail))
        .await?;
    Ok(json!({ "answer_id": id, "key": r.key, "value": value }))
}

/// `POST /api/v1/responses/{id}/revisions`.
pub async fn add_revision(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Revision>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let done = revise(&s, &p, &ResponseId(id), &body).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// `GET /api/v1/responses/{id}`: every revision of every answer, oldest first.
pub async fn response_history(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Permission::ReadResults)?;
    let id = ResponseId(id);
    let (call, unit) = s.store.response_owner(&id).await?;
    p.require_unit(unit.as_deref(), "survey response")?;
    let history = s.store.answer_history(&id).await?;
    Ok(Json(
        json!({ "id": id, "call_id": call, "history": history }),
    ))
}

/// `GET /api/v1/questionnaire`: the form, for the pages and the operator screen.
pub async fn questionnaire(p: Principal, State(s): State<AppState>) -> Json<Value> {
    let _ = p;
    Json(json!(*s.form))
}
