//! The SIP side of gatewayd: binds the SIP edge on the configured interface, runs the user
//! agent on it, registers every enabled account and publishes registration state to the
//! status page and stdout (`account NAME registered`, `account NAME registration failed: ...`).
//! On stop it unregisters, waiting at most [`UNREGISTER_WAIT`].
//!
//! Account changes apply live: [`run`] follows the configuration channel and [`reconcile`]s the
//! accounts the user agent runs with against each new configuration. Changed accounts register
//! again with the new settings (when the address of record, registrar or route changes, the old
//! binding is removed first, waiting at most [`REBIND_WAIT`]); removed or disabled accounts
//! unregister; new ones join and register; the others are left alone. Network settings (SIP
//! interface, port, transport, timers) apply at the next start.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::config::model::{Account, SipTransport};
use crate::sip::auth::Credentials;
use crate::sip::registration::{AccountConfig, RegEvent, RegFailure, RetryPolicy};
use crate::sip::transaction::TimerConfig;
use crate::sip::transport::{EdgeConfig, SipEdge, local_addr_toward};
use crate::sip::ua::driver::{self, UaHandle};
use crate::sip::ua::{AccountId, UaConfig, UaEvent, UserAgent};
use crate::web::status::{RegState, Status};

/// Prints an account line on stdout (where scripts and tests read it) and keeps it for the
/// page's log view.
macro_rules! say {
    ($level:ident, $($arg:tt)*) => {{
        let text = format!($($arg)*);
        println!("{text}");
        crate::web::logring::remember(crate::config::LogLevel::$level, text);
    }};
}

/// How long shutdown waits for the registrar to confirm unregistration.
pub const UNREGISTER_WAIT: Duration = Duration::from_secs(1);

/// How long a changed account waits for its old binding's removal before registering anew.
pub const REBIND_WAIT: Duration = Duration::from_secs(2);

/// Why the SIP side could not start.
#[derive(Debug)]
pub enum SipStartError {
    /// The SIP port could not be bound.
    Bind { addr: SocketAddr, err: std::io::Error },
    /// An account's URI could not be formed from its configuration.
    Account { name: String, what: &'static str },
}

impl std::fmt::Display for SipStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SipStartError::Bind { addr, err } => write!(f, "cannot bind SIP on {addr}: {err}"),
            SipStartError::Account { name, what } => write!(f, "account {name}: invalid {what}"),
        }
    }
}

impl std::error::Error for SipStartError {}

/// The running user agent of gatewayd.
pub struct SipAgent {
    pub handle: UaHandle,
    /// The interface address of the SIP socket (Via and Contact carry what `crate::nat`
    /// advertises).
    pub local: SocketAddr,
    /// Configured account name of each user agent account that registers.
    pub accounts: Vec<(AccountId, String)>,
    /// Every enabled account (registering or not) by configured name, for calls. Kept up to
    /// date as the configuration changes.
    pub account_ids: Arc<Mutex<HashMap<String, AccountId>>>,
    /// The enabled accounts in the user agent with the settings they run with.
    running: HashMap<String, (AccountId, Account)>,
    /// User agent accounts of removed accounts, reused for new ones.
    free: Vec<AccountId>,
    /// Accounts whose binding is being removed, and what follows.
    unbinding: HashMap<AccountId, Unbinding>,
    events: Option<UnboundedReceiver<UaEvent>>,
    task: JoinHandle<()>,
    /// Keeps the SIP socket's public mapping (STUN), when configured.
    nat: Option<JoinHandle<()>>,
    /// Asks it to query again at once (a registration failed).
    nat_recheck: std::sync::Arc<tokio::sync::Notify>,
}

/// An account unregistering before it takes new settings (`then`) or leaves (`then: None`).
#[derive(Debug)]
struct Unbinding {
    name: String,
    then: Option<Account>,
    deadline: tokio::time::Instant,
}

/// What a new configuration does to one account.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountChange {
    /// New or newly enabled: joins the user agent, and registers when it should.
    Add(Account),
    /// Removed or disabled: unregisters and leaves.
    Remove(String),
    /// Its SIP settings changed. `rebind`: the binding itself (address of record, registrar
    /// or the route to it) changed, so the old one is removed before registering anew.
    Update { account: Account, rebind: bool },
}

