//! Campaigns: the list, the creation form, one campaign's progress and
//! quotas, and start/pause/stop buttons. Each calls the API handler of the
//! same action, so validation, the sample draw and the audit entry are one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::error::JsonBody;
use crate::http::{ApiError, AppState, api, web_redirect};

/// `GET /chien-dich`.
pub async fn list(Viewer(p): Viewer, State(s): State<AppState>) -> Result<Html<String>, PageError> {
    let campaigns = api::campaigns(p.clone(), State(s)).await?.0;
    render::page(
        "campaigns.html",
        &p,
        "campaigns",
        json!({ "campaigns": campaigns }),
    )
}

/// The text fields of the creation form, shown again when it is refused.
const FORM_FIELDS: [&str; 7] = [
    "name",
    "period_from",
    "period_to",
    "size",
    "daily_target",
    "max_concurrent",
    "fields",
];

/// `GET /chien-dich/moi`.
pub async fn new_form(
    Viewer(p): Viewer,
    State(s): State<AppState>,
) -> Result<Html<String>, PageError> {
    p.require(Permission::ManageCampaigns)?;
    form_page(&p, &s, &[], "").await.map(|(_, h)| h)
}

async fn form_page(
    p: &crate::http::auth::Principal,
    s: &AppState,
    sent: &[(String, String)],
    message: &str,
) -> Result<(StatusCode, Html<String>), PageError> {
    let units: Vec<Value> = s
        .store
        .units()
        .await?
        .into_iter()
        .filter(|u| p.scope.allows(Some(&u.code)))
        .map(|u| json!({ "code": u.code, "name": u.name, "level": u.level }))
        .collect();
    let mut values = Map::new();
    for k in FORM_FIELDS {
        values.insert(k.into(), Value::String(String::new()));
    }
    for (k, v) in sent
        .iter()
        .filter(|(k, _)| FORM_FIELDS.contains(&k.as_str()))
    {
        values.insert(k.clone(), Value::String(v.clone()));
    }
    let chosen: Vec<&str> = sent
        .iter()
        .filter(|(k, _)| k == "units" || k == "levels")
        .map(|(_, v)| v.as_str())
        .collect();
    let status = if message.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let html = render::page(
        "campaign_new.html",
        p,
        "campaigns",
        json!({ "units": units, "v": values, "chosen": chosen, "message": message }),
    )?;
    Ok((status, html))
}

/// The creation form as the API's JSON spec. Checkboxes repeat their name
/// (`units=A&units=B`), which the plain form extractor cannot collect, so
/// the pairs are read as they come; blank optional fields are left out so
/// that the API's defaults apply.
pub fn spec_json(pairs: &[(String, String)]) -> Value {
    let mut spec = Map::new();
    let mut units = Vec::new();
    let mut levels = Vec::new();
    for (k, v) in pairs {
        let v = v.trim();
        match k.as_str() {
            "units" if !v.is_empty() => units.push(json!(v)),
            "levels" if !v.is_empty() => levels.push(json!(v)),
            "fields" => {
                let fields: Vec<Value> = v
                    .split([',', ';', '\n'])
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(|f| json!(f))
                    .collect();
                spec.insert("fields".into(), Value::Array(fields));
            }
            "name" | "period_from" | "period_to" => {
                spec.insert(k.clone(), json!(v));
            }
            "size" | "daily_target" | "max_concurrent" | "recent_days" if !v.is_empty() => {
                // Not a number: sent as text, so the API names the field.
                let n = v.parse::<u64>().map(|n| json!(n)).unwrap_or(json!(v));
                spec.insert(k.clone(), n);
            }
            _ => {}
        }
    }
    spec.insert("units".into(), Value::Array(units));
    spec.insert("levels".into(), Value::Array(levels));
    Value::Object(spec)
}

