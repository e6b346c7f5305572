//! The tokio edge of the SIP transport: one UDP socket and one TCP listener on the configured
//! interface address, outgoing TCP connections reused per remote address, RFC 5626 keep-alives
//! (pings answered here, pongs handed to the core), idle connection cleanup and bounded queues
//! everywhere.
//!
//! Received messages are framed here (datagrams are messages; streams go through
//! [`StreamFramer`]) and handed to the core as [`Inbound`] values on a bounded channel.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::TransportKind;
use super::framing::{PING, PONG, StreamFramer, StreamItem};

/// Largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;

/// Edge settings.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Interface address and port for UDP and TCP. Port 0 picks a free port (TCP then uses the
    /// same port as UDP). An unspecified address (0.0.0.0) listens everywhere, but Via and
    /// Contact still use the real interface address ([`super::local_addr_toward`]).
    pub bind: SocketAddr,
    /// Listen on TCP and allow outgoing TCP.
    pub tcp: bool,
    /// Largest message accepted or sent on a stream.
    pub max_message: usize,
    /// Connections (accepted plus opened) kept at once; more are refused.
    pub max_connections: usize,
    /// A connection with no traffic either way for this long is closed.
    pub idle_timeout: Duration,
    /// Bound on establishing an outgoing TCP connection.
    pub connect_timeout: Duration,
    /// Depth of the queue of received messages toward the core.
    pub inbound_queue: usize,
    /// Depth of each connection's write queue.
    pub write_queue: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 5060)),
            tcp: true,
            max_message: 65_535,
            max_connections: 64,
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            inbound_queue: 256,
            write_queue: 64,
        }
    }
}

/// A STUN datagram received on the UDP socket: source and bytes.
pub type StunDatagram = (SocketAddr, Vec<u8>);

/// Identifies one TCP connection for the life of the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub transport: TransportKind,
    /// The packet's source (for Via `received`/`rport`).
    pub source: SocketAddr,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// The connection, for stream transports (responses go back on it, 18.2.2).
    pub conn: Option<ConnId>,
    pub data: Vec<u8>,
}

impl Inbound {
    /// True for an RFC 5626 keep-alive rather than a message: the edge hands pongs (a lone CRLF
    /// on a stream) to the core so that it can tell a live flow from a dead one.
    pub fn is_keepalive(&self) -> bool {
        !self.data.is_empty() && self.data.iter().all(|&c| c == b'\r' || c == b'\n')
    }
}

/// Where to send a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    pub transport: TransportKind,
    pub addr: SocketAddr,
    /// Prefer this connection (a response to a request received on it); when it has closed,
    /// a connection to `addr` is used or opened.
    pub conn: Option<ConnId>,
}

/// Why a message was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The operating system refused (connection refused, unreachable...).
    Io(io::ErrorKind),
    /// The edge does not run this transport.
    Unsupported(TransportKind),
    /// The message is larger than the transport allows.
    TooLarge { len: usize, limit: usize },
    /// The TCP connection could not be established in time.
    ConnectTimeout,
    /// The connection's write queue is full (the peer is not reading).
    QueueFull,
    /// The connection limit is reached.
    TooManyConnections,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Io(k) => write!(f, "send failed: {k}"),
            SendError::Unsupported(t) => write!(f, "transport {t} not available"),
            SendError::TooLarge { len, limit } => write!(f, "message of {len} bytes over {limit}"),
            SendError::ConnectTimeout => f.write_str("connection timed out"),
            SendError::QueueFull => f.write_str("connection write queue full"),
            SendError::TooManyConnections => f.write_str("connection limit reached"),
        }
    }
}

impl std::error::Error for SendError {}

