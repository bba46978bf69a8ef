//! The embedded SQLite store (see the crate docs for its shape).
