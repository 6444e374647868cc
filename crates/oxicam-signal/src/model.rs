//! The SpO2 model: versioned JSON (features, coefficients, provenance, cross-validated metrics)
//! parsed from text the caller read, and its prediction; ridge submodels per channel set.

use serde::{Deserialize, Serialize};

use crate::features::{Feature, WindowFeatures};
use crate::ridge::{predict_linear, Intercept, Ridge};
use crate::stats::median;
use crate::trace::Channel;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// How a model file computes its estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// One ridge-regression submodel per set of in-range channels (see [`LinearSubmodel`]).
    Ridge,
}

/// A linear model over features computed from one set of colour channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSubmodel {
    /// Channels the features need; the submodel is used when all are in range.
    pub channels: Vec<Channel>,
    pub features: Vec<Feature>,
    /// Standardisation learnt on the training windows: z = (x - mean) / scale, clamped.
    pub feature_mean: Vec<f64>,
    pub feature_scale: Vec<f64>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

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
        let x: Vec<f64> = self
            .features
            .iter()
            .map(|&feature| f.value(feature))
            .collect::<Option<_>>()?;
        let y = predict_linear(
            self.intercept,
            &self.coefficients,
            &self.feature_mean,
            &self.feature_scale,
            x,
        );
        y.is_finite().then_some(y)
    }

    /// Ridge regression (see [`Ridge::fit`]) on the windows that have every feature.
    pub fn fit_ridge(
        channels: &[Channel],
        features: &[Feature],
        rows: &[&WindowFeatures],
        labels: &[f64],
        alpha: f64,
    ) -> Option<LinearSubmodel> {
        let (x, y): (Vec<Vec<f64>>, Vec<f64>) = rows
            .iter()
            .zip(labels)
            .filter_map(|(f, &y)| {
                let x: Option<Vec<f64>> = features.iter().map(|&n| f.value(n)).collect();
                x.map(|x| (x, y))
            })
            .unzip();
        let fit = Ridge::fit(&x, &y, alpha, Intercept::RefitOnClamped)?;
        Some(LinearSubmodel {
            channels: channels.to_vec(),
            features: features.to_vec(),
            feature_mean: fit.mean,
            feature_scale: fit.scale,
            coefficients: fit.coefficients,
            intercept: fit.intercept,
        })
    }
}

/// A versioned SpO2 model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spo2Model {
    pub version: String,
    pub kind: ModelKind,
    /// Estimates are clamped to this range (the range the model was trained on).
    pub output_range: [f64; 2],
    /// Tried in order; the first whose channels are all in range is used.
    pub submodels: Vec<LinearSubmodel>,
    /// Window estimates are replaced by the median of the usable estimates whose window
    /// centres lie within this span (s); 0 = none. Oxygen saturation changes over tens of
    /// seconds while single-window features are noisy.
    #[serde(default)]
    pub smoothing_s: f64,
    /// Where the model came from: data, subjects, label source, lag, metrics (see
    /// `provenance::Provenance` for what `oxicam train` writes). Free-form for other tools.
    #[serde(default)]
    pub provenance: serde_json::Value,
}

impl Spo2Model {
    /// Parses and checks a model file's text. Reading the file is the caller's business.
    pub fn from_json_str(json: &str) -> Result<Spo2Model, ModelError> {
        let model: Spo2Model = serde_json::from_str(json)?;
        model.check()?;
        Ok(model)
    }

    /// The model file's text, as `oxicam train` writes it (pretty JSON, no trailing newline).
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
                let near: Vec<f64> = centres_s
                    .iter()
                    .zip(raw)
                    .filter(|(&u, _)| (u - t).abs() <= half)
                    .filter_map(|(_, v)| *v)
                    .collect();
                median(near)
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
            .filter(|m| m.channels.iter().all(|&c| f.channel_in_range(c)))
            .find_map(|m| m.predict(f))
            .map(|y| y.clamp(self.output_range[0], self.output_range[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small valid model; the shipped one is checked where it is embedded (oxicam-video).
    fn model_json() -> String {
        serde_json::json!({
            "version": "spo2-test",
            "kind": "ridge",
            "output_range": [70.0, 100.0],
            "submodels": [{
                "channels": ["red", "green"],
                "features": ["log_ror_rg"],
                "feature_mean": [0.0],
                "feature_scale": [1.0],
                "coefficients": [-5.0],
                "intercept": 95.0
            }]
        })
        .to_string()
    }

    #[test]
    fn model_files_parse_and_round_trip() {
        let m = Spo2Model::from_json_str(&model_json()).unwrap();
        assert_eq!(m.kind, ModelKind::Ridge);
        assert_eq!(m.submodels[0].channels, [Channel::Red, Channel::Green]);
        assert_eq!(m.submodels[0].features, [Feature::LogRorRg]);
        assert_eq!(Spo2Model::from_json_str(&m.to_json_pretty()).unwrap(), m);
        let f = WindowFeatures::from_amplitudes([0.02, 0.01, 0.0], [100.0, 50.0, 1.0], [true; 3]);
        let want = 95.0 - 5.0 * 2f64.ln();
        assert!((m.predict(&f).unwrap() - want).abs() < 1e-12);
    }

    #[test]
    fn broken_model_files_are_rejected_with_a_reason() {
        let err = Spo2Model::from_json_str("{").unwrap_err();
        assert!(err.to_string().contains("invalid model JSON"));
        let mut m = Spo2Model::from_json_str(&model_json()).unwrap();
        m.submodels[0].features.push(Feature::RorRg);
        let err = Spo2Model::from_json_str(&m.to_json_pretty()).unwrap_err();
        assert!(err.to_string().contains("differ in length"), "{err}");
        for (from, to) in [
            ("\"log_ror_rg\"", "\"nonsense\""),
            ("\"red\"", "\"infrared\""),
            ("\"ridge\"", "\"forest\""),
        ] {
            let err = Spo2Model::from_json_str(&model_json().replace(from, to)).unwrap_err();
            assert!(err.to_string().contains("unknown variant"), "{to}: {err}");
        }
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
            .map(|f| 90.0 + 5.0 * f.value(Feature::LogRorRg).unwrap())
            .collect();
        let rows: Vec<&WindowFeatures> = feats.iter().collect();
        let m = LinearSubmodel::fit_ridge(
            &[Channel::Red, Channel::Green],
            &[Feature::LogRorRg],
            &rows,
            &labels,
            1e-6,
        )
        .unwrap();
        for (f, y) in feats.iter().zip(&labels).take(20) {
            assert!((m.predict(f).unwrap() - y).abs() < 1e-3);
        }
    }
}
