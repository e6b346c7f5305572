//! Line echo canceller on speech through simulated hybrids (G.168-like echo paths).
//!
//! The far end is the speech sample; the near end is its echo through a synthetic echo path
//! (pure delay + dispersive hybrid response, ERL 6..20 dB) plus near-end noise, and for the
//! double-talk cases a second talker (another part of the sample). Run with `--nocapture` to see
//! the figures; set `ECHO_REPORT=<file>` to also get them as a markdown table.

use codecs::echo::{DcBlocker, EchoCanceller, EchoConfig};
use std::fmt::Write as _;

const SPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/audio/speech_8k.s16le.raw"
);
const FRAME: usize = 80;
const RATE: usize = 8000;

fn speech() -> Vec<i16> {
    let bytes = std::fs::read(SPEECH).unwrap_or_else(|e| panic!("{SPEECH}: {e}"));
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Deterministic pseudo-random numbers (LCG), uniform in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    /// Roughly Gaussian, unit variance (sum of 4 uniforms).
    fn gauss(&mut self) -> f64 {
        (self.next() + self.next() + self.next() + self.next()) * 0.75f64.sqrt()
    }
}

/// A synthetic hybrid echo path: `delay_ms` of pure delay, then a dispersive response lasting
/// about `dispersion_ms` (a band-limited damped resonance plus a decaying random reflection
/// pattern, like the measured hybrids of G.168 Annex D), scaled to `erl_db` of echo return loss.
#[derive(Clone, Copy, Debug)]
struct EchoPath {
    name: &'static str,
    tail_ms: u32,
    delay_ms: f64,
    dispersion_ms: f64,
    erl_db: f64,
    seed: u64,
}

impl EchoPath {
    fn impulse_response(&self) -> Vec<f64> {
        let len = (self.tail_ms as usize) * 8;
        let mut h = vec![0.0; len];
        let d0 = (self.delay_ms * 8.0).round() as usize;
        let tau = self.dispersion_ms * 8.0 / 4.0; // ~ 35 dB down after the dispersion time
        let mut rng = Lcg(self.seed);
        // Resonance of the line transformer / hybrid network: 300..700 Hz, random phase.
        let f0 = 300.0 + 400.0 * (rng.next() + 1.0) / 2.0;
        let phase = rng.next() * std::f64::consts::PI;
        for (n, v) in h.iter_mut().enumerate().skip(d0) {
            let t = (n - d0) as f64;
            let env = (-t / tau).exp();
            let ring = (2.0 * std::f64::consts::PI * f0 * t / 8000.0 + phase).cos();
            *v = env * (0.8 * ring + 0.6 * rng.gauss());
        }
        // Smooth (band-limit) with a short symmetric kernel so the response is not white.
        let k = [0.25, 0.5, 0.25];
        let mut s = vec![0.0; len];
        for n in 0..len {
            for (j, kv) in k.iter().enumerate() {
                if n + j >= 1 && n + j - 1 < len {
                    s[n] += kv * h[n + j - 1];
                }
            }
        }
        let energy: f64 = s.iter().map(|v| v * v).sum();
        let g = 10f64.powf(-self.erl_db / 20.0) / energy.sqrt();
        s.iter().map(|v| v * g).collect()
    }
}

const PATHS: [EchoPath; 7] = [
    EchoPath {
        name: "8 ms, short",
        tail_ms: 8,
        delay_ms: 0.5,
        dispersion_ms: 4.0,
        erl_db: 6.0,
        seed: 1,
    },
    EchoPath {
        name: "16 ms",
        tail_ms: 16,
        delay_ms: 4.0,
        dispersion_ms: 6.0,
        erl_db: 10.0,
        seed: 2,
    },
    EchoPath {
        name: "32 ms",
        tail_ms: 32,
        delay_ms: 12.0,
        dispersion_ms: 8.0,
        erl_db: 15.0,
        seed: 3,
    },
    EchoPath {
        name: "48 ms",
        tail_ms: 48,
        delay_ms: 30.0,
        dispersion_ms: 10.0,
        erl_db: 20.0,
        seed: 4,
    },
    EchoPath {
        name: "64 ms, late",
        tail_ms: 64,
        delay_ms: 48.0,
        dispersion_ms: 12.0,
        erl_db: 12.0,
        seed: 5,
    },
    EchoPath {
        name: "64 ms, very dispersive",
        tail_ms: 64,
        delay_ms: 2.0,
        dispersion_ms: 40.0,
        erl_db: 8.0,
        seed: 6,
    },
    EchoPath {
        name: "64 ms, 6 dB ERL",
        tail_ms: 64,
        delay_ms: 20.0,
        dispersion_ms: 10.0,
        erl_db: 6.0,
        seed: 7,
    },
];

