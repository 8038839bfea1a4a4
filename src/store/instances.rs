//! Which carecall processes are alive. Every process that places calls
//! registers an instance with a heartbeat and stamps its calls with it, so that
//! a process starting up (a second node, `carecall call`, a restart) marks
//! interrupted only the calls of processes that are gone, never another live
//! node's.
//!
//! An instance is gone when its heartbeat is older than the stale limit (a
//! crashed node elsewhere), or at once when it ran on this host and its process
//! no longer exists (a `kill -9` followed by a restart must not wait for the
//! heartbeat to go stale). Calls with no instance (rows from before instances
//! existed) or whose instance row is missing count as a gone instance's.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::error::classify;
use super::sql::Sql;
use super::types::{CallId, disposition, to_ms};
use super::{Store, StoreError, col, ts};

/// One running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// The dialer node name (claims use it too).
    pub node: String,
    pub host: String,
    pub pid: u32,
}

impl Instance {
    /// This process, with a fresh id.
    pub fn this_process(node: &str) -> Instance {
        Instance {
            id: uuid::Uuid::new_v4().to_string(),
            node: node.to_string(),
            host: this_host(),
            pid: std::process::id(),
        }
    }
}

/// The host name instances are compared by (`/etc/hostname`, else "localhost").
pub fn this_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// How to tell a live instance from a gone one.
pub struct Liveness<'a> {
    pub now: DateTime<Utc>,
    /// A heartbeat older than this means the instance is gone.
    pub stale_after: Duration,
    /// This host's name: only its own processes can be checked directly.
    pub host: &'a str,
    /// Whether a process id runs on this host.
    pub pid_alive: &'a (dyn Fn(u32) -> bool + Sync),
}

/// `/proc/PID` exists (Linux).
pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Store {
    /// This handle, stamping the calls it starts with `instance`.
    pub fn for_instance(&self, instance: &Instance) -> Store {
        Store {
            instance: Some(Arc::from(instance.id.as_str())),
            ..self.clone()
        }
    }

    /// The instance this handle stamps calls with, if any.
    pub fn instance_id(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// Registers `i` as alive now.
    pub async fn register_instance(
        &self,
        i: &Instance,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "register_instance";
        sqlx::query(
            "INSERT INTO instances (id, node, host, pid, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&i.id)
        .bind(&i.node)
        .bind(&i.host)
        .bind(i64::from(i.pid))
        .bind(to_ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Refreshes `id`'s heartbeat (re-registering it if a sweep removed it).
    pub async fn heartbeat(&self, i: &Instance, now: DateTime<Utc>) -> Result<(), StoreError> {
        const OP: &str = "heartbeat";
        let done = sqlx::query("UPDATE instances SET heartbeat_at = $1 WHERE id = $2")
            .bind(to_ms(now))
            .bind(&i.id)
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        if done.rows_affected() == 0 {
            self.register_instance(i, now).await?;
        }
        Ok(())
    }

    /// A clean stop: the instance is gone and its row with it.
    pub async fn end_instance(&self, id: &str) -> Result<(), StoreError> {
        const OP: &str = "end_instance";
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// A clean stop of this handle's instance; failures are only logged (the
    /// instance then goes stale, with the same effect, a minute later).
    pub async fn end_own_instance(&self) {
        if let Some(id) = self.instance_id()
            && let Err(e) = self.end_instance(id).await
        {
            tracing::warn!(error = %e, "could not end this process's instance");
        }
    }

    /// The ids of the instances that are alive by `live`.
    async fn live_instances(&self, live: &Liveness<'_>) -> Result<Vec<String>, StoreError> {
        const OP: &str = "live_instances";
        let rows = sqlx::query("SELECT id, host, pid, heartbeat_at FROM instances")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        let mut alive = Vec::new();
        for r in &rows {
            let host: String = col(r, OP, "host")?;
            let pid: i64 = col(r, OP, "pid")?;
            let fresh = ts(r, OP, "heartbeat_at")? >= live.now - live.stale_after;
            let running = host != live.host || u32::try_from(pid).is_ok_and(live.pid_alive);
            if fresh && running {
                alive.push(col(r, OP, "id")?);
            }
        }
        Ok(alive)
    }

    /// Calls left `in_progress` by instances that are gone become `interrupted`
    /// (their open survey responses too, each sealed into the audit chain:
    /// [`Store::interrupt_call`]), and the gone instances' rows are removed.
    /// Live instances' calls, this process's and other nodes', are left alone.
    /// Returns the number of calls marked.
    pub async fn mark_interrupted(&self, live: &Liveness<'_>) -> Result<u64, StoreError> {
        const OP: &str = "mark_interrupted";
        let alive = self.live_instances(live).await?;
        let mut select = Sql::default();
        select
            .push("SELECT id FROM calls WHERE disposition = ")
            .bind_text(disposition::IN_PROGRESS);
        if !alive.is_empty() {
            select
                .push(" AND (instance_id IS NULL OR instance_id NOT IN (")
                .bind_list(&alive)
                .push("))");
        }
        let rows = select
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        let mut marked = 0;
        for r in &rows {
            if self.interrupt_call(&CallId(col(r, OP, "id")?)).await? {
                marked += 1;
            }
        }
        let mut forget = Sql::default();
        forget.push("DELETE FROM instances");
        if !alive.is_empty() {
            forget
                .push(" WHERE id NOT IN (")
                .bind_list(&alive)
                .push(")");
        }
        forget
            .query()
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(marked)
    }
}
