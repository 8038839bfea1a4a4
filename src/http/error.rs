//! One error type for every handler, rendered as RFC 9457 problem details.
//!
//! What the database driver said never reaches the client (it names tables,
//! constraints and sometimes the offending value: OWASP Error Handling Cheat
//! Sheet); it is logged, and the client reads a generic Vietnamese message.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// No or bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role or unit scope does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed logins; retry after the given seconds.
    #[error("too many failed logins; try again in {0} s")]
    TooManyRequests(u64),
    #[error("{0}")]
    Conflict(String),
    /// The request was not read and answered within `http.request_timeout_s`.
    #[error("Yêu cầu không hoàn tất trong thời gian cho phép; vui lòng gửi lại.")]
    RequestTimeout,
    #[error("{0}")]
    Unavailable(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            ApiError::Store(StoreError::InvalidTransition { .. }) => StatusCode::CONFLICT,
            ApiError::Store(StoreError::Constraint { .. }) => StatusCode::CONFLICT,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Told to clients instead of a database failure.
pub const DATABASE_TROUBLE: &str =
    "Hệ thống đang gặp sự cố cơ sở dữ liệu; vui lòng thử lại sau ít phút.";
/// Told to clients instead of a constraint the database refused.
pub const DATABASE_REFUSED: &str =
    "Dữ liệu trùng với bản ghi đã có hoặc tham chiếu tới bản ghi không tồn tại.";

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        self.status()
    }

    /// What the client may read: our own messages as they are, the
    /// database's replaced by a generic one (the original goes to the log).
    pub fn public_detail(&self) -> String {
        match self {
            ApiError::Store(StoreError::NotFound { .. })
            | ApiError::Store(StoreError::InvalidTransition { .. }) => self.to_string(),
            ApiError::Store(StoreError::Constraint { .. }) => {
                tracing::warn!(error = %self, "request refused by a database constraint");
                DATABASE_REFUSED.to_string()
            }
            ApiError::Store(_) => DATABASE_TROUBLE.to_string(),
            _ => self.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "API request failed");
        }
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": self.public_detail(),
        });
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(body),
        )
            .into_response();
        let extra = match &self {
            ApiError::Unauthorized(_) => Some((header::WWW_AUTHENTICATE, "Bearer".to_string())),
            ApiError::TooManyRequests(s) => Some((header::RETRY_AFTER, s.to_string())),
            _ => None,
        };
        if let Some((name, value)) = extra
            && let Ok(v) = header::HeaderValue::from_str(&value)
        {
            resp.headers_mut().insert(name, v);
        }
        resp
    }
}

/// JSON bodies that fail to parse are 400 problems too (axum's default is text).
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_text_never_reaches_the_client() {
        let driver = || {
            sqlx::Error::Protocol(
                "invalid byte sequence for encoding \"UTF8\": 0x00 in users".into(),
            )
        };
        for e in [
            ApiError::Store(StoreError::Query {
                op: "user_for_login",
                source: driver(),
            }),
            ApiError::Store(StoreError::Constraint {
                op: "create_user",
                source: driver(),
            }),
        ] {
            let detail = e.public_detail();
            assert!(
                !detail.contains("0x00") && !detail.contains("users"),
                "{detail}"
            );
        }
    }
}
