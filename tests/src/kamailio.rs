//! A Kamailio registrar on loopback for the end-to-end tests: two subscribers with digest
//! authentication ([`SUBSCRIBERS`]), every REGISTER it accepts written to its log as
//! `registrar: USER expires=N` (see [`Registrar::registrations`]), `OPTIONS` to itself answered
//! (the readiness probe). Runs in its own process group (it forks workers), ended with the group
//! when dropped.

use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::wait_until;

/// User names and passwords the registrar knows (realm: the To domain).
pub const SUBSCRIBERS: [(&str, &str); 2] = [("1001", "secret"), ("1002", "secret-1002")];

/// Whether an external tool is installed. When it is not: with `CI` set this panics (the
/// test must not pass without its peer); otherwise it says so and returns false (skip).
pub fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name} || test -x /usr/sbin/{name}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} missing: run scripts/deps.sh test"
        );
        eprintln!("{name} not installed (scripts/deps.sh test); skipping");
    }
    found
}

/// A free loopback port (see [`crate::peers::free_udp_port`]).
pub fn free_udp_port() -> u16 {
    crate::peers::free_udp_port()
}

/// Kamailio's module directory on this machine.
fn module_dir() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("kamailio/modules"))
        .find(|p| p.join("tm.so").exists());
    found.unwrap_or_else(|| PathBuf::from("/usr/lib/x86_64-linux-gnu/kamailio/modules"))
}

fn config_text() -> String {
    let mut passwords = String::new();
    for (i, (user, pw)) in SUBSCRIBERS.iter().enumerate() {
        let kw = if i == 0 { "if" } else { "} else if" };
        passwords.push_str(&format!(
            "        {kw} ($au == \"{user}\") {{\n            $var(pw) = \"{pw}\";\n"
        ));
    }
    passwords.push_str("        } else {\n            $var(pw) = \"\";\n        }\n");
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
auto_aliases=no
dns=no
rev_dns=no

mpath="{mpath}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "kex.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 4)
modparam("registrar", "min_expires_mode", 1)
modparam("registrar", "max_expires", 3600)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (is_present_hf("Route")) {{
        loose_route();
    }}
    if (is_method("REGISTER")) {{
{passwords}        if (!pv_www_authenticate("$td", "$var(pw)", "0")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if ($au != $tU) {{
            sl_send_reply("403", "Forbidden");
            exit;
        }}
        consume_credentials();
        if (!save("location")) {{
            sl_reply_error();
            exit;
        }}
        xlog("L_NOTICE", "registrar: $tU expires=$hdr(Expires)\n");
        exit;
    }}
    sl_send_reply("404", "Not here");
}}
"#,
        mpath = module_dir().display()
    )
}

/// [`config_text`] with call routing between the subscribers in place of the final 404: an
/// INVITE, digest-authenticated with the caller's own credentials (407 challenge), goes to the
/// contact its called user registered (`lookup`), record-routed; a user with no registration
/// gets 404. In-dialog requests follow their Route set; CANCEL and ACK match their transaction.
/// Each relayed INVITE is logged as `proxy: INVITE FROM -> TO`.
fn proxy_config_text() -> String {
    let mut passwords = String::new();
    for (i, (user, pw)) in SUBSCRIBERS.iter().enumerate() {
        let kw = if i == 0 { "if" } else { "} else if" };
        passwords.push_str(&format!(
            "        {kw} ($au == \"{user}\") {{\n            $var(pw) = \"{pw}\";\n"
        ));
    }
    passwords.push_str("        } else {\n            $var(pw) = \"\";\n        }\n");
    let routing = format!(
        r#"    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (has_totag()) {{
        # The Route set was followed above (loose_route).
        if (is_present_hf("Route")) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("INVITE")) {{
{passwords}        if (!pv_proxy_authenticate("$fd", "$var(pw)", "0")) {{
            proxy_challenge("$fd", "0");
            exit;
        }}
        if ($au != $fU) {{
            sl_send_reply("403", "Forbidden");
            exit;
        }}
        consume_credentials();
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
        record_route();
        xlog("L_NOTICE", "proxy: INVITE $fU -> $tU\n");
        t_relay();
        exit;
    }}
    sl_send_reply("404", "Not here");
"#
    );
    config_text().replacen("    sl_send_reply(\"404\", \"Not here\");\n", &routing, 1)
}

