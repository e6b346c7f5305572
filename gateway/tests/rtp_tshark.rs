//! Interop with an independent implementation: packets written by our RTP, RTCP, RFC 4733
//! and SDP emitters are decoded by Wireshark's dissectors (tshark) from a pcap file, and every
//! field must read back as written. Needs `tshark` (scripts/deps.d/test-media-proto.apt); with
//! CI set, a missing tshark fails the test.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use gateway::rtp::dtmf_event::TelephoneEvent;
use gateway::rtp::packet::{RtpExtension, RtpHeader};
use gateway::rtp::rtcp::{NtpTimestamp, ReceiverReport, ReportBlock, RtcpWriter, SenderInfo, SenderReport};
use gateway::sdp::{AudioCodec, LocalMedia, OfferAnswerConfig, SdpNegotiator};
use heapless::Vec as HVec;

fn tshark_available() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is missing (install scripts/deps.d/test-media-proto.apt)"
        );
        eprintln!("tshark not installed: skipping interop check");
    }
    ok
}

/// Raw-IPv4 pcap (LINKTYPE_RAW) with UDP datagrams from 127.0.0.1:src to 127.0.0.2:dst.
fn write_pcap(path: &Path, datagrams: &[(u16, u16, Vec<u8>)]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes());
    for (i, (src, dst, payload)) in datagrams.iter().enumerate() {
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip.extend_from_slice(&Ipv4Addr::new(127, 0, 0, 1).octets());
        ip.extend_from_slice(&Ipv4Addr::new(127, 0, 0, 2).octets());
        let sum = ip
            .chunks(2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]) as u32)
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&src.to_be_bytes());
        ip.extend_from_slice(&dst.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(payload);
        f.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        f.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        f.extend_from_slice(&ip);
    }
    std::fs::write(path, f).unwrap();
}

