//! SIP bodies carrying ISUP (RFC 3204, RFC 3372 5.x, RFC 5621).
//!
//! Outgoing: [`build_body`] makes `application/sdp`, `application/ISUP` or, when both are
//! present, `multipart/mixed` with the SDP first. Incoming: [`parse_body`] finds the SDP and
//! the ISUP part wherever they sit, ignores unknown parts whose `handling` is optional, and
//! reports unknown parts whose handling is required (the default, RFC 3261 20.11) as
//! [`BodyError::Unsupported`]: answer those with 415 and [`ACCEPT`] in an Accept header.

use std::fmt;

use super::isup::Variant;
use crate::sip::wire::multipart::{self, MultipartError, OwnedPart};
use crate::sip::wire::{HeaderName, Message as SipMessage, SipMsg};

/// Media types we take, for the Accept header of a 415 (RFC 3261 21.4.13).
pub const ACCEPT: &str = "application/sdp, application/isup, multipart/mixed";

/// RFC 3204 `version` (and `base`) values.
pub const VERSION_ITU: &str = "itu-t92+";
pub const VERSION_ANSI: &str = "ansi00";

/// The `handling` parameter of Content-Disposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Optional,
    Required,
}

impl Handling {
    pub fn as_str(self) -> &'static str {
        match self {
            Handling::Optional => "optional",
            Handling::Required => "required",
        }
    }
}

/// Why a body could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// multipart/* without a boundary parameter.
    MissingBoundary,
    /// The multipart framing is broken.
    Multipart(MultipartError),
    /// A body or part we do not understand whose handling is required: answer 415.
    Unsupported {
        /// Index of the part (None: the whole body).
        part: Option<usize>,
        content_type: String,
    },
}

