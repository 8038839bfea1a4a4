//! The audit chain: every answer, and every finished call with its
//! recordings, is a link of one hash chain, so that a row edited, removed or
//! slipped in behind carecall's back (by someone with database access who
//! drops the append-only triggers) is found by [`Store::verify_chain`].
//!
//! Links share one global `seq` (answers in `answers`, call seals in
//! `call_seals`, see `seals.rs`); each stores the hash of the link before it
//! and its own hash. Two rules hash a link, chosen by its seq against the
//! head's `keyed_from` (the upgrade point recorded by migration 14):
//!
//! * **v1**, seq < `keyed_from` (answers written before the upgrade):
//!   `hex(SHA-256(prev_hash || canonical_v1))`, where `canonical_v1` is the
//!   JSON array (serde_json, compact) of `id, response_id, key, revision,
//!   kind, value, why, offset_ms, clip_path, clip_ms, clip_sha256,
//!   answered_at (unix ms), changed_by, change_reason, seq,
//!   response_call_id, response_dossier`, absent values as `null`.
//! * **v2**, seq >= `keyed_from`: `HMAC-SHA256(key, "carecall answer v2",
//!   prev_hash, canonical_v2)` (each part length-prefixed, see
//!   [`ChainKey::mac`]), where `canonical_v2` is `canonical_v1` followed by
//!   `response_unit`, the unit of the response's dossier; a call seal is
//!   `HMAC(key, "carecall call v2", prev_hash, content)`. The key lives in a
//!   file outside the database (`chain_key.rs`), so someone who rewrites a
//!   row and recomputes every hash after it with plain SHA-256, or with a
//!   key of their own, is caught.
//!
//! Old rows keep verifying with v1 and are not re-hashed (re-hashing would
//! launder any edit made before the upgrade). The first v2 link carries the
//! last v1 hash as its `prev_hash` inside its HMAC, so from then on the old
//! rows cannot be rewritten either; until the first keyed append they are as
//! strong as before. `keyed_from` is covered by the head's HMAC, so it
//! cannot be raised to push keyed rows back under the unkeyed rule.
//!
//! JSON string escaping and the length prefixes mean no value can imitate a
//! field boundary. The answer's call, dossier and unit bind it to its
//! response's record: moving a response to another call or dossier, or the
//! dossier to another unit (and so the answer to another unit in the
//! reports), breaks the chain like an edited answer. The response's status
//! changes legitimately as the call goes on and is not bound.
//!
//! A [`Store`] without a key (`Store::connect` alone: tests and tools) writes
//! and checks v2 links with plain SHA-256 in place of the HMAC. carecall's
//! own writers (`setup::services`) and `carecall audit verify` always hold
//! the key, and a keyed verification reports every link written without it.
//!
//! Writers serialise on the one-row `answer_chain_head`: the first statement
//! of the transaction updates it, which takes PostgreSQL's row lock and
//! SQLite's write lock (waiting under the busy timeout; no read is held yet,
//! so SQLite can retry instead of failing with a stale snapshot). The head
//! is signed and also logged outside the database (`head_log.rs`), which is
//! what catches links removed from the end.
//!
//! Rows written before the chain existed (migration 5) have NULL chain
//! columns; they are reported as `unchained`, and their number is frozen in
//! the head so that a row forged later with NULL hash is still noticed.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::chain_key::ChainKey;
use super::error::classify;
use super::file_check::FilesReport;
use super::head_log::{self, Head};
use super::types::{AnswerId, CallId, NewAnswer, ResponseId, to_ms};
use super::{Store, StoreError, col};

/// `prev_hash` of the first chained link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain of an answer link's v2 hash.
const ANSWER_V2: &[u8] = b"carecall answer v2";
/// Domain of a call seal's hash.
pub(super) const SEAL_V2: &[u8] = b"carecall call v2";

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
    /// The unit of that dossier (v2 only).
    pub response_unit: Option<String>,
}

