//! Caller ID against spandsp's ADSI transmitter and receiver: our encoder's output is decoded by
//! spandsp's `adsi_rx` (fields read back with spandsp's own `adsi_next_field`), and spandsp's
//! `adsi_tx` output is decoded by our [`CidDecoder`].

use std::ffi::{c_int, c_void};
use std::process::Command;

use codecs::callerid::{
    Absence, CallerId, CidDecoder, CidEncoder, CidError, CidFormat, CidStandard, CidText, CidTime,
    DtmfClipStyle, MAX_FRAME,
};

const CLASS: c_int = 1;
const CLIP: c_int = 2;
const CLIP_DTMF: c_int = 5;

fn spandsp_std(s: CidStandard) -> c_int {
    match s {
        CidStandard::Bell202 => CLASS,
        CidStandard::V23 => CLIP,
        CidStandard::Dtmf => CLIP_DTMF,
    }
}

unsafe extern "C" fn put_msg(user: *mut c_void, msg: *const u8, len: c_int) {
    // SAFETY: `user` is the Vec passed to adsi_rx_init; spandsp hands `len` valid bytes.
    let out = unsafe { &mut *(user as *mut Vec<Vec<u8>>) };
    if len > 0 {
        out.push(unsafe { std::slice::from_raw_parts(msg, len as usize) }.to_vec());
    }
}

/// Messages spandsp's receiver finds in `audio`, each split into (field type, body) with
/// spandsp's own field parser; the first entry is the message type.
fn spandsp_rx(standard: c_int, audio: &[i16]) -> Vec<Vec<(u8, Vec<u8>)>> {
    let mut msgs: Box<Vec<Vec<u8>>> = Box::default();
    let mut out = Vec::new();
    // SAFETY: spandsp allocates its state; `msgs` outlives it (freed below before return).
    unsafe {
        let s = spandsp_sys::adsi_rx_init(
            std::ptr::null_mut(),
            standard,
            Some(put_msg),
            &mut *msgs as *mut _ as *mut c_void,
        );
        assert!(!s.is_null());
        for chunk in audio.chunks(160) {
            spandsp_sys::adsi_rx(s, chunk.as_ptr(), chunk.len() as c_int);
        }
        spandsp_sys::adsi_rx(s, [0i16; 1600].as_ptr(), 1600);
        for m in msgs.iter() {
            let mut fields = Vec::new();
            let mut pos = -1;
            loop {
                let (mut ty, mut body, mut len) = (0u8, std::ptr::null::<u8>(), 0 as c_int);
                pos = spandsp_sys::adsi_next_field(
                    s,
                    m.as_ptr(),
                    m.len() as c_int,
                    pos,
                    &mut ty,
                    &mut body,
                    &mut len,
                );
                if pos <= 0 {
                    break;
                }
                let b = if body.is_null() || len <= 0 {
                    vec![]
                } else {
                    std::slice::from_raw_parts(body, len as usize).to_vec()
                };
                fields.push((ty, b));
            }
            out.push(fields);
        }
        spandsp_sys::adsi_rx_free(s);
    }
    out
}

/// spandsp's transmitter output for a message built with spandsp's `adsi_add_field`.
fn spandsp_tx(standard: c_int, fields: &[(u8, &[u8])]) -> Vec<i16> {
    let mut audio = vec![0i16; 800];
    // SAFETY: spandsp allocates its state and reads `msg` for `len` bytes.
    unsafe {
        let s = spandsp_sys::adsi_tx_init(std::ptr::null_mut(), standard);
        assert!(!s.is_null());
        let mut msg = [0u8; 256];
        let mut len = 0;
        for &(ty, body) in fields {
            len =
                spandsp_sys::adsi_add_field(s, msg.as_mut_ptr(), len, ty, body.as_ptr(), body.len() as c_int);
        }
        assert!(spandsp_sys::adsi_tx_put_message(s, msg.as_ptr(), len) > 0);
        let mut buf = [0i16; 160];
        loop {
            let n = spandsp_sys::adsi_tx(s, buf.as_mut_ptr(), 160);
            if n <= 0 {
                break;
            }
            audio.extend_from_slice(&buf[..n as usize]);
        }
        spandsp_sys::adsi_tx_free(s);
    }
    audio.extend_from_slice(&[0; 800]);
    audio
}

