//! Complaints follow-up, the dashboard's exports and the operators page.

use axum::http::StatusCode;

use super::*;
use crate::store::AuditQuery;
use crate::store::complaints::ComplaintState;

async fn events(w: &World) -> Vec<crate::store::complaints::ComplaintEvent> {
    w.state
        .store
        .complaint(&w.response_d1)
        .await
        .unwrap()
        .map(|d| d.events)
        .unwrap_or_default()
}

async fn state(w: &World) -> (ComplaintState, Option<String>) {
    let d = w
        .state
        .store
        .complaint(&w.response_d1)
        .await
        .unwrap()
        .unwrap();
    (d.complaint.state, d.complaint.assigned_unit)
}

async fn audit(w: &World, prefix: &str) -> usize {
    w.state
        .store
        .audit_entries(&AuditQuery {
            actor: None,
            action_prefix: Some(prefix.into()),
            target: None,
            before: None,
            limit: 50,
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn complaints_stay_in_scope_and_only_followers_act() {
    let w = world().await;
    let uri = format!("/khieu-nai/{}", w.response_d1);
    let (admin, _) = log_in(&w.state, "admin").await;
    let list = text(send(&w.state, get("/khieu-nai", &admin)).await).await;
    assert!(list.contains(&uri) && list.contains("HS1"), "{list}");
    assert!(list.contains("Chưa xử lý"));
    let page = text(send(&w.state, get(&uri, &admin)).await).await;
    let call = w.call_d1.as_str();
    assert!(
        page.contains(&format!(r#"src="/api/v1/calls/{call}/clips/q3""#)),
        "{page}"
    );
    assert!(page.contains(&format!(r#"href="/cuoc-goi/{call}""#)));
    assert!(page.contains(r#"id="forward-form""#));

    // Another district's supervisor: not in the list, 404 on the page and the form.
    let (d2, d2_csrf) = log_in(&w.state, "gs_d2").await;
    let list = text(send(&w.state, get("/khieu-nai", &d2)).await).await;
    assert!(!list.contains("HS0") && !list.contains("HS1"), "{list}");
    assert_eq!(
        send(&w.state, get(&uri, &d2)).await.status(),
        StatusCode::NOT_FOUND
    );
    let body = format!("csrf={d2_csrf}&action=resolved&note=x");
    let r = send(&w.state, form(&uri, Some(&d2), &body)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A viewer reads but does not act, and sees no forms.
    let (xem, xem_csrf) = log_in(&w.state, "xem").await;
    let page = text(send(&w.state, get(&uri, &xem)).await).await;
    assert!(!page.contains(r#"id="resolve-form""#));
    let body = format!("csrf={xem_csrf}&action=resolved&note=x");
    let r = send(&w.state, form(&uri, Some(&xem), &body)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // No token, or another session's token: refused before the handler.
    let r = send(&w.state, form(&uri, Some(&admin), "action=resolved")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = send(
        &w.state,
        form(
            &uri,
            Some(&admin),
            &format!("csrf={xem_csrf}&action=note&note=x"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(events(&w).await.is_empty());
    assert_eq!(audit(&w, "complaint.").await, 0);
}

#[tokio::test]
async fn a_complaint_is_forwarded_resolved_and_reopened() {
    let w = world().await;
    let uri = format!("/khieu-nai/{}", w.response_d1);
    let (admin, csrf) = log_in(&w.state, "admin").await;
    let act = |body: String| form(&uri, Some(&admin), &body);
    let r = send(
        &w.state,
        act(format!(
            "csrf={csrf}&action=forwarded&unit=D2&note=Nh%E1%BB%9D+x%E1%BB%AD+l%C3%BD"
        )),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{uri}?da=forwarded"));
    assert_eq!(
        state(&w).await,
        (ComplaintState::Forwarded, Some("D2".into()))
    );
    let page = text(send(&w.state, get(&format!("{uri}?da=forwarded"), &admin)).await).await;
    assert!(page.contains("Đã chuyển phản ánh cho đơn vị."), "{page}");
    assert!(page.contains("Nhờ xử lý") && page.contains("Huyện Hai"));

    // Now with D2, its supervisor sees it and resolves it.
    let (d2, d2_csrf) = log_in(&w.state, "gs_d2").await;
    let list = text(send(&w.state, get("/khieu-nai?state=forwarded", &d2)).await).await;
    assert!(list.contains(&uri), "{list}");
    let r = send(
        &w.state,
        form(
            &uri,
            Some(&d2),
            &format!("csrf={d2_csrf}&action=resolved&note=%C4%90%C3%A3+g%E1%BB%8Di+l%E1%BA%A1i"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(&w).await.0, ComplaintState::Resolved);

    // A resolved complaint is not forwarded: the page says why, nothing written.
    let before = events(&w).await.len();
    let r = send(
        &w.state,
        act(format!("csrf={csrf}&action=forwarded&unit=D1")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(text(r).await.contains("Không thực hiện được"));
    assert_eq!(events(&w).await.len(), before);
    let r = send(&w.state, act(format!("csrf={csrf}&action=opened"))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = send(
        &w.state,
        act(format!("csrf={csrf}&action=reopened&note=Ch%C6%B0a+xong")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(&w).await.0, ComplaintState::Open);
    let page = text(send(&w.state, get(&uri, &admin)).await).await;
    for step in [
        "Chuyển đơn vị",
        "Đã giải quyết",
        "Mở lại",
        "Đã gọi lại",
        "gs_d2",
    ] {
        assert!(page.contains(step), "{step}: {page}");
    }
    let open = text(send(&w.state, get("/khieu-nai?state=open", &admin)).await).await;
    assert!(open.contains(&uri));
    let resolved = text(send(&w.state, get("/khieu-nai?state=resolved", &admin)).await).await;
    assert!(!resolved.contains(&uri));
    assert_eq!(
        send(&w.state, get("/khieu-nai?state=closed", &admin))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(audit(&w, "complaint.").await, 3);
}

#[tokio::test]
async fn the_dashboard_filters_by_unit_and_links_the_exports() {
    let w = world().await;
    let (admin, _) = log_in(&w.state, "admin").await;
    let page = text(send(&w.state, get("/?unit=D2", &admin)).await).await;
    // D2 has one call, not answered.
    assert!(
        page.contains(r#"<strong id="kpi-response">0,0%</strong>"#),
        "{page}"
    );
    assert!(page.contains("Trụ sở dễ tìm kiếm"), "Q2 reasons are listed");
    let xlsx = page
        .split("href=\"")
        .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|h| h.starts_with("/api/v1/reports?by=unit&format=xlsx"))
        .expect("an XLSX export link");
    assert!(xlsx.ends_with("&unit=D2"), "{xlsx}");
    let r = send(&w.state, get(&xlsx, &admin)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
    assert!(body.starts_with(b"PK") && body.len() > 1000);
    assert!(page.contains(r#"action="/api/v1/reports/monthly""#));
    assert!(page.contains(r#"<input type="hidden" name="unit" value="D2">"#));
    // Today is a bar of the calls-per-day chart.
    let day = crate::http::pages::filters::vn_day(Utc::now() - chrono::Duration::hours(2));
    let bar = format!("{}/{}: 1 cuộc gọi, 0 nghe máy", &day[8..10], &day[5..7]);
    assert!(page.contains(&bar), "{bar}");
    let r = send(&w.state, get("/?from=2026-10-05&to=2026-10-01", &admin)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_add_operators_with_only_the_ha1_stored() {
    let w = world().await;
    let (admin, csrf) = log_in(&w.state, "admin").await;
    let path = "/dien-thoai-vien/quan-ly";
    let add = |sip: &str, pw: &str| {
        format!(
            "csrf={csrf}&username=lan.{sip}&display_name=Tr%E1%BA%A7n+Th%E1%BB%8B+Lan&sip_user={sip}&password={pw}&unit=D1"
        )
    };
    let r = send(
        &w.state,
        form(path, Some(&admin), &add("lan", "mat-khau-sip")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ops = w.state.store.operators().await.unwrap();
    assert_eq!(ops.len(), 1);
    let realm = &w.state.config.registrar.realm;
    use crate::sip::registrar::digest::{Algorithm, ha1};
    assert_eq!(
        ops[0].sip_ha1,
        ha1(Algorithm::Md5, "lan", realm, "mat-khau-sip")
    );
    assert_eq!(ops[0].unit_code.as_deref(), Some("D1"));
    let page = text(send(&w.state, get(path, &admin)).await).await;
    assert!(
        page.contains("Trần Thị Lan") && page.contains("Ngoại tuyến"),
        "{page}"
    );
    assert!(!page.contains("mat-khau-sip"));
    // The same SIP user again, a short password, a bad SIP user: refused, kept out.
    let r = send(
        &w.state,
        form(path, Some(&admin), &add("lan", "mat-khau-sip")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = send(&w.state, form(path, Some(&admin), &add("hoa", "ngan"))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = send(
        &w.state,
        form(path, Some(&admin), &add("h%40a", "mat-khau-sip")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = text(r).await;
    assert!(page.contains("lan.h@a"), "the form comes back filled in");
    assert_eq!(w.state.store.operators().await.unwrap().len(), 1);
    assert_eq!(audit(&w, "operator.").await, 1);
    // Supervisors and viewers: 403; no token: 403.
    let (d2, d2_csrf) = log_in(&w.state, "gs_d2").await;
    assert_eq!(
        send(&w.state, get(path, &d2)).await.status(),
        StatusCode::FORBIDDEN
    );
    let body = format!("csrf={d2_csrf}&username=x&sip_user=x&password=12345678");
    let r = send(&w.state, form(path, Some(&d2), &body)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = send(
        &w.state,
        form(
            path,
            Some(&admin),
            "username=y&sip_user=y&password=12345678",
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(w.state.store.operators().await.unwrap().len(), 1);
    let nav = text(send(&w.state, get("/", &admin)).await).await;
    assert!(
        nav.contains(r#"href="/dien-thoai-vien/quan-ly""#) && nav.contains(r#"href="/khieu-nai""#)
    );
}
