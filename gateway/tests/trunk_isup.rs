//! ISUP codec: golden bytes laid out by hand from the Q.763 / T1.113 message figures,
//! errors naming field and offset, unknown-parameter pass-through, and round trips.

use gateway::trunk::isup::param::{code, nai};
use gateway::trunk::isup::*;
use proptest::prelude::*;

/// IAM (Q.763 Table 32): called 5551234 national, calling 2125550100 national.
const IAM_ITU: &[u8] = &[
    0x01, // message type IAM
    0x00, // nature of connection: no satellite, no continuity check, no echo device
    0x08, 0x00, // forward call: national, interworking encountered (D), ISUP preferred
    0x0A, // calling party's category: ordinary subscriber
    0x00, // transmission medium requirement: speech
    0x02, // pointer to called party number (offset 6 -> 8)
    0x08, // pointer to optional part (offset 7 -> 15)
    0x06, // called party number length
    0x83, // odd, NAI 3 national
    0x10, // INN allowed, numbering plan 1 (E.164)
    0x55, 0x15, 0x32, 0x04, // 5 5 | 5 1 | 2 3 | 4 + filler
    0x0A, 0x07, // calling party number, length 7
    0x03, // even, national
    0x11, // NI 0, plan 1, presentation allowed, user provided verified and passed
    0x12, 0x52, 0x55, 0x10, 0x00, // 2 1 2 5 5 5 0 1 0 0
    0x00, // end of optional parameters
];

fn iam_itu_value() -> Message {
    Message {
        body: MessageBody::Iam(Iam {
            nature_of_connection: NatureOfConnection::default(),
            forward_call: ForwardCallIndicators {
                interworking: true,
                ..Default::default()
            },
            calling_category: 0x0A,
            bearer: IamBearer::TransmissionMedium(0),
            called: CalledPartyNumber {
                nai: nai::NATIONAL,
                inn_not_allowed: false,
                numbering_plan: 1,
                digits: "5551234".into(),
            },
        }),
        optional: vec![Param::CallingPartyNumber(CallingPartyNumber {
            nai: nai::NATIONAL,
            incomplete: false,
            numbering_plan: 1,
            presentation: 0,
            screening: 1,
            digits: "2125550100".into(),
        })],
    }
}

#[test]
fn golden_iam_itu() {
    let m = Message::parse(IAM_ITU, Variant::Itu).unwrap();
    assert_eq!(m, iam_itu_value());
    assert_eq!(m.emit(Variant::Itu).unwrap(), IAM_ITU);
    let v = MessageView::new(IAM_ITU, Variant::Itu).unwrap();
    assert_eq!(v.message_type(), MessageType::Iam);
    assert_eq!(v.called_party_number().unwrap().unwrap().digits, "5551234");
    assert_eq!(v.calling_party_number().unwrap().unwrap().digits, "2125550100");
    assert_eq!(v.fixed(), &IAM_ITU[1..6]);
}

#[test]
fn golden_iam_from_interworking() {
    use gateway::trunk::interwork::{Numbering, OutgoingCall, build_iam};
    let call = OutgoingCall {
        called: "555-1234",
        calling: Some("2125550100"),
        privacy: false,
    };
    let m = build_iam(&call, &Numbering::default(), Variant::Itu);
    assert_eq!(m.emit(Variant::Itu).unwrap(), IAM_ITU);
}

/// ANSI IAM (T1.113.4 Table 9): user service information then called party number as
/// mandatory variable parameters; no transmission medium requirement.
const IAM_ANSI: &[u8] = &[
    0x01, 0x00, 0x08, 0x00, 0x0A, // type, NCI, FCI, CPC
    0x03, // pointer to user service information (offset 5 -> 8)
    0x06, // pointer to called party number (offset 6 -> 12)
    0x0C, // pointer to optional part (offset 7 -> 19)
    0x03, 0x80, 0x90, 0xA2, // USI: speech, 64 kbit/s circuit, G.711 mu-law
    0x06, 0x83, 0x10, 0x55, 0x15, 0x32, 0x04, // called 5551234 national
    0xEB, 0x07, 0x03, 0x10, 0x12, 0x52, 0x55, 0x10, 0x00, // charge number 2125550100
    0x00,
];

