//! The `campaign_targets` repository: adding a sample, reading it back, and
//! counting progress. The claim protocol is in `claims.rs`.

use std::collections::BTreeMap;

use chrono::Utc;
use sqlx::any::AnyRow;

use super::campaign_types::{
    CampaignId, CampaignProgress, NewTarget, TargetId, TargetRecord, TargetState,
};
use super::campaigns::count32;
use super::error::classify;
use super::types::{CallId, to_ms};
use super::{Store, StoreError, col, ts, ts_opt};

/// The columns [`target_from_row`] reads, as a literal for `concat!`.
macro_rules! target_cols {
    () => {
        "id, campaign_id, dossier_code, phone, unit_code, rank, state, attempts, \
         next_attempt_at, last_disposition, last_call_id, final_reason, claimed_by, \
         lease_until, created_at, updated_at"
    };
}
pub(super) use target_cols;

/// Rows per INSERT: 5 parameters a row stays far below SQLite's and
/// PostgreSQL's limits on bound parameters.
const INSERT_CHUNK: usize = 200;

impl Store {
    /// Adds sampled dossiers to a campaign as `pending` targets, due at once
    /// (`next_attempt_at` is the epoch, so among them `rank` decides the order).
    /// A dossier already in the campaign is left as it is: adding the same sample
    /// again is harmless. Returns how many targets were new. One transaction, so
    /// a failure adds nothing.
    pub async fn add_targets(
        &self,
        campaign: &CampaignId,
        targets: &[NewTarget],
    ) -> Result<u64, StoreError> {
        const OP: &str = "add_targets";
        let now = to_ms(Utc::now());
        let mut tx = self.pool.begin().await.map_err(|e| classify(OP, e))?;
        let mut inserted = 0;
        for chunk in targets.chunks(INSERT_CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let k = 3 + i * 5;
                    format!(
                        "(${}, $1, ${}, ${}, ${}, ${}, 'pending', 0, 0, $2, $2)",
                        k,
                        k + 1,
                        k + 2,
                        k + 3,
                        k + 4
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO campaign_targets (id, campaign_id, dossier_code, phone, unit_code, \
                 rank, state, attempts, next_attempt_at, created_at, updated_at) VALUES {} \
                 ON CONFLICT (campaign_id, dossier_code) DO NOTHING",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(campaign.as_str())
                .bind(now);
            for t in chunk {
                q = q
                    .bind(TargetId::new_v4().0)
                    .bind(&t.dossier_code)
                    .bind(&t.phone)
                    .bind(&t.unit_code)
                    .bind(t.rank);
            }
            let done = q.execute(&mut *tx).await.map_err(|e| classify(OP, e))?;
            inserted += done.rows_affected();
        }
        tx.commit().await.map_err(|e| classify(OP, e))?;
        Ok(inserted)
    }

    /// The target with this id, if any.
    pub async fn target(&self, id: &TargetId) -> Result<Option<TargetRecord>, StoreError> {
        const OP: &str = "target";
        let row = sqlx::query(concat!(
            "SELECT ",
            target_cols!(),
            " FROM campaign_targets WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| target_from_row(&r, OP)).transpose()
    }

    /// A campaign's targets in sample order (rank), for reports and audits.
    pub async fn campaign_targets(
        &self,
        campaign: &CampaignId,
    ) -> Result<Vec<TargetRecord>, StoreError> {
        const OP: &str = "campaign_targets";
        let rows = sqlx::query(concat!(
            "SELECT ",
            target_cols!(),
            " FROM campaign_targets WHERE campaign_id = $1 ORDER BY rank, id"
        ))
        .bind(campaign.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| target_from_row(r, OP)).collect()
    }

    /// Targets per state, per last disposition and per final reason, and the
    /// attempts made. [`StoreError::NotFound`] for an unknown campaign.
    pub async fn campaign_progress(
        &self,
        campaign: &CampaignId,
    ) -> Result<CampaignProgress, StoreError> {
        const OP: &str = "campaign_progress";
        self.require_campaign(campaign, OP).await?;
        let mut p = CampaignProgress::default();
        let rows = sqlx::query(
            "SELECT state AS k, COUNT(*) AS n, CAST(SUM(attempts) AS BIGINT) AS a \
             FROM campaign_targets WHERE campaign_id = $1 GROUP BY state",
        )
        .bind(campaign.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        for r in &rows {
            let state: String = col(r, OP, "k")?;
            let n = count(r, OP, "n")?;
            p.attempts += count(r, OP, "a")?;
            match TargetState::parse(&state) {
                Some(TargetState::Pending) => p.pending = n,
                Some(TargetState::Claimed) => p.claimed = n,
                Some(TargetState::Dialling) => p.dialling = n,
                Some(TargetState::Done) => p.done = n,
                None => {
                    return Err(StoreError::Corrupt {
                        op: OP,
                        column: "state",
                    });
                }
            }
        }
        p.by_disposition = self
            .count_by(campaign, "last_disposition", "1 = 1", OP)
            .await?;
        p.by_final_reason = self
            .count_by(campaign, "final_reason", "state = 'done'", OP)
            .await?;
        Ok(p)
    }

    /// Non-null values of `column` among a campaign's targets matching `filter`,
    /// counted. Both arguments are literals from this file.
    async fn count_by(
        &self,
        campaign: &CampaignId,
        column: &'static str,
        filter: &'static str,
        op: &'static str,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let sql = format!(
            "SELECT {column} AS k, COUNT(*) AS n FROM campaign_targets \
             WHERE campaign_id = $1 AND {column} IS NOT NULL AND {filter} GROUP BY {column}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(campaign.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(op, e))?;
        rows.iter()
            .map(|r| Ok((col(r, op, "k")?, count(r, op, "n")?)))
            .collect()
    }
}

/// A target's attempts as the retry policy reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetHistory {
    /// When each of its calls started, oldest first.
    pub started: Vec<chrono::DateTime<Utc>>,
    /// Hang-ups before consent so far.
    pub soft_refusals: u32,
}

impl Store {
    /// Every call placed for `target` and its soft refusals: the attempt
    /// history (kept apart from the dossier's one response).
    pub async fn target_history(&self, target: &TargetId) -> Result<TargetHistory, StoreError> {
        const OP: &str = "target_history";
        let rows = sqlx::query(
            "SELECT started_at FROM calls WHERE target_id = $1 ORDER BY started_at, id",
        )
        .bind(target.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        let started = rows
            .iter()
            .map(|r| ts(r, OP, "started_at"))
            .collect::<Result<Vec<_>, _>>()?;
        let refusals: Option<i64> =
            sqlx::query_scalar("SELECT soft_refusals FROM campaign_targets WHERE id = $1")
                .bind(target.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| classify(OP, e))?;
        Ok(TargetHistory {
            started,
            soft_refusals: refusals.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        })
    }

    /// Numbers that running or paused campaigns still have to call (targets
    /// not done): a new campaign leaves them out.
    pub async fn phones_in_running_campaigns(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        const OP: &str = "phones_in_running_campaigns";
        let phones: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT t.phone FROM campaign_targets t JOIN campaigns c \
             ON c.id = t.campaign_id WHERE c.status IN ('running', 'paused') \
             AND t.state <> 'done'",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(phones.into_iter().collect())
    }

    /// Counts a hang-up before consent on a target `node` holds (before
    /// [`Store::finish_attempt`] releases it).
    pub async fn note_soft_refusal(&self, target: &TargetId, node: &str) -> Result<(), StoreError> {
        const OP: &str = "note_soft_refusal";
        let done = sqlx::query(
            "UPDATE campaign_targets SET soft_refusals = soft_refusals + 1 \
             WHERE id = $1 AND claimed_by = $2 AND state IN ('claimed', 'dialling')",
        )
        .bind(target.as_str())
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        self.expect_claimed(OP, target, node, done.rows_affected())
            .await
    }
}

/// `$start, $start+1, …` (`n` of them): the placeholders of a bound IN list.
pub(super) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A non-null, non-negative count.
fn count(r: &AnyRow, op: &'static str, column: &'static str) -> Result<u64, StoreError> {
    super::unsigned(r, op, column)?.ok_or(StoreError::Corrupt { op, column })
}

pub(super) fn target_from_row(r: &AnyRow, op: &'static str) -> Result<TargetRecord, StoreError> {
    let state: String = col(r, op, "state")?;
    Ok(TargetRecord {
        id: TargetId(col(r, op, "id")?),
        campaign_id: CampaignId(col(r, op, "campaign_id")?),
        dossier_code: col(r, op, "dossier_code")?,
        phone: col(r, op, "phone")?,
        unit_code: col(r, op, "unit_code")?,
        rank: col(r, op, "rank")?,
        state: TargetState::parse(&state).ok_or(StoreError::Corrupt {
            op,
            column: "state",
        })?,
        attempts: count32(r, op, "attempts")?,
        next_attempt_at: ts(r, op, "next_attempt_at")?,
        last_disposition: col(r, op, "last_disposition")?,
        last_call_id: col::<Option<String>>(r, op, "last_call_id")?.map(CallId),
        final_reason: col(r, op, "final_reason")?,
        claimed_by: col(r, op, "claimed_by")?,
        lease_until: ts_opt(r, op, "lease_until")?,
        created_at: ts(r, op, "created_at")?,
        updated_at: ts(r, op, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_are_numbered_from_start() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 1), "$1");
        assert_eq!(placeholders(1, 0), "");
    }
}
