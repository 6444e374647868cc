//! SpO2 from a recording's windows: gain-invariant colour features with temporal context, a
//! ridge model, a domain check, split-conformal intervals, and no number at a clamp.
//!
//! Flow: [`features::ChannelMeasures`] per window -> [`context_features`] (median over nearby
//! windows) -> domain box -> ridge -> median smoothing -> [`apply_range`] (estimate, below the
//! range, or withheld) -> [`summarise`] for the recording; [`screen`] turns an estimate into
//! a hypoxaemia verdict.

pub mod conformal;
pub mod domain;
pub mod features;
pub mod model;
pub mod screen;
pub mod training;

use serde::{Deserialize, Serialize};

use domain::DomainIssue;
use features::{ChannelMeasures, Spo2Feature};
use model::Spo2Model;
use screen::{Hypoxaemia, ScreenRule};

/// What the SpO2 pipeline needs of one window.
#[derive(Debug, Clone, Copy)]
pub struct WindowInput<'a> {
    pub centre_s: f64,
    /// The window passed the heart-rate quality gates.
    pub usable: bool,
    pub measures: Option<&'a ChannelMeasures>,
}

/// A window's features before the model: absent (window unusable), a domain issue, or values.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureState {
    NotUsable,
    Issue(DomainIssue),
    Values(Vec<f64>),
}

use crate::stats::median as median_of;
use crate::trace::Channel;

/// Per-window features, each replaced by its median over the windows (with features) whose
/// centres lie within `context_s / 2` of the window's centre.
pub fn context_features(
    features: &[Spo2Feature],
    context_s: f64,
    windows: &[WindowInput],
) -> Vec<FeatureState> {
    let base: Vec<FeatureState> = windows
        .iter()
        .map(|w| {
            if !w.usable {
                return FeatureState::NotUsable;
            }
            let Some(m) = w.measures else {
                return FeatureState::NotUsable;
            };
            if let Some(channel) = Channel::ALL.into_iter().find(|c| !m.in_range[c.index()]) {
                return FeatureState::Issue(DomainIssue::ChannelOutOfRange { channel });
            }
            match features.iter().map(|&f| m.value(f)).collect() {
                Some(v) => FeatureState::Values(v),
                None => FeatureState::Issue(DomainIssue::FeatureMissing),
            }
        })
        .collect();
    if context_s <= 0.0 {
        return base;
    }
    let half = context_s / 2.0;
    windows
        .iter()
        .zip(&base)
        .map(|(w, state)| {
            let FeatureState::Values(own) = state else {
                return state.clone();
            };
            let near: Vec<&Vec<f64>> = windows
                .iter()
                .zip(&base)
                .filter(|(u, _)| (u.centre_s - w.centre_s).abs() <= half)
                .filter_map(|(_, s)| match s {
                    FeatureState::Values(v) => Some(v),
                    _ => None,
                })
                .collect();
            FeatureState::Values(
                (0..own.len())
                    .map(|j| median_of(near.iter().map(|v| v[j]).collect()).unwrap_or(own[j]))
                    .collect(),
            )
        })
        .collect()
}

/// Mean of the `Some` values within `span_s / 2` of each window (windows without a value stay
/// without one); `span_s <= 0` returns the input. A mean rather than a median: a neighbour that
/// drops out (a gate tripped by another camera's exposure) moves it by a bounded share instead
/// of a jump to the next order statistic.
pub fn smooth(centres_s: &[f64], values: &[Option<f64>], span_s: f64) -> Vec<Option<f64>> {
    if span_s <= 0.0 {
        return values.to_vec();
    }
    let half = span_s / 2.0;
    centres_s
        .iter()
        .zip(values)
        .map(|(&t, v)| {
            v.as_ref()?;
            let near: Vec<f64> = centres_s
                .iter()
                .zip(values)
                .filter(|(&u, _)| (u - t).abs() <= half)
                .filter_map(|(_, v)| *v)
                .collect();
            Some(near.iter().sum::<f64>() / near.len() as f64)
        })
        .collect()
}

