//! RTCP (RFC 3550 section 6): compound packet views (SR, RR, SDES, BYE, APP and unknown types),
//! owned value types and an emitter writing compound packets into a caller buffer.

use core::time::Duration;
use heapless::Vec as HVec;

pub const RTCP_SR: u8 = 200;
pub const RTCP_RR: u8 = 201;
pub const RTCP_SDES: u8 = 202;
pub const RTCP_BYE: u8 = 203;
pub const RTCP_APP: u8 = 204;

/// SDES item types (RFC 3550 6.5).
pub const SDES_END: u8 = 0;
pub const SDES_CNAME: u8 = 1;

/// Largest report/source count the 5-bit RC/SC field can express.
pub const MAX_REPORT_BLOCKS: usize = 31;
const REPORT_BLOCK_LEN: usize = 24;

/// What was wrong with an RTCP compound packet (offsets are from the start of the datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpError {
    /// An empty datagram.
    Empty,
    /// Fewer than 4 bytes left for a common header at `offset`.
    TooShort { offset: usize, len: usize },
    /// Version other than 2.
    BadVersion { offset: usize, version: u8 },
    /// The length field announces more bytes than remain.
    LengthOverrun {
        offset: usize,
        declared: usize,
        available: usize,
    },
    /// The P bit is set on a packet that is not the last of the compound.
    PaddingNotLast { offset: usize },
    /// The padding count is zero or larger than the packet.
    BadPadding { offset: usize, padding: u8 },
    /// SR/RR body shorter than its fixed part plus RC report blocks.
    ReportOverrun { offset: usize, count: u8 },
    /// An SDES chunk or item runs past the end of the packet.
    SdesOverrun { offset: usize },
    /// BYE source list or reason runs past the end of the packet.
    ByeOverrun { offset: usize },
    /// APP packet shorter than SSRC + name.
    AppTooShort { offset: usize },
    /// Writing: the output buffer cannot hold the packet.
    BufferTooSmall { needed: usize, capacity: usize },
    /// Writing: a list is longer than the format can carry (31 blocks/sources, 255-byte text).
    TooLong { what: &'static str },
}

impl core::fmt::Display for RtcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RtcpError::Empty => write!(f, "empty RTCP datagram"),
            RtcpError::TooShort { offset, len } => {
                write!(f, "RTCP header at {offset} truncated ({len} bytes)")
            }
            RtcpError::BadVersion { offset, version } => write!(f, "RTCP version {version} at {offset}"),
            RtcpError::LengthOverrun {
                offset,
                declared,
                available,
            } => write!(
                f,
                "RTCP packet at {offset} declares {declared} bytes, {available} available"
            ),
            RtcpError::PaddingNotLast { offset } => write!(f, "RTCP padding on non-last packet at {offset}"),
            RtcpError::BadPadding { offset, padding } => {
                write!(f, "RTCP padding {padding} invalid at {offset}")
            }
            RtcpError::ReportOverrun { offset, count } => {
                write!(f, "RTCP report at {offset} too short for {count} blocks")
            }
            RtcpError::SdesOverrun { offset } => write!(f, "RTCP SDES at {offset} overruns its packet"),
            RtcpError::ByeOverrun { offset } => write!(f, "RTCP BYE at {offset} overruns its packet"),
            RtcpError::AppTooShort { offset } => write!(f, "RTCP APP at {offset} too short"),
            RtcpError::BufferTooSmall { needed, capacity } => {
                write!(f, "RTCP needs {needed} bytes, buffer holds {capacity}")
            }
            RtcpError::TooLong { what } => write!(f, "RTCP {what} too long for the format"),
        }
    }
}

impl std::error::Error for RtcpError {}

/// A 64-bit NTP timestamp (seconds since 1900 in the high 32 bits, fraction in the low 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct NtpTimestamp(pub u64);

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
pub const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

impl NtpTimestamp {
    /// From a time since the Unix epoch.
    pub fn from_unix(since_epoch: Duration) -> Self {
        let secs = since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET_SECS);
        let frac = ((since_epoch.subsec_nanos() as u64) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }
    /// The middle 32 bits, as carried in LSR and used for round-trip computation.
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
    /// Adds a duration.
    pub fn plus(self, d: Duration) -> Self {
        let units = (d.as_secs() << 32) + (((d.subsec_nanos() as u64) << 32) / 1_000_000_000);
        NtpTimestamp(self.0.wrapping_add(units))
    }
}

