//! Typed decoding errors: one variant per way a file can be unusable, each with a stable
//! snake_case code for the HTTP API and a sentence that names the problem.

use std::path::PathBuf;

/// Why a file could not be turned into a colour trace.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("the file is empty (0 bytes)")]
    EmptyFile,
    #[error("the file is not a video FFmpeg can read ({detail})")]
    NotAVideo { detail: String },
    #[error("the file looks like a {container} video but is cut short or damaged: {detail}")]
    Truncated { container: String, detail: String },
    #[error("unsupported container `{format}`: send an MP4, MOV, MKV or WebM video")]
    UnsupportedContainer { format: String },
    #[error("the file is a still image ({codec}), not a video")]
    StillImage { codec: String },
    #[error("the file has no video stream (streams found: {found})")]
    NoVideoStream { found: String },
    #[error("unsupported video codec `{codec}`: send H.264, HEVC, VP8 or VP9")]
    UnsupportedCodec { codec: String },
    #[error("the video stream has no decodable frames ({detail})")]
    NoDecodableFrames { detail: String },
    #[error("the video is {duration_s:.1} s long; the limit is {max_s:.1} s")]
    TooLong { duration_s: f64, max_s: f64 },
    /// Refused from the size the file declares (container header or bitstream), before any
    /// picture of that size is allocated.
    #[error(
        "the video's pictures are {width}x{height}; the limit is {max_pixels} pixels and 8192 \
         on a side: send a recording of 4K or less"
    )]
    PictureTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("the video has more than {max_frames} frames, the most one recording may hold")]
    TooManyFrames { max_frames: usize },
    #[error("the video's timestamps are invalid: {detail}")]
    InvalidTimestamps { detail: String },
    #[error("decoding was cancelled")]
    Cancelled,
    #[error("decoding did not finish before its deadline")]
    TimedOut,
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("FFmpeg failed unexpectedly: {0}")]
    Internal(String),
}

impl VideoError {
    /// Stable machine-readable code (snake_case), used as `error.code` in the HTTP API.
    pub fn code(&self) -> &'static str {
        match self {
            VideoError::EmptyFile => "empty_file",
            VideoError::NotAVideo { .. } => "not_a_video",
            VideoError::Truncated { .. } => "truncated",
            VideoError::UnsupportedContainer { .. } => "unsupported_container",
            VideoError::StillImage { .. } => "still_image",
            VideoError::NoVideoStream { .. } => "no_video_stream",
            VideoError::UnsupportedCodec { .. } => "unsupported_codec",
            VideoError::NoDecodableFrames { .. } => "no_decodable_frames",
            VideoError::TooLong { .. } => "too_long",
            VideoError::PictureTooLarge { .. } => "picture_too_large",
            VideoError::TooManyFrames { .. } => "too_many_frames",
            VideoError::InvalidTimestamps { .. } => "invalid_timestamps",
            VideoError::Cancelled => "cancelled",
            VideoError::TimedOut => "timed_out",
            VideoError::Io { .. } => "io",
            VideoError::Internal(_) => "internal",
        }
    }

    /// True when the input itself is at fault (answer 4xx); false for server-side failures
    /// (I/O on our temp file, FFmpeg misbehaving) and for cancellation or the caller's deadline,
    /// which the caller set.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            VideoError::Cancelled
                | VideoError::TimedOut
                | VideoError::Io { .. }
                | VideoError::Internal(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_client_errors_are_the_inputs_fault() {
        let bad_input = VideoError::UnsupportedCodec {
            codec: "mpeg4".into(),
        };
        assert_eq!(bad_input.code(), "unsupported_codec");
        assert!(bad_input.is_client_error());
        assert!(bad_input.to_string().contains("mpeg4"));
        assert!(!VideoError::Cancelled.is_client_error());
        let io = VideoError::Io {
            path: "/x".into(),
            source: std::io::Error::other("disk"),
        };
        assert_eq!(io.code(), "io");
        assert!(!io.is_client_error());
    }
}
