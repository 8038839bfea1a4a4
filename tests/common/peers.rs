//! Real peers for carecall's integration tests: sipp as the carrier trunk, baresip as the
//! called phone, and `carecall call` itself as a subprocess.
//!
//! Every test gets its own directory (`target/tmp/peers/<test>`, wiped at start and kept
//! afterwards for post-mortems), its own ports and its own database, so tests run in
//! parallel. Peers are stopped by PID when their handle drops, even when a test panics.
//! Fixtures (pcaps, microphone WAVs, baresip ctrl steps) come from
//! `tests/peers/make-fixtures.sh`, which runs once per checkout (it is stamped).

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

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
// sipp

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn config_name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// sipp running one scenario from `tests/peers/sipp/` as the trunk (UAS, `-m 1`).
pub struct Sipp {
    pub peer: Peer,
    pub port: u16,
    pub media_port: u16,
    pub transport: Transport,
    pub dir: PathBuf,
}

/// What sipp left behind: exit status and its trace files.
pub struct SippOutcome {
    pub status: Option<ExitStatus>,
    pub log: String,
    pub messages: String,
    pub errors: String,
    pub messages_path: PathBuf,
}

impl Sipp {
    /// Starts `/usr/bin/sipp -sf tests/peers/sipp/<scenario>` with `-key k v` pairs, on a
    /// fresh port block, and waits until it listens.
    pub fn start(dir: &Path, scenario: &str, keys: &[(&str, &str)], transport: Transport) -> Sipp {
        let base = free_port_block(8);
        let (port, media_port) = (base, base + 2);
        let mut cmd = Command::new("/usr/bin/sipp");
        cmd.arg("-sf")
            .arg(peers_dir().join("sipp").join(scenario))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "240", "-timeout_error"])
            .args(["-trace_msg", "-message_file", "sipp_messages.log"])
            .args(["-trace_logs", "-log_file", "sipp_logs.log"])
            .args(["-trace_err", "-error_file", "sipp_errors.log"]);
        if transport == Transport::Tcp {
            cmd.args(["-t", "t1"]);
        }
        for (k, v) in keys {
            cmd.args(["-key", k, v]);
        }
        let peer = Peer::spawn("sipp", dir, &mut cmd);
        let mut sipp = Sipp {
            peer,
            port,
            media_port,
            transport,
            dir: dir.to_path_buf(),
        };
        if !wait_listening(port, transport == Transport::Udp, Duration::from_secs(10)) {
            let st = sipp.peer.wait_timeout(Duration::ZERO);
            panic!(
                "sipp did not listen on {port} (exit {st:?}): {}",
                read_lossy(&dir.join("sipp.stderr"))
            );
        }
        sipp
    }

    /// The trunk URI carecall should send its INVITEs to.
    pub fn trunk_uri(&self) -> String {
        match self.transport {
            Transport::Udp => format!("sip:127.0.0.1:{}", self.port),
            Transport::Tcp => format!("sip:127.0.0.1:{};transport=tcp", self.port),
        }
    }

    pub fn wait(&mut self, timeout: Duration) -> SippOutcome {
        let status = self.peer.wait_timeout(timeout);
        let d = &self.dir;
        SippOutcome {
            status,
            log: read_lossy(&d.join("sipp_logs.log")),
            messages: read_lossy(&d.join("sipp_messages.log")),
            errors: read_lossy(&d.join("sipp_errors.log")),
            messages_path: d.join("sipp_messages.log"),
        }
    }
}

impl SippOutcome {
    /// sipp exited 0: every scenario check passed (`check_it` regexps, verifyauth, no
    /// unexpected message).
    pub fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Value of the last `NAME <ms>` line logged by the scenario (`[clock_tick]`).
    fn tick(&self, name: &str) -> Option<f64> {
        self.log
            .lines()
            .filter_map(|l| l.trim().strip_prefix(name))
            .filter_map(|rest| rest.trim().parse::<f64>().ok())
            .next_back()
    }

