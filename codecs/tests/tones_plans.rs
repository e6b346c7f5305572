//! Tone plans: every generated tone of every plan is measured by an independent detector
//! (tests/tones_measure.py: numpy FFT peaks, least-squares levels, envelope cadence) and compared
//! with its specification; the call progress detector recognises every tone of its plan.

use std::path::PathBuf;
use std::process::Command;

use codecs::tones::{
    AM_DEPTH, CallProgressDetector, Heard, RingSequencer, Segment, Sound, ToneGenerator, ToneKind, TonePlan,
    ToneSpec,
};

const REQUIRED: [&str; 16] = [
    "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "IT", "ES", "NL", "BE", "AU", "NZ", "JP", "BR",
];

#[test]
fn required_countries_have_every_tone() {
    for cc in REQUIRED {
        let plan = TonePlan::for_country(cc).unwrap_or_else(|| panic!("no plan for {cc}"));
        assert_eq!(
            TonePlan::for_country(&cc.to_lowercase()).map(|p| p.country),
            Some(cc)
        );
        for kind in ToneKind::ALL {
            assert!(plan.tone(kind).is_some(), "{cc} lacks {kind:?}");
        }
        assert!(plan.ring.period_ms() > 0, "{cc} ring cadence");
    }
    assert_eq!(TonePlan::for_country("uk").map(|p| p.country), Some("GB"));
    assert!(TonePlan::for_country("XX").is_none());
    assert!(TonePlan::for_country("").is_none());
}

fn samples_for(spec: &ToneSpec) -> usize {
    let intro: u32 = spec.intro.iter().map(|s| s.ms as u32).sum::<u32>() * spec.intro_repeat as u32;
    let ms = if spec.is_steady() {
        intro + 1500
    } else {
        let first_on = spec
            .cycle
            .iter()
            .find(|s| !s.sound.is_silence())
            .map_or(0, |s| s.ms as u32);
        intro + spec.cycle_ms() + first_on.max(300) + 200
    };
    ms as usize * 8
}

fn render(spec: &ToneSpec, n: usize) -> Vec<i16> {
    let mut g = ToneGenerator::new(spec);
    let mut out = vec![0i16; n];
    // Odd chunk sizes: the generator must be continuous across calls.
    let mut pos = 0;
    let mut k = 0;
    while pos < n {
        let len = [37, 160, 1, 999, 80][k % 5].min(n - pos);
        g.fill(&mut out[pos..pos + len]);
        pos += len;
        k += 1;
    }
    out
}

/// The closest two frequencies of a sound, Hz (what sets its beat and its resolution).
fn spacing(sound: Sound) -> u32 {
    let (f, n) = sound.freqs();
    let mut d = u32::MAX;
    for i in 0..n {
        for j in i + 1..n {
            d = d.min(f[i].abs_diff(f[j]) as u32);
        }
    }
    d.max(1)
}

/// Envelope window for the measurement: long enough to average the beat of two close tones or
/// one period of the modulation.
fn window_ms(spec: &ToneSpec) -> u32 {
    let mut w = 10u32;
    for s in spec.intro.iter().chain(spec.cycle) {
        match s.sound {
            Sound::Dual(..) | Sound::Quad(..) => w = w.max(1000u32.div_ceil(spacing(s.sound)) + 1),
            Sound::Modulated { modulator, .. } => w = w.max(1000 / modulator as u32 + 1),
            _ => {}
        }
    }
    w
}

#[derive(Debug)]
struct Expected {
    start_ms: f64,
    dur_ms: f64,
    sound: Sound,
    /// Extra timing tolerance from gaps too short to be seen by the envelope.
    slack_ms: f64,
}

