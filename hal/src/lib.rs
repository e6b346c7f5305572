//! Hardware abstraction for the analog side of the gateway.
//!
//! The core is `no_std` so the same line logic runs on top of SLIC/DAA drivers generic over
//! `embedded-hal` and on the simulated board.
//!
//! Module map:
//! - [`time`]: a monotonic [`time::Instant`] in microseconds, fed by whoever owns the clock
//!   (the PCM bus on a board, a virtual clock in tests).
//! - [`pcm`]: 8 kHz, 10 ms [`pcm::Frame`]s and the [`pcm::PcmBus`] trait: one clock per board.
//! - [`fxs`]: FXS line feed states, ring cadences, the [`fxs::FxsLine`] trait a SLIC driver
//!   implements, and [`fxs::HookDetector`], which turns raw hook transitions into off-hook,
//!   on-hook, hook flash and pulse-dialled digits.
//! - [`fxo`]: the [`fxo::FxoLine`] trait a DAA driver implements and [`fxo::FxoMonitor`], which
//!   turns raw line readings into ring, polarity reversal, loop current drop and line presence.
//! - [`board`]: port enumeration.
//! - [`error`]: [`error::LineError`], the one error type every backend reports.
//! - [`drivers`]: SLIC/DAA drivers over `embedded-hal` (ProSLIC Si321x, Si3050 DAA, Ag1171).
//! - `linux` (feature `linux`): ALSA PCM, spidev and GPIO character device for the drivers,
//!   real-time scheduling.
//! - `sim` (feature `std`): the simulated backend, each port a loopback TCP socket speaking the
//!   protocol in `docs/sim-protocol.md`.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod board;
pub mod drivers;
pub mod error;
pub mod fxo;
pub mod fxs;
#[cfg(feature = "linux")]
pub mod linux;
pub mod pcm;
#[cfg(feature = "std")]
pub mod sim;
pub mod time;

pub use error::LineError;
pub use pcm::{FRAME_MS, FRAME_SAMPLES, Frame, SAMPLE_RATE};
pub use time::Instant;
