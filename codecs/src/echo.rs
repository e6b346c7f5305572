//! Line echo canceller (ITU-T G.168 style) for the analog side of the gateway.
//!
//! Which signal is which, for one analog port in the media loop:
//! - **far end** (`far_end`): the audio we play to the line (decoded RTP plus any tones we mix in).
//!   It is the canceller's reference.
//! - **near end** (`near_end`): the audio captured from the line. It holds the hybrid's echo of
//!   the far end plus whatever the local talker says.
//! - **out**: the near end with the echo removed; this is what gets encoded and sent to the network.
//!
//! The two frames handed to [`EchoCanceller::process`] must cover the same 125 µs sample instants
//! (the far-end sample written to the line at instant *n* and the near-end sample read at instant
//! *n*). Any fixed delay of the PCM path simply adds to the echo path, so it must fit in the tail.
//!
//! Design, in signal order:
//! 1. A DC-blocking high-pass filter (first order, about 60 Hz) on both paths. Applying the same
//!    linear filter to the reference and to the near end leaves the echo path unchanged, and removes
//!    the DC and hum that would otherwise dominate adaptation and leak to the network.
//! 2. A two-path adaptive FIR (Ochiai): a *background* filter adapts with an improved
//!    proportionate NLMS (IPNLMS, Benesty and Gay), which converges several times faster than NLMS
//!    on the sparse, delayed impulse responses of real hybrids; a *foreground* filter produces the
//!    output and only receives the background's coefficients when the background has been clearly
//!    better for a while. When the background is clearly worse (undetected double talk), the
//!    foreground's coefficients are copied back. The converged state therefore survives double talk.
//! 3. Adaptation runs on pre-whitened signals (fixed first-order pre-emphasis applied to both
//!    reference and near end), which flattens the spectrum of speech and speeds up convergence of
//!    the weak high-frequency modes; the foreground still filters the unwhitened reference.
//! 4. A Geigel double-talk detector with hangover freezes background adaptation while the near-end
//!    level exceeds what the echo path (ERL ≥ 6 dB by default) could produce; its threshold rises
//!    to what the echo is seen to produce once converged. A second detector compares the
//!    foreground's residual with its long-term ERLE and, when the near end is active, demands a
//!    much larger advantage before a background is trusted.
//! 5. An optional non-linear processor suppresses the small residual echo during far-end single
//!    talk and fills the gap with comfort noise matched to the measured background noise level.
//!
//! Everything is allocated in the constructor; [`EchoCanceller::process`] allocates nothing and
//! takes any frame length (the media loop uses 10 ms = 80 samples). The inner loops are written over
//! fixed-size chunks of 8 so that they compile to SIMD code (explicit SSE2 on x86_64). While the far
//! end is silent over the whole tail, the filters are skipped.

use std::fmt;

/// Samples per millisecond at 8 kHz.
const SAMPLES_PER_MS: usize = 8;
/// Shortest supported echo tail, in milliseconds.
pub const MIN_TAIL_MS: u32 = 8;
/// Longest supported echo tail, in milliseconds.
pub const MAX_TAIL_MS: u32 = 128;

/// Lanes of the inner loops; tail lengths are multiples of this.
const LANES: usize = 8;
/// Extra room in the reference history so the window slides without copying every sample.
const HISTORY_SLACK: usize = 512;
/// Samples per block of the Geigel running maximum.
const PEAK_BLOCK: usize = 16;
/// How often (samples) the proportionate gains are recomputed from the background filter.
const GAIN_PERIOD: usize = 8;
/// Length (samples) of the blocks over which the two filters are compared.
const COMPARE_BLOCK: usize = 64;

/// Fixed scale between i16 samples and the canceller's internal floating-point range (±1.0).
const SCALE: f32 = 1.0 / 32768.0;

/// Why an echo canceller could not be built or a frame could not be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoError {
    /// The tail length is outside `MIN_TAIL_MS..=MAX_TAIL_MS`.
    TailOutOfRange { tail_ms: u32 },
    /// `far_end`, `near_end` and `out` must have the same length.
    FrameLengthMismatch {
        far_end: usize,
        near_end: usize,
        out: usize,
    },
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EchoError::TailOutOfRange { tail_ms } => write!(
                f,
                "echo tail of {tail_ms} ms is outside the supported {MIN_TAIL_MS}..={MAX_TAIL_MS} ms"
            ),
            EchoError::FrameLengthMismatch {
                far_end,
                near_end,
                out,
            } => write!(
                f,
                "echo canceller frames differ in length: far end {far_end}, near end {near_end}, \
                 out {out} samples"
            ),
        }
    }
}

impl std::error::Error for EchoError {}

