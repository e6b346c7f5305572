//! SPI and GPIO of a Linux board as `embedded-hal` 1.0 types for the line drivers.
//!
//! SPI goes through spidev (`/dev/spidevB.C`, one chip select each, so every
//! [`embedded_hal::spi::SpiDevice`] transaction is one chip-select frame); GPIO lines through
//! the GPIO character device (`/dev/gpiochipN` and a line offset), requested with the
//! board's polarity so drivers always speak logical levels.

use std::io;

use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{CdevPin, SpidevDevice};

/// Consumer label shown by `gpioinfo` for lines we hold.
pub const CONSUMER: &str = "gatewayd";

fn mode_flags(mode: u8) -> io::Result<SpiModeFlags> {
    Ok(match mode {
        0 => SpiModeFlags::SPI_MODE_0,
        1 => SpiModeFlags::SPI_MODE_1,
        2 => SpiModeFlags::SPI_MODE_2,
        3 => SpiModeFlags::SPI_MODE_3,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "SPI mode must be 0..=3",
            ));
        }
    })
}

/// Opens a spidev device with 8-bit words, `max_hz` clock and SPI `mode` (ProSLIC and DAA
/// both use mode 3).
pub fn open_spi(device: &str, max_hz: u32, mode: u8) -> io::Result<SpidevDevice> {
    let flags = mode_flags(mode)?;
    let mut dev =
        SpidevDevice::open(device).map_err(|e| io::Error::new(e.inner().kind(), format!("{device}: {e}")))?;
    let opts = SpidevOptions::new()
        .bits_per_word(8)
        .max_speed_hz(max_hz)
        .mode(flags)
        .build();
    dev.configure(&opts)?;
    Ok(dev)
}

fn request(chip: &str, line: u32, flags: LineRequestFlags, initial: u8) -> io::Result<CdevPin> {
    let to_io =
        |e: linux_embedded_hal::gpio_cdev::Error| io::Error::other(format!("{chip} line {line}: {e}"));
    let mut c = Chip::new(chip).map_err(to_io)?;
    let handle = c
        .get_line(line)
        .map_err(to_io)?
        .request(flags, initial, CONSUMER)
        .map_err(to_io)?;
    CdevPin::new(handle).map_err(to_io)
}

/// Requests an output line, initially at logical level `initial_high`.
pub fn gpio_output(chip: &str, line: u32, active_low: bool, initial_high: bool) -> io::Result<CdevPin> {
    let mut flags = LineRequestFlags::OUTPUT;
    if active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    request(chip, line, flags, u8::from(initial_high))
}

/// Requests an input line.
pub fn gpio_input(chip: &str, line: u32, active_low: bool) -> io::Result<CdevPin> {
    let mut flags = LineRequestFlags::INPUT;
    if active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    request(chip, line, flags, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_devices_are_clear_errors() {
        assert!(mode_flags(4).is_err());
        let Err(e) = open_spi("/nonexistent/spidev9.9", 1_000_000, 3) else {
            panic!("opened a missing spidev");
        };
        assert!(e.to_string().contains("spidev9.9"));
        let Err(e) = gpio_output("/nonexistent/gpiochip9", 3, false, true) else {
            panic!("opened a missing gpiochip");
        };
        assert!(e.to_string().contains("gpiochip9"), "{e}");
    }
}
