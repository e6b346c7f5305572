//! SDP offer/answer (RFC 3264) for one analog line: one audio stream with PCMU, PCMA or GSM,
//! RFC 4733 telephone-events and optionally comfort noise and RFC 2198 redundancy (`red/8000`
//! with the chosen codec as both primary and redundant encoding).
//!
//! [`SdpNegotiator`] keeps the state of one call's SDP across the initial exchange and
//! re-INVITEs: our origin and its version (incremented only when our description changes), the
//! m-line layout (an answered offer's m-lines stay in every later offer, unused ones with port 0),
//! local hold, and the last negotiated result.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use super::parse::{Attribute, Connection, Direction, MediaDescription, Origin, SessionDescription, Timing};

/// Audio codecs the gateway can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    Pcmu,
    Pcma,
    Gsm,
}

impl AudioCodec {
    /// RFC 3551 static payload type.
    pub fn static_payload_type(self) -> u8 {
        match self {
            AudioCodec::Pcmu => 0,
            AudioCodec::Pcma => 8,
            AudioCodec::Gsm => 3,
        }
    }
    pub fn encoding_name(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
            AudioCodec::Gsm => "GSM",
        }
    }
    pub fn clock_rate(self) -> u32 {
        8000
    }
    /// Packet times the codec can use, in ms: G.711 in steps of 10, GSM in frames of 20.
    pub fn ptime_step(self) -> u32 {
        match self {
            AudioCodec::Gsm => 20,
            _ => 10,
        }
    }
    fn from_static(pt: u8) -> Option<AudioCodec> {
        match pt {
            0 => Some(AudioCodec::Pcmu),
            8 => Some(AudioCodec::Pcma),
            3 => Some(AudioCodec::Gsm),
            _ => None,
        }
    }
    fn from_name(name: &str, clock: u32, channels: Option<u8>) -> Option<AudioCodec> {
        if clock != 8000 || channels.is_some_and(|c| c != 1) {
            return None;
        }
        [AudioCodec::Pcmu, AudioCodec::Pcma, AudioCodec::Gsm]
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }
}

/// Negotiation policy from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferAnswerConfig {
    /// Codecs in preference order.
    pub codecs: Vec<AudioCodec>,
    /// Payload type offered for RFC 4733 telephone-event; `None` disables it.
    pub telephone_event_pt: Option<u8>,
    /// Offer/accept comfort noise (static PT 13).
    pub comfort_noise: bool,
    /// Offer/accept RFC 2198 redundant audio (`red/8000`, the codec itself as redundancy,
    /// one frame back). Answered only when the peer offers it.
    pub redundancy: bool,
    /// Packet time we want to receive (ms).
    pub ptime: u32,
    /// Longest packet time we accept (ms).
    pub maxptime: Option<u32>,
    /// Announce a=rtcp (RFC 3605).
    pub rtcp_attribute: bool,
    /// Answer with the offerer's first acceptable codec instead of ours.
    pub prefer_offerer_order: bool,
    /// o= user name and s= text.
    pub username: String,
    pub session_name: String,
}

impl Default for OfferAnswerConfig {
    fn default() -> Self {
        OfferAnswerConfig {
            codecs: vec![AudioCodec::Pcmu, AudioCodec::Pcma, AudioCodec::Gsm],
            telephone_event_pt: Some(101),
            comfort_noise: false,
            redundancy: false,
            ptime: 20,
            maxptime: None,
            rtcp_attribute: true,
            prefer_offerer_order: false,
            username: "gatewayd".into(),
            session_name: "gatewayd".into(),
        }
    }
}

/// Our media transport address for the m-line and c-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    pub address: IpAddr,
    pub rtp_port: u16,
}

