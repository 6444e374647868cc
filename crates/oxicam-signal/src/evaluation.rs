//! Scoring on labelled recordings: leave-one-subject-out or a fixed model, heart-rate and SpO2
//! errors next to the constant-mean baseline, Arms by band, hypoxemia detection, calibration.

use serde::{Deserialize, Serialize};

use crate::analysis::{assess_windows, AnalysisOptions, WindowDetail};
use crate::dataset::{LabelSource, ReferenceSeries};
use crate::features::{Feature, WindowFeatures};
use crate::heart_rate::HeartRateOptions;
use crate::ridge::{Intercept, Ridge};
use crate::spo2::domain::quantile_sorted;
use crate::spo2::model::Spo2Model;
use crate::spo2::screen::{Hypoxaemia, ScreenScore, HYPOXAEMIA_BELOW};
use crate::spo2::training::{
    fit, fit_spec, select, Family, FeatureCache, Selection, TrainingRecording,
};
use crate::spo2::{
    apply_range, apply_range_with, raw_series, raw_series_with, Spo2Answer, Spo2Status, WindowInput,
};
use crate::trace::Trace;

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
    /// SpO2 model families scored leave-one-subject-out; the first is the product's.
    pub families: Vec<Family>,
    /// Calibration: the offset is measured over this many seconds at the start, scored after.
    pub calibration_span_s: f64,
    /// The heart-rate path (all parts on; fewer for the ablation).
    pub heart_rate: HeartRateOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            lag_s: 7.0,
            window_s: 10.0,
            hop_s: 5.0,
            label_source: LabelSource::Oximeter4,
            families: vec![Family::Ridge],
            calibration_span_s: 60.0,
            heart_rate: HeartRateOptions::default(),
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
        heart_rate: opts.heart_rate.clone(),
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
    /// Every labelled window's answer, for plots (not in the JSON report).
    #[serde(skip)]
    pub series: Vec<WindowPoint>,
}

/// One labelled window of a recording as the evaluation answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPoint {
    pub centre_s: f64,
    pub label: f64,
    pub answer: Spo2Answer,
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
    /// SpO2 of the product's model family (the first of `families`), or of the fixed model.
    pub spo2: Spo2Scores,
    /// Every model family evaluated, pooled and per fold.
    pub families: Vec<FamilyReport>,
    /// Share of labelled windows answered with a heart rate.
    pub heart_rate_coverage: f64,
    pub calibration: CalibrationScore,
    pub per_recording: Vec<RecordingScore>,
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

/// SpO2 answers for one recording's windows and the baselines (training means).
struct Scored<'a> {
    group: RecordingWindows<'a>,
    spo2: Vec<Spo2Answer>,
    baseline_spo2: f64,
    baseline_hr: f64,
}

/// The SpO2 model's view of labelled recordings.
pub fn training_recordings<'a>(groups: &[RecordingWindows<'a>]) -> Vec<TrainingRecording<'a>> {
    groups
        .iter()
        .map(|g| TrainingRecording {
            subject: g.subject().to_string(),
            windows: g.windows.iter().map(|w| w.detail.spo2_input()).collect(),
            labels: g.windows.iter().map(|w| w.spo2_label).collect(),
        })
        .collect()
}

/// SpO2 answers of a model for a recording's windows (no calibration).
pub fn answer_windows(model: &Spo2Model, windows: &[LabelledWindow]) -> Vec<Spo2Answer> {
    let inputs: Vec<WindowInput> = windows.iter().map(|w| w.detail.spo2_input()).collect();
    apply_range(model, &raw_series(model, &inputs))
}

/// Chooses (leave-one-subject-out over `groups`) and fits the shipped family's model on
/// `groups`; `None` with fewer than two subjects or too little data.
pub fn select_and_fit(
    groups: &[RecordingWindows],
    version: &str,
    provenance: serde_json::Value,
) -> Option<(Selection, Spo2Model)> {
    let recs = training_recordings(groups);
    let mut cache = FeatureCache::default();
    let selection = select(Family::Ridge, &recs, &mut cache)?;
    let model = fit(version, &recs, &selection, &mut cache, provenance)?;
    Some((selection, model))
}

/// Ridge penalty of the change-tracking model.
const DELTA_ALPHA: f64 = 0.1;

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
        let Some(ridge) = Ridge::fit(&x, &y, DELTA_ALPHA, Intercept::MeanLabel) else {
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

/// The constant baseline: the mean label of the training windows that passed the gates.
fn spo2_mean(groups: &[RecordingWindows]) -> f64 {
    let labels: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.windows.iter())
        .filter(|w| w.detail.usable())
        .filter_map(|w| w.spo2_label)
        .collect();
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
    let mut scored: Vec<Scored> = Vec::new();
    let mut families = Vec::new();
    match model {
        Some(m) => {
            let (base_spo2, base_hr) = (spo2_mean(groups), hr_mean(groups));
            for &group in groups {
                scored.push(Scored {
                    group,
                    spo2: answer_windows(m, group.windows),
                    baseline_spo2: base_spo2,
                    baseline_hr: base_hr,
                });
            }
        }
        None => {
            for (k, &family) in opts.families.iter().enumerate() {
                let (family_scored, folds) = loso_family(family, groups);
                families.push(FamilyReport {
                    family,
                    description: family_description(family).to_string(),
                    spo2: spo2_scores(&family_scored),
                    folds,
                });
                if k == 0 {
                    scored = family_scored;
                }
            }
        }
    }
    let subjects = subjects(groups).into_iter().map(String::from).collect();
    let mut report = summarise(&scored, model, subjects, opts);
    report.families = families;
    if model.is_none() {
        let pairs = delta_model_pairs(groups, opts);
        report.calibration.change_model_windows = pairs.len();
        report.calibration.spo2_mae_change_model = round4(mae(&pairs));
    }
    report
}

