//! REGISTER client of one account (RFC 3261 10, RFC 5626 4.5 retry timing), sans-IO.
//!
//! A [`Registration`] builds REGISTER requests (without Via: the user agent core adds it and runs
//! the transaction), takes their responses and failures, and says when it wants to be woken
//! ([`Registration::next_deadline`]). It answers digest challenges, honours the registrar's
//! granted expiry (the `expires` parameter of our binding, else the Expires header), raises the
//! interval on `423 Interval Too Brief`, backs off with jitter after failures (30 s doubling up
//! to 1800 s by default, `Retry-After` honoured) and unregisters on shutdown. Its state is a
//! plain value ([`RegState`]) for status pages.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sip::auth::{AuthError, ChallengeKind, Credentials, DigestClient};
use crate::sip::wire::{HeaderName, Message, Method, NameAddr, Uri};

/// Configuration of one account's registration.
#[derive(Clone, Debug)]
pub struct AccountConfig {
    /// Address of record, e.g. `sip:1001@example.net` (From and To).
    pub aor: Uri<String>,
    /// Display name for From/To.
    pub display_name: Option<String>,
    /// Request-URI of REGISTER, e.g. `sip:example.net`.
    pub registrar: Uri<String>,
    /// Credentials for digest authentication.
    pub credentials: Option<Credentials>,
    /// Expiry asked for, seconds.
    pub expires: u32,
    /// Outbound proxy: sent as a loose-routing Route header (`;lr` is added when missing).
    pub outbound_proxy: Option<Uri<String>>,
    pub retry: RetryPolicy,
    /// `User-Agent` header value.
    pub user_agent: Option<String>,
}

/// Failure retry timing (RFC 5626 4.5): `wait = min(max, base * 2^(failures-1))`, then a random
/// value between 50 % and 100 % of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(1800),
        }
    }
}

impl RetryPolicy {
    /// Upper bound of the wait after `failures` consecutive failures (>= 1).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(16);
        self.base.saturating_mul(1u32 << shift).min(self.max)
    }
}

/// Why the last attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegFailure {
    /// No response (Timer F) .
    Timeout,
    /// The transport could not send.
    Transport,
    /// A final response that is not success (status, reason).
    Status(u16, String),
    /// The registrar's challenge could not be answered.
    Auth(AuthError),
    /// The credentials were challenged again after we answered: wrong user or password.
    CredentialsRejected,
    /// No credentials are configured and the registrar asks for them.
    NoCredentials,
}

impl fmt::Display for RegFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegFailure::Timeout => f.write_str("registrar did not answer"),
            RegFailure::Transport => f.write_str("transport error"),
            RegFailure::Status(c, r) => write!(f, "{c} {r}"),
            RegFailure::Auth(e) => write!(f, "authentication: {e}"),
            RegFailure::CredentialsRejected => f.write_str("credentials rejected"),
            RegFailure::NoCredentials => f.write_str("registrar requires credentials"),
        }
    }
}

/// Observable state of a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegState {
    /// Not started.
    Idle,
    /// A REGISTER is outstanding (first registration or after a failure).
    Registering,
    /// Registered; `expires` is the granted interval, refreshed at `refresh_at`.
    Registered {
        expires: u32,
        expires_at: Instant,
        refresh_at: Instant,
    },
    /// Registered and a refresh is outstanding.
    Refreshing { expires_at: Instant },
    /// The last attempt failed; the next one is at `retry_at`.
    Backoff {
        failures: u32,
        retry_at: Instant,
        last: RegFailure,
    },
    /// An unregistration (expires=0) is outstanding.
    Unregistering,
    /// Unregistered (after [`Registration::unregister`]).
    Unregistered,
}

impl RegState {
    pub fn is_registered(&self) -> bool {
        matches!(self, RegState::Registered { .. } | RegState::Refreshing { .. })
    }
}

/// Something the registration reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegEvent {
    /// Registered or refreshed with the granted expiry.
    Registered { expires: u32 },
    /// An attempt failed; the next is scheduled.
    Failed { failure: RegFailure, retry_in: Duration },
    /// Unregistered (or the unregistration failed, which leaves the binding to expire).
    Unregistered,
}

