//! The SpO2 model: versioned JSON (features, coefficients, provenance, cross-validated metrics)
//! and its prediction; ridge submodels per set of in-range channels, fitted with nalgebra.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::features::WindowFeatures;

/// The default model, compiled into every binary.
const EMBEDDED_MODEL_JSON: &str = include_str!("../../../models/spo2-2026.1.json");

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid model JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// A linear model over features computed from one set of colour channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSubmodel {
    /// Channels the features need (`red`, `green`, `blue`); used when all are in range.
    pub channels: Vec<String>,
    pub features: Vec<String>,
    /// Standardisation learnt on the training windows: z = (x - mean) / scale, clamped.
    pub feature_mean: Vec<f64>,
    pub feature_scale: Vec<f64>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

/// Standardised features are clamped to this many training SDs so one wild window (a ratio of
/// two tiny amplitudes) cannot produce a wild estimate.
const Z_CLAMP: f64 = 4.0;

impl LinearSubmodel {
    fn check(&self) -> Result<(), ModelError> {
        let n = self.features.len();
        if self.feature_mean.len() != n
            || self.feature_scale.len() != n
            || self.coefficients.len() != n
        {
            return Err(ModelError::Invalid(format!(
                "submodel for {:?}: features, mean, scale and coefficients differ in length",
                self.channels
            )));
        }
        for name in &self.features {
            if !crate::features::FEATURE_NAMES.contains(&name.as_str()) {
                return Err(ModelError::Invalid(format!("unknown feature {name:?}")));
            }
        }
        for c in &self.channels {
            if crate::features::channel_index(c).is_none() {
                return Err(ModelError::Invalid(format!("unknown channel {c:?}")));
            }
        }
        let all_finite = self
            .feature_mean
            .iter()
            .chain(&self.feature_scale)
            .chain(&self.coefficients)
            .chain(std::iter::once(&self.intercept))
            .all(|v| v.is_finite());
        if !all_finite || self.feature_scale.iter().any(|&s| s <= 0.0) {
            return Err(ModelError::Invalid(
                "non-finite or non-positive numbers".into(),
            ));
        }
        Ok(())
    }

    pub fn predict(&self, f: &WindowFeatures) -> Option<f64> {
        let mut y = self.intercept;
        for (i, name) in self.features.iter().enumerate() {
            let x = f.value(name)?;
            let z = ((x - self.feature_mean[i]) / self.feature_scale[i]).clamp(-Z_CLAMP, Z_CLAMP);
            y += self.coefficients[i] * z;
        }
        y.is_finite().then_some(y)
    }

    /// Ridge regression on standardised features (intercept not penalised). `alpha` is the
    /// penalty per training sample, so its meaning does not change with the data size.
    pub fn fit_ridge(
        channels: &[&str],
        features: &[&str],
        rows: &[&WindowFeatures],
        labels: &[f64],
        alpha: f64,
    ) -> Option<LinearSubmodel> {
        let data: Vec<(Vec<f64>, f64)> = rows
            .iter()
            .zip(labels)
            .filter_map(|(f, &y)| {
                let x: Option<Vec<f64>> = features.iter().map(|n| f.value(n)).collect();
                x.map(|x| (x, y))
            })
            .collect();
        let n = data.len();
        let p = features.len();
        if n < 2 * p + 2 {
            return None;
        }
        let mut mean = vec![0.0; p];
        for (x, _) in &data {
            for j in 0..p {
                mean[j] += x[j] / n as f64;
            }
        }
        let mut scale = vec![0.0; p];
        for (x, _) in &data {
            for j in 0..p {
                scale[j] += (x[j] - mean[j]).powi(2) / n as f64;
            }
        }
        let scale: Vec<f64> = scale.iter().map(|v| v.sqrt().max(1e-9)).collect();
        let y_mean = data.iter().map(|d| d.1).sum::<f64>() / n as f64;
        let xm = DMatrix::from_fn(n, p, |i, j| {
            ((data[i].0[j] - mean[j]) / scale[j]).clamp(-Z_CLAMP, Z_CLAMP)
        });
        let yv = DVector::from_fn(n, |i, _| data[i].1 - y_mean);
        let gram = xm.transpose() * &xm + DMatrix::identity(p, p) * (alpha * n as f64);
        let beta = gram.cholesky()?.solve(&(xm.transpose() * yv));
        // Centring is exact only before clamping; refit the intercept on the clamped design.
        let fitted = &xm * &beta;
        let intercept = y_mean
            + (0..n)
                .map(|i| (data[i].1 - y_mean) - fitted[i])
                .sum::<f64>()
                / n as f64;
        Some(LinearSubmodel {
            channels: channels.iter().map(|s| s.to_string()).collect(),
            features: features.iter().map(|s| s.to_string()).collect(),
            feature_mean: mean,
            feature_scale: scale,
            coefficients: beta.iter().copied().collect(),
            intercept,
        })
    }
}

/// A versioned SpO2 model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spo2Model {
    pub version: String,
    /// `ridge`: one linear submodel per channel set.
    pub kind: String,
    /// Estimates are clamped to this range (the range the model was trained on).
    pub output_range: [f64; 2],
    /// Tried in order; the first whose channels are all in range is used.
    pub submodels: Vec<LinearSubmodel>,
    /// Window estimates are replaced by the median of the usable estimates whose window
    /// centres lie within this span (s); 0 = none. Oxygen saturation changes over tens of
    /// seconds while single-window features are noisy.
    #[serde(default)]
    pub smoothing_s: f64,
    /// Where the model came from: data, subjects, label source, lag, metrics. Free-form.
    #[serde(default)]
    pub provenance: serde_json::Value,
}

