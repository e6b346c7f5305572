//! The simulated board: every port is a loopback TCP socket speaking the protocol of
//! `docs/sim-protocol.md`, so that any program can be the phone on an FXS port or the exchange
//! line on an FXO port. A port may instead carry the protocol over a character device
//! ([`SimBoardConfig::with_device`]): in the QEMU board each port is a virtio-serial port whose
//! host end is a loopback socket, so the same phones and exchange attach from the host.
//!
//! - [`proto`]: message types, emitter and parser.
//! - [`core`]: socket-free FXS line logic (feed, ring cadence, ring trip, hook transitions),
//!   shared with the simulated exchange.
//! - [`peer`]: the client side of a port connection (a phone or an exchange line).
//! - this module: [`SimBoard`], built from a [`SimBoardConfig`], hands out one [`SimPcm`] (the
//!   board's clock, implementing [`PcmBus`]) and one [`SimFxsLine`] / [`SimFxoLine`] per port.
//!
//! Threads: each port has a listener/reader thread and a writer thread. The objects handed to
//! the media thread ([`SimPcm`], [`SimFxsLine`], [`SimFxoLine`]) talk to them only through
//! bounded lock-free SPSC rings and atomics: no allocation, no lock, no blocking per tick
//! (the only wait is [`SimPcm::exchange`] sleeping until the next absolute 10 ms deadline).
//!
//! ```no_run
//! use hal::board::PortKind;
//! use hal::fxs::{FxsLine, HookDetector, HookTiming};
//! use hal::pcm::{PcmBus, SILENCE};
//! use hal::sim::{SimBoard, SimBoardConfig, SimPortConfig};
//! use hal::Instant;
//!
//! let cfg = SimBoardConfig::new(vec![
//!     SimPortConfig { kind: PortKind::Fxs, tcp_port: 5060 + 1000 },
//!     SimPortConfig { kind: PortKind::Fxo, tcp_port: 5060 + 1001 },
//! ]);
//! let mut board = SimBoard::start(cfg).unwrap();
//! let mut pcm = board.take_pcm().unwrap();
//! let mut fxs = board.take_fxs(hal::board::PortId(0)).unwrap();
//! let mut det = HookDetector::new(HookTiming::default()).unwrap();
//! let (tx, mut rx) = ([SILENCE; 2], [SILENCE; 2]);
//! loop {
//!     let report = pcm.exchange(&tx, &mut rx).unwrap();
//!     let now = Instant::from_samples(report.tick * 80);
//!     let upto = det.track(&mut fxs, now).unwrap();
//!     while let Some(ev) = det.poll(upto) { println!("{ev:?}"); }
//! }
//! ```

pub mod core;
pub mod peer;
pub mod proto;

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use crate::board::{PortId, PortInfo, PortKind};
use crate::error::LineError;
use crate::fxo::{FxoLine, FxoReading};
use crate::fxs::{FxsLine, Hook, HookSample, LineFeed};
use crate::pcm::{FRAME_SAMPLES, Frame, PcmBus, SILENCE, TickReport};
use crate::time::Instant;

use self::core::{FxsLineCore, FxsSignal, Signals};
use self::proto::{ErrorCode, Hello, Message, Role, read_message, write_message};

/// Default depth of the uplink FIFO (frames from the peer waiting for the clock).
pub const DEFAULT_FIFO_FRAMES: usize = 8;
/// Ring capacity behind the FIFO depth: a burst beyond it is dropped on arrival.
const RING_FRAMES: usize = 32;
const CTRL_SLOTS: usize = 64;
/// How far hook reports may lag the clock before classification proceeds without them.
const MAX_REPORT_LAG: Duration = Duration::from_millis(250);
/// Periods a late caller may catch up on before the lost ones are skipped.
const MAX_CATCH_UP: u64 = 25;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a character-device port looks again for its peer (device absent, host end closed).
const DEVICE_RETRY: Duration = Duration::from_millis(100);

