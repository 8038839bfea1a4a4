//! Attacks on a live call from off-path hosts (issue 9, items 4 and 10), against sipp
//! playing the trunk and the citizen (tests/peers/sipp/*.xml), with `carecall call`.
//!
//! * RTP hijack: 127.0.0.2 blasts RFC 4733 "9" (never call again) and audio at every
//!   port of carecall's RTP range from before the INVITE to the end of the call. The
//!   survey must complete with the citizen's real answers, nobody is put on the
//!   do-not-call list, and the attacker receives not one packet (no prompt naming the
//!   dossier leaks to it).
//! * In-dialog injection: 127.0.0.3, knowing the Call-ID and both tags, sends INFO
//!   "9" and BYE. Both get 403 and the call goes on.
//! * NAT rebinding: the citizen's media moves to another port of the SDP's IP; the
//!   latch follows it (after its probation) and a key pressed from there counts.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use carecall::media::dtmf::rfc4733::EventPayload;
use carecall::media::rtp::RtpSender;
use common::peers::*;

const CALL_TIMEOUT: Duration = Duration::from_secs(150);
const TARGET: &str = "0901234567";

/// The dialog as sipp logged it: what an eavesdropper on the signalling path learns.
#[derive(Debug, Clone)]
struct Dialog {
    call_id: String,
    /// From of our INVITE (with our tag) and To of sipp's 200 OK (with its tag).
    ours: String,
    theirs: String,
    /// carecall's SIP address (its Contact) and RTP address (its SDP offer).
    sip: SocketAddr,
    rtp: SocketAddr,
}

/// One message of sipp's `-trace_msg` log starting with `first_line`.
fn message<'a>(log: &'a str, first_line: &str) -> Option<&'a str> {
    let start = log.find(first_line)?;
    let rest = &log[start..];
    let end = rest.find("\n----------").unwrap_or(rest.len());
    Some(&rest[..end])
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `host:port` of the first `sip:user@host:port` in `value`.
fn sip_addr(value: &str) -> Option<SocketAddr> {
    let after = &value[value.find('@')? + 1..];
    let end = after.find([';', '>', ' ']).unwrap_or(after.len());
    after[..end].parse().ok()
}

/// Waits until sipp has answered (its 200 OK with SDP is in the log) and reads the dialog.
fn wait_dialog(dir: &Path, timeout: Duration) -> Dialog {
    let deadline = Instant::now() + timeout;
    loop {
        let log = read_lossy(&dir.join("sipp_messages.log"));
        let parsed = (|| {
            let invite = message(&log, "INVITE sip:")?;
            let ok = message(&log, "SIP/2.0 200 OK")?;
            let media_port: u16 = invite
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            let sip = sip_addr(header(invite, "Contact")?)?;
            Some(Dialog {
                call_id: header(invite, "Call-ID")?.to_string(),
                ours: header(ok, "From")?.to_string(),
                theirs: header(ok, "To")?.to_string(),
                sip,
                rtp: SocketAddr::new(sip.ip(), media_port),
            })
        })();
        if let Some(d) = parsed.filter(|d| d.theirs.contains("tag=")) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "sipp never answered:\n{}",
            tail(&log, 40)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Sends an in-dialog request "from the trunk" out of `socket` and returns the status
/// line of the answer (UDP: sent up to three times).
fn in_dialog(socket: &UdpSocket, d: &Dialog, method: &str, cseq: u32, body: &str) -> String {
    let local = socket.local_addr().unwrap();
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/dtmf-relay\r\n".to_string()
    };
    let req = format!(
        "{method} sip:1022@{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-stranger-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: {theirs}\r\n\
         To: {ours}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         {ctype}Content-Length: {len}\r\n\r\n{body}",
        sip = d.sip,
        theirs = d.theirs,
        ours = d.ours,
        call_id = d.call_id,
        len = body.len(),
    );
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        socket.send_to(req.as_bytes(), d.sip).unwrap();
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let status = text.lines().next().unwrap_or_default().to_string();
            // Skip 100 Trying; anything final is the verdict.
            if !status.starts_with("SIP/2.0 1") && text.contains(&format!("{cseq} {method}")) {
                return status;
            }
        }
    }
    panic!("no final response to the stranger's {method}");
}

