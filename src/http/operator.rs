//! The operator's own API, behind the operator's screen (`/dien-thoai-vien`):
//! who I am and what call I am on, my state (ready or paused), the answers I
//! take down while talking to the citizen, and click-to-call.
//!
//! An operator is a user with the `operator` role whose username is also an
//! operator account's (as the softphone's WebSocket finds them). Every route
//! acts on the caller's own operator record: there is no way to name another
//! operator here, so a supervisor cannot set someone else's state through it.
//!
//! Answers typed by the operator are revisions in the same survey record as
//! the IVR's (`changed_by` = the operator), checked against the questionnaire
//! before any is written, so a bad value leaves the record untouched.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::warn;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, JsonBody};
use crate::auth::Permission;
use crate::call::{CallRequest, CallServices, place_call};
use crate::report::ReportFilter;
use crate::store::{
    AnswerKind, AnswerRecord, CallId, CallListItem, NewAnswer, OperatorRecord, OperatorState,
    ResponseId, disposition,
};

type ApiResult<T> = Result<T, ApiError>;

/// The dialplan of a call placed for an operator who waits for it.
pub const DIRECT_DIALPLAN: &str = "operator-direct";

/// The operator account of the logged-in user (same username).
pub async fn operator_of(s: &AppState, p: &Principal) -> ApiResult<OperatorRecord> {
    p.require(Permission::OperateCalls)?;
    s.store
        .operators()
        .await?
        .into_iter()
        .find(|o| o.username == p.user.username)
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "{} has no operator account (carecall operator add {0} ...)",
                p.user.username
            ))
        })
}

/// The call in progress whose operator is `op`, if any. The operator is
/// recorded on the call once connected, so a call still ringing is absent.
async fn current_call(s: &AppState, op: &OperatorRecord) -> ApiResult<Option<CallListItem>> {
    let filter = ReportFilter {
        disposition: Some(disposition::IN_PROGRESS.into()),
        operator: Some(op.id.to_string()),
        ..Default::default()
    };
    let page = s.store.list_calls(&filter, None, 1).await?;
    Ok(page.items.into_iter().next())
}

/// The screen's view of a call: dossier, response and the answers so far.
async fn call_view(s: &AppState, c: &CallListItem) -> ApiResult<Value> {
    let dossier = match &c.dossier_code {
        Some(code) => s.store.dossier(code).await?,
        None => None,
    };
    let answers = match &c.response_id {
        Some(r) => latest(s.store.answer_history(r).await?),
        None => BTreeMap::new(),
    };
    Ok(json!({
        "call_id": c.id,
        "response_id": c.response_id,
        "started_at": c.started_at,
        "answered_at": c.answered_at,
        "dossier": dossier.map(|d| json!({
            "code": d.code, "procedure": d.procedure, "field": d.field,
            "unit_code": d.unit_code, "place": c.unit_name, "applicant_kind": d.applicant_kind,
            "received_at": d.received_at, "returned_at": d.returned_at,
        })),
        "answers": answers,
    }))
}

/// The latest value of each key (`None`: a clip or no answer) from a
/// response's history.
fn latest(history: Vec<AnswerRecord>) -> BTreeMap<String, Option<String>> {
    let mut by_key: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
    for a in history {
        let newer = by_key.get(&a.key).is_none_or(|(rev, _)| a.revision > *rev);
        if newer {
            by_key.insert(a.key, (a.revision, a.value));
        }
    }
    by_key.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

/// The latest revision of each key.
fn latest_records(history: &[AnswerRecord]) -> BTreeMap<&str, &AnswerRecord> {
    let mut by_key: BTreeMap<&str, &AnswerRecord> = BTreeMap::new();
    for a in history {
        if by_key
            .get(a.key.as_str())
            .is_none_or(|b| a.revision > b.revision)
        {
            by_key.insert(&a.key, a);
        }
    }
    by_key
}

/// `GET /api/v1/operator/me`: my operator record, state and current call.
pub async fn me(p: Principal, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let op = operator_of(&s, &p).await?;
    let call = match current_call(&s, &op).await? {
        Some(c) => Some(call_view(&s, &c).await?),
        None => None,
    };
    Ok(Json(json!({
        "operator": {
            "id": op.id, "username": op.username, "display_name": op.display_name,
            "unit": op.unit_code, "state": op.state, "since": op.state_since,
        },
        "call": call,
    })))
}

/// The states an operator may put themselves in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChosenState {
    Available,
    Paused,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    pub state: ChosenState,
}

