//! STUN messages (RFC 8489, formerly RFC 5389): a zero-copy view ([`StunView`]) that checks
//! the header, the attribute framing and the FINGERPRINT, and a value type ([`StunMessage`])
//! with its emitter.
//!
//! Only what a Binding client needs is decoded: MAPPED-ADDRESS, XOR-MAPPED-ADDRESS (IPv4 and
//! IPv6), USERNAME, MESSAGE-INTEGRITY (kept, not verified: Binding toward a public server
//! carries no credentials), ERROR-CODE, UNKNOWN-ATTRIBUTES, SOFTWARE and FINGERPRINT. Any other
//! attribute is kept as [`Attribute::Other`]; [`StunView::unknown_required`] lists those a
//! client must understand (types below 0x8000) so that it can reject the response.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The fixed value at bytes 4..8 that tells STUN from RFC 3489 messages and other protocols.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Header length.
pub const HEADER_LEN: usize = 20;
/// XORed into the CRC-32 of a FINGERPRINT (RFC 8489 14.7).
pub const FINGERPRINT_XOR: u32 = 0x5354_554E;
/// The Binding method.
pub const BINDING: u16 = 0x001;
/// Longest SOFTWARE value and ERROR-CODE reason phrase, in bytes (RFC 8489 14.8, 14.14).
pub const MAX_TEXT: usize = 763;

/// Attribute types.
pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const SOFTWARE: u16 = 0x8022;
    pub const FINGERPRINT: u16 = 0x8028;

    /// Types this module decodes into their own [`super::Attribute`] variant.
    pub const KNOWN: [u16; 8] = [
        MAPPED_ADDRESS,
        USERNAME,
        MESSAGE_INTEGRITY,
        ERROR_CODE,
        UNKNOWN_ATTRIBUTES,
        XOR_MAPPED_ADDRESS,
        SOFTWARE,
        FINGERPRINT,
    ];

    /// Comprehension-required range (RFC 8489 14): a receiver that does not know such an
    /// attribute must not use the message.
    pub fn comprehension_required(t: u16) -> bool {
        t < 0x8000
    }
}

/// Message class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }

    fn from_bits(b: u16) -> Class {
        match b & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::Success,
            _ => Class::Error,
        }
    }
}

/// The 14-bit message type of `method` (12 bits) and `class`: the class bits C0/C1 sit at
/// bits 4 and 8, between the method's bits (RFC 8489 5).
pub fn message_type(method: u16, class: Class) -> u16 {
    let m = method & 0x0FFF;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let class = ((t >> 4) & 1) | ((t >> 7) & 2);
    (method, Class::from_bits(class))
}

/// What is wrong with a STUN message, and where (byte offsets from the message start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StunError {
    /// Fewer than the 20 header bytes.
    TooShort { len: usize },
    /// The two leading bits are not zero: not a STUN message.
    NotStun { first_byte: u8 },
    /// The magic cookie is missing (an RFC 3489 message or another protocol).
    BadCookie { found: u32 },
    /// The header's length is not a multiple of 4.
    UnalignedLength { length: usize },
    /// The header's length disagrees with the bytes received.
    LengthMismatch { header: usize, actual: usize },
    /// An attribute header or value runs past the end of the message.
    AttributeOverrun { offset: usize },
    /// An attribute value is malformed.
    BadAttribute {
        typ: u16,
        offset: usize,
        what: &'static str,
    },
    /// An attribute follows FINGERPRINT, which must be last.
    AfterFingerprint { offset: usize },
    /// The FINGERPRINT value is not the CRC-32 of the message.
    FingerprintMismatch { expected: u32, found: u32 },
    /// A value does not fit the wire format (emitting).
    Unencodable(&'static str),
}

