//! Interworking between call control and ISUP (RFC 3398, ITU-T Q.1912.5).
//!
//! Outgoing calls (the gateway originates toward a SIP-T/SIP-I trunk):
//! [`build_iam`] from the dialled number and caller ID; [`progress_of`] turns received 18x/2xx
//! (with their ACM/CPG/ANM/CON) into [`CallProgress`] for the port; [`release_of`] turns a
//! BYE/4xx-6xx (with its REL) into a cause, a SIP status and a [`ReleaseTone`].
//!
//! Incoming calls (the trunk offers a call to a port): [`route_number`] picks the number to
//! route on (IAM called party number, else Request-URI user); [`caller_id_from_iam`] gives the
//! caller ID to present; [`acm_ringing`], [`answer_message`] and [`rel_for_status`] /
//! [`rel_normal`] build the ISUP we put in our 180, 200 and final/BYE/CANCEL messages.
//!
//! Release causes outside ISUP: [`reason_header`] / [`parse_reason`] write and read the RFC 3326
//! `Reason: Q.850` header (RFC 8606 location); [`release_of_request`] gives the cause of a
//! received BYE or CANCEL from its REL or its Reason.
//!
//! Mid-call: [`mid_call_action`] interprets SUS/RES received in INFO or re-INVITE, and
//! [`SuspendTimer`] releases a call left suspended past T6/T2 (Q.764 2.5).

use super::isup::param::{category, location, nai, presentation, screening};
use super::isup::{
    BackwardCallIndicators, CalledPartyNumber, CallingPartyNumber, CauseIndicators, EventInformation,
    ForwardCallIndicators, Iam, IamBearer, Message, MessageBody, MessageType, NatureOfConnection, Param,
    SuspendResumeIndicators, Variant,
};

/// Q.850 cause values used by the gateway.
pub mod cause {
    pub const UNALLOCATED_NUMBER: u8 = 1;
    pub const NO_ROUTE_TO_DESTINATION: u8 = 3;
    pub const NORMAL_CLEARING: u8 = 16;
    pub const USER_BUSY: u8 = 17;
    pub const NO_USER_RESPONDING: u8 = 18;
    pub const NO_ANSWER: u8 = 19;
    pub const SUBSCRIBER_ABSENT: u8 = 20;
    pub const CALL_REJECTED: u8 = 21;
    pub const NUMBER_CHANGED: u8 = 22;
    pub const EXCHANGE_ROUTING_ERROR: u8 = 25;
    pub const DESTINATION_OUT_OF_ORDER: u8 = 27;
    pub const INVALID_NUMBER_FORMAT: u8 = 28;
    pub const NORMAL_UNSPECIFIED: u8 = 31;
    pub const NO_CIRCUIT_AVAILABLE: u8 = 34;
    pub const NETWORK_OUT_OF_ORDER: u8 = 38;
    pub const TEMPORARY_FAILURE: u8 = 41;
    pub const SWITCHING_EQUIPMENT_CONGESTION: u8 = 42;
    pub const SERVICE_UNAVAILABLE: u8 = 63;
    pub const BEARER_NOT_IMPLEMENTED: u8 = 65;
    pub const SERVICE_NOT_IMPLEMENTED: u8 = 79;
    pub const INCOMPATIBLE_DESTINATION: u8 = 88;
    pub const RECOVERY_ON_TIMER_EXPIRY: u8 = 102;
    pub const PROTOCOL_ERROR: u8 = 111;
    pub const INTERWORKING: u8 = 127;
}

