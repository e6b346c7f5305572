//! Offer/answer (RFC 3264) with the exchanges of RFC 3264 section 10 and RFC 4317: codec
//! selection, telephone-event, rejected m-lines, hold/resume in all its forms (sendonly,
//! inactive, c=0.0.0.0), codec change mid-call, o= versioning, IPv6 and a=rtcp.

use std::net::SocketAddr;

use gateway::sdp::{
    AudioCodec, Direction, LocalMedia, NegotiatedAudio, OaError, OfferAnswerConfig, SdpNegotiator,
    SessionDescription,
};

fn gateway_with(codecs: Vec<AudioCodec>) -> SdpNegotiator {
    SdpNegotiator::new(
        OfferAnswerConfig {
            codecs,
            ..Default::default()
        },
        LocalMedia {
            address: "192.0.2.10".parse().unwrap(),
            rtp_port: 16384,
        },
        1000,
    )
}

fn gateway() -> SdpNegotiator {
    gateway_with(vec![AudioCodec::Pcmu, AudioCodec::Pcma, AudioCodec::Gsm])
}

fn answer(n: &mut SdpNegotiator, offer: &str) -> (String, NegotiatedAudio) {
    let sd = SessionDescription::parse(offer).unwrap();
    let (a, neg) = n.process_offer(&sd).unwrap();
    (a.to_string(), neg)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The peer's offer with audio, as in RFC 3264 10.1 but with IP addresses so that media can flow.
const RFC3264_10_1_OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\n\
s=\r\n\
c=IN IP4 198.51.100.1\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
m=video 51372 RTP/AVP 31\r\n\
a=rtpmap:31 H261/90000\r\n\
m=video 53000 RTP/AVP 32\r\n\
a=rtpmap:32 MPV/90000\r\n";

#[test]
fn rfc3264_10_1_audio_accepted_video_rejected_in_order() {
    let mut g = gateway();
    let (a, neg) = answer(&mut g, RFC3264_10_1_OFFER);
    let sd = SessionDescription::parse(&a).unwrap();
    assert_eq!(sd.media.len(), 3);
    assert_eq!((sd.media[0].media.as_ref(), sd.media[0].port), ("audio", 16384));
    assert_eq!(sd.media[0].payload_types().collect::<Vec<_>>(), vec![0]);
    assert_eq!((sd.media[1].media.as_ref(), sd.media[1].port), ("video", 0));
    assert_eq!((sd.media[2].media.as_ref(), sd.media[2].port), ("video", 0));
    assert_eq!(sd.media[1].formats, vec!["31"]);
    assert_eq!(sd.connection.as_ref().unwrap().address, "192.0.2.10");
    assert_eq!(neg.codec, AudioCodec::Pcmu);
    assert_eq!(neg.remote_rtp, Some(addr("198.51.100.1:49170")));
    assert_eq!(neg.remote_rtcp, Some(addr("198.51.100.1:49171")));
    assert_eq!(neg.direction, Direction::SendRecv);
    assert!(!neg.remote_hold);
    // The answer lists the chosen codec's rtpmap, ptime, a=rtcp and the direction.
    assert!(a.contains("a=rtpmap:0 PCMU/8000\r\n"));
    assert!(a.contains("a=ptime:20\r\n"));
    assert!(a.contains("a=rtcp:16385\r\n"));
    assert!(a.contains("a=sendrecv\r\n"));
}

/// RFC 4317 2.1 offer (host names as in the RFC).
const RFC4317_2_1_OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n\
s=\r\n\
c=IN IP4 host.atlanta.example.com\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 97\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
m=video 51372 RTP/AVP 31 32\r\n\
a=rtpmap:31 H261/90000\r\n\
a=rtpmap:32 MPV/90000\r\n";

#[test]
fn rfc4317_2_1_codec_choice_follows_configured_preference() {
    let mut g = gateway_with(vec![AudioCodec::Pcma, AudioCodec::Pcmu]);
    let (a, neg) = answer(&mut g, RFC4317_2_1_OFFER);
    assert_eq!((neg.codec, neg.payload_type), (AudioCodec::Pcma, 8));
    assert!(a.contains("m=audio 16384 RTP/AVP 8\r\n"));
    assert!(a.contains("m=video 0 RTP/AVP 31 32\r\n"));
    // Host names are not resolved here: no address to send to.
    assert_eq!(neg.remote_rtp, None);

    let mut g = SdpNegotiator::new(
        OfferAnswerConfig {
            codecs: vec![AudioCodec::Pcma, AudioCodec::Pcmu],
            prefer_offerer_order: true,
            ..Default::default()
        },
        LocalMedia {
            address: "192.0.2.10".parse().unwrap(),
            rtp_port: 16384,
        },
        1,
    );
    let (_, neg) = answer(&mut g, RFC4317_2_1_OFFER);
    assert_eq!(neg.codec, AudioCodec::Pcmu);
}

#[test]
fn rfc4733_7_telephone_event_keeps_the_offered_payload_type() {
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                 m=audio 30000 RTP/AVP 3 96 13\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n\
                 a=ptime:40\r\n";
    let mut g = gateway();
    let (a, neg) = answer(&mut g, offer);
    assert_eq!(neg.codec, AudioCodec::Gsm);
    assert_eq!(neg.telephone_event_pt, Some(96));
    assert_eq!(neg.send_ptime, 40);
    assert_eq!(neg.cn_pt, None);
    assert!(a.contains("m=audio 16384 RTP/AVP 3 96\r\n"), "{a}");
    assert!(a.contains("a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n"));

    // Comfort noise when configured.
    let mut g = SdpNegotiator::new(
        OfferAnswerConfig {
            comfort_noise: true,
            ..Default::default()
        },
        LocalMedia {
            address: "192.0.2.10".parse().unwrap(),
            rtp_port: 16384,
        },
        1,
    );
    let (a, neg) = answer(&mut g, offer);
    assert_eq!(neg.cn_pt, Some(13));
    assert!(a.contains("m=audio 16384 RTP/AVP 3 96 13\r\n"));
}

#[test]
fn ptime_is_adapted_to_codec_and_maxptime() {
    let offer = |pts: &str, attrs: &str| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP {pts}\r\n{attrs}"
        )
    };
    let (_, n) = answer(&mut gateway(), &offer("0", "a=ptime:30\r\n"));
    assert_eq!(n.send_ptime, 30);
    let (_, n) = answer(&mut gateway(), &offer("3", "a=ptime:30\r\n"));
    assert_eq!(n.send_ptime, 20);
    let (_, n) = answer(&mut gateway(), &offer("8", "a=ptime:60\r\na=maxptime:40\r\n"));
    assert_eq!(n.send_ptime, 40);
    let (_, n) = answer(&mut gateway(), &offer("8", ""));
    assert_eq!(n.send_ptime, 20);
}

