//! The user agent core (RFC 3261 8, 12-15; RFC 3262, 3311, 4028), sans-IO.
//!
//! [`UserAgent`] owns the transaction layer, the accounts' [`Registration`]s and the calls. It
//! is fed received messages ([`UserAgent::handle_inbound`]), timer ticks
//! ([`UserAgent::poll_timers`]) and calls of its API (place a call, answer, BYE, re-INVITE...),
//! each with `now`; it queues [`UaOutput`]s (messages to send with their destination, and
//! [`UaEvent`]s for call control) and says when it must be woken
//! ([`UserAgent::next_deadline`]).
//!
//! - [`call`]: INVITE sessions (UAC and UAS), forking, CANCEL, PRACK, session timers, glare.
//! - [`keepalive`]: RFC 5626 keep-alives toward the flows of registered accounts.
//! - [`driver`]: the thin tokio loop over [`crate::sip::transport::SipEdge`].

pub mod call;
pub mod driver;
pub mod keepalive;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::sip::dialog::DialogId;
use crate::sip::dns::{Target, TargetList};
use crate::sip::registration::{AccountConfig, RegEvent, RegFailure, RegState, Registration};
use crate::sip::transaction::wire_glue::{self, info_of, new_branch, push_via, set_top_via_transport};
use crate::sip::transaction::{TimerConfig, TransactionLayer, TxnEvent, TxnId};
use crate::sip::transport::outbound::transport_for_request;
use crate::sip::transport::{Destination, Inbound, TransportKind};
use crate::sip::wire::{HeaderName, Host, Message, Method, SipUri, Uri};
use keepalive::{FlowKey, Keepalives};

pub use call::{CallHandle, CallInfo, CallState, EndReason, ServerRequest};

/// Methods we accept (Allow).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO";
/// Bodies we accept (Accept).
pub const ACCEPT: &str = "application/sdp, multipart/mixed";
/// Option tags we support (Supported).
pub const SUPPORTED: &str = "100rel, timer";
/// Content encodings we accept.
pub const ACCEPT_ENCODING: &str = "identity";
/// Languages of reason phrases and bodies.
pub const ACCEPT_LANGUAGE: &str = "en";

/// Handle of an account (index order of [`UserAgent::add_account`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub usize);

/// A message body with its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub content_type: String,
    pub data: Vec<u8>,
}

impl Body {
    /// An `application/sdp` body.
    pub fn sdp(data: impl Into<Vec<u8>>) -> Self {
        Body {
            content_type: "application/sdp".into(),
            data: data.into(),
        }
    }

    pub(crate) fn of(m: &Message) -> Option<Body> {
        if m.body.is_empty() {
            return None;
        }
        Some(Body {
            content_type: m
                .header_by(HeaderName::ContentType)
                .unwrap_or("application/sdp")
                .to_string(),
            data: m.body.clone(),
        })
    }
}

/// Reliable provisional responses (RFC 3262).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel100 {
    /// Neither offered nor used.
    Disabled,
    /// Offered (Supported: 100rel) and used when the peer asks.
    Supported,
    /// Required of the peer (Require: 100rel on our INVITEs).
    Required,
}

/// Session timer settings (RFC 4028).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Session-Expires asked for, seconds.
    pub expires: u32,
    /// Smallest interval we accept (Min-SE), at least 90.
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            expires: 1800,
            min_se: 90,
        }
    }
}

/// User agent settings.
#[derive(Clone, Debug)]
pub struct UaConfig {
    /// Address and port put in Via sent-by and Contact: the real interface address.
    pub local: SocketAddr,
    /// Transport for requests that name none.
    pub transport: TransportKind,
    /// User part of our Contact.
    pub contact_user: String,
    /// `User-Agent` / `Server` value.
    pub user_agent: String,
    pub timers: TimerConfig,
    pub rel100: Rel100,
    /// Session timers; `None` disables them.
    pub session_timer: Option<SessionTimerConfig>,
    /// Seed of the random generator (tags, branches, Call-IDs, jitter).
    pub seed: u64,
    /// Path MTU toward next hops, when known; `None` applies the 1300-byte rule of 18.1.1.
    pub path_mtu: Option<usize>,
    /// RFC 5626 keep-alive interval toward each registered account's next hop (a CRLF ping on
    /// TCP, a CRLF datagram on UDP), unless the registrar's `Flow-Timer` asks for another;
    /// `None` disables keep-alives.
    pub keepalive: Option<Duration>,
}

impl UaConfig {
    pub fn new(local: SocketAddr) -> Self {
        UaConfig {
            local,
            transport: TransportKind::Udp,
            contact_user: "gw".into(),
            user_agent: concat!("gatewayd/", env!("CARGO_PKG_VERSION")).into(),
            timers: TimerConfig::default(),
            rel100: Rel100::Supported,
            session_timer: Some(SessionTimerConfig::default()),
            seed: 0x1234_5678,
            path_mtu: None,
            keepalive: None,
        }
    }
}

