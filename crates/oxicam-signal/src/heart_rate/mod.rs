//! Heart rate from the pulse channels: a frequency track across the recording (Viterbi over
//! short-time spectra), beats along it with per-beat quality, motion segments cut out, and per
//! window a rate from accepted beats, checked against the spectrum.

pub mod beats;
pub mod evaluation;
pub mod hrv;
pub mod hrv_evaluation;
pub mod motion;
pub mod tracking;

use crate::spectrum::{power_spectrum, PowerSpectrum, PulsePeak};
pub use beats::Beat;
pub use tracking::{Track, TrackOptions};

/// FFT length of every window spectrum (zero-padded): 0.0037 Hz bins at 30 Hz.
pub const FFT_LEN: usize = 8192;
/// Step between the tracking windows, seconds.
pub const TRACK_STEP_S: f64 = 1.0;
/// The refined spectral peak is searched within this share of the tracked frequency.
const TRACK_SEARCH_SHARE: f64 = 0.08;
/// A window's beats give its rate when consistent beat intervals span at least this share of
/// its part left after the motion cut-out (6 of 10 s without motion)...
pub const MIN_BEAT_COVERAGE: f64 = 0.6;
/// ...and the pulse at the tracked rate carries at least as much power as the rest of the
/// band (0 dB).
pub const MIN_SNR_WITH_BEATS_DB: f64 = 0.0;
/// More than this share of a window cut out for motion: the window is refused as `motion`.
pub const MAX_MOTION_SHARE: f64 = 0.4;

/// Which parts of the heart-rate path run (all of them in the product; fewer for ablation).
#[derive(Debug, Clone, PartialEq)]
pub struct HeartRateOptions {
    /// Rates from beats (with per-beat quality) instead of the spectral peak.
    pub beats: bool,
    /// Viterbi path across windows instead of each window's own spectrum.
    pub tracking: bool,
    /// Motion segments cut out of beats and spectra instead of refusing whole windows.
    pub motion_cutout: bool,
    pub track: TrackOptions,
}

impl Default for HeartRateOptions {
    fn default() -> Self {
        HeartRateOptions {
            beats: true,
            tracking: true,
            motion_cutout: true,
            track: TrackOptions::default(),
        }
    }
}

impl HeartRateOptions {
    /// Spectral peak per window only (the estimator before beats and tracking).
    pub fn spectral_only() -> HeartRateOptions {
        HeartRateOptions {
            beats: false,
            tracking: false,
            motion_cutout: false,
            ..HeartRateOptions::default()
        }
    }
}

/// The pulse channels of one recording on the uniform grid.
pub struct PulseChannels<'a> {
    pub rate_hz: f64,
    /// Band-passed relative pulse (AC/DC) per channel; a beat darkens the frame (negative).
    pub pulse: [&'a [f64]; 3],
    /// Slow light level per channel.
    pub dc: [&'a [f64]; 3],
    /// The recording's typical (median window) pulse RMS per channel.
    pub typical_rms: [f64; 3],
    /// Samples resampled across a gap between frames (cut out with motion; may be empty).
    pub gaps: &'a [bool],
    /// Whether channel `c` is in range (not clipped or floored) over samples `[start, end)`.
    pub in_range: &'a dyn Fn(usize, usize, usize) -> bool,
}

/// What the heart-rate path found in one window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowRate {
    /// The pulse frequency the window's channel spectra were read at (SNR, amplitudes).
    pub frequency_hz: Option<f64>,
    /// Each in-range channel's peak at that frequency.
    pub peaks: [Option<PulsePeak>; 3],
    /// The in-range channel with the best SNR there.
    pub channel: Option<usize>,
    /// The window's own spectral fundamental (combined channels, searched beyond the tracked
    /// band, with the sub-harmonic rule): shows a pulse faster than the track can follow.
    pub spectral_hz: Option<f64>,
    /// SNR of the combined spectrum at `spectral_hz`, and at the window's frequency.
    pub spectral_snr_db: Option<f64>,
    pub tracked_snr_db: Option<f64>,
    /// Mean rate from accepted beats of that channel (beats on).
    pub beats_bpm: Option<f64>,
    /// Share of the window's uncut part spanned by consistent accepted beat intervals.
    pub beat_coverage: f64,
    /// Share of the window cut out for motion in that channel.
    pub motion_share: f64,
}

