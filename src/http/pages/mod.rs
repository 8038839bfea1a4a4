//! The supervisors' web pages: server-rendered HTML in Vietnamese, no
//! front-end build step. Templates (minijinja, auto-escaped) and the one
//! stylesheet and script are compiled into the binary, so `carecall serve`
//! alone serves them.
//!
//! The pages are a second face of the API: each handler calls the same
//! functions as its `/api/v1` twin (permission, unit scope, audit log), so a
//! page can never do what the API would refuse. A session cookie carries the
//! user; every state-changing form posts the session's CSRF token in its
//! `csrf` field, checked by [`super::auth::csrf_guard`] before the handler
//! runs.
//!
//! Paths are Vietnamese slugs without diacritics (`/dang-nhap`, `/chien-dich`),
//! as the login redirect of the API already assumes.

mod assets;
mod calls;
mod campaigns;
mod complaints;
mod dashboard;
mod error;
mod filters;
mod links;
mod live;
mod login;
mod operator;
mod operators;
mod render;
mod users;

#[cfg(test)]
mod operator_tests;
#[cfg(test)]
mod tests;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::middleware;
use axum::routing::{get, post};

use super::AppState;
use super::auth::{Principal, csrf_guard};
pub use error::PageError;
pub use links::{Exports, Links, TableExport};

/// The page routes, to merge into [`super::app`] before its `with_state`.
/// Every route but the login page and the assets passes the CSRF guard.
pub fn routes(state: &AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/", get(dashboard::page))
        .route("/dang-xuat", post(login::log_out))
        .route("/chien-dich", get(campaigns::list).post(campaigns::create))
        .route("/chien-dich/moi", get(campaigns::new_form))
        .route("/chien-dich/{id}", get(campaigns::detail))
        .route("/chien-dich/{id}/{action}", post(campaigns::action))
        .route("/cuoc-goi", get(calls::list))
        .route("/cuoc-goi/{id}", get(calls::review))
        .route("/cuoc-goi/{id}/sua", post(calls::revise))
        .route("/nguoi-dung", get(users::list).post(users::create))
        .route("/nguoi-dung/{id}/{action}", post(users::set_disabled))
        .route("/khieu-nai", get(complaints::list))
        .route(
            "/khieu-nai/{id}",
            get(complaints::detail).post(complaints::act),
        )
        .route(
            operators::PATH,
            get(operators::list).post(operators::create),
        )
        .route("/truc-tiep", get(live::page))
        .route(operator::PATH, get(operator::page))
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard));
    Router::new()
        .route("/dang-nhap", get(login::form).post(login::log_in))
        .route("/tai-nguyen/{file}", get(assets::serve))
        .route("/static/operator.js", get(operator::script))
        .merge(guarded)
        .layer(middleware::map_response(security_headers))
}

/// Content-Security-Policy (CSP Level 3): scripts, styles, media and
/// fetches only from this site, and no inline script, so a value that
/// slipped past escaping still cannot run; no framing (clickjacking of the
/// forms); forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers of every page response. HTML pages hold citizens' answers, so
/// no cache may keep them (RFC 9111 §5.2.2.5 `no-store`).
async fn security_headers(mut r: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// The user of a page request. Unlike [`Principal`] as an extractor, a
/// missing or expired session sends the browser to the login page instead of
/// answering a JSON 401.
pub struct Viewer(pub Principal);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, PageError> {
        match Principal::from_request_parts(parts, s).await {
            Ok(p) => Ok(Viewer(p)),
            Err(crate::http::ApiError::Unauthorized(_)) => Err(PageError::LogIn {
                next: (parts.method == axum::http::Method::GET)
                    .then(|| parts.uri.path_and_query().map(|p| p.to_string()))
                    .flatten(),
            }),
            Err(e) => Err(e.into()),
        }
    }
}
