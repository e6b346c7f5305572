//! The in-memory log the web page's log view shows: a bounded ring of recent lines that the
//! process writes to (and mirrors to stderr), so a board without persistent storage still has
//! its recent history one click away.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// `[log] sip_trace`: every SIP message sent and received goes into the log.
static SIP_TRACE: AtomicBool = AtomicBool::new(false);

/// Follows `[log] sip_trace` (at start and on every saved change).
pub fn set_sip_trace(on: bool) {
    SIP_TRACE.store(on, Ordering::Relaxed);
}

/// Longest message text kept in one trace line; a longer one is cut, saying so.
const SIP_TRACE_MAX: usize = 6000;

/// Records one SIP message when the trace is on: a header line saying which way, the
/// transport and the peer, then the message as text.
pub fn sip_message(sent: bool, transport: &str, peer: SocketAddr, data: &[u8]) {
    if !SIP_TRACE.load(Ordering::Relaxed) {
        return;
    }
    info(sip_trace_text(sent, transport, peer, data));
}

fn sip_trace_text(sent: bool, transport: &str, peer: SocketAddr, data: &[u8]) -> String {
    let (way, prep) = if sent {
        ("sent", "to")
    } else {
        ("received", "from")
    };
    let shown = &data[..data.len().min(SIP_TRACE_MAX)];
    let mut text = format!(
        "SIP {way} {prep} {transport}:{peer} ({} bytes)\n{}",
        data.len(),
        String::from_utf8_lossy(shown).trim_end()
    );
    if shown.len() < data.len() {
        text.push_str(&format!("\n[{} more bytes not shown]", data.len() - shown.len()));
    }
    text
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
    fn sip_trace_lines_say_which_way_and_cut_long_messages() {
        let peer: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let t = sip_trace_text(true, "UDP", peer, b"OPTIONS sip:a@b SIP/2.0\r\n\r\n");
        assert_eq!(
            t,
            "SIP sent to UDP:127.0.0.1:5060 (27 bytes)\nOPTIONS sip:a@b SIP/2.0"
        );
        let long = vec![b'x'; SIP_TRACE_MAX + 10];
        let t = sip_trace_text(false, "TCP", peer, &long);
        assert!(t.starts_with("SIP received from TCP:127.0.0.1:5060 (6010 bytes)\nxxx"));
        assert!(t.ends_with("\n[10 more bytes not shown]"), "{t}");
    }

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
