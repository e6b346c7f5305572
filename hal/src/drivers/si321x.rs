//! Silicon Labs ProSLIC Si3210/Si3215 class FXS SLIC on SPI.
//!
//! Register map and bring-up order follow the public Si3210/Si3215 datasheets and the ProSLIC
//! initialisation application note (AN35): identify the chip by its reset defaults, load the
//! indirect registers, power the DC-DC converter and calibrate it, run the SLIC calibrations
//! (differential/common-mode DACs, tip and ring gain, longitudinal balance), then set DC feed,
//! PCM and interrupts and go forward active.
//!
//! Bus framing: every byte is its own chip-select frame (the ProSLIC needs chip select
//! deasserted between bytes). Direct register `r` is written as `[r]`, `[value]` and read as
//! `[r | 0x80]` then one byte clocked in. Indirect registers go through DR28..DR31.
//!
//! Ringing: a cadence with one on/off pair runs in the chip's ring active/inactive timers
//! (125 us per count); cadences with several segments are sequenced in [`FxsLine::poll`]
//! (ringing during bursts, on-hook transmission in pauses so caller ID can be sent there).
//! Ring trip stops ringing and reports off-hook at once.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::spi::SpiDevice;

use super::{Companding, PcmSlot, cos, db_to_ratio, pcm_start_count, round_pos, sqrt};
use crate::error::{LineError, LineFault};
use crate::fxs::{FxsLine, Hook, HookSample, LineFeed, RingCadence};
use crate::time::Instant;

/// Direct register addresses.
pub mod reg {
    /// SPI mode, part number (bits 5:4) and revision (3:0) of the Si3210 family.
    pub const ID: u8 = 0;
    /// PCM mode select; reads bit 7 set on the Si3215 family.
    pub const PCM_MODE: u8 = 1;
    pub const PCM_TX_START_LO: u8 = 2;
    pub const PCM_TX_START_HI: u8 = 3;
    pub const PCM_RX_START_LO: u8 = 4;
    pub const PCM_RX_START_HI: u8 = 5;
    /// Part number of the Si3215 family (bits 7:5).
    pub const ID_3215: u8 = 6;
    /// Audio loopback; 0x02 after reset.
    pub const AUDIO_LOOPBACK: u8 = 8;
    /// Hybrid control; 0x33 after reset.
    pub const HYBRID: u8 = 11;
    pub const POWERDOWN1: u8 = 14;
    pub const IRQ_STATUS1: u8 = 18;
    pub const IRQ_STATUS2: u8 = 19;
    pub const IRQ_STATUS3: u8 = 20;
    pub const IRQ_ENABLE1: u8 = 21;
    pub const IRQ_ENABLE2: u8 = 22;
    pub const IRQ_ENABLE3: u8 = 23;
    pub const IND_DATA_LO: u8 = 28;
    pub const IND_DATA_HI: u8 = 29;
    pub const IND_ADDR: u8 = 30;
    /// Indirect access status: non-zero while a transfer is pending.
    pub const IND_STATUS: u8 = 31;
    pub const RING_OSC_CTL: u8 = 34;
    pub const RING_ON_LO: u8 = 48;
    pub const RING_ON_HI: u8 = 49;
    pub const RING_OFF_LO: u8 = 50;
    pub const RING_OFF_HI: u8 = 51;
    pub const LINEFEED: u8 = 64;
    pub const BJT: u8 = 65;
    /// Loop closure (bit 0) and ring trip (bit 1) detector outputs.
    pub const LOOP_STATUS: u8 = 68;
    pub const LOOP_DEBOUNCE: u8 = 69;
    pub const RING_TRIP_DEBOUNCE: u8 = 70;
    pub const LOOP_CURRENT_LIMIT: u8 = 71;
    pub const VOC: u8 = 72;
    pub const VCM: u8 = 73;
    pub const VBATH: u8 = 74;
    pub const LOOP_VOLTAGE: u8 = 78;
    pub const LOOP_CURRENT: u8 = 79;
    pub const TIP_VOLTAGE: u8 = 80;
    pub const RING_VOLTAGE: u8 = 81;
    pub const VBAT_SENSE: u8 = 82;
    pub const RING_GAIN_ERR: u8 = 88;
    pub const TIP_GAIN_ERR: u8 = 89;
    pub const DCDC_PWM_PERIOD: u8 = 92;
    /// DC-DC switching delay; bit 7 starts and reports the converter calibration.
    pub const DCDC_SWITCH_DELAY: u8 = 93;
    pub const CAL1: u8 = 96;
    pub const CAL2: u8 = 97;
    pub const RING_GAIN_CAL: u8 = 98;
    pub const TIP_GAIN_CAL: u8 = 99;
    pub const ENHANCE: u8 = 108;
}

/// Indirect register addresses in Si3210 numbering ([`indirect_address`] maps them on a Si3215).
pub mod ind {
    pub const RING_V_OFF: u8 = 19;
    pub const RING_OSC: u8 = 20;
    pub const RING_X: u8 = 21;
    pub const RING_Y: u8 = 22;
    pub const RX_GAIN: u8 = 26;
    pub const TX_GAIN: u8 = 27;
    pub const LOOP_CLOSE_THRESH: u8 = 28;
    pub const RING_TRIP_THRESH: u8 = 29;
    pub const LOOP_CLOSURE_FILTER: u8 = 35;
    pub const RING_TRIP_FILTER: u8 = 36;
}

/// Interrupt status 2 bits.
const IRQ2_RING_TRIP: u8 = 0x01;
const IRQ2_LOOP_CLOSURE: u8 = 0x02;
/// Transistor power alarms Q1..Q6.
const IRQ2_POWER_ALARM: u8 = 0xFC;
/// Interrupt status 3: common-mode balance calibration error.
const IRQ3_CM_CAL_ERR: u8 = 0x04;
const LOOP_LCR: u8 = 0x01;
const LOOP_RTP: u8 = 0x02;
/// Ring oscillator control: active and inactive timers enabled.
const RING_TIMERS_ON: u8 = 0x18;

/// Polling bounds: each is the datasheet's worst case with margin.
const IND_POLLS: u32 = 100;
const CAL_POLLS_1MS: u32 = 800;
const LB_CAL_POLLS_100MS: u32 = 10;
const DCDC_POLLS_100MS: u32 = 10;
const VBAT_POLLS_100MS: u32 = 10;

