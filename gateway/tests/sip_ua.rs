//! User agent core in virtual time: two cores wired back to back (no sockets), and a scripted
//! registrar. Calls, CANCEL, BYE, in-dialog rules, PRACK, session timers, glare, registration.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::sip::auth::Credentials;
use gateway::sip::registration::{AccountConfig, RegEvent, RegState, RetryPolicy};
use gateway::sip::transport::{Inbound, TransportKind};
use gateway::sip::ua::call::InviteRequest;
use gateway::sip::ua::{Body, CallState, EndReason, UaConfig, UaEvent, UaOutput, UserAgent};
use gateway::sip::wire::{Message, SipMsg, Uri};

const A: &str = "127.0.0.1:5060";
const B: &str = "127.0.0.2:5062";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ua(addr: &str, seed: u64) -> UserAgent {
    let mut c = UaConfig::new(sa(addr));
    c.seed = seed;
    UserAgent::new(c)
}

/// Which messages the network loses.
type DropRule = Box<dyn Fn(&Message) -> bool>;

/// Two user agents and the messages in flight between them.
struct Net {
    now: Instant,
    a: UserAgent,
    b: UserAgent,
    ev_a: Vec<UaEvent>,
    ev_b: Vec<UaEvent>,
    /// Every message sent (from, bytes), for assertions.
    log: Vec<(char, Message)>,
    /// Drop messages matching this predicate (loss).
    drop: Option<DropRule>,
}

impl Net {
    fn new() -> Self {
        Net {
            now: Instant::now(),
            a: ua(A, 1),
            b: ua(B, 2),
            ev_a: vec![],
            ev_b: vec![],
            log: vec![],
            drop: None,
        }
    }

    /// Delivers messages until both are quiet.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            for side in ['a', 'b'] {
                let (src, dst_addr) = if side == 'a' { (A, B) } else { (B, A) };
                loop {
                    let o = if side == 'a' {
                        self.a.poll_output()
                    } else {
                        self.b.poll_output()
                    };
                    let Some(o) = o else { break };
                    moved = true;
                    match o {
                        UaOutput::Event(e) => {
                            if side == 'a' {
                                self.ev_a.push(e)
                            } else {
                                self.ev_b.push(e)
                            }
                        }
                        UaOutput::Send { dest, msg, .. } => {
                            assert_eq!(dest.addr, sa(dst_addr), "sent to {} : {msg}", dest.addr);
                            self.log.push((side, msg.clone()));
                            if self.drop.as_ref().is_some_and(|f| f(&msg)) {
                                continue;
                            }
                            let bytes = msg.to_bytes();
                            SipMsg::parse_datagram(&bytes).expect("emitted message parses");
                            let inb = Inbound {
                                transport: TransportKind::Udp,
                                source: sa(src),
                                local: sa(dst_addr),
                                conn: None,
                                data: bytes,
                            };
                            if side == 'a' {
                                self.b.handle_inbound(self.now, &inb)
                            } else {
                                self.a.handle_inbound(self.now, &inb)
                            }
                        }
                        // Keep-alives are off in these tests.
                        UaOutput::Keepalive { .. } | UaOutput::CloseFlow { .. } => {}
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances virtual time by `d`, firing timers on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.a.next_deadline(), self.b.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.poll_timers(self.now);
                    self.b.poll_timers(self.now);
                    self.run();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn sent(&self, side: char, what: &str) -> usize {
        self.log
            .iter()
            .filter(|(s, m)| *s == side && start(m) == what)
            .count()
    }
}

fn start(m: &Message) -> String {
    match m.status() {
        Some(c) => c.to_string(),
        None => m.method().unwrap().to_string(),
    }
}

fn call_b(net: &mut Net, body: Option<Body>) -> gateway::sip::ua::CallHandle {
    let now = net.now;
    let h = net
        .a
        .invite(
            now,
            InviteRequest {
                target: Some(format!("sip:100@{B}").parse().unwrap()),
                body,
                ..Default::default()
            },
        )
        .unwrap();
    net.run();
    h
}

fn incoming(ev: &[UaEvent]) -> Option<(gateway::sip::ua::CallHandle, Message)> {
    ev.iter().find_map(|e| match e {
        UaEvent::Incoming { call, request, .. } => Some((*call, request.clone())),
        _ => None,
    })
}

#[test]
fn basic_call_ring_answer_bye() {
    let mut n = Net::new();
    let ca = call_b(&mut n, Some(Body::sdp("v=0\r\n")));
    let (cb, req) = incoming(&n.ev_b).expect("incoming call");
    assert_eq!(req.body, b"v=0\r\n");
    assert!(req.header("Supported").unwrap().contains("100rel"));
    n.advance(Duration::from_millis(300));
    assert_eq!(n.sent('b', "100"), 1, "100 Trying after 200 ms");
    let now = n.now;
    n.b.ring(now, cb, 180, None, false).unwrap();
    n.run();
    assert!(
        n.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Progress { status: 180, .. }))
    );
    assert_eq!(n.a.call_info(ca).unwrap().state, CallState::Proceeding);
    assert_eq!(n.a.call_info(ca).unwrap().early_dialogs, 1);
    n.b.answer(now, cb, Some(Body::sdp("v=0 answer\r\n"))).unwrap();
    n.run();
    assert!(n.ev_a.iter().any(|e| matches!(e, UaEvent::Answered { .. })));
    assert!(n.ev_b.iter().any(|e| matches!(e, UaEvent::Confirmed { .. })));
    let ia = n.a.call_info(ca).unwrap();
    let ib = n.b.call_info(cb).unwrap();
    assert_eq!(ia.state, CallState::Confirmed);
    assert_eq!(ib.state, CallState::Confirmed);
    let (da, db) = (ia.dialog.unwrap(), ib.dialog.unwrap());
    assert_eq!(da.call_id, db.call_id);
    assert_eq!(da.local_tag, db.remote_tag);
    assert_eq!(da.remote_tag, db.local_tag);
    assert_eq!(ia.remote_target.unwrap().to_string(), format!("sip:gw@{B}"));
    // No 2xx retransmission after the ACK.
    n.advance(Duration::from_secs(40));
    assert_eq!(n.sent('b', "200"), 1);
    let now = n.now;
    n.a.bye(now, ca).unwrap();
    n.run();
    assert!(n.ev_b.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::RemoteHangup,
            ..
        }
    )));
    assert!(n.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::LocalHangup,
            ..
        }
    )));
    assert!(n.b.call_info(cb).is_none());
    n.advance(Duration::from_secs(40));
    assert_eq!(n.a.transaction_count(), (0, 0));
    assert_eq!(n.b.transaction_count(), (0, 0));
}

