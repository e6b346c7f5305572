//! What the status page shows, kept up to date by the control plane.

use std::collections::VecDeque;

use serde::Serialize;

use crate::config::model::PortKind;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub board: String,
    pub version: &'static str,
    pub sip_address: String,
    pub ports: Vec<PortStatus>,
    /// Registration state of each configured account.
    pub accounts: Vec<AccountStatus>,
    /// Calls in progress.
    pub calls: Vec<CallStatus>,
    pub media_ticks: u64,
    pub media_overruns: u64,
    /// The latest line events, oldest first (at most [`Status::EVENT_HISTORY`]).
    pub events: VecDeque<EventRecord>,
}

impl Status {
    pub const EVENT_HISTORY: usize = 100;

    pub fn push_event(&mut self, rec: EventRecord) {
        if self.events.len() == Self::EVENT_HISTORY {
            self.events.pop_front();
        }
        self.events.push_back(rec);
    }

    /// Sets an account's registration state (creating its entry on first use).
    pub fn set_registration(&mut self, account: &str, state: RegState, detail: impl Into<String>) {
        let detail = detail.into();
        match self.accounts.iter_mut().find(|a| a.name == account) {
            Some(a) => {
                a.state = state;
                a.detail = detail;
            }
            None => self.accounts.push(AccountStatus {
                name: account.to_string(),
                state,
                detail,
            }),
        }
    }

    /// Sets a port's call state as the page shows it ("idle", "dialing", "ringing", "talking" ...).
    pub fn set_call_state(&mut self, port: u8, state: impl Into<String>) {
        if let Some(p) = self.ports.iter_mut().find(|p| p.id == port) {
            p.call_state = state.into();
        }
    }

    /// Adds or replaces the call on `call.port`.
    pub fn upsert_call(&mut self, call: CallStatus) {
        match self.calls.iter_mut().find(|c| c.port == call.port) {
            Some(c) => *c = call,
            None => self.calls.push(call),
        }
    }

    /// Removes the call on `port` (when it ends).
    pub fn remove_call(&mut self, port: u8) {
        self.calls.retain(|c| c.port != port);
    }

    /// Brings the per-port and per-account entries in line with a new configuration
    /// (keeping the live state of ports and accounts that remain).
    pub fn apply_config(&mut self, cfg: &crate::config::Config) {
        for p in &mut self.ports {
            if let Some(pc) = cfg.ports.iter().find(|c| c.id == p.id) {
                p.country = pc.country.clone();
                p.account = pc.account.clone();
            }
        }
        self.accounts
            .retain(|a| cfg.accounts.iter().any(|c| c.name == a.name));
        for a in &cfg.accounts {
            if !self.accounts.iter().any(|s| s.name == a.name) {
                let state = if !a.enabled || !a.register {
                    RegState::Disabled
                } else {
                    RegState::Unregistered
                };
                self.accounts.push(AccountStatus {
                    name: a.name.clone(),
                    state,
                    detail: String::new(),
                });
            }
        }
    }
}

/// Registration state of an account as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegState {
    /// Disabled, or registration switched off.
    Disabled,
    Unregistered,
    Registering,
    Registered,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountStatus {
    pub name: String,
    pub state: RegState,
    /// E.g. "expires in 3580 s via 127.0.0.1:5060" or the failure reason ("403 Forbidden").
    pub detail: String,
}

/// One call in progress with its media figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallStatus {
    pub port: u8,
    /// "in" (offered to the port) or "out" (dialled from the port).
    pub direction: String,
    /// The other party (number or SIP URI).
    pub remote: String,
    /// Call control's state of the call ("dialing", "ringing", "talking", "held" ...).
    pub state: String,
    /// Negotiated codec ("PCMU", "PCMA", "GSM"), empty before the answer.
    pub codec: String,
    /// How long the call has existed (since it was offered or dialled), in ms.
    pub since_ms: u64,
    pub rtp_sent: u64,
    pub rtp_received: u64,
    pub rtp_lost: u64,
    /// Interarrival jitter (RFC 3550 6.4.1), in ms.
    pub jitter_ms: f32,
}

/// One line event as the page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    /// Board time (PCM sample clock) of the event, in ms.
    pub at_ms: u64,
    pub port: u8,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortStatus {
    pub id: u8,
    pub kind: PortKind,
    /// Where a virtual phone (or the simulated exchange) attaches, on the simulated board.
    pub sim_addr: Option<String>,
    pub country: String,
    pub account: String,
    pub off_hook: bool,
    pub ringing: bool,
    /// FXO only: whether the exchange line is present.
    pub line_present: Option<bool>,
    pub last_event: String,
    /// Call control's state of the port ("idle" when none is published).
    pub call_state: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_kept_per_port_and_serialised_for_the_api() {
        let mut st = Status::default();
        let call = CallStatus {
            port: 0,
            direction: "out".into(),
            remote: "sip:1002@127.0.0.1".into(),
            state: "talking".into(),
            codec: "PCMA".into(),
            since_ms: 61_500,
            rtp_sent: 3075,
            rtp_received: 3070,
            rtp_lost: 2,
            jitter_ms: 1.5,
        };
        st.upsert_call(call.clone());
        st.upsert_call(CallStatus {
            port: 1,
            direction: "in".into(),
            state: "ringing".into(),
            ..CallStatus::default()
        });
        st.upsert_call(CallStatus {
            rtp_sent: 3100,
            ..call.clone()
        });
        assert_eq!(st.calls.len(), 2);
        assert_eq!(st.calls[0].rtp_sent, 3100);
        let v = serde_json::to_value(&st).unwrap();
        let c = &v["calls"][0];
        assert_eq!(c["port"], 0);
        assert_eq!(c["direction"], "out");
        assert_eq!(c["remote"], "sip:1002@127.0.0.1");
        assert_eq!(c["state"], "talking");
        assert_eq!(c["codec"], "PCMA");
        assert_eq!(c["since_ms"], 61_500);
        assert_eq!(c["rtp_received"], 3070);
        assert_eq!(c["rtp_lost"], 2);
        assert_eq!(c["jitter_ms"], 1.5);
        st.remove_call(0);
        assert_eq!(st.calls.len(), 1);
        assert_eq!(st.calls[0].port, 1);
    }
}
