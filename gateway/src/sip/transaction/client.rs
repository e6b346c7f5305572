//! Client transactions: INVITE (RFC 3261 17.1.1 with the RFC 6026 Accepted state) and
//! non-INVITE (17.1.2).

use std::time::{Duration, Instant};

use super::{TimerConfig, TxnAction, TxnMessage, deadline_min, due};

/// States of [`InviteClientTxn`] (RFC 3261 Figure 5 as amended by RFC 6026 Figure 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteClientState {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// INVITE client transaction.
///
/// Timer A retransmits the INVITE on unreliable transports (T1, doubling without cap),
/// Timer B (64*T1) times out the Calling state, Timer D (32 s unreliable, 0 reliable) absorbs
/// non-2xx retransmissions in Completed, Timer M (64*T1) keeps the Accepted state so that
/// 2xx retransmissions from other forks reach the TU.
#[derive(Clone, Debug)]
pub struct InviteClientTxn<M> {
    cfg: TimerConfig,
    reliable: bool,
    state: InviteClientState,
    request: M,
    ack: Option<M>,
    timer_a: Option<Instant>,
    a_interval: Duration,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
}

impl<M: TxnMessage> InviteClientTxn<M> {
    /// Creates the transaction and sends the INVITE (state Calling).
    pub fn start(
        cfg: &TimerConfig,
        reliable: bool,
        invite: M,
        now: Instant,
        out: &mut Vec<TxnAction<M>>,
    ) -> Self {
        out.push(TxnAction::Transmit(invite.clone()));
        InviteClientTxn {
            cfg: *cfg,
            reliable,
            state: InviteClientState::Calling,
            request: invite,
            ack: None,
            timer_a: (!reliable).then(|| now + cfg.t1),
            a_interval: cfg.t1,
            timer_b: Some(now + cfg.t1x64()),
            timer_d: None,
            timer_m: None,
        }
    }

    pub fn state(&self) -> InviteClientState {
        self.state
    }

    /// The INVITE this transaction sends.
    pub fn request(&self) -> &M {
        &self.request
    }

    /// The ACK generated for the non-2xx final response, once there is one.
    pub fn ack(&self) -> Option<&M> {
        self.ack.as_ref()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        deadline_min(&[self.timer_a, self.timer_b, self.timer_d, self.timer_m])
    }

    /// A response matched to this transaction (17.1.3) arrived.
    pub fn on_response(&mut self, now: Instant, status: u16, response: M, out: &mut Vec<TxnAction<M>>) {
        use InviteClientState::*;
        match (self.state, status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timer_a = None;
                self.timer_b = None;
                out.push(TxnAction::Deliver(response));
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(now + self.cfg.t1x64());
                out.push(TxnAction::Deliver(response));
            }
            (Calling | Proceeding, 300..=699) => {
                self.timer_a = None;
                self.timer_b = None;
                let ack = M::ack_for_non2xx(&self.request, &response);
                out.push(TxnAction::Transmit(ack.clone()));
                self.ack = Some(ack);
                out.push(TxnAction::Deliver(response));
                if self.reliable {
                    self.terminate(out);
                } else {
                    self.state = Completed;
                    self.timer_d = Some(now + self.cfg.timer_d);
                }
            }
            (Completed, 300..=699) => {
                // A retransmitted final response: the ACK was lost, send it again.
                if let Some(ack) = &self.ack {
                    out.push(TxnAction::Transmit(ack.clone()));
                }
            }
            (Accepted, 200..=299) => out.push(TxnAction::Deliver(response)),
            // Anything else (late provisionals, non-2xx after a 2xx) is absorbed.
            _ => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<TxnAction<M>>) {
        if due(self.timer_b, now) {
            self.timer_b = None;
            out.push(TxnAction::Timeout);
            self.terminate(out);
            return;
        }
        if due(self.timer_a, now) {
            out.push(TxnAction::Transmit(self.request.clone()));
            self.a_interval *= 2;
            self.timer_a = Some(now + self.a_interval);
        }
        if due(self.timer_d, now) || due(self.timer_m, now) {
            self.terminate(out);
        }
    }

