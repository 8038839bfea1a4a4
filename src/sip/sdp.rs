//! A small SDP (RFC 4566) with RFC 3264 offer/answer for audio-only G.711 calls.
//!
//! carecall is always the offerer on the initial INVITE toward the carrier and only
//! ever answers re-INVITEs (hold, unhold, session refresh), so this module does three
//! things and no more:
//!
//! * [`SessionDescription::parse`] reads whatever the far end sends, tolerantly
//!   (CRLF or LF, unknown lines and attributes skipped) but with typed errors when the
//!   lines we depend on (`v=`, `o=`, `c=`, `m=`, `a=rtpmap`) are missing or garbled;
//! * [`build_offer`] writes our offer;
//! * [`negotiate`] reads the carrier's answer into a [`Negotiated`] media plan, and
//!   [`answer_for_reoffer`] answers a re-INVITE.
//!
//! Directions follow RFC 3264 §5.1 and are always stated *from the point of view of
//! the SDP's author*: a [`Negotiated::direction`] of `SendOnly` means the far end
//! only sends (it put us on hold).

mod negotiate;
mod parse;
mod write;

#[cfg(test)]
mod fixtures;

use std::fmt;
use std::net::IpAddr;

pub use negotiate::{Negotiated, ReofferAnswer, answer_for_reoffer, negotiate};
pub use write::{Offer, build_offer};

/// A parsed SDP body (RFC 4566 §5): only the parts a G.711 audio call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` sess-id (RFC 4566 §5.2): with the version, identifies a re-offer.
    pub origin_session_id: u64,
    /// `o=` sess-version: bumped by the author whenever the session changes.
    pub origin_version: u64,
    /// Session-level `c=`; a media-level `c=` overrides it (RFC 4566 §5.7).
    pub connection: Option<IpAddr>,
    /// Every `m=` section, in order (RFC 3264 §6 answers must keep that order).
    pub media: Vec<MediaDescription>,
}

/// One `m=` section (RFC 4566 §5.14) with the attributes that matter for G.711 audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: `audio`, `video`, `image`, `application`…
    pub kind: String,
    /// Transport port; 0 means the stream is rejected or disabled (RFC 3264 §6).
    pub port: u16,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub proto: String,
    /// Payload types in preference order. Non-numeric formats of non-RTP streams
    /// (`m=image 0 udptl t38`) are not kept.
    pub formats: Vec<u8>,
    /// Media-level `c=`, if any.
    pub connection: Option<IpAddr>,
    /// `a=rtpmap` lines (RFC 4566 §6): needed for dynamic payload types.
    pub rtpmap: Vec<RtpMap>,
    /// `a=fmtp:<pt> <params>` lines, params kept verbatim.
    pub fmtp: Vec<(u8, String)>,
    /// Effective direction: media-level attribute, else session-level, else
    /// `sendrecv` (RFC 3264 §5.1).
    pub direction: Direction,
    /// `a=ptime` in milliseconds (RFC 4566 §6).
    pub ptime: Option<u32>,
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` (RFC 4566 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    pub encoding: String,
    pub clock_rate: u32,
    /// Audio channels; 1 when the parameter is omitted (RFC 4566 §6).
    pub channels: u8,
}

/// Stream direction attribute (RFC 3264 §5.1, RFC 4566 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name without `a=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name (without `a=`); `None` if it is not a direction.
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The direction an answerer must use for this offered one (RFC 3264 §6.1):
    /// sendonly ↔ recvonly, the others unchanged.
    pub fn mirrored(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// Whether the author of the SDP will send media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the author of the SDP wants to receive media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// Drops the receive half: RFC 2543-style hold (`c=0.0.0.0`, RFC 3264 §8.4)
    /// means "do not send to me" whatever the direction attribute says.
    fn without_receive(self) -> Self {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MediaDescription {
    /// The `a=rtpmap` entry for a payload type, if the author wrote one.
    pub fn rtpmap_for(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmap.iter().find(|m| m.pt == pt)
    }

    /// The `a=fmtp` parameters for a payload type, if any.
    pub fn fmtp_for(&self, pt: u8) -> Option<&str> {
        self.fmtp
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, params)| params.as_str())
    }

    fn is_audio(&self) -> bool {
        self.kind.eq_ignore_ascii_case("audio")
    }
}

impl SessionDescription {
    /// Where this media section's RTP goes: its own `c=`, else the session's
    /// (RFC 4566 §5.7).
    pub fn connection_for(&self, media: &MediaDescription) -> Option<IpAddr> {
        media.connection.or(self.connection)
    }

    /// The stream we use: the first audio section with a port other than 0.
    pub fn active_audio(&self) -> Result<(usize, &MediaDescription), SdpError> {
        let mut first_audio = None;
        for (index, media) in self.media.iter().enumerate().filter(|(_, m)| m.is_audio()) {
            if media.port != 0 {
                return Ok((index, media));
            }
            first_audio.get_or_insert(index);
        }
        Err(match first_audio {
            Some(index) => SdpError::AudioRejected { index },
            None => SdpError::NoAudio,
        })
    }
}

/// Why an SDP body could not be used. Messages name the offending line so that a
/// carrier interop problem can be diagnosed from the log alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("empty SDP body: the peer sent no session description")]
    Empty,
    #[error("not an SDP body: the first line must be `v=0` (RFC 4566 §5.1), got {line:?}")]
    NotSdp { line: String },
    #[error("SDP has no `o=` line (RFC 4566 §5.2)")]
    MissingOrigin,
    #[error("garbled origin line {line:?}: expected `o=<user> <id> <version> IN IP4|IP6 <addr>`")]
    MalformedOrigin { line: String },
    #[error("garbled connection line {line:?}: expected `c=IN IP4|IP6 <address>`")]
    MalformedConnection { line: String },
    #[error("SDP has no `m=` line: the peer described no media")]
    MissingMedia,
    #[error("garbled media line {line:?}: expected `m=<kind> <port> <proto> <formats>`")]
    MalformedMedia { line: String },
    #[error("garbled rtpmap {line:?}: expected `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`")]
    MalformedRtpmap { line: String },
    #[error("media section {index} has no `c=` and the session has none either (RFC 4566 §5.7)")]
    MissingConnection { index: usize },
    #[error("the peer offered or answered no audio stream")]
    NoAudio,
    #[error("the peer rejected the audio stream (port 0 in media section {index})")]
    AudioRejected { index: usize },
    #[error("unsupported audio transport {proto:?}: only plain RTP/AVP is spoken (no SRTP)")]
    UnsupportedTransport { proto: String },
    #[error(
        "no common codec: the peer lists payload types {answered:?}, none of them G.711 we offered; \
         end the call as failed (488 Not Acceptable Here)"
    )]
    NoCommonCodec { answered: Vec<u8> },
}
