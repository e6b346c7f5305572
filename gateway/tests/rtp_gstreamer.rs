//! Interop with an independent RTP stack: GStreamer's rtpbin sends PCMU RTP and RTCP
//! (SR + SDES) to our socket pair on loopback; our session must accept every packet, count no
//! loss, and read the sender report and CNAME. Needs `gst-launch-1.0` with the good plugins
//! (scripts/deps.d/test-media-proto.apt); with CI set, a missing tool fails the test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway::rtp::rtcp::{NtpTimestamp, RtcpCompound, RtcpPacket};
use gateway::rtp::session::{RtpSession, RtpSessionConfig};
use gateway::rtp::socket::RtpSocketPair;
use heapless::Vec as HVec;

fn gst_available() -> bool {
    let ok = Command::new("gst-inspect-1.0")
        .arg("rtpbin")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "gst-launch-1.0 with rtpbin is missing (install scripts/deps.d/test-media-proto.apt)"
        );
        eprintln!("GStreamer not installed: skipping interop check");
    }
    ok
}

/// Kills the sender when the test ends, whatever happens.
struct Sender(std::process::Child);
impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn gstreamer_rtpbin_stream_is_received_and_reported() {
    if !gst_available() {
        return;
    }
    let lo = "127.0.0.1".parse().unwrap();
    let socks = RtpSocketPair::bind(lo, 43000..=43999, 43000 + (std::process::id() % 400) as u16 * 2)
        .await
        .unwrap();
    let port = socks.rtp_port().unwrap();
    let _sender = Sender(
        Command::new("gst-launch-1.0")
            .args([
                "-q",
                "rtpbin",
                "name=b",
                "audiotestsrc",
                "is-live=true",
                "num-buffers=500",
                "samplesperbuffer=160",
            ])
            .args([
                "!",
                "audio/x-raw,rate=8000,channels=1",
                "!",
                "mulawenc",
                "!",
                "rtppcmupay",
                "!",
                "b.send_rtp_sink_0",
            ])
            .args([
                "b.send_rtp_src_0",
                "!",
                "udpsink",
                "host=127.0.0.1",
                &format!("port={port}"),
            ])
            .args([
                "b.send_rtcp_src_0",
                "!",
                "udpsink",
                "host=127.0.0.1",
                &format!("port={}", port + 1),
            ])
            .args(["sync=false", "async=false"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gst-launch-1.0"),
    );

    let t0 = Instant::now();
    let mut session = RtpSession::new(
        RtpSessionConfig {
            accepted_payload_types: HVec::from_slice(&[0]).unwrap(),
            cname: HVec::from_slice(b"gw@127.0.0.1").unwrap(),
            ..Default::default()
        },
        t0,
        NtpTimestamp::from_unix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap(),
        ),
        None,
    );
    let (mut rtp_buf, mut rtcp_buf) = ([0u8; 1500], [0u8; 1500]);
    let (mut received, mut rtp_ssrc, mut sr) = (0u32, None, None);
    let mut cname = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while (received < 50 || sr.is_none()) && tokio::time::Instant::now() < deadline {
        tokio::select! {
            r = socks.rtp.recv_from(&mut rtp_buf) => {
                let (n, from) = r.unwrap();
                let p = session.on_rtp(Instant::now(), from, &rtp_buf[..n]).expect("rtpbin packet accepted");
                assert_eq!(p.packet.payload_type(), 0);
                assert_eq!(p.packet.payload().len(), 160);
                rtp_ssrc = Some(p.packet.ssrc());
                received += 1;
            }
            r = socks.rtcp.recv_from(&mut rtcp_buf) => {
                let (n, from) = r.unwrap();
                let c = RtcpCompound::parse(&rtcp_buf[..n]).expect("rtpbin RTCP parses");
                assert!(c.starts_with_report());
                for p in c.packets() {
                    if let RtcpPacket::Sdes(s) = p {
                        cname = s.cname().map(|(ssrc, text)| (ssrc, String::from_utf8_lossy(text).into_owned()));
                    }
                }
                let summary = session.on_rtcp(Instant::now(), from, &rtcp_buf[..n]).unwrap();
                if summary.sender_info.is_some() {
                    sr = summary.sender_info;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
    assert!(received >= 50, "only {received} RTP packets from rtpbin");
    let source = session.remote_source().unwrap();
    assert_eq!(Some(source.ssrc), rtp_ssrc);
    assert_eq!(source.stats.cumulative_lost(), 0);
    assert_eq!(source.stats.received(), received);
    let sr = sr.expect("rtpbin sent a sender report");
    assert!(
        sr.packet_count > 0 && sr.octet_count == sr.packet_count * 160,
        "{sr:?}"
    );
    let (cname_ssrc, cname) = cname.expect("rtpbin sent a CNAME");
    assert_eq!(Some(cname_ssrc), rtp_ssrc);
    assert!(!cname.is_empty());
    // Our report about the stream carries rtpbin's SR reference (LSR), for its round trip.
    session.set_remote(Some("127.0.0.1:9".parse().unwrap()), None);
    let mut out = [0u8; 512];
    let o = session
        .poll_rtcp(session.next_deadline(), &mut out)
        .unwrap()
        .unwrap();
    let c = RtcpCompound::parse(&out[..o.len]).unwrap();
    let RtcpPacket::ReceiverReport(rr) = c.packets().next().unwrap() else {
        panic!("expected RR")
    };
    let block = rr.blocks().next().unwrap();
    assert_eq!(Some(block.ssrc), rtp_ssrc);
    assert_eq!(block.last_sr, sr.ntp.middle32());
    assert_eq!(block.cumulative_lost, 0);
}
