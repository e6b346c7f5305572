//! Property tests: `parse(emit(x)) == x` for messages, URIs and header values; malformed and
//! mutated input never panics and always yields a typed error.

use std::net::{Ipv4Addr, Ipv6Addr};

use gateway::sip::wire::multipart::{self, OwnedPart};
use gateway::sip::wire::{
    CSeq, ContentType, Framing, HeaderName, Host, Message, Method, NameAddr, Params, SipMsg, SipUri, TelUri,
    Transport, Uri, Via, error_response, frame,
};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,12}"
}

fn domain() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){0,3}"
}

fn host() -> impl Strategy<Value = Host<String>> {
    prop_oneof![
        domain().prop_map(Host::Domain),
        any::<u32>().prop_map(|a| Host::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| Host::V6(Ipv6Addr::from(a))),
    ]
}

/// URI component text with escapes: unreserved characters and `%HH`.
fn escaped(extra: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[A-Za-z0-9_.!~*'()-]".prop_map(|s| s),
            1 => any::<u8>().prop_map(|b| format!("%{b:02X}")),
            1 => proptest::sample::select(extra.chars().map(String::from).collect::<Vec<_>>()),
        ],
        1..12,
    )
    .prop_map(|v| v.concat())
}

fn uri_params() -> impl Strategy<Value = Params<String>> {
    prop::collection::vec((escaped("[]/:&+$"), prop::option::of(escaped("[]/:&+$"))), 0..4).prop_map(|ps| {
        let mut p = Params::default();
        let mut seen = Vec::new();
        for (n, v) in &ps {
            // Names are compared unescaped and case-insensitively: keep them distinct.
            let key = gateway::sip::wire::text::unescape(n).to_ascii_lowercase();
            if !seen.contains(&key) {
                seen.push(key);
                p.push(n, v.as_deref());
            }
        }
        p
    })
}

fn header_params() -> impl Strategy<Value = Params<String>> {
    prop::collection::vec(
        (
            token(),
            prop::option::of(prop_oneof![
                token(),
                "[a-zA-Z0-9 ,;=<>]{0,10}".prop_map(|s| format!("\"{s}\""))
            ]),
        ),
        0..4,
    )
    .prop_map(|ps| {
        let mut p = Params::default();
        for (n, v) in &ps {
            p.push(n, v.as_deref());
        }
        p
    })
}

fn sip_uri() -> impl Strategy<Value = SipUri<String>> {
    (
        any::<bool>(),
        prop::option::of(escaped("&=+$,;?/")),
        prop::option::of(escaped("&=+$,")),
        host(),
        prop::option::of(any::<u16>()),
        uri_params(),
        prop::option::of(prop::collection::vec(
            (escaped("[]/?:+$"), escaped("[]/?:+$")),
            1..3,
        )),
    )
        .prop_map(|(secure, user, password, host, port, params, headers)| SipUri {
            secure,
            password: user.as_ref().and(password),
            user,
            host,
            port,
            params,
            headers: headers.map(|h| {
                h.iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            }),
        })
}

fn uri() -> impl Strategy<Value = Uri<String>> {
    prop_oneof![
        6 => sip_uri().prop_map(Uri::Sip),
        1 => ("\\+?[0-9][0-9.()-]{0,14}", uri_params()).prop_map(|(number, params)| Uri::Tel(TelUri { number, params })),
        1 => ("[a-z][a-z0-9+.-]{0,6}", "[a-zA-Z0-9/:@._-]{1,20}").prop_filter_map("not sip/tel", |(scheme, rest)| {
            (!["sip", "sips", "tel"].contains(&scheme.as_str()))
                .then_some(Uri::Other(gateway::sip::wire::OtherUri { scheme, rest }))
        }),
    ]
}

fn display() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::collection::vec(
            prop_oneof![4 => "[A-Za-z0-9 ,;:<>@]".prop_map(|s| s), 1 => Just("\\\"".to_string())],
            0..12,
        )
        .prop_map(|v| v.concat()),
    )
}

fn name_addr() -> impl Strategy<Value = NameAddr<String>> {
    (display(), uri(), header_params()).prop_map(|(display, uri, params)| NameAddr { display, uri, params })
}

fn transport() -> impl Strategy<Value = Transport<String>> {
    prop_oneof![
        Just(Transport::Udp),
        Just(Transport::Tcp),
        Just(Transport::Tls),
        Just(Transport::Sctp),
        Just(Transport::Ws),
        Just(Transport::Wss),
        "X[A-Z]{1,5}".prop_map(Transport::Other),
    ]
}

fn via() -> impl Strategy<Value = Via<String>> {
    (
        transport(),
        host(),
        prop::option::of(any::<u16>()),
        token(),
        prop::option::of(prop::option::of(any::<u16>())),
        prop::option::of(host()),
    )
        .prop_map(|(t, h, port, branch, rport, received)| {
            let mut v = Via::new(t, h, port, &format!("z9hG4bK{branch}"));
            if let Some(r) = rport {
                v.params.push("rport", r.map(|p| p.to_string()).as_deref());
            }
            if let Some(Host::V4(a)) = received {
                v.params.push("received", Some(&a.to_string()));
            }
            v
        })
}

