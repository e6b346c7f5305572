//! Silicon Labs Si3050 voice DAA with a Si3018/Si3019 line-side device: an FXO port on SPI.
//!
//! Register map per the public Si3050 + Si3018/19 datasheet (and AN84 for the digital
//! interface). Every access is one chip-select frame of three bytes: a control byte (0x20 to
//! write, 0x60 to read), the register address, then the data byte out or in.
//!
//! Bring-up: check the system side answers with its reset value, set PCM, country line
//! settings (DC termination, AC impedance, ring detector), ring validation and gains while the
//! line side is still powered down, then power the line side up and wait, bounded, for the
//! isolation link to report the line-side device. [`FxoLine::read`] reports validated ringing,
//! the signed line voltage (LVS, 1 V per count, negative when the exchange reverses polarity)
//! and loop current (LCS, about 1.1 mA per count).

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::SpiDevice;

use super::{PcmSlot, pcm_start_count};
use crate::error::LineError;
use crate::fxo::{FxoLine, FxoReading};
use crate::time::Instant;

/// Register addresses.
pub mod reg {
    /// Control 1: bit 7 software reset.
    pub const CTRL1: u8 = 1;
    /// Control 2: 0x03 after reset.
    pub const CTRL2: u8 = 2;
    pub const IRQ_MASK: u8 = 3;
    pub const IRQ_SOURCE: u8 = 4;
    /// DAA control 1: off-hook, on-hook line monitor, ring detect status.
    pub const DAA_CTRL1: u8 = 5;
    /// DAA control 2: bit 4 powers the line side down.
    pub const DAA_CTRL2: u8 = 6;
    /// System-side revision (3:0) and line-side device id (7:4, zero until the link is up).
    pub const SYS_REV: u8 = 11;
    pub const LINE_STATUS: u8 = 12;
    /// International control 1: on-hook speed, ringer impedance and threshold.
    pub const INTL1: u8 = 16;
    pub const RING_VAL1: u8 = 22;
    pub const RING_VAL2: u8 = 23;
    pub const RING_VAL3: u8 = 24;
    /// DC termination: DC voltage, minimum current, current limit.
    pub const DC_TERM: u8 = 26;
    pub const LOOP_CURRENT: u8 = 28;
    pub const LINE_VOLTAGE: u8 = 29;
    pub const AC_TERM: u8 = 30;
    pub const DAA_CTRL5: u8 = 31;
    pub const PCM_MODE: u8 = 33;
    pub const PCM_TX_START_LO: u8 = 34;
    pub const PCM_TX_START_HI: u8 = 35;
    pub const PCM_RX_START_LO: u8 = 36;
    pub const PCM_RX_START_HI: u8 = 37;
    pub const TX_GAIN2: u8 = 38;
    pub const RX_GAIN2: u8 = 39;
}

const CTRL_WRITE: u8 = 0x20;
const CTRL_READ: u8 = 0x60;
const DAA1_OFF_HOOK: u8 = 0x01;
/// Validated ring (ring validation enabled).
const DAA1_RDT: u8 = 0x04;
/// On-hook line monitor: keeps LVS and the receive path alive on-hook (caller ID).
const DAA1_ONHM: u8 = 0x08;

const LINK_POLLS_100MS: u32 = 20;

/// Country line settings, in register field units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSettings {
    /// On-hook speed (INTL1 bit 6, DAA control 5 bit 3).
    pub ohs: bool,
    pub ohs2: bool,
    /// Ringer impedance (synthesised) and ring detector threshold.
    pub rz: bool,
    pub rt: bool,
    /// 60 mA current limit (TBR21).
    pub ilim: bool,
    /// DC termination voltage (2 bits) and minimum operating loop current (2 bits).
    pub dcv: u8,
    pub mini: u8,
    /// AC termination impedance code (4 bits; 0 is 600 ohms, 2 is TBR21's complex impedance).
    pub acim: u8,
}

/// Countries (or groups of countries sharing line requirements) with their settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Country {
    /// USA, Canada and other FCC part 68 countries: 600 ohms.
    Fcc,
    /// CTR21/TBR21 European countries: complex impedance, 60 mA current limit.
    Tbr21,
    Uk,
    Australia,
    China,
    Brazil,
}

