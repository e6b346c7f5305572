//! URIs: `sip:`/`sips:` (RFC 3261 19.1), `tel:` (RFC 3966) and any other absolute URI kept opaque.
//!
//! Components are stored as they appear on the wire (still `%`-escaped); [`unescape`] decodes
//! them and [`SipUri::rfc_eq`] compares per RFC 3261 19.1.4.
//!
//! [`unescape`]: super::text::unescape

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::UriError;
use super::params::{Params, is_param_char};
use super::text::{self, check_escaped, eq_unescaped, eq_unescaped_nocase};

/// A host: domain name or IP literal. Domain names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host<S = String> {
    Domain(S),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl<S: AsRef<str>> Host<S> {
    pub fn to_owned_host(&self) -> Host<String> {
        match self {
            Host::Domain(d) => Host::Domain(d.as_ref().to_string()),
            Host::V4(a) => Host::V4(*a),
            Host::V6(a) => Host::V6(*a),
        }
    }

    /// The IP address for IP literals.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Domain names case-insensitively, IP literals by value.
    pub fn eq_host<T: AsRef<str>>(&self, other: &Host<T>) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => eq_unescaped_nocase(a.as_ref(), b.as_ref()),
            (Host::V4(a), Host::V4(b)) => a == b,
            (Host::V6(a), Host::V6(b)) => a == b,
            _ => false,
        }
    }
}

impl From<IpAddr> for Host<String> {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl<S: AsRef<str>> fmt::Display for Host<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d.as_ref()),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parses an IPv6 address, tolerating the three-colon form RFC 3261's ABNF admits
/// (`2001:db8:::192.0.2.1`, RFC 5118 4.10).
pub fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    let i = s.find(":::")?;
    if s.len() > 64 || s[i + 3..].contains("::") {
        return None;
    }
    let mut buf = [0u8; 64];
    let n = s.len() - 1;
    buf[..=i + 1].copy_from_slice(&s.as_bytes()[..=i + 1]);
    buf[i + 2..n].copy_from_slice(&s.as_bytes()[i + 3..]);
    std::str::from_utf8(&buf[..n]).ok()?.parse().ok()
}

/// Dotted-quad IPv4: four decimal octets of one to three digits, each at most 255 (leading
/// zeros accepted). `None` for anything else.
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let digit = |i: usize| b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d < 10);
    let mut oct = [0u8; 4];
    let mut i = 0;
    for (k, o) in oct.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        // One to three digits; a fourth is neither the dot nor the end checked next.
        let mut v = u32::from(digit(i)?);
        i += 1;
        if let Some(d) = digit(i) {
            v = v * 10 + u32::from(d);
            i += 1;
            if let Some(d) = digit(i) {
                v = v * 10 + u32::from(d);
                i += 1;
            }
        }
        *o = u8::try_from(v).ok()?;
    }
    (i == b.len()).then(|| Ipv4Addr::from(oct))
}

/// Parses an IP address, accepting IPv6 with or without `[]` (RFC 5118 4.5).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return parse_ipv6(inner).map(IpAddr::V6);
    }
    if let Some(a) = parse_ipv4(s.as_bytes()) {
        return Some(IpAddr::V4(a));
    }
    // Every IPv6 form has a colon; digits and dots alone are a failed IPv4 address.
    if s.bytes().any(|c| c == b':') {
        parse_ipv6(s).map(IpAddr::V6)
    } else {
        None
    }
}

/// Parses `host` or `[ipv6]` (the whole of `s`).
pub fn parse_host(s: &str) -> Result<Host<&str>, UriError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(UriError::BadHost);
    }
    if b[0] == b'[' {
        return match s.strip_suffix(']') {
            Some(_) => parse_ipv6(&s[1..s.len() - 1])
                .map(Host::V6)
                .ok_or(UriError::BadIpv6),
            None => Err(UriError::BadIpv6),
        };
    }
    // One pass: classify the characters (see `HOST`) and check label structure.
    let mut digits_dots = true;
    let mut prev = 2u8;
    for &c in b {
        let k = HOST[c as usize];
        if k == 0 || (k == 2 && prev == 2) {
            return Err(UriError::BadHost);
        }
        digits_dots &= k != 3;
        prev = k;
    }
    if digits_dots && let Some(a) = parse_ipv4(b) {
        return Ok(Host::V4(a));
    }
    // hostname = *( domainlabel "." ) toplabel [ "." ]; underscores are tolerated as deployed.
    if b[0] != b'-' {
        Ok(Host::Domain(s))
    } else {
        Err(UriError::BadHost)
    }
}

