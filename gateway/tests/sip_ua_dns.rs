//! The user agent over RFC 3263 targets, in virtual time: a registrar and a proxy named by
//! SRV records in an in-memory resolver; the first target is silent, the UA fails over to the
//! second (new branch, same CSeq); the 18.1.1 size rule moves large UDP requests to TCP.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use gateway::sip::dns::{DnsError, DnsResolver, LocateOptions, NaptrRecord, SipTarget, SrvRecord, locate};
use gateway::sip::registration::{AccountConfig, RegState, RetryPolicy};
use gateway::sip::transport::{Destination, Inbound, TransportKind};
use gateway::sip::ua::call::InviteRequest;
use gateway::sip::ua::{Body, UaConfig, UaEvent, UaOutput, UserAgent};
use gateway::sip::wire::{Message, Uri};
use rand::SeedableRng;
use rand::rngs::StdRng;

const LOCAL: &str = "127.0.0.1:5060";

#[derive(Default)]
struct FakeDns {
    srv: HashMap<String, Vec<SrvRecord>>,
    ip: HashMap<String, Vec<IpAddr>>,
}

impl DnsResolver for FakeDns {
    async fn naptr(&self, _name: &str) -> Result<Vec<NaptrRecord>, DnsError> {
        Ok(vec![])
    }
    async fn srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsError> {
        Ok(self.srv.get(name).cloned().unwrap_or_default())
    }
    async fn ip(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        Ok(self.ip.get(name).cloned().unwrap_or_default())
    }
}

/// `example.test`: SRV `_sip._udp` priority 10 -> sip1 (127.0.0.10:5060), priority 20 -> sip2
/// (127.0.0.11:5070); `_sip._tcp` priority 30 -> sip2:5080.
fn dns() -> FakeDns {
    let mut d = FakeDns::default();
    let rec = |priority, port, target: &str| SrvRecord {
        priority,
        weight: 0,
        port,
        target: target.into(),
    };
    d.srv.insert(
        "_sip._udp.example.test".into(),
        vec![
            rec(20, 5070, "sip2.example.test"),
            rec(10, 5060, "sip1.example.test"),
        ],
    );
    d.srv.insert(
        "_sip._tcp.example.test".into(),
        vec![rec(30, 5080, "sip2.example.test")],
    );
    d.ip.insert("sip1.example.test".into(), vec!["127.0.0.10".parse().unwrap()]);
    d.ip.insert("sip2.example.test".into(), vec!["127.0.0.11".parse().unwrap()]);
    d
}

fn ua_with_dns() -> UserAgent {
    let mut c = UaConfig::new(LOCAL.parse().unwrap());
    c.seed = 7;
    let mut u = UserAgent::new(c);
    let list = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(locate(
            &dns(),
            &SipTarget::host("example.test"),
            &LocateOptions::default(),
            &mut StdRng::seed_from_u64(1),
        ))
        .unwrap();
    u.set_host_targets("example.test", &list);
    u
}

fn account() -> AccountConfig {
    AccountConfig {
        aor: "sip:1001@example.test".parse::<Uri<String>>().unwrap(),
        display_name: None,
        registrar: "sip:example.test".parse().unwrap(),
        credentials: None,
        expires: 600,
        outbound_proxy: None,
        retry: RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(1800),
        },
        user_agent: None,
    }
}

/// Everything the UA queued: messages with their destinations, and events.
fn drain(u: &mut UserAgent) -> (Vec<(Destination, Message)>, Vec<UaEvent>) {
    let (mut sent, mut evs) = (vec![], vec![]);
    while let Some(o) = u.poll_output() {
        match o {
            UaOutput::Send { dest, msg, .. } => sent.push((dest, msg)),
            UaOutput::Event(e) => evs.push(e),
            UaOutput::Keepalive { .. } | UaOutput::CloseFlow { .. } => {}
        }
    }
    (sent, evs)
}

