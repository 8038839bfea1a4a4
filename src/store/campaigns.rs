//! The `campaigns` repository and its life cycle.

use chrono::Utc;
use sqlx::any::AnyRow;

use super::campaign_types::{
    CampaignId, CampaignMode, CampaignRecord, CampaignStatus, NewCampaign, TargetId,
};
use super::error::classify;
use super::types::{CallId, to_ms};
use super::{Store, StoreError, col, ts};

/// The columns [`campaign_from_row`] reads, in a literal so queries stay `&'static str`.
macro_rules! campaign_select {
    ($($rest:literal)?) => {
        concat!(
            "SELECT id, name, mode, dialplan, period_from, period_to, daily_target, \
             max_concurrent, calls_per_second, rule_json, windows_json, retry_json, \
             quotas_json, sample_seed, status, created_at, updated_at FROM campaigns ",
            $($rest)?
        )
    };
}

impl Store {
    /// Creates a campaign in status `draft`.
    pub async fn create_campaign(&self, c: &NewCampaign) -> Result<CampaignId, StoreError> {
        const OP: &str = "create_campaign";
        let id = CampaignId::new_v4();
        let now = to_ms(Utc::now());
        sqlx::query(
            "INSERT INTO campaigns (id, name, mode, dialplan, period_from, period_to, \
             daily_target, max_concurrent, calls_per_second, rule_json, windows_json, \
             retry_json, quotas_json, sample_seed, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
        )
        .bind(id.as_str())
        .bind(&c.name)
        .bind(c.mode.as_str())
        .bind(&c.dialplan)
        .bind(to_ms(c.period_from))
        .bind(to_ms(c.period_to))
        .bind(i64::from(c.daily_target))
        .bind(i64::from(c.max_concurrent))
        .bind(c.calls_per_second)
        .bind(&c.rule_json)
        .bind(&c.windows_json)
        .bind(&c.retry_json)
        .bind(&c.quotas_json)
        // Bit-for-bit: BIGINT is signed, seeds use all 64 bits.
        .bind(c.sample_seed as i64)
        .bind(CampaignStatus::Draft.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(id)
    }

    /// The campaign with this id, if any.
    pub async fn campaign(&self, id: &CampaignId) -> Result<Option<CampaignRecord>, StoreError> {
        const OP: &str = "campaign";
        let row = sqlx::query(campaign_select!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        row.map(|r| campaign_from_row(&r, OP)).transpose()
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        const OP: &str = "campaigns";
        let rows = sqlx::query(campaign_select!("ORDER BY created_at DESC, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| campaign_from_row(r, OP)).collect()
    }

    /// Records the units a campaign samples (its unit scope; none: the whole
    /// province). Written once, at creation, from the sampling rule.
    pub async fn set_campaign_units(
        &self,
        id: &CampaignId,
        units: &[String],
    ) -> Result<(), StoreError> {
        const OP: &str = "set_campaign_units";
        let mut units: Vec<&str> = units.iter().map(String::as_str).collect();
        units.sort_unstable();
        units.dedup();
        let mut tx = self.pool.begin().await.map_err(|e| classify(OP, e))?;
        for unit in units {
            sqlx::query("INSERT INTO campaign_units (campaign_id, unit_code) VALUES ($1, $2)")
                .bind(id.as_str())
                .bind(unit)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(OP, e))?;
        }
        tx.commit().await.map_err(|e| classify(OP, e))
    }

    /// The campaigns a user scoped to `units` may see, newest first: those
    /// that sample only units of the scope (`None`: every campaign). A
    /// campaign of the whole province is outside every unit's scope.
    pub async fn campaigns_in(
        &self,
        units: Option<&[String]>,
    ) -> Result<Vec<CampaignRecord>, StoreError> {
        const OP: &str = "campaigns_in";
        let Some(units) = units else {
            return self.campaigns().await;
        };
        self.scoped_campaigns(OP, None, units).await
    }

    /// The campaign with this id, if a user scoped to `units` may see it
    /// (see [`Store::campaigns_in`]); `None` as if it did not exist.
    pub async fn campaign_in(
        &self,
        id: &CampaignId,
        units: Option<&[String]>,
    ) -> Result<Option<CampaignRecord>, StoreError> {
        const OP: &str = "campaign_in";
        let Some(units) = units else {
            return self.campaign(id).await;
        };
        Ok(self
            .scoped_campaigns(OP, Some(id), units)
            .await?
            .into_iter()
            .next())
    }

    async fn scoped_campaigns(
        &self,
        op: &'static str,
        id: Option<&CampaignId>,
        units: &[String],
    ) -> Result<Vec<CampaignRecord>, StoreError> {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        let first = if id.is_some() { 2 } else { 1 };
        let sql = format!(
            "{}WHERE {} EXISTS (SELECT 1 FROM campaign_units cu WHERE cu.campaign_id = campaigns.id) \
             AND NOT EXISTS (SELECT 1 FROM campaign_units cu WHERE cu.campaign_id = campaigns.id \
             AND cu.unit_code NOT IN ({})) ORDER BY created_at DESC, id",
            campaign_select!(),
            if id.is_some() { "id = $1 AND" } else { "" },
            super::targets::placeholders(first, units.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            q = q.bind(id.as_str());
        }
        for u in units {
            q = q.bind(u.as_str());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(|e| classify(op, e))?;
        rows.iter().map(|r| campaign_from_row(r, op)).collect()
    }

    /// Campaigns in status `running`, oldest first: what the dialer works on.
    pub async fn running_campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        const OP: &str = "running_campaigns";
        let rows = sqlx::query(campaign_select!(
            "WHERE status = 'running' ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| campaign_from_row(r, OP)).collect()
    }

    /// Moves a campaign to `to` if [`CampaignStatus::can_become`] allows it from
    /// its current status. The check and the change are one UPDATE, so two
    /// operators (or nodes) racing cannot both succeed with conflicting moves.
    pub async fn set_campaign_status(
        &self,
        id: &CampaignId,
        to: CampaignStatus,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_campaign_status";
        let from: Vec<&str> = CampaignStatus::ALL
            .iter()
            .filter(|s| s.can_become(to))
            .map(|s| s.as_str())
            .collect();
        // Nothing may become draft: skip straight to explaining why.
        let changed = if from.is_empty() {
            0
        } else {
            let sql = format!(
                "UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({})",
                super::targets::placeholders(4, from.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(to.as_str())
                .bind(to_ms(Utc::now()))
                .bind(id.as_str());
            for s in &from {
                q = q.bind(*s);
            }
            let done = q.execute(&self.pool).await.map_err(|e| classify(OP, e))?;
            done.rows_affected()
        };
        if changed == 1 {
            return Ok(());
        }
        match self.campaign(id).await? {
            None => Err(StoreError::NotFound {
                op: OP,
                what: "campaign",
                id: id.to_string(),
            }),
            Some(c) => Err(StoreError::InvalidTransition {
                op: OP,
                id: id.to_string(),
                from: c.status.to_string(),
                to: to.to_string(),
            }),
        }
    }

    /// Records which campaign and target a call was placed for, so that the
    /// call's outcome can be traced back and `last_surveyed` finds it by the
    /// target's phone number.
    pub async fn link_call(
        &self,
        call: &CallId,
        campaign: &CampaignId,
        target: &TargetId,
    ) -> Result<(), StoreError> {
        const OP: &str = "link_call";
        let done = sqlx::query("UPDATE calls SET campaign_id = $1, target_id = $2 WHERE id = $3")
            .bind(campaign.as_str())
            .bind(target.as_str())
            .bind(call.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                op: OP,
                what: "call",
                id: call.to_string(),
            });
        }
        Ok(())
    }

    /// [`StoreError::NotFound`] unless the campaign exists.
    pub(super) async fn require_campaign(
        &self,
        id: &CampaignId,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT id FROM campaigns WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| classify(op, e))?;
        match row {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound {
                op,
                what: "campaign",
                id: id.to_string(),
            }),
        }
    }
}

fn campaign_from_row(r: &AnyRow, op: &'static str) -> Result<CampaignRecord, StoreError> {
    let mode: String = col(r, op, "mode")?;
    let status: String = col(r, op, "status")?;
    Ok(CampaignRecord {
        id: CampaignId(col(r, op, "id")?),
        name: col(r, op, "name")?,
        mode: CampaignMode::parse(&mode).ok_or(StoreError::Corrupt { op, column: "mode" })?,
        dialplan: col(r, op, "dialplan")?,
        period_from: ts(r, op, "period_from")?,
        period_to: ts(r, op, "period_to")?,
        daily_target: count32(r, op, "daily_target")?,
        max_concurrent: count32(r, op, "max_concurrent")?,
        calls_per_second: col(r, op, "calls_per_second")?,
        rule_json: col(r, op, "rule_json")?,
        windows_json: col(r, op, "windows_json")?,
        retry_json: col(r, op, "retry_json")?,
        quotas_json: col(r, op, "quotas_json")?,
        sample_seed: col::<i64>(r, op, "sample_seed")? as u64,
        status: CampaignStatus::parse(&status).ok_or(StoreError::Corrupt {
            op,
            column: "status",
        })?,
        created_at: ts(r, op, "created_at")?,
        updated_at: ts(r, op, "updated_at")?,
    })
}

/// A non-null column that must fit a `u32`.
pub(super) fn count32(
    r: &AnyRow,
    op: &'static str,
    column: &'static str,
) -> Result<u32, StoreError> {
    super::unsigned(r, op, column)?.ok_or(StoreError::Corrupt { op, column })
}
