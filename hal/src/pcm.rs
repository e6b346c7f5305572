//! The PCM highway: 8 kHz linear audio in 10 ms frames, one frame per port per tick.
//!
//! A board has exactly one PCM clock. The media loop calls [`PcmBus::exchange`] once per tick;
//! the call blocks until the next 10 ms period is due, so the bus *is* the clock (an ALSA period,
//! a TDM frame interrupt, or a timer on the simulated board).

use crate::error::LineError;

pub const SAMPLE_RATE: u32 = 8000;
pub const FRAME_MS: u32 = 10;
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;

/// One 10 ms frame of 16-bit linear audio for one channel.
pub type Frame = [i16; FRAME_SAMPLES];

pub const SILENCE: Frame = [0; FRAME_SAMPLES];

/// What happened on the bus during one exchange, beyond the audio itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickReport {
    /// Sequence number of this tick since the bus started (tick 0 covers samples 0..80).
    pub tick: u64,
    /// Periods the bus had to skip because the caller was late (an xrun on ALSA).
    pub missed: u32,
}

/// One clock, `channels()` channels. Channel `n` carries the port whose `pcm_channel` is `n`.
pub trait PcmBus {
    /// Number of channels on this bus.
    fn channels(&self) -> usize;

    /// Waits for the next period, then plays `tx[ch]` and returns the captured `rx[ch]` for every
    /// channel. `tx` and `rx` have exactly `channels()` entries.
    fn exchange(&mut self, tx: &[Frame], rx: &mut [Frame]) -> Result<TickReport, LineError>;
}
