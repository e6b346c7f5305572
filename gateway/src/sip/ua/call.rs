//! INVITE sessions: UAC and UAS dialogs (RFC 3261 13-15), forking, CANCEL, 2xx retransmission
//! and ACK, target refresh by re-INVITE and UPDATE (RFC 3311), glare (14.1), reliable
//! provisional responses (RFC 3262), session timers (RFC 4028) and digest answers to 401/407.

use std::time::{Duration, Instant};

use super::{Body, Owner, Rel100, UaError, UaEvent, UserAgent};
use crate::sip::auth::ChallengeKind;
use crate::sip::dialog::{Dialog, DialogError, DialogId, DialogState};
use crate::sip::registration::AccountConfig;
use crate::sip::transaction::TxnId;
use crate::sip::wire::{CSeq, HeaderName, Message, Method, NameAddr, Uri};

use super::AccountId;

/// Handle of one call (INVITE session) in the user agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// A request received within a dialog, waiting for call control's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerRequest(pub TxnId);

/// State of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// UAC: INVITE sent, nothing or 100 received.
    Calling,
    /// UAC: a provisional response above 100 received (early dialogs may exist).
    Proceeding,
    /// UAS: INVITE received, not answered yet.
    Incoming,
    /// UAS: provisional response sent.
    Ringing,
    /// UAS: 2xx sent, waiting for the ACK.
    Answered,
    /// Dialog confirmed.
    Confirmed,
    /// BYE sent or received; waiting for it to complete.
    Terminating,
    Terminated,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// We sent BYE (or CANCEL, or a rejection).
    LocalHangup,
    /// The peer sent BYE.
    RemoteHangup,
    /// The caller cancelled before we answered.
    CancelledByPeer,
    /// Our INVITE failed with this status.
    Failed(u16),
    /// The session timer expired without refresh (RFC 4028 10).
    SessionExpired,
    /// Our 2xx was never acknowledged (13.3.1.4).
    NoAck,
    /// A request within the dialog timed out or got 481/408 (12.2.1.2): the dialog is gone.
    DialogLost(u16),
}

/// Snapshot of a call for call control and status pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    pub state: CallState,
    pub is_uac: bool,
    pub account: Option<AccountId>,
    pub dialog: Option<DialogId>,
    pub remote_target: Option<Uri<String>>,
    pub route_set: Vec<NameAddr<String>>,
    pub local_seq: Option<u32>,
    pub remote_seq: Option<u32>,
    /// Negotiated session interval and whether we refresh.
    pub session_interval: Option<(u32, bool)>,
    /// Early dialogs (forks) of an outgoing call.
    pub early_dialogs: usize,
}

/// What a client transaction of a call is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Invite,
    Cancel,
    Bye,
    ReInvite,
    Update,
    Prack,
    Other,
}

#[derive(Clone, Debug)]
struct Retrans {
    msg: Message,
    txn: TxnId,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

#[derive(Clone, Copy, Debug)]
struct SessionTimer {
    interval: u32,
    we_refresh: bool,
    refresh_at: Option<Instant>,
    expire_at: Instant,
}

#[derive(Clone, Debug)]
struct Glare {
    at: Instant,
    method: Method<String>,
    body: Option<Body>,
}

/// One INVITE session.
#[derive(Debug)]
pub(crate) struct Call {
    account: Option<AccountId>,
    is_uac: bool,
    state: CallState,
    dialog: Option<Dialog>,
    early: Vec<Dialog>,
    // UAC
    invite: Option<Message>,
    invite_txn: Option<TxnId>,
    got_provisional: bool,
    cancel_pending: bool,
    cancelled: bool,
    /// Extra headers of our CANCEL, and of the BYE when a 2xx crosses it (e.g. RFC 3326
    /// Reason).
    cancel_headers: Vec<(String, String)>,
    auth_tries: u8,
    ack: Option<Message>,
    last_rseq: Option<u32>,
    // UAS
    server_txn: Option<TxnId>,
    request: Option<Message>,
    local_tag: String,
    final_2xx: Option<Retrans>,
    reliable: Option<Retrans>,
    reliable_rseq: u32,
    peer_100rel: bool,
    // in dialog
    reinvite_out: Option<TxnId>,
    reinvite_in: Option<TxnId>,
    glare: Option<Glare>,
    session: Option<SessionTimer>,
    local_sdp: Option<Body>,
    peer_allows_update: bool,
    /// Session-Expires negotiated for the initial INVITE (UAS: from the request).
    st_offer: Option<(u32, Option<bool>)>,
}

impl Call {
    fn new(is_uac: bool, account: Option<AccountId>) -> Self {
        Call {
            account,
            is_uac,
            state: if is_uac {
                CallState::Calling
            } else {
                CallState::Incoming
            },
            dialog: None,
            early: Vec::new(),
            invite: None,
            invite_txn: None,
            got_provisional: false,
            cancel_pending: false,
            cancelled: false,
            cancel_headers: Vec::new(),
            auth_tries: 0,
            ack: None,
            last_rseq: None,
            server_txn: None,
            request: None,
            local_tag: String::new(),
            final_2xx: None,
            reliable: None,
            reliable_rseq: 0,
            peer_100rel: false,
            reinvite_out: None,
            reinvite_in: None,
            glare: None,
            session: None,
            local_sdp: None,
            peer_allows_update: false,
            st_offer: None,
        }
    }

