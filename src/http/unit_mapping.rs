//! The unit mapping list: dossier rows whose unit name matched no unit wait
//! (they are not refused); an administrator maps the name once and every
//! waiting and future row with that name follows (`intake/units.rs`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, JsonBody};
use crate::auth::Permission;
use crate::intake;
use crate::store::PendingUnit;

/// `GET /api/v1/units/pending`: the unknown unit names and how many rows
/// wait for each.
pub async fn pending(
    p: Principal,
    State(s): State<AppState>,
) -> Result<Json<Vec<PendingUnit>>, ApiError> {
    p.require(Permission::ManageData)?;
    Ok(Json(s.store.pending_units().await?))
}

/// The body of `POST /api/v1/units/aliases`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasBody {
    /// The unit name as exports write it ("UBND xã An Bình").
    pub name: String,
    /// The unit it means.
    pub unit: String,
}

/// `POST /api/v1/units/aliases`: maps a name to a unit, then stores every
/// waiting row the mapping (or any earlier one) now resolves.
pub async fn add_alias(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<AliasBody>,
) -> Result<Json<Value>, ApiError> {
    p.require(Permission::ManageData)?;
    let key = intake::unit_key(&body.name);
    if key.is_empty() {
        return Err(ApiError::BadRequest(
            "name: give the unit name as exports write it".into(),
        ));
    }
    if !s.store.units().await?.iter().any(|u| u.code == body.unit) {
        return Err(ApiError::BadRequest(format!("no unit {:?}", body.unit)));
    }
    let now = chrono::Utc::now();
    s.store
        .set_unit_alias(&key, body.name.trim(), &body.unit, p.actor(), now)
        .await?;
    let matcher = intake::unit_matcher(&s.store).await?;
    let resolve = move |u: &str| matcher.resolve(u);
    let released = intake::release_waiting(&s.store, &resolve, now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let detail = json!({
        "name": body.name.trim(), "key": key, "unit": body.unit,
        "released": released.inserted + released.updated + released.unchanged,
    });
    p.audit(&s, "units.alias", Some(&body.unit), Some(detail.clone()))
        .await?;
    Ok(Json(json!({ "alias": detail, "released": released })))
}
