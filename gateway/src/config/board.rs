//! Board definitions: the data in `board/boards/*.toml` saying what hardware a board has and how
//! the HAL reaches it: the ports (FXS/FXO) and the backend driving each, the PCM device, the
//! GPIO lines and SPI devices the line drivers use, the LEDs and the hardware watchdog.
//!
//! Everything here is data checked once at start-up ([`BoardDef::parse`]): a reference to an
//! unknown GPIO or SPI name, a duplicate name or an impossible value is a typed error naming the
//! field, never a failure later on the line.
//!
//! A board's ports all use one backend: `sim` (the simulation protocol) or `hw` (line chips on
//! SPI/GPIO and the ALSA PCM of `[pcm]`, opened by `crate::hwboard`).

use std::collections::{HashMap, HashSet};

use hal::drivers::si3050::Country;
use hal::drivers::{ChipKind, RoleDirection};

use serde::{Deserialize, Serialize};

use super::model::PortKind;
use super::validate::{ConfigError, ConfigErrors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The simulation protocol of docs/sim-protocol.md, over a loopback TCP socket or, with
    /// `device`, over a character device (a virtio-serial port in the QEMU board).
    Sim,
    /// A line chip (`chip`) on the board's SPI device and GPIO lines, its audio on a channel of
    /// the `[pcm]` ALSA device (gateway crate feature `linux`).
    Hw,
}

impl Backend {
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sim => "sim",
            Backend::Hw => "hw",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardPort {
    pub kind: PortKind,
    pub backend: Backend,
    /// For `sim`: the loopback TCP port the line listens on (0 picks a free one).
    #[serde(default)]
    pub tcp_port: u16,
    /// For `sim`: a character device carrying the protocol instead of a TCP listener
    /// (e.g. `/dev/virtio-ports/port0`, a virtio-serial port whose host end a virtual phone attaches to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// PCM channel (TDM timeslot) of the port; the port's index when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcm_channel: Option<u8>,
    /// Line interface chip the driver is chosen by (e.g. `si3215`, `si3050`, `ag1171`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<String>,
    /// Name of the `[[spi]]` device the chip is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spi: Option<String>,
    /// Names of `[[gpio]]` lines the driver uses, by role (`reset`, `interrupt`, `ring_mode`,
    /// `forward_reverse`, `switch_hook`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpio: Vec<GpioUse>,
    /// For a DAA (`si3050`): the country whose line settings (DC termination, AC impedance,
    /// ring detection) it is programmed with at start-up, as an ISO code; FCC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl BoardPort {
    /// The `[[gpio]]` name given role `role`.
    pub fn gpio_for(&self, role: &str) -> Option<&str> {
        self.gpio.iter().find(|g| g.role == role).map(|g| g.line.as_str())
    }
}

/// A GPIO line given a role for one port's driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioUse {
    pub role: String,
    /// Name of a `[[gpio]]` entry.
    pub line: String,
}

/// The PCM (TDM) bus carrying the ports' audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcmDef {
    /// `sim` (the simulated board's clock) or an ALSA PCM name such as `hw:0,0`; on a `hw`
    /// board the playback PCM, and the capture PCM too unless `capture` is given.
    pub device: String,
    /// ALSA capture PCM when it is not `device` (e.g. the other end of a loopback card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// 10 ms periods in each ALSA buffer (`hw` boards, 2..=32; 4 when absent). More periods
    /// ride out longer scheduling stalls at the cost of audio delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<u32>,
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Channels on the bus; at least the highest port channel plus one.
    #[serde(default)]
    pub channels: u8,
}

fn default_rate() -> u32 {
    8000
}

/// A named GPIO line of the Linux GPIO character device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioDef {
    pub name: String,
    /// `/dev/gpiochipN`.
    pub chip: String,
    /// Line offset on the chip.
    pub line: u32,
    #[serde(default)]
    pub active_low: bool,
    pub direction: GpioDirection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpioDirection {
    Input,
    Output,
}

/// A named spidev device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiDef {
    pub name: String,
    /// `/dev/spidevB.C`.
    pub device: String,
    pub max_hz: u32,
    /// SPI mode 0..=3.
    #[serde(default)]
    pub mode: u8,
}

/// What an LED shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedFunction {
    Power,
    /// On while every enabled account is registered.
    Registered,
    /// A port's state (off-hook, ringing); needs `port`.
    Port,
    /// Network link.
    Network,
}

