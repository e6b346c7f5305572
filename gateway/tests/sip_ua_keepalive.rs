//! RFC 5626 keep-alives of the user agent: in virtual time (UDP datagrams at 80-100 % of the
//! interval, TCP pings with pong supervision, `Flow-Timer`, flow failure and re-registration),
//! then over real sockets (a TCP registrar that receives the pings and answers them, a UDP
//! registrar that receives the datagrams).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::sip::registration::{AccountConfig, RegEvent, RetryPolicy};
use gateway::sip::transport::{Destination, EdgeConfig, Inbound, SipEdge, TransportKind};
use gateway::sip::ua::driver::spawn;
use gateway::sip::ua::keepalive::PONG_TIMEOUT;
use gateway::sip::ua::{AccountId, UaConfig, UaEvent, UaOutput, UserAgent};
use gateway::sip::wire::{Message, SipMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::timeout;

const LOCAL: &str = "127.0.0.1:5060";
const REGISTRAR: &str = "127.0.0.9:5060";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn account(registrar: &str) -> AccountConfig {
    AccountConfig {
        aor: "sip:1001@example.test".parse().unwrap(),
        display_name: None,
        registrar: registrar.parse().unwrap(),
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

#[derive(Debug, Default)]
struct Out {
    sent: Vec<(Destination, Message)>,
    keepalives: Vec<(Instant, Destination)>,
    closed: Vec<Destination>,
    events: Vec<UaEvent>,
}

fn drain(u: &mut UserAgent, now: Instant, out: &mut Out) {
    while let Some(o) = u.poll_output() {
        match o {
            UaOutput::Send { dest, msg, .. } => out.sent.push((dest, msg)),
            UaOutput::Event(e) => out.events.push(e),
            UaOutput::Keepalive { dest } => out.keepalives.push((now, dest)),
            UaOutput::CloseFlow { dest } => out.closed.push(dest),
        }
    }
}

/// Runs timers up to `until`; `on_ping` may answer each keep-alive.
fn advance(
    u: &mut UserAgent,
    now: &mut Instant,
    until: Instant,
    out: &mut Out,
    mut on_ping: impl FnMut(&mut UserAgent, Instant, &Destination),
) {
    while let Some(d) = u.next_deadline() {
        if d > until {
            break;
        }
        *now = d.max(*now);
        u.poll_timers(*now);
        let before = out.keepalives.len();
        drain(u, *now, out);
        let new: Vec<Destination> = out.keepalives[before..].iter().map(|k| k.1.clone()).collect();
        for k in new {
            on_ping(u, *now, &k);
            drain(u, *now, out);
        }
    }
    *now = until;
}

fn inbound(transport: TransportKind, from: SocketAddr, data: Vec<u8>) -> Inbound {
    Inbound {
        transport,
        source: from,
        local: sa(LOCAL),
        conn: None,
        data,
    }
}

/// The registrar's 200 to the last REGISTER sent, with `extra` headers.
fn accept_register(u: &mut UserAgent, now: Instant, out: &mut Out, extra: &[(&str, &str)]) {
    let (d, r) = out
        .sent
        .iter()
        .rev()
        .find(|(_, m)| m.method().is_some_and(|x| x.as_str() == "REGISTER"))
        .cloned()
        .expect("a REGISTER");
    let mut ok = r.make_response(200, Some("reg"));
    ok.push_named("Contact", format!("{};expires=600", r.header("Contact").unwrap()));
    for (n, v) in extra {
        ok.push_named(n, *v);
    }
    u.handle_inbound(now, &inbound(d.transport, d.addr, ok.to_bytes()));
    drain(u, now, out);
}

fn registers(out: &Out) -> usize {
    out.sent
        .iter()
        .filter(|(_, m)| m.method().is_some_and(|x| x.as_str() == "REGISTER"))
        .count()
}

fn ua(transport: TransportKind, keepalive: Option<Duration>) -> UserAgent {
    let mut c = UaConfig::new(sa(LOCAL));
    c.seed = 11;
    c.transport = transport;
    c.keepalive = keepalive;
    UserAgent::new(c)
}

fn registered(u: &mut UserAgent, now: Instant, out: &mut Out, extra: &[(&str, &str)]) -> AccountId {
    let id = u.add_account(account(&format!("sip:{REGISTRAR}")));
    u.register(now, id).unwrap();
    drain(u, now, out);
    assert!(
        out.keepalives.is_empty(),
        "no keep-alive before the binding exists"
    );
    accept_register(u, now, out, extra);
    assert!(u.registration_state(id).unwrap().is_registered());
    id
}

#[test]
fn udp_keepalives_at_80_to_100_percent_of_the_interval_while_registered() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut u = ua(TransportKind::Udp, Some(Duration::from_secs(30)));
    let mut out = Out::default();
    let id = registered(&mut u, now, &mut out, &[]);
    assert_eq!(u.keepalive_flows(), 1);
    advance(
        &mut u,
        &mut now,
        t0 + Duration::from_secs(200),
        &mut out,
        |_, _, _| {},
    );
    let times: Vec<Instant> = out.keepalives.iter().map(|k| k.0).collect();
    assert!(
        times.len() >= 6 && times.len() <= 8,
        "{} keep-alives",
        times.len()
    );
    let mut prev = t0;
    for (t, d) in &out.keepalives {
        assert_eq!(d.addr, sa(REGISTRAR));
        assert_eq!(d.transport, TransportKind::Udp);
        let gap = *t - prev;
        assert!(
            gap >= Duration::from_secs(24) && gap <= Duration::from_secs(30),
            "{gap:?}"
        );
        prev = *t;
    }
    // UDP expects no answer: nothing failed, no extra REGISTER, no connection closed.
    assert!(out.closed.is_empty());
    assert_eq!(registers(&out), 1);
    // Unregistered: keep-alives stop.
    u.unregister_all(now);
    drain(&mut u, now, &mut out);
    accept_register(&mut u, now, &mut out, &[]);
    assert!(!u.registration_state(id).unwrap().is_registered());
    assert_eq!(u.keepalive_flows(), 0);
    let n = out.keepalives.len();
    advance(
        &mut u,
        &mut now,
        t0 + Duration::from_secs(400),
        &mut out,
        |_, _, _| {},
    );
    assert_eq!(out.keepalives.len(), n);
}

#[test]
fn keepalives_off_by_default() {
    let mut now = Instant::now();
    let mut u = ua(TransportKind::Udp, None);
    let mut out = Out::default();
    registered(&mut u, now, &mut out, &[]);
    let until = now + Duration::from_secs(400);
    advance(&mut u, &mut now, until, &mut out, |_, _, _| {});
    assert!(out.keepalives.is_empty());
    assert_eq!(u.keepalive_flows(), 0);
}

#[test]
fn flow_timer_of_the_registrar_sets_the_interval() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut u = ua(TransportKind::Udp, Some(Duration::from_secs(120)));
    let mut out = Out::default();
    registered(&mut u, now, &mut out, &[("Flow-Timer", "15")]);
    advance(
        &mut u,
        &mut now,
        t0 + Duration::from_secs(60),
        &mut out,
        |_, _, _| {},
    );
    assert!(out.keepalives.len() >= 4, "{}", out.keepalives.len());
    assert!(out.keepalives[0].0 - t0 <= Duration::from_secs(15));
}

#[test]
fn tcp_pings_are_supervised_by_pongs_and_a_dead_flow_reregisters() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut u = ua(TransportKind::Tcp, Some(Duration::from_secs(30)));
    let mut out = Out::default();
    registered(&mut u, now, &mut out, &[]);
    assert_eq!(out.sent[0].0.transport, TransportKind::Tcp);
    // The registrar answers the first three pings.
    let mut answered = 0;
    advance(
        &mut u,
        &mut now,
        t0 + Duration::from_secs(90),
        &mut out,
        |u, now, d| {
            assert_eq!(d.transport, TransportKind::Tcp);
            answered += 1;
            u.handle_inbound(now, &inbound(TransportKind::Tcp, d.addr, b"\r\n".to_vec()));
        },
    );
    assert_eq!(answered, out.keepalives.len());
    assert!(answered >= 3);
    assert!(out.closed.is_empty());
    assert_eq!(registers(&out), 1);
    // Then it goes silent: PONG_TIMEOUT after the next ping, the flow is closed and the
    // account registers again (RFC 5626 4.4.1, 4.5).
    let last = out.keepalives.len();
    advance(
        &mut u,
        &mut now,
        t0 + Duration::from_secs(135),
        &mut out,
        |_, _, _| {},
    );
    assert_eq!(out.keepalives.len(), last + 1);
    let ping_at = out.keepalives[last].0;
    assert_eq!(out.closed.len(), 1);
    assert_eq!(out.closed[0].addr, sa(REGISTRAR));
    assert_eq!(out.closed[0].transport, TransportKind::Tcp);
    assert_eq!(registers(&out), 2, "re-REGISTER after the flow failed");
    assert!(ping_at + PONG_TIMEOUT <= t0 + Duration::from_secs(135));
    // No keep-alives until the new binding is confirmed; then they resume.
    assert_eq!(u.keepalive_flows(), 0);
    accept_register(&mut u, now, &mut out, &[]);
    assert_eq!(u.keepalive_flows(), 1);
}