#[test]
fn two_xx_is_retransmitted_until_ack_and_lost_ack_ends_call() {
    let mut n = Net::new();
    n.drop = Some(Box::new(|m: &Message| {
        m.method().is_some_and(|x| x.as_str() == "ACK")
    }));
    let _ca = call_b(&mut n, None);
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.answer(now, cb, Some(Body::sdp("v=0\r\n"))).unwrap();
    n.run();
    n.advance(Duration::from_secs(40));
    // T1, 2T1, 4T1, then T2 spacing within 64*T1 = 32 s: 1 + 10 retransmissions.
    let count = n.sent('b', "200");
    assert!((9..=12).contains(&count), "200 sent {count} times");
    // A re-sends the ACK for every retransmission (13.2.2.4).
    assert_eq!(n.sent('a', "ACK"), count);
    assert!(n.ev_b.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::NoAck,
            ..
        }
    )));
    assert_eq!(n.sent('b', "BYE"), 1);
}

#[test]
fn cancel_before_and_after_provisional() {
    let mut n = Net::new();
    let ca = call_b(&mut n, None);
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    // No provisional yet: CANCEL waits (9.1).
    n.a.cancel(now, ca).unwrap();
    n.run();
    assert_eq!(n.sent('a', "CANCEL"), 0);
    n.b.ring(now, cb, 180, None, false).unwrap();
    n.run();
    assert_eq!(n.sent('a', "CANCEL"), 1);
    assert!(n.log.iter().any(|(s, m)| *s == 'b' && m.status() == Some(487)));
    assert!(n.ev_b.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::CancelledByPeer,
            ..
        }
    )));
    assert!(
        n.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Failed { status: 487, .. }))
    );
    // ACK for the 487 comes from the transaction (hop by hop).
    assert_eq!(n.sent('a', "ACK"), 1);
}

#[test]
fn two_xx_crossing_cancel_gets_ack_and_bye() {
    let mut n = Net::new();
    let ca = call_b(&mut n, None);
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.ring(now, cb, 180, None, false).unwrap();
    n.run();
    // B answers before the CANCEL arrives.
    n.b.answer(now, cb, None).unwrap();
    n.a.cancel(now, ca).unwrap();
    n.run();
    assert_eq!(n.sent('a', "ACK"), 1);
    assert_eq!(n.sent('a', "BYE"), 1);
    assert!(n.ev_b.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::RemoteHangup,
            ..
        }
    )));
}

#[test]
fn reject_busy() {
    let mut n = Net::new();
    let ca = call_b(&mut n, None);
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.reject(now, cb, 486).unwrap();
    n.run();
    assert!(
        n.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Failed { call, status: 486, .. } if *call == ca))
    );
    assert!(n.a.call_info(ca).is_none());
}

fn request(n: &mut Net, text: &str) -> Message {
    let data = text.replace('\n', "\r\n").into_bytes();
    let inb = Inbound {
        transport: TransportKind::Udp,
        source: sa(A),
        local: sa(B),
        conn: None,
        data,
    };
    let now = n.now;
    n.b.handle_inbound(now, &inb);
    let mut last = None;
    while let Some(o) = n.b.poll_output() {
        if let UaOutput::Send { msg, .. } = o {
            last = Some(msg);
        }
    }
    last.expect("a response")
}