/// The REGISTER client of one account.
#[derive(Debug)]
pub struct Registration {
    cfg: AccountConfig,
    call_id: String,
    from_tag: String,
    cseq: u32,
    contact: Option<Uri<String>>,
    digest: Option<DigestClient>,
    /// Expiry to ask for (raised by 423).
    expires: u32,
    state: RegState,
    failures: u32,
    /// The outstanding request already carried credentials computed from a challenge.
    answered_challenge: bool,
    /// Timer for the next REGISTER (refresh or retry).
    wake: Option<Instant>,
    /// Binding expiry (to fall back to Registering when a refresh fails past it).
    expires_at: Option<Instant>,
    outstanding: bool,
    pending: Vec<Message>,
    events: Vec<RegEvent>,
    rng: u64,
}

impl Registration {
    /// `call_id` and `from_tag` stay for the life of the registration (RFC 3261 10.2.4);
    /// `seed` drives the cnonces and the retry jitter.
    pub fn new(cfg: AccountConfig, call_id: String, from_tag: String, seed: u64) -> Self {
        let digest = cfg
            .credentials
            .clone()
            .map(|c| DigestClient::new(c, seed ^ 0x5bd1e995));
        Registration {
            expires: cfg.expires,
            cfg,
            call_id,
            from_tag,
            cseq: 0,
            contact: None,
            digest,
            state: RegState::Idle,
            failures: 0,
            answered_challenge: false,
            wake: None,
            expires_at: None,
            outstanding: false,
            pending: Vec::new(),
            events: Vec::new(),
            rng: seed | 1,
        }
    }

    pub fn config(&self) -> &AccountConfig {
        &self.cfg
    }

