//! HRV scored against an ECG RR series without timestamps (Welltory): per recording the phone's
//! figures and the ECG's over the same heartbeats (aligned by cross-correlating the two NN
//! series), and the median absolute percentage error over the recordings that qualified.

use serde::{Deserialize, Serialize};

use super::evaluation::BeatReferenced;
use super::hrv::{align, reference_over, BeatTiming, Hrv, HrvReasonCode};
use crate::analysis::{heart_rate_variability, AnalysisOptions};
use crate::stats::median;

/// The ECG series is searched this far (s) either way of the recording's start: the RR running
/// sum matches the recording's length within about 1.5 s (see the data notes), and the pulse
/// reaches the fingertip a fraction of a second after the R wave.
pub const MAX_LAG_S: f64 = 10.0;

/// One recording: the phone's HRV, the ECG's over the same beats, and the alignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingHrv {
    pub recording: String,
    pub timing: BeatTiming,
    /// `None` with `reason` when the phone gave no HRV (or the alignment failed).
    pub phone: Option<Hrv>,
    pub ecg: Option<Hrv>,
    pub reason: Option<HrvReasonCode>,
    /// Seconds of NN intervals the phone found (30 needed).
    pub phone_seconds: f64,
    /// ECG beat times + `lag_s` = phone times; the tachograms' correlation there.
    pub lag_s: Option<f64>,
    pub correlation: Option<f64>,
    /// First and last beat (s from the first frame) of each of the phone's NN runs: the stretch
    /// the ECG was scored over (what `bench/hrv_peers.py` scores the other tools on).
    #[serde(default)]
    pub stretches: Vec<[f64; 2]>,
}

/// Median absolute errors over the qualifying recordings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HrvErrors {
    pub rmssd_percent: Option<f64>,
    pub sdnn_percent: Option<f64>,
    pub mean_nn_percent: Option<f64>,
    /// pNN50 is itself a percentage, often near 0: its error is in percentage points.
    pub pnn50_points: Option<f64>,
}

/// HRV scores of a beat-referenced set; JSON keys are part of `oxicam eval --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HrvEval {
    pub recordings: usize,
    /// How the beats were timed; for a leave-one-recording-out choice, per recording in
    /// `per_recording`.
    pub timing: Option<BeatTiming>,
    /// Recordings with phone HRV (>= 30 s of NN intervals) and an alignment.
    pub qualified: usize,
    pub median_absolute_error: HrvErrors,
    pub per_recording: Vec<RecordingHrv>,
}

/// |phone / ecg - 1| in percent.
fn percent_error(phone: f64, ecg: f64) -> f64 {
    100.0 * (phone / ecg - 1.0).abs()
}

fn round(v: Option<f64>, step: f64) -> Option<f64> {
    v.map(|x| (x / step).round() * step)
}

/// One recording: the phone's NN runs and figures, then the ECG over the same stretch.
pub fn score_recording(
    rec: &BeatReferenced,
    opts: &AnalysisOptions,
    timing: BeatTiming,
) -> RecordingHrv {
    let (runs, phone) = heart_rate_variability(&rec.trace, opts, timing);
    let t0 = rec.trace.samples.first().map_or(0.0, |s| s.t_s);
    let reference: Vec<f64> = rec.beat_times_s().iter().map(|t| t - t0).collect();
    let mut out = RecordingHrv {
        recording: rec.name.clone(),
        timing,
        phone: None,
        ecg: None,
        reason: None,
        phone_seconds: runs.seconds(),
        lag_s: None,
        correlation: None,
        stretches: runs
            .0
            .iter()
            .filter_map(|r| Some([*r.first()?, *r.last()?]))
            .collect(),
    };
    let phone = match phone {
        Ok(h) => h,
        Err(reason) => {
            out.reason = Some(reason.code);
            return out;
        }
    };
    let Some(alignment) = align(&runs, &reference, MAX_LAG_S) else {
        out.reason = Some(HrvReasonCode::TooLittleCleanSignal);
        return out;
    };
    out.lag_s = Some(alignment.lag_s);
    out.correlation = Some(alignment.correlation);
    out.ecg = reference_over(&runs, &reference, alignment.lag_s).metrics();
    out.phone = Some(phone);
    out
}

