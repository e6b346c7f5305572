//! ISUP message codec (ITU-T Q.763, ANSI T1.113 where it differs), as carried in SIP bodies
//! (RFC 3204: the message starts at the message type code; no routing label, no CIC).
//!
//! - [`MessageView`]: zero-copy, validated view over the bytes; raw access to every part.
//! - [`Message`]: owned value ([`MessageBody`] for the mandatory part + optional [`Param`]s),
//!   built from a view with [`Message::parse`] and emitted with [`Message::emit`].
//! - [`param`]: parameter codes and value types.
//!
//! Layout of every message (Q.763 1.3): message type, mandatory fixed part, one pointer per
//! mandatory variable parameter, the pointer to the optional part, the variable parameters
//! (length + contents), then optional parameters (code, length, contents) closed by the end of
//! optional parameters octet. A pointer counts octets from itself to what it points at; an
//! optional part pointer of 0 means there is no optional part.

pub mod param;

use std::fmt;

pub use param::{
    BackwardCallIndicators, CalledPartyNumber, CallingPartyNumber, CauseIndicators, ChargeNumber,
    EventInformation, ForwardCallIndicators, GenericNumber, NatureOfConnection, Param,
    RedirectionInformation, SubsequentNumber, SuspendResumeIndicators,
};

/// Which ISUP standard the bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// ITU-T Q.763 (1992 and later): RFC 3204 `version=itu-t92+`.
    Itu,
    /// ANSI T1.113 (2000): RFC 3204 `version=ansi00`.
    Ansi,
}

/// Message type codes (Q.763 Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Iam,
    Sam,
    Inr,
    Inf,
    Acm,
    Con,
    Anm,
    Rel,
    Sus,
    Res,
    Rlc,
    Cpg,
    /// A message type this codec does not lay out; carried verbatim.
    Other(u8),
}

impl MessageType {
    pub fn from_code(c: u8) -> Self {
        match c {
            0x01 => MessageType::Iam,
            0x02 => MessageType::Sam,
            0x03 => MessageType::Inr,
            0x04 => MessageType::Inf,
            0x06 => MessageType::Acm,
            0x07 => MessageType::Con,
            0x09 => MessageType::Anm,
            0x0C => MessageType::Rel,
            0x0D => MessageType::Sus,
            0x0E => MessageType::Res,
            0x10 => MessageType::Rlc,
            0x2C => MessageType::Cpg,
            c => MessageType::Other(c),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            MessageType::Iam => 0x01,
            MessageType::Sam => 0x02,
            MessageType::Inr => 0x03,
            MessageType::Inf => 0x04,
            MessageType::Acm => 0x06,
            MessageType::Con => 0x07,
            MessageType::Anm => 0x09,
            MessageType::Rel => 0x0C,
            MessageType::Sus => 0x0D,
            MessageType::Res => 0x0E,
            MessageType::Rlc => 0x10,
            MessageType::Cpg => 0x2C,
            MessageType::Other(c) => c,
        }
    }

    /// Acronym as in Q.762.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Iam => "IAM",
            MessageType::Sam => "SAM",
            MessageType::Inr => "INR",
            MessageType::Inf => "INF",
            MessageType::Acm => "ACM",
            MessageType::Con => "CON",
            MessageType::Anm => "ANM",
            MessageType::Rel => "REL",
            MessageType::Sus => "SUS",
            MessageType::Res => "RES",
            MessageType::Rlc => "RLC",
            MessageType::Cpg => "CPG",
            MessageType::Other(_) => "unknown",
        }
    }

    /// (length of the mandatory fixed part, number of mandatory variable parameters), or None
    /// for types this codec does not lay out.
    pub fn layout(self, variant: Variant) -> Option<(usize, usize)> {
        Some(match self {
            MessageType::Iam => match variant {
                // NCI, FCI(2), CPC, TMR | called party number
                Variant::Itu => (5, 1),
                // NCI, FCI(2), CPC | user service information, called party number
                Variant::Ansi => (4, 2),
            },
            MessageType::Sam => (0, 1),
            MessageType::Inr | MessageType::Inf => (2, 0),
            MessageType::Acm | MessageType::Con => (2, 0),
            MessageType::Anm | MessageType::Rlc => (0, 0),
            MessageType::Rel => (0, 1),
            MessageType::Sus | MessageType::Res => (1, 0),
            MessageType::Cpg => (1, 0),
            MessageType::Other(_) => return None,
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageType::Other(c) => write!(f, "message type 0x{c:02x}"),
            t => f.write_str(t.name()),
        }
    }
}

