//! Call control of one FXO port: the gateway on a PSTN line.
//!
//! [`FxoPort`] is sans-IO. Feed it the supervision events of the line ([`FxoPort::line`]),
//! what the media loop's DSP observes on the line (caller ID [`FxoPort::caller_id`], call
//! progress tones [`FxoPort::heard`], DTMF [`FxoPort::dtmf`], the end of out-dialling
//! [`FxoPort::dial_done`]), the SIP side ([`FxoPort::sip`]) and expired timers
//! ([`FxoPort::poll`]); drain [`FxoPort::take_action`].
//!
//! PSTN -> SIP:
//! - one-stage: ringing (and the caller ID sent in the first ring pause) -> INVITE to the
//!   configured destination; the line is answered when the SIP side answers; the caller giving
//!   up (no ring for [`FxoSettings::ring_abandon`]) cancels the INVITE;
//! - two-stage: the line is answered at once, an optional PIN is collected, dial tone is played
//!   and digits are collected with the port's dial plan, then the INVITE goes out; call progress
//!   tones are played toward the caller.
//!
//! SIP -> PSTN: seize the line, wait for dial tone (or a fixed delay), dial, cut the audio
//! through (183 with early media), answer (200) on polarity reversal or after dialling.
//!
//! Disconnect supervision while a call is up: polarity reversal, loop current drop (CPC),
//! busy/congestion tone, long silence, each configurable; then BYE and release.

use std::collections::VecDeque;
use std::time::Duration;

use codecs::tones::{Heard, ToneKind};
use hal::Instant;
use hal::fxo::{FxoEventKind, Polarity};

use super::dialplan::{DialPlan, DialPlanError, DigitCollector, InterdigitTimers, MatchOutcome};
use super::fxs::timers_from_port;
use super::{CallerInfo, DialTiming, LegId, PortAction, SipEvent, failure_tone};
use crate::config::{CallerIdStandard, FxoAnswer, FxoDialling, FxoMode, Port};

/// When the SIP caller of an outbound PSTN call gets its 200 OK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerSupervision {
    /// When the exchange reverses the battery (the called party answered); if no reversal came
    /// after `fallback`, answer anyway (`None`: never).
    Polarity { fallback: Option<Duration> },
    /// This long after the last digit was dialled (lines without answer supervision).
    AfterDialling(Duration),
}

/// How the far end hanging up is recognised while a call is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisconnectSupervision {
    pub polarity_reversal: bool,
    pub loop_current_drop: bool,
    /// Busy or congestion tone heard on the line.
    pub busy_tone: bool,
    /// Silence on the line for this long; `None` disables.
    pub silence: Option<Duration>,
}

/// Settings of an FXO port.
#[derive(Clone, Debug)]
pub struct FxoSettings {
    pub mode: FxoMode,
    /// Number or SIP URI called by one-stage calls.
    pub destination: String,
    /// PIN the caller must key in two-stage mode before dial tone; empty for none.
    pub pin: String,
    pub pin_timeout: Duration,
    /// Two-stage dial plan.
    pub plan: DialPlan,
    pub timers: InterdigitTimers,
    /// One-stage: wait for caller ID after the first ring (it comes in the first pause); with
    /// no caller ID configured the INVITE goes out on the first ring.
    pub caller_id: bool,
    /// Caller gave up: no ring for this long.
    pub ring_abandon: Duration,
    /// Two-stage: answer the line on this ring (1: at once; later rings let caller ID arrive
    /// first, which then goes into the INVITE).
    pub answer_rings: u32,
    /// Outbound: wait for dial tone (detected) this long.
    pub dial_tone_timeout: Duration,
    /// Outbound: dial even when no dial tone was heard in time (otherwise 503).
    pub dial_without_dial_tone: bool,
    /// Outbound: dial by pulses rather than DTMF.
    pub pulse_dialling: bool,
    /// Outbound: DTMF and pulse timing.
    pub dial_timing: DialTiming,
    pub answer: AnswerSupervision,
    pub disconnect: DisconnectSupervision,
    /// After releasing the line, ignore ringing this long (the exchange may still be clearing).
    pub guard: Duration,
    /// Safety bound for out-dialling if the media loop never reports its end.
    pub dial_timeout: Duration,
}

impl FxoSettings {
    pub fn defaults(plan: DialPlan) -> FxoSettings {
        FxoSettings {
            mode: FxoMode::OneStage,
            destination: String::new(),
            pin: String::new(),
            pin_timeout: Duration::from_secs(10),
            plan,
            timers: InterdigitTimers::default(),
            caller_id: true,
            ring_abandon: Duration::from_secs(8),
            answer_rings: 1,
            dial_tone_timeout: Duration::from_secs(3),
            dial_without_dial_tone: true,
            pulse_dialling: false,
            dial_timing: DialTiming::default(),
            answer: AnswerSupervision::AfterDialling(Duration::ZERO),
            disconnect: DisconnectSupervision {
                polarity_reversal: true,
                loop_current_drop: true,
                busy_tone: true,
                silence: None,
            },
            guard: Duration::from_secs(2),
            dial_timeout: Duration::from_secs(30),
        }
    }

    /// Settings from a port's configuration.
    pub fn from_port(port: &Port) -> Result<FxoSettings, DialPlanError> {
        let d = &port.disconnect;
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        let secs = |v: u32| Duration::from_secs(u64::from(v));
        let narrow = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        Ok(FxoSettings {
            mode: port.fxo_mode,
            destination: port.fxo_destination.clone(),
            pin: port.fxo_pin.clone(),
            pin_timeout: secs(port.fxo_pin_timeout_s.max(1)),
            timers: timers_from_port(port),
            caller_id: port.caller_id != CallerIdStandard::None,
            ring_abandon: secs(port.fxo_ring_abandon_s.max(1)),
            answer_rings: port.fxo_answer_rings.max(1),
            dial_tone_timeout: ms(port.fxo_dial_tone_timeout_ms),
            dial_without_dial_tone: port.fxo_dial_without_dial_tone,
            pulse_dialling: port.fxo_dialling == FxoDialling::Pulse,
            dial_timing: DialTiming {
                dtmf_on_ms: narrow(port.fxo_dtmf_on_ms),
                dtmf_off_ms: narrow(port.fxo_dtmf_off_ms),
                pulse_break_ms: narrow(port.fxo_pulse_break_ms),
                pulse_make_ms: narrow(port.fxo_pulse_make_ms),
                pulse_interdigit_ms: narrow(port.fxo_pulse_interdigit_ms),
            },
            answer: match port.fxo_answer {
                FxoAnswer::AfterDialling => AnswerSupervision::AfterDialling(secs(port.fxo_answer_delay_s)),
                FxoAnswer::PolarityReversal => AnswerSupervision::Polarity {
                    fallback: (port.fxo_answer_fallback_s > 0).then(|| secs(port.fxo_answer_fallback_s)),
                },
            },
            guard: ms(port.fxo_release_guard_ms),
            disconnect: DisconnectSupervision {
                polarity_reversal: d.polarity_reversal,
                loop_current_drop: d.loop_current_drop,
                busy_tone: d.busy_tone,
                silence: (d.silence_s > 0).then(|| Duration::from_secs(u64::from(d.silence_s))),
            },
            ..FxoSettings::defaults(DialPlan::parse(&port.dial_plan)?)
        })
    }
}

