//! End-to-end: fixtures rendered from a real trace, encoded by libavcodec, decoded back.
//! Each test checks the decoded trace against the known truth (correlation, timestamps).

mod common;

use common::*;
use oxicam_video::synth::Codec;

#[test]
fn h264_mp4_cfr_recovers_the_trace() {
    let dir = temp_dir();
    let truth = render(dir.path(), "a.mp4", Codec::H264, (640, 360), 4.0, |_| {});
    let decoded = decode(&truth.path);
    let corr = assert_matches_truth(&decoded, &truth, 0.99);
    eprintln!("corr {corr:?}");
    let meta = &decoded.meta;
    assert_eq!(meta.codec, "h264");
    assert_eq!((meta.width, meta.height), (640, 360));
    assert_eq!(meta.color_matrix, "bt709");
    assert_eq!(meta.color_range, "limited");
    assert!(!decoded.trace.truncated && !meta.truncated);
    assert!((meta.frame_interval_mean_s - 1.0 / 30.0).abs() < 1e-3);
}

#[test]
#[ignore]
fn scratch_keep_file() {
    for codec in [std::env::var("OXV_CODEC").map(|c| c.parse::<Codec>().unwrap()).unwrap_or(Codec::H264)] {
        for crf in std::env::var("OXV_CRFS").unwrap().split(',').map(|c| c.parse::<u32>().unwrap()) {
            for noise in [1.0, 2.0] {
                let t = std::time::Instant::now();
                let truth = render(std::path::Path::new("/tmp/oxv"), "a.mp4", codec, (640, 360), 3.0, |o| { o.crf = Some(crf); o.noise = noise; });
                let t1 = t.elapsed().as_secs_f64();
                let d = decode(&truth.path);
                let roi: Vec<[f64; 3]> = d.trace.samples.iter().map(|s| s.roi_rgb).collect();
                let corr = [0, 1, 2].map(|c| pearson(&channel(&roi, c), &channel(&truth.roi_rgb, c)));
                let size = std::fs::metadata(&truth.path).unwrap().len();
                eprintln!("{codec:?} crf {crf} noise {noise}: render {t1:.2}s decode {:.2}s size {}k corr {corr:.4?} first {:.2?} vs {:.2?}", t.elapsed().as_secs_f64()-t1, size/1000, roi[5], truth.roi_rgb[5]);
            }
        }
    }
}
