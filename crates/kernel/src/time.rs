//! Kernel time: integer microseconds, never floats.

use serde::{Deserialize, Serialize};

/// An instant in kernel time, in microseconds since the Unix epoch.
///
/// The live shell maps the wall clock onto it; the simulator starts it at a fixed epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub u64);

/// A span of kernel time, in microseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dur(pub u64);

impl Time {
    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Time {
        Time(secs * 1_000_000)
    }
    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// This instant moved forward by `d`, saturating at the end of time.
    pub const fn plus(self, d: Dur) -> Time {
        Time(self.0.saturating_add(d.0))
    }
    /// The span from `earlier` to `self`, zero if `earlier` is later.
    pub const fn since(self, earlier: Time) -> Dur {
        Dur(self.0.saturating_sub(earlier.0))
    }
}

impl Dur {
    /// A span of `s` seconds.
    pub const fn secs(s: u64) -> Dur {
        Dur(s * 1_000_000)
    }
    /// A span of `ms` milliseconds.
    pub const fn millis(ms: u64) -> Dur {
        Dur(ms * 1_000)
    }
    /// The span in whole milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
}