/// ISUP cause -> SIP status for a final response (RFC 3398 7.2.4.1). `None` for normal
/// clearing (16), which is a BYE or CANCEL rather than a response. Causes the table does not
/// list take their class's status.
pub fn cause_to_status(c: u8) -> Option<u16> {
    use cause::*;
    Some(match c {
        NORMAL_CLEARING => return None,
        1..=3 => 404,
        USER_BUSY => 486,
        NO_USER_RESPONDING => 408,
        NO_ANSWER | SUBSCRIBER_ABSENT => 480,
        CALL_REJECTED => 403,
        NUMBER_CHANGED => 410,
        23 => 410,
        26 => 404,
        DESTINATION_OUT_OF_ORDER => 502,
        INVALID_NUMBER_FORMAT => 484,
        29 => 501,
        NORMAL_UNSPECIFIED => 480,
        NO_CIRCUIT_AVAILABLE
        | NETWORK_OUT_OF_ORDER
        | TEMPORARY_FAILURE
        | SWITCHING_EQUIPMENT_CONGESTION
        | 47 => 503,
        55 | 57 => 403,
        58 => 503,
        BEARER_NOT_IMPLEMENTED | 70 => 488,
        SERVICE_NOT_IMPLEMENTED => 501,
        87 => 403,
        INCOMPATIBLE_DESTINATION => 503,
        RECOVERY_ON_TIMER_EXPIRY => 504,
        PROTOCOL_ERROR | INTERWORKING => 500,
        // Class defaults: normal event, resource unavailable, service or option not
        // available, not implemented, invalid message, protocol error, interworking.
        0..=31 => 480,
        32..=47 => 503,
        48..=63 => 503,
        64..=79 => 501,
        80..=95 => 400,
        96..=111 => 500,
        _ => 500,
    })
}

/// SIP final status -> ISUP cause (RFC 3398 8.2.6.1); statuses not listed map to 31. Location:
/// user for 6xx, the network beyond the interworking point for 4xx/5xx.
pub fn status_to_cause(status: u16) -> CauseIndicators {
    use cause::*;
    let c = match status {
        400 => TEMPORARY_FAILURE,
        401 | 402 | 403 | 407 => CALL_REJECTED,
        404 | 485 | 604 => UNALLOCATED_NUMBER,
        405 => SERVICE_UNAVAILABLE,
        406 | 415 | 501 => SERVICE_NOT_IMPLEMENTED,
        408 | 504 => RECOVERY_ON_TIMER_EXPIRY,
        410 => NUMBER_CHANGED,
        413 | 414 | 416 | 420 | 421 | 423 | 505 | 513 => INTERWORKING,
        480 => NO_USER_RESPONDING,
        481 | 500 | 503 => TEMPORARY_FAILURE,
        482 | 483 => EXCHANGE_ROUTING_ERROR,
        484 => INVALID_NUMBER_FORMAT,
        486 | 600 => USER_BUSY,
        487 => NORMAL_CLEARING,
        502 => NETWORK_OUT_OF_ORDER,
        603 => CALL_REJECTED,
        _ => NORMAL_UNSPECIFIED,
    };
    let loc = if status >= 600 {
        location::USER
    } else {
        location::BEYOND_INTERWORKING
    };
    CauseIndicators::new(c, loc)
}

/// What the analog port plays when a call ends with a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseTone {
    /// Normal clearing: back to idle (or howler/dial tone per the port's policy).
    None,
    Busy,
    /// Reorder / congestion (fast busy).
    Congestion,
    /// Special information tone then the intercept announcement's place (vacant number,
    /// changed number, invalid format).
    SpecialInformation,
}

/// Tone for a release cause (Q.850 classes as the PSTN plays them).
pub fn release_tone(c: u8) -> ReleaseTone {
    use cause::*;
    match c {
        NORMAL_CLEARING | NO_USER_RESPONDING | NO_ANSWER | NORMAL_UNSPECIFIED => ReleaseTone::None,
        USER_BUSY => ReleaseTone::Busy,
        1..=3 | NUMBER_CHANGED | 26 | INVALID_NUMBER_FORMAT => ReleaseTone::SpecialInformation,
        _ => ReleaseTone::Congestion,
    }
}

