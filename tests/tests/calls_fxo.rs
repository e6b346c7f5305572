//! The FXO port of gatewayd on a line of the simulated PSTN exchange, against sipp.
//!
//! SIP to PSTN: sipp calls the PSTN number 5551001 through the gateway; the FXO port seizes
//! the line, waits for the exchange's dial tone, dials the number in DTMF; the subscriber's
//! virtual phone rings with the line's number as caller ID and answers; the exchange reverses
//! the line's polarity and the gateway answers the INVITE (`fxo_answer = polarity-reversal`).
//! Audio is checked both ways; the call is cleared from the PSTN side (the exchange's
//! supervision, by polarity reversal, loop current drop (CPC) or disconnect tone, becomes a
//! BYE; on lines without reversal the gateway answers right after dialling) and from the SIP
//! side (the BYE releases the line).
//!
//! PSTN to SIP: the subscriber dials the FXO line's number; the gateway detects the ringing
//! and the caller ID sent in the first ring pause and calls `fxo_destination` (sipp, which
//! checks that the INVITE names the PSTN caller in From and P-Asserted-Identity); the line is
//! answered when sipp answers; audio both ways; the subscriber hangs up and the gateway ends
//! the SIP call.
//!
//! Two-stage PSTN to SIP: the gateway answers the ringing line, asks for a PIN with stutter
//! dial tone, gives dial tone, collects the number by DTMF and calls it through the account.
//!
//! Audio: sipp plays a 1 kHz tone encoded by sox, the subscriber plays 600 Hz; each must be
//! the dominant tone of what the other side receives (tshark and sox decode sipp's side).

use std::time::Duration;

use board::pstn::{Exchange, ExchangeConfig, ExchangeHandle, LineConfig, Supervision};
use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::peers::{Capture, PCMU, SIPP_HZ, Sipp, SippCall, assert_tone, free_udp_port};
use e2e::{Gatewayd, wait_until};

const T: Duration = Duration::from_secs(15);
const SUBSCRIBER: &str = "5551001";
const FXO_LINE: &str = "5552000";
const PHONE_HZ: f32 = 600.0;

/// A gateway whose only port is an FXO port; its account points at `service` (sipp) for
/// one-stage calls from the PSTN; `answer` is its `fxo_answer`.
fn fxo_gateway(name: &str, sip_port: u16, service: u16, answer: &str, extra: &str) -> Gatewayd {
    let rtp = free_udp_port();
    let cfg = format!(
        "[network]\nsip_port = {sip_port}\nrtp_port_min = {rtp}\nrtp_port_max = {}\n\
         [[account]]\nname = \"pstn\"\nuser = \"{FXO_LINE}\"\ndomain = \"127.0.0.1:{service}\"\n\
         register = false\n\
         [[port]]\nid = 0\nkind = \"fxo\"\naccount = \"pstn\"\ncodecs = [\"pcmu\"]\n\
         fxo_mode = \"one-stage\"\nfxo_destination = \"100\"\nfxo_answer = \"{answer}\"\n{extra}",
        rtp + 4
    );
    Gatewayd::start(name, &["fxo"], &cfg)
}

/// The exchange: the subscriber's line card (a virtual phone on it) and the trunk line wired
/// to the gateway's FXO port, supervised by `supervision`.
fn exchange(gw: &Gatewayd, supervision: Supervision) -> (ExchangeHandle, SimPhone) {
    let fxo = gw
        .ports
        .iter()
        .find(|(k, _)| k == "fxo")
        .map(|(_, a)| *a)
        .expect("the gateway's FXO port");
    let mut sub = LineConfig::card(SUBSCRIBER, 0);
    sub.name = "ALICE".into();
    let mut trunk = LineConfig::trunk(FXO_LINE, fxo);
    trunk.supervision = supervision;
    let ex = Exchange::start(ExchangeConfig::new("US", vec![sub, trunk])).expect("start the exchange");
    let phone = SimPhone::connect(
        ex.line_addr(SUBSCRIBER).expect("subscriber line"),
        PhoneConfig::default(),
    )
    .expect("attach the subscriber's phone");
    (ex, phone)
}

/// The subscriber plays 600 Hz and listens; sipp's 1 kHz must reach it and its tone must
/// reach sipp (in `cap`).
fn check_audio(phone: &SimPhone, cap: Capture) {
    phone.record_start();
    phone.play_tone(PHONE_HZ, Duration::from_millis(2500), 8000);
    phone.pause(Duration::from_millis(2800)).expect("pause");
    let heard = phone.record_stop();
    assert_tone("the PSTN subscriber hears sipp", &heard, SIPP_HZ);
    assert_tone("sipp hears the PSTN subscriber", &cap.audio(PCMU), PHONE_HZ);
}

