//! The voice codec interface of the media loop: PCMU, PCMA and GSM 06.10 behind two traits and
//! an allocation-free enum, so RTP code can be written once for every negotiated codec.
//!
//! The traits speak in RTP payloads: `encode` turns whole codec frames of linear audio into a
//! payload, `decode` a payload into linear audio. G.711 has one-sample frames, so any
//! packetisation time works; GSM needs whole 160-sample (20 ms) frames. Sizes are checked and
//! reported as [`CodecError`], never panics, because payload lengths come from the network.

use core::fmt;

use crate::g711::G711Law;
use crate::gsm::{self, GsmDecoder, GsmEncoder, GsmError};

/// Why a payload or a frame could not be processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The input is not a whole number of codec frames.
    PartialFrame { len: usize, frame: usize },
    /// The output buffer cannot hold the result.
    OutputTooSmall { needed: usize, available: usize },
    /// A GSM frame was rejected.
    Gsm(GsmError),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::PartialFrame { len, frame } => {
                write!(f, "length {len} is not a whole number of {frame}-unit frames")
            }
            CodecError::OutputTooSmall { needed, available } => {
                write!(f, "output needs {needed} elements, buffer holds {available}")
            }
            CodecError::Gsm(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CodecError {}

impl From<GsmError> for CodecError {
    fn from(e: GsmError) -> Self {
        CodecError::Gsm(e)
    }
}

/// Linear audio to RTP payload.
pub trait VoiceEncoder {
    /// Linear samples per codec frame (1 for G.711, 160 for GSM).
    fn frame_samples(&self) -> usize;
    /// Payload bytes produced for `samples` samples (a whole number of frames).
    fn encoded_len(&self, samples: usize) -> usize;
    /// Encodes whole frames from `pcm` into `out`; returns the payload length.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError>;
    /// Forgets all history, e.g. at the start of a new call.
    fn reset(&mut self);
}

/// RTP payload to linear audio.
pub trait VoiceDecoder {
    /// Payload bytes per codec frame (1 for G.711, 33 for GSM).
    fn frame_bytes(&self) -> usize;
    /// Linear samples produced for a payload of `bytes` bytes (a whole number of frames).
    fn decoded_len(&self, bytes: usize) -> usize;
    /// Decodes a payload of whole frames into `out`; returns the number of samples written.
    /// On error nothing is written and the decoder state is unchanged for the failing frame.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError>;
    /// Forgets all history.
    fn reset(&mut self);
}

fn check_sizes(len: usize, frame: usize, needed: usize, available: usize) -> Result<(), CodecError> {
    if !len.is_multiple_of(frame) {
        return Err(CodecError::PartialFrame { len, frame });
    }
    if needed > available {
        return Err(CodecError::OutputTooSmall { needed, available });
    }
    Ok(())
}

/// G.711 in either law, as a stateless encoder and decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct G711Codec(pub G711Law);

impl VoiceEncoder for G711Codec {
    fn frame_samples(&self) -> usize {
        1
    }
    fn encoded_len(&self, samples: usize) -> usize {
        samples
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        check_sizes(pcm.len(), 1, pcm.len(), out.len())?;
        Ok(self.0.encode(pcm, out))
    }
    fn reset(&mut self) {}
}

impl VoiceDecoder for G711Codec {
    fn frame_bytes(&self) -> usize {
        1
    }
    fn decoded_len(&self, bytes: usize) -> usize {
        bytes
    }
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        check_sizes(payload.len(), 1, payload.len(), out.len())?;
        Ok(self.0.decode(payload, out))
    }
    fn reset(&mut self) {}
}

impl VoiceEncoder for GsmEncoder {
    fn frame_samples(&self) -> usize {
        gsm::FRAME_SAMPLES
    }
    fn encoded_len(&self, samples: usize) -> usize {
        samples / gsm::FRAME_SAMPLES * gsm::FRAME_BYTES
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let needed = self.encoded_len(pcm.len());
        check_sizes(pcm.len(), gsm::FRAME_SAMPLES, needed, out.len())?;
        for (p, o) in pcm
            .chunks_exact(gsm::FRAME_SAMPLES)
            .zip(out.chunks_exact_mut(gsm::FRAME_BYTES))
        {
            // Both conversions are exact by chunk size.
            if let (Ok(p), Ok(o)) = (p.try_into(), o.try_into()) {
                self.encode_frame(p, o);
            }
        }
        Ok(needed)
    }
    fn reset(&mut self) {
        GsmEncoder::reset(self);
    }
}

