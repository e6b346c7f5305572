//! DTMF receiver against ITU-T Q.24, with the same generated test set run through spandsp's
//! `dtmf_rx` for comparison. `cargo test -p codecs --test dtmf_q24 -- --nocapture` prints the
//! side-by-side table reproduced in docs/codecs-signal.md.

use std::ffi::{c_char, c_int, c_void};

use codecs::dtmf::{DtmfDetector, DtmfEvent, DtmfEventKind, DtmfGenerator, digit_freqs};

const DIGITS: &str = "0123456789*#ABCD";
const PEAK_0DBM0: f64 = 22_786.0;

/// Deterministic Gaussian noise (xorshift + Box-Muller).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    /// Relative frequency offsets of the low and high tone.
    dev_low: f64,
    dev_high: f64,
    level_low: f64,
    level_high: f64,
    on_ms: u32,
    off_ms: u32,
    snr_db: Option<f64>,
    /// Whether Q.24 requires the digits to be accepted (true) or rejected (false).
    accept: bool,
}

const fn case(name: &'static str, dev_low: f64, dev_high: f64, accept: bool) -> Case {
    Case {
        name,
        dev_low,
        dev_high,
        level_low: -10.0,
        level_high: -10.0,
        on_ms: 50,
        off_ms: 50,
        snr_db: None,
        accept,
    }
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        case("nominal, -10 dBm0, 50/50 ms", 0.0, 0.0, true),
        case("+1.5 % both tones", 0.015, 0.015, true),
        case("-1.5 % both tones", -0.015, -0.015, true),
        case("+1.5 % low, -1.5 % high", 0.015, -0.015, true),
        case("+3.5 % both tones", 0.035, 0.035, false),
        case("-3.5 % both tones", -0.035, -0.035, false),
        case("+3.5 % low tone only", 0.035, 0.0, false),
        case("-3.5 % high tone only", 0.0, -0.035, false),
        case("+5 % both tones", 0.05, 0.05, false),
    ];
    let mut c = case("normal twist 7 dB (low louder)", 0.0, 0.0, true);
    c.level_high = -17.0;
    v.push(c);
    let mut c = case("reverse twist 3.5 dB (high louder)", 0.0, 0.0, true);
    c.level_low = -13.5;
    v.push(c);
    let mut c = case("normal twist 10 dB", 0.0, 0.0, false);
    c.level_high = -20.0;
    v.push(c);
    let mut c = case("reverse twist 6 dB", 0.0, 0.0, false);
    c.level_low = -16.0;
    v.push(c);
    let mut c = case("40 ms tone, 40 ms pause", 0.0, 0.0, true);
    c.on_ms = 40;
    c.off_ms = 40;
    v.push(c);
    let mut c = case("25 ms tone, 60 ms pause", 0.0, 0.0, false);
    c.on_ms = 25;
    c.off_ms = 60;
    v.push(c);
    let mut c = case("weak: -25 dBm0 per tone", 0.0, 0.0, true);
    c.level_low = -25.0;
    c.level_high = -25.0;
    v.push(c);
    let mut c = case("SNR 15 dB (white noise)", 0.0, 0.0, true);
    c.snr_db = Some(15.0);
    v.push(c);
    let mut c = case("SNR 15 dB, +1.5 %, 40 ms", 0.015, 0.015, true);
    c.snr_db = Some(15.0);
    c.on_ms = 40;
    c.off_ms = 40;
    v.push(c);
    v
}

