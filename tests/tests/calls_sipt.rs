//! SIP-T calls through gatewayd against sipp acting as a SIP-T softswitch (RFC 3372) on
//! loopback, with an account whose `trunk_profile` is `sip-t`:
//!
//! - a phone dials out: the INVITE carries the IAM, the softswitch's 180 with an ACM gives
//!   ringback, its 200 with an ANM connects, and the phone's hang-up sends a BYE with a REL;
//! - the softswitch refuses calls with a REL whose cause, not the SIP status, picks the tone:
//!   cause 17 (user busy) plays busy, cause 1 (unallocated number) the special information tone;
//! - the softswitch offers a call whose IAM's called number selects the phone and whose calling
//!   number is the caller ID the phone shows; the gateway's 180 and 200 carry ACM and ANM, and
//!   the softswitch releases with a REL in its BYE: cause 16 gives the usual reorder, cause 17
//!   (user busy) busy tone;
//! - our BYE carries `Reason: Q.850;cause=16` beside its REL (sipp checks the header);
//! - the softswitch suspends an answered call (SUS in INFO) and never resumes it: when the
//!   account's T6 (10 s here) runs out the gateway sends a BYE with REL and Reason cause 102,
//!   and the phone hears the far end gone.
//!
//! tshark records the SIP traffic and Wireshark's own ISUP dissector decodes the IAM, ACM, ANM
//! and REL with the expected numbers and causes. The softswitch's ISUP messages are written
//! here byte by byte after ITU-T Q.763, not produced by the gateway's codec.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use e2e::peers::{Sipp, free_udp_port};
use e2e::{Gatewayd, scratch_dir};

const T: Duration = Duration::from_secs(10);

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

// ---- ISUP messages of the softswitch (Q.763, ITU; SIP-T bodies start at the type code) ----

/// ACM: backward call indicators charge 01 (no charge), called party's status 01 (subscriber
/// free), called party's category 01 (ordinary); ISUP all the way, ISDN access; no optional part.
const ACM: &[u8] = &[0x06, 0x15, 0x14, 0x00];
/// ANM with no optional parameters.
const ANM: &[u8] = &[0x09, 0x00];
/// SUS: suspend/resume indicators 1 (network initiated), no optional part.
const SUS: &[u8] = &[0x0d, 0x01, 0x00];

/// REL with one cause indicators parameter: location 4 (public network serving the remote
/// user), coding standard ITU, the given cause value.
fn rel(cause: u8) -> Vec<u8> {
    vec![0x0c, 0x02, 0x00, 0x02, 0x84, 0x80 | cause]
}

/// BCD digits, first digit in the low nibble, with the odd/even flag.
fn bcd(digits: &str) -> (bool, Vec<u8>) {
    let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    let bytes = d
        .chunks(2)
        .map(|p| p[0] | p.get(1).map_or(0, |h| h << 4))
        .collect();
    (d.len() % 2 == 1, bytes)
}

/// IAM: nature of connection 0, forward call indicators (national, ISUP used all the way,
/// ISDN access), ordinary calling subscriber (10), 3.1 kHz audio (3); called party number
/// national (3), ISDN numbering plan; calling party number national, presentation allowed (0)
/// or restricted (1), network provided.
fn iam(called: &str, calling: &str, restricted: bool) -> Vec<u8> {
    let (odd, digits) = bcd(called);
    let mut cdpn = vec![(u8::from(odd) << 7) | 0x03, 0x10];
    cdpn.extend(digits);
    let (odd, digits) = bcd(calling);
    let mut cgpn = vec![(u8::from(odd) << 7) | 0x03, 0x13 | (u8::from(restricted) << 2)];
    cgpn.extend(digits);
    let mut m = vec![0x01, 0x00, 0x20, 0x01, 0x0a, 0x03];
    // Pointers: the called party number right after both pointers; the optional part after it.
    m.push(2);
    m.push(1 + 1 + cdpn.len() as u8);
    m.push(cdpn.len() as u8);
    m.extend(&cdpn);
    m.push(0x0a);
    m.push(cgpn.len() as u8);
    m.extend(&cgpn);
    m.push(0x00);
    m
}

// ---- peers ----

