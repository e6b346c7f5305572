//! The per-packet media protocol paths allocate nothing: a counting global allocator watches
//! 10,000 packets through the RTP session (send and receive), the jitter buffer, the RFC 4733
//! sender/receiver, CN parsing and the RTCP schedule; RFC 2198 redundancy (emitting, parsing,
//! recovering lost frames from the copies).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::rtp::cn::ComfortNoise;
use gateway::rtp::dtmf_event::{EventReceiver, EventSender, EventSenderConfig, TelephoneEvent};
use gateway::rtp::jitter::{JitterBuffer, JitterConfig, Playout};
use gateway::rtp::red::{RedBlock, RedPayload, RedundantAudio};
use gateway::rtp::rtcp::NtpTimestamp;
use gateway::rtp::session::{RtpSession, RtpSessionConfig};
use heapless::Vec as HVec;

struct Counting;

thread_local! {
    // Only the test's own thread is watched and counted: the harness allocates on its threads
    // meanwhile, and the other test (which allocates on purpose to prove the counter works)
    // runs in parallel.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    if WATCHED.with(Cell::get) {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
    }
}

/// Allocations counted on this thread so far.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn per_packet_paths_do_not_allocate() {
    let t0 = Instant::now();
    let a_addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let b_addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let cfg = |ssrc| RtpSessionConfig {
        local_ssrc: Some(ssrc),
        cname: HVec::from_slice(b"gw@127.0.0.1").unwrap(),
        accepted_payload_types: HVec::from_slice(&[0, 13, 101]).unwrap(),
        telephone_event_pt: Some(101),
        symmetric: true,
        ..Default::default()
    };
    let mut a = RtpSession::new(cfg(1), t0, NtpTimestamp(1 << 50), Some(1));
    let mut b = RtpSession::new(cfg(2), t0, NtpTimestamp(1 << 50), Some(2));
    a.set_remote(Some(b_addr), None);
    b.set_remote(Some(a_addr), None);
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let mut events = EventSender::new(EventSenderConfig::default());
    let mut receiver = EventReceiver::new();
    let mut pkt = [0u8; 256];
    let mut rtcp = [0u8; 512];
    let audio = [0xd5u8; 160];
    let mut played = 0u32;

    WATCHED.with(|w| w.set(true));
    // The counter sees allocations.
    let probe = allocations();
    drop(std::hint::black_box(Box::new(7u64)));
    assert!(allocations() > probe);

    let before = allocations();
    for i in 0..10_000u32 {
        let now = t0 + Duration::from_millis(20 * i as u64);
        let ts = a.timestamp_offset().wrapping_add(i * 160);
        // Every 500 packets a digit: 10 packet times of events instead of audio.
        if i % 500 == 100 {
            events.start((i / 500 % 10) as u8, ts);
        }
        if i % 500 == 110 {
            events.stop();
        }
        let out = if let Some(ev) = events.poll() {
            let mut payload = [0u8; 4];
            ev.event.write(&mut payload).unwrap();
            a.write_rtp(now, 101, ev.timestamp, ev.marker, &payload, &mut pkt)
                .unwrap()
        } else if i % 500 == 300 {
            a.write_rtp(now, 13, ts, false, &[40, 127, 127], &mut pkt)
                .unwrap()
        } else {
            a.write_rtp(now, 0, ts, false, &audio, &mut pkt).unwrap()
        };
        let arrival = now + Duration::from_millis(30 + (i % 7) as u64 * 5);
        let local = (arrival - t0).as_millis() as u32 * 8;
        let r = b.on_rtp(arrival, a_addr, &pkt[..out.len]).unwrap();
        let p = r.packet;
        match p.payload_type() {
            101 => {
                jb.note_foreign_seq(p.sequence());
                let ev = TelephoneEvent::parse(p.payload()).unwrap();
                let _ = receiver.on_packet(p.timestamp(), p.marker(), ev, local);
            }
            13 => {
                ComfortNoise::parse(p.payload()).unwrap();
                jb.push(
                    local,
                    p.ssrc(),
                    p.sequence(),
                    p.timestamp(),
                    p.marker(),
                    13,
                    160,
                    p.payload(),
                );
            }
            _ => {
                jb.push(
                    local,
                    p.ssrc(),
                    p.sequence(),
                    p.timestamp(),
                    p.marker(),
                    0,
                    160,
                    p.payload(),
                );
            }
        }
        let _ = receiver.on_timeout(local, 800);
        if let Playout::Frame { .. } = jb.pop(local) {
            played += 1;
        }
        // Scheduled reports (their content is checked elsewhere).
        let _ = a.poll_rtcp(now, &mut rtcp).unwrap();
        let _ = b.poll_rtcp(now, &mut rtcp).unwrap();
        if i % 250 == 0 {
            let o = a.poll_rtcp(a.next_deadline(), &mut rtcp).unwrap().unwrap();
            b.on_rtcp(now, a_addr, &rtcp[..o.len]).unwrap();
            let o = b.poll_rtcp(b.next_deadline(), &mut rtcp).unwrap().unwrap();
            a.on_rtcp(now, b_addr, &rtcp[..o.len]).unwrap();
        }
    }
    let after = allocations();
    WATCHED.with(|w| w.set(false));
    assert_eq!(after - before, 0, "allocations on the per-packet paths");
    assert!(played > 9_000);
    assert!(a.last_round_trip().is_some());
}

