//! The hardware watchdog (`/dev/watchdog`), fed only while the gateway is healthy.
//!
//! The feeder runs on the control plane (a tokio task) and feeds only when the media loop's
//! tick counter has advanced since the last feed: a stalled control plane, a stuck media thread
//! or a dead process all stop the feeding, and the board resets after the timeout. A clean stop
//! writes the magic close character so a deliberate restart does not reset the board; a crash
//! leaves the watchdog armed, so the supervisor must restart gatewayd within the timeout.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::time::Duration;

use crate::config::board::WatchdogDef;

/// `_IOWR('W', 6, int)`: set the timeout in seconds (the driver writes back what it took).
const WDIOC_SETTIMEOUT: u64 = 0xC004_5706;

/// Decides, once per feed interval, whether the board is healthy enough to be fed.
#[derive(Debug, Clone, Default)]
pub struct FeedGate {
    last_ticks: Option<u64>,
    /// Intervals in a row without media progress.
    stalled: u32,
}

impl FeedGate {
    pub fn new() -> Self {
        FeedGate::default()
    }

    /// True when the media loop ticked since the previous call (the first call arms the gate
    /// and feeds, so the timeout starts from a fresh feed).
    pub fn should_feed(&mut self, ticks: u64) -> bool {
        let ok = match self.last_ticks {
            None => true,
            Some(prev) => ticks > prev,
        };
        self.last_ticks = Some(ticks);
        self.stalled = if ok { 0 } else { self.stalled.saturating_add(1) };
        ok
    }

    /// Feed intervals in a row on which the media loop did not advance.
    pub fn stalled_intervals(&self) -> u32 {
        self.stalled
    }
}

/// An open watchdog device.
pub struct Watchdog {
    file: File,
    timeout_s: u32,
}

impl Watchdog {
    /// Opens and arms the device, asking for `timeout_s` (the driver may round it).
    pub fn open(def: &WatchdogDef) -> io::Result<Watchdog> {
        let file = OpenOptions::new().write(true).open(&def.device)?;
        let mut t: libc::c_int = def.timeout_s as libc::c_int;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: WDIOC_SETTIMEOUT reads and writes one int through the pointer, which
            // points at a live c_int for the duration of the call.
            let r = unsafe {
                libc::ioctl(
                    file.as_raw_fd(),
                    WDIOC_SETTIMEOUT as _,
                    &mut t as *mut libc::c_int,
                )
            };
            if r != 0 {
                // A driver without a settable timeout keeps its own; feeding still works.
                t = def.timeout_s as libc::c_int;
            }
        }
        Ok(Watchdog {
            file,
            timeout_s: t.max(1) as u32,
        })
    }

    /// The timeout the driver accepted, in seconds.
    pub fn timeout_s(&self) -> u32 {
        self.timeout_s
    }

    /// Resets the countdown (any write is a keepalive).
    pub fn feed(&mut self) -> io::Result<()> {
        self.file.write_all(b"k")?;
        self.file.flush()
    }

    /// Stops the watchdog on a deliberate shutdown (the magic close; ignored by `nowayout`
    /// drivers, which keep counting: the supervisor restarts the process in time).
    pub fn disarm(mut self) {
        let _ = self.file.write_all(b"V");
    }
}

/// Feeds `def`'s device every `feed_interval_ms` while `ticks()` (the media loop's tick count) advances, until `stop` turns
/// true. Returns once stopped (disarming the watchdog) or at once if the device cannot be opened.
pub async fn run(def: WatchdogDef, ticks: impl Fn() -> u64, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut wd = match Watchdog::open(&def) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("watchdog: cannot open {}: {e}; running without it", def.device);
            return;
        }
    };
    eprintln!(
        "watchdog: {} armed, timeout {} s, fed while the media loop runs",
        def.device,
        wd.timeout_s()
    );
    let mut gate = FeedGate::new();
    let mut every = tokio::time::interval(Duration::from_millis(u64::from(def.feed_interval_ms)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => break,
        }
        if gate.should_feed(ticks()) {
            if let Err(e) = wd.feed() {
                eprintln!("watchdog: feed failed: {e}");
            }
        } else if gate.stalled_intervals() == 1 {
            eprintln!("watchdog: media loop stalled; not feeding");
        }
    }
    wd.disarm();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_only_while_ticks_advance() {
        let mut g = FeedGate::new();
        assert!(g.should_feed(0));
        assert!(g.should_feed(100));
        assert!(!g.should_feed(100));
        assert!(!g.should_feed(100));
        assert_eq!(g.stalled_intervals(), 2);
        assert!(g.should_feed(101));
        assert_eq!(g.stalled_intervals(), 0);
    }

    #[test]
    fn feeds_a_file_and_disarms_with_magic_close() {
        let dir = std::env::temp_dir().join(format!("gw-wd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dev = dir.join("watchdog");
        std::fs::write(&dev, b"").unwrap();
        let def = WatchdogDef {
            device: dev.to_string_lossy().into_owned(),
            timeout_s: 15,
            feed_interval_ms: 1000,
        };
        let mut wd = Watchdog::open(&def).unwrap();
        // A plain file takes no ioctl: the configured timeout stands.
        assert_eq!(wd.timeout_s(), 15);
        wd.feed().unwrap();
        wd.feed().unwrap();
        wd.disarm();
        assert_eq!(std::fs::read(&dev).unwrap(), b"kkV");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