/// Indirect register values loaded before calibration (Si3210 numbering, datasheet
/// recommended start-up values): thresholds, power alarm and filter settings.
const INIT_INDIRECT: [(u8, u16); 14] = [
    (ind::RING_V_OFF, 0x0000),
    (ind::RING_Y, 0x0000),
    (ind::LOOP_CLOSE_THRESH, 0x1000),
    (ind::RING_TRIP_THRESH, 0x3600),
    (30, 0x1000),
    (31, 0x0200),
    (32, 0x07C0),
    (33, 0x2600),
    (34, 0x1B80),
    // Thermal and closure filters wide open while calibrating.
    (35, 0x8000),
    (36, 0x8000),
    (37, 0x8000),
    (38, 0x8000),
    (39, 0x8000),
];
/// Common-mode bias during ringing, DC-DC minimum, low loop-closure threshold.
const INIT_INDIRECT2: [(u8, u16); 3] = [(40, 0x0C00), (41, 0x0C00), (43, 0x1000)];
/// Operating filter values once calibrated.
const RUN_INDIRECT: [(u8, u16); 5] = [
    (35, 0x8000),
    (36, 0x0320),
    (37, 0x008C),
    (38, 0x0100),
    (39, 0x0010),
];

/// Which member of the family answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Si3210,
    Si3211,
    Si3212,
    Si3210M,
    Si3215,
    Si3216,
    Si3215M,
    Si3216M,
}

impl Part {
    /// The Si3215 family has no DTMF decoder and a compacted indirect register map.
    pub const fn is_3215_family(self) -> bool {
        matches!(self, Part::Si3215 | Part::Si3216 | Part::Si3215M | Part::Si3216M)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipId {
    pub part: Part,
    /// Silicon revision, 1 = A.
    pub revision: u8,
}

/// Identifies the chip from DR0, DR1 and DR6 as read after reset.
pub fn identify(dr0: u8, dr1: u8, dr6: u8) -> Option<ChipId> {
    let part = if dr1 & 0x80 != 0 {
        match dr6 & 0xE0 {
            0x00 => Part::Si3215,
            0x80 => Part::Si3216,
            0x60 => Part::Si3215M,
            0xE0 => Part::Si3216M,
            _ => return None,
        }
    } else {
        match dr0 & 0x30 {
            0x00 => Part::Si3210,
            0x10 => Part::Si3211,
            0x20 => Part::Si3212,
            _ => Part::Si3210M,
        }
    };
    Some(ChipId {
        part,
        revision: dr0 & 0x0F,
    })
}

/// Maps a Si3210 indirect register address onto the Si3215 map; `None` where the Si3215 has no
/// such register (the DTMF decoder block).
pub fn indirect_address(part: Part, addr: u8) -> Option<u8> {
    if !part.is_3215_family() {
        return Some(addr);
    }
    match addr {
        13..=40 => Some(addr - 13),
        41 | 43 => Some(addr + 23),
        88..=98 => Some(addr - 13),
        99..=104 => Some(addr - 30),
        208..=255 => Some(addr),
        _ => None,
    }
}

/// Ring oscillator settings (indirect RCO, RNGX, RNGY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingCoefficients {
    /// Frequency coefficient: 2^15 cos(2 pi f / 1000 Hz), the oscillator's update rate.
    pub rco: u16,
    /// Amplitude: 2^15 / 4 * sqrt((1 - c) / (1 + c)) * Vpk / 96 V.
    pub rngx: u16,
    /// Initial phase (0: start at zero crossing).
    pub rngy: u16,
}

/// Computes the ring oscillator coefficients for `freq_hz` and a peak amplitude in volts
/// (before the DC offset). Frequencies 10..=100 Hz, amplitude up to the 96 V full scale.
pub fn ring_coefficients(freq_hz: u8, amplitude_vpk: u8) -> Result<RingCoefficients, LineError> {
    if !(10..=100).contains(&freq_hz) || amplitude_vpk == 0 || amplitude_vpk > 96 {
        return Err(LineError::Unsupported);
    }
    let w = 2.0 * core::f64::consts::PI * f64::from(freq_hz) / 1000.0;
    let c = cos(w);
    let rco = round_pos(c * 32768.0);
    let rngx = round_pos(0.25 * sqrt((1.0 - c) / (1.0 + c)) * (f64::from(amplitude_vpk) / 96.0) * 32768.0);
    Ok(RingCoefficients {
        rco: rco.min(32767.0) as u16,
        rngx: rngx as u16,
        rngy: 0,
    })
}

/// Ring active/inactive timer counts (125 us each) for one cadence segment.
pub fn cadence_timers(on_ms: u16, off_ms: u16) -> Result<(u16, u16), LineError> {
    let on = u32::from(on_ms) * 8;
    let off = u32::from(off_ms) * 8;
    if on == 0 || on > 0xFFFF || off > 0xFFFF {
        return Err(LineError::Unsupported);
    }
    Ok((on as u16, off as u16))
}

/// Loop current limit code for DR71: 20 mA + 3 mA per step, up to 41 mA (rounded down).
pub fn loop_current_code(ma: u8) -> Result<u8, LineError> {
    if !(20..=41).contains(&ma) {
        return Err(LineError::Unsupported);
    }
    Ok((ma - 20) / 3)
}

/// Voltage code in 1.5 V steps (DR72 on-hook voltage, DR73 common mode), 6 bits.
pub fn volts_code(volts: u8) -> Result<u8, LineError> {
    let code = (u16::from(volts) * 2 + 1) / 3;
    if code > 0x3F {
        return Err(LineError::Unsupported);
    }
    Ok(code as u8)
}

/// Digital gain for the indirect TX/RX gain registers: 0x4000 is 0 dB, linear, +6 dB at most.
pub fn digital_gain(db: i8) -> Result<u16, LineError> {
    if !(-40..=6).contains(&db) {
        return Err(LineError::Unsupported);
    }
    let v = round_pos(16384.0 * db_to_ratio(f64::from(db)));
    Ok(v.min(32767.0) as u16)
}

/// DR1 value: PCM enabled, the given sample format.
pub const fn pcm_mode(companding: Companding) -> u8 {
    0x20 | (companding.format_bits() << 3)
}

/// DR64 linefeed code for a feed (ringing is code 4).
pub const fn linefeed_code(feed: &LineFeed) -> u8 {
    match feed {
        LineFeed::Open => 0,
        LineFeed::ForwardActive => 1,
        LineFeed::OnHookTransmission { reverse: false } => 2,
        LineFeed::Ringing(_) => 4,
        LineFeed::ReverseActive => 5,
        LineFeed::OnHookTransmission { reverse: true } => 6,
    }
}

/// Board and country settings of one ProSLIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Si321xConfig {
    pub pcm: PcmSlot,
    /// Off-hook loop current limit, 20..=41 mA.
    pub loop_current_ma: u8,
    /// Tip-ring voltage on-hook.
    pub on_hook_volts: u8,
    /// Ring amplitude in volts peak (45 Vrms is about 64 Vpk).
    pub ring_vpk: u8,
    /// Ring frequency programmed at start-up; a cadence with another frequency reprograms it.
    pub ring_hz: u8,
    /// Digital gain toward the host (dB, -40..=6).
    pub tx_gain_db: i8,
    /// Digital gain toward the phone (dB, -40..=6).
    pub rx_gain_db: i8,
    /// Battery generated by the on-chip DC-DC converter controller (false with an external
    /// battery supply).
    pub dcdc: Option<DcDc>,
}

