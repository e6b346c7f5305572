//! Call progress tone detector: which of a plan's tones is on the line.
//!
//! Every 20 ms block runs one Goertzel filter per distinct frequency of the plan. Each tone of
//! the plan has a tracker that turns the blocks into a run-length history of its own "symbols"
//! (its sounds, silence, or something else) and matches that history against the tone's cadence
//! with a tolerance of 50 ms + 15 %. Tones sharing a frequency (busy, congestion and ringback in
//! most of Europe) are told apart by cadence only, so a tone is reported once its cadence has been
//! seen: a steady dial tone after 1 s, a cadenced tone after one or two cycles.

// DSP loops index several parallel per-filter arrays together.
#![allow(clippy::needless_range_loop)]

use super::{Segment, Sound, ToneKind, TonePlan, dbm0_power};

const BLOCK: usize = 160;
const BLOCK_MS: u32 = 20;
const MAX_FREQS: usize = 16;
const MAX_SOUNDS: usize = 24;
const MAX_TONES: usize = 10;
const MAX_SYMS: usize = 4;
const MAX_CAD: usize = 12;
const HIST: usize = 16;
const QUIET: u8 = 0;
const OTHER: u8 = 255;
/// A steady tone is reported after this long.
const STEADY_CONFIRM_MS: u32 = 1000;
/// Silence is reported after this long with no tone locked.
const SILENCE_MS: u32 = 500;
/// Unrecognised sound is reported after this long.
const OTHER_MS: u32 = 1000;

/// What the detector hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    Silence,
    Tone(ToneKind),
    /// Sound that is none of the plan's tones (speech, noise, a foreign tone).
    Other,
}

/// A change of what the detector hears, at sample index `at_sample` (when it was confirmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpEvent {
    pub heard: Heard,
    pub at_sample: u64,
}

#[derive(Clone, Copy, Default)]
struct SoundDef {
    f: [u8; 4],
    n: u8,
}

#[derive(Clone, Copy, Default)]
struct Step {
    sym: u8,
    ms: u32,
    /// Plan sounds of the step (cadence steps only).
    mask: u32,
}

#[derive(Clone, Copy)]
struct Cadence {
    steps: [Step; MAX_CAD],
    len: usize,
}

impl Cadence {
    const EMPTY: Cadence = Cadence {
        steps: [Step {
            sym: 0,
            ms: 0,
            mask: 0,
        }; MAX_CAD],
        len: 0,
    };
    fn get(&self, i: usize) -> Step {
        self.steps[i % self.len]
    }
}

#[derive(Clone, Copy)]
struct Tracker {
    kind: ToneKind,
    /// Plan sound bitmask for each symbol (symbol k+1 is `syms[k]`).
    syms: [u32; MAX_SYMS],
    nsyms: usize,
    cycle: Cadence,
    intro: Cadence,
    intro_repeat: u8,
    steady: bool,
    /// Completed steps that must match before a cadenced tone is reported.
    need: usize,
    /// Pause that must have run before a burst tone (long pause) is reported.
    min_long_quiet: u32,
    /// Run that confirms a steady tone.
    steady_confirm: u32,
    /// Whether one quiet block inside a run is a glitch (tones without short gaps).
    absorb_quiet: bool,
    /// Every plan sound this tone uses, widened to the sounds it cannot be told from.
    ext_mask: u32,
    mask: u32,
    run_sym: u8,
    run_blocks: u32,
    /// The odd block absorbed into the current run, if any.
    pending: Option<u8>,
    hist: [Step; HIST],
    hist_len: usize,
    hist_head: usize,
}

