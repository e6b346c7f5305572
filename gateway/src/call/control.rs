//! The gateway's call control: every port's machine, the local router, and the translation of
//! their actions into media loop commands and of media loop events into their inputs.
//!
//! [`CallControl`] is sans-IO like the machines it owns. The control plane feeds it
//! [`MediaEvent`]s ([`CallControl::media_event`]), the SIP side of calls
//! ([`CallControl::sip_event`]), the RTP stream chosen for a leg ([`CallControl::bind_stream`])
//! and timer ticks ([`CallControl::poll`]); it drains [`MediaCommand`]s for the media loop
//! ([`CallControl::take_media`]) and [`SipRequest`]s for the user agent
//! ([`CallControl::take_sip`]).

use std::collections::{HashMap, VecDeque};

use codecs::callerid::{Absence, CallerId, CidFormat, CidStandard};
use codecs::tones::{Heard, TonePlan};
use hal::Instant;
use hal::fxs::{FxsEventKind, HookTiming};
use std::time::Duration;

use super::fxo::{FxoPort, FxoSettings};
use super::fxs::{FxsPort, FxsSettings, FxsSettingsError};
use super::router::{LocalRouter, Routed};
use super::{CallerInfo, LegId, PortAction, SipEvent};
use crate::config::{CallerIdStandard, Config, PortKind};
use crate::media::{
    AudioEventKind, DigitTarget, Digits, Endpoint, LineEventKind, MediaCommand, MediaEvent, MediaHandle,
    StreamId,
};

/// One port's machine.
#[derive(Debug)]
pub enum PortMachine {
    Fxs(FxsPort),
    Fxo(FxoPort),
}

/// A SIP-side action of a port, for the user agent edge.
#[derive(Clone, Debug, PartialEq)]
pub struct SipRequest {
    pub port: u8,
    /// One of [`PortAction::Invite`], `Cancel`, `Bye`, `Ringing`, `Answer`, `Reject`,
    /// `SendKey` (as RFC 4733 or INFO per the port's DTMF mode).
    pub action: PortAction,
}

/// Why the ports could not be set up from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallConfigError {
    pub port: u8,
    pub error: FxsSettingsError,
}

impl std::fmt::Display for CallConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {}: {}", self.port, self.error)
    }
}

impl std::error::Error for CallConfigError {}

#[derive(Debug)]
struct PortEntry {
    id: u8,
    machine: PortMachine,
    caller_id: CallerIdStandard,
    /// The settings it was built from (a new configuration leaves unchanged ports alone).
    settings: crate::config::Port,
}

/// Every port's call control, wired to the media loop's command/event vocabulary.
#[derive(Debug)]
pub struct CallControl {
    ports: Vec<PortEntry>,
    router: LocalRouter,
    streams: HashMap<(u8, LegId), StreamId>,
    media: VecDeque<MediaCommand>,
    sip: VecDeque<SipRequest>,
    /// Latest instant seen on the media loop's clock.
    clock: Instant,
    /// New settings of ports that were busy when they changed, applied when they go idle
    /// (`None`: the port was removed or disabled).
    pending: Vec<PendingPort>,
    /// Local extensions waiting for the local calls in progress to end.
    pending_extensions: Option<Vec<(String, u8)>>,
}

/// A port's settings waiting for it to go idle: its new machine and setup commands, or `None`
/// when the port goes away.
type PendingPort = (u8, Option<(PortEntry, Vec<MediaCommand>)>);

/// The port a setup command is for.
fn command_port(cmd: &MediaCommand) -> Option<u8> {
    match cmd {
        MediaCommand::SetTonePlan { port, .. }
        | MediaCommand::SetHookTiming { port, .. }
        | MediaCommand::SetCallProgress { port, .. }
        | MediaCommand::SetGain { port, .. }
        | MediaCommand::SetEcho { port, .. } => Some(*port),
        _ => None,
    }
}