/// Settings of an [`EchoCanceller`]. `EchoConfig::new(tail_ms)` gives the recommended defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoConfig {
    /// Echo tail covered by the filter, 8..=128 ms (64..=1024 taps).
    pub tail_ms: u32,
    /// Non-linear processor: suppress residual echo during far-end single talk.
    pub nlp: bool,
    /// Fill suppressed stretches with comfort noise at the measured background level
    /// (otherwise they are silent). Only meaningful with `nlp`.
    pub comfort_noise: bool,
    /// DC-blocking high-pass on the send (near-end) path and the reference.
    pub high_pass: bool,
    /// Geigel threshold: double talk is declared when |near end| exceeds this fraction of the
    /// largest recent |far end|. 0.5 assumes an echo return loss of at least 6 dB (G.168).
    pub geigel_threshold: f32,
    /// How long adaptation stays frozen after the last double-talk decision.
    pub double_talk_hangover_ms: u32,
    /// Step size of the background filter, 0 < mu <= 1.
    pub step_size: f32,
}

impl EchoConfig {
    /// Recommended settings for a tail of `tail_ms` milliseconds.
    pub const fn new(tail_ms: u32) -> Self {
        EchoConfig {
            tail_ms,
            nlp: true,
            comfort_noise: true,
            high_pass: true,
            geigel_threshold: 0.5,
            double_talk_hangover_ms: 40,
            step_size: 0.5,
        }
    }
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig::new(64)
    }
}

/// A snapshot of the canceller's state, for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoStats {
    /// Smoothed echo return loss enhancement of the linear canceller over recent far-end activity, dB.
    pub erle_db: f32,
    /// Double talk currently declared (adaptation frozen).
    pub double_talk: bool,
    /// Non-linear processor currently suppressing.
    pub nlp_active: bool,
    /// Background-to-foreground coefficient transfers so far.
    pub transfers: u32,
    /// Foreground-to-background restores (background diverged) so far.
    pub restores: u32,
    /// Estimated background noise level of the near end, dBov.
    pub noise_dbov: f32,
}

/// The canceller's first-order DC blocker, y[n] = x[n] - x[n-1] + a·y[n-1] (cut-off near 60 Hz),
/// on samples scaled to ±1.0. Public so that measurements can apply the same filter to a reference.
#[derive(Debug, Clone, Copy, Default)]
pub struct DcBlocker {
    x1: f32,
    y1: f32,
}

/// Pole of the DC blocker: cut-off near 60 Hz at 8 kHz.
const DC_POLE: f32 = 0.953;

impl DcBlocker {
    /// Filters one sample.
    #[inline]
    pub fn run(&mut self, x: f32) -> f32 {
        let y = flush(x - self.x1 + DC_POLE * self.y1);
        self.x1 = x;
        self.y1 = y;
        y
    }
}

/// Pre-emphasis coefficient of the fixed pre-whitening filter 1 - a z^-1 used for adaptation.
const PREWHITEN: f32 = 0.85;
/// IPNLMS proportionality: -1 is plain NLMS, towards +1 ever more proportionate.
const IPNLMS_ALPHA: f32 = 0.5;
/// Far-end peak level (±1.0 scale) below which the tail is considered silent (-80 dBov).
const FAR_SILENT: f32 = 1e-4;
/// Regularisation of the NLMS normalisation, as a power (about -60 dBov).
const REG_POWER: f32 = 1e-6;

/// The heap buffers of a canceller, sized once at construction.
struct Buffers {
    fg: Vec<f32>,
    bg: Vec<f32>,
    gains: Vec<f32>,
    hist: Vec<f32>,
    hist_w: Vec<f32>,
    peak_blocks: Vec<f32>,
}

/// The line echo canceller for one channel.
#[derive(Debug, Clone)]
pub struct EchoCanceller {
    cfg: EchoConfig,
    taps: usize,
    /// Foreground filter (produces the output), oldest-sample tap first.
    fg: Vec<f32>,
    /// Background filter (adapts).
    bg: Vec<f32>,
    /// Proportionate step gains of the background filter.
    gains: Vec<f32>,
    /// Reference history (high-passed), and its pre-whitened version; windows slide over them.
    hist: Vec<f32>,
    hist_w: Vec<f32>,
    /// Index one past the newest sample in `hist`/`hist_w`.
    pos: usize,
    hpf_far: DcBlocker,
    hpf_near: DcBlocker,
    far_prev: f32,
    near_prev: f32,
    fg_err_prev: f32,
    /// Geigel running maximum of |far end| over the tail, in blocks.
    peak_blocks: Vec<f32>,
    peak_index: usize,
    peak_current: f32,
    peak_fill: usize,
    peak_of_blocks: f32,
    dt_hang: u32,
    dt_hang_len: u32,
    /// The far end has been below `FAR_SILENT` over the whole tail.
    far_silent: bool,
    /// Geigel threshold in use: the configured one, raised to what the echo path is seen to
    /// produce during confirmed far-end single talk.
    geigel_eff: f32,
    geigel_seen: f32,
    /// Sample counters for the periodic work.
    gain_count: usize,
    cmp_count: usize,
    cmp_fg: f32,
    cmp_bg: f32,
    cmp_near: f32,
    cmp_dt: bool,
    better_blocks: u32,
    worse_blocks: u32,
    transfers: u32,
    restores: u32,
    /// Short-term powers for NLP and statistics.
    pow_near: f32,
    pow_err: f32,
    pow_far: f32,
    noise: f32,
    erle_near: f32,
    erle_err: f32,
    /// Long-term near-end and residual powers per comparison block (whitened), over blocks
    /// without near-end activity: the foreground's ERLE.
    lt_near: f32,
    lt_err: f32,
    near_active: bool,
    nlp_gain: f32,
    nlp_active: bool,
    rng: u32,
}

