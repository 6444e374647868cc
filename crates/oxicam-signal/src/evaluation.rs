//! Scoring on labelled recordings: leave-one-subject-out or a fixed model, heart-rate and SpO2
//! errors next to the constant-mean baseline, Arms by band, hypoxemia detection, calibration.

use serde::{Deserialize, Serialize};

use crate::analysis::{assess_windows, AnalysisOptions, WindowDetail};
use crate::dataset::{LabelSource, ReferenceSeries};
use crate::features::{Feature, WindowFeatures};
use crate::model::Spo2Model;
use crate::ridge::{Intercept, Ridge};
use crate::trace::Trace;
use crate::training::{candidates, fit_model, Candidate, TrainOptions};

/// One recording (one hand of one subject) with its per-second reference.
#[derive(Debug, Clone)]
pub struct Recording {
    pub subject: String,
    pub hand: String,
    pub rgb: Vec<[f64; 3]>,
    pub fps: f64,
    pub reference: ReferenceSeries,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// The reference trails the video: video second k pairs with reference row k + lag.
    pub lag_s: f64,
    pub window_s: f64,
    pub hop_s: f64,
    pub label_source: LabelSource,
    pub train: TrainOptions,
    /// Calibration: the offset is measured over this many seconds at the start, scored after.
    pub calibration_span_s: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            lag_s: 7.0,
            window_s: 10.0,
            hop_s: 5.0,
            label_source: LabelSource::Oximeter4,
            train: TrainOptions::default(),
            calibration_span_s: 60.0,
        }
    }
}

/// One analysed window with its reference labels.
#[derive(Debug, Clone)]
pub struct LabelledWindow {
    pub detail: WindowDetail,
    pub spo2_label: Option<f64>,
    pub hr_label: Option<f64>,
}

impl LabelledWindow {
    pub fn usable_features(&self) -> Option<&WindowFeatures> {
        self.detail.usable_features()
    }
}

