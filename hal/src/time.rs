//! Monotonic time for the line state machines.
//!
//! The HAL never reads a clock itself: callers pass `now`, so every timing path is testable in
//! virtual time. On a running board `now` comes from the PCM clock (frames counted since start).

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time, in microseconds since an arbitrary origin (the board's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms * 1000)
    }
    /// The instant at which sample number `n` of the 8 kHz PCM stream starts.
    pub const fn from_samples(n: u64) -> Self {
        Instant(n * 125)
    }
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }
    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_micros() as u64))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_clock_maps_to_time() {
        assert_eq!(Instant::from_samples(80).as_millis(), 10);
        assert_eq!(
            Instant::from_millis(5) + Duration::from_millis(7),
            Instant::from_millis(12)
        );
        assert_eq!(Instant::from_millis(3) - Instant::from_millis(9), Duration::ZERO);
    }
}
