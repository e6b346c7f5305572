//! RFC 3389 comfort noise payloads (static payload type 13): noise level and optional
//! reflection coefficients describing the spectrum.

use heapless::Vec as HVec;

/// Static payload type of CN at 8 kHz (RFC 3551).
pub const CN_PAYLOAD_TYPE: u8 = 13;
/// Most spectral coefficients carried (RFC 3389 allows any model order; 10 is typical).
pub const MAX_CN_COEFFICIENTS: usize = 16;

/// What was wrong with a CN payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CnError {
    /// No noise level byte.
    Empty,
    /// Noise level byte with the reserved top bit set.
    BadLevel { byte: u8 },
    /// Writing: the buffer is too small.
    BufferTooSmall { needed: usize },
}

impl core::fmt::Display for CnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            CnError::Empty => write!(f, "empty comfort noise payload"),
            CnError::BadLevel { byte } => {
                write!(f, "comfort noise level byte {byte:#04x} has the reserved bit set")
            }
            CnError::BufferTooSmall { needed } => write!(f, "comfort noise needs {needed} bytes"),
        }
    }
}

impl std::error::Error for CnError {}

/// A validated zero-copy view of a CN payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComfortNoise<'a> {
    buf: &'a [u8],
}

impl<'a> ComfortNoise<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, CnError> {
        let &level = buf.first().ok_or(CnError::Empty)?;
        if level & 0x80 != 0 {
            return Err(CnError::BadLevel { byte: level });
        }
        Ok(ComfortNoise { buf })
    }
    /// Noise level in -dBov (0..=127): 0 is full scale, 127 is silence.
    pub fn level(&self) -> u8 {
        self.buf[0]
    }
    /// Quantized reflection coefficients (RFC 3389 section 4), possibly none.
    pub fn coefficients(&self) -> &'a [u8] {
        &self.buf[1..]
    }
    /// Level as a linear RMS amplitude relative to a 16-bit full-scale sine (-dBov to linear).
    pub fn rms_amplitude(&self) -> f32 {
        // 0 dBov is the RMS of a full-scale square wave: 32767.
        32767.0 * 10f32.powf(-(self.level() as f32) / 20.0)
    }
    /// Reflection coefficient `i` dequantized to -1.0..1.0 as `(q - 127) / 128`, the mapping
    /// common decoders use for the 8-bit values.
    pub fn reflection(&self, i: usize) -> Option<f32> {
        self.coefficients().get(i).map(|&q| (q as f32 - 127.0) / 128.0)
    }
    /// Owned copy.
    pub fn to_value(&self) -> ComfortNoiseValue {
        let n = self.coefficients().len().min(MAX_CN_COEFFICIENTS);
        ComfortNoiseValue {
            level: self.level(),
            coefficients: HVec::from_slice(&self.coefficients()[..n]).unwrap_or_default(),
        }
    }
}

/// An owned CN payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComfortNoiseValue {
    pub level: u8,
    pub coefficients: HVec<u8, MAX_CN_COEFFICIENTS>,
}

impl ComfortNoiseValue {
    pub fn write(&self, out: &mut [u8]) -> Result<usize, CnError> {
        if self.level & 0x80 != 0 {
            return Err(CnError::BadLevel { byte: self.level });
        }
        let needed = 1 + self.coefficients.len();
        if out.len() < needed {
            return Err(CnError::BufferTooSmall { needed });
        }
        out[0] = self.level;
        out[1..needed].copy_from_slice(&self.coefficients);
        Ok(needed)
    }
}
