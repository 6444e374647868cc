//! The one way from a recording to a [`Report`], shared by `oxicam analyze`, the HTTP routes and
//! the trace route: decode (or take a trace), analyse, attach the video's facts. Also where the
//! SpO2 model comes from: the default built into the binary, or a file.

use std::path::{Path, PathBuf};

use oxicam_signal::{analyze, AnalysisOptions, ModelError, Report, Spo2Model, Trace, VideoMeta};

use crate::{extract_trace, DecodeOptions, VideoError};

/// The default model's text (see build.rs).
const DEFAULT_MODEL_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/default_model.json"));

/// Where the default model comes from, relative to the repository root.
pub const DEFAULT_MODEL_FILE: &str = env!("OXICAM_DEFAULT_MODEL_FILE");

/// The SpO2 model built into the binary.
pub fn default_model() -> Spo2Model {
    // Checked by a unit test, so a broken file cannot ship.
    Spo2Model::from_json_str(DEFAULT_MODEL_JSON).expect("the built-in model is valid")
}

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model file {path}: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: ModelError,
    },
}

/// The model in `path`, or the built-in one when there is no path.
pub fn load_model(path: Option<&Path>) -> Result<Spo2Model, ModelLoadError> {
    let Some(path) = path else {
        return Ok(default_model());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ModelLoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Spo2Model::from_json_str(&text).map_err(|source| ModelLoadError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// How to decode and how to analyse.
#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    pub decode: DecodeOptions,
    pub analysis: AnalysisOptions,
}

/// Decodes a video file and analyses it; the report carries the video's facts. A file that
/// cannot be decoded is an error; a video that decodes but cannot be measured is a report with
/// `usable: false`.
pub fn analyze_video(
    path: &Path,
    model: &Spo2Model,
    options: &PipelineOptions,
) -> Result<Report, VideoError> {
    let decoded = extract_trace(path, &options.decode)?;
    Ok(analyze_trace(
        &decoded.trace,
        Some(decoded.meta),
        model,
        &options.analysis,
    ))
}

/// Analyses a trace that was already extracted (a CSV trace, or a trace sent by a client);
/// `meta` describes the video it came from, when known.
pub fn analyze_trace(
    trace: &Trace,
    meta: Option<VideoMeta>,
    model: &Spo2Model,
    options: &AnalysisOptions,
) -> Report {
    let mut report = analyze(trace, model, options);
    report.video = meta;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_model_loads_and_has_a_version() {
        let m = default_model();
        assert!(m.version().starts_with("spo2-"));
        assert!(!m.features.is_empty() && m.ridge.is_valid(m.features.len()));
        assert!(DEFAULT_MODEL_FILE.ends_with(&format!("{}.json", m.version())));
        assert_eq!(load_model(None).unwrap(), m);
    }

    #[test]
    fn model_files_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("model.json");
        std::fs::write(&good, default_model().to_json_pretty()).unwrap();
        assert_eq!(load_model(Some(&good)).unwrap(), default_model());

        let missing = dir.path().join("missing.json");
        let err = load_model(Some(&missing)).unwrap_err();
        assert!(matches!(err, ModelLoadError::Io { .. }));
        assert!(err.to_string().contains("missing.json"), "{err}");

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{").unwrap();
        let err = load_model(Some(&broken)).unwrap_err();
        assert!(matches!(err, ModelLoadError::Invalid { .. }));
        assert!(err.to_string().contains("broken.json"), "{err}");
        assert!(err.to_string().contains("invalid model JSON"), "{err}");
    }
}
