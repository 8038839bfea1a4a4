//! The admin HTTP API (axum) of `carecall serve`: dossier intake, units,
//! campaigns (create, start, pause, stop, progress and quotas), the do-not-call
//! list and alarms. JSON in and out; errors are `application/problem+json`.
//!
//! Every route but health and login needs a user (bearer token or session
//! cookie, see `auth.rs`); each handler checks the role's permission and the
//! user's unit scope, and every change lands in the audit log.

mod api;
pub mod auth;
pub mod client_addr;
pub mod complaints;
mod error;
pub mod live;
pub mod nul;
pub mod openapi;
pub mod operator;
pub mod operators;
pub mod pages;
pub mod range;
pub mod recordings;
pub mod reports;
pub mod results;
pub mod server;
mod unit_mapping;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::questionnaire::Questionnaire;
use crate::store::Store;
pub use error::ApiError;

/// Shared state of the handlers: the database, the settings and the login limiter.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub node: String,
    pub auth: Arc<auth::AuthRuntime>,
    /// The survey form, to check corrections and render the pages.
    pub form: Arc<Questionnaire>,
    /// Operators' open softphone pages (the WebRTC leg).
    pub webphones: crate::webrtc::WebPhones,
    /// What places calls (click-to-call); set by `carecall serve`, `None`
    /// in tests and the CLI, where click-to-call answers 503.
    pub calls: Option<Arc<crate::call::CallServices>>,
}

impl AppState {
    pub fn new(store: Store, config: Arc<Config>, node: String) -> AppState {
        let auth = Arc::new(auth::AuthRuntime::from_config(&config.http));
        let form = Questionnaire::load(&config.ivr.questionnaire).unwrap_or_else(|e| {
            tracing::error!(error = %e, "questionnaire unusable; using the shipped form");
            Questionnaire::shipped()
        });
        let webphones = crate::webrtc::WebPhones::new(config.webrtc.clone(), store.clone());
        AppState {
            webphones,
            calls: None,
            store,
            config,
            node,
            auth,
            form: Arc::new(form),
        }
    }
}

/// A 303 to `to` (after a form post, or to the login page).
pub fn web_redirect(to: &str) -> axum::response::Response {
    axum::response::Redirect::to(to).into_response()
}