/// Host character classes: 0 invalid, 1 digit, 2 dot, 3 letter / '-' / '_' (bit 0: label characters).
static HOST: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_digit() {
            1
        } else if c == b'.' {
            2
        } else if c.is_ascii_alphabetic() || c == b'-' || c == b'_' {
            3
        } else {
            0
        };
        i += 1;
    }
    t
};

/// `hostname` or dotted-quad `[:port]` in one pass; `None` for anything else (IPv6, errors), left
/// to the general path.
#[inline]
fn plain_hostport(s: &str) -> Option<(Host<&str>, Option<u16>)> {
    match plain_hostport_prefix(s)? {
        (host, port, n) if n == s.len() => Some((host, port)),
        _ => None,
    }
}

/// [`plain_hostport`] at the start of `s`: stops at the first byte that cannot continue the
/// host (or the port digits) and returns the length taken; the caller judges that byte. On a
/// string ending there the result is exactly [`plain_hostport`]'s.
#[inline]
pub(crate) fn plain_hostport_prefix(s: &str) -> Option<(Host<&str>, Option<u16>, usize)> {
    let b = s.as_bytes();
    // Labels separated by single dots (a trailing dot allowed), stopping at a leading or second
    // dot or any other byte.
    let mut i = 0;
    loop {
        let ls = i;
        i = text::skip_while(b, i, |c| HOST[c as usize] & 1 != 0);
        if i == ls || b.get(i) != Some(&b'.') {
            break;
        }
        i += 1;
    }
    if i == 0 || b[0] == b'-' {
        return None;
    }
    // A dotted quad is an IPv4 address, anything else a domain name (an IPv4 parse fails at
    // the first letter).
    let host = match parse_ipv4(&b[..i]) {
        Some(a) => Host::V4(a),
        None => Host::Domain(&s[..i]),
    };
    if b.get(i) != Some(&b':') {
        return Some((host, None, i));
    }
    // port = 1*5DIGIT, at most 65535 (as `parse_port`).
    let ps = i + 1;
    let mut j = ps;
    let mut v: u32 = 0;
    while j < b.len() && b[j].is_ascii_digit() && j - ps < 6 {
        v = v * 10 + (b[j] - b'0') as u32;
        j += 1;
    }
    if j == ps || j - ps > 5 || v > u16::MAX as u32 {
        return None;
    }
    Some((host, Some(v as u16), j))
}

/// Splits `host[:port]` (IPv6 references in `[]`).
pub fn parse_hostport(s: &str) -> Result<(Host<&str>, Option<u16>), UriError> {
    if let Some(hp) = plain_hostport(s) {
        return Ok(hp);
    }
    parse_hostport_general(s)
}

