//! Caller ID (on-hook data transmission): Bell 202 FSK (Telcordia GR-30), ETSI V.23 FSK
//! (EN 300 659-1/-3) and DTMF CLIP, each with an encoder and a streaming decoder.
//!
//! - [`CallerId`]: the message value (date/time, number, name, reasons for absence).
//! - [`CallerId::encode_frame`] / [`CallerId::parse_frame`]: SDMF (type 0x04) and MDMF (type 0x80)
//!   framing with the modulo-256 checksum, as used by both Telcordia and ETSI.
//! - [`CidEncoder`]: the samples to play: channel seizure, mark, message (FSK) or the DTMF digit
//!   string (`A<number>C`, `B00C`/`B10C`, or the `#`-terminated variant).
//! - [`CidDecoder`]: fed samples of any length, yields checked messages.
//!
//! Everything works on fixed buffers: no allocation after construction.

// DSP loops index several parallel per-filter arrays together.
#![allow(clippy::needless_range_loop)]

use core::fmt;

use crate::dtmf::{DtmfDetector, DtmfEventKind, DtmfGenerator};
use crate::tones::{Osc, dbm0_power, dbm0_to_peak};

/// Which physical layer carries the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CidStandard {
    /// Bell 202 FSK, 1200 baud, mark 1200 Hz, space 2200 Hz (North America, Telcordia GR-30).
    Bell202,
    /// ITU-T V.23 FSK, 1200 baud, mark 1300 Hz, space 2100 Hz (ETSI EN 300 659).
    V23,
    /// DTMF digits (ETSI ES 200 778 style CLIP as used in Nordic countries, the Netherlands,
    /// Brazil, India and others).
    Dtmf,
}

impl CidStandard {
    /// (mark, space) frequencies of the FSK standards.
    pub fn fsk_freqs(self) -> Option<(f32, f32)> {
        match self {
            CidStandard::Bell202 => Some((1200.0, 2200.0)),
            CidStandard::V23 => Some((1300.0, 2100.0)),
            CidStandard::Dtmf => None,
        }
    }
}

/// Message framing of FSK caller ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CidFormat {
    /// Single data message format (type 0x04): date/time and number only.
    Sdmf,
    /// Multiple data message format (type 0x80): parameters with type and length.
    Mdmf,
    /// A DTMF CLIP digit string.
    Dtmf,
}

/// DTMF CLIP digit string conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfClipStyle {
    /// `A<number>C`; absence `B00C` (unavailable) or `B10C` (private).
    CTerminated,
    /// `A<number>#`; absence `D3#` (unavailable) or `D1#` (private).
    HashTerminated,
}

/// Why the number or name is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Absence {
    /// Withheld by the caller ('P').
    Private,
    /// Not available, e.g. from another network ('O', "out of area").
    Unavailable,
}

impl Absence {
    fn code(self) -> u8 {
        match self {
            Absence::Private => b'P',
            Absence::Unavailable => b'O',
        }
    }
    fn from_code(c: u8) -> Option<Absence> {
        match c {
            b'P' | b'p' => Some(Absence::Private),
            b'O' | b'o' => Some(Absence::Unavailable),
            _ => None,
        }
    }
}

/// Date and time of the call as carried in the message (MMDDHHMM, local time, no year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CidTime {
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
}

impl CidTime {
    /// Parses `MMDDHHMM` and checks the ranges.
    pub fn parse(s: &str) -> Result<CidTime, CidError> {
        Self::from_ascii(s.as_bytes())
    }

    fn from_ascii(b: &[u8]) -> Result<CidTime, CidError> {
        if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
            return Err(CidError::BadTime);
        }
        let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        let t = CidTime {
            month: two(0),
            day: two(2),
            hour: two(4),
            minute: two(6),
        };
        if !(1..=12).contains(&t.month) || !(1..=31).contains(&t.day) || t.hour > 23 || t.minute > 59 {
            return Err(CidError::BadTime);
        }
        Ok(t)
    }

    fn to_ascii(self) -> [u8; 8] {
        let mut o = [0u8; 8];
        for (i, v) in [self.month, self.day, self.hour, self.minute]
            .into_iter()
            .enumerate()
        {
            o[2 * i] = b'0' + v / 10;
            o[2 * i + 1] = b'0' + v % 10;
        }
        o
    }
}

