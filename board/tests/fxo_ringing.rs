//! The simulated exchange rings a sim board FXO port when a subscriber dials its number: the
//! port's `FxoMonitor` sees the ring cadence, caller ID decodes from the port's audio between the
//! rings, answer connects audio, the far end clearing is signalled, and a held line is busy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use board::pstn::{Exchange, ExchangeConfig, LineConfig, Supervision};
use board::simphone::{PhoneConfig, SimPhone, ToneKind};
use codecs::callerid::{CallerId, CidDecoder, CidStandard};
use codecs::dtmf::{DtmfDetector, DtmfEventKind};
use hal::Instant;
use hal::board::{PortId, PortKind};
use hal::fxo::{FxoEventKind, FxoLine, FxoMonitor, FxoTiming, Polarity};
use hal::pcm::{PcmBus, SILENCE};
use hal::sim::{SimBoard, SimBoardConfig, SimPortConfig};

const S: fn(u64) -> Duration = Duration::from_secs;

#[derive(Default)]
struct Seen {
    events: Vec<(FxoEventKind, Instant)>,
    caller_id: Option<CallerId>,
    digits: String,
}

/// Waits (bounded) until `cond` holds on what the gateway side has seen.
fn wait(seen: &Mutex<Seen>, what: &str, timeout: Duration, cond: impl Fn(&Seen) -> bool) {
    let end = std::time::Instant::now() + timeout;
    loop {
        if cond(&seen.lock().unwrap()) {
            return;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}: {:?}",
            seen.lock().unwrap().events
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn count(s: &Seen, f: impl Fn(&FxoEventKind) -> bool) -> usize {
    s.events.iter().filter(|e| f(&e.0)).count()
}

#[test]
fn exchange_rings_fxo_port_with_caller_id() {
    let mut board = SimBoard::start(SimBoardConfig::new(vec![SimPortConfig {
        kind: PortKind::Fxo,
        tcp_port: 0,
    }]))
    .unwrap();
    let fxo_addr = board.local_addr(PortId(0)).unwrap();

    // The gateway side: the media loop drives the FXO port and classifies what it reads.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seize = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let gw = {
        let (seen, seize, done) = (seen.clone(), seize.clone(), done.clone());
        let mut pcm = board.take_pcm().unwrap();
        let mut fxo = board.take_fxo(PortId(0)).unwrap();
        thread::spawn(move || {
            let mut mon = FxoMonitor::new(FxoTiming::default());
            let mut cid = CidDecoder::new(CidStandard::Bell202);
            let mut dtmf = DtmfDetector::new();
            let mut held = false;
            let (tx, mut rx) = ([SILENCE; 1], [SILENCE; 1]);
            let mut ticks = 0u32;
            while !done.load(Ordering::Acquire) && ticks < 6000 {
                ticks += 1;
                let r = pcm.exchange(&tx, &mut rx).unwrap();
                let now = Instant::from_samples(r.tick * 80);
                let want = seize.load(Ordering::Acquire);
                if want != held {
                    held = want;
                    fxo.set_off_hook(held).unwrap();
                    mon.set_off_hook(held, now);
                }
                mon.update(fxo.read(now).unwrap(), now);
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                while let Some(e) = mon.poll() {
                    s.events.push((e.kind, e.at));
                }
                if held {
                    dtmf.process(&rx[0]);
                    while let Some(e) = dtmf.poll() {
                        if e.kind == DtmfEventKind::Start {
                            s.digits.push(e.digit);
                        }
                    }
                } else {
                    cid.process(&rx[0]);
                    while let Some(m) = cid.poll() {
                        if let Ok(m) = m {
                            s.caller_id = Some(m.caller);
                        }
                    }
                }
            }
            drop(board);
        })
    };

    let mut alice = LineConfig::card("201", 0);
    alice.name = "ALICE".into();
    let mut trunk = LineConfig::trunk("300", fxo_addr);
    trunk.supervision = Supervision::Reversal;
    let mut cfg = ExchangeConfig::new("US", vec![alice, trunk]);
    cfg.ring = Some(vec![(1000, 3000)]);
    let ex = Exchange::start(cfg).unwrap();
    let phone = SimPhone::connect(ex.line_addr("201").unwrap(), PhoneConfig::default()).unwrap();

    wait(&seen, "line present", S(3), |s| {
        count(s, |k| *k == FxoEventKind::LinePresent) == 1
    });
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, S(3)).unwrap();
    phone.dial_dtmf("300").unwrap();
    phone.wait_for_tone(ToneKind::Ringback, S(8)).unwrap();

    // Two bursts: the first measured, caller ID in between.
    wait(&seen, "second ring", S(8), |s| {
        count(s, |k| *k == FxoEventKind::RingStart) == 2
    });
    {
        let s = seen.lock().unwrap();
        let rings: Vec<_> = s
            .events
            .iter()
            .filter(|e| matches!(e.0, FxoEventKind::RingStart | FxoEventKind::RingStop { .. }))
            .collect();
        // Line state crosses from the exchange's clock to the gateway's: one tick of
        // quantisation, and on a loaded machine either process may see a change a couple of
        // ticks late (both run in real time).
        let tick = Duration::from_millis(30);
        let FxoEventKind::RingStop { on } = rings[1].0 else {
            panic!("{rings:?}")
        };
        assert!(on.abs_diff(Duration::from_millis(1000)) <= tick, "{rings:?}");
        let period = rings[2].1 - rings[0].1;
        assert!(period.abs_diff(Duration::from_millis(4000)) <= tick, "{period:?}");
        let id = s.caller_id.expect("caller ID between the rings");
        assert_eq!((id.number.as_str(), id.name.as_str()), ("201", "ALICE"));
    }

    // Answer: ringing stops, Alice hears the answer reversal; audio flows to the gateway.
    seize.store(true, Ordering::Release);
    phone
        .wait_feed(S(2), |f| *f == hal::fxs::LineFeed::ReverseActive)
        .unwrap();
    phone.dial_dtmf("42").unwrap();
    wait(&seen, "DTMF through the trunk", S(3), |s| s.digits == "42");

    // Alice hangs up: the FXO port sees the line reverse (disconnect supervision).
    phone.on_hook();
    wait(&seen, "polarity reversal", S(3), |s| {
        count(s, |k| {
            *k == FxoEventKind::PolarityReversal {
                to: Polarity::Reversed,
            }
        }) == 1
    });

    // The gateway still holds the line: calling it again is busy.
    phone.pause(Duration::from_millis(1200)).unwrap();
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, S(3)).unwrap();
    phone.dial_dtmf("300").unwrap();
    if let Err(e) = phone.wait_for_tone(ToneKind::Busy, S(6)) {
        panic!(
            "{e}: {:?} {:?}",
            ex.status(),
            &phone.events()[phone.events().len().saturating_sub(8)..]
        );
    }
    phone.on_hook();

    done.store(true, Ordering::Release);
    gw.join().unwrap();
    ex.stop();
}

