//! SIP-T bodies (RFC 3204 / RFC 3372): multipart with SDP and ISUP, handling rules, 415.

use gateway::sip::wire::SipMsg;
use gateway::trunk::interwork::{Numbering, OutgoingCall, build_iam};
use gateway::trunk::isup::{Message, MessageType, Variant};
use gateway::trunk::mime::*;

const SDP: &[u8] =
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn iam_bytes() -> Vec<u8> {
    let call = OutgoingCall {
        called: "5551234",
        calling: Some("2125550100"),
        privacy: false,
    };
    build_iam(&call, &Numbering::default(), Variant::Itu)
        .emit(Variant::Itu)
        .unwrap()
}

#[test]
fn invite_body_round_trip() {
    let iam = iam_bytes();
    let out = build_body(Some(SDP), Some((&iam, Variant::Itu, Handling::Optional)), 7).unwrap();
    assert!(out.content_type.starts_with("multipart/mixed;boundary="));
    let text = String::from_utf8_lossy(&out.body);
    assert!(text.contains("Content-Type: application/ISUP;version=itu-t92+;base=itu-t92+\r\n"));
    assert!(text.contains("Content-Disposition: signal;handling=optional\r\n"));
    let got = parse_body(&out.content_type, None, &out.body, Variant::Itu).unwrap();
    assert_eq!(got.sdp, Some(SDP));
    let isup = got.isup.unwrap();
    assert_eq!(isup.bytes, &iam[..]);
    assert_eq!(isup.variant, Variant::Itu);
    assert_eq!(isup.handling, Handling::Optional);
    assert_eq!(got.ignored, 0);
}

#[test]
fn sdp_found_in_any_position_and_case() {
    // ISUP first, SDP second, quoted boundary, mixed-case type names, ANSI version.
    let mut body = Vec::new();
    body.extend_from_slice(b"preamble\r\n--b1\r\nContent-Type: Application/ISUP; version=ansi00\r\ncontent-disposition: signal; handling=required\r\n\r\n");
    body.extend_from_slice(&[0x09, 0x00]);
    body.extend_from_slice(b"\r\n--b1\r\nContent-Type: APPLICATION/SDP\r\n\r\n");
    body.extend_from_slice(SDP);
    body.extend_from_slice(b"\r\n--b1--\r\n");
    let got = parse_body("Multipart/Mixed; boundary=\"b1\"", None, &body, Variant::Itu).unwrap();
    assert_eq!(got.sdp, Some(SDP));
    let isup = got.isup.unwrap();
    assert_eq!(
        (isup.variant, isup.handling, isup.bytes),
        (Variant::Ansi, Handling::Required, &[0x09u8, 0x00][..])
    );
}

