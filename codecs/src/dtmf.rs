//! DTMF generation and an ITU-T Q.24 receiver.
//!
//! [`DtmfGenerator`] queues digits (each with its own on/off time and levels) and renders them into
//! slices of any length. [`DtmfDetector`] is fed slices of any length and reports digit start and
//! end events with sample-accurate timestamps, suitable for RFC 4733 begin/end events.
//!
//! The receiver runs Goertzel filters for the eight DTMF frequencies over 51-sample sub-blocks and
//! evaluates a 102-sample window every 51 samples. The phase advance of each filter between two
//! consecutive sub-blocks gives a precise frequency estimate, which is what lets the receiver
//! accept ±1.5 % and reject ±3.5 % deviations (a plain Goertzel bank cannot tell those apart).
//! Twist limits, a spectral purity test and a minimum duration complete the Q.24 checks.

// DSP loops index several parallel per-filter arrays together.
#![allow(clippy::needless_range_loop)]

use crate::tones::{Osc, dbm0_power, dbm0_to_peak};

/// Low-group (row) frequencies in Hz.
pub const ROW_FREQS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz.
pub const COL_FREQS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The (low, high) frequency pair of a DTMF digit (`0-9 * # A-D`, letters case-insensitive).
pub fn digit_freqs(digit: char) -> Option<(f32, f32)> {
    let (r, c) = digit_position(digit)?;
    Some((ROW_FREQS[r], COL_FREQS[c]))
}

fn digit_position(digit: char) -> Option<(usize, usize)> {
    let d = digit.to_ascii_uppercase();
    for (r, row) in KEYPAD.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == d {
                return Some((r, c));
            }
        }
    }
    None
}

/// Why a digit could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfError {
    /// Not one of `0-9 * # A-D`.
    InvalidDigit(char),
    /// The generator's queue (capacity [`DtmfGenerator::CAPACITY`]) is full.
    QueueFull,
}

impl core::fmt::Display for DtmfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DtmfError::InvalidDigit(c) => write!(f, "'{c}' is not a DTMF digit (0-9 * # A-D)"),
            DtmfError::QueueFull => f.write_str("DTMF digit queue is full"),
        }
    }
}

impl std::error::Error for DtmfError {}

#[derive(Clone, Copy)]
struct Queued {
    row: u8,
    col: u8,
    on: u32,
    off: u32,
}

#[derive(Clone, Copy)]
enum GenState {
    Idle,
    On { left: u32, off: u32 },
    Off { left: u32 },
}

/// Renders queued DTMF digits into audio, phase-continuous across `fill` calls; allocation-free.
pub struct DtmfGenerator {
    queue: [Queued; Self::CAPACITY],
    head: usize,
    len: usize,
    on_samples: u32,
    off_samples: u32,
    amp_low: f32,
    amp_high: f32,
    state: GenState,
    lo: Osc,
    hi: Osc,
}

impl Default for DtmfGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfGenerator {
    /// Digits that can wait in the queue.
    pub const CAPACITY: usize = 64;

    /// 100 ms tone, 100 ms pause, low group at -9 dBm0 and high group at -7 dBm0 (2 dB pre-emphasis,
    /// within the Q.23 sending levels).
    pub fn new() -> Self {
        DtmfGenerator {
            queue: [Queued {
                row: 0,
                col: 0,
                on: 0,
                off: 0,
            }; Self::CAPACITY],
            head: 0,
            len: 0,
            on_samples: 800,
            off_samples: 800,
            amp_low: dbm0_to_peak(-9.0),
            amp_high: dbm0_to_peak(-7.0),
            state: GenState::Idle,
            lo: Osc::new(0.0),
            hi: Osc::new(0.0),
        }
    }

    /// Tone and pause durations for digits queued from now on.
    pub fn set_timing(&mut self, on_ms: u32, off_ms: u32) {
        self.on_samples = on_ms * 8;
        self.off_samples = off_ms * 8;
    }

    /// Level of each frequency group in dBm0, for digits rendered from now on.
    pub fn set_level(&mut self, low_dbm0: f32, high_dbm0: f32) {
        self.amp_low = dbm0_to_peak(low_dbm0);
        self.amp_high = dbm0_to_peak(high_dbm0);
    }

    /// Queues one digit with the current timing.
    pub fn push(&mut self, digit: char) -> Result<(), DtmfError> {
        self.push_timed(digit, self.on_samples / 8, self.off_samples / 8)
    }