fn parse_hostport_general(s: &str) -> Result<(Host<&str>, Option<u16>), UriError> {
    let (h, p) = if s.starts_with('[') {
        match text::find_byte(s, b']') {
            Some(i) => {
                let rest = &s[i + 1..];
                match rest.strip_prefix(':') {
                    Some(p) => (&s[..=i], Some(p)),
                    None if rest.is_empty() => (s, None),
                    None => return Err(UriError::BadPort),
                }
            }
            None => return Err(UriError::BadIpv6),
        }
    } else {
        match text::find_byte(s, b':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    };
    let host = parse_host(h)?;
    let port = match p {
        None => None,
        Some(p) => Some(parse_port(p).ok_or(UriError::BadPort)?),
    };
    Ok((host, port))
}

pub(crate) fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 {
        return None;
    }
    let mut v: u32 = 0;
    for c in p.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    u16::try_from(v).ok()
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipUri<S = String> {
    /// `sips:`
    pub secure: bool,
    /// User part, still escaped (may hold `;` parameters of a telephone-subscriber).
    pub user: Option<S>,
    pub password: Option<S>,
    pub host: Host<S>,
    pub port: Option<u16>,
    /// uri-parameters (`transport`, `lr`, `maddr`, `user`, ...).
    pub params: Params<S>,
    /// The `?hname=hvalue&...` part without `?`, still escaped.
    pub headers: Option<S>,
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TelUri<S = String> {
    /// The number with visual separators, e.g. `+1-201-555-0123` or `5551234`.
    pub number: S,
    pub params: Params<S>,
}

/// Any other absolute URI, kept opaque (`isbn:...`, `http://...`, `urn:...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OtherUri<S = String> {
    pub scheme: S,
    /// Everything after `scheme:`.
    pub rest: S,
}

/// A URI of any scheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Uri<S = String> {
    Sip(SipUri<S>),
    Tel(TelUri<S>),
    Other(OtherUri<S>),
}

/// Borrowed URI.
pub type UriRef<'a> = Uri<&'a str>;

impl<'a> Uri<&'a str> {
    /// Parses a complete URI (no surrounding whitespace or `<>`).
    pub fn parse(s: &'a str) -> Result<Self, UriError> {
        // `sip:` in any case: what the general scheme dispatch below would conclude.
        if let Some(rest) = s.get(4..)
            && s.as_bytes()[..4].eq_ignore_ascii_case(b"sip:")
        {
            return SipUri::parse_after_scheme(rest, false).map(Uri::Sip);
        }
        let colon = text::find_byte(s, b':').ok_or(if s.is_empty() {
            UriError::Empty
        } else {
            UriError::BadScheme
        })?;
        let scheme = &s[..colon];
        let rest = &s[colon + 1..];
        let sb = scheme.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(UriError::BadScheme);
        }
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse_after_scheme(rest, false).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_after_scheme(rest, true).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            TelUri::parse_after_scheme(rest).map(Uri::Tel)
        } else {
            if rest.is_empty()
                || rest
                    .bytes()
                    .any(|c| c <= b' ' || c >= 0x7f || matches!(c, b'<' | b'>' | b'"'))
            {
                return Err(UriError::BadOpaque);
            }
            Ok(Uri::Other(OtherUri { scheme, rest }))
        }
    }
}

impl<S: AsRef<str>> Uri<S> {
    pub fn as_sip(&self) -> Option<&SipUri<S>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// `sip`, `sips`, `tel` or the other scheme as written.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Other(o) => o.scheme.as_ref(),
        }
    }

    /// URI parameters of SIP and tel URIs.
    pub fn params(&self) -> Option<&Params<S>> {
        match self {
            Uri::Sip(u) => Some(&u.params),
            Uri::Tel(t) => Some(&t.params),
            Uri::Other(_) => None,
        }
    }

    pub fn to_owned_uri(&self) -> Uri<String> {
        match self {
            Uri::Sip(u) => Uri::Sip(u.to_owned_uri()),
            Uri::Tel(t) => Uri::Tel(TelUri {
                number: t.number.as_ref().to_string(),
                params: t.params.to_owned_params(),
            }),
            Uri::Other(o) => Uri::Other(OtherUri {
                scheme: o.scheme.as_ref().to_string(),
                rest: o.rest.as_ref().to_string(),
            }),
        }
    }

    /// Equivalence per RFC 3261 19.1.4 for SIP URIs; tel URIs compare by number (visual
    /// separators ignored) and parameters; other schemes by exact text with case-insensitive scheme.
    pub fn rfc_eq<T: AsRef<str>>(&self, other: &Uri<T>) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.rfc_eq(b),
            (Uri::Tel(a), Uri::Tel(b)) => {
                let digits = |s: &str| {
                    s.bytes()
                        .filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')'))
                        .map(|c| c.to_ascii_lowercase())
                        .collect::<Vec<u8>>()
                };
                digits(a.number.as_ref()) == digits(b.number.as_ref())
                    && params_subset_eq(&a.params, &b.params)
                    && params_subset_eq(&b.params, &a.params)
            }
            (Uri::Other(a), Uri::Other(b)) => {
                a.scheme.as_ref().eq_ignore_ascii_case(b.scheme.as_ref())
                    && a.rest.as_ref() == b.rest.as_ref()
            }
            _ => false,
        }
    }
}

