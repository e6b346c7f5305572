//! The SIP legs of the ports' calls: what joins [`CallControl`] to the user agent and the media
//! loop.
//!
//! [`SipLegs`] turns a port's SIP requests ([`SipRequest`]) into user agent calls with an SDP
//! offer or answer, and the user agent's events ([`UaEvent`]) into the port's [`SipEvent`]s.
//! Each leg owns an RTP stream slot of the media loop and the SDP state of its call
//! ([`SdpNegotiator`]). The stream is started (inactive, sending nothing) as soon as the leg
//! exists, so that the port may connect its audio at any time; the negotiated parameters are
//! applied with `ModifyStream` when the offer/answer completes (183 early media, 200, ACK,
//! re-INVITE, UPDATE).
//!
//! Calls end with a cause both ways: our BYE and CANCEL carry `Reason: Q.850` (and on SIP-T/
//! SIP-I the BYE a REL); the cause of the far end's BYE or CANCEL ([`ended_event`]) picks the
//! port's tone. On SIP-T/SIP-I calls a SUS starts Q.764 T6/T2, which [`SipLegs::poll`] enforces.
//!
//! Sans-IO like everything it joins: it runs on a borrowed [`UserAgent`] and [`CallControl`]
//! with the caller's clocks; binding the RTP sockets is the only I/O, done through the
//! caller's `bind` function.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use codecs::codec::VoiceCodec;

use super::control::{CallControl, SipRequest};
use super::{CallerInfo, LegId, PortAction, SipEvent};
use crate::config::Config;
use crate::config::model::{Codec, DtmfMode, PortKind};
use crate::media::{
    DigitTarget, Digits, Direction, DtmfTransport, MediaCommand, StreamConfig, StreamId, StreamSockets,
};
use crate::rtp::socket::{BindError, StdRtpSocketPair};
use crate::sdp::parse::{Direction as SdpDirection, SessionDescription};
use crate::sdp::{AudioCodec, LocalMedia, NegotiatedAudio, OfferAnswerConfig, SdpNegotiator};
use crate::sip::ua::call::InviteRequest;
use crate::sip::ua::call::{CallHandle, EndReason};
use crate::sip::ua::{AccountId, Body, UaEvent, UserAgent};
use crate::sip::wire::{Message, Method, NameAddr, Uri};
use crate::trunk::interwork::{self, CallProgress, MidCallAction, Numbering, OutgoingCall, SuspendTimer};
use crate::trunk::isup::param::location;
use crate::trunk::isup::{self, CauseIndicators, Variant};
use crate::trunk::mime::{self, BodyError, Handling, parse_body};
use crate::trunk::profile::TrunkBehaviour;

/// Accounts of the user agent by configured name (kept by the SIP side, read here).
pub type AccountMap = Arc<Mutex<HashMap<String, AccountId>>>;

/// What a port's calls need to know of the configuration.
#[derive(Clone, Debug)]
struct PortSip {
    kind: PortKind,
    account: String,
    oa: OfferAnswerConfig,
    dtmf: DtmfMode,
}

/// Where an account's calls go.
#[derive(Clone, Debug)]
struct AccountSip {
    user: String,
    domain: String,
    /// What the account's trunk profile puts on the wire (ISUP or not).
    trunk: TrunkBehaviour,
    /// Prefixes of the numbers in its IAMs.
    numbering: Numbering,
    /// Q.764 T6 for its calls, ms.
    t6_ms: u64,
}

/// One call of one port.
#[derive(Debug)]
struct Leg {
    port: u8,
    leg: LegId,
    call: CallHandle,
    stream: StreamId,
    sdp: SdpNegotiator,
    outgoing: bool,
    remote: String,
    since: std::time::Instant,
    /// Our SDP answer to the INVITE's offer (incoming calls), sent in 183 and 200.
    answer: Option<Vec<u8>>,
    /// The stream runs with negotiated parameters (not only the initial inactive ones).
    live: bool,
    /// SIP-T/SIP-I: the ISUP this call's messages carry (None on plain SIP trunks).
    trunk: Option<TrunkBehaviour>,
    /// Incoming trunk calls: an ACM went out (the answer is then ANM, else CON).
    acm_sent: bool,
    /// SIP-T/SIP-I: Q.764 T6/T2 while the far side is suspended (SUS without RES).
    suspend: SuspendTimer,
}

/// A snapshot of a call for the status page.
#[derive(Clone, Debug, PartialEq)]
pub struct LegStatus {
    pub port: u8,
    pub outgoing: bool,
    pub remote: String,
    pub state: &'static str,
    pub codec: &'static str,
    pub stream: StreamId,
    pub since: std::time::Instant,
}

/// Why an incoming INVITE was refused before any port saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No enabled port takes calls for it.
    NoPort,
    /// Every port that could take it is busy.
    Busy,
    /// The offer has nothing we can use.
    NotAcceptable,
    /// No RTP port or stream slot free.
    NoMedia,
    /// A body part we do not understand whose handling is required (RFC 3204 / 3261 20.11).
    UnsupportedBody,
    /// A body whose multipart framing is broken.
    BadBody,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::NoPort => 404,
            Refusal::Busy => 486,
            Refusal::NotAcceptable => 488,
            Refusal::NoMedia => 503,
            Refusal::UnsupportedBody => 415,
            Refusal::BadBody => 400,
        }
    }
}

/// The SIP legs of every port.
pub struct SipLegs {
    ports: HashMap<u8, PortSip>,
    accounts: HashMap<String, AccountSip>,
    ids: AccountMap,
    media_ip: IpAddr,
    rtp_ports: (u16, u16),
    next_rtp: u16,
    symmetric: bool,
    free: Vec<StreamId>,
    legs: Vec<Leg>,
    next_incoming: u32,
    session_seq: u64,
    /// Nature of address of the numbers in IAMs (prefixes in dialled and presented numbers)
    /// for calls no account claims.
    numbering: Numbering,
    /// Origin of the millisecond clock of the suspend timers: the first `now` seen.
    epoch: Option<std::time::Instant>,
    /// The public address of a new call's RTP socket, for its SDP (NAT traversal).
    media_mapper: Option<crate::nat::edge::MediaMapper>,
}

fn audio_codec(c: Codec) -> AudioCodec {
    match c {
        Codec::Pcmu => AudioCodec::Pcmu,
        Codec::Pcma => AudioCodec::Pcma,
        Codec::Gsm => AudioCodec::Gsm,
    }
}

fn voice_codec(c: AudioCodec) -> VoiceCodec {
    match c {
        AudioCodec::Pcmu => VoiceCodec::Pcmu,
        AudioCodec::Pcma => VoiceCodec::Pcma,
        AudioCodec::Gsm => VoiceCodec::Gsm,
    }
}

