//! The scenarios; each returns its one JSON result and prints a short human summary on stderr.
//!
//! Shared by several: `room` (one room of every member, publishers on a schedule: `fanout`,
//! `slow`) and [`two_rooms`] (every member in two rooms of G: `idle`, `storm`).

pub mod chat;
pub mod durable;
pub mod fanout;
pub mod idle;
pub mod noise;
pub(crate) mod room;
pub mod slow;
pub mod storm;
pub mod two_rooms;
