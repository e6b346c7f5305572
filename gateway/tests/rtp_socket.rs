//! The UDP edge on loopback: an even RTP port with RTCP on the next port, bound to the given
//! address (never the wildcard), and two sessions exchanging RTP and RTCP through it.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use gateway::rtp::rtcp::NtpTimestamp;
use gateway::rtp::session::{RtpSession, RtpSessionConfig};
use gateway::rtp::socket::{BindError, RtpSocketPair};
use heapless::Vec as HVec;

fn lo() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

#[tokio::test]
async fn binds_even_port_pair_on_the_given_address() {
    let pair = RtpSocketPair::bind(lo(), 41000..=41999, 41500).await.unwrap();
    let rtp = pair.rtp.local_addr().unwrap();
    let rtcp = pair.rtcp.local_addr().unwrap();
    assert_eq!(rtp.ip(), lo());
    assert_eq!(rtp.port() % 2, 0);
    assert_eq!(rtcp.port(), rtp.port() + 1);
    assert!((41000..=41999).contains(&rtp.port()));

    assert!(matches!(
        RtpSocketPair::bind("0.0.0.0".parse().unwrap(), 41000..=41999, 0).await,
        Err(BindError::Unspecified)
    ));
    assert!(matches!(
        RtpSocketPair::bind(lo(), 41001..=41001, 0).await,
        Err(BindError::EmptyRange)
    ));

    // A range with a single pair that is taken is exhausted.
    let port = rtp.port();
    assert!(matches!(
        RtpSocketPair::bind(lo(), port..=port + 1, port).await,
        Err(BindError::Exhausted { .. })
    ));
    // The next call skips the busy pair.
    let other = RtpSocketPair::bind(lo(), port..=port + 3, port).await.unwrap();
    assert_eq!(other.rtp_port().unwrap(), port + 2);
}

#[tokio::test]
async fn two_sessions_exchange_rtp_and_rtcp_on_loopback() {
    let a_sock = RtpSocketPair::bind(lo(), 42000..=42999, 42100).await.unwrap();
    let b_sock = RtpSocketPair::bind(lo(), 42000..=42999, 42600).await.unwrap();
    let a_addr = a_sock.rtp.local_addr().unwrap();
    let b_addr = b_sock.rtp.local_addr().unwrap();
    let cfg = |ssrc| RtpSessionConfig {
        local_ssrc: Some(ssrc),
        cname: HVec::from_slice(b"test").unwrap(),
        accepted_payload_types: HVec::from_slice(&[0]).unwrap(),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut a = RtpSession::new(cfg(1), t0, NtpTimestamp(1 << 40), Some(1));
    let mut b = RtpSession::new(cfg(2), t0, NtpTimestamp(1 << 40), Some(2));
    a.set_remote(Some(b_addr), None);
    b.set_remote(Some(a_addr), None);

    let mut out = [0u8; 400];
    let mut inb = [0u8; 1500];
    for i in 0..10u32 {
        let now = t0 + Duration::from_millis(20 * i as u64);
        let o = a
            .write_rtp(now, 0, i * 160, i == 0, &[0xd5; 160], &mut out)
            .unwrap();
        a_sock.rtp.send_to(&out[..o.len], o.to).await.unwrap();
        let (n, from): (usize, SocketAddr) =
            tokio::time::timeout(Duration::from_secs(5), b_sock.rtp.recv_from(&mut inb))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(from, a_addr);
        let r = b.on_rtp(now, from, &inb[..n]).unwrap();
        assert_eq!(r.packet.marker(), i == 0);
        assert_eq!(r.packet.payload().len(), 160);
    }
    assert_eq!(b.remote_source().unwrap().stats.received(), 10);

    // RTCP goes port + 1 to port + 1.
    let now = b.next_deadline();
    let o = b.poll_rtcp(now, &mut out).unwrap().unwrap();
    assert_eq!(o.to.port(), a_addr.port() + 1);
    b_sock.rtcp.send_to(&out[..o.len], o.to).await.unwrap();
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), a_sock.rtcp.recv_from(&mut inb))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from.port(), b_addr.port() + 1);
    let summary = a.on_rtcp(now, from, &inb[..n]).unwrap();
    let report = summary.report.unwrap();
    assert_eq!(report.ssrc, 1);
    assert_eq!(report.cumulative_lost, 0);
    assert_eq!(a.packets_sent(), 10);
}

#[test]
fn std_pair_for_the_media_thread_is_non_blocking() {
    use gateway::rtp::socket::StdRtpSocketPair;
    let pair = StdRtpSocketPair::bind(lo(), 44000..=44999, 44200).unwrap();
    let port = pair.rtp_port().unwrap();
    assert_eq!(port % 2, 0);
    assert_eq!(pair.rtcp.local_addr().unwrap().port(), port + 1);
    let mut buf = [0u8; 16];
    // Nothing queued: a non-blocking socket returns WouldBlock at once.
    assert_eq!(
        pair.rtp.recv_from(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    pair.rtcp
        .send_to(b"ping", pair.rtp.local_addr().unwrap())
        .unwrap();
    let mut got = None;
    for _ in 0..1000 {
        match pair.rtp.recv_from(&mut buf) {
            Ok((n, from)) => {
                got = Some((n, from));
                break;
            }
            Err(_) => std::thread::yield_now(),
        }
    }
    let (n, from) = got.expect("datagram on loopback");
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from.port(), port + 1);
    assert!(matches!(
        StdRtpSocketPair::bind("::".parse().unwrap(), 44000..=44999, 0),
        Err(BindError::Unspecified)
    ));
}

#[test]
fn a_hint_past_the_range_starts_over_at_its_first_pair() {
    use gateway::rtp::socket::StdRtpSocketPair;
    let port = |hint| {
        StdRtpSocketPair::bind(lo(), 45000..=45007, hint)
            .unwrap()
            .rtp_port()
            .unwrap()
    };
    // After the last pair, consecutive calls give the port past the range: the first pair
    // again, not the last one just freed.
    assert_eq!(port(45008), port(45000));
}
