//! A port's levels and echo canceller as the media loop applies them: `SetGain` scales what
//! the line hears and what it sends, `SetEcho` turns the canceller on and off. Call control
//! sends both from the port's `tx_gain_db`, `rx_gain_db` and `echo_canceller` settings.

mod media_support;

use codecs::codec::VoiceCodec;
use gateway::media::{Endpoint, MediaCommand, MediaConfig, MediaEngine, PortLines, StreamId};
use hal::pcm::FRAME_SAMPLES;
use media_support::*;

const TICKS: usize = 300;

fn sine(freq: f64, amp: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// What the line and the far end hear over a call of `TICKS` ticks: the phone says `line_in`
/// (plus `echo` of what it hears, the hybrid), the far end says `far`.
fn call(setup: Vec<MediaCommand>, line_in: Vec<i16>, echo: f32, far: &[i16]) -> (Vec<i16>, Vec<i16>) {
    let tap = PcmTap::new(vec![line_in], TICKS + 10, echo);
    let cfg = MediaConfig {
        max_streams: 1,
        echo_tail_ms: 32,
        rt_priority: 0,
        lock_memory: false,
        queue_depth: 64,
    };
    let (mut engine, mut handle) = MediaEngine::with_config(
        Box::new(VirtualPcm::new(tap.clone())),
        vec![PortLines::Fxs {
            id: 0,
            pcm_channel: 0,
            line: Box::new(OffHookPhone),
        }],
        cfg,
    );
    let mut peer = RtpPeer::new(VoiceCodec::Pcmu, 20);
    let start = peer.start_command(StreamId(0), |_| {});
    let MediaCommand::StartStream { ref sockets, .. } = start else {
        panic!("start_command gives StartStream");
    };
    peer.to = Some(sockets.rtp.local_addr().unwrap());
    for c in setup.into_iter().chain([
        MediaCommand::SetDtmfDetect {
            port: 0,
            enabled: false,
        },
        start,
        MediaCommand::Connect {
            a: Endpoint::Port(0),
            b: Endpoint::Stream(StreamId(0)),
        },
    ]) {
        handle.send(c).unwrap();
    }
    for t in 0..TICKS {
        engine.tick().unwrap();
        while handle.poll_event().is_some() {}
        handle.collect_retired();
        peer.receive(t as u32 * 80);
        let i = (t * FRAME_SAMPLES) % far.len();
        peer.push_audio(&far[i..i + FRAME_SAMPLES]);
    }
    peer.receive(TICKS as u32 * 80);
    (tap.output(0), peer.heard)
}

/// The last second of a recording (past the jitter buffer and the canceller's convergence).
fn tail(x: &[i16]) -> &[i16] {
    &x[x.len().saturating_sub(8000)..]
}

#[test]
fn gains_scale_what_the_line_hears_and_what_it_sends() {
    let far = sine(1000.0, 6000.0, 8000);
    let phone = sine(600.0, 6000.0, 8000);
    let no_echo = || MediaCommand::SetEcho {
        port: 0,
        enabled: false,
        nlp: false,
        reset: true,
    };
    let (line0, heard0) = call(vec![no_echo()], phone.clone(), 0.0, &far);
    let with_gain = vec![
        no_echo(),
        MediaCommand::SetGain {
            port: 0,
            to_line_db: -6.0,
            from_line_db: 6.0,
        },
    ];
    let (line1, heard1) = call(with_gain, phone, 0.0, &far);
    let to_line = 20.0 * (rms(tail(&line1)) / rms(tail(&line0))).log10();
    let from_line = 20.0 * (rms(tail(&heard1)) / rms(tail(&heard0))).log10();
    eprintln!("to the line {to_line:.2} dB, from the line {from_line:.2} dB");
    assert!(rms(tail(&line0)) > 3000.0 && rms(tail(&heard0)) > 3000.0);
    // G.711 quantisation keeps the measured step within a few tenths of a dB.
    assert!((to_line + 6.0).abs() < 0.3, "to the line {to_line} dB");
    assert!((from_line - 6.0).abs() < 0.3, "from the line {from_line} dB");
}

#[test]
fn echo_canceller_setting_decides_whether_the_far_end_hears_its_echo() {
    // The phone is silent; the hybrid returns 30 % of what the line plays.
    let far = speech();
    let far = &far[..8000 * 4];
    let silent = vec![0i16; 8000];
    let set = |enabled| {
        vec![MediaCommand::SetEcho {
            port: 0,
            enabled,
            nlp: false,
            reset: true,
        }]
    };
    let (_, heard_off) = call(set(false), silent.clone(), 0.3, far);
    let (_, heard_on) = call(set(true), silent, 0.3, far);
    let off = rms(tail(&heard_off));
    let on = rms(tail(&heard_on));
    let erle = 20.0 * (off / on.max(1.0)).log10();
    eprintln!("echo returned: canceller off {off:.0} RMS, on {on:.0} RMS ({erle:.1} dB less)");
    assert!(
        off > 300.0,
        "without the canceller the far end hears its echo ({off})"
    );
    assert!(erle > 15.0, "the canceller removes the echo: {erle} dB");
}