/// Detects a plan's call progress tones; feed any-length slices, poll [`CpEvent`]s. Allocation-free.
pub struct CallProgressDetector {
    plan: &'static TonePlan,
    coef: [f32; MAX_FREQS],
    nfreq: usize,
    sounds: [SoundDef; MAX_SOUNDS],
    nsounds: usize,
    trackers: [Tracker; MAX_TONES],
    ntrackers: usize,
    s1: [f32; MAX_FREQS],
    s2: [f32; MAX_FREQS],
    energy: f32,
    n: usize,
    clock: u64,
    min_power: f32,
    floor: f32,
    locked: Option<usize>,
    quiet_ms: u32,
    loud_ms: u32,
    heard: Option<Heard>,
    events: [CpEvent; 8],
    ev_head: usize,
    ev_len: usize,
}

/// Tolerance on an observed step duration.
fn tol(ms: u32) -> u32 {
    25 + ms / 10
}

/// A step as the 20 ms blocks see it: a block that holds any part of a tone counts as tone, so
/// sounds look about one block longer and pauses one block shorter.
fn observed(s: Step) -> u32 {
    if s.sym == QUIET {
        s.ms.saturating_sub(BLOCK_MS)
    } else {
        s.ms + BLOCK_MS
    }
}

impl CallProgressDetector {
    /// A detector for `plan`'s tones, sensitive down to -50 dBm0.
    pub fn new(plan: &'static TonePlan) -> Self {
        Self::with_min_level(plan, -50.0)
    }

    /// Same, with the weakest level (dBm0, whole signal) considered as sound.
    pub fn with_min_level(plan: &'static TonePlan, min_level_dbm0: f32) -> Self {
        let mut d = CallProgressDetector {
            plan,
            coef: [0.0; MAX_FREQS],
            nfreq: 0,
            sounds: [SoundDef::default(); MAX_SOUNDS],
            nsounds: 0,
            trackers: [Tracker {
                kind: ToneKind::Dial,
                syms: [0; MAX_SYMS],
                nsyms: 0,
                cycle: Cadence::EMPTY,
                intro: Cadence::EMPTY,
                intro_repeat: 0,
                steady: false,
                need: 4,
                min_long_quiet: 300,
                steady_confirm: STEADY_CONFIRM_MS,
                absorb_quiet: true,
                ext_mask: 0,
                mask: 0,
                run_sym: QUIET,
                run_blocks: 0,
                pending: None,
                hist: [Step::default(); HIST],
                hist_len: 0,
                hist_head: 0,
            }; MAX_TONES],
            ntrackers: 0,
            s1: [0.0; MAX_FREQS],
            s2: [0.0; MAX_FREQS],
            energy: 0.0,
            n: 0,
            clock: 0,
            min_power: dbm0_power(min_level_dbm0),
            floor: f32::MAX,
            locked: None,
            quiet_ms: 0,
            loud_ms: 0,
            heard: None,
            events: [CpEvent {
                heard: Heard::Silence,
                at_sample: 0,
            }; 8],
            ev_head: 0,
            ev_len: 0,
        };
        let mut freqs = [0u16; MAX_FREQS];
        let mut sound_list = [Sound::Silence; MAX_SOUNDS];
        for spec in plan.tones.iter().take(MAX_TONES) {
            let mut t = d.trackers[d.ntrackers];
            t.kind = spec.kind;
            for seg in spec.intro.iter().chain(spec.cycle.iter()) {
                if seg.sound.is_silence() {
                    continue;
                }
                let si = d.sound_index(&mut sound_list, &mut freqs, seg.sound);
                let Some(si) = si else { continue };
                // Sounds within 30 Hz of each other cannot be told apart in 20 ms: same symbol.
                let mut placed = false;
                for k in 0..t.nsyms {
                    let rep = sound_list[t.syms[k].trailing_zeros() as usize];
                    if similar(rep, seg.sound) {
                        t.syms[k] |= 1 << si;
                        placed = true;
                        break;
                    }
                }
                if !placed && t.nsyms < MAX_SYMS {
                    t.syms[t.nsyms] = 1 << si;
                    t.nsyms += 1;
                }
            }
            // Sounds of more frequencies first, so a block matching both a dual sound and one
            // of its parts counts as the dual one.
            let (syms, n) = (&mut t.syms, t.nsyms);
            syms[..n].sort_by_key(|m| core::cmp::Reverse(sound_list[m.trailing_zeros() as usize].freqs().1));
            t.cycle = d.cadence(&t, &sound_list, spec.cycle, true);
            t.intro = d.cadence(&t, &sound_list, spec.intro, false);
            t.intro_repeat = spec.intro_repeat;
            t.steady = spec.is_steady();
            d.trackers[d.ntrackers] = t;
            d.ntrackers += 1;
        }
        for (i, &f) in freqs[..d.nfreq].iter().enumerate() {
            let w = 2.0 * core::f32::consts::PI * f as f32 / crate::SAMPLE_RATE as f32;
            d.coef[i] = 2.0 * w.cos();
        }
        d.derive_rules(&sound_list);
        d
    }

