//! Typed parse errors: what was wrong, in which header, at which byte offset.

use std::fmt;

use super::header::HeaderName;

/// Why a URI was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    Empty,
    /// No `scheme:` prefix, or a scheme with illegal characters.
    BadScheme,
    /// Illegal character or bad `%HH` escape in the user part.
    BadUser,
    BadPassword,
    /// Empty or syntactically invalid host.
    BadHost,
    /// `[...]` that is not an IPv6 address, or an unterminated `[`.
    BadIpv6,
    BadPort,
    /// Empty parameter (`;;`) or illegal characters in a uri-parameter.
    BadParam,
    /// Illegal characters in the `?headers` part.
    BadHeaders,
    /// Whitespace or other illegal characters in an opaque (non-SIP) URI.
    BadOpaque,
}

impl UriError {
    pub fn as_str(self) -> &'static str {
        match self {
            UriError::Empty => "empty URI",
            UriError::BadScheme => "bad URI scheme",
            UriError::BadUser => "bad user part",
            UriError::BadPassword => "bad password",
            UriError::BadHost => "bad host",
            UriError::BadIpv6 => "bad IPv6 reference",
            UriError::BadPort => "bad port",
            UriError::BadParam => "bad URI parameter",
            UriError::BadHeaders => "bad URI headers",
            UriError::BadOpaque => "bad URI characters",
        }
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a header field value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    Empty,
    /// A comma-separated list has an empty element.
    EmptyItem,
    UnterminatedQuote,
    /// `<` without `>`, or text after the closing `>` that is not a parameter.
    BadAngle,
    /// Display name with characters outside `token` and not quoted.
    BadDisplayName,
    Uri(UriError),
    /// Escaped headers (`?...`) or `;` ambiguity in an addr-spec that is not enclosed in `<>`.
    UriNeedsAngle,
    /// Empty parameter (`;;` or trailing `;`) or parameter name that is not a token.
    BadParam,
    /// Parameter with a value that is not allowed (e.g. `ttl=300`, `received=x`).
    BadParamValue,
    /// A number with non-digits.
    BadNumber,
    /// A number above 2^32-1 (RFC 3261 scalar limits).
    NumberTooLarge,
    /// A token was expected (method, transport, media type...).
    BadToken,
    /// `SIP/2.0/UDP` part of Via.
    BadProtocol,
    /// Via sent-by host or port.
    BadSentBy,
    /// Characters left over after a complete value.
    TrailingGarbage,
    /// Whitespace or illegal characters in a Call-ID.
    BadCallId,
}

impl ValueError {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueError::Empty => "empty value",
            ValueError::EmptyItem => "empty list element",
            ValueError::UnterminatedQuote => "unterminated quoted string",
            ValueError::BadAngle => "unbalanced <>",
            ValueError::BadDisplayName => "bad display name",
            ValueError::Uri(u) => u.as_str(),
            ValueError::UriNeedsAngle => "URI with parameters or headers must be in <>",
            ValueError::BadParam => "empty or bad parameter",
            ValueError::BadParamValue => "bad parameter value",
            ValueError::BadNumber => "bad number",
            ValueError::NumberTooLarge => "number too large",
            ValueError::BadToken => "bad token",
            ValueError::BadProtocol => "bad protocol",
            ValueError::BadSentBy => "bad sent-by",
            ValueError::TrailingGarbage => "trailing garbage",
            ValueError::BadCallId => "bad Call-ID",
        }
    }
}

