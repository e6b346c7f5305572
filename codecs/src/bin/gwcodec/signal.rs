//! `tone`, `dtmf-detect`, `cid-encode` and `cid-decode`.

use std::path::Path;

use codecs::callerid::{Absence, CallerId, CidDecoder, CidEncoder, CidFormat, CidStandard, CidText, CidTime};
use codecs::dtmf::{DtmfDetector, DtmfEventKind};
use codecs::tones::{ToneGenerator, ToneKind, TonePlan};
use codecs::wav::{read_audio, write_audio};

use crate::args::{Args, CliError};

pub fn run(cmd: &str, argv: &[String]) -> Result<(), CliError> {
    match cmd {
        "tone" => tone(argv),
        "dtmf-detect" => dtmf_detect(argv),
        "cid-encode" => cid_encode(argv),
        "cid-decode" => cid_decode(argv),
        _ => Err(CliError::Usage(format!("unknown command '{cmd}'"))),
    }
}

fn read(path: &Path) -> Result<Vec<i16>, CliError> {
    read_audio(path).map_err(|err| CliError::Audio {
        path: path.to_path_buf(),
        err,
    })
}

fn write(path: &Path, samples: &[i16]) -> Result<(), CliError> {
    write_audio(path, samples).map_err(|err| CliError::Audio {
        path: path.to_path_buf(),
        err,
    })
}

fn tone(argv: &[String]) -> Result<(), CliError> {
    let a = Args::parse(argv, &[])?;
    a.only(&["plan", "tone", "ms"])?;
    let out = a.positionals(&["OUT"])?.remove(0);
    let cc = a.required("plan")?;
    let plan = TonePlan::for_country(cc).ok_or_else(|| {
        let known: Vec<&str> = TonePlan::all().iter().map(|p| p.country).collect();
        CliError::Usage(format!(
            "tone: no tone plan for '{cc}' (known: {})",
            known.join(" ")
        ))
    })?;
    let name = a.required("tone")?;
    let kind = ToneKind::from_name(name).ok_or_else(|| {
        CliError::Usage(format!(
            "tone: unknown tone '{name}' (dial|ringback|busy|congestion|callwaiting|stutter|sit)"
        ))
    })?;
    let ms_s = a.required("ms")?;
    let ms: u32 = ms_s
        .parse()
        .ok()
        .filter(|&m| m > 0 && m <= 3_600_000)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "tone: --ms must be a whole number of milliseconds 1..3600000, not '{ms_s}'"
            ))
        })?;
    let spec = plan
        .tone(kind)
        .ok_or_else(|| CliError::Usage(format!("tone: plan {} has no {} tone", plan.country, kind.name())))?;
    let mut samples = vec![0i16; ms as usize * 8];
    ToneGenerator::new(spec).fill(&mut samples);
    write(&out, &samples)
}

fn dtmf_detect(argv: &[String]) -> Result<(), CliError> {
    let a = Args::parse(argv, &[])?;
    a.only(&[])?;
    let inp = a.positionals(&["IN"])?.remove(0);
    let samples = read(&inp)?;
    let mut det = DtmfDetector::new();
    let mut found = 0;
    // 10 ms frames, as the media loop feeds it.
    for chunk in samples.chunks(80) {
        det.process(chunk);
        while let Some(e) = det.poll() {
            print_dtmf(e.kind, e.digit, e.at_sample, e.duration_samples, &mut found);
        }
    }
    det.flush();
    while let Some(e) = det.poll() {
        print_dtmf(e.kind, e.digit, e.at_sample, e.duration_samples, &mut found);
    }
    if found == 0 {
        eprintln!("gwcodec: no DTMF digits in {}", inp.display());
    }
    Ok(())
}

fn print_dtmf(kind: DtmfEventKind, digit: char, at: u64, dur: u32, found: &mut usize) {
    if kind == DtmfEventKind::End {
        *found += 1;
        println!("{digit} start={:.3}s duration={}ms", at as f64 / 8000.0, dur / 8);
    }
}

fn parse_std(s: &str) -> Result<CidStandard, CliError> {
    match s.to_ascii_lowercase().as_str() {
        "bell202" | "bell" | "fsk" => Ok(CidStandard::Bell202),
        "v23" | "etsi" => Ok(CidStandard::V23),
        "dtmf" => Ok(CidStandard::Dtmf),
        _ => Err(CliError::Usage(format!(
            "cid-encode: unknown --std '{s}' (bell202|v23|dtmf)"
        ))),
    }
}

