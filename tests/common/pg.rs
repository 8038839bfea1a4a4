//! A throwaway PostgreSQL server for integration tests.
//!
//! [`PgServer::start`] runs `initdb` in a temp dir, starts the cluster on a free
//! 127.0.0.1 port (its unix socket also in the temp dir) and stops and deletes it
//! on drop. initdb refuses to run as root, so as root the binaries run as the
//! `postgres` user through `runuser`, which then owns the temp dir.
//!
//! Environment:
//! - `CARECALL_TEST_PG_URL`: use that server instead (databases are created on it).
//! - `CARECALL_SKIP_PG=1`: skip the PostgreSQL tests, loudly. Without it, missing
//!   PostgreSQL binaries fail the test.
//! - `CARECALL_PG_BIN`: directory holding `initdb` and `pg_ctl`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// A running server to create test databases on.
pub struct PgServer {
    /// URL of the server's maintenance database, used to create databases.
    admin_url: String,
    /// Present when we started the cluster ourselves.
    cluster: Option<Cluster>,
}

struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl PgServer {
    /// The server to test against, or `None` when `CARECALL_SKIP_PG=1`.
    pub fn start() -> Option<PgServer> {
        if std::env::var("CARECALL_SKIP_PG").as_deref() == Ok("1") {
            eprintln!();
            eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
            eprintln!("!!! CARECALL_SKIP_PG=1: PostgreSQL tests SKIPPED, nothing checked !!!");
            eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
            return None;
        }
        if let Ok(url) = std::env::var("CARECALL_TEST_PG_URL") {
            return Some(PgServer {
                admin_url: url,
                cluster: None,
            });
        }
        Some(Self::start_cluster())
    }

    fn start_cluster() -> PgServer {
        let bin = find_bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL binaries (initdb, pg_ctl) not found: install postgresql \
                 (apt-get install postgresql), set CARECALL_PG_BIN, point \
                 CARECALL_TEST_PG_URL at a server, or set CARECALL_SKIP_PG=1 to skip"
            )
        });
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("carecall-pg-")
            .tempdir()
            .expect("temp dir for PostgreSQL");
        if as_postgres {
            give_to_postgres(dir.path());
        }
        let cluster = Cluster {
            dir,
            bin,
            as_postgres,
        };
        let data = cluster.data_dir();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", describe(&out));

        // A free port can be taken between our probe and the server's bind: retry.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let sock = cluster.dir.path().join("sock");
            std::fs::create_dir_all(&sock).expect("socket dir");
            if cluster.as_postgres {
                give_to_postgres(&sock);
            }
            let server_opts = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off",
                sock.display()
            );
            let log = cluster.dir.path().join("server.log");
            let out = cluster.run(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &server_opts,
                    "start",
                ],
            );
            if out.status.success() {
                return PgServer {
                    admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    cluster: Some(cluster),
                };
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            last = format!("{}\nserver log:\n{log_text}", describe(&out));
        }
        panic!("pg_ctl start failed three times: {last}");
    }

    /// Creates an empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let name = format!("carecall_test_{}_{n}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to test PostgreSQL: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        with_database(&self.admin_url, &name)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            let data = cluster.data_dir();
            let _ = cluster.run(
                "pg_ctl",
                &["-D", path_str(&data), "-m", "immediate", "-w", "stop"],
            );
            // The TempDir removes the files when `cluster` drops.
        }
    }
}

impl Cluster {
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a PostgreSQL binary, as the `postgres` user when we are root.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
    }
}

/// `url` with its database (path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CARECALL_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    // Debian: /usr/lib/postgresql/<major>/bin; take the newest major.
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    bin.join("initdb").exists().then_some(bin)
}

fn is_root() -> bool {
    id(&["-u"]) == 0
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("run id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("id {args:?}: {}", describe(&out)))
}

fn give_to_postgres(path: &Path) {
    let uid = id(&["-u", "postgres"]);
    let gid = id(&["-g", "postgres"]);
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn database_is_swapped_in_urls() {
    assert_eq!(
        with_database("postgres://u:p@h:5/postgres?sslmode=disable", "t1"),
        "postgres://u:p@h:5/t1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "t2"), "postgres://h/t2");
}