/// Waits until the FXO line is back on-hook at the exchange.
fn line_released(ex: &ExchangeHandle) -> bool {
    wait_until(T, || ex.line(FXO_LINE).filter(|l| !l.off_hook).map(|_| ())).is_some()
}

/// The gateway answers the INVITE on the exchange's polarity reversal when the line is
/// supervised by reversal, else right after dialling.
fn sip_to_pstn(name: &str, scenario: &str, pstn_hangs_up: bool, supervision: Supervision) {
    sip_to_pstn_dialling(name, scenario, pstn_hangs_up, supervision, "");
}

/// As [`sip_to_pstn`], with `extra` port settings (e.g. pulse out-dialling).
fn sip_to_pstn_dialling(
    name: &str,
    scenario: &str,
    pstn_hangs_up: bool,
    supervision: Supervision,
    extra: &str,
) {
    let sip_port = free_udp_port();
    let answer = match supervision {
        Supervision::Reversal => "polarity-reversal",
        _ => "after-dialling",
    };
    let gw = fxo_gateway(name, sip_port, free_udp_port(), answer, extra);
    let (ex, phone) = exchange(&gw, supervision);
    let media = free_udp_port();
    let Some(cap) = Capture::start(name, media) else {
        return;
    };
    let Some(mut sipp) = Sipp::start(SippCall {
        name,
        scenario,
        port: free_udp_port(),
        media_port: media,
        codec: PCMU,
        target: Some((format!("127.0.0.1:{sip_port}").parse().unwrap(), SUBSCRIBER)),
        tone_secs: 12,
    }) else {
        return;
    };
    phone
        .wait_ringing(T)
        .expect("the FXO port dials the subscriber, who rings");
    let cid = phone.wait_caller_id(T).expect("caller ID at the subscriber");
    assert_eq!(
        cid.number.as_str(),
        FXO_LINE,
        "the exchange presents the FXO line: {cid:?}"
    );
    phone.off_hook();
    check_audio(&phone, cap);
    if pstn_hangs_up {
        phone.on_hook();
        assert!(
            sipp.finished_ok(T),
            "sipp got no BYE after the subscriber hung up"
        );
    } else {
        assert!(sipp.finished_ok(T), "sipp's BYE was not answered");
        // The exchange tells the subscriber that the far end cleared: the line leaves the
        // connected state.
        phone.on_hook();
    }
    assert!(
        line_released(&ex),
        "the FXO port releases the line: {:?}",
        ex.status()
    );
    drop(gw);
    ex.stop();
}

#[test]
fn sip_call_to_the_pstn_cleared_by_the_subscriber() {
    sip_to_pstn(
        "fxo-out-pstn-clears",
        "uac-wait-bye.xml",
        true,
        Supervision::Reversal,
    );
}

#[test]
fn sip_call_to_the_pstn_cleared_by_the_subscriber_with_cpc() {
    sip_to_pstn("fxo-out-cpc", "uac-wait-bye.xml", true, Supervision::Cpc);
}

#[test]
fn sip_call_to_the_pstn_cleared_by_the_subscriber_with_disconnect_tone() {
    sip_to_pstn("fxo-out-tone", "uac-wait-bye.xml", true, Supervision::Tone);
}

#[test]
fn sip_call_to_the_pstn_cleared_by_the_sip_caller() {
    sip_to_pstn("fxo-out-sip-clears", "uac-play.xml", false, Supervision::Reversal);
}

#[test]
fn sip_call_to_the_pstn_dialled_with_pulses() {
    sip_to_pstn_dialling(
        "fxo-out-pulse",
        "uac-wait-bye.xml",
        true,
        Supervision::Reversal,
        "fxo_dialling = \"pulse\"\n",
    );
}

