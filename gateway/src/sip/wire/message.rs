//! The borrowed message view [`SipMsg`]: one pass over the input, no copies of text, and
//! Content-Length framing for datagrams and streams.

use memchr::memchr;
use smallvec::SmallVec;

use super::error::{ErrorKind, ParseError, ValueError};
use super::header::{
    CSeq, ContentType, HeaderName, Method, NameAddr, Via, check_call_id, parse_scalar, plain_name_addr,
    plain_via,
};
use super::text::{CommaSplit, is_lws, is_token_char, skip_while, trim_lws};
use super::uri::Uri;

/// Largest header section accepted from a stream before giving up on finding its end.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Request line: method and Request-URI (the version is always SIP/2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine<S = String> {
    pub method: Method<S>,
    pub uri: Uri<S>,
}

/// Status line: code and reason phrase (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine<S = String> {
    pub code: u16,
    pub reason: S,
}

/// First line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<S = String> {
    Request(RequestLine<S>),
    Response(StatusLine<S>),
}

impl<S: AsRef<str>> StartLine<S> {
    pub fn to_owned_start(&self) -> StartLine<String> {
        match self {
            StartLine::Request(r) => StartLine::Request(RequestLine {
                method: r.method.to_owned_method(),
                uri: r.uri.to_owned_uri(),
            }),
            StartLine::Response(s) => StartLine::Response(StatusLine {
                code: s.code,
                reason: s.reason.as_ref().to_string(),
            }),
        }
    }
}

/// One header field as it appears: classified name, name text, value with surrounding LWS
/// removed (folds inside the value are kept; value parsers treat them as LWS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    pub name: HeaderName,
    pub name_text: &'a str,
    pub value: &'a str,
    /// Byte offset of the header line in the input.
    pub offset: u32,
}

impl RawHeader<'_> {
    /// True when this header is `name` (full or compact form, any case).
    pub fn is(&self, name: &str) -> bool {
        match HeaderName::from_name(name) {
            HeaderName::Other => self.name_text.eq_ignore_ascii_case(name),
            n => n == self.name,
        }
    }
}

/// Result of stream framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A complete message occupies the first `len` bytes.
    Complete(usize),
    /// More bytes are needed; `needed` is the total message length once the header section is
    /// complete (from Content-Length).
    Incomplete { needed: Option<usize> },
    /// The buffer starts with `len` bytes of CR/LF: a keep-alive ping/pong (RFC 5626 3.5.1) or
    /// padding before a message; consume them.
    KeepAlive(usize),
}

/// Searcher for the CRLF CRLF that ends a header section, built once.
fn crlf_crlf() -> &'static memchr::memmem::Finder<'static> {
    static F: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();
    F.get_or_init(|| memchr::memmem::Finder::new(b"\r\n\r\n"))
}

/// Where a header section ends: the empty line at `end`, body from `body`.
fn find_header_end(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut pos = from;
    loop {
        let nl = pos + memchr(b'\n', &b[pos..])?;
        let next = nl + 1;
        match b.get(next) {
            Some(b'\n') => return Some((next, next + 1)),
            Some(b'\r') if b.get(next + 1) == Some(&b'\n') => return Some((next, next + 2)),
            _ => pos = next,
        }
    }
}

/// A header line found by [`header_lines`]: name and raw value ranges (absolute offsets).
struct LineSpan {
    start: usize,
    name_end: usize,
    value: (usize, usize),
    /// `value` has no LWS at either end.
    trimmed: bool,
}

/// Splits header fields from `from` up to the empty line that ends the header section, joining
/// folded lines. Returns the offsets of that empty line and of the body, or `None` when the
/// buffer ends first (fields seen so far have been passed to `f`).
fn header_lines(
    b: &[u8],
    from: usize,
    mut f: impl FnMut(LineSpan) -> Result<(), ParseError>,
) -> Result<Option<(usize, usize)>, ParseError> {
    let end = b.len();
    let mut pos = from;
    let mut cur: Option<LineSpan> = None;
    let found = loop {
        if pos >= end {
            break None;
        }
        let nl = memchr(b'\n', &b[pos..]).map_or(end, |n| pos + n);
        let mut le = nl;
        if le > pos && b[le - 1] == b'\r' {
            le -= 1;
        }
        if le == pos {
            break Some((pos, (nl + 1).min(end)));
        }
        if matches!(b[pos], b' ' | b'\t') {
            match cur.as_mut() {
                Some(c) => c.value.1 = le,
                None => return Err(ParseError::new(ErrorKind::BadHeaderLine, pos)),
            }
        } else {
            if let Some(c) = cur.take() {
                f(c)?;
            }
            let colon = b[pos..le]
                .iter()
                .position(|&c| c == b':')
                .map(|c| pos + c)
                .ok_or(ParseError::new(ErrorKind::BadHeaderLine, pos))?;
            let mut ne = colon;
            while ne > pos && matches!(b[ne - 1], b' ' | b'\t') {
                ne -= 1;
            }
            if ne == pos {
                return Err(ParseError::new(ErrorKind::BadHeaderLine, pos));
            }
            cur = Some(LineSpan {
                start: pos,
                name_end: ne,
                value: (colon + 1, le),
                trimmed: false,
            });
        }
        pos = nl + 1;
    };
    if let Some(c) = cur {
        f(c)?;
    }
    Ok(found)
}

/// Bytes examined per step by [`Newlines`].
const CHUNK: usize = 32;