/// The sounding segments a measurement of `n` samples should find.
fn expected(spec: &ToneSpec, n: usize) -> Vec<Expected> {
    let end_ms = n as f64 / 8.0;
    let mut segs: Vec<Segment> = Vec::new();
    for _ in 0..spec.intro_repeat {
        segs.extend_from_slice(spec.intro);
    }
    let mut t: f64 = segs.iter().map(|s| s.ms as f64).sum();
    while t < end_ms && !spec.cycle.is_empty() {
        for s in spec.cycle {
            segs.push(*s);
            t += if s.ms == 0 { end_ms } else { s.ms as f64 };
        }
    }
    let mut out: Vec<Expected> = Vec::new();
    let mut t = 0.0;
    let mut pending_gap = 0.0;
    for s in segs {
        let d = if s.ms == 0 { end_ms - t } else { s.ms as f64 };
        if s.sound.is_silence() {
            if d < 40.0 {
                pending_gap += d;
            }
        } else if let Some(last) = out
            .last_mut()
            .filter(|l| l.sound == s.sound && l.start_ms + l.dur_ms >= t - 0.1)
        {
            last.dur_ms += d;
        } else {
            if let Some(last) = out.last_mut() {
                last.slack_ms += pending_gap;
            }
            out.push(Expected {
                start_ms: t,
                dur_ms: d,
                sound: s.sound,
                slack_ms: pending_gap,
            });
            pending_gap = 0.0;
        }
        t += d;
        if t >= end_ms {
            break;
        }
    }
    // The recording ends inside the last step.
    out.retain(|e| e.start_ms < end_ms - 1.0);
    if let Some(last) = out.last_mut() {
        last.dur_ms = last.dur_ms.min(end_ms - last.start_ms);
    }
    out
}

fn expected_comps(sound: Sound, level: f64) -> Vec<(f64, f64)> {
    match sound {
        Sound::Silence => vec![],
        Sound::Single(f) => vec![(f as f64, level)],
        Sound::Dual(a, b) => vec![(a as f64, level), (b as f64, level)],
        Sound::Quad(a, b, c, d) => [a, b, c, d].iter().map(|&f| (f as f64, level)).collect(),
        Sound::Modulated { carrier, modulator } => {
            let side = level + 20.0 * (AM_DEPTH as f64 / 2.0).log10();
            vec![
                ((carrier - modulator) as f64, side),
                (carrier as f64, level),
                ((carrier + modulator) as f64, side),
            ]
        }
    }
}

fn python_with_numpy() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("python3");
    }
    if std::env::var_os("CI").is_some() {
        panic!("python3 with numpy is required (scripts/deps.sh test installs it)");
    }
    eprintln!("SKIPPED: python3 with numpy not found (run scripts/deps.sh test)");
    None
}

