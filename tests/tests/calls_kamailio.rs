//! Calls between two gatewayd instances through Kamailio on loopback: each registers its FXS
//! port's account (digest auth) and calls go through the proxy (INVITE authenticated with a
//! 407 challenge, routed to the registered contact, record-routed).
//!
//! Measured at the phones: ringback at the caller, ringing with the caller's number at the
//! called phone, answer, DTMF and a tone each way (600 Hz one way, 1 kHz the other, checked
//! by a Goertzel filter on what each phone records), reorder after the far end hangs up (from
//! either side), busy tone for a busy port (486), SIT or reorder for a number nobody
//! registered (404).

use std::time::Duration;

use board::simphone::{PhoneConfig, PhoneEventKind, SimPhone};
use codecs::tones::{Heard, ToneKind};
use e2e::kamailio::{Registrar, SUBSCRIBERS};
use e2e::peers::{assert_tone, free_udp_port, require};
use e2e::{Gatewayd, scratch_dir};

const T: Duration = Duration::from_secs(10);

/// A gateway with one FXS port on the account of subscriber `sub`, registered with `reg`.
fn gateway(name: &str, sub: usize, reg: &Registrar) -> Gatewayd {
    let (user, password) = SUBSCRIBERS[sub];
    let sip = free_udp_port();
    let rtp = free_udp_port();
    let cfg = format!(
        "[network]\nsip_port = {sip}\nrtp_port_min = {rtp}\nrtp_port_max = {}\n\
         [[account]]\nname = \"main\"\nuser = \"{user}\"\ndomain = \"127.0.0.1\"\n\
         outbound_proxy = \"{}\"\npassword = \"{password}\"\nexpires_s = 60\n\
         [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"main\"\ndial_plan = \"(1xxx)\"\n\
         codecs = [\"pcmu\", \"pcma\"]\n",
        rtp + 4,
        reg.addr()
    );
    let mut gw = Gatewayd::start(name, &["fxs"], &cfg);
    gw.wait_output("account main registered", T)
        .unwrap_or_else(|| panic!("{name} did not register:\n{}", reg.log()));
    gw
}

/// Kamailio and two gateways registered with it, a phone on each.
struct Rig {
    reg: Registrar,
    _gws: [Gatewayd; 2],
    a: SimPhone,
    b: SimPhone,
}

fn rig(name: &str) -> Option<Rig> {
    if !require("kamailio") {
        return None;
    }
    let reg = Registrar::start_proxy(&scratch_dir(&format!("kam-{name}")));
    let ga = gateway(&format!("{name}-a"), 0, &reg);
    let gb = gateway(&format!("{name}-b"), 1, &reg);
    let a = SimPhone::connect(ga.ports[0].1, PhoneConfig::default()).expect("phone on A");
    let b = SimPhone::connect(gb.ports[0].1, PhoneConfig::default()).expect("phone on B");
    Some(Rig {
        reg,
        _gws: [ga, gb],
        a,
        b,
    })
}

/// `caller` dials `number`; `callee` (the subscriber `callee_sub`'s phone) rings with the
/// caller's number and answers; DTMF and tones go both ways.
fn connect_and_talk(caller: &SimPhone, callee: &SimPhone, number: &str, caller_user: &str) {
    caller.off_hook();
    caller.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    caller.dial_dtmf(number).expect("dial");
    callee.wait_ringing(T).expect("the called phone rings");
    caller
        .wait_for_tone(ToneKind::Ringback, T)
        .expect("ringback at the caller");
    let cid = callee.wait_caller_id(T).expect("caller ID at the called phone");
    assert_eq!(cid.number.as_str(), caller_user, "{cid:?}");
    callee.off_hook();
    caller
        .wait_tone_gone(ToneKind::Ringback, T)
        .expect("ringback stops on answer");
    // DTMF both ways (in-band at each phone, RFC 4733 between the gateways).
    caller.dial_dtmf("47").expect("dtmf");
    callee
        .wait_dtmf("47", T)
        .expect("the called phone hears the caller's keys");
    callee.dial_dtmf("9#").expect("dtmf");
    caller
        .wait_dtmf("9#", T)
        .expect("the caller hears the called phone's keys");
    // A tone each way at once.
    caller.record_start();
    callee.record_start();
    caller.play_tone(600.0, Duration::from_millis(2500), 8000);
    callee.play_tone(1000.0, Duration::from_millis(2500), 8000);
    caller.pause(Duration::from_millis(2800)).expect("pause");
    let at_caller = caller.record_stop();
    let at_callee = callee.record_stop();
    assert_tone("the caller hears the called phone", &at_caller, 1000.0);
    assert_tone("the called phone hears the caller", &at_callee, 600.0);
}

#[test]
fn calls_through_kamailio_both_ways_with_hang_up_from_either_side() {
    let Some(r) = rig("kam-call") else { return };
    let (u_a, u_b) = (SUBSCRIBERS[0].0, SUBSCRIBERS[1].0);

    // A calls B; B hangs up first.
    connect_and_talk(&r.a, &r.b, u_b, u_a);
    r.b.on_hook();
    r.a.wait_for_tone(ToneKind::Congestion, T)
        .expect("reorder at A after B hangs up");
    r.a.on_hook();

    // B calls A; A hangs up first.
    r.b.pause(Duration::from_millis(500)).expect("pause");
    connect_and_talk(&r.b, &r.a, u_a, u_b);
    r.a.on_hook();
    r.b.wait_for_tone(ToneKind::Congestion, T)
        .expect("reorder at B after A hangs up");
    r.b.on_hook();

    let relayed = r.reg.relayed_invites();
    assert_eq!(
        relayed,
        vec![
            (u_a.to_string(), u_b.to_string()),
            (u_b.to_string(), u_a.to_string())
        ],
        "the INVITEs went through the proxy:\n{}",
        r.reg.log()
    );
}

#[test]
fn calling_a_busy_phone_through_kamailio_gives_busy_tone() {
    let Some(r) = rig("kam-busy") else { return };
    r.b.off_hook();
    r.b.wait_for_tone(ToneKind::Dial, T).expect("dial tone at B");
    r.a.off_hook();
    r.a.wait_for_tone(ToneKind::Dial, T).expect("dial tone at A");
    r.a.dial_dtmf(SUBSCRIBERS[1].0).expect("dial");
    r.a.wait_for_tone(ToneKind::Busy, T)
        .expect("busy tone at A (486 from B)");
    assert!(!r.b.is_ringing(), "the busy phone does not ring");
    r.a.on_hook();
    r.b.on_hook();
}

#[test]
fn calling_an_unregistered_number_gives_sit_or_reorder() {
    let Some(r) = rig("kam-404") else { return };
    r.a.off_hook();
    r.a.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    let from = r.a.events().len();
    r.a.dial_dtmf("1999").expect("dial");
    let ev =
        r.a.wait_event(from, T, |k| {
            matches!(
                k,
                PhoneEventKind::Tone(Heard::Tone(ToneKind::Sit | ToneKind::Congestion))
            )
        })
        .expect("SIT or reorder after 404");
    eprintln!("unknown number: {:?}", ev.kind);
    r.a.on_hook();
}