/// Bit k set where byte k of `c` is `\n`, and bit k set where byte k is not ASCII.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn chunk_masks(c: &[u8; CHUNK]) -> (u32, u32) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: `c` is 32 readable bytes and the loads have no alignment requirement; SSE2 is part
    // of the x86_64 baseline.
    let (n0, n1, h0, h1) = unsafe {
        let v0 = _mm_loadu_si128(c.as_ptr().cast());
        let v1 = _mm_loadu_si128(c.as_ptr().add(16).cast());
        let nl = _mm_set1_epi8(b'\n' as i8);
        (
            _mm_movemask_epi8(_mm_cmpeq_epi8(v0, nl)),
            _mm_movemask_epi8(_mm_cmpeq_epi8(v1, nl)),
            _mm_movemask_epi8(v0),
            _mm_movemask_epi8(v1),
        )
    };
    let join = |lo: i32, hi: i32| (lo as u32 & 0xffff) | (hi as u32) << 16;
    (join(n0, n1), join(h0, h1))
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn chunk_masks(c: &[u8; CHUNK]) -> (u32, u32) {
    chunk_masks_swar(c)
}

/// [`chunk_masks`] with 64-bit words, for any target.
#[cfg(any(not(target_arch = "x86_64"), test))]
#[inline(always)]
fn chunk_masks_swar(c: &[u8; CHUNK]) -> (u32, u32) {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    /// Gathers the top bit of each byte into the low 8 bits (byte k to bit k).
    fn gather(m: u64) -> u32 {
        ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    }
    let (mut nl, mut high) = (0, 0);
    for (k, w) in c.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        let x = w ^ 0x0a0a_0a0a_0a0a_0a0a;
        // Top bit set exactly in the bytes where `x` is zero (no carry between bytes).
        let z = !(((x & LO7).wrapping_add(LO7)) | x | LO7);
        nl |= gather(z) << (8 * k);
        high |= gather(w & !LO7) << (8 * k);
    }
    (nl, high)
}

/// Positions of `\n` from a starting offset on, found [`CHUNK`] bytes at a time, noting on the
/// way whether the bytes passed are all ASCII.
struct Newlines<'b> {
    b: &'b [u8],
    /// Start of the current chunk.
    base: usize,
    /// Newlines of the current chunk not returned yet.
    nl: u32,
    /// Non-ASCII bytes of the current chunk.
    high: u32,
    /// Non-ASCII bytes seen in the chunks before it.
    high_before: u32,
}

impl<'b> Newlines<'b> {
    #[inline(always)]
    fn new(b: &'b [u8], from: usize) -> Self {
        let (nl, high) = Self::load(b, from);
        Newlines {
            b,
            base: from,
            nl,
            high,
            high_before: 0,
        }
    }

    #[inline(always)]
    fn load(b: &[u8], at: usize) -> (u32, u32) {
        let rest = b.get(at..).unwrap_or_default();
        match rest.first_chunk::<CHUNK>() {
            Some(c) => chunk_masks(c),
            None => {
                // The tail, padded with bytes that are neither newlines nor non-ASCII.
                let mut c = [0u8; CHUNK];
                c[..rest.len()].copy_from_slice(rest);
                chunk_masks(&c)
            }
        }
    }

    #[inline(always)]
    fn next_nl(&mut self) -> Option<usize> {
        while self.nl == 0 {
            self.base += CHUNK;
            if self.base >= self.b.len() {
                return None;
            }
            self.high_before |= self.high;
            (self.nl, self.high) = Self::load(self.b, self.base);
        }
        let k = self.nl.trailing_zeros() as usize;
        self.nl &= self.nl - 1;
        Some(self.base + k)
    }

    /// Every byte from the starting offset through `nl`, the newline last returned, is ASCII.
    #[inline(always)]
    fn ascii_through(&self, nl: usize) -> bool {
        let k = nl - self.base;
        self.high_before | (self.high & ((2u64 << k) - 1) as u32) == 0
    }
}

/// Layout found by [`scan_crlf_headers`].
struct CrlfScan {
    /// The `\n` ending the start line.
    first_nl: usize,
    /// Start of the empty line.
    hdr_end: usize,
    body_start: usize,
    /// Every header line is `name: value` (one SP after the colon, no LWS around the value).
    canonical: bool,
    /// The start line and header section are ASCII.
    ascii: bool,
}

/// Header lines of a message whose lines all end in CRLF, without folds, each `name:` (no LWS
/// before the colon) followed by the value, up to an empty line. `None` for anything else (the
/// general path decides).
#[inline]
fn scan_crlf_headers(b: &[u8], start: usize, lines: &mut SmallVec<[LineSpan; 24]>) -> Option<CrlfScan> {
    let mut nls = Newlines::new(b, start);
    let first_nl = nls.next_nl()?;
    if first_nl == start || b[first_nl - 1] != b'\r' {
        return None;
    }
    let mut canonical = true;
    let mut pos = first_nl + 1;
    loop {
        let nl = nls.next_nl()?;
        if nl == pos || b[nl - 1] != b'\r' {
            return None;
        }
        let le = nl - 1;
        if le == pos {
            return Some(CrlfScan {
                first_nl,
                hdr_end: pos,
                body_start: nl + 1,
                canonical,
                ascii: nls.ascii_through(nl),
            });
        }
        // A fold continues the previous line: left to the general path.
        if matches!(b[pos], b' ' | b'\t') {
            return None;
        }
        // The name's characters are checked when it is classified (`SipMsg::parse_fast`).
        let colon = skip_while(&b[..le], pos, |c| c != b':');
        if colon == le {
            return None;
        }
        if colon == pos || matches!(b[colon - 1], b' ' | b'\t') {
            return None;
        }
        // `name: value`, the value non-empty without LWS at its ends: taken as it is.
        let plain =
            b.get(colon + 1) == Some(&b' ') && le > colon + 2 && !is_lws(b[colon + 2]) && !is_lws(b[le - 1]);
        canonical &= plain;
        lines.push(LineSpan {
            start: pos,
            name_end: colon,
            value: if plain { (colon + 2, le) } else { (colon + 1, le) },
            trimmed: plain,
        });
        pos = nl + 1;
    }
}

