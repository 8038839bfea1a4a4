//! Call seals: the finished call's row, its dossier's unit and its
//! recordings, written as a link of the audit chain (`audit.rs`).
//!
//! Answers are chained the moment they are given, but a call's outcome and
//! its recording only exist when it ends; and the `calls` and `recordings`
//! rows are otherwise plain rows that anyone with database access could edit
//! (a `no_answer` turned into `declined` changes the response rate; a
//! recording row pointed at another file changes what a supervisor hears).
//! So when a call is finished, marked interrupted, or gets a recording, the
//! fields that matter are serialised (the seal's `content`, JSON with named
//! fields) and appended to the chain. Verification checks each seal's hash
//! like any link, then compares the latest seal of every call with the rows
//! as they are now and names the fields that differ. Earlier seals of a call
//! stay in the chain as its history.
//!
//! Sealed: the number dialled, the dossier and its unit, the times, the
//! disposition and SIP status, the operator who took the call, and each
//! recording's id, path, length, size and SHA-256. Not sealed: the campaign
//! link and free-text reasons.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::audit::{Locked, RecordChange, SEAL_V2, Tx, link_hash};
use super::error::classify;
use super::types::CallId;
use super::{Store, StoreError, col};

/// What a seal holds (field order is the serialisation order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct CallSeal {
    call: String,
    number: String,
    dossier: Option<String>,
    unit: Option<String>,
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    disposition: String,
    sip_code: Option<i64>,
    operator: Option<String>,
    recordings: Vec<SealedRecording>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SealedRecording {
    id: String,
    path: String,
    /// Length in ms (an integer: floats are not compared exactly).
    ms: i64,
    bytes: i64,
    sha256: String,
}

/// Seals compared per page, so memory stays bounded on a large database.
const PAGE: i64 = 500;

impl Store {
    /// Appends a seal of `call` as it is in `tx` now, and commits.
    pub(super) async fn commit_seal(
        &self,
        mut tx: Tx,
        locked: Locked,
        call: &CallId,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let seal = current(&mut tx, call, op)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                op,
                what: "call",
                id: call.to_string(),
            })?;
        let content = serde_json::to_string(&seal).map_err(|_| StoreError::Corrupt {
            op,
            column: "call_seals.content",
        })?;
        let hash = link_hash(
            self.chain_key.as_deref(),
            SEAL_V2,
            &locked.prev_hash,
            &content,
        );
        sqlx::query(
            "INSERT INTO call_seals (seq, call_id, content, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(locked.seq)
        .bind(call.as_str())
        .bind(&content)
        .bind(&locked.prev_hash)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(op, e))?;
        self.commit_link(tx, locked, hash, op).await
    }

    /// Every sealed call (latest seal at or below `head_seq`) whose rows
    /// differ from the seal now, in call id order.
    pub(super) async fn changed_records(
        &self,
        head_seq: i64,
    ) -> Result<Vec<RecordChange>, StoreError> {
        const OP: &str = "verify_chain";
        let e = |e| classify(OP, e);
        let mut conn = self.pool.acquire().await.map_err(e)?;
        let mut changes = Vec::new();
        let mut after = String::new();
        loop {
            let page = sqlx::query(
                "SELECT s.call_id, s.content FROM call_seals s WHERE s.call_id > $1 \
                 AND s.seq = (SELECT MAX(t.seq) FROM call_seals t \
                   WHERE t.call_id = s.call_id AND t.seq <= $2) \
                 ORDER BY s.call_id LIMIT $3",
            )
            .bind(&after)
            .bind(head_seq)
            .bind(PAGE)
            .fetch_all(&mut *conn)
            .await
            .map_err(e)?;
            for r in &page {
                let call = CallId(col(r, OP, "call_id")?);
                let content: String = col(r, OP, "content")?;
                let now = current(&mut conn, &call, OP).await?;
                let fields = match serde_json::from_str::<CallSeal>(&content) {
                    Ok(sealed) => diff(&sealed, now.as_ref()),
                    // The chain walk already vouched for the content; a seal
                    // it cannot read is reported, not skipped.
                    Err(_) => vec!["seal unreadable".to_owned()],
                };
                if !fields.is_empty() {
                    changes.push(RecordChange {
                        call_id: call.clone(),
                        fields,
                    });
                }
                after = call.0;
            }
            if page.len() < PAGE as usize {
                return Ok(changes);
            }
        }
    }
}