    /// The confirmed or early dialog with the given remote tag.
    pub(crate) fn dialog_with(&self, remote_tag: &str) -> Option<&Dialog> {
        match &self.dialog {
            Some(d) if d.id.remote_tag == remote_tag => Some(d),
            Some(_) => None,
            None => self.early.iter().find(|d| d.id.remote_tag == remote_tag),
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.final_2xx.as_ref().map(|r| r.next.min(r.give_up)),
            self.reliable.as_ref().map(|r| r.next.min(r.give_up)),
            self.glare.as_ref().map(|g| g.at),
            self.session.and_then(|s| s.refresh_at),
            self.session.map(|s| s.expire_at),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What call control passes to [`UserAgent::invite`].
#[derive(Clone, Debug, Default)]
pub struct InviteRequest {
    /// Account the call belongs to (From, credentials, outbound proxy).
    pub account: Option<AccountId>,
    /// Request-URI and To.
    pub target: Option<Uri<String>>,
    /// From when no account is given (or to override the account's AOR).
    pub from: Option<NameAddr<String>>,
    /// The SDP offer (or none: the offer then comes in the 2xx and the answer in the ACK).
    pub body: Option<Body>,
    /// Extra headers (name, value), e.g. P-Asserted-Identity, Alert-Info.
    pub headers: Vec<(String, String)>,
}

pub use InviteRequest as Invite;

fn has_tag_value(m: &Message, header: &str, tag: &str) -> bool {
    m.headers
        .iter()
        .filter(|h| h.name_text.eq_ignore_ascii_case(header))
        .flat_map(|h| h.value.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(tag))
}

fn parse_se(m: &Message) -> Option<(u32, Option<bool>)> {
    let v = m.header("Session-Expires")?;
    let mut it = v.split(';');
    let secs = it.next()?.trim().parse::<u32>().ok()?;
    let mut refresher = None;
    for p in it {
        let p = p.trim();
        if let Some(r) = p.strip_prefix("refresher=") {
            refresher = Some(r.eq_ignore_ascii_case("uac"));
        }
    }
    Some((secs, refresher))
}

impl UserAgent {
    /// Snapshot of a call.
    pub fn call_info(&self, call: CallHandle) -> Option<CallInfo> {
        let c = self.calls.get(&call)?;
        let d = c.dialog.as_ref().or(c.early.first());
        Some(CallInfo {
            state: c.state,
            is_uac: c.is_uac,
            account: c.account,
            dialog: d.map(|d| d.id.clone()),
            remote_target: d.map(|d| d.remote_target.clone()),
            route_set: d.map(|d| d.route_set.clone()).unwrap_or_default(),
            local_seq: d.map(|d| d.local_seq),
            remote_seq: d.and_then(|d| d.remote_seq),
            session_interval: c.session.map(|s| (s.interval, s.we_refresh)),
            early_dialogs: c.early.len(),
        })
    }

    /// Handles of live calls.
    pub fn calls(&self) -> impl Iterator<Item = CallHandle> + '_ {
        self.calls.keys().copied()
    }

    // ---------------- UAC ----------------

    /// Places a call: sends an INVITE (with the account's From, outbound proxy and
    /// credentials). Events follow: [`UaEvent::Progress`], then [`UaEvent::Answered`] or
    /// [`UaEvent::Failed`].
    pub fn invite(&mut self, now: Instant, req: InviteRequest) -> Result<CallHandle, UaError> {
        let target = req.target.clone().ok_or(UaError::BadTarget)?;
        let acct: Option<AccountConfig> = match req.account {
            Some(a) => Some(self.account_config(a).ok_or(UaError::UnknownAccount)?.clone()),
            None => None,
        };
        let mut from = match (&req.from, &acct) {
            (Some(f), _) => f.clone(),
            (None, Some(a)) => {
                let mut n = NameAddr::new(a.aor.clone());
                n.display = a.display_name.clone();
                n
            }
            (None, None) => NameAddr::new(self.contact_uri()),
        };
        from.params.remove("tag");
        let tag = self.new_tag();
        let from = from.with_tag(&tag);
        let call_id = self.new_call_id();
        let mut m = Message::request(Method::Invite, target.clone());
        if let Some(p) = acct.as_ref().and_then(|a| a.outbound_proxy.clone()) {
            let mut p = p;
            if let Uri::Sip(s) = &mut p
                && !s.params.contains("lr")
            {
                s.params.push("lr", None);
            }
            m.push(HeaderName::Route, NameAddr::new(p));
        }
        m.push(HeaderName::MaxForwards, 70);
        m.push(HeaderName::From, from);
        m.push(HeaderName::To, NameAddr::new(target));
        m.push(HeaderName::CallId, call_id);
        m.push(HeaderName::CSeq, "1 INVITE");
        m.push(HeaderName::Contact, NameAddr::new(self.contact_uri()));
        m.push_named("Allow", super::ALLOW);
        let mut supported = vec![];
        match self.cfg.rel100 {
            Rel100::Disabled => {}
            Rel100::Supported => supported.push("100rel"),
            Rel100::Required => {
                m.push_named("Require", "100rel");
            }
        }
        if let Some(st) = self.cfg.session_timer {
            supported.push("timer");
            m.push_named("Session-Expires", st.expires);
            m.push_named("Min-SE", st.min_se);
        }
        if !supported.is_empty() {
            m.push_named("Supported", supported.join(", "));
        }
        for (k, v) in &req.headers {
            m.push_named(k, v);
        }
        if let Some(b) = &req.body {
            m.set_body(&b.content_type, b.data.clone());
        }
        let h = self.alloc_call();
        let mut call = Call::new(true, req.account);
        call.local_sdp = req.body.clone();
        self.calls.insert(h, call);
        match self.send_request(now, m, Owner::Call(h, Purpose::Invite)) {
            Ok(txn) => {
                let sent = self.txl.client_request(txn).cloned();
                if let Some(c) = self.calls.get_mut(&h) {
                    c.invite_txn = Some(txn);
                    c.invite = sent;
                }
                Ok(h)
            }
            Err(e) => {
                self.calls.remove(&h);
                Err(e)
            }
        }
    }

    /// Cancels an outgoing call (9.1): the CANCEL goes once a provisional response arrived; if a
    /// 2xx crosses it, the call is acknowledged and ended with BYE.
    pub fn cancel(&mut self, now: Instant, call: CallHandle) -> Result<(), UaError> {
        self.cancel_with_headers(now, call, &[])
    }

    /// [`UserAgent::cancel`] with extra headers on the CANCEL (and on the BYE if a 2xx crosses
    /// it), e.g. `Reason: Q.850;cause=16` (RFC 3326).
    pub fn cancel_with_headers(
        &mut self,
        now: Instant,
        call: CallHandle,
        headers: &[(String, String)],
    ) -> Result<(), UaError> {
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall)?;
        if !c.is_uac || !matches!(c.state, CallState::Calling | CallState::Proceeding) {
            return Err(UaError::InvalidState("cancel needs an unanswered outgoing call"));
        }
        c.cancel_headers = headers.to_vec();
        c.cancel_pending = true;
        c.cancelled = true;
        if c.got_provisional {
            self.send_cancel(now, call);
        }
        Ok(())
    }

    fn send_cancel(&mut self, now: Instant, h: CallHandle) {
        let Some(c) = self.calls.get_mut(&h) else { return };
        let Some(inv) = c.invite.clone() else { return };
        c.cancel_pending = false;
        let Some(uri) = inv.request_uri().cloned() else {
            return;
        };
        let mut m = Message::request(Method::Cancel, uri);
        for hd in &inv.headers {
            if matches!(
                hd.name,
                HeaderName::Via | HeaderName::Route | HeaderName::From | HeaderName::To | HeaderName::CallId
            ) {
                m.headers.push(hd.clone());
            }
        }
        m.push(HeaderName::MaxForwards, 70);
        let seq = inv.cseq().map(|c| c.seq).unwrap_or(1);
        m.push(HeaderName::CSeq, format_args!("{seq} CANCEL"));
        for (k, v) in &c.cancel_headers {
            m.push_named(k, v);
        }
        // Same branch as the INVITE (9.1): started directly on the layer, not via send_request.
        let Ok(dest) = self.next_hop(&inv) else { return };
        let reliable = dest.transport.is_reliable();
        if let Ok(info) = crate::sip::transaction::wire_glue::info_of(&m)
            && let Ok(txn) = self.txl.send_request(now, &info, m, dest, reliable)
        {
            self.owners.insert(txn, Owner::Call(h, Purpose::Cancel));
        }
        self.pump(now);
    }

    /// Ends a call in any state: CANCEL (outgoing, unanswered), 486/603 (incoming,
    /// unanswered; `reject` gives the code), or BYE.
    pub fn hangup(&mut self, now: Instant, call: CallHandle) -> Result<(), UaError> {
        let c = self.calls.get(&call).ok_or(UaError::UnknownCall)?;
        match (c.is_uac, c.state) {
            (true, CallState::Calling | CallState::Proceeding) => self.cancel(now, call),
            (false, CallState::Incoming | CallState::Ringing) => self.reject(now, call, 603),
            (_, CallState::Answered | CallState::Confirmed) => self.bye(now, call),
            _ => Err(UaError::InvalidState("call is ending")),
        }
    }

    /// Sends BYE in a confirmed dialog (or after our 2xx, 15: the UAS may send BYE once the
    /// ACK arrived; before that it is queued by RFC, here sent at once).
    pub fn bye(&mut self, now: Instant, call: CallHandle) -> Result<(), UaError> {
        self.bye_with(now, call, EndReason::LocalHangup)
    }

    fn bye_with(&mut self, now: Instant, call: CallHandle, reason: EndReason) -> Result<(), UaError> {
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall)?;
        let d = c.dialog.as_mut().ok_or(UaError::InvalidState("no dialog"))?;
        let m = d.request(Method::Bye);
        c.state = CallState::Terminating;
        c.final_2xx = None;
        c.session = None;
        let r = self.send_request(now, m, Owner::Call(call, Purpose::Bye));
        self.end_call(now, call, reason);
        r.map(|_| ())
    }

