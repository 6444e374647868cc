//! Fuzzes the model file loader (`--model FILE`, `OXICAM_MODEL`): any JSON the loader accepts
//! must then predict without panicking, within its output range, on windows of every shape
//! (channels in and out of range, zero, tiny and huge amplitudes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxicam_signal::{Spo2Model, WindowFeatures};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(model) = Spo2Model::from_json_str(text) else {
        return;
    };
    let [lo, hi] = model.output_range;
    let amplitudes = [0.0, 1e-12, 0.004, 0.02, 1.0, 1e300];
    let levels = [0.0, 1.0, 128.0, 255.0];
    let mut windows = Vec::new();
    for (i, &a) in amplitudes.iter().enumerate() {
        for &dc in &levels {
            let b = amplitudes[(i + 2) % amplitudes.len()];
            let in_range = [i % 2 == 0, true, i % 3 != 0];
            windows.push(WindowFeatures::from_amplitudes(
                [a, b, a * 0.5],
                [dc, dc, 1.0],
                in_range,
            ));
        }
    }
    for w in &windows {
        if let Some(y) = model.predict(w) {
            assert!(
                y.is_finite() && (lo..=hi).contains(&y),
                "estimate {y} outside [{lo}, {hi}]"
            );
        }
    }
    let centres: Vec<f64> = (0..windows.len()).map(|i| i as f64 * 2.5).collect();
    let refs: Vec<Option<&WindowFeatures>> = windows.iter().map(Some).collect();
    let series = model.predict_series(&centres, &refs);
    assert_eq!(series.len(), windows.len());
    let round_trip =
        Spo2Model::from_json_str(&model.to_json_pretty()).expect("a loaded model re-loads");
    assert_eq!(round_trip.version, model.version);
});
