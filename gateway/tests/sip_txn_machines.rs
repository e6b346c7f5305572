//! The four RFC 3261 transaction machines (with RFC 6026), every timer path in virtual time.

use std::time::{Duration, Instant};

use gateway::sip::transaction::{
    InviteClientState, InviteClientTxn, InviteServerState, InviteServerTxn, NonInviteClientState,
    NonInviteClientTxn, NonInviteServerState, NonInviteServerTxn, TimerConfig, TxnAction, TxnError,
    TxnMessage,
};

/// An opaque message: the machines never look inside.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg(String);

impl TxnMessage for Msg {
    fn ack_for_non2xx(invite: &Self, response: &Self) -> Self {
        Msg(format!("ACK[{}|{}]", invite.0, response.0))
    }
    fn trying_for(request: &Self) -> Self {
        Msg(format!("100[{}]", request.0))
    }
}

fn m(s: &str) -> Msg {
    Msg(s.to_string())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Out = Vec<TxnAction<Msg>>;

/// Runs a machine's timers until `end`, recording (time offset, actions) at each deadline.
fn run_until<F, N>(t0: Instant, end: Duration, mut next: N, mut fire: F) -> Vec<(Duration, Out)>
where
    N: FnMut() -> Option<Instant>,
    F: FnMut(Instant, &mut Out),
{
    let mut log = Vec::new();
    while let Some(d) = next() {
        if d > t0 + end {
            break;
        }
        let mut out = Vec::new();
        fire(d, &mut out);
        log.push((d - t0, out));
    }
    log
}

fn transmit_times(log: &[(Duration, Out)]) -> Vec<u64> {
    log.iter()
        .filter(|(_, o)| o.iter().any(|a| matches!(a, TxnAction::Transmit(_))))
        .map(|(t, _)| t.as_millis() as u64)
        .collect()
}

// ---------- INVITE client ----------

#[test]
fn invite_client_timer_a_doubles_without_cap_and_timer_b_times_out() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, false, m("INVITE"), t0, &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("INVITE"))]);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(500)));
    let cell = std::cell::RefCell::new(&mut tx);
    let log = run_until(
        t0,
        Duration::from_secs(100),
        || cell.borrow().next_deadline(),
        |now, o| cell.borrow_mut().on_timer(now, o),
    );
    // Timer A: 0.5, 1, 2, 4, 8, 16 s intervals (no T2 cap for INVITE), B at 64*T1 = 32 s.
    assert_eq!(transmit_times(&log), vec![500, 1500, 3500, 7500, 15500, 31500]);
    let (t_last, last) = log.last().unwrap();
    assert_eq!(*t_last, Duration::from_secs(32));
    assert_eq!(last, &vec![TxnAction::Timeout, TxnAction::Terminated]);
    assert_eq!(tx.state(), InviteClientState::Terminated);
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_client_reliable_never_retransmits() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, true, m("INVITE"), t0, &mut out);
    assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)));
    out.clear();
    tx.on_timer(t0 + Duration::from_secs(32), &mut out);
    assert_eq!(out, vec![TxnAction::Timeout, TxnAction::Terminated]);
}

#[test]
fn invite_client_t1_is_configurable() {
    let cfg = TimerConfig {
        t1: ms(100),
        ..TimerConfig::default()
    };
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, false, m("INVITE"), t0, &mut out);
    let cell = std::cell::RefCell::new(&mut tx);
    let log = run_until(
        t0,
        Duration::from_secs(100),
        || cell.borrow().next_deadline(),
        |now, o| cell.borrow_mut().on_timer(now, o),
    );
    assert_eq!(transmit_times(&log), vec![100, 300, 700, 1500, 3100, 6300]);
    assert_eq!(log.last().unwrap().0, ms(6400));
}

#[test]
fn invite_client_provisional_stops_retransmission_and_timer_b() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, false, m("INVITE"), t0, &mut out);
    out.clear();
    tx.on_timer(t0 + ms(500), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("INVITE"))]);
    out.clear();
    tx.on_response(t0 + ms(700), 180, m("180"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("180"))]);
    assert_eq!(tx.state(), InviteClientState::Proceeding);
    // No retransmission, no Timer B in Proceeding: the TU decides (CANCEL / Timer C).
    assert_eq!(tx.next_deadline(), None);
    out.clear();
    tx.on_response(t0 + ms(800), 183, m("183"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("183"))]);
}