    /// Queues one digit with its own tone and pause durations.
    pub fn push_timed(&mut self, digit: char, on_ms: u32, off_ms: u32) -> Result<(), DtmfError> {
        let (r, c) = digit_position(digit).ok_or(DtmfError::InvalidDigit(digit))?;
        if self.len == Self::CAPACITY {
            return Err(DtmfError::QueueFull);
        }
        let idx = (self.head + self.len) % Self::CAPACITY;
        self.queue[idx] = Queued {
            row: r as u8,
            col: c as u8,
            on: on_ms * 8,
            off: off_ms * 8,
        };
        self.len += 1;
        Ok(())
    }

    /// Queues every digit of `digits`; nothing is queued if any is invalid or they do not all fit.
    pub fn push_str(&mut self, digits: &str) -> Result<(), DtmfError> {
        let mut n = 0;
        for c in digits.chars() {
            digit_position(c).ok_or(DtmfError::InvalidDigit(c))?;
            n += 1;
        }
        if self.len + n > Self::CAPACITY {
            return Err(DtmfError::QueueFull);
        }
        for c in digits.chars() {
            self.push(c)?;
        }
        Ok(())
    }

    /// Digits queued or playing.
    pub fn pending(&self) -> usize {
        self.len + usize::from(!matches!(self.state, GenState::Idle))
    }

    /// True when nothing is queued or playing.
    pub fn is_idle(&self) -> bool {
        self.pending() == 0
    }

    /// Drops queued digits and stops the current one.
    pub fn clear(&mut self) {
        self.len = 0;
        self.state = GenState::Idle;
    }

    /// Renders into `out` (any length). Returns how many samples belong to digits or their
    /// pauses; the rest of `out` is silence.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut i = 0;
        while i < out.len() {
            match self.state {
                GenState::Idle => {
                    if self.len == 0 {
                        out[i..].fill(0);
                        return i;
                    }
                    let q = self.queue[self.head];
                    self.head = (self.head + 1) % Self::CAPACITY;
                    self.len -= 1;
                    self.lo = Osc::new(ROW_FREQS[q.row as usize]);
                    self.hi = Osc::new(COL_FREQS[q.col as usize]);
                    self.state = GenState::On {
                        left: q.on,
                        off: q.off,
                    };
                }
                GenState::On { left, off } => {
                    let n = (left as usize).min(out.len() - i);
                    for s in &mut out[i..i + n] {
                        let v = self.lo.next() * self.amp_low + self.hi.next() * self.amp_high;
                        *s = v.clamp(-32768.0, 32767.0) as i16;
                    }
                    self.lo.renormalize();
                    self.hi.renormalize();
                    i += n;
                    let left = left - n as u32;
                    self.state = if left == 0 {
                        GenState::Off { left: off }
                    } else {
                        GenState::On { left, off }
                    };
                }
                GenState::Off { left } => {
                    let n = (left as usize).min(out.len() - i);
                    out[i..i + n].fill(0);
                    i += n;
                    let left = left - n as u32;
                    self.state = if left == 0 {
                        GenState::Idle
                    } else {
                        GenState::Off { left }
                    };
                }
            }
        }
        i
    }
}

/// Whether a [`DtmfEvent`] opens or closes a digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEventKind {
    /// The digit has been validated (minimum duration reached): send the RFC 4733 begin.
    Start,
    /// The digit has ended; `duration_samples` is its measured length.
    End,
}

/// A digit event from [`DtmfDetector`]. Times are sample indices since the detector started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    pub digit: char,
    pub kind: DtmfEventKind,
    /// Estimated first sample of the tone.
    pub at_sample: u64,
    /// Measured duration: so far for `Start`, total for `End`.
    pub duration_samples: u32,
}

/// Receiver thresholds. The defaults follow ITU-T Q.24 (North American column).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfConfig {
    /// Largest accepted excess of the low group over the high group, dB.
    pub normal_twist_db: f32,
    /// Largest accepted excess of the high group over the low group, dB.
    pub reverse_twist_db: f32,
    /// Weakest accepted level of each frequency, dBm0.
    pub min_level_dbm0: f32,
    /// Largest accepted frequency deviation, fraction of the nominal frequency.
    pub max_deviation: f32,
    /// Share of the window's power the two tones must carry (spectral purity), 0..1.
    pub min_purity: f32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            min_level_dbm0: -30.0,
            max_deviation: 0.025,
            min_purity: 0.55,
        }
    }
}

