//! SDP (RFC 4566) model and parser. Parsed descriptions borrow from the input text
//! (`Cow::Borrowed`); descriptions built by the offer/answer engine own their text.

use std::borrow::Cow;
use std::net::IpAddr;

/// A text field: borrowed from the parsed body, or owned when built locally.
pub type Text<'a> = Cow<'a, str>;

/// What was wrong, and on which line (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpError {
    pub line: usize,
    pub kind: SdpErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpErrorKind {
    /// The body does not start with `v=0`.
    MissingVersion,
    /// `v=` other than 0.
    BadVersion,
    /// No `o=` line.
    MissingOrigin,
    /// `o=` without its six fields or with non-numeric version.
    BadOrigin,
    /// A line without `<letter>=`.
    Malformed,
    /// A line type RFC 4566 does not define.
    UnknownType(u8),
    /// `c=` without three fields.
    BadConnection,
    /// `b=` without `<type>:<number>`.
    BadBandwidth,
    /// `t=` without two numbers.
    BadTiming,
    /// `m=` without media, port, proto and at least one format.
    BadMedia,
    /// Port or port count not a number in range.
    BadPort,
    /// A line not allowed where it is (e.g. `o=` twice, `t=` in a media section).
    Misplaced(u8),
    /// Text that is not UTF-8.
    NotUtf8,
}

impl core::fmt::Display for SdpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let what = match self.kind {
            SdpErrorKind::MissingVersion => "missing v=0 at the start",
            SdpErrorKind::BadVersion => "v= is not 0",
            SdpErrorKind::MissingOrigin => "missing o= line",
            SdpErrorKind::BadOrigin => "malformed o= line",
            SdpErrorKind::Malformed => "line is not <type>=<value>",
            SdpErrorKind::UnknownType(_) => "unknown line type",
            SdpErrorKind::BadConnection => "malformed c= line",
            SdpErrorKind::BadBandwidth => "malformed b= line",
            SdpErrorKind::BadTiming => "malformed t= line",
            SdpErrorKind::BadMedia => "malformed m= line",
            SdpErrorKind::BadPort => "bad port in m= line",
            SdpErrorKind::Misplaced(_) => "line not allowed here",
            SdpErrorKind::NotUtf8 => "SDP is not UTF-8",
        };
        write!(f, "SDP line {}: {what}", self.line)
    }
}

impl std::error::Error for SdpError {}

/// `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    pub username: Text<'a>,
    pub session_id: Text<'a>,
    pub session_version: u64,
    pub net_type: Text<'a>,
    pub addr_type: Text<'a>,
    pub address: Text<'a>,
}

/// `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection<'a> {
    pub net_type: Text<'a>,
    pub addr_type: Text<'a>,
    /// Address as written (may carry /ttl or /count for multicast).
    pub address: Text<'a>,
}

impl Connection<'_> {
    /// The unicast IP address, if it parses (the part before any '/').
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next()?.parse().ok()
    }
    /// RFC 2543 hold: `c=IN IP4 0.0.0.0`.
    pub fn is_hold_address(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
    pub fn new_ip(ip: IpAddr) -> Connection<'static> {
        Connection {
            net_type: Cow::Borrowed("IN"),
            addr_type: Cow::Borrowed(if ip.is_ipv4() { "IP4" } else { "IP6" }),
            address: Cow::Owned(ip.to_string()),
        }
    }
}

/// `b=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth<'a> {
    pub bw_type: Text<'a>,
    pub kbps: u64,
}

/// `t=` line with its `r=` lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timing<'a> {
    pub start: u64,
    pub stop: u64,
    pub repeats: Vec<Text<'a>>,
}

/// `a=` line: `a=name` or `a=name:value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub name: Text<'a>,
    pub value: Option<Text<'a>>,
}