impl VoiceDecoder for GsmDecoder {
    fn frame_bytes(&self) -> usize {
        gsm::FRAME_BYTES
    }
    fn decoded_len(&self, bytes: usize) -> usize {
        bytes / gsm::FRAME_BYTES * gsm::FRAME_SAMPLES
    }
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let needed = self.decoded_len(payload.len());
        check_sizes(payload.len(), gsm::FRAME_BYTES, needed, out.len())?;
        // Validate every frame first so that a bad frame leaves state and output untouched.
        for f in payload.chunks_exact(gsm::FRAME_BYTES) {
            if f[0] >> 4 != gsm::FRAME_MAGIC {
                return Err(GsmError::BadMagic { found: f[0] >> 4 }.into());
            }
        }
        for (f, o) in payload
            .chunks_exact(gsm::FRAME_BYTES)
            .zip(out.chunks_exact_mut(gsm::FRAME_SAMPLES))
        {
            if let (Ok(f), Ok(o)) = (f.try_into(), o.try_into()) {
                self.decode_frame(f, o)?;
            }
        }
        Ok(needed)
    }
    fn reset(&mut self) {
        GsmDecoder::reset(self);
    }
}

/// The voice codecs the gateway negotiates, with their RTP/AVP identities (RFC 3551).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VoiceCodec {
    Pcmu,
    Pcma,
    Gsm,
}

impl VoiceCodec {
    /// Static payload type.
    pub const fn payload_type(self) -> u8 {
        match self {
            VoiceCodec::Pcmu => 0,
            VoiceCodec::Gsm => 3,
            VoiceCodec::Pcma => 8,
        }
    }

    /// The encoding name used in SDP `a=rtpmap`.
    pub const fn rtp_name(self) -> &'static str {
        match self {
            VoiceCodec::Pcmu => "PCMU",
            VoiceCodec::Pcma => "PCMA",
            VoiceCodec::Gsm => "GSM",
        }
    }

    /// RTP clock rate (all three are 8 kHz).
    pub const fn clock_rate(self) -> u32 {
        8000
    }

    /// By static payload type.
    pub const fn from_payload_type(pt: u8) -> Option<VoiceCodec> {
        match pt {
            0 => Some(VoiceCodec::Pcmu),
            3 => Some(VoiceCodec::Gsm),
            8 => Some(VoiceCodec::Pcma),
            _ => None,
        }
    }

    /// By SDP encoding name (case-insensitive, as RFC 4566 requires).
    pub fn from_rtp_name(name: &str) -> Option<VoiceCodec> {
        [VoiceCodec::Pcmu, VoiceCodec::Pcma, VoiceCodec::Gsm]
            .into_iter()
            .find(|c| c.rtp_name().eq_ignore_ascii_case(name))
    }

    /// A fresh encoder, by value.
    pub const fn encoder(self) -> AnyEncoder {
        match self {
            VoiceCodec::Pcmu => AnyEncoder::G711(G711Codec(G711Law::Ulaw)),
            VoiceCodec::Pcma => AnyEncoder::G711(G711Codec(G711Law::Alaw)),
            VoiceCodec::Gsm => AnyEncoder::Gsm(GsmEncoder::new()),
        }
    }

    /// A fresh decoder, by value.
    pub const fn decoder(self) -> AnyDecoder {
        match self {
            VoiceCodec::Pcmu => AnyDecoder::G711(G711Codec(G711Law::Ulaw)),
            VoiceCodec::Pcma => AnyDecoder::G711(G711Codec(G711Law::Alaw)),
            VoiceCodec::Gsm => AnyDecoder::Gsm(GsmDecoder::new()),
        }
    }
}

/// Any voice encoder, held inline (no `Box`), for a media channel whose codec is negotiated.
/// The GSM variant's size is the point: a channel owns its state without a heap allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum AnyEncoder {
    G711(G711Codec),
    Gsm(GsmEncoder),
}