impl Country {
    pub const ALL: [Country; 6] = [
        Country::Fcc,
        Country::Tbr21,
        Country::Uk,
        Country::Australia,
        Country::China,
        Country::Brazil,
    ];

    pub fn from_code(code: &str) -> Option<Country> {
        Some(match code.as_bytes() {
            b"us" | b"ca" | b"fcc" => Country::Fcc,
            b"eu" | b"tbr21" | b"de" | b"fr" | b"it" | b"es" | b"nl" => Country::Tbr21,
            b"gb" | b"uk" => Country::Uk,
            b"au" => Country::Australia,
            b"cn" => Country::China,
            b"br" => Country::Brazil,
            _ => return None,
        })
    }

    pub const fn settings(self) -> LineSettings {
        const BASE: LineSettings = LineSettings {
            ohs: false,
            ohs2: false,
            rz: false,
            rt: false,
            ilim: false,
            dcv: 3,
            mini: 0,
            acim: 0,
        };
        match self {
            Country::Fcc => BASE,
            Country::Tbr21 => LineSettings {
                ilim: true,
                acim: 2,
                ..BASE
            },
            Country::Uk => LineSettings {
                ohs2: true,
                ilim: true,
                acim: 5,
                ..BASE
            },
            Country::Australia => LineSettings {
                ohs: true,
                dcv: 0,
                mini: 3,
                acim: 3,
                ..BASE
            },
            Country::China => LineSettings {
                dcv: 0,
                mini: 3,
                acim: 15,
                ..BASE
            },
            Country::Brazil => LineSettings {
                dcv: 0,
                mini: 3,
                ..BASE
            },
        }
    }
}

/// Register values for the country settings: (INTL1, DC_TERM, AC_TERM, DAA_CTRL5).
pub fn pack_line_settings(s: &LineSettings) -> Result<[u8; 4], LineError> {
    if s.dcv > 3 || s.mini > 3 || s.acim > 15 {
        return Err(LineError::Unsupported);
    }
    let intl1 = u8::from(s.ohs) << 6 | u8::from(s.rz) << 1 | u8::from(s.rt);
    let dc = s.dcv << 6 | s.mini << 4 | u8::from(s.ilim) << 1;
    // Off-hook counter 128 ms (FOH = 01) plus the second on-hook speed bit.
    let ctrl5 = 0x20 | u8::from(s.ohs2) << 3;
    Ok([intl1, dc, s.acim, ctrl5])
}

/// Ring validation: what counts as a ring, checked by the DAA before it reports one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingValidation {
    /// Accepted ring frequency range.
    pub min_hz: u8,
    pub max_hz: u8,
    /// How long the frequency must stay in range before a ring is valid.
    pub confirm_ms: u16,
    /// How long after the last threshold crossing the ring is over.
    pub timeout_ms: u16,
    /// Delay between validation and the reported ring.
    pub delay_ms: u16,
}

impl Default for RingValidation {
    fn default() -> Self {
        RingValidation {
            min_hz: 15,
            max_hz: 68,
            confirm_ms: 150,
            timeout_ms: 640,
            delay_ms: 0,
        }
    }
}

const RCC_MS: [u16; 8] = [100, 150, 200, 256, 384, 512, 640, 1024];

