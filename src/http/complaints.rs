//! Complaints follow-up: the Q3 complaints, each forwarded to its unit and
//! marked resolved, with a history (see `store::complaints` for the life cycle).
//!
//! As in `recordings.rs`, the work is in plain async functions over
//! [`AppState`] taking the caller's unit scope (`None` = every unit, otherwise
//! already expanded to the units below) and, for writes, the actor's name, so
//! that the auth layer can wrap them; the `get_*`/`post_*` functions are thin
//! axum adapters without a scope, acting as "api".

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, JsonBody};
use super::recordings::clip_url;
use crate::auth::Permission;
use crate::store::complaints::{
    COMPLAINT_KEY, Complaint, ComplaintAction, ComplaintError, ComplaintEvent, ComplaintFilter,
    ComplaintState, NewComplaintEvent,
};
use crate::store::{AnswerKind, ResponseId, StoreError};

/// `?state=open|forwarded|resolved&from=...&to=...`; dates are `yyyy-mm-dd`
/// (Vietnam local midnight), `dd/mm/yyyy` or RFC 3339; `to` is exclusive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintQuery {
    pub state: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `POST .../complaints/{response_id}/actions`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    pub action: ComplaintAction,
    #[serde(default)]
    pub note: Option<String>,
    /// For `forwarded`: the unit's code or exact name; default the dossier's unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// For `forwarded`: hide the citizen's identity (dossier, call, voice
    /// clip) from the unit it goes to; the typed text and notes stay.
    #[serde(default)]
    pub mask_identity: bool,
}

/// A complaint as listed, with the URL of its spoken clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplaintView {
    #[serde(flatten)]
    pub complaint: Complaint,
    pub clip_url: Option<String>,
}

/// One complaint with its history, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplaintDetailView {
    #[serde(flatten)]
    pub view: ComplaintView,
    pub events: Vec<ComplaintEvent>,
}

/// The complaints matching `q` that `scope` may see, most recent call first.
pub async fn list_complaints(
    state: &AppState,
    scope: Option<&[String]>,
    q: &ComplaintQuery,
) -> Result<Vec<ComplaintView>, ApiError> {
    let filter = ComplaintFilter {
        units: scope.map(<[String]>::to_vec),
        state: q.state.as_deref().map(parse_state).transpose()?,
        from: q
            .from
            .as_deref()
            .map(|s| parse_time("from", s))
            .transpose()?,
        to: q.to.as_deref().map(|s| parse_time("to", s)).transpose()?,
    };
    let found = state.store.complaints(&filter).await?;
    Ok(found.into_iter().map(|c| view(c, scope)).collect())
}

/// One complaint and its history; 404 if absent or outside `scope`.
pub async fn complaint_detail(
    state: &AppState,
    response: &ResponseId,
    scope: Option<&[String]>,
) -> Result<ComplaintDetailView, ApiError> {
    let detail = state
        .store
        .complaint(response)
        .await?
        .filter(|d| d.complaint.in_scope(scope))
        .ok_or_else(|| not_found(response))?;
    Ok(ComplaintDetailView {
        view: view(detail.complaint, scope),
        events: detail.events,
    })
}

/// Records what `actor` did; 409 if the life cycle refuses it. A scoped
/// supervisor may only act on complaints in scope and forward inside it.
pub async fn complaint_action(
    state: &AppState,
    response: &ResponseId,
    scope: Option<&[String]>,
    body: &ActionBody,
    actor: &str,
) -> Result<ComplaintDetailView, ApiError> {
    complaint_detail(state, response, scope).await?;
    let unit_code = match &body.unit {
        Some(u) => Some(resolve_unit(state, u, scope).await?),
        None => None,
    };
    let ev = NewComplaintEvent {
        action: body.action,
        note: body.note.clone().filter(|n| !n.trim().is_empty()),
        unit_code,
        actor: actor.to_string(),
        at: Utc::now(),
        mask_identity: body.mask_identity,
    };
    let detail = state
        .store
        .add_complaint_event(response, &ev)
        .await
        .map_err(api_error)?;
    Ok(ComplaintDetailView {
        view: view(detail.complaint, scope),
        events: detail.events,
    })
}

/// `GET /api/v1/complaints`
pub async fn get_complaints(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ComplaintQuery>,
) -> Result<Json<Vec<ComplaintView>>, ApiError> {
    p.require(Permission::ReadResults)?;
    let scope = p.scope.unit_codes();
    list_complaints(&s, scope.as_deref(), &q).await.map(Json)
}

