//! gatewayd registers its account with Kamailio on loopback (digest authentication), shows the
//! registration on the status page, and unregisters when stopped. When CI is set and Kamailio
//! is missing the test fails; otherwise it is skipped with a message.

use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::{Gatewayd, workspace_root};

fn tool(name: &str) -> bool {
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

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kamailio in its own process group, ended with the group on drop (it forks workers).
struct Kamailio(Child);

impl Kamailio {
    fn start(port: u16) -> Kamailio {
        let cfg = workspace_root().join("gateway/tests/fixtures/sip/kamailio.cfg");
        let dir = std::env::temp_dir().join(format!("kamailio-e2e-{port}"));
        let _ = std::fs::create_dir_all(&dir);
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "32", "-M", "8", "-Y"])
            .arg(&dir)
            .arg("-w")
            .arg(&dir)
            .args(["-l", &format!("udp:127.0.0.1:{port}")])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kamailio");
        Kamailio(child)
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
        for _ in 0..50 {
            let alive = Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    }
}

fn config(sip_port: u16, kport: u16, password: &str) -> String {
    format!(
        "[network]\ninterface = \"127.0.0.1\"\nsip_port = {sip_port}\nt1_ms = 100\n\
         [[account]]\nname = \"main\"\nuser = \"1001\"\ndomain = \"127.0.0.1\"\n\
         outbound_proxy = \"127.0.0.1:{kport}\"\npassword = \"{password}\"\nexpires_s = 60\n\
         [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"main\"\n"
    )
}

/// The status page's entry for account "main", read through the logged-in web API.
fn account_status(gw: &mut Gatewayd) -> serde_json::Value {
    gw.login();
    let (code, body) = gw.http_get("/api/status").expect("status API");
    assert_eq!(code, 200, "{body}");
    // Chunked or not, the JSON object spans the first '{' to the last '}'.
    let body = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
    let v: serde_json::Value = serde_json::from_str(body).expect("status JSON");
    v["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "main").cloned())
        .unwrap_or_else(|| panic!("no account entry in {v}"))
}

#[test]
fn gatewayd_registers_with_kamailio_and_unregisters() {
    if !tool("kamailio") {
        return;
    }
    let kport = free_port();
    let _kam = Kamailio::start(kport);
    std::thread::sleep(Duration::from_millis(700));
    let mut gw = Gatewayd::start("sip-register", &["fxs"], &config(free_port(), kport, "secret"));
    gw.wait_output("account main registered", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no registration:\n{}", gw.output.join("\n")));
    let a = account_status(&mut gw);
    assert_eq!(a["state"], "registered", "{a}");
    assert!(
        a["detail"].as_str().unwrap_or("").contains("expires in 60 s"),
        "{a}"
    );
    assert!(gw.stop(), "gatewayd did not stop cleanly");
    assert!(
        gw.wait_output("account main unregistered", Duration::from_secs(2))
            .is_some(),
        "{}",
        gw.output.join("\n")
    );
}

#[test]
fn wrong_password_is_reported() {
    if !tool("kamailio") {
        return;
    }
    let kport = free_port();
    let _kam = Kamailio::start(kport);
    std::thread::sleep(Duration::from_millis(700));
    let mut gw = Gatewayd::start("sip-register-bad", &["fxs"], &config(free_port(), kport, "wrong"));
    let line = gw
        .wait_output("account main registration failed", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no failure:\n{}", gw.output.join("\n")));
    assert!(line.contains("credentials rejected"), "{line}");
    let a = account_status(&mut gw);
    assert_eq!(a["state"], "failed", "{a}");
    assert!(gw.stop());
}