struct ConnHandle {
    id: ConnId,
    tx: mpsc::Sender<Vec<u8>>,
    last_ms: Arc<AtomicU64>,
    ping_sent: Arc<AtomicBool>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

#[derive(Default)]
struct Conns {
    by_addr: HashMap<SocketAddr, ConnHandle>,
    by_id: HashMap<ConnId, SocketAddr>,
}

struct Inner {
    cfg: EdgeConfig,
    udp: UdpSocket,
    udp_local: SocketAddr,
    tcp_local: Option<SocketAddr>,
    conns: Mutex<Conns>,
    inbound: mpsc::Sender<Inbound>,
    next_conn: AtomicU64,
    epoch: Instant,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Where STUN datagrams received on the UDP socket go (see [`SipEdge::stun_tap`]).
    stun: Mutex<Option<mpsc::Sender<StunDatagram>>>,
}

/// Handle to the running edge; clones share it. Call [`SipEdge::shutdown`] to stop it.
#[derive(Clone)]
pub struct SipEdge {
    inner: Arc<Inner>,
}

impl SipEdge {
    /// Binds UDP (and TCP) on `cfg.bind` and starts the receive tasks. Received messages arrive
    /// on the returned channel.
    pub async fn bind(cfg: EdgeConfig) -> io::Result<(SipEdge, mpsc::Receiver<Inbound>)> {
        let udp = UdpSocket::bind(cfg.bind).await?;
        let udp_local = udp.local_addr()?;
        let listener = if cfg.tcp {
            Some(TcpListener::bind(SocketAddr::new(cfg.bind.ip(), udp_local.port())).await?)
        } else {
            None
        };
        let tcp_local = listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let (tx, rx) = mpsc::channel(cfg.inbound_queue.max(1));
        let inner = Arc::new(Inner {
            cfg,
            udp,
            udp_local,
            tcp_local,
            conns: Mutex::new(Conns::default()),
            inbound: tx,
            next_conn: AtomicU64::new(1),
            epoch: Instant::now(),
            tasks: Mutex::new(Vec::new()),
            stun: Mutex::new(None),
        });
        let mut tasks = vec![tokio::spawn(udp_loop(inner.clone()))];
        if let Some(l) = listener {
            tasks.push(tokio::spawn(accept_loop(inner.clone(), l)));
        }
        tasks.push(tokio::spawn(idle_sweeper(inner.clone())));
        *lock(&inner.tasks) = tasks;
        Ok((SipEdge { inner }, rx))
    }

    /// The bound UDP address.
    pub fn udp_local_addr(&self) -> SocketAddr {
        self.inner.udp_local
    }

    /// STUN datagrams received on the UDP socket from now on arrive here (source, bytes)
    /// instead of being dropped: the NAT edge learns the socket's public mapping with them
    /// ([`crate::nat::edge`]). A full queue drops them.
    pub fn stun_tap(&self, depth: usize) -> mpsc::Receiver<StunDatagram> {
        let (tx, rx) = mpsc::channel(depth.max(1));
        *lock(&self.inner.stun) = Some(tx);
        rx
    }

    /// The bound TCP listener address, if TCP runs.
    pub fn tcp_local_addr(&self) -> Option<SocketAddr> {
        self.inner.tcp_local
    }

    /// Open TCP connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.inner.conns).by_addr.len()
    }

    /// The remote address of connection `id`, if it is open.
    pub fn connection_peer(&self, id: ConnId) -> Option<SocketAddr> {
        lock(&self.inner.conns).by_id.get(&id).copied()
    }

    /// Sends one message. For TCP, reuses the connection given in `dest.conn` or any open
    /// connection to `dest.addr`, opening one when there is none.
    pub async fn send(&self, dest: &Destination, data: &[u8]) -> Result<(), SendError> {
        match dest.transport {
            TransportKind::Udp => {
                if data.len() > MAX_DATAGRAM {
                    return Err(SendError::TooLarge {
                        len: data.len(),
                        limit: MAX_DATAGRAM,
                    });
                }
                self.inner
                    .udp
                    .send_to(data, dest.addr)
                    .await
                    .map_err(|e| SendError::Io(e.kind()))?;
                Ok(())
            }
            TransportKind::Tcp if self.inner.cfg.tcp => {
                if data.len() > self.inner.cfg.max_message {
                    return Err(SendError::TooLarge {
                        len: data.len(),
                        limit: self.inner.cfg.max_message,
                    });
                }
                let tx = self.stream_for(dest).await?;
                tx.try_send(data.to_vec()).map_err(|_| SendError::QueueFull)
            }
            t => Err(SendError::Unsupported(t)),
        }
    }

    /// Sends an RFC 5626 keep-alive ping on the connection to `addr` (opening one if needed);
    /// the peer's pong arrives as an [`Inbound`] for which [`Inbound::is_keepalive`] holds.
    pub async fn ping(&self, addr: SocketAddr) -> Result<(), SendError> {
        let dest = Destination {
            transport: TransportKind::Tcp,
            addr,
            conn: None,
        };
        let tx = self.stream_for(&dest).await?;
        if let Some(c) = lock(&self.inner.conns).by_addr.get(&addr) {
            c.ping_sent.store(true, Ordering::Relaxed);
        }
        tx.try_send(PING.to_vec()).map_err(|_| SendError::QueueFull)
    }