/// Errors of the user-facing API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UaError {
    UnknownCall,
    UnknownAccount,
    /// The call is not in a state that allows this operation.
    InvalidState(&'static str),
    /// The next hop's host is a name that was not resolved ([`UserAgent::set_host_addr`]).
    Unresolved(String),
    /// The target URI is not a SIP URI.
    BadTarget,
    /// A request of this kind is already outstanding (one re-INVITE at a time, 14.1).
    RequestPending,
    /// The transaction layer refused the request.
    Transaction(crate::sip::transaction::TxnError),
}

impl fmt::Display for UaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UaError::UnknownCall => f.write_str("no such call"),
            UaError::UnknownAccount => f.write_str("no such account"),
            UaError::InvalidState(s) => write!(f, "not possible in call state: {s}"),
            UaError::Unresolved(h) => write!(f, "host {h} not resolved"),
            UaError::BadTarget => f.write_str("target is not a SIP URI"),
            UaError::RequestPending => f.write_str("a request of this kind is pending"),
            UaError::Transaction(e) => write!(f, "transaction: {e}"),
        }
    }
}

impl std::error::Error for UaError {}

/// What the user agent reports to call control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UaEvent {
    /// A registration changed state.
    Registration { account: AccountId, event: RegEvent },
    /// A new INVITE (100 Trying is sent by the transaction). Answer with
    /// [`UserAgent::ring`], [`UserAgent::answer`] or [`UserAgent::reject`].
    Incoming {
        call: CallHandle,
        account: Option<AccountId>,
        request: Message,
    },
    /// A provisional response to our INVITE (PRACK already sent when it was reliable).
    Progress {
        call: CallHandle,
        status: u16,
        response: Message,
    },
    /// Our INVITE was answered with 2xx (ACK sent).
    Answered { call: CallHandle, response: Message },
    /// Our INVITE failed (final non-2xx, or 408 on timeout, 503 on transport error).
    Failed {
        call: CallHandle,
        status: u16,
        response: Option<Message>,
    },
    /// The ACK for our 2xx arrived (with the answer if our 2xx carried the offer).
    Confirmed { call: CallHandle, ack: Message },
    /// PRACK for our reliable provisional response (auto-answered 200).
    Prack { call: CallHandle, request: Message },
    /// A request within the dialog that call control answers with [`UserAgent::respond`]
    /// (re-INVITE, UPDATE, INFO, ...). BYE, PRACK, OPTIONS and session refreshes without a body are
    /// answered by the core.
    Request {
        call: CallHandle,
        id: ServerRequest,
        request: Message,
    },
    /// A final response to a request we sent within the dialog (re-INVITE, UPDATE, INFO, BYE...).
    Response {
        call: CallHandle,
        method: Method<String>,
        status: u16,
        response: Option<Message>,
    },
    /// The call ended; `request` is the peer's BYE or CANCEL when one ended it (its body and
    /// Reason header say why: SIP-T REL, RFC 3326 Q.850 cause).
    Terminated {
        call: CallHandle,
        reason: EndReason,
        request: Option<Message>,
    },
}

/// What the user agent asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UaOutput {
    /// Send `msg` to `dest`; on failure call [`UserAgent::transport_error`] with `txn`.
    Send {
        txn: Option<TxnId>,
        dest: Destination,
        msg: Message,
    },
    Event(UaEvent),
    /// Send an RFC 5626 keep-alive (CRLF CRLF) toward `dest`: a ping on the TCP connection to
    /// `dest.addr` (its pong comes back as an [`Inbound`] for [`UserAgent::handle_inbound`]),
    /// a datagram over UDP. On failure call [`UserAgent::keepalive_failed`].
    Keepalive {
        dest: Destination,
    },
    /// The flow toward `dest` failed (a ping got no pong): close its connection so that the
    /// REGISTER that follows opens a new one.
    CloseFlow {
        dest: Destination,
    },
}

fn flow_dest(key: FlowKey) -> Destination {
    Destination {
        transport: key.transport,
        addr: key.addr,
        conn: None,
    }
}

/// Who owns a client transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Register(AccountId),
    Call(CallHandle, call::Purpose),
    /// Fire-and-forget requests (BYE to a late fork).
    Orphan,
}

struct Account {
    reg: Registration,
    txn: Option<TxnId>,
    /// Where the outstanding REGISTER went.
    flow_pending: Option<FlowKey>,
    /// The flow of the current binding (where the last successful REGISTER went).
    flow: Option<FlowKey>,
    /// Keep-alive interval the registrar asked for (RFC 5626 `Flow-Timer`), seconds.
    flow_timer: Option<u32>,
}

/// The RFC 3263 targets of a next-hop host name and the one in use.
#[derive(Clone, Debug)]
struct HostTargets {
    /// Transport `None`: the URI or the configured default decides (a bare address).
    targets: Vec<(Option<TransportKind>, SocketAddr)>,
    pos: usize,
}

/// A request sent toward a host name with several targets, kept to resend it to the next one.
#[derive(Clone, Debug)]
struct Retry {
    /// The request as built, without our Via.
    msg: Message,
    host: String,
    /// Targets tried so far for this request.
    tried: usize,
}

