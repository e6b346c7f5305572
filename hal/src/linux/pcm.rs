//! The PCM highway through ALSA: one 10 ms period (80 frames at 8 kHz) per tick.
//!
//! Both directions use interleaved signed 16-bit samples in native byte order; bus channel `n`
//! is device channel `map[n]` (a TDM codec or a multi-channel PCM carries the ports side by
//! side). The blocking capture read paces the media loop: [`PcmBus::exchange`] returns when the
//! next captured period is complete, so the sound card's clock is the board's clock.
//!
//! Playback starts with a cushion of silent periods so the first writes never block and a
//! late tick does not underrun at once. An xrun (EPIPE: the caller was late and a buffer ran
//! dry or overflowed) is recovered in place by preparing the stream again (and re-priming
//! playback), is logged, counted in [`TickReport::missed`] and never fails the exchange.

use std::time::Instant as WallClock;

use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};

use crate::error::LineError;
use crate::pcm::{FRAME_SAMPLES, Frame, PcmBus, SAMPLE_RATE, TickReport};

const EPIPE: i32 = 32;
const ESTRPIPE: i32 = 86;
/// Attempts to complete one period's transfer across recoveries before giving up.
const MAX_ATTEMPTS: u32 = 4;

/// What a stream transfer can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// Overrun or underrun (or a resume from suspend): recoverable by preparing again.
    Xrun,
    /// Any other failure, with the errno.
    Failed(i32),
}

/// The two directions of a period-based audio device, as [`PeriodBus`] drives them.
pub trait PeriodStreams {
    /// Writes interleaved frames, blocking while the buffer is full; returns frames taken.
    fn write(&mut self, buf: &[i16]) -> Result<usize, StreamError>;
    /// Reads interleaved frames, blocking until some are captured; returns frames read.
    fn read(&mut self, buf: &mut [i16]) -> Result<usize, StreamError>;
    /// Makes playback usable again after an xrun and queues `prime` (silence) ahead.
    fn recover_playback(&mut self, prime: &[i16]) -> Result<(), StreamError>;
    /// Makes capture usable again after an xrun.
    fn recover_capture(&mut self) -> Result<(), StreamError>;
}

/// Where the ports sit on the device and how much buffering to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlsaPcmConfig {
    /// ALSA PCM names, e.g. `hw:0,0` for both, or `hw:Loopback,0,0` / `hw:Loopback,1,0`.
    pub playback: String,
    pub capture: String,
    /// Channels the device is opened with.
    pub device_channels: u32,
    /// `map[n]` is the device channel carrying bus channel `n`.
    pub map: Vec<usize>,
    /// Periods in each ALSA buffer.
    pub periods: u32,
    /// Silent periods queued ahead on playback at start and after an underrun.
    pub prefill: u32,
}

impl AlsaPcmConfig {
    /// `channels` bus channels on the first `channels` device channels, 4 periods of buffer,
    /// 2 of them queued ahead.
    pub fn new(playback: &str, capture: &str, channels: usize) -> Self {
        AlsaPcmConfig {
            playback: playback.to_string(),
            capture: capture.to_string(),
            device_channels: channels as u32,
            map: (0..channels).collect(),
            periods: 4,
            prefill: 2,
        }
    }
}