    /// Sends a re-INVITE with a new offer (or none) in the confirmed dialog; the result comes
    /// as [`UaEvent::Response`]. 491 glare is retried after the RFC 3261 14.1 back-off.
    pub fn reinvite(&mut self, now: Instant, call: CallHandle, body: Option<Body>) -> Result<(), UaError> {
        self.dialog_request(now, call, Method::Invite, body, &[])
    }

    /// Sends UPDATE (RFC 3311), in an early or confirmed dialog.
    pub fn update(&mut self, now: Instant, call: CallHandle, body: Option<Body>) -> Result<(), UaError> {
        self.dialog_request(now, call, Method::Update, body, &[])
    }

    /// Sends INFO (RFC 6086) with a body, e.g. `application/dtmf-relay`.
    pub fn info(&mut self, now: Instant, call: CallHandle, body: Body) -> Result<(), UaError> {
        self.dialog_request(now, call, Method::Info, Some(body), &[])
    }

    /// Sends any request within the dialog with extra headers.
    pub fn dialog_request(
        &mut self,
        now: Instant,
        call: CallHandle,
        method: Method<String>,
        body: Option<Body>,
        headers: &[(String, String)],
    ) -> Result<(), UaError> {
        let st = self.cfg.session_timer;
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall)?;
        let is_invite = method == Method::Invite;
        if is_invite && (c.reinvite_out.is_some() || c.glare.is_some()) {
            return Err(UaError::RequestPending);
        }
        let d = match c.dialog.as_mut() {
            Some(d) => d,
            None if method == Method::Update => {
                c.early.first_mut().ok_or(UaError::InvalidState("no dialog"))?
            }
            None => return Err(UaError::InvalidState("no dialog")),
        };
        if is_invite && d.state != DialogState::Confirmed {
            return Err(UaError::InvalidState("re-INVITE needs a confirmed dialog"));
        }
        let mut m = d.request(method.clone());
        if matches!(method, Method::Invite | Method::Update) {
            if let (Some(s), Some(_)) = (c.session, st) {
                let who = if s.we_refresh == d.is_uac { "uac" } else { "uas" };
                m.push_named("Session-Expires", format_args!("{};refresher={who}", s.interval));
                m.push_named("Supported", "timer");
            }
            if body.is_some() {
                c.local_sdp = body.clone();
            }
        }
        for (k, v) in headers {
            m.push_named(k, v);
        }
        if let Some(b) = &body {
            m.set_body(&b.content_type, b.data.clone());
        }
        let purpose = match method {
            Method::Invite => Purpose::ReInvite,
            Method::Update => Purpose::Update,
            Method::Bye => Purpose::Bye,
            Method::Prack => Purpose::Prack,
            _ => Purpose::Other,
        };
        let txn = self.send_request(now, m, Owner::Call(call, purpose))?;
        if is_invite && let Some(c) = self.calls.get_mut(&call) {
            c.reinvite_out = Some(txn);
        }
        Ok(())
    }

    // ---------------- UAS ----------------

    pub(crate) fn incoming_invite(&mut self, now: Instant, txn: TxnId, msg: Message) {
        let st = self.cfg.session_timer;
        let se = parse_se(&msg);
        if let (Some(cfg), Some((secs, _))) = (st, se)
            && secs < cfg.min_se
        {
            let mut r = self.response_to(&msg, 422, None);
            r.push_named("Min-SE", cfg.min_se);
            return self.reply(now, txn, r);
        }
        if msg.contacts().next().is_none() {
            let r = self.response_to(&msg, 400, None);
            return self.reply(now, txn, r);
        }
        if has_tag_value(&msg, "Require", "100rel") && self.cfg.rel100 == Rel100::Disabled {
            let mut r = self.response_to(&msg, 420, None);
            r.push_named("Unsupported", "100rel");
            return self.reply(now, txn, r);
        }
        let h = self.alloc_call();
        let mut c = Call::new(false, self.account_for(&msg));
        c.server_txn = Some(txn);
        c.local_tag = self.new_tag();
        c.peer_100rel = self.cfg.rel100 != Rel100::Disabled
            && (has_tag_value(&msg, "Supported", "100rel") || has_tag_value(&msg, "Require", "100rel"));
        c.peer_allows_update = has_tag_value(&msg, "Allow", "UPDATE");
        if st.is_some() {
            c.st_offer = se;
        }
        c.request = Some(msg.clone());
        self.calls.insert(h, c);
        let account = self.calls[&h].account;
        self.emit(UaEvent::Incoming {
            call: h,
            account,
            request: msg,
        });
    }

    /// The account whose AOR user or contact user the Request-URI names.
    fn account_for(&self, m: &Message) -> Option<AccountId> {
        let Some(Uri::Sip(ru)) = m.request_uri() else {
            return None;
        };
        let user = ru.user.as_deref()?;
        self.account_ids().find(|a| {
            matches!(self.account_config(*a).map(|c| &c.aor), Some(Uri::Sip(s)) if s.user.as_deref() == Some(user))
        })
    }

    fn uas_response(&mut self, call: CallHandle, code: u16) -> Result<(Message, TxnId), UaError> {
        let contact = self.contact_uri();
        let c = self.calls.get(&call).ok_or(UaError::UnknownCall)?;
        let req = c
            .request
            .clone()
            .ok_or(UaError::InvalidState("not an incoming call"))?;
        let txn = c.server_txn.ok_or(UaError::InvalidState("already answered"))?;
        let tag = c.local_tag.clone();
        let mut r = self.response_to(&req, code, Some(&tag));
        // 12.1.1: Record-Route copied into dialog-creating responses.
        for hd in &req.headers {
            if hd.name == HeaderName::RecordRoute {
                r.headers.push(hd.clone());
            }
        }
        if code > 100 && code < 300 {
            r.push(HeaderName::Contact, NameAddr::new(contact));
            r.push_named("Allow", super::ALLOW);
        }
        Ok((r, txn))
    }