fn req_text(method: &str, extra: &str, branch: &str, cseq: u32) -> String {
    format!(
        "{method} sip:100@127.0.0.2:5062 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{branch}\nMax-Forwards: 70\nFrom: <sip:a@127.0.0.1>;tag=f1\nTo: <sip:100@127.0.0.2>\nCall-ID: c1@127.0.0.1\nCSeq: {cseq} {method}\nContact: <sip:a@127.0.0.1:5060>\n{extra}Content-Length: 0\n\n"
    )
}

#[test]
fn uas_core_rules() {
    let mut n = Net::new();
    let r = request(&mut n, &req_text("OPTIONS", "", "o1", 1));
    assert_eq!(r.status(), Some(200));
    assert!(r.header("Allow").unwrap().contains("INVITE"));
    assert_eq!(r.header("Accept").unwrap(), gateway::sip::ua::ACCEPT);
    assert!(r.header("Supported").unwrap().contains("100rel"));
    let r = request(&mut n, &req_text("SUBSCRIBE", "", "s1", 2));
    assert_eq!(r.status(), Some(405));
    assert!(r.header("Allow").is_some());
    let r = request(
        &mut n,
        &req_text("INVITE", "Require: foo, 100rel, bar\n", "i1", 3),
    );
    assert_eq!(r.status(), Some(420));
    assert_eq!(r.header("Unsupported"), Some("foo, bar"));
    let r = request(
        &mut n,
        &req_text("INVITE", "Max-Forwards: 0\n", "i2", 4).replace("Max-Forwards: 70\n", ""),
    );
    assert_eq!(r.status(), Some(483));
    let r = request(
        &mut n,
        &req_text("INVITE", "Content-Type: text/plain\n", "i3", 5)
            .replace("Content-Length: 0\n\n", "Content-Length: 2\n\nhi"),
    );
    assert_eq!(r.status(), Some(415));
    assert!(
        r.header("Accept").is_some()
            && r.header("Accept-Encoding").is_some()
            && r.header("Accept-Language").is_some()
    );
    let r = request(
        &mut n,
        &req_text("BYE", "", "b1", 6).replace("To: <sip:100@127.0.0.2>", "To: <sip:100@127.0.0.2>;tag=nope"),
    );
    assert_eq!(r.status(), Some(481));
    let r = request(&mut n, &req_text("INVITE", "Session-Expires: 30\n", "i4", 7));
    assert_eq!(r.status(), Some(422));
    assert_eq!(r.header("Min-SE"), Some("90"));
    // Merged request (8.2.2.2): same From tag, Call-ID and CSeq over another branch.
    let data = req_text("INVITE", "", "m1", 8).replace('\n', "\r\n").into_bytes();
    let now = n.now;
    n.b.handle_inbound(
        now,
        &Inbound {
            transport: TransportKind::Udp,
            source: sa(A),
            local: sa(B),
            conn: None,
            data,
        },
    );
    assert!(matches!(
        n.b.poll_output(),
        Some(UaOutput::Event(UaEvent::Incoming { .. }))
    ));
    let r = request(&mut n, &req_text("INVITE", "", "m2", 8));
    assert_eq!(r.status(), Some(482));
}

#[test]
fn in_dialog_cseq_and_reinvite_glare() {
    let mut n = Net::new();
    let ca = call_b(&mut n, Some(Body::sdp("o1")));
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.answer(now, cb, Some(Body::sdp("a1"))).unwrap();
    n.run();
    // Both send re-INVITEs at once: both get 491 and retry after the 14.1 back-off.
    n.drop = None;
    let now = n.now;
    // Queue both before delivering anything.
    n.a.reinvite(now, ca, Some(Body::sdp("o2"))).unwrap();
    n.b.reinvite(now, cb, Some(Body::sdp("o3"))).unwrap();
    n.run();
    assert_eq!(n.log.iter().filter(|(_, m)| m.status() == Some(491)).count(), 2);
    // The retries: A owns the Call-ID (2.1-4 s), B waits 0-2 s, so B's goes first and A's
    // arrives while... A answers B's via call control.
    n.advance(Duration::from_millis(2050));
    let req_at_a = n.ev_a.iter().find_map(|e| match e {
        UaEvent::Request { id, request, .. } if request.method().unwrap().as_str() == "INVITE" => Some(*id),
        _ => None,
    });
    let id = req_at_a.expect("B's re-INVITE retried first");
    let now = n.now;
    n.a.respond(now, id, 200, Some(Body::sdp("a3"))).unwrap();
    n.run();
    assert!(
        n.ev_b
            .iter()
            .any(|e| matches!(e, UaEvent::Response { status: 200, .. }))
    );
    n.advance(Duration::from_secs(3));
    let id = n.ev_b.iter().find_map(|e| match e {
        UaEvent::Request { id, .. } => Some(*id),
        _ => None,
    });
    let now = n.now;
    n.b.respond(
        now,
        id.expect("A's re-INVITE retried"),
        200,
        Some(Body::sdp("a2")),
    )
    .unwrap();
    n.run();
    assert!(
        n.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Response { status: 200, .. }))
    );
    // A request with an old CSeq gets 500.
    let info = n.b.call_info(cb).unwrap();
    let d = info.dialog.unwrap();
    let old = format!(
        "INFO sip:gw@127.0.0.2:5062 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKold\nMax-Forwards: 70\nFrom: <sip:a@127.0.0.1>;tag={}\nTo: <sip:100@127.0.0.2>;tag={}\nCall-ID: {}\nCSeq: 1 INFO\nContent-Length: 0\n\n",
        d.remote_tag, d.local_tag, d.call_id
    );
    let r = request(&mut n, &old);
    assert_eq!(r.status(), Some(500));
}

