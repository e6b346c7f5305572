//! `encode` and `decode`: linear audio (raw s16le or WAV) to and from PCMU, PCMA or GSM 06.10.
//!
//! Codec streams are headerless: one byte per sample for G.711, and for GSM the concatenated
//! 33-byte RFC 3551 frames that libgsm's `toast` writes to `.gsm` files.

use std::path::Path;

use codecs::g711::G711Law;

use crate::args::{Args, CliError};

#[derive(Clone, Copy, Debug)]
enum Codec {
    G711(G711Law),
    Gsm,
}

fn parse_codec(name: &str) -> Result<Codec, CliError> {
    match name.to_ascii_lowercase().as_str() {
        "pcmu" | "ulaw" | "u-law" => Ok(Codec::G711(G711Law::Ulaw)),
        "pcma" | "alaw" | "a-law" => Ok(Codec::G711(G711Law::Alaw)),
        "gsm" => Ok(Codec::Gsm),
        other => Err(CliError::Usage(format!(
            "unknown codec '{other}' (expected pcmu, pcma or gsm)"
        ))),
    }
}

pub fn run(cmd: &str, argv: &[String]) -> Result<(), CliError> {
    let args = Args::parse(argv, &[])?;
    args.only(&["codec"])?;
    let codec = parse_codec(args.required("codec")?)?;
    let files = args.positionals(&["IN", "OUT"])?;
    let (input, output) = (&files[0], &files[1]);
    match cmd {
        "encode" => encode(codec, input, output),
        _ => decode(codec, input, output),
    }
}

fn encode(codec: Codec, input: &Path, output: &Path) -> Result<(), CliError> {
    let pcm = codecs::wav::read_audio(input).map_err(|err| CliError::Audio {
        path: input.into(),
        err,
    })?;
    let bytes = match codec {
        Codec::G711(law) => {
            let mut out = vec![0u8; pcm.len()];
            law.encode(&pcm, &mut out);
            out
        }
        Codec::Gsm => encode_gsm(&pcm),
    };
    write(output, &bytes)
}

fn decode(codec: Codec, input: &Path, output: &Path) -> Result<(), CliError> {
    let bytes = std::fs::read(input).map_err(|e| CliError::Audio {
        path: input.into(),
        err: codecs::wav::AudioFileError::Io(e),
    })?;
    let pcm = match codec {
        Codec::G711(law) => {
            let mut out = vec![0i16; bytes.len()];
            law.decode(&bytes, &mut out);
            out
        }
        Codec::Gsm => decode_gsm(&bytes).map_err(|why| CliError::Input {
            path: input.into(),
            why,
        })?,
    };
    codecs::wav::write_audio(output, &pcm).map_err(|err| CliError::Audio {
        path: output.into(),
        err,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| CliError::Audio {
        path: path.into(),
        err: codecs::wav::AudioFileError::Io(e),
    })
}

/// Encodes whole frames; a final partial frame is padded with silence, as `toast` does.
fn encode_gsm(pcm: &[i16]) -> Vec<u8> {
    use codecs::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmEncoder};
    let mut enc = GsmEncoder::new();
    let mut out = Vec::with_capacity(pcm.len().div_ceil(FRAME_SAMPLES) * FRAME_BYTES);
    for chunk in pcm.chunks(FRAME_SAMPLES) {
        let mut frame = [0i16; FRAME_SAMPLES];
        frame[..chunk.len()].copy_from_slice(chunk);
        let mut coded = [0u8; FRAME_BYTES];
        enc.encode_frame(&frame, &mut coded);
        out.extend_from_slice(&coded);
    }
    out
}

fn decode_gsm(bytes: &[u8]) -> Result<Vec<i16>, String> {
    use codecs::gsm::{FRAME_BYTES, FRAME_SAMPLES, GsmDecoder};
    if !bytes.len().is_multiple_of(FRAME_BYTES) {
        return Err(format!(
            "a GSM stream is a sequence of {FRAME_BYTES}-byte frames; {} bytes leaves {} over",
            bytes.len(),
            bytes.len() % FRAME_BYTES
        ));
    }
    let mut dec = GsmDecoder::new();
    let mut out = Vec::with_capacity(bytes.len() / FRAME_BYTES * FRAME_SAMPLES);
    for (i, chunk) in bytes.chunks_exact(FRAME_BYTES).enumerate() {
        let frame: &[u8; FRAME_BYTES] = chunk.try_into().expect("chunks_exact gives whole frames");
        let mut pcm = [0i16; FRAME_SAMPLES];
        dec.decode_frame(frame, &mut pcm)
            .map_err(|e| format!("frame {i} (byte {}): {e}", i * FRAME_BYTES))?;
        out.extend_from_slice(&pcm);
    }
    Ok(out)
}