#[test]
fn tcp_peer_that_never_answers_pings_is_only_pinged() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut u = ua(TransportKind::Tcp, Some(Duration::from_secs(30)));
    let mut out = Out::default();
    registered(&mut u, now, &mut out, &[]);
    advance(
        &mut u,
        &mut now,
        t0 + Duration::from_secs(200),
        &mut out,
        |_, _, _| {},
    );
    assert!(out.keepalives.len() >= 6);
    assert!(out.closed.is_empty());
    assert_eq!(registers(&out), 1);
}

#[test]
fn failed_keepalive_send_reregisters() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut u = ua(TransportKind::Tcp, Some(Duration::from_secs(30)));
    let mut out = Out::default();
    registered(&mut u, now, &mut out, &[]);
    let mut failed = None;
    advance(
        &mut u,
        &mut now,
        t0 + Duration::from_secs(31),
        &mut out,
        |_, _, d| {
            failed = Some(d.clone());
        },
    );
    let d = failed.expect("a keep-alive");
    // The connection had closed: the driver reports the failure.
    u.keepalive_failed(now, &d);
    drain(&mut u, now, &mut out);
    assert_eq!(registers(&out), 2);
}

// ---- over sockets ----

async fn start(
    transport: TransportKind,
    keepalive: Duration,
) -> (
    gateway::sip::ua::driver::UaHandle,
    tokio::sync::mpsc::UnboundedReceiver<UaEvent>,
    SipEdge,
) {
    let (edge, rx) = SipEdge::bind(EdgeConfig {
        bind: sa("127.0.0.1:0"),
        tcp: true,
        ..EdgeConfig::default()
    })
    .await
    .unwrap();
    let mut c = UaConfig::new(edge.udp_local_addr());
    c.transport = transport;
    c.keepalive = Some(keepalive);
    c.seed = 5;
    let (h, ev, _task) = spawn(UserAgent::new(c), edge.clone(), rx);
    (h, ev, edge)
}

