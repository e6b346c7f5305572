//! Two gateways in a chain: a phone on gateway A's FXS port calls a PSTN subscriber through
//! SIP to gateway B, whose FXO port is a line of the simulated exchange.
//!
//! phone -> A (FXS) -> SIP -> B (FXO) -> exchange -> subscriber's phone
//!
//! B seizes its line, waits for the exchange's dial tone and dials the number; its 183 with
//! SDP cuts the audio through, so the phone hears the exchange's ringback over both gateways;
//! the subscriber's phone rings with B's line number as caller ID and answers; the exchange's
//! polarity reversal makes B answer the INVITE. DTMF and a tone go each way (measured at both
//! phones). The first call is cleared by the subscriber (exchange supervision -> B's BYE ->
//! reorder at the phone), the second by the phone (A's BYE -> B releases the line); after each
//! the exchange sees the line back on-hook.

use std::time::Duration;

use board::pstn::{Exchange, ExchangeConfig, ExchangeHandle, LineConfig};
use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::peers::{assert_tone, free_udp_port};
use e2e::{Gatewayd, wait_until};

const T: Duration = Duration::from_secs(15);
const SUBSCRIBER: &str = "5551001";
const FXO_LINE: &str = "5552000";

struct Chain {
    a: Gatewayd,
    b: Gatewayd,
    ex: Option<ExchangeHandle>,
    phone: SimPhone,
    sub: SimPhone,
}

impl Drop for Chain {
    fn drop(&mut self) {
        if let Some(ex) = self.ex.take() {
            ex.stop();
        }
    }
}

/// The rig; `name` keeps each test's scratch directories apart.
fn chain(name: &str) -> Chain {
    let (sip_a, sip_b) = (free_udp_port(), free_udp_port());
    let (rtp_a, rtp_b) = (free_udp_port(), free_udp_port());
    let b = Gatewayd::start(
        &format!("{name}-b"),
        &["fxo"],
        &format!(
            "[network]\nsip_port = {sip_b}\nrtp_port_min = {rtp_b}\nrtp_port_max = {}\n\
             [[account]]\nname = \"pstn\"\nuser = \"{FXO_LINE}\"\ndomain = \"127.0.0.1:{sip_a}\"\n\
             register = false\n\
             [[port]]\nid = 0\nkind = \"fxo\"\naccount = \"pstn\"\ncodecs = [\"pcmu\"]\n\
             fxo_answer = \"polarity-reversal\"\n",
            rtp_b + 4
        ),
    );
    let a = Gatewayd::start(
        &format!("{name}-a"),
        &["fxs"],
        &format!(
            "[network]\nsip_port = {sip_a}\nrtp_port_min = {rtp_a}\nrtp_port_max = {}\n\
             [[account]]\nname = \"trunk\"\nuser = \"1001\"\ndomain = \"127.0.0.1:{sip_b}\"\n\
             register = false\n\
             [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"trunk\"\ndial_plan = \"([2-9]xxxxxx)\"\n\
             codecs = [\"pcmu\", \"pcma\"]\n",
            rtp_a + 4
        ),
    );
    let fxo = b
        .ports
        .iter()
        .find(|(k, _)| k == "fxo")
        .map(|(_, a)| *a)
        .expect("B's FXO port");
    let ex = Exchange::start(ExchangeConfig::new(
        "US",
        vec![LineConfig::card(SUBSCRIBER, 0), LineConfig::trunk(FXO_LINE, fxo)],
    ))
    .expect("start the exchange");
    let sub = SimPhone::connect(
        ex.line_addr(SUBSCRIBER).expect("subscriber line"),
        PhoneConfig::default(),
    )
    .expect("subscriber's phone");
    let phone = SimPhone::connect(a.ports[0].1, PhoneConfig::default()).expect("phone on A");
    Chain {
        a,
        b,
        ex: Some(ex),
        phone,
        sub,
    }
}

