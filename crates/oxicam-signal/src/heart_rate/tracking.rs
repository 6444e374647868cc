//! The pulse frequency across a recording: the most likely path (Viterbi) through short-time
//! spectra, so a window whose own spectrum is ambiguous borrows the rate from its neighbours.

use crate::spectrum::PowerSpectrum;

/// Tracked band (Hz): 39-204 bpm.
pub const TRACK_LOW_HZ: f64 = 0.65;
pub const TRACK_HIGH_HZ: f64 = 3.4;

/// Settings of the path search. The defaults come from physiology, not from fitting: a resting
/// heart rate changes by at most a few bpm per second (3 bpm/s = 0.05 Hz/s is the transition
/// scale), and a pulse at `f` puts its power at `f` and `2f`. The second harmonic can be the
/// stronger of the two (a pronounced dicrotic wave: up to about 3 times the fundamental's
/// power), so it weighs 0.75 in its fundamental's evidence and a dominant harmonic votes for
/// its fundamental instead of standing for a rate twice as fast. But a pulse has a fundamental:
/// the harmonic counts at most `harmonic_cap` times the power at `f` itself, so noise at half
/// a fast pulse's rate (whose own harmonic is beyond the band) cannot borrow the pulse's power.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackOptions {
    /// Standard deviation of the rate change per second, Hz.
    pub change_hz_per_s: f64,
    /// Weight of the power at twice a frequency in that frequency's evidence.
    pub harmonic_weight: f64,
    /// The power at twice a frequency counts at most this multiple of the power at it.
    pub harmonic_cap: f64,
    /// Evidence floor (share of uniform): keeps one bad step from vetoing the true rate.
    pub floor: f64,
}

impl Default for TrackOptions {
    fn default() -> Self {
        TrackOptions {
            change_hz_per_s: 0.05,
            harmonic_weight: 0.75,
            harmonic_cap: 3.0,
            floor: 1e-3,
        }
    }
}

/// The tracked frequency at the centre of each step's window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Track {
    /// Window centres, seconds from the start of the pulse signal.
    pub times_s: Vec<f64>,
    pub frequency_hz: Vec<f64>,
}

impl Track {
    /// The tracked frequency at time `t_s` (linear between window centres, held at the ends).
    pub fn at(&self, t_s: f64) -> Option<f64> {
        let (times, f) = (&self.times_s, &self.frequency_hz);
        if times.is_empty() {
            return None;
        }
        let k = times.partition_point(|&x| x <= t_s);
        Some(if k == 0 {
            f[0]
        } else if k == times.len() {
            f[k - 1]
        } else {
            let w = (t_s - times[k - 1]) / (times[k] - times[k - 1]);
            f[k - 1] + w * (f[k] - f[k - 1])
        })
    }
}

