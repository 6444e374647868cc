//! oxicam-signal: pure signal processing and models, from a per-frame colour trace to a heart
//! rate, an SpO2 estimate and a quality verdict. No I/O, no async, no FFmpeg.

pub mod report;
pub mod trace;

pub use report::{QualityReason, Report, VideoMeta, WindowResult};
pub use trace::{FrameSample, Trace};