impl<'a> Attribute<'a> {
    pub fn flag(name: &'static str) -> Attribute<'static> {
        Attribute {
            name: Cow::Borrowed(name),
            value: None,
        }
    }
    pub fn value(name: &'static str, value: String) -> Attribute<'static> {
        Attribute {
            name: Cow::Borrowed(name),
            value: Some(Cow::Owned(value)),
        }
    }
}

/// Media direction attribute (RFC 3264 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn from_attr(name: &str) -> Option<Direction> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
    /// The direction seen from the other end.
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    pub payload_type: u8,
    pub encoding: &'a str,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// An `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription<'a> {
    pub media: Text<'a>,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: Text<'a>,
    pub formats: Vec<Text<'a>>,
    pub info: Option<Text<'a>>,
    pub connections: Vec<Connection<'a>>,
    pub bandwidths: Vec<Bandwidth<'a>>,
    pub key: Option<Text<'a>>,
    pub attributes: Vec<Attribute<'a>>,
}

impl<'a> MediaDescription<'a> {
    /// First attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute<'a>> {
        self.attributes.iter().find(|a| a.name == name)
    }
    /// Value of the first attribute named `name`.
    pub fn attr_value(&self, name: &str) -> Option<&str> {
        self.attribute(name).and_then(|a| a.value.as_deref())
    }
    /// Direction attribute of this section, if any.
    pub fn direction_attr(&self) -> Option<Direction> {
        self.attributes.iter().rev().find_map(|a| {
            if a.value.is_none() {
                Direction::from_attr(a.name.trim())
            } else {
                None
            }
        })
    }
    /// Payload types listed in the m-line that are numbers.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok().filter(|&p| p < 128))
    }
    /// rtpmap of `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap<'_>> {
        self.attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .find_map(|a| {
                let v = a.value.as_deref()?;
                let (num, rest) = v.split_once(' ')?;
                if num.trim().parse::<u8>().ok()? != pt {
                    return None;
                }
                let mut parts = rest.trim().split('/');
                let encoding = parts.next()?;
                let clock_rate = parts.next()?.parse().ok()?;
                let channels = parts.next().and_then(|c| c.parse().ok());
                Some(RtpMap {
                    payload_type: pt,
                    encoding,
                    clock_rate,
                    channels,
                })
            })
    }
    /// fmtp parameters of `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes.iter().filter(|a| a.name == "fmtp").find_map(|a| {
            let v = a.value.as_deref()?;
            let (num, rest) = v.split_once(' ').unwrap_or((v, ""));
            (num.parse::<u8>().ok()? == pt).then_some(rest.trim())
        })
    }
    /// a=ptime in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attr_value("ptime").and_then(|v| v.trim().parse().ok())
    }
    pub fn maxptime(&self) -> Option<u32> {
        self.attr_value("maxptime").and_then(|v| v.trim().parse().ok())
    }
    /// RFC 3605 a=rtcp: port and optional address.
    pub fn rtcp(&self) -> Option<(u16, Option<IpAddr>)> {
        let v = self.attr_value("rtcp")?;
        let mut it = v.split_whitespace();
        let port = it.next()?.parse().ok()?;
        let addr = it.nth(2).and_then(|a| a.parse().ok());
        Some((port, addr))
    }
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription<'a> {
    pub origin: Origin<'a>,
    pub session_name: Text<'a>,
    pub info: Option<Text<'a>>,
    pub uri: Option<Text<'a>>,
    pub emails: Vec<Text<'a>>,
    pub phones: Vec<Text<'a>>,
    pub connection: Option<Connection<'a>>,
    pub bandwidths: Vec<Bandwidth<'a>>,
    pub timing: Vec<Timing<'a>>,
    pub time_zones: Option<Text<'a>>,
    pub key: Option<Text<'a>>,
    pub attributes: Vec<Attribute<'a>>,
    pub media: Vec<MediaDescription<'a>>,
}

impl<'a> SessionDescription<'a> {
    /// Parses a body (CRLF or LF line ends; a trailing empty line is allowed).
    pub fn parse(text: &'a str) -> Result<Self, SdpError> {
        Parser::parse(text)
    }

    /// Parses bytes, checking UTF-8 first.
    pub fn parse_bytes(body: &'a [u8]) -> Result<Self, SdpError> {
        let text = core::str::from_utf8(body).map_err(|_| SdpError {
            line: 0,
            kind: SdpErrorKind::NotUtf8,
        })?;
        Self::parse(text)
    }

    /// Session-level attribute value.
    pub fn attr_value(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// Session-level direction attribute.
    pub fn direction_attr(&self) -> Option<Direction> {
        self.attributes.iter().rev().find_map(|a| {
            if a.value.is_none() {
                Direction::from_attr(a.name.trim())
            } else {
                None
            }
        })
    }

    /// Effective connection of media section `i` (its own c= or the session's).
    pub fn media_connection(&self, i: usize) -> Option<&Connection<'a>> {
        self.media
            .get(i)
            .and_then(|m| m.connections.first())
            .or(self.connection.as_ref())
    }

    /// Effective direction of media section `i` (media attribute, then session, then sendrecv).
    pub fn media_direction(&self, i: usize) -> Direction {
        self.media
            .get(i)
            .and_then(|m| m.direction_attr())
            .or(self.direction_attr())
            .unwrap_or_default()
    }

