//! The audit chain (`carecall audit verify`), on SQLite (a temp file per case)
//! and PostgreSQL (a fresh database per case; see common/pg.rs). The tampering
//! cases play an attacker with database (and, for files, disk) access but
//! without the audit key: they drop the append-only triggers and edit rows
//! with plain SQL, re-hash with SHA-256, put old heads back, change files.
//! Each case runs the `carecall audit verify` binary as well as the library.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;

use std::path::{Path, PathBuf};

use carecall::store::{
    AnswerKind, Backend, BreakReason, CallId, CallOutcome, ChainKey, ChainReport, ChainRow,
    Dossier, FileKind, FileProblem, NewAnswer, NewCall, NewRecording, ResponseId, Store,
    answer_hash, answer_link_hash,
};
use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection, Row};
use tempfile::TempDir;

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

/// A store holding the audit key (key file and head log in a temp dir), as
/// `carecall serve` has; the dir also holds the config for the CLI.
struct Keyed {
    store: Store,
    dir: TempDir,
    url: String,
}

impl Keyed {
    fn key_path(&self) -> PathBuf {
        self.dir.path().join("audit.key")
    }

    /// `carecall audit verify` on this database with this key: exit code,
    /// the JSON report, stderr.
    fn cli(&self) -> (Option<i32>, serde_json::Value, String) {
        verify_cli(&self.url, &self.key_path(), self.dir.path())
    }
}

fn keyed(store: &Store, url: &str) -> Keyed {
    let dir = tempfile::tempdir().unwrap();
    let key = ChainKey::load_or_create(&dir.path().join("audit.key")).unwrap();
    Keyed {
        store: store.clone().with_chain_key(key),
        dir,
        url: url.to_owned(),
    }
}

fn verify_cli(url: &str, key: &Path, dir: &Path) -> (Option<i32>, serde_json::Value, String) {
    let config = dir.join("carecall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\naudit_key_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carecall"))
        .arg("--config")
        .arg(&config)
        .args(["audit", "verify"])
        .env_remove("CARECALL_DATABASE_URL")
        .env_remove("CARECALL_DATABASE_AUDIT_KEY_FILE")
        .current_dir(dir)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit 1 from the CLI, with `needle` on stderr.
fn cli_names(k: &Keyed, needle: &str) -> serde_json::Value {
    let (code, report, stderr) = k.cli();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    report
}

fn cli_clean(k: &Keyed) -> serde_json::Value {
    let (code, report, stderr) = k.cli();
    assert_eq!(code, Some(0), "{stderr}");
    report
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
            "DROP TRIGGER call_seals_no_update",
            "DROP TRIGGER call_seals_no_delete",
        ],
        Backend::Postgres => &[
            "DROP TRIGGER answers_no_update_or_delete ON answers",
            "DROP TRIGGER call_seals_no_update_or_delete ON call_seals",
        ],
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
        "SELECT a.*, s.call_id AS response_call_id, s.dossier_code AS response_dossier, \
         d.unit_code AS response_unit FROM answers a \
         JOIN survey_responses s ON s.id = a.response_id \
         LEFT JOIN dossiers d ON d.code = s.dossier_code WHERE a.seq = $1",
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
        response_unit: r.get("response_unit"),
    }
}

