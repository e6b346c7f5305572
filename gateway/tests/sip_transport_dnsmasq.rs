//! RFC 3263 location through the real resolver (`HickoryDns`) against a dnsmasq started on
//! 127.0.0.1 with SRV and A records for a test zone. dnsmasq comes from Debian dnsmasq-base
//! (scripts/deps.d/test-sip-txn.apt); without it the test fails under CI and is skipped otherwise.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gateway::sip::dns::{DnsResolver, HickoryDns, LocateOptions, SipTarget, locate};
use gateway::sip::transport::TransportKind;
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_dnsmasq() -> Option<String> {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn locate_through_dnsmasq_on_loopback() {
    let Some(bin) = find_dnsmasq() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "dnsmasq missing: run scripts/deps.sh test"
        );
        eprintln!("dnsmasq not installed; skipping");
        return;
    };
    let port = free_udp_port();
    let child = Command::new(bin)
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--conf-file=/dev/null",
            "--local=/gw.test/",
            "--pid-file=",
            &format!("--port={port}"),
            "--host-record=a.gw.test,127.0.0.11",
            "--host-record=b.gw.test,127.0.0.12",
            "--host-record=pbx.gw.test,127.0.0.13",
            "--srv-host=_sip._udp.gw.test,a.gw.test,5070,10,50",
            "--srv-host=_sip._udp.gw.test,b.gw.test,5080,20,50",
            "--srv-host=_sip._tcp.gw.test,a.gw.test,5071,10,50",
            "--naptr-record=naptr.gw.test,10,10,s,SIP+D2T,,_sip._tcp.gw.test",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    let _guard = Dnsmasq(child);
    let dns = HickoryDns::with_servers(&[format!("127.0.0.1:{port}").parse().unwrap()]).unwrap();

    // Wait (bounded) for dnsmasq to answer.
    let mut up = false;
    for _ in 0..50 {
        if matches!(dns.ip("a.gw.test").await, Ok(v) if !v.is_empty()) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "dnsmasq did not answer");

    let mut rng = StdRng::seed_from_u64(9);
    let opts = LocateOptions::default();
    let got = |l: gateway::sip::dns::TargetList| {
        l.all()
            .iter()
            .map(|t| format!("{}/{}", t.transport, t.addr))
            .collect::<Vec<_>>()
    };
    // SRV by priority (no NAPTR for gw.test), UDP then TCP.
    let l = locate(&dns, &SipTarget::host("gw.test"), &opts, &mut rng)
        .await
        .unwrap();
    assert_eq!(
        got(l),
        vec![
            "UDP/127.0.0.11:5070",
            "UDP/127.0.0.12:5080",
            "TCP/127.0.0.11:5071"
        ]
    );
    // NAPTR pointing at the TCP SRV.
    let l = locate(&dns, &SipTarget::host("naptr.gw.test"), &opts, &mut rng)
        .await
        .unwrap();
    assert_eq!(got(l), vec!["TCP/127.0.0.11:5071"]);
    // No SRV: A record, default port.
    let l = locate(&dns, &SipTarget::host("pbx.gw.test"), &opts, &mut rng)
        .await
        .unwrap();
    assert_eq!(got(l), vec!["UDP/127.0.0.13:5060"]);
    // Explicit transport.
    let mut t = SipTarget::host("gw.test");
    t.transport = Some(TransportKind::Tcp);
    let l = locate(&dns, &t, &opts, &mut rng).await.unwrap();
    assert_eq!(got(l), vec!["TCP/127.0.0.11:5071"]);
    // A name nobody knows: no targets, not a hang.
    assert!(
        locate(&dns, &SipTarget::host("nothing.gw.test"), &opts, &mut rng)
            .await
            .is_err()
    );
}
