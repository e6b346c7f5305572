//! Choices made before sending a request: transport by size (18.1.1) and the local address that
//! goes into Via sent-by and Contact.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use super::TransportKind;

/// Path MTU assumed unknown: requests over this many bytes leave UDP (18.1.1).
pub const UNKNOWN_MTU_LIMIT: usize = 1300;
/// Margin below a known path MTU within which requests leave UDP (18.1.1).
pub const MTU_MARGIN: usize = 200;

/// The transport for a request of `len` bytes that would go over `wanted` (18.1.1): a UDP
/// request within 200 bytes of the path MTU, or over 1300 bytes when the MTU is unknown, goes
/// over a congestion-controlled transport (TCP). The caller then rewrites the Via transport.
pub fn transport_for_request(wanted: TransportKind, len: usize, path_mtu: Option<usize>) -> TransportKind {
    if wanted != TransportKind::Udp {
        return wanted;
    }
    let too_big = match path_mtu {
        Some(mtu) => len + MTU_MARGIN > mtu,
        None => len > UNKNOWN_MTU_LIMIT,
    };
    if too_big {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    }
}

/// The address of the local interface that routes toward `dest`: what Via sent-by and Contact
/// must carry. Asks the kernel by connecting an unbound UDP socket (no packet is sent). When
/// the endpoint is bound to a specific interface address, that address is the answer.
pub fn local_addr_toward(dest: SocketAddr, bound: Option<IpAddr>) -> io::Result<IpAddr> {
    if let Some(ip) = bound.filter(|ip| !ip.is_unspecified()) {
        return Ok(ip);
    }
    let any: IpAddr = match dest {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0))?;
    s.connect(dest)?;
    let ip = s.local_addr()?.ip();
    if ip.is_unspecified() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no local route toward the destination",
        ));
    }
    Ok(ip)
}

/// `host:port` for a Via sent-by or Contact: IPv6 in brackets.
pub fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}
