//! IVR: dialplans as data and a sans-IO engine that runs them.

pub mod dialplan;
pub mod engine;
