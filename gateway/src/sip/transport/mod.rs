//! SIP transports (RFC 3261 section 18, RFC 3581, RFC 5626 keep-alives).
//!
//! Sans-IO pieces:
//! - [`framing`]: [`StreamFramer`], Content-Length framing of TCP byte streams with the RFC 5626
//!   double-CRLF ping / single-CRLF pong, bounded buffers.
//! - [`via`]: server-side Via processing (`received`, `rport`) and response routing (18.2.2).
//! - [`outbound`]: the UDP MTU rule (18.1.1) and the local interface address toward a peer,
//!   used for the Via sent-by and Contact.
//!
//! The tokio edge:
//! - [`edge`]: [`SipEdge`], a UDP socket and a TCP listener bound to the configured interface,
//!   outgoing TCP connections reused per remote address, idle cleanup, and a bounded queue of
//!   received messages ([`Inbound`]) for the sans-IO core.
//! - [`endpoint`]: [`SipEndpoint`], the loop joining the edge and the transaction layer.

pub mod edge;
pub mod endpoint;
pub mod framing;
pub mod outbound;
pub mod via;

use std::fmt;

pub use edge::{ConnId, Destination, EdgeConfig, Inbound, SendError, SipEdge};
pub use endpoint::{EndpointLayer, SipEndpoint, SipMessage};
pub use framing::{FramingError, StreamFramer, StreamItem};
pub use outbound::{local_addr_toward, transport_for_request};
pub use via::{ResponseRoute, ViaAddressing, ViaStamp, response_route, stamp_via};

/// The transports the edge runs (TLS is named for addressing; the edge does not carry it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    Udp,
    Tcp,
    Tls,
}

impl TransportKind {
    /// Stream transports are reliable: no retransmissions, Timers D, I, J, K are zero.
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// Default port (RFC 3261 19.1.2): 5060, or 5061 for TLS.
    pub fn default_port(self) -> u16 {
        match self {
            TransportKind::Tls => 5061,
            _ => 5060,
        }
    }

    /// The token used in Via and the `transport=` URI parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }

    /// From a Via transport or `transport=` value (case-insensitive).
    pub fn from_token(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("udp") {
            Some(TransportKind::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Some(TransportKind::Tcp)
        } else if s.eq_ignore_ascii_case("tls") {
            Some(TransportKind::Tls)
        } else {
            None
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
