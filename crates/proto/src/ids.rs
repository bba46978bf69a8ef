//! Typed identifiers. Every id that crosses a module line is one of these newtypes, so a user id can
//! never be passed where a conversation id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string as this kind of id; nothing is checked (the server validates ids
            /// where they come in).
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The id as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// A fully isolated space: one app or customer. Single-app installs use [`TenantId::default_tenant`].
    TenantId
);
string_id!(
    /// A user within a tenant: the JWT `sub`, or the id of a built-in account.
    UserId
);
string_id!(
    /// A conversation, server-assigned (ULID, so ids sort by creation time).
    ConversationId
);
string_id!(
    /// A message, server-assigned and time-ordered (ULID).
    MessageId
);
string_id!(
    /// Chosen by the sending device; the idempotency key of a send together with the sender (G2).
    ClientMsgId
);

impl TenantId {
    /// The tenant used when a token names none.
    pub fn default_tenant() -> Self {
        Self("default".to_owned())
    }
}

/// One connection of a user (a tab, a phone) on one node: assigned by the node when the device
/// attaches, unique within that node's lifetime. Presence leases and the hub's registry key on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub u64);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A request id chosen by the client; every request that carries one gets exactly one reply with it.
/// Clients may use strings or numbers, so it is kept as the raw JSON value.
pub type RequestId = serde_json::Value;

/// Position of a message in its conversation: 1, 2, 3, … with no gaps (G3).
pub type Seq = u64;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;
