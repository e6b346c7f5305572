//! RFC 2198 redundancy against independent implementations:
//! - Wireshark's RED dissector (tshark) reads the blocks the media loop sends: primary and
//!   redundant payload types, timestamp offsets and lengths, and RFC 4733 events outside RED;
//! - GStreamer's `rtpreddec` decodes the loop's RED stream with packets missing, and recovers
//!   them from the redundant blocks to exactly the audio that was sent;
//! - GStreamer's `rtpredenc` produces RED that the loop takes, recovering the frames of
//!   packets dropped on the way exactly when the next packet arrived.
//!
//! Needs `tshark` and `gst-launch-1.0` with the good plugins
//! (scripts/deps.d/test-media-proto.apt); with CI set, a missing tool fails the test.

mod media_support;

use std::io::Write;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use codecs::codec::{VoiceCodec, VoiceDecoder};
use gateway::media::{
    DigitTarget, Digits, DtmfTransport, Endpoint, MediaCommand, MediaConfig, MediaEngine, PortLines,
    StreamConfig, StreamId,
};
use gateway::rtp::RtpPacket;
use gateway::rtp::red::RedPayload;
use media_support::*;

const RED_PT: u8 = 121;

fn tool_available(cmd: &str, arg: &str) -> bool {
    let ok = Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{cmd} {arg} is missing (install scripts/deps.d/test-media-proto.apt)"
        );
        eprintln!("{cmd} {arg} not available: skipping interop check");
    }
    ok
}

fn media_config() -> MediaConfig {
    MediaConfig {
        max_streams: 1,
        echo_tail_ms: 32,
        rt_priority: 0,
        lock_memory: false,
        queue_depth: 64,
    }
}

