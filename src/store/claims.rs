//! The claim protocol on campaign targets: how several dialer nodes share one
//! campaign without dialling anyone twice, and how the work of a node that died
//! is picked up.
//!
//! ```text
//!  pending --claim_due--> claimed --mark_dialling--> dialling
//!     ^                     |  \                        |
//!     |   release_claims,   |   finish_attempt          | finish_attempt
//!     |   recover (lease    |   (retry: pending,        | (same)
//!     |   expired, as is)   |    else done)             |
//!     +---------------------+                           |
//!     +--- recover (lease expired): attempts + 1, 'interrupted', retry later
//! ```
//!
//! Every change after the claim names the claiming node and only applies while
//! that node still holds the claim; otherwise it is [`StoreError::LostClaim`].
//! A target in `dialling` may have rung a citizen, so it is never handed out
//! again without counting an attempt and waiting for the retry delay: after a
//! `kill -9`, nobody is called twice within the retry window.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::campaign_types::{CampaignId, RecoveredCounts, TargetId, TargetRecord};
use super::connect::Backend;
use super::error::classify;
use super::targets::{placeholders, target_cols, target_from_row};
use super::types::{CallId, disposition, to_ms};
use super::{Store, StoreError};

/// SQLite: one UPDATE with the selection as a subquery. SQLite runs one writer at
/// a time and a write statement takes the write lock before it reads, so two
/// connections (or processes) cannot pick the same rows.
const CLAIM_SQLITE: &str = concat!(
    "UPDATE campaign_targets SET state = 'claimed', claimed_by = $1, lease_until = $2, \
     updated_at = $3 WHERE state = 'pending' AND id IN (",
    "SELECT t.id FROM campaign_targets t WHERE t.campaign_id = $4 AND t.state = 'pending' \
     AND t.next_attempt_at <= $3 \
     AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = $4 AND c.status = 'running') \
     AND NOT EXISTS (SELECT 1 FROM campaign_targets o WHERE o.phone = t.phone \
     AND o.id <> t.id AND o.state IN ('claimed', 'dialling')) \
     AND NOT EXISTS (SELECT 1 FROM campaign_targets o JOIN calls k ON k.target_id = o.id \
     WHERE o.phone = t.phone AND o.dossier_code <> t.dossier_code AND k.started_at >= $6) \
     ORDER BY t.next_attempt_at, t.rank, t.id LIMIT $5",
    ") RETURNING ",
    target_cols!()
);

/// PostgreSQL: the selection locks its rows and skips rows another transaction
/// holds (`FOR UPDATE SKIP LOCKED`), so concurrent claimers take disjoint sets
/// without waiting on each other; a row changed meanwhile is re-checked against
/// the WHERE clause once locked. `MATERIALIZED` makes the selection run exactly
/// once; one statement is one transaction.
const CLAIM_POSTGRES: &str = concat!(
    "WITH picked AS MATERIALIZED (",
    "SELECT t.id FROM campaign_targets t WHERE t.campaign_id = $4 AND t.state = 'pending' \
     AND t.next_attempt_at <= $3 \
     AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = $4 AND c.status = 'running') \
     AND NOT EXISTS (SELECT 1 FROM campaign_targets o WHERE o.phone = t.phone \
     AND o.id <> t.id AND o.state IN ('claimed', 'dialling')) \
     AND NOT EXISTS (SELECT 1 FROM campaign_targets o JOIN calls k ON k.target_id = o.id \
     WHERE o.phone = t.phone AND o.dossier_code <> t.dossier_code AND k.started_at >= $6) \
     ORDER BY t.next_attempt_at, t.rank, t.id LIMIT $5 FOR UPDATE OF t SKIP LOCKED",
    ") UPDATE campaign_targets SET state = 'claimed', claimed_by = $1, lease_until = $2, \
     updated_at = $3 WHERE state = 'pending' AND id IN (SELECT id FROM picked) RETURNING ",
    target_cols!()
);

/// How long a number dialled for one dossier is left alone for the others
/// (issue 15: never called for two dossiers in the same week); campaigns set
/// their own in `retry.same_number_days`.
pub const SAME_NUMBER_GAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// Target ids per statement in [`Store::renew_lease`].
const RENEW_CHUNK: usize = 500;

