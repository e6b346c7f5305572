//! Real peers of the end-to-end call tests and the measurements made on what they hear.
//!
//! - [`Sipp`]: sipp running a scenario of `tests/sipp/` for one call, playing RTP of a tone
//!   encoded by sox ([`write_tone_pcap`]);
//! - [`Capture`]: tshark recording the RTP the gateway sends to a port; Wireshark's RTP
//!   dissector extracts the payload and sox decodes it ([`Capture::audio`]);
//! - [`assert_tone`], [`tone_share_db`], [`rms`]: Goertzel and level measurements;
//! - [`require`]: a tool that is missing fails the test when `CI` is set, else skips it;
//! - [`free_udp_port`]: UDP ports handed out so that parallel tests never draw the same one.
//!
//! No part of an audio check runs through the gateway's own codecs.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{scratch_dir, workspace_root};

/// The tone sipp plays toward the gateway.
pub const SIPP_HZ: f32 = 1000.0;

/// Whether `tool` is installed: with `CI` set a missing tool fails the test (it must not
/// pass without its peer); otherwise the test says so and skips.
pub fn require(tool: &str) -> bool {
    crate::kamailio::tool(tool)
}

/// A codec as sipp, sox and the gateway's configuration name it.
#[derive(Clone, Copy, Debug)]
pub struct Codec {
    pub pt: u8,
    pub name: &'static str,
    pub sox_type: &'static str,
    /// Payload bytes per 20 ms.
    pub frame: usize,
    /// The name in the gateway's `codecs` list.
    pub config: &'static str,
}

pub const PCMU: Codec = Codec {
    pt: 0,
    name: "PCMU",
    sox_type: "ul",
    frame: 160,
    config: "pcmu",
};
pub const PCMA: Codec = Codec {
    pt: 8,
    name: "PCMA",
    sox_type: "al",
    frame: 160,
    config: "pcma",
};
pub const GSM: Codec = Codec {
    pt: 3,
    name: "GSM",
    sox_type: "gsm",
    frame: 33,
    config: "gsm",
};

/// A port on 127.0.0.1 free for both UDP and TCP, with the four after it free too (sipp's
/// media takes RTP, RTCP and the video pair; baresip listens on UDP and TCP). Ports come from a
/// per-process sequence, so that tests running in parallel never draw the same one, outside the
/// kernel's ephemeral range, so that no outgoing connection or port-0 bind takes one between
/// the check and the peer's bind.
pub fn free_udp_port() -> u16 {
    use std::net::{TcpListener, UdpSocket};
    use std::sync::atomic::{AtomicU32, Ordering};
    const SPAN: u32 = 6;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (lo, hi) = port_window();
    let slots = (hi - lo) / SPAN;
    let first = std::process::id().wrapping_mul(97) % slots;
    for _ in 0..slots {
        let slot = (first + NEXT.fetch_add(1, Ordering::SeqCst)) % slots;
        let p = (lo + slot * SPAN) as u16;
        let free = (p..p + 5).all(|q| {
            UdpSocket::bind(("127.0.0.1", q)).is_ok() && TcpListener::bind(("127.0.0.1", q)).is_ok()
        });
        if free {
            return p;
        }
    }
    panic!("no free block of 5 loopback ports in {lo}..{hi}");
}

/// The ports tests draw from: below the ephemeral range (`ip_local_port_range`), or above it
/// when it starts too low to leave room.
fn port_window() -> (u32, u32) {
    let eph = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    if eph.0 >= 12000 {
        (10000, eph.0)
    } else {
        (eph.1 + 1, 65500)
    }
}

