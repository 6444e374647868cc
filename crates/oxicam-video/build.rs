//! Build script: embeds the default SpO2 model. Model files live in `models/` at the workspace
//! root, where `oxicam train` writes them; this script is the one place that names the default
//! (copied into OUT_DIR, rebuilt when the file changes) for `pipeline::default_model`.

use std::path::PathBuf;

/// The model built into every binary, relative to the workspace root.
const DEFAULT_MODEL: &str = "models/spo2-2026.4.json";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let source = manifest_dir.join("../..").join(DEFAULT_MODEL);
    println!("cargo:rerun-if-changed={}", source.display());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::copy(&source, out_dir.join("default_model.json"))
        .unwrap_or_else(|e| panic!("cannot embed the default model {}: {e}", source.display()));
    println!("cargo:rustc-env=OXICAM_DEFAULT_MODEL_FILE={DEFAULT_MODEL}");
}