/// The registrar process.
pub struct Registrar {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Registrar {
    /// Starts the registrar on 127.0.0.1 (UDP, a free port) with its files in `dir`, and waits
    /// (at most 10 s) until it answers.
    pub fn start(dir: &Path) -> Registrar {
        Registrar::spawn(dir, &config_text())
    }

    /// Starts the registrar that also routes calls between its registered subscribers (see
    /// [`proxy_config_text`]) on 127.0.0.1 (UDP, a free port), with its files in `dir`; waits
    /// (at most 10 s) until it answers.
    pub fn start_proxy(dir: &Path) -> Registrar {
        Registrar::spawn(dir, &proxy_config_text())
    }

    fn spawn(dir: &Path, config: &str) -> Registrar {
        std::fs::create_dir_all(dir).expect("registrar dir");
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, config).expect("write kamailio.cfg");
        let log = std::fs::File::create(dir.join("kamailio.log")).expect("kamailio log");
        let port = free_udp_port();
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "32", "-M", "8", "-Y"])
            .arg(dir)
            .arg("-w")
            .arg(dir)
            .args(["-l", &format!("udp:127.0.0.1:{port}")])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kamailio");
        let r = Registrar {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        assert!(
            r.answers(Duration::from_secs(10)),
            "kamailio does not answer on port {port}:\n{}",
            r.log()
        );
        r
    }

    /// The INVITEs the proxy relayed, in order: (caller user, called user).
    pub fn relayed_invites(&self) -> Vec<(String, String)> {
        self.log()
            .lines()
            .filter_map(|l| {
                let rest = &l[l.find("proxy: INVITE ")? + "proxy: INVITE ".len()..];
                let (from, to) = rest.split_once(" -> ")?;
                Some((from.to_string(), to.trim().to_string()))
            })
            .collect()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends OPTIONS until one is answered (or `timeout` passes).
    fn answers(&self, timeout: Duration) -> bool {
        let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
            return false;
        };
        let Ok(local) = sock.local_addr() else {
            return false;
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
        let msg = format!(
            "OPTIONS sip:127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKprobe{p}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:127.0.0.1:{p}>\r\n\
             Call-ID: probe-{p}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            p = self.port
        );
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let _ = sock.send_to(msg.as_bytes(), ("127.0.0.1", self.port));
            if let Ok(n) = sock.recv(&mut buf)
                && buf[..n].starts_with(b"SIP/2.0 200")
            {
                return true;
            }
        }
        false
    }

    /// Kamailio's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }

    /// The REGISTERs the registrar accepted, in order: (user, expires asked for).
    pub fn registrations(&self) -> Vec<(String, u32)> {
        self.log()
            .lines()
            .filter_map(|l| {
                let rest = &l[l.find("registrar: ")? + "registrar: ".len()..];
                let (user, e) = rest.split_once(" expires=")?;
                Some((user.to_string(), e.trim().parse().ok()?))
            })
            .collect()
    }

    /// Waits (at most `timeout`) for an accepted REGISTER of `user` with `expires == 0` when
    /// `removed`, else with a non-zero expiry, after the first `skip` accepted ones.
    pub fn wait_registration(&self, user: &str, removed: bool, skip: usize, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.registrations()
                .iter()
                .skip(skip)
                .any(|(u, e)| u == user && (*e == 0) == removed)
                .then_some(())
        })
        .is_some()
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        crate::end_process_group(&mut self.child);
    }
}