impl fmt::Display for StunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StunError::TooShort { len } => write!(f, "STUN message of {len} bytes, header needs 20"),
            StunError::NotStun { first_byte } => {
                write!(
                    f,
                    "leading bits of byte 0x{first_byte:02x} are not zero: not STUN"
                )
            }
            StunError::BadCookie { found } => write!(f, "magic cookie 0x{found:08x} missing"),
            StunError::UnalignedLength { length } => {
                write!(f, "message length {length} is not a multiple of 4")
            }
            StunError::LengthMismatch { header, actual } => {
                write!(f, "header says {header} attribute bytes, {actual} received")
            }
            StunError::AttributeOverrun { offset } => {
                write!(f, "attribute at byte {offset} runs past the message end")
            }
            StunError::BadAttribute { typ, offset, what } => {
                write!(f, "attribute 0x{typ:04x} at byte {offset}: {what}")
            }
            StunError::AfterFingerprint { offset } => {
                write!(f, "attribute at byte {offset} follows FINGERPRINT")
            }
            StunError::FingerprintMismatch { expected, found } => {
                write!(f, "FINGERPRINT 0x{found:08x}, message gives 0x{expected:08x}")
            }
            StunError::Unencodable(what) => write!(f, "cannot encode: {what}"),
        }
    }
}

impl std::error::Error for StunError {}

/// CRC-32 (ISO-HDLC, the one of Ethernet and zlib) that FINGERPRINT uses.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// Whether `buf` can be a STUN message: the cheap test that tells STUN from SIP and RTP on a
/// shared socket (RFC 7983: first byte 0..3, and the magic cookie).
pub fn looks_like_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN
        && buf[0] & 0xC0 == 0
        && buf[4..8] == MAGIC_COOKIE.to_be_bytes()
        && buf.len().is_multiple_of(4)
}

/// One attribute as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    pub typ: u16,
    /// The value without its padding.
    pub value: &'a [u8],
    /// Offset of the attribute header in the message.
    pub offset: usize,
}

/// A checked STUN message over borrowed bytes.
#[derive(Debug, Clone, Copy)]
pub struct StunView<'a> {
    buf: &'a [u8],
}

impl<'a> StunView<'a> {
    /// Checks the header, that the attributes exactly fill the message, and the FINGERPRINT
    /// when there is one (it must be last and match).
    pub fn parse(buf: &'a [u8]) -> Result<StunView<'a>, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::TooShort { len: buf.len() });
        }
        if buf[0] & 0xC0 != 0 {
            return Err(StunError::NotStun { first_byte: buf[0] });
        }
        let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(StunError::BadCookie { found: cookie });
        }
        let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if length % 4 != 0 {
            return Err(StunError::UnalignedLength { length });
        }
        if length != buf.len() - HEADER_LEN {
            return Err(StunError::LengthMismatch {
                header: length,
                actual: buf.len() - HEADER_LEN,
            });
        }
        let view = StunView { buf };
        let mut fingerprint_seen = false;
        let mut it = view.raw();
        while let Some(a) = it.next_checked()? {
            if fingerprint_seen {
                return Err(StunError::AfterFingerprint { offset: a.offset });
            }
            if a.typ == attr::FINGERPRINT {
                fingerprint_seen = true;
                let found: [u8; 4] = a.value.try_into().map_err(|_| StunError::BadAttribute {
                    typ: a.typ,
                    offset: a.offset,
                    what: "FINGERPRINT value is not 4 bytes",
                })?;
                let found = u32::from_be_bytes(found);
                let expected = crc32(&buf[..a.offset]) ^ FINGERPRINT_XOR;
                if found != expected {
                    return Err(StunError::FingerprintMismatch { expected, found });
                }
            }
        }
        Ok(view)
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn class(&self) -> Class {
        split_type(self.raw_type()).1
    }

    pub fn method(&self) -> u16 {
        split_type(self.raw_type()).0
    }

    fn raw_type(&self) -> u16 {
        u16::from_be_bytes([self.buf[0], self.buf[1]])
    }

    pub fn transaction_id(&self) -> [u8; 12] {
        let mut id = [0u8; 12];
        id.copy_from_slice(&self.buf[8..20]);
        id
    }

    fn raw(&self) -> RawIter<'a> {
        RawIter {
            buf: self.buf,
            pos: HEADER_LEN,
        }
    }

    /// The attributes in order (framing was checked by [`StunView::parse`]).
    pub fn attributes(&self) -> impl Iterator<Item = RawAttribute<'a>> + use<'a> {
        let mut it = self.raw();
        std::iter::from_fn(move || it.next_checked().ok().flatten())
    }

    /// The first attribute of type `typ`.
    pub fn attribute(&self, typ: u16) -> Option<RawAttribute<'a>> {
        self.attributes().find(|a| a.typ == typ)
    }

    /// Comprehension-required attribute types this module does not decode.
    pub fn unknown_required(&self) -> Vec<u16> {
        self.attributes()
            .map(|a| a.typ)
            .filter(|&t| attr::comprehension_required(t) && !attr::KNOWN.contains(&t))
            .collect()
    }

    /// The XOR-MAPPED-ADDRESS, decoded.
    pub fn xor_mapped_address(&self) -> Option<Result<SocketAddr, StunError>> {
        let a = self.attribute(attr::XOR_MAPPED_ADDRESS)?;
        Some(decode_address(a, Some(&self.transaction_id())))
    }

    /// The MAPPED-ADDRESS (servers of RFC 3489's time send only this one).
    pub fn mapped_address(&self) -> Option<Result<SocketAddr, StunError>> {
        let a = self.attribute(attr::MAPPED_ADDRESS)?;
        Some(decode_address(a, None))
    }

    /// The ERROR-CODE as (code, reason).
    pub fn error_code(&self) -> Option<Result<(u16, &'a str), StunError>> {
        let a = self.attribute(attr::ERROR_CODE)?;
        Some(decode_error_code(a))
    }

    /// Decodes every attribute into the value type.
    pub fn to_message(&self) -> Result<StunMessage, StunError> {
        let id = self.transaction_id();
        let attributes = self
            .attributes()
            .map(|a| decode_attribute(a, &id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StunMessage {
            class: self.class(),
            method: self.method(),
            transaction_id: id,
            attributes,
        })
    }
}

