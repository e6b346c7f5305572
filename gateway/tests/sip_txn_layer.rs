//! The transaction layer: matching (17.1.3, 17.2.3, RFC 2543 fallback), strays, CANCEL
//! targets, timers through the shared queue, and a client layer talking to a server layer.

use std::time::{Duration, Instant};

use gateway::sip::transaction::{
    MsgInfo, StartLine, TimerConfig, TransactionLayer, TxnError, TxnEvent, TxnId, TxnMessage, TxnMethod,
};
use proptest::prelude::*;

/// A message as the layer sees it: its info plus a label.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg {
    info: MsgInfo,
    label: String,
}

impl TxnMessage for Msg {
    fn ack_for_non2xx(invite: &Self, response: &Self) -> Self {
        let mut info = invite.info.clone();
        info.start = StartLine::Request {
            method: TxnMethod::Ack,
            request_uri: uri(&invite.info),
        };
        info.cseq_method = TxnMethod::Ack;
        info.to_tag = response.info.to_tag.clone();
        Msg {
            info,
            label: "ACK".into(),
        }
    }
    fn trying_for(request: &Self) -> Self {
        response(&request.info, 100, None)
    }
}

fn uri(info: &MsgInfo) -> String {
    match &info.start {
        StartLine::Request { request_uri, .. } => request_uri.clone(),
        StartLine::Response { .. } => String::new(),
    }
}

fn request(method: &str, branch: Option<&str>, sent_by: &str, cseq: u32) -> Msg {
    let m = TxnMethod::from_token(method);
    let info = MsgInfo {
        start: StartLine::Request {
            method: m.clone(),
            request_uri: "sip:bob@example.com".into(),
        },
        branch: branch.map(str::to_string),
        sent_by: sent_by.into(),
        top_via: format!(
            "SIP/2.0/UDP {sent_by}{}",
            branch.map(|b| format!(";branch={b}")).unwrap_or_default()
        ),
        call_id: "call-1".into(),
        cseq,
        cseq_method: m,
        from_tag: Some("ft".into()),
        to_tag: None,
    };
    Msg {
        info,
        label: method.into(),
    }
}

fn response(req: &MsgInfo, status: u16, to_tag: Option<&str>) -> Msg {
    let mut info = req.clone();
    info.start = StartLine::Response { status };
    info.to_tag = to_tag.map(str::to_string).or(req.to_tag.clone());
    Msg {
        info,
        label: status.to_string(),
    }
}

type Layer = TransactionLayer<Msg, &'static str>;

fn events(l: &mut Layer) -> Vec<TxnEvent<Msg, &'static str>> {
    let mut v = Vec::new();
    l.drain_events(&mut v);
    v
}

