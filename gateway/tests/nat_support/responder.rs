//! A STUN server for the NAT tests, on 127.0.0.1: it answers every Binding request with
//! 127.0.0.2 (another loopback address) and the source port plus 1000, as a NAT would.
//! Shared by the gateway's NAT tests and the end-to-end gatewayd test (included by path).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gateway::nat::stun::{Attribute, BINDING, Class, StunMessage, StunView};

/// The address every client is mapped to.
pub const MAPPED_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// What the responder maps a source port to (an offset: an XOR could map a port to 0).
pub fn mapped_port(p: u16) -> u16 {
    p.wrapping_add(1000)
}

/// The running responder; dropping it stops its thread.
pub struct Responder {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn responder() -> Responder {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !s.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(v) = StunView::parse(&buf[..n]) else {
                continue;
            };
            if v.class() != Class::Request || v.method() != BINDING {
                continue;
            }
            let resp = StunMessage {
                class: Class::Success,
                method: BINDING,
                transaction_id: v.transaction_id(),
                attributes: vec![
                    Attribute::XorMappedAddress(SocketAddr::new(
                        IpAddr::V4(MAPPED_IP),
                        mapped_port(from.port()),
                    )),
                    Attribute::Fingerprint,
                ],
            };
            let _ = sock.send_to(&resp.emit().unwrap(), from);
        }
    });
    Responder {
        addr,
        stop,
        thread: Some(thread),
    }
}
