//! SpO2 features of one window: per-channel AC/DC, the ratios of ratios between channels and
//! their logs, perfusion index. Features needing a clipped or floored channel are absent.

use serde::{Deserialize, Serialize};

use crate::trace::Channel;

/// A feature a model can use; the serde names (`ror_rg`, `log_pi_red`, ...) are the ones model
/// files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Ratio of ratios, red over green: (AC/DC red) / (AC/DC green).
    RorRg,
    RorRb,
    RorGb,
    /// Natural log of the ratio of ratios.
    LogRorRg,
    LogRorRb,
    LogRorGb,
    /// Natural log of a channel's perfusion index.
    LogPiRed,
    LogPiGreen,
    LogPiBlue,
    /// Natural log of the colour balance (DC ratio) of two channels.
    LogDcRg,
    LogDcRb,
    LogDcGb,
}

impl Feature {
    /// Every feature, in the order model files have always listed them.
    pub const ALL: [Feature; 12] = [
        Feature::RorRg,
        Feature::RorRb,
        Feature::RorGb,
        Feature::LogRorRg,
        Feature::LogRorRb,
        Feature::LogRorGb,
        Feature::LogPiRed,
        Feature::LogPiGreen,
        Feature::LogPiBlue,
        Feature::LogDcRg,
        Feature::LogDcRb,
        Feature::LogDcGb,
    ];
}

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

    pub fn channel_in_range(&self, channel: Channel) -> bool {
        self.in_range[channel.index()]
    }

    fn ok(&self, c: Channel) -> bool {
        let c = c.index();
        self.in_range[c] && self.ac_dc[c].is_finite() && self.ac_dc[c] > 0.0 && self.dc[c] > 0.0
    }

    fn ror(&self, a: Channel, b: Channel) -> Option<f64> {
        (self.ok(a) && self.ok(b)).then(|| self.ac_dc[a.index()] / self.ac_dc[b.index()])
    }

    fn dc_ratio(&self, a: Channel, b: Channel) -> Option<f64> {
        (self.ok(a) && self.ok(b)).then(|| self.dc[a.index()] / self.dc[b.index()])
    }

    /// Perfusion index of a channel, %.
    pub fn perfusion_index(&self, c: Channel) -> Option<f64> {
        self.ok(c).then(|| 100.0 * self.ac_dc[c.index()])
    }

    /// The value of a feature, `None` when its channels are out of range.
    pub fn value(&self, feature: Feature) -> Option<f64> {
        use Channel::{Blue, Green, Red};
        let v = match feature {
            Feature::RorRg => self.ror(Red, Green),
            Feature::RorRb => self.ror(Red, Blue),
            Feature::RorGb => self.ror(Green, Blue),
            Feature::LogRorRg => self.ror(Red, Green).map(f64::ln),
            Feature::LogRorRb => self.ror(Red, Blue).map(f64::ln),
            Feature::LogRorGb => self.ror(Green, Blue).map(f64::ln),
            Feature::LogPiRed => self.perfusion_index(Red).map(f64::ln),
            Feature::LogPiGreen => self.perfusion_index(Green).map(f64::ln),
            Feature::LogPiBlue => self.perfusion_index(Blue).map(f64::ln),
            Feature::LogDcRg => self.dc_ratio(Red, Green).map(f64::ln),
            Feature::LogDcRb => self.dc_ratio(Red, Blue).map(f64::ln),
            Feature::LogDcGb => self.dc_ratio(Green, Blue).map(f64::ln),
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
        assert!((f.value(Feature::RorRg).unwrap() - 2.0).abs() < 1e-12);
        assert!((f.value(Feature::RorRb).unwrap() - 4.0).abs() < 1e-12);
        assert!((f.value(Feature::LogRorGb).unwrap() - 2f64.ln()).abs() < 1e-12);
        assert!((f.perfusion_index(Channel::Red).unwrap() - 2.0).abs() < 1e-12);
        assert!((f.value(Feature::LogDcRg).unwrap() - 2f64.ln()).abs() < 1e-12);
        for feature in Feature::ALL {
            assert!(f.value(feature).is_some(), "{feature:?}");
        }
    }

    #[test]
    fn features_of_a_clipped_channel_are_absent() {
        let f = WindowFeatures::from_amplitudes(
            [0.02, 0.01, 0.005],
            [255.0, 100.0, 50.0],
            [false, true, true],
        );
        assert!(f.value(Feature::RorRg).is_none() && f.value(Feature::LogPiRed).is_none());
        assert!(f.value(Feature::RorGb).is_some());
    }

    #[test]
    fn feature_names_are_the_model_file_names() {
        let names: Vec<String> = Feature::ALL
            .iter()
            .map(|f| {
                serde_json::to_value(f)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
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
                "log_dc_gb"
            ]
        );
    }
}
