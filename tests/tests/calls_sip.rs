//! SIP calls through gatewayd against sipp on loopback: a virtual phone on an FXS port calls a
//! SIP service (ringback, answer, audio both ways, hang-up with BYE), and a SIP caller rings the
//! phone (caller ID from the From display name, answer, audio both ways, remote BYE), in G.711
//! and in GSM.
//!
//! The far end's audio is a 1 kHz tone encoded by sox (libgsm for GSM) and played by sipp as
//! RTP (`play_pcap_audio`); the phone must hear it. The phone plays 600 Hz; tshark captures
//! what the gateway sends, Wireshark's RTP dissector extracts the payload and sox decodes it;
//! the tone must be there. No part of the audio check runs through our own codecs.

use std::net::SocketAddr;
use std::time::Duration;

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::Gatewayd;
use e2e::peers::{Capture, Codec, GSM, PCMA, PCMU, Sipp, SippCall, assert_tone, free_udp_port};

const T: Duration = Duration::from_secs(10);
/// What the far end plays, and what the phone plays.
const FAR_HZ: f32 = e2e::peers::SIPP_HZ;
const PHONE_HZ: f32 = 600.0;

/// The phone talks (600 Hz) and listens; the far end's 1 kHz must reach it and its own tone
/// must reach the far end (in `cap`).
fn check_audio(phone: &SimPhone, cap: Capture, codec: Codec) {
    phone.record_start();
    phone.play_tone(PHONE_HZ, Duration::from_millis(2500), 8000);
    phone.pause(Duration::from_millis(2800)).expect("pause");
    let heard = phone.record_stop();
    assert_tone("the phone hears the far end", &heard, FAR_HZ);
    assert_tone("the far end hears the phone", &cap.audio(codec), PHONE_HZ);
}

fn gateway_with_service(name: &str, sip_port: u16, service: u16, codecs: &str) -> Gatewayd {
    // RTP ports of its own: two pairs.
    let rtp = free_udp_port();
    let rtp_max = rtp + 4;
    let cfg = format!(
        "[network]\nsip_port = {sip_port}\nrtp_port_min = {rtp}\nrtp_port_max = {rtp_max}\n\
         [[account]]\nname = \"svc\"\nuser = \"1001\"\ndomain = \"127.0.0.1:{service}\"\nregister = false\n\
         [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"svc\"\ncodecs = [{codecs}]\n\
         [[port]]\nid = 1\nkind = \"fxs\"\naccount = \"svc\"\ncodecs = [{codecs}]\n"
    );
    Gatewayd::start(name, &["fxs", "fxs"], &cfg)
}

fn outgoing_call(codec: Codec, codecs: &str) {
    let service = free_udp_port();
    let sip_port = free_udp_port();
    let media = free_udp_port();
    let Some(cap) = Capture::start(&format!("out-{}", codec.name), media) else {
        return;
    };
    let Some(mut sipp) = Sipp::start(SippCall {
        name: "uas",
        scenario: "uas-play.xml",
        port: service,
        media_port: media,
        codec,
        target: None,
        tone_secs: 8,
    }) else {
        return;
    };
    let mut gw = gateway_with_service(
        &format!("calls-sip-out-{}", codec.name),
        sip_port,
        service,
        codecs,
    );
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    // 1 + 10 digits: the default plan's `1xxx[2-9]xxxxxxS0` sends it at once.
    phone.dial_dtmf("12125551234").expect("dial");
    phone
        .wait_for_tone(ToneKind::Ringback, T)
        .expect("ringback after 180");
    phone
        .wait_tone_gone(ToneKind::Ringback, T)
        .expect("ringback stops at 200");
    check_audio(&phone, cap, codec);
    let (_, status) = {
        gw.login();
        gw.http_get("/api/status").expect("status")
    };
    assert!(status.contains("\"direction\":\"out\""), "{status}");
    phone.on_hook();
    assert!(sipp.finished_ok(T), "sipp saw the call fail");
    let _ = gw.stop();
}

#[test]
fn phone_calls_a_sip_service_in_pcmu() {
    outgoing_call(PCMU, "\"pcmu\", \"pcma\"");
}

#[test]
fn phone_calls_a_sip_service_in_gsm() {
    outgoing_call(GSM, "\"gsm\"");
}

