//! What call control takes from an incoming INVITE's headers: who calls (P-Asserted-Identity,
//! else From; RFC 3323/3325 privacy) and which distinctive ring (Alert-Info).
//!
//! Pure functions over header values, so the user agent edge stays thin and the rules are
//! tested here.

use super::CallerInfo;

/// Longest name and number kept (caller ID displays show 15 characters of name, 20 digits).
const MAX_NAME: usize = 15;
const MAX_NUMBER: usize = 20;

/// Splits a name-addr/addr-spec into (display name, URI).
fn name_addr(v: &str) -> (String, &str) {
    let v = v.trim();
    if let Some(lt) = v.find('<') {
        let display = v[..lt].trim();
        let display = display
            .strip_prefix('"')
            .and_then(|d| d.strip_suffix('"'))
            .map(|d| d.replace("\\\"", "\"").replace("\\\\", "\\"))
            .unwrap_or_else(|| display.to_string());
        let rest = &v[lt + 1..];
        let uri = rest.split('>').next().unwrap_or(rest);
        (display, uri)
    } else {
        // addr-spec: header parameters follow the first ';'.
        (String::new(), v.split(';').next().unwrap_or(v))
    }
}

/// The user part of a sip:/sips:/tel: URI, unescaped; visual separators dropped.
fn uri_number(uri: &str) -> String {
    let uri = uri.trim();
    let lower = uri.to_ascii_lowercase();
    let body = if lower.starts_with("tel:") || lower.starts_with("sip:") {
        &uri[4..]
    } else if lower.starts_with("sips:") {
        &uri[5..]
    } else {
        return String::new();
    };
    let user = if lower.starts_with("tel:") {
        body.split(';').next().unwrap_or("")
    } else {
        match body.find('@') {
            Some(at) => body[..at].split(';').next().unwrap_or(""),
            None => "",
        }
    };
    let mut out = String::new();
    let b = user.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'%' && i + 2 < b.len() {
            let h = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match h {
                Some(v) => {
                    i += 2;
                    v
                }
                None => b[i],
            }
        } else {
            b[i]
        };
        i += 1;
        match c {
            b'0'..=b'9' | b'*' | b'#' | b'+' => out.push(c as char),
            // Visual separators of RFC 3966.
            b'-' | b'.' | b'(' | b')' | b' ' => {}
            // A user part that is not a number (alice@...) is shown as is.
            _ => return user.chars().take(MAX_NUMBER).collect(),
        }
    }
    out.chars().take(MAX_NUMBER).collect()
}

fn is_anonymous(uri: &str, display: &str) -> bool {
    let u = uri.to_ascii_lowercase();
    u.contains("anonymous@") || u.contains("@anonymous.invalid") || display.eq_ignore_ascii_case("anonymous")
}

/// The caller of an incoming INVITE: P-Asserted-Identity when present (trusted network), else
/// From. `Privacy: id`/`header`/`user` or an anonymous identity hides the caller.
pub fn caller_from_headers(pai: Option<&str>, from: &str, privacy: Option<&str>) -> CallerInfo {
    let private_hdr = privacy.is_some_and(|p| {
        p.split([';', ','])
            .map(|t| t.trim().to_ascii_lowercase())
            .any(|t| t == "id" || t == "header" || t == "user")
    });
    // P-Asserted-Identity may hold a sip: and a tel: URI: prefer the one with a number.
    let pai_ids: Vec<(String, &str)> = pai
        .map(|p| p.split(',').map(name_addr).collect())
        .unwrap_or_default();
    let numeric = |u: &str| {
        let n = uri_number(u);
        !n.is_empty() && n.bytes().all(|c| matches!(c, b'0'..=b'9' | b'+' | b'*' | b'#'))
    };
    let pick = pai_ids
        .iter()
        .find(|(_, u)| numeric(u))
        .or_else(|| pai_ids.iter().find(|(_, u)| !uri_number(u).is_empty()))
        .cloned();
    let (display, uri) = pick.unwrap_or_else(|| name_addr(from));
    let (from_display, from_uri) = name_addr(from);
    if private_hdr || is_anonymous(uri, &display) || is_anonymous(from_uri, &from_display) {
        return CallerInfo {
            number: String::new(),
            name: String::new(),
            private: true,
        };
    }
    // A P-Asserted-Identity without a display name borrows From's.
    let name = if display.is_empty() { from_display } else { display };
    CallerInfo {
        number: uri_number(uri),
        name: name.chars().take(MAX_NAME).collect(),
        private: false,
    }
}

