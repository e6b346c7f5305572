//! A sans-IO RTP session (RFC 3550) for one media stream: sequence numbering and SSRC of the
//! local sender, reception statistics of the remote source, SSRC collision and change handling,
//! symmetric-RTP latching, and the RTCP schedule (section 6.2/6.3, optional reduced minimum).
//!
//! The caller feeds received datagrams with `now`, asks for outgoing packets, and sleeps until
//! [`RtpSession::next_deadline`]. Nothing here allocates.

use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant;

use heapless::Vec as HVec;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::packet::{RtpError, RtpHeader, RtpPacket};
use super::rtcp::{
    NtpTimestamp, ReceiverReport, ReportBlock, RtcpCompound, RtcpError, RtcpPacket, RtcpWriter, SenderInfo,
    SenderReport, duration_to_dlsr, round_trip,
};
use super::stats::{ReceiverStats, SeqVerdict};

/// IPv4 + UDP header bytes counted in the average RTCP size (RFC 3550 6.2).
const UDP_IP_OVERHEAD: usize = 28;

/// Session parameters, mostly from the negotiated SDP and the configuration.
#[derive(Debug, Clone)]
pub struct RtpSessionConfig {
    /// RTP clock rate of the audio codec (8000 for PCMU/PCMA/GSM).
    pub clock_rate: u32,
    /// Our SSRC; `None` draws a random one.
    pub local_ssrc: Option<u32>,
    /// CNAME sent in SDES (e.g. "gw@192.0.2.1").
    pub cname: HVec<u8, 64>,
    /// Session bandwidth in bits per second (RTCP gets 5% of it).
    pub session_bandwidth_bps: u32,
    /// Use the reduced minimum interval 360/(session bandwidth in kbit/s) seconds instead of 5 s.
    pub reduced_minimum: bool,
    /// Send to where the peer's packets come from (NAT traversal).
    pub symmetric: bool,
    /// Payload types the peer may send (negotiated codecs, telephone-event, CN).
    pub accepted_payload_types: HVec<u8, 8>,
    /// The peer's SSRC when known from signalling (a=ssrc); latching then requires it.
    pub expected_remote_ssrc: Option<u32>,
    /// Telephone-event payload type: its packets repeat one timestamp per event, so they are
    /// left out of the interarrival jitter.
    pub telephone_event_pt: Option<u8>,
    /// After this long without packets from the latched address, another address may latch.
    pub relatch_after: Duration,
    /// After this long without packets from the current remote source, a new SSRC takes over
    /// at once instead of after probation.
    pub source_switch_silence: Duration,
}

impl Default for RtpSessionConfig {
    fn default() -> Self {
        RtpSessionConfig {
            clock_rate: 8000,
            local_ssrc: None,
            cname: HVec::new(),
            session_bandwidth_bps: 80_000,
            reduced_minimum: false,
            symmetric: false,
            accepted_payload_types: HVec::new(),
            expected_remote_ssrc: None,
            telephone_event_pt: None,
            relatch_after: Duration::from_secs(2),
            source_switch_silence: Duration::from_millis(300),
        }
    }
}

/// Why a received RTP packet is not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpDrop {
    Malformed(RtpError),
    /// Payload type not negotiated.
    UnexpectedPayloadType(u8),
    /// From an address other than the latched one (symmetric RTP), or not the expected SSRC.
    ForeignSource,
    /// Our own packet looped back.
    Loop,
    /// A new source or address not yet confirmed by sequential packets.
    Probation,
    /// Sequence jump awaiting confirmation (RFC 3550 A.1).
    BadSequence,
}

/// A packet accepted from the remote source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpReceived<'a> {
    pub packet: RtpPacket<'a>,
    /// The remote SSRC changed (or restarted its sequence): reset the jitter buffer and decoder.
    pub new_source: bool,
}

