//! RTP and RTCP (RFC 3550) with the pieces the media loop builds on.
//!
//! - [`packet`]: zero-copy RTP packet view and owned header/writer.
//! - [`rtcp`]: RTCP compound views (SR, RR, SDES, BYE, APP), values and emitter, NTP time.
//! - [`stats`]: per-source reception statistics (sequence, loss, jitter; RFC 3550 A.1/A.3/A.8).
//! - [`session`]: the sans-IO RTP session: SSRC handling, symmetric RTP, RTCP schedule.
//! - [`jitter`]: the adaptive jitter buffer.
//! - [`dtmf_event`]: RFC 4733 telephone-event payloads, sender and receiver.
//! - [`cn`]: RFC 3389 comfort noise payloads.
//! - [`red`]: RFC 2198 redundant audio payloads (`red/8000`).
//! - [`socket`]: the thin UDP edge (RTP/RTCP port pair bound to the SDP address).

pub mod cn;
pub mod dtmf_event;
pub mod jitter;
pub mod packet;
pub mod red;
pub mod rtcp;
pub mod session;
pub mod socket;
pub mod stats;

pub use packet::{RtpError, RtpExtension, RtpHeader, RtpPacket};
pub use session::{RtpSession, RtpSessionConfig};
