//! The admin API's authentication, roles, unit scopes, answer corrections and
//! call list, through the real router (axum `oneshot`, no socket) on SQLite
//! and PostgreSQL. What must survive bad input: nothing is written by a
//! refused request (checked through the answer history and the audit log).

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use carecall::auth::{Role, Secret};
use carecall::config::Config;
use carecall::http::users::{NewUserBody, add_user};
use carecall::http::{AppState, app};
use carecall::store::{
    AnswerKind, AuditQuery, CallId, CallOutcome, Dossier, NewAnswer, NewCall, ResponseId, Store,
};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;

const OWN: &str = "tp-cao-lanh.phuong-1";
const OTHER: &str = "tp-sa-dec";

/// What a case works with: the state, tokens by role, and the seeded calls.
struct World {
    state: AppState,
    admin: String,
    district: String,
    viewer: String,
    own_call: CallId,
    own_response: ResponseId,
    other_call: CallId,
}

async fn token(store: &Store, username: &str, role: Role, unit: Option<&str>) -> String {
    let id = add_user(
        store,
        &NewUserBody {
            username: username.into(),
            display_name: String::new(),
            password: "mật-khẩu-1022".into(),
            role,
            unit: unit.map(str::to_string),
        },
    )
    .await
    .unwrap();
    let t = Secret::new("cc_tok");
    store
        .create_token(&t.hash(), &id, "test", None)
        .await
        .unwrap();
    t.as_str().to_string()
}

/// A finished call on a dossier of `unit` with q1 and q4 answered.
async fn seed_call(store: &Store, unit: &str, n: i64, q1: &str, q4: &str) -> (CallId, ResponseId) {
    let code = format!("HS-{n}");
    let now = Utc::now();
    store
        .upsert_dossier(&Dossier {
            code: code.clone(),
            procedure: "Đăng ký khai sinh".into(),
            field: "Hộ tịch".into(),
            unit_code: unit.into(),
            applicant_kind: "person".into(),
            applicant_name: "Nguyễn Văn A".into(),
            phone: format!("091234567{n}"),
            received_at: Some(now - Duration::days(5)),
            returned_at: Some(now - Duration::days(1)),
            created_at: now,
        })
        .await
        .unwrap();
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some(code.clone()),
            sip_call_id: None,
            destination: format!("091234567{n}"),
            caller_id: "02773 1022".into(),
            dialplan: "survey-1022".into(),
            started_at: now - Duration::minutes(10 - n),
        })
        .await
        .unwrap();
    let resp = store
        .start_response(&call, Some(&code), "survey-1022")
        .await
        .unwrap();
    for (i, (key, v)) in [("q1", q1), ("q4", q4)].into_iter().enumerate() {
        let a = NewAnswer {
            key: key.into(),
            kind: AnswerKind::Value,
            value: Some(v.into()),
            why: None,
            offset_ms: Some(20_000 + i as i64 * 30_000),
            clip_path: None,
            clip_seconds: None,
            clip_sha256: None,
            answered_at: now,
        };
        store.add_answer(&resp, &a).await.unwrap();
    }
    store
        .finish_call(
            &call,
            &CallOutcome {
                disposition: "completed".into(),
                sip_code: Some(200),
                reason: None,
                end_reason: Some("survey_done".into()),
                ended_at: now,
            },
        )
        .await
        .unwrap();
    (call, resp)
}

async fn world(store: &Store) -> World {
    carecall::campaign::load_units(store, Path::new("data/units.csv"))
        .await
        .unwrap();
    let mut config = Config::default();
    config.http.login_max_failures = 3;
    let state = AppState::new(store.clone(), Arc::new(config), "test".into());
    let (own_call, own_response) = seed_call(store, OWN, 1, "1", "9").await;
    let (other_call, _) = seed_call(store, OTHER, 2, "2", "4").await;
    World {
        admin: token(store, "admin", Role::Admin, None).await,
        district: token(
            store,
            "giamsat.caolanh",
            Role::Supervisor,
            Some("tp-cao-lanh"),
        )
        .await,
        viewer: token(store, "xem", Role::Viewer, None).await,
        state,
        own_call,
        own_response,
        other_call,
    }
}

/// One request: (status, headers, JSON body or Null).
async fn send(
    w: &World,
    method: &str,
    uri: &str,
    auth: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    send_from(&w.state, None, method, uri, auth, body).await
}