/// DC-DC converter timing (depends on the inductor and transistor of the board).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcDc {
    /// DR92 PWM period, 61.035 ns per count.
    pub pwm_period: u8,
    /// DR93 minimum off time, 61.035 ns per count.
    pub min_off: u8,
}

impl Default for Si321xConfig {
    fn default() -> Self {
        Si321xConfig {
            pcm: PcmSlot::channel(0, Companding::MuLaw),
            loop_current_ma: 23,
            on_hook_volts: 48,
            ring_vpk: 64,
            ring_hz: 20,
            tx_gain_db: 0,
            rx_gain_db: 0,
            dcdc: Some(DcDc {
                pwm_period: 0x7F,
                min_off: 0x14,
            }),
        }
    }
}

/// What the chip measures on the loop, for bring-up and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopMeasurement {
    /// Tip, ring and battery voltages magnitude in millivolts (376 mV per count).
    pub tip_mv: u32,
    pub ring_mv: u32,
    pub vbat_mv: u32,
    /// Raw loop voltage (DR78) and loop current (DR79) sense codes.
    pub loop_voltage_code: u8,
    pub loop_current_code: u8,
}

/// Software sequencing of a multi-segment cadence.
#[derive(Debug, Clone)]
struct SoftRing {
    cadence: RingCadence,
    start: Option<Instant>,
    on: bool,
}

/// A ProSLIC on an SPI device.
pub struct Si321x<SPI, D> {
    spi: SPI,
    delay: D,
    config: Si321xConfig,
    chip: Option<ChipId>,
    feed: LineFeed,
    ring_hz: u8,
    soft_ring: Option<SoftRing>,
}

impl<SPI: SpiDevice, D: DelayNs> Si321x<SPI, D> {
    pub fn new(spi: SPI, delay: D, config: Si321xConfig) -> Self {
        Si321x {
            spi,
            delay,
            config,
            chip: None,
            feed: LineFeed::Open,
            ring_hz: 0,
            soft_ring: None,
        }
    }

    /// The chip found by [`Si321x::init`].
    pub fn chip(&self) -> Option<ChipId> {
        self.chip
    }

    pub fn feed(&self) -> &LineFeed {
        &self.feed
    }

    /// Gives the bus and delay back.
    pub fn release(self) -> (SPI, D) {
        (self.spi, self.delay)
    }

    /// Pulses the chip's RESET line (active low): 250 ms in reset, 250 ms to settle.
    pub fn hard_reset<P: OutputPin>(&mut self, reset: &mut P) -> Result<(), LineError> {
        reset.set_low().map_err(|_| LineError::Bus)?;
        self.delay.delay_ms(250);
        reset.set_high().map_err(|_| LineError::Bus)?;
        self.delay.delay_ms(250);
        Ok(())
    }

    pub fn write_reg(&mut self, r: u8, v: u8) -> Result<(), LineError> {
        self.spi.write(&[r & 0x7F]).map_err(|_| LineError::Bus)?;
        self.spi.write(&[v]).map_err(|_| LineError::Bus)
    }

    pub fn read_reg(&mut self, r: u8) -> Result<u8, LineError> {
        self.spi.write(&[r | 0x80]).map_err(|_| LineError::Bus)?;
        let mut b = [0u8];
        self.spi.read(&mut b).map_err(|_| LineError::Bus)?;
        Ok(b[0])
    }

    fn part(&self) -> Part {
        self.chip.map_or(Part::Si3210, |c| c.part)
    }

    fn wait_indirect(&mut self) -> Result<(), LineError> {
        for _ in 0..IND_POLLS {
            if self.read_reg(reg::IND_STATUS)? == 0 {
                return Ok(());
            }
            self.delay.delay_us(10);
        }
        Err(LineError::NoResponse)
    }

    /// Writes an indirect register (Si3210 numbering). Registers the part lacks are skipped.
    pub fn write_indirect(&mut self, addr: u8, v: u16) -> Result<(), LineError> {
        let Some(a) = indirect_address(self.part(), addr) else {
            return Ok(());
        };
        self.write_reg(reg::IND_DATA_LO, v as u8)?;
        self.write_reg(reg::IND_DATA_HI, (v >> 8) as u8)?;
        self.write_reg(reg::IND_ADDR, a)?;
        self.wait_indirect()
    }

    /// Reads an indirect register (Si3210 numbering).
    pub fn read_indirect(&mut self, addr: u8) -> Result<u16, LineError> {
        let a = indirect_address(self.part(), addr).ok_or(LineError::Unsupported)?;
        self.write_reg(reg::IND_ADDR, a)?;
        self.wait_indirect()?;
        let lo = self.read_reg(reg::IND_DATA_LO)?;
        let hi = self.read_reg(reg::IND_DATA_HI)?;
        Ok(u16::from(hi) << 8 | u16::from(lo))
    }

