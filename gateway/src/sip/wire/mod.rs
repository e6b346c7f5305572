//! SIP wire format: a zero-copy parser and an emitter for messages, URIs and header values.
//!
//! - [`message`]: [`SipMsg`], the borrowed view of a parsed message (datagram and stream
//!   framing, [`frame`]); typed accessors for the headers the stack uses.
//! - [`build`]: [`Message`], the owned message for building and emitting; responses to
//!   requests ([`SipMsg::make_response`]) and [`error_response`] for malformed requests.
//! - [`uri`]: `sip:`/`sips:`/`tel:`/other URIs, IPv6 references, RFC 3261 19.1.4 comparison.
//! - [`header`]: header names with compact forms, Via, name-addr, CSeq, Content-Type, methods.
//! - [`params`]: `;name=value` lists.
//! - [`multipart`]: RFC 2046 multipart bodies (SIP-T `application/sdp` + `application/ISUP`).
//! - [`text`]: character classes, LWS, quoting, `%`-escaping, comma splitting.
//! - [`error`]: typed errors naming the faulty header and position.
//!
//! Typed values are generic over their text storage: `Uri<&str>` borrows from the input,
//! `Uri<String>` (the default parameter) is owned; `to_owned_*` converts, `Display` emits.

pub mod build;
pub mod error;
pub mod header;
pub mod message;
pub mod multipart;
#[cfg(test)]
mod mutate;
pub mod params;
pub mod text;
pub mod uri;

pub use build::{Header, Message, error_response, reason_phrase};
pub use error::{ErrorKind, ParseError, UriError, ValueError};
pub use header::{CSeq, ContentType, HeaderName, Method, NameAddr, Transport, Via};
pub use message::{Framing, RawHeader, RequestLine, SipMsg, StartLine, StatusLine, frame};
pub use params::Params;
pub use uri::{Host, OtherUri, SipUri, TelUri, Uri};