/// SpO2 scores over labelled windows. Error figures are over the answered windows (status
/// `estimated`), next to the constant baseline on the same windows; the interval is scored on
/// every labelled window that has one (`estimated` and `below_range`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spo2Scores {
    /// Labelled windows.
    pub windows: usize,
    /// Windows answered with a number.
    pub answered: usize,
    /// `answered / windows`.
    pub coverage: f64,
    /// Windows reported below the model's range, and how many of them truly were below 90 %.
    pub below_range: usize,
    pub below_range_truly_below_90: usize,
    /// Usable windows withheld as out of domain (incl. estimates above the range).
    pub out_of_domain: usize,
    pub mae: Option<f64>,
    pub rmse: Option<f64>,
    pub bias: Option<f64>,
    pub baseline_mae: Option<f64>,
    pub baseline_rmse: Option<f64>,
    pub baseline_bias: Option<f64>,
    pub arms_by_band: Vec<BandError>,
    /// Share of labels inside the 90 % nominal interval, and the interval's median width.
    pub interval_coverage: Option<f64>,
    pub interval_median_width: Option<f64>,
    /// Detection of SpO2 < 90 % on the answered windows.
    pub sensitivity_below_90: Option<f64>,
    pub specificity_below_90: Option<f64>,
    pub baseline_sensitivity_below_90: Option<f64>,
    pub baseline_specificity_below_90: Option<f64>,
    /// The hypoxaemia screen on the labelled windows it was given for (`estimated` and
    /// `below_range`), and the constant baseline's verdict (training mean below 90 % or not)
    /// on the same windows.
    #[serde(default)]
    pub screen: ScreenScore,
    #[serde(default)]
    pub baseline_screen: ScreenScore,
}

fn spo2_scores(scored: &[Scored]) -> Spo2Scores {
    let (mut pairs, mut base) = (Vec::new(), Vec::new());
    let (mut windows, mut below, mut below_true, mut ood) = (0, 0, 0, 0);
    let (mut inside, mut widths) = (0usize, Vec::new());
    let (mut screened, mut baseline_screened) = (Vec::new(), Vec::new());
    for s in scored {
        for (w, a) in s.group.windows.iter().zip(&s.spo2) {
            let Some(y) = w.spo2_label else { continue };
            windows += 1;
            match a.status {
                Spo2Status::Estimated => {
                    if let Some(p) = a.percent {
                        pairs.push((p, y));
                        base.push((s.baseline_spo2, y));
                    }
                }
                Spo2Status::BelowRange => {
                    below += 1;
                    below_true += usize::from(y < 90.0);
                }
                Spo2Status::OutOfDomain => ood += 1,
                Spo2Status::Unavailable => {}
            }
            if let Some([lo, hi]) = a.interval {
                inside += usize::from(y >= lo && y <= hi);
                widths.push(hi - lo);
            }
            if let Some(verdict) = a.hypoxaemia {
                screened.push((verdict, y));
                let constant = if s.baseline_spo2 < HYPOXAEMIA_BELOW {
                    Hypoxaemia::Likely
                } else {
                    Hypoxaemia::Unlikely
                };
                baseline_screened.push((constant, y));
            }
        }
    }
    let detection = Detection::below_90(&pairs);
    let baseline_detection = Detection::below_90(&base);
    widths.sort_by(f64::total_cmp);
    let with_interval = widths.len();
    Spo2Scores {
        windows,
        answered: pairs.len(),
        coverage: round4(Some(pairs.len() as f64 / windows.max(1) as f64)).unwrap_or(0.0),
        below_range: below,
        below_range_truly_below_90: below_true,
        out_of_domain: ood,
        mae: round4(mae(&pairs)),
        rmse: round4(rmse(&pairs)),
        bias: round4(bias(&pairs)),
        baseline_mae: round4(mae(&base)),
        baseline_rmse: round4(rmse(&base)),
        baseline_bias: round4(bias(&base)),
        arms_by_band: arms_by_band(&pairs, &base),
        interval_coverage: round4(
            (with_interval > 0).then(|| inside as f64 / with_interval as f64),
        ),
        interval_median_width: round4((with_interval > 0).then(|| quantile_sorted(&widths, 0.5))),
        sensitivity_below_90: round4(detection.sensitivity),
        specificity_below_90: round4(detection.specificity),
        baseline_sensitivity_below_90: round4(baseline_detection.sensitivity),
        baseline_specificity_below_90: round4(baseline_detection.specificity),
        screen: ScreenScore::of(&screened).rounded(),
        baseline_screen: ScreenScore::of(&baseline_screened).rounded(),
    }
}