    /// Brings the chip from reset to forward active: identification, indirect registers, DC-DC
    /// converter, calibration, DC feed, ringing, gains, PCM and interrupts.
    pub fn init(&mut self) -> Result<ChipId, LineError> {
        // The bus answers with the reset defaults (AN35 step 8): anything else is no chip.
        let loopback = self.read_reg(reg::AUDIO_LOOPBACK)?;
        let hybrid = self.read_reg(reg::HYBRID)?;
        if loopback != 0x02 || hybrid != 0x33 {
            return Err(LineError::NoResponse);
        }
        let dr0 = self.read_reg(reg::ID)?;
        let dr1 = self.read_reg(reg::PCM_MODE)?;
        let dr6 = self.read_reg(reg::ID_3215)?;
        let id = identify(dr0, dr1, dr6).ok_or(LineError::NoResponse)?;
        self.chip = Some(id);

        // Check every setting before touching the line.
        let cfg = self.config;
        let ilim = loop_current_code(cfg.loop_current_ma)?;
        let voc = volts_code(cfg.on_hook_volts)?;
        let vcm = volts_code(3)?;
        let tx_gain = digital_gain(cfg.tx_gain_db)?;
        let rx_gain = digital_gain(cfg.rx_gain_db)?;
        let ring = ring_coefficients(cfg.ring_hz, cfg.ring_vpk)?;
        let (tx_lo, tx_hi) = pcm_start_count(cfg.pcm.tx_timeslot)?;
        let (rx_lo, rx_hi) = pcm_start_count(cfg.pcm.rx_timeslot)?;

        for (a, v) in INIT_INDIRECT.into_iter().chain(INIT_INDIRECT2) {
            self.write_indirect(a, v)?;
        }
        self.write_ring_oscillator(ring)?;
        self.ring_hz = cfg.ring_hz;
        self.write_indirect(ind::TX_GAIN, tx_gain)?;
        self.write_indirect(ind::RX_GAIN, rx_gain)?;

        self.write_reg(reg::AUDIO_LOOPBACK, 0)?;
        self.write_reg(reg::ENHANCE, 0xEB)?;
        if let Some(dcdc) = cfg.dcdc {
            self.power_up_dcdc(dcdc)?;
        }
        self.write_reg(reg::LINEFEED, 0)?;
        self.calibrate()?;

        // Flush the loop closure and ring trip filter accumulators, clear stale interrupts.
        for a in 88..=95 {
            self.write_indirect(a, 0)?;
        }
        for r in [reg::IRQ_STATUS1, reg::IRQ_STATUS2, reg::IRQ_STATUS3] {
            let v = self.read_reg(r)?;
            self.write_reg(r, v)?;
        }
        for (a, v) in RUN_INDIRECT {
            self.write_indirect(a, v)?;
        }
        self.write_reg(reg::BJT, 0x61)?;
        self.write_reg(reg::LOOP_CURRENT_LIMIT, ilim)?;
        self.write_reg(reg::VOC, voc)?;
        self.write_reg(reg::VCM, vcm)?;
        // Loop closure and ring trip debounce, 1.25 ms per count.
        self.write_reg(reg::LOOP_DEBOUNCE, 10)?;
        self.write_reg(reg::RING_TRIP_DEBOUNCE, 10)?;

        self.write_reg(reg::PCM_TX_START_LO, tx_lo)?;
        self.write_reg(reg::PCM_TX_START_HI, tx_hi)?;
        self.write_reg(reg::PCM_RX_START_LO, rx_lo)?;
        self.write_reg(reg::PCM_RX_START_HI, rx_hi)?;
        self.write_reg(reg::PCM_MODE, pcm_mode(cfg.pcm.companding))?;

        self.write_reg(reg::IRQ_ENABLE1, 0)?;
        self.write_reg(
            reg::IRQ_ENABLE2,
            IRQ2_POWER_ALARM | IRQ2_LOOP_CLOSURE | IRQ2_RING_TRIP,
        )?;
        self.write_reg(reg::IRQ_ENABLE3, 0)?;
        self.write_reg(reg::LINEFEED, linefeed_code(&LineFeed::ForwardActive))?;
        self.feed = LineFeed::ForwardActive;
        Ok(id)
    }

    fn write_ring_oscillator(&mut self, c: RingCoefficients) -> Result<(), LineError> {
        self.write_indirect(ind::RING_OSC, c.rco)?;
        self.write_indirect(ind::RING_X, c.rngx)?;
        self.write_indirect(ind::RING_Y, c.rngy)
    }

    /// Starts the DC-DC converter slowly, waits for the battery, then calibrates the converter.
    fn power_up_dcdc(&mut self, dcdc: DcDc) -> Result<(), LineError> {
        self.write_reg(reg::DCDC_SWITCH_DELAY, 0x12)?;
        self.write_reg(reg::DCDC_PWM_PERIOD, 0xFF)?;
        self.write_reg(reg::POWERDOWN1, 0)?;
        // The measured battery must come within 6 V of the programmed one (DR74 in 1.5 V
        // steps, DR82 in 0.375 V steps).
        let prog = u32::from(self.read_reg(reg::VBATH)?);
        let target = ((prog * 15 / 10).saturating_sub(6) * 200 / 75).min(255) as u8;
        let mut up = false;
        for _ in 0..VBAT_POLLS_100MS {
            if self.read_reg(reg::VBAT_SENSE)? >= target {
                up = true;
                break;
            }
            self.delay.delay_ms(100);
        }
        if !up {
            return Err(LineError::Fault(LineFault::PowerAlarm));
        }
        self.write_reg(reg::DCDC_PWM_PERIOD, dcdc.pwm_period)?;
        self.write_reg(reg::DCDC_SWITCH_DELAY, dcdc.min_off & 0x7F)?;
        self.delay.delay_ms(30);
        self.write_reg(reg::DCDC_SWITCH_DELAY, 0x80 | (dcdc.min_off & 0x7F))?;
        for _ in 0..DCDC_POLLS_100MS {
            if self.read_reg(reg::DCDC_SWITCH_DELAY)? & 0x80 == 0 {
                return Ok(());
            }
            self.delay.delay_ms(100);
        }
        Err(LineError::Calibration)
    }

    /// The SLIC calibrations of AN35 steps 14-19, each bounded.
    fn calibrate(&mut self) -> Result<(), LineError> {
        self.write_reg(reg::IRQ_ENABLE1, 0)?;
        self.write_reg(reg::IRQ_ENABLE2, 0)?;
        self.write_reg(reg::IRQ_ENABLE3, 0)?;
        self.write_reg(reg::LINEFEED, 0)?;
        // Differential and common-mode DACs and the current limit, without ADC/DAC offsets.
        self.write_reg(reg::CAL2, 0x1E)?;
        self.write_reg(reg::CAL1, 0x47)?;
        self.poll_zero(reg::CAL1, CAL_POLLS_1MS, 1)?;
        self.delay.delay_ms(10);

        // Manual ring then tip gain calibration: step the DAC down until the error flips.
        self.write_reg(reg::TIP_GAIN_CAL, 0x10)?;
        self.manual_gain_cal(reg::RING_GAIN_CAL, reg::RING_GAIN_ERR)?;
        self.manual_gain_cal(reg::TIP_GAIN_CAL, reg::TIP_GAIN_ERR)?;

        // Longitudinal balance: needs the line charged and on-hook.
        self.write_reg(reg::IRQ_ENABLE3, IRQ3_CM_CAL_ERR)?;
        self.write_reg(reg::LINEFEED, 1)?;
        self.delay.delay_ms(250);
        if self.read_reg(reg::LOOP_STATUS)? & LOOP_LCR != 0 {
            // A phone off-hook during calibration would be calibrated into the balance.
            self.write_reg(reg::LINEFEED, 0)?;
            return Err(LineError::Calibration);
        }
        self.write_reg(reg::LINEFEED, 0)?;
        self.write_reg(reg::CAL2, 0x01)?;
        self.write_reg(reg::CAL1, 0x40)?;
        self.poll_zero(reg::CAL1, LB_CAL_POLLS_100MS, 100)?;
        if self.read_reg(reg::IRQ_STATUS3)? & IRQ3_CM_CAL_ERR != 0 {
            return Err(LineError::Calibration);
        }
        Ok(())
    }

    fn poll_zero(&mut self, r: u8, polls: u32, every_ms: u32) -> Result<(), LineError> {
        for _ in 0..polls {
            if self.read_reg(r)? == 0 {
                return Ok(());
            }
            self.delay.delay_ms(every_ms);
        }
        Err(LineError::Calibration)
    }

