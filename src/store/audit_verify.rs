//! Checking the audit chain (the rules are in `audit.rs`): walk every link in
//! seq order recomputing its hash, then the head (its signature, and the
//! head log outside the database), rows outside the chain, the
//! latest-answer table, and the sealed calls against their current rows.

use futures::TryStreamExt;
use sqlx::any::AnyRow;

use super::audit::{
    BreakReason, BrokenLink, ChainReport, ChainRow, GENESIS, SEAL_V2, answer_hash,
    answer_link_hash, link_hash,
};
use super::chain_key::ChainKey;
use super::error::classify;
use super::head_log::{self, Head, Logged};
use super::types::{AnswerId, CallId, ResponseId};
use super::{Store, StoreError, col};

const OP: &str = "verify_chain";

/// Every link up to a seq: answers and call seals in one seq order. The
/// columns an answer lacks are NULL for a seal and the other way round.
const LINKS: &str = "SELECT 'answer' AS link, a.seq, a.prev_hash, a.hash, a.id, a.response_id, \
    a.key, a.revision, a.kind, a.value, a.why, a.offset_ms, a.clip_path, a.clip_ms, \
    a.clip_sha256, a.answered_at, a.changed_by, a.change_reason, \
    r.call_id AS response_call_id, r.dossier_code AS response_dossier, \
    d.unit_code AS response_unit, NULL AS content \
    FROM answers a LEFT JOIN survey_responses r ON r.id = a.response_id \
    LEFT JOIN dossiers d ON d.code = r.dossier_code WHERE a.seq <= $1 \
    UNION ALL \
    SELECT 'seal', s.seq, s.prev_hash, s.hash, s.call_id, NULL, NULL, NULL, NULL, NULL, NULL, \
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, s.content \
    FROM call_seals s WHERE s.seq <= $2 \
    ORDER BY seq";

/// The head row as stored.
struct StoredHead {
    head: Head,
    mac: Option<String>,
}

impl Store {
    /// Walks the whole chain in seq order, recomputing every hash, checks the
    /// head against its signature and the head log, and compares every sealed
    /// call with its rows; names the first broken link and every changed
    /// call. Safe while links are being written: links beyond the head read
    /// first are left for the next run. Files are checked apart, by
    /// [`Store::verify_files`].
    pub async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        let e = |e| classify(OP, e);
        let key = self.chain_key.as_deref();
        // The log before the database head (head_log.rs).
        let logged = match self.chain_key.clone() {
            Some(k) => tokio::task::spawn_blocking(move || head_log::highest(&k))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
                .map_err(|source| StoreError::HeadLog { source })?,
            None => Logged::Absent,
        };
        let stored = self.stored_head().await?;
        let head = &stored.head;
        let unchained: i64 = col(
            &sqlx::query("SELECT COUNT(*) AS n FROM answers WHERE seq IS NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(e)?,
            OP,
            "n",
        )?;
        let watch = match &logged {
            Logged::Highest(h) => Some(h.seq),
            _ => None,
        };
        let mut walk = Walk::new(key, head.keyed_from, watch);
        let mut rows = sqlx::query(LINKS)
            .bind(head.seq)
            .bind(head.seq)
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
            first_broken = walk.finish(head.seq, &head.hash);
        }
        if first_broken.is_none() {
            first_broken = self.link_after_head().await?;
        }
        if first_broken.is_none() && unchained != head.unchained {
            first_broken = Some(BrokenLink::at(None, BreakReason::UnchainedCount));
        }
        if first_broken.is_none()
            && let Some(key) = key
        {
            first_broken = head_signature(key, &stored)
                .or_else(|| head_log_check(key, head, &logged, walk.watched.as_deref()));
        }
        if first_broken.is_none() {
            first_broken = self.latest_mismatch().await?;
        }
        let changed_records = self.changed_records(head.seq).await?;
        Ok(ChainReport {
            keyed: key.is_some(),
            keyed_from: head.keyed_from,
            answers: walk.answers,
            seals: walk.seals,
            unchained: u64::try_from(unchained).unwrap_or(0),
            first_broken,
            changed_records,
            files: Default::default(),
        })
    }

    async fn stored_head(&self) -> Result<StoredHead, StoreError> {
        let r = sqlx::query(
            "SELECT seq, hash, keyed_from, unchained, mac FROM answer_chain_head WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(StoredHead {
            head: Head {
                seq: col(&r, OP, "seq")?,
                hash: col(&r, OP, "hash")?,
                keyed_from: col(&r, OP, "keyed_from")?,
                unchained: col(&r, OP, "unchained")?,
            },
            mac: col(&r, OP, "mac")?,
        })
    }

    /// The first (response, key) whose `answer_latest` row is missing, extra
    /// or not the newest revision's content. One statement, so it sees one
    /// snapshot even while answers are being written.
    async fn latest_mismatch(&self) -> Result<Option<BrokenLink>, StoreError> {
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
                answer_id: Some(AnswerId(col(&r, OP, "answer_id")?)),
                response_id: Some(ResponseId(col(&r, OP, "response_id")?)),
                key: Some(col(&r, OP, "key")?),
                ..BrokenLink::at(None, BreakReason::LatestMismatch)
            })
        })
        .transpose()
    }

    /// A link with a seq beyond the head. One statement, so a writer
    /// committing its link and the head together is never half seen.
    async fn link_after_head(&self) -> Result<Option<BrokenLink>, StoreError> {
        let row = sqlx::query(
            "SELECT link, seq, id FROM (SELECT 'answer' AS link, seq, id FROM answers \
             UNION ALL SELECT 'seal', seq, call_id FROM call_seals) x \
             WHERE seq > (SELECT seq FROM answer_chain_head WHERE id = 1) ORDER BY seq LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| {
            let link: String = col(&r, OP, "link")?;
            let id: String = col(&r, OP, "id")?;
            let mut b = BrokenLink::at(Some(col(&r, OP, "seq")?), BreakReason::AfterHead);
            if link == "seal" {
                b.call_id = Some(CallId(id));
            } else {
                b.answer_id = Some(AnswerId(id));
            }
            Ok(b)
        })
        .transpose()
    }
}

