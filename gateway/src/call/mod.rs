//! Call control: what a person at an analog phone (FXS) or on a PSTN line (FXO) experiences.
//!
//! - [`dialplan`]: Cisco/Sipura dial plan syntax, its parser/emitter and the digit collector.
//! - [`fxs`]: [`fxs::FxsPort`], one phone port's call control (dial tone, dialling, ringing,
//!   caller ID, answer, hang-up, failure tones).
//! - [`fxo`]: [`fxo::FxoPort`], one PSTN line's call control (one- and two-stage inbound,
//!   outbound with dial tone detection, answer and disconnect supervision).
//! - [`router`]: [`router::LocalRouter`], calls between local FXS ports without a server.
//! - [`identity`]: caller (P-Asserted-Identity/From/Privacy) and distinctive ring (Alert-Info)
//!   from an incoming INVITE's headers.
//! - [`sipleg`]: [`sipleg::SipLegs`], the SIP legs of the ports' calls (user agent calls, SDP,
//!   RTP streams).
//! - [`control`]: [`control::CallControl`], every port's machine wired to the media loop's
//!   commands/events and to SIP requests for the user agent.
//!
//! Every machine is sans-IO: it takes line events (from the media loop), SIP call events (from
//! the user agent, already reduced to what call control needs), DSP observations and `now`, and
//! queues [`PortAction`]s (line feed, tones, caller ID, media, SIP requests/responses) with its
//! next deadline. SIP legs are named by a [`LegId`] the machine allocates; the control plane maps
//! them to the user agent's calls.

pub mod control;
pub mod dialplan;
pub mod fxo;
pub mod fxs;
pub mod identity;
pub mod router;
pub mod sipleg;

use codecs::tones::ToneKind;
use hal::fxs::LineFeed;

/// A SIP call leg of one port, numbered by the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u32);

/// Who is calling, as shown on the phone and sent in From/P-Asserted-Identity.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CallerInfo {
    /// Digits (and `+`); empty when unknown.
    pub number: String,
    pub name: String,
    /// The caller asked for privacy (Privacy: id, or an anonymous identity): show "P".
    pub private: bool,
}

impl CallerInfo {
    /// What a caller ID message received on a line (FXO) tells: a withheld number or name
    /// makes the caller private; an unavailable one is left empty.
    pub fn from_cid(cid: &codecs::callerid::CallerId) -> CallerInfo {
        use codecs::callerid::Absence;
        CallerInfo {
            number: cid.number.as_str().to_string(),
            name: cid.name.as_str().to_string(),
            private: cid.number_absence == Some(Absence::Private)
                || (cid.number.is_empty() && cid.name_absence == Some(Absence::Private)),
        }
    }
}

/// The SIP side of a call, reduced to what call control acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SipEvent {
    /// A new incoming INVITE for this port.
    Incoming {
        leg: LegId,
        caller: CallerInfo,
        /// The number called (Request-URI user part), for FXO outbound dialling.
        called: String,
        /// Distinctive ring index from Alert-Info (`<...>;info=alert-N` / `Bellcore-drN`), 1-based.
        distinctive_ring: Option<u8>,
    },
    /// A provisional response to our INVITE; `early_media` when it carried SDP.
    Progress {
        leg: LegId,
        status: u16,
        early_media: bool,
    },
    /// Our INVITE was answered.
    Answered { leg: LegId },
    /// Our INVITE failed with this final status.
    Failed { leg: LegId, status: u16 },
    /// The far end ended the call (BYE, or CANCEL of an incoming call).
    Ended { leg: LegId },
    /// The far end ended the call giving a cause other than normal clearing (a REL in its
    /// BYE/CANCEL, or an RFC 3326 `Reason: Q.850` header), as the SIP status the cause maps to
    /// (RFC 3398): the port plays the tone it plays for that rejection.
    Released { leg: LegId, status: u16 },
}

