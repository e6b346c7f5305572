//! The tick loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use hal::fxo::{FxoEvent, FxoLine, FxoMonitor, FxoTiming};
use hal::fxs::{FxsEvent, FxsLine, Hook, HookDetector, HookTiming, LineFeed};
use hal::pcm::{Frame, PcmBus, SILENCE};
use hal::{Instant, LineError};

/// Capacity of each queue between the control plane and the loop.
const QUEUE_DEPTH: usize = 256;

/// What the control plane asks of a port.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// Drive an FXS line's feed (ringing, reversal, on-hook transmission...).
    SetFeed { port: u8, feed: LineFeed },
    /// Seize (true) or release an FXO line.
    SetOffHook { port: u8, off_hook: bool },
    /// New hook timing windows for an FXS port (from the port's settings).
    SetHookTiming { port: u8, timing: HookTiming },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEventKind {
    Fxs(FxsEvent),
    Fxo(FxoEvent),
    /// The line backend failed; the port is out of service until it recovers.
    Fault(LineError),
}

/// Something that happened on a port, for the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineEvent {
    pub port: u8,
    pub kind: LineEventKind,
}

/// Counters the loop publishes (read by the status page).
#[derive(Debug, Default)]
pub struct MediaStats {
    pub ticks: AtomicU64,
    /// Periods lost because the loop was late (PCM xruns / sim ticks skipped).
    pub overruns: AtomicU64,
    /// Events dropped because the control plane did not drain its queue.
    pub events_dropped: AtomicU64,
    /// Line backend errors.
    pub line_errors: AtomicU64,
}

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

struct FxsState {
    id: u8,
    line: Box<dyn FxsLine + Send>,
    detector: HookDetector,
    faulted: bool,
}

struct FxoState {
    id: u8,
    line: Box<dyn FxoLine + Send>,
    monitor: FxoMonitor,
    faulted: bool,
}

/// The loop's state: everything it touches per tick is allocated here, up front.
pub struct MediaEngine {
    pcm: Box<dyn PcmBus + Send>,
    fxs: Vec<FxsState>,
    fxo: Vec<FxoState>,
    tx: Vec<Frame>,
    rx: Vec<Frame>,
    commands: rtrb::Consumer<MediaCommand>,
    events: rtrb::Producer<LineEvent>,
    stats: Arc<MediaStats>,
    stop: Arc<AtomicBool>,
}

/// The control plane's side of the loop.
pub struct MediaHandle {
    pub commands: rtrb::Producer<MediaCommand>,
    pub events: rtrb::Consumer<LineEvent>,
    pub stats: Arc<MediaStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), LineError>>>,
}

impl MediaHandle {
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

impl MediaEngine {
    pub fn new(pcm: Box<dyn PcmBus + Send>, ports: Vec<PortLines>) -> (MediaEngine, MediaHandle) {
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(QUEUE_DEPTH);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(QUEUE_DEPTH);
        let stats = Arc::new(MediaStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let channels = pcm.channels();
        let mut fxs = Vec::new();
        let mut fxo = Vec::new();
        for p in ports {
            match p {
                PortLines::Fxs { id, line, .. } => fxs.push(FxsState {
                    id,
                    line,
                    // The default windows are valid by construction.
                    detector: HookDetector::new(HookTiming::default()).unwrap_or_else(|_| unreachable!()),
                    faulted: false,
                }),
                PortLines::Fxo { id, line, .. } => fxo.push(FxoState {
                    id,
                    line,
                    monitor: FxoMonitor::new(FxoTiming::default()),
                    faulted: false,
                }),
            }
        }
        let engine = MediaEngine {
            pcm,
            fxs,
            fxo,
            tx: vec![SILENCE; channels],
            rx: vec![SILENCE; channels],
            commands: cmd_rx,
            events: ev_tx,
            stats: stats.clone(),
            stop: stop.clone(),
        };
        let handle = MediaHandle {
            commands: cmd_tx,
            events: ev_rx,
            stats,
            stop,
            thread: None,
        };
        (engine, handle)
    }

    /// Runs the loop on its own thread.
    pub fn spawn(self, handle: &mut MediaHandle) -> std::io::Result<()> {
        let t = std::thread::Builder::new()
            .name("media".into())
            .spawn(move || self.run())?;
        handle.thread = Some(t);
        Ok(())
    }

    fn emit(&mut self, ev: LineEvent) {
        if self.events.push(ev).is_err() {
            self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn apply(&mut self, cmd: MediaCommand, now: Instant) {
        match cmd {
            MediaCommand::SetFeed { port, feed } => {
                if let Some(p) = self.fxs.iter_mut().find(|p| p.id == port)
                    && p.line.set_feed(feed).is_err()
                {
                    self.stats.line_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            MediaCommand::SetOffHook { port, off_hook } => {
                if let Some(p) = self.fxo.iter_mut().find(|p| p.id == port) {
                    if p.line.set_off_hook(off_hook).is_err() {
                        self.stats.line_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    p.monitor.set_off_hook(off_hook, now);
                }
            }
            MediaCommand::SetHookTiming { port, timing } => {
                if let Some(p) = self.fxs.iter_mut().find(|p| p.id == port)
                    && let Ok(d) = HookDetector::new(timing)
                {
                    // Keep the current hook state across the change.
                    let mut d = d;
                    if p.detector.is_off_hook() {
                        d.hook(Hook::OffHook, now);
                        let _ = d.poll(now);
                    }
                    p.detector = d;
                }
            }
        }
    }

    /// One tick: exchange PCM (waiting for the period), then sample every line.
    pub fn tick(&mut self) -> Result<(), LineError> {
        let report = self.pcm.exchange(&self.tx, &mut self.rx)?;
        self.stats.ticks.fetch_add(1, Ordering::Relaxed);
        if report.missed > 0 {
            self.stats
                .overruns
                .fetch_add(u64::from(report.missed), Ordering::Relaxed);
        }
        let now = Instant::from_samples(report.tick * hal::FRAME_SAMPLES as u64);
        while let Ok(cmd) = self.commands.pop() {
            self.apply(cmd, now);
        }
        for i in 0..self.fxs.len() {
            let p = &mut self.fxs[i];
            let mut out: [Option<LineEvent>; 3] = [None; 3];
            match p.detector.track(p.line.as_mut(), now) {
                Ok(upto) => {
                    p.faulted = false;
                    for slot in out.iter_mut() {
                        match p.detector.poll(upto) {
                            Some(ev) => {
                                *slot = Some(LineEvent {
                                    port: p.id,
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
                            port: p.id,
                            kind: LineEventKind::Fault(e),
                        });
                    }
                    self.stats.line_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            for ev in out.into_iter().flatten() {
                self.emit(ev);
            }
        }
        for i in 0..self.fxo.len() {
            let p = &mut self.fxo[i];
            let mut out: [Option<LineEvent>; 4] = [None; 4];
            match p.line.read(now) {
                Ok(r) => {
                    p.faulted = false;
                    p.monitor.update(r, now);
                    for slot in out.iter_mut() {
                        match p.monitor.poll() {
                            Some(ev) => {
                                *slot = Some(LineEvent {
                                    port: p.id,
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
                            port: p.id,
                            kind: LineEventKind::Fault(e),
                        });
                    }
                    self.stats.line_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            for ev in out.into_iter().flatten() {
                self.emit(ev);
            }
        }
        Ok(())
    }

    fn run(mut self) -> Result<(), LineError> {
        while !self.stop.load(Ordering::Acquire) {
            self.tick()?;
        }
        Ok(())
    }
}