    /// Seconds from the ACK of the 200 OK to the BYE (received, or sent by sipp).
    pub fn answered_secs(&self) -> Option<f64> {
        let start = self.tick("PEER_ANSWERED ")?;
        let end = self
            .tick("PEER_BYE ")
            .or_else(|| self.tick("PEER_SENT_BYE "))?;
        Some((end - start) / 1000.0)
    }

    /// Whether the BYE came from the caller (carecall hung up) rather than from sipp.
    pub fn caller_hung_up(&self) -> bool {
        self.tick("PEER_BYE ").is_some()
    }

    /// Count of SIP requests with this method that sipp received (in `-trace_msg`, each
    /// message follows a "... message received [n] bytes :" line and a blank line).
    pub fn requests_received(&self, method: &str) -> usize {
        let prefix = format!("{method} ");
        let mut n = 0;
        let mut lines = self.messages.lines();
        while let Some(l) = lines.next() {
            if l.contains("message received")
                && lines
                    .by_ref()
                    .find(|x| !x.trim().is_empty())
                    .is_some_and(|first| first.starts_with(&prefix))
            {
                n += 1;
            }
        }
        n
    }

    pub fn describe(&self) -> String {
        format!(
            "sipp exit {:?}\n--- sipp errors:\n{}\n--- sipp log:\n{}",
            self.status,
            tail(&self.errors, 30),
            tail(&self.log, 30)
        )
    }
}

/// Recomputes the RFC 2617/7616 digest of each (Proxy-)Authorization in a sipp message
/// log with `tests/peers/tools/digest_check.py`; true if all verify with `password`.
pub fn digest_verifies(messages_log: &Path, password: &str) -> (bool, String) {
    let out = Command::new("python3")
        .arg(peers_dir().join("tools/digest_check.py"))
        .arg(messages_log)
        .arg(password)
        .output()
        .expect("run digest_check.py");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

// ---------------------------------------------------------------------------------------
// baresip

/// How the phone sends the survey's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneDtmf {
    /// RFC 4733 events, sent with ctrl_tcp `/sndcode` at the timeline's times.
    Rfc4733,
    /// DTMF tones mixed into the microphone WAV.
    InBand,
}

/// baresip 1.0 as an auto-answering phone, plus `baresip_ctrl.py` connected to its
/// ctrl_tcp port (connected before the call: ctrl_tcp does not replay past events).
pub struct Baresip {
    pub peer: Peer,
    pub ctrl: Peer,
    pub sip_port: u16,
    pub ctrl_port: u16,
    pub rec_dir: PathBuf,
    pub dir: PathBuf,
}

pub struct BaresipOutcome {
    pub ctrl_status: Option<ExitStatus>,
    pub ctrl_log: String,
    /// ctrl-clock seconds of CALL_ESTABLISHED and CALL_CLOSED.
    pub established_at: Option<f64>,
    pub closed_at: Option<f64>,
    /// `dump-*-dec.wav`: what the phone heard.
    pub heard: Vec<PathBuf>,
}

