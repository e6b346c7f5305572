//! Digest authentication for SIP clients (RFC 7616, RFC 8760, RFC 3261 22, RFC 2617).
//!
//! - [`parse_challenges`]: `WWW-Authenticate` / `Proxy-Authenticate` values into [`Challenge`]s
//!   (several challenges per value or per message are all kept).
//! - [`DigestClient`]: the credentials of one account, the chosen challenge per realm and the
//!   nonce counts; answers challenges with `Authorization` / `Proxy-Authorization` values.
//! - [`digest_response`]: the bare response computation (RFC 7616 3.4.1), used by the golden tests.
//!
//! Algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256, SHA-512-256-sess. When a
//! response carries several challenges for the same realm, the strongest algorithm is used
//! (RFC 8760 2.4: SHA-512-256 over SHA-256 over MD5). qop `auth` is preferred over `auth-int`;
//! without qop the RFC 2069 form is used.

use std::fmt;
use std::fmt::Write as _;

use md5::Md5;
use sha2::{Sha256, Sha512_256};

use crate::sip::wire::text::{CommaSplit, trim_lws, unquote};

/// The hash algorithm of a digest challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
    Sha512_256,
    Sha512_256Sess,
}

impl Algorithm {
    /// From the `algorithm` parameter (case-insensitive).
    pub fn from_token(s: &str) -> Option<Self> {
        const ALL: [Algorithm; 6] = [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
            Algorithm::Sha512_256,
            Algorithm::Sha512_256Sess,
        ];
        ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// The `-sess` variants hash the nonce and cnonce into HA1.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// Preference rank: higher is stronger.
    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 2,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => 3,
        }
    }

    /// Lower-case hex of the hash of the concatenated parts.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        fn run<H: md5::Digest>(parts: &[&[u8]]) -> String {
            let mut h = H::new();
            for p in parts {
                h.update(p);
            }
            hex(&h.finalize())
        }
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => run::<Md5>(parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => run::<Sha256>(parts),
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => run::<Sha512_256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Quality of protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qop {
    Auth,
    AuthInt,
}

impl Qop {
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

/// Which header carried the challenge, and so which header answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    /// `WWW-Authenticate` (401) -> `Authorization`.
    Www,
    /// `Proxy-Authenticate` (407) -> `Proxy-Authorization`.
    Proxy,
}

impl ChallengeKind {
    /// Header name of the challenge.
    pub fn challenge_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "WWW-Authenticate",
            ChallengeKind::Proxy => "Proxy-Authenticate",
        }
    }

    /// Header name of the credentials.
    pub fn credentials_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Authorization",
            ChallengeKind::Proxy => "Proxy-Authorization",
        }
    }
}

/// One parsed digest challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub kind: ChallengeKind,
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// Offered qop values that we know, in the server's order.
    pub qop: Vec<Qop>,
    /// The server offered qop values, none of which we know.
    pub qop_unknown_only: bool,
    pub stale: bool,
    /// RFC 7616 `userhash=true`.
    pub userhash: bool,
}

