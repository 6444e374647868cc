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
