//! Header values: name-addr, Via, CSeq, Content-Type, comma lists and parameters. Accepted
//! values re-emit to text that parses to the same owned value.
#![no_main]

use gateway::sip::wire::text::CommaSplit;
use gateway::sip::wire::{CSeq, ContentType, HeaderName, NameAddr, Via};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = HeaderName::from_name(s);
    for item in CommaSplit::new(s) {
        if let Ok(n) = NameAddr::parse(item) {
            let o = n.to_owned_name_addr();
            let t = o.to_string();
            assert_eq!(NameAddr::parse(&t).expect("emitted name-addr parses").to_owned_name_addr(), o);
            let _ = n.display_name();
            let _ = n.tag();
        }
        if let Ok(v) = Via::parse(item) {
            let o = v.to_owned_via();
            let t = o.to_string();
            assert_eq!(Via::parse(&t).expect("emitted Via parses").to_owned_via(), o);
            let _ = (v.branch(), v.received(), v.rport(), v.ttl(), v.maddr());
        }
    }
    if let Ok(c) = CSeq::parse(s) {
        assert_eq!(CSeq::parse(&c.to_string()).expect("CSeq").to_owned_cseq(), c.to_owned_cseq());
    }
    if let Ok(c) = ContentType::parse(s) {
        let o = c.to_owned_content_type();
        assert_eq!(ContentType::parse(&o.to_string()).expect("Content-Type").to_owned_content_type(), o);
        let _ = c.boundary();
    }
});