/// The settings that make up an account's binding.
fn binding_key(a: &Account) -> [&str; 5] {
    [&a.user, &a.domain, &a.registrar, &a.proxy, &a.outbound_proxy]
}

/// Whether two versions of an account differ in anything the user agent uses.
fn sip_differs(a: &Account, b: &Account) -> bool {
    binding_key(a) != binding_key(b)
        || a.display_name != b.display_name
        || a.auth_user != b.auth_user
        || a.password != b.password
        || a.register != b.register
        || a.expires_s != b.expires_s
}

/// The changes that take the accounts the user agent runs with (`running`, enabled ones)
/// to those of a new configuration: removals first, then updates, then additions, each in
/// configuration order. Accounts whose SIP settings are unchanged do not appear.
pub fn reconcile(running: &[Account], new: &[Account]) -> Vec<AccountChange> {
    let enabled: Vec<&Account> = new.iter().filter(|a| a.enabled).collect();
    let mut out: Vec<AccountChange> = running
        .iter()
        .filter(|r| !enabled.iter().any(|a| a.name == r.name))
        .map(|r| AccountChange::Remove(r.name.clone()))
        .collect();
    let mut adds = Vec::new();
    for a in enabled {
        match running.iter().find(|r| r.name == a.name) {
            Some(r) if sip_differs(r, a) => out.push(AccountChange::Update {
                account: a.clone(),
                rebind: binding_key(r) != binding_key(a),
            }),
            Some(_) => {}
            None => adds.push(AccountChange::Add(a.clone())),
        }
    }
    out.extend(adds);
    out
}

/// `host[:port]` split into host and port (IPv6 literals in brackets).
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (h, port);
        }
        return (s, None);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (s, None),
    }
}

fn sip_uri(host_port: &str) -> String {
    let hp = host_port.trim();
    if hp.starts_with("sip:") || hp.starts_with("sips:") {
        hp.to_string()
    } else {
        format!("sip:{hp}")
    }
}

/// The user agent's account for a configured account.
pub fn account_config(a: &Account) -> Result<AccountConfig, SipStartError> {
    let bad = |what| SipStartError::Account {
        name: a.name.clone(),
        what,
    };
    let registrar = if a.registrar.trim().is_empty() {
        &a.domain
    } else {
        &a.registrar
    };
    let aor = format!("sip:{}@{}", a.user, a.domain)
        .parse()
        .map_err(|_| bad("user or domain"))?;
    let registrar = sip_uri(registrar).parse().map_err(|_| bad("registrar"))?;
    // Requests go through the outbound proxy when set, else through the account's proxy, else
    // (calls as well as registrations) through the registrar when it is not the domain itself.
    let registrar_hop = (a.registrar.trim() != a.domain.trim()).then_some(&a.registrar);
    let via = [Some(&a.outbound_proxy), Some(&a.proxy), registrar_hop]
        .into_iter()
        .flatten()
        .find(|s| !s.trim().is_empty());
    let outbound_proxy = match via {
        None => None,
        Some(p) => Some(sip_uri(p).parse().map_err(|_| bad("outbound proxy"))?),
    };
    let credentials = (!a.password.is_empty()).then(|| Credentials {
        username: if a.auth_user.is_empty() {
            a.user.clone()
        } else {
            a.auth_user.clone()
        },
        password: a.password.clone(),
        realm: None,
    });
    Ok(AccountConfig {
        aor,
        display_name: (!a.display_name.is_empty()).then(|| a.display_name.clone()),
        registrar,
        credentials,
        expires: a.expires_s,
        outbound_proxy,
        retry: RetryPolicy::default(),
        user_agent: None,
    })
}

/// The host the first request of an account goes to: outbound proxy, else proxy, else
/// registrar, else domain.
fn first_hop(a: &Account) -> &str {
    [&a.outbound_proxy, &a.proxy, &a.registrar, &a.domain]
        .into_iter()
        .find(|s| !s.trim().is_empty())
        .map(|s| s.trim().trim_start_matches("sip:"))
        .unwrap_or("")
}

