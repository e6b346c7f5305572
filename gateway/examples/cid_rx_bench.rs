//! Cost of an FXO line's caller ID receivers in the media loop (Bell 202, V.23 and DTMF at
//! once, fed every on-hook 10 ms frame) against the DTMF detector every port runs, on the same
//! line audio in the same run. Prints `key value` lines for scripts/bench.d/callfeat.sh.
//!
//! Usage: cid_rx_bench SPEECH.s16le.raw SECONDS

use std::hint::black_box;
use std::time::Instant;

use codecs::callerid::{CallerId, CidEncoder, CidFormat, CidStandard};
use codecs::dtmf::DtmfDetector;
use gateway::media::channel::{CallerIdReceivers, PortEvents};
use hal::pcm::{FRAME_SAMPLES, Frame};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(secs)) = (args.get(1), args.get(2).and_then(|s| s.parse::<usize>().ok())) else {
        eprintln!("usage: cid_rx_bench SPEECH.s16le.raw SECONDS");
        std::process::exit(2);
    };
    let speech: Vec<i16> = match std::fs::read(path) {
        Ok(b) => b
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect(),
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    // Line audio: speech with a Bell 202 caller ID message every 5 s (what an idle line with
    // calls coming in carries, at worst).
    let msg = CallerId::new("5551234", "ALICE").unwrap_or_default();
    let mut line = Vec::with_capacity(secs * 8000);
    while line.len() < secs * 8000 {
        if let Ok(mut enc) = CidEncoder::new(&msg, CidStandard::Bell202, CidFormat::Mdmf) {
            let mut buf = [0i16; FRAME_SAMPLES];
            while !enc.is_done() {
                let n = enc.fill(&mut buf).min(FRAME_SAMPLES);
                if n == 0 {
                    break;
                }
                line.extend_from_slice(&buf[..n]);
            }
        }
        line.extend_from_slice(&speech[..speech.len().min(4400 * 8)]);
    }
    line.truncate(secs * 8000);
    let frames: Vec<Frame> = line
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0i16; FRAME_SAMPLES];
            f.copy_from_slice(c);
            f
        })
        .collect();

    let mut best_rx = f64::MAX;
    let mut best_dtmf = f64::MAX;
    let mut messages = 0usize;
    for _ in 0..3 {
        let mut rx = CallerIdReceivers::new();
        let t = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            let mut ev = PortEvents::new();
            rx.process(f, (i * FRAME_SAMPLES) as u64, &mut ev);
            messages += ev.len();
            black_box(&ev);
        }
        best_rx = best_rx.min(t.elapsed().as_nanos() as f64 / frames.len() as f64);

        let mut det = DtmfDetector::new();
        let t = Instant::now();
        for f in &frames {
            det.process(f);
            while let Some(e) = det.poll() {
                black_box(e);
            }
        }
        best_dtmf = best_dtmf.min(t.elapsed().as_nanos() as f64 / frames.len() as f64);
    }
    println!("frames {}", frames.len());
    println!("messages_per_run {}", messages / 3);
    println!("cid_rx_frame_ns {best_rx:.1}");
    println!("dtmf_frame_ns {best_dtmf:.1}");
}
