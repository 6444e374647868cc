//! Synthetic traces with known truth: heart rate through harmonics, drift, noise, jittered
//! timestamps, motion bursts and clipping; and one test per quality gate that trips it.

mod common;

use common::shipped_model;
use oxicam_signal::{
    analyze, AnalysisOptions, Channel, FrameSample, Gate, Report, Spo2Status, Trace,
};
use std::f64::consts::PI;

/// Deterministic pseudo-noise in [-0.5, 0.5).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

#[derive(Clone)]
struct Synth {
    seconds: f64,
    fps: f64,
    bpm: f64,
    /// Mean level per channel (8-bit).
    dc: [f64; 3],
    /// Pulse depth per channel (AC/DC).
    depth: [f64; 3],
    /// Second-harmonic amplitude relative to the fundamental.
    harmonic: f64,
    /// Slow baseline wander (share of DC) at 0.05 Hz.
    drift: f64,
    /// White noise amplitude (8-bit units).
    noise: f64,
    /// Timestamp jitter (s), as from a variable-frame-rate phone video.
    jitter_s: f64,
    /// (start_s, end_s, amplitude): large random steps in brightness (hand moved).
    motion: Vec<(f64, f64, f64)>,
    luma_grid_sd: Option<f64>,
    seed: u64,
}

impl Default for Synth {
    fn default() -> Self {
        Synth {
            seconds: 40.0,
            fps: 30.0,
            bpm: 72.0,
            dc: [180.0, 60.0, 40.0],
            depth: [0.01, 0.03, 0.02],
            harmonic: 0.5,
            drift: 0.02,
            noise: 0.3,
            jitter_s: 0.0,
            motion: Vec::new(),
            luma_grid_sd: None,
            seed: 7,
        }
    }
}

impl Synth {
    /// Levels and pulse depths like the UW phone's fingertips, so that SpO2 is inside the
    /// model's domain (ratios of ratios near the training data's).
    fn uw_like() -> Synth {
        Synth {
            dc: [50.0, 70.0, 45.0],
            depth: [0.012, 0.02, 0.014],
            ..Synth::default()
        }
    }

    fn trace(&self) -> Trace {
        let mut rng = Lcg(self.seed);
        let n = (self.seconds * self.fps) as usize;
        let f = self.bpm / 60.0;
        let mut motion_level = 0.0;
        let samples = (0..n)
            .map(|i| {
                let t = i as f64 / self.fps + self.jitter_s * rng.next();
                // A beat darkens the frame (more blood absorbs more light).
                let beat =
                    (2.0 * PI * f * t).sin() + self.harmonic * (4.0 * PI * f * t + 0.8).sin();
                let wander = self.drift * (2.0 * PI * 0.05 * t).sin();
                let moving = self.motion.iter().find(|m| t >= m.0 && t < m.1);
                if let Some(m) = moving {
                    if i % 15 == 0 {
                        motion_level = m.2 * rng.next() * 2.0;
                    }
                } else {
                    motion_level = 0.0;
                }
                let rgb = [0, 1, 2].map(|c| {
                    let v = self.dc[c] * (1.0 + wander - self.depth[c] * beat / 1.5)
                        + motion_level * self.dc[c]
                        + self.noise * rng.next();
                    v.clamp(0.0, 255.0)
                });
                FrameSample {
                    t_s: t,
                    roi_rgb: rgb,
                    full_rgb: rgb,
                    clipped_fraction: None,
                    luma_grid_sd: self.luma_grid_sd,
                }
            })
            .collect();
        Trace {
            samples,
            truncated: false,
        }
    }

    fn run(&self) -> Report {
        analyze(&self.trace(), &shipped_model(), &AnalysisOptions::default())
    }
}

fn codes(r: &Report) -> Vec<&str> {
    r.quality.reasons.iter().map(|q| q.code.code()).collect()
}

