//! One browser's media session: a str0m [`Rtc`] answering the page's offer,
//! with G.711 decoded to and encoded from 20 ms PCM frames.
//!
//! Sans-IO like str0m itself: datagrams, timeouts and frames go in with the
//! time they happened, and everything that comes out (datagrams to send,
//! frames heard, the connection going up or down) is handed to a
//! [`MediaSink`] while the `Rtc` is drained, as str0m's run-loop contract asks
//! ("every mutation must be followed by a complete drain of `poll_output`").

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::format::Codec as RtcCodec;
use str0m::media::{Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use super::WebRtcError;
use crate::bridge::Frame;
use crate::media::codec::{Codec, FRAME_SAMPLES};

/// Where a session's output goes.
pub trait MediaSink {
    /// A datagram for the browser.
    fn transmit(&mut self, to: SocketAddr, bytes: &[u8]);
    /// 20 ms of the operator's voice, decoded.
    fn frame(&mut self, frame: &Frame);
    /// ICE and DTLS came up (true) or the browser went away (false).
    fn connected(&mut self, up: bool);
}

/// The str0m configuration of every session: ICE-lite (RFC 8445 §2.5: the
/// server has a public host address, the browser does the checks), and
/// G.711 only, so that no audio is ever transcoded beyond our own codec.
pub fn rtc_config() -> RtcConfig {
    RtcConfig::new()
        .set_ice_lite(true)
        .clear_codecs()
        .enable_pcma(true, false)
        .enable_pcmu(true, false)
}

/// Collects decoded samples into whole 20 ms frames: browsers send 20 ms
/// packets (`ptime` 20) but nothing in RFC 3551 §4.5 forbids other sizes.
#[derive(Debug)]
struct Reframer {
    frame: Frame,
    filled: usize,
}

impl Reframer {
    fn new() -> Reframer {
        Reframer {
            frame: [0; FRAME_SAMPLES],
            filled: 0,
        }
    }

    /// Decodes `payload`, handing every completed frame to `out`.
    fn push(&mut self, codec: Codec, payload: &[u8], out: &mut impl FnMut(&Frame)) {
        for chunk in payload.chunks(FRAME_SAMPLES) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let n = rest.len().min(FRAME_SAMPLES - self.filled);
                codec.decode(&rest[..n], &mut self.frame[self.filled..self.filled + n]);
                self.filled += n;
                rest = &rest[n..];
                if self.filled == FRAME_SAMPLES {
                    out(&self.frame);
                    self.filled = 0;
                }
            }
        }
    }
}

fn our_codec(c: RtcCodec) -> Option<Codec> {
    match c {
        RtcCodec::PCMA => Some(Codec::Pcma),
        RtcCodec::PCMU => Some(Codec::Pcmu),
        _ => None,
    }
}

/// One browser's peer connection, server side.
pub struct MediaSession {
    rtc: Rtc,
    mid: Option<Mid>,
    /// The payload type and codec we send with, chosen from the answer.
    send: Option<(Pt, Codec)>,
    /// RTP timestamp of the next frame sent (8 kHz units).
    rtp_time: u64,
    inbound: Reframer,
    connected: bool,
    timeout: Instant,
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession")
            .field("mid", &self.mid)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl MediaSession {
    /// A session announcing `candidate` (the shared socket's public address).
    pub fn new(candidate: SocketAddr, now: Instant) -> Result<MediaSession, WebRtcError> {
        let mut rtc = rtc_config().build(now);
        let c = Candidate::host(candidate, "udp").map_err(|e| WebRtcError::Candidate {
            addr: candidate,
            reason: e.to_string(),
        })?;
        rtc.add_local_candidate(c);
        Ok(MediaSession {
            rtc,
            mid: None,
            send: None,
            rtp_time: 0,
            inbound: Reframer::new(),
            connected: false,
            timeout: now,
        })
    }

    /// Answers the page's offer (RFC 8829 §5.3); the answer keeps only the
    /// audio the config allows.
    pub fn accept_offer(
        &mut self,
        sdp: &str,
        sink: &mut impl MediaSink,
    ) -> Result<String, WebRtcError> {
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| WebRtcError::BadOffer(e.to_string()))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebRtcError::BadOffer(e.to_string()))?;
        self.drain(sink)?;
        Ok(answer.to_sdp_string())
    }

    /// Whether a datagram from the shared socket belongs to this session.
    pub fn accepts(&self, input: &Input) -> bool {
        self.rtc.accepts(input)
    }

    /// Feeds a datagram (or a timeout) and drains.
    pub fn handle(&mut self, input: Input, sink: &mut impl MediaSink) -> Result<(), WebRtcError> {
        self.rtc.handle_input(input)?;
        self.drain(sink)
    }

    /// Feeds the timeout if it is due.
    pub fn poll_timeout(
        &mut self,
        now: Instant,
        sink: &mut impl MediaSink,
    ) -> Result<(), WebRtcError> {
        if now >= self.timeout {
            self.handle(Input::Timeout(now), sink)?;
        }
        Ok(())
    }

    /// When [`Self::poll_timeout`] next has work.
    pub fn timeout(&self) -> Instant {
        self.timeout
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    /// Sends 20 ms of the citizen's voice to the page. Does nothing until the
    /// connection is up and the answer has an audio codec we can send.
    pub fn send_frame(
        &mut self,
        now: Instant,
        frame: &Frame,
        sink: &mut impl MediaSink,
    ) -> Result<(), WebRtcError> {
        if !self.connected {
            return Ok(());
        }
        let Some(mid) = self.mid else { return Ok(()) };
        let Some(mut writer) = self.rtc.writer(mid) else {
            return Ok(());
        };
        let (pt, codec) = match self.send {
            Some(s) => s,
            None => {
                let Some(s) = writer
                    .payload_params()
                    .find_map(|p| our_codec(p.spec().codec).map(|c| (p.pt(), c)))
                else {
                    return Ok(());
                };
                self.send = Some(s);
                writer = self.rtc.writer(mid).ok_or(WebRtcError::NoAudio)?;
                s
            }
        };
        let mut payload = [0u8; FRAME_SAMPLES];
        codec.encode(frame, &mut payload);
        let time = MediaTime::new(self.rtp_time, Frequency::EIGHT_KHZ);
        self.rtp_time += FRAME_SAMPLES as u64;
        // str0m keeps the payload in an `Arc<[u8]>`: its one allocation per packet.
        writer.write(pt, now, time, &payload[..])?;
        self.drain(sink)
    }

    /// Starts the close (RTCP BYE, DTLS close_notify) and drains it.
    pub fn close(&mut self, sink: &mut impl MediaSink) {
        let _ = self.rtc.close();
        let _ = self.drain(sink);
    }

    fn drain(&mut self, sink: &mut impl MediaSink) -> Result<(), WebRtcError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return Ok(());
                }
                Output::Transmit(t) => sink.transmit(t.destination, &t.contents),
                Output::Event(e) => self.on_event(e, sink),
            }
        }
    }

    fn on_event(&mut self, e: Event, sink: &mut impl MediaSink) {
        match e {
            Event::Connected => {
                self.connected = true;
                sink.connected(true);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed
                if self.connected =>
            {
                self.connected = false;
                sink.connected(false);
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Audio && self.mid.is_none() => {
                self.mid = Some(m.mid);
            }
            Event::MediaData(d) => {
                if let Some(codec) = our_codec(d.params.spec().codec) {
                    self.inbound.push(codec, &d.data, &mut |f| sink.frame(f));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;
