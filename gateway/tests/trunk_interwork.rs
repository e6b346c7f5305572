//! RFC 3398 / Q.1912.5 interworking: IAM construction, call progress, cause <-> status.

use gateway::config::model::TrunkProfile;
use gateway::trunk::interwork::*;
use gateway::trunk::isup::param::{nai, presentation};
use gateway::trunk::isup::*;
use gateway::trunk::mime::Handling;
use gateway::trunk::profile::TrunkBehaviour;

#[test]
fn iam_numbers_and_privacy() {
    let n = Numbering::default();
    let call = OutgoingCall {
        called: "0049 30 1234",
        calling: Some("+442071234567"),
        privacy: true,
    };
    let m = build_iam(&call, &n, Variant::Itu);
    let MessageBody::Iam(iam) = &m.body else { panic!() };
    assert_eq!(
        (iam.called.nai, iam.called.digits.as_str()),
        (nai::INTERNATIONAL, "49301234")
    );
    assert!(iam.forward_call.international);
    assert_eq!(iam.calling_category, 0x0A);
    let c = m.calling_party_number().unwrap();
    assert_eq!(
        (c.nai, c.digits.as_str(), c.presentation),
        (nai::INTERNATIONAL, "442071234567", presentation::RESTRICTED)
    );
    // National prefix stripped; no caller ID -> no calling party number.
    let m = build_iam(
        &OutgoingCall {
            called: "0301234",
            calling: None,
            privacy: false,
        },
        &n,
        Variant::Itu,
    );
    let MessageBody::Iam(iam) = &m.body else { panic!() };
    assert_eq!(
        (iam.called.nai, iam.called.digits.as_str()),
        (nai::NATIONAL, "301234")
    );
    assert!(m.optional.is_empty());
    // ST appended when configured; ANSI layout carries user service information.
    let n2 = Numbering {
        append_st: true,
        international_prefix: "011".into(),
        national_prefix: "1".into(),
        ..n
    };
    let m = build_iam(
        &OutgoingCall {
            called: "*67#",
            calling: None,
            privacy: false,
        },
        &n2,
        Variant::Ansi,
    );
    let MessageBody::Iam(iam) = &m.body else { panic!() };
    assert_eq!(iam.called.digits, "*67#F");
    assert_eq!(
        iam.bearer,
        IamBearer::UserServiceInformation(ANSI_USI_SPEECH.to_vec())
    );
    let bytes = m.emit(Variant::Ansi).unwrap();
    assert_eq!(Message::parse(&bytes, Variant::Ansi).unwrap(), m);
}

#[test]
fn progress_from_responses() {
    let acm_free = acm_ringing();
    let acm_noind = Message::new(MessageBody::Acm(BackwardCallIndicators::default()));
    let cpg = |e| {
        Message::new(MessageBody::Cpg(EventInformation {
            event: e,
            presentation_restricted: false,
        }))
    };
    assert_eq!(progress_of(180, Some(&acm_free)), CallProgress::Ringing);
    assert_eq!(progress_of(183, Some(&acm_noind)), CallProgress::Progress);
    assert_eq!(progress_of(183, Some(&cpg(1))), CallProgress::Ringing);
    assert_eq!(progress_of(183, Some(&cpg(3))), CallProgress::Progress);
    assert_eq!(
        progress_of(200, Some(&Message::new(MessageBody::Anm))),
        CallProgress::Answered
    );
    assert_eq!(
        progress_of(200, Some(&answer_message(false))),
        CallProgress::Answered
    );
    assert_eq!(progress_of(180, None), CallProgress::Ringing);
    assert_eq!(progress_of(183, None), CallProgress::Progress);
    assert_eq!(progress_of(200, None), CallProgress::Answered);
    assert_eq!(progress_of(100, None), CallProgress::None);
}

#[test]
fn cause_to_status_rfc3398() {
    for (c, s) in [
        (1, Some(404)),
        (2, Some(404)),
        (3, Some(404)),
        (16, None),
        (17, Some(486)),
        (18, Some(408)),
        (19, Some(480)),
        (20, Some(480)),
        (21, Some(403)),
        (22, Some(410)),
        (26, Some(404)),
        (27, Some(502)),
        (28, Some(484)),
        (29, Some(501)),
        (31, Some(480)),
        (34, Some(503)),
        (38, Some(503)),
        (41, Some(503)),
        (42, Some(503)),
        (47, Some(503)),
        (55, Some(403)),
        (57, Some(403)),
        (58, Some(503)),
        (65, Some(488)),
        (70, Some(488)),
        (79, Some(501)),
        (87, Some(403)),
        (88, Some(503)),
        (102, Some(504)),
        (111, Some(500)),
        (127, Some(500)),
        // class defaults
        (24, Some(480)),
        (44, Some(503)),
        (63, Some(503)),
        (66, Some(501)),
        (95, Some(400)),
        (99, Some(500)),
    ] {
        assert_eq!(cause_to_status(c), s, "cause {c}");
    }
}

