//! The media-loop calls of the echo canceller and the concealers allocate nothing: a counting
//! global allocator watches them frame after frame. Also checks that the canceller's output does
//! not depend on how the stream is cut into frames.

use codecs::echo::{EchoCanceller, EchoConfig};
use codecs::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmEncoder};
use codecs::plc::{Concealer, GsmConcealment, GsmPlcDecoder};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations made by this thread (tests run in parallel threads).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the slot may be gone while a thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Deterministic speech-like test signal: noise bursts through a resonance.
fn signal(len: usize, seed: u32) -> Vec<i16> {
    let mut r = seed;
    let (mut y1, mut y2) = (0.0f32, 0.0f32);
    (0..len)
        .map(|i| {
            r = r.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let u = (r >> 16) as f32 / 32768.0 - 1.0;
            let burst = if (i / 2000) % 3 == 2 { 0.0 } else { 1.0 };
            let y = burst * 3000.0 * u + 1.6 * y1 - 0.8 * y2;
            y2 = y1;
            y1 = y;
            y.clamp(-32000.0, 32000.0) as i16
        })
        .collect()
}

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn media_loop_calls_do_not_allocate() {
    // The counter sees allocations at all.
    assert_eq!(
        allocations_during(|| drop(std::hint::black_box(vec![1u8; 16]))),
        1
    );

    let far = signal(8000 * 3, 1);
    let near: Vec<i16> = far.iter().map(|&v| v / 4).collect();
    let mut ec = EchoCanceller::new(64).unwrap_or_else(|e| panic!("{e}"));
    let mut out = [0i16; 80];
    let mut plc = Concealer::new();
    let mut frame = [0i16; 80];
    let n = allocations_during(|| {
        for (i, (f, d)) in far.chunks_exact(80).zip(near.chunks_exact(80)).enumerate() {
            ec.process(f, d, &mut out).unwrap_or_else(|e| panic!("{e}"));
            if i % 7 == 3 {
                plc.lost_frame(&mut frame);
            } else {
                frame.copy_from_slice(f);
                plc.good_frame(&mut frame);
            }
        }
        ec.reset();
    });
    assert_eq!(n, 0, "echo canceller / concealer allocated {n} times");

    let mut enc = GsmEncoder::new();
    let mut packets = Vec::new();
    for pcm in far.chunks_exact(FRAME_SAMPLES) {
        let mut p = [0u8; FRAME_BYTES];
        enc.encode_frame(pcm.try_into().unwrap_or_else(|_| unreachable!()), &mut p);
        packets.push(p);
    }
    let mut dec = GsmPlcDecoder::new(GsmConcealment::Substitution);
    let mut pcm = [0i16; FRAME_SAMPLES];
    let n = allocations_during(|| {
        for (i, p) in packets.iter().enumerate() {
            if i % 5 == 2 {
                dec.conceal(&mut pcm);
            } else {
                dec.decode(p, &mut pcm).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    });
    assert_eq!(n, 0, "GSM concealment allocated {n} times");
}

#[test]
fn output_does_not_depend_on_frame_length() {
    let far = signal(8000 * 2, 2);
    let near: Vec<i16> = far
        .iter()
        .enumerate()
        .map(|(i, _)| if i >= 40 { far[i - 40] / 3 } else { 0 })
        .collect();
    let mut outputs = Vec::new();
    for frame in [80usize, 160, 37] {
        let mut ec = EchoCanceller::new(32).unwrap_or_else(|e| panic!("{e}"));
        let mut out = vec![0i16; far.len()];
        for ((f, d), o) in far
            .chunks(frame)
            .zip(near.chunks(frame))
            .zip(out.chunks_mut(frame))
        {
            ec.process(f, d, o).unwrap_or_else(|e| panic!("{e}"));
        }
        outputs.push(out);
    }
    let mut ec = EchoCanceller::with_config(EchoConfig::new(32)).unwrap_or_else(|e| panic!("{e}"));
    let mut in_place = near.clone();
    for (f, d) in far.chunks(80).zip(in_place.chunks_mut(80)) {
        ec.process_in_place(f, d).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        outputs[0] == outputs[1] && outputs[0] == outputs[2],
        "frame length changed the output"
    );
    assert!(outputs[0] == in_place, "process_in_place differs from process");
}

#[test]
fn gsm_frame_without_signature_is_concealed_and_reported() {
    let far = signal(FRAME_SAMPLES * 10, 3);
    let mut enc = GsmEncoder::new();
    let mut dec = GsmPlcDecoder::default();
    let mut pcm = [0i16; FRAME_SAMPLES];
    for chunk in far.chunks_exact(FRAME_SAMPLES) {
        let mut p = [0u8; FRAME_BYTES];
        enc.encode_frame(chunk.try_into().unwrap_or_else(|_| unreachable!()), &mut p);
        dec.decode(&p, &mut pcm).unwrap_or_else(|e| panic!("{e}"));
    }
    let garbage = [0u8; FRAME_BYTES];
    assert!(dec.decode(&garbage, &mut pcm).is_err());
    // Concealment of a loud signal is not silence on the first lost frame.
    assert!(pcm.iter().any(|&v| v != 0));
}
