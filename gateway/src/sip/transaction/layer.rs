//! The transaction layer: owns every client and server transaction, matches incoming messages
//! to them (17.1.3, 17.2.3), creates server transactions for new requests, routes strays to the
//! core and keeps one timer queue.
//!
//! `M` is the message handle (stored, cloned, retransmitted); `D` is the transport's idea of
//! where a transaction's messages go (a resolved target for client transactions, the 18.2.2
//! response route for server transactions). The layer never looks inside either.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use super::key::{ClientKey, MsgInfo, ServerKey, TxnMethod};
use super::{
    InviteClientTxn, InviteServerTxn, NonInviteClientTxn, NonInviteServerTxn, TimerConfig, TxnAction,
    TxnError, TxnMessage,
};

/// Multiply-rotate hasher for the layer's maps: keys are short strings from the network, but
/// an attacker gains nothing from collisions beyond a slower lookup in a bounded table, and
/// SipHash dominated the matching cost.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Handle of one transaction, unique for the layer's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnId(pub u64);

/// What the layer asks of its owner (transport and TU), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnEvent<M, D> {
    /// Send `msg` to `dest`.
    Transmit { txn: TxnId, msg: M, dest: D },
    /// A new request created server transaction `txn`; the TU answers with
    /// [`TransactionLayer::respond`]. For a CANCEL, `cancels` is the INVITE server transaction
    /// it targets, if one matched (the TU then answers the CANCEL 200 and the INVITE 487;
    /// without a match the CANCEL gets 481).
    Request {
        txn: TxnId,
        msg: M,
        source: D,
        cancels: Option<TxnId>,
    },
    /// A response for client transaction `txn` (provisional, final, or an RFC 6026 2xx
    /// retransmission from the Accepted state).
    Response { txn: TxnId, status: u16, msg: M },
    /// An ACK matched INVITE server transaction `txn` in its Accepted state (RFC 6026).
    Ack { txn: TxnId, msg: M },
    /// An ACK matching no transaction: the ACK for a 2xx, for the UA core / dialog.
    StrayAck { msg: M, source: D },
    /// A 2xx to an INVITE matching no transaction: for the UA core, which acknowledges it again.
    StrayInvite2xx { msg: M },
    /// Timer B, F or H fired for `txn`.
    Timeout { txn: TxnId },
    /// The transport failed for `txn`.
    TransportError { txn: TxnId },
    /// `txn` is gone; its id is not valid any more.
    Terminated { txn: TxnId },
}

/// Counters kept by the layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    pub client_created: u64,
    pub server_created: u64,
    pub retransmissions_absorbed: u64,
    /// Responses matching no transaction (other than 2xx to INVITE): discarded per 17.1.3.
    pub stray_responses_dropped: u64,
    /// New requests refused because of the server transaction limit.
    pub overloaded: u64,
}

#[derive(Debug)]
enum ClientMachine<M> {
    Invite(InviteClientTxn<M>),
    NonInvite(NonInviteClientTxn<M>),
}

#[derive(Debug)]
enum ServerMachine<M> {
    Invite(InviteServerTxn<M>),
    NonInvite(NonInviteServerTxn<M>),
}

#[derive(Debug)]
struct ClientEntry<M, D> {
    key: ClientKey,
    machine: ClientMachine<M>,
    dest: D,
    armed: Option<Instant>,
}

#[derive(Debug)]
struct ServerEntry<M, D> {
    key: ServerKey,
    machine: ServerMachine<M>,
    dest: D,
    armed: Option<Instant>,
    /// To tag of the request that created the transaction (RFC 2543 matching).
    request_to_tag: Option<String>,
    /// To tag of the last response sent (RFC 2543 ACK matching).
    response_to_tag: Option<String>,
}

/// Owns all transactions of one SIP endpoint.
#[derive(Debug)]
pub struct TransactionLayer<M, D> {
    cfg: TimerConfig,
    next_id: u64,
    clients: HashMap<TxnId, ClientEntry<M, D>>,
    client_keys: HashMap<ClientKey, TxnId>,
    servers: HashMap<TxnId, ServerEntry<M, D>>,
    server_keys: HashMap<ServerKey, TxnId>,
    timers: BinaryHeap<Reverse<(Instant, TxnId)>>,
    scratch: Vec<TxnAction<M>>,
    events: VecDeque<TxnEvent<M, D>>,
    stats: LayerStats,
    max_servers: usize,
    refused: VecDeque<(M, D)>,
}

impl<M: TxnMessage, D: Clone> TransactionLayer<M, D> {
    pub fn new(cfg: TimerConfig) -> Self {
        TransactionLayer {
            cfg,
            next_id: 1,
            clients: HashMap::default(),
            client_keys: HashMap::default(),
            servers: HashMap::default(),
            server_keys: HashMap::default(),
            timers: BinaryHeap::new(),
            scratch: Vec::with_capacity(8),
            events: VecDeque::with_capacity(16),
            stats: LayerStats::default(),
            max_servers: usize::MAX,
            refused: VecDeque::new(),
        }
    }