#[test]
fn golden_iam_ansi() {
    let m = Message::parse(IAM_ANSI, Variant::Ansi).unwrap();
    let MessageBody::Iam(iam) = &m.body else { panic!() };
    assert_eq!(
        iam.bearer,
        IamBearer::UserServiceInformation(vec![0x80, 0x90, 0xA2])
    );
    assert_eq!(iam.called.digits, "5551234");
    assert_eq!(
        m.optional,
        vec![Param::ChargeNumber(ChargeNumber {
            nai: 3,
            numbering_plan: 1,
            digits: "2125550100".into()
        })]
    );
    assert_eq!(m.emit(Variant::Ansi).unwrap(), IAM_ANSI);
    // The same bytes read as ITU are a different layout: the pointer at offset 5 is the TMR.
    assert!(
        Message::parse(IAM_ANSI, Variant::Itu).is_err()
            || Message::parse(IAM_ANSI, Variant::Itu).unwrap() != m
    );
    // An ITU IAM value cannot be emitted in the ANSI layout.
    assert_eq!(
        iam_itu_value().emit(Variant::Ansi),
        Err(IsupError::VariantMismatch)
    );
}

#[test]
fn golden_backward_messages() {
    // ACM (Table 21): subscriber free (DC=01), ordinary subscriber (FE=01); interworking (I).
    let acm = [0x06, 0x14, 0x01, 0x00];
    let m = Message::parse(&acm, Variant::Itu).unwrap();
    let MessageBody::Acm(b) = m.body else { panic!() };
    assert_eq!((b.called_status, b.called_category, b.interworking), (1, 1, true));
    assert_eq!(
        gateway::trunk::interwork::acm_ringing()
            .emit(Variant::Itu)
            .unwrap(),
        acm
    );
    // ANM (Table 22) with no optional part, RLC (Table 35).
    assert_eq!(
        Message::new(MessageBody::Anm).emit(Variant::Itu).unwrap(),
        [0x09, 0x00]
    );
    assert_eq!(
        Message::new(MessageBody::Rlc).emit(Variant::Itu).unwrap(),
        [0x10, 0x00]
    );
    // CPG (Table 23): event alerting.
    let cpg = [0x2C, 0x01, 0x00];
    assert_eq!(
        Message::parse(&cpg, Variant::Itu).unwrap().body,
        MessageBody::Cpg(EventInformation {
            event: 1,
            presentation_restricted: false
        })
    );
    // CON (Table 25).
    let con = [0x07, 0x10, 0x01, 0x00];
    assert!(matches!(
        Message::parse(&con, Variant::Itu).unwrap().body,
        MessageBody::Con(_)
    ));
    // SUS / RES (Table 38): network initiated.
    let sus = [0x0D, 0x01, 0x00];
    let res = [0x0E, 0x00, 0x00];
    assert_eq!(
        gateway::trunk::interwork::sus(true).emit(Variant::Itu).unwrap(),
        sus
    );
    assert_eq!(
        gateway::trunk::interwork::res(false).emit(Variant::Itu).unwrap(),
        res
    );
    // INR / INF (Tables 28, 27): calling party address requested / included.
    let inr = [0x03, 0x01, 0x00, 0x00];
    let inf = [0x04, 0x01, 0x00, 0x00];
    assert_eq!(
        Message::parse(&inr, Variant::Itu).unwrap().body,
        MessageBody::Inr([1, 0])
    );
    assert_eq!(
        Message::parse(&inf, Variant::Itu).unwrap().body,
        MessageBody::Inf([1, 0])
    );
    // SAM (Table 37): subsequent number 89 then ST.
    let sam = [0x02, 0x02, 0x00, 0x03, 0x80, 0x98, 0x0F];
    let m = Message::parse(&sam, Variant::Itu).unwrap();
    assert_eq!(
        m.body,
        MessageBody::Sam(SubsequentNumber { digits: "89F".into() })
    );
    assert_eq!(m.emit(Variant::Itu).unwrap(), sam);
}

