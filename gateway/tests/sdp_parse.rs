//! SDP parser and emitter: the RFC 4566 section 5 example byte for byte, typed errors, and
//! parse(emit(x)) == x over generated descriptions.

use std::borrow::Cow;

use gateway::sdp::{
    Attribute, Bandwidth, Connection, Direction, MediaDescription, Origin, SdpErrorKind, SessionDescription,
    Timing,
};
use proptest::prelude::*;

const RFC4566_SECTION5: &str = "v=0\r\n\
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n\
s=SDP Seminar\r\n\
i=A Seminar on the session description protocol\r\n\
u=http://www.example.com/seminars/sdp.pdf\r\n\
e=j.doe@example.com (Jane Doe)\r\n\
c=IN IP4 224.2.17.12/127\r\n\
t=2873397496 2873404696\r\n\
a=recvonly\r\n\
m=audio 49170 RTP/AVP 0\r\n\
m=video 51372 RTP/AVP 99\r\n\
a=rtpmap:99 h263-1998/90000\r\n";

#[test]
fn rfc4566_5_example_parses_and_emits_identically() {
    let sd = SessionDescription::parse(RFC4566_SECTION5).unwrap();
    assert_eq!(sd.origin.username, "jdoe");
    assert_eq!(sd.origin.session_id, "2890844526");
    assert_eq!(sd.origin.session_version, 2890842807);
    assert_eq!(sd.session_name, "SDP Seminar");
    assert_eq!(sd.emails, vec!["j.doe@example.com (Jane Doe)"]);
    let c = sd.connection.as_ref().unwrap();
    assert_eq!(c.address, "224.2.17.12/127");
    assert_eq!(c.ip(), Some("224.2.17.12".parse().unwrap()));
    assert_eq!(
        sd.timing,
        vec![Timing {
            start: 2873397496,
            stop: 2873404696,
            repeats: vec![]
        }]
    );
    assert_eq!(sd.direction_attr(), Some(Direction::RecvOnly));
    assert_eq!(sd.media.len(), 2);
    assert_eq!(sd.media[0].port, 49170);
    assert_eq!(sd.media[0].payload_types().collect::<Vec<_>>(), vec![0]);
    assert_eq!(sd.media_direction(1), Direction::RecvOnly);
    let map = sd.media[1].rtpmap(99).unwrap();
    assert_eq!((map.encoding, map.clock_rate), ("h263-1998", 90000));
    // Zero-copy: the fields borrow from the input.
    assert!(matches!(sd.session_name, Cow::Borrowed(_)));
    assert_eq!(sd.to_string(), RFC4566_SECTION5);
}

#[test]
fn lf_line_ends_and_missing_timing_are_tolerated() {
    let text = "v=0\no=- 1 2 IN IP6 ::1\ns=-\nc=IN IP6 ::1\nm=audio 4000 RTP/AVP 8\na=ptime:30\na=rtcp:4001 IN IP6 ::1\n";
    let sd = SessionDescription::parse(text).unwrap();
    assert_eq!(sd.media_connection(0).unwrap().ip(), Some("::1".parse().unwrap()));
    assert_eq!(sd.media[0].ptime(), Some(30));
    assert_eq!(sd.media[0].rtcp(), Some((4001, Some("::1".parse().unwrap()))));
    assert!(sd.to_string().contains("t=0 0\r\n"));
}

#[test]
fn malformed_sdp_gives_line_and_kind() {
    let e = |t: &str| SessionDescription::parse(t).unwrap_err();
    assert_eq!(e("o=- 1 1 IN IP4 1.2.3.4\r\n").kind, SdpErrorKind::MissingVersion);
    assert_eq!(e("v=1\r\n").kind, SdpErrorKind::BadVersion);
    assert_eq!(e("v=0\r\ns=x\r\nt=0 0\r\n").kind, SdpErrorKind::MissingOrigin);
    let err = e("v=0\r\no=- x 1 IN IP4\r\n");
    assert_eq!((err.line, err.kind), (2, SdpErrorKind::BadOrigin));
    let base = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n";
    let err = e(&format!("{base}m=audio 70000 RTP/AVP 0\r\n"));
    assert_eq!((err.line, err.kind), (5, SdpErrorKind::BadPort));
    assert_eq!(
        e(&format!("{base}m=audio 4000 RTP/AVP\r\n")).kind,
        SdpErrorKind::BadMedia
    );
    assert_eq!(
        e(&format!("{base}m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n")).kind,
        SdpErrorKind::Misplaced(b't')
    );
    assert_eq!(e(&format!("{base}x=1\r\n")).kind, SdpErrorKind::UnknownType(b'x'));
    assert_eq!(e(&format!("{base}garbage\r\n")).kind, SdpErrorKind::Malformed);
    assert_eq!(
        e(&format!("{base}c=IN IP4\r\n")).kind,
        SdpErrorKind::BadConnection
    );
    assert_eq!(e(&format!("{base}b=AS\r\n")).kind, SdpErrorKind::BadBandwidth);
    assert_eq!(
        e("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=now\r\n").kind,
        SdpErrorKind::BadTiming
    );
    assert_eq!(
        SessionDescription::parse_bytes(&[b'v', b'=', 0xff])
            .unwrap_err()
            .kind,
        SdpErrorKind::NotUtf8
    );
}

