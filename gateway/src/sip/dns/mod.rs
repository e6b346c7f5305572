//! Locating SIP servers (RFC 3263): from a SIP URI to an ordered list of (transport, address)
//! targets, with failover to the next one.
//!
//! - [`DnsResolver`]: the three lookups RFC 3263 needs (NAPTR, SRV, A/AAAA). [`HickoryDns`]
//!   implements it with `hickory-resolver`; tests use an in-memory resolver.
//! - [`locate`]: the RFC 3263 section 4 procedure: numeric host used directly; explicit port ->
//!   A/AAAA; else NAPTR (optional) -> SRV (ordered by priority, weighted per RFC 2782) -> A/AAAA;
//!   no SRV -> A/AAAA on the default port.
//! - [`order_srv`]: the RFC 2782 ordering, with the random source injected.
//! - [`TargetList`]: the result, consumed one target at a time; [`TargetList::failover`] moves
//!   to the next target after a transaction timeout, a transport error or a 503 (4.3).

pub mod hickory;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use rand::Rng;

use super::transport::TransportKind;

pub use hickory::HickoryDns;

/// One SRV record (RFC 2782).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Target host name, without the trailing dot; "." (service absent) is given as "".
    pub target: String,
}

/// One NAPTR record (RFC 3403), as RFC 3263 uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaptrRecord {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    /// The SRV name to query, without the trailing dot.
    pub replacement: String,
}

/// Why resolution failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// The host name is not a valid DNS name.
    InvalidName(String),
    /// The resolver could not get an answer (timeout, SERVFAIL, no server reachable).
    LookupFailed { name: String, kind: LookupFailure },
    /// Every lookup succeeded but produced no usable address.
    NoTargets(String),
    /// The URI asks for a transport this endpoint does not run.
    UnsupportedTransport(TransportKind),
    /// The system resolver configuration could not be read.
    Config,
}

/// Resolver failure classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupFailure {
    Timeout,
    ServerFailure,
    Other,
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::InvalidName(n) => write!(f, "invalid DNS name {n:?}"),
            DnsError::LookupFailed { name, kind } => write!(f, "lookup of {name} failed ({kind:?})"),
            DnsError::NoTargets(n) => write!(f, "no SIP targets for {n}"),
            DnsError::UnsupportedTransport(t) => write!(f, "transport {t} not supported"),
            DnsError::Config => f.write_str("cannot read the resolver configuration"),
        }
    }
}

impl std::error::Error for DnsError {}

/// The lookups RFC 3263 needs. An empty answer (NXDOMAIN, NODATA) is `Ok(vec![])`; `Err` is
/// kept for failures to get an answer.
pub trait DnsResolver {
    fn naptr(&self, name: &str) -> impl Future<Output = Result<Vec<NaptrRecord>, DnsError>> + Send;
    fn srv(&self, name: &str) -> impl Future<Output = Result<Vec<SrvRecord>, DnsError>> + Send;
    /// A and AAAA records of `name`.
    fn ip(&self, name: &str) -> impl Future<Output = Result<Vec<IpAddr>, DnsError>> + Send;
}

/// What [`locate`] needs from a SIP or SIPS URI (or a Route/outbound proxy URI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipTarget {
    /// Host: a name or an IP literal (IPv6 with or without brackets).
    pub host: String,
    pub port: Option<u16>,
    /// The `transport=` parameter.
    pub transport: Option<TransportKind>,
    /// `sips:` URI.
    pub secure: bool,
    /// The `maddr` parameter, which replaces the host (4.1).
    pub maddr: Option<String>,
}

impl SipTarget {
    /// A target for `host` with nothing else specified.
    pub fn host(host: &str) -> Self {
        SipTarget {
            host: host.to_string(),
            port: None,
            transport: None,
            secure: false,
            maddr: None,
        }
    }
}

/// One place to send a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub transport: TransportKind,
    pub addr: SocketAddr,
}

/// Targets in the order to try them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetList {
    targets: Vec<Target>,
    pos: usize,
}