fn cid_encode(argv: &[String]) -> Result<(), CliError> {
    let a = Args::parse(argv, &["mdmf", "alert", "offhook"])?;
    a.only(&["std", "mdmf", "number", "name", "time", "alert", "offhook"])?;
    let out = a.positionals(&["OUT"])?.remove(0);
    let std = parse_std(a.required("std")?)?;
    let bad = |what: &str, e: codecs::callerid::CidError| CliError::Usage(format!("cid-encode: {what}: {e}"));
    let mut msg = CallerId::default();
    let number = a.required("number")?;
    match number.to_ascii_lowercase().as_str() {
        "private" | "p" => msg.number_absence = Some(Absence::Private),
        "unavailable" | "o" => msg.number_absence = Some(Absence::Unavailable),
        _ => msg.number = CidText::new(number).map_err(|e| bad("--number", e))?,
    }
    if let Some(name) = a.opt("name") {
        match name.to_ascii_lowercase().as_str() {
            "private" | "p" => msg.name_absence = Some(Absence::Private),
            "unavailable" | "o" => msg.name_absence = Some(Absence::Unavailable),
            _ => msg.name = CidText::new(name).map_err(|e| bad("--name", e))?,
        }
    }
    if let Some(t) = a.opt("time") {
        msg.time = Some(CidTime::parse(t).map_err(|e| bad("--time", e))?);
    }
    let format = match std {
        CidStandard::Dtmf => CidFormat::Dtmf,
        _ if a.flag("mdmf") => CidFormat::Mdmf,
        _ => CidFormat::Sdmf,
    };
    let mut enc = CidEncoder::new(&msg, std, format).map_err(|e| bad("message", e))?;
    if a.flag("alert") {
        enc = enc.with_alert_signal();
    }
    if a.flag("offhook") {
        if std == CidStandard::Dtmf {
            return Err(CliError::Usage(
                "cid-encode: --offhook needs an FSK standard".into(),
            ));
        }
        enc = enc.off_hook();
    }
    // 100 ms of silence either side, as on a line between ring bursts.
    let mut samples = vec![0i16; 800];
    let mut buf = [0i16; 160];
    loop {
        let n = enc.fill(&mut buf);
        samples.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    samples.extend_from_slice(&[0; 800]);
    write(&out, &samples)
}

fn cid_decode(argv: &[String]) -> Result<(), CliError> {
    let a = Args::parse(argv, &[])?;
    a.only(&["std"])?;
    let inp = a.positionals(&["IN"])?.remove(0);
    let samples = read(&inp)?;
    let stds: Vec<CidStandard> = match a.opt("std") {
        Some(s) => vec![parse_std(s)?],
        // Bell 202 and V.23 receivers each read the other's signal: pick the FSK standard whose
        // tone pair carries more of the file's energy.
        None => vec![likely_fsk(&samples), CidStandard::Dtmf],
    };
    let mut decoded = 0;
    let mut errors = Vec::new();
    for std in stds {
        let mut dec = CidDecoder::new(std);
        for chunk in samples.chunks(80) {
            dec.process(chunk);
        }
        dec.process(&[0; 800]);
        dec.flush();
        while let Some(r) = dec.poll() {
            match r {
                Ok(m) => {
                    decoded += 1;
                    print_message(&m);
                }
                Err(e) => errors.push(format!("{std:?}: {e}")),
            }
        }
    }
    if decoded == 0 {
        let why = if errors.is_empty() {
            "no caller ID signal found".to_string()
        } else {
            errors.join("; ")
        };
        return Err(CliError::Input { path: inp, why });
    }
    Ok(())
}

fn likely_fsk(samples: &[i16]) -> CidStandard {
    let power = |f: f64| {
        let c = 2.0 * (2.0 * std::f64::consts::PI * f / 8000.0).cos();
        let (mut s1, mut s2, mut total) = (0.0f64, 0.0f64, 0.0f64);
        // Blocks of 40 ms: sum the block powers so phase drift does not matter.
        for (i, &x) in samples.iter().enumerate() {
            let s = x as f64 + c * s1 - s2;
            s2 = s1;
            s1 = s;
            if i % 320 == 319 {
                total += s1 * s1 + s2 * s2 - c * s1 * s2;
                s1 = 0.0;
                s2 = 0.0;
            }
        }
        total
    };
    if power(1200.0) + power(2200.0) >= power(1300.0) + power(2100.0) {
        CidStandard::Bell202
    } else {
        CidStandard::V23
    }
}

fn print_message(m: &codecs::callerid::CidMessage) {
    let std = match m.standard {
        CidStandard::Bell202 => "bell202",
        CidStandard::V23 => "v23",
        CidStandard::Dtmf => "dtmf",
    };
    let fmt = match m.format {
        CidFormat::Sdmf => "sdmf",
        CidFormat::Mdmf => "mdmf",
        CidFormat::Dtmf => "dtmf",
    };
    println!("standard: {std}");
    println!("format: {fmt}");
    let c = &m.caller;
    if let Some(t) = c.time {
        println!("time: {t}");
    }
    match c.number_absence {
        Some(Absence::Private) => println!("number: (private)"),
        Some(Absence::Unavailable) => println!("number: (unavailable)"),
        None if !c.number.is_empty() => println!("number: {}", c.number),
        None => {}
    }
    match c.name_absence {
        Some(Absence::Private) => println!("name: (private)"),
        Some(Absence::Unavailable) => println!("name: (unavailable)"),
        None if !c.name.is_empty() => println!("name: {}", c.name),
        None => {}
    }
}