/// Every parameter of `a` is in `b` with an equal value.
fn params_subset_eq<S: AsRef<str>, T: AsRef<str>>(a: &Params<S>, b: &Params<T>) -> bool {
    a.iter().all(|(n, v)| match b.param(n) {
        Some(w) => match (v, w) {
            (Some(v), Some(w)) => eq_unescaped_nocase(v, w),
            (None, None) => true,
            _ => false,
        },
        None => false,
    })
}

static USER: [bool; 256] = text::class_table(true, b"&=+$,;?/");
static PASSWORD: [bool; 256] = text::class_table(true, b"&=+$,");
static HEADER: [bool; 256] = text::class_table(true, b"[]/?:+$=&");
/// Anything that may appear in userinfo, escapes and the password separator included.
static USERINFO: [bool; 256] = text::class_table(true, b"&=+$,;?/:%");

fn is_user_char(b: u8) -> bool {
    USER[b as usize]
}

fn is_password_char(b: u8) -> bool {
    PASSWORD[b as usize]
}

fn is_header_char(b: u8) -> bool {
    HEADER[b as usize]
}

/// userinfo without escapes, password or the separators `;` `?` `/` that make the user part
/// ambiguous: unreserved / `&` `=` `+` `$` `,`.
static PLAIN_USER: [bool; 256] = text::class_table(true, b"&=+$,");
static PLAIN_USER_NO_COMMA: [bool; 256] = text::class_table(true, b"&=+$");

/// One pass over the common SIP URI forms at the start of `s`: `sip:`/`sips:` (any case), an
/// optional user of [`PLAIN_USER`] characters and `@`, a `hostname`/IPv4 host with optional port,
/// and (when `with_params`) `;` plus a parameter list of plain `name[=value]` items. Returns the
/// URI and the length taken, stopping at the first byte that cannot continue it, which the
/// caller judges. When that byte is the end of the URI (`>`, end of text, or `;` starting header
/// parameters of an addr-spec without `with_params`), the result is exactly what
/// [`Uri::parse`] gives for the text taken. `None` (anything else: escapes, passwords, IPv6,
/// headers, other schemes...) leaves the decision to [`Uri::parse`].
#[inline]
pub(crate) fn plain_sip_prefix(s: &str, with_params: bool) -> Option<(SipUri<&str>, usize)> {
    let b = s.as_bytes();
    let (secure, start) = if b.len() > 4 && b[..4].eq_ignore_ascii_case(b"sip:") {
        (false, 4)
    } else if b.len() > 5 && b[..5].eq_ignore_ascii_case(b"sips:") {
        (true, 5)
    } else {
        return None;
    };
    // No byte taken below is '@', so an '@' ending this run is the first of the URI, the one
    // that ends the userinfo for the general parser.
    // An addr-spec stands unbracketed in comma-separated lists: no ',' in its user, so that a
    // value taken here is one list item.
    let user_ok: &[bool; 256] = if with_params {
        &PLAIN_USER
    } else {
        &PLAIN_USER_NO_COMMA
    };
    let mut i = start;
    i = text::skip_while(b, i, |c| user_ok[c as usize]);
    let (user, hs) = if i > start && b.get(i) == Some(&b'@') {
        (Some(&s[start..i]), i + 1)
    } else {
        (None, start)
    };
    let (host, port, n) = plain_hostport_prefix(&s[hs..])?;
    let mut i = hs + n;
    let mut params = "";
    if with_params && b.get(i) == Some(&b';') {
        // `name[=value]` items of `paramchar`s separated by single ';' (what
        // `Params::validate_uri` accepts in one pass), up to the first byte that cannot continue.
        let ps = i + 1;
        i = ps;
        loop {
            let ns = i;
            i = text::skip_while(b, i, is_param_char);
            if i == ns {
                return None;
            }
            if b.get(i) == Some(&b'=') {
                i += 1;
                let vs = i;
                i = text::skip_while(b, i, is_param_char);
                if i == vs {
                    return None;
                }
            }
            if b.get(i) != Some(&b';') {
                break;
            }
            i += 1;
        }
        params = &s[ps..i];
    }
    Some((
        SipUri {
            secure,
            user,
            password: None,
            host,
            port,
            params: Params::from_raw(params),
            headers: None,
        },
        i,
    ))
}