/// The result of an offer/answer exchange, for the RTP session and media loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Index of the audio m-line.
    pub media_index: usize,
    pub codec: AudioCodec,
    /// Payload type of the codec on the wire.
    pub payload_type: u8,
    /// Telephone-event payload type, when both sides support RFC 4733.
    pub telephone_event_pt: Option<u8>,
    /// Comfort noise payload type, when negotiated.
    pub cn_pt: Option<u8>,
    /// RFC 2198 `red/8000` payload type, when both sides want redundancy of `codec`.
    pub red_pt: Option<u8>,
    /// Packet time to send with (the peer's a=ptime, adapted to the codec and its maxptime).
    pub send_ptime: u32,
    /// Where to send RTP; `None` when the peer gave port 0 or the 0.0.0.0 hold address.
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// What we do: send and/or receive.
    pub direction: Direction,
    /// The peer put the call on hold (sendonly/inactive towards us, or c=0.0.0.0).
    pub remote_hold: bool,
    /// Every codec the peer may send (the chosen one first): an answer to our offer can list
    /// several, and the peer may switch among them without a new offer.
    pub receive_codecs: [Option<(u8, AudioCodec)>; 3],
}

impl NegotiatedAudio {
    /// Payload types to accept on receive: the codecs, telephone-event and CN.
    pub fn accepted_payload_types(&self) -> heapless::Vec<u8, 8> {
        let mut v = heapless::Vec::new();
        for (pt, _) in self.receive_codecs.iter().flatten() {
            let _ = v.push(*pt);
        }
        for pt in [self.telephone_event_pt, self.cn_pt, self.red_pt]
            .into_iter()
            .flatten()
        {
            let _ = v.push(pt);
        }
        v
    }
    /// The codec of a received payload type.
    pub fn codec_for(&self, payload_type: u8) -> Option<AudioCodec> {
        self.receive_codecs
            .iter()
            .flatten()
            .find(|(pt, _)| *pt == payload_type)
            .map(|(_, c)| *c)
    }
}

/// Why an exchange failed (the caller answers 488 or sends a new offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaError {
    /// The description has no m-line.
    NoMedia,
    /// No audio m-line with RTP/AVP and a codec we support.
    NoUsableAudio,
    /// An answer without an offer pending.
    NoOfferPending,
    /// The answer's m-lines do not match the offer's (count).
    AnswerMismatch { offered: usize, answered: usize },
    /// The peer rejected our audio stream (port 0) or answered no codec we offered.
    Rejected,
    /// A new offer dropped m-lines of the previous exchange (RFC 3264 8).
    MediaLinesRemoved { before: usize, now: usize },
    /// The audio m-line has no usable connection address.
    NoConnection { media_index: usize },
}

impl core::fmt::Display for OaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            OaError::NoMedia => write!(f, "SDP has no media line"),
            OaError::NoUsableAudio => write!(f, "no audio stream with a supported codec"),
            OaError::NoOfferPending => write!(f, "SDP answer without an offer"),
            OaError::AnswerMismatch { offered, answered } => {
                write!(f, "answer has {answered} media lines, offer had {offered}")
            }
            OaError::Rejected => write!(f, "peer rejected the audio stream"),
            OaError::MediaLinesRemoved { before, now } => {
                write!(f, "new offer has {now} media lines, previous had {before}")
            }
            OaError::NoConnection { media_index } => write!(f, "media line {media_index} has no address"),
        }
    }
}

impl std::error::Error for OaError {}

/// One m-line position in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Audio,
    Rejected {
        media: String,
        proto: String,
        format: String,
    },
}

/// SDP state of one call.
#[derive(Debug, Clone)]
pub struct SdpNegotiator {
    cfg: OfferAnswerConfig,
    local: LocalMedia,
    session_id: u64,
    version: u64,
    last_body: Option<String>,
    layout: Vec<Slot>,
    local_hold: bool,
    pending_offer: Option<SessionDescription<'static>>,
    current: Option<NegotiatedAudio>,
}

fn is_rtp_avp(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP")
}

fn te_pt(m: &MediaDescription<'_>) -> Option<u8> {
    m.payload_types().find(|&pt| {
        m.rtpmap(pt)
            .is_some_and(|r| r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == 8000)
    })
}

fn cn_pt(m: &MediaDescription<'_>) -> Option<u8> {
    m.payload_types().find(|&pt| match m.rtpmap(pt) {
        Some(r) => r.encoding.eq_ignore_ascii_case("CN") && r.clock_rate == 8000,
        None => pt == 13,
    })
}

