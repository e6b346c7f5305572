//! Call control of one FXS port: a phone plugged into the gateway.
//!
//! [`FxsPort`] is sans-IO. Feed it the classified hook events and DTMF digits the media loop
//! reports ([`FxsPort::line`], [`FxsPort::dtmf`]), the SIP side of its calls ([`FxsPort::sip`])
//! and expired timers ([`FxsPort::poll`] at [`FxsPort::next_deadline`]); drain
//! [`FxsPort::take_action`].
//!
//! Timeline of the states:
//! ```text
//! Idle --off-hook--> DialTone --key--> Dialling --plan matches--> Calling --2xx--> Connected
//!   |                   |  (timeout)        | (no match/block)       | (4xx-6xx)       | (BYE)
//!   |                   +-----------> Failure tone --(timeout)--> Howler --(timeout)--> Silent
//!   +--INVITE--> Ringing --off-hook--> Connected
//! ```
//! On-hook from any off-hook state returns to Idle (CANCEL or BYE as the call requires).

use std::collections::VecDeque;
use std::time::Duration;

use codecs::tones::{RingCadence as PlanCadence, ToneKind, TonePlan};
use hal::Instant;
use hal::fxs::{FxsEventKind, LineFeed, RingCadence};

use super::dialplan::{DialPlan, DialPlanError, DigitCollector, InterdigitTimers, MatchOutcome};
use super::{CallerInfo, LegId, PortAction, SipEvent, failure_tone};
use crate::config::{CallerIdStandard, Port};

/// Settings of an FXS port, from its configuration.
#[derive(Clone, Debug)]
pub struct FxsSettings {
    pub plan: DialPlan,
    pub timers: InterdigitTimers,
    /// Normal ring cadence.
    pub ring: RingCadence,
    /// Distinctive cadences, selected by Alert-Info (1-based).
    pub distinctive: Vec<RingCadence>,
    pub caller_id: CallerIdStandard,
    /// Delay from the end of the first ring burst to the start of FSK caller ID.
    pub cid_delay: Duration,
    /// For DTMF caller ID (sent before ringing): time between the digits and the first ring.
    pub dtmf_cid_lead: Duration,
    /// Off-hook without a first key for this long: reorder.
    pub first_key_timeout: Duration,
    /// How long the failure tone (busy, reorder, SIT) plays before the howler.
    pub failure_tone: Duration,
    /// How long the howler plays before the line goes silent; zero: no howler, silence at once.
    pub howler: Duration,
    /// Unanswered incoming call: 480 after this long.
    pub ring_timeout: Duration,
    /// SIT instead of reorder for 404/410/484/604.
    pub sit_for_bad_numbers: bool,
    /// Reverse the battery while connected (answer supervision toward the phone, for payphones
    /// and call loggers).
    pub answer_reversal: bool,
}

/// Why a port's settings were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FxsSettingsError {
    DialPlan(DialPlanError),
    /// The country has no tone plan.
    UnknownCountry(String),
    /// `ring_cadence` is not "on,off[,on,off...]" in ms (at most 4 pairs, some ring).
    BadRingCadence(String),
}

impl std::fmt::Display for FxsSettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FxsSettingsError::DialPlan(e) => write!(f, "{e}"),
            FxsSettingsError::UnknownCountry(c) => write!(f, "no tone plan for country {c:?}"),
            FxsSettingsError::BadRingCadence(s) => {
                write!(f, "ring cadence {s:?} is not \"on,off[,on,off...]\" in ms")
            }
        }
    }
}

impl std::error::Error for FxsSettingsError {}

/// The dial plan's interdigit timers of a port (FXS, and FXO two-stage).
pub fn timers_from_port(port: &Port) -> InterdigitTimers {
    InterdigitTimers {
        long: Duration::from_millis(u64::from(port.interdigit_long_ms.max(1))),
        short: Duration::from_millis(u64::from(port.interdigit_short_ms.max(1))),
    }
}

fn to_hal(c: &PlanCadence) -> Option<RingCadence> {
    RingCadence::new(c.pattern, c.freq_hz)
}

/// Parses "on,off[,on,off...]" (ms).
pub fn parse_ring_cadence(s: &str, freq_hz: u8) -> Option<RingCadence> {
    let v: Vec<u16> = s
        .split(',')
        .map(|x| x.trim().parse::<u16>())
        .collect::<Result<_, _>>()
        .ok()?;
    if !v.len().is_multiple_of(2) {
        return None;
    }
    let pairs: Vec<(u16, u16)> = v.chunks(2).map(|c| (c[0], c[1])).collect();
    RingCadence::new(&pairs, freq_hz)
}

impl FxsSettings {
    /// Settings from a port's configuration (country tone plan, cadence override, dial plan).
    pub fn from_port(port: &Port) -> Result<FxsSettings, FxsSettingsError> {
        let plan = DialPlan::parse(&port.dial_plan).map_err(FxsSettingsError::DialPlan)?;
        let tones = TonePlan::for_country(&port.country)
            .ok_or_else(|| FxsSettingsError::UnknownCountry(port.country.clone()))?;
        let ring = if port.ring_cadence.trim().is_empty() {
            to_hal(&tones.ring)
        } else {
            parse_ring_cadence(&port.ring_cadence, tones.ring.freq_hz)
        }
        .ok_or_else(|| FxsSettingsError::BadRingCadence(port.ring_cadence.clone()))?;
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        let s = |v: u32| Duration::from_secs(u64::from(v));
        Ok(FxsSettings {
            plan,
            timers: timers_from_port(port),
            ring,
            distinctive: tones.distinctive_rings.iter().filter_map(to_hal).collect(),
            caller_id: port.caller_id,
            cid_delay: ms(port.cid_delay_ms),
            dtmf_cid_lead: ms(port.dtmf_cid_lead_ms),
            first_key_timeout: ms(port.first_digit_timeout_ms.max(1)),
            failure_tone: s(port.reorder_tone_s.max(1)),
            howler: s(port.howler_s),
            ring_timeout: s(port.ring_timeout_s.max(1)),
            sit_for_bad_numbers: port.sit_for_bad_numbers,
            answer_reversal: port.answer_polarity_reversal,
        })
    }