impl Chain {
    fn ex(&self) -> &ExchangeHandle {
        self.ex.as_ref().expect("exchange")
    }

    /// Waits until B's line is back on-hook at the exchange.
    fn line_released(&self) -> bool {
        wait_until(T, || self.ex().line(FXO_LINE).filter(|l| !l.off_hook).map(|_| ())).is_some()
    }

    /// The phone calls the subscriber, who answers; DTMF and tones both ways.
    fn call(&mut self) {
        let (phone, sub) = (&self.phone, &self.sub);
        phone.off_hook();
        phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone at A");
        phone.dial_dtmf(SUBSCRIBER).expect("dial");
        sub.wait_ringing(T).expect("B dials the subscriber, who rings");
        phone
            .wait_for_tone(ToneKind::Ringback, T)
            .expect("the phone hears the exchange's ringback through both gateways");
        let cid = sub.wait_caller_id(T).expect("caller ID at the subscriber");
        assert_eq!(cid.number.as_str(), FXO_LINE, "{cid:?}");
        sub.off_hook();
        phone
            .wait_tone_gone(ToneKind::Ringback, T)
            .expect("ringback stops when the subscriber answers");
        let status = self.ex().line(FXO_LINE).expect("line status");
        assert_eq!(status.peer.as_deref(), Some(SUBSCRIBER), "{status:?}");
        phone.dial_dtmf("58").expect("dtmf");
        sub.wait_dtmf("58", T)
            .expect("the subscriber hears the phone's keys");
        sub.dial_dtmf("3*").expect("dtmf");
        phone
            .wait_dtmf("3*", T)
            .expect("the phone hears the subscriber's keys");
        phone.record_start();
        sub.record_start();
        phone.play_tone(600.0, Duration::from_millis(2500), 8000);
        sub.play_tone(1000.0, Duration::from_millis(2500), 8000);
        phone.pause(Duration::from_millis(2800)).expect("pause");
        let at_phone = phone.record_stop();
        let at_sub = sub.record_stop();
        assert_tone("the phone hears the subscriber", &at_phone, 1000.0);
        assert_tone("the subscriber hears the phone", &at_sub, 600.0);
    }
}

#[test]
fn phone_calls_a_pstn_subscriber_through_a_second_gateways_fxo_port() {
    let mut c = chain("chain-call");

    // Cleared by the subscriber.
    c.call();
    c.sub.on_hook();
    c.phone
        .wait_for_tone(ToneKind::Congestion, T)
        .expect("reorder at the phone after the subscriber hangs up");
    assert!(c.line_released(), "B releases the line: {:?}", c.ex().status());
    c.phone.on_hook();

    // Cleared by the phone (after B's release guard).
    c.phone.pause(Duration::from_millis(2500)).expect("pause");
    c.call();
    c.phone.on_hook();
    assert!(c.line_released(), "B releases the line: {:?}", c.ex().status());
    c.sub.on_hook();
    c.b.wait_output("call ended", T)
        .expect("B reports the end of the SIP call");
}

/// A busy subscriber: B hears the exchange's busy tone after dialling and refuses the INVITE
/// with 486; the phone on A hears busy tone, and B releases the line.
#[test]
fn busy_pstn_subscriber_gives_busy_tone_through_both_gateways() {
    let mut c = chain("chain-busy");
    c.sub.off_hook();
    c.sub
        .wait_for_tone(ToneKind::Dial, T)
        .expect("the subscriber is off-hook (dial tone)");
    c.phone.off_hook();
    c.phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone at A");
    c.phone.dial_dtmf(SUBSCRIBER).expect("dial");
    c.phone
        .wait_for_tone(ToneKind::Busy, T)
        .expect("busy tone at the phone (B heard busy on its line)");
    assert!(c.line_released(), "B releases the line: {:?}", c.ex().status());
    c.a.wait_output("call failed: 486", T)
        .expect("B refused the INVITE with 486");
    c.phone.on_hook();
    c.sub.on_hook();
}
