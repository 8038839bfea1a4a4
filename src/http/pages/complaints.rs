//! Complaints follow-up (câu 3): the list with its state and period filters,
//! and one complaint's page (what the citizen said, typed or as a clip, the
//! call it came from, its history) with the forms to forward it to a unit,
//! add a note, resolve it and reopen it.
//!
//! Reading and acting go through the API's functions ([`list_complaints`],
//! [`complaint_detail`], [`complaints::act`]): the same permission, unit
//! scope, life cycle and audit entry as `POST /api/v1/complaints/{id}/actions`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::filters::url_encode;
use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::auth::Principal;
use crate::http::complaints::{
    self, ActionBody, ComplaintQuery, ComplaintView, complaint_detail, list_complaints,
};
use crate::http::{ApiError, AppState, web_redirect};
use crate::store::ResponseId;
use crate::store::complaints::{ComplaintAction, ComplaintState};

/// The list's filter form; blank fields are no filter.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ListQuery {
    pub state: String,
    pub from: String,
    pub to: String,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Unit codes to names, for the tables.
async fn unit_names(s: &AppState) -> Result<HashMap<String, String>, PageError> {
    Ok(s.store
        .units()
        .await?
        .into_iter()
        .map(|u| (u.code, u.name))
        .collect())
}

/// A complaint as the list and the detail page show it.
fn complaint_view(c: &ComplaintView, names: &HashMap<String, String>) -> Value {
    let k = &c.complaint;
    let name = |code: &Option<String>| {
        code.as_ref()
            .map(|c| names.get(c).cloned().unwrap_or_else(|| c.clone()))
    };
    json!({
        "response_id": k.response_id, "call_id": k.call_id, "dossier": k.dossier_code,
        "dossier_unit": name(&k.dossier_unit), "assigned_unit": name(&k.assigned_unit),
        "assigned_code": k.assigned_unit.as_ref().or(k.dossier_unit.as_ref()),
        "state": k.state.as_str(), "started_at": k.call_started_at, "updated_at": k.updated_at,
        "text": k.answer.value, "excerpt": k.answer.value.as_deref().map(excerpt), "clip": c.clip_url, "clip_seconds": k.answer.clip_seconds,
    })
}