/// RFC 4317 3.1: the peer holds with a=sendonly, then resumes; our o= version moves only when
/// our description changes.
#[test]
fn rfc4317_3_1_hold_and_unhold_by_the_peer() {
    let initial = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=\r\nc=IN IP4 198.51.100.1\r\n\
                   t=0 0\r\nm=audio 49170 RTP/AVP 0 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\n";
    let hold = "v=0\r\no=alice 2890844526 2890844527 IN IP4 198.51.100.1\r\ns=\r\nc=IN IP4 198.51.100.1\r\n\
                t=0 0\r\nm=audio 49170 RTP/AVP 0 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\na=sendonly\r\n";
    let resume = "v=0\r\no=alice 2890844526 2890844528 IN IP4 198.51.100.1\r\ns=\r\nc=IN IP4 198.51.100.1\r\n\
                  t=0 0\r\nm=audio 49170 RTP/AVP 0 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\n";
    let mut g = gateway();
    let (a1, n1) = answer(&mut g, initial);
    let v1 = g.version();
    assert_eq!(n1.direction, Direction::SendRecv);
    let (a2, n2) = answer(&mut g, hold);
    assert!(a2.contains("a=recvonly\r\n"));
    assert_eq!(n2.direction, Direction::RecvOnly);
    assert!(n2.remote_hold);
    assert_eq!(g.version(), v1 + 1);
    let (a3, n3) = answer(&mut g, resume);
    assert_eq!(n3.direction, Direction::SendRecv);
    assert!(!n3.remote_hold);
    assert_eq!(g.version(), v1 + 2);
    assert_eq!(a3.replace(&format!(" {} IN", v1 + 2), &format!(" {v1} IN")), a1);
    // A session refresh with the same offer: same answer, same version.
    let (a4, _) = answer(&mut g, resume);
    assert_eq!(a4, a3);
    assert_eq!(g.version(), v1 + 2);
}

