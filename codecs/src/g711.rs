//! ITU-T G.711 A-law and µ-law companding, bit-exact with spandsp's `g711_encode`/`g711_decode`.
//!
//! Linear samples are full-scale 16-bit (the 13-bit A-law and 14-bit µ-law magnitudes of G.711
//! sit in the top bits, as every telephony stack and RTP peer expects).
//!
//! Every conversion is a single table lookup: the encoder tables are indexed directly by the
//! sample's bit pattern (µ-law, 64 KiB) or by its top 12 bits (A-law, 4 KiB, because A-law never
//! looks at the four lowest bits), the decoder tables by the code byte. The tables are computed at
//! compile time from the segment/quantiser definition of G.711 in [`ulaw_encode_reference`] and
//! friends, so the hot path has no branches, no bit scans and no allocation, and the media loop
//! can call the slice functions on each 10 or 20 ms frame.
//!
//! Choices that matter for interoperability (all as in G.711 and spandsp):
//! - µ-law: magnitude plus bias 0x84 (33 in 14-bit units), segment from the highest set bit,
//!   codes complemented on the wire; inputs beyond the top segment clip to 0x80/0x00. No "zero
//!   trap" (code 0x00 is sent, not replaced by 0x02).
//! - A-law: negative samples are encoded from their one's complement (`-x - 1`), so the
//!   quantiser is symmetric around -0.5; even bits inverted with 0x55 on the wire.
//! - Decoding returns the middle of each quantisation interval.

/// µ-law code of a zero sample (what an idle channel sends).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code of a zero sample (what an idle channel sends).
pub const ALAW_SILENCE: u8 = 0xD5;

/// µ-law bias added to the magnitude before the segment search (G.711, in 16-bit units).
const ULAW_BIAS: i32 = 0x84;
/// A-law alternate-mark inversion applied to even bits on the wire.
const ALAW_AMI_MASK: u8 = 0x55;

/// Which G.711 companding law a channel uses: PCMU (payload type 0) or PCMA (payload type 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// µ-law (North America, Japan), RTP PCMU.
    Ulaw,
    /// A-law (rest of the world), RTP PCMA.
    Alaw,
}

impl G711Law {
    /// Encodes one linear sample.
    #[inline(always)]
    pub fn encode_sample(self, x: i16) -> u8 {
        match self {
            G711Law::Ulaw => linear_to_ulaw(x),
            G711Law::Alaw => linear_to_alaw(x),
        }
    }

    /// Decodes one code byte.
    #[inline(always)]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            G711Law::Ulaw => ulaw_to_linear(code),
            G711Law::Alaw => alaw_to_linear(code),
        }
    }

    /// Encodes `min(pcm.len(), out.len())` samples and returns that count.
    #[inline]
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            G711Law::Ulaw => encode_ulaw(pcm, out),
            G711Law::Alaw => encode_alaw(pcm, out),
        }
    }

    /// Decodes `min(codes.len(), out.len())` bytes and returns that count.
    #[inline]
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        match self {
            G711Law::Ulaw => decode_ulaw(codes, out),
            G711Law::Alaw => decode_alaw(codes, out),
        }
    }

    /// The code of a zero sample, for filling silence.
    pub const fn silence(self) -> u8 {
        match self {
            G711Law::Ulaw => ULAW_SILENCE,
            G711Law::Alaw => ALAW_SILENCE,
        }
    }

    /// The static RTP payload type (RFC 3551).
    pub const fn payload_type(self) -> u8 {
        match self {
            G711Law::Ulaw => 0,
            G711Law::Alaw => 8,
        }
    }
}

/// Encodes one sample to µ-law.
#[inline(always)]
pub fn linear_to_ulaw(x: i16) -> u8 {
    // The index is a u16, the table has 65536 entries: no bounds check is emitted.
    ULAW_ENCODE[x as u16 as usize]
}

/// Encodes one sample to A-law.
#[inline(always)]
pub fn linear_to_alaw(x: i16) -> u8 {
    // A-law's finest step is 16 in 16-bit units, so only the top 12 bits select the code.
    ALAW_ENCODE[((x >> 4) as u16 & 0x0FFF) as usize]
}

/// Decodes one µ-law byte.
#[inline(always)]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Decodes one A-law byte.
#[inline(always)]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encodes `min(pcm.len(), out.len())` samples to µ-law; returns that count.
#[inline]
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &x) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = linear_to_ulaw(x);
    }
    n
}

/// Encodes `min(pcm.len(), out.len())` samples to A-law; returns that count.
#[inline]
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &x) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = linear_to_alaw(x);
    }
    n
}