/// sipp running `scenario` (tests/sipp/) for one call on `port`, with `files` (the ISUP
/// messages its `[file]` keywords insert) in its working directory; `call` makes it call the
/// gateway at that address with Request-URI user `service`.
fn start_sipp(
    name: &str,
    scenario: &str,
    port: u16,
    files: &[(&str, &[u8])],
    call: Option<(u16, &str)>,
) -> Sipp {
    need("sipp");
    let dir = scratch_dir(&format!("sipt-{name}"));
    for (f, bytes) in files {
        std::fs::write(dir.join(f), bytes).expect("ISUP file");
    }
    let target = call.map(|(gw, service)| (SocketAddr::from(([127, 0, 0, 1], gw)), service));
    let mut sipp = Sipp::spawn(
        &dir,
        scenario,
        port,
        free_udp_port(),
        &[std::ffi::OsStr::new("-trace_msg")],
        target,
    );
    // A softswitch waiting for calls must listen before the gateway calls it.
    if call.is_none() {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "sipp does not listen on {port}");
            assert!(!sipp.exited(), "sipp exited at start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    sipp
}

/// tshark recording the gateway's SIP traffic on loopback.
struct Capture {
    child: Child,
    file: PathBuf,
    ports: Vec<u16>,
}

/// What Wireshark's ISUP dissector read in one SIP message.
#[derive(Debug)]
struct Decoded {
    sip: String,
    fields: Vec<String>,
}

const FIELDS: [&str; 8] = [
    "isup.message_type",
    "isup.called",
    "isup.called_party_nature_of_address_indicator",
    "isup.calling",
    "isup.address_presentation_restricted_indicator",
    "isup.calling_partys_category",
    "isup.called_partys_status_indicator",
    "isup.cause_indicator",
];

impl Decoded {
    fn get(&self, name: &str) -> &str {
        let i = FIELDS.iter().position(|f| *f == name).expect("field");
        self.fields.get(i).map(String::as_str).unwrap_or("")
    }
}

impl Capture {
    /// Records UDP to or from `port` (the gateway's SIP port); `ports` are decoded as SIP.
    fn start(name: &str, port: u16, ports: &[u16]) -> Capture {
        need("tshark");
        let dir = scratch_dir(&format!("sipt-cap-{name}"));
        let file = dir.join("sip.pcap");
        let child = e2e::peers::start_tshark(&format!("udp port {port}"), &file);
        // dumpcap may say so before packets reach the file: probe with keep-alive datagrams
        // (CRLF CRLF, ignored by SIP stacks) until one is recorded.
        let start = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe socket");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) <= start {
            assert!(Instant::now() < deadline, "tshark records nothing");
            let _ = probe.send_to(b"\r\n\r\n", ("127.0.0.1", port));
            std::thread::sleep(Duration::from_millis(100));
        }
        Capture {
            child,
            file,
            ports: ports.to_vec(),
        }
    }

    /// Stops the capture; the SIP messages that carried ISUP, as Wireshark decodes them.
    fn isup(mut self) -> Vec<Decoded> {
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.file);
        for p in &self.ports {
            cmd.args(["-d", &format!("udp.port=={p},sip")]);
        }
        cmd.args([
            "-Y",
            "isup",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "occurrence=f",
        ])
        .args(["-e", "sip.Method", "-e", "sip.Status-Code"]);
        for f in FIELDS {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().expect("run tshark");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        eprintln!("ISUP as Wireshark reads it:\n{text}");
        text.lines()
            .map(|l| {
                let cols: Vec<String> = l.split('|').map(str::to_string).collect();
                Decoded {
                    sip: if cols[0].is_empty() {
                        cols.get(1).cloned().unwrap_or_default()
                    } else {
                        cols[0].clone()
                    },
                    fields: cols[2..].to_vec(),
                }
            })
            .collect()
    }
}

/// The decoded ISUP message of `sip` (method or status code) and `isup` type.
fn find<'a>(d: &'a [Decoded], sip: &str, isup_type: &str) -> &'a Decoded {
    d.iter()
        .find(|m| m.sip == sip && m.get("isup.message_type") == isup_type)
        .unwrap_or_else(|| panic!("no ISUP type {isup_type} in {sip}: {d:#?}"))
}

fn gateway(name: &str, sip_port: u16, config: &str, ports: &[&str]) -> Gatewayd {
    let rtp = free_udp_port();
    let cfg = format!(
        "[network]\nsip_port = {sip_port}\nrtp_port_min = {rtp}\nrtp_port_max = {}\n{config}",
        rtp + 4
    );
    Gatewayd::start(name, ports, &cfg)
}

