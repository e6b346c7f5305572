//! Wire format behaviour: golden bytes from RFC 3665 and RFC 3261 examples, responses per
//! RFC 3261 8.2.6, error responses, URI comparison (RFC 3261 19.1.4), compact forms, framing
//! and multipart bodies.

use gateway::sip::wire::multipart::{self, OwnedPart};
use gateway::sip::wire::{
    CSeq, ErrorKind, Framing, HeaderName, Host, Message, Method, NameAddr, SipMsg, SipUri, Transport, Uri,
    Via, error_response, frame,
};

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

/// Removes line folds (CRLF followed by whitespace) the way a receiver unfolds them.
fn unfold(s: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(s)
        .replace("\r\n ;", ";")
        .replace(",\r\n ", ", ")
        .into_bytes()
}

// RFC 3665 2.1, F1 and F2 (registration with digest challenge).
const RFC3665_F1: &str = "REGISTER sips:ss2.biloxi.example.com SIP/2.0
Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7
Max-Forwards: 70
From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl
To: Bob <sips:bob@biloxi.example.com>
Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com
CSeq: 1 REGISTER
Contact: <sips:bob@client.biloxi.example.com>
Content-Length: 0

";

const RFC3665_F2: &str = "SIP/2.0 401 Unauthorized
Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7
 ;received=192.0.2.201
From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl
To: Bob <sips:bob@biloxi.example.com>;tag=1410948204
Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm=\"atlanta.example.com\", qop=\"auth\",
 nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\",
 opaque=\"\", stale=FALSE, algorithm=MD5
Content-Length: 0

";

#[test]
fn golden_register_built_from_parts() {
    let uri: Uri = "sips:ss2.biloxi.example.com".parse().unwrap();
    let bob: Uri = "sips:bob@biloxi.example.com".parse().unwrap();
    let via = Via::new(
        Transport::Tls,
        Host::Domain("client.biloxi.example.com".into()),
        Some(5061),
        "z9hG4bKnashds7",
    );
    let from = NameAddr {
        display: Some("Bob".to_string()),
        ..NameAddr::new(bob.clone())
    }
    .with_tag("a73kszlfl");
    let to = NameAddr {
        display: Some("Bob".to_string()),
        ..NameAddr::new(bob)
    };
    let contact = NameAddr::new("sips:bob@client.biloxi.example.com".parse().unwrap());
    let msg = Message::request(Method::Register, uri)
        .with(HeaderName::Via, &via)
        .with(HeaderName::MaxForwards, 70)
        .with(HeaderName::From, &from)
        .with(HeaderName::To, &to)
        .with(HeaderName::CallId, "1j9FpLxk3uxtm8tn@biloxi.example.com")
        .with(HeaderName::CSeq, CSeq::new(1, Method::Register))
        .with(HeaderName::Contact, &contact);
    assert_eq!(
        String::from_utf8(msg.to_bytes()).unwrap(),
        String::from_utf8(crlf(RFC3665_F1)).unwrap()
    );
}

#[test]
fn golden_401_made_from_request() {
    let req_bytes = crlf(RFC3665_F1);
    let req = SipMsg::parse_datagram(&req_bytes).unwrap();
    let mut resp = req.make_response(401, Some("1410948204"));
    // The registrar's transport adds received= (RFC 3261 18.2.1).
    let mut via = req.top_via().to_owned_via();
    via.params.push("received", Some("192.0.2.201"));
    resp.set(HeaderName::Via, &via);
    resp.push(
        HeaderName::WwwAuthenticate,
        "Digest realm=\"atlanta.example.com\", qop=\"auth\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", \
         opaque=\"\", stale=FALSE, algorithm=MD5",
    );
    let want = unfold(&crlf(RFC3665_F2));
    assert_eq!(
        String::from_utf8(resp.to_bytes()).unwrap(),
        String::from_utf8(want).unwrap()
    );

    // And the folded original parses to the same owned message.
    let f2 = crlf(RFC3665_F2);
    let parsed = SipMsg::parse_datagram(&f2).unwrap();
    assert_eq!(parsed.status(), Some(401));
    assert_eq!(parsed.top_via().received(), Some("192.0.2.201".parse().unwrap()));
    assert_eq!(parsed.to().tag(), Some("1410948204"));
    assert_eq!(parsed.to_message(), resp);
}

// RFC 3261 4 (overview): the INVITE from Alice and the 200 OK after three proxies.
const RFC3261_INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Content-Type: application/sdp
Content-Length: 0

";

