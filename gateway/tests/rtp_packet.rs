//! RTP, RTCP, RFC 4733 and RFC 3389 wire formats: golden layouts from the RFC figures, typed
//! errors for malformed input, and parse(emit(x)) == x property tests.

use gateway::rtp::cn::{CnError, ComfortNoise, ComfortNoiseValue};
use gateway::rtp::dtmf_event::{EventError, EventPayload, TelephoneEvent};
use gateway::rtp::packet::{RtpError, RtpExtension, RtpHeader, RtpPacket, seq_newer, write_with};
use gateway::rtp::rtcp::{
    Bye, NtpTimestamp, ReceiverReport, ReportBlock, RtcpCompound, RtcpError, RtcpPacket, RtcpValue,
    RtcpWriter, SdesCname, SenderInfo, SenderReport,
};
use heapless::Vec as HVec;
use proptest::prelude::*;

#[test]
fn rfc3550_5_1_fixed_header_layout() {
    // V=2 P=0 X=0 CC=2 | M=1 PT=8 | seq 0xbeef | ts 0x01020304 | SSRC 0x11223344 | 2 CSRCs | payload
    let bytes = [
        0x82, 0x88, 0xbe, 0xef, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 7, 0, 0, 0, 9, 0xd5, 0x55,
    ];
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(p.version(), 2);
    assert!(p.marker());
    assert_eq!(p.payload_type(), 8);
    assert_eq!(p.sequence(), 0xbeef);
    assert_eq!(p.timestamp(), 0x0102_0304);
    assert_eq!(p.ssrc(), 0x1122_3344);
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![7, 9]);
    assert_eq!(p.payload(), &[0xd5, 0x55]);
    // Writing the owned header back gives the same bytes.
    let mut out = [0u8; 64];
    let n = p.header().write_packet(None, p.payload(), 0, &mut out).unwrap();
    assert_eq!(&out[..n], &bytes);
}

#[test]
fn rfc3550_5_3_1_extension_and_padding() {
    let mut out = [0u8; 64];
    let h = RtpHeader::new(0, 1, 160, 5, false);
    let ext = RtpExtension {
        profile: 0xbede,
        data: &[1, 2, 3, 4],
    };
    let n = h.write_packet(Some(ext), &[9, 9, 9], 5, &mut out).unwrap();
    assert_eq!(n, 12 + 8 + 3 + 5);
    assert_eq!(out[0], 0xb0); // V=2, P, X
    assert_eq!(out[n - 1], 5); // padding count in the last byte
    let p = RtpPacket::parse(&out[..n]).unwrap();
    assert_eq!(p.extension(), Some(ext));
    assert_eq!(p.payload(), &[9, 9, 9]);
    assert_eq!(p.padding_len(), 5);
}

#[test]
fn malformed_rtp_gives_typed_errors() {
    assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::TooShort { len: 5 }));
    let mut b = [0u8; 12];
    b[0] = 0x40;
    assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadVersion { version: 1 }));
    b[0] = 0x83; // 3 CSRCs announced, none present
    assert_eq!(
        RtpPacket::parse(&b),
        Err(RtpError::CsrcOverrun {
            csrc_count: 3,
            len: 12
        })
    );
    let mut e = [0u8; 16];
    e[0] = 0x90;
    e[14] = 0;
    e[15] = 2; // 2 extension words missing
    assert_eq!(
        RtpPacket::parse(&e),
        Err(RtpError::ExtensionOverrun { needed: 24, len: 16 })
    );
    let mut p = [0u8; 14];
    p[0] = 0xa0;
    p[13] = 9;
    assert_eq!(
        RtpPacket::parse(&p),
        Err(RtpError::BadPadding {
            padding: 9,
            available: 2
        })
    );
    let h = RtpHeader::new(0, 0, 0, 0, false);
    assert_eq!(
        h.write_packet(None, &[0; 10], 0, &mut [0u8; 20]),
        Err(RtpError::BufferTooSmall {
            needed: 22,
            capacity: 20
        })
    );
    let bad = RtpHeader::new(200, 0, 0, 0, false);
    assert_eq!(
        bad.write_header(None, &mut [0u8; 20]),
        Err(RtpError::BadPayloadType { payload_type: 200 })
    );
}

