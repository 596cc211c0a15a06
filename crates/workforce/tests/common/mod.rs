//! Shared by the schedule tests; each test binary uses part of it.
#![allow(dead_code)]

pub mod bank_week;
pub mod check;