#[test]
fn response_copies_headers_per_8_2_6() {
    let mut bytes = crlf(RFC3261_INVITE);
    // Two more Vias, as after proxies.
    let extra =
        b"Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\r\n";
    let at = bytes.windows(5).position(|w| w == b"Max-F").unwrap();
    bytes.splice(at..at, extra.iter().copied());
    let req = SipMsg::parse_datagram(&bytes).unwrap();
    assert_eq!(req.vias().count(), 2);

    let trying = req.make_response(100, Some("ignored"));
    assert_eq!(trying.to_hdr().unwrap().tag(), None, "no To tag on 100");
    let ok = req.make_response(200, Some("a6c85cf"));
    let ok_bytes = ok.to_bytes();
    let back = SipMsg::parse_datagram(&ok_bytes).unwrap();
    assert_eq!(back.status(), Some(200));
    assert_eq!(back.reason(), Some("OK"));
    let vias: Vec<_> = back.vias().map(|v| v.to_owned_via()).collect();
    let orig: Vec<_> = req.vias().map(|v| v.to_owned_via()).collect();
    assert_eq!(vias, orig, "all Vias, same order");
    assert_eq!(back.to().tag(), Some("a6c85cf"));
    assert_eq!(back.from().to_owned_name_addr(), req.from().to_owned_name_addr());
    assert_eq!(back.call_id(), req.call_id());
    assert_eq!(back.cseq().to_owned_cseq(), req.cseq().to_owned_cseq());
    assert_eq!(back.content_length(), Some(0));
    // A To tag already present is kept.
    let again = SipMsg::parse_datagram(&ok_bytes).unwrap();
    let owned = again.to_message();
    assert_eq!(owned.to_hdr().unwrap().tag(), Some("a6c85cf"));
}

#[test]
fn error_response_names_the_problem() {
    let bad = crlf(
        "INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com;;>
Content-Length: 0

",
    );
    let err = SipMsg::parse_datagram(&bad).unwrap_err();
    assert_eq!(err.header, Some(HeaderName::Contact));
    assert!(matches!(err.kind, ErrorKind::BadHeader(_)));
    let at = String::from_utf8_lossy(&bad).find("Contact:").unwrap();
    assert_eq!(err.offset, at);
    let r = error_response(&bad, &err, "x1").unwrap();
    assert_eq!(r.status(), Some(400));
    let reason = match &r.start {
        gateway::sip::wire::StartLine::Response(s) => s.reason.clone(),
        _ => unreachable!(),
    };
    assert_eq!(reason, "Bad Request (bad Contact: bad URI parameter)");
    assert_eq!(r.to_hdr().unwrap().tag(), Some("x1"));
    assert_eq!(r.header("Call-ID"), Some("a84b4c76e66710@pc33.atlanta.com"));

    // Responses are never answered.
    let bad_resp = crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCSeq: x INVITE\n\n");
    let e = SipMsg::parse_datagram(&bad_resp).unwrap_err();
    assert!(error_response(&bad_resp, &e, "t").is_none());
    // ACK is never answered either.
    let ack = crlf(
        "ACK sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 INVITE\n\n",
    );
    let e = SipMsg::parse_datagram(&ack).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CSeqMethodMismatch);
    assert!(error_response(&ack, &e, "t").is_none());
}