impl<'a> SipUri<&'a str> {
    fn parse_after_scheme(s: &'a str, secure: bool) -> Result<Self, UriError> {
        if s.is_empty() {
            return Err(UriError::BadHost);
        }
        // userinfo cannot hold an unescaped '@' and neither can anything after the host, so the
        // first '@' ends the userinfo even though the user part may contain ';', '?' or ','.
        // One pass finds it, the first ';' and '?' after it, and checks the userinfo bytes.
        let b = s.as_bytes();
        // URIs are short: plain loops beat memchr's set-up here.
        let at = b.iter().position(|&c| c == b'@');
        // After the userinfo: the first ';' before any '?', and the first '?'.
        let tail = at.map_or(0, |a| a + 1);
        let (semi, q) = match b[tail..].iter().position(|&c| c == b';' || c == b'?') {
            Some(k) if b[tail + k] == b';' => {
                let i = tail + k;
                (
                    Some(i),
                    b[i + 1..].iter().position(|&c| c == b'?').map(|j| i + 1 + j),
                )
            }
            Some(k) => (None, Some(tail + k)),
            None => (None, None),
        };
        let (mut ui_ok, mut ui_special) = (true, false);
        if let Some(at) = at {
            for &c in &b[..at] {
                ui_ok &= USERINFO[c as usize];
                ui_special |= c == b'%' || c == b':';
            }
        }
        let (user, password, hp_start) = match at {
            Some(at) => {
                if !ui_ok {
                    return Err(UriError::BadUser);
                }
                let ui = &s[..at];
                let (u, p) = match ui_special.then(|| text::find_byte(ui, b':')).flatten() {
                    Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() || (ui_special && check_escaped(u, is_user_char).is_err()) {
                    return Err(UriError::BadUser);
                }
                if let Some(p) = p
                    && check_escaped(p, is_password_char).is_err()
                {
                    return Err(UriError::BadPassword);
                }
                (Some(u), p, at + 1)
            }
            None => (None, None, 0),
        };
        let end = b.len();
        let hp_end = semi.or(q).unwrap_or(end);
        let hostport = &s[hp_start..hp_end];
        let (params, has_params) = match semi {
            Some(i) => (&s[i + 1..q.unwrap_or(end)], true),
            None => ("", false),
        };
        let headers = q.map(|i| &s[i + 1..]);
        let (host, port) = parse_hostport(hostport)?;
        let params = Params::from_raw(params);
        if has_params {
            params.validate_uri()?;
        }
        if let Some(h) = headers
            && (h.is_empty()
                || h.split('&').any(|kv| {
                    text::find_byte(kv, b'=').is_none() || check_escaped(kv, is_header_char).is_err()
                }))
        {
            return Err(UriError::BadHeaders);
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// Parses a complete `sip:`/`sips:` URI.
    pub fn parse(s: &'a str) -> Result<Self, UriError> {
        match Uri::parse(s)? {
            Uri::Sip(u) => Ok(u),
            _ => Err(UriError::BadScheme),
        }
    }
}

impl<S: AsRef<str>> SipUri<S> {
    pub fn to_owned_uri(&self) -> SipUri<String> {
        SipUri {
            secure: self.secure,
            user: self.user.as_ref().map(|u| u.as_ref().to_string()),
            password: self.password.as_ref().map(|u| u.as_ref().to_string()),
            host: self.host.to_owned_host(),
            port: self.port,
            params: self.params.to_owned_params(),
            headers: self.headers.as_ref().map(|u| u.as_ref().to_string()),
        }
    }

    /// The user part with `%HH` escapes decoded (bytes: `%00` stays a NUL byte).
    pub fn user_unescaped(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        self.user.as_ref().map(|u| text::unescape(u.as_ref()))
    }

    /// `transport` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.params.get("transport")
    }

    /// `lr` parameter present (loose router).
    pub fn lr(&self) -> bool {
        self.params.contains("lr")
    }

    pub fn maddr(&self) -> Option<&str> {
        self.params.get("maddr")
    }

    /// Iterates escaped URI headers as `(name, value)`.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .as_ref()
            .map(|h| h.as_ref())
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
    }

    /// URI equivalence per RFC 3261 19.1.4.
    pub fn rfc_eq<T: AsRef<str>>(&self, o: &SipUri<T>) -> bool {
        if self.secure != o.secure || self.port != o.port || !self.host.eq_host(&o.host) {
            return false;
        }
        let opt_eq = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(a), Some(b)) => eq_unescaped(a, b),
            (None, None) => true,
            _ => false,
        };
        if !opt_eq(
            self.user.as_ref().map(|s| s.as_ref()),
            o.user.as_ref().map(|s| s.as_ref()),
        ) || !opt_eq(
            self.password.as_ref().map(|s| s.as_ref()),
            o.password.as_ref().map(|s| s.as_ref()),
        ) {
            return false;
        }
        // Parameters present in both must match; user/ttl/method/maddr/transport present in
        // only one never match; other one-sided parameters are ignored.
        for (a, b) in [
            (&self.params.as_str(), &o.params.as_str()),
            (&o.params.as_str(), &self.params.as_str()),
        ] {
            let (pa, pb) = (Params::from_raw(*a), Params::from_raw(*b));
            for (n, v) in pa.iter() {
                match pb.iter().find(|(m, _)| eq_unescaped_nocase(n, m)) {
                    Some((_, w)) => match (v, w) {
                        (Some(v), Some(w)) if eq_unescaped_nocase(v, w) => {}
                        (None, None) => {}
                        _ => return false,
                    },
                    None => {
                        // transport too: the 19.1.4 examples treat a one-sided
                        // transport as a mismatch ("can resolve to different transports").
                        if ["user", "ttl", "method", "maddr", "transport"]
                            .iter()
                            .any(|k| eq_unescaped_nocase(n, k))
                        {
                            return false;
                        }
                    }
                }
            }
        }
        // Headers are never ignored: same set, values compared unescaped.
        if self.header_pairs().count() != o.header_pairs().count() {
            return false;
        }
        self.header_pairs().all(|(n, v)| {
            o.header_pairs()
                .any(|(m, w)| eq_unescaped_nocase(n, m) && eq_unescaped_nocase(v, w))
        })
    }
}

