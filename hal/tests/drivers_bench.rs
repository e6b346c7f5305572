//! Benchmark harness (run by scripts/bench.d/drivers.sh, ignored in normal test runs): the
//! per-tick cost of the ALSA PCM bus against bare alsa-lib transfers of the same period, and
//! the SPI traffic each line driver adds to a tick.
#![cfg(feature = "linux")]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant as Wall;

use embedded_hal::spi::{ErrorType, Operation, SpiDevice};
use hal::drivers::si321x::{Si321x, Si321xConfig};
use hal::drivers::si3050::{Si3050, Si3050Config};
use hal::fxo::FxoLine;
use hal::fxs::FxsLine;
use hal::linux::pcm::{AlsaPcm, AlsaPcmConfig};
use hal::pcm::{FRAME_SAMPLES, PcmBus};
use hal::time::Instant;

const TICKS: usize = 20_000;

/// An SPI device answering like a healthy, idle chip, counting frames and bytes.
struct CountingSpi {
    /// (frames, bytes) so far.
    counters: Rc<Cell<(u64, u64)>>,
    answers: fn(u8) -> u8,
    last_addr: u8,
}

impl ErrorType for CountingSpi {
    type Error = core::convert::Infallible;
}

impl SpiDevice for CountingSpi {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        let (mut frames, mut bytes) = self.counters.get();
        frames += 1;
        for op in ops.iter_mut() {
            match op {
                Operation::Write(b) => {
                    bytes += b.len() as u64;
                    self.last_addr = *b.last().unwrap_or(&0);
                }
                Operation::Read(b) => {
                    bytes += b.len() as u64;
                    for x in b.iter_mut() {
                        *x = (self.answers)(self.last_addr);
                    }
                }
                Operation::Transfer(r, w) => bytes += r.len().max(w.len()) as u64,
                Operation::TransferInPlace(b) => bytes += b.len() as u64,
                Operation::DelayNs(_) => {}
            }
        }
        self.counters.set((frames, bytes));
        Ok(())
    }
}

struct NoDelay;
impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _: u32) {}
}

fn proslic_answers(addr: u8) -> u8 {
    match addr & 0x7F {
        8 => 0x02,
        11 => 0x33,
        82 => 0xFF,
        _ => 0,
    }
}

fn daa_answers(addr: u8) -> u8 {
    match addr {
        2 => 0x03,
        11 => 0x35,
        29 => 48,
        _ => 0,
    }
}

#[test]
#[ignore = "benchmark: run by scripts/bench.d/drivers.sh"]
fn drivers_bench() {
    let mut out = String::new();
    out.push_str("## drivers: PCM bus and line driver cost per 10 ms tick\n\n");

    // ALSA: our bus against bare writei + readi of the same interleaved period; three
    // interleaved rounds each, best of three, so neither side pays for first use.
    let channels = 2;
    let mut bus = AlsaPcm::open(&AlsaPcmConfig::new("null", "null", channels)).unwrap();
    let tx = vec![[1i16; FRAME_SAMPLES]; channels];
    let mut rx = vec![[0i16; FRAME_SAMPLES]; channels];
    let play = alsa::pcm::PCM::new("null", alsa::Direction::Playback, false).unwrap();
    let cap = alsa::pcm::PCM::new("null", alsa::Direction::Capture, false).unwrap();
    for p in [&play, &cap] {
        let hw = alsa::pcm::HwParams::any(p).unwrap();
        hw.set_access(alsa::pcm::Access::RWInterleaved).unwrap();
        hw.set_format(alsa::pcm::Format::s16()).unwrap();
        hw.set_channels(channels as u32).unwrap();
        hw.set_rate(8000, alsa::ValueOr::Nearest).unwrap();
        p.hw_params(&hw).unwrap();
    }
    let play_io = play.io_i16().unwrap();
    let cap_io = cap.io_i16().unwrap();
    let obuf = vec![1i16; FRAME_SAMPLES * channels];
    let mut ibuf = vec![0i16; FRAME_SAMPLES * channels];
    let (mut ours, mut bare) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let t = Wall::now();
        for _ in 0..TICKS {
            bus.exchange(&tx, &mut rx).unwrap();
        }
        ours = ours.min(t.elapsed().as_secs_f64() / TICKS as f64);
        let t = Wall::now();
        for _ in 0..TICKS {
            play_io.writei(&obuf).unwrap();
            cap_io.readi(&mut ibuf).unwrap();
        }
        bare = bare.min(t.elapsed().as_secs_f64() / TICKS as f64);
    }
    out.push_str("| Figure | Value | Reference | Ratio |\n|---|---|---|---|\n");
    out.push_str(&format!(
        "| `AlsaPcm::exchange`, 2 channels, alsa-lib `null` PCM | {:.2} us | bare `writei`+`readi`: {:.2} us | {:.2}x |\n",
        ours * 1e6,
        bare * 1e6,
        ours / bare
    ));

    // Line drivers: SPI traffic of one poll, and its bus time at 1 MHz against the tick.
    let counters = Rc::new(Cell::new((0u64, 0u64)));
    let spi = |answers| CountingSpi {
        counters: counters.clone(),
        answers,
        last_addr: 0,
    };
    // 8 clocks per byte at 1 MHz plus about 2 us of chip-select handling per frame.
    let bus_us = |(frames, bytes): (u64, u64)| (bytes * 8 + frames * 2) as f64;
    let per_tick = |(f, b): (u64, u64)| (f as f64 / TICKS as f64, b as f64 / TICKS as f64);

    let mut slic = Si321x::new(spi(proslic_answers), NoDelay, Si321xConfig::default());
    slic.init().unwrap();
    let init = counters.replace((0, 0));
    let t = Wall::now();
    for i in 0..TICKS {
        slic.poll(Instant::from_millis(i as u64 * 10)).unwrap();
    }
    let poll_cpu = t.elapsed().as_secs_f64() / TICKS as f64;
    let (frames, bytes) = per_tick(counters.replace((0, 0)));
    let us = bus_us((frames as u64, bytes as u64));
    out.push_str(&format!(
        "| Si321x `poll`: {frames:.0} SPI frames, {bytes:.0} bytes per tick | {us:.0} us bus time at 1 MHz | 10 ms tick | {:.2}% |\n",
        us / 100.0
    ));
    out.push_str(&format!(
        "| Si321x `poll` CPU (counting bus) | {:.3} us | 10 ms tick | {:.4}% |\n",
        poll_cpu * 1e6,
        poll_cpu * 1e6 / 100.0
    ));
    out.push_str(&format!(
        "| Si321x `init` traffic: {} frames, {} bytes | {:.1} ms bus time at 1 MHz | plus calibration waits (about 1.5 s) | |\n",
        init.0,
        init.1,
        bus_us(init) / 1000.0
    ));

    let mut daa = Si3050::new(spi(daa_answers), NoDelay, Si3050Config::default());
    daa.init().unwrap();
    counters.set((0, 0));
    for i in 0..TICKS {
        daa.read(Instant::from_millis(i as u64 * 10)).unwrap();
    }
    let (frames, bytes) = per_tick(counters.replace((0, 0)));
    let us = bus_us((frames as u64, bytes as u64));
    out.push_str(&format!(
        "| Si3050 `read`: {frames:.0} SPI frames, {bytes:.0} bytes per tick | {us:.0} us bus time at 1 MHz | 10 ms tick | {:.2}% |\n\n",
        us / 100.0
    ));
    match std::env::var_os("BENCH_OUT") {
        Some(p) => std::fs::write(p, out).unwrap(),
        None => print!("{out}"),
    }
}
