//! The tick loop.
//!
//! One tick, in order: exchange PCM with the board (the only wait), apply queued commands, poll
//! line supervision, read every stream's sockets, run each port's capture chain, decode each
//! stream's playout, then mix along the links: every stream encodes what its peers say and
//! sends a packet when one is complete; every port plays what its peers say plus its tones.
//! A frame captured in a tick therefore leaves in an RTP packet in the same tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant as StdInstant;

use hal::fxo::{FxoEvent, FxoLine, FxoMonitor, FxoTiming};
use hal::fxs::{FxsEvent, FxsLine, Hook, HookDetector, HookTiming};
use hal::pcm::{Frame, PcmBus, SILENCE};
use hal::{Instant, LineError};

use super::api::{
    AudioEvent, AudioEventKind, DigitTarget, Digits, Endpoint, LineEvent, LineEventKind, MediaCommand,
    MediaConfig, MediaEvent, MediaStats, Retired, StreamError, StreamEvent, StreamEventKind, StreamId,
};
use super::bridge::Links;
use super::channel::{PortAudio, PortEvents};
use super::mixer::mix_into;
use super::rt;
use super::stream::{MAX_DATAGRAM, Stream, StreamEvents};

/// RTCP sockets are read every this many ticks (staggered over the streams).
const RTCP_POLL_TICKS: u64 = 5;

/// A port's line, as the board provides it.
pub enum PortLines {
    Fxs {
        id: u8,
        pcm_channel: usize,
        line: Box<dyn FxsLine + Send>,
    },
    Fxo {
        id: u8,
        pcm_channel: usize,
        line: Box<dyn FxoLine + Send>,
    },
}

/// Pulse dialling state of an FXO port, advanced in 10 ms steps.
#[derive(Debug, Clone)]
struct PulseDialer {
    digits: Digits,
    next: usize,
    pulses_left: u8,
    /// Line currently broken (on-hook) for a pulse.
    breaking: bool,
    left_ms: u32,
    break_ms: u32,
    make_ms: u32,
    interdigit_ms: u32,
}

enum LineKind {
    Fxs {
        line: Box<dyn FxsLine + Send>,
        detector: HookDetector,
    },
    Fxo {
        line: Box<dyn FxoLine + Send>,
        monitor: FxoMonitor,
        pulse: Option<PulseDialer>,
    },
}

struct Port {
    id: u8,
    ch: usize,
    kind: LineKind,
    faulted: bool,
    audio: Box<PortAudio>,
}

/// The loop's state: everything it touches per tick is allocated here, up front.
pub struct MediaEngine {
    cfg: MediaConfig,
    pcm: Box<dyn PcmBus + Send>,
    ports: Vec<Port>,
    streams: Vec<Box<Stream>>,
    links: Links,
    tx: Vec<Frame>,
    rx: Vec<Frame>,
    scratch: Box<Frame>,
    buf: Box<[u8; MAX_DATAGRAM]>,
    sbuf: Box<[u8; MAX_DATAGRAM]>,
    commands: rtrb::Consumer<MediaCommand>,
    events: rtrb::Producer<MediaEvent>,
    retired: rtrb::Producer<Retired>,
    stats: Arc<MediaStats>,
    stop: Arc<AtomicBool>,
    /// Wallclock origin of the PCM sample clock (RTP sessions speak `std::time::Instant`).
    epoch: StdInstant,
    seed: u64,
    now: Instant,
    sample_clock: u64,
}

/// The control plane's side of the loop.
pub struct MediaHandle {
    pub commands: rtrb::Producer<MediaCommand>,
    pub events: rtrb::Consumer<MediaEvent>,
    /// Sockets and buffers the loop let go of; drop them from time to time
    /// ([`MediaHandle::collect_retired`]).
    pub retired: rtrb::Consumer<Retired>,
    pub stats: Arc<MediaStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), LineError>>>,
}

impl MediaHandle {
    /// Queues a command; gives it back if the queue is full.
    #[allow(clippy::result_large_err)]
    pub fn send(&mut self, cmd: MediaCommand) -> Result<(), MediaCommand> {
        self.commands.push(cmd).map_err(|rtrb::PushError::Full(c)| c)
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop().ok()
    }

