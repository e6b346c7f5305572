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
}