fn incoming_call(codec: Codec, codecs: &str) {
    let sip_port = free_udp_port();
    let gw_sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    let mut gw = gateway_with_service(
        &format!("calls-sip-in-{}", codec.name),
        sip_port,
        free_udp_port(),
        codecs,
    );
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let media = free_udp_port();
    let Some(cap) = Capture::start(&format!("in-{}", codec.name), media) else {
        return;
    };
    let Some(mut sipp) = Sipp::start(SippCall {
        name: "uac",
        scenario: "uac-play.xml",
        port: free_udp_port(),
        media_port: media,
        codec,
        target: Some((gw_sip, "5550100")),
        tone_secs: 8,
    }) else {
        return;
    };
    phone.wait_ringing(T).expect("the phone rings");
    let cid = phone.wait_caller_id(T).expect("caller ID");
    assert_eq!(cid.number.as_str(), "2125550147");
    assert_eq!(cid.name.as_str(), "Alice Smith");
    phone.off_hook();
    check_audio(&phone, cap, codec);
    // sipp hangs up 5 s after the answer: the phone hears reorder.
    phone
        .wait_for_tone(ToneKind::Congestion, T)
        .expect("reorder after the far end's BYE");
    assert!(sipp.finished_ok(T), "sipp saw the call fail");
    phone.on_hook();
    let _ = gw.stop();
}

#[test]
fn sip_caller_rings_the_phone_in_pcma() {
    incoming_call(PCMA, "\"pcma\", \"pcmu\"");
}

#[test]
fn sip_caller_rings_the_phone_in_gsm() {
    incoming_call(GSM, "\"pcmu\", \"gsm\"");
}

/// A SIP caller asks for distinctive ring 2 (Alert-Info `Bellcore-dr2`: two short bursts) and
/// cancels before the phone answers: the phone rings with that cadence and stops; the caller
/// gets 487.
#[test]
fn cancelled_call_rings_with_the_distinctive_cadence_and_stops() {
    let sip_port = free_udp_port();
    let gw_sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    let gw = gateway_with_service("calls-sip-cancel", sip_port, free_udp_port(), "\"pcmu\"");
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let Some(mut sipp) = Sipp::start(SippCall {
        name: "uac-cancel",
        scenario: "uac-cancel.xml",
        port: free_udp_port(),
        media_port: free_udp_port(),
        codec: PCMU,
        target: Some((gw_sip, "5550100")),
        tone_secs: 1,
    }) else {
        return;
    };
    phone.wait_ringing(T).expect("the phone rings");
    let bursts = phone.wait_ring_bursts(2, T).expect("ring bursts");
    eprintln!("ring bursts: {bursts:?}");
    // Bellcore dr2: 800 ms on, 400 ms off, 800 ms on, 4 s off (the normal US ring is 2 s on).
    let (a, b) = (&bursts[0], &bursts[1]);
    assert!(
        (600..=1000).contains(&a.on_ms)
            && a.off_ms.is_some_and(|off| (250..=600).contains(&off))
            && (600..=1000).contains(&b.on_ms),
        "not the dr2 cadence: {bursts:?}"
    );
    assert!(sipp.finished_ok(T), "sipp did not get 487 for its CANCEL");
    let stopped = e2e::wait_until(T, || (!phone.is_ringing()).then_some(()));
    assert!(stopped.is_some(), "the phone still rings after the CANCEL");
    assert_eq!(
        phone.caller_id().map(|c| c.number.to_string()),
        Some("2125550199".into())
    );
}

/// Nobody answers: the port rings for its `ring_timeout_s`, then refuses the call with 480 and
/// stops ringing.
#[test]
fn unanswered_call_ends_with_480_after_the_ring_timeout() {
    let sip_port = free_udp_port();
    let gw_sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    let cfg = format!(
        "[network]\nsip_port = {sip_port}\n\
         [[port]]\nid = 0\nkind = \"fxs\"\nring_timeout_s = 10\n\
         [[port]]\nid = 1\nkind = \"fxs\"\n"
    );
    let gw = Gatewayd::start("calls-sip-noanswer", &["fxs", "fxs"], &cfg);
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let Some(mut sipp) = Sipp::start(SippCall {
        name: "uac-no-answer",
        scenario: "uac-no-answer.xml",
        port: free_udp_port(),
        media_port: free_udp_port(),
        codec: PCMU,
        target: Some((gw_sip, "5550100")),
        tone_secs: 1,
    }) else {
        return;
    };
    phone.wait_ringing(T).expect("the phone rings");
    let started = std::time::Instant::now();
    assert!(
        sipp.finished_ok(Duration::from_secs(20)),
        "sipp did not get 480 after the ring timeout"
    );
    eprintln!("rang for {:?} before the 480", started.elapsed());
    let stopped = e2e::wait_until(T, || (!phone.is_ringing()).then_some(()));
    assert!(stopped.is_some(), "the phone still rings after the 480");
}