/// An LED: a Linux LED class device (`/sys/class/leds/NAME`) or a GPIO line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedDef {
    pub name: String,
    pub function: LedFunction,
    /// For `function = "port"`: the port index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u8>,
    /// A `[[gpio]]` name; without it the LED class device `name` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpio: Option<String>,
}

/// The hardware watchdog gatewayd feeds while its media loop runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogDef {
    /// `/dev/watchdog` or `/dev/watchdogN`.
    pub device: String,
    /// Seconds without a feed before the board resets.
    #[serde(default = "default_wd_timeout")]
    pub timeout_s: u32,
    /// How often the feed is attempted.
    #[serde(default = "default_wd_interval")]
    pub feed_interval_ms: u32,
}

fn default_wd_timeout() -> u32 {
    15
}

fn default_wd_interval() -> u32 {
    1000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "port")]
    pub ports: Vec<BoardPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcm: Option<PcmDef>,
    #[serde(default, rename = "gpio", skip_serializing_if = "Vec::is_empty")]
    pub gpios: Vec<GpioDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spi: Vec<SpiDef>,
    #[serde(default, rename = "led", skip_serializing_if = "Vec::is_empty")]
    pub leds: Vec<LedDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<WatchdogDef>,
}

/// The simulated board `make run` uses, from the same file the board directory ships.
pub const SIM_BOARD: &str = include_str!("../../../board/boards/sim.toml");
/// The QEMU aarch64 board of the firmware image.
pub const QEMU_AARCH64_BOARD: &str = include_str!("../../../board/boards/qemu-aarch64.toml");

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        line: None,
        message: message.into(),
    }
}

