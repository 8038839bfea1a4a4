//! The `units` repository: the province's administrative units as data.

use sqlx::any::AnyRow;

use super::campaign_types::UnitRecord;
use super::error::classify;
use super::{Store, StoreError, col};

impl Store {
    /// Inserts the unit, or updates its name, level and parent if the code is
    /// known. An unknown parent or level gives [`StoreError::Constraint`], so a
    /// CSV must list parents before their children.
    pub async fn upsert_unit(&self, u: &UnitRecord) -> Result<(), StoreError> {
        const OP: &str = "upsert_unit";
        sqlx::query(
            "INSERT INTO units (code, name, level, parent_code) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level, \
             parent_code = excluded.parent_code",
        )
        .bind(&u.code)
        .bind(&u.name)
        .bind(&u.level)
        .bind(u.parent.as_deref())
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Every unit, the province first, then districts, then communes, each by
    /// code: parents come before children, so the list can be re-imported as is.
    pub async fn units(&self) -> Result<Vec<UnitRecord>, StoreError> {
        const OP: &str = "units";
        let rows = sqlx::query(
            "SELECT code, name, level, parent_code FROM units ORDER BY \
             CASE level WHEN 'province' THEN 0 WHEN 'district' THEN 1 ELSE 2 END, code",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| unit_from_row(r, OP)).collect()
    }

    /// The unit whose code is `key`, else the one whose name is exactly `key`
    /// (the one-stop exports name units either way). Surrounding spaces are
    /// ignored. Commune names repeat across districts, so a name shared by
    /// several units is [`StoreError::Ambiguous`] rather than a guess.
    pub async fn unit_by_name_or_code(&self, key: &str) -> Result<Option<UnitRecord>, StoreError> {
        const OP: &str = "unit_by_name_or_code";
        let key = key.trim();
        let by_code =
            sqlx::query("SELECT code, name, level, parent_code FROM units WHERE code = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| classify(OP, e))?;
        if let Some(r) = by_code {
            return unit_from_row(&r, OP).map(Some);
        }
        let rows = sqlx::query(
            "SELECT code, name, level, parent_code FROM units WHERE name = $1 ORDER BY code LIMIT 2",
        )
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        match rows.as_slice() {
            [] => Ok(None),
            [one] => unit_from_row(one, OP).map(Some),
            _ => {
                let count = self.count_units_named(key, OP).await?;
                Err(StoreError::Ambiguous {
                    op: OP,
                    what: "unit",
                    name: key.to_owned(),
                    count,
                })
            }
        }
    }

    async fn count_units_named(&self, name: &str, op: &'static str) -> Result<usize, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM units WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| classify(op, e))?;
        let n: i64 = col(&row, op, "n")?;
        usize::try_from(n).map_err(|_| StoreError::Corrupt { op, column: "n" })
    }
}

fn unit_from_row(r: &AnyRow, op: &'static str) -> Result<UnitRecord, StoreError> {
    Ok(UnitRecord {
        code: col(r, op, "code")?,
        name: col(r, op, "name")?,
        level: col(r, op, "level")?,
        parent: col(r, op, "parent_code")?,
    })
}
