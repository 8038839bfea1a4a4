//! The admin HTTP API (axum) of `carecall serve`: dossier intake, units,
//! campaigns (create, start, pause, stop, progress and quotas), the do-not-call
//! list and alarms. JSON in and out; errors are `application/problem+json`.
//!
//! Authentication and roles come with the admin issue; until then the API binds
//! to loopback by default (`http.bind = 127.0.0.1:8080`).

mod api;
pub mod complaints;
mod error;
pub mod range;
pub mod recordings;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::store::Store;
pub use error::ApiError;

/// Shared state of the handlers: the database and the settings.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub node: String,
}

/// The API router (tested with `oneshot`, no socket).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/units", get(api::units).post(api::upsert_units))
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
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
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
    tracing::info!(%addr, "HTTP API listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(err)
}
