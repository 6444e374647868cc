//! Fuzzes the model file loader (`--model FILE`, `OXICAM_MODEL`): any JSON the loader accepts
//! must then analyse a real trace (the embedded 40 s one) without panicking, and give an SpO2
//! only inside the model's output range, with a finite interval around it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxicam_signal::{analyze, AnalysisOptions, Spo2Model, Trace};
use std::sync::OnceLock;

fn trace() -> &'static Trace {
    static TRACE: OnceLock<Trace> = OnceLock::new();
    TRACE.get_or_init(|| Trace::from_rgb_rows(&oxicam_video::synth::embedded_trace(), 30.0))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(model) = Spo2Model::from_json_str(text) else {
        return;
    };
    let report = analyze(trace(), &model, &AnalysisOptions::default());
    let [lo, hi] = model.output_range;
    if let Some(spo2) = report.spo2_percent {
        assert!(
            spo2.is_finite() && (lo..=hi).contains(&spo2),
            "SpO2 {spo2} outside the model's range [{lo}, {hi}]"
        );
    }
    if let Some([a, b]) = report.spo2_interval_percent {
        assert!(
            a.is_finite() && b.is_finite() && a <= b,
            "interval [{a}, {b}]"
        );
    }
    serde_json::to_string(&report).expect("the report serialises");
    let round_trip =
        Spo2Model::from_json_str(&model.to_json_pretty()).expect("a loaded model re-loads");
    assert_eq!(round_trip.version, model.version);
});
