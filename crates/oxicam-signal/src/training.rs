//! Fitting the SpO2 model from labelled windows: ridge submodels per channel set, with the
//! feature set, penalty and smoothing chosen by inner leave-one-subject-out (deterministic).

use serde::{Deserialize, Serialize};

use crate::features::{Feature, WindowFeatures};
use crate::model::{LinearSubmodel, ModelKind, Spo2Model};
use crate::trace::Channel;

/// Channel sets, largest first: the model uses the first one whose channels are all in range.
pub const CHANNEL_SETS: &[&[Channel]] = &[
    &[Channel::Red, Channel::Green, Channel::Blue],
    &[Channel::Red, Channel::Green],
    &[Channel::Red, Channel::Blue],
    &[Channel::Green, Channel::Blue],
];

/// Which features a model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    /// Ratios of ratios between channel pairs and their logs.
    Ratios,
    /// Those plus log perfusion per channel and log colour balance (DC ratios).
    RatiosPerfusionColour,
}

/// One modelling choice: evaluated by inner cross-validation, never on reported numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub feature_set: FeatureSet,
    /// Ridge penalty per training sample on standardised features.
    pub alpha: f64,
    pub smoothing_s: f64,
}

/// The grid searched, fixed before looking at any result.
pub fn candidates() -> Vec<Candidate> {
    let mut out = Vec::new();
    for feature_set in [FeatureSet::Ratios, FeatureSet::RatiosPerfusionColour] {
        for alpha in [0.01, 0.1, 1.0] {
            for smoothing_s in [0.0, 60.0] {
                out.push(Candidate {
                    feature_set,
                    alpha,
                    smoothing_s,
                });
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub output_range: [f64; 2],
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            output_range: [70.0, 100.0],
        }
    }
}

/// The features a channel set offers under a feature set.
pub fn features_for(channels: &[Channel], set: FeatureSet) -> Vec<Feature> {
    use Channel::{Blue, Green, Red};
    let has = |c: Channel| channels.contains(&c);
    let mut out = Vec::new();
    for (a, b, [ror, log_ror, log_dc]) in [
        (
            Red,
            Green,
            [Feature::RorRg, Feature::LogRorRg, Feature::LogDcRg],
        ),
        (
            Red,
            Blue,
            [Feature::RorRb, Feature::LogRorRb, Feature::LogDcRb],
        ),
        (
            Green,
            Blue,
            [Feature::RorGb, Feature::LogRorGb, Feature::LogDcGb],
        ),
    ] {
        if has(a) && has(b) {
            out.extend([ror, log_ror]);
            if set == FeatureSet::RatiosPerfusionColour {
                out.push(log_dc);
            }
        }
    }
    if set == FeatureSet::RatiosPerfusionColour {
        for (c, log_pi) in [
            (Red, Feature::LogPiRed),
            (Green, Feature::LogPiGreen),
            (Blue, Feature::LogPiBlue),
        ] {
            if has(c) {
                out.push(log_pi);
            }
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
    candidate: &Candidate,
    opts: &TrainOptions,
    provenance: serde_json::Value,
) -> Option<Spo2Model> {
    let submodels: Vec<LinearSubmodel> = CHANNEL_SETS
        .iter()
        .filter_map(|set| {
            let features = features_for(set, candidate.feature_set);
            LinearSubmodel::fit_ridge(set, &features, rows, labels, candidate.alpha)
        })
        .collect();
    (!submodels.is_empty()).then(|| Spo2Model {
        version: version.to_string(),
        kind: ModelKind::Ridge,
        output_range: opts.output_range,
        submodels,
        smoothing_s: candidate.smoothing_s,
        provenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_sets_only_use_their_channels() {
        use Channel::{Blue, Green, Red};
        assert_eq!(
            features_for(&[Green, Blue], FeatureSet::Ratios),
            vec![Feature::RorGb, Feature::LogRorGb]
        );
        let rich = features_for(&[Red, Green], FeatureSet::RatiosPerfusionColour);
        assert!(rich.contains(&Feature::LogDcRg) && rich.contains(&Feature::LogPiGreen));
        let names = serde_json::to_string(&rich).unwrap();
        assert!(!names.contains("blue") && !names.contains("gb") && !names.contains("rb"));
    }
}
