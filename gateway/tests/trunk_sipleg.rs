//! SIP-T in the SIP legs of the ports' calls, sans-IO: the gateway's user agent, call control
//! and [`SipLegs`] wired back to back with a second user agent playing the SIP-T softswitch,
//! in virtual time (only the RTP sockets are bound, on loopback).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gateway::call::control::{CallControl, SipRequest};
use gateway::call::sipleg::{
    SipLegs, bind_rtp, ended_event, failure_status, incoming_trunk_event, isup_of, progress_status,
    trunk_body,
};
use gateway::call::{LegId, PortAction, SipEvent};
use gateway::config::model::TrunkProfile;
use gateway::sip::transport::{Inbound, TransportKind};
use gateway::sip::ua::call::InviteRequest;
use gateway::sip::ua::{Body, CallHandle, UaConfig, UaEvent, UaOutput, UserAgent};
use gateway::sip::wire::{Message, Method, Uri};
use gateway::trunk::interwork::{self, Numbering, RoutedNumber};
use gateway::trunk::isup::{self, MessageBody, MessageType, Variant, param::nai};
use gateway::trunk::profile::TrunkBehaviour;

const GW: &str = "127.0.0.1:5060";
const SS: &str = "127.0.0.2:5062";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SDP: &str = "v=0\r\no=ss 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn sipt() -> Option<TrunkBehaviour> {
    Some(TrunkBehaviour::new(TrunkProfile::SipT))
}

/// The gateway (user agent, call control, SIP legs) and a softswitch user agent.
struct Rig {
    now: Instant,
    gw: UserAgent,
    cc: CallControl,
    legs: SipLegs,
    ss: UserAgent,
    /// Events of the softswitch.
    events: Vec<UaEvent>,
    /// Every message on the wire: (from the gateway, message).
    wire: Vec<(bool, Message)>,
    /// Media commands call control queued, as text.
    media: Vec<String>,
}

const CONFIG: &str = r#"
[[account]]
name = "a"
user = "2125550100"
domain = "127.0.0.2:5062"
register = false
trunk_profile = "sip-t"

[[account]]
name = "b"
user = "5550199"
domain = "127.0.0.2:5062"
register = false
trunk_profile = "sip-t"

[[account]]
name = "plain"
user = "5550200"
domain = "127.0.0.2:5062"
register = false

[[port]]
id = 0
kind = "fxs"
account = "a"

[[port]]
id = 1
kind = "fxs"
account = "b"

[[port]]
id = 2
kind = "fxs"
account = "plain"

[[account]]
name = "nanp"
user = "3125550100"
domain = "127.0.0.2:5062"
register = false
trunk_profile = "sip-i"
isup_national_prefix = "1"
isup_international_prefix = "011"
isup_t6_s = 30

[[port]]
id = 3
kind = "fxs"
account = "nanp"

[[port]]
id = 4
kind = "fxs"
account = "plain"
redundancy = true
"#;

