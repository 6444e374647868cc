//! oxicam-signal: pure signal processing and models, from a per-frame colour trace to a heart
//! rate, an SpO2 estimate and a quality verdict. No I/O, no async, no FFmpeg: callers read
//! files and hand over traces, model JSON and CSV text.
//!
//! # Layout
//!
//! The estimator, in the order data flows through it:
//! - [`trace`]: the input, one [`FrameSample`] per video frame with its real timestamp, and the
//!   colour [`Channel`]s.
//! - [`dsp`]: resampling onto a uniform grid, detrending, zero-phase Butterworth filters.
//! - [`spectrum`]: power spectra, the pulse peak and its SNR.
//! - [`features`]: per-window [`Feature`]s (perfusion, ratios of ratios for calibration).
//! - [`quality`]: the [`Gate`]s, each a stable code and a sentence.
//! - [`spo2`]: SpO2 from the windows: gain-invariant features with temporal context, the
//!   versioned [`Spo2Model`] (fitted with [`ridge`]), its domain check, split-conformal
//!   intervals and the range rule; `spo2::training` chooses and fits it.
//! - [`heart_rate`]: the rate across the recording (Viterbi track over spectra), beats with
//!   per-beat quality, motion segments cut out, per-window rates from accepted beats.
//!   [`heart_rate::hrv`]: heart-rate variability (RMSSD, SDNN, pNN50) from the accepted beats.
//! - [`analysis`]: trace -> [`Report`], in steps: prepare the channels once, assess each window
//!   (heart rate, features, gates), estimate SpO2, summarise.
//! - [`report`]: the versioned JSON [`Report`] every caller (CLI, HTTP API) answers with.
//!
//! Offline, on labelled recordings:
//! - [`dataset`]: parsers for trace CSVs (`R,G,B` at a fixed rate, or with a time column),
//!   the UW reference oximeter CSVs and RR-interval files.
//! - [`heart_rate::evaluation`]: heart rate against an ECG beat reference (Welltory).
//! - [`heart_rate::hrv_evaluation`]: heart-rate variability against the same ECG, the RR series
//!   aligned by cross-correlation.
//! - [`evaluation`]: windows paired with labels, leave-one-subject-out folds, scores next to
//!   the constant baseline (`oxicam eval`).
//! - [`provenance`]: the procedure of `oxicam train` and the provenance it records.
//!
//! [`stats`] holds the small summary statistics (mean, RMS, median) the others share.

pub mod analysis;
pub mod dataset;
pub mod dsp;
pub mod evaluation;
pub mod features;
pub mod heart_rate;
pub mod provenance;
pub mod quality;
pub mod report;
pub mod ridge;
pub mod spectrum;
pub mod spo2;
pub mod stats;
pub mod trace;

pub use analysis::{
    analyze, analyze_detailed, assess_windows, heart_rate_variability, Analysis, AnalysisOptions,
    WindowDetail,
};
pub use features::{Feature, WindowFeatures};
pub use quality::Gate;
pub use report::{
    Beats, ChannelInfo, ModelInfo, Quality, QualityReason, Report, VideoMeta, Waveform,
    WindowResult, REPORT_SCHEMA_VERSION,
};
pub use spo2::model::{ModelError, Spo2Model};
pub use spo2::screen::Hypoxaemia;
pub use spo2::Spo2Status;
pub use trace::{Channel, FrameSample, Trace};
