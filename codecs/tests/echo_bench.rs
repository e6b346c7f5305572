//! Cost of the echo canceller and the packet loss concealer, against spandsp measured in the same
//! run. Not a test: run by scripts/bench.d/codecs-ec-plc.sh as
//! `cargo test --release -p codecs --test echo_bench -- --ignored`, which writes a markdown
//! section to the file named by `BENCH_OUT`. spandsp's `echo_can_update` prints every sample to
//! stdout, so the script discards stdout.

use codecs::echo::EchoCanceller;
use codecs::plc::Concealer;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

const SPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/audio/speech_8k.s16le.raw"
);
const FRAME: usize = 80;
/// Runs of each measurement; the best is reported.
const REPS: usize = 7;

fn speech() -> Vec<i16> {
    let bytes = std::fs::read(SPEECH).unwrap_or_else(|e| panic!("{SPEECH}: {e}"));
    let mut s: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    s.truncate(s.len() / FRAME * FRAME);
    s
}

/// A 64 ms-class echo: 20 ms delay, decaying reflections, about 12 dB ERL.
fn echo_of(far: &[i16]) -> Vec<i16> {
    let taps: Vec<(usize, f32)> = (0..60)
        .map(|k| {
            (
                160 + k,
                0.25 * (-(k as f32) / 12.0).exp() * if k % 3 == 0 { -1.0 } else { 1.0 },
            )
        })
        .collect();
    (0..far.len())
        .map(|n| {
            let mut acc = 0.0f32;
            for &(d, g) in &taps {
                if n >= d {
                    acc += g * far[n - d] as f32;
                }
            }
            acc.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Best-of-`reps` time (ns) per 10 ms frame of running `f` over all frames.
fn per_frame(frames: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_nanos() as f64 / frames as f64);
    }
    best
}

fn ours_echo(tail_ms: u32, far: &[i16], near: &[i16]) -> f64 {
    let mut out = vec![0i16; FRAME];
    per_frame(far.len() / FRAME, 1, || {
        let mut ec = EchoCanceller::new(tail_ms).unwrap_or_else(|e| panic!("{e}"));
        for (f, n) in far.chunks_exact(FRAME).zip(near.chunks_exact(FRAME)) {
            ec.process(black_box(f), black_box(n), &mut out)
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(&out);
        }
    })
}

fn spandsp_echo(taps: i32, far: &[i16], near: &[i16]) -> f64 {
    let mode = (spandsp_sys::ECHO_CAN_USE_ADAPTION
        | spandsp_sys::ECHO_CAN_USE_NLP
        | spandsp_sys::ECHO_CAN_USE_CNG
        | spandsp_sys::ECHO_CAN_USE_TX_HPF) as i32;
    per_frame(far.len() / FRAME, 1, || {
        // SAFETY: init returns an owned state freed below; update takes plain values.
        let ec = unsafe { spandsp_sys::echo_can_init(taps, mode) };
        assert!(!ec.is_null());
        for (&f, &n) in far.iter().zip(near) {
            black_box(unsafe { spandsp_sys::echo_can_update(ec, black_box(f), black_box(n)) });
        }
        unsafe { spandsp_sys::echo_can_free(ec) };
    })
}

/// spandsp G.711 µ-law encode + decode of a 10 ms frame: the codec cost the EC is compared to.
fn spandsp_g711(pcm: &[i16]) -> f64 {
    let mut codes = [0u8; FRAME];
    let mut back = [0i16; FRAME];
    // SAFETY: owned state freed below; buffers hold FRAME samples.
    let st = unsafe { spandsp_sys::g711_init(std::ptr::null_mut(), spandsp_sys::G711_ULAW as i32) };
    assert!(!st.is_null());
    let t = per_frame(pcm.len() / FRAME, 5, || {
        for f in pcm.chunks_exact(FRAME) {
            unsafe {
                spandsp_sys::g711_encode(st, codes.as_mut_ptr(), black_box(f).as_ptr(), FRAME as i32);
                spandsp_sys::g711_decode(st, back.as_mut_ptr(), codes.as_ptr(), FRAME as i32);
            }
            black_box(&back);
        }
    });
    unsafe { spandsp_sys::g711_free(st) };
    t
}

/// PLC cost per 10 ms frame at a loss pattern of one lost frame in five (every loss starts a
/// pitch search), ours and spandsp's.
fn plc_costs(pcm: &[i16]) -> (f64, f64) {
    let mut buf = [0i16; FRAME];
    let frames = pcm.len() / FRAME;
    let ours = per_frame(frames, 5, || {
        let mut c = Concealer::new();
        for (i, f) in pcm.chunks_exact(FRAME).enumerate() {
            if i % 5 == 4 {
                c.lost_frame(&mut buf);
            } else {
                buf.copy_from_slice(f);
                c.good_frame(&mut buf);
            }
            black_box(&buf);
        }
    });
    let theirs = per_frame(frames, 5, || {
        // SAFETY: owned state freed below; buffers hold FRAME samples.
        let st = unsafe { spandsp_sys::plc_init(std::ptr::null_mut()) };
        for (i, f) in pcm.chunks_exact(FRAME).enumerate() {
            if i % 5 == 4 {
                unsafe { spandsp_sys::plc_fillin(st, buf.as_mut_ptr(), FRAME as i32) };
            } else {
                buf.copy_from_slice(f);
                unsafe { spandsp_sys::plc_rx(st, buf.as_mut_ptr(), FRAME as i32) };
            }
            black_box(&buf);
        }
        unsafe { spandsp_sys::plc_free(st) };
    });
    (ours, theirs)
}

#[test]
#[ignore = "benchmark, run by scripts/bench.d/codecs-ec-plc.sh"]
fn bench_echo_and_plc() {
    let far = speech();
    let near = echo_of(&far);
    let mut md = String::from("## Echo canceller and packet loss concealment\n\n");
    let g711 = spandsp_g711(&far);
    let _ = writeln!(
        md,
        "Per 10 ms frame (80 samples) of the speech sample, best of 5-7 alternating runs. Reference: spandsp 3 \
         measured in the same run; its `echo_can_update` prints each sample (stdout discarded), \
         which is part of its real cost. spandsp G.711 µ-law encode+decode: {g711:.0} ns per frame.\n"
    );
    md.push_str(
        "| echo canceller | ns per 10 ms frame | channels per core | x spandsp G.711 enc+dec | spandsp echo_can_update | ours faster by |\n\
         |---|---|---|---|---|---|\n",
    );
    for tail in [16u32, 32, 64, 128] {
        // Alternate the two and keep each one's best run, so that load from other processes
        // hits both alike and is filtered out.
        let (mut ours, mut theirs) = (f64::MAX, f64::MAX);
        for _ in 0..REPS {
            ours = ours.min(ours_echo(tail, &far, &near));
            theirs = theirs.min(spandsp_echo(tail as i32 * 8, &far, &near));
        }
        let _ = writeln!(
            md,
            "| {tail} ms ({} taps) | {ours:.0} | {:.0} | {:.1} | {theirs:.0} ns | {:.2}x |",
            tail * 8,
            10_000_000.0 / ours,
            ours / g711,
            theirs / ours
        );
    }
    let (plc_ours, plc_theirs) = plc_costs(&far);
    let _ = writeln!(
        md,
        "\n| concealer (1 frame in 5 lost) | ns per 10 ms frame | spandsp plc_rx/plc_fillin | ours faster by |\n\
         |---|---|---|---|\n| G.711 Appendix I style | {plc_ours:.0} | {plc_theirs:.0} ns | {:.2}x |",
        plc_theirs / plc_ours
    );
    eprintln!("{md}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(&path, &md).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