impl Baresip {
    pub fn start(dir: &Path, dtmf: PhoneDtmf) -> Baresip {
        let fx = fixtures();
        // baresip's sip_listen PORT also takes PORT+1 (SIP over TLS): keep ctrl off it.
        let base = free_port_block(12);
        let (sip_port, ctrl_port) = (base, base + 2);
        let cfg = dir.join("baresip");
        let rec_dir = dir.join("phone-rec");
        fs::create_dir_all(&cfg).unwrap();
        fs::create_dir_all(&rec_dir).unwrap();
        let mic = match dtmf {
            PhoneDtmf::Rfc4733 => fx.join("mic_speech.wav"),
            PhoneDtmf::InBand => fx.join("mic_inband.wav"),
        };
        let fill = |tmpl: &str| {
            read_lossy(&peers_dir().join("baresip").join(tmpl))
                .replace("@SIP_PORT@", &sip_port.to_string())
                .replace("@CTRL_PORT@", &ctrl_port.to_string())
                .replace("@RTP_PORTS@", &format!("{}-{}", base + 4, base + 11))
                .replace("@MIC@", &mic.to_string_lossy())
                .replace("@REC@", &rec_dir.to_string_lossy())
        };
        fs::write(cfg.join("config"), fill("config.tmpl")).unwrap();
        fs::write(cfg.join("accounts"), fill("accounts.tmpl")).unwrap();
        let peer = Peer::spawn(
            "baresip",
            dir,
            Command::new("/usr/bin/baresip").arg("-f").arg(&cfg),
        );
        assert!(
            wait_listening(ctrl_port, false, Duration::from_secs(10))
                && wait_listening(sip_port, true, Duration::from_secs(5)),
            "baresip did not come up: {}",
            tail(&read_lossy(&dir.join("baresip.stdout")), 20)
        );
        let steps: Vec<String> = match dtmf {
            PhoneDtmf::Rfc4733 => read_lossy(&fx.join("ctrl_steps.txt"))
                .lines()
                .map(str::to_string)
                .collect(),
            PhoneDtmf::InBand => vec![
                "wait:CALL_ESTABLISHED:60".into(),
                "wait:CALL_CLOSED:150".into(),
            ],
        };
        let ctrl = Peer::spawn(
            "ctrl",
            dir,
            Command::new("python3")
                .arg("-u")
                .arg(peers_dir().join("tools/baresip_ctrl.py"))
                .args(["--port", &ctrl_port.to_string(), "--exit-on-close"])
                .args(&steps),
        );
        // Let the client connect before anyone calls (python start-up + connect).
        thread::sleep(Duration::from_millis(800));
        Baresip {
            peer,
            ctrl,
            sip_port,
            ctrl_port,
            rec_dir,
            dir: dir.to_path_buf(),
        }
    }

    /// The address carecall dials (directly, no trunk in between).
    pub fn uri(&self) -> String {
        format!("sip:callee@127.0.0.1:{}", self.sip_port)
    }

    /// Waits for the ctrl script (it ends on CALL_CLOSED), then stops baresip gracefully.
    pub fn finish(&mut self, timeout: Duration) -> BaresipOutcome {
        let ctrl_status = self.ctrl.wait_timeout(timeout);
        thread::sleep(Duration::from_millis(500));
        self.peer.terminate(Duration::from_secs(3));
        let ctrl_log = read_lossy(&self.dir.join("ctrl.stdout"));
        let at = |ev: &str| {
            ctrl_log
                .lines()
                .filter(|l| l.contains(&format!("\"type\": \"{ev}\"")))
                .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
                .next()
        };
        let mut heard: Vec<PathBuf> = fs::read_dir(&self.rec_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                    .collect()
            })
            .unwrap_or_default();
        heard.sort();
        BaresipOutcome {
            ctrl_status,
            established_at: at("CALL_ESTABLISHED"),
            closed_at: at("CALL_CLOSED"),
            ctrl_log,
            heard,
        }
    }
}

impl BaresipOutcome {
    pub fn answered_secs(&self) -> Option<f64> {
        Some(self.closed_at? - self.established_at?)
    }
}

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
url = "sqlite://{db}"

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
            db = db.display(),
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
    let started = Instant::now();
    let mut peer = Peer::spawn("carecall", dir, &mut cmd);
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

// ---------------------------------------------------------------------------------------
// Recordings

pub struct WavStats {
    pub channels: u16,
    pub sample_rate: u32,
    pub seconds: f64,
    /// RMS of each channel over the whole file, in 16-bit sample units (0..32768).
    pub rms: Vec<f64>,
    /// Loudest 20 ms window of each channel, RMS in sample units.
    pub peak_window_rms: Vec<f64>,
}

