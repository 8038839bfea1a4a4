//! The answers' hash chain: every answer row carries a global `seq`, the hash
//! of the row before it and its own hash, so that a row edited, removed or
//! slipped in behind carecall's back (by someone with database access who
//! drops the append-only triggers) is found by [`Store::verify_chain`].
//!
//! `hash = hex(SHA-256(prev_hash || canonical))`, where `prev_hash` is the
//! 64-character hex hash of the row with `seq - 1` ([`GENESIS`] for seq 1) and
//! `canonical` is the JSON array (serde_json, compact) of, in this order:
//! `id, response_id, key, revision, kind, value, why, offset_ms, clip_path,
//! clip_ms, clip_sha256, answered_at (unix ms), changed_by, change_reason, seq,
//! response_call_id, response_dossier` with absent values as `null`. JSON
//! string escaping means no value can imitate a field boundary.
//!
//! The last two are the call and dossier of the answer's survey response, read
//! when the answer is written: they bind each answer to its response's record,
//! so that moving a response to another call or dossier (and so to another
//! unit in the reports) breaks the chain like an edited answer does. The
//! response's status changes legitimately as the call goes on and is not bound.
//!
//! The chain is unkeyed: it proves that the stored rows are the ones written in
//! order, not who wrote them; an attacker who recomputes every hash from the
//! forged row to the head is not caught. Its value is that a quiet edit of
//! one answer (the usual temptation) breaks the chain visibly.
//!
//! Writers serialise on the one-row `answer_chain_head`: the first statement
//! of the transaction updates it, which takes PostgreSQL's row lock and
//! SQLite's write lock (waiting under the busy timeout; no read is held yet,
//! so SQLite can retry instead of failing with a stale snapshot).
//!
//! Rows written before the chain existed (migration 5) have NULL chain
//! columns; they are reported as `unchained`, and their number is frozen in
//! the head so that a row forged later with NULL hash is still noticed.

use std::fmt;

use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{AnswerId, NewAnswer, ResponseId, to_ms};
use super::{Store, StoreError, col};

/// `prev_hash` of the first chained answer.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed content of one answer row (see the module doc for the order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainRow {
    pub id: String,
    pub response_id: String,
    pub key: String,
    pub revision: i64,
    pub kind: String,
    pub value: Option<String>,
    pub why: Option<String>,
    pub offset_ms: Option<i64>,
    pub clip_path: Option<String>,
    pub clip_ms: Option<i64>,
    pub clip_sha256: Option<String>,
    pub answered_at_ms: i64,
    pub changed_by: Option<String>,
    pub change_reason: Option<String>,
    pub seq: i64,
    /// The call of the answer's response.
    pub response_call_id: Option<String>,
    /// The dossier of the answer's response.
    pub response_dossier: Option<String>,
}

impl ChainRow {
    /// The canonical serialisation that is hashed.
    fn canonical(&self) -> String {
        serde_json::json!([
            self.id,
            self.response_id,
            self.key,
            self.revision,
            self.kind,
            self.value,
            self.why,
            self.offset_ms,
            self.clip_path,
            self.clip_ms,
            self.clip_sha256,
            self.answered_at_ms,
            self.changed_by,
            self.change_reason,
            self.seq,
            self.response_call_id,
            self.response_dossier,
        ])
        .to_string()
    }
}

/// The chain hash of `row` following a row whose hash is `prev_hash`.
pub fn answer_hash(prev_hash: &str, row: &ChainRow) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(row.canonical().as_bytes());
    hex::encode(h.finalize())
}

/// Why the chain is broken at a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The row's content no longer matches its hash: it was edited.
    ContentHash,
    /// The row's `prev_hash` is not the hash of the row before it: a row was
    /// inserted or removed before it.
    PrevHash,
    /// A `seq` is missing: a row was removed (or renumbered).
    SeqGap,
    /// The head names a later seq or another hash than the last row: rows were
    /// removed from (or changed at) the end.
    HeadMismatch,
    /// A row has a seq beyond the head: appended without going through the chain.
    AfterHead,
    /// The number of pre-chain (NULL hash) rows changed since the migration.
    UnchainedCount,
    /// `answer_latest` (what reports read) disagrees with the newest revision
    /// in `answers`: the reports would show something the answers do not say.
    LatestMismatch,
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakReason::ContentHash => "content does not match its hash (row edited)",
            BreakReason::PrevHash => {
                "prev_hash does not link to the row before (row inserted or removed)"
            }
            BreakReason::SeqGap => "seq gap (row removed)",
            BreakReason::HeadMismatch => {
                "chain head does not match the last row (rows removed at the end)"
            }
            BreakReason::AfterHead => "row beyond the chain head (appended outside carecall)",
            BreakReason::UnchainedCount => "number of pre-chain rows changed",
            BreakReason::LatestMismatch => {
                "the latest-answer table read by reports disagrees with the answers"
            }
        })
    }
}

