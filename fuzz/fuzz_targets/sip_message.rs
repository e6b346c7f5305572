//! Whole messages: datagram and stream parsing, framing, error responses, and the invariant that
//! an accepted message, normalised and emitted, parses back to the same owned message.
#![no_main]

use gateway::sip::wire::{SipMsg, error_response, frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame(data);
    if let Ok((m, used)) = SipMsg::parse_stream(data) {
        assert!(used <= data.len());
        let _ = m.to_message();
    }
    match SipMsg::parse_datagram(data) {
        Ok(m) => {
            let owned = m.to_message();
            let bytes = owned.to_bytes();
            let again = SipMsg::parse_datagram(&bytes).expect("normalised message parses");
            assert_eq!(again.to_message(), owned);
            let mut raw = Vec::new();
            m.emit(&mut raw);
            if m.is_request() {
                let _ = m.make_response(200, Some("t")).to_bytes();
            }
        }
        Err(e) => {
            let _ = e.reason_phrase();
            if let Some(r) = error_response(data, &e, "t") {
                let _ = r.to_bytes();
            }
        }
    }
});
