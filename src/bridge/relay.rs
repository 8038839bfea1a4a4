//! The operator leg's RTP, sans I/O: datagrams from the phone in (decoded to
//! 20 ms PCM frames, RFC 4733 events to keys), one packet per 20 ms tick out
//! (the citizen's frame encoded in the phone's codec, or a key press as RFC
//! 4733 events). The citizen's side decodes and encodes with its own codec,
//! so a PCMA trunk and a PCMU phone meet in linear PCM.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::leg::Frame;
use crate::media::codec::{Codec, FRAME_SAMPLES};
use crate::media::dtmf::digit_to_event;
use crate::media::dtmf::rfc4733::{EventPayload, EventReceiver};
use crate::media::rtp::{Latch, MediaSources, RtpPacket, RtpSender, RtpStats};
use crate::sip::sdp::Negotiated;

/// Ticks a relayed key is held: 100 ms, well above ITU-T Q.24's 40 ms.
const KEY_TICKS: u16 = 5;
/// RFC 4733 §2.5.1.4: the end packet is sent three times.
const END_PACKETS: u16 = 3;
/// Keys queued toward the phone; more are dropped.
const MAX_KEYS: usize = 16;
/// Power of relayed events in −dBm0 (RFC 4733 §2.3.4).
const KEY_VOLUME: u8 = 10;

/// A key press being sent: its event code and how many packets went out.
#[derive(Debug, Clone, Copy)]
struct Key {
    event: u8,
    sent: u16,
}

pub struct Relay {
    remote: Negotiated,
    latch: Latch,
    sender: RtpSender,
    events: EventReceiver,
    pub stats: RtpStats,
    /// Decoded samples not yet a whole frame.
    partial: Frame,
    filled: usize,
    decoded: [i16; FRAME_SAMPLES],
    keys: VecDeque<char>,
    key: Option<Key>,
}

impl Relay {
    /// `sources`: addresses besides the SDP's that may send the phone's media.
    pub fn new(remote: Negotiated, sources: MediaSources) -> Relay {
        Relay {
            latch: Latch::new(Some(remote.remote), sources),
            remote,
            sender: RtpSender::new(rand::random(), rand::random(), rand::random()),
            events: EventReceiver::default(),
            stats: RtpStats::default(),
            partial: [0; FRAME_SAMPLES],
            filled: 0,
            decoded: [0; FRAME_SAMPLES],
            keys: VecDeque::with_capacity(MAX_KEYS),
            key: None,
        }
    }

    pub fn remote(&self) -> &Negotiated {
        &self.remote
    }

    /// A re-INVITE moved or held the phone's media.
    pub fn update_remote(&mut self, remote: Negotiated) {
        if remote.remote != self.remote.remote {
            self.latch.reset(Some(remote.remote));
        }
        self.remote = remote;
    }

    /// A datagram from the phone. Whole frames of its audio go to `frame`;
    /// a key press it signalled is returned. Allocates nothing.
    pub fn on_datagram(
        &mut self,
        from: SocketAddr,
        buf: &[u8],
        now: Instant,
        mut frame: impl FnMut(&Frame),
    ) -> Option<char> {
        let Ok(pkt) = RtpPacket::parse(buf) else {
            self.stats.malformed += 1;
            return None;
        };
        if !self
            .stats
            .judge(self.latch.accept(from, pkt.ssrc, pkt.sequence))
        {
            return None;
        }
        self.stats.received += 1;
        if Some(pkt.payload_type) == self.remote.telephone_event {
            return self.events.on_packet(&pkt, now);
        }
        // Comfort noise (RFC 3389) and unknown payloads are not audio.
        let codec = Codec::from_payload_type(pkt.payload_type)?;
        for chunk in pkt.payload.chunks(FRAME_SAMPLES) {
            let out = &mut self.decoded[..chunk.len()];
            codec.decode(chunk, out);
            for &s in out.iter() {
                self.partial[self.filled] = s;
                self.filled += 1;
                if self.filled == FRAME_SAMPLES {
                    frame(&self.partial);
                    self.filled = 0;
                }
            }
        }
        None
    }

