//! Authentication of each request and the login/logout/token endpoints.
//!
//! Two ways in: a bearer token (`Authorization: Bearer cc_tok_…`) for scripts,
//! and a session cookie for the pages. A cookie is sent by the browser on its
//! own, so a state-changing request that rides on one must also carry the
//! session's CSRF token: the `X-CSRF-Token` header for the API, the `csrf`
//! form field for the pages (checked by [`csrf_guard`]). Bearer tokens are
//! never sent implicitly and need no CSRF token.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::client_addr::{ClientAddr, client_ip, peer};
use super::error::{ApiError, JsonBody};
use crate::auth::{
    LimiterSettings, LoginLimiter, Permission, Role, Scope, Secret, hash_secret, verify_password,
};
use crate::config::HttpConfig;
use crate::dialer::units::UnitTree;
use crate::store::{Authenticated, NewAuditEntry, UserRecord};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "carecall_session";

/// Login settings and the failed-login limiter, shared by the handlers.
#[derive(Debug)]
pub struct AuthRuntime {
    pub limiter: Mutex<LoginLimiter>,
    pub session_ttl: Duration,
    pub secure_cookies: bool,
    /// `http.trusted_proxies`: the peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl AuthRuntime {
    pub fn from_config(c: &HttpConfig) -> AuthRuntime {
        AuthRuntime {
            limiter: Mutex::new(LoginLimiter::new(LimiterSettings {
                max_failures: c.login_max_failures.max(1),
                max_failures_per_addr: c.login_max_failures_per_addr.max(1),
                window: Duration::from_secs(c.login_lockout_s),
                lockout: Duration::from_secs(c.login_lockout_s),
                max_lockout: Duration::from_secs(c.login_lockout_s.saturating_mul(64)),
                ..LimiterSettings::default()
            })),
            session_ttl: Duration::from_secs(u64::from(c.session_hours.max(1)) * 3600),
            secure_cookies: c.secure_cookies,
            // Config::load validated the list; a bad one here trusts nobody.
            trusted_proxies: c.trusted_proxy_nets().unwrap_or_else(|e| {
                tracing::error!(error = %e, "trusting no proxy");
                Vec::new()
            }),
        }
    }
}

/// How the request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Token,
    /// A session cookie, with the session's CSRF token.
    Session {
        csrf: String,
    },
}

/// The authenticated user of a request, with their role and unit scope.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub role: Role,
    pub scope: Scope,
    pub via: Via,
    pub remote: Option<String>,
}

impl Principal {
    /// 403 unless the role carries `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.can(p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role may not do this",
                self.role
            )))
        }
    }

    /// 403 (as 404, so that other units' records are not confirmed to exist)
    /// unless a record of `unit` is in the user's scope.
    pub fn require_unit(&self, unit: Option<&str>, what: &str) -> Result<(), ApiError> {
        if self.scope.allows(unit) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no {what} here")))
        }
    }

    pub fn actor(&self) -> &str {
        &self.user.username
    }

    /// Records a change in the audit log. A failure to log fails the request:
    /// a change that cannot be accounted for is not acknowledged.
    pub async fn audit(
        &self,
        s: &AppState,
        action: &str,
        target: Option<&str>,
        detail: Option<Value>,
    ) -> Result<(), ApiError> {
        s.store
            .log_change(&NewAuditEntry {
                actor: self.actor(),
                action,
                target,
                detail,
                remote: self.remote.as_deref(),
            })
            .await
            .map_err(Into::into)
    }

    pub fn csrf(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf } => Some(csrf),
            Via::Token => None,
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let remote = client_ip(peer(parts), &parts.headers, &s.auth.trusted_proxies);
        let p = authenticate(&parts.headers, remote, s).await?;
        if let Via::Session { csrf } = &p.via
            && !is_safe(&parts.method)
            && parts.extensions.get::<CsrfChecked>().is_none()
        {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|t| constant_time_eq(t, csrf)) {
                return Err(ApiError::Forbidden(
                    "missing or wrong X-CSRF-Token for a cookie-authenticated change".into(),
                ));
            }
        }
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

/// Marks a page request whose form's `csrf` field was verified.
#[derive(Debug, Clone, Copy)]
struct CsrfChecked;

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The user behind the request's bearer token or session cookie.
pub async fn authenticate(
    h: &HeaderMap,
    remote: Option<IpAddr>,
    s: &AppState,
) -> Result<Principal, ApiError> {
    let now = Utc::now();
    let found = if let Some(token) = bearer(h) {
        s.store.token_user(&hash_secret(token), now).await?
    } else if let Some(cookie) = cookie(h, SESSION_COOKIE) {
        s.store.session_user(&hash_secret(cookie), now).await?
    } else {
        return Err(ApiError::Unauthorized(
            "log in, or send Authorization: Bearer <token>".into(),
        ));
    };
    let Some(Authenticated { user, csrf }) = found else {
        return Err(ApiError::Unauthorized(
            "the token or session is unknown, expired or revoked".into(),
        ));
    };
    principal(s, user, csrf, remote).await
}

async fn principal(
    s: &AppState,
    user: UserRecord,
    csrf: Option<String>,
    remote: Option<IpAddr>,
) -> Result<Principal, ApiError> {
    let role = Role::parse(&user.role)
        .ok_or_else(|| ApiError::Forbidden(format!("unknown role {:?}", user.role)))?;
    let scope = match &user.unit_code {
        None => Scope::Province,
        Some(code) => Scope::for_unit(Some(code), &unit_tree(s).await?),
    };
    Ok(Principal {
        user,
        role,
        scope,
        via: match csrf {
            Some(csrf) => Via::Session { csrf },
            None => Via::Token,
        },
        remote: remote.map(|ip| ip.to_string()),
    })
}

