//! The procedure behind `oxicam train` and the provenance it writes into the model: the data,
//! the modelling choices made by leave-one-subject-out on all subjects, and nested
//! leave-one-subject-out metrics of that procedure.

use serde::{Deserialize, Serialize};

use crate::dataset::LabelSource;
use crate::evaluation::{
    evaluate_labelled, label_windows, subjects, training_recordings, CalibrationScore, EvalOptions,
    EvalReport, FoldScore, Recording, RecordingWindows, Spo2Scores,
};
use crate::ridge::Z_CLAMP;
use crate::spo2::domain::{BOX_GRID, GAIN_TOLERANCE, MIN_HELD_OUT_INSIDE};
use crate::spo2::model::Spo2Model;
use crate::spo2::training::{candidates, fit, select, Candidate, Family, FeatureCache, Selection};

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
    pub leave_one_subject_out: NestedMetrics,
}

/// How the shipped model's choices were made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionRecord {
    pub how: String,
    pub grid: Vec<Candidate>,
    /// Domain boxes tried, tightest first, as (quantile, margin).
    pub box_grid: Vec<(f64, f64)>,
    pub chosen: Selection,
}

/// Nested leave-one-subject-out metrics: each held-out subject's model, domain and interval
/// were chosen without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedMetrics {
    pub note: String,
    pub heart_rate_mae_bpm: Option<f64>,
    pub spo2: Spo2Scores,
    pub calibration: CalibrationScore,
    pub folds: Vec<FoldScore>,
}

impl NestedMetrics {
    fn from_report(loso: &EvalReport) -> NestedMetrics {
        NestedMetrics {
            note: "nested: each held-out subject's model, domain box and interval were chosen \
                   without it"
                .to_string(),
            heart_rate_mae_bpm: loso.heart_rate_mae_bpm,
            spo2: loso.spo2.clone(),
            calibration: loso.calibration.clone(),
            folds: loso
                .families
                .first()
                .map(|f| f.folds.clone())
                .unwrap_or_default(),
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

/// Fits the model `oxicam train` ships (deterministic): the choices made by
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
    // The reported metrics come from nested cross-validation (each outer fold makes its own
    // choices on its training subjects); the shipped model uses the choices made on all.
    let loso_opts = EvalOptions {
        families: vec![Family::Ridge],
        ..opts.clone()
    };
    let loso = evaluate_labelled(&groups, None, &loso_opts);
    let recs = training_recordings(&groups);
    let mut cache = FeatureCache::default();
    let selection = select(Family::Ridge, &recs, &mut cache)?;
    let training_windows = labelled
        .iter()
        .flatten()
        .filter(|w| w.detail.usable() && w.spo2_label.is_some())
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
            "ridge regression on standardised features (clamped at {Z_CLAMP} SD) that a \
             camera's per-channel gain, exposure and gamma leave unchanged: logs of ratios of \
             AC/DC between colour channels (AC from the spectral peak, the RMS and the beats) \
             and the pulse shape, each the median over the windows within context_s; mean \
             smoothing of the estimates; domain: a per-feature quantile box and channel levels \
             within {GAIN_TOLERANCE}x of the training windows'; 90 % split-conformal interval \
             from leave-one-subject-out residuals; no number outside output_range"
        ),
        selection: SelectionRecord {
            how: format!(
                "leave-one-subject-out over the training subjects, grids fixed in advance: the \
                 candidate with the lowest SpO2 MAE, then the tightest box holding >= {:.0} % of \
                 held-out windows, then the conformal half-width from the chosen candidate's \
                 out-of-fold residuals",
                100.0 * MIN_HELD_OUT_INSIDE
            ),
            grid: candidates(Family::Ridge),
            box_grid: BOX_GRID.to_vec(),
            chosen: selection.clone(),
        },
        leave_one_subject_out: NestedMetrics::from_report(&loso),
    };
    // Through a JSON value: model files keep provenance free-form (and its keys sorted).
    let provenance = serde_json::to_value(&provenance).expect("provenance serialises");
    let model = fit(version, &recs, &selection, &mut cache, provenance)?;
    Some(TrainedModel {
        model,
        training_windows,
        selection,
        loso,
    })
}