/// The port's state, for status pages and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FxoState {
    Idle,
    /// PSTN ringing, waiting for caller ID or the next ring (one-stage).
    Alerting {
        rings: u32,
    },
    /// One-stage INVITE sent, the line still ringing.
    Inviting {
        leg: LegId,
    },
    /// Two-stage: line answered, collecting the PIN.
    Pin,
    /// Two-stage: dial tone / collecting digits.
    Collecting,
    /// Two-stage: INVITE sent, progress tones toward the caller.
    Calling {
        leg: LegId,
    },
    /// Outbound: line seized, waiting for dial tone.
    Seizing {
        leg: LegId,
    },
    /// Outbound: digits going out.
    Dialling {
        leg: LegId,
    },
    /// Outbound: dialled, waiting for the called party to answer.
    AwaitingAnswer {
        leg: LegId,
    },
    Connected {
        leg: LegId,
    },
    /// Line released, ringing ignored until the guard time ends.
    Guard,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Dir {
    /// PSTN -> SIP: a reversal means the far end cleared.
    Inbound,
    /// SIP -> PSTN: the first reversal away from `seized` is answer, the return is clear.
    Outbound {
        seized: Option<Polarity>,
        answered_by_polarity: bool,
    },
}

#[derive(Clone, Debug)]
enum St {
    Idle,
    Alerting {
        rings: u32,
        last_ring: Instant,
        caller: CallerInfo,
    },
    Inviting {
        leg: LegId,
        last_ring: Instant,
    },
    Pin {
        entered: String,
        until: Instant,
        caller: CallerInfo,
    },
    Collecting {
        collector: DigitCollector,
        /// Dial tone still playing (stops at the first key).
        tone: bool,
        caller: CallerInfo,
    },
    Calling {
        leg: LegId,
        ringback: bool,
        early: bool,
    },
    Seizing {
        leg: LegId,
        number: String,
        until: Instant,
    },
    Dialling {
        leg: LegId,
        until: Instant,
    },
    AwaitingAnswer {
        leg: LegId,
        /// Answer (200) at this instant when no polarity reversal came.
        answer_at: Option<Instant>,
    },
    Connected {
        leg: LegId,
        silent_since: Option<Instant>,
    },
    /// Two-stage: a failure tone toward the caller, then release.
    Failing {
        until: Instant,
    },
    Guard {
        until: Instant,
    },
}

/// Call control of one FXO port.
#[derive(Debug)]
pub struct FxoPort {
    settings: FxoSettings,
    st: St,
    dir: Dir,
    /// Polarity the line showed last.
    polarity: Option<Polarity>,
    /// Caller ID that came before the first ring (DTMF CLIP), and when.
    early_caller: Option<(CallerInfo, Instant)>,
    next_leg: u32,
    out: VecDeque<PortAction>,
}

/// How long a failure tone is played to a two-stage caller before the line is released.
const FAILURE_TONE: Duration = Duration::from_secs(5);
/// Caller ID sent before ringing (DTMF) belongs to a first ring at most this much later.
const EARLY_CALLER_ID: Duration = Duration::from_secs(6);

impl FxoPort {
    pub fn new(port: u8, settings: FxoSettings) -> FxoPort {
        FxoPort {
            settings,
            st: St::Idle,
            dir: Dir::Inbound,
            polarity: None,
            early_caller: None,
            next_leg: u32::from(port) << 24,
            out: VecDeque::new(),
        }
    }

    pub fn settings(&self) -> &FxoSettings {
        &self.settings
    }

    pub fn set_settings(&mut self, settings: FxoSettings) {
        self.settings = settings;
    }

    pub fn take_action(&mut self) -> Option<PortAction> {
        self.out.pop_front()
    }

    pub fn is_busy(&self) -> bool {
        !matches!(self.st, St::Idle)
    }