/// One port of the simulated board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimPortConfig {
    pub kind: PortKind,
    /// Loopback TCP port the port listens on (0: any free port, see [`SimBoard::local_addr`]).
    pub tcp_port: u16,
}

/// The simulated board's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBoardConfig {
    /// Ports in board order; port `n` is PCM channel `n`.
    pub ports: Vec<SimPortConfig>,
    /// Clock period (10 ms: one [`FRAME_SAMPLES`] frame per tick).
    pub period: Duration,
    /// Uplink FIFO depth in frames; older frames beyond it are dropped (overrun).
    pub fifo_frames: usize,
    /// Per port (by index): a character device carrying the protocol instead of a TCP listener.
    /// Ports beyond the end of this list, or `None`, listen on TCP.
    pub devices: Vec<Option<PathBuf>>,
}

impl SimBoardConfig {
    pub fn new(ports: Vec<SimPortConfig>) -> Self {
        SimBoardConfig {
            ports,
            period: Duration::from_millis(10),
            fifo_frames: DEFAULT_FIFO_FRAMES,
            devices: Vec::new(),
        }
    }

    /// Port `index` talks over the character device at `path` (e.g. a virtio-serial port)
    /// instead of listening on TCP: the peer is attached while the device delivers data, and
    /// leaves when it reads end-of-file (the host end closed).
    pub fn with_device(mut self, index: usize, path: impl Into<PathBuf>) -> Self {
        if self.devices.len() <= index {
            self.devices.resize(index + 1, None);
        }
        self.devices[index] = Some(path.into());
        self
    }
}

/// A connection to a port's peer: a TCP stream or the port's open character device.
enum PeerStream {
    Tcp(TcpStream),
    Device(Arc<File>),
}

impl PeerStream {
    fn try_clone(&self) -> io::Result<PeerStream> {
        match self {
            PeerStream::Tcp(s) => s.try_clone().map(PeerStream::Tcp),
            PeerStream::Device(f) => Ok(PeerStream::Device(f.clone())),
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) {
        // A device read cannot time out; its handshake waits for the peer's first bytes.
        if let PeerStream::Tcp(s) = self {
            let _ = s.set_read_timeout(t);
        }
    }

    fn shutdown(&self) {
        // A device stays open across peers: the next peer is read from the same file.
        if let PeerStream::Tcp(s) = self {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Read for PeerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PeerStream::Tcp(s) => s.read(buf),
            PeerStream::Device(f) => (&**f).read(buf),
        }
    }
}

impl Write for PeerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PeerStream::Tcp(s) => s.write(buf),
            PeerStream::Device(f) => (&**f).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            PeerStream::Tcp(s) => s.flush(),
            PeerStream::Device(f) => (&**f).flush(),
        }
    }
}

/// Where a port's reader thread finds its next peer.
enum PortTransport {
    Tcp(TcpListener),
    Device { path: PathBuf, file: Option<Arc<File>> },
}

impl PortTransport {
    /// The next peer: a TCP connection, or the device once it is open. `None` when stopping.
    fn accept(&mut self, board: &BoardShared) -> Option<PeerStream> {
        loop {
            if board.stop.load(Ordering::Acquire) {
                return None;
            }
            match self {
                PortTransport::Tcp(l) => match l.accept() {
                    Ok((s, _)) => {
                        if board.stop.load(Ordering::Acquire) {
                            return None;
                        }
                        let _ = s.set_nodelay(true);
                        return Some(PeerStream::Tcp(s));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(50)),
                },
                PortTransport::Device { path, file } => {
                    if file.is_none() {
                        match std::fs::OpenOptions::new().read(true).write(true).open(&*path) {
                            Ok(f) => *file = Some(Arc::new(f)),
                            Err(_) => {
                                thread::sleep(DEVICE_RETRY);
                                continue;
                            }
                        }
                    }
                    if let Some(f) = file {
                        return Some(PeerStream::Device(f.clone()));
                    }
                }
            }
        }
    }

