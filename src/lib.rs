//! carecall: outbound customer-care survey calls for the 1022 public-service hotline.
//!
//! Data flows one way: call → (sip, media, ivr) → store. Protocol state machines
//! (RTP session, DTMF detectors, IVR engine) take bytes/events and a clock and
//! return actions; the async drivers around them only move bytes and fire timers.

pub mod auth;
pub mod bridge;
pub mod call;
pub mod campaign;
pub mod config;
pub mod corrections;
pub mod demo;
pub mod dialer;
pub mod http;
pub mod intake;
pub mod ivr;
pub mod media;
pub mod number;
pub mod phone;
pub mod pii;
pub mod questionnaire;
pub mod report;
pub mod serve;
pub mod setup;
pub mod sip;
pub mod store;
pub mod telemetry;
pub mod webrtc;
