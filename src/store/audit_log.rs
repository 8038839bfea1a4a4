//! The `audit_log` repository: every change made through the API or the
//! pages, so that a supervisor can answer "who started this campaign, who
//! corrected that answer, and when".

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::to_ms;
use super::{Store, StoreError, col, ts};

/// One change to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub actor: &'a str,
    /// Dotted verb, e.g. `campaign.start`, `answer.revise`, `user.create`.
    pub action: &'a str,
    pub target: Option<&'a str>,
    /// JSON with the change's details (never a password or token).
    pub detail: Option<serde_json::Value>,
    pub remote: Option<&'a str>,
}

/// One recorded change.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub remote: Option<String>,
}

/// Which entries to list: newest first, `before` (exclusive) for paging.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action_prefix: Option<String>,
    pub target: Option<String>,
    pub before: Option<DateTime<Utc>>,
    pub limit: i64,
}

impl Store {
    /// Appends one entry.
    pub async fn log_change(&self, e: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        const OP: &str = "log_change";
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, detail, remote) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(to_ms(Utc::now()))
        .bind(e.actor)
        .bind(e.action)
        .bind(e.target)
        .bind(e.detail.as_ref().map(|d| d.to_string()))
        .bind(e.remote)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Entries matching `q`, newest first.
    pub async fn audit_entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        const OP: &str = "audit_entries";
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail, remote FROM audit_log \
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action LIKE $2) \
             AND ($3 IS NULL OR target = $3) AND ($4 IS NULL OR at < $4) \
             ORDER BY at DESC, id LIMIT $5",
        )
        .bind(q.actor.as_deref())
        .bind(q.action_prefix.as_ref().map(|p| format!("{p}%")))
        .bind(q.target.as_deref())
        .bind(q.before.map(to_ms))
        .bind(q.limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| entry_from_row(r, OP)).collect()
    }
}

fn entry_from_row(r: &AnyRow, op: &'static str) -> Result<AuditEntry, StoreError> {
    let detail: Option<String> = col(r, op, "detail")?;
    Ok(AuditEntry {
        id: col(r, op, "id")?,
        at: ts(r, op, "at")?,
        actor: col(r, op, "actor")?,
        action: col(r, op, "action")?,
        target: col(r, op, "target")?,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
        remote: col(r, op, "remote")?,
    })
}