impl WindowRate {
    /// The window's rate: from beats when they cover enough of it, else the spectral peak.
    pub fn bpm(&self) -> Option<f64> {
        self.beats_bpm
            .filter(|_| self.beat_coverage >= MIN_BEAT_COVERAGE)
            .or(self.frequency_hz.map(|f| 60.0 * f))
    }

    /// Whether the window's pulse is outside `range_bpm`: the track's band ends near 204 bpm,
    /// so a faster pulse is followed at its sub-harmonic (its power at twice the tracked rate)
    /// or lost in noise. The window's own spectrum shows it: its fundamental is out of range
    /// and stands out (at least `min_snr_db`) more than the pulse at the tracked rate, or the
    /// tracked rate is half of it. Such a window is refused as out of range, never given the
    /// sub-harmonic as its rate.
    pub fn out_of_range_pulse(
        &self,
        range_bpm: std::ops::RangeInclusive<f64>,
        min_snr_db: f64,
    ) -> bool {
        let Some(spectral) = self.spectral_hz.map(|f| 60.0 * f) else {
            return false;
        };
        if range_bpm.contains(&spectral) {
            return false;
        }
        let stands_out = self
            .spectral_snr_db
            .is_some_and(|s| s >= min_snr_db && self.tracked_snr_db.is_none_or(|t| s > t));
        let subharmonic = self
            .bpm()
            .is_some_and(|bpm| (spectral - 2.0 * bpm).abs() <= TRACK_SEARCH_SHARE * spectral);
        stands_out || subharmonic
    }

    pub fn snr_db(&self) -> Option<f64> {
        self.channel.and_then(|c| self.peaks[c]).map(|p| p.snr_db)
    }
}

/// The heart-rate analysis of a recording.
#[derive(Debug, Clone, Default)]
pub struct HeartRateTrack {
    pub windows: Vec<WindowRate>,
    /// Beats per channel (empty when beats are off or the channel is never in range).
    pub beats: [Vec<Beat>; 3],
    pub track: Track,
    /// Samples cut out for motion, per channel (empty when the cut-out is off).
    pub motion: [Vec<bool>; 3],
}

fn masked(x: &[f64], mask: &[bool]) -> Vec<f64> {
    if mask.is_empty() {
        return x.to_vec();
    }
    x.iter()
        .zip(mask)
        .map(|(&v, &m)| if m { 0.0 } else { v })
        .collect()
}

/// Spectra of the in-range channels over `[s, e)` and their combination.
fn window_spectra(
    ch: &PulseChannels,
    clean: &[Vec<f64>; 3],
    s: usize,
    e: usize,
) -> ([Option<PowerSpectrum>; 3], Option<PowerSpectrum>) {
    let spectra: [Option<PowerSpectrum>; 3] = [0, 1, 2].map(|c| {
        (ch.in_range)(c, s, e).then(|| power_spectrum(&clean[c][s..e], ch.rate_hz, FFT_LEN))
    });
    let present: Vec<&PowerSpectrum> = spectra.iter().flatten().collect();
    let combined = PowerSpectrum::combine(&present);
    (spectra, combined)
}

