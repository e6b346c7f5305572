//! Calls between a virtual phone on gatewayd's FXS port and baresip (Debian's baresip-core),
//! headless on loopback, in G.711 and GSM 06.10, both directions.
//!
//! baresip auto-answers, plays a 1 kHz tone from a WAV file (module `aufile`) and records the
//! audio it decodes from the gateway (module `sndfile`, `dump-*-dec.wav`); sox turns that
//! recording into samples. The phone plays 600 Hz and records what it hears. Each side must
//! hear the other's tone as the dominant frequency of its loudest second. One test has both
//! register with Kamailio (digest) and call each other through it. Speech (the shared 8 kHz
//! sample) played by the phone must reach baresip with its 10 ms energy envelope correlated
//! above 0.9 with what was sent, in PCMU and in GSM.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::peers::{assert_tone, free_udp_port, read_s16, require};
use e2e::{Gatewayd, scratch_dir};

const T: Duration = Duration::from_secs(10);
const BARESIP_HZ: f32 = 1000.0;
const PHONE_HZ: f32 = 600.0;

/// baresip in its own process group with a private configuration directory.
struct Baresip {
    child: Child,
    dir: PathBuf,
    lines: mpsc::Receiver<String>,
    output: Vec<String>,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = e2e::wait_until(Duration::from_secs(2), || self.child.try_wait().ok().flatten());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            while let Ok(l) = self.lines.try_recv() {
                self.output.push(l);
            }
            eprintln!("--- baresip output ---\n{}\n---", self.output.join("\n"));
        }
    }
}

impl Baresip {
    /// Starts baresip on 127.0.0.1:`sip_port` as `user` offering only `codec`, playing a
    /// 1 kHz tone, auto-answering, and running `commands` (`-e`) once started.
    fn start(name: &str, sip_port: u16, user: &str, codec: &str, commands: &[String]) -> Option<Baresip> {
        let account = format!("\"Bob\" <sip:{user}@127.0.0.1>;regint=0;answermode=auto;audio_codecs={codec}");
        Baresip::start_with(name, sip_port, &account, commands)
    }

    /// Starts baresip with the account line `account` (see [`Baresip::start`]).
    fn start_with(name: &str, sip_port: u16, account: &str, commands: &[String]) -> Option<Baresip> {
        if !require("baresip") || !require("sox") {
            return None;
        }
        let dir = scratch_dir(&format!("baresip-{name}"));
        let wav = dir.join("tone.wav");
        let st = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&wav)
            .args(["synth", "20", "sine", &BARESIP_HZ.to_string(), "vol", "0.4"])
            .status()
            .expect("run sox");
        assert!(st.success(), "sox could not write the tone");
        let rtp = free_udp_port();
        let modules = Path::new("/usr/lib/baresip/modules");
        assert!(
            modules.join("aufile.so").exists() && modules.join("sndfile.so").exists(),
            "baresip-core without the aufile/sndfile modules"
        );
        // The ALSA null device stands in for a sound card: the audio of interest goes through
        // aufile (source) and sndfile (recording filter).
        let config = format!(
            "poll_method\tepoll\nsip_listen\t127.0.0.1:{sip_port}\nnet_interface\t127.0.0.1\n\
             audio_player\talsa,null\naudio_alert\talsa,null\naudio_source\taufile,{}\n\
             rtp_ports\t{rtp}-{}\nmodule_path\t{}\n\
             module\tg711.so\nmodule\tgsm.so\nmodule\taufile.so\nmodule\tsndfile.so\n\
             module\talsa.so\nmodule\taccount.so\nmodule_app\tmenu.so\nsnd_path\t{}\n",
            wav.display(),
            rtp + 4,
            modules.display(),
            dir.display()
        );
        std::fs::write(dir.join("config"), config).expect("baresip config");
        std::fs::write(dir.join("accounts"), format!("{account}\n")).expect("baresip accounts");
        let mut cmd = Command::new("baresip");
        cmd.arg("-f").arg(&dir);
        for c in commands {
            cmd.arg("-e").arg(c);
        }
        let mut child = cmd
            .current_dir(&dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start baresip");
        let (tx, rx) = mpsc::channel();
        for s in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(s).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        let mut b = Baresip {
            child,
            dir,
            lines: rx,
            output: Vec::new(),
        };
        b.wait_output("baresip is ready", T).expect("baresip started");
        Some(b)
    }

