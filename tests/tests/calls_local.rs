//! Call control on the simulated board with the real media loop, in process: two virtual
//! phones on the FXS ports call each other by extension without any SIP server. Dial tone,
//! ringback, ringing with caller ID, answer, audio both ways (DTMF heard at the other phone),
//! reorder after the far end hangs up, busy for a busy port.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use board::simphone::{PhoneConfig, SimPhone};
use codecs::tones::ToneKind;
use gateway::app::open_board;
use gateway::call::control::CallControl;
use gateway::config::board::BoardDef;
use gateway::config::{Config, model::PortKind};

const T: Duration = Duration::from_secs(10);

/// The board on ephemeral loopback ports, call control driven every 5 ms by a thread.
struct Rig {
    phones: Vec<SimPhone>,
    stop: Arc<AtomicBool>,
    driver: Option<thread::JoinHandle<()>>,
}

impl Rig {
    fn start() -> Rig {
        let def = BoardDef::parse(
            "name = 'calls'\n\
             [[port]]\nkind = 'fxs'\nbackend = 'sim'\ntcp_port = 0\n\
             [[port]]\nkind = 'fxs'\nbackend = 'sim'\ntcp_port = 0\n",
        )
        .expect("board definition");
        let opened = open_board(&def).expect("open the simulated board");
        let addrs: Vec<_> = opened
            .port_addrs
            .iter()
            .filter(|(_, k, _)| *k == PortKind::Fxs)
            .map(|(_, _, a)| a.expect("sim port address"))
            .collect();
        let mut cfg = Config::default_for_sim();
        cfg.ports.truncate(2);
        let mut cc = CallControl::from_config(&cfg).expect("call control");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let driver = thread::spawn(move || {
            // Own the whole board (a closure would otherwise capture only the media handle and
            // the simulated board would close with this function).
            let mut opened = opened;
            while !s.load(Ordering::Relaxed) {
                cc.drive(&mut opened.media, |_| {});
                opened.media.collect_retired();
                thread::sleep(Duration::from_millis(5));
            }
            let media = opened.media;
            let _ = media.shutdown();
        });
        let phones = addrs
            .iter()
            .map(|&a| SimPhone::connect(a, PhoneConfig::default()).expect("attach phone"))
            .collect();
        Rig {
            phones,
            stop,
            driver: Some(driver),
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(d) = self.driver.take() {
            let _ = d.join();
        }
    }
}

#[test]
fn fxs_to_fxs_call_by_extension() {
    let rig = Rig::start();
    let (a, b) = (&rig.phones[0], &rig.phones[1]);

    a.off_hook();
    a.wait_for_tone(ToneKind::Dial, T).expect("dial tone");
    a.dial_dtmf("*02").expect("dial");
    a.wait_tone_gone(ToneKind::Dial, T)
        .expect("first key stops dial tone");
    b.wait_ringing(T).expect("called phone rings");
    a.wait_for_tone(ToneKind::Ringback, T)
        .expect("ringback at the caller");
    let cid = b.wait_caller_id(T).expect("caller ID in the first ring pause");
    assert_eq!(cid.number.as_str(), "*01", "{cid:?}");

    b.off_hook();
    a.wait_tone_gone(ToneKind::Ringback, T)
        .expect("ringback stops on answer");
    // Audio both ways: keys pressed at one phone are heard at the other.
    a.dial_dtmf("47").expect("dtmf a->b");
    b.wait_dtmf("47", T).expect("b hears a");
    b.dial_dtmf("9#").expect("dtmf b->a");
    a.wait_dtmf("9#", T).expect("a hears b");

    b.on_hook();
    a.wait_for_tone(ToneKind::Congestion, T)
        .expect("reorder after the far end hangs up");
    a.on_hook();
}

#[test]
fn calling_a_busy_port_gives_busy_tone() {
    let rig = Rig::start();
    let (a, b) = (&rig.phones[0], &rig.phones[1]);
    b.off_hook();
    b.wait_for_tone(ToneKind::Dial, T).expect("dial tone at b");
    a.off_hook();
    a.wait_for_tone(ToneKind::Dial, T).expect("dial tone at a");
    a.dial_dtmf("*02").expect("dial");
    a.wait_for_tone(ToneKind::Busy, T).expect("busy tone");
    a.on_hook();
    b.on_hook();
}