/// A window's model output before the range rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawSpo2 {
    NotUsable,
    Issue(DomainIssue),
    /// Smoothed model estimate (unclamped).
    Estimate(f64),
}

impl RawSpo2 {
    pub fn estimate(&self) -> Option<f64> {
        match self {
            RawSpo2::Estimate(v) => Some(*v),
            _ => None,
        }
    }
}

/// Everything but the regressor of a model: features, context, smoothing, domain, interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Spo2Spec {
    pub features: Vec<Spo2Feature>,
    pub context_s: f64,
    pub smoothing_s: f64,
    pub domain: domain::DomainBox,
    pub levels: domain::LevelBox,
    pub interval: conformal::ConformalInterval,
    pub output_range: [f64; 2],
    pub screen: Option<ScreenRule>,
}

impl Spo2Model {
    pub fn spec(&self) -> Spo2Spec {
        Spo2Spec {
            features: self.features.clone(),
            context_s: self.context_s,
            smoothing_s: self.smoothing_s,
            domain: self.domain.clone(),
            levels: self.levels,
            interval: self.interval,
            output_range: self.output_range,
            screen: self.screen,
        }
    }
}

/// Model estimates of a recording's windows: context, feature box, ridge, smoothing, then the
/// channel-level check.
pub fn raw_series(model: &Spo2Model, windows: &[WindowInput]) -> Vec<RawSpo2> {
    raw_series_with(&model.spec(), |x| model.ridge.predict(x), windows)
}

/// As [`raw_series`] for any regressor. The level check comes last so that a camera's gain,
/// which leaves every feature as it was, cannot move an estimate by changing which
/// neighbours are smoothed.
pub fn raw_series_with(
    spec: &Spo2Spec,
    predict: impl Fn(&[f64]) -> f64,
    windows: &[WindowInput],
) -> Vec<RawSpo2> {
    let states = context_features(&spec.features, spec.context_s, windows);
    let centres: Vec<f64> = windows.iter().map(|w| w.centre_s).collect();
    let raw = raw_from_states(
        &states,
        &centres,
        predict,
        Some((&spec.domain, &spec.features)),
        spec.smoothing_s,
    );
    raw.into_iter()
        .zip(windows)
        .map(|(r, w)| match (r, w.measures) {
            (RawSpo2::Estimate(_), Some(m)) => match spec.levels.outside(&m.level) {
                Some(channel) => RawSpo2::Issue(DomainIssue::LevelOutside { channel }),
                None => r,
            },
            _ => r,
        })
        .collect()
}

/// As [`raw_series`] from features already computed: `predict` maps a feature vector to an
/// estimate; windows outside `domain` (when given) get the issue naming the feature.
pub fn raw_from_states(
    states: &[FeatureState],
    centres_s: &[f64],
    predict: impl Fn(&[f64]) -> f64,
    domain: Option<(&domain::DomainBox, &[Spo2Feature])>,
    smoothing_s: f64,
) -> Vec<RawSpo2> {
    let raw: Vec<RawSpo2> = states
        .iter()
        .map(|s| match s {
            FeatureState::NotUsable => RawSpo2::NotUsable,
            FeatureState::Issue(i) => RawSpo2::Issue(*i),
            FeatureState::Values(x) => match domain.and_then(|(b, f)| Some(f[b.outside(x)?])) {
                Some(feature) => RawSpo2::Issue(DomainIssue::FeatureOutside { feature }),
                None => RawSpo2::Estimate(predict(x)),
            },
        })
        .collect();
    let values: Vec<Option<f64>> = raw.iter().map(RawSpo2::estimate).collect();
    let smoothed = smooth(centres_s, &values, smoothing_s);
    raw.into_iter()
        .zip(smoothed)
        .map(|(r, s)| match (r, s) {
            (RawSpo2::Estimate(_), Some(v)) => RawSpo2::Estimate(v),
            (r, _) => r,
        })
        .collect()
}