/// Runs the estimator on a recording (model-independent parts) and pairs windows with labels.
pub fn label_windows(rec: &Recording, opts: &EvalOptions) -> Vec<LabelledWindow> {
    let trace = Trace::from_rgb_rows(&rec.rgb, rec.fps);
    let analysis_opts = AnalysisOptions {
        window_s: opts.window_s,
        hop_s: opts.hop_s,
        ..AnalysisOptions::default()
    };
    // Features and heart rate do not depend on the model: the windows are labelled once and
    // every candidate model is fitted and scored on them.
    assess_windows(&trace, &analysis_opts)
        .into_iter()
        .map(|detail| {
            let label = |s: &[Option<f64>]| {
                ReferenceSeries::window_mean(s, detail.start_s, detail.end_s, opts.lag_s)
            };
            LabelledWindow {
                spo2_label: label(&rec.reference.spo2),
                hr_label: label(&rec.reference.pulse),
                detail,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BandError {
    pub band: String,
    pub windows: usize,
    pub arms: Option<f64>,
    pub baseline_arms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordingScore {
    pub subject: String,
    pub hand: String,
    pub windows: usize,
    pub answered: usize,
    pub heart_rate_mae_bpm: Option<f64>,
    pub spo2_mae: Option<f64>,
    pub spo2_bias: Option<f64>,
    pub baseline_spo2_mae: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationScore {
    /// Windows scored (those after the calibration span).
    pub windows: usize,
    pub spo2_mae_uncalibrated: Option<f64>,
    pub spo2_mae_calibrated: Option<f64>,
    /// The constant baseline shifted by the same offset (calibrating a constant).
    pub baseline_spo2_mae_calibrated: Option<f64>,
    /// Leave-one-subject-out only: a model trained on feature changes since the start to
    /// predict SpO2 changes, anchored on the start reading (what calibration could buy with a
    /// model made for it).
    pub spo2_mae_change_model: Option<f64>,
    pub change_model_windows: usize,
}

/// How an evaluation got its SpO2 predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalMode {
    /// For each subject, a model chosen and fitted without that subject.
    #[default]
    LeaveOneSubjectOut,
    /// One given model scored on every recording.
    FixedModel,
}

impl EvalMode {
    /// The serde name: `leave_one_subject_out` or `fixed_model`.
    pub fn name(self) -> &'static str {
        match self {
            EvalMode::LeaveOneSubjectOut => "leave_one_subject_out",
            EvalMode::FixedModel => "fixed_model",
        }
    }
}

impl std::fmt::Display for EvalMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The scores `oxicam eval` prints; JSON keys are part of the CLI contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub mode: EvalMode,
    pub model_version: Option<String>,
    pub label_source: LabelSource,
    pub lag_s: f64,
    pub window_s: f64,
    pub hop_s: f64,
    pub subjects: Vec<String>,
    pub windows_total: usize,
    pub heart_rate_windows: usize,
    pub heart_rate_mae_bpm: Option<f64>,
    pub heart_rate_rmse_bpm: Option<f64>,
    pub baseline_heart_rate_mae_bpm: Option<f64>,
    pub spo2_windows: usize,
    pub spo2_mae: Option<f64>,
    pub spo2_rmse: Option<f64>,
    pub spo2_bias: Option<f64>,
    pub baseline_spo2_mae: Option<f64>,
    pub baseline_spo2_rmse: Option<f64>,
    pub baseline_spo2_bias: Option<f64>,
    pub arms_by_band: Vec<BandError>,
    /// Detection of SpO2 < 90 %.
    pub sensitivity_below_90: Option<f64>,
    pub specificity_below_90: Option<f64>,
    pub baseline_sensitivity_below_90: Option<f64>,
    pub baseline_specificity_below_90: Option<f64>,
    /// Share of labelled windows answered with an SpO2.
    pub coverage: f64,
    /// Share of labelled windows answered with a heart rate.
    pub heart_rate_coverage: f64,
    pub calibration: CalibrationScore,
    pub per_recording: Vec<RecordingScore>,
    /// Leave-one-subject-out only: the modelling choice made inside each fold.
    pub folds: Vec<FoldChoice>,
}

fn mae(pairs: &[(f64, f64)]) -> Option<f64> {
    (!pairs.is_empty())
        .then(|| pairs.iter().map(|(p, y)| (p - y).abs()).sum::<f64>() / pairs.len() as f64)
}

fn rmse(pairs: &[(f64, f64)]) -> Option<f64> {
    (!pairs.is_empty()).then(|| {
        (pairs.iter().map(|(p, y)| (p - y).powi(2)).sum::<f64>() / pairs.len() as f64).sqrt()
    })
}

fn bias(pairs: &[(f64, f64)]) -> Option<f64> {
    (!pairs.is_empty()).then(|| pairs.iter().map(|(p, y)| p - y).sum::<f64>() / pairs.len() as f64)
}

/// Detection of SpO2 < 90 % from (prediction, label) pairs.
struct Detection {
    sensitivity: Option<f64>,
    specificity: Option<f64>,
}

impl Detection {
    fn below_90(pairs: &[(f64, f64)]) -> Detection {
        let (mut tp, mut pos, mut tn, mut neg) = (0usize, 0usize, 0usize, 0usize);
        for &(p, y) in pairs {
            if y < 90.0 {
                pos += 1;
                tp += usize::from(p < 90.0);
            } else {
                neg += 1;
                tn += usize::from(p >= 90.0);
            }
        }
        Detection {
            sensitivity: (pos > 0).then(|| tp as f64 / pos as f64),
            specificity: (neg > 0).then(|| tn as f64 / neg as f64),
        }
    }
}

fn round4(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1e4).round() / 1e4)
}

/// A recording's labelled windows, with the recording (and so the subject) they belong to.
#[derive(Debug, Clone, Copy)]
pub struct RecordingWindows<'a> {
    pub recording: &'a Recording,
    pub windows: &'a [LabelledWindow],
}

impl<'a> RecordingWindows<'a> {
    pub fn subject(&self) -> &'a str {
        &self.recording.subject
    }

    /// Pairs recordings with their labelled windows (`labelled[i]` belongs to `recordings[i]`).
    pub fn pair(
        recordings: &'a [Recording],
        labelled: &'a [Vec<LabelledWindow>],
    ) -> Vec<RecordingWindows<'a>> {
        recordings
            .iter()
            .zip(labelled)
            .map(|(recording, windows)| RecordingWindows { recording, windows })
            .collect()
    }
}

/// The distinct subjects of some recordings, sorted.
pub fn subjects<'a>(groups: &[RecordingWindows<'a>]) -> Vec<&'a str> {
    let mut subjects: Vec<&str> = groups.iter().map(RecordingWindows::subject).collect();
    subjects.sort();
    subjects.dedup();
    subjects
}

