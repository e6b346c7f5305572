//! GSM 06.10 full-rate speech codec (RPE-LTP, 13 kbit/s), bit-exact with the ETSI fixed-point
//! reference and with libgsm.
//!
//! One frame is 160 linear samples (20 ms at 8 kHz) and codes to 33 bytes in the RFC 3551
//! layout: a 4-bit signature 0xD, then the 76 parameters most significant bit first (8 log-area
//! ratios, and for each of the four 5 ms sub-frames the LTP lag and gain, the RPE grid, the block
//! maximum and 13 pulses).
//!
//! The arithmetic follows GSM 06.10 section 4 to the bit: 16-bit words, saturating adds, the
//! rounding multiply `(a * b + 2^14) >> 15`, and the places where the reference stores a wider
//! result into a 16-bit word are reproduced as wrapping casts, because full-scale input reaches
//! them. Wider sums are kept in `i32` only where their bounds are proven (noted at each site),
//! which lets the compiler vectorise the autocorrelation, the LTP lag search and the weighting
//! filter. Encoder and decoder keep all their state inline: no allocation, ever.

// The standard's algorithms index several parallel arrays with one loop variable; iterator
// chains would hide the correspondence with the specification text.
#![allow(clippy::needless_range_loop)]

use core::fmt;

/// Linear samples per frame (20 ms).
pub const FRAME_SAMPLES: usize = 160;
/// Bytes per coded frame (RFC 3551 section 4.5.8).
pub const FRAME_BYTES: usize = 33;
/// The signature in the top four bits of every frame.
pub const FRAME_MAGIC: u8 = 0xD;

/// Why a 33-byte frame could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsmError {
    /// The first four bits are not the GSM signature 0xD (this is not a GSM 06.10 frame,
    /// or the stream is misaligned).
    BadMagic { found: u8 },
}

impl fmt::Display for GsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GsmError::BadMagic { found } => {
                write!(
                    f,
                    "not a GSM 06.10 frame: signature nibble is {found:#x}, expected 0xd"
                )
            }
        }
    }
}

impl std::error::Error for GsmError {}

/// The 76 coded parameters of one frame (GSM 06.10 table 1.1), each in its unsigned coded form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GsmParams {
    /// Log-area ratios, 6, 6, 5, 5, 4, 4, 3, 3 bits.
    pub larc: [u8; 8],
    /// LTP lag per sub-frame, 7 bits (40..=120 from the encoder).
    pub nc: [u8; 4],
    /// LTP gain per sub-frame, 2 bits.
    pub bc: [u8; 4],
    /// RPE grid position per sub-frame, 2 bits.
    pub mc: [u8; 4],
    /// Block amplitude per sub-frame, 6 bits.
    pub xmaxc: [u8; 4],
    /// RPE pulses per sub-frame, 3 bits each.
    pub xmc: [[u8; 13]; 4],
}

const LARC_BITS: [u32; 8] = [6, 6, 5, 5, 4, 4, 3, 3];

impl GsmParams {
    /// Packs into the RFC 3551 frame layout.
    pub fn pack(&self, out: &mut [u8; FRAME_BYTES]) {
        let mut w = BitWriter {
            out,
            acc: 0,
            nbits: 0,
            pos: 0,
        };
        w.put(FRAME_MAGIC as u32, 4);
        for (&v, &bits) in self.larc.iter().zip(&LARC_BITS) {
            w.put(v as u32, bits);
        }
        for j in 0..4 {
            w.put(self.nc[j] as u32, 7);
            w.put(self.bc[j] as u32, 2);
            w.put(self.mc[j] as u32, 2);
            w.put(self.xmaxc[j] as u32, 6);
            for &x in &self.xmc[j] {
                w.put(x as u32, 3);
            }
        }
        debug_assert_eq!((w.pos, w.nbits), (FRAME_BYTES, 0));
    }