impl BodyError {
    /// SIP status to answer a request whose body failed: 415 for unsupported media, 400 for
    /// broken framing.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::Unsupported { .. } => 415,
            _ => 400,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::MissingBoundary => f.write_str("multipart body without boundary"),
            BodyError::Multipart(e) => write!(f, "{e}"),
            BodyError::Unsupported {
                part: Some(i),
                content_type,
            } => write!(f, "part {i}: unsupported required body {content_type}"),
            BodyError::Unsupported {
                part: None,
                content_type,
            } => write!(f, "unsupported required body {content_type}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// A parsed media type: `type/subtype` lower-cased, parameters with unquoted values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType<'a> {
    pub essence: String,
    pub params: Vec<(&'a str, &'a str)>,
}

impl<'a> MediaType<'a> {
    /// Parses `type/subtype *(;param=value)`; quoted values lose their quotes (no escapes
    /// occur in the values we read: boundary, version, base, handling).
    pub fn parse(s: &'a str) -> Self {
        let mut it = split_params(s);
        let essence = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let params = it
            .filter_map(|p| {
                let (n, v) = p.split_once('=')?;
                let v = v.trim();
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                Some((n.trim(), v))
            })
            .collect();
        MediaType { essence, params }
    }

    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Splits at `;` outside double quotes.
fn split_params(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        let mut q = false;
        for (i, c) in r.char_indices() {
            match c {
                '"' => q = !q,
                ';' if !q => {
                    rest = Some(&r[i + 1..]);
                    return Some(&r[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(r)
    })
}

/// The `handling` of a Content-Disposition value; required when absent (RFC 3261 20.11).
pub fn disposition_handling(disposition: Option<&str>) -> Handling {
    disposition
        .map(MediaType::parse)
        .and_then(|d| d.param("handling").map(|h| h.eq_ignore_ascii_case("optional")))
        .map_or(Handling::Required, |opt| {
            if opt {
                Handling::Optional
            } else {
                Handling::Required
            }
        })
}

/// ISUP variant named by an RFC 3204 version token.
pub fn variant_of_version(v: &str) -> Option<Variant> {
    let v = v.to_ascii_lowercase();
    if v.starts_with("itu-t") || v.starts_with("etsi") {
        Some(Variant::Itu)
    } else if v.starts_with("ansi") || v.starts_with("gr-317") {
        Some(Variant::Ansi)
    } else {
        None
    }
}

/// Content-Type of an ISUP part.
pub fn isup_content_type(variant: Variant) -> String {
    let v = match variant {
        Variant::Itu => VERSION_ITU,
        Variant::Ansi => VERSION_ANSI,
    };
    format!("application/ISUP;version={v};base={v}")
}

/// Content-Disposition of an ISUP part.
pub fn isup_disposition(handling: Handling) -> String {
    format!("signal;handling={}", handling.as_str())
}

/// An ISUP body found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsupPart<'a> {
    pub variant: Variant,
    pub handling: Handling,
    /// The message, from its type code.
    pub bytes: &'a [u8],
}

/// The parts of a received body we act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrunkBody<'a> {
    pub sdp: Option<&'a [u8]>,
    pub isup: Option<IsupPart<'a>>,
    /// Parts skipped because their handling was optional.
    pub ignored: usize,
}

enum Kind<'a> {
    Sdp,
    Isup(IsupPart<'a>),
    Unknown,
}

fn classify<'a>(ct: &MediaType<'_>, handling: Handling, body: &'a [u8], fallback: Variant) -> Kind<'a> {
    match ct.essence.as_str() {
        "application/sdp" => Kind::Sdp,
        "application/isup" => {
            // A version we do not know falls back to its base, then (if neither is named) to
            // the trunk's variant; a named but unknown one is unsupported.
            let variant = match (ct.param("version"), ct.param("base")) {
                (None, None) => Some(fallback),
                (v, b) => v
                    .and_then(variant_of_version)
                    .or_else(|| b.and_then(variant_of_version)),
            };
            match variant {
                Some(variant) => Kind::Isup(IsupPart {
                    variant,
                    handling,
                    bytes: body,
                }),
                None => Kind::Unknown,
            }
        }
        _ => Kind::Unknown,
    }
}

/// Interprets a received body. `content_type`/`content_disposition` are the message's header
/// values; `fallback` is the variant assumed for an ISUP part naming no version.
pub fn parse_body<'a>(
    content_type: &str,
    content_disposition: Option<&str>,
    body: &'a [u8],
    fallback: Variant,
) -> Result<TrunkBody<'a>, BodyError> {
    let mut out = TrunkBody::default();
    if body.is_empty() {
        return Ok(out);
    }
    let ct = MediaType::parse(content_type);
    let top_handling = disposition_handling(content_disposition);
    if ct.essence == "multipart/mixed" || ct.essence == "multipart/related" {
        let boundary = ct.param("boundary").ok_or(BodyError::MissingBoundary)?;
        let mp = multipart::parse(body, boundary).map_err(BodyError::Multipart)?;
        for (i, part) in mp.parts.iter().enumerate() {
            let pct = MediaType::parse(part.content_type());
            let handling = disposition_handling(part.header("Content-Disposition"));
            match classify(&pct, handling, part.body, fallback) {
                Kind::Sdp if out.sdp.is_none() => out.sdp = Some(part.body),
                Kind::Isup(p) if out.isup.is_none() => out.isup = Some(p),
                _ if handling == Handling::Optional => out.ignored += 1,
                Kind::Unknown => {
                    return Err(BodyError::Unsupported {
                        part: Some(i),
                        content_type: part.content_type().to_string(),
                    });
                }
                // A second SDP or ISUP part: RFC 3204 allows one ISUP per message; extra
                // copies are ignored rather than failing the call.
                _ => out.ignored += 1,
            }
        }
        return Ok(out);
    }
    match classify(&ct, top_handling, body, fallback) {
        Kind::Sdp => out.sdp = Some(body),
        Kind::Isup(p) => out.isup = Some(p),
        Kind::Unknown if top_handling == Handling::Optional => out.ignored = 1,
        Kind::Unknown => {
            return Err(BodyError::Unsupported {
                part: None,
                content_type: content_type.to_string(),
            });
        }
    }
    Ok(out)
}

/// A body to send: Content-Type header value and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingBody {
    pub content_type: String,
    /// Content-Disposition for a lone ISUP body (None otherwise).
    pub content_disposition: Option<String>,
    pub body: Vec<u8>,
}

