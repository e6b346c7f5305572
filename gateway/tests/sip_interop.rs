//! Interop on loopback with real peers: sipp (Debian sip-tester) as UAS and UAC, and Kamailio
//! as registrar/proxy with digest authentication. Each test is bounded to a few seconds. When
//! CI is set and a tool is missing the test fails; otherwise it is skipped with a message.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gateway::sip::auth::Credentials;
use gateway::sip::registration::{AccountConfig, RegEvent, RetryPolicy};
use gateway::sip::transaction::TimerConfig;
use gateway::sip::transport::{EdgeConfig, SipEdge, TransportKind};
use gateway::sip::ua::call::InviteRequest;
use gateway::sip::ua::driver::{UaHandle, spawn};
use gateway::sip::ua::{Body, EndReason, UaConfig, UaEvent, UserAgent};
use gateway::sip::wire::Message;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const SDP: &str = "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name} || test -x /usr/sbin/{name}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} missing: run scripts/deps.sh test"
        );
        eprintln!("{name} not installed (scripts/deps.sh test); skipping");
    }
    found
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        // Each peer runs in its own process group (Kamailio forks workers): end the group.
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
        for _ in 0..50 {
            let alive = Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    }
}

fn sipp(args: &[&str]) -> Peer {
    let child = Command::new("sipp")
        .args(args)
        .args([
            "-m",
            "1",
            "-timeout",
            "15s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .current_dir(std::env::temp_dir())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp");
    Peer(child)
}

async fn wait_exit(p: &mut Peer) -> bool {
    for _ in 0..150 {
        if let Ok(Some(s)) = p.0.try_wait() {
            return s.success();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn start_ua(t1_ms: u64) -> (UaHandle, UnboundedReceiver<UaEvent>, SocketAddr) {
    let cfg = EdgeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        tcp: false,
        ..EdgeConfig::default()
    };
    let (edge, inbound) = SipEdge::bind(cfg).await.unwrap();
    let local = edge.udp_local_addr();
    let mut c = UaConfig::new(local);
    c.timers = TimerConfig {
        t1: Duration::from_millis(t1_ms),
        ..TimerConfig::default()
    };
    c.session_timer = None;
    let (h, ev, _task) = spawn(UserAgent::new(c), edge, inbound);
    (h, ev, local)
}

async fn next_event(
    ev: &mut UnboundedReceiver<UaEvent>,
    what: &str,
    f: impl Fn(&UaEvent) -> bool,
) -> UaEvent {
    let r = timeout(Duration::from_secs(10), async {
        loop {
            let e = ev.recv().await.expect("driver running");
            if f(&e) {
                return e;
            }
        }
    })
    .await;
    r.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Our UA calls sipp's UAS scenario, which answers; we hang up.
async fn call_out(h: &UaHandle, ev: &mut UnboundedReceiver<UaEvent>, req: InviteRequest) {
    let call = h.with(|ua, now| ua.invite(now, req)).unwrap();
    let e = next_event(ev, "answer", |e| {
        matches!(e, UaEvent::Answered { .. } | UaEvent::Failed { .. })
    })
    .await;
    let UaEvent::Answered { call: c, response } = e else {
        panic!("call failed: {e:?}")
    };
    assert_eq!(c, call);
    assert!(!response.body.is_empty(), "sipp answers with SDP");
    h.with(|ua, now| ua.bye(now, call)).unwrap();
}

/// Answers the next incoming call; the caller hangs up. Returns the INVITE.
async fn answer_in(h: &UaHandle, ev: &mut UnboundedReceiver<UaEvent>) -> Message {
    let e = next_event(ev, "incoming call", |e| matches!(e, UaEvent::Incoming { .. })).await;
    let UaEvent::Incoming { call, request, .. } = e else {
        unreachable!()
    };
    h.with(|ua, now| {
        ua.ring(now, call, 180, None, false)?;
        ua.answer(now, call, Some(Body::sdp(SDP)))
    })
    .unwrap();
    next_event(ev, "BYE", |e| {
        matches!(
            e,
            UaEvent::Terminated {
                reason: EndReason::RemoteHangup,
                ..
            }
        )
    })
    .await;
    request
}

#[tokio::test]
async fn sipp_uas_answers_our_call() {
    if !tool("sipp") {
        return;
    }
    let port = free_port();
    let mut peer = sipp(&["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (h, mut ev, _) = start_ua(100).await;
    let target = format!("sip:service@127.0.0.1:{port}").parse().unwrap();
    call_out(
        &h,
        &mut ev,
        InviteRequest {
            target: Some(target),
            body: Some(Body::sdp(SDP)),
            ..Default::default()
        },
    )
    .await;
    assert!(wait_exit(&mut peer).await, "sipp uas scenario failed");
}

#[tokio::test]
async fn sipp_uac_calls_us() {
    if !tool("sipp") {
        return;
    }
    let (h, mut ev, local) = start_ua(100).await;
    let port = free_port();
    let mut peer = sipp(&[
        "-sn",
        "uac",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-s",
        "gw",
        &local.to_string(),
    ]);
    answer_in(&h, &mut ev).await;
    assert!(wait_exit(&mut peer).await, "sipp uac scenario failed");
}

#[tokio::test]
async fn sipp_uac_with_100rel_pracks_our_reliable_ringing() {
    if !tool("sipp") {
        return;
    }
    let (h, mut ev, local) = start_ua(100).await;
    let port = free_port();
    let sf = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sip/uac_100rel.xml");
    let mut peer = sipp(&[
        "-sf",
        sf,
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-s",
        "gw",
        &local.to_string(),
    ]);
    let e = next_event(&mut ev, "incoming call", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await;
    let UaEvent::Incoming { call, .. } = e else {
        unreachable!()
    };
    h.with(|ua, now| ua.ring(now, call, 180, None, true)).unwrap();
    next_event(&mut ev, "PRACK", |e| matches!(e, UaEvent::Prack { .. })).await;
    h.with(|ua, now| ua.answer(now, call, Some(Body::sdp(SDP))))
        .unwrap();
    next_event(&mut ev, "BYE", |e| {
        matches!(
            e,
            UaEvent::Terminated {
                reason: EndReason::RemoteHangup,
                ..
            }
        )
    })
    .await;
    assert!(wait_exit(&mut peer).await, "sipp 100rel scenario failed");
}

fn kamailio(port: u16) -> Peer {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sip/kamailio.cfg");
    kamailio_with(cfg, port, &["udp"])
}

/// Kamailio with configuration `cfg` listening on 127.0.0.1:`port` over each of `protos`.
fn kamailio_with(cfg: &str, port: u16, protos: &[&str]) -> Peer {
    let dir = std::env::temp_dir().join(format!("kamailio-{port}"));
    let _ = std::fs::create_dir_all(&dir);
    let child = Command::new("kamailio")
        .args([
            "-f",
            cfg,
            "-DD",
            "-E",
            "-m",
            "32",
            "-M",
            "8",
            "-Y",
            dir.to_str().unwrap(),
            "-w",
        ])
        .arg(&dir)
        .args(
            protos
                .iter()
                .flat_map(|p| ["-l".to_string(), format!("{p}:127.0.0.1:{port}")]),
        )
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kamailio");
    Peer(child)
}

#[tokio::test]
async fn kamailio_register_restart_and_calls() {
    if !tool("kamailio") || !tool("sipp") {
        return;
    }
    let kport = free_port();
    let mut kam = kamailio(kport);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (h, mut ev, _local) = start_ua(100).await;
    let proxy = format!("sip:127.0.0.1:{kport}");
    let acct = AccountConfig {
        aor: "sip:1001@127.0.0.1".parse().unwrap(),
        display_name: Some("Port 1".into()),
        registrar: "sip:127.0.0.1".parse().unwrap(),
        credentials: Some(Credentials {
            username: "1001".into(),
            password: "secret".into(),
            realm: None,
        }),
        // Below Kamailio's min_expires (4): 423 first.
        expires: 2,
        outbound_proxy: Some(proxy.parse().unwrap()),
        retry: RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(2),
        },
        user_agent: None,
    };
    let id = h.with(|ua, now| {
        let id = ua.add_account(acct);
        ua.register(now, id).unwrap();
        id
    });
    let reg = |e: &UaEvent| {
        matches!(
            e,
            UaEvent::Registration {
                event: RegEvent::Registered { .. },
                ..
            }
        )
    };
    let e = next_event(&mut ev, "registration", reg).await;
    assert!(
        matches!(
            e,
            UaEvent::Registration {
                event: RegEvent::Registered { expires: 4 },
                ..
            }
        ),
        "{e:?}"
    );
    // Refresh at half the granted 4 s.
    next_event(&mut ev, "refresh", reg).await;

    // Registrar restart: the binding and the nonce secret are gone.
    drop(kam);
    tokio::time::sleep(Duration::from_millis(300)).await;
    kam = kamailio(kport);
    next_event(&mut ev, "re-registration after restart", reg).await;
    assert!(h.with(|ua, _| ua.registration_state(id).unwrap().is_registered()));

    // Outgoing call through Kamailio (407 answered) to sipp.
    let sport = free_port();
    let mut peer = sipp(&["-sn", "uas", "-i", "127.0.0.1", "-p", &sport.to_string()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let target = format!("sip:service@127.0.0.1:{sport}").parse().unwrap();
    call_out(
        &h,
        &mut ev,
        InviteRequest {
            account: Some(id),
            target: Some(target),
            body: Some(Body::sdp(SDP)),
            ..Default::default()
        },
    )
    .await;
    assert!(wait_exit(&mut peer).await, "sipp uas behind kamailio failed");

    // Incoming call: sipp calls 1001 at Kamailio, which looks up our binding.
    let sport = free_port();
    let mut peer = sipp(&[
        "-sn",
        "uac",
        "-i",
        "127.0.0.1",
        "-p",
        &sport.to_string(),
        "-s",
        "1001",
        &format!("127.0.0.1:{kport}"),
    ]);
    answer_in(&h, &mut ev).await;
    assert!(wait_exit(&mut peer).await, "sipp uac behind kamailio failed");

    // Shutdown unregisters.
    h.with(|ua, now| ua.unregister_all(now));
    next_event(&mut ev, "unregistration", |e| {
        matches!(
            e,
            UaEvent::Registration {
                event: RegEvent::Unregistered,
                ..
            }
        )
    })
    .await;
    drop(kam);
}

/// A port free for both UDP and TCP on 127.0.0.1.
fn free_port_both() -> u16 {
    loop {
        let p = free_port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

#[tokio::test]
async fn kamailio_over_tcp_registers_keeps_alive_and_reuses_the_connection() {
    if !tool("kamailio") || !tool("sipp") {
        return;
    }
    let kport = free_port_both();
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sip/kamailio_tcp.cfg");
    let kam = kamailio_with(cfg, kport, &["udp", "tcp"]);
    tokio::time::sleep(Duration::from_millis(700)).await;

    let (edge, inbound) = SipEdge::bind(EdgeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        tcp: true,
        ..EdgeConfig::default()
    })
    .await
    .unwrap();
    let mut c = UaConfig::new(edge.udp_local_addr());
    c.transport = TransportKind::Tcp;
    c.timers = TimerConfig {
        t1: Duration::from_millis(100),
        ..TimerConfig::default()
    };
    c.session_timer = None;
    c.keepalive = Some(Duration::from_secs(1));
    let (h, mut ev, _task) = spawn(UserAgent::new(c), edge.clone(), inbound);
    let acct = AccountConfig {
        aor: "sip:1001@127.0.0.1".parse().unwrap(),
        display_name: None,
        registrar: "sip:127.0.0.1".parse().unwrap(),
        credentials: Some(Credentials {
            username: "1001".into(),
            password: "secret".into(),
            realm: None,
        }),
        expires: 60,
        outbound_proxy: Some(format!("sip:127.0.0.1:{kport};transport=tcp").parse().unwrap()),
        retry: RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(2),
        },
        user_agent: None,
    };
    let id = h.with(|ua, now| {
        let id = ua.add_account(acct);
        ua.register(now, id).unwrap();
        id
    });
    // REGISTER over TCP: 401, then digest, then 200.
    let reg_event = |e: &UaEvent| matches!(e, UaEvent::Registration { .. });
    let e = next_event(&mut ev, "registration", reg_event).await;
    assert!(
        matches!(
            e,
            UaEvent::Registration {
                event: RegEvent::Registered { expires: 60 },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(edge.connection_count(), 1, "one connection to the proxy");

    // Keep-alives every 0.8-1 s for a few seconds: Kamailio answers them, the flow stays up
    // and no REGISTER is needed.
    let quiet = timeout(Duration::from_millis(3500), async {
        loop {
            let e = ev.recv().await.expect("driver running");
            if reg_event(&e) {
                return e;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "registration changed: {quiet:?}");
    assert_eq!(h.with(|ua, _| ua.keepalive_flows()), 1);
    assert_eq!(
        h.with(|ua, _| ua.keepalive_answering()),
        1,
        "Kamailio answers the pings"
    );
    assert!(h.with(|ua, _| ua.registration_state(id).unwrap().is_registered()));
    assert_eq!(edge.connection_count(), 1);

    // Outgoing call over TCP through Kamailio (407 answered) to sipp over UDP.
    let sport = free_port();
    let mut peer = sipp(&["-sn", "uas", "-i", "127.0.0.1", "-p", &sport.to_string()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let target = format!("sip:service@127.0.0.1:{sport}").parse().unwrap();
    call_out(
        &h,
        &mut ev,
        InviteRequest {
            account: Some(id),
            target: Some(target),
            body: Some(Body::sdp(SDP)),
            ..Default::default()
        },
    )
    .await;
    assert!(wait_exit(&mut peer).await, "sipp uas behind kamailio failed");

    // Incoming call: sipp calls 1001 at Kamailio over UDP; Kamailio reaches us over the
    // connection we registered on (no second connection).
    let sport = free_port();
    let mut peer = sipp(&[
        "-sn",
        "uac",
        "-i",
        "127.0.0.1",
        "-p",
        &sport.to_string(),
        "-s",
        "1001",
        &format!("127.0.0.1:{kport}"),
    ]);
    let invite = answer_in(&h, &mut ev).await;
    assert!(wait_exit(&mut peer).await, "sipp uac behind kamailio failed");
    let via = invite.top_via().unwrap().to_string();
    assert!(via.contains("TCP"), "the proxy's INVITE came over TCP: {via}");
    assert_eq!(
        edge.connection_count(),
        1,
        "requests from the proxy reuse our connection"
    );

    h.with(|ua, now| ua.unregister_all(now));
    next_event(&mut ev, "unregistration", |e| {
        matches!(
            e,
            UaEvent::Registration {
                event: RegEvent::Unregistered,
                ..
            }
        )
    })
    .await;
    edge.shutdown();
    drop(kam);
}
