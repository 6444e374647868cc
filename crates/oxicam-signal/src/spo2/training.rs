//! Fitting the SpO2 model: every choice (feature set, context, ridge penalty, smoothing,
//! domain box, conformal half-width) made by leave-one-subject-out on the training subjects
//! only, over a grid fixed in advance; deterministic.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::conformal::{ConformalInterval, NOMINAL_LEVEL};
use super::domain::{DomainBox, LevelBox, BOX_GRID, MIN_HELD_OUT_INSIDE};
use super::features::FeatureGroup;
use super::model::{ModelFamily, Spo2Model};
use super::screen::ScreenRule;
use super::{context_features, raw_from_states, FeatureState, RawSpo2, Spo2Spec, WindowInput};
use crate::ridge::{Intercept, Ridge};

/// One recording's windows with their reference labels.
#[derive(Debug, Clone)]
pub struct TrainingRecording<'a> {
    pub subject: String,
    pub windows: Vec<WindowInput<'a>>,
    pub labels: Vec<Option<f64>>,
}

impl TrainingRecording<'_> {
    fn centres(&self) -> Vec<f64> {
        self.windows.iter().map(|w| w.centre_s).collect()
    }
}

/// Model families compared by `oxicam eval`; the shipped model is a ridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Ridge regression on standardised features.
    Ridge,
    /// Gradient-boosted regression trees (squared error, no subsampling: deterministic).
    BoostedTrees,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Ridge => "ridge",
            Family::BoostedTrees => "boosted_trees",
        }
    }
}

/// The regressor of a candidate and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "family")]
pub enum Regressor {
    /// Penalty per training sample on standardised features.
    Ridge { alpha: f64 },
    /// Trees of this depth, learning rate 0.05, at least 50 windows per leaf.
    BoostedTrees { depth: u32, trees: usize },
}

/// One modelling choice, scored by inner cross-validation, never on reported numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub features: FeatureGroup,
    /// Feature context span (s), see [`Spo2Model::context_s`].
    pub context_s: f64,
    pub regressor: Regressor,
    pub smoothing_s: f64,
}

/// The grid searched for a family, fixed before looking at any result.
pub fn candidates(family: Family) -> Vec<Candidate> {
    let regressors: Vec<Regressor> = match family {
        Family::Ridge => [0.01, 0.1, 1.0]
            .map(|alpha| Regressor::Ridge { alpha })
            .to_vec(),
        Family::BoostedTrees => vec![
            Regressor::BoostedTrees {
                depth: 2,
                trees: 150,
            },
            Regressor::BoostedTrees {
                depth: 3,
                trees: 300,
            },
        ],
    };
    let contexts: &[f64] = match family {
        Family::Ridge => &[0.0, 10.0, 30.0, 60.0],
        Family::BoostedTrees => &[0.0, 30.0, 60.0],
    };
    let mut out = Vec::new();
    for features in FeatureGroup::ALL {
        for &context_s in contexts {
            for &regressor in &regressors {
                for smoothing_s in [0.0, 60.0] {
                    out.push(Candidate {
                        features,
                        context_s,
                        regressor,
                        smoothing_s,
                    });
                }
            }
        }
    }
    out
}

/// A fitted regressor.
pub enum Fitted {
    Ridge(Ridge),
    BoostedTrees(Box<gbdt::gradient_boost::GBDT>),
}

impl Fitted {
    pub fn fit(regressor: Regressor, x: &[Vec<f64>], y: &[f64]) -> Option<Fitted> {
        match regressor {
            Regressor::Ridge { alpha } => {
                Ridge::fit(x, y, alpha, Intercept::RefitOnClamped).map(Fitted::Ridge)
            }
            Regressor::BoostedTrees { depth, trees } => {
                let p = x.first()?.len();
                if x.len() < 100 {
                    return None;
                }
                let mut cfg = gbdt::config::Config::new();
                cfg.set_feature_size(p);
                cfg.set_max_depth(depth);
                cfg.set_iterations(trees);
                cfg.set_shrinkage(0.05);
                cfg.set_min_leaf_size(50);
                cfg.set_loss("SquaredError");
                cfg.set_data_sample_ratio(1.0);
                cfg.set_feature_sample_ratio(1.0);
                cfg.set_training_optimization_level(2);
                let mut data: Vec<gbdt::decision_tree::Data> = x
                    .iter()
                    .zip(y)
                    .map(|(r, &l)| {
                        gbdt::decision_tree::Data::new_training_data(
                            r.iter().map(|&v| v as f32).collect(),
                            1.0,
                            l as f32,
                            None,
                        )
                    })
                    .collect();
                let mut model = gbdt::gradient_boost::GBDT::new(&cfg);
                model.fit(&mut data);
                Some(Fitted::BoostedTrees(Box::new(model)))
            }
        }
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        match self {
            Fitted::Ridge(r) => r.predict(x),
            Fitted::BoostedTrees(m) => {
                let data = vec![gbdt::decision_tree::Data::new_test_data(
                    x.iter().map(|&v| v as f32).collect(),
                    None,
                )];
                m.predict(&data).first().map_or(f64::NAN, |&v| f64::from(v))
            }
        }
    }
}