    fn is_device(&self) -> bool {
        matches!(self, PortTransport::Device { .. })
    }
}

/// Counters of one port since the board started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    pub connected: bool,
    /// Peers accepted (a reconnect counts again).
    pub connections: u64,
    /// Frames received from the peer / sent to it.
    pub frames_in: u64,
    pub frames_out: u64,
    /// Ticks on which a connected peer's frame was missing (silence was used).
    pub underruns: u64,
    /// Frames dropped because the peer ran ahead of the clock (oldest first).
    pub overruns: u64,
    /// Frames or events dropped because a ring was full (a stalled thread).
    pub dropped: u64,
    /// Connections closed for a protocol violation.
    pub protocol_errors: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    underruns: AtomicU64,
    overruns: AtomicU64,
    dropped: AtomicU64,
    protocol_errors: AtomicU64,
}

/// State of one port shared between its socket threads and its media-side objects.
struct PortShared {
    index: u8,
    kind: PortKind,
    connected: AtomicBool,
    /// Peer's reports are complete up to this sample (end of the last frame it answered).
    confirmed: AtomicU64,
    counters: Counters,
    /// The stream the writer thread sends on, replaced per connection (socket threads only).
    stream: Mutex<Option<PeerStream>>,
    generation: AtomicU64,
    writer: Mutex<Option<Thread>>,
}

impl PortShared {
    fn wake_writer(&self) {
        // Only touched by socket threads and at setup; the media side uses `writer_handle`.
        if let Ok(g) = self.writer.lock()
            && let Some(t) = g.as_ref()
        {
            t.unpark();
        }
    }
}

struct BoardShared {
    stop: AtomicBool,
    /// Sample time of the start of the current tick.
    clock: Arc<AtomicU64>,
}

/// Event from a port's reader thread to its line object.
#[derive(Debug, Clone, Copy)]
enum PeerEvent {
    Connected,
    Gone,
    Hook { at: u64, hook: Hook },
    Line { at: u64, reading: FxoReading },
}

/// A read-only view of a board's sample clock, for threads that need to stamp events.
#[derive(Debug, Clone)]
pub struct SimClock(Arc<AtomicU64>);

impl SimClock {
    /// Sample time of the start of the current tick.
    pub fn samples(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    pub fn now(&self) -> Instant {
        Instant::from_samples(self.samples())
    }
}

struct Channel {
    shared: Arc<PortShared>,
    writer: Thread,
    up: rtrb::Consumer<(u64, Frame)>,
    down: rtrb::Producer<(u64, Frame)>,
}

/// The board's PCM clock: one channel per port, 10 ms ticks on absolute deadlines.
pub struct SimPcm {
    channels: Vec<Channel>,
    period: Duration,
    fifo_frames: usize,
    start: Option<std::time::Instant>,
    tick: u64,
    clock: Arc<AtomicU64>,
    missed_total: u64,
}

impl SimPcm {
    /// A handle other threads can read the sample clock from.
    pub fn clock(&self) -> SimClock {
        SimClock(self.clock.clone())
    }

    /// Ticks skipped so far because the caller was late.
    pub fn missed_total(&self) -> u64 {
        self.missed_total
    }
}

impl PcmBus for SimPcm {
    fn channels(&self) -> usize {
        self.channels.len()
    }

