//! The process: opens the board, starts the media loop, the control plane and the web page.
//! This is the thin edge where threads, tokio and sockets meet the sans-IO cores.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hal::board::{PortId, PortKind as HalPortKind};
use hal::fxo::FxoEventKind;
use hal::fxs::FxsEventKind;

use crate::config::Config;
use crate::config::board::{Backend, BoardDef};
use crate::config::model::PortKind;
use crate::media::{LineEvent, LineEventKind, MediaEngine, MediaEvent, MediaHandle, PortLines};
use crate::web::status::{EventRecord, PortStatus, Status};

/// Why the gateway could not start.
#[derive(Debug)]
pub enum StartError {
    Board(std::io::Error),
    Web { addr: SocketAddr, err: std::io::Error },
    Media(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Board(e) => write!(f, "cannot open the board: {e}"),
            StartError::Web { addr, err } => write!(f, "cannot listen for the web page on {addr}: {err}"),
            StartError::Media(e) => write!(f, "cannot start the media loop: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// An opened board: its media loop handle and, for the simulated board, where each port listens.
pub struct OpenBoard {
    pub media: MediaHandle,
    pub port_addrs: Vec<(u8, PortKind, Option<SocketAddr>)>,
    _sim: Option<hal::sim::SimBoard>,
}

/// Opens the board's ports and starts the media loop on them.
pub fn open_board(def: &BoardDef) -> Result<OpenBoard, StartError> {
    // Line chips on SPI/GPIO and ALSA: the hardware backend (validation keeps one backend per board).
    if def.backend() == Backend::Hw {
        let hw = crate::hwboard::open(def).map_err(|e| StartError::Board(e.into()))?;
        return Ok(OpenBoard {
            media: hw.media,
            port_addrs: hw.port_addrs,
            _sim: None,
        });
    }
    let sim_ports = def
        .ports
        .iter()
        .map(|p| match p.backend {
            Backend::Sim | Backend::Hw => hal::sim::SimPortConfig {
                kind: match p.kind {
                    PortKind::Fxs => HalPortKind::Fxs,
                    PortKind::Fxo => HalPortKind::Fxo,
                },
                tcp_port: p.tcp_port,
            },
        })
        .collect();
    let mut sim_cfg = hal::sim::SimBoardConfig::new(sim_ports);
    for (i, p) in def.ports.iter().enumerate() {
        if let Some(dev) = &p.device {
            sim_cfg = sim_cfg.with_device(i, dev);
        }
    }
    let mut sim = hal::sim::SimBoard::start(sim_cfg).map_err(StartError::Board)?;
    let pcm = sim
        .take_pcm()
        .ok_or_else(|| StartError::Board(std::io::Error::other("board clock taken")))?;
    let mut lines = Vec::new();
    let mut port_addrs = Vec::new();
    for (i, p) in def.ports.iter().enumerate() {
        let id = PortId(i as u8);
        port_addrs.push((i as u8, p.kind, sim.local_addr(id)));
        match p.kind {
            PortKind::Fxs => {
                if let Some(line) = sim.take_fxs(id) {
                    lines.push(PortLines::Fxs {
                        id: i as u8,
                        pcm_channel: i,
                        line: Box::new(line),
                    });
                }
            }
            PortKind::Fxo => {
                if let Some(line) = sim.take_fxo(id) {
                    lines.push(PortLines::Fxo {
                        id: i as u8,
                        pcm_channel: i,
                        line: Box::new(line),
                    });
                }
            }
        }
    }
    let (engine, mut media) = MediaEngine::new(Box::new(pcm), lines);
    engine.spawn(&mut media).map_err(StartError::Media)?;
    Ok(OpenBoard {
        media,
        port_addrs,
        _sim: Some(sim),
    })
}

/// Applies one line event to the status the web page shows.
pub fn record_event(status: &Mutex<Status>, ev: &LineEvent) {
    let Ok(mut st) = status.lock() else { return };
    let Some(p) = st.ports.iter_mut().find(|p| p.id == ev.port) else {
        return;
    };
    let at_ms = match ev.kind {
        LineEventKind::Fxs(e) => e.at.as_millis(),
        LineEventKind::Fxo(e) => e.at.as_millis(),
        LineEventKind::Fault(_) => 0,
    };
    let what = match ev.kind {
        LineEventKind::Fxs(e) => match e.kind {
            FxsEventKind::OffHook => {
                p.off_hook = true;
                "off-hook".to_string()
            }
            FxsEventKind::OnHook => {
                p.off_hook = false;
                "on-hook".to_string()
            }
            FxsEventKind::HookFlash { duration } => format!("hook flash ({} ms)", duration.as_millis()),
            FxsEventKind::PulseDigit { digit } => format!("pulse digit {digit}"),
        },
        LineEventKind::Fxo(e) => match e.kind {
            FxoEventKind::RingStart => {
                p.ringing = true;
                "ring start".to_string()
            }
            FxoEventKind::RingStop { on } => {
                p.ringing = false;
                format!("ring stop after {} ms", on.as_millis())
            }
            FxoEventKind::PolarityReversal { to } => format!("polarity reversal to {to:?}"),
            FxoEventKind::LoopCurrentDrop => "loop current drop".to_string(),
            FxoEventKind::LoopCurrentRestored { after } => {
                format!("loop current restored after {} ms", after.as_millis())
            }
            FxoEventKind::LinePresent => {
                p.line_present = Some(true);
                "line present".to_string()
            }
            FxoEventKind::LineAbsent => {
                p.line_present = Some(false);
                "line absent".to_string()
            }
        },
        LineEventKind::Fault(e) => format!("line fault: {e}"),
    };
    p.last_event = what.clone();
    st.push_event(EventRecord {
        at_ms,
        port: ev.port,
        text: what,
    });
}

/// Builds the initial status from the board and configuration.
pub fn initial_status(
    cfg: &Config,
    board: &BoardDef,
    addrs: &[(u8, PortKind, Option<SocketAddr>)],
) -> Status {
    let ports = addrs
        .iter()
        .map(|&(id, kind, addr)| {
            let port_cfg = cfg.ports.iter().find(|p| p.id == id);
            PortStatus {
                id,
                kind,
                sim_addr: addr.map(|a| a.to_string()),
                country: port_cfg.map(|p| p.country.clone()).unwrap_or_default(),
                account: port_cfg.map(|p| p.account.clone()).unwrap_or_default(),
                off_hook: false,
                ringing: false,
                line_present: if kind == PortKind::Fxo { Some(false) } else { None },
                last_event: String::new(),
                call_state: "idle".into(),
            }
        })
        .collect();
    Status {
        board: board.name.clone(),
        ports,
        ..Status::default()
    }
}

/// The call control of the configured ports; `None` (the reason printed) when the
/// configuration cannot drive them.
pub fn call_control(cfg: &crate::config::Config) -> Option<crate::call::control::CallControl> {
    match crate::call::control::CallControl::from_config(cfg) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("gatewayd: call control disabled: {e}");
            None
        }
    }
}

/// The SIP side of the control plane: the running user agent, its call events and the legs
/// joining it to the ports.
pub struct SipSide {
    pub ua: crate::sip::ua::driver::UaHandle,
    pub events: tokio::sync::mpsc::UnboundedReceiver<crate::sip::ua::UaEvent>,
    pub legs: crate::call::sipleg::SipLegs,
}

/// Puts each port's call state and the calls in progress on the status page.
fn publish_calls(
    status: &Mutex<Status>,
    cc: &crate::call::control::CallControl,
    sip: Option<&SipSide>,
    media: &MediaHandle,
) {
    let calls = sip
        .map(|s| s.ua.with(|ua, _| s.legs.calls(ua)))
        .unwrap_or_default();
    let Ok(mut st) = status.lock() else { return };
    for p in st.ports.iter_mut() {
        p.call_state = cc.call_state(p.id);
    }
    st.calls = calls
        .into_iter()
        .map(|c| {
            use std::sync::atomic::Ordering::Relaxed;
            let s = media.stats.stream(c.stream);
            let get = |f: fn(&crate::media::StreamStats) -> u64| s.map(f).unwrap_or(0);
            crate::web::status::CallStatus {
                port: c.port,
                direction: if c.outgoing { "out" } else { "in" }.into(),
                remote: c.remote,
                state: c.state.into(),
                codec: c.codec.into(),
                since_ms: c.since.elapsed().as_millis() as u64,
                rtp_sent: get(|s| s.packets_sent.load(Relaxed)),
                rtp_received: get(|s| s.packets_received.load(Relaxed)),
                rtp_lost: get(|s| s.packets_lost.load(Relaxed)),
                jitter_ms: s.map(|s| s.jitter.load(Relaxed) as f32 / 8.0).unwrap_or(0.0),
            }
        })
        .collect();
}

/// Runs call control over the media loop's events, the user agent's call events and
/// configuration changes, and drains them into the status, until `stop` fires.
pub async fn control_plane(
    mut media: MediaHandle,
    status: Arc<Mutex<Status>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut calls: Option<crate::call::control::CallControl>,
    mut sip: Option<SipSide>,
    mut config: tokio::sync::watch::Receiver<Arc<Config>>,
) -> MediaHandle {
    use crate::call::PortAction;
    use crate::call::SipEvent;
    use crate::call::sipleg::bind_rtp;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut turns: u64 = 0;
    let mut now = hal::Instant::ZERO;
    loop {
        let mut ua_event = None;
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
            ev = async {
                match sip.as_mut() {
                    Some(s) => s.events.recv().await,
                    None => std::future::pending().await,
                }
            } => match ev {
                Some(ev) => ua_event = Some(ev),
                // The user agent stopped: calls go on without it.
                None => sip = None,
            },
            r = config.changed() => {
                if r.is_ok() {
                    let cfg = config.borrow_and_update().clone();
                    if let Some(cc) = calls.as_mut()
                        && let Err(e) = cc.reconfigure(&cfg)
                    {
                        eprintln!("gatewayd: new port settings not applied: {e}");
                    }
                    if let Some(s) = sip.as_mut() {
                        s.legs.reconfigure(&cfg);
                    }
                }
            }
        }
        if let Some(cc) = calls.as_mut() {
            if let Some(ev) = ua_event.take()
                && let Some(s) = sip.as_mut()
            {
                let legs = &mut s.legs;
                s.ua.with(|ua, t| legs.ua_event(ua, cc, ev, t, now, &mut bind_rtp));
            }
            // SIP-T/SIP-I suspend timers (Q.764 T6/T2).
            if let Some(s) = sip.as_mut()
                && s.legs.next_deadline().is_some()
            {
                let legs = &mut s.legs;
                s.ua.with(|ua, t| legs.poll(ua, cc, t, now));
            }
            let mut seen = Vec::new();
            now = cc.drive(&mut media, |ev| match ev {
                MediaEvent::Line(ev) => {
                    eprintln!("port {}: {:?}", ev.port, ev.kind);
                    record_event(&status, ev);
                }
                // Line digits, for ports whose DTMF goes by SIP INFO.
                MediaEvent::Audio(a) => {
                    if matches!(a.kind, crate::media::AudioEventKind::DtmfStart { .. }) {
                        seen.push(*ev);
                    }
                }
                MediaEvent::Stream(_) => seen.push(*ev),
            });
            if let Some(s) = sip.as_mut() {
                let legs = &mut s.legs;
                for ev in seen {
                    match ev {
                        MediaEvent::Audio(a) => {
                            if let crate::media::AudioEventKind::DtmfStart { digit, .. } = a.kind {
                                s.ua.with(|ua, t| legs.line_digit(ua, cc, a.port, digit, t));
                            }
                        }
                        MediaEvent::Stream(e) => legs.stream_event(&e),
                        MediaEvent::Line(_) => {}
                    }
                }
            }
            while let Some(req) = cc.take_sip() {
                match sip.as_mut() {
                    Some(s) => {
                        let legs = &mut s.legs;
                        s.ua.with(|ua, t| legs.request(ua, cc, req, t, now, &mut bind_rtp));
                    }
                    // Without a user agent, calls beyond the local ports fail (reorder).
                    None => {
                        if let PortAction::Invite { leg, .. } = req.action {
                            cc.sip_event(req.port, SipEvent::Failed { leg, status: 503 }, now);
                        }
                    }
                }
            }
            cc.flush(&mut media);
            turns += 1;
            if turns.is_multiple_of(20) {
                publish_calls(&status, cc, sip.as_ref(), &media);
            }
        } else if let Some(ev) = ua_event.take()
            && let (Some(s), crate::sip::ua::UaEvent::Incoming { call, .. }) = (sip.as_ref(), &ev)
        {
            // No port can take calls.
            let call = *call;
            s.ua.with(|ua, t| {
                let _ = ua.reject(t, call, 503);
            });
        }
        while let Ok(ev) = media.events.pop() {
            if let MediaEvent::Line(ev) = ev {
                eprintln!("port {}: {:?}", ev.port, ev.kind);
                record_event(&status, &ev);
            }
        }
        media.collect_retired();
        if let Ok(mut st) = status.lock() {
            st.media_ticks = media.stats.ticks.load(std::sync::atomic::Ordering::Relaxed);
            st.media_overruns = media.stats.overruns.load(std::sync::atomic::Ordering::Relaxed);
        }
    }
    media
}
