//! The estimator: trace -> resampled, filtered channels -> windows (heart rate, SNR, SpO2
//! features, gates) -> a `Report` with a robust summary, or a refusal with reasons.

use crate::dsp::{detrend_linear, resample_uniform, Butterworth};
use crate::features::WindowFeatures;
use crate::heart_rate::hrv::{self, BeatTiming, HrvReason, HrvReasonCode, NnRuns};
use crate::heart_rate::{self, HeartRateOptions, HeartRateTrack, PulseChannels};
use crate::quality::Gate;
use crate::report::{
    Beats, ChannelInfo, ModelInfo, Quality, QualityReason, Report, Waveform, WindowResult, NOTICE,
    REPORT_SCHEMA_VERSION,
};
use crate::spectrum::{power_spectrum, PowerSpectrum, PulsePeak};
use crate::spo2::features::ChannelMeasures;
use crate::spo2::model::Spo2Model;
use crate::spo2::{self, RawSpo2, Spo2Answer, Spo2Status, WindowInput};
use crate::stats::{mean, median, rms, round_to};
use crate::trace::{Channel, FrameSample, Trace};

/// Rate every trace is resampled to, Hz.
pub const ANALYSIS_RATE_HZ: f64 = 30.0;
/// Rate of the display waveform, Hz.
pub const WAVEFORM_RATE_HZ: f64 = 15.0;
/// Pulse band (Hz): 42-210 bpm.
pub const BAND_LOW_HZ: f64 = 0.7;
pub const BAND_HIGH_HZ: f64 = 3.5;
const BAND_ORDER: usize = 4;
/// The DC (baseline light level) follows slower changes than this.
const DC_CUTOFF_HZ: f64 = 0.3;
/// Channel levels outside this range (8-bit) are saturated or black: no pulse to measure.
const LEVEL_FLOOR: f64 = 5.0;
const LEVEL_CEILING: f64 = 250.0;
/// A channel with more than this share of clipped pixels is out of range.
const MAX_CLIPPED_PIXEL_SHARE: f64 = 0.25;
/// A frame shows a scene, not a lit fingertip, when the luma of its grid cells varies by more
/// than this (8-bit SD) or this share of its mean luma: a fingertip diffuses the light into a
/// near-uniform glow (rendered fingertips: 0.02), while rooms, objects and test patterns,
/// even out of focus, vary by 0.1-0.9.
const SCENE_GRID_SD: f64 = 20.0;
const SCENE_GRID_RELATIVE_SD: f64 = 0.15;
/// Mean luma below which the relative grid SD is taken against this floor (sensor noise in
/// the dark is not texture).
const SCENE_LUMA_FLOOR: f64 = 8.0;
/// A recording (or window) is a scene when at least this share of its frames are.
const SCENE_FRAME_SHARE: f64 = 0.5;
/// Red dominance of a fingertip lit by the torch (red over the larger of green and blue);
/// real phones give 3-80 (Welltory). Cameras that white-balance the glow (the UW study's)
/// are not red, but always show a pulse.
const FINGER_RED_DOMINANCE: f64 = 1.5;
/// Motion: baseline moves by more than this share within a window, or the band-passed signal
/// bursts to this many robust SDs / this multiple of the recording's typical amplitude.
/// Floor for the RMS of the relative (AC/DC) pulse in the best channel of a window. The UW
/// fingertip recordings never go below 0.0023 in any 10 s window; a flat frame (a covered lens
/// with no finger, a still image) stays near codec noise, around 1e-5.
const MIN_PULSE_RMS: f64 = 5e-4;
const MOTION_DC_SHARE: f64 = 0.2;
const MOTION_BURST_SIGMAS: f64 = 6.0;
const MOTION_RMS_RATIO: f64 = 3.0;
/// Longest timeline accepted (s); longer means broken timestamps, not a fingertip recording.
const MAX_TRACE_S: f64 = 4.0 * 3600.0;
/// Frames further apart than this leave a gap: the samples resampled across it are cut out
/// like motion (phones drop frames; 0.25 s is several frames at any phone rate).
const MAX_FRAME_GAP_S: f64 = 0.25;
/// Heart rates accepted, bpm.
pub const HR_MIN_BPM: f64 = 40.0;
pub const HR_MAX_BPM: f64 = 200.0;

/// Tunable settings of one analysis. `Default` gives the product's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    pub window_s: f64,
    pub hop_s: f64,
    /// Seconds discarded at the start while exposure and finger settle.
    pub settle_s: f64,
    /// Minimum duration left after trimming.
    pub min_usable_s: f64,
    pub min_snr_db: f64,
    /// Which parts of the heart-rate path run (all in the product).
    pub heart_rate: HeartRateOptions,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            window_s: 10.0,
            hop_s: 2.0,
            settle_s: 3.0,
            min_usable_s: 10.0,
            min_snr_db: 3.0,
            heart_rate: HeartRateOptions::default(),
        }
    }
}

