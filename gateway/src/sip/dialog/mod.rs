//! Dialogs (RFC 3261 section 12), sans-IO values.
//!
//! A [`Dialog`] holds the dialog state of 12.1: its [`DialogId`], local and remote sequence
//! numbers, local and remote URIs, remote target and route set. It is created by the UAC from a
//! response with a To tag ([`Dialog::uac`]) or by the UAS from the request it answers
//! ([`Dialog::uas`]), builds requests within the dialog with the routing rules of 12.2.1.1
//! (loose routing, and strict routing for a first route without `lr`), checks the CSeq of
//! requests it receives (12.2.2) and refreshes its target from Contact.
//!
//! The user agent core ([`crate::sip::ua`]) drives INVITE sessions, forking, PRACK and
//! session timers on top of these values.

use std::fmt;

use crate::sip::wire::{CSeq, HeaderName, Message, Method, NameAddr, Uri};

/// Call-ID and the two tags (12: "dialog ID").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The ID of the dialog a received request belongs to (12.2.2: local tag is the To tag).
    pub fn of_received_request(m: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: m.call_id()?.to_string(),
            local_tag: m.to_hdr()?.tag()?.to_string(),
            remote_tag: m.from_hdr()?.tag().unwrap_or("").to_string(),
        })
    }

    /// The ID of the dialog a received response belongs to (local tag is the From tag).
    pub fn of_received_response(m: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: m.call_id()?.to_string(),
            local_tag: m.from_hdr()?.tag()?.to_string(),
            remote_tag: m.to_hdr()?.tag()?.to_string(),
        })
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// Early (from a provisional response with a To tag) or confirmed (2xx).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// Why a dialog could not be created or a request does not fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogError {
    /// The message lacks a header the dialog needs (named).
    Missing(HeaderName),
    /// The response has no To tag, so it creates no dialog.
    NoToTag,
    /// A request's CSeq is lower than (or, for a non-ACK/CANCEL, equal to) the remote sequence
    /// number: answer 500 (12.2.2).
    CSeqOutOfOrder { got: u32, last: u32 },
}

impl fmt::Display for DialogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialogError::Missing(h) => write!(f, "missing or invalid {h} header"),
            DialogError::NoToTag => f.write_str("response has no To tag"),
            DialogError::CSeqOutOfOrder { got, last } => write!(f, "CSeq {got} not above {last}"),
        }
    }
}

impl std::error::Error for DialogError {}

/// Dialog state (12.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    pub id: DialogId,
    pub state: DialogState,
    /// Last CSeq number we used (the next request uses `local_seq + 1`).
    pub local_seq: u32,
    /// Last CSeq number received from the peer (`None` until the peer sends a request).
    pub remote_seq: Option<u32>,
    /// Our URI with our tag (From of our requests).
    pub local_uri: NameAddr<String>,
    /// The peer's URI with its tag (To of our requests).
    pub remote_uri: NameAddr<String>,
    /// The peer's Contact: Request-URI (or last Route, strict routing) of our requests.
    pub remote_target: Uri<String>,
    /// Route set, first hop first.
    pub route_set: Vec<NameAddr<String>>,
    /// Our Contact.
    pub local_contact: Uri<String>,
    /// The dialog was created over `sips:` (12.1.1).
    pub secure: bool,
    /// We created the dialog by sending the INVITE.
    pub is_uac: bool,
}