    /// The transport failed to send a message of this transaction (17.1.4).
    pub fn on_transport_error(&mut self, _now: Instant, out: &mut Vec<TxnAction<M>>) {
        if self.state == InviteClientState::Terminated {
            return;
        }
        if matches!(
            self.state,
            InviteClientState::Calling | InviteClientState::Proceeding
        ) {
            out.push(TxnAction::TransportError);
        }
        self.terminate(out);
    }

    fn terminate(&mut self, out: &mut Vec<TxnAction<M>>) {
        self.state = InviteClientState::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
        out.push(TxnAction::Terminated);
    }
}

/// States of [`NonInviteClientTxn`] (RFC 3261 Figure 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// Non-INVITE client transaction.
///
/// Timer E retransmits on unreliable transports (T1 doubling up to T2; T2 once a provisional
/// response arrived), Timer F (64*T1) times out, Timer K (T4 unreliable, 0 reliable) absorbs
/// response retransmissions.
#[derive(Clone, Debug)]
pub struct NonInviteClientTxn<M> {
    cfg: TimerConfig,
    reliable: bool,
    state: NonInviteClientState,
    request: M,
    timer_e: Option<Instant>,
    e_interval: Duration,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl<M: TxnMessage> NonInviteClientTxn<M> {
    /// Creates the transaction and sends the request (state Trying).
    pub fn start(
        cfg: &TimerConfig,
        reliable: bool,
        request: M,
        now: Instant,
        out: &mut Vec<TxnAction<M>>,
    ) -> Self {
        out.push(TxnAction::Transmit(request.clone()));
        NonInviteClientTxn {
            cfg: *cfg,
            reliable,
            state: NonInviteClientState::Trying,
            request,
            timer_e: (!reliable).then(|| now + cfg.t1),
            e_interval: cfg.t1,
            timer_f: Some(now + cfg.t1x64()),
            timer_k: None,
        }
    }

    pub fn state(&self) -> NonInviteClientState {
        self.state
    }

    pub fn request(&self) -> &M {
        &self.request
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        deadline_min(&[self.timer_e, self.timer_f, self.timer_k])
    }

    pub fn on_response(&mut self, now: Instant, status: u16, response: M, out: &mut Vec<TxnAction<M>>) {
        use NonInviteClientState::*;
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(TxnAction::Deliver(response));
            }
            (Trying | Proceeding, 200..=699) => {
                self.timer_e = None;
                self.timer_f = None;
                out.push(TxnAction::Deliver(response));
                if self.reliable {
                    self.terminate(out);
                } else {
                    self.state = Completed;
                    self.timer_k = Some(now + self.cfg.t4);
                }
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<TxnAction<M>>) {
        if due(self.timer_f, now) {
            self.timer_f = None;
            out.push(TxnAction::Timeout);
            self.terminate(out);
            return;
        }
        if due(self.timer_e, now) {
            out.push(TxnAction::Transmit(self.request.clone()));
            self.e_interval = match self.state {
                NonInviteClientState::Proceeding => self.cfg.t2,
                _ => (self.e_interval * 2).min(self.cfg.t2),
            };
            self.timer_e = Some(now + self.e_interval);
        }
        if due(self.timer_k, now) {
            self.terminate(out);
        }
    }

    pub fn on_transport_error(&mut self, _now: Instant, out: &mut Vec<TxnAction<M>>) {
        if self.state == NonInviteClientState::Terminated {
            return;
        }
        if self.state != NonInviteClientState::Completed {
            out.push(TxnAction::TransportError);
        }
        self.terminate(out);
    }

    fn terminate(&mut self, out: &mut Vec<TxnAction<M>>) {
        self.state = NonInviteClientState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
        out.push(TxnAction::Terminated);
    }
}