/// What the report says about SpO2 (for a window or a recording).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Spo2Status {
    /// A number with its interval.
    Estimated,
    /// Below the lowest saturation the model was trained on: no number, an interval whose
    /// upper end says how high it may be.
    BelowRange,
    /// Outside what the model knows (another camera, a saturated channel, an estimate above
    /// the training range): no number.
    OutOfDomain,
    /// No SpO2 was attempted (the window or recording failed the quality gates).
    #[default]
    Unavailable,
}

/// The SpO2 answer for a window or a recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spo2Answer {
    pub status: Spo2Status,
    /// Calibrated, unclamped model estimate (present whenever the model produced one, also
    /// when withheld above the range, for evaluation).
    pub estimate: Option<f64>,
    /// Reported value: only when `Estimated`.
    pub percent: Option<f64>,
    /// 90 % nominal interval: when `Estimated` or `BelowRange`.
    pub interval: Option<[f64; 2]>,
    pub issue: Option<DomainIssue>,
    /// The hypoxaemia screen: when `Estimated` or `BelowRange` and the model has a screen.
    pub hypoxaemia: Option<Hypoxaemia>,
}

impl Spo2Answer {
    /// No SpO2 attempted.
    pub const NONE: Spo2Answer = Spo2Answer {
        status: Spo2Status::Unavailable,
        estimate: None,
        percent: None,
        interval: None,
        issue: None,
        hypoxaemia: None,
    };

    fn from_estimate(spec: &Spo2Spec, v: f64) -> Spo2Answer {
        let [lo, hi] = spec.output_range;
        let interval = Some(spec.interval.around(v));
        let (status, percent, interval, issue) = if v > hi {
            (
                Spo2Status::OutOfDomain,
                None,
                None,
                Some(DomainIssue::AboveRange),
            )
        } else if v < lo {
            (Spo2Status::BelowRange, None, interval, None)
        } else {
            (Spo2Status::Estimated, Some(v), interval, None)
        };
        Spo2Answer {
            status,
            estimate: Some(v),
            percent,
            interval,
            issue,
            hypoxaemia: interval.and(spec.screen).map(|s| s.classify(v)),
        }
    }

    fn without(status: Spo2Status, issue: Option<DomainIssue>) -> Spo2Answer {
        Spo2Answer {
            status,
            estimate: None,
            percent: None,
            interval: None,
            issue,
            hypoxaemia: None,
        }
    }
}

/// The range rule and the screen per window.
pub fn apply_range(model: &Spo2Model, raw: &[RawSpo2]) -> Vec<Spo2Answer> {
    apply_range_with(&model.spec(), raw)
}

/// As [`apply_range`] for any model's spec.
pub fn apply_range_with(spec: &Spo2Spec, raw: &[RawSpo2]) -> Vec<Spo2Answer> {
    raw.iter()
        .map(|r| match r {
            RawSpo2::NotUsable => Spo2Answer::without(Spo2Status::Unavailable, None),
            RawSpo2::Issue(i) => Spo2Answer::without(Spo2Status::OutOfDomain, Some(*i)),
            RawSpo2::Estimate(v) => Spo2Answer::from_estimate(spec, *v),
        })
        .collect()
}

