//! Beats along the tracked rate: candidate upstrokes (maxima of the pulse's slope), a dynamic
//! programme that keeps the chain with beat-like spacing, sub-frame times, and per-beat quality
//! (template correlation, amplitude, interval plausibility, motion) that decides which count.
//!
//! The fiducial is the steepest point of the systolic upstroke: unlike the pulse maximum it
//! stays put when the wave has two humps of similar height (common in green and blue).

use serde::{Deserialize, Serialize};

/// Interval to a neighbour counts as plausible within this share of the expected period (the
/// usual 20-25 % rule for ectopic or missed beats in sinus rhythm).
pub const INTERVAL_TOLERANCE: f64 = 0.25;
/// A beat counts when its shape correlates at least this much with its neighbours' template...
pub const MIN_CORRELATION: f64 = 0.5;
/// ...and its amplitude is within this range of theirs.
pub const AMPLITUDE_RANGE: (f64, f64) = (0.4, 2.5);
/// Weight of the spacing penalty against candidate strength (robust SDs) in the chain search:
/// an interval 30 % off the expected period costs about as much as a weak candidate is worth.
const SPACING_WEIGHT: f64 = 8.0;
/// Cost of a gap (no plausible predecessor), in robust SDs: the chain carries on after it.
const GAP_COST: f64 = 3.0;
/// Neighbours (each side) whose median shape is a beat's template.
const TEMPLATE_NEIGHBOURS: usize = 7;

/// One detected beat.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Beat {
    /// Time of the steepest upstroke (beat-upward signal), seconds, sub-frame (parabolic).
    pub t_s: f64,
    /// Correlation of the beat's shape with the median of its neighbours (-1..1).
    pub correlation: f64,
    /// Peak-to-trough amplitude over the neighbours' template amplitude.
    pub amplitude: f64,
    /// The interval to the previous or next beat is within tolerance of the expected period.
    pub interval_ok: bool,
    /// Inside a segment cut out for motion.
    pub in_motion: bool,
}

impl Beat {
    /// Counts for heart rate (and heart-rate variability).
    pub fn accepted(&self) -> bool {
        self.interval_ok
            && !self.in_motion
            && self.correlation >= MIN_CORRELATION
            && (AMPLITUDE_RANGE.0..=AMPLITUDE_RANGE.1).contains(&self.amplitude)
    }

