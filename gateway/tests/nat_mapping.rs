//! STUN Binding transactions and the mapping monitor in virtual time: retransmission
//! schedule, timeout, response matching, bad responses ignored, fallback to the local address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::nat::mapping::{
    BindingFailure, BindingOutcome, BindingTxn, Ignored, MappingMonitor, Retransmit,
};
use gateway::nat::stun::{Attribute, BINDING, Class, StunMessage, StunView};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SERVER: &str = "127.0.0.1:3478";
const ID: [u8; 12] = [9; 12];

fn success(id: [u8; 12], mapped: SocketAddr) -> Vec<u8> {
    StunMessage {
        class: Class::Success,
        method: BINDING,
        transaction_id: id,
        attributes: vec![
            Attribute::Software("test".into()),
            Attribute::XorMappedAddress(mapped),
            Attribute::Fingerprint,
        ],
    }
    .emit()
    .unwrap()
}

/// Runs `txn` in virtual time until it ends or `until`, returning the send times (ms).
fn sends(txn: &mut BindingTxn, t0: Instant, until: Duration) -> Vec<u64> {
    let mut out = Vec::new();
    while let Some(d) = txn.next_deadline() {
        if d > t0 + until {
            break;
        }
        if txn.poll_transmit(d).is_some() {
            out.push((d - t0).as_millis() as u64);
        }
    }
    out
}

#[test]
fn rfc_schedule_doubles_rto_seven_times_then_waits_rm() {
    let t0 = Instant::now();
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::RFC);
    let at = sends(&mut txn, t0, Duration::from_secs(60));
    // RFC 8489 6.2.1: 0, 500, 1500, 3500, 7500, 15500, 31500 ms; failure at 39500 ms.
    assert_eq!(at, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(
        txn.outcome(),
        Some(&BindingOutcome::Failed(BindingFailure::Timeout))
    );
    assert_eq!(Retransmit::RFC.total(), Duration::from_millis(39_500));
    // Exactly at 39.5 s, not before.
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::RFC);
    sends(&mut txn, t0, Duration::from_millis(39_499));
    assert!(txn.outcome().is_none());
    assert_eq!(txn.next_deadline(), Some(t0 + Duration::from_millis(39_500)));
}

#[test]
fn media_schedule_gives_up_at_half_a_second() {
    let t0 = Instant::now();
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::MEDIA);
    assert_eq!(sends(&mut txn, t0, Duration::from_secs(5)), vec![0, 100, 300]);
    assert_eq!(Retransmit::MEDIA.total(), Duration::from_millis(500));
    assert!(matches!(txn.outcome(), Some(BindingOutcome::Failed(_))));
}

#[test]
fn the_request_is_a_binding_request_with_our_id() {
    let t0 = Instant::now();
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::RFC);
    let req = txn.poll_transmit(t0).unwrap().to_vec();
    let v = StunView::parse(&req).unwrap();
    assert_eq!((v.class(), v.method()), (Class::Request, BINDING));
    assert_eq!(v.transaction_id(), ID);
    assert!(v.attribute(gateway::nat::stun::attr::FINGERPRINT).is_some());
    // Nothing more until the RTO.
    assert!(txn.poll_transmit(t0 + Duration::from_millis(499)).is_none());
    assert!(txn.poll_transmit(t0 + Duration::from_millis(500)).is_some());
}

#[test]
fn only_the_matching_response_ends_the_transaction() {
    let t0 = Instant::now();
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::RFC);
    txn.poll_transmit(t0);
    let mapped = sa("127.0.0.2:40000");
    // Another transaction's response.
    assert_eq!(
        txn.handle_response(sa(SERVER), &success([1; 12], mapped)),
        Err(Ignored::OtherTransaction)
    );
    // From somewhere else.
    assert_eq!(
        txn.handle_response(sa("127.0.0.9:3478"), &success(ID, mapped)),
        Err(Ignored::WrongSource(sa("127.0.0.9:3478")))
    );
    // Garbage, a truncated response, a request with our ID.
    assert!(matches!(
        txn.handle_response(sa(SERVER), b"\x00\x01 not stun at all"),
        Err(Ignored::Malformed(_))
    ));
    let good = success(ID, mapped);
    assert!(matches!(
        txn.handle_response(sa(SERVER), &good[..good.len() - 4]),
        Err(Ignored::Malformed(_))
    ));
    let req = StunMessage::binding_request(ID, "").emit().unwrap();
    assert_eq!(
        txn.handle_response(sa(SERVER), &req),
        Err(Ignored::NotBindingResponse)
    );
    // Still running: retransmits go on.
    assert!(txn.outcome().is_none());
    assert!(txn.poll_transmit(t0 + Duration::from_millis(500)).is_some());
    // The real one.
    assert_eq!(
        txn.handle_response(sa(SERVER), &good),
        Ok(&BindingOutcome::Mapped(mapped))
    );
    assert_eq!(txn.next_deadline(), None);
    assert!(txn.poll_transmit(t0 + Duration::from_secs(60)).is_none());
    assert_eq!(txn.handle_response(sa(SERVER), &good), Err(Ignored::Finished));
}

