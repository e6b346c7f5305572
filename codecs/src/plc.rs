//! Packet loss concealment for the receive path (network → line).
//!
//! Two concealers:
//! - [`Concealer`]: works on decoded PCM, so it serves G.711 and any other codec. It follows
//!   ITU-T G.711 Appendix I: on the first lost frame it finds the pitch period of the recent
//!   history by normalised cross-correlation (40..=120 samples, 66..200 Hz), then plays the last
//!   pitch period cyclically, widening the repeated stretch to two periods after 20 ms and three
//!   after 40 ms of loss so long gaps do not buzz; every loop seam is cross-faded over a quarter
//!   period. The output fades by 14.4 % per 10 ms from the first lost sample, reaching silence
//!   after 70 ms (Appendix I: full level for 10 ms, then 20 % per 10 ms; the faster start and
//!   gentler slope score better by PESQ on 10 and 20 ms frames). The first good frame after a
//!   loss is cross-faded with the continued synthetic signal over a quarter period plus 4 ms for
//!   every further 10 ms lost (at most 10 ms).
//!   Unlike Appendix I it adds no delay: the seam into the first synthetic period is where the
//!   signal was already one period back, so nothing already played has to be changed.
//! - [`GsmPlcDecoder`]: a GSM 06.10 decoder that conceals in the parameter domain, as GSM 06.11
//!   describes: a lost frame is replaced by the last good frame's parameters, decoded through the
//!   normal decoder so its filter and long-term predictor states stay continuous, with the RPE
//!   block amplitude lowered by 6 dB per lost frame (muted after 320 ms) and, from the second
//!   lost frame on, the pulse grid varied to avoid a metallic buzz. [`GsmConcealment::Waveform`]
//!   instead runs the decoded PCM through a [`Concealer`].
//!
//! Both keep all state inline: no allocation, any frame length (10 and 20 ms in practice).

use crate::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmDecoder, GsmError, GsmParams};

/// Shortest pitch period searched (200 Hz).
const PITCH_MIN: usize = 40;
/// Longest pitch period searched (66.7 Hz).
const PITCH_MAX: usize = 120;
/// Correlation window of the pitch search (20 ms, as Appendix I).
const CORR_LEN: usize = 160;
/// History kept: three longest periods plus the longest cross-fade, or the correlation span.
const HIST_LEN: usize = 3 * PITCH_MAX + PITCH_MAX / 4;
/// Fade per lost sample: 14.4 % per 10 ms, silent after 70 ms. Fading from the first lost
/// sample scores better (PESQ, tests/plc.rs) than Appendix I's 10 ms at full level.
const FADE_PER_SAMPLE: f32 = 0.0018;
/// Lost samples after which the repeated stretch widens to two pitch periods (and to three
/// after twice as many).
const WIDEN_AFTER: u32 = 160;

const _: () = assert!(HIST_LEN >= CORR_LEN + PITCH_MAX);

/// PCM-domain packet loss concealer (G.711 Appendix I style), one per receive channel.
#[derive(Debug, Clone)]
pub struct Concealer {
    /// Recent output, oldest first; `hist[HIST_LEN - 1]` is the newest sample.
    hist: [i16; HIST_LEN],
    /// Snapshot of `hist` taken when the loss started: the material that is repeated.
    src: [i16; HIST_LEN],
    pitch: usize,
    /// Periods in the repeated stretch (1, 2, 3), and after the next wrap.
    periods: usize,
    next: usize,
    /// Read position in `src` of the next synthetic sample.
    read: usize,
    /// Samples lost in the current (or last) loss.
    lost: u32,
    /// Remaining samples of the cross-fade into received audio, and its length.
    ola_left: u32,
    ola_len: u32,
}

impl Default for Concealer {
    fn default() -> Self {
        Self::new()
    }
}

impl Concealer {
    /// A concealer with empty (silent) history.
    pub const fn new() -> Self {
        Concealer {
            hist: [0; HIST_LEN],
            src: [0; HIST_LEN],
            pitch: PITCH_MAX,
            periods: 1,
            next: 1,
            read: 0,
            lost: 0,
            ola_left: 0,
            ola_len: 0,
        }
    }

    /// Forgets all history (new call).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Whether the last frame was concealed (a loss is in progress).
    pub fn in_loss(&self) -> bool {
        self.lost > 0 && self.ola_len == 0
    }

