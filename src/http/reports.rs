//! Report endpoints: a report table as JSON, CSV or XLSX; the complaints and
//! suggestions list; the plan's monthly workbook.
//!
//! Authentication wraps these from outside: each endpoint is a plain function
//! taking the unit scope (`None`: every unit; `Some(units)`: those units only,
//! already expanded to their descendants) so an auth layer can call it with
//! the user's scope. The axum handlers below pass `None` and stay thin.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::auth::Permission;
use crate::report::{self, Dimension, FilterError, Month, ReportError, ReportFilter};

/// Query parameters shared by the report endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportParams {
    /// total (default), unit, level, field, month, day, campaign.
    pub by: Option<String>,
    /// json (default), csv, xlsx.
    pub format: Option<String>,
    /// `YYYY-MM-DD` (local midnight in Đồng Tháp) or RFC 3339; inclusive.
    pub from: Option<String>,
    /// Same forms; exclusive.
    pub to: Option<String>,
    /// `YYYY-MM`: the monthly workbook's month (required there).
    pub month: Option<String>,
    /// A unit code: that unit and every unit under it.
    pub unit: Option<String>,
    pub level: Option<String>,
    pub field: Option<String>,
    pub campaign: Option<String>,
    pub disposition: Option<String>,
    pub score_min: Option<u8>,
    pub score_max: Option<u8>,
    pub satisfied: Option<bool>,
    pub has_complaint: Option<bool>,
    /// Lists: at most this many items (feedback JSON default 1000, calls 50).
    pub limit: Option<u64>,
    /// The call list's keyset cursor (`next` of the previous page).
    pub cursor: Option<String>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Xlsx,
}

