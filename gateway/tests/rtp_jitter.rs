//! The adaptive jitter buffer in virtual time, with synthetic network traces: constant delay,
//! random jitter with loss and reordering, a delay spike, duplicates, silence suppression,
//! timestamp jumps and SSRC changes. Clocks start near 2^32 so every counter wraps.

use gateway::rtp::jitter::{JitterBuffer, JitterConfig, Playout, PushOutcome};

const FRAME: u32 = 160;
const SENDER_TS0: u32 = 0xffff_f000;
const LOCAL0: u32 = 0xffff_8000;

/// Small deterministic generator for traces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy, Debug)]
struct Pkt {
    /// Sender time in samples since the start.
    sent: u32,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    pt: u8,
    /// Network delay in samples; `None` for a lost packet.
    delay: Option<u32>,
}

/// A talk stream of `n` 20 ms packets (no silence suppression).
fn talk(n: u32) -> Vec<Pkt> {
    (0..n)
        .map(|i| Pkt {
            sent: i * FRAME,
            ssrc: 1,
            seq: (65000u32 + i) as u16,
            ts: SENDER_TS0.wrapping_add(i * FRAME),
            marker: i == 0,
            pt: 0,
            delay: Some(0),
        })
        .collect()
}

#[derive(Default, Debug)]
struct Outcome {
    played: Vec<u32>,
    lost: u32,
    silence: u32,
    stretch: u32,
    /// (sender-time seconds, current delay samples) samples of the delay over time.
    delays: Vec<(u32, u32)>,
    late_pushes: u32,
    dup_pushes: u32,
}

/// Runs the trace: packets are pushed at arrival, the playout side pulls 160 samples every 20 ms.
fn run(jb: &mut JitterBuffer, trace: &[Pkt], base_delay: u32, extra_ticks: u32) -> Outcome {
    let mut arrivals: Vec<(u32, usize)> = trace
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.delay.map(|d| (p.sent + base_delay + d, i)))
        .collect();
    arrivals.sort();
    let end = trace.iter().map(|p| p.sent).max().unwrap_or(0) + base_delay + extra_ticks * FRAME;
    let mut out = Outcome::default();
    let mut next_arrival = 0;
    let mut have: i64 = 0;
    let mut t = 0;
    while t <= end {
        // The stream ended and everything was played: stop before trailing concealment.
        if next_arrival == arrivals.len() && jb.stats().buffered == 0 && have < FRAME as i64 {
            break;
        }
        while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= t {
            let p = trace[arrivals[next_arrival].1];
            let payload = p.seq.to_be_bytes();
            match jb.push(
                LOCAL0.wrapping_add(arrivals[next_arrival].0),
                p.ssrc,
                p.seq,
                p.ts,
                p.marker,
                p.pt,
                FRAME,
                &payload,
            ) {
                PushOutcome::Late => out.late_pushes += 1,
                PushOutcome::Duplicate => out.dup_pushes += 1,
                _ => {}
            }
            next_arrival += 1;
        }
        while have < FRAME as i64 {
            let p = jb.pop(LOCAL0.wrapping_add(t));
            match p {
                Playout::Frame {
                    timestamp, payload, ..
                } => {
                    assert_eq!(payload.len(), 2);
                    out.played.push(timestamp);
                }
                Playout::Lost { .. } => out.lost += 1,
                Playout::Silence { .. } => out.silence += 1,
                Playout::Stretch { .. } => out.stretch += 1,
                Playout::Empty { .. } => {}
            }
            have += p.samples() as i64;
        }
        have -= FRAME as i64;
        if t % 8000 == 0 {
            out.delays.push((t / 8000, jb.stats().current_delay));
        }
        t += FRAME;
    }
    out
}

