"""Heart-rate variability of HeartPy and NeuroKit2 on the stretches oxicam scored against ECG.

Input: the JSON of `oxicam eval --json --welltory DIR` (per recording: the phone's NN stretches,
the ECG's figures over the same heartbeats) and the Welltory folder. Each tool gets the whole
recording (resampled to 30 Hz from the frame times as oxicam does, the channel whose pulse stands
out most, inverted so a beat points up) and finds its own peaks; an interval counts when both
its peaks fall inside one of oxicam's stretches (from its first upstroke to half a beat past its
last, so each stretch's heartbeats and no others), then the 20 % rule and the figures exactly as
oxicam computes them. HeartPy runs with high_precision (peaks interpolated at 1 kHz) and its own
beat rejection; NeuroKit2 with its defaults (peaks on the frame grid).

Usage: hrv_peers.py EVAL.json WELLTORY_DIR
"""
import json
import sys
import warnings

import numpy as np

from peers import FS, load_recording, strongest_channel

NN_TOLERANCE = 0.2
NN_NEIGHBOURS = 5


def nn_runs(times, keep):
    """oxicam's NnRuns::from_times: candidate intervals, the 20 % rule against the median of
    the neighbouring candidates (itself excluded), runs of consecutive kept intervals."""
    cand = [(i, times[i + 1] - times[i]) for i in range(len(times) - 1) if keep(i)]
    runs, last_end = [], None
    for k, (i, rr) in enumerate(cand):
        others = [cand[j][1] for j in range(max(0, k - NN_NEIGHBOURS), min(len(cand), k + NN_NEIGHBOURS + 1)) if j != k]
        if others and abs(rr / np.median(others) - 1.0) > NN_TOLERANCE:
            continue
        if runs and last_end == i:
            runs[-1].append(times[i + 1])
        else:
            runs.append([times[i], times[i + 1]])
        last_end = i + 1
    return runs


def metrics(runs):
    nn = np.concatenate([np.diff(r) for r in runs]) * 1000.0 if runs else np.array([])
    diffs = np.concatenate([np.diff(np.diff(r)) for r in runs if len(r) >= 3] or [np.array([])]) * 1000.0
    if len(nn) < 2 or len(diffs) == 0:
        return None
    return {
        "rmssd_ms": float(np.sqrt(np.mean(diffs**2))),
        "sdnn_ms": float(np.std(nn, ddof=1)),
        "pnn50_percent": float(100.0 * np.mean(np.abs(diffs) > 50.0)),
        "mean_nn_ms": float(np.mean(nn)),
        "seconds": float(np.sum(nn) / 1000.0),
    }


def neurokit_peaks(x):
    import neurokit2 as nk

    cleaned = nk.ppg_clean(x, sampling_rate=int(FS))
    peaks = nk.ppg_findpeaks(cleaned, sampling_rate=int(FS))["PPG_Peaks"]
    return np.asarray(peaks, float) / FS, np.ones(len(peaks), bool)


def heartpy_peaks(x):
    import heartpy as hp

    filtered = hp.filter_signal(x, cutoff=[0.7, 3.5], sample_rate=FS, order=3, filtertype="bandpass")
    wd, _ = hp.process(filtered, FS, high_precision=True, high_precision_fs=1000.0)
    peaks = np.asarray(wd["peaklist"], float)
    removed = set(int(p) for p in wd["removed_beats"])
    ok = np.array([int(p) not in removed for p in wd["peaklist"]], bool)
    return peaks / FS, ok


TOOLS = {"HeartPy": heartpy_peaks, "NeuroKit2": neurokit_peaks}


def score(tool, rgb, rec):
    x = -rgb[:, strongest_channel(rgb)]
    try:
        times, ok = TOOLS[tool](x)
    except Exception:  # A tool that fails on a recording gives it no figures.
        return None
    half_beat = 0.5 * rec["ecg"]["mean_nn_ms"] / 1000.0
    stretch = np.full(len(times), -1)
    for s, (a, b) in enumerate(rec["stretches"]):
        stretch[(times >= a) & (times <= b + half_beat)] = s
    keep = lambda i: ok[i] and ok[i + 1] and stretch[i] >= 0 and stretch[i] == stretch[i + 1]
    return metrics(nn_runs(list(times), keep))


def main():
    warnings.filterwarnings("ignore")
    report, root = json.load(open(sys.argv[1])), sys.argv[2]
    recs = [r for r in report["welltory_hrv"]["product"]["per_recording"] if r["ecg"] and r["phone"]]
    rows = {"oxicam": [(r["phone"], r["ecg"]) for r in recs], "HeartPy": [], "NeuroKit2": []}
    for r in recs:
        rgb = load_recording("welltory", root, r["recording"], None)
        for tool in TOOLS:
            rows[tool].append((score(tool, rgb, r), r["ecg"]))
    print(f"HRV against ECG over oxicam's stretches, {len(recs)} recordings: median absolute error "
          "(recordings with figures, a tool's failures left out)")
    print(f"{'tool':<10} {'n':>3} {'RMSSD %':>8} {'SDNN %':>7} {'mean NN %':>9} {'pNN50 pts':>9} {'seconds':>8}")
    for tool, pairs in rows.items():
        pairs = [(p, e) for p, e in pairs if p is not None]
        err = lambda k: np.median([100 * abs(p[k] / e[k] - 1) for p, e in pairs])
        pnn = np.median([abs(p["pnn50_percent"] - e["pnn50_percent"]) for p, e in pairs])
        secs = np.median([p["seconds"] for p, _ in pairs])
        print(f"{tool:<10} {len(pairs):>3} {err('rmssd_ms'):>8.1f} {err('sdnn_ms'):>7.1f} "
              f"{err('mean_nn_ms'):>9.2f} {pnn:>9.1f} {secs:>8.1f}")


if __name__ == "__main__":
    main()
