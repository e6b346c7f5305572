//! The simulated-board wire protocol (`docs/sim-protocol.md` is the normative description).
//!
//! Every message is `type: u8`, `len: u16 LE`, then `len` payload bytes. All integers are
//! little-endian. Sample times (`at`) count 8 kHz samples on the clock master's clock since it
//! started; `at == 0` in a message from a peer means "when received".
//!
//! [`Message::encode`] and [`Message::decode`] are the emitter and parser; [`read_message`] and
//! [`write_message`] frame them on a byte stream.

use std::io::{self, Read, Write};

use crate::board::PortKind;
use crate::fxo::FxoReading;
use crate::fxs::{Hook, LineFeed, MAX_CADENCE_SEGMENTS, RingCadence};
use crate::pcm::{FRAME_SAMPLES, Frame};

/// First four payload bytes of every HELLO.
pub const MAGIC: [u8; 4] = *b"GWSP";
/// Protocol version this implementation speaks.
pub const VERSION: u8 = 1;
/// Bytes of the message header (`type`, `len`).
pub const HEADER_LEN: usize = 3;
/// Largest payload any message may carry.
pub const MAX_PAYLOAD: usize = 512;
/// Longest ERROR reason text.
pub const MAX_REASON: usize = 120;

/// Message type codes.
pub mod code {
    pub const HELLO: u8 = 0x01;
    pub const AUDIO: u8 = 0x02;
    pub const ERROR: u8 = 0x03;
    pub const FEED: u8 = 0x10;
    pub const RING: u8 = 0x11;
    pub const HOOK: u8 = 0x20;
    pub const LINE: u8 = 0x30;
}

/// Who is speaking on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A port of a board: the clock master (the gateway's sim board, or an exchange line card).
    Port = 1,
    /// A telephone attached to an FXS port.
    Phone = 2,
    /// An exchange line attached to an FXO port.
    ExchangeLine = 3,
}

impl Role {
    fn from_u8(v: u8) -> Option<Role> {
        match v {
            1 => Some(Role::Port),
            2 => Some(Role::Phone),
            3 => Some(Role::ExchangeLine),
            _ => None,
        }
    }
}

fn kind_code(k: PortKind) -> u8 {
    match k {
        PortKind::Fxs => 0,
        PortKind::Fxo => 1,
    }
}

/// The first message in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub version: u8,
    pub role: Role,
    /// Kind of the port this connection attaches to (the same value from both sides).
    pub kind: PortKind,
    /// Port number on the master's board (informative; peers send 0).
    pub port: u8,
    /// Samples per AUDIO frame (always 80).
    pub frame_samples: u16,
}

impl Hello {
    pub fn new(role: Role, kind: PortKind, port: u8) -> Self {
        Hello {
            version: VERSION,
            role,
            kind,
            port,
            frame_samples: FRAME_SAMPLES as u16,
        }
    }
}

/// Reason codes carried by ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Unsupported protocol version.
    Version = 1,
    /// The peer's role or port kind does not fit this port (a phone on an FXO port...).
    WrongRole = 2,
    /// The port already has a peer.
    Busy = 3,
    /// A message could not be parsed or is not allowed in this direction.
    Malformed = 4,
    /// Orderly close.
    Bye = 5,
}

impl ErrorCode {
    fn from_u8(v: u8) -> Option<ErrorCode> {
        Some(match v {
            1 => ErrorCode::Version,
            2 => ErrorCode::WrongRole,
            3 => ErrorCode::Busy,
            4 => ErrorCode::Malformed,
            5 => ErrorCode::Bye,
            _ => return None,
        })
    }
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    /// 10 ms of audio. From the master, `at` is the sample time of the frame's first sample;
    /// a peer's answer carries the `at` of the master frame it answers.
    Audio {
        at: u64,
        samples: Frame,
    },
    Error {
        code: ErrorCode,
        reason: heapless::String<MAX_REASON>,
    },
    /// FXS port -> phone: the line feed changed at `at`.
    Feed {
        at: u64,
        feed: LineFeed,
    },
    /// FXS port -> phone: ring voltage switched on or off at `at` (the cadence, already applied).
    Ring {
        at: u64,
        on: bool,
    },
    /// Phone -> FXS port, or FXO port -> exchange line: the loop closed or opened at `at`.
    Hook {
        at: u64,
        hook: Hook,
    },
    /// Exchange line -> FXO port: the line's electrical state from `at` on.
    Line {
        at: u64,
        reading: FxoReading,
    },
}

