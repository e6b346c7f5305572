//! A virtual phone on an FXS port of the simulated board: its hook gestures reach the port's
//! `HookDetector` classified correctly (off-hook, on-hook, flash, pulse digits at 10 and 20 pps).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use board::simphone::{PhoneConfig, SimPhone};
use hal::Instant;
use hal::board::{PortId, PortKind};
use hal::fxs::{FxsEventKind, FxsLine, HookDetector, HookTiming};
use hal::pcm::{PcmBus, SILENCE};
use hal::sim::{SimBoard, SimBoardConfig, SimClock, SimPortConfig};

/// Runs the board's media loop (as the gateway does) until `done`, collecting hook events.
fn gateway_loop(mut board: SimBoard, done: Arc<AtomicBool>, max_ticks: u64) -> LoopResult {
    let mut pcm = board.take_pcm().unwrap();
    let mut line = board.take_fxs(PortId(0)).unwrap();
    let mut det = HookDetector::new(HookTiming::default()).unwrap();
    let tx = [SILENCE; 1];
    let mut rx = [SILENCE; 1];
    let mut events = Vec::new();
    let mut classify = |tick: u64, events: &mut Vec<(FxsEventKind, Instant)>| {
        let upto = det.track(&mut line, Instant::from_samples(tick * 80)).unwrap();
        while let Some(e) = det.poll(upto) {
            events.push((e.kind, e.at));
        }
    };
    let mut start = None;
    while !done.load(Ordering::Acquire) {
        let r = pcm.exchange(&tx, &mut rx).unwrap();
        let t0 = *start.get_or_insert(r.tick);
        assert!(r.tick - t0 < max_ticks, "test ran out of port-clock time");
        classify(r.tick, &mut events);
    }
    // Let the last classification timers run out.
    for _ in 0..120 {
        let r = pcm.exchange(&tx, &mut rx).unwrap();
        classify(r.tick, &mut events);
    }
    line.set_feed(hal::fxs::LineFeed::ForwardActive).unwrap();
    (events, board.stats(PortId(0)).unwrap())
}

type LoopResult = (Vec<(FxsEventKind, Instant)>, hal::sim::PortStats);

/// A board with one FXS port whose [`gateway_loop`] runs on its own thread until `done` is set:
/// (the port's address, the board's clock, `done`, the loop's thread).
fn running_board() -> (SocketAddr, SimClock, Arc<AtomicBool>, JoinHandle<LoopResult>) {
    let board = SimBoard::start(SimBoardConfig::new(vec![SimPortConfig {
        kind: PortKind::Fxs,
        tcp_port: 0,
    }]))
    .unwrap();
    let addr = board.local_addr(PortId(0)).unwrap();
    let clock = board.clock();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let gw = thread::spawn(move || gateway_loop(board, d, 3000));
    (addr, clock, done, gw)
}

#[test]
fn hook_flash_and_pulse_digits_are_classified() {
    let (addr, _, done, gw) = running_board();

    let phone = SimPhone::connect(addr, PhoneConfig::default()).unwrap();
    let script = || -> Result<(), board::simphone::PhoneError> {
        phone.pause(Duration::from_millis(100))?;
        phone.off_hook();
        phone.pause(Duration::from_millis(300))?;
        phone.dial_pulse("305", 10)?;
        phone.dial_pulse("19", 20)?;
        phone.flash_for(Duration::from_millis(400))?;
        phone.pause(Duration::from_millis(300))?;
        phone.on_hook();
        phone.pause(Duration::from_millis(1200))?;
        Ok(())
    };
    let res = script();
    done.store(true, Ordering::Release);
    let (events, stats) = gw.join().unwrap();
    res.unwrap();

    let kinds: Vec<FxsEventKind> = events.iter().map(|e| e.0).collect();
    let digits: Vec<u8> = kinds
        .iter()
        .filter_map(|k| match k {
            FxsEventKind::PulseDigit { digit } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(kinds.first(), Some(&FxsEventKind::OffHook), "{kinds:?}");
    assert_eq!(digits, [3, 0, 5, 1, 9], "{kinds:?}");
    let flash: Vec<_> = kinds
        .iter()
        .filter(|k| matches!(k, FxsEventKind::HookFlash { .. }))
        .collect();
    // The flash is timed on the port's clock from the phone's stamps: exactly 400 ms.
    assert_eq!(
        flash,
        [&FxsEventKind::HookFlash {
            duration: Duration::from_millis(400)
        }],
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&FxsEventKind::OnHook), "{kinds:?}");
    assert_eq!(kinds.len(), 1 + 5 + 1 + 1, "{kinds:?}");
    assert!(stats.connections == 1 && stats.frames_in > 100, "{stats:?}");
}

/// A phone attached to a board that has been running for a while and lifted at once: the
/// off-hook is stamped on the board's clock at the moment of connection, not at the board's
/// start (which made the port classify a gesture seconds in the past).
#[test]
fn phone_lifted_as_it_attaches_is_stamped_on_the_running_clock() {
    let (addr, clock, done, gw) = running_board();
    // The board's clock runs from the loop's first tick: let it pass 1.5 s (bounded).
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while clock.samples() < 8 * 1500 && std::time::Instant::now() < give_up {
        thread::sleep(Duration::from_millis(10));
    }
    let phone = SimPhone::connect(addr, PhoneConfig::default()).unwrap();
    let attached_at = phone.now();
    phone.off_hook();
    let script = || -> Result<(), board::simphone::PhoneError> {
        phone.pause(Duration::from_millis(300))?;
        phone.on_hook();
        phone.pause(Duration::from_millis(1200))?;
        Ok(())
    };
    let res = script();
    done.store(true, Ordering::Release);
    let (events, _) = gw.join().unwrap();
    res.unwrap();

    assert!(
        attached_at >= 8 * 1000,
        "board clock at attach: {attached_at} samples"
    );
    let off = events
        .iter()
        .find(|e| e.0 == FxsEventKind::OffHook)
        .unwrap_or_else(|| panic!("no off-hook: {events:?}"));
    let on = events
        .iter()
        .find(|e| e.0 == FxsEventKind::OnHook)
        .unwrap_or_else(|| panic!("no on-hook: {events:?}"));
    assert!(
        off.1 >= Instant::from_samples(attached_at),
        "off-hook stamped {:?}, phone attached at sample {attached_at}",
        off.1
    );
    // Lifted for the 300 ms the script waited, measured on the port's clock.
    let held = on.1.saturating_since(off.1);
    assert!(
        held >= Duration::from_millis(280) && held <= Duration::from_millis(340),
        "off-hook for {held:?}: {events:?}"
    );
}
