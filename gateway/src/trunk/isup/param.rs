//! ISUP parameters (Q.763 clause 3; ANSI T1.113.3 where it differs): codes and value types.
//!
//! Every value type decodes from the parameter's contents (without code and length octets)
//! and encodes back. Spare bits that Q.763 leaves to national use are kept so that a relayed
//! parameter re-encodes to the same bytes.

use super::IsupError;

/// Parameter name codes (Q.763 Table 5; ANSI additions marked).
pub mod code {
    pub const END_OF_OPTIONAL: u8 = 0x00;
    pub const TRANSMISSION_MEDIUM_REQUIREMENT: u8 = 0x02;
    pub const CALLED_PARTY_NUMBER: u8 = 0x04;
    pub const SUBSEQUENT_NUMBER: u8 = 0x05;
    pub const NATURE_OF_CONNECTION: u8 = 0x06;
    pub const FORWARD_CALL_INDICATORS: u8 = 0x07;
    pub const OPTIONAL_FORWARD_CALL_INDICATORS: u8 = 0x08;
    pub const CALLING_PARTYS_CATEGORY: u8 = 0x09;
    pub const CALLING_PARTY_NUMBER: u8 = 0x0A;
    pub const REDIRECTING_NUMBER: u8 = 0x0B;
    pub const REDIRECTION_NUMBER: u8 = 0x0C;
    pub const INFORMATION_REQUEST_INDICATORS: u8 = 0x0E;
    pub const INFORMATION_INDICATORS: u8 = 0x0F;
    pub const BACKWARD_CALL_INDICATORS: u8 = 0x11;
    pub const CAUSE_INDICATORS: u8 = 0x12;
    pub const REDIRECTION_INFORMATION: u8 = 0x13;
    pub const USER_SERVICE_INFORMATION: u8 = 0x1D;
    pub const SUSPEND_RESUME_INDICATORS: u8 = 0x22;
    pub const EVENT_INFORMATION: u8 = 0x24;
    pub const ORIGINAL_CALLED_NUMBER: u8 = 0x28;
    pub const OPTIONAL_BACKWARD_CALL_INDICATORS: u8 = 0x29;
    /// Generic number (ITU) / generic address (ANSI).
    pub const GENERIC_NUMBER: u8 = 0xC0;
    /// Charge number (ANSI only).
    pub const ANSI_CHARGE_NUMBER: u8 = 0xEB;
}

/// Nature of address indicator values (Q.763 3.9 b).
pub mod nai {
    pub const SUBSCRIBER: u8 = 1;
    pub const UNKNOWN: u8 = 2;
    pub const NATIONAL: u8 = 3;
    pub const INTERNATIONAL: u8 = 4;
    pub const NETWORK_SPECIFIC: u8 = 5;
}

/// Calling party's category values (Q.763 3.11).
pub mod category {
    pub const UNKNOWN: u8 = 0x00;
    pub const ORDINARY: u8 = 0x0A;
    pub const PRIORITY: u8 = 0x0B;
    pub const DATA: u8 = 0x0C;
    pub const TEST: u8 = 0x0D;
    pub const PAYPHONE: u8 = 0x0F;
}

/// Address digits as text: `0`-`9`, `A` (code 10), `*` (code 11), `#` (code 12), `D`, `E`, and
/// `F` for ST (end of pulsing, code 15). Q.1912.5 maps SIP `*`/`#` onto codes 11/12.
pub fn digit_to_nibble(c: char) -> Option<u8> {
    Some(match c {
        '0'..='9' => c as u8 - b'0',
        'A' | 'a' => 10,
        '*' | 'B' | 'b' => 11,
        '#' | 'C' | 'c' => 12,
        'D' | 'd' => 13,
        'E' | 'e' => 14,
        'F' | 'f' => 15,
        _ => return None,
    })
}

/// Inverse of [`digit_to_nibble`] (canonical characters).
pub fn nibble_to_digit(n: u8) -> char {
    b"0123456789A*#DEF"[(n & 0x0F) as usize] as char
}

/// Packs digits as BCD, first digit in the low nibble; returns (odd, bytes).
fn pack_digits(digits: &str, field: &'static str) -> Result<(bool, Vec<u8>), IsupError> {
    let mut out = Vec::with_capacity(digits.len().div_ceil(2));
    let mut n = 0usize;
    for c in digits.chars() {
        let d = digit_to_nibble(c).ok_or(IsupError::BadDigit { field, digit: c })?;
        if n.is_multiple_of(2) {
            out.push(d);
        } else if let Some(last) = out.last_mut() {
            *last |= d << 4;
        }
        n += 1;
    }
    Ok((n % 2 == 1, out))
}