impl fmt::Display for CidTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}{:02}{:02}{:02}",
            self.month, self.day, self.hour, self.minute
        )
    }
}

/// Printable ASCII text of at most [`CidText::CAPACITY`] bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CidText {
    buf: [u8; Self::CAPACITY],
    len: u8,
}

impl CidText {
    pub const CAPACITY: usize = 50;
    pub const EMPTY: CidText = CidText {
        buf: [0; Self::CAPACITY],
        len: 0,
    };

    pub fn new(s: &str) -> Result<CidText, CidError> {
        Self::from_bytes(s.as_bytes())
    }

    fn from_bytes(b: &[u8]) -> Result<CidText, CidError> {
        if b.len() > Self::CAPACITY {
            return Err(CidError::TooLong { max: Self::CAPACITY });
        }
        if let Some(&c) = b.iter().find(|&&c| !(0x20..0x7f).contains(&c)) {
            return Err(CidError::BadChar(c));
        }
        let mut t = CidText::EMPTY;
        t.buf[..b.len()].copy_from_slice(b);
        t.len = b.len() as u8;
        Ok(t)
    }

    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored.
        core::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for CidText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for CidText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A caller ID message. An empty number or name with no absence reason is simply not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallerId {
    pub time: Option<CidTime>,
    pub number: CidText,
    pub number_absence: Option<Absence>,
    pub name: CidText,
    pub name_absence: Option<Absence>,
}

impl Default for CallerId {
    fn default() -> Self {
        CallerId {
            time: None,
            number: CidText::EMPTY,
            number_absence: None,
            name: CidText::EMPTY,
            name_absence: None,
        }
    }
}

/// Longest framed message: type, length, up to 255 body bytes, checksum.
pub const MAX_FRAME: usize = 258;

const MSG_SDMF: u8 = 0x04;
const MSG_MDMF: u8 = 0x80;
const P_TIME: u8 = 0x01;
const P_NUMBER: u8 = 0x02;
const P_NUMBER_ABSENCE: u8 = 0x04;
const P_NAME: u8 = 0x07;
const P_NAME_ABSENCE: u8 = 0x08;

impl CallerId {
    /// A message with a number and a name (either may be empty).
    pub fn new(number: &str, name: &str) -> Result<CallerId, CidError> {
        Ok(CallerId {
            number: CidText::new(number)?,
            name: CidText::new(name)?,
            ..CallerId::default()
        })
    }

    pub fn with_time(mut self, t: CidTime) -> CallerId {
        self.time = Some(t);
        self
    }

    /// Frames the message (type, length, body, checksum) into `out`; returns the frame length.
    /// SDMF carries the time (01010000 if unknown) and the number or its absence code.
    pub fn encode_frame(&self, format: CidFormat, out: &mut [u8; MAX_FRAME]) -> Result<usize, CidError> {
        let mut n = 2;
        let mut put = |out: &mut [u8; MAX_FRAME], bytes: &[u8]| -> Result<(), CidError> {
            if n + bytes.len() > 2 + 255 {
                return Err(CidError::TooLong { max: 255 });
            }
            out[n..n + bytes.len()].copy_from_slice(bytes);
            n += bytes.len();
            Ok(())
        };
        match format {
            CidFormat::Sdmf => {
                out[0] = MSG_SDMF;
                let t = self.time.unwrap_or(CidTime {
                    month: 1,
                    day: 1,
                    hour: 0,
                    minute: 0,
                });
                put(out, &t.to_ascii())?;
                if let Some(a) = self.number_absence {
                    put(out, &[a.code()])?;
                } else {
                    put(out, self.number.as_bytes())?;
                }
            }
            CidFormat::Mdmf => {
                out[0] = MSG_MDMF;
                if let Some(t) = self.time {
                    put(out, &[P_TIME, 8])?;
                    put(out, &t.to_ascii())?;
                }
                if let Some(a) = self.number_absence {
                    put(out, &[P_NUMBER_ABSENCE, 1, a.code()])?;
                } else if !self.number.is_empty() {
                    put(out, &[P_NUMBER, self.number.len])?;
                    put(out, self.number.as_bytes())?;
                }
                if let Some(a) = self.name_absence {
                    put(out, &[P_NAME_ABSENCE, 1, a.code()])?;
                } else if !self.name.is_empty() {
                    put(out, &[P_NAME, self.name.len])?;
                    put(out, self.name.as_bytes())?;
                }
            }
            CidFormat::Dtmf => return Err(CidError::NotFsk),
        }
        out[1] = (n - 2) as u8;
        let sum = out[..n].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        out[n] = sum.wrapping_neg();
        Ok(n + 1)
    }

