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
    hop, win, stable = 80, 320, 6
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


def refine_edges(x, a, b, core_lo, core_hi, freqs, win):
    """Place the segment's edges where the audio stops fitting `freqs`: fit the sinusoids on the
    segment's core, then pick the edge minimising (energy outside) + (fit residual inside)."""
    if not freqs:
        return a, b
    lo, hi = max(0, a - win), min(len(x), b + win)
    t = np.arange(lo, hi) / RATE
    basis = np.stack([g(2 * np.pi * f * t) for f in freqs for g in (np.sin, np.cos)], axis=1)
    coef, *_ = np.linalg.lstsq(basis[core_lo - lo : core_hi - lo], x[core_lo:core_hi], rcond=None)
    seg = x[lo:hi]
    res2 = (seg - basis @ coef) ** 2
    sig2 = seg**2
    cs_r = np.concatenate([[0.0], np.cumsum(res2)])
    cs_s = np.concatenate([[0.0], np.cumsum(sig2)])
    # Start: silence before t, tone after (up to the core).
    c0 = core_lo - lo
    ts = np.arange(0, c0 + 1)
    start_cost = cs_s[ts] + (cs_r[c0] - cs_r[ts])
    na = lo + int(ts[np.argmin(start_cost)])
    # End: tone up to t (from the core's end), silence after.
    c1 = core_hi - lo
    te = np.arange(c1, hi - lo + 1)
    end_cost = (cs_r[te] - cs_r[c1]) + (cs_s[hi - lo] - cs_s[te])
    nb = lo + int(te[np.argmin(end_cost)])
    return na, nb


def fit_model(x, lo, hi, fit_lo, fit_hi, freqs):
    """The least-squares sinusoid model of x[fit_lo:fit_hi] at `freqs`, evaluated on [lo, hi)."""
    t = np.arange(lo, hi) / RATE
    if not freqs:
        return np.zeros(hi - lo)
    basis = np.stack([g(2 * np.pi * f * t) for f in freqs for g in (np.sin, np.cos)], axis=1)
    coef, *_ = np.linalg.lstsq(basis[fit_lo - lo : fit_hi - lo], x[fit_lo:fit_hi], rcond=None)
    return basis @ coef


def refine_cut(x, a_core, b_core, fa, fb):
    """The cut between two sounds: where model A stops and model B starts fitting best."""
    lo, hi = a_core[1], b_core[0]
    if hi <= lo:
        return (lo + hi) // 2
    ma = fit_model(x, a_core[0], hi, a_core[0], a_core[1], fa)[lo - a_core[0] :]
    mb = fit_model(x, lo, b_core[1], b_core[0], b_core[1], fb)[: hi - lo]
    ra = np.concatenate([[0.0], np.cumsum((x[lo:hi] - ma) ** 2)])
    rb = np.concatenate([[0.0], np.cumsum((x[lo:hi] - mb) ** 2)])
    cost = ra + (rb[-1] - rb)
    return lo + int(np.argmin(cost))


def measure(path, win_ms):
    x = np.fromfile(path, dtype="<i2").astype(np.float64)
    win = max(8, int(win_ms * 8))
    segs = []
    for s, e in envelope_edges(x, win):
        parts = split_by_spectrum(x, s, e)
        # Cores: away from envelope-smeared edges (40 samples) and from rough cuts (240).
        cores = []
        for i, (a, b) in enumerate(parts):
            ma = min(40 if i == 0 else 240, (b - a) // 4)
            mb = min(40 if i == len(parts) - 1 else 240, (b - a) // 4)
            cores.append((a + ma, b - mb))
        freqs = [peaks(x[c0:c1]) if c1 - c0 >= 64 else [] for c0, c1 in cores]
        cuts = [parts[0][0]]
        for i in range(len(parts) - 1):
            cuts.append(refine_cut(x, cores[i], cores[i + 1], freqs[i], freqs[i + 1]))
        cuts.append(parts[-1][1])
        for i in range(len(parts)):
            a, b = cuts[i], cuts[i + 1]
            c0, c1 = cores[i]
            if c1 - c0 < 64:
                continue
            fs = freqs[i]
            # Edges against silence are refined on the waveform.
            ra, rb = refine_edges(x, a, b, c0, c1, fs, win)
            na = ra if i == 0 else a
            nb = rb if i == len(parts) - 1 else b
            segs.append({"start_ms": na / 8.0, "dur_ms": (nb - na) / 8.0, "comps": fit_levels(x[c0:c1], fs)})
    return {"file": path, "segments": segs}


def main():
    args = sys.argv[1:]
    out = [measure(args[i], float(args[i + 1])) for i in range(0, len(args) - 1, 2)]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
