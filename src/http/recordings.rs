//! Recordings for the review page: the call's stereo WAV and its spoken-answer
//! clips streamed with Range support (so the browser's player can seek), the
//! waveform peaks, and a JSON listing with the answer marks and the clips.
//!
//! The work is in plain async functions over [`AppState`] taking the caller's
//! unit scope (`None` = every unit; otherwise already expanded to the units
//! below), so that the auth layer can wrap them; the `get_*` functions are the
//! thin axum adapters, without a scope.
//!
//! Files are streamed from disk in chunks, never read whole. A path read from
//! the database is served only if, once symlinks are resolved, it lies inside
//! `config.recordings.dir`: a row edited to point at `/etc/shadow` gets a 404.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use super::range::{self, RangeDecision};
use crate::auth::Permission;
use crate::media::waveform::{self, DEFAULT_BUCKETS, Waveform};
use crate::store::{AnswerKind, AnswerRecord, CallId};

/// Read size of the file stream: a few packets' worth of TCP, little memory.
const CHUNK: usize = 64 * 1024;

/// What the client asked for, from its headers and the `download` flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaRequest {
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub if_none_match: Option<String>,
    /// `Content-Disposition: attachment` instead of playing inline.
    pub download: bool,
}

impl MediaRequest {
    pub fn from_headers(headers: &HeaderMap, download: bool) -> MediaRequest {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        MediaRequest {
            range: get(header::RANGE),
            if_range: get(header::IF_RANGE),
            if_none_match: get(header::IF_NONE_MATCH),
            download,
        }
    }
}

/// URL of a call's recording listing; the others are built from it.
pub fn recording_url(call: &CallId) -> String {
    format!("/api/v1/calls/{}/recording", url_segment(call.as_str()))
}

/// URL of a spoken-answer clip.
pub fn clip_url(call: &CallId, key: &str) -> String {
    format!(
        "/api/v1/calls/{}/clips/{}",
        url_segment(call.as_str()),
        url_segment(key)
    )
}

/// The recording file itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingFile {
    pub seconds: f64,
    pub bytes: u64,
    pub sha256: String,
    pub url: String,
    pub download_url: String,
    pub waveform_url: String,
}

/// Where an answer was given in the recording, for the player's markers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerMark {
    pub key: String,
    pub kind: AnswerKind,
    pub value: Option<String>,
    /// Seconds from the start of the recording; `None` if unknown.
    pub offset_seconds: Option<f64>,
    /// The latest revision, the one shown.
    pub revision: i64,
}

/// A spoken answer's own clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipInfo {
    pub key: String,
    pub url: String,
    pub ms: Option<i64>,
    pub sha256: Option<String>,
}

/// `GET .../recording`: what the review page needs besides the audio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingListing {
    pub call_id: CallId,
    /// `None` while the call runs or if nothing was recorded.
    pub recording: Option<RecordingFile>,
    pub marks: Vec<AnswerMark>,
    pub clips: Vec<ClipInfo>,
}

/// The listing of a call's recording, marks and clips.
pub async fn recording_listing(
    state: &AppState,
    call: &CallId,
    scope: Option<&[String]>,
) -> Result<RecordingListing, ApiError> {
    check_scope(state, call, scope).await?;
    let rec = state.store.recording_of_call(call).await?;
    let answers = state.store.call_answers(call).await?;
    let base = recording_url(call);
    Ok(RecordingListing {
        call_id: call.clone(),
        recording: rec.map(|r| RecordingFile {
            seconds: r.seconds,
            bytes: r.bytes,
            sha256: r.sha256,
            url: base.clone(),
            download_url: format!("{base}?download=1"),
            waveform_url: format!("/api/v1/calls/{}/waveform", url_segment(call.as_str())),
        }),
        marks: answers.iter().map(mark).collect(),
        clips: answers
            .iter()
            .filter(|a| is_clip(a))
            .map(|a| ClipInfo {
                key: a.key.clone(),
                url: clip_url(call, &a.key),
                ms: a.clip_seconds.map(|s| (s * 1000.0).round() as i64),
                sha256: a.clip_sha256.clone(),
            })
            .collect(),
    })
}

