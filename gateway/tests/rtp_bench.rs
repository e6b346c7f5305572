//! Throughput harness for the media protocol paths, run by scripts/bench.d/media-proto.sh
//! (ignored in normal test runs; it measures, it asserts nothing about speed).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::rtp::jitter::{JitterBuffer, JitterConfig, Playout};
use gateway::rtp::rtcp::NtpTimestamp;
use gateway::rtp::session::{RtpSession, RtpSessionConfig};
use gateway::sdp::{LocalMedia, OfferAnswerConfig, SdpNegotiator, SessionDescription};
use heapless::Vec as HVec;

fn time<F: FnMut(u32)>(iters: u32, mut f: F) -> f64 {
    let t = Instant::now();
    for i in 0..iters {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

#[test]
#[ignore]
fn media_proto_bench() {
    const N: u32 = 400_000;
    let t0 = Instant::now();
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let cfg = |ssrc| RtpSessionConfig {
        local_ssrc: Some(ssrc),
        accepted_payload_types: HVec::from_slice(&[0]).unwrap(),
        ..Default::default()
    };
    let mut tx = RtpSession::new(cfg(1), t0, NtpTimestamp(0), Some(1));
    tx.set_remote(Some(peer), None);
    let mut rx = RtpSession::new(cfg(2), t0, NtpTimestamp(0), Some(2));
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let payload = [0xd5u8; 160];
    let packets: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let mut b = vec![0u8; 200];
            let o = tx
                .write_rtp(
                    t0 + Duration::from_millis(20 * i as u64),
                    0,
                    i * 160,
                    false,
                    &payload,
                    &mut b,
                )
                .unwrap();
            b.truncate(o.len);
            b
        })
        .collect();

    // Reference: copying each datagram once (what any receive path must at least do).
    let mut sink = [0u8; 200];
    let copy_ns = time(N, |i| {
        let p = &packets[i as usize];
        sink[..p.len()].copy_from_slice(black_box(p));
        black_box(&sink);
    });

    // Receive path: parse + session (stats, jitter) + jitter buffer push + pop.
    let rx_ns = time(N, |i| {
        let now = t0 + Duration::from_millis(20 * i as u64 + 30);
        let r = rx.on_rtp(now, peer, &packets[i as usize]).unwrap();
        let p = r.packet;
        let local = i.wrapping_mul(160).wrapping_add(240);
        jb.push(
            local,
            p.ssrc(),
            p.sequence(),
            p.timestamp(),
            p.marker(),
            p.payload_type(),
            160,
            p.payload(),
        );
        if let Playout::Frame { payload, .. } = jb.pop(local) {
            black_box(payload);
        }
    });

    // Send path: header + payload written into the buffer, SR accounting.
    let mut out = [0u8; 200];
    let tx_ns = time(N, |i| {
        let now = t0 + Duration::from_millis(20 * i as u64);
        black_box(tx.write_rtp(now, 0, i * 160, false, &payload, &mut out).unwrap());
    });

    // SDP: parse an offer and build the answer, against a plain line split of the same body.
    let offer = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
                 m=audio 49170 RTP/AVP 0 8 3 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
                 a=rtpmap:3 GSM/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
                 a=sendrecv\r\nm=video 51372 RTP/AVP 31\r\n";
    let lines_ns = time(20_000, |_| {
        black_box(black_box(offer).split("\r\n").map(|l| l.len()).sum::<usize>());
    });
    let mut neg = SdpNegotiator::new(
        OfferAnswerConfig::default(),
        LocalMedia {
            address: "192.0.2.10".parse().unwrap(),
            rtp_port: 16384,
        },
        1,
    );
    let oa_ns = time(20_000, |_| {
        let sd = SessionDescription::parse(black_box(offer)).unwrap();
        black_box(neg.process_offer(&sd).unwrap().0.to_string());
    });

    let per_channel = rx_ns + tx_ns;
    println!("\n| Path | ns per packet/op | Reference | ns | Ratio |");
    println!("|---|---|---|---|---|");
    println!(
        "| RTP receive (parse, session stats/jitter, jitter buffer push+pop) | {rx_ns:.0} | copy of the 172-byte datagram | {copy_ns:.1} | {:.1}x |",
        rx_ns / copy_ns
    );
    println!(
        "| RTP send (header + payload into buffer, SR accounting) | {tx_ns:.0} | copy of the 172-byte datagram | {copy_ns:.1} | {:.1}x |",
        tx_ns / copy_ns
    );
    println!(
        "| SDP offer parse + answer + emit | {oa_ns:.0} | splitting the same body into lines | {lines_ns:.0} | {:.1}x |",
        oa_ns / lines_ns
    );
    println!();
    println!(
        "Protocol work per 20 ms G.711 channel (one packet each way): {per_channel:.0} ns, i.e. {:.4}% of one core; \
         one core could carry the protocol side of {:.0} channels (codec and DSP not included).",
        per_channel / 20e6 * 100.0,
        20e6 / per_channel
    );
}
