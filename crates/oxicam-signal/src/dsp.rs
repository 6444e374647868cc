//! Time-domain building blocks: uniform resampling from frame timestamps, detrending and
//! zero-phase Butterworth filtering (designed and applied with `sci-rs`, checked against scipy).

use sci_rs::signal::filter::design::{
    butter_dyn, DigitalFilter, FilterBandType, FilterOutputType, Sos,
};
use sci_rs::signal::filter::sosfiltfilt_dyn;

/// Resamples irregularly timed samples onto a uniform grid starting at `times[0]` by linear
/// interpolation. Times must be finite; non-increasing samples are skipped (dropped or repeated
/// frames). Returns `(grid_start_s, values)`.
pub fn resample_uniform(times: &[f64], values: &[f64], rate_hz: f64) -> (f64, Vec<f64>) {
    let mut pts: Vec<(f64, f64)> = Vec::with_capacity(times.len());
    for (&t, &v) in times.iter().zip(values) {
        if !t.is_finite() || !v.is_finite() {
            continue;
        }
        if pts.last().is_none_or(|&(lt, _)| t > lt) {
            pts.push((t, v));
        }
    }
    let Some(&(t0, _)) = pts.first() else {
        return (0.0, Vec::new());
    };
    let t_end = pts.last().map(|p| p.0).unwrap_or(t0);
    let n = ((t_end - t0) * rate_hz).floor() as usize + 1;
    let mut out = Vec::with_capacity(n);
    let mut j = 0;
    for i in 0..n {
        let t = t0 + i as f64 / rate_hz;
        while j + 1 < pts.len() && pts[j + 1].0 < t {
            j += 1;
        }
        if j + 1 >= pts.len() {
            out.push(pts[pts.len() - 1].1);
            continue;
        }
        let (ta, va) = pts[j];
        let (tb, vb) = pts[j + 1];
        let w = ((t - ta) / (tb - ta)).clamp(0.0, 1.0);
        out.push(va + w * (vb - va));
    }
    (t0, out)
}

/// Removes the least-squares straight line (what `scipy.signal.detrend` does by default).
pub fn detrend_linear(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let nf = n as f64;
    let t_mean = (nf - 1.0) / 2.0;
    let x_mean = x.iter().sum::<f64>() / nf;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let dt = i as f64 - t_mean;
        sxy += dt * (v - x_mean);
        sxx += dt * dt;
    }
    let slope = sxy / sxx;
    x.iter()
        .enumerate()
        .map(|(i, &v)| v - x_mean - slope * (i as f64 - t_mean))
        .collect()
}

/// A digital Butterworth filter in second-order sections, as `scipy.signal.butter(...,
/// output="sos")` designs it.
#[derive(Debug, Clone)]
pub struct Butterworth {
    sections: Vec<Sos<f64>>,
}

impl Butterworth {
    /// Band-pass of the given order (the analog prototype order; the digital filter has twice
    /// as many poles), edges in Hz.
    pub fn bandpass(order: usize, low_hz: f64, high_hz: f64, rate_hz: f64) -> Butterworth {
        Self::design(
            order,
            vec![low_hz, high_hz],
            FilterBandType::Bandpass,
            rate_hz,
        )
    }

    pub fn lowpass(order: usize, cutoff_hz: f64, rate_hz: f64) -> Butterworth {
        Self::design(order, vec![cutoff_hz], FilterBandType::Lowpass, rate_hz)
    }

    fn design(order: usize, edges: Vec<f64>, band: FilterBandType, rate_hz: f64) -> Butterworth {
        let filter = butter_dyn(
            order,
            edges,
            Some(band),
            Some(false),
            Some(FilterOutputType::Sos),
            Some(rate_hz),
        );
        let sections = match filter {
            DigitalFilter::Sos(sos) => sos.sos,
            // butter_dyn honours the requested output type; anything else is a library bug.
            other => unreachable!("sci-rs returned {other:?} for an SOS design"),
        };
        Butterworth { sections }
    }

