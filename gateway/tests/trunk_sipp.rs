//! SIP-T calls through the UA and transport edge to sipp acting as a SIP-T softswitch
//! (fixtures/trunk): the INVITE carries SDP + IAM in multipart/mixed; one call is answered
//! and hung up, one is refused busy and releases with cause 17 and busy tone.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gateway::sip::transport::{EdgeConfig, SipEdge};
use gateway::sip::ua::call::InviteRequest;
use gateway::sip::ua::driver::spawn;
use gateway::sip::ua::{Body, UaConfig, UaEvent, UserAgent};
use gateway::trunk::interwork::*;
use gateway::trunk::isup::Variant;
use gateway::trunk::mime::{Handling, build_body};
use tokio::time::timeout;

const SDP: &[u8] = b"v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

struct Peer(Child);
impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sipp_available() -> bool {
    let ok = Command::new("sh")
        .args(["-c", "command -v sipp"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "sipp missing: scripts/deps.sh test"
    );
    ok
}

fn softswitch(scenario: &str, port: u16) -> Peer {
    let sf = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/trunk/").to_string() + scenario;
    Peer(
        Command::new("sipp")
            .args(["-sf", &sf, "-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin"])
            .current_dir(std::env::temp_dir())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp"),
    )
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

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sipt_invite(port: u16) -> InviteRequest {
    let iam = build_iam(
        &OutgoingCall {
            called: "5551234",
            calling: Some("2125550100"),
            privacy: false,
        },
        &Numbering::default(),
        Variant::Itu,
    )
    .emit(Variant::Itu)
    .unwrap();
    let body = build_body(Some(SDP), Some((&iam, Variant::Itu, Handling::Optional)), 3).unwrap();
    InviteRequest {
        target: Some(format!("sip:5551234@127.0.0.1:{port}").parse().unwrap()),
        body: Some(Body {
            content_type: body.content_type,
            data: body.body,
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn sipp_softswitch_answer_and_busy() {
    if !sipp_available() {
        return;
    }
    let cfg = EdgeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        tcp: false,
        ..EdgeConfig::default()
    };
    let (edge, inbound) = SipEdge::bind(cfg).await.unwrap();
    let mut c = UaConfig::new(edge.udp_local_addr());
    c.session_timer = None;
    let (h, mut ev, _task) = spawn(UserAgent::new(c), edge, inbound);

    // Answered call.
    let port = free_port();
    let mut peer = softswitch("sipt_softswitch_answer.xml", port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let call = h.with(|ua, now| ua.invite(now, sipt_invite(port))).unwrap();
    let mut progress = Vec::new();
    let answered = timeout(Duration::from_secs(10), async {
        loop {
            match ev.recv().await.expect("driver") {
                UaEvent::Progress { status, .. } => progress.push(progress_of(status, None)),
                UaEvent::Answered { response, .. } => return Some(response),
                UaEvent::Failed { status, .. } => panic!("call failed {status}"),
                _ => {}
            }
        }
    })
    .await
    .expect("answer in time");
    assert!(answered.is_some());
    assert_eq!(progress, [CallProgress::Ringing]);
    h.with(|ua, now| ua.bye(now, call)).unwrap();
    assert!(wait_exit(&mut peer).await, "answer scenario failed");

    // Busy call: 486 maps to cause 17, busy tone.
    let port = free_port();
    let mut peer = softswitch("sipt_softswitch_busy.xml", port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.with(|ua, now| ua.invite(now, sipt_invite(port))).unwrap();
    let status = timeout(Duration::from_secs(10), async {
        loop {
            if let UaEvent::Failed { status, .. } = ev.recv().await.expect("driver") {
                return status;
            }
        }
    })
    .await
    .expect("failure in time");
    let r = release_of(Some(status), None);
    assert_eq!((status, r.cause.cause, r.tone), (486, 17, ReleaseTone::Busy));
    assert!(wait_exit(&mut peer).await, "busy scenario failed");
}