/// What a received RTCP datagram told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpSummary {
    /// The peer's report about our stream.
    pub report: Option<ReportBlock>,
    /// Round-trip time from that report, when it carried an LSR.
    pub round_trip: Option<Duration>,
    /// The peer sent an SR.
    pub sender_info: Option<SenderInfo>,
    /// The peer's source left (BYE).
    pub bye: bool,
}

/// State of the remote source.
#[derive(Debug, Clone)]
pub struct RemoteSource {
    pub ssrc: u32,
    pub stats: ReceiverStats,
    pub last_packet: Instant,
    /// Middle 32 bits of the NTP time of the last SR and when it arrived.
    pub last_sr: Option<(u32, Instant)>,
    pub sent_since_report: bool,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    seq: u16,
}

/// The sans-IO RTP session.
#[derive(Debug)]
pub struct RtpSession {
    cfg: RtpSessionConfig,
    rng: StdRng,
    ssrc: u32,
    seq: u16,
    timestamp_offset: u32,
    anchor: Instant,
    ntp_anchor: NtpTimestamp,
    // Sender state.
    packets_sent: u32,
    octets_sent: u32,
    last_sent: Option<(Instant, u32)>,
    sent_since_report: bool,
    // Remote addresses.
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    latched: Option<(SocketAddr, Instant)>,
    latched_rtcp: Option<SocketAddr>,
    candidate: Option<Candidate>,
    source_candidate: Option<Candidate>,
    remote: Option<RemoteSource>,
    // RTCP schedule.
    next_rtcp: Instant,
    avg_rtcp_size: f64,
    initial: bool,
    pending_bye: Option<u32>,
    collisions: u32,
    last_round_trip: Option<Duration>,
    last_peer_report: Option<ReportBlock>,
}

/// Where and how long an outgoing datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub len: usize,
    pub to: SocketAddr,
}

/// Errors of the send path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No remote address known yet.
    NoDestination,
    Rtp(RtpError),
    Rtcp(RtcpError),
}

impl RtpSession {
    /// A session starting at `now`, with `ntp_now` the wallclock at that instant (for SR).
    pub fn new(cfg: RtpSessionConfig, now: Instant, ntp_now: NtpTimestamp, seed: Option<u64>) -> Self {
        let mut rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        let ssrc = cfg.local_ssrc.unwrap_or_else(|| rng.r#gen());
        let seq = rng.r#gen();
        let timestamp_offset = rng.r#gen();
        let mut s = RtpSession {
            cfg,
            ssrc,
            seq,
            timestamp_offset,
            anchor: now,
            ntp_anchor: ntp_now,
            packets_sent: 0,
            octets_sent: 0,
            last_sent: None,
            sent_since_report: false,
            remote_rtp: None,
            remote_rtcp: None,
            latched: None,
            latched_rtcp: None,
            candidate: None,
            source_candidate: None,
            remote: None,
            next_rtcp: now,
            avg_rtcp_size: 100.0,
            initial: true,
            pending_bye: None,
            collisions: 0,
            last_round_trip: None,
            last_peer_report: None,
            rng,
        };
        let interval = s.rtcp_interval();
        s.next_rtcp = now + interval;
        s
    }

    pub fn local_ssrc(&self) -> u32 {
        self.ssrc
    }
    /// Random initial RTP timestamp; the media loop adds its sample counter to it.
    pub fn timestamp_offset(&self) -> u32 {
        self.timestamp_offset
    }
    pub fn remote_source(&self) -> Option<&RemoteSource> {
        self.remote.as_ref()
    }
    pub fn last_round_trip(&self) -> Option<Duration> {
        self.last_round_trip
    }
    /// The peer's last report about our stream.
    pub fn last_peer_report(&self) -> Option<ReportBlock> {
        self.last_peer_report
    }
    pub fn ssrc_collisions(&self) -> u32 {
        self.collisions
    }
    pub fn packets_sent(&self) -> u32 {
        self.packets_sent
    }
    /// The address packets are sent to: the latched one when symmetric RTP latched, else the
    /// one from SDP.
    pub fn rtp_destination(&self) -> Option<SocketAddr> {
        match (self.cfg.symmetric, self.latched) {
            (true, Some((a, _))) => Some(a),
            _ => self.remote_rtp,
        }
    }
    /// With symmetric RTP, RTCP goes to where the peer's RTCP comes from, else to the latched RTP
    /// address + 1; otherwise to the SDP (a=rtcp) address.
    pub fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.cfg.symmetric
            && let Some(a) = self.latched_rtcp
        {
            return Some(a);
        }
        match (self.cfg.symmetric, self.latched) {
            (true, Some((a, _))) => {
                let mut r = a;
                r.set_port(a.port().wrapping_add(1));
                Some(r)
            }
            _ => self.remote_rtcp,
        }
    }

