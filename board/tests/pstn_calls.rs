//! Two virtual subscribers call each other through the simulated exchange: dial tone, digits,
//! ringing with cadence and FSK caller ID, answer, audio both ways, hang-up supervision; busy
//! and unobtainable numbers.

use std::time::Duration;

use board::pstn::{Exchange, ExchangeConfig, LineConfig, Supervision};
use board::simphone::{PhoneConfig, PhoneEventKind, SimPhone, ToneKind};
use hal::fxs::LineFeed;

const S: fn(u64) -> Duration = Duration::from_secs;

fn exchange() -> board::pstn::ExchangeHandle {
    let mut alice = LineConfig::card("201", 0);
    alice.name = "ALICE".into();
    alice.supervision = Supervision::Reversal;
    let mut bob = LineConfig::card("202", 0);
    bob.name = "BOB".into();
    bob.supervision = Supervision::Tone;
    let carol = LineConfig::card("203", 0);
    let mut cfg = ExchangeConfig::new("US", vec![alice, bob, carol]);
    // A shorter cadence than the plan's 2 s / 4 s keeps the test quick; caller ID still has 3 s.
    cfg.ring = Some(vec![(1000, 3000)]);
    Exchange::start(cfg).unwrap()
}

#[test]
fn call_with_caller_id_audio_and_supervision() {
    let ex = exchange();
    let alice = SimPhone::connect(ex.line_addr("201").unwrap(), PhoneConfig::default()).unwrap();
    let bob = SimPhone::connect(ex.line_addr("202").unwrap(), PhoneConfig::default()).unwrap();

    alice.pause(Duration::from_millis(100)).unwrap();
    alice.off_hook();
    alice.wait_for_tone(ToneKind::Dial, S(3)).unwrap();
    alice.dial_dtmf("202").unwrap();
    alice.wait_for_tone(ToneKind::Ringback, S(8)).unwrap();
    assert_eq!(ex.line("201").unwrap().digits, "202");

    // Bob's phone rings with the cadence and shows Alice's number between the bursts.
    bob.wait_ringing(S(2)).unwrap();
    let id = bob.wait_caller_id(S(5)).unwrap();
    assert_eq!(id.number.as_str(), "201");
    assert_eq!(id.name.as_str(), "ALICE");
    let bursts = bob.wait_ring_bursts(1, S(6)).unwrap();
    assert_eq!(
        (bursts[0].on_ms, bursts[0].off_ms),
        (1000, Some(3000)),
        "{bursts:?}"
    );

    // Answer: ringing stops (ring trip), Alice's line reverses (answer supervision).
    let from = bob.events().len();
    bob.off_hook();
    alice.wait_feed(S(2), |f| *f == LineFeed::ReverseActive).unwrap();
    bob.wait_event(from, S(1), |k| {
        *k == PhoneEventKind::Feed(LineFeed::ForwardActive)
    })
    .unwrap();
    // Ring trip: the ring stop may come in the frame after the feed change.
    if bob.is_ringing() {
        bob.wait_event(from, S(1), |k| *k == PhoneEventKind::Ring(false))
            .unwrap();
    }
    assert!(!bob.is_ringing());

    // Audio both ways: DTMF one way, a call progress tone the other.
    bob.dial_dtmf("58").unwrap();
    alice.wait_dtmf("58", S(2)).unwrap();
    alice.dial_dtmf("7").unwrap();
    bob.wait_dtmf("7", S(2)).unwrap();
    alice.play_progress_tone(ToneKind::Busy).unwrap();
    bob.wait_for_tone(ToneKind::Busy, S(6)).unwrap();
    alice.stop_audio();

    // Alice hangs up: Bob's line is configured for a disconnect tone.
    alice.on_hook();
    bob.wait_for_tone(ToneKind::Busy, S(6)).unwrap();
    bob.on_hook();
    bob.pause(Duration::from_millis(1200)).unwrap();
    assert_eq!(ex.line("202").unwrap().state, "idle");

    // Bob calls Alice and hangs up first: Alice sees the polarity reversal back to forward.
    bob.off_hook();
    bob.wait_for_tone(ToneKind::Dial, S(3)).unwrap();
    bob.dial_pulse("201", 10).unwrap();
    alice.wait_ringing(S(3)).unwrap();
    let from = alice.events().len();
    alice.off_hook();
    // Bob's line signals with tones, not polarity: no answer reversal toward him.
    bob.pause(Duration::from_millis(300)).unwrap();
    assert_eq!(ex.line("202").unwrap().state, "connected");
    assert_eq!(bob.feed(), LineFeed::ForwardActive);
    bob.on_hook();
    // Alice was not reversed (she was called): the clear reverses her line.
    alice
        .wait_event(from, S(3), |k| {
            matches!(k, PhoneEventKind::Feed(LineFeed::ReverseActive))
        })
        .unwrap();
    alice.on_hook();
}

