//! RTP data packets (RFC 3550 section 5.1): a validated zero-copy view over received bytes and an
//! owned header that writes packets into a caller-provided buffer without allocating.

use heapless::Vec as HVec;

/// The only RTP version on the wire.
pub const RTP_VERSION: u8 = 2;
/// Fixed header length (without CSRCs and extension).
pub const RTP_FIXED_HEADER_LEN: usize = 12;
/// Largest CSRC count the 4-bit CC field can express.
pub const MAX_CSRCS: usize = 15;

/// What was wrong with an RTP packet or with a request to write one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Fewer bytes than the fixed 12-byte header.
    TooShort { len: usize },
    /// Version field other than 2.
    BadVersion { version: u8 },
    /// The CSRC list announced by CC runs past the end of the packet.
    CsrcOverrun { csrc_count: u8, len: usize },
    /// The header extension (X bit) runs past the end of the packet.
    ExtensionOverrun { needed: usize, len: usize },
    /// P bit set but the padding count is zero or larger than what follows the header.
    BadPadding { padding: u8, available: usize },
    /// Writing: the output buffer cannot hold the packet.
    BufferTooSmall { needed: usize, capacity: usize },
    /// Writing: extension data is not a whole number of 32-bit words (or exceeds 65535 words).
    BadExtensionLength { len: usize },
    /// Writing: payload type above 127.
    BadPayloadType { payload_type: u8 },
}

impl core::fmt::Display for RtpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RtpError::TooShort { len } => {
                write!(f, "RTP packet of {len} bytes is shorter than the 12-byte header")
            }
            RtpError::BadVersion { version } => write!(f, "RTP version {version}, expected 2"),
            RtpError::CsrcOverrun { csrc_count, len } => {
                write!(f, "RTP CSRC count {csrc_count} does not fit in {len} bytes")
            }
            RtpError::ExtensionOverrun { needed, len } => {
                write!(f, "RTP header extension needs {needed} bytes, packet has {len}")
            }
            RtpError::BadPadding { padding, available } => {
                write!(
                    f,
                    "RTP padding count {padding} invalid with {available} bytes after the header"
                )
            }
            RtpError::BufferTooSmall { needed, capacity } => {
                write!(f, "RTP packet needs {needed} bytes, buffer holds {capacity}")
            }
            RtpError::BadExtensionLength { len } => {
                write!(
                    f,
                    "RTP extension of {len} bytes is not a whole number of 32-bit words"
                )
            }
            RtpError::BadPayloadType { payload_type } => {
                write!(f, "RTP payload type {payload_type} above 127")
            }
        }
    }
}

impl std::error::Error for RtpError {}

/// The header extension of a packet (RFC 3550 5.3.1): profile-defined 16 bits and the data words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    pub profile: u16,
    /// Extension data, a multiple of 4 bytes.
    pub data: &'a [u8],
}

/// A validated view of one RTP packet. Every accessor is infallible once `parse` succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    header_len: usize,
    payload_end: usize,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> RtpPacket<'a> {
    /// Validates version, CSRC list, extension and padding against the length of `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let len = buf.len();
        if len < RTP_FIXED_HEADER_LEN {
            return Err(RtpError::TooShort { len });
        }
        let version = buf[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion { version });
        }
        let csrc_count = buf[0] & 0x0f;
        let mut header_len = RTP_FIXED_HEADER_LEN + 4 * csrc_count as usize;
        if header_len > len {
            return Err(RtpError::CsrcOverrun { csrc_count, len });
        }
        if buf[0] & 0x10 != 0 {
            if header_len + 4 > len {
                return Err(RtpError::ExtensionOverrun {
                    needed: header_len + 4,
                    len,
                });
            }
            let words = be16(buf, header_len + 2) as usize;
            let needed = header_len + 4 + 4 * words;
            if needed > len {
                return Err(RtpError::ExtensionOverrun { needed, len });
            }
            header_len = needed;
        }
        let mut payload_end = len;
        if buf[0] & 0x20 != 0 {
            let padding = buf[len - 1];
            let available = len - header_len;
            if padding == 0 || padding as usize > available {
                return Err(RtpError::BadPadding { padding, available });
            }
            payload_end = len - padding as usize;
        }
        Ok(RtpPacket {
            buf,
            header_len,
            payload_end,
        })
    }

    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }
    pub fn has_extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0f
    }
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }
    pub fn sequence(&self) -> u16 {
        be16(self.buf, 2)
    }
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }
    pub fn ssrc(&self) -> u32 {
        be32(self.buf, 8)
    }
    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let buf = self.buf;
        (0..self.csrc_count() as usize).map(move |i| be32(buf, 12 + 4 * i))
    }
    pub fn extension(&self) -> Option<RtpExtension<'a>> {
        if !self.has_extension() {
            return None;
        }
        let at = RTP_FIXED_HEADER_LEN + 4 * self.csrc_count() as usize;
        Some(RtpExtension {
            profile: be16(self.buf, at),
            data: &self.buf[at + 4..self.header_len],
        })
    }
    /// Header length including CSRCs and extension.
    pub fn header_len(&self) -> usize {
        self.header_len
    }
    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.payload_end]
    }
    /// Number of padding bytes at the end (0 without the P bit).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }
    /// The whole packet as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// The owned header (fixed fields and CSRCs; the extension stays in the view).
    pub fn header(&self) -> RtpHeader {
        let mut csrcs = HVec::new();
        for c in self.csrcs() {
            // Cannot fail: CC is 4 bits.
            let _ = csrcs.push(c);
        }
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence: self.sequence(),
            timestamp: self.timestamp(),
            ssrc: self.ssrc(),
            csrcs,
        }
    }
}

