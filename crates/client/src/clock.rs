//! The wall clock, in the protocol's milliseconds: outbox deadlines and token expiry are
//! compared with times that outlive the process (the state file) or come from the server, so
//! they cannot be measured on tokio's monotonic clock. The helper is the protocol crate's, shared
//! with the server.

pub(crate) use chinwag_proto::clock::now_millis;