    /// The pitch period (samples) used for the current or last loss.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// A frame was received: records it, and right after a loss cross-fades its beginning with
    /// the synthetic continuation, in place.
    pub fn good_frame(&mut self, frame: &mut [i16]) {
        if self.lost > 0 && self.ola_len == 0 {
            // Appendix I: a quarter period, plus 4 ms per 10 ms lost beyond the first 10 ms.
            let extra = (self.lost.saturating_sub(1) / 80) * 32;
            self.ola_len = ((self.pitch as u32 / 4) + extra).min(80);
            self.ola_left = self.ola_len;
        }
        for s in frame.iter_mut() {
            if self.ola_left > 0 {
                let syn = self.synth_sample() as f32;
                let w = self.ola_left as f32 / (self.ola_len + 1) as f32;
                *s = round_i16(w * syn + (1.0 - w) * *s as f32);
                self.ola_left -= 1;
                if self.ola_left == 0 {
                    self.lost = 0;
                    self.ola_len = 0;
                }
            }
        }
        self.push(frame);
    }

    /// A frame was lost: fills `out` with the concealment.
    pub fn lost_frame(&mut self, out: &mut [i16]) {
        if self.lost == 0 || self.ola_len > 0 {
            self.start_loss();
        }
        for s in out.iter_mut() {
            *s = self.synth_sample();
        }
        self.push(out);
    }

    /// A frame was lost but the audio that follows it (`next`, already decoded, played right
    /// after `out`) is known: fills `out` by interpolating between the history and `next`.
    ///
    /// The history's last pitch period is extended forwards and `next`'s first pitch period
    /// backwards; each extension is time-warped by at most half a period so that it lands in
    /// phase on the far side of the gap, and the two are cross-faded linearly across the gap.
    /// Both ends therefore join the real signal without a seam, and a wrong pitch estimate
    /// costs a slight pitch glide instead of a click. The middle of the gap is lowered by at
    /// most 3 dB, where the estimate is least certain. With less than 19 ms of `next` the
    /// backward extension uses the forward pitch; with too little of it for one period (10 ms
    /// packets and a low voice), this is [`Self::lost_frame`].
    pub fn lost_frame_before(&mut self, out: &mut [i16], next: &[i16]) {
        let pf = find_pitch(&self.hist);
        let pb = if next.len() >= PITCH_MAX + 32 {
            pitch_ahead(next, pf)
        } else {
            pf
        };
        // The backward period and its seam must lie within `next`.
        if next.len() < pb + pb / 4 || out.is_empty() {
            self.lost_frame(out);
            return;
        }
        let n = out.len();
        let fwd = Periodic::new(|k| self.hist[HIST_LEN - 1 - k], pf);
        let bwd = Periodic::new(|k| next[k], pb);
        // Phase offsets: where `next` (and, backwards, the history) fits the extensions best.
        let lf = pf.min(80).min(next.len());
        let df = fwd.align(n, |k| next[k] as f32, lf);
        let lb = pb.min(80);
        let db = bwd.align(n, |k| self.hist[HIST_LEN - 1 - k] as f32, lb);
        let scale_f = (n as f32 + df as f32) / n as f32;
        let scale_b = (n as f32 + db as f32) / n as f32;
        let inv_n = 1.0 / n as f32;
        for (t, o) in out.iter_mut().enumerate() {
            let f = fwd.at(t as f32 * scale_f);
            let b = bwd.at((n - 1 - t) as f32 * scale_b);
            let x = (t as f32 + 0.5) * inv_n;
            let w = 1.0 - x;
            let dip = 1.0 - MID_DIP * (core::f32::consts::PI * x).sin();
            *o = round_i16((w * f + (1.0 - w) * b) * dip);
        }
        self.pitch = pf;
        // The gap ends on `next`: nothing is pending for the following good frame.
        self.lost = 0;
        self.ola_left = 0;
        self.ola_len = 0;
        self.push(out);
    }

    /// Begins a loss: pitch search and snapshot of the history.
    fn start_loss(&mut self) {
        self.pitch = find_pitch(&self.hist);
        self.src = self.hist;
        self.periods = 1;
        self.next = 1;
        self.read = HIST_LEN - self.pitch;
        self.lost = 0;
        self.ola_left = 0;
        self.ola_len = 0;
    }