impl TargetList {
    pub fn new(targets: Vec<Target>) -> Self {
        TargetList { targets, pos: 0 }
    }

    /// The target to use now.
    pub fn current(&self) -> Option<&Target> {
        self.targets.get(self.pos)
    }

    /// Moves to the next target after a failure (transaction timeout, transport error, 503);
    /// `None` when all have been tried. The new request needs a new branch (new transaction).
    pub fn failover(&mut self) -> Option<&Target> {
        if self.pos < self.targets.len() {
            self.pos += 1;
        }
        self.current()
    }

    /// Targets not tried yet, the current one included.
    pub fn remaining(&self) -> &[Target] {
        &self.targets[self.pos.min(self.targets.len())..]
    }

    pub fn all(&self) -> &[Target] {
        &self.targets
    }

    /// True if a response with this status should make the client try the next target (4.3).
    pub fn is_failover_status(status: u16) -> bool {
        status == 503
    }
}

/// Orders SRV records per RFC 2782: by priority, and within a priority by weighted random
/// selection (records of weight 0 have a small chance). Records with target "." are dropped.
pub fn order_srv<R: Rng + ?Sized>(records: &[SrvRecord], rng: &mut R) -> Vec<SrvRecord> {
    let mut rest: Vec<SrvRecord> = records.iter().filter(|r| !r.target.is_empty()).cloned().collect();
    rest.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let prio = rest[0].priority;
        let n = rest.iter().take_while(|r| r.priority == prio).count();
        let mut group: Vec<SrvRecord> = rest.drain(..n).collect();
        // Zero-weight records first, as 2782 asks, so they are picked only when drawn at 0.
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| r.weight as u32).sum();
            let pick = if total == 0 { 0 } else { rng.gen_range(0..=total) };
            let mut running = 0u32;
            let idx = group
                .iter()
                .position(|r| {
                    running += r.weight as u32;
                    running >= pick
                })
                .unwrap_or(0);
            out.push(group.remove(idx));
        }
    }
    out
}

/// The SRV service name for a transport: `_sip._udp`, `_sip._tcp` or `_sips._tcp` (TLS).
pub fn srv_prefix(transport: TransportKind, secure: bool) -> &'static str {
    match (transport, secure) {
        (TransportKind::Tls, _) | (_, true) => "_sips._tcp",
        (TransportKind::Tcp, false) => "_sip._tcp",
        (TransportKind::Udp, false) => "_sip._udp",
    }
}

/// The NAPTR service field for a transport (RFC 3263 4.1).
fn naptr_service(service: &str) -> Option<TransportKind> {
    match service.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(TransportKind::Udp),
        "SIP+D2T" => Some(TransportKind::Tcp),
        "SIPS+D2T" => Some(TransportKind::Tls),
        _ => None,
    }
}

/// Options for [`locate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocateOptions {
    /// Transports this endpoint runs, in order of preference.
    pub transports: Vec<TransportKind>,
    /// Query NAPTR first (optional in RFC 3263 practice; SRV follows either way).
    pub use_naptr: bool,
}

impl Default for LocateOptions {
    fn default() -> Self {
        LocateOptions {
            transports: vec![TransportKind::Udp, TransportKind::Tcp],
            use_naptr: true,
        }
    }
}