impl SipAgent {
    /// Binds the SIP edge and starts the user agent; accounts are added but not registered
    /// (see [`SipAgent::register_all`]).
    pub async fn start(cfg: &Config) -> Result<SipAgent, SipStartError> {
        let bind = SocketAddr::new(cfg.network.interface, cfg.network.sip_port);
        let edge_cfg = EdgeConfig {
            bind,
            tcp: cfg.network.sip_transport == SipTransport::Tcp,
            ..EdgeConfig::default()
        };
        let (edge, inbound) = SipEdge::bind(edge_cfg)
            .await
            .map_err(|err| SipStartError::Bind { addr: bind, err })?;
        let bound = edge.udp_local_addr();
        let enabled: Vec<&Account> = cfg.accounts.iter().filter(|a| a.enabled).collect();
        let ip = if bound.ip().is_unspecified() {
            // The real interface address toward the first registrar (IP literals only here).
            enabled
                .iter()
                .find_map(|a| {
                    let (h, p) = split_host_port(first_hop(a));
                    let dest = SocketAddr::new(h.parse::<IpAddr>().ok()?, p.unwrap_or(5060));
                    local_addr_toward(dest, None).ok()
                })
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            bound.ip()
        };
        let local = SocketAddr::new(ip, bound.port());
        // Via and Contact carry the public address (`crate::nat`); `local` stays the interface's.
        let nat = crate::nat::edge::SipNat::start(&cfg.nat, &edge, local).await;
        let mut uc = UaConfig::new(nat.advertised());
        // Call-IDs, tags and branches differ from one start to the next: a registrar refuses
        // a restarted gateway's REGISTER that reuses the last Call-ID with a lower CSeq.
        uc.seed = rand::random();
        if cfg.network.sip_transport == SipTransport::Tcp {
            uc.transport = crate::sip::transport::TransportKind::Tcp;
        }
        uc.keepalive =
            (cfg.nat.keepalive_s != 0).then(|| Duration::from_secs(u64::from(cfg.nat.keepalive_s)));
        uc.timers = TimerConfig {
            t1: Duration::from_millis(u64::from(cfg.network.t1_ms.max(1))),
            t2: Duration::from_millis(u64::from(cfg.network.t2_ms.max(1))),
            t4: Duration::from_millis(u64::from(cfg.network.t4_ms.max(1))),
            ..TimerConfig::default()
        };
        let mut ua = UserAgent::new(uc);
        let mut running = HashMap::new();
        for a in &enabled {
            // A malformed account is reported and left out; the others still work.
            match account_config(a) {
                Ok(ac) => {
                    let id = ua.add_account(ac);
                    running.insert(a.name.clone(), (id, (*a).clone()));
                }
                Err(e) => say!(Warn, "account {} registration failed: {e}", a.name),
            }
        }
        let (handle, events, task) = driver::spawn(ua, edge, inbound);
        // `[log] sip_trace` decides, live, whether these reach the log.
        handle.set_trace(Arc::new(|dir, transport, peer, data: &[u8]| {
            crate::web::logring::sip_message(dir == driver::TraceDir::Sent, transport.as_str(), peer, data)
        }));
        let nat_recheck = nat.recheck_handle();
        let nat = nat.spawn(handle.clone());
        for a in &enabled {
            resolve_hosts(&handle, a).await;
        }
        let mut agent = SipAgent {
            handle,
            local,
            accounts: Vec::new(),
            account_ids: Arc::new(Mutex::new(HashMap::new())),
            running,
            free: Vec::new(),
            unbinding: HashMap::new(),
            events: Some(events),
            task,
            nat,
            nat_recheck,
        };
        agent.publish_ids();
        Ok(agent)
    }

    /// Brings `accounts` and `account_ids` in line with `running`.
    fn publish_ids(&mut self) {
        let mut regs: Vec<(AccountId, String)> = self
            .running
            .iter()
            .filter(|(_, (_, a))| a.register)
            .map(|(n, (id, _))| (*id, n.clone()))
            .collect();
        regs.sort_by_key(|(id, _)| id.0);
        self.accounts = regs;
        let ids = self.running.iter().map(|(n, (id, _))| (n.clone(), *id)).collect();
        if let Ok(mut m) = self.account_ids.lock() {
            *m = ids;
        }
    }