/// Narrows the RTP range a test config gave carecall (`media.rtp_ports = "lo-hi"`)
/// to its first 4 ports and returns it.
fn narrow_rtp_range(config: &Path) -> (u16, u16) {
    let text = std::fs::read_to_string(config).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim().starts_with("rtp_ports = "))
        .expect("rtp_ports in the config")
        .to_string();
    let value = line
        .trim()
        .trim_start_matches("rtp_ports = ")
        .trim_matches('"');
    let lo: u16 = value.split_once('-').unwrap().0.parse().unwrap();
    let narrowed = format!("rtp_ports = \"{lo}-{}\"", lo + 3);
    std::fs::write(config, text.replacen(&line, &narrowed, 1)).unwrap();
    (lo, lo + 3)
}

/// An off-path RTP blaster: sends "9" events and audio to every port of `ports` from
/// `from` every 5 ms until stopped, counting what it sent and what came back to it.
struct Blaster {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Blaster {
    fn start(from: &str, ip: &str, ports: (u16, u16)) -> Blaster {
        let socket = UdpSocket::bind(from).expect("bind the attacker on 127.0.0.2");
        socket.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let (s, tx, rx) = (stop.clone(), sent.clone(), received.clone());
        let targets: Vec<SocketAddr> = (ports.0..=ports.1)
            .map(|p| format!("{ip}:{p}").parse().unwrap())
            .collect();
        let thread = thread::spawn(move || {
            let mut rtp = RtpSender::new(0x0BAD_F00D, 1, 8000);
            let mut out = [0u8; 256];
            let mut buf = [0u8; 2048];
            let mut i = 0u32;
            while !s.load(Ordering::Relaxed) {
                // A "9" that never ends (fresh marker every 50 packets) and PCMA noise.
                let event = EventPayload {
                    event: 9,
                    end: i % 10 == 9,
                    volume: 10,
                    duration: 160 * (1 + (i % 10) as u16),
                }
                .to_bytes();
                let n = rtp.write(101, i.is_multiple_of(50), &event, &mut out);
                let noise: Vec<u8> = (0..160).map(|k| (k as u32 * 37 + i) as u8).collect();
                let mut audio = [0u8; 256];
                let m = rtp.write(8, false, &noise, &mut audio);
                if i % 10 == 9 {
                    rtp.advance(1600);
                }
                for t in &targets {
                    if socket.send_to(&out[..n], t).is_ok() {
                        tx.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = socket.send_to(&audio[..m], t);
                }
                while socket.recv_from(&mut buf).is_ok() {
                    rx.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                thread::sleep(Duration::from_millis(5));
            }
        });
        Blaster {
            stop,
            sent,
            received,
            thread: Some(thread),
        }
    }

    /// Stops the blaster and returns (packets sent, packets received).
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Blaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn off_path_rtp_and_in_dialog_requests_change_nothing() {
    let dir = test_dir("media_attacks_off_path");
    let pcap = fixtures().join("survey_rfc4733.pcap");
    let mut sipp = Sipp::start(
        &dir,
        "uas_survey_answer.xml",
        &[("pcap", &pcap.to_string_lossy())],
        Transport::Udp,
    );
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    // Blasting from before the INVITE: the attacker is first at every port carecall
    // may use (a range narrowed to 4 ports, so no other test's ports are hit).
    let ports = narrow_rtp_range(&config);
    let blaster = Blaster::start("127.0.0.2:0", "127.0.0.1", ports);
    let call = {
        let (dir, config) = (dir.clone(), config.clone());
        thread::spawn(move || carecall_call(&dir, &config, TARGET, &[], CALL_TIMEOUT))
    };
    let dialog = wait_dialog(&dir, Duration::from_secs(60));
    let stranger = UdpSocket::bind("127.0.0.3:0").expect("bind 127.0.0.3");
    let info = in_dialog(
        &stranger,
        &dialog,
        "INFO",
        50,
        "Signal=9\r\nDuration=160\r\n",
    );
    let bye = in_dialog(&stranger, &dialog, "BYE", 51, "");
    let run = call.join().unwrap();
    let (sent, received) = blaster.finish();
    let peer = sipp.wait(Duration::from_secs(15));
    let d = run.describe();

    assert!(
        info.starts_with("SIP/2.0 403"),
        "stranger's INFO: {info}\n{d}"
    );
    assert!(bye.starts_with("SIP/2.0 403"), "stranger's BYE: {bye}\n{d}");
    expect_outcome(&run, "completed", &[Some(200)]);
    expect_survey_answers(&run);
    assert!(
        peer.caller_hung_up(),
        "the call went on to its end and carecall hung up\n{}",
        peer.describe()
    );
    assert!(sent > 1000, "the attack ran ({sent} packets)");
    assert_eq!(received, 0, "the attacker received media\n{d}");
    let rejected = run.json["rtp"]["rejected"].as_u64().unwrap_or(0);
    assert!(
        rejected > 100,
        "rejected packets are counted: {}\n{d}",
        run.json["rtp"]
    );
    let store = open_store(&dir);
    let listed = rt()
        .block_on(store.is_do_not_call(TARGET))
        .expect("read do-not-call");
    assert!(!listed, "the attacker's 9 listed the citizen\n{d}");
}

/// RTP from `socket` to `to`: PCMU silence every 20 ms until `until`, counting the
/// packets that come back.
fn talk(socket: &UdpSocket, to: SocketAddr, rtp: &mut RtpSender, until: Instant, heard: &mut u64) {
    let mut out = [0u8; 256];
    let mut buf = [0u8; 2048];
    socket.set_nonblocking(true).unwrap();
    loop {
        while socket.recv_from(&mut buf).is_ok() {
            *heard += 1;
        }
        if Instant::now() >= until {
            return;
        }
        let n = rtp.write(0, false, &[0xFF; 160], &mut out);
        rtp.advance(160);
        // After carecall hangs up the port is closed: errors are expected then.
        let _ = socket.send_to(&out[..n], to);
        thread::sleep(Duration::from_millis(20));
    }
}

/// Presses `key` as RFC 4733 events (PT 101, as sipp's SDP answer says).
fn press(socket: &UdpSocket, to: SocketAddr, rtp: &mut RtpSender, key: u8) {
    let mut out = [0u8; 256];
    for i in 0..8u16 {
        let event = EventPayload {
            event: key,
            end: i >= 5,
            volume: 10,
            duration: 160 * (i.min(5) + 1),
        }
        .to_bytes();
        let n = rtp.write(101, i == 0, &event, &mut out);
        let _ = socket.send_to(&out[..n], to);
        thread::sleep(Duration::from_millis(20));
    }
    rtp.advance(960);
}

#[test]
fn nat_rebinding_on_the_sdp_ip_is_followed() {
    let dir = test_dir("media_attacks_nat_rebinding");
    let mut sipp = Sipp::start(&dir, "uas_answer_no_rtp.xml", &[], Transport::Udp);
    let config = CarecallConfig::new(&sipp.trunk_uri()).write(&dir);
    let call = {
        let (dir, config) = (dir.clone(), config.clone());
        thread::spawn(move || carecall_call(&dir, &config, TARGET, &[], CALL_TIMEOUT))
    };
    let dialog = wait_dialog(&dir, Duration::from_secs(60));
    let answered = Instant::now();
    // The citizen's media, first from one port of the SDP's IP, then (a NAT rebinding)
    // from another; one stream (same SSRC, continuing sequence numbers).
    let first = UdpSocket::bind("127.0.0.1:0").unwrap();
    let second = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rtp = RtpSender::new(0x5EED, 100, 0);
    let (mut heard_first, mut heard_second) = (0u64, 0u64);
    let at = |secs: u64| answered + Duration::from_secs(secs);
    talk(&first, dialog.rtp, &mut rtp, at(2), &mut heard_first);
    let first_before_move = heard_first;
    // Consent: 2 declines; pressed from the new port when the survey timeline
    // presses its consent key (type-ahead during the greeting).
    talk(&second, dialog.rtp, &mut rtp, at(15), &mut heard_second);
    press(&second, dialog.rtp, &mut rtp, 2);
    let mut late_first = 0;
    talk(
        &first,
        "127.0.0.1:9".parse().unwrap(),
        &mut rtp,
        Instant::now(),
        &mut late_first,
    );
    talk(&second, dialog.rtp, &mut rtp, at(35), &mut heard_second);
    let run = call.join().unwrap();
    let peer = sipp.wait(Duration::from_secs(15));
    let d = run.describe();

    assert!(
        first_before_move > 25,
        "media latched to the first port\n{d}"
    );
    assert!(
        heard_second > 50,
        "media followed the rebinding ({heard_second})\n{d}"
    );
    // Nothing after the move but what was in flight during the probation (3 × 20 ms).
    assert!(
        late_first < 10,
        "the old port stopped getting media ({late_first})\n{d}"
    );
    assert_eq!(run.disposition(), "declined", "{d}");
    assert_eq!(run.answer("consent"), "2", "{d}");
    assert!(
        run.json["rtp"]["moved"].as_u64() >= Some(1),
        "{}\n{d}",
        run.json["rtp"]
    );
    assert!(peer.caller_hung_up(), "{}", peer.describe());
}
