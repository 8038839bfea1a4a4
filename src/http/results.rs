//! Calls and survey responses for supervisors: the filterable list, one
//! call's whole record (answers with every revision, recording), and
//! corrections under four eyes: a correction is proposed with a reason and
//! becomes a new revision (naming proposer, approver and reason) only when a
//! second user at a higher level approves it (`crate::corrections`).

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
use crate::corrections::{FourEyesError, Reviewer, may_approve};
use crate::store::{
    AnswerKind, CallId, CallPage, CorrectionProposal, Cursor, NewAnswer, NewProposal,
    ProposalState, ResponseId, UnitRecord,
};

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

/// Checks a correction and records it as a proposal; nothing changes until
/// a second user approves it. Shared by the API and the review page.
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
    // A clip is refused at once, not only when someone approves.
    if let Some(prev) = &latest_answer(s, response, &r.key).await? {
        keep_clip(prev)?;
    }
    let id = s
        .store
        .propose_correction(&NewProposal {
            response_id: response,
            key: &r.key,
            value: &value,
            reason,
            proposed_by: p.actor(),
            proposer_unit: p.user.unit_code.as_deref(),
            at: Utc::now(),
        })
        .await?;
    let detail =
        json!({ "proposal": id, "call": call, "key": r.key, "value": value, "reason": reason });
    p.audit(s, "answer.propose", Some(response.as_str()), Some(detail))
        .await?;
    Ok(json!({ "proposal": id, "state": "pending", "key": r.key, "value": value }))
}

/// The newest revision of answer `key` in `response`, if any.
async fn latest_answer(
    s: &AppState,
    response: &ResponseId,
    key: &str,
) -> Result<Option<crate::store::AnswerRecord>, ApiError> {
    Ok(s.store
        .answer_history(response)
        .await?
        .into_iter()
        .filter(|a| a.key == key)
        .max_by_key(|a| a.revision))
}

/// The proposer and the user deciding, placed in the unit tree.
async fn reviewers(
    s: &AppState,
    p: &Principal,
    proposal: &CorrectionProposal,
) -> Result<(Reviewer, Reviewer), ApiError> {
    let units = s.store.units().await?;
    let proposer = reviewer(
        &proposal.proposed_by,
        proposal.proposer_unit.as_deref(),
        &units,
    );
    let approver = reviewer(p.actor(), p.user.unit_code.as_deref(), &units);
    Ok((proposer, approver))
}

/// Where `user` sits in the unit tree: depth 0 without a unit or at the
/// root, one more per ancestor (read from the data, so any tree works).
fn reviewer(user: &str, unit: Option<&str>, units: &[UnitRecord]) -> Reviewer {
    let mut depth = 0u8;
    let mut at = unit.and_then(|u| units.iter().find(|x| x.code == u));
    while let Some(parent) = at.and_then(|u| u.parent.as_deref()) {
        depth = depth.saturating_add(1);
        at = units.iter().find(|x| x.code == parent);
        if depth > 16 {
            break;
        }
    }
    Reviewer {
        user: user.to_owned(),
        unit: unit.map(str::to_owned),
        depth,
    }
}

/// The proposal `id` if `p` may see its response (else "not found").
async fn visible_proposal(
    s: &AppState,
    p: &Principal,
    id: &str,
) -> Result<(CorrectionProposal, CallId, Option<String>), ApiError> {
    let proposal = s.store.correction_proposal(id).await?;
    let (call, unit) = s.store.response_owner(&proposal.response_id).await?;
    p.require_unit(unit.as_deref(), "correction proposal")?;
    Ok((proposal, call, unit))
}