/// One line per packet, fields separated by '|'.
fn tshark_fields(pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(pcap)
        .args(["-d", "udp.port==40000,rtp", "-d", "udp.port==40001,rtcp"])
        .args([
            "-o",
            "rtpevent.event_payload_type_value:101",
            "-T",
            "fields",
            "-E",
            "separator=|",
        ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn tshark_decodes_our_rtp_events_rtcp_and_sdp() {
    if !tshark_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("media-proto-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("media.pcap");

    let mut datagrams = Vec::new();
    // 1: PCMU with marker, two CSRCs, a header extension and padding, at the sequence wrap.
    let mut h = RtpHeader::new(0, 65535, 0xffff_fff0, 0x1122_3344, true);
    h.csrcs.push(0x55).unwrap();
    h.csrcs.push(0x66).unwrap();
    let mut buf = [0u8; 400];
    let ext = RtpExtension {
        profile: 0x1000,
        data: &[1, 2, 3, 4],
    };
    let n = h.write_packet(Some(ext), &[0xff; 160], 4, &mut buf).unwrap();
    datagrams.push((40000, 40000, buf[..n].to_vec()));
    // 2: RFC 4733 '#' end packet.
    let mut ev = [0u8; 4];
    TelephoneEvent {
        event: 11,
        end: true,
        volume: 10,
        duration: 800,
    }
    .write(&mut ev)
    .unwrap();
    let n = RtpHeader::new(101, 0, 0x0000_0100, 0x1122_3344, false)
        .write_packet(None, &ev, 0, &mut buf)
        .unwrap();
    datagrams.push((40000, 40000, buf[..n].to_vec()));
    // 3: SR + SDES + BYE.
    let block = ReportBlock {
        ssrc: 0xaabb_ccdd,
        fraction_lost: 25,
        cumulative_lost: 12,
        extended_highest_seq: 0x0002_0010,
        jitter: 37,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 0x0001_8000,
    };
    let sr = SenderReport {
        ssrc: 0x1122_3344,
        info: SenderInfo {
            ntp: NtpTimestamp(0xe8a0_0000_8000_0000),
            rtp_timestamp: 4000,
            packet_count: 321,
            octet_count: 51360,
        },
        blocks: HVec::from_slice(&[block]).unwrap(),
    };
    let mut w = RtcpWriter::new(&mut buf);
    w.sender_report(&sr).unwrap();
    w.sdes_cname(0x1122_3344, b"gw@127.0.0.1").unwrap();
    w.bye(&[0x1122_3344], Some(b"call ended")).unwrap();
    let n = w.finish();
    datagrams.push((40001, 40001, buf[..n].to_vec()));
    // 4: RR + SDES.
    let mut w = RtcpWriter::new(&mut buf);
    w.receiver_report(&ReceiverReport {
        ssrc: 0x99,
        blocks: HVec::from_slice(&[block]).unwrap(),
    })
    .unwrap();
    w.sdes_cname(0x99, b"peer").unwrap();
    let n = w.finish();
    datagrams.push((40001, 40001, buf[..n].to_vec()));
    // 5: our SDP offer in a SIP INVITE.
    let mut neg = SdpNegotiator::new(
        OfferAnswerConfig {
            codecs: vec![AudioCodec::Pcma, AudioCodec::Gsm],
            ..Default::default()
        },
        LocalMedia {
            address: "127.0.0.1".parse().unwrap(),
            rtp_port: 40000,
        },
        4242,
    );
    let sdp = neg.create_offer().to_string();
    let sip = format!(
        "INVITE sip:100@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:gw@127.0.0.1>;tag=1\r\n\
         To: <sip:100@127.0.0.2>\r\nCall-ID: 1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@127.0.0.1>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    datagrams.push((5060, 5060, sip.into_bytes()));
    write_pcap(&pcap, &datagrams);

    let rtp = tshark_fields(
        &pcap,
        &[
            "rtp.seq",
            "rtp.timestamp",
            "rtp.ssrc",
            "rtp.marker",
            "rtp.p_type",
            "rtp.cc",
            "rtp.csrc.item",
            "rtp.ext.profile",
            "rtp.padding.count",
            "rtpevent.event_id",
            "rtpevent.end_of_event",
            "rtpevent.volume",
            "rtpevent.duration",
            "_ws.malformed",
        ],
    );
    assert_eq!(
        rtp[0][..9],
        [
            "65535",
            "4294967280",
            "0x11223344",
            "1",
            "0",
            "2",
            "0x00000055,0x00000066",
            "0x1000",
            "4"
        ]
    );
    assert_eq!(rtp[1][4], "101");
    assert_eq!(rtp[1][9..13], ["11", "1", "10", "800"]);
    assert!(rtp.iter().all(|r| r[13].is_empty()), "malformed: {rtp:?}");

    let rtcp = tshark_fields(
        &pcap,
        &[
            "rtcp.pt",
            "rtcp.senderssrc",
            "rtcp.timestamp.rtp",
            "rtcp.sender.packetcount",
            "rtcp.sender.octetcount",
            "rtcp.ssrc.identifier",
            "rtcp.ssrc.fraction",
            "rtcp.ssrc.cum_nr",
            "rtcp.ssrc.ext_high",
            "rtcp.ssrc.jitter",
            "rtcp.ssrc.lsr",
            "rtcp.ssrc.dlsr",
            "rtcp.sdes.text",
            "rtcp.length_check",
            "_ws.expert.severity",
        ],
    );
    let sr_row = &rtcp[2];
    assert_eq!(sr_row[0], "200,202,203");
    assert_eq!(sr_row[1..5], ["0x11223344", "4000", "321", "51360"]);
    // The report block's source, then the SDES chunk and BYE sources.
    assert_eq!(sr_row[5], "0xaabbccdd,0x11223344,0x11223344");
    assert_eq!(sr_row[6..12], ["25", "12", "131088", "37", "305419896", "98304"]);
    // CNAME, then the BYE reason (reported under the same text field).
    assert_eq!(sr_row[12], "gw@127.0.0.1,call ended");
    assert_eq!(sr_row[13], "1");
    let rr_row = &rtcp[3];
    assert_eq!(rr_row[0], "201,202");
    assert_eq!(rr_row[12], "peer");
    assert_eq!(rr_row[13], "1");

    let sdp_rows = tshark_fields(
        &pcap,
        &[
            "sdp.owner.sessionid",
            "sdp.connection_info.address",
            "sdp.media.media",
            "sdp.media.port",
            "sdp.media.proto",
            "sdp.media.format",
            "sdp.media_attribute.field",
        ],
    );
    let row = &sdp_rows[4];
    assert_eq!(row[0], "4242");
    assert_eq!(row[1], "127.0.0.1");
    assert_eq!(row[2], "audio");
    assert_eq!(row[3], "40000");
    assert_eq!(row[4], "RTP/AVP");
    assert!(
        row[5].contains("ITU-T G.711 PCMA") && row[5].contains("GSM"),
        "{}",
        row[5]
    );
    assert_eq!(row[6], "rtpmap,rtpmap,rtpmap,fmtp,ptime,rtcp");
    let _ = std::fs::remove_dir_all(&dir);
}
