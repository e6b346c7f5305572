//! [`SipEndpoint`]: the tokio loop joining the edge and the transaction layer. It sends what the
//! layer asks to send, feeds received messages and due timers into it, answers unparseable
//! requests with 400, and hands everything else to the caller as [`TxnEvent`]s.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::edge::{Destination, EdgeConfig, Inbound, SipEdge};
use crate::sip::transaction::wire_glue::{self, ReceiveError};
use crate::sip::transaction::{TimerConfig, TransactionLayer, TxnEvent};
use crate::sip::wire::Message;

/// The message handle of the endpoint's layer: shared, so retransmissions do not copy.
pub type SipMessage = Arc<Message>;

/// The transaction layer as the endpoint runs it.
pub type EndpointLayer = TransactionLayer<SipMessage, Destination>;

/// An edge plus a transaction layer, driven by [`SipEndpoint::next_event`].
pub struct SipEndpoint {
    edge: SipEdge,
    rx: mpsc::Receiver<Inbound>,
    layer: EndpointLayer,
}

impl SipEndpoint {
    /// Binds the edge (see [`EdgeConfig`]) and creates the layer.
    pub async fn bind(edge: EdgeConfig, timers: TimerConfig) -> io::Result<Self> {
        let (edge, rx) = SipEdge::bind(edge).await?;
        Ok(SipEndpoint {
            edge,
            rx,
            layer: TransactionLayer::new(timers),
        })
    }

    pub fn edge(&self) -> &SipEdge {
        &self.edge
    }

    /// The layer, to start client transactions (`send_request`) and answer server ones
    /// (`respond`). What they queue is sent by the next [`SipEndpoint::next_event`] or
    /// [`SipEndpoint::flush`].
    pub fn layer(&mut self) -> &mut EndpointLayer {
        &mut self.layer
    }

    /// Sends every queued transmission; returns the first non-transmit event, if any.
    pub async fn flush(&mut self) -> Option<TxnEvent<SipMessage, Destination>> {
        while let Some(ev) = self.layer.poll_event() {
            match ev {
                TxnEvent::Transmit { txn, msg, dest } => {
                    if self.edge.send(&dest, &msg.to_bytes()).await.is_err() {
                        self.layer.transport_error(Instant::now(), txn);
                    }
                }
                other => return Some(other),
            }
        }
        None
    }

    /// Runs until the layer has something for the TU or core: a request, a response, a
    /// timeout... `None` once the edge has stopped.
    pub async fn next_event(&mut self) -> Option<TxnEvent<SipMessage, Destination>> {
        loop {
            if let Some(ev) = self.flush().await {
                return Some(ev);
            }
            let deadline = self.layer.next_deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                inbound = self.rx.recv() => {
                    let inbound = inbound?;
                    self.on_inbound(&inbound).await;
                }
                _ = sleep => self.layer.poll_timers(Instant::now()),
            }
        }
    }

    async fn on_inbound(&mut self, inbound: &Inbound) {
        if inbound.is_keepalive() {
            return;
        }
        match wire_glue::receive(inbound) {
            Ok(r) => {
                let source = r.reply_to.unwrap_or(Destination {
                    transport: inbound.transport,
                    addr: inbound.source,
                    conn: inbound.conn,
                });
                self.layer
                    .receive(Instant::now(), &r.info, Arc::new(r.msg), source, r.reliable);
            }
            Err(ReceiveError::Parse {
                reply: Some(reply), ..
            }) => {
                let (resp, dest) = *reply;
                let _ = self.edge.send(&dest, &resp.to_bytes()).await;
            }
            // Unparseable responses and unknown transports are dropped.
            Err(_) => {}
        }
    }

    /// Stops the edge.
    pub fn shutdown(&self) {
        self.edge.shutdown();
    }
}
