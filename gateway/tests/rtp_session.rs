//! The sans-IO RTP session in virtual time: SR/RR exchange with round trip, loss and jitter
//! reports, RTCP interval (RFC 3550 6.2, reduced minimum), SSRC change and collision, and
//! symmetric RTP latching with its anti-hijack rule.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::rtp::packet::RtpHeader;
use gateway::rtp::rtcp::{NtpTimestamp, RtcpCompound, RtcpPacket};
use gateway::rtp::session::{RtpDrop, RtpSession, RtpSessionConfig};
use heapless::Vec as HVec;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config(ssrc: u32) -> RtpSessionConfig {
    RtpSessionConfig {
        local_ssrc: Some(ssrc),
        cname: HVec::from_slice(b"gw@127.0.0.1").unwrap(),
        accepted_payload_types: HVec::from_slice(&[0, 101]).unwrap(),
        ..Default::default()
    }
}

fn packet(ssrc: u32, seq: u16, ts: u32, pt: u8) -> Vec<u8> {
    let mut out = vec![0u8; 200];
    let n = RtpHeader::new(pt, seq, ts, ssrc, false)
        .write_packet(None, &[0xff; 160], 0, &mut out)
        .unwrap();
    out.truncate(n);
    out
}

#[test]
fn sr_rr_exchange_reports_loss_jitter_and_round_trip() {
    let t0 = Instant::now();
    let ntp0 = NtpTimestamp::from_unix(Duration::from_secs(1_700_000_000));
    let (a_addr, b_addr) = (addr("127.0.0.1:4000"), addr("127.0.0.1:5000"));
    let mut a = RtpSession::new(config(0xa), t0, ntp0, Some(1));
    let mut b = RtpSession::new(config(0xb), t0, ntp0, Some(2));
    a.set_remote(Some(b_addr), None);
    b.set_remote(Some(a_addr), None);
    let one_way = Duration::from_millis(40);

    // A sends 100 packets of 20 ms; packets 10, 11 and 50 are lost.
    let mut buf = [0u8; 300];
    for i in 0..100u32 {
        let now = t0 + Duration::from_millis(20 * i as u64);
        let out = a
            .write_rtp(now, 0, i * 160, i == 0, &[0xff; 160], &mut buf)
            .unwrap();
        assert_eq!(out.to, b_addr);
        if [10, 11, 50].contains(&i) {
            continue;
        }
        let r = b.on_rtp(now + one_way, a_addr, &buf[..out.len]).unwrap();
        assert_eq!(r.new_source, i == 0);
    }
    let rs = b.remote_source().unwrap();
    assert_eq!(rs.ssrc, 0xa);
    assert_eq!(rs.stats.expected(), 100);
    assert_eq!(rs.stats.cumulative_lost(), 3);
    assert_eq!(rs.stats.jitter(), 0);

    // A's SR at t=2.0 s, received by B 40 ms later.
    let t_sr = t0 + Duration::from_secs(2);
    let mut sr = [0u8; 512];
    let (out, t_sr) = force_report(&mut a, t_sr, &mut sr);
    let c = RtcpCompound::parse(&sr[..out]).unwrap();
    let first = c.packets().next().unwrap();
    let RtcpPacket::SenderReport(v) = first else {
        panic!("expected SR, got {first:?}")
    };
    assert_eq!(v.sender_info().unwrap().packet_count, 100);
    assert_eq!(v.sender_info().unwrap().octet_count, 16000);
    b.on_rtcp(t_sr + one_way, a_addr, &sr[..out]).unwrap();

    // B reports at least 300 ms later (the time it holds the SR goes in DLSR).
    let t_rr = t_sr + one_way + Duration::from_millis(300);
    let mut rr = [0u8; 512];
    let (out, t_rr) = force_report(&mut b, t_rr, &mut rr);
    let c = RtcpCompound::parse(&rr[..out]).unwrap();
    let RtcpPacket::ReceiverReport(v) = c.packets().next().unwrap() else {
        panic!("expected RR")
    };
    let blk = v.blocks().next().unwrap();
    assert_eq!(blk.ssrc, 0xa);
    assert_eq!(blk.cumulative_lost, 3);
    assert_eq!(blk.fraction_lost, (3 * 256 / 100) as u8);
    assert_eq!(
        blk.extended_highest_seq & 0xffff,
        (blk.extended_highest_seq & 0xffff) as u16 as u32
    );
    let summary = a.on_rtcp(t_rr + one_way, b_addr, &rr[..out]).unwrap();
    let rtt = summary.round_trip.unwrap();
    // Round trip = 2 x 40 ms, within the 1/65536 s resolution of LSR/DLSR.
    assert!(
        rtt.abs_diff(Duration::from_millis(80)) < Duration::from_micros(100),
        "{rtt:?}"
    );
    assert_eq!(a.last_round_trip(), Some(rtt));
    assert_eq!(summary.report.unwrap().cumulative_lost, 3);
}

