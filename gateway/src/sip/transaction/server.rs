//! Server transactions: INVITE (RFC 3261 17.2.1 with the RFC 6026 Accepted state) and
//! non-INVITE (17.2.2).
//!
//! The request that creates a server transaction is handed to the TU by the owner (the
//! transaction layer), not by the machine; the machines handle what follows.

use std::time::{Duration, Instant};

use super::{TimerConfig, TxnAction, TxnError, TxnMessage, deadline_min, due};

/// States of [`InviteServerTxn`] (RFC 6026 Figure 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// INVITE server transaction.
///
/// Sends `100 Trying` by itself when the TU has not answered within 200 ms, Timer G
/// retransmits a non-2xx final response (T1 doubling up to T2, unreliable only), Timer H
/// (64*T1) gives up waiting for the ACK, Timer I (T4 unreliable, 0 reliable) absorbs ACK
/// retransmissions, Timer L (64*T1) keeps the Accepted state after a 2xx so that INVITE
/// retransmissions are absorbed and the TU's 2xx retransmissions are sent.
#[derive(Clone, Debug)]
pub struct InviteServerTxn<M> {
    cfg: TimerConfig,
    reliable: bool,
    state: InviteServerState,
    request: M,
    last_response: Option<M>,
    trying_timer: Option<Instant>,
    timer_g: Option<Instant>,
    g_interval: Duration,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl<M: TxnMessage> InviteServerTxn<M> {
    /// Creates the transaction for a received INVITE (state Proceeding).
    pub fn new(cfg: &TimerConfig, reliable: bool, invite: M, now: Instant) -> Self {
        InviteServerTxn {
            cfg: *cfg,
            reliable,
            state: InviteServerState::Proceeding,
            request: invite,
            last_response: None,
            trying_timer: Some(now + cfg.trying_delay),
            timer_g: None,
            g_interval: cfg.t1,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    pub fn state(&self) -> InviteServerState {
        self.state
    }

    /// The INVITE that created the transaction.
    pub fn request(&self) -> &M {
        &self.request
    }

    /// The last response passed to the transport.
    pub fn last_response(&self) -> Option<&M> {
        self.last_response.as_ref()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        deadline_min(&[
            self.trying_timer,
            self.timer_g,
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ])
    }

    /// A retransmission of the INVITE, or an ACK, matched this transaction (17.2.3).
    pub fn on_request(&mut self, now: Instant, is_ack: bool, msg: M, out: &mut Vec<TxnAction<M>>) {
        use InviteServerState::*;
        match (self.state, is_ack) {
            (Proceeding, false) => {
                // The client is retransmitting: answer with the latest provisional, or a
                // 100 Trying at once so that it stops.
                match &self.last_response {
                    Some(r) => out.push(TxnAction::Transmit(r.clone())),
                    None => self.send_trying(out),
                }
            }
            (Completed, false) => {
                if let Some(r) = &self.last_response {
                    out.push(TxnAction::Transmit(r.clone()));
                }
            }
            (Completed, true) => {
                self.timer_g = None;
                self.timer_h = None;
                if self.reliable {
                    self.terminate(out);
                } else {
                    self.state = Confirmed;
                    self.timer_i = Some(now + self.cfg.t4);
                }
            }
            // RFC 6026 8.7: an ACK matching the Accepted transaction goes to the TU; INVITE
            // retransmissions are absorbed (the TU retransmits its 2xx itself).
            (Accepted, true) => out.push(TxnAction::Deliver(msg)),
            _ => {}
        }
    }

    /// The TU passes a response for the INVITE.
    pub fn on_tu_response(
        &mut self,
        now: Instant,
        status: u16,
        response: M,
        out: &mut Vec<TxnAction<M>>,
    ) -> Result<(), TxnError> {
        use InviteServerState::*;
        match (self.state, status) {
            (Proceeding, 100..=199) => {
                self.trying_timer = None;
                out.push(TxnAction::Transmit(response.clone()));
                self.last_response = Some(response);
            }
            (Proceeding | Accepted, 200..=299) => {
                self.trying_timer = None;
                out.push(TxnAction::Transmit(response.clone()));
                self.last_response = Some(response);
                if self.state == Proceeding {
                    self.state = Accepted;
                    self.timer_l = Some(now + self.cfg.t1x64());
                }
            }
            (Proceeding, 300..=699) => {
                self.trying_timer = None;
                out.push(TxnAction::Transmit(response.clone()));
                self.last_response = Some(response);
                self.state = Completed;
                if !self.reliable {
                    self.timer_g = Some(now + self.cfg.t1);
                }
                self.timer_h = Some(now + self.cfg.t1x64());
            }
            _ => return Err(TxnError::InvalidState),
        }
        Ok(())
    }

    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<TxnAction<M>>) {
        if due(self.trying_timer, now) {
            self.trying_timer = None;
            self.send_trying(out);
        }
        if due(self.timer_h, now) {
            out.push(TxnAction::Timeout);
            self.terminate(out);
            return;
        }
        if due(self.timer_g, now) {
            if let Some(r) = &self.last_response {
                out.push(TxnAction::Transmit(r.clone()));
            }
            self.g_interval = (self.g_interval * 2).min(self.cfg.t2);
            self.timer_g = Some(now + self.g_interval);
        }
        if due(self.timer_i, now) || due(self.timer_l, now) {
            self.terminate(out);
        }
    }

    /// The transport failed to deliver a response (17.2.4).
    pub fn on_transport_error(&mut self, _now: Instant, out: &mut Vec<TxnAction<M>>) {
        if self.state == InviteServerState::Terminated {
            return;
        }
        out.push(TxnAction::TransportError);
        self.terminate(out);
    }

    fn send_trying(&mut self, out: &mut Vec<TxnAction<M>>) {
        self.trying_timer = None;
        let trying = M::trying_for(&self.request);
        out.push(TxnAction::Transmit(trying.clone()));
        self.last_response = Some(trying);
    }

    fn terminate(&mut self, out: &mut Vec<TxnAction<M>>) {
        self.state = InviteServerState::Terminated;
        self.trying_timer = None;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
        out.push(TxnAction::Terminated);
    }
}

/// States of [`NonInviteServerTxn`] (RFC 3261 Figure 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// Non-INVITE server transaction: Timer J (64*T1 unreliable, 0 reliable) absorbs request
/// retransmissions after the final response, answering each with that response again.
#[derive(Clone, Debug)]
pub struct NonInviteServerTxn<M> {
    cfg: TimerConfig,
    reliable: bool,
    state: NonInviteServerState,
    request: M,
    last_response: Option<M>,
    timer_j: Option<Instant>,
}

impl<M: TxnMessage> NonInviteServerTxn<M> {
    /// Creates the transaction for a received non-INVITE request (state Trying).
    pub fn new(cfg: &TimerConfig, reliable: bool, request: M, _now: Instant) -> Self {
        NonInviteServerTxn {
            cfg: *cfg,
            reliable,
            state: NonInviteServerState::Trying,
            request,
            last_response: None,
            timer_j: None,
        }
    }

    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    pub fn request(&self) -> &M {
        &self.request
    }

    pub fn last_response(&self) -> Option<&M> {
        self.last_response.as_ref()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timer_j
    }

    /// A retransmission of the request matched this transaction.
    pub fn on_request(&mut self, _now: Instant, _msg: M, out: &mut Vec<TxnAction<M>>) {
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => {
                if let Some(r) = &self.last_response {
                    out.push(TxnAction::Transmit(r.clone()));
                }
            }
            // Trying: discarded; Terminated: nothing to do.
            _ => {}
        }
    }

    pub fn on_tu_response(
        &mut self,
        now: Instant,
        status: u16,
        response: M,
        out: &mut Vec<TxnAction<M>>,
    ) -> Result<(), TxnError> {
        use NonInviteServerState::*;
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(TxnAction::Transmit(response.clone()));
                self.last_response = Some(response);
            }
            (Trying | Proceeding, 200..=699) => {
                out.push(TxnAction::Transmit(response.clone()));
                self.last_response = Some(response);
                if self.reliable {
                    self.terminate(out);
                } else {
                    self.state = Completed;
                    self.timer_j = Some(now + self.cfg.t1x64());
                }
            }
            _ => return Err(TxnError::InvalidState),
        }
        Ok(())
    }

    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<TxnAction<M>>) {
        if due(self.timer_j, now) {
            self.terminate(out);
        }
    }

    pub fn on_transport_error(&mut self, _now: Instant, out: &mut Vec<TxnAction<M>>) {
        if self.state == NonInviteServerState::Terminated {
            return;
        }
        out.push(TxnAction::TransportError);
        self.terminate(out);
    }

    fn terminate(&mut self, out: &mut Vec<TxnAction<M>>) {
        self.state = NonInviteServerState::Terminated;
        self.timer_j = None;
        out.push(TxnAction::Terminated);
    }
}
