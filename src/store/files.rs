//! The `recordings` and `do_not_call` repositories.

use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{CallId, NewRecording, RecordingId, RecordingRecord, to_ms};
use super::{Store, StoreError, col, ts, unsigned};

impl Store {
    /// Links a finished recording file to its call and seals the call with
    /// it into the audit chain (`seals.rs`), in one transaction. An unknown
    /// call gives [`StoreError::Constraint`].
    pub async fn add_recording(
        &self,
        call: &CallId,
        rec: &NewRecording,
    ) -> Result<RecordingId, StoreError> {
        const OP: &str = "add_recording";
        let id = RecordingId::new_v4();
        let bytes = i64::try_from(rec.bytes).map_err(|_| StoreError::Corrupt {
            op: OP,
            column: "bytes",
        })?;
        let (mut tx, locked) = self.begin_link(OP).await?;
        sqlx::query(
            "INSERT INTO recordings (id, call_id, path, seconds, sha256, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(call.as_str())
        .bind(&rec.path)
        .bind(rec.seconds)
        .bind(&rec.sha256)
        .bind(bytes)
        .bind(to_ms(rec.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(OP, e))?;
        self.commit_seal(tx, locked, call, OP).await?;
        Ok(id)
    }

    /// The most recent recording of a call.
    pub(super) async fn latest_recording(
        &self,
        call: &CallId,
        op: &'static str,
    ) -> Result<Option<RecordingRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, call_id, path, seconds, sha256, bytes, created_at FROM recordings \
             WHERE call_id = $1 ORDER BY created_at DESC, id LIMIT 1",
        )
        .bind(call.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(op, e))?;
        row.map(|r| recording_from_row(&r, op)).transpose()
    }

    /// Adds `phone` to the do-not-call list; adding it again keeps the first
    /// date and updates the reason.
    pub async fn add_do_not_call(&self, phone: &str, reason: &str) -> Result<(), StoreError> {
        const OP: &str = "add_do_not_call";
        sqlx::query(
            "INSERT INTO do_not_call (phone, reason, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (phone) DO UPDATE SET reason = excluded.reason",
        )
        .bind(phone)
        .bind(reason)
        .bind(to_ms(chrono::Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Whether `phone` asked not to be called. Numbers are compared as given:
    /// normalise them (crate::number) before both calls.
    pub async fn is_do_not_call(&self, phone: &str) -> Result<bool, StoreError> {
        const OP: &str = "is_do_not_call";
        let row = sqlx::query("SELECT phone FROM do_not_call WHERE phone = $1")
            .bind(phone)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(row.is_some())
    }
}

fn recording_from_row(r: &AnyRow, op: &'static str) -> Result<RecordingRecord, StoreError> {
    Ok(RecordingRecord {
        id: RecordingId(col(r, op, "id")?),
        call_id: CallId(col(r, op, "call_id")?),
        path: col(r, op, "path")?,
        seconds: col(r, op, "seconds")?,
        sha256: col(r, op, "sha256")?,
        bytes: unsigned(r, op, "bytes")?.ok_or(StoreError::Corrupt {
            op,
            column: "bytes",
        })?,
        created_at: ts(r, op, "created_at")?,
    })
}