    /// Caps the number of live server transactions (each lives up to 64*T1 after its final
    /// response, so a request flood would otherwise grow memory without bound). New requests
    /// beyond it (ACK and CANCEL excepted) get no transaction and are queued for
    /// [`TransactionLayer::poll_refused`].
    pub fn set_max_server_transactions(&mut self, max: usize) {
        self.max_servers = max;
    }

    /// Next request refused by the server transaction limit, with its response destination:
    /// the core answers it statelessly (503 with Retry-After) or drops it. At most 64 are kept.
    pub fn poll_refused(&mut self) -> Option<(M, D)> {
        self.refused.pop_front()
    }

    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> LayerStats {
        self.stats
    }

    /// Number of live client and server transactions.
    pub fn len(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.servers.is_empty()
    }

    /// Starts a client transaction for `request` (any method but ACK) toward `dest` and queues
    /// its first transmission. `reliable` is true for TCP/TLS (no retransmissions, zero
    /// Timers D and K).
    pub fn send_request(
        &mut self,
        now: Instant,
        info: &MsgInfo,
        request: M,
        dest: D,
        reliable: bool,
    ) -> Result<TxnId, TxnError> {
        let method = info.method().ok_or(TxnError::WrongKind)?;
        if *method == TxnMethod::Ack {
            return Err(TxnError::AckIsNotATransaction);
        }
        if !info.has_rfc3261_branch() {
            return Err(TxnError::MissingBranch);
        }
        let key = info.client_key().ok_or(TxnError::MissingBranch)?;
        if self.client_keys.contains_key(&key) {
            return Err(TxnError::Duplicate);
        }
        let id = self.alloc_id();
        let mut out = std::mem::take(&mut self.scratch);
        let machine = if *method == TxnMethod::Invite {
            ClientMachine::Invite(InviteClientTxn::start(
                &self.cfg, reliable, request, now, &mut out,
            ))
        } else {
            ClientMachine::NonInvite(NonInviteClientTxn::start(
                &self.cfg, reliable, request, now, &mut out,
            ))
        };
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientEntry {
                key,
                machine,
                dest,
                armed: None,
            },
        );
        self.stats.client_created += 1;
        self.scratch = out;
        self.finish_client(id);
        Ok(id)
    }

    /// Feeds a message received from the transport. For requests, `source` is where responses
    /// go (the 18.2.2 route the transport computed); for responses it is ignored.
    pub fn receive(&mut self, now: Instant, info: &MsgInfo, msg: M, source: D, reliable: bool) {
        match info.status() {
            Some(status) => self.receive_response(now, info, status, msg),
            None => self.receive_request(now, info, msg, source, reliable),
        }
    }

    fn receive_response(&mut self, now: Instant, info: &MsgInfo, status: u16, msg: M) {
        let id = info.client_key().and_then(|k| self.client_keys.get(&k).copied());
        let Some(id) = id else {
            if (200..300).contains(&status) && info.cseq_method == TxnMethod::Invite {
                self.events.push_back(TxnEvent::StrayInvite2xx { msg });
            } else {
                self.stats.stray_responses_dropped += 1;
            }
            return;
        };
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(e) = self.clients.get_mut(&id) {
            match &mut e.machine {
                ClientMachine::Invite(m) => m.on_response(now, status, msg, &mut out),
                ClientMachine::NonInvite(m) => m.on_response(now, status, msg, &mut out),
            }
        }
        if out.is_empty() {
            self.stats.retransmissions_absorbed += 1;
        }
        self.scratch = out;
        self.finish_client_with_status(id, status);
    }

    fn receive_request(&mut self, now: Instant, info: &MsgInfo, msg: M, source: D, reliable: bool) {
        let Some(method) = info.method() else { return };
        let Some(key) = info.server_key() else { return };
        let is_ack = *method == TxnMethod::Ack;
        if let Some(&id) = self.server_keys.get(&key) {
            let matches = match (&key, self.servers.get(&id)) {
                (ServerKey::Rfc2543 { .. }, Some(e)) => {
                    let expect = if is_ack {
                        &e.response_to_tag
                    } else {
                        &e.request_to_tag
                    };
                    *expect == info.to_tag
                }
                (_, Some(_)) => true,
                (_, None) => false,
            };
            if matches {
                let mut out = std::mem::take(&mut self.scratch);
                if let Some(e) = self.servers.get_mut(&id) {
                    match &mut e.machine {
                        ServerMachine::Invite(m) => m.on_request(now, is_ack, msg, &mut out),
                        ServerMachine::NonInvite(m) => m.on_request(now, msg, &mut out),
                    }
                }
                if out.is_empty() {
                    self.stats.retransmissions_absorbed += 1;
                }
                self.scratch = out;
                self.finish_server(id);
                return;
            }
        }
        if is_ack {
            self.events.push_back(TxnEvent::StrayAck { msg, source });
            return;
        }
        if self.server_keys.contains_key(&key) {
            // Same RFC 2543 key but a different To tag: a distinct request that cannot get its
            // own transaction key; treat it as a retransmission of nothing and drop it.
            self.stats.retransmissions_absorbed += 1;
            return;
        }
        if self.servers.len() >= self.max_servers && *method != TxnMethod::Cancel {
            self.stats.overloaded += 1;
            if self.refused.len() < 64 {
                self.refused.push_back((msg, source));
            }
            return;
        }
        let cancels = info
            .cancel_target_key()
            .and_then(|k| self.server_keys.get(&k).copied());
        let id = self.alloc_id();
        let machine = if *method == TxnMethod::Invite {
            ServerMachine::Invite(InviteServerTxn::new(&self.cfg, reliable, msg.clone(), now))
        } else {
            ServerMachine::NonInvite(NonInviteServerTxn::new(&self.cfg, reliable, msg.clone(), now))
        };
        self.server_keys.insert(key.clone(), id);
        self.servers.insert(
            id,
            ServerEntry {
                key,
                machine,
                dest: source.clone(),
                armed: None,
                request_to_tag: info.to_tag.clone(),
                response_to_tag: None,
            },
        );
        self.stats.server_created += 1;
        self.events.push_back(TxnEvent::Request {
            txn: id,
            msg,
            source,
            cancels,
        });
        self.finish_server(id);
    }

    /// The TU answers the request of server transaction `txn`. `info` is the response's
    /// [`MsgInfo`] (status and To tag are used).
    pub fn respond(&mut self, now: Instant, txn: TxnId, info: &MsgInfo, response: M) -> Result<(), TxnError> {
        let status = info.status().ok_or(TxnError::WrongKind)?;
        let e = self.servers.get_mut(&txn).ok_or(TxnError::UnknownTransaction)?;
        let mut out = std::mem::take(&mut self.scratch);
        let r = match &mut e.machine {
            ServerMachine::Invite(m) => m.on_tu_response(now, status, response, &mut out),
            ServerMachine::NonInvite(m) => m.on_tu_response(now, status, response, &mut out),
        };
        if r.is_ok() && info.to_tag.is_some() {
            e.response_to_tag = info.to_tag.clone();
        }
        self.scratch = out;
        self.finish_server(txn);
        r
    }

    /// The transport could not send a message of `txn` (connection refused, ICMP error...).
    pub fn transport_error(&mut self, now: Instant, txn: TxnId) {
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(e) = self.clients.get_mut(&txn) {
            match &mut e.machine {
                ClientMachine::Invite(m) => m.on_transport_error(now, &mut out),
                ClientMachine::NonInvite(m) => m.on_transport_error(now, &mut out),
            }
            self.scratch = out;
            self.finish_client(txn);
        } else if let Some(e) = self.servers.get_mut(&txn) {
            match &mut e.machine {
                ServerMachine::Invite(m) => m.on_transport_error(now, &mut out),
                ServerMachine::NonInvite(m) => m.on_transport_error(now, &mut out),
            }
            self.scratch = out;
            self.finish_server(txn);
        } else {
            self.scratch = out;
        }
    }

    /// Fires every timer due at `now`.
    pub fn poll_timers(&mut self, now: Instant) {
        while let Some(&Reverse((t, id))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let mut out = std::mem::take(&mut self.scratch);
            if let Some(e) = self.clients.get_mut(&id) {
                if e.armed != Some(t) {
                    self.scratch = out;
                    continue;
                }
                e.armed = None;
                match &mut e.machine {
                    ClientMachine::Invite(m) => m.on_timer(now, &mut out),
                    ClientMachine::NonInvite(m) => m.on_timer(now, &mut out),
                }
                self.scratch = out;
                self.finish_client(id);
            } else if let Some(e) = self.servers.get_mut(&id) {
                if e.armed != Some(t) {
                    self.scratch = out;
                    continue;
                }
                e.armed = None;
                match &mut e.machine {
                    ServerMachine::Invite(m) => m.on_timer(now, &mut out),
                    ServerMachine::NonInvite(m) => m.on_timer(now, &mut out),
                }
                self.scratch = out;
                self.finish_server(id);
            } else {
                self.scratch = out;
            }
        }
    }

    /// When [`poll_timers`](Self::poll_timers) must be called next (may be early, never late).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Next queued event for the transport or the TU.
    pub fn poll_event(&mut self) -> Option<TxnEvent<M, D>> {
        self.events.pop_front()
    }

    /// Moves every queued event into `out`.
    pub fn drain_events(&mut self, out: &mut Vec<TxnEvent<M, D>>) {
        out.extend(self.events.drain(..));
    }

    /// The INVITE server transaction a CANCEL (given by its info) targets, if any.
    pub fn find_cancel_target(&self, cancel: &MsgInfo) -> Option<TxnId> {
        self.server_keys.get(&cancel.cancel_target_key()?).copied()
    }

    /// The request that created server transaction `txn`.
    pub fn server_request(&self, txn: TxnId) -> Option<&M> {
        self.servers.get(&txn).map(|e| match &e.machine {
            ServerMachine::Invite(m) => m.request(),
            ServerMachine::NonInvite(m) => m.request(),
        })
    }

    /// The request sent by client transaction `txn`.
    pub fn client_request(&self, txn: TxnId) -> Option<&M> {
        self.clients.get(&txn).map(|e| match &e.machine {
            ClientMachine::Invite(m) => m.request(),
            ClientMachine::NonInvite(m) => m.request(),
        })
    }

    /// True if `txn` is a live server INVITE transaction that has not sent a final response
    /// (so a CANCEL can still take effect).
    pub fn invite_server_pending(&self, txn: TxnId) -> bool {
        matches!(
            self.servers.get(&txn).map(|e| &e.machine),
            Some(ServerMachine::Invite(m)) if m.state() == super::InviteServerState::Proceeding
        )
    }

    /// True if client INVITE transaction `txn` has received a provisional response but no final
    /// one (9.1: only then may a CANCEL be sent).
    pub fn invite_client_proceeding(&self, txn: TxnId) -> bool {
        matches!(
            self.clients.get(&txn).map(|e| &e.machine),
            Some(ClientMachine::Invite(m)) if m.state() == super::InviteClientState::Proceeding
        )
    }

    fn alloc_id(&mut self) -> TxnId {
        let id = TxnId(self.next_id);
        self.next_id += 1;
        id
    }

    fn finish_client(&mut self, id: TxnId) {
        self.finish_client_with_status(id, 0)
    }

    /// Turns the machine's actions in `scratch` into events, re-arms its timer, drops it if
    /// terminated.
    fn finish_client_with_status(&mut self, id: TxnId, status: u16) {
        let Some(e) = self.clients.get_mut(&id) else {
            self.scratch.clear();
            return;
        };
        let mut terminated = false;
        for a in self.scratch.drain(..) {
            match a {
                TxnAction::Transmit(msg) => self.events.push_back(TxnEvent::Transmit {
                    txn: id,
                    msg,
                    dest: e.dest.clone(),
                }),
                TxnAction::Deliver(msg) => self.events.push_back(TxnEvent::Response { txn: id, status, msg }),
                TxnAction::Timeout => self.events.push_back(TxnEvent::Timeout { txn: id }),
                TxnAction::TransportError => self.events.push_back(TxnEvent::TransportError { txn: id }),
                TxnAction::Terminated => terminated = true,
            }
        }
        if terminated {
            let key = e.key.clone();
            self.clients.remove(&id);
            self.client_keys.remove(&key);
            self.events.push_back(TxnEvent::Terminated { txn: id });
            return;
        }
        let next = match &e.machine {
            ClientMachine::Invite(m) => m.next_deadline(),
            ClientMachine::NonInvite(m) => m.next_deadline(),
        };
        if next != e.armed {
            e.armed = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, id)));
            }
        }
    }

    fn finish_server(&mut self, id: TxnId) {
        let Some(e) = self.servers.get_mut(&id) else {
            self.scratch.clear();
            return;
        };
        let mut terminated = false;
        for a in self.scratch.drain(..) {
            match a {
                TxnAction::Transmit(msg) => self.events.push_back(TxnEvent::Transmit {
                    txn: id,
                    msg,
                    dest: e.dest.clone(),
                }),
                TxnAction::Deliver(msg) => self.events.push_back(TxnEvent::Ack { txn: id, msg }),
                TxnAction::Timeout => self.events.push_back(TxnEvent::Timeout { txn: id }),
                TxnAction::TransportError => self.events.push_back(TxnEvent::TransportError { txn: id }),
                TxnAction::Terminated => terminated = true,
            }
        }
        if terminated {
            let key = e.key.clone();
            self.servers.remove(&id);
            if self.server_keys.get(&key) == Some(&id) {
                self.server_keys.remove(&key);
            }
            self.events.push_back(TxnEvent::Terminated { txn: id });
            return;
        }
        let next = match &e.machine {
            ServerMachine::Invite(m) => m.next_deadline(),
            ServerMachine::NonInvite(m) => m.next_deadline(),
        };
        if next != e.armed {
            e.armed = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, id)));
            }
        }
    }
}