impl Rig {
    fn new() -> Rig {
        let cfg = gateway::config::parse(CONFIG).expect("config");
        let cc = CallControl::from_config(&cfg).expect("ports");
        let ids = Arc::new(Mutex::new(HashMap::new()));
        let legs = SipLegs::new(&cfg, IpAddr::V4(Ipv4Addr::LOCALHOST), ids, 8);
        let mut c = UaConfig::new(sa(GW));
        c.seed = 1;
        let mut s = UaConfig::new(sa(SS));
        s.seed = 2;
        Rig {
            now: Instant::now(),
            gw: UserAgent::new(c),
            cc,
            legs,
            ss: UserAgent::new(s),
            events: Vec::new(),
            wire: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Carries messages, events and the ports' SIP requests until all is quiet.
    fn run(&mut self) {
        let at = hal::Instant::ZERO;
        let mut bind = bind_rtp;
        loop {
            let mut moved = false;
            while let Some(o) = self.gw.poll_output() {
                moved = true;
                match o {
                    UaOutput::Send { msg, .. } => {
                        self.wire.push((true, msg.clone()));
                        let inb = Inbound {
                            transport: TransportKind::Udp,
                            source: sa(GW),
                            local: sa(SS),
                            conn: None,
                            data: msg.to_bytes(),
                        };
                        self.ss.handle_inbound(self.now, &inb);
                    }
                    UaOutput::Event(e) => {
                        self.legs
                            .ua_event(&mut self.gw, &mut self.cc, e, self.now, at, &mut bind)
                    }
                    _ => {}
                }
            }
            while let Some(o) = self.ss.poll_output() {
                moved = true;
                match o {
                    UaOutput::Send { msg, .. } => {
                        self.wire.push((false, msg.clone()));
                        let inb = Inbound {
                            transport: TransportKind::Udp,
                            source: sa(SS),
                            local: sa(GW),
                            conn: None,
                            data: msg.to_bytes(),
                        };
                        self.gw.handle_inbound(self.now, &inb);
                    }
                    UaOutput::Event(e) => self.events.push(e),
                    _ => {}
                }
            }
            while let Some(r) = self.cc.take_sip() {
                moved = true;
                self.legs
                    .request(&mut self.gw, &mut self.cc, r, self.now, at, &mut bind);
            }
            while let Some(m) = self.cc.take_media() {
                self.media.push(format!("{m:?}"));
            }
            if !moved {
                break;
            }
        }
    }

    /// A port's request, as call control would hand it over.
    fn port(&mut self, port: u8, action: PortAction) {
        let mut bind = bind_rtp;
        self.legs.request(
            &mut self.gw,
            &mut self.cc,
            SipRequest { port, action },
            self.now,
            hal::Instant::ZERO,
            &mut bind,
        );
        self.run();
    }

    /// The last message the gateway sent that satisfies `f`.
    fn sent(&self, f: impl Fn(&Message) -> bool) -> &Message {
        self.wire
            .iter()
            .rev()
            .find(|(gw, m)| *gw && f(m))
            .map(|(_, m)| m)
            .expect("no such message from the gateway")
    }

    fn ss_incoming(&mut self) -> (CallHandle, Message) {
        let i = self
            .events
            .iter()
            .position(|e| matches!(e, UaEvent::Incoming { .. }))
            .expect("the softswitch got no INVITE");
        match self.events.remove(i) {
            UaEvent::Incoming { call, request, .. } => (call, request),
            _ => unreachable!(),
        }
    }
}

fn isup(m: &Message) -> isup::Message {
    isup_of(m, Variant::Itu)
        .expect("body accepted")
        .expect("ISUP present")
}

fn sipt_body(
    sdp: Option<&str>,
    m: &isup::Message,
    headers_allowed: bool,
) -> (Option<Body>, Vec<(String, String)>) {
    trunk_body(
        sipt(),
        sdp.map(|s| s.as_bytes().to_vec()),
        Some(m),
        7,
        headers_allowed,
    )
}

#[test]
fn outgoing_invite_carries_the_iam_and_a_rel_picks_the_status() {
    let mut r = Rig::new();
    r.port(
        0,
        PortAction::Invite {
            leg: LegId(1),
            number: "0215550147".into(),
            caller: None,
        },
    );
    let (call, invite) = r.ss_incoming();
    assert!(
        invite
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("multipart/mixed")),
        "{invite}"
    );
    assert!(
        gateway::call::sipleg::sdp_of(&invite).is_some(),
        "SDP in the multipart body"
    );
    let iam = isup(&invite);
    let MessageBody::Iam(body) = &iam.body else {
        panic!("not an IAM: {iam:?}")
    };
    // The trunk prefix 0 makes the number national and is not sent.
    assert_eq!(body.called.digits, "215550147");
    assert_eq!(body.called.nai, nai::NATIONAL);
    let calling = iam.calling_party_number().expect("calling party number");
    assert_eq!(calling.digits, "2125550100");
    assert_eq!(calling.presentation, isup::param::presentation::ALLOWED);

    // 180 with an ACM, then a 480 whose REL says user busy.
    let (b, _) = sipt_body(None, &interwork::acm_ringing(), false);
    r.ss.ring(r.now, call, 180, b, false).unwrap();
    r.run();
    let rel = interwork::rel_with_cause(17, isup::param::location::PUBLIC_LOCAL);
    let (b, h) = sipt_body(None, &rel, true);
    r.ss.reject_with_body(r.now, call, 480, b, &h).unwrap();
    r.run();
    assert_eq!(r.legs.len(), 0, "the leg is gone");
    let failed = r
        .wire
        .iter()
        .find(|(gw, m)| !*gw && m.status() == Some(480))
        .map(|(_, m)| m.clone())
        .expect("480 on the wire");
    assert_eq!(failure_status(480, Some(&failed), Variant::Itu).0, 486);
}

#[test]
fn outgoing_call_from_a_pstn_line_presents_its_caller_id() {
    let mut r = Rig::new();
    r.port(
        0,
        PortAction::Invite {
            leg: LegId(2),
            number: "+442079460000".into(),
            caller: Some(gateway::call::CallerInfo {
                number: "2125550147".into(),
                name: String::new(),
                private: true,
            }),
        },
    );
    let (_, invite) = r.ss_incoming();
    let iam = isup(&invite);
    let MessageBody::Iam(body) = &iam.body else {
        panic!("not an IAM")
    };
    assert_eq!(body.called.nai, nai::INTERNATIONAL);
    assert_eq!(body.called.digits, "442079460000");
    let calling = iam.calling_party_number().expect("calling party number");
    assert_eq!(calling.digits, "2125550147");
    assert_eq!(calling.presentation, isup::param::presentation::RESTRICTED);
}

#[test]
fn plain_sip_account_sends_sdp_only() {
    let mut r = Rig::new();
    r.port(
        2,
        PortAction::Invite {
            leg: LegId(3),
            number: "5550100".into(),
            caller: None,
        },
    );
    let (_, invite) = r.ss_incoming();
    assert_eq!(invite.header("Content-Type"), Some("application/sdp"));
}

/// The far end's answer: PCMU, with RFC 2198 redundancy of PCMU offered back.
const SDP_RED: &str = "v=0\r\no=ss 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 121\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:121 red/8000\r\na=fmtp:121 0/0\r\n";

/// Places a call from `port` answered with [`SDP_RED`]; returns our offer and the stream
/// changes call control made.
fn call_answered_with_red(port: u8) -> (String, Vec<String>) {
    let mut r = Rig::new();
    r.port(
        port,
        PortAction::Invite {
            leg: LegId(9),
            number: "5550100".into(),
            caller: None,
        },
    );
    let (call, invite) = r.ss_incoming();
    let offer = String::from_utf8_lossy(&invite.body).into_owned();
    r.media.clear();
    let body = Body {
        content_type: "application/sdp".into(),
        data: SDP_RED.as_bytes().to_vec(),
    };
    r.ss.answer(r.now, call, Some(body)).unwrap();
    r.run();
    let modified = r
        .media
        .iter()
        .filter(|m| m.starts_with("ModifyStream"))
        .cloned()
        .collect();
    (offer, modified)
}

#[test]
fn port_redundancy_setting_offers_red_and_the_stream_sends_it() {
    let (offer, modified) = call_answered_with_red(4);
    assert!(offer.contains(" red/8000\r\n"), "{offer}");
    assert_eq!(modified.len(), 1, "{modified:?}");
    assert!(modified[0].contains("red_pt: Some(121)"), "{modified:?}");
    // Without the setting the offer has no red, and an answer with red gets plain audio.
    let (offer, modified) = call_answered_with_red(2);
    assert!(!offer.contains("red/8000"), "{offer}");
    assert_eq!(modified.len(), 1, "{modified:?}");
    assert!(modified[0].contains("red_pt: None"), "{modified:?}");
}

fn offer(r: &mut Rig, called: &str, extra_part: Option<(&str, &str)>) -> CallHandle {
    let mut iam = interwork::build_iam(
        &interwork::OutgoingCall {
            called,
            calling: Some("2125550147"),
            privacy: false,
        },
        &Numbering::default(),
        Variant::Itu,
    );
    // A caller in the softswitch's own numbering: national number.
    if let MessageBody::Iam(b) = &mut iam.body {
        b.called.nai = nai::NATIONAL;
    }
    let (mut body, headers) = sipt_body(Some(SDP), &iam, true);
    if let (Some((ct, disposition)), Some(b)) = (extra_part, body.as_mut()) {
        // The same parts plus one more.
        use gateway::sip::wire::multipart::{OwnedPart, emit};
        let isup = iam.emit(Variant::Itu).unwrap();
        let mut isup_part = OwnedPart::new("application/ISUP;version=itu-t92+", isup);
        isup_part
            .headers
            .push(("Content-Disposition".into(), "signal;handling=optional".into()));
        let mut extra = OwnedPart::new(ct, b"hello".to_vec());
        extra
            .headers
            .push(("Content-Disposition".into(), disposition.into()));
        let parts = [
            OwnedPart::new("application/sdp", SDP.as_bytes()),
            isup_part,
            extra,
        ];
        b.data = emit(&parts, "sipt-test-boundary").unwrap();
        b.content_type = "multipart/mixed;boundary=sipt-test-boundary".into();
    }
    let target = Uri::parse("sip:trunk@127.0.0.1:5060").unwrap().to_owned_uri();
    let call =
        r.ss.invite(
            r.now,
            InviteRequest {
                target: Some(target),
                body,
                headers,
                ..InviteRequest::default()
            },
        )
        .unwrap();
    r.run();
    call
}

#[test]
fn incoming_iam_routes_and_the_gateway_answers_in_isup() {
    let mut r = Rig::new();
    let call = offer(&mut r, "5550199", None);
    // The IAM's called number belongs to account b: port 1 rings, 180 with the ACM.
    assert_eq!(r.legs.calls(&r.gw).first().map(|c| c.port), Some(1));
    let ringing = r.sent(|m| m.status() == Some(180)).clone();
    assert_eq!(isup(&ringing).message_type(), MessageType::Acm);
    // Answer: ANM beside the SDP answer.
    let leg = LegId(0x8000_0001);
    r.port(1, PortAction::Answer(leg));
    let ok = r.sent(|m| m.status() == Some(200)).clone();
    assert!(gateway::call::sipleg::sdp_of(&ok).is_some());
    assert_eq!(isup(&ok).message_type(), MessageType::Anm);
    // Mid-call SUS in INFO: taken with 200.
    let sus = interwork::sus(true);
    let (b, _) = sipt_body(None, &sus, false);
    r.ss.dialog_request(r.now, call, Method::Info, b, &[]).unwrap();
    r.run();
    let info_ok = r
        .sent(|m| m.status().is_some() && m.cseq().is_some_and(|c| c.method == Method::Info))
        .clone();
    assert_eq!(info_ok.status(), Some(200));
    // Our hang-up: BYE with REL cause 16.
    r.port(1, PortAction::Bye(leg));
    let bye = r.sent(|m| m.method() == Some(&Method::Bye)).clone();
    let rel = isup(&bye);
    assert_eq!(rel.message_type(), MessageType::Rel);
    assert_eq!(rel.cause().map(|c| c.cause), Some(16));
}

#[test]
fn required_part_we_do_not_know_gets_415() {
    let mut r = Rig::new();
    offer(
        &mut r,
        "5550199",
        Some(("application/x-unknown", "signal;handling=required")),
    );
    let refused = r.sent(|m| m.status().is_some_and(|s| s >= 300)).clone();
    assert_eq!(refused.status(), Some(415));
    // Accept may come in several header rows (RFC 3261 7.3.1): ISUP is among them.
    assert!(
        refused
            .headers
            .iter()
            .any(|h| h.name_text.eq_ignore_ascii_case("Accept") && h.value.contains("application/isup")),
        "{refused}"
    );
    assert_eq!(r.legs.len(), 0);
}

#[test]
fn optional_part_we_do_not_know_is_ignored() {
    let mut r = Rig::new();
    offer(
        &mut r,
        "5550199",
        Some(("application/x-unknown", "signal;handling=optional")),
    );
    assert!(r.wire.iter().any(|(gw, m)| *gw && m.status() == Some(180)));
}

#[test]
fn busy_port_refuses_with_rel_user_busy() {
    let mut r = Rig::new();
    offer(&mut r, "5550199", None);
    // The same line again: busy, 486 with REL cause 17.
    offer(&mut r, "5550199", None);
    let refused = r.sent(|m| m.status() == Some(486)).clone();
    let rel = isup(&refused);
    assert_eq!(rel.cause().map(|c| c.cause), Some(17));
}

#[test]
fn port_view_of_trunk_messages() {
    assert_eq!(progress_status(183, Some(&interwork::acm_ringing())), 180);
    assert_eq!(progress_status(180, None), 180);
    let cpg = isup::Message::new(MessageBody::Cpg(isup::EventInformation::from_byte(
        isup::EventInformation::INBAND_INFO,
    )));
    assert_eq!(progress_status(180, Some(&cpg)), 183);

    // Caller ID from the IAM: restricted presentation is private, without the digits.
    let iam = interwork::build_iam(
        &interwork::OutgoingCall {
            called: "5550199",
            calling: Some("2125550147"),
            privacy: true,
        },
        &Numbering::default(),
        Variant::Itu,
    );
    let uri = Uri::parse("sip:trunk@127.0.0.1").unwrap().to_owned_uri();
    let mut invite = Message::request(Method::Invite, uri);
    invite.push_named("From", "\"Softswitch\" <sip:ss@127.0.0.2>;tag=1");
    let routed = RoutedNumber {
        number: "5550199".into(),
        from_iam: true,
    };
    match incoming_trunk_event(LegId(9), &invite, Some(&iam), &routed, &Numbering::default()) {
        SipEvent::Incoming { caller, called, .. } => {
            assert!(caller.private);
            assert!(caller.number.is_empty());
            assert_eq!(called, "5550199");
        }
        e => panic!("{e:?}"),
    }
}

/// An outgoing call of `port` answered by the softswitch (with an ANM on trunks).
fn answered_call(r: &mut Rig, port: u8, leg: LegId, number: &str) -> CallHandle {
    r.port(
        port,
        PortAction::Invite {
            leg,
            number: number.into(),
            caller: None,
        },
    );
    let (call, _) = r.ss_incoming();
    let (b, _) = sipt_body(Some(SDP), &isup::Message::new(MessageBody::Anm), false);
    r.ss.answer(r.now, call, b).unwrap();
    r.run();
    assert_eq!(r.legs.calls(&r.gw)[0].state, "connected");
    call
}

/// The last request of `method` the softswitch sent.
fn from_ss(r: &Rig, method: Method<String>) -> Message {
    r.wire
        .iter()
        .rev()
        .find(|(gw, m)| !*gw && m.method() == Some(&method))
        .map(|(_, m)| m.clone())
        .expect("no such request from the softswitch")
}

fn reason_cause(m: &Message) -> Option<interwork::ReasonCause> {
    m.header("Reason")
        .and_then(|v| interwork::parse_reason(v).ok().flatten())
}

#[test]
fn far_end_bye_with_rel_user_busy_plays_busy() {
    let mut r = Rig::new();
    let call = answered_call(&mut r, 0, LegId(1), "0215550147");
    let rel = interwork::rel_with_cause(17, isup::param::location::PUBLIC_LOCAL);
    let (b, h) = sipt_body(None, &rel, true);
    r.ss.bye_with_body(r.now, call, b, &h).unwrap();
    r.run();
    assert_eq!(r.legs.len(), 0);
    let bye = from_ss(&r, Method::Bye);
    let (ev, release) = ended_event(LegId(1), Some(&bye), Variant::Itu);
    assert_eq!(
        ev,
        SipEvent::Released {
            leg: LegId(1),
            status: 486
        }
    );
    assert_eq!(release.unwrap().cause.cause, 17);
    // REL 16 in the BYE: the usual far-end hang-up.
    let (b, h) = sipt_body(None, &interwork::rel_normal(), true);
    let mut normal = bye.clone();
    normal.remove("Content-Disposition");
    if let Some(b) = b {
        normal.set_body(&b.content_type, b.data);
    }
    for (k, v) in h {
        normal.push_named(&k, v);
    }
    assert_eq!(
        ended_event(LegId(1), Some(&normal), Variant::Itu).0,
        SipEvent::Ended { leg: LegId(1) }
    );
}

#[test]
fn far_end_bye_with_a_q850_reason_on_plain_sip() {
    let mut r = Rig::new();
    let call = answered_call(&mut r, 2, LegId(4), "5550100");
    let reason = [(
        "Reason".to_string(),
        "Q.850;cause=1;text=\"Unallocated number\"".to_string(),
    )];
    r.ss.bye_with_body(r.now, call, None, &reason).unwrap();
    r.run();
    assert_eq!(r.legs.len(), 0);
    let bye = from_ss(&r, Method::Bye);
    assert_eq!(
        ended_event(LegId(4), Some(&bye), Variant::Itu).0,
        SipEvent::Released {
            leg: LegId(4),
            status: 404
        }
    );
    // No Reason: a plain hang-up.
    let mut plain = bye.clone();
    plain.remove("Reason");
    assert_eq!(
        ended_event(LegId(4), Some(&plain), Variant::Itu),
        (SipEvent::Ended { leg: LegId(4) }, None)
    );
    assert_eq!(
        ended_event(LegId(4), None, Variant::Itu).0,
        SipEvent::Ended { leg: LegId(4) }
    );
}

#[test]
fn our_bye_carries_the_cause() {
    // SIP-T: REL 16 in the body and the Reason header.
    let mut r = Rig::new();
    answered_call(&mut r, 0, LegId(1), "0215550147");
    r.port(0, PortAction::Bye(LegId(1)));
    let bye = r.sent(|m| m.method() == Some(&Method::Bye)).clone();
    assert_eq!(isup(&bye).cause().map(|c| c.cause), Some(16));
    assert_eq!(
        reason_cause(&bye),
        Some(interwork::ReasonCause {
            cause: 16,
            location: Some(isup::param::location::USER)
        })
    );
    // Plain SIP: the Reason header alone.
    let mut r = Rig::new();
    answered_call(&mut r, 2, LegId(4), "5550100");
    r.port(2, PortAction::Bye(LegId(4)));
    let bye = r.sent(|m| m.method() == Some(&Method::Bye)).clone();
    assert!(bye.body.is_empty());
    assert_eq!(reason_cause(&bye).map(|c| c.cause), Some(16));
}

#[test]
fn our_cancel_carries_a_reason() {
    for (port, number) in [(0u8, "0215550147"), (2, "5550100")] {
        let mut r = Rig::new();
        r.port(
            port,
            PortAction::Invite {
                leg: LegId(5),
                number: number.into(),
                caller: None,
            },
        );
        let (call, _) = r.ss_incoming();
        r.ss.ring(r.now, call, 180, None, false).unwrap();
        r.run();
        r.port(port, PortAction::Cancel(LegId(5)));
        let cancel = r.sent(|m| m.method() == Some(&Method::Cancel)).clone();
        assert_eq!(
            reason_cause(&cancel).map(|c| c.cause),
            Some(16),
            "port {port}: {cancel}"
        );
        assert!(r.wire.iter().any(|(gw, m)| !*gw && m.status() == Some(487)));
        assert_eq!(r.legs.len(), 0);
    }
}

#[test]
fn cancel_from_the_trunk_gives_its_cause() {
    let mut r = Rig::new();
    let call = offer(&mut r, "5550199", None);
    assert_eq!(r.legs.len(), 1);
    let reason = [("Reason".to_string(), "Q.850;cause=3".to_string())];
    r.ss.cancel_with_headers(r.now, call, &reason).unwrap();
    r.run();
    assert_eq!(r.legs.len(), 0, "the ringing leg is gone");
    let cancel = from_ss(&r, Method::Cancel);
    let (ev, release) = ended_event(LegId(0x8000_0001), Some(&cancel), Variant::Itu);
    assert_eq!(
        ev,
        SipEvent::Released {
            leg: LegId(0x8000_0001),
            status: 404
        }
    );
    assert_eq!(release.unwrap().cause.cause, 3);
}

/// An incoming trunk call to port 1, answered.
fn answered_incoming(r: &mut Rig) -> CallHandle {
    let call = offer(r, "5550199", None);
    r.port(1, PortAction::Answer(LegId(0x8000_0001)));
    call
}

fn info(r: &mut Rig, call: CallHandle, m: &isup::Message) {
    let (b, _) = sipt_body(None, m, false);
    r.ss.dialog_request(r.now, call, Method::Info, b, &[]).unwrap();
    r.run();
}

fn advance(r: &mut Rig, secs: u64) {
    r.now += std::time::Duration::from_secs(secs);
    r.legs.poll(&mut r.gw, &mut r.cc, r.now, hal::Instant::ZERO);
    r.run();
}

fn byes(r: &Rig) -> usize {
    r.wire
        .iter()
        .filter(|(gw, m)| *gw && m.method() == Some(&Method::Bye))
        .count()
}

#[test]
fn suspended_past_t6_releases_with_cause_102() {
    let mut r = Rig::new();
    let call = answered_incoming(&mut r);
    assert_eq!(r.legs.next_deadline(), None);
    info(&mut r, call, &interwork::sus(true));
    assert_eq!(
        r.legs.next_deadline(),
        Some(r.now + std::time::Duration::from_millis(interwork::SuspendTimer::T6_MS))
    );
    advance(&mut r, 89);
    assert_eq!(byes(&r), 0);
    assert_eq!(r.legs.len(), 1);
    advance(&mut r, 1);
    assert_eq!(byes(&r), 1);
    assert_eq!(r.legs.len(), 0);
    assert_eq!(r.legs.next_deadline(), None);
    let bye = r.sent(|m| m.method() == Some(&Method::Bye)).clone();
    assert_eq!(isup(&bye).cause().map(|c| c.cause), Some(102));
    assert_eq!(reason_cause(&bye).map(|c| c.cause), Some(102));
    // The softswitch saw the call end.
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, UaEvent::Terminated { call: c, .. } if *c == call))
    );
}