    /// Waits (bounded) for an output line containing `needle`.
    fn wait_output(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        if let Some(l) = self.output.iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let l = self.lines.recv_timeout(left).ok()?;
            self.output.push(l.clone());
            if l.contains(needle) {
                return Some(l);
            }
        }
    }

    /// What baresip decoded from the gateway (its `sndfile` recording), once the call ended.
    fn heard(&mut self) -> Vec<i16> {
        let dec = std::fs::read_dir(&self.dir)
            .expect("baresip dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with("-dec.wav"))
            })
            .unwrap_or_else(|| panic!("baresip recorded nothing in {}", self.dir.display()));
        let raw = self.dir.join("heard.s16");
        let st = Command::new("sox")
            .arg(&dec)
            .args(["-t", "s16", "-r", "8000", "-c", "1"])
            .arg(&raw)
            .status()
            .expect("run sox");
        assert!(st.success(), "sox could not read {}", dec.display());
        read_s16(&raw)
    }
}

/// A gateway with one FXS port (account user 1001) whose calls go to baresip at
/// 127.0.0.1:`baresip_port`.
fn gateway(name: &str, sip_port: u16, baresip_port: u16, codec: &str) -> Gatewayd {
    let rtp = free_udp_port();
    Gatewayd::start(
        name,
        &["fxs"],
        &format!(
            "[network]\nsip_port = {sip_port}\nrtp_port_min = {rtp}\nrtp_port_max = {}\n\
             [[account]]\nname = \"peer\"\nuser = \"1001\"\ndomain = \"127.0.0.1:{baresip_port}\"\n\
             register = false\n\
             [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"peer\"\ndial_plan = \"(2xxx)\"\n\
             codecs = [\"{codec}\"]\n",
            rtp + 4
        ),
    )
}

/// The phone plays 600 Hz and records; returns what it heard.
fn talk(phone: &SimPhone) -> Vec<i16> {
    phone.record_start();
    phone.play_tone(PHONE_HZ, Duration::from_millis(2500), 8000);
    phone.pause(Duration::from_millis(2800)).expect("pause");
    phone.record_stop()
}

fn phone_calls_baresip(codec: &str, sdp_name: &str) {
    let name = format!("out-{codec}");
    let (sip, bport) = (free_udp_port(), free_udp_port());
    let Some(mut br) = Baresip::start(&name, bport, "2000", sdp_name, &[]) else {
        return;
    };
    let gw = gateway(&format!("gw-baresip-{name}"), sip, bport, codec);
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    phone.dial_dtmf("2000").expect("dial");
    br.wait_output("Call established", T)
        .expect("baresip answers (auto-answer)");
    let heard = talk(&phone);
    phone.on_hook();
    br.wait_output("terminated", T).expect("baresip sees the BYE");
    assert_tone(
        &format!("the phone hears baresip ({sdp_name})"),
        &heard,
        BARESIP_HZ,
    );
    assert_tone(
        &format!("baresip hears the phone ({sdp_name})"),
        &br.heard(),
        PHONE_HZ,
    );
}