fn unpack_digits(bytes: &[u8], odd: bool, field: &'static str) -> Result<String, IsupError> {
    if odd && bytes.is_empty() {
        return Err(IsupError::BadValue {
            field,
            reason: "odd indicator set without digits",
        });
    }
    let mut s = String::with_capacity(bytes.len() * 2);
    for (i, b) in bytes.iter().enumerate() {
        s.push(nibble_to_digit(b & 0x0F));
        if !(odd && i + 1 == bytes.len()) {
            s.push(nibble_to_digit(b >> 4));
        }
    }
    Ok(s)
}

fn need(data: &[u8], n: usize, field: &'static str) -> Result<(), IsupError> {
    if data.len() < n {
        Err(IsupError::ParamTooShort {
            field,
            need: n,
            got: data.len(),
        })
    } else {
        Ok(())
    }
}

fn exact(data: &[u8], n: usize, field: &'static str) -> Result<(), IsupError> {
    if data.len() != n {
        Err(IsupError::ParamLength {
            field,
            expected: n,
            got: data.len(),
        })
    } else {
        Ok(())
    }
}

/// Called party number (Q.763 3.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalledPartyNumber {
    /// Nature of address indicator (7 bits, see [`nai`]).
    pub nai: u8,
    /// Internal network number indicator: true = routing to internal network number not allowed.
    pub inn_not_allowed: bool,
    /// Numbering plan indicator (3 bits; 1 = ISDN/E.164).
    pub numbering_plan: u8,
    /// Digits, see [`digit_to_nibble`]; ends in `F` (ST) when the number is complete.
    pub digits: String,
}

impl CalledPartyNumber {
    pub const FIELD: &'static str = "called party number";

    pub fn decode(d: &[u8]) -> Result<Self, IsupError> {
        Self::decode_as(d, Self::FIELD)
    }

    fn decode_as(d: &[u8], field: &'static str) -> Result<Self, IsupError> {
        need(d, 2, field)?;
        Ok(CalledPartyNumber {
            nai: d[0] & 0x7F,
            inn_not_allowed: d[1] & 0x80 != 0,
            numbering_plan: (d[1] >> 4) & 0x07,
            digits: unpack_digits(&d[2..], d[0] & 0x80 != 0, field)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        let (odd, digits) = pack_digits(&self.digits, Self::FIELD)?;
        out.push(((odd as u8) << 7) | (self.nai & 0x7F));
        out.push(((self.inn_not_allowed as u8) << 7) | ((self.numbering_plan & 7) << 4));
        out.extend_from_slice(&digits);
        Ok(())
    }
}

/// Subsequent number (Q.763 3.51): odd/even indicator and digits only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubsequentNumber {
    pub digits: String,
}

impl SubsequentNumber {
    pub const FIELD: &'static str = "subsequent number";

    pub fn decode(d: &[u8]) -> Result<Self, IsupError> {
        need(d, 1, Self::FIELD)?;
        Ok(SubsequentNumber {
            digits: unpack_digits(&d[1..], d[0] & 0x80 != 0, Self::FIELD)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        let (odd, digits) = pack_digits(&self.digits, Self::FIELD)?;
        out.push((odd as u8) << 7);
        out.extend_from_slice(&digits);
        Ok(())
    }
}

/// Address presentation restricted indicator (2 bits).
pub mod presentation {
    pub const ALLOWED: u8 = 0;
    pub const RESTRICTED: u8 = 1;
    pub const NOT_AVAILABLE: u8 = 2;
}

/// Screening indicator (2 bits).
pub mod screening {
    pub const USER_NOT_VERIFIED: u8 = 0;
    pub const USER_VERIFIED_PASSED: u8 = 1;
    pub const NETWORK_PROVIDED: u8 = 3;
}

/// Calling party number (Q.763 3.10); also the layout of redirecting number and original called
/// number (3.44, 3.39), whose screening bits are spare, and of the number inside a generic
/// number (3.26).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingPartyNumber {
    pub nai: u8,
    /// Number incomplete indicator.
    pub incomplete: bool,
    pub numbering_plan: u8,
    /// Address presentation restricted indicator, see [`presentation`].
    pub presentation: u8,
    /// Screening indicator, see [`screening`].
    pub screening: u8,
    pub digits: String,
}

impl CallingPartyNumber {
    pub const FIELD: &'static str = "calling party number";