#[test]
fn red_paths_do_not_allocate() {
    let t0 = Instant::now();
    let a_addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let b_addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let cfg = |ssrc| RtpSessionConfig {
        local_ssrc: Some(ssrc),
        accepted_payload_types: HVec::from_slice(&[0, 121]).unwrap(),
        ..Default::default()
    };
    let mut a = RtpSession::new(cfg(1), t0, NtpTimestamp(1 << 50), Some(1));
    let mut b = RtpSession::new(cfg(2), t0, NtpTimestamp(1 << 50), Some(2));
    a.set_remote(Some(b_addr), None);
    b.set_remote(Some(a_addr), None);
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let mut pkt = [0u8; 512];
    let mut red = [0u8; 400];
    let mut prev = [0u8; 160];
    let mut played = 0u32;
    let mut rng = 0x5eed_1234u32;

    WATCHED.with(|w| w.set(true));
    let before = allocations();
    for i in 0..10_000u32 {
        let now = t0 + Duration::from_millis(20 * i as u64);
        let ts = a.timestamp_offset().wrapping_add(i * 160);
        let audio = [(i % 251) as u8; 160];
        let n = {
            let mut v = RedundantAudio::new(0, &audio).unwrap();
            if i > 0 {
                v.push_redundant(RedBlock {
                    payload_type: 0,
                    timestamp_offset: 160,
                    data: &prev,
                })
                .unwrap();
            }
            v.write(&mut red).unwrap()
        };
        prev = audio;
        let out = a.write_rtp(now, 121, ts, i == 0, &red[..n], &mut pkt).unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let local = (now - t0).as_millis() as u32 * 8 + 240;
        // 3 % of the packets are lost.
        if rng % 100 >= 3 {
            let r = b.on_rtp(now, a_addr, &pkt[..out.len]).unwrap();
            let p = r.packet;
            let payload = RedPayload::parse(p.payload()).unwrap();
            let primary = payload.primary();
            jb.push(
                local,
                p.ssrc(),
                p.sequence(),
                p.timestamp(),
                p.marker(),
                primary.payload_type,
                160,
                primary.data,
            );
            for c in payload.redundant() {
                jb.push_redundant(
                    p.ssrc(),
                    p.sequence().wrapping_sub(1),
                    c.timestamp(p.timestamp()),
                    c.payload_type,
                    160,
                    c.data,
                );
            }
        }
        if let Playout::Frame { .. } = jb.pop(local) {
            played += 1;
        }
    }
    let after = allocations();
    WATCHED.with(|w| w.set(false));
    assert_eq!(after - before, 0, "allocations on the RED paths");
    let s = jb.stats();
    assert!(s.recovered > 200, "recovered {}", s.recovered);
    assert!(played > 9_800, "played {played}");
}
