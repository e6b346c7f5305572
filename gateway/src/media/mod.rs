//! The real-time media loop: one thread, clocked by the board's PCM bus, that owns every line
//! and runs each channel's audio path every 10 ms.
//!
//! - [`engine`]: the loop itself, its command/event queues and counters.
//!
//! The control plane talks to the loop only through bounded lock-free queues ([`rtrb`]) and
//! reads its counters through atomics, so a slow control plane never makes the loop late.

pub mod engine;

pub use engine::{LineEvent, LineEventKind, MediaCommand, MediaEngine, MediaHandle, MediaStats, PortLines};
