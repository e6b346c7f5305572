//! Socket-free line logic shared by every simulated FXS-style line (a sim board port, an
//! exchange line card, an exchange trunk toward an FXO port): feed state, software ring cadence,
//! ring trip, and the queue of timestamped hook transitions.

use heapless::{Deque, Vec};

use crate::fxs::{Hook, HookSample, LineFeed};
use crate::time::Instant;

/// Most transitions buffered between two polls (a pulse digit "0" at 20 pps is 20 transitions
/// in half a second; the buffer is drained every tick).
pub const MAX_TRANSITIONS: usize = 32;

/// What the line must tell its peer after a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FxsSignal {
    /// The feed changed (including ring trip, which drops the feed to forward active).
    Feed(LineFeed),
    /// Ring voltage went on or off, following the cadence.
    Ring(bool),
}

/// Signals produced by one call (at most a feed change and a ring change).
pub type Signals = Vec<FxsSignal, 3>;

/// The feed/cadence/hook state of one FXS-style line, driven once per tick.
#[derive(Debug, Clone)]
pub struct FxsLineCore {
    feed: LineFeed,
    ring_started: Instant,
    ring_on: bool,
    hook: Hook,
    changed_at: Option<Instant>,
    transitions: Deque<HookSample, MAX_TRANSITIONS>,
    ring_trips: u32,
}

impl Default for FxsLineCore {
    fn default() -> Self {
        Self::new()
    }
}

impl FxsLineCore {
    pub fn new() -> Self {
        FxsLineCore {
            feed: LineFeed::ForwardActive,
            ring_started: Instant::ZERO,
            ring_on: false,
            hook: Hook::OnHook,
            changed_at: None,
            transitions: Deque::new(),
            ring_trips: 0,
        }
    }

    pub fn feed(&self) -> &LineFeed {
        &self.feed
    }

