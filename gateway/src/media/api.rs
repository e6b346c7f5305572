//! The control plane's interface to the media loop: commands in, events out, counters shared.
//!
//! Everything here crosses a bounded lock-free queue ([`rtrb`]). Objects that need the heap to
//! be built (caller ID encoders) are built by the control plane and moved in; objects the loop
//! lets go of (sockets, encoders) are moved back out through the [`Retired`] queue, so the loop
//! neither allocates nor frees.

use core::fmt;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::net::UdpSocket;

use codecs::callerid::{CallerId, CidEncoder, CidError, CidFormat, CidStandard, DtmfClipStyle};
use codecs::codec::VoiceCodec;
use codecs::tones::{Heard, ToneKind, TonePlan};
use hal::LineError;
use hal::fxo::FxoEvent;
use hal::fxs::{FxsEvent, HookTiming, LineFeed};
use heapless::{String as HString, Vec as HVec};

/// A media stream slot, chosen by the control plane (`0..MediaConfig::max_streams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u16);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {}", self.0)
    }
}

/// Something audio flows from and to: an analog port or an RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Port(u8),
    Stream(StreamId),
}

/// SDP media direction (RFC 3264), from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    /// We send, the peer does not (we put the peer on hold... or it holds us with recvonly).
    SendOnly,
    /// We only receive.
    RecvOnly,
    /// Neither (hold with a=inactive); RTCP continues.
    Inactive,
}

impl Direction {
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// How DTMF heard on the line travels on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfTransport {
    /// RFC 4733 events (needs `telephone_event_pt`); the tone is muted from the audio.
    #[default]
    Rfc4733,
    /// Left in the audio as it is (G.711 only in practice).
    InBand,
    /// Neither: digits only reach the control plane (SIP INFO); the tone is muted from the audio.
    Muted,
}

/// The negotiated parameters of one RTP stream (from the SDP offer/answer).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// Where to send RTP; `None` (or 0.0.0.0) sends nothing until the peer is known.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP; defaults to the RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    pub codec: VoiceCodec,
    /// Payload type for `codec` (its static one unless the SDP mapped another).
    pub payload_type: u8,
    /// Packetisation time, 10..=60 ms in 10 ms steps (20 ms steps for GSM).
    pub ptime_ms: u8,
    /// RFC 4733 payload type, when negotiated.
    pub telephone_event_pt: Option<u8>,
    /// RFC 3389 comfort noise payload type, when negotiated.
    pub cn_pt: Option<u8>,
    /// RFC 2198 `red/8000` payload type, when negotiated: audio goes out as RED carrying the
    /// previous frame as a redundant block, and received RED fills in frames whose own packet
    /// is missing. RFC 4733 events keep their own payload type.
    pub red_pt: Option<u8>,
    pub direction: Direction,
    /// Send to where the peer's packets come from (NAT traversal).
    pub symmetric: bool,
    pub dtmf: DtmfTransport,
    /// Report [`StreamEventKind::RtpTimeout`] after this long without packets while receiving
    /// (zero disables).
    pub rtp_timeout: Duration,
    /// RTCP CNAME.
    pub cname: HVec<u8, 64>,
    /// Jitter buffer bounds, ms.
    pub jitter_min_ms: u16,
    pub jitter_max_ms: u16,
    /// RFC 3550 RTCP reduced minimum interval (RFC 3550 6.2).
    pub rtcp_reduced_minimum: bool,
}

impl StreamConfig {
    /// Defaults for `codec` at 20 ms toward `remote_rtp`, telephone-event 101, sendrecv.
    pub fn new(codec: VoiceCodec, remote_rtp: Option<SocketAddr>) -> Self {
        StreamConfig {
            remote_rtp,
            remote_rtcp: None,
            codec,
            payload_type: codec.payload_type(),
            ptime_ms: 20,
            telephone_event_pt: Some(101),
            cn_pt: Some(13),
            red_pt: None,
            direction: Direction::SendRecv,
            symmetric: true,
            dtmf: DtmfTransport::Rfc4733,
            rtp_timeout: Duration::from_secs(30),
            cname: HVec::new(),
            jitter_min_ms: 20,
            jitter_max_ms: 300,
            rtcp_reduced_minimum: false,
        }
    }