    /// Sets the peer's addresses from SDP (initial or after a re-INVITE); clears the latch so a
    /// moved peer is followed. `rtcp` defaults to rtp port + 1. An unspecified address (0.0.0.0
    /// hold) clears the destination.
    pub fn set_remote(&mut self, rtp: Option<SocketAddr>, rtcp: Option<SocketAddr>) {
        let rtp = rtp.filter(|a| !a.ip().is_unspecified() && a.port() != 0);
        self.remote_rtcp = rtcp.or_else(|| {
            rtp.map(|mut a| {
                a.set_port(a.port().wrapping_add(1));
                a
            })
        });
        self.remote_rtp = rtp;
        self.latched = None;
        self.latched_rtcp = None;
        self.candidate = None;
    }

    /// Updates the accepted payload types after a new offer/answer (codec change mid-call).
    /// Sets the telephone-event payload type (excluded from jitter).
    pub fn set_telephone_event_pt(&mut self, pt: Option<u8>) {
        self.cfg.telephone_event_pt = pt;
    }

    pub fn set_accepted_payload_types(&mut self, pts: &[u8]) {
        self.cfg.accepted_payload_types = pts.iter().copied().take(8).collect();
    }

    /// The peer's source will change (transfer, re-INVITE to another party): forget it now.
    pub fn reset_remote_source(&mut self) {
        self.remote = None;
        self.source_candidate = None;
    }

    /// Wallclock at `now`.
    pub fn ntp_at(&self, now: Instant) -> NtpTimestamp {
        self.ntp_anchor.plus(now.saturating_duration_since(self.anchor))
    }

    fn arrival_units(&self, now: Instant) -> u32 {
        let d = now.saturating_duration_since(self.anchor);
        (d.as_nanos() * self.cfg.clock_rate as u128 / 1_000_000_000) as u32
    }

    /// Handles one received RTP datagram.
    pub fn on_rtp<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Result<RtpReceived<'a>, RtpDrop> {
        let packet = RtpPacket::parse(datagram).map_err(RtpDrop::Malformed)?;
        let pt = packet.payload_type();
        if !self.cfg.accepted_payload_types.is_empty() && !self.cfg.accepted_payload_types.contains(&pt) {
            return Err(RtpDrop::UnexpectedPayloadType(pt));
        }
        let ssrc = packet.ssrc();
        if ssrc == self.ssrc {
            // Our own packets reflected back carry sequence numbers we just sent.
            let back = self.seq.wrapping_sub(packet.sequence());
            if self.last_sent.is_some() && (1..=64).contains(&back) {
                return Err(RtpDrop::Loop);
            }
            // Someone else uses our SSRC (RFC 3550 8.2): pick a new one; if we already sent
            // with the old one, leave it with a BYE. The packet itself is not ours: process it.
            self.collisions += 1;
            if self.last_sent.is_some() {
                self.pending_bye = Some(self.ssrc);
            }
            self.new_local_ssrc();
        }
        if let Some(want) = self.cfg.expected_remote_ssrc
            && want != ssrc
        {
            return Err(RtpDrop::ForeignSource);
        }
        if self.cfg.symmetric {
            self.check_latch(now, from, ssrc, packet.sequence())?;
        }