/// Streams the call's latest recording (200, 206 or 416; 304 on a matching
/// `If-None-Match`).
pub async fn recording_audio(
    state: &AppState,
    call: &CallId,
    scope: Option<&[String]>,
    req: &MediaRequest,
) -> Result<Response, ApiError> {
    check_scope(state, call, scope).await?;
    let rec = state
        .store
        .recording_of_call(call)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call {call} has no recording")))?;
    let path = inside_recordings(state, &rec.path).await?;
    let name = format!("carecall-{}.wav", file_safe(call.as_str()));
    serve_file(&path, Some(&rec.sha256), &name, req).await
}

/// Streams the clip of answer `key` (latest revision) of the call.
pub async fn clip_audio(
    state: &AppState,
    call: &CallId,
    key: &str,
    scope: Option<&[String]>,
    req: &MediaRequest,
) -> Result<Response, ApiError> {
    check_scope(state, call, scope).await?;
    let answers = state.store.call_answers(call).await?;
    let clip = answers
        .iter()
        .find(|a| a.key == key && is_clip(a))
        .ok_or_else(|| ApiError::NotFound(format!("call {call} has no clip for {key:?}")))?;
    let stored = clip.clip_path.as_deref().unwrap_or_default();
    let path = inside_recordings(state, stored).await?;
    let name = format!(
        "carecall-{}-{}.wav",
        file_safe(call.as_str()),
        file_safe(key)
    );
    serve_file(&path, clip.clip_sha256.as_deref(), &name, req).await
}

/// Min/max peaks of the call's recording in `buckets` columns per channel.
pub async fn recording_waveform(
    state: &AppState,
    call: &CallId,
    scope: Option<&[String]>,
    buckets: usize,
) -> Result<Waveform, ApiError> {
    check_scope(state, call, scope).await?;
    let rec = state
        .store
        .recording_of_call(call)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call {call} has no recording")))?;
    let path = inside_recordings(state, &rec.path).await?;
    tokio::task::spawn_blocking(move || waveform::from_path(&path, buckets))
        .await
        .map_err(|e| ApiError::Unavailable(format!("waveform task failed: {e}")))?
        .map_err(|e| ApiError::Unavailable(format!("recording of call {call}: {e}")))
}

#[derive(Debug, Default, Deserialize)]
pub struct AudioQuery {
    /// `?download=1` (or `true`).
    #[serde(default)]
    pub download: Option<String>,
}

