//! Ridge regression on standardised, clamped features (nalgebra Cholesky): the one fit behind
//! the SpO2 submodels and the evaluation's change-tracking model.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// Standardised features are clamped to this many training SDs so one wild window (a ratio of
/// two tiny amplitudes) cannot produce a wild estimate.
pub const Z_CLAMP: f64 = 4.0;

/// Smallest feature scale: a constant feature must not divide by zero.
const MIN_SCALE: f64 = 1e-9;

/// How the intercept is set once the coefficients are fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intercept {
    /// The mean label: the least-squares intercept when no training feature was clamped.
    MeanLabel,
    /// Refit on the clamped design, so the training residuals average to zero (centring is
    /// exact only before clamping). What the SpO2 submodels use.
    RefitOnClamped,
}

/// A fitted linear model: y = intercept + sum(coefficients[j] * z_j), with
/// z_j = (x_j - mean[j]) / scale[j] clamped to +-[`Z_CLAMP`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ridge {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

/// Feature `x` standardised with `mean` and `scale`, clamped to +-[`Z_CLAMP`].
pub fn standardise(x: f64, mean: f64, scale: f64) -> f64 {
    ((x - mean) / scale).clamp(-Z_CLAMP, Z_CLAMP)
}

/// The prediction of a linear model on standardised features (see [`Ridge`]).
pub fn predict_linear(
    intercept: f64,
    coefficients: &[f64],
    mean: &[f64],
    scale: &[f64],
    x: impl IntoIterator<Item = f64>,
) -> f64 {
    let mut y = intercept;
    for (j, v) in x.into_iter().enumerate() {
        y += coefficients[j] * standardise(v, mean[j], scale[j]);
    }
    y
}

impl Ridge {
    /// Fits `y ~ x` (rows of equal length `p`), the intercept not penalised and set as
    /// `intercept` says. `alpha` is the penalty per training sample, so its meaning does not
    /// change with the data size. `None` with fewer than `2p + 2` rows or a singular system.
    pub fn fit(x: &[Vec<f64>], y: &[f64], alpha: f64, intercept: Intercept) -> Option<Ridge> {
        let n = x.len();
        let p = x.first()?.len();
        if n < 2 * p + 2 || y.len() != n {
            return None;
        }
        let mut mean = vec![0.0; p];
        for row in x {
            for j in 0..p {
                mean[j] += row[j] / n as f64;
            }
        }
        let mut scale = vec![0.0; p];
        for row in x {
            for j in 0..p {
                scale[j] += (row[j] - mean[j]).powi(2) / n as f64;
            }
        }
        let scale: Vec<f64> = scale.iter().map(|v| v.sqrt().max(MIN_SCALE)).collect();
        let y_mean = y.iter().sum::<f64>() / n as f64;
        let xm = DMatrix::from_fn(n, p, |i, j| standardise(x[i][j], mean[j], scale[j]));
        let yv = DVector::from_fn(n, |i, _| y[i] - y_mean);
        let gram = xm.transpose() * &xm + DMatrix::identity(p, p) * (alpha * n as f64);
        let beta = gram.cholesky()?.solve(&(xm.transpose() * yv));
        let intercept = match intercept {
            Intercept::MeanLabel => y_mean,
            Intercept::RefitOnClamped => {
                let fitted = &xm * &beta;
                y_mean + (0..n).map(|i| (y[i] - y_mean) - fitted[i]).sum::<f64>() / n as f64
            }
        };
        Some(Ridge {
            mean,
            scale,
            coefficients: beta.iter().copied().collect(),
            intercept,
        })
    }

    /// Coefficients, means and scales all of length `p`, finite, scales positive.
    pub fn is_valid(&self, p: usize) -> bool {
        [self.mean.len(), self.scale.len(), self.coefficients.len()]
            .iter()
            .all(|&l| l == p)
            && self
                .mean
                .iter()
                .chain(&self.coefficients)
                .chain(std::iter::once(&self.intercept))
                .all(|v| v.is_finite())
            && self.scale.iter().all(|s| s.is_finite() && *s > 0.0)
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        predict_linear(
            self.intercept,
            &self.coefficients,
            &self.mean,
            &self.scale,
            x.iter().copied(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_linear_relation_and_clamps_outliers() {
        let x: Vec<Vec<f64>> = (0..200)
            .map(|i| vec![(i % 17) as f64, (i % 11) as f64])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 3.0 + 2.0 * r[0] - r[1]).collect();
        let fit = Ridge::fit(&x, &y, 1e-9, Intercept::RefitOnClamped).unwrap();
        for (row, want) in x.iter().zip(&y).take(20) {
            assert!((fit.predict(row) - want).abs() < 1e-6);
        }
        // A feature 1000 SDs out counts as Z_CLAMP SDs.
        let far = fit.predict(&[1e6, 5.0]);
        let edge = fit.predict(&[fit.mean[0] + Z_CLAMP * fit.scale[0], 5.0]);
        assert!((far - edge).abs() < 1e-9);
        assert!(Ridge::fit(&x[..5], &y[..5], 0.1, Intercept::MeanLabel).is_none());
    }

    #[test]
    fn the_refit_intercept_centres_the_residuals_of_a_clamped_design() {
        // One far outlier gets clamped: the mean label no longer centres the residuals.
        let mut x: Vec<Vec<f64>> = (0..40).map(|i| vec![(i % 7) as f64]).collect();
        x.push(vec![1000.0]);
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0].min(10.0)).collect();
        let mean_residual = |fit: &Ridge| {
            x.iter()
                .zip(&y)
                .map(|(r, t)| t - fit.predict(r))
                .sum::<f64>()
                / y.len() as f64
        };
        let refit = Ridge::fit(&x, &y, 0.01, Intercept::RefitOnClamped).unwrap();
        let plain = Ridge::fit(&x, &y, 0.01, Intercept::MeanLabel).unwrap();
        assert!(mean_residual(&refit).abs() < 1e-9);
        assert!(mean_residual(&plain).abs() > 1e-3);
        assert_eq!(refit.coefficients, plain.coefficients);
    }
}