impl From<UriError> for ValueError {
    fn from(e: UriError) -> Self {
        ValueError::Uri(e)
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// Stream framing: more bytes are needed. `needed` is the total length of the message when
    /// the header section is complete (then known from Content-Length).
    Incomplete {
        needed: Option<usize>,
    },
    /// No empty line ends the header section of a datagram.
    UnterminatedHeaders,
    /// Start line is not `Method SP Request-URI SP SIP-Version` nor `SIP-Version SP code SP reason`
    /// (extra or missing spaces, LWS in the Request-URI...).
    BadStartLine,
    BadMethod,
    BadRequestUri(UriError),
    /// Escaped headers in the Request-URI (not allowed there, RFC 3261 19.1.1).
    RequestUriHeaders,
    /// Not `SIP/x.y`.
    BadVersion,
    /// A well-formed version other than SIP/2.0 (answered with 505).
    UnsupportedVersion,
    /// Status code not three digits in 100..=699.
    BadStatusCode,
    /// A header line without `:` or with a name that is not a token.
    BadHeaderLine,
    /// A header value that does not parse; `ParseError::header` names the header.
    BadHeader(ValueError),
    /// A mandatory header (Via, From, To, Call-ID, CSeq) is absent.
    MissingHeader,
    /// A header that allows one value appears more than once.
    DuplicateHeader,
    /// The CSeq method differs from the request method.
    CSeqMethodMismatch,
    /// Content-Length not a non-negative decimal below 2^32.
    BadContentLength,
    /// Content-Length larger than the bytes that follow in the datagram.
    BodyTooShort {
        declared: usize,
        available: usize,
    },
    /// Header section not valid UTF-8.
    BadUtf8,
}

/// A parse failure with its location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// The header whose value or presence is at fault.
    pub header: Option<HeaderName>,
    /// Byte offset in the input where the faulty element starts.
    pub offset: usize,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        ParseError {
            kind,
            header: None,
            offset,
        }
    }

    pub(crate) fn header(kind: ErrorKind, header: HeaderName, offset: usize) -> Self {
        ParseError {
            kind,
            header: Some(header),
            offset,
        }
    }

    /// The status code of the response a UAS or proxy sends for this error (RFC 3261 and
    /// RFC 4475 expectations): 505 for an unsupported version, otherwise 400.
    pub fn status_code(&self) -> u16 {
        match self.kind {
            ErrorKind::UnsupportedVersion => 505,
            _ => 400,
        }
    }

    /// The reason phrase for the error response, naming the problem (e.g.
    /// `Bad Request (bad Via: empty or bad parameter)`).
    pub fn reason_phrase(&self) -> String {
        if self.status_code() == 505 {
            return "Version Not Supported".to_string();
        }
        format!("Bad Request ({})", Detail(self))
    }
}

struct Detail<'a>(&'a ParseError);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        let h = e.header.map(|h| h.as_str()).unwrap_or("header");
        match e.kind {
            ErrorKind::Empty => f.write_str("empty message"),
            ErrorKind::Incomplete { .. } => f.write_str("incomplete message"),
            ErrorKind::UnterminatedHeaders => f.write_str("no empty line after headers"),
            ErrorKind::BadStartLine => f.write_str("malformed start line"),
            ErrorKind::BadMethod => f.write_str("bad method"),
            ErrorKind::BadRequestUri(u) => write!(f, "bad Request-URI: {u}"),
            ErrorKind::RequestUriHeaders => f.write_str("headers not allowed in Request-URI"),
            ErrorKind::BadVersion => f.write_str("bad SIP version"),
            ErrorKind::UnsupportedVersion => f.write_str("unsupported SIP version"),
            ErrorKind::BadStatusCode => f.write_str("bad status code"),
            ErrorKind::BadHeaderLine => f.write_str("malformed header line"),
            ErrorKind::BadHeader(v) => write!(f, "bad {h}: {v}"),
            ErrorKind::MissingHeader => write!(f, "missing {h}"),
            ErrorKind::DuplicateHeader => write!(f, "multiple {h} headers"),
            ErrorKind::CSeqMethodMismatch => f.write_str("CSeq method does not match request"),
            ErrorKind::BadContentLength => f.write_str("bad Content-Length"),
            ErrorKind::BodyTooShort { declared, available } => {
                write!(f, "Content-Length {declared} exceeds body of {available} bytes")
            }
            ErrorKind::BadUtf8 => f.write_str("header not UTF-8"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", Detail(self), self.offset)
    }
}

impl std::error::Error for ParseError {}
