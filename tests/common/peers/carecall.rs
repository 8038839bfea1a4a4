//! `carecall call` as a subprocess: per-test config, run, parsed JSON result.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Peer, Transport, free_port_block, manifest_dir, read_lossy, tail};

// ---------------------------------------------------------------------------------------
// carecall

/// The `carecall` binary under test: `$CARECALL_TEST_BIN` if set (e.g. a release build),
/// else cargo's `CARGO_BIN_EXE_carecall`, which exists only once the package has a bin
/// target; until then fall back to where cargo would put it, so the tests compile.
pub fn carecall_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CARECALL_TEST_BIN") {
        return PathBuf::from(p);
    }
    if let Some(p) = option_env!("CARGO_BIN_EXE_carecall") {
        return PathBuf::from(p);
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let profile_dir = tmp.parent().expect("target dir").join("debug");
    profile_dir.join("carecall")
}

/// A carecall config for one test: temp SQLite DB and recordings dir, loopback SIP.
#[derive(Clone, Debug)]
pub struct CarecallConfig {
    pub trunk_uri: String,
    pub username: String,
    pub password: String,
    pub transport: Transport,
    pub ring_timeout_secs: u32,
    pub no_media_timeout_secs: u32,
    pub codecs: Vec<String>,
    /// Database URL; `None`: `sqlite://<dir>/carecall.db`.
    pub database_url: Option<String>,
}

impl CarecallConfig {
    pub fn new(trunk_uri: &str) -> Self {
        CarecallConfig {
            trunk_uri: trunk_uri.to_string(),
            username: String::new(),
            password: String::new(),
            transport: Transport::Udp,
            ring_timeout_secs: 30,
            no_media_timeout_secs: 10,
            codecs: vec!["PCMA".into(), "PCMU".into()],
            database_url: None,
        }
    }

    pub fn with_auth(mut self, user: &str, password: &str) -> Self {
        self.username = user.to_string();
        self.password = password.to_string();
        self
    }

    /// Writes `carecall.toml` into `dir`; the DB is `dir/carecall.db` (created empty so
    /// carecall only has to migrate it), recordings go to `dir/recordings`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let db = dir.join("carecall.db");
        fs::File::create(&db).expect("create db file");
        let rec = dir.join("recordings");
        fs::create_dir_all(&rec).unwrap();
        let rtp = free_port_block(20);
        let codecs: Vec<String> = self.codecs.iter().map(|c| format!("{c:?}")).collect();
        let root = manifest_dir();
        let text = format!(
            r#"[sip]
bind = "127.0.0.1:0"
public_addr = ""

[trunk]
uri = "{uri}"
username = "{user}"
password = "{pass}"
caller_id = "1022"
transport = "{transport}"
register = false
ring_timeout_secs = {ring}
number_format = "national"

[media]
rtp_ports = "{rtp_lo}-{rtp_hi}"
codecs = [{codecs}]
no_media_timeout_secs = {no_media}

[database]
url = "{db_url}"

[recordings]
dir = "{rec}"

[ivr]
dialplans_dir = "{dialplans}"
prompts_dir = "{prompts}"
"#,
            uri = self.trunk_uri,
            user = self.username,
            pass = self.password,
            transport = self.transport.config_name(),
            ring = self.ring_timeout_secs,
            rtp_lo = rtp,
            rtp_hi = rtp + 19,
            codecs = codecs.join(", "),
            no_media = self.no_media_timeout_secs,
            db_url = self
                .database_url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", db.display())),
            rec = rec.display(),
            dialplans = root.join("dialplans").display(),
            prompts = root.join("prompts/vi").display(),
        );
        let path = dir.join("carecall.toml");
        fs::write(&path, text).unwrap();
        path
    }
}

/// One finished `carecall call`.
pub struct CallRun {
    pub status: Option<ExitStatus>,
    /// The JSON object printed on stdout (`Value::Null` if none could be parsed).
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
    /// Wall clock around the process.
    pub wall: Duration,
    pub dir: PathBuf,
}

/// Runs `carecall call TARGET --dialplan survey-1022 --config CONFIG [extra...]` in `dir`
/// with no CARECALL_* variables inherited, killing it after `timeout`.
pub fn carecall_call(
    dir: &Path,
    config: &Path,
    target: &str,
    extra: &[&str],
    timeout: Duration,
) -> CallRun {
    let started = Instant::now();
    let mut peer = carecall_start(dir, config, target, extra);
    let status = peer.wait_timeout(timeout);
    let wall = started.elapsed();
    drop(peer);
    let stdout = read_lossy(&dir.join("carecall.stdout"));
    let stderr = read_lossy(&dir.join("carecall.stderr"));
    let json = parse_last_json(&stdout);
    CallRun {
        status,
        json,
        stdout,
        stderr,
        wall,
        dir: dir.to_path_buf(),
    }
}

/// Starts `carecall call TARGET --dialplan survey-1022 --config CONFIG [extra...]` in `dir`
/// (stdout/stderr to `dir/carecall.std{out,err}`) with no CARECALL_* variables inherited.
pub fn carecall_start(dir: &Path, config: &Path, target: &str, extra: &[&str]) -> Peer {
    let bin = carecall_bin();
    assert!(
        bin.exists(),
        "carecall binary not found at {} (no bin target yet?)",
        bin.display()
    );
    let mut cmd = Command::new(&bin);
    cmd.args(["call", target, "--dialplan", "survey-1022", "--config"])
        .arg(config)
        .args(extra);
    for (k, _) in std::env::vars() {
        if k.starts_with("CARECALL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
    );
    cmd.env("RUST_BACKTRACE", "1");
    Peer::spawn("carecall", dir, &mut cmd)
}

/// The whole stdout as JSON, else its last line that parses as a JSON object.
fn parse_last_json(stdout: &str) -> Value {
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(stdout.trim()) {
        return v;
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| match serde_json::from_str::<Value>(l.trim()) {
            Ok(v @ Value::Object(_)) => Some(v),
            _ => None,
        })
        .unwrap_or(Value::Null)
}

impl CallRun {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn disposition(&self) -> &str {
        self.json["disposition"].as_str().unwrap_or("<none>")
    }

    pub fn sip_code(&self) -> Option<u64> {
        self.json["sip_code"].as_u64()
    }

    pub fn answer(&self, key: &str) -> &Value {
        &self.json["answers"][key]
    }

    /// A path from the JSON: absolute, or relative to carecall's working dir (the test dir).
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("carecall.db")
    }

    pub fn describe(&self) -> String {
        format!(
            "carecall exit {:?} after {:.1}s; artifacts in {}\n--- stdout:\n{}\n--- stderr (tail):\n{}",
            self.status,
            self.wall.as_secs_f64(),
            self.dir.display(),
            self.stdout,
            tail(&self.stderr, 40)
        )
    }
}