    fn manual_gain_cal(&mut self, cal: u8, err: u8) -> Result<(), LineError> {
        for code in (1..=0x1F).rev() {
            self.write_reg(cal, code)?;
            self.delay.delay_ms(40);
            if self.read_reg(err)? == 0 {
                return Ok(());
            }
        }
        Err(LineError::Calibration)
    }

    /// Reads the chip's line measurements (tip, ring and battery voltage, loop sense codes).
    pub fn measure(&mut self) -> Result<LoopMeasurement, LineError> {
        let mv = |code: u8| u32::from(code) * 376;
        Ok(LoopMeasurement {
            tip_mv: mv(self.read_reg(reg::TIP_VOLTAGE)?),
            ring_mv: mv(self.read_reg(reg::RING_VOLTAGE)?),
            vbat_mv: mv(self.read_reg(reg::VBAT_SENSE)?),
            loop_voltage_code: self.read_reg(reg::LOOP_VOLTAGE)?,
            loop_current_code: self.read_reg(reg::LOOP_CURRENT)?,
        })
    }

    fn start_ringing(&mut self, cadence: &RingCadence) -> Result<(), LineError> {
        if cadence.frequency_hz != self.ring_hz {
            let c = ring_coefficients(cadence.frequency_hz, self.config.ring_vpk)?;
            self.write_ring_oscillator(c)?;
            self.ring_hz = cadence.frequency_hz;
        }
        if let [seg] = cadence.segments.as_slice() {
            let (on, off) = cadence_timers(seg.on_ms, seg.off_ms)?;
            self.write_reg(reg::RING_ON_LO, on as u8)?;
            self.write_reg(reg::RING_ON_HI, (on >> 8) as u8)?;
            self.write_reg(reg::RING_OFF_LO, off as u8)?;
            self.write_reg(reg::RING_OFF_HI, (off >> 8) as u8)?;
            // An off time of zero is continuous ringing: active timer alone.
            self.write_reg(reg::RING_OSC_CTL, if off == 0 { 0 } else { RING_TIMERS_ON })?;
            self.soft_ring = None;
        } else {
            self.write_reg(reg::RING_OSC_CTL, 0)?;
            self.soft_ring = Some(SoftRing {
                cadence: cadence.clone(),
                start: None,
                on: true,
            });
        }
        self.write_reg(reg::LINEFEED, 4)
    }

    fn stop_ringing(&mut self) -> Result<(), LineError> {
        self.soft_ring = None;
        self.write_reg(reg::RING_OSC_CTL, 0)
    }
}

impl<SPI: SpiDevice, D: DelayNs> FxsLine for Si321x<SPI, D> {
    fn set_feed(&mut self, feed: LineFeed) -> Result<(), LineError> {
        if self.chip.is_none() {
            return Err(LineError::NoResponse);
        }
        match &feed {
            LineFeed::Ringing(c) => self.start_ringing(c)?,
            other => {
                if matches!(self.feed, LineFeed::Ringing(_)) {
                    self.stop_ringing()?;
                }
                self.write_reg(reg::LINEFEED, linefeed_code(other))?;
            }
        }
        self.feed = feed;
        Ok(())
    }

