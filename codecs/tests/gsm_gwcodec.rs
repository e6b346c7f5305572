//! `gwcodec encode|decode` end to end: GSM output byte-identical to libgsm's `toast`, G.711
//! identical to the library, and clear failures on bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

const SPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/audio/speech_8k.s16le.raw"
);

fn gwcodec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gwcodec"))
        .args(args)
        .output()
        .expect("run gwcodec")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("codecs-gwcodec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

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

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "gwcodec failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn gsm_round_trip_matches_toast() {
    if !have_tool("toast") {
        return;
    }
    let coded = scratch("speech.gsm");
    let decoded = scratch("speech.out.raw");
    ok(&gwcodec(&[
        "encode",
        "--codec",
        "gsm",
        SPEECH,
        coded.to_str().unwrap(),
    ]));
    let toast = Command::new("toast").args(["-l", "-c", SPEECH]).output().unwrap();
    assert!(toast.status.success());
    assert_eq!(
        std::fs::read(&coded).unwrap(),
        toast.stdout,
        "gwcodec encode differs from toast"
    );
    ok(&gwcodec(&[
        "decode",
        "--codec",
        "gsm",
        coded.to_str().unwrap(),
        decoded.to_str().unwrap(),
    ]));
    let untoast = Command::new("toast")
        .args(["-d", "-l", "-c"])
        .arg(&coded)
        .output()
        .unwrap();
    assert!(untoast.status.success());
    assert_eq!(
        std::fs::read(&decoded).unwrap(),
        untoast.stdout,
        "gwcodec decode differs from untoast"
    );
}

#[test]
fn g711_through_wav_input() {
    let pcm = codecs::wav::read_audio(std::path::Path::new(SPEECH)).unwrap();
    let wav = scratch("speech.wav");
    std::fs::write(&wav, codecs::wav::encode_wav(&pcm)).unwrap();
    for (codec, law) in [
        ("pcmu", codecs::g711::G711Law::Ulaw),
        ("pcma", codecs::g711::G711Law::Alaw),
    ] {
        let coded = scratch(&format!("speech.{codec}"));
        let back = scratch(&format!("speech.{codec}.wav"));
        ok(&gwcodec(&[
            "encode",
            "--codec",
            codec,
            wav.to_str().unwrap(),
            coded.to_str().unwrap(),
        ]));
        let bytes = std::fs::read(&coded).unwrap();
        let expected: Vec<u8> = pcm.iter().map(|&x| law.encode_sample(x)).collect();
        assert_eq!(bytes, expected);
        ok(&gwcodec(&[
            "decode",
            "--codec",
            codec,
            coded.to_str().unwrap(),
            back.to_str().unwrap(),
        ]));
        let decoded = codecs::wav::read_audio(&back).unwrap();
        let expected: Vec<i16> = bytes.iter().map(|&c| law.decode_sample(c)).collect();
        assert_eq!(decoded, expected);
    }
}

#[test]
fn bad_input_is_reported() {
    let out = scratch("out.raw");
    let out = out.to_str().unwrap();

    let o = gwcodec(&["encode", "--codec", "opus", SPEECH, out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown codec 'opus'"));

    let o = gwcodec(&["encode", "--codec", "pcmu", SPEECH]);
    assert_eq!(o.status.code(), Some(2));

    let o = gwcodec(&["encode", "--codec", "pcmu", "/nonexistent/in.raw", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/in.raw"));

    let odd = scratch("odd.raw");
    std::fs::write(&odd, [0u8; 3]).unwrap();
    let o = gwcodec(&["encode", "--codec", "gsm", odd.to_str().unwrap(), out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("s16le"));

    let short = scratch("short.gsm");
    std::fs::write(&short, [0xD0u8; 40]).unwrap();
    let o = gwcodec(&["decode", "--codec", "gsm", short.to_str().unwrap(), out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("33-byte frames"));

    let bad = scratch("bad.gsm");
    let mut frames = vec![0xD0u8; 66];
    frames[33] = 0x12;
    std::fs::write(&bad, frames).unwrap();
    let o = gwcodec(&["decode", "--codec", "gsm", bad.to_str().unwrap(), out]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("frame 1 (byte 33)") && err.contains("signature"),
        "{err}"
    );
}