    /// Unpacks an RFC 3551 frame; every bit pattern after a valid signature is accepted.
    pub fn unpack(frame: &[u8; FRAME_BYTES]) -> Result<GsmParams, GsmError> {
        if frame[0] >> 4 != FRAME_MAGIC {
            return Err(GsmError::BadMagic { found: frame[0] >> 4 });
        }
        let mut r = BitReader {
            data: frame,
            acc: 0,
            nbits: 0,
            pos: 0,
        };
        r.get(4);
        let mut p = GsmParams::default();
        for (v, &bits) in p.larc.iter_mut().zip(&LARC_BITS) {
            *v = r.get(bits);
        }
        for j in 0..4 {
            p.nc[j] = r.get(7);
            p.bc[j] = r.get(2);
            p.mc[j] = r.get(2);
            p.xmaxc[j] = r.get(6);
            for x in &mut p.xmc[j] {
                *x = r.get(3);
            }
        }
        Ok(p)
    }
}

struct BitWriter<'a> {
    out: &'a mut [u8; FRAME_BYTES],
    acc: u32,
    nbits: u32,
    pos: usize,
}

impl BitWriter<'_> {
    #[inline(always)]
    fn put(&mut self, v: u32, bits: u32) {
        self.acc = (self.acc << bits) | (v & ((1 << bits) - 1));
        self.nbits += bits;
        while self.nbits >= 8 {
            self.nbits -= 8;
            self.out[self.pos] = (self.acc >> self.nbits) as u8;
            self.pos += 1;
        }
    }
}

struct BitReader<'a> {
    data: &'a [u8; FRAME_BYTES],
    acc: u32,
    nbits: u32,
    pos: usize,
}