impl EchoCanceller {
    /// A canceller covering `tail_ms` milliseconds with the recommended settings.
    pub fn new(tail_ms: u32) -> Result<Self, EchoError> {
        Self::with_config(EchoConfig::new(tail_ms))
    }

    /// A canceller with explicit settings.
    pub fn with_config(cfg: EchoConfig) -> Result<Self, EchoError> {
        if !(MIN_TAIL_MS..=MAX_TAIL_MS).contains(&cfg.tail_ms) {
            return Err(EchoError::TailOutOfRange { tail_ms: cfg.tail_ms });
        }
        let taps = cfg.tail_ms as usize * SAMPLES_PER_MS;
        debug_assert_eq!(taps % LANES, 0);
        let blocks = taps.div_ceil(PEAK_BLOCK);
        Ok(Self::from_buffers(
            cfg,
            Buffers {
                fg: vec![0.0; taps],
                bg: vec![0.0; taps],
                gains: vec![0.0; taps],
                hist: vec![0.0; taps + HISTORY_SLACK],
                hist_w: vec![0.0; taps + HISTORY_SLACK],
                peak_blocks: vec![0.0; blocks],
            },
        ))
    }

    /// A canceller in its initial state around zeroed buffers of the right sizes.
    fn from_buffers(cfg: EchoConfig, b: Buffers) -> Self {
        let taps = b.fg.len();
        let mut ec = EchoCanceller {
            cfg,
            taps,
            fg: b.fg,
            bg: b.bg,
            gains: b.gains,
            hist: b.hist,
            hist_w: b.hist_w,
            pos: taps,
            hpf_far: DcBlocker::default(),
            hpf_near: DcBlocker::default(),
            far_prev: 0.0,
            near_prev: 0.0,
            fg_err_prev: 0.0,
            peak_blocks: b.peak_blocks,
            peak_index: 0,
            peak_current: 0.0,
            peak_fill: 0,
            peak_of_blocks: 0.0,
            dt_hang: 0,
            far_silent: true,
            geigel_eff: cfg.geigel_threshold,
            geigel_seen: 0.0,
            dt_hang_len: cfg.double_talk_hangover_ms * SAMPLES_PER_MS as u32,
            gain_count: 0,
            cmp_count: 0,
            cmp_fg: 0.0,
            cmp_bg: 0.0,
            cmp_near: 0.0,
            cmp_dt: false,
            better_blocks: 0,
            worse_blocks: 0,
            transfers: 0,
            restores: 0,
            pow_near: 0.0,
            pow_err: 0.0,
            pow_far: 0.0,
            noise: 1e-7,
            erle_near: 0.0,
            erle_err: 0.0,
            lt_near: 0.0,
            lt_err: 0.0,
            near_active: false,
            nlp_gain: 1.0,
            nlp_active: false,
            rng: 0x1234_5678,
        };
        ec.update_gains();
        ec
    }

    /// The settings in use.
    pub fn config(&self) -> &EchoConfig {
        &self.cfg
    }

    /// Number of filter taps (tail_ms × 8).
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// Turns the non-linear processor on or off (for example off during a fax or modem call).
    pub fn set_nlp(&mut self, on: bool) {
        self.cfg.nlp = on;
    }

    /// Forgets the echo path and all history (new call on the port).
    /// Allocation-free: the buffers are kept and zeroed.
    pub fn reset(&mut self) {
        let mut b = Buffers {
            fg: std::mem::take(&mut self.fg),
            bg: std::mem::take(&mut self.bg),
            gains: std::mem::take(&mut self.gains),
            hist: std::mem::take(&mut self.hist),
            hist_w: std::mem::take(&mut self.hist_w),
            peak_blocks: std::mem::take(&mut self.peak_blocks),
        };
        for v in [
            &mut b.fg,
            &mut b.bg,
            &mut b.gains,
            &mut b.hist,
            &mut b.hist_w,
            &mut b.peak_blocks,
        ] {
            v.fill(0.0);
        }
        *self = Self::from_buffers(self.cfg, b);
    }

