//! Typed storage errors, and the classification of driver errors into the few
//! cases an operator can act on (read-only, full disk, missing parent row).

use std::time::Duration;

use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;

/// Everything that can go wrong in [`super::Store`].
///
/// Connection-time variants carry the URL with its password removed
/// ([`redact_url`]); query-time variants carry `op`, the `Store` method that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL {url_redacted}: use sqlite://PATH or postgres://USER@HOST/DB"
    )]
    UnsupportedScheme { url_redacted: String },

    #[error("invalid database URL {url_redacted}: {source}")]
    InvalidUrl {
        url_redacted: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("cannot connect to {url_redacted}: {source}{hint}")]
    Connect {
        url_redacted: String,
        /// A short operator hint (starts with "; ") or empty.
        hint: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "no connection to {url_redacted} within {timeout:?}; is the server running and reachable?"
    )]
    ConnectTimeout {
        url_redacted: String,
        timeout: Duration,
    },

    #[error("migrating {url_redacted} failed: {source}")]
    Migrate {
        url_redacted: String,
        #[source]
        source: MigrateError,
    },

    #[error(
        "{op}: the database is read-only ({source}); check file, directory and server permissions"
    )]
    ReadOnly {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("{op}: the disk or database is full ({source}); free space before placing more calls")]
    DiskFull {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("{op}: refused by a constraint (unknown parent row or duplicate): {source}")]
    Constraint {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("{op}: no {what} with id {id}")]
    NotFound {
        op: &'static str,
        what: &'static str,
        id: String,
    },

    /// A campaign status change the life cycle does not allow
    /// (see `CampaignStatus::can_become`).
    #[error("{op}: campaign {id} cannot go from {from} to {to}")]
    InvalidTransition {
        op: &'static str,
        id: String,
        from: String,
        to: String,
    },

    /// This node no longer holds the claim on a campaign target: its lease
    /// expired and another node recovered it, or the attempt was already finished.
    /// The caller must not dial (or must stop touching) that target.
    #[error("{op}: target {target} is no longer claimed by node {node}")]
    LostClaim {
        op: &'static str,
        target: String,
        node: String,
    },

    /// A name matched several rows; the caller must use the unique code.
    #[error("{op}: {count} {what}s are named {name:?}; use the code instead")]
    Ambiguous {
        op: &'static str,
        what: &'static str,
        name: String,
        count: usize,
    },

    /// `Store::connect_existing` on a SQLite file that is not there.
    #[error(
        "no database at {path}: check database.url (this command checks an existing database \
         and never creates one)"
    )]
    NoDatabase { path: String },

    /// The audit head log next to the key could not be read.
    #[error("reading the audit head log: {source}; check the file next to the audit key")]
    HeadLog {
        #[source]
        source: std::io::Error,
    },

    #[error("{op}: stored value in column {column} is malformed")]
    Corrupt {
        op: &'static str,
        column: &'static str,
    },

    #[error("{op} failed: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// Whether trying the same write again later can succeed: the pool was
    /// exhausted, the database was busy or locked, the connection dropped, or
    /// the disk was full (space may be freed). Used by writers that must not
    /// lose an answer to a momentary overload.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } | StoreError::ConnectTimeout { .. } => true,
            StoreError::Query { source, .. } => match source {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
                sqlx::Error::Database(db) => {
                    // SQLITE_BUSY (5) / SQLITE_LOCKED (6); PostgreSQL class 40
                    // (serialization, deadlock) and 53/57/08 (resources, shutdown,
                    // connection).
                    let code = db.code().unwrap_or_default();
                    let primary = code.parse::<i64>().map(|c| c & 0xff).ok();
                    matches!(primary, Some(5) | Some(6))
                        || ["40", "53", "57", "08"].iter().any(|c| code.starts_with(c))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// What a driver error means for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    ReadOnly,
    DiskFull,
    CantOpen,
    Constraint,
    Other,
}

/// SQLite primary result codes (<https://www.sqlite.org/rescode.html>); sqlx
/// reports the extended code, whose low byte is the primary one.
const SQLITE_READONLY: i64 = 8;
const SQLITE_CONSTRAINT: i64 = 19;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;

fn fault(err: &sqlx::Error) -> Fault {
    let Some(db) = err.as_database_error() else {
        return Fault::Other;
    };
    if matches!(
        db.kind(),
        ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation | ErrorKind::CheckViolation
    ) {
        return Fault::Constraint;
    }
    let code = db.code().unwrap_or_default();
    // SQLite codes are numeric, PostgreSQL SQLSTATEs are five characters
    // (Appendix A of the PostgreSQL manual: 53100 disk_full, 25006 read_only_sql_transaction).
    if let Ok(n) = code.parse::<i64>()
        && code.len() < 5
    {
        return match n & 0xff {
            SQLITE_READONLY => Fault::ReadOnly,
            SQLITE_FULL => Fault::DiskFull,
            SQLITE_CANTOPEN => Fault::CantOpen,
            // Includes RAISE(ABORT) from the append-only trigger on answers.
            SQLITE_CONSTRAINT => Fault::Constraint,
            _ => Fault::Other,
        };
    }
    match &*code {
        "25006" => Fault::ReadOnly,
        "53100" => Fault::DiskFull,
        // restrict_violation: raised by the append-only trigger on answers.
        "23001" => Fault::Constraint,
        _ => Fault::Other,
    }
}

/// Wraps a query-time driver error into the variant the operator can act on.
pub(crate) fn classify(op: &'static str, source: sqlx::Error) -> StoreError {
    match fault(&source) {
        Fault::ReadOnly | Fault::CantOpen => StoreError::ReadOnly { op, source },
        Fault::DiskFull => StoreError::DiskFull { op, source },
        Fault::Constraint => StoreError::Constraint { op, source },
        Fault::Other => StoreError::Query { op, source },
    }
}

/// Wraps a connect-time error, with a hint for the usual causes.
pub(crate) fn connect_error(url_redacted: String, source: sqlx::Error) -> StoreError {
    let hint = match (&source, fault(&source)) {
        (_, Fault::CantOpen) => "; check that the directory exists and is writable",
        (_, Fault::ReadOnly) => "; the file or its directory is read-only",
        (_, Fault::DiskFull) => "; the disk is full",
        (sqlx::Error::Io(e), _) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "; is the server running and listening on that host and port?"
        }
        (sqlx::Error::Database(db), _) if db.code().as_deref() == Some("28P01") => {
            "; check the user name and password"
        }
        (sqlx::Error::Database(db), _) if db.code().as_deref() == Some("3D000") => {
            "; create the database first"
        }
        _ => "",
    };
    StoreError::Connect {
        url_redacted,
        hint,
        source,
    }
}