fn baresip_calls_phone(codec: &str, sdp_name: &str) {
    let name = format!("in-{codec}");
    let (sip, bport) = (free_udp_port(), free_udp_port());
    let gw = gateway(&format!("gw-baresip-{name}"), sip, bport, codec);
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let dial = format!("/dial sip:1001@127.0.0.1:{sip}");
    let Some(mut br) = Baresip::start(&name, bport, "2001", sdp_name, &[dial]) else {
        return;
    };
    phone.wait_ringing(T).expect("the phone rings");
    let cid = phone.wait_caller_id(T).expect("caller ID");
    assert_eq!(cid.number.as_str(), "2001", "{cid:?}");
    assert_eq!(cid.name.as_str(), "Bob", "{cid:?}");
    phone.off_hook();
    br.wait_output("Call established", T)
        .expect("baresip sees the answer");
    let heard = talk(&phone);
    phone.on_hook();
    br.wait_output("terminated", T).expect("baresip sees the BYE");
    assert_tone(
        &format!("the phone hears baresip ({sdp_name})"),
        &heard,
        BARESIP_HZ,
    );
    assert_tone(
        &format!("baresip hears the phone ({sdp_name})"),
        &br.heard(),
        PHONE_HZ,
    );
}

#[test]
fn phone_calls_baresip_in_pcmu() {
    phone_calls_baresip("pcmu", "PCMU");
}

#[test]
fn phone_calls_baresip_in_gsm() {
    phone_calls_baresip("gsm", "GSM");
}

#[test]
fn baresip_calls_the_phone_in_pcma() {
    baresip_calls_phone("pcma", "PCMA");
}

#[test]
fn baresip_calls_the_phone_in_gsm() {
    baresip_calls_phone("gsm", "GSM");
}

/// The gateway and baresip both register with Kamailio (digest) and call each other through
/// it: the phone dials baresip's number, baresip (auto-answer) hears the phone and the phone
/// hears it; then baresip dials the phone's number.
#[test]
fn phone_and_baresip_call_each_other_through_kamailio() {
    use e2e::kamailio::{Registrar, SUBSCRIBERS};
    if !require("kamailio") {
        return;
    }
    let reg = Registrar::start_proxy(&scratch_dir("kam-baresip"));
    let (gw_user, gw_pw) = SUBSCRIBERS[0];
    let (br_user, br_pw) = SUBSCRIBERS[1];
    let (sip, rtp, bport) = (free_udp_port(), free_udp_port(), free_udp_port());
    let mut gw = Gatewayd::start(
        "gw-baresip-kam",
        &["fxs"],
        &format!(
            "[network]\nsip_port = {sip}\nrtp_port_min = {rtp}\nrtp_port_max = {}\n\
             [[account]]\nname = \"main\"\nuser = \"{gw_user}\"\ndomain = \"127.0.0.1\"\n\
             outbound_proxy = \"{}\"\npassword = \"{gw_pw}\"\nexpires_s = 60\n\
             [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"main\"\ndial_plan = \"(1xxx)\"\n\
             codecs = [\"pcmu\"]\n",
            rtp + 4,
            reg.addr()
        ),
    );
    gw.wait_output("account main registered", T)
        .expect("the gateway registers");
    let account = format!(
        "\"Bob\" <sip:{br_user}@127.0.0.1>;auth_pass={br_pw};outbound=\"sip:{};lr\";regint=60;\
         answermode=auto;audio_codecs=PCMU",
        reg.addr()
    );
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let Some(mut br) = Baresip::start_with("kam-out", bport, &account, &[]) else {
        return;
    };
    // baresip asks for its expiry in the Contact, so the registrar logs no Expires header.
    let registered = format!("registrar: {br_user} ");
    assert!(
        e2e::wait_until(T, || reg.log().contains(&registered).then_some(())).is_some(),
        "baresip registers:\n{}",
        reg.log()
    );
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    phone.dial_dtmf(br_user).expect("dial");
    br.wait_output("Call established", T)
        .expect("baresip answers the call routed by Kamailio");
    let heard = talk(&phone);
    phone.on_hook();
    br.wait_output("terminated", T).expect("baresip sees the BYE");
    assert_tone("the phone hears baresip (through Kamailio)", &heard, BARESIP_HZ);
    assert_tone(
        "baresip hears the phone (through Kamailio)",
        &br.heard(),
        PHONE_HZ,
    );
    drop(br);

    // baresip calls the phone through the proxy.
    let dial = format!("/dial sip:{gw_user}@127.0.0.1");
    let Some(mut br) = Baresip::start_with("kam-in", free_udp_port(), &account, &[dial]) else {
        return;
    };
    phone.wait_ringing(T).expect("the phone rings");
    let cid = phone.wait_caller_id(T).expect("caller ID");
    assert_eq!(cid.number.as_str(), br_user, "{cid:?}");
    phone.off_hook();
    br.wait_output("Call established", T)
        .expect("baresip sees the answer");
    let heard = talk(&phone);
    phone.on_hook();
    br.wait_output("terminated", T).expect("baresip sees the BYE");
    assert_tone("the phone hears baresip (through Kamailio)", &heard, BARESIP_HZ);
    assert_tone(
        "baresip hears the phone (through Kamailio)",
        &br.heard(),
        PHONE_HZ,
    );
    let relayed = reg.relayed_invites();
    assert_eq!(
        relayed,
        vec![
            (gw_user.to_string(), br_user.to_string()),
            (br_user.to_string(), gw_user.to_string())
        ],
        "both INVITEs went through the proxy:\n{}",
        reg.log()
    );
}