/// Reads a PCM WAV (16-bit int or 32-bit float) with hound and measures each channel.
pub fn wav_stats(path: &Path) -> WavStats {
    let mut r =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let spec = r.spec();
    let ch = spec.channels as usize;
    let samples: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let shift = spec.bits_per_sample.saturating_sub(16) as u32;
            r.samples::<i32>()
                .map(|s| (s.expect("wav sample") >> shift) as f64)
                .collect()
        }
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.expect("wav sample") as f64 * 32768.0)
            .collect(),
    };
    let frames = samples.len() / ch.max(1);
    let window = (spec.sample_rate as usize / 50).max(1);
    let mut sum = vec![0.0; ch];
    let mut win = vec![0.0; ch];
    let mut peak = vec![0.0f64; ch];
    for (i, frame) in samples.chunks(ch).enumerate() {
        for (c, s) in frame.iter().enumerate() {
            sum[c] += s * s;
            win[c] += s * s;
        }
        if (i + 1) % window == 0 {
            for c in 0..ch {
                peak[c] = peak[c].max((win[c] / window as f64).sqrt());
                win[c] = 0.0;
            }
        }
    }
    WavStats {
        channels: spec.channels,
        sample_rate: spec.sample_rate,
        seconds: frames as f64 / spec.sample_rate as f64,
        rms: sum
            .iter()
            .map(|s| (s / frames.max(1) as f64).sqrt())
            .collect(),
        peak_window_rms: peak,
    }
}

pub fn sha256_hex(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

// ---------------------------------------------------------------------------------------
// Database

/// Every row, in any table of the SQLite DB, where some column's value (as text) equals
/// `needle` — the schema belongs to the store module, so the tests only assume that the
/// call's row carries the `call_id` that `carecall call` printed. Values become JSON.
pub fn sqlite_rows_with(db: &Path, needle: &str) -> Vec<(String, serde_json::Map<String, Value>)> {
    use sqlx::{Column, Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        let mut found = Vec::new();
        for t in tables {
            // Table names come from sqlite_master and are quoted: no injection surface.
            let sql = format!("SELECT * FROM \"{}\"", t.replace('"', "\"\""));
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .expect("select");
            for row in rows {
                let mut obj = serde_json::Map::new();
                for (i, col) in row.columns().iter().enumerate() {
                    let v = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                        v.map(Value::from).unwrap_or(Value::Null)
                    } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                        v.map(Value::from).unwrap_or(Value::Null)
                    } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                        v.map(Value::from).unwrap_or(Value::Null)
                    } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        v.map(|b| Value::from(hex::encode(b))).unwrap_or(Value::Null)
                    } else {
                        Value::Null
                    };
                    obj.insert(col.name().to_string(), v);
                }
                if obj.values().any(|v| value_text(v) == needle) {
                    found.push((t.clone(), obj));
                }
            }
        }
        found
    })
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
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

// ---------------------------------------------------------------------------------------
// Assertions shared by the trunk and phone tests

/// RMS (16-bit units) a channel must exceed to count as "carries audio": G.711 silence
/// decodes to 0 (µ-law 0xFF) or ±8 (A-law 0xD5); speech and prompts sit in the thousands.
pub const AUDIO_RMS: f64 = 40.0;
/// Loudest 20 ms window a channel must reach (speech peaks, not just noise).
pub const AUDIO_PEAK_RMS: f64 = 300.0;

/// The outcome every finished call must report, also when it failed: a parsable JSON
/// object with this disposition and SIP code, a clean exit (no signal, so no crash) whose
/// code matches the contract, a one-line reason on stderr when non-zero, and a DB row.
pub fn expect_outcome(run: &CallRun, disposition: &str, sip_codes: &[Option<u64>]) {
    let d = run.describe();
    let status = run
        .status
        .unwrap_or_else(|| panic!("carecall did not finish\n{d}"));
    assert!(
        status.code().is_some(),
        "carecall died by a signal: {status}\n{d}"
    );
    assert!(run.json.is_object(), "no JSON object on stdout\n{d}");
    assert_eq!(run.disposition(), disposition, "disposition\n{d}");
    assert!(
        sip_codes.contains(&run.sip_code()),
        "sip_code {:?}, expected one of {sip_codes:?}\n{d}",
        run.json["sip_code"]
    );
    if disposition == "completed" {
        assert!(status.success(), "completed call must exit 0\n{d}");
    } else {
        assert!(!status.success(), "{disposition} must exit non-zero\n{d}");
        assert!(
            run.stderr.lines().any(|l| !l.trim().is_empty()),
            "a failed call must say why on stderr\n{d}"
        );
    }
    expect_db_row(run);
}