/// How dialled numbers map to nature of address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbering {
    /// International access prefix (e.g. "00", "011"); numbers starting with it or with `+`
    /// are international, sent without it.
    pub international_prefix: String,
    /// Trunk prefix (e.g. "0", "1"); numbers starting with it are national, sent without it.
    pub national_prefix: String,
    /// Nature of address for numbers with neither prefix.
    pub unprefixed_nai: u8,
    /// Append ST (end of pulsing) to the called number: the gateway dials en bloc.
    pub append_st: bool,
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            international_prefix: "00".into(),
            national_prefix: "0".into(),
            unprefixed_nai: nai::NATIONAL,
            append_st: false,
        }
    }
}

impl Numbering {
    /// Splits a dialled string into (nature of address, digits to send). Visual separators and
    /// anything that is not an ISUP digit are dropped.
    pub fn classify(&self, dialled: &str) -> (u8, String) {
        let clean: String = dialled
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | '+'))
            .collect();
        if let Some(rest) = clean.strip_prefix('+') {
            return (nai::INTERNATIONAL, rest.replace('+', ""));
        }
        let clean = clean.replace('+', "");
        if !self.international_prefix.is_empty()
            && let Some(rest) = clean.strip_prefix(self.international_prefix.as_str())
        {
            return (nai::INTERNATIONAL, rest.to_string());
        }
        if !self.national_prefix.is_empty()
            && let Some(rest) = clean.strip_prefix(self.national_prefix.as_str())
        {
            return (nai::NATIONAL, rest.to_string());
        }
        (self.unprefixed_nai, clean)
    }

    /// The dialable form of a number received with a nature of address (prefixes restored).
    pub fn dialable(&self, nai_value: u8, digits: &str) -> String {
        let digits = digits.trim_end_matches(['F', 'f']);
        match nai_value {
            nai::INTERNATIONAL => format!("+{digits}"),
            nai::NATIONAL if self.unprefixed_nai != nai::NATIONAL => {
                format!("{}{digits}", self.national_prefix)
            }
            _ => digits.to_string(),
        }
    }
}

/// The call data an IAM is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCall<'a> {
    /// Number as the dial plan produced it.
    pub called: &'a str,
    /// Caller ID of the port (None: not available).
    pub calling: Option<&'a str>,
    /// The subscriber asked for privacy (CLIR, or RFC 3323 `Privacy: id`).
    pub privacy: bool,
}

/// ANSI user service information for 3.1 kHz speech, G.711 mu-law (Q.931 bearer capability
/// octets 3, 4, 5).
pub const ANSI_USI_SPEECH: [u8; 3] = [0x80, 0x90, 0xA2];

/// The IAM for an outgoing call from an analog port.
pub fn build_iam(call: &OutgoingCall<'_>, numbering: &Numbering, variant: Variant) -> Message {
    let (called_nai, mut called_digits) = numbering.classify(call.called);
    if numbering.append_st {
        called_digits.push('F');
    }
    let body = Iam {
        // No satellite, no continuity check, no echo canceller of ours on the ISUP side.
        nature_of_connection: NatureOfConnection::default(),
        forward_call: ForwardCallIndicators {
            international: called_nai == nai::INTERNATIONAL,
            // The call crossed SIP: interworking encountered, ISUP not all the way,
            // ISUP preferred, originating access non-ISDN (an analog line).
            interworking: true,
            isup_preference: 0,
            ..ForwardCallIndicators::default()
        },
        calling_category: category::ORDINARY,
        bearer: match variant {
            Variant::Itu => IamBearer::TransmissionMedium(0),
            Variant::Ansi => IamBearer::UserServiceInformation(ANSI_USI_SPEECH.to_vec()),
        },
        called: CalledPartyNumber {
            nai: called_nai,
            inn_not_allowed: false,
            numbering_plan: 1,
            digits: called_digits,
        },
    };
    let mut msg = Message::new(MessageBody::Iam(body));
    if let Some(calling) = call.calling.filter(|c| !c.is_empty()) {
        let (cnai, digits) = numbering.classify(calling);
        if !digits.is_empty() {
            msg.optional.push(Param::CallingPartyNumber(CallingPartyNumber {
                nai: cnai,
                incomplete: false,
                numbering_plan: 1,
                presentation: if call.privacy {
                    presentation::RESTRICTED
                } else {
                    presentation::ALLOWED
                },
                screening: screening::USER_VERIFIED_PASSED,
                digits,
            }));
        }
    }
    msg
}

