//! Real peers for carecall's integration tests: sipp as the carrier trunk, baresip as the
//! called phone, and `carecall call` itself as a subprocess.
//!
//! Every test gets its own directory (`target/tmp/peers/<test>`, wiped at start and kept
//! afterwards for post-mortems), its own ports and its own database, so tests run in
//! parallel. Peers are stopped by PID when their handle drops, even when a test panics.
//! Fixtures (pcaps, microphone WAVs, baresip ctrl steps) come from
//! `tests/peers/make-fixtures.sh`, which runs once per checkout (it is stamped).

mod baresip;
mod carecall;
mod checks;
mod registrar;
mod serve;
mod sipp;
mod wav_db;

pub use baresip::*;
pub use carecall::*;
pub use checks::*;
pub use registrar::*;
pub use serve::*;
pub use sipp::*;
pub use wav_db::*;

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The package root (integration tests run with this as their working directory).
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/peers/`: scenarios, templates, tools.
pub fn peers_dir() -> PathBuf {
    manifest_dir().join("tests/peers")
}

/// Generated fixtures; runs `make-fixtures.sh` the first time in this process (the script
/// itself skips work when its stamp is current and serialises concurrent runs with flock).
pub fn fixtures() -> PathBuf {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !*done {
        let out = Command::new(peers_dir().join("make-fixtures.sh"))
            .output()
            .expect("run tests/peers/make-fixtures.sh");
        assert!(
            out.status.success(),
            "make-fixtures.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        *done = true;
    }
    peers_dir().join("fixtures")
}

/// A fresh per-test directory under cargo's target tmp dir; kept after the test.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("peers")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create test dir");
    dir
}

// ---------------------------------------------------------------------------------------
// Ports

/// Local ports that appear in /proc/net/{tcp,udp}, in any state. TIME_WAIT matters: a peer
/// that binds without SO_REUSEADDR (baresip's ctrl_tcp) fails on a port that a previous
/// run's connection still holds.
fn ports_in_use() -> HashSet<u16> {
    let mut used = HashSet::new();
    for table in [
        "/proc/net/tcp",
        "/proc/net/udp",
        "/proc/net/tcp6",
        "/proc/net/udp6",
    ] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let local = line.split_whitespace().nth(1).unwrap_or("");
            if let Some(port) = local.rsplit(':').next()
                && let Ok(p) = u16::from_str_radix(port, 16)
            {
                used.insert(p);
            }
        }
    }
    used
}

fn bindable(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `n` consecutive ports on 127.0.0.1 free for both UDP and TCP; returns the first.
///
/// Blocks come from 10000–32000 (below Linux's ephemeral range, so `bind(:0)` sockets of
/// other processes do not land in them), starting at an offset derived from the PID and
/// never handed out twice in one process.
pub fn free_port_block(n: u16) -> u16 {
    const LO: u16 = 10_000;
    const HI: u16 = 32_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        LO + ((std::process::id() % 1000) as u16) * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..2000 {
        let mut base = NEXT.fetch_add(n.max(2), Ordering::SeqCst);
        if base < LO || base + n > HI {
            NEXT.store(LO + n, Ordering::SeqCst);
            base = LO;
        }
        let used = ports_in_use();
        if (base..base + n).all(|p| !used.contains(&p) && bindable(p)) {
            return base;
        }
    }
    panic!("no block of {n} free ports on 127.0.0.1");
}

pub fn free_udp_port() -> u16 {
    free_port_block(1)
}

pub fn free_tcp_port() -> u16 {
    free_port_block(1)
}

/// Waits until something listens on 127.0.0.1:`port` (our own bind attempt fails).
pub fn wait_listening(port: u16, udp: bool, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        let taken = if udp {
            UdpSocket::bind(("127.0.0.1", port)).is_err()
        } else {
            TcpListener::bind(("127.0.0.1", port)).is_err()
        };
        if taken {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

// ---------------------------------------------------------------------------------------
// Processes

/// A child process with stdout/stderr in files of the test directory; killed on drop.
pub struct Peer {
    pub name: String,
    pub child: Child,
    pub started: Instant,
    status: Option<ExitStatus>,
}

impl Peer {
    pub fn spawn(name: &str, dir: &Path, cmd: &mut Command) -> Peer {
        let out = fs::File::create(dir.join(format!("{name}.stdout"))).expect("stdout file");
        let err = fs::File::create(dir.join(format!("{name}.stderr"))).expect("stderr file");
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({cmd:?}): {e}"));
        Peer {
            name: name.to_string(),
            child,
            started: Instant::now(),
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for exit; `None` on timeout (the process keeps running until drop).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.status {
                return Some(st);
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (lets baresip close its WAV dumps), then SIGKILL after `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        if self.wait_timeout(Duration::ZERO).is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        if self.wait_timeout(grace).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Small utilities

pub fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

pub fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Lines of a file as they are appended (for debugging long runs); not used by asserts.
pub fn grep_file(path: &Path, needle: &str) -> Vec<String> {
    fs::File::open(path)
        .map(|f| {
            BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter(|l| l.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}