    /// Current state, for diagnostics.
    pub fn stats(&self) -> EchoStats {
        EchoStats {
            erle_db: 10.0 * ((self.erle_near + 1e-12) / (self.erle_err + 1e-12)).log10(),
            double_talk: self.dt_hang > 0,
            nlp_active: self.nlp_active,
            transfers: self.transfers,
            restores: self.restores,
            noise_dbov: 10.0 * (self.noise + 1e-12).log10(),
        }
    }

    /// The foreground (in-use) echo path estimate, impulse response order (delay 0 first),
    /// scaled as a linear gain.
    pub fn impulse_response(&self, out: &mut [f32]) {
        for (o, w) in out.iter_mut().zip(self.fg.iter().rev()) {
            *o = *w;
        }
    }

    /// Cancels the echo of `far_end` (what was played to the line) from `near_end` (what was
    /// captured from the line) and writes the result to `out`. All three must have the same length.
    pub fn process(&mut self, far_end: &[i16], near_end: &[i16], out: &mut [i16]) -> Result<(), EchoError> {
        if far_end.len() != near_end.len() || out.len() != near_end.len() {
            return Err(EchoError::FrameLengthMismatch {
                far_end: far_end.len(),
                near_end: near_end.len(),
                out: out.len(),
            });
        }
        for ((&f, &n), o) in far_end.iter().zip(near_end).zip(out.iter_mut()) {
            *o = self.sample(f, n);
        }
        Ok(())
    }

    /// As [`process`](Self::process), cancelling in place in `near_end`.
    pub fn process_in_place(&mut self, far_end: &[i16], near_end: &mut [i16]) -> Result<(), EchoError> {
        if far_end.len() != near_end.len() {
            return Err(EchoError::FrameLengthMismatch {
                far_end: far_end.len(),
                near_end: near_end.len(),
                out: near_end.len(),
            });
        }
        for (&f, n) in far_end.iter().zip(near_end.iter_mut()) {
            *n = self.sample(f, *n);
        }
        Ok(())
    }

    /// One sample through the whole canceller.
    #[inline]
    fn sample(&mut self, far: i16, near: i16) -> i16 {
        let (x, d) = if self.cfg.high_pass {
            (
                self.hpf_far.run(far as f32 * SCALE),
                self.hpf_near.run(near as f32 * SCALE),
            )
        } else {
            (far as f32 * SCALE, near as f32 * SCALE)
        };
        let xw = flush(x - PREWHITEN * self.far_prev);
        let dw = flush(d - PREWHITEN * self.near_prev);
        self.far_prev = x;
        self.near_prev = d;
        self.push_reference(x, xw);
        let double_talk = self.geigel(x, d);

        let start = self.pos - self.taps;
        let win = &self.hist[start..self.pos];
        let win_w = &self.hist_w[start..self.pos];
        // A far end silent over the whole tail (below -80 dBov) leaves no echo to estimate:
        // an idle channel then costs almost nothing.
        let (y_fg, y_bg_w) = if self.far_silent {
            (0.0, (0.0, 0.0))
        } else {
            (dot(&self.fg, win), dot_and_norm(&self.bg, &self.gains, win_w))
        };
        // IPNLMS normalisation x'Gx. Its expectation |x|²/L (kept as a running sum) is not a
        // safe substitute: with gains concentrated on a few taps the instantaneous x'Gx can
        // exceed it many times over and the update would diverge.
        let (y_bg_w, norm) = y_bg_w;

        let e_fg = d - y_fg;
        let e_bg_w = dw - y_bg_w;
        let e_fg_w = flush(e_fg - PREWHITEN * self.fg_err_prev);
        self.fg_err_prev = e_fg;

        // Until the first convergence there is nothing to protect yet, and on short, loud echo
        // paths the Geigel test fires on the echo itself: adapt slowly instead of not at all.
        let step = if self.far_silent {
            0.0
        } else if !double_talk {
            self.cfg.step_size
        } else if !self.converged() {
            0.25 * self.cfg.step_size
        } else {
            0.0
        };
        if step > 0.0 {
            let c = step * e_bg_w / (norm + REG_POWER);
            adapt(&mut self.bg, &self.gains, win_w, c);
        }

        self.gain_count += 1;
        if self.gain_count >= GAIN_PERIOD && step > 0.0 {
            self.gain_count = 0;
            self.update_gains();
        }
        self.compare(e_fg_w, e_bg_w, dw, double_talk);
        self.levels(x, d, e_fg);

        let y = if self.cfg.nlp { self.nlp(e_fg) } else { e_fg };
        to_i16(y)
    }