fn broken_at(report: &ChainReport, seq: i64, reason: BreakReason) {
    let b = report
        .first_broken
        .as_ref()
        .unwrap_or_else(|| panic!("chain reported intact: {report:?}"));
    assert_eq!((b.seq, b.reason), (Some(seq), reason), "{report:?}");
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A whole survey call as `carecall serve` leaves it: an imported dossier of
/// unit `tp-cao-lanh`, three answers (one a spoken clip on disk), the
/// recording on disk, the call finished (and so sealed). Files live in the
/// key's temp dir.
struct Finished {
    call: CallId,
    recording: PathBuf,
    clip: PathBuf,
}

async fn finished_call(k: &Keyed) -> Finished {
    let store = &k.store;
    store
        .upsert_dossier(&Dossier {
            code: "HS-9".into(),
            procedure: "Đăng ký khai sinh".into(),
            field: "Hộ tịch".into(),
            unit_code: "tp-cao-lanh".into(),
            applicant_kind: "person".into(),
            applicant_name: "Trần Thị B".into(),
            phone: "0912345678".into(),
            received_at: Some(at(0)),
            returned_at: Some(at(1000)),
            created_at: at(0),
        })
        .await
        .unwrap();
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some("HS-9".into()),
            sip_call_id: Some("abc@carecall".into()),
            destination: "sip:0912345678@trunk.example".into(),
            caller_id: "1022".into(),
            dialplan: "survey-1022".into(),
            started_at: at(0),
        })
        .await
        .unwrap();
    store.call_answered(&call, at(2_000)).await.unwrap();
    let r = store
        .start_response(&call, Some("HS-9"), "survey-1022")
        .await
        .unwrap();
    store
        .add_answer(&r, &value("q1", "1", 5_000))
        .await
        .unwrap();
    let clip = k.dir.path().join(format!("{call}.q3.wav"));
    std::fs::write(&clip, b"RIFF clip of the citizen's voice").unwrap();
    let mut q3 = value("q3", "", 9_000);
    q3.kind = AnswerKind::Clip;
    q3.value = None;
    q3.clip_path = Some(clip.display().to_string());
    q3.clip_seconds = Some(2.5);
    q3.clip_sha256 = Some(sha256(&std::fs::read(&clip).unwrap()));
    store.add_answer(&r, &q3).await.unwrap();
    store
        .add_answer(&r, &value("q4", "9", 12_000))
        .await
        .unwrap();
    let recording = k.dir.path().join(format!("{call}.wav"));
    let wav = b"RIFF the whole call, both channels".to_vec();
    std::fs::write(&recording, &wav).unwrap();
    store
        .finish_call(
            &call,
            &CallOutcome {
                disposition: "completed".into(),
                sip_code: Some(200),
                reason: Some("completed".into()),
                end_reason: Some("survey_done".into()),
                ended_at: at(20_000),
            },
        )
        .await
        .unwrap();
    store
        .add_recording(
            &call,
            &NewRecording {
                path: recording.display().to_string(),
                seconds: 20.0,
                sha256: sha256(&wav),
                bytes: wav.len() as u64,
                created_at: at(20_100),
            },
        )
        .await
        .unwrap();
    Finished {
        call,
        recording,
        clip,
    }
}

/// The sealed calls' changes in a report, as (call, fields).
fn changed(report: &ChainReport) -> Vec<(String, Vec<String>)> {
    report
        .changed_records
        .iter()
        .map(|c| (c.call_id.to_string(), c.fields.clone()))
        .collect()
}

mod cases {
    use super::*;

    pub async fn clean_chain_verifies(store: &Store, url: &str) {
        let k = keyed(store, url);
        let store = &k.store;
        let empty = store.verify_chain().await.unwrap();
        assert_eq!((empty.answers, empty.unchained), (0, 0));
        assert!(empty.is_intact());
        ten_answers(store).await;
        let report = store.verify_chain().await.unwrap();
        assert_eq!(report.answers, 10);
        assert_eq!(report.unchained, 0);
        assert!(report.keyed);
        assert_eq!(report.keyed_from, 1, "a fresh database is keyed from seq 1");
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
        let cli = cli_clean(&k);
        assert_eq!(cli["answers"], 10, "{cli}");
    }

    /// A finished call with its recording and clip, untouched: the chain,
    /// the seals and the files all verify, through the CLI too.
    pub async fn untouched_call_verifies_with_files(store: &Store, url: &str) {
        let k = keyed(store, url);
        let f = finished_call(&k).await;
        let report = k.store.verify_chain().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(
            (report.answers, report.seals),
            (3, 2),
            "finish and recording"
        );
        let files = k.store.verify_files().await.unwrap();
        assert_eq!((files.checked, files.problems), (2, 0), "{files:?}");
        let cli = cli_clean(&k);
        assert_eq!(cli["files"]["checked"], 2, "{cli}");
        assert_eq!(cli["seals"], 2, "{cli}");
        // The head log next to the key names the last link.
        let log = std::fs::read_to_string(k.dir.path().join("audit.key.heads")).unwrap();
        assert_eq!(log.lines().count(), 5, "{log}");
        assert!(log.lines().last().unwrap().contains("\"seq\":5"), "{log}");
        assert!(!log.contains(f.call.as_str()), "the log holds heads only");
    }