impl Spo2Model {
    /// The default model compiled into the binary.
    pub fn embedded() -> Spo2Model {
        // Checked by a unit test, so a broken file cannot ship.
        Spo2Model::from_json_str(EMBEDDED_MODEL_JSON).expect("embedded model is valid")
    }

    pub fn from_json_str(json: &str) -> Result<Spo2Model, ModelError> {
        let model: Spo2Model = serde_json::from_str(json)?;
        model.check()?;
        Ok(model)
    }

    pub fn from_path(path: &Path) -> Result<Spo2Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Spo2Model::from_json_str(&text)
    }

    pub fn to_json_pretty(&self) -> String {
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string_pretty(self).expect("model serialises")
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    fn check(&self) -> Result<(), ModelError> {
        if self.version.trim().is_empty() {
            return Err(ModelError::Invalid("empty version".into()));
        }
        if self.kind != "ridge" {
            return Err(ModelError::Invalid(format!(
                "unknown model kind {:?}",
                self.kind
            )));
        }
        let [lo, hi] = self.output_range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(ModelError::Invalid(
                "output_range must be [low, high]".into(),
            ));
        }
        if !(self.smoothing_s.is_finite() && self.smoothing_s >= 0.0) {
            return Err(ModelError::Invalid(
                "smoothing_s must be a non-negative number".into(),
            ));
        }
        if self.submodels.is_empty() {
            return Err(ModelError::Invalid("no submodels".into()));
        }
        self.submodels.iter().try_for_each(LinearSubmodel::check)
    }

    /// Temporal smoothing of per-window estimates (see `smoothing_s`); windows without an
    /// estimate stay without one.
    pub fn smooth(&self, centres_s: &[f64], raw: &[Option<f64>]) -> Vec<Option<f64>> {
        if self.smoothing_s <= 0.0 {
            return raw.to_vec();
        }
        let half = self.smoothing_s / 2.0;
        centres_s
            .iter()
            .zip(raw)
            .map(|(&t, r)| {
                r.as_ref()?;
                let mut near: Vec<f64> = centres_s
                    .iter()
                    .zip(raw)
                    .filter(|(&u, _)| (u - t).abs() <= half)
                    .filter_map(|(_, v)| *v)
                    .collect();
                near.sort_by(f64::total_cmp);
                let n = near.len();
                Some(if n % 2 == 1 {
                    near[n / 2]
                } else {
                    0.5 * (near[n / 2 - 1] + near[n / 2])
                })
            })
            .collect()
    }

    /// Estimates for a recording's windows: per-window prediction, then smoothing.
    pub fn predict_series(
        &self,
        centres_s: &[f64],
        features: &[Option<&WindowFeatures>],
    ) -> Vec<Option<f64>> {
        let raw: Vec<Option<f64>> = features
            .iter()
            .map(|f| f.and_then(|f| self.predict(f)))
            .collect();
        self.smooth(centres_s, &raw)
    }

    /// SpO2 estimate of one window (clamped to the output range), or `None` when no submodel
    /// has its channels in range.
    pub fn predict(&self, f: &WindowFeatures) -> Option<f64> {
        self.submodels
            .iter()
            .filter(|m| m.channels.iter().all(|c| f.channel_in_range(c)))
            .find_map(|m| m.predict(f))
            .map(|y| y.clamp(self.output_range[0], self.output_range[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_model_loads_and_has_a_version() {
        let m = Spo2Model::embedded();
        assert!(m.version().starts_with("spo2-"));
        assert!(!m.submodels.is_empty());
    }

    #[test]
    fn broken_model_files_are_rejected_with_a_reason() {
        let good = Spo2Model::embedded().to_json_pretty();
        assert!(Spo2Model::from_json_str(&good).is_ok());
        let err = Spo2Model::from_json_str("{").unwrap_err();
        assert!(err.to_string().contains("invalid model JSON"));
        let mut m = Spo2Model::embedded();
        m.submodels[0].features.push("nonsense".into());
        let err = Spo2Model::from_json_str(&m.to_json_pretty()).unwrap_err();
        assert!(
            err.to_string().contains("differ in length") || err.to_string().contains("unknown")
        );
        let err = Spo2Model::from_path(Path::new("/nonexistent/model.json")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/model.json"));
    }

    #[test]
    fn ridge_recovers_a_linear_relation() {
        let feats: Vec<WindowFeatures> = (0..200)
            .map(|i| {
                let r = 0.5 + (i % 17) as f64 / 40.0;
                let g = 0.7 + (i % 11) as f64 / 50.0;
                WindowFeatures::from_amplitudes([r, g, 1.0], [100.0, 90.0, 80.0], [true; 3])
            })
            .collect();
        let labels: Vec<f64> = feats
            .iter()
            .map(|f| 90.0 + 5.0 * f.value("log_ror_rg").unwrap())
            .collect();
        let rows: Vec<&WindowFeatures> = feats.iter().collect();
        let m = LinearSubmodel::fit_ridge(&["red", "green"], &["log_ror_rg"], &rows, &labels, 1e-6)
            .unwrap();
        for (f, y) in feats.iter().zip(&labels).take(20) {
            assert!((m.predict(f).unwrap() - y).abs() < 1e-3);
        }
    }
}
