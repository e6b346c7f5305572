//! Header names (with compact forms) and typed header values: Via, name-addr (From, To, Contact,
//! Route, Record-Route), CSeq, Content-Type, methods and transports.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use super::error::ValueError;
use super::params::{Params, plain_generic};
use super::text::{self, is_lws, is_token, is_token_char, trim_lws, trim_lws_start};
use super::uri::{Host, Uri, parse_host, parse_ip, parse_port, plain_hostport_prefix, plain_sip_prefix};

macro_rules! header_names {
    ($( $var:ident => $canon:literal $(, $compact:literal)? ; )*) => {
        /// Header field names known to the stack. Lookup is case-insensitive and maps compact
        /// forms (`v`, `f`, `t`, `i`, `m`, `l`, `c`, `e`, `s`, `k`, `o`, `u`, `r`, `b`, `x`, ...)
        /// to the full name. Unknown names are [`HeaderName::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $( $var, )*
            /// Any header not listed; compare its text instead.
            Other,
        }

        impl HeaderName {
            /// Every known header name (not `Other`).
            pub const ALL: &'static [HeaderName] = &[$( HeaderName::$var, )*];

            /// Canonical (long) name; `""` for `Other`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$var => $canon, )*
                    HeaderName::Other => "",
                }
            }

            /// Compact form, if the header has one.
            pub fn compact(self) -> Option<char> {
                match self {
                    $( $( HeaderName::$var => Some($compact as char), )? )*
                    _ => None,
                }
            }

            #[inline]
            fn lookup(name: &[u8]) -> HeaderName {
                if name.len() == 1 {
                    let c = name[0].to_ascii_lowercase();
                    $( $( if c == $compact { return HeaderName::$var; } )? )*
                    return HeaderName::Other;
                }
                lookup_long(name)
            }
        }
    };
}

header_names! {
    Via => "Via", b'v';
    From => "From", b'f';
    To => "To", b't';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq";
    Contact => "Contact", b'm';
    MaxForwards => "Max-Forwards";
    Route => "Route";
    RecordRoute => "Record-Route";
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    ContentEncoding => "Content-Encoding", b'e';
    ContentDisposition => "Content-Disposition";
    ContentLanguage => "Content-Language";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    Supported => "Supported", b'k';
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Allow => "Allow";
    Accept => "Accept";
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    AuthenticationInfo => "Authentication-Info";
    Subject => "Subject", b's';
    Event => "Event", b'o';
    AllowEvents => "Allow-Events", b'u';
    SubscriptionState => "Subscription-State";
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    Replaces => "Replaces";
    SessionExpires => "Session-Expires", b'x';
    MinSe => "Min-SE";
    RSeq => "RSeq";
    RAck => "RAck";
    Identity => "Identity", b'y';
    AcceptContact => "Accept-Contact", b'a';
    RejectContact => "Reject-Contact", b'j';
    RequestDisposition => "Request-Disposition", b'd';
    UserAgent => "User-Agent";
    Server => "Server";
    Warning => "Warning";
    RetryAfter => "Retry-After";
    Date => "Date";
    Timestamp => "Timestamp";
    Reason => "Reason";
    PAssertedIdentity => "P-Asserted-Identity";
    PPreferredIdentity => "P-Preferred-Identity";
    Privacy => "Privacy";
    AlertInfo => "Alert-Info";
    CallInfo => "Call-Info";
    ErrorInfo => "Error-Info";
    MimeVersion => "MIME-Version";
    Organization => "Organization";
    Priority => "Priority";
    InReplyTo => "In-Reply-To";
    ReplyTo => "Reply-To";
    Path => "Path";
    ServiceRoute => "Service-Route";
}

/// ASCII case-insensitive equality against a canonical name made of letters, digits and '-':
/// for a letter `c`, only `c` and its upper/lower case partner satisfy `x | 0x20 == c | 0x20`.
/// Names of eight bytes or more compare as overlapping 64-bit words (the case masks fold to
/// constants for a constant `canon`).
#[inline(always)]
fn eq_name(a: &[u8], canon: &[u8]) -> bool {
    let n = canon.len();
    if a.len() != n {
        return false;
    }
    if n >= 8 {
        return word_eq(a, canon, 0) && (n <= 16 || word_eq(a, canon, 8)) && word_eq(a, canon, n - 8);
    }
    // Without an early exit, and with `canon` a constant, a few operations per byte.
    a.iter().zip(canon).fold(0u8, |d, (&x, &c)| {
        let m = if c.is_ascii_alphabetic() { 0x20 } else { 0 };
        d | ((x | m) ^ (c | m))
    }) == 0
}

/// [`eq_name`] on the eight bytes from `at` (both slices at least `at + 8` long).
#[inline(always)]
fn word_eq(a: &[u8], canon: &[u8], at: usize) -> bool {
    let (Some(x), Some(c)) = (
        a.get(at..).and_then(|w| w.first_chunk::<8>()),
        canon.get(at..).and_then(|w| w.first_chunk::<8>()),
    ) else {
        return false;
    };
    let mask = c.iter().rev().fold(0u64, |m, &b| {
        (m << 8) | if b.is_ascii_alphabetic() { 0x20 } else { 0 }
    });
    u64::from_le_bytes(*x) | mask == u64::from_le_bytes(*c) | mask
}

