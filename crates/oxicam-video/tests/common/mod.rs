//! Shared helpers for the decoding tests: fixture rendering into a temp dir and trace maths.
//! Fixtures are synthesized on the fly from the embedded real trace; nothing binary is committed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use oxicam_video::synth::{self, Codec, SynthOptions, SynthSummary};
use oxicam_video::{DecodeOptions, DecodedVideo};

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Renders `seconds` of the embedded trace; `tweak` adjusts the options.
pub fn render(
    dir: &Path,
    name: &str,
    codec: Codec,
    (width, height): (u32, u32),
    seconds: f64,
    tweak: impl FnOnce(&mut SynthOptions),
) -> SynthSummary {
    let mut opts = SynthOptions::new(synth::embedded_trace(), dir.join(name));
    opts.codec = codec;
    opts.width = width;
    opts.height = height;
    opts.seconds = Some(seconds);
    tweak(&mut opts);
    synth::render(&opts).unwrap_or_else(|e| panic!("rendering {name}: {e}"))
}

pub fn decode(path: &Path) -> DecodedVideo {
    oxicam_video::extract_trace(path, &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()))
}

pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt()
}

pub fn channel(rows: &[[f64; 3]], c: usize) -> Vec<f64> {
    rows.iter().map(|r| r[c]).collect()
}

/// Checks the decoded trace against the rendered truth: same frames, timestamps within one
/// frame interval, per-channel correlation of the central-region means above `min_corr`.
pub fn assert_matches_truth(
    decoded: &DecodedVideo,
    truth: &SynthSummary,
    min_corr: f64,
) -> [f64; 3] {
    let samples = &decoded.trace.samples;
    assert_eq!(samples.len(), truth.frame_count(), "frame count");
    let t0 = samples[0].t_s;
    let interval = 1.0 / 30.0;
    for (s, &t) in samples.iter().zip(&truth.timestamps_s) {
        assert!(
            ((s.t_s - t0) - t).abs() < interval,
            "timestamp {} vs truth {t}",
            s.t_s - t0
        );
    }
    let roi: Vec<[f64; 3]> = samples.iter().map(|s| s.roi_rgb).collect();
    let corr = [0, 1, 2].map(|c| pearson(&channel(&roi, c), &channel(&truth.roi_rgb, c)));
    eprintln!("{}: correlation {corr:.4?}", truth.path.display());
    for (c, r) in corr.iter().enumerate() {
        assert!(
            *r > min_corr,
            "channel {c}: correlation {r:.5} <= {min_corr}"
        );
    }
    corr
}

pub fn fixture_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