    /// Next synthetic sample: cyclic repetition of the last `periods` pitch periods, seams
    /// cross-faded, faded out after the first 10 ms.
    fn synth_sample(&mut self) -> i16 {
        let p = self.pitch;
        let ov = (p / 4).max(1);
        // Within the last `ov` samples before the wrap, blend towards the samples that precede
        // the wrap target, so that the wrap lands on continuous signal.
        let to_end = HIST_LEN - self.read;
        let mut v = self.src[self.read] as f32;
        if to_end == ov {
            self.next = self.next_periods();
        }
        if to_end <= ov {
            let target = HIST_LEN - self.next * p;
            let lead = self.src[target - to_end] as f32;
            let w = to_end as f32 / (ov + 1) as f32;
            v = w * v + (1.0 - w) * lead;
        }
        self.read += 1;
        if self.read == HIST_LEN {
            self.periods = self.next;
            self.read = HIST_LEN - self.periods * p;
        }
        let gain = (1.0 - self.lost as f32 * FADE_PER_SAMPLE).max(0.0);
        self.lost = self.lost.saturating_add(1);
        round_i16(v * gain)
    }

    /// Periods to repeat after the next wrap: 1 for the first 20 ms, 2 until 40 ms, then 3.
    fn next_periods(&self) -> usize {
        let want = if self.lost < WIDEN_AFTER {
            1
        } else if self.lost < 2 * WIDEN_AFTER {
            2
        } else {
            3
        };
        // The target must leave room for the seam's lead-in samples.
        want.max(self.periods).min(3)
    }

    /// Appends played samples to the history.
    fn push(&mut self, frame: &[i16]) {
        if frame.len() >= HIST_LEN {
            self.hist.copy_from_slice(&frame[frame.len() - HIST_LEN..]);
        } else {
            self.hist.copy_within(frame.len().., 0);
            self.hist[HIST_LEN - frame.len()..].copy_from_slice(frame);
        }
    }
}

/// Pitch period (samples) of the end of `hist` by normalised cross-correlation: a coarse search
/// on the 2:1 decimated history over even lags, then a full-rate search around the winner
/// (as Appendix I does, at a quarter of the cost of a full search).
fn find_pitch(hist: &[i16; HIST_LEN]) -> usize {
    let mut dec = [0i16; HIST_LEN / 2];
    for (d, pair) in dec.iter_mut().zip(hist.as_chunks::<2>().0) {
        // Mean of two samples: a crude anti-alias filter, enough for a pitch estimate.
        *d = ((pair[0] as i32 + pair[1] as i32) >> 1) as i16;
    }
    let coarse = best_lag(&dec, CORR_LEN / 2, PITCH_MIN / 2, PITCH_MAX / 2);
    let lo = (2 * coarse).saturating_sub(1).max(PITCH_MIN);
    let hi = (2 * coarse + 1).min(PITCH_MAX);
    best_lag(hist, CORR_LEN, lo, hi)
}

/// The lag in `lo..=hi` maximising the normalised correlation of the last `len` samples of `x`
/// with the `len` samples `lag` earlier (`hi` if the signal is silent).
fn best_lag(x: &[i16], len: usize, lo: usize, hi: usize) -> usize {
    let n = x.len();
    let tail = &x[n - len..];
    if tail.iter().all(|&v| v == 0) {
        return hi;
    }
    let mut best = hi;
    let mut best_score = f64::MIN;
    for lag in lo..=hi {
        let past = &x[n - len - lag..n - lag];
        let yy = dot(past, past) as f64;
        let xy = dot(tail, past) as f64;
        let score = if yy > 0.0 { xy / yy.sqrt() } else { 0.0 };
        if score > best_score {
            best_score = score;
            best = lag;
        }
    }
    best
}

/// Integer dot product of two equally long sample windows (exact; vectorises).
#[inline]
fn dot(a: &[i16], b: &[i16]) -> i64 {
    let mut acc = [0i64; 8];
    let (ac, ar) = a.as_chunks::<8>();
    let (bc, br) = b.as_chunks::<8>();
    for (x, y) in ac.iter().zip(bc) {
        for i in 0..8 {
            acc[i] += (x[i] as i32 * y[i] as i32) as i64;
        }
    }
    let tail: i64 = ar.iter().zip(br).map(|(&x, &y)| x as i64 * y as i64).sum();
    acc.iter().sum::<i64>() + tail
}

/// Greatest attenuation in the middle of an interpolated gap (0.3: -3.1 dB).
const MID_DIP: f32 = 0.3;