    pub async fn append_only_triggers_still_refuse(store: &Store, url: &str) {
        let k = keyed(store, url);
        let f = finished_call(&k).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        for sql in [
            "UPDATE answers SET value = 'x' WHERE seq = 1",
            "DELETE FROM call_seals",
            "UPDATE call_seals SET content = '{}'",
        ] {
            let err = sqlx::query(sql).execute(&mut db).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        let _ = f;
        assert!(k.store.verify_chain().await.unwrap().is_intact());
    }

    pub async fn concurrent_writers_keep_one_chain(store: &Store, url: &str) {
        let k = keyed(store, url);
        let store = &k.store;
        // Two stores on one database: two pools, as two processes would have.
        let other = Store::connect(url)
            .await
            .unwrap()
            .with_chain_key(ChainKey::load(&k.key_path()).unwrap());
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
        cli_clean(&k);
    }

    pub async fn edited_value_is_named(store: &Store, url: &str) {
        let k = keyed(store, url);
        let r = ten_answers(&k.store).await;
        let mut db = attacker(store, url).await;
        let id = id_at(&mut db, 7).await;
        sqlx::query("UPDATE answers SET value = '10' WHERE seq = 7")
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        broken_at(&report, 7, BreakReason::ContentHash);
        let b = report.first_broken.unwrap();
        assert_eq!(b.answer_id.unwrap().as_str(), id);
        assert_eq!(b.response_id.unwrap(), r);
        assert_eq!(b.key.as_deref(), Some("q1"));
        assert_eq!(report.answers, 6, "links before the break are counted");
        cli_names(&k, "seq 7");
    }

    /// Moving a response to another dossier (another unit in the reports) with
    /// plain SQL breaks the chain at its first answer; survey_responses has no
    /// trigger, so no attacker powers are needed.
    pub async fn response_moved_to_another_dossier_is_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        let r = ten_answers(&k.store).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE survey_responses SET dossier_code = 'HS-2' WHERE id = $1")
            .bind(r.as_str())
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        broken_at(&report, 1, BreakReason::ContentHash);
        sqlx::query(
            "UPDATE survey_responses SET dossier_code = 'HS-1', status = 'completed' WHERE id = $1",
        )
        .bind(r.as_str())
        .execute(&mut db)
        .await
        .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        assert!(report.is_intact(), "status is not bound: {report:?}");
    }