/// RFC 3264 8.4: an old (RFC 2543) peer holds with c=0.0.0.0.
#[test]
fn rfc3264_8_4_zero_address_hold_from_old_peers() {
    let mut g = gateway();
    answer(&mut g, RFC3264_10_1_OFFER);
    let hold = RFC3264_10_1_OFFER.replace("c=IN IP4 198.51.100.1", "c=IN IP4 0.0.0.0");
    let (a, n) = answer(&mut g, &hold);
    assert_eq!(n.remote_rtp, None);
    assert!(n.remote_hold);
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(a.contains("a=recvonly\r\n"));
    let (_, n) = answer(&mut g, RFC3264_10_1_OFFER);
    assert_eq!(n.remote_rtp, Some(addr("198.51.100.1:49170")));
    assert_eq!(n.direction, Direction::SendRecv);
}

#[test]
fn rfc3264_6_1_direction_answers() {
    let base = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";
    for (offered, answered, ours) in [
        ("sendrecv", "sendrecv", Direction::SendRecv),
        ("sendonly", "recvonly", Direction::RecvOnly),
        ("recvonly", "sendonly", Direction::SendOnly),
        ("inactive", "inactive", Direction::Inactive),
    ] {
        let (a, n) = answer(&mut gateway(), &format!("{base}a={offered}\r\n"));
        assert!(a.contains(&format!("a={answered}\r\n")), "{offered}: {a}");
        assert_eq!(n.direction, ours);
    }
    // Session-level direction applies to the media.
    let session_level = base.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    let (_, n) = answer(&mut gateway(), &session_level);
    assert_eq!(n.direction, Direction::RecvOnly);
}

#[test]
fn rfc3264_8_4_we_hold_and_resume() {
    let mut g = gateway();
    let offer = g.create_offer();
    let v0 = offer.origin.session_version;
    assert_eq!(offer.media[0].direction_attr(), Some(Direction::SendRecv));
    assert_eq!(
        offer.media[0].payload_types().collect::<Vec<_>>(),
        vec![0, 8, 3, 101]
    );
    let peer_answer = "v=0\r\no=bob 1 1 IN IP4 198.51.100.2\r\ns=-\r\nc=IN IP4 198.51.100.2\r\nt=0 0\r\n\
                       m=audio 20000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
    let n = g
        .process_answer(&SessionDescription::parse(peer_answer).unwrap())
        .unwrap();
    assert_eq!((n.codec, n.telephone_event_pt), (AudioCodec::Pcma, Some(101)));
    assert_eq!(n.accepted_payload_types().as_slice(), &[8, 101]);

    g.set_local_hold(true);
    let hold = g.create_offer();
    assert_eq!(hold.origin.session_version, v0 + 1);
    assert_eq!(hold.media[0].direction_attr(), Some(Direction::SendOnly));
    let n = g
        .process_answer(&SessionDescription::parse(&format!("{peer_answer}a=recvonly\r\n")).unwrap())
        .unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
    assert!(!n.remote_hold);

    // The peer holds too: its offer is sendonly, we answer inactive.
    let (a, n) = answer(&mut g, &format!("{peer_answer}a=sendonly\r\n"));
    assert!(a.contains("a=inactive\r\n"));
    assert_eq!(n.direction, Direction::Inactive);
    // Our next offer while both hold is inactive.
    let both = g.create_offer();
    assert_eq!(both.media[0].direction_attr(), Some(Direction::Inactive));
    g.rollback_offer();

    g.set_local_hold(false);
    let resume = g.create_offer();
    assert_eq!(resume.media[0].direction_attr(), Some(Direction::SendRecv));
    let n = g
        .process_answer(&SessionDescription::parse(peer_answer).unwrap())
        .unwrap();
    assert_eq!(n.direction, Direction::SendRecv);
}

