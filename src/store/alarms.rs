//! The `alarms` repository: conditions an operator must see (trunk down, disk
//! full), shown by the API and logged by whoever raises them.

use chrono::Utc;
use sqlx::any::AnyRow;

use super::campaign_types::{AlarmId, AlarmRecord};
use super::error::classify;
use super::types::to_ms;
use super::{Store, StoreError, col, ts, ts_opt};

impl Store {
    /// Opens an alarm of `kind` unless one is already open; returns whether this
    /// call opened it (so the caller logs the first failure, not every retry).
    /// A partial unique index keeps it to one open alarm per kind even when
    /// several nodes raise it at once.
    pub async fn raise_alarm(&self, kind: &str, message: &str) -> Result<bool, StoreError> {
        const OP: &str = "raise_alarm";
        let done = sqlx::query(
            "INSERT INTO alarms (id, kind, message, raised_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(AlarmId::new_v4().0)
        .bind(kind)
        .bind(message)
        .bind(to_ms(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Clears the open alarm of `kind`, if any; returns whether one was open.
    /// The row stays, with `cleared_at`, as the alarm's history.
    pub async fn clear_alarm(&self, kind: &str) -> Result<bool, StoreError> {
        const OP: &str = "clear_alarm";
        let done =
            sqlx::query("UPDATE alarms SET cleared_at = $1 WHERE kind = $2 AND cleared_at IS NULL")
                .bind(to_ms(Utc::now()))
                .bind(kind)
                .execute(&self.pool)
                .await
                .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Alarms not yet cleared, oldest first.
    pub async fn open_alarms(&self) -> Result<Vec<AlarmRecord>, StoreError> {
        const OP: &str = "open_alarms";
        let rows = sqlx::query(
            "SELECT id, kind, message, raised_at, cleared_at FROM alarms \
             WHERE cleared_at IS NULL ORDER BY raised_at, kind",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| alarm_from_row(r, OP)).collect()
    }
}

fn alarm_from_row(r: &AnyRow, op: &'static str) -> Result<AlarmRecord, StoreError> {
    Ok(AlarmRecord {
        id: AlarmId(col(r, op, "id")?),
        kind: col(r, op, "kind")?,
        message: col(r, op, "message")?,
        raised_at: ts(r, op, "raised_at")?,
        cleared_at: ts_opt(r, op, "cleared_at")?,
    })
}
