//! The live page: calls in progress and operator states, filled by the
//! browser from the `/api/v1/live` event stream (`crate::http::live`).

use axum::response::Html;
use serde_json::json;

use super::{PageError, Viewer, render};
use crate::auth::Permission;

/// `GET /truc-tiep`: the live page (the table fills from the stream).
pub async fn page(Viewer(p): Viewer) -> Result<Html<String>, PageError> {
    p.require(Permission::ReadLive)?;
    render::page("live.html", &p, "live", json!({}))
}
