//! The `dossiers` repository.

use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{Dossier, to_ms};
use super::{Store, StoreError, col, ts, ts_opt};

impl Store {
    /// Inserts the dossier, or updates every field but `created_at` if its code
    /// is known: re-importing the same export is harmless.
    pub async fn upsert_dossier(&self, d: &Dossier) -> Result<(), StoreError> {
        const OP: &str = "upsert_dossier";
        sqlx::query(
            "INSERT INTO dossiers (code, procedure, field, unit_code, applicant_kind, \
             applicant_name, phone, received_at, returned_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (code) DO UPDATE SET procedure = excluded.procedure, \
             field = excluded.field, unit_code = excluded.unit_code, \
             applicant_kind = excluded.applicant_kind, applicant_name = excluded.applicant_name, \
             phone = excluded.phone, received_at = excluded.received_at, \
             returned_at = excluded.returned_at",
        )
        .bind(&d.code)
        .bind(&d.procedure)
        .bind(&d.field)
        .bind(&d.unit_code)
        .bind(&d.applicant_kind)
        .bind(&d.applicant_name)
        .bind(&d.phone)
        .bind(d.received_at.map(to_ms))
        .bind(d.returned_at.map(to_ms))
        .bind(to_ms(d.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// The dossier with this code, if imported.
    pub async fn dossier(&self, code: &str) -> Result<Option<Dossier>, StoreError> {
        const OP: &str = "dossier";
        let row = sqlx::query(
            "SELECT code, procedure, field, unit_code, applicant_kind, applicant_name, phone, \
             received_at, returned_at, created_at FROM dossiers WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| dossier_from_row(&r, OP)).transpose()
    }
}

pub(super) fn dossier_from_row(r: &AnyRow, op: &'static str) -> Result<Dossier, StoreError> {
    Ok(Dossier {
        code: col(r, op, "code")?,
        procedure: col(r, op, "procedure")?,
        field: col(r, op, "field")?,
        unit_code: col(r, op, "unit_code")?,
        applicant_kind: col(r, op, "applicant_kind")?,
        applicant_name: col(r, op, "applicant_name")?,
        phone: col(r, op, "phone")?,
        received_at: ts_opt(r, op, "received_at")?,
        returned_at: ts_opt(r, op, "returned_at")?,
        created_at: ts(r, op, "created_at")?,
    })
}