/// Why bytes could not be parsed as a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// Fewer bytes than the header or the header's `len` announce.
    Truncated { needed: usize },
    /// A type code this version does not define.
    UnknownType(u8),
    /// The payload length does not fit the message type.
    BadLength { kind: u8, len: usize },
    /// A field holds a value outside its range; names the field.
    BadField(&'static str),
    /// The payload would exceed [`MAX_PAYLOAD`].
    TooLong,
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtoError::Truncated { needed } => write!(f, "message truncated: {needed} more bytes needed"),
            ProtoError::UnknownType(t) => write!(f, "unknown message type 0x{t:02x}"),
            ProtoError::BadLength { kind, len } => {
                write!(f, "payload length {len} is wrong for message type 0x{kind:02x}")
            }
            ProtoError::BadField(name) => write!(f, "field {name} out of range"),
            ProtoError::TooLong => write!(f, "payload longer than {MAX_PAYLOAD} bytes"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl From<ProtoError> for io::Error {
    fn from(e: ProtoError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

const FEED_OPEN: u8 = 0;
const FEED_FORWARD: u8 = 1;
const FEED_REVERSE: u8 = 2;
const FEED_OHT_FORWARD: u8 = 3;
const FEED_OHT_REVERSE: u8 = 4;
const FEED_RINGING: u8 = 5;

struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), ProtoError> {
        let end = self.pos + b.len();
        if end > self.buf.len() {
            return Err(ProtoError::TooLong);
        }
        self.buf[self.pos..end].copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
}

struct In<'a> {
    buf: &'a [u8],
    pos: usize,
    kind: u8,
}

impl In<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        let end = self.pos + N;
        let s = self.buf.get(self.pos..end).ok_or(ProtoError::BadLength {
            kind: self.kind,
            len: self.buf.len(),
        })?;
        self.pos = end;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, ProtoError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn i16(&mut self) -> Result<i16, ProtoError> {
        Ok(i16::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn finish(&self) -> Result<(), ProtoError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(ProtoError::BadLength {
                kind: self.kind,
                len: self.buf.len(),
            })
        }
    }
}

impl Message {
    /// The message's type code.
    pub fn code(&self) -> u8 {
        match self {
            Message::Hello(_) => code::HELLO,
            Message::Audio { .. } => code::AUDIO,
            Message::Error { .. } => code::ERROR,
            Message::Feed { .. } => code::FEED,
            Message::Ring { .. } => code::RING,
            Message::Hook { .. } => code::HOOK,
            Message::Line { .. } => code::LINE,
        }
    }

    /// Writes header and payload into `buf`; returns the number of bytes written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, ProtoError> {
        if buf.len() < HEADER_LEN {
            return Err(ProtoError::TooLong);
        }
        let mut o = Out { buf, pos: HEADER_LEN };
        match self {
            Message::Hello(h) => {
                o.put(&MAGIC)?;
                o.put(&[h.version, h.role as u8, kind_code(h.kind), h.port])?;
                o.put(&h.frame_samples.to_le_bytes())?;
            }
            Message::Audio { at, samples } => {
                o.put(&at.to_le_bytes())?;
                for s in samples {
                    o.put(&s.to_le_bytes())?;
                }
            }
            Message::Error { code, reason } => {
                o.put(&[*code as u8])?;
                o.put(reason.as_bytes())?;
            }
            Message::Feed { at, feed } => {
                o.put(&at.to_le_bytes())?;
                let (c, cad) = match feed {
                    LineFeed::Open => (FEED_OPEN, None),
                    LineFeed::ForwardActive => (FEED_FORWARD, None),
                    LineFeed::ReverseActive => (FEED_REVERSE, None),
                    LineFeed::OnHookTransmission { reverse: false } => (FEED_OHT_FORWARD, None),
                    LineFeed::OnHookTransmission { reverse: true } => (FEED_OHT_REVERSE, None),
                    LineFeed::Ringing(c) => (FEED_RINGING, Some(c)),
                };
                o.put(&[c])?;
                match cad {
                    None => o.put(&[0, 0])?,
                    Some(c) => {
                        o.put(&[c.frequency_hz, c.segments.len() as u8])?;
                        for s in &c.segments {
                            o.put(&s.on_ms.to_le_bytes())?;
                            o.put(&s.off_ms.to_le_bytes())?;
                        }
                    }
                }
            }
            Message::Ring { at, on } => {
                o.put(&at.to_le_bytes())?;
                o.put(&[u8::from(*on)])?;
            }
            Message::Hook { at, hook } => {
                o.put(&at.to_le_bytes())?;
                o.put(&[u8::from(*hook == Hook::OffHook)])?;
            }
            Message::Line { at, reading } => {
                o.put(&at.to_le_bytes())?;
                o.put(&[u8::from(reading.ringing)])?;
                o.put(&reading.tip_ring_volts.to_le_bytes())?;
                o.put(&reading.loop_current_ma.to_le_bytes())?;
            }
        }
        let len = o.pos - HEADER_LEN;
        if len > MAX_PAYLOAD {
            return Err(ProtoError::TooLong);
        }
        let pos = o.pos;
        buf[0] = self.code();
        buf[1..3].copy_from_slice(&(len as u16).to_le_bytes());
        Ok(pos)
    }

    /// Parses one message from the start of `buf`; returns it and the bytes it used.
    pub fn decode(buf: &[u8]) -> Result<(Message, usize), ProtoError> {
        if buf.len() < HEADER_LEN {
            return Err(ProtoError::Truncated {
                needed: HEADER_LEN - buf.len(),
            });
        }
        let len = usize::from(u16::from_le_bytes([buf[1], buf[2]]));
        if len > MAX_PAYLOAD {
            return Err(ProtoError::TooLong);
        }
        let total = HEADER_LEN + len;
        if buf.len() < total {
            return Err(ProtoError::Truncated {
                needed: total - buf.len(),
            });
        }
        let m = Self::decode_payload(buf[0], &buf[HEADER_LEN..total])?;
        Ok((m, total))
    }

    /// Parses the payload of a message of type `kind`.
    pub fn decode_payload(kind: u8, payload: &[u8]) -> Result<Message, ProtoError> {
        let mut i = In {
            buf: payload,
            pos: 0,
            kind,
        };
        let m = match kind {
            code::HELLO => {
                if i.take::<4>()? != MAGIC {
                    return Err(ProtoError::BadField("hello.magic"));
                }
                let version = i.u8()?;
                let role = Role::from_u8(i.u8()?).ok_or(ProtoError::BadField("hello.role"))?;
                let kind = match i.u8()? {
                    0 => PortKind::Fxs,
                    1 => PortKind::Fxo,
                    _ => return Err(ProtoError::BadField("hello.kind")),
                };
                let port = i.u8()?;
                let frame_samples = i.u16()?;
                Message::Hello(Hello {
                    version,
                    role,
                    kind,
                    port,
                    frame_samples,
                })
            }
            code::AUDIO => {
                let at = i.u64()?;
                let mut samples = [0i16; FRAME_SAMPLES];
                for s in samples.iter_mut() {
                    *s = i.i16()?;
                }
                Message::Audio { at, samples }
            }
            code::ERROR => {
                let code = ErrorCode::from_u8(i.u8()?).ok_or(ProtoError::BadField("error.code"))?;
                let text =
                    core::str::from_utf8(&payload[1..]).map_err(|_| ProtoError::BadField("error.reason"))?;
                let reason =
                    heapless::String::try_from(text).map_err(|_| ProtoError::BadField("error.reason"))?;
                i.pos = payload.len();
                Message::Error { code, reason }
            }
            code::FEED => {
                let at = i.u64()?;
                let c = i.u8()?;
                let hz = i.u8()?;
                let n = usize::from(i.u8()?);
                let feed = match c {
                    FEED_OPEN => LineFeed::Open,
                    FEED_FORWARD => LineFeed::ForwardActive,
                    FEED_REVERSE => LineFeed::ReverseActive,
                    FEED_OHT_FORWARD => LineFeed::OnHookTransmission { reverse: false },
                    FEED_OHT_REVERSE => LineFeed::OnHookTransmission { reverse: true },
                    FEED_RINGING => {
                        if n == 0 || n > MAX_CADENCE_SEGMENTS {
                            return Err(ProtoError::BadField("feed.segments"));
                        }
                        let mut pairs = [(0u16, 0u16); MAX_CADENCE_SEGMENTS];
                        for p in pairs.iter_mut().take(n) {
                            *p = (i.u16()?, i.u16()?);
                        }
                        LineFeed::Ringing(
                            RingCadence::new(&pairs[..n], hz).ok_or(ProtoError::BadField("feed.cadence"))?,
                        )
                    }
                    _ => return Err(ProtoError::BadField("feed.state")),
                };
                if c != FEED_RINGING && (hz != 0 || n != 0) {
                    return Err(ProtoError::BadField("feed.segments"));
                }
                Message::Feed { at, feed }
            }
            code::RING => {
                let at = i.u64()?;
                let on = match i.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(ProtoError::BadField("ring.on")),
                };
                Message::Ring { at, on }
            }
            code::HOOK => {
                let at = i.u64()?;
                let hook = match i.u8()? {
                    0 => Hook::OnHook,
                    1 => Hook::OffHook,
                    _ => return Err(ProtoError::BadField("hook.state")),
                };
                Message::Hook { at, hook }
            }
            code::LINE => {
                let at = i.u64()?;
                let ringing = match i.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(ProtoError::BadField("line.ringing")),
                };
                let tip_ring_volts = i.i16()?;
                let loop_current_ma = i.u16()?;
                Message::Line {
                    at,
                    reading: FxoReading {
                        ringing,
                        tip_ring_volts,
                        loop_current_ma,
                    },
                }
            }
            other => return Err(ProtoError::UnknownType(other)),
        };
        i.finish()?;
        Ok(m)
    }

    /// An ERROR message; the reason is cut to [`MAX_REASON`] bytes at a character boundary.
    pub fn error(code: ErrorCode, reason: &str) -> Message {
        let mut r = heapless::String::new();
        for ch in reason.chars() {
            if r.push(ch).is_err() {
                break;
            }
        }
        Message::Error { code, reason: r }
    }
}

