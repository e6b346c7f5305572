//! Packet loss concealment judged by narrow-band PESQ (ITU-T P.862, Python package `pesq`).
//!
//! The speech sample is coded with the crate's G.711 and GSM 06.10 codecs, frames are dropped
//! with fixed-seed random (5 %) and bursty (Gilbert model, 5 %, mean burst 3 frames) patterns,
//! and the received speech is rebuilt three ways: silence insertion, our concealment, and for
//! G.711 spandsp's `plc_fillin` as an independent reference. PESQ of each against the original
//! must rank our concealment above silence insertion. Set `PLC_REPORT=<file>` to get the table.
//! Needs python3 with numpy and pesq (scripts/deps.d/test-codecs-ec-plc.pip); with `CI` set
//! their absence is a failure.

use codecs::g711::G711Law;
use codecs::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmDecoder, GsmEncoder};
use codecs::plc::{Concealer, GsmConcealment, GsmPlcDecoder};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const SPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/audio/speech_8k.s16le.raw"
);
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/plc_pesq.py");

fn speech() -> Vec<i16> {
    let bytes = std::fs::read(SPEECH).unwrap_or_else(|e| panic!("{SPEECH}: {e}"));
    let mut s: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    s.truncate(s.len() / FRAME_SAMPLES * FRAME_SAMPLES);
    s
}

struct Lcg(u64);
impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A loss pattern: `true` = frame lost.
#[derive(Clone, Copy, Debug)]
enum Pattern {
    Random { seed: u64 },
    Bursty { seed: u64 },
}

impl Pattern {
    fn name(self) -> String {
        match self {
            Pattern::Random { seed } => format!("random 5 % (seed {seed})"),
            Pattern::Bursty { seed } => format!("bursty 5 %, mean burst 3 (seed {seed})"),
        }
    }

    fn losses(self, frames: usize) -> Vec<bool> {
        match self {
            Pattern::Random { seed } => {
                let mut r = Lcg(seed);
                (0..frames).map(|_| r.uniform() < 0.05).collect()
            }
            Pattern::Bursty { seed } => {
                // Gilbert model: leave the loss state with 1/3 (mean burst 3 frames), enter it
                // with p such that p / (p + 1/3) = 5 %.
                let (leave, enter) = (1.0 / 3.0, 0.05 / 0.95 / 3.0);
                let mut r = Lcg(seed);
                let mut bad = false;
                (0..frames)
                    .map(|_| {
                        let u = r.uniform();
                        bad = if bad { u >= leave } else { u < enter };
                        bad
                    })
                    .collect()
            }
        }
    }
}

const PATTERNS: [Pattern; 4] = [
    Pattern::Random { seed: 1 },
    Pattern::Random { seed: 2 },
    Pattern::Random { seed: 3 },
    Pattern::Bursty { seed: 4 },
];

/// G.711 receive path with `frame` samples per packet: returns (silence insertion, ours, spandsp).
fn g711_receive(law: G711Law, clean: &[i16], frame: usize, lost: &[bool]) -> [Vec<i16>; 3] {
    let mut codes = vec![0u8; clean.len()];
    law.encode(clean, &mut codes);
    let mut silence = vec![0i16; clean.len()];
    let mut ours = vec![0i16; clean.len()];
    let mut theirs = vec![0i16; clean.len()];
    let mut plc = Concealer::new();
    // SAFETY: plc_init(NULL) allocates a state that we free below; the buffers passed to
    // plc_rx/plc_fillin are valid for `frame` samples.
    let st = unsafe { spandsp_sys::plc_init(std::ptr::null_mut()) };
    assert!(!st.is_null());
    for (i, c) in codes.chunks_exact(frame).enumerate() {
        let r = i * frame..(i + 1) * frame;
        if lost[i] {
            plc.lost_frame(&mut ours[r.clone()]);
            unsafe { spandsp_sys::plc_fillin(st, theirs[r].as_mut_ptr(), frame as i32) };
        } else {
            law.decode(c, &mut silence[r.clone()]);
            ours[r.clone()].copy_from_slice(&silence[r.clone()]);
            plc.good_frame(&mut ours[r.clone()]);
            theirs[r.clone()].copy_from_slice(&silence[r.clone()]);
            unsafe { spandsp_sys::plc_rx(st, theirs[r].as_mut_ptr(), frame as i32) };
        }
    }
    unsafe { spandsp_sys::plc_free(st) };
    [silence, ours, theirs]
}

/// GSM receive path: returns (silence insertion, 06.11 substitution, waveform substitution).
fn gsm_receive(clean: &[i16], lost: &[bool]) -> [Vec<i16>; 3] {
    let mut enc = GsmEncoder::new();
    let mut frames = Vec::new();
    for pcm in clean.chunks_exact(FRAME_SAMPLES) {
        let mut f = [0u8; FRAME_BYTES];
        enc.encode_frame(pcm.try_into().unwrap_or_else(|_| unreachable!()), &mut f);
        frames.push(f);
    }
    let mut silence = vec![0i16; clean.len()];
    let mut subst = vec![0i16; clean.len()];
    let mut wave = vec![0i16; clean.len()];
    let mut dec = GsmDecoder::new();
    let mut a = GsmPlcDecoder::new(GsmConcealment::Substitution);
    let mut b = GsmPlcDecoder::new(GsmConcealment::Waveform);
    for (i, f) in frames.iter().enumerate() {
        let r = i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES;
        let o1: &mut [i16; FRAME_SAMPLES] = (&mut silence[r.clone()])
            .try_into()
            .unwrap_or_else(|_| unreachable!());
        if !lost[i] {
            dec.decode_frame(f, o1).unwrap_or_else(|e| panic!("{e}"));
        }
        let o2: &mut [i16; FRAME_SAMPLES] = (&mut subst[r.clone()])
            .try_into()
            .unwrap_or_else(|_| unreachable!());
        if lost[i] {
            a.conceal(o2)
        } else {
            a.decode(f, o2).unwrap_or_else(|e| panic!("{e}"))
        }
        let o3: &mut [i16; FRAME_SAMPLES] = (&mut wave[r]).try_into().unwrap_or_else(|_| unreachable!());
        if lost[i] {
            b.conceal(o3)
        } else {
            b.decode(f, o3).unwrap_or_else(|e| panic!("{e}"))
        }
    }
    [silence, subst, wave]
}