/// Runs the session's RTCP timer until it fires at or after `at`; returns the report length.
fn force_report(s: &mut RtpSession, at: Instant, buf: &mut [u8]) -> (usize, Instant) {
    let now = at.max(s.next_deadline());
    let out = s.poll_rtcp(now, buf).unwrap().expect("report due");
    (out.len, now)
}

#[test]
fn rtcp_interval_follows_rfc3550_6_2() {
    let t0 = Instant::now();
    let ntp = NtpTimestamp(0);
    let mut s = RtpSession::new(config(1), t0, ntp, Some(7));
    s.set_remote(Some(addr("127.0.0.1:6000")), None);
    // Initial interval: half the 5 s minimum, randomised to [0.5, 1.5] and divided by e - 3/2.
    let first = s.next_deadline() - t0;
    let lo = Duration::from_secs_f64(2.5 * 0.5 / 1.21828);
    let hi = Duration::from_secs_f64(2.5 * 1.5 / 1.21828);
    assert!(first >= lo && first <= hi, "{first:?}");
    let mut buf = [0u8; 256];
    let mut now = s.next_deadline();
    assert!(
        s.poll_rtcp(now - Duration::from_millis(1), &mut buf)
            .unwrap()
            .is_none()
    );
    for _ in 0..20 {
        assert!(s.poll_rtcp(now, &mut buf).unwrap().is_some());
        let gap = s.next_deadline() - now;
        assert!(gap >= Duration::from_secs_f64(5.0 * 0.5 / 1.21828), "{gap:?}");
        assert!(gap <= Duration::from_secs_f64(5.0 * 1.5 / 1.21828), "{gap:?}");
        now = s.next_deadline();
    }

    // Reduced minimum: 360 / 80 kbit/s = 4.5 s, no halving at start.
    let mut cfg = config(2);
    cfg.reduced_minimum = true;
    cfg.session_bandwidth_bps = 160_000;
    let r = RtpSession::new(cfg, t0, ntp, Some(8));
    let first = r.next_deadline() - t0;
    assert!(
        first >= Duration::from_secs_f64(2.25 * 0.5 / 1.21828)
            && first <= Duration::from_secs_f64(2.25 * 1.5 / 1.21828)
    );
}

#[test]
fn new_peer_ssrc_resets_source_after_probation_or_silence() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(1), t0, NtpTimestamp(0), Some(3));
    let peer = addr("127.0.0.1:7000");
    s.set_remote(Some(peer), None);
    for i in 0..5u16 {
        let p = packet(0x100, i, i as u32 * 160, 0);
        s.on_rtp(t0 + Duration::from_millis(20 * i as u64), peer, &p)
            .unwrap();
    }
    // A stray packet of another source while the first is live needs a second in sequence.
    let t = t0 + Duration::from_millis(100);
    assert_eq!(
        s.on_rtp(t, peer, &packet(0x200, 900, 0, 0)).unwrap_err(),
        RtpDrop::Probation
    );
    assert!(!s.on_rtp(t, peer, &packet(0x100, 5, 800, 0)).unwrap().new_source);
    let p = packet(0x200, 901, 160, 0);
    assert!(s.on_rtp(t, peer, &p).unwrap().new_source);
    assert_eq!(s.remote_source().unwrap().ssrc, 0x200);
    assert_eq!(s.remote_source().unwrap().stats.received(), 1);
    // After silence (transfer, re-INVITE), a new SSRC is taken at once.
    let later = t + Duration::from_secs(1);
    assert!(s.on_rtp(later, peer, &packet(0x300, 7, 0, 0)).unwrap().new_source);
}

