//! Fuzzes the trace CSV readers (`oxicam analyze trace.csv` in both forms, fixed-rate `R,G,B`
//! and timed `time_ms,R,G,B`; `oxicam synth --trace`) and the reference CSV reader, then runs
//! the analysis on every trace that parses: a CSV is a trace handed to the estimator, so odd
//! values (huge, tiny, constant, few rows, times that jump or repeat) must give a report, never
//! a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxicam_signal::dataset::{parse_reference_csv, parse_rgb_csv, parse_trace_csv, LabelSource};
use oxicam_signal::{analyze, AnalysisOptions, Spo2Model};
use std::sync::OnceLock;

/// Longest timed trace analysed (s).
const MAX_SPAN_S: f64 = 600.0;

fn model() -> &'static Spo2Model {
    static MODEL: OnceLock<Spo2Model> = OnceLock::new();
    MODEL.get_or_init(oxicam_video::pipeline::default_model)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_reference_csv(text, LabelSource::Oximeter4);
    let _ = parse_reference_csv(text, LabelSource::MeanOfFour);
    if let Ok(rows) = parse_rgb_csv(text) {
        assert!(!rows.is_empty(), "a parsed trace has rows");
        assert!(
            rows.iter().flatten().all(|v| v.is_finite()),
            "non-finite value accepted"
        );
    }
    if let Ok(table) = parse_trace_csv(text) {
        assert!(!table.rgb.is_empty(), "a parsed trace has rows");
        assert!(
            table.rgb.iter().flatten().all(|v| v.is_finite()),
            "non-finite value accepted"
        );
        // Analysis time grows with the span a timed table claims (about 1 ms of CPU per second
        // of trace), so a few bytes can name hours; the upload routes cap the duration, and so
        // does this target, at ten minutes.
        if let Some(times) = &table.times_s {
            let (lo, hi) = times
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
            if hi - lo > MAX_SPAN_S {
                return;
            }
        }
        let report = analyze(
            &table.into_trace(30.0),
            model(),
            &AnalysisOptions::default(),
        );
        if let Some(bpm) = report.heart_rate_bpm {
            assert!(bpm.is_finite() && bpm > 0.0, "heart rate {bpm}");
        }
        serde_json::to_string(&report).expect("the report serialises");
    }
});
