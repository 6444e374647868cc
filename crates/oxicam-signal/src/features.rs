//! SpO2 features of one window: per-channel AC/DC, the ratios of ratios between channels and
//! their logs, perfusion index. Features needing a clipped or floored channel are absent.

use serde::{Deserialize, Serialize};

pub const CHANNEL_NAMES: [&str; 3] = ["red", "green", "blue"];

pub fn channel_index(name: &str) -> Option<usize> {
    CHANNEL_NAMES.iter().position(|&c| c == name)
}

/// Names a model file may use.
pub const FEATURE_NAMES: &[&str] = &[
    "ror_rg",
    "ror_rb",
    "ror_gb",
    "log_ror_rg",
    "log_ror_rb",
    "log_ror_gb",
    "log_pi_red",
    "log_pi_green",
    "log_pi_blue",
    "log_dc_rg",
    "log_dc_rb",
    "log_dc_gb",
];

/// Features of one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowFeatures {
    /// AC/DC per channel: amplitude of the pulse fundamental of the DC-normalised band-passed
    /// signal (so the ratio of two of them is a ratio of ratios).
    pub ac_dc: [f64; 3],
    /// Mean level per channel (8-bit scale).
    pub dc: [f64; 3],
    /// Channel neither clipped nor floored in this window.
    pub in_range: [bool; 3],
}

impl WindowFeatures {
    pub fn from_amplitudes(ac_dc: [f64; 3], dc: [f64; 3], in_range: [bool; 3]) -> WindowFeatures {
        WindowFeatures {
            ac_dc,
            dc,
            in_range,
        }
    }

    pub fn channel_in_range(&self, name: &str) -> bool {
        channel_index(name).is_some_and(|i| self.in_range[i])
    }

    fn ok(&self, c: usize) -> bool {
        self.in_range[c] && self.ac_dc[c].is_finite() && self.ac_dc[c] > 0.0 && self.dc[c] > 0.0
    }

    fn ror(&self, a: usize, b: usize) -> Option<f64> {
        (self.ok(a) && self.ok(b)).then(|| self.ac_dc[a] / self.ac_dc[b])
    }

    fn dc_ratio(&self, a: usize, b: usize) -> Option<f64> {
        (self.ok(a) && self.ok(b)).then(|| self.dc[a] / self.dc[b])
    }

    /// Perfusion index of a channel, %.
    pub fn perfusion_index(&self, c: usize) -> Option<f64> {
        self.ok(c).then(|| 100.0 * self.ac_dc[c])
    }

    /// The value of a named feature, `None` when its channels are out of range.
    pub fn value(&self, name: &str) -> Option<f64> {
        let v = match name {
            "ror_rg" => self.ror(0, 1),
            "ror_rb" => self.ror(0, 2),
            "ror_gb" => self.ror(1, 2),
            "log_ror_rg" => self.ror(0, 1).map(f64::ln),
            "log_ror_rb" => self.ror(0, 2).map(f64::ln),
            "log_ror_gb" => self.ror(1, 2).map(f64::ln),
            "log_pi_red" => self.perfusion_index(0).map(f64::ln),
            "log_pi_green" => self.perfusion_index(1).map(f64::ln),
            "log_pi_blue" => self.perfusion_index(2).map(f64::ln),
            "log_dc_rg" => self.dc_ratio(0, 1).map(f64::ln),
            "log_dc_rb" => self.dc_ratio(0, 2).map(f64::ln),
            "log_dc_gb" => self.dc_ratio(1, 2).map(f64::ln),
            _ => None,
        }?;
        v.is_finite().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_of_ratios_and_logs() {
        let f =
            WindowFeatures::from_amplitudes([0.02, 0.01, 0.005], [200.0, 100.0, 50.0], [true; 3]);
        assert!((f.value("ror_rg").unwrap() - 2.0).abs() < 1e-12);
        assert!((f.value("ror_rb").unwrap() - 4.0).abs() < 1e-12);
        assert!((f.value("log_ror_gb").unwrap() - 2f64.ln()).abs() < 1e-12);
        assert!((f.perfusion_index(0).unwrap() - 2.0).abs() < 1e-12);
        assert!((f.value("log_dc_rg").unwrap() - 2f64.ln()).abs() < 1e-12);
        for name in FEATURE_NAMES {
            assert!(f.value(name).is_some(), "{name}");
        }
    }

    #[test]
    fn features_of_a_clipped_channel_are_absent() {
        let f = WindowFeatures::from_amplitudes(
            [0.02, 0.01, 0.005],
            [255.0, 100.0, 50.0],
            [false, true, true],
        );
        assert!(f.value("ror_rg").is_none() && f.value("log_pi_red").is_none());
        assert!(f.value("ror_gb").is_some());
    }
}