/// Full-name lookup: dispatch on (length, first letter), then compare with constant names.
fn lookup_long(name: &[u8]) -> HeaderName {
    let Some(&first) = name.first() else {
        return HeaderName::Other;
    };
    match (name.len(), first.to_ascii_lowercase()) {
        (2, b't') => {
            if eq_name(name, b"To") {
                HeaderName::To
            } else {
                HeaderName::Other
            }
        }
        (3, b'v') => {
            if eq_name(name, b"Via") {
                HeaderName::Via
            } else {
                HeaderName::Other
            }
        }
        (4, b'c') => {
            if eq_name(name, b"CSeq") {
                HeaderName::CSeq
            } else {
                HeaderName::Other
            }
        }
        (4, b'd') => {
            if eq_name(name, b"Date") {
                HeaderName::Date
            } else {
                HeaderName::Other
            }
        }
        (4, b'f') => {
            if eq_name(name, b"From") {
                HeaderName::From
            } else {
                HeaderName::Other
            }
        }
        (4, b'p') => {
            if eq_name(name, b"Path") {
                HeaderName::Path
            } else {
                HeaderName::Other
            }
        }
        (4, b'r') => {
            if eq_name(name, b"RSeq") {
                HeaderName::RSeq
            } else if eq_name(name, b"RAck") {
                HeaderName::RAck
            } else {
                HeaderName::Other
            }
        }
        (5, b'a') => {
            if eq_name(name, b"Allow") {
                HeaderName::Allow
            } else {
                HeaderName::Other
            }
        }
        (5, b'e') => {
            if eq_name(name, b"Event") {
                HeaderName::Event
            } else {
                HeaderName::Other
            }
        }
        (5, b'r') => {
            if eq_name(name, b"Route") {
                HeaderName::Route
            } else {
                HeaderName::Other
            }
        }
        (6, b'a') => {
            if eq_name(name, b"Accept") {
                HeaderName::Accept
            } else {
                HeaderName::Other
            }
        }
        (6, b'm') => {
            if eq_name(name, b"Min-SE") {
                HeaderName::MinSe
            } else {
                HeaderName::Other
            }
        }
        (6, b'r') => {
            if eq_name(name, b"Reason") {
                HeaderName::Reason
            } else {
                HeaderName::Other
            }
        }
        (6, b's') => {
            if eq_name(name, b"Server") {
                HeaderName::Server
            } else {
                HeaderName::Other
            }
        }
        (7, b'c') => {
            if eq_name(name, b"Call-ID") {
                HeaderName::CallId
            } else if eq_name(name, b"Contact") {
                HeaderName::Contact
            } else {
                HeaderName::Other
            }
        }
        (7, b'e') => {
            if eq_name(name, b"Expires") {
                HeaderName::Expires
            } else {
                HeaderName::Other
            }
        }
        (7, b'p') => {
            if eq_name(name, b"Privacy") {
                HeaderName::Privacy
            } else {
                HeaderName::Other
            }
        }
        (7, b'r') => {
            if eq_name(name, b"Require") {
                HeaderName::Require
            } else {
                HeaderName::Other
            }
        }
        (7, b's') => {
            if eq_name(name, b"Subject") {
                HeaderName::Subject
            } else {
                HeaderName::Other
            }
        }
        (7, b'w') => {
            if eq_name(name, b"Warning") {
                HeaderName::Warning
            } else {
                HeaderName::Other
            }
        }
        (8, b'i') => {
            if eq_name(name, b"Identity") {
                HeaderName::Identity
            } else {
                HeaderName::Other
            }
        }
        (8, b'p') => {
            if eq_name(name, b"Priority") {
                HeaderName::Priority
            } else {
                HeaderName::Other
            }
        }
        (8, b'r') => {
            if eq_name(name, b"Refer-To") {
                HeaderName::ReferTo
            } else if eq_name(name, b"Replaces") {
                HeaderName::Replaces
            } else if eq_name(name, b"Reply-To") {
                HeaderName::ReplyTo
            } else {
                HeaderName::Other
            }
        }
        (9, b'c') => {
            if eq_name(name, b"Call-Info") {
                HeaderName::CallInfo
            } else {
                HeaderName::Other
            }
        }
        (9, b's') => {
            if eq_name(name, b"Supported") {
                HeaderName::Supported
            } else {
                HeaderName::Other
            }
        }
        (9, b't') => {
            if eq_name(name, b"Timestamp") {
                HeaderName::Timestamp
            } else {
                HeaderName::Other
            }
        }
        (10, b'a') => {
            if eq_name(name, b"Alert-Info") {
                HeaderName::AlertInfo
            } else {
                HeaderName::Other
            }
        }
        (10, b'e') => {
            if eq_name(name, b"Error-Info") {
                HeaderName::ErrorInfo
            } else {
                HeaderName::Other
            }
        }
        (10, b'u') => {
            if eq_name(name, b"User-Agent") {
                HeaderName::UserAgent
            } else {
                HeaderName::Other
            }
        }
        (11, b'i') => {
            if eq_name(name, b"In-Reply-To") {
                HeaderName::InReplyTo
            } else {
                HeaderName::Other
            }
        }
        (11, b'm') => {
            if eq_name(name, b"Min-Expires") {
                HeaderName::MinExpires
            } else {
                HeaderName::Other
            }
        }
        (11, b'r') => {
            if eq_name(name, b"Referred-By") {
                HeaderName::ReferredBy
            } else if eq_name(name, b"Retry-After") {
                HeaderName::RetryAfter
            } else {
                HeaderName::Other
            }
        }
        (11, b'u') => {
            if eq_name(name, b"Unsupported") {
                HeaderName::Unsupported
            } else {
                HeaderName::Other
            }
        }
        (12, b'a') => {
            if eq_name(name, b"Allow-Events") {
                HeaderName::AllowEvents
            } else {
                HeaderName::Other
            }
        }
        (12, b'c') => {
            if eq_name(name, b"Content-Type") {
                HeaderName::ContentType
            } else {
                HeaderName::Other
            }
        }
        (12, b'm') => {
            if eq_name(name, b"Max-Forwards") {
                HeaderName::MaxForwards
            } else if eq_name(name, b"MIME-Version") {
                HeaderName::MimeVersion
            } else {
                HeaderName::Other
            }
        }
        (12, b'o') => {
            if eq_name(name, b"Organization") {
                HeaderName::Organization
            } else {
                HeaderName::Other
            }
        }
        (12, b'r') => {
            if eq_name(name, b"Record-Route") {
                HeaderName::RecordRoute
            } else {
                HeaderName::Other
            }
        }
        (13, b'a') => {
            if eq_name(name, b"Authorization") {
                HeaderName::Authorization
            } else {
                HeaderName::Other
            }
        }
        (13, b'p') => {
            if eq_name(name, b"Proxy-Require") {
                HeaderName::ProxyRequire
            } else {
                HeaderName::Other
            }
        }
        (13, b's') => {
            if eq_name(name, b"Service-Route") {
                HeaderName::ServiceRoute
            } else {
                HeaderName::Other
            }
        }
        (14, b'a') => {
            if eq_name(name, b"Accept-Contact") {
                HeaderName::AcceptContact
            } else {
                HeaderName::Other
            }
        }
        (14, b'c') => {
            if eq_name(name, b"Content-Length") {
                HeaderName::ContentLength
            } else {
                HeaderName::Other
            }
        }
        (14, b'r') => {
            if eq_name(name, b"Reject-Contact") {
                HeaderName::RejectContact
            } else {
                HeaderName::Other
            }
        }
        (15, b'a') => {
            if eq_name(name, b"Accept-Encoding") {
                HeaderName::AcceptEncoding
            } else if eq_name(name, b"Accept-Language") {
                HeaderName::AcceptLanguage
            } else {
                HeaderName::Other
            }
        }
        (15, b's') => {
            if eq_name(name, b"Session-Expires") {
                HeaderName::SessionExpires
            } else {
                HeaderName::Other
            }
        }
        (16, b'c') => {
            if eq_name(name, b"Content-Encoding") {
                HeaderName::ContentEncoding
            } else if eq_name(name, b"Content-Language") {
                HeaderName::ContentLanguage
            } else {
                HeaderName::Other
            }
        }
        (16, b'w') => {
            if eq_name(name, b"WWW-Authenticate") {
                HeaderName::WwwAuthenticate
            } else {
                HeaderName::Other
            }
        }
        (18, b'p') => {
            if eq_name(name, b"Proxy-Authenticate") {
                HeaderName::ProxyAuthenticate
            } else {
                HeaderName::Other
            }
        }
        (18, b's') => {
            if eq_name(name, b"Subscription-State") {
                HeaderName::SubscriptionState
            } else {
                HeaderName::Other
            }
        }
        (19, b'a') => {
            if eq_name(name, b"Authentication-Info") {
                HeaderName::AuthenticationInfo
            } else {
                HeaderName::Other
            }
        }
        (19, b'c') => {
            if eq_name(name, b"Content-Disposition") {
                HeaderName::ContentDisposition
            } else {
                HeaderName::Other
            }
        }
        (19, b'p') => {
            if eq_name(name, b"Proxy-Authorization") {
                HeaderName::ProxyAuthorization
            } else if eq_name(name, b"P-Asserted-Identity") {
                HeaderName::PAssertedIdentity
            } else {
                HeaderName::Other
            }
        }
        (19, b'r') => {
            if eq_name(name, b"Request-Disposition") {
                HeaderName::RequestDisposition
            } else {
                HeaderName::Other
            }
        }
        (20, b'p') => {
            if eq_name(name, b"P-Preferred-Identity") {
                HeaderName::PPreferredIdentity
            } else {
                HeaderName::Other
            }
        }
        _ => HeaderName::Other,
    }
}