#[test]
fn reliable_provisional_and_prack() {
    let mut n = Net::new();
    let ca = call_b(&mut n, Some(Body::sdp("o")));
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.ring(now, cb, 183, Some(Body::sdp("early")), true).unwrap();
    n.run();
    let p183 = n
        .log
        .iter()
        .find(|(_, m)| m.status() == Some(183))
        .unwrap()
        .1
        .clone();
    assert_eq!(p183.header("Require"), Some("100rel"));
    assert_eq!(p183.header("RSeq"), Some("1"));
    let prack = n.log.iter().find(|(_, m)| start(m) == "PRACK").unwrap().1.clone();
    assert_eq!(prack.header("RAck"), Some("1 1 INVITE"));
    assert!(n.ev_b.iter().any(|e| matches!(e, UaEvent::Prack { .. })));
    // PRACKed: no retransmission of the 183.
    n.advance(Duration::from_secs(5));
    assert_eq!(n.sent('b', "183"), 1);
    let now = n.now;
    n.b.answer(now, cb, None).unwrap();
    n.run();
    assert_eq!(n.a.call_info(ca).unwrap().state, CallState::Confirmed);
}

#[test]
fn unacknowledged_reliable_provisional_is_retransmitted_then_504() {
    let mut n = Net::new();
    n.drop = Some(Box::new(|m: &Message| {
        m.method().is_some_and(|x| x.as_str() == "PRACK")
    }));
    let _ca = call_b(&mut n, None);
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.ring(now, cb, 180, None, true).unwrap();
    n.run();
    n.advance(Duration::from_secs(33));
    assert!(n.sent('b', "180") >= 6, "180 sent {}", n.sent('b', "180"));
    assert_eq!(n.sent('b', "504"), 1);
}

#[test]
fn session_timer_refresh_and_expiry() {
    let mut n = Net::new();
    let ca = call_b(&mut n, Some(Body::sdp("o")));
    let (cb, req) = incoming(&n.ev_b).unwrap();
    assert_eq!(req.header("Session-Expires"), Some("1800"));
    let now = n.now;
    n.b.answer(now, cb, Some(Body::sdp("a"))).unwrap();
    n.run();
    let ok = n
        .log
        .iter()
        .find(|(_, m)| m.status() == Some(200))
        .unwrap()
        .1
        .clone();
    assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(n.a.call_info(ca).unwrap().session_interval, Some((1800, true)));
    assert_eq!(n.b.call_info(cb).unwrap().session_interval, Some((1800, false)));
    // A refreshes at half the interval with UPDATE (B allows it); B's expiry is pushed back.
    n.advance(Duration::from_secs(901));
    assert_eq!(n.sent('a', "UPDATE"), 1);
    n.advance(Duration::from_secs(1800));
    assert!(n.b.call_info(cb).is_some(), "refreshed session still up");
    // The network fails: A's refresh times out (dialog lost, 12.2.1.2) and B's session
    // expires (RFC 4028 10) without any message getting through.
    n.drop = Some(Box::new(|_| true));
    n.advance(Duration::from_secs(1800));
    assert!(n.ev_b.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::SessionExpired,
            ..
        }
    )));
    assert!(n.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::DialogLost(408),
            ..
        }
    )));
}

// ---- registration against a scripted registrar ----

fn account(expires: u32) -> AccountConfig {
    AccountConfig {
        aor: "sip:1001@127.0.0.2".parse::<Uri<String>>().unwrap(),
        display_name: None,
        registrar: "sip:127.0.0.2:5062".parse().unwrap(),
        credentials: Some(Credentials {
            username: "1001".into(),
            password: "pw".into(),
            realm: None,
        }),
        expires,
        outbound_proxy: None,
        retry: RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(1800),
        },
        user_agent: None,
    }
}

/// Takes the next REGISTER the UA sent.
fn next_register(ua: &mut UserAgent) -> Option<Message> {
    let mut found = None;
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Send { msg, .. } = o
            && msg.method().is_some_and(|m| m.as_str() == "REGISTER")
        {
            found = Some(msg);
        }
    }
    found
}