/// Reads one whole message from a byte stream (blocking).
pub fn read_message<R: Read + ?Sized>(r: &mut R) -> io::Result<Message> {
    let mut hdr = [0u8; HEADER_LEN];
    r.read_exact(&mut hdr)?;
    let len = usize::from(u16::from_le_bytes([hdr[1], hdr[2]]));
    if len > MAX_PAYLOAD {
        return Err(ProtoError::TooLong.into());
    }
    let mut payload = [0u8; MAX_PAYLOAD];
    r.read_exact(&mut payload[..len])?;
    Ok(Message::decode_payload(hdr[0], &payload[..len])?)
}

/// Writes one message to a byte stream (the caller flushes buffered writers).
pub fn write_message<W: Write + ?Sized>(w: &mut W, m: &Message) -> io::Result<()> {
    let mut buf = [0u8; HEADER_LEN + MAX_PAYLOAD];
    let n = m.encode(&mut buf)?;
    w.write_all(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(m: &Message) -> Message {
        let mut buf = [0u8; HEADER_LEN + MAX_PAYLOAD];
        let n = m.encode(&mut buf).unwrap();
        let (back, used) = Message::decode(&buf[..n]).unwrap();
        assert_eq!(used, n);
        back
    }

    #[test]
    fn golden_bytes() {
        let mut buf = [0u8; 600];
        let n = Message::Hello(Hello::new(Role::Phone, PortKind::Fxs, 0))
            .encode(&mut buf)
            .unwrap();
        assert_eq!(
            &buf[..n],
            &[0x01, 10, 0, b'G', b'W', b'S', b'P', 1, 2, 0, 0, 80, 0]
        );
        let n = Message::Hook {
            at: 0x0102,
            hook: Hook::OffHook,
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(&buf[..n], &[0x20, 9, 0, 2, 1, 0, 0, 0, 0, 0, 0, 1]);
        let reading = FxoReading {
            ringing: true,
            tip_ring_volts: -48,
            loop_current_ma: 25,
        };
        let n = Message::Line { at: 80, reading }.encode(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &[0x30, 13, 0, 80, 0, 0, 0, 0, 0, 0, 0, 1, 0xd0, 0xff, 25, 0]
        );
        let cad = RingCadence::new(&[(400, 200), (400, 2000)], 25).unwrap();
        let n = Message::Feed {
            at: 8000,
            feed: LineFeed::Ringing(cad),
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(
            &buf[..n],
            &[
                0x10, 19, 0, 0x40, 0x1f, 0, 0, 0, 0, 0, 0, 5, 25, 2, 0x90, 1, 200, 0, 0x90, 1, 0xd0, 7
            ]
        );
        let n = Message::Audio {
            at: 0,
            samples: [1; FRAME_SAMPLES],
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(n, 3 + 168);
        assert_eq!(&buf[..13], &[0x02, 168, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(
            Message::decode(&[0x20, 9]),
            Err(ProtoError::Truncated { needed: 1 })
        );
        assert_eq!(
            Message::decode(&[0x20, 9, 0, 0]),
            Err(ProtoError::Truncated { needed: 8 })
        );
        assert_eq!(Message::decode(&[0x7f, 0, 0]), Err(ProtoError::UnknownType(0x7f)));
        assert_eq!(
            Message::decode(&[0x20, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]),
            Err(ProtoError::BadField("hook.state"))
        );
        assert_eq!(
            Message::decode(&[0x11, 1, 0, 0]),
            Err(ProtoError::BadLength { kind: 0x11, len: 1 })
        );
        assert_eq!(Message::decode(&[0x01, 0xff, 0xff]), Err(ProtoError::TooLong));
    }

    fn feed_strategy() -> impl Strategy<Value = LineFeed> {
        prop_oneof![
            Just(LineFeed::Open),
            Just(LineFeed::ForwardActive),
            Just(LineFeed::ReverseActive),
            any::<bool>().prop_map(|reverse| LineFeed::OnHookTransmission { reverse }),
            (
                proptest::collection::vec((1u16.., any::<u16>()), 1..=MAX_CADENCE_SEGMENTS),
                any::<u8>()
            )
                .prop_map(|(pairs, hz)| LineFeed::Ringing(RingCadence::new(&pairs, hz).unwrap())),
        ]
    }

    fn message_strategy() -> impl Strategy<Value = Message> {
        prop_oneof![
            (0u8..3, any::<u8>(), any::<bool>(), any::<u8>(), any::<u16>()).prop_map(
                |(r, v, fxo, port, fs)| {
                    let role = [Role::Port, Role::Phone, Role::ExchangeLine][r as usize];
                    let kind = if fxo { PortKind::Fxo } else { PortKind::Fxs };
                    Message::Hello(Hello {
                        version: v,
                        role,
                        kind,
                        port,
                        frame_samples: fs,
                    })
                }
            ),
            (
                any::<u64>(),
                proptest::collection::vec(any::<i16>(), FRAME_SAMPLES)
            )
                .prop_map(|(at, v)| {
                    let mut samples = [0; FRAME_SAMPLES];
                    samples.copy_from_slice(&v);
                    Message::Audio { at, samples }
                }),
            (1u8..=5, "[ -~]{0,40}").prop_map(|(c, s)| Message::error(ErrorCode::from_u8(c).unwrap(), &s)),
            (any::<u64>(), feed_strategy()).prop_map(|(at, feed)| Message::Feed { at, feed }),
            (any::<u64>(), any::<bool>()).prop_map(|(at, on)| Message::Ring { at, on }),
            (any::<u64>(), any::<bool>()).prop_map(|(at, off)| Message::Hook {
                at,
                hook: if off { Hook::OffHook } else { Hook::OnHook }
            }),
            (any::<u64>(), any::<bool>(), any::<i16>(), any::<u16>()).prop_map(|(at, ringing, v, i)| {
                Message::Line {
                    at,
                    reading: FxoReading {
                        ringing,
                        tip_ring_volts: v,
                        loop_current_ma: i,
                    },
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn parse_emit_roundtrip(m in message_strategy()) {
            prop_assert_eq!(roundtrip(&m), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Message::decode(&bytes);
        }
    }
}