#[test]
fn every_generated_tone_measures_as_specified() {
    let Some(py) = python_with_numpy() else { return };
    let dir = std::env::temp_dir().join(format!("codecs-tones-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut jobs: Vec<(String, &'static ToneSpec, usize, PathBuf)> = Vec::new();
    for plan in TonePlan::all() {
        for spec in plan.tones {
            let n = samples_for(spec);
            let path = dir.join(format!("{}-{}.raw", plan.country, spec.kind.name()));
            let mut audio = render(spec, n);
            audio.extend(std::iter::repeat_n(0, 2400));
            codecs::wav::write_audio(&path, &audio).unwrap();
            jobs.push((format!("{} {}", plan.country, spec.kind.name()), spec, n, path));
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tones_measure.py");
    let mut cmd = Command::new(py);
    cmd.arg(script);
    for (_, spec, _, path) in &jobs {
        cmd.arg(path).arg(window_ms(spec).to_string());
    }
    let out = cmd.output().expect("run tones_measure.py");
    assert!(
        out.status.success(),
        "tones_measure.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let report = parse_report(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(report.len(), jobs.len());
    let mut failures = Vec::new();
    let (mut worst_f, mut worst_l, mut worst_t) = (0f64, 0f64, 0f64);
    for ((name, spec, n, _), measured) in jobs.iter().zip(&report) {
        let exp = expected(spec, *n);
        let meas: Vec<&Measured> = measured.iter().collect();
        if meas.len() != exp.len() {
            failures.push(format!(
                "{name}: {} segments measured, {} expected: {meas:?} vs {exp:?}",
                meas.len(),
                exp.len()
            ));
            continue;
        }
        for (m, e) in meas.iter().zip(&exp) {
            // Two close tones beat: near a null of the beat the edge is ambiguous by a few ms.
            let beat = match e.sound {
                Sound::Dual(..) | Sound::Quad(..) => 250.0 / spacing(e.sound) as f64,
                Sound::Modulated { modulator, .. } => 250.0 / modulator as f64,
                _ => 0.0,
            };
            let tol_t = 4.0 + beat + e.slack_ms;
            let dt = (m.start_ms - e.start_ms).abs().max((m.dur_ms - e.dur_ms).abs());
            worst_t = worst_t.max(dt - e.slack_ms);
            if dt > tol_t {
                failures.push(format!(
                    "{name}: segment at {} ms lasts {} ms, expected {:?}",
                    m.start_ms, m.dur_ms, e
                ));
            }
            // Components closer than 2/T cannot be resolved in a segment of length T.
            let resolvable = match e.sound {
                Sound::Dual(..) | Sound::Quad(..) => e.dur_ms - 10.0 >= 2000.0 / spacing(e.sound) as f64,
                Sound::Modulated { modulator, .. } => e.dur_ms - 10.0 >= 2000.0 / modulator as f64,
                _ => true,
            };
            if !resolvable {
                continue;
            }
            let want = expected_comps(e.sound, spec.level_dbm0 as f64);
            if m.comps.len() != want.len() {
                failures.push(format!("{name}: components {:?}, expected {want:?}", m.comps));
                continue;
            }
            for (&(f, l), &(wf, wl)) in m.comps.iter().zip(&want) {
                let tol_f = if e.dur_ms >= 100.0 { 1.0 } else { 3.0 };
                worst_f = worst_f.max((f - wf).abs());
                worst_l = worst_l.max((l - wl).abs());
                if (f - wf).abs() > tol_f || (l - wl).abs() > 0.5 {
                    failures.push(format!(
                        "{name}: measured {f:.2} Hz {l:.2} dBm0, expected {wf} Hz {wl:.2} dBm0"
                    ));
                }
            }
        }
    }
    println!(
        "{} tones of {} plans: worst frequency error {worst_f:.2} Hz, level error {worst_l:.2} dB, timing error {worst_t:.1} ms",
        jobs.len(),
        TonePlan::all().len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[derive(Debug)]
struct Measured {
    start_ms: f64,
    dur_ms: f64,
    comps: Vec<(f64, f64)>,
}

/// Reads the script's JSON (a fixed shape: numbers and lists) without a JSON dependency.
fn parse_report(s: &str) -> Vec<Vec<Measured>> {
    let mut files = Vec::new();
    for file in s.split("\"segments\":").skip(1) {
        let mut segs = Vec::new();
        for seg in file.split("{\"start_ms\":").skip(1) {
            let num = |key: &str| -> f64 {
                let i = seg.find(key).map_or(0, |i| i + key.len());
                let rest = &seg[i..];
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                rest[..end].trim().parse().unwrap()
            };
            let start_end = seg.find(',').unwrap();
            let start_ms: f64 = seg[..start_end].trim().parse().unwrap();
            let dur_ms = num("\"dur_ms\":");
            let comps_s = &seg[seg.find("\"comps\":").unwrap() + 8..];
            let comps_s = &comps_s[..comps_s
                .find("]]")
                .map_or(comps_s.find(']').unwrap() + 1, |i| i + 2)];
            let nums: Vec<f64> = comps_s
                .split(['[', ']', ','])
                .filter_map(|t| t.trim().parse().ok())
                .collect();
            let comps = nums.chunks(2).map(|c| (c[0], c[1])).collect();
            segs.push(Measured {
                start_ms,
                dur_ms,
                comps,
            });
        }
        files.push(segs);
    }
    files
}

/// A cadence as a listener hears it: frequencies within 10 Hz are the same sound, and
/// repeated halves of a cycle are one cycle.
fn heard_as(segs: &[Segment]) -> Vec<(Vec<u16>, u16)> {
    let mut v: Vec<(Vec<u16>, u16)> = segs
        .iter()
        .map(|s| {
            let (f, n) = s.sound.freqs();
            (f[..n].iter().map(|x| x / 10).collect(), s.ms)
        })
        .collect();
    let h = v.len() / 2;
    if v.len().is_multiple_of(2) && h > 0 && v[..h] == v[h..] {
        v.truncate(h);
    }
    v
}

/// Tones that a listener cannot tell apart (same sounds and cadence) in a plan.
fn same_tone(plan: &TonePlan, a: ToneKind, b: ToneKind) -> bool {
    let (x, y) = (plan.tone(a).unwrap(), plan.tone(b).unwrap());
    heard_as(x.cycle) == heard_as(y.cycle) && x.intro == y.intro && x.intro_repeat == y.intro_repeat
}

#[test]
fn call_progress_detector_recognises_every_tone_of_its_plan() {
    let mut failures = Vec::new();
    for plan in TonePlan::all() {
        for spec in plan.tones {
            let intro: u32 = spec.intro.iter().map(|s| s.ms as u32).sum::<u32>() * spec.intro_repeat as u32;
            let ms = if spec.is_steady() {
                intro + 3000
            } else {
                intro + (3 * spec.cycle_ms()).max(4000)
            };
            let mut audio = render(spec, ms as usize * 8);
            // Long enough a silence for the longest pause of the cadence to be over.
            let longest = spec.cycle.iter().map(|s| s.ms as usize).max().unwrap_or(0);
            audio.extend(std::iter::repeat_n(0, (longest * 12 / 10 + 1500) * 8));
            let mut det = CallProgressDetector::new(plan);
            let mut heard = Vec::new();
            for frame in audio.chunks(80) {
                det.process(frame);
                while let Some(e) = det.poll() {
                    heard.push(e);
                }
            }
            let tones: Vec<ToneKind> = heard
                .iter()
                .filter_map(|e| {
                    if let Heard::Tone(k) = e.heard {
                        Some(k)
                    } else {
                        None
                    }
                })
                .collect();
            let ok = !tones.is_empty()
                && tones
                    .iter()
                    .all(|&k| k == spec.kind || same_tone(plan, k, spec.kind))
                && heard.last().map(|e| e.heard) == Some(Heard::Silence);
            if !ok {
                failures.push(format!("{} {:?}: heard {:?}", plan.country, spec.kind, heard));
                continue;
            }
            // Reported once confirmed: a steady tone within 2 s (1 s, or longer than the
            // plan's longest burst of the same sound), cadences within 3 cycles or 4 s.
            let first = heard.iter().find(|e| matches!(e.heard, Heard::Tone(_))).unwrap();
            let limit_ms = if spec.is_steady() {
                intro + 2000
            } else {
                intro + (3 * spec.cycle_ms()).max(4000)
            };
            if first.at_sample > limit_ms as u64 * 8 {
                failures.push(format!(
                    "{} {:?}: confirmed only at {} ms",
                    plan.country,
                    spec.kind,
                    first.at_sample / 8
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn call_progress_detector_hears_no_tone_in_speech_or_foreign_tones() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/audio/speech_8k.s16le.raw"
    );
    let speech =
        codecs::wav::read_audio(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let us_dial = render(
        TonePlan::for_country("US").unwrap().tone(ToneKind::Dial).unwrap(),
        32000,
    );
    for plan in TonePlan::all() {
        let mut det = CallProgressDetector::new(plan);
        det.process(&speech);
        while let Some(e) = det.poll() {
            assert!(
                !matches!(e.heard, Heard::Tone(_)),
                "{}: speech heard as {:?}",
                plan.country,
                e.heard
            );
        }
        if plan.tone(ToneKind::Dial).unwrap().cycle
            == TonePlan::for_country("US")
                .unwrap()
                .tone(ToneKind::Dial)
                .unwrap()
                .cycle
        {
            continue;
        }
        let mut det = CallProgressDetector::new(plan);
        det.process(&us_dial);
        while let Some(e) = det.poll() {
            assert!(
                !matches!(e.heard, Heard::Tone(ToneKind::Dial)),
                "{}: North American dial tone taken for the national one",
                plan.country
            );
        }
    }
}

#[test]
fn ring_cadences_play_their_pattern() {
    for plan in TonePlan::all() {
        for cad in std::iter::once(&plan.ring).chain(plan.distinctive_rings) {
            let mut seq = RingSequencer::new(*cad);
            // Sample every 10 ms over two periods and rebuild the on/off runs.
            let mut runs: Vec<(bool, u32)> = vec![(true, 0)];
            for _ in 0..cad.period_ms() * 2 / 10 {
                let on = seq.is_on();
                match runs.last_mut() {
                    Some((s, d)) if *s == on => *d += 10,
                    _ => runs.push((on, 10)),
                }
                seq.advance(10);
            }
            let want: Vec<(bool, u32)> = cad
                .pattern
                .iter()
                .flat_map(|&(a, b)| [(true, a as u32), (false, b as u32)])
                .collect();
            for (i, r) in runs.iter().take(want.len()).enumerate() {
                assert_eq!(*r, want[i], "{} {}", plan.country, cad.name);
            }
        }
    }
}

#[test]
fn gwcodec_tone_writes_the_plan_tone_and_rejects_bad_arguments() {
    let exe = env!("CARGO_BIN_EXE_gwcodec");
    let dir = std::env::temp_dir().join(format!("codecs-tone-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("busy.raw");
    let st = Command::new(exe)
        .args(["tone", "--plan", "de", "--tone", "busy", "--ms", "2000"])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    let got = codecs::wav::read_audio(&raw).unwrap();
    let want = render(
        TonePlan::for_country("DE").unwrap().tone(ToneKind::Busy).unwrap(),
        16000,
    );
    // Same tone; the last bit may differ with the chunking (oscillator renormalisation points).
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    assert!(worst <= 2, "gwcodec tone differs from the generator by {worst}");
    let wav = dir.join("dial.wav");
    let st = Command::new(exe)
        .args(["tone", "--plan", "US", "--tone", "dial", "--ms", "500"])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(codecs::wav::read_audio(&wav).unwrap().len(), 4000);
    for (args, msg) in [
        (
            vec!["--plan", "xx", "--tone", "dial", "--ms", "10"],
            "no tone plan for 'xx'",
        ),
        (
            vec!["--plan", "fr", "--tone", "hum", "--ms", "10"],
            "unknown tone 'hum'",
        ),
        (
            vec!["--plan", "fr", "--tone", "dial", "--ms", "ten"],
            "--ms must be",
        ),
        (vec!["--plan", "fr", "--tone", "dial"], "missing --ms"),
    ] {
        let out = Command::new(exe)
            .arg("tone")
            .args(&args)
            .arg(dir.join("x.raw"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(msg),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn call_progress_detector_works_on_weak_noisy_lines() {
    // Every tone 20 dB below its nominal level (down to -44 dBm0), white noise 15 dB below the
    // tone, and the nominal level with noise 10 dB below.
    let mut failures = Vec::new();
    for (atten, snr) in [(-20.0f32, 15.0f32), (0.0, 10.0)] {
        for plan in TonePlan::all() {
            for spec in plan.tones {
                let intro: u32 =
                    spec.intro.iter().map(|s| s.ms as u32).sum::<u32>() * spec.intro_repeat as u32;
                let ms = if spec.is_steady() {
                    intro + 3000
                } else {
                    intro + (3 * spec.cycle_ms()).max(4000)
                };
                let mut audio = vec![0i16; ms as usize * 8];
                ToneGenerator::with_level(spec, spec.level_dbm0 + atten).fill(&mut audio);
                // Uniform noise of amplitude a has power a^2 / 3.
                let amp = (3.0 * codecs::tones::dbm0_power(spec.level_dbm0 + atten) / 10f32.powf(snr / 10.0))
                    .sqrt();
                let mut seed = 0x1234_5678_9abc_def1u64;
                for x in audio.iter_mut() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let n = ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * amp;
                    *x = (*x as f32 + n).clamp(-32768.0, 32767.0) as i16;
                }
                let mut det = CallProgressDetector::new(plan);
                let mut tones = Vec::new();
                for frame in audio.chunks(80) {
                    det.process(frame);
                    while let Some(e) = det.poll() {
                        if let Heard::Tone(k) = e.heard {
                            tones.push(k);
                        }
                    }
                }
                let ok = !tones.is_empty()
                    && tones
                        .iter()
                        .all(|&k| k == spec.kind || same_tone(plan, k, spec.kind));
                if !ok {
                    failures.push(format!(
                        "{} {:?} at {atten} dB, SNR {snr} dB: heard {tones:?}",
                        plan.country, spec.kind
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
