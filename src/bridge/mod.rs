//! Live operators: a citizen's call handed to an operator's phone (a SIP phone
//! registered with the built-in registrar, or the browser softphone over
//! WebRTC) and audio relayed both ways.
//!
//! The two sides meet in [`leg`]: 20 ms frames of 8 kHz linear PCM travel
//! between the citizen's call task and the operator leg's task over bounded
//! channels, so each side decodes and encodes with its own codec (PCMA↔PCMU
//! conversion is a decode on one side and an encode on the other), and the
//! citizen's call keeps writing the one stereo recording: citizen left,
//! operator (or prompts before the hand-over) right, with no gap.

//!
//! * [`queue`]: which operator gets the call (longest idle, claimed in the
//!   database), ringing them one after another until the wait runs out, and
//!   their wrap-up afterwards.
//! * [`sip_leg`]: the SIP phone leg (INVITE to the registered contact, RTP
//!   relay in [`relay`]); the WebRTC leg plugs in through [`OperatorReach`].

pub mod leg;
pub mod queue;
pub mod relay;
pub mod sip_leg;

pub use leg::{Frame, LegCommand, LegEvent, LegHandle, LegKind, LegPeer, leg_channel};
pub use queue::{Connected, DialContext, Hunt, OperatorQueue, OperatorReach, QueueSettings};
pub use sip_leg::SipReach;
