//! The dialer's decisions, without I/O: which dossiers to call (sampling), when a
//! call may start and when to try again (schedule), and how many calls run at once
//! (pacing). Everything here takes plain data and the time as arguments and returns
//! a decision; the async driver and the store around it do the calling and saving.

pub mod pacing;
pub mod sampling;
pub mod schedule;
pub mod units;
