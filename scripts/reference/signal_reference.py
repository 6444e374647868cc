#!/usr/bin/env python3
"""Reference outputs from numpy/scipy for oxicam-signal's DSP (filter design, zero-phase
filtering, detrending, spectrum peak) and HRV figures (RMSSD, SDNN, pNN50, mean NN), written as a JSON fixture the Rust tests compare against.

Usage: signal_reference.py OUT.json          write the fixture
       signal_reference.py --check A.json B.json   compare two fixtures within tolerance
"""
import json
import sys

import numpy as np
from scipy import signal

FS = 30.0


def fixed_input(n: int) -> np.ndarray:
    """A pulse-like test signal: fundamental + harmonic + drift + deterministic pseudo-noise."""
    t = np.arange(n) / FS
    # Linear congruential pseudo-noise: the same numbers on every platform and numpy version.
    state = 12345
    noise = np.empty(n)
    for i in range(n):
        state = (1103515245 * state + 12345) % (2**31)
        noise[i] = state / 2**31 - 0.5
    return (
        100.0
        + 0.8 * np.sin(2 * np.pi * 1.23 * t)
        + 0.3 * np.sin(2 * np.pi * 2.46 * t + 0.7)
        + 2.0 * t / t[-1]
        + 1.5 * np.sin(2 * np.pi * 0.07 * t)
        + 0.2 * noise
    )


def spectrum_peak(x: np.ndarray, fft_len: int, lo: float, hi: float):
    """Hann-windowed (symmetric), mean-removed, zero-padded power spectrum, scaled so a sinusoid
    of amplitude A peaks near A^2, and its largest bin in [lo, hi] Hz with parabolic
    interpolation of the log power."""
    n = len(x)
    w = signal.windows.hann(n, sym=True)
    spec = np.fft.rfft((x - x.mean()) * w, fft_len)
    power = (np.abs(spec) * 2.0 / w.sum()) ** 2
    bin_hz = FS / fft_len
    k_lo, k_hi = int(round(lo / bin_hz)), int(round(hi / bin_hz))
    k = k_lo + int(np.argmax(power[k_lo : k_hi + 1]))
    a, b, c = np.log(power[k - 1 : k + 2])
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return power, bin_hz, (k + delta) * bin_hz


def hrv_reference() -> dict:
    """Beat times in three runs (no interval between runs) and their HRV by the textbook
    definitions: NN intervals within runs, successive differences within runs, SDNN with one
    degree of freedom, pNN50 as the share of |differences| above 50 ms."""
    state = 777
    runs = []
    t = 2.0
    for length in (25, 9, 31):
        run = [t]
        for k in range(length):
            state = (1103515245 * state + 12345) % (2**31)
            rr = 0.82 + 0.05 * np.sin(0.8 * k) + 0.1 * (state / 2**31 - 0.5)
            run.append(run[-1] + rr)
        runs.append(run)
        t = run[-1] + 3.7  # a cut-out between runs
    nn = [np.diff(r) * 1000.0 for r in runs]
    diffs = np.concatenate([np.diff(x) for x in nn])
    all_nn = np.concatenate(nn)
    return {
        "runs": runs,
        "rmssd_ms": float(np.sqrt(np.mean(diffs**2))),
        "sdnn_ms": float(np.std(all_nn, ddof=1)),
        "pnn50_percent": float(100.0 * np.mean(np.abs(diffs) > 50.0)),
        "mean_nn_ms": float(np.mean(all_nn)),
        "seconds": float(np.sum(all_nn) / 1000.0),
    }


def build() -> dict:
    x = fixed_input(600)
    band = signal.butter(4, [0.7, 3.5], btype="bandpass", fs=FS, output="sos")
    low = signal.butter(2, 0.3, btype="lowpass", fs=FS, output="sos")
    window = signal.sosfiltfilt(band, signal.detrend(x))[150:450]
    power, bin_hz, peak_hz = spectrum_peak(window, 8192, 0.6, 3.6)
    return {
        "generator": "scripts/reference/signal_reference.py",
        "numpy": np.__version__,
        "scipy": __import__("scipy").__version__,
        "rate_hz": FS,
        "input": x.tolist(),
        "bandpass": {"order": 4, "low_hz": 0.7, "high_hz": 3.5, "sos": band.tolist()},
        "lowpass": {"order": 2, "cutoff_hz": 0.3, "sos": low.tolist()},
        "detrend": signal.detrend(x).tolist(),
        "bandpass_filtfilt": signal.sosfiltfilt(band, x).tolist(),
        "lowpass_filtfilt": signal.sosfiltfilt(low, x).tolist(),
        "hrv": hrv_reference(),
        "spectrum": {
            "window_start": 150,
            "window_len": 300,
            "fft_len": 8192,
            "bin_hz": bin_hz,
            # Up to 4 Hz is all the estimator looks at.
            "power": power[: int(4.0 / bin_hz) + 1].tolist(),
            "peak_hz": peak_hz,
        },
    }


def flatten(v, path=""):
    if isinstance(v, dict):
        for k in sorted(v):
            yield from flatten(v[k], f"{path}.{k}")
    elif isinstance(v, list):
        for i, item in enumerate(v):
            yield from flatten(item, f"{path}[{i}]")
    else:
        yield path, v


def check(a_path: str, b_path: str) -> int:
    a = dict(flatten(json.load(open(a_path))))
    b = dict(flatten(json.load(open(b_path))))
    bad = []
    for key in sorted(set(a) | set(b)):
        if key in (".numpy", ".scipy"):
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
            if not np.isclose(va, vb, rtol=1e-9, atol=1e-12):
                bad.append(f"{key}: {va!r} != {vb!r}")
        elif va != vb:
            bad.append(f"{key}: {va!r} != {vb!r}")
    for line in bad[:20]:
        print(line, file=sys.stderr)
    if bad:
        print(f"{len(bad)} values differ between {a_path} and {b_path}", file=sys.stderr)
        return 1
    print(f"{len(a)} values agree within rtol 1e-9")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], "w") as f:
        json.dump(build(), f, indent=None, separators=(",", ":"))
        f.write("\n")