    /// A copy that owns its text.
    pub fn into_owned(self) -> SessionDescription<'static> {
        fn o(t: Text<'_>) -> Text<'static> {
            Cow::Owned(t.into_owned())
        }
        fn conn(c: Connection<'_>) -> Connection<'static> {
            Connection {
                net_type: o(c.net_type),
                addr_type: o(c.addr_type),
                address: o(c.address),
            }
        }
        fn bw(b: Bandwidth<'_>) -> Bandwidth<'static> {
            Bandwidth {
                bw_type: o(b.bw_type),
                kbps: b.kbps,
            }
        }
        fn attr(a: Attribute<'_>) -> Attribute<'static> {
            Attribute {
                name: o(a.name),
                value: a.value.map(o),
            }
        }
        SessionDescription {
            origin: Origin {
                username: o(self.origin.username),
                session_id: o(self.origin.session_id),
                session_version: self.origin.session_version,
                net_type: o(self.origin.net_type),
                addr_type: o(self.origin.addr_type),
                address: o(self.origin.address),
            },
            session_name: o(self.session_name),
            info: self.info.map(o),
            uri: self.uri.map(o),
            emails: self.emails.into_iter().map(o).collect(),
            phones: self.phones.into_iter().map(o).collect(),
            connection: self.connection.map(conn),
            bandwidths: self.bandwidths.into_iter().map(bw).collect(),
            timing: self
                .timing
                .into_iter()
                .map(|t| Timing {
                    start: t.start,
                    stop: t.stop,
                    repeats: t.repeats.into_iter().map(o).collect(),
                })
                .collect(),
            time_zones: self.time_zones.map(o),
            key: self.key.map(o),
            attributes: self.attributes.into_iter().map(attr).collect(),
            media: self
                .media
                .into_iter()
                .map(|m| MediaDescription {
                    media: o(m.media),
                    port: m.port,
                    port_count: m.port_count,
                    proto: o(m.proto),
                    formats: m.formats.into_iter().map(o).collect(),
                    info: m.info.map(o),
                    connections: m.connections.into_iter().map(conn).collect(),
                    bandwidths: m.bandwidths.into_iter().map(bw).collect(),
                    key: m.key.map(o),
                    attributes: m.attributes.into_iter().map(attr).collect(),
                })
                .collect(),
        }
    }
}

struct Parser;

fn err(line: usize, kind: SdpErrorKind) -> SdpError {
    SdpError { line, kind }
}

fn parse_connection(v: &str, line: usize) -> Result<Connection<'_>, SdpError> {
    let mut it = v.split_ascii_whitespace();
    let (Some(n), Some(a), Some(addr), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(err(line, SdpErrorKind::BadConnection));
    };
    Ok(Connection {
        net_type: Cow::Borrowed(n),
        addr_type: Cow::Borrowed(a),
        address: Cow::Borrowed(addr),
    })
}

fn parse_bandwidth(v: &str, line: usize) -> Result<Bandwidth<'_>, SdpError> {
    let (t, n) = v.split_once(':').ok_or(err(line, SdpErrorKind::BadBandwidth))?;
    let kbps = n
        .trim()
        .parse()
        .map_err(|_| err(line, SdpErrorKind::BadBandwidth))?;
    Ok(Bandwidth {
        bw_type: Cow::Borrowed(t),
        kbps,
    })
}

fn parse_attribute(v: &str) -> Attribute<'_> {
    match v.split_once(':') {
        Some((n, val)) => Attribute {
            name: Cow::Borrowed(n),
            value: Some(Cow::Borrowed(val)),
        },
        None => Attribute {
            name: Cow::Borrowed(v),
            value: None,
        },
    }
}

