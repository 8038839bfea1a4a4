//! Recordings API (Range streaming, waveform, marks, path confinement, unit
//! scope) through an axum Router with `oneshot`, on a temp SQLite store with a
//! generated WAV; the complaints life cycle on SQLite and PostgreSQL.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use carecall::auth::Secret;
use carecall::config::Config;
use carecall::http::{AppState, complaints, recordings};
use carecall::store::{
    AnswerKind, CallId, Dossier, NewAnswer, NewCall, NewRecording, NewUser, ResponseId, Store,
    UnitRecord,
};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_760_000_000_000 + ms).unwrap()
}

fn state(store: &Store, recordings_dir: &Path) -> AppState {
    let mut config = Config::default();
    config.recordings.dir = recordings_dir.to_path_buf();
    AppState::new(store.clone(), Arc::new(config), "test".into())
}

/// The real router, as an administrator: every request carries an admin's
/// bearer token (authentication and scopes are tested in tests/api.rs).
async fn router(state: AppState) -> Router {
    let id = state
        .store
        .create_user(&NewUser {
            username: "admin",
            display_name: "admin",
            password_hash: "unused",
            role: "admin",
            unit_code: None,
        })
        .await
        .unwrap();
    let token = Secret::new("cc_tok");
    state
        .store
        .create_token(&token.hash(), &id, "test", None)
        .await
        .unwrap();
    let value = header::HeaderValue::from_str(&format!("Bearer {}", token.as_str())).unwrap();
    carecall::http::app(state).layer(axum::middleware::map_request(
        move |mut req: Request<Body>| {
            let value = value.clone();
            async move {
                req.headers_mut().insert(header::AUTHORIZATION, value);
                req
            }
        },
    ))
}

/// A stereo 8 kHz 16-bit WAV whose samples are a known ramp.
fn write_wav(path: &Path, frames: usize) -> Vec<u8> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        w.write_sample((i % 2000) as i16 - 1000).unwrap();
        w.write_sample(-((i % 500) as i16)).unwrap();
    }
    w.finalize().unwrap();
    std::fs::read(path).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn dossier(code: &str, unit: &str) -> Dossier {
    Dossier {
        code: code.into(),
        procedure: "Đăng ký khai sinh".into(),
        field: "Hộ tịch".into(),
        unit_code: unit.into(),
        applicant_kind: "person".into(),
        applicant_name: "Trần Thị B".into(),
        phone: "0912345678".into(),
        received_at: Some(at(0)),
        returned_at: Some(at(1000)),
        created_at: at(0),
    }
}

fn answer(key: &str, kind: AnswerKind, value: Option<&str>, ms: i64) -> NewAnswer {
    NewAnswer {
        key: key.into(),
        kind,
        value: value.map(Into::into),
        why: None,
        offset_ms: Some(ms),
        clip_path: None,
        clip_seconds: None,
        clip_sha256: None,
        answered_at: at(ms),
    }
}

/// A call on a dossier of `unit` (imported) with a response; returns both ids.
async fn call_with_response(
    store: &Store,
    dossier_code: &str,
    unit: &str,
    started: i64,
) -> (CallId, ResponseId) {
    store
        .upsert_dossier(&dossier(dossier_code, unit))
        .await
        .unwrap();
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some(dossier_code.into()),
            sip_call_id: None,
            destination: "0912345678".into(),
            caller_id: "1022".into(),
            dialplan: "survey-1022".into(),
            started_at: at(started),
        })
        .await
        .unwrap();
    let resp = store
        .start_response(&call, Some(dossier_code), "survey-1022")
        .await
        .unwrap();
    (call, resp)
}

