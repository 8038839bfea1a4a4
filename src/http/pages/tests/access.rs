//! Sessions, roles and unit scopes on the pages.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;

use super::*;
use crate::store::NewCall;

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
    assert!(ev.starts_with("event: snapshot\ndata: "), "{ev}");
    assert!(
        ev.contains(call.as_str()) && ev.contains("*******672"),
        "{ev}"
    );
    assert!(!ev.contains("0912345672"));
    // Another district's supervisor: an empty board.
    let (cookie, _) = log_in(&w.state, "gs_d2").await;
    let ev = first_event(send(&w.state, get("/api/v1/live", &cookie)).await).await;
    assert!(ev.contains(r#""calls":[]"#), "{ev}");
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