fn outgoing_config(service: u16) -> String {
    format!(
        "[[account]]\nname = \"trunk\"\nuser = \"2125550100\"\ndomain = \"127.0.0.1:{service}\"\n\
         register = false\ntrunk_profile = \"sip-t\"\n\
         [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"trunk\"\ncodecs = [\"pcmu\"]\n"
    )
}

#[test]
fn phone_calls_through_a_sipt_softswitch() {
    let service = free_udp_port();
    let sip_port = free_udp_port();
    let cap = Capture::start("out", sip_port, &[sip_port, service]);
    let mut ss = start_sipp(
        "answer",
        "sipt-softswitch-answer.xml",
        service,
        &[("acm.bin", ACM), ("anm.bin", ANM)],
        None,
    );
    let mut gw = gateway("calls-sipt-out", sip_port, &outgoing_config(service), &["fxs"]);
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    phone.off_hook();
    phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    phone.dial_dtmf("12125551234").expect("dial");
    phone
        .wait_for_tone(ToneKind::Ringback, T)
        .expect("ringback after the ACM in the 180");
    phone
        .wait_tone_gone(ToneKind::Ringback, T)
        .expect("ringback stops at the ANM in the 200");
    phone.pause(Duration::from_millis(800)).expect("pause");
    phone.on_hook();
    let ok = ss.finished_ok(T);
    assert!(ok, "the softswitch saw the call go wrong");
    let _ = gw.stop();
    let d = cap.isup();
    // IAM: called number as dialled, national; calling number the account's, presentation
    // allowed, ordinary subscriber.
    let m = find(&d, "INVITE", "1");
    assert_eq!(m.get("isup.called"), "12125551234");
    assert_eq!(m.get("isup.called_party_nature_of_address_indicator"), "3");
    assert_eq!(m.get("isup.calling"), "2125550100");
    assert_eq!(m.get("isup.address_presentation_restricted_indicator"), "0");
    assert_eq!(m.get("isup.calling_partys_category"), "0x0a");
    assert_eq!(
        find(&d, "180", "6").get("isup.called_partys_status_indicator"),
        "0x0001"
    );
    find(&d, "200", "9");
    // The phone's hang-up: REL cause 16, normal call clearing (and sipp found the Reason).
    assert_eq!(find(&d, "BYE", "12").get("isup.cause_indicator"), "16");
}

#[test]
fn softswitch_release_causes_pick_the_tone() {
    let service = free_udp_port();
    let sip_port = free_udp_port();
    let cap = Capture::start("release", sip_port, &[sip_port, service]);
    let mut gw = gateway(
        "calls-sipt-release",
        sip_port,
        &outgoing_config(service),
        &["fxs"],
    );
    let phone = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    // Both come in a 480, which alone would play reorder.
    for (cause, tone) in [(17u8, ToneKind::Busy), (1, ToneKind::Sit)] {
        let rel = rel(cause);
        let mut ss = start_sipp(
            &format!("release-{cause}"),
            "sipt-softswitch-release.xml",
            service,
            &[("rel.bin", &rel)],
            None,
        );
        phone.off_hook();
        phone.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
        phone.dial_dtmf("12125551234").expect("dial");
        let heard = phone.wait_for_tone(tone, T);
        let ok = ss.finished_ok(T);
        phone.on_hook();
        phone.pause(Duration::from_millis(500)).expect("pause");
        assert!(
            heard.is_ok() && ok,
            "cause {cause}: tone {tone:?} heard: {}, softswitch ok: {ok}",
            heard.is_ok()
        );
    }
    let _ = gw.stop();
    let d = cap.isup();
    let causes: Vec<&str> = d
        .iter()
        .filter(|m| m.sip == "480")
        .map(|m| m.get("isup.cause_indicator"))
        .collect();
    assert_eq!(causes, ["17", "1"], "{d:#?}");
}

const TWO_LINES: &str = "[[account]]\nname = \"a\"\nuser = \"5550100\"\ndomain = \"127.0.0.1\"\n\
               register = false\ntrunk_profile = \"sip-t\"\n\
               [[account]]\nname = \"b\"\nuser = \"5550199\"\ndomain = \"127.0.0.1\"\n\
               register = false\ntrunk_profile = \"sip-t\"\nisup_t6_s = 10\n\
               [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"a\"\ncodecs = [\"pcmu\"]\n\
               [[port]]\nid = 1\nkind = \"fxs\"\naccount = \"b\"\ncodecs = [\"pcmu\"]\n";

