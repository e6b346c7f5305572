//! Board definitions: the data in `board/boards/*.toml` saying what hardware a board has and how
//! the HAL reaches it: the ports (FXS/FXO) and the backend driving each, the PCM device, the
//! GPIO lines and SPI devices the line drivers use, the LEDs and the hardware watchdog.
//!
//! Everything here is data checked once at start-up ([`BoardDef::parse`]): a reference to an
//! unknown GPIO or SPI name, a duplicate name or an impossible value is a typed error naming the
//! field, never a failure later on the line.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::model::PortKind;
use super::validate::{ConfigError, ConfigErrors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The simulation protocol of docs/sim-protocol.md, over a loopback TCP socket or, with
    /// `device`, over a character device (a virtio-serial port in the QEMU board).
    Sim,
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
    /// Names of `[[gpio]]` lines the driver uses, by role (`reset`, `interrupt`, `ring`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpio: Vec<GpioUse>,
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
    /// `sim` (the simulated board's clock) or an ALSA PCM name such as `hw:0,0`.
    pub device: String,
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
backend = "sim"
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
            "name='x'\n[[port]]\nkind='fxs'\nbackend='sim'\nspi='nope'\ngpio=[{role='reset',line='r'}]\n\
             [[led]]\nname='l'\nfunction='power'\ngpio='g'\n",
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
}
