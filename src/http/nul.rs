//! NUL characters are refused at the edge, before any handler or database.
//!
//! PostgreSQL cannot store U+0000 in `text` (its strings are C strings) and
//! answers with an error naming the encoding and the value; SQLite stores it
//! and cuts the string at it in some functions. No legitimate form, query or
//! JSON value of ours contains one, so a request carrying one is a 400 with a
//! clear message, on both backends alike, and nothing is written.
//!
//! Checked: the path and query (`%00` once decoded, as axum's extractors
//! decode them), `application/x-www-form-urlencoded` bodies (`%00` or a raw
//! NUL) and JSON bodies (a raw NUL, or the escape `\u0000`, RFC 8259 §7).
//! Other bodies (audio uploads, none today) are left alone.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The most a JSON or form body may be (the router's body limit).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the client is told.
pub const NUL_REFUSED: &str =
    "Dữ liệu gửi lên chứa ký tự NUL (\\0), không được chấp nhận; hãy bỏ ký tự này rồi gửi lại.";

/// Middleware: 400 for a request whose URI, form or JSON body carries a NUL.
pub async fn reject_nul(req: Request, next: Next) -> Response {
    let uri = req.uri();
    if percent_nul(uri.path().as_bytes()) || uri.query().is_some_and(|q| percent_nul(q.as_bytes()))
    {
        return refused();
    }
    let kind = body_kind(&req);
    if kind == BodyKind::Other {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return ApiError::BadRequest(format!(
            "Nội dung gửi lên quá lớn hoặc bị ngắt giữa chừng (tối đa {} MB).",
            MAX_BODY / (1024 * 1024)
        ))
        .into_response();
    };
    let bad = match kind {
        BodyKind::Json => json_nul(&bytes),
        BodyKind::Form => bytes.contains(&0) || percent_nul(&bytes),
        BodyKind::Other => false,
    };
    if bad {
        return refused();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn refused() -> Response {
    ApiError::BadRequest(NUL_REFUSED.into()).into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Other,
}

fn body_kind(req: &Request) -> BodyKind {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return BodyKind::Other;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if mime == "application/json" || mime.ends_with("+json") {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

/// `%00` anywhere (what a URL decoder turns into NUL).
fn percent_nul(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w == b"%00")
}

/// A raw NUL, or a `\u0000` escape that is not itself an escaped backslash
/// followed by text (`\\u0000` is the six characters `\u0000`, harmless).
fn json_nul(bytes: &[u8]) -> bool {
    if bytes.contains(&0) {
        return true;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let next = bytes.get(i + 1).copied();
            if next == Some(b'u') && bytes.get(i + 2..i + 6) == Some(b"0000".as_slice()) {
                return true;
            }
            // Any escape is two characters at least: skip the escaped one.
            i += 2;
            continue;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_are_read_like_a_parser_would() {
        assert!(json_nul(br#"{"username":"admin\u0000"}"#));
        assert!(json_nul(b"{\"a\":\"x\0\"}"));
        assert!(json_nul(br#"["\\\u0000"]"#), "escaped backslash, then NUL");
        assert!(!json_nul(br#"["\\u0000"]"#), "the text \\u0000");
        assert!(json_nul(br#"{"a":"\u00001"}"#), "NUL, then the digit 1");
        assert!(!json_nul(r#"{"a":"\u0001 \u1000 tiếng Việt"}"#.as_bytes()));
        for v in ["x\0y", "\u{0}"] {
            let body = serde_json::to_vec(&serde_json::json!({ "v": v })).unwrap();
            assert!(json_nul(&body), "serde's own escaping of {v:?}");
        }
    }

    #[test]
    fn percent_encoded_nul_in_forms_and_queries() {
        assert!(percent_nul(b"username=admin%00&password=x"));
        assert!(!percent_nul(b"username=admin%2500&password=x"), "%25 is %");
        assert!(!percent_nul(b"q=100%&x=%0"));
    }
}
