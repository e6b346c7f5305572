//! RFC 3263 server location over an in-memory resolver (no real DNS), RFC 2782 SRV ordering,
//! and failover of a transaction to the next target.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use gateway::sip::dns::{
    DnsError, DnsResolver, LocateOptions, NaptrRecord, SipTarget, SrvRecord, Target, TargetList, locate,
    order_srv,
};
use gateway::sip::transaction::{
    MsgInfo, StartLine, TimerConfig, TransactionLayer, TxnEvent, TxnMessage, TxnMethod,
};
use gateway::sip::transport::TransportKind;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Default)]
struct FakeDns {
    naptr: HashMap<String, Vec<NaptrRecord>>,
    srv: HashMap<String, Vec<SrvRecord>>,
    ip: HashMap<String, Vec<IpAddr>>,
    failing: Vec<String>,
}

impl FakeDns {
    fn a(mut self, name: &str, ips: &[&str]) -> Self {
        self.ip
            .insert(name.into(), ips.iter().map(|s| s.parse().unwrap()).collect());
        self
    }
    fn srv(mut self, name: &str, recs: &[(u16, u16, u16, &str)]) -> Self {
        self.srv.insert(
            name.into(),
            recs.iter()
                .map(|&(priority, weight, port, target)| SrvRecord {
                    priority,
                    weight,
                    port,
                    target: target.into(),
                })
                .collect(),
        );
        self
    }
    fn naptr(mut self, name: &str, recs: &[(u16, u16, &str, &str)]) -> Self {
        self.naptr.insert(
            name.into(),
            recs.iter()
                .map(|&(order, preference, services, replacement)| NaptrRecord {
                    order,
                    preference,
                    flags: "s".into(),
                    services: services.into(),
                    replacement: replacement.into(),
                })
                .collect(),
        );
        self
    }
    fn check(&self, name: &str) -> Result<(), DnsError> {
        if self.failing.iter().any(|f| f == name) {
            return Err(DnsError::LookupFailed {
                name: name.into(),
                kind: gateway::sip::dns::LookupFailure::Timeout,
            });
        }
        Ok(())
    }
}

