//! ISUP messages: the first byte picks the variant, the rest is the message. Whatever parses
//! re-emits to bytes that parse to the same value, and views never panic.
#![no_main]

use gateway::trunk::isup::{Message, MessageView, Variant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&v, bytes)) = data.split_first() else {
        return;
    };
    let variant = if v & 1 == 0 { Variant::Itu } else { Variant::Ansi };
    let Ok(view) = MessageView::new(bytes, variant) else {
        return;
    };
    let _ = view.optional_params().count();
    let _ = view.called_party_number();
    let _ = view.calling_party_number();
    let _ = view.cause();
    if let Ok(m) = Message::from_view(&view) {
        let out = m.emit(variant).expect("parsed message emits");
        assert_eq!(Message::parse(&out, variant).expect("emitted message parses"), m);
    }
});
