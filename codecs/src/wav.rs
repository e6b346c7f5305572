//! Audio files: raw s16le mono 8 kHz, and RIFF WAV (PCM 16-bit mono 8 kHz) on input and output.

use std::fmt;
use std::io;
use std::path::Path;

/// Why an audio file could not be used.
#[derive(Debug)]
pub enum AudioFileError {
    Io(io::Error),
    /// A raw file must hold whole 16-bit samples.
    OddLength {
        bytes: usize,
    },
    /// A RIFF file we cannot read: which part was wrong.
    BadWav(&'static str),
    /// A WAV whose format is not what the gateway speaks.
    UnsupportedWav {
        channels: u16,
        sample_rate: u32,
        bits: u16,
        format: u16,
    },
}

impl fmt::Display for AudioFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioFileError::Io(e) => write!(f, "{e}"),
            AudioFileError::OddLength { bytes } => {
                write!(
                    f,
                    "raw audio must be s16le: {bytes} bytes is not a whole number of samples"
                )
            }
            AudioFileError::BadWav(what) => write!(f, "not a valid WAV file: {what}"),
            AudioFileError::UnsupportedWav {
                channels,
                sample_rate,
                bits,
                format,
            } => write!(
                f,
                "WAV must be PCM 16-bit mono 8000 Hz, this one is format {format}, {bits}-bit, \
                 {channels} channel(s), {sample_rate} Hz"
            ),
        }
    }
}

impl std::error::Error for AudioFileError {}

impl From<io::Error> for AudioFileError {
    fn from(e: io::Error) -> Self {
        AudioFileError::Io(e)
    }
}

/// Decodes a file's bytes: WAV if it starts with a RIFF header, raw s16le otherwise.
pub fn decode_audio(bytes: &[u8]) -> Result<Vec<i16>, AudioFileError> {
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
        return decode_wav(bytes);
    }
    if !bytes.len().is_multiple_of(2) {
        return Err(AudioFileError::OddLength { bytes: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect())
}

fn decode_wav(bytes: &[u8]) -> Result<Vec<i16>, AudioFileError> {
    let mut pos = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len =
            u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        let body_start = pos + 8;
        let body_end = body_start
            .checked_add(len)
            .ok_or(AudioFileError::BadWav("chunk length overflows"))?;
        match id {
            b"fmt " => {
                if len < 16 || body_end > bytes.len() {
                    return Err(AudioFileError::BadWav("fmt chunk too short"));
                }
                let b = &bytes[body_start..];
                let format = u16::from_le_bytes([b[0], b[1]]);
                let channels = u16::from_le_bytes([b[2], b[3]]);
                let rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                let bits = u16::from_le_bytes([b[14], b[15]]);
                fmt = Some((format, channels, rate, bits));
            }
            b"data" => {
                let (format, channels, sample_rate, bits) =
                    fmt.ok_or(AudioFileError::BadWav("data chunk before fmt chunk"))?;
                // 0xFFFE is WAVE_FORMAT_EXTENSIBLE, which sox writes for plain PCM too.
                if !(format == 1 || format == 0xFFFE) || channels != 1 || sample_rate != 8000 || bits != 16 {
                    return Err(AudioFileError::UnsupportedWav {
                        channels,
                        sample_rate,
                        bits,
                        format,
                    });
                }
                // Streaming writers leave the data length as 0 or 0xFFFFFFFF: take what is there.
                let end = body_end.min(bytes.len());
                let data = &bytes[body_start..end];
                return Ok(data
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect());
            }
            _ => {}
        }
        pos = body_end + (len & 1);
    }
    Err(AudioFileError::BadWav("no data chunk"))
}

/// Reads a raw s16le or WAV file.
pub fn read_audio(path: &Path) -> Result<Vec<i16>, AudioFileError> {
    decode_audio(&std::fs::read(path)?)
}

/// Encodes samples as a 16-bit mono 8 kHz WAV file.
pub fn encode_wav(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut v = Vec::with_capacity(44 + samples.len() * 2);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

/// Encodes samples as raw s16le.
pub fn encode_raw(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Writes samples to `path`: WAV if the name ends in `.wav`, raw s16le otherwise.
pub fn write_audio(path: &Path, samples: &[i16]) -> Result<(), AudioFileError> {
    let is_wav = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"));
    let bytes = if is_wav {
        encode_wav(samples)
    } else {
        encode_raw(samples)
    };
    std::fs::write(path, bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip() {
        let s: Vec<i16> = (0..1000).map(|i| (i * 37 % 65536 - 32768) as i16).collect();
        assert_eq!(decode_audio(&encode_wav(&s)).unwrap(), s);
        assert_eq!(decode_audio(&encode_raw(&s)).unwrap(), s);
    }

    #[test]
    fn rejects_odd_raw_and_wrong_rate() {
        assert!(matches!(
            decode_audio(&[1, 2, 3]),
            Err(AudioFileError::OddLength { bytes: 3 })
        ));
        let mut w = encode_wav(&[0; 10]);
        w[24..28].copy_from_slice(&16000u32.to_le_bytes());
        assert!(matches!(
            decode_audio(&w),
            Err(AudioFileError::UnsupportedWav {
                sample_rate: 16000,
                ..
            })
        ));
    }

    #[test]
    fn reads_the_shared_speech_sample_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/audio");
        if let (Ok(w), Ok(r)) = (
            read_audio(&dir.join("speech_8k.wav")),
            read_audio(&dir.join("speech_8k.s16le.raw")),
        ) {
            assert_eq!(w, r);
            assert!(w.len() > 8000 * 10);
        }
    }
}
