//! `hal/alsa/minimal.conf`, the alsa-lib configuration for root filesystems without alsa-lib's
//! data files, resolves `hw:CARD,DEV,SUBDEV` names: a missing card is "no such device", not
//! "unknown PCM". Its own test binary, since ALSA_CONFIG_PATH is per process.
#![cfg(feature = "linux")]

use hal::linux::pcm::{AlsaPcm, AlsaPcmConfig, OpenError};

#[test]
fn minimal_config_resolves_hw_names() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/alsa/minimal.conf");
    // SAFETY: the only test of this binary, set before any ALSA call.
    unsafe { std::env::set_var("ALSA_CONFIG_PATH", conf) };
    let Err(e) = AlsaPcm::open(&AlsaPcmConfig::new("hw:NoSuchCard,0,0", "null", 1)) else {
        panic!("opened a card that does not exist");
    };
    match e {
        OpenError::Alsa {
            call: "open", error, ..
        } => assert_eq!(error.errno(), 19, "{error}"),
        other => panic!("unexpected {other}"),
    }
    let Err(e) = AlsaPcm::open(&AlsaPcmConfig::new("nosuchpcm", "null", 1)) else {
        panic!("opened an undefined PCM");
    };
    assert!(
        matches!(e, OpenError::Alsa { call: "open", ref error, .. } if error.errno() == 2),
        "{e}"
    );
    // The null PCM is defined too, so both directions open.
    assert!(AlsaPcm::open(&AlsaPcmConfig::new("null", "null", 1)).is_ok());
}
