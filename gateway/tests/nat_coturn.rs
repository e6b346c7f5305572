//! Interop with an independent STUN server: coturn's `turnserver`, run as a plain STUN server
//! on 127.0.0.1 (temporary configuration, no authentication, a free port). Our client, from a
//! plain UDP socket and from the SIP edge, must learn exactly 127.0.0.1:<its own port>.
//! Needs `turnserver` (scripts/deps.d/test-nat.apt); with CI set a missing tool fails the test.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gateway::nat::edge::query_socket;
use gateway::nat::mapping::{BindingOutcome, Retransmit};

mod nat_support;

struct Server {
    child: Child,
    dir: std::path::PathBuf,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn turnserver_available() -> bool {
    let ok = Command::new("sh")
        .args(["-c", "command -v turnserver"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "turnserver (coturn) missing: scripts/deps.sh test"
    );
    if !ok {
        eprintln!("turnserver missing: test not run (install coturn: scripts/deps.sh test)");
    }
    ok
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn coturn(tag: &str) -> Server {
    let port = free_udp_port();
    let dir = std::env::temp_dir().join(format!("gw-nat-coturn-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("turnserver.conf");
    std::fs::write(
        &conf,
        format!(
            "listening-ip=127.0.0.1\nlistening-port={port}\nstun-only\nno-auth\nno-tls\nno-dtls\n\
             no-cli\nsimple-log\nlog-file={log}\npidfile={pid}\nuserdb={db}\nno-multicast-peers\n",
            log = dir.join("turn.log").display(),
            pid = dir.join("turn.pid").display(),
            db = dir.join("turndb").display(),
        ),
    )
    .unwrap();
    let child = Command::new("turnserver")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start turnserver");
    Server {
        child,
        dir,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// Retransmissions long enough to cover the server's start (bounded: 12.6 s + 1.6 s).
const PATIENT: Retransmit = Retransmit {
    rto: Duration::from_millis(200),
    rc: 7,
    rm: 8,
};

#[test]
fn coturn_reports_our_socket_exactly() {
    if !turnserver_available() {
        return;
    }
    let server = coturn("sock");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sock.local_addr().unwrap();
    let outcome = query_socket(&sock, server.addr, PATIENT);
    assert_eq!(
        outcome,
        BindingOutcome::Mapped(local),
        "coturn log:\n{}",
        std::fs::read_to_string(server.dir.join("turn.log")).unwrap_or_default()
    );
    // A second query on the now running server, with the RTP timing, agrees.
    assert_eq!(
        query_socket(&sock, server.addr, Retransmit::MEDIA),
        BindingOutcome::Mapped(local)
    );
}

#[test]
fn coturn_through_the_sip_edge() {
    if !turnserver_available() {
        return;
    }
    let server = coturn("sip");
    // Wait until it answers (plain socket), so the edge's first query meets a running server.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(matches!(
        query_socket(&probe, server.addr, PATIENT),
        BindingOutcome::Mapped(_)
    ));
    let (mapped, _, local) = nat_support::sip_edge_mapping(server.addr);
    // No NAT on loopback: the mapping is the local address itself.
    assert_eq!(mapped, Some(local));
}