/// RFC 3263 section 4: the ordered targets for `uri`.
pub async fn locate<D: DnsResolver, R: Rng + Send>(
    dns: &D,
    uri: &SipTarget,
    opts: &LocateOptions,
    rng: &mut R,
) -> Result<TargetList, DnsError> {
    let host_raw = uri.maddr.as_deref().unwrap_or(&uri.host);
    let host = host_raw
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    let supported = |t: TransportKind| opts.transports.contains(&t);
    if let Some(t) = uri.transport
        && !supported(t)
    {
        return Err(DnsError::UnsupportedTransport(t));
    }
    let default_transport = if uri.secure {
        TransportKind::Tls
    } else {
        TransportKind::Udp
    };
    // 4.1/4.2: a numeric address is used as is.
    if let Ok(ip) = host.parse::<IpAddr>() {
        let t = uri.transport.unwrap_or(default_transport);
        if !supported(t) {
            return Err(DnsError::UnsupportedTransport(t));
        }
        let port = uri.port.unwrap_or(t.default_port());
        return Ok(TargetList::new(vec![Target {
            transport: t,
            addr: SocketAddr::new(ip, port),
        }]));
    }
    if host.is_empty() || host.len() > 253 || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(DnsError::InvalidName(host.to_string()));
    }
    // An explicit port: A/AAAA only.
    if let Some(port) = uri.port {
        let t = uri.transport.unwrap_or(default_transport);
        if !supported(t) {
            return Err(DnsError::UnsupportedTransport(t));
        }
        let targets = addresses(dns, host, port, t).await?;
        return non_empty(targets, host);
    }
    // An explicit transport: its SRV records, else A/AAAA.
    if let Some(t) = uri.transport {
        let mut targets = srv_targets(dns, &format!("{}.{host}", srv_prefix(t, uri.secure)), t, rng).await?;
        if targets.is_empty() {
            targets = addresses(dns, host, t.default_port(), t).await?;
        }
        return non_empty(targets, host);
    }
    // NAPTR, when it yields anything usable.
    let mut targets = Vec::new();
    if opts.use_naptr {
        // NAPTR is optional: a failed query falls through to SRV.
        let mut naptr: Vec<(NaptrRecord, TransportKind)> = dns
            .naptr(host)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.flags.eq_ignore_ascii_case("s"))
            .filter_map(|r| naptr_service(&r.services).map(|t| (r, t)))
            .filter(|(_, t)| supported(*t) && (!uri.secure || *t == TransportKind::Tls))
            .collect();
        naptr.sort_by_key(|(r, t)| (r.order, r.preference, opts.transports.iter().position(|x| x == t)));
        for (r, t) in naptr {
            targets.extend(srv_targets(dns, &r.replacement, t, rng).await.unwrap_or_default());
        }
    }
    // No NAPTR: SRV for every supported transport, in preference order. A failed SRV query
    // counts as none found; the A/AAAA step below reports a resolver that is really down.
    if targets.is_empty() {
        for &t in &opts.transports {
            if uri.secure != (t == TransportKind::Tls) {
                continue;
            }
            let name = format!("{}.{host}", srv_prefix(t, uri.secure));
            targets.extend(srv_targets(dns, &name, t, rng).await.unwrap_or_default());
        }
    }
    // No SRV: A/AAAA on the default port.
    if targets.is_empty() {
        if !supported(default_transport) {
            return Err(DnsError::UnsupportedTransport(default_transport));
        }
        targets = addresses(dns, host, default_transport.default_port(), default_transport).await?;
    }
    non_empty(targets, host)
}

fn non_empty(targets: Vec<Target>, host: &str) -> Result<TargetList, DnsError> {
    if targets.is_empty() {
        Err(DnsError::NoTargets(host.to_string()))
    } else {
        Ok(TargetList::new(targets))
    }
}

async fn addresses<D: DnsResolver>(
    dns: &D,
    host: &str,
    port: u16,
    t: TransportKind,
) -> Result<Vec<Target>, DnsError> {
    Ok(dns
        .ip(host)
        .await?
        .into_iter()
        .map(|ip| Target {
            transport: t,
            addr: SocketAddr::new(ip, port),
        })
        .collect())
}

async fn srv_targets<D: DnsResolver, R: Rng + Send>(
    dns: &D,
    name: &str,
    t: TransportKind,
    rng: &mut R,
) -> Result<Vec<Target>, DnsError> {
    let records = dns.srv(name).await?;
    let mut out = Vec::new();
    for r in order_srv(&records, rng) {
        // One SRV target whose name does not resolve is skipped, not fatal: the next one may work.
        match dns.ip(&r.target).await {
            Ok(ips) => out.extend(ips.into_iter().map(|ip| Target {
                transport: t,
                addr: SocketAddr::new(ip, r.port),
            })),
            Err(_) => continue,
        }
    }
    Ok(out)
}
