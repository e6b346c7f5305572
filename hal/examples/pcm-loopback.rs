//! Plays a distinct test tone on every channel of an ALSA playback device through the gateway's
//! PCM backend and checks each comes back on the capture device: the audio check for boards
//! and for the QEMU guest's snd-aloop card.
//!
//! ```text
//! pcm-loopback [--playback hw:Loopback,0,0] [--capture hw:Loopback,1,0] [--channels 2]
//!              [--seconds 2] [--rt PRIORITY] [--stall-ms MS]
//! ```
//! `--stall-ms` sleeps that long once, early in the run, to force an xrun and show the backend
//! recovers from it (the run then also fails if no xrun was seen).
//! Exit status 0 when every channel's tone arrives (purity above 0.9), 1 otherwise, 2 on
//! usage or device errors. Needs the `linux` feature:
//! `cargo build -p hal --features linux --example pcm-loopback`.

#[cfg(feature = "linux")]
fn main() {
    std::process::exit(run::main());
}

#[cfg(not(feature = "linux"))]
fn main() {
    eprintln!("pcm-loopback needs the `linux` feature");
    std::process::exit(2);
}

#[cfg(feature = "linux")]
mod run {
    use hal::linux::pcm::{AlsaPcm, AlsaPcmConfig, test_tone, test_tone_hz, tone_purity};
    use hal::pcm::{FRAME_SAMPLES, Frame, PcmBus};

    struct Args {
        playback: String,
        capture: String,
        channels: usize,
        seconds: u32,
        rt: Option<i32>,
        stall_ms: u64,
    }

    fn parse() -> Result<Args, String> {
        let mut a = Args {
            playback: "hw:Loopback,0,0".into(),
            capture: "hw:Loopback,1,0".into(),
            channels: 2,
            seconds: 2,
            rt: None,
            stall_ms: 0,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut val = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--playback" => a.playback = val()?,
                "--capture" => a.capture = val()?,
                "--channels" => a.channels = val()?.parse().map_err(|_| "bad --channels")?,
                "--seconds" => a.seconds = val()?.parse().map_err(|_| "bad --seconds")?,
                "--rt" => a.rt = Some(val()?.parse().map_err(|_| "bad --rt")?),
                "--stall-ms" => a.stall_ms = val()?.parse().map_err(|_| "bad --stall-ms")?,
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if a.channels == 0 || a.channels > 8 || a.seconds == 0 {
            return Err("channels must be 1..=8 and seconds at least 1".into());
        }
        Ok(a)
    }

    pub fn main() -> i32 {
        let a = match parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("pcm-loopback: {e}");
                return 2;
            }
        };
        if let Some(p) = a.rt
            && let Err(e) = hal::linux::rt::set_realtime(p)
        {
            eprintln!("pcm-loopback: SCHED_FIFO {p}: {e} (continuing)");
        }
        let cfg = AlsaPcmConfig::new(&a.playback, &a.capture, a.channels);
        let mut bus = match AlsaPcm::open(&cfg) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("pcm-loopback: {e}");
                return 2;
            }
        };
        let ticks = a.seconds as usize * 100;
        // The loopback delay is a few periods; judge only the second half of the run.
        let judge_from = ticks / 2;
        let mut tx: Vec<Frame> = vec![[0; FRAME_SAMPLES]; a.channels];
        let mut rx: Vec<Frame> = vec![[0; FRAME_SAMPLES]; a.channels];
        let mut got: Vec<Vec<i16>> = vec![Vec::new(); a.channels];
        let mut missed = 0u64;
        for t in 0..ticks {
            if a.stall_ms > 0 && t == judge_from / 2 {
                std::thread::sleep(std::time::Duration::from_millis(a.stall_ms));
            }
            for (ch, f) in tx.iter_mut().enumerate() {
                for (i, s) in f.iter_mut().enumerate() {
                    *s = test_tone(ch, (t * FRAME_SAMPLES + i) as u64, 8000.0);
                }
            }
            match bus.exchange(&tx, &mut rx) {
                Ok(rep) => missed += u64::from(rep.missed),
                Err(e) => {
                    eprintln!("pcm-loopback: exchange failed at tick {t}: {e}");
                    return 2;
                }
            }
            if t >= judge_from {
                for (ch, f) in rx.iter().enumerate() {
                    got[ch].extend_from_slice(f);
                }
            }
        }
        let mut ok = true;
        for (ch, samples) in got.iter().enumerate() {
            let purity = tone_purity(samples, test_tone_hz(ch));
            let pass = purity > 0.9;
            ok &= pass;
            println!(
                "channel {ch}: {:.0} Hz purity {purity:.3} {}",
                test_tone_hz(ch),
                if pass { "ok" } else { "FAIL" }
            );
        }
        println!("ticks {ticks}, missed periods {missed}, xruns {}", bus.xruns());
        if a.stall_ms > 0 && bus.xruns() == 0 {
            println!("stall of {} ms caused no xrun: FAIL", a.stall_ms);
            ok = false;
        }
        if ok { 0 } else { 1 }
    }
}
