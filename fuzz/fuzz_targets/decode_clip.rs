//! Fuzzes the decoder and the pipeline behind it on mutated real-like clips (H.264 MP4, HEVC
//! MKV, VP9 WebM rendered by `oxicam synth`): container and bitstream bytes. The file goes
//! through `analyze_video` exactly as an upload does (duration limit, one thread here), so a
//! malformed file must give a typed `VideoError` or a report, never a panic or a hang.
//!
//! Coverage: libFuzzer's feedback comes from the instrumented Rust code (our decode loop, the
//! frame statistics, ffmpeg-next's wrappers, the analysis); FFmpeg's C libraries are Debian's,
//! not instrumented, so inside libavformat/libavcodec this is mutation without feedback.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxicam_signal::Spo2Model;
use oxicam_video::pipeline::{analyze_video, default_model, PipelineOptions};
use oxicam_video::DecodeOptions;
use std::path::PathBuf;
use std::sync::OnceLock;

fn fixture() -> &'static (Spo2Model, PathBuf) {
    static FIXTURE: OnceLock<(Spo2Model, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("oxicam-fuzz-clip-{}", std::process::id()));
        (default_model(), path)
    })
}

fuzz_target!(|data: &[u8]| {
    let (model, path) = fixture();
    std::fs::write(path, data).expect("write the clip");
    let options = PipelineOptions {
        decode: DecodeOptions {
            threads: 1,
            max_duration_s: Some(120.0),
            ..DecodeOptions::default()
        },
        ..PipelineOptions::default()
    };
    match analyze_video(path, model, &options) {
        Ok(report) => {
            serde_json::to_string(&report).expect("the report serialises");
        }
        Err(err) => {
            assert!(
                err.is_client_error(),
                "a bad file must be the client's error, got {} ({err})",
                err.code()
            );
        }
    }
});