#[test]
fn invite_client_non_2xx_generates_ack_and_timer_d_absorbs() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, false, m("INVITE"), t0, &mut out);
    out.clear();
    tx.on_response(t0 + ms(100), 100, m("100"), &mut out);
    out.clear();
    tx.on_response(t0 + ms(200), 486, m("486"), &mut out);
    let ack = m("ACK[INVITE|486]");
    assert_eq!(
        out,
        vec![TxnAction::Transmit(ack.clone()), TxnAction::Deliver(m("486"))]
    );
    assert_eq!(tx.state(), InviteClientState::Completed);
    assert_eq!(tx.ack(), Some(&ack));
    // Retransmitted final: ACK again, not passed up.
    out.clear();
    tx.on_response(t0 + ms(700), 486, m("486"), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(ack)]);
    // Timer D: 32 s after entering Completed.
    assert_eq!(tx.next_deadline(), Some(t0 + ms(200) + Duration::from_secs(32)));
    out.clear();
    tx.on_timer(t0 + ms(200) + Duration::from_secs(32), &mut out);
    assert_eq!(out, vec![TxnAction::Terminated]);
}

#[test]
fn invite_client_non_2xx_reliable_timer_d_is_zero() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, true, m("INVITE"), t0, &mut out);
    out.clear();
    tx.on_response(t0 + ms(200), 603, m("603"), &mut out);
    assert_eq!(
        out,
        vec![
            TxnAction::Transmit(m("ACK[INVITE|603]")),
            TxnAction::Deliver(m("603")),
            TxnAction::Terminated
        ]
    );
}

#[test]
fn invite_client_timer_d_is_configurable() {
    let cfg = TimerConfig {
        timer_d: Duration::from_secs(40),
        ..TimerConfig::default()
    };
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, false, m("INVITE"), t0, &mut out);
    tx.on_response(t0, 404, m("404"), &mut out);
    assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(40)));
}

#[test]
fn invite_client_2xx_enters_accepted_and_passes_retransmissions_until_timer_m() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, false, m("INVITE"), t0, &mut out);
    out.clear();
    tx.on_response(t0 + ms(300), 200, m("200a"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("200a"))]);
    assert_eq!(tx.state(), InviteClientState::Accepted);
    // RFC 6026: later 2xx (retransmissions or other forks) go to the TU; others are absorbed.
    out.clear();
    tx.on_response(t0 + ms(800), 200, m("200b"), &mut out);
    tx.on_response(t0 + ms(900), 180, m("180"), &mut out);
    tx.on_response(t0 + ms(900), 500, m("500"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("200b"))]);
    // No retransmission of the INVITE any more; Timer M = 64*T1.
    assert_eq!(tx.next_deadline(), Some(t0 + ms(300) + Duration::from_secs(32)));
    out.clear();
    tx.on_timer(t0 + ms(300) + Duration::from_secs(32), &mut out);
    assert_eq!(out, vec![TxnAction::Terminated]);
}

#[test]
fn invite_client_transport_error() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteClientTxn::start(&cfg, false, m("INVITE"), t0, &mut out);
    out.clear();
    tx.on_transport_error(t0, &mut out);
    assert_eq!(out, vec![TxnAction::TransportError, TxnAction::Terminated]);
    out.clear();
    tx.on_transport_error(t0, &mut out);
    assert!(out.is_empty());
}

// ---------- non-INVITE client ----------

#[test]
fn non_invite_client_timer_e_caps_at_t2_and_timer_f_times_out() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteClientTxn::start(&cfg, false, m("OPTIONS"), t0, &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("OPTIONS"))]);
    let cell = std::cell::RefCell::new(&mut tx);
    let log = run_until(
        t0,
        Duration::from_secs(100),
        || cell.borrow().next_deadline(),
        |now, o| cell.borrow_mut().on_timer(now, o),
    );
    // 0.5, 1, 2, 4, then T2 = 4 s.
    assert_eq!(
        transmit_times(&log),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let (t, last) = log.last().unwrap();
    assert_eq!(*t, Duration::from_secs(32));
    assert_eq!(last, &vec![TxnAction::Timeout, TxnAction::Terminated]);
    assert_eq!(tx.state(), NonInviteClientState::Terminated);
}

#[test]
fn non_invite_client_t2_is_configurable() {
    let cfg = TimerConfig {
        t2: ms(1000),
        ..TimerConfig::default()
    };
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteClientTxn::start(&cfg, false, m("BYE"), t0, &mut out);
    let cell = std::cell::RefCell::new(&mut tx);
    let log = run_until(
        t0,
        Duration::from_secs(4),
        || cell.borrow().next_deadline(),
        |now, o| cell.borrow_mut().on_timer(now, o),
    );
    assert_eq!(transmit_times(&log), vec![500, 1500, 2500, 3500]);
}

