//! Boards: definitions, the simulated PSTN exchange and virtual phones.
//!
//! Module map:
//! - [`simphone`]: a virtual analog telephone attached to an FXS port of the simulated board
//!   (or of the simulated exchange): hook, flash, pulse and DTMF dialling, playing and recording
//!   audio, call progress tone, ringing cadence and caller ID reports. Library for tests, and the
//!   `simphone` binary (scripted or interactive).
//! - [`pstn`]: the simulated PSTN exchange (`sim-pstn` binary): numbered subscriber lines served
//!   either as its own line cards (virtual phones attach to it) or as trunks toward a gateway's
//!   FXO port; dial tone, digit collection, ringing with caller ID, connection, supervision.
//!
//! The wire protocol between them and the gateway is `hal::sim::proto`, documented in
//! `docs/sim-protocol.md`.

pub mod pstn;
pub mod simphone;