impl HeaderName {
    /// Classifies a header name (case-insensitive, compact forms included).
    #[inline]
    pub fn from_name(name: &str) -> HeaderName {
        HeaderName::lookup(name.as_bytes())
    }

    /// True when `text` names this header (full or compact form, any case).
    pub fn matches(self, text: &str) -> bool {
        self != HeaderName::Other && HeaderName::from_name(text) == self
    }

    /// Headers whose grammar allows a comma-separated list of values.
    pub fn is_list(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            Via | Contact
                | Route
                | RecordRoute
                | Supported
                | Require
                | ProxyRequire
                | Unsupported
                | Allow
                | Accept
                | AcceptEncoding
                | AcceptLanguage
                | AllowEvents
                | ContentEncoding
                | ContentLanguage
                | Warning
                | PAssertedIdentity
                | PPreferredIdentity
                | AlertInfo
                | CallInfo
                | ErrorInfo
                | InReplyTo
                | Path
                | ServiceRoute
                | Privacy
                | Reason
                | AcceptContact
                | RejectContact
                | RequestDisposition
        )
    }

    /// Headers RFC 3261 allows at most once (a second occurrence is a 400).
    pub fn is_single(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            From | To | CallId | CSeq | MaxForwards | ContentLength | ContentType | Expires
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request method. Methods are case-sensitive: `invite` is an extension method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method<S = String> {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    /// Any other token.
    Other(S),
}

impl<'a> Method<&'a str> {
    /// Parses a method token.
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "PUBLISH" => Method::Publish,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "UPDATE" => Method::Update,
            _ if is_token(s) => Method::Other(s),
            _ => return Err(ValueError::BadToken),
        })
    }
}

