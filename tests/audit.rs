//! The answers' hash chain (`carecall audit verify`), on SQLite (a temp file per
//! case) and PostgreSQL (a fresh database per case; see common/pg.rs). The
//! tampering cases play an attacker with database access: they drop the
//! append-only triggers and edit `answers` with plain SQL.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;

use carecall::store::{
    AnswerKind, Backend, BreakReason, ChainReport, ChainRow, NewAnswer, NewCall, ResponseId, Store,
    answer_hash,
};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::{AnyConnection, Connection, Row};

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_735_000_000_000 + ms).unwrap()
}

fn value(key: &str, v: &str, ms: i64) -> NewAnswer {
    NewAnswer {
        key: key.into(),
        kind: AnswerKind::Value,
        value: Some(v.into()),
        why: None,
        offset_ms: Some(ms),
        clip_path: None,
        clip_seconds: None,
        clip_sha256: None,
        answered_at: at(ms),
    }
}

async fn response(store: &Store) -> ResponseId {
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some("HS-1".into()),
            sip_call_id: None,
            destination: "sip:0912345678@trunk.example".into(),
            caller_id: "1022".into(),
            dialplan: "csat-v1".into(),
            started_at: at(0),
        })
        .await
        .unwrap();
    store
        .start_response(&call, Some("HS-1"), "csat-v1")
        .await
        .unwrap()
}

/// Ten answers on one response: seq 1..=10, q1..q3 revised in turn.
async fn ten_answers(store: &Store) -> ResponseId {
    let r = response(store).await;
    for i in 0..10 {
        let a = value(&format!("q{}", i % 3 + 1), &i.to_string(), i * 1000);
        store.add_answer(&r, &a).await.unwrap();
    }
    r
}

/// A raw connection with the append-only triggers dropped.
async fn attacker(store: &Store, url: &str) -> AnyConnection {
    let mut db = AnyConnection::connect(url).await.unwrap();
    let drops: &[&'static str] = match store.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER answers_no_update",
            "DROP TRIGGER answers_no_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER answers_no_update_or_delete ON answers"],
    };
    for sql in drops {
        sqlx::query(*sql).execute(&mut db).await.unwrap();
    }
    db
}

async fn id_at(db: &mut AnyConnection, seq: i64) -> String {
    sqlx::query("SELECT id FROM answers WHERE seq = $1")
        .bind(seq)
        .fetch_one(db)
        .await
        .unwrap()
        .get("id")
}

async fn chain_row_at(db: &mut AnyConnection, seq: i64) -> ChainRow {
    let r = sqlx::query(
        "SELECT a.*, s.call_id AS response_call_id, s.dossier_code AS response_dossier \
         FROM answers a JOIN survey_responses s ON s.id = a.response_id WHERE a.seq = $1",
    )
    .bind(seq)
    .fetch_one(db)
    .await
    .unwrap();
    ChainRow {
        id: r.get("id"),
        response_id: r.get("response_id"),
        key: r.get("key"),
        revision: r.get("revision"),
        kind: r.get("kind"),
        value: r.get("value"),
        why: r.get("why"),
        offset_ms: r.get("offset_ms"),
        clip_path: r.get("clip_path"),
        clip_ms: r.get("clip_ms"),
        clip_sha256: r.get("clip_sha256"),
        answered_at_ms: r.get("answered_at"),
        changed_by: r.get("changed_by"),
        change_reason: r.get("change_reason"),
        seq: r.get("seq"),
        response_call_id: r.get("response_call_id"),
        response_dossier: r.get("response_dossier"),
    }
}

fn broken_at(report: &ChainReport, seq: i64, reason: BreakReason) {
    let b = report
        .first_broken
        .as_ref()
        .unwrap_or_else(|| panic!("chain reported intact: {report:?}"));
    assert_eq!((b.seq, b.reason), (Some(seq), reason), "{report:?}");
}

mod cases {
    use super::*;