impl ChainRow {
    fn fields_v1(&self) -> Vec<serde_json::Value> {
        vec![
            self.id.clone().into(),
            self.response_id.clone().into(),
            self.key.clone().into(),
            self.revision.into(),
            self.kind.clone().into(),
            self.value.clone().into(),
            self.why.clone().into(),
            self.offset_ms.into(),
            self.clip_path.clone().into(),
            self.clip_ms.into(),
            self.clip_sha256.clone().into(),
            self.answered_at_ms.into(),
            self.changed_by.clone().into(),
            self.change_reason.clone().into(),
            self.seq.into(),
            self.response_call_id.clone().into(),
            self.response_dossier.clone().into(),
        ]
    }

    /// The v1 serialisation (rows before the upgrade point).
    fn canonical_v1(&self) -> String {
        serde_json::Value::Array(self.fields_v1()).to_string()
    }

    /// The v2 serialisation: v1 and the response's unit.
    fn canonical_v2(&self) -> String {
        let mut f = self.fields_v1();
        f.push(self.response_unit.clone().into());
        serde_json::Value::Array(f).to_string()
    }
}

/// The v1 (unkeyed, pre-upgrade) hash of `row` after `prev_hash`.
pub fn answer_hash(prev_hash: &str, row: &ChainRow) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(row.canonical_v1().as_bytes());
    hex::encode(h.finalize())
}

/// The v2 hash of answer `row` after `prev_hash`: HMAC under `key`, or plain
/// SHA-256 of the same input for a store without a key.
pub fn answer_link_hash(key: Option<&ChainKey>, prev_hash: &str, row: &ChainRow) -> String {
    link_hash(key, ANSWER_V2, prev_hash, &row.canonical_v2())
}

/// A v2 link hash over length-prefixed `domain`, `prev_hash`, `canonical`.
pub(super) fn link_hash(
    key: Option<&ChainKey>,
    domain: &[u8],
    prev_hash: &str,
    canonical: &str,
) -> String {
    let parts: [&[u8]; 3] = [domain, prev_hash.as_bytes(), canonical.as_bytes()];
    match key {
        Some(k) => k.mac(&parts),
        None => {
            let mut h = Sha256::new();
            for p in parts {
                h.update((p.len() as u64).to_be_bytes());
                h.update(p);
            }
            hex::encode(h.finalize())
        }
    }
}

/// Why the chain is broken at a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The link's content no longer matches its hash: it was edited, or
    /// written (or re-hashed) without the key.
    ContentHash,
    /// The link's `prev_hash` is not the hash of the link before it: a link
    /// was inserted or removed before it.
    PrevHash,
    /// A `seq` is missing or repeated: a link was removed (or renumbered).
    SeqGap,
    /// The head names a later seq or another hash than the last link: links
    /// were removed from (or changed at) the end.
    HeadMismatch,
    /// The head's signature does not verify: it was written without the key.
    HeadSignature,
    /// A link has a seq beyond the head: appended without going through the chain.
    AfterHead,
    /// The number of pre-chain (NULL hash) rows changed since the migration.
    UnchainedCount,
    /// The head log outside the database names a later link than the
    /// database holds: links were removed from the end and the head put back.
    HeadLogAhead,
    /// The head log names a link whose hash (or upgrade point) differs.
    HeadLogMismatch,
    /// Keyed links exist but the head log next to the key is missing.
    HeadLogMissing,
    /// A line of the head log is not signed with the key.
    HeadLogForged,
    /// `answer_latest` (what reports read) disagrees with the newest revision
    /// in `answers`: the reports would show something the answers do not say.
    LatestMismatch,
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakReason::ContentHash => {
                "content does not match its hash (row edited, or hashed without the audit key)"
            }
            BreakReason::PrevHash => {
                "prev_hash does not link to the row before (row inserted or removed)"
            }
            BreakReason::SeqGap => "seq gap or repeat (row removed or renumbered)",
            BreakReason::HeadMismatch => {
                "chain head does not match the last row (rows removed at the end)"
            }
            BreakReason::HeadSignature => {
                "chain head signature does not verify (head rewritten without the audit key)"
            }
            BreakReason::AfterHead => "row beyond the chain head (appended outside carecall)",
            BreakReason::UnchainedCount => "number of pre-chain rows changed",
            BreakReason::HeadLogAhead => {
                "the head log next to the key names a later link than the database holds \
                 (rows removed at the end and the head put back)"
            }
            BreakReason::HeadLogMismatch => {
                "the head log next to the key names another hash for this link"
            }
            BreakReason::HeadLogMissing => {
                "the head log next to the key is missing although keyed links exist"
            }
            BreakReason::HeadLogForged => "a line of the head log is not signed with the key",
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
    /// The seq at which the chain breaks (for the head reasons, the seq the
    /// head or the head log names; for [`BreakReason::HeadLogForged`], the
    /// log's line number).
    pub seq: Option<i64>,
    pub answer_id: Option<AnswerId>,
    pub response_id: Option<ResponseId>,
    pub key: Option<String>,
    /// For a call seal: its call.
    pub call_id: Option<CallId>,
    pub reason: BreakReason,
}