async fn add_recording(store: &Store, call: &CallId, path: &Path, bytes: &[u8]) {
    store
        .add_recording(
            call,
            &NewRecording {
                path: path.display().to_string(),
                seconds: 1.0,
                sha256: sha256(bytes),
                bytes: bytes.len() as u64,
                created_at: at(60_000),
            },
        )
        .await
        .unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    rec_dir: PathBuf,
    outside: PathBuf,
    store: Store,
    call: CallId,
    wav: Vec<u8>,
    clip: Vec<u8>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carecall.db").display());
    let store = Store::connect(&url).await.unwrap();
    let rec_dir = dir.path().join("recordings");
    let (call, resp) = call_with_response(&store, "HS-1", "XA-A", 0).await;
    let wav_path = rec_dir.join("2025/10/09").join(format!("{call}.wav"));
    let wav = write_wav(&wav_path, 8000);
    add_recording(&store, &call, &wav_path, &wav).await;
    store
        .add_answer(&resp, &answer("q1", AnswerKind::Value, Some("2"), 4_000))
        .await
        .unwrap();
    store
        .add_answer(&resp, &answer("q1", AnswerKind::Value, Some("1"), 4_500))
        .await
        .unwrap();
    let clip_path = rec_dir.join("2025/10/09").join(format!("{call}.q3.wav"));
    let clip = write_wav(&clip_path, 800);
    let mut q3 = answer("q3", AnswerKind::Clip, None, 12_250);
    q3.clip_path = Some(clip_path.display().to_string());
    q3.clip_seconds = Some(0.1);
    q3.clip_sha256 = Some(sha256(&clip));
    store.add_answer(&resp, &q3).await.unwrap();
    let outside = dir.path().join("outside.wav");
    write_wav(&outside, 100);
    Fixture {
        _dir: dir,
        rec_dir,
        outside,
        store,
        call,
        wav,
        clip,
    }
}

async fn send(
    app: &Router,
    uri: &str,
    range: Option<&str>,
) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    if let Some(r) = range {
        req = req.header(header::RANGE, r);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

fn h(headers: &header::HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn full_get_streams_the_whole_wav() {
    let f = fixture().await;
    let app = router(state(&f.store, &f.rec_dir)).await;
    let uri = format!("/api/v1/calls/{}/recording", f.call);
    let (status, headers, body) = send(&app, &uri, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, f.wav);
    assert_eq!(h(&headers, header::CONTENT_TYPE), "audio/wav");
    assert_eq!(h(&headers, header::ACCEPT_RANGES), "bytes");
    assert_eq!(h(&headers, header::CONTENT_LENGTH), f.wav.len().to_string());
    assert!(
        h(&headers, header::ETAG).starts_with(&format!("\"{}-", sha256(&f.wav))),
        "the ETag is the stored hash plus size and mtime"
    );
    assert!(h(&headers, header::CONTENT_DISPOSITION).starts_with("inline"));

    let (_, headers, _) = send(&app, &format!("{uri}?download=1"), None).await;
    assert_eq!(
        h(&headers, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"carecall-{}.wav\"", f.call)
    );
}

#[tokio::test]
async fn ranges_give_exact_slices() {
    let f = fixture().await;
    let app = router(state(&f.store, &f.rec_dir)).await;
    let uri = format!("/api/v1/calls/{}/recording", f.call);
    let len = f.wav.len();

    let (status, headers, body) = send(&app, &uri, Some("bytes=0-99")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body.len(), 100);
    assert_eq!(body, f.wav[..100]);
    assert_eq!(
        h(&headers, header::CONTENT_RANGE),
        format!("bytes 0-99/{len}")
    );
    assert_eq!(h(&headers, header::CONTENT_LENGTH), "100");

    let (status, headers, body) = send(&app, &uri, Some("bytes=-100")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, f.wav[len - 100..]);
    assert_eq!(
        h(&headers, header::CONTENT_RANGE),
        format!("bytes {}-{}/{len}", len - 100, len - 1)
    );

    let (status, headers, body) = send(&app, &uri, Some("bytes=1000-")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, f.wav[1000..]);
    assert_eq!(
        h(&headers, header::CONTENT_RANGE),
        format!("bytes 1000-{}/{len}", len - 1)
    );

    let (status, headers, body) = send(&app, &uri, Some(&format!("bytes={len}-"))).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert!(body.is_empty());
    assert_eq!(h(&headers, header::CONTENT_RANGE), format!("bytes */{len}"));

    // A cached copy revalidates by ETag; a stale If-Range gets the whole file.
    let (_, headers, _) = send(&app, &uri, None).await;
    let etag = h(&headers, header::ETAG).to_owned();
    let req = Request::get(&uri)
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    for (if_range, want) in [
        (etag.as_str(), StatusCode::PARTIAL_CONTENT),
        ("\"old\"", StatusCode::OK),
    ] {
        let req = Request::get(&uri)
            .header(header::RANGE, "bytes=0-9")
            .header(header::IF_RANGE, if_range)
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.clone().oneshot(req).await.unwrap().status(), want);
    }

    let (status, _, body) = send(&app, &uri, Some("bytes=99-0")).await;
    assert_eq!(status, StatusCode::OK, "a malformed Range is ignored");
    assert_eq!(body, f.wav);
}

#[tokio::test]
async fn clip_streams_with_ranges() {
    let f = fixture().await;
    let app = router(state(&f.store, &f.rec_dir)).await;
    let uri = format!("/api/v1/calls/{}/clips/q3", f.call);
    let (status, headers, body) = send(&app, &uri, Some("bytes=44-")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, f.clip[44..]);
    assert!(
        h(&headers, header::ETAG).starts_with(&format!("\"{}-", sha256(&f.clip))),
        "{headers:?}"
    );
    let (status, _, _) = send(&app, &format!("/api/v1/calls/{}/clips/q1", f.call), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "q1 is a keypad answer, no clip"
    );
}

/// A file replaced on disk behind the database's back is not served under
/// the old ETag: the browser's cached copy is not revalidated as current, and
/// an If-Range with the old tag gets the whole new file, not a spliced range.
#[tokio::test]
async fn etag_changes_when_the_file_changes_on_disk() {
    let f = fixture().await;
    let app = router(state(&f.store, &f.rec_dir)).await;
    for uri in [
        format!("/api/v1/calls/{}/recording", f.call),
        format!("/api/v1/calls/{}/clips/q3", f.call),
    ] {
        let (_, headers, body) = send(&app, &uri, None).await;
        let old = h(&headers, header::ETAG).to_owned();
        let path = if uri.ends_with("q3") {
            f.rec_dir
                .join("2025/10/09")
                .join(format!("{}.q3.wav", f.call))
        } else {
            f.rec_dir.join("2025/10/09").join(format!("{}.wav", f.call))
        };
        // Same length, other bytes: only the content (and mtime) differ.
        let mut forged = body.clone();
        let last = forged.len() - 1;
        forged[last] ^= 0xff;
        std::fs::write(&path, &forged).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        let req = Request::get(&uri)
            .header(header::IF_NONE_MATCH, &old)
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "{uri}: not 304 for a changed file"
        );
        let new = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_ne!(new, old, "{uri}");
        let req = Request::get(&uri)
            .header(header::RANGE, "bytes=0-9")
            .header(header::IF_RANGE, &old)
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}: stale If-Range");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body.as_ref(), forged.as_slice());
    }
}