    /// Parses a complete frame (type, length, body, checksum), checking the checksum.
    pub fn parse_frame(frame: &[u8]) -> Result<(CallerId, CidFormat), CidError> {
        if frame.len() < 3 {
            return Err(CidError::Truncated);
        }
        let len = frame[1] as usize;
        if frame.len() < len + 3 {
            return Err(CidError::Truncated);
        }
        let sum = frame[..len + 3].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        if sum != 0 {
            return Err(CidError::Checksum);
        }
        let body = &frame[2..2 + len];
        let mut m = CallerId::default();
        match frame[0] {
            MSG_SDMF => {
                if body.len() < 8 {
                    return Err(CidError::Truncated);
                }
                m.time = Some(CidTime::from_ascii(&body[..8])?);
                let num = &body[8..];
                match (num.len(), num.first().copied().and_then(Absence::from_code)) {
                    (1, Some(a)) => m.number_absence = Some(a),
                    _ => m.number = CidText::from_bytes(num)?,
                }
                Ok((m, CidFormat::Sdmf))
            }
            MSG_MDMF => {
                let mut i = 0;
                while i < body.len() {
                    if i + 2 > body.len() {
                        return Err(CidError::Truncated);
                    }
                    let (p, l) = (body[i], body[i + 1] as usize);
                    let v = body.get(i + 2..i + 2 + l).ok_or(CidError::Truncated)?;
                    match p {
                        P_TIME => m.time = Some(CidTime::from_ascii(v)?),
                        P_NUMBER => m.number = CidText::from_bytes(v)?,
                        P_NUMBER_ABSENCE => {
                            m.number_absence = Some(
                                v.first()
                                    .copied()
                                    .and_then(Absence::from_code)
                                    .ok_or(CidError::BadParam(p))?,
                            )
                        }
                        P_NAME => m.name = CidText::from_bytes(v)?,
                        P_NAME_ABSENCE => {
                            m.name_absence = Some(
                                v.first()
                                    .copied()
                                    .and_then(Absence::from_code)
                                    .ok_or(CidError::BadParam(p))?,
                            )
                        }
                        // Other parameters (dialled number, redirection, call type...) are skipped.
                        _ => {}
                    }
                    i += 2 + l;
                }
                Ok((m, CidFormat::Mdmf))
            }
            t => Err(CidError::UnknownMessage(t)),
        }
    }

    /// The DTMF CLIP digit string for this message into `out`; returns its length.
    pub fn encode_dtmf(&self, style: DtmfClipStyle, out: &mut [u8; 40]) -> Result<usize, CidError> {
        let end = match style {
            DtmfClipStyle::CTerminated => b'C',
            DtmfClipStyle::HashTerminated => b'#',
        };
        let n;
        if let Some(a) = self.number_absence {
            let code: &[u8] = match (style, a) {
                (DtmfClipStyle::CTerminated, Absence::Unavailable) => b"B00",
                (DtmfClipStyle::CTerminated, Absence::Private) => b"B10",
                (DtmfClipStyle::HashTerminated, Absence::Unavailable) => b"D3",
                (DtmfClipStyle::HashTerminated, Absence::Private) => b"D1",
            };
            out[..code.len()].copy_from_slice(code);
            n = code.len();
        } else {
            let num = self.number.as_bytes();
            if num.is_empty() {
                return Err(CidError::Empty);
            }
            if num.len() > 32 {
                return Err(CidError::TooLong { max: 32 });
            }
            if let Some(&c) = num.iter().find(|c| !c.is_ascii_digit()) {
                return Err(CidError::BadChar(c));
            }
            out[0] = b'A';
            out[1..1 + num.len()].copy_from_slice(num);
            n = 1 + num.len();
        }
        out[n] = end;
        Ok(n + 1)
    }