/// Register values (RING_VAL1, RING_VAL2, RING_VAL3) for a ring validation setting.
///
/// A threshold crossing happens twice per ring period. RAS (2 ms units) is the longest gap
/// between crossings, 1 / (2 f_min); RMX bounds the shortest, RAS - 2 ms - 1 / (2 f_max),
/// plus one count of margin as the datasheet recommends.
pub fn pack_ring_validation(v: &RingValidation) -> Result<[u8; 3], LineError> {
    if v.min_hz == 0 || v.min_hz >= v.max_hz {
        return Err(LineError::Unsupported);
    }
    let ras = 250u32.div_ceil(u32::from(v.min_hz));
    let min_gap_us = (ras * 2000).checked_sub(2000 + 500_000 / u32::from(v.max_hz));
    let Some(min_gap_us) = min_gap_us else {
        return Err(LineError::Unsupported);
    };
    let rmx = min_gap_us / 2000 + 1;
    if ras > 0x3F || rmx >= ras {
        return Err(LineError::Unsupported);
    }
    let rcc = RCC_MS
        .iter()
        .position(|&ms| ms >= v.confirm_ms)
        .ok_or(LineError::Unsupported)? as u8;
    let rto = if v.timeout_ms <= 80 {
        0
    } else {
        u32::from(v.timeout_ms).div_ceil(128)
    };
    if rto > 15 {
        return Err(LineError::Unsupported);
    }
    let rdly = u32::from(v.delay_ms).div_ceil(256);
    if rdly > 7 {
        return Err(LineError::Unsupported);
    }
    let r22 = ((rdly & 3) << 6) as u8 | rmx as u8;
    let r23 = ((rdly >> 2) << 7) as u8 | (rto as u8) << 3 | rcc;
    let r24 = 0x80 | ras as u8;
    Ok([r22, r23, r24])
}

/// Coarse analog gain register (TX/RX gain 2): 0..=12 dB gain or up to 15 dB attenuation.
pub fn pack_gain(db: i8) -> Result<u8, LineError> {
    match db {
        0..=12 => Ok(db as u8),
        -15..=-1 => Ok(0x10 | (-db) as u8),
        _ => Err(LineError::Unsupported),
    }
}

/// PCM mode register: PCM enabled, the given format.
pub const fn pcm_mode(c: super::Companding) -> u8 {
    0x20 | (c.format_bits() << 3)
}

/// Line current from the LCS register, in mA (about 1.1 mA per count).
pub const fn loop_current_ma(lcs: u8) -> u16 {
    (lcs as u16 * 11) / 10
}