impl<S: AsRef<str>> Method<S> {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Other(s) => s.as_ref(),
        }
    }

    pub fn to_owned_method(&self) -> Method<String> {
        match self {
            Method::Other(s) => Method::Other(s.as_ref().to_string()),
            Method::Invite => Method::Invite,
            Method::Ack => Method::Ack,
            Method::Bye => Method::Bye,
            Method::Cancel => Method::Cancel,
            Method::Options => Method::Options,
            Method::Register => Method::Register,
            Method::Prack => Method::Prack,
            Method::Subscribe => Method::Subscribe,
            Method::Notify => Method::Notify,
            Method::Publish => Method::Publish,
            Method::Info => Method::Info,
            Method::Refer => Method::Refer,
            Method::Message => Method::Message,
            Method::Update => Method::Update,
        }
    }

    /// Same method regardless of storage.
    pub fn same<T: AsRef<str>>(&self, o: &Method<T>) -> bool {
        self.as_str() == o.as_str()
    }
}

impl<S: AsRef<str>> fmt::Display for Method<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method<String> {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        Method::parse(s).map(|m| m.to_owned_method())
    }
}

/// Via transport (case-insensitive on the wire, emitted upper-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport<S = String> {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(S),
}

impl<'a> Transport<&'a str> {
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let t = match s.len() {
            3 if s.eq_ignore_ascii_case("udp") => Transport::Udp,
            3 if s.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            3 if s.eq_ignore_ascii_case("tls") => Transport::Tls,
            4 if s.eq_ignore_ascii_case("sctp") => Transport::Sctp,
            2 if s.eq_ignore_ascii_case("ws") => Transport::Ws,
            3 if s.eq_ignore_ascii_case("wss") => Transport::Wss,
            _ if is_token(s) => Transport::Other(s),
            _ => return Err(ValueError::BadToken),
        };
        Ok(t)
    }
}

impl<S: AsRef<str>> Transport<S> {
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s.as_ref(),
        }
    }

    /// Reliable (stream or association) transport.
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }

    pub fn to_owned_transport(&self) -> Transport<String> {
        match self {
            Transport::Udp => Transport::Udp,
            Transport::Tcp => Transport::Tcp,
            Transport::Tls => Transport::Tls,
            Transport::Sctp => Transport::Sctp,
            Transport::Ws => Transport::Ws,
            Transport::Wss => Transport::Wss,
            Transport::Other(s) => Transport::Other(s.as_ref().to_string()),
        }
    }
}

impl<S: AsRef<str>> fmt::Display for Transport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Splits a leading token; returns `(token, rest)`.
fn take_token(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(|&c| is_token_char(c)).count();
    (&s[..n], &s[n..])
}

