//! RFC 2198 redundant audio data (`red/8000`): a validated zero-copy view of a RED payload,
//! the value type and its emitter.
//!
//! A RED payload is a list of block headers followed by the blocks' data in the same order.
//! Every header but the last is 4 bytes: F=1, the block's payload type (7 bits), its timestamp
//! offset below the packet's (14 bits) and its length (10 bits). The last header is one byte,
//! F=0 and the payload type of the primary block, whose data runs to the end of the payload
//! and whose timestamp is the RTP header's. Redundant blocks come first, oldest first.

use heapless::Vec as HVec;

/// Largest timestamp offset a block header can express (14 bits).
pub const MAX_TIMESTAMP_OFFSET: u16 = 0x3fff;
/// Longest redundant block a header can express (10 bits).
pub const MAX_BLOCK_LEN: usize = 0x3ff;
/// Redundant blocks a [`RedundantAudio`] value holds at most.
pub const MAX_REDUNDANT_BLOCKS: usize = 4;
/// Length of a redundant block's header.
pub const REDUNDANT_HEADER_LEN: usize = 4;
/// Length of the primary block's header.
pub const PRIMARY_HEADER_LEN: usize = 1;

/// What was wrong with a RED payload or with a request to write one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedError {
    /// The payload has no byte at all (not even the primary block's header).
    Empty,
    /// Block header `block` (0-based) runs past the end of the payload of `len` bytes: the
    /// 1-byte primary header is missing or a 4-byte header is cut.
    HeaderOverrun { block: usize, len: usize },
    /// The redundant blocks' lengths add up past the end of the payload.
    BlockOverrun { needed: usize, len: usize },
    /// More redundant blocks than a value holds.
    TooManyBlocks { max: usize },
    /// Writing: payload type above 127.
    BadPayloadType { payload_type: u8 },
    /// Writing: timestamp offset above 14 bits.
    OffsetTooLarge { offset: u32 },
    /// Writing: redundant block longer than 10 bits can say.
    BlockTooLong { len: usize },
    /// Writing: the output buffer cannot hold the payload.
    BufferTooSmall { needed: usize, capacity: usize },
}

impl core::fmt::Display for RedError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RedError::Empty => write!(f, "RED payload is empty"),
            RedError::HeaderOverrun { block, len } => {
                write!(f, "RED block header {block} runs past the {len}-byte payload")
            }
            RedError::BlockOverrun { needed, len } => {
                write!(f, "RED blocks need {needed} bytes, payload has {len}")
            }
            RedError::TooManyBlocks { max } => write!(f, "more than {max} redundant RED blocks"),
            RedError::BadPayloadType { payload_type } => {
                write!(f, "RED block payload type {payload_type} above 127")
            }
            RedError::OffsetTooLarge { offset } => {
                write!(f, "RED timestamp offset {offset} above 16383")
            }
            RedError::BlockTooLong { len } => write!(f, "RED block of {len} bytes above 1023"),
            RedError::BufferTooSmall { needed, capacity } => {
                write!(f, "RED payload needs {needed} bytes, buffer holds {capacity}")
            }
        }
    }
}

impl std::error::Error for RedError {}

/// One block of a RED payload. The primary block has offset 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedBlock<'a> {
    pub payload_type: u8,
    /// How far the block's timestamp lies before the packet's.
    pub timestamp_offset: u16,
    pub data: &'a [u8],
}

impl RedBlock<'_> {
    /// The block's RTP timestamp, given the packet's.
    pub fn timestamp(&self, packet_timestamp: u32) -> u32 {
        packet_timestamp.wrapping_sub(u32::from(self.timestamp_offset))
    }

    fn check(&self) -> Result<(), RedError> {
        if self.payload_type > 127 {
            return Err(RedError::BadPayloadType {
                payload_type: self.payload_type,
            });
        }
        if self.timestamp_offset > MAX_TIMESTAMP_OFFSET {
            return Err(RedError::OffsetTooLarge {
                offset: u32::from(self.timestamp_offset),
            });
        }
        if self.data.len() > MAX_BLOCK_LEN {
            return Err(RedError::BlockTooLong { len: self.data.len() });
        }
        Ok(())
    }
}

/// A validated zero-copy view of a RED payload. Every accessor is infallible once `parse`
/// succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedPayload<'a> {
    buf: &'a [u8],
    /// Number of redundant blocks.
    redundant: usize,
    /// Length of all block headers (where the first block's data starts).
    headers_len: usize,
    /// Where the primary block's data starts.
    primary_at: usize,
}