#[test]
fn known_heart_rates_through_harmonics_drift_and_noise() {
    for bpm in [45.0, 58.0, 72.0, 96.0, 130.0, 175.0] {
        let r = Synth {
            bpm,
            ..Synth::uw_like()
        }
        .run();
        assert!(r.usable, "{bpm}: {:?}", codes(&r));
        let hr = r.heart_rate_bpm.unwrap();
        assert!((hr - bpm).abs() < 0.6, "{bpm} bpm measured as {hr}");
        // The training subjects' pulse was 43-92 bpm: above that the pulse shape (second
        // harmonic beyond the band) is outside the model's domain and SpO2 is withheld.
        if bpm <= 96.0 {
            let spo2 = r.spo2_percent.unwrap_or_default();
            assert!(
                (70.0..=100.0).contains(&spo2),
                "{bpm}: {:?}",
                r.quality.reasons
            );
            let [lo, hi] = r.spo2_interval_percent.unwrap();
            assert!(lo < spo2 && spo2 <= hi && hi <= 100.0 && hi - lo > 5.0);
            assert_eq!(r.spo2_status, Spo2Status::Estimated);
            assert!(r.quality.reasons.is_empty(), "{:?}", codes(&r));
        } else {
            assert!(r.spo2_percent.is_some() || codes(&r) == ["spo2_out_of_domain"]);
        }
        assert!(
            r.confidence > 0.5 && r.confidence <= 1.0,
            "{}",
            r.confidence
        );
    }
}

#[test]
fn beats_give_the_mean_rate_of_a_drifting_pulse() {
    // Rate rising linearly from 60 to 72 bpm over 40 s: each window's rate is the mean over
    // its 10 s, which beats give and a single spectral peak does not.
    let fs = 30.0;
    let rgb: Vec<[f64; 3]> = (0..1300)
        .map(|i| {
            let t = i as f64 / fs;
            let phase = 2.0 * PI * (1.0 * t + 0.2 / 40.0 * t * t / 2.0);
            let pulse = 0.01 * phase.sin();
            [
                200.0 * (1.0 + pulse),
                60.0 * (1.0 + 1.2 * pulse),
                40.0 * (1.0 + pulse),
            ]
        })
        .collect();
    let trace = Trace::from_rgb_rows(&rgb, fs);
    let report = analyze(&trace, &shipped_model(), &AnalysisOptions::default());
    assert!(report.usable, "{:?}", codes(&report));
    for w in &report.windows {
        let mid = 0.5 * (w.start_s + w.end_s);
        let truth = 60.0 * (1.0 + 0.2 / 40.0 * mid);
        let hr = w.heart_rate_bpm.unwrap();
        assert!((hr - truth).abs() < 0.3, "{mid} s: {hr} vs {truth}");
        assert!(w.beat_coverage.unwrap() > 0.8);
    }
    let beats = report.beats.unwrap();
    assert!(
        beats.quality.iter().filter(|&&q| q > 0.9).count() as f64
            > 0.9 * beats.times_s.len() as f64
    );
}

#[test]
fn dominant_second_harmonic_is_not_mistaken_for_the_rate() {
    let r = Synth {
        bpm: 60.0,
        harmonic: 1.6,
        ..Synth::default()
    }
    .run();
    assert!(
        (r.heart_rate_bpm.unwrap() - 60.0).abs() < 0.6,
        "{:?}",
        r.heart_rate_bpm
    );
}

#[test]
fn jittered_timestamps_are_resampled_not_trusted_as_uniform() {
    // Frames at 24 fps with jitter: treating them as 30 fps would read 80 bpm as 64.
    let r = Synth {
        bpm: 80.0,
        fps: 24.0,
        jitter_s: 0.01,
        ..Synth::default()
    }
    .run();
    assert!(
        (r.heart_rate_bpm.unwrap() - 80.0).abs() < 0.8,
        "{:?}",
        r.heart_rate_bpm
    );
}