/// What a received provisional/final response means for the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallProgress {
    /// The far end alerts: play ringback locally unless early media flows.
    Ringing,
    /// Progress with in-band information: connect the early media.
    Progress,
    /// Answered: connect the call.
    Answered,
    /// No change (e.g. 100, or an ACM saying nothing).
    None,
}

/// Call progress from a response status and its ISUP (RFC 3398 8.2.x reversed; Q.1912.5
/// 7.x): ACM with "subscriber free" and CPG alerting ring, ACM without it and CPG
/// progress/in-band information connect early media, ANM/CON answer. Without ISUP the status
/// alone decides (180 ringing, 181-183 progress, 2xx answered).
pub fn progress_of(status: u16, isup: Option<&Message>) -> CallProgress {
    if let Some(m) = isup {
        match &m.body {
            MessageBody::Acm(b) => {
                return if b.called_status == 1 {
                    CallProgress::Ringing
                } else {
                    CallProgress::Progress
                };
            }
            MessageBody::Cpg(e) => {
                return match e.event {
                    EventInformation::ALERTING => CallProgress::Ringing,
                    EventInformation::PROGRESS | EventInformation::INBAND_INFO => CallProgress::Progress,
                    _ => CallProgress::None,
                };
            }
            MessageBody::Anm | MessageBody::Con(_) => return CallProgress::Answered,
            _ => {}
        }
    }
    match status {
        180 => CallProgress::Ringing,
        181..=183 => CallProgress::Progress,
        200..=299 => CallProgress::Answered,
        _ => CallProgress::None,
    }
}

/// How a call ended, for the port and for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub cause: CauseIndicators,
    /// SIP status this corresponds to (None: normal clearing by BYE/CANCEL).
    pub status: Option<u16>,
    pub tone: ReleaseTone,
}

/// Release from a received final response (`status` >= 300) or a BYE/CANCEL (`status` None),
/// with the REL it carried. The encapsulated cause wins over the status (RFC 3398 8.2.6.1).
pub fn release_of(status: Option<u16>, isup: Option<&Message>) -> Release {
    let cause = isup
        .filter(|m| m.message_type() == MessageType::Rel)
        .and_then(|m| m.cause().cloned())
        .unwrap_or_else(|| match status {
            Some(s) => status_to_cause(s),
            None => CauseIndicators::new(cause::NORMAL_CLEARING, location::USER),
        });
    Release {
        tone: release_tone(cause.cause),
        status: status.or_else(|| cause_to_status(cause.cause)),
        cause,
    }
}

/// The number an incoming call routes on: the IAM's called party number when there is one,
/// else the Request-URI user part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedNumber {
    pub number: String,
    pub from_iam: bool,
}

pub fn route_number(iam: Option<&Message>, request_uri_user: &str, numbering: &Numbering) -> RoutedNumber {
    if let Some(Message {
        body: MessageBody::Iam(iam),
        ..
    }) = iam
    {
        let n = numbering.dialable(iam.called.nai, &iam.called.digits);
        if !n.is_empty() {
            return RoutedNumber {
                number: n,
                from_iam: true,
            };
        }
    }
    RoutedNumber {
        number: request_uri_user.to_string(),
        from_iam: false,
    }
}