fn labels(ev: &[TxnEvent<Msg, &'static str>]) -> Vec<String> {
    ev.iter()
        .map(|e| match e {
            TxnEvent::Transmit { msg, dest, .. } => format!("tx {} -> {dest}", msg.label),
            TxnEvent::Request { msg, cancels, .. } => {
                format!(
                    "req {}{}",
                    msg.label,
                    if cancels.is_some() { " (cancels)" } else { "" }
                )
            }
            TxnEvent::Response { status, .. } => format!("resp {status}"),
            TxnEvent::Ack { .. } => "ack".into(),
            TxnEvent::StrayAck { .. } => "stray ack".into(),
            TxnEvent::StrayInvite2xx { .. } => "stray 2xx".into(),
            TxnEvent::Timeout { .. } => "timeout".into(),
            TxnEvent::TransportError { .. } => "transport error".into(),
            TxnEvent::Terminated { .. } => "terminated".into(),
        })
        .collect()
}

fn new_request_txn(ev: &[TxnEvent<Msg, &'static str>]) -> TxnId {
    ev.iter()
        .find_map(|e| match e {
            TxnEvent::Request { txn, .. } => Some(*txn),
            _ => None,
        })
        .expect("a new server transaction")
}

const B1: &str = "z9hG4bK-1";

#[test]
fn client_rejects_ack_and_branchless_and_duplicates() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let ack = request("ACK", Some(B1), "a.example", 1);
    assert_eq!(
        l.send_request(t0, &ack.info, ack.clone(), "peer", false),
        Err(TxnError::AckIsNotATransaction)
    );
    let old = request("INVITE", Some("1234"), "a.example", 1);
    assert_eq!(
        l.send_request(t0, &old.info, old.clone(), "peer", false),
        Err(TxnError::MissingBranch)
    );
    let inv = request("INVITE", Some(B1), "a.example", 1);
    l.send_request(t0, &inv.info, inv.clone(), "peer", false).unwrap();
    assert_eq!(
        l.send_request(t0, &inv.info, inv.clone(), "peer", false),
        Err(TxnError::Duplicate)
    );
    let resp = response(&inv.info, 200, None);
    assert_eq!(
        l.send_request(t0, &resp.info, resp.clone(), "peer", false),
        Err(TxnError::WrongKind)
    );
}

#[test]
fn response_matching_uses_branch_and_cseq_method() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "a.example", 1);
    let cancel = request("CANCEL", Some(B1), "a.example", 1);
    let ti = l.send_request(t0, &inv.info, inv.clone(), "peer", false).unwrap();
    l.receive(
        t0,
        &response(&inv.info, 180, Some("tt")).info,
        response(&inv.info, 180, Some("tt")),
        "x",
        false,
    );
    let tc = l
        .send_request(t0, &cancel.info, cancel.clone(), "peer", false)
        .unwrap();
    events(&mut l);
    // Same branch, CSeq method CANCEL: the CANCEL transaction, not the INVITE one.
    let r = response(&cancel.info, 200, Some("tt"));
    l.receive(t0, &r.info, r.clone(), "x", false);
    let ev = events(&mut l);
    assert!(matches!(ev[0], TxnEvent::Response { txn, status: 200, .. } if txn == tc));
    let r = response(&inv.info, 487, Some("tt"));
    l.receive(t0, &r.info, r.clone(), "x", false);
    let ev = events(&mut l);
    assert_eq!(labels(&ev), vec!["tx ACK -> peer", "resp 487"]);
    assert!(matches!(ev[1], TxnEvent::Response { txn, .. } if txn == ti));
    // Different branch: stray, dropped.
    let mut other = inv.info.clone();
    other.branch = Some("z9hG4bK-other".into());
    let r = response(&other, 486, None);
    l.receive(t0, &r.info, r.clone(), "x", false);
    assert!(events(&mut l).is_empty());
    assert_eq!(l.stats().stray_responses_dropped, 1);
}

#[test]
fn stray_2xx_to_invite_goes_to_core() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "a.example", 1);
    let r = response(&inv.info, 200, Some("tt"));
    l.receive(t0, &r.info, r.clone(), "x", false);
    assert_eq!(labels(&events(&mut l)), vec!["stray 2xx"]);
}

#[test]
fn server_matching_branch_sent_by_method() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "a.example:5060", 1);
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    let ev = events(&mut l);
    assert_eq!(labels(&ev), vec!["req INVITE"]);
    let id = new_request_txn(&ev);
    // Retransmission: absorbed by the transaction, 100 Trying at once.
    l.receive(
        t0 + Duration::from_millis(100),
        &inv.info,
        inv.clone(),
        "src",
        false,
    );
    assert_eq!(labels(&events(&mut l)), vec!["tx 100 -> src"]);
    // Same branch from another sent-by: another transaction.
    let other = request("INVITE", Some(B1), "b.example:5060", 1);
    l.receive(t0, &other.info, other.clone(), "src2", false);
    assert_eq!(labels(&events(&mut l)), vec!["req INVITE"]);
    // Non-2xx, then its ACK (same branch) matches the INVITE transaction.
    let r = response(&inv.info, 486, Some("tt"));
    l.respond(t0, id, &r.info, r.clone()).unwrap();
    assert_eq!(labels(&events(&mut l)), vec!["tx 486 -> src"]);
    let ack = Msg::ack_for_non2xx(&inv, &r);
    l.receive(t0, &ack.info, ack.clone(), "src", false);
    assert!(events(&mut l).is_empty());
    assert_eq!(l.len(), (0, 2));
    assert!(l.respond(t0, TxnId(999), &r.info, r.clone()).is_err());
}

