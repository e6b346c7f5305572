//! The error every line backend reports, whatever bus or socket is behind it.

use core::fmt;

/// What went wrong talking to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// The SPI/GPIO/ALSA transfer itself failed.
    Bus,
    /// The chip did not answer (wrong ID register, all-ones or all-zeros reads) within its timeout.
    NoResponse,
    /// The chip reported a fault condition (power alarm, thermal shutdown, line fault).
    Fault(LineFault),
    /// Calibration did not complete.
    Calibration,
    /// A setting the hardware cannot do (a ring frequency out of range, an unsupported feed).
    Unsupported,
    /// The peer of a simulated port is not connected.
    Disconnected,
}

/// Faults a SLIC or DAA reports about the loop itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFault {
    PowerAlarm,
    ThermalShutdown,
    GroundFault,
    Overcurrent,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Bus => f.write_str("bus transfer failed (SPI/GPIO to the line chip, or PCM)"),
            LineError::NoResponse => f.write_str("the line chip did not answer"),
            LineError::Fault(k) => write!(f, "line fault: {k:?}"),
            LineError::Calibration => f.write_str("line chip calibration did not complete"),
            LineError::Unsupported => f.write_str("setting not supported by this line hardware"),
            LineError::Disconnected => f.write_str("simulated line peer not connected"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LineError {}