/// The first words of a typed complaint, for the list.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// `GET /khieu-nai`.
pub async fn list(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, PageError> {
    p.require(Permission::ReadResults)?;
    let scope = p.scope.unit_codes();
    let query = ComplaintQuery {
        state: opt(&q.state),
        from: opt(&q.from),
        to: opt(&q.to),
    };
    let found = list_complaints(&s, scope.as_deref(), &query).await?;
    let names = unit_names(&s).await?;
    let rows: Vec<Value> = found.iter().map(|c| complaint_view(c, &names)).collect();
    let states: Vec<&str> = [
        ComplaintState::Open,
        ComplaintState::Forwarded,
        ComplaintState::Resolved,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    let ctx = json!({ "q": q, "rows": rows, "states": states });
    render::page("complaints.html", &p, "complaints", ctx)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Done {
    da: String,
}

/// `GET /khieu-nai/{response_id}`.
pub async fn detail(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    let done = ComplaintAction::parse(&done.da).map(done_message);
    detail_page(&p, &s, &id, done, None)
        .await
        .map(|(_, html)| html)
}

/// What the page says after an action went through.
fn done_message(a: ComplaintAction) -> &'static str {
    match a {
        ComplaintAction::Forwarded => "Đã chuyển phản ánh cho đơn vị.",
        ComplaintAction::Note => "Đã thêm ghi chú.",
        ComplaintAction::Resolved => "Đã đánh dấu phản ánh là đã giải quyết.",
        ComplaintAction::Reopened => "Đã mở lại phản ánh.",
        ComplaintAction::Opened => "Đã bắt đầu theo dõi phản ánh.",
    }
}

/// The page of one complaint; `refused` (status, reason) when an action was not done.
async fn detail_page(
    p: &Principal,
    s: &AppState,
    id: &str,
    done: Option<&str>,
    refused: Option<(StatusCode, String)>,
) -> Result<(StatusCode, Html<String>), PageError> {
    p.require(Permission::ReadResults)?;
    let scope = p.scope.unit_codes();
    let d = complaint_detail(s, &ResponseId(id.to_string()), scope.as_deref()).await?;
    let names = unit_names(s).await?;
    let events: Vec<Value> = d
        .events
        .iter()
        .map(|e| {
            let unit = e.unit_code.as_ref().map(|c| names.get(c).unwrap_or(c));
            json!({ "seq": e.seq, "at": e.created_at, "action": e.action.as_str(),
                    "unit": unit, "note": e.note, "actor": e.actor })
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
    let (status, message) = refused.unwrap_or((StatusCode::OK, String::new()));
    let ctx = json!({
        "c": complaint_view(&d.view, &names), "events": events, "units": units,
        "done": done, "message": message,
    });
    Ok((
        status,
        render::page("complaint.html", p, "complaints", ctx)?,
    ))
}

/// The action forms' fields (`csrf` is read by the guard).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    action: String,
    note: String,
    unit: String,
    /// The "hide the citizen's identity" box (`on` when ticked).
    mask_identity: String,
}

impl ActionForm {
    /// The API's body: `opened` is written by the store, never asked for.
    fn body(&self) -> Result<ActionBody, PageError> {
        let action = ComplaintAction::parse(&self.action)
            .filter(|a| *a != ComplaintAction::Opened)
            .ok_or_else(|| PageError::bad(format!("thao tác không hợp lệ: {:?}", self.action)))?;
        Ok(ActionBody {
            action,
            note: opt(&self.note),
            unit: opt(&self.unit).filter(|_| action == ComplaintAction::Forwarded),
            mask_identity: action == ComplaintAction::Forwarded && !self.mask_identity.is_empty(),
        })
    }
}

/// `POST /khieu-nai/{response_id}`: forward, note, resolve or reopen, then
/// back to the complaint; a refused action comes back with the reason.
pub async fn act(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, PageError> {
    p.require(Permission::FollowComplaints)?;
    let body = f.body()?;
    let response = ResponseId(id.clone());
    match complaints::act(&s, &p, &response, &body).await {
        Ok(_) => Ok(web_redirect(&format!(
            "/khieu-nai/{}?da={}",
            url_encode(&id),
            body.action.as_str()
        ))),
        Err(e @ (ApiError::Conflict(_) | ApiError::BadRequest(_))) => {
            let detail = e.to_string();
            let status = e.into_response().status();
            let msg = match status {
                StatusCode::CONFLICT => "Không thực hiện được ở trạng thái hiện tại của phản ánh",
                _ => "Không thực hiện được: đơn vị không hợp lệ hoặc ngoài phạm vi được giao",
            };
            let refused = Some((status, format!("{msg} ({detail}).")));
            let (status, html) = detail_page(&p, &s, &id, None, refused).await?;
            Ok((status, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_complaints_are_cut_on_a_character() {
        assert_eq!(excerpt("ngắn"), "ngắn");
        let long = "ễ".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), 81);
        assert!(excerpt(&long).ends_with("ễ…"));
    }

    #[test]
    fn forms_become_api_bodies() {
        let f = ActionForm {
            action: "forwarded".into(),
            note: " ".into(),
            unit: "D1".into(),
            mask_identity: "on".into(),
        };
        let b = f.body().unwrap();
        assert_eq!(b.action, ComplaintAction::Forwarded);
        assert_eq!((b.note, b.unit.as_deref()), (None, Some("D1")));
        assert!(b.mask_identity);
        // A unit sent with another action is not a forward.
        let f = ActionForm {
            action: "resolved".into(),
            note: "Đã gọi lại".into(),
            unit: "D1".into(),
            mask_identity: "on".into(),
        };
        let b = f.body().unwrap();
        assert_eq!((b.note.as_deref(), b.unit), (Some("Đã gọi lại"), None));
        assert!(!b.mask_identity, "only a forward masks");
        for bad in ["opened", "closed", ""] {
            let f = ActionForm {
                action: bad.into(),
                ..ActionForm::default()
            };
            assert!(f.body().is_err(), "{bad}");
        }
    }
}
