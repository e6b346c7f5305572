//! RFC 3263 failover over real sockets: a host name with two loopback UDP targets; the first
//! answers 503, the second 200. The REGISTER and an INVITE each reach the second target as a
//! new transaction (same CSeq, new branch), and later requests go there directly.

use std::net::SocketAddr;
use std::time::Duration;

use gateway::sip::dns::{Target, TargetList};
use gateway::sip::registration::{AccountConfig, RegEvent, RetryPolicy};
use gateway::sip::transport::{EdgeConfig, SipEdge, TransportKind};
use gateway::sip::ua::call::InviteRequest;
use gateway::sip::ua::driver::spawn;
use gateway::sip::ua::{Body, UaConfig, UaEvent, UserAgent};
use gateway::sip::wire::{Message, SipMsg};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const SDP: &str =
    "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

async fn recv(s: &UdpSocket) -> (Message, SocketAddr) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = s.recv_from(&mut buf).await.unwrap();
        if buf[..n].iter().all(|&c| c == b'\r' || c == b'\n') {
            continue;
        }
        let m = SipMsg::parse_datagram(&buf[..n]).expect("parses").to_message();
        return (m, from);
    }
}

/// Receives requests until one with `method` (answering nothing else).
async fn recv_method(s: &UdpSocket, method: &str) -> (Message, SocketAddr) {
    loop {
        let (m, from) = recv(s).await;
        if m.method().is_some_and(|x| x.as_str() == method) {
            return (m, from);
        }
    }
}

async fn answer(s: &UdpSocket, to: SocketAddr, req: &Message, code: u16, extra: &[(&str, String)]) {
    let mut r = req.make_response(code, Some("peer"));
    for (n, v) in extra {
        r.push_named(n, v);
    }
    s.send_to(&r.to_bytes(), to).await.unwrap();
}

async fn event(ev: &mut UnboundedReceiver<UaEvent>, f: impl Fn(&UaEvent) -> bool) -> UaEvent {
    loop {
        let e = ev.recv().await.expect("driver running");
        if f(&e) {
            return e;
        }
    }
}

#[tokio::test]
async fn register_and_invite_fail_over_from_503_to_the_second_target() {
    timeout(Duration::from_secs(20), async {
        let first = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let second = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (edge, rx) = SipEdge::bind(EdgeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            tcp: false,
            ..EdgeConfig::default()
        })
        .await
        .unwrap();
        let mut c = UaConfig::new(edge.udp_local_addr());
        c.session_timer = None;
        let (h, mut ev, _task) = spawn(UserAgent::new(c), edge.clone(), rx);
        let targets = TargetList::new(vec![
            Target {
                transport: TransportKind::Udp,
                addr: first.local_addr().unwrap(),
            },
            Target {
                transport: TransportKind::Udp,
                addr: second.local_addr().unwrap(),
            },
        ]);
        let acct = AccountConfig {
            aor: "sip:1001@pbx.test".parse().unwrap(),
            display_name: None,
            registrar: "sip:pbx.test".parse().unwrap(),
            credentials: None,
            expires: 600,
            outbound_proxy: None,
            retry: RetryPolicy::default(),
            user_agent: None,
        };
        let id = h.with(|ua, now| {
            ua.set_host_targets("pbx.test", &targets);
            let id = ua.add_account(acct);
            ua.register(now, id).unwrap();
            id
        });

        // REGISTER: 503 from the first target, then the same request to the second.
        let (r1, from) = recv_method(&first, "REGISTER").await;
        answer(&first, from, &r1, 503, &[]).await;
        let (r2, from) = recv_method(&second, "REGISTER").await;
        assert_eq!(r2.cseq(), r1.cseq());
        assert_eq!(r2.call_id(), r1.call_id());
        assert_ne!(r2.top_via().unwrap().branch(), r1.top_via().unwrap().branch());
        let contact = format!("{};expires=600", r2.header("Contact").unwrap());
        answer(&second, from, &r2, 200, &[("Contact", contact)]).await;
        event(&mut ev, |e| {
            matches!(
                e,
                UaEvent::Registration {
                    event: RegEvent::Registered { .. },
                    ..
                }
            )
        })
        .await;
        assert!(h.with(|ua, _| ua.registration_state(id).unwrap().is_registered()));
        assert_eq!(
            h.with(|ua, _| ua.host_target("pbx.test")),
            Some(second.local_addr().unwrap())
        );

        // INVITE: later requests keep the target that answered, so it goes to the second
        // directly; that one now refuses with 503 (ACKed by the transaction) and the INVITE
        // goes on to the first.
        let call = h
            .with(|ua, now| {
                ua.invite(
                    now,
                    InviteRequest {
                        account: Some(id),
                        target: Some("sip:2000@pbx.test".parse().unwrap()),
                        body: Some(Body::sdp(SDP)),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        let (i1, from) = recv_method(&second, "INVITE").await;
        answer(&second, from, &i1, 503, &[]).await;
        let (ack, _) = recv_method(&second, "ACK").await;
        assert_eq!(ack.top_via().unwrap().branch(), i1.top_via().unwrap().branch());
        let (i2, from) = recv_method(&first, "INVITE").await;
        assert_eq!(i2.cseq(), i1.cseq());
        assert_ne!(i2.top_via().unwrap().branch(), i1.top_via().unwrap().branch());
        let peer_contact = format!("<sip:2000@{}>", first.local_addr().unwrap());
        answer(
            &first,
            from,
            &i2,
            200,
            &[
                ("Contact", peer_contact),
                ("Content-Type", "application/sdp".into()),
            ],
        )
        .await;
        let e = event(&mut ev, |e| {
            matches!(e, UaEvent::Answered { .. } | UaEvent::Failed { .. })
        })
        .await;
        assert!(
            matches!(e, UaEvent::Answered { call: c, .. } if c == call),
            "{e:?}"
        );
        let (ack, _) = recv_method(&first, "ACK").await;
        assert_eq!(ack.cseq().unwrap().seq, i2.cseq().unwrap().seq);
        edge.shutdown();
    })
    .await
    .expect("bounded");
}
