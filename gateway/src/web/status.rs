//! What the status page shows, kept up to date by the control plane.

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
