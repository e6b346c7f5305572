//! NAT traversal: which address gatewayd advertises in Via, Contact and SDP.
//!
//! - [`stun`]: STUN messages (RFC 8489): zero-copy view, value type, emitter.
//! - [`mapping`]: the sans-IO Binding client transaction and the monitor that keeps the SIP
//!   socket's mapping fresh.
//! - [`edge`]: the sockets: STUN on the SIP socket (through the SIP edge) and on each call's
//!   RTP socket.
//!
//! One rule ([`advertised`]) for SIP and media alike: a configured external address wins
//! (`nat.external_address`, with the local port: a router forwarding the same ports); else
//! the mapping STUN learned for that very socket (`nat.stun_server`); else the local address.

pub mod edge;
pub mod mapping;
pub mod stun;

use std::net::{IpAddr, SocketAddr};

/// The address to put in Via/Contact or SDP for a socket bound at `local`.
pub fn advertised(local: SocketAddr, external: Option<IpAddr>, mapped: Option<SocketAddr>) -> SocketAddr {
    match external {
        Some(ip) => SocketAddr::new(ip, local.port()),
        None => mapped.unwrap_or(local),
    }
}

/// The configured external address (`nat.external_address`), if set and valid.
pub fn external_ip(cfg: &crate::config::model::Nat) -> Option<IpAddr> {
    cfg.external_address
        .trim()
        .parse::<IpAddr>()
        .ok()
        .filter(|ip| !ip.is_unspecified())
}

/// Default STUN port (RFC 8489 17).
pub const STUN_PORT: u16 = 3478;

/// `host[:port]` of a STUN server (IPv6 literals in brackets), the port 3478 when absent.
pub fn server_host_port(s: &str) -> Option<(&str, u16)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => STUN_PORT,
            None => return None,
        };
        return Some((h, port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, p.parse().ok()?)),
        Some(_) => Some((s, STUN_PORT)),
        None => Some((s, STUN_PORT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_address_wins_then_mapping_then_local() {
        let local: SocketAddr = "10.0.0.5:5060".parse().unwrap();
        let mapped: SocketAddr = "198.51.100.7:40001".parse().unwrap();
        let ext: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            advertised(local, Some(ext), Some(mapped)),
            "203.0.113.9:5060".parse().unwrap()
        );
        assert_eq!(advertised(local, None, Some(mapped)), mapped);
        assert_eq!(advertised(local, None, None), local);
    }

    #[test]
    fn server_names() {
        assert_eq!(
            server_host_port("stun.example.net"),
            Some(("stun.example.net", 3478))
        );
        assert_eq!(
            server_host_port("stun.example.net:19302"),
            Some(("stun.example.net", 19302))
        );
        assert_eq!(
            server_host_port("[2001:db8::1]:3479"),
            Some(("2001:db8::1", 3479))
        );
        assert_eq!(server_host_port("[2001:db8::1]"), Some(("2001:db8::1", 3478)));
        assert_eq!(server_host_port("2001:db8::1"), Some(("2001:db8::1", 3478)));
        assert_eq!(server_host_port("host:x"), None);
        assert_eq!(server_host_port(" "), None);
    }
}
