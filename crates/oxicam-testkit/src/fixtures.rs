//! Test videos: clips rendered from the embedded real trace (known heart rate) and odd files
//! made with the ffmpeg CLI, each made once per test binary in a shared temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use oxicam_video::synth;

/// Tests run in parallel threads: a fixture is made once, by one of them.
static FIXTURE_LOCK: Mutex<()> = Mutex::new(());

/// A directory of fixtures shared by the tests of one test binary (removed when it exits
/// normally).
pub fn fixture_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// `seconds` of the embedded real trace as a `width`x`height` H.264 MP4 named `name` in
/// [`fixture_dir`], rendered on first use.
pub fn synth_clip(name: &str, seconds: f64, width: u32, height: u32) -> PathBuf {
    let _one_at_a_time = FIXTURE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = fixture_dir().join(name);
    if path.exists() {
        return path;
    }
    let options = synth::SynthOptions {
        seconds: Some(seconds),
        width,
        height,
        ..synth::SynthOptions::new(synth::embedded_trace(), &path)
    };
    synth::render(&options).expect("synth renders a clip");
    path
}

/// The default test clip: 30 s of the embedded trace, 160x120 H.264.
pub fn good_clip() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| synth_clip("good.mp4", 30.0, 160, 120))
        .clone()
}

/// Writes the embedded real trace (known heart rate) as a trace CSV (`R,G,B` rows at 30 fps).
pub fn write_embedded_trace_csv(path: &Path) {
    let rows: String = synth::embedded_trace()
        .iter()
        .map(|[r, g, b]| format!("{r},{g},{b}\n"))
        .collect();
    std::fs::write(path, format!("R,G,B\n{rows}")).expect("writes the trace CSV");
}

/// Runs the ffmpeg CLI (installed by scripts/test.sh) with `args`, writing `out`.
pub fn run_ffmpeg(args: &[&str], out: &Path) -> PathBuf {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("the ffmpeg CLI is installed (scripts/test.sh installs it)");
    assert!(status.success(), "ffmpeg {args:?} -> {}", out.display());
    out.to_path_buf()
}

/// `seconds` of an FFmpeg lavfi `source` (e.g. `testsrc=s=160x120:r=30`) as H.264 in an MP4
/// named `name` in [`fixture_dir`], made on first use.
pub fn lavfi_h264(name: &str, source: &str, seconds: u32) -> PathBuf {
    let seconds = seconds.to_string();
    ffmpeg(
        name,
        &[
            "-f", "lavfi", "-i", source, "-t", &seconds, "-c:v", "libx264", "-pix_fmt", "yuv420p",
        ],
    )
}

/// A 25 s test pattern: a video that decodes, but not a fingertip (refused with reasons).
pub fn scene_clip() -> PathBuf {
    lavfi_h264("scene.mp4", "testsrc=s=160x120:r=30", 25)
}

/// A fixture named `name` in [`fixture_dir`], made by the ffmpeg CLI on first use.
pub fn ffmpeg(name: &str, args: &[&str]) -> PathBuf {
    let _one_at_a_time = FIXTURE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = fixture_dir().join(name);
    if path.exists() {
        return path;
    }
    run_ffmpeg(args, &path)
}
