//! SIP signalling toward the carrier's trunk.

pub mod sdp;