impl CallControl {
    /// Builds the machines of the enabled ports and queues each port's initial media settings
    /// (tone plan, hook timing, call progress detection, gains, echo canceller).
    pub fn from_config(cfg: &Config) -> Result<CallControl, CallConfigError> {
        let mut cc = CallControl {
            ports: Vec::new(),
            router: LocalRouter::default(),
            streams: HashMap::new(),
            media: VecDeque::new(),
            sip: VecDeque::new(),
            clock: Instant::ZERO,
            pending: Vec::new(),
            pending_extensions: None,
        };
        let mut fxs_ids = Vec::new();
        for p in cfg.ports.iter().filter(|p| p.enabled) {
            let err = |error| CallConfigError { port: p.id, error };
            let machine = match p.kind {
                PortKind::Fxs => {
                    fxs_ids.push(p.id);
                    let s = FxsSettings::from_port(p).map_err(err)?;
                    let timing = HookTiming {
                        flash_min: Duration::from_millis(u64::from(p.hook_flash_min_ms)),
                        flash_max: Duration::from_millis(u64::from(p.hook_flash_max_ms)),
                        ..HookTiming::default()
                    };
                    if timing.validate().is_ok() {
                        cc.media
                            .push_back(MediaCommand::SetHookTiming { port: p.id, timing });
                    }
                    PortMachine::Fxs(FxsPort::new(p.id, s))
                }
                PortKind::Fxo => {
                    let s = FxoSettings::from_port(p).map_err(|e| err(FxsSettingsError::DialPlan(e)))?;
                    cc.media.push_back(MediaCommand::SetCallProgress {
                        port: p.id,
                        enabled: true,
                        silence_ms: 0,
                    });
                    PortMachine::Fxo(FxoPort::new(p.id, s))
                }
            };
            let plan = TonePlan::for_country(&p.country)
                .ok_or_else(|| err(FxsSettingsError::UnknownCountry(p.country.clone())))?;
            cc.media.push_back(MediaCommand::SetTonePlan { port: p.id, plan });
            // The line's levels and its echo canceller, as the port's settings say (the echo
            // path is learned again: a new setting may mean a different line).
            cc.media.push_back(MediaCommand::SetGain {
                port: p.id,
                to_line_db: p.tx_gain_db,
                from_line_db: p.rx_gain_db,
            });
            cc.media.push_back(MediaCommand::SetEcho {
                port: p.id,
                enabled: p.echo_canceller,
                nlp: p.echo_canceller,
                reset: true,
            });
            cc.ports.push(PortEntry {
                id: p.id,
                machine,
                caller_id: p.caller_id,
                settings: p.clone(),
            });
        }
        cc.router = LocalRouter::new(LocalRouter::default_extensions(&fxs_ids));
        Ok(cc)
    }

    /// New port settings from a changed configuration. Idle ports take them at once (tone
    /// plan, hook timing, dial plan...); a port in a call keeps its settings until the call
    /// ends, so no call is dropped. A configuration that does not build leaves everything as
    /// it was.
    pub fn reconfigure(&mut self, cfg: &Config) -> Result<(), CallConfigError> {
        let mut fresh = CallControl::from_config(cfg)?;
        let mut setup: HashMap<u8, Vec<MediaCommand>> = HashMap::new();
        while let Some(cmd) = fresh.media.pop_front() {
            if let Some(p) = command_port(&cmd) {
                setup.entry(p).or_default().push(cmd);
            }
        }
        let mut pending: Vec<PendingPort> = fresh
            .ports
            .into_iter()
            .filter(|e| {
                let same = self
                    .ports
                    .iter()
                    .any(|p| p.id == e.id && p.settings == e.settings);
                !same
            })
            .map(|e| {
                let cmds = setup.remove(&e.id).unwrap_or_default();
                (e.id, Some((e, cmds)))
            })
            .collect();
        // Ports gone from the new configuration (removed or disabled).
        for p in &self.ports {
            if !cfg.ports.iter().any(|c| c.id == p.id && c.enabled) {
                pending.push((p.id, None));
            }
        }
        self.pending = pending;
        self.pending_extensions = Some(fresh.router.extensions().to_vec());
        self.apply_pending();
        Ok(())
    }

    /// Applies pending settings to the ports that are idle now.
    fn apply_pending(&mut self) {
        if self.pending.is_empty() && self.pending_extensions.is_none() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        for (id, new) in pending {
            let idle = self.port(id).is_none() || self.is_idle(id);
            if !idle {
                self.pending.push((id, new));
                continue;
            }
            self.ports.retain(|p| p.id != id);
            if let Some((entry, cmds)) = new {
                self.ports.push(entry);
                self.media.extend(cmds);
            }
        }
        self.ports.sort_by_key(|p| p.id);
        if self.router.is_idle()
            && let Some(ext) = self.pending_extensions.take()
        {
            self.router = LocalRouter::new(ext);
        }
    }

