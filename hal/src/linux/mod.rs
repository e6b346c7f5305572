//! The Linux backend (feature `linux`): real boards running embedded Linux.
//!
//! - [`pcm`]: [`pcm::AlsaPcm`], the board's PCM highway through ALSA (one 10 ms period per
//!   tick, interleaved 16-bit channels mapped to ports, xrun recovery counted, never fatal),
//!   plus [`pcm::tone_check`] used by the loopback test tool.
//! - [`bus`]: spidev devices and GPIO character-device lines as `embedded-hal` 1.0 types, ready
//!   for the drivers in [`crate::drivers`].
//! - [`lines`]: opening a board's SLIC/DAA chips from its board file entries (spidev device,
//!   reset and control lines) and running their bring-up.
//! - [`rt`]: real-time scheduling (SCHED_FIFO) and memory locking for the media thread.
//!
//! The hardware watchdog is fed by the gateway process itself (`gateway::watchdog`), which
//! gates feeding on media loop progress.

pub mod bus;
pub mod lines;
pub mod pcm;
pub mod rt;
