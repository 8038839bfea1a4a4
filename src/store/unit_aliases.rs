//! Unit names as exports write them, mapped once to a unit (`unit_aliases`),
//! and the dossier rows that wait for such a mapping (`pending_dossiers`,
//! migration 16). See `intake/units.rs` for how names are matched.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::to_ms;
use super::{Store, StoreError, col, ts};

/// A dossier row that waits for its unit to be mapped. `row_json` holds the
/// row as read (`intake::RawRow`), so nothing is lost while it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDossier {
    pub code: String,
    pub unit_name: String,
    pub name_key: String,
    pub row_json: String,
    pub created_at: DateTime<Utc>,
}

/// One unknown unit name and how many rows wait for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingUnit {
    /// The name as the first waiting row wrote it.
    pub unit_name: String,
    pub name_key: String,
    pub rows: u64,
}

impl Store {
    /// Maps the name whose key is `name_key` to `unit_code` (replacing an
    /// earlier mapping of the same key). An unknown unit gives
    /// [`StoreError::Constraint`].
    pub async fn set_unit_alias(
        &self,
        name_key: &str,
        name: &str,
        unit_code: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_unit_alias";
        sqlx::query(
            "INSERT INTO unit_aliases (name_key, name, unit_code, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name_key) DO UPDATE SET \
             name = excluded.name, unit_code = excluded.unit_code, \
             created_by = excluded.created_by, created_at = excluded.created_at",
        )
        .bind(name_key)
        .bind(name)
        .bind(unit_code)
        .bind(by)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Every alias as (name key, unit code).
    pub async fn unit_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        const OP: &str = "unit_aliases";
        let rows = sqlx::query("SELECT name_key, unit_code FROM unit_aliases ORDER BY name_key")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        rows.iter()
            .map(|r| Ok((col(r, OP, "name_key")?, col(r, OP, "unit_code")?)))
            .collect()
    }

    /// Keeps a row whose unit is unknown (a newer row with the same code
    /// replaces the waiting one, as a re-import would).
    pub async fn park_dossier(&self, p: &PendingDossier) -> Result<(), StoreError> {
        const OP: &str = "park_dossier";
        sqlx::query(
            "INSERT INTO pending_dossiers (code, unit_name, name_key, row_json, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO UPDATE SET \
             unit_name = excluded.unit_name, name_key = excluded.name_key, \
             row_json = excluded.row_json",
        )
        .bind(&p.code)
        .bind(&p.unit_name)
        .bind(&p.name_key)
        .bind(&p.row_json)
        .bind(to_ms(p.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// The waiting rows, oldest first.
    pub async fn pending_dossiers(&self) -> Result<Vec<PendingDossier>, StoreError> {
        const OP: &str = "pending_dossiers";
        let rows = sqlx::query(
            "SELECT code, unit_name, name_key, row_json, created_at FROM pending_dossiers \
             ORDER BY created_at, code",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| pending_from_row(r, OP)).collect()
    }

    /// The unknown unit names with the number of rows waiting for each.
    pub async fn pending_units(&self) -> Result<Vec<PendingUnit>, StoreError> {
        const OP: &str = "pending_units";
        let rows = sqlx::query(
            "SELECT name_key, MIN(unit_name) AS unit_name, COUNT(*) AS n \
             FROM pending_dossiers GROUP BY name_key ORDER BY name_key",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter()
            .map(|r| {
                let n: i64 = col(r, OP, "n")?;
                Ok(PendingUnit {
                    unit_name: col(r, OP, "unit_name")?,
                    name_key: col(r, OP, "name_key")?,
                    rows: n.max(0) as u64,
                })
            })
            .collect()
    }

    /// Drops a waiting row once it is stored as a dossier.
    pub async fn unpark_dossier(&self, code: &str) -> Result<(), StoreError> {
        const OP: &str = "unpark_dossier";
        sqlx::query("DELETE FROM pending_dossiers WHERE code = $1")
            .bind(code)
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }
}

fn pending_from_row(r: &AnyRow, op: &'static str) -> Result<PendingDossier, StoreError> {
    Ok(PendingDossier {
        code: col(r, op, "code")?,
        unit_name: col(r, op, "unit_name")?,
        name_key: col(r, op, "name_key")?,
        row_json: col(r, op, "row_json")?,
        created_at: ts(r, op, "created_at")?,
    })
}
