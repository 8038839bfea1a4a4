//! The softphone's HTTP side: the WebSocket, the script, a bare test page and
//! the admin's test call.

use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::testcall::{self, TestCallSpec};
use crate::auth::{Permission, Role};
use crate::http::auth::Principal;
use crate::http::{ApiError, AppState};
use crate::store::OperatorRecord;

/// The page's script (no build step).
pub const SOFTPHONE_JS: &str = include_str!("../../web/static/softphone.js");
/// A minimal page around it, for tests and for trying a headset.
pub const TEST_PAGE: &str = include_str!("../../web/static/softphone-test.html");

/// The softphone's static routes: the script and the bare test page (both
/// public: the WebSocket is what needs a login).
pub fn pages() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/static/softphone.js", axum::routing::get(script))
        .route(
            "/dien-thoai-vien/softphone-test",
            axum::routing::get(test_page),
        )
}

/// `GET /static/softphone.js`
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SOFTPHONE_JS,
    )
        .into_response()
}

/// `GET /dien-thoai-vien/softphone-test`
pub async fn test_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        TEST_PAGE,
    )
        .into_response()
}

/// The operator record of the logged-in user (same username).
async fn operator_of(s: &AppState, p: &Principal) -> Result<OperatorRecord, ApiError> {
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

/// A cookie rides along on any WebSocket upgrade, even one a foreign page
/// starts (cross-site WebSocket hijacking): the Origin, when the browser
/// sends one (RFC 6455 §4.1 item 8), must be this server.
fn same_origin(h: &HeaderMap) -> bool {
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    host.is_some() && origin_host == host
}

/// `GET /api/v1/softphone/ws`: the signalling channel of an operator's page.
pub async fn ws(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !matches!(p.role, Role::Operator | Role::Admin) {
        return Err(ApiError::Forbidden("the softphone is for operators".into()));
    }
    if !same_origin(&headers) {
        return Err(ApiError::Forbidden(
            "the softphone must be opened from this server's pages".into(),
        ));
    }
    let op = operator_of(&s, &p).await?;
    let phones = s.webphones.clone();
    Ok(upgrade
        .on_upgrade(move |socket| super::session::run(socket, phones, op.id))
        .into_response())
}

/// `POST /api/v1/softphone/test-call` (admin): rings an operator's page and
/// plays a tone; answers with what came back once the call is over.
pub async fn test_call(
    State(s): State<AppState>,
    p: Principal,
    Json(spec): Json<TestCallSpec>,
) -> Result<Json<testcall::TestCallReport>, ApiError> {
    p.require(Permission::Administer)?;
    let op = s
        .store
        .operators()
        .await?
        .into_iter()
        .find(|o| o.username == spec.operator)
        .ok_or_else(|| ApiError::NotFound(format!("no operator {:?}", spec.operator)))?;
    p.audit(&s, "softphone.test_call", Some(op.id.as_str()), None)
        .await?;
    Ok(Json(testcall::run(&s.webphones, &op.id, &spec).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h), "no Origin: not a browser page");
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
