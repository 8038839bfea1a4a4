//! The store's behaviour, run the same way on SQLite (a temp file per case) and
//! on PostgreSQL (a throwaway cluster, a fresh database per case; see common/pg.rs).

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;

use std::time::{Duration, Instant};

use carecall::store::{
    AnswerKind, CallId, CallOutcome, Dossier, Instance, Liveness, NewAnswer, NewCall, NewRecording,
    ResponseId, Store, StoreError, StoreOptions, disposition, response_status,
};
use chrono::{DateTime, TimeZone, Utc};

/// Millisecond timestamps: what the store keeps.
fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_735_000_000_000 + ms).unwrap()
}

fn dossier(code: &str) -> Dossier {
    Dossier {
        code: code.into(),
        procedure: "Đăng ký khai sinh".into(),
        field: "Hộ tịch".into(),
        unit_code: "DT-XA-MYAN".into(),
        applicant_kind: "person".into(),
        applicant_name: "Trần Thị B".into(),
        phone: "0912345678".into(),
        received_at: Some(at(0)),
        returned_at: Some(at(86_400_000)),
        created_at: at(100),
    }
}

fn new_call(dossier: Option<&str>, started: i64) -> NewCall {
    NewCall {
        id: None,
        dossier_code: dossier.map(Into::into),
        sip_call_id: None,
        destination: "sip:0912345678@trunk.example".into(),
        caller_id: "1022".into(),
        dialplan: "csat-v1".into(),
        started_at: at(started),
    }
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

fn outcome(disp: &str, ms: i64) -> CallOutcome {
    CallOutcome {
        disposition: disp.into(),
        sip_code: Some(200),
        reason: Some("OK".into()),
        end_reason: Some("survey_done".into()),
        ended_at: at(ms),
    }
}

/// Cases shared by both databases; each gets an empty, migrated store and its URL.
mod cases {
    use super::*;

    pub async fn dossier_round_trip_and_idempotent_upsert(store: &Store, _url: &str) {
        assert_eq!(store.dossier("HS-1").await.unwrap(), None);
        let d = dossier("HS-1");
        store.upsert_dossier(&d).await.unwrap();
        store.upsert_dossier(&d).await.unwrap();
        assert_eq!(store.dossier("HS-1").await.unwrap(), Some(d.clone()));

        // A re-import updates the fields but keeps the first created_at.
        let mut changed = d.clone();
        changed.phone = "0987654321".into();
        changed.returned_at = None;
        changed.created_at = at(999_999);
        store.upsert_dossier(&changed).await.unwrap();
        let got = store.dossier("HS-1").await.unwrap().unwrap();
        assert_eq!(got.phone, "0987654321");
        assert_eq!(got.returned_at, None);
        assert_eq!(got.created_at, d.created_at);
    }

    pub async fn call_lifecycle_round_trip(store: &Store, _url: &str) {
        let id = store.start_call(&new_call(Some("HS-9"), 0)).await.unwrap();
        let s = store.call_summary(&id).await.unwrap().unwrap();
        assert_eq!(s.call.disposition, disposition::IN_PROGRESS);
        assert_eq!(s.call.dossier_code.as_deref(), Some("HS-9"));
        assert_eq!(s.call.started_at, at(0));
        assert_eq!((s.call.answered_at, s.call.ended_at), (None, None));
        assert!(s.response.is_none() && s.answers.is_empty() && s.recording.is_none());

        store.set_sip_call_id(&id, "abc@10.0.0.1").await.unwrap();
        store.call_answered(&id, at(4_000)).await.unwrap();
        let s = store.call_summary(&id).await.unwrap().unwrap();
        assert_eq!(s.call.answered_at, Some(at(4_000)));
        assert_eq!(s.call.disposition, disposition::IN_PROGRESS);

        store
            .finish_call(&id, &outcome(disposition::ANSWERED, 60_000))
            .await
            .unwrap();
        let c = store.call_summary(&id).await.unwrap().unwrap().call;
        assert_eq!(c.id, id);
        assert_eq!(c.sip_call_id.as_deref(), Some("abc@10.0.0.1"));
        assert_eq!(c.destination, "sip:0912345678@trunk.example");
        assert_eq!(
            (c.caller_id.as_str(), c.dialplan.as_str()),
            ("1022", "csat-v1")
        );
        assert_eq!(c.disposition, disposition::ANSWERED);
        assert_eq!(c.sip_code, Some(200));
        assert_eq!(c.reason.as_deref(), Some("OK"));
        assert_eq!(c.end_reason.as_deref(), Some("survey_done"));
        assert_eq!(c.ended_at, Some(at(60_000)));

        let ghost = CallId("no-such-call".into());
        assert!(store.call_summary(&ghost).await.unwrap().is_none());
        for err in [
            store.call_answered(&ghost, at(1)).await.unwrap_err(),
            store
                .finish_call(&ghost, &outcome("failed", 1))
                .await
                .unwrap_err(),
            store.set_sip_call_id(&ghost, "x").await.unwrap_err(),
        ] {
            assert!(
                matches!(err, StoreError::NotFound { what: "call", .. }),
                "{err}"
            );
        }
    }

    pub async fn answers_are_append_only(store: &Store, url: &str) {
        let call = store.start_call(&new_call(None, 0)).await.unwrap();
        let resp = store
            .start_response(&call, Some("HS-2"), "csat-v1")
            .await
            .unwrap();
        store
            .add_answer(&resp, &value("q1", "2", 1_000))
            .await
            .unwrap();
        store
            .add_answer(&resp, &value("q2", "4", 2_000))
            .await
            .unwrap();
        // The citizen corrects question 1: a new revision, the old row stays.
        store
            .add_answer(&resp, &value("q1", "1", 3_000))
            .await
            .unwrap();
        let clip = NewAnswer {
            kind: AnswerKind::Clip,
            value: None,
            clip_path: Some("clips/q3.wav".into()),
            clip_seconds: Some(7.25),
            clip_sha256: Some("ab".repeat(32)),
            ..value("q3", "", 4_000)
        };
        store.add_answer(&resp, &clip).await.unwrap();
        let skipped = NewAnswer {
            kind: AnswerKind::Unanswered,
            value: None,
            why: Some("timeout".into()),
            ..value("q5", "", 5_000)
        };
        store.add_answer(&resp, &skipped).await.unwrap();

        let history = store.answer_history(&resp).await.unwrap();
        let revs: Vec<(&str, i64, Option<&str>)> = history
            .iter()
            .map(|a| (a.key.as_str(), a.revision, a.value.as_deref()))
            .collect();
        assert_eq!(
            revs,
            [
                ("q1", 1, Some("2")),
                ("q2", 1, Some("4")),
                ("q1", 2, Some("1")),
                ("q3", 1, None),
                ("q5", 1, None),
            ]
        );

        let s = store.call_summary(&call).await.unwrap().unwrap();
        let resp_rec = s.response.unwrap();
        assert_eq!(resp_rec.id, resp);
        assert_eq!(resp_rec.dossier_code.as_deref(), Some("HS-2"));
        assert_eq!(resp_rec.status, response_status::IN_PROGRESS);
        let latest: Vec<(&str, i64)> = s
            .answers
            .iter()
            .map(|a| (a.key.as_str(), a.revision))
            .collect();
        assert_eq!(latest, [("q1", 2), ("q2", 1), ("q3", 1), ("q5", 1)]);
        assert_eq!(s.answers[0].value.as_deref(), Some("1"));
        assert_eq!(s.answers[0].offset_ms, Some(3_000));
        assert_eq!(s.answers[0].answered_at, at(3_000));
        let q3 = &s.answers[2];
        assert_eq!(q3.kind, AnswerKind::Clip);
        assert_eq!(q3.clip_path.as_deref(), Some("clips/q3.wav"));
        assert_eq!(q3.clip_seconds, Some(7.25));
        assert_eq!(q3.clip_sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(s.answers[3].kind, AnswerKind::Unanswered);
        assert_eq!(s.answers[3].why.as_deref(), Some("timeout"));

        store
            .set_response_status(&resp, response_status::COMPLETED)
            .await
            .unwrap();
        let s = store.call_summary(&call).await.unwrap().unwrap();
        assert_eq!(s.response.unwrap().status, response_status::COMPLETED);

        // Even hand-written SQL cannot rewrite or remove an answer.
        let raw = sqlx::AnyPool::connect(url).await.unwrap();
        for sql in ["UPDATE answers SET value = 'x'", "DELETE FROM answers"] {
            let err = sqlx::query(sql).execute(&raw).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        raw.close().await;
        assert_eq!(store.answer_history(&resp).await.unwrap(), history);
    }

    pub async fn unknown_parents_are_refused(store: &Store, _url: &str) {
        let ghost_resp = ResponseId("no-such-response".into());
        let err = store
            .add_answer(&ghost_resp, &value("q1", "1", 0))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Constraint {
                    op: "add_answer",
                    ..
                }
            ),
            "{err}"
        );

        let ghost_call = CallId("no-such-call".into());
        let err = store
            .start_response(&ghost_call, None, "d")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Constraint { .. }), "{err}");
        let err = store
            .add_recording(&ghost_call, &recording("a.wav", 0))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Constraint { .. }), "{err}");
        let err = store
            .set_response_status(&ghost_resp, response_status::COMPLETED)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }

    fn recording(path: &str, ms: i64) -> NewRecording {
        NewRecording {
            path: path.into(),
            seconds: 93.5,
            sha256: "cd".repeat(32),
            bytes: 5_000_000_000,
            created_at: at(ms),
        }
    }

    pub async fn recordings_round_trip(store: &Store, _url: &str) {
        let call = store.start_call(&new_call(None, 0)).await.unwrap();
        store
            .add_recording(&call, &recording("rec/first.wav", 10))
            .await
            .unwrap();
        let id = store
            .add_recording(&call, &recording("rec/second.wav", 20))
            .await
            .unwrap();
        let r = store
            .call_summary(&call)
            .await
            .unwrap()
            .unwrap()
            .recording
            .unwrap();
        assert_eq!(r.id, id);
        assert_eq!(r.call_id, call);
        assert_eq!(r.path, "rec/second.wav");
        assert_eq!((r.seconds, r.bytes), (93.5, 5_000_000_000));
        assert_eq!(r.sha256, "cd".repeat(32));
        assert_eq!(r.created_at, at(20));
    }

    pub async fn mark_interrupted_keeps_answers(store: &Store, _url: &str) {
        let killed = store.start_call(&new_call(None, 0)).await.unwrap();
        store.call_answered(&killed, at(3_000)).await.unwrap();
        let resp = store
            .start_response(&killed, None, "csat-v1")
            .await
            .unwrap();
        store
            .add_answer(&resp, &value("q1", "1", 5_000))
            .await
            .unwrap();
        let done = store.start_call(&new_call(None, 1)).await.unwrap();
        store
            .finish_call(&done, &outcome(disposition::BUSY, 2))
            .await
            .unwrap();

        assert_eq!(store.mark_interrupted(&nobody_alive()).await.unwrap(), 1);
        let s = store.call_summary(&killed).await.unwrap().unwrap();
        assert_eq!(s.call.disposition, disposition::INTERRUPTED);
        assert_eq!(s.call.ended_at, None);
        assert!(s.call.end_reason.is_some());
        assert_eq!(s.response.unwrap().status, response_status::INTERRUPTED);
        assert_eq!(s.answers.len(), 1);
        assert_eq!(s.answers[0].value.as_deref(), Some("1"));
        let other = store.call_summary(&done).await.unwrap().unwrap().call;
        assert_eq!(other.disposition, disposition::BUSY);

        assert_eq!(store.mark_interrupted(&nobody_alive()).await.unwrap(), 0);
    }

    fn nobody_alive() -> Liveness<'static> {
        Liveness {
            now: chrono::Utc::now(),
            stale_after: chrono::Duration::seconds(60),
            host: "here",
            pid_alive: &|_| false,
        }
    }

    /// A process starting up ends only the calls of processes that are gone:
    /// another node's live calls and its own host's running processes' calls
    /// stay in progress (issue 10: a second node marked every live call).
    pub async fn only_gone_processes_calls_are_interrupted(store: &Store, _url: &str) {
        let now = chrono::Utc::now();
        let instance = |name: &str, host: &str, pid: u32| Instance {
            id: format!("inst-{name}"),
            node: name.to_string(),
            host: host.to_string(),
            pid,
        };
        let other_node = instance("b", "host-b", 7);
        let stale_node = instance("c", "host-c", 7);
        let killed_here = instance("killed", "here", 4242);
        let running_here = instance("running", "here", 1);
        for (i, heartbeat) in [
            (&other_node, now),
            (&stale_node, now - chrono::Duration::seconds(120)),
            (&killed_here, now),
            (&running_here, now),
        ] {
            store.register_instance(i, heartbeat).await.unwrap();
        }
        let mut calls = Vec::new();
        for (n, i) in [&other_node, &stale_node, &killed_here, &running_here]
            .into_iter()
            .enumerate()
        {
            let id = store
                .for_instance(i)
                .start_call(&new_call(None, n as i64))
                .await
                .unwrap();
            calls.push(id);
        }
        let legacy = store.start_call(&new_call(None, 9)).await.unwrap();
        let live = Liveness {
            now,
            stale_after: chrono::Duration::seconds(60),
            host: "here",
            pid_alive: &|pid| pid == 1,
        };
        assert_eq!(store.mark_interrupted(&live).await.unwrap(), 3);
        let state = |id: &CallId| {
            let id = id.clone();
            async move {
                store
                    .call_summary(&id)
                    .await
                    .unwrap()
                    .unwrap()
                    .call
                    .disposition
            }
        };
        assert_eq!(
            state(&calls[0]).await,
            disposition::IN_PROGRESS,
            "live node"
        );
        assert_eq!(
            state(&calls[1]).await,
            disposition::INTERRUPTED,
            "stale node"
        );
        assert_eq!(
            state(&calls[2]).await,
            disposition::INTERRUPTED,
            "killed here"
        );
        assert_eq!(
            state(&calls[3]).await,
            disposition::IN_PROGRESS,
            "running here"
        );
        assert_eq!(
            state(&legacy).await,
            disposition::INTERRUPTED,
            "no instance"
        );
        // The gone instances are forgotten; a second pass changes nothing.
        assert_eq!(store.mark_interrupted(&live).await.unwrap(), 0);
    }

    pub async fn do_not_call_round_trip(store: &Store, _url: &str) {
        assert!(!store.is_do_not_call("0912345678").await.unwrap());
        store
            .add_do_not_call("0912345678", "asked on call")
            .await
            .unwrap();
        store
            .add_do_not_call("0912345678", "asked again")
            .await
            .unwrap();
        assert!(store.is_do_not_call("0912345678").await.unwrap());
        assert!(!store.is_do_not_call("0912345679").await.unwrap());
    }

    pub async fn recent_calls_newest_first(store: &Store, _url: &str) {
        assert!(store.recent_calls(10).await.unwrap().is_empty());
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(store.start_call(&new_call(None, i * 1_000)).await.unwrap());
        }
        let resp = store
            .start_response(&ids[4], None, "csat-v1")
            .await
            .unwrap();
        store
            .add_answer(&resp, &value("q4", "9", 9_000))
            .await
            .unwrap();

        let recent = store.recent_calls(3).await.unwrap();
        let got: Vec<&CallId> = recent.iter().map(|s| &s.call.id).collect();
        assert_eq!(got, [&ids[4], &ids[3], &ids[2]]);
        assert_eq!(recent[0].answers[0].value.as_deref(), Some("9"));
        assert_eq!(store.recent_calls(0).await.unwrap().len(), 0);
        assert_eq!(store.recent_calls(100).await.unwrap().len(), 5);

        let json = serde_json::to_value(&recent[0]).unwrap();
        assert_eq!(json["call"]["disposition"], "in_progress");
        assert_eq!(json["answers"][0]["kind"], "value");
        assert_eq!(json["answers"][0]["key"], "q4");
        assert!(json["recording"].is_null());
    }

    pub async fn second_connect_reruns_migrations_harmlessly(store: &Store, url: &str) {
        store.upsert_dossier(&dossier("HS-7")).await.unwrap();
        let again = Store::connect(url).await.unwrap();
        assert_eq!(again.dossier("HS-7").await.unwrap(), Some(dossier("HS-7")));
        let third = Store::connect(url).await.unwrap();
        third.upsert_dossier(&dossier("HS-8")).await.unwrap();
        assert!(store.dossier("HS-8").await.unwrap().is_some());
        again.close().await;
        third.close().await;
    }
}