impl BrokenLink {
    /// A break that names no row.
    pub(super) fn at(seq: Option<i64>, reason: BreakReason) -> BrokenLink {
        BrokenLink {
            seq,
            answer_id: None,
            response_id: None,
            key: None,
            call_id: None,
            reason,
        }
    }
}

/// A sealed call whose rows changed since (see `seals.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordChange {
    pub call_id: CallId,
    /// What changed, by field name (`disposition`, `unit`,
    /// `recording <id> sha256`, `call row deleted`…); never the values, which
    /// include citizens' numbers.
    pub fields: Vec<String>,
}

/// What [`Store::verify_chain`] (and [`Store::verify_files`]) found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// Whether links were checked with the audit key.
    pub keyed: bool,
    /// The upgrade point: links from this seq on use the keyed rule.
    pub keyed_from: i64,
    /// Chained answers checked.
    pub answers: u64,
    /// Call seals checked.
    pub seals: u64,
    /// Answers from before the chain (NULL hash); not broken by themselves.
    pub unchained: u64,
    pub first_broken: Option<BrokenLink>,
    /// Sealed calls whose rows changed since they were sealed.
    pub changed_records: Vec<RecordChange>,
    /// Recording and clip files missing or changed on disk (filled by
    /// [`Store::verify_files`]; empty otherwise).
    pub files: FilesReport,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none() && self.changed_records.is_empty() && self.files.problems == 0
    }
}

/// The head as locked by a writer: the seq of the link being written and
/// the hash it follows.
pub(super) struct Locked {
    pub seq: i64,
    pub prev_hash: String,
    keyed_from: i64,
    unchained: i64,
}