const SUB: usize = 51;
const WIN: f32 = (2 * SUB) as f32;
/// Consecutive windows (51-sample hop) that must agree before a digit is reported.
const CONFIRM: u32 = 4;
/// Consecutive windows without the digit that end it: bridges the drop-outs of up to 10 ms that
/// Q.24 requires, while a 40 ms pause still ends the digit.
const RELEASE: u32 = 4;
const EVENT_CAP: usize = 32;
/// Distance between a tone edge and the edge of the first (or last) window accepted for it.
const EDGE: u64 = 15;

#[derive(Clone, Copy, Default)]
struct C32 {
    re: f32,
    im: f32,
}

impl C32 {
    fn mul(self, o: C32) -> C32 {
        C32 {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn conj(self) -> C32 {
        C32 {
            re: self.re,
            im: -self.im,
        }
    }
    fn add(self, o: C32) -> C32 {
        C32 {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn norm2(self) -> f32 {
        self.re * self.re + self.im * self.im
    }
    fn expj(w: f32) -> C32 {
        C32 {
            re: w.cos(),
            im: w.sin(),
        }
    }
}

#[derive(Clone, Copy)]
enum RxState {
    Idle,
    Active {
        digit: u8,
        start: u64,
        last_end: u64,
        misses: u32,
    },
}

/// ITU-T Q.24 DTMF receiver: feed any-length slices, poll events. Allocation-free.
pub struct DtmfDetector {
    cfg: DtmfConfig,
    coef: [f32; 8],
    /// Rotation turning a Goertzel output into the DFT of the sub-block (phase at its start).
    align: [C32; 8],
    /// e^{-j w M}: one sub-block's phase advance at the nominal frequency.
    advance: [C32; 8],
    s1: [f32; 8],
    s2: [f32; 8],
    energy: f32,
    n: usize,
    prev: [C32; 8],
    prev_energy: f32,
    prev_win: [C32; 8],
    /// Sum of the candidate digit's per-window tone powers.
    psum: [f32; 8],
    have_prev: bool,
    /// Sample index of the next sample fed.
    clock: u64,
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    cand: u8,
    cand_count: u32,
    cand_start: u64,
    state: RxState,
    events: [DtmfEvent; EVENT_CAP],
    ev_head: usize,
    ev_len: usize,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

const NO_DIGIT: u8 = 0xff;

impl DtmfDetector {
    pub fn new() -> Self {
        Self::with_config(DtmfConfig::default())
    }

    pub fn with_config(cfg: DtmfConfig) -> Self {
        let mut coef = [0.0; 8];
        let mut align = [C32::default(); 8];
        let mut advance = [C32::default(); 8];
        for (k, f) in ROW_FREQS.iter().chain(COL_FREQS.iter()).enumerate() {
            let w = 2.0 * core::f32::consts::PI * f / crate::SAMPLE_RATE as f32;
            coef[k] = 2.0 * w.cos();
            align[k] = C32::expj(-w * (SUB as f32 - 1.0));
            advance[k] = C32::expj(-w * SUB as f32);
        }
        DtmfDetector {
            cfg,
            coef,
            align,
            advance,
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: 0.0,
            n: 0,
            prev: [C32::default(); 8],
            prev_energy: 0.0,
            prev_win: [C32::default(); 8],
            psum: [0.0; 8],
            have_prev: false,
            clock: 0,
            min_power: dbm0_power(cfg.min_level_dbm0),
            normal_twist: 10f32.powf(cfg.normal_twist_db / 10.0),
            reverse_twist: 10f32.powf(cfg.reverse_twist_db / 10.0),
            cand: NO_DIGIT,
            cand_count: 0,
            cand_start: 0,
            state: RxState::Idle,
            events: [DtmfEvent {
                digit: '0',
                kind: DtmfEventKind::End,
                at_sample: 0,
                duration_samples: 0,
            }; EVENT_CAP],
            ev_head: 0,
            ev_len: 0,
        }
    }

    /// Forgets all state and restarts the sample clock at 0.
    pub fn reset(&mut self) {
        *self = Self::with_config(self.cfg);
    }

    /// Samples fed so far.
    pub fn samples_seen(&self) -> u64 {
        self.clock
    }

    /// The digit currently held (validated and not yet ended), if any.
    pub fn current_digit(&self) -> Option<char> {
        match self.state {
            RxState::Active { digit, .. } => Some(digit_char(digit)),
            RxState::Idle => None,
        }
    }

    /// The digit held and its start sample: RFC 4733 updates carry
    /// `samples_seen() - start` as the duration so far.
    pub fn held(&self) -> Option<(char, u64)> {
        match self.state {
            RxState::Active { digit, start, .. } => Some((digit_char(digit), start)),
            RxState::Idle => None,
        }
    }

    /// Feeds samples of any count.
    pub fn process(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            let take = (SUB - self.n).min(samples.len());
            let (now, rest) = samples.split_at(take);
            samples = rest;
            // Local copies keep the eight filters in registers (and vectorised).
            let (mut s1, mut s2, coef) = (self.s1, self.s2, self.coef);
            let mut energy = self.energy;
            for &x in now {
                let x = x as f32;
                energy += x * x;
                for k in 0..8 {
                    let s = x + coef[k] * s1[k] - s2[k];
                    s2[k] = s1[k];
                    s1[k] = s;
                }
            }
            self.s1 = s1;
            self.s2 = s2;
            self.energy = energy;
            self.n += take;
            self.clock += take as u64;
            if self.n == SUB {
                self.sub_block_done();
            }
        }
    }

    /// Next event, oldest first.
    pub fn poll(&mut self) -> Option<DtmfEvent> {
        if self.ev_len == 0 {
            return None;
        }
        let e = self.events[self.ev_head];
        self.ev_head = (self.ev_head + 1) % EVENT_CAP;
        self.ev_len -= 1;
        Some(e)
    }

    /// Ends a held digit now (for example at the end of a file or call).
    pub fn flush(&mut self) {
        if let RxState::Active {
            digit,
            start,
            last_end,
            ..
        } = self.state
        {
            self.emit(
                digit,
                DtmfEventKind::End,
                start,
                (last_end.saturating_sub(EDGE).saturating_sub(start)) as u32,
            );
        }
        self.state = RxState::Idle;
        self.cand = NO_DIGIT;
        self.cand_count = 0;
    }

    fn emit(&mut self, digit: u8, kind: DtmfEventKind, at: u64, dur: u32) {
        let e = DtmfEvent {
            digit: digit_char(digit),
            kind,
            at_sample: at,
            duration_samples: dur,
        };
        if self.ev_len == EVENT_CAP {
            // Keep the newest events: drop the oldest.
            self.ev_head = (self.ev_head + 1) % EVENT_CAP;
            self.ev_len -= 1;
        }
        let idx = (self.ev_head + self.ev_len) % EVENT_CAP;
        self.events[idx] = e;
        self.ev_len += 1;
    }

    fn sub_block_done(&mut self) {
        let mut cur = [C32::default(); 8];
        for k in 0..8 {
            // Goertzel output s1 - e^{-jw} s2, then rotated to the sub-block's start.
            let half = self.coef[k] * 0.5;
            let sin_w = (1.0 - half * half).max(0.0).sqrt();
            let y = C32 {
                re: self.s1[k] - half * self.s2[k],
                im: sin_w * self.s2[k],
            };
            cur[k] = y.mul(self.align[k]);
            self.s1[k] = 0.0;
            self.s2[k] = 0.0;
        }
        let energy = self.energy;
        self.energy = 0.0;
        self.n = 0;
        let win_end = self.clock;
        let win_start = win_end.saturating_sub(2 * SUB as u64);
        let mut win = [C32::default(); 8];
        for k in 0..8 {
            win[k] = self.prev[k].add(cur[k].mul(self.advance[k]));
        }
        let mut p = [0f32; 8];
        let sym = if self.have_prev {
            self.classify(&cur, &win, energy, &mut p)
        } else {
            NO_DIGIT
        };
        self.prev = cur;
        self.prev_energy = energy;
        self.prev_win = win;
        self.have_prev = true;
        self.track(sym, &p, win_start, win_end);
    }

    fn classify(&self, cur: &[C32; 8], win: &[C32; 8], energy: f32, p: &mut [f32; 8]) -> u8 {
        let total = (energy + self.prev_energy) / WIN;
        if total < self.min_power * 1.5 {
            return NO_DIGIT;
        }
        for k in 0..8 {
            p[k] = 2.0 * win[k].norm2() / (WIN * WIN);
        }
        let (r, pr) = best(&p[0..4]);
        let (c, pc) = best(&p[4..8]);
        if pr < self.min_power || pc < self.min_power {
            return NO_DIGIT;
        }
        // Per window with 3 dB of slack for leakage; the exact limits are applied to the
        // whole candidate in `twist_ok`.
        if pr > pc * self.normal_twist * 2.0 || pc > pr * self.reverse_twist * 2.0 {
            return NO_DIGIT;
        }
        // Each tone must stand well above the others of its group.
        for k in 0..4 {
            if k != r && p[k] * 6.3 > pr {
                return NO_DIGIT;
            }
            if k != c && p[4 + k] * 6.3 > pc {
                return NO_DIGIT;
            }
        }
        if pr + pc < self.cfg.min_purity * total {
            return NO_DIGIT;
        }
        // Both halves of the window must carry the two tones: a window that only grazes a
        // tone's edge does not count, which is what makes the minimum duration sharp. Measured
        // on the tones themselves, so that a background (dial tone, noise) does not hide it.
        let first = self.prev[r].norm2() + self.prev[4 + c].norm2();
        let second = cur[r].norm2() + cur[4 + c].norm2();
        // Coherent: a half covering a fraction f of the tone has f^2 of the energy, so 0.5
        // means 70 % coverage, with room for the other tone's leakage (about +/-20 %).
        if first.min(second) < 0.5 * first.max(second) {
            return NO_DIGIT;
        }
        // Frequency from the phase advance over one hop: between this window and the previous
        // one when that one carried the tone too (less leakage), else between the two halves.
        let here = win[r].norm2() + win[4 + c].norm2();
        let before = self.prev_win[r].norm2() + self.prev_win[4 + c].norm2();
        let use_windows = before * 2.0 >= here;
        for k in [r, 4 + c] {
            let z = if use_windows {
                win[k].mul(self.prev_win[k].conj()).mul(self.advance[k])
            } else {
                cur[k].mul(self.prev[k].conj()).mul(self.advance[k])
            };
            let dev_hz =
                z.im.atan2(z.re) * crate::SAMPLE_RATE as f32 / (2.0 * core::f32::consts::PI * SUB as f32);
            let f0 = if k < 4 { ROW_FREQS[k] } else { COL_FREQS[k - 4] };
            if dev_hz.abs() > self.cfg.max_deviation * f0 {
                return NO_DIGIT;
            }
        }
        (r * 4 + c) as u8
    }

    /// Twist averaged over the candidate's windows: one window's estimate wobbles by about a dB
    /// with the phase of the other tone's leakage, which changes from window to window.
    fn twist_ok(&self, sym: u8) -> bool {
        let (r, c) = ((sym / 4) as usize, 4 + (sym % 4) as usize);
        let (pr, pc) = (self.psum[r], self.psum[c]);
        pr <= pc * self.normal_twist && pc <= pr * self.reverse_twist
    }

    fn track(&mut self, sym: u8, p: &[f32; 8], win_start: u64, win_end: u64) {
        match self.state {
            RxState::Active {
                digit,
                start,
                last_end,
                misses,
            } => {
                if sym == digit {
                    self.state = RxState::Active {
                        digit,
                        start,
                        last_end: win_end,
                        misses: 0,
                    };
                } else if misses + 1 >= RELEASE {
                    self.emit(
                        digit,
                        DtmfEventKind::End,
                        start,
                        (last_end.saturating_sub(EDGE).saturating_sub(start)) as u32,
                    );
                    self.state = RxState::Idle;
                    self.cand = NO_DIGIT;
                    self.cand_count = 0;
                } else {
                    self.state = RxState::Active {
                        digit,
                        start,
                        last_end,
                        misses: misses + 1,
                    };
                }
                if !matches!(self.state, RxState::Idle) {
                    return;
                }
            }
            RxState::Idle => {}
        }
        if sym == NO_DIGIT {
            self.cand = NO_DIGIT;
            self.cand_count = 0;
            return;
        }
        if sym != self.cand {
            self.cand = sym;
            self.cand_count = 0;
            // The first window that passes starts about 15 samples before the tone.
            self.cand_start = win_start + EDGE;
            self.psum = [0.0; 8];
        }
        for k in 0..8 {
            self.psum[k] += p[k];
        }
        self.cand_count += 1;
        if self.cand_count >= CONFIRM && self.twist_ok(sym) {
            let start = self.cand_start;
            self.state = RxState::Active {
                digit: sym,
                start,
                last_end: win_end,
                misses: 0,
            };
            self.emit(sym, DtmfEventKind::Start, start, (win_end - start) as u32);
        }
    }
}

fn best(p: &[f32]) -> (usize, f32) {
    let mut bi = 0;
    for i in 1..p.len() {
        if p[i] > p[bi] {
            bi = i;
        }
    }
    (bi, p[bi])
}

fn digit_char(sym: u8) -> char {
    KEYPAD[(sym / 4) as usize][(sym % 4) as usize]
}