#[test]
fn non_invite_client_proceeding_retransmits_every_t2() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteClientTxn::start(&cfg, false, m("REGISTER"), t0, &mut out);
    out.clear();
    tx.on_response(t0 + ms(100), 100, m("100"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("100"))]);
    assert_eq!(tx.state(), NonInviteClientState::Proceeding);
    let cell = std::cell::RefCell::new(&mut tx);
    let log = run_until(
        t0,
        Duration::from_secs(13),
        || cell.borrow().next_deadline(),
        |now, o| cell.borrow_mut().on_timer(now, o),
    );
    // Timer E was armed at 0.5 s; after it fires in Proceeding it is reset to T2.
    assert_eq!(transmit_times(&log), vec![500, 4500, 8500, 12500]);
}

#[test]
fn non_invite_client_final_then_timer_k() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteClientTxn::start(&cfg, false, m("BYE"), t0, &mut out);
    out.clear();
    tx.on_response(t0 + ms(50), 200, m("200"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("200"))]);
    assert_eq!(tx.state(), NonInviteClientState::Completed);
    // Retransmissions of the final response are absorbed.
    out.clear();
    tx.on_response(t0 + ms(60), 200, m("200"), &mut out);
    assert!(out.is_empty());
    assert_eq!(tx.next_deadline(), Some(t0 + ms(50) + Duration::from_secs(5)));
    tx.on_timer(t0 + ms(50) + Duration::from_secs(5), &mut out);
    assert_eq!(out, vec![TxnAction::Terminated]);
}

#[test]
fn non_invite_client_reliable_timer_k_is_zero_and_no_timer_e() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteClientTxn::start(&cfg, true, m("BYE"), t0, &mut out);
    assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)));
    out.clear();
    tx.on_response(t0 + ms(50), 404, m("404"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("404")), TxnAction::Terminated]);
}

#[test]
fn non_invite_client_transport_error() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteClientTxn::start(&cfg, false, m("BYE"), t0, &mut out);
    out.clear();
    tx.on_transport_error(t0, &mut out);
    assert_eq!(out, vec![TxnAction::TransportError, TxnAction::Terminated]);
}

// ---------- INVITE server ----------

#[test]
fn invite_server_sends_trying_after_200ms_without_tu_answer() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, false, m("INVITE"), t0);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(200)));
    tx.on_timer(t0 + ms(199), &mut out);
    assert!(out.is_empty());
    tx.on_timer(t0 + ms(200), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("100[INVITE]"))]);
    assert_eq!(tx.next_deadline(), None);
    // A retransmitted INVITE gets the 100 again.
    out.clear();
    tx.on_request(t0 + ms(500), false, m("INVITE"), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("100[INVITE]"))]);
}

#[test]
fn invite_server_no_trying_when_tu_answers_within_200ms() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, false, m("INVITE"), t0);
    tx.on_tu_response(t0 + ms(100), 180, m("180"), &mut out).unwrap();
    assert_eq!(out, vec![TxnAction::Transmit(m("180"))]);
    assert_eq!(tx.next_deadline(), None);
    out.clear();
    tx.on_request(t0 + ms(500), false, m("INVITE"), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("180"))]);
}

#[test]
fn invite_server_retransmission_before_trying_gets_trying_at_once() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, false, m("INVITE"), t0);
    tx.on_request(t0 + ms(150), false, m("INVITE"), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("100[INVITE]"))]);
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_server_non_2xx_timer_g_doubles_to_t2_and_timer_h_times_out() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, false, m("INVITE"), t0);
    tx.on_tu_response(t0, 486, m("486"), &mut out).unwrap();
    assert_eq!(out, vec![TxnAction::Transmit(m("486"))]);
    assert_eq!(tx.state(), InviteServerState::Completed);
    let cell = std::cell::RefCell::new(&mut tx);
    let log = run_until(
        t0,
        Duration::from_secs(100),
        || cell.borrow().next_deadline(),
        |now, o| cell.borrow_mut().on_timer(now, o),
    );
    assert_eq!(
        transmit_times(&log),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let (t, last) = log.last().unwrap();
    assert_eq!(*t, Duration::from_secs(32));
    assert_eq!(last, &vec![TxnAction::Timeout, TxnAction::Terminated]);
}

#[test]
fn invite_server_ack_confirms_then_timer_i() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, false, m("INVITE"), t0);
    tx.on_tu_response(t0, 404, m("404"), &mut out).unwrap();
    out.clear();
    // Retransmitted INVITE in Completed: the final response again.
    tx.on_request(t0 + ms(100), false, m("INVITE"), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("404"))]);
    out.clear();
    tx.on_request(t0 + ms(200), true, m("ACK"), &mut out);
    assert!(out.is_empty());
    assert_eq!(tx.state(), InviteServerState::Confirmed);
    // Timer G and H stopped, Timer I = T4.
    assert_eq!(tx.next_deadline(), Some(t0 + ms(200) + Duration::from_secs(5)));
    tx.on_request(t0 + ms(300), true, m("ACK"), &mut out);
    assert!(out.is_empty());
    tx.on_timer(t0 + ms(5200), &mut out);
    assert_eq!(out, vec![TxnAction::Terminated]);
}