/// The head's HMAC must verify once a keyed link was written; before that
/// (just after migration 14: seq = keyed_from - 1) it may be absent.
fn head_signature(key: &ChainKey, stored: &StoredHead) -> Option<BrokenLink> {
    let h = &stored.head;
    let untouched = stored.mac.is_none() && h.seq == h.keyed_from - 1;
    let signed = stored.mac.as_deref() == Some(h.mac(key).as_str());
    (!untouched && !signed).then(|| BrokenLink::at(Some(h.seq), BreakReason::HeadSignature))
}

/// The highest head logged outside the database must be a link the chain
/// holds, with the same hash. `watched` is the hash the walk found at the
/// logged seq.
fn head_log_check(
    key: &ChainKey,
    head: &Head,
    logged: &Logged,
    watched: Option<&str>,
) -> Option<BrokenLink> {
    key.head_log()?;
    match logged {
        Logged::Absent if head.seq >= head.keyed_from => {
            Some(BrokenLink::at(None, BreakReason::HeadLogMissing))
        }
        Logged::Absent => None,
        Logged::Forged { line } => Some(BrokenLink::at(
            i64::try_from(*line).ok(),
            BreakReason::HeadLogForged,
        )),
        Logged::Highest(l) if l.seq > head.seq => {
            Some(BrokenLink::at(Some(l.seq), BreakReason::HeadLogAhead))
        }
        Logged::Highest(l)
            if watched != Some(l.hash.as_str())
                || l.keyed_from != head.keyed_from
                || l.unchained != head.unchained =>
        {
            Some(BrokenLink::at(Some(l.seq), BreakReason::HeadLogMismatch))
        }
        Logged::Highest(_) => None,
    }
}

/// The state of a walk along the chain.
struct Walk<'k> {
    key: Option<&'k ChainKey>,
    keyed_from: i64,
    answers: u64,
    seals: u64,
    last_seq: i64,
    last_hash: String,
    /// The seq whose hash to remember (the head log's), and that hash.
    watch: Option<i64>,
    watched: Option<String>,
    broken: Option<BrokenLink>,
}

