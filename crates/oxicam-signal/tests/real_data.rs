//! Heart rate and SpO2 on the real UW phone-camera traces (shared data beside the repo):
//! bounds set from measured leave-one-subject-out numbers, with margin for noise.

mod common;

use std::path::PathBuf;

use oxicam_signal::dataset::{parse_reference_csv, parse_rgb_csv, LabelSource};
use oxicam_signal::evaluation::{evaluate, label_windows, EvalOptions, Recording};

fn data_dir() -> PathBuf {
    // CI has ../shared beside the repo, as here.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/uw-phone-oximetry")
}

fn load() -> Vec<Recording> {
    let dir = data_dir();
    assert!(
        dir.join("ppg").is_dir(),
        "real data missing at {} (expected ../shared/data beside the repo)",
        dir.display()
    );
    let mut out = Vec::new();
    for subject in ["100001", "100002", "100003", "100004"] {
        let reference =
            std::fs::read_to_string(dir.join(format!("reference/{subject}.csv"))).unwrap();
        let reference = parse_reference_csv(&reference, LabelSource::Oximeter4).unwrap();
        for hand in ["Left", "Right"] {
            let text =
                std::fs::read_to_string(dir.join(format!("ppg/{hand}/{subject}.csv"))).unwrap();
            out.push(Recording {
                subject: subject.to_string(),
                hand: hand.to_string(),
                rgb: parse_rgb_csv(&text).unwrap(),
                fps: 30.0,
                reference: reference.clone(),
            });
        }
    }
    out
}

#[test]
fn real_traces_heart_rate_and_loso_spo2_beat_the_bounds() {
    let recordings = load();
    let opts = EvalOptions::default();
    let report = evaluate(&recordings, None, &opts);
    let hr = report.heart_rate_mae_bpm.unwrap();
    eprintln!(
        "HR MAE {hr:.3} bpm over {} windows (coverage {:.3}); SpO2 MAE {:?} vs baseline {:?}",
        report.heart_rate_windows,
        report.heart_rate_coverage,
        report.spo2_mae,
        report.baseline_spo2_mae
    );
    if std::env::var_os("OXICAM_DEBUG_HR").is_some() {
        for rec in &recordings {
            for w in label_windows(rec, &opts) {
                if let (Some(y), Some(p)) = (w.hr_label, w.detail.heart_rate_bpm()) {
                    if (p - y).abs() > 3.0 && w.detail.usable() {
                        eprintln!(
                            "{} {} {:.0}s ref {y:.1} got {p:.1} snr {:.1} ch {:?}",
                            rec.subject,
                            rec.hand,
                            w.detail.start_s,
                            w.detail.peak.unwrap().snr_db,
                            w.detail.channel
                        );
                    }
                }
            }
        }
    }
    // Measured 0.80 bpm at 91.5 % coverage (10 s windows, 5 s hop, reference +7 s); the
    // issue's target is 0.9, ahead of HeartPy (1.05) and a plain FFT (1.18).
    assert!(hr <= 0.9, "heart-rate MAE {hr}");
    assert!(
        report.heart_rate_coverage >= 0.85,
        "coverage {}",
        report.heart_rate_coverage
    );
    // Held-out SpO2 must beat predicting the training mean.
    assert!(report.spo2_mae.unwrap() < report.baseline_spo2_mae.unwrap());
}

#[test]
fn the_shipped_model_is_reproduced_by_training_on_the_shared_data() {
    use oxicam_signal::evaluation::{fit_groups, select_candidate, RecordingWindows};
    let recordings = load();
    let opts = EvalOptions::default();
    let labelled: Vec<_> = recordings.iter().map(|r| label_windows(r, &opts)).collect();
    let groups = RecordingWindows::pair(&recordings, &labelled);
    let candidate = select_candidate(&groups, &opts).candidate;
    let fit = |v: &str| fit_groups(&groups, &candidate, &opts, v, serde_json::Value::Null).unwrap();
    let (a, b) = (fit("a"), fit("a"));
    assert_eq!(a, b, "training is not deterministic");
    let shipped = common::shipped_model();
    assert_eq!(shipped.smoothing_s, a.smoothing_s);
    assert_eq!(shipped.submodels.len(), a.submodels.len());
    for (s, t) in shipped.submodels.iter().zip(&a.submodels) {
        assert_eq!(s.features, t.features);
        for (x, y) in s.coefficients.iter().zip(&t.coefficients) {
            assert!(
                (x - y).abs() < 1e-6,
                "models/spo2-2026.1.json is stale: run `oxicam train`"
            );
        }
        assert!((s.intercept - t.intercept).abs() < 1e-6);
    }
}