    /// The dossier moved to another unit (dossiers are not chained rows of
    /// their own): the answers bind the unit, the call seal names it.
    pub async fn dossier_moved_to_another_unit_is_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        let f = finished_call(&k).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE dossiers SET unit_code = 'huyen-lap-vo' WHERE code = 'HS-9'")
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        broken_at(&report, 1, BreakReason::ContentHash);
        assert_eq!(
            changed(&report),
            [(f.call.to_string(), vec!["unit".to_owned()])]
        );
        cli_names(&k, &format!("call {} changed since sealed: unit", f.call));
    }

    /// A call's outcome or times edited after the call: the seal names the
    /// fields (never their values: the number is personal data).
    pub async fn edited_call_row_is_named(store: &Store, url: &str) {
        let k = keyed(store, url);
        let f = finished_call(&k).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        sqlx::query(
            "UPDATE calls SET disposition = 'no_answer', ended_at = ended_at + 1, \
             destination = 'sip:0987654321@trunk.example' WHERE id = $1",
        )
        .bind(f.call.as_str())
        .execute(&mut db)
        .await
        .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        assert_eq!(report.first_broken, None, "the chain itself is intact");
        assert_eq!(
            changed(&report),
            [(
                f.call.to_string(),
                vec![
                    "number".to_owned(),
                    "ended_at".to_owned(),
                    "disposition".to_owned()
                ]
            )]
        );
        let (code, _, stderr) = k.cli();
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("number, ended_at, disposition"), "{stderr}");
        assert!(
            !stderr.contains("0987654321"),
            "no number in the output: {stderr}"
        );
    }

    pub async fn edited_recording_row_is_named(store: &Store, url: &str) {
        let k = keyed(store, url);
        let f = finished_call(&k).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        let id: String = sqlx::query("SELECT id FROM recordings WHERE call_id = $1")
            .bind(f.call.as_str())
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get("id");
        // Pointed at another file, with that file's hash and size: the files
        // check alone would be satisfied.
        let other = k.dir.path().join("other.wav");
        std::fs::write(&other, b"RIFF another call").unwrap();
        sqlx::query("UPDATE recordings SET path = $1, sha256 = $2, bytes = $3 WHERE id = $4")
            .bind(other.display().to_string())
            .bind(sha256(b"RIFF another call"))
            .bind(17_i64)
            .bind(&id)
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        assert_eq!(
            changed(&report),
            [(
                f.call.to_string(),
                ["path", "bytes", "sha256"]
                    .map(|x| format!("recording {id} {x}"))
                    .to_vec()
            )]
        );
        assert_eq!(k.store.verify_files().await.unwrap().problems, 0);
        cli_names(&k, &format!("recording {id} path"));
        // A recording row slipped in for the call is named too.
        sqlx::query(
            "INSERT INTO recordings (id, call_id, path, seconds, sha256, bytes, created_at) \
             VALUES ('extra', $1, $2, 1.0, $3, 17, 0)",
        )
        .bind(f.call.as_str())
        .bind(other.display().to_string())
        .bind(sha256(b"RIFF another call"))
        .execute(&mut db)
        .await
        .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        assert!(
            changed(&report)[0]
                .1
                .contains(&"recording extra added".to_owned()),
            "{report:?}"
        );
    }

    /// A clip replaced on disk (same path) and a recording deleted: named by
    /// the files check; the database rows are untouched.
    pub async fn changed_and_missing_files_are_named(store: &Store, url: &str) {
        let k = keyed(store, url);
        let f = finished_call(&k).await;
        std::fs::write(&f.clip, b"RIFF other words put in the citizen's mouth").unwrap();
        std::fs::remove_file(&f.recording).unwrap();
        assert!(k.store.verify_chain().await.unwrap().is_intact());
        let files = k.store.verify_files().await.unwrap();
        let found: Vec<_> = files
            .findings
            .iter()
            .map(|x| (x.kind, x.problem, x.path.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    FileKind::Recording,
                    FileProblem::Missing,
                    f.recording.display().to_string()
                ),
                (
                    FileKind::Clip,
                    FileProblem::Changed,
                    f.clip.display().to_string()
                ),
            ]
        );
        let (code, report, stderr) = k.cli();
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("recording file") && stderr.contains("missing"),
            "{stderr}"
        );
        assert!(
            stderr.contains("clip file") && stderr.contains("changed"),
            "{stderr}"
        );
        assert_eq!(report["files"]["problems"], 2, "{report}");
    }

    /// What the reports read (answer_latest) edited by hand, with the chain
    /// untouched: verify still names the answer.
    pub async fn edited_latest_table_is_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        let r = ten_answers(&k.store).await;
        let mut db = AnyConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE answer_latest SET value = '10' WHERE response_id = $1 AND key = 'q1'")
            .bind(r.as_str())
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
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
        let b = k
            .store
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

    /// The attacker edits row 4 and re-hashes it, every link after it and
    /// the head with SHA-256 as the unkeyed rule would (or with a key of
    /// their own): the HMAC under the real key catches the first forged row.
    pub async fn full_rehash_without_the_key_is_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        ten_answers(&k.store).await;
        let mut db = attacker(store, url).await;
        let own_key = ChainKey::from_bytes([9; 32]);
        for forger in [None, Some(&own_key)] {
            let mut prev: String = sqlx::query("SELECT prev_hash FROM answers WHERE seq = 4")
                .fetch_one(&mut db)
                .await
                .unwrap()
                .get("prev_hash");
            for seq in 4..=10 {
                let mut row = chain_row_at(&mut db, seq).await;
                if seq == 4 {
                    row.value = Some("10".into());
                }
                let hash = answer_link_hash(forger, &prev, &row);
                sqlx::query(
                    "UPDATE answers SET value = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
                )
                .bind(row.value.as_deref())
                .bind(&prev)
                .bind(&hash)
                .bind(seq)
                .execute(&mut db)
                .await
                .unwrap();
                prev = hash;
            }
            sqlx::query("UPDATE answer_chain_head SET hash = $1")
                .bind(&prev)
                .execute(&mut db)
                .await
                .unwrap();
            let report = k.store.verify_chain().await.unwrap();
            broken_at(&report, 4, BreakReason::ContentHash);
            cli_names(&k, "seq 4: content does not match its hash");
        }
    }

    /// Answers written through a store without the key (a tool, a second
    /// process misconfigured) are not mistaken for carecall's own.
    pub async fn links_written_without_the_key_are_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        let r = ten_answers(&k.store).await;
        store.add_answer(&r, &value("q9", "1", 99)).await.unwrap();
        broken_at(
            &k.store.verify_chain().await.unwrap(),
            11,
            BreakReason::ContentHash,
        );
        assert!(
            store.verify_chain().await.unwrap().first_broken.is_some(),
            "nor does the unkeyed rule accept keyed links"
        );
    }

    pub async fn deleted_last_row_is_found_by_the_head(store: &Store, url: &str) {
        let k = keyed(store, url);
        ten_answers(&k.store).await;
        let mut db = attacker(store, url).await;
        sqlx::query("DELETE FROM answers WHERE seq = 10")
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        broken_at(&report, 10, BreakReason::HeadMismatch);
        assert_eq!(report.answers, 9);
    }

    /// Deleting the last answer and fixing the head: a head made up without
    /// the key fails its signature; a genuine older head copied before the
    /// last answer and put back is caught by the head log outside the DB.
    pub async fn deleted_last_row_with_head_fixed_is_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        let r = ten_answers(&k.store).await;
        let mut db = attacker(store, url).await;
        let old = sqlx::query("SELECT seq, hash, mac FROM answer_chain_head")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let (seq, hash, mac): (i64, String, String) =
            (old.get("seq"), old.get("hash"), old.get("mac"));
        k.store
            .add_answer(&r, &value("q1", "2", 11_000))
            .await
            .unwrap();
        let last_id = id_at(&mut db, 11).await;
        for sql in [
            "DELETE FROM answer_latest WHERE answer_id = $1",
            "DELETE FROM answers WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(&last_id)
                .execute(&mut db)
                .await
                .unwrap();
        }
        // answer_latest back on revision 4 of q1 (seq 10).
        let prev = chain_row_at(&mut db, 10).await;
        sqlx::query(
            "INSERT INTO answer_latest (response_id, key, revision, answer_id, kind, value) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&prev.response_id)
        .bind(&prev.key)
        .bind(prev.revision)
        .bind(&prev.id)
        .bind(&prev.kind)
        .bind(prev.value.as_deref())
        .execute(&mut db)
        .await
        .unwrap();

        // Made up: seq and hash of row 10, the mac left as it was.
        sqlx::query("UPDATE answer_chain_head SET seq = $1, hash = $2")
            .bind(seq)
            .bind(&hash)
            .execute(&mut db)
            .await
            .unwrap();
        broken_at(
            &k.store.verify_chain().await.unwrap(),
            10,
            BreakReason::HeadSignature,
        );
        cli_names(&k, "seq 10: chain head signature does not verify");

        // Put back: the genuine signed head of seq 10.
        sqlx::query("UPDATE answer_chain_head SET mac = $1")
            .bind(&mac)
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        broken_at(&report, 11, BreakReason::HeadLogAhead);
        cli_names(
            &k,
            "seq 11: the head log next to the key names a later link",
        );

        // Without the head log the same database would pass: the log is
        // what catches this, and losing it is reported once keyed links exist.
        std::fs::remove_file(k.dir.path().join("audit.key.heads")).unwrap();
        broken_at_none(
            &k.store.verify_chain().await.unwrap(),
            BreakReason::HeadLogMissing,
        );
    }

    pub async fn deleted_middle_row_is_a_gap(store: &Store, url: &str) {
        let k = keyed(store, url);
        ten_answers(&k.store).await;
        let mut db = attacker(store, url).await;
        sqlx::query("DELETE FROM answers WHERE seq = 3")
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        broken_at(&report, 4, BreakReason::SeqGap);
    }

    pub async fn forged_row_in_the_middle_is_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        let r = ten_answers(&k.store).await;
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
        // A forged row hashed as well as one can without the key.
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
            response_unit: None,
        };
        let hash = answer_link_hash(None, &prev, &forged);
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
        let report = k.store.verify_chain().await.unwrap();
        broken_at(&report, 6, BreakReason::ContentHash);
    }

    pub async fn rows_outside_the_chain_are_found(store: &Store, url: &str) {
        let k = keyed(store, url);
        let r = ten_answers(&k.store).await;
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
            &k.store.verify_chain().await.unwrap(),
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
        let report = k.store.verify_chain().await.unwrap();
        assert_eq!(report.unchained, 1);
        let b = report.first_broken.expect("forged pre-chain row found");
        assert_eq!(b.reason, BreakReason::UnchainedCount);
    }

    /// An existing (v1, unkeyed) chain upgraded by migration 14: the old
    /// rows verify with the old rule up to the upgrade point, new ones with
    /// the key; once a keyed link exists, re-hashing the old rows no longer
    /// works, and raising the upgrade point needs the key.
    pub async fn upgraded_chain_keeps_old_rows_verifiable(store: &Store, url: &str) {
        let r = response(store).await;
        let mut db = attacker(store, url).await;
        // Three answers as a pre-upgrade carecall wrote them.
        let mut prev = carecall::store::GENESIS.to_owned();
        let call: String = sqlx::query("SELECT call_id FROM survey_responses WHERE id = $1")
            .bind(r.as_str())
            .fetch_one(&mut db)
            .await
            .unwrap()
            .get("call_id");
        let mut old_rows = Vec::new();
        for seq in 1..=3_i64 {
            let row = ChainRow {
                id: format!("old-{seq}"),
                response_id: r.as_str().into(),
                key: format!("q{seq}"),
                revision: 1,
                kind: "value".into(),
                value: Some(seq.to_string()),
                why: None,
                offset_ms: Some(seq),
                clip_path: None,
                clip_ms: None,
                clip_sha256: None,
                answered_at_ms: seq,
                changed_by: None,
                change_reason: None,
                seq,
                response_call_id: Some(call.clone()),
                response_dossier: Some("HS-1".into()),
                response_unit: None,
            };
            let hash = answer_hash(&prev, &row);
            insert_v1(&mut db, &row, &prev, &hash).await;
            prev = hash;
            old_rows.push(row);
        }
        sqlx::query("UPDATE answer_chain_head SET seq = 3, hash = $1, keyed_from = 4, mac = NULL")
            .bind(&prev)
            .execute(&mut db)
            .await
            .unwrap();
        let k = keyed(store, url);
        let before = k.store.verify_chain().await.unwrap();
        assert!(before.is_intact(), "just upgraded: {before:?}");
        assert_eq!((before.answers, before.keyed_from), (3, 4));
        k.store.add_answer(&r, &value("q4", "8", 4)).await.unwrap();
        k.store.add_answer(&r, &value("q5", "9", 5)).await.unwrap();
        let after = k.store.verify_chain().await.unwrap();
        assert!(after.is_intact(), "{after:?}");
        assert_eq!(after.answers, 5);
        cli_clean(&k);

        // Raising the upgrade point (so keyed rows fall under the unkeyed
        // rule) changes the signed head.
        sqlx::query("UPDATE answer_chain_head SET keyed_from = 100")
            .execute(&mut db)
            .await
            .unwrap();
        let report = k.store.verify_chain().await.unwrap();
        assert!(report.first_broken.is_some(), "{report:?}");
        sqlx::query("UPDATE answer_chain_head SET keyed_from = 4")
            .execute(&mut db)
            .await
            .unwrap();

        // Rewriting an old row and its v1 successors: the first keyed link
        // carries the old last hash inside its HMAC.
        let mut prev = carecall::store::GENESIS.to_owned();
        for mut row in old_rows {
            if row.seq == 2 {
                row.value = Some("10".into());
            }
            let hash = answer_hash(&prev, &row);
            sqlx::query("UPDATE answers SET value = $1, prev_hash = $2, hash = $3 WHERE id = $4")
                .bind(row.value.as_deref())
                .bind(&prev)
                .bind(&hash)
                .bind(&row.id)
                .execute(&mut db)
                .await
                .unwrap();
            prev = hash;
        }
        sqlx::query("UPDATE answer_latest SET value = '10' WHERE answer_id = 'old-2'")
            .execute(&mut db)
            .await
            .unwrap();
        broken_at(
            &k.store.verify_chain().await.unwrap(),
            4,
            BreakReason::PrevHash,
        );
    }
}

