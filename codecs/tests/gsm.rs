//! GSM 06.10 against libgsm (Debian libgsm-tools: `toast -l` encodes 16-bit host-order linear
//! audio to concatenated 33-byte frames, `untoast -l` decodes them) and against spandsp's
//! integer implementation (through spandsp-sys). Bit-exact is the only acceptable result, for
//! the encoder and for the decoder, including on garbage frames.

use std::path::{Path, PathBuf};
use std::process::Command;

use codecs::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmDecoder, GsmEncoder, GsmError};

const SPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/audio/speech_8k.s16le.raw"
);

/// True if `name` is on PATH. Missing tools fail the test under CI and skip it elsewhere.
fn have_tool(name: &str) -> bool {
    let found =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is required (scripts/deps.d/test-codecs-g711-gsm.apt)");
        }
        eprintln!("skipping: {name} not installed (run scripts/deps.sh test)");
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("codecs-gsm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `toast` with `args` on `input` and returns its standard output (`-c`).
fn toast(args: &[&str], input: &Path) -> Vec<u8> {
    let out = Command::new("toast")
        .args(args)
        .arg("-c")
        .arg(input)
        .output()
        .expect("run toast");
    assert!(
        out.status.success(),
        "toast {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn libgsm_encode(pcm: &[i16], name: &str) -> Vec<u8> {
    let path = scratch(&format!("{name}.raw"));
    std::fs::write(&path, codecs::wav::encode_raw(pcm)).unwrap();
    let coded = toast(&["-l"], &path);
    let _ = std::fs::remove_file(&path);
    coded
}

fn libgsm_decode(frames: &[u8], name: &str) -> Vec<i16> {
    let path = scratch(&format!("{name}.gsm"));
    std::fs::write(&path, frames).unwrap();
    let pcm = toast(&["-d", "-l"], &path);
    let _ = std::fs::remove_file(&path);
    codecs::wav::decode_audio(&pcm).unwrap()
}

/// Our encoder over a whole stream; a final partial frame is padded with zeros as toast does.
fn encode(pcm: &[i16]) -> Vec<u8> {
    let mut enc = GsmEncoder::new();
    let mut out = Vec::new();
    for chunk in pcm.chunks(FRAME_SAMPLES) {
        let mut frame = [0i16; FRAME_SAMPLES];
        frame[..chunk.len()].copy_from_slice(chunk);
        let mut coded = [0u8; FRAME_BYTES];
        enc.encode_frame(&frame, &mut coded);
        out.extend_from_slice(&coded);
    }
    out
}

fn decode(frames: &[u8]) -> Vec<i16> {
    let mut dec = GsmDecoder::new();
    let mut out = Vec::new();
    for f in frames.chunks_exact(FRAME_BYTES) {
        let mut pcm = [0i16; FRAME_SAMPLES];
        dec.decode_frame(f.try_into().unwrap(), &mut pcm).unwrap();
        out.extend_from_slice(&pcm);
    }
    out
}

/// Compares frame by frame and names the first differing frame and the signal it belongs to.
fn assert_frames_equal(ours: &[u8], theirs: &[u8], label: impl Fn(usize) -> String) {
    assert_eq!(ours.len(), theirs.len(), "stream lengths differ");
    for (i, (a, b)) in ours
        .chunks(FRAME_BYTES)
        .zip(theirs.chunks(FRAME_BYTES))
        .enumerate()
    {
        assert_eq!(a, b, "frame {i} ({}) differs from libgsm", label(i));
    }
}

fn assert_pcm_equal(ours: &[i16], theirs: &[i16], label: impl Fn(usize) -> String) {
    assert_eq!(ours.len(), theirs.len(), "sample counts differ");
    for (i, (a, b)) in ours
        .chunks(FRAME_SAMPLES)
        .zip(theirs.chunks(FRAME_SAMPLES))
        .enumerate()
    {
        assert_eq!(a, b, "decoded frame {i} ({}) differs from libgsm", label(i));
    }
}

#[test]
fn speech_sample_bit_exact() {
    if !have_tool("toast") {
        return;
    }
    let pcm = codecs::wav::read_audio(Path::new(SPEECH)).expect("speech vector");
    let theirs = libgsm_encode(&pcm, "speech");
    let ours = encode(&pcm);
    assert_frames_equal(&ours, &theirs, |_| "speech".into());
    assert_pcm_equal(&decode(&theirs), &libgsm_decode(&theirs, "speech"), |_| {
        "speech".into()
    });
}

/// xorshift64*: a fixed-seed generator, so every run tests the same signals.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    /// Approximately normal (Irwin-Hall of 12), unit variance.
    fn gauss(&mut self) -> f64 {
        (0..12).map(|_| (self.uniform() + 1.0) / 2.0).sum::<f64>() - 6.0
    }
}

fn to_i16(x: f64) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

/// The generated test programme: (name, samples). About 11 minutes in total.
fn test_signals() -> Vec<(String, Vec<i16>)> {
    use std::f64::consts::PI;
    const SEC: usize = 8000;
    let mut rng = Rng(0x5EED_0610_2026_0001);
    let mut v: Vec<(String, Vec<i16>)> = Vec::new();
    // White noise from -60 dBFS to clipping.
    for dbfs in [-60.0, -40.0, -25.0, -12.0, -6.0, 0.0, 6.0] {
        let rms = 32768.0 * 10f64.powf(dbfs / 20.0);
        v.push((
            format!("gaussian noise {dbfs} dBFS"),
            (0..30 * SEC).map(|_| to_i16(rng.gauss() * rms)).collect(),
        ));
    }
    v.push((
        "uniform full-scale noise".into(),
        (0..30 * SEC).map(|_| rng.next() as i16).collect(),
    ));
    // Tones across the band and amplitudes, including near DC and Nyquist.
    for (f, amp) in [
        (50.0, 8000.0),
        (300.0, 32767.0),
        (1000.0, 1000.0),
        (1004.0, 16000.0),
        (2600.0, 12000.0),
        (3400.0, 30000.0),
        (3990.0, 20000.0),
    ] {
        v.push((
            format!("tone {f} Hz amplitude {amp}"),
            (0..10 * SEC)
                .map(|n| to_i16(amp * (2.0 * PI * f * n as f64 / 8000.0).sin()))
                .collect(),
        ));
    }
    // Dual tone (DTMF-like) with noise.
    v.push((
        "dual tone 697+1209 Hz with noise".into(),
        (0..10 * SEC)
            .map(|n| {
                let t = n as f64 / 8000.0;
                to_i16(
                    9000.0 * (2.0 * PI * 697.0 * t).sin()
                        + 9000.0 * (2.0 * PI * 1209.0 * t).sin()
                        + 300.0 * rng.gauss(),
                )
            })
            .collect(),
    ));
    // Linear and logarithmic sweeps over the whole band, at two levels.
    for (amp, log) in [(20000.0, false), (32767.0, true), (3000.0, true)] {
        let dur = 30.0;
        let (f0, f1): (f64, f64) = (20.0, 3990.0);
        let mut phase = 0.0f64;
        let samples = (0..(dur as usize) * SEC)
            .map(|n| {
                let t = n as f64 / 8000.0;
                let f = if log {
                    f0 * (f1 / f0).powf(t / dur)
                } else {
                    f0 + (f1 - f0) * t / dur
                };
                phase += 2.0 * PI * f / 8000.0;
                to_i16(amp * phase.sin())
            })
            .collect();
        v.push((
            format!("{} sweep amplitude {amp}", if log { "log" } else { "linear" }),
            samples,
        ));
    }
    // Silence, and near silence.
    v.push(("digital silence".into(), vec![0; 20 * SEC]));
    v.push((
        "LSB noise".into(),
        (0..20 * SEC).map(|_| (rng.next() % 3) as i16 - 1).collect(),
    ));
    // Full-scale clipping: overdriven sines and square waves, both rails.
    for (f, drive) in [(200.0, 4.0), (1000.0, 10.0), (3000.0, 2.0)] {
        v.push((
            format!("clipped sine {f} Hz x{drive}"),
            (0..15 * SEC)
                .map(|n| to_i16(drive * 32767.0 * (2.0 * PI * f * n as f64 / 8000.0).sin()))
                .collect(),
        ));
    }
    for half in [1usize, 4, 20, 80] {
        v.push((
            format!("full-scale square, half period {half}"),
            (0..10 * SEC)
                .map(|n| if (n / half) % 2 == 0 { i16::MAX } else { i16::MIN })
                .collect(),
        ));
    }
    // DC offsets, alone, with a tone and with noise, and DC steps.
    for dc in [32767.0, -32768.0, 12000.0, -20000.0] {
        v.push((format!("DC {dc}"), vec![to_i16(dc); 10 * SEC]));
        v.push((
            format!("DC {dc} + tone + noise"),
            (0..10 * SEC)
                .map(|n| {
                    to_i16(dc + 6000.0 * (2.0 * PI * 440.0 * n as f64 / 8000.0).sin() + 500.0 * rng.gauss())
                })
                .collect(),
        ));
    }
    v.push((
        "DC steps".into(),
        (0..20 * SEC)
            .map(|n| [0, 30000, -30000, 15000, -32768, 32767, 0, -5][(n / 1337) % 8])
            .collect(),
    ));
    // Impulses and bursts: transients the LTP and APCM must follow.
    v.push((
        "impulse train".into(),
        (0..15 * SEC)
            .map(|n| {
                if n % 97 == 0 {
                    i16::MAX
                } else if n % 211 == 0 {
                    i16::MIN
                } else {
                    0
                }
            })
            .collect(),
    ));
    v.push((
        "noise bursts".into(),
        (0..20 * SEC)
            .map(|n| {
                if (n / 800) % 3 == 0 {
                    to_i16(rng.gauss() * 15000.0)
                } else {
                    0
                }
            })
            .collect(),
    ));
    v
}

#[test]
fn generated_signals_bit_exact() {
    if !have_tool("toast") {
        return;
    }
    let signals = test_signals();
    // One continuous stream, so state carries across signal changes too. Each signal is padded to
    // whole frames so that a frame index names exactly one signal.
    let mut pcm = Vec::new();
    let mut starts = Vec::new();
    for (name, s) in &signals {
        starts.push((pcm.len() / FRAME_SAMPLES, name.clone()));
        pcm.extend_from_slice(s);
        pcm.resize(pcm.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0);
    }
    assert!(
        pcm.len() >= 10 * 60 * 8000,
        "at least 10 minutes: {} s",
        pcm.len() / 8000
    );
    let label = |frame: usize| {
        let (start, name) = starts.iter().rev().find(|(s, _)| *s <= frame).unwrap();
        format!("{name}, frame {} of it", frame - start)
    };
    let theirs = libgsm_encode(&pcm, "generated");
    let ours = encode(&pcm);
    assert_frames_equal(&ours, &theirs, label);
    assert_pcm_equal(&decode(&theirs), &libgsm_decode(&theirs, "generated"), label);
}

/// spandsp's GSM 06.10 with RFC 3551 packing (`GSM0610_PACKING_VOIP`, an anonymous enum that
/// spandsp-sys does not export by name).
struct SpanGsm(*mut spandsp_sys::gsm0610_state_t);

impl SpanGsm {
    fn new() -> Self {
        const GSM0610_PACKING_VOIP: i32 = 2;
        // SAFETY: a null state asks spandsp to allocate one; freed in Drop.
        let s = unsafe { spandsp_sys::gsm0610_init(std::ptr::null_mut(), GSM0610_PACKING_VOIP) };
        assert!(!s.is_null());
        SpanGsm(s)
    }

    fn encode(&self, pcm: &[i16]) -> Vec<u8> {
        assert_eq!(pcm.len() % FRAME_SAMPLES, 0);
        let mut out = vec![0u8; pcm.len() / FRAME_SAMPLES * FRAME_BYTES];
        // SAFETY: out has room for one 33-byte frame per 160 input samples.
        let n =
            unsafe { spandsp_sys::gsm0610_encode(self.0, out.as_mut_ptr(), pcm.as_ptr(), pcm.len() as i32) };
        assert_eq!(n as usize, out.len());
        out
    }

    fn decode(&self, frames: &[u8]) -> Vec<i16> {
        let mut out = vec![0i16; frames.len() / FRAME_BYTES * FRAME_SAMPLES];
        // SAFETY: out has room for 160 samples per 33-byte frame.
        let n = unsafe {
            spandsp_sys::gsm0610_decode(self.0, out.as_mut_ptr(), frames.as_ptr(), frames.len() as i32)
        };
        assert_eq!(n as usize, out.len());
        out
    }
}

impl Drop for SpanGsm {
    fn drop(&mut self) {
        // SAFETY: allocated by gsm0610_init.
        unsafe { spandsp_sys::gsm0610_free(self.0) };
    }
}

#[test]
fn generated_signals_match_spandsp() {
    let mut pcm: Vec<i16> = test_signals().into_iter().flat_map(|(_, s)| s).collect();
    pcm.resize(pcm.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0);
    let theirs = SpanGsm::new().encode(&pcm);
    assert_frames_equal(&encode(&pcm), &theirs, |i| format!("frame {i}"));
    assert_pcm_equal(&decode(&theirs), &SpanGsm::new().decode(&theirs), |i| {
        format!("frame {i}")
    });
}

#[test]
fn garbage_frames_decode_like_libgsm() {
    if !have_tool("toast") {
        return;
    }
    let mut rng = Rng(0xBAD_F7A3E5);
    let mut frames = Vec::new();
    // Random bits behind a valid signature, plus the extreme patterns.
    for i in 0..20_000 {
        let mut f = [0u8; FRAME_BYTES];
        match i {
            0 => f.fill(0xFF),
            1 => f.fill(0x00),
            2 => f.fill(0xAA),
            3 => f.fill(0x55),
            _ => f.iter_mut().for_each(|b| *b = rng.next() as u8),
        }
        f[0] = (f[0] & 0x0F) | 0xD0;
        frames.extend_from_slice(&f);
    }
    assert_pcm_equal(&decode(&frames), &libgsm_decode(&frames, "garbage"), |i| {
        format!("garbage frame {i}")
    });
}

#[test]
fn rejects_frames_without_signature() {
    let mut dec = GsmDecoder::new();
    let mut pcm = [0i16; FRAME_SAMPLES];
    let mut f = [0u8; FRAME_BYTES];
    f[0] = 0xC5;
    assert_eq!(
        dec.decode_frame(&f, &mut pcm),
        Err(GsmError::BadMagic { found: 0xC })
    );
}