/// Why an ALSA bus could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// A channel map entry names a device channel the device does not have, or no channels.
    ChannelMap,
    /// Prefill must leave room for at least one period in the buffer.
    Buffering,
    /// ALSA refused: which call, on which device.
    Alsa {
        device: String,
        call: &'static str,
        error: alsa::Error,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::ChannelMap => f.write_str("PCM channel map names a channel the device does not have"),
            OpenError::Buffering => f.write_str("PCM prefill must be smaller than the number of periods"),
            OpenError::Alsa { device, call, error } => write!(f, "ALSA {call} on {device}: {error}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// ALSA playback and capture PCMs.
pub struct AlsaStreams {
    play: PCM,
    cap: PCM,
}

fn classify(e: alsa::Error) -> StreamError {
    // The alsa crate reports positive errno values.
    match e.errno().abs() {
        EPIPE | ESTRPIPE => StreamError::Xrun,
        n => StreamError::Failed(n),
    }
}

fn open_one(
    device: &str,
    dir: Direction,
    channels: u32,
    periods: u32,
    start_frames: u32,
) -> Result<PCM, OpenError> {
    let err = |call: &'static str| {
        let device = device.to_string();
        move |error| OpenError::Alsa { device, call, error }
    };
    let pcm = PCM::new(device, dir, false).map_err(err("open"))?;
    {
        let hw = HwParams::any(&pcm).map_err(err("hw_params_any"))?;
        hw.set_access(Access::RWInterleaved).map_err(err("set_access"))?;
        hw.set_format(Format::s16()).map_err(err("set_format"))?;
        hw.set_channels(channels).map_err(err("set_channels"))?;
        hw.set_rate(SAMPLE_RATE, ValueOr::Nearest)
            .map_err(err("set_rate"))?;
        // One period per tick where the hardware allows it; reads of 80 frames pace the loop
        // whatever period the device settles on.
        hw.set_period_size_near(FRAME_SAMPLES as alsa::pcm::Frames, ValueOr::Nearest)
            .map_err(err("set_period_size"))?;
        hw.set_buffer_size_near((FRAME_SAMPLES as u32 * periods) as alsa::pcm::Frames)
            .map_err(err("set_buffer_size"))?;
        pcm.hw_params(&hw).map_err(err("hw_params"))?;
    }
    {
        let sw = pcm.sw_params_current().map_err(err("sw_params_current"))?;
        sw.set_avail_min(FRAME_SAMPLES as alsa::pcm::Frames)
            .map_err(err("set_avail_min"))?;
        sw.set_start_threshold(start_frames as alsa::pcm::Frames)
            .map_err(err("set_start_threshold"))?;
        pcm.sw_params(&sw).map_err(err("sw_params"))?;
    }
    pcm.prepare().map_err(err("prepare"))?;
    Ok(pcm)
}

impl AlsaStreams {
    fn open(cfg: &AlsaPcmConfig) -> Result<Self, OpenError> {
        let prefill_frames = FRAME_SAMPLES as u32 * cfg.prefill.max(1);
        let play = open_one(
            &cfg.playback,
            Direction::Playback,
            cfg.device_channels,
            cfg.periods,
            prefill_frames,
        )?;
        let cap = open_one(
            &cfg.capture,
            Direction::Capture,
            cfg.device_channels,
            cfg.periods,
            1,
        )?;
        // Check the negotiated sample format once; per tick the IO is made unchecked, since
        // the checked constructor queries (and allocates) the hardware parameters every call.
        for (pcm, device) in [(&play, &cfg.playback), (&cap, &cfg.capture)] {
            pcm.io_i16().map_err(|error| OpenError::Alsa {
                device: device.clone(),
                call: "io_i16",
                error,
            })?;
        }
        Ok(AlsaStreams { play, cap })
    }

    fn play_io(&self) -> alsa::pcm::IO<'_, i16> {
        // SAFETY: the stream's format is S16 (set in `open_one`, verified in `open`), and the
        // IO lives only for the one transfer, within `&mut self`, so no other IO exists.
        unsafe { self.play.io_unchecked::<i16>() }
    }

    fn cap_io(&self) -> alsa::pcm::IO<'_, i16> {
        // SAFETY: as for `play_io`.
        unsafe { self.cap.io_unchecked::<i16>() }
    }
}

