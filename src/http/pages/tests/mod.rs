//! The pages through the whole router (`oneshot`, no socket) on a temporary
//! SQLite store: login, CSRF, roles and unit scopes, campaign life cycle,
//! review and correction, users, the live stream. This file holds the
//! seeded world and the request helpers; the tests are in `access.rs`
//! (sessions, roles, scopes), `work.rs` (what supervisors do) and
//! `follow.rs` (complaints, exports, operators).

mod access;
mod follow;
mod work;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, TimeZone, Utc};
use tower::ServiceExt;

use crate::auth::hash_password;
use crate::config::Config;
use crate::http::{AppState, app};
use crate::store::{
    AnswerKind, CallId, CallOutcome, Dossier, NewAnswer, NewCall, NewRecording, NewUser,
    ResponseId, Store, UnitRecord,
};

struct World {
    state: AppState,
    _dir: tempfile::TempDir,
    /// A surveyed call in district D1 (unit name has markup in it).
    call_d1: CallId,
    response_d1: ResponseId,
}

fn at(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, d, h, 0, 0).unwrap()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pages.db").display());
    let store = Store::connect(&url).await.unwrap();
    for (code, name, level, parent) in [
        ("P", "Tỉnh Đồng Tháp", "province", None),
        ("D1", "Huyện <b>Một</b>", "district", Some("P")),
        ("D2", "Huyện Hai", "district", Some("P")),
    ] {
        store
            .upsert_unit(&UnitRecord {
                code: code.into(),
                name: name.into(),
                level: level.into(),
                parent: parent.map(str::to_string),
            })
            .await
            .unwrap();
    }
    let hash = hash_password("mat-khau-1").unwrap();
    for (user, role, unit) in [
        ("admin", "admin", None),
        ("gs_d2", "supervisor", Some("D2")),
        ("xem", "viewer", None),
    ] {
        store
            .create_user(&NewUser {
                username: user,
                display_name: user,
                password_hash: &hash,
                role,
                unit_code: unit,
            })
            .await
            .unwrap();
    }
    for (i, unit) in ["D1", "D1", "D1", "D2"].iter().enumerate() {
        store
            .upsert_dossier(&Dossier {
                code: format!("HS{i}"),
                procedure: "Cấp giấy chứng nhận".into(),
                field: "Đất đai".into(),
                unit_code: unit.to_string(),
                applicant_kind: "person".into(),
                applicant_name: "Nguyễn Văn A".into(),
                phone: format!("091234567{i}"),
                received_at: Some(at(1, 2)),
                returned_at: Some(at(10, 2)),
                created_at: at(1, 2),
            })
            .await
            .unwrap();
    }
    let (call_d1, response_d1) = surveyed_call(&store, "HS0", Some(("1", "9"))).await;
    surveyed_call(&store, "HS1", Some(("2", "4"))).await;
    surveyed_call(&store, "HS3", None).await;
    let state = AppState::new(store, Arc::new(Config::default()), "test".into());
    World {
        state,
        _dir: dir,
        call_d1,
        response_d1,
    }
}

/// A call on dossier `code`; answered with (q1, q4) and recorded, or not answered.
async fn surveyed_call(
    store: &Store,
    code: &str,
    answers: Option<(&str, &str)>,
) -> (CallId, ResponseId) {
    let started = Utc::now() - chrono::Duration::hours(2);
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some(code.into()),
            sip_call_id: None,
            destination: "0912345670".into(),
            caller_id: "1022".into(),
            dialplan: "survey-1022".into(),
            started_at: started,
        })
        .await
        .unwrap();
    let Some((q1, q4)) = answers else {
        store
            .finish_call(&call, &outcome("no_answer", started))
            .await
            .unwrap();
        return (call, ResponseId("none".into()));
    };
    store.call_answered(&call, started).await.unwrap();
    let r = store
        .start_response(&call, Some(code), "survey-1022")
        .await
        .unwrap();
    for (key, kind, value, offset) in [
        ("q1", AnswerKind::Value, Some(q1), 12_500),
        ("q3", AnswerKind::Clip, None, 30_000),
        ("q4", AnswerKind::Value, Some(q4), 61_000),
    ] {
        store
            .add_answer(
                &r,
                &NewAnswer {
                    key: key.into(),
                    kind,
                    value: value.map(str::to_string),
                    why: None,
                    offset_ms: Some(offset),
                    clip_path: (kind == AnswerKind::Clip).then(|| format!("{key}.wav")),
                    clip_seconds: (kind == AnswerKind::Clip).then_some(4.2),
                    clip_sha256: None,
                    answered_at: started,
                },
            )
            .await
            .unwrap();
    }
    store
        .add_recording(
            &call,
            &NewRecording {
                path: "call.wav".into(),
                seconds: 95.0,
                sha256: "00".into(),
                bytes: 1_520_044,
                created_at: started,
            },
        )
        .await
        .unwrap();
    store
        .finish_call(&call, &outcome("answered", started))
        .await
        .unwrap();
    (call, r)
}

fn outcome(disposition: &str, t: DateTime<Utc>) -> CallOutcome {
    CallOutcome {
        disposition: disposition.into(),
        sip_code: None,
        reason: None,
        end_reason: None,
        ended_at: t + chrono::Duration::minutes(2),
    }
}

async fn send(s: &AppState, req: Request<Body>) -> Response {
    app(s.clone()).oneshot(req).await.unwrap()
}

async fn text(r: Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 4 << 20).await.unwrap();
    // minijinja escapes '/' too (`&#x2f;`), which browsers read as '/'.
    String::from_utf8(b.to_vec())
        .unwrap()
        .replace("&#x2f;", "/")
}

fn location(r: &Response) -> &str {
    r.headers()[header::LOCATION].to_str().unwrap()
}

fn form(uri: &str, cookie: Option<&str>, body: &str) -> Request<Body> {
    let mut b =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn get(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// Logs in through the page; returns the cookie header and the CSRF token.
async fn log_in(s: &AppState, user: &str) -> (String, String) {
    let r = send(
        s,
        form(
            "/dang-nhap",
            None,
            &format!("username={user}&password=mat-khau-1"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {user}");
    let set = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let me: serde_json::Value =
        serde_json::from_str(&text(send(s, get("/api/v1/me", &cookie)).await).await).unwrap();
    (cookie, me["csrf"].as_str().unwrap().to_string())
}

/// The first event of the live stream, as text.
async fn first_event(r: Response) -> String {
    use futures::StreamExt;
    let mut body = r.into_body().into_data_stream();
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    String::from_utf8(chunk.to_vec()).unwrap()
}