    fn exchange(&mut self, tx: &[Frame], rx: &mut [Frame]) -> Result<TickReport, LineError> {
        if tx.len() != self.channels.len() || rx.len() != self.channels.len() {
            return Err(LineError::Unsupported);
        }
        let mut missed = 0u32;
        match self.start {
            None => self.start = Some(std::time::Instant::now()),
            Some(start) => {
                // Tick n starts at start + n * period: deadlines are absolute, so sleeping late
                // never accumulates drift. A caller that is a little late catches up (ticks
                // run back to back, audio stays continuous); one later than MAX_CATCH_UP
                // periods skips the lost periods, as a hardware xrun would.
                let next = self.tick + 1;
                let due = start + self.period * next as u32;
                let now = std::time::Instant::now();
                if now < due {
                    thread::sleep(due - now);
                    self.tick = next;
                } else {
                    let behind = ((now - due).as_nanos() / self.period.as_nanos().max(1)) as u64;
                    if behind > MAX_CATCH_UP {
                        missed = behind.min(u64::from(u32::MAX)) as u32;
                        self.tick = next + behind;
                    } else {
                        self.tick = next;
                    }
                }
            }
        }
        self.missed_total += u64::from(missed);
        let at = self.tick * FRAME_SAMPLES as u64;
        self.clock.store(at, Ordering::Release);
        for (ch, (t, r)) in self.channels.iter_mut().zip(tx.iter().zip(rx.iter_mut())) {
            let connected = ch.shared.connected.load(Ordering::Acquire);
            let c = &ch.shared.counters;
            // Overrun: the peer is ahead by more than the FIFO depth; drop the oldest.
            while ch.up.slots() > self.fifo_frames {
                let _ = ch.up.pop();
                c.overruns.fetch_add(1, Ordering::Relaxed);
            }
            match ch.up.pop() {
                Ok((_, f)) => *r = f,
                Err(_) => {
                    *r = SILENCE;
                    if connected {
                        c.underruns.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if connected {
                if ch.down.push((at, *t)).is_err() {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                }
                ch.writer.unpark();
            }
        }
        Ok(TickReport {
            tick: self.tick,
            missed,
        })
    }
}

fn send_signals(
    ctrl: &mut rtrb::Producer<Message>,
    shared: &PortShared,
    writer: &Thread,
    s: Signals,
    at: u64,
) {
    if s.is_empty() {
        return;
    }
    for sig in s {
        let m = match sig {
            FxsSignal::Feed(feed) => Message::Feed { at, feed },
            FxsSignal::Ring(on) => Message::Ring { at, on },
        };
        if ctrl.push(m).is_err() {
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    writer.unpark();
}

fn resolve(at: u64, now: Instant) -> Instant {
    if at == 0 { now } else { Instant::from_samples(at) }
}

/// An FXS port of the simulated board: the phone is whatever program connects to it.
pub struct SimFxsLine {
    shared: Arc<PortShared>,
    writer: Thread,
    clock: Arc<AtomicU64>,
    events: rtrb::Consumer<PeerEvent>,
    ctrl: rtrb::Producer<Message>,
    core: FxsLineCore,
}

impl SimFxsLine {
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Times ringing stopped because the phone answered.
    pub fn ring_trips(&self) -> u32 {
        self.core.ring_trips()
    }

    /// Whether ring voltage is on at the moment (the cadence as last polled).
    pub fn ring_on(&self) -> bool {
        self.core.ring_on()
    }

    /// The feed as last set (after ring trip, forward active).
    pub fn feed(&self) -> &LineFeed {
        self.core.feed()
    }
}

impl FxsLine for SimFxsLine {
    fn set_feed(&mut self, feed: LineFeed) -> Result<(), LineError> {
        let at = self.clock.load(Ordering::Acquire);
        let s = self.core.set_feed(feed, Instant::from_samples(at));
        send_signals(&mut self.ctrl, &self.shared, &self.writer, s, at);
        Ok(())
    }

    fn poll(&mut self, now: Instant) -> Result<HookSample, LineError> {
        while let Ok(ev) = self.events.peek() {
            match *ev {
                PeerEvent::Hook { at, hook } => {
                    let at = resolve(at, now);
                    if at > now {
                        // Stamped ahead of the clock: apply when due.
                        break;
                    }
                    self.core.hook_transition(hook, at);
                }
                PeerEvent::Gone => self.core.hook_transition(Hook::OnHook, now),
                PeerEvent::Connected | PeerEvent::Line { .. } => {}
            }
            let _ = self.events.pop();
        }
        let s = self.core.tick(now);
        send_signals(
            &mut self.ctrl,
            &self.shared,
            &self.writer,
            s,
            now.as_micros() / 125,
        );
        Ok(self.core.sample())
    }

    fn next_transition(&mut self) -> Option<HookSample> {
        self.core.next_transition()
    }

    fn reported_until(&self, now: Instant) -> Instant {
        if !self.shared.connected.load(Ordering::Acquire) {
            return now;
        }
        let confirmed = Instant::from_samples(self.shared.confirmed.load(Ordering::Acquire));
        let floor = Instant::from_micros(now.as_micros().saturating_sub(MAX_REPORT_LAG.as_micros() as u64));
        confirmed.max(floor).min(now)
    }
}

/// An FXO port of the simulated board: the exchange line is whatever program connects to it.
pub struct SimFxoLine {
    shared: Arc<PortShared>,
    writer: Thread,
    clock: Arc<AtomicU64>,
    events: rtrb::Consumer<PeerEvent>,
    ctrl: rtrb::Producer<Message>,
    reading: FxoReading,
    off_hook: bool,
}

impl SimFxoLine {
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    pub fn is_off_hook(&self) -> bool {
        self.off_hook
    }
}

impl FxoLine for SimFxoLine {
    fn set_off_hook(&mut self, off_hook: bool) -> Result<(), LineError> {
        if off_hook == self.off_hook {
            return Ok(());
        }
        self.off_hook = off_hook;
        let at = self.clock.load(Ordering::Acquire).max(1);
        let hook = if off_hook { Hook::OffHook } else { Hook::OnHook };
        if self.ctrl.push(Message::Hook { at, hook }).is_err() {
            self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.writer.unpark();
        Ok(())
    }

    fn read(&mut self, now: Instant) -> Result<FxoReading, LineError> {
        while let Ok(ev) = self.events.peek() {
            match *ev {
                PeerEvent::Line { at, reading } => {
                    if resolve(at, now) > now {
                        break;
                    }
                    self.reading = reading;
                }
                PeerEvent::Gone | PeerEvent::Connected => self.reading = FxoReading::default(),
                PeerEvent::Hook { .. } => {}
            }
            let _ = self.events.pop();
        }
        if !self.shared.connected.load(Ordering::Acquire) {
            // No exchange attached: no voltage, no current, no ringing (line absent).
            return Ok(FxoReading::default());
        }
        Ok(self.reading)
    }
}

/// The simulated board: ports listening on loopback, their clock and line objects.
pub struct SimBoard {
    ports: Vec<PortInfo>,
    /// Listening address per port (`None` for a character-device port).
    addrs: Vec<Option<SocketAddr>>,
    shared: Vec<Arc<PortShared>>,
    board: Arc<BoardShared>,
    pcm: Option<SimPcm>,
    fxs: Vec<Option<SimFxsLine>>,
    fxo: Vec<Option<SimFxoLine>>,
    threads: Vec<JoinHandle<()>>,
}

impl SimBoard {
    /// Binds every port on 127.0.0.1 and starts its socket threads.
    pub fn start(cfg: SimBoardConfig) -> io::Result<SimBoard> {
        if cfg.ports.len() > usize::from(u8::MAX) || cfg.period.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sim board: bad port list or period",
            ));
        }
        let board = Arc::new(BoardShared {
            stop: AtomicBool::new(false),
            clock: Arc::new(AtomicU64::new(0)),
        });
        let mut out = SimBoard {
            ports: Vec::new(),
            addrs: Vec::new(),
            shared: Vec::new(),
            board: board.clone(),
            pcm: None,
            fxs: Vec::new(),
            fxo: Vec::new(),
            threads: Vec::new(),
        };
        let mut channels = Vec::new();
        for (i, p) in cfg.ports.iter().enumerate() {
            let (transport, addr) = match cfg.devices.get(i).and_then(|d| d.clone()) {
                Some(path) => (PortTransport::Device { path, file: None }, None),
                None => {
                    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, p.tcp_port))?;
                    let addr = listener.local_addr()?;
                    (PortTransport::Tcp(listener), Some(addr))
                }
            };
            let shared = Arc::new(PortShared {
                index: i as u8,
                kind: p.kind,
                connected: AtomicBool::new(false),
                confirmed: AtomicU64::new(0),
                counters: Counters::default(),
                stream: Mutex::new(None),
                generation: AtomicU64::new(0),
                writer: Mutex::new(None),
            });
            let (up_p, up_c) = rtrb::RingBuffer::new(RING_FRAMES.max(cfg.fifo_frames + 2));
            let (down_p, down_c) = rtrb::RingBuffer::new(RING_FRAMES);
            let (ev_p, ev_c) = rtrb::RingBuffer::new(CTRL_SLOTS);
            let (ctrl_p, ctrl_c) = rtrb::RingBuffer::new(CTRL_SLOTS);

            let (s, b) = (shared.clone(), board.clone());
            let writer = thread::Builder::new()
                .name(format!("sim-port{i}-tx"))
                .spawn(move || writer_thread(s, b, ctrl_c, down_c))?;
            let writer_handle = writer.thread().clone();
            if let Ok(mut g) = shared.writer.lock() {
                *g = Some(writer_handle.clone());
            }
            let (s, b) = (shared.clone(), board.clone());
            let on_device = transport.is_device();
            let reader = thread::Builder::new()
                .name(format!("sim-port{i}-rx"))
                .spawn(move || reader_thread(transport, s, b, up_p, ev_p))?;
            out.threads.push(writer);
            // A read on a character device cannot be interrupted: that reader is left to end
            // with the process rather than joined.
            if !on_device {
                out.threads.push(reader);
            }

            out.ports.push(PortInfo {
                id: PortId(i as u8),
                kind: p.kind,
                pcm_channel: i as u8,
            });
            out.addrs.push(addr);
            channels.push(Channel {
                shared: shared.clone(),
                writer: writer_handle.clone(),
                up: up_c,
                down: down_p,
            });
            match p.kind {
                PortKind::Fxs => {
                    out.fxs.push(Some(SimFxsLine {
                        shared: shared.clone(),
                        writer: writer_handle,
                        clock: board.clock.clone(),
                        events: ev_c,
                        ctrl: ctrl_p,
                        core: FxsLineCore::new(),
                    }));
                    out.fxo.push(None);
                }
                PortKind::Fxo => {
                    out.fxo.push(Some(SimFxoLine {
                        shared: shared.clone(),
                        writer: writer_handle,
                        clock: board.clock.clone(),
                        events: ev_c,
                        ctrl: ctrl_p,
                        reading: FxoReading::default(),
                        off_hook: false,
                    }));
                    out.fxs.push(None);
                }
            }
            out.shared.push(shared);
        }
        out.pcm = Some(SimPcm {
            channels,
            period: cfg.period,
            fifo_frames: cfg.fifo_frames.max(1),
            start: None,
            tick: 0,
            clock: board.clock.clone(),
            missed_total: 0,
        });
        Ok(out)
    }

    /// The ports, in board order.
    pub fn ports(&self) -> &[PortInfo] {
        &self.ports
    }

    /// The loopback address port `id` listens on (`None` for a character-device port).
    pub fn local_addr(&self, id: PortId) -> Option<SocketAddr> {
        self.addrs.get(usize::from(id.0)).copied().flatten()
    }

    /// The board clock (once).
    pub fn take_pcm(&mut self) -> Option<SimPcm> {
        self.pcm.take()
    }

    /// The FXS line of port `id` (once; `None` for an FXO port).
    pub fn take_fxs(&mut self, id: PortId) -> Option<SimFxsLine> {
        self.fxs.get_mut(usize::from(id.0))?.take()
    }

    /// The FXO line of port `id` (once; `None` for an FXS port).
    pub fn take_fxo(&mut self, id: PortId) -> Option<SimFxoLine> {
        self.fxo.get_mut(usize::from(id.0))?.take()
    }

    /// A handle on the board's sample clock.
    pub fn clock(&self) -> SimClock {
        SimClock(self.board.clock.clone())
    }

    /// Counters of port `id`.
    pub fn stats(&self, id: PortId) -> Option<PortStats> {
        let s = self.shared.get(usize::from(id.0))?;
        let c = &s.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Some(PortStats {
            connected: s.connected.load(Ordering::Acquire),
            connections: l(&c.connections),
            frames_in: l(&c.frames_in),
            frames_out: l(&c.frames_out),
            underruns: l(&c.underruns),
            overruns: l(&c.overruns),
            dropped: l(&c.dropped),
            protocol_errors: l(&c.protocol_errors),
        })
    }
}

impl Drop for SimBoard {
    fn drop(&mut self) {
        self.board.stop.store(true, Ordering::Release);
        for (s, addr) in self.shared.iter().zip(&self.addrs) {
            if let Ok(g) = s.stream.lock()
                && let Some(st) = g.as_ref()
            {
                st.shutdown();
            }
            // Wakes the accept() of the port's reader thread.
            if let Some(addr) = addr {
                let _ = TcpStream::connect_timeout(addr, Duration::from_millis(200));
            }
            s.wake_writer();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn expected_role(kind: PortKind) -> Role {
    match kind {
        PortKind::Fxs => Role::Phone,
        PortKind::Fxo => Role::ExchangeLine,
    }
}

/// Accepts one peer at a time and forwards what it sends to the media side.
fn reader_thread(
    mut transport: PortTransport,
    shared: Arc<PortShared>,
    board: Arc<BoardShared>,
    mut up: rtrb::Producer<(u64, Frame)>,
    mut events: rtrb::Producer<PeerEvent>,
) {
    let c = &shared.counters;
    loop {
        let Some(stream) = transport.accept(&board) else {
            return;
        };
        let Ok(mut reader) = stream.try_clone().map(io::BufReader::new) else {
            continue;
        };
        // Handshake: the peer's HELLO within the timeout, then ours (or ERROR).
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        let refuse = |code, why: &str| {
            if let Ok(mut w) = stream.try_clone() {
                let _ = write_message(&mut w, &Message::error(code, why));
                let _ = w.flush();
            }
            stream.shutdown();
        };
        match read_message(&mut reader) {
            // A character device reads end-of-file while its host end has no peer attached.
            Err(e) if transport.is_device() && e.kind() == io::ErrorKind::UnexpectedEof => {
                thread::sleep(DEVICE_RETRY);
                continue;
            }
            Ok(Message::Hello(h)) if h.version != proto::VERSION => {
                refuse(ErrorCode::Version, "unsupported protocol version");
                continue;
            }
            Ok(Message::Hello(h)) if h.kind != shared.kind || h.role != expected_role(shared.kind) => {
                refuse(ErrorCode::WrongRole, "role or port kind does not match this port");
                continue;
            }
            Ok(Message::Hello(_)) => {
                let Ok(mut w) = stream.try_clone() else {
                    continue;
                };
                let hello = Message::Hello(Hello::new(Role::Port, shared.kind, shared.index));
                if write_message(&mut w, &hello).is_err() {
                    continue;
                }
            }
            _ => {
                c.protocol_errors.fetch_add(1, Ordering::Relaxed);
                refuse(ErrorCode::Malformed, "expected HELLO");
                continue;
            }
        }
        stream.set_read_timeout(None);
        // Frames stamped before this connection are stale.
        shared
            .confirmed
            .store(board.clock.load(Ordering::Acquire), Ordering::Release);
        if let Ok(mut g) = shared.stream.lock() {
            *g = stream.try_clone().ok();
        }
        shared.generation.fetch_add(1, Ordering::AcqRel);
        let _ = events.push(PeerEvent::Connected);
        shared.connected.store(true, Ordering::Release);
        c.connections.fetch_add(1, Ordering::Relaxed);
        shared.wake_writer();

        loop {
            let m = match read_message(&mut reader) {
                Ok(m) => m,
                Err(e) => {
                    if e.kind() == io::ErrorKind::InvalidData {
                        c.protocol_errors.fetch_add(1, Ordering::Relaxed);
                        refuse(ErrorCode::Malformed, "malformed message");
                    }
                    break;
                }
            };
            let ok = match (m, shared.kind) {
                (Message::Audio { at, samples }, _) => {
                    c.frames_in.fetch_add(1, Ordering::Relaxed);
                    if up.push((at, samples)).is_err() {
                        c.overruns.fetch_add(1, Ordering::Relaxed);
                    }
                    shared
                        .confirmed
                        .fetch_max(at + FRAME_SAMPLES as u64, Ordering::AcqRel);
                    true
                }
                (Message::Hook { at, hook }, PortKind::Fxs) => {
                    if events.push(PeerEvent::Hook { at, hook }).is_err() {
                        c.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    true
                }
                (Message::Line { at, reading }, PortKind::Fxo) => {
                    if events.push(PeerEvent::Line { at, reading }).is_err() {
                        c.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    true
                }
                (Message::Error { .. }, _) => break,
                (Message::Hello(_), _) => true,
                _ => false,
            };
            if !ok {
                c.protocol_errors.fetch_add(1, Ordering::Relaxed);
                refuse(ErrorCode::Malformed, "message not allowed from this peer");
                break;
            }
        }
        shared.connected.store(false, Ordering::Release);
        if let Ok(mut g) = shared.stream.lock() {
            *g = None;
        }
        shared.generation.fetch_add(1, Ordering::AcqRel);
        let _ = events.push(PeerEvent::Gone);
        stream.shutdown();
        shared.wake_writer();
        if board.stop.load(Ordering::Acquire) {
            return;
        }
    }
}

/// Sends control messages and downlink audio; replays the line state to each new peer.
fn writer_thread(
    shared: Arc<PortShared>,
    board: Arc<BoardShared>,
    mut ctrl: rtrb::Consumer<Message>,
    mut down: rtrb::Consumer<(u64, Frame)>,
) {
    let mut out: Option<BufWriter<PeerStream>> = None;
    let mut generation = 0;
    let mut last_feed: Option<Message> = None;
    let mut last_ring: Option<Message> = None;
    let mut last_hook: Option<Message> = None;
    let c = &shared.counters;
    while !board.stop.load(Ordering::Acquire) {
        let g = shared.generation.load(Ordering::Acquire);
        if g != generation {
            generation = g;
            out = shared
                .stream
                .lock()
                .ok()
                .and_then(|s| s.as_ref().and_then(|s| s.try_clone().ok()))
                .map(BufWriter::new);
            if let Some(w) = out.as_mut() {
                let mut ok = true;
                for m in [&last_feed, &last_ring, &last_hook].into_iter().flatten() {
                    ok &= write_message(w, m).is_ok();
                }
                if !ok {
                    out = None;
                }
            }
        }
        let mut failed = false;
        while let Ok(m) = ctrl.pop() {
            match m {
                Message::Feed { .. } => last_feed = Some(m.clone()),
                Message::Ring { .. } => last_ring = Some(m.clone()),
                Message::Hook { .. } => last_hook = Some(m.clone()),
                _ => {}
            }
            if let Some(w) = out.as_mut() {
                failed |= write_message(w, &m).is_err();
            }
        }
        while let Ok((at, samples)) = down.pop() {
            if let Some(w) = out.as_mut() {
                failed |= write_message(w, &Message::Audio { at, samples }).is_err();
                c.frames_out.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(w) = out.as_mut() {
            failed |= w.flush().is_err();
        }
        if failed {
            // The reader sees the same failure and ends the connection.
            out = None;
        }
        thread::park_timeout(Duration::from_millis(50));
    }
}
