//! Properties of the G.711 and GSM codecs over arbitrary input: frame parsing and emitting are
//! inverse, coding never panics (test builds check every arithmetic overflow, so this also
//! checks the i32 bounds the GSM code relies on), and state handling is deterministic.

use codecs::codec::{VoiceCodec, VoiceDecoder, VoiceEncoder};
use codecs::g711::G711Law;
use codecs::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmDecoder, GsmEncoder, GsmParams};
use proptest::prelude::*;

fn frame_samples() -> impl Strategy<Value = Vec<i16>> {
    prop_oneof![
        // Anything at all.
        prop::collection::vec(any::<i16>(), FRAME_SAMPLES),
        // Rail-to-rail extremes, where saturation and word wrap-around live.
        prop::collection::vec(
            prop_oneof![Just(i16::MIN), Just(i16::MAX), Just(0i16), Just(-1i16)],
            FRAME_SAMPLES
        ),
        // Quiet signals.
        prop::collection::vec(-64i16..64, FRAME_SAMPLES),
    ]
}

fn params() -> impl Strategy<Value = GsmParams> {
    (
        prop::array::uniform8(any::<u8>()),
        prop::array::uniform4(0u8..128),
        prop::array::uniform4(0u8..4),
        prop::array::uniform4(0u8..4),
        prop::array::uniform4(0u8..64),
        prop::array::uniform4(prop::array::uniform13(0u8..8)),
    )
        .prop_map(|(larc, nc, bc, mc, xmaxc, xmc)| {
            let widths = [6, 6, 5, 5, 4, 4, 3, 3];
            let larc = core::array::from_fn(|i| larc[i] & ((1u8 << widths[i]) - 1));
            GsmParams {
                larc,
                nc,
                bc,
                mc,
                xmaxc,
                xmc,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn gsm_params_unpack_of_pack(p in params()) {
        let mut f = [0u8; FRAME_BYTES];
        p.pack(&mut f);
        prop_assert_eq!(GsmParams::unpack(&f), Ok(p));
    }

    #[test]
    fn gsm_pack_of_unpack(bytes in prop::collection::vec(any::<u8>(), FRAME_BYTES)) {
        let mut f: [u8; FRAME_BYTES] = bytes.try_into().unwrap();
        f[0] = (f[0] & 0x0F) | 0xD0;
        let p = GsmParams::unpack(&f).unwrap();
        let mut g = [0u8; FRAME_BYTES];
        p.pack(&mut g);
        prop_assert_eq!(f, g);
    }

    #[test]
    fn gsm_encode_decode_is_total_and_deterministic(frames in prop::collection::vec(frame_samples(), 1..6)) {
        let mut enc = GsmEncoder::new();
        let mut enc2 = GsmEncoder::new();
        let mut dec = GsmDecoder::new();
        for s in &frames {
            let pcm: &[i16; FRAME_SAMPLES] = s.as_slice().try_into().unwrap();
            let (mut a, mut b) = ([0u8; FRAME_BYTES], [0u8; FRAME_BYTES]);
            enc.encode_frame(pcm, &mut a);
            enc2.encode_frame(pcm, &mut b);
            prop_assert_eq!(a, b);
            prop_assert_eq!(a[0] >> 4, 0xD);
            let p = GsmParams::unpack(&a).unwrap();
            // The encoder only produces lags the decoder accepts as they are.
            prop_assert!(p.nc.iter().all(|&n| (40..=120).contains(&n)));
            let mut out = [0i16; FRAME_SAMPLES];
            dec.decode_frame(&a, &mut out).unwrap();
            // Post-processing truncates to 13 bits.
            prop_assert!(out.iter().all(|&x| x & 7 == 0));
        }
        // reset() is the same as a fresh coder.
        enc.reset();
        let mut fresh = GsmEncoder::new();
        let pcm: &[i16; FRAME_SAMPLES] = frames[0].as_slice().try_into().unwrap();
        let (mut a, mut b) = ([0u8; FRAME_BYTES], [0u8; FRAME_BYTES]);
        enc.encode_frame(pcm, &mut a);
        fresh.encode_frame(pcm, &mut b);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn gsm_decoder_accepts_any_parameters(ps in prop::collection::vec(params(), 1..8)) {
        let mut dec = GsmDecoder::new();
        let mut out = [0i16; FRAME_SAMPLES];
        for p in &ps {
            dec.decode_params(p, &mut out);
        }
    }

    #[test]
    fn g711_slices_match_samples(pcm in prop::collection::vec(any::<i16>(), 0..400), law in prop_oneof![Just(G711Law::Ulaw), Just(G711Law::Alaw)]) {
        let mut codes = vec![0u8; pcm.len()];
        prop_assert_eq!(law.encode(&pcm, &mut codes), pcm.len());
        let mut back = vec![0i16; pcm.len()];
        prop_assert_eq!(law.decode(&codes, &mut back), pcm.len());
        for ((&x, &c), &y) in pcm.iter().zip(&codes).zip(&back) {
            prop_assert_eq!(c, law.encode_sample(x));
            prop_assert_eq!(y, law.decode_sample(c));
            // Companding error is at most half a step of the sample's segment (steps double
            // per segment: 1/32 of the magnitude, 16 at the bottom), except beyond the top
            // code, where the decoded value is the top level.
            let top = law.decode_sample(law.encode_sample(i16::MAX)) as i32;
            let err = (x as i32 - y as i32).abs();
            if (x as i32).abs() <= top {
                prop_assert!(err <= (x as i32).abs() / 32 + 16, "{:?} {} -> {} (error {})", law, x, y, err);
            } else {
                prop_assert_eq!((y as i32).abs(), top);
            }
        }
    }

    #[test]
    fn voice_codecs_round_trip_payloads(frames in 1usize..4, codec in prop_oneof![Just(VoiceCodec::Pcmu), Just(VoiceCodec::Pcma), Just(VoiceCodec::Gsm)], seed in any::<i16>()) {
        let pcm: Vec<i16> = (0..frames * FRAME_SAMPLES).map(|i| seed.wrapping_mul(i as i16)).collect();
        let mut enc = codec.encoder();
        let mut dec = codec.decoder();
        let mut payload = vec![0u8; enc.encoded_len(pcm.len())];
        let n = enc.encode(&pcm, &mut payload).unwrap();
        prop_assert_eq!(n, payload.len());
        let mut out = vec![0i16; dec.decoded_len(n)];
        prop_assert_eq!(dec.decode(&payload, &mut out), Ok(pcm.len()));
    }
}