/// Decodes `min(codes.len(), out.len())` µ-law bytes; returns that count.
#[inline]
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = ulaw_to_linear(c);
    }
    n
}

/// Decodes `min(codes.len(), out.len())` A-law bytes; returns that count.
#[inline]
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = alaw_to_linear(c);
    }
    n
}

/// Index of the highest set bit of a positive value.
const fn top_bit(v: i32) -> i32 {
    31 - v.leading_zeros() as i32
}

/// µ-law encoder written out from the G.711 segment definition; the lookup tables are built from
/// it at compile time. Public so tests and tools can check the tables against it.
pub const fn ulaw_encode_reference(x: i16) -> u8 {
    let x = x as i32;
    let (biased, mask) = if x >= 0 {
        (ULAW_BIAS + x, 0xFF)
    } else {
        (ULAW_BIAS - x, 0x7F)
    };
    // Segment 0 covers biased magnitudes below 0x100; each further segment doubles the range.
    let seg = top_bit(biased | 0xFF) - 7;
    if seg >= 8 {
        // Beyond the top segment: clip to the largest magnitude.
        return 0x7F ^ mask;
    }
    ((seg << 4) as u8 | ((biased >> (seg + 3)) & 0x0F) as u8) ^ mask
}

/// µ-law decoder from the G.711 definition (middle of the quantisation interval).
pub const fn ulaw_decode_reference(code: u8) -> i16 {
    let u = !code;
    let t = ((((u & 0x0F) as i32) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

/// A-law encoder from the G.711 segment definition.
pub const fn alaw_encode_reference(x: i16) -> u8 {
    let x = x as i32;
    // Negative values use the one's complement so that -1..-16 share a code with 0..15 mirrored.
    let (mag, mask) = if x >= 0 {
        (x, 0x80 | ALAW_AMI_MASK)
    } else {
        (-x - 1, ALAW_AMI_MASK)
    };
    let seg = top_bit(mag | 0xFF) - 7;
    // A 16-bit magnitude reaches at most segment 7: A-law needs no clipping branch.
    let shift = if seg == 0 { 4 } else { seg + 3 };
    ((seg << 4) as u8 | ((mag >> shift) & 0x0F) as u8) ^ mask
}

/// A-law decoder from the G.711 definition (middle of the quantisation interval).
pub const fn alaw_decode_reference(code: u8) -> i16 {
    let a = code ^ ALAW_AMI_MASK;
    let mut i = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    if seg != 0 {
        i = (i + 0x108) << (seg - 1);
    } else {
        i += 8;
    }
    if a & 0x80 != 0 { i as i16 } else { -i as i16 }
}

static ULAW_ENCODE: [u8; 65536] = {
    let mut t = [0u8; 65536];
    let mut i = 0;
    while i < 65536 {
        t[i] = ulaw_encode_reference(i as u16 as i16);
        i += 1;
    }
    t
};

static ALAW_ENCODE: [u8; 4096] = {
    let mut t = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        // Entry i is the code of the samples whose top 12 bits are i.
        t[i] = alaw_encode_reference(((i as u16) << 4) as i16);
        i += 1;
    }
    t
};

static ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_reference(i as u8);
        i += 1;
    }
    t
};

static ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_reference(i as u8);
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_definition() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(x), ulaw_encode_reference(x), "ulaw {x}");
            assert_eq!(linear_to_alaw(x), alaw_encode_reference(x), "alaw {x}");
        }
        for c in 0..=255u8 {
            assert_eq!(ulaw_to_linear(c), ulaw_decode_reference(c));
            assert_eq!(alaw_to_linear(c), alaw_decode_reference(c));
        }
    }

    #[test]
    fn silence_and_extremes() {
        assert_eq!(linear_to_ulaw(0), ULAW_SILENCE);
        assert_eq!(linear_to_alaw(0), ALAW_SILENCE);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn decode_encode_is_identity_on_codes() {
        // Every decoded level is the centre of its interval, so it re-encodes to the same code
        // (µ-law has two zero codes, 0x7F and 0xFF, which both decode to 0).
        for c in 0..=255u8 {
            let u = linear_to_ulaw(ulaw_to_linear(c));
            assert!(u == c || (c == 0x7F && u == 0xFF), "ulaw {c:#x} -> {u:#x}");
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#x}");
        }
    }

    #[test]
    fn slices_stop_at_shorter() {
        let pcm = [0i16, 1000, -1000];
        let mut out = [0u8; 2];
        assert_eq!(G711Law::Alaw.encode(&pcm, &mut out), 2);
        let mut back = [0i16; 5];
        assert_eq!(G711Law::Alaw.decode(&out, &mut back), 2);
        assert_eq!(back[0], 8);
    }
}
