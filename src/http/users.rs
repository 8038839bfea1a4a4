//! Users, their API tokens, and the audit log (administrators only, except
//! that everyone manages their own tokens).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, JsonBody};
use crate::auth::{Permission, Role, Secret, hash_password};
use crate::store::{AuditQuery, NewUser, Store, UserChange, UserId, UserRecord};

type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub password: String,
    pub role: Role,
    #[serde(default)]
    pub unit: Option<String>,
}

/// Checks a new user's fields and hashes the password (shared with the CLI).
pub async fn add_user(store: &Store, body: &NewUserBody) -> Result<UserId, ApiError> {
    let name = body.username.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err(ApiError::BadRequest(
            "username: 1–64 characters among a-z, 0-9, '.', '_', '-', '@'".into(),
        ));
    }
    check_unit(store, body.unit.as_deref()).await?;
    let password = body.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let display = if body.display_name.trim().is_empty() {
        name
    } else {
        body.display_name.trim()
    };
    store
        .create_user(&NewUser {
            username: name,
            display_name: display,
            password_hash: &hash,
            role: body.role.as_str(),
            unit_code: body.unit.as_deref(),
        })
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Constraint { .. } => {
                ApiError::Conflict(format!("user {name:?} already exists"))
            }
            e => e.into(),
        })
}

async fn check_unit(store: &Store, unit: Option<&str>) -> Result<(), ApiError> {
    if let Some(u) = unit
        && !store.units().await?.iter().any(|r| r.code == u)
    {
        return Err(ApiError::BadRequest(format!("no unit {u:?}")));
    }
    Ok(())
}

pub async fn list(p: Principal, State(s): State<AppState>) -> ApiResult<Json<Vec<UserRecord>>> {
    p.require(Permission::Administer)?;
    Ok(Json(s.store.users().await?))
}

pub async fn create(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<NewUserBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    p.require(Permission::Administer)?;
    let id = add_user(&s.store, &body).await?;
    let detail = json!({ "username": body.username, "role": body.role, "unit": body.unit });
    p.audit(&s, "user.create", Some(id.as_str()), Some(detail))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    display_name: Option<String>,
    role: Option<Role>,
    password: Option<String>,
    disabled: Option<bool>,
    /// `null` clears the scope; absent keeps it.
    #[serde(default, with = "double_option")]
    unit: Option<Option<String>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

pub async fn update(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserPatch>,
) -> ApiResult<Json<Value>> {
    p.require(Permission::Administer)?;
    let id = UserId(id);
    if id == p.user.id
        && (body.disabled == Some(true) || body.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::Conflict(
            "an administrator cannot disable or demote themselves".into(),
        ));
    }
    if let Some(unit) = &body.unit {
        check_unit(&s.store, unit.as_deref()).await?;
    }
    let hash = match body.password.clone() {
        Some(pw) => Some(
            tokio::task::spawn_blocking(move || hash_password(&pw))
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ),
        None => None,
    };
    s.store
        .update_user(
            &id,
            &UserChange {
                display_name: body.display_name.as_deref(),
                role: body.role.map(Role::as_str),
                password_hash: hash.as_deref(),
                disabled: body.disabled,
                unit_code: body.unit.as_ref().map(|u| u.as_deref()),
            },
        )
        .await?;
    let detail = json!({
        "display_name": body.display_name, "role": body.role, "disabled": body.disabled,
        "unit": body.unit, "password_changed": body.password.is_some(),
    });
    p.audit(&s, "user.update", Some(id.as_str()), Some(detail))
        .await?;
    Ok(Json(json!({ "id": id, "updated": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    /// Days until it expires; absent: never.
    #[serde(default)]
    days: Option<u32>,
}

/// Creates a bearer token for the caller; the token is shown once.
pub async fn create_token(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let token = Secret::new("cc_tok");
    let expires = body
        .days
        .map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
    let id = s
        .store
        .create_token(&token.hash(), &p.user.id, &body.name, expires)
        .await?;
    p.audit(
        &s,
        "token.create",
        Some(&id),
        Some(json!({ "name": body.name })),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "token": token.as_str(), "expires_at": expires })),
    ))
}

pub async fn tokens(p: Principal, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(s.store.tokens(&p.user.id).await?)))
}

pub async fn revoke_token(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !s.store.revoke_token(&p.user.id, &id).await? {
        return Err(ApiError::NotFound(format!("no live token {id}")));
    }
    p.audit(&s, "token.revoke", Some(&id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// RFC 3339; entries strictly before it (the `next` of the previous page).
    before: Option<chrono::DateTime<chrono::Utc>>,
    limit: Option<i64>,
}

/// The audit log, newest first, paged with `before`.
pub async fn audit_log(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<AuditParams>,
) -> ApiResult<Json<Value>> {
    p.require(Permission::Administer)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = s
        .store
        .audit_entries(&AuditQuery {
            actor: q.actor,
            action_prefix: q.action,
            target: q.target,
            before: q.before,
            limit,
        })
        .await?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.at))
        .flatten();
    Ok(Json(json!({ "items": entries, "next_before": next })))
}
