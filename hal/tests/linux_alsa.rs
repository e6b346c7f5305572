//! The ALSA PCM backend against alsa-lib's `null` and `file` plugins: no sound card needed.
//! A known tone played through the bus must land sample-exact in the file plugin's output,
//! and a file-backed capture must come out of the bus sample-exact on the mapped channels.
#![cfg(feature = "linux")]

use std::path::PathBuf;
use std::sync::OnceLock;

use hal::linux::pcm::{AlsaPcm, AlsaPcmConfig, OpenError, test_tone, test_tone_hz, tone_purity};
use hal::pcm::{FRAME_SAMPLES, Frame, PcmBus};

const TICKS: usize = 50;

/// A private alsa-lib configuration (ALSA_CONFIG_PATH) defining the test PCMs, written once
/// per test process before the first PCM is opened.
fn alsa_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hal-alsa-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Two-channel capture source: channel 0 at 400 Hz, channel 1 at 800 Hz.
        let mut src = Vec::new();
        for n in 0..(TICKS * FRAME_SAMPLES) as u64 {
            for ch in 0..2 {
                src.extend_from_slice(&test_tone(ch, n, 9000.0).to_ne_bytes());
            }
        }
        std::fs::write(dir.join("in.raw"), src).unwrap();
        let d = dir.display();
        let conf = format!(
            "pcm.gwnull {{ type null }}\n\
             pcm.gwplay {{ type file slave.pcm gwnull file \"{d}/out.raw\" format raw }}\n\
             pcm.gwrec {{ type file slave.pcm gwnull file \"/dev/null\" infile \"{d}/in.raw\" format raw }}\n"
        );
        std::fs::write(dir.join("asound.conf"), conf).unwrap();
        // SAFETY: set once, before any thread of this process opens an ALSA device.
        unsafe { std::env::set_var("ALSA_CONFIG_PATH", dir.join("asound.conf")) };
        dir
    })
}

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_ne_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn tone_played_through_the_bus_lands_in_the_file_plugin() {
    let dir = alsa_dir();
    let cfg = AlsaPcmConfig::new("gwplay", "gwnull", 2);
    let mut bus = AlsaPcm::open(&cfg).unwrap();
    assert_eq!(bus.channels(), 2);
    let mut rx = [[1i16; FRAME_SAMPLES]; 2];
    let mut sent = Vec::new();
    for t in 0..TICKS {
        let mut tx: [Frame; 2] = [[0; FRAME_SAMPLES]; 2];
        for (ch, f) in tx.iter_mut().enumerate() {
            for (i, s) in f.iter_mut().enumerate() {
                *s = test_tone(ch, (t * FRAME_SAMPLES + i) as u64, 9000.0);
            }
        }
        for (a, b) in tx[0].iter().zip(&tx[1]) {
            sent.extend([*a, *b]);
        }
        let rep = bus.exchange(&tx, &mut rx).unwrap();
        assert_eq!((rep.tick, rep.missed), (t as u64, 0));
        // The null plugin captures silence.
        assert!(rx.iter().all(|f| f.iter().all(|&s| s == 0)));
    }
    assert_eq!(bus.xruns(), 0);
    drop(bus);
    let out = samples(&std::fs::read(dir.join("out.raw")).unwrap());
    // The cushion of silent periods comes first, then exactly what was played.
    let cushion = cfg.prefill as usize * FRAME_SAMPLES * 2;
    assert!(
        out.len() >= cushion + sent.len() - 4 * FRAME_SAMPLES * 2,
        "only {} samples written",
        out.len()
    );
    assert!(out[..cushion].iter().all(|&s| s == 0));
    let played = &out[cushion..];
    assert_eq!(played, &sent[..played.len()]);
    for ch in 0..2 {
        let mono: Vec<i16> = played.iter().skip(ch).step_by(2).copied().collect();
        assert!(tone_purity(&mono, test_tone_hz(ch)) > 0.95);
    }
}

#[test]
fn file_backed_capture_arrives_on_the_mapped_channels() {
    alsa_dir();
    let mut cfg = AlsaPcmConfig::new("gwnull", "gwrec", 2);
    // Bus channel 0 is device channel 1 (800 Hz), bus channel 1 is device channel 0 (400 Hz).
    cfg.map = vec![1, 0];
    let mut bus = AlsaPcm::open(&cfg).unwrap();
    let tx = [[0i16; FRAME_SAMPLES]; 2];
    let mut rx = [[0i16; FRAME_SAMPLES]; 2];
    let mut got = [Vec::new(), Vec::new()];
    for t in 0..TICKS {
        bus.exchange(&tx, &mut rx).unwrap();
        for (i, (a, b)) in rx[0].iter().zip(&rx[1]).enumerate() {
            let n = (t * FRAME_SAMPLES + i) as u64;
            assert_eq!(*a, test_tone(1, n, 9000.0));
            assert_eq!(*b, test_tone(0, n, 9000.0));
        }
        got[0].extend_from_slice(&rx[0]);
        got[1].extend_from_slice(&rx[1]);
    }
    assert!(tone_purity(&got[0], test_tone_hz(1)) > 0.95);
    assert!(tone_purity(&got[1], test_tone_hz(0)) > 0.95);
}

#[test]
fn bad_devices_and_maps_are_refused_at_open() {
    alsa_dir();
    let Err(e) = AlsaPcm::open(&AlsaPcmConfig::new("gwmissing", "gwnull", 1)) else {
        panic!("opened a PCM that does not exist");
    };
    assert!(matches!(e, OpenError::Alsa { call: "open", .. }), "{e}");
    assert!(e.to_string().contains("gwmissing"));
    let mut cfg = AlsaPcmConfig::new("gwnull", "gwnull", 2);
    cfg.map = vec![0, 2];
    assert!(matches!(AlsaPcm::open(&cfg), Err(OpenError::ChannelMap)));
    cfg.map = vec![0, 1];
    cfg.prefill = cfg.periods;
    assert!(matches!(AlsaPcm::open(&cfg), Err(OpenError::Buffering)));
}
