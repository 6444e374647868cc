//! Scoring on labelled recordings: leave-one-subject-out or a fixed model, heart-rate and SpO2
//! errors next to the constant-mean baseline, Arms by band, hypoxemia detection, calibration.

use serde::{Deserialize, Serialize};

use crate::analysis::{analyze_detailed, AnalysisOptions, WindowDetail};
use crate::dataset::{LabelSource, ReferenceSeries};
use crate::features::WindowFeatures;
use crate::model::Spo2Model;
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
        self.detail
            .usable()
            .then_some(self.detail.features.as_ref())
            .flatten()
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
    // Features and heart rate do not depend on the model; any valid model will do here.
    let analysis = analyze_detailed(&trace, &Spo2Model::embedded(), &analysis_opts);
    analysis
        .windows
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

/// The scores `oxicam eval` prints; JSON keys are part of the CLI contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// `leave_one_subject_out` or `fixed_model`.
    pub mode: String,
    pub model_version: Option<String>,
    pub label_source: String,
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

fn sens_spec(pairs: &[(f64, f64)]) -> (Option<f64>, Option<f64>) {
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
    (
        (pos > 0).then(|| tp as f64 / pos as f64),
        (neg > 0).then(|| tn as f64 / neg as f64),
    )
}

fn round4(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1e4).round() / 1e4)
}

/// Predictions for one recording's windows: model estimate and baseline (training mean).
struct Scored<'a> {
    rec: &'a Recording,
    windows: &'a [LabelledWindow],
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

/// A recording's labelled windows with the subject they belong to.
pub type Group<'a> = (&'a str, &'a [LabelledWindow]);

fn training_set<'a>(groups: &[Group<'a>]) -> (Vec<&'a WindowFeatures>, Vec<f64>) {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (_, ws) in groups {
        for w in ws.iter() {
            if let (Some(f), Some(y)) = (w.usable_features(), w.spo2_label) {
                rows.push(f);
                labels.push(y);
            }
        }
    }
    (rows, labels)
}

/// Model estimates for a recording's windows (usable windows only, smoothed as the model says).
pub fn predict_windows(model: &Spo2Model, windows: &[LabelledWindow]) -> Vec<Option<f64>> {
    let centres: Vec<f64> = windows
        .iter()
        .map(|w| 0.5 * (w.detail.start_s + w.detail.end_s))
        .collect();
    let features: Vec<Option<&WindowFeatures>> =
        windows.iter().map(|w| w.usable_features()).collect();
    model.predict_series(&centres, &features)
}

/// Fits a candidate on some groups (`None` if too little data).
pub fn fit_groups(
    groups: &[Group],
    candidate: &Candidate,
    opts: &EvalOptions,
    version: &str,
    provenance: serde_json::Value,
) -> Option<Spo2Model> {
    let (rows, labels) = training_set(groups);
    fit_model(version, &rows, &labels, candidate, &opts.train, provenance)
}

/// The default when there are too few subjects to cross-validate.
pub const FALLBACK_CANDIDATE: Candidate = Candidate {
    feature_set: crate::training::FeatureSet::Ratios,
    alpha: 0.1,
    smoothing_s: 0.0,
};

