//! Writing our SDP: the initial offer and the pieces an answer shares with it.
//!
//! We always write CRLF (RFC 4566 §5), every payload type with an `a=rtpmap` (static
//! ones too: RFC 4566 §6 allows it and some carrier SBCs expect it), and an explicit
//! direction attribute so that hold state never depends on defaults.

use std::fmt::{self, Write};
use std::net::IpAddr;

use super::{Direction, MediaDescription};
use crate::media::codec::Codec;

/// The DTMF events we handle: digits, `*`, `#` and A–D (RFC 4733 §3.2).
const DTMF_EVENTS: &str = "0-15";

/// G.711 packetisation we send (RFC 3551 §4.5: 20 ms is the default for G.711).
const PTIME_MS: u32 = 20;

/// Our initial offer (RFC 3264 §5) for one G.711 audio stream. Its `Display` is the
/// SDP body; [`build_offer`] is the shorthand.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// Address the carrier should send RTP to (our public or trunk-facing address).
    pub local: IpAddr,
    pub rtp_port: u16,
    /// Codecs in our order of preference; each uses its static payload type.
    pub codecs: &'a [Codec],
    /// Dynamic payload type for RFC 4733 telephone-event (usually 101).
    pub telephone_event_pt: u8,
    /// `o=` session id: random per call, constant for the dialog (RFC 4566 §5.2).
    pub session_id: u64,
    /// `o=` version: incremented with every SDP we send in the dialog.
    pub version: u64,
}

impl fmt::Display for Offer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_assert!(!self.codecs.is_empty(), "an offer needs at least one codec");
        write_header(f, self.local, self.session_id, self.version)?;
        let audio = LocalAudio {
            port: self.rtp_port,
            codec_pts: self.codecs.iter().map(|&c| (c.payload_type(), c)),
            telephone_event: Some(self.telephone_event_pt),
            direction: Direction::SendRecv,
        };
        audio.write(f)
    }
}

/// Builds our offer: `m=audio <port> RTP/AVP 8 0 101` with rtpmap, fmtp, ptime and
/// sendrecv. `codecs` must not be empty.
pub fn build_offer(
    local: IpAddr,
    rtp_port: u16,
    codecs: &[Codec],
    telephone_event_pt: u8,
    session_id: u64,
    version: u64,
) -> String {
    Offer {
        local,
        rtp_port,
        codecs,
        telephone_event_pt,
        session_id,
        version,
    }
    .to_string()
}

/// `v=` through `t=` (RFC 4566 §5: that order is mandatory). The session-level `c=`
/// covers our one audio stream.
pub(super) fn write_header(
    w: &mut impl Write,
    local: IpAddr,
    session_id: u64,
    version: u64,
) -> fmt::Result {
    let family = match local {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    write!(
        w,
        "v=0\r\n\
         o=carecall {session_id} {version} IN {family} {local}\r\n\
         s=carecall\r\n\
         c=IN {family} {local}\r\n\
         t=0 0\r\n"
    )
}

/// Our audio section, shared by offer and answer.
pub(super) struct LocalAudio<I> {
    pub port: u16,
    /// Payload type and codec, in preference order.
    pub codec_pts: I,
    pub telephone_event: Option<u8>,
    pub direction: Direction,
}

impl<I: Iterator<Item = (u8, Codec)> + Clone> LocalAudio<I> {
    pub(super) fn write(&self, w: &mut impl Write) -> fmt::Result {
        write!(w, "m=audio {} RTP/AVP", self.port)?;
        for (pt, _) in self.codec_pts.clone() {
            write!(w, " {pt}")?;
        }
        if let Some(te) = self.telephone_event {
            write!(w, " {te}")?;
        }
        w.write_str("\r\n")?;
        for (pt, codec) in self.codec_pts.clone() {
            write!(w, "a=rtpmap:{pt} {}/8000\r\n", codec.name())?;
        }
        if let Some(te) = self.telephone_event {
            write!(
                w,
                "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} {DTMF_EVENTS}\r\n"
            )?;
        }
        write!(w, "a=ptime:{PTIME_MS}\r\na={}\r\n", self.direction)
    }
}

/// A refused stream in an answer (RFC 3264 §6): same kind and transport, port 0,
/// and at least one format as the grammar demands (RFC 4566 §5.14).
pub(super) fn write_rejected(w: &mut impl Write, media: &MediaDescription) -> fmt::Result {
    write!(w, "m={} 0 {}", media.kind, media.proto)?;
    if media.formats.is_empty() {
        // Non-RTP formats (t38, `*`) are not kept by the parser; any format will
        // do on a rejected line.
        let placeholder = if media.proto.eq_ignore_ascii_case("udptl") {
            "t38"
        } else {
            "0"
        };
        write!(w, " {placeholder}")?;
    }
    for pt in &media.formats {
        write!(w, " {pt}")?;
    }
    w.write_str("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::sdp::SessionDescription;

    const PCMA_FIRST: [Codec; 2] = [Codec::Pcma, Codec::Pcmu];

    #[test]
    fn offer_is_exactly_the_documented_body() {
        let sdp = build_offer(
            "203.0.113.7".parse().unwrap(),
            20000,
            &PCMA_FIRST,
            101,
            42,
            1,
        );
        assert_eq!(
            sdp,
            "v=0\r\n\
             o=carecall 42 1 IN IP4 203.0.113.7\r\n\
             s=carecall\r\n\
             c=IN IP4 203.0.113.7\r\n\
             t=0 0\r\n\
             m=audio 20000 RTP/AVP 8 0 101\r\n\
             a=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn offer_over_ipv6_parses_back() {
        let local = "2001:db8::7".parse().unwrap();
        let sdp = build_offer(local, 30000, &[Codec::Pcmu], 96, 7, 3);
        assert!(sdp.contains("o=carecall 7 3 IN IP6 2001:db8::7\r\n"));
        assert!(sdp.contains("c=IN IP6 2001:db8::7\r\n"));
        let parsed = SessionDescription::parse(&sdp).unwrap();
        assert_eq!(parsed.connection, Some(local));
        assert_eq!(parsed.media[0].formats, [0, 96]);
        assert_eq!(parsed.media[0].fmtp_for(96), Some("0-15"));
        assert_eq!(parsed.media[0].direction, Direction::SendRecv);
    }

    #[test]
    fn every_line_ends_in_crlf() {
        let sdp = build_offer("10.0.0.1".parse().unwrap(), 4000, &PCMA_FIRST, 101, 1, 1);
        assert!(sdp.ends_with("\r\n"));
        assert_eq!(sdp.matches('\n').count(), sdp.matches("\r\n").count());
    }

    #[test]
    fn rejected_lines_keep_kind_and_proto() {
        let sdp =
            SessionDescription::parse(super::super::fixtures::AUDIO_AND_T38_REJECTED).unwrap();
        let mut out = String::new();
        write_rejected(&mut out, &sdp.media[1]).unwrap();
        assert_eq!(out, "m=image 0 udptl t38\r\n");
        let video = SessionDescription::parse(super::super::fixtures::VIDEO_THEN_AUDIO).unwrap();
        out.clear();
        write_rejected(&mut out, &video.media[0]).unwrap();
        assert_eq!(out, "m=video 0 RTP/AVP 96\r\n");
    }
}