    /// Applies a new configuration's accounts (see [`reconcile`]); returns what changed.
    pub async fn apply_config(&mut self, cfg: &Config, status: &Mutex<Status>) -> Vec<AccountChange> {
        let running: Vec<Account> = self.running.values().map(|(_, a)| a.clone()).collect();
        let changes = reconcile(&running, &cfg.accounts);
        for ch in &changes {
            match ch {
                AccountChange::Remove(name) => {
                    if let Some((id, _)) = self.running.remove(name) {
                        say!(Info, "account {name} removed");
                        self.unbind(id, name, None);
                    }
                    // A disabled account stays on the page; a removed one is gone from it.
                    if cfg.accounts.iter().any(|a| a.name == *name)
                        && let Ok(mut st) = status.lock()
                    {
                        st.set_registration(name, RegState::Disabled, "");
                    }
                }
                AccountChange::Update { account, rebind } => {
                    let Some((id, old)) = self.running.get(&account.name).cloned() else {
                        continue;
                    };
                    say!(Info, "account {} changed", account.name);
                    self.running.insert(account.name.clone(), (id, account.clone()));
                    let bound = self.handle.with(|ua, _| {
                        !matches!(
                            ua.registration_state(id),
                            None | Some(
                                crate::sip::registration::RegState::Idle
                                    | crate::sip::registration::RegState::Unregistered
                                    | crate::sip::registration::RegState::Backoff { .. }
                            )
                        )
                    });
                    if let Some(u) = self.unbinding.get_mut(&id) {
                        // Already unregistering: the newest settings follow.
                        u.then = Some(account.clone());
                    } else if old.register && bound && (*rebind || !account.register) {
                        self.unbind(id, &account.name, Some(account.clone()));
                        if account.register
                            && let Ok(mut st) = status.lock()
                        {
                            st.set_registration(&account.name, RegState::Registering, "");
                        }
                    } else {
                        self.take_settings(id, account, status).await;
                    }
                }
                AccountChange::Add(account) => {
                    let ac = match account_config(account) {
                        Ok(ac) => ac,
                        Err(e) => {
                            say!(Warn, "account {} registration failed: {e}", account.name);
                            if let Ok(mut st) = status.lock() {
                                st.set_registration(&account.name, RegState::Failed, e.to_string());
                            }
                            continue;
                        }
                    };
                    let id = match self.free.pop() {
                        Some(id) => {
                            let _ = self.handle.with(|ua, _| ua.update_account(id, ac));
                            id
                        }
                        None => self.handle.with(|ua, _| ua.add_account(ac)),
                    };
                    say!(Info, "account {} added", account.name);
                    self.running.insert(account.name.clone(), (id, account.clone()));
                    resolve_hosts(&self.handle, account).await;
                    self.start_registration(id, account, status);
                }
            }
        }
        self.publish_ids();
        changes
    }

    /// Unregisters `id`, then gives it `then` (or frees it) once the registrar confirms or
    /// [`REBIND_WAIT`] passes.
    fn unbind(&mut self, id: AccountId, name: &str, then: Option<Account>) {
        if let Some(u) = self.unbinding.get_mut(&id) {
            u.then = then;
            return;
        }
        let r = self.handle.with(|ua, now| ua.unregister(now, id));
        if r.is_err() {
            return;
        }
        self.unbinding.insert(
            id,
            Unbinding {
                name: name.to_string(),
                then,
                deadline: tokio::time::Instant::now() + REBIND_WAIT,
            },
        );
    }

    /// The old binding of `id` is gone (or the wait is over): on to what follows.
    async fn unbound(&mut self, id: AccountId, status: &Mutex<Status>) {
        let Some(u) = self.unbinding.remove(&id) else {
            return;
        };
        match u.then {
            Some(a) => self.take_settings(id, &a, status).await,
            None => self.free.push(id),
        }
    }

    /// Gives user agent account `id` the settings of `a` and registers it when it should.
    async fn take_settings(&mut self, id: AccountId, a: &Account, status: &Mutex<Status>) {
        match account_config(a) {
            Ok(ac) => {
                let _ = self.handle.with(|ua, _| ua.update_account(id, ac));
                resolve_hosts(&self.handle, a).await;
                self.start_registration(id, a, status);
            }
            Err(e) => {
                // Left out until a later change makes it valid.
                say!(Warn, "account {} registration failed: {e}", a.name);
                self.running.remove(&a.name);
                self.free.push(id);
                self.publish_ids();
                if let Ok(mut st) = status.lock() {
                    st.set_registration(&a.name, RegState::Failed, e.to_string());
                }
            }
        }
    }