/// Builds the body of a message on a SIP-T/SIP-I trunk. `seed` chooses the multipart
/// boundary (the caller's random source keeps this sans-IO).
pub fn build_body(
    sdp: Option<&[u8]>,
    isup: Option<(&[u8], Variant, Handling)>,
    seed: u64,
) -> Option<OutgoingBody> {
    match (sdp, isup) {
        (None, None) => None,
        (Some(s), None) => Some(OutgoingBody {
            content_type: "application/sdp".into(),
            content_disposition: None,
            body: s.to_vec(),
        }),
        (None, Some((m, v, h))) => Some(OutgoingBody {
            content_type: isup_content_type(v),
            content_disposition: Some(isup_disposition(h)),
            body: m.to_vec(),
        }),
        (Some(s), Some((m, v, h))) => {
            let mut isup_part = OwnedPart::new(&isup_content_type(v), m);
            isup_part
                .headers
                .push(("Content-Disposition".into(), isup_disposition(h)));
            let parts = [OwnedPart::new("application/sdp", s), isup_part];
            let boundary = multipart::choose_boundary(&parts, seed);
            // choose_boundary guarantees the boundary occurs in no part.
            let body = multipart::emit(&parts, &boundary).ok()?;
            Some(OutgoingBody {
                content_type: format!("multipart/mixed;boundary={boundary}"),
                content_disposition: None,
                body,
            })
        }
    }
}

/// A lone ISUP message as a one-part multipart/mixed body, for messages that cannot carry a
/// Content-Disposition header of their own (the part carries it).
pub fn build_single_part(
    isup: &[u8],
    variant: Variant,
    handling: Handling,
    seed: u64,
) -> Option<OutgoingBody> {
    let mut part = OwnedPart::new(&isup_content_type(variant), isup);
    part.headers
        .push(("Content-Disposition".into(), isup_disposition(handling)));
    let parts = [part];
    let boundary = multipart::choose_boundary(&parts, seed);
    let body = multipart::emit(&parts, &boundary).ok()?;
    Some(OutgoingBody {
        content_type: format!("multipart/mixed;boundary={boundary}"),
        content_disposition: None,
        body,
    })
}

/// [`parse_body`] over a received SIP message's Content-Type, Content-Disposition and body.
pub fn parse_message<'a>(msg: &SipMsg<'a>, fallback: Variant) -> Result<TrunkBody<'a>, BodyError> {
    let body = msg.body();
    let ct = msg
        .header_by(HeaderName::ContentType)
        .unwrap_or("application/sdp");
    parse_body(ct, msg.header_by(HeaderName::ContentDisposition), body, fallback)
}

/// The answer to a request whose body failed [`parse_message`]: 415 with Accept (RFC 3261
/// 21.4.13, RFC 3204 section 4) or 400 for broken multipart framing.
pub fn reject_response(request: &SipMsg<'_>, err: &BodyError, to_tag: Option<&str>) -> SipMessage {
    let mut r = request.make_response(err.status(), to_tag);
    if err.status() == 415 {
        r.push(HeaderName::Accept, ACCEPT);
    }
    r
}

/// Puts `body` into an outgoing SIP message (Content-Type, and Content-Disposition for a lone
/// ISUP body).
pub fn attach(msg: &mut SipMessage, body: OutgoingBody) {
    if let Some(d) = &body.content_disposition {
        msg.set(HeaderName::ContentDisposition, d);
    }
    msg.set_body(body.content_type, body.body);
}
