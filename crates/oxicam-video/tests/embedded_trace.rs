//! The embedded real trace carries the pulse its reference oximeters saw: its dominant
//! frequency in the heart-rate band matches `EMBEDDED_TRACE_HEART_RATE_BPM` in every channel.

use oxicam_video::synth::{embedded_trace, EMBEDDED_TRACE_FPS, EMBEDDED_TRACE_HEART_RATE_BPM};
use realfft::RealFftPlanner;

/// Frequency (bpm) of the largest spectral peak between 42 and 210 bpm, after removing a
/// 1 s moving average; zero-padded to a 0.1 bpm grid.
fn dominant_bpm(x: &[f64], fps: f64) -> f64 {
    let half = fps as usize / 2;
    let detrended: Vec<f64> = (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(x.len());
            x[i] - x[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect();
    let n = (fps * 60.0 / 0.1) as usize;
    let mut input = vec![0.0; n];
    for (i, v) in detrended.iter().enumerate() {
        // Hann window against leakage.
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (x.len() - 1) as f64).cos();
        input[i] = v * w;
    }
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut input, &mut spectrum).unwrap();
    let bin_bpm = fps / n as f64 * 60.0;
    let (lo, hi) = ((42.0 / bin_bpm) as usize, (210.0 / bin_bpm) as usize);
    let best = (lo..=hi)
        .max_by(|&a, &b| spectrum[a].norm().total_cmp(&spectrum[b].norm()))
        .unwrap();
    best as f64 * bin_bpm
}

#[test]
fn dominant_frequency_matches_the_reference_pulse_in_every_channel() {
    let trace = embedded_trace();
    for c in 0..3 {
        let channel: Vec<f64> = trace.iter().map(|r| r[c]).collect();
        let bpm = dominant_bpm(&channel, EMBEDDED_TRACE_FPS);
        assert!(
            (bpm - EMBEDDED_TRACE_HEART_RATE_BPM).abs() < 2.0,
            "channel {c}: peak at {bpm:.1} bpm, reference {EMBEDDED_TRACE_HEART_RATE_BPM}"
        );
    }
}

#[test]
fn the_spectral_check_can_fail_on_a_trace_with_another_rhythm() {
    let fake: Vec<f64> = (0..1200)
        .map(|i| (std::f64::consts::TAU * 1.5 * i as f64 / 30.0).sin())
        .collect();
    assert!((dominant_bpm(&fake, 30.0) - 90.0).abs() < 0.5);
}