/// The user agent core.
pub struct UserAgent {
    pub(crate) cfg: UaConfig,
    pub(crate) txl: TransactionLayer<Message, Destination>,
    accounts: Vec<Account>,
    pub(crate) calls: HashMap<CallHandle, call::Call>,
    pub(crate) dialogs: HashMap<DialogId, CallHandle>,
    pub(crate) owners: HashMap<TxnId, Owner>,
    /// Server transactions of in-dialog requests handed to call control.
    pub(crate) server_reqs: HashMap<TxnId, CallHandle>,
    /// (From tag, Call-ID, CSeq) of requests outside a dialog, for merged-request detection.
    merged: HashMap<(String, String, u32), (String, TxnId)>,
    resolved: HashMap<String, HostTargets>,
    retries: HashMap<TxnId, Retry>,
    pub(crate) out: VecDeque<UaOutput>,
    pub(crate) rng: StdRng,
    keepalives: Keepalives,
    next_call: u64,
    scratch: Vec<TxnEvent<Message, Destination>>,
}

impl UserAgent {
    pub fn new(cfg: UaConfig) -> Self {
        UserAgent {
            txl: TransactionLayer::new(cfg.timers),
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            accounts: Vec::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            owners: HashMap::new(),
            server_reqs: HashMap::new(),
            merged: HashMap::new(),
            resolved: HashMap::new(),
            retries: HashMap::new(),
            out: VecDeque::new(),
            keepalives: Keepalives::new(),
            next_call: 1,
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &UaConfig {
        &self.cfg
    }

    /// Changes the local address (network change): Contacts of registrations follow and they
    /// re-register.
    pub fn set_local(&mut self, now: Instant, local: SocketAddr) {
        self.cfg.local = local;
        let c = self.contact_uri();
        for a in &mut self.accounts {
            a.reg.set_contact(now, c.clone());
        }
        self.flush_registrations(now);
    }

    /// Resolution of a host name used in a next hop to one address (transport from the URI or
    /// the configuration).
    pub fn set_host_addr(&mut self, host: &str, addr: SocketAddr) {
        self.resolved.insert(
            host.to_ascii_lowercase(),
            HostTargets {
                targets: vec![(None, addr)],
                pos: 0,
            },
        );
    }

    /// The RFC 3263 targets of a host name used in next hops ([`crate::sip::dns::locate`]),
    /// in the order to try them. Requests go to the first; after a transaction timeout, a
    /// transport error, or a 503 to a REGISTER or initial INVITE, the request is sent again to
    /// the next one (new branch, same CSeq, RFC 3263 4.3), and later requests keep using the
    /// target that answered.
    pub fn set_host_targets(&mut self, host: &str, targets: &TargetList) {
        let targets: Vec<(Option<TransportKind>, SocketAddr)> = targets
            .remaining()
            .iter()
            .map(|t: &Target| (Some(t.transport), t.addr))
            .collect();
        if targets.is_empty() {
            self.resolved.remove(&host.to_ascii_lowercase());
            return;
        }
        self.resolved
            .insert(host.to_ascii_lowercase(), HostTargets { targets, pos: 0 });
    }

    /// The target now used for `host`, if it was resolved.
    pub fn host_target(&self, host: &str) -> Option<SocketAddr> {
        self.resolved
            .get(&host.to_ascii_lowercase())
            .and_then(|h| h.targets.get(h.pos))
            .map(|t| t.1)
    }

    /// Our Contact URI.
    pub fn contact_uri(&self) -> Uri<String> {
        let host = match self.cfg.local.ip() {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        };
        let mut u = SipUri::new(Some(&self.cfg.contact_user), host, Some(self.cfg.local.port()));
        if self.cfg.transport != TransportKind::Udp {
            u.params.push(
                "transport",
                Some(&self.cfg.transport.as_str().to_ascii_lowercase()),
            );
        }
        Uri::Sip(u)
    }

    // ---- accounts ----

    /// Adds an account; registration starts with [`UserAgent::register`].
    pub fn add_account(&mut self, cfg: AccountConfig) -> AccountId {
        let call_id = self.new_call_id();
        let tag = self.new_tag();
        let seed = self.rng.r#gen();
        let mut reg = Registration::new(cfg, call_id, tag, seed);
        reg.set_contact(Instant::now(), self.contact_uri());
        self.accounts.push(Account {
            reg,
            txn: None,
            flow_pending: None,
            flow: None,
            flow_timer: None,
        });
        AccountId(self.accounts.len() - 1)
    }

    /// Starts (or restarts) registering the account.
    pub fn register(&mut self, now: Instant, account: AccountId) -> Result<(), UaError> {
        self.accounts
            .get_mut(account.0)
            .ok_or(UaError::UnknownAccount)?
            .reg
            .start(now);
        self.flush_registrations(now);
        Ok(())
    }

    /// Re-registers every registered account now (network came back, registrar suspected
    /// restarted).
    pub fn reregister_all(&mut self, now: Instant) {
        for a in &mut self.accounts {
            if !matches!(a.reg.state(), RegState::Idle | RegState::Unregistered) {
                a.reg.register_now(now);
            }
        }
        self.flush_registrations(now);
    }

    /// Unregisters every account (shutdown).
    pub fn unregister_all(&mut self, now: Instant) {
        for a in &mut self.accounts {
            a.reg.unregister(now);
        }
        self.flush_registrations(now);
    }

    pub fn registration_state(&self, account: AccountId) -> Option<&RegState> {
        self.accounts.get(account.0).map(|a| a.reg.state())
    }

    pub fn account_config(&self, account: AccountId) -> Option<&AccountConfig> {
        self.accounts.get(account.0).map(|a| a.reg.config())
    }

    pub fn account_ids(&self) -> impl Iterator<Item = AccountId> + '_ {
        (0..self.accounts.len()).map(AccountId)
    }

    /// Unregisters one account (`expires=0` for its binding). The account stays known, so its
    /// id remains valid for [`UserAgent::register`] and [`UserAgent::update_account`].
    pub fn unregister(&mut self, now: Instant, account: AccountId) -> Result<(), UaError> {
        self.accounts
            .get_mut(account.0)
            .ok_or(UaError::UnknownAccount)?
            .reg
            .unregister(now);
        self.flush_registrations(now);
        Ok(())
    }

    /// Replaces an account's settings (credentials, registrar, expiry ...) in place: its id,
    /// Call-ID and CSeq stay, an outstanding REGISTER is abandoned, and the account waits in
    /// `Idle` for [`UserAgent::register`]. To drop a binding whose address of record or
    /// registrar changes, [`UserAgent::unregister`] it first and update once it is gone.
    pub fn update_account(&mut self, account: AccountId, cfg: AccountConfig) -> Result<(), UaError> {
        let a = self.accounts.get_mut(account.0).ok_or(UaError::UnknownAccount)?;
        if let Some(t) = a.txn.take() {
            // A late response or a failover must not reach the reconfigured registration.
            self.owners.insert(t, Owner::Orphan);
            self.retries.remove(&t);
        }
        a.reg.reconfigure(cfg);
        Ok(())
    }

    pub(crate) fn account_mut(&mut self, id: AccountId) -> Option<&mut Registration> {
        self.accounts.get_mut(id.0).map(|a| &mut a.reg)
    }

    fn flush_registrations(&mut self, now: Instant) {
        for i in 0..self.accounts.len() {
            while let Some(ev) = self.accounts[i].reg.poll_event() {
                self.out.push_back(UaOutput::Event(UaEvent::Registration {
                    account: AccountId(i),
                    event: ev,
                }));
            }
            while let Some(req) = self.accounts[i].reg.poll_request() {
                match self.send_request(now, req, Owner::Register(AccountId(i))) {
                    Ok(txn) => self.accounts[i].txn = Some(txn),
                    Err(_) => {
                        self.accounts[i].reg.on_failure(now, RegFailure::Transport);
                    }
                }
                while let Some(ev) = self.accounts[i].reg.poll_event() {
                    self.out.push_back(UaOutput::Event(UaEvent::Registration {
                        account: AccountId(i),
                        event: ev,
                    }));
                }
            }
        }
        self.sync_keepalives(now);
    }

    // ---- keep-alives (RFC 5626) ----

    /// Keeps alive exactly the flows of registered accounts.
    fn sync_keepalives(&mut self, now: Instant) {
        let Some(every) = self.cfg.keepalive else {
            if !self.keepalives.is_empty() {
                self.keepalives.sync(now, &[], &mut self.rng);
            }
            return;
        };
        let mut wanted: Vec<(FlowKey, Duration)> = Vec::new();
        for a in &self.accounts {
            let Some(flow) = a.flow.filter(|_| a.reg.state().is_registered()) else {
                continue;
            };
            let interval = a.flow_timer.map_or(every, |s| Duration::from_secs(u64::from(s)));
            match wanted.iter_mut().find(|(k, _)| *k == flow) {
                Some((_, i)) => *i = (*i).min(interval),
                None => wanted.push((flow, interval)),
            }
        }
        self.keepalives.sync(now, &wanted, &mut self.rng);
    }

    /// Sends the keep-alives due at `now` and handles flows whose pong did not come.
    fn keepalive_timers(&mut self, now: Instant) {
        let tick = self.keepalives.poll(now, &mut self.rng);
        for key in tick.ping {
            self.out.push_back(UaOutput::Keepalive { dest: flow_dest(key) });
        }
        for key in tick.failed {
            self.out.push_back(UaOutput::CloseFlow { dest: flow_dest(key) });
            self.flow_failed(now, key);
        }
    }

    /// A flow failed: every account registered over it registers again (RFC 5626 4.5).
    fn flow_failed(&mut self, now: Instant, key: FlowKey) {
        for a in &mut self.accounts {
            if a.flow == Some(key) {
                a.flow = None;
                if a.reg.state().is_registered() {
                    a.reg.register_now(now);
                }
            }
        }
        self.flush_registrations(now);
    }

    /// The driver could not send the keep-alive toward `dest` (the connection could not be
    /// opened, the socket refused): the flow failed.
    pub fn keepalive_failed(&mut self, now: Instant, dest: &Destination) {
        let key = FlowKey {
            transport: dest.transport,
            addr: dest.addr,
        };
        if self.keepalives.on_send_failure(&key) {
            self.flow_failed(now, key);
        }
    }

    /// Flows kept alive now (one per transport and address).
    pub fn keepalive_flows(&self) -> usize {
        self.keepalives.len()
    }

    /// Flows kept alive that have answered a ping with a pong (TCP).
    pub fn keepalive_answering(&self) -> usize {
        self.keepalives.answering()
    }

    // ---- driving ----

    /// Next queued output.
    pub fn poll_output(&mut self) -> Option<UaOutput> {
        self.out.pop_front()
    }

    /// When [`UserAgent::poll_timers`] must run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.txl.next_deadline();
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |x: Instant| x.min(t)));
            }
        };
        for a in &self.accounts {
            take(a.reg.next_deadline());
        }
        for c in self.calls.values() {
            take(c.next_deadline());
        }
        take(self.keepalives.next_deadline());
        d
    }

    /// Fires every timer due at `now`.
    pub fn poll_timers(&mut self, now: Instant) {
        self.txl.poll_timers(now);
        self.pump(now);
        for a in &mut self.accounts {
            a.reg.on_timer(now);
        }
        self.flush_registrations(now);
        let due: Vec<CallHandle> = self
            .calls
            .iter()
            .filter(|(_, c)| c.next_deadline().is_some_and(|t| t <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            self.call_timers(now, h);
        }
        self.keepalive_timers(now);
        self.pump(now);
    }

    /// A message from the transport edge.
    pub fn handle_inbound(&mut self, now: Instant, inbound: &Inbound) {
        if inbound.is_keepalive() {
            // A pong to our ping (pings from the peer are answered by the edge).
            self.keepalives.on_pong(&FlowKey {
                transport: inbound.transport,
                addr: inbound.source,
            });
            return;
        }
        match wire_glue::receive(inbound) {
            Ok(r) => {
                let dest = r.reply_to.clone().unwrap_or(Destination {
                    transport: inbound.transport,
                    addr: inbound.source,
                    conn: inbound.conn,
                });
                self.txl.receive(now, &r.info, r.msg, dest, r.reliable);
            }
            Err(wire_glue::ReceiveError::Parse { reply: Some(b), .. }) => {
                let (msg, dest) = *b;
                self.out.push_back(UaOutput::Send { txn: None, dest, msg });
            }
            Err(_) => {}
        }
        self.pump(now);
    }

    /// The driver could not send a message of `txn`.
    pub fn transport_error(&mut self, now: Instant, txn: TxnId) {
        self.txl.transport_error(now, txn);
        self.pump(now);
    }

    /// Processes the transaction layer's events until none is left.
    pub(crate) fn pump(&mut self, now: Instant) {
        loop {
            let mut evs = std::mem::take(&mut self.scratch);
            self.txl.drain_events(&mut evs);
            if evs.is_empty() {
                self.scratch = evs;
                break;
            }
            for ev in evs.drain(..) {
                self.on_txn_event(now, ev);
            }
            self.scratch = evs;
        }
        self.flush_registrations(now);
    }

    fn on_txn_event(&mut self, now: Instant, ev: TxnEvent<Message, Destination>) {
        match ev {
            TxnEvent::Transmit { txn, msg, dest } => self.out.push_back(UaOutput::Send {
                txn: Some(txn),
                dest,
                msg,
            }),
            TxnEvent::Request {
                txn,
                msg,
                source,
                cancels,
            } => self.on_request(now, txn, msg, source, cancels),
            TxnEvent::Response { txn, status, .. }
                if TargetList::is_failover_status(status)
                    && self.fails_over_on_status(txn)
                    && self.failover(now, txn) => {}
            TxnEvent::Response { txn, status, msg } => match self.owners.get(&txn).cloned() {
                Some(Owner::Register(a)) => {
                    let acct = &mut self.accounts[a.0];
                    if status >= 200 {
                        acct.txn = None;
                    }
                    if (200..300).contains(&status) {
                        acct.flow = acct.flow_pending;
                        acct.flow_timer = msg
                            .header("Flow-Timer")
                            .and_then(|v| v.trim().parse::<u32>().ok())
                            .filter(|&s| s > 0);
                    }
                    acct.reg.on_response(now, &msg);
                }
                Some(Owner::Call(h, p)) => self.call_response(now, h, p, txn, status, msg),
                Some(Owner::Orphan) | None => {}
            },
            TxnEvent::Ack { msg, .. } | TxnEvent::StrayAck { msg, .. } => self.on_ack(now, msg),
            TxnEvent::StrayInvite2xx { msg } => self.on_stray_2xx(now, msg),
            TxnEvent::Timeout { txn } | TxnEvent::TransportError { txn } => {
                let transport = matches!(ev, TxnEvent::TransportError { .. });
                if self.failover(now, txn) {
                    return;
                }
                match self.owners.get(&txn).cloned() {
                    Some(Owner::Register(a)) => {
                        self.accounts[a.0].txn = None;
                        let f = if transport {
                            RegFailure::Transport
                        } else {
                            RegFailure::Timeout
                        };
                        self.accounts[a.0].reg.on_failure(now, f);
                    }
                    Some(Owner::Call(h, p)) => self.call_failure(now, h, p, txn, transport),
                    _ => {
                        if let Some(h) = self.server_reqs.remove(&txn) {
                            let _ = h;
                        }
                        self.server_timeout(now, txn);
                    }
                }
            }
            TxnEvent::Terminated { txn } => {
                self.retries.remove(&txn);
                self.owners.remove(&txn);
                self.server_reqs.remove(&txn);
                self.merged.retain(|_, (_, t)| *t != txn);
            }
        }
    }

    // ---- sending ----

    /// The next hop of a request: the first Route (loose routing) or the Request-URI.
    pub(crate) fn next_hop(&self, m: &Message) -> Result<Destination, UaError> {
        self.next_hop_named(m).map(|(d, _)| d)
    }

    /// [`UserAgent::next_hop`] and, when the hop is a host name, that name (lower case).
    fn next_hop_named(&self, m: &Message) -> Result<(Destination, Option<String>), UaError> {
        // 8.1.2: toward the first Route when it is a loose router; a strict router is already
        // the Request-URI (12.2.1.1).
        let uri = match m.routes().next() {
            Some(r) if !self.strict_dialog(m) => r.uri.to_owned_uri(),
            _ => m.request_uri().cloned().ok_or(UaError::BadTarget)?,
        };
        let Uri::Sip(s) = &uri else {
            return Err(UaError::BadTarget);
        };
        let explicit = s.transport().and_then(TransportKind::from_token);
        let mut transport = explicit.unwrap_or(if s.secure {
            TransportKind::Tls
        } else {
            self.cfg.transport
        });
        let host = s.maddr().map(str::to_string).unwrap_or_else(|| match &s.host {
            Host::V6(a) => a.to_string(),
            h => h.to_string(),
        });
        let (addr, name) = match host.parse::<IpAddr>() {
            Ok(ip) => (
                SocketAddr::new(ip, s.port.unwrap_or(transport.default_port())),
                None,
            ),
            Err(_) => {
                let key = host.to_ascii_lowercase();
                let (t, mut a) = self
                    .resolved
                    .get(&key)
                    .and_then(|h| h.targets.get(h.pos))
                    .copied()
                    .ok_or(UaError::Unresolved(host.clone()))?;
                // RFC 3263 chose the transport (NAPTR/SRV) unless the URI names one.
                if let (Some(t), None) = (t, explicit) {
                    transport = t;
                }
                if let Some(p) = s.port {
                    a.set_port(p);
                }
                (a, Some(key))
            }
        };
        Ok((
            Destination {
                transport,
                addr,
                conn: None,
            },
            name,
        ))
    }

    /// True when `m` belongs to one of our dialogs whose first route is a strict router: the
    /// Request-URI then names that router (12.2.1.1).
    fn strict_dialog(&self, m: &Message) -> bool {
        let Some(id) = DialogId::of_received_response(m) else {
            return false;
        };
        let Some(c) = self.dialogs.get(&id).and_then(|h| self.calls.get(h)) else {
            return false;
        };
        c.dialog_with(&id.remote_tag)
            .and_then(|d| d.route_set.first())
            .is_some_and(|r| matches!(&r.uri, Uri::Sip(s) if !s.lr()))
    }

    /// Adds Via and common headers to a request and starts its client transaction.
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        mut m: Message,
        owner: Owner,
    ) -> Result<TxnId, UaError> {
        m.remove("Via");
        if m.header("User-Agent").is_none() {
            m.push_named("User-Agent", &self.cfg.user_agent);
        }
        let (dest, name) = self.next_hop_named(&m)?;
        let retry = name
            .filter(|h| self.resolved.get(h).is_some_and(|t| t.targets.len() > 1))
            .map(|host| Retry {
                msg: m.clone(),
                host,
                tried: 1,
            });
        let (txn, sent_to) = self.start_client(now, m, dest)?;
        if let Owner::Register(a) = &owner
            && let Some(acct) = self.accounts.get_mut(a.0)
        {
            acct.flow_pending = Some(sent_to);
        }
        self.owners.insert(txn, owner);
        if let Some(r) = retry {
            self.retries.insert(txn, r);
        }
        self.pump(now);
        Ok(txn)
    }

    /// Adds our Via (new branch) and starts the client transaction toward `dest`; a UDP request
    /// too large for the path moves to TCP (18.1.1).
    fn start_client(
        &mut self,
        now: Instant,
        mut m: Message,
        mut dest: Destination,
    ) -> Result<(TxnId, FlowKey), UaError> {
        let branch = new_branch(&mut self.rng);
        push_via(
            &mut m,
            dest.transport,
            self.cfg.local.ip(),
            self.cfg.local.port(),
            &branch,
        );
        if dest.transport == TransportKind::Udp {
            let len = m.to_bytes().len();
            let t = transport_for_request(dest.transport, len, self.cfg.path_mtu);
            if t != dest.transport {
                dest.transport = t;
                set_top_via_transport(&mut m, t);
            }
        }
        let info = info_of(&m).map_err(|_| UaError::BadTarget)?;
        let reliable = dest.transport.is_reliable();
        let flow = FlowKey {
            transport: dest.transport,
            addr: dest.addr,
        };
        self.txl
            .send_request(now, &info, m, dest, reliable)
            .map(|t| (t, flow))
            .map_err(UaError::Transaction)
    }

    /// After a timeout or transport error of `txn`: sends its request to the host's next
    /// RFC 3263 target as a new transaction (same CSeq, new branch) and moves the owner to it.
    /// False when there is no target left (the failure is then reported); the host then starts
    /// again from its first target.
    fn failover(&mut self, now: Instant, txn: TxnId) -> bool {
        let Some(mut r) = self.retries.remove(&txn) else {
            return false;
        };
        let Some(owner) = self.owners.get(&txn).cloned() else {
            return false;
        };
        let Some(ht) = self.resolved.get_mut(&r.host) else {
            return false;
        };
        if r.tried >= ht.targets.len() {
            ht.pos = 0;
            return false;
        }
        ht.pos = (ht.pos + 1) % ht.targets.len();
        r.tried += 1;
        let dest = match self.next_hop(&r.msg) {
            Ok(d) => d,
            Err(_) => return false,
        };
        let Ok((new, flow)) = self.start_client(now, r.msg.clone(), dest) else {
            return false;
        };
        self.owners.insert(new, owner.clone());
        self.owners.insert(txn, Owner::Orphan);
        match owner {
            Owner::Register(a) => {
                self.accounts[a.0].txn = Some(new);
                self.accounts[a.0].flow_pending = Some(flow);
            }
            Owner::Call(h, p) => {
                let sent = self.txl.client_request(new).cloned();
                if let Some(c) = self.calls.get_mut(&h) {
                    call::retarget(c, p, txn, new, sent);
                }
            }
            Owner::Orphan => {}
        }
        self.retries.insert(new, r);
        true
    }

    /// True if a 503 to `txn` sends its request to the next target (RFC 3263 4.3): REGISTER,
    /// and an initial INVITE that got nothing from further downstream.
    fn fails_over_on_status(&self, txn: TxnId) -> bool {
        match self.owners.get(&txn) {
            Some(Owner::Register(_)) => true,
            Some(Owner::Call(h, call::Purpose::Invite)) => {
                self.calls.get(h).is_some_and(|c| call::may_fail_over(c, txn))
            }
            _ => false,
        }
    }

    /// Sends a request outside any transaction (ACK for 2xx).
    pub(crate) fn send_stateless(&mut self, mut m: Message) -> Result<Message, UaError> {
        let dest = self.next_hop(&m)?;
        let branch = new_branch(&mut self.rng);
        m.remove("Via");
        push_via(
            &mut m,
            dest.transport,
            self.cfg.local.ip(),
            self.cfg.local.port(),
            &branch,
        );
        self.out.push_back(UaOutput::Send {
            txn: None,
            dest,
            msg: m.clone(),
        });
        Ok(m)
    }

    /// Answers server transaction `txn`.
    pub(crate) fn reply(&mut self, now: Instant, txn: TxnId, mut resp: Message) {
        if resp.header("Server").is_none() {
            resp.push_named("Server", &self.cfg.user_agent);
        }
        if let Ok(info) = info_of(&resp) {
            let _ = self.txl.respond(now, txn, &info, resp);
        }
    }

    /// A response to `req` with our tag on To (unless it has one) and the headers the status
    /// requires (405 Allow, 415 Accept*, 420 Unsupported is added by the caller).
    pub(crate) fn response_to(&mut self, req: &Message, code: u16, tag: Option<&str>) -> Message {
        let tag = match tag {
            Some(t) => t.to_string(),
            None => self.new_tag(),
        };
        let mut r = req.make_response(code, Some(&tag));
        match code {
            405 => {
                r.push_named("Allow", ALLOW);
            }
            415 => {
                r.push_named("Accept", ACCEPT);
                r.push_named("Accept-Encoding", ACCEPT_ENCODING);
                r.push_named("Accept-Language", ACCEPT_LANGUAGE);
            }
            _ => {}
        }
        r
    }

    pub(crate) fn new_tag(&mut self) -> String {
        format!("{:016x}", self.rng.r#gen::<u64>())
    }

    pub(crate) fn new_call_id(&mut self) -> String {
        let ip = self.cfg.local.ip();
        format!(
            "{:016x}{:08x}@{}",
            self.rng.r#gen::<u64>(),
            self.rng.r#gen::<u32>(),
            ip
        )
    }

    pub(crate) fn alloc_call(&mut self) -> CallHandle {
        let h = CallHandle(self.next_call);
        self.next_call += 1;
        h
    }

    pub(crate) fn emit(&mut self, ev: UaEvent) {
        self.out.push_back(UaOutput::Event(ev));
    }

    // ---- requests received ----

    fn on_request(
        &mut self,
        now: Instant,
        txn: TxnId,
        msg: Message,
        _source: Destination,
        cancels: Option<TxnId>,
    ) {
        let Some(method) = msg.method().cloned() else {
            return;
        };
        if msg.max_forwards() == Some(0) && method != Method::Options {
            let r = self.response_to(&msg, 483, None);
            return self.reply(now, txn, r);
        }
        if method == Method::Cancel {
            return self.on_cancel(now, txn, msg, cancels);
        }
        let to_tag = msg.to_hdr().and_then(|t| t.tag().map(str::to_string));
        if to_tag.is_some() {
            return self.in_dialog_request(now, txn, msg);
        }
        // Merged requests (8.2.2.2): same From tag, Call-ID and CSeq over another transaction.
        if let (Some(ft), Some(cid), Some(cs), Some(br)) = (
            msg.from_hdr().and_then(|f| f.tag().map(str::to_string)),
            msg.call_id().map(str::to_string),
            msg.cseq().map(|c| c.seq),
            msg.top_via().and_then(|v| v.branch().map(str::to_string)),
        ) {
            let key = (ft, cid, cs);
            match self.merged.get(&key) {
                Some((b, _)) if *b != br => {
                    let r = self.response_to(&msg, 482, None);
                    return self.reply(now, txn, r);
                }
                Some(_) => {}
                None => {
                    self.merged.insert(key, (br, txn));
                }
            }
        }
        if let Some(r) = self.check_require(&msg) {
            return self.reply(now, txn, r);
        }
        match method {
            Method::Invite => {
                if let Some(r) = self.check_body(&msg) {
                    return self.reply(now, txn, r);
                }
                self.incoming_invite(now, txn, msg);
            }
            Method::Options => {
                let r = self.options_response(&msg, None);
                self.reply(now, txn, r);
            }
            Method::Bye | Method::Prack | Method::Update | Method::Info => {
                let r = self.response_to(&msg, 481, None);
                self.reply(now, txn, r);
            }
            Method::Ack => {}
            _ => {
                let r = self.response_to(&msg, 405, None);
                self.reply(now, txn, r);
            }
        }
    }

    /// 200 to OPTIONS with our capabilities.
    pub(crate) fn options_response(&mut self, req: &Message, tag: Option<&str>) -> Message {
        let mut r = self.response_to(req, 200, tag);
        r.push_named("Allow", ALLOW);
        r.push_named("Accept", ACCEPT);
        r.push_named("Accept-Encoding", ACCEPT_ENCODING);
        r.push_named("Accept-Language", ACCEPT_LANGUAGE);
        r.push_named("Supported", SUPPORTED);
        r.push(HeaderName::Contact, format_args!("<{}>", self.contact_uri()));
        r
    }

    /// 420 when the request requires an extension we do not support (8.2.2.3).
    pub(crate) fn check_require(&mut self, req: &Message) -> Option<Message> {
        let unsupported: Vec<String> = req
            .headers
            .iter()
            .filter(|h| h.name_text.eq_ignore_ascii_case("Require"))
            .flat_map(|h| {
                h.value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty() && !SUPPORTED.split(", ").any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if unsupported.is_empty() {
            return None;
        }
        let mut r = self.response_to(req, 420, None);
        r.push_named("Unsupported", unsupported.join(", "));
        Some(r)
    }

    /// 415 for bodies we do not understand (8.2.3).
    pub(crate) fn check_body(&mut self, req: &Message) -> Option<Message> {
        if let Some(enc) = req.header("Content-Encoding")
            && !enc.trim().eq_ignore_ascii_case("identity")
        {
            return Some(self.response_to(req, 415, None));
        }
        if req.body.is_empty() {
            return None;
        }
        let ok = req
            .content_type()
            .is_some_and(|ct| ct.is("application", "sdp") || ct.is("multipart", "mixed"));
        if ok {
            None
        } else {
            Some(self.response_to(req, 415, None))
        }
    }

    fn server_timeout(&mut self, now: Instant, txn: TxnId) {
        call::server_txn_timeout(self, now, txn);
    }

    /// Answers an in-dialog request call control received as [`UaEvent::Request`].
    pub fn respond(
        &mut self,
        now: Instant,
        id: ServerRequest,
        status: u16,
        body: Option<Body>,
    ) -> Result<(), UaError> {
        call::respond(self, now, id, status, body)
    }

    /// Number of live transactions (client, server).
    pub fn transaction_count(&self) -> (usize, usize) {
        self.txl.len()
    }

    /// Random duration in `[lo, hi)` milliseconds.
    pub(crate) fn jitter(&mut self, lo_ms: u64, hi_ms: u64) -> Duration {
        Duration::from_millis(self.rng.gen_range(lo_ms..hi_ms))
    }
}