/// Runs timers until `until`, collecting what was sent.
fn advance(u: &mut UserAgent, now: &mut Instant, until: Instant) -> Vec<(Destination, Message)> {
    advance_ev(u, now, until, &mut vec![])
}

fn advance_ev(
    u: &mut UserAgent,
    now: &mut Instant,
    until: Instant,
    evs: &mut Vec<UaEvent>,
) -> Vec<(Destination, Message)> {
    let mut all = vec![];
    while let Some(d) = u.next_deadline() {
        if d > until {
            break;
        }
        *now = d.max(*now);
        u.poll_timers(*now);
        let (s, e) = drain(u);
        all.extend(s);
        evs.extend(e);
    }
    *now = until;
    all
}

fn inv(target: &str, sdp: &str) -> InviteRequest {
    InviteRequest {
        target: Some(target.parse().unwrap()),
        body: Some(Body::sdp(sdp)),
        ..Default::default()
    }
}

fn reply(u: &mut UserAgent, now: Instant, from: SocketAddr, req: &Message, code: u16) {
    let r = req.make_response(code, Some("peer"));
    u.handle_inbound(
        now,
        &Inbound {
            transport: TransportKind::Udp,
            source: from,
            local: LOCAL.parse().unwrap(),
            conn: None,
            data: r.to_bytes(),
        },
    );
}

fn is(m: &Message, method: &str) -> bool {
    m.method().is_some_and(|x| x.as_str() == method)
}

#[test]
fn register_fails_over_from_first_srv_target_to_second() {
    let mut now = Instant::now();
    let mut u = ua_with_dns();
    let acct = u.add_account(account());
    u.register(now, acct).unwrap();
    let (sent, _) = drain(&mut u);
    let (d1, r1) = sent.iter().find(|(_, m)| is(m, "REGISTER")).cloned().unwrap();
    assert_eq!(d1.addr, "127.0.0.10:5060".parse().unwrap());
    assert_eq!(d1.transport, TransportKind::Udp);
    // sip1 never answers: retransmissions go to it until Timer F (64*T1), then the same
    // REGISTER goes to sip2 as a new transaction.
    let until = now + Duration::from_secs(33);
    let later = advance(&mut u, &mut now, until);
    let regs: Vec<_> = later.iter().filter(|(_, m)| is(m, "REGISTER")).collect();
    let first_other = regs
        .iter()
        .position(|(d, _)| d.addr != d1.addr)
        .expect("no failover");
    assert!(first_other > 3, "retransmissions to the first target come first");
    let (d2, r2) = regs[first_other].clone();
    assert_eq!(d2.addr, "127.0.0.11:5070".parse().unwrap());
    assert_eq!(r2.cseq(), r1.cseq(), "RFC 3263 4.3: same CSeq");
    assert_eq!(r2.call_id(), r1.call_id());
    assert_ne!(r2.top_via().unwrap().branch(), r1.top_via().unwrap().branch());
    let mut ok = r2.make_response(200, Some("peer"));
    ok.push_named(
        "Contact",
        format!("{};expires=600", r2.header("Contact").unwrap()),
    );
    u.handle_inbound(
        now,
        &Inbound {
            transport: TransportKind::Udp,
            source: d2.addr,
            local: LOCAL.parse().unwrap(),
            conn: None,
            data: ok.to_bytes(),
        },
    );
    let (_, evs) = drain(&mut u);
    assert!(
        matches!(u.registration_state(acct), Some(RegState::Registered { .. })),
        "{:?} {evs:?}",
        u.registration_state(acct)
    );
    // Later requests keep the target that answered.
    assert_eq!(u.host_target("example.test"), Some(d2.addr));
}

