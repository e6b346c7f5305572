//! The tokio edge on loopback: two endpoints exchange real SIP messages through their
//! transaction layers over UDP and TCP (connection reuse, responses on the same connection,
//! keep-alive ping/pong, idle cleanup). Bounded in time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::sip::transaction::wire_glue::{self, ReceiveError};
use gateway::sip::transaction::{TimerConfig, TransactionLayer, TxnEvent, TxnId};
use gateway::sip::transport::{Destination, EdgeConfig, Inbound, SipEdge, TransportKind, local_addr_toward};
use gateway::sip::wire::{HeaderName, Message, Method, Uri};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

type Layer = TransactionLayer<Message, Destination>;

struct Endpoint {
    edge: SipEdge,
    rx: Receiver<Inbound>,
    layer: Layer,
}

async fn endpoint(idle: Duration) -> Endpoint {
    let cfg = EdgeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        idle_timeout: idle,
        ..EdgeConfig::default()
    };
    let (edge, rx) = SipEdge::bind(cfg).await.unwrap();
    Endpoint {
        edge,
        rx,
        layer: TransactionLayer::new(TimerConfig::default()),
    }
}

fn options(to: SocketAddr, transport: TransportKind, local_port: u16, branch: &str) -> Message {
    let uri = Uri::parse(&format!("sip:peer@{to}")).unwrap().to_owned_uri();
    let mut m = Message::request(Method::Options, uri);
    m.push(HeaderName::MaxForwards, 70)
        .push(HeaderName::From, "<sip:gw@example.com>;tag=f1")
        .push(HeaderName::To, format!("<sip:peer@{to}>"))
        .push(HeaderName::CallId, format!("{branch}@test"))
        .push(HeaderName::CSeq, "1 OPTIONS");
    // Via sent-by: the real interface toward the peer, never 0.0.0.0.
    let local = local_addr_toward(to, None).unwrap();
    wire_glue::push_via(&mut m, transport, local, local_port, branch);
    m
}

/// Sends what the layer asks to send; returns the other events.
async fn pump(ep: &mut Endpoint) -> Vec<TxnEvent<Message, Destination>> {
    let mut rest = Vec::new();
    while let Some(ev) = ep.layer.poll_event() {
        match ev {
            TxnEvent::Transmit { txn, msg, dest } => {
                if ep.edge.send(&dest, &msg.to_bytes()).await.is_err() {
                    ep.layer.transport_error(Instant::now(), txn);
                }
            }
            e => rest.push(e),
        }
    }
    rest
}

/// Receives one message into the layer.
async fn recv_one(ep: &mut Endpoint) -> Inbound {
    let inbound = timeout(Duration::from_secs(5), ep.rx.recv())
        .await
        .expect("message in time")
        .expect("edge open");
    let r = wire_glue::receive(&inbound).expect("parses");
    let reply_to = r.reply_to.clone().unwrap_or(Destination {
        transport: inbound.transport,
        addr: inbound.source,
        conn: inbound.conn,
    });
    ep.layer
        .receive(Instant::now(), &r.info, r.msg, reply_to, r.reliable);
    inbound
}

fn request_txn(ev: &[TxnEvent<Message, Destination>]) -> (TxnId, Message) {
    ev.iter()
        .find_map(|e| match e {
            TxnEvent::Request { txn, msg, .. } => Some((*txn, msg.clone())),
            _ => None,
        })
        .expect("a request")
}

async fn exchange(
    a: &mut Endpoint,
    b: &mut Endpoint,
    transport: TransportKind,
    branch: &str,
) -> (Inbound, Inbound) {
    let b_addr = match transport {
        TransportKind::Udp => b.edge.udp_local_addr(),
        _ => b.edge.tcp_local_addr().unwrap(),
    };
    let req = options(b_addr, transport, a.edge.udp_local_addr().port(), branch);
    let info = wire_glue::info_of(&req).unwrap();
    let dest = Destination {
        transport,
        addr: b_addr,
        conn: None,
    };
    a.layer
        .send_request(Instant::now(), &info, req, dest, transport.is_reliable())
        .unwrap();
    assert!(pump(a).await.is_empty());
    let at_b = recv_one(b).await;
    let ev = pump(b).await;
    let (sid, got) = request_txn(&ev);
    // The stamped top Via carries received and rport (RFC 3581), the response will too.
    let via = got.top_via().unwrap();
    assert_eq!(via.received(), Some(at_b.source.ip()));
    assert_eq!(via.rport(), Some(Some(at_b.source.port())));
    let resp = got.make_response(200, Some("b-tag"));
    let rinfo = wire_glue::info_of(&resp).unwrap();
    b.layer.respond(Instant::now(), sid, &rinfo, resp).unwrap();
    pump(b).await;
    let at_a = recv_one(a).await;
    let ev = pump(a).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, TxnEvent::Response { status: 200, .. })),
        "200 OK delivered to the UAC: {ev:?}"
    );
    (at_b, at_a)
}