/// `&text[a..b]` for the ends [`scan_crlf_headers`] found: a line start (after `\n`), a `:`, the
/// byte after it or after the space that follows it, a `\r`. Each is next to an ASCII byte of
/// `text`, so a char boundary, and `a <= b <= text.len()`.
#[inline(always)]
fn slice_at_delims(text: &str, a: usize, b: usize) -> &str {
    debug_assert!(a <= b && text.is_char_boundary(a) && text.is_char_boundary(b));
    // SAFETY: see above; the bounds and boundary checks of `&text[a..b]` are what this avoids.
    unsafe { text.get_unchecked(a..b) }
}

fn leading_crlf(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| c == b'\r' || c == b'\n').count()
}

/// Stream framing (TCP/TLS): how long is the message at the start of `buf`?
/// Content-Length is mandatory on streams; a missing one counts as 0 (RFC 3261 18.3).
pub fn frame(buf: &[u8]) -> Result<Framing, ParseError> {
    let lead = leading_crlf(buf);
    if lead > 0 {
        return Ok(Framing::KeepAlive(lead));
    }
    let Some((_, body)) = find_header_end(buf, 0) else {
        if buf.len() > MAX_HEADER_BYTES {
            return Err(ParseError::new(ErrorKind::UnterminatedHeaders, 0));
        }
        return Ok(Framing::Incomplete { needed: None });
    };
    let first = memchr(b'\n', buf).map_or(body, |n| n + 1);
    let mut cl: Option<usize> = None;
    header_lines(&buf[..body], first.min(body), |sp| {
        let name = std::str::from_utf8(&buf[sp.start..sp.name_end]).unwrap_or("");
        if HeaderName::from_name(name) == HeaderName::ContentLength {
            if cl.is_some() {
                return Err(ParseError::header(
                    ErrorKind::DuplicateHeader,
                    HeaderName::ContentLength,
                    sp.start,
                ));
            }
            let v = std::str::from_utf8(&buf[sp.value.0..sp.value.1]).unwrap_or("x");
            let n = parse_scalar(v).map_err(|_| {
                ParseError::header(ErrorKind::BadContentLength, HeaderName::ContentLength, sp.start)
            })?;
            cl = Some(n as usize);
        }
        Ok(())
    })?;
    let total = body + cl.unwrap_or(0);
    Ok(if buf.len() >= total {
        Framing::Complete(total)
    } else {
        Framing::Incomplete { needed: Some(total) }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Datagram,
    Stream,
}

/// A parsed SIP message borrowing from its input buffer.
///
/// Parsing validates the start line and every header the stack interprets (Via, From, To,
/// Call-ID, CSeq, Max-Forwards, Content-Length, Content-Type, Contact, Route, Record-Route), so
/// the typed accessors cannot fail. Other headers are kept raw and parsed on demand.
#[derive(Debug, Clone)]
pub struct SipMsg<'a> {
    start: StartLine<&'a str>,
    start_raw: &'a str,
    headers: SmallVec<[RawHeader<'a>; 20]>,
    body: &'a [u8],
    via: Via<&'a str>,
    from: NameAddr<&'a str>,
    to: NameAddr<&'a str>,
    call_id: &'a str,
    cseq: CSeq<&'a str>,
    max_forwards: Option<u32>,
    content_length: Option<u32>,
    content_type: Option<ContentType<&'a str>>,
    len: usize,
    /// Start line and header section exactly as [`SipMsg::emit`] writes them (CRLF line ends,
    /// `name: value` lines), or empty when emitting rewrites them.
    raw_head: &'a [u8],
}

#[derive(Default)]
struct Core<'a> {
    via: Option<Via<&'a str>>,
    from: Option<NameAddr<&'a str>>,
    to: Option<NameAddr<&'a str>>,
    call_id: Option<&'a str>,
    cseq: Option<CSeq<&'a str>>,
    max_forwards: Option<u32>,
    content_length: Option<u32>,
    content_type: Option<ContentType<&'a str>>,
    seen: u16,
}

fn single_bit(n: HeaderName) -> u16 {
    match n {
        HeaderName::From => 1,
        HeaderName::To => 2,
        HeaderName::CallId => 4,
        HeaderName::CSeq => 8,
        HeaderName::MaxForwards => 16,
        HeaderName::ContentLength => 32,
        HeaderName::ContentType => 64,
        HeaderName::Expires => 128,
        _ => 0,
    }
}

fn check_version(v: &str, at: usize) -> Result<(), ParseError> {
    let b = v.as_bytes();
    if b.len() == 7 && b[..4].eq_ignore_ascii_case(b"SIP/") && &b[4..] == b"2.0" {
        return Ok(());
    }
    let well_formed = b.len() > 4
        && b[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].split_once('.').is_some_and(|(a, c)| {
            !a.is_empty() && !c.is_empty() && a.bytes().chain(c.bytes()).all(|x| x.is_ascii_digit())
        });
    Err(ParseError::new(
        if well_formed {
            ErrorKind::UnsupportedVersion
        } else {
            ErrorKind::BadVersion
        },
        at,
    ))
}

/// Parses a start line at absolute offset `at`.
pub(crate) fn parse_start_line(line: &str, at: usize) -> Result<StartLine<&str>, ParseError> {
    let b = line.as_bytes();
    if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"SIP/") {
        // `SIP/2.0 ` holds no other space: the first space is the one after it.
        let sp = if b.get(4..8) == Some(b"2.0 ") {
            7
        } else {
            memchr(b' ', b).ok_or(ParseError::new(ErrorKind::BadStartLine, at))?
        };
        check_version(&line[..sp], at)?;
        let rest = &line[sp + 1..];
        let rb = rest.as_bytes();
        let bad = ParseError::new(ErrorKind::BadStatusCode, at + sp + 1);
        if rb.len() < 3 || !rb[..3].iter().all(u8::is_ascii_digit) || rb.get(3).is_some_and(|&c| c != b' ') {
            return Err(bad);
        }
        let code = rb[..3].iter().fold(0u16, |v, &d| v * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&code) {
            return Err(bad);
        }
        let reason = rest.get(4..).unwrap_or("");
        return Ok(StartLine::Response(StatusLine { code, reason }));
    }
    let sp1 = skip_while(b, 0, |c| c != b' ');
    if sp1 == b.len() {
        return Err(ParseError::new(ErrorKind::BadStartLine, at));
    }
    // ` SIP/2.0` holds no other space: the last space is the one before it.
    let sp2 = match b.len().checked_sub(8) {
        Some(v) if v > sp1 && &b[v..] == b" SIP/2.0" => v,
        _ => memchr::memrchr(b' ', b).unwrap_or(sp1),
    };
    if sp1 == sp2 {
        return Err(ParseError::new(ErrorKind::BadStartLine, at));
    }
    let method = Method::parse(&line[..sp1]).map_err(|_| ParseError::new(ErrorKind::BadMethod, at))?;
    let uri_s = &line[sp1 + 1..sp2];
    if uri_s.is_empty() || uri_s.bytes().any(|c| c == b' ' || c == b'\t') {
        return Err(ParseError::new(ErrorKind::BadStartLine, at + sp1 + 1));
    }
    check_version(&line[sp2 + 1..], at + sp2 + 1)?;
    let uri = Uri::parse(uri_s).map_err(|e| ParseError::new(ErrorKind::BadRequestUri(e), at + sp1 + 1))?;
    if matches!(&uri, Uri::Sip(u) if u.headers.is_some()) {
        return Err(ParseError::new(ErrorKind::RequestUriHeaders, at + sp1 + 1));
    }
    Ok(StartLine::Request(RequestLine { method, uri }))
}

