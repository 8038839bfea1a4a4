//! Counts the dialer and the quota report need: calls a campaign started since a
//! moment (the daily target), and per unit the dossiers in the campaign's period
//! against the surveys completed.

use sqlx::Row;

use super::campaign_types::CampaignId;
use super::error::classify;
use super::types::to_ms;
use super::{Store, StoreError};

impl Store {
    /// Calls of `campaign` started at or after `since`.
    pub async fn calls_started_since(
        &self,
        campaign: &CampaignId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "calls_started_since";
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM calls WHERE campaign_id = $1 AND started_at >= $2",
        )
        .bind(campaign.as_str())
        .bind(to_ms(since))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        let n: i64 = row.try_get("n").map_err(|e| classify(OP, e))?;
        Ok(n.max(0) as u64)
    }

    /// Calls of every campaign started since `since`, plus targets claimed
    /// for a call whose row is not written yet (a call task starting on some
    /// node): what the province-wide daily cap (`dialer.daily_cap`) counts,
    /// on every node alike.
    pub async fn campaign_calls_started_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "campaign_calls_started_since";
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM calls WHERE campaign_id IS NOT NULL \
             AND started_at >= $1) + (SELECT COUNT(*) FROM campaign_targets t \
             WHERE t.state IN ('claimed', 'dialling') AND NOT EXISTS (SELECT 1 FROM calls k \
             WHERE k.id = t.last_call_id AND k.campaign_id IS NOT NULL)) AS n",
        )
        .bind(to_ms(since))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        let n: i64 = row.try_get("n").map_err(|e| classify(OP, e))?;
        Ok(n.max(0) as u64)
    }

    /// For a unit of a campaign: dossiers whose result was returned in the
    /// campaign's period, and completed surveys of the campaign in that unit.
    pub async fn unit_counts(
        &self,
        campaign: &CampaignId,
        unit: &str,
    ) -> Result<(u64, u64), StoreError> {
        const OP: &str = "unit_counts";
        let dossiers = sqlx::query(
            "SELECT COUNT(*) AS n FROM dossiers d, campaigns c WHERE c.id = $1 AND d.unit_code = $2 \
             AND d.returned_at >= c.period_from AND d.returned_at < c.period_to",
        )
        .bind(campaign.as_str())
        .bind(unit)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        let surveyed = sqlx::query(
            "SELECT COUNT(*) AS n FROM calls k JOIN campaign_targets t ON t.id = k.target_id \
             WHERE k.campaign_id = $1 AND t.unit_code = $2 AND k.disposition = 'completed'",
        )
        .bind(campaign.as_str())
        .bind(unit)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        let get = |r: &sqlx::any::AnyRow| -> Result<u64, StoreError> {
            let n: i64 = r.try_get("n").map_err(|e| classify(OP, e))?;
            Ok(n.max(0) as u64)
        };
        Ok((get(&dossiers)?, get(&surveyed)?))
    }
}