struct RawIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> RawIter<'a> {
    fn next_checked(&mut self) -> Result<Option<RawAttribute<'a>>, StunError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let offset = self.pos;
        let head = self
            .buf
            .get(offset..offset + 4)
            .ok_or(StunError::AttributeOverrun { offset })?;
        let typ = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = self
            .buf
            .get(offset + 4..offset + 4 + len)
            .ok_or(StunError::AttributeOverrun { offset })?;
        let padded = offset + 4 + len.div_ceil(4) * 4;
        if padded > self.buf.len() {
            return Err(StunError::AttributeOverrun { offset });
        }
        self.pos = padded;
        Ok(Some(RawAttribute { typ, value, offset }))
    }
}

fn bad(a: RawAttribute<'_>, what: &'static str) -> StunError {
    StunError::BadAttribute {
        typ: a.typ,
        offset: a.offset,
        what,
    }
}

/// The mask of an XOR address: the cookie, then for IPv6 the transaction ID.
fn xor_mask(id: &[u8; 12]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[4..].copy_from_slice(id);
    m
}

fn decode_address(a: RawAttribute<'_>, xor: Option<&[u8; 12]>) -> Result<SocketAddr, StunError> {
    let v = a.value;
    if v.len() < 4 {
        return Err(bad(a, "address value shorter than 4 bytes"));
    }
    let mask = xor.map(xor_mask).unwrap_or([0; 16]);
    let port = u16::from_be_bytes([v[2] ^ mask[0], v[3] ^ mask[1]]);
    let ip = match (v[1], v.len()) {
        (0x01, 8) => {
            let mut b = [0u8; 4];
            for (i, x) in b.iter_mut().enumerate() {
                *x = v[4 + i] ^ mask[i];
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        (0x02, 20) => {
            let mut b = [0u8; 16];
            for (i, x) in b.iter_mut().enumerate() {
                *x = v[4 + i] ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        (0x01 | 0x02, _) => return Err(bad(a, "address length does not fit its family")),
        _ => return Err(bad(a, "unknown address family")),
    };
    Ok(SocketAddr::new(ip, port))
}

fn decode_error_code(a: RawAttribute<'_>) -> Result<(u16, &str), StunError> {
    let v = a.value;
    if v.len() < 4 {
        return Err(bad(a, "ERROR-CODE shorter than 4 bytes"));
    }
    let class = u16::from(v[2] & 0x07);
    let number = u16::from(v[3]);
    if !(3..=6).contains(&class) || number > 99 {
        return Err(bad(a, "ERROR-CODE outside 300..699"));
    }
    let reason = std::str::from_utf8(&v[4..]).map_err(|_| bad(a, "reason phrase is not UTF-8"))?;
    Ok((class * 100 + number, reason))
}

fn decode_text(a: RawAttribute<'_>) -> Result<String, StunError> {
    std::str::from_utf8(a.value)
        .map(str::to_owned)
        .map_err(|_| bad(a, "text value is not UTF-8"))
}

fn decode_attribute(a: RawAttribute<'_>, id: &[u8; 12]) -> Result<Attribute, StunError> {
    Ok(match a.typ {
        attr::MAPPED_ADDRESS => Attribute::MappedAddress(decode_address(a, None)?),
        attr::XOR_MAPPED_ADDRESS => Attribute::XorMappedAddress(decode_address(a, Some(id))?),
        attr::USERNAME => Attribute::Username(decode_text(a)?),
        attr::SOFTWARE => Attribute::Software(decode_text(a)?),
        attr::MESSAGE_INTEGRITY => Attribute::MessageIntegrity(
            a.value
                .try_into()
                .map_err(|_| bad(a, "MESSAGE-INTEGRITY value is not 20 bytes"))?,
        ),
        attr::ERROR_CODE => {
            let (code, reason) = decode_error_code(a)?;
            Attribute::ErrorCode {
                code,
                reason: reason.to_owned(),
            }
        }
        attr::UNKNOWN_ATTRIBUTES => {
            if !a.value.len().is_multiple_of(2) {
                return Err(bad(a, "UNKNOWN-ATTRIBUTES of odd length"));
            }
            Attribute::UnknownAttributes(
                a.value
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect(),
            )
        }
        // Checked against the message by `StunView::parse`.
        attr::FINGERPRINT => Attribute::Fingerprint,
        typ => Attribute::Other {
            typ,
            value: a.value.to_vec(),
        },
    })
}

/// One attribute, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    MappedAddress(SocketAddr),
    /// The real address (the XOR is applied on the wire only).
    XorMappedAddress(SocketAddr),
    Username(String),
    /// HMAC-SHA1 value, kept as received.
    MessageIntegrity([u8; 20]),
    /// 300..=699 and the reason phrase.
    ErrorCode {
        code: u16,
        reason: String,
    },
    UnknownAttributes(Vec<u16>),
    Software(String),
    /// The emitter computes the value; the parser checked it.
    Fingerprint,
    /// An attribute of a type not listed in [`attr::KNOWN`].
    Other {
        typ: u16,
        value: Vec<u8>,
    },
}

/// A STUN message as values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StunMessage {
    pub class: Class,
    /// 12 bits.
    pub method: u16,
    pub transaction_id: [u8; 12],
    pub attributes: Vec<Attribute>,
}

impl StunMessage {
    /// A Binding request carrying SOFTWARE and FINGERPRINT.
    pub fn binding_request(transaction_id: [u8; 12], software: &str) -> StunMessage {
        let mut attributes = Vec::new();
        if !software.is_empty() {
            attributes.push(Attribute::Software(software.to_owned()));
        }
        attributes.push(Attribute::Fingerprint);
        StunMessage {
            class: Class::Request,
            method: BINDING,
            transaction_id,
            attributes,
        }
    }

    /// Parses and decodes `buf`.
    pub fn parse(buf: &[u8]) -> Result<StunMessage, StunError> {
        StunView::parse(buf)?.to_message()
    }

    /// The wire form: values padded with zeros to 4 bytes, FINGERPRINT computed.
    pub fn emit(&self) -> Result<Vec<u8>, StunError> {
        if self.method > 0x0FFF {
            return Err(StunError::Unencodable("method wider than 12 bits"));
        }
        let mut out = Vec::with_capacity(HEADER_LEN + 64);
        out.extend_from_slice(&message_type(self.method, self.class).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction_id);
        let n = self.attributes.len();
        for (i, a) in self.attributes.iter().enumerate() {
            let (typ, value) = match a {
                Attribute::Fingerprint => {
                    if i + 1 != n {
                        return Err(StunError::Unencodable("FINGERPRINT must be last"));
                    }
                    let len = out.len() - HEADER_LEN + 8;
                    set_length(&mut out, len)?;
                    let fp = crc32(&out) ^ FINGERPRINT_XOR;
                    (attr::FINGERPRINT, fp.to_be_bytes().to_vec())
                }
                other => encode_value(other, &self.transaction_id)?,
            };
            let len = u16::try_from(value.len())
                .map_err(|_| StunError::Unencodable("attribute value over 65535 bytes"))?;
            out.extend_from_slice(&typ.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&value);
            out.resize(out.len().div_ceil(4) * 4, 0);
        }
        let len = out.len() - HEADER_LEN;
        set_length(&mut out, len)?;
        Ok(out)
    }

    /// The mapped address of a response: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS.
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        let xor = self.attributes.iter().find_map(|a| match a {
            Attribute::XorMappedAddress(s) => Some(*s),
            _ => None,
        });
        xor.or_else(|| {
            self.attributes.iter().find_map(|a| match a {
                Attribute::MappedAddress(s) => Some(*s),
                _ => None,
            })
        })
    }
}

fn set_length(out: &mut [u8], len: usize) -> Result<(), StunError> {
    let len = u16::try_from(len).map_err(|_| StunError::Unencodable("message over 65535 bytes"))?;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn encode_address(addr: &SocketAddr, xor: Option<&[u8; 12]>) -> Vec<u8> {
    let mask = xor.map(xor_mask).unwrap_or([0; 16]);
    let port = addr.port().to_be_bytes();
    let mut v = vec![0, 0, port[0] ^ mask[0], port[1] ^ mask[1]];
    match addr.ip() {
        IpAddr::V4(ip) => {
            v[1] = 0x01;
            v.extend(ip.octets().iter().zip(mask).map(|(b, m)| b ^ m));
        }
        IpAddr::V6(ip) => {
            v[1] = 0x02;
            v.extend(ip.octets().iter().zip(mask).map(|(b, m)| b ^ m));
        }
    }
    v
}

fn encode_value(a: &Attribute, id: &[u8; 12]) -> Result<(u16, Vec<u8>), StunError> {
    Ok(match a {
        Attribute::MappedAddress(s) => (attr::MAPPED_ADDRESS, encode_address(s, None)),
        Attribute::XorMappedAddress(s) => (attr::XOR_MAPPED_ADDRESS, encode_address(s, Some(id))),
        Attribute::Username(u) => {
            if u.len() > 513 {
                return Err(StunError::Unencodable("USERNAME over 513 bytes"));
            }
            (attr::USERNAME, u.as_bytes().to_vec())
        }
        Attribute::Software(s) => {
            if s.len() > MAX_TEXT {
                return Err(StunError::Unencodable("SOFTWARE over 763 bytes"));
            }
            (attr::SOFTWARE, s.as_bytes().to_vec())
        }
        Attribute::MessageIntegrity(h) => (attr::MESSAGE_INTEGRITY, h.to_vec()),
        Attribute::ErrorCode { code, reason } => {
            if !(300..=699).contains(code) {
                return Err(StunError::Unencodable("ERROR-CODE outside 300..699"));
            }
            if reason.len() > MAX_TEXT {
                return Err(StunError::Unencodable("reason phrase over 763 bytes"));
            }
            let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
            v.extend_from_slice(reason.as_bytes());
            (attr::ERROR_CODE, v)
        }
        Attribute::UnknownAttributes(ts) => (
            attr::UNKNOWN_ATTRIBUTES,
            ts.iter().flat_map(|t| t.to_be_bytes()).collect(),
        ),
        Attribute::Other { typ, value } => {
            if attr::KNOWN.contains(typ) {
                return Err(StunError::Unencodable("raw value of a decoded attribute type"));
            }
            (*typ, value.clone())
        }
        Attribute::Fingerprint => unreachable!("handled by the caller"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_interleaves_class_bits() {
        assert_eq!(message_type(BINDING, Class::Request), 0x0001);
        assert_eq!(message_type(BINDING, Class::Indication), 0x0011);
        assert_eq!(message_type(BINDING, Class::Success), 0x0101);
        assert_eq!(message_type(BINDING, Class::Error), 0x0111);
        for m in [0u16, 1, 0x0F, 0x70, 0xF80, 0xFFF] {
            for c in [Class::Request, Class::Indication, Class::Success, Class::Error] {
                assert_eq!(split_type(message_type(m, c)), (m, c));
            }
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
