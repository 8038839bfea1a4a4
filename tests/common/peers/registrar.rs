//! The registrar's test harness: `carecall serve` with `[registrar]` on,
//! operator accounts, sipp as an operator's phone, raw UDP requests.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::*;

/// A `carecall serve` with the registrar on, and its SIP port.
pub struct Serve {
    pub peer: Peer,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub sip_port: u16,
    pub api: String,
}

pub fn carecall_debug(dir: &Path) -> Command {
    carecall_in(dir, "debug")
}

/// The test's config: loopback SIP and API on free ports, the registrar on with
/// `registrar` (TOML lines) added to its section.
pub fn write_config(dir: &Path, registrar: &str) -> PathBuf {
    let path = CarecallConfig::new("sip:127.0.0.1:9").write(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[http]\nbind = \"127.0.0.1:0\"\n\n[registrar]\nenabled = true\nmin_expires_secs = 1\n{registrar}\n"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

pub fn operator_add(dir: &Path, config: &Path, sip_user: &str, password: &str) {
    let out = carecall_debug(dir)
        .arg("--config")
        .arg(config)
        .args([
            "operator",
            "add",
            &format!("{sip_user}.login"),
            "--sip-user",
        ])
        .arg(sip_user)
        .args(["--name", "Trần Thị Lan", "--unit", "DT"])
        .env("CARECALL_OPERATOR_PASSWORD", password)
        .output()
        .expect("run carecall operator add");
    assert!(
        out.status.success(),
        "operator add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("operator JSON");
    assert_eq!(v["sip_user"], sip_user);
    assert!(v.get("sip_ha1").is_none(), "the HA1 is not printed: {v}");
}

pub fn start_serve(dir: &Path, config: &Path) -> Serve {
    start_serve_with(dir, config, "debug", &[])
}

/// `carecall serve` with `RUST_LOG=log` and extra `CARECALL_*` variables.
pub fn start_serve_with(dir: &Path, config: &Path, log: &str, env: &[(&str, &str)]) -> Serve {
    let mut cmd = carecall_in(dir, log);
    cmd.arg("--config").arg(config).arg("serve");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let served = spawn_serve(dir, &mut cmd);
    Serve {
        peer: served.peer,
        dir: dir.to_path_buf(),
        config: config.to_path_buf(),
        sip_port: served.sip.port(),
        api: served.api,
    }
}

impl Serve {
    /// The contacts bound to `sip_user` now, from `carecall operator list`.
    pub fn contacts(&self, sip_user: &str) -> Vec<Value> {
        let out = carecall_debug(&self.dir)
            .arg("--config")
            .arg(&self.config)
            .args(["operator", "list"])
            .output()
            .expect("run carecall operator list");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["operator"]["sip_user"] == sip_user)
            .map(|v| v["contacts"].as_array().cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Runs one sipp UAC scenario from `local_ip`; true if it passed.
    pub fn sipp(&self, run: &str, scenario: &str, local_ip: &str, keys: &[(&str, &str)]) -> bool {
        let mut cmd = Command::new("/usr/bin/sipp");
        cmd.arg(format!("127.0.0.1:{}", self.sip_port))
            .arg("-sf")
            .arg(peers_dir().join("sipp").join(scenario))
            .args(["-i", local_ip, "-p", &free_udp_port().to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "20", "-timeout_error"])
            .args([
                "-trace_msg",
                "-message_file",
                &format!("{run}_messages.log"),
            ])
            .args(["-trace_err", "-error_file", &format!("{run}_errors.log")]);
        for (k, v) in keys {
            match *k {
                "au" | "ap" => cmd.args([format!("-{k}"), v.to_string()]),
                _ => cmd.args(["-key", k, v]),
            };
        }
        let mut peer = Peer::spawn(run, &self.dir, &mut cmd);
        let status = peer.wait_timeout(Duration::from_secs(30));
        let ok = status.is_some_and(|s| s.success());
        if !ok {
            eprintln!(
                "sipp {run} failed ({status:?}):\n{}",
                tail(&read_lossy(&self.dir.join(format!("{run}_errors.log"))), 20)
            );
        }
        ok
    }

    pub fn alive(&mut self) -> bool {
        self.peer.wait_timeout(Duration::ZERO).is_none()
    }
}

pub fn register_keys<'a>(
    user: &'a str,
    password: &'a str,
    expires: &'a str,
) -> [(&'a str, &'a str); 4] {
    [
        ("user", user),
        ("au", user),
        ("ap", password),
        ("expires", expires),
    ]
}

/// A hand-made REGISTER without credentials.
pub fn bare_register(local: SocketAddr, port: u16, i: usize) -> String {
    format!(
        "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-flood-{i}\r\n\
         From: <sip:lan@127.0.0.1>;tag=f{i}\r\nTo: <sip:lan@127.0.0.1>\r\nCall-ID: flood-{i}@x\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:lan@{local}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Status codes of the responses received on `sock` until it is quiet for 1 s.
pub fn responses(sock: &UdpSocket) -> Vec<u16> {
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 4096];
    let mut codes = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        if let Some(code) = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
        {
            codes.push(code);
        }
    }
    codes
}