/// Payload type offered for `red/8000` when the configuration enables it (RFC 2198's example),
/// or the next free one when telephone-event already uses it.
const RED_PT: u8 = 121;

/// The `red/8000` payload type of `m` whose redundancy we can decode with `primary` (the
/// chosen codec's payload type): its fmtp lists only `primary` (any level), or is absent.
fn red_pt(m: &MediaDescription<'_>, primary: u8) -> Option<u8> {
    m.payload_types().find(|&pt| {
        let is_red = m.rtpmap(pt).is_some_and(|r| {
            r.encoding.eq_ignore_ascii_case("red")
                && r.clock_rate == 8000
                && r.channels.is_none_or(|c| c == 1)
        });
        is_red
            && m.fmtp(pt).is_none_or(|f| {
                f.is_empty() || f.split('/').all(|p| p.trim().parse::<u8>().ok() == Some(primary))
            })
    })
}

/// Codec of payload type `pt` in `m` (rtpmap first, static assignment otherwise).
fn codec_of(m: &MediaDescription<'_>, pt: u8) -> Option<AudioCodec> {
    match m.rtpmap(pt) {
        Some(r) => AudioCodec::from_name(r.encoding, r.clock_rate, r.channels),
        None => AudioCodec::from_static(pt),
    }
}

fn normalize_ptime(codec: AudioCodec, ptime: u32, maxptime: Option<u32>) -> u32 {
    let step = codec.ptime_step();
    let max = maxptime.unwrap_or(60).clamp(step, 60);
    let p = ptime.clamp(step, max);
    (p / step).max(1) * step
}

fn remote_addresses(sd: &SessionDescription<'_>, i: usize) -> (Option<SocketAddr>, Option<SocketAddr>, bool) {
    let m = &sd.media[i];
    let Some(ip) = sd.media_connection(i).and_then(Connection::ip) else {
        return (None, None, false);
    };
    if ip.is_unspecified() {
        return (None, None, true);
    }
    if m.port == 0 {
        return (None, None, false);
    }
    let rtp = SocketAddr::new(ip, m.port);
    let rtcp = match m.rtcp() {
        Some((port, addr)) => SocketAddr::new(addr.unwrap_or(ip), port),
        None => SocketAddr::new(ip, m.port.wrapping_add(1)),
    };
    (Some(rtp), Some(rtcp), false)
}

impl SdpNegotiator {
    /// `session_id` should be unique per call (e.g. random or an NTP time).
    pub fn new(cfg: OfferAnswerConfig, local: LocalMedia, session_id: u64) -> Self {
        SdpNegotiator {
            cfg,
            local,
            session_id,
            version: session_id,
            last_body: None,
            layout: Vec::new(),
            local_hold: false,
            pending_offer: None,
            current: None,
        }
    }

    /// The last negotiated audio stream.
    pub fn current(&self) -> Option<&NegotiatedAudio> {
        self.current.as_ref()
    }
    /// o= session version of our last description.
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn config(&self) -> &OfferAnswerConfig {
        &self.cfg
    }
    /// True while an offer of ours awaits its answer.
    pub fn offer_pending(&self) -> bool {
        self.pending_offer.is_some()
    }

    /// Puts the call on hold (or resumes) from our side; takes effect in the next offer/answer.
    pub fn set_local_hold(&mut self, hold: bool) {
        self.local_hold = hold;
    }
    /// New codec preferences (e.g. to change codec mid-call with a re-offer).
    pub fn set_codecs(&mut self, codecs: Vec<AudioCodec>) {
        self.cfg.codecs = codecs;
    }
    /// New local transport address.
    pub fn set_local_media(&mut self, local: LocalMedia) {
        self.local = local;
    }
    /// Forgets a pending offer (the re-INVITE failed): the previous negotiation stays.
    pub fn rollback_offer(&mut self) {
        self.pending_offer = None;
    }