impl DnsResolver for FakeDns {
    async fn naptr(&self, name: &str) -> Result<Vec<NaptrRecord>, DnsError> {
        self.check(name)?;
        Ok(self.naptr.get(name).cloned().unwrap_or_default())
    }
    async fn srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsError> {
        self.check(name)?;
        Ok(self.srv.get(name).cloned().unwrap_or_default())
    }
    async fn ip(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        self.check(name)?;
        Ok(self.ip.get(name).cloned().unwrap_or_default())
    }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn targets(dns: &FakeDns, uri: &SipTarget) -> Result<Vec<(TransportKind, String)>, DnsError> {
    let mut rng = StdRng::seed_from_u64(7);
    let list = run(locate(dns, uri, &LocateOptions::default(), &mut rng))?;
    Ok(list
        .all()
        .iter()
        .map(|t| (t.transport, t.addr.to_string()))
        .collect())
}

fn udp(a: &str) -> (TransportKind, String) {
    (TransportKind::Udp, a.into())
}
fn tcp(a: &str) -> (TransportKind, String) {
    (TransportKind::Tcp, a.into())
}

#[test]
fn numeric_host_is_used_directly() {
    let dns = FakeDns::default();
    assert_eq!(
        targets(&dns, &SipTarget::host("192.0.2.1")).unwrap(),
        vec![udp("192.0.2.1:5060")]
    );
    let mut t = SipTarget::host("[2001:db8::1]");
    t.port = Some(5070);
    t.transport = Some(TransportKind::Tcp);
    assert_eq!(targets(&dns, &t).unwrap(), vec![tcp("[2001:db8::1]:5070")]);
    // sips on a numeric host means TLS, which this endpoint does not run.
    let mut t = SipTarget::host("192.0.2.1");
    t.secure = true;
    assert_eq!(
        targets(&dns, &t),
        Err(DnsError::UnsupportedTransport(TransportKind::Tls))
    );
}

#[test]
fn explicit_port_uses_a_records_only() {
    let dns = FakeDns::default()
        .a("proxy.example", &["192.0.2.10", "192.0.2.11"])
        .srv("_sip._udp.proxy.example", &[(0, 0, 5080, "other.example")]);
    let mut t = SipTarget::host("proxy.example");
    t.port = Some(5062);
    assert_eq!(
        targets(&dns, &t).unwrap(),
        vec![udp("192.0.2.10:5062"), udp("192.0.2.11:5062")]
    );
}

#[test]
fn naptr_then_srv_then_a() {
    let dns = FakeDns::default()
        .naptr(
            "example.com",
            &[
                (90, 50, "SIP+D2T", "_sip._tcp.example.com"),
                (50, 50, "SIP+D2U", "_sip._udp.example.com"),
                (10, 10, "SIPS+D2T", "_sips._tcp.example.com"),
            ],
        )
        .srv("_sip._udp.example.com", &[(0, 0, 5060, "u1.example.com")])
        .srv("_sip._tcp.example.com", &[(0, 0, 5070, "t1.example.com")])
        .srv("_sips._tcp.example.com", &[(0, 0, 5061, "s1.example.com")])
        .a("u1.example.com", &["192.0.2.1"])
        .a("t1.example.com", &["192.0.2.2"])
        .a("s1.example.com", &["192.0.2.3"]);
    // The TLS NAPTR is skipped (not supported); order 50 (UDP) before 90 (TCP).
    assert_eq!(
        targets(&dns, &SipTarget::host("example.com")).unwrap(),
        vec![udp("192.0.2.1:5060"), tcp("192.0.2.2:5070")]
    );
}

#[test]
fn naptr_skipped_when_disabled_or_absent() {
    let dns = FakeDns::default()
        .srv(
            "_sip._udp.example.net",
            &[(10, 0, 5060, "a.example.net"), (20, 0, 5060, "b.example.net")],
        )
        .srv("_sip._tcp.example.net", &[(10, 0, 5060, "a.example.net")])
        .a("a.example.net", &["192.0.2.21"])
        .a("b.example.net", &["192.0.2.22"]);
    assert_eq!(
        targets(&dns, &SipTarget::host("example.net")).unwrap(),
        vec![
            udp("192.0.2.21:5060"),
            udp("192.0.2.22:5060"),
            tcp("192.0.2.21:5060")
        ]
    );
    // transport=tcp: only the TCP SRV.
    let mut t = SipTarget::host("example.net");
    t.transport = Some(TransportKind::Tcp);
    assert_eq!(targets(&dns, &t).unwrap(), vec![tcp("192.0.2.21:5060")]);
}

#[test]
fn no_srv_falls_back_to_a_on_default_port() {
    let dns = FakeDns::default().a("pbx.example", &["192.0.2.30", "2001:db8::30"]);
    assert_eq!(
        targets(&dns, &SipTarget::host("pbx.example")).unwrap(),
        vec![udp("192.0.2.30:5060"), udp("[2001:db8::30]:5060")]
    );
    let mut t = SipTarget::host("pbx.example");
    t.transport = Some(TransportKind::Tcp);
    assert_eq!(
        targets(&dns, &t).unwrap(),
        vec![tcp("192.0.2.30:5060"), tcp("[2001:db8::30]:5060")]
    );
}

#[test]
fn maddr_replaces_host_and_errors_are_typed() {
    let dns = FakeDns::default().a("m.example", &["192.0.2.40"]);
    let mut t = SipTarget::host("ignored.example");
    t.maddr = Some("m.example".into());
    assert_eq!(targets(&dns, &t).unwrap(), vec![udp("192.0.2.40:5060")]);
    assert_eq!(
        targets(&dns, &SipTarget::host("nothing.example")),
        Err(DnsError::NoTargets("nothing.example".into()))
    );
    assert!(matches!(
        targets(&dns, &SipTarget::host("bad name")),
        Err(DnsError::InvalidName(_))
    ));
    let mut failing = FakeDns::default();
    failing.failing.push("down.example".into());
    assert!(matches!(
        targets(&failing, &SipTarget::host("down.example")),
        Err(DnsError::LookupFailed { .. })
    ));
}

#[test]
fn srv_target_that_does_not_resolve_is_skipped() {
    let dns = FakeDns::default()
        .srv(
            "_sip._udp.x.example",
            &[
                (1, 0, 5060, "gone.x.example"),
                (2, 0, 5060, "ok.x.example"),
                (3, 0, 5060, ""),
            ],
        )
        .a("ok.x.example", &["192.0.2.50"]);
    assert_eq!(
        targets(&dns, &SipTarget::host("x.example")).unwrap(),
        vec![udp("192.0.2.50:5060")]
    );
}

#[test]
fn srv_priority_order_and_weight_distribution() {
    let recs = vec![
        SrvRecord {
            priority: 20,
            weight: 0,
            port: 1,
            target: "backup".into(),
        },
        SrvRecord {
            priority: 10,
            weight: 60,
            port: 1,
            target: "big".into(),
        },
        SrvRecord {
            priority: 10,
            weight: 20,
            port: 1,
            target: "small".into(),
        },
        SrvRecord {
            priority: 10,
            weight: 20,
            port: 1,
            target: "small2".into(),
        },
        SrvRecord {
            priority: 5,
            weight: 0,
            port: 1,
            target: "".into(),
        },
    ];
    let mut rng = StdRng::seed_from_u64(1);
    let mut first = HashMap::new();
    for _ in 0..10_000 {
        let o = order_srv(&recs, &mut rng);
        assert_eq!(o.len(), 4, "the '.' target is dropped");
        assert_eq!(o[3].target, "backup", "lower priority value first");
        *first.entry(o[0].target.clone()).or_insert(0u32) += 1;
    }
    // Weight 60 of 100: picked first about 60% of the time (RFC 2782).
    let big = first["big"] as f64 / 10_000.0;
    assert!((0.56..0.64).contains(&big), "big first {big}");
    let small = first["small"] as f64 / 10_000.0;
    assert!((0.17..0.23).contains(&small), "small first {small}");
}

#[test]
fn target_list_failover() {
    let mut l = TargetList::new(vec![
        Target {
            transport: TransportKind::Udp,
            addr: "192.0.2.1:5060".parse().unwrap(),
        },
        Target {
            transport: TransportKind::Tcp,
            addr: "192.0.2.2:5060".parse().unwrap(),
        },
    ]);
    assert_eq!(l.current().unwrap().addr.port(), 5060);
    assert_eq!(l.remaining().len(), 2);
    assert_eq!(l.failover().unwrap().transport, TransportKind::Tcp);
    assert_eq!(l.failover(), None);
    assert_eq!(l.failover(), None);
    assert!(l.remaining().is_empty());
    assert!(TargetList::is_failover_status(503));
    assert!(!TargetList::is_failover_status(486));
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg(MsgInfo);

impl TxnMessage for Msg {
    fn ack_for_non2xx(invite: &Self, _: &Self) -> Self {
        invite.clone()
    }
    fn trying_for(request: &Self) -> Self {
        request.clone()
    }
}

fn options(branch: &str) -> Msg {
    Msg(MsgInfo {
        start: StartLine::Request {
            method: TxnMethod::from_token("OPTIONS"),
            request_uri: "sip:example.net".into(),
        },
        branch: Some(branch.into()),
        sent_by: "127.0.0.1:5060".into(),
        top_via: String::new(),
        call_id: "c".into(),
        cseq: 1,
        cseq_method: TxnMethod::from_token("OPTIONS"),
        from_tag: Some("f".into()),
        to_tag: None,
    })
}

/// A transaction that times out (Timer F) on the first target is retried, with a new branch,
/// on the next; a transport error moves on again; the list then runs out.
#[test]
fn transaction_failover_across_targets() {
    let dns = FakeDns::default()
        .srv(
            "_sip._udp.example.net",
            &[(10, 0, 5060, "a.example.net"), (20, 0, 5060, "b.example.net")],
        )
        .srv("_sip._tcp.example.net", &[(10, 0, 5060, "c.example.net")])
        .a("a.example.net", &["192.0.2.21"])
        .a("b.example.net", &["192.0.2.22"])
        .a("c.example.net", &["192.0.2.23"]);
    let mut rng = StdRng::seed_from_u64(3);
    let mut list = run(locate(
        &dns,
        &SipTarget::host("example.net"),
        &LocateOptions::default(),
        &mut rng,
    ))
    .unwrap();
    let mut layer: TransactionLayer<Msg, Target> = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let mut now = t0;
    let mut tried = Vec::new();
    let mut attempt = 0;
    'next: while let Some(target) = list.current().cloned() {
        attempt += 1;
        let req = options(&format!("z9hG4bK-attempt{attempt}"));
        let id = layer
            .send_request(
                now,
                &req.0,
                req.clone(),
                target.clone(),
                target.transport.is_reliable(),
            )
            .unwrap();
        loop {
            while let Some(ev) = layer.poll_event() {
                match ev {
                    TxnEvent::Transmit { dest, .. } => {
                        if tried.last() != Some(&dest) {
                            tried.push(dest.clone());
                        }
                        // The TCP target refuses the connection.
                        if dest.transport == TransportKind::Tcp {
                            layer.transport_error(now, id);
                        }
                    }
                    TxnEvent::Timeout { .. } | TxnEvent::TransportError { .. } => {
                        list.failover();
                        continue 'next;
                    }
                    _ => {}
                }
            }
            let Some(d) = layer.next_deadline() else {
                break 'next;
            };
            now = d;
            layer.poll_timers(now);
        }
    }
    let addrs: Vec<String> = tried
        .iter()
        .map(|t| format!("{}/{}", t.transport, t.addr))
        .collect();
    assert_eq!(
        addrs,
        vec![
            "UDP/192.0.2.21:5060",
            "UDP/192.0.2.22:5060",
            "TCP/192.0.2.23:5060"
        ]
    );
    assert!(list.current().is_none());
    // Two Timer F expiries in virtual time.
    assert_eq!(now - t0, std::time::Duration::from_secs(64));
}
