//! Opening the database: URL checks, a first connection that reports the real
//! cause of failure, SQLite setup (create the file, WAL), and migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection};

use super::error::{StoreError, connect_error, redact_url};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Tuning for [`super::Store::connect_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long to wait for the first connection (and for a pooled one later).
    pub connect_timeout: Duration,
    /// Pool size; an in-memory SQLite database always uses one connection.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            connect_timeout: Duration::from_secs(10),
            max_connections: 8,
        }
    }
}

/// The SQLite URL with `mode=rwc` added unless a mode is given, so that the
/// database file is created when missing.
fn sqlite_url(url: &str) -> String {
    if is_memory(url) || url.contains("mode=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
}

/// The file a SQLite URL names (`sqlite://PATH?…` or `sqlite:PATH`); `None`
/// for another backend or an in-memory database.
pub(super) fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if Backend::of(url) != Some(Backend::Sqlite) || is_memory(url) {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty()).then(|| path.into())
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Opens a pool on `url`, creating and migrating the database as needed.
pub(super) async fn open(url: &str, opts: &StoreOptions) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let url_redacted = redact_url(url);
    let backend = Backend::of(url).ok_or_else(|| StoreError::UnsupportedScheme {
        url_redacted: url_redacted.clone(),
    })?;
    let full_url = match backend {
        Backend::Sqlite => sqlite_url(url),
        Backend::Postgres => url.to_owned(),
    };
    let connect_opts =
        AnyConnectOptions::from_str(&full_url).map_err(|source| StoreError::InvalidUrl {
            url_redacted: url_redacted.clone(),
            source,
        })?;

    // A direct first connection: the pool retries "connection refused" until its
    // timeout and then reports only that it timed out, hiding the cause.
    let probe = tokio::time::timeout(opts.connect_timeout, connect_opts.connect())
        .await
        .map_err(|_| StoreError::ConnectTimeout {
            url_redacted: url_redacted.clone(),
            timeout: opts.connect_timeout,
        })?
        .map_err(|e| connect_error(url_redacted.clone(), e))?;

    let memory = backend == Backend::Sqlite && is_memory(url);
    let pool = AnyPoolOptions::new()
        .max_connections(if memory { 1 } else { opts.max_connections })
        .acquire_timeout(opts.connect_timeout)
        // Each new connection to `:memory:` is a new, empty database: keep the one.
        .idle_timeout(if memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if memory {
            None
        } else {
            Some(Duration::from_secs(1800))
        })
        .connect_lazy_with(connect_opts);

    if memory {
        // The probe's database is not the pool's; migrate the pool's own.
        let _ = probe.close().await;
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| connect_error(url_redacted.clone(), e))?;
        prepare(&mut conn, backend, url, &url_redacted).await?;
    } else {
        let mut probe = probe;
        prepare(&mut probe, backend, url, &url_redacted).await?;
        let _ = probe.close().await;
    }
    Ok((pool, backend))
}

/// WAL for SQLite (persistent in the file), then the migrations.
async fn prepare(
    conn: &mut AnyConnection,
    backend: Backend,
    url: &str,
    url_redacted: &str,
) -> Result<(), StoreError> {
    // WAL lets the HTTP readers run while a call writes answers. It cannot be
    // switched on through a read-only connection, which needs no migration either.
    let read_only = url.contains("mode=ro");
    if backend == Backend::Sqlite && !read_only {
        sqlx::query("PRAGMA journal_mode = WAL")
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| connect_error(url_redacted.to_owned(), e))?;
    }
    backend
        .migrator()
        .run(&mut *conn)
        .await
        .map_err(|source| StoreError::Migrate {
            url_redacted: url_redacted.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(
            sqlite_url("sqlite://carecall.db"),
            "sqlite://carecall.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
        assert_eq!(sqlite_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn sqlite_file_of_url() {
        let f = |u| sqlite_file(u).map(|p| p.display().to_string());
        assert_eq!(f("sqlite://carecall.db").as_deref(), Some("carecall.db"));
        assert_eq!(
            f("sqlite:///tmp/a.db?mode=rwc").as_deref(),
            Some("/tmp/a.db")
        );
        assert_eq!(f("sqlite:a.db").as_deref(), Some("a.db"));
        assert_eq!(f("sqlite::memory:"), None);
        assert_eq!(f("postgres://h/db"), None);
    }

    #[test]
    fn backend_from_scheme() {
        assert_eq!(Backend::of("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("postgres://h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::of("postgresql://h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mysql://h/db"), None);
        assert_eq!(Backend::of("carecall.db"), None);
    }
}
