//! SIP calls through gatewayd against sipp on loopback: a virtual phone on an FXS port calls a
//! SIP service (ringback, answer, audio both ways, hang-up with BYE), and a SIP caller rings the
//! phone (caller ID from the From display name, answer, audio both ways, remote BYE), in G.711
//! and in GSM.
//!
//! The far end's audio is a 1 kHz tone encoded by sox (libgsm for GSM) and played by sipp as
//! RTP (`play_pcap_audio`); the phone must hear it. The phone plays 600 Hz; tshark captures
//! what the gateway sends, Wireshark's RTP dissector extracts the payload and sox decodes it;
//! the tone must be there. No part of the audio check runs through our own codecs.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::{Gatewayd, scratch_dir, workspace_root};

const T: Duration = Duration::from_secs(10);
/// What the far end plays, and what the phone plays.
const FAR_HZ: f32 = 1000.0;
const PHONE_HZ: f32 = 600.0;

fn need(tool: &str) {
    assert!(
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "{tool} is missing: scripts/deps.sh test installs it"
    );
}

/// A codec as sipp, sox and the gateway's configuration name it.
#[derive(Clone, Copy)]
struct Codec {
    pt: u8,
    name: &'static str,
    sox_type: &'static str,
    /// Payload bytes per 20 ms.
    frame: usize,
}

const PCMU: Codec = Codec {
    pt: 0,
    name: "PCMU",
    sox_type: "ul",
    frame: 160,
};
const PCMA: Codec = Codec {
    pt: 8,
    name: "PCMA",
    sox_type: "al",
    frame: 160,
};
const GSM: Codec = Codec {
    pt: 3,
    name: "GSM",
    sox_type: "gsm",
    frame: 33,
};

/// An Ethernet pcap of RTP packets carrying `secs` of a `hz` tone encoded by sox.
fn write_tone_pcap(dir: &Path, codec: Codec, hz: f32, secs: u32) -> PathBuf {
    let raw = dir.join(format!("tone.{}", codec.sox_type));
    let st = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-t", codec.sox_type])
        .arg(&raw)
        .args(["synth", &secs.to_string(), "sine", &hz.to_string(), "vol", "0.4"])
        .status()
        .expect("run sox");
    assert!(st.success(), "sox could not encode the tone");
    let payload = std::fs::read(&raw).expect("tone");
    let mut f = Vec::new();
    // Magic, version 2.4, zone, accuracy, snap length, LINKTYPE_ETHERNET.
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for (i, chunk) in payload.chunks_exact(codec.frame).enumerate() {
        let mut rtp = vec![0x80, codec.pt];
        rtp.extend_from_slice(&(i as u16).to_be_bytes());
        rtp.extend_from_slice(&(i as u32 * 160).to_be_bytes());
        rtp.extend_from_slice(&0x5eed_f00du32.to_be_bytes());
        rtp.extend_from_slice(chunk);
        let udp_len = 8 + rtp.len();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        let sum = ip
            .chunks(2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]) as u32)
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&40000u16.to_be_bytes());
        ip.extend_from_slice(&40002u16.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&rtp);
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&ip);
        let us = i as u64 * 20_000;
        f.extend_from_slice(&(1_700_000_000 + (us / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&frame);
    }
    let path = dir.join("audio.pcap");
    std::fs::write(&path, f).expect("write pcap");
    path
}

struct Sipp {
    child: Child,
    log: PathBuf,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sipp {
    /// Starts sipp with `scenario` (tests/sipp/) on `port` for one call, media on
    /// `media_port`, playing `codec`'s 1 kHz tone; `target` for a calling scenario.
    fn start(
        name: &str,
        scenario: &str,
        port: u16,
        media_port: u16,
        codec: Codec,
        target: Option<SocketAddr>,
    ) -> Sipp {
        need("sipp");
        need("sox");
        let dir = scratch_dir(&format!("sipp-{name}-{}", codec.name));
        write_tone_pcap(&dir, codec, FAR_HZ, 8);
        let inf = dir.join("fields.csv");
        std::fs::write(&inf, format!("SEQUENTIAL\n{};{}\n", codec.pt, codec.name)).expect("injection file");
        let sf = workspace_root().join("tests/sipp").join(scenario);
        let log = dir.join("sipp-errors.log");
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf")
            .arg(&sf)
            .arg("-inf")
            .arg(&inf)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media_port.to_string()])
            .args([
                "-m",
                "1",
                "-timeout",
                "40s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
            ])
            .arg("-error_file")
            .arg(&log)
            .current_dir(&dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(t) = target {
            cmd.args(["-s", "5550100"]).arg(t.to_string());
        }
        Sipp {
            child: cmd.spawn().expect("start sipp"),
            log,
        }
    }