/// One leave-one-subject-out split: every recording of `held_out` (both hands) is tested on,
/// the other subjects' recordings are trained on. Both keep the recordings' order.
#[derive(Debug, Clone)]
pub struct Fold<'a> {
    pub held_out: &'a str,
    pub train: Vec<RecordingWindows<'a>>,
    pub test: Vec<RecordingWindows<'a>>,
}

/// The leave-one-subject-out folds of some recordings, by subject in sorted order.
pub fn leave_one_subject_out<'a>(groups: &[RecordingWindows<'a>]) -> Vec<Fold<'a>> {
    subjects(groups)
        .into_iter()
        .map(|held_out| {
            let (test, train) = groups.iter().partition(|g| g.subject() == held_out);
            Fold {
                held_out,
                train,
                test,
            }
        })
        .collect()
}

/// Predictions for one recording's windows: model estimate and baseline (training mean).
struct Scored<'a> {
    group: RecordingWindows<'a>,
    spo2: Vec<Option<f64>>,
    baseline_spo2: f64,
    baseline_hr: f64,
}

/// The candidate chosen for one outer fold, by inner leave-one-subject-out on its training
/// subjects only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldChoice {
    pub held_out: String,
    pub candidate: Candidate,
    pub inner_spo2_mae: Option<f64>,
}

/// Usable windows with an SpO2 label: the features and the labels to fit on.
struct TrainingSet<'a> {
    rows: Vec<&'a WindowFeatures>,
    labels: Vec<f64>,
}

fn training_set<'a>(groups: &[RecordingWindows<'a>]) -> TrainingSet<'a> {
    let mut set = TrainingSet {
        rows: Vec::new(),
        labels: Vec::new(),
    };
    for g in groups {
        for w in g.windows {
            if let (Some(f), Some(y)) = (w.usable_features(), w.spo2_label) {
                set.rows.push(f);
                set.labels.push(y);
            }
        }
    }
    set
}

/// Model estimates for a recording's windows (usable windows only, smoothed as the model says).
pub fn predict_windows(model: &Spo2Model, windows: &[LabelledWindow]) -> Vec<Option<f64>> {
    let centres: Vec<f64> = windows.iter().map(|w| w.detail.centre_s()).collect();
    let features: Vec<Option<&WindowFeatures>> =
        windows.iter().map(|w| w.usable_features()).collect();
    model.predict_series(&centres, &features)
}

/// Fits a candidate on some recordings (`None` if too little data).
pub fn fit_groups(
    groups: &[RecordingWindows],
    candidate: &Candidate,
    opts: &EvalOptions,
    version: &str,
    provenance: serde_json::Value,
) -> Option<Spo2Model> {
    let set = training_set(groups);
    fit_model(
        version,
        &set.rows,
        &set.labels,
        candidate,
        &opts.train,
        provenance,
    )
}

/// The default when there are too few subjects to cross-validate.
pub const FALLBACK_CANDIDATE: Candidate = Candidate {
    feature_set: crate::training::FeatureSet::Ratios,
    alpha: 0.1,
    smoothing_s: 0.0,
};

/// A candidate and its leave-one-subject-out SpO2 MAE (`None` when it could not be measured).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    pub candidate: Candidate,
    pub spo2_mae: Option<f64>,
}

/// Picks the candidate with the lowest leave-one-subject-out SpO2 MAE over `groups`.
pub fn select_candidate(groups: &[RecordingWindows], opts: &EvalOptions) -> Selection {
    let fallback = Selection {
        candidate: FALLBACK_CANDIDATE,
        spo2_mae: None,
    };
    let folds = leave_one_subject_out(groups);
    if folds.len() < 2 {
        return fallback;
    }
    let mut best: Option<(Candidate, f64)> = None;
    for candidate in candidates() {
        let (mut sum, mut n) = (0.0, 0usize);
        for fold in &folds {
            let Some(model) = fit_groups(
                &fold.train,
                &candidate,
                opts,
                "inner",
                serde_json::Value::Null,
            ) else {
                continue;
            };
            for g in &fold.test {
                for (p, w) in predict_windows(&model, g.windows).iter().zip(g.windows) {
                    if let (Some(p), Some(y)) = (p, w.spo2_label) {
                        sum += (p - y).abs();
                        n += 1;
                    }
                }
            }
        }
        if n == 0 {
            continue;
        }
        let mae = sum / n as f64;
        if best.is_none_or(|(_, best_mae)| mae < best_mae) {
            best = Some((candidate, mae));
        }
    }
    best.map_or(fallback, |(candidate, mae)| Selection {
        candidate,
        spo2_mae: Some(mae),
    })
}