#[tokio::test]
async fn udp_and_tcp_loopback_exchange() {
    timeout(Duration::from_secs(20), async {
        let mut a = endpoint(Duration::from_secs(300)).await;
        let mut b = endpoint(Duration::from_secs(300)).await;
        assert!(a.edge.udp_local_addr().ip().is_loopback());

        // UDP: the response comes back to the source port (rport).
        let (at_b, at_a) = exchange(&mut a, &mut b, TransportKind::Udp, "z9hG4bK-udp1").await;
        assert_eq!(at_b.transport, TransportKind::Udp);
        assert_eq!(at_b.source, a.edge.udp_local_addr());
        assert_eq!(at_a.source, b.edge.udp_local_addr());

        // TCP: A opens one connection; B answers on it; a second transaction reuses it.
        let (at_b, at_a) = exchange(&mut a, &mut b, TransportKind::Tcp, "z9hG4bK-tcp1").await;
        assert!(at_b.conn.is_some());
        assert!(at_a.conn.is_some());
        assert_eq!(a.edge.connection_count(), 1);
        assert_eq!(b.edge.connection_count(), 1);
        let (at_b2, _) = exchange(&mut a, &mut b, TransportKind::Tcp, "z9hG4bK-tcp2").await;
        assert_eq!(at_b2.conn, at_b.conn);
        assert_eq!(at_b2.source, at_b.source);
        assert_eq!(a.edge.connection_count(), 1);

        // RFC 5626 keep-alive: B answers A's ping with a pong, which reaches A's core as a
        // keep-alive (for flow supervision); B's core sees nothing.
        a.edge.ping(b.edge.tcp_local_addr().unwrap()).await.unwrap();
        let pong = timeout(Duration::from_secs(5), a.rx.recv())
            .await
            .expect("pong in time")
            .expect("edge open");
        assert!(pong.is_keepalive());
        assert_eq!(pong.data, b"\r\n");
        assert_eq!(pong.conn, at_a.conn);
        assert_eq!(pong.source, b.edge.tcp_local_addr().unwrap());
        assert!(b.rx.try_recv().is_err());
        let (at_b3, _) = exchange(&mut a, &mut b, TransportKind::Tcp, "z9hG4bK-tcp3").await;
        assert_eq!(at_b3.conn, at_b.conn);

        // Idle cleanup: nothing is idle yet.
        assert_eq!(a.edge.close_idle(), 0);
        a.edge.shutdown();
        b.edge.shutdown();
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn idle_connections_are_closed_and_reopened() {
    timeout(Duration::from_secs(20), async {
        let mut a = endpoint(Duration::ZERO).await;
        let mut b = endpoint(Duration::from_secs(300)).await;
        exchange(&mut a, &mut b, TransportKind::Tcp, "z9hG4bK-idle1").await;
        assert_eq!(a.edge.close_idle(), 1);
        assert_eq!(a.edge.connection_count(), 0);
        // The next request opens a new connection.
        exchange(&mut a, &mut b, TransportKind::Tcp, "z9hG4bK-idle2").await;
        a.edge.shutdown();
        b.edge.shutdown();
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn malformed_request_gets_400_and_refused_tcp_is_a_transport_error() {
    timeout(Duration::from_secs(20), async {
        let mut a = endpoint(Duration::from_secs(300)).await;
        let b = endpoint(Duration::from_secs(300)).await;
        let raw = format!(
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-bad\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: bad@x\r\nCSeq: notanumber OPTIONS\r\n\
             Content-Length: 0\r\n\r\n",
            a.edge.udp_local_addr().port()
        );
        let dest = Destination {
            transport: TransportKind::Udp,
            addr: b.edge.udp_local_addr(),
            conn: None,
        };
        a.edge.send(&dest, raw.as_bytes()).await.unwrap();
        let mut b = b;
        let inbound = timeout(Duration::from_secs(5), b.rx.recv())
            .await
            .unwrap()
            .unwrap();
        let Err(ReceiveError::Parse {
            reply: Some(reply), ..
        }) = wire_glue::receive(&inbound)
        else {
            panic!("expected a parse error with a reply");
        };
        let (resp, to) = *reply;
        assert_eq!(resp.status(), Some(400));
        b.edge.send(&to, &resp.to_bytes()).await.unwrap();
        let back = timeout(Duration::from_secs(5), a.rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(back.data.starts_with(b"SIP/2.0 400"));

        // A TCP request to a port nobody listens on: the layer hears a transport error.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        let req = options(dead, TransportKind::Tcp, 5060, "z9hG4bK-dead");
        let info = wire_glue::info_of(&req).unwrap();
        a.layer
            .send_request(
                Instant::now(),
                &info,
                req,
                Destination {
                    transport: TransportKind::Tcp,
                    addr: dead,
                    conn: None,
                },
                true,
            )
            .unwrap();
        let ev = pump(&mut a).await;
        assert!(
            ev.iter().any(|e| matches!(e, TxnEvent::TransportError { .. })),
            "{ev:?}"
        );
        a.edge.shutdown();
        b.edge.shutdown();
    })
    .await
    .expect("bounded");
}

/// Two `SipEndpoint`s on loopback: an INVITE answered 180 then 486; the client transaction
/// acknowledges the 486 by itself and the server transaction absorbs the ACK.
#[tokio::test]
async fn endpoints_run_an_invite_over_udp() {
    use gateway::sip::transport::SipEndpoint;
    use std::sync::Arc;
    timeout(Duration::from_secs(20), async {
        let cfg = EdgeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..EdgeConfig::default()
        };
        let mut a = SipEndpoint::bind(cfg.clone(), TimerConfig::default())
            .await
            .unwrap();
        // T4 = 0 on the UAS: Timer I ends its transaction as soon as the ACK matches.
        let uas_timers = TimerConfig {
            t4: Duration::ZERO,
            ..TimerConfig::default()
        };
        let mut b = SipEndpoint::bind(cfg, uas_timers).await.unwrap();
        let b_addr = b.edge().udp_local_addr();
        let uas = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(ev) = b.next_event().await {
                match ev {
                    TxnEvent::Request { txn, msg, .. } => {
                        seen.push(msg.method().unwrap().to_string());
                        for code in [180, 486] {
                            let r = msg.make_response(code, Some("uas"));
                            let info = wire_glue::info_of(&r).unwrap();
                            b.layer()
                                .respond(Instant::now(), txn, &info, Arc::new(r))
                                .unwrap();
                        }
                    }
                    TxnEvent::Terminated { .. } => break,
                    _ => {}
                }
            }
            b.shutdown();
            seen
        });
        let mut invite = options(
            b_addr,
            TransportKind::Udp,
            a.edge().udp_local_addr().port(),
            "z9hG4bK-ep1",
        );
        invite.start = gateway::sip::wire::StartLine::Request(gateway::sip::wire::RequestLine {
            method: Method::Invite,
            uri: Uri::parse(&format!("sip:peer@{b_addr}")).unwrap().to_owned_uri(),
        });
        invite.set(HeaderName::CSeq, "1 INVITE");
        let info = wire_glue::info_of(&invite).unwrap();
        let dest = Destination {
            transport: TransportKind::Udp,
            addr: b_addr,
            conn: None,
        };
        a.layer()
            .send_request(Instant::now(), &info, Arc::new(invite), dest, false)
            .unwrap();
        let mut statuses = Vec::new();
        while let Some(ev) = a.next_event().await {
            if let TxnEvent::Response { status, .. } = ev {
                statuses.push(status);
                if status >= 300 {
                    break;
                }
            }
        }
        // Send the queued ACK before stopping.
        a.flush().await;
        assert_eq!(statuses, vec![180, 486]);
        // The UAS saw one INVITE, and its transaction terminated: the ACK matched it.
        assert_eq!(uas.await.unwrap(), vec!["INVITE".to_string()]);
        a.shutdown();
    })
    .await
    .expect("bounded");
}