/// Pitch period (samples) at the start of `x` (audio that follows a gap): the lag whose
/// normalised correlation of `x[..w]` with `x[lag..lag + w]` is highest, `w` = 10 ms or what
/// fits; `fallback` when nothing correlates.
fn pitch_ahead(x: &[i16], fallback: usize) -> usize {
    let mut best = fallback;
    let mut best_score = 0.0f64;
    for lag in PITCH_MIN..=PITCH_MAX {
        let w = (x.len().saturating_sub(lag)).min(80);
        if w < 32 {
            break;
        }
        let a = &x[..w];
        let b = &x[lag..lag + w];
        let aa = dot(a, a) as f64;
        let bb = dot(b, b) as f64;
        if aa <= 0.0 || bb <= 0.0 {
            continue;
        }
        let score = dot(a, b) as f64 / (aa * bb).sqrt();
        if score > best_score {
            best_score = score;
            best = lag;
        }
    }
    best
}

/// One pitch period taken next to a gap, repeated into the gap: `at(u)` is the sample `u`
/// steps into the gap (fractional `u` interpolates linearly). The period is read from
/// `edge(k)`, the known sample `k + 1` steps away from the gap, and its wrap is cross-faded
/// over a quarter period with the samples that precede it, so the repetition has no seam.
struct Periodic {
    period: [f32; PITCH_MAX],
    p: usize,
}

impl Periodic {
    fn new(edge: impl Fn(usize) -> i16, p: usize) -> Self {
        let p = p.clamp(1, PITCH_MAX);
        let mut period = [0f32; PITCH_MAX];
        for (r, v) in period[..p].iter_mut().enumerate() {
            *v = edge(p - 1 - r) as f32;
        }
        let ov = (p / 4).max(1);
        for k in 0..ov {
            let w = (k + 1) as f32 / (ov + 1) as f32;
            let lead = edge(p + ov - 1 - k) as f32;
            let v = &mut period[p - ov + k];
            *v = (1.0 - w) * *v + w * lead;
        }
        Periodic { period, p }
    }

    fn at(&self, u: f32) -> f32 {
        let i = u as usize;
        let frac = u - i as f32;
        let a = self.period[i % self.p];
        let b = self.period[(i + 1) % self.p];
        a + frac * (b - a)
    }

    /// Offset `d` in `-p/2..p/2` at which the extension, continued `n + d` samples, best matches
    /// the `len` samples `far(k)` on the other side of the gap.
    fn align(&self, n: usize, far: impl Fn(usize) -> f32, len: usize) -> i32 {
        let half = (self.p / 2) as i32;
        let mut best = 0;
        let mut best_score = f32::MIN;
        let ff: f32 = (0..len).map(|k| far(k) * far(k)).sum();
        if ff <= 0.0 {
            return 0;
        }
        for d in -half..(self.p as i32 - half) {
            let start = (n as i32 + d) as usize;
            let (mut xy, mut yy) = (0.0f32, 0.0f32);
            for k in 0..len {
                let y = self.period[(start + k) % self.p];
                xy += far(k) * y;
                yy += y * y;
            }
            let score = if yy > 0.0 { xy / yy.sqrt() } else { 0.0 };
            if score > best_score {
                best_score = score;
                best = d;
            }
        }
        best
    }
}

#[inline]
fn round_i16(v: f32) -> i16 {
    // Half away from zero without the `f32::round` library call; saturating casts clamp.
    let r = (v + 0.5f32.copysign(v)) as i32;
    r.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// How a [`GsmPlcDecoder`] fills lost frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsmConcealment {
    /// GSM 06.11 parameter substitution and muting (decoder state stays continuous).
    Substitution,
    /// Waveform substitution on the decoded PCM ([`Concealer`]).
    Waveform,
}

/// RPE block amplitude steps removed per lost frame (8 steps halve the amplitude: 6 dB per
/// frame, including the first; this scored better by PESQ than repeating the first at full level).
const XMAXC_STEP: u8 = 8;
/// Lost frames after which the output is muted (320 ms, GSM 06.11).
const MUTE_AFTER: u32 = 16;

/// GSM 06.10 decoder with packet loss concealment.
#[derive(Clone)]
pub struct GsmPlcDecoder {
    dec: GsmDecoder,
    pcm: Concealer,
    mode: GsmConcealment,
    last: Option<GsmParams>,
    lost_frames: u32,
    rng: u32,
}