#[test]
fn ssrc_collision_changes_our_ssrc_and_sends_bye() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(0x55), t0, NtpTimestamp(0), Some(4));
    let peer = addr("127.0.0.1:7100");
    s.set_remote(Some(peer), None);
    let mut buf = [0u8; 300];
    s.write_rtp(t0, 0, 0, true, &[0; 160], &mut buf).unwrap();
    // Our own packet looped back is just a loop.
    let own = packet(0x55, s_seq_sent(&mut s), 0, 0);
    assert_eq!(s.on_rtp(t0, peer, &own).unwrap_err(), RtpDrop::Loop);
    // The same SSRC with a foreign sequence is another source: our SSRC changes, the packet counts.
    let other = packet(0x55, 30000, 0, 0);
    assert!(s.on_rtp(t0, addr("127.0.0.1:9999"), &other).is_ok());
    assert_ne!(s.local_ssrc(), 0x55);
    assert_eq!(s.ssrc_collisions(), 1);
    assert_eq!(s.remote_source().unwrap().ssrc, 0x55);
    let mut rtcp = [0u8; 256];
    let (n, _) = force_report(&mut s, t0, &mut rtcp);
    let c = RtcpCompound::parse(&rtcp[..n]).unwrap();
    let bye = c
        .packets()
        .find_map(|p| if let RtcpPacket::Bye(b) = p { Some(b) } else { None })
        .unwrap();
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![0x55]);
}

#[test]
fn unexpected_payload_types_and_garbage_are_dropped() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(1), t0, NtpTimestamp(0), Some(5));
    let peer = addr("127.0.0.1:7200");
    s.set_remote(Some(peer), None);
    assert_eq!(
        s.on_rtp(t0, peer, &packet(9, 1, 0, 18)).unwrap_err(),
        RtpDrop::UnexpectedPayloadType(18)
    );
    assert!(matches!(
        s.on_rtp(t0, peer, &[0x80, 0]),
        Err(RtpDrop::Malformed(_))
    ));
    assert!(s.on_rtp(t0, peer, &packet(9, 1, 0, 101)).is_ok());
    s.set_accepted_payload_types(&[8]);
    assert_eq!(
        s.on_rtp(t0, peer, &packet(9, 2, 0, 0)).unwrap_err(),
        RtpDrop::UnexpectedPayloadType(0)
    );
}

#[test]
fn symmetric_rtp_latches_without_being_hijacked() {
    let t0 = Instant::now();
    let mut cfg = config(1);
    cfg.symmetric = true;
    let mut s = RtpSession::new(cfg, t0, NtpTimestamp(0), Some(6));
    let sdp = addr("10.0.0.5:4000");
    let nat = addr("127.0.0.2:31000");
    let attacker = addr("127.0.0.3:666");
    s.set_remote(Some(sdp), None);
    assert_eq!(s.rtp_destination(), Some(sdp));

    // The peer behind NAT: the first packet only makes it a candidate...
    assert_eq!(
        s.on_rtp(t0, nat, &packet(0x77, 10, 0, 0)).unwrap_err(),
        RtpDrop::Probation
    );
    assert_eq!(s.rtp_destination(), Some(sdp));
    // ...a packet from elsewhere resets the candidate...
    assert_eq!(
        s.on_rtp(t0, attacker, &packet(0x99, 11, 0, 0)).unwrap_err(),
        RtpDrop::Probation
    );
    assert_eq!(
        s.on_rtp(t0, nat, &packet(0x77, 11, 160, 0)).unwrap_err(),
        RtpDrop::Probation
    );
    // ...and two in sequence from one address and SSRC latch.
    let t1 = t0 + Duration::from_millis(40);
    assert!(s.on_rtp(t1, nat, &packet(0x77, 12, 320, 0)).is_ok());
    assert_eq!(s.rtp_destination(), Some(nat));
    assert_eq!(s.rtcp_destination(), Some(addr("127.0.0.2:31001")));

    // Once latched, others are ignored, even with valid-looking sequences.
    for i in 0..5u16 {
        let t = t1 + Duration::from_millis(20 * i as u64);
        assert_eq!(
            s.on_rtp(t, attacker, &packet(0x99, 100 + i, 0, 0)).unwrap_err(),
            RtpDrop::ForeignSource
        );
        assert!(
            s.on_rtp(t, nat, &packet(0x77, 13 + i, 480 + 160 * i as u32, 0))
                .is_ok()
        );
    }
    assert_eq!(s.rtp_destination(), Some(nat));

    // The NAT binding changes: after the latched address went silent, the new one can latch.
    let t2 = t1 + Duration::from_secs(3);
    let rebound = addr("127.0.0.2:31002");
    assert_eq!(
        s.on_rtp(t2, rebound, &packet(0x77, 40, 0, 0)).unwrap_err(),
        RtpDrop::Probation
    );
    assert!(s.on_rtp(t2, rebound, &packet(0x77, 41, 160, 0)).is_ok());
    assert_eq!(s.rtp_destination(), Some(rebound));

    // RTCP from the latched peer latches the RTCP destination (its NAT port need not be RTP + 1).
    let mut peer = RtpSession::new(config(0x77), t2, NtpTimestamp(0), Some(12));
    peer.set_remote(Some(addr("127.0.0.9:9")), None);
    let mut rb = [0u8; 256];
    let n = peer
        .poll_rtcp(peer.next_deadline(), &mut rb)
        .unwrap()
        .unwrap()
        .len;
    s.on_rtcp(t2, addr("127.0.0.3:667"), &rb[..n]).unwrap();
    assert_eq!(
        s.rtcp_destination(),
        Some(addr("127.0.0.2:31003")),
        "foreign RTCP source must not latch"
    );
    s.on_rtcp(t2, addr("127.0.0.2:40404"), &rb[..n]).unwrap();
    assert_eq!(s.rtcp_destination(), Some(addr("127.0.0.2:40404")));
    assert!(s.remote_silent_for(t2 + Duration::from_secs(1)).unwrap() >= Duration::from_secs(1));

    // A re-INVITE with a new address clears the latch; a packet from the SDP address latches at once.
    let moved = addr("127.0.0.4:5000");
    s.set_remote(Some(moved), None);
    assert_eq!(s.rtp_destination(), Some(moved));
    assert!(s.on_rtp(t2, moved, &packet(0x77, 42, 320, 0)).is_ok());
    assert_eq!(s.rtp_destination(), Some(moved));
}