impl BoardDef {
    pub fn parse(text: &str) -> Result<BoardDef, ConfigErrors> {
        let de = toml::Deserializer::new(text);
        let def: BoardDef = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ConfigErrors(vec![ConfigError {
                path,
                line: None,
                message: e.into_inner().message().to_string(),
            }])
        })?;
        def.validate()?;
        Ok(def)
    }

    /// Every cross-reference and range the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = Vec::new();
        if self.ports.is_empty() || self.ports.len() > 32 {
            errs.push(err("port", "a board has between 1 and 32 ports"));
        }
        let mut names = HashSet::new();
        for (i, g) in self.gpios.iter().enumerate() {
            if !names.insert(g.name.as_str()) {
                errs.push(err(
                    format!("gpio[{i}].name"),
                    format!("'{}' is defined twice", g.name),
                ));
            }
            if !g.chip.starts_with("/dev/") {
                errs.push(err(
                    format!("gpio[{i}].chip"),
                    "a GPIO chip is a /dev/gpiochipN path",
                ));
            }
        }
        let gpio_names: HashSet<&str> = self.gpios.iter().map(|g| g.name.as_str()).collect();
        let mut spi_names = HashSet::new();
        for (i, s) in self.spi.iter().enumerate() {
            if !spi_names.insert(s.name.as_str()) {
                errs.push(err(
                    format!("spi[{i}].name"),
                    format!("'{}' is defined twice", s.name),
                ));
            }
            if s.mode > 3 {
                errs.push(err(format!("spi[{i}].mode"), "SPI mode is 0, 1, 2 or 3"));
            }
            if s.max_hz == 0 {
                errs.push(err(format!("spi[{i}].max_hz"), "clock rate must be above 0"));
            }
            if !s.device.starts_with("/dev/") {
                errs.push(err(
                    format!("spi[{i}].device"),
                    "an SPI device is a /dev/spidevB.C path",
                ));
            }
        }
        let mut devices = HashSet::new();
        let mut channels = HashSet::new();
        for (i, p) in self.ports.iter().enumerate() {
            if let Some(d) = &p.device {
                if !d.starts_with('/') {
                    errs.push(err(
                        format!("port[{i}].device"),
                        "a character device is an absolute path",
                    ));
                } else if !devices.insert(d.as_str()) {
                    errs.push(err(
                        format!("port[{i}].device"),
                        format!("'{d}' is used by two ports"),
                    ));
                }
                if p.tcp_port != 0 {
                    errs.push(err(
                        format!("port[{i}].tcp_port"),
                        "a port uses either a TCP listener or a character device, not both",
                    ));
                }
            }
            let ch = p.pcm_channel.unwrap_or(i as u8);
            if !channels.insert(ch) {
                errs.push(err(
                    format!("port[{i}].pcm_channel"),
                    format!("channel {ch} is used by two ports"),
                ));
            }
            if let Some(pcm) = &self.pcm
                && pcm.channels != 0
                && ch >= pcm.channels
            {
                errs.push(err(
                    format!("port[{i}].pcm_channel"),
                    format!("channel {ch} is beyond the bus's {} channels", pcm.channels),
                ));
            }
            if let Some(s) = &p.spi
                && !spi_names.contains(s.as_str())
            {
                errs.push(err(format!("port[{i}].spi"), format!("no [[spi]] named '{s}'")));
            }
            for (j, g) in p.gpio.iter().enumerate() {
                if !gpio_names.contains(g.line.as_str()) {
                    errs.push(err(
                        format!("port[{i}].gpio[{j}].line"),
                        format!("no [[gpio]] named '{}'", g.line),
                    ));
                }
            }
        }
        if let Some(pcm) = &self.pcm
            && !matches!(pcm.rate, 8000 | 16000)
        {
            errs.push(err("pcm.rate", "the line side runs at 8000 or 16000 Hz"));
        }
        for (i, l) in self.leds.iter().enumerate() {
            match (l.function, l.port) {
                (LedFunction::Port, None) => {
                    errs.push(err(format!("led[{i}].port"), "a port LED names its port"))
                }
                (LedFunction::Port, Some(p)) if usize::from(p) >= self.ports.len() => errs.push(err(
                    format!("led[{i}].port"),
                    format!("the board has no port {p}"),
                )),
                (LedFunction::Port, Some(_)) => {}
                (_, Some(_)) => errs.push(err(format!("led[{i}].port"), "only a port LED names a port")),
                (_, None) => {}
            }
            if let Some(g) = &l.gpio
                && !gpio_names.contains(g.as_str())
            {
                errs.push(err(format!("led[{i}].gpio"), format!("no [[gpio]] named '{g}'")));
            }
        }
        self.validate_backends(&mut errs);
        if let Some(w) = &self.watchdog {
            if !w.device.starts_with("/dev/") {
                errs.push(err("watchdog.device", "a watchdog is a /dev/watchdogN path"));
            }
            if !(2..=600).contains(&w.timeout_s) {
                errs.push(err("watchdog.timeout_s", "between 2 and 600 seconds"));
            }
            // At least two feeds per timeout, so one late feed does not reset the board.
            if w.feed_interval_ms == 0 || u64::from(w.feed_interval_ms) * 2 > u64::from(w.timeout_s) * 1000 {
                errs.push(err(
                    "watchdog.feed_interval_ms",
                    "must be above 0 and at most half the timeout",
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errs))
        }
    }

    /// The backend of the board's ports (the first port's; validation keeps them equal).
    pub fn backend(&self) -> Backend {
        self.ports.first().map_or(Backend::Sim, |p| p.backend)
    }

    /// Checks that the ports share one backend and that each port has exactly what its
    /// backend needs: a `sim` port no chip, a `hw` port a known chip of its kind with its bus,
    /// GPIO roles of the right direction, and a PCM channel on an ALSA device.
    fn validate_backends(&self, errs: &mut Vec<ConfigError>) {
        let Some(first) = self.ports.first() else {
            return;
        };
        let backend = first.backend;
        for (i, p) in self.ports.iter().enumerate() {
            if p.backend != backend {
                errs.push(err(
                    format!("port[{i}].backend"),
                    format!(
                        "a board's ports all use one backend: port 0 is '{}', this one '{}'",
                        backend.name(),
                        p.backend.name()
                    ),
                ));
            }
        }
        match backend {
            Backend::Sim => {
                for (i, p) in self.ports.iter().enumerate() {
                    let hw_only = [
                        ("chip", p.chip.is_some()),
                        ("spi", p.spi.is_some()),
                        ("gpio", !p.gpio.is_empty()),
                        ("country", p.country.is_some()),
                    ];
                    for (key, present) in hw_only {
                        if present {
                            errs.push(err(
                                format!("port[{i}].{key}"),
                                "only a port with backend = \"hw\" has a line chip and its buses",
                            ));
                        }
                    }
                }
            }
            Backend::Hw => self.validate_hw(errs),
        }
    }

    fn validate_hw(&self, errs: &mut Vec<ConfigError>) {
        match &self.pcm {
            None => errs.push(err(
                "pcm",
                "a board with backend = \"hw\" names its ALSA PCM device in [pcm]",
            )),
            Some(pcm) => {
                if pcm.device == "sim" || pcm.capture.as_deref() == Some("sim") {
                    let key = if pcm.device == "sim" {
                        "pcm.device"
                    } else {
                        "pcm.capture"
                    };
                    errs.push(err(
                        key,
                        "'sim' is the simulated board's clock; a hw board names an ALSA PCM such as hw:0,0",
                    ));
                }
                if pcm.rate != hal::SAMPLE_RATE {
                    errs.push(err("pcm.rate", "the ALSA backend runs the line side at 8000 Hz"));
                }
                if let Some(n) = pcm.periods
                    && !(2..=32).contains(&n)
                {
                    errs.push(err("pcm.periods", "between 2 and 32 periods of 10 ms"));
                }
            }
        }
        let gpio_by_name: HashMap<&str, &GpioDef> = self.gpios.iter().map(|g| (g.name.as_str(), g)).collect();
        let mut line_owner: HashMap<&str, usize> = HashMap::new();
        let mut spi_owner: HashMap<&str, usize> = HashMap::new();
        for (i, g) in self.gpios.iter().enumerate() {
            if let Some(other) = self.gpios[..i]
                .iter()
                .find(|o| o.chip == g.chip && o.line == g.line)
            {
                errs.push(err(
                    format!("gpio[{i}].line"),
                    format!("line {} of {} is also [[gpio]] '{}'", g.line, g.chip, other.name),
                ));
            }
        }
        for (i, p) in self.ports.iter().enumerate() {
            // A sim port on a hw board is already reported under its backend.
            if p.backend != Backend::Hw {
                continue;
            }
            if p.tcp_port != 0 {
                errs.push(err(
                    format!("port[{i}].tcp_port"),
                    "only a sim port listens on a TCP port",
                ));
            }
            if p.device.is_some() {
                errs.push(err(
                    format!("port[{i}].device"),
                    "only a sim port carries its line on a character device",
                ));
            }
            let Some(name) = &p.chip else {
                errs.push(err(
                    format!("port[{i}].chip"),
                    format!(
                        "a hw port names its line chip: one of {}",
                        ChipKind::NAMES.join(", ")
                    ),
                ));
                continue;
            };
            let Some(kind) = ChipKind::from_name(name) else {
                errs.push(err(
                    format!("port[{i}].chip"),
                    format!("unknown chip '{name}'; known: {}", ChipKind::NAMES.join(", ")),
                ));
                continue;
            };
            let chip_kind = if kind.is_fxs() {
                PortKind::Fxs
            } else {
                PortKind::Fxo
            };
            if chip_kind != p.kind {
                errs.push(err(
                    format!("port[{i}].chip"),
                    format!(
                        "'{name}' is an {} interface but the port is {}",
                        kind_name(chip_kind),
                        kind_name(p.kind)
                    ),
                ));
            }
            match (&p.spi, kind.on_spi()) {
                (None, true) => errs.push(err(
                    format!("port[{i}].spi"),
                    format!("{name} is programmed over SPI: name its [[spi]] device"),
                )),
                (Some(_), false) => errs.push(err(
                    format!("port[{i}].spi"),
                    format!("{name} has no SPI bus; it is driven by GPIO lines only"),
                )),
                (Some(s), true) => {
                    if let Some(o) = spi_owner.insert(s.as_str(), i) {
                        errs.push(err(
                            format!("port[{i}].spi"),
                            format!("[[spi]] '{s}' is port {o}'s chip already (one chip select per chip)"),
                        ));
                    }
                }
                (None, false) => {}
            }
            let mut seen = HashSet::new();
            for (j, g) in p.gpio.iter().enumerate() {
                let Some(role) = kind.gpio_role(&g.role) else {
                    let known: Vec<&str> = kind.gpio_roles().iter().map(|r| r.name).collect();
                    errs.push(err(
                        format!("port[{i}].gpio[{j}].role"),
                        format!(
                            "{name} has no line role '{}'; its roles: {}",
                            g.role,
                            known.join(", ")
                        ),
                    ));
                    continue;
                };
                if !seen.insert(role.name) {
                    errs.push(err(
                        format!("port[{i}].gpio[{j}].role"),
                        format!("role '{}' is given twice", role.name),
                    ));
                }
                if let Some(o) = line_owner.insert(g.line.as_str(), i)
                    && o != i
                {
                    errs.push(err(
                        format!("port[{i}].gpio[{j}].line"),
                        format!(
                            "[[gpio]] '{}' is used by port {o} already; a line belongs to one port",
                            g.line
                        ),
                    ));
                }
                if let Some(def) = gpio_by_name.get(g.line.as_str()) {
                    let want = match role.direction {
                        RoleDirection::Output => GpioDirection::Output,
                        RoleDirection::Input => GpioDirection::Input,
                    };
                    if def.direction != want {
                        errs.push(err(
                            format!("port[{i}].gpio[{j}].line"),
                            format!(
                                "role '{}' needs an {} line but [[gpio]] '{}' is an {}",
                                role.name,
                                direction_name(want),
                                g.line,
                                direction_name(def.direction)
                            ),
                        ));
                    }
                }
            }
            let missing: Vec<&str> = kind
                .gpio_roles()
                .iter()
                .filter(|r| r.required && !seen.contains(r.name))
                .map(|r| r.name)
                .collect();
            if !missing.is_empty() {
                errs.push(err(
                    format!("port[{i}].gpio"),
                    format!("{name} needs the line roles {}", missing.join(", ")),
                ));
            }
            if let Some(c) = &p.country {
                if kind != ChipKind::VoiceDaa {
                    errs.push(err(
                        format!("port[{i}].country"),
                        "only a DAA (si3050) is programmed with country line settings",
                    ));
                } else if Country::from_code(&c.to_ascii_lowercase()).is_none() {
                    errs.push(err(
                        format!("port[{i}].country"),
                        format!("no DAA line settings for country '{c}'"),
                    ));
                }
            }
        }
    }

    pub fn sim() -> BoardDef {
        // The shipped file is checked by a test below; failing here would be a build defect.
        BoardDef::parse(SIM_BOARD).unwrap_or_else(|e| panic!("board/boards/sim.toml: {e}"))
    }

    /// PCM channel of port `index` (its explicit channel, else its index).
    pub fn pcm_channel(&self, index: usize) -> Option<u8> {
        self.ports
            .get(index)
            .map(|p| p.pcm_channel.unwrap_or(index as u8))
    }
}