    /// One turn of the control plane against the running media loop: drains its events (each
    /// also shown to `observe`, for the status page), runs due timers, and queues the resulting
    /// commands (a full queue keeps the rest for the next turn). Returns the loop's `now`.
    pub fn drive(&mut self, media: &mut MediaHandle, mut observe: impl FnMut(&MediaEvent)) -> Instant {
        use std::sync::atomic::Ordering::Relaxed;
        // The loop's clock counts every PCM period, processed or skipped.
        let periods = media.stats.ticks.load(Relaxed) + media.stats.overruns.load(Relaxed);
        self.clock = self
            .clock
            .max(Instant::from_samples(periods * hal::FRAME_SAMPLES as u64));
        while let Some(ev) = media.poll_event() {
            if let MediaEvent::Line(le) = &ev {
                let at = match le.kind {
                    LineEventKind::Fxs(e) => Some(e.at),
                    LineEventKind::Fxo(e) => Some(e.at),
                    LineEventKind::Fault(_) => None,
                };
                if let Some(at) = at {
                    self.clock = self.clock.max(at);
                }
            }
            observe(&ev);
            let now = self.clock;
            self.media_event(&ev, now);
        }
        let now = self.clock;
        self.poll(now);
        while let Some(cmd) = self.media.pop_front() {
            if let Err(cmd) = media.send(cmd) {
                self.media.push_front(cmd);
                break;
            }
        }
        now
    }

    /// A short description of a port's call state for the status page.
    pub fn call_state(&self, port: u8) -> String {
        match self.port(port) {
            Some(PortMachine::Fxs(m)) => match m.state() {
                super::fxs::FxsState::Idle => "idle".into(),
                super::fxs::FxsState::Ringing { .. } => "ringing".into(),
                super::fxs::FxsState::DialTone => "dial tone".into(),
                super::fxs::FxsState::Dialling { dialled } => format!("dialling {dialled}"),
                super::fxs::FxsState::Calling { .. } => "calling".into(),
                super::fxs::FxsState::Connected { .. } => "connected".into(),
                super::fxs::FxsState::Signalling { tone: Some(t), .. } => t.name().into(),
                super::fxs::FxsState::Signalling {
                    tone: None,
                    howler: true,
                } => "howler".into(),
                super::fxs::FxsState::Signalling { .. } => "off-hook".into(),
            },
            Some(PortMachine::Fxo(m)) => format!("{:?}", m.state()).to_lowercase(),
            None => "disabled".into(),
        }
    }

    /// Replaces the local extensions (number, port).
    pub fn set_extensions(&mut self, extensions: Vec<(String, u8)>) {
        self.router = LocalRouter::new(extensions);
    }

    pub fn port(&self, id: u8) -> Option<&PortMachine> {
        self.ports.iter().find(|p| p.id == id).map(|p| &p.machine)
    }

    fn entry(&mut self, id: u8) -> Option<&mut PortEntry> {
        self.ports.iter_mut().find(|p| p.id == id)
    }

    /// Queues a media command in order with the ports' own (the SIP legs start, modify and
    /// stop their streams through here so that a port never connects to a stream not started).
    pub fn push_media(&mut self, cmd: MediaCommand) {
        self.media.push_back(cmd);
    }

    /// Sends the queued media commands to the loop (a full queue keeps the rest for later).
    pub fn flush(&mut self, media: &mut MediaHandle) {
        while let Some(cmd) = self.media.pop_front() {
            if let Err(cmd) = media.send(cmd) {
                self.media.push_front(cmd);
                break;
            }
        }
    }

    pub fn take_media(&mut self) -> Option<MediaCommand> {
        self.media.pop_front()
    }

    pub fn take_sip(&mut self) -> Option<SipRequest> {
        self.sip.pop_front()
    }