#[test]
fn motion_bursts_are_flagged_and_skipped() {
    let r = Synth {
        bpm: 66.0,
        seconds: 60.0,
        motion: vec![(25.0, 31.0, 0.2)],
        ..Synth::default()
    }
    .run();
    assert!(r.usable);
    let flagged: Vec<_> = r
        .windows
        .iter()
        .filter(|w| w.reasons.contains(&Gate::Motion))
        .collect();
    assert!(!flagged.is_empty(), "no window flagged for motion");
    for w in &flagged {
        assert!(
            w.start_s < 31.0 && w.end_s > 25.0,
            "clean window {}-{} flagged",
            w.start_s,
            w.end_s
        );
        assert!(w.heart_rate_bpm.is_none() && !w.usable);
    }
    assert!((r.heart_rate_bpm.unwrap() - 66.0).abs() < 0.6);
}

#[test]
fn clipped_red_is_left_out_and_named() {
    // Auto exposure as on many phones: red saturated, green and blue in range.
    let r = Synth {
        dc: [300.0, 80.0, 40.0],
        ..Synth::default()
    }
    .run();
    assert!(r.usable, "{:?}", codes(&r));
    assert_eq!(r.channels.excluded, vec![Channel::Red]);
    assert_eq!(r.channels.in_range, vec![Channel::Green, Channel::Blue]);
    assert!((r.heart_rate_bpm.unwrap() - 72.0).abs() < 0.6);
    // The model needs red: SpO2 is withheld with a reason naming it, heart rate is given.
    assert!(r.spo2_percent.is_none() && r.spo2_interval_percent.is_none());
    assert_eq!(r.spo2_status, Spo2Status::OutOfDomain);
    assert_eq!(codes(&r), vec!["spo2_out_of_domain"]);
    assert!(r.quality.reasons[0].message.contains("red channel"));
}

#[test]
fn one_channel_in_range_gives_heart_rate_without_spo2() {
    let r = Synth {
        dc: [300.0, 80.0, 2.0],
        ..Synth::default()
    }
    .run();
    assert!(r.usable);
    assert!(r.heart_rate_bpm.is_some() && r.spo2_percent.is_none());
    assert_eq!(codes(&r), vec!["spo2_out_of_domain"]);
}

#[test]
fn every_spo2_answer_carries_the_screen_of_the_shipped_model() {
    let trace = Synth::uw_like().trace();
    let model = shipped_model();
    let screen = model.screen.expect("the shipped model has a screen");
    let r = analyze(&trace, &model, &AnalysisOptions::default());
    assert_eq!(r.spo2_status, Spo2Status::Estimated);
    assert_eq!(
        r.hypoxaemia,
        Some(screen.classify(r.spo2_percent.unwrap())),
        "{r:?}"
    );
    for w in &r.windows {
        let screened = matches!(
            w.spo2_status,
            Spo2Status::Estimated | Spo2Status::BelowRange
        );
        assert_eq!(w.hypoxaemia.is_some(), screened, "{w:?}");
    }
}

#[test]
fn waveform_is_the_pulse_at_fifteen_hertz() {
    let r = Synth {
        bpm: 60.0,
        ..Synth::default()
    }
    .run();
    let w = r.waveform.unwrap();
    assert_eq!(w.rate_hz, 15.0);
    assert!(
        (w.samples.len() as f64 - 37.0 * 15.0).abs() <= 2.0,
        "{}",
        w.samples.len()
    );
    // One beat per second: 15 samples apart the wave repeats.
    let mid = &w.samples[150..300];
    let lagged = &w.samples[165..315];
    let corr: f64 = mid.iter().zip(lagged).map(|(a, b)| a * b).sum::<f64>()
        / mid.iter().map(|a| a * a).sum::<f64>();
    assert!(corr > 0.9, "{corr}");
    assert_eq!(r.channels.heart_rate, Some(Channel::Green));
}

