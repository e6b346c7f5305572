//! gatewayd: a SIP to analog telephony gateway.
//!
//! Module map, in signal-path order:
//! - [`sip`]: SIP wire format, transactions, transports, DNS, dialogs, registration.
//! - [`sipcalls`]: the user agent of gatewayd on its SIP port: accounts and registration.
//! - [`nat`]: STUN and the public address advertised in Via, Contact and SDP.
//! - [`sdp`]: SDP parsing/emission and offer/answer.
//! - [`rtp`]: RTP/RTCP packets and sessions, jitter buffer, RFC 4733 events.
//! - [`call`]: per-port call control, dial plans, features.
//! - [`media`]: the real-time loop between the board's PCM and RTP.
//! - [`trunk`]: ISUP and SIP-T/SIP-I.
//! - [`config`]: the configuration model and its safe storage.
//! - [`web`]: the local web page and JSON API.
//! - [`watchdog`]: feeds the board's hardware watchdog while the media loop runs.
//!
//! [`app`] assembles the process from these parts; [`hwboard`] opens boards whose ports are
//! line chips (crate feature `linux`).
//!
//! Protocol cores are sans-IO: they take bytes, events and `now` and return what to send and
//! their next deadline. Sockets and tokio live only in the thin edges (`sip::transport`, `web`,
//! the process in `main.rs`).

pub mod app;
pub mod call;
pub mod config;
pub mod hwboard;
pub mod media;
pub mod nat;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod sipcalls;
pub mod trunk;
pub mod watchdog;
pub mod web;