    /// 0-1: the template correlation of an accepted beat, 0 for a rejected one.
    pub fn quality(&self) -> f64 {
        if self.accepted() {
            self.correlation.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

fn parabolic_offset(a: f64, b: f64, c: f64) -> f64 {
    let denom = a - 2.0 * b + c;
    if denom.abs() > 1e-15 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The slope of `y` per sample (central differences; one-sided at the ends).
pub fn slope(y: &[f64]) -> Vec<f64> {
    let n = y.len();
    (0..n)
        .map(|i| match (i.checked_sub(1), (i + 1 < n).then_some(i + 1)) {
            (Some(a), Some(b)) => 0.5 * (y[b] - y[a]),
            (None, Some(b)) => y[b] - y[i],
            (Some(a), None) => y[i] - y[a],
            (None, None) => 0.0,
        })
        .collect()
}

/// Sample indices of the beats in `z` (the slope of the beat-upward pulse): `period_samples(i)`
/// is the expected period (samples) at sample `i`. Candidates are local maxima, scored by height
/// in robust SDs;
/// the chain maximising height minus `SPACING_WEIGHT * ln(interval / period)^2` is kept, gaps
/// bridged at a fixed cost so the chain spans the whole signal.
pub fn detect(z: &[f64], period_samples: &dyn Fn(usize) -> f64) -> Vec<usize> {
    if z.len() < 3 {
        return Vec::new();
    }
    let cand: Vec<usize> = (1..z.len() - 1)
        .filter(|&i| z[i] > z[i - 1] && z[i] >= z[i + 1])
        .collect();
    if cand.len() < 2 {
        return cand;
    }
    let scale = 1.4826 * median(z.iter().map(|v| v.abs()).collect()) + 1e-30;
    let strength: Vec<f64> = cand.iter().map(|&i| z[i] / scale).collect();
    let n = cand.len();
    let mut score = vec![0.0; n];
    let mut prev: Vec<Option<usize>> = vec![None; n];
    // Best score among candidates far enough back to be a gap predecessor (prefix maximum).
    let mut gap_best: Option<usize> = None;
    let mut gap_ptr = 0;
    for i in 0..n {
        let period = period_samples(cand[i]).max(2.0);
        let near = cand[i] as f64 - 0.5 * period;
        let far = cand[i] as f64 - 1.6 * period;
        while gap_ptr < i && (cand[gap_ptr] as f64) < far {
            if gap_best.is_none_or(|g| score[gap_ptr] > score[g]) {
                gap_best = Some(gap_ptr);
            }
            gap_ptr += 1;
        }
        let mut best: Option<(f64, usize)> = gap_best.map(|g| (score[g] - GAP_COST, g));
        for j in (gap_ptr..i).rev() {
            if (cand[j] as f64) > near {
                continue;
            }
            let ratio = (cand[i] - cand[j]) as f64 / period;
            let v = score[j] - SPACING_WEIGHT * ratio.ln().powi(2);
            if best.is_none_or(|(b, _)| v > b) {
                best = Some((v, j));
            }
        }
        match best {
            Some((v, j)) if v > 0.0 => {
                score[i] = strength[i] + v;
                prev[i] = Some(j);
            }
            _ => score[i] = strength[i],
        }
    }
    // End on the best candidate within the last 1.5 periods.
    let last = cand[n - 1] as f64 - 1.5 * period_samples(cand[n - 1]).max(2.0);
    let mut i = (0..n)
        .filter(|&k| cand[k] as f64 >= last)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]))
        .unwrap_or(n - 1);
    let mut chain = vec![cand[i]];
    while let Some(j) = prev[i] {
        chain.push(cand[j]);
        i = j;
    }
    chain.reverse();
    chain
}

/// Beats with sub-frame times and quality. `y` is the beat-upward pulse at `rate_hz`, `z` its
/// slope (the fiducial's signal); `motion` marks samples cut out (empty: none).
pub fn assess(
    y: &[f64],
    z: &[f64],
    rate_hz: f64,
    idx: &[usize],
    period_samples: &dyn Fn(usize) -> f64,
    motion: &[bool],
) -> Vec<Beat> {
    let n = idx.len();
    let typical = median(idx.iter().map(|&i| period_samples(i)).collect()).max(4.0);
    let pre = (0.4 * typical).round() as usize;
    let post = (0.6 * typical).round() as usize;
    let segments: Vec<Option<Vec<f64>>> = idx
        .iter()
        .map(|&i| {
            (i >= pre && i + post < y.len()).then(|| {
                let s = &y[i - pre..i + post];
                let m = s.iter().sum::<f64>() / s.len() as f64;
                s.iter().map(|v| v - m).collect()
            })
        })
        .collect();
    let ptp = |s: &[f64]| {
        let (lo, hi) = s
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        hi - lo
    };
    let mut beats = Vec::with_capacity(n);
    for k in 0..n {
        let i = idx[k];
        let delta = if i > 0 && i + 1 < z.len() {
            parabolic_offset(z[i - 1], z[i], z[i + 1])
        } else {
            0.0
        };
        let plausible = |a: usize, b: usize| {
            let expected = period_samples((a + b) / 2);
            ((b - a) as f64 / expected - 1.0).abs() < INTERVAL_TOLERANCE
        };
        let interval_ok =
            (k > 0 && plausible(idx[k - 1], i)) || (k + 1 < n && plausible(i, idx[k + 1]));
        let (mut correlation, mut amplitude) = (0.0, 0.0);
        if let Some(seg) = &segments[k] {
            let lo = k.saturating_sub(TEMPLATE_NEIGHBOURS);
            let hi = (k + TEMPLATE_NEIGHBOURS).min(n - 1);
            let others: Vec<&Vec<f64>> = (lo..=hi)
                .filter(|&j| j != k)
                .filter_map(|j| segments[j].as_ref())
                .collect();
            if others.len() >= 2 {
                let template: Vec<f64> = (0..seg.len())
                    .map(|p| median(others.iter().map(|o| o[p]).collect()))
                    .collect();
                let dot: f64 = seg.iter().zip(&template).map(|(a, b)| a * b).sum();
                let na = seg.iter().map(|v| v * v).sum::<f64>().sqrt();
                let nb = template.iter().map(|v| v * v).sum::<f64>().sqrt();
                correlation = if na > 0.0 && nb > 0.0 {
                    dot / (na * nb)
                } else {
                    0.0
                };
                let amp_t = ptp(&template);
                amplitude = if amp_t > 0.0 { ptp(seg) / amp_t } else { 0.0 };
            }
        }
        beats.push(Beat {
            t_s: (i as f64 + delta) / rate_hz,
            correlation,
            amplitude,
            interval_ok,
            in_motion: motion.get(i).copied().unwrap_or(false),
        });
    }
    beats
}

/// Rejected beats in a row that an interval between two accepted beats may bridge.
const MAX_BRIDGED_BEATS: usize = 2;

/// Mean rate (bpm) over `[start_s, end_s)` from the accepted beats, and the share of the window
/// their intervals span. Consecutive accepted beats whose spacing is a whole number k of expected
/// periods (k <= 1 + `MAX_BRIDGED_BEATS`: a rejected or missed beat in between) count as k
/// intervals; other spacings do not count.
pub fn window_rate(
    beats: &[Beat],
    start_s: f64,
    end_s: f64,
    expected_period_s: &dyn Fn(f64) -> f64,
) -> (Option<f64>, f64) {
    let accepted: Vec<f64> = beats
        .iter()
        .filter(|b| b.accepted() && b.t_s >= start_s && b.t_s < end_s)
        .map(|b| b.t_s)
        .collect();
    let mut sum = 0.0;
    let mut count = 0usize;
    for pair in accepted.windows(2) {
        let interval = pair[1] - pair[0];
        let expected = expected_period_s(0.5 * (pair[0] + pair[1]));
        let k = (interval / expected).round().max(1.0);
        if k <= (1 + MAX_BRIDGED_BEATS) as f64
            && (interval / (k * expected) - 1.0).abs() < INTERVAL_TOLERANCE
        {
            sum += interval;
            count += k as usize;
        }
    }
    let coverage = sum / (end_s - start_s).max(1e-9);
    ((count >= 2).then(|| 60.0 * count as f64 / sum), coverage)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pulse-like wave sampled at `fs`: per beat a systolic bump peaking at the beat time
    /// (Gaussian, 0.12 s) and a smaller, later diastolic one of equal height to make the
    /// maximum ambiguous; the steepest upstroke is 0.12 s before each beat time.
    fn wave_at(times: &[f64], t: f64) -> f64 {
        let g = |c: f64, s: f64| (-(t - c).powi(2) / (2.0 * s * s)).exp();
        times
            .iter()
            .map(|&b| g(b, 0.12) + 0.95 * g(b + 0.3, 0.15))
            .sum()
    }

    fn wave(times: &[f64], n: usize, fs: f64) -> Vec<f64> {
        (0..n).map(|i| wave_at(times, i as f64 / fs)).collect()
    }

    #[test]
    fn beat_times_are_found_to_a_few_milliseconds() {
        let fs = 30.0;
        // RR intervals varying 0.8-1.0 s (respiratory sinus arrhythmia).
        let mut times = vec![0.37];
        for k in 0..40 {
            times.push(times[k] + 0.9 + 0.1 * (k as f64 * 0.7).sin());
        }
        let n = (times.last().unwrap() * fs) as usize;
        let y = wave(&times, n, fs);
        let period = |_: usize| 0.9 * fs;
        let z = slope(&y);
        let idx = detect(&z, &period);
        let beats = assess(&y, &z, fs, &idx, &period, &[]);
        // The true fiducial: the steepest point of the continuous wave before each beat time.
        let steepest = |b: f64| {
            (0..3000)
                .map(|k| b - 0.3 + k as f64 * 1e-4)
                .max_by(|&s, &t| {
                    let d = |x: f64| wave_at(&times, x + 1e-5) - wave_at(&times, x - 1e-5);
                    d(s).total_cmp(&d(t))
                })
                .unwrap()
        };
        let found: Vec<f64> = beats.iter().map(|b| b.t_s).collect();
        let expected: Vec<f64> = times
            .iter()
            .copied()
            .filter(|&t| t > 0.5 && t < n as f64 / fs - 0.5)
            .collect();
        for t in &expected {
            let truth = steepest(*t);
            let nearest = found
                .iter()
                .map(|f| (f - truth).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(nearest < 0.003, "beat at {t}: off by {nearest}");
        }
        assert!(beats.iter().filter(|b| b.accepted()).count() >= expected.len() - 2);
    }

    #[test]
    fn a_missed_beat_is_bridged_and_does_not_change_the_rate() {
        let fs = 30.0;
        let times: Vec<f64> = (0..15).map(|k| 0.5 + 0.8 * k as f64).collect();
        let mut y = wave(&times, 360, fs);
        // Flatten one beat: the chain must skip it and the rate must stay 75 bpm.
        for v in &mut y[(4.5 * fs) as usize..(5.2 * fs) as usize] {
            *v = -1.0;
        }
        let period = |_: usize| 0.8 * fs;
        let z = slope(&y);
        let beats = assess(&y, &z, fs, &detect(&z, &period), &period, &[]);
        let (bpm, coverage) = window_rate(&beats, 0.0, 12.0, &|_| 0.8);
        assert!((bpm.unwrap() - 75.0).abs() < 0.3, "{bpm:?}");
        assert!(coverage > 0.85, "{coverage}");
        // A beat that is there but misshapen is rejected, and bridged the same way.
        let mut odd = beats.clone();
        odd[5].correlation = -0.2;
        let (bpm, coverage) = window_rate(&odd, 0.0, 12.0, &|_| 0.8);
        assert!(!odd[5].accepted() && (bpm.unwrap() - 75.0).abs() < 0.3 && coverage > 0.85);
    }

    #[test]
    fn beats_in_motion_do_not_count() {
        let fs = 30.0;
        let times: Vec<f64> = (0..15).map(|k| 0.5 + 0.8 * k as f64).collect();
        let y = wave(&times, 360, fs);
        let motion: Vec<bool> = (0..360).map(|i| i >= 150).collect();
        let period = |_: usize| 0.8 * fs;
        let z = slope(&y);
        let beats = assess(&y, &z, fs, &detect(&z, &period), &period, &motion);
        assert!(beats.iter().filter(|b| b.t_s > 5.1).all(|b| !b.accepted()));
        let (_, coverage) = window_rate(&beats, 0.0, 12.0, &|_| 0.8);
        assert!(coverage < 0.45, "{coverage}");
    }
}