#[test]
fn pstn_call_to_sip_with_caller_id() {
    let name = "fxo-in";
    let service = free_udp_port();
    let media = free_udp_port();
    let Some(cap) = Capture::start(name, media) else {
        return;
    };
    let Some(mut sipp) = Sipp::start(SippCall {
        name,
        scenario: "uas-pstn-caller.xml",
        port: service,
        media_port: media,
        codec: PCMU,
        target: None,
        tone_secs: 12,
    }) else {
        return;
    };
    let gw = fxo_gateway(name, free_udp_port(), service, "polarity-reversal", "");
    let (ex, phone) = exchange(&gw, Supervision::Reversal);
    phone.off_hook();
    phone
        .wait_for_tone(ToneKind::Dial, T)
        .expect("exchange dial tone");
    phone.dial_dtmf(FXO_LINE).expect("dial the FXO line");
    phone
        .wait_for_tone(ToneKind::Ringback, T)
        .expect("the subscriber hears ringback while the FXO line rings");
    phone
        .wait_tone_gone(ToneKind::Ringback, Duration::from_secs(20))
        .expect("ringback stops when sipp answers and the FXO port answers the line");
    check_audio(&phone, cap);
    phone.on_hook();
    assert!(
        sipp.finished_ok(T),
        "sipp saw the call fail (caller ID missing in From/P-Asserted-Identity, or no BYE)"
    );
    assert!(
        line_released(&ex),
        "the FXO port releases the line: {:?}",
        ex.status()
    );
    drop(gw);
    ex.stop();
}

/// Two-stage PSTN to SIP: the subscriber dials the FXO line; the gateway answers it on the
/// first ring and asks for the PIN with stutter tone; after the PIN the caller hears the
/// gateway's dial tone, dials a number the line's dial plan sends at once, and the gateway
/// calls it through the account (sipp); audio both ways; the subscriber hangs up and the
/// gateway ends the SIP call.
#[test]
fn two_stage_pstn_call_with_pin_dials_through_to_sip() {
    let name = "fxo-two-stage";
    let service = free_udp_port();
    let media = free_udp_port();
    let Some(cap) = Capture::start(name, media) else {
        return;
    };
    let Some(mut sipp) = Sipp::start(SippCall {
        name,
        scenario: "uas-play.xml",
        port: service,
        media_port: media,
        codec: PCMU,
        target: None,
        tone_secs: 12,
    }) else {
        return;
    };
    let rtp = free_udp_port();
    let cfg = format!(
        "[network]\nsip_port = {}\nrtp_port_min = {rtp}\nrtp_port_max = {}\n\
         [[account]]\nname = \"pstn\"\nuser = \"{FXO_LINE}\"\ndomain = \"127.0.0.1:{service}\"\n\
         register = false\n\
         [[port]]\nid = 0\nkind = \"fxo\"\naccount = \"pstn\"\ncodecs = [\"pcmu\"]\n\
         fxo_mode = \"two-stage\"\nfxo_pin = \"42\"\nfxo_answer = \"after-dialling\"\n",
        free_udp_port(),
        rtp + 4
    );
    let mut gw = Gatewayd::start(name, &["fxo"], &cfg);
    gw.login();
    let (ex, phone) = exchange(&gw, Supervision::Reversal);
    phone.off_hook();
    phone
        .wait_for_tone(ToneKind::Dial, T)
        .expect("exchange dial tone");
    phone.dial_dtmf(FXO_LINE).expect("dial the FXO line");
    // The gateway answers on the first ring and prompts for the PIN.
    assert!(
        wait_until(T, || ex.line(FXO_LINE).filter(|l| l.off_hook).map(|_| ())).is_some(),
        "the gateway answers the line: {:?}",
        ex.status()
    );
    phone.pause(Duration::from_millis(1000)).expect("pause");
    phone.dial_dtmf("42").expect("key the PIN");
    // The prompt was stutter dial tone; after the PIN the tone goes on steady (the same
    // 350+440 Hz), so the port's state says when the gateway collects the number.
    let collecting = wait_until(T, || {
        let st = gw.http_get("/api/status").map(|r| r.1).unwrap_or_default();
        st.contains("\"call_state\":\"collecting\"").then_some(())
    });
    assert!(
        collecting.is_some(),
        "the PIN is accepted; the line hears {:?}",
        phone.heard()
    );
    let short = Duration::from_secs(3);
    phone
        .wait_for_tone(ToneKind::Dial, short)
        .or_else(|_| phone.wait_for_tone(ToneKind::StutterDial, short))
        .expect("the caller hears the gateway's dial tone");
    // 1 + 10 digits: the default plan's `1xxx[2-9]xxxxxxS0` sends it at once.
    phone.dial_dtmf("12125551234").expect("dial the SIP number");
    phone
        .wait_for_tone(ToneKind::Ringback, T)
        .expect("the gateway plays ringback on the 180");
    phone
        .wait_tone_gone(ToneKind::Ringback, T)
        .expect("ringback stops when sipp answers");
    check_audio(&phone, cap);
    phone.on_hook();
    assert!(
        sipp.finished_ok(T),
        "sipp saw no call, or no BYE after the subscriber hung up"
    );
    assert!(
        line_released(&ex),
        "the FXO port releases the line: {:?}",
        ex.status()
    );
    drop(gw);
    ex.stop();
}