/// Features of the change-tracking model: the log ratios of ratios.
const DELTA_FEATURES: [Feature; 3] = [Feature::LogRorRg, Feature::LogRorRb, Feature::LogRorGb];

/// One window after a recording's first span, relative to that span.
struct DeltaRow {
    /// Change of each [`DELTA_FEATURES`] since the first span's mean.
    feature_change: Vec<f64>,
    label: f64,
}

/// A recording's windows for the change-tracking model: the first span's mean label stands
/// for the user's reference reading, the later windows are scored against it.
struct DeltaRecording {
    base_label: f64,
    rows: Vec<DeltaRow>,
}

fn delta_rows(ws: &[LabelledWindow], span_s: f64) -> Option<DeltaRecording> {
    struct Row {
        start_s: f64,
        x: Vec<f64>,
        label: f64,
    }
    let t0 = ws.first()?.detail.start_s;
    let rows: Vec<Row> = ws
        .iter()
        .filter_map(|w| {
            let f = w.usable_features()?;
            let x: Option<Vec<f64>> = DELTA_FEATURES.iter().map(|&n| f.value(n)).collect();
            Some(Row {
                start_s: w.detail.start_s,
                x: x?,
                label: w.spo2_label?,
            })
        })
        .collect();
    let early: Vec<&Row> = rows.iter().filter(|r| r.start_s < t0 + span_s).collect();
    if early.is_empty() {
        return None;
    }
    let base_x: Vec<f64> = (0..DELTA_FEATURES.len())
        .map(|j| early.iter().map(|r| r.x[j]).sum::<f64>() / early.len() as f64)
        .collect();
    let base_label = early.iter().map(|r| r.label).sum::<f64>() / early.len() as f64;
    let rows = rows
        .into_iter()
        .filter(|r| r.start_s >= t0 + span_s)
        .map(|r| DeltaRow {
            feature_change: r.x.iter().zip(&base_x).map(|(a, b)| a - b).collect(),
            label: r.label,
        })
        .collect();
    Some(DeltaRecording { base_label, rows })
}

/// Calibrated change-tracking model, leave-one-subject-out: ridge from feature changes since
/// the first span to SpO2 changes, anchored on the reading at the start. Returns (pred, label).
fn delta_model_pairs(groups: &[RecordingWindows], opts: &EvalOptions) -> Vec<(f64, f64)> {
    let deltas = |gs: &[RecordingWindows]| -> Vec<DeltaRecording> {
        gs.iter()
            .filter_map(|g| delta_rows(g.windows, opts.calibration_span_s))
            .collect()
    };
    let mut pairs = Vec::new();
    for fold in leave_one_subject_out(groups) {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for rec in deltas(&fold.train) {
            for row in rec.rows {
                x.push(row.feature_change);
                y.push(row.label - rec.base_label);
            }
        }
        let Some(ridge) = Ridge::fit(&x, &y, FALLBACK_CANDIDATE.alpha, Intercept::MeanLabel) else {
            continue;
        };
        for rec in deltas(&fold.test) {
            for row in rec.rows {
                let predicted = rec.base_label + ridge.predict(&row.feature_change);
                pairs.push((predicted.clamp(70.0, 100.0), row.label));
            }
        }
    }
    pairs
}

fn hr_mean(groups: &[RecordingWindows]) -> f64 {
    let v: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.windows.iter())
        .filter_map(|w| w.hr_label)
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn spo2_mean(groups: &[RecordingWindows]) -> f64 {
    let labels = training_set(groups).labels;
    labels.iter().sum::<f64>() / labels.len().max(1) as f64
}

/// Leave-one-subject-out (`model = None`: for each subject, choose a candidate by inner
/// leave-one-subject-out on the others, fit on the others, score the held-out subject's both
/// hands) or a fixed model scored on everything.
pub fn evaluate(
    recordings: &[Recording],
    model: Option<&Spo2Model>,
    opts: &EvalOptions,
) -> EvalReport {
    let labelled: Vec<Vec<LabelledWindow>> =
        recordings.iter().map(|r| label_windows(r, opts)).collect();
    evaluate_labelled(&RecordingWindows::pair(recordings, &labelled), model, opts)
}

