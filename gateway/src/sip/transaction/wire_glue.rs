//! The transaction layer and transports over the wire types: [`MsgInfo`] from parsed and owned
//! messages, the ACK and `100 Trying` the machines need, Via building and stamping, and the
//! path from a received datagram or stream message to a layer input.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rand::Rng;

use super::key::{MsgInfo, StartLine as InfoStart, TxnMethod};
use super::{MAGIC_COOKIE, TxnMessage};
use crate::sip::transport::via::apply_stamp;
use crate::sip::transport::{
    Destination, Inbound, ResponseRoute, TransportKind, ViaAddressing, response_route, stamp_via,
};
use crate::sip::wire::{
    self, HeaderName, Host, Message, Method, NameAddr, ParseError, SipMsg, StartLine, Transport, Via,
};

impl TxnMessage for Message {
    /// RFC 3261 17.1.1.3.
    fn ack_for_non2xx(invite: &Self, response: &Self) -> Self {
        let uri = match &invite.start {
            StartLine::Request(r) => r.uri.clone(),
            // Never called with a response as `invite`; keep a well-formed message anyway.
            StartLine::Response(_) => wire::Uri::parse("sip:invalid")
                .map(|u| u.to_owned_uri())
                .unwrap_or_else(|_| {
                    wire::Uri::Other(wire::OtherUri {
                        scheme: "sip".into(),
                        rest: "invalid".into(),
                    })
                }),
        };
        let mut ack = Message::request(Method::Ack, uri);
        if let Some(v) = invite.top_via() {
            ack.push(HeaderName::Via, v.to_owned_via());
        }
        ack.push(HeaderName::MaxForwards, invite.max_forwards().unwrap_or(70));
        for h in &invite.headers {
            if h.name == HeaderName::Route {
                ack.headers.push(h.clone());
            }
        }
        if let Some(v) = invite.header_by(HeaderName::From) {
            ack.push(HeaderName::From, v);
        }
        if let Some(v) = response
            .header_by(HeaderName::To)
            .or(invite.header_by(HeaderName::To))
        {
            ack.push(HeaderName::To, v);
        }
        if let Some(v) = invite.header_by(HeaderName::CallId) {
            ack.push(HeaderName::CallId, v);
        }
        let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
        ack.push(HeaderName::CSeq, format_args!("{seq} ACK"));
        ack
    }

    /// 100 Trying with the Timestamp copied (8.2.6.1).
    fn trying_for(request: &Self) -> Self {
        let mut r = request.make_response(100, None);
        if let Some(ts) = request.header("Timestamp") {
            r.push_named("Timestamp", ts);
        }
        r
    }
}

impl TxnMessage for Arc<Message> {
    fn ack_for_non2xx(invite: &Self, response: &Self) -> Self {
        Arc::new(Message::ack_for_non2xx(invite, response))
    }
    fn trying_for(request: &Self) -> Self {
        Arc::new(Message::trying_for(request))
    }
}

/// A header the transaction layer needs is missing or does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingHeader(pub HeaderName);

impl std::fmt::Display for MissingHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "missing or invalid {} header", self.0)
    }
}

impl std::error::Error for MissingHeader {}

fn method_of<S: AsRef<str>>(m: &Method<S>) -> TxnMethod {
    match m {
        Method::Invite => TxnMethod::Invite,
        Method::Ack => TxnMethod::Ack,
        Method::Cancel => TxnMethod::Cancel,
        m => TxnMethod::Other(m.as_str().into()),
    }
}

fn sent_by<S: AsRef<str>>(v: &Via<S>) -> String {
    let mut s = v.host.to_string().to_ascii_lowercase();
    if let Some(p) = v.port {
        s.push(':');
        s.push_str(&p.to_string());
    }
    s
}

/// [`MsgInfo`] of a parsed message (the parser has validated every header used).
pub fn info_of_parsed(m: &SipMsg<'_>) -> MsgInfo {
    let start = match m.start_line() {
        StartLine::Request(r) => InfoStart::Request {
            method: method_of(&r.method),
            request_uri: r.uri.to_string(),
        },
        StartLine::Response(s) => InfoStart::Response { status: s.code },
    };
    let via = m.top_via();
    MsgInfo {
        start,
        branch: via.branch().map(str::to_string),
        sent_by: sent_by(via),
        top_via: via.to_string(),
        call_id: m.call_id().to_string(),
        cseq: m.cseq().seq,
        cseq_method: method_of(&m.cseq().method),
        from_tag: m.from().tag().map(str::to_string),
        to_tag: m.to().tag().map(str::to_string),
    }
}

