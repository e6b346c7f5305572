//! The transaction layer over real SIP messages: the ACK for a non-2xx response (17.1.1.3),
//! 100 Trying (8.2.6), Via stamping (18.2.1, RFC 3581), and a UAC/UAS pair exchanging bytes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::sip::transaction::wire_glue::{self, Received};
use gateway::sip::transaction::{TimerConfig, TransactionLayer, TxnEvent, TxnId, TxnMessage, TxnMethod};
use gateway::sip::transport::{Destination, Inbound, TransportKind};
use gateway::sip::wire::{Message, SipMsg};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bKnashds8;rport\r\n\
Max-Forwards: 70\r\n\
Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Timestamp: 54\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n";

fn parse(s: &str) -> Message {
    SipMsg::parse_datagram(s.as_bytes()).unwrap().to_message()
}

#[test]
fn ack_for_non_2xx_follows_17_1_1_3() {
    let invite = parse(INVITE);
    let busy = invite.make_response(486, Some("bobtag"));
    let ack = Message::ack_for_non2xx(&invite, &busy);
    let bytes = ack.to_bytes();
    let p = SipMsg::parse_datagram(&bytes).expect("the ACK parses");
    assert_eq!(p.method().map(|m| m.as_str()), Some("ACK"));
    assert_eq!(p.request_uri().unwrap().to_string(), "sip:bob@biloxi.example.com");
    // Exactly the top Via of the INVITE, branch included.
    let vias: Vec<String> = p.vias().map(|v| v.to_string()).collect();
    assert_eq!(vias, vec![invite.top_via().unwrap().to_string()]);
    assert_eq!(p.top_via().branch(), Some("z9hG4bKnashds8"));
    assert_eq!(p.to().tag(), Some("bobtag"));
    assert_eq!(p.from().tag(), Some("1928301774"));
    assert_eq!(p.call_id(), "a84b4c76e66710@pc33.atlanta.example.com");
    assert_eq!(p.cseq().seq, 314159);
    assert_eq!(p.cseq().method.as_str(), "ACK");
    let routes: Vec<String> = p.routes().map(|r| r.to_string()).collect();
    assert_eq!(routes.len(), 2);
    assert_eq!(p.max_forwards(), Some(70));
    // Matching: the ACK belongs to the INVITE server transaction.
    let ai = wire_glue::info_of_parsed(&p);
    let ii = wire_glue::info_of(&invite).unwrap();
    assert_eq!(ai.server_key(), ii.server_key());
}

#[test]
fn trying_has_no_to_tag_and_copies_timestamp() {
    let invite = parse(INVITE);
    let t = Message::trying_for(&invite);
    assert_eq!(t.status(), Some(100));
    assert_eq!(t.to_hdr().unwrap().tag(), None);
    assert_eq!(t.header("Timestamp"), Some("54"));
    assert_eq!(t.cseq().unwrap().seq, 314159);
}

#[test]
fn info_from_parsed_and_owned_agree() {
    let p = SipMsg::parse_datagram(INVITE.as_bytes()).unwrap();
    let a = wire_glue::info_of_parsed(&p);
    let b = wire_glue::info_of(&p.to_message()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.branch.as_deref(), Some("z9hG4bKnashds8"));
    assert_eq!(a.sent_by, "pc33.atlanta.example.com:5060");
    assert_eq!(a.method(), Some(&TxnMethod::Invite));
    assert!(a.has_rfc3261_branch());
}

#[test]
fn stamping_the_top_via_keeps_the_others() {
    let two = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\nMax-Forwards: 70\r\n",
    );
    let mut m = parse(&two);
    let source: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let a = wire_glue::stamp_top_via(&mut m, source).unwrap();
    assert_eq!(a.received, Some(source.ip()));
    assert_eq!(a.rport, Some(Some(4000)));
    let vias: Vec<String> = m.vias().map(|v| v.to_string()).collect();
    assert_eq!(vias.len(), 2);
    assert_eq!(
        vias[0],
        "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bKnashds8;received=192.0.2.1;rport=4000"
    );
    assert_eq!(vias[1], "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1");
    // A response built from the stamped request carries the stamp back.
    let r = m.make_response(180, Some("t"));
    assert!(
        r.top_via()
            .unwrap()
            .to_string()
            .contains("received=192.0.2.1;rport=4000")
    );
    // Changing the transport after the 18.1.1 size rule.
    wire_glue::set_top_via_transport(&mut m, TransportKind::Tcp);
    assert!(m.top_via().unwrap().to_string().starts_with("SIP/2.0/TCP "));
}

#[test]
fn new_branches_carry_the_cookie_and_differ() {
    let mut rng = rand::thread_rng();
    let a = wire_glue::new_branch(&mut rng);
    let b = wire_glue::new_branch(&mut rng);
    assert!(a.starts_with("z9hG4bK"));
    assert_ne!(a, b);
}

fn inbound(bytes: Vec<u8>, source: &str) -> Inbound {
    Inbound {
        transport: TransportKind::Udp,
        source: source.parse().unwrap(),
        local: "127.0.0.1:5060".parse().unwrap(),
        conn: None,
        data: bytes,
    }
}