/// Pearson correlation of the 10 ms log-energy envelopes of `sent` and `got`, at the lag
/// (`got` later by 0 to 1 s) where it is highest.
fn envelope_correlation(sent: &[i16], got: &[i16]) -> (f64, usize) {
    let env = |x: &[i16]| -> Vec<f64> {
        x.chunks_exact(80)
            // Floored at RMS 100 (-50 dBFS): codec noise in pauses is not speech.
            .map(|f| {
                (f.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 80.0)
                    .max(1e4)
                    .log10()
            })
            .collect()
    };
    let (a, b) = (env(sent), env(got));
    let mut best = (-1.0, 0);
    for lag in 0..100 {
        let n = a.len().min(b.len().saturating_sub(lag));
        if n < 100 {
            break;
        }
        let (x, y) = (&a[..n], &b[lag..lag + n]);
        let mx = x.iter().sum::<f64>() / n as f64;
        let my = y.iter().sum::<f64>() / n as f64;
        let cov: f64 = x.iter().zip(y).map(|(p, q)| (p - mx) * (q - my)).sum();
        let vx: f64 = x.iter().map(|p| (p - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|q| (q - my).powi(2)).sum();
        let r = cov / (vx * vy).sqrt().max(1e-9);
        if r > best.0 {
            best = (r, lag);
        }
    }
    best
}

/// Speech (the shared 8 kHz sample) from the phone reaches baresip with its envelope intact.
fn speech_to_baresip(codec: &str, sdp_name: &str) {
    let name = format!("speech-{codec}");
    let (sip, bport) = (free_udp_port(), free_udp_port());
    let Some(mut br) = Baresip::start(&name, bport, "2000", sdp_name, &[]) else {
        return;
    };
    let gw = gateway(&format!("gw-baresip-{name}"), sip, bport, codec);
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let speech = read_s16(&e2e::workspace_root().join("../shared/vectors/audio/speech_8k.s16le.raw"));
    let sent = &speech[..speech.len().min(4 * 8000)];
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    phone.dial_dtmf("2000").expect("dial");
    br.wait_output("Call established", T)
        .expect("baresip answers (auto-answer)");
    phone.play_samples(sent);
    phone.pause(Duration::from_millis(4500)).expect("pause");
    phone.on_hook();
    br.wait_output("terminated", T).expect("baresip sees the BYE");
    let (r, lag) = envelope_correlation(sent, &br.heard());
    eprintln!(
        "speech phone -> baresip ({sdp_name}): envelope correlation {r:.3} at {} ms",
        lag * 10
    );
    assert!(r > 0.9, "speech envelope correlation {r:.3} ({sdp_name})");
}

#[test]
fn speech_from_the_phone_reaches_baresip_in_pcmu() {
    speech_to_baresip("pcmu", "PCMU");
}

#[test]
fn speech_from_the_phone_reaches_baresip_in_gsm() {
    speech_to_baresip("gsm", "GSM");
}