#[test]
fn fxo_port_dials_out_by_pulses_and_sees_cpc() {
    use codecs::tones::{CallProgressDetector, Heard, TonePlan};

    let mut board = SimBoard::start(SimBoardConfig::new(vec![SimPortConfig {
        kind: PortKind::Fxo,
        tcp_port: 0,
    }]))
    .unwrap();
    let fxo_addr = board.local_addr(PortId(0)).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let done = Arc::new(AtomicBool::new(false));
    let gw = {
        let (seen, done) = (seen.clone(), done.clone());
        let mut pcm = board.take_pcm().unwrap();
        let mut fxo = board.take_fxo(PortId(0)).unwrap();
        thread::spawn(move || {
            let mut mon = FxoMonitor::new(FxoTiming::default());
            let mut progress = CallProgressDetector::new(TonePlan::for_country("US").unwrap());
            let mut dtmf = DtmfDetector::new();
            let (tx, mut rx) = ([SILENCE; 1], [SILENCE; 1]);
            // Loop-disconnect dialling at 10 pps from the media loop: 60 ms break, 40 ms make.
            let mut pulses: Vec<bool> = Vec::new();
            for d in [2usize, 10, 1] {
                for _ in 0..d {
                    pulses.extend([false; 6]);
                    pulses.extend([true; 4]);
                }
                pulses.extend([true; 80]);
            }
            let (mut seized, mut dialling, mut step) = (false, false, 0);
            for _ in 0..6000 {
                if done.load(Ordering::Acquire) {
                    break;
                }
                let r = pcm.exchange(&tx, &mut rx).unwrap();
                let now = Instant::from_samples(r.tick * 80);
                mon.update(fxo.read(now).unwrap(), now);
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                while let Some(e) = mon.poll() {
                    if e.kind == FxoEventKind::LinePresent && !seized {
                        seized = true;
                        fxo.set_off_hook(true).unwrap();
                        mon.set_off_hook(true, now);
                    }
                    s.events.push((e.kind, e.at));
                }
                progress.process(&rx[0]);
                while let Some(e) = progress.poll() {
                    if e.heard == Heard::Tone(ToneKind::Dial) && seized && step == 0 {
                        dialling = true;
                    }
                }
                if dialling && step < pulses.len() {
                    fxo.set_off_hook(pulses[step]).unwrap();
                    step += 1;
                }
                dtmf.process(&rx[0]);
                while let Some(e) = dtmf.poll() {
                    if e.kind == DtmfEventKind::Start {
                        s.digits.push(e.digit);
                    }
                }
            }
            drop(board);
        })
    };

    let alice = LineConfig::card("201", 0);
    let mut trunk = LineConfig::trunk("300", fxo_addr);
    trunk.supervision = Supervision::Cpc;
    trunk.cpc = Duration::from_millis(300);
    let mut cfg = ExchangeConfig::new("US", vec![alice, trunk]);
    cfg.ring = Some(vec![(1000, 3000)]);
    let ex = Exchange::start(cfg).unwrap();
    let phone = SimPhone::connect(ex.line_addr("201").unwrap(), PhoneConfig::default()).unwrap();

    // The gateway's pulses cross into the exchange's clock with their timing: digits 2 0 1.
    phone.wait_ringing(S(15)).unwrap();
    assert_eq!(ex.line("300").unwrap().digits, "201");
    let id = phone.wait_caller_id(S(5)).unwrap();
    assert_eq!(id.number.as_str(), "300");
    phone.off_hook();
    phone.pause(Duration::from_millis(200)).unwrap();
    phone.dial_dtmf("5").unwrap();
    wait(&seen, "DTMF from the phone", S(3), |s| s.digits == "5");

    // The phone hangs up: the exchange removes the trunk's feed for 300 ms (CPC).
    phone.on_hook();
    wait(&seen, "loop current restored", S(3), |s| {
        count(s, |k| matches!(k, FxoEventKind::LoopCurrentRestored { .. })) == 1
    });
    {
        let s = seen.lock().unwrap();
        assert_eq!(
            count(&s, |k| *k == FxoEventKind::LoopCurrentDrop),
            1,
            "{:?}",
            s.events
        );
        let after = s
            .events
            .iter()
            .find_map(|e| match e.0 {
                FxoEventKind::LoopCurrentRestored { after } => Some(after),
                _ => None,
            })
            .unwrap();
        assert!(
            after.abs_diff(Duration::from_millis(300)) <= Duration::from_millis(10),
            "{after:?}"
        );
    }
    done.store(true, Ordering::Release);
    gw.join().unwrap();
    ex.stop();
}