#[test]
fn error_responses_and_unknown_required_attributes_fail_it() {
    let t0 = Instant::now();
    let err = StunMessage {
        class: Class::Error,
        method: BINDING,
        transaction_id: ID,
        attributes: vec![Attribute::ErrorCode {
            code: 420,
            reason: "Unknown Attribute".into(),
        }],
    }
    .emit()
    .unwrap();
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::RFC);
    assert_eq!(
        txn.handle_response(sa(SERVER), &err),
        Ok(&BindingOutcome::Failed(BindingFailure::ErrorResponse {
            code: 420,
            reason: "Unknown Attribute".into()
        }))
    );
    let odd = StunMessage {
        class: Class::Success,
        method: BINDING,
        transaction_id: ID,
        attributes: vec![
            Attribute::XorMappedAddress(sa("127.0.0.2:1")),
            Attribute::Other {
                typ: 0x7777,
                value: vec![],
            },
        ],
    }
    .emit()
    .unwrap();
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::RFC);
    assert_eq!(
        txn.handle_response(sa(SERVER), &odd),
        Ok(&BindingOutcome::Failed(BindingFailure::UnknownAttributes(vec![
            0x7777
        ])))
    );
    // An old server's MAPPED-ADDRESS does.
    let old = StunMessage {
        class: Class::Success,
        method: BINDING,
        transaction_id: ID,
        attributes: vec![Attribute::MappedAddress(sa("127.0.0.3:5"))],
    }
    .emit()
    .unwrap();
    let mut txn = BindingTxn::new(ID, sa(SERVER), t0, Retransmit::RFC);
    assert_eq!(
        txn.handle_response(sa(SERVER), &old),
        Ok(&BindingOutcome::Mapped(sa("127.0.0.3:5")))
    );
}

#[test]
fn monitor_learns_refreshes_and_falls_back_to_local() {
    let t0 = Instant::now();
    let local = sa("10.0.0.5:5060");
    let refresh = Duration::from_secs(60);
    let mut m = MappingMonitor::new(local, t0, refresh, Retransmit::RFC);
    assert_eq!(m.advertised(), local);
    assert!(m.query_due(t0));
    m.start([1; 12], sa(SERVER), t0);
    let (to, _) = m.poll_transmit(t0).unwrap();
    assert_eq!(to, sa(SERVER));
    let ch = m
        .handle_response(t0, sa(SERVER), &success([1; 12], sa("127.0.0.2:61000")))
        .unwrap()
        .expect("a change");
    assert_eq!(ch.advertised, sa("127.0.0.2:61000"));
    assert_eq!(m.advertised(), sa("127.0.0.2:61000"));
    // Next query after the refresh interval; the same answer is no change.
    assert!(!m.query_due(t0 + refresh - Duration::from_millis(1)));
    assert_eq!(m.next_deadline(), t0 + refresh);
    let t1 = t0 + refresh;
    assert!(m.query_due(t1));
    m.start([2; 12], sa(SERVER), t1);
    m.poll_transmit(t1).unwrap();
    assert_eq!(
        m.handle_response(t1, sa(SERVER), &success([2; 12], sa("127.0.0.2:61000"))),
        Ok(None)
    );
    // A query without an answer keeps the last mapping and retries sooner (30 s).
    let t2 = t1 + refresh;
    m.start([3; 12], sa(SERVER), t2);
    let mut t = t2;
    let mut n = 0;
    while m.transaction_id().is_some() {
        if m.poll_transmit(t).is_some() {
            n += 1;
        }
        t = m.next_deadline();
    }
    assert_eq!(n, 7);
    assert_eq!(m.failures(), 1);
    assert_eq!(m.advertised(), sa("127.0.0.2:61000"));
    let failed_at = t2 + Retransmit::RFC.total();
    assert_eq!(m.next_deadline(), failed_at + Duration::from_secs(30));
    // A network change forgets the mapping at once: local until a new answer.
    let ch = m
        .network_changed(failed_at, sa("10.0.0.6:5060"))
        .expect("a change");
    assert_eq!(ch.advertised, sa("10.0.0.6:5060"));
    assert_eq!(ch.mapped, None);
    assert!(m.query_due(failed_at));
}

#[test]
fn recheck_queries_at_once_and_keeps_the_mapping_meanwhile() {
    let t0 = Instant::now();
    let local = sa("10.0.0.5:5060");
    let mut m = MappingMonitor::new(local, t0, Duration::from_secs(120), Retransmit::RFC);
    m.start([1; 12], sa(SERVER), t0);
    m.poll_transmit(t0).unwrap();
    m.handle_response(t0, sa(SERVER), &success([1; 12], sa("127.0.0.2:7000")))
        .unwrap();
    let t1 = t0 + Duration::from_secs(10);
    assert!(!m.query_due(t1));
    m.recheck(t1);
    assert!(m.query_due(t1));
    assert_eq!(m.advertised(), sa("127.0.0.2:7000"));
    // The router moved the mapping: the answer says so.
    m.start([2; 12], sa(SERVER), t1);
    m.poll_transmit(t1).unwrap();
    let ch = m
        .handle_response(t1, sa(SERVER), &success([2; 12], sa("127.0.0.2:7002")))
        .unwrap()
        .expect("a change");
    assert_eq!(ch.advertised, sa("127.0.0.2:7002"));
    // A recheck while a query runs changes nothing.
    m.start([3; 12], sa(SERVER), t1);
    m.recheck(t1);
    assert!(!m.query_due(t1));
}
