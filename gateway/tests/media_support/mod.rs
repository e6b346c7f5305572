//! Shared pieces of the media loop tests: a virtual PCM bus that never sleeps, an always
//! off-hook FXS line, an RTP peer built on `gateway::rtp`, and signal measurements.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicI16, AtomicU64, Ordering};

use codecs::codec::{AnyDecoder, AnyEncoder, VoiceCodec, VoiceDecoder, VoiceEncoder};
use gateway::media::{MediaCommand, StreamConfig, StreamId, StreamSockets};
use gateway::rtp::RtpPacket;
use gateway::rtp::dtmf_event::{EventNotice, EventPayload, EventReceiver, TelephoneEvent, dtmf_char};
use gateway::rtp::packet::RtpHeader;
use gateway::rtp::red::{RedBlock, RedPayload, RedundantAudio};
use hal::fxs::{FxsLine, Hook, HookSample, LineFeed};
use hal::pcm::{FRAME_SAMPLES, Frame, PcmBus, SILENCE, TickReport};
use hal::{Instant, LineError};

static NEXT_SSRC: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

pub const SPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/audio/speech_8k.s16le.raw"
);

pub fn speech() -> Vec<i16> {
    let bytes = std::fs::read(SPEECH).expect("speech vector");
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// What the virtual bus plays into and records from each channel.
pub struct PcmTap {
    /// Line input per channel (repeated when shorter than the run).
    pub inputs: Vec<Vec<i16>>,
    /// Echo of the played signal added to the input (hybrid), linear factor.
    pub echo: f32,
    /// Recorded line output per channel.
    pub recorded: Vec<Box<[AtomicI16]>>,
    pub ticks: AtomicU64,
}

impl PcmTap {
    pub fn new(inputs: Vec<Vec<i16>>, record_ticks: usize, echo: f32) -> Arc<PcmTap> {
        let recorded = inputs
            .iter()
            .map(|_| {
                (0..record_ticks * FRAME_SAMPLES)
                    .map(|_| AtomicI16::new(0))
                    .collect()
            })
            .collect();
        Arc::new(PcmTap {
            inputs,
            echo,
            recorded,
            ticks: AtomicU64::new(0),
        })
    }

    pub fn output(&self, ch: usize) -> Vec<i16> {
        let n = (self.ticks.load(Ordering::Relaxed) as usize * FRAME_SAMPLES).min(self.recorded[ch].len());
        self.recorded[ch][..n]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }
}

/// A PCM bus whose clock is the caller: every exchange is the next period, at once.
pub struct VirtualPcm {
    pub tap: Arc<PcmTap>,
    tick: u64,
}

impl VirtualPcm {
    pub fn new(tap: Arc<PcmTap>) -> Self {
        VirtualPcm { tap, tick: 0 }
    }
}

impl PcmBus for VirtualPcm {
    fn channels(&self) -> usize {
        self.tap.inputs.len()
    }

    fn exchange(&mut self, tx: &[Frame], rx: &mut [Frame]) -> Result<TickReport, LineError> {
        let t = self.tick as usize;
        for (ch, (out, input)) in rx.iter_mut().zip(&self.tap.inputs).enumerate() {
            let rec = &self.tap.recorded[ch];
            for (i, s) in out.iter_mut().enumerate() {
                let played = tx[ch][i];
                if let Some(r) = rec.get(t * FRAME_SAMPLES + i) {
                    r.store(played, Ordering::Relaxed);
                }
                let x = if input.is_empty() {
                    0
                } else {
                    input[(t * FRAME_SAMPLES + i) % input.len()]
                };
                *s = (f32::from(x) + self.tap.echo * f32::from(played)).clamp(-32768.0, 32767.0) as i16;
            }
        }
        self.tick += 1;
        self.tap.ticks.store(self.tick, Ordering::Relaxed);
        Ok(TickReport {
            tick: self.tick - 1,
            missed: 0,
        })
    }
}

/// An FXS line with the phone off-hook throughout.
pub struct OffHookPhone;

impl FxsLine for OffHookPhone {
    fn set_feed(&mut self, _feed: LineFeed) -> Result<(), LineError> {
        Ok(())
    }
    fn poll(&mut self, _now: Instant) -> Result<HookSample, LineError> {
        Ok(HookSample {
            hook: Hook::OffHook,
            changed_at: None,
        })
    }
}

/// Binds a non-blocking RTP/RTCP pair on 127.0.0.1.
pub fn loopback_pair() -> StreamSockets {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 == 1 || port == u16::MAX {
            continue;
        }
        let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) else {
            continue;
        };
        rtp.set_nonblocking(true).unwrap();
        rtcp.set_nonblocking(true).unwrap();
        return StreamSockets { rtp, rtcp };
    }
}

