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
use super::reports::{ReportParams, filter_from_params};
use crate::auth::Permission;
use crate::store::{AnswerKind, CallId, CallPage, Cursor, NewAnswer, ResponseId};

type ApiResult<T> = Result<T, ApiError>;

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

/// `GET /api/v1/calls`: a page of calls, newest first; `next` is the cursor of the next page.
pub async fn list_calls(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ReportParams>,
) -> ApiResult<Json<CallPage>> {
    Ok(Json(call_page(&s, &p, &q).await?))
}

/// A page of the calls the parameters and the user's scope select (the API
/// and the calls page).
pub async fn call_page(
    s: &AppState,
    p: &Principal,
    q: &ReportParams,
) -> Result<CallPage, ApiError> {
    p.require(Permission::ReadResults)?;
    let scope = p.scope.unit_codes();
    let filter = filter_from_params(s, q, scope.as_deref()).await?;
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            Cursor::decode(c).ok_or_else(|| ApiError::BadRequest(format!("bad cursor {c:?}")))?,
        ),
    };
    let limit = q.limit.map_or(50, |n| i64::try_from(n).unwrap_or(500));
    Ok(s.store.list_calls(&filter, cursor.as_ref(), limit).await?)
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

/// The reason of a change to a stored answer, trimmed; 400 when missing or
/// too short to say anything (results are never changed silently, seed 004).
pub fn required_reason(reason: Option<&str>) -> Result<&str, ApiError> {
    let reason = reason.unwrap_or("").trim();
    if reason.chars().count() < 5 {
        return Err(ApiError::BadRequest(
            "reason: say why the answer is corrected (at least 5 characters)".into(),
        ));
    }
    Ok(reason)
}

/// 409 when the answer is the citizen's recorded voice: a spoken complaint
/// is evidence and is never replaced by someone's typed version of it.
pub fn keep_clip(previous: &crate::store::AnswerRecord) -> Result<(), ApiError> {
    if previous.kind == AnswerKind::Clip {
        return Err(ApiError::Conflict(format!(
            "{} is the citizen's recorded answer (a clip); it cannot be replaced by text. \
             Listen to it on the call's page; write remarks in the complaint's follow-up notes",
            previous.key
        )));
    }
    Ok(())
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
    let reason = required_reason(Some(&r.reason))?;
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
    if let Some(prev) = &previous {
        keep_clip(prev)?;
    }
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
