//! The built-in registrar against real peers over loopback: `carecall operator add`
//! creates the accounts, `carecall serve` (with `[registrar] enabled`) answers sipp
//! as an operator's phone (tests/peers/sipp/uac_register_*.xml, digest computed by
//! sipp from -au/-ap) and baresip registering with its own digest code. Bindings
//! are read back with `carecall operator list`.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::peers::*;

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

#[test]
fn register_flood_from_one_address_is_refused_while_others_are_served() {
    let dir = test_dir("registrar_flood");
    // Answering mode: 503 past the rate (the transport drops above 4x it).
    let config = write_config(
        &dir,
        "flood_burst = 10\nflood_per_sec = 1.0\nflood_silent = false\n",
    );
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
    // Banned: even the right password gets no answer at all (dropped at the
    // transport, before a transaction exists).
    assert!(!serve.sipp(
        "banned",
        "uac_register_ok.xml",
        "127.0.0.3",
        &register_keys("lan", "right", "60")
    ));
    let messages = read_lossy(&dir.join("banned_messages.log"));
    assert!(
        !messages.contains("received"),
        "a banned source got an answer: {messages}"
    );
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
