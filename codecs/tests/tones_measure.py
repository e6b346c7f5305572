#!/usr/bin/env python3
"""Independent measurement of a call progress tone recording (raw s16le, 8 kHz, mono).

Finds the sounding segments from a sliding power envelope, splits them where the spectrum
changes, and for each segment measures its frequencies (windowed FFT with parabolic peak
interpolation) and the level of each component (joint least-squares sinusoid fit), in dBm0
(a full-scale sine is +3.14 dBm0).

Usage: tones_measure.py FILE WINDOW_MS [FILE WINDOW_MS ...] -> JSON on stdout, one entry per file:
  [{"file": str, "segments": [{"start_ms": float, "dur_ms": float, "comps": [[hz, dbm0], ...]}, ...]}]
"""
import json
import sys

import numpy as np

RATE = 8000.0
DBM0_PEAK = 32768.0 * 10 ** (-3.14 / 20)


def envelope_edges(x, win):
    p = x.astype(np.float64) ** 2
    k = np.ones(win) / win
    env = np.convolve(p, k, mode="same")
    top = np.percentile(env, 99)
    if top <= 0:
        return []
    # Half the typical "on" power: the crossing falls on the true edge of a centred window.
    level = np.median(env[env > top * 0.1])
    on = env > level * 0.5
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    starts, ends = [], []
    if on[0]:
        starts.append(0)
    for e in edges:
        if on[e + 1]:
            starts.append(e + 1)
        else:
            ends.append(e + 1)
    if on[-1]:
        ends.append(len(x))
    return list(zip(starts, ends))


def local_peaks(mag, floor):
    """Indices of local maxima of `mag` above `floor`, with parabolic interpolation."""
    i = np.flatnonzero((mag[1:-1] > mag[:-2]) & (mag[1:-1] >= mag[2:]) & (mag[1:-1] > floor)) + 1
    a, b, c = mag[i - 1], mag[i], mag[i + 1]
    den = a - 2 * b + c
    d = np.where(den != 0, 0.5 * (a - c) / np.where(den != 0, den, 1), 0)
    return i + d, b


def peaks(seg, max_peaks=4, rel_db=-25.0):
    n = len(seg)
    nfft = 1 << max(15, int(np.ceil(np.log2(n))) + 2)
    mag = 20 * np.log10(np.abs(np.fft.rfft(seg * np.hanning(n), nfft)) + 1e-9)
    pos, height = local_peaks(mag, mag.max() + rel_db)
    f = pos * RATE / nfft
    keep = f > 20
    f, height = f[keep], height[keep]
    order = np.argsort(-height)[:max_peaks]
    return sorted(float(v) for v in f[order])


def fit_levels(seg, freqs):
    if not freqs:
        return []
    t = np.arange(len(seg)) / RATE
    cols = []
    for f in freqs:
        cols.append(np.sin(2 * np.pi * f * t))
        cols.append(np.cos(2 * np.pi * f * t))
    a = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(a, seg.astype(np.float64), rcond=None)
    out = []
    for i, f in enumerate(freqs):
        amp = np.hypot(coef[2 * i], coef[2 * i + 1])
        out.append([float(f), float(20 * np.log10(max(amp, 1e-9) / DBM0_PEAK))])
    return out


def frame_labels(x, s, e, win, hop):
    """For each frame, the rounded frequencies of its spectral peaks within 12 dB of its top."""
    starts = np.arange(s, e - win + 1, hop)
    frames = np.stack([x[p : p + win] for p in starts]) * np.hanning(win)
    mag = 20 * np.log10(np.abs(np.fft.rfft(frames, 2048, axis=1)) + 1e-9)
    labels = []
    for row in mag:
        pos, _ = local_peaks(row, row.max() - 12)
        labels.append(tuple(float(v) * RATE / 2048 for v in pos))
    return starts, labels


def same_sound(fa, fb):
    return len(fa) == len(fb) and all(abs(a - b) <= 15 for a, b in zip(fa, fb))


def residual(seg, freqs):
    if not freqs:
        return float(np.sum(seg**2))
    t = np.arange(len(seg)) / RATE
    a = np.stack([g(2 * np.pi * f * t) for f in freqs for g in (np.sin, np.cos)], axis=1)
    coef, *_ = np.linalg.lstsq(a, seg, rcond=None)
    return float(np.sum((seg - a @ coef) ** 2))


def split_by_spectrum(x, s, e):
    """Split [s, e) where the sound changes without a gap (40 ms frames every 10 ms)."""
    hop, win, stable = 80, 320, 3
    if e - s < 2 * win:
        return [(s, e)]
    starts, labels = frame_labels(x, s, e, win, hop)
    cuts = [s]
    cur = labels[0]
    last_cur = 0
    i = 1
    while i < len(labels):
        if same_sound(labels[i], cur):
            last_cur = i
            i += 1
            continue
        # A new sound must hold for a few frames; mixed frames at a transition do not.
        if i + stable <= len(labels) and all(same_sound(labels[j], labels[i]) for j in range(i, i + stable)):
            new = labels[i]
            lo = max(starts[last_cur] + 80, cuts[-1] + 80)
            hi = min(starts[i] + win - 80, e - 80)
            best = None
            for t in range(int(lo), int(hi) + 1, 4):
                r = residual(x[t - 80 : t], cur) + residual(x[t : t + 80], new)
                if best is None or r < best[0]:
                    best = (r, t)
            if best is not None:
                cuts.append(best[1])
            cur = new
            last_cur = i
        i += 1
    cuts.append(e)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b - a > 0]


def measure(path, win_ms):
    x = np.fromfile(path, dtype="<i2").astype(np.float64)
    win = max(8, int(win_ms * 8))
    segs = []
    for s, e in envelope_edges(x, win):
        for a, b in split_by_spectrum(x, s, e):
            # Measure away from the edges, where the envelope window smears them.
            m = min(40, (b - a) // 8)
            core = x[a + m : b - m]
            if len(core) < 64:
                continue
            fs = peaks(core)
            segs.append({"start_ms": a / 8.0, "dur_ms": (b - a) / 8.0, "comps": fit_levels(core, fs)})
    return {"file": path, "segments": segs}


def main():
    args = sys.argv[1:]
    out = [measure(args[i], float(args[i + 1])) for i in range(0, len(args) - 1, 2)]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