/// The seal `call` would get now; `None` if the call row is gone.
async fn current(
    conn: &mut AnyConnection,
    call: &CallId,
    op: &'static str,
) -> Result<Option<CallSeal>, StoreError> {
    let e = |e| classify(op, e);
    let Some(c) = sqlx::query(
        "SELECT c.destination, c.dossier_code, d.unit_code, c.started_at, c.answered_at, \
         c.ended_at, c.disposition, c.sip_code, c.operator_id FROM calls c \
         LEFT JOIN dossiers d ON d.code = c.dossier_code WHERE c.id = $1",
    )
    .bind(call.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(e)?
    else {
        return Ok(None);
    };
    let recs = sqlx::query(
        "SELECT id, path, seconds, bytes, sha256 FROM recordings WHERE call_id = $1 ORDER BY id",
    )
    .bind(call.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(e)?;
    let recordings = recs
        .iter()
        .map(|r| {
            Ok(SealedRecording {
                id: col(r, op, "id")?,
                path: col(r, op, "path")?,
                ms: super::survey::seconds_to_ms(col(r, op, "seconds")?),
                bytes: col(r, op, "bytes")?,
                sha256: col(r, op, "sha256")?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(CallSeal {
        call: call.as_str().to_owned(),
        number: col(&c, op, "destination")?,
        dossier: col(&c, op, "dossier_code")?,
        unit: col(&c, op, "unit_code")?,
        started_at: col(&c, op, "started_at")?,
        answered_at: col(&c, op, "answered_at")?,
        ended_at: col(&c, op, "ended_at")?,
        disposition: col(&c, op, "disposition")?,
        sip_code: col(&c, op, "sip_code")?,
        operator: col(&c, op, "operator_id")?,
        recordings,
    }))
}

/// The names of the fields that differ between a seal and the rows now.
fn diff(sealed: &CallSeal, now: Option<&CallSeal>) -> Vec<String> {
    let Some(now) = now else {
        return vec!["call row deleted".to_owned()];
    };
    let mut out = Vec::new();
    let mut field = |name: &str, same: bool| {
        if !same {
            out.push(name.to_owned());
        }
    };
    field("number", sealed.number == now.number);
    field("dossier", sealed.dossier == now.dossier);
    field("unit", sealed.unit == now.unit);
    field("started_at", sealed.started_at == now.started_at);
    field("answered_at", sealed.answered_at == now.answered_at);
    field("ended_at", sealed.ended_at == now.ended_at);
    field("disposition", sealed.disposition == now.disposition);
    field("sip_code", sealed.sip_code == now.sip_code);
    field("operator", sealed.operator == now.operator);
    for s in &sealed.recordings {
        match now.recordings.iter().find(|n| n.id == s.id) {
            None => out.push(format!("recording {} deleted", s.id)),
            Some(n) => {
                for (name, same) in [
                    ("path", s.path == n.path),
                    ("seconds", s.ms == n.ms),
                    ("bytes", s.bytes == n.bytes),
                    ("sha256", s.sha256 == n.sha256),
                ] {
                    if !same {
                        out.push(format!("recording {} {name}", s.id));
                    }
                }
            }
        }
    }
    for n in &now.recordings {
        if !sealed.recordings.iter().any(|s| s.id == n.id) {
            out.push(format!("recording {} added", n.id));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal() -> CallSeal {
        CallSeal {
            call: "c".into(),
            number: "sip:0912345678@trunk".into(),
            dossier: Some("HS-1".into()),
            unit: Some("tp-cao-lanh".into()),
            started_at: 1,
            answered_at: Some(2),
            ended_at: Some(3),
            disposition: "completed".into(),
            sip_code: Some(200),
            operator: None,
            recordings: vec![SealedRecording {
                id: "r1".into(),
                path: "recordings/a.wav".into(),
                ms: 1500,
                bytes: 100,
                sha256: "ab".into(),
            }],
        }
    }

    #[test]
    fn diff_names_fields_never_values() {
        assert!(diff(&seal(), Some(&seal())).is_empty());
        let mut now = seal();
        now.unit = Some("huyen-lap-vo".into());
        now.disposition = "declined".into();
        now.number = "sip:0999999999@trunk".into();
        now.recordings[0].sha256 = "cd".into();
        let d = diff(&seal(), Some(&now));
        assert_eq!(d, ["number", "unit", "disposition", "recording r1 sha256"]);
        assert!(!d.iter().any(|f| f.contains("0999")), "{d:?}");
    }

    #[test]
    fn diff_names_added_deleted_recordings_and_rows() {
        let mut now = seal();
        now.recordings[0].id = "r2".into();
        assert_eq!(
            diff(&seal(), Some(&now)),
            ["recording r1 deleted", "recording r2 added"]
        );
        assert_eq!(diff(&seal(), None), ["call row deleted"]);
    }

    /// The stored content is the serialisation the chain hashes: reading it
    /// back and writing it again gives the same bytes.
    #[test]
    fn content_round_trips() {
        let text = serde_json::to_string(&seal()).unwrap();
        let back: CallSeal = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }
}