fn method() -> impl Strategy<Value = Method<String>> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Options),
        Just(Method::Register),
        Just(Method::Prack),
        Just(Method::Update),
        Just(Method::Refer),
        "[A-Z][A-Z0-9-]{2,10}".prop_filter_map("extension", |s| match Method::parse(&s).ok()? {
            Method::Other(_) => Some(Method::Other(s)),
            _ => None,
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        (
            prop::option::of(method()),
            sip_uri(),
            100u16..700,
            "[A-Za-z0-9 ]{0,20}",
        ),
        prop::collection::vec(via(), 1..4),
        name_addr(),
        name_addr(),
        "[A-Za-z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,20}(@[a-z0-9.]{1,10})?",
        any::<u32>(),
        prop::option::of(0u32..100),
        prop::collection::vec(name_addr(), 0..3),
        prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[!-~]([ -~]{0,20}[!-~])?"), 0..4),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
    )
        .prop_map(
            |((m, ruri, code, reason), vias, from, to, call_id, seq, mf, contacts, extra, body)| {
                let (mut msg, cseq_method) = match m {
                    Some(m) => (
                        Message::request(
                            m.clone(),
                            Uri::Sip(SipUri {
                                headers: None,
                                ..ruri
                            }),
                        ),
                        m,
                    ),
                    None => (Message::response_with_reason(code, reason.trim()), Method::Invite),
                };
                for v in &vias {
                    msg.push(HeaderName::Via, v);
                }
                msg.push(HeaderName::From, &from)
                    .push(HeaderName::To, &to)
                    .push(HeaderName::CallId, &call_id)
                    .push(
                        HeaderName::CSeq,
                        CSeq {
                            seq,
                            method: cseq_method,
                        },
                    );
                if let Some(mf) = mf {
                    msg.push(HeaderName::MaxForwards, mf);
                }
                for c in &contacts {
                    msg.push(HeaderName::Contact, c);
                }
                for (n, v) in &extra {
                    msg.push_named(n, v);
                }
                if let Some(b) = body {
                    msg.set_body("application/sdp", b);
                }
                msg
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn message_roundtrip(msg in message()) {
        let bytes = msg.to_bytes();
        let parsed = SipMsg::parse_datagram(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(parsed.to_message(), msg.clone());
        prop_assert_eq!(parsed.wire_len(), bytes.len());
        prop_assert_eq!(frame(&bytes).unwrap(), Framing::Complete(bytes.len()));
        // Two messages back to back on a stream.
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let (first, used) = SipMsg::parse_stream(&two).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(first.to_message(), msg);
    }

    #[test]
    fn uri_roundtrip(u in uri()) {
        let text = u.to_string();
        let back = Uri::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert!(back.rfc_eq(&u), "{}", text);
        prop_assert_eq!(back.to_owned_uri(), u);
    }

    #[test]
    fn name_addr_roundtrip(n in name_addr()) {
        let text = n.to_string();
        let back = NameAddr::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(back.to_owned_name_addr(), n);
    }

    #[test]
    fn via_roundtrip(v in via()) {
        let text = v.to_string();
        let back = Via::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(back.to_owned_via(), v);
    }

    #[test]
    fn multipart_roundtrip(parts in prop::collection::vec(("[a-z]{1,8}/[a-z0-9.+-]{1,10}", prop::collection::vec(any::<u8>(), 0..100)), 1..4), seed in any::<u64>()) {
        let parts: Vec<OwnedPart> = parts.iter().map(|(ct, b)| OwnedPart::new(ct, b.clone())).collect();
        let boundary = multipart::choose_boundary(&parts, seed);
        let body = multipart::emit(&parts, &boundary).unwrap();
        let back = multipart::parse(&body, &boundary).unwrap();
        let owned: Vec<OwnedPart> = back.parts.iter().map(|p| p.to_owned_part()).collect();
        prop_assert_eq!(owned, parts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..400)) {
        exercise(&buf);
    }

    #[test]
    fn mutated_messages_never_panic(msg in message(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)) {
        let mut bytes = msg.to_bytes();
        for (i, b, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = i.index(bytes.len());
            match op {
                0 => bytes[at] = b,
                1 => { bytes.remove(at); }
                _ => bytes.insert(at, [b' ', b'\r', b'\n', b';', b',', b'"', b'<', b':'][b as usize % 8]),
            }
        }
        exercise(&bytes);
    }
}

/// Runs every parser on `buf`; all failures must be typed errors, and a request-looking failure
/// yields either no response or a parseable one.
fn exercise(buf: &[u8]) {
    match SipMsg::parse_datagram(buf) {
        Ok(m) => {
            let again = m.to_message().to_bytes();
            // The normalised form is itself a valid message.
            assert!(
                SipMsg::parse_datagram(&again).is_ok(),
                "{}",
                String::from_utf8_lossy(&again)
            );
            let _ = m.make_response(200, Some("t")).to_bytes();
            let _ = m.vias().count() + m.contacts().count() + m.routes().count();
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(r) = error_response(buf, &e, "t") {
                assert!(r.status().is_some());
                let _ = r.to_bytes();
            }
        }
    }
    let _ = frame(buf);
    let _ = SipMsg::parse_stream(buf);
    if let Ok(s) = std::str::from_utf8(buf) {
        let _ = Uri::parse(s);
        let _ = NameAddr::parse(s);
        let _ = Via::parse(s);
        let _ = ContentType::parse(s);
        let _ = CSeq::parse(s);
    }
    let _ = multipart::parse(buf, "b");
}
