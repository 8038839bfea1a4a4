//! `carecall` subcommands and `carecall serve` as test subprocesses: the same
//! clean environment, the same wait for serve's address line, one place.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use carecall::store::Store;
use serde_json::Value;

use std::path::PathBuf;

use super::{Peer, carecall_bin, manifest_dir, read_lossy, tail};

/// `carecall` in `dir` with `RUST_LOG=log` and none of the caller's
/// `CARECALL_*` variables (a developer's shell must not change a test).
pub fn carecall_in(dir: &Path, log: &str) -> Command {
    let mut cmd = Command::new(carecall_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARECALL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", log).current_dir(dir);
    cmd
}

/// Runs `cmd`; panics with its stderr unless it succeeds; returns its stdout.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A running `carecall serve` and where it listens.
pub struct Served {
    pub peer: Peer,
    /// `http://host:port` of the pages and API.
    pub api: String,
    pub sip: SocketAddr,
}

/// Spawns `cmd` (a `carecall … serve` command) in `dir` and waits up to 20 s
/// for the JSON line serve prints once it listens.
pub fn spawn_serve(dir: &Path, cmd: &mut Command) -> Served {
    let peer = Peer::spawn("serve", dir, cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = read_lossy(&dir.join("serve.stdout"));
        if let Some(v) = out
            .lines()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            return Served {
                peer,
                api: format!("http://{}", v["http"].as_str().unwrap()),
                sip: v["sip"].as_str().unwrap().parse().unwrap(),
            };
        }
        assert!(
            Instant::now() < deadline,
            "serve did not start:\n{}",
            tail(&read_lossy(&dir.join("serve.stderr")), 30)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// A small runtime for the synchronous tests' database reads.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The test's SQLite database (`dir/carecall.db`, as the test configs write it).
pub fn open_store(dir: &Path) -> Store {
    let url = format!("sqlite://{}", dir.join("carecall.db").display());
    rt().block_on(Store::connect(&url))
        .expect("open the test DB")
}

/// tests/browser with playwright-core installed (`npm ci` the first time;
/// scripts/test.sh runs it up front).
pub fn browser_driver_dir() -> PathBuf {
    let dir = manifest_dir().join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("run npm ci in tests/browser");
        assert!(
            out.status.success(),
            "npm ci: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}