impl PeriodStreams for AlsaStreams {
    fn write(&mut self, buf: &[i16]) -> Result<usize, StreamError> {
        self.play_io().writei(buf).map_err(classify)
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, StreamError> {
        self.cap_io().readi(buf).map_err(classify)
    }

    fn recover_playback(&mut self, prime: &[i16]) -> Result<(), StreamError> {
        self.play.prepare().map_err(classify)?;
        self.play_io().writei(prime).map_err(classify)?;
        Ok(())
    }

    fn recover_capture(&mut self) -> Result<(), StreamError> {
        self.cap.prepare().map_err(classify)?;
        self.cap.start().map_err(classify)
    }
}

/// Logs why a transfer gave up (an errno, or xruns on every attempt) and maps it to the bus
/// error: off the per-tick path, only when the exchange fails.
fn failed(what: &str, e: StreamError) -> LineError {
    match e {
        StreamError::Xrun => eprintln!("pcm: {what} failed: xrun on each of {MAX_ATTEMPTS} attempts"),
        StreamError::Failed(n) => eprintln!(
            "pcm: {what} failed: {} (errno {n})",
            std::io::Error::from_raw_os_error(n)
        ),
    }
    LineError::Bus
}

/// A [`PcmBus`] over any [`PeriodStreams`]; [`AlsaPcm`] is the ALSA one.
pub struct PeriodBus<S> {
    streams: S,
    device_channels: usize,
    map: Vec<usize>,
    out: Vec<i16>,
    inp: Vec<i16>,
    prime: Vec<i16>,
    tick: u64,
    xruns: u64,
    last: Option<WallClock>,
}

/// The board's PCM highway through ALSA.
pub type AlsaPcm = PeriodBus<AlsaStreams>;

impl AlsaPcm {
    /// Opens and configures both directions and queues the playback cushion.
    pub fn open(cfg: &AlsaPcmConfig) -> Result<AlsaPcm, OpenError> {
        if cfg.prefill >= cfg.periods {
            return Err(OpenError::Buffering);
        }
        let streams = AlsaStreams::open(cfg)?;
        let mut bus = PeriodBus::new(
            streams,
            cfg.device_channels as usize,
            cfg.map.clone(),
            cfg.prefill,
        )
        .ok_or(OpenError::ChannelMap)?;
        let prime = std::mem::take(&mut bus.prime);
        let written = bus.streams.write(&prime);
        bus.prime = prime;
        written.map_err(|e| OpenError::Alsa {
            device: cfg.playback.clone(),
            call: "writei",
            error: alsa::Error::new(
                "snd_pcm_writei",
                match e {
                    StreamError::Xrun => EPIPE,
                    StreamError::Failed(n) => n,
                },
            ),
        })?;
        Ok(bus)
    }
}

impl<S: PeriodStreams> PeriodBus<S> {
    /// Wraps `streams`; `None` if the map is empty or names a missing device channel.
    pub fn new(streams: S, device_channels: usize, map: Vec<usize>, prefill: u32) -> Option<Self> {
        if map.is_empty() || map.iter().any(|&c| c >= device_channels) {
            return None;
        }
        let n = device_channels * FRAME_SAMPLES;
        Some(PeriodBus {
            streams,
            device_channels,
            map,
            out: vec![0; n],
            inp: vec![0; n],
            prime: vec![0; n * prefill.max(1) as usize],
            tick: 0,
            xruns: 0,
            last: None,
        })
    }

    /// Xruns recovered since the bus started.
    pub fn xruns(&self) -> u64 {
        self.xruns
    }

    pub fn streams(&self) -> &S {
        &self.streams
    }

    pub fn into_streams(self) -> S {
        self.streams
    }

    fn write_period(&mut self) -> Result<u32, LineError> {
        let ch = self.device_channels;
        let mut done = 0;
        let mut xruns = 0;
        for _ in 0..MAX_ATTEMPTS {
            match self.streams.write(&self.out[done * ch..]) {
                Ok(n) => {
                    done += n;
                    if done >= FRAME_SAMPLES {
                        return Ok(xruns);
                    }
                }
                Err(StreamError::Xrun) => {
                    xruns += 1;
                    self.streams
                        .recover_playback(&self.prime)
                        .map_err(|e| failed("playback recovery", e))?;
                }
                Err(e) => return Err(failed("playback write", e)),
            }
        }
        Err(failed("playback write", StreamError::Xrun))
    }

    fn read_period(&mut self) -> Result<u32, LineError> {
        let ch = self.device_channels;
        let mut done = 0;
        let mut xruns = 0;
        for _ in 0..MAX_ATTEMPTS {
            match self.streams.read(&mut self.inp[done * ch..]) {
                Ok(n) => {
                    done += n;
                    if done >= FRAME_SAMPLES {
                        return Ok(xruns);
                    }
                }
                Err(StreamError::Xrun) => {
                    xruns += 1;
                    // Samples captured before the overrun belong to a period now lost.
                    done = 0;
                    self.streams
                        .recover_capture()
                        .map_err(|e| failed("capture recovery", e))?;
                }
                Err(e) => return Err(failed("capture read", e)),
            }
        }
        Err(failed("capture read", StreamError::Xrun))
    }
}

impl<S: PeriodStreams> PcmBus for PeriodBus<S> {
    fn channels(&self) -> usize {
        self.map.len()
    }

