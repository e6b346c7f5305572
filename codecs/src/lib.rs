//! Telephony DSP for the gateway's media path.
//!
//! Every API here is frame-oriented and allocation-free so the real-time media loop can call it
//! every 10 ms; only the file helpers in [`wav`] allocate.
//!
//! Module map:
//! - [`codec`]: the voice codec traits and enum the media loop uses (PCMU, PCMA, GSM).
//! - [`g711`]: A-law and µ-law (ITU-T G.711).
//! - [`gsm`]: GSM 06.10 full rate, RFC 3551 33-byte frames.
//! - [`tones`]: national call progress tone plans (ITU-T E.180 Supp. 2), ring cadences, a tone
//!   generator and a call progress tone detector.
//! - [`dtmf`]: DTMF generation and an ITU-T Q.24 receiver.
//! - [`callerid`]: caller ID (Bell 202 and ETSI V.23 FSK, SDMF/MDMF; DTMF CLIP), encoder and decoder.
//! - [`echo`]: line echo canceller (G.168 style).
//! - [`plc`]: packet loss concealment.
//! - [`wav`]: reading and writing raw s16le and WAV files.

pub mod callerid;
pub mod codec;
pub mod dtmf;
pub mod echo;
pub mod g711;
pub mod gsm;
pub mod plc;
pub mod tones;
pub mod wav;

/// Sample rate of everything in this crate.
pub const SAMPLE_RATE: u32 = 8000;