impl Default for GsmPlcDecoder {
    fn default() -> Self {
        Self::new(GsmConcealment::Substitution)
    }
}

impl GsmPlcDecoder {
    /// A decoder in its home state.
    pub fn new(mode: GsmConcealment) -> Self {
        GsmPlcDecoder {
            dec: GsmDecoder::new(),
            pcm: Concealer::new(),
            mode,
            last: None,
            lost_frames: 0,
            rng: 0x2545_f491,
        }
    }

    /// Back to the home state (new call).
    pub fn reset(&mut self) {
        *self = Self::new(self.mode);
    }

    /// Decodes a received frame. A frame without the GSM signature is concealed like a lost one
    /// and reported.
    pub fn decode(
        &mut self,
        frame: &[u8; FRAME_BYTES],
        out: &mut [i16; FRAME_SAMPLES],
    ) -> Result<(), GsmError> {
        match GsmParams::unpack(frame) {
            Ok(p) => {
                self.dec.decode_params(&p, out);
                self.pcm.good_frame(out);
                self.last = Some(p);
                self.lost_frames = 0;
                Ok(())
            }
            Err(e) => {
                self.conceal(out);
                Err(e)
            }
        }
    }

    /// Fills a lost frame.
    pub fn conceal(&mut self, out: &mut [i16; FRAME_SAMPLES]) {
        self.lost_frames = self.lost_frames.saturating_add(1);
        match (self.mode, self.last) {
            (GsmConcealment::Substitution, Some(last)) => {
                let p = self.substitute(&last);
                self.dec.decode_params(&p, out);
                // Keep the PCM history current so a later switch of method stays smooth.
                self.pcm.good_frame(out);
            }
            _ => {
                self.pcm.lost_frame(out);
            }
        }
    }

    /// Fills a lost frame whose successor `next` has already arrived: the decoder state moves
    /// on as in [`Self::conceal`], `next` is decoded ahead on a copy of that state, and the
    /// output is interpolated between the decoded history and `next`'s audio
    /// ([`Concealer::lost_frame_before`]). A `next` without the GSM signature gives [`Self::conceal`].
    pub fn conceal_before(&mut self, out: &mut [i16; FRAME_SAMPLES], next: &[u8; FRAME_BYTES]) {
        let Ok(np) = GsmParams::unpack(next) else {
            self.conceal(out);
            return;
        };
        self.lost_frames = self.lost_frames.saturating_add(1);
        if let (GsmConcealment::Substitution, Some(last)) = (self.mode, self.last) {
            // Advance the filters exactly as a plain concealment would, so that `next` decodes
            // to the same audio now and when it is played.
            let p = self.substitute(&last);
            let mut scratch = [0i16; FRAME_SAMPLES];
            self.dec.decode_params(&p, &mut scratch);
        }
        let mut ahead = [0i16; FRAME_SAMPLES];
        self.dec.clone().decode_params(&np, &mut ahead);
        self.pcm.lost_frame_before(out, &ahead);
    }

    /// GSM 06.11 style substitute for the `lost_frames`-th lost frame in a row.
    fn substitute(&mut self, last: &GsmParams) -> GsmParams {
        let mut p = *last;
        if self.lost_frames > MUTE_AFTER {
            p.xmaxc = [0; 4];
            return p;
        }
        let drop = XMAXC_STEP.saturating_mul(self.lost_frames.min(63) as u8);
        for j in 0..4 {
            p.xmaxc[j] = p.xmaxc[j].saturating_sub(drop);
            if self.lost_frames > 1 {
                // A different pulse grid each frame: same spectrum envelope, no repeated buzz.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 17;
                self.rng ^= self.rng << 5;
                p.mc[j] = (self.rng & 3) as u8;
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(period: usize, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * i as f32 / period as f32).sin()) as i16)
            .collect()
    }

    #[test]
    fn finds_pitch_of_periodic_signal() {
        for period in [45usize, 64, 100, 118] {
            let mut c = Concealer::new();
            let mut x = tone(period, 800);
            for f in x.chunks_mut(80) {
                c.good_frame(f);
            }
            let mut out = [0i16; 80];
            c.lost_frame(&mut out);
            assert!(
                c.pitch() == period || c.pitch() == 2 * period,
                "period {period}: found {}",
                c.pitch()
            );
        }
    }