#[test]
fn unknown_optional_parts_ignored_required_rejected() {
    let mk = |disp: &str| {
        let mut b = Vec::new();
        b.extend_from_slice(b"--x\r\nContent-Type: application/sdp\r\n\r\n");
        b.extend_from_slice(SDP);
        b.extend_from_slice(b"\r\n--x\r\nContent-Type: application/x-unknown\r\n");
        b.extend_from_slice(disp.as_bytes());
        b.extend_from_slice(b"\r\nstuff\r\n--x--\r\n");
        b
    };
    let ok = mk("Content-Disposition: signal;handling=optional\r\n");
    let got = parse_body("multipart/mixed;boundary=x", None, &ok, Variant::Itu).unwrap();
    assert_eq!((got.sdp, got.ignored), (Some(SDP), 1));

    for disp in ["Content-Disposition: signal;handling=required\r\n", ""] {
        let bad = mk(disp);
        let e = parse_body("multipart/mixed;boundary=x", None, &bad, Variant::Itu).unwrap_err();
        assert_eq!(
            e,
            BodyError::Unsupported {
                part: Some(1),
                content_type: "application/x-unknown".into()
            }
        );
        assert_eq!(e.status(), 415);
    }
    // Unknown ISUP version with no known base, required: unsupported; optional: ignored.
    let isup = |h: &str| {
        format!(
            "--x\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--x\r\nContent-Type: application/ISUP;version=xyz9\r\nContent-Disposition: signal;handling={h}\r\n\r\n\x09\x00\r\n--x--\r\n"
        )
    };
    assert!(
        parse_body(
            "multipart/mixed;boundary=x",
            None,
            isup("required").as_bytes(),
            Variant::Itu
        )
        .is_err()
    );
    let opt = isup("optional");
    let got = parse_body("multipart/mixed;boundary=x", None, opt.as_bytes(), Variant::Itu).unwrap();
    assert!(got.isup.is_none() && got.sdp.is_some());
    // Unknown version with a known base is read per the base.
    let b = "--x\r\nContent-Type: application/ISUP;version=nxv3;base=etsi121\r\n\r\n\x09\x00\r\n--x--\r\n";
    let got = parse_body("multipart/mixed;boundary=x", None, b.as_bytes(), Variant::Ansi).unwrap();
    assert_eq!(got.isup.unwrap().variant, Variant::Itu);
    // Whole-body unknown type: required by default, optional by Content-Disposition.
    assert!(parse_body("text/plain", None, b"hi", Variant::Itu).is_err());
    assert_eq!(
        parse_body(
            "text/plain",
            Some("render;handling=optional"),
            b"hi",
            Variant::Itu
        )
        .unwrap()
        .ignored,
        1
    );
    // Broken framing answers 400, not 415.
    let e = parse_body("multipart/mixed", None, b"--x\r\n", Variant::Itu).unwrap_err();
    assert_eq!((e.clone(), e.status()), (BodyError::MissingBoundary, 400));
}

#[test]
fn reject_response_415_lists_accept() {
    let req = b"INVITE sip:5551234@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:5551234@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\nContent-Type: application/x-foo\r\nContent-Length: 3\r\n\r\nabc";
    let msg = SipMsg::parse_datagram(req).unwrap();
    let err = parse_message(&msg, Variant::Itu).unwrap_err();
    let resp = reject_response(&msg, &err, Some("t1"));
    let text = String::from_utf8(resp.to_bytes()).unwrap();
    assert!(text.starts_with("SIP/2.0 415 "));
    assert!(text.contains("Accept: application/sdp, application/isup, multipart/mixed\r\n"));
}

#[test]
fn sip_t_invite_parsed_from_wire() {
    let iam = iam_bytes();
    let out = build_body(Some(SDP), Some((&iam, Variant::Itu, Handling::Optional)), 1).unwrap();
    let mut req = format!(
        "INVITE sip:+15551234@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-2\r\n\
From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
c: {}\r\nMIME-Version: 1.0\r\nContent-Length: {}\r\n\r\n",
        out.content_type,
        out.body.len()
    )
    .into_bytes();
    req.extend_from_slice(&out.body);
    let msg = SipMsg::parse_datagram(&req).unwrap();
    let got = parse_message(&msg, Variant::Itu).unwrap();
    assert_eq!(got.sdp, Some(SDP));
    let m = Message::parse(got.isup.unwrap().bytes, Variant::Itu).unwrap();
    assert_eq!(m.message_type(), MessageType::Iam);
}

#[test]
fn lone_bodies() {
    let out = build_body(
        None,
        Some((&[0x0D, 0x01, 0x00], Variant::Itu, Handling::Required)),
        0,
    )
    .unwrap();
    assert_eq!(
        out.content_type,
        "application/ISUP;version=itu-t92+;base=itu-t92+"
    );
    assert_eq!(
        out.content_disposition.as_deref(),
        Some("signal;handling=required")
    );
    let got = parse_body(
        &out.content_type,
        out.content_disposition.as_deref(),
        &out.body,
        Variant::Itu,
    )
    .unwrap();
    assert_eq!(got.isup.unwrap().bytes, [0x0D, 0x01, 0x00]);
    let out = build_body(Some(SDP), None, 0).unwrap();
    assert_eq!(out.content_type, "application/sdp");
    assert!(build_body(None, None, 0).is_none());
    // An empty body is fine whatever its type says.
    assert_eq!(
        parse_body("application/x-foo", None, b"", Variant::Itu).unwrap(),
        TrunkBody::default()
    );
}
