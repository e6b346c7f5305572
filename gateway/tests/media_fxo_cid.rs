//! Caller ID received on an FXO line by the media loop: Bell 202 FSK, V.23 FSK and DTMF caller
//! ID played into an on-hook FXO port are each reported once as `AudioEventKind::CallerId`,
//! nothing is decoded while the line is seized, and the receivers allocate nothing per tick
//! (a counting global allocator watches the loop's thread).

mod media_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use codecs::callerid::{Absence, CallerId, CidEncoder, CidFormat, CidStandard, DtmfClipStyle};
use gateway::media::{AudioEventKind, MediaCommand, MediaConfig, MediaEngine, MediaEvent, PortLines};
use hal::fxo::{FxoLine, FxoReading};
use hal::pcm::FRAME_SAMPLES;
use hal::{Instant, LineError};
use media_support::*;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(|c| c.get()).unwrap_or(false)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// An idle PSTN line (battery present, no ringing): the loop only listens.
struct IdleLine;

impl FxoLine for IdleLine {
    fn set_off_hook(&mut self, _off_hook: bool) -> Result<(), LineError> {
        Ok(())
    }
    fn read(&mut self, _now: Instant) -> Result<FxoReading, LineError> {
        Ok(FxoReading {
            ringing: false,
            tip_ring_volts: 48,
            loop_current_ma: 0,
        })
    }
}

fn render(mut enc: CidEncoder) -> Vec<i16> {
    let mut out = Vec::new();
    let mut buf = [0i16; 160];
    while !enc.is_done() {
        let n = enc.fill(&mut buf);
        out.extend_from_slice(&buf[..n.min(buf.len())]);
        if n == 0 {
            break;
        }
    }
    out
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 8]
}

#[test]
fn fsk_and_dtmf_caller_id_reported_once_each_without_allocation() {
    let alice = CallerId::new("5551234", "ALICE").unwrap();
    let bob = CallerId::new("0123456789", "BOB").unwrap();
    let withheld = CallerId {
        number_absence: Some(Absence::Private),
        ..CallerId::default()
    };
    let dtmf = CallerId::new("4420", "").unwrap();
    let mut line = silence(500);
    line.extend(render(
        CidEncoder::new(&alice, CidStandard::Bell202, CidFormat::Mdmf).unwrap(),
    ));
    line.extend(silence(2000));
    line.extend(render(
        CidEncoder::new(&bob, CidStandard::V23, CidFormat::Mdmf).unwrap(),
    ));
    line.extend(silence(2000));
    line.extend(render(
        CidEncoder::new(&withheld, CidStandard::Bell202, CidFormat::Mdmf).unwrap(),
    ));
    line.extend(silence(2000));
    line.extend(render(
        CidEncoder::new_dtmf(&dtmf, DtmfClipStyle::CTerminated).unwrap(),
    ));
    line.extend(silence(2000));
    let first_pass = line.len() / FRAME_SAMPLES;
    // The same audio again while the line is seized: a call's audio is not caller ID.
    let again = line.clone();
    line.extend(again);

    let tap = PcmTap::new(vec![line.clone()], 16, 0.0);
    let ports = vec![PortLines::Fxo {
        id: 0,
        pcm_channel: 0,
        line: Box::new(IdleLine),
    }];
    let cfg = MediaConfig {
        rt_priority: 0,
        lock_memory: false,
        ..MediaConfig::default()
    };
    let (mut engine, mut handle) = MediaEngine::with_config(Box::new(VirtualPcm::new(tap)), ports, cfg);
    let mut decoded: Vec<(usize, CallerId)> = Vec::new();
    let total = line.len() / FRAME_SAMPLES;
    for tick in 0..total {
        if tick == first_pass {
            handle
                .send(MediaCommand::SetOffHook {
                    port: 0,
                    off_hook: true,
                })
                .unwrap();
        }
        COUNTING.with(|c| c.set(tick >= 50));
        engine.tick().unwrap();
        COUNTING.with(|c| c.set(false));
        while let Some(ev) = handle.poll_event() {
            if let MediaEvent::Audio(a) = ev
                && let AudioEventKind::CallerId(c) = a.kind
            {
                decoded.push((tick, c));
            }
        }
    }
    let messages: Vec<CallerId> = decoded.iter().map(|d| d.1).collect();
    assert_eq!(messages, vec![alice, bob, withheld, dtmf], "{decoded:?}");
    assert!(
        decoded.iter().all(|d| d.0 < first_pass),
        "nothing decoded off hook: {decoded:?}"
    );
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations or frees on the loop's thread"
    );
}