    /// Waits (bounded) for sipp to finish; true when its one call succeeded.
    fn finished_ok(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                if !s.success() {
                    eprintln!(
                        "sipp errors:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    );
                }
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// tshark recording the UDP datagrams sent to a port on loopback.
struct Capture {
    child: Child,
    file: PathBuf,
    port: u16,
}

impl Capture {
    fn start(name: &str, port: u16) -> Capture {
        need("tshark");
        let dir = scratch_dir(&format!("cap-{name}"));
        let file = dir.join("rtp.pcap");
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-f", &format!("udp dst port {port}"), "-w"])
            .arg(&file)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tshark");
        // dumpcap says "Capturing on 'Loopback: lo'" once it records.
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if l.contains("Capturing on") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("tshark did not start capturing");
        Capture { child, file, port }
    }

    /// Stops the capture and returns the decoded audio of the RTP payload (as Wireshark's RTP
    /// dissector extracts it, decoded by sox).
    fn audio(mut self, codec: Codec) -> Vec<i16> {
        std::thread::sleep(Duration::from_millis(500));
        unsafe_kill(&self.child);
        let _ = self.child.wait();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args(["-d", &format!("udp.port=={},rtp", self.port), "-Y", "rtp"])
            .args(["-T", "fields", "-e", "rtp.p_type", "-e", "rtp.payload"])
            .output()
            .expect("run tshark");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut payload = Vec::new();
        for line in text.lines() {
            let mut it = line.split('\t');
            let (Some(pt), Some(hex)) = (it.next(), it.next()) else {
                continue;
            };
            if pt.trim() != codec.pt.to_string() {
                continue;
            }
            let hex: String = hex.chars().filter(|c| c.is_ascii_hexdigit()).collect();
            for i in (0..hex.len() / 2 * 2).step_by(2) {
                payload.push(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"));
            }
        }
        assert!(
            !payload.is_empty(),
            "tshark found no {} RTP toward port {}",
            codec.name,
            self.port
        );
        let enc = self.file.with_extension(codec.sox_type);
        std::fs::write(&enc, &payload).expect("payload");
        let pcm = self.file.with_extension("s16");
        let st = Command::new("sox")
            .args(["-t", codec.sox_type, "-r", "8000", "-c", "1"])
            .arg(&enc)
            .args(["-t", "s16", "-r", "8000", "-c", "1"])
            .arg(&pcm)
            .status()
            .expect("run sox");
        assert!(st.success(), "sox could not decode the captured payload");
        std::fs::read(&pcm)
            .expect("decoded audio")
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

/// SIGINT, so that tshark closes its capture file properly.
fn unsafe_kill(child: &Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
}

/// A free UDP port with the four after it free too (sipp's media takes RTP, RTCP and the video
/// pair). Ports are handed out from a per-process sequence so that tests running in parallel
/// never draw the same one.
fn free_udp_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20000 + (std::process::id() % 2000) as u16 * 10,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT.fetch_add(6, Ordering::SeqCst);
        let p = if p > 60000 { 20000 + p % 40000 } else { p };
        if (p..p + 5).all(|q| std::net::UdpSocket::bind(("127.0.0.1", q)).is_ok()) {
            return p;
        }
    }
}

/// Share of `x`'s power at `freq` (Goertzel), in dB: 0 for a pure tone.
fn tone_share_db(x: &[i16], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    let mut energy = 0f32;
    for &v in x {
        let v = v as f32;
        energy += v * v;
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - c * s1 * s2;
    10.0 * ((2.0 * p / x.len() as f32) / energy.max(1.0)).log10()
}

/// Asserts that the loudest second of `x` is a tone of `freq`.
fn assert_tone(what: &str, x: &[i16], freq: f32) {
    let best = x
        .chunks(8000)
        .filter(|c| c.len() == 8000)
        .max_by_key(|c| c.iter().map(|&v| (v as i64).pow(2)).sum::<i64>());
    let Some(sec) = best else {
        panic!("{what}: less than a second of audio")
    };
    let rms = (sec.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 8000.0).sqrt();
    let share = tone_share_db(sec, freq);
    eprintln!("{what}: rms {rms:.0}, {freq} Hz share {share:.1} dB");
    assert!(rms > 300.0, "{what}: silence (rms {rms:.0})");
    assert!(share > -3.0, "{what}: not the {freq} Hz tone ({share:.1} dB)");
}

/// The phone talks (600 Hz) and listens; the far end's 1 kHz must reach it and its own tone
/// must reach the far end (in `cap`).
fn check_audio(phone: &SimPhone, cap: Capture, codec: Codec) {
    phone.record_start();
    phone.play_tone(PHONE_HZ, Duration::from_millis(2500), 8000);
    phone.pause(Duration::from_millis(2800)).expect("pause");
    let heard = phone.record_stop();
    assert_tone("the phone hears the far end", &heard, FAR_HZ);
    assert_tone("the far end hears the phone", &cap.audio(codec), PHONE_HZ);
}

fn gateway_with_service(name: &str, sip_port: u16, service: u16, codecs: &str) -> Gatewayd {
    // RTP ports of its own: two pairs.
    let rtp = free_udp_port();
    let rtp_max = rtp + 4;
    let cfg = format!(
        "[network]\nsip_port = {sip_port}\nrtp_port_min = {rtp}\nrtp_port_max = {rtp_max}\n\
         [[account]]\nname = \"svc\"\nuser = \"1001\"\ndomain = \"127.0.0.1:{service}\"\nregister = false\n\
         [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"svc\"\ncodecs = [{codecs}]\n\
         [[port]]\nid = 1\nkind = \"fxs\"\naccount = \"svc\"\ncodecs = [{codecs}]\n"
    );
    Gatewayd::start(name, &["fxs", "fxs"], &cfg)
}

fn outgoing_call(codec: Codec, codecs: &str) {
    let service = free_udp_port();
    let sip_port = free_udp_port();
    let media = free_udp_port();
    let cap = Capture::start(&format!("out-{}", codec.name), media);
    let mut sipp = Sipp::start("uas", "uas-play.xml", service, media, codec, None);
    let mut gw = gateway_with_service(
        &format!("calls-sip-out-{}", codec.name),
        sip_port,
        service,
        codecs,
    );
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    // 1 + 10 digits: the default plan's `1xxx[2-9]xxxxxxS0` sends it at once.
    phone.dial_dtmf("12125551234").expect("dial");
    phone
        .wait_for_tone(ToneKind::Ringback, T)
        .expect("ringback after 180");
    phone
        .wait_tone_gone(ToneKind::Ringback, T)
        .expect("ringback stops at 200");
    check_audio(&phone, cap, codec);
    let (_, status) = {
        gw.login();
        gw.http_get("/api/status").expect("status")
    };
    assert!(status.contains("\"direction\":\"out\""), "{status}");
    phone.on_hook();
    assert!(sipp.finished_ok(T), "sipp saw the call fail");
    let _ = gw.stop();
}

#[test]
fn phone_calls_a_sip_service_in_pcmu() {
    outgoing_call(PCMU, "\"pcmu\", \"pcma\"");
}

#[test]
fn phone_calls_a_sip_service_in_gsm() {
    outgoing_call(GSM, "\"gsm\"");
}

fn incoming_call(codec: Codec, codecs: &str) {
    let sip_port = free_udp_port();
    let gw_sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    let mut gw = gateway_with_service(
        &format!("calls-sip-in-{}", codec.name),
        sip_port,
        free_udp_port(),
        codecs,
    );
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let media = free_udp_port();
    let cap = Capture::start(&format!("in-{}", codec.name), media);
    let mut sipp = Sipp::start("uac", "uac-play.xml", free_udp_port(), media, codec, Some(gw_sip));
    phone.wait_ringing(T).expect("the phone rings");
    let cid = phone.wait_caller_id(T).expect("caller ID");
    assert_eq!(cid.number.as_str(), "2125550147");
    assert_eq!(cid.name.as_str(), "Alice Smith");
    phone.off_hook();
    check_audio(&phone, cap, codec);
    // sipp hangs up 5 s after the answer: the phone hears reorder.
    phone
        .wait_for_tone(ToneKind::Congestion, T)
        .expect("reorder after the far end's BYE");
    assert!(sipp.finished_ok(T), "sipp saw the call fail");
    phone.on_hook();
    let _ = gw.stop();
}

#[test]
fn sip_caller_rings_the_phone_in_pcma() {
    incoming_call(PCMA, "\"pcma\", \"pcmu\"");
}

#[test]
fn sip_caller_rings_the_phone_in_gsm() {
    incoming_call(GSM, "\"pcmu\", \"gsm\"");
}