/// Why a challenge was not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The scheme is not Digest (e.g. Basic, which SIP forbids).
    NotDigest,
    /// A required parameter (`realm` or `nonce`) is missing.
    MissingParam(&'static str),
    /// The algorithm is not one we implement.
    UnknownAlgorithm,
    /// Only qop values we do not implement were offered.
    UnsupportedQop,
    /// A parameter list that does not parse (position in the value).
    Syntax(usize),
    /// The response carried no challenge we can answer.
    NoUsableChallenge,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::NotDigest => f.write_str("challenge scheme is not Digest"),
            AuthError::MissingParam(p) => write!(f, "challenge lacks the {p} parameter"),
            AuthError::UnknownAlgorithm => f.write_str("unknown digest algorithm"),
            AuthError::UnsupportedQop => f.write_str("no supported qop offered"),
            AuthError::Syntax(at) => write!(f, "challenge syntax error at byte {at}"),
            AuthError::NoUsableChallenge => f.write_str("no usable digest challenge"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Splits `k=v, k="v", ...` (auth-params) into pairs; quoted values are unquoted.
fn auth_params(s: &str) -> Result<Vec<(String, String)>, AuthError> {
    let mut out = Vec::new();
    let mut offset = 0;
    for item in CommaSplit::new(s) {
        let at = offset;
        offset += item.len() + 1;
        let item = trim_lws(item);
        if item.is_empty() {
            continue;
        }
        let Some(eq) = item.find('=') else {
            return Err(AuthError::Syntax(at));
        };
        let k = trim_lws(&item[..eq]).to_ascii_lowercase();
        let v = trim_lws(&item[eq + 1..]);
        let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            unquote(&v[1..v.len() - 1]).into_owned()
        } else if v.starts_with('"') {
            return Err(AuthError::Syntax(at));
        } else {
            v.to_string()
        };
        if k.is_empty() {
            return Err(AuthError::Syntax(at));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Splits a header value holding several challenges (`Digest a=1, b=2, Digest c=3`) into one
/// string per challenge. A new challenge starts at an item of the form `scheme param=...`.
fn split_challenges(value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in CommaSplit::new(value) {
        let t = trim_lws(item);
        if t.is_empty() {
            continue;
        }
        let first_ws = t.find([' ', '\t']);
        let eq = t.find('=');
        let starts_new = match (first_ws, eq) {
            (Some(ws), Some(e)) => ws < e,
            (Some(_), None) | (None, None) => true,
            (None, Some(_)) => false,
        };
        if starts_new {
            let (scheme, rest) = match first_ws {
                Some(ws) => (&t[..ws], trim_lws(&t[ws..])),
                None => (t, ""),
            };
            out.push((scheme.to_string(), rest.to_string()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(", ");
            last.1.push_str(t);
        }
    }
    out
}

/// Parses every challenge in one `WWW-Authenticate` / `Proxy-Authenticate` value. Non-digest
/// challenges and digest challenges we cannot answer are returned as errors in place, so the
/// caller can report why nothing was usable.
pub fn parse_challenges(kind: ChallengeKind, value: &str) -> Vec<Result<Challenge, AuthError>> {
    split_challenges(value)
        .into_iter()
        .map(|(scheme, params)| {
            if !scheme.eq_ignore_ascii_case("digest") {
                return Err(AuthError::NotDigest);
            }
            parse_digest_params(kind, &params)
        })
        .collect()
}

/// Parses the parameters of one Digest challenge.
pub fn parse_digest_params(kind: ChallengeKind, params: &str) -> Result<Challenge, AuthError> {
    let mut realm = None;
    let mut nonce = None;
    let mut opaque = None;
    let mut algorithm = Algorithm::Md5;
    let mut qop = Vec::new();
    let mut qop_offered = false;
    let mut stale = false;
    let mut userhash = false;
    for (k, v) in auth_params(params)? {
        match k.as_str() {
            "realm" => realm = Some(v),
            "nonce" => nonce = Some(v),
            "opaque" => opaque = Some(v),
            "algorithm" => algorithm = Algorithm::from_token(&v).ok_or(AuthError::UnknownAlgorithm)?,
            "qop" => {
                qop_offered = true;
                for q in v.split(',').map(str::trim) {
                    if q.eq_ignore_ascii_case("auth") {
                        qop.push(Qop::Auth);
                    } else if q.eq_ignore_ascii_case("auth-int") {
                        qop.push(Qop::AuthInt);
                    }
                }
            }
            "stale" => stale = v.eq_ignore_ascii_case("true"),
            "userhash" => userhash = v.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    Ok(Challenge {
        kind,
        realm: realm.ok_or(AuthError::MissingParam("realm"))?,
        nonce: nonce.ok_or(AuthError::MissingParam("nonce"))?,
        opaque,
        algorithm,
        qop_unknown_only: qop_offered && qop.is_empty(),
        qop,
        stale,
        userhash,
    })
}

/// Inputs of one digest response computation (RFC 7616 3.4.1).
#[derive(Clone, Debug)]
pub struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub username: &'a str,
    pub password: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    pub cnonce: &'a str,
    pub nc: u32,
    pub qop: Option<Qop>,
    pub method: &'a str,
    pub uri: &'a str,
    /// Message body, for qop `auth-int`.
    pub body: &'a [u8],
}

/// The `response` value: `KD(H(A1), nonce:nc:cnonce:qop:H(A2))`, or `KD(H(A1), nonce:H(A2))`
/// without qop (RFC 2069 compatibility).
pub fn digest_response(i: &DigestInput<'_>) -> String {
    let a = i.algorithm;
    let mut ha1 = a.hex(&[
        i.username.as_bytes(),
        b":",
        i.realm.as_bytes(),
        b":",
        i.password.as_bytes(),
    ]);
    if a.is_session() {
        ha1 = a.hex(&[
            ha1.as_bytes(),
            b":",
            i.nonce.as_bytes(),
            b":",
            i.cnonce.as_bytes(),
        ]);
    }
    let ha2 = match i.qop {
        Some(Qop::AuthInt) => {
            let hb = a.hex(&[i.body]);
            a.hex(&[i.method.as_bytes(), b":", i.uri.as_bytes(), b":", hb.as_bytes()])
        }
        _ => a.hex(&[i.method.as_bytes(), b":", i.uri.as_bytes()]),
    };
    match i.qop {
        Some(q) => {
            let nc = format!("{:08x}", i.nc);
            a.hex(&[
                ha1.as_bytes(),
                b":",
                i.nonce.as_bytes(),
                b":",
                nc.as_bytes(),
                b":",
                i.cnonce.as_bytes(),
                b":",
                q.as_str().as_bytes(),
                b":",
                ha2.as_bytes(),
            ])
        }
        None => a.hex(&[ha1.as_bytes(), b":", i.nonce.as_bytes(), b":", ha2.as_bytes()]),
    }
}

/// Username and password of one account.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Only answer challenges for this realm (`None`: any realm).
    pub realm: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// A challenge being answered, with its nonce count.
#[derive(Clone, Debug)]
struct Active {
    challenge: Challenge,
    nc: u32,
}

/// One credentials header to add to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthHeader {
    pub kind: ChallengeKind,
    pub value: String,
}

impl AuthHeader {
    pub fn name(&self) -> &'static str {
        self.kind.credentials_header()
    }
}

/// Digest client state of one account: answers 401/407 challenges and keeps answering later
/// requests pre-emptively with the same nonce (incrementing nc) until the server challenges
/// again.
#[derive(Clone, Debug)]
pub struct DigestClient {
    creds: Credentials,
    active: Vec<Active>,
    seed: u64,
}

impl DigestClient {
    /// `seed` makes cnonces unique per client (mixed with a counter).
    pub fn new(creds: Credentials, seed: u64) -> Self {
        DigestClient {
            creds,
            active: Vec::new(),
            seed,
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Forgets every nonce (after a registrar restart, for example).
    pub fn reset(&mut self) {
        self.active.clear();
    }

    /// Takes the challenges of a 401/407 response, given as `(kind, header value)` pairs, and
    /// answers them from now on (nonce counts restart at 1). Returns whether every usable
    /// challenge was marked `stale=true` (a retry with the new nonce, not a credentials
    /// failure). Deciding that the credentials were rejected (a challenge in answer to a
    /// request that already carried credentials, not stale) is the caller's job.
    pub fn on_challenge<'a>(
        &mut self,
        headers: impl IntoIterator<Item = (ChallengeKind, &'a str)>,
    ) -> Result<bool, AuthError> {
        let mut best: Vec<Challenge> = Vec::new();
        let mut last_err = AuthError::NoUsableChallenge;
        for (kind, v) in headers {
            for c in parse_challenges(kind, v) {
                let c = match c {
                    Ok(c) if c.qop_unknown_only => {
                        last_err = AuthError::UnsupportedQop;
                        continue;
                    }
                    Ok(c) => c,
                    Err(e) => {
                        last_err = e;
                        continue;
                    }
                };
                if let Some(r) = &self.creds.realm
                    && !r.eq_ignore_ascii_case(&c.realm)
                {
                    continue;
                }
                match best.iter_mut().find(|b| b.realm == c.realm && b.kind == c.kind) {
                    Some(b) if c.algorithm.strength() > b.algorithm.strength() => *b = c,
                    Some(_) => {}
                    None => best.push(c),
                }
            }
        }
        if best.is_empty() {
            return Err(last_err);
        }
        let all_stale = best.iter().all(|c| c.stale);
        for c in best {
            match self
                .active
                .iter_mut()
                .find(|a| a.challenge.realm == c.realm && a.challenge.kind == c.kind)
            {
                Some(a) => *a = Active { challenge: c, nc: 0 },
                None => self.active.push(Active { challenge: c, nc: 0 }),
            }
        }
        Ok(all_stale)
    }

    /// True if some challenge is being answered.
    pub fn has_challenge(&self) -> bool {
        !self.active.is_empty()
    }

    /// Credentials headers for a request with `method`, Request-URI `uri` and `body`; each call
    /// increments the nonce count of every active challenge.
    pub fn authorize(&mut self, method: &str, uri: &str, body: &[u8]) -> Vec<AuthHeader> {
        let mut out = Vec::with_capacity(self.active.len());
        for i in 0..self.active.len() {
            self.seed = self
                .seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let cnonce = format!("{:016x}", self.seed ^ (self.seed >> 29));
            let a = &mut self.active[i];
            a.nc = a.nc.wrapping_add(1);
            let c = &a.challenge;
            let qop = if c.qop.contains(&Qop::Auth) {
                Some(Qop::Auth)
            } else if c.qop.contains(&Qop::AuthInt) {
                Some(Qop::AuthInt)
            } else {
                None
            };
            let value = credentials_value(&self.creds, c, &cnonce, a.nc, qop, method, uri, body);
            out.push(AuthHeader { kind: c.kind, value });
        }
        out
    }
}

/// The `Digest ...` credentials value (RFC 7616 3.4, RFC 3261 22.4).
#[allow(clippy::too_many_arguments)]
pub fn credentials_value(
    creds: &Credentials,
    c: &Challenge,
    cnonce: &str,
    nc: u32,
    qop: Option<Qop>,
    method: &str,
    uri: &str,
    body: &[u8],
) -> String {
    let response = digest_response(&DigestInput {
        algorithm: c.algorithm,
        username: &creds.username,
        password: &creds.password,
        realm: &c.realm,
        nonce: &c.nonce,
        cnonce,
        nc,
        qop,
        method,
        uri,
        body,
    });
    let username = if c.userhash {
        c.algorithm
            .hex(&[creds.username.as_bytes(), b":", c.realm.as_bytes()])
    } else {
        creds.username.clone()
    };
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
        quote_escape(&username),
        quote_escape(&c.realm),
        quote_escape(&c.nonce),
        uri,
        response,
        c.algorithm
    );
    if let Some(q) = qop {
        let _ = write!(v, ", qop={}, nc={nc:08x}, cnonce=\"{cnonce}\"", q.as_str());
    }
    if let Some(o) = &c.opaque {
        let _ = write!(v, ", opaque=\"{}\"", quote_escape(o));
    }
    if c.userhash {
        v.push_str(", userhash=true");
    }
    v
}

fn quote_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            o.push('\\');
        }
        o.push(ch);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_several_challenges_in_one_value() {
        let v = r#"Digest realm="a", nonce="n1", qop="auth,auth-int", algorithm=SHA-256, Digest realm="a", nonce="n1", algorithm=MD5"#;
        let cs: Vec<_> = parse_challenges(ChallengeKind::Www, v).into_iter().collect();
        assert_eq!(cs.len(), 2);
        let c0 = cs[0].as_ref().unwrap();
        assert_eq!(c0.algorithm, Algorithm::Sha256);
        assert_eq!(c0.qop, vec![Qop::Auth, Qop::AuthInt]);
        assert_eq!(cs[1].as_ref().unwrap().algorithm, Algorithm::Md5);
    }
}