/// The far end of a stream, in the test: sends and receives RTP with `gateway::rtp`.
pub struct RtpPeer {
    pub sock: UdpSocket,
    pub rtcp: UdpSocket,
    pub codec: VoiceCodec,
    pub pt: u8,
    pub ptime: usize,
    enc: AnyEncoder,
    dec: AnyDecoder,
    seq: u16,
    ts: u32,
    ssrc: u32,
    pub to: Option<SocketAddr>,
    /// Decoded audio placed at its timestamp (relative to the first packet).
    pub heard: Vec<i16>,
    first_ts: Option<u32>,
    pub audio_packets: usize,
    pub event_packets: usize,
    pub events: EventReceiver,
    /// Digits begun, in order, as the RFC 4733 receiver reports them (each once).
    pub digits: String,
    pub markers: usize,
    pending: Vec<i16>,
    /// RFC 2198: send audio as RED with this payload type (the previous frame as redundant
    /// block) and unpack received RED.
    pub red_pt: Option<u8>,
    red_prev: Option<(u32, Vec<u8>)>,
    /// RED packets received, and those carrying a redundant block.
    pub red_packets: usize,
    pub red_with_copy: usize,
}

impl RtpPeer {
    pub fn new(codec: VoiceCodec, ptime_ms: usize) -> Self {
        let s = loopback_pair();
        RtpPeer {
            sock: s.rtp,
            rtcp: s.rtcp,
            codec,
            pt: codec.payload_type(),
            ptime: ptime_ms * 8,
            enc: codec.encoder(),
            dec: codec.decoder(),
            seq: 1000,
            ts: 50_000,
            ssrc: 0x5eed_0000 + NEXT_SSRC.fetch_add(1, Ordering::Relaxed),
            to: None,
            heard: Vec::new(),
            first_ts: None,
            audio_packets: 0,
            event_packets: 0,
            events: EventReceiver::new(),
            digits: String::new(),
            markers: 0,
            pending: Vec::new(),
            red_pt: None,
            red_prev: None,
            red_packets: 0,
            red_with_copy: 0,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// The stream config and sockets for the loop, pointing at this peer.
    pub fn start_command(&self, stream: StreamId, cfg_edit: impl FnOnce(&mut StreamConfig)) -> MediaCommand {
        let sockets = loopback_pair();
        let mut cfg = StreamConfig::new(self.codec, Some(self.addr()));
        cfg.ptime_ms = (self.ptime / 8) as u8;
        cfg.rtp_timeout = std::time::Duration::from_secs(5);
        cfg_edit(&mut cfg);
        MediaCommand::start_stream(stream, sockets, cfg)
    }

    /// Queues 10 ms of audio to send; sends a packet whenever one is complete.
    pub fn push_audio(&mut self, frame: &[i16]) {
        for pkt in self.push_audio_packets(frame) {
            if let Some(to) = self.to {
                let _ = self.sock.send_to(&pkt, to);
            }
        }
    }

    /// Like [`Self::push_audio`], returning the packets instead of sending them.
    pub fn push_audio_packets(&mut self, frame: &[i16]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(frame);
        let mut out = Vec::new();
        while self.pending.len() >= self.ptime {
            let pcm: Vec<i16> = self.pending.drain(..self.ptime).collect();
            let mut payload = vec![0u8; self.ptime];
            let n = self.enc.encode(&pcm, &mut payload).unwrap();
            let ts = self.ts;
            match self.red_pt {
                Some(red_pt) => {
                    let prev = self.red_prev.take();
                    let mut v = RedundantAudio::new(self.pt, &payload[..n]).unwrap();
                    if let Some((pts, data)) = prev
                        .as_ref()
                        .filter(|(pts, _)| pts.wrapping_add(self.ptime as u32) == ts)
                    {
                        v.push_redundant(RedBlock {
                            payload_type: self.pt,
                            timestamp_offset: ts.wrapping_sub(*pts) as u16,
                            data,
                        })
                        .unwrap();
                    }
                    let mut red = vec![0u8; v.encoded_len()];
                    v.write(&mut red).unwrap();
                    out.push(self.build(red_pt, ts, false, &red));
                    self.red_prev = Some((ts, payload[..n].to_vec()));
                }
                None => out.push(self.build(self.pt, ts, false, &payload[..n])),
            }
            self.ts = self.ts.wrapping_add(self.ptime as u32);
        }
        out
    }

    pub fn ssrc_matches(&self, ssrc: u32) -> bool {
        self.ssrc == ssrc
    }

    /// Builds the next packet (sequence number advanced) without sending it.
    pub fn build(&mut self, pt: u8, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
        let h = RtpHeader::new(pt, self.seq, ts, self.ssrc, marker);
        self.seq = self.seq.wrapping_add(1);
        let mut out = vec![0u8; 12 + payload.len()];
        let n = h.write_packet(None, payload, 0, &mut out).unwrap();
        out.truncate(n);
        out
    }

    pub fn send_raw(&mut self, pt: u8, ts: u32, marker: bool, payload: &[u8]) {
        let pkt = self.build(pt, ts, marker, payload);
        if let Some(to) = self.to {
            let _ = self.sock.send_to(&pkt, to);
        }
    }

    /// Sends one RFC 4733 event as a real sender does: begin with marker, updates, three ends.
    /// The audio clock stands still meanwhile (the event covers it). `to` gets each packet
    /// twice to exercise de-duplication.
    pub fn send_digit_packets(&mut self, digit: char, packets: u16) -> Vec<Vec<u8>> {
        let code = gateway::rtp::dtmf_event::dtmf_event_code(digit).unwrap();
        let ts = self.ts;
        let mut out = Vec::new();
        let step = self.ptime as u16;
        for k in 1..=packets {
            let ev = TelephoneEvent {
                event: code,
                end: k == packets,
                volume: 10,
                duration: step * k,
            };
            let mut p = [0u8; 4];
            ev.write(&mut p).unwrap();
            let n = if k == packets { 3 } else { 1 };
            for _ in 0..n {
                out.push(self.build(101, ts, k == 1, &p));
            }
        }
        self.ts = self.ts.wrapping_add(u32::from(step) * u32::from(packets));
        out
    }

    /// Reads everything waiting; decodes audio and follows events.
    pub fn receive(&mut self, arrival: u32) {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = self.sock.recv_from(&mut buf) {
            if self.to.is_none() {
                self.to = Some(from);
            }
            let Ok(p) = RtpPacket::parse(&buf[..n]) else {
                continue;
            };
            if p.marker() {
                self.markers += 1;
            }
            if p.payload_type() == 101 {
                self.event_packets += 1;
                let Ok(ev) = EventPayload::parse(p.payload()) else {
                    continue;
                };
                let Some(first) = ev.blocks().next() else { continue };
                for n in self.events.on_packet(p.timestamp(), p.marker(), first, arrival) {
                    if let EventNotice::Begin { event, .. } = n {
                        self.digits.push(dtmf_char(event).unwrap_or('?'));
                    }
                }
                continue;
            }
            let (pt, payload) = if Some(p.payload_type()) == self.red_pt {
                let Ok(red) = RedPayload::parse(p.payload()) else {
                    continue;
                };
                self.red_packets += 1;
                if red.redundant_count() > 0 {
                    self.red_with_copy += 1;
                }
                (red.primary().payload_type, red.primary().data)
            } else {
                (p.payload_type(), p.payload())
            };
            if pt != self.pt {
                continue;
            }
            self.audio_packets += 1;
            let first = *self.first_ts.get_or_insert(p.timestamp());
            let at = p.timestamp().wrapping_sub(first) as usize;
            let mut pcm = vec![0i16; self.dec.decoded_len(payload.len())];
            if self.dec.decode(payload, &mut pcm).is_err() {
                continue;
            }
            if at + pcm.len() < 8000 * 120 {
                if self.heard.len() < at + pcm.len() {
                    self.heard.resize(at + pcm.len(), 0);
                }
                self.heard[at..at + pcm.len()].copy_from_slice(&pcm);
            }
        }
        while self.rtcp.recv_from(&mut buf).is_ok() {}
    }
}

/// Largest normalised cross-correlation of `b` against `a` over lags `0..max_lag` (b delayed).
pub fn best_correlation(a: &[i16], b: &[i16], max_lag: usize) -> (f64, usize) {
    let mut best = (0.0, 0);
    for lag in 0..max_lag {
        if lag >= b.len() {
            break;
        }
        let n = a.len().min(b.len() - lag);
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let x = f64::from(a[i]);
            let y = f64::from(b[i + lag]);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        let c = if aa > 0.0 && bb > 0.0 {
            ab / (aa * bb).sqrt()
        } else {
            0.0
        };
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

/// Median over 500 ms segments of `a` (those with speech) of each segment's best waveform
/// correlation in `b` around the global lag: robust to a jitter buffer that changes its delay.
pub fn segment_correlation(a: &[i16], b: &[i16], max_lag: usize) -> f64 {
    let (_, lag0) = best_correlation(a, b, max_lag);
    let seg = 4000;
    let mut cs = Vec::new();
    let mut start = 0;
    while start + seg <= a.len() {
        let s = &a[start..start + seg];
        let e: f64 = s.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / seg as f64;
        let lo = (start + lag0).saturating_sub(400);
        if e.sqrt() > 300.0 && lo + seg + 800 <= b.len() {
            let (c, _) = best_correlation(s, &b[lo..], 800);
            cs.push(c);
        }
        start += seg;
    }
    cs.sort_by(|x, y| x.partial_cmp(y).unwrap());
    cs.get(cs.len() / 2).copied().unwrap_or(0.0)
}

/// Correlation of 10 ms energy envelopes (robust to codecs that keep the spectrum but not the
/// waveform, like GSM).
pub fn envelope_correlation(a: &[i16], b: &[i16], max_lag: usize) -> (f64, usize) {
    let env = |x: &[i16]| -> Vec<i16> {
        x.chunks(80)
            .map(|c| {
                let e: f64 = c.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / c.len() as f64;
                (e.sqrt().min(32767.0)) as i16
            })
            .collect()
    };
    let (ea, eb) = (env(a), env(b));
    let (c, lag) = best_correlation(&ea, &eb, max_lag / 80 + 1);
    (c, lag * 80)
}

/// DTMF digits a Q.24 receiver hears in `pcm`.
pub fn detect_digits(pcm: &[i16]) -> String {
    let mut d = codecs::dtmf::DtmfDetector::new();
    d.process(pcm);
    d.flush();
    let mut s = String::new();
    while let Some(e) = d.poll() {
        if e.kind == codecs::dtmf::DtmfEventKind::Start {
            s.push(e.digit);
        }
    }
    s
}

/// A frame of silence, for convenience.
pub const QUIET: Frame = SILENCE;