#[test]
fn golden_rel() {
    // REL (Table 34): cause indicators, coding ITU-T, location user, cause 17 user busy.
    let rel = [0x0C, 0x02, 0x00, 0x02, 0x80, 0x91];
    let m = Message::parse(&rel, Variant::Itu).unwrap();
    assert_eq!(m.cause().unwrap().cause, 17);
    assert_eq!(m.cause().unwrap().location, 0);
    assert_eq!(m.emit(Variant::Itu).unwrap(), rel);
    // With recommendation octet 1a, diagnostics, and an optional part.
    let rel2 = [
        0x0C, 0x02, 0x06, // pointers: cause at 3, optional at 8
        0x04, 0x04, 0x80, 0x90, 0x42, // ext 0, location 4; rec 0; cause 16; diagnostic
        0xFE, 0x01, 0xAA, // unknown parameter
        0x00,
    ];
    let m = Message::parse(&rel2, Variant::Itu).unwrap();
    let c = m.cause().unwrap();
    assert_eq!(
        (c.location, c.recommendation, c.cause, c.diagnostics.as_slice()),
        (4, Some(0), 16, &[0x42][..])
    );
    assert_eq!(m.emit(Variant::Itu).unwrap(), rel2);
}

#[test]
fn digits_star_hash_st() {
    // Called number "*21#" then ST: codes 11, 2, 1, 12, 15 (odd count: filler 0).
    let n = CalledPartyNumber {
        nai: nai::UNKNOWN,
        inn_not_allowed: true,
        numbering_plan: 1,
        digits: "*21#F".into(),
    };
    let mut out = Vec::new();
    n.encode(&mut out).unwrap();
    assert_eq!(out, [0x82, 0x90, 0x2B, 0xC1, 0x0F]);
    assert_eq!(CalledPartyNumber::decode(&out).unwrap(), n);
    let bad = CalledPartyNumber {
        digits: "12x".into(),
        ..n
    };
    assert_eq!(
        bad.encode(&mut Vec::new()),
        Err(IsupError::BadDigit {
            field: "called party number",
            digit: 'x'
        })
    );
}

#[test]
fn generic_number_redirection() {
    let m = Message {
        body: MessageBody::Acm(BackwardCallIndicators::default()),
        optional: vec![
            Param::GenericNumber(GenericNumber {
                qualifier: 6,
                number: CallingPartyNumber {
                    nai: 4,
                    incomplete: false,
                    numbering_plan: 1,
                    presentation: 1,
                    screening: 3,
                    digits: "4930123".into(),
                },
            }),
            Param::RedirectionInformation(RedirectionInformation {
                redirecting_indicator: 3,
                original_reason: 1,
                counter: 1,
                reason: 3,
            }),
            Param::RedirectingNumber(CallingPartyNumber {
                nai: 3,
                incomplete: false,
                numbering_plan: 1,
                presentation: 0,
                screening: 0,
                digits: "5550000".into(),
            }),
        ],
    };
    let b = m.emit(Variant::Itu).unwrap();
    assert_eq!(
        b,
        [
            0x06, 0x00, 0x00, 0x01, // ACM, BCI, pointer to optional part
            0xC0, 0x07, 0x06, 0x84, 0x17, 0x94, 0x03, 0x21, 0x03, // generic number, NQI 6
            0x13, 0x02, 0x13, 0x31, // redirection information
            0x0B, 0x06, 0x83, 0x10, 0x55, 0x05, 0x00, 0x00, // redirecting number
            0x00
        ]
    );
    assert_eq!(Message::parse(&b, Variant::Itu).unwrap(), m);
}

#[test]
fn unknown_parameters_pass_through_byte_exact() {
    // ANM with parameter compatibility information (0x39), an unknown national parameter
    // (0xF9) with odd bits, and an unknown empty parameter (0xFA).
    let anm = [
        0x09, 0x01, 0x39, 0x02, 0x03, 0x91, 0xF9, 0x03, 0xDE, 0xAD, 0x5A, 0xFA, 0x00, 0x00,
    ];
    let m = Message::parse(&anm, Variant::Itu).unwrap();
    assert_eq!(m.optional.len(), 3);
    assert_eq!(
        m.optional[1],
        Param::Other {
            code: 0xF9,
            value: vec![0xDE, 0xAD, 0x5A]
        }
    );
    assert_eq!(m.emit(Variant::Itu).unwrap(), anm);
    let v = MessageView::new(&anm, Variant::Itu).unwrap();
    let codes: Vec<(u8, usize)> = v.optional_params().map(|p| (p.code, p.offset)).collect();
    assert_eq!(codes, [(0x39, 2), (0xF9, 6), (0xFA, 11)]);
}

