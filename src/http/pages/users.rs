//! Users (administrators only): the list and the form to add one, through
//! the API's own handlers (same checks, same audit entry).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{PageError, Viewer, render};
use crate::auth::{Permission, Role};
use crate::http::auth::Principal;
use crate::http::error::JsonBody;
use crate::http::users::{self, NewUserBody, UserPatch};
use crate::http::{ApiError, AppState, web_redirect};

const ROLES: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Operator, Role::Viewer];

/// `GET /nguoi-dung`.
pub async fn list(Viewer(p): Viewer, State(s): State<AppState>) -> Result<Html<String>, PageError> {
    page(&p, &s, "", &UserForm::default()).await.map(|(_, h)| h)
}

async fn page(
    p: &Principal,
    s: &AppState,
    message: &str,
    sent: &UserForm,
) -> Result<(StatusCode, Html<String>), PageError> {
    p.require(Permission::Administer)?;
    let users: Vec<_> = s
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| {
            let role = Role::parse(&u.role).map_or(u.role.clone(), |r| r.label_vi().into());
            json!({
                "id": u.id, "username": u.username, "display_name": u.display_name, "role": role,
                "unit": u.unit_code, "disabled": u.disabled, "created_at": u.created_at,
            })
        })
        .collect();
    let roles: Vec<_> = ROLES
        .iter()
        .map(|r| json!({ "code": r.as_str(), "label": r.label_vi() }))
        .collect();
    let units = s.store.units().await?;
    let status = if message.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let ctx = json!({
        "users": users, "roles": roles, "units": units, "message": message,
        "v": { "username": sent.username, "display_name": sent.display_name,
               "role": sent.role, "unit": sent.unit },
    });
    Ok((status, render::page("users.html", p, "users", ctx)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserForm {
    username: String,
    display_name: String,
    password: String,
    role: String,
    unit: String,
}

/// `POST /nguoi-dung`: adds a user; a refused form comes back with the reason.
pub async fn create(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Form(f): Form<UserForm>,
) -> Result<Response, PageError> {
    p.require(Permission::Administer)?;
    let Some(role) = Role::parse(&f.role) else {
        let msg = format!("Vai trò không hợp lệ: {:?}", f.role);
        return refused(&p, &s, &msg, &f).await;
    };
    if f.password.chars().count() < 8 {
        return refused(&p, &s, "Mật khẩu cần ít nhất 8 ký tự.", &f).await;
    }
    let body = NewUserBody {
        username: f.username.clone(),
        display_name: f.display_name.clone(),
        password: f.password.clone(),
        role,
        unit: Some(f.unit.trim().to_string()).filter(|u| !u.is_empty()),
    };
    match users::create(p.clone(), State(s.clone()), JsonBody(body)).await {
        Ok(_) => Ok(web_redirect("/nguoi-dung")),
        Err(ApiError::BadRequest(m) | ApiError::Conflict(m)) => {
            refused(&p, &s, &format!("Không thêm được người dùng: {m}"), &f).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /nguoi-dung/{id}/{khoa|mo-khoa}`: disables or enables a login
/// (through the API's update: an administrator cannot lock themselves out).
pub async fn set_disabled(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let disabled = match action.as_str() {
        "khoa" => true,
        "mo-khoa" => false,
        other => {
            return Err(ApiError::NotFound(format!("no user action {other:?}")).into());
        }
    };
    let patch: UserPatch = serde_json::from_value(json!({ "disabled": disabled }))
        .map_err(|e| PageError::bad(e.to_string()))?;
    let _updated = users::update(p, State(s), Path(id), JsonBody(patch)).await?;
    Ok(web_redirect("/nguoi-dung"))
}

/// The form again, filled in (never the password), with why it was refused.
async fn refused(
    p: &Principal,
    s: &AppState,
    msg: &str,
    f: &UserForm,
) -> Result<Response, PageError> {
    page(p, s, msg, f).await.map(IntoResponse::into_response)
}