impl<'a> RedPayload<'a> {
    /// Validates the block headers and lengths against the length of `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RedError> {
        let len = buf.len();
        if len == 0 {
            return Err(RedError::Empty);
        }
        let mut at = 0;
        let mut redundant = 0;
        let mut data_len = 0usize;
        loop {
            let Some(&b) = buf.get(at) else {
                return Err(RedError::HeaderOverrun {
                    block: redundant,
                    len,
                });
            };
            if b & 0x80 == 0 {
                at += PRIMARY_HEADER_LEN;
                break;
            }
            if at + REDUNDANT_HEADER_LEN > len {
                return Err(RedError::HeaderOverrun {
                    block: redundant,
                    len,
                });
            }
            data_len += block_len(&buf[at..]);
            at += REDUNDANT_HEADER_LEN;
            redundant += 1;
        }
        let primary_at = at + data_len;
        if primary_at > len {
            return Err(RedError::BlockOverrun {
                needed: primary_at,
                len,
            });
        }
        Ok(RedPayload {
            buf,
            redundant,
            headers_len: at,
            primary_at,
        })
    }

    /// Number of redundant blocks (0 for a packet that carries only its primary).
    pub fn redundant_count(&self) -> usize {
        self.redundant
    }

    /// The redundant blocks in payload order (oldest first, as senders put them).
    pub fn redundant(&self) -> RedundantBlocks<'a> {
        RedundantBlocks {
            buf: self.buf,
            header_at: 0,
            data_at: self.headers_len,
            left: self.redundant,
        }
    }

    /// The primary block: its data runs to the end of the payload, offset 0.
    pub fn primary(&self) -> RedBlock<'a> {
        RedBlock {
            payload_type: self.buf[self.headers_len - 1] & 0x7f,
            timestamp_offset: 0,
            data: &self.buf[self.primary_at..],
        }
    }

    /// The payload as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The owned value (fails only when there are more redundant blocks than it holds).
    pub fn to_value(&self) -> Result<RedundantAudio<'a>, RedError> {
        let mut v = RedundantAudio::new(self.primary().payload_type, self.primary().data)?;
        for b in self.redundant() {
            v.push_redundant(b)?;
        }
        Ok(v)
    }
}

fn block_len(h: &[u8]) -> usize {
    usize::from(h[2] & 0x03) << 8 | usize::from(h[3])
}

/// Iterator over the redundant blocks of a [`RedPayload`].
#[derive(Debug, Clone)]
pub struct RedundantBlocks<'a> {
    buf: &'a [u8],
    header_at: usize,
    data_at: usize,
    left: usize,
}

impl<'a> Iterator for RedundantBlocks<'a> {
    type Item = RedBlock<'a>;

    fn next(&mut self) -> Option<RedBlock<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let h = &self.buf[self.header_at..self.header_at + REDUNDANT_HEADER_LEN];
        let len = block_len(h);
        let block = RedBlock {
            payload_type: h[0] & 0x7f,
            timestamp_offset: (u16::from(h[1]) << 6) | u16::from(h[2] >> 2),
            data: &self.buf[self.data_at..self.data_at + len],
        };
        self.header_at += REDUNDANT_HEADER_LEN;
        self.data_at += len;
        Some(block)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// A RED payload to send, or a received one as a value: the primary block and up to
/// [`MAX_REDUNDANT_BLOCKS`] redundant ones, each checked against what its header can say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedundantAudio<'a> {
    primary_pt: u8,
    primary: &'a [u8],
    redundant: HVec<RedBlock<'a>, MAX_REDUNDANT_BLOCKS>,
}

impl<'a> RedundantAudio<'a> {
    /// A payload with the primary block only.
    pub fn new(primary_pt: u8, primary: &'a [u8]) -> Result<Self, RedError> {
        if primary_pt > 127 {
            return Err(RedError::BadPayloadType {
                payload_type: primary_pt,
            });
        }
        Ok(RedundantAudio {
            primary_pt,
            primary,
            redundant: HVec::new(),
        })
    }

    /// Appends a redundant block (after those already there: push the oldest first).
    pub fn push_redundant(&mut self, block: RedBlock<'a>) -> Result<(), RedError> {
        block.check()?;
        self.redundant.push(block).map_err(|_| RedError::TooManyBlocks {
            max: MAX_REDUNDANT_BLOCKS,
        })
    }

    pub fn primary_payload_type(&self) -> u8 {
        self.primary_pt
    }
    pub fn primary(&self) -> &'a [u8] {
        self.primary
    }
    pub fn redundant(&self) -> &[RedBlock<'a>] {
        &self.redundant
    }

    /// Bytes the payload occupies.
    pub fn encoded_len(&self) -> usize {
        self.redundant
            .iter()
            .map(|b| REDUNDANT_HEADER_LEN + b.data.len())
            .sum::<usize>()
            + PRIMARY_HEADER_LEN
            + self.primary.len()
    }

    /// Writes the payload at the start of `out`; returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RedError> {
        let needed = self.encoded_len();
        if out.len() < needed {
            return Err(RedError::BufferTooSmall {
                needed,
                capacity: out.len(),
            });
        }
        let mut at = 0;
        for b in &self.redundant {
            let off = b.timestamp_offset;
            let len = b.data.len();
            out[at] = 0x80 | b.payload_type;
            out[at + 1] = (off >> 6) as u8;
            out[at + 2] = ((off & 0x3f) as u8) << 2 | (len >> 8) as u8;
            out[at + 3] = len as u8;
            at += REDUNDANT_HEADER_LEN;
        }
        out[at] = self.primary_pt;
        at += PRIMARY_HEADER_LEN;
        for b in &self.redundant {
            out[at..at + b.data.len()].copy_from_slice(b.data);
            at += b.data.len();
        }
        out[at..at + self.primary.len()].copy_from_slice(self.primary);
        Ok(at + self.primary.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_only() {
        let p = RedPayload::parse(&[0x00, 1, 2]).unwrap();
        assert_eq!(p.redundant_count(), 0);
        assert_eq!(p.primary().payload_type, 0);
        assert_eq!(p.primary().data, &[1, 2]);
    }

    #[test]
    fn cut_header_is_an_error() {
        assert_eq!(
            RedPayload::parse(&[0x80, 0, 0]),
            Err(RedError::HeaderOverrun { block: 0, len: 3 })
        );
        assert_eq!(
            RedPayload::parse(&[0x80, 0, 0, 0]),
            Err(RedError::HeaderOverrun { block: 1, len: 4 })
        );
    }
}
