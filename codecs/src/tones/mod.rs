//! National call progress tones and ring cadences (ITU-T E.180 Supplement 2), a tone generator
//! and a call progress tone detector.
//!
//! - [`TonePlan`]: one country's tones ([`ToneSpec`]: frequencies, level, cadence) and ring
//!   cadences ([`RingCadence`]); [`TonePlan::for_country`] looks a plan up by ISO 3166 code.
//! - [`ToneGenerator`]: renders a [`ToneSpec`] phase-continuously into slices of any length.
//! - [`CallProgressDetector`]: tells which of a plan's tones is on the line, once its cadence is
//!   confirmed, and when the line is silent.
//!
//! Levels are in dBm0 with the G.711 convention that a full-scale sine is +3.14 dBm0.

mod detect;
mod plans;

pub use detect::{CallProgressDetector, CpEvent, Heard};
pub use plans::PLANS;

/// Peak amplitude (linear 16-bit) of a 0 dBm0 sine: full scale is +3.14 dBm0 (G.711 A-law).
pub const DBM0_PEAK: f32 = 22_786.0;

/// Peak amplitude of a sine at `dbm0`.
pub fn dbm0_to_peak(dbm0: f32) -> f32 {
    DBM0_PEAK * 10f32.powf(dbm0 / 20.0)
}

/// Mean power (mean of squared samples) of a sine at `dbm0`.
pub fn dbm0_power(dbm0: f32) -> f32 {
    let a = dbm0_to_peak(dbm0);
    a * a / 2.0
}

/// Level in dBm0 of a signal with mean power `power` (mean of squared samples).
pub fn power_to_dbm0(power: f32) -> f32 {
    10.0 * (power.max(1e-9) / dbm0_power(0.0)).log10()
}

/// Quadrature oscillator: a unit phasor rotated once per sample. Cheaper than `sin()` per sample
/// and phase-continuous when retuned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Osc {
    re: f32,
    im: f32,
    cr: f32,
    ci: f32,
}

impl Osc {
    pub(crate) fn new(freq: f32) -> Osc {
        let mut o = Osc {
            re: 1.0,
            im: 0.0,
            cr: 1.0,
            ci: 0.0,
        };
        o.retune(freq);
        o
    }

    /// Changes frequency keeping the current phase.
    pub(crate) fn retune(&mut self, freq: f32) {
        let w = 2.0 * core::f64::consts::PI * freq as f64 / crate::SAMPLE_RATE as f64;
        self.cr = w.cos() as f32;
        self.ci = w.sin() as f32;
    }

    /// The current sine value, then advances one sample.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> f32 {
        let s = self.im;
        let re = self.re * self.cr - self.im * self.ci;
        self.im = self.re * self.ci + self.im * self.cr;
        self.re = re;
        s
    }

    /// Pulls the phasor back to unit length (call every few hundred samples).
    #[inline]
    pub(crate) fn renormalize(&mut self) {
        let g = 1.5 - 0.5 * (self.re * self.re + self.im * self.im);
        self.re *= g;
        self.im *= g;
    }
}

/// Which call progress tone a [`ToneSpec`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToneKind {
    Dial,
    Ringback,
    Busy,
    /// Congestion / reorder / fast busy.
    Congestion,
    CallWaiting,
    /// Stuttered (message waiting / recall) dial tone.
    StutterDial,
    /// Special information tone (950/1400/1800 Hz family).
    Sit,
    /// Receiver off-hook tone (howler): a loud tone telling that a phone was left off the hook.
    Howler,
}

impl ToneKind {
    pub const ALL: [ToneKind; 8] = [
        ToneKind::Dial,
        ToneKind::Ringback,
        ToneKind::Busy,
        ToneKind::Congestion,
        ToneKind::CallWaiting,
        ToneKind::StutterDial,
        ToneKind::Sit,
        ToneKind::Howler,
    ];

    /// The name used on the command line and in docs.
    pub fn name(self) -> &'static str {
        match self {
            ToneKind::Dial => "dial",
            ToneKind::Ringback => "ringback",
            ToneKind::Busy => "busy",
            ToneKind::Congestion => "congestion",
            ToneKind::CallWaiting => "callwaiting",
            ToneKind::StutterDial => "stutter",
            ToneKind::Sit => "sit",
            ToneKind::Howler => "howler",
        }
    }

    /// Parses [`ToneKind::name`] (and a few common synonyms).
    pub fn from_name(s: &str) -> Option<ToneKind> {
        let s = s.to_ascii_lowercase();
        Some(match s.as_str() {
            "dial" => ToneKind::Dial,
            "ringback" | "ring" | "ringing" => ToneKind::Ringback,
            "busy" => ToneKind::Busy,
            "congestion" | "reorder" => ToneKind::Congestion,
            "callwaiting" | "call-waiting" | "cw" => ToneKind::CallWaiting,
            "stutter" | "stutterdial" | "stutter-dial" => ToneKind::StutterDial,
            "sit" | "info" | "special-information" => ToneKind::Sit,
            "howler" | "roh" | "off-hook" | "receiver-off-hook" => ToneKind::Howler,
            _ => return None,
        })
    }
}