/// Approves a proposal: checks the four-eyes rule, claims the decision
/// (only the first of two concurrent approvals counts), then appends the
/// revision through the ordinary revision API, naming the approver as the
/// one who changed it and the proposer in the reason.
pub async fn approve(s: &AppState, p: &Principal, id: &str) -> Result<Value, ApiError> {
    p.require(Permission::ReviseAnswers)?;
    let (proposal, call, unit) = visible_proposal(s, p, id).await?;
    if proposal.state != ProposalState::Pending {
        return Err(four_eyes(FourEyesError::Decided(state_word(
            proposal.state,
        ))));
    }
    let (proposer, approver) = reviewers(s, p, &proposal).await?;
    if let Err(e) = may_approve(&proposer, &approver, unit.as_deref()) {
        let detail = json!({ "proposal": id, "refused": e.to_string() });
        p.audit(
            s,
            "answer.approve_refused",
            Some(proposal.response_id.as_str()),
            Some(detail),
        )
        .await?;
        return Err(four_eyes(e));
    }
    let now = Utc::now();
    if !s
        .store
        .decide_correction(id, ProposalState::Approved, p.actor(), now)
        .await?
    {
        return Err(four_eyes(FourEyesError::Decided("decided")));
    }
    let previous = latest_answer(s, &proposal.response_id, &proposal.key).await?;
    if let Some(prev) = &previous {
        keep_clip(prev)?;
    }
    let answer = NewAnswer {
        key: proposal.key.clone(),
        kind: AnswerKind::Value,
        value: Some(proposal.value.clone()),
        why: Some("corrected".into()),
        // The mark stays where the citizen answered in the recording.
        offset_ms: previous.as_ref().and_then(|a| a.offset_ms),
        clip_path: None,
        clip_seconds: None,
        clip_sha256: None,
        answered_at: now,
    };
    let reason = format!(
        "{} (đề xuất: {}; phê duyệt: {}; mã đề xuất {id})",
        proposal.reason,
        proposal.proposed_by,
        p.actor()
    );
    let answer_id = s
        .store
        .revise_answer(&proposal.response_id, &answer, p.actor(), &reason)
        .await?;
    s.store
        .link_correction_answer(id, answer_id.as_str())
        .await?;
    let detail = json!({
        "proposal": id, "call": call, "key": proposal.key, "value": proposal.value,
        "reason": proposal.reason, "proposed_by": proposal.proposed_by,
        "previous": previous.as_ref().map(|a| json!({
            "revision": a.revision, "kind": a.kind, "value": a.value,
        })),
    });
    p.audit(
        s,
        "answer.revise",
        Some(proposal.response_id.as_str()),
        Some(detail),
    )
    .await?;
    Ok(json!({ "proposal": id, "state": "approved", "answer_id": answer_id }))
}

/// Refuses a proposal (any user who could approve it may refuse it).
pub async fn refuse(s: &AppState, p: &Principal, id: &str) -> Result<Value, ApiError> {
    p.require(Permission::ReviseAnswers)?;
    let (proposal, _, unit) = visible_proposal(s, p, id).await?;
    let (proposer, approver) = reviewers(s, p, &proposal).await?;
    // The proposer may withdraw their own proposal.
    if approver.user != proposer.user {
        may_approve(&proposer, &approver, unit.as_deref()).map_err(four_eyes)?;
    }
    if !s
        .store
        .decide_correction(id, ProposalState::Refused, p.actor(), Utc::now())
        .await?
    {
        return Err(four_eyes(FourEyesError::Decided("decided")));
    }
    p.audit(
        s,
        "answer.refuse",
        Some(proposal.response_id.as_str()),
        Some(json!({ "proposal": id })),
    )
    .await?;
    Ok(json!({ "proposal": id, "state": "refused" }))
}

fn state_word(s: ProposalState) -> &'static str {
    match s {
        ProposalState::Pending => "pending",
        ProposalState::Approved => "approved",
        ProposalState::Refused => "refused",
    }
}

fn four_eyes(e: FourEyesError) -> ApiError {
    match e {
        FourEyesError::Decided(_) => ApiError::Conflict(e.to_string()),
        _ => ApiError::Forbidden(e.to_string()),
    }
}

/// `GET /api/v1/corrections`: the proposals waiting for approval in the
/// user's scope.
pub async fn pending_corrections(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<CorrectionProposal>>> {
    p.require(Permission::ReadResults)?;
    let mut out = Vec::new();
    for proposal in s.store.pending_corrections().await? {
        let (_, unit) = s.store.response_owner(&proposal.response_id).await?;
        if p.require_unit(unit.as_deref(), "correction proposal")
            .is_ok()
        {
            out.push(proposal);
        }
    }
    Ok(Json(out))
}

/// `POST /api/v1/corrections/{id}/approve`.
pub async fn approve_correction(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((StatusCode::CREATED, Json(approve(&s, &p, &id).await?)))
}

/// `POST /api/v1/corrections/{id}/refuse`.
pub async fn refuse_correction(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(refuse(&s, &p, &id).await?))
}

/// `POST /api/v1/responses/{id}/revisions`: proposes a correction (202:
/// accepted, waiting for approval).
pub async fn add_revision(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Revision>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let done = revise(&s, &p, &ResponseId(id), &body).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
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
