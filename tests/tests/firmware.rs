//! The aarch64 firmware image end to end, booted in QEMU (TCG):
//! builds the image (`board/image/build.sh`, which installs the cross toolchain, QEMU, the
//! Debian arm64 kernel and busybox as needed), starts Kamailio on the host
//! (`board/qemu/kamailio.cfg`), boots the image with `board/qemu/run.sh`, then checks
//! - the web page through the forwarded port: the first visit sets the administrator password,
//!   then the status page is read logged in (after each restart and reboot: logged in again);
//! - a virtual phone on the guest's FXS port (virtio-serial, host socket) reaching gatewayd;
//! - gatewayd's memory in the guest;
//! - a SIP account configured through the page's JSON API, then the page's Reboot button:
//!   the board reboots (boot seen again, uptime reset), the account survived on the
//!   configuration partition and gatewayd registers with Kamailio across QEMU's user-mode NAT
//!   (status API and Kamailio's location table);
//! - killing gatewayd: the supervisor restarts it, the page answers and it registers again;
//! - three calls in a row from a virtual phone on the guest's FXS port through the account:
//!   Kamailio hands each to sipp on the host, which answers and plays a tone; the phone hears it
//!   and the guest's RTP carries the phone's tone (audio through the NAT both ways on every
//!   call: the guest's RTP port range is forwarded port for port, and a pair freed by one call
//!   is used again by a later one); gatewayd's RSS during the first call;
//! - a hung gatewayd (stopped, so the watchdog is no longer fed) resetting the board;
//! - a clean power-off, and a second launch from the kept configuration disk: the runner
//!   forwards the RTP port range configured there; its time from launch to "registered" is
//!   recorded (printed, never asserted).
//!
//! The build takes minutes on a fresh clone; a missing toolchain fails the test with the
//! reason. Kamailio and sipp come from scripts/deps.sh (test-firmware.apt): with `CI` set their
//! absence fails the test, otherwise the test says why it stopped.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::kamailio::tool;
use e2e::{Kamailio, http_request, wait_until, workspace_root};
use hal::board::PortKind;
use hal::fxs::Hook;
use hal::sim::peer;
use hal::sim::proto::{Message, Role};

const BOARD: &str = "qemu-aarch64";
/// What the phone plays during the call, and what the far end plays.
const PHONE_HZ: f32 = 600.0;
const FAR_HZ: f32 = 1000.0;

/// A free loopback port, TCP and UDP, out of the ephemeral range.
fn free_tcp_port() -> u16 {
    e2e::peers::free_udp_port()
}

fn free_udp_port() -> u16 {
    e2e::peers::free_udp_port()
}

/// RTP/RTCP pairs in the guest's RTP port range: fewer than the calls made, so that a later
/// call takes a pair an earlier one freed.
const RTP_PAIRS: u16 = 2;
/// Calls made one after the other after the same gatewayd start.
const CALLS: usize = 3;

/// A free range of UDP ports for [`RTP_PAIRS`] RTP/RTCP pairs, starting at an even port.
fn free_rtp_range() -> (u16, u16) {
    for _ in 0..50 {
        let base = free_udp_port() & !1;
        let last = base + 2 * RTP_PAIRS - 1;
        if base > 1024
            && base < 65000
            && (base..=last).all(|p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok())
        {
            return (base, last);
        }
    }
    panic!("no {} consecutive free UDP ports", 2 * RTP_PAIRS);
}

