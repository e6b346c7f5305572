//! The web page in headless Chromium (Debian `chromium` driven by `playwright-core` from npm),
//! against a gatewayd registered with Kamailio: first-visit password, login, the account's
//! credentials changed to another subscriber (Kamailio sees the old binding removed and the new
//! one registered, the page shows it by itself), port 0's country set to GB (without a restart,
//! a virtual phone on the line the status page names then hears the British dial tone,
//! 350 + 440 Hz, where it heard the German 425 Hz before), invalid values and their messages,
//! the restart button (settings and registration back after it), and screenshots of every page
//! under target/screenshots/.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use board::simphone::{PhoneConfig, SimPhone};
use e2e::kamailio::{Registrar, free_udp_port, tool};
use e2e::{Gatewayd, scratch_dir, workspace_root};

fn tool_missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing (scripts/deps.sh test installs it)");
    }
    eprintln!("skipping: {what} is missing");
}

/// Power of `x` at `hz` (Goertzel, Hann window), normalised to the window's length.
fn power_at(x: &[f64], hz: f64) -> f64 {
    let n = x.len();
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
        let s = v * hann + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (n as f64 * n as f64)
}

/// The frequencies of the strongest spectral peaks of `samples` between 200 and 2000 Hz (2 Hz
/// steps), strongest first, down to 30 dB below the strongest.
fn tone_peaks(samples: &[i16]) -> Vec<f64> {
    let x: Vec<f64> = samples.iter().map(|&s| f64::from(s)).collect();
    let grid: Vec<(f64, f64)> = (100..=1000)
        .map(|k| {
            let hz = f64::from(k) * 2.0;
            (hz, power_at(&x, hz))
        })
        .collect();
    let max = grid.iter().map(|g| g.1).fold(0.0, f64::max);
    let mut peaks: Vec<(f64, f64)> = grid
        .windows(3)
        .filter(|w| w[1].1 > w[0].1 && w[1].1 >= w[2].1 && w[1].1 > max / 1000.0)
        .map(|w| w[1])
        .collect();
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    peaks.into_iter().map(|p| p.0).collect()
}

/// Lifts the handset of a phone on `addr`, records 1 s of what it hears once the dial tone has
/// settled, hangs up; returns the spectral peaks. `between` runs while the phone is off-hook.
fn listen_to_dial_tone(addr: SocketAddr, country: &str, between: impl FnOnce()) -> Vec<f64> {
    let phone = SimPhone::connect(
        addr,
        PhoneConfig {
            country: country.into(),
            ..PhoneConfig::default()
        },
    )
    .expect("attach the virtual phone");
    phone.off_hook();
    phone.pause(Duration::from_millis(300)).expect("line clock");
    phone.record_start();
    phone.pause(Duration::from_millis(1000)).expect("line clock");
    let heard = phone.record_stop();
    between();
    phone.on_hook();
    phone.pause(Duration::from_millis(100)).expect("line clock");
    assert!(heard.len() >= 7000, "only {} samples recorded", heard.len());
    let peaks = tone_peaks(&heard);
    let peak = heard.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(peak > 500, "no dial tone: peak amplitude {peak}");
    peaks
}

fn near(peaks: &[f64], hz: f64) -> bool {
    peaks.iter().any(|p| (p - hz).abs() <= 4.0)
}