    fn exchange(&mut self, tx: &[Frame], rx: &mut [Frame]) -> Result<TickReport, LineError> {
        if tx.len() != self.map.len() || rx.len() != self.map.len() {
            return Err(LineError::Unsupported);
        }
        let ch = self.device_channels;
        // Unmapped device channels stay silent.
        for (bus_ch, frame) in tx.iter().enumerate() {
            let dev = self.map[bus_ch];
            for (i, &s) in frame.iter().enumerate() {
                self.out[i * ch + dev] = s;
            }
        }
        let xruns = self.write_period()? + self.read_period()?;
        for (bus_ch, frame) in rx.iter_mut().enumerate() {
            let dev = self.map[bus_ch];
            for (i, s) in frame.iter_mut().enumerate() {
                *s = self.inp[i * ch + dev];
            }
        }
        let now = WallClock::now();
        let mut missed = 0;
        if xruns > 0 {
            self.xruns += u64::from(xruns);
            // Periods that went by since the last exchange beyond the one just completed.
            let late = self
                .last
                .map_or(0, |t| (now.duration_since(t).as_millis() / 10) as u32);
            missed = late.saturating_sub(1).max(xruns);
            eprintln!(
                "pcm: xrun at tick {}, recovered, {missed} period(s) lost ({} xruns so far)",
                self.tick, self.xruns
            );
        }
        self.last = Some(now);
        let tick = self.tick + u64::from(missed);
        self.tick = tick + 1;
        Ok(TickReport { tick, missed })
    }
}

/// Goertzel power of `freq_hz` in `samples` (8 kHz), normalised per sample.
pub fn tone_power(samples: &[i16], freq_hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq_hz / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    p / (samples.len().max(1) as f64).powi(2)
}

/// Share of the signal's power at `freq_hz` (1.0 for a pure tone), for checking that a tone
/// went through a PCM path intact.
pub fn tone_purity(samples: &[i16], freq_hz: f64) -> f64 {
    let total: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    if total == 0.0 {
        return 0.0;
    }
    // A sinusoid of amplitude A has mean power A^2/2 and Goertzel power A^2/4.
    (2.0 * tone_power(samples, freq_hz) / total).min(1.0)
}

/// Frequency of a steady tone from its rising zero crossings, interpolated between samples
/// (exact to a fraction of a hertz for a clean sinusoid); `None` with fewer than two crossings.
pub fn tone_frequency(samples: &[i16]) -> Option<f64> {
    let mut first: Option<f64> = None;
    let mut last = 0.0;
    let mut crossings = 0u32;
    for (i, w) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(w[0]), f64::from(w[1]));
        if a < 0.0 && b >= 0.0 {
            let at = i as f64 + (-a / (b - a));
            first.get_or_insert(at);
            last = at;
            crossings += 1;
        }
    }
    let first = first?;
    if crossings < 2 || last <= first {
        return None;
    }
    Some(f64::from(crossings - 1) * f64::from(SAMPLE_RATE) / (last - first))
}

/// RMS level in dB relative to a full-scale square wave (a full-scale sinusoid is -3 dBFS);
/// `f64::NEG_INFINITY` for silence.
pub fn level_dbfs(samples: &[i16]) -> f64 {
    let power: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    10.0 * (power / (32768.0f64 * 32768.0)).log10()
}

/// One period of a tone on channel `ch` (a different frequency per channel), continuous
/// across periods: sample `n` of the stream.
pub fn test_tone(ch: usize, n: u64, amplitude: f64) -> i16 {
    let f = 400.0 * (ch as f64 + 1.0);
    let t = n as f64 / f64::from(SAMPLE_RATE);
    (amplitude * (2.0 * std::f64::consts::PI * f * t).sin()) as i16
}