/// Estimates outside this range are not reported as numbers (see `Spo2Model::output_range`).
pub const OUTPUT_RANGE: [f64; 2] = [70.0, 100.0];

/// Context features per recording, computed once per (feature set, context span).
#[derive(Default)]
pub struct FeatureCache {
    states: HashMap<(FeatureGroup, u64), Vec<Vec<FeatureState>>>,
}

impl FeatureCache {
    fn get<'c>(
        &'c mut self,
        recs: &[TrainingRecording],
        group: FeatureGroup,
        context_s: f64,
    ) -> &'c Vec<Vec<FeatureState>> {
        self.states
            .entry((group, context_s.to_bits()))
            .or_insert_with(|| {
                let features = group.features();
                recs.iter()
                    .map(|r| context_features(&features, context_s, &r.windows))
                    .collect()
            })
    }
}

fn rows_of(
    states: &[Vec<FeatureState>],
    recs: &[TrainingRecording],
    keep: impl Fn(usize) -> bool,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, (st, rec)) in states.iter().zip(recs).enumerate() {
        if !keep(i) {
            continue;
        }
        for (s, label) in st.iter().zip(&rec.labels) {
            if let (FeatureState::Values(v), Some(l)) = (s, label) {
                x.push(v.clone());
                y.push(*l);
            }
        }
    }
    (x, y)
}

/// Every feature vector of the kept recordings, labelled or not.
fn values_of(states: &[Vec<FeatureState>], keep: impl Fn(usize) -> bool) -> Vec<Vec<f64>> {
    states
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .flat_map(|(_, st)| {
            st.iter().filter_map(|s| match s {
                FeatureState::Values(x) => Some(x.clone()),
                _ => None,
            })
        })
        .collect()
}

fn subjects(recs: &[TrainingRecording]) -> Vec<String> {
    let mut s: Vec<String> = recs.iter().map(|r| r.subject.clone()).collect();
    s.sort();
    s.dedup();
    s
}

/// Out-of-fold (leave-one-subject-out) estimates of a candidate, per recording, without a
/// domain box. Recordings of a subject whose fold could not be fitted get `NotUsable`.
pub fn loso_estimates(
    cand: &Candidate,
    recs: &[TrainingRecording],
    cache: &mut FeatureCache,
) -> Vec<Vec<RawSpo2>> {
    let states = cache.get(recs, cand.features, cand.context_s);
    let mut out: Vec<Vec<RawSpo2>> = recs
        .iter()
        .map(|r| vec![RawSpo2::NotUsable; r.windows.len()])
        .collect();
    for held in subjects(recs) {
        let (x, y) = rows_of(states, recs, |i| recs[i].subject != held);
        let Some(fitted) = Fitted::fit(cand.regressor, &x, &y) else {
            continue;
        };
        for (i, rec) in recs.iter().enumerate().filter(|(_, r)| r.subject == held) {
            out[i] = raw_from_states(
                &states[i],
                &rec.centres(),
                |v| fitted.predict(v),
                None,
                cand.smoothing_s,
            );
        }
    }
    out
}

/// (estimate, label) pairs of out-of-fold estimates.
pub fn estimate_label_pairs(
    estimates: &[Vec<RawSpo2>],
    recs: &[TrainingRecording],
) -> Vec<(f64, f64)> {
    estimates
        .iter()
        .zip(recs)
        .flat_map(|(est, rec)| {
            est.iter()
                .zip(&rec.labels)
                .filter_map(|(e, l)| Some((e.estimate()?, (*l)?)))
        })
        .collect()
}

/// Residuals (estimate - label) of out-of-fold estimates.
pub fn residuals(estimates: &[Vec<RawSpo2>], recs: &[TrainingRecording]) -> Vec<f64> {
    estimate_label_pairs(estimates, recs)
        .into_iter()
        .map(|(p, y)| p - y)
        .collect()
}

/// Everything chosen on a set of training subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub candidate: Candidate,
    /// Leave-one-subject-out SpO2 MAE of the chosen candidate on the training subjects.
    pub inner_spo2_mae: Option<f64>,
    pub interval: ConformalInterval,
    /// The hypoxaemia screen, chosen on the same out-of-fold estimates (within the output
    /// range) by [`ScreenRule::choose`].
    pub screen: Option<ScreenRule>,
    /// Domain box quantile and margin, and the share of held-out training windows inside.
    pub box_quantile: f64,
    pub box_margin: f64,
    pub inner_inside_share: Option<f64>,
}