#[test]
fn invite_fails_over_then_reports_408_when_all_targets_fail() {
    let mut now = Instant::now();
    let mut u = ua_with_dns();
    let call = u.invite(now, inv("sip:2000@example.test", "v=0\r\n")).unwrap();
    let (sent, _) = drain(&mut u);
    let (_, i1) = sent.iter().find(|(_, m)| is(m, "INVITE")).cloned().unwrap();
    let mut evs = vec![];
    let until = now + Duration::from_secs(200);
    let later = advance_ev(&mut u, &mut now, until, &mut evs);
    let mut dests: Vec<(SocketAddr, TransportKind)> = later
        .iter()
        .filter(|(_, m)| is(m, "INVITE"))
        .map(|(d, _)| (d.addr, d.transport))
        .collect();
    dests.dedup();
    // Three targets: sip1/udp, sip2/udp, then sip2/tcp (no retransmission over TCP).
    assert_eq!(
        dests,
        vec![
            ("127.0.0.10:5060".parse().unwrap(), TransportKind::Udp),
            ("127.0.0.11:5070".parse().unwrap(), TransportKind::Udp),
            ("127.0.0.11:5080".parse().unwrap(), TransportKind::Tcp),
        ]
    );
    let last = later.iter().rev().find(|(_, m)| is(m, "INVITE")).unwrap();
    assert!(last.1.top_via().unwrap().to_string().contains("TCP"));
    assert_eq!(last.1.cseq(), i1.cseq());
    // Every target failed: the call fails once, with 408.
    let failed: Vec<_> = evs
        .iter()
        .filter(|e| matches!(e, UaEvent::Failed { call: c, .. } if *c == call))
        .collect();
    assert_eq!(failed.len(), 1, "{evs:?}");
    assert!(matches!(failed[0], UaEvent::Failed { status: 408, .. }));
    // The host starts again from its first target.
    assert_eq!(
        u.host_target("example.test"),
        Some("127.0.0.10:5060".parse().unwrap())
    );
}

#[test]
fn transport_error_fails_over_at_once() {
    let now = Instant::now();
    let mut u = ua_with_dns();
    let acct = u.add_account(account());
    u.register(now, acct).unwrap();
    let mut txn = None;
    while let Some(o) = u.poll_output() {
        if let UaOutput::Send {
            txn: Some(t), dest, ..
        } = o
        {
            assert_eq!(dest.addr, "127.0.0.10:5060".parse().unwrap());
            txn = Some(t);
        }
    }
    u.transport_error(now, txn.unwrap());
    let (sent, _) = drain(&mut u);
    let (d, r) = sent.iter().find(|(_, m)| is(m, "REGISTER")).unwrap();
    assert_eq!(d.addr, "127.0.0.11:5070".parse().unwrap());
    reply(&mut u, now, d.addr, r, 200);
}

#[test]
fn large_udp_request_moves_to_tcp() {
    let now = Instant::now();
    let mut c = UaConfig::new(LOCAL.parse().unwrap());
    c.seed = 3;
    let mut u = UserAgent::new(c);
    // Small offer: UDP.
    u.invite(now, inv("sip:2000@127.0.0.2:5062", "v=0\r\n")).unwrap();
    let (sent, _) = drain(&mut u);
    let (d, m) = sent.iter().find(|(_, m)| is(m, "INVITE")).unwrap();
    assert_eq!(d.transport, TransportKind::Udp);
    assert!(m.top_via().unwrap().to_string().contains("UDP"));
    // An offer that makes the request exceed 1300 bytes: TCP, and the Via says so (18.1.1).
    let big = format!("v=0\r\n{}", "a=x-pad:0123456789abcdef\r\n".repeat(60));
    u.invite(now, inv("sip:2000@127.0.0.2:5062", &big)).unwrap();
    let (sent, _) = drain(&mut u);
    let (d, m) = sent.iter().find(|(_, m)| is(m, "INVITE")).unwrap();
    assert!(m.to_bytes().len() > 1300);
    assert_eq!(d.transport, TransportKind::Tcp);
    assert!(m.top_via().unwrap().to_string().contains("TCP"));
}

