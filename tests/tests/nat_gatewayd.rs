//! gatewayd behind a (simulated) NAT: the NAT tests' STUN server (gateway/tests/nat_support/responder.rs) answers every Binding request
//! with 127.0.0.2 and the source port plus 1000, as a NAT would. gatewayd must register with
//! that address in Via and Contact, and a call from its phone must offer SDP with 127.0.0.2 and
//! the RTP socket's own mapped port. The registrar and proxy is a plain UDP socket here.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::Gatewayd;
use e2e::kamailio::free_udp_port;

#[path = "../../gateway/tests/nat_support/responder.rs"]
mod responder;
use responder::{MAPPED_IP, mapped_port, responder};

const T: Duration = Duration::from_secs(10);

/// The next SIP request of `method` on `sock`, answering others' retransmissions not at all.
fn next_request(sock: &UdpSocket, method: &str, deadline: Instant) -> Option<(String, SocketAddr)> {
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with(&format!("{method} ")) {
            return Some((text, from));
        }
    }
    None
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A 200 OK to a REGISTER (Contact echoed with its expiry).
fn ok_to(req: &str) -> String {
    let mut r = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        if let Some(v) = header(req, name) {
            r.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    if let Some(to) = header(req, "To") {
        r.push_str(&format!("To: {to};tag=reg1\r\n"));
    }
    if let Some(c) = header(req, "Contact") {
        r.push_str(&format!("Contact: {c};expires=60\r\n"));
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

#[test]
fn gatewayd_advertises_its_stun_mappings_in_register_and_invite() {
    let stun = responder();
    let proxy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let sip_port = free_udp_port();
    let config = format!(
        "[network]\ninterface = \"127.0.0.1\"\nsip_port = {sip_port}\nt1_ms = 100\n\
         [nat]\nstun_server = \"{}\"\n\
         [[account]]\nname = \"main\"\nuser = \"1001\"\ndomain = \"127.0.0.1\"\n\
         outbound_proxy = \"{proxy_addr}\"\nexpires_s = 60\n\
         [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"main\"\n",
        stun.addr
    );
    let mut gw = Gatewayd::start("nat-gatewayd", &["fxs"], &config);
    let public = SocketAddr::new(IpAddr::V4(MAPPED_IP), mapped_port(sip_port));

    let (reg, from) = next_request(&proxy, "REGISTER", Instant::now() + T)
        .unwrap_or_else(|| panic!("no REGISTER:\n{}", gw.output.join("\n")));
    let contact = header(&reg, "Contact").expect("Contact");
    assert!(contact.contains(&format!("@{public}")), "{reg}");
    let via = header(&reg, "Via").expect("Via");
    assert!(via.contains(&format!(" {public}")), "{reg}");
    proxy.send_to(ok_to(&reg).as_bytes(), from).unwrap();
    assert!(
        gw.wait_output("account main registered", T).is_some(),
        "{}",
        gw.output.join("\n")
    );
    assert!(
        gw.output
            .iter()
            .any(|l| l.contains(&format!("nat: SIP public address {public}"))),
        "{}",
        gw.output.join("\n")
    );

    let fxs = gw.ports.iter().find(|(k, _)| k == "fxs").map(|p| p.1).unwrap();
    let phone = SimPhone::connect(fxs, PhoneConfig::default()).expect("attach phone");
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    phone.dial_dtmf("5550147").expect("dial");
    let (invite, _) = next_request(&proxy, "INVITE", Instant::now() + T)
        .unwrap_or_else(|| panic!("no INVITE:\n{}", gw.output.join("\n")));
    assert!(
        header(&invite, "Contact")
            .expect("Contact")
            .contains(&format!("@{public}"))
    );
    let body = invite.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(body.contains("c=IN IP4 127.0.0.2\r\n"), "{invite}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("o=") && l.ends_with("IN IP4 127.0.0.2")),
        "{invite}"
    );
    let m_port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no m=audio: {invite}"));
    // The default RTP range is 16384..16482: the mapped port of an even port of it.
    let bound = m_port - 1000;
    assert!(
        bound.is_multiple_of(2) && (16384..=16482).contains(&bound),
        "{invite}"
    );
    phone.on_hook();
    gw.stop();
}
