//! The per-frame calls of the signalling DSP (DTMF, tones, call progress, caller ID) allocate
//! nothing: counted with a global allocator, per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use codecs::callerid::{CallerId, CidDecoder, CidEncoder, CidFormat, CidStandard};
use codecs::dtmf::{DtmfDetector, DtmfGenerator};
use codecs::tones::{CallProgressDetector, ToneGenerator, ToneKind, TonePlan};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

#[test]
fn frame_calls_do_not_allocate() {
    let plan = TonePlan::for_country("GB").unwrap();
    let mut dtmf_tx = DtmfGenerator::new();
    let mut dtmf_rx = DtmfDetector::new();
    let mut tone = ToneGenerator::new(plan.tone(ToneKind::Busy).unwrap());
    let mut cpd = CallProgressDetector::new(plan);
    let msg = CallerId::new("01632960123", "ACME").unwrap();
    let mut cid_tx = CidEncoder::new(&msg, CidStandard::V23, CidFormat::Mdmf).unwrap();
    let mut cid_rx = CidDecoder::new(CidStandard::V23);
    let mut clip_rx = CidDecoder::new(CidStandard::Dtmf);
    dtmf_tx.push_str("0123456789*#ABCD").unwrap();
    let mut frame = [0i16; 80];
    let before = allocs();
    let mut events = 0;
    for _ in 0..1000 {
        dtmf_tx.fill(&mut frame);
        dtmf_rx.process(&frame);
        clip_rx.process(&frame);
        while dtmf_rx.poll().is_some() {
            events += 1;
        }
        tone.fill(&mut frame);
        cpd.process(&frame);
        while cpd.poll().is_some() {
            events += 1;
        }
        cid_tx.fill(&mut frame);
        cid_rx.process(&frame);
        while cid_rx.poll().is_some() {
            events += 1;
        }
        while clip_rx.poll().is_some() {}
    }
    assert_eq!(allocs() - before, 0, "allocations in per-frame calls");
    // 16 digits (start and end), one call progress tone, one caller ID message.
    assert!(events >= 34, "the calls did work: {events} events");
}
