//! A [`MediaSession`] against a second str0m `Rtc` playing the browser, on a
//! simulated clock and an in-memory network (the shape of str0m's own
//! `tests/common.rs`): ICE-lite, DTLS-SRTP and G.711 both ways, no sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use super::*;
use crate::media::codec::Codec;

const BROWSER: &str = "10.0.0.1:50000";
const SERVER: &str = "10.0.0.2:3480";

#[derive(Default)]
struct Collect {
    out: Vec<(SocketAddr, Vec<u8>)>,
    frames: Vec<Frame>,
    up: Vec<bool>,
}

impl MediaSink for Collect {
    fn transmit(&mut self, to: SocketAddr, bytes: &[u8]) {
        self.out.push((to, bytes.to_vec()));
    }
    fn frame(&mut self, frame: &Frame) {
        self.frames.push(*frame);
    }
    fn connected(&mut self, up: bool) {
        self.up.push(up);
    }
}

/// The "browser": a full-ICE str0m peer that offers PCMU audio.
struct Browser {
    rtc: Rtc,
    mid: Mid,
    heard: Vec<u8>,
    connected: bool,
    timeout: Instant,
}

impl Browser {
    /// Drains, returning datagrams for the server.
    fn drain(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return out;
                }
                Output::Transmit(t) => out.push((t.destination, t.contents.to_vec())),
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(d)) => self.heard.extend_from_slice(&d.data),
                Output::Event(_) => {}
            }
        }
    }
}

fn deliver<'a>(from: &str, to: &str, bytes: &'a [u8]) -> Receive<'a> {
    Receive::new(
        Protocol::Udp,
        from.parse().unwrap(),
        to.parse().unwrap(),
        bytes,
    )
    .unwrap()
}

fn tone_frame(n: usize) -> Frame {
    let mut f = [0i16; FRAME_SAMPLES];
    for (i, s) in f.iter_mut().enumerate() {
        let t = (n * FRAME_SAMPLES + i) as f64 / 8000.0;
        *s = ((t * 400.0 * std::f64::consts::TAU).sin() * 6000.0) as i16;
    }
    f
}

#[test]
fn a_browser_connects_and_audio_flows_both_ways() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut rtc = RtcConfig::new()
        .clear_codecs()
        .enable_pcmu(true, false)
        .build(now);
    rtc.add_local_candidate(Candidate::host(BROWSER.parse().unwrap(), "udp").unwrap());
    let mut change = rtc.sdp_api();
    let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    let mut browser = Browser {
        rtc,
        mid,
        heard: Vec::new(),
        connected: false,
        timeout: now,
    };

    let mut sink = Collect::default();
    let mut server = MediaSession::new(SERVER.parse().unwrap(), now).unwrap();
    assert!(server.accept_offer("v=0 nonsense", &mut sink).is_err());
    let answer = server
        .accept_offer(&offer.to_sdp_string(), &mut sink)
        .unwrap();
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("PCMU/8000"), "{answer}");
    assert!(answer.contains("a=candidate:"), "{answer}");
    browser
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();

    let mut sent = 0usize;
    let mut next_frame = now;
    while now < t0 + Duration::from_secs(5) {
        // Network: both ways, in memory.
        for (to, bytes) in browser.drain() {
            assert_eq!(to, SERVER.parse().unwrap());
            let r = deliver(BROWSER, SERVER, &bytes);
            let input = Input::Receive(now, r);
            assert!(server.accepts(&input));
            server.handle(input, &mut sink).unwrap();
        }
        for (to, bytes) in std::mem::take(&mut sink.out) {
            assert_eq!(to, BROWSER.parse().unwrap());
            let r = deliver(SERVER, BROWSER, &bytes);
            browser.rtc.handle_input(Input::Receive(now, r)).unwrap();
        }
        // Media every 20 ms once connected: tone from the "browser", tone back.
        if now >= next_frame && browser.connected && server.is_connected() {
            let mut payload = [0u8; FRAME_SAMPLES];
            Codec::Pcmu.encode(&tone_frame(sent), &mut payload);
            let w = browser.rtc.writer(browser.mid).unwrap();
            let pt = w.payload_params().next().unwrap().pt();
            w.write(
                pt,
                now,
                MediaTime::new((sent * FRAME_SAMPLES) as u64, Frequency::EIGHT_KHZ),
                &payload[..],
            )
            .unwrap();
            server
                .send_frame(now, &tone_frame(sent), &mut sink)
                .unwrap();
            sent += 1;
            next_frame += Duration::from_millis(20);
        }
        now += Duration::from_millis(5);
        browser.rtc.handle_input(Input::Timeout(now)).unwrap();
        server.poll_timeout(now, &mut sink).unwrap();
        if !server.is_connected() || !browser.connected {
            next_frame = now;
        }
    }

    assert_eq!(sink.up, vec![true], "connected once, never dropped");
    assert!(sent > 150, "media ran for seconds: {sent}");
    // The server decoded whole frames equal to the tone through G.711.
    assert!(
        sink.frames.len() > sent - 10,
        "{} of {sent}",
        sink.frames.len()
    );
    let mut expect = [0i16; FRAME_SAMPLES];
    let mut g711 = [0u8; FRAME_SAMPLES];
    Codec::Pcmu.encode(&tone_frame(5), &mut g711);
    Codec::Pcmu.decode(&g711, &mut expect);
    assert!(sink.frames.contains(&expect), "frame 5 arrived intact");
    // The browser heard our frames, PCMU-encoded.
    assert!(
        browser.heard.len() > (sent - 10) * FRAME_SAMPLES,
        "{}",
        browser.heard.len()
    );
    let mut one = [0u8; FRAME_SAMPLES];
    Codec::Pcmu.encode(&tone_frame(7), &mut one);
    assert!(
        browser.heard.windows(FRAME_SAMPLES).any(|w| w == one),
        "frame 7 arrived intact"
    );

    // A stranger's datagram is not this session's.
    let stray_bytes = [0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    let stray = deliver("10.9.9.9:1", SERVER, &stray_bytes);
    assert!(!server.accepts(&Input::Receive(now, stray)));
}

#[test]
fn odd_packet_sizes_are_reframed_to_20_ms() {
    let mut r = Reframer::new();
    let mut got = Vec::new();
    let pkt = [0xffu8; 100];
    for _ in 0..8 {
        r.push(Codec::Pcmu, &pkt, &mut |f| got.push(*f));
    }
    assert_eq!(got.len(), 5, "800 samples make five frames");
    assert!(
        got.iter().all(|f| f.iter().all(|&s| s == 0)),
        "0xff is μ-law zero"
    );
}