    /// Appends one reference sample to both histories, sliding the window buffer when full.
    #[inline]
    fn push_reference(&mut self, x: f32, xw: f32) {
        if self.pos == self.hist.len() {
            let keep = self.taps - 1;
            let from = self.pos - keep;
            self.hist.copy_within(from..self.pos, 0);
            self.hist_w.copy_within(from..self.pos, 0);
            self.pos = keep;
        }
        self.hist[self.pos] = x;
        self.hist_w[self.pos] = xw;
        self.pos += 1;
    }

    /// Geigel detector with hangover: returns whether adaptation must be frozen.
    #[inline]
    fn geigel(&mut self, x: f32, d: f32) -> bool {
        let ax = x.abs();
        if ax > self.peak_current {
            self.peak_current = ax;
        }
        self.peak_fill += 1;
        if self.peak_fill == PEAK_BLOCK {
            self.peak_blocks[self.peak_index] = self.peak_current;
            self.peak_index = (self.peak_index + 1) % self.peak_blocks.len();
            self.peak_of_blocks = self.peak_blocks.iter().fold(0.0f32, |m, &v| m.max(v));
            self.peak_current = 0.0;
            self.peak_fill = 0;
        }
        let peak = self.peak_of_blocks.max(self.peak_current);
        // While the foreground explains the near end as echo (residual 12 dB under it), the
        // near-end peaks are echo: learn how large they get relative to the far-end peak.
        if peak > 1e-3 && self.pow_err * 16.0 < self.pow_near && self.converged() {
            let r = d.abs() / peak;
            if r > self.geigel_seen {
                self.geigel_seen = r;
            }
        }
        if d.abs() > self.geigel_eff * peak {
            self.dt_hang = self.dt_hang_len;
        } else if self.dt_hang > 0 {
            self.dt_hang -= 1;
        }
        // No far-end signal at all: nothing to learn from either.
        self.far_silent = peak < FAR_SILENT;
        self.dt_hang > 0 || self.far_silent
    }

    /// Whether the foreground cancels well enough (long-term ERLE above 12 dB) for its residual
    /// to be trusted as a near-end activity detector.
    #[inline]
    fn converged(&self) -> bool {
        self.lt_err * 16.0 < self.lt_near
    }

    /// IPNLMS gains from the background coefficients: a uniform part plus a part proportional
    /// to each tap's magnitude, summing to one.
    fn update_gains(&mut self) {
        let l1 = abs_sum(&self.bg);
        let n = self.taps as f32;
        let uniform = (1.0 - IPNLMS_ALPHA) / (2.0 * n);
        let prop = (1.0 + IPNLMS_ALPHA) / (2.0 * l1 + 1e-6);
        if l1 < 1e-6 {
            let g = 1.0 / n;
            self.gains.iter_mut().for_each(|v| *v = g);
            return;
        }
        for (g, w) in self.gains.iter_mut().zip(&self.bg) {
            *g = uniform + prop * w.abs();
        }
    }

    /// Two-path control: move a clearly better background into the foreground, and restore the
    /// background from the foreground when it has clearly diverged.
    #[inline]
    fn compare(&mut self, e_fg_w: f32, e_bg_w: f32, dw: f32, double_talk: bool) {
        self.cmp_fg += e_fg_w * e_fg_w;
        self.cmp_bg += e_bg_w * e_bg_w;
        self.cmp_near += dw * dw;
        self.cmp_dt |= double_talk;
        self.cmp_count += 1;
        if self.cmp_count < COMPARE_BLOCK {
            return;
        }
        let (ef, eb, ed, dt) = (self.cmp_fg, self.cmp_bg, self.cmp_near, self.cmp_dt);
        // Relax the Geigel threshold towards what the echo path produces (with 1.5x margin),
        // forgetting slowly so that a changed path is followed.
        self.geigel_seen *= 0.999;
        self.geigel_eff = self.cfg.geigel_threshold.max(1.5 * self.geigel_seen).min(4.0);
        self.cmp_count = 0;
        self.cmp_fg = 0.0;
        self.cmp_bg = 0.0;
        self.cmp_near = 0.0;
        self.cmp_dt = false;
        // Blocks with almost no signal say nothing about either filter.
        let floor = COMPARE_BLOCK as f32 * 1e-7;
        if ed < floor {
            return;
        }
        // Near-end activity seen by a converged foreground: its residual is far above what its
        // long-term ERLE predicts. Then both filters' errors are dominated by the talker, and a
        // background can only be trusted if it is much better.
        let near_active = self.converged() && ef * self.lt_near > 8.0 * ed * self.lt_err;
        self.near_active = near_active;
        if !near_active {
            // Follow improvements quickly, degradations slowly: quiet stretches of a near-end
            // talker that slip past the test above must not talk the estimate down.
            let rate = if ef * self.lt_near < ed * self.lt_err || !self.converged() {
                0.05
            } else {
                0.005
            };
            self.lt_near += rate * (ed - self.lt_near);
            self.lt_err += rate * (ef - self.lt_err);
        }
        let margin = if near_active { 0.25 } else { 0.7 };
        // Before the first convergence the Geigel test may fire on the echo itself (loud, short
        // paths); a background that is already far better is then taken anyway.
        let dt_blocks = dt && (self.converged() || eb > 0.25 * ef);
        if !dt_blocks && eb < margin * ef && eb < 0.5 * ed {
            self.worse_blocks = 0;
            self.better_blocks += 1;
            if self.better_blocks >= 2 {
                self.fg.copy_from_slice(&self.bg);
                self.transfers += 1;
                self.better_blocks = 0;
            }
        } else if eb > 2.0 * ef && ef < 0.5 * ed {
            self.better_blocks = 0;
            self.worse_blocks += 1;
            if self.worse_blocks >= 2 {
                self.bg.copy_from_slice(&self.fg);
                self.update_gains();
                self.restores += 1;
                self.worse_blocks = 0;
            }
        } else {
            self.better_blocks = 0;
            self.worse_blocks = 0;
        }
    }

