//! End-to-end: fixtures rendered from a real trace, encoded by libavcodec, decoded back.
//! Each test checks the decoded trace against the known truth (correlation, timestamps, meta).

mod common;

use common::*;
use oxicam_signal::Trace;
use oxicam_video::synth::Codec;
use oxicam_video::{extract_trace, DecodeOptions};

#[test]
fn h264_mp4_cfr_recovers_the_trace() {
    let dir = temp_dir();
    let truth = render(dir.path(), "a.mp4", Codec::H264, (640, 360), 4.0, |_| {});
    let decoded = decode(&truth.path);
    assert_matches_truth(&decoded, &truth, 0.99);
    let meta = &decoded.meta;
    assert_eq!(meta.codec, "h264");
    assert!(meta.container.contains("mp4"), "{}", meta.container);
    assert_eq!((meta.width, meta.height), (640, 360));
    assert_eq!(meta.rotation_deg, 0);
    assert_eq!(meta.color_matrix, "bt709");
    assert_eq!(meta.color_range, "limited");
    assert_eq!(meta.frame_count, truth.frame_count() as u64);
    assert!(!decoded.trace.truncated && !meta.truncated);
    assert!((meta.frame_interval_mean_s - 1.0 / 30.0).abs() < 1e-3);
    assert!(
        (meta.frame_interval_max_s - meta.frame_interval_min_s) < 1e-3,
        "CFR"
    );
    assert!(
        (meta.duration_s - 4.0 - 1.0 / 30.0).abs() < 0.01,
        "{}",
        meta.duration_s
    );
    // Absolute level too: the decoded central-region means sit on the rendered ones.
    for (s, t) in decoded.trace.samples.iter().zip(&truth.roi_rgb) {
        for c in 0..3 {
            assert!(
                (s.roi_rgb[c] - t[c]).abs() < 1.0,
                "{:?} vs {t:?}",
                s.roi_rgb
            );
        }
    }
}

#[test]
fn h264_1080p_full_frame_and_frame_statistics() {
    let dir = temp_dir();
    let truth = render(dir.path(), "hd.mp4", Codec::H264, (1920, 1080), 2.0, |_| {});
    let decoded = decode(&truth.path);
    assert_matches_truth(&decoded, &truth, 0.99);
    let full: Vec<[f64; 3]> = decoded.trace.samples.iter().map(|s| s.full_rgb).collect();
    for c in 0..3 {
        let r = pearson(&channel(&full, c), &channel(&truth.full_rgb, c));
        assert!(r > 0.99, "full-frame channel {c}: {r}");
        // At 1080p the rendering noise averages out: the source trace itself is recovered.
        let r = pearson(&channel(&full, c), &channel(&truth.trace_rgb, c));
        assert!(r > 0.99, "full frame vs source trace, channel {c}: {r}");
    }
    for s in &decoded.trace.samples {
        let clipped = s.clipped_fraction.unwrap();
        assert!(clipped.iter().all(|&f| f < 0.01), "{clipped:?}");
        // A textured but covered lens: some spatial structure, far from a scene's.
        let sd = s.luma_grid_sd.unwrap();
        assert!(sd > 0.1 && sd < 10.0, "{sd}");
    }
}

#[test]
fn hevc_odd_size_variable_frame_rate() {
    let dir = temp_dir();
    let truth = render(dir.path(), "vfr.mp4", Codec::Hevc, (1278, 718), 3.0, |o| {
        o.vfr = true
    });
    let decoded = decode(&truth.path);
    assert_matches_truth(&decoded, &truth, 0.99);
    let meta = &decoded.meta;
    assert_eq!(meta.codec, "hevc");
    assert_eq!((meta.width, meta.height), (1278, 718));
    assert!(
        meta.frame_interval_max_s > 1.5 * meta.frame_interval_min_s,
        "VFR intervals {} - {}",
        meta.frame_interval_min_s,
        meta.frame_interval_max_s
    );
}

