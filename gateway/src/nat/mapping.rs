//! Learning a socket's public mapping with STUN Binding, sans-IO.
//!
//! [`BindingTxn`] is one Binding client transaction over UDP (RFC 8489 6.2.1): the request goes
//! out at 0, RTO, 3 RTO, 7 RTO... (RTO doubling, `rc` requests in all) and the transaction
//! fails `rm` RTOs after the last one. A response counts only when it comes from the server,
//! carries the request's transaction ID and is a well-formed Binding response; anything else is
//! ignored and the transaction goes on.
//!
//! [`MappingMonitor`] keeps the mapping of a long-lived socket (the SIP socket) fresh: a query
//! at start, one every refresh interval, one at once after a network change, and reports when
//! the mapping changes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::stun::{self, BINDING, Class, StunMessage, StunView};

/// Retransmission settings of a Binding transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// Initial retransmission timeout; doubles after each request.
    pub rto: Duration,
    /// Requests sent in all (Rc).
    pub rc: u32,
    /// Multiple of `rto` waited after the last request (Rm).
    pub rm: u32,
}

impl Retransmit {
    /// RFC 8489 6.2.1 defaults: RTO 500 ms, Rc 7, Rm 16 (a transaction lasts 39.5 s).
    pub const RFC: Retransmit = Retransmit {
        rto: Duration::from_millis(500),
        rc: 7,
        rm: 16,
    };

    /// For a call's RTP socket, whose SDP waits on the answer: requests at 0, 100 and
    /// 300 ms, given up at 500 ms.
    pub const MEDIA: Retransmit = Retransmit {
        rto: Duration::from_millis(100),
        rc: 3,
        rm: 2,
    };

    /// Time from the first request to the transaction's failure.
    pub fn total(&self) -> Duration {
        let rc = self.rc.max(1);
        let last = self.rto * ((1u32 << (rc - 1).min(20)) - 1);
        last + self.rto * self.rm
    }
}

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit::RFC
    }
}

/// Why a Binding transaction failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingFailure {
    /// No valid response in time.
    Timeout,
    /// The server answered with an error response.
    ErrorResponse { code: u16, reason: String },
    /// A success response without (valid) MAPPED-ADDRESS or XOR-MAPPED-ADDRESS.
    NoAddress,
    /// A response with comprehension-required attributes we do not know (RFC 8489 7.3.3).
    UnknownAttributes(Vec<u16>),
}

impl std::fmt::Display for BindingFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindingFailure::Timeout => f.write_str("no STUN response"),
            BindingFailure::ErrorResponse { code, reason } => write!(f, "STUN error {code} {reason}"),
            BindingFailure::NoAddress => f.write_str("STUN response without a mapped address"),
            BindingFailure::UnknownAttributes(t) => {
                write!(f, "STUN response with unknown required attributes {t:04x?}")
            }
        }
    }
}

/// How a Binding transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingOutcome {
    Mapped(SocketAddr),
    Failed(BindingFailure),
}

/// Why a datagram did not end the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// Not a well-formed STUN message.
    Malformed(stun::StunError),
    /// From another address than the server's.
    WrongSource(SocketAddr),
    /// Another transaction's response.
    OtherTransaction,
    /// Not a Binding success or error response.
    NotBindingResponse,
    /// The transaction had already ended.
    Finished,
}

/// One Binding request toward `server` and its retransmissions.
#[derive(Debug, Clone)]
pub struct BindingTxn {
    id: [u8; 12],
    server: SocketAddr,
    request: Vec<u8>,
    timing: Retransmit,
    /// Requests sent so far.
    sent: u32,
    /// When the next request goes out, or (all sent) when the transaction fails.
    next: Instant,
    outcome: Option<BindingOutcome>,
}

/// SOFTWARE of our requests.
pub const SOFTWARE: &str = concat!("gatewayd/", env!("CARGO_PKG_VERSION"));

impl BindingTxn {
    /// A transaction whose first request is due at `now`. `id` must be random (RFC 8489 6).
    pub fn new(id: [u8; 12], server: SocketAddr, now: Instant, timing: Retransmit) -> BindingTxn {
        let request = StunMessage::binding_request(id, SOFTWARE)
            .emit()
            .unwrap_or_default();
        BindingTxn {
            id,
            server,
            request,
            timing: Retransmit {
                rc: timing.rc.max(1),
                ..timing
            },
            sent: 0,
            next: now,
            outcome: None,
        }
    }

    pub fn transaction_id(&self) -> [u8; 12] {
        self.id
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The request bytes to send now, if one is due. Also ends the transaction with
    /// [`BindingFailure::Timeout`] once its last wait is over.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<&[u8]> {
        if self.outcome.is_some() || now < self.next {
            return None;
        }
        if self.sent >= self.timing.rc {
            self.outcome = Some(BindingOutcome::Failed(BindingFailure::Timeout));
            return None;
        }
        self.sent += 1;
        let wait = if self.sent == self.timing.rc {
            self.timing.rto * self.timing.rm
        } else {
            self.timing.rto * (1u32 << (self.sent - 1).min(20))
        };
        self.next += wait;
        Some(&self.request)
    }