impl<'a> SipMsg<'a> {
    /// Parses one UDP datagram. Bytes after Content-Length are discarded (RFC 3261 18.3, see
    /// [`SipMsg::wire_len`]); a body shorter than Content-Length is an error; without
    /// Content-Length the body runs to the end of the datagram.
    #[inline]
    pub fn parse_datagram(buf: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_mode(buf, Mode::Datagram)
    }

    /// Parses the message at the start of a stream buffer. Returns the message and the number of
    /// bytes it occupies (leading CR/LF keep-alives included); `ErrorKind::Incomplete` when more
    /// bytes are needed.
    pub fn parse_stream(buf: &'a [u8]) -> Result<(Self, usize), ParseError> {
        let m = Self::parse_mode(buf, Mode::Stream)?;
        let n = m.len;
        Ok((m, n))
    }

    #[inline]
    fn parse_mode(buf: &'a [u8], mode: Mode) -> Result<Self, ParseError> {
        // Declining hands over to the general path inside `parse_fast`, so that the message is
        // built once, in place, rather than moved out of an `Option`.
        Self::parse_fast(buf, mode, || Self::parse_general(buf, mode))
    }

    /// The common case: CRLF line ends, no folds, `token: value` lines and an empty line that
    /// ends the header section inside the buffer. For anything else the outcome is `decline()`,
    /// called before anything has been judged, so that [`SipMsg::parse_general`]
    /// decides (and reports errors) exactly as for any other message. Once the layout is known
    /// the checks are the general path's, in the same order.
    #[inline(always)]
    fn parse_fast(
        buf: &'a [u8],
        mode: Mode,
        decline: impl FnOnce() -> Result<Self, ParseError>,
    ) -> Result<Self, ParseError> {
        let start = leading_crlf(buf);
        if start == buf.len() {
            return decline();
        }
        let mut lines: SmallVec<[LineSpan; 24]> = SmallVec::new();
        let Some(scan) = scan_crlf_headers(buf, start, &mut lines) else {
            return decline();
        };
        let head = &buf[..scan.hdr_end];
        let text = if scan.ascii {
            // SAFETY: ASCII text is UTF-8 (the bytes before `start` are CR/LF, the rest was
            // checked by the scan).
            unsafe { std::str::from_utf8_unchecked(head) }
        } else {
            match std::str::from_utf8(head) {
                Ok(t) => t,
                Err(_) => return decline(),
            }
        };
        let sl = &text[start..scan.first_nl - 1];
        let start_line = parse_start_line(sl, start)?;
        // `new` rather than `with_capacity`: the latter moves the whole inline array once more.
        let mut headers: SmallVec<[RawHeader<'a>; 20]> = SmallVec::new();
        let mut core = Core::default();
        for sp in &lines {
            let name_text = slice_at_delims(text, sp.start, sp.name_end);
            let name = HeaderName::from_name(name_text);
            // Known names are tokens; any other must be one (else the general path reports it).
            if name == HeaderName::Other && !name_text.bytes().all(is_token_char) {
                return decline();
            }
            let value = slice_at_delims(text, sp.value.0, sp.value.1);
            let value = if sp.trimmed { value } else { trim_lws(value) };
            add_header(&mut headers, &mut core, name, name_text, value, sp.start)?;
        }
        // Every line is `name: value` with one space after the colon and no LWS around the value:
        // the header section is emitted as it came.
        let raw_head = if scan.canonical {
            &buf[start..scan.hdr_end]
        } else {
            &[]
        };
        Self::finish(
            buf,
            mode,
            start,
            sl,
            start_line,
            &mut headers,
            &mut core,
            scan.body_start,
            raw_head,
        )
    }

    #[inline(never)]
    fn parse_general(buf: &'a [u8], mode: Mode) -> Result<Self, ParseError> {
        let start = leading_crlf(buf);
        if start == buf.len() {
            return Err(ParseError::new(
                if mode == Mode::Stream {
                    ErrorKind::Incomplete { needed: None }
                } else {
                    ErrorKind::Empty
                },
                0,
            ));
        }
        // The header section ends at the first empty line; CRLF CRLF is the common case.
        let (hdr_end, body_start) = match crlf_crlf().find(&buf[start..]) {
            Some(i) => (start + i + 2, start + i + 4),
            None => match find_header_end(buf, start) {
                Some(x) => x,
                // A datagram whose header section runs to its end is tolerated.
                None if mode == Mode::Datagram && buf.last() == Some(&b'\n') => (buf.len(), buf.len()),
                None if mode == Mode::Datagram => {
                    return Err(ParseError::new(ErrorKind::UnterminatedHeaders, buf.len()));
                }
                None if buf.len() > MAX_HEADER_BYTES => {
                    return Err(ParseError::new(ErrorKind::UnterminatedHeaders, start));
                }
                None => return Err(ParseError::new(ErrorKind::Incomplete { needed: None }, buf.len())),
            },
        };
        let text = std::str::from_utf8(&buf[..hdr_end])
            .map_err(|e| ParseError::new(ErrorKind::BadUtf8, e.valid_up_to()))?;
        let tb = text.as_bytes();
        let first_nl = memchr(b'\n', &tb[start..]).map_or(hdr_end, |n| start + n);
        let mut sl_end = first_nl;
        if sl_end > start && tb[sl_end - 1] == b'\r' {
            sl_end -= 1;
        }
        let sl = &text[start..sl_end];
        let start_line = parse_start_line(sl, start)?;

        let mut headers: SmallVec<[RawHeader<'a>; 20]> = SmallVec::new();
        let mut core = Core::default();
        let early_end = header_lines(tb, (first_nl + 1).min(hdr_end), |sp| {
            let name_text = &text[sp.start..sp.name_end];
            // A known name is a token already; only unknown ones need the character check.
            let name = HeaderName::from_name(name_text);
            if name == HeaderName::Other && !name_text.bytes().all(is_token_char) {
                return Err(ParseError::new(ErrorKind::BadHeaderLine, sp.start));
            }
            let value = trim_lws(&text[sp.value.0..sp.value.1]);
            add_header(&mut headers, &mut core, name, name_text, value, sp.start)
        })?;
        // An empty line made of a bare LF before the CRLF CRLF ends the headers earlier.
        let body_start = match early_end {
            Some((_, b)) => b,
            None => body_start,
        };
        Self::finish(
            buf,
            mode,
            start,
            sl,
            start_line,
            &mut headers,
            &mut core,
            body_start,
            &[],
        )
    }

    /// Checks that need the whole header section, then body framing. `headers` and `core` are
    /// taken by reference and moved out once, into the message: passed by value, each large
    /// value was copied once more on the way.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn finish(
        buf: &'a [u8],
        mode: Mode,
        start: usize,
        sl: &'a str,
        start_line: StartLine<&'a str>,
        headers: &mut SmallVec<[RawHeader<'a>; 20]>,
        core: &mut Core<'a>,
        body_start: usize,
        raw_head: &'a [u8],
    ) -> Result<Self, ParseError> {
        let missing = |n| ParseError::header(ErrorKind::MissingHeader, n, start);
        let via = core.via.take().ok_or_else(|| missing(HeaderName::Via))?;
        let from = core.from.take().ok_or_else(|| missing(HeaderName::From))?;
        let to = core.to.take().ok_or_else(|| missing(HeaderName::To))?;
        let call_id = core.call_id.ok_or_else(|| missing(HeaderName::CallId))?;
        let cseq = core.cseq.take().ok_or_else(|| missing(HeaderName::CSeq))?;
        if let StartLine::Request(r) = &start_line
            && !r.method.same(&cseq.method)
        {
            let at = headers
                .iter()
                .find(|h| h.name == HeaderName::CSeq)
                .map_or(start, |h| h.offset as usize);
            return Err(ParseError::header(
                ErrorKind::CSeqMethodMismatch,
                HeaderName::CSeq,
                at,
            ));
        }

        let avail = buf.len() - body_start;
        let (body_len, len) = match (core.content_length, mode) {
            (Some(cl), _) => {
                let cl = cl as usize;
                if cl > avail {
                    if mode == Mode::Stream {
                        return Err(ParseError::new(
                            ErrorKind::Incomplete {
                                needed: Some(body_start + cl),
                            },
                            buf.len(),
                        ));
                    }
                    return Err(ParseError::header(
                        ErrorKind::BodyTooShort {
                            declared: cl,
                            available: avail,
                        },
                        HeaderName::ContentLength,
                        body_start,
                    ));
                }
                (cl, body_start + cl)
            }
            (None, Mode::Datagram) => (avail, buf.len()),
            (None, Mode::Stream) => (0, body_start),
        };
        Ok(SipMsg {
            start: start_line,
            start_raw: sl,
            headers: std::mem::take(headers),
            body: &buf[body_start..body_start + body_len],
            via,
            from,
            to,
            call_id,
            cseq,
            max_forwards: core.max_forwards,
            content_length: core.content_length,
            content_type: core.content_type.take(),
            len,
            raw_head,
        })
    }
}

/// Appends a header line (its value trimmed) to `headers`, after [`interpret`] for the headers
/// it checks; the fast and the general parse share it.
#[inline(always)]
fn add_header<'a>(
    headers: &mut SmallVec<[RawHeader<'a>; 20]>,
    core: &mut Core<'a>,
    name: HeaderName,
    name_text: &'a str,
    value: &'a str,
    at: usize,
) -> Result<(), ParseError> {
    let h = RawHeader {
        name,
        name_text,
        value,
        offset: at as u32,
    };
    if interpreted(name) {
        interpret(core, &h, at)?;
    }
    headers.push(h);
    Ok(())
}

/// Headers [`interpret`] checks or records; for any other it does nothing.
#[inline(always)]
fn interpreted(n: HeaderName) -> bool {
    single_bit(n) != 0
        || matches!(
            n,
            HeaderName::Via | HeaderName::Contact | HeaderName::Route | HeaderName::RecordRoute
        )
}

/// Validates and records the headers the stack interprets.
fn interpret<'a>(core: &mut Core<'a>, h: &RawHeader<'a>, at: usize) -> Result<(), ParseError> {
    let name = h.name;
    let bit = single_bit(name);
    if bit != 0 {
        if core.seen & bit != 0 {
            return Err(ParseError::header(ErrorKind::DuplicateHeader, name, at));
        }
        core.seen |= bit;
    }
    let bad = |e: ValueError| ParseError::header(ErrorKind::BadHeader(e), name, at);
    let v = h.value;
    match name {
        // A value the one-pass parsers take is a single list item: no comma split needed.
        HeaderName::Via if let Some(via) = plain_via(v) => {
            core.via.get_or_insert(via);
        }
        HeaderName::Via => {
            for item in CommaSplit::new(v) {
                if item.is_empty() {
                    return Err(bad(ValueError::EmptyItem));
                }
                // The whole value has been offered to the one-pass parser already.
                let via = if item.len() == v.len() {
                    Via::parse_general(item)
                } else {
                    Via::parse(item)
                }
                .map_err(bad)?;
                if core.via.is_none() {
                    core.via = Some(via);
                }
            }
        }
        // `v` has no LWS at its ends: `NameAddr::parse` without its trim.
        HeaderName::From => {
            core.from = Some(match plain_name_addr(v) {
                Some(na) => na,
                None => NameAddr::parse_general(v).map_err(bad)?,
            })
        }
        HeaderName::To => {
            core.to = Some(match plain_name_addr(v) {
                Some(na) => na,
                None => NameAddr::parse_general(v).map_err(bad)?,
            })
        }
        HeaderName::CallId => core.call_id = Some(check_call_id(v).map_err(bad)?),
        HeaderName::CSeq => core.cseq = Some(CSeq::parse(v).map_err(bad)?),
        HeaderName::MaxForwards => core.max_forwards = Some(parse_scalar(v).map_err(bad)?),
        HeaderName::ContentLength => {
            core.content_length =
                Some(parse_scalar(v).map_err(|_| ParseError::header(ErrorKind::BadContentLength, name, at))?)
        }
        HeaderName::ContentType => core.content_type = Some(ContentType::parse(v).map_err(bad)?),
        HeaderName::Contact if v == "*" => {}
        HeaderName::Contact | HeaderName::Route | HeaderName::RecordRoute if plain_name_addr(v).is_some() => {
        }
        HeaderName::Contact | HeaderName::Route | HeaderName::RecordRoute => {
            for item in CommaSplit::new(v) {
                if item.is_empty() {
                    return Err(bad(ValueError::EmptyItem));
                }
                if item.len() == v.len() {
                    NameAddr::parse_general(item)
                } else {
                    NameAddr::parse(item)
                }
                .map_err(bad)?;
            }
        }
        _ => {}
    }
    Ok(())
}

impl<'a> SipMsg<'a> {
    pub fn start_line(&self) -> &StartLine<&'a str> {
        &self.start
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    /// Request method (`None` for responses).
    pub fn method(&self) -> Option<&Method<&'a str>> {
        match &self.start {
            StartLine::Request(r) => Some(&r.method),
            StartLine::Response(_) => None,
        }
    }

