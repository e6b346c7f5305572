//! The FXO port learns the PSTN caller's identity from the line: the simulated exchange rings
//! the gateway's FXO port (a trunk line) when a virtual phone dials it and sends caller ID in the
//! first ring pause, as Bell 202 FSK, V.23 FSK or DTMF. The media loop's receivers decode it from
//! the on-hook line audio and report `AudioEventKind::CallerId`; a one-stage FXO port then sends
//! its INVITE with that caller.

use std::thread;
use std::time::{Duration, Instant};

use board::pstn::{Exchange, ExchangeConfig, LineConfig};
use board::simphone::{PhoneConfig, SimPhone};
use codecs::callerid::{CallerId, CidStandard};
use codecs::tones::ToneKind;
use gateway::app::open_board;
use gateway::call::control::CallControl;
use gateway::call::{CallerInfo, PortAction};
use gateway::config::board::BoardDef;
use gateway::config::model::{Port, PortKind};
use gateway::config::{CallerIdStandard, Config};
use gateway::media::{AudioEventKind, MediaEvent};

const T: Duration = Duration::from_secs(10);

/// What the gateway saw of one incoming PSTN call.
struct Seen {
    decoded: Vec<CallerId>,
    invite: Option<(String, Option<CallerInfo>)>,
}

/// One PSTN call into the gateway's FXO port from "201 ALICE", caller ID in `standard`.
fn pstn_call_with_caller_id(standard: CidStandard) -> Seen {
    let def = BoardDef::parse(
        "name = 'fxo-cid'\n\
         [[port]]\nkind = 'fxo'\nbackend = 'sim'\ntcp_port = 0\n",
    )
    .expect("board definition");
    let mut opened = open_board(&def).expect("open the simulated board");
    let fxo_addr = opened
        .port_addrs
        .iter()
        .find(|(_, k, _)| *k == PortKind::Fxo)
        .and_then(|(_, _, a)| *a)
        .expect("sim FXO port address");
    let cfg = Config {
        ports: vec![Port {
            id: 0,
            kind: PortKind::Fxo,
            caller_id: CallerIdStandard::Bell202,
            fxo_destination: "100".into(),
            ..Port::default()
        }],
        ..Config::default()
    };
    let mut cc = CallControl::from_config(&cfg).expect("call control");

    let mut alice = LineConfig::card("201", 0);
    alice.name = "ALICE".into();
    let mut trunk = LineConfig::trunk("300", fxo_addr);
    trunk.cid = standard;
    let mut xcfg = ExchangeConfig::new("US", vec![alice, trunk]);
    xcfg.ring = Some(vec![(1000, 3000)]);
    let ex = Exchange::start(xcfg).expect("start the exchange");
    let phone = SimPhone::connect(ex.line_addr("201").expect("line 201"), PhoneConfig::default())
        .expect("attach phone");

    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    phone.dial_dtmf("300").expect("dial the trunk");

    let mut seen = Seen {
        decoded: Vec::new(),
        invite: None,
    };
    let end = Instant::now() + T;
    while seen.invite.is_none() && Instant::now() < end {
        let mut got = Vec::new();
        let now = cc.drive(&mut opened.media, |ev| {
            if let MediaEvent::Audio(a) = ev
                && let AudioEventKind::CallerId(c) = a.kind
            {
                got.push((a.port, c));
            }
        });
        for (port, c) in got {
            seen.decoded.push(c);
            cc.fxo_caller_id(port, CallerInfo::from_cid(&c), now);
        }
        while let Some(req) = cc.take_sip() {
            if let PortAction::Invite { number, caller, .. } = req.action {
                seen.invite = Some((number, caller));
            }
        }
        opened.media.collect_retired();
        thread::sleep(Duration::from_millis(5));
    }
    phone.on_hook();
    ex.stop();
    let _ = opened.media.shutdown();
    seen
}

fn check(standard: CidStandard) {
    let seen = pstn_call_with_caller_id(standard);
    assert_eq!(
        seen.decoded.len(),
        1,
        "{standard:?}: one message: {:?}",
        seen.decoded
    );
    let c = seen.decoded[0];
    assert_eq!(c.number.as_str(), "201", "{standard:?}: {c:?}");
    if standard != CidStandard::Dtmf {
        assert_eq!(c.name.as_str(), "ALICE", "{standard:?}: {c:?}");
    }
    let (number, caller) = seen.invite.expect("INVITE from the FXO port");
    assert_eq!(number, "100");
    let caller = caller.expect("caller in the INVITE");
    assert_eq!(caller.number, "201", "{standard:?}");
    assert!(!caller.private);
}

#[test]
fn bell202_caller_id_from_the_pstn() {
    check(CidStandard::Bell202);
}

#[test]
fn v23_caller_id_from_the_pstn() {
    check(CidStandard::V23);
}

#[test]
fn dtmf_caller_id_from_the_pstn() {
    check(CidStandard::Dtmf);
}
