//! Checks the Rust DSP and HRV figures against numpy/scipy outputs for fixed inputs (fixture written by
//! `scripts/reference/signal_reference.py`; `scripts/test.d/signal-reference.sh` regenerates it).

use oxicam_signal::dsp::{detrend_linear, Butterworth};
use oxicam_signal::heart_rate::hrv::NnRuns;
use oxicam_signal::spectrum::power_spectrum;
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/scipy_reference.json");
    serde_json::from_str(text).expect("fixture is JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn sos(v: &Value) -> Vec<[f64; 6]> {
    v.as_array()
        .expect("sos rows")
        .iter()
        .map(|row| {
            let r = floats(row);
            [r[0], r[1], r[2], r[3], r[4], r[5]]
        })
        .collect()
}

fn assert_close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{name}[{i}]: rust {g} vs scipy {w} (tolerance {tol} x {scale})"
        );
    }
}

#[test]
fn butterworth_design_matches_scipy() {
    let f = fixture();
    let fs = f["rate_hz"].as_f64().unwrap();
    let bp = Butterworth::bandpass(4, 0.7, 3.5, fs);
    let want = sos(&f["bandpass"]["sos"]);
    let got = bp.sos_rows();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_close("bandpass sos", g, w, 1e-9);
    }
    let lp = Butterworth::lowpass(2, 0.3, fs);
    for (g, w) in lp.sos_rows().iter().zip(&sos(&f["lowpass"]["sos"])) {
        assert_close("lowpass sos", g, w, 1e-9);
    }
}

#[test]
fn zero_phase_filtering_matches_scipy_sosfiltfilt() {
    let f = fixture();
    let fs = f["rate_hz"].as_f64().unwrap();
    let x = floats(&f["input"]);
    let bp = Butterworth::bandpass(4, 0.7, 3.5, fs);
    assert_close(
        "bandpass filtfilt",
        &bp.filtfilt(&x),
        &floats(&f["bandpass_filtfilt"]),
        1e-8,
    );
    let lp = Butterworth::lowpass(2, 0.3, fs);
    assert_close(
        "lowpass filtfilt",
        &lp.filtfilt(&x),
        &floats(&f["lowpass_filtfilt"]),
        1e-8,
    );
}

#[test]
fn detrend_matches_scipy() {
    let f = fixture();
    let x = floats(&f["input"]);
    assert_close(
        "detrend",
        &detrend_linear(&x),
        &floats(&f["detrend"]),
        1e-10,
    );
}

#[test]
fn spectrum_and_peak_match_numpy() {
    let f = fixture();
    let fs = f["rate_hz"].as_f64().unwrap();
    let spec = &f["spectrum"];
    let x = floats(&f["input"]);
    let bp = Butterworth::bandpass(4, 0.7, 3.5, fs);
    let filtered = bp.filtfilt(&detrend_linear(&x));
    let start = spec["window_start"].as_u64().unwrap() as usize;
    let len = spec["window_len"].as_u64().unwrap() as usize;
    let fft_len = spec["fft_len"].as_u64().unwrap() as usize;
    let ps = power_spectrum(&filtered[start..start + len], fs, fft_len);
    assert!((ps.bin_hz - spec["bin_hz"].as_f64().unwrap()).abs() < 1e-15);
    let want = floats(&spec["power"]);
    assert_close("power", &ps.power[..want.len()], &want, 1e-7);
    let (peak_hz, _) = ps.peak_in(0.6, 3.6).unwrap();
    let want_peak = spec["peak_hz"].as_f64().unwrap();
    assert!(
        (peak_hz - want_peak).abs() < 1e-6,
        "peak {peak_hz} vs {want_peak}"
    );
    // The signal's fundamental is 1.23 Hz: the interpolated peak lands within 0.01 Hz.
    assert!((peak_hz - 1.23).abs() < 0.01, "{peak_hz}");
}

#[test]
fn hrv_figures_match_numpy() {
    let f = fixture();
    let h = &f["hrv"];
    let runs = NnRuns(h["runs"].as_array().unwrap().iter().map(floats).collect());
    let got = runs.metrics().unwrap();
    for (name, value) in [
        ("rmssd_ms", got.rmssd_ms),
        ("sdnn_ms", got.sdnn_ms),
        ("pnn50_percent", got.pnn50_percent),
        ("mean_nn_ms", got.mean_nn_ms),
        ("seconds", got.seconds),
    ] {
        let want = h[name].as_f64().unwrap();
        assert!(
            (value - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{name}: rust {value} vs numpy {want}"
        );
    }
    // No interval spans the cut-outs: 3 runs of 25, 9 and 31 intervals.
    assert_eq!(runs.intervals().count(), 65);
}