#[test]
fn sipt_call_rings_the_phone_the_iam_names() {
    let sip_port = free_udp_port();
    let ss_port = free_udp_port();
    let cfg = TWO_LINES;
    let mut gw = gateway("calls-sipt-in", sip_port, cfg, &["fxs", "fxs"]);
    let phone_a = SimPhone::connect(gw.ports[0].1, PhoneConfig::default()).expect("attach phone");
    let phone_b = SimPhone::connect(gw.ports[1].1, PhoneConfig::default()).expect("attach phone");
    let cap = Capture::start("in", sip_port, &[sip_port, ss_port]);
    let iam = iam("5550199", "2125550147", false);
    let rel = rel(16);
    // The Request-URI names no account: only the IAM says which line is called.
    let mut ss = start_sipp(
        "call",
        "sipt-softswitch-call.xml",
        ss_port,
        &[("iam.bin", &iam), ("rel.bin", &rel)],
        Some((sip_port, "trunk")),
    );
    phone_b.wait_ringing(T).expect("the called line rings");
    let cid = phone_b.wait_caller_id(T).expect("caller ID");
    assert_eq!(cid.number.as_str(), "2125550147");
    assert!(!phone_a.is_ringing(), "the other line rings too");
    phone_b.off_hook();
    phone_b
        .wait_for_tone(ToneKind::Congestion, T)
        .expect("reorder after the softswitch's BYE");
    let ok = ss.finished_ok(T);
    phone_b.on_hook();
    assert!(ok, "the softswitch saw the call go wrong");
    let _ = gw.stop();
    let d = cap.isup();
    let m = find(&d, "INVITE", "1");
    assert_eq!(m.get("isup.called"), "5550199");
    assert_eq!(m.get("isup.calling"), "2125550147");
    assert_eq!(
        find(&d, "180", "6").get("isup.called_partys_status_indicator"),
        "0x0001"
    );
    find(&d, "200", "9");
    assert_eq!(find(&d, "BYE", "12").get("isup.cause_indicator"), "16");
}

/// The softswitch calls line b, the phone answers, and the softswitch goes on with `scenario`
/// (`files` beside the IAM); returns what Wireshark decoded once the phone heard `tone`.
fn answered_incoming_call(
    name: &str,
    scenario: &str,
    files: &[(&str, &[u8])],
    tone: ToneKind,
    within: Duration,
) -> Vec<Decoded> {
    let sip_port = free_udp_port();
    let ss_port = free_udp_port();
    let mut gw = gateway(
        &format!("calls-sipt-{name}"),
        sip_port,
        TWO_LINES,
        &["fxs", "fxs"],
    );
    let phone = SimPhone::connect(gw.ports[1].1, PhoneConfig::default()).expect("attach phone");
    let cap = Capture::start(name, sip_port, &[sip_port, ss_port]);
    let iam = iam("5550199", "2125550147", false);
    let mut all: Vec<(&str, &[u8])> = vec![("iam.bin", &iam)];
    all.extend_from_slice(files);
    let mut ss = start_sipp(name, scenario, ss_port, &all, Some((sip_port, "trunk")));
    phone.wait_ringing(T).expect("the called line rings");
    phone.off_hook();
    let heard = phone.wait_for_tone(tone, within);
    let ok = ss.finished_ok(T);
    phone.on_hook();
    assert!(
        heard.is_ok() && ok,
        "{name}: tone {tone:?} heard: {}, softswitch ok: {ok}",
        heard.is_ok()
    );
    let _ = gw.stop();
    cap.isup()
}

#[test]
fn far_end_bye_with_rel_user_busy_plays_busy() {
    let rel = rel(17);
    let d = answered_incoming_call(
        "bye-busy",
        "sipt-softswitch-call.xml",
        &[("rel.bin", &rel)],
        ToneKind::Busy,
        T,
    );
    assert_eq!(find(&d, "BYE", "12").get("isup.cause_indicator"), "17");
}

#[test]
fn suspended_call_is_released_when_t6_runs_out() {
    // T6 is 10 s on line b's account; the SUS comes half a second after the answer.
    let d = answered_incoming_call(
        "suspend",
        "sipt-softswitch-suspend.xml",
        &[("sus.bin", SUS)],
        ToneKind::Congestion,
        Duration::from_secs(25),
    );
    find(&d, "INFO", "13");
    // Our BYE: REL with cause 102, recovery on timer expiry (sipp checked the Reason header).
    assert_eq!(find(&d, "BYE", "12").get("isup.cause_indicator"), "102");
}
