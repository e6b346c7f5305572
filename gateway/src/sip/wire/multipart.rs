//! MIME multipart bodies (RFC 2046 5.1): parsing by boundary and emitting, as used for SIP-T
//! (`application/sdp` + `application/ISUP`, RFC 3204) and signed/encrypted bodies.

use std::fmt;

use memchr::memmem;

use super::text::{is_token, trim_lws};

/// Why a multipart body was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    /// Boundary empty, longer than 70 characters, or with illegal characters.
    BadBoundary,
    /// No `--boundary` delimiter line in the body.
    NoDelimiter,
    /// No closing `--boundary--` delimiter.
    Unterminated,
    /// A part header line without `:`, or a part whose header section never ends.
    BadPartHeader { part: usize },
    /// Header section of a part is not UTF-8.
    BadUtf8 { part: usize },
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::BadBoundary => f.write_str("bad multipart boundary"),
            MultipartError::NoDelimiter => f.write_str("multipart delimiter not found"),
            MultipartError::Unterminated => f.write_str("multipart close delimiter missing"),
            MultipartError::BadPartHeader { part } => write!(f, "bad header in multipart part {part}"),
            MultipartError::BadUtf8 { part } => write!(f, "non-UTF-8 header in multipart part {part}"),
        }
    }
}

impl std::error::Error for MultipartError {}

/// `bcharsnospace` / space per RFC 2046 (boundary characters).
fn is_bchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'\'' | b'(' | b')' | b'+' | b'_' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?' | b' '
        )
}

/// Checks a boundary string (1-70 bchars, not ending in space).
pub fn check_boundary(b: &str) -> Result<(), MultipartError> {
    if b.is_empty() || b.len() > 70 || b.ends_with(' ') || !b.bytes().all(is_bchar) {
        Err(MultipartError::BadBoundary)
    } else {
        Ok(())
    }
}

/// One body part: its header fields and content (borrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// Raw header section (without the final empty line); see [`Part::headers`].
    pub header_block: &'a str,
    pub body: &'a [u8],
}

impl<'a> Part<'a> {
    /// Header fields as `(name, value)`, folded lines joined.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        part_headers(self.header_block)
    }

    /// First header called `name` (case-insensitive; `c` is not expanded here since MIME
    /// part headers have no compact forms).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Content-Type of the part (`text/plain` per RFC 2046 when absent).
    pub fn content_type(&self) -> &'a str {
        self.header("Content-Type").unwrap_or("text/plain")
    }
}

/// Splits a part's header section into `(name, value)` fields; continuation lines (starting
/// with SP/HT) belong to the previous field. [`check_part_headers`] has accepted the block.
fn part_headers(block: &str) -> impl Iterator<Item = (&str, &str)> {
    let b = block.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < b.len() {
            let start = pos;
            // A field runs until a line break not followed by whitespace.
            let mut end = start;
            loop {
                match memchr::memchr(b'\n', &b[end..]) {
                    Some(n) => {
                        end += n + 1;
                        if end < b.len() && matches!(b[end], b' ' | b'\t') {
                            continue;
                        }
                        break;
                    }
                    None => {
                        end = b.len();
                        break;
                    }
                }
            }
            pos = end;
            let line = &block[start..end];
            if let Some((n, v)) = line.split_once(':') {
                return Some((trim_lws(n), trim_lws(v)));
            }
        }
        None
    })
}

/// Every line of a part header section is `token ":" value` or a continuation (SP/HT first),
/// lines end in CRLF or LF, and there are no empty lines.
fn check_part_headers(block: &str) -> bool {
    let mut first = true;
    for line in block.split('\n') {
        let l = line.strip_suffix('\r').unwrap_or(line);
        if l.contains('\r') {
            return false;
        }
        if l.starts_with([' ', '\t']) {
            if first {
                return false;
            }
        } else {
            match l.split_once(':') {
                Some((n, _)) if is_token(n.trim_end_matches([' ', '\t'])) => {}
                _ => return false,
            }
        }
        first = false;
    }
    true
}

/// A header field an emitter may write: token name, value with folds only as CRLF + SP/HT.
fn emittable_header(name: &str, value: &str) -> bool {
    if !is_token(name) {
        return false;
    }
    let v = value.as_bytes();
    v.iter().enumerate().all(|(i, &c)| match c {
        b'\r' => v.get(i + 1) == Some(&b'\n') && matches!(v.get(i + 2), Some(b' ' | b'\t')),
        b'\n' => i > 0 && v[i - 1] == b'\r',
        _ => true,
    }) && value == trim_lws(value)
}