/// As [`evaluate`], on windows already labelled (so `train` can reuse them).
pub fn evaluate_labelled(
    groups: &[RecordingWindows],
    model: Option<&Spo2Model>,
    opts: &EvalOptions,
) -> EvalReport {
    let mut folds = Vec::new();
    let mut scored: Vec<Scored> = Vec::new();
    match model {
        Some(m) => {
            let (base_spo2, base_hr) = (spo2_mean(groups), hr_mean(groups));
            for &group in groups {
                scored.push(Scored {
                    group,
                    spo2: predict_windows(m, group.windows),
                    baseline_spo2: base_spo2,
                    baseline_hr: base_hr,
                });
            }
        }
        None => {
            for fold in leave_one_subject_out(groups) {
                let selection = select_candidate(&fold.train, opts);
                folds.push(FoldChoice {
                    held_out: fold.held_out.to_string(),
                    candidate: selection.candidate,
                    inner_spo2_mae: round4(selection.spo2_mae),
                });
                let fitted = fit_groups(
                    &fold.train,
                    &selection.candidate,
                    opts,
                    "loso-fold",
                    serde_json::Value::Null,
                );
                let (base_spo2, base_hr) = (spo2_mean(&fold.train), hr_mean(&fold.train));
                for &group in &fold.test {
                    let spo2 = fitted.as_ref().map_or_else(
                        || vec![None; group.windows.len()],
                        |m| predict_windows(m, group.windows),
                    );
                    scored.push(Scored {
                        group,
                        spo2,
                        baseline_spo2: base_spo2,
                        baseline_hr: base_hr,
                    });
                }
            }
        }
    }
    let subjects = subjects(groups).into_iter().map(String::from).collect();
    let mut report = summarise(&scored, model, subjects, opts);
    report.folds = folds;
    if model.is_none() {
        let pairs = delta_model_pairs(groups, opts);
        report.calibration.change_model_windows = pairs.len();
        report.calibration.spo2_mae_change_model = round4(mae(&pairs));
    }
    report
}

/// (prediction, label) pairs of the windows after each recording's calibration span.
#[derive(Default)]
struct CalibrationPairs {
    uncalibrated: Vec<(f64, f64)>,
    calibrated: Vec<(f64, f64)>,
    /// The constant baseline shifted by the same kind of offset.
    baseline_calibrated: Vec<(f64, f64)>,
}

impl CalibrationPairs {
    /// Adds a recording: offsets from the first span's windows, scored on the rest.
    fn add(&mut self, s: &Scored, span_s: f64) {
        let windows = s.group.windows;
        let t0 = windows.first().map_or(0.0, |w| w.detail.start_s);
        let (early, late): (Vec<_>, Vec<_>) = windows
            .iter()
            .zip(&s.spo2)
            .filter_map(|(w, p)| Some((w.detail.start_s, (*p)?, w.spo2_label?)))
            .partition(|(t, _, _)| *t < t0 + span_s);
        if early.is_empty() || late.is_empty() {
            return;
        }
        let offset = early.iter().map(|(_, p, y)| y - p).sum::<f64>() / early.len() as f64;
        let base_offset = early
            .iter()
            .map(|(_, _, y)| y - s.baseline_spo2)
            .sum::<f64>()
            / early.len() as f64;
        for (_, p, y) in late {
            self.uncalibrated.push((p, y));
            self.calibrated.push(((p + offset).clamp(70.0, 100.0), y));
            self.baseline_calibrated
                .push(((s.baseline_spo2 + base_offset).clamp(70.0, 100.0), y));
        }
    }
}