    pub fn decode(d: &[u8]) -> Result<Self, IsupError> {
        Self::decode_as(d, Self::FIELD)
    }

    pub(crate) fn decode_as(d: &[u8], field: &'static str) -> Result<Self, IsupError> {
        need(d, 2, field)?;
        Ok(CallingPartyNumber {
            nai: d[0] & 0x7F,
            incomplete: d[1] & 0x80 != 0,
            numbering_plan: (d[1] >> 4) & 7,
            presentation: (d[1] >> 2) & 3,
            screening: d[1] & 3,
            digits: unpack_digits(&d[2..], d[0] & 0x80 != 0, field)?,
        })
    }

    pub(crate) fn encode_as(&self, out: &mut Vec<u8>, field: &'static str) -> Result<(), IsupError> {
        let (odd, digits) = pack_digits(&self.digits, field)?;
        out.push(((odd as u8) << 7) | (self.nai & 0x7F));
        out.push(
            ((self.incomplete as u8) << 7)
                | ((self.numbering_plan & 7) << 4)
                | ((self.presentation & 3) << 2)
                | (self.screening & 3),
        );
        out.extend_from_slice(&digits);
        Ok(())
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        self.encode_as(out, Self::FIELD)
    }
}

/// Generic number (Q.763 3.26) / ANSI generic address: a number qualifier octet then the
/// calling-party-number layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericNumber {
    /// Number qualifier indicator (ITU; e.g. 6 = additional calling party number) or ANSI type
    /// of address.
    pub qualifier: u8,
    pub number: CallingPartyNumber,
}

impl GenericNumber {
    pub const FIELD: &'static str = "generic number";

    pub fn decode(d: &[u8]) -> Result<Self, IsupError> {
        need(d, 3, Self::FIELD)?;
        Ok(GenericNumber {
            qualifier: d[0],
            number: CallingPartyNumber::decode_as(&d[1..], Self::FIELD)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        out.push(self.qualifier);
        self.number.encode_as(out, Self::FIELD)
    }
}

/// ANSI charge number (T1.113.3 3.9A): odd/even + nature of address, numbering plan, digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeNumber {
    pub nai: u8,
    pub numbering_plan: u8,
    pub digits: String,
}

impl ChargeNumber {
    pub const FIELD: &'static str = "charge number";

    pub fn decode(d: &[u8]) -> Result<Self, IsupError> {
        let n = CalledPartyNumber::decode_as(d, Self::FIELD)?;
        Ok(ChargeNumber {
            nai: n.nai,
            numbering_plan: n.numbering_plan,
            digits: n.digits,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        let (odd, digits) = pack_digits(&self.digits, Self::FIELD)?;
        out.push(((odd as u8) << 7) | (self.nai & 0x7F));
        out.push((self.numbering_plan & 7) << 4);
        out.extend_from_slice(&digits);
        Ok(())
    }
}

/// Nature of connection indicators (Q.763 3.35).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatureOfConnection {
    /// Satellite indicator (bits BA): 0 none, 1 one, 2 two satellite circuits.
    pub satellite: u8,
    /// Continuity check indicator (bits DC): 0 not required, 1 required on this circuit,
    /// 2 performed on a previous circuit.
    pub continuity_check: u8,
    /// Outgoing echo control device included.
    pub echo_control_device: bool,
    /// Bits HGF (spare / national use).
    pub spare: u8,
}

impl NatureOfConnection {
    pub const FIELD: &'static str = "nature of connection indicators";

    pub fn from_byte(b: u8) -> Self {
        NatureOfConnection {
            satellite: b & 3,
            continuity_check: (b >> 2) & 3,
            echo_control_device: b & 0x10 != 0,
            spare: b >> 5,
        }
    }