fn answer(ua: &mut UserAgent, now: Instant, req: &Message, code: u16, extra: &[(&str, String)]) {
    let mut r = req.make_response(code, Some("reg"));
    for (k, v) in extra {
        r.push_named(k, v);
    }
    let inb = Inbound {
        transport: TransportKind::Udp,
        source: sa(B),
        local: sa(A),
        conn: None,
        data: r.to_bytes(),
    };
    ua.handle_inbound(now, &inb);
}

#[test]
fn registration_auth_423_refresh_backoff_unregister() {
    let mut now = Instant::now();
    let mut u = ua(A, 5);
    let acct = u.add_account(account(30));
    u.register(now, acct).unwrap();
    let r1 = next_register(&mut u).unwrap();
    assert_eq!(r1.header("Expires"), Some("30"));
    assert!(r1.header("Contact").unwrap().contains("127.0.0.1:5060"));
    answer(
        &mut u,
        now,
        &r1,
        401,
        &[(
            "WWW-Authenticate",
            r#"Digest realm="r", nonce="n1", qop="auth", algorithm=SHA-256"#.into(),
        )],
    );
    let r2 = next_register(&mut u).unwrap();
    assert_eq!(r2.call_id(), r1.call_id());
    assert_eq!(r2.cseq().unwrap().seq, r1.cseq().unwrap().seq + 1);
    assert_ne!(r2.top_via().unwrap().branch(), r1.top_via().unwrap().branch());
    assert!(r2.header("Authorization").unwrap().contains("SHA-256"));
    answer(&mut u, now, &r2, 423, &[("Min-Expires", "60".into())]);
    let r3 = next_register(&mut u).unwrap();
    assert_eq!(r3.header("Expires"), Some("60"));
    assert!(r3.header("Authorization").unwrap().contains("nc=00000002"));
    let contact = r3
        .header("Contact")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    answer(
        &mut u,
        now,
        &r3,
        200,
        &[("Contact", format!("{contact};expires=50"))],
    );
    assert!(matches!(
        u.registration_state(acct),
        Some(RegState::Registered { expires: 50, .. })
    ));
    // Refresh at half of a short granted interval.
    now += Duration::from_secs(24);
    u.poll_timers(now);
    assert!(next_register(&mut u).is_none());
    now += Duration::from_secs(2);
    u.poll_timers(now);
    let r4 = next_register(&mut u).expect("refresh");
    // Registrar restarted: 503 with Retry-After, then no answer at all.
    answer(&mut u, now, &r4, 503, &[("Retry-After", "5".into())]);
    assert!(matches!(
        u.registration_state(acct),
        Some(RegState::Backoff { failures: 1, .. })
    ));
    now += Duration::from_secs(5);
    u.poll_timers(now);
    let r5 = next_register(&mut u).expect("retry after Retry-After");
    // Time out (Timer F): failure 2 waits 50-100 % of 60 s.
    for _ in 0..40 {
        now += Duration::from_secs(1);
        u.poll_timers(now);
        let _ = next_register(&mut u);
    }
    let st = u.registration_state(acct).unwrap().clone();
    let RegState::Backoff {
        failures: 2,
        retry_at,
        ..
    } = st
    else {
        panic!("{st:?}")
    };
    let wait = retry_at - (now - Duration::from_secs(40 - 32));
    assert!(
        wait >= Duration::from_secs(29) && wait <= Duration::from_secs(61),
        "{wait:?}"
    );
    let _ = r5;
    now = retry_at;
    u.poll_timers(now);
    let r6 = next_register(&mut u).expect("retry");
    // A fresh nonce (server restarted) is answered, not counted as a failure.
    answer(
        &mut u,
        now,
        &r6,
        401,
        &[(
            "WWW-Authenticate",
            r#"Digest realm="r", nonce="n2", qop="auth""#.into(),
        )],
    );
    let r7 = next_register(&mut u).unwrap();
    assert!(r7.header("Authorization").unwrap().contains("n2"));
    answer(&mut u, now, &r7, 200, &[("Expires", "120".into())]);
    assert!(matches!(
        u.registration_state(acct),
        Some(RegState::Registered { expires: 120, .. })
    ));
    // Wrong password: challenged again right after answering.
    u.reregister_all(now);
    let r8 = next_register(&mut u).unwrap();
    answer(
        &mut u,
        now,
        &r8,
        401,
        &[(
            "WWW-Authenticate",
            r#"Digest realm="r", nonce="n3", qop="auth""#.into(),
        )],
    );
    let r9 = next_register(&mut u).unwrap();
    answer(
        &mut u,
        now,
        &r9,
        401,
        &[(
            "WWW-Authenticate",
            r#"Digest realm="r", nonce="n4", qop="auth""#.into(),
        )],
    );
    assert!(matches!(
        u.registration_state(acct),
        Some(RegState::Backoff { .. })
    ));
    // Shutdown: expires=0.
    u.unregister_all(now);
    let r10 = next_register(&mut u).unwrap();
    assert_eq!(r10.header("Expires"), Some("0"));
    assert!(r10.header("Contact").unwrap().contains("expires=0"));
    answer(&mut u, now, &r10, 200, &[]);
    assert_eq!(u.registration_state(acct), Some(&RegState::Unregistered));
    let mut evs = vec![];
    while let Some(o) = u.poll_output() {
        if let UaOutput::Event(UaEvent::Registration { event, .. }) = o {
            evs.push(event);
        }
    }
    assert!(evs.contains(&RegEvent::Unregistered));
}

