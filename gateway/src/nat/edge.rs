//! The sockets of NAT traversal: the thin edge around [`super::mapping`].
//!
//! - [`SipNat`]: the SIP socket's mapping. Its first query runs before the user agent is built
//!   (bounded by [`FIRST_QUERY_WAIT`]) so that the first REGISTER already carries the public
//!   Contact; then a task refreshes it, re-queries at once when the route to the STUN server
//!   leaves from another local address (network change), and moves the user agent's Via and
//!   Contact (and so its registrations) when the advertised address changes.
//! - [`media_mapper`]: for each call, a Binding request from the call's own RTP socket before
//!   the SDP is built, waiting at most [`Retransmit::MEDIA`]'s 500 ms; without an answer the
//!   SDP keeps the local address.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::mapping::{BindingOutcome, BindingTxn, MappingChange, MappingMonitor, Retransmit};
use crate::config::model::Nat;
use crate::sip::transport::edge::StunDatagram;
use crate::sip::transport::{Destination, SipEdge, TransportKind, local_addr_toward};
use crate::sip::ua::driver::UaHandle;

/// Longest wait for the SIP socket's first mapping at start.
pub const FIRST_QUERY_WAIT: Duration = Duration::from_secs(2);

/// How often the route toward the STUN server is checked for a new local address.
pub const ROUTE_CHECK: Duration = Duration::from_secs(5);

/// Learns the public address of a call's RTP socket (the SDP announces it instead of the
/// bound address); `None` keeps the bound address.
pub type MediaMapper = Box<dyn FnMut(&UdpSocket) -> Option<SocketAddr> + Send>;

fn say(text: String) {
    println!("{text}");
    crate::web::logring::remember(crate::config::LogLevel::Info, text);
}

/// Resolves `nat.stun_server` (host names through the system resolver), preferring an
/// address of the family of `like` (the socket that will send to it).
pub async fn resolve_server(cfg: &Nat, like: IpAddr) -> Option<SocketAddr> {
    let (host, port) = super::server_host_port(&cfg.stun_server)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            let same = addrs.iter().find(|a| a.is_ipv4() == like.is_ipv4());
            same.or(addrs.first()).copied()
        }
        Err(e) => {
            say(format!("nat: cannot resolve STUN server {host}: {e}"));
            None
        }
    }
}