    fn start_registration(&self, id: AccountId, a: &Account, status: &Mutex<Status>) {
        let state = if a.register {
            match self.handle.with(|ua, now| ua.register(now, id)) {
                Ok(()) => RegState::Registering,
                Err(e) => {
                    say!(Warn, "account {} registration failed: {e}", a.name);
                    RegState::Failed
                }
            }
        } else {
            RegState::Disabled
        };
        if let Ok(mut st) = status.lock() {
            st.set_registration(&a.name, state, "");
        }
    }

    /// The earliest deadline of an unbinding account.
    fn next_unbind_deadline(&self) -> Option<tokio::time::Instant> {
        self.unbinding.values().map(|u| u.deadline).min()
    }

    /// Handles a registration event: an unbinding account's progress, else news for the page.
    async fn on_registration(&mut self, id: AccountId, ev: &RegEvent, status: &Mutex<Status>) {
        if matches!(ev, RegEvent::Failed { .. }) {
            // The router may have a new public address: learn it before the retry.
            self.nat_recheck.notify_one();
        }
        if let Some(u) = self.unbinding.get(&id) {
            if matches!(ev, RegEvent::Unregistered) {
                say!(Info, "account {} unregistered", u.name);
                self.unbound(id, status).await;
            }
            return;
        }
        if let Some(n) = self.account_name(id) {
            let aor = self
                .handle
                .with(|ua, _| ua.account_config(id).map(|c| c.aor.to_string()));
            publish_aor(status, n, aor.as_deref(), ev);
        }
    }

    /// Sends the first REGISTER of every account.
    pub fn register_all(&self) {
        for (id, name) in &self.accounts {
            let r = self.handle.with(|ua, now| ua.register(now, *id));
            if let Err(e) = r {
                say!(Warn, "account {name} registration failed: {e:?}");
            }
        }
    }

    /// Takes the user agent's event stream (once).
    pub fn take_events(&mut self) -> Option<UnboundedReceiver<UaEvent>> {
        self.events.take()
    }

    /// The configured name of a user agent account.
    pub fn account_name(&self, id: AccountId) -> Option<&str> {
        self.accounts
            .iter()
            .find(|(a, _)| *a == id)
            .map(|(_, n)| n.as_str())
    }