/// `GET /api/v1/complaints/{response_id}`
pub async fn get_complaint(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ComplaintDetailView>, ApiError> {
    p.require(Permission::ReadResults)?;
    let scope = p.scope.unit_codes();
    complaint_detail(&s, &ResponseId(id), scope.as_deref())
        .await
        .map(Json)
}

/// `POST /api/v1/complaints/{response_id}/actions`
pub async fn post_complaint_action(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ActionBody>,
) -> Result<Json<ComplaintDetailView>, ApiError> {
    act(&s, &p, &ResponseId(id), &body).await.map(Json)
}

/// What `p` does to a complaint, from the API or a page: the permission, the
/// unit scope, the life cycle, then the audit log entry.
pub async fn act(
    s: &AppState,
    p: &Principal,
    id: &ResponseId,
    body: &ActionBody,
) -> Result<ComplaintDetailView, ApiError> {
    p.require(Permission::FollowComplaints)?;
    let scope = p.scope.unit_codes();
    let done = complaint_action(s, id, scope.as_deref(), body, p.actor()).await?;
    p.audit(
        s,
        "complaint.action",
        Some(id.as_str()),
        Some(serde_json::json!(body)),
    )
    .await?;
    Ok(done)
}

/// The complaint as `scope` may see it: a unit that received it with the
/// citizen's identity masked sees neither the dossier, nor the call, nor the
/// voice clip (only the typed text and the province's notes).
fn view(mut complaint: Complaint, scope: Option<&[String]>) -> ComplaintView {
    if scope.is_some() && complaint.identity_masked {
        complaint.dossier_code = None;
        complaint.call_id = crate::store::CallId(String::new());
        complaint.answer.clip_path = None;
        complaint.answer.clip_sha256 = None;
        return ComplaintView {
            complaint,
            clip_url: None,
        };
    }
    let clip_url = (complaint.answer.kind == AnswerKind::Clip)
        .then(|| clip_url(&complaint.call_id, COMPLAINT_KEY));
    ComplaintView {
        complaint,
        clip_url,
    }
}

fn not_found(response: &ResponseId) -> ApiError {
    ApiError::NotFound(format!("no complaint on survey response {response}"))
}

/// A unit named by code or exact name, which must exist and be in scope.
async fn resolve_unit(
    state: &AppState,
    key: &str,
    scope: Option<&[String]>,
) -> Result<String, ApiError> {
    let unit = match state.store.unit_by_name_or_code(key).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err(ApiError::BadRequest(format!("no unit {key:?}"))),
        Err(e @ StoreError::Ambiguous { .. }) => return Err(ApiError::BadRequest(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    if scope.is_some_and(|units| !units.contains(&unit.code)) {
        return Err(ApiError::BadRequest(format!(
            "unit {} is outside the units you supervise",
            unit.code
        )));
    }
    Ok(unit.code)
}

fn parse_state(s: &str) -> Result<ComplaintState, ApiError> {
    ComplaintState::parse(s).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "state must be open, forwarded or resolved, not {s:?}"
        ))
    })
}

fn parse_time(name: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    crate::intake::parse_date(s).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{name}: {s:?} is not a date (yyyy-mm-dd, dd/mm/yyyy or RFC 3339)"
        ))
    })
}

fn api_error(e: ComplaintError) -> ApiError {
    match e {
        ComplaintError::NotFound(id) => not_found(&id),
        e @ ComplaintError::Transition { .. } => ApiError::Conflict(e.to_string()),
        e @ ComplaintError::NoUnit(_) => ApiError::BadRequest(e.to_string()),
        e @ ComplaintError::CorruptHistory(_) => ApiError::Conflict(e.to_string()),
        ComplaintError::Store(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_checked() {
        assert_eq!(parse_state("resolved").unwrap(), ComplaintState::Resolved);
        assert!(matches!(
            parse_state("closed"),
            Err(ApiError::BadRequest(_))
        ));
        let t = parse_time("from", "2026-10-01").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-09-30T17:00:00+00:00");
        assert!(matches!(
            parse_time("to", "yesterday"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn action_bodies_are_strict() {
        let ok: ActionBody =
            serde_json::from_str(r#"{"action":"forwarded","unit":"DT-HUYEN","note":"x"}"#).unwrap();
        assert_eq!(ok.action, ComplaintAction::Forwarded);
        assert!(serde_json::from_str::<ActionBody>(r#"{"action":"closed"}"#).is_err());
        assert!(serde_json::from_str::<ActionBody>(r#"{"action":"note","x":1}"#).is_err());
    }

    #[test]
    fn errors_map_to_statuses() {
        let id = ResponseId("r".into());
        let t = ComplaintError::Transition {
            response: id.clone(),
            source: crate::store::complaints::TransitionError::AlreadyResolved,
        };
        assert!(matches!(api_error(t), ApiError::Conflict(_)));
        assert!(matches!(
            api_error(ComplaintError::NoUnit(id.clone())),
            ApiError::BadRequest(_)
        ));
        assert!(matches!(
            api_error(ComplaintError::NotFound(id)),
            ApiError::NotFound(_)
        ));
    }
}