/// Runs the heart-rate path over `windows` (sample ranges `[start, end)` of the pulse).
pub fn estimate(
    ch: &PulseChannels,
    windows: &[(usize, usize)],
    opts: &HeartRateOptions,
) -> HeartRateTrack {
    let fs = ch.rate_hz;
    let n = ch.pulse[0].len();
    let motion: [Vec<bool>; 3] = [0, 1, 2].map(|c| {
        if opts.motion_cutout {
            let mut mask = motion::motion_mask(ch.pulse[c], ch.dc[c], fs, ch.typical_rms[c]);
            for (m, &g) in mask.iter_mut().zip(ch.gaps) {
                *m |= g;
            }
            mask
        } else {
            Vec::new()
        }
    });
    let clean: [Vec<f64>; 3] = [0, 1, 2].map(|c| masked(ch.pulse[c], &motion[c]));
    let window_n = windows.first().map_or(0, |w| w.1 - w.0);

    // Each window's own spectra (always needed: SNR and amplitudes are read from them).
    let per_window: Vec<_> = windows
        .iter()
        .map(|&(s, e)| window_spectra(ch, &clean, s, e))
        .collect();

    let track = if opts.tracking && window_n > 0 && n >= window_n {
        let step = (TRACK_STEP_S * fs).round().max(1.0) as usize;
        let spectra: Vec<Option<PowerSpectrum>> = (0..=(n - window_n) / step)
            .map(|k| window_spectra(ch, &clean, k * step, k * step + window_n).1)
            .collect();
        tracking::track(
            &spectra,
            0.5 * window_n as f64 / fs,
            step as f64 / fs,
            &opts.track,
        )
    } else {
        // Without tracking, each window's own fundamental (held between window centres).
        let (times_s, frequency_hz) = windows
            .iter()
            .zip(&per_window)
            .filter_map(|(&(s, e), (_, combined))| {
                let f = combined.as_ref()?.fundamental()?.0;
                Some((0.5 * (s + e) as f64 / fs, f))
            })
            .unzip();
        Track {
            times_s,
            frequency_hz,
        }
    };

    let beats: [Vec<Beat>; 3] = [0, 1, 2].map(|c| {
        if !opts.beats || track.times_s.is_empty() {
            return Vec::new();
        }
        let period = |i: usize| fs / track.at(i as f64 / fs).unwrap_or(1.0);
        let y: Vec<f64> = clean[c].iter().map(|v| -v).collect();
        let z = beats::slope(&y);
        let idx = beats::detect(&z, &period);
        beats::assess(&y, &z, fs, &idx, &period, &motion[c])
    });

    let out = windows
        .iter()
        .zip(&per_window)
        .map(|(&(s, e), (spectra, combined))| {
            let centre_s = 0.5 * (s + e) as f64 / fs;
            let f0 = combined.as_ref().and_then(|sp| {
                if opts.tracking {
                    let hint = track.at(centre_s)?;
                    let (lo, hi) = (
                        hint * (1.0 - TRACK_SEARCH_SHARE),
                        hint * (1.0 + TRACK_SEARCH_SHARE),
                    );
                    Some(sp.peak_in(lo, hi).map_or(hint, |p| p.0))
                } else {
                    sp.fundamental().map(|p| p.0)
                }
            });
            let peaks: [Option<PulsePeak>; 3] =
                [0, 1, 2].map(|c| Some(spectra[c].as_ref()?.peak_at(f0?)));
            let channel = (0..3).filter(|&c| peaks[c].is_some()).max_by(|&a, &b| {
                let snr = |c: usize| peaks[c].map_or(f64::MIN, |p| p.snr_db);
                snr(a).total_cmp(&snr(b))
            });
            let spectral_hz = combined
                .as_ref()
                .and_then(|sp| sp.fundamental())
                .map(|p| p.0);
            let mut rate = WindowRate {
                frequency_hz: f0,
                peaks,
                channel,
                spectral_hz,
                spectral_snr_db: combined
                    .as_ref()
                    .zip(spectral_hz)
                    .map(|(sp, f)| sp.peak_at(f).snr_db),
                tracked_snr_db: combined
                    .as_ref()
                    .zip(f0)
                    .map(|(sp, f)| sp.peak_at(f).snr_db),
                ..WindowRate::default()
            };
            if let (Some(c), Some(f)) = (channel, f0) {
                if !motion[c].is_empty() {
                    rate.motion_share =
                        motion[c][s..e].iter().filter(|&&m| m).count() as f64 / (e - s) as f64;
                }
                if opts.beats {
                    let expected = |t: f64| 1.0 / track.at(t).unwrap_or(f);
                    let (bpm, spanned) =
                        beats::window_rate(&beats[c], s as f64 / fs, e as f64 / fs, &expected);
                    rate.beats_bpm = bpm;
                    // Coverage of what the cut-out left: a window that lost 3 s to motion and
                    // has beats over the other 7 is fully covered.
                    rate.beat_coverage = (spanned / (1.0 - rate.motion_share).max(0.1)).min(1.0);
                }
            }
            rate
        })
        .collect();
    HeartRateTrack {
        windows: out,
        beats,
        track,
        motion,
    }
}