    /// Checks what the loop cannot work with.
    pub fn validate(&self) -> Result<(), StreamError> {
        let p = self.ptime_ms;
        let step = if self.codec == VoiceCodec::Gsm { 20 } else { 10 };
        if p == 0 || p > 60 || !p.is_multiple_of(step) {
            return Err(StreamError::BadPtime { ptime_ms: p });
        }
        if self.payload_type > 127
            || self
                .telephone_event_pt
                .is_some_and(|t| t > 127 || t == self.payload_type)
            || self.red_pt.is_some_and(|r| {
                r > 127
                    || r == self.payload_type
                    || Some(r) == self.telephone_event_pt
                    || Some(r) == self.cn_pt
            })
        {
            return Err(StreamError::BadPayloadType);
        }
        if self.jitter_min_ms > self.jitter_max_ms {
            return Err(StreamError::BadJitterBounds);
        }
        Ok(())
    }
}

/// The RTP/RTCP socket pair of a stream, bound by the control plane to the address put in the
/// SDP (never the wildcard), and set non-blocking.
#[derive(Debug)]
pub struct StreamSockets {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

/// A caller ID message being played (an encoder built outside the loop).
pub struct CallerIdSamples(pub Box<CidEncoder>);

impl fmt::Debug for CallerIdSamples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallerIdSamples")
            .field("done", &self.0.is_done())
            .finish()
    }
}

/// Where DTMF digits are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitTarget {
    /// In-band tones on the line (FXO dialling, or a local phone).
    Line(u8),
    /// RFC 4733 events on a stream.
    Stream(StreamId),
}

/// Digits for [`MediaCommand::SendDigits`]: at most 32.
pub type Digits = HString<32>;

/// What the control plane asks of the loop.
#[derive(Debug)]
pub enum MediaCommand {
    /// Drive an FXS line's feed (ringing, reversal, on-hook transmission...).
    SetFeed {
        port: u8,
        feed: LineFeed,
    },
    /// Seize (true) or release an FXO line.
    SetOffHook {
        port: u8,
        off_hook: bool,
    },
    /// New hook timing windows for an FXS port (from the port's settings).
    SetHookTiming {
        port: u8,
        timing: HookTiming,
    },

    /// Opens stream `stream` on `sockets` (which must be non-blocking). Fails with
    /// [`StreamEventKind::Error`] if the slot is busy or the config invalid; the sockets then
    /// come back through [`Retired`].
    StartStream {
        stream: StreamId,
        sockets: StreamSockets,
        config: Box<StreamConfig>,
    },
    /// New negotiated parameters (re-INVITE: hold/resume, codec change, peer moved). The RTP
    /// session (SSRC, sequence) continues; a codec or ptime change resets the codec state.
    ModifyStream {
        stream: StreamId,
        config: Box<StreamConfig>,
    },
    /// Sends RTCP BYE, closes the stream and hands its sockets back through [`Retired`].
    StopStream {
        stream: StreamId,
    },

    /// Audio flows both ways between `a` and `b` (port to stream: a call; port to port: a local
    /// call; stream to stream: a transcoding bridge). An endpoint linked to several others hears
    /// their sum (three-way conference).
    Connect {
        a: Endpoint,
        b: Endpoint,
    },
    /// Removes the link between `a` and `b`.
    Disconnect {
        a: Endpoint,
        b: Endpoint,
    },
    /// Removes every link of `endpoint`.
    Isolate {
        endpoint: Endpoint,
    },

    /// The tone plan a port's tones and call progress detection use.
    SetTonePlan {
        port: u8,
        plan: &'static TonePlan,
    },
    /// Plays a call progress tone of the port's plan. With `over_audio` the tone is added to
    /// what the port hears (call waiting); otherwise it replaces it (dial tone, ringback, busy).
    PlayTone {
        port: u8,
        tone: ToneKind,
        over_audio: bool,
    },
    StopTone {
        port: u8,
    },
    /// Plays caller ID samples to the line (during on-hook transmission, or off-hook for
    /// call-waiting caller ID); build it with [`MediaCommand::caller_id`].
    SendCallerId {
        port: u8,
        encoder: CallerIdSamples,
    },
    /// Sends DTMF digits: `on_ms` tone, `off_ms` pause each.
    SendDigits {
        target: DigitTarget,
        digits: Digits,
        on_ms: u16,
        off_ms: u16,
    },
    /// Pulse-dials digits on an FXO line (already seized): `break_ms`/`make_ms` per pulse,
    /// `interdigit_ms` between digits.
    PulseDial {
        port: u8,
        digits: Digits,
        break_ms: u16,
        make_ms: u16,
        interdigit_ms: u16,
    },

