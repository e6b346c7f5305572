//! SIP-T traffic on loopback, captured with tshark and decoded by Wireshark's own SIP,
//! multipart and ISUP dissectors: the IAM in the INVITE, the ACM in the 180, the ANM in the
//! 200 and the REL in the BYE carry the values the gateway put there.
//!
//! Both ends are the gateway's trunk layer (an outgoing call's UAC side and an incoming
//! call's UAS side) on two loopback UDP sockets; each received message is parsed back and
//! drives the interworking functions as the call would.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use gateway::sip::wire::SipMsg;
use gateway::trunk::interwork::{
    CallProgress, Numbering, OutgoingCall, acm_ringing, answer_message, build_iam, progress_of, rel_normal,
    release_of, route_number,
};
use gateway::trunk::isup::{Message, MessageType, Variant};
use gateway::trunk::mime::{Handling, OutgoingBody, build_body, parse_message};

fn tool(name: &str) -> bool {
    let ok = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("{name} missing: install scripts/deps.d/test-trunk.apt (scripts/deps.sh test)");
    }
    ok
}

fn sip(start: &str, from_port: u16, to_port: u16, cseq: &str, body: Option<OutgoingBody>) -> Vec<u8> {
    let mut head = format!(
        "{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:{from_port};branch=z9hG4bK-sipt-{}\r\n\
From: <sip:2125550100@127.0.0.1>;tag=gw1\r\nTo: <sip:5551234@127.0.0.1>;tag=ss1\r\n\
Call-ID: sipt-capture@127.0.0.1\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n\
Contact: <sip:gw@127.0.0.1:{from_port}>\r\n",
        to_port
    );
    let body = match body {
        Some(b) => {
            head.push_str(&format!("Content-Type: {}\r\n", b.content_type));
            if let Some(d) = &b.content_disposition {
                head.push_str(&format!("Content-Disposition: {d}\r\n"));
            }
            head.push_str("MIME-Version: 1.0\r\n");
            b.body
        }
        None => Vec::new(),
    };
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

fn isup_of(buf: &[u8]) -> (SipMsg<'_>, Option<Message>) {
    let msg = SipMsg::parse_datagram(buf).expect("SIP parses");
    let body = parse_message(&msg, Variant::Itu).expect("body accepted");
    let isup = body
        .isup
        .map(|p| Message::parse(p.bytes, p.variant).expect("ISUP parses"));
    (msg, isup)
}

fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = s.recv(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[test]
fn wireshark_decodes_sip_t_call() {
    if !tool("tshark") {
        eprintln!("tshark not installed; skipping");
        return;
    }
    let gw = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ss = UdpSocket::bind("127.0.0.1:0").unwrap();
    gw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ss.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (gp, sp) = (gw.local_addr().unwrap().port(), ss.local_addr().unwrap().port());
    let dir = std::env::temp_dir().join(format!("trunk-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("sipt.pcap");
    // Bounded capture: stops after the four messages or 30 s.
    let mut cap = Command::new("tshark")
        .args(["-i", "lo", "-f", &format!("udp port {gp} and udp port {sp}")])
        .args(["-c", "4", "-a", "duration:30", "-w"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        // dumpcap reports "Capture started" once packets are being recorded ("Capturing on"
        // comes earlier, before the filter is attached).
        use std::io::Read;
        let mut err = cap.stderr.take().unwrap();
        let mut seen = Vec::new();
        let mut b = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("Capture started") {
            let n = err.read(&mut b).unwrap();
            assert!(n > 0, "tshark exited: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&b[..n]);
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    }
    let numbering = Numbering::default();

    // 1. Outgoing call: INVITE with SDP + IAM.
    let iam = build_iam(
        &OutgoingCall {
            called: "5551234",
            calling: Some("2125550100"),
            privacy: true,
        },
        &numbering,
        Variant::Itu,
    );
    let iam_b = iam.emit(Variant::Itu).unwrap();
    let body = build_body(Some(SDP), Some((&iam_b, Variant::Itu, Handling::Optional)), 42);
    gw.send_to(
        &sip("INVITE sip:5551234@127.0.0.1 SIP/2.0", gp, sp, "1 INVITE", body),
        ("127.0.0.1", sp),
    )
    .unwrap();
    let data = recv(&ss);
    let (msg, got) = isup_of(&data);
    let got = got.expect("IAM present");
    assert_eq!(got, iam);
    assert_eq!(
        route_number(
            Some(&got),
            msg.request_uri().map(|_| "x").unwrap_or(""),
            &numbering
        )
        .number,
        "5551234"
    );

    // 2. 180 with ACM.
    let acm = acm_ringing().emit(Variant::Itu).unwrap();
    let body = build_body(None, Some((&acm, Variant::Itu, Handling::Optional)), 0);
    ss.send_to(
        &sip("SIP/2.0 180 Ringing", sp, gp, "1 INVITE", body),
        ("127.0.0.1", gp),
    )
    .unwrap();
    let data = recv(&gw);
    let (msg, got) = isup_of(&data);
    assert_eq!(
        progress_of(msg.status().unwrap(), got.as_ref()),
        CallProgress::Ringing
    );

    // 3. 200 with SDP + ANM.
    let anm = answer_message(true).emit(Variant::Itu).unwrap();
    let body = build_body(Some(SDP), Some((&anm, Variant::Itu, Handling::Optional)), 9);
    ss.send_to(
        &sip("SIP/2.0 200 OK", sp, gp, "1 INVITE", body),
        ("127.0.0.1", gp),
    )
    .unwrap();
    let data = recv(&gw);
    let (msg, got) = isup_of(&data);
    assert_eq!(
        progress_of(msg.status().unwrap(), got.as_ref()),
        CallProgress::Answered
    );

    // 4. The analog subscriber hangs up: BYE with REL cause 16.
    let rel = rel_normal().emit(Variant::Itu).unwrap();
    let body = build_body(None, Some((&rel, Variant::Itu, Handling::Optional)), 0);
    gw.send_to(
        &sip("BYE sip:ss@127.0.0.1 SIP/2.0", gp, sp, "2 BYE", body),
        ("127.0.0.1", sp),
    )
    .unwrap();
    let data = recv(&ss);
    let (_, got) = isup_of(&data);
    let r = release_of(None, got.as_ref());
    assert_eq!(r.cause.cause, 16);
    assert_eq!(got.unwrap().message_type(), MessageType::Rel);

    let status = cap.wait().unwrap();
    assert!(status.success(), "tshark capture failed");

    let fields = [
        "sip.Method",
        "sip.Status-Code",
        "isup.message_type",
        "isup.called",
        "isup.called_party_nature_of_address_indicator",
        "isup.calling",
        "isup.address_presentation_restricted_indicator",
        "isup.calling_partys_category",
        "isup.transmission_medium_requirement",
        "isup.forw_call_interworking_indicator",
        "isup.called_partys_status_indicator",
        "isup.called_partys_category_indicator",
        "isup.cause_indicator",
        "q931.cause_location",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&pcap);
    for p in [gp, sp] {
        cmd.args(["-d", &format!("udp.port=={p},sip")]);
    }
    cmd.args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 4, "{text}");
    let col = |r: usize, name: &str| rows[r][fields.iter().position(|f| *f == name).unwrap()];

    // IAM (type 1): called 5551234 national (3), calling 2125550100 restricted (1), ordinary
    // subscriber (10), speech, interworking encountered.
    assert_eq!(col(0, "sip.Method"), "INVITE");
    assert_eq!(col(0, "isup.message_type"), "1", "{text}");
    assert_eq!(col(0, "isup.called"), "5551234");
    assert_eq!(col(0, "isup.called_party_nature_of_address_indicator"), "3");
    assert_eq!(col(0, "isup.calling"), "2125550100");
    assert_eq!(col(0, "isup.address_presentation_restricted_indicator"), "1");
    assert_eq!(col(0, "isup.calling_partys_category"), "0x0a");
    assert_eq!(col(0, "isup.transmission_medium_requirement"), "0");
    assert_eq!(col(0, "isup.forw_call_interworking_indicator"), "1");
    // ACM (type 6): subscriber free, ordinary subscriber.
    assert_eq!(col(1, "sip.Status-Code"), "180");
    assert_eq!(col(1, "isup.message_type"), "6", "{text}");
    assert_eq!(col(1, "isup.called_partys_status_indicator"), "0x0001");
    assert_eq!(col(1, "isup.called_partys_category_indicator"), "0x0001");
    // ANM (type 9).
    assert_eq!(col(2, "sip.Status-Code"), "200");
    assert_eq!(col(2, "isup.message_type"), "9", "{text}");
    // REL (type 12): cause 16, location user (0).
    assert_eq!(col(3, "sip.Method"), "BYE");
    assert_eq!(col(3, "isup.message_type"), "12", "{text}");
    assert_eq!(col(3, "isup.cause_indicator"), "16");
    assert_eq!(col(3, "q931.cause_location"), "0");
    let _ = std::fs::remove_dir_all(&dir);
}