fn media_direction(d: SdpDirection) -> Direction {
    match (d.sends(), d.receives()) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// The SDP of a received message: the body itself, or the application/sdp part of a
/// multipart body (SIP-T/SIP-I carry ISUP beside it).
pub fn sdp_of(m: &Message) -> Option<&[u8]> {
    if m.body.is_empty() {
        return None;
    }
    let ct = m.header("Content-Type").unwrap_or("application/sdp");
    let fallback = crate::trunk::isup::Variant::Itu;
    parse_body(ct, m.header("Content-Disposition"), &m.body, fallback)
        .ok()
        .and_then(|b| b.sdp)
}

/// The body of a DTMF relay INFO (`Signal=5`), as the key it carries.
pub fn dtmf_relay_key(m: &Message) -> Option<char> {
    let ct = m.header("Content-Type")?.trim().to_ascii_lowercase();
    let text = std::str::from_utf8(&m.body).ok()?;
    if ct.starts_with("application/dtmf-relay") {
        let line = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("Signal")
                .or_else(|| l.trim().strip_prefix("signal"))
        })?;
        let v = line.trim_start().strip_prefix('=')?.trim();
        return v
            .chars()
            .next()
            .filter(|c| c.is_ascii_digit() || "*#ABCDabcd".contains(*c));
    }
    if ct.starts_with("application/dtmf") {
        // RFC 2833-style event numbers in a bare body.
        let n: u8 = text.trim().parse().ok()?;
        return b"0123456789*#ABCD".get(n as usize).map(|&b| b as char);
    }
    None
}

/// The ISUP message a received SIP message carries (RFC 3204), decoded. `Err` when the body
/// must be refused: a part we do not understand, or an ISUP part that does not decode, whose
/// handling is required (415), or broken multipart framing (400). An ISUP part with optional
/// handling that does not decode is ignored.
pub fn isup_of(m: &Message, fallback: Variant) -> Result<Option<isup::Message>, BodyError> {
    if m.body.is_empty() {
        return Ok(None);
    }
    let ct = m.header("Content-Type").unwrap_or("application/sdp");
    let body = parse_body(ct, m.header("Content-Disposition"), &m.body, fallback)?;
    let Some(part) = body.isup else {
        return Ok(None);
    };
    match isup::Message::parse(part.bytes, part.variant) {
        Ok(msg) => Ok(Some(msg)),
        Err(_) if part.handling == Handling::Required => Err(BodyError::Unsupported {
            part: None,
            content_type: mime::isup_content_type(part.variant),
        }),
        Err(_) => Ok(None),
    }
}

/// A body for a message on a trunk, with the extra headers it needs: the SDP alone on plain
/// SIP (or with no ISUP to send); SDP and ISUP as multipart/mixed; the ISUP alone with its
/// Content-Disposition header, or, where the message takes no extra headers
/// (`headers_allowed` false: provisional and in-dialog responses), as a one-part
/// multipart/mixed whose part carries the disposition.
pub fn trunk_body(
    trunk: Option<TrunkBehaviour>,
    sdp: Option<Vec<u8>>,
    isup: Option<&isup::Message>,
    seed: u64,
    headers_allowed: bool,
) -> (Option<Body>, Vec<(String, String)>) {
    let encoded = match (trunk.filter(|t| t.carries_isup()), isup) {
        (Some(t), Some(m)) => m.emit(t.variant).ok().map(|b| (t, b)),
        _ => None,
    };
    let Some((t, bytes)) = encoded else {
        return (sdp.map(Body::sdp), Vec::new());
    };
    let out = if sdp.is_none() && !headers_allowed {
        mime::build_single_part(&bytes, t.variant, t.handling(), seed)
    } else {
        mime::build_body(sdp.as_deref(), Some((&bytes, t.variant, t.handling())), seed)
    };
    let Some(out) = out else {
        return (sdp.map(Body::sdp), Vec::new());
    };
    let headers = out
        .content_disposition
        .map(|d| vec![("Content-Disposition".to_string(), d)])
        .unwrap_or_default();
    (
        Some(Body {
            content_type: out.content_type,
            data: out.body,
        }),
        headers,
    )
}

/// The port's [`SipEvent::Incoming`] for an INVITE; with an IAM, the called number is the one
/// routed on and the caller ID is the IAM's calling party number (presentation restricted:
/// "private", without the digits).
pub fn incoming_trunk_event(
    leg: LegId,
    request: &Message,
    iam: Option<&isup::Message>,
    routed: &interwork::RoutedNumber,
    numbering: &Numbering,
) -> SipEvent {
    let mut ev = super::identity::incoming_event(leg, request);
    if let (Some(m), SipEvent::Incoming { caller, called, .. }) = (iam, &mut ev) {
        if routed.from_iam {
            *called = routed.number.clone();
        }
        match interwork::caller_id_from_iam(m, numbering) {
            Some((_, true)) => {
                *caller = CallerInfo {
                    number: String::new(),
                    name: String::new(),
                    private: true,
                }
            }
            Some((number, false)) => {
                caller.number = number;
                caller.private = false;
            }
            None => {}
        }
    }
    ev
}

/// The status a port sees for a provisional response: ACM (subscriber free) and CPG alerting
/// ring (180), other ACMs and CPG progress are in-band progress (183); without ISUP the status.
pub fn progress_status(status: u16, isup: Option<&isup::Message>) -> u16 {
    match interwork::progress_of(status, isup) {
        CallProgress::Ringing => 180,
        CallProgress::Progress => 183,
        _ => status,
    }
}

/// The status a port sees for a failed call, and the release when a REL came with it: the
/// REL's cause mapped to a status (RFC 3398 7.2.4.1) wins over the response's own, so that
/// cause 17 plays busy and cause 1 the vacant-number tone whatever the status said.
pub fn failure_status(
    status: u16,
    response: Option<&Message>,
    variant: Variant,
) -> (u16, Option<interwork::Release>) {
    let rel = response
        .and_then(|r| isup_of(r, variant).ok().flatten())
        .filter(|m| m.message_type() == isup::MessageType::Rel);
    match rel {
        Some(m) => {
            let r = interwork::release_of(Some(status), Some(&m));
            let mapped = interwork::cause_to_status(r.cause.cause).unwrap_or(status);
            (mapped, Some(r))
        }
        None => (status, None),
    }
}

/// The port's event for a call the far end ended with `request` (its BYE, or the CANCEL of
/// an incoming call), and the release it carried: a REL's cause (SIP-T/SIP-I), else an RFC
/// 3326 `Reason: Q.850` cause. Normal causes (16, 18, 19, 31) and no cause at all end the
/// call as a plain hang-up ([`SipEvent::Ended`]); any other cause gives
/// [`SipEvent::Released`] with its RFC 3398 status, so the port plays the tone it plays for
/// that rejection (17 busy, 1 special information tone, ...).
pub fn ended_event(
    leg: LegId,
    request: Option<&Message>,
    variant: Variant,
) -> (SipEvent, Option<interwork::Release>) {
    let rel = request
        .and_then(|r| isup_of(r, variant).ok().flatten())
        .filter(|m| m.message_type() == isup::MessageType::Rel);
    let reason = request.and_then(|r| {
        r.values(crate::sip::wire::HeaderName::Reason)
            .find_map(|v| interwork::parse_reason(v).ok().flatten())
    });
    let release = interwork::release_of_request(rel.as_ref(), reason);
    let ev = match &release {
        Some(r) if r.tone != interwork::ReleaseTone::None => SipEvent::Released {
            leg,
            status: r.status.unwrap_or(500),
        },
        _ => SipEvent::Ended { leg },
    };
    (ev, release)
}