fn encode(msg: &CallerId, std: CidStandard, fmt: CidFormat) -> Vec<i16> {
    let mut enc = CidEncoder::new(msg, std, fmt).unwrap();
    let mut audio = vec![0i16; 800];
    let mut buf = [0i16; 123];
    loop {
        let n = enc.fill(&mut buf);
        audio.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    audio.extend_from_slice(&[0; 800]);
    audio
}

fn decode(
    std: CidStandard,
    audio: &[i16],
    chunk: usize,
) -> Vec<Result<codecs::callerid::CidMessage, CidError>> {
    let mut dec = CidDecoder::new(std);
    let mut out = Vec::new();
    for c in audio.chunks(chunk) {
        dec.process(c);
        while let Some(m) = dec.poll() {
            out.push(m);
        }
    }
    dec.flush();
    while let Some(m) = dec.poll() {
        out.push(m);
    }
    out
}

fn sample_messages() -> Vec<CallerId> {
    let t = CidTime::parse("11211530").unwrap();
    let mut private = CallerId::default().with_time(t);
    private.number_absence = Some(Absence::Private);
    private.name_absence = Some(Absence::Private);
    let mut out_of_area = CallerId::new("", "")
        .unwrap()
        .with_time(CidTime::parse("01010001").unwrap());
    out_of_area.number_absence = Some(Absence::Unavailable);
    out_of_area.name_absence = Some(Absence::Unavailable);
    vec![
        CallerId::new("5551234567", "DOE JOHN").unwrap().with_time(t),
        CallerId::new("0123456789012345", "Jean-Pierre Lefevre & Co")
            .unwrap()
            .with_time(CidTime::parse("12312359").unwrap()),
        CallerId::new("112", "").unwrap(),
        private,
        out_of_area,
    ]
}

/// Our MDMF message as spandsp's field parser should see it.
fn mdmf_fields(m: &CallerId) -> Vec<(u8, Vec<u8>)> {
    let mut f = vec![(0x80u8, vec![])];
    if let Some(t) = m.time {
        f.push((0x01, t.to_string().into_bytes()));
    }
    match m.number_absence {
        Some(a) => f.push((0x04, vec![if a == Absence::Private { b'P' } else { b'O' }])),
        None if !m.number.is_empty() => f.push((0x02, m.number.as_bytes().to_vec())),
        None => {}
    }
    match m.name_absence {
        Some(a) => f.push((0x08, vec![if a == Absence::Private { b'P' } else { b'O' }])),
        None if !m.name.is_empty() => f.push((0x07, m.name.as_bytes().to_vec())),
        None => {}
    }
    f
}

#[test]
fn our_fsk_encoder_decodes_with_spandsp() {
    for std in [CidStandard::Bell202, CidStandard::V23] {
        for m in sample_messages() {
            let got = spandsp_rx(spandsp_std(std), &encode(&m, std, CidFormat::Mdmf));
            assert_eq!(got, vec![mdmf_fields(&m)], "{std:?} MDMF {m:?}");
            let got = spandsp_rx(spandsp_std(std), &encode(&m, std, CidFormat::Sdmf));
            let t = m.time.map_or("01010000".to_string(), |t| t.to_string());
            let num = match m.number_absence {
                Some(Absence::Private) => "P".to_string(),
                Some(Absence::Unavailable) => "O".to_string(),
                None => m.number.to_string(),
            };
            assert_eq!(
                got,
                vec![vec![(0x04, vec![]), (0, format!("{t}{num}").into_bytes())]],
                "{std:?} SDMF {m:?}"
            );
        }
    }
}

#[test]
fn our_dtmf_clip_decodes_with_spandsp() {
    for m in sample_messages() {
        let audio = encode(&m, CidStandard::Dtmf, CidFormat::Dtmf);
        let mut digits = [0u8; 40];
        let n = m.encode_dtmf(DtmfClipStyle::CTerminated, &mut digits).unwrap();
        let got = spandsp_rx(CLIP_DTMF, &audio);
        assert_eq!(got.len(), 1, "{m:?}: {got:?}");
        // spandsp splits the string into (type, digits) fields; rebuild the string.
        let mut s = Vec::new();
        for (ty, body) in &got[0][1..] {
            if *ty != 0 {
                s.push(*ty);
            }
            s.extend_from_slice(body);
        }
        s.push(got[0][0].0);
        assert_eq!(
            String::from_utf8_lossy(&s),
            String::from_utf8_lossy(&digits[..n]),
            "{m:?}"
        );
    }
}

fn fields_for_spandsp(m: &CallerId) -> Vec<(u8, Vec<u8>)> {
    mdmf_fields(m)
}

#[test]
fn spandsp_fsk_encoder_decodes_with_ours() {
    for (std, sp) in [(CidStandard::Bell202, CLASS), (CidStandard::V23, CLIP)] {
        for m in sample_messages() {
            // spandsp's adsi_add_field doubles a field length of 16 (DLE stuffing meant for
            // Japanese J-CLIP, applied to every standard): avoid that length when spandsp encodes.
            if mdmf_fields(&m).iter().any(|(_, b)| b.len() == 16) {
                continue;
            }
            let owned = fields_for_spandsp(&m);
            let fields: Vec<(u8, &[u8])> = owned.iter().map(|(t, b)| (*t, b.as_slice())).collect();
            let audio = spandsp_tx(sp, &fields);
            for chunk in [1usize, 80, 160, 4096] {
                let got = decode(std, &audio, chunk);
                assert_eq!(got.len(), 1, "{std:?} {m:?}: {got:?}");
                let msg = got[0].as_ref().unwrap();
                assert_eq!(msg.format, CidFormat::Mdmf);
                assert_eq!(msg.caller, m, "{std:?} chunk {chunk}");
            }
        }
        // SDMF from spandsp.
        let audio = spandsp_tx(sp, &[(0x04, &[]), (0, b"0302143055512345")]);
        let got = decode(std, &audio, 160);
        let msg = got[0].as_ref().unwrap();
        assert_eq!(msg.format, CidFormat::Sdmf);
        assert_eq!(msg.caller.time, Some(CidTime::parse("03021430").unwrap()));
        assert_eq!(msg.caller.number.as_str(), "55512345");
    }
}

#[test]
fn spandsp_dtmf_clip_decodes_with_ours() {
    for (fields, want_num, want_abs) in [
        (
            vec![(b'C', &b""[..]), (b'A', &b"0123456789"[..])],
            "0123456789",
            None,
        ),
        (
            vec![(b'C', &b""[..]), (b'B', &b"10"[..])],
            "",
            Some(Absence::Private),
        ),
        (vec![(b'#', &b""[..]), (b'A', &b"4681234"[..])], "4681234", None),
        (
            vec![(b'#', &b""[..]), (b'D', &b"3"[..])],
            "",
            Some(Absence::Unavailable),
        ),
    ] {
        let audio = spandsp_tx(CLIP_DTMF, &fields);
        let got = decode(CidStandard::Dtmf, &audio, 80);
        assert_eq!(got.len(), 1, "{fields:?}: {got:?}");
        let c = got[0].as_ref().unwrap().caller;
        assert_eq!(c.number.as_str(), want_num);
        assert_eq!(c.number_absence, want_abs);
    }
}

#[test]
fn decodes_weak_and_noisy_fsk_and_reports_checksum_errors() {
    let m = sample_messages()[0];
    for std in [CidStandard::Bell202, CidStandard::V23] {
        // 20 dB down (about -33.5 dBm0) with white noise about 17 dB below that.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let audio: Vec<i16> = encode(&m, std, CidFormat::Mdmf)
            .iter()
            .map(|&s| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let noise = ((seed >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 2.0 * 80.0;
                (s as f64 * 0.1 + noise) as i16
            })
            .collect();
        let got = decode(std, &audio, 80);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap().caller, m);
        // Flip one data bit in the middle of the message: the checksum catches it.
        let mut frame = [0u8; MAX_FRAME];
        let n = m.encode_frame(CidFormat::Mdmf, &mut frame).unwrap();
        frame[n / 2] ^= 0x10;
        assert_eq!(CallerId::parse_frame(&frame[..n]), Err(CidError::Checksum));
    }
}

fn add_noise(audio: &[i16], amp: f64, seed: u64) -> Vec<i16> {
    let mut seed = seed | 1;
    audio
        .iter()
        .map(|&s| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = ((seed >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 2.0 * amp;
            (s as f64 + noise).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Messages decoded out of 20 noisy transmissions, ours and spandsp's receivers on the same audio.
#[test]
fn fsk_receivers_in_noise_side_by_side() {
    let m = sample_messages()[0];
    println!("| standard | SNR | ours | spandsp adsi_rx |\n|---|---|---|---|");
    for std in [CidStandard::Bell202, CidStandard::V23] {
        let clean = encode(&m, std, CidFormat::Mdmf);
        // Signal power of the -13.5 dBm0 carrier.
        let p_sig = (22_786.0f64 * 10f64.powf(-13.5 / 20.0)).powi(2) / 2.0;
        for snr in [20.0, 14.0, 11.0, 8.0, 6.0] {
            // Uniform noise of amplitude a has power a^2 / 3.
            let amp = (3.0 * p_sig / 10f64.powf(snr / 10.0)).sqrt();
            let (mut ours, mut theirs) = (0, 0);
            for seed in 0..20u64 {
                let audio = add_noise(&clean, amp, 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(seed + 1));
                ours += decode(std, &audio, 160)
                    .iter()
                    .filter(|r| r.as_ref().is_ok_and(|x| x.caller == m))
                    .count();
                theirs += spandsp_rx(spandsp_std(std), &audio)
                    .iter()
                    .filter(|f| **f == mdmf_fields(&m))
                    .count();
            }
            println!("| {std:?} | {snr} dB | {ours}/20 | {theirs}/20 |");
            if snr >= 11.0 {
                assert_eq!(ours, 20, "{std:?} at {snr} dB");
            }
        }
    }
}

#[test]
fn frames_round_trip() {
    // Deterministic pseudo-random messages: parse(emit(x)) == x for MDMF.
    let mut seed = 1u64;
    let mut next = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    for _ in 0..2000 {
        let digits: String = (0..next(21)).map(|_| (b'0' + next(10) as u8) as char).collect();
        let name: String = (0..next(51)).map(|_| (b' ' + next(95) as u8) as char).collect();
        let mut m = CallerId {
            number: CidText::new(&digits).unwrap(),
            name: CidText::new(&name).unwrap(),
            ..CallerId::default()
        };
        if next(3) == 0 {
            m.time = Some(CidTime {
                month: 1 + next(12) as u8,
                day: 1 + next(31) as u8,
                hour: next(24) as u8,
                minute: next(60) as u8,
            });
        }
        if next(4) == 0 {
            m.number = CidText::EMPTY;
            m.number_absence = Some(if next(2) == 0 {
                Absence::Private
            } else {
                Absence::Unavailable
            });
        }
        if next(4) == 0 {
            m.name = CidText::EMPTY;
            m.name_absence = Some(if next(2) == 0 {
                Absence::Private
            } else {
                Absence::Unavailable
            });
        }
        let mut frame = [0u8; MAX_FRAME];
        let n = m.encode_frame(CidFormat::Mdmf, &mut frame).unwrap();
        assert_eq!(CallerId::parse_frame(&frame[..n]), Ok((m, CidFormat::Mdmf)));
        // Any truncation is an error, never a panic.
        for cut in 0..n {
            assert!(CallerId::parse_frame(&frame[..cut]).is_err());
        }
    }
    assert_eq!(CidTime::parse("13011200"), Err(CidError::BadTime));
    assert!(CidText::new(&"x".repeat(51)).is_err());
    assert!(CidText::new("tab\there").is_err());
}

#[test]
fn gwcodec_cid_encode_and_decode() {
    let exe = env!("CARGO_BIN_EXE_gwcodec");
    let dir = std::env::temp_dir().join(format!("codecs-cid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (std, mdmf, want_fmt) in [
        ("bell202", true, "mdmf"),
        ("bell202", false, "sdmf"),
        ("v23", true, "mdmf"),
        ("dtmf", false, "dtmf"),
    ] {
        let f = dir.join(format!("{std}-{mdmf}.wav"));
        let mut args = vec![
            "cid-encode",
            "--std",
            std,
            "--number",
            "0612345678",
            "--name",
            "ACME LTD",
            "--time",
            "07041200",
        ];
        if mdmf {
            args.push("--mdmf");
        }
        let st = Command::new(exe).args(&args).arg(&f).status().unwrap();
        assert!(st.success());
        let out = Command::new(exe).arg("cid-decode").arg(&f).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{std}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(&format!("standard: {std}")), "{text}");
        assert!(text.contains(&format!("format: {want_fmt}")), "{text}");
        assert!(text.contains("number: 0612345678"), "{text}");
        if mdmf {
            assert!(
                text.contains("name: ACME LTD") && text.contains("time: 07041200"),
                "{text}"
            );
        }
    }
    // Clear errors.
    let bad = Command::new(exe)
        .args(["cid-encode", "--std", "v99", "--number", "1"])
        .arg(dir.join("x.raw"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown --std 'v99'"));
    let bad = Command::new(exe)
        .args([
            "cid-encode",
            "--std",
            "bell202",
            "--number",
            "1",
            "--time",
            "99999999",
        ])
        .arg(dir.join("x.raw"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--time"));
    std::fs::write(dir.join("silence.raw"), vec![0u8; 16000]).unwrap();
    let none = Command::new(exe)
        .arg("cid-decode")
        .arg(dir.join("silence.raw"))
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no caller ID"));
    let missing = Command::new(exe)
        .arg("cid-decode")
        .arg(dir.join("missing.raw"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

fn render(mut enc: CidEncoder) -> Vec<i16> {
    let mut audio = vec![0i16; 800];
    let mut buf = [0i16; 100];
    loop {
        let n = enc.fill(&mut buf);
        audio.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    audio.extend_from_slice(&[0; 800]);
    audio
}

#[test]
fn alerting_signal_and_off_hook_framing() {
    let m = sample_messages()[0];
    for std in [CidStandard::Bell202, CidStandard::V23] {
        // On-hook with the dual-tone alerting signal first: 200 ms longer, still decodes.
        let plain = render(CidEncoder::new(&m, std, CidFormat::Mdmf).unwrap());
        let alerted = render(
            CidEncoder::new(&m, std, CidFormat::Mdmf)
                .unwrap()
                .with_alert_signal(),
        );
        assert_eq!(alerted.len(), plain.len() + 1600);
        // The alerting signal is 2130 + 2750 Hz: it carries (nearly) all the energy there.
        let goertzel = |x: &[i16], f: f64| {
            let c = 2.0 * (std::f64::consts::TAU * f / 8000.0).cos();
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for &v in x {
                let s = v as f64 + c * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            2.0 * (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
        };
        let burst = &alerted[800..1600];
        let total: f64 = burst.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / burst.len() as f64;
        assert!((goertzel(burst, 2130.0) + goertzel(burst, 2750.0)) / total > 0.95);
        let got = decode(std, &alerted, 160);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap().caller, m);
        assert_eq!(spandsp_rx(spandsp_std(std), &alerted), vec![mdmf_fields(&m)]);
        // Off-hook: no channel seizure, 80 mark bits instead of 300 + 180: 400 bits shorter.
        let off = render(CidEncoder::new(&m, std, CidFormat::Mdmf).unwrap().off_hook());
        let bits = (plain.len() - off.len()) as f64 * 1200.0 / 8000.0;
        assert!((bits - 400.0).abs() < 1.0, "{bits}");
        let got = decode(std, &off, 160);
        assert_eq!(got[0].as_ref().unwrap().caller, m);
        assert_eq!(spandsp_rx(spandsp_std(std), &off), vec![mdmf_fields(&m)]);
    }
}