/// The first broken link. The row fields are absent when no row is there to
/// name (rows removed at the end, a changed count of pre-chain rows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenLink {
    /// The seq at which the chain breaks (for [`BreakReason::HeadMismatch`],
    /// the seq the head names).
    pub seq: Option<i64>,
    pub answer_id: Option<AnswerId>,
    pub response_id: Option<ResponseId>,
    pub key: Option<String>,
    pub reason: BreakReason,
}

/// What [`Store::verify_chain`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// Chained answers checked.
    pub answers: u64,
    /// Answers from before the chain (NULL hash); not broken by themselves.
    pub unchained: u64,
    pub first_broken: Option<BrokenLink>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// An answer row with its response's call and dossier (see the module doc).
const COLUMNS: &str = "a.id, a.response_id, a.key, a.revision, a.kind, a.value, a.why, \
    a.offset_ms, a.clip_path, a.clip_ms, a.clip_sha256, a.answered_at, a.changed_by, \
    a.change_reason, a.seq, a.prev_hash, a.hash, r.call_id AS response_call_id, \
    r.dossier_code AS response_dossier \
    FROM answers a LEFT JOIN survey_responses r ON r.id = a.response_id";

impl Store {
    /// Appends `a` as the next revision of its key and the next link of the
    /// chain, in one transaction. `changed_by` and `change_reason` name the
    /// user and reason of a correction (None for answers taken on a call).
    pub(super) async fn append_answer(
        &self,
        r: &ResponseId,
        a: &NewAnswer,
        changed_by: Option<&str>,
        change_reason: Option<&str>,
    ) -> Result<AnswerId, StoreError> {
        const OP: &str = "add_answer";
        let e = |e| classify(OP, e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        // A write first: the lock that serialises every writer (module doc).
        let head = sqlx::query(
            "UPDATE answer_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
        let seq: i64 = col(&head, OP, "seq")?;
        let prev_hash: String = col(&head, OP, "hash")?;
        let rev = sqlx::query(
            "SELECT COALESCE(MAX(revision), 0) + 1 AS rev FROM answers \
             WHERE response_id = $1 AND key = $2",
        )
        .bind(r.as_str())
        .bind(&a.key)
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
        let owner = sqlx::query("SELECT call_id, dossier_code FROM survey_responses WHERE id = $1")
            .bind(r.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(e)?;
        let (response_call_id, response_dossier) = match &owner {
            Some(o) => (col(o, OP, "call_id")?, col(o, OP, "dossier_code")?),
            None => (None, None),
        };
        let id = AnswerId::new_v4();
        let row = ChainRow {
            id: id.as_str().to_owned(),
            response_id: r.as_str().to_owned(),
            key: a.key.clone(),
            revision: col(&rev, OP, "rev")?,
            kind: a.kind.as_str().to_owned(),
            value: a.value.clone(),
            why: a.why.clone(),
            offset_ms: a.offset_ms,
            clip_path: a.clip_path.clone(),
            clip_ms: a.clip_seconds.map(super::survey::seconds_to_ms),
            clip_sha256: a.clip_sha256.clone(),
            answered_at_ms: to_ms(a.answered_at),
            changed_by: changed_by.map(str::to_owned),
            change_reason: change_reason.map(str::to_owned),
            seq,
            response_call_id,
            response_dossier,
        };
        let hash = answer_hash(&prev_hash, &row);
        insert_row(&mut tx, &row, &prev_hash, &hash).await?;
        set_latest(&mut tx, &row).await?;
        sqlx::query("UPDATE answer_chain_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(id)
    }

    /// Walks the whole chain in seq order, recomputing every hash, and names
    /// the first broken link. Safe while answers are being written: rows
    /// beyond the head read first are left for the next run.
    pub async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        const OP: &str = "verify_chain";
        let e = |e| classify(OP, e);
        let head = sqlx::query("SELECT seq, hash, unchained FROM answer_chain_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(e)?;
        let head_seq: i64 = col(&head, OP, "seq")?;
        let head_hash: String = col(&head, OP, "hash")?;
        let frozen: i64 = col(&head, OP, "unchained")?;
        let unchained: i64 = col(
            &sqlx::query("SELECT COUNT(*) AS n FROM answers WHERE seq IS NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(e)?,
            OP,
            "n",
        )?;

        let mut walk = Walk::new();
        let sql = format!("SELECT {COLUMNS} WHERE a.seq <= $1 ORDER BY a.seq");
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(head_seq)
            .fetch(&self.pool);
        while let Some(row) = rows.try_next().await.map_err(e)? {
            walk.step(&row)?;
            if walk.broken.is_some() {
                break;
            }
        }
        drop(rows);
        let mut first_broken = walk.broken.take();
        if first_broken.is_none() {
            first_broken = walk.finish(head_seq, &head_hash);
        }
        if first_broken.is_none() {
            first_broken = self.row_after_head().await?;
        }
        if first_broken.is_none() && unchained != frozen {
            first_broken = Some(BrokenLink {
                seq: None,
                answer_id: None,
                response_id: None,
                key: None,
                reason: BreakReason::UnchainedCount,
            });
        }
        if first_broken.is_none() {
            first_broken = self.latest_mismatch().await?;
        }
        Ok(ChainReport {
            answers: walk.count,
            unchained: u64::try_from(unchained).unwrap_or(0),
            first_broken,
        })
    }

    /// The first (response, key) whose `answer_latest` row is missing, extra
    /// or not the newest revision's content. One statement, so it sees one
    /// snapshot even while answers are being written.
    async fn latest_mismatch(&self) -> Result<Option<BrokenLink>, StoreError> {
        const OP: &str = "verify_chain";
        let row = sqlx::query(
            "SELECT a.id AS answer_id, a.response_id AS response_id, a.key AS key FROM answers a \
             WHERE NOT EXISTS (SELECT 1 FROM answers n WHERE n.response_id = a.response_id \
               AND n.key = a.key AND n.revision > a.revision) \
             AND NOT EXISTS (SELECT 1 FROM answer_latest l WHERE l.response_id = a.response_id \
               AND l.key = a.key AND l.answer_id = a.id AND l.revision = a.revision \
               AND l.kind = a.kind AND COALESCE(l.value, '') = COALESCE(a.value, '') \
               AND (l.value IS NULL) = (a.value IS NULL)) \
             UNION ALL \
             SELECT l.answer_id, l.response_id, l.key FROM answer_latest l \
             WHERE NOT EXISTS (SELECT 1 FROM answers a WHERE a.id = l.answer_id \
               AND a.response_id = l.response_id AND a.key = l.key) \
             LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| {
            Ok(BrokenLink {
                seq: None,
                answer_id: Some(AnswerId(col(&r, OP, "answer_id")?)),
                response_id: Some(ResponseId(col(&r, OP, "response_id")?)),
                key: Some(col(&r, OP, "key")?),
                reason: BreakReason::LatestMismatch,
            })
        })
        .transpose()
    }

    /// A row with a seq beyond the head. One statement, so a writer
    /// committing its row and the head together is never half seen.
    async fn row_after_head(&self) -> Result<Option<BrokenLink>, StoreError> {
        const OP: &str = "verify_chain";
        let sql = format!(
            "SELECT {COLUMNS} \
             WHERE a.seq > (SELECT seq FROM answer_chain_head WHERE id = 1) ORDER BY a.seq LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        row.map(|r| Ok(link(&chain_row(&r)?, BreakReason::AfterHead)))
            .transpose()
    }
}

/// Keeps `answer_latest` on the newest revision (an older one arriving late,
/// which the revision numbering makes impossible today, would not win).
async fn set_latest(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &ChainRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO answer_latest (response_id, key, revision, answer_id, kind, value) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (response_id, key) DO UPDATE SET \
         revision = excluded.revision, answer_id = excluded.answer_id, kind = excluded.kind, \
         value = excluded.value WHERE answer_latest.revision < excluded.revision",
    )
    .bind(&row.response_id)
    .bind(&row.key)
    .bind(row.revision)
    .bind(&row.id)
    .bind(&row.kind)
    .bind(row.value.as_deref())
    .execute(&mut **tx)
    .await
    .map_err(|e| classify("add_answer", e))?;
    Ok(())
}

async fn insert_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &ChainRow,
    prev_hash: &str,
    hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO answers (id, response_id, key, revision, kind, value, why, offset_ms, \
         clip_path, clip_ms, clip_sha256, answered_at, changed_by, change_reason, seq, \
         prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&row.id)
    .bind(&row.response_id)
    .bind(&row.key)
    .bind(row.revision)
    .bind(&row.kind)
    .bind(row.value.as_deref())
    .bind(row.why.as_deref())
    .bind(row.offset_ms)
    .bind(row.clip_path.as_deref())
    .bind(row.clip_ms)
    .bind(row.clip_sha256.as_deref())
    .bind(row.answered_at_ms)
    .bind(row.changed_by.as_deref())
    .bind(row.change_reason.as_deref())
    .bind(row.seq)
    .bind(prev_hash)
    .bind(hash)
    .execute(&mut **tx)
    .await
    .map_err(|e| classify("add_answer", e))?;
    Ok(())
}

/// The state of a walk along the chain.
struct Walk {
    count: u64,
    last_seq: i64,
    last_hash: String,
    broken: Option<BrokenLink>,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            count: 0,
            last_seq: 0,
            last_hash: GENESIS.to_owned(),
            broken: None,
        }
    }

    /// Checks one row against the one before: seq, link, then content.
    fn step(&mut self, r: &AnyRow) -> Result<(), StoreError> {
        const OP: &str = "verify_chain";
        let row = chain_row(r)?;
        let prev_hash: Option<String> = col(r, OP, "prev_hash")?;
        let hash: Option<String> = col(r, OP, "hash")?;
        let reason = if row.seq != self.last_seq + 1 {
            Some(BreakReason::SeqGap)
        } else if prev_hash.as_deref() != Some(self.last_hash.as_str()) {
            Some(BreakReason::PrevHash)
        } else if hash.as_deref() != Some(answer_hash(&self.last_hash, &row).as_str()) {
            Some(BreakReason::ContentHash)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.broken = Some(link(&row, reason));
            return Ok(());
        }
        self.count += 1;
        self.last_seq = row.seq;
        self.last_hash = hash.unwrap_or_default();
        Ok(())
    }

    /// The head must name the last row walked.
    fn finish(&self, head_seq: i64, head_hash: &str) -> Option<BrokenLink> {
        (head_seq != self.last_seq || head_hash != self.last_hash).then_some(BrokenLink {
            seq: Some(head_seq),
            answer_id: None,
            response_id: None,
            key: None,
            reason: BreakReason::HeadMismatch,
        })
    }
}

fn link(row: &ChainRow, reason: BreakReason) -> BrokenLink {
    BrokenLink {
        seq: Some(row.seq),
        answer_id: Some(AnswerId(row.id.clone())),
        response_id: Some(ResponseId(row.response_id.clone())),
        key: Some(row.key.clone()),
        reason,
    }
}

fn chain_row(r: &AnyRow) -> Result<ChainRow, StoreError> {
    const OP: &str = "verify_chain";
    Ok(ChainRow {
        id: col(r, OP, "id")?,
        response_id: col(r, OP, "response_id")?,
        key: col(r, OP, "key")?,
        revision: col(r, OP, "revision")?,
        kind: col(r, OP, "kind")?,
        value: col(r, OP, "value")?,
        why: col(r, OP, "why")?,
        offset_ms: col(r, OP, "offset_ms")?,
        clip_path: col(r, OP, "clip_path")?,
        clip_ms: col(r, OP, "clip_ms")?,
        clip_sha256: col(r, OP, "clip_sha256")?,
        answered_at_ms: col(r, OP, "answered_at")?,
        changed_by: col(r, OP, "changed_by")?,
        change_reason: col(r, OP, "change_reason")?,
        seq: col(r, OP, "seq")?,
        response_call_id: col(r, OP, "response_call_id")?,
        response_dossier: col(r, OP, "response_dossier")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ChainRow {
        ChainRow {
            id: "a".into(),
            response_id: "r".into(),
            key: "q1".into(),
            revision: 1,
            kind: "value".into(),
            value: Some("1".into()),
            why: None,
            offset_ms: Some(10),
            clip_path: None,
            clip_ms: None,
            clip_sha256: None,
            answered_at_ms: 1,
            changed_by: None,
            change_reason: None,
            seq: 1,
            response_call_id: Some("c".into()),
            response_dossier: None,
        }
    }

    #[test]
    fn hash_covers_every_field_and_the_link() {
        let base = answer_hash(GENESIS, &row());
        assert_eq!(base.len(), 64);
        assert_eq!(base, answer_hash(GENESIS, &row()));
        assert_ne!(base, answer_hash(&"1".repeat(64), &row()));
        let mut r = row();
        r.value = Some("2".into());
        assert_ne!(base, answer_hash(GENESIS, &r));
        let mut r = row();
        r.change_reason = Some(String::new());
        assert_ne!(base, answer_hash(GENESIS, &r), "empty is not absent");
    }

    #[test]
    fn field_boundaries_cannot_be_imitated() {
        let mut a = row();
        a.key = "q1\",\"x".into();
        a.value = None;
        let mut b = row();
        b.key = "q1".into();
        b.value = Some("x".into());
        assert_ne!(answer_hash(GENESIS, &a), answer_hash(GENESIS, &b));
    }
}
