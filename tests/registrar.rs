//! The built-in registrar against real peers over loopback: `carecall operator add`
//! creates the accounts, `carecall serve` (with `[registrar] enabled`) answers sipp
//! as an operator's phone (tests/peers/sipp/uac_register_*.xml, digest computed by
//! sipp from -au/-ap) and baresip registering with its own digest code. Bindings
//! are read back with `carecall operator list`.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::peers::*;
use serde_json::Value;

/// A `carecall serve` with the registrar on, and its SIP port.
struct Serve {
    peer: Peer,
    dir: PathBuf,
    config: PathBuf,
    sip_port: u16,
}

fn carecall(dir: &Path) -> Command {
    carecall_in(dir, "debug")
}

/// The test's config: loopback SIP and API on free ports, the registrar on with
/// `registrar` (TOML lines) added to its section.
fn write_config(dir: &Path, registrar: &str) -> PathBuf {
    let path = CarecallConfig::new("sip:127.0.0.1:9").write(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[http]\nbind = \"127.0.0.1:0\"\n\n[registrar]\nenabled = true\nmin_expires_secs = 1\n{registrar}\n"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn operator_add(dir: &Path, config: &Path, sip_user: &str, password: &str) {
    let out = carecall(dir)
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

fn start_serve(dir: &Path, config: &Path) -> Serve {
    let mut cmd = carecall(dir);
    cmd.arg("--config").arg(config).arg("serve");
    let served = spawn_serve(dir, &mut cmd);
    Serve {
        peer: served.peer,
        dir: dir.to_path_buf(),
        config: config.to_path_buf(),
        sip_port: served.sip.port(),
    }
}

impl Serve {
    /// The contacts bound to `sip_user` now, from `carecall operator list`.
    fn contacts(&self, sip_user: &str) -> Vec<Value> {
        let out = carecall(&self.dir)
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
    fn sipp(&self, run: &str, scenario: &str, local_ip: &str, keys: &[(&str, &str)]) -> bool {
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

    fn alive(&mut self) -> bool {
        self.peer.wait_timeout(Duration::ZERO).is_none()
    }
}

fn register_keys<'a>(
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

#[test]
fn right_password_binds_with_its_expiry_until_it_expires() {
    let dir = test_dir("registrar_ok_expiry");
    let config = write_config(&dir, "");
    operator_add(&dir, &config, "lan", "mật-khẩu 1022");
    let serve = start_serve(&dir, &config);
    let sent = Instant::now();
    assert!(serve.sipp(
        "register",
        "uac_register_ok.xml",
        "127.0.0.1",
        &register_keys("lan", "mật-khẩu 1022", "4")
    ));
    let contacts = serve.contacts("lan");
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    let c = &contacts[0];
    assert!(
        c["contact"]
            .as_str()
            .unwrap()
            .starts_with("sip:lan@127.0.0.1:")
    );
    assert_eq!(c["user_agent"], "sipp-operator");
    assert_eq!(c["transport"], "udp");
    let expires_at = chrono::DateTime::parse_from_rfc3339(c["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let left = expires_at - chrono::Utc::now();
    assert!(
        left > chrono::Duration::zero() && left <= chrono::Duration::seconds(4),
        "binding granted for 4 s, {left} left"
    );
    // The binding is gone once its 4 s are over.
    thread::sleep(
        Duration::from_secs(4).saturating_sub(sent.elapsed()) + Duration::from_millis(500),
    );
    assert!(
        serve.contacts("lan").is_empty(),
        "expired binding still listed"
    );
}

#[test]
fn wrong_password_and_unknown_operator_get_403_and_bind_nothing() {
    let dir = test_dir("registrar_refused");
    let config = write_config(&dir, "");
    operator_add(&dir, &config, "lan", "right");
    let serve = start_serve(&dir, &config);
    assert!(serve.sipp(
        "wrong_password",
        "uac_register_refused.xml",
        "127.0.0.1",
        &register_keys("lan", "wrong", "60")
    ));
    assert!(serve.sipp(
        "unknown_user",
        "uac_register_refused.xml",
        "127.0.0.1",
        &register_keys("ghost", "whatever", "60")
    ));
    assert!(serve.contacts("lan").is_empty());
}

/// A hand-made REGISTER without credentials.
fn bare_register(local: SocketAddr, port: u16, i: usize) -> String {
    format!(
        "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-flood-{i}\r\n\
         From: <sip:lan@127.0.0.1>;tag=f{i}\r\nTo: <sip:lan@127.0.0.1>\r\nCall-ID: flood-{i}@x\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:lan@{local}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Status codes of the responses received on `sock` until it is quiet for 1 s.
fn responses(sock: &UdpSocket) -> Vec<u16> {
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

#[test]
fn register_flood_from_one_address_is_refused_while_others_are_served() {
    let dir = test_dir("registrar_flood");
    let config = write_config(&dir, "flood_burst = 10\nflood_per_sec = 1.0\n");
    operator_add(&dir, &config, "lan", "right");
    let mut serve = start_serve(&dir, &config);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", serve.sip_port)).unwrap();
    let local = sock.local_addr().unwrap();
    for i in 0..200 {
        sock.send(bare_register(local, serve.sip_port, i).as_bytes())
            .unwrap();
    }
    let codes = responses(&sock);
    let challenged = codes.iter().filter(|&&c| c == 401).count();
    let refused = codes.iter().filter(|&&c| c == 503).count();
    assert!(
        (10..=13).contains(&challenged),
        "about the burst is served: {challenged} × 401"
    );
    assert!(refused >= 150, "the rest is refused with 503: {refused}");

    // Another address registers and pings normally meanwhile.
    assert!(serve.sipp(
        "other_register",
        "uac_register_ok.xml",
        "127.0.0.2",
        &register_keys("lan", "right", "60")
    ));
    assert!(serve.sipp(
        "other_options",
        "uac_register_options.xml",
        "127.0.0.2",
        &[]
    ));
    assert_eq!(serve.contacts("lan").len(), 1);
    assert!(serve.alive());
}

#[test]
fn failed_authentications_ban_the_source() {
    let dir = test_dir("registrar_ban");
    let config = write_config(&dir, "ban_after_failures = 3\nban_secs = 600\n");
    operator_add(&dir, &config, "lan", "right");
    let serve = start_serve(&dir, &config);
    for i in 0..3 {
        assert!(serve.sipp(
            &format!("guess{i}"),
            "uac_register_refused.xml",
            "127.0.0.3",
            &register_keys("lan", "guess", "60")
        ));
    }
    // Banned: even the right password is refused (403 before any challenge).
    assert!(!serve.sipp(
        "banned",
        "uac_register_ok.xml",
        "127.0.0.3",
        &register_keys("lan", "right", "60")
    ));
    let errors = read_lossy(&dir.join("banned_errors.log"));
    assert!(errors.contains("403"), "{errors}");
    assert!(serve.contacts("lan").is_empty());
    assert!(serve.sipp(
        "other",
        "uac_register_ok.xml",
        "127.0.0.1",
        &register_keys("lan", "right", "60")
    ));
}

#[test]
fn garbage_is_answered_400_or_dropped_and_carecall_lives_on() {
    let dir = test_dir("registrar_garbage");
    let config = write_config(&dir, "");
    let mut serve = start_serve(&dir, &config);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", serve.sip_port)).unwrap();
    let local = sock.local_addr().unwrap();
    let good = bare_register(local, serve.sip_port, 1);
    let bad_contact = good.replace(&format!("<sip:lan@{local}>"), "garbage<<\"");
    let bad_expires = good.replace("Max-Forwards", "Expires: soon\r\nMax-Forwards");
    let no_user = good.replace("To: <sip:lan@127.0.0.1>", "To: <sip:127.0.0.1>");
    let junk: [&[u8]; 3] = [
        b"\x00\xff garbage \r\n\r\n",
        b"REGISTER\r\n\r\n",
        b"REGISTER sip:x SIP/2.0\r\nVia: nonsense\r\nContent-Length: 99999\r\n\r\n",
    ];
    for (i, msg) in [bad_contact, bad_expires, no_user].iter().enumerate() {
        let msg = msg.replace("branch=z9hG4bK-flood-1", &format!("branch=z9hG4bK-bad-{i}"));
        sock.send(msg.as_bytes()).unwrap();
    }
    for j in junk {
        sock.send(j).unwrap();
    }
    let codes = responses(&sock);
    assert!(
        codes.iter().all(|&c| c == 400),
        "malformed REGISTERs get 400 or nothing: {codes:?}"
    );
    assert!(
        codes.len() >= 3,
        "each parseable one is answered 400: {codes:?}"
    );
    assert!(serve.sipp("alive", "uac_register_options.xml", "127.0.0.1", &[]));
    assert!(serve.alive());
}

#[test]
fn baresip_registers_as_an_operator() {
    let dir = test_dir("registrar_baresip");
    let config = write_config(&dir, "");
    operator_add(&dir, &config, "op7", "baresip-pw");
    let serve = start_serve(&dir, &config);

    let base = free_port_block(12);
    let cfg = dir.join("baresip");
    std::fs::create_dir_all(&cfg).unwrap();
    let config_text = read_lossy(&peers_dir().join("baresip/config.tmpl"))
        .replace("@SIP_PORT@", &base.to_string())
        .replace("@CTRL_PORT@", &(base + 2).to_string())
        .replace("@RTP_PORTS@", &format!("{}-{}", base + 4, base + 11))
        .replace("@MIC@", "/dev/null")
        .replace("@REC@", &dir.to_string_lossy());
    std::fs::write(cfg.join("config"), config_text).unwrap();
    // Registers every 60 s (regint) with digest auth; auth_user defaults to the AOR user.
    std::fs::write(
        cfg.join("accounts"),
        format!(
            "<sip:op7@127.0.0.1:{}>;auth_pass=baresip-pw;regint=60;answermode=auto;audio_codecs=PCMU,PCMA\n",
            serve.sip_port
        ),
    )
    .unwrap();
    let mut baresip = Peer::spawn(
        "baresip",
        &dir,
        Command::new("/usr/bin/baresip").arg("-f").arg(&cfg),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let contacts = loop {
        let c = serve.contacts("op7");
        if !c.is_empty() || Instant::now() > deadline {
            break c;
        }
        thread::sleep(Duration::from_millis(300));
    };
    baresip.terminate(Duration::from_secs(3));
    assert_eq!(
        contacts.len(),
        1,
        "baresip did not register: {}",
        tail(&read_lossy(&dir.join("baresip.stdout")), 20)
    );
    let c = &contacts[0];
    assert!(
        c["contact"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{base}")),
        "{c}"
    );
    assert!(
        c["user_agent"].as_str().unwrap_or("").contains("baresip"),
        "{c}"
    );
    assert_eq!(c["source"], format!("127.0.0.1:{base}"));
}
