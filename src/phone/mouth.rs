//! What the simulated phone sends: one RTP packet per 20 ms tick, carrying
//! silence, a stretch of recorded speech, or an RFC 4733 key press.
//!
//! Sans-IO: the driver calls [`Mouth::tick`] from its 20 ms interval and sends the
//! bytes; nothing here knows about sockets or clocks, so the packet sequence is
//! tested byte for byte.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::media::codec::{Codec, FRAME_SAMPLES};
use crate::media::dtmf::digit_to_event;
use crate::media::dtmf::rfc4733::EventPayload;
use crate::media::rtp::{HEADER_LEN, RtpSender};

/// One tick of G.711 audio.
pub const TICK: Duration = Duration::from_millis(20);

/// Ticks a key is held: 5 × 20 ms = 100 ms, a firm human press and well above
/// the 40 ms minimum tone duration of ITU-T Q.24.
const KEY_TICKS: u16 = 5;
/// RFC 4733 §2.5.1.4: the final packet is sent three times.
const END_PACKETS: u16 = 3;
/// Silence between two keys of one answer (`1`, `0`, `#`).
const KEY_GAP_TICKS: u16 = 10;
/// Power of the events, in −dBm0 (RFC 4733 §2.3.4): a normal keypad level.
const KEY_VOLUME: u8 = 10;

/// The largest packet [`Mouth::tick`] writes: a header and one G.711 frame.
pub const MAX_PACKET: usize = HEADER_LEN + FRAME_SAMPLES;

