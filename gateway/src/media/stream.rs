//! One RTP stream endpoint inside the loop: non-blocking socket reads, the sans-IO
//! [`RtpSession`], the jitter buffer, decoding with loss concealment and comfort noise,
//! RFC 4733 receive and send, RFC 2198 redundancy, packetisation and encoding, RTCP.
//!
//! A [`Stream`] is a preallocated slot: `start` and `stop` reinitialise it in place, so opening
//! and closing calls never touch the heap.

use core::net::SocketAddr;
use core::sync::atomic::Ordering;
use core::time::Duration;
use std::io;
use std::time::Instant as StdInstant;

use codecs::codec::{AnyEncoder, G711Codec, VoiceCodec, VoiceDecoder, VoiceEncoder};
use codecs::g711::G711Law;
use codecs::gsm::{FRAME_BYTES as GSM_BYTES, FRAME_SAMPLES as GSM_SAMPLES};
use codecs::plc::{Concealer, GsmConcealment, GsmPlcDecoder};
use hal::pcm::{FRAME_SAMPLES, Frame, SILENCE};
use heapless::Deque;

use super::api::{DtmfTransport, StreamConfig, StreamError, StreamEventKind, StreamSockets, StreamStats};
use super::mixer::{DualTone, NoiseSource, SampleFifo};
use crate::rtp::cn::ComfortNoise;
use crate::rtp::dtmf_event::{
    EventNotice, EventPayload, EventReceiver, EventSender, EventSenderConfig, TelephoneEvent, dtmf_char,
    dtmf_event_code,
};
use crate::rtp::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::rtp::red::{RedBlock, RedPayload, RedundantAudio};
use crate::rtp::rtcp::NtpTimestamp;
use crate::rtp::session::{RtpSession, RtpSessionConfig};

/// Largest datagram read (RTP over Ethernet without fragmentation).
pub const MAX_DATAGRAM: usize = 1500;
/// Datagrams read per socket per tick at most, so a flood cannot make the loop late.
const MAX_READS_PER_TICK: usize = 16;
/// Samples of the largest packet (60 ms).
const MAX_PACKET_SAMPLES: usize = 480;
/// A received event with no packets for this long ends (all end packets lost), samples.
const EVENT_TIMEOUT: u32 = 8 * 250;
/// A RED payload: one redundant block and the primary, with their headers.
const MAX_RED_PAYLOAD: usize = 2 * MAX_PACKET_SAMPLES + 8;
/// Redundant blocks further back than this many packets are not used.
const MAX_RED_DISTANCE: u32 = 8;

/// The decoder side, with its concealment.
#[allow(clippy::large_enum_variant)]
enum Decoder {
    G711(G711Codec, Concealer),
    Gsm(GsmPlcDecoder),
}

impl Decoder {
    fn new(codec: VoiceCodec) -> Self {
        match codec {
            VoiceCodec::Pcmu => Decoder::G711(G711Codec(G711Law::Ulaw), Concealer::new()),
            VoiceCodec::Pcma => Decoder::G711(G711Codec(G711Law::Alaw), Concealer::new()),
            VoiceCodec::Gsm => Decoder::Gsm(GsmPlcDecoder::new(GsmConcealment::Substitution)),
        }
    }

    fn decoded_len(&self, bytes: usize) -> usize {
        match self {
            Decoder::G711(..) => bytes,
            Decoder::Gsm(_) => {
                if bytes.is_multiple_of(GSM_BYTES) {
                    bytes / GSM_BYTES * GSM_SAMPLES
                } else {
                    0
                }
            }
        }
    }

    /// Decodes `payload` to the tail of `fifo`.
    fn decode(&mut self, payload: &[u8], fifo: &mut SampleFifo) {
        match self {
            Decoder::G711(c, plc) => {
                let tail = fifo.tail(payload.len());
                let n = tail.len();
                if let Ok(n) = c.decode(&payload[..n], tail) {
                    plc.good_frame(&mut tail[..n]);
                    fifo.commit(n);
                }
            }
            Decoder::Gsm(d) => {
                for chunk in payload.chunks_exact(GSM_BYTES) {
                    let tail = fifo.tail(GSM_SAMPLES);
                    if let (Ok(f), Ok(o)) = (
                        <&[u8; GSM_BYTES]>::try_from(chunk),
                        <&mut [i16; GSM_SAMPLES]>::try_from(tail),
                    ) {
                        // A frame without the GSM signature is concealed by the decoder itself.
                        let _ = d.decode(f, o);
                        fifo.commit(GSM_SAMPLES);
                    }
                }
            }
        }
    }