/// Chooses the candidate with the lowest leave-one-subject-out MAE, then the conformal
/// half-width from its out-of-fold residuals and the tightest domain box that holds at least
/// 95 % of held-out windows. `None` with fewer than two subjects or no fit at all.
pub fn select(
    family: Family,
    recs: &[TrainingRecording],
    cache: &mut FeatureCache,
) -> Option<Selection> {
    if subjects(recs).len() < 2 {
        return None;
    }
    // (candidate, out-of-fold MAE, its (estimate, label) pairs)
    type Scored = (Candidate, f64, Vec<(f64, f64)>);
    let mut best: Option<Scored> = None;
    for cand in candidates(family) {
        let pairs = estimate_label_pairs(&loso_estimates(&cand, recs, cache), recs);
        if pairs.is_empty() {
            continue;
        }
        let mae = pairs.iter().map(|(p, y)| (p - y).abs()).sum::<f64>() / pairs.len() as f64;
        if best.as_ref().is_none_or(|b| mae < b.1) {
            best = Some((cand, mae, pairs));
        }
    }
    let (candidate, mae, pairs) = best?;
    let res: Vec<f64> = pairs.iter().map(|(p, y)| p - y).collect();
    let interval = ConformalInterval::from_residuals(&res, NOMINAL_LEVEL)?;
    // The screen sees what the product would screen: estimates up to the output range's top.
    let screened: Vec<(f64, f64)> = pairs
        .iter()
        .copied()
        .filter(|(p, _)| *p <= OUTPUT_RANGE[1])
        .collect();
    let screen = ScreenRule::choose(&screened);
    // Domain box: inside share of each held-out subject's windows under a box fitted on the
    // other subjects, pooled over folds.
    let states = cache.get(recs, candidate.features, candidate.context_s);
    let mut inside = [0usize; BOX_GRID.len()];
    let mut total = 0usize;
    for held in subjects(recs) {
        let (x, _) = rows_of(states, recs, |i| recs[i].subject != held);
        let held_x = values_of(states, |i| recs[i].subject == held);
        total += held_x.len();
        for (k, &(q, m)) in BOX_GRID.iter().enumerate() {
            if let Some(b) = DomainBox::fit(&x, q, m) {
                inside[k] += held_x.iter().filter(|v| b.outside(v).is_none()).count();
            }
        }
    }
    let shares: Vec<f64> = inside
        .iter()
        .map(|&n| n as f64 / total.max(1) as f64)
        .collect();
    let k = shares
        .iter()
        .position(|&s| s >= MIN_HELD_OUT_INSIDE)
        .unwrap_or(BOX_GRID.len() - 1);
    Some(Selection {
        candidate,
        inner_spo2_mae: Some(mae),
        interval,
        screen,
        box_quantile: BOX_GRID[k].0,
        box_margin: BOX_GRID[k].1,
        inner_inside_share: (total > 0).then_some(shares[k]),
    })
}

/// The selected candidate fitted on all the given recordings, with its domain: what a model
/// of any family needs to answer.
pub struct FittedSpec {
    pub fitted: Fitted,
    pub spec: Spo2Spec,
}

/// Fits the selected candidate (any family) on all the given recordings.
pub fn fit_spec(
    recs: &[TrainingRecording],
    selection: &Selection,
    cache: &mut FeatureCache,
) -> Option<FittedSpec> {
    let cand = selection.candidate;
    let states = cache.get(recs, cand.features, cand.context_s);
    let (x, y) = rows_of(states, recs, |_| true);
    let fitted = Fitted::fit(cand.regressor, &x, &y)?;
    // The box covers every training window with features, labelled or not.
    let all_x = values_of(states, |_| true);
    let domain = DomainBox::fit(&all_x, selection.box_quantile, selection.box_margin)?;
    let levels: Vec<[f64; 3]> = recs
        .iter()
        .flat_map(|r| r.windows.iter())
        .filter(|w| w.usable)
        .filter_map(|w| w.measures.map(|m| m.level))
        .collect();
    let levels = LevelBox::fit(&levels)?;
    Some(FittedSpec {
        fitted,
        spec: Spo2Spec {
            features: cand.features.features(),
            context_s: cand.context_s,
            smoothing_s: cand.smoothing_s,
            domain,
            levels,
            interval: selection.interval,
            output_range: OUTPUT_RANGE,
            screen: selection.screen,
        },
    })
}

/// Fits the selected ridge candidate on all the given recordings as a model file; `None` for
/// another family (only ridge models are shipped) or too little data.
pub fn fit(
    version: &str,
    recs: &[TrainingRecording],
    selection: &Selection,
    cache: &mut FeatureCache,
    provenance: serde_json::Value,
) -> Option<Spo2Model> {
    let FittedSpec { fitted, spec } = fit_spec(recs, selection, cache)?;
    let Fitted::Ridge(ridge) = fitted else {
        return None;
    };
    Some(Spo2Model {
        version: version.to_string(),
        family: ModelFamily::Ridge,
        features: spec.features,
        context_s: spec.context_s,
        smoothing_s: spec.smoothing_s,
        ridge,
        domain: spec.domain,
        levels: spec.levels,
        interval: spec.interval,
        output_range: spec.output_range,
        screen: spec.screen,
        provenance,
    })
}
