//! The owned [`Message`]: built by the stack, emitted to bytes, and produced from a parsed
//! [`SipMsg`] with [`SipMsg::to_message`]. Also responses to requests (RFC 3261 8.2.6) and the
//! `400 Bad Request` for requests that fail to parse.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use super::error::ParseError;
use super::header::{CSeq, ContentType, HeaderName, Method, NameAddr, Via, check_call_id, parse_scalar};
use super::message::{RequestLine, SipMsg, StartLine, StatusLine};
use super::text::{CommaSplit, find_unquoted, trim_lws};
use super::uri::Uri;

/// One header field of an owned message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    /// Name as emitted: the canonical name for known headers, the given text otherwise.
    pub name_text: Cow<'static, str>,
    pub value: String,
}

impl Header {
    /// A known header.
    pub fn new(name: HeaderName, value: impl Into<String>) -> Self {
        Header {
            name,
            name_text: Cow::Borrowed(name.as_str()),
            value: value.into(),
        }
    }

    /// A header by name text; known names (compact forms too) are canonicalised.
    pub fn named(name: &str, value: impl Into<String>) -> Self {
        match HeaderName::from_name(name) {
            HeaderName::Other => Header {
                name: HeaderName::Other,
                name_text: Cow::Owned(name.to_string()),
                value: value.into(),
            },
            n => Header::new(n, value),
        }
    }

    fn is(&self, name: &str) -> bool {
        match HeaderName::from_name(name) {
            HeaderName::Other => self.name == HeaderName::Other && self.name_text.eq_ignore_ascii_case(name),
            n => self.name == n,
        }
    }
}

/// An owned SIP message for building and emitting.
///
/// Content-Length is derived: the emitter always writes `Content-Length: <body length>` as the
/// last header, and stored Content-Length headers are ignored (conversion from a parsed message
/// drops them). Header values are stored as text; typed values (`Via`, `NameAddr`, `CSeq`, ...)
/// are written with their `Display` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine<String>,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// The standard reason phrase for a status code (RFC 3261 21 and extensions).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        _ => match code / 100 {
            1 => "Trying",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

