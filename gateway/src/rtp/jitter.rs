//! Adaptive jitter buffer with fixed capacity.
//!
//! Time is measured in samples of the codec clock on both sides: packets carry their RTP
//! timestamp, and the caller passes its local sample clock (driven by the board's PCM clock) on
//! every `push` and `pop`. Nothing allocates after construction.
//!
//! Delay model: the *relative transit* of a packet is `arrival - timestamp` minus the smallest
//! transit seen over a sliding window (about 4 s), i.e. how much later than the fastest packet it
//! came. A peak estimator of that value follows spikes at once and decays slowly; the target
//! delay is that estimate plus a margin, clamped to the configured bounds. The current delay is
//! how far playout lags behind the fastest path. When the current delay is short of the target
//! the buffer *stretches* (asks the caller for a concealment frame without consuming audio); when
//! it exceeds the target it *shrinks*, preferably in silence (a gap before a talk spurt marked by
//! the marker bit, contiguous sequence numbers across a gap, or comfort noise), otherwise by
//! dropping one frame at a bounded rate.
//!
//! Loss is told apart from silence by sequence numbers: a gap in timestamps with contiguous
//! sequence numbers (or a marker bit) is the sender being silent; a gap with missing sequence
//! numbers is loss, reported as [`Playout::Lost`] so the decoder runs its concealment.

use super::packet::seq_newer;

/// Jitter buffer parameters, in samples of the codec clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Samples per nominal frame (packet time), used for concealment and silence steps.
    pub frame_samples: u32,
    /// Bounds of the target delay.
    pub min_delay: u32,
    pub max_delay: u32,
    /// Target before any jitter was measured.
    pub initial_delay: u32,
    /// Added to the jitter estimate to form the target (covers the caller's tick granularity).
    pub margin: u32,
    /// Consecutive missing frames after which the stream counts as paused (silence, no more loss).
    pub max_concealed_frames: u32,
    /// Comfort-noise payload type: its packets start silence.
    pub cn_payload_type: Option<u8>,
    /// During continuous speech, at most one frame is dropped to shrink per this many pops.
    pub talk_shrink_interval: u32,
    /// The estimator moves down by 1/2^decay_shift of the distance per packet.
    pub decay_shift: u32,
    /// A timestamp further than this from the playout point restarts the timeline.
    pub max_jump: u32,
    /// Window over which the fastest transit is tracked (total over 8 buckets).
    pub base_window: u32,
}

impl JitterConfig {
    /// Defaults for an 8 kHz stream with `ptime_ms` packets.
    pub fn for_8khz(ptime_ms: u32) -> Self {
        let frame = 8 * ptime_ms.max(5);
        JitterConfig {
            frame_samples: frame,
            min_delay: frame,
            max_delay: 8 * 400,
            initial_delay: 8 * 60,
            margin: 8 * 10,
            max_concealed_frames: 200 / ptime_ms.max(5),
            cn_payload_type: Some(13),
            talk_shrink_interval: 25,
            decay_shift: 7,
            max_jump: 8000 + 8 * 400,
            base_window: 8000 * 4,
        }
    }
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self::for_8khz(20)
    }
}

/// What `push` did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Buffered,
    /// Buffered after flushing: new SSRC or a timestamp jump restarted the timeline.
    Restarted,
    /// Buffered after dropping the oldest packet (buffer full).
    Overflow,
    /// Already buffered or already played.
    Duplicate,
    /// Arrived after its playout time (it was concealed).
    Late,
    /// Payload larger than a slot.
    TooLarge,
}

/// What the caller plays next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// Decode this packet.
    Frame {
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        samples: u32,
        payload: &'a [u8],
    },
    /// The packet for these samples is lost: run packet loss concealment.
    Lost { samples: u32 },
    /// The buffer grows its delay: conceal (or continue comfort noise) without consuming audio.
    Stretch { samples: u32 },
    /// The sender is silent: play comfort noise or silence.
    Silence { samples: u32 },
    /// Nothing to play yet (buffering before the first frame of a stream).
    Empty { samples: u32 },
}

impl Playout<'_> {
    pub fn samples(&self) -> u32 {
        match *self {
            Playout::Frame { samples, .. }
            | Playout::Lost { samples }
            | Playout::Stretch { samples }
            | Playout::Silence { samples }
            | Playout::Empty { samples } => samples,
        }
    }
}

