//! Multipart bodies: the first byte chooses a boundary length, the rest is the body. Parsed
//! bodies re-emit and parse to the same parts.
#![no_main]

use gateway::sip::wire::multipart::{self, OwnedPart};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n as usize % 16 + 1).min(rest.len());
    let (b, body) = rest.split_at(n);
    let Ok(boundary) = std::str::from_utf8(b) else { return };
    if let Ok(mp) = multipart::parse(body, boundary) {
        let parts: Vec<OwnedPart> = mp.parts.iter().map(|p| p.to_owned_part()).collect();
        if let Ok(out) = multipart::emit(&parts, boundary) {
            let back = multipart::parse(&out, boundary).expect("emitted multipart parses");
            let again: Vec<OwnedPart> = back.parts.iter().map(|p| p.to_owned_part()).collect();
            assert_eq!(again, parts);
        }
    }
});