/// An Ethernet pcap of RTP packets carrying `secs` of a `hz` tone encoded by sox, for sipp's
/// `play_pcap_audio`.
pub fn write_tone_pcap(dir: &Path, codec: Codec, hz: f32, secs: u32) -> PathBuf {
    let raw = dir.join(format!("tone.{}", codec.sox_type));
    let st = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-t", codec.sox_type])
        .arg(&raw)
        .args(["synth", &secs.to_string(), "sine", &hz.to_string(), "vol", "0.4"])
        .status()
        .expect("run sox");
    assert!(st.success(), "sox could not encode the tone");
    let payload = std::fs::read(&raw).expect("tone");
    let mut f = Vec::new();
    // Magic, version 2.4, zone, accuracy, snap length, LINKTYPE_ETHERNET.
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for (i, chunk) in payload.chunks_exact(codec.frame).enumerate() {
        let mut rtp = vec![0x80, codec.pt];
        rtp.extend_from_slice(&(i as u16).to_be_bytes());
        rtp.extend_from_slice(&(i as u32 * 160).to_be_bytes());
        rtp.extend_from_slice(&0x5eed_f00du32.to_be_bytes());
        rtp.extend_from_slice(chunk);
        let udp_len = 8 + rtp.len();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        let sum = ip
            .chunks(2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]) as u32)
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&40000u16.to_be_bytes());
        ip.extend_from_slice(&40002u16.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&rtp);
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&ip);
        let us = i as u64 * 20_000;
        f.extend_from_slice(&(1_700_000_000 + (us / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&frame);
    }
    let path = dir.join("audio.pcap");
    std::fs::write(&path, f).expect("write pcap");
    path
}

/// One sipp call.
pub struct SippCall<'a> {
    /// Names the scratch directory.
    pub name: &'a str,
    /// Scenario file in `tests/sipp/`.
    pub scenario: &'a str,
    /// sipp's SIP port.
    pub port: u16,
    /// sipp's RTP port (the next three are taken too).
    pub media_port: u16,
    /// Codec offered or answered, and of the tone played.
    pub codec: Codec,
    /// Where a calling scenario sends its INVITE, and the Request-URI user (`-s`).
    pub target: Option<(SocketAddr, &'a str)>,
    /// Seconds of tone in the pcap.
    pub tone_secs: u32,
}

/// sipp in its own process group, killed when dropped.
pub struct Sipp {
    child: Child,
    log: PathBuf,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sipp {
    /// Starts sipp for one call; panics (with CI) or returns `None` when sipp or sox is missing.
    pub fn start(c: SippCall) -> Option<Sipp> {
        if !require("sipp") || !require("sox") {
            return None;
        }
        let dir = scratch_dir(&format!("sipp-{}-{}", c.name, c.codec.name));
        write_tone_pcap(&dir, c.codec, SIPP_HZ, c.tone_secs);
        let inf = dir.join("fields.csv");
        std::fs::write(&inf, format!("SEQUENTIAL\n{};{}\n", c.codec.pt, c.codec.name))
            .expect("injection file");
        let inf_args = [std::ffi::OsStr::new("-inf"), inf.as_os_str()];
        Some(Sipp::spawn(
            &dir,
            c.scenario,
            c.port,
            c.media_port,
            &inf_args,
            c.target,
        ))
    }

    /// sipp in `dir` running `scenario` (tests/sipp/) for one call on `port`, media on
    /// `media_port`, with `extra` arguments; `target` makes it call that address with that
    /// Request-URI user (`-s`). Its errors go to `dir/sipp-errors.log`.
    pub fn spawn(
        dir: &Path,
        scenario: &str,
        port: u16,
        media_port: u16,
        extra: &[&std::ffi::OsStr],
        target: Option<(SocketAddr, &str)>,
    ) -> Sipp {
        let log = dir.join("sipp-errors.log");
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf")
            .arg(workspace_root().join("tests/sipp").join(scenario))
            .args(extra)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media_port.to_string()])
            .args([
                "-m",
                "1",
                "-timeout",
                "40s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
            ])
            .arg("-error_file")
            .arg(&log)
            .current_dir(dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((t, service)) = target {
            cmd.args(["-s", service]).arg(t.to_string());
        }
        Sipp {
            child: cmd.spawn().expect("start sipp"),
            log,
        }
    }