    /// Parses a DTMF CLIP digit string (either style).
    pub fn parse_dtmf(s: &[u8]) -> Result<CallerId, CidError> {
        let (&first, rest) = s.split_first().ok_or(CidError::Truncated)?;
        let (&last, body) = rest.split_last().ok_or(CidError::Truncated)?;
        if last != b'C' && last != b'#' {
            return Err(CidError::DtmfFormat);
        }
        if !body.iter().all(u8::is_ascii_digit) {
            return Err(CidError::DtmfFormat);
        }
        let mut m = CallerId::default();
        match (first, last, body) {
            (b'A', _, b) | (b'D', b'C', b) if !b.is_empty() => m.number = CidText::from_bytes(b)?,
            (b'B', b'C', b"00") | (b'D', b'#', b"3") => m.number_absence = Some(Absence::Unavailable),
            (b'B', b'C', b"10") | (b'D', b'#', b"1") => m.number_absence = Some(Absence::Private),
            (b'B', b'C', _) | (b'D', b'#', _) => m.number_absence = Some(Absence::Unavailable),
            _ => return Err(CidError::DtmfFormat),
        }
        Ok(m)
    }
}

/// What was wrong with a caller ID message or its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidError {
    /// The checksum did not add up.
    Checksum,
    /// The message ended before its declared length.
    Truncated,
    /// A message type other than caller ID (0x04 SDMF, 0x80 MDMF).
    UnknownMessage(u8),
    /// A parameter with an invalid value.
    BadParam(u8),
    /// Date/time is not a valid MMDDHHMM.
    BadTime,
    /// A field longer than allowed.
    TooLong { max: usize },
    /// A character that cannot be sent.
    BadChar(u8),
    /// Nothing to send.
    Empty,
    /// The operation needs an FSK standard.
    NotFsk,
    /// The DTMF digit string is not a CLIP message.
    DtmfFormat,
    /// The FSK carrier was lost in the middle of a message.
    CarrierLost,
}

impl fmt::Display for CidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidError::Checksum => f.write_str("caller ID checksum mismatch"),
            CidError::Truncated => f.write_str("caller ID message truncated"),
            CidError::UnknownMessage(t) => write!(f, "not a caller ID message (type 0x{t:02x})"),
            CidError::BadParam(p) => write!(f, "invalid value in parameter 0x{p:02x}"),
            CidError::BadTime => f.write_str("date/time must be MMDDHHMM"),
            CidError::TooLong { max } => write!(f, "field longer than {max} characters"),
            CidError::BadChar(c) => write!(f, "character 0x{c:02x} cannot be sent"),
            CidError::Empty => f.write_str("no number to send"),
            CidError::NotFsk => f.write_str("SDMF/MDMF framing needs an FSK standard"),
            CidError::DtmfFormat => f.write_str("DTMF digits are not a caller ID string"),
            CidError::CarrierLost => f.write_str("FSK carrier lost inside a message"),
        }
    }
}

impl std::error::Error for CidError {}

/// A decoded message with how it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidMessage {
    pub standard: CidStandard,
    pub format: CidFormat,
    pub caller: CallerId,
    /// Sample index at which the message was complete.
    pub at_sample: u64,
}

// ---------------------------------------------------------------------------------------------
// Encoder

/// Alternating bits of the channel seizure (GR-30 and EN 300 659-1: 300 bits).
pub const SEIZURE_BITS: u32 = 300;
/// Mark bits between the seizure and the message (GR-30: 180).
pub const MARK_BITS: u32 = 180;
const POST_MARK_BITS: u32 = 10;
/// FSK level, dBm0 (GR-30: -13.5 dBm ±1 at the interface).
pub const FSK_LEVEL_DBM0: f32 = -13.5;

enum EncState {
    Fsk(Box<FskTx>),
    Dtmf(Box<DtmfGenerator>),
}

struct FskTx {
    frame: [u8; MAX_FRAME],
    len: usize,
    seizure: u32,
    marks: u32,
    bit: u32,
    total: u32,
    units: u32,
    osc: Osc,
    mark: f32,
    space: f32,
}

/// Produces the audio of one caller ID message; call [`CidEncoder::fill`] until it returns less
/// than the slice length.
pub struct CidEncoder {
    state: EncState,
    amp: f32,
    done: bool,
    /// Samples of dual-tone alerting signal, then of silence, still to play first.
    alert_left: u32,
    gap_left: u32,
    alert: [Osc; 2],
}

