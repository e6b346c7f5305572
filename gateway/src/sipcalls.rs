//! The SIP side of gatewayd: binds the SIP edge on the configured interface, runs the user
//! agent on it, registers every enabled account and publishes registration state to the
//! status page and stdout (`account NAME registered`, `account NAME registration failed: ...`).
//! On stop it unregisters, waiting at most [`UNREGISTER_WAIT`].

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

/// How long shutdown waits for the registrar to confirm unregistration.
pub const UNREGISTER_WAIT: Duration = Duration::from_secs(1);

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
    /// The address in Via and Contact.
    pub local: SocketAddr,
    /// Configured account name of each user agent account that registers.
    pub accounts: Vec<(AccountId, String)>,
    /// Every enabled account (registering or not) by configured name, for calls.
    pub account_ids: Arc<Mutex<HashMap<String, AccountId>>>,
    events: Option<UnboundedReceiver<UaEvent>>,
    task: JoinHandle<()>,
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
    // Requests go through the outbound proxy when set, else through the account's proxy.
    let via = [&a.outbound_proxy, &a.proxy]
        .into_iter()
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
        let mut uc = UaConfig::new(local);
        if cfg.network.sip_transport == SipTransport::Tcp {
            uc.transport = crate::sip::transport::TransportKind::Tcp;
        }
        uc.timers = TimerConfig {
            t1: Duration::from_millis(u64::from(cfg.network.t1_ms.max(1))),
            t2: Duration::from_millis(u64::from(cfg.network.t2_ms.max(1))),
            t4: Duration::from_millis(u64::from(cfg.network.t4_ms.max(1))),
            ..TimerConfig::default()
        };
        let mut ua = UserAgent::new(uc);
        let mut accounts = Vec::new();
        let mut account_ids = HashMap::new();
        for a in &enabled {
            // A malformed account is reported and left out; the others still work.
            match account_config(a) {
                Ok(ac) => {
                    let id = ua.add_account(ac);
                    account_ids.insert(a.name.clone(), id);
                    if a.register {
                        accounts.push((id, a.name.clone()));
                    }
                }
                Err(e) => println!("account {} registration failed: {e}", a.name),
            }
        }
        let (handle, events, task) = driver::spawn(ua, edge, inbound);
        // Host names among next hops: resolved once at start (IP literals need nothing).
        for a in &enabled {
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
        Ok(SipAgent {
            handle,
            local,
            accounts,
            account_ids: Arc::new(Mutex::new(account_ids)),
            events: Some(events),
            task,
        })
    }

    /// Sends the first REGISTER of every account.
    pub fn register_all(&self) {
        for (id, name) in &self.accounts {
            let r = self.handle.with(|ua, now| ua.register(now, *id));
            if let Err(e) = r {
                println!("account {name} registration failed: {e:?}");
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
    let (state, detail) = match ev {
        RegEvent::Registered { expires } => {
            println!("account {name} registered");
            let refresh = if *expires >= 64 { expires - 32 } else { expires / 2 };
            (
                RegState::Registered,
                format!("expires in {expires} s, refresh in {refresh} s"),
            )
        }
        RegEvent::Failed { failure, retry_in } => {
            let why = failure_text(failure);
            println!("account {name} registration failed: {why}");
            (
                RegState::Failed,
                format!("{why}; retry in {} s", retry_in.as_secs()),
            )
        }
        RegEvent::Unregistered => {
            println!("account {name} unregistered");
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

/// Runs until `stop` fires: publishes registration events; other events are handed to
/// `other`. Then unregisters (bounded) and stops the user agent.
pub async fn run(
    mut agent: SipAgent,
    status: Arc<Mutex<Status>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut other: impl FnMut(&SipAgent, UaEvent, Instant),
) {
    let Some(mut events) = agent.take_events() else {
        return;
    };
    mark_registering(&status, &agent);
    agent.register_all();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            ev = events.recv() => match ev {
                Some(UaEvent::Registration { account, event }) => {
                    if let Some(n) = agent.account_name(account) {
                        publish(&status, n, &event);
                    }
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
    }
}
