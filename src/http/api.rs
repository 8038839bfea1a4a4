//! The handlers: small functions with typed extractors over [`AppState`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, JsonBody};
use crate::auth::Permission;
use crate::campaign::create::{self, CampaignSpec, CreateError};
use crate::campaign::policy::CampaignPolicy;
use crate::dialer::sampling::quota_report;
use crate::intake;
use crate::store::{CampaignId, CampaignStatus, UnitRecord};

type ApiResult<T> = Result<T, ApiError>;

pub async fn health(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let alarms = s.store.open_alarms().await?;
    Ok(Json(json!({
        "status": if alarms.is_empty() { "ok" } else { "degraded" },
        "node": s.node,
        "alarms": alarms.len(),
    })))
}

pub async fn units(p: Principal, State(s): State<AppState>) -> ApiResult<Json<Vec<UnitRecord>>> {
    p.require(Permission::ReadResults)?;
    Ok(Json(s.store.units().await?))
}

/// Adds or changes units (one object or a list); parents must exist.
pub async fn upsert_units(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(units): JsonBody<Vec<UnitRecord>>,
) -> ApiResult<Json<Value>> {
    p.require(Permission::ManageData)?;
    for u in &units {
        if !matches!(u.level.as_str(), "province" | "district" | "commune") {
            return Err(ApiError::BadRequest(format!(
                "unit {}: level must be province, district or commune",
                u.code
            )));
        }
    }
    for u in &units {
        s.store.upsert_unit(u).await?;
    }
    let codes: Vec<&str> = units.iter().map(|u| u.code.as_str()).collect();
    p.audit(&s, "units.upsert", None, Some(json!({ "units": codes })))
        .await?;
    Ok(Json(json!({ "upserted": units.len() })))
}

/// A batch of dossiers as JSON objects with the CSV's column names; bad rows
/// are reported by index (1-based) and the good ones kept.
pub async fn import_dossiers(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(rows): JsonBody<Vec<intake::RawRow>>,
) -> ApiResult<Json<intake::ImportReport>> {
    p.require(Permission::ManageData)?;
    let store = s.store.clone();
    let matcher = intake::unit_matcher(&s.store).await?;
    let resolve = move |u: &str| matcher.resolve(u);
    let numbered = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r))
        .collect();
    let report = intake::import_rows(&store, numbered, &resolve)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "dossier import failed");
            ApiError::Unavailable(super::error::DATABASE_TROUBLE.into())
        })?;
    let counts = json!({
        "total": report.total, "inserted": report.inserted, "updated": report.updated,
        "unchanged": report.unchanged, "refused": report.errors.len(),
        "waiting": report.waiting.len(),
    });
    p.audit(&s, "dossiers.import", None, Some(counts)).await?;
    Ok(Json(report))
}

/// The campaigns of the user's scope (a campaign is in it when every unit it
/// samples is).
pub async fn campaigns(p: Principal, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    p.require(Permission::ReadResults)?;
    let scope = p.scope.unit_codes();
    Ok(Json(json!(s.store.campaigns_in(scope.as_deref()).await?)))
}

/// The campaign, if it is in the user's scope; "not found" otherwise, so
/// that other units' campaigns are not confirmed to exist.
async fn scoped_campaign(
    p: &Principal,
    s: &AppState,
    id: &CampaignId,
) -> ApiResult<crate::store::CampaignRecord> {
    let scope = p.scope.unit_codes();
    s.store
        .campaign_in(id, scope.as_deref())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no campaign {id}")))
}

/// A user with a unit creates campaigns of units inside it only: naming
/// none would sample the whole province.
fn require_spec_in_scope(p: &Principal, spec: &CampaignSpec) -> ApiResult<()> {
    if p.scope == crate::auth::Scope::Province {
        return Ok(());
    }
    if spec.units.is_empty() {
        return Err(ApiError::BadRequest(
            "units: name the units to sample (your account may not sample the whole province)"
                .into(),
        ));
    }
    let outside: Vec<&str> = spec
        .named_units()
        .filter(|u| !p.scope.allows(Some(u)))
        .collect();
    if outside.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "units outside your unit's scope: {}",
            outside.join(", ")
        )))
    }
}