// ---- UAC against scripted responses: forking, strict routing, proxy authentication ----

/// Every message the UA sent since the last call.
fn sent_msgs(ua: &mut UserAgent) -> Vec<Message> {
    let mut v = vec![];
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Send { msg, .. } = o {
            v.push(msg);
        }
    }
    v
}

fn events(ua: &mut UserAgent) -> Vec<UaEvent> {
    let mut v = vec![];
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Event(e) = o {
            v.push(e);
        }
    }
    v
}

/// Feeds a response to `req` from B with To tag `tag`, extra headers and a Contact.
fn respond_to(ua: &mut UserAgent, now: Instant, req: &Message, code: u16, tag: &str, extra: &[(&str, &str)]) {
    let mut r = req.make_response(code, Some(tag));
    if (101..300).contains(&code) {
        r.push_named("Contact", format!("<sip:{tag}@127.0.0.2:5062>"));
    }
    for (k, v) in extra {
        r.push_named(k, v);
    }
    let inb = Inbound {
        transport: TransportKind::Udp,
        source: sa(B),
        local: sa(A),
        conn: None,
        data: r.to_bytes(),
    };
    ua.handle_inbound(now, &inb);
}

fn find<'a>(v: &'a [Message], what: &str) -> Option<&'a Message> {
    v.iter().find(|m| start(m) == what)
}

