//! The learned public addresses reach the wire: the NAT tests' STUN responder (nat_support) maps every
//! client to 127.0.0.2 (another loopback address), and the gateway's INVITE then carries that
//! address in Via, Contact and the SDP (o=, c=, m=). Also the static external address, and the
//! fallback to the local address when STUN does not answer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gateway::call::control::{CallControl, SipRequest};
use gateway::call::sipleg::{SipLegs, bind_rtp, sdp_of};
use gateway::call::{LegId, PortAction};
use gateway::nat::edge::{media_mapper, stun_media_mapper};
use gateway::nat::mapping::Retransmit;
use gateway::sip::ua::{UaConfig, UaOutput, UserAgent};
use gateway::sip::wire::{Message, Method};

mod nat_support;
use nat_support::responder::{MAPPED_IP, mapped_port, responder};

const CONFIG: &str = r#"
[[account]]
name = "a"
user = "2125550100"
domain = "127.0.0.3:5062"
register = false

[[port]]
id = 0
kind = "fxs"
account = "a"
"#;

/// Dials from port 0 and returns the INVITE the gateway sends.
fn invite(ua_local: SocketAddr, mapper: Option<gateway::nat::edge::MediaMapper>) -> Message {
    let cfg = gateway::config::parse(CONFIG).expect("config");
    let mut cc = CallControl::from_config(&cfg).expect("ports");
    let ids = Arc::new(Mutex::new(HashMap::new()));
    let mut legs = SipLegs::new(&cfg, IpAddr::V4(Ipv4Addr::LOCALHOST), ids, 4);
    legs.set_media_mapper(mapper);
    let mut c = UaConfig::new(ua_local);
    c.seed = 1;
    let mut ua = UserAgent::new(c);
    let mut bind = bind_rtp;
    legs.request(
        &mut ua,
        &mut cc,
        SipRequest {
            port: 0,
            action: PortAction::Invite {
                leg: LegId(1),
                number: "5550147".into(),
                caller: None,
            },
        },
        Instant::now(),
        hal::Instant::ZERO,
        &mut bind,
    );
    while let Some(o) = ua.poll_output() {
        if let UaOutput::Send { msg, .. } = o
            && matches!(msg.method(), Some(Method::Invite))
        {
            return msg;
        }
    }
    panic!("no INVITE sent");
}

fn sdp(m: &Message) -> String {
    String::from_utf8(sdp_of(m).expect("SDP").to_vec()).unwrap()
}

/// The (address, port) of the SDP's c= and m= lines, checking o= carries the same address.
fn sdp_addr(s: &str) -> (String, u16) {
    let line = |p: &str| s.lines().find(|l| l.starts_with(p)).unwrap_or("").to_string();
    let c = line("c=IN IP4 ");
    let ip = c.trim_start_matches("c=IN IP4 ").to_string();
    assert!(line("o=").ends_with(&format!("IN IP4 {ip}")), "{s}");
    let m = line("m=audio ");
    let port = m.split(' ').nth(1).unwrap().parse().unwrap();
    (ip, port)
}

#[test]
fn stun_mapping_goes_into_sdp_via_and_contact() {
    let stun = responder();
    let server = stun.addr;
    // The SIP side: the monitor's mapping of the SIP socket, as `SipNat` applies it.
    let sip_local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let sip_public = SocketAddr::new(IpAddr::V4(MAPPED_IP), mapped_port(5060));
    let msg = invite(sip_public, Some(stun_media_mapper(server, Retransmit::MEDIA)));
    drop(stun);
    let contact = msg.header("Contact").expect("Contact");
    assert!(contact.contains(&format!("@{sip_public}")), "{contact}");
    let via = msg.header("Via").expect("Via");
    assert!(via.contains(&sip_public.to_string()), "{via}");
    assert!(!via.contains(&sip_local.to_string()), "{via}");
    let body = sdp(&msg);
    let (ip, port) = sdp_addr(&body);
    assert_eq!(ip, "127.0.0.2", "{body}");
    // The RTP socket's own mapping (an even port of the range, mapped by the responder).
    let cfg = gateway::config::parse(CONFIG).unwrap();
    let bound = port - 1000;
    assert!(
        bound.is_multiple_of(2) && (cfg.network.rtp_port_min..=cfg.network.rtp_port_max).contains(&bound),
        "{body}"
    );
}

#[test]
fn external_address_goes_into_sdp_with_the_local_port() {
    let nat = gateway::config::model::Nat {
        external_address: "127.0.0.4".into(),
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mapper = rt.block_on(media_mapper(&nat, IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let msg = invite("127.0.0.4:5060".parse().unwrap(), mapper);
    let (ip, port) = sdp_addr(&sdp(&msg));
    assert_eq!(ip, "127.0.0.4");
    let cfg = gateway::config::parse(CONFIG).unwrap();
    assert!((cfg.network.rtp_port_min..=cfg.network.rtp_port_max).contains(&port));
}

#[test]
fn no_stun_answer_keeps_the_local_address() {
    // A server that never answers: the SDP keeps 127.0.0.1 after the bounded wait.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let msg = invite(
        "127.0.0.1:5060".parse().unwrap(),
        Some(stun_media_mapper(silent.local_addr().unwrap(), Retransmit::MEDIA)),
    );
    let (ip, _) = sdp_addr(&sdp(&msg));
    assert_eq!(ip, "127.0.0.1");
    // It did ask, three times (0, 100, 300 ms).
    silent.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 200];
    let mut n = 0;
    while silent.recv_from(&mut buf).is_ok() {
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn sip_socket_learns_its_mapping_through_the_sip_edge() {
    let stun = responder();
    let (_, adv, local) = nat_support::sip_edge_mapping(stun.addr);
    drop(stun);
    assert_eq!(
        adv,
        SocketAddr::new(IpAddr::V4(MAPPED_IP), mapped_port(local.port()))
    );
}

#[test]
fn external_address_is_validated() {
    let bad = CONFIG.replacen(
        "[[account]]",
        "[nat]\nexternal_address = \"not-an-ip\"\n\n[[account]]",
        1,
    );
    let err = gateway::config::parse(&bad).unwrap_err().to_string();
    assert!(err.contains("nat.external_address"), "{err}");
    let good = CONFIG.replacen(
        "[[account]]",
        "[nat]\nexternal_address = \"203.0.113.7\"\n\n[[account]]",
        1,
    );
    let cfg = gateway::config::parse(&good).unwrap();
    assert_eq!(
        gateway::nat::external_ip(&cfg.nat),
        Some("203.0.113.7".parse().unwrap())
    );
}
