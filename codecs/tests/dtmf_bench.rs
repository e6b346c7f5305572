//! Throughput of the signalling DSP against spandsp on the same input, in the same run.
//! Run by scripts/bench.d/codecs-signal.sh (release build, `--ignored`); prints markdown.

use std::ffi::{c_char, c_int, c_void};
use std::hint::black_box;
use std::time::Instant;

use codecs::callerid::{CallerId, CidDecoder, CidEncoder, CidFormat, CidStandard};
use codecs::dtmf::{DtmfDetector, DtmfGenerator};
use codecs::tones::{CallProgressDetector, TonePlan};

unsafe extern "C" fn sink_digits(_: *mut c_void, _: *const c_char, _: c_int) {}
unsafe extern "C" fn sink_msg(_: *mut c_void, _: *const u8, _: c_int) {}

/// Best timings (seconds) of `ours` and `theirs`, run alternately so that the load of a shared
/// machine hits both alike.
fn race<A: FnMut(), B: FnMut()>(mut ours: A, mut theirs: B) -> (f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut a, mut b) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..9 {
        a = a.min(time(&mut ours));
        b = b.min(time(&mut theirs));
    }
    (a, b)
}

fn speech_and_digits() -> Vec<i16> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/audio/speech_8k.s16le.raw"
    );
    let speech = codecs::wav::read_audio(std::path::Path::new(path)).unwrap();
    let mut g = DtmfGenerator::new();
    let mut out = Vec::new();
    while out.len() < 8000 * 120 {
        out.extend_from_slice(&speech);
        g.push_str("0123456789*#ABCD").unwrap();
        let mut d = vec![0i16; 16 * 1600];
        g.fill(&mut d);
        out.extend_from_slice(&d);
    }
    out
}

fn row(name: &str, n: usize, ours: f64, theirs: f64, reference: &str) {
    let rt = |t: f64| n as f64 / 8000.0 / t;
    println!(
        "| {name} | {:.0}x | {:.0}x ({reference}) | {:.2} |",
        rt(ours),
        rt(theirs),
        theirs / ours
    );
}

#[test]
#[ignore = "benchmark: run by scripts/bench.d/codecs-signal.sh in release"]
fn signalling_dsp_throughput() {
    let audio = speech_and_digits();
    let n = audio.len();
    println!("BENCH-BEGIN");
    println!("## Signalling DSP (tones, DTMF, caller ID)\n");
    println!(
        "{:.0} s of audio (speech sample and DTMF) in 10 ms frames; best of 9 runs, ours and spandsp alternating.",
        n as f64 / 8000.0
    );
    println!(
        "Figures are times real time on one core; ratio = spandsp time / our time (above 1: we are faster).\n"
    );
    println!("| operation | ours | spandsp | ratio |\n|---|---|---|---|");

    let (ours, theirs) = race(
        || {
            let mut d = DtmfDetector::new();
            for f in audio.chunks(80) {
                d.process(f);
                while let Some(e) = d.poll() {
                    black_box(e);
                }
            }
        },
        || unsafe {
            let s = spandsp_sys::dtmf_rx_init(std::ptr::null_mut(), Some(sink_digits), std::ptr::null_mut());
            for f in audio.chunks(80) {
                spandsp_sys::dtmf_rx(s, f.as_ptr(), f.len() as c_int);
            }
            spandsp_sys::dtmf_rx_free(s);
        },
    );
    row("DTMF receiver", n, ours, theirs, "dtmf_rx");

    let (ours, theirs) = race(
        || {
            let mut g = DtmfGenerator::new();
            let mut f = [0i16; 80];
            let mut left = n;
            while left > 0 {
                if g.is_idle() {
                    g.push_str("0123456789*#ABCD").unwrap();
                }
                g.fill(&mut f);
                black_box(&f);
                left = left.saturating_sub(80);
            }
        },
        || unsafe {
            let s = spandsp_sys::dtmf_tx_init(std::ptr::null_mut(), None, std::ptr::null_mut());
            let mut f = [0i16; 80];
            let mut left = n;
            while left > 0 {
                if spandsp_sys::dtmf_tx(s, f.as_mut_ptr(), 80) < 80 {
                    spandsp_sys::dtmf_tx_put(s, c"0123456789*#ABCD".as_ptr(), -1);
                }
                black_box(&f);
                left = left.saturating_sub(80);
            }
            spandsp_sys::dtmf_tx_free(s);
        },
    );
    row("DTMF generator", n, ours, theirs, "dtmf_tx");

    for (std, sp) in [(CidStandard::Bell202, 1), (CidStandard::V23, 2)] {
        let msg = CallerId::new("5551234567", "DOE JOHN").unwrap();
        let mut enc = CidEncoder::new(&msg, std, CidFormat::Mdmf).unwrap();
        let mut one = vec![0i16; 4000];
        let k = enc.fill(&mut one);
        one.truncate(k + 800);
        let fsk: Vec<i16> = one.iter().copied().cycle().take(n).collect();
        let (ours, theirs) = race(
            || {
                let mut d = CidDecoder::new(std);
                for f in fsk.chunks(80) {
                    d.process(f);
                    while let Some(m) = d.poll() {
                        black_box(m.ok());
                    }
                }
            },
            || unsafe {
                let s =
                    spandsp_sys::adsi_rx_init(std::ptr::null_mut(), sp, Some(sink_msg), std::ptr::null_mut());
                for f in fsk.chunks(80) {
                    spandsp_sys::adsi_rx(s, f.as_ptr(), f.len() as c_int);
                }
                spandsp_sys::adsi_rx_free(s);
            },
        );
        row(
            &format!("{std:?} FSK caller ID receiver"),
            n,
            ours,
            theirs,
            "adsi_rx",
        );
    }

    // The call progress detector has no spandsp counterpart with the same job; it is shown
    // against spandsp's DTMF receiver, the nearest Goertzel-bank detector, on the same audio.
    let plan = TonePlan::for_country("GB").unwrap();
    let (ours, theirs) = race(
        || {
            let mut d = CallProgressDetector::new(plan);
            for f in audio.chunks(80) {
                d.process(f);
                while let Some(e) = d.poll() {
                    black_box(e);
                }
            }
        },
        || unsafe {
            let s = spandsp_sys::dtmf_rx_init(std::ptr::null_mut(), Some(sink_digits), std::ptr::null_mut());
            for f in audio.chunks(80) {
                spandsp_sys::dtmf_rx(s, f.as_ptr(), f.len() as c_int);
            }
            spandsp_sys::dtmf_rx_free(s);
        },
    );
    row(
        "Call progress detector (GB plan, 7 frequencies)",
        n,
        ours,
        theirs,
        "dtmf_rx as yardstick",
    );
    println!("BENCH-END");
}
