//! The simulated PSTN exchange.
//!
//! Numbered subscriber lines, each attached one of two ways:
//! - a *line card*: the exchange is the port (clock master) and a virtual phone (`simphone`)
//!   connects to it over the FXS side of the sim protocol;
//! - a *trunk*: the exchange connects to a gateway's FXO port as its exchange line. The gateway is
//!   clock master on that connection, so the exchange bridges two clock domains: see [`TrunkLine`].
//!
//! Per line the exchange gives dial tone (from the country's tone plan), collects DTMF and
//! pulse digits, rings the called line with the plan's cadence (or one configured), sends caller
//! ID between the first and second ring (Bell 202, V.23 or DTMF per line), connects audio both
//! ways, and supervises: answer by polarity reversal toward a caller whose line asks for it, far
//! end clear by polarity reversal, a loop current drop (CPC) or a disconnect (busy) tone, per the
//! line's [`Supervision`]. A busy line gives busy tone; an unobtainable number gives SIT (or
//! congestion where the plan has no SIT); a line left too long without dialling gets congestion.
//!
//! Configuration is [`ExchangeConfig`], from TOML ([`ExchangeConfig::from_toml`]) or built in
//! code; [`Exchange::start`] runs it on its own thread.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use codecs::callerid::{CallerId, CidEncoder, CidFormat, CidStandard};
use codecs::dtmf::{DtmfDetector, DtmfEventKind};
use codecs::tones::{ToneGenerator, ToneKind, TonePlan};
use hal::Instant;
use hal::LineError;
use hal::board::{PortId, PortKind};
use hal::fxo::FxoReading;
use hal::fxs::{FxsEventKind, FxsLine, Hook, HookDetector, HookSample, HookTiming, LineFeed, RingCadence};
use hal::pcm::{FRAME_SAMPLES, Frame, PcmBus, SILENCE};
use hal::sim::core::FxsLineCore;
use hal::sim::proto::{Message, Role};
use hal::sim::{SimBoard, SimBoardConfig, SimClock, SimFxsLine, SimPortConfig, peer};
use serde::Deserialize;

/// How the exchange tells a line that the far end hung up (and, for reversal, that it answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Supervision {
    /// Battery polarity reversal: reversed toward a caller when the called party answers, and
    /// reversed again when the far end clears.
    Reversal,
    /// Calling party control: the loop feed is removed for `cpc_ms` when the far end clears.
    Cpc,
    /// Disconnect tone (the plan's busy tone) when the far end clears.
    Tone,
}

/// Where a subscriber line is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// A line card listening on this loopback TCP port (0: any free port) for a virtual phone.
    Card { tcp_port: u16 },
    /// A trunk: the exchange connects to the gateway FXO port at this loopback address.
    Trunk { connect: SocketAddr },
}

/// One subscriber line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineConfig {
    pub number: String,
    /// Presented as caller ID name.
    pub name: String,
    pub attach: Attachment,
    /// Caller ID standard sent to this line when it is called.
    pub cid: CidStandard,
    pub supervision: Supervision,
    /// Length of the CPC open interval.
    pub cpc: Duration,
}

/// The exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeConfig {
    /// ISO 3166 code of the tone plan (dial, ringback, busy, congestion, SIT, ring cadence).
    pub country: String,
    /// Ring cadence as (on ms, off ms) pairs, replacing the plan's.
    pub ring: Option<Vec<(u16, u16)>>,
    /// Time allowed before the first digit and between digits.
    pub first_digit: Duration,
    pub interdigit: Duration,
    pub lines: Vec<LineConfig>,
}

