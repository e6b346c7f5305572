//! Opening a board whose ports are line chips (`backend = "hw"` in its board file): each port's
//! SLIC or DAA brought up on its spidev device and GPIO lines, the ports' audio on channels of
//! the board's ALSA PCM, and the media loop started over them, as `app::open_board` does for
//! the simulated board.
//!
//! The board file is resolved first into plain values ([`resolve_ports`], [`pcm_plan`]: no
//! device is touched, so these work in every build). Opening the devices needs the crate
//! feature `linux` (hal's Linux backend); a build without it refuses a `hw` board with
//! [`HwBoardError::NotBuilt`].
//!
//! Port `n` of the board is channel `n` of the media loop's PCM bus; the bus maps it onto the
//! ALSA device channel the board file gives as the port's `pcm_channel`. The chips run 16-bit
//! linear samples in the matching TDM slots (channel `c` in 8-bit timeslots `2c`, `2c + 1`),
//! the format the ALSA backend exchanges.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use hal::drivers::si3050::Country;
use hal::drivers::{ChipKind, Companding, PcmSlot};

use crate::config::board::{Backend, BoardDef};
use crate::config::model::PortKind;
use crate::media::MediaHandle;

/// A spidev device a chip is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiBus {
    pub device: String,
    pub max_hz: u32,
    pub mode: u8,
}

/// A GPIO line of the character device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioLine {
    pub chip: String,
    pub line: u32,
    pub active_low: bool,
}

/// One port of a `hw` board with every reference of its board file entry resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwPort {
    /// Port number (its index in the board file).
    pub index: u8,
    pub kind: PortKind,
    /// The chip name the board file gives (`si3215`, ...).
    pub chip: String,
    pub chip_kind: ChipKind,
    pub spi: Option<SpiBus>,
    /// Lines by role name.
    pub gpio: Vec<(String, GpioLine)>,
    /// ALSA device channel carrying the port's audio.
    pub pcm_channel: u8,
    /// DAA line settings.
    pub country: Country,
}

impl HwPort {
    /// The line given role `role`.
    pub fn gpio(&self, role: &str) -> Option<&GpioLine> {
        self.gpio.iter().find(|(r, _)| r == role).map(|(_, l)| l)
    }

    /// Where the chip sits on the PCM highway: 16-bit linear on the port's device channel.
    pub fn pcm_slot(&self) -> PcmSlot {
        PcmSlot::channel(self.pcm_channel, Companding::Linear16)
    }
}

/// The ALSA side of a `hw` board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcmPlan {
    pub playback: String,
    pub capture: String,
    /// Channels the device is opened with.
    pub device_channels: u32,
    /// `map[n]`: the device channel of port `n` (bus channel `n`).
    pub map: Vec<usize>,
    /// 10 ms periods per ALSA buffer, and how many of them are queued ahead on playback.
    pub periods: u32,
    pub prefill: u32,
}

/// Why a `hw` board could not be opened.
#[derive(Debug)]
pub enum HwBoardError {
    /// This gatewayd was built without the Linux hardware backend (crate feature `linux`).
    NotBuilt,
    /// The board file does not describe a `hw` board completely (one not checked with
    /// [`BoardDef::validate`]); `path` names the key.
    Definition { path: String, message: &'static str },
    /// A port's line chip could not be brought up.
    #[cfg(feature = "linux")]
    Port {
        port: u8,
        chip: String,
        error: hal::linux::lines::OpenLineError,
    },
    /// The ALSA PCM could not be opened.
    #[cfg(feature = "linux")]
    Pcm(hal::linux::pcm::OpenError),
    /// The media loop thread could not start.
    Media(io::Error),
}

impl fmt::Display for HwBoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HwBoardError::NotBuilt => f.write_str(
                "this board's ports are line chips (backend = \"hw\") but gatewayd was built without \
                 the hardware backend (cargo feature `linux` of the gateway crate)",
            ),
            HwBoardError::Definition { path, message } => write!(f, "board file, {path}: {message}"),
            #[cfg(feature = "linux")]
            HwBoardError::Port { port, chip, error } => write!(f, "port {port} ({chip}): {error}"),
            #[cfg(feature = "linux")]
            HwBoardError::Pcm(e) => write!(f, "PCM: {e}"),
            HwBoardError::Media(e) => write!(f, "media loop: {e}"),
        }
    }
}

