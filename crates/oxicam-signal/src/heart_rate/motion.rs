//! Motion segments: samples where the pulse channel bursts far above its typical amplitude or
//! its light level jumps, widened by the filter's ringing, so they are cut out of the beats and
//! spectra instead of costing whole windows.

/// A sample is an artefact when the band-passed pulse exceeds this many times the recording's
/// typical RMS (a clean pulse peaks near 1.4x RMS and varies about twofold between beats).
pub const BURST_RMS_RATIO: f64 = 4.0;
/// ... or the light level (DC) changes faster than this share per second (pressing or lifting
/// the finger; the pulse itself moves the DC by well under 1 %).
pub const DC_CHANGE_PER_S: f64 = 0.1;
/// Seconds widened on each side: the 0.7 Hz band-pass rings for about a second.
pub const MARGIN_S: f64 = 1.0;

/// The motion mask of one channel: `pulse` band-passed (relative units), `dc` its slow light
/// level, `typical_rms` the recording's typical pulse RMS in this channel.
pub fn motion_mask(pulse: &[f64], dc: &[f64], rate_hz: f64, typical_rms: f64) -> Vec<bool> {
    let n = pulse.len();
    let mut hit = vec![false; n];
    if typical_rms > 0.0 {
        for (h, v) in hit.iter_mut().zip(pulse) {
            *h = v.abs() > BURST_RMS_RATIO * typical_rms;
        }
    }
    let lag = rate_hz.round().max(1.0) as usize;
    if dc.len() == n && n > lag {
        for i in lag..n {
            let (a, b) = (dc[i - lag], dc[i]);
            let base = a.abs().max(b.abs()).max(1.0);
            if (b - a).abs() / base > DC_CHANGE_PER_S * (lag as f64 / rate_hz) {
                hit[i - lag..=i].iter_mut().for_each(|h| *h = true);
            }
        }
    }
    dilate(&hit, (MARGIN_S * rate_hz).round() as usize)
}

fn dilate(hit: &[bool], margin: usize) -> Vec<bool> {
    let n = hit.len();
    let mut out = vec![false; n];
    // Distance to the last hit on the left, then on the right.
    let mut last: Option<usize> = None;
    for i in 0..n {
        if hit[i] {
            last = Some(i);
        }
        out[i] = last.is_some_and(|l| i - l <= margin);
    }
    last = None;
    for i in (0..n).rev() {
        if hit[i] {
            last = Some(i);
        }
        out[i] |= last.is_some_and(|l| l - i <= margin);
    }
    out
}

/// Contiguous marked stretches as `(start, end)` sample ranges (end exclusive).
pub fn segments(mask: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &m) in mask.iter().enumerate() {
        match (m, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, mask.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_out_with_a_margin_and_nothing_else() {
        let fs = 30.0;
        let mut pulse: Vec<f64> = (0..900)
            .map(|i| 0.01 * (std::f64::consts::TAU * 1.2 * i as f64 / fs).sin())
            .collect();
        for v in &mut pulse[400..430] {
            *v = 0.08;
        }
        let dc = vec![200.0; 900];
        let mask = motion_mask(&pulse, &dc, fs, 0.01 / 2f64.sqrt());
        assert_eq!(segments(&mask), vec![(370, 460)]);
    }

    #[test]
    fn a_light_level_jump_is_motion_a_slow_drift_is_not() {
        let fs = 30.0;
        let pulse = vec![0.0; 900];
        let drift: Vec<f64> = (0..900).map(|i| 200.0 - 0.03 * i as f64).collect();
        assert!(segments(&motion_mask(&pulse, &drift, fs, 0.01)).is_empty());
        let jump: Vec<f64> = (0..900)
            .map(|i| if i < 500 { 200.0 } else { 150.0 })
            .collect();
        let seg = segments(&motion_mask(&pulse, &jump, fs, 0.01));
        assert_eq!(seg.len(), 1);
        assert!(seg[0].0 <= 470 && seg[0].1 >= 530, "{seg:?}");
    }
}