    pub fn to_byte(self) -> u8 {
        (self.satellite & 3)
            | ((self.continuity_check & 3) << 2)
            | ((self.echo_control_device as u8) << 4)
            | ((self.spare & 7) << 5)
    }
}

/// Forward call indicators (Q.763 3.23), bits A-P over two octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardCallIndicators {
    /// A: call to be treated as international.
    pub international: bool,
    /// CB: end-to-end method indicator.
    pub end_to_end_method: u8,
    /// D: interworking encountered.
    pub interworking: bool,
    /// E: end-to-end information available.
    pub end_to_end_info: bool,
    /// F: ISDN user part used all the way.
    pub isup_all_the_way: bool,
    /// HG: ISDN user part preference: 0 preferred all the way, 1 not required, 2 required.
    pub isup_preference: u8,
    /// I: originating access ISDN (false: non-ISDN, e.g. an analog line).
    pub isdn_access: bool,
    /// KJ: SCCP method indicator.
    pub sccp_method: u8,
    /// L spare and M-P national use (4 bits as they sit in octet 2 bits 4-8 shifted down).
    pub national: u8,
}

impl ForwardCallIndicators {
    pub const FIELD: &'static str = "forward call indicators";

    pub fn from_bytes(b: [u8; 2]) -> Self {
        ForwardCallIndicators {
            international: b[0] & 1 != 0,
            end_to_end_method: (b[0] >> 1) & 3,
            interworking: b[0] & 0x08 != 0,
            end_to_end_info: b[0] & 0x10 != 0,
            isup_all_the_way: b[0] & 0x20 != 0,
            isup_preference: b[0] >> 6,
            isdn_access: b[1] & 1 != 0,
            sccp_method: (b[1] >> 1) & 3,
            national: b[1] >> 3,
        }
    }

    pub fn to_bytes(self) -> [u8; 2] {
        [
            (self.international as u8)
                | ((self.end_to_end_method & 3) << 1)
                | ((self.interworking as u8) << 3)
                | ((self.end_to_end_info as u8) << 4)
                | ((self.isup_all_the_way as u8) << 5)
                | ((self.isup_preference & 3) << 6),
            (self.isdn_access as u8) | ((self.sccp_method & 3) << 1) | ((self.national & 0x1F) << 3),
        ]
    }
}

/// Backward call indicators (Q.763 3.5), bits A-P over two octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackwardCallIndicators {
    /// BA: 0 no indication, 1 no charge, 2 charge.
    pub charge: u8,
    /// DC: called party's status: 0 no indication, 1 subscriber free, 2 connect when free.
    pub called_status: u8,
    /// FE: called party's category: 0 no indication, 1 ordinary subscriber, 2 payphone.
    pub called_category: u8,
    /// HG: end-to-end method indicator.
    pub end_to_end_method: u8,
    /// I: interworking encountered.
    pub interworking: bool,
    /// J: end-to-end information available.
    pub end_to_end_info: bool,
    /// K: ISDN user part used all the way.
    pub isup_all_the_way: bool,
    /// L: holding requested.
    pub holding: bool,
    /// M: terminating access ISDN.
    pub isdn_access: bool,
    /// N: incoming echo control device included.
    pub echo_control_device: bool,
    /// PO: SCCP method indicator.
    pub sccp_method: u8,
}

impl BackwardCallIndicators {
    pub const FIELD: &'static str = "backward call indicators";

    pub fn from_bytes(b: [u8; 2]) -> Self {
        BackwardCallIndicators {
            charge: b[0] & 3,
            called_status: (b[0] >> 2) & 3,
            called_category: (b[0] >> 4) & 3,
            end_to_end_method: b[0] >> 6,
            interworking: b[1] & 1 != 0,
            end_to_end_info: b[1] & 2 != 0,
            isup_all_the_way: b[1] & 4 != 0,
            holding: b[1] & 8 != 0,
            isdn_access: b[1] & 0x10 != 0,
            echo_control_device: b[1] & 0x20 != 0,
            sccp_method: b[1] >> 6,
        }
    }