#[test]
fn payload_written_in_place() {
    let mut out = [0u8; 200];
    let h = RtpHeader::new(0, 7, 1000, 42, true);
    let n = write_with(&h, &mut out, |pl| {
        pl[..160].fill(0xff);
        160
    })
    .unwrap();
    assert_eq!(n, 172);
    let p = RtpPacket::parse(&out[..n]).unwrap();
    assert!(p.payload().iter().all(|&b| b == 0xff));
}

#[test]
fn sequence_order_wraps() {
    assert!(seq_newer(0, 65535));
    assert!(!seq_newer(65535, 0));
    assert!(seq_newer(10, 5));
}

#[test]
fn rfc3550_6_4_compound_sr_sdes_bye() {
    let mut blocks = HVec::new();
    blocks
        .push(ReportBlock {
            ssrc: 0xaabbccdd,
            fraction_lost: 64,
            cumulative_lost: 12,
            extended_highest_seq: 0x0001_0005,
            jitter: 37,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 0x0001_8000,
        })
        .unwrap();
    let sr = SenderReport {
        ssrc: 0x0102_0304,
        info: SenderInfo {
            ntp: NtpTimestamp(0xe000_0000_8000_0000),
            rtp_timestamp: 160,
            packet_count: 3,
            octet_count: 480,
        },
        blocks,
    };
    let mut buf = [0u8; 256];
    let mut w = RtcpWriter::new(&mut buf);
    w.sender_report(&sr).unwrap();
    w.sdes_cname(0x0102_0304, b"gw@127.0.0.1").unwrap();
    w.bye(&[0x0102_0304], Some(b"hangup")).unwrap();
    let n = w.finish();
    // SR: header 0x81 200, length (52/4 - 1) = 12.
    assert_eq!(&buf[..4], &[0x81, 200, 0, 12]);
    assert_eq!(n % 4, 0);
    let c = RtcpCompound::parse(&buf[..n]).unwrap();
    assert!(c.starts_with_report());
    let pkts: Vec<_> = c.packets().collect();
    assert_eq!(pkts.len(), 3);
    match &pkts[0] {
        RtcpPacket::SenderReport(v) => {
            assert_eq!(v.sender_info(), Some(sr.info));
            assert_eq!(v.blocks().next(), Some(sr.blocks[0]));
        }
        p => panic!("{p:?}"),
    }
    match &pkts[1] {
        RtcpPacket::Sdes(s) => assert_eq!(s.cname(), Some((0x0102_0304, &b"gw@127.0.0.1"[..]))),
        p => panic!("{p:?}"),
    }
    match &pkts[2] {
        RtcpPacket::Bye(b) => {
            assert_eq!(b.ssrcs().collect::<Vec<_>>(), vec![0x0102_0304]);
            assert_eq!(b.reason(), Some(&b"hangup"[..]));
        }
        p => panic!("{p:?}"),
    }
}