#[test]
fn errors_name_field_and_offset() {
    assert_eq!(MessageView::new(&[], Variant::Itu), Err(IsupError::Empty));
    assert_eq!(
        MessageView::new(&[0x01, 0x00, 0x08], Variant::Itu),
        Err(IsupError::Truncated {
            field: "mandatory fixed part",
            offset: 1
        })
    );
    // Called party number pointer beyond the end.
    assert_eq!(
        MessageView::new(&[0x01, 0, 0, 0, 0x0A, 0, 0x09, 0x00], Variant::Itu),
        Err(IsupError::BadPointer {
            field: "called party number",
            offset: 6
        })
    );
    // Length running past the end.
    assert_eq!(
        MessageView::new(&[0x0C, 0x02, 0x00, 0x05, 0x80], Variant::Itu),
        Err(IsupError::BadLength {
            field: "cause indicators",
            offset: 3
        })
    );
    // Optional part without the end octet.
    assert_eq!(
        MessageView::new(&[0x09, 0x01, 0x39, 0x01, 0x00], Variant::Itu),
        Err(IsupError::MissingEndOfOptional { offset: 2 })
    );
    // Empty mandatory variable parameter.
    assert_eq!(
        MessageView::new(&[0x0C, 0x02, 0x00, 0x00], Variant::Itu),
        Err(IsupError::EmptyMandatory {
            field: "cause indicators",
            offset: 3
        })
    );
    // A calling party number too short, reported at its code's offset.
    let e = Message::parse(&[0x09, 0x01, 0x0A, 0x01, 0x03, 0x00], Variant::Itu).unwrap_err();
    assert_eq!(
        e,
        IsupError::InParam {
            offset: 2,
            source: Box::new(IsupError::ParamTooShort {
                field: "calling party number",
                need: 2,
                got: 1
            })
        }
    );
    assert!(e.to_string().contains("offset 2"));
    // Odd indicator with no digits.
    assert!(Message::parse(&[0x01, 0, 0, 0, 0x0A, 0, 0x02, 0, 0x02, 0x83, 0x10], Variant::Itu).is_err());
    // A message type outside the codec: the view reports it, nothing panics.
    assert_eq!(
        MessageView::new(&[0x2F, 0x00], Variant::Itu),
        Err(IsupError::UnsupportedType(0x2F))
    );
}

// ---- round trips ----

const DIGITS: &[char] = &[
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', '*', '#', 'D', 'E', 'F',
];

fn digits(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(DIGITS), 0..max).prop_map(|v| v.into_iter().collect())
}

fn calling() -> impl Strategy<Value = CallingPartyNumber> {
    (0u8..128, any::<bool>(), 0u8..8, 0u8..4, 0u8..4, digits(20)).prop_map(
        |(nai, incomplete, numbering_plan, presentation, screening, digits)| CallingPartyNumber {
            nai,
            incomplete,
            numbering_plan,
            presentation,
            screening,
            digits,
        },
    )
}

