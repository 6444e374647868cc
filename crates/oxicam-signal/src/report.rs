//! The analysis result shared by `oxicam analyze --json` and the HTTP API: one schema, one
//! serializer. Fields marked optional are absent when the recording was refused.
//!
//! The schema is versioned by [`Report::schema_version`], serialised first:
//! - `"5"`: `beats` (times and per-beat quality of the heart-rate channel) for the recording;
//!   `beat_coverage` and `motion_share` for each window; a window's `heart_rate_bpm` comes
//!   from its accepted beats on a rate tracked across windows, motion and dropped frames are
//!   cut out of a window instead of refusing it, and an uncovered lens is refused with
//!   `lens_not_covered` alone (no `motion` or `low_snr` beside it); `hrv` (RMSSD, SDNN, pNN50,
//!   mean NN over >= 30 s of clean beat intervals) or `hrv_reason` when there is too little.
//! - `"4"`: `hypoxaemia` (`likely`, `unlikely`, `uncertain`) for the recording and each
//!   window; `calibration` and the upload field `reference_spo2` are gone (a reference
//!   reading made the estimates worse on held-out subjects, see models/README.md).
//! - `"3"`: `spo2_interval_percent` and `spo2_status` for the recording and each window;
//!   `spo2_percent` is no longer clamped to the model's range but absent when the estimate
//!   lies outside it or outside the model's domain; reason codes `spo2_out_of_domain`,
//!   `spo2_below_range` (also in a window's `reasons`, which a usable window may now carry).
//! - `"2"`: the version field itself; channels, reason codes and everything else as in 1.
//! - `"1"` (no field): the first published report.
//!
//! Adding an optional field keeps the version; renaming, removing or retyping a field, or
//! changing the meaning of a value, takes a new one.

use serde::{Deserialize, Serialize};

pub use crate::heart_rate::hrv::{Hrv, HrvReason, HrvReasonCode};
use crate::quality::Gate;
pub use crate::spo2::screen::Hypoxaemia;
pub use crate::spo2::Spo2Status;
use crate::trace::Channel;

/// The version written into every new [`Report`].
pub const REPORT_SCHEMA_VERSION: &str = "5";

/// Reports written before the schema was versioned carry no version field.
fn unversioned() -> String {
    "1".to_string()
}

/// The screening disclaimer shipped with every result.
pub const NOTICE: &str = "Screening estimate from a phone camera, not a medical device. \
Do not use it for diagnosis or treatment; see a clinician if you feel unwell.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QualityReason {
    /// Machine-readable reason, snake_case (e.g. `lens_not_covered`, `low_snr`).
    pub code: Gate,
    /// One human sentence.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quality {
    pub reasons: Vec<QualityReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WindowResult {
    pub start_s: f64,
    pub end_s: f64,
    pub heart_rate_bpm: Option<f64>,
    /// SpO2 estimate (%), only when `spo2_status` is `estimated`.
    pub spo2_percent: Option<f64>,
    /// 90 % nominal interval `[low, high]` (%) from split-conformal calibration on held-out
    /// subjects; given when `spo2_status` is `estimated` or `below_range`.
    #[serde(default)]
    pub spo2_interval_percent: Option<[f64; 2]>,
    /// What was given for SpO2: `estimated`, `below_range` (below the lowest saturation the
    /// model knows: no number, the interval's upper end says how high it may be),
    /// `out_of_domain` (withheld: outside what the model was trained on) or `unavailable`.
    #[serde(default)]
    pub spo2_status: Spo2Status,
    /// Hypoxaemia screen (SpO2 < 90 %) for this window, see [`Report::hypoxaemia`].
    #[serde(default)]
    pub hypoxaemia: Option<Hypoxaemia>,
    pub usable: bool,
    /// Reason codes that made this window unusable (empty when usable), then
    /// `spo2_out_of_domain` or `spo2_below_range` when SpO2 alone was withheld.
    #[serde(default)]
    pub reasons: Vec<Gate>,
    /// In-band SNR of the channel used for the heart rate, dB.
    #[serde(default)]
    pub snr_db: Option<f64>,
    /// Channel the heart rate came from (`red`, `green`, `blue`).
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Perfusion index (AC/DC of that channel, %).
    #[serde(default)]
    pub perfusion_index: Option<f64>,
    /// Share (0-1) of the window, less its cut-out part, spanned by consistent accepted beat
    /// intervals.
    #[serde(default)]
    pub beat_coverage: Option<f64>,
    /// Share (0-1) of the window cut out for motion or dropped frames.
    #[serde(default)]
    pub motion_share: Option<f64>,
}

