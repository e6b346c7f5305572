//! `simphone`: a virtual analog telephone for any FXS port that speaks the simulated-board
//! protocol (the gateway's sim board, or a line card of the simulated exchange).
//!
//! [`SimPhone::connect`] attaches and starts a thread that follows the port's clock: for every
//! 10 ms frame it hears it sends back exactly one frame (DTMF, a file or a tone being played,
//! silence) and, first, the hook transitions that fall inside that frame, stamped with their
//! exact sample time on the port's clock. Pulse dialling and hook flash are therefore exact
//! whatever the socket jitter.
//!
//! What the phone hears is analysed continuously: call progress tones of the configured
//! country ([`PhoneEvent::Tone`]), DTMF digits, caller ID (FSK or DTMF, decoded from the audio
//! while on-hook), ringing and its cadence, feed changes (polarity reversal, open loop).
//!
//! Scripted use (all waits are bounded by the port's clock, and by a wall-clock safety limit
//! in case the clock stops):
//!
//! ```no_run
//! use std::time::Duration;
//! use board::simphone::{PhoneConfig, SimPhone};
//! use codecs::tones::ToneKind;
//!
//! let addr = "127.0.0.1:7001".parse().unwrap();
//! let phone = SimPhone::connect(addr, PhoneConfig::default()).unwrap();
//! phone.off_hook();
//! phone.wait_for_tone(ToneKind::Dial, Duration::from_secs(2)).unwrap();
//! phone.dial_pulse("123", 10).unwrap();
//! phone.dial_dtmf("456").unwrap();
//! phone.on_hook();
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use codecs::callerid::{CidDecoder, CidStandard};
use codecs::dtmf::{DtmfDetector, DtmfEventKind, DtmfGenerator};
use codecs::tones::{CallProgressDetector, Heard, ToneGenerator, TonePlan};
use hal::board::PortKind;
use hal::fxs::{Hook, LineFeed};
use hal::pcm::{FRAME_SAMPLES, Frame, SILENCE};
use hal::sim::peer::{self, PeerError, PeerReader, PeerWriter};
use hal::sim::proto::{Message, Role};

pub use codecs::callerid::CallerId;
pub use codecs::tones::ToneKind;

/// Samples per millisecond at 8 kHz.
const SPMS: u64 = 8;
/// How long [`SimPhone::connect`] waits for the port's first frame (a board sends one every
/// 10 ms to a connected phone), plus the phone's wall-clock safety margin.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(5);

/// How the phone behaves.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// Tone plan used to recognise call progress tones (ISO 3166 code).
    pub country: String,
    /// Caller ID standard expected between rings / before ringing.
    pub cid: CidStandard,
    /// Share of each pulse period spent with the loop open (0.6 = 60 % break, 40 % make).
    pub break_ratio: f32,
    /// Pause between pulse-dialled digits.
    pub interdigit: Duration,
    /// Tone and pause of each in-band DTMF digit.
    pub dtmf_on: Duration,
    pub dtmf_off: Duration,
    /// Length of a hook flash.
    pub flash: Duration,
    /// Wall-clock limit added to every wait in case the port's clock stops.
    pub safety: Duration,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            country: "US".into(),
            cid: CidStandard::Bell202,
            break_ratio: 0.6,
            interdigit: Duration::from_millis(800),
            dtmf_on: Duration::from_millis(100),
            dtmf_off: Duration::from_millis(100),
            flash: Duration::from_millis(300),
            safety: Duration::from_secs(5),
        }
    }
}

/// Something the phone noticed, stamped with the port's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEventKind {
    /// The line feed changed (open loop, polarity, on-hook transmission, ringing).
    Feed(LineFeed),
    /// Ring voltage on / off.
    Ring(bool),
    /// The call progress detector's verdict changed.
    Tone(Heard),
    /// A DTMF digit heard in the audio.
    Dtmf(char),
    /// A caller ID message was decoded.
    CallerId(CallerId),
    /// The phone went off-hook / on-hook (its own action).
    Hook(Hook),
    /// The connection to the port ended.
    Disconnected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneEvent {
    /// Sample time on the port's clock.
    pub at: u64,
    pub kind: PhoneEventKind,
}

