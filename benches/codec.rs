//! Per-packet and per-message costs: G.711, RTP/RFC 4733 parsing, in-band DTMF, SIP.
//!
//! One 20 ms frame per call per direction is the unit that matters: at 50 frames/s these
//! figures times the number of concurrent calls is the media CPU budget.

use std::hint::black_box;
use std::time::Instant;

use carecall::media::codec::{Codec, FRAME_SAMPLES};
use carecall::media::dtmf::inband::Detector;
use carecall::media::dtmf::rfc4733::EventReceiver;
use carecall::media::rtp::{RtpPacket, RtpSender};
use criterion::{Criterion, criterion_group, criterion_main};
use rsipstack::sip::SipMessage;

fn speech_like_frame() -> [i16; FRAME_SAMPLES] {
    let mut f = [0i16; FRAME_SAMPLES];
    for (i, s) in f.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        let v = 6000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
            + 2500.0 * (2.0 * std::f64::consts::PI * 1100.0 * t).sin();
        *s = v as i16;
    }
    f
}

fn g711(c: &mut Criterion) {
    let pcm = speech_like_frame();
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut enc = [0u8; FRAME_SAMPLES];
        c.bench_function(&format!("{} encode 160", codec.name()), |b| {
            b.iter(|| codec.encode(black_box(&pcm), &mut enc))
        });
        let mut dec = [0i16; FRAME_SAMPLES];
        c.bench_function(&format!("{} decode 160", codec.name()), |b| {
            b.iter(|| codec.decode(black_box(&enc), &mut dec))
        });
    }
}

fn rtp(c: &mut Criterion) {
    let mut tx = RtpSender::new(0x1234_5678, 100, 8000);
    let mut buf = [0u8; 64];
    let n = tx.write(101, false, &[5, 0x0A, 0x01, 0x40], &mut buf);
    let pkt = buf[..n].to_vec();
    c.bench_function("RFC 4733 packet parse + event", |b| {
        let mut rx = EventReceiver::new();
        let now = Instant::now();
        b.iter(|| {
            let p = RtpPacket::parse(black_box(&pkt)).unwrap();
            black_box(rx.on_packet(&p, now))
        })
    });
}

fn inband(c: &mut Criterion) {
    let frame = speech_like_frame();
    let mut d = Detector::new();
    c.bench_function("in-band DTMF detect 20 ms", |b| {
        b.iter(|| black_box(d.process(black_box(&frame))))
    });
}

const INVITE: &str = "INVITE sip:0912345678@trunk.example.vn:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
From: \"1022 Dong Thap\" <sip:1022@trunk.example.vn>;tag=1928301774\r\n\
To: <sip:0912345678@trunk.example.vn>\r\n\
Call-ID: a84b4c76e66710@192.0.2.10\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:carecall@192.0.2.10:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\r\n\
Supported: timer\r\n\
User-Agent: carecall/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 248\r\n\
\r\n\
v=0\r\n\
o=carecall 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=carecall\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10\r\n\
From: \"1022 Dong Thap\" <sip:1022@trunk.example.vn>;tag=1928301774\r\n\
To: <sip:0912345678@trunk.example.vn>;tag=a6c85cf\r\n\
Call-ID: a84b4c76e66710@192.0.2.10\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:0912345678@198.51.100.20:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 186\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 198.51.100.20\r\n\
s=-\r\n\
c=IN IP4 198.51.100.20\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

fn sip(c: &mut Criterion) {
    for (name, text) in [("INVITE+SDP", INVITE), ("200 OK+SDP", OK)] {
        let bytes = text.as_bytes();
        let parsed = SipMessage::try_from(bytes).expect("benchmark message parses");
        c.bench_function(&format!("SIP parse {name}"), |b| {
            b.iter(|| SipMessage::try_from(black_box(bytes)).unwrap())
        });
        c.bench_function(&format!("SIP serialise {name}"), |b| {
            b.iter(|| black_box(&parsed).to_string())
        });
    }
}

criterion_group!(benches, g711, rtp, inband, sip);
criterion_main!(benches);