/// What was wrong with an ISUP message, and where (offsets count from the message type octet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsupError {
    /// No octets at all.
    Empty,
    /// The message ends inside `field` (which starts at `offset`).
    Truncated { field: &'static str, offset: usize },
    /// A pointer at `offset` is 0 or points outside the message.
    BadPointer { field: &'static str, offset: usize },
    /// A parameter's length octet at `offset` runs past the end of the message.
    BadLength { field: &'static str, offset: usize },
    /// The optional part has no end of optional parameters octet.
    MissingEndOfOptional { offset: usize },
    /// A mandatory variable parameter of length zero (`field` at `offset`).
    EmptyMandatory { field: &'static str, offset: usize },
    /// A parameter's contents are shorter than its layout.
    ParamTooShort {
        field: &'static str,
        need: usize,
        got: usize,
    },
    /// A fixed-size parameter of the wrong length.
    ParamLength {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    /// A digit that is not 0-9, A-F, `*` or `#`.
    BadDigit { field: &'static str, digit: char },
    /// Contents that break the parameter's rules.
    BadValue {
        field: &'static str,
        reason: &'static str,
    },
    /// A parameter value longer than 255 octets, or a message whose pointers exceed 255.
    TooLong { field: &'static str },
    /// Parameter code 0 (end of optional parameters) used as a parameter.
    ReservedCode,
    /// The message type is not laid out by this codec (only the view's raw bytes are usable).
    UnsupportedType(u8),
    /// The owned body does not match the variant it is emitted for (e.g. ITU IAM as ANSI).
    VariantMismatch,
    /// A parameter failed to decode at `offset`.
    InParam { offset: usize, source: Box<IsupError> },
}

impl fmt::Display for IsupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsupError::Empty => f.write_str("empty ISUP message"),
            IsupError::Truncated { field, offset } => {
                write!(f, "ISUP message truncated in {field} at offset {offset}")
            }
            IsupError::BadPointer { field, offset } => {
                write!(f, "bad pointer to {field} at offset {offset}")
            }
            IsupError::BadLength { field, offset } => {
                write!(f, "length of {field} at offset {offset} runs past the message")
            }
            IsupError::MissingEndOfOptional { offset } => {
                write!(
                    f,
                    "optional part at offset {offset} lacks end of optional parameters"
                )
            }
            IsupError::EmptyMandatory { field, offset } => {
                write!(f, "mandatory {field} at offset {offset} is empty")
            }
            IsupError::ParamTooShort { field, need, got } => {
                write!(f, "{field}: {got} octets, need at least {need}")
            }
            IsupError::ParamLength { field, expected, got } => {
                write!(f, "{field}: {got} octets, expected {expected}")
            }
            IsupError::BadDigit { field, digit } => write!(f, "{field}: bad digit {digit:?}"),
            IsupError::BadValue { field, reason } => write!(f, "{field}: {reason}"),
            IsupError::TooLong { field } => write!(f, "{field} longer than 255 octets"),
            IsupError::ReservedCode => f.write_str("parameter code 0 is end of optional parameters"),
            IsupError::UnsupportedType(c) => write!(f, "unsupported ISUP message type 0x{c:02x}"),
            IsupError::VariantMismatch => f.write_str("message body does not fit the ISUP variant"),
            IsupError::InParam { offset, source } => {
                write!(f, "parameter at offset {offset}: {source}")
            }
        }
    }
}

impl std::error::Error for IsupError {}

fn variable_name(t: MessageType, variant: Variant, i: usize) -> &'static str {
    match (t, variant, i) {
        (MessageType::Iam, Variant::Ansi, 0) => "user service information",
        (MessageType::Iam, _, _) => "called party number",
        (MessageType::Sam, _, _) => "subsequent number",
        (MessageType::Rel, _, _) => "cause indicators",
        _ => "mandatory variable parameter",
    }
}

/// A validated, zero-copy view of one ISUP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageView<'a> {
    variant: Variant,
    bytes: &'a [u8],
    msg_type: MessageType,
    fixed: &'a [u8],
    variable: [&'a [u8]; 2],
    n_variable: usize,
    /// Offset of the first optional parameter; None when there is no optional part.
    optional_at: Option<usize>,
    /// Offset of the end of optional parameters octet.
    optional_end: usize,
}

/// One raw optional parameter inside a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawParam<'a> {
    pub code: u8,
    /// Offset of the code octet in the message.
    pub offset: usize,
    pub value: &'a [u8],
}

impl<'a> MessageView<'a> {
    /// Checks the structure: pointers, lengths, the end of the optional part. Parameter
    /// contents are decoded lazily ([`Self::optional_params`], typed getters, [`Message::parse`]).
    pub fn new(bytes: &'a [u8], variant: Variant) -> Result<Self, IsupError> {
        let &code = bytes.first().ok_or(IsupError::Empty)?;
        let msg_type = MessageType::from_code(code);
        let (n_fixed, n_var) = msg_type.layout(variant).ok_or(IsupError::UnsupportedType(code))?;
        let fixed_end = 1 + n_fixed;
        if bytes.len() < fixed_end {
            return Err(IsupError::Truncated {
                field: "mandatory fixed part",
                offset: 1,
            });
        }
        let fixed = &bytes[1..fixed_end];
        let mut variable: [&[u8]; 2] = [&[], &[]];
        let mut var_end = fixed_end + n_var + 1;
        for (i, slot) in variable.iter_mut().enumerate().take(n_var) {
            let field = variable_name(msg_type, variant, i);
            let p_at = fixed_end + i;
            let &p = bytes.get(p_at).ok_or(IsupError::Truncated {
                field: "pointer",
                offset: p_at,
            })?;
            let len_at = p_at + p as usize;
            if p == 0 || len_at >= bytes.len() {
                return Err(IsupError::BadPointer { field, offset: p_at });
            }
            let len = bytes[len_at] as usize;
            let end = len_at + 1 + len;
            if end > bytes.len() {
                return Err(IsupError::BadLength {
                    field,
                    offset: len_at,
                });
            }
            if len == 0 {
                return Err(IsupError::EmptyMandatory {
                    field,
                    offset: len_at,
                });
            }
            *slot = &bytes[len_at + 1..end];
            var_end = var_end.max(end);
        }
        let opt_ptr_at = fixed_end + n_var;
        let &op = bytes.get(opt_ptr_at).ok_or(IsupError::Truncated {
            field: "pointer to optional part",
            offset: opt_ptr_at,
        })?;
        let (optional_at, optional_end) = if op == 0 {
            (None, var_end)
        } else {
            let start = opt_ptr_at + op as usize;
            if start >= bytes.len() {
                return Err(IsupError::BadPointer {
                    field: "optional part",
                    offset: opt_ptr_at,
                });
            }
            let mut at = start;
            loop {
                let &c = bytes
                    .get(at)
                    .ok_or(IsupError::MissingEndOfOptional { offset: start })?;
                if c == param::code::END_OF_OPTIONAL {
                    break;
                }
                let &len = bytes.get(at + 1).ok_or(IsupError::Truncated {
                    field: "optional parameter length",
                    offset: at + 1,
                })?;
                let end = at + 2 + len as usize;
                if end > bytes.len() {
                    return Err(IsupError::BadLength {
                        field: "optional parameter",
                        offset: at + 1,
                    });
                }
                at = end;
            }
            (Some(start), at)
        };
        Ok(MessageView {
            variant,
            bytes,
            msg_type,
            fixed,
            variable,
            n_variable: n_var,
            optional_at,
            optional_end,
        })
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    pub fn message_type(&self) -> MessageType {
        self.msg_type
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The mandatory fixed part.
    pub fn fixed(&self) -> &'a [u8] {
        self.fixed
    }

    /// Contents of mandatory variable parameter `i` (in message order).
    pub fn variable(&self, i: usize) -> Option<&'a [u8]> {
        (i < self.n_variable).then(|| self.variable[i])
    }

    /// Optional parameters in message order.
    pub fn optional_params(&self) -> impl Iterator<Item = RawParam<'a>> + 'a {
        let bytes = self.bytes;
        let end = self.optional_end;
        let mut at = self.optional_at.unwrap_or(end);
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let code = bytes[at];
            let len = bytes[at + 1] as usize;
            let p = RawParam {
                code,
                offset: at,
                value: &bytes[at + 2..at + 2 + len],
            };
            at += 2 + len;
            Some(p)
        })
    }

    /// First optional parameter with `code`.
    pub fn optional(&self, code: u8) -> Option<RawParam<'a>> {
        self.optional_params().find(|p| p.code == code)
    }

    /// Called party number of an IAM.
    pub fn called_party_number(&self) -> Option<Result<CalledPartyNumber, IsupError>> {
        if self.msg_type != MessageType::Iam {
            return None;
        }
        let i = if self.variant == Variant::Ansi { 1 } else { 0 };
        Some(CalledPartyNumber::decode(self.variable[i]))
    }

    /// Calling party number (optional parameter).
    pub fn calling_party_number(&self) -> Option<Result<CallingPartyNumber, IsupError>> {
        self.optional(param::code::CALLING_PARTY_NUMBER)
            .map(|p| CallingPartyNumber::decode(p.value))
    }

    /// Cause indicators: mandatory in REL, optional in ACM/CPG/...
    pub fn cause(&self) -> Option<Result<CauseIndicators, IsupError>> {
        if self.msg_type == MessageType::Rel {
            return Some(CauseIndicators::decode(self.variable[0]));
        }
        self.optional(param::code::CAUSE_INDICATORS)
            .map(|p| CauseIndicators::decode(p.value))
    }

    /// Backward call indicators of an ACM or CON.
    pub fn backward_call_indicators(&self) -> Option<BackwardCallIndicators> {
        matches!(self.msg_type, MessageType::Acm | MessageType::Con)
            .then(|| BackwardCallIndicators::from_bytes([self.fixed[0], self.fixed[1]]))
    }

    /// Event information of a CPG.
    pub fn event_information(&self) -> Option<EventInformation> {
        (self.msg_type == MessageType::Cpg).then(|| EventInformation::from_byte(self.fixed[0]))
    }

    /// Suspend/resume indicators of a SUS or RES.
    pub fn suspend_resume(&self) -> Option<SuspendResumeIndicators> {
        matches!(self.msg_type, MessageType::Sus | MessageType::Res)
            .then(|| SuspendResumeIndicators::from_byte(self.fixed[0]))
    }
}

