//! Handles the session hands out. They are allocated in order, so the same input script
//! always yields the same ids.

use core::fmt;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

id_type!(
    /// A turn of the session.
    TurnId,
    "turn"
);
id_type!(
    /// A request inside a turn.
    RequestId,
    "req"
);
id_type!(
    /// A transport connection the driver opened on the session's behalf: one HTTP
    /// exchange or one WebSocket.
    ConnId,
    "conn"
);

/// Allocates ids in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdAllocator {
    next: u64,
}

impl IdAllocator {
    /// The next number, starting at 1.
    pub(crate) fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}
