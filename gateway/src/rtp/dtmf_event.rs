//! RFC 4733 telephone-events: payload view and value, the sender state machine (start with the
//! marker bit, constant event timestamp, duration updates every packet time, three end packets,
//! segmentation of events longer than 0xFFFF timestamp units) and the receiver (reports begin and
//! end exactly once, de-duplicates retransmissions, copes with lost begin or end packets).

use heapless::Vec as HVec;

/// Event codes 0-9, '*' (10), '#' (11), A-D (12-15), flash (16).
pub const EVENT_FLASH: u8 = 16;
const EVENT_LEN: usize = 4;
/// Largest duration field value; longer events are split into segments.
pub const MAX_SEGMENT_DURATION: u16 = 0xffff;

/// What was wrong with a telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventError {
    /// Payload empty or not a multiple of 4 bytes.
    BadLength { len: usize },
    /// Writing: buffer shorter than 4 bytes.
    BufferTooSmall,
    /// Writing: volume above 63.
    BadVolume { volume: u8 },
}

impl core::fmt::Display for EventError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            EventError::BadLength { len } => write!(f, "telephone-event payload of {len} bytes"),
            EventError::BufferTooSmall => write!(f, "telephone-event buffer too small"),
            EventError::BadVolume { volume } => write!(f, "telephone-event volume {volume} above 63"),
        }
    }
}

impl std::error::Error for EventError {}

/// One telephone-event block (RFC 4733 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TelephoneEvent {
    pub event: u8,
    /// E bit: this is (a retransmission of) the end of the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Duration in timestamp units since the event (segment) timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first block of a payload (the current event; further blocks are redundancy).
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        EventPayload::parse(payload)?
            .blocks()
            .next()
            .ok_or(EventError::BadLength { len: payload.len() })
    }

    fn read(b: &[u8]) -> Self {
        TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        }
    }

    /// Writes the 4-byte block; returns 4.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, EventError> {
        if self.volume > 63 {
            return Err(EventError::BadVolume { volume: self.volume });
        }
        if out.len() < EVENT_LEN {
            return Err(EventError::BufferTooSmall);
        }
        out[0] = self.event;
        out[1] = if self.end { 0x80 } else { 0 } | self.volume;
        out[2..4].copy_from_slice(&self.duration.to_be_bytes());
        Ok(EVENT_LEN)
    }

    /// The character of a DTMF event (0-9 * # A-D), `None` for other events.
    pub fn dtmf_char(&self) -> Option<char> {
        dtmf_char(self.event)
    }
}

/// DTMF event code to character.
pub fn dtmf_char(event: u8) -> Option<char> {
    b"0123456789*#ABCD".get(event as usize).map(|&c| c as char)
}

/// Character to DTMF event code.
pub fn dtmf_event_code(c: char) -> Option<u8> {
    let u = c.to_ascii_uppercase();
    b"0123456789*#ABCD"
        .iter()
        .position(|&x| x as char == u)
        .map(|p| p as u8)
}

/// A validated zero-copy view of a telephone-event payload (one or more 4-byte blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload<'a> {
    buf: &'a [u8],
}

impl<'a> EventPayload<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, EventError> {
        if buf.is_empty() || !buf.len().is_multiple_of(EVENT_LEN) {
            return Err(EventError::BadLength { len: buf.len() });
        }
        Ok(EventPayload { buf })
    }
    pub fn blocks(&self) -> impl Iterator<Item = TelephoneEvent> + 'a {
        self.buf.chunks_exact(EVENT_LEN).map(TelephoneEvent::read)
    }
}

/// Sender parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSenderConfig {
    /// Timestamp units per packet (e.g. 160 for 20 ms at 8 kHz).
    pub packet_duration: u16,
    /// Volume in -dBm0.
    pub volume: u8,
    /// End packets sent (RFC 4733 recommends three).
    pub end_packets: u8,
    /// Shortest event sent even if the key is released earlier (timestamp units).
    pub min_duration: u16,
}

impl Default for EventSenderConfig {
    fn default() -> Self {
        EventSenderConfig {
            packet_duration: 160,
            volume: 10,
            end_packets: 3,
            min_duration: 320,
        }
    }
}

/// One packet for the media loop to send with the negotiated telephone-event payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub marker: bool,
    /// RTP timestamp: the event (segment) start, constant over its packets.
    pub timestamp: u32,
    pub event: TelephoneEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderState {
    Idle,
    Active { first: bool, stop_requested: bool },
    Ending { left: u8 },
}

