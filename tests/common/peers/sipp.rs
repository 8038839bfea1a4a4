//! sipp (sip-tester) as the carrier trunk: one scenario from tests/peers/sipp/, `-m 1`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::{Peer, free_port_block, peers_dir, read_lossy, tail, wait_listening};

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
        Sipp::start_calls(dir, scenario, keys, transport, 1)
    }

    /// As [`Sipp::start`], answering up to `calls` calls (concurrently) before exiting.
    pub fn start_calls(
        dir: &Path,
        scenario: &str,
        keys: &[(&str, &str)],
        transport: Transport,
        calls: u32,
    ) -> Sipp {
        Sipp::start_with(dir, scenario, keys, transport, calls, &[])
    }

    /// As [`Sipp::start_calls`], with further sipp arguments (`-d MS`: the
    /// length of a scenario's `<pause/>`).
    pub fn start_with(
        dir: &Path,
        scenario: &str,
        keys: &[(&str, &str)],
        transport: Transport,
        calls: u32,
        extra: &[&str],
    ) -> Sipp {
        let base = free_port_block(8);
        let (port, media_port) = (base, base + 2);
        let mut cmd = Command::new("/usr/bin/sipp");
        cmd.arg("-sf")
            .arg(peers_dir().join("sipp").join(scenario))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args([
                "-m",
                &calls.to_string(),
                "-nostdin",
                "-timeout",
                "240",
                "-timeout_error",
            ])
            .args(["-trace_msg", "-message_file", "sipp_messages.log"])
            .args(["-trace_logs", "-log_file", "sipp_logs.log"])
            .args(["-trace_err", "-error_file", "sipp_errors.log"]);
        if transport == Transport::Tcp {
            cmd.args(["-t", "t1"]);
        }
        for (k, v) in keys {
            cmd.args(["-key", k, v]);
        }
        cmd.args(extra);
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
