//! Fitting the SpO2 model from labelled windows: ridge submodels per channel set with a fixed,
//! a-priori penalty, deterministic (same windows in, same file out).

use crate::features::WindowFeatures;
use crate::model::{LinearSubmodel, Spo2Model};

/// Channel sets, largest first: the model uses the first one whose channels are all in range.
pub const CHANNEL_SETS: &[&[&str]] = &[
    &["red", "green", "blue"],
    &["red", "green"],
    &["red", "blue"],
    &["green", "blue"],
];

/// Settings fixed before looking at any held-out number.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Ridge penalty per training sample on standardised features.
    pub alpha: f64,
    pub output_range: [f64; 2],
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            alpha: 0.1,
            output_range: [70.0, 100.0],
        }
    }
}

/// The features a channel set offers: the ratios of ratios between its channels and their logs.
pub fn features_for(channels: &[&str]) -> Vec<&'static str> {
    let has = |c: &str| channels.contains(&c);
    let mut out = Vec::new();
    for (a, b, names) in [
        ("red", "green", ["ror_rg", "log_ror_rg"]),
        ("red", "blue", ["ror_rb", "log_ror_rb"]),
        ("green", "blue", ["ror_gb", "log_ror_gb"]),
    ] {
        if has(a) && has(b) {
            out.extend(names);
        }
    }
    out
}

/// Fits every channel set's submodel; sets with too few complete windows are skipped.
/// Returns `None` when not even one submodel could be fitted.
pub fn fit_model(
    version: &str,
    rows: &[&WindowFeatures],
    labels: &[f64],
    opts: &TrainOptions,
    provenance: serde_json::Value,
) -> Option<Spo2Model> {
    let submodels: Vec<LinearSubmodel> = CHANNEL_SETS
        .iter()
        .filter_map(|set| {
            LinearSubmodel::fit_ridge(set, &features_for(set), rows, labels, opts.alpha)
        })
        .collect();
    (!submodels.is_empty()).then(|| Spo2Model {
        version: version.to_string(),
        kind: "ridge".to_string(),
        output_range: opts.output_range,
        submodels,
        provenance,
    })
}
