//! G.711 against independent implementations: spandsp (through spandsp-sys) must agree on every
//! input; sox must agree with the model of its behaviour documented in docs/codecs-g711-gsm.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use codecs::g711::{self, G711Law};

fn all_samples() -> Vec<i16> {
    (i16::MIN..=i16::MAX).collect()
}

struct Spandsp(*mut spandsp_sys::g711_state_t);

impl Spandsp {
    fn new(law: G711Law) -> Self {
        let mode = match law {
            G711Law::Ulaw => spandsp_sys::G711_ULAW,
            G711Law::Alaw => spandsp_sys::G711_ALAW,
        };
        // SAFETY: a null state asks spandsp to allocate one; it is freed in Drop.
        let s = unsafe { spandsp_sys::g711_init(std::ptr::null_mut(), mode as i32) };
        assert!(!s.is_null());
        Spandsp(s)
    }

    fn encode(&self, pcm: &[i16]) -> Vec<u8> {
        let mut out = vec![0u8; pcm.len()];
        // SAFETY: both buffers hold pcm.len() elements.
        let n = unsafe { spandsp_sys::g711_encode(self.0, out.as_mut_ptr(), pcm.as_ptr(), pcm.len() as i32) };
        assert_eq!(n as usize, pcm.len());
        out
    }

    fn decode(&self, codes: &[u8]) -> Vec<i16> {
        let mut out = vec![0i16; codes.len()];
        // SAFETY: both buffers hold codes.len() elements.
        let n =
            unsafe { spandsp_sys::g711_decode(self.0, out.as_mut_ptr(), codes.as_ptr(), codes.len() as i32) };
        assert_eq!(n as usize, codes.len());
        out
    }
}

impl Drop for Spandsp {
    fn drop(&mut self) {
        // SAFETY: allocated by g711_init in new().
        unsafe { spandsp_sys::g711_free(self.0) };
    }
}

#[test]
fn every_encode_and_decode_matches_spandsp() {
    let pcm = all_samples();
    let codes: Vec<u8> = (0..=255).collect();
    for law in [G711Law::Ulaw, G711Law::Alaw] {
        let sp = Spandsp::new(law);
        let theirs = sp.encode(&pcm);
        let mut ours = vec![0u8; pcm.len()];
        assert_eq!(law.encode(&pcm, &mut ours), pcm.len());
        for (i, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a, b, "{law:?} encode of {} differs", pcm[i]);
            assert_eq!(law.encode_sample(pcm[i]), b);
        }
        let theirs = sp.decode(&codes);
        let mut ours = vec![0i16; 256];
        assert_eq!(law.decode(&codes, &mut ours), 256);
        assert_eq!(ours, theirs, "{law:?} decode differs");
        for c in 0..=255u8 {
            assert_eq!(law.decode_sample(c), theirs[c as usize]);
        }
    }
}

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
    let dir = std::env::temp_dir().join(format!("codecs-g711-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs sox on raw 8 kHz mono files; `-D` because sox otherwise adds randomly seeded dither
/// whenever it lowers the precision (16-bit to G.711), which makes its output irreproducible.
fn sox(input: &Path, in_enc: &[&str], output: &Path, out_enc: &[&str]) {
    let st = Command::new("sox")
        .args(["-D", "-t", "raw", "-r", "8000", "-c", "1"])
        .args(in_enc)
        .arg(input)
        .args(["-t", "raw"])
        .args(out_enc)
        .arg(output)
        .output()
        .expect("run sox");
    assert!(
        st.status.success(),
        "sox failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// sox's model: round the 16-bit sample to the law's native width (14 bits for µ-law, 13 for
/// A-law; round half up, saturating), then apply G.711 to the rounded value.
fn sox_model(law: G711Law, x: i16) -> u8 {
    let step: i32 = match law {
        G711Law::Ulaw => 4,
        G711Law::Alaw => 8,
    };
    let rounded = (((x as i32 + step / 2).div_euclid(step)) * step).clamp(-32768, 32767);
    law.encode_sample(rounded as i16)
}

#[test]
fn sox_differs_only_by_its_rounding_to_native_width() {
    if !have_tool("sox") {
        return;
    }
    let pcm = all_samples();
    let raw = scratch("all.raw");
    std::fs::write(&raw, codecs::wav::encode_raw(&pcm)).unwrap();
    for (law, enc, expected_diffs) in [(G711Law::Ulaw, "u-law", 383usize), (G711Law::Alaw, "a-law", 1020)] {
        let coded = scratch(&format!("all.{enc}"));
        sox(&raw, &["-e", "signed", "-b", "16"], &coded, &["-e", enc]);
        let theirs = std::fs::read(&coded).unwrap();
        assert_eq!(theirs.len(), pcm.len());
        let mut diffs = 0;
        for (&x, &s) in pcm.iter().zip(&theirs) {
            assert_eq!(
                s,
                sox_model(law, x),
                "{law:?}: sox's code for {x} departs from the documented model"
            );
            let ours = law.encode_sample(x);
            if ours != s {
                diffs += 1;
                // Rounding moves a sample at most into the neighbouring quantisation interval.
                let (a, b) = (law.decode_sample(ours) as i32, law.decode_sample(s) as i32);
                let between = (0..=255u8)
                    .map(|c| law.decode_sample(c) as i32)
                    .filter(|&v| v > a.min(b) && v < a.max(b));
                assert_eq!(
                    between.count(),
                    0,
                    "{law:?} {x}: codes {ours:#x} and {s:#x} are not adjacent"
                );
            }
        }
        assert_eq!(
            diffs, expected_diffs,
            "{law:?}: number of inputs where sox differs"
        );

        // Decoding: sox expands to the same interval centres.
        let codes: Vec<u8> = (0..=255).collect();
        let cin = scratch(&format!("codes.{enc}"));
        let lin = scratch(&format!("codes.{enc}.raw"));
        std::fs::write(&cin, &codes).unwrap();
        sox(&cin, &["-e", enc], &lin, &["-e", "signed", "-b", "16"]);
        let theirs = codecs::wav::read_audio(&lin).unwrap();
        let ours: Vec<i16> = codes.iter().map(|&c| law.decode_sample(c)).collect();
        assert_eq!(ours, theirs, "{law:?} decode differs from sox");
    }
    let _ = std::fs::remove_dir_all(raw.parent().unwrap());
}

#[test]
fn silence_codes() {
    assert_eq!(g711::linear_to_ulaw(0), spandsp_sys::G711_ULAW_IDLE_OCTET as u8);
    assert_eq!(g711::linear_to_alaw(0), spandsp_sys::G711_ALAW_IDLE_OCTET as u8);
}
