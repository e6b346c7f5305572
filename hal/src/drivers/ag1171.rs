//! Silvertel Ag1171 class SLIC driven by three GPIO lines: an FXS port for simple boards.
//!
//! The module feeds the loop by itself and needs only: RM (ring mode: ring voltage instead of
//! talk battery), F/R (forward/reverse polarity) and SHK (switch-hook detect output, asserted
//! while the loop is closed, also during ringing for ring trip). Ringing is made by driving RM
//! and toggling F/R at twice the ring frequency; the toggling is computed from `now`, so it
//! is exact whenever it is called often enough: [`FxsLine::poll`] does it every tick, and a board
//! wanting clean 20/25 Hz half-cycles calls [`Ag1171::ring_tick`] from a 1-5 ms timer.
//!
//! The module cannot open the loop, so [`LineFeed::Open`] is refused with
//! [`LineError::Unsupported`]; reverse polarity serves as the disconnect signal instead.
//! Audio passes in every state, so on-hook transmission is plain forward or reverse feed.

use embedded_hal::digital::{InputPin, OutputPin};

use crate::error::LineError;
use crate::fxs::{FxsLine, Hook, HookSample, LineFeed, RingCadence};
use crate::time::Instant;

/// Pin polarities of a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ag1171Config {
    /// SHK level meaning off-hook.
    pub shk_off_hook_high: bool,
    /// RM level selecting ring mode.
    pub rm_ring_high: bool,
    /// F/R level selecting forward polarity.
    pub fr_forward_high: bool,
}

impl Default for Ag1171Config {
    fn default() -> Self {
        Ag1171Config {
            shk_off_hook_high: true,
            rm_ring_high: true,
            fr_forward_high: true,
        }
    }
}

/// Ring frequencies the module's ring generator is specified for.
pub const RING_HZ: core::ops::RangeInclusive<u8> = 15..=60;

/// Polarity (true = forward) of F/R `elapsed_us` into ringing at `freq_hz`: the first half
/// cycle is forward, and F/R flips every half period.
pub fn ring_polarity(elapsed_us: u64, freq_hz: u8) -> bool {
    let half_period_us = 500_000 / u64::from(freq_hz.max(1));
    (elapsed_us / half_period_us).is_multiple_of(2)
}

#[derive(Debug, Clone)]
struct Ringing {
    cadence: RingCadence,
    start: Option<Instant>,
}

/// An Ag1171 on three GPIO lines.
pub struct Ag1171<RM, FR, SHK> {
    rm: RM,
    fr: FR,
    shk: SHK,
    config: Ag1171Config,
    feed: LineFeed,
    ringing: Option<Ringing>,
    /// Levels last driven (logical: ring mode on, polarity forward), to write only changes.
    rm_on: Option<bool>,
    forward: Option<bool>,
}

impl<RM: OutputPin, FR: OutputPin, SHK: InputPin> Ag1171<RM, FR, SHK> {
    /// Takes the pins and drives forward talk battery.
    pub fn new(rm: RM, fr: FR, shk: SHK, config: Ag1171Config) -> Result<Self, LineError> {
        let mut slic = Ag1171 {
            rm,
            fr,
            shk,
            config,
            feed: LineFeed::ForwardActive,
            ringing: None,
            rm_on: None,
            forward: None,
        };
        slic.drive(false, true)?;
        Ok(slic)
    }

    pub fn feed(&self) -> &LineFeed {
        &self.feed
    }

    pub fn release(self) -> (RM, FR, SHK) {
        (self.rm, self.fr, self.shk)
    }

    fn drive(&mut self, ring: bool, forward: bool) -> Result<(), LineError> {
        if self.rm_on != Some(ring) {
            let high = ring == self.config.rm_ring_high;
            if high {
                self.rm.set_high()
            } else {
                self.rm.set_low()
            }
            .map_err(|_| LineError::Bus)?;
            self.rm_on = Some(ring);
        }
        if self.forward != Some(forward) {
            let high = forward == self.config.fr_forward_high;
            if high {
                self.fr.set_high()
            } else {
                self.fr.set_low()
            }
            .map_err(|_| LineError::Bus)?;
            self.forward = Some(forward);
        }
        Ok(())
    }