/// One request as if it came through a socket from `peer` (the server puts
/// the peer in the request's extensions the same way).
async fn send_from(
    state: &AppState,
    peer: Option<&str>,
    method: &str,
    uri: &str,
    auth: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(peer) = peer {
        let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
        req = req.extension(axum::extract::ConnectInfo(addr));
    }
    for (k, v) in auth {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

async fn history_len(w: &World) -> usize {
    w.state
        .store
        .answer_history(&w.own_response)
        .await
        .unwrap()
        .len()
}

/// The first event of `/api/v1/live` for `token`.
async fn first_live_event(w: &World, token: &str) -> String {
    use futures::StreamExt;
    let req = Request::get("/api/v1/live")
        .header("authorization", bearer(token))
        .body(Body::empty())
        .unwrap();
    let resp = app(w.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body().into_data_stream();
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .unwrap();
    String::from_utf8(chunk.to_vec()).unwrap()
}

/// A campaign spec over `units` for the last days (the seeded dossiers).
fn campaign_spec(name: &str, units: &[&str]) -> Value {
    let from = (Utc::now() - Duration::days(5)).date_naive();
    let to = (Utc::now() + Duration::days(1)).date_naive();
    json!({ "name": name, "period_from": from, "period_to": to, "size": 5, "units": units })
}

/// The audit log's `remote` of the latest login.
async fn last_login_remote(store: &Store) -> Option<String> {
    store
        .audit_entries(&AuditQuery {
            action_prefix: Some("session.login".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .next()
        .and_then(|e| e.remote)
}

fn login(user: &str, password: &str) -> Option<Value> {
    Some(json!({ "username": user, "password": password }))
}

mod cases {
    use super::*;

    /// Issue 9, item 7: a Cao Lãnh supervisor neither sees nor runs a Sa Đéc
    /// campaign (404, as for calls), nor creates one; their own work goes on.
    pub async fn campaigns_are_unit_scoped(store: &Store, _url: &str) {
        let w = world(store).await;
        let admin = bearer(&w.admin);
        let sup = bearer(&w.district);
        let create = |token: String, spec: Value| {
            let w = &w;
            async move {
                send(
                    w,
                    "POST",
                    "/api/v1/campaigns",
                    &[("authorization", &token)],
                    Some(spec),
                )
                .await
            }
        };
        let (st, _, other) = create(admin.clone(), campaign_spec("Sa Đéc 11", &[OTHER])).await;
        assert_eq!(st, StatusCode::CREATED, "{other}");
        let other = other["id"].as_str().unwrap().to_string();
        let (st, _, province) = create(admin.clone(), campaign_spec("Toàn tỉnh", &[])).await;
        assert_eq!(st, StatusCode::CREATED, "{province}");
        let province = province["id"].as_str().unwrap().to_string();

        // Creating: only units inside the supervisor's own.
        let (st, _, e) = create(sup.clone(), campaign_spec("Lấn sân", &[OTHER])).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
        let (st, _, e) = create(sup.clone(), campaign_spec("Lẫn", &["tp-cao-lanh", OTHER])).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "one unit outside is enough: {e}");
        let (st, _, e) = create(sup.clone(), campaign_spec("Cả tỉnh", &[])).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "the whole province: {e}");
        let mut quota = campaign_spec("Hạn mức", &["tp-cao-lanh"]);
        quota["quotas"] = json!([{ "unit_code": OTHER, "min_count": 1, "min_share": 0.1 }]);
        let (st, _, e) = create(sup.clone(), quota).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "a quota outside: {e}");
        let (st, _, own) = create(sup.clone(), campaign_spec("Cao Lãnh 11", &[OWN])).await;
        assert_eq!(st, StatusCode::CREATED, "{own}");
        let own = own["id"].as_str().unwrap().to_string();
        assert_eq!(
            store.campaigns().await.unwrap().len(),
            3,
            "refused creations wrote nothing"
        );

        // Listing and reading.
        let (st, _, list) = send(
            &w,
            "GET",
            "/api/v1/campaigns",
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [own.as_str()]);
        let (_, _, all) = send(
            &w,
            "GET",
            "/api/v1/campaigns",
            &[("authorization", &admin)],
            None,
        )
        .await;
        assert_eq!(all.as_array().unwrap().len(), 3, "the province sees all");
        for id in [&other, &province] {
            let (st, _, _) = send(
                &w,
                "GET",
                &format!("/api/v1/campaigns/{id}"),
                &[("authorization", &sup)],
                None,
            )
            .await;
            assert_eq!(st, StatusCode::NOT_FOUND, "read {id}");
            let (st, _, _) = send(
                &w,
                "GET",
                &format!("/chien-dich/{id}"),
                &[("authorization", &sup)],
                None,
            )
            .await;
            assert_eq!(st, StatusCode::NOT_FOUND, "page {id}");
        }
        let (st, _, _) = send(
            &w,
            "GET",
            &format!("/api/v1/campaigns/{own}"),
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);

        // Every action on the other unit's campaign: not found, nothing changes.
        let (st, _, _) = send(
            &w,
            "POST",
            &format!("/api/v1/campaigns/{other}/start"),
            &[("authorization", &admin)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        for action in ["pause", "stop", "resume", "start"] {
            let (st, _, _) = send(
                &w,
                "POST",
                &format!("/api/v1/campaigns/{other}/{action}"),
                &[("authorization", &sup)],
                None,
            )
            .await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{action}");
        }
        let status = |id: String| async move {
            store
                .campaign(&carecall::store::CampaignId(id))
                .await
                .unwrap()
                .unwrap()
                .status
                .to_string()
        };
        assert_eq!(status(other.clone()).await, "running", "still running");
        let (st, _, _) = send(
            &w,
            "POST",
            &format!("/api/v1/campaigns/{own}/start"),
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "own campaigns still run");
        assert_eq!(status(own.clone()).await, "running");
    }

    /// Issue 9, item 8: the limiter keys on the socket's peer; forwarding
    /// headers count only from a configured proxy.
    pub async fn login_limiter_uses_the_peer_address(store: &Store, _url: &str) {
        let w = world(store).await; // lockout after 3 failures of a (user, address)
        let s = &w.state;
        let session = "/api/v1/session";
        for _ in 0..5 {
            let (st, _, _) = send_from(
                s,
                Some("127.0.0.2"),
                "POST",
                session,
                &[],
                login("admin", "sai"),
            )
            .await;
            assert!(
                st == StatusCode::UNAUTHORIZED || st == StatusCode::TOO_MANY_REQUESTS,
                "{st}"
            );
        }
        let (st, h, _) = send_from(
            s,
            Some("127.0.0.2"),
            "POST",
            session,
            &[],
            login("admin", "mật-khẩu-1022"),
        )
        .await;
        assert_eq!(
            st,
            StatusCode::TOO_MANY_REQUESTS,
            "the guesser's address waits"
        );
        assert!(
            h[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
        let (st, _, _) = send_from(
            s,
            Some("127.0.0.1"),
            "POST",
            session,
            &[],
            login("admin", "mật-khẩu-1022"),
        )
        .await;
        assert_eq!(
            st,
            StatusCode::OK,
            "admin at their own desk is not locked out"
        );
        assert_eq!(last_login_remote(store).await.as_deref(), Some("127.0.0.1"));
        let (st, _, _) = send_from(
            s,
            Some("127.0.0.2"),
            "POST",
            session,
            &[],
            login("xem", "mật-khẩu-1022"),
        )
        .await;
        assert_eq!(
            st,
            StatusCode::OK,
            "other users are not locked out, even there"
        );

        // A rotating X-Forwarded-For from an untrusted peer changes nothing.
        let mut refused = 0;
        for i in 0..6 {
            let xff = format!("198.51.100.{i}");
            let (st, _, _) = send_from(
                s,
                Some("127.0.0.3"),
                "POST",
                session,
                &[("x-forwarded-for", &xff)],
                login("giamsat.caolanh", "sai"),
            )
            .await;
            if st == StatusCode::TOO_MANY_REQUESTS {
                refused += 1;
            }
        }
        assert_eq!(
            refused, 3,
            "locked after the third failure despite new headers"
        );
        let (st, _, _) = send_from(
            s,
            Some("127.0.0.4"),
            "POST",
            session,
            &[("x-forwarded-for", "203.0.113.66")],
            login("giamsat.caolanh", "mật-khẩu-1022"),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            last_login_remote(store).await.as_deref(),
            Some("127.0.0.4"),
            "a forged address does not reach the audit log"
        );

        // Behind a configured proxy the forwarded address is the client's.
        let mut config = Config::default();
        config.http.login_max_failures = 3;
        config.http.trusted_proxies = vec!["127.0.0.1/32".into()];
        let proxied = AppState::new(store.clone(), Arc::new(config), "test".into());
        for _ in 0..3 {
            send_from(
                &proxied,
                Some("127.0.0.1"),
                "POST",
                session,
                &[("x-forwarded-for", "203.0.113.7")],
                login("xem", "sai"),
            )
            .await;
        }
        let (st, _, _) = send_from(
            &proxied,
            Some("127.0.0.1"),
            "POST",
            session,
            &[("x-forwarded-for", "203.0.113.7")],
            login("xem", "mật-khẩu-1022"),
        )
        .await;
        assert_eq!(
            st,
            StatusCode::TOO_MANY_REQUESTS,
            "the client behind the proxy is locked"
        );
        let (st, _, _) = send_from(
            &proxied,
            Some("127.0.0.1"),
            "POST",
            session,
            &[("x-forwarded-for", "203.0.113.8")],
            login("xem", "mật-khẩu-1022"),
        )
        .await;
        assert_eq!(
            st,
            StatusCode::OK,
            "another client behind the same proxy is not"
        );
        assert_eq!(
            last_login_remote(store).await.as_deref(),
            Some("203.0.113.8")
        );
    }

    /// Issue 9, item 13: after logging in on the page, only a same-site path
    /// is followed; every open-redirect vector lands on the dashboard.
    pub async fn login_redirects_stay_on_the_site(store: &Store, _url: &str) {
        let w = world(store).await;
        let cases = [
            (
                "%2Fcuoc-goi%3Funit%3Dtp-cao-lanh",
                "/cuoc-goi?unit=tp-cao-lanh",
            ),
            ("%2F%09%2Fevil.example", "/"),
            ("%2F%2Fevil.example", "/"),
            ("%2F%5Cevil.example", "/"),
            ("%5C%5Cevil.example", "/"),
            ("https%3A%2F%2Fevil.example", "/"),
            ("%2F%0D%0A%2Fevil.example", "/"),
            ("%09%2F%2Fevil.example", "/"),
        ];
        for (next, want) in cases {
            let req = Request::post("/dang-nhap")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "username=xem&password=m%E1%BA%ADt-kh%E1%BA%A9u-1022&next={next}"
                )))
                .unwrap();
            let resp = app(w.state.clone()).oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{next}");
            assert_eq!(resp.headers()[header::LOCATION], want, "{next}");
        }
    }

    /// Issue 9, item 19: NUL anywhere in JSON, form or query input is a 400
    /// in Vietnamese, with no database text, on both backends; nothing written.
    pub async fn nul_bytes_are_refused_at_the_edge(store: &Store, _url: &str) {
        let w = world(store).await;
        let admin = bearer(&w.admin);
        let check = |st: StatusCode, h: &axum::http::HeaderMap, body: &Value, what: &str| {
            assert_eq!(st, StatusCode::BAD_REQUEST, "{what}: {body}");
            assert_eq!(
                h[header::CONTENT_TYPE],
                "application/problem+json",
                "{what}"
            );
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains("NUL"), "{what}: {detail}");
            for db in ["0x00", "UTF8", "invalid byte", "sqlx", "database"] {
                assert!(!detail.contains(db), "{what}: {detail}");
            }
        };
        let (st, h, body) =
            send(&w, "POST", "/api/v1/session", &[], login("admin\u{0}", "x")).await;
        check(st, &h, &body, "login username");
        let (st, h, body) = send(
            &w,
            "POST",
            "/api/v1/session",
            &[],
            login("admin", "mật\u{0}khẩu"),
        )
        .await;
        check(st, &h, &body, "login password");
        let units_before = store.units().await.unwrap().len();
        let (st, h, body) = send(
            &w,
            "POST",
            "/api/v1/units",
            &[("authorization", &admin)],
            Some(json!([{ "code": "x\u{0}y", "name": "Xã NUL", "level": "commune", "parent_code": null }])),
        )
        .await;
        check(st, &h, &body, "JSON body");
        assert_eq!(
            store.units().await.unwrap().len(),
            units_before,
            "nothing written"
        );
        let (st, h, body) = send(
            &w,
            "GET",
            "/api/v1/calls?unit=tp%00",
            &[("authorization", &admin)],
            None,
        )
        .await;
        check(st, &h, &body, "query");
        let (st, h, body) = send(
            &w,
            "GET",
            "/api/v1/calls/x%00y",
            &[("authorization", &admin)],
            None,
        )
        .await;
        check(st, &h, &body, "path");
        let req = Request::post("/dang-nhap")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("username=admin%00&password=x"))
            .unwrap();
        let resp = app(w.state.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "login form");
        // Legitimate input still works during all this.
        let (st, _, _) = send(
            &w,
            "POST",
            "/api/v1/session",
            &[],
            login("admin", "mật-khẩu-1022"),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
    }

    /// A call in progress shows up in the live stream of users who may see it.
    pub async fn live_view_streams_calls_in_scope(store: &Store, _url: &str) {
        let w = world(store).await;
        let live = store
            .start_call(&NewCall {
                id: None,
                dossier_code: Some("HS-1".into()),
                sip_call_id: Some("live-call".into()),
                destination: "0912345671".into(),
                caller_id: "1022".into(),
                dialplan: "survey-1022".into(),
                started_at: Utc::now(),
            })
            .await
            .unwrap();
        let admin = first_live_event(&w, &w.admin).await;
        assert!(admin.starts_with("event: snapshot\n"), "{admin}");
        assert!(admin.contains(live.as_str()), "{admin}");
        assert!(
            !admin.contains(w.own_call.as_str()),
            "finished calls are not live"
        );
        let district = first_live_event(&w, &w.district).await;
        assert!(district.contains(live.as_str()), "own district: {district}");
        let other = token(store, "giamsat.sadec", Role::Supervisor, Some(OTHER)).await;
        let other = first_live_event(&w, &other).await;
        assert!(!other.contains(live.as_str()), "other district: {other}");
    }

    /// No credentials, a wrong token, a viewer on admin resources: refused
    /// with problem+json; health stays public.
    pub async fn credentials_and_roles(store: &Store, _url: &str) {
        let w = world(store).await;
        let (st, h, body) = send(&w, "GET", "/api/v1/calls", &[], None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body["status"], 401);
        let bad = bearer("cc_tok_nope");
        let (st, _, _) = send(&w, "GET", "/api/v1/calls", &[("authorization", &bad)], None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _, _) = send(&w, "GET", "/api/v1/health", &[], None).await;
        assert_eq!(st, StatusCode::OK);

        let viewer = bearer(&w.viewer);
        let (st, _, body) = send(
            &w,
            "GET",
            "/api/v1/users",
            &[("authorization", &viewer)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
        let (st, _, _) = send(
            &w,
            "GET",
            "/api/v1/calls",
            &[("authorization", &viewer)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "a viewer reads results");
        let (st, _, _) = send(
            &w,
            "POST",
            "/api/v1/do-not-call",
            &[("authorization", &viewer)],
            Some(json!({ "phone": "0912345678" })),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "a viewer changes nothing");
        let admin = bearer(&w.admin);
        let (st, _, users) = send(
            &w,
            "GET",
            "/api/v1/users",
            &[("authorization", &admin)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(users.as_array().unwrap().len(), 3);
        assert!(!users.to_string().contains("argon2"), "hashes never leave");
    }

    /// A district supervisor sees their district's calls only; another
    /// district's call is "not found", not "forbidden".
    pub async fn district_scope(store: &Store, _url: &str) {
        let w = world(store).await;
        let sup = bearer(&w.district);
        let (st, _, page) =
            send(&w, "GET", "/api/v1/calls", &[("authorization", &sup)], None).await;
        assert_eq!(st, StatusCode::OK);
        let ids: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![w.own_call.as_str()]);
        let (st, _, _) = send(
            &w,
            "GET",
            &format!("/api/v1/calls/{}", w.other_call),
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _, rec) = send(
            &w,
            "GET",
            &format!("/api/v1/calls/{}", w.own_call),
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(rec["dossier"]["unit_code"], OWN);
        assert!(
            rec["call"]["destination"].as_str().unwrap().contains('*'),
            "masked"
        );
        // Asking for the other district explicitly still yields nothing.
        let (_, _, page) = send(
            &w,
            "GET",
            &format!("/api/v1/calls?unit={OTHER}"),
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 0);
    }

    /// Filters and keyset paging over both calls.
    pub async fn list_filters_and_pages(store: &Store, _url: &str) {
        let w = world(store).await;
        let admin = bearer(&w.admin);
        let get = |q: &'static str| {
            let w = &w;
            let admin = admin.clone();
            async move {
                let (st, _, v) = send(
                    w,
                    "GET",
                    &format!("/api/v1/calls{q}"),
                    &[("authorization", &admin)],
                    None,
                )
                .await;
                assert_eq!(st, StatusCode::OK, "{q}: {v}");
                v
            }
        };
        let count = |v: &Value| v["items"].as_array().unwrap().len();
        assert_eq!(count(&get("").await), 2);
        assert_eq!(count(&get("?satisfied=true").await), 1);
        assert_eq!(count(&get("?satisfied=false").await), 1);
        assert_eq!(count(&get("?score_min=5").await), 1);
        assert_eq!(count(&get("?score_min=1&score_max=4").await), 1);
        assert_eq!(
            count(&get("?unit=tp-cao-lanh").await),
            1,
            "district includes communes"
        );
        assert_eq!(count(&get("?level=commune").await), 1);
        assert_eq!(count(&get("?field=H%E1%BB%99%20t%E1%BB%8Bch").await), 2);
        assert_eq!(count(&get("?has_complaint=true").await), 0);
        let first = get("?limit=1").await;
        assert_eq!(count(&first), 1);
        let next = first["next"].as_str().expect("a next cursor").to_string();
        let q: &'static str = Box::leak(format!("?limit=1&cursor={next}").into_boxed_str());
        let second = get(q).await;
        assert_eq!(count(&second), 1);
        assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
        assert!(second["next"].is_null());
        // Bad query values are clear 400s.
        for bad in [
            "?from=yesterday",
            "?score_min=9&score_max=2",
            "?unit=nowhere",
            "?cursor=x",
        ] {
            let (st, h, body) = send(
                &w,
                "GET",
                &format!("/api/v1/calls{bad}"),
                &[("authorization", &admin)],
                None,
            )
            .await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
        }
    }

    /// A correction is a new revision naming user and reason; bad ones write nothing.
    pub async fn corrections_are_revisions(store: &Store, _url: &str) {
        let w = world(store).await;
        let sup = bearer(&w.district);
        let uri = format!("/api/v1/responses/{}/revisions", w.own_response);
        let before = history_len(&w).await;
        for (body, want) in [
            (
                json!({ "key": "q4", "value": "8" }),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "key": "q4", "value": "11", "reason": "khách đọc nhầm" }),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "key": "q9", "value": "1", "reason": "khách đọc nhầm" }),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "key": "q4", "value": "8", "reason": "x" }),
                StatusCode::BAD_REQUEST,
            ),
            (json!("not an object"), StatusCode::BAD_REQUEST),
        ] {
            let (st, h, _) = send(
                &w,
                "POST",
                &uri,
                &[("authorization", &sup)],
                Some(body.clone()),
            )
            .await;
            assert_eq!(st, want, "{body}");
            assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
        }
        let viewer = bearer(&w.viewer);
        let good = json!({ "key": "q4", "value": "8", "reason": "khách sửa lại điểm khi gọi lại" });
        let (st, _, _) = send(
            &w,
            "POST",
            &uri,
            &[("authorization", &viewer)],
            Some(good.clone()),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(
            history_len(&w).await,
            before,
            "refused corrections wrote nothing"
        );

        // Four eyes: the district's own supervisor only proposes.
        let (st, _, done) = send(&w, "POST", &uri, &[("authorization", &sup)], Some(good)).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{done}");
        assert_eq!(done["state"], "pending");
        let proposal = done["proposal"].as_str().unwrap().to_string();
        assert_eq!(
            history_len(&w).await,
            before,
            "nothing applied before approval"
        );
        let approve = format!("/api/v1/corrections/{proposal}/approve");
        // Refused: the proposer, a second supervisor of the same unit, a
        // supervisor of another district (same level). Nothing is written.
        let colleague = bearer(
            &token(
                store,
                "giamsat2.caolanh",
                Role::Supervisor,
                Some("tp-cao-lanh"),
            )
            .await,
        );
        let peer =
            bearer(&token(store, "giamsat.sadec", Role::Supervisor, Some("tp-sa-dec")).await);
        for (who, want) in [
            (&sup, StatusCode::FORBIDDEN),
            (&colleague, StatusCode::FORBIDDEN),
            // Another district cannot even see the proposal.
            (&peer, StatusCode::NOT_FOUND),
            (&viewer, StatusCode::FORBIDDEN),
        ] {
            let (st, h, body) = send(&w, "POST", &approve, &[("authorization", who)], None).await;
            assert_eq!(st, want, "{body}");
            assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
        }
        assert_eq!(
            history_len(&w).await,
            before,
            "refused approvals wrote nothing"
        );
        let (st, _, pending) = send(
            &w,
            "GET",
            "/api/v1/corrections",
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
        assert_eq!(pending[0]["proposed_by"], "giamsat.caolanh");
        // The province approves: the revision is appended, naming both.
        let admin = bearer(&w.admin);
        let (st, _, done) = send(&w, "POST", &approve, &[("authorization", &admin)], None).await;
        assert_eq!(st, StatusCode::CREATED, "{done}");
        let (st, _, _) = send(&w, "POST", &approve, &[("authorization", &admin)], None).await;
        assert_eq!(st, StatusCode::CONFLICT, "applied once");
        let history = store.answer_history(&w.own_response).await.unwrap();
        let q4: Vec<_> = history.iter().filter(|a| a.key == "q4").collect();
        assert_eq!(q4.len(), 2, "the original stays");
        assert_eq!(q4[0].value.as_deref(), Some("9"));
        assert_eq!(q4[1].value.as_deref(), Some("8"));
        assert_eq!(q4[1].revision, 2);
        assert_eq!(q4[1].changed_by.as_deref(), Some("admin"));
        let why = q4[1].change_reason.as_deref().unwrap();
        assert!(
            why.contains("khách sửa lại điểm") && why.contains("giamsat.caolanh"),
            "{why}"
        );
        assert_eq!(
            q4[1].offset_ms, q4[0].offset_ms,
            "the mark stays on the recording"
        );
        let (_, _, rec) = send(
            &w,
            "GET",
            &format!("/api/v1/calls/{}", w.own_call),
            &[("authorization", &sup)],
            None,
        )
        .await;
        let latest = rec["answers"].as_array().unwrap();
        assert!(latest.iter().any(|a| a["key"] == "q4" && a["value"] == "8"));
        let log = store
            .audit_entries(&AuditQuery {
                action_prefix: Some("answer.".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let actions: Vec<(&str, &str)> = log
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect();
        assert!(
            actions.contains(&("answer.propose", "giamsat.caolanh")),
            "{actions:?}"
        );
        assert!(actions.contains(&("answer.revise", "admin")), "{actions:?}");
        assert!(
            actions.contains(&("answer.approve_refused", "giamsat.caolanh")),
            "{actions:?}"
        );
        let revise = log.iter().find(|e| e.action == "answer.revise").unwrap();
        assert_eq!(revise.detail.as_ref().unwrap()["previous"]["value"], "9");
        assert_eq!(
            revise.detail.as_ref().unwrap()["proposed_by"],
            "giamsat.caolanh"
        );
        assert!(store.verify_chain().await.unwrap().is_intact());
        // Another district's response: not found, nothing written.
        let other = store.call_summary(&w.other_call).await.unwrap().unwrap();
        let other_resp = other.response.unwrap().id;
        let (st, _, _) = send(
            &w,
            "POST",
            &format!("/api/v1/responses/{other_resp}/revisions"),
            &[("authorization", &sup)],
            Some(json!({ "key": "q4", "value": "10", "reason": "thử sửa đơn vị khác" })),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_eq!(store.answer_history(&other_resp).await.unwrap().len(), 2);
    }

    /// Cookie sessions: login, CSRF on changes, lockout after failures, logout.
    pub async fn sessions_csrf_and_lockout(store: &Store, _url: &str) {
        let w = world(store).await;
        let login = |pw: &str| json!({ "username": "giamsat.caolanh", "password": pw });
        let (st, h, me) = send(
            &w,
            "POST",
            "/api/v1/session",
            &[],
            Some(login("mật-khẩu-1022")),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{me}");
        let set = h[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_string();
        let csrf = me["csrf"].as_str().unwrap().to_string();
        let (st, _, who) = send(&w, "GET", "/api/v1/me", &[("cookie", &cookie)], None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(who["role"], "supervisor");

        let uri = format!("/api/v1/responses/{}/revisions", w.own_response);
        let body = json!({ "key": "q1", "value": "2", "reason": "khách đổi ý khi xác nhận" });
        let (st, _, _) = send(&w, "POST", &uri, &[("cookie", &cookie)], Some(body.clone())).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "cookie without CSRF token");
        let (st, _, _) = send(
            &w,
            "POST",
            &uri,
            &[("cookie", &cookie), ("x-csrf-token", "cc_csrf_wrong")],
            Some(body.clone()),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "wrong CSRF token");
        let (st, _, _) = send(
            &w,
            "POST",
            &uri,
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            Some(body),
        )
        .await;
        assert_eq!(st, StatusCode::ACCEPTED);

        let (st, h, _) = send(
            &w,
            "DELETE",
            "/api/v1/session",
            &[("cookie", &cookie)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        assert!(
            h[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let (st, _, _) = send(&w, "GET", "/api/v1/me", &[("cookie", &cookie)], None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "logged out");

        // Three failures lock the username out, even for the right password.
        for _ in 0..3 {
            let (st, _, _) = send(
                &w,
                "POST",
                "/api/v1/session",
                &[],
                Some(login("sai-mat-khau")),
            )
            .await;
            assert_eq!(st, StatusCode::UNAUTHORIZED);
        }
        let (st, h, _) = send(
            &w,
            "POST",
            "/api/v1/session",
            &[],
            Some(login("mật-khẩu-1022")),
        )
        .await;
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            h[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
        let (st, _, _) = send(
            &w,
            "POST",
            "/api/v1/session",
            &[],
            Some(json!({ "user": 1 })),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }

    /// Admin-only user management, tokens, and the audit log of it all.
    pub async fn users_tokens_and_audit_log(store: &Store, _url: &str) {
        let w = world(store).await;
        let admin = bearer(&w.admin);
        let auth = [("authorization", admin.as_str())];
        let (st, _, body) = send(
            &w,
            "POST",
            "/api/v1/users",
            &auth,
            Some(json!({ "username": "moi", "password": "ngắn", "role": "viewer" })),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "short password: {body}");
        let (st, _, _) = send(
            &w,
            "POST",
            "/api/v1/users",
            &auth,
            Some(json!({ "username": "moi", "password": "đủ-dài-rồi", "role": "root" })),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "unknown role");
        let (st, _, made) = send(
            &w,
            "POST",
            "/api/v1/users",
            &auth,
            Some(json!({ "username": "moi", "password": "đủ-dài-rồi", "role": "viewer", "unit": OTHER })),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{made}");
        let (st, _, _) = send(
            &w,
            "POST",
            "/api/v1/users",
            &auth,
            Some(json!({ "username": "moi", "password": "đủ-dài-rồi", "role": "viewer" })),
        )
        .await;
        assert_eq!(st, StatusCode::CONFLICT);
        let id = made["id"].as_str().unwrap();
        let (st, _, _) = send(
            &w,
            "PATCH",
            &format!("/api/v1/users/{id}"),
            &auth,
            Some(json!({ "disabled": true })),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let (st, _, _) = send(
            &w,
            "POST",
            "/api/v1/session",
            &[],
            Some(json!({ "username": "moi", "password": "đủ-dài-rồi" })),
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "disabled users cannot log in");

        let sup = bearer(&w.district);
        let (st, _, tok) = send(
            &w,
            "POST",
            "/api/v1/tokens",
            &[("authorization", &sup)],
            Some(json!({ "name": "script" })),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED);
        let fresh = bearer(tok["token"].as_str().unwrap());
        let (st, _, _) = send(&w, "GET", "/api/v1/me", &[("authorization", &fresh)], None).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _, _) = send(
            &w,
            "DELETE",
            &format!("/api/v1/tokens/{}", tok["id"].as_str().unwrap()),
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _, _) = send(&w, "GET", "/api/v1/me", &[("authorization", &fresh)], None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "revoked");

        let (st, _, log) = send(&w, "GET", "/api/v1/audit-log?limit=50", &auth, None).await;
        assert_eq!(st, StatusCode::OK);
        let actions: Vec<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for a in ["user.create", "user.update", "token.create", "token.revoke"] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        assert!(
            !log.to_string().contains("đủ-dài-rồi"),
            "no password in the log"
        );
        let (st, _, _) = send(
            &w,
            "GET",
            "/api/v1/audit-log",
            &[("authorization", &sup)],
            None,
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
}

both_backends!(
    campaigns_are_unit_scoped,
    login_limiter_uses_the_peer_address,
    nul_bytes_are_refused_at_the_edge,
    login_redirects_stay_on_the_site,
    live_view_streams_calls_in_scope,
    credentials_and_roles,
    district_scope,
    list_filters_and_pages,
    corrections_are_revisions,
    sessions_csrf_and_lockout,
    users_tokens_and_audit_log,
);
