//! The procedure behind `oxicam train` and the provenance it writes into the model: the data,
//! the modelling choice made by leave-one-subject-out on all subjects, and nested
//! leave-one-subject-out metrics of that procedure.

use serde::{Deserialize, Serialize};

use crate::dataset::LabelSource;
use crate::evaluation::{
    evaluate_labelled, fit_groups, label_windows, select_candidate, subjects, BandError,
    CalibrationScore, EvalOptions, EvalReport, FoldChoice, Recording, RecordingWindows, Selection,
};
use crate::features::Feature;
use crate::model::Spo2Model;
use crate::ridge::Z_CLAMP;
use crate::trace::Channel;
use crate::training::{candidates, features_for, Candidate, CHANNEL_SETS};

/// What `oxicam train` records in a model's `provenance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub trained_by: String,
    /// Name of the data folder.
    pub data: String,
    pub training_subjects: Vec<String>,
    /// `subject/hand` of every recording.
    pub recordings: Vec<String>,
    /// Usable windows with an SpO2 label.
    pub training_windows: usize,
    pub label_source: LabelSource,
    pub label_lag_s: f64,
    pub window_s: f64,
    pub hop_s: f64,
    pub method: String,
    pub selection: SelectionRecord,
    /// The features of each channel set's submodel.
    pub feature_sets: Vec<ChannelSetFeatures>,
    pub leave_one_subject_out: NestedMetrics,
}

/// How the shipped candidate was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionRecord {
    pub how: String,
    pub grid: Vec<Candidate>,
    pub chosen: Candidate,
    pub cv_spo2_mae_of_chosen: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSetFeatures {
    pub channels: Vec<Channel>,
    pub features: Vec<Feature>,
}

/// Nested leave-one-subject-out metrics: each held-out subject's model and candidate were
/// chosen without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedMetrics {
    pub note: String,
    pub heart_rate_mae_bpm: Option<f64>,
    pub spo2_mae: Option<f64>,
    pub spo2_rmse: Option<f64>,
    pub spo2_bias: Option<f64>,
    pub baseline_spo2_mae: Option<f64>,
    pub arms_by_band: Vec<BandError>,
    pub sensitivity_below_90: Option<f64>,
    pub specificity_below_90: Option<f64>,
    pub coverage: f64,
    pub calibration: CalibrationScore,
    pub folds: Vec<FoldChoice>,
}

impl NestedMetrics {
    fn from_report(loso: &EvalReport) -> NestedMetrics {
        NestedMetrics {
            note: "nested: each held-out subject's model and candidate were chosen without it"
                .to_string(),
            heart_rate_mae_bpm: loso.heart_rate_mae_bpm,
            spo2_mae: loso.spo2_mae,
            spo2_rmse: loso.spo2_rmse,
            spo2_bias: loso.spo2_bias,
            baseline_spo2_mae: loso.baseline_spo2_mae,
            arms_by_band: loso.arms_by_band.clone(),
            sensitivity_below_90: loso.sensitivity_below_90,
            specificity_below_90: loso.specificity_below_90,
            coverage: loso.coverage,
            calibration: loso.calibration.clone(),
            folds: loso.folds.clone(),
        }
    }
}

/// A model fitted on all recordings, with what `oxicam train` reports about it.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    pub model: Spo2Model,
    pub training_windows: usize,
    pub selection: Selection,
    /// Nested leave-one-subject-out evaluation of the whole procedure.
    pub loso: EvalReport,
}

/// Fits the model `oxicam train` ships (deterministic): the candidate chosen by
/// leave-one-subject-out over all recordings, fitted on all of them, with its [`Provenance`].
/// `data_name` names the data folder in the provenance. `None` when there are too few usable
/// labelled windows to fit.
pub fn train(
    recordings: &[Recording],
    opts: &EvalOptions,
    version: &str,
    data_name: &str,
) -> Option<TrainedModel> {
    let labelled: Vec<_> = recordings.iter().map(|r| label_windows(r, opts)).collect();
    let groups = RecordingWindows::pair(recordings, &labelled);
    // The reported metrics come from nested cross-validation (each outer fold chooses its own
    // candidate on its training subjects); the shipped model uses the choice made on all.
    let loso = evaluate_labelled(&groups, None, opts);
    let selection = select_candidate(&groups, opts);
    let training_windows = labelled
        .iter()
        .flatten()
        .filter(|w| w.usable_features().is_some() && w.spo2_label.is_some())
        .count();
    let provenance = Provenance {
        trained_by: "oxicam train".to_string(),
        data: data_name.to_string(),
        training_subjects: subjects(&groups).into_iter().map(String::from).collect(),
        recordings: recordings
            .iter()
            .map(|r| format!("{}/{}", r.subject, r.hand))
            .collect(),
        training_windows,
        label_source: opts.label_source,
        label_lag_s: opts.lag_s,
        window_s: opts.window_s,
        hop_s: opts.hop_s,
        method: format!(
            "ridge regression on standardised features (clamped at {Z_CLAMP} SD), one submodel \
             per set of in-range channels; optional median smoothing of window estimates"
        ),
        selection: SelectionRecord {
            how: "leave-one-subject-out over all training subjects; grid fixed in advance"
                .to_string(),
            grid: candidates(),
            chosen: selection.candidate,
            cv_spo2_mae_of_chosen: selection.spo2_mae,
        },
        feature_sets: CHANNEL_SETS
            .iter()
            .map(|set| ChannelSetFeatures {
                channels: set.to_vec(),
                features: features_for(set, selection.candidate.feature_set),
            })
            .collect(),
        leave_one_subject_out: NestedMetrics::from_report(&loso),
    };
    // Through a JSON value: model files keep provenance free-form (and its keys sorted).
    let provenance = serde_json::to_value(&provenance).expect("provenance serialises");
    let model = fit_groups(&groups, &selection.candidate, opts, version, provenance)?;
    Some(TrainedModel {
        model,
        training_windows,
        selection,
        loso,
    })
}