pub(super) type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl Store {
    /// Begins a transaction whose first statement takes the next seq (the
    /// lock that serialises every writer, module doc).
    pub(super) async fn begin_link(&self, op: &'static str) -> Result<(Tx, Locked), StoreError> {
        let e = |e| classify(op, e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        let head = sqlx::query(
            "UPDATE answer_chain_head SET seq = seq + 1 WHERE id = 1 \
             RETURNING seq, hash, keyed_from, unchained",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
        let locked = Locked {
            seq: col(&head, op, "seq")?,
            prev_hash: col(&head, op, "hash")?,
            keyed_from: col(&head, op, "keyed_from")?,
            unchained: col(&head, op, "unchained")?,
        };
        Ok((tx, locked))
    }

    /// Moves the head onto the link `hash` written at `locked.seq`, signs
    /// it, commits, and logs the signed head outside the database.
    pub(super) async fn commit_link(
        &self,
        mut tx: Tx,
        locked: Locked,
        hash: String,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let e = |e| classify(op, e);
        let head = Head {
            seq: locked.seq,
            hash,
            keyed_from: locked.keyed_from,
            unchained: locked.unchained,
        };
        let key = self.chain_key.as_deref();
        sqlx::query("UPDATE answer_chain_head SET hash = $1, mac = $2 WHERE id = 1")
            .bind(&head.hash)
            .bind(key.map(|k| head.mac(k)))
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        // After the commit: a logged head is a link that exists. A head lost
        // here (crash, full disk) only weakens the truncation check, so the
        // stored link is not reported as failed (its writer would retry it).
        if let Some(key) = self.chain_key.clone() {
            let logged = tokio::task::spawn_blocking(move || head_log::append(&key, &head)).await;
            if let Err(e) = logged.map_err(std::io::Error::other).and_then(|r| r) {
                tracing::error!(error = %e, "cannot append to the audit head log");
            }
        }
        Ok(())
    }

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
        let (mut tx, locked) = self.begin_link(OP).await?;
        let rev = sqlx::query(
            "SELECT COALESCE(MAX(revision), 0) + 1 AS rev FROM answers \
             WHERE response_id = $1 AND key = $2",
        )
        .bind(r.as_str())
        .bind(&a.key)
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
        let owner = sqlx::query(
            "SELECT r.call_id, r.dossier_code, d.unit_code FROM survey_responses r \
             LEFT JOIN dossiers d ON d.code = r.dossier_code WHERE r.id = $1",
        )
        .bind(r.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(e)?;
        let (response_call_id, response_dossier, response_unit) = match &owner {
            Some(o) => (
                col(o, OP, "call_id")?,
                col(o, OP, "dossier_code")?,
                col(o, OP, "unit_code")?,
            ),
            None => (None, None, None),
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
            seq: locked.seq,
            response_call_id,
            response_dossier,
            response_unit,
        };
        let hash = answer_link_hash(self.chain_key.as_deref(), &locked.prev_hash, &row);
        insert_row(&mut tx, &row, &locked.prev_hash, &hash).await?;
        set_latest(&mut tx, &row).await?;
        self.commit_link(tx, locked, hash, OP).await?;
        Ok(id)
    }
}

/// Keeps `answer_latest` on the newest revision (an older one arriving late,
/// which the revision numbering makes impossible today, would not win).
async fn set_latest(tx: &mut Tx, row: &ChainRow) -> Result<(), StoreError> {
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
    tx: &mut Tx,
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
            response_unit: Some("u".into()),
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

    /// Rows from before the upgrade keep their hash: v1 does not read the unit.
    #[test]
    fn v1_is_unchanged_by_the_unit() {
        let mut r = row();
        r.response_unit = Some("elsewhere".into());
        assert_eq!(answer_hash(GENESIS, &row()), answer_hash(GENESIS, &r));
        // Pinned from the v1 code (before the unit existed): old chains verify.
        assert_eq!(
            answer_hash(GENESIS, &row()),
            "e5e95d56406ee20ed0a4feb5b105ace3e19e615875ad1340821b434e9b794527"
        );
    }

    #[test]
    fn v2_binds_the_unit_and_the_key() {
        let k1 = ChainKey::from_bytes([1; 32]);
        let k2 = ChainKey::from_bytes([2; 32]);
        let base = answer_link_hash(Some(&k1), GENESIS, &row());
        let mut moved = row();
        moved.response_unit = Some("other-unit".into());
        assert_ne!(base, answer_link_hash(Some(&k1), GENESIS, &moved));
        assert_ne!(base, answer_link_hash(Some(&k2), GENESIS, &row()));
        assert_ne!(base, answer_link_hash(None, GENESIS, &row()));
        assert_ne!(
            answer_link_hash(None, GENESIS, &row()),
            answer_hash(GENESIS, &row()),
            "the unkeyed v2 rule is not v1"
        );
        assert_ne!(
            base,
            link_hash(Some(&k1), SEAL_V2, GENESIS, &row().canonical_v2()),
            "an answer cannot pass for a call seal"
        );
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
        let k = ChainKey::from_bytes([1; 32]);
        assert_ne!(
            answer_link_hash(Some(&k), GENESIS, &a),
            answer_link_hash(Some(&k), GENESIS, &b)
        );
    }
}