    /// Gains in dB: `to_line_db` on what the line hears, `from_line_db` on what it says.
    SetGain {
        port: u8,
        to_line_db: f32,
        from_line_db: f32,
    },
    /// Echo canceller on/off and its non-linear processor; `reset` forgets the echo path.
    SetEcho {
        port: u8,
        enabled: bool,
        nlp: bool,
        reset: bool,
    },
    /// Call progress detection on the line input (FXO: dial tone before dialling, busy or
    /// disconnect tone, silence). `silence_ms` > 0 reports [`AudioEventKind::LongSilence`].
    SetCallProgress {
        port: u8,
        enabled: bool,
        silence_ms: u32,
    },
    /// DTMF detection on the line input (on by default).
    SetDtmfDetect {
        port: u8,
        enabled: bool,
    },
}

impl MediaCommand {
    /// Builds a caller ID command (the encoder is allocated here, outside the loop). DTMF
    /// caller ID uses `A<number>C` framing.
    pub fn caller_id(
        port: u8,
        caller: &CallerId,
        standard: CidStandard,
        format: CidFormat,
    ) -> Result<MediaCommand, CidError> {
        let encoder = if standard == CidStandard::Dtmf || format == CidFormat::Dtmf {
            CidEncoder::new_dtmf(caller, DtmfClipStyle::CTerminated)?
        } else {
            CidEncoder::new(caller, standard, format)?
        };
        Ok(MediaCommand::SendCallerId {
            port,
            encoder: CallerIdSamples(Box::new(encoder)),
        })
    }

    /// `StartStream` with the config boxed.
    pub fn start_stream(stream: StreamId, sockets: StreamSockets, config: StreamConfig) -> MediaCommand {
        MediaCommand::StartStream {
            stream,
            sockets,
            config: Box::new(config),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEventKind {
    Fxs(FxsEvent),
    Fxo(FxoEvent),
    /// The line backend failed; the port is out of service until it recovers.
    Fault(LineError),
}

/// Line supervision on a port, for the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineEvent {
    pub port: u8,
    pub kind: LineEventKind,
}

/// What the audio path of a port noticed or finished. Sample times count from the loop's start
/// (8 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioEventKind {
    /// A DTMF digit was validated on the line input.
    DtmfStart { digit: char, at_sample: u64 },
    /// The digit ended; `duration_ms` is its measured length.
    DtmfEnd { digit: char, duration_ms: u32 },
    /// The call progress detector changed its mind (dial tone, busy, ringback, silence, other).
    CallProgress { heard: Heard, at_sample: u64 },
    /// The line input has been silent for the configured time (once per silence).
    LongSilence { ms: u32 },
    /// A tone with an end (stutter dial intro, SIT) finished.
    ToneDone,
    /// The caller ID samples have all been played.
    CallerIdDone,
    /// Digits sent with `SendDigits` to the line or pulse-dialled are all out.
    DigitsSent,
    /// Caller ID received on an on-hook FXO line (Bell 202 or V.23 FSK in the ring pause, or
    /// DTMF before ringing), checksum verified. Fixed-size text: no allocation in the loop.
    CallerId(CallerId),
}

/// An audio event of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioEvent {
    pub port: u8,
    pub kind: AudioEventKind,
}

/// Why a stream command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// The id is beyond the configured number of streams.
    NoSuchSlot,
    /// `StartStream` on a running stream.
    Busy,
    /// `ModifyStream`/`StopStream`/`Connect` on a stream that is not running.
    NotRunning,
    BadPtime {
        ptime_ms: u8,
    },
    BadPayloadType,
    BadJitterBounds,
    /// A port or link table limit was hit.
    NoRoom,
    /// A local socket address is the wildcard.
    WildcardSocket,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::NoSuchSlot => write!(f, "no such stream slot"),
            StreamError::Busy => write!(f, "stream slot already in use"),
            StreamError::NotRunning => write!(f, "stream not running"),
            StreamError::BadPtime { ptime_ms } => write!(f, "unsupported ptime {ptime_ms} ms"),
            StreamError::BadPayloadType => write!(f, "bad payload type"),
            StreamError::BadJitterBounds => write!(f, "jitter buffer minimum above maximum"),
            StreamError::NoRoom => write!(f, "link table full"),
            StreamError::WildcardSocket => write!(f, "socket bound to the wildcard address"),
        }
    }
}

impl std::error::Error for StreamError {}

/// What happened on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEventKind {
    Started,
    Stopped,
    /// A command about this stream (or link) failed.
    Error(StreamError),
    /// An RFC 4733 digit began (reported once, however often it was retransmitted).
    DigitBegin {
        digit: char,
    },
    /// It ended; `duration` in samples.
    DigitEnd {
        digit: char,
        duration: u32,
    },
    /// No RTP for the configured time while receiving (once, until packets resume).
    RtpTimeout {
        silent_ms: u32,
    },
    /// Packets flow again after a timeout.
    RtpResumed,
    /// The peer sent RTCP BYE.
    RtcpBye,
    /// The remote source changed SSRC or restarted (decoders reset).
    NewSource {
        ssrc: u32,
    },
    /// `SendDigits` to this stream finished.
    DigitsSent,
}