#[test]
fn register_503_fails_over_to_the_next_target() {
    let now = Instant::now();
    let mut u = ua_with_dns();
    let acct = u.add_account(account());
    u.register(now, acct).unwrap();
    let (sent, _) = drain(&mut u);
    let (d1, r1) = sent.iter().find(|(_, m)| is(m, "REGISTER")).cloned().unwrap();
    assert_eq!(d1.addr, "127.0.0.10:5060".parse().unwrap());
    reply(&mut u, now, d1.addr, &r1, 503);
    let (sent, evs) = drain(&mut u);
    assert!(
        !evs.iter().any(|e| matches!(e, UaEvent::Registration { .. })),
        "a 503 with targets left is not a registration failure: {evs:?}"
    );
    let (d2, r2) = sent.iter().find(|(_, m)| is(m, "REGISTER")).cloned().unwrap();
    assert_eq!(d2.addr, "127.0.0.11:5070".parse().unwrap());
    assert_eq!(r2.cseq(), r1.cseq(), "RFC 3263 4.3: same CSeq");
    assert_ne!(r2.top_via().unwrap().branch(), r1.top_via().unwrap().branch());
    let mut ok = r2.make_response(200, Some("peer"));
    ok.push_named(
        "Contact",
        format!("{};expires=600", r2.header("Contact").unwrap()),
    );
    u.handle_inbound(
        now,
        &Inbound {
            transport: TransportKind::Udp,
            source: d2.addr,
            local: LOCAL.parse().unwrap(),
            conn: None,
            data: ok.to_bytes(),
        },
    );
    drain(&mut u);
    assert!(u.registration_state(acct).unwrap().is_registered());
    assert_eq!(u.host_target("example.test"), Some(d2.addr));
}

#[test]
fn invite_503_fails_over_and_the_last_503_fails_the_call() {
    let now = Instant::now();
    let mut u = ua_with_dns();
    let call = u.invite(now, inv("sip:2000@example.test", "v=0\r\n")).unwrap();
    let mut seen = vec![];
    let mut evs = vec![];
    for _ in 0..3 {
        let (sent, e) = drain(&mut u);
        evs.extend(e);
        let (d, i) = sent.iter().find(|(_, m)| is(m, "INVITE")).cloned().unwrap();
        seen.push((d.addr, d.transport, i.cseq().unwrap().seq));
        reply(&mut u, now, d.addr, &i, 503);
        assert!(
            !evs.iter().any(|e| matches!(e, UaEvent::Failed { .. })),
            "no failure while targets are left"
        );
    }
    let (sent, e) = drain(&mut u);
    evs.extend(e);
    assert!(!sent.iter().any(|(_, m)| is(m, "INVITE")));
    assert_eq!(
        seen.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        vec![
            ("127.0.0.10:5060".parse().unwrap(), TransportKind::Udp),
            ("127.0.0.11:5070".parse().unwrap(), TransportKind::Udp),
            ("127.0.0.11:5080".parse().unwrap(), TransportKind::Tcp),
        ]
    );
    assert!(seen.iter().all(|s| s.2 == seen[0].2), "same CSeq");
    let failed: Vec<_> = evs
        .iter()
        .filter(|e| matches!(e, UaEvent::Failed { call: c, status: 503, .. } if *c == call))
        .collect();
    assert_eq!(failed.len(), 1, "{evs:?}");
}

#[test]
fn invite_503_after_ringing_does_not_fail_over() {
    let now = Instant::now();
    let mut u = ua_with_dns();
    let call = u.invite(now, inv("sip:2000@example.test", "v=0\r\n")).unwrap();
    let (sent, _) = drain(&mut u);
    let (d, i) = sent.iter().find(|(_, m)| is(m, "INVITE")).cloned().unwrap();
    reply(&mut u, now, d.addr, &i, 180);
    reply(&mut u, now, d.addr, &i, 503);
    let (sent, evs) = drain(&mut u);
    assert!(!sent.iter().any(|(_, m)| is(m, "INVITE")));
    assert!(
        evs.iter()
            .any(|e| matches!(e, UaEvent::Failed { call: c, status: 503, .. } if *c == call)),
        "{evs:?}"
    );
}
