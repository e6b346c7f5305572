//! SDP (RFC 4566) and the offer/answer model (RFC 3264).
//!
//! - [`parse`]: the description model and its parser (fields borrow from the received body).
//! - [`emit`]: the emitter (RFC 4566 line order, CRLF).
//! - [`offer_answer`]: [`SdpNegotiator`], one call's offers and answers: codecs, telephone-event,
//!   ptime, directions and hold, m-line layout, o= versioning.

pub mod emit;
pub mod offer_answer;
pub mod parse;

pub use offer_answer::{AudioCodec, LocalMedia, NegotiatedAudio, OaError, OfferAnswerConfig, SdpNegotiator};
pub use parse::{
    Attribute, Bandwidth, Connection, Direction, MediaDescription, Origin, RtpMap, SdpError, SdpErrorKind,
    SessionDescription, Timing,
};