fn write_wav(dir: &Path, name: &str, s: &[i16]) -> PathBuf {
    let p = dir.join(name);
    codecs::wav::write_audio(&p, s).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    p
}

/// PESQ of each file against `reference`, or None when python3/numpy/pesq are not installed.
fn pesq(reference: &Path, files: &[PathBuf]) -> Option<Vec<f64>> {
    let out = match Command::new("python3")
        .arg(SCRIPT)
        .arg(reference)
        .args(files)
        .output()
    {
        Ok(o) => o,
        Err(e) => return missing(&format!("python3: {e}")),
    };
    if out.status.code() == Some(2) {
        return missing(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        out.status.success(),
        "{SCRIPT} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let scores: Vec<f64> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("bad line {l}"))
        })
        .collect();
    assert_eq!(scores.len(), files.len(), "{text}");
    Some(scores)
}

fn missing(why: &str) -> Option<Vec<f64>> {
    if std::env::var_os("CI").is_some() {
        panic!("PESQ evaluation needs python3 with numpy and pesq (scripts/deps.sh test): {why}");
    }
    eprintln!("skipping PESQ evaluation, run scripts/deps.sh test: {why}");
    None
}

#[test]
fn concealment_beats_silence_insertion_by_pesq() {
    let clean = speech();
    let dir = std::env::temp_dir().join(format!("codecs-plc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let reference = write_wav(&dir, "clean.wav", &clean);
    // The codecs without loss: the ceiling for every row.
    let no_loss = vec![false; clean.len() / FRAME_SAMPLES];
    let coded = vec![
        write_wav(
            &dir,
            "ulaw.wav",
            &g711_receive(G711Law::Ulaw, &clean, FRAME_SAMPLES, &no_loss)[0],
        ),
        write_wav(
            &dir,
            "alaw.wav",
            &g711_receive(G711Law::Alaw, &clean, FRAME_SAMPLES, &no_loss)[0],
        ),
        write_wav(&dir, "gsm.wav", &gsm_receive(&clean, &no_loss)[0]),
    ];

    // (codec, frame, pattern, [labels], [files])
    let mut cases: Vec<(String, String, Vec<&'static str>, Vec<PathBuf>)> = Vec::new();
    for (pi, pat) in PATTERNS.iter().enumerate() {
        for (law, lname) in [(G711Law::Ulaw, "G.711 µ-law"), (G711Law::Alaw, "G.711 A-law")] {
            for frame in [160usize, 80] {
                let lost = pat.losses(clean.len() / frame);
                let [s, o, t] = g711_receive(law, &clean, frame, &lost);
                let tag = format!("{}-{frame}-{pi}", law.payload_type());
                let files = vec![
                    write_wav(&dir, &format!("{tag}-silence.wav"), &s),
                    write_wav(&dir, &format!("{tag}-ours.wav"), &o),
                    write_wav(&dir, &format!("{tag}-spandsp.wav"), &t),
                ];
                cases.push((
                    format!("{lname}, {} ms frames", frame / 8),
                    pat.name(),
                    vec!["silence", "ours", "spandsp plc"],
                    files,
                ));
            }
        }
        let lost = pat.losses(clean.len() / FRAME_SAMPLES);
        let [s, a, b] = gsm_receive(&clean, &lost);
        let files = vec![
            write_wav(&dir, &format!("gsm-{pi}-silence.wav"), &s),
            write_wav(&dir, &format!("gsm-{pi}-subst.wav"), &a),
            write_wav(&dir, &format!("gsm-{pi}-wave.wav"), &b),
        ];
        cases.push((
            "GSM 06.10, 20 ms frames".into(),
            pat.name(),
            vec!["silence", "ours", "ours, waveform"],
            files,
        ));
    }
    let mut all: Vec<PathBuf> = cases.iter().flat_map(|c| c.3.iter().cloned()).collect();
    all.extend(coded);
    let scores = pesq(&reference, &all);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(scores) = scores else {
        return;
    };

    let ceiling = &scores[cases.len() * 3..];
    let mut table = format!(
        "PESQ (P.862 narrow band, MOS-LQO) without loss: G.711 µ-law {:.2}, A-law {:.2}, GSM 06.10 {:.2}.\n\n\
         | codec | loss pattern | PESQ silence insertion | PESQ ours | other |\n|---|---|---|---|---|\n",
        ceiling[0], ceiling[1], ceiling[2]
    );
    let mut failures = Vec::new();
    for (i, (codec, pat, labels, _)) in cases.iter().enumerate() {
        let sc = &scores[i * 3..i * 3 + 3];
        let _ = writeln!(
            table,
            "| {codec} | {pat} | {:.2} | {:.2} | {}: {:.2} |",
            sc[0], sc[1], labels[2], sc[2]
        );
        if sc[1] <= sc[0] {
            failures.push(format!(
                "{codec}, {pat}: ours {:.2} <= silence {:.2}",
                sc[1], sc[0]
            ));
        }
    }
    println!("{table}");
    if let Ok(path) = std::env::var("PLC_REPORT") {
        std::fs::write(&path, &table).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    assert!(failures.is_empty(), "{failures:?}");
}