#[test]
fn ack_for_2xx_with_new_branch_is_stray_and_accepted_ack_goes_to_tu() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "a.example", 1);
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    let id = new_request_txn(&events(&mut l));
    let ok = response(&inv.info, 200, Some("tt"));
    l.respond(t0, id, &ok.info, ok.clone()).unwrap();
    assert_eq!(labels(&events(&mut l)), vec!["tx 200 -> src"]);
    let mut ack = request("ACK", Some("z9hG4bK-2"), "a.example", 1);
    ack.info.to_tag = Some("tt".into());
    l.receive(t0, &ack.info, ack.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["stray ack"]);
    let same_branch_ack = request("ACK", Some(B1), "a.example", 1);
    l.receive(t0, &same_branch_ack.info, same_branch_ack.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["ack"]);
}

#[test]
fn cancel_finds_its_invite() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "a.example", 1);
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    let inv_id = new_request_txn(&events(&mut l));
    assert!(l.invite_server_pending(inv_id));
    let cancel = request("CANCEL", Some(B1), "a.example", 1);
    assert_eq!(l.find_cancel_target(&cancel.info), Some(inv_id));
    l.receive(t0, &cancel.info, cancel.clone(), "src", false);
    let ev = events(&mut l);
    assert_eq!(labels(&ev), vec!["req CANCEL (cancels)"]);
    let cancel_id = new_request_txn(&ev);
    assert_ne!(cancel_id, inv_id);
    assert!(matches!(ev[0], TxnEvent::Request { cancels: Some(t), .. } if t == inv_id));
    assert_eq!(l.server_request(inv_id).map(|m| m.label.as_str()), Some("INVITE"));
    // A CANCEL for an unknown INVITE still creates its transaction (answered 481 by the TU).
    let lost = request("CANCEL", Some("z9hG4bK-nothing"), "a.example", 1);
    l.receive(t0, &lost.info, lost.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["req CANCEL"]);
}

#[test]
fn rfc2543_fallback_matching() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    // No magic cookie: matching on Request-URI, tags, Call-ID, CSeq, top Via.
    let inv = request("INVITE", Some("oldbranch"), "old.example", 7);
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    let id = new_request_txn(&events(&mut l));
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["tx 100 -> src"]);
    let mut other_cseq = inv.clone();
    other_cseq.info.cseq = 8;
    l.receive(t0, &other_cseq.info, other_cseq.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["req INVITE"]);
    let r = response(&inv.info, 404, Some("srv-tag"));
    l.respond(t0, id, &r.info, r.clone()).unwrap();
    events(&mut l);
    // ACK with a To tag not from our response: not ours.
    let mut ack = request("ACK", Some("oldbranch"), "old.example", 7);
    ack.info.to_tag = Some("bogus".into());
    l.receive(t0, &ack.info, ack.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["stray ack"]);
    // ACK with our To tag: absorbed by the transaction (Confirmed).
    ack.info.to_tag = Some("srv-tag".into());
    l.receive(t0, &ack.info, ack.clone(), "src", false);
    assert!(events(&mut l).is_empty());
    // Fully branch-less (RFC 2543 Via) works the same way.
    let bare = request("OPTIONS", None, "old.example", 9);
    l.receive(t0, &bare.info, bare.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["req OPTIONS"]);
    l.receive(t0, &bare.info, bare.clone(), "src", false);
    assert!(events(&mut l).is_empty());
    // CANCEL finds an RFC 2543 INVITE too.
    let cancel = request("CANCEL", Some("oldbranch"), "old.example", 8);
    assert!(l.find_cancel_target(&cancel.info).is_some());
}