/// Frequency of [`test_tone`] on channel `ch`.
pub fn test_tone_hz(ch: usize) -> f64 {
    400.0 * (ch as f64 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Streams scripted per call: `Ok` moves data, `Xrun` fails the call.
    #[derive(Default)]
    struct Scripted {
        ch: usize,
        writes: VecDeque<Result<(), StreamError>>,
        reads: VecDeque<Result<(), StreamError>>,
        written: Vec<i16>,
        to_read: VecDeque<i16>,
        play_recoveries: u32,
        cap_recoveries: u32,
    }

    impl PeriodStreams for Scripted {
        fn write(&mut self, buf: &[i16]) -> Result<usize, StreamError> {
            self.writes.pop_front().unwrap_or(Ok(()))?;
            self.written.extend_from_slice(buf);
            Ok(buf.len() / self.ch)
        }
        fn read(&mut self, buf: &mut [i16]) -> Result<usize, StreamError> {
            self.reads.pop_front().unwrap_or(Ok(()))?;
            for s in buf.iter_mut() {
                *s = self.to_read.pop_front().unwrap_or(0);
            }
            Ok(buf.len() / self.ch)
        }
        fn recover_playback(&mut self, prime: &[i16]) -> Result<(), StreamError> {
            self.play_recoveries += 1;
            self.written.extend_from_slice(prime);
            Ok(())
        }
        fn recover_capture(&mut self) -> Result<(), StreamError> {
            self.cap_recoveries += 1;
            Ok(())
        }
    }

    #[test]
    fn channels_are_mapped_and_interleaved() {
        // Two bus channels on device channels 1 and 0 of a stereo device.
        let mut s = Scripted {
            ch: 2,
            ..Scripted::default()
        };
        for i in 0..FRAME_SAMPLES as i16 {
            s.to_read.extend([i, -i]);
        }
        let mut bus = PeriodBus::new(s, 2, vec![1, 0], 1).unwrap();
        let tx = [[7i16; FRAME_SAMPLES], [9i16; FRAME_SAMPLES]];
        let mut rx = [[0i16; FRAME_SAMPLES]; 2];
        let rep = bus.exchange(&tx, &mut rx).unwrap();
        assert_eq!(rep, TickReport { tick: 0, missed: 0 });
        assert_eq!(rx[0][5], -5);
        assert_eq!(rx[1][5], 5);
        let s = bus.into_streams();
        assert_eq!(&s.written[..4], &[9, 7, 9, 7]);
        assert!(PeriodBus::new(Scripted::default(), 2, vec![2], 1).is_none());
        assert!(PeriodBus::new(Scripted::default(), 2, vec![], 1).is_none());
    }

    #[test]
    fn xruns_are_recovered_counted_and_not_fatal() {
        let mut s = Scripted {
            ch: 1,
            ..Scripted::default()
        };
        s.writes.extend([Ok(()), Err(StreamError::Xrun), Ok(())]);
        s.reads.extend([Ok(()), Err(StreamError::Xrun), Ok(())]);
        let mut bus = PeriodBus::new(s, 1, vec![0], 2).unwrap();
        let tx = [[1i16; FRAME_SAMPLES]];
        let mut rx = [[0i16; FRAME_SAMPLES]];
        assert_eq!(bus.exchange(&tx, &mut rx).unwrap().missed, 0);
        // Underrun on playback and overrun on capture in the same tick.
        let rep = bus.exchange(&tx, &mut rx).unwrap();
        assert!(rep.missed >= 2);
        assert_eq!(rep.tick, 1 + u64::from(rep.missed));
        assert_eq!(bus.xruns(), 2);
        let next = bus.exchange(&tx, &mut rx).unwrap();
        assert_eq!((next.tick, next.missed), (rep.tick + 1, 0));
        let s = bus.into_streams();
        assert_eq!((s.play_recoveries, s.cap_recoveries), (1, 1));
        // The cushion of two silent periods was queued ahead on recovery.
        assert_eq!(s.written.len(), FRAME_SAMPLES * 5);
    }

    #[test]
    fn persistent_failure_is_a_bus_error() {
        let one = || Scripted {
            ch: 1,
            ..Scripted::default()
        };
        let mut s = one();
        s.reads.extend([Err(StreamError::Failed(5))]);
        let mut bus = PeriodBus::new(s, 1, vec![0], 1).unwrap();
        let mut rx = [[0i16; FRAME_SAMPLES]];
        assert_eq!(bus.exchange(&[[0; FRAME_SAMPLES]], &mut rx), Err(LineError::Bus));
        let mut s = one();
        s.reads.extend([Err(StreamError::Xrun); MAX_ATTEMPTS as usize]);
        let mut bus = PeriodBus::new(s, 1, vec![0], 1).unwrap();
        assert_eq!(bus.exchange(&[[0; FRAME_SAMPLES]], &mut rx), Err(LineError::Bus));
        assert_eq!(bus.exchange(&[], &mut []), Err(LineError::Unsupported));
    }

    #[test]
    fn frequency_and_level_of_a_tone() {
        let samples: Vec<i16> = (0..8000).map(|n| test_tone(2, n, 16384.0)).collect();
        let f = tone_frequency(&samples).unwrap();
        assert!((f - 1200.0).abs() < 0.05, "{f}");
        // Half scale sinusoid: -6.02 dB for the amplitude, -3.01 dB for the sine's RMS.
        assert!(
            (level_dbfs(&samples) + 9.03).abs() < 0.05,
            "{}",
            level_dbfs(&samples)
        );
        assert_eq!(tone_frequency(&[0; 80]), None);
        assert_eq!(level_dbfs(&[0; 80]), f64::NEG_INFINITY);
    }

    #[test]
    fn tone_checks() {
        let samples: Vec<i16> = (0..800).map(|n| test_tone(1, n, 8000.0)).collect();
        assert!(tone_purity(&samples, test_tone_hz(1)) > 0.95);
        assert!(tone_purity(&samples, test_tone_hz(0)) < 0.01);
        assert_eq!(tone_purity(&[0; 80], 400.0), 0.0);
    }
}