fn kind_name(k: PortKind) -> &'static str {
    match k {
        PortKind::Fxs => "FXS",
        PortKind::Fxo => "FXO",
    }
}

fn direction_name(d: GpioDirection) -> &'static str {
    match d {
        GpioDirection::Input => "input",
        GpioDirection::Output => "output",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sim_board_parses() {
        let b = BoardDef::sim();
        let kinds: Vec<PortKind> = b.ports.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [PortKind::Fxs, PortKind::Fxs, PortKind::Fxo]);
    }

    #[test]
    fn unknown_backend_is_rejected() {
        let e = BoardDef::parse("name='x'\n[[port]]\nkind='fxs'\nbackend='magic'\n").unwrap_err();
        assert_eq!(e.0[0].path, "port[0].backend");
    }

    #[test]
    fn shipped_qemu_board_parses() {
        let b = BoardDef::parse(QEMU_AARCH64_BOARD).unwrap();
        assert_eq!(b.name, "qemu-aarch64");
        let kinds: Vec<PortKind> = b.ports.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [PortKind::Fxs, PortKind::Fxs, PortKind::Fxo]);
        assert!(b.ports.iter().all(|p| p.device.is_some() && p.tcp_port == 0));
        let w = b.watchdog.as_ref().unwrap();
        assert_eq!(w.device, "/dev/watchdog");
        assert!(b.leds.iter().any(|l| l.function == LedFunction::Registered));
    }

    #[test]
    fn every_shipped_board_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../board/boards");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                BoardDef::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 2);
    }

    #[test]
    fn hardware_board_with_drivers_parses() {
        let text = r#"
name = "ata2"
[pcm]
device = "hw:0,0"
channels = 4
[[gpio]]
name = "slic_reset"
chip = "/dev/gpiochip0"
line = 17
active_low = true
direction = "output"
[[gpio]]
name = "slic_int"
chip = "/dev/gpiochip0"
line = 18
direction = "input"
[[spi]]
name = "slic"
device = "/dev/spidev0.0"
max_hz = 1000000
mode = 3
[[port]]
kind = "fxs"
backend = "hw"
pcm_channel = 2
chip = "si3215"
spi = "slic"
gpio = [{ role = "reset", line = "slic_reset" }, { role = "interrupt", line = "slic_int" }]
[[led]]
name = "phone1"
function = "port"
port = 0
[watchdog]
device = "/dev/watchdog0"
"#;
        let b = BoardDef::parse(text).unwrap();
        assert_eq!(b.pcm_channel(0), Some(2));
        assert_eq!(b.ports[0].gpio[1].line, "slic_int");
        let w = b.watchdog.unwrap();
        assert_eq!((w.timeout_s, w.feed_interval_ms), (15, 1000));
        let back = toml::to_string(&BoardDef::parse(text).unwrap()).unwrap();
        assert_eq!(BoardDef::parse(&back).unwrap(), BoardDef::parse(text).unwrap());
    }

    fn paths(text: &str) -> Vec<String> {
        BoardDef::parse(text)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    #[test]
    fn dangling_references_are_named() {
        let p = paths(
            "name='x'\n[pcm]\ndevice='hw:0'\n[[port]]\nkind='fxs'\nbackend='hw'\nchip='si3215'\nspi='nope'\n\
             gpio=[{role='reset',line='r'}]\n[[led]]\nname='l'\nfunction='power'\ngpio='g'\n",
        );
        assert_eq!(p, ["port[0].spi", "port[0].gpio[0].line", "led[0].gpio"]);
    }

    #[test]
    fn conflicting_ports_are_rejected() {
        let p = paths(
            "name='x'\n[[port]]\nkind='fxs'\nbackend='sim'\ndevice='/dev/vport1p1'\n\
             [[port]]\nkind='fxs'\nbackend='sim'\ndevice='/dev/vport1p1'\ntcp_port=7000\npcm_channel=0\n",
        );
        assert_eq!(p, ["port[1].device", "port[1].tcp_port", "port[1].pcm_channel"]);
    }

    #[test]
    fn watchdog_and_leds_are_checked() {
        let p = paths(
            "name='x'\n[[port]]\nkind='fxs'\nbackend='sim'\n[[led]]\nname='a'\nfunction='port'\n\
             [[led]]\nname='b'\nfunction='port'\nport=3\n[[led]]\nname='c'\nfunction='power'\nport=0\n\
             [watchdog]\ndevice='/dev/watchdog'\ntimeout_s=1\n",
        );
        assert_eq!(
            p,
            [
                "led[0].port",
                "led[1].port",
                "led[2].port",
                "watchdog.timeout_s",
                "watchdog.feed_interval_ms"
            ]
        );
    }

    #[test]
    fn bad_bus_values_are_rejected() {
        let p = paths(
            "name='x'\n[pcm]\ndevice='hw:0'\nrate=44100\nchannels=1\n[[spi]]\nname='s'\ndevice='/dev/spidev0.0'\n\
             max_hz=0\nmode=4\n[[port]]\nkind='fxs'\nbackend='sim'\n[[port]]\nkind='fxo'\nbackend='sim'\n",
        );
        assert_eq!(
            p,
            ["spi[0].mode", "spi[0].max_hz", "port[1].pcm_channel", "pcm.rate"]
        );
    }

    fn sorted_paths(text: &str) -> Vec<String> {
        let mut p = paths(text);
        p.sort();
        p
    }

    const HW_HEAD: &str = "name='x'\n[pcm]\ndevice='hw:0,0'\n\
        [[spi]]\nname='s0'\ndevice='/dev/spidev0.0'\nmax_hz=1000000\nmode=3\n\
        [[gpio]]\nname='a'\nchip='/dev/gpiochip0'\nline=1\ndirection='output'\n\
        [[gpio]]\nname='shk'\nchip='/dev/gpiochip0'\nline=3\ndirection='output'\n";

    #[test]
    fn hw_ports_are_checked_key_by_key() {
        let text = format!(
            "{HW_HEAD}\
             [[port]]\nkind='fxs'\nbackend='hw'\nchip='si3050'\nspi='s0'\n\
             [[port]]\nkind='fxs'\nbackend='hw'\nchip='ag1171'\nspi='s0'\n\
             gpio=[{{role='ring_mode',line='a'}},{{role='switch_hook',line='shk'}},{{role='reset',line='shk'}}]\n\
             [[port]]\nkind='fxs'\nbackend='hw'\nchip='si3215'\nspi='s0'\ntcp_port=7000\ncountry='de'\n\
             gpio=[{{role='reset',line='a'}},{{role='reset',line='a'}}]\n\
             [[port]]\nkind='fxo'\nbackend='hw'\nchip='le9662'\n\
             [[port]]\nkind='fxo'\nbackend='hw'\n\
             [[port]]\nkind='fxo'\nbackend='sim'\n"
        );
        let errs = BoardDef::parse(&text).unwrap_err().0;
        let mut p: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        p.sort();
        assert_eq!(
            p,
            [
                "port[0].chip",
                "port[1].gpio",
                "port[1].gpio[1].line",
                "port[1].gpio[2].role",
                "port[1].spi",
                "port[2].country",
                "port[2].gpio[0].line",
                "port[2].gpio[1].role",
                "port[2].spi",
                "port[2].tcp_port",
                "port[3].chip",
                "port[4].chip",
                "port[5].backend",
            ]
        );
        let msg = |path: &str| {
            errs.iter()
                .find(|e| e.path == path)
                .map(|e| e.message.clone())
                .unwrap()
        };
        assert_eq!(
            msg("port[0].chip"),
            "'si3050' is an FXO interface but the port is FXS"
        );
        assert_eq!(msg("port[1].gpio"), "ag1171 needs the line roles forward_reverse");
        assert_eq!(
            msg("port[1].gpio[1].line"),
            "role 'switch_hook' needs an input line but [[gpio]] 'shk' is an output"
        );
        assert!(msg("port[1].gpio[2].role").contains("ring_mode, forward_reverse, switch_hook"));
        assert!(msg("port[2].spi").contains("port 0's chip already"));
        assert!(msg("port[2].gpio[0].line").contains("used by port 1"));
        assert!(msg("port[3].chip").contains("unknown chip 'le9662'"));
        assert!(msg("port[4].chip").contains("si3215"));
        assert!(msg("port[5].backend").contains("port 0 is 'hw'"));
    }

    #[test]
    fn hw_boards_need_an_alsa_pcm() {
        let port = "[[spi]]\nname='s'\ndevice='/dev/spidev0.0'\nmax_hz=1000000\n\
                    [[port]]\nkind='fxs'\nbackend='hw'\nchip='si3215'\nspi='s'\n";
        assert_eq!(sorted_paths(&format!("name='x'\n{port}")), ["pcm"]);
        assert_eq!(
            sorted_paths(&format!(
                "name='x'\n[pcm]\ndevice='sim'\nrate=16000\nperiods=1\nchannels=1\n{port}pcm_channel=1\n"
            )),
            ["pcm.device", "pcm.periods", "pcm.rate", "port[0].pcm_channel"]
        );
        let def = BoardDef::parse(&format!(
            "name='x'\n[pcm]\ndevice='hw:Loopback,0,0'\ncapture='hw:Loopback,1,0'\n{port}"
        ))
        .unwrap();
        assert_eq!(def.backend(), Backend::Hw);
        assert_eq!(def.pcm.unwrap().capture.as_deref(), Some("hw:Loopback,1,0"));
    }

    #[test]
    fn gpio_lines_and_spi_devices_are_checked() {
        let p = sorted_paths(&format!(
            "{HW_HEAD}[[gpio]]\nname='again'\nchip='/dev/gpiochip0'\nline=1\ndirection='input'\n\
             [[spi]]\nname='bad'\ndevice='spidev0.1'\nmax_hz=1000\n\
             [[port]]\nkind='fxs'\nbackend='hw'\nchip='si3215'\nspi='s0'\n"
        ));
        assert_eq!(p, ["gpio[2].line", "spi[1].device"]);
    }

    #[test]
    fn sim_ports_have_no_chip_and_daa_countries_are_known() {
        assert_eq!(
            sorted_paths("name='x'\n[[port]]\nkind='fxs'\nbackend='sim'\nchip='si3215'\ncountry='us'\n"),
            ["port[0].chip", "port[0].country"]
        );
        let daa = |c: &str| {
            format!(
                "name='x'\n[pcm]\ndevice='hw:0'\n[[spi]]\nname='d'\ndevice='/dev/spidev0.0'\nmax_hz=1000000\n\
                 [[port]]\nkind='fxo'\nbackend='hw'\nchip='si3050'\nspi='d'\ncountry='{c}'\n"
            )
        };
        assert!(BoardDef::parse(&daa("DE")).is_ok());
        assert_eq!(sorted_paths(&daa("xx")), ["port[0].country"]);
    }
}
