//! Heart-rate scoring against an ECG beat reference (RR intervals without timestamps, as in the
//! Welltory set): per-window reference rates, MAE and coverage next to a constant baseline.

use serde::{Deserialize, Serialize};

use crate::analysis::{assess_windows, AnalysisOptions, WindowDetail};
use crate::evaluation::{label_windows, EvalOptions, Recording};
use crate::heart_rate::HeartRateOptions;
use crate::trace::Trace;

/// One recording with its ECG RR intervals.
#[derive(Debug, Clone)]
pub struct BeatReferenced {
    pub name: String,
    pub trace: Trace,
    /// RR intervals in seconds, in order.
    pub rr_s: Vec<f64>,
}

impl BeatReferenced {
    /// Beat times (s from the first frame): the RR series has no timestamps, and its running
    /// sum from 0 matches each recording's length within about 1.5 s (see the data notes).
    pub fn beat_times_s(&self) -> Vec<f64> {
        let t0 = self.trace.samples.first().map_or(0.0, |s| s.t_s);
        let mut t = t0;
        let mut out = vec![t];
        for rr in &self.rr_s {
            t += rr;
            out.push(t);
        }
        out
    }
}

/// Mean rate (bpm) of the reference beats inside `[start_s, end_s]`: (beats - 1) over the time
/// from the first to the last, i.e. 60 / the mean RR of the intervals inside the window.
pub fn reference_rate(beat_times_s: &[f64], start_s: f64, end_s: f64) -> Option<f64> {
    let lo = beat_times_s.partition_point(|&t| t < start_s);
    let hi = beat_times_s.partition_point(|&t| t <= end_s);
    let inside = beat_times_s.get(lo..hi)?;
    if inside.len() < 3 {
        return None;
    }
    let span = inside[inside.len() - 1] - inside[0];
    (span > 0.0).then(|| 60.0 * (inside.len() - 1) as f64 / span)
}

/// One scored window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredWindow {
    /// Recording (Welltory) or subject (UW).
    pub recording: String,
    /// Hand (UW); empty for one-recording subjects.
    pub hand: String,
    pub start_s: f64,
    pub end_s: f64,
    pub reference_bpm: Option<f64>,
    /// `None` when the window was refused.
    pub estimate_bpm: Option<f64>,
    pub reasons: Vec<String>,
    pub snr_db: Option<f64>,
    pub beat_coverage: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordingHeartRate {
    pub recording: String,
    pub windows: usize,
    pub answered: usize,
    pub heart_rate_mae_bpm: Option<f64>,
}

/// Heart-rate scores of a beat-referenced set; JSON keys are part of `oxicam eval --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateEval {
    pub recordings: usize,
    pub window_s: f64,
    pub hop_s: f64,
    /// Windows with a reference rate.
    pub windows: usize,
    pub answered: usize,
    pub heart_rate_mae_bpm: Option<f64>,
    pub heart_rate_rmse_bpm: Option<f64>,
    /// Share of windows with a reference that got a heart rate.
    pub coverage: f64,
    /// Predicting the other recordings' mean reference rate for every window.
    pub baseline_heart_rate_mae_bpm: Option<f64>,
    pub per_recording: Vec<RecordingHeartRate>,
    /// Every window, for side-by-side comparisons (`--windows-csv`); not in the JSON.
    #[serde(skip)]
    pub scored: Vec<ScoredWindow>,
}

impl HeartRateEval {
    /// Counts one recording's labelled windows and the absolute errors of those answered.
    fn add_recording(
        &mut self,
        recording: String,
        labelled: usize,
        recording_errors: Vec<f64>,
        all_errors: &mut Vec<f64>,
    ) {
        self.windows += labelled;
        self.answered += recording_errors.len();
        self.per_recording.push(RecordingHeartRate {
            recording,
            windows: labelled,
            answered: recording_errors.len(),
            heart_rate_mae_bpm: round4(mean(&recording_errors)),
        });
        all_errors.extend(recording_errors);
    }

    /// The pooled error figures and coverage once every recording is counted.
    fn finish(&mut self, all_errors: &[f64]) {
        self.heart_rate_mae_bpm = round4(mean(all_errors));
        self.heart_rate_rmse_bpm =
            round4(mean(&all_errors.iter().map(|e| e * e).collect::<Vec<_>>()).map(f64::sqrt));
        self.coverage =
            round4(Some(self.answered as f64 / self.windows.max(1) as f64)).unwrap_or(0.0);
    }
}