    /// Coefficients as scipy prints them: one `[b0, b1, b2, a0, a1, a2]` row per section.
    pub fn sos_rows(&self) -> Vec<[f64; 6]> {
        self.sections
            .iter()
            .map(|s| [s.b[0], s.b[1], s.b[2], s.a[0], s.a[1], s.a[2]])
            .collect()
    }

    /// The shortest input `filtfilt` accepts (scipy's default odd padding needs more samples
    /// than the pad length).
    pub fn min_filtfilt_len(&self) -> usize {
        let bzeros = self.sections.iter().filter(|s| s.b[2] == 0.0).count();
        let azeros = self.sections.iter().filter(|s| s.a[2] == 0.0).count();
        let ntaps = 2 * self.sections.len() + 1 - bzeros.min(azeros);
        3 * ntaps + 1
    }

    /// Zero-phase forward-backward filtering (`scipy.signal.sosfiltfilt`, odd padding).
    /// Inputs shorter than [`Self::min_filtfilt_len`] come back as zeros rather than panicking.
    pub fn filtfilt(&self, x: &[f64]) -> Vec<f64> {
        if x.len() < self.min_filtfilt_len() {
            return vec![0.0; x.len()];
        }
        sosfiltfilt_dyn(x.iter(), &self.sections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_follows_timestamps_not_sample_counts() {
        // A ramp sampled at jittery times comes back on the uniform grid, still a ramp.
        let times: Vec<f64> = (0..100)
            .map(|i| i as f64 / 20.0 + if i % 3 == 0 { 0.01 } else { 0.0 })
            .collect();
        let values: Vec<f64> = times.iter().map(|t| 2.0 * t).collect();
        let (t0, y) = resample_uniform(&times, &values, 30.0);
        assert!((t0 - 0.01).abs() < 1e-12);
        for (i, v) in y.iter().enumerate() {
            let t = t0 + i as f64 / 30.0;
            assert!((v - 2.0 * t).abs() < 1e-9, "sample {i}: {v} vs {}", 2.0 * t);
        }
    }

    #[test]
    fn resampling_skips_repeated_and_backwards_timestamps() {
        let (_, y) = resample_uniform(
            &[0.0, 0.1, 0.1, 0.05, 0.2],
            &[0.0, 1.0, 9.0, 9.0, 2.0],
            10.0,
        );
        assert_eq!(y.len(), 3);
        assert!((y[1] - 1.0).abs() < 1e-12 && (y[2] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn detrend_removes_a_line_exactly() {
        let x: Vec<f64> = (0..50).map(|i| 3.0 + 0.5 * i as f64).collect();
        assert!(detrend_linear(&x).iter().all(|v| v.abs() < 1e-9));
    }

    #[test]
    fn bandpass_keeps_the_pulse_band_and_removes_drift() {
        let fs = 30.0;
        let bp = Butterworth::bandpass(4, 0.7, 3.5, fs);
        let n = 900;
        let pulse: Vec<f64> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * 1.2 * i as f64 / fs).sin())
            .collect();
        let drift: Vec<f64> = (0..n)
            .map(|i| 5.0 * (2.0 * std::f64::consts::PI * 0.05 * i as f64 / fs).sin())
            .collect();
        let mixed: Vec<f64> = pulse.iter().zip(&drift).map(|(a, b)| a + b).collect();
        let y = bp.filtfilt(&mixed);
        // Away from the edges the output is the pulse, in phase (zero-phase filtering).
        let err = (150..750)
            .map(|i| (y[i] - pulse[i]).abs())
            .fold(0.0, f64::max);
        assert!(err < 0.05, "max error {err}");
    }

    #[test]
    fn filtfilt_on_too_short_input_does_not_panic() {
        let bp = Butterworth::bandpass(4, 0.7, 3.5, 30.0);
        assert_eq!(bp.filtfilt(&[1.0; 5]), vec![0.0; 5]);
    }
}