#[test]
fn resume_stops_the_suspend_timer() {
    let mut r = Rig::new();
    let call = answered_incoming(&mut r);
    info(&mut r, call, &interwork::sus(true));
    advance(&mut r, 60);
    info(&mut r, call, &interwork::res(true));
    assert_eq!(r.legs.next_deadline(), None);
    advance(&mut r, 300);
    assert_eq!(byes(&r), 0);
    assert_eq!(r.legs.len(), 1);
    // User-initiated suspend: T2 (3 min).
    info(&mut r, call, &interwork::sus(false));
    advance(&mut r, 179);
    assert_eq!(byes(&r), 0);
    advance(&mut r, 1);
    assert_eq!(byes(&r), 1);
}

#[test]
fn account_numbering_and_t6_come_from_the_configuration() {
    let mut r = Rig::new();
    r.port(
        3,
        PortAction::Invite {
            leg: LegId(6),
            number: "13125550147".into(),
            caller: None,
        },
    );
    let (call, invite) = r.ss_incoming();
    // SIP-I: required handling.
    assert!(format!("{invite}").contains("handling=required"), "{invite}");
    let iam = isup(&invite);
    let MessageBody::Iam(body) = &iam.body else {
        panic!("not an IAM")
    };
    assert_eq!(
        (body.called.nai, body.called.digits.as_str()),
        (nai::NATIONAL, "3125550147")
    );
    let calling = iam.calling_party_number().unwrap();
    assert_eq!(calling.digits, "3125550100");
    let (b, _) = trunk_body(
        Some(TrunkBehaviour::new(TrunkProfile::SipI)),
        Some(SDP.as_bytes().to_vec()),
        Some(&isup::Message::new(MessageBody::Anm)),
        3,
        false,
    );
    r.ss.answer(r.now, call, b).unwrap();
    r.run();
    let (b, _) = trunk_body(
        Some(TrunkBehaviour::new(TrunkProfile::SipI)),
        None,
        Some(&interwork::sus(true)),
        4,
        false,
    );
    r.ss.dialog_request(r.now, call, Method::Info, b, &[]).unwrap();
    r.run();
    // T6 is this account's 30 s.
    advance(&mut r, 29);
    assert_eq!(byes(&r), 0);
    advance(&mut r, 1);
    assert_eq!(byes(&r), 1);

    // International prefix 011.
    r.port(
        3,
        PortAction::Invite {
            leg: LegId(7),
            number: "011442079460000".into(),
            caller: None,
        },
    );
    let (_, invite) = r.ss_incoming();
    let MessageBody::Iam(body) = isup(&invite).body else {
        panic!("not an IAM")
    };
    assert_eq!(
        (body.called.nai, body.called.digits.as_str()),
        (nai::INTERNATIONAL, "442079460000")
    );
}