/// A finger lit by the torch is red: blood absorbs green and blue far more.
fn finger_like_colour(rgb_mean: [f64; 3]) -> bool {
    let [r, g, b] = rgb_mean;
    r >= LEVEL_CEILING || r > FINGER_RED_DOMINANCE * g.max(b)
}

/// Whether a frame with this grid luma SD and mean colour shows a scene (texture).
fn scene_frame(grid_sd: f64, rgb: [f64; 3]) -> bool {
    // BT.709 luma of the mean colour (what the synthetic and most phone videos are tagged).
    let luma = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    grid_sd > SCENE_GRID_SD || grid_sd > SCENE_GRID_RELATIVE_SD * luma.max(SCENE_LUMA_FLOOR)
}

/// Everything computed for one window (the report shows a summary of it).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDetail {
    pub start_s: f64,
    pub end_s: f64,
    /// Best in-range channel and its peak.
    pub channel: Option<Channel>,
    pub peak: Option<PulsePeak>,
    pub features: Option<WindowFeatures>,
    /// Per-channel pulse measures the SpO2 model reads.
    pub measures: Option<ChannelMeasures>,
    /// SpO2 model output before the range rule (`NotUsable` until a model
    /// has estimated it).
    pub spo2: RawSpo2,
    pub gates: Vec<Gate>,
    /// Share of the window (of its part left after the motion cut-out) spanned by accepted
    /// beat intervals (0 with beats off).
    pub beat_coverage: f64,
    /// Share of the window cut out for motion in its channel (0 with the cut-out off).
    pub motion_share: f64,
}

impl WindowDetail {
    pub fn usable(&self) -> bool {
        self.gates.is_empty()
    }

    pub fn heart_rate_bpm(&self) -> Option<f64> {
        self.peak.map(|p| p.bpm())
    }

    /// Centre of the window, seconds from the start of the trace.
    pub fn centre_s(&self) -> f64 {
        0.5 * (self.start_s + self.end_s)
    }

    /// The SpO2 features, when the window passed every gate.
    pub fn usable_features(&self) -> Option<&WindowFeatures> {
        self.features.as_ref().filter(|_| self.usable())
    }

    /// What the SpO2 model reads of this window.
    pub fn spo2_input(&self) -> WindowInput<'_> {
        WindowInput {
            centre_s: self.centre_s(),
            usable: self.usable(),
            measures: self.measures.as_ref(),
        }
    }

    fn perfusion_index(&self) -> Option<f64> {
        self.features
            .zip(self.channel)
            .and_then(|(f, c)| f.perfusion_index(c))
    }
}

/// The report plus the per-window details `eval` and `train` need.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub report: Report,
    pub windows: Vec<WindowDetail>,
}

/// Analyses one trace. Never panics on any input; a refusal is a report with `usable: false`.
pub fn analyze(trace: &Trace, model: &Spo2Model, opts: &AnalysisOptions) -> Report {
    analyze_detailed(trace, model, opts).report
}

/// Full analysis with per-window details: prepare the channels once, assess each window,
/// estimate SpO2 with the model, summarise into a report.
pub fn analyze_detailed(trace: &Trace, model: &Spo2Model, opts: &AnalysisOptions) -> Analysis {
    let prepared = match PreparedTrace::new(trace, opts) {
        Ok(prepared) => prepared,
        Err(early) => {
            return Analysis {
                report: base_report(model, &[early.gate], early.analysed_s, trace.truncated),
                windows: Vec::new(),
            }
        }
    };
    let mut windows = prepared.assess_windows(opts);
    estimate_spo2(&mut windows, model);
    let report = prepared.summarise(&windows, model, opts, trace.truncated);
    Analysis { report, windows }
}

/// The model-independent part of an analysis: every window with its heart rate, features and
/// gates, without SpO2 estimates. What evaluation and training label and fit on.
pub fn assess_windows(trace: &Trace, opts: &AnalysisOptions) -> Vec<WindowDetail> {
    PreparedTrace::new(trace, opts).map_or_else(|_| Vec::new(), |p| p.assess_windows(opts))
}

/// The NN runs (seconds from the first valid frame) and HRV of a trace, as its report gives
/// them (with `BeatTiming::default()`): what the ECG comparison of `oxicam eval` aligns. A
/// refused recording has none.
pub fn heart_rate_variability(
    trace: &Trace,
    opts: &AnalysisOptions,
    timing: BeatTiming,
) -> (NnRuns, Result<hrv::Hrv, HrvReason>) {
    let refused = || {
        (
            NnRuns::default(),
            Err(HrvReason::new(HrvReasonCode::RecordingRefused, 0.0)),
        )
    };
    let Ok(prepared) = PreparedTrace::new(trace, opts) else {
        return refused();
    };
    let windows = prepared.assess_windows(opts);
    let usable: Vec<&WindowDetail> = windows.iter().filter(|w| w.usable()).collect();
    if usable.is_empty() || prepared.lens_not_covered(&windows) {
        return refused();
    }
    prepared.variability(heart_rate_channel(usable), timing)
}

