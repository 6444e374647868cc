//! SpO2 features of one window that a camera's per-channel gain, exposure and gamma leave alone:
//! logs of ratios of AC/DC between colour channels (three ways to measure AC) and pulse shape.

use serde::{Deserialize, Serialize};

use crate::spectrum::PowerSpectrum;

/// Per-channel pulse measures of one window (red, green, blue). Every AC is relative (AC/DC):
/// the band-passed signal was divided by its slow baseline, so a channel gain cancels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChannelMeasures {
    /// Amplitude of the spectral peak at the pulse rate.
    pub spectral: [f64; 3],
    /// Amplitude of the spectral peak at twice the pulse rate.
    pub harmonic: [f64; 3],
    /// RMS of the band-passed window.
    pub rms: [f64; 3],
    /// Median peak-to-trough height of the beats.
    pub beat: [f64; 3],
    /// Mean level (8-bit scale).
    pub level: [f64; 3],
    /// Channel neither clipped nor floored in this window.
    pub in_range: [bool; 3],
}

/// Half-width of the search for a spectral peak around an expected frequency, Hz.
const PEAK_SEARCH_HZ: f64 = 0.05;
/// Beats closer than this share of the expected period are one beat.
const MIN_BEAT_GAP_PERIODS: f64 = 0.6;

impl ChannelMeasures {
    /// Measures one window. `pulse[c]` is channel c's band-passed relative signal over the
    /// window, `spectra[c]` its power spectrum (absent when the channel is out of range),
    /// `f0` the pulse frequency (Hz) common to all channels.
    pub fn measure(
        pulse: [&[f64]; 3],
        spectra: [Option<&PowerSpectrum>; 3],
        f0_hz: f64,
        rate_hz: f64,
        level: [f64; 3],
        in_range: [bool; 3],
    ) -> ChannelMeasures {
        let amp = |c: usize, f: f64| {
            spectra[c]
                .and_then(|sp| sp.peak_in(f - PEAK_SEARCH_HZ, f + PEAK_SEARCH_HZ))
                .map_or(f64::NAN, |(_, p)| p.sqrt())
        };
        ChannelMeasures {
            spectral: [0, 1, 2].map(|c| amp(c, f0_hz)),
            harmonic: [0, 1, 2].map(|c| amp(c, 2.0 * f0_hz)),
            rms: [0, 1, 2].map(|c| rms(pulse[c])),
            beat: [0, 1, 2].map(|c| beat_height(pulse[c], rate_hz, f0_hz).unwrap_or(f64::NAN)),
            level,
            in_range,
        }
    }

    /// The value of a feature, `None` when a channel it needs is out of range or unmeasured.
    pub fn value(&self, feature: Spo2Feature) -> Option<f64> {
        let ratio = |v: &[f64; 3], a: usize, b: usize| {
            (self.in_range[a] && self.in_range[b] && v[a] > 0.0 && v[b] > 0.0)
                .then(|| (v[a] / v[b]).ln())
        };
        use Spo2Feature::*;
        let v = match feature {
            LogRorSpectralRg => ratio(&self.spectral, 0, 1),
            LogRorSpectralRb => ratio(&self.spectral, 0, 2),
            LogRorSpectralGb => ratio(&self.spectral, 1, 2),
            LogRorRmsRg => ratio(&self.rms, 0, 1),
            LogRorRmsRb => ratio(&self.rms, 0, 2),
            LogRorRmsGb => ratio(&self.rms, 1, 2),
            LogRorBeatRg => ratio(&self.beat, 0, 1),
            LogRorBeatRb => ratio(&self.beat, 0, 2),
            LogRorBeatGb => ratio(&self.beat, 1, 2),
            HarmonicRed => self.harmonic_ratio(0),
            HarmonicGreen => self.harmonic_ratio(1),
            HarmonicBlue => self.harmonic_ratio(2),
        }?;
        v.is_finite().then_some(v)
    }

    fn harmonic_ratio(&self, c: usize) -> Option<f64> {
        (self.in_range[c] && self.harmonic[c] > 0.0 && self.spectral[c] > 0.0)
            .then(|| (self.harmonic[c] / self.spectral[c]).ln())
    }
}

