"""Heart rate side by side: HeartPy, NeuroKit2 and a plain FFT on the windows oxicam scored.

Input: the per-window CSV of `oxicam eval --windows-csv` (set, subject, hand, start_s, end_s,
reference_bpm, oxicam_bpm). Every peer gets the same 10 s of the same recording, resampled to
30 Hz from the frame times as oxicam does. Channel (red, green, blue, or per recording the one
with the strongest pulse) and polarity are chosen on the training subjects of each fold
(leave-one-subject-out; Welltory, whose recordings do not say who made them: leave-one-
recording-out), by the MAE a careful user would look at. A window a peer fails on (exception,
no rate, rate outside 40-200 bpm) counts as not answered: MAE is over answered windows,
coverage is their share; each peer is also scored on the windows oxicam answered.
"""
import argparse
import csv
import glob
import os
import sys
import warnings
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import signal

FS = 30.0
BAND_HZ = (0.7, 3.5)
HR_RANGE = (40.0, 200.0)
CHANNELS = ("red", "green", "blue", "strongest")
POLARITIES = ("raw", "inverted")


# ---------------------------------------------------------------------------------------- data
def uniform(t, rgb):
    """Linear interpolation onto a 30 Hz grid from the first frame (oxicam's resampling)."""
    keep = np.concatenate([[True], np.diff(t) > 0])
    # Repeated or backwards times: keep the first of each, as oxicam does.
    t, rgb = t[keep], rgb[keep]
    mono = np.maximum.accumulate(t)
    ok = np.concatenate([[True], t[1:] > mono[:-1]])
    t, rgb = t[ok], rgb[ok]
    n = int(np.floor((t[-1] - t[0]) * FS)) + 1
    grid = t[0] + np.arange(n) / FS
    return np.stack([np.interp(grid, t, rgb[:, c]) for c in range(3)], axis=1)


def load_recording(data_set, root, subject, hand):
    if data_set == "uw":
        path = os.path.join(root, "ppg", hand, f"{subject}.csv")
        rgb = np.loadtxt(path, delimiter=",", skiprows=1, encoding="utf-8-sig", usecols=(0, 1, 2))
        t = np.arange(len(rgb)) / 30.0
    else:
        path = os.path.join(root, "data", subject, "PPG.csv")
        a = np.loadtxt(path, delimiter=",", skiprows=1)
        t, rgb = (a[:, 0] - a[0, 0]) / 1000.0, a[:, 1:4]
    return uniform(t, rgb)


def strongest_channel(rgb):
    """The channel whose relative (AC/DC) pulse-band power stands out most over the recording:
    what a careful user looks at first (a clipped or floored channel has none)."""
    best, best_ratio = 0, -np.inf
    for c in range(3):
        x = rgb[:, c]
        if x.mean() < 1.0 or x.mean() > 254.5:
            continue
        f, p = signal.welch(signal.detrend(x / x.mean()), fs=FS, nperseg=min(len(x), 512))
        band = (f >= BAND_HZ[0]) & (f <= BAND_HZ[1])
        rest = (f > 0.2) & (f < 8.0)
        ratio = p[band].max() / (np.median(p[rest]) + 1e-30)
        if ratio > best_ratio:
            best, best_ratio = c, ratio
    return best


# --------------------------------------------------------------------------------------- peers
def in_range(bpm):
    return bpm if bpm is not None and np.isfinite(bpm) and HR_RANGE[0] <= bpm <= HR_RANGE[1] else None


def plain_fft(x):
    x = signal.detrend(x) * np.hanning(len(x))
    n = 8192
    p = np.abs(np.fft.rfft(x, n)) ** 2
    f = np.fft.rfftfreq(n, 1 / FS)
    band = (f >= BAND_HZ[0]) & (f <= BAND_HZ[1])
    return in_range(60.0 * f[band][np.argmax(p[band])])


def heartpy_rate(x):
    import heartpy as hp

    try:
        filtered = hp.filter_signal(x, cutoff=list(BAND_HZ), sample_rate=FS, order=3,
                                    filtertype="bandpass")
        _, measures = hp.process(filtered, FS)
        return in_range(float(measures["bpm"]))
    except Exception:  # HeartPy raises on windows it cannot analyse: not answered.
        return None


def neurokit_rate(x):
    import neurokit2 as nk

    try:
        cleaned = nk.ppg_clean(x, sampling_rate=int(FS))
        peaks = nk.ppg_findpeaks(cleaned, sampling_rate=int(FS))["PPG_Peaks"]
        if len(peaks) < 2:
            return None
        return in_range(60.0 * FS / float(np.mean(np.diff(peaks))))
    except Exception:
        return None


PEERS = {"HeartPy": heartpy_rate, "NeuroKit2": neurokit_rate, "plain FFT": plain_fft}


