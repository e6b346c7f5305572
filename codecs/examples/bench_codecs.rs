//! Throughput of the G.711 and GSM 06.10 codecs against spandsp (linked through spandsp-sys) in
//! the same process. Run by scripts/bench.d/codecs-g711-gsm.sh, which adds libgsm's figures.
//!
//! Usage: bench_codecs SPEECH.s16le SECONDS ROUNDS
//! Prints `name samples_per_second [reference_samples_per_second]` lines, best of ROUNDS, timed
//! in thread CPU time so that other load on the machine does not count against either side.

use std::hint::black_box;

use codecs::g711::G711Law;
use codecs::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmDecoder, GsmEncoder};

/// Thread CPU time on 64-bit Linux (where `timespec` is two i64 and CLOCK_THREAD_CPUTIME_ID
/// is 3); wall-clock time elsewhere.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: t is a valid timespec for the duration of the call.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_seconds() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

fn best_rate(rounds: usize, samples: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = thread_cpu_seconds();
        f();
        best = best.min(thread_cpu_seconds() - t);
    }
    samples as f64 / best
}

struct SpanG711(*mut spandsp_sys::g711_state_t);

impl SpanG711 {
    fn new(law: G711Law) -> Self {
        let mode = match law {
            G711Law::Ulaw => spandsp_sys::G711_ULAW,
            G711Law::Alaw => spandsp_sys::G711_ALAW,
        };
        // SAFETY: a null state asks spandsp to allocate one; freed in Drop.
        SpanG711(unsafe { spandsp_sys::g711_init(std::ptr::null_mut(), mode as i32) })
    }
}

impl Drop for SpanG711 {
    fn drop(&mut self) {
        // SAFETY: allocated by g711_init.
        unsafe { spandsp_sys::g711_free(self.0) };
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: bench_codecs SPEECH.s16le SECONDS ROUNDS");
        std::process::exit(2);
    }
    let speech = codecs::wav::read_audio(args[1].as_ref()).expect("read speech");
    let seconds: f64 = args[2].parse().expect("SECONDS");
    let rounds: usize = args[3].parse().expect("ROUNDS");
    let total = ((seconds * 8000.0) as usize / FRAME_SAMPLES).max(1) * FRAME_SAMPLES;

    // G.711 works on 20 ms frames, as in the media loop; two inputs: the speech sample (the
    // realistic case) and full-range noise (every table entry equally likely).
    let speech_pcm: Vec<i16> = speech.iter().copied().cycle().take(total).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise_pcm: Vec<i16> = (0..total)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i16
        })
        .collect();
    for law in [G711Law::Ulaw, G711Law::Alaw] {
        let name = match law {
            G711Law::Ulaw => "ulaw",
            G711Law::Alaw => "alaw",
        };
        let sp = SpanG711::new(law);
        for (input, pcm) in [("speech", &speech_pcm), ("noise", &noise_pcm)] {
            let mut codes = vec![0u8; total];
            let ours = best_rate(rounds, total, || {
                for (p, c) in pcm
                    .chunks_exact(FRAME_SAMPLES)
                    .zip(codes.chunks_exact_mut(FRAME_SAMPLES))
                {
                    law.encode(black_box(p), c);
                }
                black_box(&mut codes);
            });
            let theirs = best_rate(rounds, total, || {
                for (p, c) in pcm
                    .chunks_exact(FRAME_SAMPLES)
                    .zip(codes.chunks_exact_mut(FRAME_SAMPLES))
                {
                    // SAFETY: both chunks hold FRAME_SAMPLES elements.
                    unsafe { spandsp_sys::g711_encode(sp.0, c.as_mut_ptr(), p.as_ptr(), p.len() as i32) };
                }
                black_box(&mut codes);
            });
            println!("{name}_encode_{input} {ours:.0} {theirs:.0}");
            let mut out = vec![0i16; total];
            let ours = best_rate(rounds, total, || {
                for (c, o) in codes
                    .chunks_exact(FRAME_SAMPLES)
                    .zip(out.chunks_exact_mut(FRAME_SAMPLES))
                {
                    law.decode(black_box(c), o);
                }
                black_box(&mut out);
            });
            let theirs = best_rate(rounds, total, || {
                for (c, o) in codes
                    .chunks_exact(FRAME_SAMPLES)
                    .zip(out.chunks_exact_mut(FRAME_SAMPLES))
                {
                    // SAFETY: both chunks hold FRAME_SAMPLES elements.
                    unsafe { spandsp_sys::g711_decode(sp.0, o.as_mut_ptr(), c.as_ptr(), c.len() as i32) };
                }
                black_box(&mut out);
            });
            println!("{name}_decode_{input} {ours:.0} {theirs:.0}");
        }
    }

    // GSM: the speech sample looped, frame by frame, fresh state each round (as libgsm_bench).
    let frames = total / FRAME_SAMPLES;
    let mut coded = vec![0u8; frames * FRAME_BYTES];
    let enc_rate = best_rate(rounds, total, || {
        let mut enc = GsmEncoder::new();
        for (p, c) in speech_pcm
            .chunks_exact(FRAME_SAMPLES)
            .zip(coded.chunks_exact_mut(FRAME_BYTES))
        {
            enc.encode_frame(black_box(p.try_into().unwrap()), c.try_into().unwrap());
        }
        black_box(&mut coded);
    });
    let mut out = [0i16; FRAME_SAMPLES];
    let dec_rate = best_rate(rounds, total, || {
        let mut dec = GsmDecoder::new();
        for c in coded.chunks_exact(FRAME_BYTES) {
            dec.decode_frame(black_box(c.try_into().unwrap()), &mut out)
                .unwrap();
            black_box(&mut out);
        }
    });
    // spandsp's integer GSM 06.10 as a second reference, also frame by frame.
    const GSM0610_PACKING_VOIP: i32 = 2;
    let sp_enc_rate = best_rate(rounds, total, || {
        // SAFETY: a null state asks spandsp to allocate one; freed below.
        let s = unsafe { spandsp_sys::gsm0610_init(std::ptr::null_mut(), GSM0610_PACKING_VOIP) };
        for (p, c) in speech_pcm
            .chunks_exact(FRAME_SAMPLES)
            .zip(coded.chunks_exact_mut(FRAME_BYTES))
        {
            // SAFETY: one 160-sample frame in, one 33-byte frame out.
            unsafe {
                spandsp_sys::gsm0610_encode(s, c.as_mut_ptr(), black_box(p).as_ptr(), FRAME_SAMPLES as i32)
            };
        }
        // SAFETY: allocated by gsm0610_init above.
        unsafe { spandsp_sys::gsm0610_free(s) };
        black_box(&mut coded);
    });
    let sp_dec_rate = best_rate(rounds, total, || {
        // SAFETY: as above.
        let s = unsafe { spandsp_sys::gsm0610_init(std::ptr::null_mut(), GSM0610_PACKING_VOIP) };
        for c in coded.chunks_exact(FRAME_BYTES) {
            // SAFETY: one 33-byte frame in, 160 samples out.
            unsafe {
                spandsp_sys::gsm0610_decode(s, out.as_mut_ptr(), black_box(c).as_ptr(), FRAME_BYTES as i32)
            };
            black_box(&mut out);
        }
        // SAFETY: allocated by gsm0610_init above.
        unsafe { spandsp_sys::gsm0610_free(s) };
    });
    println!("gsm_encode {enc_rate:.0} {sp_enc_rate:.0}");
    println!("gsm_decode {dec_rate:.0} {sp_dec_rate:.0}");
}