/// Caller ID for the port from an IAM: (number, presentation restricted). A restricted number
/// is reported so the port can send "private" caller ID instead of the digits.
pub fn caller_id_from_iam(iam: &Message, numbering: &Numbering) -> Option<(String, bool)> {
    let n = iam.calling_party_number()?;
    if n.presentation == presentation::NOT_AVAILABLE {
        return None;
    }
    Some((
        numbering.dialable(n.nai, &n.digits),
        n.presentation == presentation::RESTRICTED,
    ))
}

/// ACM for our 180 Ringing: subscriber free, ordinary subscriber, no charge indication,
/// interworking encountered, terminating access non-ISDN.
pub fn acm_ringing() -> Message {
    Message::new(MessageBody::Acm(BackwardCallIndicators {
        called_status: 1,
        called_category: 1,
        interworking: true,
        ..BackwardCallIndicators::default()
    }))
}

/// ANM for our 200 OK, or CON when the call is answered before any ACM was sent.
pub fn answer_message(acm_sent: bool) -> Message {
    if acm_sent {
        Message::new(MessageBody::Anm)
    } else {
        Message::new(MessageBody::Con(BackwardCallIndicators {
            called_category: 1,
            interworking: true,
            ..BackwardCallIndicators::default()
        }))
    }
}

/// REL for a final response we send (RFC 3398 8.2.6.1 mapping of our status).
pub fn rel_for_status(status: u16) -> Message {
    Message::new(MessageBody::Rel(status_to_cause(status)))
}

/// REL with cause 16 for a BYE or CANCEL (RFC 3398 8.2.6.1: BYE and CANCEL are normal
/// clearing), location user: the analog subscriber hung up.
pub fn rel_normal() -> Message {
    Message::new(MessageBody::Rel(CauseIndicators::new(
        cause::NORMAL_CLEARING,
        location::USER,
    )))
}

/// REL with an explicit cause and location (e.g. 17 user busy when the port is off hook).
pub fn rel_with_cause(c: u8, loc: u8) -> Message {
    Message::new(MessageBody::Rel(CauseIndicators::new(c, loc)))
}

/// SIP status for a REL the port side produced (e.g. the FXS line is busy): the RFC 3398
/// 7.2.4.1 mapping, with 480 for normal clearing before answer.
pub fn status_for_rel(rel: &Message) -> u16 {
    rel.cause().and_then(|c| cause_to_status(c.cause)).unwrap_or(480)
}

/// What a mid-call ISUP message (INFO or re-INVITE body) asks of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidCallAction {
    /// SUS: the far side is suspended (network initiated: the called PSTN subscriber went on
    /// hook; user initiated: ISDN terminal portability). Keep the call; mute toward the port
    /// and start the suspend timer.
    Suspend { network_initiated: bool },
    /// RES: resume the media.
    Resume { network_initiated: bool },
    /// REL inside INFO (non-standard, some softswitches): release with that cause.
    Release(u8),
    /// Nothing for the port; accept the INFO with 200.
    Ignore,
}

pub fn mid_call_action(m: &Message) -> MidCallAction {
    match &m.body {
        MessageBody::Sus(SuspendResumeIndicators {
            network_initiated, ..
        }) => MidCallAction::Suspend {
            network_initiated: *network_initiated,
        },
        MessageBody::Res(SuspendResumeIndicators {
            network_initiated, ..
        }) => MidCallAction::Resume {
            network_initiated: *network_initiated,
        },
        MessageBody::Rel(c) => MidCallAction::Release(c.cause),
        _ => MidCallAction::Ignore,
    }
}

/// SUS for our own suspend (e.g. a re-INVITE to hold from the port side when the profile
/// asks for it).
pub fn sus(network_initiated: bool) -> Message {
    Message::new(MessageBody::Sus(SuspendResumeIndicators {
        network_initiated,
        spare: 0,
    }))
}

