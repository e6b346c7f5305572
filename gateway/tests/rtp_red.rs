//! RFC 2198 redundant audio: the payload layout of the RFC's figure, typed errors for
//! malformed payloads, parse(emit(x)) == x, and the jitter buffer's use of redundant copies
//! (an isolated loss recovered exactly, copies of frames already there or played ignored).

use gateway::rtp::jitter::{JitterBuffer, JitterConfig, Playout, PushOutcome};
use gateway::rtp::red::{MAX_REDUNDANT_BLOCKS, RedBlock, RedError, RedPayload, RedundantAudio};
use proptest::prelude::*;

#[test]
fn rfc2198_3_example_layout() {
    // The figure of RFC 2198 section 3: one redundant block (F=1, PT 7 LPC, 14 bytes) and the
    // primary (F=0, PT 5 DVI4); here the LPC block is one 20 ms frame (160) old.
    let lpc = [0x11u8; 14];
    let dvi = [0x22u8; 84];
    let mut golden = vec![0x87, 0x02, 0x80, 0x0e, 0x05];
    golden.extend_from_slice(&lpc);
    golden.extend_from_slice(&dvi);

    let p = RedPayload::parse(&golden).unwrap();
    assert_eq!(p.redundant_count(), 1);
    let r: Vec<RedBlock> = p.redundant().collect();
    assert_eq!(
        r,
        vec![RedBlock {
            payload_type: 7,
            timestamp_offset: 160,
            data: &lpc
        }]
    );
    assert_eq!(r[0].timestamp(1000), 840);
    assert_eq!(p.primary().payload_type, 5);
    assert_eq!(p.primary().data, &dvi);

    let mut v = RedundantAudio::new(5, &dvi).unwrap();
    v.push_redundant(RedBlock {
        payload_type: 7,
        timestamp_offset: 160,
        data: &lpc,
    })
    .unwrap();
    assert_eq!(v.encoded_len(), golden.len());
    let mut out = [0u8; 200];
    let n = v.write(&mut out).unwrap();
    assert_eq!(&out[..n], &golden[..]);
    assert_eq!(p.to_value().unwrap(), v);
}

#[test]
fn header_fields_use_every_bit() {
    // Largest offset (14 bits) and length (10 bits).
    let data = [0xabu8; 1023];
    let mut v = RedundantAudio::new(0, &[1, 2]).unwrap();
    v.push_redundant(RedBlock {
        payload_type: 127,
        timestamp_offset: 0x3fff,
        data: &data,
    })
    .unwrap();
    let mut out = vec![0u8; 2000];
    let n = v.write(&mut out).unwrap();
    assert_eq!(&out[..5], &[0xff, 0xff, 0xff, 0xff, 0x00]);
    let p = RedPayload::parse(&out[..n]).unwrap();
    let b = p.redundant().next().unwrap();
    assert_eq!(
        (b.payload_type, b.timestamp_offset, b.data.len()),
        (127, 0x3fff, 1023)
    );
    assert_eq!(p.primary().data, &[1, 2]);
}

#[test]
fn malformed_red_gives_typed_errors() {
    assert_eq!(RedPayload::parse(&[]), Err(RedError::Empty));
    // A redundant header cut short, and no primary header after a complete one.
    assert_eq!(
        RedPayload::parse(&[0x80, 0x00]),
        Err(RedError::HeaderOverrun { block: 0, len: 2 })
    );
    assert_eq!(
        RedPayload::parse(&[0x80, 0x02, 0x80, 0x00]),
        Err(RedError::HeaderOverrun { block: 1, len: 4 })
    );
    // Block length 14 but only 3 bytes follow the headers.
    assert_eq!(
        RedPayload::parse(&[0x87, 0x02, 0x80, 0x0e, 0x05, 1, 2, 3]),
        Err(RedError::BlockOverrun { needed: 19, len: 8 })
    );
    // Primary header alone: an empty primary block is well-formed.
    let p = RedPayload::parse(&[0x00]).unwrap();
    assert_eq!(p.primary().data, &[] as &[u8]);

    // Writing checks what the header can carry.
    assert_eq!(
        RedundantAudio::new(128, &[]),
        Err(RedError::BadPayloadType { payload_type: 128 })
    );
    let mut v = RedundantAudio::new(0, &[0; 160]).unwrap();
    let block = |timestamp_offset, data| RedBlock {
        payload_type: 0,
        timestamp_offset,
        data,
    };
    assert_eq!(
        v.push_redundant(block(0x4000, &[])),
        Err(RedError::OffsetTooLarge { offset: 0x4000 })
    );
    assert_eq!(
        v.push_redundant(block(160, &[0; 1024])),
        Err(RedError::BlockTooLong { len: 1024 })
    );
    for _ in 0..MAX_REDUNDANT_BLOCKS {
        v.push_redundant(block(160, &[0; 4])).unwrap();
    }
    assert_eq!(
        v.push_redundant(block(160, &[0; 4])),
        Err(RedError::TooManyBlocks {
            max: MAX_REDUNDANT_BLOCKS
        })
    );
    let mut small = [0u8; 10];
    assert!(matches!(
        v.write(&mut small),
        Err(RedError::BufferTooSmall { capacity: 10, .. })
    ));
    // A view with more blocks than a value holds still parses; only the value refuses.
    let mut many = vec![];
    for _ in 0..6 {
        many.extend_from_slice(&[0x80, 0x02, 0x80, 0x00]);
    }
    many.push(0);
    let p = RedPayload::parse(&many).unwrap();
    assert_eq!(p.redundant_count(), 6);
    assert_eq!(
        p.to_value(),
        Err(RedError::TooManyBlocks {
            max: MAX_REDUNDANT_BLOCKS
        })
    );
}