#[test]
fn expected_remote_ssrc_from_signalling_filters() {
    let t0 = Instant::now();
    let mut cfg = config(1);
    cfg.expected_remote_ssrc = Some(0x1234);
    let mut s = RtpSession::new(cfg, t0, NtpTimestamp(0), Some(9));
    let peer = addr("127.0.0.1:7300");
    assert_eq!(
        s.on_rtp(t0, peer, &packet(0x4321, 1, 0, 0)).unwrap_err(),
        RtpDrop::ForeignSource
    );
    assert!(s.on_rtp(t0, peer, &packet(0x1234, 1, 0, 0)).is_ok());
}

#[test]
fn hold_address_clears_destination_and_bye_is_reported() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(1), t0, NtpTimestamp(0), Some(10));
    s.set_remote(Some(addr("0.0.0.0:4000")), None);
    assert_eq!(s.rtp_destination(), None);
    let mut buf = [0u8; 300];
    assert!(s.write_rtp(t0, 0, 0, false, &[0; 160], &mut buf).is_err());

    let peer = addr("127.0.0.1:7400");
    s.set_remote(Some(peer), None);
    s.on_rtp(t0, peer, &packet(0x42, 1, 0, 0)).unwrap();
    let mut peer_session = RtpSession::new(config(0x42), t0, NtpTimestamp(0), Some(11));
    peer_session.set_remote(Some(addr("127.0.0.1:7500")), None);
    let n = peer_session.write_bye(t0, Some(b"bye"), &mut buf).unwrap().len;
    let summary = s.on_rtcp(t0, peer, &buf[..n]).unwrap();
    assert!(summary.bye);
    assert!(s.remote_source().is_none());
}

#[test]
fn telephone_events_do_not_inflate_jitter() {
    let t0 = Instant::now();
    let mut cfg = config(1);
    cfg.telephone_event_pt = Some(101);
    let mut s = RtpSession::new(cfg, t0, NtpTimestamp(0), Some(13));
    let peer = addr("127.0.0.1:7600");
    // Audio, then one event held for 10 packets (constant timestamp), then audio again.
    for i in 0..30u32 {
        let (pt, ts) = if (10..20).contains(&i) {
            (101, 10 * 160)
        } else {
            (0, i * 160)
        };
        let p = packet(0x5, i as u16, ts, pt);
        s.on_rtp(t0 + Duration::from_millis(20 * i as u64), peer, &p)
            .unwrap();
    }
    assert_eq!(s.remote_source().unwrap().stats.jitter(), 0);
}

/// Sequence number of the packet the session sent last.
fn s_seq_sent(s: &mut RtpSession) -> u16 {
    let h = s.next_header(0, 0, false);
    h.sequence.wrapping_sub(1)
}

#[test]
fn peer_with_our_ssrc_before_we_sent_just_moves_us() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(0x66), t0, NtpTimestamp(0), Some(14));
    let peer = addr("127.0.0.1:7700");
    s.set_remote(Some(peer), None);
    assert!(s.on_rtp(t0, peer, &packet(0x66, 1, 0, 0)).is_ok());
    assert_ne!(s.local_ssrc(), 0x66);
    let mut buf = [0u8; 256];
    let n = s.poll_rtcp(s.next_deadline(), &mut buf).unwrap().unwrap().len;
    let c = RtcpCompound::parse(&buf[..n]).unwrap();
    assert!(!c.packets().any(|p| matches!(p, RtcpPacket::Bye(_))));
}
