//! The real-time media loop: one thread, clocked by the board's PCM bus, that owns every line
//! and every RTP stream and runs each channel's audio path every 10 ms.
//!
//! - [`api`]: commands, events, retired objects and counters: the control plane's interface.
//! - [`engine`]: the loop itself ([`MediaEngine`]) and the control plane's [`MediaHandle`].
//! - [`channel`]: the per-port audio chain (echo canceller, DTMF and call progress detection,
//!   gains, tones, caller ID, DTMF sending).
//! - [`stream`]: an RTP stream endpoint (sockets, session, jitter buffer, codecs, concealment,
//!   comfort noise, RFC 4733, RTCP).
//! - [`bridge`]: the link table saying which endpoints hear which (calls, local calls,
//!   transcoding bridges, conferences).
//! - [`mixer`]: frame arithmetic, gains, oscillators and the decoded-sample FIFO.
//! - [`rt`]: SCHED_FIFO and mlockall for the loop thread.
//!
//! The control plane talks to the loop only through bounded lock-free queues ([`rtrb`]) and
//! reads its counters through atomics, so a slow control plane never makes the loop late. The
//! loop neither allocates nor frees nor locks per tick: heap objects are built by the control
//! plane and handed back through the retired queue.

pub mod api;
pub mod bridge;
pub mod channel;
pub mod engine;
pub mod mixer;
pub mod rt;
pub mod stream;

pub use api::{
    AudioEvent, AudioEventKind, DigitTarget, Digits, Direction, DtmfTransport, Endpoint, LineEvent,
    LineEventKind, MediaCommand, MediaConfig, MediaEvent, MediaStats, Retired, StreamConfig, StreamError,
    StreamEvent, StreamEventKind, StreamId, StreamSockets, StreamStats,
};
pub use engine::{MediaEngine, MediaHandle, PortLines};
