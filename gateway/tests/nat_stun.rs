//! STUN codec: the RFC 5769 test vectors, malformed input, and parse(emit(x)) == x.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use gateway::nat::stun::{
    Attribute, BINDING, Class, StunError, StunMessage, StunView, attr, crc32, looks_like_stun,
};
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

const RFC5769_ID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// RFC 5769 2.1: sample request (SOFTWARE "STUN test client", PRIORITY, ICE-CONTROLLED,
/// USERNAME "evtj:h6vY", MESSAGE-INTEGRITY, FINGERPRINT).
fn request() -> Vec<u8> {
    hex("00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
         80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
         00 24 00 04 6e 00 01 ff
         80 29 00 08 93 2f f9 b1 51 26 3b 36
         00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
         00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
         80 28 00 04 e5 7a 3b cf")
}

/// RFC 5769 2.2: sample IPv4 response (192.0.2.1:32853).
fn response_v4() -> Vec<u8> {
    hex("01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
         80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
         00 20 00 08 00 01 a1 47 e1 12 a6 43
         00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
         80 28 00 04 c0 7d 4c 96")
}

/// RFC 5769 2.3: sample IPv6 response ([2001:db8:1234:5678:11:2233:4455:6677]:32853).
fn response_v6() -> Vec<u8> {
    hex("01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
         80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
         00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
         00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
         80 28 00 04 c8 fb 0b 4c")
}

#[test]
fn rfc5769_sample_request() {
    let b = request();
    let v = StunView::parse(&b).expect("valid request, FINGERPRINT matches");
    assert_eq!(v.class(), Class::Request);
    assert_eq!(v.method(), BINDING);
    assert_eq!(v.transaction_id(), RFC5769_ID);
    // PRIORITY (0x0024) is comprehension-required and not ours to decode.
    assert_eq!(v.unknown_required(), vec![0x0024]);
    let m = v.to_message().unwrap();
    assert_eq!(
        m.attributes,
        vec![
            Attribute::Software("STUN test client".into()),
            Attribute::Other {
                typ: 0x0024,
                value: vec![0x6e, 0x00, 0x01, 0xff]
            },
            Attribute::Other {
                typ: 0x8029,
                value: hex("93 2f f9 b1 51 26 3b 36")
            },
            Attribute::Username("evtj:h6vY".into()),
            Attribute::MessageIntegrity(
                hex("9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2")
                    .try_into()
                    .unwrap()
            ),
            Attribute::Fingerprint,
        ]
    );
    // Our emitter pads with zeros where the vector pads with spaces; the rest is the same,
    // FINGERPRINT aside (it covers the padding).
    let e = m.emit().unwrap();
    assert_eq!(e.len(), b.len());
    assert_eq!(e[..73], b[..73], "up to USERNAME's padding");
    assert_eq!(e[76..100], b[76..100], "MESSAGE-INTEGRITY");
    assert_eq!(StunMessage::parse(&e).unwrap(), m);
}

#[test]
fn rfc5769_sample_ipv4_response() {
    let b = response_v4();
    let v = StunView::parse(&b).expect("valid response, FINGERPRINT matches");
    assert_eq!(v.class(), Class::Success);
    assert_eq!(v.method(), BINDING);
    assert_eq!(v.transaction_id(), RFC5769_ID);
    assert!(v.unknown_required().is_empty());
    let want = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 32853);
    assert_eq!(v.xor_mapped_address(), Some(Ok(want)));
    let m = v.to_message().unwrap();
    assert_eq!(m.mapped_address(), Some(want));
    assert_eq!(m.attributes[0], Attribute::Software("test vector".into()));
    // The emitter gives the RFC's XOR-MAPPED-ADDRESS bytes.
    let only = StunMessage {
        class: Class::Success,
        method: BINDING,
        transaction_id: RFC5769_ID,
        attributes: vec![Attribute::XorMappedAddress(want)],
    };
    assert_eq!(only.emit().unwrap()[20..], b[36..48]);
}

#[test]
fn rfc5769_sample_ipv6_response() {
    let b = response_v6();
    let v = StunView::parse(&b).expect("valid response, FINGERPRINT matches");
    let want = SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(
            0x2001, 0xdb8, 0x1234, 0x5678, 0x11, 0x2233, 0x4455, 0x6677,
        )),
        32853,
    );
    assert_eq!(v.xor_mapped_address(), Some(Ok(want)));
    let only = StunMessage {
        class: Class::Success,
        method: BINDING,
        transaction_id: RFC5769_ID,
        attributes: vec![Attribute::XorMappedAddress(want)],
    };
    assert_eq!(only.emit().unwrap()[20..], b[36..60]);
}

#[test]
fn fingerprint_is_crc32_xor_stun() {
    let b = response_v4();
    let n = b.len();
    let fp = u32::from_be_bytes(b[n - 4..].try_into().unwrap());
    assert_eq!(fp, crc32(&b[..n - 8]) ^ 0x5354_554e);
}

