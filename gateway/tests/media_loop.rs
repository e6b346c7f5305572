//! The media loop end to end on loopback: a virtual PCM bus feeds speech and DTMF into the
//! line, RTP peers written with `gateway::rtp` talk to the loop's streams, and what each side
//! hears is checked (speech correlated with its source, tones and digits detected).

mod media_support;

use std::net::SocketAddr;

use codecs::callerid::{CallerId, CidDecoder, CidFormat, CidStandard};
use codecs::codec::VoiceCodec;
use codecs::dtmf::DtmfGenerator;
use codecs::tones::{CallProgressDetector, Heard, ToneGenerator, ToneKind, TonePlan};
use gateway::media::{
    AudioEventKind, DigitTarget, Digits, Direction, Endpoint, MediaCommand, MediaConfig, MediaEngine,
    MediaEvent, MediaHandle, PortLines, StreamConfig, StreamEventKind, StreamId,
};
use hal::fxo::{FxoLine, FxoReading};
use hal::pcm::FRAME_SAMPLES;
use hal::{Instant, LineError};
use media_support::*;

const TEST_CFG: MediaConfig = MediaConfig {
    max_streams: 4,
    echo_tail_ms: 32,
    rt_priority: 0,
    lock_memory: false,
    queue_depth: 256,
};

struct Rig {
    engine: MediaEngine,
    handle: MediaHandle,
    tap: std::sync::Arc<PcmTap>,
    events: Vec<MediaEvent>,
    tick: u32,
}

struct FxoOffHook;

impl FxoLine for FxoOffHook {
    fn set_off_hook(&mut self, _off_hook: bool) -> Result<(), LineError> {
        Ok(())
    }
    fn read(&mut self, _now: Instant) -> Result<FxoReading, LineError> {
        Ok(FxoReading {
            ringing: false,
            tip_ring_volts: 8,
            loop_current_ma: 25,
        })
    }
}

impl Rig {
    /// FXS ports 0..n on channels 0..n (plus an FXO port when `fxo`), inputs per channel.
    fn new(inputs: Vec<Vec<i16>>, fxo_last: bool, ticks: usize, echo: f32) -> Rig {
        let tap = PcmTap::new(inputs, ticks + 10, echo);
        let n = tap.inputs.len();
        let ports = (0..n)
            .map(|i| {
                if fxo_last && i == n - 1 {
                    PortLines::Fxo {
                        id: i as u8,
                        pcm_channel: i,
                        line: Box::new(FxoOffHook),
                    }
                } else {
                    PortLines::Fxs {
                        id: i as u8,
                        pcm_channel: i,
                        line: Box::new(OffHookPhone),
                    }
                }
            })
            .collect();
        let (engine, handle) =
            MediaEngine::with_config(Box::new(VirtualPcm::new(tap.clone())), ports, TEST_CFG);
        Rig {
            engine,
            handle,
            tap,
            events: Vec::new(),
            tick: 0,
        }
    }

    fn cmd(&mut self, c: MediaCommand) {
        self.handle.send(c).unwrap();
    }

    fn step(&mut self) {
        self.engine.tick().unwrap();
        self.tick += 1;
        while let Some(e) = self.handle.poll_event() {
            self.events.push(e);
        }
        self.handle.collect_retired();
    }

    fn stream_events(&self, s: u16) -> Vec<StreamEventKind> {
        self.events
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Stream(ev) if ev.stream == StreamId(s) => Some(ev.kind),
                _ => None,
            })
            .collect()
    }

    fn audio_events(&self, port: u8) -> Vec<AudioEventKind> {
        self.events
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Audio(ev) if ev.port == port => Some(ev.kind),
                _ => None,
            })
            .collect()
    }
}

/// Starts stream `id` toward `peer`, and points the peer at the stream's RTP socket.
fn start_stream(rig: &mut Rig, peer: &mut RtpPeer, id: u16, edit: impl FnOnce(&mut StreamConfig)) {
    let cmd = peer.start_command(StreamId(id), edit);
    if let MediaCommand::StartStream { sockets, .. } = &cmd {
        peer.to = Some(sockets.rtp.local_addr().unwrap());
    }
    rig.cmd(cmd);
}