impl std::error::Error for HwBoardError {}

impl From<HwBoardError> for io::Error {
    fn from(e: HwBoardError) -> io::Error {
        match e {
            HwBoardError::Media(e) => e,
            #[cfg(feature = "linux")]
            HwBoardError::Port {
                error: hal::linux::lines::OpenLineError::Io(ref io),
                ..
            } => io::Error::new(io.kind(), e.to_string()),
            HwBoardError::NotBuilt => io::Error::new(io::ErrorKind::Unsupported, e.to_string()),
            other => io::Error::other(other.to_string()),
        }
    }
}

/// An opened `hw` board: the media loop running over its chips and PCM.
pub struct HwBoard {
    pub media: MediaHandle,
    /// Ports in board order, for the status page (no socket addresses on real lines).
    pub port_addrs: Vec<(u8, PortKind, Option<SocketAddr>)>,
    /// What was found on each port, e.g. `port 0 FXS: si3215 (Si3215 revision 3) on /dev/spidev0.0, PCM channel 0`.
    pub found: Vec<String>,
}

fn missing(path: String, message: &'static str) -> HwBoardError {
    HwBoardError::Definition { path, message }
}

/// Resolves every port of a `hw` board: chip, SPI device, GPIO lines by role, PCM channel.
pub fn resolve_ports(def: &BoardDef) -> Result<Vec<HwPort>, HwBoardError> {
    let mut ports = Vec::with_capacity(def.ports.len());
    for (i, p) in def.ports.iter().enumerate() {
        if p.backend != Backend::Hw {
            return Err(missing(format!("port[{i}].backend"), "not a hw port"));
        }
        let name = p
            .chip
            .as_deref()
            .ok_or_else(|| missing(format!("port[{i}].chip"), "no line chip named"))?;
        let chip_kind =
            ChipKind::from_name(name).ok_or_else(|| missing(format!("port[{i}].chip"), "unknown chip"))?;
        let spi = match &p.spi {
            None => None,
            Some(s) => {
                let d = def
                    .spi
                    .iter()
                    .find(|d| &d.name == s)
                    .ok_or_else(|| missing(format!("port[{i}].spi"), "no such [[spi]]"))?;
                Some(SpiBus {
                    device: d.device.clone(),
                    max_hz: d.max_hz,
                    mode: d.mode,
                })
            }
        };
        if chip_kind.on_spi() && spi.is_none() {
            return Err(missing(
                format!("port[{i}].spi"),
                "the chip is on SPI but no [[spi]] is named",
            ));
        }
        let mut gpio = Vec::with_capacity(p.gpio.len());
        for (j, g) in p.gpio.iter().enumerate() {
            let d = def
                .gpios
                .iter()
                .find(|d| d.name == g.line)
                .ok_or_else(|| missing(format!("port[{i}].gpio[{j}].line"), "no such [[gpio]]"))?;
            gpio.push((
                g.role.clone(),
                GpioLine {
                    chip: d.chip.clone(),
                    line: d.line,
                    active_low: d.active_low,
                },
            ));
        }
        let country = match &p.country {
            None => Country::Fcc,
            Some(c) => Country::from_code(&c.to_ascii_lowercase())
                .ok_or_else(|| missing(format!("port[{i}].country"), "no DAA line settings for it"))?,
        };
        ports.push(HwPort {
            index: i as u8,
            kind: p.kind,
            chip: name.to_string(),
            chip_kind,
            spi,
            gpio,
            pcm_channel: def.pcm_channel(i).unwrap_or(i as u8),
            country,
        });
    }
    Ok(ports)
}