impl Message {
    /// A request with no headers.
    pub fn request(method: Method<String>, uri: Uri<String>) -> Self {
        Message {
            start: StartLine::Request(RequestLine { method, uri }),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response with the standard reason phrase and no headers.
    pub fn response(code: u16) -> Self {
        Self::response_with_reason(code, reason_phrase(code))
    }

    pub fn response_with_reason(code: u16, reason: impl Into<String>) -> Self {
        Message {
            start: StartLine::Response(StatusLine {
                code,
                reason: reason.into(),
            }),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    pub fn method(&self) -> Option<&Method<String>> {
        match &self.start {
            StartLine::Request(r) => Some(&r.method),
            StartLine::Response(_) => None,
        }
    }

    pub fn request_uri(&self) -> Option<&Uri<String>> {
        match &self.start {
            StartLine::Request(r) => Some(&r.uri),
            StartLine::Response(_) => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response(s) => Some(s.code),
            StartLine::Request(_) => None,
        }
    }

    /// Appends a known header; `value` is any `Display` (typed values or text).
    pub fn push(&mut self, name: HeaderName, value: impl fmt::Display) -> &mut Self {
        self.headers.push(Header::new(name, value.to_string()));
        self
    }

    /// Appends a header by name text.
    pub fn push_named(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.headers.push(Header::named(name, value.to_string()));
        self
    }

    /// Inserts a known header before all others (e.g. a new top Via).
    pub fn push_front(&mut self, name: HeaderName, value: impl fmt::Display) -> &mut Self {
        self.headers.insert(0, Header::new(name, value.to_string()));
        self
    }

    /// Builder form of [`Message::push`].
    pub fn with(mut self, name: HeaderName, value: impl fmt::Display) -> Self {
        self.push(name, value);
        self
    }

    /// Replaces every `name` header with one value (appended at the end if absent).
    pub fn set(&mut self, name: HeaderName, value: impl fmt::Display) -> &mut Self {
        let value = value.to_string();
        match self.headers.iter().position(|h| h.name == name) {
            Some(i) => {
                self.headers[i].value = value;
                let mut k = 0;
                self.headers.retain(|h| {
                    k += 1;
                    k - 1 == i || h.name != name
                });
            }
            None => self.headers.push(Header::new(name, value)),
        }
        self
    }

    /// Removes every header called `name` (text, compact forms accepted).
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.headers.retain(|h| !h.is(name));
        self
    }

    /// Sets the body and its Content-Type (Content-Length follows automatically).
    pub fn set_body(&mut self, content_type: impl fmt::Display, body: impl Into<Vec<u8>>) -> &mut Self {
        self.set(HeaderName::ContentType, content_type);
        self.body = body.into();
        self
    }

    /// First value of a header by name (case-insensitive, compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.is(name)).map(|h| h.value.as_str())
    }

    /// First value of a known header.
    pub fn header_by(&self, name: HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated value of a known header across all its lines.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .flat_map(|h| CommaSplit::new(&h.value))
            .filter(|v| !v.is_empty())
    }

    /// Every Via value, top first (values that do not parse are skipped).
    pub fn vias(&self) -> impl Iterator<Item = Via<&str>> + '_ {
        self.values(HeaderName::Via).filter_map(|v| Via::parse(v).ok())
    }

    pub fn top_via(&self) -> Option<Via<&str>> {
        self.vias().next()
    }

    pub fn from_hdr(&self) -> Option<NameAddr<&str>> {
        self.header_by(HeaderName::From)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    pub fn to_hdr(&self) -> Option<NameAddr<&str>> {
        self.header_by(HeaderName::To)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header_by(HeaderName::CallId)
            .and_then(|v| check_call_id(v).ok())
    }

    pub fn cseq(&self) -> Option<CSeq<&str>> {
        self.header_by(HeaderName::CSeq).and_then(|v| CSeq::parse(v).ok())
    }

    pub fn max_forwards(&self) -> Option<u32> {
        self.header_by(HeaderName::MaxForwards)
            .and_then(|v| parse_scalar(v).ok())
    }

    pub fn content_type(&self) -> Option<ContentType<&str>> {
        self.header_by(HeaderName::ContentType)
            .and_then(|v| ContentType::parse(v).ok())
    }

    pub fn contacts(&self) -> impl Iterator<Item = NameAddr<&str>> + '_ {
        self.values(HeaderName::Contact)
            .filter_map(|v| NameAddr::parse(v).ok())
    }

    pub fn routes(&self) -> impl Iterator<Item = NameAddr<&str>> + '_ {
        self.values(HeaderName::Route)
            .filter_map(|v| NameAddr::parse(v).ok())
    }

    pub fn record_routes(&self) -> impl Iterator<Item = NameAddr<&str>> + '_ {
        self.values(HeaderName::RecordRoute)
            .filter_map(|v| NameAddr::parse(v).ok())
    }

    /// Appends the wire form to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len() + self.headers.iter().map(|h| h.value.len() + 24).sum::<usize>());
        let mut w = ByteWriter(out);
        // Writing into a Vec cannot fail.
        let _ = match &self.start {
            StartLine::Request(r) => write!(w, "{} {} SIP/2.0\r\n", r.method, r.uri),
            StartLine::Response(s) => write!(w, "SIP/2.0 {} {}\r\n", s.code, s.reason),
        };
        for h in &self.headers {
            if h.name == HeaderName::ContentLength {
                continue;
            }
            w.0.extend_from_slice(h.name_text.as_bytes());
            w.0.extend_from_slice(b": ");
            w.0.extend_from_slice(h.value.as_bytes());
            w.0.extend_from_slice(b"\r\n");
        }
        let _ = write!(w, "Content-Length: {}\r\n\r\n", self.body.len());
        w.0.extend_from_slice(&self.body);
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit(&mut v);
        v
    }

    /// A response to this request per RFC 3261 8.2.6 (see [`SipMsg::make_response`]).
    pub fn make_response(&self, code: u16, to_tag: Option<&str>) -> Message {
        let mut r = Message::response(code);
        for h in &self.headers {
            if matches!(
                h.name,
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq
            ) {
                r.headers.push(h.clone());
            } else if h.name == HeaderName::To {
                r.headers
                    .push(Header::new(HeaderName::To, to_with_tag(&h.value, code, to_tag)));
            }
        }
        r
    }
}