fn cause() -> impl Strategy<Value = CauseIndicators> {
    (
        0u8..4,
        0u8..16,
        prop::option::of(0u8..128),
        0u8..128,
        prop::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(
            |(coding_standard, location, recommendation, cause, diagnostics)| CauseIndicators {
                coding_standard,
                location,
                recommendation,
                cause,
                diagnostics,
            },
        )
}

fn bci() -> impl Strategy<Value = BackwardCallIndicators> {
    any::<[u8; 2]>().prop_map(BackwardCallIndicators::from_bytes)
}

fn sri() -> impl Strategy<Value = SuspendResumeIndicators> {
    any::<u8>().prop_map(SuspendResumeIndicators::from_byte)
}

const KNOWN: &[u8] = &[0x00, 0x02, 0x0A, 0x0B, 0x12, 0x13, 0x28, 0xC0, 0xEB];

fn param(ansi: bool) -> impl Strategy<Value = Param> {
    let other = (any::<u8>(), prop::collection::vec(any::<u8>(), 0..12))
        .prop_filter("known code", |(c, _)| !KNOWN.contains(c))
        .prop_map(|(code, value)| Param::Other { code, value });
    let charge = (0u8..128, 0u8..8, digits(16)).prop_map(move |(nai, numbering_plan, digits)| {
        if ansi {
            Param::ChargeNumber(ChargeNumber {
                nai,
                numbering_plan,
                digits,
            })
        } else {
            Param::TransmissionMediumRequirement(nai)
        }
    });
    prop_oneof![
        calling().prop_map(Param::CallingPartyNumber),
        calling().prop_map(Param::RedirectingNumber),
        calling().prop_map(Param::OriginalCalledNumber),
        (any::<u8>(), calling())
            .prop_map(|(qualifier, number)| Param::GenericNumber(GenericNumber { qualifier, number })),
        (0u8..8, 0u8..16, 0u8..8, 0u8..16).prop_map(|(a, b, c, d)| Param::RedirectionInformation(
            RedirectionInformation {
                redirecting_indicator: a,
                original_reason: b,
                counter: c,
                reason: d
            }
        )),
        cause().prop_map(Param::CauseIndicators),
        charge,
        other,
    ]
}

fn body(ansi: bool) -> impl Strategy<Value = MessageBody> {
    let iam = (
        any::<u8>(),
        any::<[u8; 2]>(),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 1..6),
        0u8..128,
        any::<bool>(),
        0u8..8,
        digits(24),
    )
        .prop_map(move |(nci, fci, cpc, tmr, usi, nai, inn, npi, d)| {
            MessageBody::Iam(Iam {
                nature_of_connection: NatureOfConnection::from_byte(nci),
                forward_call: ForwardCallIndicators::from_bytes(fci),
                calling_category: cpc,
                bearer: if ansi {
                    IamBearer::UserServiceInformation(usi)
                } else {
                    IamBearer::TransmissionMedium(tmr)
                },
                called: CalledPartyNumber {
                    nai,
                    inn_not_allowed: inn,
                    numbering_plan: npi,
                    digits: d,
                },
            })
        });
    prop_oneof![
        iam,
        digits(24).prop_map(|digits| MessageBody::Sam(SubsequentNumber { digits })),
        any::<[u8; 2]>().prop_map(MessageBody::Inr),
        any::<[u8; 2]>().prop_map(MessageBody::Inf),
        bci().prop_map(MessageBody::Acm),
        bci().prop_map(MessageBody::Con),
        Just(MessageBody::Anm),
        any::<u8>().prop_map(|b| MessageBody::Cpg(EventInformation::from_byte(b))),
        cause().prop_map(MessageBody::Rel),
        Just(MessageBody::Rlc),
        sri().prop_map(MessageBody::Sus),
        sri().prop_map(MessageBody::Res),
    ]
}

fn message() -> impl Strategy<Value = (Variant, Message)> {
    any::<bool>().prop_flat_map(|ansi| {
        (body(ansi), prop::collection::vec(param(ansi), 0..5)).prop_map(move |(body, optional)| {
            (
                if ansi { Variant::Ansi } else { Variant::Itu },
                Message { body, optional },
            )
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_emit_round_trip((variant, m) in message()) {
        let bytes = m.emit(variant).unwrap();
        let back = Message::parse(&bytes, variant).unwrap();
        prop_assert_eq!(&back, &m);
        // Re-emission is byte-exact.
        prop_assert_eq!(back.emit(variant).unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), ansi in any::<bool>()) {
        let variant = if ansi { Variant::Ansi } else { Variant::Itu };
        if let Ok(v) = MessageView::new(&bytes, variant) {
            let _ = v.optional_params().count();
            let _ = v.called_party_number();
            let _ = v.cause();
            if let Ok(m) = Message::from_view(&v) {
                let again = m.emit(variant).unwrap();
                prop_assert_eq!(Message::parse(&again, variant).unwrap(), m);
            }
        }
    }
}

#[test]
fn parameter_codes_match_q763() {
    assert_eq!(code::CALLED_PARTY_NUMBER, 0x04);
    assert_eq!(code::CALLING_PARTY_NUMBER, 0x0A);
    assert_eq!(code::CAUSE_INDICATORS, 0x12);
    assert_eq!(code::GENERIC_NUMBER, 0xC0);
}