    /// The earliest timer of any port.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.ports
            .iter()
            .filter_map(|p| match &p.machine {
                PortMachine::Fxs(m) => m.next_deadline(),
                PortMachine::Fxo(m) => m.next_deadline(),
            })
            .min()
    }

    /// Runs every port's due timers.
    pub fn poll(&mut self, now: Instant) {
        self.apply_pending();
        for p in &mut self.ports {
            match &mut p.machine {
                PortMachine::Fxs(m) => m.poll(now),
                PortMachine::Fxo(m) => m.poll(now),
            }
        }
        self.pump(now);
    }

    /// The RTP stream carrying a leg's audio (made by the SIP edge from the offer/answer).
    pub fn bind_stream(&mut self, port: u8, leg: LegId, stream: StreamId) {
        self.streams.insert((port, leg), stream);
    }

    /// The stream bound to a leg, if any.
    pub fn stream_of(&self, port: u8, leg: LegId) -> Option<StreamId> {
        self.streams.get(&(port, leg)).copied()
    }

    /// An event of the media loop.
    pub fn media_event(&mut self, ev: &MediaEvent, now: Instant) {
        match *ev {
            MediaEvent::Line(le) => {
                let Some(p) = self.entry(le.port) else { return };
                match (&mut p.machine, le.kind) {
                    (PortMachine::Fxs(m), LineEventKind::Fxs(e)) => m.line(e.kind, now),
                    (PortMachine::Fxo(m), LineEventKind::Fxo(e)) => m.line(e.kind, now),
                    // A faulty line looks like a hang-up to the call on it.
                    (PortMachine::Fxs(m), LineEventKind::Fault(_)) => m.line(FxsEventKind::OnHook, now),
                    _ => {}
                }
            }
            MediaEvent::Audio(ae) => {
                let Some(p) = self.entry(ae.port) else { return };
                match (&mut p.machine, ae.kind) {
                    (PortMachine::Fxs(m), AudioEventKind::DtmfStart { digit, .. }) if digit.is_ascii() => {
                        m.dtmf(digit as u8, now)
                    }
                    (PortMachine::Fxo(m), AudioEventKind::DtmfStart { digit, .. }) if digit.is_ascii() => {
                        m.dtmf(digit as u8, now)
                    }
                    (PortMachine::Fxo(m), AudioEventKind::CallProgress { heard, .. }) => m.heard(heard, now),
                    (PortMachine::Fxo(m), AudioEventKind::LongSilence { .. }) => m.heard(Heard::Silence, now),
                    (PortMachine::Fxo(m), AudioEventKind::DigitsSent) => m.dial_done(now),
                    // Caller ID the exchange sent on the idle or ringing line.
                    (PortMachine::Fxo(m), AudioEventKind::CallerId(cid)) => {
                        m.caller_id(super::CallerInfo::from_cid(&cid), now)
                    }
                    _ => {}
                }
            }
            MediaEvent::Stream(_) => {}
        }
        self.pump(now);
    }

    /// Caller ID decoded on an FXO line.
    pub fn fxo_caller_id(&mut self, port: u8, caller: CallerInfo, now: Instant) {
        if let Some(PortEntry {
            machine: PortMachine::Fxo(m),
            ..
        }) = self.entry(port)
        {
            m.caller_id(caller, now);
        }
        self.pump(now);
    }

    /// The SIP side of a port's call.
    pub fn sip_event(&mut self, port: u8, ev: SipEvent, now: Instant) {
        self.deliver(port, ev, now);
        self.pump(now);
    }

    /// True when the port could take a new incoming call.
    pub fn is_idle(&self, port: u8) -> bool {
        match self.port(port) {
            Some(PortMachine::Fxs(m)) => !m.is_busy(),
            Some(PortMachine::Fxo(m)) => !m.is_busy(),
            None => false,
        }
    }

    fn deliver(&mut self, port: u8, ev: SipEvent, now: Instant) {
        if let Some(p) = self.entry(port) {
            match &mut p.machine {
                PortMachine::Fxs(m) => m.sip(ev, now),
                PortMachine::Fxo(m) => m.sip(ev, now),
            }
        }
    }

    /// Moves every queued port action to where it belongs, until nothing is left.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut work = Vec::new();
            for p in &mut self.ports {
                let take = |m: &mut PortMachine| match m {
                    PortMachine::Fxs(m) => m.take_action(),
                    PortMachine::Fxo(m) => m.take_action(),
                };
                while let Some(a) = take(&mut p.machine) {
                    work.push((p.id, p.caller_id, a));
                }
            }
            if work.is_empty() {
                return;
            }
            for (port, cid, action) in work {
                if let Some(routed) = self.router.action(port, &action) {
                    for r in routed {
                        match r {
                            Routed::ToPort { port, event } => self.deliver(port, event, now),
                            Routed::Bridge { a, b } => self.media.push_back(MediaCommand::Connect {
                                a: Endpoint::Port(a),
                                b: Endpoint::Port(b),
                            }),
                            Routed::Unbridge { a, b } => self.media.push_back(MediaCommand::Disconnect {
                                a: Endpoint::Port(a),
                                b: Endpoint::Port(b),
                            }),
                        }
                    }
                    continue;
                }
                self.act(port, cid, action);
            }
        }
    }

    fn act(&mut self, port: u8, cid: CallerIdStandard, action: PortAction) {
        let m = &mut self.media;
        match action {
            PortAction::Feed(feed) => m.push_back(MediaCommand::SetFeed { port, feed }),
            PortAction::OffHook(off_hook) => m.push_back(MediaCommand::SetOffHook { port, off_hook }),
            PortAction::Tone(tone) => m.push_back(MediaCommand::PlayTone {
                port,
                tone,
                over_audio: false,
            }),
            PortAction::Howler => m.push_back(MediaCommand::PlayTone {
                port,
                tone: codecs::tones::ToneKind::Howler,
                over_audio: false,
            }),
            PortAction::StopTone => m.push_back(MediaCommand::StopTone { port }),
            PortAction::CallerId(info) => {
                if let Some(cmd) = caller_id_command(port, cid, &info) {
                    m.push_back(cmd);
                }
            }
            PortAction::DialOut {
                digits,
                pulse,
                timing,
            } => {
                let mut d = Digits::new();
                for c in digits
                    .chars()
                    .filter(|c| c.is_ascii_digit() || (!pulse && (*c == '*' || *c == '#')))
                {
                    if d.push(c).is_err() {
                        break;
                    }
                }
                m.push_back(if pulse {
                    MediaCommand::PulseDial {
                        port,
                        digits: d,
                        break_ms: timing.pulse_break_ms,
                        make_ms: timing.pulse_make_ms,
                        interdigit_ms: timing.pulse_interdigit_ms,
                    }
                } else {
                    MediaCommand::SendDigits {
                        target: DigitTarget::Line(port),
                        digits: d,
                        on_ms: timing.dtmf_on_ms,
                        off_ms: timing.dtmf_off_ms,
                    }
                });
            }
            PortAction::MediaConnect(leg) | PortAction::MediaEarly(leg) => {
                if let Some(&s) = self.streams.get(&(port, leg)) {
                    m.push_back(MediaCommand::Connect {
                        a: Endpoint::Port(port),
                        b: Endpoint::Stream(s),
                    });
                }
            }
            PortAction::MediaDisconnect(leg) => {
                if let Some(s) = self.streams.remove(&(port, leg)) {
                    m.push_back(MediaCommand::Disconnect {
                        a: Endpoint::Port(port),
                        b: Endpoint::Stream(s),
                    });
                }
            }
            a @ (PortAction::Invite { .. }
            | PortAction::Cancel(_)
            | PortAction::Bye(_)
            | PortAction::Ringing { .. }
            | PortAction::Answer(_)
            | PortAction::Reject { .. }
            | PortAction::SendKey { .. }) => {
                if let PortAction::Bye(leg) | PortAction::Cancel(leg) | PortAction::Reject { leg, .. } = &a {
                    self.streams.remove(&(port, *leg));
                }
                self.sip.push_back(SipRequest { port, action: a });
            }
        }
    }
}