/// Every recording scored, and the median errors over those with both figures.
pub fn evaluate_hrv(
    recs: &[BeatReferenced],
    opts: &AnalysisOptions,
    timing: BeatTiming,
) -> HrvEval {
    let per_recording: Vec<RecordingHrv> = recs
        .iter()
        .map(|r| score_recording(r, opts, timing))
        .collect();
    HrvEval {
        timing: Some(timing),
        ..summarise(per_recording)
    }
}

fn summarise(per_recording: Vec<RecordingHrv>) -> HrvEval {
    let pairs: Vec<(Hrv, Hrv)> = per_recording
        .iter()
        .filter_map(|r| r.phone.zip(r.ecg))
        .collect();
    let errors = |f: &dyn Fn(&Hrv) -> f64| {
        round(
            median(
                pairs
                    .iter()
                    .map(|(p, e)| percent_error(f(p), f(e)))
                    .collect(),
            ),
            0.01,
        )
    };
    HrvEval {
        recordings: per_recording.len(),
        timing: None,
        qualified: pairs.len(),
        median_absolute_error: HrvErrors {
            rmssd_percent: errors(&|h| h.rmssd_ms),
            sdnn_percent: errors(&|h| h.sdnn_ms),
            mean_nn_percent: errors(&|h| h.mean_nn_ms),
            pnn50_points: round(
                median(
                    pairs
                        .iter()
                        .map(|(p, e)| (p.pnn50_percent - e.pnn50_percent).abs())
                        .collect(),
                ),
                0.01,
            ),
        },
        per_recording,
    }
}

/// Median RMSSD error (%) of `eval`'s recordings other than `skip`.
fn rmssd_error_without(eval: &HrvEval, skip: usize) -> Option<f64> {
    median(
        eval.per_recording
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != skip)
            .filter_map(|(_, r)| Some(percent_error(r.phone?.rmssd_ms, r.ecg?.rmssd_ms)))
            .collect(),
    )
}

/// The timing chosen without looking at the recording scored: for each recording, the
/// candidate (same recordings, different [`BeatTiming`]) with the lowest median RMSSD error on
/// the other recordings, and that candidate's result for it. Scores choosing the timing on
/// the data, rather than the luckier of the candidates.
pub fn leave_one_out_choice(candidates: &[HrvEval]) -> HrvEval {
    let n = candidates.first().map_or(0, |c| c.per_recording.len());
    let per_recording = (0..n)
        .filter_map(|k| {
            candidates
                .iter()
                .min_by(|a, b| {
                    let e = |c: &HrvEval| rmssd_error_without(c, k).unwrap_or(f64::INFINITY);
                    e(a).total_cmp(&e(b))
                })
                .map(|c| c.per_recording[k].clone())
        })
        .collect();
    summarise(per_recording)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, phone_rmssd: f64, timing: BeatTiming) -> RecordingHrv {
        let h = |rmssd_ms| Hrv {
            rmssd_ms,
            sdnn_ms: 50.0,
            pnn50_percent: 10.0,
            mean_nn_ms: 800.0,
            seconds: 60.0,
        };
        RecordingHrv {
            recording: name.into(),
            timing,
            phone: Some(h(phone_rmssd)),
            ecg: Some(h(40.0)),
            reason: None,
            phone_seconds: 60.0,
            lag_s: Some(0.0),
            correlation: Some(0.9),
            stretches: Vec::new(),
        }
    }

    #[test]
    fn the_choice_for_a_recording_ignores_that_recording() {
        // Candidate A is better everywhere but on recording 0, where B is far better; B is
        // chosen nowhere, because on the others A wins.
        let a = summarise(
            [80.0, 41.0, 42.0, 41.0, 42.0]
                .iter()
                .map(|&v| rec("r", v, BeatTiming::SlopeMaximum))
                .collect(),
        );
        let b = summarise(
            [40.0, 50.0, 52.0, 50.0, 52.0]
                .iter()
                .map(|&v| rec("r", v, BeatTiming::Template))
                .collect(),
        );
        let chosen = leave_one_out_choice(&[b, a]);
        assert!(chosen
            .per_recording
            .iter()
            .all(|r| r.timing == BeatTiming::SlopeMaximum));
        assert_eq!(chosen.median_absolute_error.rmssd_percent, Some(5.0));
    }
}