/// The call is in the database under the `call_id` it printed, with its disposition.
pub fn expect_db_row(run: &CallRun) {
    let d = run.describe();
    let call_id = value_text(&run.json["call_id"]);
    assert!(!call_id.is_empty(), "no call_id in the JSON\n{d}");
    let rows = sqlite_rows_with(&run.db_path(), &call_id);
    assert!(!rows.is_empty(), "no DB row holds call_id {call_id}\n{d}");
    let disp = run.disposition();
    assert!(
        rows.iter()
            .any(|(_, r)| r.values().any(|v| value_text(v) == disp)),
        "no DB row for {call_id} records disposition {disp}: {rows:?}\n{d}"
    );
}

/// The survey timeline's answers (tests/peers/survey-timeline.txt): keys 1, 1, 1, speech,
/// "1","0","#" and speech.
pub fn expect_survey_answers(run: &CallRun) {
    let d = run.describe();
    for (key, want) in [("consent", "1"), ("q1", "1"), ("q2", "1"), ("q4", "10")] {
        assert_eq!(run.answer(key), &Value::from(want), "answer {key}\n{d}");
    }
    for key in ["q3", "q5"] {
        let a = run.answer(key);
        let secs = a["seconds"].as_f64().unwrap_or(0.0);
        assert!(secs > 0.5, "{key}: spoken answer of {secs} s: {a}\n{d}");
        let clip = run.resolve(
            a["clip"]
                .as_str()
                .unwrap_or_else(|| panic!("{key}: no clip: {a}\n{d}")),
        );
        let st = wav_stats(&clip);
        assert!(
            st.seconds > 0.5,
            "{key}: clip {} lasts {} s\n{d}",
            clip.display(),
            st.seconds
        );
        assert!(
            st.peak_window_rms.iter().any(|&p| p > AUDIO_PEAK_RMS),
            "{key}: clip {} holds no speech (peak RMS {:?})\n{d}",
            clip.display(),
            st.peak_window_rms
        );
    }
}

/// The stereo recording: exists, matches its sha256 and `seconds`, both channels carry
/// audio (IVR prompts on one, the callee on the other), and it lasts as long as the call
/// the peer saw, ±`tolerance` s.
pub fn expect_recording(run: &CallRun, peer_secs: f64, tolerance: f64) -> WavStats {
    let d = run.describe();
    let rec = &run.json["recording"];
    let path = run.resolve(
        rec["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no recording.path: {rec}\n{d}")),
    );
    assert!(path.exists(), "recording {} missing\n{d}", path.display());
    assert_eq!(
        rec["sha256"].as_str().map(str::to_ascii_lowercase),
        Some(sha256_hex(&path)),
        "recording sha256\n{d}"
    );
    let st = wav_stats(&path);
    assert_eq!(st.channels, 2, "recording must be stereo\n{d}");
    let json_secs = rec["seconds"].as_f64().unwrap_or(-1.0);
    assert!(
        (json_secs - st.seconds).abs() < 0.25,
        "recording.seconds {json_secs} vs file {}\n{d}",
        st.seconds
    );
    for c in 0..2 {
        assert!(
            st.rms[c] > AUDIO_RMS && st.peak_window_rms[c] > AUDIO_PEAK_RMS,
            "channel {c} of {} is (nearly) silent: rms {:?} peak {:?}\n{d}",
            path.display(),
            st.rms,
            st.peak_window_rms
        );
    }
    assert!(
        (st.seconds - peer_secs).abs() <= tolerance,
        "recording lasts {:.2} s, the peer saw a {peer_secs:.2} s call\n{d}",
        st.seconds
    );
    st
}