    fn ensure_uas_dialog(&mut self, call: CallHandle) -> Result<(), UaError> {
        let contact = self.contact_uri();
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall)?;
        if c.dialog.is_none() {
            let req = c
                .request
                .as_ref()
                .ok_or(UaError::InvalidState("not an incoming call"))?;
            let d =
                Dialog::uas(req, &c.local_tag, contact).map_err(|_| UaError::InvalidState("bad INVITE"))?;
            self.dialogs.insert(d.id.clone(), call);
            c.dialog = Some(d);
        }
        Ok(())
    }

    /// Sends a provisional response (180 Ringing, 183 Session Progress with early media SDP).
    /// With `reliable` and a peer supporting 100rel it is sent reliably (RFC 3262) and
    /// retransmitted until PRACK; one reliable provisional at a time.
    pub fn ring(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        body: Option<Body>,
        reliable: bool,
    ) -> Result<(), UaError> {
        if !(101..200).contains(&status) {
            return Err(UaError::InvalidState("provisional status must be 101-199"));
        }
        let (mut r, txn) = self.uas_response(call, status)?;
        self.ensure_uas_dialog(call)?;
        let t1 = self.cfg.timers.t1;
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall)?;
        let rel = reliable && c.peer_100rel;
        if rel && c.reliable.is_some() {
            return Err(UaError::RequestPending);
        }
        if rel {
            c.reliable_rseq = if c.reliable_rseq == 0 {
                1
            } else {
                c.reliable_rseq + 1
            };
            r.push_named("Require", "100rel");
            r.push_named("RSeq", c.reliable_rseq);
        }
        if let Some(b) = &body {
            r.set_body(&b.content_type, b.data.clone());
            c.local_sdp = Some(b.clone());
        }
        c.state = CallState::Ringing;
        if rel {
            c.reliable = Some(Retrans {
                msg: r.clone(),
                txn,
                next: now + t1,
                interval: t1,
                give_up: now + t1 * 64,
            });
        }
        self.reply(now, txn, r);
        self.pump(now);
        Ok(())
    }

    /// Answers an incoming call with 200 OK (and the SDP answer or offer). The 2xx is
    /// retransmitted until the ACK ([`UaEvent::Confirmed`]); without ACK after 64*T1 the call
    /// ends with BYE ([`EndReason::NoAck`]).
    pub fn answer(&mut self, now: Instant, call: CallHandle, body: Option<Body>) -> Result<(), UaError> {
        let (mut r, txn) = self.uas_response(call, 200)?;
        self.ensure_uas_dialog(call)?;
        let st = self.cfg.session_timer;
        let t1 = self.cfg.timers.t1;
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall)?;
        if let Some(cfg) = st {
            let req_has_timer = c
                .request
                .as_ref()
                .is_some_and(|m| has_tag_value(m, "Supported", "timer"));
            let (interval, peer_refresh) = match c.st_offer {
                Some((s, r)) => (s.max(cfg.min_se), r),
                None if req_has_timer => (cfg.expires, None),
                None => (0, None),
            };
            if interval > 0 {
                // Refresher: as asked by the UAC, else the UAC when it supports timers, else us.
                let uac_refreshes = peer_refresh.unwrap_or(req_has_timer);
                let who = if uac_refreshes { "uac" } else { "uas" };
                r.push_named("Session-Expires", format_args!("{interval};refresher={who}"));
                if uac_refreshes {
                    r.push_named("Require", "timer");
                }
                r.push_named("Supported", super::SUPPORTED);
                c.session = Some(session_timer(now, interval, !uac_refreshes));
            }
        }
        if let Some(b) = &body {
            r.set_body(&b.content_type, b.data.clone());
            c.local_sdp = Some(b.clone());
        }
        c.state = CallState::Answered;
        c.reliable = None;
        c.server_txn = None;
        c.final_2xx = Some(Retrans {
            msg: r.clone(),
            txn,
            next: now + t1,
            interval: t1,
            give_up: now + t1 * 64,
        });
        if let Some(d) = c.dialog.as_mut() {
            d.state = DialogState::Confirmed;
        }
        self.reply(now, txn, r);
        self.pump(now);
        Ok(())
    }

    /// Rejects an incoming call with a final status 300-699.
    pub fn reject(&mut self, now: Instant, call: CallHandle, status: u16) -> Result<(), UaError> {
        if !(300..700).contains(&status) {
            return Err(UaError::InvalidState("reject status must be 300-699"));
        }
        let (r, txn) = self.uas_response(call, status)?;
        self.reply(now, txn, r);
        self.end_call(now, call, EndReason::LocalHangup);
        self.pump(now);
        Ok(())
    }

    // ---------------- received ----------------

    pub(crate) fn on_cancel(&mut self, now: Instant, txn: TxnId, msg: Message, cancels: Option<TxnId>) {
        let target = cancels.and_then(|inv| {
            self.calls
                .iter()
                .find(|(_, c)| c.server_txn == Some(inv))
                .map(|(h, _)| (*h, inv))
        });
        let Some((h, inv_txn)) = target else {
            let r = self.response_to(&msg, 481, None);
            return self.reply(now, txn, r);
        };
        let tag = self.calls[&h].local_tag.clone();
        let ok = self.response_to(&msg, 200, Some(&tag));
        self.reply(now, txn, ok);
        if self.txl.invite_server_pending(inv_txn)
            && let Ok((r, t)) = self.uas_response(h, 487)
        {
            self.reply(now, t, r);
            self.end_call_with(now, h, EndReason::CancelledByPeer, Some(msg));
        }
    }

    pub(crate) fn in_dialog_request(&mut self, now: Instant, txn: TxnId, msg: Message) {
        let method = msg.method().cloned().unwrap_or(Method::Ack);
        let id = DialogId::of_received_request(&msg);
        let h = id.as_ref().and_then(|i| self.dialogs.get(i).copied());
        let Some(h) = h else {
            let r = self.response_to(&msg, 481, None);
            return self.reply(now, txn, r);
        };
        let cseq = msg.cseq().map(|c| c.to_owned_cseq());
        let check = {
            let c = self.calls.get_mut(&h);
            let remote = id.as_ref().map(|i| i.remote_tag.clone()).unwrap_or_default();
            let d = c.and_then(|c| match c.dialog.as_mut() {
                Some(d) => Some(d),
                None => c.early.iter_mut().find(|d| d.id.remote_tag == remote),
            });
            match (d, &cseq) {
                (Some(d), Some(cs)) => {
                    let b = CSeq {
                        seq: cs.seq,
                        method: Method::<&str>::Other(cs.method.as_str()),
                    };
                    d.check_remote_cseq(&b)
                }
                _ => Err(DialogError::Missing(HeaderName::CSeq)),
            }
        };
        if let Err(e) = check {
            let code = if matches!(e, DialogError::CSeqOutOfOrder { .. }) {
                500
            } else {
                481
            };
            let r = self.response_to(&msg, code, None);
            return self.reply(now, txn, r);
        }
        if let Some(r) = self.check_require(&msg) {
            return self.reply(now, txn, r);
        }
        match method {
            Method::Bye => {
                let r = self.response_to(&msg, 200, None);
                self.reply(now, txn, r);
                self.end_call_with(now, h, EndReason::RemoteHangup, Some(msg));
            }
            Method::Options => {
                let r = self.options_response(&msg, None);
                self.reply(now, txn, r);
            }
            Method::Prack => self.on_prack(now, h, txn, msg),
            Method::Invite | Method::Update => {
                let c = self.calls.get_mut(&h).expect("dialog map points at a live call");
                let pending = c.reinvite_in.is_some()
                    || (method == Method::Invite
                        && (c.reinvite_out.is_some() || c.state == CallState::Answered));
                if pending {
                    // 14.2: a re-INVITE while ours is pending gets 491; one that arrives before
                    // the ACK of our 2xx gets 500 with Retry-After.
                    let code = if c.state == CallState::Answered && c.reinvite_out.is_none() {
                        500
                    } else {
                        491
                    };
                    let mut r = self.response_to(&msg, code, None);
                    if code == 500 {
                        r.push_named("Retry-After", self.rng_secs(10));
                    }
                    return self.reply(now, txn, r);
                }
                if let Some(d) = c.dialog.as_mut() {
                    d.refresh_target(&msg);
                }
                if has_tag_value(&msg, "Allow", "UPDATE") {
                    c.peer_allows_update = true;
                }
                // A session refresh carrying no offer is answered here (RFC 4028 9/10).
                if method == Method::Update && msg.body.is_empty() && self.cfg.session_timer.is_some() {
                    let r = self.refresh_response(now, h, &msg, 200, None);
                    return self.reply(now, txn, r);
                }
                if method == Method::Invite {
                    c.reinvite_in = Some(txn);
                }
                self.server_reqs.insert(txn, h);
                self.emit(UaEvent::Request {
                    call: h,
                    id: ServerRequest(txn),
                    request: msg,
                });
            }
            _ => {
                self.server_reqs.insert(txn, h);
                self.emit(UaEvent::Request {
                    call: h,
                    id: ServerRequest(txn),
                    request: msg,
                });
            }
        }
    }

    fn rng_secs(&mut self, max: u64) -> u64 {
        self.jitter(1000, max * 1000 + 1).as_secs().max(1)
    }

    /// A 2xx (or other) response to a target refresh request, with Contact and, for 2xx, the
    /// session timer restarted with the interval the request asked for.
    fn refresh_response(
        &mut self,
        now: Instant,
        h: CallHandle,
        req: &Message,
        status: u16,
        body: Option<Body>,
    ) -> Message {
        let contact = self.contact_uri();
        let tag = self
            .calls
            .get(&h)
            .and_then(|c| c.dialog.as_ref())
            .map(|d| d.id.local_tag.clone());
        let mut r = self.response_to(req, status, tag.as_deref());
        let is_refresh = matches!(req.method(), Some(Method::Invite | Method::Update));
        if is_refresh && (200..300).contains(&status) {
            r.push(HeaderName::Contact, NameAddr::new(contact));
            let st = self.cfg.session_timer;
            if let (Some(cfg), Some(c)) = (st, self.calls.get_mut(&h)) {
                let is_uac = c.dialog.as_ref().is_some_and(|d| d.is_uac);
                let (secs, refresher) =
                    parse_se(req).unwrap_or((c.session.map_or(cfg.expires, |s| s.interval), None));
                if parse_se(req).is_some() || c.session.is_some() {
                    let secs = secs.max(cfg.min_se);
                    // The refresher param names a role of the request's sender: refresher=uac
                    // means the sender of this request refreshes.
                    let sender_refreshes = refresher.unwrap_or(true);
                    let we_refresh = !sender_refreshes;
                    let who = if we_refresh == is_uac { "uac" } else { "uas" };
                    let _ = who;
                    let label = if sender_refreshes { "uac" } else { "uas" };
                    r.push_named("Session-Expires", format_args!("{secs};refresher={label}"));
                    r.push_named("Require", "timer");
                    c.session = Some(session_timer(now, secs, we_refresh));
                }
            }
        }
        if let Some(b) = body {
            r.set_body(&b.content_type, b.data);
        }
        r
    }

    fn on_prack(&mut self, now: Instant, h: CallHandle, txn: TxnId, msg: Message) {
        let rack = msg
            .header("RAck")
            .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>());
        let c = self.calls.get_mut(&h).expect("dialog map points at a live call");
        let matches = match (&rack, &c.reliable, &c.request) {
            (Some(v), Some(rel), Some(req)) if v.len() == 3 => {
                let inv_seq = req.cseq().map(|c| c.seq).unwrap_or(0);
                v[0].parse::<u32>().ok() == Some(c.reliable_rseq)
                    && v[1].parse::<u32>().ok() == Some(inv_seq)
                    && v[2] == "INVITE"
                    && rel.msg.status().is_some()
            }
            _ => false,
        };
        if !matches {
            let r = self.response_to(&msg, 481, None);
            return self.reply(now, txn, r);
        }
        c.reliable = None;
        let tag = c.local_tag.clone();
        let r = self.response_to(&msg, 200, Some(&tag));
        self.reply(now, txn, r);
        self.emit(UaEvent::Prack {
            call: h,
            request: msg,
        });
    }

    pub(crate) fn on_ack(&mut self, _now: Instant, msg: Message) {
        let Some(id) = DialogId::of_received_request(&msg) else {
            return;
        };
        let Some(&h) = self.dialogs.get(&id) else { return };
        let Some(c) = self.calls.get_mut(&h) else { return };
        let seq = msg.cseq().map(|c| c.seq);
        let matches_2xx = c
            .final_2xx
            .as_ref()
            .is_some_and(|r| r.msg.cseq().map(|c| c.seq) == seq);
        if !matches_2xx {
            return;
        }
        c.final_2xx = None;
        if c.state == CallState::Answered {
            c.state = CallState::Confirmed;
        }
        c.reinvite_in = None;
        if let Some(d) = c.dialog.as_mut() {
            d.refresh_target(&msg);
        }
        self.emit(UaEvent::Confirmed { call: h, ack: msg });
    }

    /// A 2xx to an INVITE after its transaction ended: ACK it again, or ACK and BYE if it is
    /// from a dialog we do not have (13.2.2.4).
    pub(crate) fn on_stray_2xx(&mut self, now: Instant, msg: Message) {
        let Some(id) = DialogId::of_received_response(&msg) else {
            return;
        };
        if let Some(&h) = self.dialogs.get(&id)
            && let Some(ack) = self.calls.get(&h).and_then(|c| c.ack.clone())
            && ack.cseq().map(|c| c.seq) == msg.cseq().map(|c| c.seq)
        {
            let _ = self.send_stateless(ack);
            return;
        }
        let h = self.calls.iter().find(|(_, c)| {
            c.invite.as_ref().is_some_and(|i| {
                i.call_id() == Some(id.call_id.as_str())
                    && i.from_hdr().and_then(|f| f.tag().map(str::to_string)) == Some(id.local_tag.clone())
            })
        });
        if let Some((_, c)) = h
            && let Some(inv) = c.invite.clone()
        {
            self.ack_and_bye(now, &inv, &msg);
        }
    }

    fn ack_and_bye(&mut self, now: Instant, invite: &Message, resp: &Message) {
        if let Ok(mut d) = Dialog::uac(invite, resp) {
            d.confirm_uac(resp);
            let _ = self.send_stateless(d.ack(d.local_seq));
            let bye = d.request(Method::Bye);
            let _ = self.send_request(now, bye, Owner::Orphan);
        }
    }

    pub(crate) fn call_response(
        &mut self,
        now: Instant,
        h: CallHandle,
        p: Purpose,
        txn: TxnId,
        status: u16,
        msg: Message,
    ) {
        match p {
            Purpose::Invite => self.invite_response(now, h, txn, status, msg),
            Purpose::Cancel | Purpose::Prack => {}
            Purpose::ReInvite | Purpose::Update | Purpose::Bye | Purpose::Other => {
                self.dialog_response(now, h, p, txn, status, msg)
            }
        }
    }

    fn invite_response(&mut self, now: Instant, h: CallHandle, txn: TxnId, status: u16, msg: Message) {
        let Some(c) = self.calls.get_mut(&h) else {
            // The call is gone: a late 2xx still needs ACK and BYE.
            if (200..300).contains(&status)
                && let Some(inv) = self.txl.client_request(txn).cloned()
            {
                self.ack_and_bye(now, &inv, &msg);
            }
            return;
        };
        let Some(invite) = c.invite.clone() else { return };
        let to_tag = msg.to_hdr().and_then(|t| t.tag().map(str::to_string));
        match status {
            100 => {}
            101..=199 => {
                c.got_provisional = true;
                if c.state == CallState::Calling {
                    c.state = CallState::Proceeding;
                }
                let mut new_early = false;
                if let Some(tag) = &to_tag
                    && c.dialog.is_none()
                    && !c.early.iter().any(|d| d.id.remote_tag == *tag)
                    && let Ok(d) = Dialog::uac(&invite, &msg)
                {
                    self.dialogs.insert(d.id.clone(), h);
                    c.early.push(d);
                    new_early = true;
                }
                let _ = new_early;
                // RFC 3262: PRACK the reliable provisional response, in order.
                let rseq = msg.header("RSeq").and_then(|v| v.trim().parse::<u32>().ok());
                let reliable = has_tag_value(&msg, "Require", "100rel");
                let mut emit = true;
                if let (true, Some(rseq), Some(tag)) = (reliable, rseq, &to_tag) {
                    if c.last_rseq.is_some_and(|l| rseq <= l) {
                        emit = false;
                    } else {
                        c.last_rseq = Some(rseq);
                        let inv_seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
                        if let Some(d) = c.early.iter_mut().find(|d| d.id.remote_tag == *tag) {
                            d.refresh_target(&msg);
                            let mut pr = d.request(Method::Prack);
                            pr.push_named("RAck", format_args!("{rseq} {inv_seq} INVITE"));
                            let _ = self.send_request(now, pr, Owner::Call(h, Purpose::Prack));
                        }
                    }
                }
                let cancel_now = self.calls.get(&h).is_some_and(|c| c.cancel_pending);
                if cancel_now {
                    self.send_cancel(now, h);
                }
                if emit {
                    self.emit(UaEvent::Progress {
                        call: h,
                        status,
                        response: msg,
                    });
                }
            }
            200..=299 => {
                let Some(tag) = to_tag else { return };
                if let Some(d) = &c.dialog {
                    if d.id.remote_tag == tag {
                        // Retransmission: ACK again.
                        if let Some(ack) = c.ack.clone() {
                            let _ = self.send_stateless(ack);
                        }
                    } else {
                        // A second fork answered: ACK and BYE it (13.2.2.4).
                        self.ack_and_bye(now, &invite, &msg);
                    }
                    return;
                }
                let d = match c.early.iter().position(|d| d.id.remote_tag == tag) {
                    Some(i) => {
                        let mut d = c.early.remove(i);
                        d.confirm_uac(&msg);
                        d
                    }
                    None => match Dialog::uac(&invite, &msg) {
                        Ok(d) => d,
                        Err(_) => return,
                    },
                };
                // Other early dialogs are gone with the 2xx.
                for e in c.early.drain(..) {
                    self.dialogs.remove(&e.id);
                }
                self.dialogs.insert(d.id.clone(), h);
                let ack_req = d.ack(d.local_seq);
                c.dialog = Some(d);
                c.state = CallState::Confirmed;
                c.peer_allows_update = has_tag_value(&msg, "Allow", "UPDATE");
                if let Some(cfg) = self.cfg.session_timer
                    && let Some((secs, refresher)) = parse_se(&msg)
                {
                    let secs = secs.max(cfg.min_se.min(secs));
                    c.session = Some(session_timer(now, secs, refresher.unwrap_or(true)));
                }
                let cancelled = c.cancelled;
                let cancel_headers = c.cancel_headers.clone();
                if let Ok(sent) = self.send_stateless(ack_req)
                    && let Some(c) = self.calls.get_mut(&h)
                {
                    c.ack = Some(sent);
                }
                self.emit(UaEvent::Answered {
                    call: h,
                    response: msg,
                });
                if cancelled {
                    let _ = self.bye_with_body(now, h, None, &cancel_headers);
                }
            }
            _ => {
                if c.dialog.is_some() {
                    return;
                }
                let tries = c.auth_tries;
                c.auth_tries += 1;
                if (status == 401 || status == 407)
                    && tries < 2
                    && self.retry_with_auth(now, h, &invite, &msg)
                {
                    return;
                }
                let min_se = msg
                    .header("Min-SE")
                    .and_then(|v| v.trim().split(';').next()?.trim().parse::<u32>().ok());
                if let (422, Some(min), true) = (status, min_se, tries < 4) {
                    let mut m = strip_for_resend(&invite);
                    m.remove("Session-Expires");
                    m.remove("Min-SE");
                    m.push_named("Session-Expires", min);
                    m.push_named("Min-SE", min);
                    self.resend_invite(now, h, m);
                    return;
                }
                self.emit(UaEvent::Failed {
                    call: h,
                    status,
                    response: Some(msg),
                });
                self.end_call(now, h, EndReason::Failed(status));
            }
        }
    }

    /// Re-sends `original` answering the challenge in `resp`; false when no credentials apply.
    fn retry_with_auth(&mut self, now: Instant, h: CallHandle, original: &Message, resp: &Message) -> bool {
        let Some(acct) = self.calls.get(&h).and_then(|c| c.account) else {
            return false;
        };
        let kind = if resp.status() == Some(401) {
            ChallengeKind::Www
        } else {
            ChallengeKind::Proxy
        };
        let name = kind.challenge_header();
        let values: Vec<String> = resp
            .headers
            .iter()
            .filter(|x| x.name_text.eq_ignore_ascii_case(name))
            .map(|x| x.value.clone())
            .collect();
        let Some(reg) = self.account_mut(acct) else {
            return false;
        };
        let Some(dc) = reg.digest_mut() else { return false };
        if dc
            .on_challenge(values.iter().map(|v| (kind, v.as_str())))
            .is_err()
        {
            return false;
        }
        let m = strip_for_resend(original);
        if original.method() == Some(&Method::Invite)
            && self.calls.get(&h).is_some_and(|c| c.dialog.is_none())
        {
            self.resend_invite(now, h, m);
        } else {
            // In-dialog request: a new CSeq from the dialog.
            let Some(c) = self.calls.get_mut(&h) else {
                return false;
            };
            let Some(d) = c.dialog.as_mut() else { return false };
            let seq = d.next_seq();
            let mut m = m;
            let method = m.method().cloned().unwrap_or(Method::Bye);
            m.set(
                HeaderName::CSeq,
                CSeq {
                    seq,
                    method: method.clone(),
                },
            );
            self.add_auth(acct, &mut m);
            let purpose = match method {
                Method::Invite => Purpose::ReInvite,
                Method::Update => Purpose::Update,
                Method::Bye => Purpose::Bye,
                _ => Purpose::Other,
            };
            if let Ok(t) = self.send_request(now, m, Owner::Call(h, purpose.clone()))
                && purpose == Purpose::ReInvite
                && let Some(c) = self.calls.get_mut(&h)
            {
                c.reinvite_out = Some(t);
            }
        }
        true
    }

    fn add_auth(&mut self, acct: AccountId, m: &mut Message) {
        let method = m.method().map(|x| x.as_str().to_string()).unwrap_or_default();
        let uri = m.request_uri().map(|u| u.to_string()).unwrap_or_default();
        let body = m.body.clone();
        if let Some(dc) = self.account_mut(acct).and_then(|r| r.digest_mut()) {
            for hd in dc.authorize(&method, &uri, &body) {
                m.push_named(hd.name(), hd.value);
            }
        }
    }

    /// Sends a new INVITE for the call with CSeq + 1 (same Call-ID and tags, new branch).
    fn resend_invite(&mut self, now: Instant, h: CallHandle, mut m: Message) {
        let seq = m.cseq().map(|c| c.seq).unwrap_or(1) + 1;
        m.set(HeaderName::CSeq, format_args!("{seq} INVITE"));
        if let Some(a) = self.calls.get(&h).and_then(|c| c.account) {
            self.add_auth(a, &mut m);
        }
        for e in self
            .calls
            .get_mut(&h)
            .map(|c| std::mem::take(&mut c.early))
            .unwrap_or_default()
        {
            self.dialogs.remove(&e.id);
        }
        match self.send_request(now, m, Owner::Call(h, Purpose::Invite)) {
            Ok(txn) => {
                let sent = self.txl.client_request(txn).cloned();
                if let Some(c) = self.calls.get_mut(&h) {
                    c.invite_txn = Some(txn);
                    c.invite = sent;
                    c.got_provisional = false;
                    c.last_rseq = None;
                }
            }
            Err(_) => {
                self.emit(UaEvent::Failed {
                    call: h,
                    status: 503,
                    response: None,
                });
                self.end_call(now, h, EndReason::Failed(503));
            }
        }
    }

    fn dialog_response(
        &mut self,
        now: Instant,
        h: CallHandle,
        p: Purpose,
        txn: TxnId,
        status: u16,
        msg: Message,
    ) {
        if status < 200 {
            return;
        }
        let method = msg
            .cseq()
            .map(|c| c.method.to_owned_method())
            .unwrap_or(Method::Bye);
        let original = self.txl.client_request(txn).cloned();
        let Some(c) = self.calls.get_mut(&h) else { return };
        if p == Purpose::ReInvite {
            c.reinvite_out = None;
        }
        if (status == 401 || status == 407)
            && let Some(orig) = &original
            && c.auth_tries < 4
        {
            c.auth_tries += 1;
            if self.retry_with_auth(now, h, orig, &msg) {
                return;
            }
        }
        let Some(c) = self.calls.get_mut(&h) else { return };
        if p == Purpose::ReInvite
            && (200..300).contains(&status)
            && let Some(d) = c.dialog.as_ref()
        {
            let ack = d.ack(msg.cseq().map(|c| c.seq).unwrap_or(d.local_seq));
            let _ = self.send_stateless(ack);
        }
        let Some(c) = self.calls.get_mut(&h) else { return };
        if matches!(p, Purpose::ReInvite | Purpose::Update) && (200..300).contains(&status) {
            if let Some(d) = c.dialog.as_mut() {
                d.refresh_target(&msg);
            }
            if let Some(cfg) = self.cfg.session_timer
                && let Some((secs, refresher)) = parse_se(&msg)
            {
                let is_uac = c.dialog.as_ref().is_some_and(|d| d.is_uac);
                let _ = is_uac;
                // In a response, refresher=uac names the sender of the request: us.
                let we = refresher.unwrap_or(true);
                c.session = Some(session_timer(now, secs.max(cfg.min_se.min(secs)), we));
            } else if let Some(s) = c.session {
                c.session = Some(session_timer(now, s.interval, s.we_refresh));
            }
        }
        if p == Purpose::ReInvite && status == 491 {
            // 14.1: retry after 2.1-4 s if we own the Call-ID (we sent the INVITE), else 0-2 s.
            let owner = c.dialog.as_ref().is_some_and(|d| d.is_uac);
            let wait = if owner {
                self.jitter(2100, 4000)
            } else {
                self.jitter(0, 2000)
            };
            let body = original.as_ref().and_then(Body::of);
            if let Some(c) = self.calls.get_mut(&h) {
                c.glare = Some(Glare {
                    at: now + wait,
                    method: Method::Invite,
                    body,
                });
            }
            return;
        }
        if matches!(status, 481 | 408) && p != Purpose::Bye {
            // 12.2.1.2: the dialog is gone.
            self.emit(UaEvent::Response {
                call: h,
                method,
                status,
                response: Some(msg),
            });
            if let Some(d) = self.calls.get_mut(&h).and_then(|c| c.dialog.as_mut()) {
                let bye = d.request(Method::Bye);
                let _ = self.send_request(now, bye, Owner::Orphan);
            }
            self.end_call(now, h, EndReason::DialogLost(status));
            return;
        }
        if p == Purpose::Bye {
            return;
        }
        self.emit(UaEvent::Response {
            call: h,
            method,
            status,
            response: Some(msg),
        });
    }

    pub(crate) fn call_failure(
        &mut self,
        now: Instant,
        h: CallHandle,
        p: Purpose,
        txn: TxnId,
        transport: bool,
    ) {
        let status = if transport { 503 } else { 408 };
        match p {
            Purpose::Invite => {
                let Some(c) = self.calls.get(&h) else { return };
                if c.invite_txn != Some(txn) || c.dialog.is_some() {
                    return;
                }
                self.emit(UaEvent::Failed {
                    call: h,
                    status,
                    response: None,
                });
                self.end_call(now, h, EndReason::Failed(status));
            }
            Purpose::ReInvite | Purpose::Update | Purpose::Other => {
                if let Some(c) = self.calls.get_mut(&h)
                    && p == Purpose::ReInvite
                {
                    c.reinvite_out = None;
                }
                let method = self
                    .txl
                    .client_request(txn)
                    .and_then(|m| m.method().cloned())
                    .unwrap_or(Method::Invite);
                self.emit(UaEvent::Response {
                    call: h,
                    method,
                    status,
                    response: None,
                });
                if let Some(d) = self.calls.get_mut(&h).and_then(|c| c.dialog.as_mut()) {
                    let bye = d.request(Method::Bye);
                    let _ = self.send_request(now, bye, Owner::Orphan);
                }
                self.end_call(now, h, EndReason::DialogLost(status));
            }
            Purpose::Bye | Purpose::Cancel | Purpose::Prack => {}
        }
    }

    pub(crate) fn call_timers(&mut self, now: Instant, h: CallHandle) {
        let t2 = self.cfg.timers.t2;
        let Some(c) = self.calls.get_mut(&h) else { return };
        // 2xx retransmission (13.3.1.4).
        let mut resend = Vec::new();
        let mut no_ack = false;
        if let Some(r) = c.final_2xx.as_mut() {
            if r.give_up <= now {
                no_ack = true;
            } else if r.next <= now {
                r.interval = (r.interval * 2).min(t2);
                r.next = now + r.interval;
                resend.push((r.txn, r.msg.clone()));
            }
        }
        let mut prack_lost = false;
        if let Some(r) = c.reliable.as_mut() {
            if r.give_up <= now {
                prack_lost = true;
            } else if r.next <= now {
                r.interval *= 2;
                r.next = now + r.interval;
                resend.push((r.txn, r.msg.clone()));
            }
        }
        let glare = c.glare.as_ref().filter(|g| g.at <= now).cloned();
        if glare.is_some() {
            c.glare = None;
        }
        let mut refresh = false;
        let mut expired = false;
        if let Some(s) = c.session.as_mut() {
            if s.refresh_at.is_some_and(|t| t <= now) {
                s.refresh_at = None;
                refresh = true;
            }
            if s.expire_at <= now {
                expired = true;
            }
        }
        let allows_update = c.peer_allows_update;
        let sdp = c.local_sdp.clone();
        for (txn, m) in resend {
            self.reply(now, txn, m);
        }
        if no_ack {
            if let Some(c) = self.calls.get_mut(&h) {
                c.final_2xx = None;
            }
            let _ = self.bye_with(now, h, EndReason::NoAck);
            return;
        }
        if prack_lost {
            // RFC 3262 3: no PRACK for a reliable provisional: reject the INVITE with 5xx.
            if let Some(c) = self.calls.get_mut(&h) {
                c.reliable = None;
            }
            let _ = self.reject(now, h, 504);
            return;
        }
        if let Some(g) = glare {
            let _ = self.dialog_request(now, h, g.method, g.body, &[]);
        }
        if expired {
            if let Some(c) = self.calls.get_mut(&h) {
                c.session = None;
            }
            let _ = self.bye_with(now, h, EndReason::SessionExpired);
            return;
        }
        if refresh {
            let r = if allows_update {
                self.dialog_request(now, h, Method::Update, None, &[])
            } else {
                self.dialog_request(now, h, Method::Invite, sdp, &[])
            };
            let _ = r;
        }
    }

    pub(crate) fn end_call(&mut self, now: Instant, h: CallHandle, reason: EndReason) {
        self.end_call_with(now, h, reason, None);
    }

    /// Ends a call; `request` is the peer's BYE or CANCEL that ended it, handed to call
    /// control with [`UaEvent::Terminated`] (its ISUP REL or Reason header gives the cause).
    pub(crate) fn end_call_with(
        &mut self,
        now: Instant,
        h: CallHandle,
        reason: EndReason,
        request: Option<Message>,
    ) {
        // A dialog lost to 408/481 often means the registrar or proxy restarted: refresh the
        // account's binding now rather than at the next refresh.
        if let (EndReason::DialogLost(_), Some(a)) = (reason, self.calls.get(&h).and_then(|c| c.account))
            && let Some(r) = self.account_mut(a)
            && r.state().is_registered()
        {
            r.register_now(now);
        }
        let Some(c) = self.calls.get_mut(&h) else { return };
        if c.state == CallState::Terminated {
            return;
        }
        c.state = CallState::Terminated;
        if let Some(d) = c.dialog.take() {
            self.dialogs.remove(&d.id);
        }
        for e in c.early.drain(..) {
            self.dialogs.remove(&e.id);
        }
        self.calls.remove(&h);
        self.emit(UaEvent::Terminated {
            call: h,
            reason,
            request,
        });
    }

    /// Forgets a call whose end call control has seen; calls are removed on termination
    /// already, so this only exists for symmetry with other cores.
    pub fn forget(&mut self, call: CallHandle) {
        self.calls.remove(&call);
    }
}