fn token() -> impl Strategy<Value = Cow<'static, str>> {
    "[A-Za-z0-9._/+-]{1,12}".prop_map(Cow::Owned)
}

fn text() -> impl Strategy<Value = Cow<'static, str>> {
    "[ -~]{0,20}".prop_map(Cow::Owned)
}

fn connection() -> impl Strategy<Value = Connection<'static>> {
    (token(), token(), token()).prop_map(|(net_type, addr_type, address)| Connection {
        net_type,
        addr_type,
        address,
    })
}

fn attribute() -> impl Strategy<Value = Attribute<'static>> {
    ("[A-Za-z0-9-]{1,10}", prop::option::of("[ -~]{0,20}")).prop_map(|(n, v)| Attribute {
        name: Cow::Owned(n),
        value: v.map(Cow::Owned),
    })
}

fn bandwidth() -> impl Strategy<Value = Bandwidth<'static>> {
    ("[A-Z]{1,4}", any::<u32>()).prop_map(|(t, k)| Bandwidth {
        bw_type: Cow::Owned(t),
        kbps: k as u64,
    })
}

fn media() -> impl Strategy<Value = MediaDescription<'static>> {
    (
        token(),
        any::<u16>(),
        prop::option::of(any::<u16>()),
        token(),
        prop::collection::vec(token(), 1..5),
        prop::option::of(text()),
        prop::collection::vec(connection(), 0..2),
        prop::collection::vec(bandwidth(), 0..2),
        prop::option::of(text()),
        prop::collection::vec(attribute(), 0..6),
    )
        .prop_map(
            |(media, port, port_count, proto, formats, info, connections, bandwidths, key, attributes)| {
                MediaDescription {
                    media,
                    port,
                    port_count,
                    proto,
                    formats,
                    info,
                    connections,
                    bandwidths,
                    key,
                    attributes,
                }
            },
        )
}

fn description() -> impl Strategy<Value = SessionDescription<'static>> {
    let origin = (token(), token(), any::<u64>(), token(), token(), token()).prop_map(
        |(username, session_id, session_version, net_type, addr_type, address)| Origin {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        },
    );
    let timing =
        (any::<u32>(), any::<u32>(), prop::collection::vec(text(), 0..2)).prop_map(|(a, b, r)| Timing {
            start: a as u64,
            stop: b as u64,
            repeats: r,
        });
    (
        (origin, text(), prop::option::of(text()), prop::option::of(text())),
        (
            prop::collection::vec(text(), 0..2),
            prop::collection::vec(text(), 0..2),
        ),
        (
            prop::option::of(connection()),
            prop::collection::vec(bandwidth(), 0..2),
        ),
        prop::collection::vec(timing, 1..3),
        (prop::option::of(text()), prop::option::of(text())),
        prop::collection::vec(attribute(), 0..5),
        prop::collection::vec(media(), 0..4),
    )
        .prop_map(
            |(
                (origin, session_name, info, uri),
                (emails, phones),
                (connection, bandwidths),
                timing,
                (time_zones, key),
                attributes,
                media,
            )| SessionDescription {
                origin,
                session_name,
                info,
                uri,
                emails,
                phones,
                connection,
                bandwidths,
                timing,
                time_zones,
                key,
                attributes,
                media,
            },
        )
}

proptest! {
    #[test]
    fn sdp_parse_emit_round_trip(sd in description()) {
        let text = sd.to_string();
        let back = SessionDescription::parse(&text).unwrap();
        prop_assert_eq!(&back, &sd);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn sdp_parser_never_panics(text in "(v=0\r\n)?([a-z]=[ -~]{0,30}\r?\n){0,12}") {
        if let Ok(sd) = SessionDescription::parse(&text) {
            for i in 0..sd.media.len() {
                let m = &sd.media[i];
                let _ = (m.payload_types().count(), m.ptime(), m.rtcp(), sd.media_direction(i), sd.media_connection(i));
                for pt in 0..128 { let _ = (m.rtpmap(pt), m.fmtp(pt)); }
            }
            let _ = sd.into_owned().to_string();
        }
    }
}