#[test]
fn malformed_rtcp_gives_typed_errors() {
    assert_eq!(RtcpCompound::parse(&[]), Err(RtcpError::Empty));
    assert_eq!(
        RtcpCompound::parse(&[0x80, 201, 0]),
        Err(RtcpError::TooShort { offset: 0, len: 3 })
    );
    assert_eq!(
        RtcpCompound::parse(&[0x40, 201, 0, 0]),
        Err(RtcpError::BadVersion {
            offset: 0,
            version: 1
        })
    );
    assert_eq!(
        RtcpCompound::parse(&[0x80, 201, 0, 5, 0, 0, 0, 0]),
        Err(RtcpError::LengthOverrun {
            offset: 0,
            declared: 24,
            available: 8
        })
    );
    // RR announcing one block with none present.
    assert_eq!(
        RtcpCompound::parse(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
        Err(RtcpError::ReportOverrun { offset: 0, count: 1 })
    );
    // Padding on a packet that is not the last one.
    let mut two = [0u8; 16];
    two[..8].copy_from_slice(&[0xa0, 201, 0, 1, 0, 0, 0, 4]);
    two[8..16].copy_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 1]);
    assert_eq!(
        RtcpCompound::parse(&two),
        Err(RtcpError::PaddingNotLast { offset: 0 })
    );
    // SDES item longer than the packet.
    assert_eq!(
        RtcpCompound::parse(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 20, b'a', 0]),
        Err(RtcpError::SdesOverrun { offset: 0 })
    );
}

#[test]
fn rfc4733_2_3_event_layout() {
    // Event 5, E=1, volume 10, duration 1760 (RFC 4733 figure 1 field layout).
    let ev = TelephoneEvent {
        event: 5,
        end: true,
        volume: 10,
        duration: 1760,
    };
    let mut b = [0u8; 4];
    ev.write(&mut b).unwrap();
    assert_eq!(b, [5, 0x8a, 0x06, 0xe0]);
    assert_eq!(TelephoneEvent::parse(&b), Ok(ev));
    assert_eq!(
        TelephoneEvent::parse(&[1, 2, 3]),
        Err(EventError::BadLength { len: 3 })
    );
    assert_eq!(EventPayload::parse(&[0; 8]).unwrap().blocks().count(), 2);
    let loud = TelephoneEvent { volume: 64, ..ev };
    assert_eq!(loud.write(&mut b), Err(EventError::BadVolume { volume: 64 }));
}

#[test]
fn rfc3389_3_noise_level_and_coefficients() {
    let cn = ComfortNoise::parse(&[40, 127, 200, 10]).unwrap();
    assert_eq!(cn.level(), 40);
    assert_eq!(cn.coefficients(), &[127, 200, 10]);
    assert!((cn.rms_amplitude() - 327.67).abs() < 0.1);
    assert_eq!(ComfortNoise::parse(&[]), Err(CnError::Empty));
    assert_eq!(
        ComfortNoise::parse(&[0x85]),
        Err(CnError::BadLevel { byte: 0x85 })
    );
    let v = cn.to_value();
    let mut out = [0u8; 8];
    let n = v.write(&mut out).unwrap();
    assert_eq!(&out[..n], &[40, 127, 200, 10]);
    assert_eq!(
        ComfortNoiseValue {
            level: 3,
            ..Default::default()
        }
        .write(&mut []),
        Err(CnError::BufferTooSmall { needed: 1 })
    );
}

fn arb_header() -> impl Strategy<Value = RtpHeader> {
    (
        any::<bool>(),
        0u8..128,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 0..=15),
    )
        .prop_map(
            |(marker, payload_type, sequence, timestamp, ssrc, csrcs)| RtpHeader {
                marker,
                payload_type,
                sequence,
                timestamp,
                ssrc,
                csrcs: HVec::from_slice(&csrcs).unwrap(),
            },
        )
}

fn arb_block() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        -0x80_0000i32..0x80_0000,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                ssrc,
                fraction_lost,
                cumulative_lost,
                extended_highest_seq,
                jitter,
                last_sr,
                delay_since_last_sr,
            )| ReportBlock {
                ssrc,
                fraction_lost,
                cumulative_lost,
                extended_highest_seq,
                jitter,
                last_sr,
                delay_since_last_sr,
            },
        )
}