impl AudioQuery {
    fn download(&self) -> bool {
        matches!(self.download.as_deref(), Some("1" | "true" | "yes"))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct WaveformQuery {
    pub buckets: Option<usize>,
}

/// The scope of a reader of results (403 for roles that may not read them).
fn reader_scope(p: &Principal) -> Result<Option<Vec<String>>, ApiError> {
    p.require(Permission::ReadResults)?;
    Ok(p.scope.unit_codes())
}

/// `GET /api/v1/calls/{id}/recording/marks`
pub async fn get_recording(
    p: Principal,
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<RecordingListing>, ApiError> {
    let scope = reader_scope(&p)?;
    recording_listing(&s, &CallId(id), scope.as_deref())
        .await
        .map(Json)
}

/// `GET /api/v1/calls/{id}/recording[?download=1]`
pub async fn get_recording_audio(
    p: Principal,
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&p)?;
    let req = MediaRequest::from_headers(&headers, q.download());
    recording_audio(&s, &CallId(id), scope.as_deref(), &req).await
}

/// `GET /api/v1/calls/{id}/waveform[?buckets=800]`
pub async fn get_recording_waveform(
    p: Principal,
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<WaveformQuery>,
) -> Result<Json<Waveform>, ApiError> {
    let scope = reader_scope(&p)?;
    let buckets = q.buckets.unwrap_or(DEFAULT_BUCKETS);
    recording_waveform(&s, &CallId(id), scope.as_deref(), buckets)
        .await
        .map(Json)
}

/// `GET /api/v1/calls/{id}/clips/{key}[?download=1]`
pub async fn get_clip_audio(
    p: Principal,
    State(s): State<AppState>,
    UrlPath((id, key)): UrlPath<(String, String)>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&p)?;
    let req = MediaRequest::from_headers(&headers, q.download());
    clip_audio(&s, &CallId(id), &key, scope.as_deref(), &req).await
}

/// 404 (not 403, so as not to confirm the call exists) when the call is
/// unknown or outside `scope`.
async fn check_scope(
    state: &AppState,
    call: &CallId,
    scope: Option<&[String]>,
) -> Result<(), ApiError> {
    // An unknown call is StoreError::NotFound, a 404 too.
    let unit = state.store.call_unit(call).await?;
    match scope {
        None => Ok(()),
        Some(units) if unit.is_some_and(|u| units.contains(&u)) => Ok(()),
        Some(_) => Err(ApiError::NotFound(format!("no call {call}"))),
    }
}

fn is_clip(a: &AnswerRecord) -> bool {
    a.kind == AnswerKind::Clip && a.clip_path.is_some()
}

fn mark(a: &AnswerRecord) -> AnswerMark {
    AnswerMark {
        key: a.key.clone(),
        kind: a.kind,
        value: a.value.clone(),
        offset_seconds: a.offset_ms.map(|ms| ms as f64 / 1000.0),
        revision: a.revision,
    }
}

/// The canonical path of `stored`, if it is a file inside the recordings
/// directory. Both sides are canonicalised, so `..` and symlinks cannot lead
/// out; relative paths resolve against the working directory, as the
/// recorder wrote them.
async fn inside_recordings(state: &AppState, stored: &str) -> Result<PathBuf, ApiError> {
    let missing = || ApiError::NotFound("recording file is not available".into());
    let dir = tokio::fs::canonicalize(&state.config.recordings.dir)
        .await
        .map_err(|e| {
            tracing::warn!(dir = %state.config.recordings.dir.display(), error = %e,
                "recordings directory is not readable");
            missing()
        })?;
    let path = tokio::fs::canonicalize(stored)
        .await
        .map_err(|_| missing())?;
    if !is_within(&dir, &path) {
        tracing::warn!(path = %path.display(), dir = %dir.display(),
            "refusing to serve a recording outside the recordings directory");
        return Err(missing());
    }
    Ok(path)
}

/// Component-wise prefix test (`/rec` does not contain `/recordings2/x`).
fn is_within(dir: &Path, path: &Path) -> bool {
    path.starts_with(dir) && path != dir
}

/// Answers a GET of `path` per the Range decision (RFC 9110 §14, §15.3.7).
async fn serve_file(
    path: &Path,
    sha256: Option<&str>,
    filename: &str,
    req: &MediaRequest,
) -> Result<Response, ApiError> {
    let unavailable = |e: std::io::Error| ApiError::Unavailable(format!("recording file: {e}"));
    let mut file = tokio::fs::File::open(path).await.map_err(unavailable)?;
    let meta = file.metadata().await.map_err(unavailable)?;
    let len = meta.len();
    let etag = etag(sha256, len, meta.modified().ok());
    let base = base_response(etag.as_deref(), filename, req.download);
    if let (Some(tag), Some(inm)) = (&etag, &req.if_none_match)
        && if_none_match_hits(inm, tag)
    {
        return finish(base.status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    match range::decide(
        req.range.as_deref(),
        req.if_range.as_deref(),
        etag.as_deref(),
        len,
    ) {
        RangeDecision::Full => {
            let body = Body::from_stream(ReaderStream::with_capacity(file, CHUNK));
            let b = base
                .status(StatusCode::OK)
                .header(header::CONTENT_LENGTH, len);
            finish(b, body)
        }
        RangeDecision::Partial(r) => {
            file.seek(std::io::SeekFrom::Start(r.start))
                .await
                .map_err(unavailable)?;
            let part = file.take(r.len());
            let body = Body::from_stream(ReaderStream::with_capacity(part, CHUNK));
            let b = base
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_LENGTH, r.len())
                .header(header::CONTENT_RANGE, r.content_range(len));
            finish(b, body)
        }
        RangeDecision::Unsatisfiable => {
            let b = base
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, range::unsatisfied_content_range(len));
            finish(b, Body::empty())
        }
    }
}

/// The entity tag of a served file: the SHA-256 stored when it was written,
/// plus its size and modification time now. The stored hash alone would stay
/// the same if the file were replaced on disk, and browsers would keep
/// playing (and `If-Range` would splice) the old bytes; with size and mtime
/// the tag changes with the file (RFC 9110 §8.8.3: a strong validator must
/// change whenever the representation does). `carecall audit verify`
/// re-hashes the files themselves; hashing tens of MB per request is not
/// done here.
fn etag(sha256: Option<&str>, len: u64, modified: Option<std::time::SystemTime>) -> Option<String> {
    let sha = sha256.filter(|s| !s.is_empty())?;
    let nanos = modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some(format!("\"{sha}-{len:x}-{nanos:x}\""))
}

fn base_response(
    etag: Option<&str>,
    filename: &str,
    download: bool,
) -> axum::http::response::Builder {
    let mut b = Response::builder()
        .header(header::CONTENT_TYPE, "audio/wav")
        .header(header::ACCEPT_RANGES, "bytes")
        // Citizens' voices: no shared caches; the browser revalidates by ETag.
        .header(header::CACHE_CONTROL, "private, no-cache");
    if let Some(tag) = etag {
        b = b.header(header::ETAG, tag);
    }
    let disposition = if download { "attachment" } else { "inline" };
    b.header(
        header::CONTENT_DISPOSITION,
        format!("{disposition}; filename=\"{filename}\""),
    )
}

fn finish(b: axum::http::response::Builder, body: Body) -> Result<Response, ApiError> {
    b.body(body)
        .map_err(|e| ApiError::Unavailable(format!("building the response: {e}")))
}

/// RFC 9110 §13.1.2: `*` or a list of tags, compared weakly (a `W/` prefix is ignored).
fn if_none_match_hits(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// Keeps `[A-Za-z0-9._-]`: safe in a quoted filename and a URL path segment.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Percent-encodes everything but RFC 3986 §2.3 unreserved characters.
fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_is_component_wise() {
        assert!(is_within(Path::new("/rec"), Path::new("/rec/2025/a.wav")));
        assert!(!is_within(
            Path::new("/rec"),
            Path::new("/recordings/a.wav")
        ));
        assert!(!is_within(Path::new("/rec"), Path::new("/rec")));
        assert!(!is_within(Path::new("/rec"), Path::new("/etc/passwd")));
    }

    #[test]
    fn etag_changes_with_the_file() {
        let t = |s| Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        let base = etag(Some("ab"), 10, t(5)).unwrap();
        assert!(base.starts_with("\"ab-") && base.ends_with('"'), "{base}");
        assert_eq!(etag(Some("ab"), 10, t(5)).unwrap(), base);
        assert_ne!(etag(Some("ab"), 11, t(5)).unwrap(), base, "size");
        assert_ne!(etag(Some("ab"), 10, t(6)).unwrap(), base, "mtime");
        assert_ne!(etag(Some("cd"), 10, t(5)).unwrap(), base, "stored hash");
        assert_eq!(etag(None, 10, t(5)), None);
        assert_eq!(etag(Some(""), 10, t(5)), None);
    }

    #[test]
    fn if_none_match() {
        assert!(if_none_match_hits("\"a\"", "\"a\""));
        assert!(if_none_match_hits("\"x\", W/\"a\"", "\"a\""));
        assert!(if_none_match_hits("*", "\"a\""));
        assert!(!if_none_match_hits("\"b\"", "\"a\""));
    }

    #[test]
    fn names_and_urls_are_escaped() {
        assert_eq!(file_safe("a/b\"c.wav"), "a_b_c.wav");
        assert_eq!(url_segment("q 3/é"), "q%203%2F%C3%A9");
        let call = CallId("c-1".into());
        assert_eq!(recording_url(&call), "/api/v1/calls/c-1/recording");
        assert_eq!(clip_url(&call, "q3"), "/api/v1/calls/c-1/clips/q3");
    }

    #[test]
    fn download_flag() {
        let q = |v: Option<&str>| AudioQuery {
            download: v.map(str::to_string),
        };
        assert!(q(Some("1")).download());
        assert!(q(Some("true")).download());
        assert!(!q(Some("0")).download());
        assert!(!q(None).download());
    }
}
