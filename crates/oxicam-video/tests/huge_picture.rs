//! A file of a few hundred KB can declare 8192x8192 pictures: decoding them took 531 MB. It is
//! refused from the declared size, whether the container or only the bitstream declares it, and
//! memory stays bounded. Alone in its test binary: the peak RSS measured is this test's own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use oxicam_video::{extract_trace, DecodeOptions};

/// Peak resident memory of this process so far (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb / 1024.0
}

fn huge_clip(dir: &Path) -> PathBuf {
    let out = dir.join("huge.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .args(["-i", "color=c=red:s=8192x8192:r=10", "-frames:v", "3"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .expect("the ffmpeg CLI is installed (scripts/test.sh installs it)");
    assert!(status.success());
    out
}

/// The same file with the MP4 sample description claiming 64x64: only the H.264 sequence
/// header still says 8192x8192.
fn understate_mp4_size(src: &Path, dst: &Path) -> PathBuf {
    let mut bytes = std::fs::read(src).unwrap();
    // The sample entry, not the `avc1` brand in `ftyp`: its type is followed by 6 zero bytes.
    let avc1 = bytes
        .windows(10)
        .position(|w| w == b"avc1\0\0\0\0\0\0")
        .expect("avc1 sample entry");
    // After the type: 6 reserved, data reference index, 16 bytes predefined/reserved.
    let width_at = avc1 + 4 + 6 + 2 + 16;
    assert_eq!(
        &bytes[width_at..width_at + 4],
        &[0x20, 0, 0x20, 0],
        "8192x8192"
    );
    bytes[width_at..width_at + 4].copy_from_slice(&[0, 64, 0, 64]);
    std::fs::write(dst, bytes).unwrap();
    dst.to_path_buf()
}

#[test]
fn a_tiny_file_declaring_a_huge_picture_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let honest = huge_clip(dir.path());
    let size_kb = std::fs::metadata(&honest).unwrap().len() / 1024;
    assert!(size_kb < 400, "{size_kb} KB");
    let liar = understate_mp4_size(&honest, &dir.path().join("liar.mp4"));
    let before_mb = peak_rss_mb();

    for (what, path) in [("honest header", &honest), ("understated header", &liar)] {
        let frames = Arc::new(AtomicUsize::new(0));
        let opts = DecodeOptions {
            progress: Some({
                let frames = frames.clone();
                Arc::new(move |_, _| {
                    frames.fetch_add(1, Ordering::Relaxed);
                })
            }),
            ..DecodeOptions::default()
        };
        let err = match extract_trace(path, &opts) {
            Ok(d) => panic!("{what}: decoded {} frames", d.trace.len()),
            Err(e) => e,
        };
        assert_eq!(err.code(), "picture_too_large", "{what}: {err}");
        assert!(err.is_client_error());
        assert!(err.to_string().contains("8192x8192"), "{what}: {err}");
        assert_eq!(
            frames.load(Ordering::Relaxed),
            0,
            "{what}: no frame decoded"
        );
    }
    // One decoded 8192x8192 picture alone is 100 MB; decoding the file peaked at 531 MB.
    let peak_mb = peak_rss_mb();
    eprintln!("peak RSS {before_mb:.0} MB before, {peak_mb:.0} MB after both refusals");
    assert!(peak_mb < before_mb + 100.0, "peak RSS {peak_mb:.0} MB");
}