pub fn res(network_initiated: bool) -> Message {
    Message::new(MessageBody::Res(SuspendResumeIndicators {
        network_initiated,
        spare: 0,
    }))
}

/// Q.764 timers T2 (user-initiated suspend, 3 min) and T6 (network-initiated, set by Q.118:
/// 1-2 min; 90 s by default, configurable per account within [`SuspendTimer::T6_MIN_MS`] ..=
/// [`SuspendTimer::T6_MAX_MS`]), sans-IO: feed events with `now` in milliseconds and poll the
/// deadline. On expiry the call is released with cause 102.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspendTimer {
    deadline: Option<u64>,
    t6_ms: u64,
}

impl Default for SuspendTimer {
    fn default() -> Self {
        SuspendTimer {
            deadline: None,
            t6_ms: Self::T6_MS,
        }
    }
}

impl SuspendTimer {
    pub const T2_MS: u64 = 180_000;
    /// Default T6.
    pub const T6_MS: u64 = 90_000;
    /// Bounds of a configured T6 (Q.118 asks for 1-2 minutes; shorter values serve tests and
    /// trunks that want a quick release, longer ones stay below T2).
    pub const T6_MIN_MS: u64 = 10_000;
    pub const T6_MAX_MS: u64 = 180_000;

    /// A timer whose T6 is `t6_ms`, kept within the bounds.
    pub fn with_t6(t6_ms: u64) -> Self {
        SuspendTimer {
            deadline: None,
            t6_ms: t6_ms.clamp(Self::T6_MIN_MS, Self::T6_MAX_MS),
        }
    }

    /// T6 in milliseconds.
    pub fn t6_ms(&self) -> u64 {
        self.t6_ms
    }

    pub fn on_action(&mut self, action: MidCallAction, now_ms: u64) {
        match action {
            MidCallAction::Suspend { network_initiated } => {
                let t = if network_initiated {
                    self.t6_ms
                } else {
                    Self::T2_MS
                };
                self.deadline.get_or_insert(now_ms + t);
            }
            MidCallAction::Resume { .. } | MidCallAction::Release(_) => self.deadline = None,
            MidCallAction::Ignore => {}
        }
    }

    pub fn deadline(&self) -> Option<u64> {
        self.deadline
    }

    pub fn suspended(&self) -> bool {
        self.deadline.is_some()
    }

    /// The REL to send (in a BYE) when the timer has run out at `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> Option<Message> {
        match self.deadline {
            Some(d) if now_ms >= d => {
                self.deadline = None;
                Some(rel_with_cause(
                    cause::RECOVERY_ON_TIMER_EXPIRY,
                    location::PUBLIC_LOCAL,
                ))
            }
            _ => None,
        }
    }
}

/// A Q.850 cause received in an RFC 3326 `Reason` header (RFC 8606 adds its location).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonCause {
    pub cause: u8,
    /// Q.850 location, when the header names one (RFC 8606 `location=`).
    pub location: Option<u8>,
}

/// What is wrong with a `Reason: Q.850` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonError {
    /// No `cause` parameter.
    MissingCause,
    /// `cause` is not a number 0-127.
    BadCause,
    /// `location` names no Q.850 location.
    BadLocation,
}

impl std::fmt::Display for ReasonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReasonError::MissingCause => "Reason Q.850: no cause parameter",
            ReasonError::BadCause => "Reason Q.850: cause is not a number 0-127",
            ReasonError::BadLocation => "Reason Q.850: unknown location",
        })
    }
}

impl std::error::Error for ReasonError {}

/// RFC 8606 location tokens and the Q.850 locations they name.
const REASON_LOCATIONS: [(&str, u8); 8] = [
    ("U", location::USER),
    ("LPN", location::PRIVATE_LOCAL),
    ("LN", location::PUBLIC_LOCAL),
    ("TN", location::TRANSIT),
    ("RLN", location::PUBLIC_REMOTE),
    ("RPN", location::PRIVATE_REMOTE),
    ("INTL", location::INTERNATIONAL),
    ("BI", location::BEYOND_INTERWORKING),
];