/// A parsed multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart<'a> {
    /// Text before the first delimiter (ignored by receivers).
    pub preamble: &'a [u8],
    pub parts: Vec<Part<'a>>,
}

/// Parses a multipart body with the given boundary (from Content-Type `boundary=`). Part bodies
/// may be binary: delimiters are found as `CRLF--boundary` byte strings, never by line scanning.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Multipart<'a>, MultipartError> {
    check_boundary(boundary)?;
    let mut delim = Vec::with_capacity(boundary.len() + 4);
    delim.extend_from_slice(b"\r\n--");
    delim.extend_from_slice(boundary.as_bytes());
    let finder = memmem::Finder::new(&delim);
    // The first delimiter may start the body without a preceding CRLF.
    let (preamble, mut pos) = if body.starts_with(&delim[2..]) {
        (&body[..0], delim.len() - 2)
    } else {
        let i = finder.find(body).ok_or(MultipartError::NoDelimiter)?;
        (&body[..i], i + delim.len())
    };
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(Multipart { preamble, parts });
        }
        // transport-padding then CRLF.
        while pos < body.len() && matches!(body[pos], b' ' | b'\t') {
            pos += 1;
        }
        if body[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if body[pos..].starts_with(b"\n") {
            pos += 1;
        } else {
            return Err(MultipartError::Unterminated);
        }
        let idx = parts.len();
        let next = finder.find(&body[pos..]).ok_or(MultipartError::Unterminated)? + pos;
        let content = &body[pos..next];
        // Part headers end at the first empty line; a part may have none.
        let (hdr, pbody) = if content.starts_with(b"\r\n") {
            (&content[..0], &content[2..])
        } else if let Some(i) = memmem::find(content, b"\r\n\r\n") {
            (&content[..i], &content[i + 4..])
        } else {
            return Err(MultipartError::BadPartHeader { part: idx });
        };
        let header_block = std::str::from_utf8(hdr).map_err(|_| MultipartError::BadUtf8 { part: idx })?;
        if !header_block.is_empty() && !check_part_headers(header_block) {
            return Err(MultipartError::BadPartHeader { part: idx });
        }
        parts.push(Part {
            header_block,
            body: pbody,
        });
        pos = next + delim.len();
    }
}

/// An owned body part for emitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPart {
    /// Header fields, e.g. `("Content-Type", "application/ISUP;version=itu-t92+")`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OwnedPart {
    /// A part with just a Content-Type.
    pub fn new(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        OwnedPart {
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }
}

impl Part<'_> {
    pub fn to_owned_part(&self) -> OwnedPart {
        OwnedPart {
            headers: self
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: self.body.to_vec(),
        }
    }
}

/// Emits a multipart body; returns an error if the boundary is invalid or occurs inside a
/// part (choose another boundary then, e.g. from [`choose_boundary`]), or if a part header is
/// not `token: value` (folds only as CRLF + SP/HT).
pub fn emit(parts: &[OwnedPart], boundary: &str) -> Result<Vec<u8>, MultipartError> {
    check_boundary(boundary)?;
    let mut delim = Vec::with_capacity(boundary.len() + 4);
    delim.extend_from_slice(b"\r\n--");
    delim.extend_from_slice(boundary.as_bytes());
    let finder = memmem::Finder::new(&delim);
    let mut out = Vec::new();
    for (idx, p) in parts.iter().enumerate() {
        if !p.headers.iter().all(|(n, v)| emittable_header(n, v)) {
            return Err(MultipartError::BadPartHeader { part: idx });
        }
        let start = out.len();
        out.extend_from_slice(&delim[2..]);
        out.extend_from_slice(b"\r\n");
        for (n, v) in &p.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.body);
        // The delimiter must not occur in the part as written (headers or body), or a receiver
        // would end the part there.
        if finder.find(&out[start + 2..]).is_some() {
            return Err(MultipartError::BadBoundary);
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&delim[2..]);
    out.extend_from_slice(b"--\r\n");
    Ok(out)
}

/// A boundary that does not occur in any of `parts`, derived from `seed` (the caller's random
/// source keeps this module sans-IO).
pub fn choose_boundary(parts: &[OwnedPart], mut seed: u64) -> String {
    loop {
        let b = format!("sip-boundary-{seed:016x}");
        let needle = format!("--{b}");
        if !parts
            .iter()
            .any(|p| memmem::find(&p.body, needle.as_bytes()).is_some())
        {
            return b;
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
}