    fn wanted_direction(&self) -> Direction {
        if self.local_hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        }
    }

    /// Stamps the origin, incrementing the version only if the description changed.
    fn finish(&mut self, mut sd: SessionDescription<'static>) -> SessionDescription<'static> {
        sd.origin.session_version = 0;
        let body = sd.to_string();
        if self.last_body.as_deref() != Some(body.as_str()) {
            if self.last_body.is_some() {
                self.version += 1;
            }
            self.last_body = Some(body);
        }
        sd.origin.session_version = self.version;
        sd
    }

    fn skeleton(&self) -> SessionDescription<'static> {
        let conn = Connection::new_ip(self.local.address);
        SessionDescription {
            origin: Origin {
                username: Cow::Owned(self.cfg.username.clone()),
                session_id: Cow::Owned(self.session_id.to_string()),
                session_version: 0,
                net_type: Cow::Borrowed("IN"),
                addr_type: conn.addr_type.clone(),
                address: conn.address.clone(),
            },
            session_name: Cow::Owned(self.cfg.session_name.clone()),
            info: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: Some(conn),
            bandwidths: Vec::new(),
            timing: vec![Timing::default()],
            time_zones: None,
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    fn rejected_media(media: &str, proto: &str, format: &str) -> MediaDescription<'static> {
        MediaDescription {
            media: Cow::Owned(media.to_owned()),
            port: 0,
            port_count: None,
            proto: Cow::Owned(proto.to_owned()),
            formats: vec![Cow::Owned(format.to_owned())],
            info: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// The audio m-line listing `codecs` as (pt, codec), RED (its payload type and the
    /// primary's), telephone-event and CN.
    fn audio_media(
        &self,
        codecs: &[(u8, AudioCodec)],
        red: Option<(u8, u8)>,
        te: Option<(u8, &'static str)>,
        cn: Option<u8>,
        direction: Direction,
    ) -> MediaDescription<'static> {
        let mut formats = Vec::new();
        let mut attributes = Vec::new();
        for &(pt, c) in codecs {
            formats.push(Cow::Owned(pt.to_string()));
            attributes.push(Attribute::value(
                "rtpmap",
                format!("{pt} {}/{}", c.encoding_name(), c.clock_rate()),
            ));
        }
        if let Some((pt, primary)) = red {
            formats.push(Cow::Owned(pt.to_string()));
            attributes.push(Attribute::value("rtpmap", format!("{pt} red/8000")));
            attributes.push(Attribute::value("fmtp", format!("{pt} {primary}/{primary}")));
        }
        if let Some((pt, events)) = te {
            formats.push(Cow::Owned(pt.to_string()));
            attributes.push(Attribute::value("rtpmap", format!("{pt} telephone-event/8000")));
            attributes.push(Attribute::value("fmtp", format!("{pt} {events}")));
        }
        if let Some(pt) = cn {
            formats.push(Cow::Owned(pt.to_string()));
            attributes.push(Attribute::value("rtpmap", format!("{pt} CN/8000")));
        }
        // With a single codec (an answer) announce a packet time that codec can use.
        let ptime = match codecs {
            [(_, c)] => normalize_ptime(*c, self.cfg.ptime, self.cfg.maxptime),
            _ => self.cfg.ptime,
        };
        attributes.push(Attribute::value("ptime", ptime.to_string()));
        if let Some(m) = self.cfg.maxptime {
            attributes.push(Attribute::value("maxptime", m.to_string()));
        }
        if self.cfg.rtcp_attribute {
            attributes.push(Attribute::value(
                "rtcp",
                self.local.rtp_port.wrapping_add(1).to_string(),
            ));
        }
        attributes.push(Attribute::flag(direction.as_str()));
        MediaDescription {
            media: Cow::Borrowed("audio"),
            port: self.local.rtp_port,
            port_count: None,
            proto: Cow::Borrowed("RTP/AVP"),
            formats,
            info: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes,
        }
    }

    /// Builds an offer (initial, or a re-offer for hold/resume/codec change/refresh) and keeps
    /// it pending until [`Self::process_answer`].
    pub fn create_offer(&mut self) -> SessionDescription<'static> {
        if self.layout.is_empty() {
            self.layout.push(Slot::Audio);
        }
        let direction = match self.current {
            // Holding a peer that holds us: inactive (RFC 3264 8.4).
            Some(c) if self.local_hold && c.remote_hold => Direction::Inactive,
            _ => self.wanted_direction(),
        };
        let codecs: Vec<(u8, AudioCodec)> = self
            .cfg
            .codecs
            .iter()
            .map(|&c| (c.static_payload_type(), c))
            .collect();
        let te = self.cfg.telephone_event_pt.map(|pt| (pt, "0-16"));
        let cn = self.cfg.comfort_noise.then_some(13);
        // Redundancy of the preferred codec; an answer choosing another codec may still take
        // red for it (see `process_answer`).
        let red = match (self.cfg.redundancy, codecs.first()) {
            (true, Some(&(primary, _))) => {
                let pt = if self.cfg.telephone_event_pt == Some(RED_PT) {
                    RED_PT + 1
                } else {
                    RED_PT
                };
                Some((pt, primary))
            }
            _ => None,
        };
        let mut sd = self.skeleton();
        for slot in &self.layout {
            sd.media.push(match slot {
                Slot::Audio => self.audio_media(&codecs, red, te, cn, direction),
                Slot::Rejected { media, proto, format } => Self::rejected_media(media, proto, format),
            });
        }
        let sd = self.finish(sd);
        self.pending_offer = Some(sd.clone());
        sd
    }

    /// Applies the peer's answer to our pending offer.
    pub fn process_answer(&mut self, answer: &SessionDescription<'_>) -> Result<NegotiatedAudio, OaError> {
        let offer = self.pending_offer.take().ok_or(OaError::NoOfferPending)?;
        if answer.media.len() != offer.media.len() {
            return Err(OaError::AnswerMismatch {
                offered: offer.media.len(),
                answered: answer.media.len(),
            });
        }
        let idx = self
            .layout
            .iter()
            .position(|s| *s == Slot::Audio)
            .ok_or(OaError::NoUsableAudio)?;
        let (om, am) = (&offer.media[idx], &answer.media[idx]);
        if am.port == 0 {
            return Err(OaError::Rejected);
        }
        // The first answered codec that we offered (the answer lists its choice first).
        let (payload_type, codec) = am
            .payload_types()
            .find_map(|pt| {
                let c = codec_of(am, pt)?;
                om.payload_types().any(|o| o == pt).then_some((pt, c))
            })
            .ok_or(OaError::Rejected)?;
        let mut receive_codecs = [None; 3];
        let common = am.payload_types().filter_map(|pt| {
            let c = codec_of(am, pt)?;
            om.payload_types().any(|o| o == pt).then_some((pt, c))
        });
        for (slot, pc) in receive_codecs.iter_mut().zip(common) {
            *slot = Some(pc);
        }
        let telephone_event_pt = te_pt(am).filter(|_| self.cfg.telephone_event_pt.is_some());
        let cn = cn_pt(am).filter(|_| self.cfg.comfort_noise);
        // RED only if we offered it (the answer may map it to its own number).
        let offered_red = om.payload_types().any(|pt| {
            om.rtpmap(pt)
                .is_some_and(|r| r.encoding.eq_ignore_ascii_case("red"))
        });
        let red = red_pt(am, payload_type).filter(|_| self.cfg.redundancy && offered_red);
        let (remote_rtp, remote_rtcp, hold_addr) = remote_addresses(answer, idx);
        if remote_rtp.is_none() && !hold_addr && answer.media_connection(idx).is_none() {
            return Err(OaError::NoConnection { media_index: idx });
        }
        let offered = offer.media_direction(idx);
        let answered = answer.media_direction(idx);
        let peer_receives = answered.receives() && !hold_addr;
        let direction = Direction::from_flags(
            offered.sends() && peer_receives,
            offered.receives() && answered.sends(),
        );
        let n = NegotiatedAudio {
            media_index: idx,
            codec,
            payload_type,
            telephone_event_pt,
            cn_pt: cn,
            red_pt: red,
            send_ptime: normalize_ptime(codec, am.ptime().unwrap_or(20), am.maxptime()),
            remote_rtp,
            remote_rtcp,
            direction,
            remote_hold: offered.sends() && !peer_receives,
            receive_codecs,
        };
        self.current = Some(n);
        Ok(n)
    }

    /// Answers the peer's offer (initial or re-INVITE). On error the caller rejects the offer
    /// (488) and the previous negotiation stays in force.
    pub fn process_offer(
        &mut self,
        offer: &SessionDescription<'_>,
    ) -> Result<(SessionDescription<'static>, NegotiatedAudio), OaError> {
        if offer.media.is_empty() {
            return Err(OaError::NoMedia);
        }
        if offer.media.len() < self.layout.len() {
            return Err(OaError::MediaLinesRemoved {
                before: self.layout.len(),
                now: offer.media.len(),
            });
        }
        // An offer crossing ours (glare is resolved by SIP; here the new offer wins).
        self.pending_offer = None;
        let mut chosen: Option<(usize, u8, AudioCodec)> = None;
        let mut layout = Vec::with_capacity(offer.media.len());
        for (i, m) in offer.media.iter().enumerate() {
            let usable = chosen.is_none()
                && m.media.eq_ignore_ascii_case("audio")
                && is_rtp_avp(&m.proto)
                && m.port != 0
                && offer.media_connection(i).is_some();
            if usable && let Some((pt, c)) = self.choose_codec(m) {
                chosen = Some((i, pt, c));
                layout.push(Slot::Audio);
                continue;
            }
            layout.push(Slot::Rejected {
                media: m.media.to_string(),
                proto: m.proto.to_string(),
                format: m
                    .formats
                    .first()
                    .map_or_else(|| "0".to_owned(), |f| f.to_string()),
            });
        }
        let (idx, payload_type, codec) = chosen.ok_or(OaError::NoUsableAudio)?;
        let m = &offer.media[idx];
        let (remote_rtp, remote_rtcp, hold_addr) = remote_addresses(offer, idx);
        let offered = offer.media_direction(idx);
        let peer_receives = offered.receives() && !hold_addr;
        let want = self.wanted_direction();
        let direction =
            Direction::from_flags(want.sends() && peer_receives, want.receives() && offered.sends());
        let te = match (te_pt(m), self.cfg.telephone_event_pt) {
            (Some(pt), Some(_)) => {
                let with_flash = m.fmtp(pt).is_some_and(|f| f.contains("16"));
                Some((pt, if with_flash { "0-16" } else { "0-15" }))
            }
            _ => None,
        };
        let cn = cn_pt(m).filter(|_| self.cfg.comfort_noise);
        let red = red_pt(m, payload_type).filter(|_| self.cfg.redundancy);

        let mut sd = self.skeleton();
        for (i, slot) in layout.iter().enumerate() {
            sd.media.push(match slot {
                Slot::Audio => self.audio_media(
                    &[(payload_type, codec)],
                    red.map(|r| (r, payload_type)),
                    te,
                    cn,
                    direction,
                ),
                Slot::Rejected { .. } => {
                    let om = &offer.media[i];
                    let mut r = Self::rejected_media(&om.media, &om.proto, "0");
                    r.formats = om.formats.iter().map(|f| Cow::Owned(f.to_string())).collect();
                    r
                }
            });
        }
        self.layout = layout;
        let answer = self.finish(sd);
        let n = NegotiatedAudio {
            media_index: idx,
            codec,
            payload_type,
            telephone_event_pt: te.map(|t| t.0),
            cn_pt: cn,
            red_pt: red,
            send_ptime: normalize_ptime(codec, m.ptime().unwrap_or(20), m.maxptime()),
            remote_rtp,
            remote_rtcp,
            direction,
            remote_hold: !peer_receives,
            receive_codecs: [Some((payload_type, codec)), None, None],
        };
        self.current = Some(n);
        Ok((answer, n))
    }

    fn choose_codec(&self, m: &MediaDescription<'_>) -> Option<(u8, AudioCodec)> {
        let offered: Vec<(u8, AudioCodec)> = m
            .payload_types()
            .filter_map(|pt| codec_of(m, pt).map(|c| (pt, c)))
            .collect();
        if self.cfg.prefer_offerer_order {
            offered.into_iter().find(|(_, c)| self.cfg.codecs.contains(c))
        } else {
            self.cfg
                .codecs
                .iter()
                .find_map(|want| offered.iter().copied().find(|(_, c)| c == want))
        }
    }
}