fn expect_slash(s: &str) -> Result<&str, ValueError> {
    trim_lws_start(s)
        .strip_prefix('/')
        .map(trim_lws_start)
        .ok_or(ValueError::BadProtocol)
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Via<S = String> {
    /// Protocol name, `SIP`.
    pub protocol: S,
    /// Protocol version, `2.0`.
    pub version: S,
    pub transport: Transport<S>,
    /// sent-by host.
    pub host: Host<S>,
    /// sent-by port.
    pub port: Option<u16>,
    /// via-params: `branch`, `received`, `rport`, `maddr`, `ttl`, extensions.
    pub params: Params<S>,
}

/// Borrowed Via.
pub type ViaRef<'a> = Via<&'a str>;

impl<'a> Via<&'a str> {
    /// Parses one Via value (one element of the comma-separated list).
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        if let Some(v) = plain_via(s) {
            return Ok(v);
        }
        Self::parse_general(s)
    }

    /// The full grammar (LWS anywhere it is allowed, IPv6 sent-by, any parameter syntax).
    pub(crate) fn parse_general(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let (protocol, r) = take_token(s);
        let (version, r) = take_token(expect_slash(r)?);
        let (transport, r) = take_token(expect_slash(r)?);
        if protocol.is_empty() || version.is_empty() || transport.is_empty() {
            return Err(ValueError::BadProtocol);
        }
        let transport = Transport::parse(transport)?;
        let r2 = trim_lws_start(r);
        if r2.len() == r.len() {
            return Err(ValueError::BadSentBy);
        }
        let (sent_by, params) = match text::find_byte(r2, b';') {
            Some(i) => (trim_lws(&r2[..i]), Some(&r2[i + 1..])),
            None => (trim_lws(r2), None),
        };
        // sent-by = host [ COLON port ], COLON may carry LWS.
        let (host_s, port_s) = if sent_by.starts_with('[') {
            match text::find_byte(sent_by, b']') {
                Some(i) => (&sent_by[..=i], trim_lws_start(&sent_by[i + 1..])),
                None => return Err(ValueError::BadSentBy),
            }
        } else {
            let n = sent_by.bytes().take_while(|&c| c != b':' && !is_lws(c)).count();
            (&sent_by[..n], trim_lws_start(&sent_by[n..]))
        };
        let host = parse_host(host_s).map_err(|_| ValueError::BadSentBy)?;
        let port = if port_s.is_empty() {
            None
        } else {
            let p = port_s.strip_prefix(':').ok_or(ValueError::BadSentBy)?;
            Some(parse_port(trim_lws_start(p)).ok_or(ValueError::BadSentBy)?)
        };
        if params.is_some_and(|p| trim_lws(p).is_empty()) {
            return Err(ValueError::BadParam);
        }
        let params = Params::from_raw(params.unwrap_or(""));
        params.validate_generic_with(via_param_ok)?;
        Ok(Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }
}

/// Values of the via-params RFC 3261 defines.
#[inline]
fn via_param_ok(n: &str, v: Option<&str>) -> bool {
    let n = n.as_bytes();
    match n.len() {
        6 if eq_name(n, b"branch") => v.is_some_and(is_token),
        3 if eq_name(n, b"ttl") => v.and_then(text::parse_u32).is_some_and(|t| t <= 255),
        8 if eq_name(n, b"received") => v.and_then(parse_ip).is_some(),
        5 if eq_name(n, b"rport") => v.is_none_or(|p| parse_port(p).is_some()),
        5 if eq_name(n, b"maddr") => v.is_some_and(|h| parse_host(h).is_ok() || parse_ip(h).is_some()),
        _ => true,
    }
}

/// One pass over the common Via form `SIP/2.0/<transport> host[:port][;params]`: exactly
/// `SIP/2.0/`, one space, a `hostname`/IPv4 sent-by and a plain parameter list (see
/// `params::plain_generic`). The result is exactly [`Via::parse`]'s; `None` (LWS elsewhere,
/// IPv6, quoted or odd parameters, errors) leaves the decision to the general parser. Text it
/// accepts holds no ',': it is a whole Via header value of one item.
#[inline]
pub(crate) fn plain_via(s: &str) -> Option<Via<&str>> {
    let b = s.as_bytes();
    if b.len() < 10 || &b[..8] != b"SIP/2.0/" {
        return None;
    }
    let mut i = 8;
    i = text::skip_while(b, i, is_token_char);
    if i == 8 || b.get(i) != Some(&b' ') {
        return None;
    }
    let transport = Transport::parse(&s[8..i]).ok()?;
    i += 1;
    let (host, port, n) = plain_hostport_prefix(&s[i..])?;
    i += n;
    let params = match b.get(i) {
        None => "",
        Some(b';') => {
            let raw = &s[i + 1..];
            if raw.is_empty() || !plain_generic(raw, &via_param_ok) {
                return None;
            }
            raw
        }
        Some(_) => return None,
    };
    Some(Via {
        protocol: &s[..3],
        version: &s[4..7],
        transport,
        host,
        port,
        params: Params::from_raw(params),
    })
}

impl<S: AsRef<str>> Via<S> {
    /// `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }

    /// `received` parameter as an address (IPv6 with or without `[]`).
    pub fn received(&self) -> Option<IpAddr> {
        self.params.get("received").and_then(parse_ip)
    }

    /// `rport`: `None` absent, `Some(None)` present without value (request asks for it),
    /// `Some(Some(p))` filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.param("rport").map(|v| v.and_then(parse_port))
    }

    pub fn maddr(&self) -> Option<&str> {
        self.params.get("maddr")
    }

    pub fn ttl(&self) -> Option<u8> {
        self.params
            .get("ttl")
            .and_then(text::parse_u32)
            .and_then(|t| u8::try_from(t).ok())
    }

    /// RFC 3261 branch (starts with the magic cookie `z9hG4bK`).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    pub fn to_owned_via(&self) -> Via<String> {
        Via {
            protocol: self.protocol.as_ref().to_string(),
            version: self.version.as_ref().to_string(),
            transport: self.transport.to_owned_transport(),
            host: self.host.to_owned_host(),
            port: self.port,
            params: self.params.to_owned_params(),
        }
    }
}

impl Via<String> {
    /// `SIP/2.0/<transport> host[:port];branch=<branch>`.
    pub fn new(transport: Transport<String>, host: Host<String>, port: Option<u16>, branch: &str) -> Self {
        let mut params = Params::default();
        params.push("branch", Some(branch));
        Via {
            protocol: "SIP".into(),
            version: "2.0".into(),
            transport,
            host,
            port,
            params,
        }
    }
}

impl<S: AsRef<str>> fmt::Display for Via<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol.as_ref(),
            self.version.as_ref(),
            self.transport,
            self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// `name-addr` or `addr-spec` with header parameters: the value of From, To, Contact, Route,
/// Record-Route, Refer-To, P-Asserted-Identity...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameAddr<S = String> {
    /// Display name: the inside of the quoted string (quoted-pair escapes kept), or the token
    /// sequence of an unquoted name. Emitted bare when it is tokens separated by single spaces,
    /// quoted otherwise.
    pub display: Option<S>,
    pub uri: Uri<S>,
    /// Header parameters after the URI (`tag`, `expires`, `q`, ...).
    pub params: Params<S>,
}

/// Borrowed name-addr.
pub type NameAddrRef<'a> = NameAddr<&'a str>;

impl<'a> NameAddr<&'a str> {
    /// Parses `[display-name] <URI> *(;param)` or `addr-spec *(;param)`.
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        if let Some(na) = plain_name_addr(s) {
            return Ok(na);
        }
        Self::parse_general(s)
    }

    /// The full grammar (quoted-pairs, LWS, any URI scheme, any parameter syntax).
    pub(crate) fn parse_general(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(ValueError::Empty);
        }
        let (display, rest) = if b[0] == b'"' {
            let end = text::quoted_end(b).ok_or(ValueError::UnterminatedQuote)?;
            let rest = trim_lws_start(&s[end..]);
            if !rest.starts_with('<') {
                return Err(ValueError::BadAngle);
            }
            (Some(&s[1..end - 1]), rest)
        } else if let Some(lt) = text::find_byte(s, b'<') {
            let d = trim_lws(&s[..lt]);
            if !d.bytes().all(|c| is_token_char(c) || is_lws(c)) {
                return Err(ValueError::BadDisplayName);
            }
            (if d.is_empty() { None } else { Some(d) }, &s[lt..])
        } else {
            // addr-spec: the URI ends at the first ';' or whitespace (RFC 3261 20.10).
            let n = b.iter().position(|&c| c == b';' || is_lws(c)).unwrap_or(b.len());
            let uri = Uri::parse(&s[..n])?;
            if matches!(&uri, Uri::Sip(u) if u.headers.is_some()) {
                return Err(ValueError::UriNeedsAngle);
            }
            let params = header_params(&s[n..])?;
            return Ok(NameAddr {
                display: None,
                uri,
                params,
            });
        };
        let gt = text::find_byte(rest, b'>').ok_or(ValueError::BadAngle)?;
        let uri = Uri::parse(&rest[1..gt])?;
        let params = header_params(&rest[gt + 1..])?;
        Ok(NameAddr { display, uri, params })
    }
}