/// The API router (tested with `oneshot`, no socket).
pub fn app(state: AppState) -> Router {
    let request_limit = std::time::Duration::from_secs(state.config.http.request_timeout_s.max(1));
    Router::new()
        .merge(pages::routes(&state))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/session", post(auth::login).delete(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}", axum::routing::patch(users::update))
        .route(
            "/api/v1/tokens",
            get(users::tokens).post(users::create_token),
        )
        .route(
            "/api/v1/tokens/{id}",
            axum::routing::delete(users::revoke_token),
        )
        .route("/api/v1/audit-log", get(users::audit_log))
        .route("/api/v1/calls", get(results::list_calls))
        .route("/api/v1/calls/{id}", get(results::call))
        .route("/api/v1/responses/{id}", get(results::response_history))
        .route(
            "/api/v1/responses/{id}/revisions",
            post(results::add_revision),
        )
        .route("/api/v1/corrections", get(results::pending_corrections))
        .route(
            "/api/v1/corrections/{id}/approve",
            post(results::approve_correction),
        )
        .route(
            "/api/v1/corrections/{id}/refuse",
            post(results::refuse_correction),
        )
        .route("/api/v1/questionnaire", get(results::questionnaire))
        .route(
            "/api/v1/responses/{id}/answers",
            post(operator::post_answers),
        )
        .route("/api/v1/operator/me", get(operator::me))
        .route("/api/v1/operator/state", post(operator::set_state))
        .route("/api/v1/operator/calls", post(operator::click_to_call))
        .route("/api/v1/live", get(live::live))
        .route(
            "/api/v1/calls/{id}/recording",
            get(recordings::get_recording_audio),
        )
        .route(
            "/api/v1/calls/{id}/recording/marks",
            get(recordings::get_recording),
        )
        .route(
            "/api/v1/calls/{id}/waveform",
            get(recordings::get_recording_waveform),
        )
        .route(
            "/api/v1/calls/{id}/clips/{key}",
            get(recordings::get_clip_audio),
        )
        .route("/api/v1/reports", get(reports::report))
        .route("/api/v1/reports/feedback", get(reports::feedback))
        .route("/api/v1/reports/coverage", get(reports::coverage))
        .route("/api/v1/reports/monthly", get(reports::monthly))
        .route("/api/v1/complaints", get(complaints::get_complaints))
        .route("/api/v1/complaints/{id}", get(complaints::get_complaint))
        .route(
            "/api/v1/complaints/{id}/actions",
            post(complaints::post_complaint_action),
        )
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .route("/api/v1/units", get(api::units).post(api::upsert_units))
        .route("/api/v1/units/pending", get(unit_mapping::pending))
        .route("/api/v1/units/aliases", post(unit_mapping::add_alias))
        .route("/api/v1/dossiers", post(api::import_dossiers))
        .route(
            "/api/v1/campaigns",
            get(api::campaigns).post(api::create_campaign),
        )
        .route("/api/v1/campaigns/{id}", get(api::campaign))
        .route(
            "/api/v1/campaigns/{id}/{action}",
            post(api::campaign_action),
        )
        .route("/api/v1/do-not-call", post(api::add_do_not_call))
        .route("/api/v1/alarms", get(api::alarms))
        .route("/api/v1/operators", get(api::operators))
        .route("/api/v1/softphone/ws", get(crate::webrtc::http::ws))
        .route(
            "/api/v1/softphone/test-call",
            post(crate::webrtc::http::test_call),
        )
        .merge(crate::webrtc::http::pages())
        .layer(axum::extract::DefaultBodyLimit::max(nul::MAX_BODY))
        .layer(axum::middleware::from_fn(nul::reject_nul))
        .layer(axum::middleware::from_fn(move |req, next| {
            server::request_timeout(request_limit, req, next)
        }))
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
#[error("cannot serve HTTP on {addr}: {source}")]
pub struct ServeError {
    pub addr: String,
    pub source: std::io::Error,
}

/// Binds and serves until `stop` is cancelled. Returns the bound address through `bound`.
pub async fn serve(
    state: AppState,
    bind: &str,
    stop: CancellationToken,
    bound: tokio::sync::oneshot::Sender<SocketAddr>,
) -> Result<(), ServeError> {
    let err = |source| ServeError {
        addr: bind.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let _ = bound.send(addr);
    let limits = server::ServerLimits::from_config(&state.config.http);
    tracing::info!(%addr, ?limits, "HTTP API listening");
    server::run(
        listener,
        app(state),
        limits,
        stop,
        std::time::Duration::from_secs(5),
    )
    .await;
    Ok(())
}

/// The router with an administrator's bearer token added to every request,
/// for handler tests that are not about authentication.
#[cfg(test)]
pub(crate) async fn as_admin(state: AppState) -> Router {
    use axum::http::{HeaderValue, Request, header};
    let id = state
        .store
        .create_user(&crate::store::NewUser {
            username: "admin",
            display_name: "admin",
            password_hash: "unused",
            role: "admin",
            unit_code: None,
        })
        .await
        .expect("create the test admin");
    let token = crate::auth::Secret::new("cc_tok");
    state
        .store
        .create_token(&token.hash(), &id, "test", None)
        .await
        .expect("create the test token");
    let value = HeaderValue::from_str(&format!("Bearer {}", token.as_str())).expect("header");
    app(state).layer(axum::middleware::map_request(
        move |mut req: Request<axum::body::Body>| {
            let value = value.clone();
            async move {
                req.headers_mut().insert(header::AUTHORIZATION, value);
                req
            }
        },
    ))
}