    /// Whether ring voltage is applied right now.
    pub fn ring_on(&self) -> bool {
        self.ring_on
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// How many times ringing was stopped because the phone went off-hook.
    pub fn ring_trips(&self) -> u32 {
        self.ring_trips
    }

    /// Changes the feed at `now`. Ringing an off-hook line trips at once (forward active).
    pub fn set_feed(&mut self, feed: LineFeed, now: Instant) -> Signals {
        let mut out = Signals::new();
        let feed = match feed {
            LineFeed::Ringing(_) if self.hook == Hook::OffHook => {
                self.ring_trips += 1;
                LineFeed::ForwardActive
            }
            f => f,
        };
        if let LineFeed::Ringing(_) = feed {
            self.ring_started = now;
        }
        self.feed = feed.clone();
        let _ = out.push(FxsSignal::Feed(feed));
        let ring = matches!(self.feed, LineFeed::Ringing(_));
        if self.ring_on != ring {
            self.ring_on = ring;
            let _ = out.push(FxsSignal::Ring(ring));
        }
        out
    }

    /// Records a raw loop transition at `at`. Ignores repeats of the current state.
    pub fn hook_transition(&mut self, hook: Hook, at: Instant) {
        if hook == self.hook {
            return;
        }
        self.hook = hook;
        self.changed_at = Some(at);
        if self.transitions.is_full() {
            // Never drained: keep the newest, the detector resynchronises from the sample.
            let _ = self.transitions.pop_front();
        }
        let _ = self.transitions.push_back(HookSample {
            hook,
            changed_at: Some(at),
        });
    }

    /// Runs cadence and ring trip up to `now`.
    pub fn tick(&mut self, now: Instant) -> Signals {
        let mut out = Signals::new();
        if let LineFeed::Ringing(c) = &self.feed {
            if self.hook == Hook::OffHook {
                self.ring_trips += 1;
                self.feed = LineFeed::ForwardActive;
                let _ = out.push(FxsSignal::Feed(LineFeed::ForwardActive));
                if self.ring_on {
                    self.ring_on = false;
                    let _ = out.push(FxsSignal::Ring(false));
                }
            } else {
                let on = c.is_ringing_at(now - self.ring_started);
                if on != self.ring_on {
                    self.ring_on = on;
                    let _ = out.push(FxsSignal::Ring(on));
                }
            }
        }
        out
    }

    /// The current sample for [`crate::fxs::FxsLine::poll`].
    pub fn sample(&self) -> HookSample {
        HookSample {
            hook: self.hook,
            changed_at: self.changed_at,
        }
    }

    /// Next buffered transition for [`crate::fxs::FxsLine::next_transition`].
    pub fn next_transition(&mut self) -> Option<HookSample> {
        self.transitions.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LineError;
    use crate::fxs::{FxsEventKind, FxsLine, HookDetector, HookTiming, RingCadence};
    use core::time::Duration;

    /// A line whose transitions arrive in bursts, `lag` after they happened.
    struct Bursty {
        core: FxsLineCore,
        pending: std::vec::Vec<(Hook, Instant)>,
        lag: Duration,
    }

    impl FxsLine for Bursty {
        fn set_feed(&mut self, _: LineFeed) -> Result<(), LineError> {
            Ok(())
        }
        fn poll(&mut self, now: Instant) -> Result<HookSample, LineError> {
            let lag = self.lag;
            let (due, later): (std::vec::Vec<_>, std::vec::Vec<_>) =
                self.pending.iter().partition(|(_, at)| *at + lag <= now);
            self.pending = later;
            for (h, at) in due {
                self.core.hook_transition(h, at);
            }
            Ok(self.core.sample())
        }
        fn next_transition(&mut self) -> Option<HookSample> {
            self.core.next_transition()
        }
        fn reported_until(&self, now: Instant) -> Instant {
            Instant::from_micros(now.as_micros().saturating_sub(self.lag.as_micros() as u64))
        }
    }

    #[test]
    fn track_classifies_late_bursts_of_pulses() {
        // Digits 3 and 1 at 20 pps (30 ms break, 20 ms make), reported 200 ms late, polled every
        // 10 ms: several transitions per poll, all after the interdigit time has passed on `now`.
        let mut t = 1000u64;
        let mut pending = std::vec![(Hook::OffHook, Instant::from_millis(500))];
        for d in [3, 1] {
            for _ in 0..d {
                pending.push((Hook::OnHook, Instant::from_millis(t)));
                pending.push((Hook::OffHook, Instant::from_millis(t + 30)));
                t += 50;
            }
            t += 600;
        }
        let mut line = Bursty {
            core: FxsLineCore::new(),
            pending,
            lag: Duration::from_millis(200),
        };
        let mut det = HookDetector::new(HookTiming::default()).unwrap();
        let mut ev = std::vec::Vec::new();
        for ms in (0..4000).step_by(10) {
            let upto = det.track(&mut line, Instant::from_millis(ms)).unwrap();
            while let Some(e) = det.poll(upto) {
                ev.push(e.kind);
            }
        }
        assert_eq!(
            ev,
            [
                FxsEventKind::OffHook,
                FxsEventKind::PulseDigit { digit: 3 },
                FxsEventKind::PulseDigit { digit: 1 }
            ]
        );
    }

    #[test]
    fn cadence_and_ring_trip() {
        let mut c = FxsLineCore::new();
        let cad = RingCadence::new(&[(1000, 2000)], 20).unwrap();
        let s = c.set_feed(LineFeed::Ringing(cad), Instant::from_millis(0));
        assert_eq!(s.last(), Some(&FxsSignal::Ring(true)));
        assert!(c.tick(Instant::from_millis(990)).is_empty());
        assert_eq!(
            c.tick(Instant::from_millis(1000)).as_slice(),
            &[FxsSignal::Ring(false)]
        );
        assert_eq!(
            c.tick(Instant::from_millis(3000)).as_slice(),
            &[FxsSignal::Ring(true)]
        );
        c.hook_transition(Hook::OffHook, Instant::from_millis(3100));
        assert_eq!(
            c.tick(Instant::from_millis(3110)).as_slice(),
            &[FxsSignal::Feed(LineFeed::ForwardActive), FxsSignal::Ring(false)]
        );
        assert_eq!(c.ring_trips(), 1);
        assert_eq!(c.next_transition().map(|t| t.hook), Some(Hook::OffHook));
        assert_eq!(c.next_transition(), None);
    }
}