impl BitReader<'_> {
    #[inline(always)]
    fn get(&mut self, bits: u32) -> u8 {
        while self.nbits < bits {
            self.acc = (self.acc << 8) | self.data[self.pos] as u32;
            self.pos += 1;
            self.nbits += 8;
        }
        self.nbits -= bits;
        ((self.acc >> self.nbits) & ((1 << bits) - 1)) as u8
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed-point primitives of GSM 06.10 section 4.1 (16-bit words, 32-bit long words).

/// Saturate to a 16-bit word.
#[inline(always)]
fn sat(x: i32) -> i16 {
    x.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// add(a, b): saturating.
#[inline(always)]
fn add(a: i16, b: i16) -> i16 {
    sat(a as i32 + b as i32)
}

/// sub(a, b): saturating.
#[inline(always)]
fn sub(a: i16, b: i16) -> i16 {
    sat(a as i32 - b as i32)
}

/// mult_r(a, b) = (a * b + 2^14) >> 15, stored in a word. The only overflowing case,
/// a = b = -32768, never occurs here: every coefficient operand is > -32768 by construction.
#[inline(always)]
fn mult_r(a: i16, b: i16) -> i16 {
    ((a as i32 * b as i32 + 16384) >> 15) as i16
}

/// mult(a, b) = (a * b) >> 15, stored in a word.
#[inline(always)]
fn mult(a: i16, b: i16) -> i16 {
    ((a as i32 * b as i32) >> 15) as i16
}

/// Saturate to the word range, staying in i32 (for lattice loops kept in registers).
#[inline(always)]
fn sat32(x: i32) -> i32 {
    x.clamp(i16::MIN as i32, i16::MAX as i32)
}

/// mult_r on word values held in i32, for a > -32768 (no wrap case).
#[inline(always)]
fn mult_r32(a: i32, b: i32) -> i32 {
    (a * b + 16384) >> 15
}

/// abs with abs(-32768) = 32767.
#[inline(always)]
fn abs_w(a: i16) -> i16 {
    a.saturating_abs()
}

/// norm(a): left shifts that bring a non-zero long word into [2^30, 2^31) (or [-2^31, -2^30)).
#[inline(always)]
fn norm(a: i32) -> u32 {
    debug_assert!(a != 0);
    let a = if a < 0 { !a } else { a };
    a.leading_zeros() - 1
}

/// div(num, denum) for 0 <= num <= denum: the 15-bit fraction num/denum, truncated.
#[inline(always)]
fn div(num: i16, denum: i16) -> i16 {
    debug_assert!(num >= 0 && denum >= num);
    if num == 0 {
        return 0;
    }
    // The reference's 15-step restoring division is exactly floor(num * 2^15 / denum),
    // saturated to 0x7FFF when num == denum.
    (((num as i32) << 15) / denum as i32).min(32767) as i16
}

// ---------------------------------------------------------------------------------------------
// Tables of GSM 06.10 section 4.4.

/// Table 4.1: LAR quantiser slopes, offsets and ranges.
const LAR_A: [i16; 8] = [20480, 20480, 20480, 20480, 13964, 15360, 8534, 9036];
const LAR_B: [i16; 8] = [0, 0, 2048, -2560, 94, -1792, -341, -1144];
const LAR_MIC: [i16; 8] = [-32, -32, -16, -16, -8, -8, -4, -4];
const LAR_MAC: [i16; 8] = [31, 31, 15, 15, 7, 7, 3, 3];
/// Table 4.2: 1/A.
const LAR_INVA: [i16; 8] = [13107, 13107, 13107, 13107, 19223, 17476, 31454, 29708];
/// Table 4.3a/b: LTP gain decision and reconstruction levels.
const DLB: [i16; 3] = [6554, 16384, 26214];
const QLB: [i16; 4] = [3277, 11469, 21299, 32767];
/// Table 4.4: weighting filter (taps 2 and 8 are zero).
const H: [i32; 11] = [-134, -374, 0, 2054, 5741, 8192, 5741, 2054, 0, -374, -134];
/// Table 4.5 and 4.6: inverse and direct RPE mantissas.
const NRFAC: [i16; 8] = [29128, 26215, 23832, 21846, 20165, 18725, 17476, 16384];
const FAC: [i16; 8] = [18431, 20479, 22527, 24575, 26623, 28671, 30719, 32767];

// ---------------------------------------------------------------------------------------------
// Parts shared by encoder and decoder: LAR decoding, interpolation, reflection coefficients.

/// 4.2.8: decode the coded LARs to LAR''.
fn decode_lars(larc: &[i16; 8]) -> [i16; 8] {
    let mut larpp = [0i16; 8];
    for i in 0..8 {
        // Adding MIC restores the sign; the shift lands in a word (the reference's `<< 10`).
        let t = ((add(larc[i], LAR_MIC[i]) as i32) << 10) as i16;
        let t = sub(t, LAR_B[i].wrapping_mul(2));
        let t = mult_r(LAR_INVA[i], t);
        larpp[i] = add(t, t);
    }
    larpp
}

/// 4.2.9.1: LAR' for the four interpolation segments (samples 0-12, 13-26, 27-39, 40-159).
#[inline]
fn interpolate(prev: &[i16; 8], cur: &[i16; 8], segment: usize) -> [i16; 8] {
    let mut larp = [0i16; 8];
    for i in 0..8 {
        let (p, c) = (prev[i], cur[i]);
        larp[i] = match segment {
            0 => add(add(p >> 2, c >> 2), p >> 1),
            1 => add(p >> 1, c >> 1),
            2 => add(add(p >> 2, c >> 2), c >> 1),
            _ => c,
        };
    }
    larp
}

/// 4.2.9.2: LAR' to reflection coefficients r'. Results lie in [-32767, 32767].
#[inline]
fn lar_to_rp(larp: &mut [i16; 8]) {
    for x in larp.iter_mut() {
        let t = abs_w(*x);
        let m = if t < 11059 {
            t << 1
        } else if t < 20070 {
            t + 11059
        } else {
            add(t >> 2, 26112)
        };
        *x = if *x < 0 { -m } else { m };
    }
}

/// Segment boundaries of the coefficient interpolation.
const SEGMENTS: [(usize, usize); 4] = [(0, 13), (13, 27), (27, 40), (40, 160)];

// ---------------------------------------------------------------------------------------------
// Encoder.

/// GSM 06.10 encoder state (about 0.6 KiB, inline).
#[derive(Clone)]
pub struct GsmEncoder {
    /// Offset compensation and pre-emphasis memories (4.2.2, 4.2.3).
    z1: i16,
    l_z2: i32,
    mp: i16,
    /// Short-term analysis lattice memory (4.2.10).
    u: [i16; 8],
    /// LAR'' of the previous frame, for interpolation.
    larpp_prev: [i16; 8],
    /// Reconstructed short-term residual: 120 past samples, then this frame's 160.
    dp: [i16; 280],
}

impl Default for GsmEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl GsmEncoder {
    pub const fn new() -> Self {
        GsmEncoder {
            z1: 0,
            l_z2: 0,
            mp: 0,
            u: [0; 8],
            larpp_prev: [0; 8],
            dp: [0; 280],
        }
    }

    /// Back to the initial (home) state.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Encodes 160 samples into one 33-byte frame.
    pub fn encode_frame(&mut self, pcm: &[i16; FRAME_SAMPLES], out: &mut [u8; FRAME_BYTES]) {
        self.encode_params(pcm).pack(out);
    }

    /// Encodes 160 samples to the frame's parameters.
    pub fn encode_params(&mut self, pcm: &[i16; FRAME_SAMPLES]) -> GsmParams {
        let mut s = [0i16; FRAME_SAMPLES];
        self.preprocess(pcm, &mut s);
        let larc = lpc_analysis(&mut s);
        let mut p = GsmParams::default();
        for i in 0..8 {
            p.larc[i] = larc[i] as u8;
        }
        self.short_term_analysis(&larc, &mut s);

        for j in 0..4 {
            let d: &[i16; 40] = s[j * 40..j * 40 + 40].try_into().unwrap();
            let base = 120 + j * 40;
            let (nc, bc) = ltp_parameters(d, &self.dp, base);
            // e[] carries five zeros either side for the weighting filter.
            let mut e = [0i16; 50];
            let mut dpp = [0i16; 40];
            let b = QLB[bc as usize];
            for k in 0..40 {
                dpp[k] = mult_r(b, self.dp[base + k - nc as usize]);
                e[5 + k] = sub(d[k], dpp[k]);
            }
            let (xmaxc, mc, xmc, ep) = rpe_encode(&e);
            for k in 0..40 {
                self.dp[base + k] = add(ep[k], dpp[k]);
            }
            p.nc[j] = nc as u8;
            p.bc[j] = bc as u8;
            p.mc[j] = mc as u8;
            p.xmaxc[j] = xmaxc as u8;
            for i in 0..13 {
                // The packer keeps 3 bits, as the reference does.
                p.xmc[j][i] = (xmc[i] & 7) as u8;
            }
        }
        self.dp.copy_within(160..280, 0);
        p
    }

    /// 4.2.1-4.2.3: down-scaling, offset compensation (high-pass), pre-emphasis.
    fn preprocess(&mut self, pcm: &[i16; FRAME_SAMPLES], out: &mut [i16; FRAME_SAMPLES]) {
        let (mut z1, mut l_z2, mut mp) = (self.z1, self.l_z2, self.mp);
        for (o, &x) in out.iter_mut().zip(pcm) {
            let so = (x >> 3) << 2;
            // so is in [-16384, 16380], so the difference fits a word without saturation.
            let s1 = so - z1;
            z1 = so;
            // 31 x 16 bit multiply of the recursive part. The reference keeps msp and lsp in
            // words: for a full-scale step l_z2 exceeds 2^30 and msp wraps, reproduced here.
            let msp = (l_z2 >> 15) as i16;
            let lsp = l_z2.wrapping_sub((msp as i32) << 15) as i16;
            let l_s2 = ((s1 as i32) << 15) + ((lsp as i32 * 32735 + 16384) >> 15);
            l_z2 = (msp as i32 * 32735).saturating_add(l_s2);
            let l_temp = l_z2.saturating_add(16384);
            let pre = mult_r(mp, -28180);
            mp = (l_temp >> 15) as i16;
            *o = add(mp, pre);
        }
        (self.z1, self.l_z2, self.mp) = (z1, l_z2, mp);
    }

    /// 4.2.8-4.2.10: short-term analysis filtering of `s` in place, giving the residual d.
    fn short_term_analysis(&mut self, larc: &[i16; 8], s: &mut [i16; FRAME_SAMPLES]) {
        let cur = decode_lars(larc);
        // Word values in i32 registers, as in the synthesis lattice (coefficients > -32768).
        let mut u = self.u.map(|x| x as i32);
        for (seg, &(start, end)) in SEGMENTS.iter().enumerate() {
            let mut rp = interpolate(&self.larpp_prev, &cur, seg);
            lar_to_rp(&mut rp);
            let rp = rp.map(|x| x as i32);
            for x in &mut s[start..end] {
                let mut di = *x as i32;
                let mut sav = di;
                for i in 0..8 {
                    let ui = u[i];
                    u[i] = sav;
                    sav = sat32(ui + mult_r32(rp[i], di));
                    di = sat32(di + mult_r32(rp[i], ui));
                }
                *x = di as i16;
            }
        }
        self.u = u.map(|x| x as i16);
        self.larpp_prev = cur;
    }
}

/// 4.2.4-4.2.7: LPC analysis of the pre-processed frame; returns the coded LARs.
/// As in the reference, `s` comes back rescaled (see `autocorrelation`).
fn lpc_analysis(s: &mut [i16; FRAME_SAMPLES]) -> [i16; 8] {
    let acf = autocorrelation(s);
    let mut r = reflection_coefficients(&acf);
    // 4.2.6: reflection coefficients to log-area ratios (piecewise linear).
    for x in r.iter_mut() {
        let t = abs_w(*x);
        let t = if t < 22118 {
            t >> 1
        } else if t < 31130 {
            t - 11059
        } else {
            (t - 26112) << 2
        };
        *x = if *x < 0 { -t } else { t };
    }
    // 4.2.7: quantisation and coding.
    let mut larc = [0i16; 8];
    for i in 0..8 {
        let t = mult(LAR_A[i], r[i]);
        let t = add(t, LAR_B[i]);
        let t = add(t, 256) >> 9;
        larc[i] = t.clamp(LAR_MIC[i], LAR_MAC[i]) - LAR_MIC[i];
    }
    larc
}

/// 4.2.4: autocorrelation with dynamic scaling.
fn autocorrelation(s: &mut [i16; FRAME_SAMPLES]) -> [i32; 9] {
    let smax = s.iter().map(|&x| abs_w(x)).max().unwrap_or(0);
    let scalauto = if smax == 0 {
        0
    } else {
        4 - norm((smax as i32) << 16) as i32
    };
    if scalauto > 0 {
        let f = 16384i16 >> (scalauto - 1);
        for x in s.iter_mut() {
            *x = mult_r(*x, f);
        }
    }
    // After scaling |s| <= 2^11, so each sum is below 160 * 2^22 < 2^30: i32 is exact, and the
    // summation order is free, which lets these loops vectorise.
    let mut acf = [0i32; 9];
    for (k, a) in acf.iter_mut().enumerate() {
        let mut sum = 0i32;
        for (x, y) in s[k..].iter().zip(&s[..FRAME_SAMPLES - k]) {
            sum += *x as i32 * *y as i32;
        }
        *a = sum << 1;
    }
    if scalauto > 0 {
        // The reference scales back into words, wrapping 2048 << 4 to -32768: kept.
        for x in s.iter_mut() {
            *x = ((*x as i32) << scalauto) as i16;
        }
    }
    acf
}

/// 4.2.5: Schur recursion for the reflection coefficients.
fn reflection_coefficients(l_acf: &[i32; 9]) -> [i16; 8] {
    let mut r = [0i16; 8];
    if l_acf[0] == 0 {
        return r;
    }
    let t = norm(l_acf[0]);
    // |L_ACF[i]| <= L_ACF[0] (Cauchy-Schwarz on exact sums), so the shift cannot overflow.
    let mut acf = [0i16; 9];
    for i in 0..9 {
        acf[i] = ((l_acf[i] << t) >> 16) as i16;
    }
    let mut p = acf;
    let mut k = acf;
    for n in 1..=8 {
        let t = abs_w(p[1]);
        if p[0] < t {
            return r;
        }
        let mut rn = div(t, p[0]);
        if p[1] > 0 {
            rn = -rn;
        }
        r[n - 1] = rn;
        if n == 8 {
            break;
        }
        p[0] = add(p[0], mult_r(p[1], rn));
        for m in 1..=8 - n {
            let pm1 = p[m + 1];
            p[m] = add(pm1, mult_r(k[m], rn));
            k[m] = add(k[m], mult_r(pm1, rn));
        }
    }
    r
}

/// 4.2.11: LTP lag and coded gain for the sub-frame residual `d`, against the reconstructed
/// residual `dp[base - 120 .. base]`.
#[inline]
fn ltp_parameters(d: &[i16; 40], dp: &[i16; 280], base: usize) -> (i16, i16) {
    let dmax = d.iter().map(|&x| abs_w(x)).max().unwrap_or(0);
    let temp = if dmax == 0 {
        0
    } else {
        norm((dmax as i32) << 16) as i32
    };
    let scal = if temp > 6 { 0 } else { 6 - temp };
    let mut wt = [0i16; 40];
    for k in 0..40 {
        wt[k] = d[k] >> scal;
    }
    // |wt| < 2^9 and |dp| <= 2^15, so 40 products stay below 2^30: i32 is exact.
    let mut l_max = 0i32;
    let mut nc = 40usize;
    for lambda in 40..=120 {
        let w: &[i16; 40] = dp[base - lambda..base - lambda + 40].try_into().unwrap();
        let mut sum = 0i32;
        for k in 0..40 {
            sum += wt[k] as i32 * w[k] as i32;
        }
        if sum > l_max {
            nc = lambda;
            l_max = sum;
        }
    }
    let l_max = (l_max << 1) >> (6 - scal);
    let past: &[i16; 40] = dp[base - nc..base - nc + 40].try_into().unwrap();
    let mut l_power = 0i32;
    for &x in past {
        let v = (x >> 3) as i32;
        l_power += v * v;
    }
    let l_power = l_power << 1;
    let bc = if l_max <= 0 {
        0
    } else if l_max >= l_power {
        3
    } else {
        let t = norm(l_power);
        let r = ((l_max << t) >> 16) as i16;
        let s = ((l_power << t) >> 16) as i16;
        DLB.iter().position(|&dlb| r <= mult(s, dlb)).unwrap_or(3) as i16
    };
    (nc as i16, bc)
}

/// 4.2.13-4.2.17: RPE encoding of the long-term residual `e[5..45]` (zero padded).
/// Returns xmaxc, Mc, xMc and the locally decoded excitation ep.
#[inline]
fn rpe_encode(e: &[i16; 50]) -> (i16, i16, [i16; 13], [i16; 40]) {
    // 4.2.13 weighting filter. Sum of |H| is 24798 < 2^15, so a sum stays below 2^30.
    let mut x = [0i16; 40];
    for k in 0..40 {
        let w: &[i16; 11] = e[k..k + 11].try_into().unwrap();
        let mut acc = 4096i32;
        for i in 0..11 {
            acc += w[i] as i32 * H[i];
        }
        x[k] = sat(acc >> 13);
    }
    // 4.2.14 grid selection: the grid with the most energy; ties keep the lower index.
    let mut mc = 0usize;
    let mut em = 0i32;
    for m in 0..4 {
        let mut sum = 0i32;
        for i in 0..13 {
            let v = (x[m + 3 * i] >> 2) as i32;
            sum += v * v;
        }
        let sum = sum << 1;
        if m == 0 || sum > em {
            mc = m;
            em = sum;
        }
    }
    let mut xm = [0i16; 13];
    for i in 0..13 {
        xm[i] = x[mc + 3 * i];
    }
    // 4.2.15 APCM quantisation: block maximum, coded on a 3-bit-mantissa log scale.
    let xmax = xm.iter().map(|&v| abs_w(v)).max().unwrap_or(0);
    let t = (xmax >> 9) as u16;
    let exp = (16 - t.leading_zeros()).min(6) as i16;
    let xmaxc = add(xmax >> (exp + 5), exp << 3);
    let (exp, mant) = xmaxc_to_exp_mant(xmaxc);
    let temp1 = 6 - exp;
    let temp2 = NRFAC[mant as usize];
    let mut xmc = [0i16; 13];
    for i in 0..13 {
        let v = ((xm[i] as i32) << temp1) as i16;
        xmc[i] = (mult(v, temp2) >> 12) + 4;
    }
    // 4.2.16-4.2.17 local decoding, as the decoder will see it.
    let ep = rpe_decode(mc, exp, mant, &xmc);
    (xmaxc, mc as i16, xmc, ep)
}

/// 4.2.15: exponent and mantissa of a coded block maximum.
#[inline]
fn xmaxc_to_exp_mant(xmaxc: i16) -> (i16, i16) {
    let mut exp = if xmaxc > 15 { (xmaxc >> 3) - 1 } else { 0 };
    let mut mant = xmaxc - (exp << 3);
    if mant == 0 {
        return (-4, 7);
    }
    while mant <= 7 {
        mant = (mant << 1) | 1;
        exp -= 1;
    }
    (exp, mant - 8)
}

/// 4.2.16-4.2.17: inverse APCM quantisation and grid positioning.
#[inline]
fn rpe_decode(mc: usize, exp: i16, mant: i16, xmc: &[i16; 13]) -> [i16; 40] {
    let temp1 = FAC[mant as usize];
    let temp2 = 6 - exp; // 0..=10
    let temp3: i16 = if temp2 >= 1 { 1 << (temp2 - 1) } else { 0 };
    let mut ep = [0i16; 40];
    for i in 0..13 {
        // Restore the sign: 3-bit unsigned to odd values -7..7, scaled to the top of a word.
        let t = (xmc[i].wrapping_shl(1).wrapping_sub(7)).wrapping_shl(12);
        let t = add(mult_r(temp1, t), temp3);
        ep[mc + 3 * i] = t >> temp2;
    }
    ep
}

// ---------------------------------------------------------------------------------------------
// Decoder.

/// GSM 06.10 decoder state (about 0.4 KiB, inline).
#[derive(Clone)]
pub struct GsmDecoder {
    /// Reconstructed short-term residual: 120 past samples, then the current sub-frame's 40.
    drp: [i16; 160],
    /// Last valid LTP lag, used when a frame carries one outside 40..=120.
    nrp: i16,
    /// Short-term synthesis lattice memory.
    v: [i16; 9],
    /// De-emphasis memory.
    msr: i16,
    larpp_prev: [i16; 8],
}

impl Default for GsmDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl GsmDecoder {
    pub const fn new() -> Self {
        GsmDecoder {
            drp: [0; 160],
            nrp: 40,
            v: [0; 9],
            msr: 0,
            larpp_prev: [0; 8],
        }
    }

    /// Back to the initial (home) state.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Decodes one 33-byte frame to 160 samples. On error the state and `out` are untouched.
    pub fn decode_frame(
        &mut self,
        frame: &[u8; FRAME_BYTES],
        out: &mut [i16; FRAME_SAMPLES],
    ) -> Result<(), GsmError> {
        let p = GsmParams::unpack(frame)?;
        self.decode_params(&p, out);
        Ok(())
    }

    /// Decodes one frame's parameters (any values; fields are masked to their widths).
    pub fn decode_params(&mut self, p: &GsmParams, out: &mut [i16; FRAME_SAMPLES]) {
        let mut wt = [0i16; FRAME_SAMPLES];
        for j in 0..4 {
            let mut xmc = [0i16; 13];
            for i in 0..13 {
                xmc[i] = (p.xmc[j][i] & 7) as i16;
            }
            let (exp, mant) = xmaxc_to_exp_mant((p.xmaxc[j] & 63) as i16);
            let erp = rpe_decode((p.mc[j] & 3) as usize, exp, mant, &xmc);
            // 4.3.2 long-term synthesis.
            let ncr = (p.nc[j] & 127) as i16;
            let nr = if (40..=120).contains(&ncr) { ncr } else { self.nrp };
            self.nrp = nr;
            let brp = QLB[(p.bc[j] & 3) as usize];
            let nr = nr as usize;
            for k in 0..40 {
                let v = add(erp[k], mult_r(brp, self.drp[120 + k - nr]));
                self.drp[120 + k] = v;
                wt[j * 40 + k] = v;
            }
            self.drp.copy_within(40..160, 0);
        }
        let mut larc = [0i16; 8];
        for i in 0..8 {
            larc[i] = (p.larc[i] & ((1u8 << LARC_BITS[i]) - 1)) as i16;
        }
        self.short_term_synthesis(&larc, &wt, out);
    }

    /// 4.3.3-4.3.4: short-term synthesis lattice, and 4.3.5 post-processing (de-emphasis,
    /// upscaling, truncation to 13 bits) in the same loop: the de-emphasis recursion is a
    /// latency chain of its own, which then overlaps with the lattice's.
    fn short_term_synthesis(&mut self, larc: &[i16; 8], wt: &[i16; 160], out: &mut [i16; 160]) {
        let cur = decode_lars(larc);
        // The lattice runs on word values held in i32 registers: every mult_r here has a
        // coefficient in [-32767, 32767], so its result fits a word without wrapping, and the
        // saturations keep every stored value a word.
        let mut v = self.v.map(|x| x as i32);
        let mut msr = self.msr as i32;
        for (seg, &(start, end)) in SEGMENTS.iter().enumerate() {
            let mut rrp = interpolate(&self.larpp_prev, &cur, seg);
            lar_to_rp(&mut rrp);
            let rrp = rrp.map(|x| x as i32);
            for (o, &w) in out[start..end].iter_mut().zip(&wt[start..end]) {
                let mut sri = w as i32;
                for i in (0..8).rev() {
                    sri = sat32(sri - mult_r32(rrp[i], v[i]));
                    v[i + 1] = sat32(v[i] + mult_r32(rrp[i], sri));
                }
                v[0] = sri;
                msr = sat32(sri + mult_r32(msr, 28180));
                *o = (sat32(msr + msr) as i16) & !7;
            }
        }
        self.v = v.map(|x| x as i16);
        self.msr = msr as i16;
        self.larpp_prev = cur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_round_trip() {
        let mut p = GsmParams::default();
        for i in 0..8 {
            p.larc[i] = ((i * 7 + 3) as u8) & ((1 << LARC_BITS[i]) - 1);
        }
        for j in 0..4 {
            p.nc[j] = 40 + 20 * j as u8;
            p.bc[j] = j as u8;
            p.mc[j] = 3 - j as u8;
            p.xmaxc[j] = 63 - j as u8;
            for i in 0..13 {
                p.xmc[j][i] = ((i + j) % 8) as u8;
            }
        }
        let mut f = [0u8; FRAME_BYTES];
        p.pack(&mut f);
        assert_eq!(f[0] >> 4, 0xD);
        assert_eq!(GsmParams::unpack(&f), Ok(p));
    }

    #[test]
    fn rejects_bad_magic() {
        let f = [0u8; FRAME_BYTES];
        let mut out = [1i16; FRAME_SAMPLES];
        assert_eq!(
            GsmDecoder::new().decode_frame(&f, &mut out),
            Err(GsmError::BadMagic { found: 0 })
        );
        assert_eq!(out, [1; FRAME_SAMPLES]);
    }

    #[test]
    fn primitives() {
        assert_eq!(norm(1 << 30), 0);
        assert_eq!(norm(1), 30);
        assert_eq!(norm(-1), 31);
        assert_eq!(norm(i32::MIN), 0);
        assert_eq!(div(1, 1), 32767);
        assert_eq!(div(1, 2), 16384);
        assert_eq!(div(1, 3), 10922);
        assert_eq!(abs_w(i16::MIN), i16::MAX);
    }

    #[test]
    fn silence_codes_to_silence() {
        let mut enc = GsmEncoder::new();
        let mut dec = GsmDecoder::new();
        let mut f = [0u8; FRAME_BYTES];
        let mut out = [1i16; FRAME_SAMPLES];
        for _ in 0..3 {
            enc.encode_frame(&[0; FRAME_SAMPLES], &mut f);
            dec.decode_frame(&f, &mut out).unwrap();
        }
        // Coded silence decodes to a few LSBs, not exact zero (libgsm does the same).
        assert!(out.iter().all(|&x| x.abs() < 64));
    }
}