impl<S: AsRef<str>> fmt::Display for SipUri<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u.as_ref())?;
            if let Some(p) = &self.password {
                write!(f, ":{}", p.as_ref())?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{}", h.as_ref())?;
        }
        Ok(())
    }
}

impl<'a> TelUri<&'a str> {
    fn parse_after_scheme(s: &'a str) -> Result<Self, UriError> {
        let (number, params) = match text::find_byte(s, b';') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        let nb = number.as_bytes();
        if nb.is_empty()
            || !nb
                .iter()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'))
        {
            return Err(UriError::BadUser);
        }
        let params = Params::from_raw(params);
        if s.len() > number.len() {
            params.validate_uri()?;
        }
        Ok(TelUri { number, params })
    }
}

impl<S: AsRef<str>> fmt::Display for TelUri<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}{}", self.number.as_ref(), self.params)
    }
}

impl<S: AsRef<str>> fmt::Display for Uri<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(t) => t.fmt(f),
            Uri::Other(o) => write!(f, "{}:{}", o.scheme.as_ref(), o.rest.as_ref()),
        }
    }
}

impl<S> From<SipUri<S>> for Uri<S> {
    fn from(u: SipUri<S>) -> Self {
        Uri::Sip(u)
    }
}

impl SipUri<String> {
    /// `sip:[user@]host[:port]` with no parameters.
    pub fn new(user: Option<&str>, host: Host<String>, port: Option<u16>) -> Self {
        SipUri {
            secure: false,
            user: user.map(str::to_string),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: None,
        }
    }
}

