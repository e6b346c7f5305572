//! FXO lines: we are a phone on an exchange line.
//!
//! A DAA driver implements [`FxoLine`]: it seizes and releases the line and reports raw readings
//! (ring signal, tip-ring voltage with its sign, loop current), as a Si3050 does through its
//! ring-detect, LVS and LCS registers. [`FxoMonitor`] turns those readings into the supervision
//! events call control acts on.

use core::time::Duration;

use crate::error::LineError;
use crate::time::Instant;

/// One reading of the exchange line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FxoReading {
    /// Ring voltage detected (validated by the DAA's ring detector).
    pub ringing: bool,
    /// Tip-ring DC voltage in volts, signed: the sign gives the battery polarity. About ±48 V
    /// idle on-hook, a few volts off-hook, 0 when no line is connected or during a CPC open.
    pub tip_ring_volts: i16,
    /// Loop current in mA while off-hook (0 on-hook).
    pub loop_current_ma: u16,
}

/// A DAA (or the simulated exchange line) as seen from the gateway.
pub trait FxoLine {
    /// Seizes (`true`: go off-hook) or releases the line.
    fn set_off_hook(&mut self, off_hook: bool) -> Result<(), LineError>;

    /// Reads the line. Called once per 10 ms tick by the media loop.
    fn read(&mut self, now: Instant) -> Result<FxoReading, LineError>;
}

/// Battery polarity as seen at tip/ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    Normal,
    Reversed,
}

/// Supervision events from an exchange line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FxoEventKind {
    /// A validated burst of ringing began.
    RingStart,
    /// The burst ended; `on` is how long it lasted (for cadence matching).
    RingStop { on: Duration },
    /// Battery polarity changed (answer or disconnect supervision).
    PolarityReversal { to: Polarity },
    /// Loop current disappeared while we held the line (calling party control / disconnect).
    LoopCurrentDrop,
    /// Loop current came back after a drop; `after` is how long it was gone.
    LoopCurrentRestored { after: Duration },
    /// Line voltage appeared (a line is plugged in).
    LinePresent,
    /// No line voltage for longer than `line_absent_min` while on-hook.
    LineAbsent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FxoEvent {
    pub kind: FxoEventKind,
    pub at: Instant,
}

/// Thresholds and times for supervision. Defaults suit most exchanges; CPC and polarity
/// debounce follow common FXO gateway settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FxoTiming {
    /// Ringing shorter than this is not a ring (line transients, tinkle).
    pub ring_on_min: Duration,
    /// A gap shorter than this inside ringing is part of the burst (20/25 Hz zero crossings).
    pub ring_off_min: Duration,
    /// Polarity must hold this long before a reversal is reported.
    pub polarity_debounce: Duration,
    /// Loop current must be absent this long while off-hook to report a drop.
    pub cpc_min: Duration,
    /// Below this many volts (magnitude) the line counts as absent / open.
    pub line_volts_min: i16,
    /// Below this many mA off-hook there is no loop current.
    pub loop_current_min_ma: u16,
    /// How long the line voltage must be gone (on-hook) before the line is declared absent.
    pub line_absent_min: Duration,
}

impl Default for FxoTiming {
    fn default() -> Self {
        FxoTiming {
            ring_on_min: Duration::from_millis(100),
            ring_off_min: Duration::from_millis(100),
            polarity_debounce: Duration::from_millis(30),
            cpc_min: Duration::from_millis(90),
            line_volts_min: 3,
            loop_current_min_ma: 8,
            line_absent_min: Duration::from_millis(2000),
        }
    }
}

/// Debounces a boolean condition: reports a change once it has held for `min`.
#[derive(Debug, Clone, Copy)]
struct Debounced {
    stable: bool,
    candidate: bool,
    since: Instant,
}

impl Debounced {
    fn new(v: bool) -> Self {
        Debounced {
            stable: v,
            candidate: v,
            since: Instant::ZERO,
        }
    }