/// How long pressing `keys` keeps the mouth busy, end packets and gaps included.
pub fn keys_duration(keys: &str) -> Duration {
    let n = keys
        .chars()
        .filter(|&k| digit_to_event(k).is_some())
        .count() as u32;
    let per_key = u32::from(KEY_TICKS + END_PACKETS + KEY_GAP_TICKS);
    TICK * (n * per_key)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utterance {
    /// A key press; `tick` counts the packets sent so far.
    Key { event: u8, tick: u16 },
    /// Silence frames.
    Pause { ticks: u16 },
    /// `frames` frames of the voice, from sample `pos` (wrapping).
    Speech { pos: usize, frames: usize },
}

/// The phone's outgoing RTP stream.
pub struct Mouth {
    codec: Codec,
    payload_type: u8,
    telephone_event: Option<u8>,
    sender: RtpSender,
    voice: Arc<[i16]>,
    queue: VecDeque<Utterance>,
    /// Timestamp units elapsed since the current key event started.
    event_elapsed: u32,
    silence: [u8; FRAME_SAMPLES],
}

impl Mouth {
    /// `payload_type` is the offerer's number for `codec`; `telephone_event` its
    /// RFC 4733 payload type (keys are dropped, with a log line, without one).
    pub fn new(
        codec: Codec,
        payload_type: u8,
        telephone_event: Option<u8>,
        sender: RtpSender,
        voice: Arc<[i16]>,
    ) -> Mouth {
        let mut silence = [0u8; FRAME_SAMPLES];
        codec.encode(&[0; FRAME_SAMPLES], &mut silence);
        Mouth {
            codec,
            payload_type,
            telephone_event,
            sender,
            voice,
            queue: VecDeque::new(),
            event_elapsed: 0,
            silence,
        }
    }

    /// Queues key presses, each followed by a short pause.
    pub fn press(&mut self, keys: &str) {
        if self.telephone_event.is_none() {
            tracing::warn!(keys, "the caller offered no telephone-event: keys not sent");
            return;
        }
        for event in keys.chars().filter_map(digit_to_event) {
            self.queue.push_back(Utterance::Key { event, tick: 0 });
            self.queue.push_back(Utterance::Pause {
                ticks: KEY_GAP_TICKS,
            });
        }
    }

    /// Queues `length` of speech (the voice sample, looped if shorter).
    pub fn speak(&mut self, length: Duration) {
        let frames = (length.as_millis() / TICK.as_millis()) as usize;
        if frames > 0 && !self.voice.is_empty() {
            self.queue.push_back(Utterance::Speech { pos: 0, frames });
        }
    }

    /// Whether anything but silence is queued.
    pub fn is_busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Writes the packet for this tick into `out` (at least [`MAX_PACKET`] bytes)
    /// and returns its length.
    pub fn tick(&mut self, out: &mut [u8]) -> usize {
        match self.queue.front().copied() {
            Some(Utterance::Key { event, tick }) => self.key_packet(event, tick, out),
            Some(Utterance::Speech { pos, frames }) => self.speech_packet(pos, frames, out),
            Some(Utterance::Pause { ticks }) => {
                if ticks <= 1 {
                    self.queue.pop_front();
                } else if let Some(Utterance::Pause { ticks: t }) = self.queue.front_mut() {
                    *t -= 1;
                }
                self.audio_packet(None, false, out)
            }
            None => self.audio_packet(None, false, out),
        }
    }

    /// One packet of a key press. RFC 4733 §2.5.1.3: every packet of the event
    /// carries the timestamp of its start and a growing duration; the first has
    /// the marker bit; the end packet is repeated (§2.5.1.4). The media clock
    /// still runs, so the audio after the event jumps ahead by its length.
    fn key_packet(&mut self, event: u8, tick: u16, out: &mut [u8]) -> usize {
        let Some(pt) = self.telephone_event else {
            self.queue.pop_front();
            return self.audio_packet(None, false, out);
        };
        let samples = FRAME_SAMPLES as u16;
        let end = tick >= KEY_TICKS;
        let payload = EventPayload {
            event,
            end,
            volume: KEY_VOLUME,
            duration: samples * (tick + 1).min(KEY_TICKS),
        };
        let len = self.sender.write(pt, tick == 0, &payload.to_bytes(), out);
        self.event_elapsed += u32::from(samples);
        if tick + 1 >= KEY_TICKS + END_PACKETS {
            self.queue.pop_front();
            self.sender.advance(self.event_elapsed);
            self.event_elapsed = 0;
        } else if let Some(Utterance::Key { tick: t, .. }) = self.queue.front_mut() {
            *t += 1;
        }
        len
    }

    fn speech_packet(&mut self, pos: usize, frames: usize, out: &mut [u8]) -> usize {
        let mut frame = [0i16; FRAME_SAMPLES];
        let n = self.voice.len();
        for (i, s) in frame.iter_mut().enumerate() {
            *s = self.voice[(pos + i) % n];
        }
        if frames <= 1 {
            self.queue.pop_front();
        } else if let Some(Utterance::Speech { pos: p, frames: f }) = self.queue.front_mut() {
            *p = (pos + FRAME_SAMPLES) % n;
            *f -= 1;
        }
        // RFC 3551 §4.1: the marker flags the first packet of a talkspurt.
        self.audio_packet(Some(&frame), pos == 0, out)
    }

    fn audio_packet(
        &mut self,
        pcm: Option<&[i16; FRAME_SAMPLES]>,
        marker: bool,
        out: &mut [u8],
    ) -> usize {
        let mut payload = self.silence;
        if let Some(pcm) = pcm {
            self.codec.encode(pcm, &mut payload);
        }
        let len = self.sender.write(self.payload_type, marker, &payload, out);
        self.sender.advance(FRAME_SAMPLES as u32);
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::RtpPacket;

    fn mouth() -> Mouth {
        let voice: Arc<[i16]> = (0..800).map(|i| ((i % 50) * 400 - 10_000) as i16).collect();
        Mouth::new(
            Codec::Pcmu,
            0,
            Some(101),
            RtpSender::new(7, 100, 1000),
            voice,
        )
    }

    fn run(m: &mut Mouth, ticks: usize) -> Vec<Vec<u8>> {
        (0..ticks)
            .map(|_| {
                let mut buf = [0u8; MAX_PACKET];
                let n = m.tick(&mut buf);
                buf[..n].to_vec()
            })
            .collect()
    }

    #[test]
    fn silence_keeps_sequence_and_clock_running() {
        let mut m = mouth();
        let pkts = run(&mut m, 3);
        for (i, raw) in pkts.iter().enumerate() {
            let p = RtpPacket::parse(raw).unwrap();
            assert_eq!(p.payload_type, 0);
            assert_eq!(p.sequence, 100 + i as u16);
            assert_eq!(p.timestamp, 1000 + 160 * i as u32);
            assert_eq!(p.payload.len(), 160);
            assert!(p.payload.iter().all(|&b| b == 0xFF), "µ-law silence");
            assert!(!p.marker);
        }
    }

    #[test]
    fn a_key_is_one_event_with_three_end_packets() {
        let mut m = mouth();
        run(&mut m, 1);
        m.press("1");
        assert!(m.is_busy());
        let pkts = run(&mut m, 9);
        let events: Vec<_> = pkts[..8]
            .iter()
            .map(|raw| {
                let p = RtpPacket::parse(raw).unwrap();
                assert_eq!(p.payload_type, 101);
                assert_eq!(p.timestamp, 1160, "one timestamp for the whole event");
                (
                    p.marker,
                    p.sequence,
                    EventPayload::parse(p.payload).unwrap(),
                )
            })
            .collect();
        assert!(events[0].0 && events[1..].iter().all(|e| !e.0));
        let seqs: Vec<u16> = events.iter().map(|e| e.1).collect();
        assert_eq!(seqs, (101..109).collect::<Vec<u16>>());
        let durations: Vec<u16> = events.iter().map(|e| e.2.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800, 800]);
        let ends: Vec<bool> = events.iter().map(|e| e.2.end).collect();
        assert_eq!(ends, [false, false, false, false, false, true, true, true]);
        assert!(
            events
                .iter()
                .all(|e| e.2.event == 1 && e.2.volume == KEY_VOLUME)
        );
        // Audio resumes with the clock advanced by the event's 8 ticks.
        let after = RtpPacket::parse(&pkts[8]).unwrap();
        assert_eq!((after.payload_type, after.timestamp), (0, 1160 + 8 * 160));
    }

    #[test]
    fn keys_are_separated_and_the_receiver_sees_each_once() {
        use crate::media::dtmf::rfc4733::EventReceiver;
        let mut m = mouth();
        m.press("10#");
        let ticks = (keys_duration("10#").as_millis() / 20) as usize;
        let pkts = run(&mut m, ticks);
        assert!(!m.is_busy());
        let mut rx = EventReceiver::new();
        let now = std::time::Instant::now();
        let keys: String = pkts
            .iter()
            .map(|raw| RtpPacket::parse(raw).unwrap())
            .filter(|p| p.payload_type == 101)
            .filter_map(|p| rx.on_packet(&p, now))
            .collect();
        assert_eq!(keys, "10#");
    }

    #[test]
    fn speech_is_the_voice_encoded_then_silence() {
        let mut m = mouth();
        m.speak(Duration::from_millis(100));
        let pkts = run(&mut m, 6);
        let first = RtpPacket::parse(&pkts[0]).unwrap();
        assert!(first.marker);
        let mut pcm = [0i16; 160];
        Codec::Pcmu.decode(first.payload, &mut pcm);
        assert!(pcm.iter().any(|&s| s.abs() > 5000));
        // 5 frames of speech, then silence; the 800-sample voice wraps after 5.
        let last = RtpPacket::parse(&pkts[5]).unwrap();
        assert!(last.payload.iter().all(|&b| b == 0xFF));
        assert!(!m.is_busy());
    }

    #[test]
    fn without_telephone_event_keys_are_dropped() {
        let voice: Arc<[i16]> = Arc::from(vec![0i16; 160]);
        let mut m = Mouth::new(Codec::Pcma, 8, None, RtpSender::new(1, 1, 1), voice);
        m.press("1");
        assert!(!m.is_busy());
    }
}
