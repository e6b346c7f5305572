//! The UDP edge of a media stream: an RTP socket on an even port and the RTCP socket on the next
//! port, both bound to the interface address announced in SDP (never the wildcard, so replies
//! leave from the address the peer was told about).

use core::net::{IpAddr, SocketAddr};
use core::ops::RangeInclusive;
use std::io;

use tokio::net::UdpSocket;

/// Why a port pair could not be bound.
#[derive(Debug)]
pub enum BindError {
    /// The wildcard address was given; media must bind to the SDP address.
    Unspecified,
    /// The range holds no even port with a following odd port.
    EmptyRange,
    /// Every even port of the range was busy.
    Exhausted {
        first: u16,
        last: u16,
    },
    Io(io::Error),
}

impl core::fmt::Display for BindError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BindError::Unspecified => write!(
                f,
                "media sockets must bind to a specific address, not the wildcard"
            ),
            BindError::EmptyRange => write!(f, "RTP port range has no even/odd port pair"),
            BindError::Exhausted { first, last } => write!(f, "no free RTP port pair in {first}-{last}"),
            BindError::Io(e) => write!(f, "binding media socket: {e}"),
        }
    }
}

impl std::error::Error for BindError {}

/// RTP and RTCP sockets of one stream.
#[derive(Debug)]
pub struct RtpSocketPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

/// The same pair as non-blocking `std` sockets, for the real-time media thread.
#[derive(Debug)]
pub struct StdRtpSocketPair {
    pub rtp: std::net::UdpSocket,
    pub rtcp: std::net::UdpSocket,
}

impl StdRtpSocketPair {
    /// Binds RTP to the first free even port of `ports` (starting at `start_hint`, wrapping
    /// around the range so consecutive calls spread over it) and RTCP to the port after it.
    /// Both sockets are non-blocking.
    pub fn bind(ip: IpAddr, ports: RangeInclusive<u16>, start_hint: u16) -> Result<Self, BindError> {
        if ip.is_unspecified() {
            return Err(BindError::Unspecified);
        }
        let first = ports.start().saturating_add(1) & !1;
        let last = *ports.end();
        if first == 0 || first >= last {
            return Err(BindError::EmptyRange);
        }
        // Even ports p with p + 1 still in range.
        let pairs = ((last - 1 - first) / 2 + 1) as u32;
        // A hint past the range starts over at its first pair (not its last: the pair a call
        // just freed would be taken again, and late packets of that call with it).
        let start = (start_hint.saturating_sub(first) / 2) as u32 % pairs;
        for k in 0..pairs {
            let port = first + (((start + k) % pairs) * 2) as u16;
            let rtp = match std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(BindError::Io(e)),
            };
            let rtcp = match std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1)) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(BindError::Io(e)),
            };
            rtp.set_nonblocking(true).map_err(BindError::Io)?;
            rtcp.set_nonblocking(true).map_err(BindError::Io)?;
            return Ok(StdRtpSocketPair { rtp, rtcp });
        }
        Err(BindError::Exhausted { first, last })
    }

    /// The RTP port (even) to put in the SDP m-line.
    pub fn rtp_port(&self) -> io::Result<u16> {
        Ok(self.rtp.local_addr()?.port())
    }
}

impl RtpSocketPair {
    /// As [`StdRtpSocketPair::bind`], registered with the tokio runtime.
    pub async fn bind(ip: IpAddr, ports: RangeInclusive<u16>, start_hint: u16) -> Result<Self, BindError> {
        let pair = StdRtpSocketPair::bind(ip, ports, start_hint)?;
        Ok(RtpSocketPair {
            rtp: UdpSocket::from_std(pair.rtp).map_err(BindError::Io)?,
            rtcp: UdpSocket::from_std(pair.rtcp).map_err(BindError::Io)?,
        })
    }

    /// The RTP port (even) to put in the SDP m-line.
    pub fn rtp_port(&self) -> io::Result<u16> {
        Ok(self.rtp.local_addr()?.port())
    }

    pub fn local_ip(&self) -> io::Result<IpAddr> {
        Ok(self.rtp.local_addr()?.ip())
    }
}