/// [`MsgInfo`] of an owned message.
pub fn info_of(m: &Message) -> Result<MsgInfo, MissingHeader> {
    let start = match &m.start {
        StartLine::Request(r) => InfoStart::Request {
            method: method_of(&r.method),
            request_uri: r.uri.to_string(),
        },
        StartLine::Response(s) => InfoStart::Response { status: s.code },
    };
    let via = m.top_via().ok_or(MissingHeader(HeaderName::Via))?;
    let cseq = m.cseq().ok_or(MissingHeader(HeaderName::CSeq))?;
    let from: NameAddr<&str> = m.from_hdr().ok_or(MissingHeader(HeaderName::From))?;
    let to: NameAddr<&str> = m.to_hdr().ok_or(MissingHeader(HeaderName::To))?;
    Ok(MsgInfo {
        start,
        branch: via.branch().map(str::to_string),
        sent_by: sent_by(&via),
        top_via: via.to_string(),
        call_id: m.call_id().ok_or(MissingHeader(HeaderName::CallId))?.to_string(),
        cseq: cseq.seq,
        cseq_method: method_of(&cseq.method),
        from_tag: from.tag().map(str::to_string),
        to_tag: to.tag().map(str::to_string),
    })
}

/// The transport of a Via, for the transports the edge knows.
pub fn transport_kind<S: AsRef<str>>(t: &Transport<S>) -> Option<TransportKind> {
    match t {
        Transport::Udp => Some(TransportKind::Udp),
        Transport::Tcp => Some(TransportKind::Tcp),
        Transport::Tls => Some(TransportKind::Tls),
        _ => None,
    }
}

/// The wire transport token for a [`TransportKind`].
pub fn wire_transport(t: TransportKind) -> Transport<String> {
    match t {
        TransportKind::Udp => Transport::Udp,
        TransportKind::Tcp => Transport::Tcp,
        TransportKind::Tls => Transport::Tls,
    }
}

/// The addressing part of a Via.
pub fn via_addressing<S: AsRef<str>>(v: &Via<S>) -> Option<ViaAddressing> {
    Some(ViaAddressing {
        transport: transport_kind(&v.transport)?,
        host: match &v.host {
            Host::V6(a) => a.to_string(),
            h => h.to_string(),
        },
        port: v.port,
        received: v.received(),
        rport: v.rport(),
        maddr: v.maddr().map(str::to_string),
    })
}

/// Rewrites the Via headers of `m` so that the top one is `top` (the others unchanged).
fn replace_top_via(m: &mut Message, top: &Via<String>) {
    let vias: Vec<String> = m.vias().skip(1).map(|v| v.to_owned_via().to_string()).collect();
    let Some(first) = m.headers.iter().position(|h| h.name == HeaderName::Via) else {
        return;
    };
    let mut value = top.to_string();
    for v in vias {
        value.push_str(", ");
        value.push_str(&v);
    }
    m.headers.retain(|h| h.name != HeaderName::Via);
    m.headers.insert(first, wire::Header::new(HeaderName::Via, value));
}

/// Server side 18.2.1 / RFC 3581: adds `received` and fills `rport` on the top Via of a request
/// from `source`. Returns the stamped addressing.
pub fn stamp_top_via(m: &mut Message, source: SocketAddr) -> Option<ViaAddressing> {
    let mut via = m.top_via()?.to_owned_via();
    let mut addr = via_addressing(&via)?;
    let stamp = stamp_via(&addr, source);
    if stamp.received.is_none() && stamp.rport.is_none() {
        return Some(addr);
    }
    if let Some(ip) = stamp.received {
        via.params.set("received", Some(&ip.to_string()));
    }
    if let Some(p) = stamp.rport {
        via.params.set("rport", Some(&p.to_string()));
    }
    replace_top_via(m, &via);
    apply_stamp(&mut addr, stamp);
    Some(addr)
}

/// A new RFC 3261 branch: the magic cookie and 64 random bits.
pub fn new_branch<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("{MAGIC_COOKIE}{:016x}", rng.r#gen::<u64>())
}

/// Adds the top Via a client puts on a request it sends (8.1.1.7): sent-by is the local
/// interface address toward the destination (see `transport::local_addr_toward`), never
/// 0.0.0.0; `rport` asks for symmetric response routing (RFC 3581).
pub fn push_via(m: &mut Message, transport: TransportKind, local: IpAddr, port: u16, branch: &str) {
    let host = match local {
        IpAddr::V4(a) => Host::V4(a),
        IpAddr::V6(a) => Host::V6(a),
    };
    let mut via = Via::new(wire_transport(transport), host, Some(port), branch);
    via.params.push("rport", None);
    m.push_front(HeaderName::Via, via);
}

