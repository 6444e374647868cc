//! Each quality gate on real-like encoded video: real photographs (scikit-image's samples,
//! fetched by scripts/test.d/scenes.sh) panned and lit like a room and FFmpeg's test sources
//! are refused as `lens_not_covered` alone; fingertips rendered from a real trace are not; a
//! motion segment is cut out instead of refusing the recording; noise without a pulse gets no
//! heart rate.

mod common;

use std::path::{Path, PathBuf};

use oxicam_signal::{AnalysisOptions, Gate, Report};
use oxicam_testkit::fixtures::run_ffmpeg;
use oxicam_video::pipeline::{analyze_video, default_model, PipelineOptions};
use oxicam_video::synth::{self, embedded_trace, SynthOptions, EMBEDDED_TRACE_HEART_RATE_BPM};

fn scene_images() -> PathBuf {
    let dir = std::env::var_os("OXICAM_SCENE_IMAGES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/scene-images"),
        PathBuf::from,
    );
    assert!(
        dir.join("astronaut.png").is_file(),
        "scene photographs missing in {}: run `bash scripts/test.d/scenes.sh prepare`",
        dir.display()
    );
    dir
}

fn analyse(path: &Path) -> Report {
    let options = PipelineOptions {
        analysis: AnalysisOptions::default(),
        ..PipelineOptions::default()
    };
    analyze_video(path, &default_model(), &options)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn codes(r: &Report) -> Vec<Gate> {
    r.quality.reasons.iter().map(|q| q.code).collect()
}

/// A 16 s 320x180 clip of a photograph: the phone held over it and moving (pan), in warm room
/// light with sensor noise; `blur` > 0 puts it out of focus (the lens a few cm away).
fn photo_clip(dir: &Path, image: &Path, blur: f64) -> PathBuf {
    let name = image.file_stem().unwrap().to_string_lossy();
    let out = dir.join(format!("{name}-{blur}.mp4"));
    let pan = "scale=640:360:force_original_aspect_ratio=increase,\
               crop=320:180:x='(iw-320)/2*(1+0.8*sin(t*0.6))':y='(ih-180)/2*(1+0.8*sin(t*0.43+1))'";
    let light = "eq=brightness=-0.08:saturation=0.9:gamma=0.85,\
                 colorchannelmixer=rr=1.08:gg=0.97:bb=0.82,noise=alls=3:allf=t";
    let filters = format!("{pan},gblur=sigma={},{light},format=yuv420p", blur.max(0.5));
    let input = image.to_string_lossy();
    run_ffmpeg(
        &[
            "-loop",
            "1",
            "-framerate",
            "30",
            "-i",
            &input,
            "-t",
            "16",
            "-vf",
            &filters,
            "-c:v",
            "libx264",
            "-crf",
            "20",
        ],
        &out,
    )
}

/// A 16 s 320x180 clip of an FFmpeg source (`lavfi` graph).
fn lavfi_clip(dir: &Path, name: &str, graph: &str) -> PathBuf {
    run_ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            graph,
            "-t",
            "16",
            "-vf",
            "format=yuv420p",
            "-c:v",
            "libx264",
            "-crf",
            "20",
        ],
        &dir.join(format!("{name}.mp4")),
    )
}

#[test]
fn scenes_and_test_patterns_are_refused_as_lens_not_covered_only() {
    let images = scene_images();
    let dir = common::temp_dir();
    let mut clips = Vec::new();
    for (image, blur) in [
        ("astronaut.png", 1.5),
        ("coffee.png", 1.5),
        ("page.png", 1.5),
        ("chelsea.png", 12.0),
        ("coins.png", 12.0),
        ("brick.png", 12.0),
        ("text.png", 12.0),
        ("rocket.jpg", 12.0),
    ] {
        clips.push(photo_clip(dir.path(), &images.join(image), blur));
    }
    for (name, graph) in [
        ("testsrc2", "testsrc2=size=320x180:rate=30"),
        ("smptebars", "smptebars=size=320x180:rate=30"),
        ("mandelbrot", "mandelbrot=size=320x180:rate=30"),
        ("cellauto", "cellauto=size=320x180:rate=30"),
        // The lens against a dark surface, and against a lit wall.
        (
            "dark",
            "color=c=0x101010:size=320x180:rate=30,noise=alls=3:allf=t",
        ),
        (
            "wall",
            "color=c=0xd8d0c0:size=320x180:rate=30,noise=alls=3:allf=t,vignette",
        ),
    ] {
        clips.push(lavfi_clip(dir.path(), name, graph));
    }
    for clip in &clips {
        let report = analyse(clip);
        assert!(
            !report.usable,
            "{}: {:?}",
            clip.display(),
            report.heart_rate_bpm
        );
        assert_eq!(
            codes(&report),
            vec![Gate::LensNotCovered],
            "{}",
            clip.display()
        );
    }
}