/// Why a scripted step did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    /// The awaited condition did not happen within the timeout (port clock).
    Timeout(&'static str),
    /// The port's clock stopped or the connection went away.
    Disconnected,
    /// A digit the dialler cannot send.
    BadDigit(char),
    /// An audio file could not be read or written.
    File(String),
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            PhoneError::Disconnected => f.write_str("the port disconnected"),
            PhoneError::BadDigit(c) => write!(f, "cannot dial {c:?}"),
            PhoneError::File(e) => write!(f, "audio file: {e}"),
        }
    }
}

impl std::error::Error for PhoneError {}

/// A measured ring burst: when it started and how long ring voltage was on, then off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingBurst {
    pub at: u64,
    pub on_ms: u32,
    /// Silence after the burst (`None` while the next burst has not started).
    pub off_ms: Option<u32>,
}

struct State {
    connected: bool,
    /// A frame has arrived: `at` is the port's clock (before that it is 0, and times computed
    /// from it would lie in the port's past).
    clocked: bool,
    /// Start of the last frame received from the port.
    at: u64,
    hook: Hook,
    feed: LineFeed,
    ring_on: bool,
    /// Hook transitions to send: (sample time, state), in time order.
    schedule: VecDeque<(u64, Hook)>,
    dtmf_tx: DtmfGenerator,
    playing: VecDeque<i16>,
    tone_tx: Option<ToneGenerator<'static>>,
    recording: Option<Vec<i16>>,
    events: Vec<PhoneEvent>,
    rings: Vec<RingBurst>,
    heard: Heard,
    caller_id: Option<CallerId>,
    plan: &'static TonePlan,
}

impl State {
    fn push(&mut self, kind: PhoneEventKind) {
        self.events.push(PhoneEvent { at: self.at, kind });
    }