fn round4(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1e4).round() / 1e4)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Runs the estimator on every recording and scores its heart rate per window.
pub fn evaluate_beat_referenced(recs: &[BeatReferenced], opts: &AnalysisOptions) -> HeartRateEval {
    let per_rec: Vec<(Vec<WindowDetail>, Vec<f64>)> = recs
        .iter()
        .map(|r| (assess_windows(&r.trace, opts), r.beat_times_s()))
        .collect();
    // Leave-one-recording-out constant baseline: the mean reference of the other recordings.
    let refs: Vec<Vec<Option<f64>>> = per_rec
        .iter()
        .map(|(ws, beats)| {
            ws.iter()
                .map(|w| reference_rate(beats, w.start_s, w.end_s))
                .collect()
        })
        .collect();
    let mut report = HeartRateEval {
        recordings: recs.len(),
        window_s: opts.window_s,
        hop_s: opts.hop_s,
        ..HeartRateEval::default()
    };
    let (mut errors, mut baseline_errors) = (Vec::new(), Vec::new());
    for (k, (rec, (windows, _))) in recs.iter().zip(&per_rec).enumerate() {
        let others: Vec<f64> = refs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .flat_map(|(_, r)| r.iter().flatten().copied())
            .collect();
        let baseline = mean(&others);
        let mut rec_errors = Vec::new();
        let mut labelled = 0;
        for (w, reference) in windows.iter().zip(&refs[k]) {
            let estimate = w.heart_rate_bpm().filter(|_| w.usable());
            report.scored.push(ScoredWindow {
                recording: rec.name.clone(),
                hand: String::new(),
                start_s: w.start_s,
                end_s: w.end_s,
                reference_bpm: *reference,
                estimate_bpm: estimate,
                reasons: w.gates.iter().map(|g| g.code().to_string()).collect(),
                snr_db: w.peak.map(|p| p.snr_db),
                beat_coverage: w.beat_coverage,
            });
            let Some(y) = reference else { continue };
            labelled += 1;
            if let Some(p) = estimate {
                rec_errors.push((p - y).abs());
                if let Some(b) = baseline {
                    baseline_errors.push((b - y).abs());
                }
            }
        }
        report.add_recording(rec.name.clone(), labelled, rec_errors, &mut errors);
    }
    report.baseline_heart_rate_mae_bpm = round4(mean(&baseline_errors));
    report.finish(&errors);
    report
}

/// The heart-rate path built up part by part, for the ablation table of `oxicam eval`.
pub fn ablation_steps() -> Vec<(&'static str, HeartRateOptions)> {
    let full = HeartRateOptions::default();
    let spectral = HeartRateOptions::spectral_only();
    vec![
        ("spectral peak per window", spectral.clone()),
        (
            "+ beats (rate from accepted beats)",
            HeartRateOptions {
                beats: true,
                ..spectral.clone()
            },
        ),
        (
            "+ tracking (Viterbi across windows)",
            HeartRateOptions {
                motion_cutout: false,
                ..full.clone()
            },
        ),
        ("+ motion cut-out", full),
    ]
}

/// Heart-rate MAE and coverage on oximeter-referenced recordings (the UW layout): windows and
/// labels as `oxicam eval` pairs them. Heart rate needs no fitting, so no folds are involved.
pub fn oximeter_heart_rate(recs: &[Recording], opts: &EvalOptions) -> HeartRateEval {
    let mut report = HeartRateEval {
        recordings: recs.len(),
        window_s: opts.window_s,
        hop_s: opts.hop_s,
        ..HeartRateEval::default()
    };
    let mut errors = Vec::new();
    for rec in recs {
        let name = format!("{} {}", rec.subject, rec.hand);
        let mut rec_errors = Vec::new();
        let mut labelled = 0;
        for w in label_windows(rec, opts) {
            let estimate = w.detail.heart_rate_bpm().filter(|_| w.detail.usable());
            report.scored.push(ScoredWindow {
                recording: rec.subject.clone(),
                hand: rec.hand.clone(),
                start_s: w.detail.start_s,
                end_s: w.detail.end_s,
                reference_bpm: w.hr_label,
                estimate_bpm: estimate,
                reasons: w
                    .detail
                    .gates
                    .iter()
                    .map(|g| g.code().to_string())
                    .collect(),
                snr_db: w.detail.peak.map(|p| p.snr_db),
                beat_coverage: w.detail.beat_coverage,
            });
            let Some(y) = w.hr_label else { continue };
            labelled += 1;
            if let Some(p) = estimate {
                rec_errors.push((p - y).abs());
            }
        }
        report.add_recording(name, labelled, rec_errors, &mut errors);
    }
    report.finish(&errors);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_rate_counts_the_beats_inside_the_window() {
        // Beats every 0.8 s from 0: 75 bpm in any window holding three or more.
        let beats: Vec<f64> = (0..30).map(|k| 0.8 * k as f64).collect();
        assert!((reference_rate(&beats, 3.0, 13.0).unwrap() - 75.0).abs() < 1e-9);
        assert_eq!(reference_rate(&beats, 30.0, 40.0), None);
        // A slower second half: the window's own beats decide.
        let mut slow = beats.clone();
        for t in slow.iter_mut().skip(15) {
            *t += (*t - 12.0) * 0.25;
        }
        assert!((reference_rate(&slow, 13.0, 23.0).unwrap() - 60.0).abs() < 1e-9);
    }
}
