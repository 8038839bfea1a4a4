//! Storage: sqlx over SQLite or PostgreSQL, one repository per aggregate.
//!
//! One [`Store`] runs the same SQL on both databases through `sqlx::AnyPool`:
//! portable DDL (TEXT UUID ids made in Rust, BIGINT unix-millisecond timestamps,
//! `$n` placeholders, which SQLite also accepts) and the runtime query API.
//! Migrations live in `migrations/sqlite` and `migrations/postgres` (the first is
//! identical in both; later ones hold backend-specific triggers) and run at connect.
//!
//! Survey answers are append-only: a changed answer is a new row with the next
//! revision, and triggers refuse UPDATE and DELETE on `answers`, because survey
//! results must never be silently edited (brief, seed 004). Each answer is also
//! a link of a hash chain (`audit.rs`), so that an edit made behind the
//! triggers' back is found by [`Store::verify_chain`];
//! finished calls and their recordings are sealed into the same chain (`seals.rs`).

mod alarms;
mod audit;
mod audit_log;
mod audit_verify;
mod call_list;
mod calls;
mod campaign_stats;
mod campaign_types;
mod campaigns;
mod chain_key;
mod claims;
pub mod complaints;
mod connect;
mod correction_proposals;
mod coverage;
mod dialogs;
mod dossiers;
mod error;
mod file_check;
mod files;
mod head_log;
mod instances;
mod operators;
mod recordings;
mod reports;
mod sampling;
mod seals;
mod sql;
mod summary;
mod survey;
mod targets;
mod types;
mod unit_aliases;
mod units;
mod users;

pub use audit::{
    BreakReason, BrokenLink, ChainReport, ChainRow, GENESIS, RecordChange, answer_hash,
    answer_link_hash,
};
pub use audit_log::{AuditEntry, AuditQuery, NewAuditEntry};
pub use call_list::{CallListItem, CallPage, Cursor};
pub use campaign_types::{
    AlarmId, AlarmRecord, CampaignId, CampaignMode, CampaignProgress, CampaignRecord,
    CampaignStatus, NewCampaign, NewTarget, RecoveredCounts, TargetId, TargetRecord, TargetState,
    UnitRecord, unit_level,
};
pub use chain_key::{ChainKey, ChainKeyError};
pub use connect::{Backend, StoreOptions};
pub use correction_proposals::{CorrectionProposal, NewProposal, ProposalState};
pub use dialogs::LiveDialog;
pub use error::{StoreError, redact_url};
pub use file_check::{FileFinding, FileKind, FileProblem, FilesReport};
pub use head_log::Head;
pub use instances::{Instance, Liveness, pid_alive, this_host};
pub use operators::{NewOperator, OperatorId, OperatorRecord, OperatorState, RegistrationRecord};
pub use sampling::DossierFilter;
pub use targets::TargetHistory;
pub use types::{
    AnswerId, AnswerKind, AnswerRecord, CallId, CallOutcome, CallRecord, CallSummary, Dossier,
    NewAnswer, NewCall, NewRecording, RecordingId, RecordingRecord, ResponseId, ResponseRecord,
    disposition, response_status,
};
pub use unit_aliases::{PendingDossier, PendingUnit};
pub use users::{Authenticated, NewUser, TokenRecord, UserChange, UserId, UserRecord};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row};

/// Handle on the database; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The process instance whose calls this handle records (see `instances`).
    instance: Option<std::sync::Arc<str>>,
    /// The audit chain's key (`audit.rs`); `None` in tests and tools.
    chain_key: Option<Arc<ChainKey>>,
}

impl Store {
    /// Opens `url` (`sqlite://PATH`, created if missing, WAL mode; or
    /// `postgres://USER:PASS@HOST/DB`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    /// [`Store::connect`] with explicit timeouts and pool size.
    pub async fn connect_with(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        let (pool, backend) = connect::open(url, opts).await?;
        Ok(Store {
            pool,
            backend,
            instance: None,
            chain_key: None,
        })
    }

    /// [`Store::connect`] to a database that must already exist: a SQLite
    /// file that is missing is [`StoreError::NoDatabase`] instead of a new,
    /// empty database (for checks such as `carecall audit verify`, which
    /// would otherwise call an empty database a clean one).
    pub async fn connect_existing(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = connect::sqlite_file(url)
            && !path.is_file()
        {
            return Err(StoreError::NoDatabase {
                path: path.display().to_string(),
            });
        }
        Store::connect(url).await
    }

    /// This store with the audit chain's key: answers and call seals are
    /// then HMAC'd with it, the head signed and logged next to the key file,
    /// and [`Store::verify_chain`] checks with it. carecall's writers and
    /// `carecall audit verify` always set it (`audit.rs`).
    pub fn with_chain_key(mut self, key: ChainKey) -> Store {
        self.chain_key = Some(Arc::new(key));
        self
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every pooled connection (SQLite then checkpoints its WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// After [`Store::close`]: background loops holding a handle stop.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// Reads column `name`, naming the failing operation in the error.
fn col<'r, T>(row: &'r AnyRow, op: &'static str, name: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(name)
        .map_err(|source| StoreError::Query { op, source })
}

/// Reads a non-null millisecond timestamp.
fn ts(row: &AnyRow, op: &'static str, name: &'static str) -> Result<DateTime<Utc>, StoreError> {
    let ms: i64 = col(row, op, name)?;
    types::from_ms(ms).ok_or(StoreError::Corrupt { op, column: name })
}

/// Reads a nullable millisecond timestamp.
fn ts_opt(
    row: &AnyRow,
    op: &'static str,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let ms: Option<i64> = col(row, op, name)?;
    ms.map(|ms| types::from_ms(ms).ok_or(StoreError::Corrupt { op, column: name }))
        .transpose()
}

/// Reads a non-negative integer column into an unsigned type.
fn unsigned<T: TryFrom<i64>>(
    row: &AnyRow,
    op: &'static str,
    name: &'static str,
) -> Result<Option<T>, StoreError> {
    let v: Option<i64> = col(row, op, name)?;
    v.map(|v| T::try_from(v).map_err(|_| StoreError::Corrupt { op, column: name }))
        .transpose()
}

#[cfg(test)]
mod tests;
