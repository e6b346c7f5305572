//! Plays a distinct test tone on every channel of an ALSA playback device through the gateway's
//! PCM backend and checks each comes back on the capture device: the audio check for boards
//! and for the QEMU guest's snd-aloop card.
//!
//! ```text
//! pcm-loopback [--playback hw:Loopback,0,0] [--capture hw:Loopback,1,0] [--channels 2]
//!              [--seconds 2] [--periods 4] [--rt PRIORITY] [--stall-ms MS]
//! ```
//! `--periods` sets the ALSA buffer in 10 ms periods (half of them queued ahead on playback),
//! as a board file's `[pcm] periods` does.
//! `--stall-ms` sleeps that long once, early in the run, to force an xrun and show the backend
//! recovers from it (the run then also fails if no xrun was seen).
//! For every channel it prints the tone sent and the one received: frequency (from zero
//! crossings), level in dBFS and purity (share of the power at the sent frequency).
//! Exit status 0 when every channel's tone arrives (purity above 0.9, frequency within 1 Hz,
//! level within 1 dB of what was played), 1 otherwise, 2 on usage or device errors. Needs the `linux` feature:
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
    use hal::linux::pcm::{
        AlsaPcm, AlsaPcmConfig, level_dbfs, test_tone, test_tone_hz, tone_frequency, tone_purity,
    };
    use hal::pcm::{FRAME_SAMPLES, Frame, PcmBus};

    /// Tone amplitude: -15.3 dBFS, a typical speech level with room for gain.
    const AMPLITUDE: f64 = 8000.0;

    struct Args {
        playback: String,
        capture: String,
        channels: usize,
        seconds: u32,
        periods: u32,
        rt: Option<i32>,
        stall_ms: u64,
    }

    fn parse() -> Result<Args, String> {
        let mut a = Args {
            playback: "hw:Loopback,0,0".into(),
            capture: "hw:Loopback,1,0".into(),
            channels: 2,
            seconds: 2,
            periods: 4,
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
                "--periods" => a.periods = val()?.parse().map_err(|_| "bad --periods")?,
                "--rt" => a.rt = Some(val()?.parse().map_err(|_| "bad --rt")?),
                "--stall-ms" => a.stall_ms = val()?.parse().map_err(|_| "bad --stall-ms")?,
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if a.channels == 0 || a.channels > 8 || a.seconds == 0 || !(2..=32).contains(&a.periods) {
            return Err("channels must be 1..=8, seconds at least 1, periods 2..=32".into());
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
        let mut cfg = AlsaPcmConfig::new(&a.playback, &a.capture, a.channels);
        cfg.periods = a.periods;
        cfg.prefill = a.periods / 2;
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
                    *s = test_tone(ch, (t * FRAME_SAMPLES + i) as u64, AMPLITUDE);
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
            let sent: Vec<i16> = (0..samples.len() as u64)
                .map(|n| test_tone(ch, n, AMPLITUDE))
                .collect();
            let sent_db = level_dbfs(&sent);
            let purity = tone_purity(samples, test_tone_hz(ch));
            let freq = tone_frequency(samples);
            let db = level_dbfs(samples);
            let pass = purity > 0.9
                && freq.is_some_and(|f| (f - test_tone_hz(ch)).abs() < 1.0)
                && (db - sent_db).abs() < 1.0;
            ok &= pass;
            println!(
                "channel {ch}: sent {:.1} Hz {sent_db:.2} dBFS, received {} Hz {db:.2} dBFS, purity {purity:.4} {}",
                test_tone_hz(ch),
                freq.map_or("-".to_string(), |f| format!("{f:.1}")),
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
