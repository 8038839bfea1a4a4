//! The pages through the whole router (`oneshot`, no socket) on a temporary
//! SQLite store: login, CSRF, roles and unit scopes, campaign life cycle,
//! review and correction, users.

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
    AnswerKind, AuditQuery, CallId, CallOutcome, CampaignId, CampaignStatus, Dossier, NewAnswer,
    NewCall, NewRecording, NewUser, ResponseId, Store, UnitRecord,
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

#[tokio::test]
async fn pages_send_strangers_to_the_login_page() {
    let w = world().await;
    let r = send(
        &w.state,
        Request::get("/cuoc-goi?unit=D1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/dang-nhap?next=%2Fcuoc-goi%3Funit%3DD1");
    let r = send(
        &w.state,
        Request::get("/dang-nhap").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains("Mật khẩu"));
    let r = send(
        &w.state,
        Request::get("/tai-nguyen/carecall.css")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let r = send(
        &w.state,
        Request::get("/tai-nguyen/..%2Fmod.rs")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A POST without a session is not carried out either.
    let r = send(
        &w.state,
        form(
            "/nguoi-dung",
            None,
            "username=x&password=12345678&role=admin",
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.state.store.users().await.unwrap().len(), 3);
}

#[tokio::test]
async fn login_failures_and_redirects() {
    let w = world().await;
    let r = send(
        &w.state,
        form(
            "/dang-nhap",
            None,
            "username=admin&password=sai-roi&next=%2Fcuoc-goi",
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    let page = text(r).await;
    assert!(page.contains("Sai tên đăng nhập hoặc mật khẩu"));
    assert!(page.contains(r#"value="/cuoc-goi""#), "next kept");
    let ok = |next: &str| {
        form(
            "/dang-nhap",
            None,
            &format!("username=admin&password=mat-khau-1&next={next}"),
        )
    };
    let r = send(&w.state, ok("%2Fcuoc-goi")).await;
    assert_eq!(location(&r), "/cuoc-goi");
    // No open redirect.
    let r = send(&w.state, ok("%2F%2Fevil.example")).await;
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn dashboard_shows_rates_and_escapes_names() {
    let w = world().await;
    let (cookie, _) = log_in(&w.state, "admin").await;
    let r = send(&w.state, get("/", &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let page = text(r).await;
    // Q1: one satisfied of two answered; Q4: (9 + 4) / 2; 2 of 3 calls answered.
    assert!(
        page.contains(r#"<strong id="kpi-satisfaction">50,0%</strong>"#),
        "{page}"
    );
    assert!(page.contains(r#"<strong id="kpi-score">6,5</strong>"#));
    assert!(page.contains(r#"<strong id="kpi-response">66,7%</strong>"#));
    assert!(page.contains("Huyện &lt;b&gt;Một&lt;/b&gt;"));
    assert!(!page.contains("<b>Một</b>"));
    assert!(page.contains("<svg class=\"chart\""));
}

#[tokio::test]
async fn a_district_supervisor_sees_only_their_district() {
    let w = world().await;
    let (cookie, _) = log_in(&w.state, "gs_d2").await;
    let uri = format!("/cuoc-goi/{}", w.call_d1);
    let r = send(&w.state, get(&uri, &cookie)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list = text(send(&w.state, get("/cuoc-goi", &cookie)).await).await;
    assert!(list.contains("HS3"));
    assert!(!list.contains("HS0") && !list.contains("HS1"));
    let dash = text(send(&w.state, get("/", &cookie)).await).await;
    assert!(
        dash.contains(r#"<strong id="kpi-response">0,0%</strong>"#),
        "{dash}"
    );
    // Not an administrator.
    let r = send(&w.state, get("/nguoi-dung", &cookie)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_review_page_has_the_player_marks_and_clips() {
    let w = world().await;
    let (cookie, _) = log_in(&w.state, "admin").await;
    let r = send(&w.state, get(&format!("/cuoc-goi/{}", w.call_d1), &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = text(r).await;
    let id = w.call_d1.as_str();
    assert!(page.contains(&format!(r#"src="/api/v1/calls/{id}/recording""#)));
    assert!(page.contains(&format!(
        r#"data-src="/api/v1/calls/{id}/recording/waveform""#
    )));
    assert!(page.contains(r#"data-seek="12.5">0:12</button>"#), "{page}");
    assert!(page.contains(&format!(r#"src="/api/v1/calls/{id}/clips/q3""#)));
    assert!(page.contains("Hài lòng"));
    assert!(page.contains("*******670"), "phone masked");
    assert!(!page.contains("0912345670"));
    // The list filters by score and satisfaction.
    let list = text(
        send(
            &w.state,
            get("/cuoc-goi?satisfied=true&score_min=&from=", &cookie),
        )
        .await,
    )
    .await;
    assert!(list.contains("HS0") && !list.contains("HS1"));
    let r = send(&w.state, get("/cuoc-goi?score_min=abc", &cookie)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_correction_needs_the_token_and_a_reason_and_keeps_the_original() {
    let w = world().await;
    let (cookie, csrf) = log_in(&w.state, "admin").await;
    let uri = format!("/cuoc-goi/{}/sua", w.call_d1);
    let body = |csrf: &str, reason: &str| {
        format!(
            "csrf={csrf}&response={}&key=q1&value=2&reason={reason}",
            w.response_d1
        )
    };
    let revisions = || async {
        w.state
            .store
            .answer_history(&w.response_d1)
            .await
            .unwrap()
            .len()
    };
    let before = revisions().await;
    let r = send(
        &w.state,
        form(
            &uri,
            Some(&cookie),
            &body("wrong", "nghe+l%E1%BA%A1i+ghi+%C3%A2m"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = send(&w.state, form(&uri, Some(&cookie), &body(&csrf, "x"))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(revisions().await, before, "nothing written");
    let r = send(
        &w.state,
        form(
            &uri,
            Some(&cookie),
            &body(&csrf, "nghe+l%E1%BA%A1i+ghi+%C3%A2m"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/cuoc-goi/{}?saved=q1", w.call_d1));
    let history = w.state.store.answer_history(&w.response_d1).await.unwrap();
    let q1: Vec<_> = history.iter().filter(|a| a.key == "q1").collect();
    assert_eq!(q1.len(), 2);
    assert_eq!(q1[1].value.as_deref(), Some("2"));
    assert_eq!(q1[1].changed_by.as_deref(), Some("admin"));
    let page = text(send(&w.state, get(location(&r), &cookie)).await).await;
    assert!(page.contains("Đã lưu bản sửa"));
    assert!(page.contains("Lịch sử sửa đổi") && page.contains("nghe lại ghi âm"));
    // A viewer may not correct.
    let (vc, vcsrf) = log_in(&w.state, "xem").await;
    let r = send(
        &w.state,
        form(&uri, Some(&vc), &body(&vcsrf, "nghe+l%E1%BA%A1i")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_campaign_is_created_started_and_paused_from_the_pages() {
    let w = world().await;
    let (cookie, csrf) = log_in(&w.state, "admin").await;
    let new = text(send(&w.state, get("/chien-dich/moi", &cookie)).await).await;
    assert!(new.contains(r#"name="units" value="D1""#));
    // Refused: the form comes back filled in, nothing is written.
    let bad = format!(
        "csrf={csrf}&name=Th%C3%A1ng+10&period_from=2026-10-01&period_to=2026-10-31&size=abc"
    );
    let r = send(&w.state, form("/chien-dich", Some(&cookie), &bad)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains(r#"value="Tháng 10""#));
    assert!(w.state.store.campaigns().await.unwrap().is_empty());
    let good = format!(
        "csrf={csrf}&name=Th%C3%A1ng+10&period_from=2026-10-01&period_to=2026-10-31&size=2&units=D1"
    );
    let r = send(&w.state, form("/chien-dich", Some(&cookie), &good)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(r).await);
    let page_uri = location(&r).to_string();
    let id = CampaignId(page_uri.trim_start_matches("/chien-dich/").to_string());
    let page = text(send(&w.state, get(&page_uri, &cookie)).await).await;
    assert!(
        page.contains("Nháp") && page.contains("Bắt đầu gọi"),
        "{page}"
    );
    let start = format!("{page_uri}/start");
    let r = send(&w.state, form(&start, Some(&cookie), "go=start")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let status = || async { w.state.store.campaign(&id).await.unwrap().unwrap().status };
    assert_eq!(status().await, CampaignStatus::Draft);
    let r = send(
        &w.state,
        form(&start, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status().await, CampaignStatus::Running);
    let r = send(
        &w.state,
        form(
            &format!("{page_uri}/pause"),
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status().await, CampaignStatus::Paused);
    let page = text(send(&w.state, get(&page_uri, &cookie)).await).await;
    assert!(page.contains("Tạm dừng") && page.contains("Tiếp tục"));
    let list = text(send(&w.state, get("/chien-dich", &cookie)).await).await;
    assert!(list.contains("Tháng 10"));
    let log = w
        .state
        .store
        .audit_entries(&AuditQuery {
            actor: Some("admin".into()),
            action_prefix: Some("campaign.".into()),
            target: None,
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    let mut actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        ["campaign.create", "campaign.pause", "campaign.start"]
    );
    // A viewer cannot even see the form.
    let (vc, _) = log_in(&w.state, "xem").await;
    assert_eq!(
        send(&w.state, get("/chien-dich/moi", &vc)).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn admins_add_users_and_logging_out_ends_the_session() {
    let w = world().await;
    let (cookie, csrf) = log_in(&w.state, "admin").await;
    let add = |name: &str| {
        format!(
            "csrf={csrf}&username={name}&display_name=Ch%E1%BB%8B+B&password=mat-khau-2&role=supervisor&unit=D1"
        )
    };
    let r = send(&w.state, form("/nguoi-dung", Some(&cookie), &add("gs_d1"))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let users = w.state.store.users().await.unwrap();
    let u = users.iter().find(|u| u.username == "gs_d1").unwrap();
    assert_eq!(
        (u.role.as_str(), u.unit_code.as_deref()),
        ("supervisor", Some("D1"))
    );
    let r = send(&w.state, form("/nguoi-dung", Some(&cookie), &add("gs_d1"))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("already exists"));
    let page = text(send(&w.state, get("/nguoi-dung", &cookie)).await).await;
    assert!(page.contains("Chị B") && page.contains("Giám sát"));
    let r = send(
        &w.state,
        form("/dang-xuat", Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(location(&r), "/dang-nhap");
    assert!(
        r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = send(&w.state, get("/", &cookie)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
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

#[tokio::test]
async fn the_live_stream_lists_calls_in_progress_within_scope() {
    let w = world().await;
    let call = w
        .state
        .store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some("HS2".into()),
            sip_call_id: None,
            destination: "0912345672".into(),
            caller_id: "1022".into(),
            dialplan: "survey-1022".into(),
            started_at: Utc::now(),
        })
        .await
        .unwrap();
    let (cookie, _) = log_in(&w.state, "admin").await;
    let r = send(&w.state, get("/api/v1/live", &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let ev = first_event(r).await;
    assert!(ev.starts_with("event: calls\ndata: "), "{ev}");
    assert!(
        ev.contains(call.as_str()) && ev.contains("*******672"),
        "{ev}"
    );
    assert!(!ev.contains("0912345672"));
    // Another district's supervisor: an empty board.
    let (cookie, _) = log_in(&w.state, "gs_d2").await;
    let ev = first_event(send(&w.state, get("/api/v1/live", &cookie)).await).await;
    assert!(ev.contains(r#"data: {"calls":[]}"#), "{ev}");
    let page = text(send(&w.state, get("/truc-tiep", &cookie)).await).await;
    assert!(page.contains(r#"data-src="/api/v1/live""#));
    // No session: the API's 401, not a redirect.
    let r = send(
        &w.state,
        Request::get("/api/v1/live").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
