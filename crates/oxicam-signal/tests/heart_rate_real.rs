//! Heart rate on both shared sets (UW: oximeter pulse, 4 subjects; Welltory: ECG RR, 21 phones),
//! with the ablation of the heart-rate path printed; bounds from measured numbers with margin.

mod common;

use oxicam_signal::dataset::{parse_reference_csv, parse_trace_csv, LabelSource};
use oxicam_signal::evaluation::{EvalOptions, Recording};
use oxicam_signal::heart_rate::evaluation::{
    ablation_steps, evaluate_beat_referenced, oximeter_heart_rate, HeartRateEval,
};
use oxicam_signal::AnalysisOptions;

fn uw() -> Vec<Recording> {
    let dir = common::shared_data("uw-phone-oximetry");
    let mut out = Vec::new();
    for subject in ["100001", "100002", "100003", "100004"] {
        let text = std::fs::read_to_string(dir.join(format!("reference/{subject}.csv"))).unwrap();
        let reference = parse_reference_csv(&text, LabelSource::Oximeter4).unwrap();
        for hand in ["Left", "Right"] {
            let text =
                std::fs::read_to_string(dir.join(format!("ppg/{hand}/{subject}.csv"))).unwrap();
            out.push(Recording {
                subject: subject.into(),
                hand: hand.into(),
                rgb: parse_trace_csv(&text).unwrap().rgb,
                fps: 30.0,
                reference: reference.clone(),
            });
        }
    }
    out
}

fn line(name: &str, r: &HeartRateEval) -> String {
    format!(
        "{name:<38} MAE {:>5.2} bpm  coverage {:>5.1} % ({}/{})",
        r.heart_rate_mae_bpm.unwrap_or(f64::NAN),
        100.0 * r.coverage,
        r.answered,
        r.windows
    )
}

#[test]
fn heart_rate_on_both_sets_meets_the_targets() {
    let (uw, wt) = (uw(), common::welltory());
    let only_full = std::env::var_os("OXICAM_ABLATION").is_none();
    let steps = ablation_steps();
    let mut last = None;
    for (name, hr) in steps
        .iter()
        .skip(if only_full { steps.len() - 1 } else { 0 })
    {
        let u = oximeter_heart_rate(
            &uw,
            &EvalOptions {
                heart_rate: hr.clone(),
                ..EvalOptions::default()
            },
        );
        let w = evaluate_beat_referenced(
            &wt,
            &AnalysisOptions {
                heart_rate: hr.clone(),
                ..AnalysisOptions::default()
            },
        );
        eprintln!("UW       {}", line(name, &u));
        eprintln!("Welltory {}", line(name, &w));
        last = Some((u, w));
    }
    let (u, w) = last.unwrap();
    if std::env::var_os("OXICAM_DEBUG_HR").is_some() {
        for (set, r) in [("UW", &u), ("Welltory", &w)] {
            let mut counts = std::collections::BTreeMap::new();
            for s in r.scored.iter().filter(|s| s.reference_bpm.is_some()) {
                *counts.entry(s.reasons.join("+")).or_insert(0) += 1;
            }
            eprintln!("{set} reasons: {counts:?}");
            for s in r
                .scored
                .iter()
                .filter(|s| !s.reasons.is_empty() && s.reference_bpm.is_some())
                .filter(|_| set == "Welltory")
            {
                eprintln!(
                    "  {} {:.0} {:?} snr {:?} cov {:.2} ref {:.1}",
                    s.recording,
                    s.start_s,
                    s.reasons,
                    s.snr_db.map(|v| (v * 10.0).round() / 10.0),
                    s.beat_coverage,
                    s.reference_bpm.unwrap_or(0.0)
                );
            }
        }
        for s in u.scored.iter().chain(&w.scored) {
            if let (Some(p), Some(y)) = (s.estimate_bpm, s.reference_bpm) {
                if (p - y).abs() > 3.0 {
                    eprintln!("{} {:.0}s ref {y:.1} got {p:.1}", s.recording, s.start_s);
                }
            }
        }
    }
    assert!(
        u.heart_rate_mae_bpm.unwrap() <= 0.8 && u.coverage >= 0.95,
        "{}",
        line("UW", &u)
    );
    assert!(
        w.heart_rate_mae_bpm.unwrap() <= 1.2 && w.coverage >= 0.9,
        "{}",
        line("Welltory", &w)
    );
}