#[test]
fn invite_server_reliable_no_timer_g_and_timer_i_zero() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, true, m("INVITE"), t0);
    tx.on_tu_response(t0, 480, m("480"), &mut out).unwrap();
    assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)));
    out.clear();
    tx.on_request(t0 + ms(10), true, m("ACK"), &mut out);
    assert_eq!(out, vec![TxnAction::Terminated]);
}

#[test]
fn invite_server_2xx_accepted_state_timer_l() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, false, m("INVITE"), t0);
    tx.on_tu_response(t0 + ms(50), 180, m("180"), &mut out).unwrap();
    tx.on_tu_response(t0 + ms(1000), 200, m("200"), &mut out).unwrap();
    assert_eq!(
        out,
        vec![TxnAction::Transmit(m("180")), TxnAction::Transmit(m("200"))]
    );
    assert_eq!(tx.state(), InviteServerState::Accepted);
    out.clear();
    // INVITE retransmissions are absorbed; the TU's own 2xx retransmissions are sent.
    tx.on_request(t0 + ms(1100), false, m("INVITE"), &mut out);
    assert!(out.is_empty());
    tx.on_tu_response(t0 + ms(1500), 200, m("200"), &mut out).unwrap();
    assert_eq!(out, vec![TxnAction::Transmit(m("200"))]);
    // An ACK matching the transaction goes to the TU.
    out.clear();
    tx.on_request(t0 + ms(1600), true, m("ACK"), &mut out);
    assert_eq!(out, vec![TxnAction::Deliver(m("ACK"))]);
    // Non-2xx after 2xx is refused.
    assert_eq!(
        tx.on_tu_response(t0 + ms(1700), 500, m("500"), &mut out),
        Err(TxnError::InvalidState)
    );
    assert_eq!(tx.next_deadline(), Some(t0 + ms(1000) + Duration::from_secs(32)));
    out.clear();
    tx.on_timer(t0 + ms(33000), &mut out);
    assert_eq!(out, vec![TxnAction::Terminated]);
}

#[test]
fn invite_server_transport_error() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = InviteServerTxn::new(&cfg, false, m("INVITE"), t0);
    tx.on_transport_error(t0, &mut out);
    assert_eq!(out, vec![TxnAction::TransportError, TxnAction::Terminated]);
    assert_eq!(tx.next_deadline(), None);
}

// ---------- non-INVITE server ----------

#[test]
fn non_invite_server_flow_and_timer_j() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteServerTxn::new(&cfg, false, m("OPTIONS"), t0);
    assert_eq!(tx.next_deadline(), None);
    // Trying: retransmissions discarded.
    tx.on_request(t0 + ms(500), m("OPTIONS"), &mut out);
    assert!(out.is_empty());
    tx.on_tu_response(t0 + ms(600), 100, m("100"), &mut out).unwrap();
    assert_eq!(tx.state(), NonInviteServerState::Proceeding);
    out.clear();
    tx.on_request(t0 + ms(1500), m("OPTIONS"), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("100"))]);
    out.clear();
    tx.on_tu_response(t0 + ms(2000), 200, m("200"), &mut out).unwrap();
    assert_eq!(out, vec![TxnAction::Transmit(m("200"))]);
    assert_eq!(tx.state(), NonInviteServerState::Completed);
    out.clear();
    tx.on_request(t0 + ms(3500), m("OPTIONS"), &mut out);
    assert_eq!(out, vec![TxnAction::Transmit(m("200"))]);
    assert_eq!(
        tx.on_tu_response(t0 + ms(3600), 200, m("200"), &mut out),
        Err(TxnError::InvalidState)
    );
    // Timer J = 64*T1 from the final response.
    assert_eq!(tx.next_deadline(), Some(t0 + ms(34000)));
    out.clear();
    tx.on_timer(t0 + ms(33999), &mut out);
    assert!(out.is_empty());
    tx.on_timer(t0 + ms(34000), &mut out);
    assert_eq!(out, vec![TxnAction::Terminated]);
}

#[test]
fn non_invite_server_reliable_timer_j_zero() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteServerTxn::new(&cfg, true, m("BYE"), t0);
    tx.on_tu_response(t0, 200, m("200"), &mut out).unwrap();
    assert_eq!(out, vec![TxnAction::Transmit(m("200")), TxnAction::Terminated]);
}

#[test]
fn non_invite_server_transport_error() {
    let cfg = TimerConfig::default();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = NonInviteServerTxn::new(&cfg, false, m("BYE"), t0);
    tx.on_tu_response(t0, 180, m("180"), &mut out).unwrap();
    out.clear();
    tx.on_transport_error(t0, &mut out);
    assert_eq!(out, vec![TxnAction::TransportError, TxnAction::Terminated]);
}