/// The embedded real trace (a white-balanced, greenish fingertip) and the same pulse as a
/// phone with the torch on records it: red near saturation, green and blue dim.
fn finger_traces() -> Vec<(&'static str, Vec<[f64; 3]>)> {
    let uw = embedded_trace();
    let mean = |c: usize| uw.iter().map(|r| r[c]).sum::<f64>() / uw.len() as f64;
    let m = [mean(0), mean(1), mean(2)];
    let torch: Vec<[f64; 3]> = uw
        .iter()
        .map(|r| {
            let rel = |c: usize| r[c] / m[c];
            [230.0 * rel(0), 40.0 * rel(1), 12.0 * rel(2)]
        })
        .collect();
    vec![("white-balanced", uw), ("torch-red", torch)]
}

fn render_trace(dir: &Path, name: &str, trace: Vec<[f64; 3]>, seconds: f64) -> PathBuf {
    let mut opts = SynthOptions::new(trace, dir.join(format!("{name}.mp4")));
    opts.width = 320;
    opts.height = 180;
    opts.seconds = Some(seconds);
    synth::render(&opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    opts.out
}

#[test]
fn fingertips_are_measured_not_taken_for_scenes() {
    let dir = common::temp_dir();
    for (name, trace) in finger_traces() {
        let report = analyse(&render_trace(dir.path(), name, trace, 30.0));
        assert!(report.usable, "{name}: {:?}", codes(&report));
        assert!(!codes(&report).contains(&Gate::LensNotCovered), "{name}");
        let hr = report.heart_rate_bpm.unwrap();
        assert!(
            (hr - EMBEDDED_TRACE_HEART_RATE_BPM).abs() < 1.5,
            "{name}: {hr}"
        );
        let beats = report.beats.as_ref().expect("beats");
        let accepted = beats.quality.iter().filter(|&&q| q > 0.0).count();
        assert!(accepted as f64 > 0.8 * beats.times_s.len() as f64, "{name}");
    }
}

#[test]
fn a_motion_segment_is_cut_out_instead_of_refusing_the_recording() {
    // 2 s of pressing and shaking the finger in the middle of 40 s: the light level drops by a
    // third and swings at 3 Hz, far above the pulse.
    let dir = common::temp_dir();
    let mut trace = embedded_trace();
    for (i, row) in trace.iter_mut().enumerate().skip(600).take(60) {
        let swing = 1.0 + 0.06 * (std::f64::consts::TAU * 3.0 * i as f64 / 30.0).sin();
        row.iter_mut().for_each(|v| *v *= 0.66 * swing);
    }
    let report = analyse(&render_trace(dir.path(), "motion", trace, 39.0));
    assert!(report.usable, "{:?}", codes(&report));
    let hr = report.heart_rate_bpm.unwrap();
    assert!((hr - EMBEDDED_TRACE_HEART_RATE_BPM).abs() < 1.5, "{hr}");
    let overlaps = |w: &oxicam_signal::WindowResult| w.start_s < 22.0 && w.end_s > 20.0;
    for w in &report.windows {
        if overlaps(w) {
            assert!(w.motion_share.unwrap_or(0.0) > 0.05, "{w:?}");
        } else if w.end_s < 18.0 || w.start_s > 24.0 {
            assert_eq!(w.motion_share, Some(0.0), "{w:?}");
            assert!(w.usable, "{w:?}");
        }
    }
    // Windows that keep most of their 10 s answer despite the cut.
    let answered_over_it = report
        .windows
        .iter()
        .filter(|w| overlaps(w) && w.usable)
        .count();
    assert!(answered_over_it >= 2, "{:?}", report.windows);
}

#[test]
fn fingertip_noise_without_a_pulse_gets_no_heart_rate() {
    // A torch-red fingertip whose light only flickers at random (sensor and codec noise, 1 %):
    // the beat search must not turn noise into a rate.
    let dir = common::temp_dir();
    let mut seed = 11u64;
    let trace: Vec<[f64; 3]> = (0..1200)
        .map(|_| {
            let mut noise = || {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.035
            };
            [
                230.0 * (1.0 + noise()),
                40.0 * (1.0 + noise()),
                12.0 * (1.0 + noise()),
            ]
        })
        .collect();
    let report = analyse(&render_trace(dir.path(), "noise", trace, 38.0));
    assert!(!report.usable, "{:?}", report.heart_rate_bpm);
    let reasons = codes(&report);
    assert!(
        matches!(reasons.first(), Some(Gate::LowSnr | Gate::NoPulse)),
        "{reasons:?}"
    );
}