/// The recording's answer: the median of the in-domain window estimates when at least half of
/// the usable windows are in the domain, then the range rule.
pub fn summarise(model: &Spo2Model, raw: &[RawSpo2]) -> Spo2Answer {
    let usable = raw.iter().filter(|r| **r != RawSpo2::NotUsable).count();
    let estimates: Vec<f64> = raw.iter().filter_map(RawSpo2::estimate).collect();
    if usable == 0 {
        return Spo2Answer::without(Spo2Status::Unavailable, None);
    }
    if estimates.len() * 2 < usable {
        // Name the commonest issue when there is one clear cause.
        let mut counts: Vec<(DomainIssue, usize)> = Vec::new();
        for r in raw {
            if let RawSpo2::Issue(i) = r {
                match counts.iter_mut().find(|(k, _)| k == i) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((*i, 1)),
                }
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let issue = match counts.first() {
            Some((i, n)) if n * 2 >= usable => *i,
            _ => DomainIssue::MostWindowsOutside,
        };
        return Spo2Answer::without(Spo2Status::OutOfDomain, Some(issue));
    }
    match median_of(estimates) {
        Some(m) => Spo2Answer::from_estimate(&model.spec(), m),
        None => Spo2Answer::without(Spo2Status::Unavailable, None),
    }
}

#[cfg(test)]
mod tests {
    use super::conformal::ConformalInterval;
    use super::domain::{DomainBox, LevelBox};
    use super::model::ModelFamily;
    use super::*;
    use crate::ridge::Ridge;

    /// SpO2 = 85 + 100 * log(green/blue ratio of ratios): easy to steer from a test.
    fn model() -> Spo2Model {
        Spo2Model {
            version: "spo2-test".into(),
            family: ModelFamily::Ridge,
            features: vec![Spo2Feature::LogRorSpectralGb],
            context_s: 0.0,
            smoothing_s: 0.0,
            ridge: Ridge {
                mean: vec![0.0],
                scale: vec![1.0],
                coefficients: vec![100.0],
                intercept: 85.0,
            },
            domain: DomainBox {
                lower: vec![-0.3],
                upper: vec![0.3],
                quantile: 0.0,
                margin: 0.0,
            },
            levels: LevelBox {
                lower: [10.0; 3],
                upper: [200.0; 3],
            },
            interval: ConformalInterval {
                level: 0.9,
                half_width: 10.0,
                calibration_windows: 100,
            },
            output_range: [70.0, 100.0],
            screen: Some(ScreenRule {
                interval: ConformalInterval {
                    level: 0.7,
                    half_width: 4.0,
                    calibration_windows: 100,
                },
                training_uncertain_share: 0.2,
            }),
            provenance: serde_json::Value::Null,
        }
    }

    fn measures(log_gb: f64, level: [f64; 3]) -> ChannelMeasures {
        ChannelMeasures {
            spectral: [0.01, 0.01 * log_gb.exp(), 0.01],
            harmonic: [0.005; 3],
            rms: [0.01; 3],
            beat: [0.02; 3],
            level,
            in_range: level.map(|l| l > 5.0 && l < 250.0),
        }
    }

    fn answers(ms: &[ChannelMeasures]) -> (Vec<Spo2Answer>, Spo2Answer) {
        let m = model();
        let inputs: Vec<WindowInput> = ms
            .iter()
            .enumerate()
            .map(|(i, x)| WindowInput {
                centre_s: i as f64 * 2.0,
                usable: true,
                measures: Some(x),
            })
            .collect();
        let raw = raw_series(&m, &inputs);
        (apply_range(&m, &raw), summarise(&m, &raw))
    }

    #[test]
    fn no_number_at_a_clamp_and_low_values_stay_visible() {
        let lv = [50.0, 70.0, 45.0];
        let (w, _) = answers(&[
            measures(0.0, lv),
            measures(-0.2, lv),
            measures(0.2, lv),
            measures(-0.4, lv),
        ]);
        assert_eq!(w[0].status, Spo2Status::Estimated);
        assert!((w[0].percent.unwrap() - 85.0).abs() < 1e-9);
        assert_eq!(w[0].interval, Some([75.0, 95.0]));
        // 85 +- 4 lies below 90.
        assert_eq!(w[0].hypoxaemia, Some(Hypoxaemia::Likely));
        // 65 %: below the range the model knows, no number, an interval that says how high.
        assert_eq!(w[1].status, Spo2Status::BelowRange);
        assert_eq!(w[1].percent, None);
        let [_, hi] = w[1].interval.unwrap();
        assert!((hi - 75.0).abs() < 1e-9);
        assert_eq!(w[1].hypoxaemia, Some(Hypoxaemia::Likely));
        // 105 %: withheld, not reported as 100.
        assert_eq!(w[2].status, Spo2Status::OutOfDomain);
        assert_eq!(w[2].issue, Some(DomainIssue::AboveRange));
        assert_eq!((w[2].percent, w[2].interval), (None, None));
        assert_eq!(w[2].hypoxaemia, None);
        // Outside the feature box: withheld, naming the feature.
        assert_eq!(
            w[3].issue,
            Some(DomainIssue::FeatureOutside {
                feature: Spo2Feature::LogRorSpectralGb
            })
        );
    }

    #[test]
    fn another_camera_is_withheld_with_the_reason() {
        // Red near saturation (as on most phones), green dark: another sensor and exposure.
        let (w, rec) = answers(&vec![measures(0.0, [240.0, 30.0, 45.0]); 5]);
        assert!(w.iter().all(|a| a.status == Spo2Status::OutOfDomain));
        assert_eq!(rec.status, Spo2Status::OutOfDomain);
        assert_eq!(
            rec.issue,
            Some(DomainIssue::LevelOutside {
                channel: Channel::Red
            })
        );
        assert!(rec.issue.unwrap().message().contains("red channel"));
        let (_, rec) = answers(&vec![measures(0.0, [255.0, 70.0, 45.0]); 5]);
        assert_eq!(
            rec.issue,
            Some(DomainIssue::ChannelOutOfRange {
                channel: Channel::Red
            })
        );
    }

    #[test]
    fn recording_answer_is_the_median_with_the_range_rule() {
        let lv = [50.0, 70.0, 45.0];
        let (_, rec) = answers(&[measures(0.0, lv), measures(0.05, lv), measures(0.1, lv)]);
        assert_eq!(rec.status, Spo2Status::Estimated);
        assert!((rec.percent.unwrap() - 90.0).abs() < 1e-9);
        assert_eq!(rec.hypoxaemia, Some(Hypoxaemia::Uncertain));
        let (_, rec) = answers(&[measures(-0.2, lv), measures(-0.25, lv), measures(0.0, lv)]);
        assert_eq!(rec.status, Spo2Status::BelowRange);
        assert!(rec.interval.is_some() && rec.percent.is_none());
        // Most windows outside the domain: the recording is withheld even if some are inside.
        let bad = [240.0, 30.0, 45.0];
        let (_, rec) = answers(&[measures(0.0, lv), measures(0.0, bad), measures(0.0, bad)]);
        assert_eq!(rec.status, Spo2Status::OutOfDomain);
    }

    #[test]
    fn context_is_the_median_of_nearby_windows() {
        let lv = [50.0, 70.0, 45.0];
        let ms = [measures(0.0, lv), measures(0.3, lv), measures(0.1, lv)];
        let inputs: Vec<WindowInput> = ms
            .iter()
            .enumerate()
            .map(|(i, x)| WindowInput {
                centre_s: i as f64 * 5.0,
                usable: true,
                measures: Some(x),
            })
            .collect();
        let s = context_features(&[Spo2Feature::LogRorSpectralGb], 10.0, &inputs);
        let v = |i: usize| match &s[i] {
            FeatureState::Values(v) => v[0],
            other => panic!("{other:?}"),
        };
        assert!((v(1) - 0.1).abs() < 1e-12 && (v(0) - 0.15).abs() < 1e-12);
        let smoothed = smooth(&[0.0, 5.0, 100.0], &[Some(80.0), Some(90.0), None], 20.0);
        assert_eq!(smoothed, vec![Some(85.0), Some(85.0), None]);
    }
}