    fn poll(&mut self, now: Instant) -> Result<HookSample, LineError> {
        if self.chip.is_none() {
            return Err(LineError::NoResponse);
        }
        let irq = self.read_reg(reg::IRQ_STATUS2)?;
        if irq != 0 {
            // Interrupt bits clear when written back as ones.
            self.write_reg(reg::IRQ_STATUS2, irq)?;
        }
        if irq & IRQ2_POWER_ALARM != 0 {
            // The chip opens the loop itself on a power alarm; keep our view in step.
            self.soft_ring = None;
            self.feed = LineFeed::Open;
            return Err(LineError::Fault(LineFault::PowerAlarm));
        }
        let status = self.read_reg(reg::LOOP_STATUS)?;
        let hook = if matches!(self.feed, LineFeed::Ringing(_)) {
            if status & LOOP_RTP != 0 || irq & IRQ2_RING_TRIP != 0 {
                // Ring trip: answer at once, the phone is off-hook.
                self.stop_ringing()?;
                self.write_reg(reg::LINEFEED, linefeed_code(&LineFeed::ForwardActive))?;
                self.feed = LineFeed::ForwardActive;
                Hook::OffHook
            } else {
                if let Some(mut s) = self.soft_ring.take() {
                    let start = *s.start.get_or_insert(now);
                    let on = s.cadence.is_ringing_at(now - start);
                    if on != s.on {
                        let code = if on {
                            4
                        } else {
                            linefeed_code(&LineFeed::OnHookTransmission { reverse: false })
                        };
                        self.write_reg(reg::LINEFEED, code)?;
                        s.on = on;
                    }
                    self.soft_ring = Some(s);
                }
                Hook::OnHook
            }
        } else if status & LOOP_LCR != 0 {
            Hook::OffHook
        } else {
            Hook::OnHook
        };
        Ok(HookSample {
            hook,
            changed_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::spi::{Mock, Transaction as T};
    use std::vec::Vec;

    // --- pure packing ---

    #[test]
    fn ring_coefficients_match_the_datasheet_formula() {
        // 20 Hz: 2^15 cos(2 pi 20/1000) = 32509.6 (vendor presets truncate it to 0x7EFD).
        let c = ring_coefficients(20, 64).unwrap();
        assert_eq!(c.rco, 0x7EFE);
        // 45 Vrms (63.6 Vpk) at 20 Hz is 0x155 in the reference ring preset.
        let amp =
            0.25 * ((1.0 - 32509.6 / 32768.0) / (1.0 + 32509.6 / 32768.0f64)).sqrt() * 64.0 / 96.0 * 32768.0;
        assert_eq!(c.rngx, amp.round() as u16);
        assert!((0x150..=0x15A).contains(&c.rngx));
        // 25 Hz.
        assert_eq!(ring_coefficients(25, 64).unwrap().rco, 0x7E6D);
        assert_eq!(ring_coefficients(5, 64), Err(LineError::Unsupported));
        assert_eq!(ring_coefficients(20, 97), Err(LineError::Unsupported));
    }

    #[test]
    fn cadence_feed_and_levels_pack() {
        assert_eq!(cadence_timers(2000, 4000), Ok((16000, 32000)));
        assert_eq!(cadence_timers(8191, 0), Ok((65528, 0)));
        assert_eq!(cadence_timers(8192, 0), Err(LineError::Unsupported));
        assert_eq!(loop_current_code(20), Ok(0));
        assert_eq!(loop_current_code(23), Ok(1));
        assert_eq!(loop_current_code(41), Ok(7));
        assert_eq!(loop_current_code(45), Err(LineError::Unsupported));
        assert_eq!(volts_code(48), Ok(32));
        assert_eq!(volts_code(3), Ok(2));
        assert_eq!(digital_gain(0), Ok(0x4000));
        assert_eq!(digital_gain(-6), Ok(0x2013));
        assert_eq!(digital_gain(6), Ok(0x7FB2));
        assert_eq!(digital_gain(7), Err(LineError::Unsupported));
        assert_eq!(pcm_mode(Companding::MuLaw), 0x28);
        assert_eq!(pcm_mode(Companding::ALaw), 0x20);
        assert_eq!(pcm_mode(Companding::Linear16), 0x38);
        assert_eq!(linefeed_code(&LineFeed::ReverseActive), 5);
        assert_eq!(linefeed_code(&LineFeed::OnHookTransmission { reverse: true }), 6);
    }

    #[test]
    fn identification_and_si3215_indirect_map() {
        assert_eq!(
            identify(0x05, 0x00, 0x00),
            Some(ChipId {
                part: Part::Si3210,
                revision: 5
            })
        );
        assert_eq!(identify(0x03, 0x80, 0x80).unwrap().part, Part::Si3216);
        assert_eq!(identify(0x03, 0x80, 0x20), None);
        assert_eq!(indirect_address(Part::Si3210, 20), Some(20));
        assert_eq!(indirect_address(Part::Si3215, ind::RING_OSC), Some(7));
        assert_eq!(indirect_address(Part::Si3215, 41), Some(64));
        assert_eq!(indirect_address(Part::Si3215, 90), Some(77));
        assert_eq!(indirect_address(Part::Si3215, 3), None);
    }

    // --- scripted bus ---

    /// Expected transfers for a direct register write.
    fn w(out: &mut Vec<T<u8>>, r: u8, v: u8) {
        out.extend([
            T::transaction_start(),
            T::write_vec(std::vec![r]),
            T::transaction_end(),
            T::transaction_start(),
            T::write_vec(std::vec![v]),
            T::transaction_end(),
        ]);
    }

    /// Expected transfers for a direct register read answering `v`.
    fn r(out: &mut Vec<T<u8>>, reg: u8, v: u8) {
        out.extend([
            T::transaction_start(),
            T::write_vec(std::vec![reg | 0x80]),
            T::transaction_end(),
            T::transaction_start(),
            T::read_vec(std::vec![v]),
            T::transaction_end(),
        ]);
    }

    fn wi(out: &mut Vec<T<u8>>, part: Part, a: u8, v: u16) {
        let Some(a) = indirect_address(part, a) else {
            return;
        };
        w(out, reg::IND_DATA_LO, v as u8);
        w(out, reg::IND_DATA_HI, (v >> 8) as u8);
        w(out, reg::IND_ADDR, a);
        r(out, reg::IND_STATUS, 0);
    }

    /// The whole start-up of a healthy chip with the given config; `cal1_polls` busy reads of
    /// the first calibration before it completes.
    fn healthy_init(part: Part, cfg: &Si321xConfig) -> Vec<T<u8>> {
        let mut s = Vec::new();
        r(&mut s, reg::AUDIO_LOOPBACK, 0x02);
        r(&mut s, reg::HYBRID, 0x33);
        let (dr0, dr1, dr6) = match part {
            Part::Si3215 => (0x03, 0x80, 0x00),
            _ => (0x05, 0x00, 0x00),
        };
        r(&mut s, reg::ID, dr0);
        r(&mut s, reg::PCM_MODE, dr1);
        r(&mut s, reg::ID_3215, dr6);
        for (a, v) in INIT_INDIRECT.into_iter().chain(INIT_INDIRECT2) {
            wi(&mut s, part, a, v);
        }
        let ring = ring_coefficients(cfg.ring_hz, cfg.ring_vpk).unwrap();
        wi(&mut s, part, ind::RING_OSC, ring.rco);
        wi(&mut s, part, ind::RING_X, ring.rngx);
        wi(&mut s, part, ind::RING_Y, 0);
        wi(&mut s, part, ind::TX_GAIN, digital_gain(cfg.tx_gain_db).unwrap());
        wi(&mut s, part, ind::RX_GAIN, digital_gain(cfg.rx_gain_db).unwrap());
        w(&mut s, reg::AUDIO_LOOPBACK, 0);
        w(&mut s, reg::ENHANCE, 0xEB);
        if let Some(d) = cfg.dcdc {
            w(&mut s, reg::DCDC_SWITCH_DELAY, 0x12);
            w(&mut s, reg::DCDC_PWM_PERIOD, 0xFF);
            w(&mut s, reg::POWERDOWN1, 0);
            r(&mut s, reg::VBATH, 0x32); // 75 V programmed: target (75-6)/0.375 = 184
            r(&mut s, reg::VBAT_SENSE, 100);
            r(&mut s, reg::VBAT_SENSE, 190);
            w(&mut s, reg::DCDC_PWM_PERIOD, d.pwm_period);
            w(&mut s, reg::DCDC_SWITCH_DELAY, d.min_off);
            w(&mut s, reg::DCDC_SWITCH_DELAY, 0x80 | d.min_off);
            r(&mut s, reg::DCDC_SWITCH_DELAY, 0x80 | d.min_off);
            r(&mut s, reg::DCDC_SWITCH_DELAY, d.min_off);
        }
        w(&mut s, reg::LINEFEED, 0);
        // Calibration.
        w(&mut s, reg::IRQ_ENABLE1, 0);
        w(&mut s, reg::IRQ_ENABLE2, 0);
        w(&mut s, reg::IRQ_ENABLE3, 0);
        w(&mut s, reg::LINEFEED, 0);
        w(&mut s, reg::CAL2, 0x1E);
        w(&mut s, reg::CAL1, 0x47);
        r(&mut s, reg::CAL1, 0x47);
        r(&mut s, reg::CAL1, 0x00);
        w(&mut s, reg::TIP_GAIN_CAL, 0x10);
        w(&mut s, reg::RING_GAIN_CAL, 0x1F);
        r(&mut s, reg::RING_GAIN_ERR, 1);
        w(&mut s, reg::RING_GAIN_CAL, 0x1E);
        r(&mut s, reg::RING_GAIN_ERR, 0);
        w(&mut s, reg::TIP_GAIN_CAL, 0x1F);
        r(&mut s, reg::TIP_GAIN_ERR, 0);
        w(&mut s, reg::IRQ_ENABLE3, IRQ3_CM_CAL_ERR);
        w(&mut s, reg::LINEFEED, 1);
        r(&mut s, reg::LOOP_STATUS, 0);
        w(&mut s, reg::LINEFEED, 0);
        w(&mut s, reg::CAL2, 0x01);
        w(&mut s, reg::CAL1, 0x40);
        r(&mut s, reg::CAL1, 0x00);
        r(&mut s, reg::IRQ_STATUS3, 0);
        for a in 88..=95 {
            wi(&mut s, part, a, 0);
        }
        for (reg_, v) in [
            (reg::IRQ_STATUS1, 0x00),
            (reg::IRQ_STATUS2, 0x02),
            (reg::IRQ_STATUS3, 0),
        ] {
            r(&mut s, reg_, v);
            w(&mut s, reg_, v);
        }
        for (a, v) in RUN_INDIRECT {
            wi(&mut s, part, a, v);
        }
        w(&mut s, reg::BJT, 0x61);
        w(
            &mut s,
            reg::LOOP_CURRENT_LIMIT,
            loop_current_code(cfg.loop_current_ma).unwrap(),
        );
        w(&mut s, reg::VOC, volts_code(cfg.on_hook_volts).unwrap());
        w(&mut s, reg::VCM, 2);
        w(&mut s, reg::LOOP_DEBOUNCE, 10);
        w(&mut s, reg::RING_TRIP_DEBOUNCE, 10);
        let (tl, th) = pcm_start_count(cfg.pcm.tx_timeslot).unwrap();
        let (rl, rh) = pcm_start_count(cfg.pcm.rx_timeslot).unwrap();
        w(&mut s, reg::PCM_TX_START_LO, tl);
        w(&mut s, reg::PCM_TX_START_HI, th);
        w(&mut s, reg::PCM_RX_START_LO, rl);
        w(&mut s, reg::PCM_RX_START_HI, rh);
        w(&mut s, reg::PCM_MODE, pcm_mode(cfg.pcm.companding));
        w(&mut s, reg::IRQ_ENABLE1, 0);
        w(&mut s, reg::IRQ_ENABLE2, 0xFF);
        w(&mut s, reg::IRQ_ENABLE3, 0);
        w(&mut s, reg::LINEFEED, 1);
        s
    }

    fn started(part: Part, cfg: Si321xConfig, then: &[T<u8>]) -> Si321x<Mock<u8>, NoopDelay> {
        let mut s = healthy_init(part, &cfg);
        s.extend_from_slice(then);
        let mut slic = Si321x::new(Mock::new(&s), NoopDelay::new(), cfg);
        let id = slic.init().expect("init");
        assert_eq!(id.part, part);
        slic
    }

    fn done(slic: Si321x<Mock<u8>, NoopDelay>) {
        let (mut spi, _) = slic.release();
        spi.done();
    }

    #[test]
    fn init_si3210_and_si3215_consumes_the_whole_script() {
        for part in [Part::Si3210, Part::Si3215] {
            let cfg = Si321xConfig {
                pcm: PcmSlot::channel(3, Companding::ALaw),
                ..Si321xConfig::default()
            };
            let slic = started(part, cfg, &[]);
            assert_eq!(slic.feed(), &LineFeed::ForwardActive);
            done(slic);
        }
        // External battery: no converter bring-up.
        let cfg = Si321xConfig {
            dcdc: None,
            ..Si321xConfig::default()
        };
        done(started(Part::Si3210, cfg, &[]));
    }

    #[test]
    fn hard_reset_pulses_the_line_low_then_high() {
        use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction as DelayT};
        use embedded_hal_mock::eh1::digital::{Mock as Pin, State, Transaction as P};
        let mut pin = Pin::new(&[P::set(State::Low), P::set(State::High)]);
        let delay = CheckedDelay::new(&[DelayT::delay_ms(250), DelayT::delay_ms(250)]);
        let mut slic = Si321x::new(Mock::new(&[]), delay, Si321xConfig::default());
        slic.hard_reset(&mut pin).unwrap();
        let (mut spi, mut delay) = slic.release();
        spi.done();
        delay.done();
        pin.done();
    }

    #[test]
    fn absent_chip_is_no_response() {
        // MISO pulled up: every read is 0xFF.
        let mut s = Vec::new();
        r(&mut s, reg::AUDIO_LOOPBACK, 0xFF);
        r(&mut s, reg::HYBRID, 0xFF);
        let mut slic = Si321x::new(Mock::new(&s), NoopDelay::new(), Si321xConfig::default());
        assert_eq!(slic.init(), Err(LineError::NoResponse));
        assert_eq!(slic.set_feed(LineFeed::ForwardActive), Err(LineError::NoResponse));
        assert_eq!(slic.poll(Instant::ZERO), Err(LineError::NoResponse));
        done(slic);
    }

    #[test]
    fn calibration_that_never_finishes_is_a_typed_error() {
        let cfg = Si321xConfig {
            dcdc: None,
            ..Si321xConfig::default()
        };
        let full = healthy_init(Part::Si3210, &cfg);
        // Cut the script at the first calibration poll and make it stay busy.
        let mut s = Vec::new();
        let mut probe = Vec::new();
        w(&mut probe, reg::CAL1, 0x47);
        let at = full
            .windows(probe.len())
            .position(|win| win == probe.as_slice())
            .unwrap()
            + probe.len();
        s.extend_from_slice(&full[..at]);
        for _ in 0..CAL_POLLS_1MS {
            r(&mut s, reg::CAL1, 0x47);
        }
        let mut slic = Si321x::new(Mock::new(&s), NoopDelay::new(), cfg);
        assert_eq!(slic.init(), Err(LineError::Calibration));
        done(slic);
    }

    #[test]
    fn stuck_indirect_access_is_no_response() {
        let mut s = Vec::new();
        r(&mut s, reg::AUDIO_LOOPBACK, 0x02);
        r(&mut s, reg::HYBRID, 0x33);
        r(&mut s, reg::ID, 0x05);
        r(&mut s, reg::PCM_MODE, 0x00);
        r(&mut s, reg::ID_3215, 0x00);
        let (a, v) = INIT_INDIRECT[0];
        w(&mut s, reg::IND_DATA_LO, v as u8);
        w(&mut s, reg::IND_DATA_HI, (v >> 8) as u8);
        w(&mut s, reg::IND_ADDR, a);
        for _ in 0..IND_POLLS {
            r(&mut s, reg::IND_STATUS, 1);
        }
        let mut slic = Si321x::new(Mock::new(&s), NoopDelay::new(), Si321xConfig::default());
        assert_eq!(slic.init(), Err(LineError::NoResponse));
        done(slic);
    }

    #[test]
    fn hook_events_from_loop_closure() {
        let mut then = Vec::new();
        r(&mut then, reg::IRQ_STATUS2, 0);
        r(&mut then, reg::LOOP_STATUS, 0);
        r(&mut then, reg::IRQ_STATUS2, IRQ2_LOOP_CLOSURE);
        w(&mut then, reg::IRQ_STATUS2, IRQ2_LOOP_CLOSURE);
        r(&mut then, reg::LOOP_STATUS, LOOP_LCR);
        // Reverse polarity for answer supervision, then on-hook transmission for caller ID.
        w(&mut then, reg::LINEFEED, 5);
        w(&mut then, reg::LINEFEED, 2);
        let mut slic = started(Part::Si3210, Si321xConfig::default(), &then);
        assert_eq!(slic.poll(Instant::from_millis(10)).unwrap().hook, Hook::OnHook);
        assert_eq!(slic.poll(Instant::from_millis(20)).unwrap().hook, Hook::OffHook);
        slic.set_feed(LineFeed::ReverseActive).unwrap();
        slic.set_feed(LineFeed::OnHookTransmission { reverse: false })
            .unwrap();
        done(slic);
    }

    #[test]
    fn hook_flash_is_classified_from_polled_loop_closure() {
        use crate::fxs::{FxsEventKind, HookDetector, HookTiming};
        // Off-hook 100 ms, on-hook 300 ms (a flash), off-hook again, one poll per 10 ms tick.
        let pattern: Vec<bool> = (0..10)
            .map(|_| true)
            .chain((0..30).map(|_| false))
            .chain((0..20).map(|_| true))
            .collect();
        let mut then = Vec::new();
        for &off in &pattern {
            r(&mut then, reg::IRQ_STATUS2, 0);
            r(&mut then, reg::LOOP_STATUS, if off { LOOP_LCR } else { 0 });
        }
        let mut slic = started(Part::Si3215, Si321xConfig::default(), &then);
        let mut det = HookDetector::new(HookTiming::default()).unwrap();
        let mut events = Vec::new();
        for i in 0..pattern.len() as u64 {
            let now = Instant::from_millis(1000 + i * 10);
            let upto = det.track(&mut slic, now).unwrap();
            while let Some(e) = det.poll(upto) {
                events.push(e.kind);
            }
        }
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0], FxsEventKind::OffHook);
        assert!(matches!(events[1], FxsEventKind::HookFlash { duration } if duration.as_millis() == 300));
        done(slic);
    }