    /// Queues a key for the phone (RFC 4733; dropped when the phone accepts
    /// no telephone-event or too many are queued).
    pub fn press(&mut self, digit: char) -> bool {
        if self.remote.telephone_event.is_none()
            || digit_to_event(digit).is_none()
            || self.keys.len() == MAX_KEYS
        {
            return false;
        }
        self.keys.push_back(digit);
        true
    }

    /// The 20 ms tick: the packet to send (length in `out`) and where, or
    /// `None` when the phone holds us or has no address yet. `frame` is the
    /// citizen's audio (silence when `None`); a key press replaces it.
    pub fn tick(&mut self, frame: Option<&Frame>, out: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let to = self.latch.send_to()?;
        let len = match self.next_key() {
            Some(key) => self.key_packet(key, out),
            None => {
                let mut payload = [0u8; FRAME_SAMPLES];
                self.remote
                    .codec
                    .encode(frame.unwrap_or(&[0; FRAME_SAMPLES]), &mut payload);
                let len = self
                    .sender
                    .write(self.remote.payload_type, false, &payload, out);
                self.sender.advance(FRAME_SAMPLES as u32);
                len
            }
        };
        // RFC 3264 §8.4: a phone that put us on hold receives nothing.
        self.remote.local_sends().then_some((len, to))
    }

    fn next_key(&mut self) -> Option<Key> {
        if self.key.is_none() {
            let digit = self.keys.pop_front()?;
            self.key = digit_to_event(digit).map(|event| Key { event, sent: 0 });
        }
        self.key
    }

