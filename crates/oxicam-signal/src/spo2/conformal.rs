//! Split-conformal intervals: the half-width is the ceil((n + 1) * level)-th smallest absolute
//! out-of-fold residual, so held-out windows fall inside with probability >= level when they
//! are exchangeable with the calibration windows.

use serde::{Deserialize, Serialize};

/// A symmetric interval around the estimate, cut at 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConformalInterval {
    /// Nominal coverage, e.g. 0.9.
    pub level: f64,
    /// Points of SpO2 on each side of the estimate.
    pub half_width: f64,
    /// Out-of-fold residuals the half-width was taken from.
    pub calibration_windows: usize,
}

pub const NOMINAL_LEVEL: f64 = 0.9;

impl ConformalInterval {
    /// From out-of-fold residuals (prediction minus label). `None` without residuals.
    pub fn from_residuals(residuals: &[f64], level: f64) -> Option<ConformalInterval> {
        let mut abs: Vec<f64> = residuals
            .iter()
            .filter(|r| r.is_finite())
            .map(|r| r.abs())
            .collect();
        if abs.is_empty() {
            return None;
        }
        abs.sort_by(f64::total_cmp);
        let n = abs.len();
        let k = (((n + 1) as f64) * level).ceil() as usize;
        Some(ConformalInterval {
            level,
            half_width: abs[k.clamp(1, n) - 1],
            calibration_windows: n,
        })
    }

    /// `[estimate - w, estimate + w]`, both ends within 0-100 %.
    pub fn around(&self, estimate: f64) -> [f64; 2] {
        [
            (estimate - self.half_width).clamp(0.0, 100.0),
            (estimate + self.half_width).clamp(0.0, 100.0),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_width_is_the_finite_sample_quantile() {
        let res: Vec<f64> = (1..=19)
            .map(|i| if i % 2 == 0 { i as f64 } else { -(i as f64) })
            .collect();
        // n = 19: ceil(20 * 0.9) = 18th smallest |r| = 18.
        let c = ConformalInterval::from_residuals(&res, 0.9).unwrap();
        assert_eq!(c.half_width, 18.0);
        assert_eq!(c.around(95.0), [77.0, 100.0]);
        assert!(ConformalInterval::from_residuals(&[], 0.9).is_none());
    }
}