/// Near-end noise level, dBov (rms re full scale).
const NOISE_DBOV: f64 = -72.0;

fn convolve(x: &[i16], h: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for (n, yv) in y.iter_mut().enumerate() {
        let mut acc = 0.0;
        for (k, hv) in h.iter().enumerate().take(n + 1) {
            acc += hv * x[n - k] as f64;
        }
        *yv = acc;
    }
    y
}

fn noise_power() -> f64 {
    (32768.0 * 10f64.powf(NOISE_DBOV / 20.0)).powi(2)
}

fn noise(len: usize, dbov: f64, seed: u64) -> Vec<f64> {
    let mut rng = Lcg(seed);
    let a = 32768.0 * 10f64.powf(dbov / 20.0);
    (0..len).map(|_| a * rng.gauss()).collect()
}

fn to_i16(v: f64) -> i16 {
    v.round().clamp(-32768.0, 32767.0) as i16
}

/// Runs the canceller over whole signals in 10 ms frames.
fn run(ec: &mut EchoCanceller, far: &[i16], near: &[i16]) -> Vec<i16> {
    let mut out = vec![0i16; far.len()];
    for ((f, n), o) in far
        .chunks_exact(FRAME)
        .zip(near.chunks_exact(FRAME))
        .zip(out.chunks_exact_mut(FRAME))
    {
        ec.process(f, n, o).unwrap_or_else(|e| panic!("{e}"));
    }
    out
}

fn power(x: impl Iterator<Item = f64>) -> f64 {
    x.map(|v| v * v).sum()
}

/// ERLE in dB over `range`: near-end power in over residual power out.
fn erle(near: &[i16], out: &[i16], range: std::ops::Range<usize>) -> f64 {
    let pin = power(near[range.clone()].iter().map(|&v| v as f64));
    let pout = power(out[range].iter().map(|&v| v as f64));
    10.0 * (pin / pout.max(1.0)).log10()
}

/// First time (s) from `from` after which the 0.5 s-window ERLE over far-end active windows
/// stays above `db` for the rest of the signal.
fn convergence_time(near: &[i16], out: &[i16], from: usize, db: f64) -> f64 {
    let w = RATE / 2;
    let mut last_bad = from;
    let mut start = from;
    while start + w <= near.len() {
        let near_pow = power(near[start..start + w].iter().map(|&v| v as f64)) / w as f64;
        // Only windows where the echo is 30 dB above the near-end noise are worth measuring.
        if near_pow > 1000.0 * noise_power() && erle(near, out, start..start + w) < db {
            last_bad = start + w;
        }
        start += w / 2;
    }
    (last_bad - from) as f64 / RATE as f64
}

fn far_signal(repeats: usize) -> Vec<i16> {
    let s = speech();
    let mut far = Vec::with_capacity(s.len() * repeats);
    for _ in 0..repeats {
        far.extend_from_slice(&s);
    }
    far.truncate(far.len() / FRAME * FRAME);
    far
}

fn near_from(echo: &[f64], extra: &[f64]) -> Vec<i16> {
    echo.iter().zip(extra).map(|(e, n)| to_i16(e + n)).collect()
}