    /// Confirmation rules that depend on the other tones of the plan: a tone is only reported
    /// once nothing else of the plan sharing its sound could still explain what was heard.
    fn derive_rules(&mut self, list: &[Sound; MAX_SOUNDS]) {
        let n = self.ntrackers;
        for t in self.trackers[..n].iter_mut() {
            t.mask = t.syms[..t.nsyms].iter().fold(0, |a, m| a | m);
            let mut ext = t.mask;
            for i in 0..self.nsounds {
                if t.mask & (1 << i) != 0 {
                    for j in 0..self.nsounds {
                        if similar(list[i], list[j]) {
                            ext |= 1 << j;
                        }
                    }
                }
            }
            t.ext_mask = ext;
            t.absorb_quiet = [&t.cycle, &t.intro]
                .iter()
                .all(|c| c.steps[..c.len].iter().all(|s| s.sym != QUIET || s.ms >= 60));
        }
        for a in 0..n {
            let me = self.trackers[a];
            let mut need = if me.period() >= 2500 {
                me.cycle.len.max(2)
            } else {
                me.cycle.len.max(4)
            };
            let mut long_quiet = 300;
            let mut steady = STEADY_CONFIRM_MS;
            for b in 0..n {
                let other = &self.trackers[b];
                if a == b || other.mask & me.ext_mask == 0 {
                    continue;
                }
                if me.period() < 2500 && other.period() < 2500 && !other.steady {
                    need = need.max(other.cycle.len);
                }
                for c in [&other.cycle, &other.intro] {
                    for s in &c.steps[..c.len] {
                        if s.sym == QUIET && s.ms < 3000 {
                            long_quiet = long_quiet.max(observed(*s) + tol(s.ms) + BLOCK_MS);
                        } else if s.sym != QUIET && s.ms > 0 && s.mask & me.ext_mask != 0 {
                            steady = steady.max(observed(*s) + tol(s.ms) + 2 * BLOCK_MS);
                        }
                    }
                }
            }
            let t = &mut self.trackers[a];
            t.need = need.min(HIST - 1);
            t.min_long_quiet = long_quiet;
            t.steady_confirm = steady;
        }
    }

    fn sound_index(
        &mut self,
        list: &mut [Sound; MAX_SOUNDS],
        freqs: &mut [u16; MAX_FREQS],
        s: Sound,
    ) -> Option<usize> {
        if let Some(i) = list[..self.nsounds].iter().position(|&x| x == s) {
            return Some(i);
        }
        if self.nsounds == MAX_SOUNDS {
            return None;
        }
        let (fs, n) = s.freqs();
        let mut def = SoundDef {
            f: [0; 4],
            n: n as u8,
        };
        for k in 0..n {
            let fi = match freqs[..self.nfreq].iter().position(|&x| x == fs[k]) {
                Some(i) => i,
                None if self.nfreq < MAX_FREQS => {
                    freqs[self.nfreq] = fs[k];
                    self.nfreq += 1;
                    self.nfreq - 1
                }
                None => return None,
            };
            def.f[k] = fi as u8;
        }
        list[self.nsounds] = s;
        self.sounds[self.nsounds] = def;
        self.nsounds += 1;
        Some(self.nsounds - 1)
    }

