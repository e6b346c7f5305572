//! Receiver statistics for one remote source (RFC 3550 appendix A.1, A.3 and A.8): sequence
//! tracking across wrap with probation, expected/lost counts, fraction lost per report interval
//! and interarrival jitter.

use super::rtcp::ReportBlock;

const RTP_SEQ_MOD: u32 = 1 << 16;
/// Packets in sequence required before a new source is valid (A.1).
pub const MIN_SEQUENTIAL: u32 = 2;
const MAX_DROPOUT: u32 = 3000;
const MAX_MISORDER: u32 = 100;

/// What `update_seq` decided about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In sequence (or acceptably reordered/duplicated): count it.
    Valid,
    /// The source is still on probation; this packet does not count yet.
    Probation,
    /// A very large jump: held until the next packet confirms a restart of the sender.
    BadJump,
    /// The previous packet's jump was confirmed: statistics restarted at this packet.
    Restarted,
}

/// Per-source reception state.
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet (A.8), in timestamp units.
    transit: Option<u32>,
    /// Jitter scaled by 16 (A.8).
    jitter_q4: u32,
    /// Duplicates seen (same sequence as the highest).
    duplicates: u32,
}

impl ReceiverStats {
    /// State for a source first seen with sequence `seq` (A.1 init plus probation).
    pub fn new(seq: u16) -> Self {
        let mut s = ReceiverStats::default();
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        s
    }

    /// State for a source accepted without probation, counting packet `seq` as received.
    pub fn accepted(seq: u16) -> Self {
        let mut s = ReceiverStats::default();
        s.init_seq(seq);
        s.received = 1;
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq as u32;
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.transit = None;
    }

    /// A.1 `update_seq`.
    pub fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq) as u32;
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        }
        if udelta < MAX_DROPOUT {
            if udelta == 0 {
                self.duplicates += 1;
            }
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if udelta <= RTP_SEQ_MOD - MAX_MISORDER {
            if seq as u32 == self.bad_seq {
                // Two sequential packets after a big jump: the sender restarted.
                self.init_seq(seq);
                self.received += 1;
                return SeqVerdict::Restarted;
            }
            self.bad_seq = (seq as u32 + 1) & (RTP_SEQ_MOD - 1);
            return SeqVerdict::BadJump;
        } else {
            // Duplicate or reordered packet.
        }
        self.received += 1;
        SeqVerdict::Valid
    }

    /// A.8: update jitter with a packet's RTP timestamp and its arrival time expressed in the same
    /// clock units. Call only for packets that `update_seq` accepted.
    pub fn update_jitter(&mut self, arrival: u32, rtp_timestamp: u32) {
        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            // jitter += (|D| - jitter) / 16, kept scaled by 16.
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// True while the source has not yet passed probation.
    pub fn on_probation(&self) -> bool {
        self.probation > 0
    }
    pub fn extended_max_seq(&self) -> u32 {
        self.cycles.wrapping_add(self.max_seq as u32)
    }
    pub fn expected(&self) -> u32 {
        self.extended_max_seq()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }
    pub fn received(&self) -> u32 {
        self.received
    }
    pub fn duplicates(&self) -> u32 {
        self.duplicates
    }
    /// Cumulative loss (A.3), clamped to the 24-bit signed range of a report block.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-0x80_0000, 0x7f_ffff) as i32
    }
    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Fraction lost since the previous call (A.3), in 1/256; advances the interval.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        }
    }

    /// A report block about `ssrc`, advancing the fraction-lost interval.
    pub fn report_block(&mut self, ssrc: u32, last_sr: u32, delay_since_last_sr: u32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: self.take_fraction_lost(),
            cumulative_lost: self.cumulative_lost(),
            extended_highest_seq: self.extended_max_seq(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(seq: u16) -> ReceiverStats {
        let mut s = ReceiverStats::new(seq);
        assert_eq!(s.update_seq(seq), SeqVerdict::Probation);
        assert_eq!(s.update_seq(seq.wrapping_add(1)), SeqVerdict::Valid);
        s
    }

    #[test]
    fn probation_then_wrap_and_loss() {
        let mut s = validated(65530);
        for seq in 65532u32..65546 {
            if seq == 65540 {
                continue; // lost (wraps to 4)
            }
            assert_eq!(s.update_seq(seq as u16), SeqVerdict::Valid);
        }
        assert_eq!(s.extended_max_seq(), 65536 + 9);
        assert_eq!(s.expected(), 15);
        assert_eq!(s.received(), 14);
        assert_eq!(s.cumulative_lost(), 1);
        assert_eq!(s.take_fraction_lost(), (256 / 15) as u8);
        assert_eq!(s.take_fraction_lost(), 0);
    }

    #[test]
    fn large_jump_needs_confirmation() {
        let mut s = validated(100);
        assert_eq!(s.update_seq(20000), SeqVerdict::BadJump);
        assert_eq!(s.update_seq(20001), SeqVerdict::Restarted);
        assert_eq!(s.update_seq(20002), SeqVerdict::Valid);
        assert_eq!(s.expected(), 2);
    }

    #[test]
    fn constant_transit_has_zero_jitter_and_step_converges() {
        let mut s = validated(1);
        for i in 0..50u32 {
            s.update_jitter(1000 + i * 160, i * 160);
        }
        assert_eq!(s.jitter(), 0);
        // Delay alternating 0 and 40 samples: |D| = 40 each packet, jitter converges to 40.
        for i in 50..400u32 {
            let extra = if i % 2 == 0 { 40 } else { 0 };
            s.update_jitter(1000 + i * 160 + extra, i * 160);
        }
        assert!((36..=40).contains(&s.jitter()), "{}", s.jitter());
    }
}