/// Per-window SpO2 estimates of the usable windows (context, domain, model, smoothing: see
/// [`spo2::raw_series`]).
fn estimate_spo2(windows: &mut [WindowDetail], model: &Spo2Model) {
    let inputs: Vec<WindowInput> = windows.iter().map(WindowDetail::spo2_input).collect();
    let raw = spo2::raw_series(model, &inputs);
    for (w, r) in windows.iter_mut().zip(raw) {
        w.spo2 = r;
    }
}

/// Why a trace was refused before any window was looked at.
struct EarlyRefusal {
    gate: Gate,
    analysed_s: f64,
}

/// Resampled channels and side information on the uniform grid.
struct Uniform {
    rgb: [Vec<f64>; 3],
    clipped: Option<[Vec<f64>; 3]>,
    /// 1 where the frame shows a scene (see [`scene_frame`]), 0 for a fingertip-like glow;
    /// `None` without grid figures (CSV traces).
    scene: Option<Vec<f64>>,
    /// Grid samples interpolated across a gap between frames longer than `MAX_FRAME_GAP_S`.
    gaps: Vec<bool>,
}

fn uniform_trace(trace: &Trace) -> Option<Uniform> {
    let valid: Vec<_> = trace
        .samples
        .iter()
        .filter(|s| s.t_s.is_finite() && s.roi_rgb.iter().all(|v| v.is_finite()))
        .collect();
    if valid.len() < 2 {
        return None;
    }
    let times: Vec<f64> = valid.iter().map(|s| s.t_s).collect();
    let span = times.iter().fold(f64::MIN, |m, &t| m.max(t)) - times[0];
    if !(span > 0.0 && span <= MAX_TRACE_S) {
        // Broken timestamps (no progress, or hours between frames): nothing to resample.
        return None;
    }
    let channel = |f: &dyn Fn(&FrameSample) -> f64| {
        let v: Vec<f64> = valid.iter().map(|s| f(s)).collect();
        resample_uniform(&times, &v, ANALYSIS_RATE_HZ).1
    };
    let rgb = [
        channel(&|s| s.roi_rgb[0]),
        channel(&|s| s.roi_rgb[1]),
        channel(&|s| s.roi_rgb[2]),
    ];
    // Side information must not drop samples the colour channels kept, so bad values become
    // neutral ones instead of being skipped.
    let share = |v: f64| {
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let clipped = valid
        .iter()
        .all(|s| s.clipped_fraction.is_some())
        .then(|| [0, 1, 2].map(|c| channel(&|s| share(s.clipped_fraction.map_or(0.0, |f| f[c])))));
    let grid_sd = valid
        .iter()
        .all(|s| s.luma_grid_sd.is_some_and(f64::is_finite))
        .then(|| channel(&|s| s.luma_grid_sd.unwrap_or(0.0)));
    let gaps = frame_gaps(&times, rgb[0].len());
    let scene = grid_sd.as_ref().map(|sd| {
        sd.iter()
            .enumerate()
            .map(|(i, &v)| {
                let colour = [rgb[0][i], rgb[1][i], rgb[2][i]];
                if scene_frame(v, colour) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    });
    Some(Uniform {
        rgb,
        clipped,
        scene,
        gaps,
    })
}

/// Marks the `n` grid samples (from `times[0]` at the analysis rate) that fall between two
/// frames more than `MAX_FRAME_GAP_S` apart. Non-increasing times are skipped, as resampling
/// skips them.
fn frame_gaps(times: &[f64], n: usize) -> Vec<bool> {
    let mut gaps = vec![false; n];
    let t0 = times[0];
    let mut last = t0;
    for &t in &times[1..] {
        if t <= last {
            continue;
        }
        if t - last > MAX_FRAME_GAP_S {
            let from = ((last - t0) * ANALYSIS_RATE_HZ).floor().max(0.0) as usize;
            let to = (((t - t0) * ANALYSIS_RATE_HZ).ceil() as usize).min(n);
            gaps[from.min(n)..to].iter_mut().for_each(|g| *g = true);
        }
        last = t;
    }
    gaps
}

/// A trace prepared once for all its windows: resampled, the settling time trimmed, each
/// channel's slow baseline (DC) and band-passed relative pulse (AC/DC), the window starts and
/// the pulse RMS of every window.
struct PreparedTrace {
    uniform: Uniform,
    /// Samples trimmed at the start; `uniform` still holds them, the series below do not.
    settle_n: usize,
    window_n: usize,
    analysed_s: f64,
    raw: [Vec<f64>; 3],
    dc: [Vec<f64>; 3],
    pulse: [Vec<f64>; 3],
    /// First sample of each window (in the trimmed series).
    starts: Vec<usize>,
    /// Pulse RMS per channel and window, and its median over the recording per channel.
    window_rms: [Vec<f64>; 3],
    typical_rms: [f64; 3],
    /// Track, beats, motion mask and per-window rates of the heart-rate path.
    heart_rate: HeartRateTrack,
}

impl PreparedTrace {
    fn new(trace: &Trace, opts: &AnalysisOptions) -> Result<PreparedTrace, EarlyRefusal> {
        let fs = ANALYSIS_RATE_HZ;
        let Some(uniform) = uniform_trace(trace) else {
            return Err(EarlyRefusal {
                gate: Gate::InvalidTrace,
                analysed_s: 0.0,
            });
        };
        let total_n = uniform.rgb[0].len();
        let settle_n = ((opts.settle_s.max(0.0) * fs).round() as usize).min(total_n);
        let n = total_n - settle_n;
        let analysed_s = n as f64 / fs;
        let window_n = (opts.window_s * fs).round().max(16.0) as usize;
        if analysed_s + 1e-9 < opts.min_usable_s || n < window_n {
            // Too short to measure, but not too short to see that nothing covers the lens.
            let scene = uniform
                .scene
                .as_ref()
                .is_some_and(|sc| mean(&sc[settle_n..]) >= SCENE_FRAME_SHARE);
            return Err(EarlyRefusal {
                gate: if scene {
                    Gate::LensNotCovered
                } else {
                    Gate::TooShort
                },
                analysed_s,
            });
        }
        let hop_n = (opts.hop_s * fs).round().max(1.0) as usize;
        let raw: [Vec<f64>; 3] = [0, 1, 2].map(|c| uniform.rgb[c][settle_n..].to_vec());

        let band = Butterworth::bandpass(BAND_ORDER, BAND_LOW_HZ, BAND_HIGH_HZ, fs);
        let dc_filter = Butterworth::lowpass(2, DC_CUTOFF_HZ, fs);
        let dc: [Vec<f64>; 3] = [0, 1, 2].map(|c| dc_filter.filtfilt(&raw[c]));
        // Dividing by the slow baseline turns exposure changes into nothing and the pulse into
        // relative (AC/DC) units.
        let pulse: [Vec<f64>; 3] = [0, 1, 2].map(|c| {
            let rel: Vec<f64> = raw[c]
                .iter()
                .zip(&dc[c])
                .map(|(x, d)| x / d.max(1.0) - 1.0)
                .collect();
            band.filtfilt(&detrend_linear(&rel))
        });

        let starts: Vec<usize> = (0..=(n - window_n) / hop_n).map(|i| i * hop_n).collect();
        let window_rms: [Vec<f64>; 3] = [0, 1, 2].map(|c| {
            starts
                .iter()
                .map(|&s| rms(&pulse[c][s..s + window_n]))
                .collect()
        });
        let typical_rms: [f64; 3] = [0, 1, 2].map(|c| median(window_rms[c].clone()).unwrap_or(0.0));
        let mut prepared = PreparedTrace {
            uniform,
            settle_n,
            window_n,
            analysed_s,
            raw,
            dc,
            pulse,
            starts,
            window_rms,
            typical_rms,
            heart_rate: HeartRateTrack::default(),
        };
        prepared.heart_rate = prepared.heart_rate_path(&opts.heart_rate);
        Ok(prepared)
    }

    /// Whether channel `c` is in range over window samples `[s, e)`: its level neither
    /// saturated nor black, and few of its pixels clipped.
    fn channel_in_range(&self, c: usize, s: usize, e: usize) -> bool {
        let level = mean(&self.raw[c][s..e]);
        let clipped_share = self
            .uniform
            .clipped
            .as_ref()
            .map_or(0.0, |cl| self.side_mean(&cl[c], s, e));
        level > LEVEL_FLOOR && level < LEVEL_CEILING && clipped_share <= MAX_CLIPPED_PIXEL_SHARE
    }

    /// The heart-rate path over every window (see [`heart_rate`]).
    fn heart_rate_path(&self, opts: &HeartRateOptions) -> HeartRateTrack {
        let spans: Vec<(usize, usize)> = self
            .starts
            .iter()
            .map(|&s| (s, s + self.window_n))
            .collect();
        let in_range = |c: usize, s: usize, e: usize| self.channel_in_range(c, s, e);
        heart_rate::estimate(
            &PulseChannels {
                rate_hz: ANALYSIS_RATE_HZ,
                pulse: [0, 1, 2].map(|c| self.pulse[c].as_slice()),
                dc: [0, 1, 2].map(|c| self.dc[c].as_slice()),
                typical_rms: self.typical_rms,
                gaps: &self.uniform.gaps[self.settle_n..],
                in_range: &in_range,
            },
            &spans,
            opts,
        )
    }

    /// Every window assessed, then the recording-level SNR rule: beats and the track may carry
    /// the rate through windows whose pulse stands out only weakly (`MIN_SNR_WITH_BEATS_DB`),
    /// but only when the pulse stands out clearly (`min_snr_db`) in at least one window of the
    /// recording. Band-passed noise always has some quasi-periodic stretch that beats and a
    /// marginal SNR accept; without one clear window the recording has no evident pulse and its
    /// windows are refused as `low_snr`.
    fn assess_windows(&self, opts: &AnalysisOptions) -> Vec<WindowDetail> {
        let mut windows: Vec<WindowDetail> = (0..self.starts.len())
            .map(|wi| self.assess_window(wi, opts))
            .collect();
        let evident = windows
            .iter()
            .any(|w| w.usable() && w.peak.is_some_and(|p| p.snr_db >= opts.min_snr_db));
        if !evident {
            for w in windows.iter_mut().filter(|w| w.usable()) {
                w.gates.push(Gate::LowSnr);
            }
        }
        windows
    }

    /// Mean of a side-information series (on the untrimmed grid) over window samples s..e.
    fn side_mean(&self, series: &[f64], s: usize, e: usize) -> f64 {
        mean(&series[self.settle_n + s..self.settle_n + e])
    }

    /// Heart rate, SpO2 features and gates of window `wi`.
    fn assess_window(&self, wi: usize, opts: &AnalysisOptions) -> WindowDetail {
        let fs = ANALYSIS_RATE_HZ;
        let s = self.starts[wi];
        let e = s + self.window_n;
        let mut gates = Vec::new();
        let level: [f64; 3] = [0, 1, 2].map(|c| mean(&self.raw[c][s..e]));
        let in_range: [bool; 3] = [0, 1, 2].map(|c| self.channel_in_range(c, s, e));
        if let Some(scene) = &self.uniform.scene {
            if self.side_mean(scene, s, e) >= SCENE_FRAME_SHARE {
                // A window showing a scene says only that: its pulse figures mean nothing.
                return self.uncovered_window(wi);
            }
        }
        // The heart-rate path read every in-range channel's spectrum at the window's pulse
        // frequency (tracked across windows) and picked the channel with the best SNR.
        let rate = &self.heart_rate.windows[wi];
        let peaks = rate.peaks;
        let best = rate.channel;
        let mut features = None;
        let mut measures = None;
        let mut peak = best.and_then(|c| peaks[c]);
        if let (Some(p), Some(bpm)) = (peak.as_mut(), rate.bpm()) {
            p.frequency_hz = bpm / 60.0;
        }
        match (best, peak) {
            (Some(c), Some(p)) => {
                gates.extend(self.signal_gates(wi, c, &p, opts));
                // The fundamental's amplitude in every in-range channel, at the chosen rate.
                let ac_dc = [0, 1, 2].map(|k| peaks[k].map_or(f64::NAN, |pk| pk.amplitude));
                features = Some(WindowFeatures::from_amplitudes(ac_dc, level, in_range));
                measures = self.spo2_measures(s, e, level, in_range);
            }
            _ => gates.push(Gate::ChannelClipped),
        }
        gates.sort();
        gates.dedup();
        WindowDetail {
            start_s: (self.settle_n + s) as f64 / fs,
            end_s: (self.settle_n + e) as f64 / fs,
            channel: best.and_then(Channel::from_index),
            peak,
            features,
            measures,
            spo2: RawSpo2::NotUsable,
            gates,
            beat_coverage: rate.beat_coverage,
            motion_share: rate.motion_share,
        }
    }

    /// The per-channel pulse measures the SpO2 model reads over window samples `[s, e)`: read
    /// from the whole window's spectra at their combined fundamental, as the model was trained
    /// (the heart-rate path's spectra have motion cut out per channel, which would bias the
    /// ratios between channels).
    fn spo2_measures(
        &self,
        s: usize,
        e: usize,
        level: [f64; 3],
        in_range: [bool; 3],
    ) -> Option<ChannelMeasures> {
        let fs = ANALYSIS_RATE_HZ;
        let spectra: [Option<PowerSpectrum>; 3] = [0, 1, 2].map(|c| {
            in_range[c].then(|| power_spectrum(&self.pulse[c][s..e], fs, heart_rate::FFT_LEN))
        });
        let present: Vec<&PowerSpectrum> = spectra.iter().flatten().collect();
        let (f0_hz, _) = PowerSpectrum::combine(&present)?.fundamental()?;
        Some(ChannelMeasures::measure(
            [0, 1, 2].map(|k| &self.pulse[k][s..e]),
            [0, 1, 2].map(|k| spectra[k].as_ref()),
            f0_hz,
            fs,
            level,
            in_range,
        ))
    }

    /// Gates on the pulse of window `wi` in its best channel `c`: no pulse, low SNR, rate out
    /// of range, motion.
    fn signal_gates(
        &self,
        wi: usize,
        c: usize,
        p: &PulsePeak,
        opts: &AnalysisOptions,
    ) -> Vec<Gate> {
        let mut gates = Vec::new();
        let hr = &opts.heart_rate;
        let rate = &self.heart_rate.windows[wi];
        // With beats, a window counts when consistent beats span most of it and the pulse
        // stands out at the tracked rate; without, the spectral SNR alone decides.
        let weak = if hr.beats {
            rate.beat_coverage < heart_rate::MIN_BEAT_COVERAGE
                || p.snr_db < heart_rate::MIN_SNR_WITH_BEATS_DB
        } else {
            p.snr_db < opts.min_snr_db
        };
        if self.window_rms[c][wi] < MIN_PULSE_RMS {
            gates.push(Gate::NoPulse);
        } else if hr.motion_cutout && rate.motion_share > heart_rate::MAX_MOTION_SHARE {
            gates.push(Gate::Motion);
        } else if rate.out_of_range_pulse(HR_MIN_BPM..=HR_MAX_BPM, opts.min_snr_db) {
            gates.push(Gate::HrOutOfRange);
        } else if weak {
            gates.push(Gate::LowSnr);
        } else if !(HR_MIN_BPM..=HR_MAX_BPM).contains(&p.bpm()) {
            gates.push(Gate::HrOutOfRange);
        }
        if !hr.motion_cutout && self.whole_window_motion(wi, c) {
            gates.push(Gate::Motion);
        }
        gates
    }

    /// Motion judged on the whole window (without the cut-out): the baseline moves by more than
    /// `MOTION_DC_SHARE`, or the pulse bursts past `MOTION_BURST_SIGMAS` robust SDs or
    /// `MOTION_RMS_RATIO` times the recording's typical RMS.
    fn whole_window_motion(&self, wi: usize, c: usize) -> bool {
        let s = self.starts[wi];
        let e = s + self.window_n;
        let dc_share = {
            let w = &self.dc[c][s..e];
            let (lo, hi) = w
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            (hi - lo) / mean(w).max(1.0)
        };
        let seg = &self.pulse[c][s..e];
        let abs_dev: Vec<f64> = seg.iter().map(|v| v.abs()).collect();
        let robust_sd = 1.4826 * median(abs_dev).unwrap_or(0.0);
        let peak_abs = seg.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let burst = robust_sd > 0.0 && peak_abs > MOTION_BURST_SIGMAS * robust_sd;
        let loud = self.typical_rms[c] > 0.0
            && self.window_rms[c][wi] > MOTION_RMS_RATIO * self.typical_rms[c];
        dc_share > MOTION_DC_SHARE || burst || loud
    }

    /// Recording-level lens check: most frames show a scene (texture), or no window found a
    /// pulse in frames not coloured like a lit fingertip (and not black in every channel).
    /// Brightness alone proves nothing.
    fn lens_not_covered(&self, windows: &[WindowDetail]) -> bool {
        let rgb_mean = [0, 1, 2].map(|c| mean(&self.uniform.rgb[c][self.settle_n..]));
        let scene = self
            .uniform
            .scene
            .as_ref()
            .is_some_and(|sc| mean(&sc[self.settle_n..]) >= SCENE_FRAME_SHARE);
        let pulsatile = windows.iter().any(WindowDetail::usable);
        // A frame black in every channel (torch off, lens covered) has no colour to judge:
        // that is `channel_clipped`, not an uncovered lens.
        let black = rgb_mean.iter().all(|&v| v <= LEVEL_FLOOR);
        scene || (!black && !pulsatile && !finger_like_colour(rgb_mean))
    }

    /// A window whose frames show a scene: refused as `lens_not_covered` alone.
    fn uncovered_window(&self, wi: usize) -> WindowDetail {
        let s = self.starts[wi];
        let fs = ANALYSIS_RATE_HZ;
        WindowDetail {
            start_s: (self.settle_n + s) as f64 / fs,
            end_s: (self.settle_n + s + self.window_n) as f64 / fs,
            channel: None,
            peak: None,
            features: None,
            measures: None,
            spo2: RawSpo2::NotUsable,
            gates: vec![Gate::LensNotCovered],
            beat_coverage: 0.0,
            motion_share: 0.0,
        }
    }

    /// The heart-rate channel's beats, times from the start of the trace.
    fn beats(&self, channel: Channel) -> Option<Beats> {
        let beats = &self.heart_rate.beats[channel.index()];
        let offset = self.settle_n as f64 / ANALYSIS_RATE_HZ;
        (!beats.is_empty()).then(|| Beats {
            channel: Some(channel),
            times_s: beats
                .iter()
                .map(|b| round_to(b.t_s + offset, 1e-4))
                .collect(),
            quality: beats.iter().map(|b| round_to(b.quality(), 0.001)).collect(),
        })
    }

    /// NN runs (seconds from the start of the trace) and HRV of the heart-rate channel's
    /// accepted beats (see [`hrv`]).
    fn variability(
        &self,
        channel: Option<Channel>,
        timing: BeatTiming,
    ) -> (NnRuns, Result<hrv::Hrv, HrvReason>) {
        let Some(c) = channel.map(Channel::index) else {
            return (
                NnRuns::default(),
                Err(HrvReason::new(HrvReasonCode::TooLittleCleanSignal, 0.0)),
            );
        };
        let y: Vec<f64> = self.pulse[c].iter().map(|v| -v).collect();
        let (runs, result) =
            hrv::from_beats(&y, ANALYSIS_RATE_HZ, &self.heart_rate.beats[c], timing);
        let offset = self.settle_n as f64 / ANALYSIS_RATE_HZ;
        let shifted = runs
            .0
            .into_iter()
            .map(|r| r.into_iter().map(|t| t + offset).collect())
            .collect();
        (NnRuns(shifted), result)
    }

    /// The heart-rate channel's pulse, decimated for display.
    fn waveform(&self, channel: Channel) -> Waveform {
        let step = (ANALYSIS_RATE_HZ / WAVEFORM_RATE_HZ).round() as usize;
        Waveform {
            rate_hz: ANALYSIS_RATE_HZ / step as f64,
            start_s: self.settle_n as f64 / ANALYSIS_RATE_HZ,
            samples: self.pulse[channel.index()]
                .iter()
                .step_by(step)
                .map(|v| round_to(-v, 1e-6))
                .collect(),
        }
    }

    /// The report: a refusal with the most frequent reasons, or the medians of the usable
    /// windows with a confidence, the hypoxaemia screen and perfusion index.
    fn summarise(
        &self,
        windows: &[WindowDetail],
        model: &Spo2Model,
        opts: &AnalysisOptions,
        truncated: bool,
    ) -> Report {
        let usable: Vec<&WindowDetail> = windows.iter().filter(|w| w.usable()).collect();
        let lens_not_covered = self.lens_not_covered(windows);
        let hr_channel = heart_rate_channel(if usable.is_empty() {
            windows.iter().collect()
        } else {
            usable.clone()
        });
        let channels = channel_info(windows, hr_channel);
        let waveform = hr_channel.map(|c| self.waveform(c));
        let beats = hr_channel.and_then(|c| self.beats(c));

        if lens_not_covered || usable.is_empty() {
            let mut report = base_report(
                model,
                &refusal_gates(windows, lens_not_covered),
                self.analysed_s,
                truncated,
            );
            report.windows = window_results(windows, model);
            report.channels = channels;
            report.waveform = waveform;
            report.beats = beats;
            return report;
        }

        let raw: Vec<RawSpo2> = windows.iter().map(|w| w.spo2).collect();
        let spo2 = spo2::summarise(model, &raw);

        let mut report = base_report(model, &[], self.analysed_s, truncated);
        report.channels = channels;
        report.waveform = waveform;
        report.beats = beats;
        let (_, variability) = self.variability(hr_channel, BeatTiming::default());
        (report.hrv, report.hrv_reason) = match variability {
            Ok(h) => (Some(h), None),
            Err(reason) => (None, Some(reason)),
        };
        report.heart_rate_bpm = median(usable.iter().filter_map(|w| w.heart_rate_bpm()).collect())
            .map(|v| round_to(v, 0.1));
        report.spo2_percent = spo2.percent.map(|v| round_to(v, 0.1));
        report.spo2_interval_percent = rounded_interval(&spo2);
        report.spo2_status = spo2.status;
        report.hypoxaemia = spo2.hypoxaemia;
        report.confidence = confidence(windows.len(), &usable, opts);
        report.usable = true;
        if let Some(reason) = spo2_reason(&spo2, model) {
            report.quality.reasons.insert(0, reason);
        }
        report.windows = window_results(windows, model);
        report.perfusion_index =
            median(usable.iter().filter_map(|w| w.perfusion_index()).collect())
                .map(|v| round_to(v, 0.001));
        report
    }
}

/// A report without results: the reasons given (and `truncated` last when the file ended
/// early), no windows. Refusals are this; usable reports start from it.
fn base_report(model: &Spo2Model, gates: &[Gate], analysed_s: f64, truncated: bool) -> Report {
    let mut reasons: Vec<_> = gates.iter().map(|g| g.reason()).collect();
    if truncated {
        reasons.push(Gate::Truncated.reason());
    }
    Report {
        schema_version: REPORT_SCHEMA_VERSION.to_string(),
        heart_rate_bpm: None,
        spo2_percent: None,
        spo2_interval_percent: None,
        spo2_status: Spo2Status::Unavailable,
        hypoxaemia: None,
        confidence: 0.0,
        usable: false,
        quality: Quality { reasons },
        windows: Vec::new(),
        model: ModelInfo {
            version: model.version().to_string(),
        },
        video: None,
        notice: NOTICE.to_string(),
        waveform: None,
        channels: ChannelInfo::default(),
        perfusion_index: None,
        analysed_s,
        beats: None,
        hrv: None,
        hrv_reason: Some(HrvReason::new(HrvReasonCode::RecordingRefused, 0.0)),
    }
}

/// The channel most windows took their heart rate from.
fn heart_rate_channel(windows: Vec<&WindowDetail>) -> Option<Channel> {
    let mut votes = [0usize; 3];
    for c in windows.iter().filter_map(|w| w.channel) {
        votes[c.index()] += 1;
    }
    Channel::ALL
        .into_iter()
        .filter(|c| votes[c.index()] > 0)
        .max_by_key(|c| votes[c.index()])
}

/// Channels in range in at least half the windows with features, and the others.
fn channel_info(windows: &[WindowDetail], heart_rate: Option<Channel>) -> ChannelInfo {
    let features: Vec<_> = windows.iter().filter_map(|w| w.features).collect();
    let in_range = |c: Channel| {
        !features.is_empty()
            && features.iter().filter(|f| f.channel_in_range(c)).count() * 2 >= features.len()
    };
    let (in_range, excluded) = Channel::ALL.into_iter().partition(|&c| in_range(c));
    ChannelInfo {
        heart_rate,
        in_range,
        excluded,
    }
}

/// A refused recording's reasons: `lens_not_covered` alone when nothing covers the lens (its
/// windows' motion or noise is the scene's, not the user's hand), else the window failures,
/// most frequent first.
fn refusal_gates(windows: &[WindowDetail], lens_not_covered: bool) -> Vec<Gate> {
    if lens_not_covered {
        return vec![Gate::LensNotCovered];
    }
    let mut counts: Vec<(Gate, usize)> = Vec::new();
    for g in windows.iter().flat_map(|w| w.gates.iter()) {
        match counts.iter_mut().find(|(k, _)| k == g) {
            Some((_, n)) => *n += 1,
            None => counts.push((*g, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.into_iter().map(|(g, _)| g).collect()
}

/// An interval rounded to 0.1 for the report.
fn rounded_interval(a: &Spo2Answer) -> Option<[f64; 2]> {
    a.interval
        .map(|[lo, hi]| [round_to(lo, 0.1), round_to(hi, 0.1)])
}

/// Why a usable recording has no SpO2 number: out of the model's domain (with the sentence
/// naming the cause), below its range, or no SpO2 at all.
fn spo2_reason(a: &Spo2Answer, model: &Spo2Model) -> Option<QualityReason> {
    match (a.status, a.issue) {
        (Spo2Status::Estimated, _) => None,
        (Spo2Status::OutOfDomain, Some(issue)) => Some(QualityReason {
            code: Gate::Spo2OutOfDomain,
            message: issue.message(),
        }),
        (Spo2Status::BelowRange, _) => Some(QualityReason {
            code: Gate::Spo2BelowRange,
            message: format!(
                "SpO2 appears to be below {:.0} %, the lowest saturation the model was trained \
                 on, so no number is given: the interval's upper end says how high it may be. \
                 Repeat the measurement and see a clinician if it persists.",
                model.output_range[0]
            ),
        }),
        _ => Some(Gate::Spo2Unavailable.reason()),
    }
}

/// 0-1: the share of usable windows, weighted by how far their median SNR clears the gate.
fn confidence(window_count: usize, usable: &[&WindowDetail], opts: &AnalysisOptions) -> f64 {
    let frac = usable.len() as f64 / window_count.max(1) as f64;
    let snr = median(
        usable
            .iter()
            .filter_map(|w| w.peak.map(|p| p.snr_db))
            .collect(),
    )
    .unwrap_or(opts.min_snr_db);
    let snr_term = ((snr - opts.min_snr_db) / 10.0).clamp(0.0, 1.0);
    round_to(frac * (0.5 + 0.5 * snr_term), 0.01)
}

fn window_results(windows: &[WindowDetail], model: &Spo2Model) -> Vec<WindowResult> {
    let raw: Vec<RawSpo2> = windows.iter().map(|w| w.spo2).collect();
    let answers = spo2::apply_range(model, &raw);
    windows
        .iter()
        .zip(answers)
        .map(|(w, a)| {
            let usable = w.usable();
            let mut reasons = w.gates.clone();
            match a.status {
                Spo2Status::OutOfDomain => reasons.push(Gate::Spo2OutOfDomain),
                Spo2Status::BelowRange => reasons.push(Gate::Spo2BelowRange),
                _ => {}
            }
            WindowResult {
                start_s: round_to(w.start_s, 0.001),
                end_s: round_to(w.end_s, 0.001),
                heart_rate_bpm: w
                    .heart_rate_bpm()
                    .filter(|_| usable)
                    .map(|v| round_to(v, 0.1)),
                spo2_percent: a.percent.map(|v| round_to(v, 0.1)),
                spo2_interval_percent: rounded_interval(&a),
                spo2_status: a.status,
                hypoxaemia: a.hypoxaemia,
                usable,
                reasons,
                snr_db: w.peak.map(|p| round_to(p.snr_db, 0.01)),
                channel: w.channel,
                perfusion_index: w.perfusion_index().map(|v| round_to(v, 0.001)),
                beat_coverage: w.channel.map(|_| round_to(w.beat_coverage, 0.001)),
                motion_share: w.channel.map(|_| round_to(w.motion_share, 0.001)),
            }
        })
        .collect()
}