both_backends!(
    after_postgres = missing_postgres_database_says_so;
    dossier_round_trip_and_idempotent_upsert,
    call_lifecycle_round_trip,
    answers_are_append_only,
    unknown_parents_are_refused,
    recordings_round_trip,
    mark_interrupted_keeps_answers,
    only_gone_processes_calls_are_interrupted,
    do_not_call_round_trip,
    recent_calls_newest_first,
    second_connect_reruns_migrations_harmlessly,
);

async fn missing_postgres_database_says_so(server: &pg::PgServer) {
    let url = server.fresh_database().await;
    let url = format!("{}_missing", url.split('?').next().unwrap());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("create the database"), "{err}");
}

#[tokio::test]
async fn unreachable_postgres_fails_fast_with_a_redacted_connect_error() {
    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://care:topsecret@127.0.0.1:{port}/carecall");
    let opts = StoreOptions {
        connect_timeout: Duration::from_secs(3),
        ..StoreOptions::default()
    };
    let started = Instant::now();
    let err = Store::connect_with(&url, &opts).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let text = format!("{err} / {err:?}");
    assert!(matches!(err, StoreError::Connect { .. }), "{text}");
    assert!(!text.contains("topsecret"), "password leaked: {text}");
    assert!(text.contains("care:***@127.0.0.1"), "{text}");
}

