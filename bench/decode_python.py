"""Reference decoders for bench/decode.sh: the usual Python ways to get per-frame channel means.

`cv2mean`: OpenCV VideoCapture + cv2.mean per frame. `numpy`: VideoCapture + the
`frame.reshape(-1, 3).mean(0)` typical demo apps use. Prints frames, wall seconds and CPU seconds (all threads), measured after imports.
"""

import sys
import time

import cv2
import numpy as np


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    cpu_started = time.process_time()
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        sys.exit(f"cannot open {path}")
    frames = 0
    means = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if mode == "cv2mean":
            means.append(cv2.mean(frame)[:3])
        else:
            means.append(frame.reshape(-1, 3).mean(0))
        frames += 1
    capture.release()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(f"frames={frames} seconds={elapsed:.4f} cpu={cpu:.4f} mean_g={np.mean([m[1] for m in means]):.3f}")


if __name__ == "__main__":
    main()
