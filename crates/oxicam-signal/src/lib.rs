//! oxicam-signal: pure signal processing and models, from a per-frame colour trace to a heart
//! rate, an SpO2 estimate and a quality verdict. No I/O, no async, no FFmpeg.

pub mod analysis;
pub mod dataset;
pub mod dsp;
pub mod evaluation;
pub mod features;
pub mod model;
pub mod quality;
pub mod report;
pub mod spectrum;
pub mod trace;
pub mod training;

pub use analysis::{analyze, analyze_detailed, Analysis, AnalysisOptions, WindowDetail};
pub use features::WindowFeatures;
pub use model::{LinearSubmodel, ModelError, Spo2Model};
pub use quality::Gate;
pub use report::{
    Calibration, ChannelInfo, ModelInfo, Quality, QualityReason, Report, VideoMeta, Waveform,
    WindowResult,
};
pub use trace::{FrameSample, Trace};
