//! RFC 5626 keep-alives toward the flows of registered accounts, sans-IO.
//!
//! A flow is the transport and address a registration's REGISTER went to (outbound proxy or
//! registrar). While an account is registered its flow gets a keep-alive every 80-100 % of the
//! interval (4.4.1): on TCP a double-CRLF ping on the connection, answered by a single-CRLF
//! pong; on UDP a double-CRLF datagram that keeps NAT bindings open (the registrar ignores it).
//!
//! On TCP, once a flow has answered a ping, a ping left without a pong for
//! [`PONG_TIMEOUT`] means the flow failed: the user agent closes the connection and
//! re-registers over a new one (4.5). A peer that never answers pings is only pinged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::sip::transport::TransportKind;

/// How long a ping waits for its pong on a stream (RFC 5626 4.4.1).
pub const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest interval used, whatever the configuration or a `Flow-Timer` says.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// One flow: where keep-alives go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub transport: TransportKind,
    pub addr: SocketAddr,
}

#[derive(Clone, Debug)]
struct Flow {
    interval: Duration,
    next: Instant,
    pong_due: Option<Instant>,
    /// The peer answered a ping on this flow: a missing pong is then a failure.
    answers: bool,
}

/// What a timer tick asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepaliveTick {
    /// Flows to send a keep-alive on now.
    pub ping: Vec<FlowKey>,
    /// Flows whose pong did not come.
    pub failed: Vec<FlowKey>,
}

/// The keep-alive schedule of every flow in use.
#[derive(Clone, Debug, Default)]
pub struct Keepalives {
    flows: HashMap<FlowKey, Flow>,
}

impl Keepalives {
    pub fn new() -> Self {
        Keepalives::default()
    }

    /// Makes the set of flows `wanted` (flow and its interval): new flows get their first
    /// keep-alive one interval from `now`, flows no longer wanted stop.
    pub fn sync<R: Rng + ?Sized>(&mut self, now: Instant, wanted: &[(FlowKey, Duration)], rng: &mut R) {
        self.flows.retain(|k, _| wanted.iter().any(|(w, _)| w == k));
        for &(key, interval) in wanted {
            let interval = interval.max(MIN_INTERVAL);
            match self.flows.get_mut(&key) {
                Some(f) if f.interval == interval => {}
                Some(f) => {
                    f.interval = interval;
                    f.next = f.next.min(now + jittered(interval, rng));
                }
                None => {
                    self.flows.insert(
                        key,
                        Flow {
                            interval,
                            next: now + jittered(interval, rng),
                            pong_due: None,
                            answers: false,
                        },
                    );
                }
            }
        }
    }

    /// Number of flows kept alive.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Flows that have answered a ping (their pongs are now supervised).
    pub fn answering(&self) -> usize {
        self.flows.values().filter(|f| f.answers).count()
    }

    /// True if `key` is kept alive.
    pub fn contains(&self, key: &FlowKey) -> bool {
        self.flows.contains_key(key)
    }

    /// The earliest keep-alive or pong deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.flows
            .values()
            .flat_map(|f| [Some(f.next), f.pong_due.filter(|_| f.answers)])
            .flatten()
            .min()
    }

    /// Fires what is due at `now`. A failed flow is dropped (the next [`Keepalives::sync`]
    /// starts it again once its registration is renewed).
    pub fn poll<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) -> KeepaliveTick {
        let mut tick = KeepaliveTick::default();
        for (key, f) in &mut self.flows {
            if f.answers && f.pong_due.is_some_and(|d| d <= now) {
                tick.failed.push(*key);
                continue;
            }
            if f.next <= now {
                tick.ping.push(*key);
                f.next = now + jittered(f.interval, rng);
                if key.transport.is_reliable() && f.pong_due.is_none() {
                    f.pong_due = Some(now + PONG_TIMEOUT);
                }
            }
        }
        for k in &tick.failed {
            self.flows.remove(k);
        }
        tick.ping.sort();
        tick.failed.sort();
        tick
    }

    /// A pong arrived from `key`.
    pub fn on_pong(&mut self, key: &FlowKey) {
        if let Some(f) = self.flows.get_mut(key) {
            f.pong_due = None;
            f.answers = true;
        }
    }

    /// Sending a keep-alive on `key` failed: the flow is gone.
    pub fn on_send_failure(&mut self, key: &FlowKey) -> bool {
        self.flows.remove(key).is_some()
    }
}

/// A random duration between 80 % and 100 % of `interval` (RFC 5626 4.4.1).
fn jittered<R: Rng + ?Sized>(interval: Duration, rng: &mut R) -> Duration {
    let ms = interval.as_millis().min(u128::from(u64::MAX)) as u64;
    let lo = ms - ms / 5;
    if lo >= ms {
        return interval;
    }
    Duration::from_millis(rng.gen_range(lo..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn key(t: TransportKind) -> FlowKey {
        FlowKey {
            transport: t,
            addr: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn pings_within_80_to_100_percent_and_detects_missing_pong() {
        let mut rng = StdRng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut k = Keepalives::new();
        let tcp = key(TransportKind::Tcp);
        k.sync(t0, &[(tcp, Duration::from_secs(30))], &mut rng);
        let first = k.next_deadline().unwrap();
        assert!(first >= t0 + Duration::from_secs(24) && first <= t0 + Duration::from_secs(30));
        assert_eq!(k.poll(first, &mut rng).ping, vec![tcp]);
        // No pong yet and none ever seen: the flow is not judged.
        let t = first + PONG_TIMEOUT;
        assert!(k.poll(t, &mut rng).failed.is_empty());
        k.on_pong(&tcp);
        let next = k.next_deadline().unwrap();
        assert_eq!(k.poll(next, &mut rng).ping, vec![tcp]);
        // The flow answered before: now a missing pong fails it.
        assert_eq!(k.next_deadline(), Some(next + PONG_TIMEOUT));
        let tick = k.poll(next + PONG_TIMEOUT, &mut rng);
        assert_eq!(tick.failed, vec![tcp]);
        assert!(k.is_empty());
    }

    #[test]
    fn udp_flows_expect_no_pong_and_unwanted_flows_stop() {
        let mut rng = StdRng::seed_from_u64(2);
        let t0 = Instant::now();
        let mut k = Keepalives::new();
        let udp = key(TransportKind::Udp);
        k.sync(t0, &[(udp, Duration::from_secs(10))], &mut rng);
        let mut t = t0;
        for _ in 0..5 {
            t = k.next_deadline().unwrap();
            let tick = k.poll(t, &mut rng);
            assert_eq!(tick.ping, vec![udp]);
            assert!(tick.failed.is_empty());
        }
        assert!(t <= t0 + Duration::from_secs(50));
        k.sync(t, &[], &mut rng);
        assert_eq!(k.next_deadline(), None);
    }
}