/// One pass over the common name-addr / addr-spec forms: `"Display" <URI>`, `Display <URI>`,
/// `<URI>` and `URI` (addr-spec), the URI as `uri::plain_sip_prefix` takes it, the display name
/// without quoted-pairs (one space at most before `<`), then nothing or `;` and a plain parameter
/// list (`params::plain_generic`). The result is exactly [`NameAddr::parse`]'s; `None` (escapes,
/// IPv6, tel: and other schemes, URI headers, unusual LWS, errors...) leaves the decision to the
/// general parser. Text it accepts has no ',' outside quotes and `<>`: as a whole header value
/// it is one list item.
#[inline]
pub(crate) fn plain_name_addr(s: &str) -> Option<NameAddr<&str>> {
    let b = s.as_bytes();
    let (display, lt) = match *b.first()? {
        b'"' => {
            // quoted_end's end when there is no quoted-pair.
            let mut i = 1;
            i = text::skip_while(b, i, |c| c != b'"' && c != b'\\');
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let d = &s[1..i];
            i += 1;
            if b.get(i) == Some(&b' ') {
                i += 1;
            }
            if b.get(i) != Some(&b'<') {
                return None;
            }
            (Some(d), i)
        }
        b'<' => (None, 0),
        _ => {
            // Token words separated by spaces up to the first '<', or an addr-spec.
            let mut i = 0;
            i = text::skip_while(b, i, |c| is_token_char(c) || c == b' ');
            if b.get(i) == Some(&b'<') {
                let d = trim_lws(&s[..i]);
                (if d.is_empty() { None } else { Some(d) }, i)
            } else {
                // addr-spec: the URI ends at ';' (header parameters follow) or the end. No byte
                // taken is '<', so the general parser also sees an addr-spec.
                let (uri, n) = plain_sip_prefix(s, false)?;
                let params = plain_header_params(s, n)?;
                return Some(NameAddr {
                    display: None,
                    uri: Uri::Sip(uri),
                    params,
                });
            }
        }
    };
    let (uri, n) = plain_sip_prefix(&s[lt + 1..], true)?;
    let gt = lt + 1 + n;
    if b.get(gt) != Some(&b'>') {
        return None;
    }
    let params = plain_header_params(s, gt + 1)?;
    Some(NameAddr {
        display,
        uri: Uri::Sip(uri),
        params,
    })
}

/// Header parameters from `at` to the end of `s`: none, or `;` and a plain list.
#[inline]
fn plain_header_params(s: &str, at: usize) -> Option<Params<&str>> {
    match s.as_bytes().get(at) {
        None => Some(Params::from_raw("")),
        Some(b';') => {
            let raw = &s[at + 1..];
            (!raw.is_empty() && plain_generic(raw, &|_, _| true)).then(|| Params::from_raw(raw))
        }
        Some(_) => None,
    }
}

/// Parses `*( SEMI generic-param )` (possibly with leading LWS).
fn header_params(s: &str) -> Result<Params<&str>, ValueError> {
    let s = trim_lws_start(s);
    if s.is_empty() {
        return Ok(Params::from_raw(""));
    }
    let raw = s.strip_prefix(';').ok_or(ValueError::TrailingGarbage)?;
    if trim_lws(raw).is_empty() {
        return Err(ValueError::BadParam);
    }
    let p = Params::from_raw(raw);
    p.validate_generic()?;
    Ok(p)
}

impl<S: AsRef<str>> NameAddr<S> {
    /// `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag")
    }

    /// Display name with quoted-pair escapes removed.
    pub fn display_name(&self) -> Option<Cow<'_, str>> {
        self.display.as_ref().map(|d| text::unquote(d.as_ref()))
    }

    pub fn to_owned_name_addr(&self) -> NameAddr<String> {
        NameAddr {
            display: self.display.as_ref().map(|d| d.as_ref().to_string()),
            uri: self.uri.to_owned_uri(),
            params: self.params.to_owned_params(),
        }
    }

    /// Contact `expires` parameter.
    pub fn expires(&self) -> Option<u32> {
        self.params.get("expires").and_then(text::parse_u32)
    }
}

impl NameAddr<String> {
    /// `<uri>` without display name or parameters.
    pub fn new(uri: Uri<String>) -> Self {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Sets the `tag` parameter.
    pub fn with_tag(mut self, tag: &str) -> Self {
        self.params.set("tag", Some(tag));
        self
    }
}

impl<S: AsRef<str>> fmt::Display for NameAddr<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            let d = d.as_ref();
            // Token words separated by single spaces go unquoted (`Bob <sip:...>`), as in the
            // RFC examples; anything else is quoted.
            let plain = !d.is_empty() && d.split(' ').all(is_token);
            if plain {
                write!(f, "{d} ")?;
            } else {
                write!(f, "\"{d}\" ")?;
            }
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// `CSeq: <number> <method>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq<S = String> {
    pub seq: u32,
    pub method: Method<S>,
}