    /// Defaults around a dial plan (US cadence, Bell 202).
    pub fn defaults(plan: DialPlan) -> FxsSettings {
        FxsSettings {
            plan,
            timers: InterdigitTimers::default(),
            ring: RingCadence::new(&[(2000, 4000)], 20).expect("constant cadence"),
            distinctive: Vec::new(),
            caller_id: CallerIdStandard::Bell202,
            cid_delay: Duration::from_millis(500),
            dtmf_cid_lead: Duration::from_millis(1500),
            first_key_timeout: Duration::from_secs(15),
            failure_tone: Duration::from_secs(30),
            howler: Duration::from_secs(60),
            ring_timeout: Duration::from_secs(60),
            sit_for_bad_numbers: true,
            answer_reversal: false,
        }
    }
}

/// Where an outgoing call stands before it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Sent, or 100 Trying: silence.
    Trying,
    /// 180 without SDP: local ringback.
    Ringback,
    /// 18x with SDP: the far end's audio.
    EarlyMedia,
}

/// The port's state, for status pages and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FxsState {
    Idle,
    /// Incoming call ringing the phone.
    Ringing {
        leg: LegId,
    },
    /// Off-hook, dial tone, no key yet.
    DialTone,
    /// Keys being collected.
    Dialling {
        dialled: String,
    },
    Calling {
        leg: LegId,
        progress: Progress,
    },
    Connected {
        leg: LegId,
    },
    /// Off-hook after a failure or the far end hanging up: a tone, then the howler, then silence.
    Signalling {
        tone: Option<ToneKind>,
        howler: bool,
    },
}

#[derive(Clone, Debug)]
enum St {
    Idle,
    Ringing {
        leg: LegId,
        caller: CallerInfo,
        /// When ringing (or DTMF caller ID) began.
        since: Instant,
        /// Caller ID still due at this instant.
        cid_at: Option<Instant>,
        /// DTMF caller ID sent, ringing starts at this instant.
        ring_at: Option<Instant>,
        cadence: RingCadence,
    },
    DialTone {
        until: Instant,
    },
    Dialling {
        collector: DigitCollector,
    },
    Calling {
        leg: LegId,
        progress: Progress,
    },
    Connected {
        leg: LegId,
    },
    Signalling {
        tone: Option<ToneKind>,
        howler: bool,
        /// Next step (tone -> howler -> silence) at this instant.
        next: Option<Instant>,
    },
}

/// Call control of one FXS port.
#[derive(Debug)]
pub struct FxsPort {
    settings: FxsSettings,
    st: St,
    next_leg: u32,
    /// Legs we hung up before their INVITE was answered: a late 2xx gets a BYE.
    cancelled: Vec<LegId>,
    out: VecDeque<PortAction>,
}

impl FxsPort {
    /// `port` offsets the leg numbers so that legs of different ports never collide.
    pub fn new(port: u8, settings: FxsSettings) -> FxsPort {
        FxsPort {
            settings,
            st: St::Idle,
            next_leg: u32::from(port) << 24,
            cancelled: Vec::new(),
            out: VecDeque::new(),
        }
    }

    pub fn settings(&self) -> &FxsSettings {
        &self.settings
    }

    /// New settings (a configuration change); the current call is not disturbed.
    pub fn set_settings(&mut self, settings: FxsSettings) {
        self.settings = settings;
    }

    pub fn state(&self) -> FxsState {
        match &self.st {
            St::Idle => FxsState::Idle,
            St::Ringing { leg, .. } => FxsState::Ringing { leg: *leg },
            St::DialTone { .. } => FxsState::DialTone,
            St::Dialling { collector } => FxsState::Dialling {
                dialled: collector.dialled().to_string(),
            },
            St::Calling { leg, progress } => FxsState::Calling {
                leg: *leg,
                progress: *progress,
            },
            St::Connected { leg } => FxsState::Connected { leg: *leg },
            St::Signalling { tone, howler, .. } => FxsState::Signalling {
                tone: *tone,
                howler: *howler,
            },
        }
    }

    /// True when an incoming call would find the port busy.
    pub fn is_busy(&self) -> bool {
        !matches!(self.st, St::Idle)
    }

    /// The next queued action.
    pub fn take_action(&mut self) -> Option<PortAction> {
        self.out.pop_front()
    }

