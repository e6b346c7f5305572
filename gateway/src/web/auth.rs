//! Who may use the web page: the administrator password (argon2id, PHC string), sessions with
//! their CSRF token, and login rate limiting per client address.
//!
//! There is no default password: until one is set the page offers only the first-visit setup.
//! Sessions are random 256-bit tokens kept in memory (a restart logs everyone out); each carries
//! its own synchronizer token that every state-changing request must echo in `X-CSRF-Token`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Name of the session cookie.
pub const COOKIE: &str = "gw_session";
/// Shortest administrator password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// argon2id sized for a 32 MB board: 8 MiB, 3 passes (OWASP's m=7 MiB, t=5 class of settings).
fn hasher() -> Argon2<'static> {
    let params = Params::new(8 * 1024, 3, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=8192,t=3,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Checks a password against a PHC string; a malformed string never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => hasher().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A random token: 32 bytes from the OS, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    last_seen: Instant,
}

/// Result of a login attempt's rate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateCheck {
    Allowed,
    /// Too many attempts; retry after this long.
    Limited(Duration),
}

/// Sessions and login attempt history.
#[derive(Debug, Default)]
pub struct Auth {
    sessions: HashMap<String, Session>,
    attempts: HashMap<IpAddr, VecDeque<Instant>>,
}

const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Bound on remembered sessions and client addresses (memory on a small board).
const MAX_SESSIONS: usize = 64;
const MAX_CLIENTS: usize = 1024;

impl Auth {
    /// Records a login attempt from `ip` at `now` and says whether it may proceed:
    /// at most `per_min` attempts in any 60 s window.
    pub fn check_rate(&mut self, ip: IpAddr, per_min: u32, now: Instant) -> RateCheck {
        if self.attempts.len() >= MAX_CLIENTS && !self.attempts.contains_key(&ip) {
            self.attempts
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < RATE_WINDOW));
        }
        let q = self.attempts.entry(ip).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW) {
            q.pop_front();
        }
        if q.len() >= per_min.max(1) as usize {
            let oldest = q.front().copied().unwrap_or(now);
            return RateCheck::Limited(RATE_WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        q.push_back(now);
        RateCheck::Allowed
    }

    /// Opens a session; returns (session token, CSRF token).
    pub fn open(&mut self, now: Instant) -> (String, String) {
        if self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            self.sessions.remove(&oldest);
        }
        let token = random_token();
        let csrf = random_token();
        self.sessions.insert(
            token.clone(),
            Session {
                csrf: csrf.clone(),
                last_seen: now,
            },
        );
        (token, csrf)
    }

    /// The CSRF token of a live session (refreshing its idle timer), or `None`.
    pub fn touch(&mut self, token: &str, idle: Duration, now: Instant) -> Option<String> {
        self.sessions
            .retain(|_, s| now.duration_since(s.last_seen) < idle);
        let s = self.sessions.get_mut(token)?;
        s.last_seen = now;
        Some(s.csrf.clone())
    }

    pub fn close(&mut self, token: &str) {
        self.sessions.remove(token);
    }

    /// Ends every session (after a password change).
    pub fn close_all(&mut self) {
        self.sessions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_is_phc_and_verifies() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=8192,t=3,p=1$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("correct horse", "plain"));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn rate_limit_per_address_and_window() {
        let mut a = Auth::default();
        let t0 = Instant::now();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        for i in 0..3 {
            assert_eq!(
                a.check_rate(ip, 3, t0 + Duration::from_secs(i)),
                RateCheck::Allowed
            );
        }
        assert!(matches!(
            a.check_rate(ip, 3, t0 + Duration::from_secs(10)),
            RateCheck::Limited(d) if d == Duration::from_secs(50)
        ));
        assert_eq!(
            a.check_rate(other, 3, t0 + Duration::from_secs(10)),
            RateCheck::Allowed
        );
        assert_eq!(
            a.check_rate(ip, 3, t0 + Duration::from_secs(60)),
            RateCheck::Allowed
        );
    }

    #[test]
    fn sessions_expire_when_idle() {
        let mut a = Auth::default();
        let t0 = Instant::now();
        let (tok, csrf) = a.open(t0);
        let idle = Duration::from_secs(60);
        assert_eq!(a.touch(&tok, idle, t0 + Duration::from_secs(59)), Some(csrf));
        assert!(a.touch(&tok, idle, t0 + Duration::from_secs(120)).is_none());
        assert!(a.touch("forged", idle, t0).is_none());
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("ab", "abc"));
    }
}