impl<'k> Walk<'k> {
    fn new(key: Option<&'k ChainKey>, keyed_from: i64, watch: Option<i64>) -> Walk<'k> {
        Walk {
            key,
            keyed_from,
            answers: 0,
            seals: 0,
            last_seq: 0,
            last_hash: GENESIS.to_owned(),
            watch,
            watched: None,
            broken: None,
        }
    }

    /// Checks one link against the one before: seq, link, then content.
    fn step(&mut self, r: &AnyRow) -> Result<(), StoreError> {
        let seq: i64 = col(r, OP, "seq")?;
        let prev_hash: Option<String> = col(r, OP, "prev_hash")?;
        let hash: Option<String> = col(r, OP, "hash")?;
        let link: String = col(r, OP, "link")?;
        let (expected, named) = if link == "seal" {
            let call: String = col(r, OP, "id")?;
            let content: String = col(r, OP, "content")?;
            let expected = link_hash(self.key, SEAL_V2, &self.last_hash, &content);
            let named = BrokenLink {
                call_id: Some(CallId(call)),
                ..BrokenLink::at(Some(seq), BreakReason::ContentHash)
            };
            (expected, named)
        } else {
            let row = chain_row(r)?;
            let expected = if seq < self.keyed_from {
                answer_hash(&self.last_hash, &row)
            } else {
                answer_link_hash(self.key, &self.last_hash, &row)
            };
            (expected, answer_link(&row, BreakReason::ContentHash))
        };
        let reason = if seq != self.last_seq + 1 {
            Some(BreakReason::SeqGap)
        } else if prev_hash.as_deref() != Some(self.last_hash.as_str()) {
            Some(BreakReason::PrevHash)
        } else if hash.as_deref() != Some(expected.as_str()) {
            Some(BreakReason::ContentHash)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.broken = Some(BrokenLink { reason, ..named });
            return Ok(());
        }
        if link == "seal" {
            self.seals += 1;
        } else {
            self.answers += 1;
        }
        self.last_seq = seq;
        self.last_hash = expected;
        if self.watch == Some(seq) {
            self.watched = Some(self.last_hash.clone());
        }
        Ok(())
    }

    /// The head must name the last link walked.
    fn finish(&self, head_seq: i64, head_hash: &str) -> Option<BrokenLink> {
        (head_seq != self.last_seq || head_hash != self.last_hash)
            .then(|| BrokenLink::at(Some(head_seq), BreakReason::HeadMismatch))
    }
}

fn answer_link(row: &ChainRow, reason: BreakReason) -> BrokenLink {
    BrokenLink {
        answer_id: Some(AnswerId(row.id.clone())),
        response_id: Some(ResponseId(row.response_id.clone())),
        key: Some(row.key.clone()),
        ..BrokenLink::at(Some(row.seq), reason)
    }
}

fn chain_row(r: &AnyRow) -> Result<ChainRow, StoreError> {
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
        response_unit: col(r, OP, "response_unit")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: i64, keyed_from: i64) -> Head {
        Head {
            seq,
            hash: format!("{seq:064}"),
            keyed_from,
            unchained: 0,
        }
    }

    fn key_with_log() -> (tempfile::TempDir, ChainKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = ChainKey::load_or_create(&dir.path().join("k")).unwrap();
        (dir, key)
    }

    #[test]
    fn head_signature_is_required_once_keyed_links_exist() {
        let key = ChainKey::from_bytes([3; 32]);
        let fresh = StoredHead {
            head: head(4, 5),
            mac: None,
        };
        assert_eq!(head_signature(&key, &fresh), None, "just migrated");
        let unsigned = StoredHead {
            head: head(5, 5),
            mac: None,
        };
        assert_eq!(
            head_signature(&key, &unsigned).map(|b| b.reason),
            Some(BreakReason::HeadSignature)
        );
        let h = head(5, 5);
        let signed = StoredHead {
            mac: Some(h.mac(&key)),
            head: h.clone(),
        };
        assert_eq!(head_signature(&key, &signed), None);
        let other = ChainKey::from_bytes([4; 32]);
        let foreign = StoredHead {
            mac: Some(h.mac(&other)),
            head: h,
        };
        assert!(head_signature(&key, &foreign).is_some());
    }

    #[test]
    fn head_log_catches_truncation_and_substitution() {
        let (_dir, key) = key_with_log();
        let db = head(9, 1);
        let reason = |logged: &Logged, watched: Option<&str>| {
            head_log_check(&key, &db, logged, watched).map(|b| (b.seq, b.reason))
        };
        assert_eq!(
            reason(&Logged::Highest(head(10, 1)), None),
            Some((Some(10), BreakReason::HeadLogAhead))
        );
        let h9 = head(9, 1);
        assert_eq!(reason(&Logged::Highest(h9.clone()), Some(&h9.hash)), None);
        assert_eq!(
            reason(&Logged::Highest(h9), Some(&"f".repeat(64))),
            Some((Some(9), BreakReason::HeadLogMismatch))
        );
        assert_eq!(
            reason(&Logged::Absent, None),
            Some((None, BreakReason::HeadLogMissing))
        );
        assert_eq!(
            reason(&Logged::Forged { line: 3 }, None),
            Some((Some(3), BreakReason::HeadLogForged))
        );
        let raised = Head {
            keyed_from: 12,
            ..head(9, 1)
        };
        assert_eq!(
            reason(&Logged::Highest(raised), Some(&head(9, 1).hash)),
            Some((Some(9), BreakReason::HeadLogMismatch))
        );
    }

    #[test]
    fn no_head_log_is_fine_before_the_first_keyed_link_or_without_a_log_file() {
        let (_dir, key) = key_with_log();
        assert_eq!(
            head_log_check(&key, &head(4, 5), &Logged::Absent, None),
            None
        );
        let memory = ChainKey::from_bytes([1; 32]);
        assert_eq!(
            head_log_check(&memory, &head(9, 1), &Logged::Absent, None),
            None
        );
    }
}