#[test]
fn forking_first_2xx_wins_later_2xx_get_ack_and_bye() {
    let now = Instant::now();
    let mut u = ua(A, 11);
    let h = u
        .invite(
            now,
            InviteRequest {
                target: Some(format!("sip:100@{B}").parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    let inv = find(&sent_msgs(&mut u), "INVITE").unwrap().clone();
    respond_to(&mut u, now, &inv, 180, "fork1", &[]);
    respond_to(&mut u, now, &inv, 183, "fork2", &[]);
    assert_eq!(u.call_info(h).unwrap().early_dialogs, 2);
    let ev = events(&mut u);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, UaEvent::Progress { .. }))
            .count(),
        2
    );
    respond_to(&mut u, now, &inv, 200, "fork2", &[]);
    let out = sent_msgs(&mut u);
    let ack = find(&out, "ACK").expect("ACK for the 2xx");
    assert_eq!(ack.request_uri().unwrap().to_string(), "sip:fork2@127.0.0.2:5062");
    assert_eq!(ack.cseq().unwrap().seq, 1);
    assert_ne!(ack.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    let info = u.call_info(h).unwrap();
    assert_eq!(info.dialog.unwrap().remote_tag, "fork2");
    assert_eq!(info.early_dialogs, 0);
    // The other fork answers too: ACK and BYE toward it.
    respond_to(&mut u, now, &inv, 200, "fork1", &[]);
    let out = sent_msgs(&mut u);
    let ack = find(&out, "ACK").expect("ACK for the late 2xx");
    let bye = find(&out, "BYE").expect("BYE for the late 2xx");
    assert!(ack.to_hdr().unwrap().tag() == Some("fork1") && bye.to_hdr().unwrap().tag() == Some("fork1"));
    // The winning 2xx retransmitted: the same ACK again, no BYE.
    respond_to(&mut u, now, &inv, 200, "fork2", &[]);
    let out = sent_msgs(&mut u);
    assert!(find(&out, "ACK").is_some() && find(&out, "BYE").is_none());
    assert_eq!(u.call_info(h).unwrap().state, CallState::Confirmed);
}

#[test]
fn record_route_loose_and_strict() {
    let now = Instant::now();
    let mut u = ua(A, 12);
    let h = u
        .invite(
            now,
            InviteRequest {
                target: Some(format!("sip:100@{B}").parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    let inv = find(&sent_msgs(&mut u), "INVITE").unwrap().clone();
    // Record-Route as received by the UAC: last proxy first. Reversed, the first hop is the
    // strict router 127.0.0.2 (no lr).
    respond_to(
        &mut u,
        now,
        &inv,
        200,
        "t",
        &[(
            "Record-Route",
            "<sip:p2.example;lr>, <sip:127.0.0.2:5062;maddr=127.0.0.2>",
        )],
    );
    let _ = sent_msgs(&mut u);
    let info = u.call_info(h).unwrap();
    assert_eq!(info.route_set.len(), 2);
    u.bye(now, h).unwrap();
    let out = sent_msgs(&mut u);
    let bye = find(&out, "BYE").unwrap();
    // Strict: Request-URI is the first route (maddr stripped), the remote target is the last Route.
    assert_eq!(bye.request_uri().unwrap().to_string(), "sip:127.0.0.2:5062");
    let routes: Vec<String> = bye.routes().map(|r| r.uri.to_string()).collect();
    assert_eq!(
        routes,
        vec![
            "sip:p2.example;lr".to_string(),
            "sip:t@127.0.0.2:5062".to_string()
        ]
    );
}

#[test]
fn invite_challenged_with_407_is_resent_with_credentials() {
    let now = Instant::now();
    let mut u = ua(A, 13);
    let acct = u.add_account(account(600));
    let h = u
        .invite(
            now,
            InviteRequest {
                account: Some(acct),
                target: Some(format!("sip:2000@{B}").parse().unwrap()),
                body: Some(Body::sdp("v=0\r\n")),
                headers: vec![("Alert-Info".into(), "<urn:alert:service:normal>".into())],
                ..Default::default()
            },
        )
        .unwrap();
    let inv = find(&sent_msgs(&mut u), "INVITE").unwrap().clone();
    assert!(inv.from_hdr().unwrap().uri.to_string().contains("1001@"));
    assert_eq!(inv.header("Alert-Info"), Some("<urn:alert:service:normal>"));
    respond_to(
        &mut u,
        now,
        &inv,
        407,
        "px",
        &[(
            "Proxy-Authenticate",
            r#"Digest realm="p", nonce="abc", qop="auth""#,
        )],
    );
    let out = sent_msgs(&mut u);
    // ACK for the 407 from the transaction, then the new INVITE.
    let ack = find(&out, "ACK").unwrap();
    assert_eq!(ack.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    let inv2 = find(&out, "INVITE").unwrap();
    assert_eq!(inv2.cseq().unwrap().seq, 2);
    assert_eq!(inv2.call_id(), inv.call_id());
    assert_eq!(inv2.from_hdr().unwrap().tag(), inv.from_hdr().unwrap().tag());
    assert_ne!(inv2.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    let pa = inv2.header("Proxy-Authorization").unwrap();
    assert!(
        pa.contains("uri=\"sip:2000@127.0.0.2:5062\"") && pa.contains("nc=00000001"),
        "{pa}"
    );
    assert_eq!(inv2.body, b"v=0\r\n");
    // Challenged again with a fresh nonce: answered once more, then given up.
    respond_to(
        &mut u,
        now,
        inv2,
        407,
        "px",
        &[(
            "Proxy-Authenticate",
            r#"Digest realm="p", nonce="def", qop="auth""#,
        )],
    );
    let inv3 = find(&sent_msgs(&mut u), "INVITE").unwrap().clone();
    respond_to(
        &mut u,
        now,
        &inv3,
        407,
        "px",
        &[(
            "Proxy-Authenticate",
            r#"Digest realm="p", nonce="ghi", qop="auth""#,
        )],
    );
    let ev = events(&mut u);
    assert!(
        ev.iter()
            .any(|e| matches!(e, UaEvent::Failed { status: 407, .. }))
    );
    assert!(u.call_info(h).is_none());
}

#[test]
fn dialog_lost_on_481_to_reinvite() {
    let mut n = Net::new();
    let ca = call_b(&mut n, Some(Body::sdp("o")));
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.answer(now, cb, Some(Body::sdp("a"))).unwrap();
    n.run();
    // B forgets the call (restart): B's core answers A's re-INVITE with 481.
    n.b = ua(B, 99);
    let now = n.now;
    n.a.reinvite(now, ca, Some(Body::sdp("o2"))).unwrap();
    n.run();
    assert!(
        n.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Response { status: 481, .. }))
    );
    assert!(n.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::DialogLost(481),
            ..
        }
    )));
}

#[test]
fn several_accounts_with_outbound_proxy_keep_their_own_state() {
    let now = Instant::now();
    let mut u = ua(A, 21);
    let mut c1 = account(300);
    c1.outbound_proxy = Some("sip:127.0.0.3:5070".parse().unwrap());
    let mut c2 = account(300);
    c2.aor = "sip:1002@127.0.0.2".parse().unwrap();
    let a1 = u.add_account(c1);
    let a2 = u.add_account(c2);
    u.register(now, a1).unwrap();
    u.register(now, a2).unwrap();
    let mut regs = vec![];
    while let Some(o) = u.poll_output() {
        if let UaOutput::Send { msg, dest, .. } = o {
            regs.push((msg, dest));
        }
    }
    assert_eq!(regs.len(), 2);
    let (r1, d1) = &regs[0];
    let (r2, d2) = &regs[1];
    // The outbound proxy is the destination and a loose Route; the Request-URI stays the registrar.
    assert_eq!(d1.addr, sa("127.0.0.3:5070"));
    assert_eq!(r1.header("Route"), Some("<sip:127.0.0.3:5070;lr>"));
    assert_eq!(r1.request_uri().unwrap().to_string(), "sip:127.0.0.2:5062");
    assert_eq!(d2.addr, sa(B));
    assert_ne!(r1.call_id(), r2.call_id());
    answer(&mut u, now, r1, 200, &[]);
    answer(&mut u, now, r2, 403, &[]);
    assert!(u.registration_state(a1).unwrap().is_registered());
    assert!(matches!(
        u.registration_state(a2),
        Some(RegState::Backoff { failures: 1, .. })
    ));
    let evs = events(&mut u);
    assert!(evs.iter().any(|e| matches!(e, UaEvent::Registration { account, event: RegEvent::Registered { expires: 300 } } if *account == a1)));
    assert!(evs.iter().any(
        |e| matches!(e, UaEvent::Registration { account, event: RegEvent::Failed { .. } } if *account == a2)
    ));
}

#[test]
fn info_and_update_round_trip() {
    let mut n = Net::new();
    let ca = call_b(&mut n, Some(Body::sdp("o")));
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.answer(now, cb, Some(Body::sdp("a"))).unwrap();
    n.run();
    let body = Body {
        content_type: "application/dtmf-relay".into(),
        data: b"Signal=5\r\nDuration=160\r\n".to_vec(),
    };
    n.a.info(now, ca, body).unwrap();
    n.run();
    let (id, req) = n
        .ev_b
        .iter()
        .find_map(|e| match e {
            UaEvent::Request { id, request, .. } => Some((*id, request.clone())),
            _ => None,
        })
        .expect("INFO delivered");
    assert_eq!(req.header("Content-Type"), Some("application/dtmf-relay"));
    n.b.respond(now, id, 200, None).unwrap();
    n.run();
    assert!(
        n.ev_a
            .iter()
            .any(|e| matches!(e, UaEvent::Response { status: 200, method, .. } if method.as_str() == "INFO"))
    );
    // UPDATE with a new offer goes to call control, which answers it.
    n.ev_b.clear();
    n.a.update(now, ca, Some(Body::sdp("o2"))).unwrap();
    n.run();
    let id = n
        .ev_b
        .iter()
        .find_map(|e| match e {
            UaEvent::Request { id, .. } => Some(*id),
            _ => None,
        })
        .expect("UPDATE delivered");
    n.b.respond(now, id, 200, Some(Body::sdp("a2"))).unwrap();
    n.run();
    let resp = n.ev_a.iter().find_map(|e| match e {
        UaEvent::Response {
            method,
            response: Some(r),
            ..
        } if method.as_str() == "UPDATE" => Some(r.clone()),
        _ => None,
    });
    assert_eq!(resp.expect("UPDATE answered").body, b"a2");
    let ia = n.a.call_info(ca).unwrap();
    let ib = n.b.call_info(cb).unwrap();
    assert_eq!(ia.local_seq, Some(3));
    assert_eq!(ib.remote_seq, Some(3));
}

#[test]
fn terminated_hands_over_the_peers_bye_and_cancel() {
    let reason = [("Reason".to_string(), "Q.850;cause=17".to_string())];
    // BYE: the request that ended the call comes with the event.
    let mut n = Net::new();
    let ca = call_b(&mut n, None);
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.b.answer(now, cb, Some(Body::sdp("v=0\r\n"))).unwrap();
    n.run();
    n.a.bye_with_body(now, ca, None, &reason).unwrap();
    n.run();
    let bye = n.ev_b.iter().find_map(|e| match e {
        UaEvent::Terminated {
            reason: EndReason::RemoteHangup,
            request,
            ..
        } => request.clone(),
        _ => None,
    });
    let bye = bye.expect("the BYE with the event");
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    assert_eq!(bye.header("Reason"), Some("Q.850;cause=17"));
    // Our own hang-up has no request.
    assert!(n.ev_a.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            reason: EndReason::LocalHangup,
            request: None,
            ..
        }
    )));

    // CANCEL: its extra headers go on the wire and reach the callee with the event.
    let mut n = Net::new();
    let ca = call_b(&mut n, None);
    let (cb, _) = incoming(&n.ev_b).unwrap();
    let now = n.now;
    n.a.cancel_with_headers(now, ca, &reason).unwrap();
    n.b.ring(now, cb, 180, None, false).unwrap();
    n.run();
    let cancel = n.ev_b.iter().find_map(|e| match e {
        UaEvent::Terminated {
            reason: EndReason::CancelledByPeer,
            request,
            ..
        } => request.clone(),
        _ => None,
    });
    let cancel = cancel.expect("the CANCEL with the event");
    assert_eq!(cancel.method().map(|m| m.as_str()), Some("CANCEL"));
    assert_eq!(cancel.header("Reason"), Some("Q.850;cause=17"));
}