/// Renders the 16 digits of a case, with 100 ms of lead-in and tail.
fn render(c: &Case, seed: u64) -> Vec<i16> {
    let mut out = vec![0f64; 800];
    let mut phase = 0.3f64;
    for d in DIGITS.chars() {
        let (fl, fh) = digit_freqs(d).unwrap();
        let (fl, fh) = (fl as f64 * (1.0 + c.dev_low), fh as f64 * (1.0 + c.dev_high));
        let (al, ah) = (
            PEAK_0DBM0 * 10f64.powf(c.level_low / 20.0),
            PEAK_0DBM0 * 10f64.powf(c.level_high / 20.0),
        );
        for n in 0..c.on_ms * 8 {
            let t = n as f64 / 8000.0;
            let tau = std::f64::consts::TAU;
            out.push(al * (tau * fl * t + phase).sin() + ah * (tau * fh * t + 2.0 * phase).sin());
        }
        phase += 1.1;
        out.extend(std::iter::repeat_n(0.0, (c.off_ms * 8) as usize));
    }
    out.extend(std::iter::repeat_n(0.0, 800));
    if let Some(snr) = c.snr_db {
        let p_sig = (PEAK_0DBM0 * PEAK_0DBM0 / 2.0)
            * (10f64.powf(c.level_low / 10.0) + 10f64.powf(c.level_high / 10.0));
        let sigma = (p_sig / 10f64.powf(snr / 10.0)).sqrt();
        let mut rng = Noise(seed | 1);
        for s in out.iter_mut() {
            *s += sigma * rng.gauss();
        }
    }
    out.iter()
        .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

fn ours(samples: &[i16]) -> (String, Vec<DtmfEvent>) {
    let mut det = DtmfDetector::new();
    let mut s = String::new();
    let mut ev = Vec::new();
    for chunk in samples.chunks(80) {
        det.process(chunk);
        while let Some(e) = det.poll() {
            if e.kind == DtmfEventKind::Start {
                s.push(e.digit);
            }
            ev.push(e);
        }
    }
    det.flush();
    while let Some(e) = det.poll() {
        ev.push(e);
    }
    (s, ev)
}

unsafe extern "C" fn collect(user: *mut c_void, digits: *const c_char, len: c_int) {
    // SAFETY: `user` is the `String` passed to dtmf_rx_init below; `digits` holds `len` bytes.
    let out = unsafe { &mut *(user as *mut String) };
    let bytes = unsafe { std::slice::from_raw_parts(digits as *const u8, len as usize) };
    out.extend(bytes.iter().map(|&b| b as char));
}

fn spandsp(samples: &[i16]) -> String {
    spandsp_with(samples, false)
}

/// spandsp's receiver, optionally with its North American dial tone filter switched on.
fn spandsp_with(samples: &[i16], filter_dialtone: bool) -> String {
    let mut out = Box::new(String::new());
    // SAFETY: spandsp allocates its own state; the callback writes into `out`, which outlives
    // the receiver (freed before `out` is dropped).
    unsafe {
        let s = spandsp_sys::dtmf_rx_init(
            std::ptr::null_mut(),
            Some(collect),
            &mut *out as *mut String as *mut c_void,
        );
        assert!(!s.is_null());
        if filter_dialtone {
            spandsp_sys::dtmf_rx_parms(s, 1, -1.0, -1.0, -99.0);
        }
        for chunk in samples.chunks(80) {
            spandsp_sys::dtmf_rx(s, chunk.as_ptr(), chunk.len() as c_int);
        }
        spandsp_sys::dtmf_rx(s, [0i16; 800].as_ptr(), 800);
        spandsp_sys::dtmf_rx_free(s);
    }
    *out
}

fn speech() -> Vec<i16> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/audio/speech_8k.s16le.raw"
    );
    codecs::wav::read_audio(std::path::Path::new(path))
        .unwrap_or_else(|e| panic!("speech sample {path}: {e}"))
}

/// Digits of `expected` found in order in `got` (longest common subsequence).
fn matched(expected: &str, got: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (expected.chars().collect(), got.chars().collect());
    let mut dp = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in 0..a.len() {
        for j in 0..b.len() {
            dp[i + 1][j + 1] = if a[i] == b[j] {
                dp[i][j] + 1
            } else {
                dp[i][j + 1].max(dp[i + 1][j])
            };
        }
    }
    dp[a.len()][b.len()]
}

