//! The SpO2 model file: features, temporal context, ridge coefficients, domain box, conformal
//! interval, output range, provenance and cross-validated metrics (versioned JSON).

use serde::{Deserialize, Serialize};

use super::conformal::ConformalInterval;
use super::domain::{DomainBox, LevelBox};
use super::features::Spo2Feature;
use super::screen::ScreenRule;
use crate::ridge::Ridge;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// Model families a file can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFamily {
    Ridge,
}

/// A versioned SpO2 model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spo2Model {
    pub version: String,
    pub family: ModelFamily,
    pub features: Vec<Spo2Feature>,
    /// Each window's features are replaced by their per-feature median over the windows whose
    /// centres lie within this span (s); 0 = the window alone.
    pub context_s: f64,
    /// Window estimates are replaced by the median of the in-domain estimates within this
    /// span (s); 0 = none. Saturation changes over tens of seconds, single windows are noisy.
    pub smoothing_s: f64,
    pub ridge: Ridge,
    pub domain: DomainBox,
    pub levels: LevelBox,
    pub interval: ConformalInterval,
    /// The labels' range in training: estimates above it are withheld, estimates below it
    /// are reported as "below the range the model knows", never as a clamped number.
    pub output_range: [f64; 2],
    /// The hypoxaemia screen's interval; absent in files written before it existed (no screen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<ScreenRule>,
    /// Where the model came from: data, subjects, label source, lag, selection, metrics.
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
        let invalid = |m: &str| Err(ModelError::Invalid(m.to_string()));
        if self.version.trim().is_empty() {
            return invalid("empty version");
        }
        let p = self.features.len();
        if p == 0 {
            return invalid("no features");
        }
        if !self.ridge.is_valid(p) {
            return invalid("ridge coefficients do not match the features or are not finite");
        }
        if !self.domain.is_valid(p) {
            return invalid("domain bounds do not match the features");
        }
        if !self.levels.is_valid() {
            return invalid("channel level bounds must be finite with lower <= upper");
        }
        let [lo, hi] = self.output_range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi && hi <= 100.0) {
            return invalid("output_range must be [low, high] with high <= 100");
        }
        for (name, v) in [
            ("context_s", self.context_s),
            ("smoothing_s", self.smoothing_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ModelError::Invalid(format!(
                    "{name} must be a non-negative number"
                )));
            }
        }
        for i in std::iter::once(&self.interval).chain(self.screen.as_ref().map(|s| &s.interval)) {
            if !(i.half_width.is_finite() && i.half_width >= 0.0 && i.level > 0.0 && i.level < 1.0)
            {
                return invalid("intervals need a level in (0, 1) and a non-negative half-width");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small valid model; the shipped one is checked where it is embedded (oxicam-video)
    /// and against training (tests/real_data.rs).
    fn model_json() -> String {
        serde_json::json!({
            "version": "spo2-test",
            "family": "ridge",
            "features": ["log_ror_spectral_gb"],
            "context_s": 10.0,
            "smoothing_s": 60.0,
            "ridge": {"mean": [0.3], "scale": [0.1], "coefficients": [5.0], "intercept": 88.0},
            "domain": {"lower": [-0.5], "upper": [1.2], "quantile": 0.0, "margin": 0.5},
            "levels": {"lower": [10.0, 20.0, 15.0], "upper": [140.0, 180.0, 120.0]},
            "interval": {"level": 0.9, "half_width": 13.0, "calibration_windows": 1500},
            "output_range": [70.0, 100.0]
        })
        .to_string()
    }

    #[test]
    fn a_model_file_round_trips() {
        let m = Spo2Model::from_json_str(&model_json()).unwrap();
        assert_eq!(m.version(), "spo2-test");
        assert_eq!(m.features, vec![Spo2Feature::LogRorSpectralGb]);
        assert_eq!(Spo2Model::from_json_str(&m.to_json_pretty()).unwrap(), m);
    }

    #[test]
    fn broken_model_files_are_rejected_with_a_reason() {
        let err = Spo2Model::from_json_str("{").unwrap_err();
        assert!(err.to_string().contains("invalid model JSON"));
        let good = Spo2Model::from_json_str(&model_json()).unwrap();
        let mut m = good.clone();
        m.features.push(Spo2Feature::HarmonicRed);
        let err = Spo2Model::from_json_str(&m.to_json_pretty()).unwrap_err();
        assert!(err.to_string().contains("do not match"), "{err}");
        let mut m = good.clone();
        m.output_range = [70.0, 101.0];
        assert!(Spo2Model::from_json_str(&m.to_json_pretty()).is_err());
        let mut m = good.clone();
        m.levels.lower[0] = 500.0;
        assert!(Spo2Model::from_json_str(&m.to_json_pretty()).is_err());
        let text = model_json().replace("\"ridge\"", "\"forest\"");
        assert!(Spo2Model::from_json_str(&text).is_err());
    }
}