impl<'a> CSeq<&'a str> {
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        let b = s.as_bytes();
        // The common form: at most nine digits (no overflow possible), one space, the method.
        let mut n = 0;
        let mut seq = 0u32;
        while n < b.len() && n < 9 && b[n].is_ascii_digit() {
            seq = seq * 10 + u32::from(b[n] - b'0');
            n += 1;
        }
        if n > 0 && b.get(n) == Some(&b' ') && b.get(n + 1).is_some_and(|&c| !is_lws(c)) {
            return Ok(CSeq {
                seq,
                method: Method::parse(&s[n + 1..])?,
            });
        }
        Self::parse_general(s)
    }

    /// Any digit count (with the overflow check) and LWS.
    fn parse_general(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        let n = s.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(ValueError::BadNumber);
        }
        let seq = text::parse_u32(&s[..n]).ok_or(ValueError::NumberTooLarge)?;
        let rest = &s[n..];
        let m = trim_lws_start(rest);
        if m.len() == rest.len() {
            return Err(ValueError::BadNumber);
        }
        Ok(CSeq {
            seq,
            method: Method::parse(m)?,
        })
    }
}

impl CSeq<String> {
    pub fn new(seq: u32, method: Method<String>) -> Self {
        CSeq { seq, method }
    }
}

impl<S: AsRef<str>> CSeq<S> {
    pub fn to_owned_cseq(&self) -> CSeq<String> {
        CSeq {
            seq: self.seq,
            method: self.method.to_owned_method(),
        }
    }
}

impl<S: AsRef<str>> fmt::Display for CSeq<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `Content-Type: type/subtype;params`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType<S = String> {
    pub mtype: S,
    pub subtype: S,
    pub params: Params<S>,
}

impl<'a> ContentType<&'a str> {
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        if let Some(ct) = plain_content_type(s) {
            return Ok(ct);
        }
        Self::parse_general(s)
    }

    /// The full grammar (LWS around `/` and `;`, quoted parameter values).
    fn parse_general(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        let (head, params) = match text::find_unquoted(s, b';') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let (t, st) = head.split_once('/').ok_or(ValueError::BadToken)?;
        let (mtype, subtype) = (trim_lws(t), trim_lws(st));
        if !is_token(mtype) || !is_token(subtype) {
            return Err(ValueError::BadToken);
        }
        if params.is_some_and(|p| trim_lws(p).is_empty()) {
            return Err(ValueError::BadParam);
        }
        let params = Params::from_raw(params.unwrap_or(""));
        params.validate_generic()?;
        Ok(ContentType {
            mtype,
            subtype,
            params,
        })
    }
}

/// One pass over `type/subtype[;params]` without LWS, with a plain parameter list
/// (`params::plain_generic`): exactly [`ContentType::parse`]'s value, or `None` for the general
/// parser to decide.
#[inline]
fn plain_content_type(s: &str) -> Option<ContentType<&str>> {
    let b = s.as_bytes();
    let mut i = 0;
    i = text::skip_while(b, i, is_token_char);
    if i == 0 || b.get(i) != Some(&b'/') {
        return None;
    }
    let ss = i + 1;
    i = ss;
    i = text::skip_while(b, i, is_token_char);
    if i == ss {
        return None;
    }
    let params = match b.get(i) {
        None => "",
        Some(b';') => {
            let raw = &s[i + 1..];
            if raw.is_empty() || !plain_generic(raw, &|_, _| true) {
                return None;
            }
            raw
        }
        Some(_) => return None,
    };
    Some(ContentType {
        mtype: &s[..ss - 1],
        subtype: &s[ss..i],
        params: Params::from_raw(params),
    })
}

impl<S: AsRef<str>> ContentType<S> {
    /// Case-insensitive `type/subtype` check, e.g. `is("application", "sdp")`.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.as_ref().eq_ignore_ascii_case(mtype) && self.subtype.as_ref().eq_ignore_ascii_case(subtype)
    }

    /// `boundary` parameter of multipart types, quotes removed.
    pub fn boundary(&self) -> Option<&str> {
        self.params.get("boundary")
    }

    pub fn to_owned_content_type(&self) -> ContentType<String> {
        ContentType {
            mtype: self.mtype.as_ref().to_string(),
            subtype: self.subtype.as_ref().to_string(),
            params: self.params.to_owned_params(),
        }
    }
}

impl<S: AsRef<str>> fmt::Display for ContentType<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}{}",
            self.mtype.as_ref(),
            self.subtype.as_ref(),
            self.params
        )
    }
}

/// Validates a Call-ID: `word ["@" word]`, visible ASCII without spaces.
pub fn check_call_id(s: &str) -> Result<&str, ValueError> {
    let s = trim_lws(s);
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    // Without an early exit the check runs on whole vectors.
    if s.bytes().fold(true, |ok, c| ok & (0x21..0x7f).contains(&c)) {
        Ok(s)
    } else {
        Err(ValueError::BadCallId)
    }
}

/// Parses a decimal scalar (Max-Forwards, Expires, Content-Length...).
pub fn parse_scalar(s: &str) -> Result<u32, ValueError> {
    let s = trim_lws(s);
    let b = s.as_bytes();
    // At most nine digits cannot overflow: one pass without an early exit.
    if !b.is_empty() && b.len() <= 9 {
        let (ok, v) = b.iter().fold((true, 0u32), |(ok, v), &c| {
            (
                ok & c.is_ascii_digit(),
                v.wrapping_mul(10).wrapping_add(u32::from(c.wrapping_sub(b'0'))),
            )
        });
        if ok {
            return Ok(v);
        }
    }
    parse_scalar_general(s)
}