pub async fn create_campaign(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(spec): JsonBody<CampaignSpec>,
) -> ApiResult<(StatusCode, Json<create::Created>)> {
    p.require(Permission::ManageCampaigns)?;
    require_spec_in_scope(&p, &spec)?;
    let detail = json!(spec);
    match create::create(&s.store, spec, chrono::Utc::now()).await {
        Ok(created) => {
            p.audit(
                &s,
                "campaign.create",
                Some(created.id.as_str()),
                Some(detail),
            )
            .await?;
            Ok((StatusCode::CREATED, Json(created)))
        }
        Err(CreateError::Invalid(m)) => Err(ApiError::BadRequest(m)),
        Err(CreateError::Store(e)) => Err(e.into()),
    }
}

/// The campaign, its progress and the state of each quota.
pub async fn campaign(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Permission::ReadResults)?;
    let id = CampaignId(id);
    let record = scoped_campaign(&p, &s, &id).await?;
    let progress = s.store.campaign_progress(&id).await?;
    let policy =
        CampaignPolicy::from_record(&record).map_err(|e| ApiError::Conflict(e.to_string()))?;
    let elapsed = period_elapsed(&record, chrono::Utc::now());
    let mut quotas = Vec::new();
    for q in &policy.quotas {
        let (dossiers, surveyed) = s.store.unit_counts(&id, &q.unit_code).await?;
        quotas.push(json!({
            "unit": q.unit_code,
            "status": quota_report(q, dossiers as u32, surveyed as u32, elapsed),
        }));
    }
    Ok(Json(json!({
        "campaign": record,
        "progress": progress,
        "quotas": quotas,
        "policy": policy,
    })))
}

fn period_elapsed(c: &crate::store::CampaignRecord, now: chrono::DateTime<chrono::Utc>) -> f64 {
    let total = (c.period_to - c.period_from).num_seconds().max(1) as f64;
    ((now - c.period_from).num_seconds() as f64 / total).clamp(0.0, 1.0)
}

pub async fn campaign_action(
    p: Principal,
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    p.require(Permission::ManageCampaigns)?;
    let status = match action.as_str() {
        "start" | "resume" => CampaignStatus::Running,
        "pause" => CampaignStatus::Paused,
        "stop" => CampaignStatus::Stopped,
        other => return Err(ApiError::NotFound(format!("no campaign action {other:?}"))),
    };
    let id = CampaignId(id);
    scoped_campaign(&p, &s, &id).await?;
    s.store.set_campaign_status(&id, status).await?;
    p.audit(&s, &format!("campaign.{action}"), Some(id.as_str()), None)
        .await?;
    Ok(Json(json!({ "id": id, "status": status })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoNotCall {
    phone: String,
    #[serde(default)]
    reason: String,
}

pub async fn add_do_not_call(
    p: Principal,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<DoNotCall>,
) -> ApiResult<Json<Value>> {
    p.require(Permission::ManageDoNotCall)?;
    let phone = crate::number::normalize(&body.phone, crate::number::NumberFormat::National)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let reason = if body.reason.is_empty() {
        "added through the API"
    } else {
        &body.reason
    };
    s.store.add_do_not_call(&phone, reason).await?;
    let masked = crate::pii::mask_phone(&phone);
    p.audit(
        &s,
        "do_not_call.add",
        Some(&masked),
        Some(json!({ "reason": reason })),
    )
    .await?;
    Ok(Json(
        json!({ "phone": crate::pii::mask_phone(&phone), "listed": true }),
    ))
}

pub async fn alarms(p: Principal, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    p.require(Permission::ReadLive)?;
    Ok(Json(json!(s.store.open_alarms().await?)))
}

/// Operators with their state and since when (SIP credentials never leave).
pub async fn operators(p: Principal, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    p.require(Permission::ReadLive)?;
    Ok(Json(json!(s.store.operators().await?)))
}