/// Arms of the model and the baseline per reference band (70-80, 80-90, 90-100).
fn arms_by_band(pairs: &[(f64, f64)], base: &[(f64, f64)]) -> Vec<BandError> {
    [(70.0, 80.0), (80.0, 90.0), (90.0, 100.1)]
        .iter()
        .map(|&(lo, hi)| {
            let sel = |pairs: &[(f64, f64)]| -> Vec<(f64, f64)> {
                pairs
                    .iter()
                    .copied()
                    .filter(|(_, y)| *y >= lo && *y < hi)
                    .collect()
            };
            let model_pairs = sel(pairs);
            BandError {
                band: format!("{}-{}", lo as u32, hi.min(100.0) as u32),
                windows: model_pairs.len(),
                arms: round4(rmse(&model_pairs)),
                baseline_arms: round4(rmse(&sel(base))),
            }
        })
        .collect()
}

/// One outer fold of leave-one-subject-out: what was chosen without the held-out subject
/// (`None` when nothing could be fitted), and the scores on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldScore {
    pub held_out: String,
    pub selection: Option<Selection>,
    pub spo2: Spo2Scores,
}

/// The scores of one model family, pooled over the outer folds and per fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyReport {
    pub family: Family,
    pub description: String,
    pub spo2: Spo2Scores,
    pub folds: Vec<FoldScore>,
}

fn family_description(family: Family) -> &'static str {
    match family {
        Family::Ridge => {
            "ridge on gain-invariant ratios of ratios with temporal context, domain box, \
             split-conformal interval; all choices by inner leave-one-subject-out"
        }
        Family::BoostedTrees => {
            "gradient-boosted trees on the same features, context, box and interval; all \
             choices by inner leave-one-subject-out"
        }
    }
}

/// Nested leave-one-subject-out of one family: for each subject, everything is chosen by
/// leave-one-subject-out on the others and fitted on them, then the subject's recordings are
/// answered. Returns the scored recordings (in the order of `groups`) and the folds.
fn loso_family<'a>(
    family: Family,
    groups: &[RecordingWindows<'a>],
) -> (Vec<Scored<'a>>, Vec<FoldScore>) {
    let mut scored: Vec<Option<Scored>> = groups.iter().map(|_| None).collect();
    let mut folds = Vec::new();
    for fold in leave_one_subject_out(groups) {
        let recs = training_recordings(&fold.train);
        let mut cache = FeatureCache::default();
        let selection = select(family, &recs, &mut cache);
        let fitted = selection
            .as_ref()
            .and_then(|s| fit_spec(&recs, s, &mut cache));
        let (base_spo2, base_hr) = (spo2_mean(&fold.train), hr_mean(&fold.train));
        let mut fold_scored = Vec::new();
        for &group in &fold.test {
            let spo2 = match &fitted {
                Some(f) => {
                    let inputs: Vec<WindowInput> = group
                        .windows
                        .iter()
                        .map(|w| w.detail.spo2_input())
                        .collect();
                    let raw = raw_series_with(&f.spec, |x| f.fitted.predict(x), &inputs);
                    apply_range_with(&f.spec, &raw)
                }
                None => vec![Spo2Answer::NONE; group.windows.len()],
            };
            fold_scored.push(Scored {
                group,
                spo2,
                baseline_spo2: base_spo2,
                baseline_hr: base_hr,
            });
        }
        folds.push(FoldScore {
            held_out: fold.held_out.to_string(),
            selection,
            spo2: spo2_scores(&fold_scored),
        });
        for s in fold_scored {
            if let Some(i) = groups
                .iter()
                .position(|g| std::ptr::eq(g.windows, s.group.windows))
            {
                scored[i] = Some(s);
            }
        }
    }
    (scored.into_iter().flatten().collect(), folds)
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
            .filter_map(|(w, a)| Some((w.detail.start_s, a.percent?, w.spo2_label?)))
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
    let mut windows_total = 0;
    let mut hr_labelled = 0;
    let mut cal = CalibrationPairs::default();
    let mut per_recording = Vec::new();
    for s in scored {
        let mut rec_hr = Vec::new();
        let mut rec_spo2 = Vec::new();
        let mut rec_base = Vec::new();
        let mut labelled = 0;
        let mut series = Vec::new();
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
            series.push(WindowPoint {
                centre_s: 0.5 * (w.detail.start_s + w.detail.end_s),
                label: y,
                answer: *pred,
            });
            if let Some(p) = pred.percent {
                rec_spo2.push((p, y));
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
            series,
        });
        hr_pairs.extend(rec_hr);
    }
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
        spo2: spo2_scores(scored),
        families: Vec::new(),
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
    }
}