    /// Advances ring generation to `now`: ring mode per the cadence, F/R toggled per the ring
    /// frequency. Cheap when nothing changes; call it as often as the board's timer allows.
    pub fn ring_tick(&mut self, now: Instant) -> Result<(), LineError> {
        let Some(r) = self.ringing.as_mut() else {
            return Ok(());
        };
        let start = *r.start.get_or_insert(now);
        let elapsed = now - start;
        let on = r.cadence.is_ringing_at(elapsed);
        let forward = !on || ring_polarity(elapsed.as_micros() as u64, r.cadence.frequency_hz);
        self.drive(on, forward)
    }

    fn hook(&mut self) -> Result<Hook, LineError> {
        let high = self.shk.is_high().map_err(|_| LineError::Bus)?;
        Ok(if high == self.config.shk_off_hook_high {
            Hook::OffHook
        } else {
            Hook::OnHook
        })
    }
}

impl<RM: OutputPin, FR: OutputPin, SHK: InputPin> FxsLine for Ag1171<RM, FR, SHK> {
    fn set_feed(&mut self, feed: LineFeed) -> Result<(), LineError> {
        match &feed {
            LineFeed::Open => return Err(LineError::Unsupported),
            LineFeed::ForwardActive | LineFeed::OnHookTransmission { reverse: false } => {
                self.ringing = None;
                self.drive(false, true)?;
            }
            LineFeed::ReverseActive | LineFeed::OnHookTransmission { reverse: true } => {
                self.ringing = None;
                self.drive(false, false)?;
            }
            LineFeed::Ringing(c) => {
                if !RING_HZ.contains(&c.frequency_hz) {
                    return Err(LineError::Unsupported);
                }
                // Ringing starts at the next tick, on a forward half cycle.
                self.ringing = Some(Ringing {
                    cadence: c.clone(),
                    start: None,
                });
            }
        }
        self.feed = feed;
        Ok(())
    }