/// Facts about the decoded video, filled by `oxicam-video`; absent for CSV traces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VideoMeta {
    /// FFmpeg codec name, e.g. `h264`, `hevc`, `vp8`, `vp9`.
    pub codec: String,
    /// FFmpeg demuxer name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`.
    pub container: String,
    pub width: u32,
    pub height: u32,
    /// Display rotation in degrees from the container's display matrix (0, 90, 180, 270).
    pub rotation_deg: i32,
    pub frame_count: u64,
    pub duration_s: f64,
    pub frame_interval_mean_s: f64,
    pub frame_interval_min_s: f64,
    pub frame_interval_max_s: f64,
    /// Colour matrix and range used for the YUV -> RGB conversion, e.g. `bt709`, `limited`.
    pub color_matrix: String,
    pub color_range: String,
    /// The file ended early; the trace holds the frames decoded before the damage.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelInfo {
    pub version: String,
}

/// The band-passed pulse of the heart-rate channel, decimated for plotting (web page).
/// Inverted so that a beat (more blood, less light) points up; unitless (AC/DC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Waveform {
    pub rate_hz: f64,
    /// Time of the first sample, seconds from the start of the trace.
    #[serde(default)]
    pub start_s: f64,
    pub samples: Vec<f64>,
}

/// The beats found in the heart-rate channel: times of the steepest systolic upstroke
/// (sub-frame, seconds from the start of the trace) and each beat's quality, 0 for a rejected
/// beat (misshapen, implausible interval, or inside a motion segment), else its correlation
/// with its neighbours' shape (0-1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Beats {
    pub channel: Option<Channel>,
    pub times_s: Vec<f64>,
    pub quality: Vec<f64>,
}

/// Which colour channels the estimate rests on, and why some were left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelInfo {
    /// Channel most windows took the heart rate from (`red`, `green`, `blue`).
    pub heart_rate: Option<Channel>,
    /// Channels in range (not clipped or floored) that fed the SpO2 features.
    pub in_range: Vec<Channel>,
    /// Channels left out because they were clipped (>= 250) or floored (<= 5).
    pub excluded: Vec<Channel>,
}

/// The answer for one recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// The schema this report follows ([`REPORT_SCHEMA_VERSION`] when written by this build).
    #[serde(default = "unversioned")]
    pub schema_version: String,
    pub heart_rate_bpm: Option<f64>,
    /// SpO2 estimate (%): the median of the windows' estimates, only when `spo2_status` is
    /// `estimated`; never a number at a clamp.
    pub spo2_percent: Option<f64>,
    /// 90 % nominal interval `[low, high]` (%) around the SpO2 estimate, from split-conformal
    /// calibration on held-out subjects; also given when `spo2_status` is `below_range`.
    #[serde(default)]
    pub spo2_interval_percent: Option<[f64; 2]>,
    /// `estimated`, `below_range`, `out_of_domain` (reason `spo2_out_of_domain` in `quality`
    /// says why in one sentence; the heart rate is still given) or `unavailable`.
    #[serde(default)]
    pub spo2_status: Spo2Status,
    /// Hypoxaemia screen (SpO2 < 90 %), given with `estimated` and `below_range`: `likely`
    /// when the model's screening interval around the estimate lies below 90 %, `unlikely`
    /// when it lies at or above 90 %, `uncertain` when it straddles 90 %. The screening
    /// interval's level is in the model file (`screen`), chosen so that at most 30 % of
    /// held-out training windows are left uncertain.
    #[serde(default)]
    pub hypoxaemia: Option<Hypoxaemia>,
    /// 0-1: signal quality, not accuracy: the share of windows that passed the quality gates,
    /// times 0.5-1 as the median pulse SNR rises from the gate (3 dB) to 10 dB above it.
    /// SpO2's uncertainty is its interval.
    pub confidence: f64,
    pub usable: bool,
    pub quality: Quality,
    pub windows: Vec<WindowResult>,
    pub model: ModelInfo,
    pub video: Option<VideoMeta>,
    pub notice: String,
    /// The pulse wave for display; absent when nothing could be filtered.
    #[serde(default)]
    pub waveform: Option<Waveform>,
    #[serde(default)]
    pub channels: ChannelInfo,
    /// Median perfusion index over usable windows (%).
    #[serde(default)]
    pub perfusion_index: Option<f64>,
    /// Seconds of trace analysed after the settling time was trimmed.
    #[serde(default)]
    pub analysed_s: f64,
    /// Beats of the heart-rate channel with their quality (absent when none were found).
    #[serde(default)]
    pub beats: Option<Beats>,
    /// Heart-rate variability from the accepted beats (at least 30 s of intervals between
    /// consecutive clean beats); `null` with `hrv_reason` otherwise.
    #[serde(default)]
    pub hrv: Option<Hrv>,
    #[serde(default)]
    pub hrv_reason: Option<HrvReason>,
}