    /// The first sample time not yet answered: hook changes scheduled from here reach the port
    /// stamped exactly.
    fn next_slot(&self) -> u64 {
        let last = self.schedule.back().map_or(0, |&(t, _)| t);
        (self.at + 2 * FRAME_SAMPLES as u64).max(last)
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// Analysers that only the pump thread touches.
struct Ears {
    progress: CallProgressDetector,
    dtmf: DtmfDetector,
    cid: CidDecoder,
}

/// A virtual telephone attached to an FXS port. Cheap to share between threads by reference.
pub struct SimPhone {
    shared: Arc<Shared>,
    writer: Arc<Mutex<PeerWriter>>,
    cfg: PhoneConfig,
    pump: Option<JoinHandle<()>>,
}

fn lock(s: &Shared) -> MutexGuard<'_, State> {
    // A panic in the pump thread must not hide the state from the script.
    s.state.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimPhone {
    /// Attaches to the FXS port at `addr`.
    pub fn connect(addr: SocketAddr, cfg: PhoneConfig) -> Result<SimPhone, PeerError> {
        let plan = TonePlan::for_country(&cfg.country)
            .ok_or(PeerError::Handshake("unknown country for the tone plan"))?;
        let (_hello, reader, writer) =
            peer::connect(addr, Role::Phone, PortKind::Fxs, Duration::from_secs(3))?;
        let mut dtmf_tx = DtmfGenerator::new();
        dtmf_tx.set_timing(cfg.dtmf_on.as_millis() as u32, cfg.dtmf_off.as_millis() as u32);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                connected: true,
                clocked: false,
                at: 0,
                hook: Hook::OnHook,
                feed: LineFeed::ForwardActive,
                ring_on: false,
                schedule: VecDeque::new(),
                dtmf_tx,
                playing: VecDeque::new(),
                tone_tx: None,
                recording: None,
                events: Vec::new(),
                rings: Vec::new(),
                heard: Heard::Silence,
                caller_id: None,
                plan,
            }),
            changed: Condvar::new(),
        });
        let writer = Arc::new(Mutex::new(writer));
        let ears = Ears {
            progress: CallProgressDetector::new(plan),
            dtmf: DtmfDetector::new(),
            cid: CidDecoder::new(cfg.cid),
        };
        let (s, w) = (shared.clone(), writer.clone());
        let pump = thread::Builder::new()
            .name("simphone".into())
            .spawn(move || pump(reader, w, s, ears))
            .map_err(PeerError::Io)?;
        let phone = SimPhone {
            shared,
            writer,
            cfg,
            pump: Some(pump),
        };
        // Every time the phone schedules or waits on is on the port's clock, which the first
        // frame brings: a script that went off-hook before it would stamp the transition at the
        // board's start (seconds in the past on a board that has been running).
        phone
            .wait_for("first frame", FIRST_FRAME_WAIT, |s| s.clocked)
            .map_err(|e| match e {
                PhoneError::Disconnected => PeerError::Handshake("the port hung up before its first frame"),
                _ => PeerError::Handshake("no audio frame from the port"),
            })?;
        Ok(phone)
    }

    /// The phone's configuration.
    pub fn config(&self) -> &PhoneConfig {
        &self.cfg
    }

    /// Current sample time of the port's clock (start of the last frame heard).
    pub fn now(&self) -> u64 {
        lock(&self.shared).at
    }

    pub fn is_connected(&self) -> bool {
        lock(&self.shared).connected
    }

    pub fn hook(&self) -> Hook {
        lock(&self.shared).hook
    }

    /// The last line feed the port announced.
    pub fn feed(&self) -> LineFeed {
        lock(&self.shared).feed.clone()
    }

    pub fn is_ringing(&self) -> bool {
        lock(&self.shared).ring_on
    }

    /// What the call progress detector hears now.
    pub fn heard(&self) -> Heard {
        lock(&self.shared).heard
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<PhoneEvent> {
        lock(&self.shared).events.clone()
    }

    /// Events from index `from` on (for printing them as they come).
    pub fn events_since(&self, from: usize) -> Vec<PhoneEvent> {
        lock(&self.shared)
            .events
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Ring bursts measured so far.
    pub fn ring_bursts(&self) -> Vec<RingBurst> {
        lock(&self.shared).rings.clone()
    }

    /// The last caller ID received.
    pub fn caller_id(&self) -> Option<CallerId> {
        lock(&self.shared).caller_id
    }

    /// Digits heard in-band so far.
    pub fn dtmf_heard(&self) -> String {
        lock(&self.shared)
            .events
            .iter()
            .filter_map(|e| match e.kind {
                PhoneEventKind::Dtmf(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn schedule(&self, f: impl FnOnce(&mut State)) {
        let mut s = lock(&self.shared);
        f(&mut s);
    }

    /// Lifts the handset (at the next frame boundary).
    pub fn off_hook(&self) {
        self.schedule(|s| {
            let t = s.next_slot();
            s.schedule.push_back((t, Hook::OffHook));
        });
    }

    /// Hangs up.
    pub fn on_hook(&self) {
        self.schedule(|s| {
            let t = s.next_slot();
            s.schedule.push_back((t, Hook::OnHook));
            s.dtmf_tx.clear();
            s.playing.clear();
            s.tone_tx = None;
        });
    }

    /// A hook flash of the configured length; returns once it is over.
    pub fn flash(&self) -> Result<(), PhoneError> {
        self.flash_for(self.cfg.flash)
    }

    /// A hook flash of `len`; returns once it is over.
    pub fn flash_for(&self, len: Duration) -> Result<(), PhoneError> {
        let end = {
            let mut s = lock(&self.shared);
            let t = s.next_slot();
            let end = t + len.as_millis() as u64 * SPMS;
            s.schedule.push_back((t, Hook::OnHook));
            s.schedule.push_back((end, Hook::OffHook));
            end
        };
        self.wait_until_time(end + FRAME_SAMPLES as u64)
    }

    /// Dials `digits` (0-9) by loop disconnect at `pps` pulses per second (10 or 20), with the
    /// configured break ratio and interdigit pause. Returns once the last pulse is sent.
    pub fn dial_pulse(&self, digits: &str, pps: u32) -> Result<(), PhoneError> {
        let pps = u64::from(pps.clamp(1, 40));
        let period = 8000 / pps;
        let brk = (period as f32 * self.cfg.break_ratio.clamp(0.1, 0.9)) as u64;
        let gap = self.cfg.interdigit.as_millis() as u64 * SPMS;
        let end = {
            let mut s = lock(&self.shared);
            let mut t = s.next_slot();
            for c in digits.chars() {
                let n = match c.to_digit(10) {
                    Some(0) => 10,
                    Some(d) => u64::from(d),
                    None => return Err(PhoneError::BadDigit(c)),
                };
                for _ in 0..n {
                    s.schedule.push_back((t, Hook::OnHook));
                    s.schedule.push_back((t + brk, Hook::OffHook));
                    t += period;
                }
                t += gap;
            }
            t
        };
        self.wait_until_time(end)
    }

    /// Dials `digits` (0-9, *, #, A-D) as in-band DTMF; returns once the last tone is sent.
    pub fn dial_dtmf(&self, digits: &str) -> Result<(), PhoneError> {
        {
            let mut s = lock(&self.shared);
            for c in digits.chars() {
                s.dtmf_tx.push(c).map_err(|_| PhoneError::BadDigit(c))?;
            }
        }
        let per = (self.cfg.dtmf_on + self.cfg.dtmf_off) * digits.len() as u32;
        self.wait_for("DTMF sent", per + Duration::from_millis(200), |s| {
            s.dtmf_tx.is_idle()
        })
    }

    /// Plays samples (8 kHz s16) into the line, after anything already playing.
    pub fn play_samples(&self, samples: &[i16]) {
        lock(&self.shared).playing.extend(samples.iter().copied());
    }

    /// Plays a WAV (PCM 16-bit mono 8 kHz) or raw s16le file.
    pub fn play_file(&self, path: &Path) -> Result<(), PhoneError> {
        let samples = codecs::wav::read_audio(path).map_err(|e| PhoneError::File(e.to_string()))?;
        self.play_samples(&samples);
        Ok(())
    }

    /// Plays a sine of `freq_hz` for `len` at `level` (peak, linear).
    pub fn play_tone(&self, freq_hz: f32, len: Duration, peak: i16) {
        let n = len.as_millis() as usize * SPMS as usize;
        let w = 2.0 * std::f32::consts::PI * freq_hz / 8000.0;
        let v: Vec<i16> = (0..n)
            .map(|i| ((i as f32 * w).sin() * f32::from(peak)) as i16)
            .collect();
        self.play_samples(&v);
    }

    /// Plays one of the plan's call progress tones until [`SimPhone::stop_audio`].
    pub fn play_progress_tone(&self, kind: ToneKind) -> Result<(), PhoneError> {
        let mut s = lock(&self.shared);
        let spec = s.plan.tone(kind).ok_or(PhoneError::Timeout("tone not in plan"))?;
        s.tone_tx = Some(ToneGenerator::new(spec));
        Ok(())
    }

    /// Stops playback, tones and DTMF.
    pub fn stop_audio(&self) {
        let mut s = lock(&self.shared);
        s.playing.clear();
        s.tone_tx = None;
        s.dtmf_tx.clear();
    }

    /// Starts recording what the phone hears (replacing any recording in progress).
    pub fn record_start(&self) {
        lock(&self.shared).recording = Some(Vec::new());
    }

    /// Stops recording and returns the samples.
    pub fn record_stop(&self) -> Vec<i16> {
        lock(&self.shared).recording.take().unwrap_or_default()
    }

    /// Stops recording and writes a WAV (`.wav`) or raw s16le file.
    pub fn record_to(&self, path: &Path) -> Result<usize, PhoneError> {
        let v = self.record_stop();
        codecs::wav::write_audio(path, &v).map_err(|e| PhoneError::File(e.to_string()))?;
        Ok(v.len())
    }

    /// Waits `d` of port-clock time.
    pub fn pause(&self, d: Duration) -> Result<(), PhoneError> {
        let end = self.now() + d.as_millis() as u64 * SPMS;
        self.wait_until_time(end)
    }

    /// Waits until the call progress detector reports `kind` (now, or at any moment from
    /// this call on: a cadenced tone may be between bursts when the script looks).
    pub fn wait_for_tone(&self, kind: ToneKind, timeout: Duration) -> Result<u64, PhoneError> {
        let from = lock(&self.shared).events.len();
        let mut at = None;
        self.wait_for("call progress tone", timeout, |s| {
            if s.heard == Heard::Tone(kind) {
                at = Some(s.at);
                return true;
            }
            at = s.events[from..]
                .iter()
                .find(|e| e.kind == PhoneEventKind::Tone(Heard::Tone(kind)))
                .map(|e| e.at);
            at.is_some()
        })?;
        Ok(at.unwrap_or_default())
    }

    /// Waits until the detector hears something other than `kind` (the tone stopped).
    pub fn wait_tone_gone(&self, kind: ToneKind, timeout: Duration) -> Result<(), PhoneError> {
        self.wait_for("tone to stop", timeout, |s| s.heard != Heard::Tone(kind))
    }

    /// Waits until ring voltage is applied.
    pub fn wait_ringing(&self, timeout: Duration) -> Result<(), PhoneError> {
        self.wait_for("ringing", timeout, |s| s.ring_on)
    }

    /// Waits until `n` ring bursts have been measured completely (on and off) and returns them.
    pub fn wait_ring_bursts(&self, n: usize, timeout: Duration) -> Result<Vec<RingBurst>, PhoneError> {
        self.wait_for("ring cadence", timeout, |s| {
            s.rings.iter().filter(|r| r.off_ms.is_some()).count() >= n
        })?;
        Ok(self.ring_bursts())
    }

    /// Waits for a caller ID message.
    pub fn wait_caller_id(&self, timeout: Duration) -> Result<CallerId, PhoneError> {
        self.wait_for("caller ID", timeout, |s| s.caller_id.is_some())?;
        self.caller_id().ok_or(PhoneError::Timeout("caller ID"))
    }

    /// Waits until `digits` have been heard in-band (in order, as the tail of what was heard).
    pub fn wait_dtmf(&self, digits: &str, timeout: Duration) -> Result<(), PhoneError> {
        self.wait_for("DTMF digits", timeout, |s| {
            let heard: String = s
                .events
                .iter()
                .filter_map(|e| match e.kind {
                    PhoneEventKind::Dtmf(c) => Some(c),
                    _ => None,
                })
                .collect();
            heard.ends_with(digits)
        })
    }

    /// Waits until the feed matches `pred` (for answer/disconnect supervision by polarity or
    /// open loop).
    pub fn wait_feed(&self, timeout: Duration, pred: impl Fn(&LineFeed) -> bool) -> Result<(), PhoneError> {
        self.wait_for("line feed", timeout, |s| pred(&s.feed))
    }

    /// Waits for any event matching `pred` after index `from` of [`SimPhone::events`].
    pub fn wait_event(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&PhoneEventKind) -> bool,
    ) -> Result<PhoneEvent, PhoneError> {
        let mut found = None;
        self.wait_for("event", timeout, |s| {
            found = s
                .events
                .get(from..)
                .and_then(|ev| ev.iter().find(|e| pred(&e.kind)).cloned());
            found.is_some()
        })?;
        found.ok_or(PhoneError::Timeout("event"))
    }

    fn wait_until_time(&self, t: u64) -> Result<(), PhoneError> {
        let now = self.now();
        let d = Duration::from_millis(t.saturating_sub(now) / SPMS);
        self.wait_for("port clock", d + Duration::from_millis(50), |s| s.at >= t)
    }

    /// Waits until `cond` holds, at most `timeout` on the port's clock (plus the wall-clock
    /// safety margin should the clock stop).
    fn wait_for(
        &self,
        what: &'static str,
        timeout: Duration,
        mut cond: impl FnMut(&State) -> bool,
    ) -> Result<(), PhoneError> {
        let mut s = lock(&self.shared);
        let deadline = s.at + timeout.as_millis() as u64 * SPMS;
        let wall = std::time::Instant::now() + timeout + self.cfg.safety;
        loop {
            if cond(&s) {
                return Ok(());
            }
            if !s.connected {
                return Err(PhoneError::Disconnected);
            }
            if s.at >= deadline {
                return Err(PhoneError::Timeout(what));
            }
            let now = std::time::Instant::now();
            if now >= wall {
                return Err(PhoneError::Timeout(what));
            }
            s = self
                .shared
                .changed
                .wait_timeout(s, wall - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Hangs up the connection to the port.
    pub fn disconnect(&mut self) {
        if let Ok(mut w) = self.writer.lock() {
            w.close();
        }
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}

impl Drop for SimPhone {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// Reads frames and events from the port, answers each frame, feeds the analysers.
fn pump(mut reader: PeerReader, writer: Arc<Mutex<PeerWriter>>, shared: Arc<Shared>, mut ears: Ears) {
    let mut out_msgs: Vec<Message> = Vec::with_capacity(8);
    loop {
        let Ok(m) = reader.recv() else { break };
        out_msgs.clear();
        {
            let mut s = lock(&shared);
            match m {
                Message::Audio { at, samples } => {
                    s.at = at;
                    s.clocked = true;
                    hear(&mut s, &mut ears, &samples);
                    let end = at + FRAME_SAMPLES as u64;
                    while let Some(&(t, h)) = s.schedule.front() {
                        if t >= end {
                            break;
                        }
                        s.schedule.pop_front();
                        if h != s.hook {
                            s.hook = h;
                            // Never before the frame this answers: the port has classified up
                            // to there already.
                            out_msgs.push(Message::Hook {
                                at: t.max(at).max(1),
                                hook: h,
                            });
                            s.push(PhoneEventKind::Hook(h));
                        }
                    }
                    let frame = speak(&mut s);
                    out_msgs.push(Message::Audio { at, samples: frame });
                }
                Message::Feed { at, feed } => {
                    s.at = s.at.max(at);
                    s.feed = feed.clone();
                    s.push(PhoneEventKind::Feed(feed));
                }
                Message::Ring { at, on } if on != s.ring_on => {
                    s.ring_on = on;
                    s.push(PhoneEventKind::Ring(on));
                    if on {
                        if let Some(last) = s.rings.last_mut()
                            && last.off_ms.is_none()
                        {
                            last.off_ms = Some(((at.saturating_sub(last.at)) / SPMS) as u32)
                                .map(|t| t.saturating_sub(last.on_ms));
                        }
                        s.rings.push(RingBurst {
                            at,
                            on_ms: 0,
                            off_ms: None,
                        });
                    } else if let Some(last) = s.rings.last_mut() {
                        last.on_ms = (at.saturating_sub(last.at) / SPMS) as u32;
                    }
                }
                Message::Error { .. } => break,
                _ => {}
            }
        }
        shared.changed.notify_all();
        if !out_msgs.is_empty() {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            let ok = out_msgs.iter().all(|m| w.send(m).is_ok()) && w.flush().is_ok();
            if !ok {
                break;
            }
        }
    }
    let mut s = lock(&shared);
    s.connected = false;
    s.push(PhoneEventKind::Disconnected);
    drop(s);
    shared.changed.notify_all();
}

/// Runs the analysers over one received frame.
fn hear(s: &mut State, ears: &mut Ears, samples: &Frame) {
    if let Some(r) = s.recording.as_mut() {
        r.extend_from_slice(samples);
    }
    // Caller ID arrives while on-hook (between rings or after a line reversal).
    if s.hook == Hook::OnHook {
        ears.cid.process(samples);
        while let Some(r) = ears.cid.poll() {
            // A message with a bad checksum is ignored, as a phone's display does.
            if let Ok(m) = r {
                s.caller_id = Some(m.caller);
                s.push(PhoneEventKind::CallerId(m.caller));
            }
        }
    }
    ears.progress.process(samples);
    while let Some(e) = ears.progress.poll() {
        if e.heard != s.heard {
            s.heard = e.heard;
            s.push(PhoneEventKind::Tone(e.heard));
        }
    }
    ears.dtmf.process(samples);
    while let Some(e) = ears.dtmf.poll() {
        if e.kind == DtmfEventKind::Start {
            s.push(PhoneEventKind::Dtmf(e.digit));
        }
    }
}

/// Builds the frame the phone sends back.
fn speak(s: &mut State) -> Frame {
    if s.hook == Hook::OnHook {
        // Open loop: no transmission path.
        return SILENCE;
    }
    let mut frame = SILENCE;
    let mut buf = [0i16; FRAME_SAMPLES];
    if !s.dtmf_tx.is_idle() {
        s.dtmf_tx.fill(&mut buf);
        mix(&mut frame, &buf);
    }
    if let Some(t) = s.tone_tx.as_mut() {
        t.fill(&mut buf);
        mix(&mut frame, &buf);
    }
    for v in frame.iter_mut() {
        match s.playing.pop_front() {
            Some(x) => *v = v.saturating_add(x),
            None => break,
        }
    }
    frame
}

fn mix(into: &mut Frame, from: &[i16; FRAME_SAMPLES]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}