/// Why a configuration was refused.
#[derive(Debug)]
pub enum ConfigError {
    Toml(String),
    UnknownCountry(String),
    /// Field and what is wrong with it.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Toml(e) => write!(f, "exchange config: {e}"),
            ConfigError::UnknownCountry(c) => write!(f, "exchange config: no tone plan for country {c:?}"),
            ConfigError::Invalid(e) => write!(f, "exchange config: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlExchange {
    country: Option<String>,
    ring: Option<Vec<(u16, u16)>>,
    first_digit_ms: Option<u64>,
    interdigit_ms: Option<u64>,
    #[serde(default)]
    line: Vec<TomlLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlLine {
    number: String,
    name: Option<String>,
    listen: Option<u16>,
    trunk: Option<SocketAddr>,
    cid: Option<String>,
    supervision: Option<Supervision>,
    cpc_ms: Option<u64>,
}

/// Parses a caller ID standard name: `bell202`, `v23` (ETSI FSK) or `dtmf`.
pub fn parse_cid(s: &str) -> Option<CidStandard> {
    match s.to_ascii_lowercase().as_str() {
        "bell202" | "bell" | "fsk" => Some(CidStandard::Bell202),
        "v23" | "etsi" => Some(CidStandard::V23),
        "dtmf" => Some(CidStandard::Dtmf),
        _ => None,
    }
}

impl LineConfig {
    /// A line card for a virtual phone, Bell 202 caller ID, disconnect by reversal.
    pub fn card(number: &str, tcp_port: u16) -> Self {
        LineConfig {
            number: number.into(),
            name: String::new(),
            attach: Attachment::Card { tcp_port },
            cid: CidStandard::Bell202,
            supervision: Supervision::Reversal,
            cpc: Duration::from_millis(300),
        }
    }

    /// A trunk toward a gateway FXO port.
    pub fn trunk(number: &str, connect: SocketAddr) -> Self {
        LineConfig {
            attach: Attachment::Trunk { connect },
            ..LineConfig::card(number, 0)
        }
    }
}

impl ExchangeConfig {
    pub fn new(country: &str, lines: Vec<LineConfig>) -> Self {
        ExchangeConfig {
            country: country.into(),
            ring: None,
            first_digit: Duration::from_secs(10),
            interdigit: Duration::from_secs(5),
            lines,
        }
    }

    /// Reads the TOML form (see `docs/sim-protocol.md`).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let t: TomlExchange = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let mut lines = Vec::new();
        for l in t.line {
            let attach = match (l.listen, l.trunk) {
                (Some(p), None) => Attachment::Card { tcp_port: p },
                (None, Some(a)) => Attachment::Trunk { connect: a },
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "line {}: give exactly one of `listen` (line card) or `trunk` (FXO port address)",
                        l.number
                    )));
                }
            };
            let cid = match l.cid.as_deref() {
                None => CidStandard::Bell202,
                Some(s) => parse_cid(s)
                    .ok_or_else(|| ConfigError::Invalid(format!("line {}: unknown cid {s:?}", l.number)))?,
            };
            lines.push(LineConfig {
                number: l.number,
                name: l.name.unwrap_or_default(),
                attach,
                cid,
                supervision: l.supervision.unwrap_or(Supervision::Reversal),
                cpc: Duration::from_millis(l.cpc_ms.unwrap_or(300)),
            });
        }
        let mut c = ExchangeConfig::new(t.country.as_deref().unwrap_or("US"), lines);
        c.ring = t.ring;
        if let Some(ms) = t.first_digit_ms {
            c.first_digit = Duration::from_millis(ms);
        }
        if let Some(ms) = t.interdigit_ms {
            c.interdigit = Duration::from_millis(ms);
        }
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if TonePlan::for_country(&self.country).is_none() {
            return Err(ConfigError::UnknownCountry(self.country.clone()));
        }
        let mut seen = std::collections::HashSet::new();
        for l in &self.lines {
            if l.number.is_empty() || !l.number.chars().all(|c| c.is_ascii_digit()) {
                return Err(ConfigError::Invalid(format!(
                    "number {:?} must be digits",
                    l.number
                )));
            }
            if !seen.insert(&l.number) {
                return Err(ConfigError::Invalid(format!("number {} appears twice", l.number)));
            }
            if let Attachment::Trunk { connect } = l.attach
                && !connect.ip().is_loopback()
            {
                return Err(ConfigError::Invalid(format!(
                    "line {}: trunks connect to loopback only",
                    l.number
                )));
            }
        }
        if let Some(r) = &self.ring
            && RingCadence::new(r, 20).is_none()
        {
            return Err(ConfigError::Invalid(
                "ring cadence: 1 to 4 (on, off) pairs".into(),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Trunks: the exchange as the exchange line of a gateway FXO port.

/// Frames buffered each way between the gateway's clock and the exchange's.
const SLIP_FRAMES: usize = 4;

fn pack(r: FxoReading) -> u64 {
    u64::from(r.ringing) << 32 | u64::from(r.tip_ring_volts as u16) << 16 | u64::from(r.loop_current_ma)
}

fn unpack(v: u64) -> FxoReading {
    FxoReading {
        ringing: v >> 32 & 1 == 1,
        tip_ring_volts: (v >> 16) as u16 as i16,
        loop_current_ma: v as u16,
    }
}

/// What the trunk's electrical state looks like from the FXO side.
pub fn line_reading(feed: &LineFeed, ring_on: bool, hook: Hook) -> FxoReading {
    let off = hook == Hook::OffHook;
    let (volts, ma) = if off { (8, 30) } else { (48, 0) };
    match feed {
        LineFeed::Open => FxoReading::default(),
        LineFeed::ForwardActive | LineFeed::OnHookTransmission { reverse: false } => FxoReading {
            ringing: false,
            tip_ring_volts: volts,
            loop_current_ma: ma,
        },
        LineFeed::ReverseActive | LineFeed::OnHookTransmission { reverse: true } => FxoReading {
            ringing: false,
            tip_ring_volts: -volts,
            loop_current_ma: ma,
        },
        LineFeed::Ringing(_) => FxoReading {
            ringing: ring_on,
            tip_ring_volts: volts,
            loop_current_ma: ma,
        },
    }
}

#[derive(Debug, Clone, Copy)]
enum TrunkEvent {
    Hook { at: u64, hook: Hook },
    Gone,
}

/// Counters of a trunk's clock bridge.
#[derive(Debug, Default)]
pub struct SlipCounters {
    /// Exchange ticks with no gateway frame waiting (silence inserted).
    pub rx_slips_insert: AtomicU64,
    /// Gateway frames dropped because the exchange fell behind.
    pub rx_slips_drop: AtomicU64,
    /// Gateway ticks with no exchange frame waiting (silence sent).
    pub tx_slips_insert: AtomicU64,
    /// Exchange frames dropped because the gateway fell behind.
    pub tx_slips_drop: AtomicU64,
}

/// A trunk toward a gateway FXO port, as the exchange's line logic sees it: an [`FxsLine`] plus
/// an audio channel.
///
/// Clock bridging: the gateway is clock master on the trunk connection and the exchange runs its
/// own clock for its line cards. Audio crosses between the two domains through two rings of
/// [`SLIP_FRAMES`] frames. Whichever side finds its ring empty inserts a frame of silence, and
/// a ring holding more than [`SLIP_FRAMES`] frames drops its oldest: a controlled frame slip, as
/// between two plesiochronous PCM networks (ITU-T G.822). Hook transitions from the gateway,
/// stamped on its clock, are moved to the exchange's clock by the offset between the two
/// measured when they arrive, so pulse timing survives the bridge exactly.
pub struct TrunkLine {
    core: FxsLineCore,
    events: rtrb::Consumer<TrunkEvent>,
    reading: Arc<AtomicU64>,
    connected: Arc<AtomicBool>,
    rx: rtrb::Consumer<Frame>,
    tx: rtrb::Producer<Frame>,
    slips: Arc<SlipCounters>,
    now: Instant,
}

impl TrunkLine {
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The next frame from the gateway (silence on a slip).
    pub fn receive(&mut self) -> Frame {
        while self.rx.slots() > SLIP_FRAMES {
            let _ = self.rx.pop();
            self.slips.rx_slips_drop.fetch_add(1, Ordering::Relaxed);
        }
        match self.rx.pop() {
            Ok(f) => f,
            Err(_) => {
                if self.is_connected() {
                    self.slips.rx_slips_insert.fetch_add(1, Ordering::Relaxed);
                }
                SILENCE
            }
        }
    }

    /// Queues a frame toward the gateway.
    pub fn send(&mut self, f: &Frame) {
        if self.is_connected() && self.tx.push(*f).is_err() {
            self.slips.tx_slips_drop.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn publish(&self) {
        let r = line_reading(self.core.feed(), self.core.ring_on(), self.core.hook());
        self.reading.store(pack(r), Ordering::Release);
    }
}

impl FxsLine for TrunkLine {
    fn set_feed(&mut self, feed: LineFeed) -> Result<(), LineError> {
        let _ = self.core.set_feed(feed, self.now);
        self.publish();
        Ok(())
    }

    fn poll(&mut self, now: Instant) -> Result<HookSample, LineError> {
        while let Ok(ev) = self.events.pop() {
            match ev {
                TrunkEvent::Hook { at, hook } => self
                    .core
                    .hook_transition(hook, Instant::from_samples(at).min(now)),
                TrunkEvent::Gone => self.core.hook_transition(Hook::OnHook, now),
            }
        }
        self.now = now;
        let _ = self.core.tick(now);
        self.publish();
        Ok(self.core.sample())
    }

    fn next_transition(&mut self) -> Option<HookSample> {
        self.core.next_transition()
    }
}

/// Starts the thread that keeps a trunk connected to the gateway FXO port at `addr`.
fn start_trunk(
    addr: SocketAddr,
    clock: SimClock,
    stop: Arc<AtomicBool>,
) -> io::Result<(TrunkLine, JoinHandle<()>)> {
    let (ev_p, ev_c) = rtrb::RingBuffer::new(64);
    let (rx_p, rx_c) = rtrb::RingBuffer::new(SLIP_FRAMES * 4);
    let (tx_p, tx_c) = rtrb::RingBuffer::new(SLIP_FRAMES * 4);
    let reading = Arc::new(AtomicU64::new(pack(line_reading(
        &LineFeed::ForwardActive,
        false,
        Hook::OnHook,
    ))));
    let connected = Arc::new(AtomicBool::new(false));
    let slips = Arc::new(SlipCounters::default());
    let line = TrunkLine {
        core: FxsLineCore::new(),
        events: ev_c,
        reading: reading.clone(),
        connected: connected.clone(),
        rx: rx_c,
        tx: tx_p,
        slips: slips.clone(),
        now: Instant::ZERO,
    };
    let h = thread::Builder::new()
        .name("pstn-trunk".into())
        .spawn(move || trunk_thread(addr, clock, stop, reading, connected, slips, ev_p, rx_p, tx_c))?;
    Ok((line, h))
}

#[allow(clippy::too_many_arguments)]
fn trunk_thread(
    addr: SocketAddr,
    clock: SimClock,
    stop: Arc<AtomicBool>,
    reading: Arc<AtomicU64>,
    connected: Arc<AtomicBool>,
    slips: Arc<SlipCounters>,
    mut events: rtrb::Producer<TrunkEvent>,
    mut rx: rtrb::Producer<Frame>,
    mut tx: rtrb::Consumer<Frame>,
) {
    while !stop.load(Ordering::Acquire) {
        let Ok((_, mut reader, mut writer)) = peer::connect(
            addr,
            Role::ExchangeLine,
            PortKind::Fxo,
            Duration::from_millis(500),
        ) else {
            thread::sleep(Duration::from_millis(200));
            continue;
        };
        let _ = reader.set_timeout(Some(Duration::from_millis(500)));
        let mut sent = u64::MAX;
        // Stale audio from a previous connection.
        while tx.pop().is_ok() {}
        connected.store(true, Ordering::Release);
        let mut gw_end = 0u64;
        while !stop.load(Ordering::Acquire) {
            let m = match reader.recv() {
                Ok(m) => m,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                Err(_) => break,
            };
            match m {
                Message::Audio { at, samples } => {
                    gw_end = at + FRAME_SAMPLES as u64;
                    if rx.push(samples).is_err() {
                        slips.rx_slips_drop.fetch_add(1, Ordering::Relaxed);
                    }
                    let r = reading.load(Ordering::Acquire);
                    let mut ok = true;
                    if r != sent {
                        sent = r;
                        ok &= writer
                            .send(&Message::Line {
                                at: 0,
                                reading: unpack(r),
                            })
                            .is_ok();
                    }
                    while tx.slots() > SLIP_FRAMES {
                        let _ = tx.pop();
                        slips.tx_slips_drop.fetch_add(1, Ordering::Relaxed);
                    }
                    let f = tx.pop().unwrap_or_else(|_| {
                        slips.tx_slips_insert.fetch_add(1, Ordering::Relaxed);
                        SILENCE
                    });
                    ok &= writer.send(&Message::Audio { at, samples: f }).is_ok();
                    if !ok || writer.flush().is_err() {
                        break;
                    }
                }
                Message::Hook { at, hook } => {
                    // Gateway clock -> exchange clock: same distance before "now" on both.
                    let ago = if at == 0 { 0 } else { gw_end.saturating_sub(at) };
                    let at = clock.samples().saturating_sub(ago).max(1);
                    let _ = events.push(TrunkEvent::Hook { at, hook });
                }
                Message::Error { .. } => break,
                _ => {}
            }
        }
        connected.store(false, Ordering::Release);
        let _ = events.push(TrunkEvent::Gone);
        writer.close();
    }
}

/// When caller ID starts after ringing starts: in the longest pause of the first cadence cycle
/// (the pause after the first ring, or after the first double ring of a UK-style cadence), 500 ms
/// into it as Telcordia GR-30 and ETSI EN 300 659-1 ask, or a quarter into a short pause.
pub fn cid_delay(c: &RingCadence) -> Duration {
    let mut t = 0u64;
    let mut best = (0u64, 0u64);
    for s in &c.segments {
        t += u64::from(s.on_ms);
        if u64::from(s.off_ms) > best.1 {
            best = (t, u64::from(s.off_ms));
        }
        t += u64::from(s.off_ms);
    }
    let (start, off) = best;
    Duration::from_millis(start + if off >= 1500 { 500 } else { off / 4 })
}

// ---------------------------------------------------------------------------------------------
// The switch.

enum Port {
    Card { line: SimFxsLine, channel: usize },
    Trunk(TrunkLine),
}

impl Port {
    fn fxs(&mut self) -> &mut dyn FxsLine {
        match self {
            Port::Card { line, .. } => line,
            Port::Trunk(t) => t,
        }
    }
    fn attached(&self) -> bool {
        match self {
            Port::Card { line, .. } => line.is_connected(),
            Port::Trunk(t) => t.is_connected(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Idle,
    /// Off-hook, dial tone until the first digit.
    Dialling {
        digits: String,
        last: Instant,
    },
    /// Caller waiting for the called line `peer` to answer (ringback).
    Alerting {
        peer: usize,
    },
    /// Being rung by `peer`, since `since`.
    Ringing {
        peer: usize,
        since: Instant,
        cid_sent: bool,
    },
    Connected {
        peer: usize,
    },
    /// A tone until the line hangs up (busy, congestion, SIT).
    Tone(ToneKind),
    /// The far end cleared; supervision applied, waiting for this line to hang up.
    Cleared {
        since: Instant,
    },
}

/// A line's state as [`ExchangeHandle::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineStatus {
    pub number: String,
    pub attached: bool,
    pub off_hook: bool,
    /// `idle`, `dialling`, `alerting`, `ringing`, `connected`, `busy`, `congestion`, `sit`,
    /// `cleared`...
    pub state: String,
    /// Digits collected in the current or last call attempt.
    pub digits: String,
    /// Number this line is ringing, alerting or connected to.
    pub peer: Option<String>,
}

struct Line {
    cfg: LineConfig,
    port: Port,
    det: HookDetector,
    dtmf: DtmfDetector,
    call: Call,
    tone: Option<ToneGenerator<'static>>,
    cid: Option<CidEncoder>,
    /// Restore the forward feed at this instant (end of a CPC open interval).
    cpc_until: Option<Instant>,
    digits: String,
    rx: Frame,
}

struct Switch {
    plan: &'static TonePlan,
    cadence: RingCadence,
    /// From the start of ringing to the start of caller ID.
    cid_delay: Duration,
    first_digit: Duration,
    interdigit: Duration,
    lines: Vec<Line>,
    by_number: HashMap<String, usize>,
    status: Arc<Mutex<Vec<LineStatus>>>,
}

fn state_name(c: &Call) -> &'static str {
    match c {
        Call::Idle => "idle",
        Call::Dialling { .. } => "dialling",
        Call::Alerting { .. } => "alerting",
        Call::Ringing { .. } => "ringing",
        Call::Connected { .. } => "connected",
        Call::Tone(k) => k.name(),
        Call::Cleared { .. } => "cleared",
    }
}

impl Switch {
    fn tone(&mut self, i: usize, kind: Option<ToneKind>) {
        let plan = self.plan;
        self.lines[i].tone = kind.and_then(|k| plan.tone(k)).map(ToneGenerator::new);
    }

    fn set_feed(&mut self, i: usize, feed: LineFeed) {
        let _ = self.lines[i].port.fxs().set_feed(feed);
    }

    fn enter(&mut self, i: usize, call: Call) {
        self.lines[i].call = call;
    }

    /// Line `i` hung up (or was detached): release it and whoever it was talking to.
    fn release(&mut self, i: usize, now: Instant) {
        let call = std::mem::replace(&mut self.lines[i].call, Call::Idle);
        self.tone(i, None);
        self.lines[i].cid = None;
        self.lines[i].cpc_until = None;
        self.set_feed(i, LineFeed::ForwardActive);
        match call {
            Call::Alerting { peer } => {
                // Caller gave up: stop ringing the called line.
                self.lines[peer].cid = None;
                self.set_feed(peer, LineFeed::ForwardActive);
                self.enter(peer, Call::Idle);
            }
            Call::Ringing { peer, .. } => {
                self.tone(peer, Some(ToneKind::Congestion));
                self.enter(peer, Call::Tone(ToneKind::Congestion));
            }
            Call::Connected { peer } => self.far_end_cleared(peer, now),
            _ => {}
        }
    }

    /// Signals to line `i` that its correspondent hung up, the way its configuration asks.
    fn far_end_cleared(&mut self, i: usize, now: Instant) {
        self.enter(i, Call::Cleared { since: now });
        match self.lines[i].cfg.supervision {
            Supervision::Reversal => {
                let reversed = matches!(self.lines[i].port.fxs_feed(), Some(LineFeed::ReverseActive));
                self.set_feed(
                    i,
                    if reversed {
                        LineFeed::ForwardActive
                    } else {
                        LineFeed::ReverseActive
                    },
                );
            }
            Supervision::Cpc => {
                self.set_feed(i, LineFeed::Open);
                self.lines[i].cpc_until = Some(now + self.lines[i].cfg.cpc);
            }
            Supervision::Tone => self.tone(i, Some(ToneKind::Busy)),
        }
    }

    fn route(&mut self, i: usize, now: Instant) {
        let digits = self.lines[i].digits.clone();
        if let Some(&j) = self.by_number.get(&digits) {
            let free = j != i
                && self.lines[j].call == Call::Idle
                && !self.lines[j].det.is_off_hook()
                && self.lines[j].port.attached();
            if !free {
                let kind = if j != i && !self.lines[j].port.attached() {
                    ToneKind::Congestion
                } else {
                    ToneKind::Busy
                };
                self.tone(i, Some(kind));
                self.enter(i, Call::Tone(kind));
                return;
            }
            self.tone(i, Some(ToneKind::Ringback));
            self.enter(i, Call::Alerting { peer: j });
            let cad = self.cadence.clone();
            self.set_feed(j, LineFeed::Ringing(cad));
            self.enter(
                j,
                Call::Ringing {
                    peer: i,
                    since: now,
                    cid_sent: false,
                },
            );
            return;
        }
        if !self.by_number.keys().any(|n| n.starts_with(&digits)) {
            self.unobtainable(i);
        }
    }

    fn unobtainable(&mut self, i: usize) {
        let kind = if self.plan.tone(ToneKind::Sit).is_some() {
            ToneKind::Sit
        } else {
            ToneKind::Congestion
        };
        self.tone(i, Some(kind));
        self.enter(i, Call::Tone(kind));
    }

    fn digit(&mut self, i: usize, d: char, now: Instant) {
        if let Call::Dialling { last, .. } = &mut self.lines[i].call {
            *last = now;
            self.lines[i].digits.push(d);
            self.tone(i, None);
            self.route(i, now);
        }
    }

    fn hook_event(&mut self, i: usize, kind: FxsEventKind, at: Instant, now: Instant) {
        match kind {
            FxsEventKind::OffHook => match self.lines[i].call.clone() {
                Call::Idle => {
                    self.lines[i].digits.clear();
                    self.lines[i].dtmf.reset();
                    self.tone(i, Some(ToneKind::Dial));
                    self.enter(
                        i,
                        Call::Dialling {
                            digits: String::new(),
                            last: at,
                        },
                    );
                }
                Call::Ringing { peer, .. } => {
                    // Answer.
                    self.lines[i].cid = None;
                    self.tone(peer, None);
                    self.enter(i, Call::Connected { peer });
                    self.enter(peer, Call::Connected { peer: i });
                    if self.lines[peer].cfg.supervision == Supervision::Reversal {
                        self.set_feed(peer, LineFeed::ReverseActive);
                    }
                }
                _ => {}
            },
            FxsEventKind::OnHook => self.release(i, now),
            FxsEventKind::PulseDigit { digit } => self.digit(i, char::from(b'0' + digit), now),
            FxsEventKind::HookFlash { .. } => {}
        }
    }

    fn tick(&mut self, now: Instant) {
        for i in 0..self.lines.len() {
            // Hook gestures.
            let line = &mut self.lines[i];
            let upto = match &mut line.port {
                Port::Card { line: l, .. } => line.det.track(l, now),
                Port::Trunk(t) => line.det.track(t, now),
            }
            .unwrap_or(now);
            while let Some(ev) = self.lines[i].det.poll(upto) {
                self.hook_event(i, ev.kind, ev.at, now);
            }
            // In-band digits while dialling.
            if let Call::Dialling { .. } = self.lines[i].call {
                let rx = self.lines[i].rx;
                self.lines[i].dtmf.process(&rx);
                while let Some(e) = self.lines[i].dtmf.poll() {
                    if e.kind == DtmfEventKind::Start {
                        self.digit(i, e.digit, now);
                    }
                }
            }
            // Timers.
            match self.lines[i].call.clone() {
                Call::Dialling { last, .. } => {
                    let limit = if self.lines[i].digits.is_empty() {
                        self.first_digit
                    } else {
                        self.interdigit
                    };
                    if now - last > limit {
                        if self.lines[i].digits.is_empty() {
                            self.tone(i, Some(ToneKind::Congestion));
                            self.enter(i, Call::Tone(ToneKind::Congestion));
                        } else {
                            self.unobtainable(i);
                        }
                    }
                }
                Call::Ringing {
                    peer,
                    since,
                    cid_sent: false,
                } if now - since >= self.cid_delay => {
                    let caller = &self.lines[peer].cfg;
                    let id = CallerId::new(&caller.number, &caller.name).unwrap_or_default();
                    let fmt = if self.lines[i].cfg.cid == CidStandard::Dtmf {
                        CidFormat::Dtmf
                    } else {
                        CidFormat::Mdmf
                    };
                    self.lines[i].cid = CidEncoder::new(&id, self.lines[i].cfg.cid, fmt).ok();
                    self.enter(
                        i,
                        Call::Ringing {
                            peer,
                            since,
                            cid_sent: true,
                        },
                    );
                }
                _ => {}
            }
            if let Some(t) = self.lines[i].cpc_until
                && now >= t
            {
                self.lines[i].cpc_until = None;
                self.set_feed(i, LineFeed::ForwardActive);
            }
            if !self.lines[i].port.attached()
                && self.lines[i].call != Call::Idle
                && !self.lines[i].det.is_off_hook()
            {
                self.release(i, now);
            }
        }
    }

    /// The frame each line hears this tick.
    fn output(&mut self, i: usize) -> Frame {
        let mut f = SILENCE;
        if let Some(c) = self.lines[i].cid.as_mut() {
            c.fill(&mut f);
            if c.is_done() {
                self.lines[i].cid = None;
            }
            return f;
        }
        if let Call::Connected { peer } = self.lines[i].call {
            return self.lines[peer].rx;
        }
        if let Some(t) = self.lines[i].tone.as_mut() {
            t.fill(&mut f);
        }
        f
    }

    /// Updates the shared status; allocates only for lines whose state changed.
    fn publish(&self) {
        let Ok(mut st) = self.status.lock() else { return };
        if st.len() != self.lines.len() {
            *st = self
                .lines
                .iter()
                .map(|l| LineStatus::blank(&l.cfg.number))
                .collect();
        }
        for (l, s) in self.lines.iter().zip(st.iter_mut()) {
            let peer = match l.call {
                Call::Alerting { peer } | Call::Ringing { peer, .. } | Call::Connected { peer } => {
                    Some(self.lines[peer].cfg.number.as_str())
                }
                _ => None,
            };
            let state = state_name(&l.call);
            if s.attached != l.port.attached()
                || s.off_hook != l.det.is_off_hook()
                || s.state != state
                || s.digits != l.digits
                || s.peer.as_deref() != peer
            {
                s.attached = l.port.attached();
                s.off_hook = l.det.is_off_hook();
                s.state = state.to_string();
                s.digits.clone_from(&l.digits);
                s.peer = peer.map(str::to_string);
            }
        }
    }
}

impl LineStatus {
    fn blank(number: &str) -> Self {
        LineStatus {
            number: number.to_string(),
            attached: false,
            off_hook: false,
            state: String::new(),
            digits: String::new(),
            peer: None,
        }
    }
}

impl Port {
    fn fxs_feed(&self) -> Option<LineFeed> {
        match self {
            Port::Card { line, .. } => Some(line.feed().clone()),
            Port::Trunk(t) => Some(t.core.feed().clone()),
        }
    }
}

/// A running exchange.
pub struct ExchangeHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    addrs: HashMap<String, SocketAddr>,
    status: Arc<Mutex<Vec<LineStatus>>>,
}

impl ExchangeHandle {
    /// The loopback address a phone for line `number` connects to (line cards only).
    pub fn line_addr(&self, number: &str) -> Option<SocketAddr> {
        self.addrs.get(number).copied()
    }

    /// Every line's state.
    pub fn status(&self) -> Vec<LineStatus> {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The state of line `number`.
    pub fn line(&self, number: &str) -> Option<LineStatus> {
        self.status().into_iter().find(|l| l.number == number)
    }

    /// Stops the exchange and waits for its threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for ExchangeHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The exchange.
pub struct Exchange;

impl Exchange {
    /// Binds the line cards, starts the trunks and the switching thread.
    pub fn start(cfg: ExchangeConfig) -> Result<ExchangeHandle, ConfigError> {
        cfg.validate()?;
        let plan = TonePlan::for_country(&cfg.country)
            .ok_or_else(|| ConfigError::UnknownCountry(cfg.country.clone()))?;
        let cadence = match &cfg.ring {
            Some(r) => RingCadence::new(r, plan.ring.freq_hz),
            None => RingCadence::new(plan.ring.pattern, plan.ring.freq_hz),
        }
        .ok_or_else(|| ConfigError::Invalid("ring cadence".into()))?;
        let io_err = |e: io::Error| ConfigError::Invalid(format!("cannot start: {e}"));

        let cards: Vec<SimPortConfig> = cfg
            .lines
            .iter()
            .filter_map(|l| match l.attach {
                Attachment::Card { tcp_port } => Some(SimPortConfig {
                    kind: PortKind::Fxs,
                    tcp_port,
                }),
                Attachment::Trunk { .. } => None,
            })
            .collect();
        let mut board = SimBoard::start(SimBoardConfig::new(cards)).map_err(io_err)?;
        let mut pcm = board
            .take_pcm()
            .ok_or_else(|| ConfigError::Invalid("no clock".into()))?;
        let clock = pcm.clock();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut addrs = HashMap::new();
        let mut lines = Vec::new();
        let mut channel = 0usize;
        for l in &cfg.lines {
            let port = match l.attach {
                Attachment::Card { .. } => {
                    let id = PortId(channel as u8);
                    if let Some(a) = board.local_addr(id) {
                        addrs.insert(l.number.clone(), a);
                    }
                    let line = board
                        .take_fxs(id)
                        .ok_or_else(|| ConfigError::Invalid("line card".into()))?;
                    channel += 1;
                    Port::Card {
                        line,
                        channel: channel - 1,
                    }
                }
                Attachment::Trunk { connect } => {
                    let (t, h) = start_trunk(connect, clock.clone(), stop.clone()).map_err(io_err)?;
                    threads.push(h);
                    Port::Trunk(t)
                }
            };
            lines.push(Line {
                cfg: l.clone(),
                port,
                det: HookDetector::new(HookTiming::default())
                    .map_err(|_| ConfigError::Invalid("hook timing".into()))?,
                dtmf: DtmfDetector::new(),
                call: Call::Idle,
                tone: None,
                cid: None,
                cpc_until: None,
                digits: String::new(),
                rx: SILENCE,
            });
        }
        let by_number = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.cfg.number.clone(), i))
            .collect();
        let status = Arc::new(Mutex::new(Vec::new()));
        let mut sw = Switch {
            plan,
            cid_delay: cid_delay(&cadence),
            cadence,
            first_digit: cfg.first_digit,
            interdigit: cfg.interdigit,
            lines,
            by_number,
            status: status.clone(),
        };
        sw.publish();
        let st = stop.clone();
        let h = thread::Builder::new()
            .name("pstn".into())
            .spawn(move || {
                let n = channel;
                let mut tx = vec![SILENCE; n];
                let mut rx = vec![SILENCE; n];
                while !st.load(Ordering::Acquire) {
                    let Ok(r) = pcm.exchange(&tx, &mut rx) else { break };
                    let now = Instant::from_samples(r.tick * FRAME_SAMPLES as u64);
                    for l in sw.lines.iter_mut() {
                        l.rx = match &mut l.port {
                            Port::Card { channel, .. } => rx[*channel],
                            Port::Trunk(t) => t.receive(),
                        };
                    }
                    sw.tick(now);
                    for i in 0..sw.lines.len() {
                        let f = sw.output(i);
                        match &mut sw.lines[i].port {
                            Port::Card { channel, .. } => tx[*channel] = f,
                            Port::Trunk(t) => t.send(&f),
                        }
                    }
                    sw.publish();
                }
                // Keep the board (and its listeners) alive until the loop ends.
                drop(board);
            })
            .map_err(io_err)?;
        threads.push(h);
        Ok(ExchangeHandle {
            stop,
            threads,
            addrs,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_id_goes_in_the_longest_first_pause() {
        let us = RingCadence::new(&[(2000, 4000)], 20).unwrap();
        assert_eq!(cid_delay(&us), Duration::from_millis(2500));
        let uk = RingCadence::new(&[(400, 200), (400, 2000)], 25).unwrap();
        assert_eq!(cid_delay(&uk), Duration::from_millis(1500));
        let short = RingCadence::new(&[(1000, 1000)], 25).unwrap();
        assert_eq!(cid_delay(&short), Duration::from_millis(1250));
    }

    #[test]
    fn toml_config() {
        let c = ExchangeConfig::from_toml(
            r#"
            country = "GB"
            ring = [[1000, 3000]]
            interdigit_ms = 4000
            [[line]]
            number = "201"
            name = "ALICE"
            listen = 7101
            cid = "v23"
            supervision = "cpc"
            cpc_ms = 250
            [[line]]
            number = "300"
            trunk = "127.0.0.1:7003"
            "#,
        )
        .unwrap();
        assert_eq!(c.country, "GB");
        assert_eq!(c.ring, Some(vec![(1000, 3000)]));
        assert_eq!(c.interdigit, Duration::from_millis(4000));
        assert_eq!(c.lines[0].attach, Attachment::Card { tcp_port: 7101 });
        assert_eq!(
            (c.lines[0].cid, c.lines[0].supervision),
            (CidStandard::V23, Supervision::Cpc)
        );
        assert_eq!(c.lines[0].cpc, Duration::from_millis(250));
        assert_eq!(
            c.lines[1].attach,
            Attachment::Trunk {
                connect: "127.0.0.1:7003".parse().unwrap()
            }
        );
        assert_eq!(c.lines[1].supervision, Supervision::Reversal);

        for bad in [
            "country = \"XX\"",
            "[[line]]\nnumber = \"1\"",
            "[[line]]\nnumber = \"1\"\nlisten = 1\ntrunk = \"127.0.0.1:1\"",
            "[[line]]\nnumber = \"1\"\ntrunk = \"192.0.2.1:5060\"",
            "[[line]]\nnumber = \"1a\"\nlisten = 1",
            "[[line]]\nnumber = \"1\"\nlisten = 1\n[[line]]\nnumber = \"1\"\nlisten = 2",
            "[[line]]\nnumber = \"1\"\nlisten = 1\ncid = \"morse\"",
            "colour = 1",
        ] {
            assert!(ExchangeConfig::from_toml(bad).is_err(), "{bad}");
        }
    }
}
