//! The browser softphone's server side: WebSocket signalling and WebRTC audio.
//!
//! An operator (điện thoại viên) opens the softphone page; it connects a
//! WebSocket (authenticated by the session cookie, [`http`]) and offers one
//! audio-only peer connection, which the server answers with str0m: ICE-lite
//! on one shared UDP socket ([`hub`]), DTLS-SRTP, PCMU/PCMA only ([`media`]).
//! The page registers the operator in [`WebPhones`]; a call for them rings
//! the page ([`phone`], a sans-IO state machine driven by [`session`]) and,
//! once accepted, its audio is relayed through a [`crate::bridge::LegPeer`]
//! as 20 ms PCM frames, like any other operator leg.

pub mod http;
pub mod hub;
pub mod media;
pub mod phone;
pub mod protocol;
mod reach;
pub mod registry;
pub mod session;
pub mod testcall;

use std::net::SocketAddr;

pub use protocol::{ClientMsg, PhoneStatus, RingInfo, ServerMsg};
pub use registry::WebPhones;

/// What can go wrong on the WebRTC side.
#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    #[error("cannot bind the WebRTC socket {addr} (check webrtc.bind): {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("webrtc.bind / webrtc.public_addr give no address browsers can send to")]
    NoCandidate,
    #[error("host candidate {addr} refused: {reason}")]
    Candidate { addr: SocketAddr, reason: String },
    #[error("the page's SDP offer cannot be answered: {0}")]
    BadOffer(String),
    #[error("the negotiated session has no PCMU/PCMA audio")]
    NoAudio,
    #[error("WebRTC: {0}")]
    Rtc(#[from] str0m::RtcError),
    #[error("the WebRTC media task has stopped")]
    HubGone,
}
