//! Port enumeration: what a board offers the gateway.

/// The two kinds of analog port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// Foreign Exchange Station: we feed a phone (we are the exchange to it).
    Fxs,
    /// Foreign Exchange Office: we are a phone on an exchange line.
    Fxo,
}

/// A port's identity on the board, numbered from 0 across all ports in board order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u8);

/// A port as the board enumerates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortInfo {
    pub id: PortId,
    pub kind: PortKind,
    /// Channel on the board's PCM bus.
    pub pcm_channel: u8,
}