impl Dialog {
    /// UAC side (12.1.2): from our `request` (INVITE, SUBSCRIBE...) and a response to it with a
    /// To tag (1xx gives an early dialog, 2xx a confirmed one). The route set is the
    /// Record-Route of the response in reverse order.
    pub fn uac(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let to = response.to_hdr().ok_or(DialogError::Missing(HeaderName::To))?;
        let remote_tag = to.tag().ok_or(DialogError::NoToTag)?.to_string();
        let from = request.from_hdr().ok_or(DialogError::Missing(HeaderName::From))?;
        let local_tag = from
            .tag()
            .ok_or(DialogError::Missing(HeaderName::From))?
            .to_string();
        let call_id = request
            .call_id()
            .ok_or(DialogError::Missing(HeaderName::CallId))?;
        let cseq = request.cseq().ok_or(DialogError::Missing(HeaderName::CSeq))?;
        let request_uri = request
            .request_uri()
            .cloned()
            .ok_or(DialogError::Missing(HeaderName::Other))?;
        let mut route_set: Vec<NameAddr<String>> =
            response.record_routes().map(|r| r.to_owned_name_addr()).collect();
        route_set.reverse();
        let remote_target = response
            .contacts()
            .next()
            .map(|c| c.uri.to_owned_uri())
            .unwrap_or(request_uri);
        let local_contact = request
            .contacts()
            .next()
            .map(|c| c.uri.to_owned_uri())
            .ok_or(DialogError::Missing(HeaderName::Contact))?;
        let status = response.status().unwrap_or(200);
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_string(),
                local_tag,
                remote_tag,
            },
            state: if (200..300).contains(&status) {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: cseq.seq,
            remote_seq: None,
            local_uri: from.to_owned_name_addr(),
            remote_uri: to.to_owned_name_addr(),
            secure: matches!(request.request_uri(), Some(Uri::Sip(s)) if s.secure),
            remote_target,
            route_set,
            local_contact,
            is_uac: true,
        })
    }

    /// UAS side (12.1.1): from the received `request` and the tag we put in our response's To.
    /// The route set is the request's Record-Route in order.
    pub fn uas(
        request: &Message,
        local_tag: &str,
        local_contact: Uri<String>,
    ) -> Result<Dialog, DialogError> {
        let from = request.from_hdr().ok_or(DialogError::Missing(HeaderName::From))?;
        let to = request.to_hdr().ok_or(DialogError::Missing(HeaderName::To))?;
        let call_id = request
            .call_id()
            .ok_or(DialogError::Missing(HeaderName::CallId))?;
        let cseq = request.cseq().ok_or(DialogError::Missing(HeaderName::CSeq))?;
        let remote_target = request
            .contacts()
            .next()
            .map(|c| c.uri.to_owned_uri())
            .ok_or(DialogError::Missing(HeaderName::Contact))?;
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_string(),
                local_tag: local_tag.to_string(),
                remote_tag: from.tag().unwrap_or("").to_string(),
            },
            state: DialogState::Early,
            local_seq: 0,
            remote_seq: Some(cseq.seq),
            local_uri: to.to_owned_name_addr().with_tag(local_tag),
            remote_uri: from.to_owned_name_addr(),
            remote_target,
            route_set: request.record_routes().map(|r| r.to_owned_name_addr()).collect(),
            local_contact,
            secure: matches!(request.request_uri(), Some(Uri::Sip(s)) if s.secure),
            is_uac: false,
        })
    }

    /// A 2xx confirmed an early UAC dialog: the route set is recomputed from the 2xx (12.1.2,
    /// 13.2.2.4) and the remote target taken from its Contact.
    pub fn confirm_uac(&mut self, response: &Message) {
        self.state = DialogState::Confirmed;
        let mut rs: Vec<NameAddr<String>> =
            response.record_routes().map(|r| r.to_owned_name_addr()).collect();
        rs.reverse();
        self.route_set = rs;
        self.refresh_target(response);
    }

    /// Takes the Contact of a target refresh request or its 2xx (12.2, RFC 3311) as the new
    /// remote target.
    pub fn refresh_target(&mut self, m: &Message) {
        if let Some(c) = m.contacts().next() {
            self.remote_target = c.uri.to_owned_uri();
        }
    }

    /// Checks the CSeq of a request received in the dialog and records it (12.2.2). ACK and
    /// CANCEL carry the number of the request they belong to and are not checked.
    pub fn check_remote_cseq(&mut self, cseq: &CSeq<&str>) -> Result<(), DialogError> {
        if matches!(cseq.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq
            && cseq.seq <= last
        {
            return Err(DialogError::CSeqOutOfOrder { got: cseq.seq, last });
        }
        self.remote_seq = Some(cseq.seq);
        Ok(())
    }

    /// The next local CSeq number.
    pub fn next_seq(&mut self) -> u32 {
        if self.local_seq == 0 {
            // 8.1.1.5: any starting value below 2^31 is valid; a UAS starts at 1.
            self.local_seq = 1;
        } else {
            self.local_seq += 1;
        }
        self.local_seq
    }

    /// Request-URI and Route headers per 12.2.1.1: empty route set -> remote target; loose
    /// first route -> remote target with the route set as Route; strict first route -> the first
    /// route's URI as Request-URI, the rest of the route set and then the remote target as Route.
    pub fn routing(&self) -> (Uri<String>, Vec<NameAddr<String>>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        let loose = match &first.uri {
            Uri::Sip(s) => s.lr(),
            _ => true,
        };
        if loose {
            return (self.remote_target.clone(), self.route_set.clone());
        }
        let mut uri = first.uri.clone();
        if let Uri::Sip(s) = &mut uri {
            // 12.2.1.1: parameters not allowed in a Request-URI are stripped.
            s.headers = None;
            s.params.remove("method").remove("maddr");
        }
        let mut routes: Vec<NameAddr<String>> = self.route_set[1..].to_vec();
        routes.push(NameAddr::new(self.remote_target.clone()));
        (uri, routes)
    }

    /// A request within the dialog (12.2.1.1) with a new CSeq (not for ACK or CANCEL): Request-URI
    /// and Route, From/To with tags, Call-ID, CSeq, Max-Forwards and, for target refresh methods
    /// (INVITE, UPDATE) and others that allow it, our Contact. No Via (the core adds it).
    pub fn request(&mut self, method: Method<String>) -> Message {
        let seq = self.next_seq();
        self.request_with_seq(method, seq)
    }

    /// A request within the dialog with a given CSeq number (ACK for a 2xx carries the INVITE's).
    pub fn request_with_seq(&self, method: Method<String>, seq: u32) -> Message {
        let (uri, routes) = self.routing();
        let with_contact = matches!(
            method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
        );
        let mut m = Message::request(method.clone(), uri);
        for r in routes {
            m.push(HeaderName::Route, r);
        }
        m.push(HeaderName::MaxForwards, 70);
        m.push(HeaderName::From, &self.local_uri);
        m.push(HeaderName::To, &self.remote_uri);
        m.push(HeaderName::CallId, &self.id.call_id);
        m.push(HeaderName::CSeq, CSeq { seq, method });
        if with_contact {
            m.push(HeaderName::Contact, NameAddr::new(self.local_contact.clone()));
        }
        m
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (13.2.2.4).
    pub fn ack(&self, invite_seq: u32) -> Message {
        self.request_with_seq(Method::Ack, invite_seq)
    }
}
