//! Opening a board's line chips from its board file entries: the spidev device and GPIO
//! lines a port names, the reset pulse, then the driver's bring-up.
//!
//! The parameters mirror the board file's `[[spi]]` and `[[gpio]]` tables, so a board
//! definition maps onto these calls one to one.

use std::fmt;
use std::io;

use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};

use super::bus::{gpio_input, gpio_output, open_spi};
use crate::drivers::ag1171::{Ag1171, Ag1171Config};
use crate::drivers::si321x::{ChipId, Si321x, Si321xConfig};
use crate::drivers::si3050::{DaaId, Si3050, Si3050Config};
use crate::error::LineError;

/// GPIO role names a board file gives a port's lines (`gpio = [{ role, line }]`).
pub mod roles {
    /// Chip reset (ProSLIC, DAA), active low at the chip.
    pub const RESET: &str = "reset";
    /// Chip interrupt output (optional: status is polled every tick).
    pub const INTERRUPT: &str = "interrupt";
    /// Ag1171 ring mode, forward/reverse and switch-hook detect.
    pub const RING_MODE: &str = "ring_mode";
    pub const FORWARD_REVERSE: &str = "forward_reverse";
    pub const SWITCH_HOOK: &str = "switch_hook";
}

/// The line chips a board file's `chip` value can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipKind {
    /// `si3210`, `si3211`, `si3215`, `si3216`: [`open_si321x`] (the part is identified at start-up).
    ProSlic,
    /// `si3050`: [`open_si3050`].
    VoiceDaa,
    /// `ag1171`: [`open_ag1171`].
    GpioSlic,
}

impl ChipKind {
    pub fn from_name(name: &str) -> Option<ChipKind> {
        Some(match name {
            "si3210" | "si3211" | "si3215" | "si3216" => ChipKind::ProSlic,
            "si3050" => ChipKind::VoiceDaa,
            "ag1171" => ChipKind::GpioSlic,
            _ => return None,
        })
    }

    /// Whether the chip is an FXS (true) or FXO (false) interface.
    pub const fn is_fxs(self) -> bool {
        !matches!(self, ChipKind::VoiceDaa)
    }
}

/// A spidev device: `/dev/spidevB.C`, clock and SPI mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiParams<'a> {
    pub device: &'a str,
    pub max_hz: u32,
    pub mode: u8,
}

/// A GPIO line: `/dev/gpiochipN`, offset, polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpioParams<'a> {
    pub chip: &'a str,
    pub line: u32,
    pub active_low: bool,
}

pub type ProSlic = Si321x<SpidevDevice, Delay>;
pub type VoiceDaa = Si3050<SpidevDevice, Delay>;
pub type GpioSlic = Ag1171<CdevPin, CdevPin, CdevPin>;

/// Why a line chip could not be brought up.
#[derive(Debug)]
pub enum OpenLineError {
    /// The device node or GPIO line could not be opened.
    Io(io::Error),
    /// The chip did not come up (absent, calibration failed, setting refused).
    Line(LineError),
}

impl fmt::Display for OpenLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenLineError::Io(e) => write!(f, "{e}"),
            OpenLineError::Line(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenLineError {}

impl From<io::Error> for OpenLineError {
    fn from(e: io::Error) -> Self {
        OpenLineError::Io(e)
    }
}

impl From<LineError> for OpenLineError {
    fn from(e: LineError) -> Self {
        OpenLineError::Line(e)
    }
}

/// Opens a ProSLIC: pulses its reset line (active low; held high afterwards) when given, then
/// runs identification, calibration and set-up.
pub fn open_si321x(
    spi: SpiParams<'_>,
    reset: Option<GpioParams<'_>>,
    cfg: Si321xConfig,
) -> Result<(ProSlic, ChipId), OpenLineError> {
    let dev = open_spi(spi.device, spi.max_hz, spi.mode)?;
    let mut slic = Si321x::new(dev, Delay, cfg);
    if let Some(r) = reset {
        let mut pin = gpio_output(r.chip, r.line, r.active_low, true)?;
        slic.hard_reset(&mut pin)?;
    }
    let id = slic.init()?;
    Ok((slic, id))
}

/// Opens a voice DAA: optional reset pulse, then set-up and line-side power-up.
pub fn open_si3050(
    spi: SpiParams<'_>,
    reset: Option<GpioParams<'_>>,
    cfg: Si3050Config,
) -> Result<(VoiceDaa, DaaId), OpenLineError> {
    let dev = open_spi(spi.device, spi.max_hz, spi.mode)?;
    let mut daa = Si3050::new(dev, Delay, cfg);
    if let Some(r) = reset {
        let mut pin = gpio_output(r.chip, r.line, r.active_low, true)?;
        daa.hard_reset(&mut pin)?;
    }
    let id = daa.init()?;
    Ok((daa, id))
}

/// Opens a GPIO SLIC from its ring mode, forward/reverse and switch-hook lines.
pub fn open_ag1171(
    rm: GpioParams<'_>,
    fr: GpioParams<'_>,
    shk: GpioParams<'_>,
    cfg: Ag1171Config,
) -> Result<GpioSlic, OpenLineError> {
    let rm = gpio_output(rm.chip, rm.line, rm.active_low, !cfg.rm_ring_high)?;
    let fr = gpio_output(fr.chip, fr.line, fr.active_low, cfg.fr_forward_high)?;
    let shk = gpio_input(shk.chip, shk.line, shk.active_low)?;
    Ok(Ag1171::new(rm, fr, shk, cfg)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_names() {
        assert_eq!(ChipKind::from_name("si3215"), Some(ChipKind::ProSlic));
        assert_eq!(ChipKind::from_name("si3050"), Some(ChipKind::VoiceDaa));
        assert!(ChipKind::from_name("ag1171").unwrap().is_fxs());
        assert!(!ChipKind::VoiceDaa.is_fxs());
        assert_eq!(ChipKind::from_name("le9662"), None);
    }

    #[test]
    fn missing_nodes_are_io_errors() {
        let spi = SpiParams {
            device: "/nonexistent/spidev0.0",
            max_hz: 1_000_000,
            mode: 3,
        };
        assert!(matches!(
            open_si321x(spi, None, Si321xConfig::default()),
            Err(OpenLineError::Io(_))
        ));
        assert!(matches!(
            open_si3050(spi, None, Si3050Config::default()),
            Err(OpenLineError::Io(_))
        ));
        let g = GpioParams {
            chip: "/nonexistent/gpiochip0",
            line: 1,
            active_low: false,
        };
        assert!(matches!(
            open_ag1171(g, g, g, Ag1171Config::default()),
            Err(OpenLineError::Io(_))
        ));
    }
}
