//! Transaction matching (RFC 3261 17.1.3 and 17.2.3).
//!
//! [`MsgInfo`] is the part of a message the transaction layer looks at; the wire adapter fills
//! it from a parsed message. Keys are built from it.

use super::MAGIC_COOKIE;

/// The request methods the transaction layer distinguishes; everything else is kept as its token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxnMethod {
    Invite,
    Ack,
    Cancel,
    Other(Box<str>),
}

impl TxnMethod {
    /// From the method token (case-sensitive, RFC 3261 7.1).
    pub fn from_token(token: &str) -> Self {
        match token {
            "INVITE" => TxnMethod::Invite,
            "ACK" => TxnMethod::Ack,
            "CANCEL" => TxnMethod::Cancel,
            t => TxnMethod::Other(t.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            TxnMethod::Invite => "INVITE",
            TxnMethod::Ack => "ACK",
            TxnMethod::Cancel => "CANCEL",
            TxnMethod::Other(t) => t,
        }
    }

    /// The method a server transaction is keyed on: an ACK belongs to its INVITE.
    fn server_key_method(&self) -> TxnMethod {
        match self {
            TxnMethod::Ack => TxnMethod::Invite,
            m => m.clone(),
        }
    }
}

/// Request or response, with what matching needs from the start line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request { method: TxnMethod, request_uri: String },
    Response { status: u16 },
}

/// What the transaction layer reads from a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgInfo {
    pub start: StartLine,
    /// `branch` parameter of the top Via, if any.
    pub branch: Option<String>,
    /// sent-by of the top Via (`host[:port]`), host lower-cased.
    pub sent_by: String,
    /// The whole top Via value, for RFC 2543 matching.
    pub top_via: String,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: TxnMethod,
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
}

impl MsgInfo {
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&TxnMethod> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, or `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// True if the top Via branch carries the RFC 3261 magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .as_deref()
            .is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// Key of the client transaction a response (or the request it sends) belongs to:
    /// top Via branch and CSeq method (17.1.3).
    pub fn client_key(&self) -> Option<ClientKey> {
        Some(ClientKey {
            branch: self.branch.clone()?,
            method: self.cseq_method.clone(),
        })
    }

    /// Key of the server transaction a request belongs to (17.2.3). An ACK maps to its INVITE.
    pub fn server_key(&self) -> Option<ServerKey> {
        let method = self.method()?.server_key_method();
        Some(self.server_key_for(method))
    }

    /// Key of the INVITE server transaction a CANCEL targets (9.2: same matching, method INVITE).
    pub fn cancel_target_key(&self) -> Option<ServerKey> {
        match self.method()? {
            TxnMethod::Cancel => Some(self.server_key_for(TxnMethod::Invite)),
            _ => None,
        }
    }

    fn server_key_for(&self, method: TxnMethod) -> ServerKey {
        match (&self.branch, &self.start) {
            (Some(branch), _) if self.has_rfc3261_branch() => ServerKey::Rfc3261 {
                branch: branch.clone(),
                sent_by: self.sent_by.clone(),
                method,
            },
            (_, StartLine::Request { request_uri, .. }) => ServerKey::Rfc2543 {
                request_uri: request_uri.clone(),
                from_tag: self.from_tag.clone(),
                call_id: self.call_id.clone(),
                cseq: self.cseq,
                method,
                top_via: self.top_via.clone(),
            },
            // Responses never reach here (server_key requires a request).
            (_, StartLine::Response { .. }) => ServerKey::Rfc3261 {
                branch: String::new(),
                sent_by: self.sent_by.clone(),
                method,
            },
        }
    }
}

/// Client transaction key (17.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: String,
    pub method: TxnMethod,
}

/// Server transaction key (17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// Branch with the magic cookie, sent-by of the top Via, method (ACK counted as INVITE).
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: TxnMethod,
    },
    /// RFC 2543 peers: Request-URI, From tag, Call-ID, CSeq, top Via. The To tag is checked
    /// separately, since for an ACK it must equal the tag of the response sent.
    Rfc2543 {
        request_uri: String,
        from_tag: Option<String>,
        call_id: String,
        cseq: u32,
        method: TxnMethod,
        top_via: String,
    },
}