#[test]
fn uri_comparison_rfc3261_19_1_4() {
    let eq = |a: &str, b: &str| Uri::parse(a).unwrap().rfc_eq(&Uri::parse(b).unwrap());
    // Equivalent pairs from RFC 3261 19.1.4.
    assert!(eq(
        "sip:%61lice@atlanta.com;transport=TCP",
        "sip:alice@AtLanTa.CoM;Transport=tcp"
    ));
    assert!(eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
    assert!(eq("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
    assert!(eq(
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;security=on"
    ));
    assert!(eq(
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sips:alice@atlanta.com?priority=urgent&subject=project%20x"
    ));
    // Non-equivalent pairs.
    assert!(!eq(
        "SIP:ALICE@AtLanTa.CoM;Transport=udp",
        "sip:alice@AtLanTa.CoM;Transport=UDP"
    ));
    assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
    assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
    assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
    assert!(!eq(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com?Subject=next%20meeting"
    ));
    assert!(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
    assert!(!eq(
        "sip:carol@chicago.com;security=on",
        "sip:carol@chicago.com;security=off"
    ));
    assert!(!eq("sip:a@h;user=phone", "sip:a@h"));
    assert!(!eq("sip:a@h;maddr=192.0.2.1", "sip:a@h"));
    // Reserved characters are not equivalent to their escapes.
    assert!(!eq("sip:a%3Bb@h", "sip:a;b@h"));
}

#[test]
fn uri_forms() {
    let u = SipUri::parse("sips:alice:secret@[2001:db8::10]:5061;transport=tls;lr?subject=hi").unwrap();
    assert!(u.secure);
    assert_eq!((u.user, u.password), (Some("alice"), Some("secret")));
    assert_eq!(u.host, Host::V6("2001:db8::10".parse().unwrap()));
    assert_eq!(u.port, Some(5061));
    assert_eq!(u.transport(), Some("tls"));
    assert!(u.lr());
    assert_eq!(u.header_pairs().collect::<Vec<_>>(), [("subject", "hi")]);
    assert_eq!(
        u.to_string(),
        "sips:alice:secret@[2001:db8::10]:5061;transport=tls;lr?subject=hi"
    );
    let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
    assert!(matches!(&t, Uri::Tel(x) if x.number == "+1-201-555-0123"));
    assert!(t.rfc_eq(&Uri::parse("tel:+12015550123;phone-context=example.com").unwrap()));
    for bad in [
        "sip:",
        "sip:user@",
        "sip:[::1",
        "sip:h:99999",
        "sip:h;;x",
        "sip:a b@h",
        "sip:h?x",
        "1sip:h",
        "<sip:h>",
    ] {
        assert!(Uri::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn compact_forms_and_generic_lookup() {
    let m = crlf(
        "OPTIONS sip:a@b SIP/2.0
v: SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP g:5070;branch=z9hG4bK2;rport=5070;received=192.0.2.9;ttl=16;maddr=224.2.0.1
f: \"A, B\" <sip:a@b>;tag=1
t: <sip:c@d>
i: cid@h
CSeq: 7 OPTIONS
m: <sip:a@h>;expires=60, <sip:b@h;transport=tcp>;q=0.5
k: 100rel, timer
u: dialog
o: presence
s: hello
l: 0
X-Custom: one
x-custom: two

",
    );
    let msg = SipMsg::parse_datagram(&m).unwrap();
    assert_eq!(msg.call_id(), "cid@h");
    assert_eq!(msg.from().display_name().as_deref(), Some("A, B"));
    let v: Vec<_> = msg.vias().collect();
    assert_eq!(v[1].rport(), Some(Some(5070)));
    assert_eq!(v[1].received(), Some("192.0.2.9".parse().unwrap()));
    assert_eq!(v[1].ttl(), Some(16));
    assert_eq!(v[1].maddr(), Some("224.2.0.1"));
    assert_eq!(v[1].port, Some(5070));
    let c: Vec<_> = msg.contacts().collect();
    assert_eq!((c[0].expires(), c[1].params.get("q")), (Some(60), Some("0.5")));
    assert_eq!(
        msg.tokens(HeaderName::Supported).collect::<Vec<_>>(),
        ["100rel", "timer"]
    );
    assert_eq!(msg.header("Subject"), Some("hello"));
    assert_eq!(msg.header("s"), Some("hello"));
    assert_eq!(msg.header("allow-events"), Some("dialog"));
    assert_eq!(msg.header("Event"), Some("presence"));
    assert_eq!(msg.headers_named("X-CUSTOM").collect::<Vec<_>>(), ["one", "two"]);
    assert_eq!(msg.content_length(), Some(0));
    // The owned copy uses full names.
    let owned = msg.to_message().to_bytes();
    let text = String::from_utf8(owned).unwrap();
    assert!(text.contains("\r\nCall-ID: cid@h\r\n") && text.contains("\r\nSupported: 100rel, timer\r\n"));
}

#[test]
fn stream_framing() {
    let one = crlf(RFC3261_INVITE);
    let mut buf = b"\r\n\r\n".to_vec();
    assert_eq!(frame(&buf).unwrap(), Framing::KeepAlive(4));
    buf.clear();
    buf.extend_from_slice(&one[..10]);
    assert_eq!(frame(&buf).unwrap(), Framing::Incomplete { needed: None });
    // A body that has not fully arrived.
    let with_body = String::from_utf8(one.clone())
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: 5");
    let wb = with_body.as_bytes();
    assert_eq!(
        frame(wb).unwrap(),
        Framing::Incomplete {
            needed: Some(wb.len() + 5)
        }
    );
    let e = SipMsg::parse_stream(wb).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Incomplete {
            needed: Some(wb.len() + 5)
        }
    );
    let mut full = wb.to_vec();
    full.extend_from_slice(b"v=0\r\nNEXT");
    let (m, used) = SipMsg::parse_stream(&full).unwrap();
    assert_eq!(used, wb.len() + 5);
    assert_eq!(m.body(), b"v=0\r\n");
    // Datagram: a short body is an error, extra bytes are discarded.
    assert!(matches!(
        SipMsg::parse_datagram(wb).unwrap_err().kind,
        ErrorKind::BodyTooShort {
            declared: 5,
            available: 0
        }
    ));
    let d = SipMsg::parse_datagram(&full).unwrap();
    assert_eq!((d.body(), d.wire_len()), (&b"v=0\r\n"[..], full.len() - 4));
}

#[test]
fn version_and_start_line_errors() {
    let cases: [(&str, ErrorKind); 6] = [
        ("INVITE sip:a@b SIP/3.0", ErrorKind::UnsupportedVersion),
        ("INVITE sip:a@b HTTP/1.1", ErrorKind::BadVersion),
        ("INVITE  sip:a@b SIP/2.0", ErrorKind::BadStartLine),
        ("INV(TE sip:a@b SIP/2.0", ErrorKind::BadMethod),
        ("SIP/2.0 1000 Big", ErrorKind::BadStatusCode),
        ("SIP/2.0 099 Low", ErrorKind::BadStatusCode),
    ];
    for (line, kind) in cases {
        let msg = crlf(&format!("{line}\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n\n"));
        assert_eq!(SipMsg::parse_datagram(&msg).unwrap_err().kind, kind, "{line}");
    }
}

#[test]
fn multipart_sip_t_body() {
    // SIP-T (RFC 3204): SDP plus an ISUP IAM.
    let isup = vec![
        0x01, 0x00, 0x49, 0x00, 0x00, 0x03, 0x02, 0x00, 0x07, 0x04, 0x10, 0x00, 0x33, 0x63, 0x21, 0x43,
    ];
    let parts = vec![
        OwnedPart::new("application/sdp", b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n".to_vec()),
        OwnedPart {
            headers: vec![
                ("Content-Type".into(), "application/ISUP;version=itu-t92+".into()),
                ("Content-Disposition".into(), "signal;handling=optional".into()),
            ],
            body: isup.clone(),
        },
    ];
    let boundary = multipart::choose_boundary(&parts, 7);
    let body = multipart::emit(&parts, &boundary).unwrap();
    let mut msg = Message::request(Method::Invite, "sip:+15551234@gw.example.net".parse().unwrap());
    msg.push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
        .push(HeaderName::From, "<sip:a@b>;tag=1")
        .push(HeaderName::To, "<sip:c@d>")
        .push(HeaderName::CallId, "x")
        .push(HeaderName::CSeq, "1 INVITE")
        .set_body(format!("multipart/mixed;boundary={boundary}"), body);
    let bytes = msg.to_bytes();
    let parsed = SipMsg::parse_datagram(&bytes).unwrap();
    let ct = parsed.content_type().unwrap();
    assert!(ct.is("multipart", "mixed"));
    let mp = multipart::parse(parsed.body(), ct.boundary().unwrap()).unwrap();
    assert_eq!(mp.parts.len(), 2);
    assert_eq!(mp.parts[1].content_type(), "application/ISUP;version=itu-t92+");
    assert_eq!(
        mp.parts[1].header("content-disposition"),
        Some("signal;handling=optional")
    );
    assert_eq!(mp.parts[1].body, &isup[..]);
    assert_eq!(
        multipart::parse(b"no delimiter", "b").unwrap_err(),
        multipart::MultipartError::NoDelimiter
    );
    assert_eq!(
        multipart::parse(b"--b\r\n\r\nx", "b").unwrap_err(),
        multipart::MultipartError::Unterminated
    );
    // Part header lines must be `name: value`; anything else is rejected, not dropped.
    assert_eq!(
        multipart::parse(b"--b\r\nA: 1\njunk\r\n\r\nx\r\n--b--\r\n", "b").unwrap_err(),
        multipart::MultipartError::BadPartHeader { part: 0 }
    );
    let bad = [OwnedPart {
        headers: vec![("Bad Name".into(), "v".into())],
        body: vec![],
    }];
    assert!(multipart::emit(&bad, "b").is_err());
}

#[test]
fn every_known_header_name_is_recognised() {
    for &h in HeaderName::ALL {
        assert_eq!(HeaderName::from_name(h.as_str()), h);
        assert_eq!(HeaderName::from_name(&h.as_str().to_ascii_lowercase()), h);
        assert_eq!(HeaderName::from_name(&h.as_str().to_ascii_uppercase()), h);
        if let Some(c) = h.compact() {
            assert_eq!(HeaderName::from_name(&c.to_string()), h);
            assert_eq!(HeaderName::from_name(&c.to_ascii_uppercase().to_string()), h);
        }
    }
    for other in ["X-Foo", "Vias", "Toe", "", "z", "Content-Lengthy"] {
        assert_eq!(HeaderName::from_name(other), HeaderName::Other, "{other}");
    }
}
