//! The operator's screen and API through the whole router (`oneshot`): who
//! may see the page, set a state, write answers on which call, and what
//! click-to-call refuses before anything is dialled.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::Secret;
use crate::config::Config;
use crate::http::{AppState, app};
use crate::store::{
    AnswerKind, CallId, Dossier, NewAnswer, NewCall, NewOperator, NewUser, OperatorId,
    OperatorState, ResponseId, Store, UnitRecord,
};

struct Desk {
    state: AppState,
    _dir: tempfile::TempDir,
    op1: OperatorId,
    /// op1's call in progress on dossier HS1 (unit D1), answered by the IVR: q1=2.
    call: CallId,
    response: ResponseId,
    tokens: std::collections::HashMap<&'static str, String>,
}

impl Desk {
    fn store(&self) -> &Store {
        &self.state.store
    }

    async fn send(
        &self,
        user: &str,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder().method(method).uri(uri).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.tokens[user]),
        );
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        let req = b
            .body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
            .unwrap();
        let r = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 4 << 20).await.unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, v)
    }

    async fn op1_state(&self) -> OperatorState {
        let ops = self.store().operators().await.unwrap();
        ops.into_iter().find(|o| o.id == self.op1).unwrap().state
    }

    async fn history(&self) -> Vec<crate::store::AnswerRecord> {
        self.store().answer_history(&self.response).await.unwrap()
    }
}

async fn desk() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("desk.db").display());
    let store = Store::connect(&url).await.unwrap();
    for (code, level, parent) in [
        ("P", "province", None),
        ("D1", "district", Some("P")),
        ("D2", "district", Some("P")),
    ] {
        store
            .upsert_unit(&UnitRecord {
                code: code.into(),
                name: format!("Đơn vị {code}"),
                level: level.into(),
                parent: parent.map(str::to_string),
            })
            .await
            .unwrap();
    }
    let mut tokens = std::collections::HashMap::new();
    for (user, role, unit) in [
        ("op1", "operator", None),
        ("op2", "operator", None),
        ("gs_d1", "supervisor", Some("D1")),
        ("gs_d2", "supervisor", Some("D2")),
        ("xem", "viewer", None),
    ] {
        let id = store
            .create_user(&NewUser {
                username: user,
                display_name: user,
                password_hash: "unused",
                role,
                unit_code: unit,
            })
            .await
            .unwrap();
        let token = Secret::new("cc_tok");
        store
            .create_token(&token.hash(), &id, "test", None)
            .await
            .unwrap();
        tokens.insert(user, token.as_str().to_string());
    }
    let mut ops = vec![];
    for (user, sip) in [("op1", "1001"), ("op2", "1002")] {
        let op = store
            .create_operator(
                &NewOperator {
                    username: user.into(),
                    display_name: format!("Điện thoại viên {user}"),
                    sip_user: sip.into(),
                    sip_ha1: "00".into(),
                    unit_code: None,
                },
                Utc::now(),
            )
            .await
            .unwrap();
        ops.push(op.id);
    }
    for (code, phone) in [("HS1", "0912345671"), ("HS2", "0912345672")] {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 2, 0, 0).unwrap();
        store
            .upsert_dossier(&Dossier {
                code: code.into(),
                procedure: "Cấp giấy chứng nhận".into(),
                field: "Đất đai".into(),
                unit_code: "D1".into(),
                applicant_kind: "person".into(),
                applicant_name: "Nguyễn Văn A".into(),
                phone: phone.into(),
                received_at: Some(t),
                returned_at: Some(t),
                created_at: t,
            })
            .await
            .unwrap();
    }
    store.add_do_not_call("0912345672", "asked").await.unwrap();
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some("HS1".into()),
            sip_call_id: None,
            destination: "0912345671".into(),
            caller_id: "1022".into(),
            dialplan: "operator-direct".into(),
            started_at: Utc::now(),
        })
        .await
        .unwrap();
    let response = store
        .start_response(&call, Some("HS1"), "operator-direct")
        .await
        .unwrap();
    store
        .add_answer(
            &response,
            &NewAnswer {
                key: "q1".into(),
                kind: AnswerKind::Value,
                value: Some("2".into()),
                why: None,
                offset_ms: Some(1000),
                clip_path: None,
                clip_seconds: None,
                clip_sha256: None,
                answered_at: Utc::now(),
            },
        )
        .await
        .unwrap();
    store.set_call_operator(&call, &ops[0]).await.unwrap();
    let state = AppState::new(store, Arc::new(Config::default()), "test".into());
    Desk {
        state,
        _dir: dir,
        op1: ops[0].clone(),
        call,
        response,
        tokens,
    }
}