/// One Binding transaction on a blocking wait over `sock` (left as it was found: blocking
/// or not, no read timeout). Datagrams other than the response are dropped.
pub fn query_socket(sock: &UdpSocket, server: SocketAddr, timing: Retransmit) -> BindingOutcome {
    use super::mapping::BindingFailure;
    let restore_nonblocking = sock.set_nonblocking(false).is_ok();
    let mut txn = BindingTxn::new(rand::random(), server, Instant::now(), timing);
    let mut buf = [0u8; 1500];
    let outcome = loop {
        let now = Instant::now();
        if let Some(req) = txn.poll_transmit(now) {
            // A refused send is retried with the next retransmission.
            let _ = sock.send_to(req, server);
        }
        if let Some(o) = txn.outcome() {
            break o.clone();
        }
        let Some(deadline) = txn.next_deadline() else {
            break BindingOutcome::Failed(BindingFailure::Timeout);
        };
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        if sock.set_read_timeout(Some(wait)).is_err() {
            break BindingOutcome::Failed(BindingFailure::Timeout);
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && let Ok(o) = txn.handle_response(from, &buf[..n])
        {
            break o.clone();
        }
    };
    let _ = sock.set_read_timeout(None);
    if restore_nonblocking {
        let _ = sock.set_nonblocking(true);
    }
    outcome
}

/// The RTP side of `cfg` for RTP sockets bound to `media_ip`: a static external address, or
/// STUN from each RTP socket; `None` when neither is configured.
pub async fn media_mapper(cfg: &Nat, media_ip: IpAddr) -> Option<MediaMapper> {
    if let Some(ip) = super::external_ip(cfg) {
        return Some(Box::new(move |sock: &UdpSocket| {
            Some(SocketAddr::new(ip, sock.local_addr().ok()?.port()))
        }));
    }
    let server = resolve_server(cfg, media_ip).await?;
    Some(stun_media_mapper(server, Retransmit::MEDIA))
}

/// Runs a blocking wait; on a multi-threaded runtime the worker's other tasks move elsewhere
/// meanwhile.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// STUN from each RTP socket toward `server`.
pub fn stun_media_mapper(server: SocketAddr, timing: Retransmit) -> MediaMapper {
    Box::new(
        move |sock: &UdpSocket| match blocking(|| query_socket(sock, server, timing)) {
            BindingOutcome::Mapped(a) => Some(a),
            BindingOutcome::Failed(f) => {
                eprintln!("nat: RTP mapping: {f}; SDP keeps the local address");
                None
            }
        },
    )
}

/// What ended a wait of the SIP mapping task.
enum Wake {
    Stun(StunDatagram),
    Recheck,
    Timer,
}

/// The configured STUN server: its name, its address once resolved, and the STUN datagrams
/// the SIP edge receives.
struct StunServer {
    name: String,
    addr: Option<SocketAddr>,
    rx: mpsc::Receiver<StunDatagram>,
}

/// The SIP socket's public address: learned at start, refreshed by [`SipNat::spawn`].
pub struct SipNat {
    edge: SipEdge,
    stun: Option<StunServer>,
    monitor: MappingMonitor,
    external: Option<IpAddr>,
    /// The edge listens on the wildcard address: the local address follows the routes.
    wildcard: bool,
    /// Poked when something suggests the network changed.
    recheck: Arc<Notify>,
    /// SIP runs over TCP: the UDP mapping's port says nothing about it.
    tcp: bool,
}

impl SipNat {
    /// Sets up NAT traversal for the SIP socket of `edge` whose advertised local address is
    /// `local`; with a STUN server, runs the first query (at most [`FIRST_QUERY_WAIT`]).
    pub async fn start(cfg: &Nat, edge: &SipEdge, local: SocketAddr) -> SipNat {
        let refresh = Duration::from_secs(u64::from(cfg.keepalive_s.clamp(30, 300)));
        let timing = Retransmit::RFC;
        let mut nat = SipNat {
            edge: edge.clone(),
            stun: None,
            monitor: MappingMonitor::new(local, Instant::now(), refresh, timing),
            external: super::external_ip(cfg),
            wildcard: edge.udp_local_addr().ip().is_unspecified(),
            recheck: Arc::new(Notify::new()),
            tcp: edge.tcp_local_addr().is_some(),
        };
        if nat.external.is_none() && !cfg.stun_server.trim().is_empty() {
            let rx = edge.stun_tap(16);
            let server = resolve_server(cfg, local.ip()).await;
            nat.stun = Some(StunServer {
                name: cfg.stun_server.trim().to_owned(),
                addr: server,
                rx,
            });
            let first = async {
                while nat.monitor.mapped().is_none() && nat.monitor.failures() == 0 {
                    nat.step(None).await;
                }
            };
            // Not answered in time: the refresh task goes on with the same transaction.
            let _ = tokio::time::timeout(FIRST_QUERY_WAIT, first).await;
        }
        if nat.external.is_some() {
            say(format!(
                "nat: SIP advertises {} (external address)",
                nat.advertised()
            ));
        }
        nat
    }

    /// What Via and Contact carry now.
    /// Over TCP only the mapped IP address is used, with the listening port (requests reach
    /// gatewayd on its own connections, or through a forwarded port).
    pub fn advertised(&self) -> SocketAddr {
        let local = self.monitor.local();
        let a = super::advertised(local, self.external, self.monitor.mapped());
        if self.tcp {
            SocketAddr::new(a.ip(), local.port())
        } else {
            a
        }
    }

    /// Notify it to query the STUN server at once (a registration failed: the router may have
    /// a new public address or have dropped the mapping).
    pub fn recheck_handle(&self) -> Arc<Notify> {
        self.recheck.clone()
    }

    /// The mapping STUN learned for the SIP socket, if any.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.monitor.mapped()
    }

    /// Keeps the mapping fresh and the user agent's Via/Contact in step with it; `None` when
    /// there is nothing to keep (no STUN server, or an external address).
    pub fn spawn(mut self, ua: UaHandle) -> Option<JoinHandle<()>> {
        self.stun.as_ref()?;
        Some(tokio::spawn(async move {
            loop {
                self.step(Some(&ua)).await;
            }
        }))
    }

    /// One turn: start a due query, send what is due, then wait for a response, the next
    /// deadline or the route check. Returns after a mapping was learned or a turn passed.
    async fn step(&mut self, ua: Option<&UaHandle>) {
        let Some(StunServer {
            name, addr: server, ..
        }) = self.stun.as_mut()
        else {
            return std::future::pending().await;
        };
        let name = name.clone();
        let now = Instant::now();
        if self.monitor.query_due(now) {
            if server.is_none() {
                let cfg = Nat {
                    stun_server: name.clone(),
                    ..Nat::default()
                };
                *server = resolve_server(&cfg, self.monitor.local().ip()).await;
            }
            match *server {
                Some(s) => self.monitor.start(rand::random(), s, now),
                // Unresolvable for now: try again later.
                None => self.monitor.postpone(now + ROUTE_CHECK * 6),
            }
        }
        loop {
            let before = self.monitor.failures();
            let Some((to, bytes)) = self.monitor.poll_transmit(Instant::now()) else {
                if before == 0 && self.monitor.failures() > 0 {
                    say(format!(
                        "nat: STUN server {name} did not answer; SIP advertises {}",
                        self.advertised()
                    ));
                }
                break;
            };
            let dest = Destination {
                transport: TransportKind::Udp,
                addr: to,
                conn: None,
            };
            let _ = self.edge.send(&dest, &bytes).await;
        }
        let deadline = self.monitor.next_deadline().min(Instant::now() + ROUTE_CHECK);
        let Some(StunServer { addr: server, rx, .. }) = self.stun.as_mut() else {
            return;
        };
        let server = *server;
        let recheck = self.recheck.clone();
        let woke = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => Wake::Stun(m),
                // The edge is gone: nothing more to learn.
                None => return std::future::pending().await,
            },
            _ = recheck.notified() => Wake::Recheck,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => Wake::Timer,
        };
        match woke {
            Wake::Stun((from, data)) => {
                if let Ok(Some(ch)) = self.monitor.handle_response(Instant::now(), from, &data) {
                    self.apply(ch, ua);
                }
            }
            Wake::Recheck => self.monitor.recheck(Instant::now()),
            Wake::Timer => self.check_route(server, ua),
        }
    }

    /// With a wildcard bind, the local address is the one routed toward the STUN server.
    fn check_route(&mut self, server: Option<SocketAddr>, ua: Option<&UaHandle>) {
        let (true, Some(server)) = (self.wildcard, server) else {
            return;
        };
        let Ok(ip) = local_addr_toward(server, None) else {
            return;
        };
        let local = self.monitor.local();
        if ip != local.ip() {
            say(format!("nat: local address now {ip} (was {})", local.ip()));
            let now = Instant::now();
            let ch = self
                .monitor
                .network_changed(now, SocketAddr::new(ip, local.port()))
                .unwrap_or(MappingChange {
                    advertised: self.advertised(),
                    mapped: None,
                });
            self.apply(ch, ua);
        }
    }

    fn apply(&mut self, ch: MappingChange, ua: Option<&UaHandle>) {
        let adv = self.advertised();
        match ch.mapped {
            Some(m) if m == self.monitor.local() => say(format!("nat: SIP mapping {m} is the local address")),
            Some(m) => say(format!("nat: SIP public address {m} (STUN)")),
            None => say(format!("nat: SIP mapping forgotten; advertising {adv}")),
        }
        if let Some(ua) = ua {
            ua.with(|ua, now| {
                if ua.config().local != adv {
                    ua.set_local(now, adv);
                }
            });
        }
    }
}