#[test]
fn codec_change_mid_call_in_both_directions() {
    let mut g = gateway();
    let (_, n) = answer(&mut g, RFC3264_10_1_OFFER);
    assert_eq!(n.codec, AudioCodec::Pcmu);
    let v = g.version();
    // The peer re-offers GSM only.
    let gsm = RFC3264_10_1_OFFER.replace(
        "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000",
        "m=audio 49170 RTP/AVP 3",
    );
    let (a, n) = answer(&mut g, &gsm);
    assert_eq!((n.codec, n.payload_type), (AudioCodec::Gsm, 3));
    assert!(a.contains("m=audio 16384 RTP/AVP 3\r\n"));
    assert_eq!(g.version(), v + 1);

    // We change to PCMA: the re-offer keeps the three m-lines, the videos with port 0.
    g.set_codecs(vec![AudioCodec::Pcma]);
    let offer = g.create_offer();
    assert_eq!(offer.media.len(), 3);
    assert_eq!(offer.media[0].payload_types().collect::<Vec<_>>(), vec![8, 101]);
    assert_eq!((offer.media[1].port, offer.media[2].port), (0, 0));
    let reply = "v=0\r\no=alice 1 5 IN IP4 198.51.100.1\r\ns=\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
                 m=audio 49170 RTP/AVP 8\r\nm=video 0 RTP/AVP 31\r\nm=video 0 RTP/AVP 32\r\n";
    let n = g
        .process_answer(&SessionDescription::parse(reply).unwrap())
        .unwrap();
    assert_eq!(n.codec, AudioCodec::Pcma);
    assert_eq!(n.telephone_event_pt, None);
}

/// RFC 4317 2.4: two audio streams; the line carries one, the second is refused with port 0.
#[test]
fn rfc4317_2_4_second_audio_stream_rejected() {
    let offer = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=\r\nc=IN IP4 198.51.100.1\r\n\
                 t=0 0\r\nm=audio 49170 RTP/AVP 0 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\n\
                 m=audio 49172 RTP/AVP 98\r\na=rtpmap:98 telephone-event/8000\r\na=sendonly\r\n";
    let mut g = gateway();
    let (a, n) = answer(&mut g, offer);
    assert_eq!(n.media_index, 0);
    let sd = SessionDescription::parse(&a).unwrap();
    assert_eq!(sd.media[1].port, 0);
    assert_eq!(sd.media[1].formats, vec!["98"]);
    // An offer dropping m-lines is refused.
    let fewer = offer.split("m=audio 49172").next().unwrap();
    assert_eq!(
        g.process_offer(&SessionDescription::parse(fewer).unwrap())
            .unwrap_err(),
        OaError::MediaLinesRemoved { before: 2, now: 1 }
    );
}

#[test]
fn first_audio_without_common_codec_is_skipped() {
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                 m=audio 30000 RTP/AVP 18\r\nm=audio 30002 RTP/AVP 8\r\nm=audio 30004 RTP/SAVP 0\r\n";
    let (a, n) = answer(&mut gateway(), offer);
    assert_eq!(n.media_index, 1);
    assert_eq!(n.remote_rtp, Some(addr("198.51.100.7:30002")));
    let sd = SessionDescription::parse(&a).unwrap();
    assert_eq!(
        [sd.media[0].port, sd.media[1].port, sd.media[2].port],
        [0, 16384, 0]
    );

    let none = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 18\r\n";
    assert_eq!(
        gateway()
            .process_offer(&SessionDescription::parse(none).unwrap())
            .unwrap_err(),
        OaError::NoUsableAudio
    );
    let no_media = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\n";
    assert_eq!(
        gateway()
            .process_offer(&SessionDescription::parse(no_media).unwrap())
            .unwrap_err(),
        OaError::NoMedia
    );
}

