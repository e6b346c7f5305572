//! A phone implemented independently from `docs/sim-protocol.md` (Python, no shared code)
//! attaches to a sim board FXS port: the handshake, audio both ways and sample-stamped hook
//! transitions work as documented.

use std::process::{Command, Stdio};

use hal::Instant;
use hal::board::{PortId, PortKind};
use hal::fxs::{FxsEventKind, HookDetector, HookTiming};
use hal::pcm::{FRAME_SAMPLES, PcmBus, SILENCE};
use hal::sim::{SimBoard, SimBoardConfig, SimPortConfig};

fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some("python3");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python3 is required (scripts/deps.d/test.apt)"
    );
    eprintln!("python3 not installed: skipping the independent peer test");
    None
}

#[test]
fn python_phone_speaks_the_documented_protocol() {
    let Some(py) = python() else { return };
    let mut board = SimBoard::start(SimBoardConfig::new(vec![SimPortConfig {
        kind: PortKind::Fxs,
        tcp_port: 0,
    }]))
    .unwrap();
    let addr = board.local_addr(PortId(0)).unwrap();
    let mut pcm = board.take_pcm().unwrap();
    let mut line = board.take_fxs(PortId(0)).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/phone.py");
    let child = Command::new(py)
        .arg(script)
        .arg(addr.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let mut det = HookDetector::new(HookTiming::default()).unwrap();
    let mut events = Vec::new();
    let mut echoed = 0;
    let mut rx = [SILENCE; 1];
    for n in 0..600u32 {
        // Each frame carries its tick number: the loopback phone must return them in order.
        let tx = [[(n % 30000) as i16; FRAME_SAMPLES]];
        let r = pcm.exchange(&tx, &mut rx).unwrap();
        if rx[0][0] != 0 && rx[0].iter().all(|&s| s == rx[0][0]) {
            echoed += 1;
        }
        let now = Instant::from_samples(r.tick * FRAME_SAMPLES as u64);
        let upto = det.track(&mut line, now).unwrap();
        while let Some(e) = det.poll(upto) {
            events.push(e);
        }
        if n > 50 && !board.stats(PortId(0)).unwrap().connected {
            break;
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<u64> = text.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let (off_at, on_at) = (Instant::from_samples(v[0]), Instant::from_samples(v[1]));
    assert_eq!(v[2], 300);

    assert_eq!(events[0].kind, FxsEventKind::OffHook);
    assert_eq!(events[0].at, off_at, "off-hook keeps the phone's sample stamp");
    // The on-hook outlasts the flash window: classified as a hang-up from its stamp.
    let last = events.last().unwrap();
    assert_eq!((last.kind, last.at), (FxsEventKind::OnHook, on_at), "{events:?}");
    assert!(echoed >= 250, "{echoed} frames came back");
    let s = board.stats(PortId(0)).unwrap();
    assert_eq!((s.connections, s.protocol_errors), (1, 0), "{s:?}");
}