/// Converts a duration to the 1/65536 s units of DLSR (saturating).
pub fn duration_to_dlsr(d: Duration) -> u32 {
    let v = d.as_secs().saturating_mul(65536) + (d.subsec_nanos() as u64 * 65536) / 1_000_000_000;
    v.min(u32::MAX as u64) as u32
}

/// Round-trip time from a report block (RFC 3550 6.4.1): `arrival - LSR - DLSR`, all in middle-32
/// NTP units. `None` when the peer has not yet received an SR from us (LSR = 0).
pub fn round_trip(arrival_middle32: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let since_lsr = arrival_middle32.wrapping_sub(lsr);
    // A DLSR larger than the elapsed time means clock skew on the peer: report zero.
    let rtt = since_lsr.saturating_sub(dlsr);
    if since_lsr > 0x8000_0000 {
        return None;
    }
    Some(Duration::from_nanos(rtt as u64 * 1_000_000_000 / 65536))
}

/// One reception report block (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, 24-bit signed (duplicates can make it negative).
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from this source (0 if none).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Self {
        let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }
    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0x00ff_ffff;
        out[4] = self.fraction_lost;
        out[5..8].copy_from_slice(&lost.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// Sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    pub ntp: NtpTimestamp,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A validated SR or RR view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportView<'a> {
    /// The packet without padding, starting at the common header.
    pkt: &'a [u8],
    sender: bool,
}

impl<'a> ReportView<'a> {
    pub fn ssrc(&self) -> u32 {
        be32(self.pkt, 4)
    }
    /// Sender info (SR only).
    pub fn sender_info(&self) -> Option<SenderInfo> {
        self.sender.then(|| SenderInfo {
            ntp: NtpTimestamp(((be32(self.pkt, 8) as u64) << 32) | be32(self.pkt, 12) as u64),
            rtp_timestamp: be32(self.pkt, 16),
            packet_count: be32(self.pkt, 20),
            octet_count: be32(self.pkt, 24),
        })
    }
    pub fn report_count(&self) -> u8 {
        self.pkt[0] & 0x1f
    }
    pub fn blocks(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        let start = if self.sender { 28 } else { 8 };
        let pkt = self.pkt;
        (0..self.report_count() as usize)
            .map(move |i| ReportBlock::read(&pkt[start + i * REPORT_BLOCK_LEN..]))
    }
    /// Profile-specific extension bytes after the report blocks.
    pub fn profile_extension(&self) -> &'a [u8] {
        let start = if self.sender { 28 } else { 8 } + self.report_count() as usize * REPORT_BLOCK_LEN;
        &self.pkt[start..]
    }
}

/// One SDES item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    pub kind: u8,
    pub text: &'a [u8],
}

/// A validated SDES view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesView<'a> {
    pkt: &'a [u8],
}

impl<'a> SdesView<'a> {
    /// Chunks as (SSRC/CSRC, items).
    pub fn chunks(&self) -> impl Iterator<Item = (u32, SdesItems<'a>)> + 'a {
        let pkt = self.pkt;
        let count = (pkt[0] & 0x1f) as usize;
        let mut at = 4;
        (0..count).map(move |_| {
            let ssrc = be32(pkt, at);
            let items_start = at + 4;
            // Validation guaranteed the walk stays in bounds.
            let end = sdes_chunk_end(pkt, items_start).unwrap_or(pkt.len());
            at = end;
            (
                ssrc,
                SdesItems {
                    buf: pkt,
                    at: items_start,
                },
            )
        })
    }
    /// The CNAME of the first chunk that has one.
    pub fn cname(&self) -> Option<(u32, &'a [u8])> {
        self.chunks()
            .find_map(|(ssrc, mut items)| items.find(|i| i.kind == SDES_CNAME).map(|i| (ssrc, i.text)))
    }
}

/// Iterator over the items of one SDES chunk.
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;
    fn next(&mut self) -> Option<SdesItem<'a>> {
        let kind = *self.buf.get(self.at)?;
        if kind == SDES_END {
            return None;
        }
        let len = *self.buf.get(self.at + 1)? as usize;
        let text = self.buf.get(self.at + 2..self.at + 2 + len)?;
        self.at += 2 + len;
        Some(SdesItem { kind, text })
    }
}

/// Returns the offset just past the chunk whose items start at `at` (after the null terminator
/// and padding to a 32-bit boundary), or None if it overruns.
fn sdes_chunk_end(pkt: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let kind = *pkt.get(at)?;
        if kind == SDES_END {
            // Null item then pad to the next multiple of 4.
            let end = (at + 4) & !3;
            return (end <= pkt.len()).then_some(end);
        }
        let len = *pkt.get(at + 1)? as usize;
        at += 2 + len;
        if at > pkt.len() {
            return None;
        }
    }
}