#[test]
fn ipv6_and_rfc3605_rtcp_attribute() {
    let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
                 m=audio 30000 RTP/AVP 0\r\na=rtcp:53020 IN IP6 2001:db8::2\r\n";
    let mut g = SdpNegotiator::new(
        OfferAnswerConfig::default(),
        LocalMedia {
            address: "2001:db8::10".parse().unwrap(),
            rtp_port: 5004,
        },
        7,
    );
    let (a, n) = answer(&mut g, offer);
    assert_eq!(n.remote_rtp, Some(addr("[2001:db8::1]:30000")));
    assert_eq!(n.remote_rtcp, Some(addr("[2001:db8::2]:53020")));
    assert!(a.contains("c=IN IP6 2001:db8::10\r\n"));
    assert!(a.contains("o=gatewayd 7 7 IN IP6 2001:db8::10\r\n"));
}

#[test]
fn answer_errors() {
    let mut g = gateway();
    let ans = SessionDescription::parse(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.2\r\ns=-\r\nc=IN IP4 198.51.100.2\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
    )
    .unwrap();
    assert_eq!(g.process_answer(&ans).unwrap_err(), OaError::NoOfferPending);
    g.create_offer();
    assert_eq!(g.process_answer(&ans).unwrap_err(), OaError::Rejected);
    g.create_offer();
    let two = SessionDescription::parse(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.2\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n",
    )
    .unwrap();
    assert_eq!(
        g.process_answer(&two).unwrap_err(),
        OaError::AnswerMismatch {
            offered: 1,
            answered: 2
        }
    );
    g.create_offer();
    let foreign = SessionDescription::parse(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.2\r\ns=-\r\nc=IN IP4 198.51.100.2\r\nt=0 0\r\nm=audio 2000 RTP/AVP 18\r\n",
    )
    .unwrap();
    assert_eq!(g.process_answer(&foreign).unwrap_err(), OaError::Rejected);
}

#[test]
fn answer_listing_several_codecs_accepts_all_of_them() {
    let mut g = gateway();
    g.create_offer();
    let ans = "v=0\r\no=- 1 1 IN IP4 198.51.100.2\r\ns=-\r\nc=IN IP4 198.51.100.2\r\nt=0 0\r\n\
               m=audio 2000 RTP/AVP 3 0 18 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let n = g
        .process_answer(&SessionDescription::parse(ans).unwrap())
        .unwrap();
    assert_eq!((n.codec, n.payload_type), (AudioCodec::Gsm, 3));
    assert_eq!(
        n.receive_codecs,
        [Some((3, AudioCodec::Gsm)), Some((0, AudioCodec::Pcmu)), None]
    );
    assert_eq!(n.codec_for(0), Some(AudioCodec::Pcmu));
    assert_eq!(n.codec_for(18), None);
    assert_eq!(n.accepted_payload_types().as_slice(), &[3, 0, 101]);
}

fn gateway_red(redundancy: bool) -> SdpNegotiator {
    SdpNegotiator::new(
        OfferAnswerConfig {
            redundancy,
            ..Default::default()
        },
        LocalMedia {
            address: "192.0.2.10".parse().unwrap(),
            rtp_port: 16384,
        },
        1,
    )
}

fn red_offer(formats: &str, red: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP {formats}\r\n{red}a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\n"
    )
}