    /// Short-term levels for the NLP and the statistics.
    #[inline]
    fn levels(&mut self, x: f32, d: f32, e: f32) {
        const FAST: f32 = 1.0 / 64.0;
        self.pow_far = flush(self.pow_far + FAST * (x * x - self.pow_far));
        self.pow_near = flush(self.pow_near + FAST * (d * d - self.pow_near));
        self.pow_err = flush(self.pow_err + FAST * (e * e - self.pow_err));
        // Background noise: follow drops quickly, rise slowly (about 3 dB/s).
        if self.pow_err < self.noise {
            self.noise += 0.01 * (self.pow_err - self.noise);
        } else {
            self.noise *= 1.0001;
        }
        self.noise = self.noise.max(1e-10);
        // ERLE of the linear part, over far-end single talk only.
        if self.pow_far > 1e-5 && !self.near_active {
            const SLOW: f32 = 1.0 / 4000.0;
            self.erle_near += SLOW * (d * d - self.erle_near);
            self.erle_err += SLOW * (e * e - self.erle_err);
        }
    }

    /// Non-linear processor: fades to comfort noise while only residual echo is left.
    #[inline]
    fn nlp(&mut self, e: f32) -> f32 {
        let far_active = self.peak_of_blocks.max(self.peak_current) > 3e-3;
        let residual_small = self.pow_err < 0.1 * self.pow_near;
        let quiet = self.pow_err < 4.0 * self.noise;
        // During double talk the residual carries the near-end talker and is not small, so the
        // level test alone keeps the NLP open; the Geigel decision is not needed here.
        self.nlp_active = far_active && (residual_small || quiet);
        let target = if self.nlp_active { 0.0 } else { 1.0 };
        // Open fast (2 ms) so near-end onsets are not clipped; close over about 5 ms.
        let rate = if target > self.nlp_gain {
            1.0 / 16.0
        } else {
            1.0 / 40.0
        };
        self.nlp_gain = flush(self.nlp_gain + rate * (target - self.nlp_gain));
        let noise = if self.cfg.comfort_noise {
            self.comfort_noise()
        } else {
            0.0
        };
        self.nlp_gain * e + (1.0 - self.nlp_gain) * noise
    }

    /// White comfort noise at the tracked background level.
    #[inline]
    fn comfort_noise(&mut self) -> f32 {
        // xorshift32
        let mut r = self.rng;
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        self.rng = r;
        let u = (r as f32 / u32::MAX as f32) * 2.0 - 1.0;
        // Uniform on [-1, 1] has variance 1/3.
        u * (3.0 * self.noise).sqrt()
    }
}

/// Zero below -300 dBov: decaying recursions must not reach subnormal numbers, which are many
/// times slower on most FPUs (and would then fill the whole filter window during silence).
#[inline]
fn flush(v: f32) -> f32 {
    if v.abs() < 1e-15 { 0.0 } else { v }
}

#[inline]
fn to_i16(v: f32) -> i16 {
    // Round half away from zero by hand: `f32::round` is a library call without SSE4.1.
    let s = v * 32768.0;
    ((s + 0.5f32.copysign(s)) as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// Σ a·b over whole chunks of `LANES`.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        simd::dot(a, b)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (a, _) = a.as_chunks::<LANES>();
        let (b, _) = b.as_chunks::<LANES>();
        let mut acc = [0.0f32; LANES];
        for (a, b) in a.iter().zip(b) {
            for i in 0..LANES {
                acc[i] += a[i] * b[i];
            }
        }
        lane_sum(&acc)
    }
}