#[test]
fn hevc_cfr_mkv_and_h264_vfr_mkv() {
    let dir = temp_dir();
    let hevc = render(dir.path(), "hevc.mkv", Codec::Hevc, (640, 360), 3.0, |_| {});
    let decoded = decode(&hevc.path);
    assert_matches_truth(&decoded, &hevc, 0.99);
    assert_eq!(decoded.meta.container, "matroska,webm");
    let h264 = render(dir.path(), "vfr.mkv", Codec::H264, (320, 240), 3.0, |o| {
        o.vfr = true
    });
    assert_matches_truth(&decode(&h264.path), &h264, 0.99);
}

#[test]
fn vp8_and_vp9_webm() {
    let dir = temp_dir();
    for (codec, name) in [(Codec::Vp8, "vp8.webm"), (Codec::Vp9, "vp9.webm")] {
        let truth = render(dir.path(), name, codec, (320, 240), 3.0, |_| {});
        let decoded = decode(&truth.path);
        assert_matches_truth(&decoded, &truth, 0.99);
        assert_eq!(decoded.meta.codec, codec.ffmpeg_name());
    }
}

#[test]
fn rotation_metadata_is_reported() {
    let dir = temp_dir();
    for degrees in [90, 270] {
        let truth = render(dir.path(), "rot.mp4", Codec::H264, (320, 240), 3.0, |o| {
            o.rotation_deg = degrees
        });
        let decoded = decode(&truth.path);
        assert_eq!(decoded.meta.rotation_deg, degrees);
        // Rotation is display metadata: the coded frame and the trace are unchanged.
        assert_eq!((decoded.meta.width, decoded.meta.height), (320, 240));
        assert_matches_truth(&decoded, &truth, 0.99);
    }
}

#[test]
fn clipped_pixels_are_counted_per_pixel() {
    let dir = temp_dir();
    // A saturated red, dark green/blue fingertip: many pixels clip, as with a strong torch.
    let trace: Vec<[f64; 3]> = (0..120)
        .map(|i| [248.0 + (i % 10) as f64 * 0.3, 4.0, 30.0])
        .collect();
    let clip = render(dir.path(), "clip.mp4", Codec::H264, (320, 240), 2.0, |o| {
        o.trace = trace;
        o.noise = 3.0;
    });
    let decoded = decode(&clip.path);
    let first = decoded.trace.samples[10].clipped_fraction.unwrap();
    assert!(first[0] > 0.2 && first[0] < 1.0, "red clipped {first:?}");
    assert!(first[1] > 0.2, "green clipped {first:?}");
    assert!(first[2] < 0.01, "blue clipped {first:?}");
}

fn ac_over_dc(trace: &Trace) -> [f64; 3] {
    [0, 1, 2].map(|c| {
        let x: Vec<f64> = trace.samples.iter().map(|s| s.roi_rgb[c]).collect();
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        // AC: SD after removing a 1 s moving average (the slow baseline).
        let ac: Vec<f64> = (0..x.len())
            .map(|i| {
                let (lo, hi) = (i.saturating_sub(15), (i + 16).min(x.len()));
                x[i] - x[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
            })
            .collect();
        (ac.iter().map(|v| v * v).sum::<f64>() / ac.len() as f64).sqrt() / mean
    })
}

/// Our only decoding option is frame threading: it must not change the signal. A plain
/// single-threaded decode is the reference; AC/DC must agree within 0.5 % (here: exactly).
#[test]
fn threaded_decoding_keeps_ac_dc_of_a_plain_decode() {
    let dir = temp_dir();
    for (codec, name) in [(Codec::H264, "t.mp4"), (Codec::Hevc, "t.mkv")] {
        let truth = render(dir.path(), name, codec, (320, 240), 3.0, |_| {});
        let plain = extract_trace(
            &truth.path,
            &DecodeOptions {
                threads: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let threaded = extract_trace(&truth.path, &DecodeOptions::default()).unwrap();
        let (a, b) = (ac_over_dc(&plain.trace), ac_over_dc(&threaded.trace));
        for c in 0..3 {
            assert!(a[c] > 0.0);
            assert!(
                ((b[c] - a[c]) / a[c]).abs() < 0.005,
                "{codec:?} channel {c}: {a:?} vs {b:?}"
            );
        }
        assert_eq!(plain.trace, threaded.trace, "{codec:?}: bit-identical");
    }
}
