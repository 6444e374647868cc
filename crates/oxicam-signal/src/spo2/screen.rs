//! The hypoxaemia screen (SpO2 < 90 %): `likely` when a conformal interval around the estimate
//! lies wholly below 90 %, `unlikely` when it lies wholly at or above, `uncertain` otherwise.
//!
//! The screen's interval level is chosen on out-of-fold estimates of the training subjects by
//! a rule fixed before any evaluation ([`ScreenRule::choose`]): the widest interval (highest
//! level of [`SCREEN_LEVELS`]) that leaves at most [`MAX_UNCERTAIN_SHARE`] of windows
//! uncertain. A wider interval means fewer wrong verdicts and more `uncertain`.

use serde::{Deserialize, Serialize};

use super::conformal::ConformalInterval;

/// SpO2 below this (%) is hypoxaemia for the screen.
pub const HYPOXAEMIA_BELOW: f64 = 90.0;

/// Interval levels tried for the screen, widest first.
pub const SCREEN_LEVELS: [f64; 5] = [0.9, 0.8, 0.7, 0.6, 0.5];

/// Most windows the screen may leave undecided on the training subjects.
pub const MAX_UNCERTAIN_SHARE: f64 = 0.3;

/// The screen's verdict for a window or a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Hypoxaemia {
    /// The screen's interval lies below 90 %.
    Likely,
    /// The screen's interval lies at or above 90 %.
    Unlikely,
    /// The interval straddles 90 %: the recording cannot tell.
    Uncertain,
}

/// How the screen decides: the interval around the estimate, at the level chosen in training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScreenRule {
    pub interval: ConformalInterval,
    /// Share of the training subjects' out-of-fold windows left `uncertain` by this rule.
    pub training_uncertain_share: f64,
}

impl ScreenRule {
    pub fn classify(&self, estimate: f64) -> Hypoxaemia {
        let w = self.interval.half_width;
        if estimate + w < HYPOXAEMIA_BELOW {
            Hypoxaemia::Likely
        } else if estimate - w >= HYPOXAEMIA_BELOW {
            Hypoxaemia::Unlikely
        } else {
            Hypoxaemia::Uncertain
        }
    }

    /// The widest interval of [`SCREEN_LEVELS`] leaving at most [`MAX_UNCERTAIN_SHARE`] of the
    /// (out-of-fold estimate, label) pairs uncertain; the narrowest when none does. `None`
    /// without pairs.
    pub fn choose(pairs: &[(f64, f64)]) -> Option<ScreenRule> {
        let residuals: Vec<f64> = pairs.iter().map(|(p, y)| p - y).collect();
        let mut last = None;
        for level in SCREEN_LEVELS {
            let interval = ConformalInterval::from_residuals(&residuals, level)?;
            let mut rule = ScreenRule {
                interval,
                training_uncertain_share: 0.0,
            };
            let uncertain = pairs
                .iter()
                .filter(|(p, _)| rule.classify(*p) == Hypoxaemia::Uncertain)
                .count();
            rule.training_uncertain_share = uncertain as f64 / pairs.len() as f64;
            if rule.training_uncertain_share <= MAX_UNCERTAIN_SHARE {
                return Some(rule);
            }
            last = Some(rule);
        }
        last
    }
}

/// Sensitivity and specificity of the screen on the windows it decided, and the share it left
/// uncertain, from (verdict, label) pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScreenScore {
    /// Windows with a verdict (decided or uncertain).
    pub windows: usize,
    pub uncertain_share: Option<f64>,
    /// Of the decided windows truly below 90 %, the share called `likely`.
    pub sensitivity: Option<f64>,
    /// Of the decided windows truly at or above 90 %, the share called `unlikely`.
    pub specificity: Option<f64>,
    /// Decided windows truly below 90 %, and at or above.
    pub decided_below_90: usize,
    pub decided_at_or_above_90: usize,
}

