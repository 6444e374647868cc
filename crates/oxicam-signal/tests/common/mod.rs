//! Shared helpers for the estimator's integration tests.

#![allow(dead_code)]

use oxicam_signal::Spo2Model;
use std::path::PathBuf;

/// The model file the product ships (`models/` at the repository root), parsed as callers do:
/// the test reads the file, the crate parses the text.
pub fn shipped_model() -> Spo2Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/spo2-2026.4.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Spo2Model::from_json_str(&text).expect("the shipped model parses")
}

/// A data set of the shared folder beside the repository (`../shared/data/<name>`, as on CI);
/// `OXICAM_SHARED_DATA` points elsewhere (a work tree not beside `shared/`).
pub fn shared_data(name: &str) -> PathBuf {
    let root = std::env::var_os("OXICAM_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    );
    let dir = root.join(name);
    assert!(
        dir.is_dir(),
        "shared data missing at {} (../shared/data beside the repo, or set OXICAM_SHARED_DATA)",
        dir.display()
    );
    dir
}

/// The Welltory recordings (`subject_NN/PPG.csv` with `time,R,G,B`, `RR.txt` from the ECG).
pub fn welltory() -> Vec<oxicam_signal::heart_rate::evaluation::BeatReferenced> {
    use oxicam_signal::dataset::{parse_rr_intervals, parse_trace_csv};
    let dir = shared_data("welltory-ppg").join("data");
    (1..=21)
        .map(|k| {
            let rec = dir.join(format!("subject_{k:02}"));
            let ppg = std::fs::read_to_string(rec.join("PPG.csv")).unwrap();
            let rr = std::fs::read_to_string(rec.join("RR.txt")).unwrap();
            oxicam_signal::heart_rate::evaluation::BeatReferenced {
                name: format!("subject_{k:02}"),
                trace: parse_trace_csv(&ppg).unwrap().into_trace(30.0),
                rr_s: parse_rr_intervals(&rr).unwrap(),
            }
        })
        .collect()
}