    #[test]
    fn continues_a_tone_smoothly_then_fades() {
        let period = 64;
        let x = tone(period, 1200);
        let mut c = Concealer::new();
        let mut played = Vec::new();
        for (i, f) in x.chunks(80).enumerate() {
            let mut f = f.to_vec();
            if (5..7).contains(&i) {
                c.lost_frame(&mut f);
            } else {
                c.good_frame(&mut f);
            }
            played.extend_from_slice(&f);
        }
        // The first 10 ms of concealment follow the tone closely.
        let err: f32 = (400..480)
            .map(|i| (played[i] as f32 - x[i] as f32).abs())
            .sum::<f32>()
            / 80.0;
        assert!(err < 400.0, "mean error {err}");
        // No click anywhere: sample-to-sample steps stay those of the tone.
        let max_step = played
            .windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap_or(0);
        assert!(max_step < 1000, "step {max_step}");
    }

    #[test]
    fn interpolates_towards_the_next_frame() {
        // A tone whose pitch glides slightly: extrapolation alone drifts out of phase; the
        // interpolation lands on the next frame without a seam.
        let x: Vec<i16> = (0..1600)
            .map(|i| {
                let t = i as f32;
                let phase = 2.0 * std::f32::consts::PI * (t / 70.0 + t * t / 4.0e6);
                (8000.0 * phase.sin()) as i16
            })
            .collect();
        let mut played = Vec::new();
        let mut c = Concealer::new();
        for (i, f) in x.chunks(160).enumerate() {
            let mut f = f.to_vec();
            if i == 5 {
                c.lost_frame_before(&mut f, &x[960..1120]);
            } else {
                c.good_frame(&mut f);
            }
            played.extend_from_slice(&f);
        }
        let err: f32 = (800..960)
            .map(|i| (played[i] as f32 - x[i] as f32).abs())
            .sum::<f32>()
            / 160.0;
        assert!(err < 2500.0, "mean error {err}");
        let max_step = played
            .windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap_or(0);
        assert!(max_step < 1200, "step {max_step}");
        // Nothing is cross-faded into the next frame: it plays as received.
        assert_eq!(&played[960..1120], &x[960..1120]);
    }

    #[test]
    fn short_next_frame_falls_back_to_extrapolation() {
        let x = tone(110, 800);
        let mut a = Concealer::new();
        let mut b = Concealer::new();
        for f in x.chunks(80) {
            a.good_frame(&mut f.to_vec());
            b.good_frame(&mut f.to_vec());
        }
        let (mut oa, mut ob) = ([0i16; 80], [0i16; 80]);
        a.lost_frame_before(&mut oa, &x[..80]);
        b.lost_frame(&mut ob);
        assert_eq!(oa, ob);
    }

    #[test]
    fn gsm_conceal_before_keeps_the_next_frame_intact() {
        use crate::gsm::GsmEncoder;
        let x = tone(90, 160 * 8);
        let mut enc = GsmEncoder::new();
        let frames: Vec<[u8; FRAME_BYTES]> = x
            .chunks(160)
            .map(|f| {
                let mut b = [0u8; FRAME_BYTES];
                enc.encode_frame(f.try_into().unwrap(), &mut b);
                b
            })
            .collect();
        let mut whole = GsmPlcDecoder::new(GsmConcealment::Substitution);
        let mut ahead = GsmPlcDecoder::new(GsmConcealment::Substitution);
        let mut out = [0i16; FRAME_SAMPLES];
        let mut out2 = [0i16; FRAME_SAMPLES];
        for (i, f) in frames.iter().enumerate() {
            if i == 4 {
                whole.conceal(&mut out);
                ahead.conceal_before(&mut out2, &frames[5]);
            } else {
                whole.decode(f, &mut out).unwrap();
                ahead.decode(f, &mut out2).unwrap();
                if i == 5 {
                    // The decoder state moved on as with a plain concealment.
                    assert_eq!(out, out2);
                }
            }
        }
    }

    #[test]
    fn long_loss_goes_silent() {
        let mut c = Concealer::new();
        let mut x = tone(50, 400);
        for f in x.chunks_mut(80) {
            c.good_frame(f);
        }
        let mut out = [0i16; 80];
        for _ in 0..8 {
            c.lost_frame(&mut out);
        }
        assert!(out.iter().all(|&v| v == 0));
    }
}