    /// True once sipp has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Waits (bounded) for sipp to finish; true when its one call succeeded (its errors are
    /// printed otherwise).
    pub fn finished_ok(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                if !s.success() {
                    eprintln!(
                        "sipp errors:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    );
                }
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// tshark recording the UDP datagrams sent to a port on loopback.
pub struct Capture {
    child: Child,
    file: PathBuf,
    port: u16,
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts tshark recording loopback traffic matching `filter` into `file`, in its own process
/// group, and returns once dumpcap says "Capturing on 'Loopback: lo'".
pub fn start_tshark(filter: &str, file: &Path) -> Child {
    let mut child = Command::new("tshark")
        .args(["-i", "lo", "-f", filter, "-w"])
        .arg(file)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if l.contains("Capturing on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("tshark did not start capturing");
    child
}

impl Capture {
    /// Starts capturing and waits until tshark records; `None` (without CI) when tshark is
    /// missing.
    pub fn start(name: &str, port: u16) -> Option<Capture> {
        if !require("tshark") {
            return None;
        }
        let dir = scratch_dir(&format!("cap-{name}"));
        let file = dir.join("rtp.pcap");
        let child = start_tshark(&format!("udp dst port {port}"), &file);
        Some(Capture { child, file, port })
    }

    /// Stops the capture and returns the decoded audio of the RTP payload of `codec`'s
    /// payload type (as Wireshark's RTP dissector extracts it, decoded by sox).
    pub fn audio(self, codec: Codec) -> Vec<i16> {
        std::thread::sleep(Duration::from_millis(500));
        // SIGINT, so that tshark closes its capture file properly.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let mut this = self;
        let _ = this.child.wait();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&this.file)
            .args(["-d", &format!("udp.port=={},rtp", this.port), "-Y", "rtp"])
            .args(["-T", "fields", "-e", "rtp.p_type", "-e", "rtp.payload"])
            .output()
            .expect("run tshark");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut payload = Vec::new();
        for line in text.lines() {
            let mut it = line.split('\t');
            let (Some(pt), Some(hex)) = (it.next(), it.next()) else {
                continue;
            };
            if pt.trim() != codec.pt.to_string() {
                continue;
            }
            let hex: String = hex.chars().filter(|c| c.is_ascii_hexdigit()).collect();
            for i in (0..hex.len() / 2 * 2).step_by(2) {
                payload.push(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"));
            }
        }
        assert!(
            !payload.is_empty(),
            "tshark found no {} RTP toward port {}",
            codec.name,
            this.port
        );
        decode(&this.file.with_extension(codec.sox_type), codec, &payload)
    }
}

/// Decodes `payload` (raw `codec` frames) with sox through the file `enc`.
pub fn decode(enc: &Path, codec: Codec, payload: &[u8]) -> Vec<i16> {
    std::fs::write(enc, payload).expect("payload");
    let pcm = enc.with_extension("s16");
    let st = Command::new("sox")
        .args(["-t", codec.sox_type, "-r", "8000", "-c", "1"])
        .arg(enc)
        .args(["-t", "s16", "-r", "8000", "-c", "1"])
        .arg(&pcm)
        .status()
        .expect("run sox");
    assert!(st.success(), "sox could not decode {}", enc.display());
    read_s16(&pcm)
}

/// Raw signed 16-bit little-endian samples from a file.
pub fn read_s16(path: &Path) -> Vec<i16> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// RMS level of `x`.
pub fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Share of `x`'s power at `freq` (Goertzel, 8 kHz), in dB: 0 for a pure tone.
pub fn tone_share_db(x: &[i16], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    let mut energy = 0f32;
    for &v in x {
        let v = v as f32;
        energy += v * v;
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - c * s1 * s2;
    10.0 * ((2.0 * p / x.len() as f32) / energy.max(1.0)).log10()
}

/// The loudest whole second of `x` (8 kHz), if there is one.
pub fn loudest_second(x: &[i16]) -> Option<&[i16]> {
    x.chunks(8000)
        .filter(|c| c.len() == 8000)
        .max_by_key(|c| c.iter().map(|&v| (v as i64).pow(2)).sum::<i64>())
}

/// Asserts that the loudest second of `x` is a tone of `freq` (rms above 300, at least half of
/// the power at `freq`); returns (rms, share in dB) for the report.
pub fn assert_tone(what: &str, x: &[i16], freq: f32) -> (f64, f32) {
    let Some(sec) = loudest_second(x) else {
        panic!("{what}: less than a second of audio ({} samples)", x.len())
    };
    let level = rms(sec);
    let share = tone_share_db(sec, freq);
    eprintln!("{what}: rms {level:.0}, {freq} Hz share {share:.1} dB");
    assert!(level > 300.0, "{what}: silence (rms {level:.0})");
    assert!(share > -3.0, "{what}: not the {freq} Hz tone ({share:.1} dB)");
    (level, share)
}