fn summarise(
    scored: &[Scored],
    model: Option<&Spo2Model>,
    subjects: Vec<String>,
    opts: &EvalOptions,
) -> EvalReport {
    let mut hr_pairs = Vec::new();
    let mut hr_base = Vec::new();
    let mut spo2_pairs = Vec::new();
    let mut spo2_base = Vec::new();
    let mut windows_total = 0;
    let mut hr_labelled = 0;
    let mut cal = CalibrationPairs::default();
    let mut per_recording = Vec::new();
    for s in scored {
        let mut rec_hr = Vec::new();
        let mut rec_spo2 = Vec::new();
        let mut rec_base = Vec::new();
        let mut labelled = 0;
        for (w, pred) in s.group.windows.iter().zip(&s.spo2) {
            if w.hr_label.is_some() {
                hr_labelled += 1;
            }
            if let (Some(y), Some(hr)) = (
                w.hr_label,
                w.detail.heart_rate_bpm().filter(|_| w.detail.usable()),
            ) {
                rec_hr.push((hr, y));
                hr_base.push((s.baseline_hr, y));
            }
            let Some(y) = w.spo2_label else { continue };
            labelled += 1;
            if let Some(p) = pred {
                rec_spo2.push((*p, y));
                rec_base.push((s.baseline_spo2, y));
            }
        }
        windows_total += labelled;
        cal.add(s, opts.calibration_span_s);
        per_recording.push(RecordingScore {
            subject: s.group.recording.subject.clone(),
            hand: s.group.recording.hand.clone(),
            windows: labelled,
            answered: rec_spo2.len(),
            heart_rate_mae_bpm: round4(mae(&rec_hr)),
            spo2_mae: round4(mae(&rec_spo2)),
            spo2_bias: round4(bias(&rec_spo2)),
            baseline_spo2_mae: round4(mae(&rec_base)),
        });
        hr_pairs.extend(rec_hr);
        spo2_pairs.extend(rec_spo2);
        spo2_base.extend(rec_base);
    }
    let arms_by_band = [(70.0, 80.0), (80.0, 90.0), (90.0, 100.1)]
        .iter()
        .map(|&(lo, hi)| {
            let sel = |pairs: &[(f64, f64)]| -> Vec<(f64, f64)> {
                pairs
                    .iter()
                    .copied()
                    .filter(|(_, y)| *y >= lo && *y < hi)
                    .collect()
            };
            let model_pairs = sel(&spo2_pairs);
            BandError {
                band: format!("{}-{}", lo as u32, hi.min(100.0) as u32),
                windows: model_pairs.len(),
                arms: round4(rmse(&model_pairs)),
                baseline_arms: round4(rmse(&sel(&spo2_base))),
            }
        })
        .collect();
    let detection = Detection::below_90(&spo2_pairs);
    let baseline_detection = Detection::below_90(&spo2_base);
    EvalReport {
        mode: if model.is_some() {
            EvalMode::FixedModel
        } else {
            EvalMode::LeaveOneSubjectOut
        },
        model_version: model.map(|m| m.version().to_string()),
        label_source: opts.label_source,
        lag_s: opts.lag_s,
        window_s: opts.window_s,
        hop_s: opts.hop_s,
        subjects,
        windows_total,
        heart_rate_windows: hr_pairs.len(),
        heart_rate_mae_bpm: round4(mae(&hr_pairs)),
        heart_rate_rmse_bpm: round4(rmse(&hr_pairs)),
        baseline_heart_rate_mae_bpm: round4(mae(&hr_base)),
        spo2_windows: spo2_pairs.len(),
        spo2_mae: round4(mae(&spo2_pairs)),
        spo2_rmse: round4(rmse(&spo2_pairs)),
        spo2_bias: round4(bias(&spo2_pairs)),
        baseline_spo2_mae: round4(mae(&spo2_base)),
        baseline_spo2_rmse: round4(rmse(&spo2_base)),
        baseline_spo2_bias: round4(bias(&spo2_base)),
        arms_by_band,
        sensitivity_below_90: round4(detection.sensitivity),
        specificity_below_90: round4(detection.specificity),
        baseline_sensitivity_below_90: round4(baseline_detection.sensitivity),
        baseline_specificity_below_90: round4(baseline_detection.specificity),
        coverage: round4(Some(spo2_pairs.len() as f64 / windows_total.max(1) as f64))
            .unwrap_or(0.0),
        heart_rate_coverage: round4(Some(hr_pairs.len() as f64 / hr_labelled.max(1) as f64))
            .unwrap_or(0.0),
        calibration: CalibrationScore {
            windows: cal.uncalibrated.len(),
            spo2_mae_uncalibrated: round4(mae(&cal.uncalibrated)),
            spo2_mae_calibrated: round4(mae(&cal.calibrated)),
            baseline_spo2_mae_calibrated: round4(mae(&cal.baseline_calibrated)),
            ..CalibrationScore::default()
        },
        per_recording,
        folds: Vec::new(),
    }
}
