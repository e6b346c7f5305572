//! Media loop benchmark: transcoding capacity of one core and line-to-RTP latency.
//!
//! Capacity: N G.711 (PCMU, 20 ms) <-> GSM (20 ms) transcoding bridges run in the real loop
//! (sockets, RTP sessions, jitter buffers, decoders with concealment, encoders), each leg fed by
//! a peer on loopback. The loop is driven by a virtual PCM clock as fast as it goes; the
//! thread CPU time of each tick is measured. A channel here is one transcoded call (one GSM
//! encode and one GSM decode per 20 ms, plus the G.711 side). Capacity = N * 10 ms / tick time.
//! Besides the mean, the 99.9th percentile tick decides how many channels fit with no tick
//! over 10 ms.
//!
//! Reference (printed by the script from libgsm's own harness) is the raw codec cost.
//! Also printed: our GSM encode+decode cost per 20 ms frame, measured here.
//!
//! Latency: one FXS port in a PCMU 20 ms call; for every packet, the time from the PCM
//! exchange returning the frame that completes the packet to the packet being readable at the
//! peer's socket. Light load (that call alone) and loaded (with the transcoding bridges).
//!
//! Usage: media_bench SPEECH.s16le PAIRS TICKS

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant as StdInstant;

use codecs::codec::{VoiceCodec, VoiceEncoder};
use codecs::gsm::{GsmDecoder, GsmEncoder};
use gateway::media::{
    Endpoint, MediaCommand, MediaConfig, MediaEngine, MediaHandle, PortLines, StreamConfig, StreamId,
    StreamSockets,
};
use gateway::rtp::packet::RtpHeader;
use hal::fxs::{FxsLine, Hook, HookSample, LineFeed};
use hal::pcm::{FRAME_SAMPLES, Frame, PcmBus, TickReport};
use hal::{Instant, LineError};

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

struct Clockless {
    input: Arc<Vec<i16>>,
    channels: usize,
    tick: u64,
    /// Wallclock (ns since `origin`) when the last exchange returned.
    returned: Arc<AtomicU64>,
    origin: StdInstant,
}

impl PcmBus for Clockless {
    fn channels(&self) -> usize {
        self.channels
    }
    fn exchange(&mut self, _tx: &[Frame], rx: &mut [Frame]) -> Result<TickReport, LineError> {
        let n = self.input.len();
        for f in rx.iter_mut() {
            for (i, s) in f.iter_mut().enumerate() {
                *s = self.input[(self.tick as usize * FRAME_SAMPLES + i) % n];
            }
        }
        self.tick += 1;
        self.returned
            .store(self.origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(TickReport {
            tick: self.tick - 1,
            missed: 0,
        })
    }
}

struct Phone;
impl FxsLine for Phone {
    fn set_feed(&mut self, _f: LineFeed) -> Result<(), LineError> {
        Ok(())
    }
    fn poll(&mut self, _now: Instant) -> Result<HookSample, LineError> {
        Ok(HookSample {
            hook: Hook::OffHook,
            changed_at: None,
        })
    }
}

fn pair() -> StreamSockets {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 == 1 || port == u16::MAX {
            continue;
        }
        let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) else {
            continue;
        };
        rtp.set_nonblocking(true).unwrap();
        rtcp.set_nonblocking(true).unwrap();
        return StreamSockets { rtp, rtcp };
    }
}

/// A peer that sends pre-encoded 20 ms packets and drains what it gets.
struct Peer {
    sock: UdpSocket,
    to: SocketAddr,
    pt: u8,
    payloads: Vec<Vec<u8>>,
    seq: u16,
    ts: u32,
    ssrc: u32,
    pkt: Vec<u8>,
}

impl Peer {
    fn new(codec: VoiceCodec, speech: &[i16], ssrc: u32) -> (Peer, StreamSockets) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut enc = codec.encoder();
        let payloads = speech
            .chunks_exact(160)
            .take(250)
            .map(|c| {
                let mut p = vec![0u8; 160];
                let n = enc.encode(c, &mut p).unwrap();
                p.truncate(n);
                p
            })
            .collect();
        let s = pair();
        let to = s.rtp.local_addr().unwrap();
        (
            Peer {
                sock,
                to,
                pt: codec.payload_type(),
                payloads,
                seq: 0,
                ts: 0,
                ssrc,
                pkt: vec![0u8; 200],
            },
            s,
        )
    }

    fn send(&mut self) {
        let p = &self.payloads[self.seq as usize % self.payloads.len()];
        let h = RtpHeader::new(self.pt, self.seq, self.ts, self.ssrc, false);
        let n = h.write_packet(None, p, 0, &mut self.pkt).unwrap();
        let _ = self.sock.send_to(&self.pkt[..n], self.to);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
    }

    fn drain(&self) -> usize {
        let mut buf = [0u8; 1500];
        let mut n = 0;
        while self.sock.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    }
}

struct Setup {
    engine: MediaEngine,
    handle: MediaHandle,
    peers: Vec<Peer>,
    line_peer: Option<Peer>,
    returned: Arc<AtomicU64>,
    origin: StdInstant,
}

