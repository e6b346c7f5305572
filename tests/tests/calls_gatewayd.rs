//! gatewayd runs call control: two virtual phones on its FXS ports call each other by
//! extension, and a number beyond the local ports without a SIP service gives reorder.

use std::time::Duration;

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::Gatewayd;

const T: Duration = Duration::from_secs(10);

const PORTS: &str = "[[port]]\nid = 0\nkind = \"fxs\"\n[[port]]\nid = 1\nkind = \"fxs\"\n";

fn phones(gw: &Gatewayd) -> (SimPhone, SimPhone) {
    let fxs: Vec<_> = gw.ports.iter().filter(|(k, _)| k == "fxs").map(|p| p.1).collect();
    let a = SimPhone::connect(fxs[0], PhoneConfig::default()).expect("attach phone 1");
    let b = SimPhone::connect(fxs[1], PhoneConfig::default()).expect("attach phone 2");
    (a, b)
}

#[test]
fn gatewayd_connects_its_two_phones() {
    let gw = Gatewayd::start("calls-local", &["fxs", "fxs"], PORTS);
    let (a, b) = phones(&gw);
    a.off_hook();
    a.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    a.dial_dtmf("*02").expect("dial");
    b.wait_ringing(T).expect("ringing");
    a.wait_for_tone(ToneKind::Ringback, T).expect("ringback");
    let cid = b.wait_caller_id(T).expect("caller ID");
    assert_eq!(cid.number.as_str(), "*01");
    b.off_hook();
    a.dial_dtmf("3").expect("dtmf");
    b.wait_dtmf("3", T).expect("b hears a");
    b.dial_dtmf("8").expect("dtmf");
    a.wait_dtmf("8", T).expect("a hears b");
    a.on_hook();
    b.wait_for_tone(ToneKind::Congestion, T).expect("reorder at b");
    b.on_hook();
}

#[test]
fn number_without_sip_service_gives_reorder() {
    let gw = Gatewayd::start("calls-nosip", &["fxs", "fxs"], PORTS);
    let (a, _b) = phones(&gw);
    a.off_hook();
    a.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    // S0 pattern of the default plan: dialled at once.
    a.dial_dtmf("12125551212").expect("dial");
    a.wait_for_tone(ToneKind::Congestion, T).expect("reorder");
    a.on_hook();
}