    /// Request-URI (`None` for responses).
    pub fn request_uri(&self) -> Option<&Uri<&'a str>> {
        match &self.start {
            StartLine::Request(r) => Some(&r.uri),
            StartLine::Response(_) => None,
        }
    }

    /// Status code (`None` for requests).
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response(s) => Some(s.code),
            StartLine::Request(_) => None,
        }
    }

    /// Reason phrase (`None` for requests).
    pub fn reason(&self) -> Option<&'a str> {
        match &self.start {
            StartLine::Response(s) => Some(s.reason),
            StartLine::Request(_) => None,
        }
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> &Via<&'a str> {
        &self.via
    }

    /// Every Via value, top first, across all Via header lines.
    pub fn vias(&self) -> impl Iterator<Item = Via<&'a str>> + '_ {
        self.values(HeaderName::Via).filter_map(|v| Via::parse(v).ok())
    }

    pub fn from(&self) -> &NameAddr<&'a str> {
        &self.from
    }

    pub fn to(&self) -> &NameAddr<&'a str> {
        &self.to
    }

    pub fn call_id(&self) -> &'a str {
        self.call_id
    }

    pub fn cseq(&self) -> &CSeq<&'a str> {
        &self.cseq
    }

    pub fn max_forwards(&self) -> Option<u32> {
        self.max_forwards
    }

    /// Content-Length as declared (`None` when absent).
    pub fn content_length(&self) -> Option<u32> {
        self.content_length
    }

    pub fn content_type(&self) -> Option<&ContentType<&'a str>> {
        self.content_type.as_ref()
    }

    /// Contact values (empty for `Contact: *`, see [`SipMsg::contact_is_star`]).
    pub fn contacts(&self) -> impl Iterator<Item = NameAddr<&'a str>> + '_ {
        self.values(HeaderName::Contact)
            .filter_map(|v| NameAddr::parse(v).ok())
    }

    /// `Contact: *` (REGISTER removing all bindings).
    pub fn contact_is_star(&self) -> bool {
        self.headers
            .iter()
            .any(|h| h.name == HeaderName::Contact && h.value == "*")
    }

    /// Route values in order.
    pub fn routes(&self) -> impl Iterator<Item = NameAddr<&'a str>> + '_ {
        self.values(HeaderName::Route)
            .filter_map(|v| NameAddr::parse(v).ok())
    }

    /// Record-Route values in order.
    pub fn record_routes(&self) -> impl Iterator<Item = NameAddr<&'a str>> + '_ {
        self.values(HeaderName::RecordRoute)
            .filter_map(|v| NameAddr::parse(v).ok())
    }

    /// Expires header value.
    pub fn expires(&self) -> Option<u32> {
        self.header_by(HeaderName::Expires)
            .and_then(|v| parse_scalar(v).ok())
    }

    /// The body (exactly Content-Length bytes when declared).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// All header fields in order.
    pub fn headers(&self) -> &[RawHeader<'a>] {
        &self.headers
    }

    /// First value of a header by name (case-insensitive, compact forms accepted), e.g.
    /// `msg.header("Subject")`, `msg.header("s")`, `msg.header("X-Custom")`.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers_named(name).next()
    }

    /// Every header line called `name`, in order (whole field values, not comma-split).
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        let known = HeaderName::from_name(name);
        self.headers.iter().filter_map(move |h| {
            let hit = match known {
                HeaderName::Other => h.name == HeaderName::Other && h.name_text.eq_ignore_ascii_case(name),
                k => h.name == k,
            };
            hit.then_some(h.value)
        })
    }

    /// First field value of a known header.
    pub fn header_by(&self, name: HeaderName) -> Option<&'a str> {
        self.headers.iter().find(|h| h.name == name).map(|h| h.value)
    }

    /// Every comma-separated value of a known header across all its lines.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .flat_map(|h| CommaSplit::new(h.value))
            .filter(|v| !v.is_empty())
    }

    /// Comma-separated tokens of a header such as Require, Supported, Allow.
    pub fn tokens(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.values(name)
    }

    /// Writes the message as received, without copying it into an owned [`Message`]: raw start
    /// line, header fields in order with their original names and values (folds included),
    /// and the body. A Content-Length header is added when the datagram had none.
    ///
    /// [`Message`]: super::build::Message
    pub fn emit(&self, out: &mut Vec<u8>) {
        let head = if self.raw_head.is_empty() {
            self.start_raw.len()
                + self
                    .headers
                    .iter()
                    .map(|h| h.name_text.len() + h.value.len() + 4)
                    .sum::<usize>()
        } else {
            self.raw_head.len()
        };
        let need = head + self.body.len() + 32;
        out.reserve(need);
        if !self.raw_head.is_empty() {
            // Received in the form written below: copy it in one piece.
            out.extend_from_slice(self.raw_head);
        } else {
            out.extend_from_slice(self.start_raw.as_bytes());
            out.extend_from_slice(b"\r\n");
            for h in &self.headers {
                out.extend_from_slice(h.name_text.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(h.value.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        if self.content_length.is_none() {
            out.extend_from_slice(b"Content-Length: ");
            let n = itoa_buf(self.body.len());
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body);
    }

    /// Bytes the message occupied in its buffer (stream framing), or the bytes used from a
    /// datagram (excluding discarded trailing octets).
    pub fn wire_len(&self) -> usize {
        self.len
    }
}

/// Small decimal formatter that avoids `fmt` machinery on the emit path.
struct Itoa {
    buf: [u8; 20],
    start: usize,
}

impl Itoa {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: usize) -> Itoa {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Itoa { buf, start: i }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything a caller can observe of a parse.
    fn observe(r: &Result<SipMsg<'_>, ParseError>) -> String {
        match r {
            Err(e) => format!("{e:?}"),
            Ok(m) => {
                let mut out = Vec::new();
                m.emit(&mut out);
                format!(
                    "{:?} {:?} {:?} {} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?}",
                    m.start_line(),
                    m.headers(),
                    m.body(),
                    m.wire_len(),
                    m.top_via(),
                    m.from(),
                    m.to(),
                    m.call_id(),
                    m.cseq(),
                    m.max_forwards(),
                    m.content_length(),
                    m.content_type(),
                    out
                )
            }
        }
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut v = vec![
            b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\n\
Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: \"A\" <sip:a@example.com>;tag=1\r\n\
Call-ID: x@y\r\nCSeq: 1 INVITE\r\nContact: <sip:a@192.0.2.1;transport=udp>\r\n\
Route: <sip:p.example.com;lr>, <sip:q.example.com;lr>\r\nContent-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\r\n"
                .to_vec(),
            b"SIP/2.0 200 OK\r\nv: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK2;received=192.0.2.9\r\n\
t: <sip:b@example.com>;tag=2\r\nf: <sip:a@example.com>;tag=1\r\ni: abc\r\nCSeq: 2 BYE\r\n\
m: <sip:b@[2001:db8::2]>;expires=60;q=0.5\r\nl: 0\r\n\r\n"
                .to_vec(),
        ];
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors");
        for sub in ["rfc4475", "rfc5118"] {
            if let Ok(rd) = std::fs::read_dir(format!("{dir}/{sub}")) {
                for e in rd.flatten() {
                    if e.path().extension().is_some_and(|x| x == "dat")
                        && let Ok(b) = std::fs::read(e.path())
                    {
                        v.push(b);
                    }
                }
            }
        }
        v
    }

    /// The newline and non-ASCII masks of a chunk (SIMD where available, 64-bit words otherwise)
    /// and the newline walk over a buffer agree with a plain byte search.
    #[test]
    fn newline_scan_agrees_with_a_plain_search() {
        let mut m = crate::sip::wire::mutate::Mutator::new(0x9e37_79b9_7f4a_7c15);
        for round in 0..4000 {
            let len = (m.next() % 140) as usize;
            let b: Vec<u8> = (0..len)
                .map(|_| match m.next() % 5 {
                    0 => b'\n',
                    1 => b'\r',
                    2 => (m.next() as u8) | 0x80,
                    _ => m.next() as u8,
                })
                .collect();
            let mut c = [0u8; CHUNK];
            let n = b.len().min(CHUNK);
            c[..n].copy_from_slice(&b[..n]);
            let nl = (0..CHUNK)
                .filter(|&k| c[k] == b'\n')
                .fold(0u32, |a, k| a | 1 << k);
            let high = (0..CHUNK).filter(|&k| c[k] >= 0x80).fold(0u32, |a, k| a | 1 << k);
            assert_eq!(chunk_masks(&c), (nl, high), "{c:?}");
            assert_eq!(chunk_masks_swar(&c), (nl, high), "{c:?}");
            let from = if b.is_empty() { 0 } else { round % b.len() };
            let mut it = Newlines::new(&b, from);
            let expect: Vec<usize> = (from..b.len()).filter(|&i| b[i] == b'\n').collect();
            for &e in &expect {
                assert_eq!(it.next_nl(), Some(e), "{b:?} from {from}");
                assert_eq!(
                    it.ascii_through(e),
                    b[from..=e].is_ascii(),
                    "{b:?} from {from} to {e}"
                );
            }
            assert_eq!(it.next_nl(), None, "{b:?} from {from}");
        }
    }

    /// The start-line parser's shortcuts for `SIP/2.0 ` and ` SIP/2.0` give what searching for
    /// the first and last space gives.
    #[test]
    fn start_line_shortcuts_agree_with_the_space_search() {
        fn plain(line: &str, at: usize) -> Result<StartLine<&str>, ParseError> {
            let b = line.as_bytes();
            if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"SIP/") {
                let sp = memchr(b' ', b).ok_or(ParseError::new(ErrorKind::BadStartLine, at))?;
                check_version(&line[..sp], at)?;
                let rest = &line[sp + 1..];
                let rb = rest.as_bytes();
                let bad = ParseError::new(ErrorKind::BadStatusCode, at + sp + 1);
                if rb.len() < 3
                    || !rb[..3].iter().all(u8::is_ascii_digit)
                    || rb.get(3).is_some_and(|&c| c != b' ')
                {
                    return Err(bad);
                }
                let code = rest[..3].parse::<u16>().map_err(|_| bad)?;
                if !(100..=699).contains(&code) {
                    return Err(bad);
                }
                let reason = rest.get(4..).unwrap_or("");
                return Ok(StartLine::Response(StatusLine { code, reason }));
            }
            let sp1 = memchr(b' ', b).ok_or(ParseError::new(ErrorKind::BadStartLine, at))?;
            let sp2 = memchr::memrchr(b' ', b).unwrap_or(sp1);
            if sp1 == sp2 {
                return Err(ParseError::new(ErrorKind::BadStartLine, at));
            }
            let method =
                Method::parse(&line[..sp1]).map_err(|_| ParseError::new(ErrorKind::BadMethod, at))?;
            let uri_s = &line[sp1 + 1..sp2];
            if uri_s.is_empty() || uri_s.bytes().any(|c| c == b' ' || c == b'\t') {
                return Err(ParseError::new(ErrorKind::BadStartLine, at + sp1 + 1));
            }
            check_version(&line[sp2 + 1..], at + sp2 + 1)?;
            let uri =
                Uri::parse(uri_s).map_err(|e| ParseError::new(ErrorKind::BadRequestUri(e), at + sp1 + 1))?;
            if matches!(&uri, Uri::Sip(u) if u.headers.is_some()) {
                return Err(ParseError::new(ErrorKind::RequestUriHeaders, at + sp1 + 1));
            }
            Ok(StartLine::Request(RequestLine { method, uri }))
        }
        let bases: [&[u8]; 5] = [
            b"SIP/2.0 200 OK",
            b"SIP/2.0 180 Ringing",
            b"INVITE sip:bob@example.com SIP/2.0",
            b"REGISTER sip:example.com SIP/2.0",
            b"OPTIONS sip:a@b SIP/2.0",
        ];
        let mut m = crate::sip::wire::mutate::Mutator::new(0x2d35_8dcc_aa6c_78a5);
        let mut ok = 0;
        for base in bases {
            for round in 0..3000 {
                let mut b = base.to_vec();
                if round > 0 {
                    m.mutate(&mut b, b" \tSIP/2.0169:@a");
                }
                let Ok(line) = std::str::from_utf8(&b) else {
                    continue;
                };
                let (f, p) = (parse_start_line(line, 3), plain(line, 3));
                ok += usize::from(p.is_ok());
                assert_eq!(format!("{f:?}"), format!("{p:?}"), "{line:?}");
            }
        }
        assert!(ok > 1000, "{ok}");
    }

    /// The fast path either declines or reaches exactly what the general path reaches.
    #[test]
    fn fast_path_agrees_with_general_path() {
        const BYTES: &[u8] = b" \t:\r\n;\"<>a@,=/%\xff";
        let mut m = crate::sip::wire::mutate::Mutator::new(0x2545_f491_4f6c_dd1d);
        let (mut fast, mut total) = (0, 0);
        for base in samples() {
            for round in 0..300 {
                let mut b = base.clone();
                if round > 0 {
                    m.mutate(&mut b, BYTES);
                }
                for mode in [Mode::Datagram, Mode::Stream] {
                    total += 1;
                    let declined = std::cell::Cell::new(false);
                    let f = SipMsg::parse_fast(&b, mode, || {
                        declined.set(true);
                        Err(ParseError::new(ErrorKind::Empty, 0))
                    });
                    if !declined.get() {
                        fast += 1;
                        let g = SipMsg::parse_general(&b, mode);
                        assert_eq!(observe(&f), observe(&g), "{:?}", String::from_utf8_lossy(&b));
                    }
                }
            }
        }
        assert!(fast * 4 > total, "{fast} of {total}");
    }
}