/// RFC 4733 sender: call [`EventSender::start`] on key down, [`EventSender::stop`] on key up,
/// and [`EventSender::poll`] once per packet time while [`EventSender::is_active`].
#[derive(Debug, Clone)]
pub struct EventSender {
    cfg: EventSenderConfig,
    state: SenderState,
    event: u8,
    timestamp: u32,
    /// Duration field of the current segment.
    duration: u32,
    /// Time since the event began, over all segments.
    elapsed: u32,
    /// Start of the current segment relative to the event start.
    segment_offset: u32,
}

impl EventSender {
    pub fn new(cfg: EventSenderConfig) -> Self {
        EventSender {
            cfg,
            state: SenderState::Idle,
            event: 0,
            timestamp: 0,
            duration: 0,
            elapsed: 0,
            segment_offset: 0,
        }
    }

    /// True while packets are pending (audio packets should be suppressed meanwhile).
    pub fn is_active(&self) -> bool {
        self.state != SenderState::Idle
    }

    /// Begins `event` at RTP timestamp `timestamp` (the timestamp the next audio packet would have).
    /// An event still running is ended abruptly (its end packets are not sent).
    pub fn start(&mut self, event: u8, timestamp: u32) {
        self.event = event;
        self.timestamp = timestamp;
        self.duration = 0;
        self.elapsed = 0;
        self.segment_offset = 0;
        self.state = SenderState::Active {
            first: true,
            stop_requested: false,
        };
    }

    /// The key was released: the end packets follow (after the minimum duration).
    pub fn stop(&mut self) {
        if let SenderState::Active { first, .. } = self.state {
            self.state = SenderState::Active {
                first,
                stop_requested: true,
            };
        }
    }

    /// The packet for this packet time, if any.
    pub fn poll(&mut self) -> Option<EventPacket> {
        let pd = self.cfg.packet_duration as u32;
        match self.state {
            SenderState::Idle => None,
            SenderState::Active {
                first,
                stop_requested,
            } => {
                self.elapsed += pd;
                let mut marker = first;
                if self.elapsed - self.segment_offset > MAX_SEGMENT_DURATION as u32
                    && self.duration >= MAX_SEGMENT_DURATION as u32
                {
                    // The previous packet closed the segment at 0xFFFF: start the next one
                    // (RFC 4733 2.5.1.3), without the marker bit.
                    self.segment_offset += MAX_SEGMENT_DURATION as u32;
                    self.timestamp = self.timestamp.wrapping_add(MAX_SEGMENT_DURATION as u32);
                    marker = false;
                }
                self.duration = (self.elapsed - self.segment_offset).min(MAX_SEGMENT_DURATION as u32);
                let ending = stop_requested && self.elapsed >= self.cfg.min_duration as u32;
                self.state = if ending {
                    SenderState::Ending {
                        left: self.cfg.end_packets.saturating_sub(1),
                    }
                } else {
                    SenderState::Active {
                        first: false,
                        stop_requested,
                    }
                };
                if ending && self.cfg.end_packets == 0 {
                    self.state = SenderState::Idle;
                }
                Some(self.packet(marker, ending))
            }
            SenderState::Ending { left } => {
                if left == 0 {
                    self.state = SenderState::Idle;
                    return None;
                }
                self.state = if left > 1 {
                    SenderState::Ending { left: left - 1 }
                } else {
                    SenderState::Idle
                };
                Some(self.packet(false, true))
            }
        }
    }

    fn packet(&self, marker: bool, end: bool) -> EventPacket {
        EventPacket {
            marker,
            timestamp: self.timestamp,
            event: TelephoneEvent {
                event: self.event,
                end,
                volume: self.cfg.volume,
                duration: self.duration.min(MAX_SEGMENT_DURATION as u32) as u16,
            },
        }
    }
}

/// What the receiver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventNotice {
    /// Start playing the tone for `event`.
    Begin { event: u8, timestamp: u32 },
    /// Stop it; `duration` in timestamp units over all segments.
    End {
        event: u8,
        timestamp: u32,
        duration: u32,
    },
}

/// Notices produced by one packet (at most: end of the previous event, begin and end of a new one).
pub type EventNotices = HVec<EventNotice, 3>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Current {
    event: u8,
    /// Timestamp of the first segment (reported in notices).
    start: u32,
    /// Timestamp of the current segment.
    segment: u32,
    /// Duration accumulated in earlier segments.
    earlier: u32,
    duration: u16,
    ended: bool,
}