fn misalignment_db(ec: &EchoCanceller, h: &[f64]) -> f64 {
    let mut w = vec![0f32; ec.taps()];
    ec.impulse_response(&mut w);
    let num: f64 = h.iter().zip(&w).map(|(a, b)| (a - *b as f64).powi(2)).sum();
    let den: f64 = h.iter().map(|a| a * a).sum();
    10.0 * (num / den).log10()
}

fn report(section: &str) {
    println!("{section}");
    if let Ok(path) = std::env::var("ECHO_REPORT") {
        let mut old = std::fs::read_to_string(&path).unwrap_or_default();
        old.push_str(section);
        old.push('\n');
        std::fs::write(&path, old).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn erle_on_speech_through_simulated_hybrids() {
    let far = far_signal(2);
    let half = far.len() / 2;
    let mut table = String::from(
        "| echo path | tail | delay | ERL | ERLE linear, 2nd pass | ERLE with NLP | converged (ERLE > 20 dB) after |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for p in PATHS {
        let h = p.impulse_response();
        let echo = convolve(&far, &h);
        let near = near_from(&echo, &noise(far.len(), NOISE_DBOV, p.seed + 100));
        let mut linear = EchoCanceller::with_config(EchoConfig {
            nlp: false,
            ..EchoConfig::new(p.tail_ms)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let out = run(&mut linear, &far, &near);
        let e_lin = erle(&near, &out, half..far.len());
        let t_conv = convergence_time(&near, &out, 0, 20.0);
        let mut full = EchoCanceller::new(p.tail_ms).unwrap_or_else(|e| panic!("{e}"));
        let out_nlp = run(&mut full, &far, &near);
        let e_nlp = erle(&near, &out_nlp, half..far.len());
        let _ = writeln!(
            table,
            "| {} | {} ms | {} ms | {} dB | {:.1} dB | {:.1} dB | {:.2} s |",
            p.name, p.tail_ms, p.delay_ms, p.erl_db, e_lin, e_nlp, t_conv
        );
        if e_lin < 25.0 {
            failures.push(format!("{}: linear ERLE {e_lin:.1} dB", p.name));
        }
        if e_nlp < e_lin {
            failures.push(format!(
                "{}: NLP made it worse ({e_nlp:.1} < {e_lin:.1} dB)",
                p.name
            ));
        }
    }
    report(&format!(
        "Speech through simulated hybrids (far end {:.1} s, speech sample twice; near-end noise \
         {NOISE_DBOV} dBov; ERLE measured over the second pass):\n\n{table}",
        far.len() as f64 / RATE as f64
    ));
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn double_talk_does_not_disturb_converged_canceller() {
    let far = far_signal(2);
    let s = speech();
    let len = far.len();
    // Far end talks throughout; the near-end talker (the sample started half-way through, so
    // other words) talks from 12 s to 20 s.
    let (dt_start, dt_end) = (12 * RATE, 20 * RATE);
    let mut table = String::from(
        "| echo path | near talker vs far end | misalignment before / after | ERLE before | \
         ERLE after (first 2 s) | echo leak during DT |\n|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (p, talker_db) in [
        (PATHS[2], 0.0),
        (PATHS[2], -15.0),
        (PATHS[4], -6.0),
        (PATHS[6], -6.0),
        (PATHS[1], -10.0),
    ] {
        let h = p.impulse_response();
        let echo = convolve(&far, &h);
        let gain = 10f64.powf(talker_db / 20.0);
        let mut talker = vec![0.0; len];
        for (i, t) in talker.iter_mut().enumerate().take(dt_end).skip(dt_start) {
            *t = gain * s[(i + s.len() / 2) % s.len()] as f64;
        }
        let bg = noise(len, NOISE_DBOV, p.seed + 200);
        let extra: Vec<f64> = talker.iter().zip(&bg).map(|(a, b)| a + b).collect();
        let near = near_from(&echo, &extra);
        let echo_only = near_from(&echo, &bg);

        let mut ec = EchoCanceller::with_config(EchoConfig {
            nlp: false,
            ..EchoConfig::new(p.tail_ms)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut out = vec![0i16; len];
        let mut mis_before = 0.0;
        for (i, ((f, n), o)) in far
            .chunks_exact(FRAME)
            .zip(near.chunks_exact(FRAME))
            .zip(out.chunks_exact_mut(FRAME))
            .enumerate()
        {
            if i * FRAME == dt_start {
                mis_before = misalignment_db(&ec, &h);
            }
            ec.process(f, n, o).unwrap_or_else(|e| panic!("{e}"));
        }
        let mis_after_dt = {
            // Re-run to the end of double talk only, to read the filter right then.
            let mut ec2 = EchoCanceller::with_config(EchoConfig {
                nlp: false,
                ..EchoConfig::new(p.tail_ms)
            })
            .unwrap_or_else(|e| panic!("{e}"));
            let _ = run(&mut ec2, &far[..dt_end], &near[..dt_end]);
            misalignment_db(&ec2, &h)
        };
        let before = erle(&near, &out, dt_start - 4 * RATE..dt_start);
        let after = erle(&near, &out, dt_end..dt_end + 2 * RATE);
        // Echo left in the output during double talk: output minus the near-end talker.
        let leak_num = power(echo_only[dt_start..dt_end].iter().map(|&v| v as f64));
        let mut dc = DcBlocker::default();
        let talker_hp: Vec<f64> = talker
            .iter()
            .map(|&t| dc.run(t as f32 / 32768.0) as f64 * 32768.0)
            .collect();
        let leak_den = power((dt_start..dt_end).map(|i| out[i] as f64 - talker_hp[i]));
        let leak = 10.0 * (leak_num / leak_den).log10();
        let _ = writeln!(
            table,
            "| {} | {talker_db} dB | {mis_before:.1} / {mis_after_dt:.1} dB | {before:.1} dB | {after:.1} dB | \
             {leak:.1} dB below echo |",
            p.name
        );
        if after < 25.0 || after < before - 6.0 {
            failures.push(format!(
                "{} at {talker_db} dB: ERLE after double talk {after:.1} dB",
                p.name
            ));
        }
        if mis_after_dt > mis_before + 3.0 && mis_after_dt > -20.0 {
            failures.push(format!(
                "{} at {talker_db} dB: misalignment {mis_before:.1} -> {mis_after_dt:.1} dB",
                p.name
            ));
        }
        // Bounded residual: what is left besides the talker must stay below the echo itself.
        if leak < 6.0 {
            failures.push(format!(
                "{} at {talker_db} dB: residual during double talk {leak:.1} dB",
                p.name
            ));
        }
    }
    report(&format!(
        "Double talk from 12 s to 20 s (near-end talker = other words of the sample; \
         linear canceller):\n\n{table}"
    ));
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn reconverges_after_echo_path_change() {
    let far = far_signal(2);
    let len = far.len();
    let change = 10 * RATE;
    let mut table = String::from(
        "| from | to | ERLE before change | re-converged (ERLE > 20 dB) after | ERLE last 5 s |\n|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (a, b) in [(PATHS[4], PATHS[6]), (PATHS[2], PATHS[1]), (PATHS[5], PATHS[4])] {
        let tail = a.tail_ms.max(b.tail_ms);
        let ha = EchoPath { tail_ms: tail, ..a }.impulse_response();
        let hb = EchoPath { tail_ms: tail, ..b }.impulse_response();
        let ea = convolve(&far, &ha);
        let eb = convolve(&far, &hb);
        let echo: Vec<f64> = (0..len).map(|i| if i < change { ea[i] } else { eb[i] }).collect();
        let near = near_from(&echo, &noise(len, NOISE_DBOV, 300));
        let mut ec = EchoCanceller::with_config(EchoConfig {
            nlp: false,
            ..EchoConfig::new(tail)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let out = run(&mut ec, &far, &near);
        let before = erle(&near, &out, change - 4 * RATE..change);
        let t = convergence_time(&near, &out, change, 20.0);
        let last = erle(&near, &out, len - 5 * RATE..len);
        let _ = writeln!(
            table,
            "| {} | {} | {before:.1} dB | {t:.2} s | {last:.1} dB |",
            a.name, b.name
        );
        if last < 25.0 || t > 4.0 {
            failures.push(format!("{} -> {}: {t:.2} s, {last:.1} dB", a.name, b.name));
        }
    }
    report(&format!(
        "Echo path change at 10 s (linear canceller):\n\n{table}"
    ));
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn double_talk_from_call_start_still_converges() {
    // Both sides talk for the first 6 s, before the canceller has ever converged.
    let far = far_signal(2);
    let s = speech();
    let len = far.len();
    let p = PATHS[4];
    let h = p.impulse_response();
    let echo = convolve(&far, &h);
    let bg = noise(len, NOISE_DBOV, 400);
    let extra: Vec<f64> = (0..len)
        .map(|i| {
            bg[i]
                + if i < 6 * RATE {
                    0.5 * s[(i + s.len() / 3) % s.len()] as f64
                } else {
                    0.0
                }
        })
        .collect();
    let near = near_from(&echo, &extra);
    let mut ec = EchoCanceller::with_config(EchoConfig {
        nlp: false,
        ..EchoConfig::new(p.tail_ms)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(&mut ec, &far, &near);
    let t = convergence_time(&near, &out, 6 * RATE, 20.0);
    let last = erle(&near, &out, len - 8 * RATE..len);
    report(&format!(
        "Double talk during the first 6 s ({}, near-end talker 6 dB below the far end): \
         ERLE > 20 dB {t:.2} s after it ends, {last:.1} dB over the last 8 s.\n",
        p.name
    ));
    assert!(last >= 25.0 && t < 4.0, "{t:.2} s, {last:.1} dB");
}

#[test]
fn nlp_passes_near_end_speech_and_matches_noise_level() {
    let far = far_signal(2);
    let s = speech();
    let len = far.len();
    let (dt_start, dt_end) = (12 * RATE, 20 * RATE);
    let p = PATHS[2];
    let h = p.impulse_response();
    let echo = convolve(&far, &h);
    let mut talker = vec![0.0; len];
    for (i, t) in talker.iter_mut().enumerate().take(dt_end).skip(dt_start) {
        *t = 0.3 * s[(i + s.len() / 2) % s.len()] as f64;
    }
    let noise_db = -60.0;
    let bg = noise(len, noise_db, 500);
    let extra: Vec<f64> = talker.iter().zip(&bg).map(|(a, b)| a + b).collect();
    let near = near_from(&echo, &extra);
    let mut ec = EchoCanceller::new(p.tail_ms).unwrap_or_else(|e| panic!("{e}"));
    let out = run(&mut ec, &far, &near);
    // Near-end speech through the NLP during double talk: level of the output against the
    // talker alone, over the 10 ms frames where the talker is clearly active.
    let (mut pt, mut po) = (0.0, 0.0);
    for f in (dt_start..dt_end).step_by(FRAME) {
        let t = power(talker[f..f + FRAME].iter().copied());
        if t > FRAME as f64 * 1e5 {
            pt += t;
            po += power(out[f..f + FRAME].iter().map(|&v| v as f64));
        }
    }
    let speech_loss = 10.0 * (pt / po).log10();
    // Output level in far-end single talk (converged, NLP engaged) against the noise level.
    let single = 8 * RATE..12 * RATE;
    let out_db = 10.0
        * (power(out[single.clone()].iter().map(|&v| v as f64)) / single.len() as f64 / 32768f64.powi(2))
            .log10();
    report(&format!(
        "NLP with comfort noise ({}, near-end noise {noise_db} dBov): output during far-end single talk \
         {out_db:.1} dBov; near-end speech during double talk passes with {speech_loss:.1} dB loss.\n",
        p.name
    ));
    assert!(
        speech_loss.abs() < 2.0,
        "near-end speech loss {speech_loss:.1} dB"
    );
    assert!(
        (out_db - noise_db).abs() < 4.0,
        "comfort noise at {out_db:.1} dBov"
    );
}