/// The report's first break has `reason` (and names no seq or any seq).
fn broken_at_none(report: &ChainReport, reason: BreakReason) {
    let b = report
        .first_broken
        .as_ref()
        .unwrap_or_else(|| panic!("chain reported intact: {report:?}"));
    assert_eq!(b.reason, reason, "{report:?}");
}

async fn insert_v1(db: &mut AnyConnection, row: &ChainRow, prev: &str, hash: &str) {
    sqlx::query(
        "INSERT INTO answers (id, response_id, key, revision, kind, value, offset_ms, \
         answered_at, seq, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&row.id)
    .bind(&row.response_id)
    .bind(&row.key)
    .bind(row.revision)
    .bind(&row.kind)
    .bind(row.value.as_deref())
    .bind(row.offset_ms)
    .bind(row.answered_at_ms)
    .bind(row.seq)
    .bind(prev)
    .bind(hash)
    .execute(&mut *db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO answer_latest (response_id, key, revision, answer_id, kind, value) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.response_id)
    .bind(&row.key)
    .bind(row.revision)
    .bind(&row.id)
    .bind(&row.kind)
    .bind(row.value.as_deref())
    .execute(&mut *db)
    .await
    .unwrap();
}

both_backends!(
    clean_chain_verifies,
    untouched_call_verifies_with_files,
    append_only_triggers_still_refuse,
    concurrent_writers_keep_one_chain,
    edited_value_is_named,
    response_moved_to_another_dossier_is_found,
    dossier_moved_to_another_unit_is_found,
    edited_call_row_is_named,
    edited_recording_row_is_named,
    changed_and_missing_files_are_named,
    edited_latest_table_is_found,
    histories_are_append_only,
    full_rehash_without_the_key_is_found,
    links_written_without_the_key_are_found,
    deleted_last_row_is_found_by_the_head,
    deleted_last_row_with_head_fixed_is_found,
    deleted_middle_row_is_a_gap,
    forged_row_in_the_middle_is_found,
    rows_outside_the_chain_are_found,
    upgraded_chain_keeps_old_rows_verifiable,
);

/// `carecall audit verify` on a database path that does not exist: exit
/// non-zero with a clear message, and no database is created (issue 10).
#[test]
fn audit_verify_on_a_missing_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nope").join("carecall.db");
    let key = dir.path().join("audit.key");
    ChainKey::load_or_create(&key).unwrap();
    let url = format!("sqlite://{}", db.display());
    let (code, _, stderr) = verify_cli(&url, &key, dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no database at"), "{stderr}");
    assert!(!db.exists(), "verify created a database");
    let db = dir.path().join("carecall.db");
    let url = format!("sqlite://{}", db.display());
    let (code, _, stderr) = verify_cli(&url, &key, dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!db.exists(), "verify created a database");
}

/// Without the key file verify refuses (it never makes one up), naming the
/// file and the config key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_without_the_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carecall.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.close().await;
    let key = dir.path().join("audit.key");
    let (code, _, stderr) = verify_cli(&url, &key, dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("audit key file") && stderr.contains("database.audit_key_file"),
        "{stderr}"
    );
    assert!(!key.exists(), "verify created a key");
}