/// The ALSA devices, channel map and buffering of a `hw` board.
pub fn pcm_plan(def: &BoardDef) -> Result<PcmPlan, HwBoardError> {
    let pcm = def
        .pcm
        .as_ref()
        .ok_or_else(|| missing("pcm".into(), "a hw board names its ALSA PCM in [pcm]"))?;
    let map: Vec<usize> = (0..def.ports.len())
        .map(|i| usize::from(def.pcm_channel(i).unwrap_or(i as u8)))
        .collect();
    let highest = map.iter().copied().max().unwrap_or(0) as u32;
    let device_channels = if pcm.channels == 0 {
        highest + 1
    } else {
        u32::from(pcm.channels)
    };
    if highest >= device_channels {
        return Err(missing(
            "pcm.channels".into(),
            "fewer channels than the ports use",
        ));
    }
    let periods = pcm.periods.unwrap_or(4);
    if periods < 2 {
        return Err(missing("pcm.periods".into(), "at least 2 periods"));
    }
    Ok(PcmPlan {
        playback: pcm.device.clone(),
        capture: pcm.capture.clone().unwrap_or_else(|| pcm.device.clone()),
        device_channels,
        map,
        periods,
        // Half the buffer queued ahead: room to absorb a late tick both ways.
        prefill: (periods / 2).max(1),
    })
}

/// Opens the board's chips and PCM and starts the media loop on them.
pub fn open(def: &BoardDef) -> Result<HwBoard, HwBoardError> {
    #[cfg(feature = "linux")]
    {
        linux::open_with(def, &mut linux::ChipOpener, crate::media::MediaConfig::default())
    }
    #[cfg(not(feature = "linux"))]
    {
        let _ = def;
        Err(HwBoardError::NotBuilt)
    }
}

#[cfg(feature = "linux")]
pub use linux::{ChipOpener, LineOpener, open_with};

#[cfg(feature = "linux")]
mod linux {
    use hal::drivers::ag1171::Ag1171Config;
    use hal::drivers::roles;
    use hal::drivers::si321x::Si321xConfig;
    use hal::drivers::si3050::Si3050Config;
    use hal::fxo::FxoLine;
    use hal::fxs::FxsLine;
    use hal::linux::lines::{self, GpioParams, OpenLineError, SpiParams};
    use hal::linux::pcm::{AlsaPcm, AlsaPcmConfig};

    use super::{HwBoard, HwBoardError, HwPort, pcm_plan, resolve_ports};
    use crate::config::board::BoardDef;
    use crate::config::model::PortKind;
    use crate::media::{MediaConfig, MediaEngine, PortLines};

    /// Brings up one port's line chip. [`ChipOpener`] is the real one; tests substitute lines
    /// that need no hardware.
    pub trait LineOpener {
        /// Opens an FXS port's chip; returns the line and a description of what was found.
        fn open_fxs(&mut self, port: &HwPort) -> Result<(Box<dyn FxsLine + Send>, String), OpenLineError>;
        /// Opens an FXO port's chip.
        fn open_fxo(&mut self, port: &HwPort) -> Result<(Box<dyn FxoLine + Send>, String), OpenLineError>;
    }

    /// The chips themselves, over spidev and the GPIO character device.
    pub struct ChipOpener;