/// IAM medium field: ITU carries the transmission medium requirement in the fixed part, ANSI
/// the user service information (Q.931 bearer capability) as a mandatory variable parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamBearer {
    /// Q.763 3.54: 0 speech, 2 64 kbit/s unrestricted, 3 3.1 kHz audio.
    TransmissionMedium(u8),
    /// T1.113 user service information contents.
    UserServiceInformation(Vec<u8>),
}

/// The mandatory part of an IAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iam {
    pub nature_of_connection: NatureOfConnection,
    pub forward_call: ForwardCallIndicators,
    pub calling_category: u8,
    pub bearer: IamBearer,
    pub called: CalledPartyNumber,
}

/// Mandatory part of each message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageBody {
    Iam(Iam),
    Sam(SubsequentNumber),
    /// Information request indicators (Q.763 3.29), two octets as sent.
    Inr([u8; 2]),
    /// Information indicators (Q.763 3.28), two octets as sent.
    Inf([u8; 2]),
    Acm(BackwardCallIndicators),
    Con(BackwardCallIndicators),
    Anm,
    Cpg(EventInformation),
    Rel(CauseIndicators),
    Rlc,
    Sus(SuspendResumeIndicators),
    Res(SuspendResumeIndicators),
}

impl MessageBody {
    pub fn message_type(&self) -> MessageType {
        match self {
            MessageBody::Iam(_) => MessageType::Iam,
            MessageBody::Sam(_) => MessageType::Sam,
            MessageBody::Inr(_) => MessageType::Inr,
            MessageBody::Inf(_) => MessageType::Inf,
            MessageBody::Acm(_) => MessageType::Acm,
            MessageBody::Con(_) => MessageType::Con,
            MessageBody::Anm => MessageType::Anm,
            MessageBody::Cpg(_) => MessageType::Cpg,
            MessageBody::Rel(_) => MessageType::Rel,
            MessageBody::Rlc => MessageType::Rlc,
            MessageBody::Sus(_) => MessageType::Sus,
            MessageBody::Res(_) => MessageType::Res,
        }
    }
}