/// The distinctive ring an Alert-Info header asks for, 1-based: `<...>;info=alert-N`,
/// `<http://.../Bellcore-drN>`, `<urn:alert:service:...>` forms with a trailing digit in
/// `info=`, `Bellcore-drN` or `ring-N`; `None` for a normal ring.
pub fn distinctive_ring(alert_info: &str) -> Option<u8> {
    let lower = alert_info.to_ascii_lowercase();
    let digit_after = |key: &str| -> Option<u8> {
        let i = lower.find(key)? + key.len();
        let n: String = lower[i..].chars().take_while(|c| c.is_ascii_digit()).collect();
        n.parse::<u8>().ok().filter(|&n| n >= 1)
    };
    digit_after("bellcore-dr")
        .or_else(|| digit_after("info=alert-"))
        .or_else(|| digit_after("ring-"))
        .or_else(|| digit_after("alert-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_header_name_and_number() {
        let c = caller_from_headers(None, "\"Alice Smith\" <sip:+15551234567@example.com>;tag=1", None);
        assert_eq!(
            c,
            CallerInfo {
                number: "+15551234567".into(),
                name: "Alice Smith".into(),
                private: false
            }
        );
        let c = caller_from_headers(None, "sip:2001@pbx.example;tag=9", None);
        assert_eq!(c.number, "2001");
        assert_eq!(c.name, "");
        let c = caller_from_headers(None, "Bob <sip:bob@example.com>", None);
        assert_eq!((c.number.as_str(), c.name.as_str()), ("bob", "Bob"));
    }

    #[test]
    fn pai_wins_and_tel_uri_is_preferred() {
        let c = caller_from_headers(
            Some("<sip:alice@example.com>, <tel:+1-555-123-4567>"),
            "\"Front desk\" <sip:100@example.com>;tag=x",
            None,
        );
        assert_eq!(c.number, "+15551234567");
        assert_eq!(c.name, "Front desk");
        let c = caller_from_headers(
            Some("\"Carol\" <sip:5550001@example.com>"),
            "<sip:100@example.com>",
            None,
        );
        assert_eq!((c.number.as_str(), c.name.as_str()), ("5550001", "Carol"));
    }

    #[test]
    fn privacy_and_anonymous_are_private() {
        let c = caller_from_headers(
            Some("<sip:5550001@example.com>"),
            "<sip:5550001@example.com>",
            Some("id"),
        );
        assert!(c.private && c.number.is_empty());
        let c = caller_from_headers(
            None,
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1",
            None,
        );
        assert!(c.private);
        let c = caller_from_headers(None, "<sip:5550001@example.com>", Some("none"));
        assert!(!c.private);
        let c = caller_from_headers(None, "<sip:5550001@example.com>", Some("user; critical"));
        assert!(c.private);
    }

    #[test]
    fn escapes_and_long_values() {
        let c = caller_from_headers(
            None,
            "\"A very long caller name indeed\" <sip:%2B4420%207946@x>",
            None,
        );
        assert_eq!(c.name.chars().count(), 15);
        assert_eq!(c.number, "+44207946");
        let c = caller_from_headers(None, "garbage", None);
        assert_eq!(c, CallerInfo::default());
    }

    #[test]
    fn alert_info_forms() {
        assert_eq!(distinctive_ring("<http://127.0.0.1/Bellcore-dr2>"), Some(2));
        assert_eq!(distinctive_ring("<http://x>;info=alert-3"), Some(3));
        assert_eq!(distinctive_ring("<urn:alert:service:normal>"), None);
        assert_eq!(distinctive_ring("ring-1"), Some(1));
        assert_eq!(distinctive_ring("<http://x>;info=alert-0"), None);
        assert_eq!(distinctive_ring(""), None);
    }
}

/// The [`SipEvent::Incoming`] for an INVITE the user agent received, as leg `leg`.
pub fn incoming_event(leg: super::LegId, invite: &crate::sip::wire::Message) -> super::SipEvent {
    let caller = caller_from_headers(
        invite.header("P-Asserted-Identity"),
        invite.header("From").unwrap_or(""),
        invite.header("Privacy"),
    );
    let called = invite
        .request_uri()
        .map(|u| uri_number(&u.to_string()))
        .unwrap_or_default();
    super::SipEvent::Incoming {
        leg,
        caller,
        called,
        distinctive_ring: invite.header("Alert-Info").and_then(distinctive_ring),
    }
}

/// The [`SipEvent::Progress`] for a provisional response to our INVITE: early media when it
/// carries an SDP body.
pub fn progress_event(
    leg: super::LegId,
    status: u16,
    response: &crate::sip::wire::Message,
) -> super::SipEvent {
    let sdp = !response.body.is_empty()
        && response
            .header("Content-Type")
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/sdp"));
    super::SipEvent::Progress {
        leg,
        status,
        early_media: sdp,
    }
}

#[cfg(test)]
mod message_tests {
    use super::*;
    use crate::call::{LegId, SipEvent};
    use crate::sip::wire::{Message, Method, Uri};

    fn invite() -> Message {
        let uri: Uri<String> = Uri::parse("sip:5550100@gw.example").expect("uri").to_owned_uri();
        let mut m = Message::request(Method::Invite, uri);
        m.push_named("From", "\"Dave\" <sip:+15557654321@example.com>;tag=a1");
        m.push_named("Alert-Info", "<http://127.0.0.1/Bellcore-dr3>");
        m
    }

    #[test]
    fn incoming_from_an_invite() {
        let ev = incoming_event(LegId(4), &invite());
        assert_eq!(
            ev,
            SipEvent::Incoming {
                leg: LegId(4),
                caller: CallerInfo {
                    number: "+15557654321".into(),
                    name: "Dave".into(),
                    private: false
                },
                called: "5550100".into(),
                distinctive_ring: Some(3),
            }
        );
        let mut m = invite();
        m.push_named("Privacy", "id");
        let SipEvent::Incoming { caller, .. } = incoming_event(LegId(4), &m) else {
            panic!()
        };
        assert!(caller.private);
    }

    #[test]
    fn progress_with_and_without_sdp() {
        let mut r = Message::response(183);
        assert_eq!(
            progress_event(LegId(1), 183, &r),
            SipEvent::Progress {
                leg: LegId(1),
                status: 183,
                early_media: false
            }
        );
        r.set_body("application/sdp", b"v=0\r\n".to_vec());
        assert_eq!(
            progress_event(LegId(1), 183, &r),
            SipEvent::Progress {
                leg: LegId(1),
                status: 183,
                early_media: true
            }
        );
    }
}