def run_recording(job):
    """All peers x channel rules x polarities on one recording's windows."""
    warnings.filterwarnings("ignore")
    data_set, root, subject, hand, spans = job
    rgb = load_recording(data_set, root, subject, hand)
    strongest = strongest_channel(rgb)
    out = {}
    for peer, fn in PEERS.items():
        for ch in CHANNELS:
            c = strongest if ch == "strongest" else CHANNELS.index(ch)
            # The FFT does not care about polarity.
            for pol in POLARITIES if peer != "plain FFT" else ("raw",):
                rates = []
                for a, b in spans:
                    i, j = int(round(a * FS)), int(round(b * FS))
                    x = rgb[i:j, c]
                    if len(x) < int(0.9 * (b - a) * FS) or np.ptp(x) == 0:
                        rates.append(None)
                        continue
                    rates.append(fn(-x if pol == "inverted" else x))
                out[(peer, ch, pol)] = rates
    return (data_set, subject, hand), out


# ------------------------------------------------------------------------------------- scoring
def fmt(mae):
    return "-" if mae is None else f"{mae:.2f}"


def score(pairs):
    errs = [abs(p - y) for p, y in pairs if p is not None]
    return (float(np.mean(errs)) if errs else None), len(errs)


def choose(results, windows, keys, train):
    """The candidate with the lowest MAE on the training recordings' windows, among those that
    answer at least half of them."""
    best, best_mae = None, np.inf
    for cand in results[next(iter(results))]:
        if cand[0] != keys:
            continue
        pairs = [(p, w["reference_bpm"]) for rec in train for p, w in zip(results[rec][cand], windows[rec])]
        mae, n = score(pairs)
        if mae is not None and n * 2 >= len(pairs) and mae < best_mae:
            best, best_mae = cand, mae
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", required=True, help="CSV from oxicam eval --windows-csv")
    ap.add_argument("--uw", required=True)
    ap.add_argument("--welltory", required=True)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()

    windows = defaultdict(list)
    with open(args.windows) as fh:
        for row in csv.DictReader(fh):
            if not row["reference_bpm"]:
                continue
            row["reference_bpm"] = float(row["reference_bpm"])
            row["oxicam_bpm"] = float(row["oxicam_bpm"]) if row["oxicam_bpm"] else None
            windows[(row["set"], row["subject"], row["hand"])].append(row)
    roots = {"uw": args.uw, "welltory": args.welltory}
    jobs = [(k[0], roots[k[0]], k[1], k[2], [(float(w["start_s"]), float(w["end_s"])) for w in ws])
            for k, ws in windows.items()]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(pool.map(run_recording, jobs))

    table = []
    for data_set, title in (("uw", "UW shared subjects (10 s windows, hop 5 s)"),
                            ("welltory", "Welltory, 21 phones (10 s windows, hop 2 s)")):
        recs = sorted(k for k in windows if k[0] == data_set)
        if not recs:
            continue
        # Folds: whole subjects (both hands) for UW; one recording each for Welltory.
        folds = defaultdict(list)
        for rec in recs:
            folds[rec[1]].append(rec)
        n_windows = sum(len(windows[r]) for r in recs)
        rows = []
        ox = [(w["oxicam_bpm"], w["reference_bpm"]) for r in recs for w in windows[r]]
        mae, n = score(ox)
        rows.append(("oxicam", mae, n, mae, "all channels, per window"))
        for peer in PEERS:
            pairs, on_answered, chosen = [], [], defaultdict(int)
            for held, test in folds.items():
                train = [r for r in recs if r[1] != held]
                cand = choose(results, windows, peer, train)
                chosen[cand[1:]] += 1
                for rec in test:
                    for p, w in zip(results[rec][cand], windows[rec]):
                        pairs.append((p, w["reference_bpm"]))
                        # The same windows oxicam answered: its refusals are not held against it.
                        if w["oxicam_bpm"] is not None:
                            on_answered.append((p, w["reference_bpm"]))
            mae, n = score(pairs)
            mae_answered, _ = score(on_answered)
            picks = ", ".join(f"{c} {p}" + (f" x{k}" if len(chosen) > 1 else "")
                              for (c, p), k in sorted(chosen.items(), key=lambda kv: -kv[1]))
            rows.append((peer, mae, n, mae_answered, picks))
        table.append((title, n_windows, rows))

    for title, n_windows, rows in table:
        if args.markdown:
            print(f"\n**{title}**, {n_windows} windows\n")
            print("| method | HR MAE (bpm) | coverage | MAE on oxicam's answered windows "
                  "| channel, polarity (chosen on training folds) |")
            print("|---|---|---|---|---|")
            for name, mae, n, mae_answered, picks in rows:
                print(f"| {name} | {fmt(mae)} | {100 * n / n_windows:.1f} % ({n}) "
                      f"| {fmt(mae_answered)} | {picks} |")
        else:
            print(f"\n{title}: {n_windows} windows")
            print(f"{'method':<10} {'MAE bpm':>8} {'coverage':>16} {'MAE@oxicam':>10}  "
                  "channel, polarity")
            for name, mae, n, mae_answered, picks in rows:
                print(f"{name:<10} {fmt(mae):>8} {100 * n / n_windows:>7.1f} % ({n:>4}) "
                      f"{fmt(mae_answered):>10}  {picks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