    pub fn to_bytes(self) -> [u8; 2] {
        [
            (self.charge & 3)
                | ((self.called_status & 3) << 2)
                | ((self.called_category & 3) << 4)
                | ((self.end_to_end_method & 3) << 6),
            (self.interworking as u8)
                | ((self.end_to_end_info as u8) << 1)
                | ((self.isup_all_the_way as u8) << 2)
                | ((self.holding as u8) << 3)
                | ((self.isdn_access as u8) << 4)
                | ((self.echo_control_device as u8) << 5)
                | ((self.sccp_method & 3) << 6),
        ]
    }
}

/// Cause location values (Q.850 2.2.5).
pub mod location {
    pub const USER: u8 = 0;
    pub const PRIVATE_LOCAL: u8 = 1;
    pub const PUBLIC_LOCAL: u8 = 2;
    pub const TRANSIT: u8 = 3;
    pub const PUBLIC_REMOTE: u8 = 4;
    pub const PRIVATE_REMOTE: u8 = 5;
    pub const INTERNATIONAL: u8 = 7;
    pub const BEYOND_INTERWORKING: u8 = 10;
}

/// Cause indicators (Q.763 3.12, coded as Q.850).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseIndicators {
    /// Coding standard (2 bits): 0 ITU-T, 2 national (ANSI uses 2 for T1 causes).
    pub coding_standard: u8,
    /// Location (4 bits), see [`location`].
    pub location: u8,
    /// Octet 1a (recommendation), present when octet 1's extension bit is 0.
    pub recommendation: Option<u8>,
    /// Cause value (7 bits, Q.850).
    pub cause: u8,
    /// Diagnostic octets.
    pub diagnostics: Vec<u8>,
}

impl CauseIndicators {
    pub const FIELD: &'static str = "cause indicators";

    /// ITU-T coded cause with no diagnostics.
    pub fn new(cause: u8, location: u8) -> Self {
        CauseIndicators {
            coding_standard: 0,
            location,
            recommendation: None,
            cause,
            diagnostics: Vec::new(),
        }
    }

    pub fn decode(d: &[u8]) -> Result<Self, IsupError> {
        need(d, 2, Self::FIELD)?;
        let (recommendation, i) = if d[0] & 0x80 == 0 {
            need(d, 3, Self::FIELD)?;
            (Some(d[1] & 0x7F), 2)
        } else {
            (None, 1)
        };
        if d[i] & 0x80 == 0 {
            return Err(IsupError::BadValue {
                field: Self::FIELD,
                reason: "cause value octet without extension bit",
            });
        }
        Ok(CauseIndicators {
            coding_standard: (d[0] >> 5) & 3,
            location: d[0] & 0x0F,
            recommendation,
            cause: d[i] & 0x7F,
            diagnostics: d[i + 1..].to_vec(),
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        let ext = if self.recommendation.is_some() { 0 } else { 0x80 };
        out.push(ext | ((self.coding_standard & 3) << 5) | (self.location & 0x0F));
        if let Some(r) = self.recommendation {
            out.push(0x80 | (r & 0x7F));
        }
        out.push(0x80 | (self.cause & 0x7F));
        out.extend_from_slice(&self.diagnostics);
        Ok(())
    }
}

/// Redirection information (Q.763 3.45).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedirectionInformation {
    /// CBA: redirecting indicator (e.g. 3 call diverted).
    pub redirecting_indicator: u8,
    /// HGFE: original redirection reason.
    pub original_reason: u8,
    /// KJI: redirection counter (1-5).
    pub counter: u8,
    /// PONM: redirecting reason (1 busy, 2 no reply, 3 unconditional).
    pub reason: u8,
}

impl RedirectionInformation {
    pub const FIELD: &'static str = "redirection information";

    /// ANSI networks may send only the first octet.
    pub fn decode(d: &[u8]) -> Result<Self, IsupError> {
        need(d, 1, Self::FIELD)?;
        let b1 = d.get(1).copied().unwrap_or(0);
        Ok(RedirectionInformation {
            redirecting_indicator: d[0] & 7,
            original_reason: d[0] >> 4,
            counter: b1 & 7,
            reason: b1 >> 4,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        out.push((self.redirecting_indicator & 7) | ((self.original_reason & 0x0F) << 4));
        out.push((self.counter & 7) | ((self.reason & 0x0F) << 4));
        Ok(())
    }
}

/// Event information (Q.763 3.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInformation {
    /// GFEDCBA: 1 alerting, 2 progress, 3 in-band information available, 4 forwarded on busy,
    /// 5 forwarded on no reply, 6 forwarded unconditional.
    pub event: u8,
    /// H: event presentation restricted.
    pub presentation_restricted: bool,
}

impl EventInformation {
    pub const FIELD: &'static str = "event information";
    pub const ALERTING: u8 = 1;
    pub const PROGRESS: u8 = 2;
    pub const INBAND_INFO: u8 = 3;

    pub fn from_byte(b: u8) -> Self {
        EventInformation {
            event: b & 0x7F,
            presentation_restricted: b & 0x80 != 0,
        }
    }

