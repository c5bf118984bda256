//! Time as a value that tests can control.
//!
//! Nothing in either plane calls the system clock directly: handlers and domain functions
//! take the current time from a [`Clock`], so a test can move time forward and watch a token
//! or a key expire without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// The source of the current time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The operating system's wall clock.
    #[default]
    System,
    /// A clock that only moves when told to; for tests.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start`.
    pub fn manual(start: UnixTime) -> Self {
        Self::Manual(Arc::new(AtomicI64::new(start)))
    }

    /// The current time in seconds since the Unix epoch.
    pub fn now(&self) -> UnixTime {
        match self {
            Self::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs() as i64),
            Self::Manual(now) => now.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock forward by `seconds`; the system clock ignores it.
    pub fn advance(&self, seconds: i64) {
        if let Self::Manual(now) = self {
            now.fetch_add(seconds, Ordering::Relaxed);
        }
    }
}
