//! What the sampler reads: candidate dossiers, who was surveyed lately, and who
//! must not be called.
//!
//! Phone numbers are compared exactly as stored; the dialer normalises them
//! (crate::number) before they are written anywhere.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;

use super::dossiers::dossier_from_row;
use super::error::classify;
use super::targets::placeholders;
use super::types::{Dossier, to_ms};
use super::{Store, StoreError, col, ts};

/// Phone numbers per query in [`Store::last_surveyed`].
const PHONE_CHUNK: usize = 500;
/// Dossiers per page in [`Store::dossiers_returned_between`].
const DOSSIER_PAGE: u32 = 10_000;

/// The survey calls of a number: its own destination, the phone of the
/// campaign target a call was linked to, and the phone of the dossier a call
/// was placed for. Each `{cond:COLUMN}` becomes a condition on that branch's
/// phone column (see [`surveyed_sql`]).
const SURVEYED_UNION: &str = "SELECT phone, MAX(answered_at) AS answered FROM ( \
     SELECT c.destination AS phone, c.answered_at FROM calls c \
       WHERE c.answered_at IS NOT NULL AND {cond:c.destination} \
     UNION ALL SELECT t.phone AS phone, c.answered_at FROM calls c \
       JOIN campaign_targets t ON t.id = c.target_id \
       WHERE c.answered_at IS NOT NULL AND {cond:t.phone} \
     UNION ALL SELECT d.phone AS phone, c.answered_at FROM calls c \
       JOIN dossiers d ON d.code = c.dossier_code \
       WHERE c.answered_at IS NOT NULL AND {cond:d.phone} \
     ) s GROUP BY phone";

/// Which dossiers may be sampled: result returned in `[returned_from,
/// returned_to)`, optionally only from these units and fields.
#[derive(Debug, Clone, Copy)]
pub struct DossierFilter<'a> {
    pub returned_from: DateTime<Utc>,
    pub returned_to: DateTime<Utc>,
    pub unit_codes: Option<&'a [String]>,
    pub fields: Option<&'a [String]>,
}

impl Store {
    /// For each of `phones` that was ever surveyed, when its latest answered
    /// call was answered. Numbers never answered are absent.
    pub async fn last_surveyed(
        &self,
        phones: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        const OP: &str = "last_surveyed";
        let mut out = HashMap::new();
        for chunk in phones.chunks(PHONE_CHUNK) {
            let list = placeholders(1, chunk.len());
            let sql = surveyed_sql(|column| format!("{column} IN ({list})"));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                q = q.bind(p.as_str());
            }
            let rows = q.fetch_all(&self.pool).await.map_err(|e| classify(OP, e))?;
            collect_latest(&rows, OP, &mut out)?;
        }
        Ok(out)
    }

    /// Every number answered at or after `since`, with its latest answer time:
    /// one query for the "surveyed in the last N days" exclusion, however many
    /// candidates there are.
    pub async fn surveyed_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        const OP: &str = "surveyed_since";
        let sql = surveyed_sql(|_| "c.answered_at >= $1".to_owned());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_ms(since))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        let mut out = HashMap::new();
        collect_latest(&rows, OP, &mut out)?;
        Ok(out)
    }

    /// The whole do-not-call list.
    pub async fn do_not_call_numbers(&self) -> Result<HashSet<String>, StoreError> {
        const OP: &str = "do_not_call_numbers";
        let rows = sqlx::query("SELECT phone FROM do_not_call")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| col(r, OP, "phone")).collect()
    }

    /// Dossiers whose result was returned in `[from, to)`, optionally only of
    /// these units and fields (an empty list matches nothing), ordered by code
    /// so that a seeded draw over them is reproducible. Read in pages of
    /// [`DOSSIER_PAGE`], so no single query holds a million rows.
    pub async fn dossiers_returned_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit_codes: Option<&[String]>,
        fields: Option<&[String]>,
    ) -> Result<Vec<Dossier>, StoreError> {
        let filter = DossierFilter {
            returned_from: from,
            returned_to: to,
            unit_codes,
            fields,
        };
        let mut out = Vec::new();
        loop {
            let after = out.last().map(|d: &Dossier| d.code.clone());
            let page = self
                .dossiers_returned_page(&filter, after.as_deref(), DOSSIER_PAGE)
                .await?;
            let last_page = page.len() < DOSSIER_PAGE as usize;
            out.extend(page);
            if last_page {
                return Ok(out);
            }
        }
    }

    /// One page of [`Store::dossiers_returned_between`]: up to `limit` dossiers
    /// with codes after `after`, for callers that stream instead of collecting.
    pub async fn dossiers_returned_page(
        &self,
        f: &DossierFilter<'_>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Dossier>, StoreError> {
        const OP: &str = "dossiers_returned_page";
        if f.unit_codes.is_some_and(<[String]>::is_empty)
            || f.fields.is_some_and(<[String]>::is_empty)
        {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT code, procedure, field, unit_code, applicant_kind, applicant_name, phone, \
             received_at, returned_at, created_at FROM dossiers \
             WHERE returned_at >= $1 AND returned_at < $2 AND code > $3",
        );
        let mut next = 5;
        for (column, list) in [("unit_code", f.unit_codes), ("field", f.fields)] {
            if let Some(list) = list {
                sql += &format!(" AND {column} IN ({})", placeholders(next, list.len()));
                next += list.len();
            }
        }
        sql += " ORDER BY code LIMIT $4";
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_ms(f.returned_from))
            .bind(to_ms(f.returned_to))
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit));
        for v in f.unit_codes.into_iter().chain(f.fields).flatten() {
            q = q.bind(v.as_str());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| dossier_from_row(r, OP)).collect()
    }
}

/// [`SURVEYED_UNION`] with each branch's condition made by `cond(phone_column)`.
fn surveyed_sql(cond: impl Fn(&str) -> String) -> String {
    ["c.destination", "t.phone", "d.phone"]
        .iter()
        .fold(SURVEYED_UNION.to_owned(), |sql, column| {
            sql.replace(&format!("{{cond:{column}}}"), &cond(column))
        })
}

/// Merges (phone, answered) rows into `out`, keeping the latest time.
fn collect_latest(
    rows: &[AnyRow],
    op: &'static str,
    out: &mut HashMap<String, DateTime<Utc>>,
) -> Result<(), StoreError> {
    for r in rows {
        let phone: String = col(r, op, "phone")?;
        let at = ts(r, op, "answered")?;
        out.entry(phone)
            .and_modify(|t| *t = (*t).max(at))
            .or_insert(at);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::surveyed_sql;

    #[test]
    fn surveyed_sql_fills_every_branch() {
        let sql = surveyed_sql(|c| format!("{c} IN ($1)"));
        assert!(!sql.contains("{cond"), "{sql}");
        for c in [
            "c.destination IN ($1)",
            "t.phone IN ($1)",
            "d.phone IN ($1)",
        ] {
            assert!(sql.contains(c), "{c} missing from {sql}");
        }
    }
}