#[test]
fn browser_drives_setup_settings_and_validation() {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return tool_missing("/usr/bin/chromium");
    }
    if !tool("kamailio") {
        return;
    }
    let dir = workspace_root().join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return tool_missing("npm install of playwright-core");
        }
    }
    let kam = Registrar::start(&scratch_dir("web-browser-kamailio"));
    let mut gw = Gatewayd::start(
        "web-browser",
        &["fxs", "fxs", "fxo"],
        &format!(
            "[network]\ninterface = \"127.0.0.1\"\nsip_port = {}\nt1_ms = 100\n\
             [[account]]\nname = \"provider\"\nuser = \"1001\"\ndomain = \"127.0.0.1\"\n\
             outbound_proxy = \"{}\"\npassword = \"secret\"\nexpires_s = 60\n\
             [[port]]\nid = 0\ncountry = \"DE\"\naccount = \"provider\"\n\n[[port]]\nid = 1\n\n\
             [[port]]\nid = 2\nkind = \"fxo\"\n",
            free_udp_port(),
            kam.addr()
        ),
    );
    gw.wait_output("account provider registered", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no registration:\n{}", gw.output.join("\n")));

    // Before: the German dial tone, a single 425 Hz.
    let port0 = gw.ports[0].1;
    let de = listen_to_dial_tone(port0, "DE", || {});
    eprintln!("DE dial tone: spectral peaks {de:?} Hz");
    assert!(
        near(&de, 425.0) && !near(&de, 350.0),
        "DE dial tone peaks: {de:?}"
    );

    let shots = workspace_root().join("target/screenshots");
    // Only this run's pictures.
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let profile = gw.dir.join("chromium-profile");
    let mut node = Command::new("node")
        .arg(dir.join("web.mjs"))
        .arg(format!("http://{}/", gw.web))
        .arg(&shots)
        .arg(&profile)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut to_node = node.stdin.take().expect("node stdin");
    let (tx, lines) = mpsc::channel();
    let out = node.stdout.take().expect("node stdout");
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    let mut gb = None;
    // Each line within 60 s: the browser steps are bounded by their own waits.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(60)) {
        said.push(line.clone());
        let Some(what) = line.strip_prefix("need: ") else {
            continue;
        };
        let answer = match what.split_once(' ') {
            Some(("phone", addr)) => {
                let addr: SocketAddr = addr.parse().expect("simulated line address");
                let mut ready = Some(&mut to_node);
                let peaks = listen_to_dial_tone(addr, "GB", || {
                    // Off-hook now: the browser screenshots the status page.
                    if let Some(w) = ready.take() {
                        let _ = writeln!(w, "off-hook");
                    }
                    let seen = lines.recv_timeout(Duration::from_secs(30));
                    if let Ok(l) = seen {
                        said.push(l);
                    }
                });
                gb = Some(peaks);
                continue;
            }
            _ => "ok",
        };
        writeln!(to_node, "{answer}").expect("answer the browser");
    }
    let status = node.wait().expect("node exit");
    let mut stderr = String::new();
    if let Some(mut e) = node.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let said = said.join("\n");
    // Collects gatewayd's output so far for the messages below.
    gw.wait_output("\u{0}", Duration::from_millis(200));
    assert!(
        status.success() && said.contains("step: done"),
        "browser run failed:\n{said}\n{stderr}\ngatewayd:\n{}",
        gw.output.join("\n")
    );

    // After: the British dial tone, 350 + 440 Hz, and no 425 Hz.
    let gb = gb.expect("the browser asked for the phone");
    eprintln!("GB dial tone: spectral peaks {gb:?} Hz");
    assert!(
        gb.len() >= 2 && near(&gb[..2], 350.0) && near(&gb[..2], 440.0) && !near(&gb, 425.0),
        "GB dial tone peaks: {gb:?}"
    );

    // Kamailio saw the old subscriber's binding removed before the new one registered.
    let regs = kam.registrations();
    let removed = regs.iter().position(|r| *r == ("1001".to_string(), 0));
    let added = regs.iter().position(|r| r.0 == "1002" && r.1 > 0);
    assert!(
        matches!((removed, added), (Some(r), Some(a)) if r < a),
        "registrations: {regs:?}"
    );

    // What the browser did reached the stored configuration.
    let stored = std::fs::read_to_string(gw.dir.join("gateway.toml")).expect("config");
    assert!(stored.contains("user = \"1002\""), "{stored}");
    assert!(stored.contains("password = \"secret-1002\""));
    assert!(stored.contains("country = \"GB\""));
    assert!(stored.contains("$argon2id$"));
}