    /// Returns `Some(new_state, changed_at)` when the condition settles into a new state.
    fn update(&mut self, v: bool, now: Instant, min: Duration) -> Option<(bool, Instant)> {
        if v != self.candidate {
            self.candidate = v;
            self.since = now;
        }
        if self.candidate != self.stable && now - self.since >= min {
            self.stable = self.candidate;
            return Some((self.stable, self.since));
        }
        None
    }
}

/// Turns [`FxoReading`]s into [`FxoEvent`]s. Sans-IO: call [`FxoMonitor::update`] once per tick.
#[derive(Debug, Clone)]
pub struct FxoMonitor {
    timing: FxoTiming,
    off_hook: bool,
    ring: Debounced,
    ring_started: Instant,
    polarity: Option<Polarity>,
    polarity_candidate: Option<(Polarity, Instant)>,
    current: Debounced,
    current_lost_at: Instant,
    present: Debounced,
    out: heapless::Deque<FxoEvent, 8>,
}

impl FxoMonitor {
    pub fn new(timing: FxoTiming) -> Self {
        FxoMonitor {
            timing,
            off_hook: false,
            ring: Debounced::new(false),
            ring_started: Instant::ZERO,
            polarity: None,
            polarity_candidate: None,
            current: Debounced::new(false),
            current_lost_at: Instant::ZERO,
            present: Debounced::new(false),
            out: heapless::Deque::new(),
        }
    }

    pub fn timing(&self) -> &FxoTiming {
        &self.timing
    }

    /// Tells the monitor we seized or released the line (loop current is only meaningful off-hook).
    pub fn set_off_hook(&mut self, off_hook: bool, now: Instant) {
        self.off_hook = off_hook;
        // Start from "current present" when seizing so the first drop is measured from the seizure.
        self.current = Debounced::new(off_hook);
        self.current.since = now;
    }

    /// Current polarity, once known.
    pub fn polarity(&self) -> Option<Polarity> {
        self.polarity
    }

    fn emit(&mut self, kind: FxoEventKind, at: Instant) {
        if self.out.is_full() {
            let _ = self.out.pop_front();
        }
        let _ = self.out.push_back(FxoEvent { kind, at });
    }

    /// Feeds one reading taken at `now`.
    pub fn update(&mut self, r: FxoReading, now: Instant) {
        let t = self.timing;

        // Ringing: require `ring_on_min` to start, `ring_off_min` of silence to stop.
        if r.ringing != self.ring.candidate {
            self.ring.candidate = r.ringing;
            self.ring.since = now;
        }
        let need = if self.ring.candidate {
            t.ring_on_min
        } else {
            t.ring_off_min
        };
        if self.ring.candidate != self.ring.stable && now - self.ring.since >= need {
            self.ring.stable = self.ring.candidate;
            if self.ring.stable {
                self.ring_started = self.ring.since;
                self.emit(FxoEventKind::RingStart, self.ring.since);
            } else {
                let on = self.ring.since - self.ring_started;
                self.emit(FxoEventKind::RingStop { on }, self.ring.since);
            }
        }

        // Line presence: judged on voltage while on-hook and not ringing, on current off-hook.
        let volts = r.tip_ring_volts.unsigned_abs() as i16;
        let has_line = volts >= t.line_volts_min || r.ringing || (self.off_hook && r.loop_current_ma > 0);
        let min_absent = if has_line {
            Duration::ZERO
        } else {
            t.line_absent_min
        };
        if let Some((present, at)) = self.present.update(has_line, now, min_absent) {
            self.emit(
                if present {
                    FxoEventKind::LinePresent
                } else {
                    FxoEventKind::LineAbsent
                },
                at,
            );
        }

        // Polarity: only from a clear voltage reading, debounced.
        if volts >= t.line_volts_min && !r.ringing {
            let p = if r.tip_ring_volts >= 0 {
                Polarity::Normal
            } else {
                Polarity::Reversed
            };
            match self.polarity {
                None => self.polarity = Some(p),
                Some(cur) if cur == p => self.polarity_candidate = None,
                Some(_) => {
                    let since = match self.polarity_candidate {
                        Some((c, s)) if c == p => s,
                        _ => {
                            self.polarity_candidate = Some((p, now));
                            now
                        }
                    };
                    if now - since >= t.polarity_debounce {
                        self.polarity = Some(p);
                        self.polarity_candidate = None;
                        self.emit(FxoEventKind::PolarityReversal { to: p }, since);
                    }
                }
            }
        }

        // Loop current while we hold the line.
        if self.off_hook {
            let has_current = r.loop_current_ma >= t.loop_current_min_ma;
            let need = if has_current { Duration::ZERO } else { t.cpc_min };
            if let Some((cur, at)) = self.current.update(has_current, now, need) {
                if cur {
                    let after = at - self.current_lost_at;
                    self.emit(FxoEventKind::LoopCurrentRestored { after }, at);
                } else {
                    self.current_lost_at = at;
                    self.emit(FxoEventKind::LoopCurrentDrop, at);
                }
            }
        }
    }

