//! The pure parts of the `everynode` command line: text rendering of tables, `describe`,
//! `rollout` messages and `why` verdicts.
//!
//! Everything here is a function of objects and a fixed `now`, with no IO, so the output can
//! be pinned by snapshot tests; the binary's command modules fetch the objects and print.

pub mod describe;
pub mod output;
pub mod rollout;
pub mod why;