fn dtmf_signal(digits: &str, on_ms: u32, off_ms: u32) -> Vec<i16> {
    let mut g = DtmfGenerator::new();
    for c in digits.chars() {
        g.push_timed(c, on_ms, off_ms).unwrap();
    }
    let mut out = vec![0i16; (digits.len() as u32 * (on_ms + off_ms) * 8) as usize];
    g.fill(&mut out);
    out
}

/// A call on port 0 over `codec`: speech both ways, line DTMF out as RFC 4733, RFC 4733 in
/// (duplicated and with triple ends) regenerated on the line.
fn call_both_ways(codec: VoiceCodec) {
    let sp = speech();
    let talk = 8000 * 4;
    let mut line_in = sp[..talk].to_vec();
    line_in.extend(vec![0i16; 4000]);
    line_in.extend(dtmf_signal("159#", 100, 100));
    line_in.extend(vec![0i16; 8000 * 3]);
    let ticks = line_in.len() / FRAME_SAMPLES;
    let mut rig = Rig::new(vec![line_in.clone()], false, ticks, 0.0);
    let mut peer = RtpPeer::new(codec, 20);
    start_stream(&mut rig, &mut peer, 0, |_| {});
    rig.cmd(MediaCommand::Connect {
        a: Endpoint::Port(0),
        b: Endpoint::Stream(StreamId(0)),
    });
    // The peer talks from another point of the speech sample (no double talk correlation).
    let far: Vec<i16> = sp[talk..2 * talk].to_vec();
    let mut scheduled: Vec<(u32, Vec<u8>)> = Vec::new();
    let digits_at = (talk / FRAME_SAMPLES) as u32 + 60;
    for t in 0..ticks as u32 {
        rig.step();
        peer.receive(t * 80);
        if (t as usize) < talk / FRAME_SAMPLES {
            let i = t as usize * FRAME_SAMPLES;
            peer.push_audio(&far[i..i + FRAME_SAMPLES]);
        } else if t == digits_at {
            // Three digits, 120 ms each, packets every 20 ms, each packet sent twice.
            let mut at = t;
            for d in ['4', '2', '*'] {
                for (k, p) in peer.send_digit_packets(d, 6).into_iter().enumerate() {
                    let when = at + 2 * (k.min(5) as u32);
                    scheduled.push((when, p.clone()));
                    scheduled.push((when + 1, p));
                }
                at += 30;
            }
        } else if t > digits_at + 100 {
            peer.push_audio(&[0; FRAME_SAMPLES]);
        }
        let to = peer.to.unwrap();
        for (_, p) in scheduled.iter().filter(|(w, _)| *w == t) {
            peer.sock.send_to(p, to).unwrap();
        }
    }
    // Line to network.
    let (c, lag) = best_correlation(&sp[..talk - 4000], &peer.heard, 1600);
    let (e, _) = envelope_correlation(&sp[..talk - 4000], &peer.heard, 1600);
    eprintln!("{codec:?} line->net: waveform {c:.3} at lag {lag}, envelope {e:.3}");
    let (min_c, min_e) = if codec == VoiceCodec::Gsm {
        (0.5, 0.9)
    } else {
        (0.95, 0.95)
    };
    assert!(c > min_c && e > min_e, "line to network speech: {c} {e}");
    // Network to line.
    let out = rig.tap.output(0);
    let (_, lag2) = best_correlation(&far[..talk - 8000], &out, 2400);
    let c2 = segment_correlation(&far[..talk - 8000], &out, 2400);
    let (e2, _) = envelope_correlation(&far[..talk - 8000], &out, 2400);
    eprintln!(
        "{codec:?} net->line: waveform {c2:.3} (median of 0.5 s segments), lag {lag2}, envelope {e2:.3}"
    );
    assert!(c2 > min_c && e2 > min_e, "network to line speech: {c2} {e2}");
    assert!(lag2 < 8 * 200, "playout delay {} ms", lag2 / 8);
    // Line digits: detected once each, sent as RFC 4733 and received exactly once.
    let line_digits: String = rig
        .audio_events(0)
        .iter()
        .filter_map(|k| match k {
            AudioEventKind::DtmfStart { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(line_digits, "159#");
    assert_eq!(peer.digits, "159#", "RFC 4733 digits at the peer");
    // Network digits: reported once each and played on the line.
    let evs = rig.stream_events(0);
    let begun: String = evs
        .iter()
        .filter_map(|k| match k {
            StreamEventKind::DigitBegin { digit } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(begun, "42*");
    let ends = evs
        .iter()
        .filter(|k| matches!(k, StreamEventKind::DigitEnd { .. }))
        .count();
    assert_eq!(ends, 3);
    let from = digits_at as usize * FRAME_SAMPLES;
    assert_eq!(detect_digits(&out[from..from + 8000 * 2]), "42*");
    assert!(evs.contains(&StreamEventKind::Started));
    let st = rig.handle.stats.stream(StreamId(0)).unwrap();
    assert!(st.packets_sent.load(std::sync::atomic::Ordering::Relaxed) > 200);
    assert!(st.packets_received.load(std::sync::atomic::Ordering::Relaxed) > 200);
}

#[test]
fn pcmu_call_both_ways_with_rfc4733() {
    call_both_ways(VoiceCodec::Pcmu);
}

#[test]
fn gsm_call_both_ways_with_rfc4733() {
    call_both_ways(VoiceCodec::Gsm);
}

#[test]
fn pcma_to_gsm_transcoding_bridge() {
    let sp = speech();
    let n = 8000 * 3;
    let ticks = n / FRAME_SAMPLES + 50;
    let mut rig = Rig::new(vec![vec![]], false, ticks, 0.0);
    let mut a = RtpPeer::new(VoiceCodec::Pcma, 20);
    let mut b = RtpPeer::new(VoiceCodec::Gsm, 40);
    start_stream(&mut rig, &mut a, 0, |_| {});
    start_stream(&mut rig, &mut b, 1, |_| {});
    rig.cmd(MediaCommand::Connect {
        a: Endpoint::Stream(StreamId(0)),
        b: Endpoint::Stream(StreamId(1)),
    });
    let mut relay: Vec<(usize, Vec<u8>)> = Vec::new();
    for t in 0..ticks {
        rig.step();
        a.receive(t as u32 * 80);
        b.receive(t as u32 * 80);
        let i = (t * FRAME_SAMPLES) % n;
        if t == 200 || t == 240 {
            // RFC 4733 from A (each packet twice, 20 ms apart) is relayed to B as events.
            let d = if t == 200 { '3' } else { '#' };
            for (k, p) in a.send_digit_packets(d, 5).into_iter().enumerate() {
                relay.push((t + 2 * k.min(4), p));
            }
        }
        let to = a.to.unwrap();
        for (_, p) in relay.iter().filter(|(w, _)| *w == t) {
            a.sock.send_to(p, to).unwrap();
            a.sock.send_to(p, to).unwrap();
        }
        a.push_audio(&sp[i..i + FRAME_SAMPLES]);
        b.push_audio(&sp[n + i..n + i + FRAME_SAMPLES]);
    }
    assert_eq!(b.digits, "3#", "digits relayed across the bridge");
    let (e, _) = envelope_correlation(&sp[..n - 4000], &b.heard, 2400);
    let (e2, _) = envelope_correlation(&sp[n..2 * n - 4000], &a.heard, 2400);
    let c2 = segment_correlation(&sp[n..2 * n - 4000], &a.heard, 2400);
    eprintln!("PCMA->GSM envelope {e:.3}; GSM->PCMA envelope {e2:.3} waveform {c2:.3}");
    assert!(e > 0.9 && e2 > 0.9 && c2 > 0.8, "{e} {e2} {c2}");
    assert!(b.audio_packets > 50 && a.audio_packets > 100);
}

#[test]
fn local_call_between_two_ports() {
    let sp = speech();
    let ticks = 200;
    let mut rig = Rig::new(vec![sp[..16000].to_vec(), vec![]], false, ticks, 0.0);
    rig.cmd(MediaCommand::Connect {
        a: Endpoint::Port(0),
        b: Endpoint::Port(1),
    });
    for _ in 0..ticks {
        rig.step();
    }
    let (c, lag) = best_correlation(&sp[..12000], &rig.tap.output(1), 400);
    assert!(c > 0.95, "{c}");
    // One tick of PCM path: captured in tick n, played in tick n + 1.
    assert_eq!(lag, FRAME_SAMPLES);
}

#[test]
fn tones_caller_id_and_fxo_call_progress() {
    let plan = TonePlan::for_country("US").unwrap();
    // FXO line input: 2 s of dial tone, then 3 s of silence.
    let mut dial = vec![0i16; 16000];
    ToneGenerator::new(plan.tone(ToneKind::Dial).unwrap()).fill(&mut dial);
    dial.extend(vec![0i16; 24000]);
    let ticks = 500;
    let mut rig = Rig::new(vec![vec![], vec![], dial], true, ticks, 0.0);
    rig.cmd(MediaCommand::SetTonePlan { port: 0, plan });
    rig.cmd(MediaCommand::PlayTone {
        port: 0,
        tone: ToneKind::Busy,
        over_audio: false,
    });
    let cid = CallerId::new("5551234567", "ALICE").unwrap();
    rig.cmd(MediaCommand::caller_id(1, &cid, CidStandard::Bell202, CidFormat::Mdmf).unwrap());
    rig.cmd(MediaCommand::SetTonePlan { port: 2, plan });
    rig.cmd(MediaCommand::SetCallProgress {
        port: 2,
        enabled: true,
        silence_ms: 2000,
    });
    for t in 0..ticks {
        if t == 300 {
            rig.cmd(MediaCommand::SendDigits {
                target: DigitTarget::Line(1),
                digits: Digits::try_from("0123").unwrap(),
                on_ms: 80,
                off_ms: 80,
            });
        }
        rig.step();
    }
    // Busy tone on port 0.
    let mut cp = CallProgressDetector::new(plan);
    cp.process(&rig.tap.output(0));
    let mut heard = Vec::new();
    while let Some(e) = cp.poll() {
        heard.push(e.heard);
    }
    assert!(heard.contains(&Heard::Tone(ToneKind::Busy)), "{heard:?}");
    // Caller ID then in-band digits on port 1.
    let out1 = rig.tap.output(1);
    let mut dec = CidDecoder::new(CidStandard::Bell202);
    dec.process(&out1[..300 * 80]);
    let msg = dec.poll().expect("caller id").expect("valid caller id");
    assert_eq!(msg.caller, cid);
    assert!(rig.audio_events(1).contains(&AudioEventKind::CallerIdDone));
    assert_eq!(detect_digits(&out1[300 * 80..]), "0123");
    assert!(rig.audio_events(1).contains(&AudioEventKind::DigitsSent));
    // FXO: dial tone heard, then a long silence.
    let fxo = rig.audio_events(2);
    assert!(
        fxo.iter().any(|k| matches!(
            k,
            AudioEventKind::CallProgress {
                heard: Heard::Tone(ToneKind::Dial),
                ..
            }
        )),
        "{fxo:?}"
    );
    assert!(
        fxo.iter()
            .any(|k| matches!(k, AudioEventKind::LongSilence { ms } if *ms >= 2000))
    );
}

#[test]
fn hold_and_resume_by_direction() {
    let ticks = 300;
    let mut rig = Rig::new(vec![speech()], false, ticks, 0.0);
    let mut peer = RtpPeer::new(VoiceCodec::Pcmu, 20);
    let remote: SocketAddr = peer.addr();
    start_stream(&mut rig, &mut peer, 2, |_| {});
    rig.cmd(MediaCommand::Connect {
        a: Endpoint::Port(0),
        b: Endpoint::Stream(StreamId(2)),
    });
    let mut counts = Vec::new();
    for t in 0..ticks {
        if t == 100 || t == 200 {
            let mut cfg = StreamConfig::new(VoiceCodec::Pcmu, Some(remote));
            cfg.direction = if t == 100 {
                Direction::Inactive
            } else {
                Direction::SendRecv
            };
            rig.cmd(MediaCommand::ModifyStream {
                stream: StreamId(2),
                config: Box::new(cfg),
            });
            counts.push((peer.audio_packets, peer.markers));
        }
        rig.step();
        peer.receive(t as u32 * 80);
    }
    counts.push((peer.audio_packets, peer.markers));
    assert!(counts[0].0 >= 48, "{counts:?}");
    assert_eq!(counts[1].0, counts[0].0, "nothing sent while inactive");
    assert!(counts[2].0 >= counts[1].0 + 48);
    assert!(counts[2].1 > counts[1].1, "marker on resume");
    rig.cmd(MediaCommand::StopStream { stream: StreamId(2) });
    rig.step();
    assert!(rig.stream_events(2).contains(&StreamEventKind::Stopped));
    assert!(
        !rig.handle
            .stats
            .stream(StreamId(2))
            .unwrap()
            .running
            .load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[test]
fn bad_commands_are_reported() {
    let mut rig = Rig::new(vec![vec![]], false, 10, 0.0);
    let peer = RtpPeer::new(VoiceCodec::Gsm, 30);
    rig.cmd(peer.start_command(StreamId(0), |_| {}));
    rig.cmd(peer.start_command(StreamId(9), |_| {}));
    rig.cmd(MediaCommand::StopStream { stream: StreamId(1) });
    rig.step();
    let evs: Vec<_> = rig.events.clone();
    assert!(
        evs.iter()
            .any(|e| matches!(e, MediaEvent::Stream(s) if s.stream == StreamId(0)
        && matches!(s.kind, StreamEventKind::Error(gateway::media::StreamError::BadPtime { ptime_ms: 30 }))))
    );
    assert!(
        evs.iter()
            .any(|e| matches!(e, MediaEvent::Stream(s) if s.stream == StreamId(9)
        && s.kind == StreamEventKind::Error(gateway::media::StreamError::NoSuchSlot)))
    );
    assert!(
        evs.iter()
            .any(|e| matches!(e, MediaEvent::Stream(s) if s.stream == StreamId(1)
        && s.kind == StreamEventKind::Error(gateway::media::StreamError::NotRunning)))
    );
}

#[test]
fn symmetric_rtp_latches_to_the_source() {
    // The SDP address is wrong (a NAT in between): packets must follow where the peer sends from.
    let ticks = 100;
    let mut rig = Rig::new(vec![speech()], false, ticks, 0.0);
    let mut peer = RtpPeer::new(VoiceCodec::Pcma, 20);
    let cmd = peer.start_command(StreamId(1), |c| {
        c.remote_rtp = Some("127.0.0.1:9".parse().unwrap());
        c.symmetric = true;
    });
    if let MediaCommand::StartStream { sockets, .. } = &cmd {
        peer.to = Some(sockets.rtp.local_addr().unwrap());
    }
    rig.cmd(cmd);
    rig.cmd(MediaCommand::Connect {
        a: Endpoint::Port(0),
        b: Endpoint::Stream(StreamId(1)),
    });
    for t in 0..ticks {
        rig.step();
        peer.receive(t as u32 * 80);
        peer.push_audio(&[0; FRAME_SAMPLES]);
    }
    assert!(peer.audio_packets > 40, "latched: {}", peer.audio_packets);
}