/// Counters and the current state of adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    pub received: u64,
    pub played: u64,
    /// Frames concealed because their packet never came in time.
    pub lost: u64,
    /// Packets that arrived after their playout time.
    pub late: u64,
    pub duplicates: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
    /// Timeline restarts (SSRC change, timestamp jump).
    pub restarts: u64,
    /// Samples inserted to grow the delay.
    pub stretched_samples: u64,
    /// Samples removed to shrink the delay (silence skipped or frames dropped).
    pub shrunk_samples: u64,
    /// Audio frames dropped to shrink the delay during speech.
    pub dropped: u64,
    /// Frames played from a redundant copy (RFC 2198) because their own packet was missing.
    pub recovered: u64,
    /// Delay of the playout point behind the fastest path, at the last pop (samples).
    pub current_delay: u32,
    /// Current target delay (samples).
    pub target_delay: u32,
    /// Peak relative transit estimate (samples).
    pub jitter_estimate: u32,
    /// Packets currently held.
    pub buffered: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot<const P: usize> {
    used: bool,
    /// Filled from a redundant copy; the packet itself has not arrived.
    recovered: bool,
    marker: bool,
    payload_type: u8,
    seq: u16,
    len: u16,
    timestamp: u32,
    samples: u32,
    data: [u8; P],
}

impl<const P: usize> Slot<P> {
    const EMPTY: Self = Slot {
        used: false,
        recovered: false,
        marker: false,
        payload_type: 0,
        seq: 0,
        len: 0,
        timestamp: 0,
        samples: 0,
        data: [0; P],
    };
}

const BUCKETS: usize = 8;

/// The adaptive jitter buffer: `N` packet slots of up to `P` payload bytes each.
#[derive(Debug, Clone)]
pub struct JitterBuffer<const N: usize = 32, const P: usize = 480> {
    cfg: JitterConfig,
    slots: [Slot<P>; N],
    ssrc: Option<u32>,
    prev_ssrc: Option<u32>,
    started: bool,
    play_ts: u32,
    last_seq: Option<u16>,
    /// Bit i set: sequence `last_seq - i` was played.
    played_mask: u64,
    /// Sequence numbers used by packets that do not enter the buffer (telephone-events):
    /// the newest one and a mask of the 64 before it.
    foreign_top: Option<u16>,
    foreign_mask: u64,
    in_silence: bool,
    last_samples: u32,
    consecutive_missing: u32,
    consecutive_late: u32,
    pops_since_shrink: u32,
    // Delay estimation.
    transit_ref: Option<u32>,
    buckets: [i32; BUCKETS],
    bucket_start: u32,
    /// Peak relative transit estimate, in 1/256 sample.
    est_q8: u32,
    stats: JitterStats,
}