/// A stream event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEvent {
    pub stream: StreamId,
    pub kind: StreamEventKind,
}

/// Everything the loop reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    Line(LineEvent),
    Audio(AudioEvent),
    Stream(StreamEvent),
}

/// Objects the loop gives back for the control plane to drop (closing sockets, freeing memory).
#[derive(Debug)]
pub enum Retired {
    Sockets(StreamSockets),
    CallerId(CallerIdSamples),
    Config(Box<StreamConfig>),
}

/// Per-stream counters, published every tick while the stream runs (status page, logs).
#[derive(Debug, Default)]
pub struct StreamStats {
    pub running: AtomicBool,
    pub packets_sent: AtomicU64,
    pub octets_sent: AtomicU64,
    pub packets_received: AtomicU64,
    /// Cumulative lost (RFC 3550 A.3), clamped at 0.
    pub packets_lost: AtomicU64,
    /// Interarrival jitter, timestamp units (8 kHz).
    pub jitter: AtomicU32,
    /// Current jitter buffer delay and target, samples.
    pub jitter_delay: AtomicU32,
    /// Frames concealed (lost or late), and late/duplicate/overflow packets.
    pub concealed_frames: AtomicU64,
    pub late_packets: AtomicU64,
    /// Frames played from an RFC 2198 redundant copy because their own packet was missing.
    pub recovered_frames: AtomicU64,
    /// Datagrams refused by the session (foreign source, bad payload type, malformed...).
    pub dropped_datagrams: AtomicU64,
    /// Last round trip from RTCP, µs (0 unknown).
    pub round_trip_us: AtomicU32,
    /// Send errors (socket full, no route).
    pub send_errors: AtomicU64,
    pub rtcp_sent: AtomicU64,
    pub rtcp_received: AtomicU64,
}

impl StreamStats {
    pub(crate) fn clear(&self) {
        for a in [
            &self.packets_sent,
            &self.octets_sent,
            &self.packets_received,
            &self.packets_lost,
            &self.concealed_frames,
            &self.late_packets,
            &self.recovered_frames,
            &self.dropped_datagrams,
            &self.send_errors,
            &self.rtcp_sent,
            &self.rtcp_received,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        self.jitter.store(0, Ordering::Relaxed);
        self.jitter_delay.store(0, Ordering::Relaxed);
        self.round_trip_us.store(0, Ordering::Relaxed);
    }
}

/// Counters the loop publishes (read by the status page).
#[derive(Debug, Default)]
pub struct MediaStats {
    pub ticks: AtomicU64,
    /// Periods lost because the loop was late (PCM xruns / sim ticks skipped).
    pub overruns: AtomicU64,
    /// Events dropped because the control plane did not drain its queue.
    pub events_dropped: AtomicU64,
    /// Line backend errors.
    pub line_errors: AtomicU64,
    /// Longest tick processing time seen (after the PCM wait), µs.
    pub max_tick_us: AtomicU32,
    /// Objects dropped inside the loop because the retired queue was full.
    pub retire_overflow: AtomicU64,
    /// The loop runs with SCHED_FIFO, and with its memory locked.
    pub realtime: AtomicBool,
    pub memory_locked: AtomicBool,
    /// One entry per stream slot.
    pub streams: Box<[StreamStats]>,
}

impl MediaStats {
    pub fn new(max_streams: usize) -> Self {
        MediaStats {
            streams: (0..max_streams).map(|_| StreamStats::default()).collect(),
            ..MediaStats::default()
        }
    }

    pub fn stream(&self, id: StreamId) -> Option<&StreamStats> {
        self.streams.get(id.0 as usize)
    }
}

/// Sizes fixed when the loop is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// Stream slots (each holds a jitter buffer and codec state, about 20 KB).
    pub max_streams: usize,
    /// Echo tail of every port's canceller, ms (8..=128).
    pub echo_tail_ms: u32,
    /// SCHED_FIFO priority for the loop thread (1..=99); 0 leaves the scheduling alone.
    pub rt_priority: i32,
    /// Lock the process memory (mlockall) when the loop starts.
    pub lock_memory: bool,
    /// Depth of the command, event and retired queues.
    pub queue_depth: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            max_streams: 8,
            echo_tail_ms: 64,
            rt_priority: 60,
            lock_memory: true,
            queue_depth: 256,
        }
    }
}

pub(crate) fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<MediaCommand>();
    is_send::<Retired>();
    is_send::<MediaEvent>();
}