    pub async fn clean_chain_verifies(store: &Store, url: &str) {
        let empty = store.verify_chain().await.unwrap();
        assert_eq!((empty.answers, empty.unchained), (0, 0));
        assert!(empty.is_intact());
        ten_answers(store).await;
        let report = store.verify_chain().await.unwrap();
        assert_eq!(report.answers, 10);
        assert_eq!(report.unchained, 0);
        assert!(report.is_intact(), "{report:?}");
        // The revisions are still computed per key.
        let mut db = AnyConnection::connect(url).await.unwrap();
        let rev: i64 = sqlx::query("SELECT revision FROM answers WHERE seq = 10")
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get("revision");
        assert_eq!(rev, 4);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["first_broken"], serde_json::Value::Null);
    }

    pub async fn append_only_triggers_still_refuse(store: &Store, url: &str) {
        ten_answers(store).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        assert!(
            sqlx::query("UPDATE answers SET value = 'x' WHERE seq = 1")
                .execute(&mut db)
                .await
                .is_err()
        );
        assert!(store.verify_chain().await.unwrap().is_intact());
    }

    pub async fn concurrent_writers_keep_one_chain(store: &Store, url: &str) {
        // Two stores on one database: two pools, as two processes would have.
        let other = Store::connect(url).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let s = if t % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tasks.push(tokio::spawn(async move {
                let r = response(&s).await;
                for i in 0..20 {
                    let a = value(&format!("q{}", i % 4), &format!("{t}-{i}"), i);
                    s.add_answer(&r, &a).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        other.close().await;
        let report = store.verify_chain().await.unwrap();
        assert_eq!(report.answers, 160, "{report:?}");
        assert!(report.is_intact(), "{report:?}");
        let mut db = AnyConnection::connect(url).await.unwrap();
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi, COUNT(DISTINCT seq) AS d, \
             MAX(revision) AS rev FROM answers",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        let got: [i64; 5] = ["n", "lo", "hi", "d", "rev"].map(|c| row.get(c));
        assert_eq!(got, [160, 1, 160, 160, 5]);
    }

    pub async fn edited_value_is_named(store: &Store, url: &str) {
        let r = ten_answers(store).await;
        let mut db = attacker(store, url).await;
        let id = id_at(&mut db, 7).await;
        sqlx::query("UPDATE answers SET value = '10' WHERE seq = 7")
            .execute(&mut db)
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        broken_at(&report, 7, BreakReason::ContentHash);
        let b = report.first_broken.unwrap();
        assert_eq!(b.answer_id.unwrap().as_str(), id);
        assert_eq!(b.response_id.unwrap(), r);
        assert_eq!(b.key.as_deref(), Some("q1"));
        assert_eq!(report.answers, 6, "links before the break are counted");
    }

    /// Moving a response to another dossier (another unit in the reports) with
    /// plain SQL breaks the chain at its first answer; survey_responses has no
    /// trigger, so no attacker powers are needed.
    pub async fn response_moved_to_another_dossier_is_found(store: &Store, url: &str) {
        let r = ten_answers(store).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE survey_responses SET dossier_code = 'HS-2' WHERE id = $1")
            .bind(r.as_str())
            .execute(&mut db)
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        broken_at(&report, 1, BreakReason::ContentHash);
        sqlx::query(
            "UPDATE survey_responses SET dossier_code = 'HS-1', status = 'completed' WHERE id = $1",
        )
        .bind(r.as_str())
        .execute(&mut db)
        .await
        .unwrap();
        let report = store.verify_chain().await.unwrap();
        assert!(report.is_intact(), "status is not bound: {report:?}");
    }

    /// What the reports read (answer_latest) edited by hand, with the chain
    /// untouched: verify still names the answer.
    pub async fn edited_latest_table_is_found(store: &Store, url: &str) {
        let r = ten_answers(store).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE answer_latest SET value = '10' WHERE response_id = $1 AND key = 'q1'")
            .bind(r.as_str())
            .execute(&mut db)
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        let b = report.first_broken.expect("mismatch found");
        assert_eq!(b.reason, BreakReason::LatestMismatch);
        assert_eq!(b.key.as_deref(), Some("q1"));
        sqlx::query("DELETE FROM answer_latest WHERE response_id = $1 AND key = 'q2'")
            .bind(r.as_str())
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query("UPDATE answer_latest SET value = '9' WHERE response_id = $1 AND key = 'q1'")
            .bind(r.as_str())
            .execute(&mut db)
            .await
            .unwrap();
        let b = store
            .verify_chain()
            .await
            .unwrap()
            .first_broken
            .expect("missing row found");
        assert_eq!(
            (b.reason, b.key.as_deref()),
            (BreakReason::LatestMismatch, Some("q2"))
        );
    }

    /// The complaints' history and the audit log refuse UPDATE and DELETE
    /// from plain SQL, as the answers do; appending still works.
    pub async fn histories_are_append_only(store: &Store, url: &str) {
        let r = response(store).await;
        store
            .log_change(&carecall::store::NewAuditEntry {
                actor: "admin",
                action: "campaign.start",
                target: Some("c-1"),
                detail: None,
                remote: None,
            })
            .await
            .unwrap();
        let mut db = AnyConnection::connect(url).await.unwrap();
        sqlx::query(
            "INSERT INTO complaint_events (id, response_id, seq, unit_code, action, note, actor, \
             created_at) VALUES ('e1', $1, 1, NULL, 'opened', NULL, 'system', 0)",
        )
        .bind(r.as_str())
        .execute(&mut db)
        .await
        .unwrap();
        for sql in [
            "UPDATE audit_log SET actor = 'someone-else'",
            "DELETE FROM audit_log",
            "UPDATE complaint_events SET action = 'resolved'",
            "DELETE FROM complaint_events",
        ] {
            let err = sqlx::query(sql).execute(&mut db).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'admin'")
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get("n");
        assert_eq!(n, 1);
    }

    pub async fn rehashed_edit_breaks_the_next_link(store: &Store, url: &str) {
        ten_answers(store).await;
        let mut db = attacker(store, url).await;
        // The attacker edits row 4 and recomputes its hash correctly.
        let mut row = chain_row_at(&mut db, 4).await;
        row.value = Some("10".into());
        let prev: String = sqlx::query("SELECT prev_hash FROM answers WHERE seq = 4")
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get("prev_hash");
        sqlx::query("UPDATE answers SET value = '10', hash = $1 WHERE seq = 4")
            .bind(answer_hash(&prev, &row))
            .execute(&mut db)
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        broken_at(&report, 5, BreakReason::PrevHash);
    }

    pub async fn deleted_last_row_is_found_by_the_head(store: &Store, url: &str) {
        ten_answers(store).await;
        let mut db = attacker(store, url).await;
        sqlx::query("DELETE FROM answers WHERE seq = 10")
            .execute(&mut db)
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        broken_at(&report, 10, BreakReason::HeadMismatch);
        assert_eq!(report.answers, 9);
    }

    pub async fn deleted_middle_row_is_a_gap(store: &Store, url: &str) {
        ten_answers(store).await;
        let mut db = attacker(store, url).await;
        sqlx::query("DELETE FROM answers WHERE seq = 3")
            .execute(&mut db)
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        broken_at(&report, 4, BreakReason::SeqGap);
    }

    pub async fn forged_row_in_the_middle_is_found(store: &Store, url: &str) {
        let r = ten_answers(store).await;
        let mut db = attacker(store, url).await;
        // Make room at seq 6 (two steps: the seq index is unique).
        for sql in [
            "UPDATE answers SET seq = seq + 1000 WHERE seq > 5",
            "UPDATE answers SET seq = seq - 999 WHERE seq > 1000",
            "UPDATE answer_chain_head SET seq = seq + 1",
        ] {
            sqlx::query(sql).execute(&mut db).await.unwrap();
        }
        let prev: String = sqlx::query("SELECT hash FROM answers WHERE seq = 5")
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get("hash");
        // A forged row with a correctly computed hash of its own.
        let forged = ChainRow {
            id: "forged".into(),
            response_id: r.as_str().into(),
            key: "q9".into(),
            revision: 1,
            kind: "value".into(),
            value: Some("10".into()),
            why: None,
            offset_ms: Some(5500),
            clip_path: None,
            clip_ms: None,
            clip_sha256: None,
            answered_at_ms: at(5500).timestamp_millis(),
            changed_by: None,
            change_reason: None,
            seq: 6,
            response_call_id: chain_row_at(&mut db, 5).await.response_call_id,
            response_dossier: chain_row_at(&mut db, 5).await.response_dossier,
        };
        let hash = answer_hash(&prev, &forged);
        sqlx::query(
            "INSERT INTO answers (id, response_id, key, revision, kind, value, offset_ms, \
             answered_at, seq, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&forged.id)
        .bind(&forged.response_id)
        .bind(&forged.key)
        .bind(forged.revision)
        .bind(&forged.kind)
        .bind(forged.value.as_deref())
        .bind(forged.offset_ms)
        .bind(forged.answered_at_ms)
        .bind(forged.seq)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut db)
        .await
        .unwrap();
        let report = store.verify_chain().await.unwrap();
        broken_at(&report, 7, BreakReason::PrevHash);
    }

    pub async fn rows_outside_the_chain_are_found(store: &Store, url: &str) {
        let r = ten_answers(store).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        // Appended past the head (no trigger needed: INSERT is allowed).
        sqlx::query(
            "INSERT INTO answers (id, response_id, key, revision, kind, value, answered_at, \
             seq, prev_hash, hash) VALUES ('late', $1, 'q8', 1, 'value', '1', 0, 11, 'x', 'y')",
        )
        .bind(r.as_str())
        .execute(&mut db)
        .await
        .unwrap();
        broken_at(
            &store.verify_chain().await.unwrap(),
            11,
            BreakReason::AfterHead,
        );
        // A row posing as one from before the chain (NULL seq and hash).
        let mut db = attacker(store, url).await;
        sqlx::query("DELETE FROM answers WHERE id = 'late'")
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO answers (id, response_id, key, revision, kind, value, answered_at) \
             VALUES ('old', $1, 'q7', 1, 'value', '1', 0)",
        )
        .bind(r.as_str())
        .execute(&mut db)
        .await
        .unwrap();
        let report = store.verify_chain().await.unwrap();
        assert_eq!(report.unchained, 1);
        let b = report.first_broken.expect("forged pre-chain row found");
        assert_eq!(b.reason, BreakReason::UnchainedCount);
    }
}

both_backends!(
    clean_chain_verifies,
    append_only_triggers_still_refuse,
    concurrent_writers_keep_one_chain,
    edited_value_is_named,
    response_moved_to_another_dossier_is_found,
    edited_latest_table_is_found,
    histories_are_append_only,
    rehashed_edit_breaks_the_next_link,
    deleted_last_row_is_found_by_the_head,
    deleted_middle_row_is_a_gap,
    forged_row_in_the_middle_is_found,
    rows_outside_the_chain_are_found,
);

/// `carecall audit verify`: exit 0 on an intact chain; after a direct edit in
/// the database, exit 1 with the broken link named on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_command_names_the_tampered_answer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carecall.db").display());
    let store = Store::connect(&url).await.unwrap();
    ten_answers(&store).await;
    let config = dir.path().join("carecall.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{url}\"\n")).unwrap();
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_carecall"))
            .arg("--config")
            .arg(&config)
            .args(["audit", "verify"])
            .env_remove("CARECALL_DATABASE_URL")
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let mut db = attacker(&store, &url).await;
    sqlx::query("UPDATE answers SET value = '1' WHERE seq = 3")
        .execute(&mut db)
        .await
        .unwrap();
    let bad = verify();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("seq 3"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["first_broken"]["seq"], 3, "{report}");
    store.close().await;
}