fn rms(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

/// Median peak-to-trough height of the beats in a band-passed window: troughs (a beat darkens
/// the frame) at least 0.6 expected periods apart; each beat's height is its highest sample
/// above the mean of its two troughs. `None` with fewer than two whole beats.
pub fn beat_height(x: &[f64], rate_hz: f64, expected_hz: f64) -> Option<f64> {
    if !(expected_hz.is_finite() && expected_hz > 0.0) || x.len() < 3 {
        return None;
    }
    let min_gap = (MIN_BEAT_GAP_PERIODS * rate_hz / expected_hz).max(1.0) as usize;
    let mut troughs: Vec<usize> = Vec::new();
    for i in 1..x.len() - 1 {
        if !(x[i] <= x[i - 1] && x[i] < x[i + 1]) {
            continue;
        }
        match troughs.last() {
            Some(&j) if i - j < min_gap => {
                if x[i] < x[j] {
                    troughs.pop();
                    troughs.push(i);
                }
            }
            _ => troughs.push(i),
        }
    }
    if troughs.len() < 3 {
        return None;
    }
    let mut heights: Vec<f64> = troughs
        .windows(2)
        .map(|w| {
            let top = x[w[0]..=w[1]].iter().fold(f64::MIN, |m, &v| m.max(v));
            top - 0.5 * (x[w[0]] + x[w[1]])
        })
        .collect();
    heights.sort_by(f64::total_cmp);
    let n = heights.len();
    Some(if n % 2 == 1 {
        heights[n / 2]
    } else {
        0.5 * (heights[n / 2 - 1] + heights[n / 2])
    })
}

/// A feature the SpO2 model can use. `log_ror_*`: log of (AC/DC of channel a) / (AC/DC of
/// channel b), the ratio of ratios of pulse oximetry, with AC from the spectral peak, the RMS
/// or the beats; `harmonic_*`: log of second-harmonic over fundamental amplitude (pulse shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spo2Feature {
    LogRorSpectralRg,
    LogRorSpectralRb,
    LogRorSpectralGb,
    LogRorRmsRg,
    LogRorRmsRb,
    LogRorRmsGb,
    LogRorBeatRg,
    LogRorBeatRb,
    LogRorBeatGb,
    HarmonicRed,
    HarmonicGreen,
    HarmonicBlue,
}

impl Spo2Feature {
    pub fn name(self) -> &'static str {
        use Spo2Feature::*;
        match self {
            LogRorSpectralRg => "log_ror_spectral_rg",
            LogRorSpectralRb => "log_ror_spectral_rb",
            LogRorSpectralGb => "log_ror_spectral_gb",
            LogRorRmsRg => "log_ror_rms_rg",
            LogRorRmsRb => "log_ror_rms_rb",
            LogRorRmsGb => "log_ror_rms_gb",
            LogRorBeatRg => "log_ror_beat_rg",
            LogRorBeatRb => "log_ror_beat_rb",
            LogRorBeatGb => "log_ror_beat_gb",
            HarmonicRed => "harmonic_red",
            HarmonicGreen => "harmonic_green",
            HarmonicBlue => "harmonic_blue",
        }
    }
}

/// The feature sets searched in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureGroup {
    /// Ratios of ratios from the spectral amplitude (3 features).
    Spectral,
    /// Ratios of ratios from spectral, RMS and beat amplitudes (9).
    ThreeAc,
    /// Those plus the pulse shape of each channel (12).
    ThreeAcShape,
}

impl FeatureGroup {
    pub const ALL: [FeatureGroup; 3] = [
        FeatureGroup::Spectral,
        FeatureGroup::ThreeAc,
        FeatureGroup::ThreeAcShape,
    ];

    pub fn features(self) -> Vec<Spo2Feature> {
        use Spo2Feature::*;
        let spectral = [LogRorSpectralRg, LogRorSpectralRb, LogRorSpectralGb];
        let others = [
            LogRorRmsRg,
            LogRorRmsRb,
            LogRorRmsGb,
            LogRorBeatRg,
            LogRorBeatRb,
            LogRorBeatGb,
        ];
        let shape = [HarmonicRed, HarmonicGreen, HarmonicBlue];
        match self {
            FeatureGroup::Spectral => spectral.to_vec(),
            FeatureGroup::ThreeAc => spectral.iter().chain(&others).copied().collect(),
            FeatureGroup::ThreeAcShape => spectral
                .iter()
                .chain(&others)
                .chain(&shape)
                .copied()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measures() -> ChannelMeasures {
        ChannelMeasures {
            spectral: [0.02, 0.01, 0.005],
            harmonic: [0.01, 0.002, 0.001],
            rms: [0.015, 0.01, 0.004],
            beat: [0.04, 0.02, 0.01],
            level: [60.0, 80.0, 40.0],
            in_range: [true; 3],
        }
    }

    #[test]
    fn ratios_of_ratios_are_logs_of_amplitude_ratios() {
        let m = measures();
        let close = |f, v: f64| (m.value(f).unwrap() - v).abs() < 1e-12;
        assert!(close(Spo2Feature::LogRorSpectralRg, 2f64.ln()));
        assert!(close(Spo2Feature::LogRorRmsRb, (0.015f64 / 0.004).ln()));
        assert!(close(Spo2Feature::LogRorBeatGb, 2f64.ln()));
        assert!(close(Spo2Feature::HarmonicGreen, 0.2f64.ln()));
        for g in FeatureGroup::ALL {
            assert!(g.features().iter().all(|&f| m.value(f).is_some()));
        }
    }

    #[test]
    fn a_clipped_channel_removes_its_features() {
        let mut m = measures();
        m.in_range[0] = false;
        assert!(m.value(Spo2Feature::LogRorSpectralRg).is_none());
        assert!(m.value(Spo2Feature::HarmonicRed).is_none());
        assert!(m.value(Spo2Feature::LogRorRmsGb).is_some());
    }

    #[test]
    fn beat_height_of_a_sine_is_its_peak_to_peak() {
        let fs = 30.0;
        let x: Vec<f64> = (0..300)
            .map(|i| 0.01 * (2.0 * std::f64::consts::PI * 1.2 * i as f64 / fs).sin())
            .collect();
        let h = beat_height(&x, fs, 1.2).unwrap();
        assert!((h - 0.02).abs() < 2e-4, "{h}");
        assert!(beat_height(&x[..20], fs, 1.2).is_none());
    }
}