/// The unit tree as stored (units can be edited through the API).
pub async fn unit_tree(s: &AppState) -> Result<UnitTree, ApiError> {
    let units = s.store.units().await?;
    crate::campaign::unit_tree(&units).map_err(|e| ApiError::Unavailable(e.to_string()))
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name` (RFC 6265 §5.4 `Cookie: a=b; c=d`).
pub fn cookie<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// A successful login: the new session's cookie value and CSRF token.
pub struct LoggedIn {
    pub principal: Principal,
    pub cookie: String,
}

/// Checks a username and password against the limiter and the store, and
/// opens a session. Shared by the API and the login page.
pub async fn log_in(
    s: &AppState,
    login: &Login,
    remote_addr: Option<IpAddr>,
) -> Result<LoggedIn, ApiError> {
    // Requests that did not come through a socket (router tests) share one key.
    let addr = remote_addr.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let user_key = login.username.as_str();
    let now = Instant::now();
    {
        let limiter = s.auth.limiter.lock().expect("limiter lock");
        if let Err(wait) = limiter.check(user_key, addr, now) {
            return Err(ApiError::TooManyRequests(wait.0.as_secs().max(1)));
        }
    }
    let found = s.store.user_for_login(&login.username).await?;
    let password = login.password.clone();
    let hash = found.as_ref().map(|(_, h)| h.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(hash.as_deref(), &password))
        .await
        .unwrap_or(false);
    let user = match found {
        Some((u, _)) if ok && !u.disabled => u,
        _ => {
            s.auth
                .limiter
                .lock()
                .expect("limiter lock")
                .failed(user_key, addr, now);
            tracing::warn!(
                username = %crate::pii::Pii(&login.username),
                remote = ?remote_addr,
                "failed login"
            );
            return Err(ApiError::Unauthorized("wrong username or password".into()));
        }
    };
    s.auth
        .limiter
        .lock()
        .expect("limiter lock")
        .succeeded(user_key, addr);
    let token = Secret::new("cc_ses");
    let csrf = Secret::new("cc_csrf").as_str().to_string();
    let ttl = chrono::Duration::from_std(s.auth.session_ttl).unwrap_or(chrono::Duration::hours(12));
    s.store
        .create_session(&token.hash(), &user.id, &csrf, Utc::now() + ttl)
        .await?;
    let principal = principal(s, user, Some(csrf), remote_addr).await?;
    principal.audit(s, "session.login", None, None).await?;
    Ok(LoggedIn {
        principal,
        cookie: session_cookie(s, token.as_str()),
    })
}

/// `Set-Cookie` for a session: HttpOnly (no script reads it), SameSite=Strict
/// (no other site sends it), Secure when served over HTTPS.
pub fn session_cookie(s: &AppState, value: &str) -> String {
    let max_age = if value.is_empty() {
        0
    } else {
        s.auth.session_ttl.as_secs()
    };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if s.auth.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

/// `POST /api/v1/session`: logs in and sets the cookie; returns the CSRF token.
pub async fn login(
    State(s): State<AppState>,
    ClientAddr(remote): ClientAddr,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let done = log_in(&s, &body, remote).await?;
    let p = &done.principal;
    Ok((
        [(header::SET_COOKIE, done.cookie)],
        Json(json!({
            "username": p.user.username,
            "role": p.role,
            "unit": p.user.unit_code,
            "csrf": p.csrf(),
        })),
    )
        .into_response())
}

/// `DELETE /api/v1/session`: logs out (ends the session, clears the cookie).
pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(c) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = s.store.end_session(&hash_secret(c)).await
    {
        return ApiError::from(e).into_response();
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(&s, ""))],
    )
        .into_response()
}

/// `GET /api/v1/me`: who am I, what may I do.
pub async fn me(p: Principal) -> Json<Value> {
    Json(json!({
        "id": p.user.id,
        "username": p.user.username,
        "display_name": p.user.display_name,
        "role": p.role,
        "unit": p.user.unit_code,
        "csrf": p.csrf(),
    }))
}

/// Page middleware: a state-changing form post must carry the session's CSRF
/// token in its `csrf` field. The body is buffered (forms are small), checked
/// and handed on unchanged; the verified principal rides in the extensions.
pub async fn csrf_guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let remote = client_ip(peer(&parts), &parts.headers, &s.auth.trusted_proxies);
    let p = match authenticate(&parts.headers, remote, &s).await {
        Ok(p) => p,
        Err(_) => return super::web_redirect("/dang-nhap"),
    };
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return ApiError::BadRequest("form too large".into()).into_response();
    };
    let sent = form_field(&bytes, "csrf");
    let ok = match (&p.via, sent) {
        (Via::Session { csrf }, Some(t)) => constant_time_eq(&t, csrf),
        (Via::Token, _) => true,
        _ => false,
    };
    if !ok {
        return ApiError::Forbidden(
            "the form's security token is missing or stale; reload the page".into(),
        )
        .into_response();
    }
    parts.extensions.insert(CsrfChecked);
    parts.extensions.insert(p);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_bearer_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; carecall_session=cc_ses_x; b=2".parse().unwrap(),
        );
        h.insert(header::AUTHORIZATION, "bearer  cc_tok_y".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("cc_ses_x"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(bearer(&h), Some("cc_tok_y"));
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert_eq!(
            form_field(b"x=1&csrf=t%2Bk", "csrf").as_deref(),
            Some("t+k")
        );
    }
}
