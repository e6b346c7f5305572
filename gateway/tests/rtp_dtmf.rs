//! RFC 4733 sender and receiver state machines: marker, constant timestamp, duration updates,
//! triple end packets, long-event segmentation, and a receiver that reports each digit exactly
//! once under retransmission, loss and reordering.

use gateway::rtp::dtmf_event::{
    EventNotice, EventPacket, EventReceiver, EventSender, EventSenderConfig, MAX_SEGMENT_DURATION,
    TelephoneEvent, dtmf_char, dtmf_event_code,
};

fn sender() -> EventSender {
    EventSender::new(EventSenderConfig {
        packet_duration: 160,
        volume: 10,
        end_packets: 3,
        min_duration: 320,
    })
}

/// Runs a key press of `held` packet times and returns every packet sent.
fn press(s: &mut EventSender, event: u8, ts: u32, held: usize) -> Vec<EventPacket> {
    s.start(event, ts);
    let mut out = Vec::new();
    for i in 0.. {
        if i == held {
            s.stop();
        }
        match s.poll() {
            Some(p) => out.push(p),
            None => break,
        }
    }
    out
}

#[test]
fn rfc4733_2_5_1_sender_sequence() {
    let mut s = sender();
    let pkts = press(&mut s, 5, 8000, 5);
    // 5 updates while held (the 6th poll carries the first end), then 2 more end retransmissions.
    assert_eq!(pkts.len(), 8);
    assert!(pkts[0].marker);
    assert!(pkts[1..].iter().all(|p| !p.marker));
    assert!(
        pkts.iter()
            .all(|p| p.timestamp == 8000 && p.event.event == 5 && p.event.volume == 10)
    );
    let durations: Vec<u16> = pkts.iter().map(|p| p.event.duration).collect();
    assert_eq!(durations, vec![160, 320, 480, 640, 800, 960, 960, 960]);
    let ends: Vec<bool> = pkts.iter().map(|p| p.event.end).collect();
    assert_eq!(ends, vec![false, false, false, false, false, true, true, true]);
    assert!(!s.is_active());
}

#[test]
fn short_press_lasts_the_minimum_duration() {
    let mut s = sender();
    let pkts = press(&mut s, 1, 0, 0);
    assert_eq!(pkts.iter().filter(|p| !p.event.end).count(), 1);
    assert_eq!(pkts.last().unwrap().event.duration, 320);
    assert_eq!(pkts.iter().filter(|p| p.event.end).count(), 3);
}

#[test]
fn rfc4733_2_5_1_3_long_event_is_segmented() {
    let mut s = sender();
    // Held for 12 s: 600 packet times, beyond 0xFFFF (8.19 s) units.
    let pkts = press(&mut s, 0, 1000, 600);
    let first_seg: Vec<_> = pkts.iter().filter(|p| p.timestamp == 1000).collect();
    let second: Vec<_> = pkts
        .iter()
        .filter(|p| p.timestamp == 1000 + MAX_SEGMENT_DURATION as u32)
        .collect();
    assert_eq!(first_seg.last().unwrap().event.duration, MAX_SEGMENT_DURATION);
    assert!(!first_seg.last().unwrap().event.end);
    assert!(!second[0].marker);
    // The new segment counts from the end of the previous one.
    assert_eq!(
        second[0].event.duration as u32,
        411 * 160 - MAX_SEGMENT_DURATION as u32
    );
    assert_eq!(first_seg.len() + second.len(), pkts.len());
    // Total duration over segments equals the time held.
    let total = MAX_SEGMENT_DURATION as u32 + second.last().unwrap().event.duration as u32;
    assert_eq!(total, 601 * 160);

    // The receiver joins the segments into one digit.
    let mut r = EventReceiver::new();
    let notices: Vec<EventNotice> = pkts
        .iter()
        .flat_map(|p| r.on_packet(p.timestamp, p.marker, p.event, 0))
        .collect();
    assert_eq!(
        notices,
        vec![
            EventNotice::Begin {
                event: 0,
                timestamp: 1000
            },
            EventNotice::End {
                event: 0,
                timestamp: 1000,
                duration: total
            }
        ]
    );
}