/// `POST /api/v1/operator/state {state: available|paused}`: my own state.
/// Refused while on a call (the call decides when it ends) and while offline
/// (no phone or page would ring).
pub async fn set_state(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<StateChange>,
) -> ApiResult<Json<Value>> {
    let op = operator_of(&s, &p).await?;
    let to = match body.state {
        ChosenState::Available => OperatorState::Available,
        ChosenState::Paused => OperatorState::Paused,
    };
    match op.state {
        OperatorState::OnCall => {
            return Err(ApiError::Conflict(
                "on a call: the state changes when the call ends".into(),
            ));
        }
        OperatorState::Offline => {
            return Err(ApiError::Conflict(
                "offline: open the softphone or register a phone first".into(),
            ));
        }
        from if from == to => {}
        from => {
            // Conditional: a call may have claimed me since the read.
            if !s.store.move_operator(&op.id, from, to, Utc::now()).await? {
                return Err(ApiError::Conflict(
                    "the state changed meanwhile; reload".into(),
                ));
            }
            let detail = json!({ "from": from, "to": to });
            p.audit(&s, "operator.state", Some(op.id.as_str()), Some(detail))
                .await?;
        }
    }
    Ok(Json(json!({ "state": to })))
}

/// Operator-entered answers: `{answers: {key: value, ...}, reason}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    pub answers: BTreeMap<String, String>,
    /// Required from anyone but the call's own operator: why the answers
    /// are changed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Who is entering answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answerer {
    /// The operator of the call, taking the answers down.
    OwnOperator,
    /// A supervisor or admin changing a result after the fact.
    Reviewer,
}

/// Who may enter answers on a response: the operator of its call, or a
/// supervisor or admin whose scope covers it.
async fn may_answer(
    s: &AppState,
    p: &Principal,
    call: &CallId,
    unit: Option<&str>,
) -> ApiResult<Answerer> {
    if p.role.can(Permission::ReviseAnswers) {
        return p
            .require_unit(unit, "survey response")
            .map(|()| Answerer::Reviewer);
    }
    let op = operator_of(s, p).await?;
    match s.store.call_operator(call).await? {
        Some(id) if id == op.id => Ok(Answerer::OwnOperator),
        // As 404: another operator's calls are not confirmed to exist.
        _ => Err(ApiError::NotFound(
            "no survey response of yours here".into(),
        )),
    }
}

/// Checks every non-empty answer against the form; all or nothing.
pub fn checked(
    form: &crate::questionnaire::Questionnaire,
    a: &Answers,
) -> ApiResult<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(a.answers.len());
    for (key, value) in &a.answers {
        if value.trim().is_empty() {
            continue;
        }
        let v = form
            .check(key, value)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        out.push((key.clone(), v));
    }
    Ok(out)
}