/// An owned RTP header: what a sender fills in for each packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrcs: HVec<u32, MAX_CSRCS>,
}

impl RtpHeader {
    /// A header without CSRCs.
    pub fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32, marker: bool) -> Self {
        RtpHeader {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs: HVec::new(),
        }
    }

    /// Bytes this header occupies with the given extension.
    pub fn encoded_len(&self, extension: Option<RtpExtension<'_>>) -> usize {
        RTP_FIXED_HEADER_LEN + 4 * self.csrcs.len() + extension.map_or(0, |e| 4 + e.data.len())
    }

    /// Writes the header (and extension) at the start of `out`; returns its length. The payload
    /// goes right after it, so an encoder can write straight into `out[len..]`.
    pub fn write_header(
        &self,
        extension: Option<RtpExtension<'_>>,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        self.write_header_padded(extension, false, out)
    }

    fn write_header_padded(
        &self,
        extension: Option<RtpExtension<'_>>,
        padding: bool,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::BadPayloadType {
                payload_type: self.payload_type,
            });
        }
        if let Some(e) = extension
            && (e.data.len() % 4 != 0 || e.data.len() / 4 > u16::MAX as usize)
        {
            return Err(RtpError::BadExtensionLength { len: e.data.len() });
        }
        let len = self.encoded_len(extension);
        if out.len() < len {
            return Err(RtpError::BufferTooSmall {
                needed: len,
                capacity: out.len(),
            });
        }
        out[0] = (RTP_VERSION << 6)
            | if padding { 0x20 } else { 0 }
            | if extension.is_some() { 0x10 } else { 0 }
            | self.csrcs.len() as u8;
        out[1] = if self.marker { 0x80 } else { 0 } | self.payload_type;
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = RTP_FIXED_HEADER_LEN;
        for c in &self.csrcs {
            out[at..at + 4].copy_from_slice(&c.to_be_bytes());
            at += 4;
        }
        if let Some(e) = extension {
            out[at..at + 2].copy_from_slice(&e.profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((e.data.len() / 4) as u16).to_be_bytes());
            out[at + 4..at + 4 + e.data.len()].copy_from_slice(e.data);
            at += 4 + e.data.len();
        }
        Ok(at)
    }

    /// Writes a complete packet: header, extension, payload and `padding` bytes of padding
    /// (0 for none; the last padding byte holds the count as RFC 3550 requires).
    pub fn write_packet(
        &self,
        extension: Option<RtpExtension<'_>>,
        payload: &[u8],
        padding: u8,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let needed = self.encoded_len(extension) + payload.len() + padding as usize;
        if out.len() < needed {
            return Err(RtpError::BufferTooSmall {
                needed,
                capacity: out.len(),
            });
        }
        let at = self.write_header_padded(extension, padding > 0, out)?;
        out[at..at + payload.len()].copy_from_slice(payload);
        let end = at + payload.len();
        if padding > 0 {
            out[end..end + padding as usize - 1].fill(0);
            out[end + padding as usize - 1] = padding;
        }
        Ok(needed)
    }
}

/// Writes a packet whose payload is produced in place: `fill` gets the payload area and returns
/// how many bytes it wrote. Returns the total packet length.
pub fn write_with<F>(header: &RtpHeader, out: &mut [u8], fill: F) -> Result<usize, RtpError>
where
    F: FnOnce(&mut [u8]) -> usize,
{
    let at = header.write_header(None, out)?;
    let n = fill(&mut out[at..]);
    Ok(at + n.min(out.len() - at))
}

/// True when sequence number `a` is after `b` in modulo-2^16 order.
#[inline]
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// True when timestamp `a` is after `b` in modulo-2^32 order.
#[inline]
pub fn ts_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minimal_packet() {
        let b = [
            0x80, 0x00, 0x12, 0x34, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3,
        ];
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 160);
        assert_eq!(p.ssrc(), 0xdeadbeef);
        assert_eq!(p.payload(), &[1, 2, 3]);
        assert!(!p.marker());
    }

    #[test]
    fn rejects_zero_padding_count() {
        let b = [0xa0, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0];
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::BadPadding {
                padding: 0,
                available: 2
            })
        );
    }
}