/// A validated BYE view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByeView<'a> {
    pkt: &'a [u8],
}

impl<'a> ByeView<'a> {
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let pkt = self.pkt;
        (0..(pkt[0] & 0x1f) as usize).map(move |i| be32(pkt, 4 + 4 * i))
    }
    pub fn reason(&self) -> Option<&'a [u8]> {
        let at = 4 + 4 * (self.pkt[0] & 0x1f) as usize;
        let len = *self.pkt.get(at)? as usize;
        self.pkt.get(at + 1..at + 1 + len)
    }
}

/// One packet of a compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    SenderReport(ReportView<'a>),
    ReceiverReport(ReportView<'a>),
    Sdes(SdesView<'a>),
    Bye(ByeView<'a>),
    /// APP: subtype, SSRC, 4-byte name, data.
    App {
        subtype: u8,
        ssrc: u32,
        name: [u8; 4],
        data: &'a [u8],
    },
    /// Types this stack does not interpret (XR, feedback...), kept for the caller.
    Other {
        packet_type: u8,
        count: u8,
        body: &'a [u8],
    },
}

/// A validated compound RTCP packet; iterate with [`RtcpCompound::packets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpCompound<'a> {
    buf: &'a [u8],
}

impl<'a> RtcpCompound<'a> {
    /// Validates every packet of the datagram. Non-compound (reduced-size, RFC 5506) datagrams
    /// are accepted; [`RtcpCompound::starts_with_report`] tells if it is RFC 3550 compliant.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtcpError> {
        if buf.is_empty() {
            return Err(RtcpError::Empty);
        }
        let mut at = 0;
        while at < buf.len() {
            let rest = &buf[at..];
            if rest.len() < 4 {
                return Err(RtcpError::TooShort {
                    offset: at,
                    len: rest.len(),
                });
            }
            let version = rest[0] >> 6;
            if version != 2 {
                return Err(RtcpError::BadVersion { offset: at, version });
            }
            let declared = (be16(rest, 2) as usize + 1) * 4;
            if declared > rest.len() {
                return Err(RtcpError::LengthOverrun {
                    offset: at,
                    declared,
                    available: rest.len(),
                });
            }
            let mut pkt = &rest[..declared];
            if rest[0] & 0x20 != 0 {
                if declared != rest.len() {
                    return Err(RtcpError::PaddingNotLast { offset: at });
                }
                let padding = pkt[declared - 1];
                if padding == 0 || padding as usize > declared - 4 {
                    return Err(RtcpError::BadPadding { offset: at, padding });
                }
                pkt = &pkt[..declared - padding as usize];
            }
            Self::validate_one(pkt, at)?;
            at += declared;
        }
        Ok(RtcpCompound { buf })
    }

    fn validate_one(pkt: &[u8], offset: usize) -> Result<(), RtcpError> {
        let count = pkt[0] & 0x1f;
        match pkt[1] {
            RTCP_SR | RTCP_RR => {
                let fixed = if pkt[1] == RTCP_SR { 28 } else { 8 };
                if pkt.len() < fixed + count as usize * REPORT_BLOCK_LEN {
                    return Err(RtcpError::ReportOverrun { offset, count });
                }
            }
            RTCP_SDES => {
                let mut at = 4;
                for _ in 0..count {
                    if at + 4 > pkt.len() {
                        return Err(RtcpError::SdesOverrun { offset });
                    }
                    at = sdes_chunk_end(pkt, at + 4).ok_or(RtcpError::SdesOverrun { offset })?;
                }
            }
            RTCP_BYE => {
                let at = 4 + 4 * count as usize;
                if at > pkt.len() {
                    return Err(RtcpError::ByeOverrun { offset });
                }
                if at < pkt.len() && at + 1 + pkt[at] as usize > pkt.len() {
                    return Err(RtcpError::ByeOverrun { offset });
                }
            }
            RTCP_APP if pkt.len() < 12 => return Err(RtcpError::AppTooShort { offset }),
            _ => {}
        }
        Ok(())
    }

    /// True when the first packet is an SR or RR, as RFC 3550 requires of a compound packet.
    pub fn starts_with_report(&self) -> bool {
        matches!(self.buf[1], RTCP_SR | RTCP_RR)
    }

    /// The packets in order.
    pub fn packets(&self) -> impl Iterator<Item = RtcpPacket<'a>> + 'a {
        let buf = self.buf;
        let mut at = 0;
        core::iter::from_fn(move || {
            if at >= buf.len() {
                return None;
            }
            let rest = &buf[at..];
            let declared = (be16(rest, 2) as usize + 1) * 4;
            let mut pkt = &rest[..declared];
            if rest[0] & 0x20 != 0 {
                pkt = &pkt[..declared - pkt[declared - 1] as usize];
            }
            at += declared;
            let count = pkt[0] & 0x1f;
            Some(match pkt[1] {
                RTCP_SR => RtcpPacket::SenderReport(ReportView { pkt, sender: true }),
                RTCP_RR => RtcpPacket::ReceiverReport(ReportView { pkt, sender: false }),
                RTCP_SDES => RtcpPacket::Sdes(SdesView { pkt }),
                RTCP_BYE => RtcpPacket::Bye(ByeView { pkt }),
                RTCP_APP => RtcpPacket::App {
                    subtype: count,
                    ssrc: be32(pkt, 4),
                    name: [pkt[8], pkt[9], pkt[10], pkt[11]],
                    data: &pkt[12..],
                },
                packet_type => RtcpPacket::Other {
                    packet_type,
                    count,
                    body: &pkt[4..],
                },
            })
        })
    }
}