#[test]
fn status_to_cause_rfc3398() {
    for (s, c) in [
        (400, 41),
        (401, 21),
        (402, 21),
        (403, 21),
        (404, 1),
        (405, 63),
        (406, 79),
        (407, 21),
        (408, 102),
        (410, 22),
        (413, 127),
        (414, 127),
        (415, 79),
        (416, 127),
        (420, 127),
        (421, 127),
        (423, 127),
        (480, 18),
        (481, 41),
        (482, 25),
        (483, 25),
        (484, 28),
        (485, 1),
        (486, 17),
        (487, 16),
        (488, 31),
        (500, 41),
        (501, 79),
        (502, 38),
        (503, 41),
        (504, 102),
        (505, 127),
        (513, 127),
        (600, 17),
        (603, 21),
        (604, 1),
        (606, 31),
        (499, 31),
    ] {
        assert_eq!(status_to_cause(s).cause, c, "status {s}");
    }
    assert_eq!(status_to_cause(603).location, 0);
    assert_eq!(status_to_cause(486).location, 10);
}

#[test]
fn release_prefers_encapsulated_cause() {
    // 480 with an encapsulated REL cause 17: busy wins, busy tone.
    let rel = rel_with_cause(17, 4);
    let r = release_of(Some(480), Some(&rel));
    assert_eq!(
        (r.cause.cause, r.status, r.tone),
        (17, Some(480), ReleaseTone::Busy)
    );
    let r = release_of(Some(404), None);
    assert_eq!((r.cause.cause, r.tone), (1, ReleaseTone::SpecialInformation));
    let r = release_of(None, None);
    assert_eq!((r.cause.cause, r.status, r.tone), (16, None, ReleaseTone::None));
    let r = release_of(Some(503), None);
    assert_eq!(r.tone, ReleaseTone::Congestion);
    assert_eq!(status_for_rel(&rel_with_cause(17, 0)), 486);
    assert_eq!(status_for_rel(&rel_normal()), 480);
    assert_eq!(rel_for_status(486).cause().unwrap().cause, 17);
}

#[test]
fn incoming_routing_and_caller_id() {
    let n = Numbering::default();
    let iam = build_iam(
        &OutgoingCall {
            called: "+4930123",
            calling: Some("0301111"),
            privacy: true,
        },
        &n,
        Variant::Itu,
    );
    let r = route_number(Some(&iam), "trunk-line", &n);
    assert_eq!(
        r,
        RoutedNumber {
            number: "+4930123".into(),
            from_iam: true
        }
    );
    assert_eq!(
        route_number(None, "5551234", &n),
        RoutedNumber {
            number: "5551234".into(),
            from_iam: false
        }
    );
    // National number under a subscriber-number plan gets its trunk prefix back.
    let sub = Numbering {
        unprefixed_nai: nai::SUBSCRIBER,
        ..Numbering::default()
    };
    let iam2 = build_iam(
        &OutgoingCall {
            called: "0301234",
            calling: None,
            privacy: false,
        },
        &sub,
        Variant::Itu,
    );
    assert_eq!(route_number(Some(&iam2), "x", &sub).number, "0301234");
    assert_eq!(caller_id_from_iam(&iam, &n), Some(("301111".into(), true)));
}

#[test]
fn suspend_resume_timer() {
    let sus_m = sus(true);
    let a = mid_call_action(&sus_m);
    assert_eq!(
        a,
        MidCallAction::Suspend {
            network_initiated: true
        }
    );
    let mut t = SuspendTimer::default();
    t.on_action(a, 1_000);
    assert_eq!(t.deadline(), Some(1_000 + SuspendTimer::T6_MS));
    assert!(t.poll(50_000).is_none());
    t.on_action(mid_call_action(&res(true)), 60_000);
    assert!(!t.suspended());
    t.on_action(mid_call_action(&sus(false)), 100_000);
    assert_eq!(t.deadline(), Some(100_000 + SuspendTimer::T2_MS));
    let rel = t.poll(100_000 + SuspendTimer::T2_MS).unwrap();
    assert_eq!(rel.cause().unwrap().cause, 102);
    assert!(!t.suspended());
    assert_eq!(
        mid_call_action(&Message::new(MessageBody::Anm)),
        MidCallAction::Ignore
    );
}