/// Dual-tone alerting signal (ETSI DT-AS, Bell CAS): 2130 + 2750 Hz.
pub const ALERT_FREQS: (f32, f32) = (2130.0, 2750.0);
const ALERT_LEVEL_DBM0: f32 = -15.0;
/// Mark bits of an off-hook (type II, call waiting) transmission, which has no channel seizure.
pub const OFF_HOOK_MARK_BITS: u32 = 80;

impl CidEncoder {
    /// An FSK (SDMF or MDMF) or DTMF (C-terminated) encoder.
    pub fn new(msg: &CallerId, standard: CidStandard, format: CidFormat) -> Result<CidEncoder, CidError> {
        match standard.fsk_freqs() {
            Some((mark, space)) => {
                let mut frame = [0u8; MAX_FRAME];
                let fmt = if format == CidFormat::Dtmf {
                    CidFormat::Mdmf
                } else {
                    format
                };
                let len = msg.encode_frame(fmt, &mut frame)?;
                let total = SEIZURE_BITS + MARK_BITS + len as u32 * 10 + POST_MARK_BITS;
                Ok(CidEncoder {
                    state: EncState::Fsk(Box::new(FskTx {
                        frame,
                        len,
                        seizure: SEIZURE_BITS,
                        marks: MARK_BITS,
                        bit: 0,
                        total,
                        units: 0,
                        osc: Osc::new(mark),
                        mark,
                        space,
                    })),
                    amp: dbm0_to_peak(FSK_LEVEL_DBM0),
                    done: false,
                    alert_left: 0,
                    gap_left: 0,
                    alert: [Osc::new(ALERT_FREQS.0), Osc::new(ALERT_FREQS.1)],
                })
            }
            None => Self::new_dtmf(msg, DtmfClipStyle::CTerminated),
        }
    }

    /// Precedes the message with 100 ms of dual-tone alerting signal (2130 + 2750 Hz,
    /// -15 dBm0 each) and 100 ms of silence: ETSI EN 300 659-1 DT-AS before on-hook data, or
    /// the Bell CPE alerting signal before call waiting caller ID.
    pub fn with_alert_signal(mut self) -> Self {
        self.alert_left = 800;
        self.gap_left = 800;
        self
    }

    /// Off-hook (type II, call waiting) framing: no channel seizure, 80 mark bits.
    pub fn off_hook(mut self) -> Self {
        if let EncState::Fsk(tx) = &mut self.state {
            tx.seizure = 0;
            tx.marks = OFF_HOOK_MARK_BITS;
            tx.total = tx.marks + tx.len as u32 * 10 + POST_MARK_BITS;
        }
        self
    }

    /// A DTMF CLIP encoder: 70 ms digits with 70 ms pauses, -9/-7 dBm0.
    pub fn new_dtmf(msg: &CallerId, style: DtmfClipStyle) -> Result<CidEncoder, CidError> {
        let mut digits = [0u8; 40];
        let n = msg.encode_dtmf(style, &mut digits)?;
        let mut g = Box::new(DtmfGenerator::new());
        for &d in &digits[..n] {
            g.push_timed(d as char, 70, 70)
                .map_err(|_| CidError::BadChar(d))?;
        }
        Ok(CidEncoder {
            state: EncState::Dtmf(g),
            amp: 0.0,
            done: false,
            alert_left: 0,
            gap_left: 0,
            alert: [Osc::new(ALERT_FREQS.0), Osc::new(ALERT_FREQS.1)],
        })
    }