        let mut new_source = false;
        let switch = match &self.remote {
            None => true,
            Some(r) if r.ssrc == ssrc => false,
            Some(r) => {
                if now.saturating_duration_since(r.last_packet) >= self.cfg.source_switch_silence {
                    true
                } else {
                    // Both old and new sources are live: the new one must prove itself.
                    let seq = packet.sequence();
                    match self.source_candidate {
                        Some(c) if c.ssrc == ssrc && c.seq.wrapping_add(1) == seq => {
                            self.source_candidate = None;
                            true
                        }
                        _ => {
                            self.source_candidate = Some(Candidate {
                                addr: from,
                                ssrc,
                                seq,
                            });
                            return Err(RtpDrop::Probation);
                        }
                    }
                }
            }
        };
        if switch {
            // The stream is accepted from its first packet (signalling vouched for the peer),
            // so the statistics skip RFC 3550 probation.
            let stats = ReceiverStats::accepted(packet.sequence());
            self.remote = Some(RemoteSource {
                ssrc,
                stats,
                last_packet: now,
                last_sr: None,
                sent_since_report: false,
            });
            new_source = true;
        }
        let arrival = self.arrival_units(now);
        let Some(remote) = self.remote.as_mut() else {
            return Err(RtpDrop::Probation);
        };
        let verdict = if switch {
            SeqVerdict::Valid
        } else {
            remote.stats.update_seq(packet.sequence())
        };
        match verdict {
            SeqVerdict::Valid => {}
            SeqVerdict::Restarted => new_source = true,
            SeqVerdict::Probation => return Err(RtpDrop::Probation),
            SeqVerdict::BadJump => return Err(RtpDrop::BadSequence),
        }
        if Some(pt) != self.cfg.telephone_event_pt {
            remote.stats.update_jitter(arrival, packet.timestamp());
        }
        remote.last_packet = now;
        remote.sent_since_report = true;
        Ok(RtpReceived { packet, new_source })
    }

    fn check_latch(&mut self, now: Instant, from: SocketAddr, ssrc: u32, seq: u16) -> Result<(), RtpDrop> {
        if let Some((addr, last)) = self.latched {
            if addr == from {
                self.latched = Some((addr, now));
                return Ok(());
            }
            if now.saturating_duration_since(last) < self.cfg.relatch_after {
                return Err(RtpDrop::ForeignSource);
            }
        }
        // The address announced in SDP is trusted at once; others must send two packets in
        // sequence from one SSRC before the send address moves to them.
        if Some(from) == self.remote_rtp {
            self.latched = Some((from, now));
            self.candidate = None;
            return Ok(());
        }
        match self.candidate {
            Some(c) if c.addr == from && c.ssrc == ssrc && c.seq.wrapping_add(1) == seq => {
                self.latched = Some((from, now));
                self.candidate = None;
                Ok(())
            }
            _ => {
                self.candidate = Some(Candidate {
                    addr: from,
                    ssrc,
                    seq,
                });
                Err(RtpDrop::Probation)
            }
        }
    }

    fn new_local_ssrc(&mut self) {
        loop {
            let s: u32 = self.rng.r#gen();
            if s != self.ssrc && self.remote.as_ref().is_none_or(|r| r.ssrc != s) {
                self.ssrc = s;
                break;
            }
        }
    }

    /// The header of the next packet to send: our SSRC and the next sequence number.
    /// `timestamp` is the media clock of the first sample (include [`Self::timestamp_offset`]).
    pub fn next_header(&mut self, payload_type: u8, timestamp: u32, marker: bool) -> RtpHeader {
        let h = RtpHeader::new(payload_type, self.seq, timestamp, self.ssrc, marker);
        self.seq = self.seq.wrapping_add(1);
        h
    }

    /// Writes the next RTP packet into `out` and accounts it for SR.
    pub fn write_rtp(
        &mut self,
        now: Instant,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<Outgoing, SendError> {
        let to = self.rtp_destination().ok_or(SendError::NoDestination)?;
        let h = RtpHeader::new(payload_type, self.seq, timestamp, self.ssrc, marker);
        let len = h.write_packet(None, payload, 0, out).map_err(SendError::Rtp)?;
        self.seq = self.seq.wrapping_add(1);
        self.note_sent(now, timestamp, payload.len());
        Ok(Outgoing { len, to })
    }

    /// Accounts a packet built with [`Self::next_header`] and sent by the caller.
    pub fn note_sent(&mut self, now: Instant, timestamp: u32, payload_len: usize) {
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(payload_len as u32);
        self.last_sent = Some((now, timestamp));
        self.sent_since_report = true;
    }

    /// When [`Self::poll_rtcp`] next has something to send.
    pub fn next_deadline(&self) -> Instant {
        self.next_rtcp
    }

    /// RFC 3550 6.3.1 / A.7 interval for a two-party session.
    fn rtcp_interval(&mut self) -> Duration {
        let session_bw = self.cfg.session_bandwidth_bps.max(1) as f64 / 8.0;
        let mut rtcp_bw = session_bw * 0.05;
        let members = if self.remote.is_some() || self.remote_rtp.is_some() {
            2.0
        } else {
            1.0
        };
        let senders = self.sent_since_report as u32 as f64
            + self.remote.as_ref().is_some_and(|r| r.sent_since_report) as u32 as f64;
        let mut n = members;
        if senders > 0.0 && senders <= members * 0.25 {
            if self.sent_since_report {
                rtcp_bw *= 0.25;
                n = senders;
            } else {
                rtcp_bw *= 0.75;
                n -= senders;
            }
        }
        let mut t_min = if self.cfg.reduced_minimum {
            360.0 / (self.cfg.session_bandwidth_bps.max(1) as f64 / 1000.0)
        } else {
            5.0
        };
        if self.initial && !self.cfg.reduced_minimum {
            t_min /= 2.0;
        }
        let t = (self.avg_rtcp_size * n / rtcp_bw).max(t_min);
        let t = t * self.rng.gen_range(0.5..1.5) / (core::f64::consts::E - 1.5);
        Duration::from_secs_f64(t)
    }

    fn observe_rtcp_size(&mut self, len: usize) {
        self.avg_rtcp_size = ((len + UDP_IP_OVERHEAD) as f64) / 16.0 + self.avg_rtcp_size * 15.0 / 16.0;
    }

    /// Builds the report that is due (SR if we sent since the last report, else RR, plus SDES
    /// CNAME, plus BYE after an SSRC collision) when `now` reached the deadline.
    pub fn poll_rtcp(&mut self, now: Instant, out: &mut [u8]) -> Result<Option<Outgoing>, SendError> {
        if now < self.next_rtcp {
            return Ok(None);
        }
        let to = self.rtcp_destination();
        let len = self.write_report(now, out, None)?;
        self.observe_rtcp_size(len);
        self.initial = false;
        self.sent_since_report = false;
        if let Some(r) = self.remote.as_mut() {
            r.sent_since_report = false;
        }
        let interval = self.rtcp_interval();
        self.next_rtcp = now + interval;
        Ok(to.map(|to| Outgoing { len, to }))
    }

    /// A final compound report with BYE (call end). `reason` goes in the BYE.
    pub fn write_bye(
        &mut self,
        now: Instant,
        reason: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<Outgoing, SendError> {
        let to = self.rtcp_destination().ok_or(SendError::NoDestination)?;
        let len = self.write_report(now, out, Some(reason.unwrap_or(&[])))?;
        Ok(Outgoing { len, to })
    }

    fn write_report(&mut self, now: Instant, out: &mut [u8], bye: Option<&[u8]>) -> Result<usize, SendError> {
        let mut blocks = HVec::new();
        if let Some(r) = self.remote.as_mut() {
            let (lsr, dlsr) = match r.last_sr {
                Some((lsr, at)) => (lsr, duration_to_dlsr(now.saturating_duration_since(at))),
                None => (0, 0),
            };
            let _ = blocks.push(r.stats.report_block(r.ssrc, lsr, dlsr));
        }
        let mut w = RtcpWriter::new(out);
        let map = SendError::Rtcp;
        if self.sent_since_report {
            let (at, ts) = self.last_sent.unwrap_or((now, self.timestamp_offset));
            let elapsed = now.saturating_duration_since(at);
            let rtp_timestamp =
                ts.wrapping_add((elapsed.as_nanos() * self.cfg.clock_rate as u128 / 1_000_000_000) as u32);
            let sr = SenderReport {
                ssrc: self.ssrc,
                info: SenderInfo {
                    ntp: self.ntp_at(now),
                    rtp_timestamp,
                    packet_count: self.packets_sent,
                    octet_count: self.octets_sent,
                },
                blocks,
            };
            w.sender_report(&sr).map_err(map)?;
        } else {
            w.receiver_report(&ReceiverReport {
                ssrc: self.ssrc,
                blocks,
            })
            .map_err(map)?;
        }
        w.sdes_cname(self.ssrc, &self.cfg.cname).map_err(map)?;
        if let Some(old) = self.pending_bye.take() {
            w.bye(&[old], None).map_err(map)?;
        }
        if let Some(reason) = bye {
            w.bye(&[self.ssrc], (!reason.is_empty()).then_some(reason))
                .map_err(map)?;
        }
        Ok(w.finish())
    }

    /// How long since the last accepted RTP packet of the remote source (for RTP timeout
    /// supervision); `None` before any.
    pub fn remote_silent_for(&self, now: Instant) -> Option<Duration> {
        self.remote
            .as_ref()
            .map(|r| now.saturating_duration_since(r.last_packet))
    }

    /// Handles one received RTCP datagram from `from`.
    pub fn on_rtcp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<RtcpSummary, RtcpError> {
        let compound = RtcpCompound::parse(datagram)?;
        self.observe_rtcp_size(datagram.len());
        let mut summary = RtcpSummary::default();
        let remote_ssrc = self.remote.as_ref().map(|r| r.ssrc);
        let arrival = self.ntp_at(now).middle32();
        for p in compound.packets() {
            match p {
                RtcpPacket::SenderReport(v) | RtcpPacket::ReceiverReport(v) => {
                    // Symmetric RTCP: answer to where the remote source's reports come from, but
                    // only from the host its RTP is latched to (the NAT may map another port).
                    if self.cfg.symmetric
                        && self.latched.is_some_and(|(a, _)| a.ip() == from.ip())
                        && Some(v.ssrc()) == remote_ssrc
                    {
                        self.latched_rtcp = Some(from);
                    }
                    if let Some(info) = v.sender_info()
                        && Some(v.ssrc()) == remote_ssrc
                        && let Some(r) = self.remote.as_mut()
                    {
                        r.last_sr = Some((info.ntp.middle32(), now));
                        summary.sender_info = Some(info);
                    }
                    if let Some(b) = v.blocks().find(|b| b.ssrc == self.ssrc) {
                        summary.report = Some(b);
                        summary.round_trip = round_trip(arrival, b.last_sr, b.delay_since_last_sr);
                        self.last_peer_report = Some(b);
                        if summary.round_trip.is_some() {
                            self.last_round_trip = summary.round_trip;
                        }
                    }
                }
                RtcpPacket::Bye(v) if v.ssrcs().any(|s| Some(s) == remote_ssrc) => {
                    summary.bye = true;
                    self.remote = None;
                }
                _ => {}
            }
        }
        Ok(summary)
    }
}
