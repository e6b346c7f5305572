//! SIP (RFC 3261 and extensions).
//!
//! - [`wire`]: zero-copy parser and emitter for messages, URIs and headers.
//! - [`transaction`]: the four RFC 3261 transaction machines (Timers A-K), sans-IO.
//! - [`transport`]: UDP/TCP framing, Via handling and response routing; the tokio edge.
//! - [`dns`]: RFC 3263 server location.
//! - [`auth`]: digest authentication (RFC 7616/8760).
//! - [`dialog`]: dialogs and the user agent core.
//! - [`registration`]: REGISTER clients per account.
//! - [`ua`]: the user agent core (calls, in-dialog requests, accounts) and its tokio driver.

pub mod auth;
pub mod dialog;
pub mod dns;
pub mod registration;
pub mod transaction;
pub mod transport;
pub mod ua;
pub mod wire;
