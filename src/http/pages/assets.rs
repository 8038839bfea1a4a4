//! The stylesheet and the review page's script, compiled in. No build step:
//! plain CSS and a few dozen lines of browser JavaScript.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "carecall.css",
        "text/css; charset=utf-8",
        include_str!("static/carecall.css"),
    ),
    (
        "review.js",
        "text/javascript; charset=utf-8",
        include_str!("static/review.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_str!("static/live.js"),
    ),
];

/// `GET /tai-nguyen/{file}`: one of the compiled-in files, cached for an hour
/// (they change only with a new binary).
pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "public, max-age=3600"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
