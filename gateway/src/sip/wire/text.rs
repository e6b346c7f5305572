//! Character classes and lexical helpers shared by the wire parsers (RFC 3261 section 25.1).

use std::borrow::Cow;

/// LWS characters: after header unfolding a folded line is CRLF followed by SP/HT, so any CR or
/// LF inside a header value belongs to folding and counts as whitespace.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims LWS at both ends.
#[inline]
pub fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && is_lws(b[start]) {
        start += 1;
    }
    while end > start && is_lws(b[end - 1]) {
        end -= 1;
    }
    &s[start..end]
}

#[inline]
pub(crate) fn trim_lws_start(s: &str) -> &str {
    let b = s.as_bytes();
    let mut start = 0;
    while start < b.len() && is_lws(b[start]) {
        start += 1;
    }
    &s[start..]
}

/// Index of the first byte at or after `i` that `ok` rejects, or `b.len()` (`i` itself when it
/// is past the end): `while i < b.len() && ok(b[i]) { i += 1 }`, four bytes per step. The
/// one-pass parsers scan short runs, where the bookkeeping of a byte-at-a-time loop costs as
/// much as the test itself.
#[inline(always)]
pub(crate) fn skip_while(b: &[u8], mut i: usize, ok: impl Fn(u8) -> bool) -> usize {
    while let Some(w) = b.get(i..).and_then(<[u8]>::first_chunk::<4>) {
        if !ok(w[0]) {
            return i;
        }
        if !ok(w[1]) {
            return i + 1;
        }
        if !ok(w[2]) {
            return i + 2;
        }
        if !ok(w[3]) {
            return i + 3;
        }
        i += 4;
    }
    while i < b.len() && ok(b[i]) {
        i += 1;
    }
    i
}

/// `token` characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    static TABLE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let c = i as u8;
            t[i] = c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                );
            i += 1;
        }
        t
    };
    TABLE[b as usize]
}

/// True when `s` is a non-empty `token`.
#[inline]
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && skip_while(s.as_bytes(), 0, is_token_char) == s.len()
}

/// Builds a 256-entry membership table: `unreserved` (when `unres`) plus the bytes of `extra`.
pub(crate) const fn class_table(unres: bool, extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = unres
            && (c.is_ascii_alphanumeric()
                || matches!(c, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'));
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
}

/// `reserved` = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ",".
#[inline]
pub(crate) fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
    )
}

#[inline]
fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks that every byte of `s` is either allowed by `ok` or part of a valid `%HH` escape.
pub(crate) fn check_escaped(s: &str, ok: impl Fn(u8) -> bool) -> Result<(), usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            match (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) {
                (Some(_), Some(_)) => i += 3,
                _ => return Err(i),
            }
        } else if ok(c) {
            i += 1;
        } else {
            return Err(i);
        }
    }
    Ok(())
}

/// Decodes `%HH` escapes. Returns borrowed text when there is nothing to decode. The result is
/// bytes, not text: an escaped NUL (`%00`) must survive unescaping without truncating anything.
pub fn unescape(s: &str) -> Cow<'_, [u8]> {
    if !s.as_bytes().contains(&b'%') {
        return Cow::Borrowed(s.as_bytes());
    }
    Cow::Owned(Unescaped::new(s).map(|u| (u & 0xff) as u8).collect())
}

/// Iterates over the characters of a URI component after unescaping. A decoded character from
/// the `reserved` set is tagged (bit 8 set) because RFC 3261 19.1.4 makes only characters outside
/// `reserved` equivalent to their `%HH` form.
pub(crate) struct Unescaped<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Unescaped<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Unescaped {
            b: s.as_bytes(),
            i: 0,
        }
    }
}

impl Iterator for Unescaped<'_> {
    type Item = u16;
    #[inline]
    fn next(&mut self) -> Option<u16> {
        let c = *self.b.get(self.i)?;
        if c == b'%'
            && let (Some(h), Some(l)) = (
                self.b.get(self.i + 1).copied().and_then(hex_val),
                self.b.get(self.i + 2).copied().and_then(hex_val),
            )
        {
            self.i += 3;
            let v = (h << 4) | l;
            return Some(if is_reserved(v) {
                0x100 | v as u16
            } else {
                v as u16
            });
        }
        self.i += 1;
        Some(c as u16)
    }
}

/// Compares two URI components after unescaping (case-sensitive).
pub(crate) fn eq_unescaped(a: &str, b: &str) -> bool {
    Unescaped::new(a).eq(Unescaped::new(b))
}

/// Compares two URI components after unescaping, ignoring ASCII case.
pub(crate) fn eq_unescaped_nocase(a: &str, b: &str) -> bool {
    let low = |u: u16| {
        if u < 0x100 {
            (u as u8).to_ascii_lowercase() as u16
        } else {
            u
        }
    };
    Unescaped::new(a).map(low).eq(Unescaped::new(b).map(low))
}

/// Finds the end of a quoted string starting at `s[0] == '"'`; returns the index just past the
/// closing quote, or `None` when it is unterminated.
pub(crate) fn quoted_end(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Removes quoted-pair escapes from the inside of a quoted string.
pub fn unquote(inner: &str) -> Cow<'_, str> {
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Splits a header value on commas that are outside quoted strings and `<...>`; each item is
/// trimmed of LWS. Empty items are yielded so that callers can reject them.
#[derive(Clone)]
pub struct CommaSplit<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> CommaSplit<'a> {
    pub fn new(s: &'a str) -> Self {
        CommaSplit {
            s,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        let mut i = start;
        // Jump between the only bytes that matter: ',' '"' '<' (and '>' inside brackets).
        while let Some(k) = memchr::memchr3(b',', b'"', b'<', &b[i..]) {
            i += k;
            match b[i] {
                b'"' => match quoted_end(&b[i..]) {
                    Some(n) => i += n,
                    None => break,
                },
                b'<' => match memchr::memchr(b'>', &b[i..]) {
                    Some(n) => i += n + 1,
                    None => break,
                },
                _ => {
                    self.pos = i + 1;
                    return Some(trim_lws(&self.s[start..i]));
                }
            }
        }
        self.done = true;
        Some(trim_lws(&self.s[start..]))
    }
}

/// Position of the first `c` in `s` (a plain loop: SIP tokens are short).
#[inline]
pub(crate) fn find_byte(s: &str, c: u8) -> Option<usize> {
    s.bytes().position(|b| b == c)
}

/// Finds the first occurrence of `c` outside quoted strings.
pub(crate) fn find_unquoted(s: &str, c: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if x == c {
            return Some(i);
        }
        if x == b'"' {
            i += quoted_end(&b[i..])?;
            continue;
        }
        i += 1;
    }
    None
}

/// Parses a run of ASCII digits as `u32`; `None` on empty input, other characters or overflow.
#[inline]
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 + s.bytes().take_while(|&b| b == b'0').count() {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u64;
        if v > u32::MAX as u64 {
            return None;
        }
    }
    Some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four-at-a-time scan stops where the byte-at-a-time loop stops, from any start.
    #[test]
    fn skip_while_agrees_with_a_plain_loop() {
        const BYTES: &[u8] = b"ab.-:; \"\\\r\n\xff";
        for seed in 0..3000u64 {
            let len = (seed % 23) as usize;
            let s: String = crate::sip::wire::mutate::chars(seed, BYTES, len).collect();
            let b = s.as_bytes();
            for i in 0..=b.len() + 1 {
                let mut j = i;
                while j < b.len() && is_token_char(b[j]) {
                    j += 1;
                }
                assert_eq!(skip_while(b, i, is_token_char), j, "{s:?} from {i}");
            }
        }
    }
}