fn setup(speech: &Arc<Vec<i16>>, pairs: usize, line_call: bool) -> Setup {
    let returned = Arc::new(AtomicU64::new(0));
    let origin = StdInstant::now();
    let pcm = Clockless {
        input: speech.clone(),
        channels: 1,
        tick: 0,
        returned: returned.clone(),
        origin,
    };
    let ports = vec![PortLines::Fxs {
        id: 0,
        pcm_channel: 0,
        line: Box::new(Phone),
    }];
    let cfg = MediaConfig {
        max_streams: 2 * pairs + 1,
        echo_tail_ms: 64,
        rt_priority: 0,
        lock_memory: false,
        queue_depth: 1024,
    };
    let (engine, mut handle) = MediaEngine::with_config(Box::new(pcm), ports, cfg);
    let mut peers = Vec::new();
    let mut start = |id: u16, codec: VoiceCodec, ssrc: u32| {
        let (peer, sockets) = Peer::new(codec, speech, ssrc);
        let cfg = StreamConfig::new(codec, Some(peer.sock.local_addr().unwrap()));
        handle
            .send(MediaCommand::start_stream(StreamId(id), sockets, cfg))
            .map_err(|_| ())
            .unwrap();
        peer
    };
    let mut line_peer = None;
    if line_call {
        line_peer = Some(start(0, VoiceCodec::Pcmu, 1));
    }
    for i in 0..pairs {
        let a = 1 + 2 * i as u16;
        peers.push(start(a, VoiceCodec::Pcmu, 100 + a as u32));
        peers.push(start(a + 1, VoiceCodec::Gsm, 100 + a as u32 + 1));
    }
    let mut send = |c| handle.send(c).map_err(|_| ()).unwrap();
    if line_call {
        send(MediaCommand::Connect {
            a: Endpoint::Port(0),
            b: Endpoint::Stream(StreamId(0)),
        });
    }
    for i in 0..pairs {
        let a = 1 + 2 * i as u16;
        send(MediaCommand::Connect {
            a: Endpoint::Stream(StreamId(a)),
            b: Endpoint::Stream(StreamId(a + 1)),
        });
    }
    Setup {
        engine,
        handle,
        peers,
        line_peer,
        returned,
        origin,
    }
}

struct Run {
    tick_ns: Vec<u64>,
    latency_ns: Vec<u64>,
    packets_out: usize,
}

fn run(s: &mut Setup, ticks: usize) -> Run {
    let mut tick_ns = Vec::with_capacity(ticks);
    let mut latency_ns = Vec::new();
    let mut packets_out = 0;
    for t in 0..ticks {
        if t % 2 == 0 {
            for p in s.peers.iter_mut() {
                p.send();
            }
            if let Some(p) = s.line_peer.as_mut() {
                p.send();
            }
        }
        let c0 = thread_cpu_ns();
        s.engine.tick().unwrap();
        let c1 = thread_cpu_ns();
        if let Some(p) = s.line_peer.as_ref() {
            let got = p.drain();
            if got > 0 {
                let now = s.origin.elapsed().as_nanos() as u64;
                latency_ns.push(now - s.returned.load(Ordering::Relaxed));
            }
        }
        if t >= 100 {
            tick_ns.push(c1 - c0);
        }
        for p in &s.peers {
            packets_out += p.drain();
        }
        while s.handle.poll_event().is_some() {}
        s.handle.collect_retired();
    }
    Run {
        tick_ns,
        latency_ns,
        packets_out,
    }
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map(String::as_str).unwrap_or("speech.raw");
    let pairs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let ticks: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let bytes = std::fs::read(path).expect("speech file");
    let speech: Arc<Vec<i16>> = Arc::new(
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect(),
    );

    // Our GSM codec alone, per 20 ms frame (encode + decode), best of 5 rounds.
    let mut best = u64::MAX;
    for _ in 0..5 {
        let mut enc = GsmEncoder::new();
        let mut dec = GsmDecoder::new();
        let mut frame = [0u8; 33];
        let mut out = [0i16; 160];
        let frames = speech.len() / 160;
        let c0 = thread_cpu_ns();
        let mut check = 0i64;
        for i in 0..frames {
            let pcm: &[i16; 160] = speech[i * 160..i * 160 + 160].try_into().unwrap();
            enc.encode_frame(pcm, &mut frame);
            dec.decode_frame(&frame, &mut out).unwrap();
            check += i64::from(out[i % 160]);
        }
        std::hint::black_box(check);
        best = best.min((thread_cpu_ns() - c0) / frames as u64);
    }
    println!("ours_gsm_frame_ns {best}");

    // Capacity.
    let mut s = setup(&speech, pairs, false);
    let mut r = run(&mut s, ticks);
    let mean = r.tick_ns.iter().sum::<u64>() as f64 / r.tick_ns.len() as f64;
    let p999 = pct(&mut r.tick_ns, 0.999);
    let max = *r.tick_ns.last().unwrap_or(&0);
    println!("pairs {pairs}");
    println!("tick_mean_ns {mean:.0}");
    println!("tick_p999_ns {p999}");
    println!("tick_max_ns {max}");
    println!("packets_out {}", r.packets_out);
    let overruns = s.handle.stats.overruns.load(Ordering::Relaxed);
    println!("overruns {overruns}");
    drop(s);

    // Latency, light and loaded.
    for (name, p) in [("light", 0), ("loaded", pairs)] {
        let mut s = setup(&speech, p, true);
        let mut r = run(&mut s, ticks.min(3000));
        let med = pct(&mut r.latency_ns, 0.5);
        let p95 = pct(&mut r.latency_ns, 0.95);
        let p99 = pct(&mut r.latency_ns, 0.99);
        println!("latency_{name}_median_ns {med}");
        println!("latency_{name}_p95_ns {p95}");
        println!("latency_{name}_p99_ns {p99}");
    }
}