    /// True once everything has been produced.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Renders into `out`; returns the number of signal samples written (the rest is silence).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        if self.done {
            out.fill(0);
            return 0;
        }
        let mut pre = 0;
        if self.alert_left > 0 {
            let n = (self.alert_left as usize).min(out.len());
            let amp = dbm0_to_peak(ALERT_LEVEL_DBM0);
            for s in &mut out[..n] {
                *s = ((self.alert[0].next() + self.alert[1].next()) * amp) as i16;
            }
            self.alert[0].renormalize();
            self.alert[1].renormalize();
            self.alert_left -= n as u32;
            pre = n;
        }
        if self.alert_left == 0 && self.gap_left > 0 && pre < out.len() {
            let n = (self.gap_left as usize).min(out.len() - pre);
            out[pre..pre + n].fill(0);
            self.gap_left -= n as u32;
            pre += n;
        }
        if pre == out.len() {
            return pre;
        }
        pre + self.fill_message(&mut out[pre..])
    }

    fn fill_message(&mut self, out: &mut [i16]) -> usize {
        match &mut self.state {
            EncState::Dtmf(g) => {
                let n = g.fill(out);
                if n < out.len() {
                    self.done = true;
                }
                n
            }
            EncState::Fsk(tx) => {
                let FskTx {
                    frame,
                    len,
                    seizure,
                    marks,
                    bit,
                    total,
                    units,
                    osc,
                    mark,
                    space,
                } = &mut **tx;
                let mut i = 0;
                while i < out.len() {
                    if *bit >= *total {
                        out[i..].fill(0);
                        self.done = true;
                        return i;
                    }
                    let b = fsk_bit(&frame[..*len], *bit, *seizure, *marks);
                    osc.retune(if b { *mark } else { *space });
                    // A bit is 20/3 samples: count in thirds of a sample.
                    while *units < 20 && i < out.len() {
                        out[i] = (osc.next() * self.amp) as i16;
                        *units += 3;
                        i += 1;
                    }
                    if *units >= 20 {
                        *units -= 20;
                        *bit += 1;
                        osc.renormalize();
                    }
                }
                i
            }
        }
    }
}

