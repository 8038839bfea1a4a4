//! What a page shows when a request fails: the login page for a missing
//! session, otherwise an HTML page in Vietnamese with the HTTP status the
//! API would have answered, so that tests and proxies see the same codes.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::render;
use crate::http::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No session, or an expired one: log in, then come back to `next`.
    #[error("log in first")]
    LogIn { next: Option<String> },
    /// Whatever the shared handler refused, with its status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A template failed to render: a bug in the templates, not in the request.
    #[error("page template {name}: {source}")]
    Template {
        name: &'static str,
        #[source]
        source: minijinja::Error,
    },
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        PageError::Api(e.into())
    }
}

impl PageError {
    /// A 400 with a message for the user.
    pub fn bad(msg: impl Into<String>) -> PageError {
        PageError::Api(ApiError::BadRequest(msg.into()))
    }
}

/// The Vietnamese heading for a status.
fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Dữ liệu không hợp lệ",
        401 => "Chưa đăng nhập",
        403 => "Không có quyền",
        404 => "Không tìm thấy",
        409 => "Không thực hiện được",
        429 => "Thử lại sau",
        _ => "Hệ thống đang gặp sự cố",
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            PageError::LogIn { next } => return login_redirect(next.as_deref()),
            PageError::Api(ApiError::Unauthorized(_)) => return login_redirect(None),
            PageError::Api(e) => {
                let detail = e.public_detail();
                // The API's own mapping decides the status; its body is dropped.
                (e.into_response().status(), detail)
            }
            PageError::Template { .. } => {
                tracing::error!(error = %self, "page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, self.to_string())
            }
        };
        let ctx = serde_json::json!({
            "status": status.as_u16(),
            "heading": heading(status),
            "detail": detail,
        });
        let body = render::html("error.html", &ctx).unwrap_or_else(|_| {
            Html(format!(
                "<!doctype html><meta charset=utf-8><h1>{}</h1>",
                heading(status)
            ))
        });
        (status, body).into_response()
    }
}

/// 303 to the login page, remembering a local path to return to.
fn login_redirect(next: Option<&str>) -> Response {
    match next.filter(|n| is_local_path(n)) {
        Some(n) => super::super::web_redirect(&format!(
            "/dang-nhap?next={}",
            super::filters::url_encode(n)
        )),
        None => super::super::web_redirect("/dang-nhap"),
    }
}

/// Only an absolute path on this site may be a redirect target: an open
/// redirect would let a phishing link borrow our name (OWASP Unvalidated
/// Redirects and Forwards Cheat Sheet). Browsers resolve `//host` as another
/// site (RFC 3986 §4.2, network-path reference), read `\` as `/` (WHATWG URL
/// "special" schemes) and drop tabs and newlines from a URL before parsing it,
/// so `/<TAB>/evil` and `/\evil` are `//evil` too: one leading `/`, then no
/// `/` or `\` next, no backslash or control character anywhere. The value is
/// the decoded one (the form or query was decoded once); a still-encoded
/// `%2F%2F` is a literal path segment on this site, harmless.
pub fn is_local_path(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !p.chars().any(|c| c == '\\' || c.is_control())
        && !p.contains("://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_redirect_targets() {
        assert!(is_local_path("/cuoc-goi?unit=DT"));
        assert!(!is_local_path("//evil.example/x"));
        assert!(!is_local_path("https://evil.example"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("cuoc-goi"));
        for evil in [
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "/\r\n/evil.example",
            "/\u{7f}/evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/x\\..\\\\evil.example",
            "",
            "javascript:alert(1)",
            "/%0a",
        ] {
            let ok = is_local_path(evil);
            // Still-encoded bytes are path text on this site, not control chars.
            assert_eq!(ok, evil == "/%0a", "{evil:?}");
        }
        assert!(is_local_path("/"));
        assert!(is_local_path("/cuoc-goi/1?next=//x"));
    }

    #[test]
    fn api_errors_keep_their_status() {
        let r = PageError::Api(ApiError::Forbidden("no".into())).into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = PageError::Api(ApiError::Unauthorized("x".into())).into_response();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/dang-nhap");
        let r = PageError::LogIn {
            next: Some("/cuoc-goi/1".into()),
        }
        .into_response();
        assert_eq!(r.headers()["location"], "/dang-nhap?next=%2Fcuoc-goi%2F1");
    }
}