/// The number part of a dialled string or SIP address (`sip:123@host` -> `123`).
fn number_part(s: &str) -> &str {
    let s = s
        .strip_prefix("sips:")
        .or_else(|| s.strip_prefix("sip:"))
        .or_else(|| s.strip_prefix("tel:"))
        .unwrap_or(s);
    s.split(['@', ';']).next().unwrap_or("")
}

impl SipLegs {
    /// Legs for `cfg`'s ports; RTP binds to `media_ip` (the address the SDP announces) in the
    /// configured port range; `max_streams` is the media loop's number of stream slots.
    pub fn new(cfg: &Config, media_ip: IpAddr, ids: AccountMap, max_streams: usize) -> SipLegs {
        let mut legs = SipLegs {
            ports: HashMap::new(),
            accounts: HashMap::new(),
            ids,
            media_ip,
            rtp_ports: (cfg.network.rtp_port_min, cfg.network.rtp_port_max),
            next_rtp: cfg.network.rtp_port_min,
            symmetric: cfg.nat.symmetric_rtp,
            free: (0..max_streams as u16).rev().map(StreamId).collect(),
            legs: Vec::new(),
            next_incoming: 0,
            session_seq: 0,
            numbering: Numbering::default(),
            epoch: None,
            media_mapper: None,
        };
        legs.reconfigure(cfg);
        legs
    }

    /// New port and account settings; calls in progress keep the ones they started with.
    pub fn reconfigure(&mut self, cfg: &Config) {
        self.ports = cfg
            .ports
            .iter()
            .filter(|p| p.enabled)
            .map(|p| {
                let oa = OfferAnswerConfig {
                    codecs: p.codecs.iter().map(|&c| audio_codec(c)).collect(),
                    ptime: p.ptime_ms.clamp(10, 60),
                    redundancy: p.redundancy,
                    ..OfferAnswerConfig::default()
                };
                (
                    p.id,
                    PortSip {
                        kind: p.kind,
                        account: p.account.clone(),
                        oa,
                        dtmf: p.dtmf_mode,
                    },
                )
            })
            .collect();
        self.accounts = cfg
            .accounts
            .iter()
            .filter(|a| a.enabled)
            .map(|a| {
                (
                    a.name.clone(),
                    AccountSip {
                        user: a.user.clone(),
                        domain: a.domain.clone(),
                        trunk: TrunkBehaviour::new(a.trunk_profile),
                        numbering: Numbering {
                            national_prefix: a.isup_national_prefix.clone(),
                            international_prefix: a.isup_international_prefix.clone(),
                            ..Numbering::default()
                        },
                        t6_ms: u64::from(a.isup_t6_s) * 1000,
                    },
                )
            })
            .collect();
        self.rtp_ports = (cfg.network.rtp_port_min, cfg.network.rtp_port_max);
        self.symmetric = cfg.nat.symmetric_rtp;
    }

    /// Calls in progress.
    pub fn calls(&self, ua: &UserAgent) -> Vec<LegStatus> {
        self.legs
            .iter()
            .map(|l| LegStatus {
                port: l.port,
                outgoing: l.outgoing,
                remote: l.remote.clone(),
                state: match ua.call_info(l.call).map(|i| i.state) {
                    Some(crate::sip::ua::call::CallState::Confirmed)
                    | Some(crate::sip::ua::call::CallState::Answered) => "connected",
                    Some(crate::sip::ua::call::CallState::Ringing)
                    | Some(crate::sip::ua::call::CallState::Proceeding) => "ringing",
                    Some(crate::sip::ua::call::CallState::Terminating) => "ending",
                    _ => "setup",
                },
                codec: l.sdp.current().map(|n| n.codec.encoding_name()).unwrap_or(""),
                stream: l.stream,
                since: l.since,
            })
            .collect()
    }

    /// Number of calls in progress.
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    fn account_id(&self, name: &str) -> Option<AccountId> {
        self.ids.lock().ok()?.get(name).copied()
    }

    fn account_name(&self, id: AccountId) -> Option<String> {
        let ids = self.ids.lock().ok()?;
        ids.iter().find(|(_, v)| **v == id).map(|(k, _)| k.clone())
    }

    fn find(&self, port: u8, leg: LegId) -> Option<usize> {
        self.legs.iter().position(|l| l.port == port && l.leg == leg)
    }

    fn find_call(&self, call: CallHandle) -> Option<usize> {
        self.legs.iter().position(|l| l.call == call)
    }