    pub fn to_byte(self) -> u8 {
        (self.event & 0x7F) | ((self.presentation_restricted as u8) << 7)
    }
}

/// Suspend/resume indicators (Q.763 3.52).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspendResumeIndicators {
    /// A: true = network initiated, false = ISDN subscriber initiated.
    pub network_initiated: bool,
    /// Bits H-B (spare).
    pub spare: u8,
}

impl SuspendResumeIndicators {
    pub const FIELD: &'static str = "suspend/resume indicators";

    pub fn from_byte(b: u8) -> Self {
        SuspendResumeIndicators {
            network_initiated: b & 1 != 0,
            spare: b >> 1,
        }
    }

    pub fn to_byte(self) -> u8 {
        (self.network_initiated as u8) | (self.spare << 1)
    }
}

/// An optional parameter, decoded when its code is known, verbatim otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    CallingPartyNumber(CallingPartyNumber),
    RedirectingNumber(CallingPartyNumber),
    OriginalCalledNumber(CallingPartyNumber),
    GenericNumber(GenericNumber),
    RedirectionInformation(RedirectionInformation),
    CauseIndicators(CauseIndicators),
    TransmissionMediumRequirement(u8),
    ChargeNumber(ChargeNumber),
    /// Any other parameter: code and contents, re-emitted byte for byte.
    Other {
        code: u8,
        value: Vec<u8>,
    },
}

impl Param {
    /// The parameter name code.
    pub fn code(&self) -> u8 {
        match self {
            Param::CallingPartyNumber(_) => code::CALLING_PARTY_NUMBER,
            Param::RedirectingNumber(_) => code::REDIRECTING_NUMBER,
            Param::OriginalCalledNumber(_) => code::ORIGINAL_CALLED_NUMBER,
            Param::GenericNumber(_) => code::GENERIC_NUMBER,
            Param::RedirectionInformation(_) => code::REDIRECTION_INFORMATION,
            Param::CauseIndicators(_) => code::CAUSE_INDICATORS,
            Param::TransmissionMediumRequirement(_) => code::TRANSMISSION_MEDIUM_REQUIREMENT,
            Param::ChargeNumber(_) => code::ANSI_CHARGE_NUMBER,
            Param::Other { code, .. } => *code,
        }
    }

    /// Decodes an optional parameter's contents. `ansi` selects T1.113 codes (charge number).
    pub fn decode(code: u8, d: &[u8], ansi: bool) -> Result<Self, IsupError> {
        Ok(match code {
            code::CALLING_PARTY_NUMBER => Param::CallingPartyNumber(CallingPartyNumber::decode(d)?),
            code::REDIRECTING_NUMBER => {
                Param::RedirectingNumber(CallingPartyNumber::decode_as(d, "redirecting number")?)
            }
            code::ORIGINAL_CALLED_NUMBER => {
                Param::OriginalCalledNumber(CallingPartyNumber::decode_as(d, "original called number")?)
            }
            code::GENERIC_NUMBER => Param::GenericNumber(GenericNumber::decode(d)?),
            code::REDIRECTION_INFORMATION => {
                Param::RedirectionInformation(RedirectionInformation::decode(d)?)
            }
            code::CAUSE_INDICATORS => Param::CauseIndicators(CauseIndicators::decode(d)?),
            code::TRANSMISSION_MEDIUM_REQUIREMENT => {
                exact(d, 1, "transmission medium requirement")?;
                Param::TransmissionMediumRequirement(d[0])
            }
            code::ANSI_CHARGE_NUMBER if ansi => Param::ChargeNumber(ChargeNumber::decode(d)?),
            _ => Param::Other {
                code,
                value: d.to_vec(),
            },
        })
    }

    /// Appends the parameter's contents (not code or length).
    pub fn encode_value(&self, out: &mut Vec<u8>) -> Result<(), IsupError> {
        match self {
            Param::CallingPartyNumber(n) => n.encode(out),
            Param::RedirectingNumber(n) => n.encode_as(out, "redirecting number"),
            Param::OriginalCalledNumber(n) => n.encode_as(out, "original called number"),
            Param::GenericNumber(n) => n.encode(out),
            Param::RedirectionInformation(r) => r.encode(out),
            Param::CauseIndicators(c) => c.encode(out),
            Param::TransmissionMediumRequirement(t) => {
                out.push(*t);
                Ok(())
            }
            Param::ChargeNumber(n) => n.encode(out),
            Param::Other { value, .. } => {
                out.extend_from_slice(value);
                Ok(())
            }
        }
    }
}
