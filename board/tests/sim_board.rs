//! The simulated board's port behaviour toward absent, wrong, late, hasty and returning peers.

use std::time::Duration;

use hal::Instant;
use hal::board::{PortId, PortKind};
use hal::fxo::{FxoLine, FxoReading};
use hal::fxs::{FxsLine, Hook, LineFeed};
use hal::pcm::{FRAME_SAMPLES, Frame, PcmBus, SILENCE};
use hal::sim::peer::{self, PeerError, PeerReader, PeerWriter};
use hal::sim::proto::{ErrorCode, Message, Role};
use hal::sim::{SimBoard, SimBoardConfig, SimPcm, SimPortConfig};

fn board() -> SimBoard {
    SimBoard::start(SimBoardConfig::new(vec![
        SimPortConfig {
            kind: PortKind::Fxs,
            tcp_port: 0,
        },
        SimPortConfig {
            kind: PortKind::Fxo,
            tcp_port: 0,
        },
    ]))
    .unwrap()
}

fn tick(pcm: &mut SimPcm, tx: [Frame; 2]) -> (Instant, [Frame; 2]) {
    let mut rx = [SILENCE; 2];
    let r = pcm.exchange(&tx, &mut rx).unwrap();
    (Instant::from_samples(r.tick * FRAME_SAMPLES as u64), rx)
}

