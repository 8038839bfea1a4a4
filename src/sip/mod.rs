//! SIP signalling: toward the carrier's trunk, and the built-in registrar for
//! operators' phones.

pub mod agent;
pub mod peers;
pub mod registrar;
pub mod registration;
pub mod sdp;
pub mod uac;