    fn spi(port: &HwPort) -> Result<SpiParams<'_>, OpenLineError> {
        let s = port
            .spi
            .as_ref()
            .ok_or(OpenLineError::Line(hal::LineError::Unsupported))?;
        Ok(SpiParams {
            device: &s.device,
            max_hz: s.max_hz,
            mode: s.mode,
        })
    }

    fn gpio<'a>(port: &'a HwPort, role: &str) -> Option<GpioParams<'a>> {
        port.gpio(role).map(|g| GpioParams {
            chip: &g.chip,
            line: g.line,
            active_low: g.active_low,
        })
    }

    fn required<'a>(port: &'a HwPort, role: &str) -> Result<GpioParams<'a>, OpenLineError> {
        gpio(port, role).ok_or_else(|| {
            OpenLineError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("no '{role}' line given"),
            ))
        })
    }

    impl LineOpener for ChipOpener {
        fn open_fxs(&mut self, port: &HwPort) -> Result<(Box<dyn FxsLine + Send>, String), OpenLineError> {
            match port.chip_kind {
                hal::drivers::ChipKind::GpioSlic => {
                    let slic = lines::open_ag1171(
                        required(port, roles::RING_MODE)?,
                        required(port, roles::FORWARD_REVERSE)?,
                        required(port, roles::SWITCH_HOOK)?,
                        Ag1171Config::default(),
                    )?;
                    let shk = port
                        .gpio(roles::SWITCH_HOOK)
                        .map(|g| format!("{} line {}", g.chip, g.line));
                    Ok((
                        Box::new(slic),
                        format!("switch-hook on {}", shk.unwrap_or_default()),
                    ))
                }
                _ => {
                    let cfg = Si321xConfig {
                        pcm: port.pcm_slot(),
                        ..Si321xConfig::default()
                    };
                    let (slic, id) = lines::open_si321x(spi(port)?, gpio(port, roles::RESET), cfg)?;
                    Ok((Box::new(slic), format!("{:?} revision {}", id.part, id.revision)))
                }
            }
        }

        fn open_fxo(&mut self, port: &HwPort) -> Result<(Box<dyn FxoLine + Send>, String), OpenLineError> {
            let cfg = Si3050Config {
                pcm: port.pcm_slot(),
                country: port.country,
                ..Si3050Config::default()
            };
            let (daa, id) = lines::open_si3050(spi(port)?, gpio(port, roles::RESET), cfg)?;
            Ok((
                Box::new(daa),
                format!(
                    "revision {}, line side {:?}, {:?} line settings",
                    id.system_revision, id.line_side, port.country
                ),
            ))
        }
    }

    /// Opens a `hw` board with `opener` bringing up the chips, then its ALSA PCM, and starts
    /// the media loop with `media`.
    pub fn open_with(
        def: &BoardDef,
        opener: &mut dyn LineOpener,
        media: MediaConfig,
    ) -> Result<HwBoard, HwBoardError> {
        let ports = resolve_ports(def)?;
        let plan = pcm_plan(def)?;
        let mut lines = Vec::with_capacity(ports.len());
        let mut found = Vec::with_capacity(ports.len());
        let mut port_addrs = Vec::with_capacity(ports.len());
        // Chips first: their bring-up takes up to a second, and the PCM must not run meanwhile
        // (its queued periods would underrun before the first tick).
        for p in &ports {
            let fail = |error| HwBoardError::Port {
                port: p.index,
                chip: p.chip.clone(),
                error,
            };
            let on = p
                .spi
                .as_ref()
                .map_or_else(|| "GPIO".to_string(), |s| s.device.clone());
            let id = p.index;
            let pcm_channel = usize::from(id);
            let what = match p.kind {
                PortKind::Fxs => {
                    let (line, what) = opener.open_fxs(p).map_err(fail)?;
                    lines.push(PortLines::Fxs {
                        id,
                        pcm_channel,
                        line,
                    });
                    what
                }
                PortKind::Fxo => {
                    let (line, what) = opener.open_fxo(p).map_err(fail)?;
                    lines.push(PortLines::Fxo {
                        id,
                        pcm_channel,
                        line,
                    });
                    what
                }
            };
            let kind = match p.kind {
                PortKind::Fxs => "FXS",
                PortKind::Fxo => "FXO",
            };
            found.push(format!(
                "port {id} {kind}: {} ({what}) on {on}, PCM channel {}",
                p.chip, p.pcm_channel
            ));
            port_addrs.push((id, p.kind, None));
        }
        let cfg = AlsaPcmConfig {
            playback: plan.playback.clone(),
            capture: plan.capture.clone(),
            device_channels: plan.device_channels,
            map: plan.map.clone(),
            periods: plan.periods,
            prefill: plan.prefill,
        };
        let pcm = AlsaPcm::open(&cfg).map_err(HwBoardError::Pcm)?;
        for f in &found {
            eprintln!("hw board: {f}");
        }
        eprintln!(
            "hw board: PCM {} / {}, {} device channels, {} periods of 10 ms",
            plan.playback, plan.capture, plan.device_channels, plan.periods
        );
        let (engine, mut handle) = MediaEngine::with_config(Box::new(pcm), lines, media);
        engine.spawn(&mut handle).map_err(HwBoardError::Media)?;
        Ok(HwBoard {
            media: handle,
            port_addrs,
            found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOARD: &str = include_str!("../../board/boards/example-si3215-si3050.toml");

    #[test]
    fn example_board_resolves() {
        let def = BoardDef::parse(BOARD).unwrap();
        assert_eq!(def.backend(), Backend::Hw);
        let ports = resolve_ports(&def).unwrap();
        let kinds: Vec<(PortKind, ChipKind)> = ports.iter().map(|p| (p.kind, p.chip_kind)).collect();
        assert_eq!(
            kinds,
            [
                (PortKind::Fxs, ChipKind::ProSlic),
                (PortKind::Fxs, ChipKind::ProSlic),
                (PortKind::Fxo, ChipKind::VoiceDaa)
            ]
        );
        assert_eq!(ports[0].spi.as_ref().unwrap().device, "/dev/spidev0.0");
        assert_eq!(ports[0].spi.as_ref().unwrap().mode, 3);
        let reset = ports[0].gpio("reset").unwrap();
        assert_eq!((reset.chip.as_str(), reset.line), ("/dev/gpiochip0", 17));
        assert_eq!(ports[2].country, Country::Tbr21);
        // 16-bit slots: device channel 2 is timeslots 4 and 5.
        assert_eq!(ports[2].pcm_slot().tx_timeslot, 4);
        let plan = pcm_plan(&def).unwrap();
        assert_eq!(plan.playback, "hw:0,0");
        assert_eq!(plan.capture, "hw:0,0");
        assert_eq!(plan.map, [0, 1, 2]);
        assert_eq!(plan.device_channels, 4);
        assert!(plan.prefill < plan.periods);
    }

    #[test]
    fn channel_map_follows_pcm_channel() {
        let def = BoardDef::parse(
            "name='x'\n[pcm]\ndevice='hw:Loopback,0,0'\ncapture='hw:Loopback,1,0'\nperiods=6\n\
             [[gpio]]\nname='rm'\nchip='/dev/gpiochip0'\nline=1\ndirection='output'\n\
             [[gpio]]\nname='fr'\nchip='/dev/gpiochip0'\nline=2\ndirection='output'\n\
             [[gpio]]\nname='shk'\nchip='/dev/gpiochip0'\nline=3\nactive_low=true\ndirection='input'\n\
             [[port]]\nkind='fxs'\nbackend='hw'\nchip='ag1171'\npcm_channel=1\n\
             gpio=[{role='ring_mode',line='rm'},{role='forward_reverse',line='fr'},{role='switch_hook',line='shk'}]\n",
        )
        .unwrap();
        let plan = pcm_plan(&def).unwrap();
        assert_eq!(
            (plan.map.as_slice(), plan.device_channels),
            ([1usize].as_slice(), 2)
        );
        assert_eq!(plan.capture, "hw:Loopback,1,0");
        assert_eq!((plan.periods, plan.prefill), (6, 3));
        let ports = resolve_ports(&def).unwrap();
        assert!(ports[0].spi.is_none());
        assert!(ports[0].gpio("switch_hook").unwrap().active_low);
    }

    #[test]
    fn sim_boards_are_not_hw_boards() {
        let e = resolve_ports(&BoardDef::sim()).unwrap_err();
        assert!(e.to_string().contains("port[0].backend"), "{e}");
        assert!(pcm_plan(&BoardDef::sim()).is_err());
    }

    #[cfg(not(feature = "linux"))]
    #[test]
    fn without_the_backend_a_hw_board_is_refused_clearly() {
        let Err(e) = open(&BoardDef::parse(BOARD).unwrap()) else {
            panic!("opened a hw board without the backend");
        };
        assert!(matches!(e, HwBoardError::NotBuilt));
        assert!(e.to_string().contains("feature `linux`"));
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::Unsupported);
    }

    #[cfg(feature = "linux")]
    mod linux_backend {
        use std::time::{Duration, Instant as WallClock};

        use hal::fxo::{FxoLine, FxoReading};
        use hal::fxs::{FxsLine, Hook, HookSample, LineFeed};
        use hal::linux::lines::OpenLineError;
        use hal::linux::pcm::tone_power;
        use hal::{Instant, LineError};

        use super::*;
        use crate::media::{LineEventKind, MediaCommand, MediaConfig, MediaEvent};

        /// A phone lifted from the start.
        struct OffHookPhone;

        impl FxsLine for OffHookPhone {
            fn set_feed(&mut self, _feed: LineFeed) -> Result<(), LineError> {
                Ok(())
            }
            fn poll(&mut self, _now: Instant) -> Result<HookSample, LineError> {
                Ok(HookSample {
                    hook: Hook::OffHook,
                    changed_at: None,
                })
            }
        }

        /// An idle exchange line. ALSA's null and file plugins have no clock, so the loop
        /// would spin; a millisecond per read keeps the output file small.
        struct IdleLine;

        impl FxoLine for IdleLine {
            fn set_off_hook(&mut self, _off_hook: bool) -> Result<(), LineError> {
                Ok(())
            }
            fn read(&mut self, _now: Instant) -> Result<FxoReading, LineError> {
                std::thread::sleep(Duration::from_millis(1));
                Ok(FxoReading {
                    ringing: false,
                    tip_ring_volts: -48,
                    loop_current_ma: 0,
                })
            }
        }

        struct Fakes {
            opened: Vec<u8>,
            fail_port: Option<u8>,
        }

        impl LineOpener for Fakes {
            fn open_fxs(
                &mut self,
                port: &HwPort,
            ) -> Result<(Box<dyn FxsLine + Send>, String), OpenLineError> {
                if self.fail_port == Some(port.index) {
                    return Err(OpenLineError::Line(LineError::NoResponse));
                }
                self.opened.push(port.index);
                Ok((Box::new(OffHookPhone), "fake".into()))
            }
            fn open_fxo(
                &mut self,
                port: &HwPort,
            ) -> Result<(Box<dyn FxoLine + Send>, String), OpenLineError> {
                self.opened.push(port.index);
                Ok((Box::new(IdleLine), "fake".into()))
            }
        }

        fn quiet() -> MediaConfig {
            MediaConfig {
                rt_priority: 0,
                lock_memory: false,
                ..MediaConfig::default()
            }
        }

        fn board(playback: &str) -> BoardDef {
            // FXS port 0 on device channel 2, FXO port 1 on device channel 0, channel 1 unused.
            BoardDef::parse(&format!(
                "name='fake'\n[pcm]\ndevice='{playback}'\ncapture='null'\nchannels=3\n\
                 [[spi]]\nname='slic'\ndevice='/dev/spidev0.0'\nmax_hz=1000000\nmode=3\n\
                 [[spi]]\nname='daa'\ndevice='/dev/spidev0.1'\nmax_hz=1000000\nmode=3\n\
                 [[port]]\nkind='fxs'\nbackend='hw'\nchip='si3215'\nspi='slic'\npcm_channel=2\n\
                 [[port]]\nkind='fxo'\nbackend='hw'\nchip='si3050'\nspi='daa'\npcm_channel=0\n"
            ))
            .unwrap()
        }

        #[test]
        fn opened_board_runs_the_media_loop_over_alsa_and_the_lines() {
            let dir = std::env::temp_dir().join(format!("gw-hwboard-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join("out.raw");
            let def = board(&format!("file:FILE={},FORMAT=raw", out.display()));
            let mut fakes = Fakes {
                opened: Vec::new(),
                fail_port: None,
            };
            let mut hw = open_with(&def, &mut fakes, quiet()).unwrap();
            assert_eq!(fakes.opened, [0, 1]);
            assert_eq!(
                hw.port_addrs,
                [(0, PortKind::Fxs, None), (1, PortKind::Fxo, None)]
            );
            assert!(hw.found[0].contains("PCM channel 2"), "{:?}", hw.found);
            hw.media
                .send(MediaCommand::PlayTone {
                    port: 0,
                    tone: codecs::tones::ToneKind::Dial,
                    over_audio: false,
                })
                .unwrap();
            let (mut off_hook, mut line_present) = (false, false);
            let deadline = WallClock::now() + Duration::from_secs(20);
            while !(off_hook && line_present) && WallClock::now() < deadline {
                match hw.media.poll_event() {
                    Some(MediaEvent::Line(ev)) => match ev.kind {
                        LineEventKind::Fxs(e) if ev.port == 0 => {
                            off_hook |= e.kind == hal::fxs::FxsEventKind::OffHook
                        }
                        LineEventKind::Fxo(e) if ev.port == 1 => {
                            line_present |= e.kind == hal::fxo::FxoEventKind::LinePresent
                        }
                        _ => {}
                    },
                    Some(_) => {}
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // Let the tone run for a while after the events.
            let start = hw.media.stats.ticks.load(std::sync::atomic::Ordering::Relaxed);
            while hw.media.stats.ticks.load(std::sync::atomic::Ordering::Relaxed) < start + 100
                && WallClock::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            hw.media.shutdown().unwrap();
            assert!(off_hook, "no off-hook event from port 0");
            assert!(line_present, "no line-present event from port 1");
            let bytes = std::fs::read(&out).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            let samples: Vec<i16> = bytes
                .chunks_exact(2)
                .map(|b| i16::from_ne_bytes([b[0], b[1]]))
                .collect();
            let channel = |c: usize| -> Vec<i16> { samples.iter().skip(c).step_by(3).copied().collect() };
            // Dial tone (350 + 440 Hz in the default plan) on port 0's device channel only.
            let dial = channel(2);
            let tail = &dial[dial.len().saturating_sub(4000)..];
            let total: f64 = tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64;
            let share = 2.0 * (tone_power(tail, 350.0) + tone_power(tail, 440.0)) / total;
            assert!(
                total > 1e4 && share > 0.8,
                "channel 2: power {total:.0}, dial tone share {share:.2}"
            );
            assert!(channel(0).iter().chain(&channel(1)).all(|&s| s == 0));
        }

        #[test]
        fn a_chip_that_does_not_answer_names_its_port() {
            let def = board("null");
            let mut fakes = Fakes {
                opened: Vec::new(),
                fail_port: Some(0),
            };
            let Err(e) = open_with(&def, &mut fakes, quiet()) else {
                panic!("opened a board whose chip did not answer");
            };
            assert!(fakes.opened.is_empty());
            let text = e.to_string();
            assert!(text.starts_with("port 0 (si3215): "), "{text}");
            assert!(matches!(e, HwBoardError::Port { port: 0, .. }));
        }

        #[test]
        fn missing_devices_and_pcms_are_clear_errors() {
            // The real chips: no spidev on the test host.
            let Err(e) = open_with(&board("null"), &mut ChipOpener, quiet()) else {
                panic!("opened a spidev that does not exist");
            };
            assert!(e.to_string().contains("/dev/spidev0.0"), "{e}");
            let mut fakes = Fakes {
                opened: Vec::new(),
                fail_port: None,
            };
            let Err(e) = open_with(&board("gw_no_such_pcm"), &mut fakes, quiet()) else {
                panic!("opened a PCM that does not exist");
            };
            assert!(matches!(e, HwBoardError::Pcm(_)));
            assert!(e.to_string().contains("gw_no_such_pcm"), "{e}");
        }
    }
}