/// `POST /chien-dich`: creates the campaign (draft) and shows it; a refused
/// form comes back filled in, with the reason, and nothing is written.
pub async fn create(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    body: Bytes,
) -> Result<Response, PageError> {
    p.require(Permission::ManageCampaigns)?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|e| PageError::bad(e.to_string()))?;
    let spec = match serde_json::from_value(spec_json(&pairs)) {
        Ok(spec) => spec,
        Err(e) => {
            let msg = format!("Biểu mẫu chưa đúng: {e}");
            return Ok(form_page(&p, &s, &pairs, &msg).await?.into_response());
        }
    };
    match api::create_campaign(p.clone(), State(s.clone()), JsonBody(spec)).await {
        Ok((_, created)) => {
            let id = super::filters::url_encode(created.0.id.as_str());
            Ok(web_redirect(&format!("/chien-dich/{id}")))
        }
        Err(ApiError::BadRequest(m)) => {
            let msg = format!("Không tạo được chiến dịch: {m}");
            Ok(form_page(&p, &s, &pairs, &msg).await?.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /chien-dich/{id}`: progress, quotas and the buttons its status allows.
pub async fn detail(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let mut v = api::campaign(p.clone(), State(s), Path(id)).await?.0;
    let progress = &v["progress"];
    let total: u64 = ["pending", "claimed", "dialling", "done"]
        .iter()
        .filter_map(|k| progress[*k].as_u64())
        .sum();
    let done = progress["done"].as_u64().unwrap_or(0);
    v["total"] = json!(total);
    v["done_pct"] = json!((done * 100).checked_div(total).unwrap_or(0));
    v["actions"] = json!(actions(v["campaign"]["status"].as_str().unwrap_or("")));
    render::page("campaign.html", &p, "campaigns", v)
}

/// The buttons a status allows, as (action, label); mirrors
/// [`crate::store::CampaignStatus::can_become`].
fn actions(status: &str) -> Vec<(&'static str, &'static str)> {
    match status {
        "draft" => vec![("start", "Bắt đầu gọi")],
        "running" => vec![("pause", "Tạm dừng"), ("stop", "Dừng hẳn")],
        "paused" => vec![("resume", "Tiếp tục"), ("stop", "Dừng hẳn")],
        _ => vec![],
    }
}

/// `POST /chien-dich/{id}/{action}`.
pub async fn action(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let _done = api::campaign_action(p, State(s), Path((id.clone(), action))).await?;
    Ok(web_redirect(&format!(
        "/chien-dich/{}",
        super::filters::url_encode(&id)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::create::CampaignSpec;

    fn pairs(s: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(s).unwrap()
    }

    #[test]
    fn the_form_becomes_the_api_spec() {
        let v = spec_json(&pairs(
            "csrf=x&name=Th%C3%A1ng+10&period_from=2026-10-01&period_to=2026-10-31\
             &units=A&units=B&levels=district&fields=%C4%90%E1%BA%A5t+%C4%91ai%2C+T%C6%B0+ph%C3%A1p\
             &size=200&daily_target=&max_concurrent=3",
        ));
        let spec: CampaignSpec = serde_json::from_value(v).unwrap();
        assert_eq!(spec.name, "Tháng 10");
        assert_eq!(spec.units, ["A", "B"]);
        assert_eq!(spec.fields, ["Đất đai", "Tư pháp"]);
        assert_eq!(spec.size, 200);
        assert_eq!(spec.max_concurrent, 3);
        // Blank: the API's default.
        assert_eq!(spec.daily_target, 25);
    }

    #[test]
    fn a_bad_number_is_refused_by_name() {
        let v = spec_json(&pairs(
            "name=x&period_from=2026-10-01&period_to=2026-10-31&size=abc",
        ));
        let e = serde_json::from_value::<CampaignSpec>(v).unwrap_err();
        assert!(e.to_string().contains("abc"), "{e}");
    }

    #[test]
    fn buttons_follow_the_life_cycle() {
        assert_eq!(actions("draft"), [("start", "Bắt đầu gọi")]);
        assert!(actions("stopped").is_empty());
        assert_eq!(actions("paused")[0].0, "resume");
    }
}
