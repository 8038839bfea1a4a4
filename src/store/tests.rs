//! Unit tests that need the private pool (faults injected with SQLite pragmas).
//! The full behaviour suite, on SQLite and PostgreSQL, is in tests/store.rs.

use chrono::{TimeZone, Utc};

use super::survey::latest_per_key;
use super::*;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_735_000_000_000 + ms).unwrap()
}

fn dossier(code: &str) -> Dossier {
    Dossier {
        code: code.into(),
        procedure: "Cấp giấy phép xây dựng".into(),
        field: "Xây dựng".into(),
        unit_code: "DT-TTHCC".into(),
        applicant_kind: "person".into(),
        applicant_name: "Nguyễn Văn A".into(),
        phone: "0901234567".into(),
        received_at: Some(at(0)),
        returned_at: None,
        created_at: at(1),
    }
}

fn answer(key: &str, value: &str, ms: i64) -> NewAnswer {
    NewAnswer {
        key: key.into(),
        kind: AnswerKind::Value,
        value: Some(value.into()),
        why: None,
        offset_ms: Some(ms),
        clip_path: None,
        clip_seconds: None,
        clip_sha256: None,
        answered_at: at(ms),
    }
}

async fn memory_store() -> Store {
    Store::connect("sqlite::memory:")
        .await
        .expect("in-memory store")
}

#[tokio::test]
async fn in_memory_database_keeps_its_schema_across_calls() {
    let store = memory_store().await;
    store.upsert_dossier(&dossier("HS-1")).await.unwrap();
    assert_eq!(store.dossier("HS-1").await.unwrap(), Some(dossier("HS-1")));
}

#[tokio::test]
async fn full_database_gives_disk_full() {
    let store = memory_store().await;
    // The pool of an in-memory store has one connection, so the pragma sticks.
    let pages: i64 = sqlx::query("PRAGMA page_count")
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA max_page_count = {}",
        pages + 1
    )))
    .fetch_optional(&store.pool)
    .await
    .unwrap();
    let mut result = Ok(());
    for i in 0..2000 {
        let mut d = dossier(&format!("HS-{i}"));
        d.applicant_name = "x".repeat(2000);
        result = store.upsert_dossier(&d).await;
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("a capped database must fill up");
    assert!(
        matches!(
            err,
            StoreError::DiskFull {
                op: "upsert_dossier",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("full"), "{err}");
}

#[tokio::test]
async fn raw_sql_cannot_edit_or_delete_answers() {
    let store = memory_store().await;
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: None,
            sip_call_id: None,
            destination: "0901234567".into(),
            caller_id: "1022".into(),
            dialplan: "csat".into(),
            started_at: at(0),
        })
        .await
        .unwrap();
    let resp = store.start_response(&call, None, "csat").await.unwrap();
    store
        .add_answer(&resp, &answer("q1", "1", 10))
        .await
        .unwrap();

    for sql in ["UPDATE answers SET value = '2'", "DELETE FROM answers"] {
        let err = sqlx::query(sql).execute(&store.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        assert!(matches!(
            classify_for_test(err),
            StoreError::Constraint { .. }
        ));
    }
    let history = store.answer_history(&resp).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].value.as_deref(), Some("1"));
}

fn classify_for_test(e: sqlx::Error) -> StoreError {
    error::classify("test", e)
}

#[test]
fn latest_per_key_keeps_first_answer_order_and_highest_revision() {
    let rec = |key: &str, revision: i64, value: &str| AnswerRecord {
        id: AnswerId::new_v4(),
        response_id: ResponseId("r".into()),
        key: key.into(),
        revision,
        kind: AnswerKind::Value,
        value: Some(value.into()),
        why: None,
        offset_ms: None,
        clip_path: None,
        clip_seconds: None,
        clip_sha256: None,
        answered_at: at(revision),
        changed_by: None,
        change_reason: None,
    };
    let latest = latest_per_key(vec![
        rec("q1", 1, "a"),
        rec("q2", 1, "b"),
        rec("q1", 2, "c"),
        rec("q3", 1, "d"),
    ]);
    let got: Vec<(&str, &str)> = latest
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_deref().unwrap()))
        .collect();
    assert_eq!(got, [("q1", "c"), ("q2", "b"), ("q3", "d")]);
}

#[test]
fn dossier_debug_hides_name_and_phone() {
    let text = format!("{:?}", dossier("HS-1"));
    assert!(text.contains("HS-1"));
    assert!(
        !text.contains("0901234567") && !text.contains("Nguyễn"),
        "{text}"
    );
}

#[test]
fn answer_kinds_round_trip_through_text() {
    for k in [AnswerKind::Value, AnswerKind::Clip, AnswerKind::Unanswered] {
        assert_eq!(AnswerKind::parse(k.as_str()), Some(k));
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            format!("\"{}\"", k.as_str())
        );
    }
    assert_eq!(AnswerKind::parse("VALUE"), None);
}
