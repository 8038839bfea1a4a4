//! SIP signalling toward the carrier's trunk.

pub mod agent;
pub mod sdp;
pub mod uac;