#[test]
fn rfc2198_red_answered_when_offered_and_enabled() {
    // Redundancy of the codec itself, as RFC 2198 section 5 announces it (with /1 channels).
    let offer = red_offer("121 0 101", "a=rtpmap:121 red/8000/1\r\na=fmtp:121 0/0\r\n");
    let (a, neg) = answer(&mut gateway_red(true), &offer);
    assert_eq!(
        (neg.codec, neg.payload_type, neg.red_pt),
        (AudioCodec::Pcmu, 0, Some(121))
    );
    assert!(a.contains("m=audio 16384 RTP/AVP 0 121 101\r\n"), "{a}");
    assert!(a.contains("a=rtpmap:121 red/8000\r\na=fmtp:121 0/0\r\n"), "{a}");
    assert!(neg.accepted_payload_types().contains(&121));

    // Not enabled: plain audio, no red in the answer.
    let (a, neg) = answer(&mut gateway_red(false), &offer);
    assert_eq!(neg.red_pt, None);
    assert!(!a.contains("red"), "{a}");
    assert!(a.contains("m=audio 16384 RTP/AVP 0 101\r\n"), "{a}");

    // Not offered: plain audio.
    let (a, neg) = answer(&mut gateway_red(true), &red_offer("0 101", ""));
    assert_eq!(neg.red_pt, None);
    assert!(!a.contains("red"), "{a}");

    // Deeper redundancy of the same codec, or no fmtp at all: we receive any level of it.
    for fmtp in ["a=fmtp:96 3/3/3\r\n", ""] {
        let offer = red_offer("3 96 101", &format!("a=rtpmap:96 RED/8000\r\n{fmtp}"));
        let (a, neg) = answer(&mut gateway_red(true), &offer);
        assert_eq!((neg.codec, neg.red_pt), (AudioCodec::Gsm, Some(96)), "{fmtp}");
        assert!(a.contains("a=rtpmap:96 red/8000\r\na=fmtp:96 3/3\r\n"), "{a}");
    }
}

#[test]
fn rfc2198_5_red_of_another_codec_is_declined() {
    // RFC 2198 section 5: PCMU primary with DVI4 redundancy; we cannot decode DVI4.
    let offer = red_offer("121 0 5 101", "a=rtpmap:121 red/8000/1\r\na=fmtp:121 0/5\r\n");
    let (a, neg) = answer(&mut gateway_red(true), &offer);
    assert_eq!((neg.codec, neg.red_pt), (AudioCodec::Pcmu, None));
    assert!(!a.contains("red"), "{a}");
    // Redundancy of a codec other than the one chosen (PCMA offered as red's, PCMU preferred).
    let offer = red_offer("0 8 121 101", "a=rtpmap:121 red/8000\r\na=fmtp:121 8/8\r\n");
    let (_, neg) = answer(&mut gateway_red(true), &offer);
    assert_eq!((neg.codec, neg.red_pt), (AudioCodec::Pcmu, None));
}

#[test]
fn rfc2198_red_in_our_offer_and_the_answer() {
    let mut g = gateway_red(true);
    let offer = g.create_offer().to_string();
    assert!(
        offer.contains("m=audio 16384 RTP/AVP 0 8 3 121 101\r\n"),
        "{offer}"
    );
    assert!(
        offer.contains("a=rtpmap:121 red/8000\r\na=fmtp:121 0/0\r\n"),
        "{offer}"
    );
    let reply = |body: &str| {
        format!(
            "v=0\r\no=- 2 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP {body}"
        )
    };
    // The peer takes red.
    let ans = reply(
        "0 121 101\r\na=rtpmap:121 red/8000\r\na=fmtp:121 0/0\r\na=rtpmap:101 telephone-event/8000\r\n",
    );
    let neg = g
        .process_answer(&SessionDescription::parse(&ans).unwrap())
        .unwrap();
    assert_eq!((neg.codec, neg.red_pt), (AudioCodec::Pcmu, Some(121)));
    // The peer chooses PCMA and red of it: still redundancy, of PCMA.
    g.create_offer();
    let ans = reply("8 121\r\na=rtpmap:121 red/8000\r\na=fmtp:121 8/8\r\n");
    let neg = g
        .process_answer(&SessionDescription::parse(&ans).unwrap())
        .unwrap();
    assert_eq!((neg.codec, neg.red_pt), (AudioCodec::Pcma, Some(121)));
    // The peer leaves red out: plain audio.
    g.create_offer();
    let neg = g
        .process_answer(&SessionDescription::parse(&reply("0\r\n")).unwrap())
        .unwrap();
    assert_eq!(neg.red_pt, None);

    // Not configured: never offered, and an answer with red anyway is not taken up.
    let mut g = gateway_red(false);
    let offer = g.create_offer().to_string();
    assert!(!offer.contains("red"), "{offer}");
    let ans = reply("0 121\r\na=rtpmap:121 red/8000\r\na=fmtp:121 0/0\r\n");
    let neg = g
        .process_answer(&SessionDescription::parse(&ans).unwrap())
        .unwrap();
    assert_eq!(neg.red_pt, None);
}
