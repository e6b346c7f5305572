//! The tokio loop that runs a [`UserAgent`] over a [`SipEdge`]: received messages and timer
//! deadlines go into the core, its outputs go to the sockets and to an event channel.
//!
//! Call control acts on the user agent through [`UaHandle::with`], which runs a closure on the
//! core with the current time and then wakes the loop to flush what it queued.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::{UaEvent, UaOutput, UserAgent};
use crate::sip::transport::framing::PING;
use crate::sip::transport::{Inbound, SipEdge, TransportKind};

/// Which way a traced message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceDir {
    Received,
    Sent,
}

/// Sees every SIP message the loop sends or receives (not keep-alives): the transport, the
/// peer and the bytes. A SIP trace ("sip set debug" in Asterisk terms) is one of these.
pub type SipTrace = Arc<dyn Fn(TraceDir, TransportKind, SocketAddr, &[u8]) + Send + Sync>;

/// Shared access to a running user agent.
#[derive(Clone)]
pub struct UaHandle {
    ua: Arc<Mutex<UserAgent>>,
    wake: Arc<Notify>,
    trace: Arc<OnceLock<SipTrace>>,
}

impl UaHandle {
    /// Runs `f` on the core with the current time, then wakes the loop.
    pub fn with<R>(&self, f: impl FnOnce(&mut UserAgent, Instant) -> R) -> R {
        let r = f(&mut lock(&self.ua), Instant::now());
        self.wake.notify_one();
        r
    }

    /// Installs the message trace (once; it decides itself whether to record anything, so
    /// it can follow a live setting).
    pub fn set_trace(&self, trace: SipTrace) {
        let _ = self.trace.set(trace);
    }
}

impl UaHandle {
    /// Resolves `host` (A/AAAA through the system resolver) and records the address for next
    /// hops naming it; `port` is used when the URI gives none.
    pub async fn resolve(&self, host: &str, port: u16) -> std::io::Result<std::net::SocketAddr> {
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
        self.with(|ua, _| ua.set_host_addr(host, addr));
        Ok(addr)
    }
}

impl UaHandle {
    /// Locates `target` per RFC 3263 ([`crate::sip::dns::locate`]) and gives the core its
    /// ordered targets for next hops naming that host (failover included). Numeric hosts need
    /// no call.
    pub async fn locate<D: crate::sip::dns::DnsResolver>(
        &self,
        dns: &D,
        target: &crate::sip::dns::SipTarget,
        opts: &crate::sip::dns::LocateOptions,
    ) -> Result<crate::sip::dns::TargetList, crate::sip::dns::DnsError> {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
        let list = crate::sip::dns::locate(dns, target, opts, &mut rng).await?;
        let host = target.maddr.as_deref().unwrap_or(&target.host);
        self.with(|ua, _| ua.set_host_targets(host, &list));
        Ok(list)
    }
}

fn lock(m: &Mutex<UserAgent>) -> MutexGuard<'_, UserAgent> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the loop. Events arrive on the returned receiver; the task ends when the inbound
/// channel closes.
pub fn spawn(
    ua: UserAgent,
    edge: SipEdge,
    mut inbound: mpsc::Receiver<Inbound>,
) -> (UaHandle, mpsc::UnboundedReceiver<UaEvent>, JoinHandle<()>) {
    let handle = UaHandle {
        ua: Arc::new(Mutex::new(ua)),
        wake: Arc::new(Notify::new()),
        trace: Arc::new(OnceLock::new()),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let h = handle.clone();
    let task = tokio::spawn(async move {
        loop {
            // Flush everything the core queued.
            let (outs, deadline) = {
                let mut ua = lock(&h.ua);
                let mut outs = Vec::new();
                while let Some(o) = ua.poll_output() {
                    outs.push(o);
                }
                (outs, ua.next_deadline())
            };
            if !outs.is_empty() {
                for o in outs {
                    match o {
                        UaOutput::Send { txn, dest, msg } => {
                            let bytes = msg.to_bytes();
                            if let Some(trace) = h.trace.get() {
                                trace(TraceDir::Sent, dest.transport, dest.addr, &bytes);
                            }
                            if edge.send(&dest, &bytes).await.is_err()
                                && let Some(t) = txn
                            {
                                lock(&h.ua).transport_error(Instant::now(), t);
                            }
                        }
                        UaOutput::Event(e) => {
                            let _ = tx.send(e);
                        }
                        UaOutput::Keepalive { dest } => {
                            let sent = match dest.transport {
                                TransportKind::Udp => edge.send(&dest, PING).await,
                                _ => edge.ping_connection(dest.addr).await,
                            };
                            if sent.is_err() {
                                lock(&h.ua).keepalive_failed(Instant::now(), &dest);
                            }
                        }
                        UaOutput::CloseFlow { dest } => {
                            edge.close_connection(dest.addr);
                        }
                    }
                }
                continue;
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                m = inbound.recv() => match m {
                    Some(m) => {
                        if let Some(trace) = h.trace.get()
                            && !m.is_keepalive()
                        {
                            trace(TraceDir::Received, m.transport, m.source, &m.data);
                        }
                        lock(&h.ua).handle_inbound(Instant::now(), &m)
                    }
                    None => break,
                },
                _ = sleep => lock(&h.ua).poll_timers(Instant::now()),
                _ = h.wake.notified() => {}
            }
        }
    });
    (handle, rx, task)
}