/// (Σ w·xw, Σ g·xw²) over whole chunks of `LANES`, in one pass.
#[inline]
fn dot_and_norm(w: &[f32], g: &[f32], xw: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    {
        simd::dot_and_norm(w, g, xw)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (w, _) = w.as_chunks::<LANES>();
        let (g, _) = g.as_chunks::<LANES>();
        let (xw, _) = xw.as_chunks::<LANES>();
        let mut a = [0.0f32; LANES];
        let mut b = [0.0f32; LANES];
        for ((w, g), xw) in w.iter().zip(g).zip(xw) {
            for i in 0..LANES {
                a[i] += w[i] * xw[i];
                b[i] += g[i] * (xw[i] * xw[i]);
            }
        }
        (lane_sum(&a), lane_sum(&b))
    }
}

/// SSE2 (baseline on x86_64) versions of the reductions. Without them, LLVM keeps ordered float
/// sums scalar below opt-level 3; at opt-level 3 the portable code vectorises on every target.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::LANES;
    use core::arch::x86_64::{__m128, _mm_add_ps, _mm_loadu_ps, _mm_mul_ps, _mm_setzero_ps, _mm_storeu_ps};

    #[inline]
    fn load(v: &[f32; LANES], half: usize) -> __m128 {
        // SAFETY: `v` holds 8 floats, so 4 starting at 0 or 4 are in bounds; unaligned load.
        unsafe { _mm_loadu_ps(v.as_ptr().add(4 * half)) }
    }

    #[inline]
    fn sum(a: __m128, b: __m128) -> f32 {
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` holds 4 floats; SSE2 is part of the x86_64 baseline.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), _mm_add_ps(a, b)) };
        (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
    }

    #[inline]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        let (a, _) = a.as_chunks::<LANES>();
        let (b, _) = b.as_chunks::<LANES>();
        // SAFETY (all intrinsics below): SSE2 is part of the x86_64 baseline.
        let (mut s0, mut s1) = unsafe { (_mm_setzero_ps(), _mm_setzero_ps()) };
        for (a, b) in a.iter().zip(b) {
            unsafe {
                s0 = _mm_add_ps(s0, _mm_mul_ps(load(a, 0), load(b, 0)));
                s1 = _mm_add_ps(s1, _mm_mul_ps(load(a, 1), load(b, 1)));
            }
        }
        sum(s0, s1)
    }

    #[inline]
    pub(super) fn dot_and_norm(w: &[f32], g: &[f32], xw: &[f32]) -> (f32, f32) {
        let (w, _) = w.as_chunks::<LANES>();
        let (g, _) = g.as_chunks::<LANES>();
        let (xw, _) = xw.as_chunks::<LANES>();
        // SAFETY (all intrinsics below): SSE2 is part of the x86_64 baseline.
        let (mut a0, mut a1, mut b0, mut b1) = unsafe {
            (
                _mm_setzero_ps(),
                _mm_setzero_ps(),
                _mm_setzero_ps(),
                _mm_setzero_ps(),
            )
        };
        for ((w, g), xw) in w.iter().zip(g).zip(xw) {
            unsafe {
                let (x0, x1) = (load(xw, 0), load(xw, 1));
                a0 = _mm_add_ps(a0, _mm_mul_ps(load(w, 0), x0));
                a1 = _mm_add_ps(a1, _mm_mul_ps(load(w, 1), x1));
                b0 = _mm_add_ps(b0, _mm_mul_ps(load(g, 0), _mm_mul_ps(x0, x0)));
                b1 = _mm_add_ps(b1, _mm_mul_ps(load(g, 1), _mm_mul_ps(x1, x1)));
            }
        }
        (sum(a0, a1), sum(b0, b1))
    }
}

/// w += c · g · xw
#[inline]
fn adapt(w: &mut [f32], g: &[f32], xw: &[f32], c: f32) {
    let (w, _) = w.as_chunks_mut::<LANES>();
    let (g, _) = g.as_chunks::<LANES>();
    let (xw, _) = xw.as_chunks::<LANES>();
    let n = w.len().min(g.len()).min(xw.len());
    for k in 0..n {
        let (w, g, xw) = (&mut w[k], &g[k], &xw[k]);
        for i in 0..LANES {
            w[i] += c * g[i] * xw[i];
        }
    }
}

#[inline]
fn abs_sum(w: &[f32]) -> f32 {
    let (w, _) = w.as_chunks::<LANES>();
    let mut a = [0.0f32; LANES];
    for w in w {
        for i in 0..LANES {
            a[i] += w[i].abs();
        }
    }
    lane_sum(&a)
}

#[inline]
fn lane_sum(a: &[f32; LANES]) -> f32 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_tail_and_mismatched_frames() {
        assert_eq!(
            EchoCanceller::new(4).err(),
            Some(EchoError::TailOutOfRange { tail_ms: 4 })
        );
        assert!(EchoCanceller::new(8).is_ok());
        assert!(EchoCanceller::new(128).is_ok());
        let mut ec = EchoCanceller::new(16).unwrap_or_else(|e| panic!("{e}"));
        let mut out = [0i16; 80];
        let err = ec.process(&[0; 80], &[0; 40], &mut out);
        assert!(matches!(err, Err(EchoError::FrameLengthMismatch { .. })));
    }

    #[test]
    fn output_rounds_and_saturates() {
        assert_eq!(to_i16(0.4 / 32768.0), 0);
        assert_eq!(to_i16(0.5 / 32768.0), 1);
        assert_eq!(to_i16(-0.5 / 32768.0), -1);
        assert_eq!(to_i16(-1000.6 / 32768.0), -1001);
        assert_eq!(to_i16(2.0), i16::MAX);
        assert_eq!(to_i16(-2.0), i16::MIN);
    }

    /// A named far-end test signal: sample index to sample.
    type TestSignal = (&'static str, fn(usize) -> i16);

    #[test]
    fn stays_stable_on_tones_pulses_and_clipping() {
        let signals: [TestSignal; 4] = [
            ("1 kHz tone", |i| {
                (12000.0 * (i as f32 * std::f32::consts::PI / 4.0).sin()) as i16
            }),
            ("pulse train", |i| if i % 80 == 0 { 30000 } else { 0 }),
            ("periodic noise", |i| (((i % 80) * 7919) % 2000) as i16 - 1000),
            ("clipped square", |i| {
                if (i / 20) % 2 == 0 { i16::MAX } else { i16::MIN }
            }),
        ];
        for (name, signal) in signals {
            let mut ec = EchoCanceller::new(32).unwrap_or_else(|e| panic!("{e}"));
            let (mut far, mut near, mut out) = ([0i16; 80], [0i16; 80], [0i16; 80]);
            let (mut pin, mut pout) = (0f64, 0f64);
            let mut line = [0i16; 24];
            for frame in 0..500 {
                for (k, (f, n)) in far.iter_mut().zip(near.iter_mut()).enumerate() {
                    *f = signal(frame * 80 + k);
                    // 3 ms pure delay, 10 dB ERL.
                    let slot = (frame * 80 + k) % line.len();
                    *n = line[slot] / 3;
                    line[slot] = *f;
                }
                ec.process(&far, &near, &mut out)
                    .unwrap_or_else(|e| panic!("{e}"));
                if frame >= 400 {
                    pin += near.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
                    pout += out.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
                }
            }
            let mut h = [0f32; 256];
            ec.impulse_response(&mut h);
            assert!(h.iter().all(|v| v.is_finite()), "{name}: coefficients not finite");
            assert!(
                pout <= pin * 1.01 + 1.0,
                "{name}: output louder than the echo ({pout:e} > {pin:e})"
            );
        }
    }

    #[test]
    fn reset_forgets_the_echo_path() {
        let mut ec = EchoCanceller::new(8).unwrap_or_else(|e| panic!("{e}"));
        let far: Vec<i16> = (0..80).map(|i| ((i * 7919) % 2000) as i16 - 1000).collect();
        let near: Vec<i16> = far.iter().map(|v| v / 3).collect();
        let mut out = [0i16; 80];
        for _ in 0..50 {
            ec.process(&far, &near, &mut out)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut h = [0f32; 64];
        ec.impulse_response(&mut h);
        assert!(h.iter().any(|&v| v != 0.0));
        ec.reset();
        ec.impulse_response(&mut h);
        assert!(h.iter().all(|&v| v == 0.0));
        assert_eq!(ec.taps(), 64);
    }

    #[test]
    fn cancels_a_pure_delay_echo_of_noise() {
        let mut ec = EchoCanceller::with_config(EchoConfig {
            nlp: false,
            ..EchoConfig::new(16)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut rng = 1u32;
        let mut far = [0i16; 80];
        let mut line: Vec<i16> = vec![0; 40];
        let mut out = [0i16; 80];
        let (mut pin, mut pout) = (0f64, 0f64);
        for frame in 0..400 {
            for f in far.iter_mut() {
                rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *f = ((rng >> 16) as i16) / 4;
            }
            line.extend_from_slice(&far);
            let near: Vec<i16> = line.drain(..80).map(|v| v / 4).collect();
            ec.process(&far, &near, &mut out)
                .unwrap_or_else(|e| panic!("{e}"));
            if frame >= 300 {
                pin += near.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
                pout += out.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
            }
        }
        let erle = 10.0 * (pin / pout.max(1.0)).log10();
        assert!(erle > 30.0, "ERLE {erle:.1} dB");
    }
}