    pub fn state(&self) -> &RegState {
        &self.state
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The digest client (shared by the account's calls for 401/407 answers).
    pub fn digest_mut(&mut self) -> Option<&mut DigestClient> {
        self.digest.as_mut()
    }

    /// Sets the Contact URI (the real interface address). When it changes while registered,
    /// the next REGISTER goes out now.
    pub fn set_contact(&mut self, now: Instant, contact: Uri<String>) {
        let changed = self.contact.as_ref().is_some_and(|c| *c != contact);
        self.contact = Some(contact);
        if changed && !matches!(self.state, RegState::Idle | RegState::Unregistered) {
            self.register_now(now);
        }
    }

    pub fn contact(&self) -> Option<&Uri<String>> {
        self.contact.as_ref()
    }

    /// Takes new settings (credentials, registrar, expiry, outbound proxy ...) keeping the
    /// Call-ID, From tag, CSeq and Contact, so that the next REGISTER updates the same binding
    /// (RFC 3261 10.3 step 7). An outstanding request is abandoned and the state returns to
    /// `Idle`: [`Registration::start`] registers with the new settings.
    pub fn reconfigure(&mut self, cfg: AccountConfig) {
        self.digest = cfg
            .credentials
            .clone()
            .map(|c| DigestClient::new(c, self.rng ^ 0x5bd1e995));
        self.expires = cfg.expires;
        self.cfg = cfg;
        self.state = RegState::Idle;
        self.failures = 0;
        self.answered_challenge = false;
        self.wake = None;
        self.expires_at = None;
        self.outstanding = false;
        self.pending.clear();
    }

    /// Starts registering (first REGISTER now).
    pub fn start(&mut self, now: Instant) {
        self.failures = 0;
        self.register_now(now);
    }

    /// Re-registers now: the network came back, a dialog request failed with 408/481 toward the
    /// registrar's proxy, or the Contact changed. Ignored while a REGISTER is outstanding.
    pub fn register_now(&mut self, now: Instant) {
        if self.outstanding {
            return;
        }
        self.state = match self.state {
            RegState::Registered { expires_at, .. } => RegState::Refreshing { expires_at },
            _ => RegState::Registering,
        };
        self.send_register(now, false);
    }

    /// Sends `expires=0` for our binding (shutdown).
    pub fn unregister(&mut self, now: Instant) {
        self.wake = None;
        if matches!(self.state, RegState::Idle | RegState::Unregistered) {
            self.state = RegState::Unregistered;
            return;
        }
        self.state = RegState::Unregistering;
        self.outstanding = false;
        self.send_register(now, true);
    }

    /// The next REGISTER to send (the core adds Via and starts a transaction).
    pub fn poll_request(&mut self) -> Option<Message> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.pending.remove(0))
        }
    }

    pub fn poll_event(&mut self) -> Option<RegEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.wake
    }

    /// Wakes the registration at `now` (refresh or retry timer).
    pub fn on_timer(&mut self, now: Instant) {
        if matches!(self.wake, Some(t) if t <= now) {
            self.wake = None;
            if let RegState::Registered { .. } | RegState::Backoff { .. } = self.state {
                self.register_now(now);
            }
        }
    }

    fn send_register(&mut self, now: Instant, unregister: bool) {
        let _ = now;
        self.cseq += 1;
        let mut m = Message::request(Method::Register, self.cfg.registrar.clone());
        if let Some(p) = &self.cfg.outbound_proxy {
            let mut p = p.clone();
            if let Uri::Sip(s) = &mut p
                && !s.params.contains("lr")
            {
                s.params.push("lr", None);
            }
            m.push(HeaderName::Route, NameAddr::new(p));
        }
        m.push(HeaderName::MaxForwards, 70);
        let mut aor = NameAddr::new(self.cfg.aor.clone());
        aor.display = self.cfg.display_name.clone();
        m.push(HeaderName::From, aor.clone().with_tag(&self.from_tag));
        m.push(HeaderName::To, aor);
        m.push(HeaderName::CallId, &self.call_id);
        m.push(HeaderName::CSeq, format_args!("{} REGISTER", self.cseq));
        if let Some(c) = &self.contact {
            let mut na = NameAddr::new(c.clone());
            let e = if unregister { 0 } else { self.expires };
            na.params.push("expires", Some(&e.to_string()));
            m.push(HeaderName::Contact, na);
        }
        m.push(HeaderName::Expires, if unregister { 0 } else { self.expires });
        m.push_named("Allow", crate::sip::ua::ALLOW);
        if let Some(ua) = &self.cfg.user_agent {
            m.push_named("User-Agent", ua);
        }
        if let Some(d) = self.digest.as_mut()
            && d.has_challenge()
        {
            let uri = self.cfg.registrar.to_string();
            for h in d.authorize("REGISTER", &uri, &[]) {
                m.push_named(h.name(), h.value);
            }
        }
        self.outstanding = true;
        self.pending.push(m);
    }

    /// A response to our REGISTER (the core matched it by transaction).
    pub fn on_response(&mut self, now: Instant, resp: &Message) {
        let Some(status) = resp.status() else { return };
        if status < 200 || !self.outstanding {
            return;
        }
        self.outstanding = false;
        let unregistering = self.state == RegState::Unregistering;
        match status {
            200..=299 => {
                self.answered_challenge = false;
                if unregistering {
                    self.state = RegState::Unregistered;
                    self.expires_at = None;
                    self.events.push(RegEvent::Unregistered);
                    return;
                }
                let granted = self.granted_expires(resp);
                if granted == 0 {
                    // The registrar removed our binding (it lists other contacts only).
                    self.fail(now, RegFailure::Status(status, "binding not kept".into()), None);
                    return;
                }
                self.failures = 0;
                let refresh = refresh_interval(granted);
                self.expires_at = Some(now + Duration::from_secs(granted.into()));
                self.state = RegState::Registered {
                    expires: granted,
                    expires_at: now + Duration::from_secs(granted.into()),
                    refresh_at: now + refresh,
                };
                self.wake = Some(now + refresh);
                self.events.push(RegEvent::Registered { expires: granted });
            }
            401 | 407 => {
                let Some(d) = self.digest.as_mut() else {
                    return self.fail_or_done(now, unregistering, RegFailure::NoCredentials, None);
                };
                let kind = if status == 401 {
                    ChallengeKind::Www
                } else {
                    ChallengeKind::Proxy
                };
                let hdr = kind.challenge_header();
                let values: Vec<&str> = resp
                    .headers
                    .iter()
                    .filter(|h| h.name_text.eq_ignore_ascii_case(hdr))
                    .map(|h| h.value.as_str())
                    .collect();
                match d.on_challenge(values.into_iter().map(|v| (kind, v))) {
                    Ok(stale) => {
                        if self.answered_challenge && !stale {
                            self.answered_challenge = false;
                            d.reset();
                            return self.fail_or_done(
                                now,
                                unregistering,
                                RegFailure::CredentialsRejected,
                                None,
                            );
                        }
                        self.answered_challenge = true;
                        self.send_register(now, unregistering);
                    }
                    Err(e) => {
                        self.answered_challenge = false;
                        self.fail_or_done(now, unregistering, RegFailure::Auth(e), None)
                    }
                }
            }
            423 => {
                let min = resp
                    .header("Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(m) if m > self.expires && !unregistering => {
                        self.expires = m;
                        self.send_register(now, false);
                    }
                    _ => self.fail_or_done(now, unregistering, RegFailure::Status(423, reason(resp)), None),
                }
            }
            _ => {
                let retry_after = resp
                    .header("Retry-After")
                    .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                self.fail_or_done(
                    now,
                    unregistering,
                    RegFailure::Status(status, reason(resp)),
                    retry_after,
                )
            }
        }
    }

    /// The REGISTER transaction timed out or could not be sent.
    pub fn on_failure(&mut self, now: Instant, failure: RegFailure) {
        if !self.outstanding {
            return;
        }
        self.outstanding = false;
        let unregistering = self.state == RegState::Unregistering;
        self.fail_or_done(now, unregistering, failure, None);
    }

    fn fail_or_done(
        &mut self,
        now: Instant,
        unregistering: bool,
        f: RegFailure,
        retry_after: Option<Duration>,
    ) {
        if unregistering {
            self.state = RegState::Unregistered;
            self.events.push(RegEvent::Unregistered);
        } else {
            self.fail(now, f, retry_after);
        }
    }

    fn fail(&mut self, now: Instant, failure: RegFailure, retry_after: Option<Duration>) {
        self.failures = self.failures.saturating_add(1);
        self.answered_challenge = false;
        let ceiling = self.cfg.retry.ceiling(self.failures);
        // 50-100 % of the ceiling (RFC 5626 4.5).
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = 0.5 + (self.rng % 1000) as f64 / 2000.0;
        let mut wait = ceiling.mul_f64(frac);
        if let Some(r) = retry_after {
            wait = r.min(self.cfg.retry.max).max(Duration::from_secs(1));
        }
        // A refresh failing while the binding is still valid retries sooner, before it lapses.
        if let Some(exp) = self.expires_at
            && exp > now
        {
            let left = exp - now;
            if left > Duration::from_secs(4) {
                wait = wait.min(left / 2);
            }
        }
        self.expires_at = self.expires_at.filter(|&e| e > now);
        self.state = RegState::Backoff {
            failures: self.failures,
            retry_at: now + wait,
            last: failure.clone(),
        };
        self.wake = Some(now + wait);
        self.events.push(RegEvent::Failed {
            failure,
            retry_in: wait,
        });
    }

    /// The expiry granted to our binding: its `expires` parameter, else the Expires header,
    /// else what we asked for. 0 when the response lists contacts but not ours.
    fn granted_expires(&self, resp: &Message) -> u32 {
        let header = resp
            .header_by(HeaderName::Expires)
            .and_then(|v| v.trim().parse::<u32>().ok());
        let mut any = false;
        if let Some(mine) = &self.contact {
            for c in resp.contacts() {
                any = true;
                if c.uri.rfc_eq(mine) || same_host_port_user(&c.uri, mine) {
                    return c.expires().or(header).unwrap_or(self.expires);
                }
            }
        }
        if any {
            return 0;
        }
        header.unwrap_or(self.expires)
    }
}

/// Some registrars rewrite parameters of the Contact; user, host and port identify it.
fn same_host_port_user(a: &Uri<&str>, b: &Uri<String>) -> bool {
    match (a, b) {
        (Uri::Sip(x), Uri::Sip(y)) => {
            x.user == y.user.as_deref()
                && x.host.eq_host(&y.host)
                && x.port.unwrap_or(5060) == y.port.unwrap_or(5060)
        }
        _ => false,
    }
}

fn reason(resp: &Message) -> String {
    match &resp.start {
        crate::sip::wire::StartLine::Response(s) => s.reason.clone(),
        crate::sip::wire::StartLine::Request(_) => String::new(),
    }
}

/// When to refresh a binding granted for `expires` seconds: 32 s before expiry for long
/// bindings, half way for short ones (never less than 1 s).
pub fn refresh_interval(expires: u32) -> Duration {
    let s = if expires >= 64 { expires - 32 } else { expires / 2 };
    Duration::from_secs(u64::from(s.max(1)))
}