    /// Next event classified so far.
    pub fn poll(&mut self) -> Option<FxoEvent> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &mut FxoMonitor, from_ms: u64, to_ms: u64, r: FxoReading) -> std::vec::Vec<FxoEventKind> {
        let mut ev = std::vec::Vec::new();
        let mut t = from_ms;
        while t < to_ms {
            m.update(r, Instant::from_millis(t));
            while let Some(e) = m.poll() {
                ev.push(e.kind);
            }
            t += 10;
        }
        ev
    }

    const IDLE: FxoReading = FxoReading {
        ringing: false,
        tip_ring_volts: 48,
        loop_current_ma: 0,
    };

    #[test]
    fn ring_bursts_are_reported_with_duration() {
        let mut m = FxoMonitor::new(FxoTiming::default());
        assert_eq!(run(&mut m, 0, 500, IDLE), [FxoEventKind::LinePresent]);
        let ring = FxoReading {
            ringing: true,
            ..IDLE
        };
        assert_eq!(run(&mut m, 500, 2500, ring), [FxoEventKind::RingStart]);
        assert_eq!(
            run(&mut m, 2500, 3000, IDLE),
            [FxoEventKind::RingStop {
                on: Duration::from_millis(2000)
            }]
        );
        // A 50 ms transient is not a ring.
        assert_eq!(run(&mut m, 3000, 3050, ring), []);
        assert_eq!(run(&mut m, 3050, 4000, IDLE), []);
    }

    #[test]
    fn polarity_reversal_and_cpc_while_off_hook() {
        let mut m = FxoMonitor::new(FxoTiming::default());
        run(&mut m, 0, 100, IDLE);
        m.set_off_hook(true, Instant::from_millis(100));
        let talk = FxoReading {
            ringing: false,
            tip_ring_volts: 8,
            loop_current_ma: 30,
        };
        assert_eq!(run(&mut m, 100, 1000, talk), []);
        let reversed = FxoReading {
            tip_ring_volts: -8,
            ..talk
        };
        assert_eq!(
            run(&mut m, 1000, 1100, reversed),
            [FxoEventKind::PolarityReversal {
                to: Polarity::Reversed
            }]
        );
        let open = FxoReading {
            ringing: false,
            tip_ring_volts: 0,
            loop_current_ma: 0,
        };
        assert_eq!(run(&mut m, 1100, 1400, open), [FxoEventKind::LoopCurrentDrop]);
        assert_eq!(
            run(&mut m, 1400, 1500, reversed),
            [FxoEventKind::LoopCurrentRestored {
                after: Duration::from_millis(300)
            }]
        );
    }

    #[test]
    fn unplugged_line_is_absent() {
        let mut m = FxoMonitor::new(FxoTiming::default());
        run(&mut m, 0, 100, IDLE);
        let none = FxoReading::default();
        assert_eq!(run(&mut m, 100, 1500, none), []);
        assert_eq!(run(&mut m, 1500, 2500, none), [FxoEventKind::LineAbsent]);
    }
}
