//! oxicam-video: the only crate that touches FFmpeg. Decodes a video file into a per-frame
//! colour trace (`oxicam_signal::Trace`) with real timestamps and the video's metadata, and
//! runs the pipeline from a file to a report.
//!
//! # Layout
//!
//! - [`extract_trace`] (here) with [`DecodeOptions`]: file -> [`DecodedVideo`] (trace + meta).
//!   - `decode`: demuxing and decoding with FFmpeg, streaming, with timestamps from the
//!     container (VFR-safe), duration limits, cancellation and truncation handling.
//!   - `frame`: a decoded frame's planes and colour tags, checked against its format and
//!     buffers before they are read.
//!   - [`stats`]: per-frame statistics from the Y/U/V planes (region means, clipped shares,
//!     luma grid), converted to RGB with the stream's matrix and range.
//!   - `open`: opening untrusted files under limits (demuxer, decoder and protocol whitelists,
//!     bounded probing, picture size, an interrupt on cancel and deadline).
//!   - `error`: [`VideoError`], one variant per way a file is unusable, with stable codes.
//! - [`pipeline`]: decode -> analyse (`oxicam_signal`) -> attach the video's facts, the one
//!   path the CLI and the HTTP service share; the built-in model and model loading.
//! - [`synth`]: renders a colour trace into an encoded video with known truth (tests, `oxicam
//!   synth`, benchmarks).

mod decode;
mod error;
mod frame;
mod open;
pub mod pipeline;
pub mod stats;
pub mod synth;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Once};
use std::time::Instant;

pub use error::VideoError;
pub use oxicam_signal::{Trace, VideoMeta};

/// Progress callback: seconds decoded so far, and the total when the container declares it.
pub type ProgressFn = dyn Fn(f64, Option<f64>) + Send + Sync;

/// Largest picture decoded by default (pixels): 4096x2304, so every phone's 4K (UHD and DCI)
/// but no more. A decoded 4K frame with its references costs tens of MB; an 8192x8192 one
/// (a 200 KB file can declare it) costs 100 MB per picture.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 2304;
/// Most frames decoded by default: one hour at 60 fps. Bounds the trace (about 100 bytes a
/// frame) against files of tiny frames with microsecond timestamps.
pub const DEFAULT_MAX_FRAMES: usize = 216_000;

/// How to decode. `Default` is 2 decoder threads, no duration limit, no deadline, and the
/// default picture and frame-count limits.
#[derive(Clone)]
pub struct DecodeOptions {
    /// Decoder threads (frame threading). 2 gives bit-identical traces and ~1.8x speed.
    pub threads: usize,
    /// Refuse files longer than this (from the container header before decoding, and from
    /// the frame timestamps while decoding in case the header lies).
    pub max_duration_s: Option<f64>,
    /// Refuse pictures larger than this many pixels (from the declared size, before decoding).
    pub max_pixels: u64,
    /// Refuse files with more frames than this (`VideoError::TooManyFrames`).
    pub max_frames: usize,
    /// Checked per packet and frame, and inside FFmpeg's reads: when set, decoding stops with
    /// `VideoError::Cancelled`.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Past this instant decoding stops with `VideoError::TimedOut` (checked like `cancel`).
    pub deadline: Option<Instant>,
    /// Called every few frames and at the end.
    pub progress: Option<Arc<ProgressFn>>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            threads: 2,
            max_duration_s: None,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_frames: DEFAULT_MAX_FRAMES,
            cancel: None,
            deadline: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for DecodeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeOptions")
            .field("threads", &self.threads)
            .field("max_duration_s", &self.max_duration_s)
            .field("max_pixels", &self.max_pixels)
            .field("max_frames", &self.max_frames)
            .field("cancel", &self.cancel.is_some())
            .field("deadline", &self.deadline)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// A decoded recording: the colour trace and facts about the file.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedVideo {
    pub trace: Trace,
    pub meta: VideoMeta,
}

/// Decodes `path` into a colour trace, streaming (memory stays flat with file length).
///
/// Never panics on bad input: every unusable file gives a typed [`VideoError`]. A file cut
/// short after its index gives the frames decoded so far with `trace.truncated` set.
pub fn extract_trace(path: &Path, opts: &DecodeOptions) -> Result<DecodedVideo, VideoError> {
    init_ffmpeg()?;
    // Belt and braces for a service: a bug of ours on some odd file must become an error
    // response, not a crashed worker. FFmpeg state is per call, so nothing is left poisoned.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode::extract(path, opts)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(VideoError::Internal(format!("decoder bug: {what}")))
        })
}

static INIT: Once = Once::new();

/// Initialises FFmpeg once per process and silences its logging below errors of our own:
/// bad uploads are expected and reported through `VideoError`, not on stderr.
pub(crate) fn init_ffmpeg() -> Result<(), VideoError> {
    INIT.call_once(|| {
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Quiet);
    });
    Ok(())
}