    fn cadence(&self, t: &Tracker, list: &[Sound; MAX_SOUNDS], segs: &[Segment], circular: bool) -> Cadence {
        let mut c = Cadence::EMPTY;
        for seg in segs {
            let sym = if seg.sound.is_silence() {
                QUIET
            } else {
                let si = list[..self.nsounds]
                    .iter()
                    .position(|&x| x == seg.sound)
                    .unwrap_or(0);
                t.syms[..t.nsyms]
                    .iter()
                    .position(|&m| m & (1 << si) != 0)
                    .map_or(OTHER, |k| k as u8 + 1)
            };
            let ms = seg.ms as u32;
            let mask = if sym == QUIET || sym == OTHER {
                0
            } else {
                t.syms[sym as usize - 1]
            };
            // Gaps shorter than two blocks are not reliably observable: fold them into the
            // previous step.
            if sym == QUIET && ms < 40 && c.len > 0 {
                c.steps[c.len - 1].ms += ms;
                continue;
            }
            if c.len > 0 && c.steps[c.len - 1].sym == sym {
                c.steps[c.len - 1].ms += ms;
                continue;
            }
            if c.len < MAX_CAD {
                c.steps[c.len] = Step { sym, ms, mask };
                c.len += 1;
            }
        }
        if circular && c.len > 2 && c.steps[0].sym == c.steps[c.len - 1].sym {
            c.steps[0].ms += c.steps[c.len - 1].ms;
            c.len -= 1;
        }
        c
    }

