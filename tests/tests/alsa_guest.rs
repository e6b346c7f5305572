//! hal's ALSA PCM backend on a real kernel sound driver: `board/image/alsa-guest.sh` boots an
//! aarch64 QEMU guest with the Debian arm64 kernel, loads its snd-aloop loopback card and runs
//! hal's `pcm-loopback` example there (cross-compiled, linked against the arm64 libasound2):
//! a distinct tone per channel is played into one side of the card through the backend's
//! `PcmBus` and recorded from the other. Each tone must come back at its frequency (within
//! 1 Hz) and level (within 1 dB), nearly pure; a second run stalls the loop once for longer than the ALSA buffer
//! and must recover from the xrun.
//!
//! The script installs what it lacks (cross toolchain, QEMU, kernel, busybox, libasound2 for
//! arm64). When that fails, the test fails with the reason if `CI` is set; otherwise (a
//! developer machine without root or network) it says why it stopped.

use std::process::{Command, Stdio};
use std::time::Instant;

use e2e::workspace_root;

const CHANNELS: usize = 2;

/// One `channel N: sent F Hz L dBFS, received F Hz L dBFS, purity P ok` line.
#[derive(Debug)]
struct Measured {
    sent_hz: f64,
    sent_db: f64,
    got_hz: f64,
    got_db: f64,
    purity: f64,
    ok: bool,
}

fn parse(line: &str) -> Option<Measured> {
    let rest = line.strip_prefix("channel ")?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    // 0:"N:" 1:sent 2:F 3:Hz 4:L 5:"dBFS," 6:received 7:F 8:Hz 9:L 10:"dBFS," 11:purity 12:P 13:ok
    if words.len() < 14 || words[1] != "sent" || words[6] != "received" {
        return None;
    }
    Some(Measured {
        sent_hz: words[2].parse().ok()?,
        sent_db: words[4].parse().ok()?,
        got_hz: words[7].parse().ok()?,
        got_db: words[9].parse().ok()?,
        purity: words[12].parse().ok()?,
        ok: words[13] == "ok",
    })
}

#[test]
fn tones_cross_the_snd_aloop_card_through_the_alsa_backend_in_the_guest() {
    let t0 = Instant::now();
    let out = Command::new(workspace_root().join("board/image/alsa-guest.sh"))
        .env("CHANNELS", CHANNELS.to_string())
        .env("RUN_SECONDS", "3")
        .env("PERIODS", "16")
        .env("STALL_MS", "400")
        .env("GUEST_TIMEOUT", "150")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run board/image/alsa-guest.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    eprintln!("{stdout}");
    let verdict = stdout
        .lines()
        .rfind(|l| l.starts_with("alsa-guest: "))
        .unwrap_or("alsa-guest: no verdict")
        .to_string();
    if out.status.code() == Some(2) && std::env::var_os("CI").is_none() {
        eprintln!("alsa_guest: not run: {verdict}\n{}", tail(&stderr));
        return;
    }
    assert!(
        out.status.success(),
        "{verdict}\n--- guest output ---\n{stdout}\n--- last script output ---\n{}",
        tail(&stderr)
    );
    assert_eq!(verdict, "alsa-guest: PASS");
    let runs: Vec<Measured> = stdout.lines().filter_map(parse).collect();
    // The plain run and the run with a stall each report every channel.
    assert_eq!(runs.len(), 2 * CHANNELS, "measurement lines missing:\n{stdout}");
    for (i, m) in runs.iter().enumerate() {
        let ch = i % CHANNELS;
        assert!(m.ok, "channel {ch}: {m:?}");
        assert!((m.got_hz - m.sent_hz).abs() < 1.0, "channel {ch}: {m:?}");
        assert!((m.got_db - m.sent_db).abs() < 1.0, "channel {ch}: {m:?}");
        assert!(m.purity > 0.9, "channel {ch}: {m:?}");
        eprintln!(
            "MEASURE snd-aloop in the aarch64 guest, channel {ch}{}: sent {:.1} Hz {:.2} dBFS, received {:.1} Hz {:.2} dBFS, purity {:.4}",
            if i >= CHANNELS { " (run with a stall)" } else { "" },
            m.sent_hz,
            m.sent_db,
            m.got_hz,
            m.got_db,
            m.purity
        );
    }
    let xruns: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ticks ")).collect();
    eprintln!("MEASURE {}", xruns.join("; "));
    eprintln!("alsa_guest: {:.0} s in all", t0.elapsed().as_secs_f64());
}

#[test]
fn measurement_lines_parse() {
    let m = parse("channel 1: sent 800.0 Hz -15.26 dBFS, received 800.0 Hz -15.27 dBFS, purity 0.9991 ok")
        .unwrap();
    assert!(m.ok && m.sent_hz == 800.0 && m.got_db == -15.27 && m.purity == 0.9991);
    assert!(parse("channel 0: 400 Hz purity 0.99 ok").is_none());
}