/// Picks the candidate with the lowest leave-one-subject-out SpO2 MAE over `groups`.
pub fn select_candidate(groups: &[Group], opts: &EvalOptions) -> (Candidate, Option<f64>) {
    let mut subjects: Vec<&str> = groups.iter().map(|g| g.0).collect();
    subjects.sort();
    subjects.dedup();
    if subjects.len() < 2 {
        return (FALLBACK_CANDIDATE, None);
    }
    let mut best: Option<(Candidate, f64)> = None;
    for cand in candidates() {
        let (mut sum, mut n) = (0.0, 0usize);
        for &held in &subjects {
            let train: Vec<Group> = groups.iter().copied().filter(|g| g.0 != held).collect();
            let Some(model) = fit_groups(&train, &cand, opts, "inner", serde_json::Value::Null)
            else {
                continue;
            };
            for (_, ws) in groups.iter().filter(|g| g.0 == held) {
                for (p, w) in predict_windows(&model, ws).iter().zip(ws.iter()) {
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
        if best.as_ref().is_none_or(|b| mae < b.1) {
            best = Some((cand, mae));
        }
    }
    best.map_or((FALLBACK_CANDIDATE, None), |(c, m)| (c, Some(m)))
}

/// Ridge on raw vectors (standardised inside), for the change-tracking model below:
/// returns a predictor.
fn ridge_vectors(x: &[Vec<f64>], y: &[f64], alpha: f64) -> Option<impl Fn(&[f64]) -> f64> {
    use nalgebra::{DMatrix, DVector};
    let n = x.len();
    let p = x.first()?.len();
    if n < 2 * p + 2 {
        return None;
    }
    let mean: Vec<f64> = (0..p)
        .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let scale: Vec<f64> = (0..p)
        .map(|j| {
            (x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64)
                .sqrt()
                .max(1e-9)
        })
        .collect();
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let xm = DMatrix::from_fn(n, p, |i, j| {
        ((x[i][j] - mean[j]) / scale[j]).clamp(-4.0, 4.0)
    });
    let yv = DVector::from_fn(n, |i, _| y[i] - y_mean);
    let gram = xm.transpose() * &xm + DMatrix::identity(p, p) * (alpha * n as f64);
    let beta = gram.cholesky()?.solve(&(xm.transpose() * yv));
    Some(move |v: &[f64]| {
        y_mean
            + (0..p)
                .map(|j| beta[j] * ((v[j] - mean[j]) / scale[j]).clamp(-4.0, 4.0))
                .sum::<f64>()
    })
}

const DELTA_FEATURES: &[&str] = &["log_ror_rg", "log_ror_rb", "log_ror_gb"];

/// Per recording: (window start, feature change from the first span, label, label change),
/// where the first span's mean label stands for the user's reference reading.
#[allow(clippy::type_complexity)]
fn delta_rows(ws: &[LabelledWindow], span_s: f64) -> Option<(f64, Vec<(f64, Vec<f64>, f64)>)> {
    let t0 = ws.first()?.detail.start_s;
    let rows: Vec<(f64, Vec<f64>, f64)> = ws
        .iter()
        .filter_map(|w| {
            let f = w.usable_features()?;
            let x: Option<Vec<f64>> = DELTA_FEATURES.iter().map(|n| f.value(n)).collect();
            Some((w.detail.start_s, x?, w.spo2_label?))
        })
        .collect();
    let early: Vec<&(f64, Vec<f64>, f64)> = rows.iter().filter(|r| r.0 < t0 + span_s).collect();
    if early.is_empty() {
        return None;
    }
    let p = DELTA_FEATURES.len();
    let base_x: Vec<f64> = (0..p)
        .map(|j| early.iter().map(|r| r.1[j]).sum::<f64>() / early.len() as f64)
        .collect();
    let base_y = early.iter().map(|r| r.2).sum::<f64>() / early.len() as f64;
    let out = rows
        .into_iter()
        .filter(|r| r.0 >= t0 + span_s)
        .map(|(t, x, y)| (t, x.iter().zip(&base_x).map(|(a, b)| a - b).collect(), y))
        .collect();
    Some((base_y, out))
}

/// Calibrated change-tracking model, leave-one-subject-out: ridge from feature changes since
/// the first span to SpO2 changes, anchored on the reading at the start. Returns (pred, label).
fn delta_model_pairs(groups: &[Group], opts: &EvalOptions) -> Vec<(f64, f64)> {
    let mut subjects: Vec<&str> = groups.iter().map(|g| g.0).collect();
    subjects.sort();
    subjects.dedup();
    let mut pairs = Vec::new();
    for &held in &subjects {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (_, ws) in groups.iter().filter(|g| g.0 != held) {
            if let Some((base_y, rows)) = delta_rows(ws, opts.calibration_span_s) {
                for (_, dx, label) in rows {
                    x.push(dx);
                    y.push(label - base_y);
                }
            }
        }
        let Some(predict) = ridge_vectors(&x, &y, FALLBACK_CANDIDATE.alpha) else {
            continue;
        };
        for (_, ws) in groups.iter().filter(|g| g.0 == held) {
            if let Some((base_y, rows)) = delta_rows(ws, opts.calibration_span_s) {
                for (_, dx, label) in rows {
                    pairs.push(((base_y + predict(&dx)).clamp(70.0, 100.0), label));
                }
            }
        }
    }
    pairs
}

fn hr_mean(groups: &[Group]) -> f64 {
    let v: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.1.iter())
        .filter_map(|w| w.hr_label)
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn spo2_mean(groups: &[Group]) -> f64 {
    let (_, labels) = training_set(groups);
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
    evaluate_labelled(recordings, &labelled, model, opts)
}

/// As [`evaluate`], on windows already labelled (so `train` can reuse them).
pub fn evaluate_labelled(
    recordings: &[Recording],
    labelled: &[Vec<LabelledWindow>],
    model: Option<&Spo2Model>,
    opts: &EvalOptions,
) -> EvalReport {
    let groups: Vec<Group> = recordings
        .iter()
        .zip(labelled)
        .map(|(r, ws)| (r.subject.as_str(), ws.as_slice()))
        .collect();
    let mut subjects: Vec<String> = recordings.iter().map(|r| r.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();

    let mut folds = Vec::new();
    let mut scored: Vec<Scored> = Vec::new();
    match model {
        Some(m) => {
            let (base_spo2, base_hr) = (spo2_mean(&groups), hr_mean(&groups));
            for (rec, ws) in recordings.iter().zip(labelled) {
                scored.push(Scored {
                    rec,
                    windows: ws,
                    spo2: predict_windows(m, ws),
                    baseline_spo2: base_spo2,
                    baseline_hr: base_hr,
                });
            }
        }
        None => {
            for held in &subjects {
                let train: Vec<Group> = groups.iter().copied().filter(|g| g.0 != held).collect();
                let (candidate, inner) = select_candidate(&train, opts);
                folds.push(FoldChoice {
                    held_out: held.clone(),
                    candidate,
                    inner_spo2_mae: round4(inner),
                });
                let fitted = fit_groups(
                    &train,
                    &candidate,
                    opts,
                    "loso-fold",
                    serde_json::Value::Null,
                );
                let (base_spo2, base_hr) = (spo2_mean(&train), hr_mean(&train));
                for (rec, ws) in recordings
                    .iter()
                    .zip(labelled)
                    .filter(|(r, _)| &r.subject == held)
                {
                    let spo2 = fitted
                        .as_ref()
                        .map_or_else(|| vec![None; ws.len()], |m| predict_windows(m, ws));
                    scored.push(Scored {
                        rec,
                        windows: ws,
                        spo2,
                        baseline_spo2: base_spo2,
                        baseline_hr: base_hr,
                    });
                }
            }
        }
    }
    let mut report = summarise(&scored, model, subjects, opts);
    report.folds = folds;
    if model.is_none() {
        let pairs = delta_model_pairs(&groups, opts);
        report.calibration.change_model_windows = pairs.len();
        report.calibration.spo2_mae_change_model = round4(mae(&pairs));
    }
    report
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
    let mut cal = (Vec::new(), Vec::new(), Vec::new());
    let mut per_recording = Vec::new();
    for s in scored {
        let mut rec_hr = Vec::new();
        let mut rec_spo2 = Vec::new();
        let mut rec_base = Vec::new();
        let mut labelled = 0;
        for (w, pred) in s.windows.iter().zip(&s.spo2) {
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
        // Calibration: offset from the first span's windows, scored on the rest.
        let t0 = s.windows.first().map_or(0.0, |w| w.detail.start_s);
        let (early, late): (Vec<_>, Vec<_>) = s
            .windows
            .iter()
            .zip(&s.spo2)
            .filter_map(|(w, p)| Some((w.detail.start_s, (*p)?, w.spo2_label?)))
            .partition(|(t, _, _)| *t < t0 + opts.calibration_span_s);
        if !early.is_empty() && !late.is_empty() {
            let offset = early.iter().map(|(_, p, y)| y - p).sum::<f64>() / early.len() as f64;
            let base_offset = early
                .iter()
                .map(|(_, _, y)| y - s.baseline_spo2)
                .sum::<f64>()
                / early.len() as f64;
            for (_, p, y) in late {
                cal.0.push((p, y));
                cal.1.push(((p + offset).clamp(70.0, 100.0), y));
                cal.2
                    .push(((s.baseline_spo2 + base_offset).clamp(70.0, 100.0), y));
            }
        }
        per_recording.push(RecordingScore {
            subject: s.rec.subject.clone(),
            hand: s.rec.hand.clone(),
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
    let (sens, spec) = sens_spec(&spo2_pairs);
    let (bsens, bspec) = sens_spec(&spo2_base);
    EvalReport {
        mode: if model.is_some() {
            "fixed_model"
        } else {
            "leave_one_subject_out"
        }
        .to_string(),
        model_version: model.map(|m| m.version().to_string()),
        label_source: opts.label_source.name().to_string(),
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
        sensitivity_below_90: round4(sens),
        specificity_below_90: round4(spec),
        baseline_sensitivity_below_90: round4(bsens),
        baseline_specificity_below_90: round4(bspec),
        coverage: round4(Some(spo2_pairs.len() as f64 / windows_total.max(1) as f64))
            .unwrap_or(0.0),
        heart_rate_coverage: round4(Some(hr_pairs.len() as f64 / hr_labelled.max(1) as f64))
            .unwrap_or(0.0),
        calibration: CalibrationScore {
            windows: cal.0.len(),
            spo2_mae_uncalibrated: round4(mae(&cal.0)),
            spo2_mae_calibrated: round4(mae(&cal.1)),
            baseline_spo2_mae_calibrated: round4(mae(&cal.2)),
            ..CalibrationScore::default()
        },
        per_recording,
        folds: Vec::new(),
    }
}