    /// The plan this detector was built for.
    pub fn plan(&self) -> &'static TonePlan {
        self.plan
    }

    /// What is heard now (`None` until the first decision).
    pub fn current(&self) -> Option<Heard> {
        self.heard
    }

    /// Samples fed so far.
    pub fn samples_seen(&self) -> u64 {
        self.clock
    }

    /// Next change of what is heard, oldest first.
    pub fn poll(&mut self) -> Option<CpEvent> {
        if self.ev_len == 0 {
            return None;
        }
        let e = self.events[self.ev_head];
        self.ev_head = (self.ev_head + 1) % self.events.len();
        self.ev_len -= 1;
        Some(e)
    }

    /// Feeds samples of any count.
    pub fn process(&mut self, samples: &[i16]) {
        if self.nfreq <= 8 {
            self.run::<8>(samples);
        } else {
            self.run::<MAX_FREQS>(samples);
        }
    }

    /// The Goertzel bank over `N` lanes (unused lanes have zero input weight and are ignored):
    /// a fixed width lets the compiler keep the state in registers and vectorise it.
    fn run<const N: usize>(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            let take = (BLOCK - self.n).min(samples.len());
            let (now, rest) = samples.split_at(take);
            samples = rest;
            let mut s1 = [0f32; N];
            let mut s2 = [0f32; N];
            let mut coef = [0f32; N];
            s1.copy_from_slice(&self.s1[..N]);
            s2.copy_from_slice(&self.s2[..N]);
            coef.copy_from_slice(&self.coef[..N]);
            let mut energy = self.energy;
            for &x in now {
                let x = x as f32;
                energy += x * x;
                for k in 0..N {
                    let s = x + coef[k] * s1[k] - s2[k];
                    s2[k] = s1[k];
                    s1[k] = s;
                }
            }
            self.s1[..N].copy_from_slice(&s1);
            self.s2[..N].copy_from_slice(&s2);
            self.energy = energy;
            self.n += take;
            self.clock += take as u64;
            if self.n == BLOCK {
                self.block_done();
            }
        }
    }

    fn block_done(&mut self) {
        let nb = BLOCK as f32;
        let total = self.energy / nb;
        let mut p = [0f32; MAX_FREQS];
        for k in 0..self.nfreq {
            let (a, b) = (self.s1[k], self.s2[k]);
            p[k] = 2.0 * (a * a + b * b - self.coef[k] * a * b) / (nb * nb);
        }
        // All lanes, the unused ones included, start each block from rest.
        self.s1 = [0.0; MAX_FREQS];
        self.s2 = [0.0; MAX_FREQS];
        self.energy = 0.0;
        self.n = 0;
        // Noise floor: follows the quietest blocks down at once and drifts up 5 dB/s, so the
        // pauses of a cadence on a noisy line still count as pauses.
        if total < self.floor {
            self.floor = total;
        } else {
            self.floor *= 1.023;
        }
        let mut mask = 0u32;
        if total >= self.min_power {
            for (i, s) in self.sounds[..self.nsounds].iter().enumerate() {
                let ok = if s.n == 1 {
                    p[s.f[0] as usize] >= 0.6 * total
                } else {
                    // Every component present (a pair: each at least 15 % of the power, four:
                    // 7.5 %), together most of the power.
                    let n = s.n as usize;
                    let each = 0.3 / n as f32 * total;
                    let comps = &s.f[..n];
                    comps.iter().all(|&f| p[f as usize] >= each)
                        && comps.iter().map(|&f| p[f as usize]).sum::<f32>() >= 0.6 * total
                };
                if ok {
                    mask |= 1 << i;
                }
            }
        }
        // Quiet: no sound of the plan, and below the sensitivity or within 6 dB of the floor.
        let loud = mask != 0 || (total >= self.min_power && total >= 4.0 * self.floor);
        if loud {
            self.loud_ms += BLOCK_MS;
            self.quiet_ms = 0;
        } else {
            self.quiet_ms += BLOCK_MS;
            self.loud_ms = 0;
        }
        for t in self.trackers[..self.ntrackers].iter_mut() {
            let sym = if !loud {
                QUIET
            } else {
                t.syms[..t.nsyms]
                    .iter()
                    .position(|&m| m & mask != 0)
                    .map_or(OTHER, |k| k as u8 + 1)
            };
            t.feed(sym);
        }
        self.decide();
    }

    fn decide(&mut self) {
        if let Some(i) = self.locked {
            if self.trackers[i].consistent() {
                return;
            }
            // What was heard belonged to the tone that just ended: start afresh.
            self.locked = None;
            for t in self.trackers[..self.ntrackers].iter_mut() {
                t.hist_len = 0;
            }
        }
        for i in 0..self.ntrackers {
            if self.trackers[i].confirmed() {
                self.locked = Some(i);
                let kind = self.trackers[i].kind;
                self.report(Heard::Tone(kind));
                return;
            }
        }
        if self.quiet_ms >= SILENCE_MS {
            self.report(Heard::Silence);
        } else if self.loud_ms >= OTHER_MS {
            self.report(Heard::Other);
        }
    }

    fn report(&mut self, h: Heard) {
        if self.heard == Some(h) {
            return;
        }
        self.heard = Some(h);
        let cap = self.events.len();
        if self.ev_len == cap {
            self.ev_head = (self.ev_head + 1) % cap;
            self.ev_len -= 1;
        }
        self.events[(self.ev_head + self.ev_len) % cap] = CpEvent {
            heard: h,
            at_sample: self.clock,
        };
        self.ev_len += 1;
    }
}

fn similar(a: Sound, b: Sound) -> bool {
    let (fa, na) = a.freqs();
    let (fb, nb) = b.freqs();
    na == nb && (0..na).all(|k| (fa[k] as i32 - fb[k] as i32).abs() <= 30)
}

impl Tracker {
    fn period(&self) -> u32 {
        if self.steady {
            0
        } else {
            self.cycle.steps[..self.cycle.len].iter().map(|s| s.ms).sum()
        }
    }

