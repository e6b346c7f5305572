#!/usr/bin/env python3
"""Narrow-band PESQ (ITU-T P.862, via the `pesq` package) of degraded files against a reference.

Usage: plc_pesq.py REFERENCE.wav DEGRADED.wav...
Prints one line per degraded file: "<MOS-LQO> <path>". Files are 16-bit mono 8 kHz WAV.
Exit status 2 when numpy or pesq is missing, so callers can tell that apart from a failure.
"""
import sys
import wave

try:
    import numpy as np
    from pesq import pesq
except ImportError as e:  # pragma: no cover - reported to the caller
    print(f"missing Python package: {e.name} (pip install numpy pesq)", file=sys.stderr)
    sys.exit(2)


def read(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != 8000:
            raise SystemExit(f"{path}: need 16-bit mono 8 kHz WAV")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    ref = read(argv[1])
    for path in argv[2:]:
        deg = read(path)
        n = min(len(ref), len(deg))
        score = pesq(8000, ref[:n], deg[:n], "nb")
        print(f"{score:.3f} {path}")


if __name__ == "__main__":
    main(sys.argv)
