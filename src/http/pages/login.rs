//! The login page and logout. Logging in goes through the same
//! [`crate::http::auth::log_in`] as the API: one limiter of failed logins,
//! one audit entry, one kind of session.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::error::is_local_path;
use super::{PageError, Viewer, render};
use crate::auth::hash_secret;
use crate::http::auth::{Login, SESSION_COOKIE, cookie, session_cookie};
use crate::http::client_addr::ClientAddr;
use crate::http::{ApiError, AppState, web_redirect};

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    #[serde(default)]
    next: String,
}

/// `GET /dang-nhap`.
pub async fn form(Query(q): Query<Next>) -> Result<Response, PageError> {
    Ok(login_page(StatusCode::OK, "", &q.next, "")?.into_response())
}

fn login_page(
    status: StatusCode,
    message: &str,
    next: &str,
    username: &str,
) -> Result<(StatusCode, axum::response::Html<String>), PageError> {
    let next = if is_local_path(next) { next } else { "" };
    let html = render::html(
        "login.html",
        &json!({ "message": message, "next": next, "username": username }),
    )?;
    Ok((status, html))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /dang-nhap`: a session cookie and a 303 to where the user was going;
/// a wrong password shows the form again with the API's status (401 or 429).
pub async fn log_in(
    State(s): State<AppState>,
    ClientAddr(remote): ClientAddr,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    let login = Login {
        username: f.username.trim().to_string(),
        password: f.password,
    };
    match crate::http::auth::log_in(&s, &login, remote).await {
        Ok(done) => {
            let to = if is_local_path(&f.next) {
                f.next.as_str()
            } else {
                "/"
            };
            let mut resp = web_redirect(to);
            if let Ok(v) = header::HeaderValue::from_str(&done.cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Err(ApiError::Unauthorized(_)) => Ok(login_page(
            StatusCode::UNAUTHORIZED,
            "Sai tên đăng nhập hoặc mật khẩu.",
            &f.next,
            &login.username,
        )?
        .into_response()),
        Err(ApiError::TooManyRequests(wait)) => {
            let msg = format!("Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {wait} giây.");
            let mut resp = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &msg,
                &f.next,
                &login.username,
            )?
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dang-xuat`: ends the session (the CSRF guard has already checked
/// that this form came from our page) and clears the cookie.
pub async fn log_out(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        s.store.end_session(&hash_secret(c)).await?;
    }
    p.audit(&s, "session.logout", None, None).await?;
    let mut resp = web_redirect("/dang-nhap");
    if let Ok(v) = header::HeaderValue::from_str(&session_cookie(&s, "")) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}