#[test]
fn busy_and_unobtainable_numbers() {
    let ex = exchange();
    let alice = SimPhone::connect(ex.line_addr("201").unwrap(), PhoneConfig::default()).unwrap();
    let bob = SimPhone::connect(ex.line_addr("202").unwrap(), PhoneConfig::default()).unwrap();

    alice.pause(Duration::from_millis(100)).unwrap();
    bob.off_hook();
    bob.wait_for_tone(ToneKind::Dial, S(3)).unwrap();
    // Bob is off-hook: busy.
    alice.off_hook();
    alice.wait_for_tone(ToneKind::Dial, S(3)).unwrap();
    alice.dial_dtmf("202").unwrap();
    alice.wait_for_tone(ToneKind::Busy, S(6)).unwrap();
    alice.on_hook();
    alice.pause(Duration::from_millis(1200)).unwrap();

    // No such number: special information tone.
    alice.off_hook();
    alice.wait_for_tone(ToneKind::Dial, S(3)).unwrap();
    alice.dial_pulse("9", 20).unwrap();
    alice.wait_for_tone(ToneKind::Sit, S(5)).unwrap();
    alice.on_hook();
    bob.on_hook();
}

/// Caller ID of each standard with the country's own ring cadence.
fn caller_id_with(country: &str, cid: codecs::callerid::CidStandard) {
    let alice = LineConfig::card("4711", 0);
    let mut bob = LineConfig::card("4712", 0);
    bob.cid = cid;
    let ex = Exchange::start(ExchangeConfig::new(country, vec![alice, bob])).unwrap();
    let cfg = PhoneConfig {
        country: country.into(),
        cid,
        ..PhoneConfig::default()
    };
    let a = SimPhone::connect(ex.line_addr("4711").unwrap(), cfg.clone()).unwrap();
    let b = SimPhone::connect(ex.line_addr("4712").unwrap(), cfg).unwrap();
    a.pause(Duration::from_millis(100)).unwrap();
    a.off_hook();
    a.pause(Duration::from_millis(300)).unwrap();
    a.dial_dtmf("4712").unwrap();
    b.wait_ringing(S(3)).unwrap();
    let id = b.wait_caller_id(S(8)).unwrap();
    assert_eq!(id.number.as_str(), "4711", "{country} {cid:?}");
    // Caller ID never overlaps ring voltage.
    let ev = b.events();
    let cid_at = ev
        .iter()
        .find(|e| matches!(e.kind, PhoneEventKind::CallerId(_)))
        .unwrap()
        .at;
    let last_ring = ev
        .iter()
        .filter(|e| e.at <= cid_at)
        .rev()
        .find_map(|e| match e.kind {
            PhoneEventKind::Ring(on) => Some(on),
            _ => None,
        });
    assert_eq!(last_ring, Some(false), "{country} {cid:?}: {ev:?}");
}

#[test]
fn caller_id_v23_with_uk_double_ring() {
    caller_id_with("GB", codecs::callerid::CidStandard::V23);
}

#[test]
fn caller_id_dtmf_clip() {
    caller_id_with("DK", codecs::callerid::CidStandard::Dtmf);
}