    /// Like [`SipEdge::ping`] but only on an open connection: a flow whose connection has
    /// closed is reported (`Io(NotConnected)`) instead of being replaced silently.
    pub async fn ping_connection(&self, addr: SocketAddr) -> Result<(), SendError> {
        let c = lock(&self.inner.conns);
        let h = c
            .by_addr
            .get(&addr)
            .filter(|h| !h.tx.is_closed())
            .ok_or(SendError::Io(io::ErrorKind::NotConnected))?;
        h.ping_sent.store(true, Ordering::Relaxed);
        h.tx.try_send(PING.to_vec()).map_err(|_| SendError::QueueFull)
    }

    /// Closes the connection to `addr` (a flow that stopped answering keep-alives); the next
    /// message to `addr` opens a new one. False if there was none.
    pub fn close_connection(&self, addr: SocketAddr) -> bool {
        let mut c = lock(&self.inner.conns);
        let Some(h) = c.by_addr.remove(&addr) else {
            return false;
        };
        h.reader.abort();
        h.writer.abort();
        c.by_id.remove(&h.id);
        true
    }

    /// Closes idle connections now (the edge also does this periodically).
    pub fn close_idle(&self) -> usize {
        close_idle(&self.inner)
    }

    /// Stops every task and closes every connection.
    pub fn shutdown(&self) {
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        let mut c = lock(&self.inner.conns);
        for (_, h) in c.by_addr.drain() {
            h.reader.abort();
            h.writer.abort();
        }
        c.by_id.clear();
    }

    async fn stream_for(&self, dest: &Destination) -> Result<mpsc::Sender<Vec<u8>>, SendError> {
        {
            let c = lock(&self.inner.conns);
            let by_conn = dest
                .conn
                .and_then(|id| c.by_id.get(&id))
                .and_then(|a| c.by_addr.get(a));
            if let Some(h) = by_conn.or_else(|| c.by_addr.get(&dest.addr))
                && !h.tx.is_closed()
            {
                return Ok(h.tx.clone());
            }
            if c.by_addr.len() >= self.inner.cfg.max_connections {
                return Err(SendError::TooManyConnections);
            }
        }
        let sock = match dest.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| SendError::Io(e.kind()))?;
        let bind_ip = self.inner.cfg.bind.ip();
        if !bind_ip.is_unspecified() && bind_ip.is_ipv4() == dest.addr.is_ipv4() {
            sock.bind(SocketAddr::new(bind_ip, 0))
                .map_err(|e| SendError::Io(e.kind()))?;
        }
        let stream = tokio::time::timeout(self.inner.cfg.connect_timeout, sock.connect(dest.addr))
            .await
            .map_err(|_| SendError::ConnectTimeout)?
            .map_err(|e| SendError::Io(e.kind()))?;
        Ok(register(&self.inner, stream, dest.addr))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms(inner: &Inner) -> u64 {
    inner.epoch.elapsed().as_millis() as u64
}

async fn udp_loop(inner: Arc<Inner>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, source) = match inner.udp.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP errors surface here on some systems; the socket stays usable.
            Err(_) => continue,
        };
        let data = &buf[..n];
        // Keep-alives (CRLF) and empty datagrams carry no message.
        if data.iter().all(|&c| c == b'\r' || c == b'\n') {
            continue;
        }
        // STUN shares the socket (RFC 7983: its first byte is 0..3, no SIP message starts so).
        if crate::nat::stun::looks_like_stun(data) {
            if let Some(tx) = lock(&inner.stun).as_ref() {
                let _ = tx.try_send((source, data.to_vec()));
            }
            continue;
        }
        let msg = Inbound {
            transport: TransportKind::Udp,
            source,
            local: inner.udp_local,
            conn: None,
            data: data.to_vec(),
        };
        if inner.inbound.send(msg).await.is_err() {
            return;
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        if lock(&inner.conns).by_addr.len() >= inner.cfg.max_connections {
            drop(stream);
            continue;
        }
        register(&inner, stream, peer);
    }
}

