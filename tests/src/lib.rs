//! Helpers shared by the end-to-end tests: locating the workspace's binaries, starting
//! `gatewayd` on a private simulated board, and bounded waits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod kamailio;
pub mod peers;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of a workspace binary in the same profile as the running test, built on demand so that
/// `cargo test -p e2e` works on its own.
pub fn bin(package: &str, name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir layout")
        .to_path_buf();
    let path = profile_dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        // Always (re)build: a stale binary from an earlier build would test old code.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "-q", "-p", package, "--bin", name]);
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "building {name} failed");
        built.push(name.to_string());
    }
    path
}

/// A `gatewayd` started on a simulated board whose ports and web page listen on free loopback
/// ports; stopped (SIGINT, then kill) when dropped.
pub struct Gatewayd {
    child: Child,
    pub web: SocketAddr,
    pub ports: Vec<(String, SocketAddr)>,
    pub dir: PathBuf,
    lines: mpsc::Receiver<String>,
    pub output: Vec<String>,
    /// Session cookie after [`Gatewayd::login`].
    cookie: Option<String>,
}

/// A private scratch directory under the target dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = workspace_root()
        .join("target")
        .join("e2e")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

impl Gatewayd {
    /// Starts gatewayd with `config` (TOML) on a board with `ports` ("fxs"/"fxo").
    pub fn start(name: &str, ports: &[&str], config: &str) -> Gatewayd {
        let dir = scratch_dir(name);
        let mut board = String::from("name = \"sim-test\"\n");
        for k in ports {
            board.push_str(&format!(
                "[[port]]\nkind = \"{k}\"\nbackend = \"sim\"\ntcp_port = 0\n"
            ));
        }
        std::fs::write(dir.join("board.toml"), board).expect("write board");
        let cfg = format!("[web]\nlisten = \"127.0.0.1:0\"\n{config}");
        std::fs::write(dir.join("gateway.toml"), cfg).expect("write config");
        let mut child = Command::new(bin("gateway", "gatewayd"))
            .arg("--board")
            .arg(dir.join("board.toml"))
            .arg("--state-dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gatewayd");
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut gw = Gatewayd {
            child,
            web: "127.0.0.1:0".parse().unwrap(),
            ports: Vec::new(),
            dir,
            lines: rx,
            output: Vec::new(),
            cookie: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = gw
                .next_line(deadline)
                .unwrap_or_else(|| panic!("gatewayd did not start:\n{}", gw.output.join("\n")));
            if let Some(rest) = line.trim().strip_prefix("web page:") {
                let a = rest.trim().trim_start_matches("http://").trim_end_matches('/');
                gw.web = a.parse().expect("web address");
            }
            if let Some((_, a)) = line.split_once("--connect ") {
                gw.ports
                    .push(("fxs".into(), a.trim().parse().expect("port address")));
            }
            if let Some((_, a)) = line.split_once("exchange line at ") {
                let a = a.split_whitespace().next().unwrap_or_default();
                gw.ports.push(("fxo".into(), a.parse().expect("port address")));
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        gw
    }

    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.checked_duration_since(Instant::now())?;
        let l = self.lines.recv_timeout(left).ok()?;
        self.output.push(l.clone());
        Some(l)
    }

    /// Waits (bounded) for an output line containing `needle`; returns it.
    pub fn wait_output(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        if let Some(l) = self.output.iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        while let Some(l) = self.next_line(deadline) {
            if l.contains(needle) {
                return Some(l);
            }
        }
        None
    }

    /// Sets the administrator password on the first visit (which logs in) and keeps the session
    /// cookie for [`Gatewayd::http_get`].
    pub fn login(&mut self) {
        const PASSWORD: &str = "e2e-admin-pass";
        let body = format!("{{\"password\":\"{PASSWORD}\"}}");
        let req = format!(
            "POST /api/setup HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.web,
            body.len()
        );
        let raw = http_raw(self.web, &req).expect("first-visit setup");
        let cookie = raw
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("set-cookie")
                    .then(|| v.trim().split(';').next().unwrap_or_default().to_string())
            })
            .unwrap_or_else(|| panic!("no session cookie from /api/setup: {raw}"));
        self.cookie = Some(cookie);
    }

    /// GET a path of the web server (with the session cookie once logged in); returns (status code, body).
    pub fn http_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let cookie = self
            .cookie
            .as_ref()
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        http_request(
            self.web,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\n{cookie}Connection: close\r\n\r\n",
                self.web
            ),
        )
    }

    /// Stops gatewayd with SIGINT and returns whether it exited cleanly within 10 s.
    pub fn stop(&mut self) -> bool {
        let pid = self.child.id() as i32;
        // SAFETY-free: `kill` the process through the shell tool, avoiding a libc dependency.
        let _ = Command::new("kill").arg("-INT").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Gatewayd {
    fn drop(&mut self) {
        // A failing test shows what gatewayd said.
        if std::thread::panicking() {
            while let Ok(l) = self.lines.try_recv() {
                self.output.push(l);
            }
            eprintln!("--- gatewayd output ---\n{}\n---", self.output.join("\n"));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends a raw HTTP/1.1 request and returns the whole response text (the server closes).
pub fn http_raw(addr: SocketAddr, req: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Sends a raw HTTP/1.1 request; returns (status code, body).
pub fn http_request(addr: SocketAddr, req: &str) -> std::io::Result<(u16, String)> {
    let text = http_raw(addr, req)?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kamailio started with a configuration file on the host, in its own process group (it forks
/// workers), ended with the group when dropped. Its binrpc control socket is
/// `dir/kamailio.ctl` when the configuration loads `ctl` under `#!ifdef CTL_SOCKET`.
pub struct Kamailio {
    child: Child,
    pub dir: PathBuf,
}

impl Kamailio {
    /// Starts `kamailio -f cfg` listening on `listen` (e.g. `udp:127.0.0.1:5080`), with its
    /// runtime files and log (`kamailio.log`) in `dir` and `defines` (`NAME="value"`, `-A`).
    pub fn start(cfg: &Path, listen: &str, dir: &Path, defines: &[String]) -> Kamailio {
        use std::os::unix::process::CommandExt;
        std::fs::create_dir_all(dir).expect("kamailio dir");
        let log = std::fs::File::create(dir.join("kamailio.log")).expect("kamailio log");
        let ctl = format!("CTL_SOCKET=\"unix:{}\"", dir.join("kamailio.ctl").display());
        let mut cmd = Command::new("kamailio");
        for d in defines {
            cmd.arg("-A").arg(d);
        }
        let child = cmd
            .arg("-f")
            .arg(cfg)
            .args(["-DD", "-E", "-m", "32", "-M", "8", "-A", &ctl, "-l", listen, "-Y"])
            .arg(dir)
            .arg("-w")
            .arg(dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kamailio");
        let k = Kamailio {
            child,
            dir: dir.to_path_buf(),
        };
        // Ready once its control socket answers.
        wait_until(Duration::from_secs(10), || k.kamcmd(&["core.version"]).ok())
            .expect("kamailio started and answers on its control socket");
        k
    }

    /// Runs `kamcmd` against the control socket; returns its output.
    pub fn kamcmd(&self, args: &[&str]) -> std::io::Result<String> {
        let sock = format!("unix:{}", self.dir.join("kamailio.ctl").display());
        let out = Command::new("kamcmd").arg("-s").arg(sock).args(args).output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Kamailio's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        end_process_group(&mut self.child);
    }
}

/// Ends a child that leads its own process group (a server that forks workers): TERM to the
/// group, then KILL to what is left after a second.
pub fn end_process_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-TERM", "--", &group])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
    let gone = wait_until(Duration::from_secs(1), || {
        let alive = Command::new("kill")
            .args(["-0", "--", &group])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        (!alive).then_some(())
    });
    if gone.is_none() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    }
}