/// Runs a media loop whose line says `speech` into a PCMU stream with RED (and RFC 4733 when
/// `digits` are given, sent from tick 20) for `ticks` ticks in virtual time; returns the RTP
/// packets it sent, in order.
fn loop_red_packets(speech: &[i16], ticks: usize, digits: Option<&str>) -> Vec<Vec<u8>> {
    let tap = PcmTap::new(vec![speech.to_vec()], 1, 0.0);
    let (mut engine, mut handle) = MediaEngine::with_config(
        Box::new(VirtualPcm::new(tap)),
        vec![PortLines::Fxs {
            id: 0,
            pcm_channel: 0,
            line: Box::new(OffHookPhone),
        }],
        media_config(),
    );
    let capture = UdpSocket::bind("127.0.0.1:0").unwrap();
    capture.set_nonblocking(true).unwrap();
    let mut cfg = StreamConfig::new(VoiceCodec::Pcmu, Some(capture.local_addr().unwrap()));
    cfg.red_pt = Some(RED_PT);
    cfg.dtmf = DtmfTransport::InBand;
    for c in [
        MediaCommand::SetEcho {
            port: 0,
            enabled: false,
            nlp: false,
            reset: true,
        },
        MediaCommand::SetDtmfDetect {
            port: 0,
            enabled: false,
        },
        MediaCommand::start_stream(StreamId(0), loopback_pair(), cfg),
        MediaCommand::Connect {
            a: Endpoint::Port(0),
            b: Endpoint::Stream(StreamId(0)),
        },
    ] {
        handle.send(c).unwrap();
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    for t in 0..ticks {
        if t == 20
            && let Some(d) = digits
        {
            handle
                .send(MediaCommand::SendDigits {
                    target: DigitTarget::Stream(StreamId(0)),
                    digits: Digits::try_from(d).unwrap(),
                    on_ms: 80,
                    off_ms: 60,
                })
                .unwrap();
        }
        engine.tick().unwrap();
        while handle.poll_event().is_some() {}
        handle.collect_retired();
        while let Ok(n) = capture.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
    }
    out
}

/// Raw-IPv4 pcap (LINKTYPE_RAW) with UDP datagrams from 127.0.0.1:40002 to 127.0.0.2:40000.
fn write_pcap(path: &Path, datagrams: &[Vec<u8>]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes());
    for (i, payload) in datagrams.iter().enumerate() {
        let udp_len = 8 + payload.len();
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        ip.extend_from_slice(&Ipv4Addr::new(127, 0, 0, 1).octets());
        ip.extend_from_slice(&Ipv4Addr::new(127, 0, 0, 2).octets());
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&40002u16.to_be_bytes());
        ip.extend_from_slice(&40000u16.to_be_bytes());
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

#[test]
fn tshark_reads_the_red_blocks_the_loop_sends() {
    if !tool_available("tshark", "--version") {
        return;
    }
    let sp = speech();
    let packets = loop_red_packets(&sp[..8000], 60, Some("5"));
    let dir = std::env::temp_dir().join(format!("rtp-red-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("red.pcap");
    write_pcap(&pcap, &packets);
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args([
            "-d",
            "udp.port==40000,rtp",
            "-d",
            &format!("rtp.pt=={RED_PT},rtp_rfc2198"),
        ])
        .args(["-o", "rtpevent.event_payload_type_value:101"])
        .args(["-T", "fields", "-E", "separator=|"])
        .args(["-e", "rtp.seq", "-e", "rtp.p_type", "-e", "rtp.follow"])
        .args([
            "-e",
            "rtp.timestamp-offset",
            "-e",
            "rtp.block-length",
            "-e",
            "rtpevent.event_id",
        ])
        .output()
        .expect("run tshark");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), packets.len());
    let (mut red, mut with_copy, mut events) = (0, 0, 0);
    for (pkt, row) in packets.iter().zip(&rows) {
        let p = RtpPacket::parse(pkt).unwrap();
        assert_eq!(row[0], p.sequence().to_string());
        // rtp.p_type: the RTP header's, then each block's.
        let pts: Vec<&str> = row[1].split(',').collect();
        assert_eq!(pts[0], p.payload_type().to_string());
        if p.payload_type() == 101 {
            // Events keep their own payload type, outside RED.
            assert!(!row[5].is_empty(), "telephone-event dissected: {row:?}");
            events += 1;
            continue;
        }
        assert_eq!(p.payload_type(), RED_PT, "audio goes out as RED");
        red += 1;
        let r = RedPayload::parse(p.payload()).unwrap();
        let mut want_pts = vec![RED_PT.to_string()];
        want_pts.extend(r.redundant().map(|b| b.payload_type.to_string()));
        want_pts.push(r.primary().payload_type.to_string());
        assert_eq!(pts, want_pts, "block payload types");
        if r.redundant_count() > 0 {
            with_copy += 1;
            let b = r.redundant().next().unwrap();
            assert_eq!((b.payload_type, b.timestamp_offset, b.data.len()), (0, 160, 160));
            assert_eq!(row[2].split(',').next(), Some("1"), "F bit of the first header");
            assert_eq!(row[3], b.timestamp_offset.to_string());
            assert_eq!(row[4], b.data.len().to_string());
        } else {
            assert!(row[3].is_empty(), "no redundant block header: {row:?}");
        }
    }
    eprintln!("{red} RED packets ({with_copy} with a redundant block), {events} RFC 4733 packets");
    assert!(events >= 4, "RFC 4733 packets: {events}");
    // Only the first packet of each talk spurt (the start, and after the digit) has no copy.
    assert!(red >= 20 && with_copy + 2 >= red, "{with_copy} of {red}");
}

#[test]
fn gstreamer_rtpreddec_recovers_the_loop_red_stream() {
    if !tool_available("gst-inspect-1.0", "rtpreddec") {
        return;
    }
    let sp = speech();
    let packets = loop_red_packets(&sp[..8000 * 2], 220, None);
    let dir = std::env::temp_dir().join(format!("rtp-red-gst-dec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("out.raw");
    // Isolated losses: each dropped packet's frame rides in the next one. The packets that
    // remain go to GStreamer as one file each.
    let dropped = [10usize, 40, 61, 85];
    let mut expected = Vec::new();
    let mut dec = VoiceCodec::Pcmu.decoder();
    let mut written = 0;
    for (k, pkt) in packets.iter().enumerate() {
        let p = RtpPacket::parse(pkt).unwrap();
        let r = RedPayload::parse(p.payload()).unwrap();
        let mut pcm = vec![0i16; r.primary().data.len()];
        dec.decode(r.primary().data, &mut pcm).unwrap();
        expected.extend_from_slice(&pcm);
        if !dropped.contains(&k) {
            std::fs::write(dir.join(format!("in{written:05}.rtp")), pkt).unwrap();
            written += 1;
        }
    }
    let pipeline = format!(
        "multifilesrc location={}/in%05d.rtp do-timestamp=true \
         caps=application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0 \
         ! identity single-segment=true ! rtpreddec pt={RED_PT} \
         ! rtppcmudepay ! mulawdec ! filesink location={}",
        dir.display(),
        out_path.display()
    );
    let status = Command::new("timeout")
        .arg("60")
        .arg("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run gst-launch-1.0");
    assert!(status.success(), "gst-launch-1.0: {status}");
    let got = std::fs::read(&out_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let got: Vec<i16> = got
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "rtpreddec gave {} of {} frames",
        got.len() / 160,
        expected.len() / 160
    );
    assert!(got == expected, "decoded audio differs from what the loop sent");
}

#[test]
fn gstreamer_rtpredenc_stream_is_recovered_by_the_loop() {
    if !tool_available("gst-inspect-1.0", "rtpredenc") {
        return;
    }
    let sp = speech();
    let sp = &sp[..8000 * 4];
    let dir = std::env::temp_dir().join(format!("rtp-red-gst-enc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("speech.raw");
    std::fs::File::create(&src)
        .unwrap()
        .write_all(&sp.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>())
        .unwrap();
    // GStreamer writes each RTP packet to a file of its own; the test then plays them into
    // the loop in virtual time, 20 ms apart.
    let pipeline = format!(
        "filesrc location={} blocksize=320 \
         ! rawaudioparse format=pcm pcm-format=s16le sample-rate=8000 num-channels=1 \
         ! mulawenc ! rtppcmupay min-ptime=20000000 max-ptime=20000000 \
         ! rtpredenc pt={RED_PT} distance=1 ! multifilesink location={}/pkt%05d.rtp",
        src.display(),
        dir.display()
    );
    let status = Command::new("timeout")
        .arg("60")
        .arg("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run gst-launch-1.0");
    assert!(status.success(), "gst-launch-1.0: {status}");
    let frames = sp.len() / 160;
    let packets: Vec<Vec<u8>> = (0..)
        .map_while(|k| std::fs::read(dir.join(format!("pkt{k:05}.rtp"))).ok())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(packets.len(), frames, "packets from rtpredenc");
    let with_copy = packets
        .iter()
        .filter(|p| {
            let p = RtpPacket::parse(p).unwrap();
            p.payload_type() == RED_PT && RedPayload::parse(p.payload()).unwrap().redundant_count() == 1
        })
        .count();
    assert!(
        with_copy + 1 >= frames,
        "{with_copy} of {frames} RED packets with a copy"
    );

    // The loop under test takes them with 5 % missing: 8 isolated and one pair.
    let dropped = [12usize, 30, 55, 56, 80, 101, 130, 151, 177];
    let ticks = 2 * frames + 40;
    let tap = PcmTap::new(vec![vec![]], ticks + 10, 0.0);
    let (mut engine, mut handle) = MediaEngine::with_config(
        Box::new(VirtualPcm::new(tap.clone())),
        vec![PortLines::Fxs {
            id: 0,
            pcm_channel: 0,
            line: Box::new(OffHookPhone),
        }],
        media_config(),
    );
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sockets = loopback_pair();
    let engine_addr = sockets.rtp.local_addr().unwrap();
    let mut cfg = StreamConfig::new(VoiceCodec::Pcmu, Some(peer.local_addr().unwrap()));
    cfg.red_pt = Some(RED_PT);
    handle
        .send(MediaCommand::start_stream(StreamId(0), sockets, cfg))
        .unwrap();
    handle
        .send(MediaCommand::Connect {
            a: Endpoint::Port(0),
            b: Endpoint::Stream(StreamId(0)),
        })
        .unwrap();
    for t in 0..ticks {
        if t % 2 == 0
            && let Some(pkt) = packets.get(t / 2)
            && !dropped.contains(&(t / 2))
        {
            peer.send_to(pkt, engine_addr).unwrap();
        }
        engine.tick().unwrap();
        while handle.poll_event().is_some() {}
        handle.collect_retired();
    }
    let st = handle.stats.stream(StreamId(0)).unwrap();
    let recovered = st.recovered_frames.load(Ordering::Relaxed);
    let concealed = st.concealed_frames.load(Ordering::Relaxed);
    let received = st.packets_received.load(Ordering::Relaxed);
    eprintln!("rtpredenc -> loop: {received} received, {recovered} recovered, {concealed} concealed");
    assert_eq!(received as usize, frames - dropped.len());
    // Every dropped packet but the first of the pair came back from the next packet.
    assert_eq!(recovered, dropped.len() as u64 - 1);
    // The first of the pair, and the frames after the stream ended.
    let extra = concealed - 1;
    assert!(extra <= 10, "concealed {concealed}");
    let c = segment_correlation(sp, &tap.output(0), 8 * 200);
    assert!(c > 0.95, "speech through rtpredenc and the loop: correlation {c}");
}
