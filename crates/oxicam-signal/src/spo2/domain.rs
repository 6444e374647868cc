//! The SpO2 model's domain: a box around the training features (per-feature quantiles widened
//! by a margin), and why a window falls outside it.

use serde::{Deserialize, Serialize};

use super::features::Spo2Feature;
use crate::trace::Channel;

/// Per-feature bounds learnt on the training windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainBox {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// The bounds are the `quantile` and `1 - quantile` training quantiles, each moved out by
    /// `margin` times their distance.
    pub quantile: f64,
    pub margin: f64,
}

/// Box shapes tried, tightest first; training keeps the first whose held-out (inner
/// leave-one-subject-out) windows fall inside at least [`MIN_HELD_OUT_INSIDE`] of the time.
pub const BOX_GRID: [(f64, f64); 5] = [
    (0.01, 0.0),
    (0.01, 0.1),
    (0.005, 0.25),
    (0.0, 0.25),
    (0.0, 0.5),
];
pub const MIN_HELD_OUT_INSIDE: f64 = 0.95;

/// Quantile of sorted data with linear interpolation (numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    let next = sorted[(i + 1).min(sorted.len() - 1)];
    sorted[i] + frac * (next - sorted[i])
}

impl DomainBox {
    pub fn fit(rows: &[Vec<f64>], quantile: f64, margin: f64) -> Option<DomainBox> {
        let p = rows.first()?.len();
        let mut lower = Vec::with_capacity(p);
        let mut upper = Vec::with_capacity(p);
        for j in 0..p {
            let mut col: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            col.sort_by(f64::total_cmp);
            let (lo, hi) = (
                quantile_sorted(&col, quantile),
                quantile_sorted(&col, 1.0 - quantile),
            );
            let pad = margin * (hi - lo);
            lower.push(lo - pad);
            upper.push(hi + pad);
        }
        Some(DomainBox {
            lower,
            upper,
            quantile,
            margin,
        })
    }

    /// Index of the first feature outside the box.
    pub fn outside(&self, x: &[f64]) -> Option<usize> {
        x.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .position(|(v, (lo, hi))| !(v >= lo && v <= hi))
    }

    pub(crate) fn is_valid(&self, p: usize) -> bool {
        self.lower.len() == p
            && self.upper.len() == p
            && self
                .lower
                .iter()
                .zip(&self.upper)
                .all(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo <= hi)
    }
}

/// A camera may record the same finger up to this factor brighter or darker per channel
/// (issue 13's simulated devices: gains 0.5-2x) and still be in the domain.
pub const GAIN_TOLERANCE: f64 = 2.0;
/// Share of training windows left out at each end before the tolerance is applied.
const LEVEL_QUANTILE: f64 = 0.005;

/// Per-channel mean levels (8-bit) the model accepts: the training windows' range widened by
/// [`GAIN_TOLERANCE`]. A red near saturation or a green near black means another sensor,
/// white balance or exposure than the model knows, even when the ratios look familiar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelBox {
    pub lower: [f64; 3],
    pub upper: [f64; 3],
}

impl LevelBox {
    pub fn fit(levels: &[[f64; 3]]) -> Option<LevelBox> {
        if levels.is_empty() {
            return None;
        }
        let mut lower = [0.0; 3];
        let mut upper = [0.0; 3];
        for c in 0..3 {
            let mut col: Vec<f64> = levels.iter().map(|l| l[c]).collect();
            col.sort_by(f64::total_cmp);
            lower[c] = quantile_sorted(&col, LEVEL_QUANTILE) / GAIN_TOLERANCE;
            upper[c] = quantile_sorted(&col, 1.0 - LEVEL_QUANTILE) * GAIN_TOLERANCE;
        }
        Some(LevelBox { lower, upper })
    }

    /// The first channel whose level is outside.
    pub fn outside(&self, level: &[f64; 3]) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| {
            let i = c.index();
            !(level[i] >= self.lower[i] && level[i] <= self.upper[i])
        })
    }

    pub(crate) fn is_valid(&self) -> bool {
        (0..3).all(|c| {
            self.lower[c].is_finite() && self.upper[c].is_finite() && self.lower[c] <= self.upper[c]
        })
    }
}

/// Why an SpO2 number is withheld although the heart rate was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DomainIssue {
    /// A colour channel is saturated or black (the model needs all three).
    ChannelOutOfRange { channel: Channel },
    /// A channel's level is far from the training recordings' (another camera or exposure).
    LevelOutside { channel: Channel },
    /// The pulse could not be measured in every channel (too few beats, no spectral peak).
    FeatureMissing,
    /// A feature lies outside the range of the training recordings.
    FeatureOutside { feature: Spo2Feature },
    /// The estimate lies above the highest saturation the model was trained on.
    AboveRange,
    /// Fewer than half the usable windows of the recording are inside the domain.
    MostWindowsOutside,
}

impl DomainIssue {
    /// One sentence for the report.
    pub fn message(self) -> String {
        match self {
            DomainIssue::ChannelOutOfRange { channel } => format!(
                "SpO2 is withheld: the {} channel is saturated or too dark, unlike the \
                 recordings the model was trained on; the heart rate is still given.",
                channel.name()
            ),
            DomainIssue::LevelOutside { channel } => format!(
                "SpO2 is withheld: the {} channel is much brighter or darker than in the \
                 recordings the model was trained on, as with another camera; the heart rate \
                 is still given.",
                channel.name()
            ),
            DomainIssue::FeatureMissing => "SpO2 is withheld: the pulse could not be measured \
                 in every colour channel; the heart rate is still given."
                .to_string(),
            DomainIssue::FeatureOutside { feature } => format!(
                "SpO2 is withheld: the colour pulse ({}) is outside what the model saw in \
                 training, as happens with another camera; the heart rate is still given.",
                feature.name()
            ),
            DomainIssue::AboveRange => "SpO2 is withheld: the estimate lies above the range \
                 the model was trained on; the heart rate is still given."
                .to_string(),
            DomainIssue::MostWindowsOutside => "SpO2 is withheld: most of the recording is \
                 outside what the model saw in training, as happens with another camera; \
                 the heart rate is still given."
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_holds_the_training_bulk_and_names_the_feature_outside() {
        let rows: Vec<Vec<f64>> = (0..101).map(|i| vec![i as f64, -(i as f64)]).collect();
        let b = DomainBox::fit(&rows, 0.01, 0.1).unwrap();
        assert!(
            (b.lower[0] - (1.0 - 9.8)).abs() < 1e-9 && (b.upper[0] - (99.0 + 9.8)).abs() < 1e-9
        );
        assert_eq!(b.outside(&[50.0, -50.0]), None);
        assert_eq!(b.outside(&[50.0, 20.0]), Some(1));
        assert_eq!(b.outside(&[f64::NAN, -50.0]), Some(0));
        assert!((quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn level_box_tolerates_a_factor_two_and_no_more() {
        let levels: Vec<[f64; 3]> = (0..=200)
            .map(|i| [40.0 + i as f64 / 10.0, 80.0, 45.0])
            .collect();
        let b = LevelBox::fit(&levels).unwrap();
        assert_eq!(b.outside(&[30.0, 160.0, 22.5]), None);
        assert_eq!(b.outside(&[240.0, 80.0, 45.0]), Some(Channel::Red));
        assert_eq!(b.outside(&[40.0, 80.0, 10.0]), Some(Channel::Blue));
        assert_eq!(b.outside(&[f64::NAN, 80.0, 45.0]), Some(Channel::Red));
    }
}