    #[test]
    fn single_segment_cadence_runs_in_chip_timers_until_ring_trip() {
        let cadence = RingCadence::new(&[(2000, 4000)], 25).unwrap();
        let c25 = ring_coefficients(25, 64).unwrap();
        let mut then = Vec::new();
        wi(&mut then, Part::Si3210, ind::RING_OSC, c25.rco);
        wi(&mut then, Part::Si3210, ind::RING_X, c25.rngx);
        wi(&mut then, Part::Si3210, ind::RING_Y, 0);
        w(&mut then, reg::RING_ON_LO, (16000u16 & 0xFF) as u8);
        w(&mut then, reg::RING_ON_HI, (16000u16 >> 8) as u8);
        w(&mut then, reg::RING_OFF_LO, (32000u16 & 0xFF) as u8);
        w(&mut then, reg::RING_OFF_HI, (32000u16 >> 8) as u8);
        w(&mut then, reg::RING_OSC_CTL, RING_TIMERS_ON);
        w(&mut then, reg::LINEFEED, 4);
        // Ringing, on-hook.
        r(&mut then, reg::IRQ_STATUS2, 0);
        r(&mut then, reg::LOOP_STATUS, 0);
        // Ring trip.
        r(&mut then, reg::IRQ_STATUS2, IRQ2_RING_TRIP);
        w(&mut then, reg::IRQ_STATUS2, IRQ2_RING_TRIP);
        r(&mut then, reg::LOOP_STATUS, LOOP_RTP);
        w(&mut then, reg::RING_OSC_CTL, 0);
        w(&mut then, reg::LINEFEED, 1);
        let mut slic = started(Part::Si3210, Si321xConfig::default(), &then);
        slic.set_feed(LineFeed::Ringing(cadence)).unwrap();
        assert_eq!(slic.poll(Instant::from_millis(10)).unwrap().hook, Hook::OnHook);
        assert_eq!(slic.poll(Instant::from_millis(20)).unwrap().hook, Hook::OffHook);
        assert_eq!(slic.feed(), &LineFeed::ForwardActive);
        done(slic);
    }