/// The URL with any password (in the authority or a `password=` query pair)
/// replaced by `***`, so that errors and logs can show which database was meant.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = redact_authority(base);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

fn redact_authority(base: &str) -> String {
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return base.to_owned();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{user}@{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_in_authority() {
        assert_eq!(
            redact_url("postgres://care:s3cr%40t@db.example:5432/carecall"),
            "postgres://care:***@db.example:5432/carecall"
        );
    }

    #[test]
    fn redacts_password_with_at_sign_and_query_pair() {
        let r = redact_url("postgres://u:p@ss@h/db?sslmode=disable&password=hunter2");
        assert_eq!(r, "postgres://u:***@h/db?sslmode=disable&password=***");
        assert!(!r.contains("hunter2") && !r.contains("p@ss"));
    }

    #[test]
    fn leaves_urls_without_secrets_alone() {
        for url in [
            "sqlite://carecall.db",
            "sqlite:///var/lib/carecall/db.sqlite?mode=rwc",
            "postgres://care@localhost/carecall",
            "sqlite::memory:",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn io_errors_are_not_database_faults() {
        let e = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(matches!(classify("op", e), StoreError::Query { .. }));
        let e = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        let msg = connect_error("postgres://h/db".into(), e).to_string();
        assert!(msg.contains("is the server running"), "{msg}");
    }

    #[test]
    fn overload_is_transient_and_constraints_are_not() {
        let busy = classify("add_answer", sqlx::Error::PoolTimedOut);
        assert!(busy.is_transient(), "{busy}");
        let gone = classify(
            "add_answer",
            sqlx::Error::Io(std::io::ErrorKind::BrokenPipe.into()),
        );
        assert!(gone.is_transient(), "{gone}");
        let missing = StoreError::NotFound {
            op: "finish_call",
            what: "call",
            id: "x".into(),
        };
        assert!(!missing.is_transient());
        assert!(!classify("q", sqlx::Error::RowNotFound).is_transient());
    }
}