/// Any voice decoder, held inline.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum AnyDecoder {
    G711(G711Codec),
    Gsm(GsmDecoder),
}

impl VoiceEncoder for AnyEncoder {
    fn frame_samples(&self) -> usize {
        match self {
            AnyEncoder::G711(c) => c.frame_samples(),
            AnyEncoder::Gsm(c) => c.frame_samples(),
        }
    }
    fn encoded_len(&self, samples: usize) -> usize {
        match self {
            AnyEncoder::G711(c) => c.encoded_len(samples),
            AnyEncoder::Gsm(c) => c.encoded_len(samples),
        }
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        match self {
            AnyEncoder::G711(c) => c.encode(pcm, out),
            AnyEncoder::Gsm(c) => VoiceEncoder::encode(c, pcm, out),
        }
    }
    fn reset(&mut self) {
        match self {
            AnyEncoder::G711(c) => VoiceEncoder::reset(c),
            AnyEncoder::Gsm(c) => VoiceEncoder::reset(c),
        }
    }
}

impl VoiceDecoder for AnyDecoder {
    fn frame_bytes(&self) -> usize {
        match self {
            AnyDecoder::G711(c) => c.frame_bytes(),
            AnyDecoder::Gsm(c) => c.frame_bytes(),
        }
    }
    fn decoded_len(&self, bytes: usize) -> usize {
        match self {
            AnyDecoder::G711(c) => c.decoded_len(bytes),
            AnyDecoder::Gsm(c) => c.decoded_len(bytes),
        }
    }
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        match self {
            AnyDecoder::G711(c) => c.decode(payload, out),
            AnyDecoder::Gsm(c) => VoiceDecoder::decode(c, payload, out),
        }
    }
    fn reset(&mut self) {
        match self {
            AnyDecoder::G711(c) => VoiceDecoder::reset(c),
            AnyDecoder::Gsm(c) => VoiceDecoder::reset(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        for c in [VoiceCodec::Pcmu, VoiceCodec::Pcma, VoiceCodec::Gsm] {
            assert_eq!(VoiceCodec::from_payload_type(c.payload_type()), Some(c));
            assert_eq!(
                VoiceCodec::from_rtp_name(&c.rtp_name().to_ascii_lowercase()),
                Some(c)
            );
        }
        assert_eq!(VoiceCodec::from_payload_type(18), None);
        assert_eq!(VoiceCodec::from_rtp_name("G729"), None);
    }

    #[test]
    fn twenty_ms_payloads() {
        let pcm = [1000i16; 160];
        let mut payload = [0u8; 160];
        let mut back = [0i16; 160];
        for c in [VoiceCodec::Pcmu, VoiceCodec::Pcma, VoiceCodec::Gsm] {
            let (mut enc, mut dec) = (c.encoder(), c.decoder());
            let n = enc.encode(&pcm, &mut payload).unwrap();
            assert_eq!(n, if c == VoiceCodec::Gsm { 33 } else { 160 });
            assert_eq!(dec.decode(&payload[..n], &mut back), Ok(160));
        }
    }

    #[test]
    fn size_errors() {
        let mut enc = VoiceCodec::Gsm.encoder();
        let mut out = [0u8; 66];
        assert_eq!(
            enc.encode(&[0; 100], &mut out),
            Err(CodecError::PartialFrame { len: 100, frame: 160 })
        );
        assert_eq!(
            enc.encode(&[0; 480], &mut out),
            Err(CodecError::OutputTooSmall {
                needed: 99,
                available: 66
            })
        );
        let mut dec = VoiceCodec::Gsm.decoder();
        let mut pcm = [7i16; 320];
        let mut payload = [0xD0u8; 66];
        payload[33] = 0;
        assert_eq!(
            dec.decode(&payload, &mut pcm),
            Err(CodecError::Gsm(GsmError::BadMagic { found: 0 }))
        );
        assert_eq!(pcm, [7; 320], "nothing written on error");
        let mut dec = VoiceCodec::Pcma.decoder();
        assert_eq!(
            dec.decode(&[0; 10], &mut pcm[..5]),
            Err(CodecError::OutputTooSmall {
                needed: 10,
                available: 5
            })
        );
    }
}