impl<const N: usize, const P: usize> JitterBuffer<N, P> {
    pub fn new(cfg: JitterConfig) -> Self {
        let mut jb = JitterBuffer {
            cfg,
            slots: [Slot::EMPTY; N],
            ssrc: None,
            prev_ssrc: None,
            started: false,
            play_ts: 0,
            last_seq: None,
            played_mask: 0,
            foreign_top: None,
            foreign_mask: 0,
            in_silence: false,
            last_samples: cfg.frame_samples,
            consecutive_missing: 0,
            consecutive_late: 0,
            pops_since_shrink: 0,
            transit_ref: None,
            buckets: [i32::MAX; BUCKETS],
            bucket_start: 0,
            est_q8: cfg.initial_delay.saturating_sub(cfg.margin) << 8,
            stats: JitterStats::default(),
        };
        jb.stats.target_delay = jb.target();
        jb
    }

    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        s.target_delay = self.target();
        s.jitter_estimate = self.est_q8 >> 8;
        s.buffered = self.slots.iter().filter(|s| s.used).count() as u32;
        s
    }

    fn target(&self) -> u32 {
        ((self.est_q8 >> 8) + self.cfg.margin)
            .clamp(self.cfg.min_delay, self.cfg.max_delay.max(self.cfg.min_delay))
    }

    /// Flushes packets and the timeline; the delay estimate is kept (same network path).
    pub fn reset(&mut self) {
        self.restart_timeline();
        self.last_seq = None;
        self.played_mask = 0;
        self.foreign_top = None;
        self.foreign_mask = 0;
    }

    /// Flushes packets and the timing reference but keeps the sequence history of the source,
    /// so that stragglers from before a timestamp jump are recognised as late.
    fn restart_timeline(&mut self) {
        for s in self.slots.iter_mut() {
            s.used = false;
        }
        self.started = false;
        self.in_silence = false;
        self.consecutive_missing = 0;
        self.consecutive_late = 0;
        self.transit_ref = None;
        self.buckets = [i32::MAX; BUCKETS];
    }

    /// Records that sequence number `seq` was used by a packet handled elsewhere (RFC 4733
    /// events), so the gap it leaves is not taken for loss.
    pub fn note_foreign_seq(&mut self, seq: u16) {
        match self.foreign_top {
            Some(top) if seq_newer(seq, top) => {
                let shift = seq.wrapping_sub(top) as u32;
                self.foreign_mask = if shift >= 64 {
                    0
                } else {
                    self.foreign_mask << shift
                } | 1;
                self.foreign_top = Some(seq);
            }
            Some(top) => {
                let back = top.wrapping_sub(seq) as u32;
                if back < 64 {
                    self.foreign_mask |= 1u64 << back;
                }
            }
            None => {
                self.foreign_top = Some(seq);
                self.foreign_mask = 1;
            }
        }
    }

    fn is_foreign(&self, seq: u16) -> bool {
        self.foreign_top.is_some_and(|top| {
            let back = top.wrapping_sub(seq) as u32;
            back < 64 && self.foreign_mask & (1u64 << back) != 0
        })
    }

    fn base(&self) -> i32 {
        self.buckets.iter().copied().min().unwrap_or(0)
    }

    fn observe_transit(&mut self, arrival: u32, timestamp: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        let tref = *self.transit_ref.get_or_insert(transit);
        let rel = transit.wrapping_sub(tref) as i32;
        let bucket_len = (self.cfg.base_window / BUCKETS as u32).max(1);
        let elapsed = arrival.wrapping_sub(self.bucket_start);
        if self.buckets[0] == i32::MAX && self.buckets.iter().all(|&b| b == i32::MAX) {
            self.bucket_start = arrival;
        } else if elapsed >= bucket_len {
            let shifts = (elapsed / bucket_len).min(BUCKETS as u32) as usize;
            self.buckets.copy_within(0..BUCKETS - shifts, shifts);
            self.buckets[..shifts].fill(i32::MAX);
            self.bucket_start = arrival;
        }
        self.buckets[0] = self.buckets[0].min(rel);
        let relative = ((rel - self.base()).max(0) as u32).min(1 << 22) << 8;
        if relative > self.est_q8 {
            self.est_q8 = relative;
        } else {
            self.est_q8 -= (self.est_q8 - relative) >> self.cfg.decay_shift;
        }
    }

    /// Delay of playout point `play_ts` at local time `now` behind the fastest path.
    fn delay_at(&self, now: u32, play_ts: u32) -> i32 {
        let Some(tref) = self.transit_ref else { return 0 };
        let offset = now.wrapping_sub(play_ts).wrapping_sub(tref) as i32;
        offset.saturating_sub(self.base())
    }

    fn was_played(&self, seq: u16) -> bool {
        match self.last_seq {
            Some(last) => {
                let back = last.wrapping_sub(seq) as u32;
                back < 64 && self.played_mask & (1u64 << back) != 0
            }
            None => false,
        }
    }

    fn mark_played(&mut self, seq: u16, played: bool) {
        match self.last_seq {
            Some(last) if seq_newer(seq, last) => {
                let shift = seq.wrapping_sub(last) as u32;
                self.played_mask = if shift >= 64 { 0 } else { self.played_mask << shift };
            }
            Some(_) => {
                // Older or same sequence: only set its bit.
                let back = self.last_seq.unwrap_or(seq).wrapping_sub(seq) as u32;
                if played && back < 64 {
                    self.played_mask |= 1u64 << back;
                }
                return;
            }
            None => self.played_mask = 0,
        }
        self.last_seq = Some(seq);
        if played {
            self.played_mask |= 1;
        }
    }

    /// Offers a received packet. `arrival` is the local sample clock, `samples` the audio
    /// duration of the payload (from the codec).
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        arrival: u32,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload_type: u8,
        samples: u32,
        payload: &[u8],
    ) -> PushOutcome {
        if payload.len() > P {
            return PushOutcome::TooLarge;
        }
        let samples = self.duration_or_nominal(samples);
        let mut outcome = PushOutcome::Buffered;
        if self.ssrc != Some(ssrc) {
            if self.prev_ssrc == Some(ssrc) {
                // A straggler of the source we switched away from.
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            if self.ssrc.is_some() {
                self.reset();
                self.stats.restarts += 1;
                outcome = PushOutcome::Restarted;
            }
            self.prev_ssrc = self.ssrc;
            self.ssrc = Some(ssrc);
        } else if self.started {
            let ahead = timestamp.wrapping_sub(self.play_ts) as i32;
            if ahead.unsigned_abs() > self.cfg.max_jump && self.last_seq.is_none_or(|l| seq_newer(seq, l)) {
                self.restart_timeline();
                self.stats.restarts += 1;
                outcome = PushOutcome::Restarted;
            }
        }
        if let Some(s) = self
            .slots
            .iter_mut()
            .find(|s| s.used && s.recovered && s.timestamp == timestamp)
        {
            // The packet whose redundant copy stands in for it came after all: it takes its
            // place (same audio), and the frame no longer counts as recovered.
            if payload.len() <= P && s.samples == samples {
                s.recovered = false;
                s.seq = seq;
                s.marker = marker;
                s.payload_type = payload_type;
                s.len = payload.len() as u16;
                s.data[..payload.len()].copy_from_slice(payload);
            }
            self.stats.received += 1;
            self.observe_transit(arrival, timestamp);
            return outcome;
        }
        if self
            .slots
            .iter()
            .any(|s| s.used && ((s.seq == seq && !s.recovered) || s.timestamp == timestamp))
            || self.was_played(seq)
        {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        if let Some(last) = self.last_seq
            && !seq_newer(seq, last)
        {
            // Far behind what was played, repeatedly: the sender restarted its sequence
            // (RFC 3550 A.1 restart) without changing SSRC. Start over with it.
            let far_back = last.wrapping_sub(seq) > 1000;
            self.consecutive_late = if far_back { self.consecutive_late + 1 } else { 0 };
            if far_back && self.consecutive_late >= 3 {
                self.reset();
                self.stats.restarts += 1;
                outcome = PushOutcome::Restarted;
            } else {
                // Older than what was already played: its time has passed (it was concealed).
                self.stats.late += 1;
                return PushOutcome::Late;
            }
        }
        self.stats.received += 1;
        self.observe_transit(arrival, timestamp);
        let late_by = self.play_ts.wrapping_sub(timestamp.wrapping_add(samples.max(1))) as i32;
        if self.started && late_by >= 0 {
            self.consecutive_late += 1;
            // Far behind the playout point while silent, or persistently: the sender's clock went
            // back (e.g. resumed after hold with a paused clock). Follow it instead of dropping.
            let far = late_by as u32 > 2 * self.target().max(self.cfg.frame_samples);
            if !(far && (self.in_silence || self.consecutive_late >= 3)) {
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            self.restart_timeline();
            self.stats.restarts += 1;
            outcome = PushOutcome::Restarted;
            self.observe_transit(arrival, timestamp);
        }
        self.consecutive_late = 0;
        let idx = match self.slots.iter().position(|s| !s.used) {
            Some(i) => i,
            None => {
                let reference = if self.started { self.play_ts } else { timestamp };
                let oldest = self.oldest_index(reference).unwrap_or(0);
                self.slots[oldest].used = false;
                self.stats.overflow += 1;
                outcome = PushOutcome::Overflow;
                oldest
            }
        };
        let s = &mut self.slots[idx];
        s.used = true;
        s.recovered = false;
        s.marker = marker;
        s.payload_type = payload_type;
        s.seq = seq;
        s.timestamp = timestamp;
        s.samples = samples;
        s.len = payload.len() as u16;
        s.data[..payload.len()].copy_from_slice(payload);
        outcome
    }

    /// A payload whose duration the caller could not tell (0) counts as one nominal frame.
    fn duration_or_nominal(&self, samples: u32) -> u32 {
        if samples == 0 {
            self.cfg.frame_samples
        } else {
            samples
        }
    }

    /// Offers a redundant copy of a frame (RFC 2198), carried by a later packet. It is kept only
    /// when that frame is still to be played and neither buffered nor played already, i.e. when
    /// its own packet is missing so far; then it plays as if that packet had come. `seq` is the
    /// sequence number the frame's own packet had (the carrying packet's minus the frames in
    /// between). The copy says nothing about network timing: the delay estimate ignores it.
    pub fn push_redundant(
        &mut self,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        payload_type: u8,
        samples: u32,
        payload: &[u8],
    ) -> PushOutcome {
        if payload.len() > P {
            return PushOutcome::TooLarge;
        }
        let samples = self.duration_or_nominal(samples);
        if self.ssrc != Some(ssrc) {
            return PushOutcome::Late;
        }
        if self
            .slots
            .iter()
            .any(|s| s.used && (s.timestamp == timestamp || s.seq == seq))
            || self.was_played(seq)
        {
            return PushOutcome::Duplicate;
        }
        if self.last_seq.is_some_and(|last| !seq_newer(seq, last)) {
            return PushOutcome::Late;
        }
        if self.started {
            let late_by = self.play_ts.wrapping_sub(timestamp.wrapping_add(samples)) as i32;
            let ahead = timestamp.wrapping_sub(self.play_ts) as i32;
            if late_by >= 0 || ahead.unsigned_abs() > self.cfg.max_jump {
                return PushOutcome::Late;
            }
        }
        // Never evicts a packet for a copy.
        let Some(idx) = self.slots.iter().position(|s| !s.used) else {
            return PushOutcome::Overflow;
        };
        let s = &mut self.slots[idx];
        s.used = true;
        s.recovered = true;
        s.marker = false;
        s.payload_type = payload_type;
        s.seq = seq;
        s.timestamp = timestamp;
        s.samples = samples;
        s.len = payload.len() as u16;
        s.data[..payload.len()].copy_from_slice(payload);
        PushOutcome::Buffered
    }

    /// Slot with the earliest timestamp relative to `reference`.
    fn oldest_index(&self, reference: u32) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.used)
            .min_by_key(|(_, s)| s.timestamp.wrapping_sub(reference) as i32)
            .map(|(i, _)| i)
    }

    /// Sequence numbers between the last played packet and `next` that are neither played nor
    /// used by foreign packets: the packets really missing.
    fn missing_before(&self, next: u16) -> u32 {
        let Some(last) = self.last_seq else { return 0 };
        let diff = next.wrapping_sub(last) as u32;
        if diff == 0 || diff >= 0x8000 {
            return 0;
        }
        if diff > 64 {
            return diff - 1;
        }
        (1..diff)
            .filter(|&k| !self.is_foreign(last.wrapping_add(k as u16)))
            .count() as u32
    }

    /// The packet that plays right after what [`Self::pop`] last returned, when it is already
    /// buffered: its payload type and payload. After [`Playout::Lost`] or [`Playout::Stretch`]
    /// this lets the concealment interpolate towards the audio that follows instead of
    /// extrapolating (and fading) into the unknown.
    pub fn next_frame(&self) -> Option<(u8, &[u8])> {
        if !self.started {
            return None;
        }
        self.slots
            .iter()
            .find(|s| s.used && s.timestamp == self.play_ts)
            .map(|s| (s.payload_type, &s.data[..s.len as usize]))
    }

    /// Next piece of audio for local time `now` (the caller's sample clock).
    pub fn pop(&mut self, now: u32) -> Playout<'_> {
        let frame = self.cfg.frame_samples;
        if !self.started {
            let Some(i) = self.oldest_index(self.slots.iter().find(|s| s.used).map_or(0, |s| s.timestamp))
            else {
                return Playout::Empty { samples: frame };
            };
            let ts = self.slots[i].timestamp;
            let d = self.delay_at(now, ts);
            self.stats.current_delay = d.max(0) as u32;
            if d < self.target() as i32 {
                return Playout::Empty { samples: frame };
            }
            self.started = true;
            self.play_ts = ts;
            if self.last_seq.is_none() {
                self.last_seq = Some(self.slots[i].seq.wrapping_sub(1));
                self.played_mask = 0;
            }
            self.in_silence = false;
        }
        self.pops_since_shrink = self.pops_since_shrink.saturating_add(1);
        let d = self.delay_at(now, self.play_ts);
        self.stats.current_delay = d.max(0) as u32;
        let target = self.target() as i32;
        let hyst = (frame / 2) as i32;

        // Drop stale packets, then find the next one.
        let next = loop {
            let Some(i) = self.oldest_index(self.play_ts) else {
                break None;
            };
            let s = &self.slots[i];
            if (s
                .timestamp
                .wrapping_add(s.samples.max(1))
                .wrapping_sub(self.play_ts) as i32)
                <= 0
            {
                self.slots[i].used = false;
                self.stats.late += 1;
                continue;
            }
            break Some(i);
        };

        // Grow: short of the target by more than half a frame.
        if d + hyst < target {
            let samples = frame;
            self.stats.stretched_samples += samples as u64;
            return if self.in_silence {
                Playout::Silence { samples }
            } else {
                Playout::Stretch { samples }
            };
        }
        let excess = d - target;

        let Some(mut i) = next else {
            // Telephone-events newer than the last audio: the sender paused audio for them.
            let events_flowing = match (self.foreign_top, self.last_seq) {
                (Some(f), Some(l)) => seq_newer(f, l),
                _ => false,
            };
            if self.in_silence || events_flowing || self.consecutive_missing >= self.cfg.max_concealed_frames
            {
                self.in_silence = true;
                self.play_ts = self.play_ts.wrapping_add(frame);
                return Playout::Silence { samples: frame };
            }
            return self.conceal_lost(self.last_samples);
        };

        let gap = self.slots[i].timestamp.wrapping_sub(self.play_ts) as i32;
        if gap > 0 {
            let gap = gap as u32;
            let seq = self.slots[i].seq;
            let missing = self.missing_before(seq);
            let silence = self.in_silence || self.slots[i].marker || self.consecutive_missing >= missing;
            if !silence {
                return self.conceal_lost(self.last_samples.min(gap));
            }
            self.in_silence = true;
            if excess > hyst {
                // Shrink in silence: skip part of the gap.
                let skip = (excess as u32).min(gap);
                self.play_ts = self.play_ts.wrapping_add(skip);
                self.stats.shrunk_samples += skip as u64;
                if skip < gap {
                    let samples = frame.min(gap - skip);
                    self.play_ts = self.play_ts.wrapping_add(samples);
                    return Playout::Silence { samples };
                }
            } else {
                let samples = frame.min(gap);
                self.play_ts = self.play_ts.wrapping_add(samples);
                return Playout::Silence { samples };
            }
        } else if excess >= frame as i32
            && self.pops_since_shrink >= self.cfg.talk_shrink_interval
            && !self.slots[i].marker
        {
            // Shrink during speech: drop one frame when the following one is already here, at
            // a bounded rate, so the drop costs one frame of audio and no concealment.
            let s = self.slots[i];
            let after = s.timestamp.wrapping_add(s.samples);
            if let Some(j) = self.slots.iter().position(|x| x.used && x.timestamp == after) {
                self.slots[i].used = false;
                self.mark_played(s.seq, false);
                self.stats.shrunk_samples += s.samples as u64;
                self.stats.dropped += 1;
                self.pops_since_shrink = 0;
                i = j;
            }
        }

        let s = self.slots[i];
        self.slots[i].used = false;
        if self.consecutive_missing > 0 {
            // Concealed frames beyond the packets really missing were the sender's silence.
            let missing = self.missing_before(s.seq);
            self.stats.lost -= self
                .consecutive_missing
                .saturating_sub(missing)
                .min(self.stats.lost as u32) as u64;
        }
        if s.recovered {
            self.stats.recovered += 1;
        }
        self.mark_played(s.seq, true);
        self.play_ts = s.timestamp.wrapping_add(s.samples);
        self.last_samples = if s.samples > 0 { s.samples } else { frame };
        self.consecutive_missing = 0;
        self.in_silence = Some(s.payload_type) == self.cfg.cn_payload_type;
        self.stats.played += 1;
        Playout::Frame {
            payload_type: s.payload_type,
            timestamp: s.timestamp,
            marker: s.marker,
            samples: s.samples,
            payload: &self.slots[i].data[..s.len as usize],
        }
    }

    fn conceal_lost(&mut self, samples: u32) -> Playout<'static> {
        let samples = samples.max(1);
        self.play_ts = self.play_ts.wrapping_add(samples);
        self.consecutive_missing += 1;
        self.stats.lost += 1;
        Playout::Lost { samples }
    }
}