#[test]
fn damaged_vectors_are_refused_with_the_reason() {
    // One bit flipped in the mapped address: the FINGERPRINT no longer matches.
    let mut b = response_v4();
    b[45] ^= 1;
    assert!(matches!(
        StunView::parse(&b),
        Err(StunError::FingerprintMismatch { .. })
    ));
    let b = response_v4();
    assert_eq!(
        StunView::parse(&b[..19]).unwrap_err(),
        StunError::TooShort { len: 19 }
    );
    assert!(matches!(
        StunView::parse(&b[..b.len() - 4]),
        Err(StunError::LengthMismatch { .. })
    ));
    let mut c = b.clone();
    c[4] = 0;
    assert!(matches!(StunView::parse(&c), Err(StunError::BadCookie { .. })));
    let mut c = b.clone();
    c[0] = 0x80;
    assert!(matches!(StunView::parse(&c), Err(StunError::NotStun { .. })));
    // An attribute length running past the end.
    let mut c = b.clone();
    c[23] = 0xff;
    assert!(matches!(
        StunView::parse(&c),
        Err(StunError::AttributeOverrun { offset: 20 })
    ));
    // Something after FINGERPRINT.
    let mut c = b.clone();
    c.extend_from_slice(&[0x80, 0x22, 0, 0]);
    let len = (c.len() - 20) as u16;
    c[2..4].copy_from_slice(&len.to_be_bytes());
    // A FINGERPRINT right for the new length, so that only its position is wrong.
    let at = c.len() - 8;
    let fp = crc32(&c[..at - 4]) ^ 0x5354_554e;
    c[at..at + 4].copy_from_slice(&fp.to_be_bytes());
    assert!(matches!(
        StunView::parse(&c),
        Err(StunError::AfterFingerprint { .. })
    ));
    // A SIP message or an RTP packet on the same socket is not STUN.
    assert!(!looks_like_stun(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"));
    assert!(!looks_like_stun(&[0x80; 172]));
    assert!(looks_like_stun(&response_v4()));
}

#[test]
fn bad_attribute_values_are_typed_errors() {
    let m = StunMessage {
        class: Class::Success,
        method: BINDING,
        transaction_id: [7; 12],
        attributes: vec![Attribute::Other {
            typ: 0x8030,
            value: vec![1, 2, 3],
        }],
    };
    let mut b = m.emit().unwrap();
    // Turn it into an XOR-MAPPED-ADDRESS of 3 bytes.
    b[20..22].copy_from_slice(&attr::XOR_MAPPED_ADDRESS.to_be_bytes());
    let v = StunView::parse(&b).unwrap();
    assert!(matches!(
        v.xor_mapped_address(),
        Some(Err(StunError::BadAttribute {
            typ: 0x0020,
            offset: 20,
            ..
        }))
    ));
    assert!(v.to_message().is_err());
    // Emitting what the wire cannot carry.
    let bad = StunMessage {
        attributes: vec![Attribute::Fingerprint, Attribute::Software("x".into())],
        ..m.clone()
    };
    assert!(matches!(bad.emit(), Err(StunError::Unencodable(_))));
    let bad = StunMessage {
        attributes: vec![Attribute::ErrorCode {
            code: 200,
            reason: String::new(),
        }],
        ..m
    };
    assert!(matches!(bad.emit(), Err(StunError::Unencodable(_))));
}

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p)),
    ]
}

fn arb_attr() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        arb_addr().prop_map(Attribute::MappedAddress),
        arb_addr().prop_map(Attribute::XorMappedAddress),
        "[a-z0-9:]{0,40}".prop_map(Attribute::Username),
        "\\PC{0,30}".prop_map(Attribute::Software),
        any::<[u8; 20]>().prop_map(Attribute::MessageIntegrity),
        (300u16..700, "[ -~]{0,30}").prop_map(|(code, reason)| Attribute::ErrorCode { code, reason }),
        proptest::collection::vec(any::<u16>(), 0..6).prop_map(Attribute::UnknownAttributes),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_filter("not a decoded type", |(t, _)| !attr::KNOWN.contains(t))
            .prop_map(|(typ, value)| Attribute::Other { typ, value }),
    ]
}

fn arb_class() -> impl Strategy<Value = Class> {
    prop_oneof![
        Just(Class::Request),
        Just(Class::Indication),
        Just(Class::Success),
        Just(Class::Error),
    ]
}

proptest! {
    #[test]
    fn parse_emit_roundtrip(
        class in arb_class(),
        method in 0u16..0x1000,
        id in any::<[u8; 12]>(),
        mut attributes in proptest::collection::vec(arb_attr(), 0..8),
        fingerprint in any::<bool>(),
    ) {
        if fingerprint {
            attributes.push(Attribute::Fingerprint);
        }
        let m = StunMessage { class, method, transaction_id: id, attributes };
        let b = m.emit().unwrap();
        prop_assert!(looks_like_stun(&b));
        prop_assert_eq!(StunMessage::parse(&b).unwrap(), m);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(v) = StunView::parse(&b) {
            let _ = v.to_message();
            let _ = v.xor_mapped_address();
            let _ = v.error_code();
        }
    }
}