async fn wait_registered(ev: &mut tokio::sync::mpsc::UnboundedReceiver<UaEvent>) {
    loop {
        let e = ev.recv().await.expect("driver running");
        if matches!(
            e,
            UaEvent::Registration {
                event: RegEvent::Registered { .. },
                ..
            }
        ) {
            return;
        }
    }
}

/// The 200 for a REGISTER read from a socket.
fn ok_for(raw: &[u8]) -> Vec<u8> {
    let m = SipMsg::parse_datagram(raw).expect("REGISTER parses").to_message();
    assert_eq!(
        m.method().map(|x| x.as_str().to_string()).as_deref(),
        Some("REGISTER")
    );
    let mut ok = m.make_response(200, Some("reg"));
    ok.push_named("Contact", format!("{};expires=600", m.header("Contact").unwrap()));
    ok.to_bytes()
}

/// Reads one SIP message (headers and Content-Length body) from a stream buffer.
async fn read_message(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Vec<u8> {
    loop {
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let cl: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    (n.trim().eq_ignore_ascii_case("content-length") || n.trim() == "l")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let total = end + 4 + cl;
            if buf.len() >= total {
                return buf.drain(..total).collect();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn tcp_registrar_receives_pings_and_the_edge_answers_its_pings() {
    timeout(Duration::from_secs(20), async {
        let registrar = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let raddr = registrar.local_addr().unwrap();
        let (h, mut ev, edge) = start(TransportKind::Tcp, Duration::from_secs(1)).await;
        let id = h.with(|ua, now| {
            let id = ua.add_account(account(&format!("sip:{raddr};transport=tcp")));
            ua.register(now, id).unwrap();
            id
        });
        let (mut s, _) = registrar.accept().await.unwrap();
        let mut buf = Vec::new();
        let reg = read_message(&mut s, &mut buf).await;
        s.write_all(&ok_for(&reg)).await.unwrap();
        wait_registered(&mut ev).await;
        // Two pings within the 0.8-1 s interval; each answered with a pong.
        for _ in 0..2 {
            while buf.len() < 4 {
                let mut chunk = [0u8; 64];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(&buf[..4], b"\r\n\r\n", "ping");
            buf.drain(..4);
            s.write_all(b"\r\n").await.unwrap();
        }
        // Our own ping (as a registrar might send it) gets the pong on the same connection.
        s.write_all(b"\r\n\r\n").await.unwrap();
        let mut got = 0usize;
        loop {
            let mut chunk = [0u8; 64];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            assert!(chunk[..n].iter().all(|&c| c == b'\r' || c == b'\n'));
            got += n;
            // Pings of ours may be interleaved (4 bytes each); the pong makes the count odd
            // in pairs.
            if got % 4 == 2 {
                break;
            }
        }
        // One connection all along, still registered, no second REGISTER.
        assert_eq!(edge.connection_count(), 1);
        assert!(h.with(|ua, _| ua.registration_state(id).unwrap().is_registered()));
        assert_eq!(h.with(|ua, _| ua.keepalive_flows()), 1);
        assert_eq!(
            h.with(|ua, _| ua.keepalive_answering()),
            1,
            "our pongs reached the core"
        );
        edge.shutdown();
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn tcp_flow_closed_by_the_registrar_reregisters_on_a_new_connection() {
    timeout(Duration::from_secs(20), async {
        let registrar = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let raddr = registrar.local_addr().unwrap();
        let (h, mut ev, edge) = start(TransportKind::Tcp, Duration::from_secs(1)).await;
        h.with(|ua, now| {
            let id = ua.add_account(account(&format!("sip:{raddr};transport=tcp")));
            ua.register(now, id).unwrap();
        });
        let (mut s, _) = registrar.accept().await.unwrap();
        let mut buf = Vec::new();
        let reg = read_message(&mut s, &mut buf).await;
        s.write_all(&ok_for(&reg)).await.unwrap();
        wait_registered(&mut ev).await;
        // The registrar restarts: the connection goes away. The next keep-alive finds no
        // connection, and the account registers again over a new one.
        drop(s);
        let (mut s2, _) = registrar.accept().await.unwrap();
        let mut buf = Vec::new();
        let reg = read_message(&mut s2, &mut buf).await;
        s2.write_all(&ok_for(&reg)).await.unwrap();
        wait_registered(&mut ev).await;
        edge.shutdown();
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn udp_registrar_receives_crlf_keepalives() {
    timeout(Duration::from_secs(20), async {
        let registrar = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let raddr = registrar.local_addr().unwrap();
        let (h, mut ev, edge) = start(TransportKind::Udp, Duration::from_secs(1)).await;
        h.with(|ua, now| {
            let id = ua.add_account(account(&format!("sip:{raddr}")));
            ua.register(now, id).unwrap();
        });
        let mut buf = vec![0u8; 65536];
        let (n, from) = registrar.recv_from(&mut buf).await.unwrap();
        registrar.send_to(&ok_for(&buf[..n]), from).await.unwrap();
        wait_registered(&mut ev).await;
        for _ in 0..2 {
            let (n, src) = registrar.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"\r\n\r\n");
            assert_eq!(
                src, from,
                "from the SIP port, so that the NAT binding is the one in use"
            );
        }
        edge.shutdown();
    })
    .await
    .expect("bounded");
}
