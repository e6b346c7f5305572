//! The aarch64 firmware image end to end, booted in QEMU (TCG):
//! builds the image (`board/image/build.sh`, which installs the cross toolchain, QEMU, the
//! Debian arm64 kernel and busybox as needed), boots it with `board/qemu/run.sh`, then checks
//! - the web page through the forwarded port: the first visit sets the administrator password,
//!   then the status page is read logged in (after each restart and reboot: logged in again);
//! - a virtual phone on the guest's FXS port (virtio-serial, host socket) reaching gatewayd;
//! - gatewayd's memory in the guest;
//! - killing gatewayd: the supervisor restarts it and the page answers again;
//! - configuration surviving a reboot (the configuration partition): the password set on the
//!   page and a change made to the file;
//! - a hung gatewayd (stopped, so the watchdog is no longer fed) resetting the board;
//! - a clean power-off.
//!
//! Registration with Kamailio and a call to sipp are added to this test as gatewayd's SIP
//! user agent is wired into the process.
//!
//! The build takes minutes on a fresh clone; with `CI` set a missing toolchain fails the test
//! with the reason, otherwise (a developer machine without root) the test says why it stopped.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{http_request, wait_until, workspace_root};
use hal::board::PortKind;
use hal::fxs::Hook;
use hal::sim::peer;
use hal::sim::proto::{Message, Role};

const BOARD: &str = "qemu-aarch64";

fn free_tcp_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free TCP port")
}

fn free_udp_port() -> u16 {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free UDP port")
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

/// The QEMU process and everything its serial console printed.
struct Guest {
    child: Child,
    console: ChildStdin,
    lines: Arc<Mutex<Vec<String>>>,
    web: SocketAddr,
    launched: Instant,
    /// The web page's session cookie (`gw_session=...`).
    cookie: String,
}

impl Guest {
    fn boot(state: &std::path::Path, web_port: u16, sip_port: u16, line_port: u16) -> Guest {
        let mut child = Command::new(workspace_root().join("board/qemu/run.sh"))
            .arg(BOARD)
            .env("STATE", state)
            .env("FRESH", "1")
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
            cookie: String::new(),
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
        let mut s = std::net::TcpStream::connect_timeout(&self.web, Duration::from_secs(5)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
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
        self.cookie = cookie.expect("a session cookie");
    }

    fn status(&self) -> Option<serde_json::Value> {
        let (code, body) = http_request(
            self.web,
            &format!(
                "GET /api/status HTTP/1.1\r\nHost: gateway\r\nCookie: {}\r\nConnection: close\r\n\r\n",
                self.cookie
            ),
        )
        .ok()?;
        if code != 200 {
            return None;
        }
        serde_json::from_str(&body).ok()
    }

    fn wait_status(&self, timeout: Duration) -> serde_json::Value {
        wait_until(timeout, || self.status()).expect("the status page answers through the forwarded port")
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
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

#[test]
fn firmware_image_boots_supervises_persists_and_resets_on_hang() {
    build_image();
    let state = e2e::scratch_dir("firmware-qemu");
    let (web_port, sip_port, line_port) = (free_tcp_port(), free_udp_port(), free_line_ports());
    let mut g = Guest::boot(&state, web_port, sip_port, line_port);

    // Boot and the status page through the forwarded port.
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
    g.cookie = cookie.expect("a session cookie");
    let st = g.wait_status(Duration::from_secs(30));
    assert_eq!(st["board"], BOARD);
    eprintln!(
        "MEASURE launch to status page answering: {:.1} s",
        ready.as_secs_f64()
    );
    g.wait_line("watchdog: /dev/watchdog armed", 0, Duration::from_secs(30));

    // A virtual phone on the guest's first FXS port, over virtio-serial.
    let fxs0 = SocketAddr::from((Ipv4Addr::LOCALHOST, line_port));
    let (hello, _rx, mut tx) = wait_until(Duration::from_secs(30), || {
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
    let rss_active = g.query(
        "RSSA",
        "grep VmRSS /proc/$(cat /run/gatewayd.pid)/status | tr -s ' ' | cut -d' ' -f2",
    );
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
    drop(tx);

    // Memory of gatewayd in the guest.
    let rss = g.query(
        "RSS",
        "grep VmRSS /proc/$(cat /run/gatewayd.pid)/status | tr -s ' ' | cut -d' ' -f2",
    );
    eprintln!("MEASURE gatewayd RSS idle in the guest: {rss} kB (target under 8192 kB)");
    assert!(rss.parse::<u64>().is_ok(), "RSS read from the guest: '{rss}'");

    // A crash: the supervisor restarts gatewayd and the page comes back.
    let pid = g.query("PID", "cat /run/gatewayd.pid");
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
    g.login(PASSWORD);
    g.wait_status(Duration::from_secs(60));
    let pid2 = g.query("PID", "cat /run/gatewayd.pid");
    assert_ne!(pid, pid2, "a new gatewayd process runs");

    // A configuration change survives a reboot (kept on the configuration partition).
    g.run("sed -i 's/^sip_port = 5060$/sip_port = 5062/' /config/gateway.toml && sync");
    assert!(
        g.query("CFG", "grep -c 'sip_port = 5062' /config/gateway.toml")
            .starts_with('1')
    );
    let boots = g.count("rc.boot: start");
    g.run("reboot");
    g.wait_line("rc.boot: start", boots, Duration::from_secs(120));
    // The password set on the page survived: a second setup is refused, the login works.
    let (code, _, _) = wait_until(Duration::from_secs(120), || {
        g.post("/api/setup", &body).filter(|(c, _, _)| *c != 0)
    })
    .expect("the web page answers after the reboot");
    assert_eq!(code, 409, "the administrator password survived the reboot");
    g.login(PASSWORD);
    let st = wait_until(Duration::from_secs(120), || {
        g.status()
            .filter(|s| s["sip_address"].as_str().is_some_and(|a| a.contains(":5062")))
    });
    assert!(
        st.is_some(),
        "after the reboot gatewayd runs with the changed configuration"
    );

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

    // Clean stop.
    g.run("poweroff");
    let stopped = wait_until(Duration::from_secs(60), || g.child.try_wait().ok().flatten());
    assert!(stopped.is_some_and(|s| s.success()), "QEMU stops after poweroff");
    g.wait_line("rc.shutdown: done", 0, Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&state);
}
