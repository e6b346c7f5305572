//! Transport pieces without sockets: stream framing with RFC 5626 keep-alives, Via stamping
//! (18.2.1, RFC 3581), response routing (18.2.2), the UDP size rule (18.1.1), and the local
//! interface address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use gateway::sip::transport::framing::{PING, PONG};
use gateway::sip::transport::outbound::host_port;
use gateway::sip::transport::via::apply_stamp;
use gateway::sip::transport::{
    ConnId, FramingError, ResponseRoute, StreamFramer, StreamItem, TransportKind, ViaAddressing, ViaStamp,
    local_addr_toward, response_route, stamp_via, transport_for_request,
};
use proptest::prelude::*;

fn msg(body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn items(f: &mut StreamFramer) -> Vec<StreamItem> {
    let mut v = Vec::new();
    while let Some(i) = f.next_item().unwrap() {
        v.push(i);
    }
    v
}

#[test]
fn framer_splits_and_joins_messages() {
    let mut f = StreamFramer::new(4096);
    let a = msg("hello");
    let b = msg("");
    let mut all = a.clone();
    all.extend_from_slice(&b);
    f.push(&all[..10]);
    assert!(items(&mut f).is_empty());
    f.push(&all[10..a.len() - 1]);
    assert!(items(&mut f).is_empty());
    f.push(&all[a.len() - 1..]);
    assert_eq!(
        items(&mut f),
        vec![StreamItem::Message(a), StreamItem::Message(b)]
    );
    assert_eq!(f.buffered(), 0);
}

#[test]
fn framer_compact_and_folded_content_length() {
    let mut f = StreamFramer::new(4096);
    let m = b"BYE sip:x SIP/2.0\r\nl: 3\r\n\r\nabc".to_vec();
    f.push(&m);
    assert_eq!(items(&mut f), vec![StreamItem::Message(m)]);
    let m = b"BYE sip:x SIP/2.0\r\nContent-Length:\r\n 2\r\n\r\nab".to_vec();
    f.push(&m);
    assert_eq!(items(&mut f), vec![StreamItem::Message(m)]);
}

#[test]
fn framer_errors() {
    let mut f = StreamFramer::new(4096);
    f.push(b"BYE sip:x SIP/2.0\r\nVia: x\r\n\r\n");
    assert_eq!(f.next_item(), Err(FramingError::MissingContentLength));
    let mut f = StreamFramer::new(4096);
    f.push(b"BYE sip:x SIP/2.0\r\nContent-Length: 1x\r\n\r\n");
    assert_eq!(f.next_item(), Err(FramingError::BadContentLength));
    let mut f = StreamFramer::new(4096);
    f.push(b"BYE sip:x SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(f.next_item(), Err(FramingError::BadContentLength));
    let mut f = StreamFramer::new(100);
    f.push(b"BYE sip:x SIP/2.0\r\nContent-Length: 500\r\n\r\n");
    assert_eq!(
        f.next_item(),
        Err(FramingError::MessageTooLarge { len: 542, limit: 100 })
    );
    let mut f = StreamFramer::new(100);
    f.push(&[b'a'; 101]);
    assert_eq!(f.next_item(), Err(FramingError::HeaderTooLarge { limit: 100 }));
}

#[test]
fn framer_keepalives() {
    let mut f = StreamFramer::new(4096);
    // Ping, then a message: the message follows the ping.
    f.push(PING);
    f.push(&msg("x"));
    assert_eq!(
        items(&mut f),
        vec![StreamItem::Ping, StreamItem::Message(msg("x"))]
    );
    // A ping split in two reads is still a ping.
    f.push(b"\r\n");
    assert!(items(&mut f).is_empty());
    f.push(b"\r\n");
    assert_eq!(items(&mut f), vec![StreamItem::Ping]);
    // After our ping, a lone CRLF is the pong.
    f.ping_sent();
    f.push(PONG);
    assert_eq!(items(&mut f), vec![StreamItem::Pong]);
    // A CRLF followed by a message is a pong (or padding) then the message.
    f.push(b"\r\n");
    f.push(&msg(""));
    assert_eq!(
        items(&mut f),
        vec![StreamItem::Pong, StreamItem::Message(msg(""))]
    );
}

proptest! {
    /// However the stream is cut into reads, the same items come out.
    #[test]
    fn framer_independent_of_read_boundaries(
        bodies in prop::collection::vec("[a-z\r\n]{0,40}", 1..5),
        cuts in prop::collection::vec(1usize..50, 1..40),
    ) {
        let mut stream = Vec::new();
        let mut expect = Vec::new();
        for (i, b) in bodies.iter().enumerate() {
            if i % 2 == 1 {
                stream.extend_from_slice(PING);
                expect.push(StreamItem::Ping);
            }
            stream.extend_from_slice(&msg(b));
            expect.push(StreamItem::Message(msg(b)));
        }
        let mut f = StreamFramer::new(1 << 16);
        let mut got = Vec::new();
        let mut pos = 0;
        let mut cuts = cuts.into_iter().cycle();
        while pos < stream.len() {
            let n = cuts.next().unwrap().min(stream.len() - pos);
            f.push(&stream[pos..pos + n]);
            pos += n;
            while let Some(i) = f.next_item().unwrap() {
                got.push(i);
            }
        }
        prop_assert_eq!(got, expect);
    }

    /// Arbitrary bytes never panic the framer.
    #[test]
    fn framer_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut f = StreamFramer::new(256);
        f.push(&data);
        for _ in 0..10 {
            match f.next_item() {
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
    }
}

fn via(transport: TransportKind, host: &str, port: Option<u16>) -> ViaAddressing {
    ViaAddressing {
        transport,
        host: host.into(),
        port,
        received: None,
        rport: None,
        maddr: None,
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn via_received_only_when_host_differs() {
    let v = via(TransportKind::Udp, "192.0.2.1", Some(5060));
    assert_eq!(stamp_via(&v, sa("192.0.2.1:5060")), ViaStamp::default());
    assert_eq!(
        stamp_via(&v, sa("198.51.100.7:5060")),
        ViaStamp {
            received: Some("198.51.100.7".parse().unwrap()),
            rport: None
        }
    );
    // A domain name always differs from an address.
    let v = via(TransportKind::Udp, "pc33.atlanta.com", None);
    assert_eq!(
        stamp_via(&v, sa("192.0.2.1:5060")).received,
        Some("192.0.2.1".parse().unwrap())
    );
    // IPv6 literal in brackets, and a v4-mapped source.
    let v = via(TransportKind::Udp, "[2001:db8::1]", None);
    assert_eq!(stamp_via(&v, sa("[2001:db8::1]:5060")), ViaStamp::default());
    let v = via(TransportKind::Udp, "192.0.2.1", None);
    assert_eq!(stamp_via(&v, sa("[::ffff:192.0.2.1]:5060")), ViaStamp::default());
}

#[test]
fn via_rport_rfc3581() {
    // RFC 3581 section 4 example: rport filled and received added even when equal.
    let mut v = via(TransportKind::Udp, "192.0.2.1", Some(5060));
    v.rport = Some(None);
    let s = stamp_via(&v, sa("192.0.2.1:9988"));
    assert_eq!(
        s,
        ViaStamp {
            received: Some("192.0.2.1".parse().unwrap()),
            rport: Some(9988)
        }
    );
    apply_stamp(&mut v, s);
    assert_eq!(v.rport, Some(Some(9988)));
    // The response goes to the source port, not the sent-by port.
    assert_eq!(
        response_route(&v, None),
        ResponseRoute::Addr {
            transport: TransportKind::Udp,
            addr: sa("192.0.2.1:9988")
        }
    );
}

#[test]
fn response_routing_18_2_2() {
    // Reliable: the same connection, falling back to received + sent-by port.
    let mut v = via(TransportKind::Tcp, "client.example", Some(5070));
    let s = stamp_via(&v, sa("192.0.2.9:40000"));
    apply_stamp(&mut v, s);
    assert_eq!(
        response_route(&v, Some(ConnId(3))),
        ResponseRoute::Connection {
            conn: ConnId(3),
            transport: TransportKind::Tcp,
            fallback: sa("192.0.2.9:5070")
        }
    );
    // maddr wins for unreliable transports.
    let mut v = via(TransportKind::Udp, "192.0.2.1", None);
    v.maddr = Some("239.255.255.1".into());
    assert_eq!(
        response_route(&v, None),
        ResponseRoute::Addr {
            transport: TransportKind::Udp,
            addr: sa("239.255.255.1:5060")
        }
    );
    // received without rport: sent-by port.
    let mut v = via(TransportKind::Udp, "pc33.example", Some(5062));
    let s = stamp_via(&v, sa("192.0.2.4:33333"));
    apply_stamp(&mut v, s);
    assert_eq!(
        response_route(&v, None),
        ResponseRoute::Addr {
            transport: TransportKind::Udp,
            addr: sa("192.0.2.4:5062")
        }
    );
    // No received: sent-by address and default port.
    let v = via(TransportKind::Udp, "192.0.2.5", None);
    assert_eq!(
        response_route(&v, None),
        ResponseRoute::Addr {
            transport: TransportKind::Udp,
            addr: sa("192.0.2.5:5060")
        }
    );
    // A name with no received (not stamped): resolve per RFC 3263 section 5.
    let v = via(TransportKind::Tls, "proxy.example", None);
    assert_eq!(
        response_route(&v, None),
        ResponseRoute::Resolve {
            transport: TransportKind::Tls,
            host: "proxy.example".into(),
            port: None
        }
    );
}

#[test]
fn udp_size_rule_18_1_1() {
    use TransportKind::*;
    assert_eq!(transport_for_request(Udp, 1300, None), Udp);
    assert_eq!(transport_for_request(Udp, 1301, None), Tcp);
    assert_eq!(transport_for_request(Udp, 1300, Some(1500)), Udp);
    assert_eq!(transport_for_request(Udp, 1301, Some(1500)), Tcp);
    assert_eq!(transport_for_request(Udp, 8801, Some(9000)), Tcp);
    assert_eq!(transport_for_request(Udp, 8800, Some(9000)), Udp);
    assert_eq!(transport_for_request(Tcp, 100, None), Tcp);
    assert_eq!(transport_for_request(Tls, 100_000, None), Tls);
}

#[test]
fn local_address_is_the_real_interface() {
    let ip = local_addr_toward(sa("127.0.0.1:5060"), None).unwrap();
    assert!(ip.is_loopback());
    assert!(!ip.is_unspecified());
    // An unspecified bind address is not an answer; the route is asked instead.
    let ip = local_addr_toward(sa("127.0.0.2:5060"), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))).unwrap();
    assert!(!ip.is_unspecified());
    // A configured interface address is used as is.
    let bound: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(
        local_addr_toward(sa("127.0.0.2:5060"), Some(bound)).unwrap(),
        bound
    );
    assert_eq!(host_port("127.0.0.1".parse().unwrap(), 5060), "127.0.0.1:5060");
    assert_eq!(host_port("::1".parse().unwrap(), 5061), "[::1]:5061");
}
