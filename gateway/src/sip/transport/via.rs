//! Server-side Via processing (RFC 3261 18.2.1, RFC 3581) and response routing (18.2.2).

use std::net::{IpAddr, SocketAddr};

use super::TransportKind;
use super::edge::ConnId;

/// The addressing part of a top Via, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViaAddressing {
    pub transport: TransportKind,
    /// sent-by host: a domain name or an IP literal (IPv6 with or without brackets).
    pub host: String,
    pub port: Option<u16>,
    pub received: Option<IpAddr>,
    /// `rport` (RFC 3581): `Some(None)` when present without a value, `Some(Some(p))` once filled.
    pub rport: Option<Option<u16>>,
    pub maddr: Option<String>,
}

impl ViaAddressing {
    /// The sent-by host as an IP address, if it is a literal.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }

    /// The sent-by port, or the transport's default.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.transport.default_port())
    }
}

/// Parameters a server adds to the top Via of a received request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViaStamp {
    /// `received=`: the packet's source address.
    pub received: Option<IpAddr>,
    /// The value to give `rport` (only when the request carried an empty `rport`).
    pub rport: Option<u16>,
}

/// What to add to the top Via of a request received from `source` (18.2.1, RFC 3581 4):
/// `received` when the sent-by host is not the source address (a domain name always differs),
/// and with an empty `rport`, its value plus `received` in every case.
pub fn stamp_via(via: &ViaAddressing, source: SocketAddr) -> ViaStamp {
    let src_ip = canonical(source.ip());
    let rport_requested = matches!(via.rport, Some(None));
    let differs = via.host_ip().map(canonical) != Some(src_ip);
    ViaStamp {
        received: (differs || rport_requested).then_some(src_ip),
        rport: rport_requested.then_some(source.port()),
    }
}

/// Applies a [`ViaStamp`] to the addressing (what the Via says after stamping).
pub fn apply_stamp(via: &mut ViaAddressing, stamp: ViaStamp) {
    if stamp.received.is_some() {
        via.received = stamp.received;
    }
    if let Some(p) = stamp.rport {
        via.rport = Some(Some(p));
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Where a response goes (18.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseRoute {
    /// Reliable transport: the connection the request came on; if it has closed, a new
    /// connection to `fallback` (the `received` address and the sent-by port).
    Connection {
        conn: ConnId,
        transport: TransportKind,
        fallback: SocketAddr,
    },
    /// A known address.
    Addr {
        transport: TransportKind,
        addr: SocketAddr,
    },
    /// The sent-by host is a name: resolve it per RFC 3263 section 5 (A/AAAA, or SRV when
    /// there is no port), then send.
    Resolve {
        transport: TransportKind,
        host: String,
        port: Option<u16>,
    },
}

/// Response routing per 18.2.2 for a top Via already stamped by [`stamp_via`].
/// `conn` is the connection the request arrived on (reliable transports).
pub fn response_route(via: &ViaAddressing, conn: Option<ConnId>) -> ResponseRoute {
    let port = via.port_or_default();
    if via.transport.is_reliable()
        && let Some(conn) = conn
        && let Some(ip) = via.received.or_else(|| via.host_ip())
    {
        return ResponseRoute::Connection {
            conn,
            transport: via.transport,
            fallback: SocketAddr::new(ip, port),
        };
    }
    if let Some(maddr) = &via.maddr {
        return match maddr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => ResponseRoute::Addr {
                transport: via.transport,
                addr: SocketAddr::new(ip, port),
            },
            Err(_) => ResponseRoute::Resolve {
                transport: via.transport,
                host: maddr.clone(),
                port: Some(port),
            },
        };
    }
    if let Some(ip) = via.received {
        // RFC 3581: the source port for unreliable transports when rport was requested.
        let port = match (via.transport.is_reliable(), via.rport) {
            (false, Some(Some(p))) => p,
            _ => port,
        };
        return ResponseRoute::Addr {
            transport: via.transport,
            addr: SocketAddr::new(ip, port),
        };
    }
    match via.host_ip() {
        Some(ip) => ResponseRoute::Addr {
            transport: via.transport,
            addr: SocketAddr::new(ip, port),
        },
        None => ResponseRoute::Resolve {
            transport: via.transport,
            host: via.host.clone(),
            port: via.port,
        },
    }
}
