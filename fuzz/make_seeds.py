#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/seeds/<target>/ (committed, small).

Seeds are valid and near-valid inputs: libFuzzer mutates from them. The clips are rendered by
`oxicam synth` (pass the binary); the traces are cut from the embedded real trace and from the
UW data's reference CSV layout. Rerun only to change the seeds; CI uses the committed files.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "seeds"
BOUNDARY = b"oxfuzzB0und4ry"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def part(name, data, filename=None, content_type=b"application/octet-stream"):
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return b"--" + BOUNDARY + b"\r\n" + disposition + b"\r\nContent-Type: " + content_type + b"\r\n\r\n" + data + b"\r\n"


def body(*parts):
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def upload(chunk, flags, body_bytes, content_type=b"multipart/form-data; boundary=" + BOUNDARY):
    return bytes([chunk, flags]) + content_type + b"\n" + body_bytes


def main():
    oxicam = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        clips = {
            "h264.mp4": ["--size", "32x32", "--seconds", "1", "--fps", "10"],
            "hevc.mkv": ["--codec", "hevc", "--size", "32x32", "--seconds", "1", "--fps", "10"],
            "vp9.webm": ["--codec", "vp9", "--size", "32x32", "--seconds", "1", "--fps", "10"],
            "vp8.webm": ["--codec", "vp8", "--size", "32x32", "--seconds", "1", "--fps", "10"],
            "vfr-rotated.mov": ["--vfr", "--rotate", "90", "--size", "32x32", "--seconds", "1", "--faststart"],
            # Long enough for a real reading (64.7 bpm): mutations reach the estimator too.
            "22s-16x16.mp4": ["--size", "16x16", "--seconds", "22"],
        }
        for name, args in clips.items():
            out = tmp / name
            subprocess.run([oxicam, "synth", "--out", str(out), "--noise", "0", *args],
                           check=True, stdout=subprocess.DEVNULL)
            write("decode_clip", name, out.read_bytes())
        vp9 = (tmp / "vp9.webm").read_bytes()

    write("multipart_upload", "run-vp9", upload(0, 0, body(part(b"file", vp9, b"clip.webm", b"video/webm"))))
    write("multipart_upload", "analyses-spo2",
          upload(0, 1, body(part(b"reference_spo2", b"97", content_type=b"text/plain"),
                            part(b"file", vp9, b"clip.webm", b"video/webm"))))
    write("multipart_upload", "run-1-byte-chunks-length",
          upload(1, 2, body(part(b"file", b"\x00\x00\x00\x18ftypmp42", b"f.mp4"))))
    write("multipart_upload", "no-file", upload(7, 0, body(part(b"other", b"x"))))
    write("multipart_upload", "two-files", upload(0, 0, body(part(b"file", b"a", b"a"), part(b"file", b"b", b"b"))))
    write("multipart_upload", "empty-file", upload(0, 0, body(part(b"file", b"", b"e.mp4"))))
    write("multipart_upload", "bad-spo2", upload(0, 1, body(part(b"reference_spo2", b"1e999"), part(b"file", b"x"))))
    write("multipart_upload", "not-multipart", upload(0, 0, b'{"file":1}', b"application/json"))
    write("multipart_upload", "quoted-boundary-preamble",
          upload(3, 0, b"preamble\r\n" + body(part(b"file", b"abc", b"a.bin")) + b"epilogue",
                 b'multipart/form-data; charset=utf-8; boundary="' + BOUNDARY + b'"'))
    write("multipart_upload", "unterminated", upload(5, 0, body(part(b"file", b"abc"))[:-8]))

    embedded = ROOT / "crates" / "oxicam-video" / "assets" / "embedded-trace-100002-right.csv"
    rows = embedded.read_text().lstrip("\ufeff").splitlines()
    write("trace_csv", "embedded-25s.csv", ("\n".join(rows[:1 + 750]) + "\n").encode())
    write("trace_csv", "bom-no-header.csv", ("\ufeff" + "\n".join(rows[1:40]) + "\n").encode())
    write("trace_csv", "crlf-blank.csv", ("r,g,b\r\n\r\n" + "\r\n".join(rows[1:20]) + "\r\n").encode())
    # Timed forms: Welltory's time,R,G,B in ms with jitter and a 0.6 s gap; t,R,G,B in seconds.
    timed = ["time,R,G,B"] + [f"{round(i * 1000 / 30 + (i * 7919) % 11 - 5)},{row}"
                              for i, row in enumerate(rows[1:1 + 300]) if not 150 <= i < 168]
    write("trace_csv", "timed-ms-gap.csv", ("\n".join(timed) + "\n").encode())
    write("trace_csv", "timed-seconds.csv", ("t,R,G,B\n" + "\n".join(
        f"{i / 30:.4f},{row}" for i, row in enumerate(rows[1:60])) + "\n").encode())
    write("trace_csv", "reference.csv", (
        "\ufeffTime,SpO2 1,SpO2 2,SpO2 3,SpO2 4,SpO2 5,Pulse 1,Pulse 2,Pulse 3,Pulse 4,Pulse 5\n"
        " 09:25:02,97.4,97,0,98,98,57,57,0,58,57\n 09:25:03,97.6,,0,98,98,57,57,0,58,57\n"
        " 09:25:04,0,0,0,0,0,0,0,0,0,0\nCollection Halted\n").encode())

    trace = [[float(v) for v in row.split(",")[:3]] for row in rows[1:1 + 750]]
    columns = [[r[c] for r in trace] for c in range(3)]
    t = [round(i / 30, 4) for i in range(len(trace))]
    write("trace_json", "plain-25s.json", json.dumps({"t": t, "roi_rgb": columns}).encode())
    # Delta encoding: integers in fixed steps (t 1e-4 s, colour 1e-3), each from the previous.
    def delta(values, step):
        ints = [round(v / step) for v in values]
        return [b - a for a, b in zip([0] + ints, ints)]
    write("trace_json", "delta-25s-device.json", json.dumps({
        "encoding": "delta", "t": delta(t, 1e-4), "roi_rgb": [delta(c, 1e-3) for c in columns],
        "clipped_fraction": [[0] * len(t)] * 3, "reference_spo2": 97,
        "device": {"extractor": "webcodecs", "torch": True, "frames_dropped": 0}}).encode())
    write("trace_json", "short.json", json.dumps({"t": t[:5], "roi_rgb": [c[:5] for c in columns]}).encode())

    shipped = json.loads((ROOT / "models" / "spo2-2026.2.json").read_text())
    write("model_json", "shipped.json", json.dumps(shipped, indent=2).encode())
    # The same model without its provenance: short, so mutations hit the numbers and names.
    shipped.pop("provenance")
    write("model_json", "small.json", json.dumps(shipped).encode())
    # The previous format (schema before the SpO2 rework): must be refused, never half-loaded.
    write("model_json", "previous-format.json", (ROOT / "models" / "spo2-2026.1.json").read_bytes())

if __name__ == "__main__":
    main()
