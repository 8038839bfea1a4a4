//! Shared helpers for the integration tests in `tests/`.
//!
//! Each test binary (`tests/*.rs`) declares `mod common;` and uses a subset of what is
//! here, so unused items are expected per binary.
#![allow(dead_code, unused_imports)]

pub mod peers;
pub mod pg;