/// [`parse_scalar`] for any length.
fn parse_scalar_general(s: &str) -> Result<u32, ValueError> {
    let s = trim_lws(s);
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ValueError::BadNumber);
    }
    text::parse_u32(s).ok_or(ValueError::NumberTooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::text::CommaSplit;

    /// Header values of the torture vectors (each comma-separated item) plus the common forms.
    fn values() -> Vec<String> {
        let mut v: Vec<String> = [
            "\"Port 1\" <sip:1001@sip.example.net>;tag=1928301774",
            "<sip:+15551234567@sip.example.net;user=phone>;tag=a6c85cf",
            "<sip:proxy.example.net;lr>",
            "<sips:1001@192.0.2.10:5061;transport=tls>;expires=3600;q=0.5",
            "Bob <sip:bob@biloxi.example.com>;tag=8321234356",
            "sip:alice@atlanta.example.com;tag=9fxced76sl",
            "sip:atlanta.example.com:5060",
            "\"\" <sip:a@b>",
            "A  B <sip:a@b>",
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=198.51.100.7",
            "SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport",
            "SIP/2.0/TLS proxy.example.net;branch=z9hG4bK1;ttl=16;maddr=224.2.0.1",
            "SIP/2.0/UDP 10.0.0.1",
            "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa;received=[2001:db8::9]",
            "application/sdp",
            "314159 INVITE",
            "1 ACK",
            "0000000001 BYE",
            "4294967295 CANCEL",
            "70",
            "4294967296",
            "007",
            "multipart/mixed;boundary=unique-boundary-1",
            "sip:a,b@c, sip:d@e",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors");
        for sub in ["rfc4475", "rfc5118"] {
            let Ok(rd) = std::fs::read_dir(format!("{dir}/{sub}")) else {
                continue;
            };
            for e in rd.flatten() {
                if e.path().extension().is_none_or(|x| x != "dat") {
                    continue;
                }
                let Ok(b) = std::fs::read(e.path()) else { continue };
                let text = String::from_utf8_lossy(&b).into_owned();
                for line in text.lines() {
                    if let Some((_, value)) = line.split_once(':') {
                        v.push(value.to_string());
                        v.extend(CommaSplit::new(value).map(str::to_string));
                    }
                }
            }
        }
        v
    }

    /// Word-wise name comparison against a plain search, on every name with each byte changed.
    #[test]
    fn header_name_lookup_agrees_with_a_plain_search() {
        let plain = |n: &str| {
            HeaderName::ALL
                .iter()
                .copied()
                .find(|h| h.as_str().eq_ignore_ascii_case(n))
                .unwrap_or(HeaderName::Other)
        };
        for h in HeaderName::ALL {
            let name = h.as_str().as_bytes();
            for at in 0..name.len() {
                for c in [
                    b'a',
                    b'Z',
                    b'-',
                    b'0',
                    b' ',
                    0x80,
                    name[at] ^ 0x20,
                    name[at] ^ 0x01,
                ] {
                    let mut v = name.to_vec();
                    v[at] = c;
                    let Ok(t) = std::str::from_utf8(&v) else { continue };
                    if t.len() > 1 {
                        assert_eq!(HeaderName::from_name(t), plain(t), "{t:?}");
                    }
                }
            }
        }
    }

    /// The one-pass parsers either decline or give exactly the general parser's value, on the
    /// vectors and on mutations of them.
    #[test]
    fn one_pass_value_parsers_agree_with_the_general_ones() {
        const BYTES: &[u8] = b" \t\"\\<>;=:@,%[]?./-_aZ09\r\n";
        let mut m = crate::sip::wire::mutate::Mutator::new(0x9e37_79b9_7f4a_7c15);
        let (mut na_hits, mut via_hits, mut ct_hits) = (0, 0, 0);
        for base in values() {
            for round in 0..200 {
                let mut b = base.clone().into_bytes();
                if round > 0 {
                    m.mutate(&mut b, BYTES);
                }
                let Ok(s) = std::str::from_utf8(&b) else { continue };
                let t = trim_lws(s);
                if let Some(na) = plain_name_addr(t) {
                    na_hits += 1;
                    assert_eq!(Ok(na), NameAddr::parse_general(t), "{s:?}");
                }
                assert_eq!(NameAddr::parse(s), NameAddr::parse_general(s), "{s:?}");
                if let Some(v) = plain_via(t) {
                    via_hits += 1;
                    assert_eq!(Ok(v), Via::parse_general(t), "{s:?}");
                }
                assert_eq!(Via::parse(s), Via::parse_general(s), "{s:?}");
                if plain_via(t).is_some() || plain_name_addr(t).is_some() {
                    // One list item: what lets message parsing skip the comma split.
                    assert_eq!(CommaSplit::new(t).collect::<Vec<_>>(), [t], "{s:?}");
                }
                if let Some(ct) = plain_content_type(t) {
                    ct_hits += 1;
                    assert_eq!(Ok(ct), ContentType::parse_general(t), "{s:?}");
                }
                assert_eq!(ContentType::parse(s), ContentType::parse_general(s), "{s:?}");
                assert_eq!(CSeq::parse(s), CSeq::parse_general(s), "{s:?}");
                assert_eq!(parse_scalar(s), parse_scalar_general(s), "{s:?}");
            }
        }
        // The one-pass parsers must see real use, not only decline.
        assert!(
            na_hits > 1000 && via_hits > 1000 && ct_hits > 100,
            "{na_hits} {via_hits} {ct_hits}"
        );
    }
}
