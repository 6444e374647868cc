//! oxicam-video: the only crate that touches FFmpeg. Decodes a video file into a per-frame
//! colour trace (`oxicam_signal::Trace`) with real timestamps and the video's metadata.
