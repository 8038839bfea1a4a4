//! SIP signalling: toward the carrier's trunk, and the built-in registrar for
//! operators' phones.

pub mod agent;
pub mod ingress;
pub mod peers;
pub mod registrar;
pub mod registration;
pub mod sdp;
pub mod tcp_accept;
pub mod uac;
pub mod via;