#[tokio::test]
async fn the_page_is_for_operators_and_renders_the_form() {
    let d = desk().await;
    let (st, page) = d.send("op1", "GET", "/dien-thoai-vien", None).await;
    assert_eq!(st, StatusCode::OK);
    let page = page.as_str().unwrap();
    for needle in [
        "Sẵn sàng",
        "Tạm nghỉ",
        ">Gọi<",
        "Nhận",
        "Từ chối",
        "Gác máy",
        "Giữ máy",
        "Tắt mic",
        ">Lưu<",
        "name=\"q1\"",
        "name=\"q4\"",
        "name=\"gender\"",
        "data-when-key=\"for_whom\"",
        "/static/operator.js",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    assert!(!page.contains("<script>"), "no inline script (CSP)");
    for user in ["gs_d1", "xem"] {
        let (st, _) = d.send(user, "GET", "/dien-thoai-vien", None).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{user}");
    }
    // An operator who opens the site lands on their desk, not a 403.
    let (st, _) = d.send("op1", "GET", "/", None).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let (st, js) = d.send("xem", "GET", "/static/operator.js", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(js.as_str().unwrap().contains("/api/v1/operator/calls"));
}

#[tokio::test]
async fn me_shows_my_call_with_its_dossier_and_answers() {
    let d = desk().await;
    let (st, me) = d.send("op1", "GET", "/api/v1/operator/me", None).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["operator"]["username"], "op1");
    assert_eq!(me["operator"]["state"], "offline");
    assert_eq!(me["call"]["call_id"], d.call.as_str());
    assert_eq!(me["call"]["response_id"], d.response.as_str());
    assert_eq!(me["call"]["dossier"]["code"], "HS1");
    assert_eq!(me["call"]["dossier"]["place"], "Đơn vị D1");
    assert_eq!(me["call"]["answers"]["q1"], "2");
    let (_, me2) = d.send("op2", "GET", "/api/v1/operator/me", None).await;
    assert!(me2["call"].is_null(), "not op2's call: {me2}");
    let (st, _) = d.send("gs_d1", "GET", "/api/v1/operator/me", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn operators_set_only_their_own_state() {
    let d = desk().await;
    let paused = Some(json!({ "state": "paused" }));
    let (st, _) = d
        .send("op1", "POST", "/api/v1/operator/state", paused.clone())
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "offline: no phone to ring");
    d.store()
        .set_operator_state(&d.op1, OperatorState::Available, Utc::now())
        .await
        .unwrap();
    // A supervisor has no way to set op1's state through this endpoint.
    let (st, _) = d
        .send("gs_d1", "POST", "/api/v1/operator/state", paused.clone())
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let named = Some(json!({ "state": "paused", "operator": "op1" }));
    let (st, _) = d
        .send("gs_d1", "POST", "/api/v1/operator/state", named)
        .await;
    assert!(st.is_client_error(), "{st}");
    assert_eq!(d.op1_state().await, OperatorState::Available);
    let (st, _) = d
        .send(
            "op1",
            "POST",
            "/api/v1/operator/state",
            Some(json!({ "state": "on_call" })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "not a state one chooses");
    let (st, v) = d
        .send("op1", "POST", "/api/v1/operator/state", paused.clone())
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(d.op1_state().await, OperatorState::Paused);
    d.store()
        .set_operator_state(&d.op1, OperatorState::OnCall, Utc::now())
        .await
        .unwrap();
    let ready = Some(json!({ "state": "available" }));
    let (st, _) = d.send("op1", "POST", "/api/v1/operator/state", ready).await;
    assert_eq!(st, StatusCode::CONFLICT, "on a call");
    assert_eq!(d.op1_state().await, OperatorState::OnCall);
}

#[tokio::test]
async fn answers_are_checked_whole_and_written_by_the_calls_operator_only() {
    let d = desk().await;
    let uri = format!("/api/v1/responses/{}/answers", d.response);
    let before = d.history().await.len();
    let good = json!({ "answers": {
        "q1": "1", "q4": "9", "q3": "Phải chờ lâu", "for_whom": "1", "gender": "f", "q5": " ",
    }});
    // Another operator, an out-of-scope supervisor, a viewer: refused.
    for (user, want) in [
        ("op2", StatusCode::NOT_FOUND),
        ("gs_d2", StatusCode::NOT_FOUND),
        ("xem", StatusCode::FORBIDDEN),
    ] {
        let (st, v) = d.send(user, "POST", &uri, Some(good.clone())).await;
        assert_eq!(st, want, "{user}: {v}");
    }
    // One bad value: nothing at all is written.
    let bad = json!({ "answers": { "q1": "1", "q4": "11" } });
    let (st, v) = d.send("op1", "POST", &uri, Some(bad)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let bad = json!({ "answers": { "q1": "1", "nonsense": "1" } });
    let (st, _) = d.send("op1", "POST", &uri, Some(bad)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(d.history().await.len(), before, "nothing written");

    let (st, v) = d.send("op1", "POST", &uri, Some(good.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let h = d.history().await;
    let by_op: Vec<_> = h
        .iter()
        .filter(|a| a.changed_by.as_deref() == Some("op1"))
        .collect();
    let mut keys: Vec<_> = by_op.iter().map(|a| a.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["for_whom", "gender", "q1", "q3", "q4"],
        "q5 empty: skipped"
    );
    let q1 = by_op.iter().find(|a| a.key == "q1").unwrap();
    assert_eq!(
        (q1.revision, q1.value.as_deref()),
        (2, Some("1")),
        "after the IVR's q1"
    );
    assert!(by_op.iter().all(|a| a.change_reason.is_none()));
    let audit = d
        .store()
        .audit_entries(&crate::store::AuditQuery {
            actor: Some("op1".into()),
            action_prefix: Some("answer.operator%".into()),
            target: None,
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "one audit entry for the save");
    // Saving the same form again adds nothing; a supervisor in scope may add.
    let (st, v) = d.send("op1", "POST", &uri, Some(good)).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v["saved"], json!({}));
    assert_eq!(d.history().await.len(), h.len());
    // A supervisor changes results: only with a reason, which is stored.
    let held = d.history().await.len();
    for body in [
        json!({ "answers": { "q4": "8" } }),
        json!({ "answers": { "q4": "8" }, "reason": "  " }),
    ] {
        let (st, v) = d.send("gs_d1", "POST", &uri, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("reason"), "{v}");
    }
    assert_eq!(
        d.history().await.len(),
        held,
        "nothing written without a reason"
    );
    let (st, _) = d
        .send(
            "gs_d1",
            "POST",
            &uri,
            Some(
                json!({ "answers": { "q4": "8" }, "reason": "khách xác nhận lại qua điện thoại" }),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let h = d.history().await;
    let q4 = h
        .iter()
        .filter(|a| a.key == "q4")
        .max_by_key(|a| a.revision)
        .unwrap();
    assert_eq!(
        q4.change_reason.as_deref(),
        Some("khách xác nhận lại qua điện thoại")
    );
    let (_, log) = d.send("op1", "GET", "/api/v1/operator/me", None).await;
    assert_eq!(log["call"]["answers"]["q4"], "8");
}

/// A spoken complaint (a clip) is evidence: no one replaces it with text,
/// on either endpoint, and the clip stays the latest answer.
#[tokio::test]
async fn a_clip_answer_is_never_overwritten_by_text() {
    let d = desk().await;
    d.store()
        .add_answer(
            &d.response,
            &NewAnswer {
                key: "q3".into(),
                kind: AnswerKind::Clip,
                value: None,
                why: None,
                offset_ms: Some(40_000),
                clip_path: Some("recordings/x-q3.wav".into()),
                clip_seconds: Some(3.2),
                clip_sha256: Some("00".repeat(32)),
                answered_at: Utc::now(),
            },
        )
        .await
        .unwrap();
    let held = d.history().await.len();
    let reason = "khách muốn ghi lại bằng chữ";
    let uri = format!("/api/v1/responses/{}/answers", d.response);
    for (user, uri, body) in [
        (
            "op1",
            uri.clone(),
            json!({ "answers": { "q3": "Chờ lâu" } }),
        ),
        (
            "gs_d1",
            uri.clone(),
            json!({ "answers": { "q3": "Chờ lâu", "q4": "2" }, "reason": reason }),
        ),
        (
            "gs_d1",
            format!("/api/v1/responses/{}/revisions", d.response),
            json!({ "key": "q3", "value": "Chờ lâu", "reason": reason }),
        ),
    ] {
        let (st, v) = d.send(user, "POST", &uri, Some(body)).await;
        assert_eq!(st, StatusCode::CONFLICT, "{user} {uri}: {v}");
        assert!(v["detail"].as_str().unwrap().contains("clip"), "{v}");
    }
    let h = d.history().await;
    assert_eq!(h.len(), held, "nothing written, not even q4");
    let q3 = h
        .iter()
        .filter(|a| a.key == "q3")
        .max_by_key(|a| a.revision)
        .unwrap();
    assert_eq!(q3.kind, AnswerKind::Clip, "the clip stays");
}

#[tokio::test]
async fn click_to_call_refuses_before_dialling() {
    let d = desk().await;
    let uri = "/api/v1/operator/calls";
    let call = |code: &str| Some(json!({ "dossier": code }));
    let (st, _) = d.send("op1", "POST", uri, call("HS-nope")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = d.send("op1", "POST", uri, call("HS2")).await;
    assert_eq!(st, StatusCode::CONFLICT, "do-not-call: {v}");
    assert!(v["detail"].as_str().unwrap().contains("do-not-call"));
    let (st, _) = d.send("op1", "POST", uri, call("HS1")).await;
    assert_eq!(st, StatusCode::CONFLICT, "offline, not available");
    d.store()
        .set_operator_state(&d.op1, OperatorState::Available, Utc::now())
        .await
        .unwrap();
    let (st, _) = d.send("op1", "POST", uri, call("HS1")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "no call services here");
    assert_eq!(d.op1_state().await, OperatorState::Available, "not claimed");
    let (st, _) = d.send("gs_d1", "POST", uri, call("HS1")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}