fn attach(b: &SimBoard, port: u8, role: Role, kind: PortKind) -> (PeerReader, PeerWriter) {
    let (hello, r, w) = peer::connect(
        b.local_addr(PortId(port)).unwrap(),
        role,
        kind,
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!((hello.role, hello.kind, hello.port), (Role::Port, kind, port));
    r.set_timeout(Some(Duration::from_secs(2))).unwrap();
    (r, w)
}

/// Next message of the wanted kind (frames and other messages before it are skipped).
fn next(r: &mut PeerReader, pred: impl Fn(&Message) -> bool) -> Message {
    for _ in 0..500 {
        let m = r.recv().unwrap();
        if pred(&m) {
            return m;
        }
    }
    panic!("message not received");
}

/// Ticks until `cond` holds, at most `n` ticks.
fn until(pcm: &mut SimPcm, n: usize, mut cond: impl FnMut(Instant) -> bool) {
    for _ in 0..n {
        let (now, _) = tick(pcm, [SILENCE; 2]);
        if cond(now) {
            return;
        }
    }
    panic!("condition not reached in {n} ticks");
}

#[test]
fn absent_peers_read_idle_and_wrong_roles_are_refused() {
    let mut b = board();
    let mut pcm = b.take_pcm().unwrap();
    let mut fxs = b.take_fxs(PortId(0)).unwrap();
    let mut fxo = b.take_fxo(PortId(1)).unwrap();
    assert!(b.take_fxs(PortId(1)).is_none() && b.take_fxo(PortId(0)).is_none());
    let (now, rx) = tick(&mut pcm, [[7; FRAME_SAMPLES]; 2]);
    assert_eq!(fxs.poll(now).unwrap().hook, Hook::OnHook);
    assert_eq!(fxo.read(now).unwrap(), FxoReading::default());
    assert_eq!(rx, [SILENCE; 2]);

    // A phone on the FXO port, an exchange line on the FXS port: refused with the reason.
    for (port, role, kind) in [
        (1, Role::Phone, PortKind::Fxo),
        (0, Role::ExchangeLine, PortKind::Fxs),
    ] {
        match peer::connect(
            b.local_addr(PortId(port)).unwrap(),
            role,
            kind,
            Duration::from_secs(2),
        ) {
            Err(PeerError::Refused { code, .. }) => assert_eq!(code, ErrorCode::WrongRole),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted a {role:?} on port {port}"),
        }
    }
    // Asking for the wrong kind is caught by the client too.
    assert!(matches!(
        peer::connect(
            b.local_addr(PortId(0)).unwrap(),
            Role::Phone,
            PortKind::Fxo,
            Duration::from_secs(2)
        ),
        Err(PeerError::Refused { .. } | PeerError::Handshake(_))
    ));
}

#[test]
fn phone_hook_audio_feed_and_reconnect() {
    let mut b = board();
    let mut pcm = b.take_pcm().unwrap();
    let mut fxs = b.take_fxs(PortId(0)).unwrap();
    let (mut r, mut w) = attach(&b, 0, Role::Phone, PortKind::Fxs);
    until(&mut pcm, 100, |_| b.stats(PortId(0)).unwrap().connected);

    // The phone answers frames and goes off-hook "now".
    let mut tx = [SILENCE; 2];
    tx[0][0] = 1234;
    let (_, _) = tick(&mut pcm, tx);
    let Message::Audio { at, .. } = next(
        &mut r,
        |m| matches!(m, Message::Audio { samples, .. } if samples[0] == 1234),
    ) else {
        unreachable!()
    };
    w.send(&Message::Hook {
        at: 0,
        hook: Hook::OffHook,
    })
    .unwrap();
    w.send(&Message::Audio {
        at,
        samples: [99; FRAME_SAMPLES],
    })
    .unwrap();
    w.flush().unwrap();
    let (mut heard, mut off) = (false, false);
    for _ in 0..100 {
        let (now, rx) = tick(&mut pcm, [SILENCE; 2]);
        heard |= rx[0][0] == 99;
        off |= fxs.poll(now).unwrap().hook == Hook::OffHook;
        if heard && off {
            break;
        }
    }
    assert!(heard && off);

    // Feed changes reach the phone; ringing an off-hook line trips at once.
    fxs.set_feed(LineFeed::ReverseActive).unwrap();
    assert!(matches!(
        next(&mut r, |m| matches!(m, Message::Feed { .. })),
        Message::Feed {
            feed: LineFeed::ReverseActive,
            ..
        }
    ));

    // The phone goes away while off-hook: the port sees on-hook.
    drop((r, w));
    until(&mut pcm, 200, |now| fxs.poll(now).unwrap().hook == Hook::OnHook);

    // It comes back: HELLO, then the current feed is replayed.
    let (mut r, _w) = attach(&b, 0, Role::Phone, PortKind::Fxs);
    assert!(matches!(
        next(&mut r, |m| matches!(m, Message::Feed { .. })),
        Message::Feed {
            feed: LineFeed::ReverseActive,
            ..
        }
    ));
    until(&mut pcm, 100, |_| b.stats(PortId(0)).unwrap().connections == 2);
}

#[test]
fn late_and_hasty_peers_underrun_and_overrun() {
    let mut b = board();
    let mut pcm = b.take_pcm().unwrap();
    let (mut r, mut w) = attach(&b, 0, Role::Phone, PortKind::Fxs);
    until(&mut pcm, 100, |_| b.stats(PortId(0)).unwrap().connected);
    // A silent peer: every tick is an underrun.
    for _ in 0..5 {
        tick(&mut pcm, [SILENCE; 2]);
    }
    assert!(b.stats(PortId(0)).unwrap().underruns >= 4);

    // A burst of 20 frames: the FIFO keeps the newest 8, in order.
    for i in 0..20i16 {
        w.send(&Message::Audio {
            at: 0,
            samples: [i; FRAME_SAMPLES],
        })
        .unwrap();
    }
    w.flush().unwrap();
    // Wait for the socket thread without running the clock.
    for _ in 0..200 {
        if b.stats(PortId(0)).unwrap().frames_in >= 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let base = b.stats(PortId(0)).unwrap().overruns;
    let (_, rx) = tick(&mut pcm, [SILENCE; 2]);
    assert_eq!(rx[0][0], 12);
    let s = b.stats(PortId(0)).unwrap();
    assert_eq!(s.overruns - base, 12, "{s:?}");
    let (_, rx) = tick(&mut pcm, [SILENCE; 2]);
    assert_eq!(rx[0][0], 13);
    drop(r.recv());
}

#[test]
fn exchange_line_on_the_fxo_port() {
    let mut b = board();
    let mut pcm = b.take_pcm().unwrap();
    let mut fxo = b.take_fxo(PortId(1)).unwrap();
    let (mut r, mut w) = attach(&b, 1, Role::ExchangeLine, PortKind::Fxo);
    until(&mut pcm, 100, |_| b.stats(PortId(1)).unwrap().connected);
    let ring = FxoReading {
        ringing: true,
        tip_ring_volts: -48,
        loop_current_ma: 0,
    };
    w.send(&Message::Line { at: 0, reading: ring }).unwrap();
    w.flush().unwrap();
    until(&mut pcm, 100, |now| fxo.read(now).unwrap() == ring);

    // Seizing the line is a HOOK toward the exchange, stamped on the board's clock.
    let before = b.clock().samples();
    fxo.set_off_hook(true).unwrap();
    let Message::Hook { at, hook } = next(&mut r, |m| matches!(m, Message::Hook { .. })) else {
        unreachable!()
    };
    assert_eq!(hook, Hook::OffHook);
    assert!(at >= before && at <= b.clock().samples(), "{at} {before}");

    // The exchange goes away: the line reads absent.
    drop((r, w));
    until(&mut pcm, 200, |now| {
        fxo.read(now).unwrap() == FxoReading::default()
    });
}