/// Owned SR.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    pub ssrc: u32,
    pub info: SenderInfo,
    pub blocks: HVec<ReportBlock, MAX_REPORT_BLOCKS>,
}

/// Owned RR.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    pub ssrc: u32,
    pub blocks: HVec<ReportBlock, MAX_REPORT_BLOCKS>,
}

/// Owned SDES chunk carrying a CNAME (the only item this stack sends).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SdesCname {
    pub ssrc: u32,
    pub cname: HVec<u8, 255>,
}

/// Owned BYE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bye {
    pub ssrcs: HVec<u32, MAX_REPORT_BLOCKS>,
    pub reason: Option<HVec<u8, 255>>,
}

/// An owned RTCP packet of the kinds this stack sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpValue {
    Sr(SenderReport),
    Rr(ReceiverReport),
    Sdes(SdesCname),
    Bye(Bye),
}

impl<'a> RtcpPacket<'a> {
    /// Converts to an owned value when this is SR, RR, a single-chunk CNAME SDES, or BYE.
    pub fn to_value(&self) -> Option<RtcpValue> {
        Some(match self {
            RtcpPacket::SenderReport(v) => RtcpValue::Sr(SenderReport {
                ssrc: v.ssrc(),
                info: v.sender_info()?,
                blocks: v.blocks().collect(),
            }),
            RtcpPacket::ReceiverReport(v) => RtcpValue::Rr(ReceiverReport {
                ssrc: v.ssrc(),
                blocks: v.blocks().collect(),
            }),
            RtcpPacket::Sdes(v) => {
                let (ssrc, cname) = v.cname()?;
                RtcpValue::Sdes(SdesCname {
                    ssrc,
                    cname: HVec::from_slice(cname).ok()?,
                })
            }
            RtcpPacket::Bye(v) => RtcpValue::Bye(Bye {
                ssrcs: v.ssrcs().collect(),
                reason: match v.reason() {
                    Some(r) => Some(HVec::from_slice(r).ok()?),
                    None => None,
                },
            }),
            _ => return None,
        })
    }
}

/// Appends RTCP packets to a caller buffer, forming one compound datagram.
pub struct RtcpWriter<'b> {
    out: &'b mut [u8],
    len: usize,
}

impl<'b> RtcpWriter<'b> {
    pub fn new(out: &'b mut [u8]) -> Self {
        RtcpWriter { out, len: 0 }
    }

    fn reserve(&mut self, n: usize) -> Result<&mut [u8], RtcpError> {
        let needed = self.len + n;
        if needed > self.out.len() {
            return Err(RtcpError::BufferTooSmall {
                needed,
                capacity: self.out.len(),
            });
        }
        let s = &mut self.out[self.len..needed];
        self.len = needed;
        Ok(s)
    }

    fn header(b: &mut [u8], count: u8, pt: u8, total_len: usize) {
        b[0] = 0x80 | count;
        b[1] = pt;
        b[2..4].copy_from_slice(&((total_len / 4 - 1) as u16).to_be_bytes());
    }