    fn poll(&mut self, now: Instant) -> Result<HookSample, LineError> {
        let hook = self.hook()?;
        if self.ringing.is_some() {
            if hook == Hook::OffHook {
                // Ring trip: back to talk battery at once.
                self.ringing = None;
                self.drive(false, true)?;
                self.feed = LineFeed::ForwardActive;
            } else {
                self.ring_tick(now)?;
            }
        }
        Ok(HookSample {
            hook,
            changed_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::digital::{Mock as Pin, State, Transaction as P};
    use std::vec::Vec;

    #[test]
    fn polarity_flips_every_half_period() {
        // 20 Hz: 25 ms halves; 25 Hz: 20 ms halves.
        let at = |ms: u64, f| ring_polarity(ms * 1000, f);
        assert!(at(0, 20) && at(24, 20) && !at(25, 20) && !at(49, 20) && at(50, 20));
        assert!(at(0, 25) && !at(20, 25) && at(40, 25));
        // One second at 25 Hz has 50 half cycles: 49 flips.
        let flips = (1..1000).filter(|&ms| at(ms, 25) != at(ms - 1, 25)).count();
        assert_eq!(flips, 49);
    }

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    #[test]
    fn ringing_cadence_then_ring_trip() {
        let cadence = RingCadence::new(&[(1000, 3000)], 25).unwrap();
        // RM: talk at start, ring on at first tick, back to talk on ring trip.
        let mut rm = Pin::new(&[P::set(State::Low), P::set(State::High), P::set(State::Low)]);
        // F/R: forward at start; during the burst, toggles at 20 ms, 40 ms; then forward stays
        // (already forward at the trip).
        let mut fr = Pin::new(&[P::set(State::High), P::set(State::Low), P::set(State::High)]);
        let mut shk = Pin::new(&[
            P::get(State::Low),
            P::get(State::Low),
            P::get(State::Low),
            P::get(State::High),
        ]);
        let mut slic = Ag1171::new(rm.clone(), fr.clone(), shk.clone(), Ag1171Config::default()).unwrap();
        slic.set_feed(LineFeed::Ringing(cadence)).unwrap();
        for t in [100, 120, 140] {
            assert_eq!(slic.poll(ms(t)).unwrap().hook, Hook::OnHook);
        }
        assert_eq!(slic.poll(ms(150)).unwrap().hook, Hook::OffHook);
        assert_eq!(slic.feed(), &LineFeed::ForwardActive);
        rm.done();
        fr.done();
        shk.done();
    }

    #[test]
    fn fast_ring_tick_and_pause_between_bursts() {
        let cadence = RingCadence::new(&[(100, 200)], 20).unwrap();
        let mut expect_rm = std::vec![P::set(State::Low), P::set(State::High)];
        let mut expect_fr = std::vec![P::set(State::High)];
        // Ticks every 5 ms through one burst: flips at 25, 50, 75 ms.
        expect_fr.extend([P::set(State::Low), P::set(State::High), P::set(State::Low)]);
        // Pause at 100 ms: ring mode off, forward polarity.
        expect_rm.push(P::set(State::Low));
        expect_fr.push(P::set(State::High));
        // Next burst at 300 ms.
        expect_rm.push(P::set(State::High));
        let mut rm = Pin::new(&expect_rm);
        let mut fr = Pin::new(&expect_fr);
        let mut shk = Pin::new(&[]);
        let mut slic = Ag1171::new(rm.clone(), fr.clone(), shk.clone(), Ag1171Config::default()).unwrap();
        slic.set_feed(LineFeed::Ringing(cadence)).unwrap();
        let mut t = 1000;
        let ticks: Vec<u64> = (0..=60).map(|i| i * 5).collect();
        for dt in ticks {
            slic.ring_tick(ms(t + dt)).unwrap();
        }
        t += 300;
        slic.ring_tick(ms(t)).unwrap();
        rm.done();
        fr.done();
        shk.done();
    }

    #[test]
    fn feeds_polarity_and_unsupported_states() {
        let mut rm = Pin::new(&[P::set(State::Low)]);
        let mut fr = Pin::new(&[P::set(State::High), P::set(State::Low), P::set(State::High)]);
        let mut shk = Pin::new(&[P::get(State::High)]);
        let mut slic = Ag1171::new(rm.clone(), fr.clone(), shk.clone(), Ag1171Config::default()).unwrap();
        slic.set_feed(LineFeed::ReverseActive).unwrap();
        slic.set_feed(LineFeed::OnHookTransmission { reverse: false })
            .unwrap();
        assert_eq!(slic.set_feed(LineFeed::Open), Err(LineError::Unsupported));
        let fast = RingCadence::new(&[(1000, 1000)], 100).unwrap();
        assert_eq!(
            slic.set_feed(LineFeed::Ringing(fast)),
            Err(LineError::Unsupported)
        );
        assert_eq!(slic.poll(ms(0)).unwrap().hook, Hook::OffHook);
        rm.done();
        fr.done();
        shk.done();
    }

    #[test]
    fn gpio_failure_is_a_bus_error() {
        let mut rm = Pin::new(&[P::set(State::Low)]);
        let mut fr = Pin::new(&[P::set(State::High)]);
        let mut shk = Pin::new(&[P::get(State::High).with_error(MockError::Io(std::io::ErrorKind::Other))]);
        let mut slic = Ag1171::new(rm.clone(), fr.clone(), shk.clone(), Ag1171Config::default()).unwrap();
        assert_eq!(slic.poll(ms(0)), Err(LineError::Bus));
        rm.done();
        fr.done();
        shk.done();
    }
}