#[test]
fn server_transaction_limit() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    l.set_max_server_transactions(1);
    let inv = request("INVITE", Some(B1), "a.example", 1);
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["req INVITE"]);
    // Retransmissions still match; a new request is refused; CANCEL is never refused.
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["tx 100 -> src"]);
    let other = request("OPTIONS", Some("z9hG4bK-2"), "a.example", 2);
    l.receive(t0, &other.info, other.clone(), "src", false);
    assert!(events(&mut l).is_empty());
    assert_eq!(l.stats().overloaded, 1);
    assert_eq!(
        l.poll_refused().map(|(m, d)| (m.label, d)),
        Some(("OPTIONS".to_string(), "src"))
    );
    assert_eq!(l.poll_refused(), None);
    let cancel = request("CANCEL", Some(B1), "a.example", 1);
    l.receive(t0, &cancel.info, cancel.clone(), "src", false);
    assert_eq!(labels(&events(&mut l)), vec!["req CANCEL (cancels)"]);
}

#[test]
fn layer_timers_and_trying() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "a.example", 1);
    l.receive(t0, &inv.info, inv.clone(), "src", false);
    events(&mut l);
    assert_eq!(l.next_deadline(), Some(t0 + Duration::from_millis(200)));
    l.poll_timers(t0 + Duration::from_millis(199));
    assert!(events(&mut l).is_empty());
    l.poll_timers(t0 + Duration::from_millis(200));
    assert_eq!(labels(&events(&mut l)), vec!["tx 100 -> src"]);
    assert_eq!(l.next_deadline(), None);
}

#[test]
fn client_timeout_through_layer() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let reg = request("REGISTER", Some(B1), "a.example", 1);
    let id = l.send_request(t0, &reg.info, reg.clone(), "peer", false).unwrap();
    let mut all = events(&mut l);
    while let Some(t) = l.next_deadline() {
        l.poll_timers(t);
        all.extend(events(&mut l));
    }
    let l2 = labels(&all);
    assert_eq!(l2.iter().filter(|s| s.starts_with("tx REGISTER")).count(), 11);
    assert_eq!(
        &l2[l2.len() - 2..],
        &["timeout".to_string(), "terminated".to_string()]
    );
    assert!(matches!(all.last(), Some(TxnEvent::Terminated { txn }) if *txn == id));
    assert!(l.is_empty());
}

#[test]
fn transport_error_through_layer() {
    let t0 = Instant::now();
    let mut l = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "a.example", 1);
    let id = l.send_request(t0, &inv.info, inv.clone(), "peer", true).unwrap();
    events(&mut l);
    l.transport_error(t0, id);
    assert_eq!(labels(&events(&mut l)), vec!["transport error", "terminated"]);
    assert!(l.is_empty());
    l.transport_error(t0, id);
    assert!(events(&mut l).is_empty());
}

/// A UAC layer and a UAS layer exchanging messages in memory over a "lossy" path.
#[test]
fn client_and_server_layers_complete_invite_with_loss() {
    let t0 = Instant::now();
    let mut uac = Layer::new(TimerConfig::default());
    let mut uas = Layer::new(TimerConfig::default());
    let inv = request("INVITE", Some(B1), "uac.example", 1);
    uac.send_request(t0, &inv.info, inv.clone(), "uas", false)
        .unwrap();
    // The first INVITE is lost; Timer A brings it again at 500 ms.
    assert_eq!(labels(&events(&mut uac)), vec!["tx INVITE -> uas"]);
    let t = uac.next_deadline().unwrap();
    uac.poll_timers(t);
    let ev = events(&mut uac);
    let TxnEvent::Transmit { msg, .. } = &ev[0] else {
        panic!()
    };
    uas.receive(t, &msg.info, msg.clone(), "uac", false);
    let sid = new_request_txn(&events(&mut uas));
    let busy = response(&inv.info, 486, Some("uas-tag"));
    uas.respond(t, sid, &busy.info, busy.clone()).unwrap();
    let ev = events(&mut uas);
    let TxnEvent::Transmit { msg, .. } = &ev[0] else {
        panic!()
    };
    uac.receive(t, &msg.info, msg.clone(), "uas", false);
    let ev = events(&mut uac);
    assert_eq!(labels(&ev), vec!["tx ACK -> uas", "resp 486"]);
    let TxnEvent::Transmit { msg: ack, .. } = &ev[0] else {
        panic!()
    };
    uas.receive(t, &ack.info, ack.clone(), "uac", false);
    assert!(events(&mut uas).is_empty());
    // Both sides drain to nothing through their timers (D = 32 s, I = T4).
    for l in [&mut uac, &mut uas] {
        while let Some(d) = l.next_deadline() {
            l.poll_timers(d);
        }
        assert!(labels(&events(l)).ends_with(&["terminated".to_string()]));
        assert!(l.is_empty());
    }
}

