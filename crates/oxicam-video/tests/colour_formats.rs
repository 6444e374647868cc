//! Colour handling across what phones produce: full-range (JPEG) 4:2:0 and 10-bit HEVC give
//! the same RGB means as the limited-range 8-bit original, using the stream's declared range.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use oxicam_video::synth::Codec;

fn reencode(src: &Path, dst: PathBuf, args: &[&str]) -> PathBuf {
    let input = src.to_str().expect("a UTF-8 temp path");
    let args: Vec<&str> = ["-i", input]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    oxicam_testkit::fixtures::run_ffmpeg(&args, &dst)
}

fn mean_rgb(rows: &[[f64; 3]]) -> [f64; 3] {
    [0, 1, 2].map(|c| rows.iter().map(|r| r[c]).sum::<f64>() / rows.len() as f64)
}

#[test]
fn full_range_and_10_bit_streams_decode_to_the_same_colours() {
    let dir = temp_dir();
    let truth = render(dir.path(), "src.mp4", Codec::H264, (320, 240), 2.0, |_| {});
    let original = decode(&truth.path);
    let reference: Vec<[f64; 3]> = original.trace.samples.iter().map(|s| s.roi_rgb).collect();

    let full = reencode(
        &truth.path,
        dir.path().join("full.mp4"),
        &[
            "-vf",
            "scale=out_range=full",
            "-pix_fmt",
            "yuvj420p",
            "-color_range",
            "pc",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "8",
        ],
    );
    let ten_bit = reencode(
        &truth.path,
        dir.path().join("ten.mkv"),
        &[
            "-pix_fmt",
            "yuv420p10le",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-crf",
            "8",
            "-x265-params",
            "log-level=error",
        ],
    );
    for (path, range) in [(full, "full"), (ten_bit, "limited")] {
        let decoded = decode(&path);
        assert_eq!(decoded.meta.color_range, range, "{}", path.display());
        let rows: Vec<[f64; 3]> = decoded.trace.samples.iter().map(|s| s.roi_rgb).collect();
        let (got, want) = (mean_rgb(&rows), mean_rgb(&reference));
        for c in 0..3 {
            assert!(
                (got[c] - want[c]).abs() < 1.0,
                "{}: {got:?} vs {want:?}",
                path.display()
            );
        }
        let r = pearson(&channel(&rows, 1), &channel(&reference[..rows.len()], 1));
        assert!(r > 0.99, "{}: green correlation {r}", path.display());
    }
}