/// `POST /api/v1/responses/{id}/answers`: answers the operator took down,
/// stored as new revisions naming them; answers equal to the latest stored
/// value are not repeated. A supervisor or admin using it changes results,
/// so they must give a reason (400 without one), stored with each revision;
/// a spoken answer (clip) is never replaced by text (409), for anyone.
pub async fn post_answers(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Answers>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let response = ResponseId(id);
    let (call, unit) = s.store.response_owner(&response).await?;
    let who = may_answer(&s, &p, &call, unit.as_deref()).await?;
    let values = checked(&s.form, &body)?;
    let history = s.store.answer_history(&response).await?;
    let latest_records = latest_records(&history);
    let before = latest(history.clone());
    let values: Vec<(String, String)> = values
        .into_iter()
        .filter(|(key, value)| {
            before
                .get(key)
                .is_none_or(|v| v.as_deref() != Some(value.as_str()))
        })
        .collect();
    // All or nothing: refuse before writing anything.
    for (key, _) in &values {
        if let Some(prev) = latest_records.get(key.as_str()) {
            super::results::keep_clip(prev)?;
        }
    }
    let reason = match who {
        Answerer::Reviewer if !values.is_empty() => {
            Some(super::results::required_reason(body.reason.as_deref())?)
        }
        _ => None,
    };
    let mut saved = serde_json::Map::new();
    for (key, value) in values {
        let answer = NewAnswer {
            key: key.clone(),
            kind: AnswerKind::Value,
            value: Some(value.clone()),
            why: Some("operator".into()),
            offset_ms: None,
            clip_path: None,
            clip_seconds: None,
            clip_sha256: None,
            answered_at: Utc::now(),
        };
        match reason {
            Some(reason) => {
                s.store
                    .revise_answer(&response, &answer, p.actor(), reason)
                    .await?
            }
            None => s.store.add_answer_by(&response, &answer, p.actor()).await?,
        };
        saved.insert(key, Value::String(value));
    }
    if !saved.is_empty() {
        let detail = json!({ "call": call, "answers": saved, "reason": reason });
        p.audit(&s, "answer.operator", Some(response.as_str()), Some(detail))
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "response_id": response, "saved": saved })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickToCall {
    /// The dossier's code; the citizen's number comes from it.
    pub dossier: String,
}

/// `POST /api/v1/operator/calls {dossier}`: dials the dossier's citizen for
/// me. I am claimed first (`available` → `on_call`), so the dialplan's bridge
/// rings only me the moment the citizen answers; the call runs in the
/// background and its id is returned at once (202).
pub async fn click_to_call(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<ClickToCall>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let op = operator_of(&s, &p).await?;
    let code = body.dossier.trim();
    let d = s
        .store
        .dossier(code)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dossier {code:?}")))?;
    p.require_unit(Some(&d.unit_code), "dossier")?;
    if d.phone.trim().is_empty() {
        return Err(ApiError::BadRequest(format!(
            "dossier {code:?} has no phone number"
        )));
    }
    let number = crate::number::canonical(&d.phone);
    if s.store.is_do_not_call(&number).await? {
        return Err(ApiError::Conflict(format!(
            "{} is on the do-not-call list",
            crate::pii::mask_phone(&number)
        )));
    }
    let busy = || {
        ApiError::Conflict(format!(
            "you are {}, not available: set Sẵn sàng first",
            op.state
        ))
    };
    if op.state != OperatorState::Available {
        return Err(busy());
    }
    let svc = s
        .calls
        .clone()
        .ok_or_else(|| ApiError::Unavailable("calls are placed by `carecall serve` only".into()))?;
    // The conditional claim is the lock; the check above only explains.
    if !s.store.claim_operator(&op.id, Utc::now()).await? {
        return Err(busy());
    }
    let row = CallId::new_v4();
    let req = CallRequest {
        target: d.phone.clone(),
        dialplan: DIRECT_DIALPLAN.into(),
        dossier: Some(d.code.clone()),
        row_id: Some(row.clone()),
        operator: Some(op.id.clone()),
        ..CallRequest::default()
    };
    tokio::spawn(run_call(svc, req));
    let detail = json!({ "dossier": d.code, "call": row });
    p.audit(
        &s,
        "operator.click_to_call",
        Some(op.id.as_str()),
        Some(detail),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "call_id": row, "dossier": d.code })),
    ))
}

/// Runs a click-to-call. A call that could not be attempted at all never
/// reaches the bridge that would release me, so it gives me back here.
async fn run_call(svc: Arc<CallServices>, req: CallRequest) {
    let Some(op) = req.operator.clone() else {
        return;
    };
    if let Err(e) = place_call(&svc, req).await {
        warn!(error = %e, "click-to-call not placed");
        let back = svc
            .store
            .move_operator(
                &op,
                OperatorState::OnCall,
                OperatorState::Available,
                Utc::now(),
            )
            .await;
        if let Err(e) = back {
            warn!(error = %e, "cannot give the operator back");
        }
    }
}