impl Store {
    /// Claims for `node` up to `limit` targets of `campaign` that are pending and
    /// due at `now`, earliest due first, then by rank; each is leased until
    /// `now + lease`. Nothing is claimed unless the campaign is running. Safe
    /// against any number of concurrent claimers, in this process or others
    /// sharing the database: a target is returned to one claimer only.
    ///
    /// A target is skipped while its number is claimed or being dialled for
    /// any target of any campaign (nobody is dialled twice at once; the
    /// `campaign_targets_one_call_per_phone` index backs this up when nodes
    /// race), and while the number was dialled for another dossier within
    /// [`SAME_NUMBER_GAP`].
    pub async fn claim_due(
        &self,
        node: &str,
        campaign: &CampaignId,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<TargetRecord>, StoreError> {
        self.claim_due_spaced(node, campaign, now, limit, lease, SAME_NUMBER_GAP)
            .await
    }

    /// [`Store::claim_due`] with the campaign's own gap between two dossiers
    /// of one number.
    pub async fn claim_due_spaced(
        &self,
        node: &str,
        campaign: &CampaignId,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
        same_number_gap: Duration,
    ) -> Result<Vec<TargetRecord>, StoreError> {
        const OP: &str = "claim_due";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = match self.backend {
            Backend::Sqlite => CLAIM_SQLITE,
            Backend::Postgres => CLAIM_POSTGRES,
        };
        let rows = sqlx::query(sql)
            .bind(node)
            .bind(to_ms(now) + duration_ms(lease))
            .bind(to_ms(now))
            .bind(campaign.as_str())
            .bind(i64::from(limit))
            .bind(to_ms(now) - duration_ms(same_number_gap))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        let mut claimed = rows
            .iter()
            .map(|r| target_from_row(r, OP))
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING gives no order.
        claimed.sort_by(|a, b| {
            (a.next_attempt_at, a.rank, &a.id).cmp(&(b.next_attempt_at, b.rank, &b.id))
        });
        Ok(claimed)
    }

    /// Records that `node` is about to dial `target` on call `call`: from here
    /// on the target counts as possibly dialled. [`StoreError::LostClaim`] if
    /// `node` no longer holds the claim: then it must not dial.
    pub async fn mark_dialling(
        &self,
        target: &TargetId,
        node: &str,
        call: &CallId,
    ) -> Result<(), StoreError> {
        const OP: &str = "mark_dialling";
        let done = sqlx::query(
            "UPDATE campaign_targets SET state = 'dialling', last_call_id = $1, updated_at = $2 \
             WHERE id = $3 AND claimed_by = $4 AND state = 'claimed'",
        )
        .bind(call.as_str())
        .bind(to_ms(Utc::now()))
        .bind(target.as_str())
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        self.expect_claimed(OP, target, node, done.rows_affected())
            .await
    }

    /// Ends an attempt on a target `node` holds: one more attempt with
    /// `disposition`; then pending again at `next_attempt_at` (a retry), or done
    /// with `final_reason` when `None`. The claim is released either way.
    pub async fn finish_attempt(
        &self,
        target: &TargetId,
        node: &str,
        disposition: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        final_reason: Option<&str>,
    ) -> Result<(), StoreError> {
        const OP: &str = "finish_attempt";
        let now = to_ms(Utc::now());
        let q = match next_attempt_at {
            Some(next) => sqlx::query(
                "UPDATE campaign_targets SET attempts = attempts + 1, last_disposition = $1, \
                 state = 'pending', next_attempt_at = $2, final_reason = NULL, \
                 claimed_by = NULL, lease_until = NULL, updated_at = $3 \
                 WHERE id = $4 AND claimed_by = $5 AND state IN ('claimed', 'dialling')",
            )
            .bind(disposition)
            .bind(to_ms(next)),
            None => sqlx::query(
                "UPDATE campaign_targets SET attempts = attempts + 1, last_disposition = $1, \
                 state = 'done', final_reason = $2, \
                 claimed_by = NULL, lease_until = NULL, updated_at = $3 \
                 WHERE id = $4 AND claimed_by = $5 AND state IN ('claimed', 'dialling')",
            )
            .bind(disposition)
            .bind(final_reason),
        };
        let done = q
            .bind(now)
            .bind(target.as_str())
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        self.expect_claimed(OP, target, node, done.rows_affected())
            .await
    }

    /// Closes a target `node` holds without counting an attempt: for a target
    /// found not worth dialling after it was claimed (attempts used up, number
    /// put on the do-not-call list meanwhile).
    pub async fn close_target(
        &self,
        target: &TargetId,
        node: &str,
        final_reason: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "close_target";
        let done = sqlx::query(
            "UPDATE campaign_targets SET state = 'done', final_reason = $1, claimed_by = NULL, \
             lease_until = NULL, updated_at = $2 \
             WHERE id = $3 AND claimed_by = $4 AND state = 'claimed'",
        )
        .bind(final_reason)
        .bind(to_ms(Utc::now()))
        .bind(target.as_str())
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        self.expect_claimed(OP, target, node, done.rows_affected())
            .await
    }

    /// Puts a target `node` holds (claimed, or marked dialling but never placed)
    /// back to pending until `until`, without counting an attempt: for calls
    /// that could not even be set up (bad dialplan, no free RTP port, database
    /// trouble), so a fault of ours does not use up the citizen's attempts.
    pub async fn defer_target(
        &self,
        target: &TargetId,
        node: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "defer_target";
        let done = sqlx::query(
            "UPDATE campaign_targets SET state = 'pending', next_attempt_at = $1, claimed_by = NULL, \
             lease_until = NULL, updated_at = $2 \
             WHERE id = $3 AND claimed_by = $4 AND state IN ('claimed', 'dialling')",
        )
        .bind(to_ms(until))
        .bind(to_ms(Utc::now()))
        .bind(target.as_str())
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        self.expect_claimed(OP, target, node, done.rows_affected())
            .await
    }

    /// Extends the lease of those of `targets` that `node` still holds (claimed
    /// or dialling) to `until`, for calls that outlast the lease. Returns how
    /// many were extended; fewer than asked means claims were lost.
    pub async fn renew_lease(
        &self,
        node: &str,
        targets: &[TargetId],
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "renew_lease";
        let mut renewed = 0;
        for chunk in targets.chunks(RENEW_CHUNK) {
            let sql = format!(
                "UPDATE campaign_targets SET lease_until = $1 WHERE claimed_by = $2 \
                 AND state IN ('claimed', 'dialling') AND id IN ({})",
                placeholders(3, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(to_ms(until))
                .bind(node);
            for t in chunk {
                q = q.bind(t.as_str());
            }
            renewed += q
                .execute(&self.pool)
                .await
                .map_err(|e| classify(OP, e))?
                .rows_affected();
        }
        Ok(renewed)
    }

    /// On a clean shutdown: `node`'s claimed (not yet dialled) targets go back
    /// to pending as they were. Targets being dialled are left to their calls.
    pub async fn release_claims(&self, node: &str) -> Result<u64, StoreError> {
        const OP: &str = "release_claims";
        let done = sqlx::query(
            "UPDATE campaign_targets SET state = 'pending', claimed_by = NULL, \
             lease_until = NULL, updated_at = $1 WHERE claimed_by = $2 AND state = 'claimed'",
        )
        .bind(to_ms(Utc::now()))
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected())
    }

    /// Takes back the targets of nodes that stopped renewing their leases (a
    /// crash): claimed ones whose lease ended before `now` become pending
    /// unchanged (never dialled); dialling ones were perhaps dialled, so they
    /// count an attempt as `interrupted` and are due again only at
    /// `now + retry_after`. Any node may run this periodically.
    pub async fn recover_stale(
        &self,
        now: DateTime<Utc>,
        retry_after: Duration,
    ) -> Result<RecoveredCounts, StoreError> {
        self.recover("recover_stale", None, now, retry_after).await
    }

    /// At the start of node `node` (same name as before a `kill -9`): takes back
    /// all of its claims at once, leases or not, as [`Store::recover_stale`] does.
    pub async fn recover_node(
        &self,
        node: &str,
        now: DateTime<Utc>,
        retry_after: Duration,
    ) -> Result<RecoveredCounts, StoreError> {
        self.recover("recover_node", Some(node), now, retry_after)
            .await
    }

    async fn recover(
        &self,
        op: &'static str,
        node: Option<&str>,
        now: DateTime<Utc>,
        retry_after: Duration,
    ) -> Result<RecoveredCounts, StoreError> {
        // Stale: for one node, all its claims; otherwise, expired leases. The
        // node is the last placeholder.
        let (which_released, which_interrupted) = match node {
            Some(_) => ("claimed_by = $2", "claimed_by = $3"),
            None => ("lease_until < $1", "lease_until < $1"),
        };
        let now_ms = to_ms(now);
        let retry_at = now_ms + duration_ms(retry_after);
        let mut tx = self.pool.begin().await.map_err(|e| classify(op, e))?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE campaign_targets SET state = 'pending', claimed_by = NULL, \
             lease_until = NULL, updated_at = $1 WHERE state = 'claimed' AND {which_released}"
        )))
        .bind(now_ms);
        if let Some(node) = node {
            q = q.bind(node);
        }
        let released = q.execute(&mut *tx).await.map_err(|e| classify(op, e))?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE campaign_targets SET state = 'pending', attempts = attempts + 1, \
             last_disposition = '{}', next_attempt_at = $2, claimed_by = NULL, \
             lease_until = NULL, updated_at = $1 WHERE state = 'dialling' AND {which_interrupted}",
            disposition::INTERRUPTED
        )))
        .bind(now_ms)
        .bind(retry_at);
        if let Some(node) = node {
            q = q.bind(node);
        }
        let interrupted = q.execute(&mut *tx).await.map_err(|e| classify(op, e))?;
        tx.commit().await.map_err(|e| classify(op, e))?;
        Ok(RecoveredCounts {
            released: released.rows_affected(),
            interrupted: interrupted.rows_affected(),
        })
    }

    /// After a guarded UPDATE: `Ok` if it changed the row, else why not.
    pub(super) async fn expect_claimed(
        &self,
        op: &'static str,
        target: &TargetId,
        node: &str,
        rows: u64,
    ) -> Result<(), StoreError> {
        if rows > 0 {
            return Ok(());
        }
        match self.target(target).await? {
            None => Err(StoreError::NotFound {
                op,
                what: "campaign target",
                id: target.to_string(),
            }),
            Some(_) => Err(StoreError::LostClaim {
                op,
                target: target.to_string(),
                node: node.to_owned(),
            }),
        }
    }
}

/// Whole milliseconds, saturating (a lease of years is a caller's bug, not an overflow).
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}