    /// Unregisters every account, waiting at most [`UNREGISTER_WAIT`] for the registrar,
    /// reading registration events from `events`; then stops the user agent loop.
    pub async fn shutdown(self, events: &mut UnboundedReceiver<UaEvent>, status: &Mutex<Status>) {
        let names: HashMap<AccountId, String> = self.accounts.iter().cloned().collect();
        let mut pending: Vec<AccountId> = self
            .accounts
            .iter()
            .filter(|(id, _)| {
                self.handle.with(|ua, _| {
                    matches!(
                        ua.registration_state(*id),
                        Some(crate::sip::registration::RegState::Registered { .. })
                            | Some(crate::sip::registration::RegState::Refreshing { .. })
                    )
                })
            })
            .map(|(id, _)| *id)
            .collect();
        self.handle.with(|ua, now| ua.unregister_all(now));
        let deadline = tokio::time::Instant::now() + UNREGISTER_WAIT;
        while !pending.is_empty() {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(UaEvent::Registration { account, event })) => {
                    if matches!(event, RegEvent::Unregistered) {
                        pending.retain(|a| *a != account);
                    }
                    if let Some(n) = names.get(&account) {
                        publish(status, n, &event);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        self.task.abort();
        if let Some(t) = self.nat {
            t.abort();
        }
    }
}

/// Text of a registration failure for stdout and the status page.
pub fn failure_text(f: &RegFailure) -> String {
    match f {
        RegFailure::Timeout => "no response from the registrar".into(),
        RegFailure::Transport => "transport error".into(),
        RegFailure::Status(code, reason) => format!("{code} {reason}"),
        RegFailure::Auth(e) => format!("challenge not answerable: {e:?}"),
        RegFailure::CredentialsRejected => "credentials rejected".into(),
        RegFailure::NoCredentials => "registrar asks for credentials and none are configured".into(),
    }
}

/// Prints a registration event and sets the account's entry of the status page.
pub fn publish(status: &Mutex<Status>, name: &str, ev: &RegEvent) {
    publish_aor(status, name, None, ev);
}

/// [`publish`], with the registered address of record in the page's detail.
pub fn publish_aor(status: &Mutex<Status>, name: &str, aor: Option<&str>, ev: &RegEvent) {
    let (state, detail) = match ev {
        RegEvent::Registered { expires } => {
            say!(Info, "account {name} registered");
            let refresh = if *expires >= 64 { expires - 32 } else { expires / 2 };
            let at = aor.map(|a| format!("{a}, ")).unwrap_or_default();
            (
                RegState::Registered,
                format!("{at}expires in {expires} s, refresh in {refresh} s"),
            )
        }
        RegEvent::Failed { failure, retry_in } => {
            let why = failure_text(failure);
            say!(Warn, "account {name} registration failed: {why}");
            (
                RegState::Failed,
                format!("{why}; retry in {} s", retry_in.as_secs()),
            )
        }
        RegEvent::Unregistered => {
            say!(Info, "account {name} unregistered");
            (RegState::Unregistered, String::new())
        }
    };
    if let Ok(mut st) = status.lock() {
        st.set_registration(name, state, detail);
    }
}

/// Marks the accounts being registered on the status page.
pub fn mark_registering(status: &Mutex<Status>, agent: &SipAgent) {
    if let Ok(mut st) = status.lock() {
        for (_, n) in &agent.accounts {
            st.set_registration(n, RegState::Registering, "");
        }
    }
}

/// Host names among an account's next hops, resolved when it joins (IP literals need nothing).
async fn resolve_hosts(handle: &UaHandle, a: &Account) {
    for hp in [&a.outbound_proxy, &a.proxy, &a.registrar, &a.domain] {
        let (h, p) = split_host_port(hp.trim().trim_start_matches("sip:"));
        if !h.is_empty()
            && h.parse::<IpAddr>().is_err()
            && let Err(e) = handle.resolve(h, p.unwrap_or(5060)).await
        {
            eprintln!("gatewayd: account {}: cannot resolve {h}: {e}", a.name);
        }
    }
}

/// Runs until `stop` fires: publishes registration events, applies each new configuration
/// from `config` to the accounts; other events are handed to `other`. Then unregisters
/// (bounded) and stops the user agent.
pub async fn run(
    mut agent: SipAgent,
    status: Arc<Mutex<Status>>,
    mut config: tokio::sync::watch::Receiver<Arc<Config>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut other: impl FnMut(&SipAgent, UaEvent, Instant),
) {
    let Some(mut events) = agent.take_events() else {
        return;
    };
    mark_registering(&status, &agent);
    agent.register_all();
    // The configuration the agent started from may already have been replaced.
    config.mark_changed();
    let mut config_open = true;
    loop {
        let unbind_deadline = agent.next_unbind_deadline();
        tokio::select! {
            _ = stop.changed() => break,
            r = config.changed(), if config_open => {
                if r.is_err() {
                    config_open = false;
                    continue;
                }
                let cfg = config.borrow_and_update().clone();
                agent.apply_config(&cfg, &status).await;
            }
            _ = tokio::time::sleep_until(unbind_deadline.unwrap_or_else(tokio::time::Instant::now)),
                if unbind_deadline.is_some() => {
                let now = tokio::time::Instant::now();
                let due: Vec<AccountId> = agent
                    .unbinding
                    .iter()
                    .filter(|(_, u)| u.deadline <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in due {
                    agent.unbound(id, &status).await;
                }
            }
            ev = events.recv() => match ev {
                Some(UaEvent::Registration { account, event }) => {
                    agent.on_registration(account, &event, &status).await;
                }
                Some(ev) => other(&agent, ev, Instant::now()),
                None => break,
            },
        }
    }
    agent.shutdown(&mut events, &status).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("127.0.0.1:5070"), ("127.0.0.1", Some(5070)));
        assert_eq!(split_host_port("example.net"), ("example.net", None));
        assert_eq!(split_host_port("[::1]:5062"), ("::1", Some(5062)));
    }

    #[test]
    fn account_uris() {
        let a = Account {
            name: "main".into(),
            enabled: true,
            user: "1001".into(),
            domain: "127.0.0.1".into(),
            outbound_proxy: "127.0.0.1:5070".into(),
            password: "secret".into(),
            register: true,
            expires_s: 600,
            ..Account::default()
        };
        let c = account_config(&a).unwrap();
        assert_eq!(c.aor.to_string(), "sip:1001@127.0.0.1");
        assert_eq!(c.registrar.to_string(), "sip:127.0.0.1");
        assert_eq!(c.outbound_proxy.unwrap().to_string(), "sip:127.0.0.1:5070");
        assert_eq!(c.credentials.unwrap().username, "1001");
        // Without a proxy, calls go through the registrar (not to the domain's port 5060).
        let b = Account {
            outbound_proxy: String::new(),
            domain: "example.net".into(),
            registrar: "127.0.0.1:5070".into(),
            ..a.clone()
        };
        let c = account_config(&b).unwrap();
        assert_eq!(c.outbound_proxy.unwrap().to_string(), "sip:127.0.0.1:5070");
        let d = Account {
            outbound_proxy: String::new(),
            registrar: String::new(),
            ..a
        };
        assert!(account_config(&d).unwrap().outbound_proxy.is_none());
    }

    fn acct(name: &str, user: &str, password: &str) -> Account {
        Account {
            name: name.into(),
            enabled: true,
            user: user.into(),
            domain: "127.0.0.1".into(),
            password: password.into(),
            register: true,
            expires_s: 600,
            ..Account::default()
        }
    }

    #[test]
    fn reconcile_names_only_what_changed() {
        let main = acct("main", "1001", "pw1");
        let trunk = Account {
            register: false,
            ..acct("trunk", "trunk", "")
        };
        let running = vec![main.clone(), trunk.clone()];
        // Same settings: nothing to do.
        assert!(reconcile(&running, &[main.clone(), trunk.clone()]).is_empty());
        // Settings the user agent does not use: nothing either.
        let mut t2 = trunk.clone();
        t2.trunk_profile = crate::config::model::TrunkProfile::SipT;
        assert!(reconcile(&running, &[main.clone(), t2]).is_empty());
        // New password, same binding.
        let m2 = acct("main", "1001", "pw2");
        assert_eq!(
            reconcile(&running, &[m2.clone(), trunk.clone()]),
            vec![AccountChange::Update {
                account: m2,
                rebind: false
            }]
        );
        // Expiry alone re-registers without rebinding.
        let mut m3 = main.clone();
        m3.expires_s = 300;
        assert_eq!(
            reconcile(&running, &[m3.clone(), trunk.clone()]),
            vec![AccountChange::Update {
                account: m3,
                rebind: false
            }]
        );
        // Another user (address of record) or registrar: the old binding goes first.
        let m4 = acct("main", "1002", "pw2");
        let mut m5 = main.clone();
        m5.registrar = "127.0.0.1:5070".into();
        for m in [m4, m5] {
            assert_eq!(
                reconcile(&running, &[m.clone(), trunk.clone()]),
                vec![AccountChange::Update {
                    account: m,
                    rebind: true
                }]
            );
        }
        // Disabled and removed accounts leave; a new one joins; removals come first.
        let off = Account {
            enabled: false,
            ..main.clone()
        };
        let extra = acct("extra", "1003", "pw3");
        assert_eq!(
            reconcile(&running, &[extra.clone(), off]),
            vec![
                AccountChange::Remove("main".into()),
                AccountChange::Remove("trunk".into()),
                AccountChange::Add(extra.clone()),
            ]
        );
        // Registration switched on for a trunk.
        let mut t3 = trunk.clone();
        t3.register = true;
        assert_eq!(
            reconcile(&running, &[main.clone(), t3.clone(), extra.clone()]),
            vec![
                AccountChange::Update {
                    account: t3,
                    rebind: false
                },
                AccountChange::Add(extra),
            ]
        );
    }

    mod ua_accounts {
        use std::net::SocketAddr;
        use std::time::Instant;

        use crate::sip::registration::RegState as UaRegState;
        use crate::sip::transport::{Inbound, TransportKind};
        use crate::sip::ua::{UaConfig, UaOutput, UserAgent};
        use crate::sip::wire::Message;

        use super::*;

        const REGISTRAR: &str = "127.0.0.1:5060";

        fn registers(ua: &mut UserAgent) -> Vec<Message> {
            let mut v = Vec::new();
            while let Some(o) = ua.poll_output() {
                if let UaOutput::Send { msg, .. } = o
                    && msg.method().is_some_and(|m| m.as_str() == "REGISTER")
                {
                    v.push(msg);
                }
            }
            v
        }

        fn answer(ua: &mut UserAgent, now: Instant, req: &Message, code: u16) {
            let mut r = req.make_response(code, Some("reg"));
            if code == 200
                && let Some(c) = req.header("Contact")
            {
                r.push_named("Contact", c);
            }
            let inb = Inbound {
                transport: TransportKind::Udp,
                source: REGISTRAR.parse::<SocketAddr>().unwrap(),
                local: "127.0.0.1:5062".parse().unwrap(),
                conn: None,
                data: r.to_bytes(),
            };
            ua.handle_inbound(now, &inb);
        }

        fn registrar_acct(user: &str, password: &str) -> Account {
            Account {
                domain: REGISTRAR.into(),
                ..acct("main", user, password)
            }
        }

        fn cseq(m: &Message) -> u32 {
            m.cseq().unwrap().seq
        }

        #[test]
        fn updated_account_registers_the_same_binding_with_new_settings() {
            let now = Instant::now();
            let mut ua = UserAgent::new(UaConfig::new("127.0.0.1:5062".parse().unwrap()));
            let id = ua.add_account(account_config(&registrar_acct("1001", "pw1")).unwrap());
            ua.register(now, id).unwrap();
            let r1 = registers(&mut ua).pop().unwrap();
            answer(&mut ua, now, &r1, 200);
            assert!(ua.registration_state(id).unwrap().is_registered());

            // New expiry: same Call-ID, higher CSeq, so the registrar updates the binding.
            let mut changed = registrar_acct("1001", "pw1");
            changed.expires_s = 120;
            ua.update_account(id, account_config(&changed).unwrap()).unwrap();
            assert_eq!(ua.registration_state(id), Some(&UaRegState::Idle));
            ua.register(now, id).unwrap();
            let r2 = registers(&mut ua).pop().unwrap();
            assert_eq!(r2.call_id(), r1.call_id());
            assert!(cseq(&r2) > cseq(&r1));
            assert_eq!(r2.header("Expires"), Some("120"));

            // Replaced again while that REGISTER is outstanding: its late answer is ignored.
            ua.update_account(id, account_config(&changed).unwrap()).unwrap();
            answer(&mut ua, now, &r2, 200);
            assert_eq!(ua.registration_state(id), Some(&UaRegState::Idle));
            ua.register(now, id).unwrap();
            let r3 = registers(&mut ua).pop().unwrap();
            assert!(cseq(&r3) > cseq(&r2));
            answer(&mut ua, now, &r3, 200);
            assert!(ua.registration_state(id).unwrap().is_registered());

            // One account unregisters alone; another user then registers on the same id.
            let other = ua.add_account(account_config(&registrar_acct("1009", "")).unwrap());
            ua.unregister(now, id).unwrap();
            let u = registers(&mut ua).pop().unwrap();
            assert_eq!(u.header("Expires"), Some("0"));
            assert!(u.header("To").unwrap().contains("1001@"));
            answer(&mut ua, now, &u, 200);
            assert_eq!(ua.registration_state(id), Some(&UaRegState::Unregistered));
            assert_eq!(ua.registration_state(other), Some(&UaRegState::Idle));
            ua.update_account(id, account_config(&registrar_acct("1002", "pw2")).unwrap())
                .unwrap();
            ua.register(now, id).unwrap();
            let r4 = registers(&mut ua).pop().unwrap();
            assert!(r4.header("To").unwrap().contains("1002@"));
            assert!(cseq(&r4) > cseq(&u));
            assert!(ua.unregister(now, crate::sip::ua::AccountId(99)).is_err());
        }
    }
}