/// UAC and UAS layers exchanging bytes (emit -> parse) in virtual time: INVITE lost once,
/// 180, 486, ACK built by the client transaction and absorbed by the server transaction.
#[test]
fn invite_rejected_over_bytes_in_virtual_time() {
    let t0 = Instant::now();
    let mut uac: TransactionLayer<Message, Destination> = TransactionLayer::new(TimerConfig::default());
    let mut uas: TransactionLayer<Message, Destination> = TransactionLayer::new(TimerConfig::default());
    let invite = parse(INVITE);
    let to_uas = Destination {
        transport: TransportKind::Udp,
        addr: "127.0.0.2:5060".parse().unwrap(),
        conn: None,
    };
    uac.send_request(t0, &wire_glue::info_of(&invite).unwrap(), invite, to_uas, false)
        .unwrap();
    let mut wire_to_uas = Vec::new();
    let mut wire_to_uac = Vec::new();
    let mut uac_events = Vec::new();
    let mut uas_events = Vec::new();
    let drain =
        |l: &mut TransactionLayer<Message, Destination>, out: &mut Vec<Vec<u8>>, evs: &mut Vec<String>| {
            while let Some(e) = l.poll_event() {
                match e {
                    TxnEvent::Transmit { msg, .. } => out.push(msg.to_bytes()),
                    TxnEvent::Request { msg, .. } => evs.push(format!("req {}", msg.method().unwrap())),
                    TxnEvent::Response { status, .. } => evs.push(format!("resp {status}")),
                    e => evs.push(
                        format!("{e:?}")
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_string(),
                    ),
                }
            }
        };
    drain(&mut uac, &mut wire_to_uas, &mut uac_events);
    wire_to_uas.clear(); // lost
    let t = t0 + Duration::from_millis(500);
    uac.poll_timers(t);
    drain(&mut uac, &mut wire_to_uas, &mut uac_events);
    assert_eq!(wire_to_uas.len(), 1, "Timer A retransmission");
    let Received {
        msg,
        info,
        reply_to,
        reliable,
    } = wire_glue::receive(&inbound(wire_to_uas.remove(0), "192.0.2.1:5060")).unwrap();
    let reply_to = reply_to.unwrap();
    assert_eq!(reply_to.addr, "192.0.2.1:5060".parse().unwrap());
    uas.receive(t, &info, msg, reply_to, reliable);
    drain(&mut uas, &mut wire_to_uac, &mut uas_events);
    assert_eq!(uas_events, vec!["req INVITE"]);
    // The TU answers 180 then 486.
    let req = uas.server_request(TxnId(1)).unwrap().clone();
    for code in [180, 486] {
        let r = req.make_response(code, Some("uas-tag"));
        uas.respond(t, TxnId(1), &wire_glue::info_of(&r).unwrap(), r)
            .unwrap();
    }
    drain(&mut uas, &mut wire_to_uac, &mut uas_events);
    assert_eq!(wire_to_uac.len(), 2);
    for bytes in wire_to_uac.drain(..) {
        let r = wire_glue::receive(&inbound(bytes, "127.0.0.2:5060")).unwrap();
        uac.receive(t, &r.info, r.msg, r.reply_to.unwrap_or_else(to_uac), r.reliable);
    }
    drain(&mut uac, &mut wire_to_uas, &mut uac_events);
    assert_eq!(uac_events, vec!["resp 180", "resp 486"]);
    assert_eq!(wire_to_uas.len(), 1, "the ACK");
    let r = wire_glue::receive(&inbound(wire_to_uas.remove(0), "192.0.2.1:5060")).unwrap();
    assert_eq!(r.info.method(), Some(&TxnMethod::Ack));
    uas.receive(t, &r.info, r.msg, r.reply_to.unwrap(), r.reliable);
    drain(&mut uas, &mut wire_to_uac, &mut uas_events);
    assert!(wire_to_uac.is_empty(), "ACK absorbed, Timer G stopped");
    // Both layers drain through Timers D and I.
    for l in [&mut uac, &mut uas] {
        while let Some(d) = l.next_deadline() {
            l.poll_timers(d);
        }
        assert!(l.is_empty());
    }
}

fn to_uac() -> Destination {
    Destination {
        transport: TransportKind::Udp,
        addr: "192.0.2.1:5060".parse().unwrap(),
        conn: None,
    }
}

#[test]
fn cancel_matches_the_invite_server_transaction() {
    let invite = parse(INVITE);
    let cancel = wire_glue::cancel_for(&invite);
    let bytes = cancel.to_bytes();
    let p = SipMsg::parse_datagram(&bytes).expect("the CANCEL parses");
    assert_eq!(p.method().map(|m| m.as_str()), Some("CANCEL"));
    assert_eq!(p.cseq().seq, 314159);
    assert_eq!(p.cseq().method.as_str(), "CANCEL");
    assert_eq!(p.vias().count(), 1);
    assert_eq!(p.routes().count(), 2);
    assert_eq!(p.to().tag(), None);
    let ci = wire_glue::info_of_parsed(&p);
    let ii = wire_glue::info_of(&invite).unwrap();
    assert_eq!(ci.cancel_target_key(), ii.server_key());
    // Its own client transaction key differs from the INVITE's (CSeq method).
    assert_ne!(ci.client_key(), ii.client_key());
}

#[test]
fn size_rule_moves_large_udp_requests_to_tcp() {
    let mut small = parse(INVITE);
    assert_eq!(
        wire_glue::apply_size_rule(&mut small, TransportKind::Udp, None),
        TransportKind::Udp
    );
    assert!(small.top_via().unwrap().to_string().starts_with("SIP/2.0/UDP "));
    let mut big = parse(INVITE);
    big.set_body("application/sdp", vec![b'a'; 1400]);
    assert_eq!(
        wire_glue::apply_size_rule(&mut big, TransportKind::Udp, None),
        TransportKind::Tcp
    );
    assert!(big.top_via().unwrap().to_string().starts_with("SIP/2.0/TCP "));
    // With a known 9000-byte path MTU the same request stays on UDP.
    let mut jumbo = parse(INVITE);
    jumbo.set_body("application/sdp", vec![b'a'; 1400]);
    assert_eq!(
        wire_glue::apply_size_rule(&mut jumbo, TransportKind::Udp, Some(9000)),
        TransportKind::Udp
    );
}
