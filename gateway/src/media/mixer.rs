//! Frame arithmetic for the loop: saturating mix, fixed-point gain, a dual-tone oscillator
//! for regenerated RFC 4733 digits and a comfort noise source. All inline, nothing allocates.

use hal::pcm::{FRAME_SAMPLES, Frame};

/// Adds `src` to `dst` with saturation.
pub fn mix_into(dst: &mut [i16], src: &[i16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = d.saturating_add(*s);
    }
}

/// A gain as a Q12 multiplier (unity 4096), so the per-sample cost is one multiply and shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gain(i32);

impl Gain {
    pub const UNITY: Gain = Gain(4096);

    /// From decibels, clamped to -40..=+20 dB.
    pub fn from_db(db: f32) -> Gain {
        let db = if db.is_finite() {
            db.clamp(-40.0, 20.0)
        } else {
            0.0
        };
        Gain((4096.0 * 10f32.powf(db / 20.0)).round() as i32)
    }

    pub fn is_unity(self) -> bool {
        self.0 == 4096
    }

    pub fn apply(self, frame: &mut [i16]) {
        if self.is_unity() {
            return;
        }
        for x in frame.iter_mut() {
            let v = (i32::from(*x) * self.0 + 2048) >> 12;
            *x = v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
    }
}

/// Two phase-continuous sines (DTMF digit regenerated from RFC 4733 events).
#[derive(Debug, Clone, Copy)]
pub struct DualTone {
    // Rotating phasors: (cos, sin) advanced by a fixed rotation each sample.
    a: (f32, f32),
    b: (f32, f32),
    ra: (f32, f32),
    rb: (f32, f32),
    amp_a: f32,
    amp_b: f32,
    n: u32,
}

impl DualTone {
    /// `f1`/`f2` in Hz, each at `level_dbm0` (and the high one `twist_db` louder).
    pub fn new(f1: f32, f2: f32, level_dbm0: f32, twist_db: f32) -> Self {
        let rot = |f: f32| {
            let w = 2.0 * core::f32::consts::PI * f / 8000.0;
            (w.cos(), w.sin())
        };
        let amp = codecs::tones::dbm0_to_peak(level_dbm0);
        DualTone {
            a: (1.0, 0.0),
            b: (1.0, 0.0),
            ra: rot(f1),
            rb: rot(f2),
            amp_a: amp,
            amp_b: amp * 10f32.powf(twist_db / 20.0),
            n: 0,
        }
    }

    /// For a DTMF digit character.
    pub fn dtmf(digit: char) -> Option<Self> {
        let (lo, hi) = codecs::dtmf::digit_freqs(digit)?;
        Some(DualTone::new(lo, hi, -8.0, 2.0))
    }

    pub fn add_to(&mut self, out: &mut [i16]) {
        for x in out.iter_mut() {
            let v = self.a.1 * self.amp_a + self.b.1 * self.amp_b;
            *x = (f32::from(*x) + v).clamp(-32768.0, 32767.0) as i16;
            self.a = (
                self.a.0 * self.ra.0 - self.a.1 * self.ra.1,
                self.a.0 * self.ra.1 + self.a.1 * self.ra.0,
            );
            self.b = (
                self.b.0 * self.rb.0 - self.b.1 * self.rb.1,
                self.b.0 * self.rb.1 + self.b.1 * self.rb.0,
            );
        }
        // Keep the phasors on the unit circle.
        self.n += 1;
        if self.n.is_multiple_of(8) {
            for p in [&mut self.a, &mut self.b] {
                let m = (p.0 * p.0 + p.1 * p.1).sqrt();
                if m > 0.0 {
                    *p = (p.0 / m, p.1 / m);
                }
            }
        }
    }
}

/// White comfort noise at an RMS level (RFC 3389 without spectral shaping).
#[derive(Debug, Clone, Copy)]
pub struct NoiseSource {
    state: u32,
    rms: f32,
}

impl NoiseSource {
    pub const fn new(seed: u32) -> Self {
        NoiseSource {
            state: seed | 1,
            rms: 0.0,
        }
    }

    /// Level in -dBov (RFC 3389 byte).
    pub fn set_level_dbov(&mut self, level: u8) {
        self.rms = if level >= 127 {
            0.0
        } else {
            32767.0 * 10f32.powf(-(f32::from(level)) / 20.0)
        };
    }

    pub fn fill(&mut self, out: &mut [i16]) {
        // Uniform noise on [-1, 1) has RMS 1/sqrt(3).
        let scale = self.rms * 1.732_050_8;
        for x in out.iter_mut() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 17;
            self.state ^= self.state << 5;
            let u = (self.state as i32) as f32 / 2_147_483_648.0;
            *x = (u * scale).clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// A FIFO of decoded samples between packet-sized decoding and the 10 ms line frames.
#[derive(Debug, Clone)]
pub struct SampleFifo {
    buf: [i16; Self::CAPACITY],
    len: usize,
}

impl Default for SampleFifo {
    fn default() -> Self {
        SampleFifo {
            buf: [0; Self::CAPACITY],
            len: 0,
        }
    }
}

impl SampleFifo {
    /// Six 60 ms packets' worth: more than any ptime plus a partial frame.
    pub const CAPACITY: usize = 8 * 60 * 3;

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// Room to append `n` samples at the tail (clamped to what fits).
    pub fn tail(&mut self, n: usize) -> &mut [i16] {
        let n = n.min(Self::CAPACITY - self.len);
        &mut self.buf[self.len..self.len + n]
    }
    /// Commits `n` samples written into [`Self::tail`].
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(Self::CAPACITY);
    }
    /// Takes one frame from the head (zeros for what is missing).
    pub fn take_frame(&mut self, out: &mut Frame) {
        let n = self.len.min(FRAME_SAMPLES);
        out[..n].copy_from_slice(&self.buf[..n]);
        out[n..].fill(0);
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_and_mix_saturate() {
        let mut a = [30000i16, -30000, 100];
        mix_into(&mut a, &[10000, -10000, 1]);
        assert_eq!(a, [32767, -32768, 101]);
        let mut f = [1000i16; 4];
        Gain::from_db(-6.0206).apply(&mut f);
        assert!((f[0] - 500).abs() <= 1);
        let mut f = [20000i16; 2];
        Gain::from_db(12.0).apply(&mut f);
        assert_eq!(f, [32767; 2]);
    }

    #[test]
    fn fifo_frames() {
        let mut q = SampleFifo::default();
        let t = q.tail(100);
        for (i, x) in t.iter_mut().enumerate() {
            *x = i as i16;
        }
        q.commit(100);
        let mut f = [0; FRAME_SAMPLES];
        q.take_frame(&mut f);
        assert_eq!(f[79], 79);
        q.take_frame(&mut f);
        assert_eq!(f[19], 99);
        assert_eq!(f[20], 0);
        assert!(q.is_empty());
    }

    #[test]
    fn dual_tone_is_detected_as_its_digit() {
        let mut det = codecs::dtmf::DtmfDetector::new();
        let mut g = DualTone::dtmf('7').unwrap();
        let mut f = [0i16; FRAME_SAMPLES];
        for _ in 0..10 {
            f.fill(0);
            g.add_to(&mut f);
            det.process(&f);
        }
        det.process(&[0; 800]);
        let mut got = None;
        while let Some(e) = det.poll() {
            got.get_or_insert(e.digit);
        }
        assert_eq!(got, Some('7'));
    }
}
