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
use crate::fxo::{FxoLine, FxoReading};
use crate::fxs::{FxsLine, HookSample, LineFeed};
use crate::time::Instant;

pub use crate::drivers::{ChipKind, roles};

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
/// A ProSLIC holding its reset line, as [`open_si321x`] returns it.
pub type HeldProSlic = Held<ProSlic>;
/// A voice DAA holding its reset line, as [`open_si3050`] returns it.
pub type HeldVoiceDaa = Held<VoiceDaa>;
pub type VoiceDaa = Si3050<SpidevDevice, Delay>;
pub type GpioSlic = Ag1171<CdevPin, CdevPin, CdevPin>;

/// A line chip with the reset line it keeps requested: released, the line would go back to
/// the kernel's default state, which may hold the chip in reset.
pub struct Held<L> {
    line: L,
    reset: Option<CdevPin>,
}

impl<L> Held<L> {
    pub fn new(line: L, reset: Option<CdevPin>) -> Self {
        Held { line, reset }
    }

    pub fn line(&self) -> &L {
        &self.line
    }

    pub fn line_mut(&mut self) -> &mut L {
        &mut self.line
    }

    /// The chip driver and its reset line.
    pub fn into_parts(self) -> (L, Option<CdevPin>) {
        (self.line, self.reset)
    }
}

impl<L: FxsLine> FxsLine for Held<L> {
    fn set_feed(&mut self, feed: LineFeed) -> Result<(), LineError> {
        self.line.set_feed(feed)
    }

    fn poll(&mut self, now: Instant) -> Result<HookSample, LineError> {
        self.line.poll(now)
    }

    fn next_transition(&mut self) -> Option<HookSample> {
        self.line.next_transition()
    }

    fn reported_until(&self, now: Instant) -> Instant {
        self.line.reported_until(now)
    }
}

impl<L: FxoLine> FxoLine for Held<L> {
    fn set_off_hook(&mut self, off_hook: bool) -> Result<(), LineError> {
        self.line.set_off_hook(off_hook)
    }

    fn read(&mut self, now: Instant) -> Result<FxoReading, LineError> {
        self.line.read(now)
    }
}

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
) -> Result<(HeldProSlic, ChipId), OpenLineError> {
    let dev = open_spi(spi.device, spi.max_hz, spi.mode)?;
    let mut slic = Si321x::new(dev, Delay, cfg);
    let pin = match reset {
        Some(r) => {
            let mut pin = gpio_output(r.chip, r.line, r.active_low, true)?;
            slic.hard_reset(&mut pin)?;
            Some(pin)
        }
        None => None,
    };
    let id = slic.init()?;
    Ok((Held::new(slic, pin), id))
}

/// Opens a voice DAA: optional reset pulse (the line then held inactive), then set-up and
/// line-side power-up.
pub fn open_si3050(
    spi: SpiParams<'_>,
    reset: Option<GpioParams<'_>>,
    cfg: Si3050Config,
) -> Result<(HeldVoiceDaa, DaaId), OpenLineError> {
    let dev = open_spi(spi.device, spi.max_hz, spi.mode)?;
    let mut daa = Si3050::new(dev, Delay, cfg);
    let pin = match reset {
        Some(r) => {
            let mut pin = gpio_output(r.chip, r.line, r.active_low, true)?;
            daa.hard_reset(&mut pin)?;
            Some(pin)
        }
        None => None,
    };
    let id = daa.init()?;
    Ok((Held::new(daa, pin), id))
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
