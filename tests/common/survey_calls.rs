//! Survey calls for report tests: units, dossiers, a call with its outcome
//! and a response with its answers (shared by tests/reports.rs and
//! tests/coverage.rs).
#![allow(dead_code)]

use carecall::store::{
    AnswerKind, CallId, CallOutcome, CampaignId, CampaignMode, Dossier, NewAnswer, NewCall,
    NewCampaign, NewTarget, ResponseId, Store, UnitRecord,
};
use chrono::{DateTime, TimeZone, Utc};

pub fn unit(code: &str, level: &str, parent: Option<&str>) -> UnitRecord {
    UnitRecord {
        code: code.into(),
        name: format!("Đơn vị {code}"),
        level: level.into(),
        parent: parent.map(Into::into),
    }
}

pub fn dossier(code: &str, unit: &str, field: &str) -> Dossier {
    Dossier {
        code: code.into(),
        procedure: "Cấp giấy".into(),
        field: field.into(),
        unit_code: unit.into(),
        applicant_kind: "person".into(),
        applicant_name: "Nguyễn Văn A".into(),
        phone: "0912345678".into(),
        received_at: None,
        returned_at: None,
        created_at: Utc.with_ymd_and_hms(2026, 10, 10, 2, 0, 0).unwrap(),
    }
}

pub enum A {
    V(&'static str, &'static str),
    Clip(&'static str),
    Skip(&'static str),
}

/// A call on `dossier` at `at` ending as `disp`, with `answers` in order
/// (a key given twice is a correction: its next revision).
pub async fn call(
    store: &Store,
    dossier: &str,
    at: DateTime<Utc>,
    disp: &str,
    answers: &[A],
) -> CallId {
    let id = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some(dossier.into()),
            sip_call_id: None,
            destination: "0912345678".into(),
            caller_id: "1022".into(),
            dialplan: "survey-1022".into(),
            started_at: at,
        })
        .await
        .unwrap();
    let picked_up = disp != "no_answer";
    if picked_up {
        store.call_answered(&id, at).await.unwrap();
    }
    store
        .finish_call(
            &id,
            &CallOutcome {
                disposition: disp.into(),
                sip_code: Some(if picked_up { 200 } else { 480 }),
                reason: None,
                end_reason: None,
                ended_at: at + chrono::Duration::minutes(2),
            },
        )
        .await
        .unwrap();
    if !answers.is_empty() {
        respond(store, &id, dossier, at, answers).await;
    }
    id
}

/// A survey response on call `id` about `dossier` with `answers` in order
/// (a key given twice is a correction: its next revision); status
/// `in_progress` until the caller sets it.
pub async fn respond(
    store: &Store,
    id: &CallId,
    dossier: &str,
    at: DateTime<Utc>,
    answers: &[A],
) -> ResponseId {
    let r = store
        .start_response(id, Some(dossier), "survey-1022")
        .await
        .unwrap();
    for (i, a) in answers.iter().enumerate() {
        let (key, kind, value, clip) = match a {
            A::V(k, v) => (*k, AnswerKind::Value, Some(v.to_string()), None),
            A::Clip(k) => (
                *k,
                AnswerKind::Clip,
                None,
                Some(format!("clips/{}-{k}.wav", id)),
            ),
            A::Skip(k) => (*k, AnswerKind::Unanswered, None, None),
        };
        let new = NewAnswer {
            key: key.into(),
            kind,
            value,
            why: None,
            offset_ms: Some(i as i64 * 1000),
            clip_seconds: clip.as_ref().map(|_| 4.5),
            clip_path: clip,
            clip_sha256: None,
            answered_at: at + chrono::Duration::seconds(i as i64),
        };
        store.add_answer(&r, &new).await.unwrap();
    }
    r
}

/// A campaign over October 2026 whose sample is `targets` (dossier, unit).
pub async fn campaign_with_targets(store: &Store, targets: &[(&str, &str)]) -> CampaignId {
    let oct = Utc.with_ymd_and_hms(2026, 10, 10, 2, 0, 0).unwrap();
    let campaign = store
        .create_campaign(&NewCampaign {
            name: "Khảo sát tháng 10".into(),
            mode: CampaignMode::Ivr,
            dialplan: "survey-1022".into(),
            period_from: oct - chrono::Duration::days(30),
            period_to: oct + chrono::Duration::days(30),
            daily_target: 25,
            max_concurrent: 2,
            calls_per_second: 1.0,
            rule_json: "{}".into(),
            windows_json: "{}".into(),
            retry_json: "{}".into(),
            quotas_json: "[]".into(),
            sample_seed: 7,
        })
        .await
        .unwrap();
    let targets: Vec<NewTarget> = targets
        .iter()
        .enumerate()
        .map(|(i, (d, u))| NewTarget {
            dossier_code: (*d).into(),
            phone: "0912345678".into(),
            unit_code: (*u).into(),
            rank: i as i64,
        })
        .collect();
    store.add_targets(&campaign, &targets).await.unwrap();
    campaign
}