/// The media command that sends `info` as caller ID in the port's standard (MDMF for FSK,
/// `A<number>C` for DTMF); `P` for a private caller, `O` when nothing is known.
pub fn caller_id_command(port: u8, standard: CallerIdStandard, info: &CallerInfo) -> Option<MediaCommand> {
    let (std, format) = match standard {
        CallerIdStandard::None => return None,
        CallerIdStandard::Bell202 => (CidStandard::Bell202, CidFormat::Mdmf),
        CallerIdStandard::V23 => (CidStandard::V23, CidFormat::Mdmf),
        CallerIdStandard::Dtmf => (CidStandard::Dtmf, CidFormat::Dtmf),
    };
    let mut cid = if info.private {
        CallerId {
            number_absence: Some(Absence::Private),
            name_absence: Some(Absence::Private),
            ..CallerId::default()
        }
    } else {
        // Characters a display cannot show are dropped rather than failing the whole message.
        let clean = |s: &str| -> String { s.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect() };
        CallerId::new(&clean(&info.number), &clean(&info.name)).unwrap_or_default()
    };
    if !info.private && cid.number.is_empty() {
        cid.number_absence = Some(Absence::Unavailable);
    }
    if !info.private && cid.name.is_empty() && std != CidStandard::Dtmf {
        cid.name_absence = Some(Absence::Unavailable);
    }
    MediaCommand::caller_id(port, &cid, std, format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::media::{AudioEvent, LineEvent};
    use codecs::tones::ToneKind;
    use hal::fxs::{FxsEvent, LineFeed};

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain_media(cc: &mut CallControl) -> Vec<String> {
        std::iter::from_fn(|| cc.take_media())
            .map(|c| format!("{c:?}"))
            .collect()
    }

    fn hook(port: u8, kind: FxsEventKind, at: Instant) -> MediaEvent {
        MediaEvent::Line(LineEvent {
            port,
            kind: LineEventKind::Fxs(FxsEvent { kind, at }),
        })
    }

    fn dtmf(port: u8, digit: char) -> MediaEvent {
        MediaEvent::Audio(AudioEvent {
            port,
            kind: AudioEventKind::DtmfStart { digit, at_sample: 0 },
        })
    }

    #[test]
    fn setup_queues_tone_plans_hook_timing_and_call_progress() {
        let mut cc = CallControl::from_config(&Config::default_for_sim()).unwrap();
        let cmds = drain_media(&mut cc);
        assert_eq!(cmds.iter().filter(|c| c.starts_with("SetTonePlan")).count(), 3);
        assert_eq!(cmds.iter().filter(|c| c.starts_with("SetHookTiming")).count(), 2);
        assert_eq!(
            cmds.iter().filter(|c| c.starts_with("SetCallProgress")).count(),
            1
        );
    }

    #[test]
    fn port_gains_and_echo_canceller_reach_the_media_loop() {
        let mut cfg = Config::default_for_sim();
        cfg.ports[0].tx_gain_db = -6.0;
        cfg.ports[0].rx_gain_db = 3.0;
        cfg.ports[1].echo_canceller = false;
        let mut cc = CallControl::from_config(&cfg).unwrap();
        let cmds = drain_media(&mut cc);
        let port_cmds = |port: u8, what: &str| -> Vec<String> {
            cmds.iter()
                .filter(|c| c.starts_with(&format!("{what} {{ port: {port},")))
                .cloned()
                .collect()
        };
        assert_eq!(
            port_cmds(0, "SetGain"),
            vec![format!(
                "{:?}",
                MediaCommand::SetGain {
                    port: 0,
                    to_line_db: -6.0,
                    from_line_db: 3.0
                }
            )]
        );
        assert!(port_cmds(0, "SetEcho")[0].contains("enabled: true"), "{cmds:?}");
        assert!(port_cmds(1, "SetEcho")[0].contains("enabled: false"), "{cmds:?}");
        // A changed gain on an idle port applies at once, without a restart.
        cfg.ports[1].tx_gain_db = -3.5;
        cc.reconfigure(&cfg).unwrap();
        let cmds = drain_media(&mut cc);
        assert!(
            cmds.iter()
                .any(|c| c.starts_with("SetGain { port: 1,") && c.contains("to_line_db: -3.5")),
            "{cmds:?}"
        );
    }

    #[test]
    fn bad_dial_plan_names_the_port() {
        let mut cfg = Config::default_for_sim();
        cfg.ports[1].dial_plan = "(12".into();
        let e = CallControl::from_config(&cfg).unwrap_err();
        assert_eq!(e.port, 1);
        assert!(e.to_string().starts_with("port 1: dial plan, column 1"), "{e}");
    }

    #[test]
    fn local_call_between_the_sim_fxs_ports_through_media_events() {
        let mut cc = CallControl::from_config(&Config::default_for_sim()).unwrap();
        drain_media(&mut cc);
        cc.media_event(&hook(0, FxsEventKind::OffHook, t(0)), t(0));
        let cmds = drain_media(&mut cc);
        assert!(
            cmds[0].contains("PlayTone") && cmds[0].contains("Dial"),
            "{cmds:?}"
        );
        for d in ['*', '0', '2'] {
            cc.media_event(&dtmf(0, d), t(1000));
        }
        let cmds = drain_media(&mut cc);
        assert!(
            cmds.iter()
                .any(|c| c.contains("SetFeed { port: 1, feed: Ringing")),
            "{cmds:?}"
        );
        assert!(
            cmds.iter()
                .any(|c| c.contains("PlayTone { port: 0, tone: Ringback")),
            "{cmds:?}"
        );
        assert!(cc.take_sip().is_none(), "local calls need no SIP");
        // Caller ID to port 1 in the first ring pause (US: 2 s on + 0.5 s).
        cc.poll(t(3500));
        let cmds = drain_media(&mut cc);
        assert!(
            cmds.iter().any(|c| c.starts_with("SendCallerId { port: 1")),
            "{cmds:?}"
        );
        cc.media_event(&hook(1, FxsEventKind::OffHook, t(5000)), t(5000));
        let cmds = drain_media(&mut cc);
        assert!(cmds.contains(&format!(
            "{:?}",
            MediaCommand::SetFeed {
                port: 1,
                feed: LineFeed::ForwardActive
            }
        )));
        assert!(cmds.contains(&format!("{:?}", MediaCommand::StopTone { port: 0 })));
        assert!(cmds.contains(&format!(
            "{:?}",
            MediaCommand::Connect {
                a: Endpoint::Port(0),
                b: Endpoint::Port(1)
            }
        )));
        cc.media_event(&hook(0, FxsEventKind::OnHook, t(9000)), t(9000));
        let cmds = drain_media(&mut cc);
        assert!(cmds.contains(&format!(
            "{:?}",
            MediaCommand::Disconnect {
                a: Endpoint::Port(0),
                b: Endpoint::Port(1)
            }
        )));
        assert!(cmds.contains(&format!(
            "{:?}",
            MediaCommand::PlayTone {
                port: 1,
                tone: ToneKind::Congestion,
                over_audio: false
            }
        )));
    }

    #[test]
    fn outgoing_sip_call_binds_its_stream() {
        let mut cc = CallControl::from_config(&Config::default_for_sim()).unwrap();
        drain_media(&mut cc);
        cc.media_event(&hook(0, FxsEventKind::OffHook, t(0)), t(0));
        for d in "12125551212".chars() {
            cc.media_event(&dtmf(0, d), t(1000));
        }
        let req = cc.take_sip().unwrap();
        let PortAction::Invite { leg, ref number, .. } = req.action else {
            panic!("{req:?}")
        };
        assert_eq!((req.port, number.as_str()), (0, "12125551212"));
        cc.bind_stream(0, leg, StreamId(3));
        drain_media(&mut cc);
        cc.sip_event(0, SipEvent::Answered { leg }, t(3000));
        assert_eq!(
            drain_media(&mut cc),
            vec![format!(
                "{:?}",
                MediaCommand::Connect {
                    a: Endpoint::Port(0),
                    b: Endpoint::Stream(StreamId(3))
                }
            )]
        );
        cc.media_event(&hook(0, FxsEventKind::OnHook, t(9000)), t(9000));
        assert_eq!(
            drain_media(&mut cc),
            vec![format!(
                "{:?}",
                MediaCommand::Disconnect {
                    a: Endpoint::Port(0),
                    b: Endpoint::Stream(StreamId(3))
                }
            )]
        );
        assert_eq!(cc.take_sip().map(|r| r.action), Some(PortAction::Bye(leg)));
        assert_eq!(cc.stream_of(0, leg), None);
    }

    #[test]
    fn fxo_outbound_dials_dtmf_on_dial_tone_and_answers_after_digits_sent() {
        let mut cc = CallControl::from_config(&Config::default_for_sim()).unwrap();
        drain_media(&mut cc);
        let leg = LegId(0x8000_0001);
        cc.sip_event(
            2,
            SipEvent::Incoming {
                leg,
                caller: CallerInfo::default(),
                called: "5550100".into(),
                distinctive_ring: None,
            },
            t(0),
        );
        assert_eq!(
            drain_media(&mut cc),
            vec![format!(
                "{:?}",
                MediaCommand::SetOffHook {
                    port: 2,
                    off_hook: true
                }
            )]
        );
        cc.media_event(
            &MediaEvent::Audio(AudioEvent {
                port: 2,
                kind: AudioEventKind::CallProgress {
                    heard: Heard::Tone(ToneKind::Dial),
                    at_sample: 0,
                },
            }),
            t(500),
        );
        let cmds = drain_media(&mut cc);
        assert!(
            cmds[0].starts_with("SendDigits { target: Line(2), digits: \"5550100\""),
            "{cmds:?}"
        );
        cc.bind_stream(2, leg, StreamId(0));
        cc.media_event(
            &MediaEvent::Audio(AudioEvent {
                port: 2,
                kind: AudioEventKind::DigitsSent,
            }),
            t(2000),
        );
        let sip: Vec<PortAction> = std::iter::from_fn(|| cc.take_sip()).map(|r| r.action).collect();
        assert_eq!(
            sip,
            vec![
                PortAction::Ringing {
                    leg,
                    early_media: true
                },
                PortAction::Answer(leg)
            ]
        );
    }

    #[test]
    fn new_settings_apply_to_idle_ports_at_once_and_to_busy_ports_after_the_call() {
        let mut cc = CallControl::from_config(&Config::default_for_sim()).unwrap();
        drain_media(&mut cc);
        // Port 0 is in a call (dial tone); port 1 is idle.
        cc.media_event(&hook(0, FxsEventKind::OffHook, t(0)), t(0));
        drain_media(&mut cc);
        let mut cfg = Config::default_for_sim();
        cfg.ports[0].country = "GB".into();
        cfg.ports[1].country = "DE".into();
        cc.reconfigure(&cfg).unwrap();
        let cmds = drain_media(&mut cc);
        let plans: Vec<&String> = cmds.iter().filter(|c| c.starts_with("SetTonePlan")).collect();
        assert_eq!(plans.len(), 1, "{cmds:?}");
        assert!(
            plans[0].contains("port: 1") && plans[0].contains("\"DE\""),
            "{cmds:?}"
        );
        assert_eq!(cc.call_state(0), "dial tone", "the call on port 0 goes on");
        cc.media_event(&hook(0, FxsEventKind::OnHook, t(1000)), t(1000));
        drain_media(&mut cc);
        cc.poll(t(1010));
        let cmds = drain_media(&mut cc);
        assert!(
            cmds.iter()
                .any(|c| c.starts_with("SetTonePlan { port: 0") && c.contains("\"GB\"")),
            "{cmds:?}"
        );
        // A configuration that does not build changes nothing.
        cfg.ports[1].dial_plan = "(12".into();
        assert!(cc.reconfigure(&cfg).is_err());
        assert!(drain_media(&mut cc).is_empty());
    }

    #[test]
    fn fxo_caller_id_from_the_media_loop_goes_into_the_invite() {
        let mut cc = CallControl::from_config(&Config::default_for_sim()).unwrap();
        drain_media(&mut cc);
        let cid = codecs::callerid::CallerId::new("2125550147", "ALICE").unwrap();
        cc.media_event(
            &MediaEvent::Audio(AudioEvent {
                port: 2,
                kind: AudioEventKind::CallerId(cid),
            }),
            t(0),
        );
        // Ringing from the exchange until the port places its call.
        let ring = |kind, at| {
            MediaEvent::Line(LineEvent {
                port: 2,
                kind: LineEventKind::Fxo(hal::fxo::FxoEvent { kind, at }),
            })
        };
        let mut at = 100;
        let mut invite = None;
        for _ in 0..4 {
            cc.media_event(&ring(hal::fxo::FxoEventKind::RingStart, t(at)), t(at));
            at += 2000;
            cc.media_event(
                &ring(
                    hal::fxo::FxoEventKind::RingStop {
                        on: Duration::from_millis(2000),
                    },
                    t(at),
                ),
                t(at),
            );
            at += 4000;
            cc.poll(t(at));
            if let Some(r) = cc.take_sip() {
                invite = Some(r);
                break;
            }
        }
        let Some(SipRequest {
            action: PortAction::Invite { caller, .. },
            ..
        }) = invite
        else {
            panic!("no INVITE: {invite:?}")
        };
        let caller = caller.expect("caller");
        assert_eq!(
            (caller.number.as_str(), caller.name.as_str()),
            ("2125550147", "ALICE")
        );
    }

    #[test]
    fn call_state_text() {
        let mut cc = CallControl::from_config(&Config::default_for_sim()).unwrap();
        assert_eq!(cc.call_state(0), "idle");
        cc.media_event(&hook(0, FxsEventKind::OffHook, t(0)), t(0));
        assert_eq!(cc.call_state(0), "dial tone");
        cc.media_event(&dtmf(0, '5'), t(100));
        assert_eq!(cc.call_state(0), "dialling 5");
        assert_eq!(cc.call_state(2), "idle");
        assert_eq!(cc.call_state(9), "disabled");
    }

    #[test]
    fn caller_id_commands_per_standard_and_privacy() {
        let alice = CallerInfo {
            number: "5551234".into(),
            name: "ALICE".into(),
            private: false,
        };
        assert!(caller_id_command(0, CallerIdStandard::None, &alice).is_none());
        for s in [
            CallerIdStandard::Bell202,
            CallerIdStandard::V23,
            CallerIdStandard::Dtmf,
        ] {
            assert!(matches!(
                caller_id_command(0, s, &alice),
                Some(MediaCommand::SendCallerId { port: 0, .. })
            ));
        }
        let private = CallerInfo {
            private: true,
            ..CallerInfo::default()
        };
        assert!(caller_id_command(0, CallerIdStandard::Bell202, &private).is_some());
        assert!(caller_id_command(0, CallerIdStandard::Dtmf, &private).is_some());
        let odd = CallerInfo {
            number: "bob".into(),
            name: "Zoë\u{1}".into(),
            private: false,
        };
        assert!(caller_id_command(0, CallerIdStandard::Bell202, &odd).is_some());
    }
}
