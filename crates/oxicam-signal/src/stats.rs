//! Small summary statistics shared by the estimator, the model and the evaluation: mean, RMS,
//! median (of the finite values) and rounding to a step.

/// Arithmetic mean; 0 for no values.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Root mean square; 0 for no values.
pub fn rms(x: &[f64]) -> f64 {
    mean(&x.iter().map(|v| v * v).collect::<Vec<_>>()).sqrt()
}

/// Median of the finite values (mean of the two middle ones for an even count); `None` when
/// there is no finite value.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    })
}

/// `x` rounded to the nearest multiple of `step` (e.g. 0.1 for one decimal).
pub fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_skips_non_finite_values() {
        assert_eq!(median(vec![3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![f64::INFINITY]), None);
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn mean_rms_and_rounding() {
        assert_eq!(mean(&[]), 0.0);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        assert!((rms(&[3.0, -3.0]) - 3.0).abs() < 1e-12);
        assert!((round_to(12.345, 0.1) - 12.3).abs() < 1e-12);
    }
}
