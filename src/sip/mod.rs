//! SIP signalling toward the carrier's trunk.

pub mod agent;
pub mod registration;
pub mod sdp;
pub mod uac;