/// Endings carrying a body and extra headers: SIP-T/SIP-I put the REL with the release cause
/// in the rejection or the BYE (RFC 3398 8.2.6), with its Content-Disposition.
impl UserAgent {
    /// [`UserAgent::reject`] with a body and extra headers (e.g. Accept on a 415).
    pub fn reject_with_body(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        body: Option<Body>,
        headers: &[(String, String)],
    ) -> Result<(), UaError> {
        if !(300..700).contains(&status) {
            return Err(UaError::InvalidState("reject status must be 300-699"));
        }
        let (mut r, txn) = self.uas_response(call, status)?;
        for (k, v) in headers {
            r.push_named(k, v);
        }
        if let Some(b) = &body {
            r.set_body(&b.content_type, b.data.clone());
        }
        self.reply(now, txn, r);
        self.end_call(now, call, EndReason::LocalHangup);
        self.pump(now);
        Ok(())
    }

    /// [`UserAgent::bye`] with a body and extra headers.
    pub fn bye_with_body(
        &mut self,
        now: Instant,
        call: CallHandle,
        body: Option<Body>,
        headers: &[(String, String)],
    ) -> Result<(), UaError> {
        let c = self.calls.get_mut(&call).ok_or(UaError::UnknownCall)?;
        let d = c.dialog.as_mut().ok_or(UaError::InvalidState("no dialog"))?;
        let mut m = d.request(Method::Bye);
        for (k, v) in headers {
            m.push_named(k, v);
        }
        if let Some(b) = &body {
            m.set_body(&b.content_type, b.data.clone());
        }
        c.state = CallState::Terminating;
        c.final_2xx = None;
        c.session = None;
        let r = self.send_request(now, m, Owner::Call(call, Purpose::Bye));
        self.end_call(now, call, EndReason::LocalHangup);
        r.map(|_| ())
    }
}