/// The line-side device across the isolation barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineSide {
    Si3018,
    Si3019,
    Other(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaaId {
    pub system_revision: u8,
    pub line_side: LineSide,
}

/// Decodes the system and line-side revision register; `None` while the link is down.
pub fn decode_revision(r11: u8) -> Option<DaaId> {
    let lsid = r11 >> 4;
    if lsid == 0 {
        return None;
    }
    Some(DaaId {
        system_revision: r11 & 0x0F,
        line_side: match lsid {
            1 => LineSide::Si3018,
            3 => LineSide::Si3019,
            n => LineSide::Other(n),
        },
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Si3050Config {
    pub pcm: PcmSlot,
    pub country: Country,
    pub ring: RingValidation,
    /// Analog gain toward the host (dB) and toward the line (dB).
    pub tx_gain_db: i8,
    pub rx_gain_db: i8,
}

impl Default for Si3050Config {
    fn default() -> Self {
        Si3050Config {
            pcm: PcmSlot::channel(2, super::Companding::MuLaw),
            country: Country::Fcc,
            ring: RingValidation::default(),
            tx_gain_db: 0,
            rx_gain_db: 0,
        }
    }
}

/// A Si3050 DAA on an SPI device.
pub struct Si3050<SPI, D> {
    spi: SPI,
    delay: D,
    config: Si3050Config,
    id: Option<DaaId>,
    off_hook: bool,
}

impl<SPI: SpiDevice, D: DelayNs> Si3050<SPI, D> {
    pub fn new(spi: SPI, delay: D, config: Si3050Config) -> Self {
        Si3050 {
            spi,
            delay,
            config,
            id: None,
            off_hook: false,
        }
    }

    pub fn id(&self) -> Option<DaaId> {
        self.id
    }

    pub fn release(self) -> (SPI, D) {
        (self.spi, self.delay)
    }

    /// Pulses the DAA's RESET line (active low): 1 ms in reset, 100 ms to settle.
    pub fn hard_reset<P: embedded_hal::digital::OutputPin>(
        &mut self,
        reset: &mut P,
    ) -> Result<(), LineError> {
        reset.set_low().map_err(|_| LineError::Bus)?;
        self.delay.delay_ms(1);
        reset.set_high().map_err(|_| LineError::Bus)?;
        self.delay.delay_ms(100);
        Ok(())
    }

    pub fn write_reg(&mut self, r: u8, v: u8) -> Result<(), LineError> {
        self.spi.write(&[CTRL_WRITE, r, v]).map_err(|_| LineError::Bus)
    }

    pub fn read_reg(&mut self, r: u8) -> Result<u8, LineError> {
        let mut b = [0u8];
        self.spi
            .transaction(&mut [
                embedded_hal::spi::Operation::Write(&[CTRL_READ, r]),
                embedded_hal::spi::Operation::Read(&mut b),
            ])
            .map_err(|_| LineError::Bus)?;
        Ok(b[0])
    }

    /// Resets the DAA, programs it and brings up the line side.
    pub fn init(&mut self) -> Result<DaaId, LineError> {
        let cfg = self.config;
        let line = pack_line_settings(&cfg.country.settings())?;
        let ring = pack_ring_validation(&cfg.ring)?;
        let tx_gain = pack_gain(cfg.tx_gain_db)?;
        let rx_gain = pack_gain(cfg.rx_gain_db)?;
        let (tx_lo, tx_hi) = pcm_start_count(cfg.pcm.tx_timeslot)?;
        let (rx_lo, rx_hi) = pcm_start_count(cfg.pcm.rx_timeslot)?;

        self.write_reg(reg::CTRL1, 0x80)?;
        self.delay.delay_ms(100);
        if self.read_reg(reg::CTRL2)? != 0x03 {
            return Err(LineError::NoResponse);
        }
        self.write_reg(reg::PCM_TX_START_LO, tx_lo)?;
        self.write_reg(reg::PCM_TX_START_HI, tx_hi)?;
        self.write_reg(reg::PCM_RX_START_LO, rx_lo)?;
        self.write_reg(reg::PCM_RX_START_HI, rx_hi)?;
        self.write_reg(reg::PCM_MODE, pcm_mode(cfg.pcm.companding))?;
        self.write_reg(reg::INTL1, line[0])?;
        self.write_reg(reg::DC_TERM, line[1])?;
        self.write_reg(reg::AC_TERM, line[2])?;
        self.write_reg(reg::DAA_CTRL5, line[3])?;
        self.write_reg(reg::RING_VAL1, ring[0])?;
        self.write_reg(reg::RING_VAL2, ring[1])?;
        self.write_reg(reg::RING_VAL3, ring[2])?;
        self.write_reg(reg::TX_GAIN2, tx_gain)?;
        self.write_reg(reg::RX_GAIN2, rx_gain)?;
        // Status is read every tick; no interrupt line needed.
        self.write_reg(reg::IRQ_MASK, 0)?;
        // Power the line side; the isolation link reports its device once it is up.
        self.write_reg(reg::DAA_CTRL2, 0)?;
        for _ in 0..LINK_POLLS_100MS {
            if let Some(id) = decode_revision(self.read_reg(reg::SYS_REV)?) {
                self.write_reg(reg::DAA_CTRL1, DAA1_ONHM)?;
                self.off_hook = false;
                self.id = Some(id);
                return Ok(id);
            }
            self.delay.delay_ms(100);
        }
        Err(LineError::NoResponse)
    }
}

impl<SPI: SpiDevice, D: DelayNs> FxoLine for Si3050<SPI, D> {
    fn set_off_hook(&mut self, off_hook: bool) -> Result<(), LineError> {
        if self.id.is_none() {
            return Err(LineError::NoResponse);
        }
        self.write_reg(reg::DAA_CTRL1, if off_hook { DAA1_OFF_HOOK } else { DAA1_ONHM })?;
        self.off_hook = off_hook;
        Ok(())
    }

    fn read(&mut self, _now: Instant) -> Result<FxoReading, LineError> {
        if self.id.is_none() {
            return Err(LineError::NoResponse);
        }
        let ctrl = self.read_reg(reg::DAA_CTRL1)?;
        // All ones: the chip stopped answering (MISO floating high).
        if ctrl == 0xFF {
            return Err(LineError::NoResponse);
        }
        // Ring validation is always enabled, so RDT is a validated ring, not a transient.
        let ringing = ctrl & DAA1_RDT != 0;
        let lvs = self.read_reg(reg::LINE_VOLTAGE)? as i8;
        let lcs = self.read_reg(reg::LOOP_CURRENT)?;
        Ok(FxoReading {
            ringing,
            tip_ring_volts: i16::from(lvs),
            loop_current_ma: if self.off_hook { loop_current_ma(lcs) } else { 0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::Companding;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::spi::{Mock, Transaction as T};
    use std::vec::Vec;

    /// Raw ring detector, negative and positive half-cycles.
    const DAA1_RDT_RAW: u8 = 0x60;

    #[test]
    fn country_settings_pack() {
        assert_eq!(
            pack_line_settings(&Country::Fcc.settings()),
            Ok([0x00, 0xC0, 0x00, 0x20])
        );
        assert_eq!(
            pack_line_settings(&Country::Tbr21.settings()),
            Ok([0x00, 0xC2, 0x02, 0x20])
        );
        assert_eq!(
            pack_line_settings(&Country::Uk.settings()),
            Ok([0x00, 0xC2, 0x05, 0x28])
        );
        assert_eq!(
            pack_line_settings(&Country::Australia.settings()),
            Ok([0x40, 0x30, 0x03, 0x20])
        );
        assert_eq!(
            pack_line_settings(&Country::China.settings()),
            Ok([0x00, 0x30, 0x0F, 0x20])
        );
        let bad = LineSettings {
            acim: 16,
            ..Country::Fcc.settings()
        };
        assert_eq!(pack_line_settings(&bad), Err(LineError::Unsupported));
        assert_eq!(Country::from_code("gb"), Some(Country::Uk));
        assert_eq!(Country::from_code("xx"), None);
        for c in Country::ALL {
            assert!(pack_line_settings(&c.settings()).is_ok());
        }
    }

    #[test]
    fn ring_validation_follows_the_datasheet_equations() {
        // 15..68 Hz: RAS = ceil(250/15) = 17; RMX = floor((34 - 2 - 7.35) / 2) + 1 = 13.
        let [r22, r23, r24] = pack_ring_validation(&RingValidation::default()).unwrap();
        assert_eq!(r24, 0x80 | 17);
        assert_eq!(r22 & 0x3F, 13);
        // 150 ms confirmation is RCC 1; 640 ms timeout is RTO 5; no delay.
        assert_eq!(r23, 5 << 3 | 1);
        let delayed = RingValidation {
            delay_ms: 1792,
            ..RingValidation::default()
        };
        let [r22, r23, _] = pack_ring_validation(&delayed).unwrap();
        assert_eq!(r22 >> 6, 3);
        assert_eq!(r23 >> 7, 1);
        let inverted = RingValidation {
            min_hz: 70,
            max_hz: 20,
            ..RingValidation::default()
        };
        assert_eq!(pack_ring_validation(&inverted), Err(LineError::Unsupported));
        let too_low = RingValidation {
            min_hz: 3,
            ..RingValidation::default()
        };
        assert_eq!(pack_ring_validation(&too_low), Err(LineError::Unsupported));
    }

    #[test]
    fn gains_revision_and_current() {
        assert_eq!(pack_gain(0), Ok(0));
        assert_eq!(pack_gain(12), Ok(12));
        assert_eq!(pack_gain(-3), Ok(0x13));
        assert_eq!(pack_gain(13), Err(LineError::Unsupported));
        assert_eq!(pack_gain(-16), Err(LineError::Unsupported));
        assert_eq!(decode_revision(0x05), None);
        assert_eq!(
            decode_revision(0x35),
            Some(DaaId {
                system_revision: 5,
                line_side: LineSide::Si3019
            })
        );
        assert_eq!(loop_current_ma(20), 22);
        assert_eq!(pcm_mode(Companding::ALaw), 0x20);
    }

    fn w(s: &mut Vec<T<u8>>, r: u8, v: u8) {
        s.extend([
            T::transaction_start(),
            T::write_vec(std::vec![CTRL_WRITE, r, v]),
            T::transaction_end(),
        ]);
    }

    fn r(s: &mut Vec<T<u8>>, r: u8, v: u8) {
        s.extend([
            T::transaction_start(),
            T::write_vec(std::vec![CTRL_READ, r]),
            T::read_vec(std::vec![v]),
            T::transaction_end(),
        ]);
    }

    fn init_script(cfg: &Si3050Config, link_polls: usize) -> Vec<T<u8>> {
        let mut s = Vec::new();
        let line = pack_line_settings(&cfg.country.settings()).unwrap();
        let ring = pack_ring_validation(&cfg.ring).unwrap();
        w(&mut s, reg::CTRL1, 0x80);
        r(&mut s, reg::CTRL2, 0x03);
        let (tl, th) = pcm_start_count(cfg.pcm.tx_timeslot).unwrap();
        let (rl, rh) = pcm_start_count(cfg.pcm.rx_timeslot).unwrap();
        w(&mut s, reg::PCM_TX_START_LO, tl);
        w(&mut s, reg::PCM_TX_START_HI, th);
        w(&mut s, reg::PCM_RX_START_LO, rl);
        w(&mut s, reg::PCM_RX_START_HI, rh);
        w(&mut s, reg::PCM_MODE, pcm_mode(cfg.pcm.companding));
        w(&mut s, reg::INTL1, line[0]);
        w(&mut s, reg::DC_TERM, line[1]);
        w(&mut s, reg::AC_TERM, line[2]);
        w(&mut s, reg::DAA_CTRL5, line[3]);
        w(&mut s, reg::RING_VAL1, ring[0]);
        w(&mut s, reg::RING_VAL2, ring[1]);
        w(&mut s, reg::RING_VAL3, ring[2]);
        w(&mut s, reg::TX_GAIN2, pack_gain(cfg.tx_gain_db).unwrap());
        w(&mut s, reg::RX_GAIN2, pack_gain(cfg.rx_gain_db).unwrap());
        w(&mut s, reg::IRQ_MASK, 0);
        w(&mut s, reg::DAA_CTRL2, 0);
        for _ in 0..link_polls {
            r(&mut s, reg::SYS_REV, 0x05);
        }
        s
    }

    fn reading(s: &mut Vec<T<u8>>, ctrl: u8, lvs: i8, lcs: u8) {
        r(s, reg::DAA_CTRL1, ctrl);
        r(s, reg::LINE_VOLTAGE, lvs as u8);
        r(s, reg::LOOP_CURRENT, lcs);
    }

    #[test]
    fn init_ring_seize_and_polarity_reversal() {
        let cfg = Si3050Config {
            country: Country::Tbr21,
            ..Si3050Config::default()
        };
        let mut s = init_script(&cfg, 2);
        r(&mut s, reg::SYS_REV, 0x15);
        w(&mut s, reg::DAA_CTRL1, DAA1_ONHM);
        reading(&mut s, DAA1_ONHM, 50, 0); // idle line, 50 V
        reading(&mut s, DAA1_ONHM | DAA1_RDT_RAW, 70, 0); // crossings, not yet validated
        reading(&mut s, DAA1_ONHM | DAA1_RDT | DAA1_RDT_RAW, 70, 0); // validated ring
        w(&mut s, reg::DAA_CTRL1, DAA1_OFF_HOOK); // seize
        reading(&mut s, DAA1_OFF_HOOK, 9, 25); // loop current flowing
        reading(&mut s, DAA1_OFF_HOOK, -9, 25); // exchange reversed the battery
        w(&mut s, reg::DAA_CTRL1, DAA1_ONHM); // release
        let mut daa = Si3050::new(Mock::new(&s), NoopDelay::new(), cfg);
        let id = daa.init().unwrap();
        assert_eq!(id.line_side, LineSide::Si3018);
        let t = Instant::ZERO;
        assert_eq!(
            daa.read(t).unwrap(),
            FxoReading {
                ringing: false,
                tip_ring_volts: 50,
                loop_current_ma: 0
            }
        );
        assert!(!daa.read(t).unwrap().ringing);
        assert!(daa.read(t).unwrap().ringing);
        daa.set_off_hook(true).unwrap();
        let talk = daa.read(t).unwrap();
        assert_eq!((talk.tip_ring_volts, talk.loop_current_ma), (9, 27));
        assert_eq!(daa.read(t).unwrap().tip_ring_volts, -9);
        daa.set_off_hook(false).unwrap();
        let (mut spi, _) = daa.release();
        spi.done();
    }

    #[test]
    fn ring_burst_is_classified_from_validated_ring_readings() {
        use crate::fxo::{FxoEventKind, FxoMonitor, FxoTiming};
        let cfg = Si3050Config::default();
        let mut s = init_script(&cfg, 0);
        r(&mut s, reg::SYS_REV, 0x35);
        w(&mut s, reg::DAA_CTRL1, DAA1_ONHM);
        // 100 ms idle, a 1 s validated ring, 500 ms idle: one reading per 10 ms tick.
        let ticks: Vec<bool> = (0..10)
            .map(|_| false)
            .chain((0..100).map(|_| true))
            .chain((0..50).map(|_| false))
            .collect();
        for &ring in &ticks {
            let ctrl = if ring { DAA1_ONHM | DAA1_RDT } else { DAA1_ONHM };
            reading(&mut s, ctrl, if ring { 70 } else { 48 }, 0);
        }
        let mut daa = Si3050::new(Mock::new(&s), NoopDelay::new(), cfg);
        daa.init().unwrap();
        let mut mon = FxoMonitor::new(FxoTiming::default());
        let mut events = Vec::new();
        for i in 0..ticks.len() as u64 {
            let now = Instant::from_millis(i * 10);
            mon.update(daa.read(now).unwrap(), now);
            while let Some(e) = mon.poll() {
                events.push(e.kind);
            }
        }
        assert_eq!(
            events,
            [
                FxoEventKind::LinePresent,
                FxoEventKind::RingStart,
                FxoEventKind::RingStop {
                    on: core::time::Duration::from_millis(1000)
                }
            ]
        );
        daa.release().0.done();
    }

    #[test]
    fn absent_chip_and_dead_link_are_no_response() {
        let mut s = Vec::new();
        w(&mut s, reg::CTRL1, 0x80);
        r(&mut s, reg::CTRL2, 0xFF);
        let mut daa = Si3050::new(Mock::new(&s), NoopDelay::new(), Si3050Config::default());
        assert_eq!(daa.init(), Err(LineError::NoResponse));
        assert_eq!(daa.set_off_hook(true), Err(LineError::NoResponse));
        daa.release().0.done();

        // The system side answers but the line side never comes up (isolation caps missing).
        let cfg = Si3050Config::default();
        let s = init_script(&cfg, LINK_POLLS_100MS as usize);
        let mut daa = Si3050::new(Mock::new(&s), NoopDelay::new(), cfg);
        assert_eq!(daa.init(), Err(LineError::NoResponse));
        daa.release().0.done();
    }

    #[test]
    fn chip_lost_after_init_is_no_response() {
        let cfg = Si3050Config::default();
        let mut s = init_script(&cfg, 0);
        r(&mut s, reg::SYS_REV, 0x35);
        w(&mut s, reg::DAA_CTRL1, DAA1_ONHM);
        r(&mut s, reg::DAA_CTRL1, 0xFF);
        let mut daa = Si3050::new(Mock::new(&s), NoopDelay::new(), cfg);
        daa.init().unwrap();
        assert_eq!(daa.read(Instant::ZERO), Err(LineError::NoResponse));
        daa.release().0.done();
    }

    #[test]
    fn bad_settings_are_refused_before_any_transfer() {
        let cfg = Si3050Config {
            tx_gain_db: 20,
            ..Si3050Config::default()
        };
        let mut daa = Si3050::new(Mock::new(&[]), NoopDelay::new(), cfg);
        assert_eq!(daa.init(), Err(LineError::Unsupported));
        daa.release().0.done();
    }
}
