//! The scenarios; each returns its one JSON result and prints a short human summary on stderr.

pub mod chat;
pub mod durable;
pub mod fanout;
pub mod idle;
pub mod noise;
pub mod slow;
pub mod storm;