/// Out-dialling timing of an FXO port (DTMF per Q.23/Q.24, pulses per the line's exchange).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DialTiming {
    /// DTMF tone duration and the pause after it, ms.
    pub dtmf_on_ms: u16,
    pub dtmf_off_ms: u16,
    /// Loop break and make of one pulse, ms (60/40 at 10 pulses per second).
    pub pulse_break_ms: u16,
    pub pulse_make_ms: u16,
    /// Loop closed between two pulse-dialled digits, ms.
    pub pulse_interdigit_ms: u16,
}

impl Default for DialTiming {
    fn default() -> Self {
        DialTiming {
            dtmf_on_ms: 100,
            dtmf_off_ms: 100,
            pulse_break_ms: 60,
            pulse_make_ms: 40,
            pulse_interdigit_ms: 800,
        }
    }
}

/// What a port asks the rest of the gateway to do.
#[derive(Clone, Debug, PartialEq)]
pub enum PortAction {
    /// FXS: drive the line feed.
    Feed(LineFeed),
    /// FXO: seize (true) or release the line.
    OffHook(bool),
    /// Play a call progress tone of the port's country toward the line, replacing any other.
    Tone(ToneKind),
    /// Receiver off-hook tone (howler).
    Howler,
    /// Stop any tone.
    StopTone,
    /// FXS: send caller ID now (FSK in the ring pause, or DTMF before ringing).
    CallerId(CallerInfo),
    /// FXO: dial these keys toward the exchange (DTMF or pulses per the port's setting), with
    /// the port's dialling timing.
    DialOut {
        digits: String,
        pulse: bool,
        timing: DialTiming,
    },
    /// Connect line audio both ways with the leg's RTP.
    MediaConnect(LegId),
    /// Play the leg's early media to the line (the line's audio is not sent).
    MediaEarly(LegId),
    /// Stop the leg's audio.
    MediaDisconnect(LegId),
    /// Send a key pressed during a call (pulse dialled, or a hook flash as `!`).
    SendKey { leg: LegId, key: u8 },
    /// Place a call to `number` (through the account's proxy, or a local port).
    Invite {
        leg: LegId,
        number: String,
        caller: Option<CallerInfo>,
    },
    /// Cancel our unanswered INVITE.
    Cancel(LegId),
    /// End an established call.
    Bye(LegId),
    /// Incoming call: 180 Ringing (with SDP for early media when `early_media`).
    Ringing { leg: LegId, early_media: bool },
    /// Incoming call: 200 OK.
    Answer(LegId),
    /// Incoming call: final error response.
    Reject { leg: LegId, status: u16 },
}

/// The tone a failed outgoing call plays, from its final status (RFC 3398 style mapping).
pub fn failure_tone(status: u16, sit_for_bad_numbers: bool) -> ToneKind {
    match status {
        486 | 600 => ToneKind::Busy,
        404 | 410 | 484 | 604 | 485 | 414 if sit_for_bad_numbers => ToneKind::Sit,
        _ => ToneKind::Congestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_from_line_caller_id() {
        use codecs::callerid::{Absence, CallerId};
        let c = CallerInfo::from_cid(&CallerId::new("5551234", "ALICE").unwrap());
        assert_eq!(
            c,
            CallerInfo {
                number: "5551234".into(),
                name: "ALICE".into(),
                private: false
            }
        );
        let withheld = CallerId {
            number_absence: Some(Absence::Private),
            name_absence: Some(Absence::Private),
            ..CallerId::default()
        };
        assert!(CallerInfo::from_cid(&withheld).private);
        let unknown = CallerId {
            number_absence: Some(Absence::Unavailable),
            ..CallerId::default()
        };
        assert_eq!(CallerInfo::from_cid(&unknown), CallerInfo::default());
    }

    #[test]
    fn failure_tones() {
        assert_eq!(failure_tone(486, true), ToneKind::Busy);
        assert_eq!(failure_tone(600, false), ToneKind::Busy);
        assert_eq!(failure_tone(404, true), ToneKind::Sit);
        assert_eq!(failure_tone(404, false), ToneKind::Congestion);
        assert_eq!(failure_tone(484, true), ToneKind::Sit);
        assert_eq!(failure_tone(408, true), ToneKind::Congestion);
        assert_eq!(failure_tone(480, true), ToneKind::Congestion);
        assert_eq!(failure_tone(503, true), ToneKind::Congestion);
    }
}
