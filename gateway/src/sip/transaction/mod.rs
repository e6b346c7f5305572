//! SIP transactions (RFC 3261 section 17, RFC 6026), sans-IO.
//!
//! - [`client`]: [`InviteClientTxn`] (Timers A, B, D, M) and [`NonInviteClientTxn`] (E, F, K).
//! - [`server`]: [`InviteServerTxn`] (G, H, I, L and the 200 ms `100 Trying`) and
//!   [`NonInviteServerTxn`] (J).
//! - [`key`]: what the layer needs to know about a message ([`MsgInfo`]) and the matching keys of
//!   17.1.3 and 17.2.3, including the RFC 2543 fallback.
//! - [`layer`]: [`TransactionLayer`], which owns the machines, matches incoming messages to them,
//!   routes strays to the core and keeps one timer queue.
//! - [`wire_glue`]: the binding to the wire types ([`MsgInfo`] from messages, the ACK and
//!   `100 Trying`, Via building/stamping, received bytes to layer input).
//!
//! Every machine is driven by calls carrying `now` and writes what it wants done into an output
//! vector of [`TxnAction`]; `next_deadline()` says when it must be woken next. Nothing here reads
//! a clock or touches a socket, so each timer path is tested in virtual time.
//!
//! The machines are generic over the message type `M` (anything [`TxnMessage`]): they store and
//! retransmit messages without looking inside them, except to build the ACK for a non-2xx final
//! response and the `100 Trying`, which the message type provides.

pub mod client;
pub mod key;
pub mod layer;
pub mod server;
pub mod wire_glue;

use std::time::{Duration, Instant};

pub use client::{InviteClientState, InviteClientTxn, NonInviteClientState, NonInviteClientTxn};
pub use key::{ClientKey, MsgInfo, ServerKey, StartLine, TxnMethod};
pub use layer::{LayerStats, TransactionLayer, TxnEvent, TxnId};
pub use server::{InviteServerState, InviteServerTxn, NonInviteServerState, NonInviteServerTxn};

/// The RFC 3261 magic cookie that marks a branch as globally unique (8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Timer base values (RFC 3261 Table 4). Every transaction timer derives from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, default 5 s.
    pub t4: Duration,
    /// Timer D on unreliable transports ("at least 32 s"), default 32 s.
    pub timer_d: Duration,
    /// Delay before an INVITE server transaction sends `100 Trying` on its own (17.2.1), 200 ms.
    pub trying_delay: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            trying_delay: Duration::from_millis(200),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J, L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// What a transaction machine asks its owner to do. Pushed in order into the output vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnAction<M> {
    /// Pass this message to the transport toward the transaction's peer
    /// (a request or ACK for client transactions, a response for server transactions).
    Transmit(M),
    /// Pass this message to the transaction user: a response (client transactions) or an ACK
    /// received in the INVITE server's Accepted state.
    Deliver(M),
    /// Timer B, F or H fired: the peer never answered (client) or never acknowledged (server).
    Timeout,
    /// The transport reported a failure for this transaction.
    TransportError,
    /// The machine reached Terminated; its owner drops it.
    Terminated,
}

/// The operations the machines need from a message type besides storing and cloning it.
pub trait TxnMessage: Clone {
    /// The ACK for a non-2xx final response, built per RFC 3261 17.1.1.3 from the INVITE this
    /// transaction sent and the response: same Request-URI, Call-ID, From, top Via (branch
    /// included) and Route, the response's To (with its tag), CSeq number with method ACK.
    fn ack_for_non2xx(invite: &Self, response: &Self) -> Self;
    /// A `100 Trying` response to `request` (8.2.6: To without tag, Timestamp copied).
    fn trying_for(request: &Self) -> Self;
}

/// Misuse of a transaction by its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnError {
    /// The request has no Via branch, so no RFC 3261 transaction can be created for it.
    MissingBranch,
    /// ACK is not sent through a client transaction (ACK for 2xx is sent by the core, the ACK
    /// for non-2xx by the INVITE client transaction itself).
    AckIsNotATransaction,
    /// A transaction with the same key already exists.
    Duplicate,
    /// No transaction with this id (it may have terminated).
    UnknownTransaction,
    /// The transaction cannot take a response now: a final response was already sent, or the
    /// status code is not a response status (100..=699).
    InvalidState,
    /// The message given is a response where a request was expected, or the reverse.
    WrongKind,
}

impl std::fmt::Display for TxnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            TxnError::MissingBranch => "request has no Via branch",
            TxnError::AckIsNotATransaction => "ACK does not create a client transaction",
            TxnError::Duplicate => "a transaction with this key already exists",
            TxnError::UnknownTransaction => "no such transaction",
            TxnError::InvalidState => "the transaction cannot send this response in its state",
            TxnError::WrongKind => "request/response kind mismatch",
        };
        f.write_str(s)
    }
}

impl std::error::Error for TxnError {}

/// One timer slot: its deadline if armed.
pub(crate) fn deadline_min(slots: &[Option<Instant>]) -> Option<Instant> {
    slots.iter().flatten().min().copied()
}

/// True if the armed timer is due at `now`.
pub(crate) fn due(slot: Option<Instant>, now: Instant) -> bool {
    matches!(slot, Some(t) if t <= now)
}