/// An owned ISUP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub body: MessageBody,
    /// Optional parameters in order; empty means no optional part (pointer 0).
    pub optional: Vec<Param>,
}

fn in_param(offset: usize) -> impl FnOnce(IsupError) -> IsupError {
    move |e| IsupError::InParam {
        offset,
        source: Box::new(e),
    }
}

impl Message {
    pub fn new(body: MessageBody) -> Self {
        Message {
            body,
            optional: Vec::new(),
        }
    }

    pub fn message_type(&self) -> MessageType {
        self.body.message_type()
    }

    /// Parses and decodes every parameter.
    pub fn parse(bytes: &[u8], variant: Variant) -> Result<Self, IsupError> {
        Self::from_view(&MessageView::new(bytes, variant)?)
    }

    pub fn from_view(v: &MessageView<'_>) -> Result<Self, IsupError> {
        let f = v.fixed;
        let var_off = |i: usize| {
            // Offset of variable parameter i's contents, for error reports.
            let p_at = 1 + f.len() + i;
            p_at + v.bytes[p_at] as usize + 1
        };
        let body = match v.msg_type {
            MessageType::Iam => {
                let (bearer, called_i) = match v.variant {
                    Variant::Itu => (IamBearer::TransmissionMedium(f[4]), 0),
                    Variant::Ansi => (IamBearer::UserServiceInformation(v.variable[0].to_vec()), 1),
                };
                MessageBody::Iam(Iam {
                    nature_of_connection: NatureOfConnection::from_byte(f[0]),
                    forward_call: ForwardCallIndicators::from_bytes([f[1], f[2]]),
                    calling_category: f[3],
                    bearer,
                    called: CalledPartyNumber::decode(v.variable[called_i])
                        .map_err(in_param(var_off(called_i)))?,
                })
            }
            MessageType::Sam => {
                MessageBody::Sam(SubsequentNumber::decode(v.variable[0]).map_err(in_param(var_off(0)))?)
            }
            MessageType::Inr => MessageBody::Inr([f[0], f[1]]),
            MessageType::Inf => MessageBody::Inf([f[0], f[1]]),
            MessageType::Acm => MessageBody::Acm(BackwardCallIndicators::from_bytes([f[0], f[1]])),
            MessageType::Con => MessageBody::Con(BackwardCallIndicators::from_bytes([f[0], f[1]])),
            MessageType::Anm => MessageBody::Anm,
            MessageType::Cpg => MessageBody::Cpg(EventInformation::from_byte(f[0])),
            MessageType::Rel => {
                MessageBody::Rel(CauseIndicators::decode(v.variable[0]).map_err(in_param(var_off(0)))?)
            }
            MessageType::Rlc => MessageBody::Rlc,
            MessageType::Sus => MessageBody::Sus(SuspendResumeIndicators::from_byte(f[0])),
            MessageType::Res => MessageBody::Res(SuspendResumeIndicators::from_byte(f[0])),
            MessageType::Other(c) => return Err(IsupError::UnsupportedType(c)),
        };
        let ansi = v.variant == Variant::Ansi;
        let optional = v
            .optional_params()
            .map(|p| Param::decode(p.code, p.value, ansi).map_err(in_param(p.offset)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Message { body, optional })
    }

    /// Emits the message in `variant`'s layout.
    pub fn emit(&self, variant: Variant) -> Result<Vec<u8>, IsupError> {
        let mut out = Vec::with_capacity(32);
        self.emit_into(variant, &mut out)?;
        Ok(out)
    }

    pub fn emit_into(&self, variant: Variant, out: &mut Vec<u8>) -> Result<(), IsupError> {
        let base = out.len();
        out.push(self.message_type().code());
        // Mandatory variable parameters' contents, encoded first, placed after the pointers.
        let mut vars: Vec<(&'static str, Vec<u8>)> = Vec::new();
        match &self.body {
            MessageBody::Iam(iam) => {
                out.push(iam.nature_of_connection.to_byte());
                out.extend_from_slice(&iam.forward_call.to_bytes());
                out.push(iam.calling_category);
                match (&iam.bearer, variant) {
                    (IamBearer::TransmissionMedium(t), Variant::Itu) => out.push(*t),
                    (IamBearer::UserServiceInformation(u), Variant::Ansi) => {
                        vars.push(("user service information", u.clone()))
                    }
                    _ => return Err(IsupError::VariantMismatch),
                }
                let mut c = Vec::new();
                iam.called.encode(&mut c)?;
                vars.push((CalledPartyNumber::FIELD, c));
            }
            MessageBody::Sam(s) => {
                let mut c = Vec::new();
                s.encode(&mut c)?;
                vars.push((SubsequentNumber::FIELD, c));
            }
            MessageBody::Inr(b) | MessageBody::Inf(b) => out.extend_from_slice(b),
            MessageBody::Acm(b) | MessageBody::Con(b) => out.extend_from_slice(&b.to_bytes()),
            MessageBody::Anm | MessageBody::Rlc => {}
            MessageBody::Cpg(e) => out.push(e.to_byte()),
            MessageBody::Rel(c) => {
                let mut v = Vec::new();
                c.encode(&mut v)?;
                vars.push((CauseIndicators::FIELD, v));
            }
            MessageBody::Sus(s) | MessageBody::Res(s) => out.push(s.to_byte()),
        }
        let ptr_at = out.len();
        let n_ptrs = vars.len() + 1;
        out.resize(ptr_at + n_ptrs, 0);
        for (i, (field, v)) in vars.iter().enumerate() {
            if v.is_empty() {
                return Err(IsupError::EmptyMandatory {
                    field,
                    offset: out.len() - base,
                });
            }
            let len = u8::try_from(v.len()).map_err(|_| IsupError::TooLong { field })?;
            let p = u8::try_from(out.len() - (ptr_at + i)).map_err(|_| IsupError::TooLong { field })?;
            out[ptr_at + i] = p;
            out.push(len);
            out.extend_from_slice(v);
        }
        if !self.optional.is_empty() {
            let p = u8::try_from(out.len() - (ptr_at + vars.len())).map_err(|_| IsupError::TooLong {
                field: "mandatory part",
            })?;
            out[ptr_at + vars.len()] = p;
            for prm in &self.optional {
                let code = prm.code();
                if code == param::code::END_OF_OPTIONAL {
                    return Err(IsupError::ReservedCode);
                }
                out.push(code);
                let len_at = out.len();
                out.push(0);
                prm.encode_value(out)?;
                out[len_at] = u8::try_from(out.len() - len_at - 1).map_err(|_| IsupError::TooLong {
                    field: "optional parameter",
                })?;
            }
            out.push(param::code::END_OF_OPTIONAL);
        }
        Ok(())
    }

    /// First optional parameter matching `f`.
    pub fn find<'s, T: 's>(&'s self, f: impl FnMut(&'s Param) -> Option<T>) -> Option<T> {
        self.optional.iter().find_map(f)
    }

    /// Calling party number, if present.
    pub fn calling_party_number(&self) -> Option<&CallingPartyNumber> {
        self.find(|p| match p {
            Param::CallingPartyNumber(n) => Some(n),
            _ => None,
        })
    }

    /// The cause: REL's mandatory one, or an optional cause indicators parameter.
    pub fn cause(&self) -> Option<&CauseIndicators> {
        match &self.body {
            MessageBody::Rel(c) => Some(c),
            _ => self.find(|p| match p {
                Param::CauseIndicators(c) => Some(c),
                _ => None,
            }),
        }
    }
}