#[tokio::test]
async fn unsupported_and_malformed_urls_are_typed_errors() {
    let err = Store::connect("mysql://u:pw@h/db").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedScheme { .. }), "{err}");
    assert!(!err.to_string().contains("pw@"), "{err}");
    let err = Store::connect("postgres://h:notaport/db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    assert!(path.exists());
    assert_eq!(store.backend(), carecall::store::Backend::Sqlite);
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    let mode: String = sqlx::Row::get(
        &sqlx::query("PRAGMA journal_mode")
            .fetch_one(&raw)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(mode, "wal");
    raw.close().await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_in_missing_directory_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nope/carecall.db").display());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err}");
    assert!(
        err.to_string().contains("directory exists and is writable"),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_in_read_only_directory_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let _guard = ReadOnlyDir::new(&ro);
    let url = format!("sqlite://{}", ro.join("carecall.db").display());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("writable"), "{err}");
}

#[tokio::test]
async fn writes_to_a_read_only_sqlite_database_are_read_only_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carecall.db").display());
    let rw = Store::connect(&url).await.unwrap();
    rw.upsert_dossier(&dossier("HS-1")).await.unwrap();
    rw.close().await;

    let ro = Store::connect(&format!("{url}?mode=ro")).await.unwrap();
    assert!(ro.dossier("HS-1").await.unwrap().is_some());
    let err = ro.upsert_dossier(&dossier("HS-2")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::ReadOnly {
                op: "upsert_dossier",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("read-only"), "{err}");
}

/// Makes a directory read-only for the test, even for root: mode 0555, and when
/// that is not enough (root ignores modes) the ext4 immutable flag.
struct ReadOnlyDir(std::path::PathBuf, bool);

impl ReadOnlyDir {
    fn new(path: &std::path::Path) -> ReadOnlyDir {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o555)).unwrap();
        let mut immutable = false;
        if std::fs::write(path.join("probe"), b"").is_ok() {
            std::fs::remove_file(path.join("probe")).unwrap();
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "running as root and `chattr +i` failed: cannot make a read-only dir"
            );
            immutable = true;
            assert!(
                std::fs::write(path.join("probe"), b"").is_err(),
                "dir still writable"
            );
        }
        ReadOnlyDir(path.to_owned(), immutable)
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.1 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        }
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}
