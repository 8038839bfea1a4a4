//! RFC 4733 telephone-event receiver: RTP event packets in, one digit per key press out.
//!
//! A sender repeats the event packet every 50 ms or so while the key is held, with a
//! growing duration, then sends the final (E bit) packet three times (§2.5.1.4). All
//! packets of one event share its RTP timestamp (§2.5.1.3), so the timestamp identifies
//! the press: we emit on the first packet seen with a new timestamp (a lost start packet
//! still yields the digit, and the IVR reacts without waiting for the key release).

use std::time::{Duration, Instant};

use super::event_to_digit;
use crate::media::rtp::RtpPacket;

/// After this long without event packets, forget the current event so that a restarted
/// stream (new timestamp base after re-INVITE) is not mistaken for late packets.
const STALE_AFTER: Duration = Duration::from_secs(5);

/// Largest duration field (§2.5.1.3): longer events are split into segments, each with a
/// new timestamp equal to the previous one plus its duration.
const MAX_SEGMENT: u16 = 0xFFFF;

/// How many past event timestamps to remember to drop reordered stragglers.
const HISTORY: usize = 4;

/// One decoded event payload (§2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (0–15 are DTMF keys, §3.2).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl EventPayload {
    /// Parse the 4-byte payload; `None` if too short. Extra bytes (redundancy, RFC 2198
    /// is not negotiated) are ignored.
    pub fn parse(payload: &[u8]) -> Option<EventPayload> {
        let b: &[u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(EventPayload {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Serialise, for senders and tests.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (self.volume & 0x3F) | if self.end { 0x80 } else { 0 },
            d[0],
            d[1],
        ]
    }
}

#[derive(Clone, Copy, Debug)]
struct Current {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    ended: bool,
    duration: u16,
    last_seen: Instant,
}

/// Turns telephone-event packets (of the negotiated payload type) into key presses.
#[derive(Clone, Debug, Default)]
pub struct EventReceiver {
    current: Option<Current>,
    history: [Option<u32>; HISTORY],
    next_slot: usize,
    malformed: u64,
}

impl EventReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one packet; returns the key when the packet starts a new press.
    pub fn on_packet(&mut self, pkt: &RtpPacket<'_>, now: Instant) -> Option<char> {
        let Some(ev) = EventPayload::parse(pkt.payload) else {
            self.malformed += 1;
            return None;
        };
        if let Some(cur) = self.current
            && (cur.ssrc != pkt.ssrc || now.saturating_duration_since(cur.last_seen) > STALE_AFTER)
        {
            self.forget();
        }
        let Some(cur) = self.current.as_mut() else {
            self.start(pkt, ev, now);
            return event_to_digit(ev.event);
        };
        if pkt.timestamp == cur.timestamp {
            // Repeat or end packet of the event in progress (§2.5.1.4).
            cur.ended |= ev.end;
            cur.duration = cur.duration.max(ev.duration);
            cur.last_seen = now;
            return None;
        }
        let ahead = pkt.timestamp.wrapping_sub(cur.timestamp);
        if ahead > u32::MAX / 2 || self.history.contains(&Some(pkt.timestamp)) {
            return None; // straggler from an earlier event
        }
        let continues = cur.event == ev.event
            && !cur.ended
            && cur.duration >= MAX_SEGMENT - 1600
            && ahead.abs_diff(u32::from(cur.duration)) <= 1600;
        self.start(pkt, ev, now);
        if continues {
            None // next segment of a very long press (§2.5.1.3)
        } else {
            event_to_digit(ev.event)
        }
    }

    /// Packets too short to be an event payload, for the call's statistics.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    fn start(&mut self, pkt: &RtpPacket<'_>, ev: EventPayload, now: Instant) {
        if let Some(old) = self.current {
            self.history[self.next_slot] = Some(old.timestamp);
            self.next_slot = (self.next_slot + 1) % HISTORY;
        }
        self.current = Some(Current {
            ssrc: pkt.ssrc,
            timestamp: pkt.timestamp,
            event: ev.event,
            ended: ev.end,
            duration: ev.duration,
            last_seen: now,
        });
    }

    fn forget(&mut self) {
        self.current = None;
        self.history = [None; HISTORY];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::digit_to_event;

    /// A fake telephone-event sender on a fake clock.
    struct Peer {
        ssrc: u32,
        seq: u16,
        ts: u32,
        now: Instant,
    }

    impl Peer {
        fn new(seq: u16, ts: u32) -> Self {
            Peer {
                ssrc: 42,
                seq,
                ts,
                now: Instant::now(),
            }
        }

        /// Packets of one press: `n` updates 50 ms apart then 3 end packets.
        fn press(&mut self, digit: char, n: u16) -> Vec<(u16, u32, [u8; 4])> {
            let event = digit_to_event(digit).unwrap();
            let mut out = Vec::new();
            for i in 0..n {
                let p = EventPayload {
                    event,
                    end: false,
                    volume: 10,
                    duration: 400 * (i + 1),
                };
                out.push((self.seq, self.ts, p.to_bytes()));
                self.seq = self.seq.wrapping_add(1);
            }
            for _ in 0..3 {
                let p = EventPayload {
                    event,
                    end: true,
                    volume: 10,
                    duration: 400 * n + 160,
                };
                out.push((self.seq, self.ts, p.to_bytes()));
                self.seq = self.seq.wrapping_add(1);
            }
            self.ts = self.ts.wrapping_add(u32::from(400 * n) + 1600);
            out
        }

        fn feed(&mut self, rx: &mut EventReceiver, pkts: &[(u16, u32, [u8; 4])]) -> String {
            let mut got = String::new();
            for (seq, ts, payload) in pkts {
                let pkt = RtpPacket {
                    payload_type: 101,
                    marker: false,
                    sequence: *seq,
                    timestamp: *ts,
                    ssrc: self.ssrc,
                    payload,
                };
                self.now += Duration::from_millis(50);
                got.extend(rx.on_packet(&pkt, self.now));
            }
            got
        }
    }

    #[test]
    fn one_digit_per_press_despite_repeats_and_end_packets() {
        let mut peer = Peer::new(1000, 5000);
        let mut rx = EventReceiver::new();
        let mut all = Vec::new();
        for d in "1910#*ABCD".chars() {
            all.extend(peer.press(d, 4));
        }
        assert_eq!(peer.feed(&mut rx, &all), "1910#*ABCD");
    }

    #[test]
    fn lost_start_still_yields_the_digit() {
        let mut peer = Peer::new(1, 0);
        let mut rx = EventReceiver::new();
        let press = peer.press('7', 5);
        assert_eq!(peer.feed(&mut rx, &press[2..]), "7");
        // Only the end packets of the next press survive.
        let press = peer.press('8', 5);
        assert_eq!(peer.feed(&mut rx, &press[5..]), "8");
    }

    #[test]
    fn same_digit_twice_is_two_presses() {
        let mut peer = Peer::new(1, 0);
        let mut rx = EventReceiver::new();
        let mut pkts = peer.press('5', 3);
        pkts.extend(peer.press('5', 3));
        assert_eq!(peer.feed(&mut rx, &pkts), "55");
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let mut peer = Peer::new(65534, u32::MAX - 1000);
        let mut rx = EventReceiver::new();
        let mut pkts = peer.press('3', 4);
        pkts.extend(peer.press('3', 4));
        pkts.extend(peer.press('4', 4));
        assert_eq!(peer.feed(&mut rx, &pkts), "334");
    }

    #[test]
    fn reordered_stragglers_do_not_repeat_digits() {
        let mut peer = Peer::new(1, 0);
        let mut rx = EventReceiver::new();
        let a = peer.press('1', 3);
        let b = peer.press('2', 3);
        let c = peer.press('3', 3);
        let mut pkts = a.clone();
        pkts.extend(&b[..2]);
        pkts.push(a[4]); // late end packet of '1' after '2' began
        pkts.extend(&b[2..]);
        pkts.extend(&c);
        pkts.push(b[5]); // late end packet of '2' after '3'
        assert_eq!(peer.feed(&mut rx, &pkts), "123");
    }

    #[test]
    fn long_press_split_into_segments_is_one_digit() {
        let mut rx = EventReceiver::new();
        let now = Instant::now();
        let seg = |ts: u32, duration: u16, end: bool| {
            let p = EventPayload {
                event: 9,
                end,
                volume: 0,
                duration,
            }
            .to_bytes();
            (ts, p)
        };
        let mut got = String::new();
        for (i, (ts, p)) in [
            seg(100, 400, false),
            seg(100, MAX_SEGMENT, false),
            seg(100 + u32::from(MAX_SEGMENT), 400, false),
            seg(100 + u32::from(MAX_SEGMENT), 800, true),
        ]
        .iter()
        .enumerate()
        {
            let pkt = RtpPacket {
                payload_type: 101,
                marker: false,
                sequence: i as u16,
                timestamp: *ts,
                ssrc: 1,
                payload: p,
            };
            got.extend(rx.on_packet(&pkt, now + Duration::from_millis(50 * i as u64)));
        }
        assert_eq!(got, "9");
    }

    #[test]
    fn malformed_and_non_dtmf_events_are_ignored() {
        let mut rx = EventReceiver::new();
        let now = Instant::now();
        let mut pkt = RtpPacket {
            payload_type: 101,
            marker: true,
            sequence: 1,
            timestamp: 1,
            ssrc: 1,
            payload: &[1, 0, 0],
        };
        assert_eq!(rx.on_packet(&pkt, now), None);
        assert_eq!(rx.malformed(), 1);
        pkt.payload = &[16, 0, 0, 160]; // flash
        assert_eq!(rx.on_packet(&pkt, now), None);
        pkt.timestamp = 2000;
        pkt.payload = &[2, 0, 0, 160];
        assert_eq!(rx.on_packet(&pkt, now), Some('2'));
    }

    #[test]
    fn new_stream_after_silence_or_ssrc_change_is_accepted() {
        let mut rx = EventReceiver::new();
        let t0 = Instant::now();
        let mk = |ssrc, ts| RtpPacket {
            payload_type: 101,
            marker: true,
            sequence: 1,
            timestamp: ts,
            ssrc,
            payload: &[5, 0x80, 0, 160],
        };
        assert_eq!(rx.on_packet(&mk(1, 90_000), t0), Some('5'));
        // Timestamp went backwards: a straggler while the stream is live...
        assert_eq!(
            rx.on_packet(&mk(1, 10_000), t0 + Duration::from_secs(1)),
            None
        );
        // ...but a restarted stream once the old one has been quiet for a while,
        assert_eq!(
            rx.on_packet(&mk(1, 10), t0 + Duration::from_secs(10)),
            Some('5')
        );
        // or a new SSRC at once.
        assert_eq!(
            rx.on_packet(&mk(2, 0), t0 + Duration::from_secs(10)),
            Some('5')
        );
    }
}