impl std::str::FromStr for Uri<String> {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, UriError> {
        Uri::parse(s).map(|u| u.to_owned_uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::mutate::{Mutator, chars};

    /// The octet-at-a-time dotted-quad parser accepts exactly what a byte-at-a-time reading of
    /// the grammar (1*3DIGIT, at most 255, four octets) accepts, with the same value.
    #[test]
    fn ipv4_parser_agrees_with_a_plain_reading() {
        fn plain(b: &[u8]) -> Option<Ipv4Addr> {
            let mut oct = [0u8; 4];
            let (mut n, mut val, mut len) = (0, 0u32, 0);
            for &c in b {
                if c == b'.' {
                    if len == 0 || n == 3 || val > 255 {
                        return None;
                    }
                    oct[n] = val as u8;
                    n += 1;
                    val = 0;
                    len = 0;
                } else if c.is_ascii_digit() && len < 3 {
                    len += 1;
                    val = val * 10 + (c - b'0') as u32;
                } else {
                    return None;
                }
            }
            if len == 0 || n != 3 || val > 255 {
                return None;
            }
            oct[3] = val as u8;
            Some(Ipv4Addr::from(oct))
        }
        let mut m = Mutator::new(0x51_7cc1_b727_220a);
        let mut hits = 0;
        for seed in 0..20000u64 {
            let mut s: Vec<u8> = if seed % 2 == 0 {
                chars(seed, b"0123456789.", (seed % 19) as usize)
                    .collect::<String>()
                    .into_bytes()
            } else {
                let q = m.next();
                format!(
                    "{}.{}.{}.{}",
                    q % 300,
                    (q >> 9) % 300,
                    (q >> 18) % 1000,
                    (q >> 28) % 300
                )
                .into_bytes()
            };
            if seed % 3 == 0 {
                m.mutate(&mut s, b"0123456789.a:");
            }
            hits += usize::from(plain(&s).is_some());
            assert_eq!(parse_ipv4(&s), plain(&s), "{:?}", String::from_utf8_lossy(&s));
        }
        assert!(hits > 1000, "{hits}");
    }

    #[test]
    fn one_pass_hostport_agrees_with_the_general_one() {
        const ALPHABET: &[u8] = b"a-_.09:5[]%Z";
        let mut m = Mutator::new(0x853c_49e6_748f_ea9b);
        let mut hits = 0;
        for _ in 0..200_000 {
            let x = m.next();
            let s: String = chars(x, ALPHABET, (x % 18) as usize).collect();
            if let Some(hp) = plain_hostport(&s) {
                hits += 1;
                assert_eq!(Ok(hp), parse_hostport_general(&s), "{s:?}");
            }
        }
        for s in [
            "1.2.3.4",
            "1.2.3.4:5060",
            "1.2.3.256",
            "1.2.3",
            "a.b.",
            "-a",
            "x:65536",
            "x:0065",
        ] {
            assert_eq!(parse_hostport(s), parse_hostport_general(s), "{s:?}");
        }
        assert!(hits > 1000, "{hits}");
    }

    /// The one-pass SIP URI parser gives exactly `Uri::parse` of the text it took, or declines.
    #[test]
    fn one_pass_sip_uri_agrees_with_the_general_one() {
        const ALPHABET: &[u8] = b"sSiIpP:a@.-_09;=[]%?&>,+/ ";
        let mut m = Mutator::new(0x2545_f491_4f6c_dd1d);
        let mut hits = 0;
        let mut check = |s: &str| {
            for with_params in [true, false] {
                if let Some((u, n)) = plain_sip_prefix(s, with_params) {
                    hits += 1;
                    assert_eq!(Uri::parse(&s[..n]), Ok(Uri::Sip(u)), "{s:?} {with_params}");
                }
            }
        };
        for s in [
            "sip:1001@sip.example.net",
            "sip:+15551234567@sip.example.net;user=phone>",
            "sip:proxy.example.net;lr>",
            "SIPS:a@1.2.3.4:5061;transport=tls;x>",
            "sip:a@b;tag=1",
            "sip:a:b@c",
            "sip:a@[::1]",
        ] {
            check(s);
        }
        for _ in 0..200_000 {
            let x = m.next();
            let mut s: String = if x & 1 == 0 { "sip:".into() } else { String::new() };
            s.extend(chars(x, ALPHABET, (x % 24) as usize));
            check(&s);
        }
        assert!(hits > 5000, "{hits}");
    }
}