    /// When [`BindingTxn::poll_transmit`] has something to do next; `None` once ended.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.outcome.is_none().then_some(self.next)
    }

    pub fn outcome(&self) -> Option<&BindingOutcome> {
        self.outcome.as_ref()
    }

    /// A datagram received from `from`: ends the transaction when it is its response.
    pub fn handle_response(&mut self, from: SocketAddr, bytes: &[u8]) -> Result<&BindingOutcome, Ignored> {
        if self.outcome.is_some() {
            return Err(Ignored::Finished);
        }
        if !same_endpoint(from, self.server) {
            return Err(Ignored::WrongSource(from));
        }
        let view = StunView::parse(bytes).map_err(Ignored::Malformed)?;
        if view.transaction_id() != self.id {
            return Err(Ignored::OtherTransaction);
        }
        if view.method() != BINDING || !matches!(view.class(), Class::Success | Class::Error) {
            return Err(Ignored::NotBindingResponse);
        }
        let unknown = view.unknown_required();
        let outcome = if !unknown.is_empty() {
            BindingOutcome::Failed(BindingFailure::UnknownAttributes(unknown))
        } else if view.class() == Class::Error {
            match view.error_code() {
                Some(Ok((code, reason))) => BindingOutcome::Failed(BindingFailure::ErrorResponse {
                    code,
                    reason: reason.to_owned(),
                }),
                Some(Err(e)) => return Err(Ignored::Malformed(e)),
                // An error response must carry ERROR-CODE (RFC 8489 6.3.4).
                None => return Err(Ignored::NotBindingResponse),
            }
        } else {
            match view.xor_mapped_address().or_else(|| view.mapped_address()) {
                Some(Ok(a)) => BindingOutcome::Mapped(a),
                _ => BindingOutcome::Failed(BindingFailure::NoAddress),
            }
        };
        Ok(self.outcome.insert(outcome))
    }
}

/// Addresses equal, an IPv4-mapped IPv6 source counting as its IPv4 address.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// A change of a monitored socket's public address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingChange {
    /// The address to advertise now: the mapping, or the local address when none is known.
    pub advertised: SocketAddr,
    /// The mapping learned, `None` when it was forgotten (network change, no answer).
    pub mapped: Option<SocketAddr>,
}

/// Keeps the public mapping of a long-lived socket.
#[derive(Debug, Clone)]
pub struct MappingMonitor {
    local: SocketAddr,
    refresh: Duration,
    retry: Duration,
    timing: Retransmit,
    txn: Option<BindingTxn>,
    due: Instant,
    mapped: Option<SocketAddr>,
    failures: u32,
}

impl MappingMonitor {
    /// A monitor of the socket bound at `local`; the first query is due at `now`, then one
    /// every `refresh` (after a failure, one every `retry`, shorter than `refresh`).
    pub fn new(local: SocketAddr, now: Instant, refresh: Duration, timing: Retransmit) -> MappingMonitor {
        MappingMonitor {
            local,
            refresh,
            retry: refresh.min(Duration::from_secs(30)),
            timing,
            txn: None,
            due: now,
            mapped: None,
            failures: 0,
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The mapping learned, if any.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// The address to advertise: the mapping when one is known, else the local address.
    pub fn advertised(&self) -> SocketAddr {
        self.mapped.unwrap_or(self.local)
    }

    /// Whether a new query should start (call [`MappingMonitor::start`] with a fresh ID).
    pub fn query_due(&self, now: Instant) -> bool {
        self.txn.is_none() && now >= self.due
    }

    /// Starts a query toward `server`; the request goes out at the next poll.
    pub fn start(&mut self, id: [u8; 12], server: SocketAddr, now: Instant) {
        self.txn = Some(BindingTxn::new(id, server, now, self.timing));
    }

    /// Something suggests the network changed (a registration failed): query now, keeping
    /// the mapping until the answer.
    pub fn recheck(&mut self, now: Instant) {
        if self.txn.is_none() {
            self.due = self.due.min(now);
        }
    }

    /// No query before `until` (the server's name does not resolve, say).
    pub fn postpone(&mut self, until: Instant) {
        if self.txn.is_none() {
            self.due = until;
        }
    }

    /// The running query's transaction ID.
    pub fn transaction_id(&self) -> Option<[u8; 12]> {
        self.txn.as_ref().map(|t| t.transaction_id())
    }

    /// The local address changed (or the route to the server did): the mapping is forgotten
    /// and a new query is due at once.
    pub fn network_changed(&mut self, now: Instant, local: SocketAddr) -> Option<MappingChange> {
        self.local = local;
        self.txn = None;
        self.due = now;
        let had = self.mapped.take();
        had.map(|_| self.change())
    }

    /// A request to send now: (server, bytes). Also notices the running query's timeout.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        let txn = self.txn.as_mut()?;
        let server = txn.server();
        let out = txn.poll_transmit(now).map(|b| (server, b.to_vec()));
        if out.is_none()
            && let Some(BindingOutcome::Failed(_)) = txn.outcome()
        {
            self.txn = None;
            self.failed(now);
        }
        out
    }

    /// What to wake up for: the running query's next step, else the next query.
    pub fn next_deadline(&self) -> Instant {
        self.txn
            .as_ref()
            .and_then(|t| t.next_deadline())
            .unwrap_or(self.due)
    }

    /// A STUN datagram received on the socket; returns the change when the mapping changed.
    pub fn handle_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<Option<MappingChange>, Ignored> {
        let txn = self.txn.as_mut().ok_or(Ignored::Finished)?;
        let outcome = txn.handle_response(from, bytes)?.clone();
        self.txn = None;
        match outcome {
            BindingOutcome::Mapped(a) => {
                self.failures = 0;
                self.due = now + self.refresh;
                if self.mapped == Some(a) {
                    return Ok(None);
                }
                self.mapped = Some(a);
                Ok(Some(self.change()))
            }
            BindingOutcome::Failed(_) => {
                self.failed(now);
                Ok(None)
            }
        }
    }

    /// A query failed: retry sooner. The last mapping is kept (a server that is down for a
    /// while says nothing about the NAT) until a query succeeds or the network changes.
    fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.due = now + self.retry;
    }

    /// Queries that failed in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn change(&self) -> MappingChange {
        MappingChange {
            advertised: self.advertised(),
            mapped: self.mapped,
        }
    }
}