    /// When [`FxsPort::poll`] must run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.st {
            St::Ringing {
                since,
                cid_at,
                ring_at,
                ..
            } => {
                let timeout = *since + self.settings.ring_timeout;
                [Some(timeout), *cid_at, *ring_at].into_iter().flatten().min()
            }
            St::DialTone { until } => Some(*until),
            St::Dialling { collector } => collector.next_deadline(),
            St::Signalling { next, .. } => *next,
            _ => None,
        }
    }

    fn emit(&mut self, a: PortAction) {
        self.out.push_back(a);
    }

    fn new_leg(&mut self) -> LegId {
        let id = LegId(self.next_leg);
        self.next_leg = self.next_leg.wrapping_add(1);
        id
    }

    /// A classified hook event from the media loop.
    pub fn line(&mut self, ev: FxsEventKind, now: Instant) {
        match ev {
            FxsEventKind::OffHook => self.off_hook(now),
            FxsEventKind::OnHook => self.on_hook(),
            FxsEventKind::HookFlash { .. } => self.flash(now),
            FxsEventKind::PulseDigit { digit } => self.key(b'0' + digit % 10, now),
        }
    }

    /// A DTMF digit detected on the line by the media loop (`0`-`9`, `*`, `#`, `A`-`D`).
    pub fn dtmf(&mut self, key: u8, now: Instant) {
        // In a call the media loop relays DTMF itself (RFC 4733, INFO or in band).
        if matches!(self.st, St::DialTone { .. } | St::Dialling { .. }) {
            self.key(key, now);
        }
    }

    fn off_hook(&mut self, now: Instant) {
        match std::mem::replace(&mut self.st, St::Idle) {
            St::Idle => self.dial_tone(now),
            St::Ringing { leg, .. } => {
                // Ring trip: stop ringing, answer.
                self.emit(PortAction::Feed(self.talk_feed()));
                self.emit(PortAction::Answer(leg));
                self.emit(PortAction::MediaConnect(leg));
                self.st = St::Connected { leg };
            }
            other => self.st = other,
        }
    }

    fn talk_feed(&self) -> LineFeed {
        if self.settings.answer_reversal {
            LineFeed::ReverseActive
        } else {
            LineFeed::ForwardActive
        }
    }

    fn dial_tone(&mut self, now: Instant) {
        self.emit(PortAction::Tone(ToneKind::Dial));
        self.st = St::DialTone {
            until: now + self.settings.first_key_timeout,
        };
    }

    fn on_hook(&mut self) {
        match std::mem::replace(&mut self.st, St::Idle) {
            St::Idle | St::Ringing { .. } => {}
            St::DialTone { .. } | St::Dialling { .. } | St::Signalling { .. } => {
                self.emit(PortAction::StopTone);
            }
            St::Calling { leg, progress } => {
                if progress != Progress::Trying {
                    self.emit(PortAction::StopTone);
                }
                if progress == Progress::EarlyMedia {
                    self.emit(PortAction::MediaDisconnect(leg));
                }
                self.emit(PortAction::Cancel(leg));
                self.cancelled.push(leg);
                if self.cancelled.len() > 8 {
                    self.cancelled.remove(0);
                }
            }
            St::Connected { leg } => {
                self.emit(PortAction::MediaDisconnect(leg));
                self.emit(PortAction::Bye(leg));
                if self.settings.answer_reversal {
                    self.emit(PortAction::Feed(LineFeed::ForwardActive));
                }
            }
        }
    }

    fn flash(&mut self, now: Instant) {
        match &self.st {
            St::Connected { leg } => {
                let leg = *leg;
                // No local features yet: the flash goes to the far end (RFC 4733 event 16).
                self.emit(PortAction::SendKey { leg, key: b'!' });
            }
            // A flash while a failure tone or the howler plays gives a fresh dial tone.
            St::Signalling { .. } => {
                self.emit(PortAction::StopTone);
                self.dial_tone(now);
            }
            St::DialTone { .. } | St::Dialling { .. } => {
                self.emit(PortAction::StopTone);
                self.dial_tone(now);
            }
            _ => {}
        }
    }

    fn key(&mut self, key: u8, now: Instant) {
        match &mut self.st {
            St::DialTone { .. } => {
                self.emit(PortAction::StopTone);
                let collector = DigitCollector::new(&self.settings.plan, self.settings.timers);
                self.st = St::Dialling { collector };
                self.key(key, now);
            }
            St::Dialling { collector } => {
                let o = collector.key(key, now);
                self.collected(o, now);
            }
            St::Connected { leg } => {
                let leg = *leg;
                // A pulse-dialled digit during a call: relay it.
                self.emit(PortAction::SendKey { leg, key });
            }
            _ => {}
        }
    }

    fn collected(&mut self, o: MatchOutcome, now: Instant) {
        match o {
            MatchOutcome::Incomplete {
                outside_dial_tone, ..
            } => {
                if outside_dial_tone {
                    self.emit(PortAction::Tone(ToneKind::Dial));
                } else {
                    // Any outside dial tone stops at the next key.
                    self.emit(PortAction::StopTone);
                }
            }
            MatchOutcome::Dial(number) => {
                self.emit(PortAction::StopTone);
                let leg = self.new_leg();
                self.emit(PortAction::Invite {
                    leg,
                    number,
                    caller: None,
                });
                self.st = St::Calling {
                    leg,
                    progress: Progress::Trying,
                };
            }
            MatchOutcome::Block | MatchOutcome::NoMatch => {
                self.signal(Some(ToneKind::Congestion), now);
            }
        }
    }

    /// Off-hook with nothing to do: play `tone` (or go straight to the howler).
    fn signal(&mut self, tone: Option<ToneKind>, now: Instant) {
        match tone {
            None if self.settings.howler.is_zero() => {
                self.emit(PortAction::StopTone);
                self.st = St::Signalling {
                    tone: None,
                    howler: false,
                    next: None,
                };
            }
            Some(t) => {
                self.emit(PortAction::Tone(t));
                self.st = St::Signalling {
                    tone: Some(t),
                    howler: false,
                    next: Some(now + self.settings.failure_tone),
                };
            }
            None => {
                self.emit(PortAction::Howler);
                self.st = St::Signalling {
                    tone: None,
                    howler: true,
                    next: Some(now + self.settings.howler),
                };
            }
        }
    }

    /// Timers due at `now`.
    pub fn poll(&mut self, now: Instant) {
        match &mut self.st {
            St::DialTone { until } if now >= *until => {
                self.signal(Some(ToneKind::Congestion), now);
            }
            St::Dialling { collector } => {
                if let Some(o) = collector.poll(now) {
                    self.collected(o, now);
                }
            }
            St::Signalling { howler, next, .. } if next.is_some_and(|n| now >= n) => {
                if *howler {
                    *next = None;
                    self.out.push_back(PortAction::StopTone);
                } else {
                    self.signal(None, now);
                }
            }
            St::Ringing {
                leg,
                since,
                cid_at,
                ring_at,
                caller,
                cadence,
            } => {
                let leg = *leg;
                if now >= *since + self.settings.ring_timeout {
                    self.emit(PortAction::Feed(LineFeed::ForwardActive));
                    self.emit(PortAction::Reject { leg, status: 480 });
                    self.st = St::Idle;
                    return;
                }
                if cid_at.is_some_and(|t| now >= t) {
                    *cid_at = None;
                    self.out.push_back(PortAction::CallerId(caller.clone()));
                }
                if ring_at.is_some_and(|t| now >= t) {
                    *ring_at = None;
                    let feed = LineFeed::Ringing(cadence.clone());
                    self.out.push_back(PortAction::Feed(feed));
                }
            }
            _ => {}
        }
    }

    /// The SIP side of this port's calls.
    pub fn sip(&mut self, ev: SipEvent, now: Instant) {
        match ev {
            SipEvent::Incoming {
                leg,
                caller,
                distinctive_ring,
                ..
            } => self.incoming(leg, caller, distinctive_ring, now),
            SipEvent::Progress {
                leg,
                status,
                early_media,
            } => self.progress(leg, status, early_media),
            SipEvent::Answered { leg } => self.answered(leg),
            SipEvent::Failed { leg, status } => {
                if matches!(self.st, St::Calling { leg: l, .. } if l == leg) {
                    if let St::Calling {
                        progress: Progress::EarlyMedia,
                        ..
                    } = self.st
                    {
                        self.emit(PortAction::MediaDisconnect(leg));
                    }
                    let tone = failure_tone(status, self.settings.sit_for_bad_numbers);
                    self.signal(Some(tone), now);
                }
                self.cancelled.retain(|&l| l != leg);
            }
            SipEvent::Ended { leg } => self.ended(leg, ToneKind::Congestion, now),
            SipEvent::Released { leg, status } => {
                let tone = failure_tone(status, self.settings.sit_for_bad_numbers);
                self.ended(leg, tone, now)
            }
        }
    }

    fn incoming(&mut self, leg: LegId, caller: CallerInfo, distinctive: Option<u8>, now: Instant) {
        if !matches!(self.st, St::Idle) {
            self.emit(PortAction::Reject { leg, status: 486 });
            return;
        }
        // Ring N of the plan: 1 is the normal ring, 2.. the distinctive ones in plan order
        // (Bellcore dr2 is the first North American distinctive cadence).
        let cadence = distinctive
            .and_then(|n| self.settings.distinctive.get(usize::from(n).checked_sub(2)?))
            .unwrap_or(&self.settings.ring)
            .clone();
        self.emit(PortAction::Ringing {
            leg,
            early_media: false,
        });
        let (cid_at, ring_at) = match self.settings.caller_id {
            CallerIdStandard::None => (None, None),
            CallerIdStandard::Dtmf => {
                // DTMF caller ID precedes the first ring.
                self.emit(PortAction::CallerId(caller.clone()));
                (None, Some(now + self.settings.dtmf_cid_lead))
            }
            CallerIdStandard::Bell202 | CallerIdStandard::V23 => {
                let first_on = cadence
                    .segments
                    .first()
                    .map(|s| Duration::from_millis(u64::from(s.on_ms)))
                    .unwrap_or_default();
                (Some(now + first_on + self.settings.cid_delay), None)
            }
        };
        if ring_at.is_none() {
            self.emit(PortAction::Feed(LineFeed::Ringing(cadence.clone())));
        }
        self.st = St::Ringing {
            leg,
            caller,
            since: now,
            cid_at,
            ring_at,
            cadence,
        };
    }

    fn progress(&mut self, leg: LegId, status: u16, early_media: bool) {
        let St::Calling { leg: l, progress } = &mut self.st else {
            return;
        };
        if *l != leg || status <= 100 {
            return;
        }
        match (*progress, early_media) {
            (Progress::EarlyMedia, _) => {}
            (_, true) => {
                if *progress == Progress::Ringback {
                    self.out.push_back(PortAction::StopTone);
                }
                *progress = Progress::EarlyMedia;
                self.out.push_back(PortAction::MediaEarly(leg));
            }
            (Progress::Trying, false) if status == 180 || status == 182 => {
                *progress = Progress::Ringback;
                self.out.push_back(PortAction::Tone(ToneKind::Ringback));
            }
            _ => {}
        }
    }

    fn answered(&mut self, leg: LegId) {
        if let Some(i) = self.cancelled.iter().position(|&l| l == leg) {
            // Answered after we hung up: the UA ACKs; we end it.
            self.cancelled.remove(i);
            self.emit(PortAction::Bye(leg));
            return;
        }
        let St::Calling { leg: l, progress } = self.st else {
            return;
        };
        if l != leg {
            return;
        }
        if progress == Progress::Ringback {
            self.emit(PortAction::StopTone);
        }
        self.emit(PortAction::MediaConnect(leg));
        if self.settings.answer_reversal {
            self.emit(PortAction::Feed(LineFeed::ReverseActive));
        }
        self.st = St::Connected { leg };
    }

    /// The far end ended the call; a phone still off hook hears `tone`.
    fn ended(&mut self, leg: LegId, tone: ToneKind, now: Instant) {
        self.cancelled.retain(|&l| l != leg);
        match self.st {
            St::Ringing { leg: l, .. } if l == leg => {
                // CANCEL (or BYE before answer): stop ringing.
                self.emit(PortAction::Feed(LineFeed::ForwardActive));
                self.st = St::Idle;
            }
            St::Connected { leg: l } if l == leg => {
                self.emit(PortAction::MediaDisconnect(leg));
                if self.settings.answer_reversal {
                    self.emit(PortAction::Feed(LineFeed::ForwardActive));
                }
                self.signal(Some(tone), now);
            }
            St::Calling { leg: l, progress } if l == leg => {
                if progress == Progress::EarlyMedia {
                    self.emit(PortAction::MediaDisconnect(leg));
                }
                self.signal(Some(tone), now);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::dialplan::DialPlan;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn port() -> FxsPort {
        let plan = DialPlan::parse("(*xx|[3469]11|[2-9]xxxxxx|1xxx[2-9]xxxxxxS0|xxxxxxxxxxxx.)").unwrap();
        FxsPort::new(0, FxsSettings::defaults(plan))
    }

    fn drain(p: &mut FxsPort) -> Vec<PortAction> {
        std::iter::from_fn(|| p.take_action()).collect()
    }

    fn us_ring() -> RingCadence {
        RingCadence::new(&[(2000, 4000)], 20).unwrap()
    }

    /// Off-hook and dial `keys` by DTMF from t=1000, one key per 200 ms.
    fn dial(p: &mut FxsPort, keys: &str) -> (Vec<PortAction>, LegId) {
        p.line(FxsEventKind::OffHook, t(0));
        assert_eq!(drain(p), vec![PortAction::Tone(ToneKind::Dial)]);
        let mut now = 1000;
        for k in keys.bytes() {
            p.dtmf(k, t(now));
            now += 200;
        }
        let acts = drain(p);
        let leg = match p.state() {
            FxsState::Calling { leg, .. } => leg,
            s => panic!("not calling: {s:?}"),
        };
        (acts, leg)
    }

    #[test]
    fn off_hook_dial_tone_first_key_stops_it_and_s0_dials() {
        let mut p = port();
        let (acts, leg) = dial(&mut p, "12125551212");
        assert_eq!(acts[0], PortAction::StopTone, "the first key stops dial tone");
        assert_eq!(
            acts.last(),
            Some(&PortAction::Invite {
                leg,
                number: "12125551212".into(),
                caller: None
            })
        );
        assert_eq!(
            p.state(),
            FxsState::Calling {
                leg,
                progress: Progress::Trying
            }
        );
    }

    #[test]
    fn pulse_digits_dial_too() {
        let mut p = port();
        p.line(FxsEventKind::OffHook, t(0));
        drain(&mut p);
        for (i, d) in [9u8, 1, 1].iter().enumerate() {
            p.line(FxsEventKind::PulseDigit { digit: *d }, t(1000 + i as u64 * 1000));
        }
        assert_eq!(
            p.state(),
            FxsState::Dialling {
                dialled: "911".into()
            }
        );
        // 911 matches, and a longer number could too: short timer (3 s).
        assert_eq!(p.next_deadline(), Some(t(3000 + 3000)));
        p.poll(t(6000));
        let acts = drain(&mut p);
        assert!(
            matches!(&acts[..], [.., PortAction::Invite { number, .. }] if number == "911"),
            "{acts:?}"
        );
    }

    #[test]
    fn ten_pulses_is_zero() {
        let mut p = FxsPort::new(0, FxsSettings::defaults(DialPlan::parse("(0S0)").unwrap()));
        p.line(FxsEventKind::OffHook, t(0));
        p.line(FxsEventKind::PulseDigit { digit: 0 }, t(1000));
        assert!(matches!(p.state(), FxsState::Calling { .. }));
    }

    #[test]
    fn no_key_after_dial_tone_gives_reorder_then_howler_then_silence() {
        let mut p = port();
        p.line(FxsEventKind::OffHook, t(0));
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(15_000)));
        p.poll(t(15_000));
        assert_eq!(drain(&mut p), vec![PortAction::Tone(ToneKind::Congestion)]);
        p.poll(t(45_000));
        assert_eq!(drain(&mut p), vec![PortAction::Howler]);
        assert_eq!(
            p.state(),
            FxsState::Signalling {
                tone: None,
                howler: true
            }
        );
        p.poll(t(105_000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone]);
        assert_eq!(p.next_deadline(), None);
        p.line(FxsEventKind::OnHook, t(200_000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone]);
        assert_eq!(p.state(), FxsState::Idle);
    }

    #[test]
    fn unmatched_number_gives_reorder() {
        let mut p = port();
        p.line(FxsEventKind::OffHook, t(0));
        p.dtmf(b'#', t(500));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Tone(ToneKind::Dial),
                PortAction::StopTone,
                PortAction::Tone(ToneKind::Congestion)
            ]
        );
    }

    #[test]
    fn blocked_number_gives_reorder() {
        let mut p = FxsPort::new(
            0,
            FxsSettings::defaults(DialPlan::parse("(1900xxx!|1xxxxxxx)").unwrap()),
        );
        p.line(FxsEventKind::OffHook, t(0));
        for k in "1900555".bytes() {
            p.dtmf(k, t(500));
        }
        // 1xxxxxxx could still match a longer number: the short timer decides.
        assert!(matches!(p.state(), FxsState::Dialling { .. }));
        p.poll(t(3500));
        assert_eq!(
            p.state(),
            FxsState::Signalling {
                tone: Some(ToneKind::Congestion),
                howler: false
            }
        );
    }

    #[test]
    fn hook_flash_is_not_a_hang_up() {
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.sip(SipEvent::Answered { leg }, t(5000));
        drain(&mut p);
        p.line(
            FxsEventKind::HookFlash {
                duration: Duration::from_millis(300),
            },
            t(6000),
        );
        assert_eq!(drain(&mut p), vec![PortAction::SendKey { leg, key: b'!' }]);
        assert_eq!(p.state(), FxsState::Connected { leg });
        p.line(FxsEventKind::OnHook, t(7000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::MediaDisconnect(leg), PortAction::Bye(leg)]
        );
    }

    #[test]
    fn progress_tones_and_answer() {
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.sip(
            SipEvent::Progress {
                leg,
                status: 100,
                early_media: false,
            },
            t(3000),
        );
        assert_eq!(drain(&mut p), vec![], "100 Trying: silence");
        p.sip(
            SipEvent::Progress {
                leg,
                status: 180,
                early_media: false,
            },
            t(3100),
        );
        assert_eq!(drain(&mut p), vec![PortAction::Tone(ToneKind::Ringback)]);
        p.sip(
            SipEvent::Progress {
                leg,
                status: 180,
                early_media: false,
            },
            t(3200),
        );
        assert_eq!(drain(&mut p), vec![], "a repeated 180 does not restart ringback");
        p.sip(
            SipEvent::Progress {
                leg,
                status: 183,
                early_media: true,
            },
            t(3300),
        );
        assert_eq!(
            drain(&mut p),
            vec![PortAction::StopTone, PortAction::MediaEarly(leg)]
        );
        p.sip(SipEvent::Answered { leg }, t(4000));
        assert_eq!(drain(&mut p), vec![PortAction::MediaConnect(leg)]);
        assert_eq!(p.state(), FxsState::Connected { leg });
    }

    #[test]
    fn answer_after_ringback_stops_it() {
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.sip(
            SipEvent::Progress {
                leg,
                status: 180,
                early_media: false,
            },
            t(3100),
        );
        drain(&mut p);
        p.sip(SipEvent::Answered { leg }, t(4000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::StopTone, PortAction::MediaConnect(leg)]
        );
    }

    #[test]
    fn failures_map_to_tones() {
        for (status, tone) in [
            (486, ToneKind::Busy),
            (600, ToneKind::Busy),
            (404, ToneKind::Sit),
            (484, ToneKind::Sit),
            (410, ToneKind::Sit),
            (408, ToneKind::Congestion),
            (480, ToneKind::Congestion),
            (503, ToneKind::Congestion),
            (403, ToneKind::Congestion),
        ] {
            let mut p = port();
            let (_, leg) = dial(&mut p, "12125551212");
            p.sip(SipEvent::Failed { leg, status }, t(4000));
            assert_eq!(drain(&mut p), vec![PortAction::Tone(tone)], "{status}");
            p.poll(t(4000 + 30_000));
            assert_eq!(drain(&mut p), vec![PortAction::Howler], "{status}");
        }
    }

    #[test]
    fn failure_during_early_media_stops_it() {
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.sip(
            SipEvent::Progress {
                leg,
                status: 183,
                early_media: true,
            },
            t(3300),
        );
        drain(&mut p);
        p.sip(SipEvent::Failed { leg, status: 486 }, t(4000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::MediaDisconnect(leg), PortAction::Tone(ToneKind::Busy)]
        );
    }

    #[test]
    fn hang_up_while_calling_cancels_and_a_late_answer_gets_bye() {
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.sip(
            SipEvent::Progress {
                leg,
                status: 180,
                early_media: false,
            },
            t(3100),
        );
        drain(&mut p);
        p.line(FxsEventKind::OnHook, t(4000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone, PortAction::Cancel(leg)]);
        assert_eq!(p.state(), FxsState::Idle);
        p.sip(SipEvent::Answered { leg }, t(4100));
        assert_eq!(drain(&mut p), vec![PortAction::Bye(leg)]);
    }

    #[test]
    fn hang_up_after_trying_cancels_and_487_is_quiet() {
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.line(FxsEventKind::OnHook, t(4000));
        assert_eq!(drain(&mut p), vec![PortAction::Cancel(leg)]);
        p.sip(SipEvent::Failed { leg, status: 487 }, t(4100));
        assert_eq!(drain(&mut p), vec![]);
        assert_eq!(p.state(), FxsState::Idle);
    }

    #[test]
    fn remote_bye_gives_reorder_then_howler_until_on_hook() {
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.sip(SipEvent::Answered { leg }, t(4000));
        drain(&mut p);
        p.sip(SipEvent::Ended { leg }, t(10_000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Tone(ToneKind::Congestion)
            ]
        );
        p.poll(t(40_000));
        assert_eq!(drain(&mut p), vec![PortAction::Howler]);
        p.line(FxsEventKind::OnHook, t(50_000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone]);
        assert!(!p.is_busy());
    }

    #[test]
    fn remote_release_with_a_cause_plays_its_tone() {
        // REL cause 17 in the far end's BYE: busy tone, as a 486 would.
        let mut p = port();
        let (_, leg) = dial(&mut p, "12125551212");
        p.sip(SipEvent::Answered { leg }, t(4000));
        drain(&mut p);
        p.sip(SipEvent::Released { leg, status: 486 }, t(10_000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::MediaDisconnect(leg), PortAction::Tone(ToneKind::Busy)]
        );
        p.line(FxsEventKind::OnHook, t(12_000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone]);
        assert!(!p.is_busy());
    }

    #[test]
    fn incoming_rings_sends_caller_id_in_first_pause_and_answers_on_off_hook() {
        let mut p = port();
        let leg = LegId(77);
        let caller = CallerInfo {
            number: "5551234".into(),
            name: "ALICE".into(),
            private: false,
        };
        p.sip(
            SipEvent::Incoming {
                leg,
                caller: caller.clone(),
                called: String::new(),
                distinctive_ring: None,
            },
            t(0),
        );
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Ringing {
                    leg,
                    early_media: false
                },
                PortAction::Feed(LineFeed::Ringing(us_ring()))
            ]
        );
        // Caller ID 500 ms after the first 2 s burst.
        assert_eq!(p.next_deadline(), Some(t(2500)));
        p.poll(t(2499));
        assert_eq!(drain(&mut p), vec![]);
        p.poll(t(2500));
        assert_eq!(drain(&mut p), vec![PortAction::CallerId(caller)]);
        assert_eq!(p.next_deadline(), Some(t(60_000)), "then only the ring timeout");
        p.line(FxsEventKind::OffHook, t(8000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Feed(LineFeed::ForwardActive),
                PortAction::Answer(leg),
                PortAction::MediaConnect(leg)
            ]
        );
        p.sip(SipEvent::Ended { leg }, t(20_000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Tone(ToneKind::Congestion)
            ]
        );
    }

    #[test]
    fn dtmf_caller_id_precedes_ringing() {
        let mut s = FxsSettings::defaults(DialPlan::parse("(x.)").unwrap());
        s.caller_id = CallerIdStandard::Dtmf;
        let mut p = FxsPort::new(0, s);
        let leg = LegId(1);
        let caller = CallerInfo {
            number: "5551234".into(),
            ..CallerInfo::default()
        };
        p.sip(
            SipEvent::Incoming {
                leg,
                caller: caller.clone(),
                called: String::new(),
                distinctive_ring: None,
            },
            t(0),
        );
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Ringing {
                    leg,
                    early_media: false
                },
                PortAction::CallerId(caller)
            ]
        );
        assert_eq!(p.next_deadline(), Some(t(1500)));
        p.poll(t(1500));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::Feed(LineFeed::Ringing(us_ring()))]
        );
    }

    #[test]
    fn distinctive_ring_from_alert_info() {
        let mut s = FxsSettings::defaults(DialPlan::parse("(x.)").unwrap());
        let dr = RingCadence::new(&[(800, 400), (800, 4000)], 20).unwrap();
        s.distinctive = vec![dr.clone()];
        s.caller_id = CallerIdStandard::None;
        let mut p = FxsPort::new(0, s);
        let inc = |leg, n| SipEvent::Incoming {
            leg,
            caller: CallerInfo::default(),
            called: String::new(),
            distinctive_ring: n,
        };
        // Ring 2 (`Bellcore-dr2`, `alert-2`) is the plan's first distinctive cadence.
        p.sip(inc(LegId(1), Some(2)), t(0));
        assert_eq!(drain(&mut p)[1], PortAction::Feed(LineFeed::Ringing(dr)));
        p.sip(SipEvent::Ended { leg: LegId(1) }, t(100));
        drain(&mut p);
        // Ring 1 is the normal ring.
        p.sip(inc(LegId(3), Some(1)), t(150));
        assert_eq!(drain(&mut p)[1], PortAction::Feed(LineFeed::Ringing(us_ring())));
        p.sip(SipEvent::Ended { leg: LegId(3) }, t(180));
        drain(&mut p);
        // An unknown index falls back to the normal cadence.
        p.sip(inc(LegId(2), Some(9)), t(200));
        assert_eq!(drain(&mut p)[1], PortAction::Feed(LineFeed::Ringing(us_ring())));
    }

    #[test]
    fn busy_port_rejects_with_486() {
        let mut p = port();
        p.line(FxsEventKind::OffHook, t(0));
        drain(&mut p);
        let leg = LegId(5);
        p.sip(
            SipEvent::Incoming {
                leg,
                caller: CallerInfo::default(),
                called: String::new(),
                distinctive_ring: None,
            },
            t(10),
        );
        assert_eq!(drain(&mut p), vec![PortAction::Reject { leg, status: 486 }]);
        assert_eq!(p.state(), FxsState::DialTone);
    }

    #[test]
    fn cancel_stops_ringing_and_ring_timeout_gives_480() {
        let mut p = port();
        let inc = |leg| SipEvent::Incoming {
            leg,
            caller: CallerInfo::default(),
            called: String::new(),
            distinctive_ring: None,
        };
        p.sip(inc(LegId(1)), t(0));
        drain(&mut p);
        p.sip(SipEvent::Ended { leg: LegId(1) }, t(3000));
        assert_eq!(drain(&mut p), vec![PortAction::Feed(LineFeed::ForwardActive)]);
        assert_eq!(p.state(), FxsState::Idle);

        p.sip(inc(LegId(2)), t(10_000));
        drain(&mut p);
        p.poll(t(12_500));
        drain(&mut p);
        p.poll(t(70_000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Feed(LineFeed::ForwardActive),
                PortAction::Reject {
                    leg: LegId(2),
                    status: 480
                }
            ]
        );
        assert_eq!(p.state(), FxsState::Idle);
    }

    #[test]
    fn answer_reversal_when_configured() {
        let mut s = FxsSettings::defaults(DialPlan::parse("(xS0)").unwrap());
        s.answer_reversal = true;
        let mut p = FxsPort::new(0, s);
        let (_, leg) = dial(&mut p, "5");
        p.sip(SipEvent::Answered { leg }, t(2000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaConnect(leg),
                PortAction::Feed(LineFeed::ReverseActive)
            ]
        );
        p.line(FxsEventKind::OnHook, t(3000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Bye(leg),
                PortAction::Feed(LineFeed::ForwardActive)
            ]
        );
    }

    #[test]
    fn outside_dial_tone_plays_at_comma() {
        let mut p = FxsPort::new(0, FxsSettings::defaults(DialPlan::parse("(9,xxxxxxx)").unwrap()));
        p.line(FxsEventKind::OffHook, t(0));
        p.dtmf(b'9', t(100));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Tone(ToneKind::Dial),
                PortAction::StopTone,
                PortAction::Tone(ToneKind::Dial)
            ]
        );
        p.dtmf(b'5', t(900));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone]);
    }

    #[test]
    fn flash_on_reorder_gives_fresh_dial_tone() {
        let mut p = port();
        p.line(FxsEventKind::OffHook, t(0));
        p.dtmf(b'#', t(500));
        drain(&mut p);
        p.line(
            FxsEventKind::HookFlash {
                duration: Duration::from_millis(300),
            },
            t(2000),
        );
        assert_eq!(
            drain(&mut p),
            vec![PortAction::StopTone, PortAction::Tone(ToneKind::Dial)]
        );
        assert_eq!(p.state(), FxsState::DialTone);
    }

    #[test]
    fn settings_from_port_config() {
        let mut port = Port {
            country: "GB".into(),
            ..Port::default()
        };
        let s = FxsSettings::from_port(&port).unwrap();
        assert_eq!(s.ring.segments.len(), 2, "UK double ring");
        port.ring_cadence = "1000,3000".into();
        let s = FxsSettings::from_port(&port).unwrap();
        assert_eq!(s.ring.segments[0].on_ms, 1000);
        port.ring_cadence = "1000".into();
        assert!(matches!(
            FxsSettings::from_port(&port),
            Err(FxsSettingsError::BadRingCadence(_))
        ));
        port.ring_cadence.clear();
        port.country = "ZZ".into();
        assert!(matches!(
            FxsSettings::from_port(&port),
            Err(FxsSettingsError::UnknownCountry(_))
        ));
        port.country = "US".into();
        port.dial_plan = "(1[2".into();
        let e = FxsSettings::from_port(&port).unwrap_err();
        assert_eq!(e.to_string(), "dial plan, column 3: '[' is never closed by ']'");
    }

    /// A port from configuration keys, with a plan where `911` is complete but extensible.
    fn configured(edit: impl FnOnce(&mut Port)) -> FxsPort {
        let mut port = Port {
            dial_plan: "(911|911xxxxxxxx|[2-9]xxxxxx)".into(),
            ..Port::default()
        };
        edit(&mut port);
        FxsPort::new(0, FxsSettings::from_port(&port).unwrap())
    }

    #[test]
    fn configured_first_digit_and_interdigit_timers() {
        let mut p = configured(|c| {
            c.first_digit_timeout_ms = 5000;
            c.interdigit_short_ms = 1500;
            c.interdigit_long_ms = 4000;
        });
        p.line(FxsEventKind::OffHook, t(0));
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(5000)), "first digit timeout");
        p.poll(t(5000));
        assert_eq!(drain(&mut p), vec![PortAction::Tone(ToneKind::Congestion)]);
        p.line(FxsEventKind::OnHook, t(6000));
        drain(&mut p);

        // Long timer while nothing matches yet but more keys could.
        p.line(FxsEventKind::OffHook, t(10_000));
        p.dtmf(b'5', t(11_000));
        assert_eq!(p.next_deadline(), Some(t(15_000)));
        p.line(FxsEventKind::OnHook, t(12_000));
        drain(&mut p);

        // Short timer once 911 matches and 911xxxxxxxx still could.
        p.line(FxsEventKind::OffHook, t(20_000));
        for (i, k) in "911".bytes().enumerate() {
            p.dtmf(k, t(21_000 + i as u64 * 100));
        }
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(21_200 + 1500)));
        p.poll(t(22_700));
        assert!(
            matches!(&drain(&mut p)[..], [PortAction::StopTone, PortAction::Invite { number, .. }] if number == "911")
        );
    }

    #[test]
    fn configured_reorder_then_howler_lengths_and_no_howler() {
        let mut p = configured(|c| {
            c.reorder_tone_s = 10;
            c.howler_s = 20;
        });
        p.line(FxsEventKind::OffHook, t(0));
        p.poll(t(15_000));
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(25_000)));
        p.poll(t(25_000));
        assert_eq!(drain(&mut p), vec![PortAction::Howler]);
        assert_eq!(
            p.state(),
            FxsState::Signalling {
                tone: None,
                howler: true
            }
        );
        assert_eq!(p.next_deadline(), Some(t(45_000)));
        p.poll(t(45_000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone]);
        assert_eq!(p.next_deadline(), None, "silent until on-hook");

        let mut p = configured(|c| c.howler_s = 0);
        p.line(FxsEventKind::OffHook, t(0));
        p.poll(t(15_000));
        drain(&mut p);
        p.poll(t(45_000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone], "no howler: silence");
        assert_eq!(p.next_deadline(), None);
        p.line(FxsEventKind::OnHook, t(50_000));
        assert_eq!(drain(&mut p), vec![PortAction::StopTone]);
        assert_eq!(p.state(), FxsState::Idle);
    }

    #[test]
    fn configured_caller_id_timing_sit_and_answer_reversal() {
        let mut p = configured(|c| {
            c.cid_delay_ms = 800;
            c.sit_for_bad_numbers = false;
            c.answer_polarity_reversal = true;
        });
        let s = p.settings();
        assert_eq!(s.cid_delay, Duration::from_millis(800));
        assert!(s.answer_reversal);
        let leg = LegId(7);
        p.sip(
            SipEvent::Incoming {
                leg,
                caller: CallerInfo::default(),
                called: String::new(),
                distinctive_ring: None,
            },
            t(0),
        );
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(2000 + 800)), "US ring 2 s + 800 ms");
        p.poll(t(2800));
        assert!(matches!(drain(&mut p)[..], [PortAction::CallerId(_)]));
        p.line(FxsEventKind::OffHook, t(3000));
        assert_eq!(
            drain(&mut p)[0],
            PortAction::Feed(LineFeed::ReverseActive),
            "answer reversal"
        );
        p.line(FxsEventKind::OnHook, t(9000));
        drain(&mut p);

        p.line(FxsEventKind::OffHook, t(10_000));
        for k in "5551234".bytes() {
            p.dtmf(k, t(11_000));
        }
        let leg = match drain(&mut p).last() {
            Some(PortAction::Invite { leg, .. }) => *leg,
            other => panic!("{other:?}"),
        };
        p.sip(SipEvent::Failed { leg, status: 404 }, t(12_000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::Tone(ToneKind::Congestion)],
            "reorder rather than SIT"
        );
    }
}