    #[test]
    fn multi_segment_cadence_is_sequenced_in_poll() {
        // UK: 400 on, 200 off, 400 on, 2000 off at 20 Hz (already programmed).
        let cadence = RingCadence::new(&[(400, 200), (400, 2000)], 20).unwrap();
        let mut then = Vec::new();
        w(&mut then, reg::RING_OSC_CTL, 0);
        w(&mut then, reg::LINEFEED, 4);
        let on_hook_poll = |t: &mut Vec<T<u8>>| {
            r(t, reg::IRQ_STATUS2, 0);
            r(t, reg::LOOP_STATUS, 0);
        };
        on_hook_poll(&mut then); // t=0: burst 1
        on_hook_poll(&mut then); // t=400: pause
        w(&mut then, reg::LINEFEED, 2);
        on_hook_poll(&mut then); // t=600: burst 2
        w(&mut then, reg::LINEFEED, 4);
        on_hook_poll(&mut then); // t=900: still burst 2
        on_hook_poll(&mut then); // t=1000: long pause
        w(&mut then, reg::LINEFEED, 2);
        // Hang-up of the call attempt: open the loop.
        w(&mut then, reg::RING_OSC_CTL, 0);
        w(&mut then, reg::LINEFEED, 0);
        let mut slic = started(Part::Si3210, Si321xConfig::default(), &then);
        slic.set_feed(LineFeed::Ringing(cadence)).unwrap();
        let base = 5000;
        for t in [0, 400, 600, 900, 1000] {
            assert_eq!(
                slic.poll(Instant::from_millis(base + t)).unwrap().hook,
                Hook::OnHook
            );
        }
        slic.set_feed(LineFeed::Open).unwrap();
        done(slic);
    }

    #[test]
    fn power_alarm_is_a_fault() {
        let mut then = Vec::new();
        r(&mut then, reg::IRQ_STATUS2, 0x04);
        w(&mut then, reg::IRQ_STATUS2, 0x04);
        let mut slic = started(Part::Si3215, Si321xConfig::default(), &then);
        assert_eq!(
            slic.poll(Instant::ZERO),
            Err(LineError::Fault(LineFault::PowerAlarm))
        );
        assert_eq!(slic.feed(), &LineFeed::Open);
        done(slic);
    }

    #[test]
    fn unsupported_ring_frequency_is_refused_before_ringing() {
        let cadence = RingCadence::new(&[(1000, 4000)], 120).unwrap();
        let mut slic = started(Part::Si3210, Si321xConfig::default(), &[]);
        assert_eq!(
            slic.set_feed(LineFeed::Ringing(cadence)),
            Err(LineError::Unsupported)
        );
        assert_eq!(slic.feed(), &LineFeed::ForwardActive);
        done(slic);
    }
}