    /// Binds the sockets and takes a stream slot for a new leg; the stream starts inactive.
    fn open_media(
        &mut self,
        cc: &mut CallControl,
        port: u8,
        bind: &mut dyn FnMut(IpAddr, (u16, u16), u16) -> Result<StdRtpSocketPair, BindError>,
    ) -> Option<(StreamId, SdpNegotiator)> {
        let ps = self.ports.get(&port)?.clone();
        let stream = self.free.pop()?;
        let pair = match bind(self.media_ip, self.rtp_ports, self.next_rtp) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("port {port}: no RTP port: {e}");
                self.free.push(stream);
                return None;
            }
        };
        let rtp_port = pair.rtp_port().unwrap_or(0);
        self.next_rtp = rtp_port.wrapping_add(2);
        // Behind NAT the SDP announces the socket's public address (`crate::nat`).
        let public = self.media_mapper.as_mut().and_then(|m| m(&pair.rtp));
        self.session_seq += 1;
        let session_id = u64::from(port) << 48 | self.session_seq << 16 | u64::from(rtp_port);
        let sdp = SdpNegotiator::new(
            ps.oa.clone(),
            LocalMedia {
                address: public.map_or(self.media_ip, |a| a.ip()),
                rtp_port: public.map_or(rtp_port, |a| a.port()),
            },
            session_id,
        );
        let first = ps.oa.codecs.first().copied().unwrap_or(AudioCodec::Pcmu);
        let mut sc = StreamConfig::new(voice_codec(first), None);
        sc.direction = Direction::Inactive;
        sc.symmetric = self.symmetric;
        sc.ptime_ms = 20;
        sc.rtp_timeout = std::time::Duration::ZERO;
        cc.push_media(MediaCommand::start_stream(
            stream,
            StreamSockets {
                rtp: pair.rtp,
                rtcp: pair.rtcp,
            },
            sc,
        ));
        Some((stream, sdp))
    }

    /// The stream parameters of a negotiation.
    fn stream_config(&self, port: u8, n: &NegotiatedAudio) -> StreamConfig {
        let mut sc = StreamConfig::new(voice_codec(n.codec), n.remote_rtp);
        sc.remote_rtcp = n.remote_rtcp;
        sc.payload_type = n.payload_type;
        sc.ptime_ms = n.send_ptime.clamp(10, 60) as u8;
        sc.telephone_event_pt = n.telephone_event_pt;
        sc.cn_pt = n.cn_pt;
        sc.red_pt = n.red_pt;
        sc.direction = media_direction(n.direction);
        sc.symmetric = self.symmetric;
        let mode = self.ports.get(&port).map(|p| p.dtmf).unwrap_or(DtmfMode::Rfc4733);
        sc.dtmf = match (mode, n.telephone_event_pt) {
            (DtmfMode::Rfc4733, Some(_)) => DtmfTransport::Rfc4733,
            (DtmfMode::Info, _) => DtmfTransport::Muted,
            _ => DtmfTransport::InBand,
        };
        if sc.dtmf != DtmfTransport::Rfc4733 {
            sc.telephone_event_pt = None;
        }
        // Held calls legitimately go quiet.
        if !sc.direction.receives() {
            sc.rtp_timeout = std::time::Duration::ZERO;
        }
        sc
    }

    fn apply(&mut self, cc: &mut CallControl, i: usize) {
        let Some(n) = self.legs[i].sdp.current().copied() else {
            return;
        };
        let sc = self.stream_config(self.legs[i].port, &n);
        self.legs[i].live = true;
        cc.push_media(MediaCommand::ModifyStream {
            stream: self.legs[i].stream,
            config: Box::new(sc),
        });
    }

    fn close(&mut self, cc: &mut CallControl, i: usize) -> Leg {
        let l = self.legs.swap_remove(i);
        cc.push_media(MediaCommand::StopStream { stream: l.stream });
        self.free.push(l.stream);
        l
    }

    /// The SIP target of a dialled number through an account: `sip:number@domain`, or the
    /// number itself when it is already a SIP address (`user@host`, `sip:...`).
    fn target(&self, account: Option<&AccountSip>, number: &str) -> Option<Uri<String>> {
        let text = if number.starts_with("sip:") || number.starts_with("sips:") {
            number.to_string()
        } else if number.contains('@') {
            format!("sip:{number}")
        } else {
            format!("sip:{number}@{}", account?.domain.trim())
        };
        Uri::parse(&text).ok().map(|u| u.to_owned_uri())
    }

    /// Carries out a port's SIP request.
    pub fn request(
        &mut self,
        ua: &mut UserAgent,
        cc: &mut CallControl,
        req: SipRequest,
        now: std::time::Instant,
        at: hal::Instant,
        bind: &mut dyn FnMut(IpAddr, (u16, u16), u16) -> Result<StdRtpSocketPair, BindError>,
    ) {
        let port = req.port;
        match req.action {
            PortAction::Invite { leg, number, caller } => {
                let fail =
                    |cc: &mut CallControl, status| cc.sip_event(port, SipEvent::Failed { leg, status }, at);
                let Some(ps) = self.ports.get(&port).cloned() else {
                    return fail(cc, 503);
                };
                let acct = self.accounts.get(&ps.account).cloned();
                let acct_id = self.account_id(&ps.account);
                let Some(target) = self.target(acct.as_ref(), &number) else {
                    eprintln!("port {port}: no account to call {number} through");
                    return fail(cc, 503);
                };
                let Some((stream, mut sdp)) = self.open_media(cc, port, bind) else {
                    return fail(cc, 503);
                };
                let offer = sdp.create_offer().to_string();
                let mut headers = Vec::new();
                let from = caller
                    .as_ref()
                    .and_then(|c| self.caller_from(acct.as_ref(), c, &mut headers));
                let trunk = acct.as_ref().map(|a| a.trunk).filter(|t| t.carries_isup());
                // SIP-T/SIP-I: the IAM goes with the offer; the calling number is the line's
                // caller ID (FXO) or the account's number (FXS).
                let iam = trunk.map(|t| {
                    let (calling, privacy) = match &caller {
                        Some(c) => (Some(c.number.as_str()), c.private),
                        None => (acct.as_ref().map(|a| a.user.as_str()), false),
                    };
                    let call = OutgoingCall {
                        called: number_part(&number),
                        calling: calling.map(number_part),
                        privacy,
                    };
                    eprintln!(
                        "port {port}: IAM called {} calling {}{}",
                        call.called,
                        call.calling.unwrap_or("-"),
                        if privacy { " (restricted)" } else { "" }
                    );
                    let numbering = acct.as_ref().map_or(&self.numbering, |a| &a.numbering);
                    interwork::build_iam(&call, numbering, t.variant)
                });
                self.session_seq += 1;
                let (body, extra) = trunk_body(
                    trunk,
                    Some(offer.into_bytes()),
                    iam.as_ref(),
                    self.session_seq,
                    true,
                );
                headers.extend(extra);
                let r = ua.invite(
                    now,
                    InviteRequest {
                        account: acct_id,
                        target: Some(target.clone()),
                        from,
                        body,
                        headers,
                    },
                );
                match r {
                    Ok(call) => {
                        eprintln!("port {port}: calling {target}");
                        cc.bind_stream(port, leg, stream);
                        self.legs.push(Leg {
                            port,
                            leg,
                            call,
                            stream,
                            sdp,
                            outgoing: true,
                            remote: target.to_string(),
                            since: now,
                            answer: None,
                            live: false,
                            trunk,
                            acm_sent: false,
                            suspend: self.suspend_timer(acct.as_ref()),
                        });
                    }
                    Err(e) => {
                        eprintln!("port {port}: cannot call {target}: {e}");
                        cc.push_media(MediaCommand::StopStream { stream });
                        self.free.push(stream);
                        fail(cc, 503);
                    }
                }
            }
            PortAction::Cancel(leg) | PortAction::Bye(leg) => {
                if let Some(i) = self.find(port, leg) {
                    let l = self.close(cc, i);
                    // The subscriber hung up: normal clearing, location user.
                    let cause = CauseIndicators::new(interwork::cause::NORMAL_CLEARING, location::USER);
                    if let Err(e) = self.hang_up(ua, now, &l, &cause) {
                        eprintln!("port {port}: hang-up: {e}");
                    }
                }
            }
            PortAction::Reject { leg, status } => {
                if let Some(i) = self.find(port, leg) {
                    let l = self.close(cc, i);
                    if let Err(e) = self.refuse(ua, now, l.call, status, l.trunk) {
                        eprintln!("port {port}: reject: {e}");
                    }
                }
            }
            PortAction::Ringing { leg, early_media } => {
                let Some(i) = self.find(port, leg) else { return };
                let call = self.legs[i].call;
                // SIP-T/SIP-I: the first provisional carries the ACM (subscriber free).
                let acm =
                    (self.legs[i].trunk.is_some() && !self.legs[i].acm_sent).then(interwork::acm_ringing);
                self.legs[i].acm_sent |= acm.is_some();
                self.session_seq += 1;
                let seq = self.session_seq;
                let trunk = self.legs[i].trunk;
                let r = match self.legs[i].answer.clone() {
                    Some(a) if early_media => {
                        let (body, _) = trunk_body(trunk, Some(a), acm.as_ref(), seq, false);
                        let r = ua.ring(now, call, 183, body, false);
                        self.apply(cc, i);
                        r
                    }
                    _ => {
                        let (body, _) = trunk_body(trunk, None, acm.as_ref(), seq, false);
                        ua.ring(now, call, 180, body, false)
                    }
                };
                if let Err(e) = r {
                    eprintln!("port {port}: ringing: {e}");
                }
            }
            PortAction::Answer(leg) => {
                let Some(i) = self.find(port, leg) else { return };
                let call = self.legs[i].call;
                // With the INVITE's offer answered; without one (late offer), our offer goes in
                // the 200 and the answer comes in the ACK.
                let body = match self.legs[i].answer.clone() {
                    Some(a) => a,
                    None => self.legs[i].sdp.create_offer().to_string().into_bytes(),
                };
                // SIP-T/SIP-I: ANM after an ACM, CON when the call is answered at once.
                let trunk = self.legs[i].trunk;
                let anm = trunk.map(|_| interwork::answer_message(self.legs[i].acm_sent));
                self.session_seq += 1;
                let (body, _) = trunk_body(trunk, Some(body), anm.as_ref(), self.session_seq, false);
                if let Err(e) = ua.answer(now, call, body) {
                    eprintln!("port {port}: answer: {e}");
                }
                if !self.legs[i].live {
                    self.apply(cc, i);
                }
            }
            PortAction::SendKey { leg, key } => {
                let Some(i) = self.find(port, leg) else { return };
                self.send_key(ua, cc, i, key as char, now);
            }
            _ => {}
        }
    }

    /// Ends a leg's call from our side with `cause`: BYE once answered, CANCEL while our
    /// INVITE is unanswered, both with `Reason: Q.850;cause=N` (RFC 3326) and on SIP-T/SIP-I
    /// trunks the BYE with a REL of that cause; a rejection (603, with its REL) while an
    /// incoming call is unanswered.
    fn hang_up(
        &mut self,
        ua: &mut UserAgent,
        now: std::time::Instant,
        l: &Leg,
        cause: &CauseIndicators,
    ) -> Result<(), crate::sip::ua::UaError> {
        use crate::sip::ua::call::CallState;
        let info = ua.call_info(l.call);
        let reason = ("Reason".to_string(), interwork::reason_header(cause));
        match info.map(|c| (c.state, c.is_uac)) {
            Some((CallState::Answered | CallState::Confirmed, _)) => {
                self.session_seq += 1;
                let rel = isup::Message::new(isup::MessageBody::Rel(cause.clone()));
                let (body, mut headers) = trunk_body(l.trunk, None, Some(&rel), self.session_seq, true);
                headers.push(reason);
                match l.trunk {
                    Some(_) => eprintln!("port {}: BYE with REL cause {}", l.port, cause.cause),
                    None => eprintln!("port {}: BYE, cause {}", l.port, cause.cause),
                }
                ua.bye_with_body(now, l.call, body, &headers)
            }
            Some((CallState::Calling | CallState::Proceeding, true)) => {
                eprintln!("port {}: CANCEL, cause {}", l.port, cause.cause);
                ua.cancel_with_headers(now, l.call, &[reason])
            }
            Some((CallState::Incoming | CallState::Ringing, false)) if l.trunk.is_some() => {
                self.refuse(ua, now, l.call, 603, l.trunk)
            }
            _ => ua.hangup(now, l.call),
        }
    }

    /// The suspend timer of a new call of `acct` (its T6, else the default).
    fn suspend_timer(&self, acct: Option<&AccountSip>) -> SuspendTimer {
        acct.map_or_else(SuspendTimer::default, |a| SuspendTimer::with_t6(a.t6_ms))
    }

    /// Milliseconds of the suspend timers' clock at `now`.
    fn ms(&mut self, now: std::time::Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// When [`SipLegs::poll`] has something to do: the earliest suspend timer (Q.764 T6/T2).
    pub fn next_deadline(&self) -> Option<std::time::Instant> {
        let epoch = self.epoch?;
        self.legs
            .iter()
            .filter_map(|l| l.suspend.deadline())
            .min()
            .map(|ms| epoch + std::time::Duration::from_millis(ms))
    }

    /// Runs the timers due at `now`: a call left suspended past T6 (network) or T2 (user) is
    /// released (Q.764 2.5.2): BYE with REL cause 102 (recovery on timer expiry) on
    /// SIP-T/SIP-I and `Reason: Q.850;cause=102`; the port sees the far end hang up.
    pub fn poll(
        &mut self,
        ua: &mut UserAgent,
        cc: &mut CallControl,
        now: std::time::Instant,
        at: hal::Instant,
    ) {
        if self.epoch.is_none() {
            return;
        }
        let ms = self.ms(now);
        let mut i = 0;
        while i < self.legs.len() {
            let Some(rel) = self.legs[i].suspend.poll(ms) else {
                i += 1;
                continue;
            };
            let l = self.close(cc, i);
            let cause = rel.cause().cloned().unwrap_or_else(|| {
                CauseIndicators::new(interwork::cause::RECOVERY_ON_TIMER_EXPIRY, location::PUBLIC_LOCAL)
            });
            eprintln!(
                "port {}: suspended past T6: release, cause {}",
                l.port, cause.cause
            );
            if let Err(e) = self.hang_up(ua, now, &l, &cause) {
                eprintln!("port {}: release: {e}", l.port);
            }
            cc.sip_event(l.port, SipEvent::Ended { leg: l.leg }, at);
        }
    }

    /// Rejects an incoming call with `status`; on SIP-T/SIP-I trunks the response carries the
    /// REL with the mapped cause (RFC 3398 8.2.6.1), a 415 lists what we accept.
    fn refuse(
        &mut self,
        ua: &mut UserAgent,
        now: std::time::Instant,
        call: CallHandle,
        status: u16,
        trunk: Option<TrunkBehaviour>,
    ) -> Result<(), crate::sip::ua::UaError> {
        let rel = trunk.map(|_| interwork::rel_for_status(status));
        self.session_seq += 1;
        let (body, mut headers) = trunk_body(trunk, None, rel.as_ref(), self.session_seq, true);
        if status == 415 {
            headers.push(("Accept".into(), mime::ACCEPT.into()));
        }
        if let Some(c) = rel.as_ref().and_then(|r| r.cause()) {
            eprintln!("incoming call: {status} with REL cause {}", c.cause);
        }
        ua.reject_with_body(now, call, status, body, &headers)
    }

    /// From (and P-Asserted-Identity/Privacy) for a call carrying a caller's identity
    /// (FXO calls from the PSTN).
    fn caller_from(
        &self,
        acct: Option<&AccountSip>,
        c: &CallerInfo,
        headers: &mut Vec<(String, String)>,
    ) -> Option<NameAddr<String>> {
        let domain = acct.map(|a| a.domain.trim()).filter(|d| !d.is_empty())?;
        if c.private {
            headers.push(("Privacy".into(), "id".into()));
            let uri = Uri::parse("sip:anonymous@anonymous.invalid").ok()?.to_owned_uri();
            let mut n = NameAddr::new(uri);
            n.display = Some("Anonymous".into());
            return Some(n);
        }
        let number: String = c
            .number
            .chars()
            .filter(|ch| ch.is_ascii_digit() || *ch == '+')
            .collect();
        if number.is_empty() {
            return None;
        }
        let uri = Uri::parse(&format!("sip:{number}@{domain}")).ok()?.to_owned_uri();
        let mut n = NameAddr::new(uri);
        let name: String = c.name.chars().filter(|ch| *ch != '"' && *ch != '\\').collect();
        if !name.is_empty() {
            n.display = Some(name.clone());
        }
        let pai = if name.is_empty() {
            format!("<sip:{number}@{domain}>")
        } else {
            format!("\"{name}\" <sip:{number}@{domain}>")
        };
        headers.push(("P-Asserted-Identity".into(), pai));
        Some(n)
    }

    /// A key pressed during a call (pulse digits, hook flash as `!`) or heard on the line in
    /// INFO mode: RFC 4733 events on the stream, or a DTMF relay INFO.
    fn send_key(
        &mut self,
        ua: &mut UserAgent,
        cc: &mut CallControl,
        i: usize,
        key: char,
        now: std::time::Instant,
    ) {
        let l = &self.legs[i];
        let mode = self
            .ports
            .get(&l.port)
            .map(|p| p.dtmf)
            .unwrap_or(DtmfMode::Rfc4733);
        let te = l.sdp.current().and_then(|n| n.telephone_event_pt);
        if mode == DtmfMode::Info || te.is_none() || key == '!' {
            let body = format!("Signal={key}\r\nDuration=160\r\n");
            let b = Body {
                content_type: "application/dtmf-relay".into(),
                data: body.into_bytes(),
            };
            if let Err(e) = ua.info(now, l.call, b) {
                eprintln!("port {}: INFO: {e}", l.port);
            }
        } else {
            let mut d = Digits::new();
            if d.push(key).is_ok() {
                cc.push_media(MediaCommand::SendDigits {
                    target: DigitTarget::Stream(l.stream),
                    digits: d,
                    on_ms: 100,
                    off_ms: 60,
                });
            }
        }
    }

    /// A DTMF digit detected on a port's line: relayed by INFO when the port's mode says so
    /// (RFC 4733 and in-band relaying happen in the media loop).
    pub fn line_digit(
        &mut self,
        ua: &mut UserAgent,
        cc: &mut CallControl,
        port: u8,
        digit: char,
        now: std::time::Instant,
    ) {
        if self.ports.get(&port).map(|p| p.dtmf) != Some(DtmfMode::Info) {
            return;
        }
        if let Some(i) = self.legs.iter().position(|l| l.port == port && l.live) {
            self.send_key(ua, cc, i, digit, now);
        }
    }

    /// Chooses the port for an incoming call: the ports of the account it came in for (by the
    /// user agent, or by the To user), else every FXS port when no port names an account, else
    /// (no FXS port) the FXO ports.
    fn port_for(&self, cc: &CallControl, name: Option<String>) -> Result<u8, Refusal> {
        let candidates = self.candidate_ports(name);
        if candidates.is_empty() {
            return Err(Refusal::NoPort);
        }
        candidates
            .into_iter()
            .find(|p| cc.is_idle(*p))
            .ok_or(Refusal::Busy)
    }

    /// The account an incoming call is for: on SIP-T/SIP-I the one whose number the IAM's
    /// called party number (`routed`) names, else the one the user agent matched, else the
    /// one whose user is the To or Request-URI user.
    fn account_of_call(
        &self,
        account: Option<AccountId>,
        request: &Message,
        routed: Option<&str>,
    ) -> Option<String> {
        let digits = |s: &str| -> String { s.chars().filter(|c| c.is_ascii_digit()).collect() };
        if let Some(n) = routed.map(digits).filter(|n| !n.is_empty()) {
            let mut by_number: Vec<&String> = self
                .accounts
                .iter()
                .filter(|(_, a)| digits(&a.user) == n)
                .map(|(k, _)| k)
                .collect();
            by_number.sort();
            if let Some(k) = by_number.first() {
                return Some((*k).clone());
            }
        }
        let mut name = account.and_then(|a| self.account_name(a));
        if name.is_none() {
            let to_user = request.to_hdr().and_then(|t| match &t.uri {
                Uri::Sip(s) => s.user.map(|u| u.to_string()),
                _ => None,
            });
            let ru_user = match request.request_uri() {
                Some(Uri::Sip(s)) => s.user.clone(),
                _ => None,
            };
            name = self
                .accounts
                .iter()
                .find(|(_, a)| Some(&a.user) == to_user.as_ref() || Some(&a.user) == ru_user.as_ref())
                .map(|(n, _)| n.clone());
        }
        name
    }

    /// The ports that may take a call for account `name` (all FXS ports when it names none,
    /// else the FXO ports of a PSTN gateway), in port order.
    fn candidate_ports(&self, name: Option<String>) -> Vec<u8> {
        let mut candidates: Vec<u8> = match &name {
            Some(n) => self
                .ports
                .iter()
                .filter(|(_, p)| &p.account == n)
                .map(|(id, _)| *id)
                .collect(),
            None => Vec::new(),
        };
        if candidates.is_empty() {
            candidates = self
                .ports
                .iter()
                .filter(|(_, p)| p.kind == PortKind::Fxs && (p.account.is_empty() || name.is_none()))
                .map(|(id, _)| *id)
                .collect();
        }
        // A gateway without FXS ports is a PSTN gateway: a number no account owns goes out on
        // its FXO line (the line dials the Request-URI's digits).
        if candidates.is_empty() && name.is_none() {
            candidates = self
                .ports
                .iter()
                .filter(|(_, p)| p.kind == PortKind::Fxo)
                .map(|(id, _)| *id)
                .collect();
        }
        candidates.sort_unstable();
        candidates
    }

    /// A user agent event about calls (registration events are not for us).
    pub fn ua_event(
        &mut self,
        ua: &mut UserAgent,
        cc: &mut CallControl,
        ev: UaEvent,
        now: std::time::Instant,
        at: hal::Instant,
        bind: &mut dyn FnMut(IpAddr, (u16, u16), u16) -> Result<StdRtpSocketPair, BindError>,
    ) {
        match ev {
            UaEvent::Incoming {
                call,
                account,
                request,
            } => {
                if let Err((r, trunk)) = self.incoming(cc, call, account, &request, at, bind)
                    && let Err(e) = self.refuse(ua, now, call, r.status(), trunk)
                {
                    eprintln!("incoming call: reject: {e}");
                }
            }
            UaEvent::Progress {
                call,
                status,
                response,
            } => {
                let Some(i) = self.find_call(call) else { return };
                let sdp = sdp_of(&response);
                if let Some(sdp) = sdp {
                    self.answer_in(cc, i, sdp);
                }
                let (port, leg) = (self.legs[i].port, self.legs[i].leg);
                // ACM/CPG decide between ringback and in-band progress (RFC 3398 7.2.x,
                // Q.1912.5); without ISUP the status does.
                let variant = self.legs[i].trunk.map_or(Variant::Itu, |t| t.variant);
                let isup = isup_of(&response, variant).ok().flatten();
                let shown = progress_status(status, isup.as_ref());
                match &isup {
                    Some(m) => eprintln!("port {port}: progress {status} with {}", m.message_type()),
                    None => eprintln!("port {port}: progress {status}"),
                }
                let ev = SipEvent::Progress {
                    leg,
                    status: shown,
                    early_media: sdp.is_some(),
                };
                cc.sip_event(port, ev, at);
            }
            UaEvent::Answered { call, response } => {
                let Some(i) = self.find_call(call) else { return };
                if let Some(sdp) = sdp_of(&response) {
                    self.answer_in(cc, i, sdp);
                }
                let (port, leg) = (self.legs[i].port, self.legs[i].leg);
                let codec = self.legs[i]
                    .sdp
                    .current()
                    .map(|n| n.codec.encoding_name())
                    .unwrap_or("no media");
                let variant = self.legs[i].trunk.map_or(Variant::Itu, |t| t.variant);
                match isup_of(&response, variant).ok().flatten() {
                    Some(m) => eprintln!("port {port}: answered ({codec}) with {}", m.message_type()),
                    None => eprintln!("port {port}: answered ({codec})"),
                }
                cc.sip_event(port, SipEvent::Answered { leg }, at);
            }
            UaEvent::Failed {
                call,
                status,
                response,
            } => {
                let Some(i) = self.find_call(call) else { return };
                let l = self.close(cc, i);
                // A REL in the response gives the cause; its mapping decides the tone
                // (RFC 3398 8.2.6.1: the encapsulated cause wins over the status).
                let variant = l.trunk.map_or(Variant::Itu, |t| t.variant);
                let (shown, release) = failure_status(status, response.as_ref(), variant);
                match release {
                    Some(r) => eprintln!(
                        "port {}: call failed: {status}, REL cause {} ({:?}): as {shown}",
                        l.port, r.cause.cause, r.tone
                    ),
                    None => eprintln!("port {}: call failed: {status}", l.port),
                }
                cc.sip_event(
                    l.port,
                    SipEvent::Failed {
                        leg: l.leg,
                        status: shown,
                    },
                    at,
                );
            }
            UaEvent::Confirmed { call, ack } => {
                let Some(i) = self.find_call(call) else { return };
                if self.legs[i].sdp.offer_pending()
                    && let Some(sdp) = sdp_of(&ack)
                {
                    self.answer_in(cc, i, sdp);
                }
            }
            UaEvent::Request { call, id, request } => {
                let (status, body) = match self.find_call(call) {
                    Some(i) => self.in_dialog(cc, i, &request, now),
                    None => (481, None),
                };
                if let Err(e) = ua.respond(now, id, status, body) {
                    eprintln!("in-dialog request: respond: {e}");
                }
            }
            UaEvent::Response {
                call,
                method,
                status,
                response,
            } => {
                // Our re-offers (none yet besides refreshes) get their answer here.
                if method == Method::Invite
                    && (200..300).contains(&status)
                    && let Some(i) = self.find_call(call)
                    && self.legs[i].sdp.offer_pending()
                    && let Some(r) = response.as_ref()
                    && let Some(sdp) = sdp_of(r)
                {
                    self.answer_in(cc, i, sdp);
                }
            }
            UaEvent::Terminated {
                call,
                reason,
                request,
            } => {
                let Some(i) = self.find_call(call) else { return };
                let l = self.close(cc, i);
                let ev = match reason {
                    EndReason::Failed(status) => {
                        eprintln!("port {}: call ended: {reason:?}", l.port);
                        SipEvent::Failed { leg: l.leg, status }
                    }
                    _ => {
                        // The far end's BYE/CANCEL: its REL or Reason header says why.
                        let variant = l.trunk.map_or(Variant::Itu, |t| t.variant);
                        let (ev, release) = ended_event(l.leg, request.as_ref(), variant);
                        match release {
                            Some(r) => eprintln!(
                                "port {}: call ended: {reason:?}, cause {} ({:?})",
                                l.port, r.cause.cause, r.tone
                            ),
                            None => eprintln!("port {}: call ended: {reason:?}", l.port),
                        }
                        ev
                    }
                };
                cc.sip_event(l.port, ev, at);
            }
            UaEvent::Prack { .. } | UaEvent::Registration { .. } => {}
        }
    }

    /// The peer's SDP answer to our offer.
    fn answer_in(&mut self, cc: &mut CallControl, i: usize, sdp: &[u8]) {
        let parsed = SessionDescription::parse_bytes(sdp);
        let l = &mut self.legs[i];
        match parsed.map(|sd| l.sdp.process_answer(&sd)) {
            Ok(Ok(_)) => self.apply(cc, i),
            // A second copy of the answer (183 then 200) finds no offer pending: nothing changes.
            Ok(Err(crate::sdp::OaError::NoOfferPending)) => {}
            Ok(Err(e)) => eprintln!("port {}: SDP answer not usable: {e}", l.port),
            Err(e) => eprintln!("port {}: SDP answer does not parse: {e}", l.port),
        }
    }

    fn incoming(
        &mut self,
        cc: &mut CallControl,
        call: CallHandle,
        account: Option<AccountId>,
        request: &Message,
        at: hal::Instant,
        bind: &mut dyn FnMut(IpAddr, (u16, u16), u16) -> Result<StdRtpSocketPair, BindError>,
    ) -> Result<(), (Refusal, Option<TrunkBehaviour>)> {
        // SIP-T/SIP-I: the IAM's called number routes the call, its calling number is the
        // caller ID. A body part we cannot handle whose handling is required gets 415.
        let iam = match isup_of(request, Variant::Itu) {
            Ok(m) => m.filter(|m| m.message_type() == isup::MessageType::Iam),
            Err(e) => {
                eprintln!("incoming call: {e}");
                let r = match e {
                    BodyError::Unsupported { .. } => Refusal::UnsupportedBody,
                    _ => Refusal::BadBody,
                };
                return Err((r, None));
            }
        };
        let ru_user = match request.request_uri() {
            Some(Uri::Sip(s)) => s.user.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let routed = interwork::route_number(iam.as_ref(), &ru_user, &self.numbering);
        let name = self.account_of_call(
            account,
            request,
            routed.from_iam.then_some(routed.number.as_str()),
        );
        let trunk = match name.as_ref().and_then(|n| self.accounts.get(n)) {
            Some(a) => Some(a.trunk).filter(|t| t.carries_isup()),
            // No account to say: answer in kind.
            None => iam
                .as_ref()
                .map(|_| TrunkBehaviour::new(crate::config::model::TrunkProfile::SipT)),
        };
        let acct = name.as_ref().and_then(|n| self.accounts.get(n));
        let suspend = self.suspend_timer(acct);
        let numbering = acct.map_or_else(|| self.numbering.clone(), |a| a.numbering.clone());
        let port = self.port_for(cc, name).map_err(|r| (r, trunk))?;
        let offer = match sdp_of(request) {
            Some(b) => Some(SessionDescription::parse_bytes(b).map_err(|_| (Refusal::NotAcceptable, trunk))?),
            None => None,
        };
        let (stream, mut sdp) = self.open_media(cc, port, bind).ok_or((Refusal::NoMedia, trunk))?;
        let answer = match offer {
            Some(o) => match sdp.process_offer(&o) {
                Ok((a, _)) => Some(a.to_string().into_bytes()),
                Err(_) => {
                    cc.push_media(MediaCommand::StopStream { stream });
                    self.free.push(stream);
                    return Err((Refusal::NotAcceptable, trunk));
                }
            },
            None => None,
        };
        self.next_incoming = self.next_incoming.wrapping_add(1);
        let leg = LegId(0x8000_0000 | (self.next_incoming & 0x7fff_ffff));
        let remote = request.from_hdr().map(|f| f.uri.to_string()).unwrap_or_default();
        eprintln!("port {port}: incoming call from {remote}");
        cc.bind_stream(port, leg, stream);
        self.legs.push(Leg {
            port,
            leg,
            call,
            stream,
            sdp,
            outgoing: false,
            remote,
            since: std::time::Instant::now(),
            answer,
            live: false,
            trunk,
            acm_sent: false,
            suspend,
        });
        if iam.is_some() {
            eprintln!("port {port}: IAM called {}", routed.number);
        }
        let ev = incoming_trunk_event(leg, request, iam.as_ref(), &routed, &numbering);
        cc.sip_event(port, ev, at);
        Ok(())
    }

    /// A request within a call's dialog: re-INVITE/UPDATE offers (hold, resume, codec change,
    /// peer moved) and DTMF relay INFO. Returns the status and body to answer with.
    fn in_dialog(
        &mut self,
        cc: &mut CallControl,
        i: usize,
        request: &Message,
        now: std::time::Instant,
    ) -> (u16, Option<Body>) {
        let method = request.method().cloned();
        // DTMF relay first: its bodies carry no disposition.
        if method == Some(Method::Info) && !request.body.is_empty() && dtmf_relay_key(request).is_none() {
            return self.mid_call_isup(i, request, now);
        }
        if method != Some(Method::Info) {
            // SIP-T re-INVITE/UPDATE: the ISUP beside the SDP (e.g. SUS/RES with a hold).
            let variant = self.legs[i].trunk.map_or(Variant::Itu, |t| t.variant);
            match isup_of(request, variant) {
                Ok(Some(m)) => {
                    self.mid_call(i, &m, now);
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("port {}: {e}", self.legs[i].port);
                    return (e.status(), None);
                }
            }
        }
        match method {
            Some(Method::Invite) | Some(Method::Update) => match sdp_of(request) {
                Some(b) => {
                    let Ok(o) = SessionDescription::parse_bytes(b) else {
                        return (400, None);
                    };
                    match self.legs[i].sdp.process_offer(&o) {
                        Ok((a, _)) => {
                            self.apply(cc, i);
                            (200, Some(Body::sdp(a.to_string().into_bytes())))
                        }
                        Err(_) => (488, None),
                    }
                }
                // An offerless re-INVITE: our offer in the 200, the answer in the ACK.
                None if method == Some(Method::Invite) => {
                    let offer = self.legs[i].sdp.create_offer().to_string();
                    (200, Some(Body::sdp(offer.into_bytes())))
                }
                None => (200, None),
            },
            Some(Method::Info) => {
                if request.body.is_empty() {
                    return (200, None);
                }
                match dtmf_relay_key(request) {
                    Some(k) => {
                        let mut d = Digits::new();
                        let _ = d.push(k);
                        cc.push_media(MediaCommand::SendDigits {
                            target: DigitTarget::Line(self.legs[i].port),
                            digits: d,
                            on_ms: 100,
                            off_ms: 50,
                        });
                        (200, None)
                    }
                    None => (415, None),
                }
            }
            _ => (501, None),
        }
    }

    /// An INFO that is not DTMF relay: SIP-T mid-call ISUP (SUS/RES, INF/INR, CPG...) is
    /// taken (200); an unknown body whose handling is required gets 415, an optional one is
    /// ignored.
    fn mid_call_isup(&mut self, i: usize, request: &Message, now: std::time::Instant) -> (u16, Option<Body>) {
        let variant = self.legs[i].trunk.map_or(Variant::Itu, |t| t.variant);
        match isup_of(request, variant) {
            Ok(Some(m)) => {
                self.mid_call(i, &m, now);
                (200, None)
            }
            Ok(None) => (200, None),
            Err(e) => {
                eprintln!("port {}: INFO: {e}", self.legs[i].port);
                (e.status(), None)
            }
        }
    }

    /// Mid-call ISUP. Suspend and resume change nothing an analog line can hear (the far
    /// party is on hook or moving its terminal; the media simply pauses), but on SIP-T/SIP-I
    /// calls a SUS starts Q.764 T6 (network) or T2 (user), which RES stops; [`SipLegs::poll`]
    /// releases the call when it runs out.
    fn mid_call(&mut self, i: usize, m: &isup::Message, now: std::time::Instant) {
        let port = self.legs[i].port;
        let action = interwork::mid_call_action(m);
        if self.legs[i].trunk.is_some() {
            let ms = self.ms(now);
            self.legs[i].suspend.on_action(action, ms);
        }
        match action {
            MidCallAction::Suspend { network_initiated } => eprintln!(
                "port {port}: SUS ({}) received: call suspended",
                if network_initiated { "network" } else { "user" }
            ),
            MidCallAction::Resume { network_initiated } => eprintln!(
                "port {port}: RES ({}) received: call resumed",
                if network_initiated { "network" } else { "user" }
            ),
            MidCallAction::Release(c) => {
                eprintln!("port {port}: REL cause {c} received in a mid-call request")
            }
            MidCallAction::Ignore => eprintln!("port {port}: {} received", m.message_type()),
        }
    }

    /// A media loop event about a stream: RTCP BYE from the peer ends nothing by itself (some
    /// peers send it on hold); RTP timeouts are reported.
    pub fn stream_event(&mut self, ev: &crate::media::StreamEvent) {
        if let crate::media::StreamEventKind::Error(e) = ev.kind
            && let Some(l) = self.legs.iter().find(|l| l.stream == ev.stream)
        {
            eprintln!("port {}: {}: {e}", l.port, ev.stream);
        }
    }

    /// The address RTP binds to.
    pub fn media_ip(&self) -> IpAddr {
        self.media_ip
    }

    /// Where the SDP of new calls takes its address from, when not from the bound socket
    /// ([`crate::nat::edge::media_mapper`]).
    pub fn set_media_mapper(&mut self, mapper: Option<crate::nat::edge::MediaMapper>) {
        self.media_mapper = mapper;
    }
}

/// Binds RTP/RTCP sockets in `range`, starting at `hint`.
pub fn bind_rtp(ip: IpAddr, range: (u16, u16), hint: u16) -> Result<StdRtpSocketPair, BindError> {
    StdRtpSocketPair::bind(ip, range.0..=range.1, hint)
}