/// Changes the transport of the top Via (after the 18.1.1 size rule moved a request to TCP).
pub fn set_top_via_transport(m: &mut Message, transport: TransportKind) {
    if let Some(v) = m.top_via() {
        let mut v = v.to_owned_via();
        v.transport = wire_transport(transport);
        replace_top_via(m, &v);
    }
}

/// The CANCEL for a sent INVITE (RFC 3261 9.1): same Request-URI, Call-ID, From, To and CSeq
/// number, the INVITE's top Via only (same branch, so it matches the INVITE's server
/// transaction), its Route headers, method CANCEL. Send it as a new client transaction, only
/// once a provisional response has arrived (`TransactionLayer::invite_client_proceeding`).
pub fn cancel_for(invite: &Message) -> Message {
    let uri = match &invite.start {
        StartLine::Request(r) => r.uri.clone(),
        StartLine::Response(_) => wire::Uri::Other(wire::OtherUri {
            scheme: "sip".into(),
            rest: "invalid".into(),
        }),
    };
    let mut c = Message::request(Method::Cancel, uri);
    if let Some(v) = invite.top_via() {
        c.push(HeaderName::Via, v.to_owned_via());
    }
    c.push(HeaderName::MaxForwards, invite.max_forwards().unwrap_or(70));
    for h in &invite.headers {
        if matches!(
            h.name,
            HeaderName::Route | HeaderName::From | HeaderName::To | HeaderName::CallId
        ) {
            c.headers.push(h.clone());
        }
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    c.push(HeaderName::CSeq, format_args!("{seq} CANCEL"));
    c
}

/// Applies the UDP size rule (18.1.1) to a request about to go over `wanted`: returns the
/// transport to use and rewrites the top Via when it changes (UDP -> TCP).
pub fn apply_size_rule(m: &mut Message, wanted: TransportKind, path_mtu: Option<usize>) -> TransportKind {
    let mut len = Vec::with_capacity(1500);
    m.emit(&mut len);
    let t = crate::sip::transport::transport_for_request(wanted, len.len(), path_mtu);
    if t != wanted {
        set_top_via_transport(m, t);
    }
    t
}

/// A received message ready for [`super::TransactionLayer::receive`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The message, top Via stamped for requests.
    pub msg: Message,
    pub info: MsgInfo,
    /// Where responses to a request go (18.2.2); `None` for responses, and for a `maddr`
    /// naming a host, which needs resolution first.
    pub reply_to: Option<Destination>,
    pub reliable: bool,
}

/// Why a received message is not passed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// It does not parse. For an addressable request, `reply` is the 400/505 to send back to
    /// the source (at `reply_to`).
    Parse {
        error: ParseError,
        reply: Option<Box<(Message, Destination)>>,
    },
    /// The top Via names a transport the edge does not run.
    UnsupportedVia,
}

/// Parses one message from the edge, stamps the top Via of a request (received/rport) and
/// computes where its responses go.
pub fn receive(inbound: &Inbound) -> Result<Received, ReceiveError> {
    let parsed = match inbound.transport {
        TransportKind::Udp => SipMsg::parse_datagram(&inbound.data),
        _ => SipMsg::parse_stream(&inbound.data).map(|(m, _)| m),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(error) => {
            let reply = wire::error_response(&inbound.data, &error, "gw400").map(|r| {
                let dest = Destination {
                    transport: inbound.transport,
                    addr: inbound.source,
                    conn: inbound.conn,
                };
                Box::new((r, dest))
            });
            return Err(ReceiveError::Parse { error, reply });
        }
    };
    let mut msg = parsed.to_message();
    // Matching uses the top Via as received (17.2.3), before stamping.
    let info = info_of_parsed(&parsed);
    if !msg.is_request() {
        return Ok(Received {
            msg,
            info,
            reply_to: None,
            reliable: inbound.transport.is_reliable(),
        });
    }
    let via = stamp_top_via(&mut msg, inbound.source).ok_or(ReceiveError::UnsupportedVia)?;
    let reply_to = match response_route(&via, inbound.conn) {
        ResponseRoute::Connection {
            conn,
            transport,
            fallback,
        } => Some(Destination {
            transport,
            addr: fallback,
            conn: Some(conn),
        }),
        ResponseRoute::Addr { transport, addr } => Some(Destination {
            transport,
            addr,
            conn: None,
        }),
        ResponseRoute::Resolve { .. } => None,
    };
    Ok(Received {
        msg,
        info,
        reply_to,
        reliable: inbound.transport.is_reliable(),
    })
}
