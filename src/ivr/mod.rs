//! IVR: dialplans as data and a sans-IO engine that runs them.
//!
//! * [`dialplan`] — the questionnaire as TOML (`dialplans/*.toml`), parsed and
//!   validated against the prompt set before any call runs.
//! * [`engine`] — one call's run through a plan: events and a clock in, actions out.
//!
//! The call driver owns the I/O: it plays prompts, feeds keys and voice decisions,
//! writes clips and stores answers as the engine's [`Action`]s say.

pub mod dialplan;
pub mod engine;
mod gather;
mod outcome;
mod prompts;
mod record;
mod timer;
mod validate;

#[cfg(test)]
mod tests;

pub use dialplan::{Defaults, Dialplan, DialplanError, Node, PromptEntry, Valid};
pub use engine::{Action, CITIZEN_HANGUP, Engine, Event, NO_OPERATOR, OPERATOR_HANGUP};
pub use outcome::{Answer, EndReason, NoAnswerWhy};
pub use prompts::PromptExists;
