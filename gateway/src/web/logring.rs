//! The in-memory log the web page's log view shows: a bounded ring of recent lines that the
//! process writes to (and mirrors to stderr), so a board without persistent storage still has
//! its recent history one click away.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::LogLevel;

/// One logged line.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Sequence number, increasing; the page asks for lines after the last one it has.
    pub seq: u64,
    /// Wall-clock time, ms since the Unix epoch.
    pub at_ms: u64,
    pub level: LogLevel,
    pub text: String,
}

struct Ring {
    lines: VecDeque<LogLine>,
    cap: usize,
    next_seq: u64,
    level: LogLevel,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    lines: VecDeque::new(),
    cap: 1000,
    next_seq: 1,
    level: LogLevel::Info,
});

fn rank(l: LogLevel) -> u8 {
    match l {
        LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
        LogLevel::Trace => 4,
    }
}

/// Sets the ring's size and the most detailed level kept (from `[log]`).
pub fn configure(cap: usize, level: LogLevel) {
    let mut r = RING.lock().unwrap_or_else(|e| e.into_inner());
    r.cap = cap.max(1);
    r.level = level;
    while r.lines.len() > r.cap {
        r.lines.pop_front();
    }
}

/// Logs a line at `level`: to stderr and into the ring, when the configured level includes it.
pub fn log(level: LogLevel, text: impl Into<String>) {
    keep(level, text, true);
}

/// Puts a line into the ring only (for lines already printed elsewhere), when the configured
/// level includes it.
pub fn remember(level: LogLevel, text: impl Into<String>) {
    keep(level, text, false);
}

fn keep(level: LogLevel, text: impl Into<String>, print: bool) {
    let text = text.into();
    let mut r = RING.lock().unwrap_or_else(|e| e.into_inner());
    if rank(level) > rank(r.level) {
        return;
    }
    if print {
        eprintln!("{text}");
    }
    let at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let seq = r.next_seq;
    r.next_seq += 1;
    if r.lines.len() >= r.cap {
        r.lines.pop_front();
    }
    r.lines.push_back(LogLine {
        seq,
        at_ms,
        level,
        text,
    });
}

pub fn info(text: impl Into<String>) {
    log(LogLevel::Info, text)
}

pub fn warn(text: impl Into<String>) {
    log(LogLevel::Warn, text)
}

/// Lines with a sequence number above `after`, oldest first.
pub fn since(after: u64) -> Vec<LogLine> {
    let r = RING.lock().unwrap_or_else(|e| e.into_inner());
    r.lines.iter().filter(|l| l.seq > after).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_ordered() {
        configure(3, LogLevel::Debug);
        for i in 0..5 {
            info(format!("line {i}"));
        }
        log(LogLevel::Trace, "not kept");
        let v = since(0);
        let texts: Vec<&str> = v.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["line 2", "line 3", "line 4"]);
        assert!(v.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(since(v[1].seq).len(), 1);
        configure(1000, LogLevel::Info);
    }
}
