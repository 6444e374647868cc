//! Heart rate from the spectrum: Hann-windowed zero-padded FFT (`realfft`), peak with parabolic
//! interpolation, a sub-harmonic check, and the in-band SNR used to pick a channel.

use realfft::RealFftPlanner;

/// Search band for the pulse (Hz): a little wider than 40-200 bpm so out-of-range rates are
/// seen (and refused) instead of being folded into range.
pub const SEARCH_LOW_HZ: f64 = 0.55;
pub const SEARCH_HIGH_HZ: f64 = 4.0;
/// Half-width of the bands counted as "signal" around the fundamental and its harmonic.
const SIGNAL_HALF_WIDTH_HZ: f64 = 0.15;
/// A peak at half the frequency with at least this share of the main peak's power is taken
/// as the true fundamental (PPG waves often have a strong second harmonic).
const SUBHARMONIC_POWER_SHARE: f64 = 0.35;

/// The power spectrum of one window.
#[derive(Debug, Clone)]
pub struct PowerSpectrum {
    pub bin_hz: f64,
    pub power: Vec<f64>,
}

/// The spectral pulse estimate of one window and channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PulsePeak {
    pub frequency_hz: f64,
    /// Signal power (fundamental + 2nd harmonic bands) over the rest of the search band, dB.
    pub snr_db: f64,
    /// Amplitude of the fundamental (same units as the input), from the interpolated peak.
    pub amplitude: f64,
}

impl PulsePeak {
    pub fn bpm(&self) -> f64 {
        self.frequency_hz * 60.0
    }
}