fn assert_in_order(played: &[u32]) {
    for w in played.windows(2) {
        assert!(
            (w[1].wrapping_sub(w[0]) as i32) > 0,
            "out of order: {:#x} then {:#x}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn constant_delay_plays_everything_and_settles_low() {
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let trace = talk(1500);
    let o = run(&mut jb, &trace, 240, 20);
    // Frames dropped to come down from the initial delay are the only ones not played.
    assert!(jb.stats().dropped <= 3);
    assert_eq!(o.played.len() as u64 + jb.stats().dropped, 1500);
    assert_in_order(&o.played);
    assert_eq!(o.lost, 0);
    assert_eq!(jb.stats().late, 0);
    let s = jb.stats();
    assert_eq!(s.target_delay, JitterConfig::default().min_delay);
    // In continuous speech the delay is trimmed frame by frame to within one frame of the target.
    let (_, last_delay) = o.delays[o.delays.len() - 3];
    assert!(
        last_delay < s.target_delay + FRAME,
        "{last_delay} vs target {}",
        s.target_delay
    );
}

#[test]
fn random_jitter_with_loss_and_reordering() {
    let mut rng = Rng(0x5eed);
    let mut trace = talk(3000);
    let mut dropped = 0;
    for p in trace.iter_mut() {
        // Up to 80 ms of uniform jitter; 5% loss.
        p.delay = Some(rng.below(640));
        if rng.below(100) < 5 {
            p.delay = None;
            dropped += 1;
        }
    }
    // Reorder: every 50th packet swaps its delay with the next one plus 30 ms.
    for i in (0..trace.len() - 1).step_by(50) {
        if let (Some(a), Some(_)) = (trace[i].delay, trace[i + 1].delay) {
            trace[i].delay = Some(a + 240);
        }
    }
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let o = run(&mut jb, &trace, 400, 50);
    let s = jb.stats();
    assert_in_order(&o.played);
    // Every packet is either played, lost in the network or late; the decoder concealed all gaps.
    assert_eq!(
        o.played.len() as u32 + dropped + o.late_pushes + s.dropped as u32,
        3000
    );
    assert_eq!(o.lost, dropped + o.late_pushes);
    // The target follows the jitter (80 ms peak): between 70 and 120 ms.
    assert!((560..=960).contains(&s.target_delay), "target {}", s.target_delay);
    // Few late packets once adapted (< 1% of the stream).
    assert!(o.late_pushes < 30, "late {}", o.late_pushes);
}

#[test]
fn delay_spike_grows_fast_and_shrinks_in_silence() {
    // Talk spurts of 2 s separated by 400 ms of silence (no packets, marker on the first packet
    // of a spurt, contiguous sequence numbers): a typical VAD/DTX stream.
    let mut trace = Vec::new();
    let mut seq: u16 = 100;
    let mut sent = 0u32;
    for spurt in 0..40 {
        for k in 0..100 {
            trace.push(Pkt {
                sent,
                ssrc: 7,
                seq,
                ts: SENDER_TS0.wrapping_add(sent),
                marker: k == 0,
                pt: 0,
                delay: Some(0),
            });
            // A 200 ms spike in spurt 5: delay ramps up and drains (packets bunch up).
            if spurt == 5 && (20..45).contains(&k) {
                trace.last_mut().unwrap().delay = Some(1600 - (k - 20) * 64);
            }
            seq = seq.wrapping_add(1);
            sent += FRAME;
        }
        sent += 20 * FRAME;
    }
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let o = run(&mut jb, &trace, 200, 50);
    assert_in_order(&o.played);
    // The spike costs a few packets at most before the target covers it.
    assert!(o.late_pushes <= 12, "late {}", o.late_pushes);
    let spike_start = 5 * 2400 * FRAME / 8000 / 20;
    let peak = o
        .delays
        .iter()
        .filter(|(t, _)| *t >= spike_start)
        .map(|d| d.1)
        .max()
        .unwrap();
    assert!(peak >= 1200, "delay never grew: {:?}", o.delays);
    // Silence gaps are not counted as loss (the frames concealed at the end of each spurt, before
    // the next one showed the sequence was contiguous, are taken back).
    assert_eq!(jb.stats().lost, o.late_pushes as u64);
    assert!(o.silence > 0);
    // 80 s later the delay came back down close to the minimum (shrunk in the gaps).
    let (_, end_delay) = *o.delays.last().unwrap();
    assert!(end_delay <= 480, "delay stayed at {end_delay}: {:?}", o.delays);
    assert!(jb.stats().shrunk_samples > 0);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let base = talk(200);
    let mut trace = Vec::new();
    for p in base {
        trace.push(p);
        trace.push(Pkt {
            delay: Some(100),
            ..p
        });
    }
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let o = run(&mut jb, &trace, 200, 20);
    assert_eq!(o.played.len() as u64 + jb.stats().dropped, 200);
    assert_eq!(o.dup_pushes, 200);
    assert_eq!(jb.stats().duplicates, 200);
    assert_eq!(o.lost, 0);
}

#[test]
fn ssrc_change_and_timestamp_jump_restart_the_timeline() {
    let mut trace = talk(100);
    // A transfer: a new source with unrelated sequence and timestamps.
    for i in 0..100u32 {
        trace.push(Pkt {
            sent: (100 + i) * FRAME,
            ssrc: 2,
            seq: 7 + i as u16,
            ts: 123_456 + i * FRAME,
            marker: i == 0,
            pt: 8,
            delay: Some(0),
        });
    }
    // Same source, timestamps jump by a minute (sender restarted its clock).
    for i in 0..100u32 {
        trace.push(Pkt {
            sent: (200 + i) * FRAME,
            ssrc: 2,
            seq: 107 + i as u16,
            ts: 123_456 + 60 * 8000 + i * FRAME,
            marker: false,
            pt: 8,
            delay: Some(0),
        });
    }
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let o = run(&mut jb, &trace, 200, 30);
    assert_eq!(jb.stats().restarts, 2);
    // Each restart rebuffers the initial delay: a few frames of the new stream are skipped at most.
    assert!(o.played.len() >= 290, "played {}", o.played.len());
    assert!(jb.stats().late <= 10);
}

#[test]
fn event_packets_sharing_sequence_numbers_are_not_loss() {
    let mut trace = talk(300);
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    // Packets 100..110 carried RFC 4733 events instead of audio: the media loop tells the buffer.
    for p in &trace[100..110] {
        jb.note_foreign_seq(p.seq);
    }
    for p in trace[100..110].iter_mut() {
        p.delay = None;
    }
    let o = run(&mut jb, &trace, 200, 20);
    assert_eq!(o.played.len() as u64 + jb.stats().dropped, 290);
    assert_eq!(o.lost, 0);
    assert!(o.silence >= 10);
}

#[test]
fn overflow_and_oversized_payloads_are_bounded() {
    let mut jb: JitterBuffer<8, 160> = JitterBuffer::new(JitterConfig::default());
    for i in 0..20u16 {
        let r = jb.push(
            i as u32 * FRAME,
            1,
            i,
            i as u32 * FRAME,
            false,
            0,
            FRAME,
            &[0; 160],
        );
        assert_eq!(
            r,
            if i < 8 {
                PushOutcome::Buffered
            } else {
                PushOutcome::Overflow
            }
        );
    }
    assert_eq!(jb.stats().overflow, 12);
    assert_eq!(jb.stats().buffered, 8);
    assert_eq!(
        jb.push(0, 1, 99, 99 * FRAME, false, 0, FRAME, &[0; 161]),
        PushOutcome::TooLarge
    );
}

#[test]
fn comfort_noise_starts_silence() {
    let mut trace = talk(50);
    // Packet 20 is CN, then nothing until a new talk spurt at packet 40 (contiguous sequence).
    trace[20].pt = 13;
    let mut t: Vec<Pkt> = trace[..21].to_vec();
    for (k, p) in trace[21..].iter().enumerate() {
        let mut resumed = *p;
        resumed.sent = (40 + k as u32) * FRAME;
        resumed.ts = SENDER_TS0.wrapping_add(resumed.sent);
        resumed.marker = k == 0;
        t.push(resumed);
    }
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let o = run(&mut jb, &t, 200, 20);
    assert_eq!(o.lost, 0);
    assert!(o.silence >= 15, "silence {}", o.silence);
    assert_eq!(o.played.len() as u64 + jb.stats().dropped, 50);
}

#[test]
fn clock_going_back_after_hold_restarts_instead_of_dropping() {
    let mut trace = talk(100);
    // Resumed after 3 s of hold, but the sender's timestamps continue where they stopped.
    for i in 0..100u32 {
        trace.push(Pkt {
            sent: (100 + 150 + i) * FRAME,
            ssrc: 1,
            seq: (65100u32 + i) as u16,
            ts: SENDER_TS0.wrapping_add((100 + i) * FRAME),
            marker: i == 0,
            pt: 0,
            delay: Some(0),
        });
    }
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let o = run(&mut jb, &trace, 200, 20);
    assert_eq!(jb.stats().restarts, 1);
    assert!(jb.stats().late <= 1, "late {}", jb.stats().late);
    assert!(o.played.len() >= 195, "played {}", o.played.len());
}

/// Average delay of played frames (samples) over the second half of a run.
fn mean_delay_second_half(o: &Outcome) -> f64 {
    let half = &o.delays[o.delays.len() / 2..];
    half.iter().map(|d| d.1 as f64).sum::<f64>() / half.len().max(1) as f64
}

#[test]
fn adaptive_beats_a_fixed_60ms_buffer_on_both_clean_and_jittery_paths() {
    let fixed = JitterConfig {
        min_delay: 480,
        max_delay: 480,
        initial_delay: 480,
        ..JitterConfig::default()
    };
    // Clean path: adaptive settles at one packet time, the fixed buffer keeps 60 ms.
    let trace = talk(3000);
    let mut a: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let mut f: JitterBuffer = JitterBuffer::new(fixed);
    let (oa, of) = (run(&mut a, &trace, 240, 20), run(&mut f, &trace, 240, 20));
    assert!(
        mean_delay_second_half(&oa) + 200.0 < mean_delay_second_half(&of),
        "{} vs {}",
        mean_delay_second_half(&oa),
        mean_delay_second_half(&of)
    );
    // Jittery path (0-120 ms): the fixed buffer loses far more packets to lateness.
    let mut rng = Rng(77);
    let mut trace = talk(3000);
    for p in trace.iter_mut() {
        p.delay = Some(rng.below(960));
    }
    let mut a: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let mut f: JitterBuffer = JitterBuffer::new(fixed);
    let (oa, of) = (run(&mut a, &trace, 240, 40), run(&mut f, &trace, 240, 40));
    assert!(
        oa.late_pushes * 10 < of.late_pushes,
        "adaptive {} late vs fixed {}",
        oa.late_pushes,
        of.late_pushes
    );
}

/// Quality figures for scripts/bench.d/media-proto.sh (ignored in normal runs).
#[test]
#[ignore]
fn jitter_quality_report() {
    let fixed = JitterConfig {
        min_delay: 480,
        max_delay: 480,
        initial_delay: 480,
        ..JitterConfig::default()
    };
    let mut rows = Vec::new();
    for (name, max_jitter, loss) in [
        ("clean", 0u32, 0u32),
        ("0-40 ms jitter", 320, 0),
        ("0-120 ms jitter, 5% loss", 960, 5),
    ] {
        let mut rng = Rng(1234);
        let mut trace = talk(15_000);
        for p in trace.iter_mut() {
            p.delay = if rng.below(100) < loss {
                None
            } else {
                Some(rng.below(max_jitter.max(1)))
            };
        }
        let mut a: JitterBuffer = JitterBuffer::new(JitterConfig::default());
        let mut f: JitterBuffer = JitterBuffer::new(fixed);
        let (oa, of) = (run(&mut a, &trace, 240, 60), run(&mut f, &trace, 240, 60));
        let pct = |o: &Outcome| 100.0 * o.late_pushes as f64 / trace.len() as f64;
        rows.push(format!(
            "| {name} | {:.1} ms, {:.2}% late | {:.1} ms, {:.2}% late |",
            mean_delay_second_half(&oa) / 8.0,
            pct(&oa),
            mean_delay_second_half(&of) / 8.0,
            pct(&of)
        ));
    }
    println!(
        "\n| 5-minute trace | adaptive buffer: delay, late | reference fixed 60 ms buffer: delay, late |"
    );
    println!("|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Op {
        delay: u32,
        lost: bool,
        dup: bool,
        gap_before: u32,
        ssrc_change: bool,
        jump: bool,
    }

    fn op() -> impl Strategy<Value = Op> {
        (
            0u32..2400,
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.03),
            prop::sample::select(vec![0u32, 0, 0, 0, 5, 30]),
            prop::bool::weighted(0.005),
            prop::bool::weighted(0.005),
        )
            .prop_map(|(delay, lost, dup, gap_before, ssrc_change, jump)| Op {
                delay,
                lost,
                dup,
                gap_before,
                ssrc_change,
                jump,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever the network does: no panic, each packet played at most once, playout in
        /// timestamp order within a source, and the accounting adds up.
        #[test]
        fn arbitrary_traces_keep_invariants(ops in prop::collection::vec(op(), 1..600)) {
            let mut trace = Vec::new();
            let (mut sent, mut seq, mut ts, mut ssrc) = (0u32, 1000u16, SENDER_TS0, 1u32);
            for o in &ops {
                if o.ssrc_change { ssrc += 1; seq = seq.wrapping_add(5000); }
                if o.jump { ts = ts.wrapping_add(100_000); }
                sent += o.gap_before * FRAME;
                ts = ts.wrapping_add(o.gap_before * FRAME);
                let p = Pkt { sent, ssrc, seq, ts, marker: o.gap_before > 0, pt: 0, delay: (!o.lost).then_some(o.delay) };
                trace.push(p);
                if o.dup { trace.push(Pkt { delay: Some(o.delay + 100), ..p }); }
                sent += FRAME;
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(FRAME);
            }
            let mut jb: JitterBuffer<16, 4> = JitterBuffer::new(JitterConfig::default());
            let o = run_small(&mut jb, &trace);
            let mut seen = std::collections::HashSet::new();
            for (s, t) in &o {
                prop_assert!(seen.insert((*s, *t)), "played twice: {:?}", (s, t));
            }
            for w in o.windows(2) {
                if w[0].0 == w[1].0 {
                    let d = w[1].1.wrapping_sub(w[0].1) as i32;
                    prop_assert!(d > 0 || d.unsigned_abs() > 50_000, "order {:?}", w);
                }
            }
            let st = jb.stats();
            prop_assert!(st.played as usize == o.len());
            prop_assert!(st.target_delay >= JitterConfig::default().min_delay && st.target_delay <= JitterConfig::default().max_delay);
        }
    }

    /// Like `run`, recording (ssrc, timestamp) of played frames; payload carries the SSRC.
    fn run_small(jb: &mut JitterBuffer<16, 4>, trace: &[Pkt]) -> Vec<(u32, u32)> {
        let mut arrivals: Vec<(u32, usize)> = trace
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.delay.map(|d| (p.sent + 200 + d, i)))
            .collect();
        arrivals.sort();
        let end = arrivals.last().map_or(0, |a| a.0) + 4000;
        let mut played = Vec::new();
        let (mut next, mut have, mut t) = (0, 0i64, 0u32);
        while t <= end {
            while next < arrivals.len() && arrivals[next].0 <= t {
                let p = trace[arrivals[next].1];
                jb.push(
                    LOCAL0.wrapping_add(arrivals[next].0),
                    p.ssrc,
                    p.seq,
                    p.ts,
                    p.marker,
                    p.pt,
                    FRAME,
                    &p.ssrc.to_be_bytes(),
                );
                next += 1;
            }
            while have < FRAME as i64 {
                let p = jb.pop(LOCAL0.wrapping_add(t));
                if let Playout::Frame {
                    timestamp, payload, ..
                } = p
                {
                    played.push((u32::from_be_bytes(payload.try_into().unwrap()), timestamp));
                }
                have += p.samples() as i64;
            }
            have -= FRAME as i64;
            t += FRAME;
        }
        played
    }
}

#[test]
fn sequence_restart_with_same_ssrc_is_followed() {
    let mut trace = talk(100);
    // The sender restarts its sequence numbers (backwards), same SSRC and timestamp clock.
    for i in 0..100u32 {
        trace.push(Pkt {
            sent: (100 + i) * FRAME,
            ssrc: 1,
            seq: 50_000 + i as u16,
            ts: SENDER_TS0.wrapping_add((100 + i) * FRAME),
            marker: i == 0,
            pt: 0,
            delay: Some(0),
        });
    }
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let o = run(&mut jb, &trace, 200, 20);
    assert!(jb.stats().restarts >= 1);
    assert!(o.played.len() >= 190, "played {}", o.played.len());
}

#[test]
fn next_frame_shows_the_packet_after_a_loss() {
    let mut jb: JitterBuffer = JitterBuffer::new(JitterConfig::default());
    let trace = talk(10);
    // Everything arrives at once, except packet 4 which is lost.
    for p in trace.iter().filter(|p| p.seq != (65000u32 + 4) as u16) {
        jb.push(
            LOCAL0,
            p.ssrc,
            p.seq,
            p.ts,
            p.marker,
            p.pt,
            FRAME,
            &p.seq.to_be_bytes(),
        );
    }
    assert_eq!(jb.next_frame(), None, "nothing is playing yet");
    let mut t = 0;
    let mut seen_loss = false;
    let mut expect_next: Option<Vec<u8>> = None;
    while t < 40 * FRAME {
        let p = jb.pop(LOCAL0.wrapping_add(t));
        match p {
            Playout::Lost { samples } if !seen_loss => {
                assert_eq!(samples, FRAME);
                seen_loss = true;
                let (pt, next) = jb.next_frame().expect("packet 5 is buffered");
                assert_eq!(pt, 0);
                assert_eq!(next, ((65000u32 + 5) as u16).to_be_bytes());
                expect_next = Some(next.to_vec());
            }
            Playout::Frame { payload, .. } => {
                if let Some(e) = expect_next.take() {
                    assert_eq!(payload, &e[..], "the frame shown is the one played next");
                }
            }
            _ => {}
        }
        t += FRAME;
    }
    assert!(seen_loss);
    // After the last packet (concealed, then silence) there is nothing to show.
    assert_eq!(jb.next_frame(), None);
}