    /// Drops what the loop retired (closes sockets); returns how many objects.
    pub fn collect_retired(&mut self) -> usize {
        let mut n = 0;
        while self.retired.pop().is_ok() {
            n += 1;
        }
        n
    }

    /// Stops the loop and waits for it (at most one tick).
    pub fn shutdown(mut self) -> Result<(), LineError> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(LineError::Bus),
            None => Ok(()),
        }
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl MediaEngine {
    /// A loop with the default sizes.
    pub fn new(pcm: Box<dyn PcmBus + Send>, ports: Vec<PortLines>) -> (MediaEngine, MediaHandle) {
        Self::with_config(pcm, ports, MediaConfig::default())
    }

    pub fn with_config(
        pcm: Box<dyn PcmBus + Send>,
        ports: Vec<PortLines>,
        cfg: MediaConfig,
    ) -> (MediaEngine, MediaHandle) {
        let depth = cfg.queue_depth.max(16);
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(depth);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(depth);
        let (ret_tx, ret_rx) = rtrb::RingBuffer::new(depth);
        let stats = Arc::new(MediaStats::new(cfg.max_streams));
        let stop = Arc::new(AtomicBool::new(false));
        let channels = pcm.channels();
        let tail = cfg
            .echo_tail_ms
            .clamp(codecs::echo::MIN_TAIL_MS, codecs::echo::MAX_TAIL_MS);
        let audio = || {
            // The tail is clamped to the supported range, so construction cannot fail.
            Box::new(PortAudio::new(tail).unwrap_or_else(|_| unreachable!()))
        };
        let ports = ports
            .into_iter()
            .map(|p| match p {
                PortLines::Fxs {
                    id,
                    pcm_channel,
                    line,
                } => Port {
                    id,
                    ch: pcm_channel,
                    kind: LineKind::Fxs {
                        line,
                        // The default windows are valid by construction.
                        detector: HookDetector::new(HookTiming::default()).unwrap_or_else(|_| unreachable!()),
                    },
                    faulted: false,
                    audio: audio(),
                },
                PortLines::Fxo {
                    id,
                    pcm_channel,
                    line,
                } => {
                    // The line's caller ID is decoded in the loop: its receivers are made here.
                    let mut audio = audio();
                    audio.enable_caller_id_receiver();
                    Port {
                        id,
                        ch: pcm_channel,
                        kind: LineKind::Fxo {
                            line,
                            monitor: FxoMonitor::new(FxoTiming::default()),
                            pulse: None,
                        },
                        faulted: false,
                        audio,
                    }
                }
            })
            .collect();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
            ^ u64::from(std::process::id()) << 32;
        let engine = MediaEngine {
            cfg,
            pcm,
            ports,
            streams: (0..cfg.max_streams).map(|_| Box::new(Stream::new())).collect(),
            links: Links::default(),
            tx: vec![SILENCE; channels],
            rx: vec![SILENCE; channels],
            scratch: Box::new(SILENCE),
            buf: Box::new([0; MAX_DATAGRAM]),
            sbuf: Box::new([0; MAX_DATAGRAM]),
            commands: cmd_rx,
            events: ev_tx,
            retired: ret_tx,
            stats: stats.clone(),
            stop: stop.clone(),
            epoch: StdInstant::now(),
            seed,
            now: Instant::ZERO,
            sample_clock: 0,
        };
        let handle = MediaHandle {
            commands: cmd_tx,
            events: ev_rx,
            retired: ret_rx,
            stats,
            stop,
            thread: None,
        };
        (engine, handle)
    }

    /// Runs the loop on its own thread, with real-time priority when permitted.
    pub fn spawn(self, handle: &mut MediaHandle) -> std::io::Result<()> {
        let t = std::thread::Builder::new()
            .name("media".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                self.enter_realtime();
                self.run()
            })?;
        handle.thread = Some(t);
        Ok(())
    }

    /// Applies SCHED_FIFO and mlockall as configured, logging what was refused. Called by
    /// [`Self::spawn`] on the loop thread; harnesses that drive [`Self::tick`] themselves may
    /// call it on theirs.
    pub fn enter_realtime(&self) {
        let out = rt::enter_realtime(self.cfg.rt_priority, self.cfg.lock_memory);
        out.log();
        self.stats.realtime.store(out.fifo.is_ok(), Ordering::Relaxed);
        self.stats
            .memory_locked
            .store(out.mlock.is_ok(), Ordering::Relaxed);
        rt::prefault_stack(128 * 1024);
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<MediaStats> {
        &self.stats
    }

    fn emit(&mut self, ev: MediaEvent) {
        if self.events.push(ev).is_err() {
            self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn stream_event(&mut self, stream: StreamId, kind: StreamEventKind) {
        self.emit(MediaEvent::Stream(StreamEvent { stream, kind }));
    }

    fn retire(&mut self, r: Retired) {
        if self.retired.push(r).is_err() {
            // Dropped here: closes a socket or frees memory inside the loop, which is counted.
            self.stats.retire_overflow.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn port_index(&self, id: u8) -> Option<usize> {
        self.ports.iter().position(|p| p.id == id)
    }

    fn std_now(&self) -> StdInstant {
        self.epoch + std::time::Duration::from_micros(self.now.as_micros())
    }

    fn endpoint_exists(&self, e: Endpoint) -> bool {
        match e {
            Endpoint::Port(p) => self.port_index(p).is_some(),
            Endpoint::Stream(s) => self.streams.get(s.0 as usize).is_some_and(|s| s.is_running()),
        }
    }

    fn apply(&mut self, cmd: MediaCommand) {
        let now = self.now;
        match cmd {
            MediaCommand::SetFeed { port, feed } => {
                if let Some(i) = self.port_index(port)
                    && let LineKind::Fxs { line, .. } = &mut self.ports[i].kind
                    && line.set_feed(feed).is_err()
                {
                    self.stats.line_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            MediaCommand::SetOffHook { port, off_hook } => {
                if let Some(i) = self.port_index(port) {
                    let p = &mut self.ports[i];
                    if let LineKind::Fxo { line, monitor, pulse } = &mut p.kind {
                        *pulse = None;
                        if line.set_off_hook(off_hook).is_err() {
                            self.stats.line_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        monitor.set_off_hook(off_hook, now);
                        p.audio.set_caller_id_listen(!off_hook);
                    }
                }
            }
            MediaCommand::SetHookTiming { port, timing } => {
                if let Some(i) = self.port_index(port)
                    && let LineKind::Fxs { detector, .. } = &mut self.ports[i].kind
                    && let Ok(mut d) = HookDetector::new(timing)
                {
                    // Keep the current hook state across the change.
                    if detector.is_off_hook() {
                        d.hook(Hook::OffHook, now);
                        let _ = d.poll(now);
                    }
                    *detector = d;
                }
            }
            MediaCommand::StartStream {
                stream,
                sockets,
                config,
            } => {
                let std_now = self.std_now();
                let seed = splitmix(&mut self.seed);
                let clock = self.sample_clock as u32;
                let Some(slot) = self.streams.get_mut(stream.0 as usize) else {
                    self.retire(Retired::Sockets(sockets));
                    self.retire(Retired::Config(config));
                    self.stream_event(stream, StreamEventKind::Error(StreamError::NoSuchSlot));
                    return;
                };
                match slot.start(sockets, config, std_now, clock, seed, stream.0 as usize) {
                    Ok(()) => {
                        if let Some(st) = self.stats.stream(stream) {
                            st.clear();
                            st.running.store(true, Ordering::Relaxed);
                        }
                        self.stream_event(stream, StreamEventKind::Started);
                    }
                    Err((e, sockets, config)) => {
                        self.retire(Retired::Sockets(sockets));
                        self.retire(Retired::Config(config));
                        self.stream_event(stream, StreamEventKind::Error(e));
                    }
                }
            }
            MediaCommand::ModifyStream { stream, config } => {
                let Some(slot) = self.streams.get_mut(stream.0 as usize) else {
                    self.retire(Retired::Config(config));
                    self.stream_event(stream, StreamEventKind::Error(StreamError::NoSuchSlot));
                    return;
                };
                match slot.modify(config) {
                    Ok(old) => self.retire(Retired::Config(old)),
                    Err((e, c)) => {
                        self.retire(Retired::Config(c));
                        self.stream_event(stream, StreamEventKind::Error(e));
                    }
                }
            }
            MediaCommand::StopStream { stream } => {
                let std_now = self.std_now();
                let Some(slot) = self.streams.get_mut(stream.0 as usize) else {
                    self.stream_event(stream, StreamEventKind::Error(StreamError::NoSuchSlot));
                    return;
                };
                if !slot.is_running() {
                    self.stream_event(stream, StreamEventKind::Error(StreamError::NotRunning));
                    return;
                }
                let (sockets, config) = slot.stop(std_now, &mut self.sbuf[..]);
                if let Some(st) = self.stats.stream(stream) {
                    st.running.store(false, Ordering::Relaxed);
                }
                self.links.isolate(Endpoint::Stream(stream));
                if let Some(s) = sockets {
                    self.retire(Retired::Sockets(s));
                }
                if let Some(c) = config {
                    self.retire(Retired::Config(c));
                }
                self.stream_event(stream, StreamEventKind::Stopped);
            }
            MediaCommand::Connect { a, b } => {
                let err = if !self.endpoint_exists(a) || !self.endpoint_exists(b) {
                    Some(StreamError::NotRunning)
                } else if !self.links.connect(a, b) {
                    Some(StreamError::NoRoom)
                } else {
                    None
                };
                if let Some(e) = err {
                    let s = match (a, b) {
                        (Endpoint::Stream(s), _) | (_, Endpoint::Stream(s)) => s,
                        _ => StreamId(u16::MAX),
                    };
                    self.stream_event(s, StreamEventKind::Error(e));
                }
            }
            MediaCommand::Disconnect { a, b } => self.links.disconnect(a, b),
            MediaCommand::Isolate { endpoint } => self.links.isolate(endpoint),
            MediaCommand::SetTonePlan { port, plan } => {
                if let Some(i) = self.port_index(port) {
                    self.ports[i].audio.set_plan(plan);
                }
            }
            MediaCommand::PlayTone {
                port,
                tone,
                over_audio,
            } => {
                if let Some(i) = self.port_index(port)
                    && !self.ports[i].audio.play_tone(tone, over_audio)
                {
                    // The plan has no such tone: report it as finished at once.
                    self.emit(MediaEvent::Audio(AudioEvent {
                        port,
                        kind: AudioEventKind::ToneDone,
                    }));
                }
            }
            MediaCommand::StopTone { port } => {
                if let Some(i) = self.port_index(port) {
                    self.ports[i].audio.stop_tone();
                }
            }
            MediaCommand::SendCallerId { port, encoder } => match self.port_index(port) {
                Some(i) => {
                    if let Some(old) = self.ports[i].audio.send_caller_id(encoder) {
                        self.retire(Retired::CallerId(old));
                    }
                }
                None => self.retire(Retired::CallerId(encoder)),
            },
            MediaCommand::SendDigits {
                target,
                digits,
                on_ms,
                off_ms,
            } => match target {
                DigitTarget::Line(port) => {
                    if let Some(i) = self.port_index(port) {
                        self.ports[i].audio.send_digits(&digits, on_ms, off_ms);
                    }
                }
                DigitTarget::Stream(s) => {
                    let ok = self
                        .streams
                        .get_mut(s.0 as usize)
                        .is_some_and(|st| st.is_running() && st.queue_digits(&digits, on_ms, off_ms));
                    if !ok {
                        self.stream_event(s, StreamEventKind::Error(StreamError::NotRunning));
                    }
                }
            },
            MediaCommand::PulseDial {
                port,
                digits,
                break_ms,
                make_ms,
                interdigit_ms,
            } => {
                if let Some(i) = self.port_index(port)
                    && let LineKind::Fxo { pulse, .. } = &mut self.ports[i].kind
                {
                    *pulse = Some(PulseDialer {
                        digits,
                        next: 0,
                        pulses_left: 0,
                        breaking: false,
                        left_ms: 0,
                        break_ms: u32::from(break_ms.max(10)),
                        make_ms: u32::from(make_ms.max(10)),
                        interdigit_ms: u32::from(interdigit_ms.max(100)),
                    });
                }
            }
            MediaCommand::SetGain {
                port,
                to_line_db,
                from_line_db,
            } => {
                if let Some(i) = self.port_index(port) {
                    self.ports[i].audio.set_gain(to_line_db, from_line_db);
                }
            }
            MediaCommand::SetEcho {
                port,
                enabled,
                nlp,
                reset,
            } => {
                if let Some(i) = self.port_index(port) {
                    self.ports[i].audio.set_echo(enabled, nlp, reset);
                }
            }
            MediaCommand::SetCallProgress {
                port,
                enabled,
                silence_ms,
            } => {
                if let Some(i) = self.port_index(port) {
                    self.ports[i].audio.set_call_progress(enabled, silence_ms);
                }
            }
            MediaCommand::SetDtmfDetect { port, enabled } => {
                if let Some(i) = self.port_index(port) {
                    self.ports[i].audio.set_dtmf_detect(enabled);
                }
            }
        }
    }

    /// One tick: exchange PCM (waiting for the period), then run every port and stream.
    pub fn tick(&mut self) -> Result<(), LineError> {
        let report = self.pcm.exchange(&self.tx, &mut self.rx)?;
        let started = StdInstant::now();
        self.stats.ticks.fetch_add(1, Ordering::Relaxed);
        if report.missed > 0 {
            self.stats
                .overruns
                .fetch_add(u64::from(report.missed), Ordering::Relaxed);
        }
        self.sample_clock = report.tick * hal::FRAME_SAMPLES as u64;
        self.now = Instant::from_samples(self.sample_clock);
        while let Ok(cmd) = self.commands.pop() {
            self.apply(cmd);
        }
        self.supervise();
        self.process_audio();
        let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.stats.max_tick_us.fetch_max(us, Ordering::Relaxed);
        Ok(())
    }

    fn supervise(&mut self) {
        let now = self.now;
        for i in 0..self.ports.len() {
            let mut out: [Option<LineEvent>; 4] = [None; 4];
            let mut line_error = false;
            let mut pulses_done = false;
            let p = &mut self.ports[i];
            let id = p.id;
            match &mut p.kind {
                LineKind::Fxs { line, detector } => match detector.track(line.as_mut(), now) {
                    Ok(upto) => {
                        p.faulted = false;
                        for slot in out.iter_mut() {
                            match detector.poll(upto) {
                                Some(ev) => {
                                    *slot = Some(LineEvent {
                                        port: id,
                                        kind: LineEventKind::Fxs(ev),
                                    })
                                }
                                None => break,
                            }
                        }
                    }
                    Err(e) => {
                        if !p.faulted {
                            p.faulted = true;
                            out[0] = Some(LineEvent {
                                port: id,
                                kind: LineEventKind::Fault(e),
                            });
                        }
                        line_error = true;
                    }
                },
                LineKind::Fxo { line, monitor, pulse } => {
                    if let Some(d) = pulse.as_mut() {
                        match step_pulse(d) {
                            PulseStep::Hold => {}
                            PulseStep::Set(off_hook) => line_error |= line.set_off_hook(off_hook).is_err(),
                            PulseStep::Done => {
                                *pulse = None;
                                pulses_done = true;
                            }
                        }
                    }
                    match line.read(now) {
                        Ok(r) => {
                            p.faulted = false;
                            // While pulsing, the breaks are ours: do not report them as drops.
                            if pulse.is_none() {
                                monitor.update(r, now);
                            }
                            for slot in out.iter_mut() {
                                match monitor.poll() {
                                    Some(ev) => {
                                        *slot = Some(LineEvent {
                                            port: id,
                                            kind: LineEventKind::Fxo(ev),
                                        })
                                    }
                                    None => break,
                                }
                            }
                        }
                        Err(e) => {
                            if !p.faulted {
                                p.faulted = true;
                                out[0] = Some(LineEvent {
                                    port: id,
                                    kind: LineEventKind::Fault(e),
                                });
                            }
                            line_error = true;
                        }
                    }
                }
            }
            if line_error {
                self.stats.line_errors.fetch_add(1, Ordering::Relaxed);
            }
            for ev in out.into_iter().flatten() {
                self.emit(MediaEvent::Line(ev));
            }
            if pulses_done {
                self.emit(MediaEvent::Audio(AudioEvent {
                    port: id,
                    kind: AudioEventKind::DigitsSent,
                }));
            }
        }
    }

    fn process_audio(&mut self) {
        let std_now = self.std_now();
        let samples_now = self.sample_clock as u32;
        // Network in.
        for i in 0..self.streams.len() {
            if !self.streams[i].is_running() {
                continue;
            }
            let mut evs = StreamEvents::new();
            let stats = &self.stats.streams[i];
            let tick = self.sample_clock / hal::FRAME_SAMPLES as u64;
            let poll_rtcp = (tick + i as u64).is_multiple_of(RTCP_POLL_TICKS);
            self.streams[i].receive(std_now, samples_now, &mut self.buf, poll_rtcp, stats, &mut evs);
            for k in evs {
                // Digits received as RFC 4733 are relayed as events to bridged streams.
                let edge = match k {
                    StreamEventKind::DigitBegin { digit } => Some((digit, true)),
                    StreamEventKind::DigitEnd { digit, .. } => Some((digit, false)),
                    _ => None,
                };
                if let Some((digit, start)) = edge {
                    for peer in self.links.peers(Endpoint::Stream(StreamId(i as u16))) {
                        if let Endpoint::Stream(o) = peer
                            && let Some(st) = self.streams.get_mut(o.0 as usize)
                        {
                            st.line_digit(digit, start);
                        }
                    }
                }
                self.stream_event(StreamId(i as u16), k);
            }
        }
        // Line in.
        for i in 0..self.ports.len() {
            let mut evs = PortEvents::new();
            let p = &mut self.ports[i];
            let ch = p.ch;
            if let (Some(far), Some(near)) = (self.tx.get(ch), self.rx.get(ch)) {
                p.audio.capture(far, near, self.sample_clock, &mut evs);
            }
            let id = p.id;
            for k in evs {
                // Line digits go out as RFC 4733 on the streams this port talks to.
                let edge = match k {
                    AudioEventKind::DtmfStart { digit, .. } => Some((digit, true)),
                    AudioEventKind::DtmfEnd { digit, .. } => Some((digit, false)),
                    _ => None,
                };
                if let Some((digit, start)) = edge {
                    for peer in self.links.peers(Endpoint::Port(id)) {
                        if let Endpoint::Stream(s) = peer
                            && let Some(st) = self.streams.get_mut(s.0 as usize)
                        {
                            st.line_digit(digit, start);
                        }
                    }
                }
                if self
                    .events
                    .push(MediaEvent::Audio(AudioEvent { port: id, kind: k }))
                    .is_err()
                {
                    self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Network playout.
        for s in self.streams.iter_mut() {
            if s.is_running() {
                s.playout(samples_now);
            }
        }
        // Network out: each stream encodes what its peers say.
        for i in 0..self.streams.len() {
            if !self.streams[i].is_running() {
                continue;
            }
            let me = Endpoint::Stream(StreamId(i as u16));
            let mutes = self.streams[i].mutes_line_dtmf();
            *self.scratch = SILENCE;
            for peer in self.links.peers(me) {
                match peer {
                    Endpoint::Port(p) => {
                        if let Some(port) = self.ports.iter().find(|x| x.id == p)
                            && !(mutes && port.audio.digit_held())
                        {
                            mix_into(&mut self.scratch[..], &port.audio.up);
                        }
                    }
                    Endpoint::Stream(o) => {
                        // A regenerated digit is relayed as events, not in the audio.
                        if let Some(other) = self.streams.get(o.0 as usize)
                            && other.is_running()
                            && !(mutes && other.regen.is_some())
                        {
                            mix_into(&mut self.scratch[..], &other.down);
                        }
                    }
                }
            }
            let mut evs = StreamEvents::new();
            let stats = &self.stats.streams[i];
            self.streams[i].send(&self.scratch, std_now, &mut self.sbuf, stats, &mut evs);
            self.streams[i].housekeeping(std_now, &mut self.sbuf, stats);
            for k in evs {
                self.stream_event(StreamId(i as u16), k);
            }
        }
        // Line out.
        for i in 0..self.ports.len() {
            let id = self.ports[i].id;
            *self.scratch = SILENCE;
            for peer in self.links.peers(Endpoint::Port(id)) {
                match peer {
                    Endpoint::Port(p) => {
                        if let Some(port) = self.ports.iter().find(|x| x.id == p) {
                            mix_into(&mut self.scratch[..], &port.audio.up);
                        }
                    }
                    Endpoint::Stream(o) => {
                        if let Some(other) = self.streams.get(o.0 as usize)
                            && other.is_running()
                        {
                            mix_into(&mut self.scratch[..], &other.down);
                        }
                    }
                }
            }
            let mut evs = PortEvents::new();
            let done = self.ports[i].audio.render(&mut self.scratch, &mut evs);
            let ch = self.ports[i].ch;
            if let Some(t) = self.tx.get_mut(ch) {
                *t = *self.scratch;
            }
            if let Some(cid) = done {
                self.retire(Retired::CallerId(cid));
            }
            for k in evs {
                self.emit(MediaEvent::Audio(AudioEvent { port: id, kind: k }));
            }
        }
    }

    fn run(mut self) -> Result<(), LineError> {
        while !self.stop.load(Ordering::Acquire) {
            self.tick()?;
        }
        Ok(())
    }
}

enum PulseStep {
    Hold,
    Set(bool),
    Done,
}

/// Advances pulse dialling by one 10 ms tick.
fn step_pulse(d: &mut PulseDialer) -> PulseStep {
    if d.left_ms > 10 {
        d.left_ms -= 10;
        return PulseStep::Hold;
    }
    if d.breaking {
        // End of a break: make.
        d.breaking = false;
        d.pulses_left = d.pulses_left.saturating_sub(1);
        d.left_ms = if d.pulses_left == 0 {
            d.interdigit_ms
        } else {
            d.make_ms
        };
        return PulseStep::Set(true);
    }
    if d.pulses_left > 0 {
        d.breaking = true;
        d.left_ms = d.break_ms;
        return PulseStep::Set(false);
    }
    // Next digit.
    loop {
        let Some(c) = d.digits.as_bytes().get(d.next).copied() else {
            return PulseStep::Done;
        };
        d.next += 1;
        let n = match c {
            b'1'..=b'9' => c - b'0',
            b'0' => 10,
            _ => continue,
        };
        d.pulses_left = n;
        d.breaking = true;
        d.left_ms = d.break_ms;
        return PulseStep::Set(false);
    }
}

#[allow(dead_code)]
fn _event_types(_: FxsEvent, _: FxoEvent) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_dialler_timing() {
        let mut d = PulseDialer {
            digits: Digits::try_from("20").unwrap(),
            next: 0,
            pulses_left: 0,
            breaking: false,
            left_ms: 0,
            break_ms: 60,
            make_ms: 40,
            interdigit_ms: 700,
        };
        let mut breaks = 0;
        let mut ticks = 0;
        loop {
            ticks += 1;
            match step_pulse(&mut d) {
                PulseStep::Set(false) => breaks += 1,
                PulseStep::Done => break,
                _ => {}
            }
            assert!(ticks < 10_000);
        }
        assert_eq!(breaks, 12);
        // Breaks, the makes between pulses, one interdigit pause per digit, the final step.
        assert_eq!(ticks * 10, 12 * 60 + 10 * 40 + 2 * 700 + 10);
    }
}