/// The most likely frequency path through `spectra` (one per step, `step_s` apart, window
/// centres at `first_centre_s + k * step_s`). Each spectrum should already combine the
/// in-range channels; a step with no usable channel is an empty spectrum (no evidence).
pub fn track(
    spectra: &[Option<PowerSpectrum>],
    first_centre_s: f64,
    step_s: f64,
    opts: &TrackOptions,
) -> Track {
    let Some(reference) = spectra.iter().flatten().next() else {
        return Track::default();
    };
    let bin_hz = reference.bin_hz;
    let len = reference.power.len();
    // States: every other FFT bin in the band (0.44 bpm apart with 8192-point FFTs at 30 Hz).
    let decimation = 2;
    let lo = (TRACK_LOW_HZ / bin_hz).ceil() as usize;
    let hi = ((TRACK_HIGH_HZ / bin_hz).floor() as usize).min(len.saturating_sub(1) / 2);
    let bins: Vec<usize> = (lo..=hi).step_by(decimation).collect();
    let n_states = bins.len();
    if n_states < 2 {
        return Track::default();
    }
    let sigma_bins = (opts.change_hz_per_s * step_s / (bin_hz * decimation as f64)).max(0.5);
    let reach = (4.0 * sigma_bins).ceil() as usize;
    let transition: Vec<f64> = (0..=reach)
        .map(|d| -0.5 * (d as f64 / sigma_bins).powi(2))
        .collect();

    let evidence = |sp: &Option<PowerSpectrum>| -> Vec<f64> {
        let Some(sp) = sp.as_ref().filter(|s| s.power.len() == len) else {
            return vec![0.0; n_states];
        };
        let raw: Vec<f64> = bins
            .iter()
            .map(|&b| {
                let own = sp.power[b];
                let harmonic = sp.power[(2 * b).min(len - 1)].min(opts.harmonic_cap * own);
                own + opts.harmonic_weight * harmonic
            })
            .collect();
        let total: f64 = raw.iter().sum();
        let floor = opts.floor / n_states as f64;
        raw.iter()
            .map(|&v| {
                let p = if total > 0.0 && total.is_finite() {
                    v / total
                } else {
                    1.0 / n_states as f64
                };
                (p + floor).ln()
            })
            .collect()
    };

    let n_steps = spectra.len();
    let mut score = evidence(&spectra[0]);
    let mut back: Vec<u16> = vec![0; n_steps * n_states];
    let mut next = vec![0.0; n_states];
    for (t, sp) in spectra.iter().enumerate().skip(1) {
        let e = evidence(sp);
        for to in 0..n_states {
            let from_lo = to.saturating_sub(reach);
            let from_hi = (to + reach).min(n_states - 1);
            let (mut best, mut arg) = (f64::NEG_INFINITY, to);
            for from in from_lo..=from_hi {
                let v = score[from] + transition[from.abs_diff(to)];
                if v > best {
                    best = v;
                    arg = from;
                }
            }
            next[to] = best + e[to];
            back[t * n_states + to] = arg as u16;
        }
        std::mem::swap(&mut score, &mut next);
    }
    let mut state = (0..n_states)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]))
        .unwrap_or(0);
    let mut path = vec![0usize; n_steps];
    for t in (0..n_steps).rev() {
        path[t] = state;
        if t > 0 {
            state = back[t * n_states + state] as usize;
        }
    }
    Track {
        times_s: (0..n_steps)
            .map(|k| first_centre_s + k as f64 * step_s)
            .collect(),
        frequency_hz: path.iter().map(|&s| bins[s] as f64 * bin_hz).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::power_spectrum;

    fn spectrum_of(f: f64, noise_at: Option<f64>) -> Option<PowerSpectrum> {
        let fs = 30.0;
        let x: Vec<f64> = (0..300)
            .map(|i| {
                let t = i as f64 / fs;
                let pulse = (std::f64::consts::TAU * f * t).sin();
                let burst = noise_at.map_or(0.0, |g| 3.0 * (std::f64::consts::TAU * g * t).sin());
                pulse + burst
            })
            .collect();
        Some(power_spectrum(&x, fs, 8192))
    }

    #[test]
    fn a_burst_at_another_rate_does_not_pull_the_track_away() {
        // 72 bpm throughout; steps 10-12 are dominated by a 2.9 Hz artefact three times stronger.
        let spectra: Vec<_> = (0..25)
            .map(|k| spectrum_of(1.2, (10..13).contains(&k).then_some(2.9)))
            .collect();
        let track = track(&spectra, 5.0, 1.0, &TrackOptions::default());
        for (t, f) in track.times_s.iter().zip(&track.frequency_hz) {
            assert!((f - 1.2).abs() < 0.01, "at {t} s: {f} Hz");
        }
        assert_eq!(track.at(16.0), Some(track.frequency_hz[11]));
    }

    #[test]
    fn the_track_follows_a_rising_rate_and_fills_steps_without_evidence() {
        let spectra: Vec<_> = (0..30)
            .map(|k| {
                (k != 15)
                    .then(|| spectrum_of(1.0 + 0.02 * k as f64, None))
                    .flatten()
            })
            .collect();
        let track = track(&spectra, 5.0, 1.0, &TrackOptions::default());
        for (k, f) in track.frequency_hz.iter().enumerate() {
            assert!((f - (1.0 + 0.02 * k as f64)).abs() < 0.03, "step {k}: {f}");
        }
    }
}