#[test]
fn profiles() {
    assert!(!TrunkBehaviour::new(TrunkProfile::Sip).carries_isup());
    assert_eq!(
        TrunkBehaviour::new(TrunkProfile::SipT).handling(),
        Handling::Optional
    );
    assert_eq!(
        TrunkBehaviour::new(TrunkProfile::SipI).handling(),
        Handling::Required
    );
    assert_eq!(
        TrunkBehaviour::new(TrunkProfile::SipT)
            .with_variant(Variant::Ansi)
            .variant,
        Variant::Ansi
    );
}

#[test]
fn configured_t6_within_bounds() {
    let mut t = SuspendTimer::with_t6(30_000);
    assert_eq!(t.t6_ms(), 30_000);
    t.on_action(mid_call_action(&sus(true)), 5_000);
    assert_eq!(t.deadline(), Some(35_000));
    // A second SUS does not push the deadline out.
    t.on_action(mid_call_action(&sus(true)), 20_000);
    assert_eq!(t.deadline(), Some(35_000));
    assert!(t.poll(34_999).is_none());
    let rel = t.poll(35_000).expect("T6 ran out");
    assert_eq!(rel.message_type(), MessageType::Rel);
    assert_eq!(rel.cause().unwrap().cause, cause::RECOVERY_ON_TIMER_EXPIRY);
    assert_eq!(t.deadline(), None);
    assert_eq!(SuspendTimer::with_t6(1).t6_ms(), SuspendTimer::T6_MIN_MS);
    assert_eq!(SuspendTimer::with_t6(u64::MAX).t6_ms(), SuspendTimer::T6_MAX_MS);
}

#[test]
fn reason_header_round_trip() {
    for (c, loc) in [
        (16, param::location::USER),
        (17, param::location::PUBLIC_LOCAL),
        (102, param::location::BEYOND_INTERWORKING),
        (127, param::location::INTERNATIONAL),
        (44, param::location::TRANSIT),
    ] {
        let v = reason_header(&CauseIndicators::new(c, loc));
        assert_eq!(
            parse_reason(&v),
            Ok(Some(ReasonCause {
                cause: c,
                location: Some(loc)
            })),
            "{v}"
        );
    }
    assert_eq!(
        reason_header(&CauseIndicators::new(16, param::location::USER)),
        "Q.850;cause=16;location=U;text=\"Normal call clearing\""
    );
}

#[test]
fn reason_headers_as_peers_send_them() {
    // RFC 3326 section 2 examples and common variants.
    assert_eq!(
        parse_reason("Q.850 ;cause=16 ;text=\"Terminated\""),
        Ok(Some(ReasonCause {
            cause: 16,
            location: None
        }))
    );
    assert_eq!(
        parse_reason("SIP ;cause=200 ;text=\"Call completed elsewhere\""),
        Ok(None)
    );
    assert_eq!(
        parse_reason("q.850;text=\"a;b\";CAUSE=17"),
        Ok(Some(ReasonCause {
            cause: 17,
            location: None
        }))
    );
    assert_eq!(
        parse_reason("Q.850;cause=1;location=LN"),
        Ok(Some(ReasonCause {
            cause: 1,
            location: Some(param::location::PUBLIC_LOCAL)
        }))
    );
    assert_eq!(parse_reason("Q.850;text=\"x\""), Err(ReasonError::MissingCause));
    assert_eq!(parse_reason("Q.850;cause=200"), Err(ReasonError::BadCause));
    assert_eq!(parse_reason("Q.850;cause=x"), Err(ReasonError::BadCause));
    assert_eq!(
        parse_reason("Q.850;cause=16;location=MARS"),
        Err(ReasonError::BadLocation)
    );
}

#[test]
fn release_of_bye_or_cancel() {
    // Nothing said: a plain hang-up.
    assert_eq!(release_of_request(None, None), None);
    // The REL wins over the Reason header.
    let rel = rel_with_cause(17, param::location::PUBLIC_LOCAL);
    let r = release_of_request(
        Some(&rel),
        Some(ReasonCause {
            cause: 16,
            location: None,
        }),
    )
    .unwrap();
    assert_eq!(
        (r.cause.cause, r.status, r.tone),
        (17, Some(486), ReleaseTone::Busy)
    );
    // Reason alone (plain SIP).
    let r = release_of_request(
        None,
        Some(ReasonCause {
            cause: 1,
            location: None,
        }),
    )
    .unwrap();
    assert_eq!(
        (r.cause.cause, r.status, r.tone),
        (1, Some(404), ReleaseTone::SpecialInformation)
    );
    let r = release_of_request(Some(&rel_normal()), None).unwrap();
    assert_eq!((r.cause.cause, r.status, r.tone), (16, None, ReleaseTone::None));
    // Another ISUP message is no release.
    assert_eq!(
        release_of_request(Some(&Message::new(MessageBody::Anm)), None),
        None
    );
}