/// Starts the reader and writer tasks of a connection and records it under its peer address.
fn register(inner: &Arc<Inner>, stream: TcpStream, peer: SocketAddr) -> mpsc::Sender<Vec<u8>> {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(inner.udp_local);
    let id = ConnId(inner.next_conn.fetch_add(1, Ordering::Relaxed));
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(inner.cfg.write_queue.max(1));
    let last_ms = Arc::new(AtomicU64::new(now_ms(inner)));
    let ping_sent = Arc::new(AtomicBool::new(false));
    // Held while the tasks start so that a connection failing at once unregisters after it
    // was registered.
    let mut c = lock(&inner.conns);
    let reader = tokio::spawn(conn_reader(
        inner.clone(),
        rd,
        id,
        peer,
        local,
        tx.clone(),
        last_ms.clone(),
        ping_sent.clone(),
    ));
    let writer = tokio::spawn(conn_writer(inner.clone(), wr, rx, id, peer, last_ms.clone()));
    if let Some(old) = c.by_addr.insert(
        peer,
        ConnHandle {
            id,
            tx: tx.clone(),
            last_ms,
            ping_sent,
            reader,
            writer,
        },
    ) {
        c.by_id.remove(&old.id);
        // The old connection stays up until its peer or the idle sweep closes it, but new
        // messages use the new one.
        drop(old.tx);
    }
    c.by_id.insert(id, peer);
    tx
}

fn unregister(inner: &Inner, id: ConnId, peer: SocketAddr) {
    let mut c = lock(&inner.conns);
    if c.by_addr.get(&peer).is_some_and(|h| h.id == id)
        && let Some(h) = c.by_addr.remove(&peer)
    {
        h.reader.abort();
        h.writer.abort();
    }
    c.by_id.remove(&id);
}

#[allow(clippy::too_many_arguments)]
async fn conn_reader(
    inner: Arc<Inner>,
    mut rd: tokio::net::tcp::OwnedReadHalf,
    id: ConnId,
    peer: SocketAddr,
    local: SocketAddr,
    tx: mpsc::Sender<Vec<u8>>,
    last_ms: Arc<AtomicU64>,
    ping_sent: Arc<AtomicBool>,
) {
    let mut framer = StreamFramer::new(inner.cfg.max_message);
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        last_ms.store(now_ms(&inner), Ordering::Relaxed);
        if ping_sent.swap(false, Ordering::Relaxed) {
            framer.ping_sent();
        }
        framer.push(&buf[..n]);
        loop {
            match framer.next_item() {
                Ok(None) => break,
                Ok(Some(StreamItem::Message(data))) => {
                    let msg = Inbound {
                        transport: TransportKind::Tcp,
                        source: peer,
                        local,
                        conn: Some(id),
                        data,
                    };
                    if inner.inbound.send(msg).await.is_err() {
                        break 'conn;
                    }
                }
                Ok(Some(StreamItem::Ping)) => {
                    let _ = tx.try_send(PONG.to_vec());
                }
                Ok(Some(StreamItem::Pong)) => {
                    let pong = Inbound {
                        transport: TransportKind::Tcp,
                        source: peer,
                        local,
                        conn: Some(id),
                        data: PONG.to_vec(),
                    };
                    // A pong is worth nothing late: never wait for room in the queue.
                    let _ = inner.inbound.try_send(pong);
                }
                // Unframeable stream: nothing after this point can be trusted.
                Err(_) => break 'conn,
            }
        }
    }
    drop(tx);
    unregister(&inner, id, peer);
}

async fn conn_writer(
    inner: Arc<Inner>,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
    id: ConnId,
    peer: SocketAddr,
    last_ms: Arc<AtomicU64>,
) {
    while let Some(data) = rx.recv().await {
        if wr.write_all(&data).await.is_err() {
            break;
        }
        last_ms.store(now_ms(&inner), Ordering::Relaxed);
    }
    let _ = wr.shutdown().await;
    unregister(&inner, id, peer);
}

async fn idle_sweeper(inner: Arc<Inner>) {
    let period = (inner.cfg.idle_timeout / 4).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        close_idle(&inner);
    }
}

fn close_idle(inner: &Inner) -> usize {
    let now = now_ms(inner);
    let limit = inner.cfg.idle_timeout.as_millis() as u64;
    let mut c = lock(&inner.conns);
    let idle: Vec<SocketAddr> = c
        .by_addr
        .iter()
        .filter(|(_, h)| now.saturating_sub(h.last_ms.load(Ordering::Relaxed)) >= limit)
        .map(|(a, _)| *a)
        .collect();
    for a in &idle {
        if let Some(h) = c.by_addr.remove(a) {
            h.reader.abort();
            h.writer.abort();
            c.by_id.remove(&h.id);
        }
    }
    idle.len()
}