fn fsk_bit(frame: &[u8], i: u32, seizure: u32, marks: u32) -> bool {
    if i < seizure {
        return i & 1 == 1;
    }
    let i = i - seizure;
    if i < marks {
        return true;
    }
    let j = (i - marks) as usize;
    if j < frame.len() * 10 {
        let (byte, b) = (frame[j / 10], j % 10);
        return match b {
            0 => false,
            9 => true,
            _ => (byte >> (b - 1)) & 1 == 1,
        };
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Decoder

/// Longest correlator. Each standard uses the length that puts the other tone in a null of the
/// correlator (length x shift = sample rate): 8 for Bell 202 (1000 Hz), 10 for V.23 (800 Hz).
const CORR: usize = 10;
/// Mark samples needed before a start bit may open a message.
const MIN_MARK_RUN: u32 = 40;

struct FskRx {
    /// sin/cos of mark and space over one common period of both tones (40 samples for
    /// Bell 202, 80 for V.23): a table lookup instead of four oscillators per sample.
    lo: [[f32; 4]; LO_MAX],
    lo_len: usize,
    lo_pos: usize,
    ring: [[f32; 4]; CORR],
    acc: [f32; 4],
    pos: usize,
    len: usize,
    dhist: [f32; 3],
    pow_ring: [f32; CORR],
    pow_acc: f32,
    min_power: f32,
    mark_run: u32,
    /// In a character: thirds of a sample since the start edge.
    units: Option<u32>,
    next_bit: u32,
    byte: u8,
    frame: [u8; MAX_FRAME],
    flen: usize,
    idle_bits: u32,
    in_msg: bool,
}

enum RxKind {
    Fsk(Box<FskRx>),
    Dtmf {
        det: Box<DtmfDetector>,
        buf: [u8; 40],
        len: usize,
        last_digit: u64,
    },
}

/// Streaming caller ID decoder: feed samples, poll decoded messages (or errors). Allocation-free
/// after construction.
pub struct CidDecoder {
    standard: CidStandard,
    kind: RxKind,
    clock: u64,
    out: [Option<Result<CidMessage, CidError>>; 4],
    out_len: usize,
}

impl CidDecoder {
    pub fn new(standard: CidStandard) -> CidDecoder {
        let kind = match standard.fsk_freqs() {
            Some((m, s)) => RxKind::Fsk(Box::new(FskRx {
                lo: local_oscillators(m, s).0,
                lo_len: local_oscillators(m, s).1,
                lo_pos: 0,
                ring: [[0.0; 4]; CORR],
                acc: [0.0; 4],
                pos: 0,
                pow_ring: [0.0; CORR],
                pow_acc: 0.0,
                len: if m < 1250.0 { 8 } else { 10 },
                dhist: [0.0; 3],
                min_power: dbm0_power(-48.0),
                mark_run: 0,
                units: None,
                next_bit: 0,
                byte: 0,
                frame: [0; MAX_FRAME],
                flen: 0,
                idle_bits: 0,
                in_msg: false,
            })),
            None => RxKind::Dtmf {
                det: Box::new(DtmfDetector::new()),
                buf: [0; 40],
                len: 0,
                last_digit: 0,
            },
        };
        CidDecoder {
            standard,
            kind,
            clock: 0,
            out: [None; 4],
            out_len: 0,
        }
    }

    pub fn standard(&self) -> CidStandard {
        self.standard
    }

    /// Next decoded message or decoding error, oldest first.
    pub fn poll(&mut self) -> Option<Result<CidMessage, CidError>> {
        if self.out_len == 0 {
            return None;
        }
        let r = self.out[0].take();
        self.out.rotate_left(1);
        self.out_len -= 1;
        r
    }

    fn push(&mut self, r: Result<CidMessage, CidError>) {
        if self.out_len == self.out.len() {
            self.out.rotate_left(1);
            self.out_len -= 1;
        }
        self.out[self.out_len] = Some(r);
        self.out_len += 1;
    }

    /// Feeds samples of any count.
    pub fn process(&mut self, samples: &[i16]) {
        match &mut self.kind {
            RxKind::Dtmf { det, .. } => {
                det.process(samples);
                self.clock += samples.len() as u64;
                self.drain_dtmf();
            }
            RxKind::Fsk(_) => {
                for &x in samples {
                    self.clock += 1;
                    let RxKind::Fsk(rx) = &mut self.kind else { return };
                    if let Some(r) = rx.sample(x as f32) {
                        let std = self.standard;
                        let at = self.clock;
                        self.push(r.map(|(caller, format)| CidMessage {
                            standard: std,
                            format,
                            caller,
                            at_sample: at,
                        }));
                    }
                }
            }
        }
    }

    /// Ends a pending DTMF message at the end of input.
    pub fn flush(&mut self) {
        if let RxKind::Dtmf { det, .. } = &mut self.kind {
            det.flush();
        }
        self.drain_dtmf();
    }

    fn drain_dtmf(&mut self) {
        loop {
            let RxKind::Dtmf {
                det,
                buf,
                len,
                last_digit,
            } = &mut self.kind
            else {
                return;
            };
            let Some(ev) = det.poll() else { return };
            if ev.kind != DtmfEventKind::Start {
                continue;
            }
            // A gap of more than 2 s starts a new message.
            if *len > 0 && ev.at_sample.saturating_sub(*last_digit) > 16_000 {
                *len = 0;
            }
            *last_digit = ev.at_sample;
            let c = ev.digit as u8;
            if *len == 0 && !matches!(c, b'A' | b'B' | b'D') {
                continue;
            }
            if *len < buf.len() {
                buf[*len] = c;
                *len += 1;
            }
            if *len > 1 && (c == b'C' || c == b'#') {
                let r = CallerId::parse_dtmf(&buf[..*len]);
                *len = 0;
                let std = self.standard;
                let at = self.clock;
                self.push(r.map(|caller| CidMessage {
                    standard: std,
                    format: CidFormat::Dtmf,
                    caller,
                    at_sample: at,
                }));
            }
        }
    }
}

const LO_MAX: usize = 80;

/// The mark/space sin/cos table and its length: the shortest whole number of samples holding a
/// whole number of cycles of both tones (at most [`LO_MAX`]).
fn local_oscillators(mark: f32, space: f32) -> ([[f32; 4]; LO_MAX], usize) {
    let rate = crate::SAMPLE_RATE as f32;
    let whole = |n: usize, f: f32| ((n as f32 * f / rate).fract()).abs() < 1e-4;
    let len = (1..=LO_MAX)
        .find(|&n| whole(n, mark) && whole(n, space))
        .unwrap_or(LO_MAX);
    let mut t = [[0f32; 4]; LO_MAX];
    for (n, e) in t.iter_mut().enumerate().take(len) {
        let (wm, ws) = (
            2.0 * core::f64::consts::PI * mark as f64 * n as f64 / rate as f64,
            2.0 * core::f64::consts::PI * space as f64 * n as f64 / rate as f64,
        );
        *e = [wm.sin() as f32, wm.cos() as f32, ws.sin() as f32, ws.cos() as f32];
    }
    (t, len)
}

impl FskRx {
    /// One sample in; a finished message (or error) out.
    fn sample(&mut self, x: f32) -> Option<Result<(CallerId, CidFormat), CidError>> {
        let v = [
            x * self.lo[self.lo_pos][0],
            x * self.lo[self.lo_pos][1],
            x * self.lo[self.lo_pos][2],
            x * self.lo[self.lo_pos][3],
        ];
        let old = self.ring[self.pos];
        for k in 0..4 {
            self.acc[k] += v[k] - old[k];
        }
        self.ring[self.pos] = v;
        let p = x * x;
        self.pow_acc += p - self.pow_ring[self.pos];
        self.pow_ring[self.pos] = p;
        self.pos = (self.pos + 1) % self.len;
        self.lo_pos += 1;
        if self.lo_pos == self.lo_len {
            self.lo_pos = 0;
        }
        if self.pos == 0 {
            // Re-sum now and then so rounding cannot accumulate.
            self.acc = [0.0; 4];
            for r in &self.ring {
                for k in 0..4 {
                    self.acc[k] += r[k];
                }
            }
            self.pow_acc = self.pow_ring.iter().sum();
        }
        let em = self.acc[0] * self.acc[0] + self.acc[1] * self.acc[1];
        let es = self.acc[2] * self.acc[2] + self.acc[3] * self.acc[3];
        let carrier = self.pow_acc / self.len as f32 >= self.min_power;
        if !carrier {
            let lost = self.in_msg;
            self.reset_char();
            self.mark_run = 0;
            if lost {
                return Some(Err(CidError::CarrierLost));
            }
            return None;
        }
        // Edges are found on the discriminator averaged over two samples, bits decided on it
        // averaged over three samples around the middle of the bit (sampling phase measured
        // best in noise: 9/3 samples after the edge, see docs/codecs-signal.md).
        let d = (em - es) / (em + es + 1e-3);
        self.dhist = [self.dhist[1], self.dhist[2], d];
        let bit = self.dhist[1] + self.dhist[2] > 0.0;
        let bit_avg = self.dhist.iter().sum::<f32>() > 0.0;
        match self.units {
            None => {
                if bit {
                    self.mark_run = self.mark_run.saturating_add(1);
                    if self.in_msg {
                        self.idle_bits += 1;
                        // 20 bit times of mark inside a message: the sender stopped.
                        if self.idle_bits > 20 * 7 {
                            self.in_msg = false;
                            self.flen = 0;
                            return Some(Err(CidError::Truncated));
                        }
                    }
                } else if self.in_msg || self.mark_run >= MIN_MARK_RUN {
                    self.units = Some(0);
                    self.next_bit = 0;
                    self.byte = 0;
                    self.mark_run = 0;
                } else {
                    self.mark_run = 0;
                }
                None
            }
            Some(u) => {
                let u = u + 3;
                self.units = Some(u);
                // Sample each bit in its middle: 9 + 20 k thirds after the start edge.
                if u >= 9 + 20 * self.next_bit {
                    let bit = bit_avg;
                    let k = self.next_bit;
                    self.next_bit += 1;
                    match k {
                        0 if bit => {
                            // False start.
                            self.units = None;
                            self.mark_run = 1;
                        }
                        1..=8 if bit => self.byte |= 1 << (k - 1),
                        9 => {
                            self.units = None;
                            self.mark_run = 1;
                            if !bit {
                                // Framing error: drop the message.
                                let was = self.in_msg;
                                self.in_msg = false;
                                self.flen = 0;
                                if was {
                                    return Some(Err(CidError::Truncated));
                                }
                                return None;
                            }
                            return self.byte_done(self.byte);
                        }
                        _ => {}
                    }
                }
                None
            }
        }
    }

    fn reset_char(&mut self) {
        self.units = None;
        self.in_msg = false;
        self.flen = 0;
        self.idle_bits = 0;
    }

    fn byte_done(&mut self, b: u8) -> Option<Result<(CallerId, CidFormat), CidError>> {
        self.idle_bits = 0;
        if !self.in_msg {
            // Only a caller ID or message waiting type opens a message.
            if !matches!(b, 0x04 | 0x80 | 0x06 | 0x82) {
                return None;
            }
            self.in_msg = true;
            self.flen = 0;
        }
        self.frame[self.flen] = b;
        self.flen += 1;
        if self.flen >= 2 && self.flen == self.frame[1] as usize + 3 {
            self.in_msg = false;
            let n = self.flen;
            self.flen = 0;
            return Some(CallerId::parse_frame(&self.frame[..n]));
        }
        None
    }
}