#[derive(Clone, Debug)]
enum Step {
    Send(u8),
    Respond(u8, u16),
    Receive(u8, u16),
    Advance(u16),
    Error(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..4).prop_map(Step::Send),
        (0u8..4, prop::sample::select(vec![100u16, 180, 200, 404, 486]))
            .prop_map(|(a, b)| Step::Respond(a, b)),
        (0u8..4, prop::sample::select(vec![100u16, 180, 200, 404, 486]))
            .prop_map(|(a, b)| Step::Receive(a, b)),
        (0u16..40_000).prop_map(Step::Advance),
        (0u8..8).prop_map(Step::Error),
    ]
}

proptest! {
    /// Any sequence of operations leaves no transaction behind once time runs far enough, and
    /// every transaction reports Terminated exactly once.
    #[test]
    fn every_transaction_terminates(steps in prop::collection::vec(step(), 1..60)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut l = Layer::new(TimerConfig::default());
        let methods = ["INVITE", "OPTIONS", "INVITE", "BYE"];
        let mut created = std::collections::HashSet::new();
        let mut ended = Vec::new();
        let mut collect = |l: &mut Layer, created: &mut std::collections::HashSet<TxnId>| {
            for e in events(l) {
                match e {
                    TxnEvent::Request { txn, .. } => { created.insert(txn); }
                    TxnEvent::Terminated { txn } => ended.push(txn),
                    _ => {}
                }
            }
        };
        for s in steps {
            match s {
                Step::Send(i) => {
                    let r = request(methods[i as usize], Some(&format!("z9hG4bK-c{i}")), "me", 1);
                    if let Ok(id) = l.send_request(now, &r.info, r.clone(), "peer", i % 2 == 0) {
                        created.insert(id);
                    }
                }
                Step::Receive(i, status) => {
                    let r = request(methods[i as usize], Some(&format!("z9hG4bK-c{i}")), "me", 1);
                    let resp = response(&r.info, status, Some("t"));
                    l.receive(now, &resp.info, resp.clone(), "peer", false);
                    let req = request(methods[i as usize], Some(&format!("z9hG4bK-s{i}")), "them", 1);
                    l.receive(now, &req.info, req.clone(), "peer", i % 2 == 1);
                }
                Step::Respond(i, status) => {
                    let req = request(methods[i as usize], Some(&format!("z9hG4bK-s{i}")), "them", 1);
                    let resp = response(&req.info, status, Some("t"));
                    for id in created.clone() {
                        let _ = l.respond(now, id, &resp.info, resp.clone());
                    }
                }
                Step::Advance(ms) => {
                    now += Duration::from_millis(ms as u64);
                    l.poll_timers(now);
                }
                Step::Error(i) => l.transport_error(now, TxnId(i as u64)),
            }
            collect(&mut l, &mut created);
        }
        // Client INVITEs in Proceeding wait for a final response (no Timer B there): give one.
        for (i, method) in methods.iter().enumerate() {
            let r = request(method, Some(&format!("z9hG4bK-c{i}")), "me", 1);
            let resp = response(&r.info, 500, Some("t"));
            l.receive(now, &resp.info, resp.clone(), "peer", false);
        }
        // Server INVITEs wait for the TU: answer them.
        for id in created.clone() {
            let req = request("INVITE", Some("z9hG4bK-x"), "them", 1);
            let resp = response(&req.info, 500, Some("t"));
            let _ = l.respond(now, id, &resp.info, resp.clone());
        }
        let mut guard = 0;
        while let Some(d) = l.next_deadline() {
            now = now.max(d);
            l.poll_timers(now);
            guard += 1;
            prop_assert!(guard < 10_000);
        }
        collect(&mut l, &mut created);
        prop_assert!(l.is_empty());
        let mut sorted = ended.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(sorted.len(), ended.len());
    }
}