/// What sounds during one cadence segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sound {
    Silence,
    Single(u16),
    /// Two frequencies summed, each at the tone's level.
    Dual(u16, u16),
    /// Four frequencies summed, each at the tone's level (the North American receiver
    /// off-hook tone).
    Quad(u16, u16, u16, u16),
    /// `carrier` amplitude-modulated by `modulator` (depth [`AM_DEPTH`]); the carrier is at the
    /// tone's level.
    Modulated {
        carrier: u16,
        modulator: u16,
    },
}

/// Modulation depth of [`Sound::Modulated`] tones.
pub const AM_DEPTH: f32 = 0.5;

impl Sound {
    /// The frequencies a detector should look for (the first `n` of the array).
    pub fn freqs(self) -> ([u16; 4], usize) {
        match self {
            Sound::Silence => ([0; 4], 0),
            Sound::Single(f) => ([f, 0, 0, 0], 1),
            Sound::Dual(a, b) => ([a, b, 0, 0], 2),
            Sound::Quad(a, b, c, d) => ([a, b, c, d], 4),
            Sound::Modulated { carrier, .. } => ([carrier, 0, 0, 0], 1),
        }
    }

    pub fn is_silence(self) -> bool {
        self == Sound::Silence
    }
}

/// One step of a cadence. `ms == 0` means "until stopped" (only as the last step of a cycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub sound: Sound,
    pub ms: u16,
}

/// A call progress tone: `intro` played `intro_repeat` times, then `cycle` repeated for ever.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    pub kind: ToneKind,
    /// Level of each frequency component, dBm0.
    pub level_dbm0: f32,
    pub intro: &'static [Segment],
    pub intro_repeat: u8,
    pub cycle: &'static [Segment],
}

impl ToneSpec {
    /// True for a tone that, after its intro, is one steady sound.
    pub fn is_steady(&self) -> bool {
        self.cycle.len() == 1 && self.cycle[0].ms == 0
    }

    /// Length of one repetition of the cycle in ms (0 for a steady tone).
    pub fn cycle_ms(&self) -> u32 {
        if self.is_steady() {
            0
        } else {
            self.cycle.iter().map(|s| s.ms as u32).sum()
        }
    }
}

/// A ringing cadence: `pattern` is (on ms, off ms) pairs repeated, ring current at `freq_hz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingCadence {
    pub name: &'static str,
    pub freq_hz: u8,
    pub pattern: &'static [(u16, u16)],
}

impl RingCadence {
    pub fn period_ms(&self) -> u32 {
        self.pattern.iter().map(|&(a, b)| a as u32 + b as u32).sum()
    }
}

/// One country's tones and ring cadences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TonePlan {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: &'static str,
    pub name: &'static str,
    pub tones: &'static [ToneSpec],
    pub ring: RingCadence,
    /// Distinctive ring cadences (may be empty).
    pub distinctive_rings: &'static [RingCadence],
}

impl TonePlan {
    /// Looks a plan up by ISO 3166-1 alpha-2 code, case-insensitive ("UK" is accepted for GB).
    pub fn for_country(code: &str) -> Option<&'static TonePlan> {
        let code = if code.eq_ignore_ascii_case("UK") {
            "GB"
        } else {
            code
        };
        PLANS.iter().find(|p| p.country.eq_ignore_ascii_case(code))
    }

    /// Every built-in plan.
    pub fn all() -> &'static [TonePlan] {
        PLANS
    }

    /// The plan's spec for `kind`.
    pub fn tone(&self, kind: ToneKind) -> Option<&'static ToneSpec> {
        self.tones.iter().find(|t| t.kind == kind)
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Intro { rep: u8, idx: usize },
    Cycle { idx: usize },
    Done,
}

/// Renders a [`ToneSpec`] into slices of any length, phase-continuous across calls.
pub struct ToneGenerator<'a> {
    spec: &'a ToneSpec,
    amp: f32,
    phase: Phase,
    /// Samples left in the current segment (`u32::MAX` for a steady one).
    left: u32,
    a: Osc,
    b: Osc,
    c: Osc,
    d: Osc,
    m: Osc,
    sound: Sound,
}

impl<'a> ToneGenerator<'a> {
    pub fn new(spec: &'a ToneSpec) -> Self {
        Self::with_level(spec, spec.level_dbm0)
    }

    /// Same tone at another level (dBm0 per component).
    pub fn with_level(spec: &'a ToneSpec, level_dbm0: f32) -> Self {
        let mut g = ToneGenerator {
            spec,
            amp: dbm0_to_peak(level_dbm0),
            phase: Phase::Done,
            left: 0,
            a: Osc::new(0.0),
            b: Osc::new(0.0),
            c: Osc::new(0.0),
            d: Osc::new(0.0),
            m: Osc::new(0.0),
            sound: Sound::Silence,
        };
        g.restart();
        g
    }