/// Appends `;tag=` to a To value that has none (not for 100 Trying, RFC 3261 8.2.6.2).
fn to_with_tag(to: &str, code: u16, tag: Option<&str>) -> String {
    match (tag, code) {
        (Some(t), 101..) if !has_tag(to) => format!("{to};tag={t}"),
        _ => to.to_string(),
    }
}

/// Lenient check for a `tag` parameter after the URI.
fn has_tag(v: &str) -> bool {
    let after = match find_unquoted(v, b'>') {
        Some(i) => &v[i..],
        None => v,
    };
    after
        .split(';')
        .skip(1)
        .any(|p| trim_lws(p.split('=').next().unwrap_or("")).eq_ignore_ascii_case("tag"))
}

struct ByteWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl fmt::Display for Message {
    /// The wire form, body shown lossily as UTF-8 (for logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl<'a> SipMsg<'a> {
    /// An owned copy: full header names (compact forms expanded), Content-Length dropped (the
    /// emitter derives it). Values are copied as received, except folded ones: typed headers
    /// (Via, From, To, Contact, Route, Record-Route, CSeq, Content-Type, Max-Forwards) are then
    /// re-emitted in canonical form and others get each fold replaced by one space.
    pub fn to_message(&self) -> Message {
        let mut headers = Vec::with_capacity(self.headers().len());
        for h in self.headers() {
            if h.name == HeaderName::ContentLength {
                continue;
            }
            headers.push(Header {
                name: h.name,
                name_text: match h.name {
                    HeaderName::Other => Cow::Owned(h.name_text.to_string()),
                    n => Cow::Borrowed(n.as_str()),
                },
                value: if h.value.bytes().any(|c| c == b'\r' || c == b'\n') {
                    canonical(h.name, h.value)
                } else {
                    h.value.to_string()
                },
            });
        }
        Message {
            start: self.start_line().to_owned_start(),
            headers,
            body: self.body().to_vec(),
        }
    }

    /// A response to this request per RFC 3261 8.2.6: copies every Via (in order), From,
    /// Call-ID and CSeq, and To with `to_tag` added when To has no tag and the code is not 100.
    /// Reason phrase is the standard one; the caller adds Contact, Allow, bodies, etc.
    pub fn make_response(&self, code: u16, to_tag: Option<&str>) -> Message {
        let mut r = Message::response(code);
        let via = join(self.vias().map(|v| v.to_owned_via().to_string()));
        r.push(HeaderName::Via, via);
        r.push(HeaderName::From, self.from().to_owned_name_addr());
        let mut to = self.to().to_owned_name_addr();
        if let (Some(t), true, None) = (to_tag, code > 100, self.to().tag()) {
            to.params.push("tag", Some(t));
        }
        r.push(HeaderName::To, to);
        r.push(HeaderName::CallId, self.call_id());
        r.push(HeaderName::CSeq, self.cseq().to_owned_cseq());
        r
    }
}

