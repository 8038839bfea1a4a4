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
    let mut req = Request::builder().method(method).uri(uri);
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
    let resp = app(w.state.clone())
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

mod cases {
    use super::*;

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
    live_view_streams_calls_in_scope,
    credentials_and_roles,
    district_scope,
    list_filters_and_pages,
    corrections_are_revisions,
    sessions_csrf_and_lockout,
    users_tokens_and_audit_log,
);