    /// Starts again from the first segment.
    pub fn restart(&mut self) {
        self.phase = if self.spec.intro.is_empty() || self.spec.intro_repeat == 0 {
            Phase::Cycle { idx: 0 }
        } else {
            Phase::Intro { rep: 0, idx: 0 }
        };
        if self.spec.cycle.is_empty() && matches!(self.phase, Phase::Cycle { .. }) {
            self.phase = Phase::Done;
        }
        self.enter();
    }

    /// The spec being played.
    pub fn spec(&self) -> &'a ToneSpec {
        self.spec
    }

    /// True once a tone without a repeating cycle has finished.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    fn current(&self) -> Option<Segment> {
        match self.phase {
            Phase::Intro { idx, .. } => Some(self.spec.intro[idx]),
            Phase::Cycle { idx } => Some(self.spec.cycle[idx]),
            Phase::Done => None,
        }
    }

    fn enter(&mut self) {
        let Some(seg) = self.current() else {
            self.sound = Sound::Silence;
            self.left = u32::MAX;
            return;
        };
        self.left = if seg.ms == 0 { u32::MAX } else { seg.ms as u32 * 8 };
        self.sound = seg.sound;
        match seg.sound {
            Sound::Silence => {}
            Sound::Single(f) => self.a.retune(f as f32),
            Sound::Dual(f1, f2) => {
                self.a.retune(f1 as f32);
                self.b.retune(f2 as f32);
            }
            Sound::Quad(f1, f2, f3, f4) => {
                self.a.retune(f1 as f32);
                self.b.retune(f2 as f32);
                self.c.retune(f3 as f32);
                self.d.retune(f4 as f32);
            }
            Sound::Modulated { carrier, modulator } => {
                self.a.retune(carrier as f32);
                self.m.retune(modulator as f32);
            }
        }
    }

    fn advance(&mut self) {
        self.phase = match self.phase {
            Phase::Intro { rep, idx } => {
                if idx + 1 < self.spec.intro.len() {
                    Phase::Intro { rep, idx: idx + 1 }
                } else if rep + 1 < self.spec.intro_repeat {
                    Phase::Intro { rep: rep + 1, idx: 0 }
                } else if self.spec.cycle.is_empty() {
                    Phase::Done
                } else {
                    Phase::Cycle { idx: 0 }
                }
            }
            Phase::Cycle { idx } => Phase::Cycle {
                idx: (idx + 1) % self.spec.cycle.len(),
            },
            Phase::Done => Phase::Done,
        };
        self.enter();
    }

    /// Renders the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        let mut i = 0;
        while i < out.len() {
            if self.left == 0 {
                self.advance();
                continue;
            }
            // Chunks of at most 256 samples keep the oscillators renormalised.
            let n = (self.left as usize).min(out.len() - i).min(256);
            let amp = self.amp;
            let chunk = &mut out[i..i + n];
            match self.sound {
                Sound::Silence => chunk.fill(0),
                Sound::Single(_) => {
                    for s in chunk.iter_mut() {
                        *s = (self.a.next() * amp) as i16;
                    }
                }
                Sound::Dual(..) => {
                    for s in chunk.iter_mut() {
                        *s = ((self.a.next() + self.b.next()) * amp).clamp(-32768.0, 32767.0) as i16;
                    }
                }
                Sound::Quad(..) => {
                    for s in chunk.iter_mut() {
                        let sum = self.a.next() + self.b.next() + self.c.next() + self.d.next();
                        *s = (sum * amp).clamp(-32768.0, 32767.0) as i16;
                    }
                }
                Sound::Modulated { .. } => {
                    for s in chunk.iter_mut() {
                        let env = 1.0 + AM_DEPTH * self.m.next();
                        *s = (self.a.next() * env * amp).clamp(-32768.0, 32767.0) as i16;
                    }
                }
            }
            self.a.renormalize();
            self.b.renormalize();
            self.c.renormalize();
            self.d.renormalize();
            self.m.renormalize();
            i += n;
            if self.left != u32::MAX {
                self.left -= n as u32;
            }
        }
    }
}

/// Renders a ring cadence as an on/off envelope: true while the bell rings. For the FXS ringing
/// driver and for tests.
pub struct RingSequencer {
    cadence: RingCadence,
    idx: usize,
    on: bool,
    left_ms: u32,
}

impl RingSequencer {
    pub fn new(cadence: RingCadence) -> Self {
        let left_ms = cadence.pattern.first().map_or(0, |p| p.0 as u32);
        RingSequencer {
            cadence,
            idx: 0,
            on: true,
            left_ms,
        }
    }

    /// Advances by `ms` and says whether the ringer is on at the end of that time.
    pub fn advance(&mut self, mut ms: u32) -> bool {
        if self.cadence.period_ms() == 0 {
            return false;
        }
        while ms >= self.left_ms {
            ms -= self.left_ms;
            if self.on {
                self.on = false;
                self.left_ms = self.cadence.pattern[self.idx].1 as u32;
            } else {
                self.idx = (self.idx + 1) % self.cadence.pattern.len();
                self.on = true;
                self.left_ms = self.cadence.pattern[self.idx].0 as u32;
            }
        }
        self.left_ms -= ms;
        self.on
    }

    pub fn is_on(&self) -> bool {
        self.on
    }
}