#[tokio::test]
async fn listing_has_marks_and_clips() {
    let f = fixture().await;
    let app = router(state(&f.store, &f.rec_dir)).await;
    let (status, _, body) = send(
        &app,
        &format!("/api/v1/calls/{}/recording/marks", f.call),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let base = format!("/api/v1/calls/{}/recording", f.call);
    assert_eq!(v["recording"]["bytes"], json!(f.wav.len()));
    assert_eq!(v["recording"]["sha256"], json!(sha256(&f.wav)));
    assert_eq!(v["recording"]["url"], json!(base));
    assert_eq!(v["marks"].as_array().unwrap().len(), 2);
    assert_eq!(v["marks"][0]["key"], "q1");
    assert_eq!(v["marks"][0]["value"], "1", "the latest revision is shown");
    assert_eq!(v["marks"][0]["revision"], 2);
    assert_eq!(v["marks"][0]["offset_seconds"], json!(4.5));
    assert_eq!(v["marks"][1]["offset_seconds"], json!(12.25));
    assert_eq!(
        v["clips"],
        json!([{ "key": "q3", "url": format!("/api/v1/calls/{}/clips/q3", f.call),
                 "ms": 100, "sha256": sha256(&f.clip) }])
    );

    let (status, _, _) = send(&app, "/api/v1/calls/nope/recording/marks", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn waveform_json() {
    let f = fixture().await;
    let app = router(state(&f.store, &f.rec_dir)).await;
    let uri = format!("/api/v1/calls/{}/waveform?buckets=4", f.call);
    let (status, _, body) = send(&app, &uri, None).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["channels"], 2);
    assert_eq!(v["frames"], 8000);
    assert_eq!(v["buckets"], 4);
    // Left is a ramp -1000..=999 repeating every 2000 frames: one period per bucket.
    assert_eq!(
        v["peaks"][0]["data"],
        json!([-1000, 999, -1000, 999, -1000, 999, -1000, 999])
    );
    assert_eq!(v["peaks"][1]["data"][0], -499);
}

#[tokio::test]
async fn paths_outside_the_recordings_dir_are_refused() {
    let f = fixture().await;
    let app = router(state(&f.store, &f.rec_dir)).await;
    // Absolute path elsewhere, a `..` escape, and a symlink inside pointing out.
    let link = f.rec_dir.join("link.wav");
    std::os::unix::fs::symlink(&f.outside, &link).unwrap();
    let dotdot = f.rec_dir.join("2025/../../outside.wav");
    for path in [f.outside.clone(), dotdot, link] {
        let (call, _) = call_with_response(&f.store, "HS-X", "XA-A", 10).await;
        add_recording(&f.store, &call, &path, b"x").await;
        let uri = format!("/api/v1/calls/{call}/recording");
        let (status, headers, _) = send(&app, &uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", path.display());
        assert_eq!(
            h(&headers, header::CONTENT_TYPE),
            "application/problem+json"
        );
        let wf = format!("/api/v1/calls/{call}/waveform");
        assert_eq!(send(&app, &wf, None).await.0, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn unit_scope_hides_other_units_recordings() {
    let f = fixture().await;
    let s = state(&f.store, &f.rec_dir);
    let req = recordings::MediaRequest::default();
    let mine = ["XA-A".to_string()];
    let other = ["XA-B".to_string()];
    let ok = recordings::recording_audio(&s, &f.call, Some(&mine), &req).await;
    assert_eq!(ok.unwrap().status(), StatusCode::OK);
    let err = recordings::recording_audio(&s, &f.call, Some(&other), &req).await;
    assert!(matches!(err, Err(carecall::http::ApiError::NotFound(_))));
    let err = recordings::recording_listing(&s, &f.call, Some(&other)).await;
    assert!(matches!(err, Err(carecall::http::ApiError::NotFound(_))));
    let err = recordings::clip_audio(&s, &f.call, "q3", Some(&other), &req).await;
    assert!(matches!(err, Err(carecall::http::ApiError::NotFound(_))));
}

async fn post_json(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(app, uri, None).await;
    (status, serde_json::from_slice(&body).unwrap())
}

both_backends!(complaint_life_cycle, complaint_scope_and_filters);

mod cases {
    use super::*;
    use carecall::store::complaints::ComplaintState;

    async fn units(store: &Store) {
        for (code, level, parent) in [
            ("TINH", "province", None),
            ("HUYEN-A", "district", Some("TINH")),
            ("XA-A", "commune", Some("HUYEN-A")),
            ("HUYEN-B", "district", Some("TINH")),
            ("XA-B", "commune", Some("HUYEN-B")),
        ] {
            store
                .upsert_unit(&UnitRecord {
                    code: code.into(),
                    name: format!("Đơn vị {code}"),
                    level: level.into(),
                    parent: parent.map(Into::into),
                })
                .await
                .unwrap();
        }
    }

    /// A clip complaint in XA-A, a text complaint in XA-B, and two responses
    /// that are not complaints (empty text; a clip later revised to unanswered).
    async fn complaints(store: &Store) -> (ResponseId, ResponseId) {
        units(store).await;
        let (call, clip_resp) = call_with_response(store, "HS-1", "XA-A", 1_000).await;
        let mut q3 = answer("q3", AnswerKind::Clip, None, 5_000);
        q3.clip_path = Some(format!("recordings/{call}.q3.wav"));
        q3.clip_seconds = Some(4.2);
        store.add_answer(&clip_resp, &q3).await.unwrap();

        let (_, text_resp) = call_with_response(store, "HS-2", "XA-B", 2_000).await;
        let text = answer(
            "q3",
            AnswerKind::Value,
            Some("Cán bộ hẹn lại nhiều lần"),
            5_000,
        );
        store.add_answer(&text_resp, &text).await.unwrap();

        let (_, empty) = call_with_response(store, "HS-3", "XA-A", 3_000).await;
        let blank = answer("q3", AnswerKind::Value, Some(""), 5_000);
        store.add_answer(&empty, &blank).await.unwrap();

        let (_, revised) = call_with_response(store, "HS-4", "XA-A", 4_000).await;
        store.add_answer(&revised, &q3).await.unwrap();
        let mut none = answer("q3", AnswerKind::Unanswered, None, 6_000);
        none.why = Some("noise only".into());
        store.add_answer(&revised, &none).await.unwrap();
        (clip_resp, text_resp)
    }

    pub async fn complaint_life_cycle(store: &Store, _url: &str) {
        let (clip_resp, _) = complaints(store).await;
        let dir = tempfile::tempdir().unwrap();
        let app = router(state(store, dir.path())).await;
        let actions = format!("/api/v1/complaints/{clip_resp}/actions");

        let (status, list) = get_json(&app, "/api/v1/complaints").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
        assert_eq!(list[0]["answer"]["value"], "Cán bộ hẹn lại nhiều lần");
        assert_eq!(list[0]["clip_url"], Value::Null);
        assert_eq!(list[1]["response_id"], json!(clip_resp));
        assert_eq!(list[1]["state"], "open");
        assert_eq!(list[1]["assigned_unit"], "XA-A");
        assert!(list[1]["clip_url"].as_str().unwrap().ends_with("/clips/q3"));

        // Forward without a unit: to the dossier's unit; `opened` comes first.
        let (status, c) = post_json(&app, &actions, json!({ "action": "forwarded" })).await;
        assert_eq!(status, StatusCode::OK, "{c}");
        assert_eq!(c["state"], "forwarded");
        let kinds: Vec<&str> = c["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["opened", "forwarded"]);
        assert_eq!(c["events"][1]["unit_code"], "XA-A");
        assert_eq!(c["events"][1]["seq"], 2);
        assert_eq!(c["events"][1]["actor"], "admin");

        let (_, c) = post_json(
            &app,
            &actions,
            json!({ "action": "note", "note": "Đã gọi lại" }),
        )
        .await;
        assert_eq!(c["state"], "forwarded");
        let (status, c) = post_json(&app, &actions, json!({ "action": "resolved" })).await;
        assert_eq!(
            (status, c["state"].as_str()),
            (StatusCode::OK, Some("resolved"))
        );

        // Can't resolve twice, can't forward a resolved complaint: nothing written.
        let (status, p) = post_json(&app, &actions, json!({ "action": "resolved" })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{p}");
        let (status, _) = post_json(&app, &actions, json!({ "action": "forwarded" })).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = post_json(&app, &actions, json!({ "action": "reopen" })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unknown action");
        let (_, c) = get_json(&app, &format!("/api/v1/complaints/{clip_resp}")).await;
        assert_eq!(c["events"].as_array().unwrap().len(), 4);

        // Reopen, then forward up to the district, by code, with the actor given.
        let (_, c) = post_json(&app, &actions, json!({ "action": "reopened" })).await;
        assert_eq!(c["state"], "open");
        let s = state(store, dir.path());
        let body: complaints::ActionBody =
            serde_json::from_value(json!({ "action": "forwarded", "unit": "HUYEN-A" })).unwrap();
        let d = complaints::complaint_action(&s, &clip_resp, None, &body, "giamsat.huyena")
            .await
            .unwrap();
        assert_eq!(d.view.complaint.state, ComplaintState::Forwarded);
        assert_eq!(d.view.complaint.assigned_unit.as_deref(), Some("HUYEN-A"));
        assert_eq!(d.events.last().unwrap().actor, "giamsat.huyena");
        let seqs: Vec<i64> = d.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);

        let (status, _) = post_json(
            &app,
            &actions,
            json!({ "action": "forwarded", "unit": "NOWHERE" }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = post_json(
            &app,
            "/api/v1/complaints/nope/actions",
            json!({ "action": "note" }),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    pub async fn complaint_scope_and_filters(store: &Store, _url: &str) {
        let (clip_resp, text_resp) = complaints(store).await;
        let dir = tempfile::tempdir().unwrap();
        let s = state(store, dir.path());
        let q = complaints::ComplaintQuery::default();
        let district_a = ["HUYEN-A".to_string(), "XA-A".to_string()];
        let district_b = ["HUYEN-B".to_string(), "XA-B".to_string()];

        // A complaint about district A's commune is not shown to district A
        // until the province forwards it.
        let seen = complaints::list_complaints(&s, Some(&district_a), &q)
            .await
            .unwrap();
        assert!(seen.is_empty(), "{seen:?}");
        assert!(
            complaints::complaint_detail(&s, &clip_resp, Some(&district_a))
                .await
                .is_err(),
            "not forwarded: not found"
        );
        let note: complaints::ActionBody =
            serde_json::from_value(json!({ "action": "note", "note": "x" })).unwrap();
        assert!(
            complaints::complaint_action(&s, &clip_resp, Some(&district_a), &note, "a")
                .await
                .is_err(),
            "nor acted on"
        );
        // The province forwards it to XA-A, hiding the citizen's identity.
        let masked: complaints::ActionBody = serde_json::from_value(
            json!({ "action": "forwarded", "unit": "XA-A", "mask_identity": true }),
        )
        .unwrap();
        let d = complaints::complaint_action(&s, &clip_resp, None, &masked, "tinh")
            .await
            .unwrap();
        assert!(d.events.last().unwrap().mask_identity);
        let seen = complaints::list_complaints(&s, Some(&district_a), &q)
            .await
            .unwrap();
        assert_eq!(seen.len(), 1);
        let c = &seen[0];
        assert_eq!(c.complaint.response_id, clip_resp);
        assert!(c.complaint.identity_masked);
        assert_eq!(c.complaint.dossier_code, None, "identity masked");
        assert_eq!(c.complaint.call_id.as_str(), "");
        assert_eq!(
            (
                c.clip_url.as_deref(),
                c.complaint.answer.clip_path.as_deref()
            ),
            (None, None)
        );
        // The province still sees everything.
        let whole = complaints::complaint_detail(&s, &clip_resp, None)
            .await
            .unwrap();
        assert_eq!(whole.view.complaint.dossier_code.as_deref(), Some("HS-1"));
        assert!(whole.view.clip_url.is_some());
        assert!(
            complaints::complaint_detail(&s, &clip_resp, Some(&district_b))
                .await
                .is_err(),
            "another district's complaint is not found"
        );
        assert!(
            complaints::complaint_action(&s, &clip_resp, Some(&district_b), &note, "b")
                .await
                .is_err()
        );
        // District A cannot forward into district B.
        let fwd: complaints::ActionBody =
            serde_json::from_value(json!({ "action": "forwarded", "unit": "XA-B" })).unwrap();
        let err = complaints::complaint_action(&s, &clip_resp, Some(&district_a), &fwd, "a").await;
        assert!(matches!(err, Err(carecall::http::ApiError::BadRequest(_))));

        // The province forwards B's complaint to district A, unmasked: A now
        // sees it too, with its dossier.
        let d = complaints::complaint_action(&s, &text_resp, None, &fwd_to("HUYEN-A"), "tinh")
            .await
            .unwrap();
        assert_eq!(d.view.complaint.dossier_unit.as_deref(), Some("XA-B"));
        let seen = complaints::list_complaints(&s, Some(&district_a), &q)
            .await
            .unwrap();
        assert_eq!(seen.len(), 2);
        let text = seen
            .iter()
            .find(|c| c.complaint.response_id == text_resp)
            .unwrap();
        assert_eq!(text.complaint.dossier_code.as_deref(), Some("HS-2"));
        // District B, whose commune it is about, never saw it.
        let seen_b = complaints::list_complaints(&s, Some(&district_b), &q)
            .await
            .unwrap();
        assert!(seen_b.is_empty());

        let by_state = |st: &str| complaints::ComplaintQuery {
            state: Some(st.into()),
            ..Default::default()
        };
        let forwarded = complaints::list_complaints(&s, None, &by_state("forwarded"))
            .await
            .unwrap();
        assert_eq!(forwarded.len(), 2);
        let open = complaints::list_complaints(&s, None, &by_state("open"))
            .await
            .unwrap();
        assert!(open.is_empty());
        assert!(
            complaints::list_complaints(&s, None, &by_state("closed"))
                .await
                .is_err()
        );

        // Period on the call's start: [from, to).
        let period = |from: i64, to: i64| complaints::ComplaintQuery {
            from: Some(at(from).to_rfc3339()),
            to: Some(at(to).to_rfc3339()),
            ..Default::default()
        };
        let first = complaints::list_complaints(&s, None, &period(0, 2_000))
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].complaint.response_id, clip_resp);
        let none = complaints::list_complaints(&s, None, &period(10_000, 20_000))
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    fn fwd_to(unit: &str) -> complaints::ActionBody {
        serde_json::from_value(json!({ "action": "forwarded", "unit": unit })).unwrap()
    }
}
