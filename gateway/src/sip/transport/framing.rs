//! Framing of SIP messages on byte streams (RFC 3261 18.3) with RFC 5626 keep-alives.
//!
//! On a stream, Content-Length is mandatory and tells where a message ends. Between messages
//! a peer may send a double CRLF (a keep-alive ping, 5626 3.5.1), to be answered with a single
//! CRLF (the pong). A lone CRLF is a pong when we pinged; otherwise we wait for the next bytes
//! to tell a split ping from a pong.

/// One item taken from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamItem {
    /// One complete SIP message (header section and body).
    Message(Vec<u8>),
    /// Double CRLF: answer with [`PONG`].
    Ping,
    /// Single CRLF after our ping.
    Pong,
}

/// The keep-alive ping (RFC 5626 3.5.1).
pub const PING: &[u8] = b"\r\n\r\n";
/// The keep-alive pong.
pub const PONG: &[u8] = b"\r\n";

/// Why a stream cannot be framed; the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// The header section exceeds the limit without its terminating empty line.
    HeaderTooLarge { limit: usize },
    /// The header section has no Content-Length (mandatory on streams, 18.3).
    MissingContentLength,
    /// Content-Length is not a number, or appears twice with different values.
    BadContentLength,
    /// The message (headers plus announced body) exceeds the limit.
    MessageTooLarge { len: usize, limit: usize },
}

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FramingError::HeaderTooLarge { limit } => write!(f, "header section over {limit} bytes"),
            FramingError::MissingContentLength => f.write_str("no Content-Length on a stream"),
            FramingError::BadContentLength => f.write_str("invalid Content-Length"),
            FramingError::MessageTooLarge { len, limit } => {
                write!(f, "message of {len} bytes over the {limit} byte limit")
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// Accumulates stream bytes and cuts them into [`StreamItem`]s. Memory is bounded by
/// `max_message` (plus one read).
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max_message: usize,
    ping_outstanding: bool,
}

impl StreamFramer {
    pub fn new(max_message: usize) -> Self {
        StreamFramer {
            buf: Vec::new(),
            max_message,
            ping_outstanding: false,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes waiting for the rest of their message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Records that we sent a ping, so that a lone CRLF is read as its pong.
    pub fn ping_sent(&mut self) {
        self.ping_outstanding = true;
    }

    /// Takes the next complete item, `Ok(None)` if more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<StreamItem>, FramingError> {
        if self.buf.starts_with(b"\r\n") {
            if self.buf.starts_with(PING) {
                self.buf.drain(..4);
                return Ok(Some(StreamItem::Ping));
            }
            let more = self.buf.get(2).copied();
            let split_ping = matches!(more, None | Some(b'\r')) && self.buf.len() < 4;
            if !split_ping || self.ping_outstanding {
                self.buf.drain(..2);
                self.ping_outstanding = false;
                return Ok(Some(StreamItem::Pong));
            }
            return Ok(None);
        }
        // Stray bare LFs between messages are skipped (7.5 tolerance).
        let skip = self.buf.iter().take_while(|&&c| c == b'\n').count();
        if skip > 0 {
            self.buf.drain(..skip);
        }
        let Some(body_start) = find_header_end(&self.buf) else {
            if self.buf.len() > self.max_message {
                return Err(FramingError::HeaderTooLarge {
                    limit: self.max_message,
                });
            }
            return Ok(None);
        };
        let cl = content_length(&self.buf[..body_start])?.ok_or(FramingError::MissingContentLength)?;
        let total = body_start.checked_add(cl).ok_or(FramingError::BadContentLength)?;
        if total > self.max_message {
            return Err(FramingError::MessageTooLarge {
                len: total,
                limit: self.max_message,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let msg = std::mem::replace(&mut self.buf, rest);
        Ok(Some(StreamItem::Message(msg)))
    }
}

/// Offset of the body: just after the first empty line (CRLF CRLF, or bare LF LF).
fn find_header_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + p;
        match b.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if b.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            Some(_) => i = nl + 1,
            None => return None,
        }
    }
    None
}

/// The Content-Length (or compact `l`) value of a header section, folded lines joined.
fn content_length(head: &[u8]) -> Result<Option<usize>, FramingError> {
    let text = String::from_utf8_lossy(head);
    let mut found: Option<usize> = None;
    let mut lines = text
        .split('\n')
        .skip(1)
        .map(|l| l.trim_end_matches('\r'))
        .peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if !(name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")) {
            continue;
        }
        let mut value = value.trim().to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with([' ', '\t']) {
                value.push_str(next.trim());
                lines.next();
            } else {
                break;
            }
        }
        if value.is_empty() || value.len() > 9 || !value.bytes().all(|c| c.is_ascii_digit()) {
            return Err(FramingError::BadContentLength);
        }
        let n: usize = value.parse().map_err(|_| FramingError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(FramingError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}
