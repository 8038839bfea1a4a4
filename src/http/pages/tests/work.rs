//! What supervisors do on the pages: dashboard, review, corrections, campaigns.

use axum::http::{StatusCode, header};

use super::*;
use crate::store::{AuditQuery, CampaignId, CampaignStatus};

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
    // The cases card counts the dossiers returned in the period (October
    // here), with n and intervals, small cells marked.
    assert!(page.contains(r#"<section class="card" id="cases">"#));
    let october = text(send(&w.state, get("/?from=2026-10-01&to=2026-11-01", &cookie)).await).await;
    assert!(october.contains(">ít mẫu</span>"), "{october}");
    // D1: HS0 satisfied, HS1 not: 50 % of n = 2, Wilson [9.5 %, 90.5 %].
    assert!(
        october.contains("50,0% <small>(n=2; 9,5% – 90,5%)"),
        "{october}"
    );
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
    assert!(page.contains(&format!(r#"data-src="/api/v1/calls/{id}/waveform""#)));
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
    // Four eyes: a proposal, no revision until a second user approves it.
    assert_eq!(revisions().await, before, "nothing applied yet");
    let pending = w.state.store.pending_corrections().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].key.as_str(), pending[0].value.as_str()),
        ("q1", "2")
    );
    assert_eq!(pending[0].proposed_by, "admin");
    assert_eq!(pending[0].reason, "nghe lại ghi âm");
    let page = text(send(&w.state, get(location(&r), &cookie)).await).await;
    assert!(page.contains("Đã gửi đề xuất sửa câu"), "{page}");
    assert!(page.contains("khi cấp trên phê duyệt"));
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