    /// RFC 4733 §2.5.1.3: every packet of one press carries the timestamp of
    /// its start and a growing duration; the first has the marker bit; the
    /// end packet is repeated (§2.5.1.4). The media clock then jumps ahead by
    /// the event's length.
    fn key_packet(&mut self, key: Key, out: &mut [u8]) -> usize {
        let pt = self.remote.telephone_event.unwrap_or(101);
        let samples = FRAME_SAMPLES as u16;
        let payload = EventPayload {
            event: key.event,
            end: key.sent >= KEY_TICKS,
            volume: KEY_VOLUME,
            duration: samples * (key.sent + 1).min(KEY_TICKS),
        };
        let len = self
            .sender
            .write(pt, key.sent == 0, &payload.to_bytes(), out);
        if key.sent + 1 >= KEY_TICKS + END_PACKETS {
            self.key = None;
            self.sender
                .advance(u32::from(samples) * u32::from(KEY_TICKS + END_PACKETS));
        } else {
            self.key = Some(Key {
                sent: key.sent + 1,
                ..key
            });
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::sdp::Direction;

    fn phone(codec: Codec) -> Negotiated {
        Negotiated {
            remote: "127.0.0.1:4000".parse().unwrap(),
            codec,
            payload_type: codec.payload_type(),
            telephone_event: Some(101),
            direction: Direction::SendRecv,
        }
    }

    fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut s = RtpSender::new(7, seq, ts);
        let mut out = [0u8; 256];
        let n = s.write(pt, false, payload, &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn phone_audio_is_decoded_into_whole_frames() {
        let mut r = Relay::new(phone(Codec::Pcmu), MediaSources::none());
        let from = r.remote().remote;
        let mut ulaw = [0u8; 240];
        Codec::Pcmu.encode(&[1000i16; 240], &mut ulaw);
        let mut frames = Vec::new();
        let now = Instant::now();
        // 30 ms packets: 1.5 frames each.
        r.on_datagram(from, &packet(0, 1, 0, &ulaw), now, |f| frames.push(*f));
        assert_eq!(frames.len(), 1);
        r.on_datagram(from, &packet(0, 2, 240, &ulaw), now, |f| frames.push(*f));
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().flatten().all(|&s| (s - 1000).abs() < 40));
        let stranger = "127.0.0.1:4999".parse().unwrap();
        let mut more = 0;
        r.on_datagram(stranger, &packet(0, 3, 480, &ulaw), now, |_| more += 1);
        assert_eq!(more, 0);
        assert_eq!(r.stats.rejected, 1, "media from elsewhere is not relayed");
    }

    #[test]
    fn phone_keys_become_digits_once() {
        let mut r = Relay::new(phone(Codec::Pcmu), MediaSources::none());
        let from = r.remote().remote;
        let now = Instant::now();
        let ev = |end, d| {
            EventPayload {
                event: 5,
                end,
                volume: 10,
                duration: d,
            }
            .to_bytes()
        };
        assert_eq!(
            r.on_datagram(from, &packet(101, 1, 800, &ev(false, 160)), now, |_| {}),
            Some('5')
        );
        assert_eq!(
            r.on_datagram(from, &packet(101, 2, 800, &ev(true, 800)), now, |_| {}),
            None
        );
    }

    /// An off-path host blasting key presses and audio at the operator leg's port
    /// (before and while the phone talks) is neither relayed nor answered.
    #[test]
    fn off_path_media_is_not_relayed_and_gets_nothing_back() {
        let mut r = Relay::new(phone(Codec::Pcmu), MediaSources::none());
        let phone_addr = r.remote().remote;
        let attacker: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        let now = Instant::now();
        let nine = EventPayload {
            event: 9,
            end: false,
            volume: 10,
            duration: 160,
        }
        .to_bytes();
        let mut frames = 0;
        for seq in 0..200u16 {
            let key = r.on_datagram(attacker, &packet(101, seq, 800, &nine), now, |_| {});
            assert_eq!(key, None);
            r.on_datagram(attacker, &packet(0, seq, 0, &[0x7F; 160]), now, |_| {
                frames += 1
            });
        }
        assert_eq!(frames, 0);
        assert_eq!(r.stats.rejected, 400);
        let mut out = [0u8; 256];
        assert_eq!(r.tick(None, &mut out).map(|(_, to)| to), Some(phone_addr));
        // The phone's own media is unaffected.
        r.on_datagram(phone_addr, &packet(0, 1, 0, &[0x7F; 160]), now, |_| {
            frames += 1
        });
        assert_eq!(frames, 1);
        assert_eq!(r.tick(None, &mut out).map(|(_, to)| to), Some(phone_addr));
    }

    #[test]
    fn citizen_frames_are_encoded_in_the_phone_codec() {
        let mut r = Relay::new(phone(Codec::Pcmu), MediaSources::none());
        let mut out = [0u8; 256];
        let (n, to) = r.tick(Some(&[2000; FRAME_SAMPLES]), &mut out).unwrap();
        assert_eq!(to, r.remote().remote);
        let pkt = RtpPacket::parse(&out[..n]).unwrap();
        assert_eq!(pkt.payload_type, 0);
        let mut pcm = [0i16; FRAME_SAMPLES];
        Codec::Pcmu.decode(pkt.payload, &mut pcm);
        assert!(pcm.iter().all(|&s| (s - 2000).abs() < 80));
    }

    #[test]
    fn keys_go_out_as_rfc4733_events_then_audio_resumes() {
        let mut r = Relay::new(phone(Codec::Pcma), MediaSources::none());
        assert!(r.press('7'));
        assert!(!r.press('x'));
        let mut out = [0u8; 256];
        let mut events = Vec::new();
        let mut first_ts = None;
        for _ in 0..(KEY_TICKS + END_PACKETS) {
            let (n, _) = r.tick(None, &mut out).unwrap();
            let pkt = RtpPacket::parse(&out[..n]).unwrap();
            assert_eq!(pkt.payload_type, 101);
            assert_eq!(*first_ts.get_or_insert(pkt.timestamp), pkt.timestamp);
            events.push((pkt.marker, EventPayload::parse(pkt.payload).unwrap()));
        }
        assert!(
            events[0].0 && !events[1].0,
            "marker on the first packet only"
        );
        assert!(events.iter().all(|(_, e)| e.event == 7));
        assert_eq!(events.iter().filter(|(_, e)| e.end).count(), 3);
        let (n, _) = r.tick(None, &mut out).unwrap();
        let pkt = RtpPacket::parse(&out[..n]).unwrap();
        assert_eq!(pkt.payload_type, 8, "audio again after the key");
        assert_eq!(
            pkt.timestamp,
            first_ts.unwrap() + u32::from(KEY_TICKS + END_PACKETS) * FRAME_SAMPLES as u32
        );
    }

    #[test]
    fn a_phone_holding_us_gets_nothing() {
        let mut held = phone(Codec::Pcmu);
        held.direction = Direction::SendOnly;
        let mut r = Relay::new(phone(Codec::Pcmu), MediaSources::none());
        r.update_remote(held);
        assert_eq!(r.tick(None, &mut [0u8; 256]), None);
    }
}