    pub fn state(&self) -> FxoState {
        match &self.st {
            St::Idle => FxoState::Idle,
            St::Alerting { rings, .. } => FxoState::Alerting { rings: *rings },
            St::Inviting { leg, .. } => FxoState::Inviting { leg: *leg },
            St::Pin { .. } => FxoState::Pin,
            St::Collecting { .. } | St::Failing { .. } => FxoState::Collecting,
            St::Calling { leg, .. } => FxoState::Calling { leg: *leg },
            St::Seizing { leg, .. } => FxoState::Seizing { leg: *leg },
            St::Dialling { leg, .. } => FxoState::Dialling { leg: *leg },
            St::AwaitingAnswer { leg, .. } => FxoState::AwaitingAnswer { leg: *leg },
            St::Connected { leg, .. } => FxoState::Connected { leg: *leg },
            St::Guard { .. } => FxoState::Guard,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.st {
            St::Alerting { last_ring, .. } | St::Inviting { last_ring, .. } => {
                Some(*last_ring + self.settings.ring_abandon)
            }
            St::Pin { until, .. }
            | St::Seizing { until, .. }
            | St::Dialling { until, .. }
            | St::Failing { until }
            | St::Guard { until } => Some(*until),
            St::Collecting { collector, .. } => collector.next_deadline(),
            St::AwaitingAnswer { answer_at, .. } => *answer_at,
            St::Connected { silent_since, .. } => {
                silent_since.and_then(|s| Some(s + self.settings.disconnect.silence?))
            }
            St::Idle | St::Calling { .. } => None,
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

    /// Puts the line down and waits out the guard time.
    fn release(&mut self, now: Instant) {
        self.emit(PortAction::OffHook(false));
        self.st = St::Guard {
            until: now + self.settings.guard,
        };
    }

    fn seize(&mut self) {
        self.emit(PortAction::OffHook(true));
    }

    /// A supervision event of the line.
    pub fn line(&mut self, ev: FxoEventKind, now: Instant) {
        match ev {
            FxoEventKind::RingStart => self.ring(now),
            FxoEventKind::RingStop { .. } => {}
            FxoEventKind::PolarityReversal { to } => {
                let before = self.polarity.replace(to);
                self.reversal(before, to, now);
            }
            FxoEventKind::LoopCurrentDrop => {
                if self.settings.disconnect.loop_current_drop {
                    self.far_end_cleared(now);
                }
            }
            FxoEventKind::LineAbsent => {
                self.far_end_cleared(now);
            }
            FxoEventKind::LoopCurrentRestored { .. } | FxoEventKind::LinePresent => {}
        }
    }

    fn ring(&mut self, now: Instant) {
        match &mut self.st {
            St::Idle => {
                self.dir = Dir::Inbound;
                let early = self
                    .early_caller
                    .take()
                    .filter(|(_, at)| now.saturating_since(*at) <= EARLY_CALLER_ID);
                let known = early.is_some();
                self.st = St::Alerting {
                    rings: 1,
                    last_ring: now,
                    caller: early.map(|(c, _)| c).unwrap_or_default(),
                };
                match self.settings.mode {
                    FxoMode::OneStage => {
                        if !self.settings.caller_id || known {
                            self.invite_one_stage(now);
                        }
                    }
                    FxoMode::TwoStage => {
                        if self.settings.answer_rings <= 1 {
                            self.answer_two_stage(now);
                        }
                    }
                }
            }
            St::Alerting { rings, last_ring, .. } => {
                *rings += 1;
                *last_ring = now;
                let rings = *rings;
                match self.settings.mode {
                    // Caller ID comes in the first pause: by the second ring it has come or
                    // never will.
                    FxoMode::OneStage => self.invite_one_stage(now),
                    FxoMode::TwoStage => {
                        if rings >= self.settings.answer_rings {
                            self.answer_two_stage(now);
                        }
                    }
                }
            }
            St::Inviting { last_ring, .. } => *last_ring = now,
            _ => {}
        }
    }

    fn invite_one_stage(&mut self, now: Instant) {
        let caller = match &self.st {
            St::Alerting { caller, .. } => caller.clone(),
            _ => return,
        };
        let leg = self.new_leg();
        self.emit(PortAction::Invite {
            leg,
            number: self.settings.destination.clone(),
            caller: Some(caller),
        });
        self.st = St::Inviting { leg, last_ring: now };
    }

    /// Two-stage: answer the ringing line, keeping what caller ID told.
    fn answer_two_stage(&mut self, now: Instant) {
        let caller = match &mut self.st {
            St::Alerting { caller, .. } => std::mem::take(caller),
            _ => CallerInfo::default(),
        };
        self.seize();
        self.after_answer_two_stage(caller, now);
    }

    fn after_answer_two_stage(&mut self, caller: CallerInfo, now: Instant) {
        if self.settings.pin.is_empty() {
            self.collect(caller);
        } else {
            // A stuttered tone asks for the PIN.
            self.emit(PortAction::Tone(ToneKind::StutterDial));
            self.st = St::Pin {
                entered: String::new(),
                until: now + self.settings.pin_timeout,
                caller,
            };
        }
    }

    fn collect(&mut self, caller: CallerInfo) {
        self.emit(PortAction::Tone(ToneKind::Dial));
        self.st = St::Collecting {
            collector: DigitCollector::new(&self.settings.plan, self.settings.timers),
            tone: true,
            caller,
        };
    }

    /// Caller ID decoded on the line: FSK between the first and second ring, or DTMF before
    /// the first ring.
    pub fn caller_id(&mut self, caller: CallerInfo, now: Instant) {
        match &mut self.st {
            St::Alerting { caller: c, .. } => {
                *c = caller;
                if self.settings.mode == FxoMode::OneStage {
                    self.invite_one_stage(now);
                }
            }
            St::Idle => self.early_caller = Some((caller, now)),
            _ => {}
        }
    }

    /// A DTMF key heard on the line (two-stage PIN and digits).
    pub fn dtmf(&mut self, key: u8, now: Instant) {
        match &mut self.st {
            St::Pin { entered, caller, .. } => {
                entered.push(key as char);
                let pin = &self.settings.pin;
                if *entered == *pin {
                    let caller = std::mem::take(caller);
                    self.emit(PortAction::StopTone);
                    self.collect(caller);
                } else if !pin.starts_with(entered.as_str()) {
                    self.fail_two_stage(ToneKind::Congestion, now);
                }
            }
            St::Collecting { collector, tone, .. } => {
                let o = collector.key(key, now);
                if std::mem::take(tone) {
                    self.out.push_back(PortAction::StopTone);
                }
                self.collected(o, now);
            }
            _ => {}
        }
    }

    fn collected(&mut self, o: MatchOutcome, now: Instant) {
        match o {
            MatchOutcome::Incomplete { .. } => {}
            MatchOutcome::Dial(number) => {
                let caller = match &self.st {
                    St::Collecting { caller, .. } => caller.clone(),
                    _ => CallerInfo::default(),
                };
                let leg = self.new_leg();
                self.emit(PortAction::Invite {
                    leg,
                    number,
                    caller: Some(caller),
                });
                self.st = St::Calling {
                    leg,
                    ringback: false,
                    early: false,
                };
            }
            MatchOutcome::Block | MatchOutcome::NoMatch => self.fail_two_stage(ToneKind::Congestion, now),
        }
    }

    fn fail_two_stage(&mut self, tone: ToneKind, now: Instant) {
        self.emit(PortAction::Tone(tone));
        self.st = St::Failing {
            until: now + FAILURE_TONE,
        };
    }

    /// The end of out-dialling, reported by the media loop.
    pub fn dial_done(&mut self, now: Instant) {
        if let St::Dialling { leg, .. } = self.st {
            self.dialled(leg, now);
        }
    }

    fn dialled(&mut self, leg: LegId, now: Instant) {
        // Cut through: the caller hears the PSTN's progress tones as early media.
        self.emit(PortAction::Ringing {
            leg,
            early_media: true,
        });
        self.emit(PortAction::MediaConnect(leg));
        let answer_at = match self.settings.answer {
            AnswerSupervision::Polarity { fallback } => fallback.map(|f| now + f),
            AnswerSupervision::AfterDialling(d) => Some(now + d),
        };
        self.st = St::AwaitingAnswer { leg, answer_at };
        if answer_at == Some(now) {
            self.answer_outbound(leg);
        }
    }

    fn answer_outbound(&mut self, leg: LegId) {
        self.emit(PortAction::Answer(leg));
        self.st = St::Connected {
            leg,
            silent_since: None,
        };
    }

    /// What the call progress detector hears on the line.
    pub fn heard(&mut self, heard: Heard, now: Instant) {
        match &mut self.st {
            St::Seizing { leg, number, .. } if heard == Heard::Tone(ToneKind::Dial) => {
                let (leg, number) = (*leg, std::mem::take(number));
                self.dial_out(leg, number, now);
            }
            St::AwaitingAnswer { leg, .. } => {
                let leg = *leg;
                match heard {
                    Heard::Tone(ToneKind::Busy) => self.outbound_failed(leg, 486, now),
                    Heard::Tone(ToneKind::Congestion | ToneKind::Sit) => self.outbound_failed(leg, 503, now),
                    _ => {}
                }
            }
            St::Connected { silent_since, .. } => {
                if heard == Heard::Silence {
                    if silent_since.is_none() {
                        *silent_since = Some(now);
                    }
                } else {
                    *silent_since = None;
                }
                // Busy, reorder, or the howler of a line left open by the far end.
                if self.settings.disconnect.busy_tone
                    && matches!(
                        heard,
                        Heard::Tone(ToneKind::Busy | ToneKind::Congestion | ToneKind::Howler)
                    )
                {
                    self.far_end_cleared(now);
                }
            }
            _ => {}
        }
    }

    fn dial_out(&mut self, leg: LegId, number: String, now: Instant) {
        self.emit(PortAction::DialOut {
            digits: number,
            pulse: self.settings.pulse_dialling,
            timing: self.settings.dial_timing,
        });
        self.st = St::Dialling {
            leg,
            until: now + self.settings.dial_timeout,
        };
    }

    fn outbound_failed(&mut self, leg: LegId, status: u16, now: Instant) {
        self.emit(PortAction::MediaDisconnect(leg));
        self.emit(PortAction::Reject { leg, status });
        self.release(now);
    }

    fn reversal(&mut self, before: Option<Polarity>, to: Polarity, now: Instant) {
        match (&mut self.dir, &self.st) {
            (
                Dir::Outbound {
                    seized,
                    answered_by_polarity,
                },
                St::AwaitingAnswer { leg, .. } | St::Connected { leg, .. },
            ) => {
                let leg = *leg;
                // The first change away from the seizure polarity is the answer signal.
                let away = seized.is_none_or(|s| s != to) && before != Some(to);
                if away && !*answered_by_polarity {
                    *answered_by_polarity = true;
                    if matches!(self.st, St::AwaitingAnswer { .. }) {
                        self.answer_outbound(leg);
                    }
                } else if self.settings.disconnect.polarity_reversal
                    && matches!(self.st, St::Connected { .. })
                {
                    self.far_end_cleared(now);
                }
            }
            (Dir::Outbound { seized, .. }, St::Seizing { .. }) => {
                // Polarity settling while the line is seized is the reference, not an answer.
                *seized = Some(to);
            }
            (Dir::Inbound, St::Connected { .. }) if self.settings.disconnect.polarity_reversal => {
                self.far_end_cleared(now);
            }
            _ => {}
        }
    }

    /// The PSTN side hung up (or disconnect was detected): end the SIP side too.
    fn far_end_cleared(&mut self, now: Instant) {
        match std::mem::replace(&mut self.st, St::Idle) {
            St::Connected { leg, .. } => {
                self.emit(PortAction::MediaDisconnect(leg));
                self.emit(PortAction::Bye(leg));
                self.release(now);
            }
            St::AwaitingAnswer { leg, .. } => self.outbound_failed(leg, 480, now),
            St::Calling { leg, early, .. } => {
                if early {
                    self.emit(PortAction::MediaDisconnect(leg));
                }
                self.emit(PortAction::StopTone);
                self.emit(PortAction::Cancel(leg));
                self.release(now);
            }
            St::Pin { .. } | St::Collecting { .. } | St::Failing { .. } => {
                self.emit(PortAction::StopTone);
                self.release(now);
            }
            St::Seizing { leg, .. } | St::Dialling { leg, .. } => {
                self.emit(PortAction::Reject { leg, status: 503 });
                self.release(now);
            }
            other => self.st = other,
        }
    }

    pub fn poll(&mut self, now: Instant) {
        let Some(due) = self.next_deadline() else {
            return;
        };
        if now < due {
            return;
        }
        match &mut self.st {
            St::Alerting { .. } => self.st = St::Idle,
            St::Inviting { leg, .. } => {
                // The PSTN caller gave up before the SIP side answered.
                let leg = *leg;
                self.emit(PortAction::Cancel(leg));
                self.st = St::Idle;
            }
            St::Pin { .. } => self.fail_two_stage(ToneKind::Congestion, now),
            St::Collecting { collector, tone, .. } => {
                if let Some(o) = collector.poll(now) {
                    if std::mem::take(tone) {
                        self.out.push_back(PortAction::StopTone);
                    }
                    self.collected(o, now);
                }
            }
            St::Failing { .. } => {
                self.emit(PortAction::StopTone);
                self.release(now);
            }
            St::Guard { .. } => self.st = St::Idle,
            St::Seizing { leg, number, .. } => {
                let (leg, number) = (*leg, std::mem::take(number));
                if self.settings.dial_without_dial_tone {
                    self.dial_out(leg, number, now);
                } else {
                    self.emit(PortAction::Reject { leg, status: 503 });
                    self.release(now);
                }
            }
            St::Dialling { leg, .. } => {
                let leg = *leg;
                self.dialled(leg, now);
            }
            St::AwaitingAnswer { leg, .. } => {
                let leg = *leg;
                self.answer_outbound(leg);
            }
            St::Connected { .. } => self.far_end_cleared(now),
            St::Idle | St::Calling { .. } => {}
        }
    }

    /// The SIP side of this port's calls.
    pub fn sip(&mut self, ev: SipEvent, now: Instant) {
        match ev {
            SipEvent::Incoming { leg, called, .. } => {
                if !matches!(self.st, St::Idle) {
                    self.emit(PortAction::Reject { leg, status: 486 });
                    return;
                }
                let number: String = called
                    .chars()
                    .filter(|c| super::dialplan::is_key(*c as u8) && c.is_ascii())
                    .collect();
                if number.is_empty() {
                    self.emit(PortAction::Reject { leg, status: 484 });
                    return;
                }
                self.dir = Dir::Outbound {
                    seized: self.polarity,
                    answered_by_polarity: false,
                };
                self.seize();
                self.st = St::Seizing {
                    leg,
                    number,
                    until: now + self.settings.dial_tone_timeout,
                };
            }
            SipEvent::Progress {
                leg,
                status,
                early_media,
            } => {
                if let St::Calling {
                    leg: l,
                    ringback,
                    early,
                } = &mut self.st
                    && *l == leg
                    && status > 100
                {
                    if early_media && !*early {
                        if std::mem::take(ringback) {
                            self.out.push_back(PortAction::StopTone);
                        }
                        *early = true;
                        self.out.push_back(PortAction::MediaEarly(leg));
                    } else if !*early && !*ringback && (status == 180 || status == 182) {
                        *ringback = true;
                        self.out.push_back(PortAction::Tone(ToneKind::Ringback));
                    }
                }
            }
            SipEvent::Answered { leg } => match self.st {
                St::Inviting { leg: l, .. } if l == leg => {
                    self.seize();
                    self.emit(PortAction::MediaConnect(leg));
                    self.st = St::Connected {
                        leg,
                        silent_since: None,
                    };
                }
                St::Calling { leg: l, ringback, .. } if l == leg => {
                    if ringback {
                        self.emit(PortAction::StopTone);
                    }
                    self.emit(PortAction::MediaConnect(leg));
                    self.st = St::Connected {
                        leg,
                        silent_since: None,
                    };
                }
                _ => {
                    // Answered after we gave up (CANCEL crossed the 2xx).
                    self.emit(PortAction::Bye(leg));
                }
            },
            SipEvent::Failed { leg, status } => match self.st {
                St::Inviting { leg: l, .. } if l == leg => {
                    // Leave the PSTN caller ringing out; idle once the ringing stops.
                    self.st = St::Guard {
                        until: now + self.settings.ring_abandon,
                    };
                }
                St::Calling { leg: l, early, .. } if l == leg => {
                    if early {
                        self.emit(PortAction::MediaDisconnect(leg));
                    }
                    self.fail_two_stage(failure_tone(status, false), now);
                }
                _ => {}
            },
            SipEvent::Ended { leg } | SipEvent::Released { leg, .. } => {
                let ours = match &self.st {
                    St::Seizing { leg: l, .. }
                    | St::Dialling { leg: l, .. }
                    | St::AwaitingAnswer { leg: l, .. }
                    | St::Connected { leg: l, .. }
                    | St::Calling { leg: l, .. } => *l == leg,
                    _ => false,
                };
                if ours {
                    if !matches!(self.st, St::Seizing { .. }) {
                        self.emit(PortAction::MediaDisconnect(leg));
                    }
                    self.release(now);
                } else if matches!(self.st, St::Inviting { leg: l, .. } if l == leg) {
                    self.st = St::Idle;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain(p: &mut FxoPort) -> Vec<PortAction> {
        std::iter::from_fn(|| p.take_action()).collect()
    }

    fn settings() -> FxoSettings {
        let mut s = FxoSettings::defaults(DialPlan::parse("(xxxS0|<9:>xx.)").unwrap());
        s.destination = "100".into();
        s
    }

    fn alice() -> CallerInfo {
        CallerInfo {
            number: "5551234".into(),
            name: "ALICE".into(),
            private: false,
        }
    }

    #[test]
    fn one_stage_invites_after_caller_id_and_answers_when_sip_answers() {
        let mut p = FxoPort::new(2, settings());
        p.line(FxoEventKind::RingStart, t(0));
        assert_eq!(drain(&mut p), vec![]);
        assert_eq!(p.state(), FxoState::Alerting { rings: 1 });
        p.caller_id(alice(), t(3000));
        let acts = drain(&mut p);
        let leg = match &acts[..] {
            [PortAction::Invite { leg, number, caller }] => {
                assert_eq!(number, "100");
                assert_eq!(caller.as_ref(), Some(&alice()));
                *leg
            }
            other => panic!("{other:?}"),
        };
        p.line(FxoEventKind::RingStart, t(6000));
        p.sip(
            SipEvent::Progress {
                leg,
                status: 180,
                early_media: false,
            },
            t(6100),
        );
        assert_eq!(drain(&mut p), vec![]);
        p.sip(SipEvent::Answered { leg }, t(7000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::OffHook(true), PortAction::MediaConnect(leg)]
        );
        assert_eq!(p.state(), FxoState::Connected { leg });
        // The SIP side hangs up.
        p.sip(SipEvent::Ended { leg }, t(20_000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::MediaDisconnect(leg), PortAction::OffHook(false)]
        );
        assert_eq!(p.state(), FxoState::Guard);
        p.line(FxoEventKind::RingStart, t(20_500));
        assert_eq!(
            p.state(),
            FxoState::Guard,
            "ringing ignored during the guard time"
        );
        p.poll(t(22_000));
        assert_eq!(p.state(), FxoState::Idle);
    }

    #[test]
    fn one_stage_without_caller_id_invites_on_second_ring() {
        let mut p = FxoPort::new(2, settings());
        p.line(FxoEventKind::RingStart, t(0));
        p.line(
            FxoEventKind::RingStop {
                on: Duration::from_secs(2),
            },
            t(2000),
        );
        p.line(FxoEventKind::RingStart, t(6000));
        let acts = drain(&mut p);
        assert!(
            matches!(&acts[..], [PortAction::Invite { caller: Some(c), .. }] if *c == CallerInfo::default())
        );
    }

    #[test]
    fn one_stage_caller_gives_up_cancels() {
        let mut p = FxoPort::new(2, settings());
        p.line(FxoEventKind::RingStart, t(0));
        p.caller_id(alice(), t(3000));
        let leg = match drain(&mut p)[..] {
            [PortAction::Invite { leg, .. }] => leg,
            _ => panic!(),
        };
        p.line(FxoEventKind::RingStart, t(6000));
        assert_eq!(p.next_deadline(), Some(t(14_000)));
        p.poll(t(14_000));
        assert_eq!(drain(&mut p), vec![PortAction::Cancel(leg)]);
        assert_eq!(p.state(), FxoState::Idle);
    }

    #[test]
    fn one_stage_with_caller_id_off_invites_on_first_ring() {
        let mut s = settings();
        s.caller_id = false;
        let mut p = FxoPort::new(2, s);
        p.line(FxoEventKind::RingStart, t(0));
        assert!(matches!(drain(&mut p)[..], [PortAction::Invite { .. }]));
    }

    #[test]
    fn one_stage_sip_failure_leaves_the_line_alone() {
        let mut p = FxoPort::new(2, settings());
        p.line(FxoEventKind::RingStart, t(0));
        p.caller_id(alice(), t(3000));
        let leg = match drain(&mut p)[..] {
            [PortAction::Invite { leg, .. }] => leg,
            _ => panic!(),
        };
        p.sip(SipEvent::Failed { leg, status: 486 }, t(4000));
        assert_eq!(drain(&mut p), vec![]);
        p.line(FxoEventKind::RingStart, t(6000));
        assert_eq!(drain(&mut p), vec![], "no new INVITE for the same PSTN call");
    }

    #[test]
    fn two_stage_with_pin_collects_digits_and_calls() {
        let mut s = settings();
        s.mode = FxoMode::TwoStage;
        s.pin = "42".into();
        let mut p = FxoPort::new(2, s);
        p.line(FxoEventKind::RingStart, t(0));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::OffHook(true), PortAction::Tone(ToneKind::StutterDial)]
        );
        p.dtmf(b'4', t(1000));
        p.dtmf(b'2', t(1200));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::StopTone, PortAction::Tone(ToneKind::Dial)]
        );
        p.dtmf(b'2', t(2000));
        p.dtmf(b'0', t(2200));
        p.dtmf(b'1', t(2400));
        let acts = drain(&mut p);
        assert_eq!(acts[0], PortAction::StopTone);
        let leg = match &acts[1..] {
            [PortAction::Invite { leg, number, .. }] if number == "201" => *leg,
            other => panic!("{other:?}"),
        };
        p.sip(
            SipEvent::Progress {
                leg,
                status: 180,
                early_media: false,
            },
            t(2500),
        );
        assert_eq!(drain(&mut p), vec![PortAction::Tone(ToneKind::Ringback)]);
        p.sip(SipEvent::Answered { leg }, t(5000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::StopTone, PortAction::MediaConnect(leg)]
        );
        // PSTN caller hangs up: the exchange drops loop current.
        p.line(FxoEventKind::LoopCurrentDrop, t(9000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Bye(leg),
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn two_stage_wrong_pin_and_pin_timeout_release() {
        let mut s = settings();
        s.mode = FxoMode::TwoStage;
        s.pin = "42".into();
        let mut p = FxoPort::new(2, s.clone());
        p.line(FxoEventKind::RingStart, t(0));
        drain(&mut p);
        p.dtmf(b'5', t(1000));
        assert_eq!(drain(&mut p), vec![PortAction::Tone(ToneKind::Congestion)]);
        p.poll(t(6000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::StopTone, PortAction::OffHook(false)]
        );

        let mut p = FxoPort::new(2, s);
        p.line(FxoEventKind::RingStart, t(0));
        drain(&mut p);
        p.poll(t(10_000));
        assert_eq!(drain(&mut p), vec![PortAction::Tone(ToneKind::Congestion)]);
    }

    #[test]
    fn two_stage_failure_plays_busy_then_releases() {
        let mut s = settings();
        s.mode = FxoMode::TwoStage;
        let mut p = FxoPort::new(2, s);
        p.line(FxoEventKind::RingStart, t(0));
        for (i, k) in "201".bytes().enumerate() {
            p.dtmf(k, t(1000 + i as u64 * 100));
        }
        let leg = match drain(&mut p).last() {
            Some(PortAction::Invite { leg, .. }) => *leg,
            other => panic!("{other:?}"),
        };
        p.sip(SipEvent::Failed { leg, status: 486 }, t(3000));
        assert_eq!(drain(&mut p), vec![PortAction::Tone(ToneKind::Busy)]);
        p.poll(t(8000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::StopTone, PortAction::OffHook(false)]
        );
    }

    fn outbound(s: FxoSettings) -> (FxoPort, LegId) {
        let mut p = FxoPort::new(2, s);
        let leg = LegId(900);
        p.sip(
            SipEvent::Incoming {
                leg,
                caller: alice(),
                called: "5550100".into(),
                distinctive_ring: None,
            },
            t(0),
        );
        assert_eq!(drain(&mut p), vec![PortAction::OffHook(true)]);
        (p, leg)
    }

    #[test]
    fn outbound_waits_for_dial_tone_dials_and_answers_after_dialling() {
        let (mut p, leg) = outbound(settings());
        assert_eq!(p.state(), FxoState::Seizing { leg });
        p.heard(Heard::Silence, t(200));
        assert_eq!(drain(&mut p), vec![]);
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::DialOut {
                digits: "5550100".into(),
                pulse: false,
                timing: DialTiming::default()
            }]
        );
        p.dial_done(t(2000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Ringing {
                    leg,
                    early_media: true
                },
                PortAction::MediaConnect(leg),
                PortAction::Answer(leg)
            ]
        );
        assert_eq!(p.state(), FxoState::Connected { leg });
        // The called party hangs up: busy tone on the line.
        p.heard(Heard::Tone(ToneKind::Busy), t(30_000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Bye(leg),
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn outbound_dial_tone_timeout_dials_blind_or_fails() {
        let (mut p, leg) = outbound(settings());
        p.poll(t(3000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::DialOut {
                digits: "5550100".into(),
                pulse: false,
                timing: DialTiming::default()
            }]
        );
        assert_eq!(p.state(), FxoState::Dialling { leg });
        let mut s = settings();
        s.dial_without_dial_tone = false;
        let (mut p, leg) = outbound(s);
        p.poll(t(3000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Reject { leg, status: 503 },
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn outbound_polarity_answer_supervision_and_disconnect() {
        let mut s = settings();
        s.answer = AnswerSupervision::Polarity { fallback: None };
        s.pulse_dialling = true;
        let (mut p, leg) = outbound(s);
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::DialOut {
                digits: "5550100".into(),
                pulse: true,
                timing: DialTiming::default()
            }]
        );
        p.dial_done(t(8000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Ringing {
                    leg,
                    early_media: true
                },
                PortAction::MediaConnect(leg)
            ]
        );
        assert_eq!(p.next_deadline(), None);
        p.line(
            FxoEventKind::PolarityReversal {
                to: Polarity::Reversed,
            },
            t(12_000),
        );
        assert_eq!(drain(&mut p), vec![PortAction::Answer(leg)]);
        p.line(FxoEventKind::PolarityReversal { to: Polarity::Normal }, t(40_000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Bye(leg),
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn outbound_answer_reversal_is_not_a_disconnect_when_answered_after_dialling() {
        let (mut p, leg) = outbound(settings());
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        p.dial_done(t(2000));
        drain(&mut p);
        p.line(
            FxoEventKind::PolarityReversal {
                to: Polarity::Reversed,
            },
            t(5000),
        );
        assert_eq!(drain(&mut p), vec![], "the called party answering");
        assert_eq!(p.state(), FxoState::Connected { leg });
        p.line(FxoEventKind::PolarityReversal { to: Polarity::Normal }, t(9000));
        assert_eq!(p.state(), FxoState::Guard);
    }

    #[test]
    fn outbound_busy_before_answer_is_486() {
        let mut s = settings();
        s.answer = AnswerSupervision::Polarity {
            fallback: Some(Duration::from_secs(20)),
        };
        let (mut p, leg) = outbound(s);
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        p.dial_done(t(2000));
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(22_000)));
        p.heard(Heard::Tone(ToneKind::Busy), t(4000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Reject { leg, status: 486 },
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn outbound_polarity_fallback_answers() {
        let mut s = settings();
        s.answer = AnswerSupervision::Polarity {
            fallback: Some(Duration::from_secs(20)),
        };
        let (mut p, leg) = outbound(s);
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        p.dial_done(t(2000));
        drain(&mut p);
        p.poll(t(22_000));
        assert_eq!(drain(&mut p), vec![PortAction::Answer(leg)]);
    }

    #[test]
    fn busy_port_rejects_and_empty_number_is_484() {
        let (mut p, _) = outbound(settings());
        p.sip(
            SipEvent::Incoming {
                leg: LegId(5),
                caller: alice(),
                called: "1".into(),
                distinctive_ring: None,
            },
            t(10),
        );
        assert_eq!(
            drain(&mut p),
            vec![PortAction::Reject {
                leg: LegId(5),
                status: 486
            }]
        );
        let mut p = FxoPort::new(2, settings());
        p.sip(
            SipEvent::Incoming {
                leg: LegId(6),
                caller: alice(),
                called: "abc".into(),
                distinctive_ring: None,
            },
            t(10),
        );
        assert_eq!(
            drain(&mut p),
            vec![PortAction::Reject {
                leg: LegId(6),
                status: 484
            }]
        );
    }

    #[test]
    fn silence_disconnect_when_configured() {
        let mut s = settings();
        s.disconnect.silence = Some(Duration::from_secs(30));
        let (mut p, leg) = outbound(s);
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        p.dial_done(t(2000));
        drain(&mut p);
        p.heard(Heard::Silence, t(10_000));
        p.heard(Heard::Other, t(20_000));
        assert_eq!(p.next_deadline(), None, "speech resets the silence timer");
        p.heard(Heard::Silence, t(25_000));
        p.poll(t(54_999));
        assert_eq!(drain(&mut p), vec![]);
        p.poll(t(55_000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Bye(leg),
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn disabled_supervision_is_ignored() {
        let mut s = settings();
        s.disconnect = DisconnectSupervision {
            polarity_reversal: false,
            loop_current_drop: false,
            busy_tone: false,
            silence: None,
        };
        let (mut p, leg) = outbound(s);
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        p.dial_done(t(2000));
        drain(&mut p);
        p.line(FxoEventKind::LoopCurrentDrop, t(3000));
        p.heard(Heard::Tone(ToneKind::Busy), t(4000));
        p.line(
            FxoEventKind::PolarityReversal {
                to: Polarity::Reversed,
            },
            t(5000),
        );
        p.line(FxoEventKind::PolarityReversal { to: Polarity::Normal }, t(6000));
        assert_eq!(p.state(), FxoState::Connected { leg });
    }

    #[test]
    fn inbound_call_reversal_is_disconnect() {
        let mut p = FxoPort::new(2, settings());
        p.line(FxoEventKind::RingStart, t(0));
        p.caller_id(alice(), t(3000));
        let leg = match drain(&mut p)[..] {
            [PortAction::Invite { leg, .. }] => leg,
            _ => panic!(),
        };
        p.sip(SipEvent::Answered { leg }, t(7000));
        drain(&mut p);
        p.line(
            FxoEventKind::PolarityReversal {
                to: Polarity::Reversed,
            },
            t(9000),
        );
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Bye(leg),
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn sip_cancel_while_seizing_releases() {
        let (mut p, leg) = outbound(settings());
        p.sip(SipEvent::Ended { leg }, t(500));
        assert_eq!(drain(&mut p), vec![PortAction::OffHook(false)]);
    }

    #[test]
    fn settings_from_port() {
        let mut port = Port {
            kind: crate::config::PortKind::Fxo,
            fxo_mode: FxoMode::TwoStage,
            fxo_pin: "1234".into(),
            ..Port::default()
        };
        port.disconnect.silence_s = 20;
        let s = FxoSettings::from_port(&port).unwrap();
        assert_eq!(s.mode, FxoMode::TwoStage);
        assert_eq!(s.pin, "1234");
        assert_eq!(s.disconnect.silence, Some(Duration::from_secs(20)));
        port.dial_plan = "(x".into();
        assert!(FxoSettings::from_port(&port).is_err());
    }

    fn fxo_port_config(edit: impl FnOnce(&mut Port)) -> FxoSettings {
        let mut port = Port {
            kind: crate::config::PortKind::Fxo,
            dial_plan: "(xxxS0|<9:>xx.)".into(),
            fxo_destination: "100".into(),
            ..Port::default()
        };
        edit(&mut port);
        FxoSettings::from_port(&port).unwrap()
    }

    #[test]
    fn configured_outbound_pulse_dialling_timing_and_dial_tone_wait() {
        let s = fxo_port_config(|c| {
            c.fxo_dialling = crate::config::FxoDialling::Pulse;
            c.fxo_pulse_break_ms = 66;
            c.fxo_pulse_make_ms = 34;
            c.fxo_pulse_interdigit_ms = 700;
            c.fxo_dial_tone_timeout_ms = 5000;
            c.fxo_dial_without_dial_tone = false;
        });
        let (mut p, leg) = outbound(s);
        assert_eq!(p.next_deadline(), Some(t(5000)));
        p.heard(Heard::Tone(ToneKind::Dial), t(800));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::DialOut {
                digits: "5550100".into(),
                pulse: true,
                timing: DialTiming {
                    pulse_break_ms: 66,
                    pulse_make_ms: 34,
                    pulse_interdigit_ms: 700,
                    ..DialTiming::default()
                }
            }]
        );
        assert_eq!(p.state(), FxoState::Dialling { leg });

        // No dial tone within the configured wait, and dialling blind is off: 503.
        let s = fxo_port_config(|c| {
            c.fxo_dial_tone_timeout_ms = 5000;
            c.fxo_dial_without_dial_tone = false;
        });
        let (mut p, leg) = outbound(s);
        p.poll(t(4999));
        assert_eq!(drain(&mut p), vec![]);
        p.poll(t(5000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Reject { leg, status: 503 },
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn configured_dtmf_timing_and_answer_after_n_seconds() {
        let s = fxo_port_config(|c| {
            c.fxo_dtmf_on_ms = 80;
            c.fxo_dtmf_off_ms = 60;
            c.fxo_answer_delay_s = 4;
        });
        let (mut p, leg) = outbound(s);
        p.heard(Heard::Tone(ToneKind::Dial), t(500));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::DialOut {
                digits: "5550100".into(),
                pulse: false,
                timing: DialTiming {
                    dtmf_on_ms: 80,
                    dtmf_off_ms: 60,
                    ..DialTiming::default()
                }
            }]
        );
        p.dial_done(t(2000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::Ringing {
                    leg,
                    early_media: true
                },
                PortAction::MediaConnect(leg)
            ]
        );
        assert_eq!(p.next_deadline(), Some(t(6000)));
        p.poll(t(6000));
        assert_eq!(drain(&mut p), vec![PortAction::Answer(leg)]);
    }

    #[test]
    fn configured_polarity_answer_supervision_with_fallback() {
        let s = fxo_port_config(|c| {
            c.fxo_answer = crate::config::FxoAnswer::PolarityReversal;
            c.fxo_answer_fallback_s = 30;
        });
        assert_eq!(
            s.answer,
            AnswerSupervision::Polarity {
                fallback: Some(Duration::from_secs(30))
            }
        );
        let (mut p, leg) = outbound(s);
        p.heard(Heard::Tone(ToneKind::Dial), t(500));
        p.dial_done(t(2000));
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(32_000)));
        p.line(
            FxoEventKind::PolarityReversal {
                to: Polarity::Reversed,
            },
            t(9000),
        );
        assert_eq!(drain(&mut p), vec![PortAction::Answer(leg)]);
        let s = fxo_port_config(|c| c.fxo_answer = crate::config::FxoAnswer::PolarityReversal);
        assert_eq!(s.answer, AnswerSupervision::Polarity { fallback: None });
    }

    #[test]
    fn configured_ring_abandon_guard_and_pin_timeout() {
        let s = fxo_port_config(|c| {
            c.fxo_ring_abandon_s = 12;
            c.fxo_release_guard_ms = 500;
            c.fxo_pin_timeout_s = 20;
        });
        assert_eq!(s.pin_timeout, Duration::from_secs(20));
        let mut p = FxoPort::new(2, s);
        p.line(FxoEventKind::RingStart, t(0));
        assert_eq!(p.next_deadline(), Some(t(12_000)));
        p.caller_id(alice(), t(3000));
        let leg = match drain(&mut p)[..] {
            [PortAction::Invite { leg, .. }] => leg,
            _ => panic!(),
        };
        p.sip(SipEvent::Answered { leg }, t(4000));
        p.sip(SipEvent::Ended { leg }, t(10_000));
        drain(&mut p);
        assert_eq!(p.next_deadline(), Some(t(10_500)), "release guard");
    }

    #[test]
    fn two_stage_answers_on_the_configured_ring_with_the_caller_id() {
        let mut s = fxo_port_config(|c| {
            c.fxo_mode = FxoMode::TwoStage;
            c.fxo_answer_rings = 2;
        });
        s.timers.short = Duration::from_millis(500);
        let mut p = FxoPort::new(2, s);
        p.line(FxoEventKind::RingStart, t(0));
        assert_eq!(drain(&mut p), vec![], "not answered on the first ring");
        p.caller_id(alice(), t(3000));
        assert_eq!(
            drain(&mut p),
            vec![],
            "two-stage sends no INVITE before the digits"
        );
        p.line(FxoEventKind::RingStart, t(6000));
        assert_eq!(
            drain(&mut p),
            vec![PortAction::OffHook(true), PortAction::Tone(ToneKind::Dial)]
        );
        for (i, k) in "201".bytes().enumerate() {
            p.dtmf(k, t(7000 + i as u64 * 100));
        }
        let acts = drain(&mut p);
        assert!(
            matches!(acts.last(), Some(PortAction::Invite { number, caller: Some(c), .. }) if number == "201" && *c == alice()),
            "{acts:?}"
        );
    }

    #[test]
    fn howler_on_the_line_is_a_disconnect() {
        let (mut p, leg) = outbound(settings());
        p.heard(Heard::Tone(ToneKind::Dial), t(600));
        p.dial_done(t(2000));
        drain(&mut p);
        p.heard(Heard::Tone(ToneKind::Howler), t(60_000));
        assert_eq!(
            drain(&mut p),
            vec![
                PortAction::MediaDisconnect(leg),
                PortAction::Bye(leg),
                PortAction::OffHook(false)
            ]
        );
    }

    #[test]
    fn dtmf_caller_id_before_the_first_ring_invites_on_that_ring() {
        let mut p = FxoPort::new(2, settings());
        p.caller_id(alice(), t(0));
        assert_eq!(p.state(), FxoState::Idle);
        p.line(FxoEventKind::RingStart, t(1500));
        let acts = drain(&mut p);
        assert!(
            matches!(&acts[..], [PortAction::Invite { caller: Some(c), .. }] if *c == alice()),
            "{acts:?}"
        );
        // A caller ID long before a ring belongs to no call.
        let mut p = FxoPort::new(2, settings());
        p.caller_id(alice(), t(0));
        p.line(FxoEventKind::RingStart, t(60_000));
        assert_eq!(drain(&mut p), vec![]);
        assert_eq!(p.state(), FxoState::Alerting { rings: 1 });
    }
}
