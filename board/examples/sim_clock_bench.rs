//! Clock accuracy of the simulated board with two virtual phones attached, against a naive
//! relative-sleep loop measured in the same run. Prints a markdown section.
//!
//! usage: sim_clock_bench [TICKS]

use std::time::{Duration, Instant};

use board::simphone::{PhoneConfig, SimPhone};
use hal::board::{PortId, PortKind};
use hal::pcm::{PcmBus, SILENCE};
use hal::sim::{SimBoard, SimBoardConfig, SimPortConfig};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let ticks: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let period = Duration::from_millis(10);

    let port = SimPortConfig {
        kind: PortKind::Fxs,
        tcp_port: 0,
    };
    let mut board = SimBoard::start(SimBoardConfig::new(vec![port, port])).expect("sim board");
    let phones: Vec<SimPhone> = (0..2)
        .map(|i| SimPhone::connect(board.local_addr(PortId(i)).unwrap(), PhoneConfig::default()).unwrap())
        .collect();
    for p in &phones {
        p.off_hook();
        p.play_tone(1004.0, Duration::from_secs(u64::from(ticks) / 100 + 2), 8000);
    }
    let mut pcm = board.take_pcm().unwrap();
    let tx = [[100i16; 80]; 2];
    let mut rx = [SILENCE; 2];
    // Let the phones attach and settle.
    for _ in 0..20 {
        pcm.exchange(&tx, &mut rx).unwrap();
    }
    let before = (board.stats(PortId(0)).unwrap(), board.stats(PortId(1)).unwrap());
    let first = pcm.exchange(&tx, &mut rx).unwrap().tick;
    let t0 = Instant::now();
    let mut late = Vec::with_capacity(ticks as usize);
    let mut missed = 0;
    for _ in 0..ticks {
        let r = pcm.exchange(&tx, &mut rx).unwrap();
        missed += r.missed;
        let ideal = (period * (r.tick - first) as u32).as_secs_f64();
        late.push((t0.elapsed().as_secs_f64() - ideal) * 1e3);
    }
    // Drift: how far the tick grid moved between the first and the last 50 ticks.
    let k = late.len().min(50);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sim_drift = mean(&late[late.len() - k..]) - mean(&late[..k]);
    // Lateness of each tick after its deadline, against the earliest wake-up seen.
    let base = late.iter().copied().fold(f64::INFINITY, f64::min);
    for v in late.iter_mut() {
        *v -= base;
    }
    let after = (board.stats(PortId(0)).unwrap(), board.stats(PortId(1)).unwrap());
    let underruns = (after.0.underruns - before.0.underruns) + (after.1.underruns - before.1.underruns);

    // Reference: sleep one period per tick, relative to the previous wake-up.
    let r0 = Instant::now();
    for _ in 0..ticks {
        std::thread::sleep(period);
    }
    let naive_drift = (r0.elapsed().as_secs_f64() - period.as_secs_f64() * f64::from(ticks)) * 1e3;

    let p50 = percentile(&mut late, 0.5);
    let p99 = percentile(&mut late, 0.99);
    let max = percentile(&mut late, 1.0);
    println!("## Simulated board clock (sim)");
    println!();
    println!(
        "{ticks} ticks of 10 ms with two virtual phones attached (each answering every frame and playing a tone)."
    );
    println!("Reference: a loop sleeping 10 ms per tick, measured in the same run.");
    println!();
    println!("| figure | sim board | reference | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| drift after {:.1} s | {sim_drift:.3} ms | {naive_drift:.3} ms | {:.0}x smaller |",
        f64::from(ticks) / 100.0,
        naive_drift / sim_drift.abs().max(0.01)
    );
    println!("| tick lateness p50 / p99 / max | {p50:.3} / {p99:.3} / {max:.3} ms | | |");
    println!(
        "| uplink underruns, missed ticks | {underruns} of {} frames, {missed} | | |",
        2 * ticks
    );
    println!();
}