#[test]
fn json_has_the_contract_fields() {
    let r = Synth::default().run();
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    // The schema version comes first, so a reader sees it before anything it may not know.
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        text.starts_with(r#"{"schema_version":"5","#),
        "{}",
        &text[..40]
    );
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
    for key in [
        "heart_rate_bpm",
        "spo2_percent",
        "confidence",
        "usable",
        "quality",
        "windows",
        "model",
        "video",
        "notice",
        "waveform",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let w = &v["windows"][0];
    for key in [
        "start_s",
        "end_s",
        "heart_rate_bpm",
        "spo2_percent",
        "usable",
    ] {
        assert!(w.get(key).is_some(), "window missing {key}");
    }
    assert_eq!(v["model"]["version"], shipped_model().version());
}

// ---- one test per gate ----

#[test]
fn gate_lens_not_covered_scene_with_grid_variation() {
    // Torch on, no finger: bright (red ~229), no pulse, a non-uniform scene.
    let r = Synth {
        dc: [229.0, 225.0, 220.0],
        depth: [0.0; 3],
        noise: 2.0,
        luma_grid_sd: Some(45.0),
        ..Synth::default()
    }
    .run();
    assert!(!r.usable && r.heart_rate_bpm.is_none() && r.spo2_percent.is_none());
    assert_eq!(codes(&r)[0], "lens_not_covered");
}

#[test]
fn gate_lens_not_covered_without_pixel_statistics() {
    // Same scene from a CSV (no grid statistics): no pulse and the colour of a scene.
    let r = Synth {
        dc: [229.0, 225.0, 220.0],
        depth: [0.0; 3],
        noise: 2.0,
        ..Synth::default()
    }
    .run();
    assert!(!r.usable);
    assert_eq!(codes(&r)[0], "lens_not_covered");
}

#[test]
fn gate_lens_not_covered_even_with_a_flicker_when_the_frame_is_a_scene() {
    let r = Synth {
        luma_grid_sd: Some(40.0),
        ..Synth::default()
    }
    .run();
    assert!(!r.usable);
    assert!(codes(&r).contains(&"lens_not_covered"));
}

#[test]
fn gate_channel_clipped() {
    let r = Synth {
        dc: [400.0, 300.0, 300.0],
        ..Synth::default()
    }
    .run();
    assert!(!r.usable && r.heart_rate_bpm.is_none());
    assert!(codes(&r).contains(&"channel_clipped"), "{:?}", codes(&r));
    let dark = Synth {
        dc: [3.0, 2.0, 2.0],
        ..Synth::default()
    }
    .run();
    assert!(!dark.usable);
    assert!(
        codes(&dark).contains(&"channel_clipped"),
        "{:?}",
        codes(&dark)
    );
}

#[test]
fn gate_motion() {
    let r = Synth {
        motion: vec![(0.0, 40.0, 0.3)],
        ..Synth::default()
    }
    .run();
    assert!(!r.usable);
    assert!(codes(&r).contains(&"motion"), "{:?}", codes(&r));
}

#[test]
fn gate_too_short() {
    let r = Synth {
        seconds: 12.0,
        ..Synth::default()
    }
    .run();
    assert!(!r.usable);
    assert_eq!(codes(&r), vec!["too_short"]);
}

#[test]
fn gate_low_snr() {
    // A fingertip (red-dominant colour) but the pulse is buried in noise.
    let r = Synth {
        depth: [0.0005, 0.0005, 0.0005],
        noise: 3.0,
        ..Synth::default()
    }
    .run();
    assert!(!r.usable);
    assert_eq!(codes(&r)[0], "low_snr", "{:?}", codes(&r));
}

#[test]
fn gate_no_pulse_on_a_flat_finger_coloured_frame() {
    // A lit, finger-coloured but motionless frame (a still image, or codec noise only): the
    // spectrum always has some peak, but there is nothing pulsing.
    let r = Synth {
        depth: [0.0; 3],
        drift: 0.0,
        noise: 0.02,
        luma_grid_sd: Some(2.0),
        ..Synth::default()
    }
    .run();
    assert!(
        !r.usable && r.heart_rate_bpm.is_none(),
        "{:?}",
        r.heart_rate_bpm
    );
    assert_eq!(codes(&r)[0], "no_pulse", "{:?}", codes(&r));
}

#[test]
fn gate_hr_out_of_range() {
    let r = Synth {
        bpm: 225.0,
        harmonic: 0.0,
        ..Synth::default()
    }
    .run();
    assert!(!r.usable, "{:?}", r.heart_rate_bpm);
    assert!(codes(&r).contains(&"hr_out_of_range"), "{:?}", codes(&r));
}

#[test]
fn gate_invalid_trace_and_truncated() {
    let model = shipped_model();
    let r = analyze(&Trace::default(), &model, &AnalysisOptions::default());
    assert_eq!(codes(&r), vec!["invalid_trace"]);
    let mut t = Synth::default().trace();
    t.truncated = true;
    let r = analyze(&t, &model, &AnalysisOptions::default());
    assert!(r.usable && codes(&r).contains(&"truncated"));
}

#[test]
fn hostile_traces_never_panic() {
    let model = shipped_model();
    let opts = AnalysisOptions::default();
    let sample = |t: f64, v: f64| FrameSample {
        t_s: t,
        roi_rgb: [v; 3],
        full_rgb: [v; 3],
        clipped_fraction: Some([2.0, -1.0, f64::NAN]),
        luma_grid_sd: Some(f64::NAN),
    };
    let cases: Vec<Vec<FrameSample>> = vec![
        vec![sample(0.0, 1.0)],
        (0..2000).map(|_| sample(0.0, 100.0)).collect(),
        (0..2000).map(|i| sample(-(i as f64), 100.0)).collect(),
        (0..2000)
            .map(|i| sample(i as f64 / 30.0, f64::NAN))
            .collect(),
        (0..2000)
            .map(|i| sample(i as f64 / 30.0, if i % 2 == 0 { 1e300 } else { -1e300 }))
            .collect(),
        (0..2000).map(|i| sample(i as f64 * 1000.0, 50.0)).collect(),
        (0..400).map(|i| sample(i as f64 / 30.0, 0.0)).collect(),
    ];
    for samples in cases {
        let r = analyze(
            &Trace {
                samples,
                truncated: false,
            },
            &model,
            &opts,
        );
        assert!(!r.usable || r.heart_rate_bpm.is_some());
        serde_json::to_string(&r).unwrap();
    }
}

#[test]
fn hrv_is_reported_from_thirty_seconds_of_clean_beats_only() {
    use oxicam_signal::report::HrvReasonCode;
    // 3 s settle trimmed: 45 s leaves about 40 s of beats, 31 s leaves under 28 s.
    let long = Synth {
        seconds: 45.0,
        ..Synth::default()
    }
    .run();
    let hrv = long.hrv.expect("45 s of clean beats give HRV");
    assert!(long.hrv_reason.is_none());
    assert!(hrv.seconds >= 30.0, "{hrv:?}");
    // A steady 72 bpm: NN 833 ms, next to no variability.
    assert!((hrv.mean_nn_ms - 60_000.0 / 72.0).abs() < 3.0, "{hrv:?}");
    assert!(hrv.rmssd_ms < 10.0 && hrv.sdnn_ms < 10.0, "{hrv:?}");
    let short = Synth {
        seconds: 31.0,
        ..Synth::default()
    }
    .run();
    assert!(short.usable && short.hrv.is_none());
    let reason = short.hrv_reason.clone().expect("a reason for no HRV");
    assert_eq!(reason.code, HrvReasonCode::TooLittleCleanSignal);
    assert!(reason.seconds > 20.0 && reason.seconds < 30.0, "{reason:?}");
    let json = serde_json::to_value(&short).unwrap();
    assert_eq!(json["hrv"], serde_json::Value::Null);
    assert_eq!(json["hrv_reason"]["code"], "too_little_clean_signal");
    // Motion over the middle of a long recording leaves too little between the cut-outs.
    let moved = Synth {
        seconds: 45.0,
        motion: vec![(12.0, 30.0, 0.3)],
        ..Synth::default()
    }
    .run();
    assert!(moved.hrv.is_none(), "{:?}", moved.hrv);
}