fn block_strategy() -> impl Strategy<Value = (u8, u16, Vec<u8>)> {
    (
        0u8..128,
        0u16..=0x3fff,
        proptest::collection::vec(any::<u8>(), 0..300),
    )
}

proptest! {
    #[test]
    fn red_parse_of_emit_is_identity(
        primary_pt in 0u8..128,
        primary in proptest::collection::vec(any::<u8>(), 0..500),
        blocks in proptest::collection::vec(block_strategy(), 0..=MAX_REDUNDANT_BLOCKS),
    ) {
        let mut v = RedundantAudio::new(primary_pt, &primary).unwrap();
        for (pt, off, data) in &blocks {
            v.push_redundant(RedBlock { payload_type: *pt, timestamp_offset: *off, data }).unwrap();
        }
        let mut out = vec![0u8; v.encoded_len()];
        let n = v.write(&mut out).unwrap();
        prop_assert_eq!(n, out.len());
        let p = RedPayload::parse(&out).unwrap();
        prop_assert_eq!(p.to_value().unwrap(), v);
    }

    #[test]
    fn red_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = RedPayload::parse(&bytes) {
            let total: usize = p.redundant().map(|b| b.data.len() + 4).sum::<usize>()
                + 1 + p.primary().data.len();
            prop_assert_eq!(total, bytes.len());
        }
    }
}

fn jb() -> JitterBuffer {
    let mut cfg = JitterConfig::for_8khz(20);
    cfg.initial_delay = 160;
    cfg.min_delay = 160;
    JitterBuffer::new(cfg)
}

fn frame(k: u8) -> [u8; 160] {
    [k; 160]
}

/// Plays until `n` frames came out; returns the first byte of each (0xff for a lost one).
fn play(b: &mut JitterBuffer, now: &mut u32, n: usize) -> Vec<u8> {
    let mut out = vec![];
    for _ in 0..n * 4 {
        if out.len() == n {
            break;
        }
        match b.pop(*now) {
            Playout::Frame { payload, .. } => out.push(payload[0]),
            Playout::Lost { .. } => out.push(0xff),
            _ => {}
        }
        *now += 160;
    }
    out
}

#[test]
fn jitter_buffer_recovers_an_isolated_loss_from_the_next_packet() {
    let mut b = jb();
    let mut now = 0;
    // Packets 0..6, packet 3 lost; each later packet carries the previous frame.
    for k in 0u8..6 {
        let seq = 100 + u16::from(k);
        let ts = 1000 + 160 * u32::from(k);
        if k != 3 {
            b.push(now, 7, seq, ts, k == 0, 0, 160, &frame(k));
            if k > 0 {
                let r = b.push_redundant(7, seq - 1, ts - 160, 0, 160, &frame(k - 1));
                let expect = if k == 4 {
                    PushOutcome::Buffered
                } else {
                    PushOutcome::Duplicate
                };
                assert_eq!(r, expect, "copy carried by packet {k}");
            }
        }
        now += 160;
    }
    assert_eq!(play(&mut b, &mut now, 6), vec![0, 1, 2, 3, 4, 5]);
    let s = b.stats();
    assert_eq!((s.recovered, s.lost, s.late, s.received), (1, 0, 0, 5));
    // A copy of a frame played long ago is neither late nor a duplicate in the counters.
    assert_eq!(
        b.push_redundant(7, 101, 1160, 0, 160, &frame(1)),
        PushOutcome::Duplicate
    );
    assert_eq!(b.stats().late, 0);
}

#[test]
fn packet_arriving_after_its_copy_takes_its_place() {
    let mut b = jb();
    let mut now = 0;
    b.push(now, 7, 100, 1000, true, 0, 160, &frame(0));
    // Packet 102 overtakes 101 and brings 101's copy; then 101 itself arrives.
    b.push(now, 7, 102, 1320, false, 0, 160, &frame(2));
    assert_eq!(
        b.push_redundant(7, 101, 1160, 0, 160, &frame(1)),
        PushOutcome::Buffered
    );
    assert_eq!(
        b.push(now + 10, 7, 101, 1160, false, 0, 160, &frame(1)),
        PushOutcome::Buffered
    );
    now += 160;
    assert_eq!(play(&mut b, &mut now, 3), vec![0, 1, 2]);
    let s = b.stats();
    assert_eq!((s.recovered, s.lost, s.duplicates), (0, 0, 0));
}

#[test]
fn copy_from_another_source_or_too_late_is_ignored() {
    let mut b = jb();
    let mut now = 0;
    b.push(now, 7, 100, 1000, true, 0, 160, &frame(0));
    assert_eq!(
        b.push_redundant(8, 101, 1160, 0, 160, &frame(1)),
        PushOutcome::Late
    );
    now += 160;
    assert_eq!(play(&mut b, &mut now, 3), vec![0, 0xff, 0xff]);
    // Frame 101 was concealed already: its copy comes too late.
    assert_eq!(
        b.push_redundant(7, 101, 1160, 0, 160, &frame(1)),
        PushOutcome::Late
    );
    assert_eq!(b.stats().recovered, 0);
}