impl ScreenScore {
    pub fn of(pairs: &[(Hypoxaemia, f64)]) -> ScreenScore {
        let (mut tp, mut pos, mut tn, mut neg, mut uncertain) = (0, 0, 0, 0, 0usize);
        for &(verdict, y) in pairs {
            let truly_below = y < HYPOXAEMIA_BELOW;
            match verdict {
                Hypoxaemia::Uncertain => uncertain += 1,
                v if truly_below => {
                    pos += 1;
                    tp += usize::from(v == Hypoxaemia::Likely);
                }
                v => {
                    neg += 1;
                    tn += usize::from(v == Hypoxaemia::Unlikely);
                }
            }
        }
        let share = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        ScreenScore {
            windows: pairs.len(),
            uncertain_share: share(uncertain, pairs.len()),
            sensitivity: share(tp, pos),
            specificity: share(tn, neg),
            decided_below_90: pos,
            decided_at_or_above_90: neg,
        }
    }

    /// Shares rounded to 4 decimals, as evaluation reports print them.
    pub fn rounded(self) -> ScreenScore {
        let r = |x: Option<f64>| x.map(|v| (v * 1e4).round() / 1e4);
        ScreenScore {
            uncertain_share: r(self.uncertain_share),
            sensitivity: r(self.sensitivity),
            specificity: r(self.specificity),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_screen_decides_only_when_the_interval_is_on_one_side_of_90() {
        let rule = ScreenRule {
            interval: ConformalInterval {
                level: 0.8,
                half_width: 4.0,
                calibration_windows: 10,
            },
            training_uncertain_share: 0.0,
        };
        assert_eq!(rule.classify(85.9), Hypoxaemia::Likely);
        assert_eq!(rule.classify(86.0), Hypoxaemia::Uncertain);
        assert_eq!(rule.classify(93.9), Hypoxaemia::Uncertain);
        assert_eq!(rule.classify(94.0), Hypoxaemia::Unlikely);
    }

    #[test]
    fn the_widest_interval_within_the_uncertain_budget_is_chosen() {
        // Residuals 1..=10 (|r|), estimates far from 90 except three near it.
        let mut pairs: Vec<(f64, f64)> = (1..=10)
            .map(|i| {
                let p = if i % 2 == 0 { 70.0 } else { 98.0 };
                (p, p - i as f64)
            })
            .collect();
        // 0.9 -> ceil(11 * 0.9) = 10th smallest |r| = 10: 98 - 10 < 90, the five 98s are
        // uncertain: too many. 0.8 -> 9: still. 0.7 -> 8: 98 - 8 >= 90, all decided.
        let rule = ScreenRule::choose(&pairs).unwrap();
        assert_eq!(rule.interval.level, 0.7);
        assert_eq!(rule.interval.half_width, 8.0);
        assert_eq!(rule.training_uncertain_share, 0.0);
        // With estimates far from 90 the widest interval is kept.
        for p in &mut pairs {
            if p.0 == 98.0 {
                *p = (120.0, 120.0 - (p.0 - p.1));
            }
        }
        assert_eq!(ScreenRule::choose(&pairs).unwrap().interval.level, 0.9);
        assert!(ScreenRule::choose(&[]).is_none());
    }

    #[test]
    fn sensitivity_and_specificity_count_decided_windows_only() {
        use Hypoxaemia::*;
        let s = ScreenScore::of(&[
            (Likely, 85.0),
            (Unlikely, 85.0),
            (Uncertain, 85.0),
            (Unlikely, 95.0),
            (Unlikely, 97.0),
            (Likely, 92.0),
            (Uncertain, 99.0),
            (Unlikely, 90.0),
        ]);
        assert_eq!(s.windows, 8);
        assert_eq!(s.uncertain_share, Some(0.25));
        assert_eq!(s.sensitivity, Some(0.5));
        assert_eq!(s.specificity, Some(0.75));
        assert_eq!((s.decided_below_90, s.decided_at_or_above_90), (2, 4));
    }
}