    pub fn sender_report(&mut self, sr: &SenderReport) -> Result<(), RtcpError> {
        let n = 28 + sr.blocks.len() * REPORT_BLOCK_LEN;
        let b = self.reserve(n)?;
        Self::header(b, sr.blocks.len() as u8, RTCP_SR, n);
        b[4..8].copy_from_slice(&sr.ssrc.to_be_bytes());
        b[8..16].copy_from_slice(&sr.info.ntp.0.to_be_bytes());
        b[16..20].copy_from_slice(&sr.info.rtp_timestamp.to_be_bytes());
        b[20..24].copy_from_slice(&sr.info.packet_count.to_be_bytes());
        b[24..28].copy_from_slice(&sr.info.octet_count.to_be_bytes());
        for (i, blk) in sr.blocks.iter().enumerate() {
            blk.write(&mut b[28 + i * REPORT_BLOCK_LEN..]);
        }
        Ok(())
    }

    pub fn receiver_report(&mut self, rr: &ReceiverReport) -> Result<(), RtcpError> {
        let n = 8 + rr.blocks.len() * REPORT_BLOCK_LEN;
        let b = self.reserve(n)?;
        Self::header(b, rr.blocks.len() as u8, RTCP_RR, n);
        b[4..8].copy_from_slice(&rr.ssrc.to_be_bytes());
        for (i, blk) in rr.blocks.iter().enumerate() {
            blk.write(&mut b[8 + i * REPORT_BLOCK_LEN..]);
        }
        Ok(())
    }

    /// One SDES chunk with a CNAME item.
    pub fn sdes_cname(&mut self, ssrc: u32, cname: &[u8]) -> Result<(), RtcpError> {
        if cname.len() > 255 {
            return Err(RtcpError::TooLong { what: "CNAME" });
        }
        // header + ssrc + type + len + text + at least one null, padded to 4.
        let n = (4 + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
        let b = self.reserve(n)?;
        Self::header(b, 1, RTCP_SDES, n);
        b[4..8].copy_from_slice(&ssrc.to_be_bytes());
        b[8] = SDES_CNAME;
        b[9] = cname.len() as u8;
        b[10..10 + cname.len()].copy_from_slice(cname);
        b[10 + cname.len()..].fill(0);
        Ok(())
    }

    pub fn bye(&mut self, ssrcs: &[u32], reason: Option<&[u8]>) -> Result<(), RtcpError> {
        if ssrcs.len() > MAX_REPORT_BLOCKS {
            return Err(RtcpError::TooLong {
                what: "BYE source list",
            });
        }
        if reason.is_some_and(|r| r.len() > 255) {
            return Err(RtcpError::TooLong { what: "BYE reason" });
        }
        let reason_len = reason.map_or(0, |r| (1 + r.len()).div_ceil(4) * 4);
        let n = 4 + 4 * ssrcs.len() + reason_len;
        let b = self.reserve(n)?;
        Self::header(b, ssrcs.len() as u8, RTCP_BYE, n);
        for (i, s) in ssrcs.iter().enumerate() {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&s.to_be_bytes());
        }
        if let Some(r) = reason {
            let at = 4 + 4 * ssrcs.len();
            b[at] = r.len() as u8;
            b[at + 1..at + 1 + r.len()].copy_from_slice(r);
            b[at + 1 + r.len()..].fill(0);
        }
        Ok(())
    }

    pub fn write(&mut self, v: &RtcpValue) -> Result<(), RtcpError> {
        match v {
            RtcpValue::Sr(sr) => self.sender_report(sr),
            RtcpValue::Rr(rr) => self.receiver_report(rr),
            RtcpValue::Sdes(s) => self.sdes_cname(s.ssrc, &s.cname),
            RtcpValue::Bye(b) => self.bye(&b.ssrcs, b.reason.as_deref()),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Ends the compound and returns its length.
    pub fn finish(self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_matches_rfc3550_example_units() {
        // RFC 3550 6.4.1 example: A=0xb710:8000, LSR=0xb705:2000, DLSR=0x0005:4000 -> 0x0006:2000 (6.125 s).
        let rtt = round_trip(0xb710_8000, 0xb705_2000, 0x0005_4000).unwrap();
        assert_eq!(rtt, Duration::from_millis(6125));
    }

    #[test]
    fn negative_cumulative_loss_round_trips() {
        let blk = ReportBlock {
            cumulative_lost: -3,
            ..Default::default()
        };
        let mut b = [0u8; 24];
        blk.write(&mut b);
        assert_eq!(ReportBlock::read(&b).cumulative_lost, -3);
    }
}