impl Parser {
    fn parse(text: &str) -> Result<SessionDescription<'_>, SdpError> {
        let mut lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.is_empty());
        let (n, first) = lines.next().ok_or(err(1, SdpErrorKind::MissingVersion))?;
        match first.strip_prefix("v=") {
            Some("0") => {}
            Some(_) => return Err(err(n, SdpErrorKind::BadVersion)),
            None => return Err(err(n, SdpErrorKind::MissingVersion)),
        }
        let mut origin = None;
        let mut sd = SessionDescription {
            origin: Origin {
                username: Cow::Borrowed("-"),
                session_id: Cow::Borrowed("0"),
                session_version: 0,
                net_type: Cow::Borrowed("IN"),
                addr_type: Cow::Borrowed("IP4"),
                address: Cow::Borrowed("0.0.0.0"),
            },
            session_name: Cow::Borrowed("-"),
            info: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timing: Vec::new(),
            time_zones: None,
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        };
        let mut last_line = n;
        for (n, line) in lines {
            last_line = n;
            let b = line.as_bytes();
            if b.len() < 2 || b[1] != b'=' {
                return Err(err(n, SdpErrorKind::Malformed));
            }
            let kind = b[0];
            let v = &line[2..];
            if let Some(m) = sd.media.last_mut() {
                match kind {
                    b'i' => m.info = Some(Cow::Borrowed(v)),
                    b'c' => m.connections.push(parse_connection(v, n)?),
                    b'b' => m.bandwidths.push(parse_bandwidth(v, n)?),
                    b'k' => m.key = Some(Cow::Borrowed(v)),
                    b'a' => m.attributes.push(parse_attribute(v)),
                    b'm' => sd.media.push(Self::media(v, n)?),
                    b'v' | b'o' | b's' | b'u' | b'e' | b'p' | b't' | b'r' | b'z' => {
                        return Err(err(n, SdpErrorKind::Misplaced(kind)));
                    }
                    _ => return Err(err(n, SdpErrorKind::UnknownType(kind))),
                }
                continue;
            }
            match kind {
                b'o' => {
                    if origin.is_some() {
                        return Err(err(n, SdpErrorKind::Misplaced(kind)));
                    }
                    let f: Vec<&str> = v.split_ascii_whitespace().collect();
                    if f.len() != 6 {
                        return Err(err(n, SdpErrorKind::BadOrigin));
                    }
                    let session_version = f[2].parse().map_err(|_| err(n, SdpErrorKind::BadOrigin))?;
                    origin = Some(Origin {
                        username: Cow::Borrowed(f[0]),
                        session_id: Cow::Borrowed(f[1]),
                        session_version,
                        net_type: Cow::Borrowed(f[3]),
                        addr_type: Cow::Borrowed(f[4]),
                        address: Cow::Borrowed(f[5]),
                    });
                }
                b's' => sd.session_name = Cow::Borrowed(v),
                b'i' => sd.info = Some(Cow::Borrowed(v)),
                b'u' => sd.uri = Some(Cow::Borrowed(v)),
                b'e' => sd.emails.push(Cow::Borrowed(v)),
                b'p' => sd.phones.push(Cow::Borrowed(v)),
                b'c' => sd.connection = Some(parse_connection(v, n)?),
                b'b' => sd.bandwidths.push(parse_bandwidth(v, n)?),
                b't' => {
                    let mut it = v.split_ascii_whitespace();
                    let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
                        return Err(err(n, SdpErrorKind::BadTiming));
                    };
                    let start = a.parse().map_err(|_| err(n, SdpErrorKind::BadTiming))?;
                    let stop = b.parse().map_err(|_| err(n, SdpErrorKind::BadTiming))?;
                    sd.timing.push(Timing {
                        start,
                        stop,
                        repeats: Vec::new(),
                    });
                }
                b'r' => match sd.timing.last_mut() {
                    Some(t) => t.repeats.push(Cow::Borrowed(v)),
                    None => return Err(err(n, SdpErrorKind::Misplaced(kind))),
                },
                b'z' => sd.time_zones = Some(Cow::Borrowed(v)),
                b'k' => sd.key = Some(Cow::Borrowed(v)),
                b'a' => sd.attributes.push(parse_attribute(v)),
                b'm' => sd.media.push(Self::media(v, n)?),
                b'v' => return Err(err(n, SdpErrorKind::Misplaced(kind))),
                _ => return Err(err(n, SdpErrorKind::UnknownType(kind))),
            }
        }
        sd.origin = origin.ok_or(err(last_line, SdpErrorKind::MissingOrigin))?;
        if sd.timing.is_empty() {
            // Tolerated: some SIP devices omit t=; the emitter writes t=0 0 for it.
            sd.timing.push(Timing::default());
        }
        Ok(sd)
    }

    fn media(v: &str, n: usize) -> Result<MediaDescription<'_>, SdpError> {
        let mut it = v.split_ascii_whitespace();
        let (Some(media), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
            return Err(err(n, SdpErrorKind::BadMedia));
        };
        let (port, port_count) = match port.split_once('/') {
            Some((p, c)) => (p, Some(c.parse().map_err(|_| err(n, SdpErrorKind::BadPort))?)),
            None => (port, None),
        };
        let port = port.parse().map_err(|_| err(n, SdpErrorKind::BadPort))?;
        let formats: Vec<Text<'_>> = it.map(Cow::Borrowed).collect();
        if formats.is_empty() {
            return Err(err(n, SdpErrorKind::BadMedia));
        }
        Ok(MediaDescription {
            media: Cow::Borrowed(media),
            port,
            port_count,
            proto: Cow::Borrowed(proto),
            formats,
            info: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        })
    }
}
