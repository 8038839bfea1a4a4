//! The `live_dialogs` repository: the SIP dialog of each answered call while it lasts,
//! so a process killed mid-call can still end it at the trunk on its next start
//! (`call::recovery`). Plain text columns: the SIP layer turns them back into a dialog.

use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{CallId, disposition, to_ms};
use super::{Store, StoreError, col};

/// What RFC 3261 §12 needs to send a request in a dialog we created as UAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDialog {
    pub sip_call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our From header value (with our tag) and the peer's To (with its tag).
    pub from: String,
    pub to: String,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    pub local_contact: Option<String>,
    /// The remote target (the peer's Contact, §12.1.2).
    pub remote_uri: String,
    pub remote_contact: Option<String>,
    /// Route header values in the order requests use them.
    pub route_set: Vec<String>,
}

impl Store {
    /// Remembers an answered call's dialog (once; a second save replaces it).
    pub async fn save_live_dialog(&self, call: &CallId, d: &LiveDialog) -> Result<(), StoreError> {
        const OP: &str = "save_live_dialog";
        let mut tx = self.pool.begin().await.map_err(|e| classify(OP, e))?;
        sqlx::query("DELETE FROM live_dialogs WHERE call_id = $1")
            .bind(call.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(OP, e))?;
        sqlx::query(
            "INSERT INTO live_dialogs (call_id, sip_call_id, local_tag, remote_tag, from_header, \
             to_header, local_cseq, remote_cseq, local_contact, remote_uri, remote_contact, \
             route_set, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(call.as_str())
        .bind(&d.sip_call_id)
        .bind(&d.local_tag)
        .bind(&d.remote_tag)
        .bind(&d.from)
        .bind(&d.to)
        .bind(i64::from(d.local_cseq))
        .bind(i64::from(d.remote_cseq))
        .bind(d.local_contact.as_deref())
        .bind(&d.remote_uri)
        .bind(d.remote_contact.as_deref())
        .bind(d.route_set.join("\n"))
        .bind(to_ms(chrono::Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(OP, e))?;
        tx.commit().await.map_err(|e| classify(OP, e))
    }

    /// Forgets a call's dialog: the call ended, or its BYE was sent after a crash.
    pub async fn forget_live_dialog(&self, call: &CallId) -> Result<(), StoreError> {
        const OP: &str = "forget_live_dialog";
        sqlx::query("DELETE FROM live_dialogs WHERE call_id = $1")
            .bind(call.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// The dialogs of calls a stopped process left behind (marked interrupted).
    pub async fn interrupted_dialogs(&self) -> Result<Vec<(CallId, LiveDialog)>, StoreError> {
        const OP: &str = "interrupted_dialogs";
        let rows = sqlx::query(
            "SELECT d.call_id, d.sip_call_id, d.local_tag, d.remote_tag, d.from_header, \
             d.to_header, d.local_cseq, d.remote_cseq, d.local_contact, d.remote_uri, \
             d.remote_contact, d.route_set FROM live_dialogs d JOIN calls c ON c.id = d.call_id \
             WHERE c.disposition = $1 ORDER BY d.created_at",
        )
        .bind(disposition::INTERRUPTED)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| dialog_from_row(r, OP)).collect()
    }
}

fn cseq(r: &AnyRow, op: &'static str, name: &'static str) -> Result<u32, StoreError> {
    let v: i64 = col(r, op, name)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt { op, column: name })
}

fn dialog_from_row(r: &AnyRow, op: &'static str) -> Result<(CallId, LiveDialog), StoreError> {
    let routes: String = col(r, op, "route_set")?;
    Ok((
        CallId(col(r, op, "call_id")?),
        LiveDialog {
            sip_call_id: col(r, op, "sip_call_id")?,
            local_tag: col(r, op, "local_tag")?,
            remote_tag: col(r, op, "remote_tag")?,
            from: col(r, op, "from_header")?,
            to: col(r, op, "to_header")?,
            local_cseq: cseq(r, op, "local_cseq")?,
            remote_cseq: cseq(r, op, "remote_cseq")?,
            local_contact: col(r, op, "local_contact")?,
            remote_uri: col(r, op, "remote_uri")?,
            remote_contact: col(r, op, "remote_contact")?,
            route_set: routes.lines().map(str::to_string).collect(),
        },
    ))
}