/// RFC 4733 receiver: feed each telephone-event packet; call [`EventReceiver::on_timeout`]
/// regularly so that an event whose end packets were all lost still ends.
#[derive(Debug, Clone, Default)]
pub struct EventReceiver {
    current: Option<Current>,
    /// Recently ended events (segment timestamp) for de-duplicating late retransmissions.
    recent: HVec<(u32, u8), 4>,
    last_packet_at: u32,
}

impl EventReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// The event currently sounding, if any.
    pub fn active_event(&self) -> Option<u8> {
        self.current.filter(|c| !c.ended).map(|c| c.event)
    }

    fn remember(&mut self, ts: u32, event: u8) {
        if self.recent.is_full() {
            self.recent.remove(0);
        }
        let _ = self.recent.push((ts, event));
    }

    /// Handles one packet: its RTP timestamp, marker bit and first event block. `arrival` is the
    /// local clock in timestamp units (used by `on_timeout`).
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        _marker: bool,
        ev: TelephoneEvent,
        arrival: u32,
    ) -> EventNotices {
        let mut out = EventNotices::new();
        self.last_packet_at = arrival;
        if let Some(c) = self.current.as_mut() {
            if timestamp == c.segment && ev.event == c.event {
                if c.ended {
                    return out; // retransmitted end
                }
                c.duration = c.duration.max(ev.duration);
                if ev.end {
                    c.ended = true;
                    let n = EventNotice::End {
                        event: c.event,
                        timestamp: c.start,
                        duration: c.earlier + c.duration as u32,
                    };
                    let (seg, event) = (c.segment, c.event);
                    let _ = out.push(n);
                    self.remember(seg, event);
                }
                return out;
            }
            // A continuation segment of a long event.
            if !c.ended
                && ev.event == c.event
                && timestamp == c.segment.wrapping_add(MAX_SEGMENT_DURATION as u32)
            {
                c.earlier += MAX_SEGMENT_DURATION as u32;
                c.segment = timestamp;
                c.duration = ev.duration;
                if ev.end {
                    c.ended = true;
                    let _ = out.push(EventNotice::End {
                        event: c.event,
                        timestamp: c.start,
                        duration: c.earlier + c.duration as u32,
                    });
                    self.remember(timestamp, ev.event);
                }
                return out;
            }
            // Older than the current event, or a retransmission of an ended one: ignore.
            if (timestamp.wrapping_sub(c.segment) as i32) < 0 || self.recent.contains(&(timestamp, ev.event))
            {
                return out;
            }
            if !c.ended {
                // The previous event's end packets were lost: end it now.
                c.ended = true;
                let n = EventNotice::End {
                    event: c.event,
                    timestamp: c.start,
                    duration: c.earlier + c.duration as u32,
                };
                let (seg, event) = (c.segment, c.event);
                let _ = out.push(n);
                self.remember(seg, event);
            }
        } else if self.recent.contains(&(timestamp, ev.event)) {
            return out;
        }
        // A new event. If its begin packets were lost we still report Begin first.
        let _ = out.push(EventNotice::Begin {
            event: ev.event,
            timestamp,
        });
        let mut c = Current {
            event: ev.event,
            start: timestamp,
            segment: timestamp,
            earlier: 0,
            duration: ev.duration,
            ended: false,
        };
        if ev.end {
            c.ended = true;
            let _ = out.push(EventNotice::End {
                event: ev.event,
                timestamp,
                duration: ev.duration as u32,
            });
            self.remember(timestamp, ev.event);
        }
        self.current = Some(c);
        out
    }

    /// Ends a sounding event when no packet arrived for `timeout` timestamp units (all end
    /// packets lost, or the sender vanished).
    pub fn on_timeout(&mut self, now: u32, timeout: u32) -> Option<EventNotice> {
        let c = self.current.as_mut()?;
        if c.ended || now.wrapping_sub(self.last_packet_at) < timeout {
            return None;
        }
        c.ended = true;
        let n = EventNotice::End {
            event: c.event,
            timestamp: c.start,
            duration: c.earlier + c.duration as u32,
        };
        let (seg, event) = (c.segment, c.event);
        self.remember(seg, event);
        Some(n)
    }

    /// Forgets everything (new remote source).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}