/// Short Q.850 text for a cause (the `text` of our Reason headers).
pub fn cause_text(c: u8) -> &'static str {
    use cause::*;
    match c {
        UNALLOCATED_NUMBER => "Unallocated number",
        NO_ROUTE_TO_DESTINATION => "No route to destination",
        NORMAL_CLEARING => "Normal call clearing",
        USER_BUSY => "User busy",
        NO_USER_RESPONDING => "No user responding",
        NO_ANSWER => "No answer from user",
        CALL_REJECTED => "Call rejected",
        NUMBER_CHANGED => "Number changed",
        INVALID_NUMBER_FORMAT => "Invalid number format",
        NORMAL_UNSPECIFIED => "Normal, unspecified",
        TEMPORARY_FAILURE => "Temporary failure",
        RECOVERY_ON_TIMER_EXPIRY => "Recovery on timer expiry",
        INTERWORKING => "Interworking, unspecified",
        _ => "",
    }
}

/// The `Reason` header value for a cause (RFC 3326, with the RFC 8606 location):
/// `Q.850;cause=16;location=U;text="Normal call clearing"`.
pub fn reason_header(c: &CauseIndicators) -> String {
    let mut v = format!("Q.850;cause={}", c.cause);
    if let Some((tok, _)) = REASON_LOCATIONS.iter().find(|(_, l)| *l == c.location) {
        v.push_str(";location=");
        v.push_str(tok);
    }
    let text = cause_text(c.cause);
    if !text.is_empty() {
        v.push_str(";text=\"");
        v.push_str(text);
        v.push('"');
    }
    v
}

/// Reads one `Reason` header value: `Ok(None)` for another protocol (`SIP;cause=200`),
/// the cause of a `Q.850` one. Parameter names and the protocol are case-insensitive; a
/// quoted `text` may hold `;`.
pub fn parse_reason(value: &str) -> Result<Option<ReasonCause>, ReasonError> {
    let mut params = split_params(value);
    let protocol = params.next().unwrap_or("").trim();
    if !protocol.eq_ignore_ascii_case("Q.850") {
        return Ok(None);
    }
    let (mut cause, mut loc) = (None, None);
    for p in params {
        let (name, val) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => (p.trim(), ""),
        };
        if name.eq_ignore_ascii_case("cause") {
            let c: u8 = val.parse().map_err(|_| ReasonError::BadCause)?;
            if c > 127 {
                return Err(ReasonError::BadCause);
            }
            cause = Some(c);
        } else if name.eq_ignore_ascii_case("location") {
            let l = REASON_LOCATIONS
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(val))
                .ok_or(ReasonError::BadLocation)?;
            loc = Some(l.1);
        }
    }
    let cause = cause.ok_or(ReasonError::MissingCause)?;
    Ok(Some(ReasonCause { cause, location: loc }))
}

/// `;`-separated parts of a header value, leaving quoted strings whole.
fn split_params(v: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(v);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, ch) in s.char_indices() {
            match ch {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

/// The release a received BYE or CANCEL carries: the cause of its REL (RFC 3398 / Q.1912.5),
/// else of its Q.850 Reason header (RFC 3326), else normal clearing. `None` when neither says
/// anything (a plain hang-up).
pub fn release_of_request(isup: Option<&Message>, reason: Option<ReasonCause>) -> Option<Release> {
    let cause = isup
        .filter(|m| m.message_type() == MessageType::Rel)
        .and_then(|m| m.cause().cloned())
        .or_else(|| {
            reason.map(|r| CauseIndicators::new(r.cause, r.location.unwrap_or(location::BEYOND_INTERWORKING)))
        })?;
    Some(Release {
        tone: release_tone(cause.cause),
        status: cause_to_status(cause.cause),
        cause,
    })
}