    /// Conceals `samples` lost samples at the tail of `fifo`.
    fn conceal(&mut self, samples: usize, fifo: &mut SampleFifo) {
        match self {
            Decoder::G711(_, plc) => {
                let tail = fifo.tail(samples);
                let n = tail.len();
                plc.lost_frame(tail);
                fifo.commit(n);
            }
            Decoder::Gsm(d) => {
                for _ in 0..samples.div_ceil(GSM_SAMPLES) {
                    let tail = fifo.tail(GSM_SAMPLES);
                    if let Ok(o) = <&mut [i16; GSM_SAMPLES]>::try_from(tail) {
                        d.conceal(o);
                        fifo.commit(GSM_SAMPLES);
                    }
                }
            }
        }
    }

    /// Conceals `samples` lost samples at the tail of `fifo` when the packet that follows them,
    /// `next`, is already buffered: the last concealed frame is interpolated towards its audio.
    fn conceal_before(&mut self, samples: usize, next: &[u8], fifo: &mut SampleFifo) {
        match self {
            Decoder::G711(c, plc) => {
                let mut ahead = [0i16; MAX_PACKET_SAMPLES];
                let m = next.len().min(MAX_PACKET_SAMPLES);
                let Ok(k) = c.decode(&next[..m], &mut ahead[..m]) else {
                    self.conceal(samples, fifo);
                    return;
                };
                let tail = fifo.tail(samples);
                let n = tail.len();
                plc.lost_frame_before(tail, &ahead[..k]);
                fifo.commit(n);
            }
            Decoder::Gsm(d) => {
                let frames = samples.div_ceil(GSM_SAMPLES);
                let next = next.first_chunk::<GSM_BYTES>();
                for i in 0..frames {
                    let tail = fifo.tail(GSM_SAMPLES);
                    if let Ok(o) = <&mut [i16; GSM_SAMPLES]>::try_from(tail) {
                        match next {
                            Some(f) if i + 1 == frames => d.conceal_before(o, f),
                            _ => d.conceal(o),
                        }
                        fifo.commit(GSM_SAMPLES);
                    }
                }
            }
        }
    }

    fn reset(&mut self) {
        match self {
            Decoder::G711(_, plc) => plc.reset(),
            Decoder::Gsm(d) => d.reset(),
        }
    }
}

/// Digits queued by the control plane for RFC 4733 sending.
#[derive(Debug, Clone, Copy)]
enum DigitPlay {
    Idle,
    On { left_ms: u32, off_ms: u32 },
    Off { left_ms: u32 },
}

/// Reports from one tick of a stream.
pub type StreamEvents = heapless::Vec<StreamEventKind, 8>;

/// A stream slot.
pub struct Stream {
    running: bool,
    cfg: Option<Box<StreamConfig>>,
    sockets: Option<StreamSockets>,
    session: Option<RtpSession>,
    jitter: JitterBuffer,
    encoder: AnyEncoder,
    decoder: Decoder,
    fifo: SampleFifo,
    noise: NoiseSource,
    in_cn: bool,
    events_tx: EventSender,
    events_rx: EventReceiver,
    /// Digit regenerated from received RFC 4733 events, for the ports linked to this stream.
    pub regen: Option<(char, DualTone)>,
    // Packetisation.
    pack: [i16; MAX_PACKET_SAMPLES],
    pack_len: usize,
    ptime_samples: usize,
    /// Media clock (without the random offset) of the first sample of the packet being filled.
    packet_start: u32,
    marker_next: bool,
    /// The last audio payload sent and its RTP timestamp: the redundant block of the next
    /// packet when the stream sends RFC 2198.
    red_prev: [u8; MAX_PACKET_SAMPLES],
    red_prev_len: usize,
    red_prev_ts: u32,
    // Control-plane digits.
    digits: Deque<(u8, u16, u16), 32>,
    digit_play: DigitPlay,
    digits_pending_report: bool,
    /// A line digit is being sent as RFC 4733.
    line_digit: bool,
    // Supervision.
    started_at: StdInstant,
    timed_out: bool,
    /// Decoded audio of this tick (what the stream "says" to its peers).
    pub down: Frame,
}