fn score(expected: &str, got: &str, accept: bool) -> String {
    if accept {
        let m = matched(expected, got);
        let extra = got.len() - m;
        let mut s = format!("{m}/16");
        if extra > 0 {
            s += &format!(" +{extra} false");
        }
        if got != expected {
            s += " ✗";
        }
        s
    } else {
        format!("{} false{}", got.len(), if got.is_empty() { "" } else { " ✗" })
    }
}

#[test]
fn q24_test_set_side_by_side_with_spandsp() {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (i, c) in cases().iter().enumerate() {
        let audio = render(c, 0x9e37_79b9 + i as u64);
        let (got, _) = ours(&audio);
        let sp = spandsp(&audio);
        let expect = if c.accept { DIGITS } else { "" };
        if got != expect {
            failures.push(format!("{}: expected {expect:?}, got {got:?}", c.name));
        }
        rows.push(format!(
            "| {} | {} | {} | {} |",
            c.name,
            if c.accept { "accept" } else { "reject" },
            score(DIGITS, &got, c.accept),
            score(DIGITS, &sp, c.accept)
        ));
    }
    // Digits dialled over the North American dial tone (350+440 Hz, -13 dBm0 each).
    {
        use codecs::tones::{ToneGenerator, ToneKind, TonePlan};
        let mut audio = render(&case("x", 0.0, 0.0, true), 5);
        let mut dial = vec![0i16; audio.len()];
        ToneGenerator::new(TonePlan::for_country("US").unwrap().tone(ToneKind::Dial).unwrap())
            .fill(&mut dial);
        for (a, d) in audio.iter_mut().zip(&dial) {
            *a = a.saturating_add(*d);
        }
        let (got, _) = ours(&audio);
        let sp = spandsp(&audio);
        let sp_filtered = spandsp_with(&audio, true);
        if got != DIGITS {
            failures.push(format!("over dial tone: got {got:?}"));
        }
        rows.push(format!(
            "| over US dial tone (350+440, -13 dBm0) | accept | {} | {} (with its dial tone filter: {}) |",
            score(DIGITS, &got, true),
            score(DIGITS, &sp, true),
            score(DIGITS, &sp_filtered, true)
        ));
    }
    // Talk-off: the speech sample as recorded, 6 dB louder and 10 dB softer.
    let sp = speech();
    let mut ours_talk = String::new();
    for gain_db in [0.0f64, 6.0, -10.0] {
        let g = 10f64.powf(gain_db / 20.0);
        let audio: Vec<i16> = sp
            .iter()
            .map(|&x| (x as f64 * g).round().clamp(-32768.0, 32767.0) as i16)
            .collect();
        let (o, _) = ours(&audio);
        let t = spandsp(&audio);
        rows.push(format!(
            "| talk-off: speech sample ({:.0} s) at {gain_db:+} dB | 0 digits | {} false | {} false |",
            sp.len() as f64 / 8000.0,
            o.len(),
            t.len()
        ));
        ours_talk += &o;
    }
    println!("| case | Q.24 | ours | spandsp dtmf_rx |\n|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }
    assert!(
        ours_talk.is_empty(),
        "talk-off: false digits {ours_talk:?} on speech"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn reports_start_time_and_duration() {
    // Digits of 60, 80 and 120 ms at known positions.
    let mut g = DtmfGenerator::new();
    g.push_timed('1', 60, 90).unwrap();
    g.push_timed('5', 80, 70).unwrap();
    g.push_timed('#', 120, 100).unwrap();
    let mut audio = vec![0i16; 400];
    let mut buf = vec![0i16; 4000];
    g.fill(&mut buf);
    audio.extend_from_slice(&buf);
    let (_, ev) = ours(&audio);
    let ends: Vec<&DtmfEvent> = ev.iter().filter(|e| e.kind == DtmfEventKind::End).collect();
    let expect = [
        ('1', 400u64, 480u32),
        ('5', 400 + 1200, 640),
        ('#', 400 + 2400, 960),
    ];
    assert_eq!(ends.len(), 3, "{ev:?}");
    for (e, (d, at, dur)) in ends.iter().zip(expect) {
        assert_eq!(e.digit, d);
        assert!(
            e.at_sample.abs_diff(at) <= 80,
            "{d}: start {} vs {at}",
            e.at_sample
        );
        assert!(
            e.duration_samples.abs_diff(dur) <= 80,
            "{d}: duration {} vs {dur}",
            e.duration_samples
        );
    }
    // While a digit is held, `held` gives it with its start.
    let mut det = DtmfDetector::new();
    det.process(&audio[..400 + 400]);
    assert_eq!(det.held().map(|(d, _)| d), Some('1'));
    assert_eq!(det.current_digit(), Some('1'));
    assert!(det.held().unwrap().1.abs_diff(400) <= 80);
    // Each Start precedes its End and carries the same start time.
    for w in ev.chunks(2) {
        assert_eq!(w[0].kind, DtmfEventKind::Start);
        assert_eq!(w[1].kind, DtmfEventKind::End);
        assert_eq!(w[0].at_sample, w[1].at_sample);
        assert_eq!(w[0].digit, w[1].digit);
    }
}

#[test]
fn frame_size_does_not_change_the_result() {
    let audio = render(&cases()[16], 7);
    let reference = ours(&audio).1;
    for size in [1usize, 7, 51, 160, 1000, 4096] {
        let mut det = DtmfDetector::new();
        let mut ev = Vec::new();
        for chunk in audio.chunks(size) {
            det.process(chunk);
            while let Some(e) = det.poll() {
                ev.push(e);
            }
        }
        det.flush();
        while let Some(e) = det.poll() {
            ev.push(e);
        }
        assert_eq!(ev, reference, "chunk size {size}");
    }
}

#[test]
fn generator_output_is_read_by_spandsp() {
    let mut g = DtmfGenerator::new();
    g.push_str("0123456789*#ABCD").unwrap();
    assert!(g.push('x').is_err());
    let mut audio = vec![0i16; 16 * 1600 + 800];
    let n = g.fill(&mut audio);
    assert_eq!(n, 16 * 1600);
    assert!(g.is_idle());
    assert_eq!(spandsp(&audio), DIGITS);
    assert_eq!(ours(&audio).0, DIGITS);
}

#[test]
fn gwcodec_dtmf_detect_prints_digits_with_times() {
    let exe = env!("CARGO_BIN_EXE_gwcodec");
    let dir = std::env::temp_dir().join(format!("codecs-dtmf-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = DtmfGenerator::new();
    g.push_str("159#").unwrap();
    let mut audio = vec![0i16; 400 + 4 * 1600];
    g.fill(&mut audio[400..]);
    let wav = dir.join("digits.wav");
    codecs::wav::write_audio(&wav, &audio).unwrap();
    let out = std::process::Command::new(exe)
        .arg("dtmf-detect")
        .arg(&wav)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for (line, (d, start)) in lines
        .iter()
        .zip([('1', 0.05), ('5', 0.25), ('9', 0.45), ('#', 0.65)])
    {
        // "D start=S.SSSs duration=NNms"
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some(d.to_string().as_str()), "{line}");
        let s: f64 = parts
            .next()
            .unwrap()
            .trim_start_matches("start=")
            .trim_end_matches('s')
            .parse()
            .unwrap();
        let dur: u32 = parts
            .next()
            .unwrap()
            .trim_start_matches("duration=")
            .trim_end_matches("ms")
            .parse()
            .unwrap();
        assert!((s - start).abs() <= 0.01, "{line}");
        assert!(dur.abs_diff(100) <= 10, "{line}");
    }
    std::fs::write(dir.join("odd.raw"), [1u8, 2, 3]).unwrap();
    let bad = std::process::Command::new(exe)
        .arg("dtmf-detect")
        .arg(dir.join("odd.raw"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("odd.raw"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Acceptance of a tone of `ms` over all alignments to the receiver's 51-sample hop.
fn accepted_alignments(ms: u32) -> usize {
    (0..51)
        .filter(|&off| {
            let mut a = vec![0i16; 400 + off];
            let (fl, fh) = digit_freqs('5').unwrap();
            for n in 0..ms * 8 {
                let t = n as f64 / 8000.0;
                let tau = std::f64::consts::TAU;
                a.push((7000.0 * (tau * fl as f64 * t).sin() + 7000.0 * (tau * fh as f64 * t).sin()) as i16);
            }
            a.extend(std::iter::repeat_n(0, 800));
            ours(&a).0 == "5"
        })
        .count()
}

#[test]
fn minimum_duration_is_sharp() {
    assert_eq!(accepted_alignments(20), 0);
    assert_eq!(accepted_alignments(28), 0);
    assert_eq!(accepted_alignments(36), 51);
    assert_eq!(accepted_alignments(40), 51);
}

#[test]
fn no_digits_in_any_call_progress_tone() {
    use codecs::tones::{ToneGenerator, TonePlan};
    for plan in TonePlan::all() {
        // The UK howler is made of DTMF pairs (* and #) by design; a port playing it is
        // waiting for an on-hook and ignores digits.
        for spec in plan
            .tones
            .iter()
            .filter(|s| s.kind != codecs::tones::ToneKind::Howler)
        {
            let mut audio = vec![0i16; 8 * 4000];
            ToneGenerator::new(spec).fill(&mut audio);
            let (got, _) = ours(&audio);
            assert!(
                got.is_empty(),
                "{} {:?}: false digits {got:?}",
                plan.country,
                spec.kind
            );
        }
    }
}

#[test]
fn digits_over_dial_tone() {
    use codecs::tones::{ToneGenerator, ToneKind, TonePlan};
    // Dialling before the exchange removes dial tone: digits mixed with it at its own level.
    for cc in ["US", "DE", "GB"] {
        let mut audio = render(&case("x", 0.0, 0.0, true), 3);
        let mut dial = vec![0i16; audio.len()];
        ToneGenerator::new(TonePlan::for_country(cc).unwrap().tone(ToneKind::Dial).unwrap()).fill(&mut dial);
        for (a, d) in audio.iter_mut().zip(&dial) {
            *a = a.saturating_add(*d);
        }
        assert_eq!(ours(&audio).0, DIGITS, "{cc}");
    }
}

/// One digit as a dual tone of `ms`, at -10 dBm0 per tone.
fn tone_ms(d: char, ms: u32) -> Vec<i16> {
    let (fl, fh) = digit_freqs(d).unwrap();
    let a = PEAK_0DBM0 * 10f64.powf(-0.5);
    (0..ms * 8)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let tau = std::f64::consts::TAU;
            (a * (tau * fl as f64 * t).sin() + a * (tau * fh as f64 * t + 1.0).sin()) as i16
        })
        .collect()
}

#[test]
fn short_interruptions_are_bridged_and_40ms_pauses_separate() {
    // Q.24: a break of up to 10 ms inside a digit does not split it...
    let mut a = vec![0i16; 400];
    a.extend(tone_ms('7', 60));
    a.extend(std::iter::repeat_n(0, 80));
    a.extend(tone_ms('7', 60));
    a.extend(std::iter::repeat_n(0, 800));
    assert_eq!(ours(&a).0, "7");
    // ...and a pause of 40 ms between two equal digits separates them.
    let mut a = vec![0i16; 400];
    a.extend(tone_ms('7', 60));
    a.extend(std::iter::repeat_n(0, 320));
    a.extend(tone_ms('7', 60));
    a.extend(std::iter::repeat_n(0, 800));
    assert_eq!(ours(&a).0, "77");
}