/// Copy of a request for re-sending: without Via, credentials and Content-Length.
fn strip_for_resend(m: &Message) -> Message {
    let mut m = m.clone();
    m.remove("Via")
        .remove("Authorization")
        .remove("Proxy-Authorization");
    m
}

fn session_timer(now: Instant, interval: u32, we_refresh: bool) -> SessionTimer {
    let i = Duration::from_secs(u64::from(interval));
    SessionTimer {
        interval,
        we_refresh,
        refresh_at: we_refresh.then(|| now + i / 2),
        // 10: the side that does not refresh sends BYE at interval - min(32, interval/3).
        expire_at: now + i - Duration::from_secs(u64::from((interval / 3).min(32))),
    }
}

/// A server transaction of a call ended without ACK (Timer H) or failed.
pub(crate) fn server_txn_timeout(ua: &mut UserAgent, now: Instant, txn: TxnId) {
    let h = ua
        .calls
        .iter()
        .find(|(_, c)| c.server_txn == Some(txn))
        .map(|(h, _)| *h);
    if let Some(h) = h {
        ua.end_call(now, h, EndReason::NoAck);
    }
}

/// Answers an in-dialog request handed to call control.
pub(crate) fn respond(
    ua: &mut UserAgent,
    now: Instant,
    id: ServerRequest,
    status: u16,
    body: Option<Body>,
) -> Result<(), UaError> {
    let h = *ua.server_reqs.get(&id.0).ok_or(UaError::UnknownCall)?;
    let req = ua.txl.server_request(id.0).cloned().ok_or(UaError::UnknownCall)?;
    let is_invite = req.method() == Some(&Method::Invite);
    if status >= 200 {
        ua.server_reqs.remove(&id.0);
    }
    let r = ua.refresh_response(now, h, &req, status, body.clone());
    let t1 = ua.cfg.timers.t1;
    if let Some(c) = ua.calls.get_mut(&h) {
        if let Some(b) = body
            && matches!(req.method(), Some(Method::Invite | Method::Update))
        {
            c.local_sdp = Some(b);
        }
        if is_invite && status >= 200 {
            if (200..300).contains(&status) {
                c.final_2xx = Some(Retrans {
                    msg: r.clone(),
                    txn: id.0,
                    next: now + t1,
                    interval: t1,
                    give_up: now + t1 * 64,
                });
            } else {
                c.reinvite_in = None;
            }
        }
    }
    ua.reply(now, id.0, r);
    ua.pump(now);
    Ok(())
}

/// A request of the call was sent again as transaction `new` to the next RFC 3263 target
/// after `old` failed; `sent` is the new request (with its Via).
/// True if our INVITE `txn` may go to the next RFC 3263 target after a 503: nothing came
/// from further downstream yet and the caller has not cancelled.
pub(crate) fn may_fail_over(c: &Call, txn: TxnId) -> bool {
    c.invite_txn == Some(txn) && !c.got_provisional && c.dialog.is_none() && !c.cancel_pending && !c.cancelled
}

pub(crate) fn retarget(c: &mut Call, p: Purpose, old: TxnId, new: TxnId, sent: Option<Message>) {
    match p {
        Purpose::Invite if c.invite_txn == Some(old) => {
            c.invite_txn = Some(new);
            if sent.is_some() {
                c.invite = sent;
            }
        }
        Purpose::ReInvite if c.reinvite_out == Some(old) => c.reinvite_out = Some(new),
        _ => {}
    }
}