/// Power spectrum of `x` (mean removed, Hann window) zero-padded to at least `min_fft_len`.
pub fn power_spectrum(x: &[f64], rate_hz: f64, min_fft_len: usize) -> PowerSpectrum {
    let n = x.len();
    let fft_len = min_fft_len.max(n).next_power_of_two();
    let mean = if n > 0 {
        x.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let mut buf = vec![0.0; fft_len];
    let mut window_sum = 0.0;
    for (i, &v) in x.iter().enumerate() {
        let w = if n > 1 {
            0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos()
        } else {
            1.0
        };
        window_sum += w;
        buf[i] = (v - mean) * w;
    }
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(fft_len);
    let mut spectrum = fft.make_output_vec();
    // Lengths come from make_output_vec and our own buffer: the transform cannot fail.
    fft.process(&mut buf, &mut spectrum)
        .expect("FFT buffers have the planned lengths");
    // Scaled so a sinusoid of amplitude A has a peak of A^2 (before interpolation).
    let scale = if window_sum > 0.0 {
        2.0 / window_sum
    } else {
        0.0
    };
    PowerSpectrum {
        bin_hz: rate_hz / fft_len as f64,
        power: spectrum
            .iter()
            .map(|c| (c.norm() * scale).powi(2))
            .collect(),
    }
}

impl PowerSpectrum {
    fn bin(&self, hz: f64) -> usize {
        ((hz / self.bin_hz).round().max(0.0) as usize).min(self.power.len().saturating_sub(1))
    }

    /// Largest local maximum in `[low, high]` Hz with parabolic (log-power) interpolation:
    /// `(frequency_hz, power)`.
    pub fn peak_in(&self, low_hz: f64, high_hz: f64) -> Option<(f64, f64)> {
        let (lo, hi) = (self.bin(low_hz).max(1), self.bin(high_hz));
        if hi >= self.power.len() - 1 || lo > hi {
            return None;
        }
        let k = (lo..=hi).max_by(|&a, &b| self.power[a].total_cmp(&self.power[b]))?;
        if self.power[k] <= 0.0 {
            return None;
        }
        let (a, b, c) = (
            self.power[k - 1].max(1e-300).ln(),
            self.power[k].ln(),
            self.power[k + 1].max(1e-300).ln(),
        );
        let denom = a - 2.0 * b + c;
        let delta = if denom.abs() > 1e-12 {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let log_peak = b - 0.25 * (a - c) * delta;
        Some(((k as f64 + delta) * self.bin_hz, log_peak.exp()))
    }

    fn band_power(&self, low_hz: f64, high_hz: f64) -> f64 {
        let (lo, hi) = (self.bin(low_hz), self.bin(high_hz));
        self.power[lo..=hi.max(lo)].iter().sum()
    }

    /// The pulse fundamental `(frequency_hz, power)`: the largest peak in the search band,
    /// or the peak near half its frequency when that one is strong enough.
    pub fn fundamental(&self) -> Option<(f64, f64)> {
        let (f0, p0) = self.peak_in(SEARCH_LOW_HZ, SEARCH_HIGH_HZ)?;
        let half = f0 / 2.0;
        if half >= SEARCH_LOW_HZ {
            if let Some((fh, ph)) = self.peak_in(half - 0.1, half + 0.1) {
                // Only a real local peak near f/2 counts, not the skirt of the main peak.
                if ph >= SUBHARMONIC_POWER_SHARE * p0 && (fh - half).abs() < 0.08 {
                    return Some((fh, ph));
                }
            }
        }
        Some((f0, p0))
    }

    /// SNR and amplitude of this spectrum at a given pulse frequency (found on this channel or
    /// on the combined spectrum).
    pub fn peak_at(&self, f0: f64) -> PulsePeak {
        let total = self.band_power(SEARCH_LOW_HZ, SEARCH_HIGH_HZ);
        let mut signal = self.band_power(f0 - SIGNAL_HALF_WIDTH_HZ, f0 + SIGNAL_HALF_WIDTH_HZ);
        let f2 = 2.0 * f0;
        if f2 + SIGNAL_HALF_WIDTH_HZ <= SEARCH_HIGH_HZ {
            signal += self.band_power(f2 - SIGNAL_HALF_WIDTH_HZ, f2 + SIGNAL_HALF_WIDTH_HZ);
        }
        let noise = (total - signal).max(total * 1e-6).max(1e-300);
        let snr_db = if signal > 0.0 {
            10.0 * (signal / noise).log10()
        } else {
            f64::NEG_INFINITY
        };
        let amplitude = self
            .peak_in(f0 - 0.05, f0 + 0.05)
            .map_or(0.0, |(_, p)| p.sqrt());
        PulsePeak {
            frequency_hz: f0,
            snr_db,
            amplitude,
        }
    }

    /// The pulse peak of this spectrum alone, with the sub-harmonic check and SNR.
    pub fn pulse_peak(&self) -> Option<PulsePeak> {
        let (f0, _) = self.fundamental()?;
        Some(self.peak_at(f0))
    }

    /// Sum of spectra of the same length, each scaled to unit power in the search band, so
    /// every channel votes for the pulse frequency with equal weight whatever its amplitude.
    pub fn combine(spectra: &[&PowerSpectrum]) -> Option<PowerSpectrum> {
        let first = spectra.first()?;
        let mut power = vec![0.0; first.power.len()];
        for sp in spectra {
            if sp.power.len() != power.len() {
                return None;
            }
            let total = sp.band_power(SEARCH_LOW_HZ, SEARCH_HIGH_HZ);
            if total > 0.0 && total.is_finite() {
                for (acc, p) in power.iter_mut().zip(&sp.power) {
                    *acc += p / total;
                }
            }
        }
        Some(PowerSpectrum {
            bin_hz: first.bin_hz,
            power,
        })
    }
}

/// Heart-rate estimate of one window of a band-passed signal.
pub fn pulse_peak(x: &[f64], rate_hz: f64) -> Option<PulsePeak> {
    if x.len() < 8 {
        return None;
    }
    power_spectrum(x, rate_hz, 8192).pulse_peak()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn tone(f: f64, amp: f64, n: usize, fs: f64) -> Vec<f64> {
        (0..n)
            .map(|i| amp * (2.0 * PI * f * i as f64 / fs).sin())
            .collect()
    }

    #[test]
    fn interpolated_peak_is_finer_than_a_bin() {
        for &f in &[0.83, 1.0123, 1.57, 2.911] {
            let p = pulse_peak(&tone(f, 1.0, 300, 30.0), 30.0).unwrap();
            assert!(
                (p.frequency_hz - f).abs() < 0.004,
                "{f}: {}",
                p.frequency_hz
            );
            assert!(
                (p.amplitude - 1.0).abs() < 0.05,
                "amplitude {}",
                p.amplitude
            );
            assert!(p.snr_db > 15.0);
        }
    }

    #[test]
    fn strong_second_harmonic_does_not_double_the_rate() {
        let f = 1.1;
        let x: Vec<f64> = tone(f, 0.8, 300, 30.0)
            .iter()
            .zip(tone(2.0 * f, 1.0, 300, 30.0))
            .map(|(a, b)| a + b)
            .collect();
        let p = pulse_peak(&x, 30.0).unwrap();
        assert!((p.bpm() - 66.0).abs() < 0.5, "{}", p.bpm());
    }

    #[test]
    fn white_noise_has_low_snr() {
        // A fixed pseudo-random sequence (xorshift), no pulse in it.
        let mut s: u64 = 0x9E3779B97F4A7C15;
        let x: Vec<f64> = (0..300)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        let p = pulse_peak(&x, 30.0).unwrap();
        assert!(p.snr_db < 0.0, "{}", p.snr_db);
    }
}