#[test]
fn receiver_reports_each_digit_once_despite_duplicates_and_loss() {
    let mut s = sender();
    let mut stream = Vec::new();
    let mut ts = 0;
    for d in "1234#".chars() {
        stream.extend(press(&mut s, dtmf_event_code(d).unwrap(), ts, 4));
        ts += 2000;
    }
    // Network: every packet duplicated, the begin packets (marker) of digit '2' lost, all end
    // packets of digit '3' lost, and '4' arriving with its first two packets swapped.
    let mut net = Vec::new();
    for (i, p) in stream.iter().enumerate() {
        if p.timestamp == 2000 && p.event.duration <= 320 {
            continue;
        }
        if p.timestamp == 4000 && p.event.end {
            continue;
        }
        net.push(*p);
        if i % 2 == 0 {
            net.push(*p);
        }
    }
    let four = net.iter().position(|p| p.timestamp == 6000).unwrap();
    net.swap(four, four + 1);

    let mut r = EventReceiver::new();
    let mut notices = Vec::new();
    for p in &net {
        notices.extend(r.on_packet(p.timestamp, p.marker, p.event, 0));
    }
    let begins: String = notices
        .iter()
        .filter_map(|n| {
            if let EventNotice::Begin { event, .. } = n {
                dtmf_char(*event)
            } else {
                None
            }
        })
        .collect();
    let ends: String = notices
        .iter()
        .filter_map(|n| {
            if let EventNotice::End { event, .. } = n {
                dtmf_char(*event)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(begins, "1234#");
    assert_eq!(ends, "1234#");
    // Late retransmission of an old digit's end changes nothing.
    let old = stream.iter().find(|p| p.timestamp == 0 && p.event.end).unwrap();
    assert!(r.on_packet(old.timestamp, false, old.event, 0).is_empty());
}

#[test]
fn same_digit_twice_is_two_events() {
    let mut r = EventReceiver::new();
    let ev = |duration, end| TelephoneEvent {
        event: 7,
        end,
        volume: 10,
        duration,
    };
    let mut n: Vec<EventNotice> = r.on_packet(100, true, ev(160, false), 0).to_vec();
    n.extend(r.on_packet(100, false, ev(320, true), 0));
    n.extend(r.on_packet(100, false, ev(320, true), 0));
    n.extend(r.on_packet(900, true, ev(160, false), 0));
    n.extend(r.on_packet(900, false, ev(480, true), 0));
    assert_eq!(
        n.as_slice(),
        &[
            EventNotice::Begin {
                event: 7,
                timestamp: 100
            },
            EventNotice::End {
                event: 7,
                timestamp: 100,
                duration: 320
            },
            EventNotice::Begin {
                event: 7,
                timestamp: 900
            },
            EventNotice::End {
                event: 7,
                timestamp: 900,
                duration: 480
            },
        ]
    );
}

#[test]
fn lost_end_packets_end_the_event_on_timeout() {
    let mut r = EventReceiver::new();
    let ev = TelephoneEvent {
        event: 3,
        end: false,
        volume: 10,
        duration: 160,
    };
    assert_eq!(r.on_packet(500, true, ev, 10_000).len(), 1);
    assert_eq!(r.active_event(), Some(3));
    assert_eq!(r.on_timeout(10_400, 800), None);
    assert_eq!(
        r.on_timeout(10_800, 800),
        Some(EventNotice::End {
            event: 3,
            timestamp: 500,
            duration: 160
        })
    );
    assert_eq!(r.active_event(), None);
    // A retransmission after the timeout does not restart it.
    assert!(
        r.on_packet(500, false, TelephoneEvent { end: true, ..ev }, 10_900)
            .is_empty()
    );
}

#[test]
fn different_digits_reusing_one_timestamp_are_both_reported() {
    // Some senders keep the timestamp frozen while no audio flows.
    let mut r = EventReceiver::new();
    let ev = |event, end| TelephoneEvent {
        event,
        end,
        volume: 10,
        duration: 480,
    };
    let mut n: Vec<EventNotice> = r.on_packet(300, true, ev(1, true), 0).to_vec();
    n.extend(r.on_packet(300, true, ev(2, true), 0));
    n.extend(r.on_packet(300, false, ev(1, true), 0));
    let begins = n
        .iter()
        .filter(|x| matches!(x, EventNotice::Begin { .. }))
        .count();
    assert_eq!(begins, 2);
}