impl Format {
    fn parse(s: Option<&str>) -> Result<Format, ApiError> {
        match s.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(ApiError::BadRequest(format!(
                "format must be json, csv or xlsx, got {other:?}"
            ))),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> ApiError {
        match e {
            ReportError::Filter(f) => ApiError::BadRequest(f.to_string()),
            ReportError::Store(s) => ApiError::Store(s),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

use super::results::parse_instant as instant;

/// The filter the parameters describe, then narrowed to `scope`.
pub async fn filter_from_params(
    state: &AppState,
    p: &ReportParams,
    scope: Option<&[String]>,
) -> Result<ReportFilter, ApiError> {
    let units = match &p.unit {
        Some(code) => {
            let all = state.store.units().await?;
            if !all.iter().any(|u| &u.code == code) {
                return Err(ApiError::BadRequest(format!("no unit {code:?}")));
            }
            Some(report::with_descendants(&all, code))
        }
        None => None,
    };
    let f = ReportFilter {
        from: p.from.as_deref().map(|s| instant("from", s)).transpose()?,
        to: p.to.as_deref().map(|s| instant("to", s)).transpose()?,
        units,
        level: p.level.clone(),
        field: p.field.clone(),
        campaign: p.campaign.clone(),
        disposition: p.disposition.clone(),
        score_min: p.score_min,
        score_max: p.score_max,
        satisfied: p.satisfied,
        has_complaint: p.has_complaint,
        operator: None,
    };
    let f = match scope {
        Some(scope) => f.restrict_to(scope),
        None => f,
    };
    f.validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(f)
}

fn dimension(p: &ReportParams) -> Result<Dimension, ApiError> {
    Dimension::parse(p.by.as_deref().unwrap_or("total"))
        .map_err(|e: FilterError| ApiError::BadRequest(e.to_string()))
}

/// A file download: its bytes, type and name.
fn attachment(bytes: Vec<u8>, format: Format, stem: &str) -> Response {
    let (mime, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        _ => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    let disposition = format!("attachment; filename=\"{stem}.{ext}\"");
    (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// The report table of `filter` as JSON. The filter's unit list is the scope:
/// narrow it first with [`ReportFilter::restrict_to`].
pub async fn report_json(
    state: &AppState,
    filter: &ReportFilter,
    by: Dimension,
) -> Result<Json<report::ReportTable>, ApiError> {
    Ok(Json(report::table(&state.store, filter, by).await?))
}

/// A report table in the asked format, over `scope`'s units.
pub async fn report_response(
    state: &AppState,
    p: &ReportParams,
    scope: Option<&[String]>,
) -> Result<Response, ApiError> {
    let by = dimension(p)?;
    let format = Format::parse(p.format.as_deref())?;
    let f = filter_from_params(state, p, scope).await?;
    if format == Format::Json {
        return Ok(report_json(state, &f, by).await?.into_response());
    }
    let t = report::table(&state.store, &f, by).await?;
    let stem = format!("bao-cao-{}", by.as_str());
    Ok(match format {
        Format::Csv => attachment(report::csv_table(&t)?, format, &stem),
        _ => attachment(report::xlsx_table(&t)?, format, &stem),
    })
}

/// Complaints (Q3) and suggestions (Q5) in the asked format, over `scope`'s units.
pub async fn feedback_response(
    state: &AppState,
    p: &ReportParams,
    scope: Option<&[String]>,
) -> Result<Response, ApiError> {
    let format = Format::parse(p.format.as_deref())?;
    let f = filter_from_params(state, p, scope).await?;
    let limit = match format {
        Format::Json => Some(p.limit.unwrap_or(1000)),
        _ => p.limit,
    };
    let list = report::feedback(&state.store, &f, limit).await?;
    Ok(match format {
        Format::Json => Json(list).into_response(),
        Format::Csv => attachment(report::csv_feedback(&list)?, format, "gop-y"),
        Format::Xlsx => attachment(report::xlsx_feedback(&list)?, format, "gop-y"),
    })
}

/// The monthly workbook of `?month=YYYY-MM`, over `scope`'s units.
pub async fn monthly_response(
    state: &AppState,
    p: &ReportParams,
    scope: Option<&[String]>,
) -> Result<Response, ApiError> {
    let month = p
        .month
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("month=YYYY-MM is required".into()))
        .and_then(|m| Month::parse(m).map_err(|e| ApiError::BadRequest(e.to_string())))?;
    let f = filter_from_params(state, p, scope).await?;
    let r = report::monthly_report(&state.store, month, &f, &coverage_settings(state)).await?;
    let bytes = report::monthly_workbook(&r)?;
    Ok(attachment(
        bytes,
        Format::Xlsx,
        &format!("bao-cao-thang-{month}"),
    ))
}

/// The form's question roles and the small-cell threshold.
pub fn coverage_settings(state: &AppState) -> report::CoverageSettings {
    report::CoverageSettings::new(&state.form, state.config.reports.min_responses)
}

/// The dossier coverage report in the asked format, over `scope`'s units:
/// the period is the dossiers' return date (the sampling frame).
pub async fn coverage_response(
    state: &AppState,
    p: &ReportParams,
    scope: Option<&[String]>,
) -> Result<Response, ApiError> {
    let by = dimension(p)?;
    let format = Format::parse(p.format.as_deref())?;
    let f = filter_from_params(state, p, scope).await?;
    let r = report::coverage(&state.store, &f, by, &coverage_settings(state)).await?;
    let stem = format!("bao-cao-ho-so-{}", by.as_str());
    Ok(match format {
        Format::Json => Json(r).into_response(),
        Format::Csv => attachment(report::csv_coverage(&r)?, format, &stem),
        Format::Xlsx => attachment(report::xlsx_coverage(&r)?, format, &stem),
    })
}

/// The unit scope of a reader of results (403 for roles that may not read them).
fn reader_scope(p: &Principal) -> Result<Option<Vec<String>>, ApiError> {
    p.require(Permission::ReadResults)?;
    Ok(p.scope.unit_codes())
}

/// `GET /api/v1/reports?by=…&format=json|csv|xlsx&filters`.
pub async fn report(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&p)?;
    report_response(&s, &q, scope.as_deref()).await
}

/// `GET /api/v1/reports/coverage?by=…&format=…&from=…&to=…`: dossiers
/// returned in the period → sampled → reached → complete, RR1, weighted
/// satisfaction and score with n and 95 % intervals.
pub async fn coverage(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&p)?;
    coverage_response(&s, &q, scope.as_deref()).await
}

/// `GET /api/v1/reports/feedback`: complaints (Q3) and suggestions (Q5).
pub async fn feedback(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&p)?;
    feedback_response(&s, &q, scope.as_deref()).await
}

/// `GET /api/v1/reports/monthly?month=YYYY-MM`: the plan's monthly workbook.
pub async fn monthly(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&p)?;
    monthly_response(&s, &q, scope.as_deref()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_local_days_or_instants() {
        let day = instant("from", "2026-10-01").unwrap();
        assert_eq!(day.to_rfc3339(), "2026-09-30T17:00:00+00:00");
        let t = instant("to", "2026-10-01T05:00:00+07:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-09-30T22:00:00+00:00");
        assert!(matches!(
            instant("from", "01/10/2026"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn formats_and_groupings_are_checked() {
        assert_eq!(Format::parse(None).unwrap(), Format::Json);
        assert_eq!(Format::parse(Some("xlsx")).unwrap(), Format::Xlsx);
        assert!(Format::parse(Some("pdf")).is_err());
        let p = ReportParams {
            by: Some("district".into()),
            ..Default::default()
        };
        assert!(dimension(&p).is_err());
    }

    #[test]
    fn downloads_are_named() {
        let r = attachment(b"x".to_vec(), Format::Csv, "bao-cao-unit");
        assert_eq!(
            r.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"bao-cao-unit.csv\""
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    }

    /// The real router as an administrator, over an empty SQLite store.
    async fn app() -> (axum::Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let state = AppState::new(
            crate::store::Store::connect(&url).await.unwrap(),
            std::sync::Arc::new(crate::config::Config::default()),
            "test".into(),
        );
        (super::super::as_admin(state).await, dir)
    }

    async fn get_path(app: &axum::Router, uri: &str) -> (u16, Vec<u8>, String) {
        use tower::ServiceExt;
        let req = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, body.to_vec(), ctype)
    }

    #[tokio::test]
    async fn endpoints_answer_in_each_format() {
        let (app, _dir) = app().await;
        let (status, body, _) = get_path(&app, "/api/v1/reports?by=unit").await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["by"], "unit");
        assert_eq!(json["total"]["stats"]["dialled"], 0);
        let (status, body, ctype) = get_path(&app, "/api/v1/reports?format=csv").await;
        assert_eq!((status, ctype.as_str()), (200, "text/csv; charset=utf-8"));
        assert!(body.starts_with("\u{feff}".as_bytes()));
        let (status, body, _) = get_path(&app, "/api/v1/reports/monthly?month=2026-10").await;
        assert_eq!(status, 200);
        assert!(body.starts_with(b"PK"));
        let (status, _, _) = get_path(&app, "/api/v1/reports/feedback?format=xlsx").await;
        assert_eq!(status, 200);
        let (status, body, _) = get_path(&app, "/api/v1/reports/coverage?by=unit").await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["total"]["counts"]["frame"], 0);
        assert_eq!(json["min_responses"], 30);
        assert_eq!(json["total"]["satisfaction"]["small"], true);
        for format in ["csv", "xlsx"] {
            let uri = format!("/api/v1/reports/coverage?by=level&format={format}");
            assert_eq!(get_path(&app, &uri).await.0, 200, "{uri}");
        }
    }

    #[tokio::test]
    async fn bad_parameters_are_problems() {
        let (app, _dir) = app().await;
        for uri in [
            "/api/v1/reports/monthly",
            "/api/v1/reports/monthly?month=2026-13",
            "/api/v1/reports?by=district",
            "/api/v1/reports?score_min=11",
            "/api/v1/reports?from=2026-10-02&to=2026-10-01",
            "/api/v1/reports?format=pdf",
            "/api/v1/reports/coverage?by=campaign",
            "/api/v1/reports/coverage?disposition=completed",
        ] {
            let (status, _, ctype) = get_path(&app, uri).await;
            assert_eq!(
                (status, ctype.as_str()),
                (400, "application/problem+json"),
                "{uri}"
            );
        }
    }
}