/// Canonical text of a folded header value.
fn canonical(name: HeaderName, v: &str) -> String {
    match name {
        HeaderName::Via => join(
            CommaSplit::new(v)
                .map(|x| Via::parse(x).map_or_else(|_| unfold(x), |x| x.to_owned_via().to_string())),
        ),
        HeaderName::From
        | HeaderName::To
        | HeaderName::Contact
        | HeaderName::Route
        | HeaderName::RecordRoute
            if v != "*" =>
        {
            join(CommaSplit::new(v).map(|x| {
                NameAddr::parse(x).map_or_else(|_| unfold(x), |x| x.to_owned_name_addr().to_string())
            }))
        }
        HeaderName::CSeq => CSeq::parse(v).map_or_else(|_| unfold(v), |c| c.to_string()),
        HeaderName::ContentType => {
            ContentType::parse(v).map_or_else(|_| unfold(v), |c| c.to_owned_content_type().to_string())
        }
        HeaderName::MaxForwards => parse_scalar(v).map_or_else(|_| unfold(v), |n| n.to_string()),
        _ => unfold(v),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&s);
    }
    out
}

/// Replaces line folds (CRLF + whitespace) by a single space.
fn unfold(v: &str) -> String {
    if !v.bytes().any(|c| c == b'\r' || c == b'\n') {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut in_fold = false;
    for c in v.chars() {
        if c == '\r' || c == '\n' {
            in_fold = true;
            continue;
        }
        if in_fold && (c == ' ' || c == '\t') {
            continue;
        }
        if in_fold {
            out.push(' ');
            in_fold = false;
        }
        out.push(c);
    }
    out
}

/// The response a UAS or proxy sends for a request that failed to parse: status from
/// [`ParseError::status_code`] (400, or 505 for an unknown SIP version) with a reason phrase
/// naming the problem. The request must be addressable: a request line and Via, From, To,
/// Call-ID and CSeq present (their raw values are copied, folds removed). Returns `None`
/// otherwise, and for responses (which are dropped, never answered).
pub fn error_response(buf: &[u8], err: &ParseError, to_tag: &str) -> Option<Message> {
    if matches!(err.kind, super::error::ErrorKind::Incomplete { .. }) {
        return None;
    }
    let start = buf.iter().take_while(|&&c| c == b'\r' || c == b'\n').count();
    let rest = &buf[start..];
    let head_end = memchr::memmem::find(rest, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(rest, b"\n\n"))
        .map_or(rest.len(), |i| i + 1);
    let head = String::from_utf8_lossy(&rest[..head_end]);
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next()?;
    // Only requests get answers; a request line with a bad version still is one.
    if first.len() >= 4 && first.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let method = first.split(' ').next().filter(|m| super::text::is_token(m))?;
    if method == "ACK" {
        return None;
    }
    // Unfold and collect the headers that address the response.
    let mut fields: Vec<(HeaderName, String)> = Vec::new();
    for l in lines {
        if l.starts_with(' ') || l.starts_with('\t') {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(trim_lws(l));
            }
            continue;
        }
        let Some((n, v)) = l.split_once(':') else {
            fields.push((HeaderName::Other, String::new()));
            continue;
        };
        fields.push((HeaderName::from_name(trim_lws(n)), trim_lws(v).to_string()));
    }
    let get = |n: HeaderName| {
        fields
            .iter()
            .find(|(k, v)| *k == n && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let (from, to, call_id, cseq) = (
        get(HeaderName::From)?,
        get(HeaderName::To)?,
        get(HeaderName::CallId)?,
        get(HeaderName::CSeq)?,
    );
    let vias: Vec<&str> = fields
        .iter()
        .filter(|(k, v)| *k == HeaderName::Via && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    if vias.is_empty() {
        return None;
    }
    let mut r = Message::response_with_reason(err.status_code(), err.reason_phrase());
    for v in vias {
        r.push(HeaderName::Via, v);
    }
    r.push(HeaderName::From, from);
    r.push(HeaderName::To, to_with_tag(to, 400, Some(to_tag)));
    r.push(HeaderName::CallId, call_id);
    r.push(HeaderName::CSeq, cseq);
    Some(r)
}