impl Stream {
    pub fn new() -> Self {
        Stream {
            running: false,
            cfg: None,
            sockets: None,
            session: None,
            jitter: JitterBuffer::new(JitterConfig::default()),
            encoder: VoiceCodec::Pcmu.encoder(),
            decoder: Decoder::new(VoiceCodec::Pcmu),
            fifo: SampleFifo::default(),
            noise: NoiseSource::new(0x1234_5678),
            in_cn: false,
            events_tx: EventSender::new(EventSenderConfig::default()),
            events_rx: EventReceiver::new(),
            regen: None,
            pack: [0; MAX_PACKET_SAMPLES],
            pack_len: 0,
            ptime_samples: 160,
            packet_start: 0,
            marker_next: true,
            red_prev: [0; MAX_PACKET_SAMPLES],
            red_prev_len: 0,
            red_prev_ts: 0,
            digits: Deque::new(),
            digit_play: DigitPlay::Idle,
            digits_pending_report: false,
            line_digit: false,
            started_at: StdInstant::now(),
            timed_out: false,
            down: SILENCE,
        }
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    pub fn config(&self) -> Option<&StreamConfig> {
        self.cfg.as_deref()
    }

    /// DTMF from linked lines must be removed from this stream's audio.
    pub fn mutes_line_dtmf(&self) -> bool {
        self.cfg.as_ref().is_some_and(|c| c.dtmf != DtmfTransport::InBand)
    }

    fn jitter_config(cfg: &StreamConfig) -> JitterConfig {
        let mut j = JitterConfig::for_8khz(u32::from(cfg.ptime_ms));
        j.min_delay = 8 * u32::from(cfg.jitter_min_ms).max(10);
        j.max_delay = 8 * u32::from(cfg.jitter_max_ms).max(cfg.jitter_min_ms.into());
        j.initial_delay = j.initial_delay.clamp(j.min_delay, j.max_delay);
        j.cn_payload_type = cfg.cn_pt;
        if cfg.red_pt.is_some() {
            // A lost packet's copy comes one packet later: wait that much longer, so that an
            // isolated loss is recovered even when the next packet is among the slowest.
            j.margin += j.frame_samples;
            j.initial_delay = (j.initial_delay + j.frame_samples).clamp(j.min_delay, j.max_delay);
        }
        j
    }

    fn accepted(cfg: &StreamConfig) -> heapless::Vec<u8, 8> {
        let mut v = heapless::Vec::new();
        let _ = v.push(cfg.payload_type);
        if let Some(t) = cfg.telephone_event_pt {
            let _ = v.push(t);
        }
        if let Some(c) = cfg.cn_pt {
            let _ = v.push(c);
        }
        if let Some(r) = cfg.red_pt {
            let _ = v.push(r);
        }
        v
    }

    fn set_codec(&mut self, cfg: &StreamConfig) {
        self.encoder = cfg.codec.encoder();
        self.decoder = Decoder::new(cfg.codec);
        self.ptime_samples = usize::from(cfg.ptime_ms) * 8;
        self.jitter = JitterBuffer::new(Self::jitter_config(cfg));
        self.fifo.clear();
        self.pack_len = 0;
        self.red_prev_len = 0;
        self.events_tx = EventSender::new(EventSenderConfig {
            packet_duration: self.ptime_samples as u16,
            ..EventSenderConfig::default()
        });
    }

    /// Opens the stream. On error the sockets and config are handed back.
    #[allow(clippy::result_large_err)]
    pub fn start(
        &mut self,
        sockets: StreamSockets,
        cfg: Box<StreamConfig>,
        now: StdInstant,
        media_clock: u32,
        seed: u64,
        phase: usize,
    ) -> Result<(), (StreamError, StreamSockets, Box<StreamConfig>)> {
        if self.running {
            return Err((StreamError::Busy, sockets, cfg));
        }
        if let Err(e) = cfg.validate() {
            return Err((e, sockets, cfg));
        }
        let wildcard =
            |s: &std::net::UdpSocket| s.local_addr().map(|a| a.ip().is_unspecified()).unwrap_or(true);
        if wildcard(&sockets.rtp) || wildcard(&sockets.rtcp) {
            return Err((StreamError::WildcardSocket, sockets, cfg));
        }
        let scfg = RtpSessionConfig {
            clock_rate: 8000,
            local_ssrc: None,
            cname: cfg.cname.clone(),
            session_bandwidth_bps: 64_000 + 16_000,
            reduced_minimum: cfg.rtcp_reduced_minimum,
            symmetric: cfg.symmetric,
            accepted_payload_types: Self::accepted(&cfg),
            expected_remote_ssrc: None,
            telephone_event_pt: cfg.telephone_event_pt,
            ..RtpSessionConfig::default()
        };
        let ntp = NtpTimestamp::from_unix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let mut session = RtpSession::new(scfg, now, ntp, Some(seed));
        session.set_remote(cfg.remote_rtp, cfg.remote_rtcp);
        self.session = Some(session);
        self.set_codec(&cfg);
        // Spread the packet ticks of streams over the packet time, so that a loop full of
        // 20 ms streams does not encode and decode everything on every other tick: the first
        // packet starts with `phase` frames of silence and playout with as many.
        let phase = phase % (self.ptime_samples / FRAME_SAMPLES).max(1);
        self.pack_len = phase * FRAME_SAMPLES;
        self.pack[..self.pack_len].fill(0);
        let tail = self.fifo.tail(phase * FRAME_SAMPLES);
        let k = tail.len();
        tail.fill(0);
        self.fifo.commit(k);
        self.events_rx.reset();
        self.regen = None;
        self.in_cn = false;
        self.packet_start = media_clock.wrapping_sub((phase * FRAME_SAMPLES) as u32);
        self.marker_next = true;
        self.digits.clear();
        self.digit_play = DigitPlay::Idle;
        self.digits_pending_report = false;
        self.line_digit = false;
        self.started_at = now;
        self.timed_out = false;
        self.down = SILENCE;
        self.sockets = Some(sockets);
        self.cfg = Some(cfg);
        self.running = true;
        Ok(())
    }

    /// Applies a renegotiation; returns the previous config for retirement.
    pub fn modify(
        &mut self,
        cfg: Box<StreamConfig>,
    ) -> Result<Box<StreamConfig>, (StreamError, Box<StreamConfig>)> {
        if !self.running {
            return Err((StreamError::NotRunning, cfg));
        }
        if let Err(e) = cfg.validate() {
            return Err((e, cfg));
        }
        let Some(old) = self.cfg.take() else {
            return Err((StreamError::NotRunning, cfg));
        };
        if let Some(s) = self.session.as_mut() {
            if old.remote_rtp != cfg.remote_rtp || old.remote_rtcp != cfg.remote_rtcp {
                s.set_remote(cfg.remote_rtp, cfg.remote_rtcp);
            }
            s.set_accepted_payload_types(&Self::accepted(&cfg));
            s.set_telephone_event_pt(cfg.telephone_event_pt);
        }
        if old.codec != cfg.codec
            || old.ptime_ms != cfg.ptime_ms
            || old.payload_type != cfg.payload_type
            || old.jitter_min_ms != cfg.jitter_min_ms
            || old.jitter_max_ms != cfg.jitter_max_ms
            || old.red_pt != cfg.red_pt
        {
            // Keep the media clock running: the next packet starts where the last one ended.
            self.packet_start = self.packet_start.wrapping_add(self.pack_len as u32);
            self.set_codec(&cfg);
            self.marker_next = true;
        }
        if !old.direction.sends() && cfg.direction.sends() {
            self.marker_next = true;
        }
        self.timed_out = false;
        self.cfg = Some(cfg);
        Ok(old)
    }

    /// Sends BYE and closes; returns the sockets and config.
    pub fn stop(
        &mut self,
        now: StdInstant,
        buf: &mut [u8],
    ) -> (Option<StreamSockets>, Option<Box<StreamConfig>>) {
        if let (Some(session), Some(sockets)) = (self.session.as_mut(), self.sockets.as_ref())
            && let Ok(out) = session.write_bye(now, None, buf)
        {
            let _ = sockets.rtcp.send_to(&buf[..out.len], out.to);
        }
        self.running = false;
        self.session = None;
        self.regen = None;
        self.down = SILENCE;
        (self.sockets.take(), self.cfg.take())
    }

    /// Queues digits for RFC 4733 sending. False if the stream has no telephone-event.
    pub fn queue_digits(&mut self, digits: &str, on_ms: u16, off_ms: u16) -> bool {
        if self.cfg.as_ref().is_none_or(|c| c.telephone_event_pt.is_none()) {
            return false;
        }
        for c in digits.chars() {
            if let Some(code) = dtmf_event_code(c) {
                let _ = self.digits.push_back((code, on_ms.max(40), off_ms.max(40)));
            }
        }
        self.digits_pending_report = true;
        true
    }

    /// A digit heard on a linked line, or received as RFC 4733 on a bridged stream, began or
    /// ended (sent as RFC 4733 when this stream's transport is `Rfc4733`).
    pub fn line_digit(&mut self, digit: char, start: bool) {
        let Some(cfg) = self.cfg.as_ref() else { return };
        if cfg.dtmf != DtmfTransport::Rfc4733 || cfg.telephone_event_pt.is_none() || !cfg.direction.sends() {
            return;
        }
        if start {
            if let Some(code) = dtmf_event_code(digit) {
                self.events_tx
                    .start(code, self.media_timestamp(self.packet_start));
                self.line_digit = true;
            }
        } else if self.line_digit {
            self.events_tx.stop();
            self.line_digit = false;
        }
    }

    fn media_timestamp(&self, clock: u32) -> u32 {
        let off = self.session.as_ref().map_or(0, |s| s.timestamp_offset());
        off.wrapping_add(clock)
    }

    /// Reads every waiting datagram (bounded) from the RTP socket, and from the RTCP socket
    /// when `poll_rtcp`.
    pub fn receive(
        &mut self,
        now: StdInstant,
        samples_now: u32,
        buf: &mut [u8; MAX_DATAGRAM],
        poll_rtcp: bool,
        stats: &StreamStats,
        events: &mut StreamEvents,
    ) {
        let (Some(cfg), Some(sockets), Some(session)) =
            (self.cfg.as_deref(), self.sockets.as_ref(), self.session.as_mut())
        else {
            return;
        };
        let receives = cfg.direction.receives();
        for _ in 0..MAX_READS_PER_TICK {
            let (n, from) = match sockets.rtp.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            };
            let rx = match session.on_rtp(now, from, &buf[..n]) {
                Ok(rx) => rx,
                Err(_) => {
                    stats.dropped_datagrams.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let p = rx.packet;
            if self.timed_out {
                self.timed_out = false;
                let _ = events.push(StreamEventKind::RtpResumed);
            }
            if rx.new_source {
                self.decoder.reset();
                self.events_rx.reset();
                self.regen = None;
                let _ = events.push(StreamEventKind::NewSource { ssrc: p.ssrc() });
            }
            stats.packets_received.fetch_add(1, Ordering::Relaxed);
            // RFC 2198: the primary block is handled as the packet itself would be.
            let (pt, payload, red) = if Some(p.payload_type()) == cfg.red_pt {
                match RedPayload::parse(p.payload()) {
                    Ok(red) => {
                        let b = red.primary();
                        (b.payload_type, b.data, Some(red))
                    }
                    Err(_) => {
                        stats.dropped_datagrams.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            } else {
                (p.payload_type(), p.payload(), None)
            };
            if Some(pt) == cfg.telephone_event_pt {
                self.jitter.note_foreign_seq(p.sequence());
                if !receives {
                    continue;
                }
                let Ok(ev) = EventPayload::parse(payload) else {
                    continue;
                };
                let Some(first) = ev.blocks().next() else { continue };
                for notice in self
                    .events_rx
                    .on_packet(p.timestamp(), p.marker(), first, samples_now)
                {
                    Self::notice(&mut self.regen, notice, events);
                }
                continue;
            }
            if !receives {
                continue;
            }
            let samples = if Some(pt) == cfg.cn_pt {
                0
            } else {
                let s = self.decoder.decoded_len(payload.len());
                if s == 0 || s > MAX_PACKET_SAMPLES {
                    stats.dropped_datagrams.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                s as u32
            };
            self.jitter.push(
                samples_now,
                p.ssrc(),
                p.sequence(),
                p.timestamp(),
                p.marker(),
                pt,
                samples,
                payload,
            );
            // Redundant copies of earlier frames of the negotiated codec fill in those whose
            // own packet is missing; the jitter buffer ignores the others. The copy's packet
            // number follows from how many frames lie between it and the primary.
            for b in red.iter().flat_map(|r| r.redundant()) {
                let s = self.decoder.decoded_len(b.data.len()) as u32;
                let off = u32::from(b.timestamp_offset);
                if b.payload_type != cfg.payload_type
                    || s == 0
                    || s as usize > MAX_PACKET_SAMPLES
                    || off == 0
                    || !off.is_multiple_of(s)
                    || off / s > MAX_RED_DISTANCE
                {
                    continue;
                }
                self.jitter.push_redundant(
                    p.ssrc(),
                    p.sequence().wrapping_sub((off / s) as u16),
                    b.timestamp(p.timestamp()),
                    b.payload_type,
                    s,
                    b.data,
                );
            }
        }
        if let Some(n) = self.events_rx.on_timeout(samples_now, EVENT_TIMEOUT) {
            Self::notice(&mut self.regen, n, events);
        }
        // RTCP comes every few seconds: its socket is read every few ticks, which saves a
        // system call per stream per tick.
        let rtcp_reads = if poll_rtcp { MAX_READS_PER_TICK } else { 0 };
        for _ in 0..rtcp_reads {
            let (n, from) = match sockets.rtcp.recv_from(buf) {
                Ok(r) => r,
                Err(_) => break,
            };
            stats.rtcp_received.fetch_add(1, Ordering::Relaxed);
            if let Ok(summary) = session.on_rtcp(now, from, &buf[..n]) {
                if summary.bye {
                    let _ = events.push(StreamEventKind::RtcpBye);
                }
                if let Some(rtt) = summary.round_trip {
                    stats
                        .round_trip_us
                        .store(rtt.as_micros().min(u32::MAX as u128) as u32, Ordering::Relaxed);
                }
            }
        }
        // RTP timeout supervision.
        if receives && !cfg.rtp_timeout.is_zero() && !self.timed_out {
            let silent = session
                .remote_silent_for(now)
                .unwrap_or_else(|| now.saturating_duration_since(self.started_at));
            if silent >= cfg.rtp_timeout {
                self.timed_out = true;
                let _ = events.push(StreamEventKind::RtpTimeout {
                    silent_ms: silent.as_millis().min(u32::MAX as u128) as u32,
                });
            }
        }
    }

    fn notice(regen: &mut Option<(char, DualTone)>, n: EventNotice, events: &mut StreamEvents) {
        match n {
            EventNotice::Begin { event, .. } => {
                if let Some(c) = dtmf_char(event) {
                    *regen = DualTone::dtmf(c).map(|t| (c, t));
                    let _ = events.push(StreamEventKind::DigitBegin { digit: c });
                }
            }
            EventNotice::End { event, duration, .. } => {
                if let Some(c) = dtmf_char(event) {
                    if regen.is_some_and(|(d, _)| d == c) {
                        *regen = None;
                    }
                    let _ = events.push(StreamEventKind::DigitEnd { digit: c, duration });
                }
            }
        }
    }

    /// Produces this tick's decoded audio in `self.down`.
    pub fn playout(&mut self, samples_now: u32) {
        let Some(cfg) = self.cfg.as_deref() else {
            self.down = SILENCE;
            return;
        };
        if !cfg.direction.receives() {
            self.down = SILENCE;
            return;
        }
        let frame = self.jitter.config().frame_samples as usize;
        let mut guard = 0;
        while self.fifo.len() < FRAME_SAMPLES && guard < 8 {
            guard += 1;
            match self.jitter.pop(samples_now) {
                Playout::Frame {
                    payload_type,
                    payload,
                    samples,
                    ..
                } => {
                    if payload_type == cfg.payload_type {
                        self.in_cn = false;
                        let before = self.fifo.len();
                        self.decoder.decode(payload, &mut self.fifo);
                        if self.fifo.len() == before {
                            self.decoder.conceal(samples.max(1) as usize, &mut self.fifo);
                        }
                    } else if Some(payload_type) == cfg.cn_pt {
                        if let Ok(cn) = ComfortNoise::parse(payload) {
                            self.noise.set_level_dbov(cn.level());
                        }
                        self.in_cn = true;
                        let n = if samples > 0 { samples as usize } else { frame };
                        let tail = self.fifo.tail(n);
                        let k = tail.len();
                        self.noise.fill(tail);
                        self.fifo.commit(k);
                    }
                }
                Playout::Lost { samples } | Playout::Stretch { samples } => {
                    if self.in_cn {
                        let tail = self.fifo.tail(samples as usize);
                        let k = tail.len();
                        self.noise.fill(tail);
                        self.fifo.commit(k);
                    } else {
                        match self.jitter.next_frame() {
                            Some((pt, next)) if pt == cfg.payload_type => {
                                self.decoder
                                    .conceal_before(samples as usize, next, &mut self.fifo)
                            }
                            _ => self.decoder.conceal(samples as usize, &mut self.fifo),
                        }
                    }
                }
                Playout::Silence { samples } => {
                    let tail = self.fifo.tail(samples as usize);
                    let k = tail.len();
                    if self.in_cn {
                        self.noise.fill(tail);
                    } else {
                        tail.fill(0);
                    }
                    self.fifo.commit(k);
                }
                Playout::Empty { samples } => {
                    let tail = self.fifo.tail(samples as usize);
                    let k = tail.len();
                    tail.fill(0);
                    self.fifo.commit(k);
                }
            }
        }
        self.fifo.take_frame(&mut self.down);
        if let Some((_, tone)) = self.regen.as_mut() {
            // The received digit replaces the audio (the sender mutes it meanwhile).
            self.down = SILENCE;
            tone.add_to(&mut self.down);
        }
    }

    /// Takes this tick's audio for the network (already mixed and muted as needed), sends a
    /// packet when one is complete, and RTCP when due.
    pub fn send(
        &mut self,
        input: &Frame,
        now: StdInstant,
        buf: &mut [u8; MAX_DATAGRAM],
        stats: &StreamStats,
        events: &mut StreamEvents,
    ) {
        let (Some(cfg), Some(sockets), Some(session)) =
            (self.cfg.as_deref(), self.sockets.as_ref(), self.session.as_mut())
        else {
            return;
        };
        // Control-plane digits, in 10 ms steps.
        match self.digit_play {
            DigitPlay::Idle => {
                if !self.events_tx.is_active()
                    && let Some((code, on, off)) = self.digits.pop_front()
                {
                    let ts = session.timestamp_offset().wrapping_add(self.packet_start);
                    self.events_tx.start(code, ts);
                    self.digit_play = DigitPlay::On {
                        left_ms: u32::from(on),
                        off_ms: u32::from(off),
                    };
                } else if self.digits_pending_report && !self.events_tx.is_active() {
                    self.digits_pending_report = false;
                    let _ = events.push(StreamEventKind::DigitsSent);
                }
            }
            DigitPlay::On { left_ms, off_ms } => {
                if left_ms <= 10 {
                    self.events_tx.stop();
                    self.digit_play = DigitPlay::Off { left_ms: off_ms };
                } else {
                    self.digit_play = DigitPlay::On {
                        left_ms: left_ms - 10,
                        off_ms,
                    };
                }
            }
            DigitPlay::Off { left_ms } => {
                self.digit_play = if left_ms <= 10 {
                    DigitPlay::Idle
                } else {
                    DigitPlay::Off {
                        left_ms: left_ms - 10,
                    }
                };
            }
        }

        let n = FRAME_SAMPLES.min(MAX_PACKET_SAMPLES - self.pack_len);
        self.pack[self.pack_len..self.pack_len + n].copy_from_slice(&input[..n]);
        self.pack_len += n;
        if self.pack_len < self.ptime_samples {
            return;
        }
        let ts = session.timestamp_offset().wrapping_add(self.packet_start);
        self.packet_start = self.packet_start.wrapping_add(self.ptime_samples as u32);
        let pcm = &self.pack[..self.ptime_samples];
        self.pack_len = 0;
        if !cfg.direction.sends() {
            return;
        }
        let mut payload = [0u8; MAX_PACKET_SAMPLES];
        let mut red_payload = [0u8; MAX_RED_PAYLOAD];
        let (pt, marker, ts, len) = if self.events_tx.is_active() {
            let Some(te) = cfg.telephone_event_pt else { return };
            let Some(ev) = self.events_tx.poll() else { return };
            let len = ev.event.write(&mut payload).unwrap_or(0);
            self.marker_next = true;
            (te, ev.marker, ev.timestamp, len)
        } else {
            let Ok(len) = self.encoder.encode(pcm, &mut payload) else {
                return;
            };
            let m = self.marker_next;
            self.marker_next = false;
            (cfg.payload_type, m, ts, len)
        };
        // RFC 2198: audio goes out as RED, the RTP header (timestamp, marker) that of the
        // primary; the previous frame rides along when it directly precedes this one (not
        // across a pause for events, hold or a codec change). Events keep their own type.
        let (pt, body) = match cfg.red_pt {
            Some(red_pt) if pt == cfg.payload_type => {
                let prev = (self.red_prev_len > 0
                    && self.red_prev_ts.wrapping_add(self.ptime_samples as u32) == ts)
                    .then(|| RedBlock {
                        payload_type: pt,
                        timestamp_offset: self.ptime_samples as u16,
                        data: &self.red_prev[..self.red_prev_len],
                    });
                let n = RedundantAudio::new(pt, &payload[..len]).and_then(|mut v| {
                    if let Some(b) = prev {
                        v.push_redundant(b)?;
                    }
                    v.write(&mut red_payload)
                });
                self.red_prev[..len].copy_from_slice(&payload[..len]);
                self.red_prev_len = len;
                self.red_prev_ts = ts;
                match n {
                    Ok(n) => (red_pt, &red_payload[..n]),
                    Err(_) => return,
                }
            }
            _ => (pt, &payload[..len]),
        };
        let len = body.len();
        match session.write_rtp(now, pt, ts, marker, body, buf) {
            Ok(out) => match sockets.rtp.send_to(&buf[..out.len], out.to) {
                Ok(_) => {
                    stats.packets_sent.fetch_add(1, Ordering::Relaxed);
                    stats.octets_sent.fetch_add(len as u64, Ordering::Relaxed);
                }
                Err(_) => {
                    stats.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(_) => {
                // No destination yet (0.0.0.0 hold, or waiting to latch): nothing to do.
            }
        }
    }

    /// Sends RTCP when due and publishes the reception counters.
    pub fn housekeeping(&mut self, now: StdInstant, buf: &mut [u8; MAX_DATAGRAM], stats: &StreamStats) {
        let (Some(sockets), Some(session)) = (self.sockets.as_ref(), self.session.as_mut()) else {
            return;
        };
        if now >= session.next_deadline()
            && let Ok(Some(out)) = session.poll_rtcp(now, buf)
            && sockets.rtcp.send_to(&buf[..out.len], out.to).is_ok()
        {
            stats.rtcp_sent.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(r) = session.remote_source() {
            stats
                .packets_lost
                .store(r.stats.cumulative_lost().max(0) as u64, Ordering::Relaxed);
            stats.jitter.store(r.stats.jitter(), Ordering::Relaxed);
        }
        let j = self.jitter.stats();
        stats.jitter_delay.store(j.current_delay, Ordering::Relaxed);
        stats.concealed_frames.store(j.lost, Ordering::Relaxed);
        stats.late_packets.store(j.late, Ordering::Relaxed);
        stats.recovered_frames.store(j.recovered, Ordering::Relaxed);
    }

    /// The address RTP goes to (after latching).
    pub fn destination(&self) -> Option<SocketAddr> {
        self.session.as_ref().and_then(|s| s.rtp_destination())
    }

    /// The RTCP round trip, when known.
    pub fn round_trip(&self) -> Option<Duration> {
        self.session.as_ref().and_then(|s| s.last_round_trip())
    }
}

impl Default for Stream {
    fn default() -> Self {
        Self::new()
    }
}

/// Event block for a DTMF character (used by tests and the control plane's INFO relay).
pub fn telephone_event(digit: char, end: bool, duration: u16) -> Option<TelephoneEvent> {
    Some(TelephoneEvent {
        event: dtmf_event_code(digit)?,
        end,
        volume: 10,
        duration,
    })
}