fn arb_rtcp() -> impl Strategy<Value = RtcpValue> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(arb_block(), 0..4)
        )
            .prop_map(
                |(ssrc, ntp, rtp_timestamp, packet_count, octet_count, b)| RtcpValue::Sr(SenderReport {
                    ssrc,
                    info: SenderInfo {
                        ntp: NtpTimestamp(ntp),
                        rtp_timestamp,
                        packet_count,
                        octet_count
                    },
                    blocks: HVec::from_slice(&b).unwrap(),
                })
            ),
        (any::<u32>(), prop::collection::vec(arb_block(), 0..4)).prop_map(|(ssrc, b)| RtcpValue::Rr(
            ReceiverReport {
                ssrc,
                blocks: HVec::from_slice(&b).unwrap()
            }
        )),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(ssrc, c)| RtcpValue::Sdes(
            SdesCname {
                ssrc,
                cname: HVec::from_slice(&c).unwrap()
            }
        )),
        (
            prop::collection::vec(any::<u32>(), 0..5),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..40))
        )
            .prop_map(|(s, r)| RtcpValue::Bye(Bye {
                ssrcs: HVec::from_slice(&s).unwrap(),
                reason: r.map(|r| HVec::from_slice(&r).unwrap())
            })),
    ]
}

proptest! {
    #[test]
    fn rtp_parse_emit_round_trip(
        h in arb_header(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        ext in prop::option::of((any::<u16>(), prop::collection::vec(any::<u8>(), 0..4).prop_map(|w| w.repeat(4)))),
        padding in 0u8..8,
    ) {
        let mut out = vec![0u8; 2048];
        let e = ext.as_ref().map(|(profile, data)| RtpExtension { profile: *profile, data });
        let n = h.write_packet(e, &payload, padding, &mut out).unwrap();
        let p = RtpPacket::parse(&out[..n]).unwrap();
        prop_assert_eq!(p.header(), h);
        prop_assert_eq!(p.payload(), &payload[..]);
        prop_assert_eq!(p.extension(), e);
        prop_assert_eq!(p.padding_len(), padding as usize);
    }

    #[test]
    fn rtp_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(p) = RtpPacket::parse(&bytes) {
            let _ = (p.payload(), p.extension(), p.csrcs().count(), p.header());
        }
    }

    #[test]
    fn rtcp_parse_emit_round_trip(values in prop::collection::vec(arb_rtcp(), 1..5)) {
        let mut buf = vec![0u8; 8192];
        let mut w = RtcpWriter::new(&mut buf);
        for v in &values {
            w.write(v).unwrap();
        }
        let n = w.finish();
        let c = RtcpCompound::parse(&buf[..n]).unwrap();
        let back: Vec<RtcpValue> = c.packets().map(|p| p.to_value().unwrap()).collect();
        prop_assert_eq!(back, values);
    }

    #[test]
    fn rtcp_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(c) = RtcpCompound::parse(&bytes) {
            for p in c.packets() {
                let _ = p.to_value();
                match p {
                    RtcpPacket::SenderReport(v) | RtcpPacket::ReceiverReport(v) => { let _ = v.blocks().count(); }
                    RtcpPacket::Sdes(s) => { for (_, items) in s.chunks() { let _ = items.count(); } }
                    RtcpPacket::Bye(b) => { let _ = (b.ssrcs().count(), b.reason()); }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn event_round_trip(event in any::<u8>(), end in any::<bool>(), volume in 0u8..64, duration in any::<u16>()) {
        let ev = TelephoneEvent { event, end, volume, duration };
        let mut b = [0u8; 4];
        ev.write(&mut b).unwrap();
        prop_assert_eq!(TelephoneEvent::parse(&b), Ok(ev));
    }

    #[test]
    fn cn_round_trip(level in 0u8..128, coefficients in prop::collection::vec(any::<u8>(), 0..16)) {
        let v = ComfortNoiseValue { level, coefficients: HVec::from_slice(&coefficients).unwrap() };
        let mut b = [0u8; 32];
        let n = v.write(&mut b).unwrap();
        prop_assert_eq!(ComfortNoise::parse(&b[..n]).unwrap().to_value(), v);
    }
}