    fn feed(&mut self, sym: u8) {
        let tone = |x: u8| x != QUIET && x != OTHER;
        if sym == self.run_sym {
            self.run_blocks += 1;
            self.pending = None;
            return;
        }
        // A block only partly covered by a starting tone looks like something else: it
        // belongs to the tone.
        if tone(sym) && self.run_sym == OTHER && self.run_blocks == 1 {
            self.run_sym = sym;
            self.run_blocks = 2;
            return;
        }
        // One odd block inside a tone is a transition artefact: absorb it, unless the next
        // block shows it was the start of something else.
        let glitch = sym == OTHER || (sym == QUIET && self.absorb_quiet);
        if glitch && tone(self.run_sym) && self.pending.is_none() {
            self.run_blocks += 1;
            self.pending = Some(sym);
            return;
        }
        let carried = match self.pending.take() {
            Some(p) if p == sym => 1,
            _ => 0,
        };
        let ended = self.run_blocks - carried;
        if ended > 0 {
            let step = Step {
                sym: self.run_sym,
                ms: ended * BLOCK_MS,
                mask: 0,
            };
            let idx = (self.hist_head + self.hist_len) % HIST;
            self.hist[idx] = step;
            if self.hist_len == HIST {
                self.hist_head = (self.hist_head + 1) % HIST;
            } else {
                self.hist_len += 1;
            }
        }
        self.run_sym = sym;
        self.run_blocks = 1 + carried;
    }

    fn hist_back(&self, back: usize) -> Step {
        // back = 1 is the most recent completed step.
        self.hist[(self.hist_head + self.hist_len - back) % HIST]
    }

    fn run_ms(&self) -> u32 {
        self.run_blocks * BLOCK_MS
    }

    fn close(obs: Step, exp: Step) -> bool {
        obs.sym == exp.sym && obs.ms.abs_diff(observed(exp)) <= tol(exp.ms)
    }

    /// The run in progress can still become `exp`.
    fn can_be(cur: Step, exp: Step) -> bool {
        cur.sym == exp.sym && cur.ms <= observed(exp) + tol(exp.ms)
    }

    fn confirmed(&self) -> bool {
        if self.steady {
            let s = self.cycle.steps[0].sym;
            if self.run_sym != s {
                return false;
            }
            if self.intro.len == 0 {
                return self.run_ms() >= self.steady_confirm;
            }
            // Stutter: a few intro cycles, then the steady part.
            let k = self.intro_repeat.clamp(1, 3) as usize * self.intro.len;
            if self.run_ms() < 300 || self.hist_len < k {
                return false;
            }
            return (0..k).all(|i| Self::close(self.hist_back(k - i), self.intro.get(i)));
        }
        let l = self.cycle.len;
        if l == 0 {
            return false;
        }
        let need = self.need;
        let cur = Step {
            sym: self.run_sym,
            ms: self.run_ms(),
            mask: 0,
        };
        for r in 0..l {
            // `need` completed steps, then the current one in progress.
            if self.hist_len >= need
                && Self::can_be(cur, self.cycle.get(r + need))
                && (0..need).all(|i| Self::close(self.hist_back(need - i), self.cycle.get(r + i)))
            {
                return true;
            }
            // A long pause ends the cycle (call waiting, some ringing tones): the bursts before
            // it are enough once the pause is longer than any other tone's.
            let exp_cur = self.cycle.get(r + l - 1);
            if exp_cur.sym == QUIET
                && exp_cur.ms >= 3000
                && l >= 2
                && self.hist_len >= l - 1
                && cur.sym == QUIET
                && cur.ms >= self.min_long_quiet
                && cur.ms <= observed(exp_cur) + tol(exp_cur.ms)
                && (0..l - 1).all(|i| Self::close(self.hist_back(l - 1 - i), self.cycle.get(r + i)))
            {
                return true;
            }
        }
        false
    }

    /// Whether the run in progress still fits this tone.
    fn consistent(&self) -> bool {
        let ms = self.run_ms();
        if self.steady && self.run_sym == self.cycle.steps[0].sym {
            return true;
        }
        let mut max = match self.run_sym {
            OTHER => 60,
            QUIET => 100,
            _ => 0,
        };
        for c in [&self.cycle, &self.intro] {
            for s in &c.steps[..c.len] {
                if s.sym == self.run_sym {
                    max = max.max(observed(*s) + tol(s.ms));
                }
            }
        }
        ms <= max
    }
}