/// Three consecutive free TCP ports for the board's line ports.
fn free_line_ports() -> u16 {
    for _ in 0..50 {
        let base = free_tcp_port();
        if base < 65000 && (0..3).all(|i| TcpListener::bind((Ipv4Addr::LOCALHOST, base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no three consecutive free TCP ports");
}

/// Host ports the runner forwards to the guest.
#[derive(Clone, Copy)]
struct Ports {
    web: u16,
    sip: u16,
    line: u16,
    /// The guest's RTP port range, forwarded port for port (the same numbers on the host);
    /// None: the runner forwards the range configured on the configuration disk.
    rtp: Option<(u16, u16)>,
}

/// The QEMU process and everything its serial console printed.
struct Guest {
    child: Child,
    console: ChildStdin,
    lines: Arc<Mutex<Vec<String>>>,
    web: SocketAddr,
    launched: Instant,
    /// The runner's state directory (QEMU's pid file is there).
    state: std::path::PathBuf,
    /// The web page's session cookie (`gw_session=...`).
    cookie: String,
    /// The session's CSRF token (sent with every POST/PUT once logged in).
    csrf: String,
}

impl Guest {
    fn boot(state: &std::path::Path, fresh: bool, ports: Ports) -> Guest {
        let Ports {
            web: web_port,
            sip: sip_port,
            line: line_port,
            rtp: rtp_port,
        } = ports;
        let mut runner = Command::new(workspace_root().join("board/qemu/run.sh"));
        match rtp_port {
            Some((lo, hi)) => runner.env("RTP_PORTS", format!("{lo}-{hi}")),
            None => runner.env_remove("RTP_PORTS"),
        };
        let mut child = runner
            .arg(BOARD)
            .env("STATE", state)
            .env("FRESH", if fresh { "1" } else { "0" })
            .env("WEB_PORT", web_port.to_string())
            .env("SIP_PORT", sip_port.to_string())
            .env("LINE_PORT", line_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start board/qemu/run.sh");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for r in [Box::new(out) as Box<dyn std::io::Read + Send>, Box::new(err)] {
            let l = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    let line = line.replace('\r', "");
                    eprintln!("guest| {line}");
                    l.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let console = child.stdin.take().expect("stdin");
        Guest {
            child,
            console,
            lines,
            web: SocketAddr::from((Ipv4Addr::LOCALHOST, web_port)),
            launched: Instant::now(),
            state: state.to_path_buf(),
            cookie: String::new(),
            csrf: String::new(),
        }
    }

    fn count(&self, needle: &str) -> usize {
        let l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        l.iter().filter(|x| x.contains(needle)).count()
    }

    /// Waits until `needle` has been printed more than `seen` times; returns the line.
    fn wait_line(&self, needle: &str, seen: usize, timeout: Duration) -> String {
        wait_until(timeout, || {
            let l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            l.iter().filter(|x| x.contains(needle)).nth(seen).cloned()
        })
        .unwrap_or_else(|| {
            panic!(
                "the guest did not print '{needle}' (occurrence {}) in {timeout:?}",
                seen + 1
            )
        })
    }

    fn run(&mut self, cmd: &str) {
        self.console
            .write_all(format!("{cmd}\n").as_bytes())
            .and_then(|_| self.console.flush())
            .expect("write to the guest console");
    }

    /// Runs `cmd` in the guest shell and returns its output line that starts with `tag`.
    fn query(&mut self, tag: &str, cmd: &str) -> String {
        // The console echoes the command: the marker is assembled by the shell so that only
        // the output contains it.
        let mark = format!("{tag}:=");
        let seen = self.count(&mark);
        self.run(&format!("t={tag}; echo \"$t:=$({cmd})\""));
        let line = self.wait_line(&mark, seen, Duration::from_secs(20));
        line.rsplit_once(&mark)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }

    /// POSTs JSON to the web page; returns the status code, the session cookie set (if any)
    /// and the body.
    fn post(&self, path: &str, body: &str) -> Option<(u16, Option<String>, String)> {
        self.send("POST", path, body)
    }

    /// Sends JSON with `method`, with the session cookie and CSRF token once logged in.
    fn send(&self, method: &str, path: &str, body: &str) -> Option<(u16, Option<String>, String)> {
        let mut s = std::net::TcpStream::connect_timeout(&self.web, Duration::from_secs(5)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let auth = if self.cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {}\r\nX-CSRF-Token: {}\r\n", self.cookie, self.csrf)
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        let cookie = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or_default().to_string())
        });
        Some((code, cookie, body.to_string()))
    }

    /// Logs in with `password` (waiting for the page to answer); keeps the session cookie.
    fn login(&mut self, password: &str) {
        let body = format!("{{\"password\":\"{password}\"}}");
        let (code, cookie, text) = wait_until(Duration::from_secs(120), || {
            self.post("/api/login", &body).filter(|(c, _, _)| *c != 0)
        })
        .expect("the login answers through the forwarded port");
        assert_eq!(code, 200, "login: {text}");
        self.logged_in(cookie, &text);
    }

    /// Keeps the session of a login or first-visit answer.
    fn logged_in(&mut self, cookie: Option<String>, body: &str) {
        self.cookie = cookie.expect("a session cookie");
        let v: serde_json::Value = serde_json::from_str(body).expect("login answer JSON");
        self.csrf = v["csrf"].as_str().expect("a CSRF token").to_string();
    }

    /// GET of a JSON API path with the session.
    fn get_json(&self, path: &str) -> Option<serde_json::Value> {
        let (code, body) = http_request(
            self.web,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: gateway\r\nCookie: {}\r\nConnection: close\r\n\r\n",
                self.cookie
            ),
        )
        .ok()?;
        if code != 200 {
            return None;
        }
        // Chunked or not, the JSON object spans the first '{' to the last '}'.
        let body = &body[body.find('{')?..=body.rfind('}')?];
        serde_json::from_str(body).ok()
    }

    /// The guest's uptime in seconds.
    fn uptime(&mut self) -> f64 {
        let up = self.query("UP", "cut -d' ' -f1 /proc/uptime");
        up.parse()
            .unwrap_or_else(|_| panic!("uptime from the guest: '{up}'"))
    }

    /// Powers the guest off and waits for QEMU to end.
    fn poweroff(&mut self) {
        self.run("poweroff");
        let stopped = wait_until(Duration::from_secs(60), || self.child.try_wait().ok().flatten());
        assert!(stopped.is_some_and(|s| s.success()), "QEMU stops after poweroff");
        self.wait_line("rc.shutdown: done", 0, Duration::from_secs(5));
    }

    fn status(&self) -> Option<serde_json::Value> {
        self.get_json("/api/status")
    }

    /// The registration state of account `name` on the status page.
    fn account_state(&self, name: &str) -> Option<String> {
        let st = self.status()?;
        let a = st["accounts"].as_array()?.iter().find(|a| a["name"] == name)?;
        Some(a["state"].as_str()?.to_string())
    }

    fn wait_status(&self, timeout: Duration) -> serde_json::Value {
        wait_until(timeout, || self.status()).expect("the status page answers through the forwarded port")
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        // While the runner waits, QEMU runs: end it too (it would outlive the runner's shell).
        if let Ok(None) = self.child.try_wait()
            && let Ok(pid) = std::fs::read_to_string(self.state.join("qemu.pid"))
        {
            let _ = Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn build_image() {
    let t0 = Instant::now();
    let out = Command::new(workspace_root().join("board/image/build.sh"))
        .arg(BOARD)
        .stderr(Stdio::piped())
        .output()
        .expect("run board/image/build.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let why: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("ERROR") || l.starts_with("image:") || l.starts_with("error"))
            .collect();
        panic!(
            "the firmware image could not be built (cross toolchain, QEMU or kernel missing?):\n{}\n--- last output ---\n{}",
            why.join("\n"),
            stderr
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("image built in {:.0} s", t0.elapsed().as_secs_f64());
}

fn port_off_hook(status: &serde_json::Value, id: u64) -> Option<bool> {
    status["ports"]
        .as_array()?
        .iter()
        .find(|p| p["id"].as_u64() == Some(id))?["off_hook"]
        .as_bool()
}

/// Whether the status page lists a call on port `id`.
fn port_in_call(status: &serde_json::Value, id: u64) -> bool {
    status["calls"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["port"].as_u64() == Some(id)))
}

/// The account on the host's Kamailio, as the web page's JSON API takes it: the guest reaches
/// the host as 10.0.2.2 (registrar, and proxy for calls).
fn account_json(kport: u16) -> serde_json::Value {
    serde_json::json!({
        "name": "main",
        "user": "1001",
        "domain": "10.0.2.2",
        "registrar": format!("10.0.2.2:{kport}"),
        "proxy": format!("10.0.2.2:{kport}"),
        "password": "secret",
        "expires_s": 300,
    })
}

/// Kamailio's bindings of AOR 1001 (`ul.lookup`), or None while there are none.
fn location(kam: &Kamailio) -> Option<String> {
    // `s:` keeps kamcmd from taking the AOR for a number.
    kam.kamcmd(&["ul.lookup", "location", "s:1001"])
        .ok()
        .filter(|o| o.contains("Contact"))
}

/// "launch to X: N s" figures the runner prints.
fn runner_figure(g: &Guest, what: &str) -> Option<f64> {
    let line = g.wait_line(what, 0, Duration::from_secs(60));
    line.split_once(") ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The far end's scenario: 180, 1.5 s later 200 with PCMU, then a 1 kHz tone (encoded by sox)
/// streamed as RTP until the BYE.
const FAR_END_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="far end playing a tone">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]></send>
  <pause milliseconds="1500"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=far 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec rtp_stream="tone.ul,-1,0"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
</scenario>
"#;

/// sipp on the host as the far end of [`CALLS`] calls ([`FAR_END_XML`]); ended when dropped.
struct Sipp {
    child: Child,
    log: std::path::PathBuf,
}

impl Sipp {
    fn start(dir: &std::path::Path, sip_port: u16, media_port: u16) -> Sipp {
        std::fs::write(dir.join("far-end.xml"), FAR_END_XML).expect("write the sipp scenario");
        let st = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
            .arg(dir.join("tone.ul"))
            .args(["synth", "30", "sine", &FAR_HZ.to_string(), "vol", "0.5"])
            .status()
            .expect("run sox");
        assert!(st.success(), "sox could not make the far end's tone");
        let log = dir.join("sipp.log");
        let out = std::fs::File::create(&log).expect("sipp log");
        let child = Command::new("sipp")
            .args([
                "-sf",
                "far-end.xml",
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-nostdin",
            ])
            .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
            .args(["-m", &CALLS.to_string(), "-timeout", "180s"])
            .args(["-trace_err", "-error_file"])
            .arg(dir.join("sipp-errors.log"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start sipp");
        Sipp { child, log }
    }

    /// Waits (bounded) for sipp to end after its calls; true when every call succeeded.
    fn finished(&mut self, timeout: Duration) -> bool {
        wait_until(timeout, || self.child.try_wait().ok().flatten()).is_some_and(|s| s.success())
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tshark capturing the loopback UDP of the guest's forwarded RTP port range.
struct Capture {
    child: Child,
    file: std::path::PathBuf,
    ports: (u16, u16),
}

/// One RTP stream the guest sent: its source port on the host and its audio, decoded by sox.
struct GuestStream {
    port: u16,
    audio: Vec<i16>,
}

impl Capture {
    fn start(dir: &std::path::Path, ports: (u16, u16)) -> Capture {
        let file = dir.join("rtp.pcap");
        let err = dir.join("tshark.log");
        let filter = format!("udp portrange {}-{}", ports.0, ports.1);
        let child = Command::new("tshark")
            .args(["-i", "lo", "-f", &filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("tshark log"))
            .spawn()
            .expect("start tshark");
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&err)
                .ok()
                .filter(|l| l.contains("Capturing on"))
        })
        .expect("tshark starts capturing");
        Capture { child, file, ports }
    }

    /// Ends the capture; returns the RTP streams the guest sent from its port range (one per
    /// source port and SSRC, in the order they started), each decoded by sox (PCMU).
    fn guest_streams(mut self, dir: &std::path::Path) -> Vec<GuestStream> {
        // SIGINT: tshark closes the file properly.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let (lo, hi) = self.ports;
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.file);
        for p in (lo..=hi).step_by(2) {
            cmd.args(["-d", &format!("udp.port=={p},rtp")]);
        }
        let out = cmd
            .args(["-Y", &format!("rtp && udp.srcport>={lo} && udp.srcport<={hi}")])
            .args([
                "-T",
                "fields",
                "-e",
                "udp.srcport",
                "-e",
                "rtp.ssrc",
                "-e",
                "rtp.payload",
            ])
            .output()
            .expect("run tshark on the capture");
        let mut streams: Vec<((u16, String), Vec<u8>)> = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut f = line.split('\t');
            let (Some(port), Some(ssrc), Some(payload)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let Ok(port) = port.trim().parse::<u16>() else {
                continue;
            };
            let key = (port, ssrc.trim().to_string());
            let hex: String = payload.chars().filter(char::is_ascii_hexdigit).collect();
            let bytes =
                (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok());
            match streams.iter_mut().find(|(k, _)| *k == key) {
                Some((_, b)) => b.extend(bytes),
                None => streams.push((key, bytes.collect())),
            }
        }
        streams
            .into_iter()
            .enumerate()
            .map(|(i, ((port, _), bytes))| GuestStream {
                port,
                audio: decode_pcmu(dir, &format!("sent{i}"), &bytes),
            })
            .collect()
    }
}

/// PCMU decoded by sox (through files `NAME.ul` and `NAME.s16` in `dir`).
fn decode_pcmu(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Vec<i16> {
    let (ul, pcm) = (dir.join(format!("{name}.ul")), dir.join(format!("{name}.s16")));
    std::fs::write(&ul, bytes).expect("write the captured payload");
    let st = Command::new("sox")
        .args(["-t", "ul", "-r", "8000", "-c", "1"])
        .arg(&ul)
        .args(["-t", "s16", "-e", "signed", "-b", "16"])
        .arg(&pcm)
        .status()
        .expect("run sox");
    assert!(st.success(), "sox could not decode the captured payload");
    std::fs::read(&pcm)
        .expect("decoded audio")
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Share of `x`'s power at `freq` (Goertzel), in dB: 0 for a pure tone.
fn tone_share_db(x: &[i16], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2, mut energy) = (0f32, 0f32, 0f32);
    for &v in x {
        let v = f32::from(v);
        energy += v * v;
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - c * s1 * s2;
    10.0 * ((2.0 * p / x.len() as f32) / energy.max(1.0)).log10()
}

/// The loudest second of `x`: (rms, share of `freq` in dB).
fn loudest_second(x: &[i16], freq: f32) -> Option<(f64, f32)> {
    let sec = x
        .chunks(8000)
        .filter(|c| c.len() == 8000)
        .max_by_key(|c| c.iter().map(|&v| i64::from(v).pow(2)).sum::<i64>())?;
    let rms = (sec.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / 8000.0).sqrt();
    Some((rms, tone_share_db(sec, freq)))
}

/// Boot milestones the guest prints (guest uptime, s), for the record.
fn boot_milestones(g: &Guest, boot: usize) -> String {
    let at = |needle: &str| {
        let l = g.wait_line(needle, boot, Duration::from_secs(60));
        l.split(" at ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "init {} s, rc.boot done {} s, gatewayd started {} s",
        at("rc.boot: start at"),
        at("rc.boot: done at"),
        at("supervise: starting gatewayd")
    )
}

/// Goes off-hook and dials `number` in DTMF until gatewayd calls it. The line's clock is the
/// guest's: when TCG falls behind on a busy host, gatewayd skips ahead and a digit can be cut
/// short. Up to three attempts, each checked by gatewayd starting the call to the whole number.
fn dial(g: &Guest, phone: &SimPhone, number: &str) {
    let t = Duration::from_secs(30);
    let calling = format!("port 0: calling sip:{number}@");
    for attempt in 1..=3 {
        phone.off_hook();
        phone
            .wait_for_tone(ToneKind::Dial, t)
            .expect("dial tone from the guest");
        let calls = g.count(&calling);
        if let Err(e) = phone.dial_dtmf(number) {
            eprintln!("dialling (attempt {attempt}): {e:?}");
        }
        if wait_until(Duration::from_secs(20), || {
            (g.count(&calling) > calls).then_some(())
        })
        .is_some()
        {
            return;
        }
        eprintln!("attempt {attempt}: gatewayd did not get the whole number; hanging up");
        phone.on_hook();
        let _ = phone.pause(Duration::from_millis(1500));
    }
    panic!("gatewayd never called the dialled number {number}");
}

#[test]
fn firmware_image_boots_registers_supervises_reboots_and_resets_on_hang() {
    if ["kamailio", "kamcmd", "sipp", "sox", "tshark"]
        .iter()
        .any(|t| !tool(t))
    {
        return;
    }
    build_image();
    let state = e2e::scratch_dir("firmware-qemu");
    // The guest's RTP port range, forwarded port for port: the ports its SDP names are the
    // host's too, so only the address needs rewriting (Kamailio does, see below).
    let rtp_range = free_rtp_range();
    let udp_port = || loop {
        let p = free_udp_port();
        if !(rtp_range.0..=rtp_range.1).contains(&p) {
            break p;
        }
    };
    let (kport, sipp_port, media_port) = (udp_port(), udp_port(), udp_port());
    let (web_port, line_port) = (free_tcp_port(), free_line_ports());
    // Calls to 1 + 10 digits go to sipp.
    let kam = Kamailio::start(
        &workspace_root().join("board/qemu/kamailio.cfg"),
        &format!("udp:127.0.0.1:{kport}"),
        &state.join("kamailio"),
        &[format!("SERVICE=\"sip:127.0.0.1:{sipp_port}\"")],
    );
    let mut sipp = Sipp::start(&state, sipp_port, media_port);
    let ports = Ports {
        web: web_port,
        sip: udp_port(),
        line: line_port,
        rtp: Some(rtp_range),
    };
    let mut g = Guest::boot(&state, true, ports);

    // The first visit to the web page through the forwarded port sets the administrator
    // password (a configuration change made on the page) and logs in.
    const PASSWORD: &str = "firmware-e2e-pass";
    let body = format!("{{\"password\":\"{PASSWORD}\"}}");
    let (code, cookie, text) = wait_until(Duration::from_secs(120), || {
        g.post("/api/setup", &body).filter(|(c, _, _)| *c != 0)
    })
    .expect("the web page answers through the forwarded port");
    let ready = g.launched.elapsed();
    assert_eq!(code, 200, "first-visit password setup: {text}");
    g.logged_in(cookie, &text);
    let st = g.wait_status(Duration::from_secs(30));
    assert_eq!(st["board"], BOARD);
    eprintln!(
        "MEASURE launch to status page answering (factory configuration): {:.1} s",
        ready.as_secs_f64()
    );
    g.wait_line("watchdog: /dev/watchdog armed", 0, Duration::from_secs(30));

    // A virtual phone on the guest's first FXS port, over virtio-serial.
    let fxs0 = SocketAddr::from((Ipv4Addr::LOCALHOST, line_port));
    let (hello, rx, mut tx) = wait_until(Duration::from_secs(30), || {
        peer::connect(fxs0, Role::Phone, PortKind::Fxs, Duration::from_secs(5)).ok()
    })
    .expect("a virtual phone attaches to the guest's FXS port");
    assert_eq!(hello.kind, PortKind::Fxs);
    tx.send(&Message::Hook {
        at: 0,
        hook: Hook::OffHook,
    })
    .unwrap();
    tx.flush().unwrap();
    wait_until(Duration::from_secs(20), || {
        g.status().and_then(|s| port_off_hook(&s, 0)).filter(|&o| o)
    })
    .expect("the guest's gatewayd sees the phone go off-hook");
    // Memory with a line active (the phone off-hook: dial tone generated, audio flowing).
    let rss_cmd = "grep VmRSS /proc/$(cat /run/gatewayd.pid)/status | tr -s ' ' | cut -d' ' -f2";
    let rss_active = g.query("RSSA", rss_cmd);
    eprintln!("MEASURE gatewayd RSS with a phone off-hook in the guest: {rss_active} kB");
    tx.send(&Message::Hook {
        at: 0,
        hook: Hook::OnHook,
    })
    .unwrap();
    tx.flush().unwrap();
    wait_until(Duration::from_secs(20), || {
        g.status().and_then(|s| port_off_hook(&s, 0)).filter(|&o| !o)
    })
    .expect("the guest's gatewayd sees the phone hang up");
    // The port takes one peer at a time: close this one (both halves).
    drop((rx, tx));
    let rss = g.query("RSS", rss_cmd);
    eprintln!("MEASURE gatewayd RSS idle in the guest: {rss} kB (target under 8192 kB)");
    assert!(rss.parse::<u64>().is_ok(), "RSS read from the guest: '{rss}'");

    // A SIP account through the page's JSON API (ports 0 and 1 use it), and the RTP port range
    // the runner forwards.
    let mut cfg = g.get_json("/api/config").expect("GET /api/config");
    cfg["account"] = serde_json::json!([account_json(kport)]);
    cfg["network"]["rtp_port_min"] = rtp_range.0.into();
    cfg["network"]["rtp_port_max"] = rtp_range.1.into();
    for p in cfg["port"].as_array_mut().expect("ports in the configuration") {
        if p["kind"] == "fxs" {
            p["account"] = "main".into();
        }
    }
    let (code, _, text) = g
        .send("PUT", "/api/config", &cfg.to_string())
        .expect("PUT /api/config answers");
    assert_eq!(code, 200, "the account is accepted: {text}");

    // The page's Reboot button reboots the board (not only gatewayd): the kernel starts
    // again (uptime reset) and the account, kept on the configuration partition, registers.
    let boots = g.count("rc.boot: start");
    let up_before = g.uptime();
    let (code, _, text) = g
        .post("/api/power", r#"{"action":"reboot"}"#)
        .expect("POST /api/power answers");
    assert_eq!(code, 200, "reboot: {text}");
    g.wait_line(
        "supervise: gatewayd asked for a reboot",
        0,
        Duration::from_secs(30),
    );
    g.wait_line("rc.boot: start", boots, Duration::from_secs(120));
    let up_after = g.uptime();
    assert!(
        up_after < up_before,
        "the board rebooted: uptime {up_after} s after, {up_before} s before"
    );
    eprintln!(
        "MEASURE boot milestones after the reboot: {}",
        boot_milestones(&g, boots)
    );
    g.wait_line("account main registered", 0, Duration::from_secs(60));
    g.login(PASSWORD);
    let reg = wait_until(Duration::from_secs(30), || {
        g.account_state("main").filter(|s| s == "registered")
    });
    assert!(
        reg.is_some(),
        "the status API shows account main registered: {:?}",
        g.status()
    );
    let loc = wait_until(Duration::from_secs(10), || location(&kam))
        .unwrap_or_else(|| panic!("no binding in Kamailio's location table:\n{}", kam.log()));
    eprintln!("Kamailio location table:\n{loc}");
    assert!(loc.contains("@10.0.2.15:5060"), "the guest's contact: {loc}");
    // The NAT's address, as Kamailio saw the REGISTER come in.
    assert!(loc.contains("127.0.0.1"), "received address kept: {loc}");

    // A crash: the supervisor restarts gatewayd, the page comes back and it registers again.
    let pid = g.query("PID", "cat /run/gatewayd.pid");
    let regs = g.count("account main registered");
    g.run("kill -9 $(cat /run/gatewayd.pid)");
    g.wait_line(
        "supervise: gatewayd exited (status 137)",
        0,
        Duration::from_secs(20),
    );
    g.wait_line(
        "supervise: starting gatewayd (start 2)",
        0,
        Duration::from_secs(20),
    );
    g.wait_line("account main registered", regs, Duration::from_secs(60));
    g.login(PASSWORD);
    let reg = wait_until(Duration::from_secs(30), || {
        g.account_state("main").filter(|s| s == "registered")
    });
    assert!(
        reg.is_some(),
        "registered again after the restart: {:?}",
        g.status()
    );
    let pid2 = g.query("PID", "cat /run/gatewayd.pid");
    assert_ne!(pid, pid2, "a new gatewayd process runs");
    assert!(location(&kam).is_some(), "Kamailio keeps a binding");

    // Calls from a virtual phone on the guest's FXS port through the account, one after the
    // other after the same gatewayd start: Kamailio on the host hands each to sipp, which
    // answers and plays 1 kHz; the phone plays 600 Hz. Each must reach the other end on every
    // call: the phone's recording, and the guest's RTP captured on the host and decoded by sox.
    // The range has fewer pairs than there are calls: the last call takes the first pair again.
    let cap = Capture::start(&state, rtp_range);
    let phone = wait_until(Duration::from_secs(30), || {
        // The guest's clock drives the line; under TCG on a busy host it runs behind the wall.
        // Longer DTMF digits than a person's, for the same reason as the attempts in `dial`.
        let cfg = PhoneConfig {
            safety: Duration::from_secs(60),
            dtmf_on: Duration::from_millis(150),
            dtmf_off: Duration::from_millis(150),
            ..PhoneConfig::default()
        };
        SimPhone::connect(fxs0, cfg).ok()
    })
    .expect("a virtual phone attaches to the guest's FXS port");
    let t = Duration::from_secs(30);
    let mut heard = Vec::new();
    for call in 0..CALLS {
        let (progress, answered) = (g.count("port 0: progress 180"), g.count("port 0: answered"));
        // 1 + 10 digits: the default plan's `1xxx[2-9]xxxxxxS0` sends it at once.
        dial(&g, &phone, "12125551234");
        g.wait_line("port 0: progress 180", progress, t);
        g.wait_line("port 0: answered", answered, t);
        let _ = phone.pause(Duration::from_millis(500));
        // The first call as long as before; later ones only as long as the checks need.
        let tone = Duration::from_millis(if call == 0 { 4000 } else { 2500 });
        phone.record_start();
        phone.play_tone(PHONE_HZ, tone, 8000);
        let _ = phone.pause(tone + Duration::from_millis(300));
        heard.push(phone.record_stop());
        if call == 0 {
            let rss_call = g.query("RSSC", rss_cmd);
            eprintln!("MEASURE gatewayd RSS during a call in the guest: {rss_call} kB");
        }
        phone.on_hook();
        wait_until(t, || g.status().filter(|st| !port_in_call(st, 0))).unwrap_or_else(|| {
            panic!(
                "call {}: the status page still shows it after the hang-up",
                call + 1
            )
        });
        // On-hook longer than a hook flash before the next call.
        let _ = phone.pause(Duration::from_millis(1500));
    }
    assert!(
        sipp.finished(Duration::from_secs(30)),
        "sipp's calls did not all end cleanly (BYE from the guest):\n{}",
        std::fs::read_to_string(&sipp.log).unwrap_or_default()
    );
    drop(phone);
    let sent = cap.guest_streams(&state);
    let used: Vec<u16> = sent.iter().map(|s| s.port).collect();
    eprintln!("the guest's RTP ports, call by call: {used:?}");
    assert_eq!(
        sent.len(),
        CALLS,
        "one RTP stream from the guest per call: ports {used:?}"
    );
    // Every pair of the range carried a call, and a freed pair was taken again.
    let (lo, hi) = rtp_range;
    assert!(
        used.iter().all(|p| (lo..=hi).contains(p)),
        "RTP ports {used:?} outside {lo}-{hi}"
    );
    assert_ne!(used[0], used[1], "the second call takes the next pair");
    assert_eq!(used[2], used[0], "the third call takes the first pair again");
    for (call, (heard, sent)) in heard.iter().zip(&sent).enumerate() {
        for (what, x, hz) in [
            ("the phone hears the far end", heard, FAR_HZ),
            ("the far end hears the phone", &sent.audio, PHONE_HZ),
        ] {
            let what = format!("call {}: {what}", call + 1);
            let (rms, share) =
                loudest_second(x, hz).unwrap_or_else(|| panic!("{what}: under a second of audio"));
            eprintln!("{what}: rms {rms:.0}, {hz} Hz share {share:.1} dB");
            assert!(rms > 300.0, "{what}: silence (rms {rms:.0})");
            assert!(share > -3.0, "{what}: not the {hz} Hz tone ({share:.1} dB)");
        }
    }

    // A hang: gatewayd stopped (alive, so not restarted) stops feeding the watchdog; the
    // board resets by itself.
    let boots = g.count("rc.boot: start");
    let hung = Instant::now();
    g.run("kill -STOP $(cat /run/gatewayd.pid)");
    g.wait_line("rc.boot: start", boots, Duration::from_secs(120));
    eprintln!(
        "MEASURE hang to watchdog reset: {:.0} s",
        hung.elapsed().as_secs_f64()
    );
    g.login(PASSWORD);
    g.wait_status(Duration::from_secs(120));

    // Clean stop, then a launch from the kept configuration disk: the password and the
    // account are there from the start; the runner times launch to "registered". The runner
    // finds the RTP port range set on the page there and forwards it.
    g.poweroff();
    drop(g);
    let mut g = Guest::boot(&state, false, Ports { rtp: None, ..ports });
    let (lo, hi) = rtp_range;
    g.wait_line(
        &format!("RTP:       udp 127.0.0.1:{lo}-{hi} -> guest 10.0.2.15:{lo}-{hi}, port for port (configuration disk)"),
        0,
        Duration::from_secs(10),
    );
    let registered = runner_figure(&g, "qemu: registered (account main)");
    let web = runner_figure(&g, "qemu: gatewayd ready");
    eprintln!(
        "MEASURE launch to registered: {} s; to web page answering: {} s (TCG, host load varies)",
        registered.map_or("?".into(), |v| format!("{v:.1}")),
        web.map_or("?".into(), |v| format!("{v:.1}"))
    );
    eprintln!("MEASURE boot milestones: {}", boot_milestones(&g, 0));
    g.login(PASSWORD);
    g.poweroff();
    drop(kam);
    let _ = std::fs::remove_dir_all(&state);
}
