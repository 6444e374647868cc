//! Bad input never panics: each broken, foreign or hostile file gets a typed error naming the
//! problem; a file cut after its index keeps the frames decoded so far.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use oxicam_testkit::fixtures::run_ffmpeg as ffmpeg;
use oxicam_video::synth::Codec;
use oxicam_video::{extract_trace, DecodeOptions, VideoError};

fn decode_err(path: &Path) -> VideoError {
    match extract_trace(path, &DecodeOptions::default()) {
        Ok(d) => panic!("{} decoded to {} frames", path.display(), d.trace.len()),
        Err(e) => e,
    }
}

fn assert_code(path: &Path, code: &str) -> VideoError {
    let err = decode_err(path);
    assert_eq!(err.code(), code, "{}: {err}", path.display());
    assert!(err.is_client_error(), "{code} is the input's fault");
    assert!(!err.to_string().is_empty());
    err
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn empty_text_and_random_bytes_are_refused() {
    let dir = temp_dir();
    assert_code(&write(dir.path(), "empty.mp4", b""), "empty_file");
    assert_code(
        &write(
            dir.path(),
            "notes.mp4",
            b"this is not a video, just some text\n",
        ),
        "not_a_video",
    );
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_code(&write(dir.path(), "noise.bin", &noise), "not_a_video");
}

#[test]
fn missing_file_is_an_io_error_not_the_clients_fault() {
    let err = decode_err(Path::new("/nonexistent/oxicam/video.mp4"));
    assert_eq!(err.code(), "io");
    assert!(!err.is_client_error());
}

#[test]
fn still_image_audio_only_and_foreign_codecs_are_named() {
    let dir = temp_dir();
    let d = dir.path();
    let png = ffmpeg(
        &["-f", "lavfi", "-i", "color=c=red:s=64x48", "-frames:v", "1"],
        &d.join("finger.png"),
    );
    assert_code(&png, "still_image");
    let jpg = ffmpeg(
        &["-f", "lavfi", "-i", "color=c=red:s=64x48", "-frames:v", "1"],
        &d.join("finger.jpg"),
    );
    assert_code(&jpg, "still_image");
    let audio = ffmpeg(
        &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"],
        &d.join("voice.m4a"),
    );
    let err = assert_code(&audio, "no_video_stream");
    assert!(err.to_string().contains("audio"), "{err}");
    let mpeg4 = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1:size=64x48:rate=10",
            "-c:v",
            "mpeg4",
        ],
        &d.join("part2.mp4"),
    );
    let err = assert_code(&mpeg4, "unsupported_codec");
    assert!(err.to_string().contains("mpeg4"), "{err}");
    let mjpeg = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1:size=64x48:rate=10",
            "-c:v",
            "mjpeg",
        ],
        &d.join("motion.mov"),
    );
    assert_code(&mjpeg, "unsupported_codec");
    let avi = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1:size=64x48:rate=10",
            "-c:v",
            "libx264",
        ],
        &d.join("old.avi"),
    );
    assert_code(&avi, "unsupported_container");
}

fn truncate_copy(src: &Path, dst: &Path, fraction: f64) -> PathBuf {
    let bytes = std::fs::read(src).unwrap();
    let keep = (bytes.len() as f64 * fraction) as usize;
    std::fs::write(dst, &bytes[..keep]).unwrap();
    dst.to_path_buf()
}

#[test]
fn mp4_cut_before_its_index_is_truncated_and_after_it_keeps_frames() {
    let dir = temp_dir();
    // Index (moov) at the end, as phones write it: cutting loses the index.
    let tail_index = render(dir.path(), "tail.mp4", Codec::H264, (160, 120), 3.0, |_| {});
    let cut = truncate_copy(&tail_index.path, &dir.path().join("tail-cut.mp4"), 0.6);
    let err = assert_code(&cut, "truncated");
    assert!(err.to_string().contains("MP4"), "{err}");

    // Index first (faststart): the frames before the cut decode, the trace is flagged.
    let front_index = render(dir.path(), "front.mp4", Codec::H264, (160, 120), 3.0, |o| {
        o.faststart = true
    });
    let cut = truncate_copy(&front_index.path, &dir.path().join("front-cut.mp4"), 0.5);
    let decoded = extract_trace(&cut, &DecodeOptions::default()).expect("partial decode");
    assert!(decoded.trace.truncated && decoded.meta.truncated);
    let n = decoded.trace.len();
    assert!(
        n > 10 && n < front_index.frame_count(),
        "{n} of {} frames",
        front_index.frame_count()
    );
    // The frames kept are the right ones.
    let roi: Vec<[f64; 3]> = decoded.trace.samples.iter().map(|s| s.roi_rgb).collect();
    let r = pearson(&channel(&roi, 1), &channel(&front_index.roi_rgb[..n], 1));
    assert!(r > 0.99, "green correlation {r}");
}

#[test]
fn matroska_cut_short_keeps_the_frames_before_the_cut() {
    let dir = temp_dir();
    let full = render(dir.path(), "full.mkv", Codec::H264, (160, 120), 3.0, |_| {});
    let cut = truncate_copy(&full.path, &dir.path().join("cut.mkv"), 0.5);
    let decoded = extract_trace(&cut, &DecodeOptions::default()).expect("partial decode");
    assert!(decoded.trace.truncated, "cut MKV flagged truncated");
    assert!(decoded.trace.len() > 10 && decoded.trace.len() < full.frame_count());
}

#[test]
fn stream_whose_packets_are_garbage_has_no_decodable_frames() {
    let dir = temp_dir();
    let clip = render(dir.path(), "ok.mp4", Codec::H264, (160, 120), 1.0, |o| {
        o.faststart = true
    });
    let mut bytes = std::fs::read(&clip.path).unwrap();
    let mdat = bytes
        .windows(4)
        .position(|w| w == b"mdat")
        .expect("mdat box");
    // Keep the container intact, replace every coded byte with garbage.
    for (i, b) in bytes[mdat + 4..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] | 0x80;
    }
    let broken = write(dir.path(), "garbage.mp4", &bytes);
    assert_code(&broken, "no_decodable_frames");
}

#[test]
fn too_long_is_refused_from_the_header_and_cancel_stops_decoding() {
    let dir = temp_dir();
    let clip = render(dir.path(), "clip.mkv", Codec::H264, (160, 120), 3.0, |_| {});
    let calls = Arc::new(AtomicUsize::new(0));
    let limited = DecodeOptions {
        max_duration_s: Some(1.0),
        progress: Some({
            let calls = calls.clone();
            Arc::new(move |_, _| {
                calls.fetch_add(1, Ordering::Relaxed);
            })
        }),
        ..DecodeOptions::default()
    };
    let err = extract_trace(&clip.path, &limited).unwrap_err();
    assert_eq!(err.code(), "too_long", "{err}");
    assert_eq!(calls.load(Ordering::Relaxed), 0, "refused before decoding");

    let cancelled = DecodeOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..DecodeOptions::default()
    };
    let err = extract_trace(&clip.path, &cancelled).unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert!(!err.is_client_error());

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let with_progress = DecodeOptions {
        progress: Some({
            let seen = seen.clone();
            Arc::new(move |done, total| seen.lock().unwrap().push((done, total)))
        }),
        ..DecodeOptions::default()
    };
    extract_trace(&clip.path, &with_progress).unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 3);
    assert!(seen.windows(2).all(|w| w[1].0 >= w[0].0));
    let (done, total) = *seen.last().unwrap();
    assert!(
        (done - 3.0).abs() < 0.1 && (total.unwrap() - 3.0).abs() < 0.2,
        "{done} {total:?}"
    );
}

#[test]
fn a_header_that_understates_the_duration_is_caught_while_decoding() {
    let dir = temp_dir();
    let clip = render(dir.path(), "clip.mkv", Codec::H264, (160, 120), 3.0, |_| {});
    let mut bytes = std::fs::read(&clip.path).unwrap();
    // Matroska Duration element (ID 0x4489, 8-byte float, milliseconds): claim 0.5 s.
    let at = bytes
        .windows(3)
        .position(|w| w == [0x44, 0x89, 0x88])
        .expect("Duration element");
    bytes[at + 3..at + 11].copy_from_slice(&500.0f64.to_be_bytes());
    let liar = write(dir.path(), "liar.mkv", &bytes);
    let frames_seen = Arc::new(AtomicUsize::new(0));
    let opts = DecodeOptions {
        max_duration_s: Some(1.0),
        progress: Some({
            let frames_seen = frames_seen.clone();
            Arc::new(move |_, total| {
                assert_eq!(total, Some(0.5), "the header's claim");
                frames_seen.fetch_add(1, Ordering::Relaxed);
            })
        }),
        ..DecodeOptions::default()
    };
    let err = extract_trace(&liar, &opts).unwrap_err();
    assert_eq!(err.code(), "too_long", "{err}");
    assert!(
        frames_seen.load(Ordering::Relaxed) > 0,
        "refused during decoding"
    );
    // Without a limit the whole file decodes.
    assert_eq!(decode(&liar).trace.len(), clip.frame_count());
}

#[test]
fn a_complete_matroska_file_with_longer_audio_is_not_flagged_truncated() {
    let dir = temp_dir();
    let video = render(dir.path(), "v.mkv", Codec::H264, (160, 120), 2.0, |_| {});
    let muxed = ffmpeg(
        &[
            "-i",
            video.path.to_str().unwrap(),
            "-f",
            "lavfi",
            "-i",
            "sine=duration=3.5",
            "-c:v",
            "copy",
            "-c:a",
            "flac",
        ],
        &dir.path().join("av.mkv"),
    );
    let decoded = decode(&muxed);
    assert_eq!(decoded.trace.len(), video.frame_count());
    assert!(
        !decoded.trace.truncated,
        "audio outlasting video is not damage"
    );
}

/// Found by fuzzing (fuzz/fuzz_targets/decode_clip.rs): a Matroska track whose `DURATION` tag
/// is not UTF-8. FFmpeg hands tag values over as raw bytes; read as text unchecked they were
/// undefined behaviour (debug builds stopped on an invalid `char`). The tag is now ignored and
/// the file decodes like any other whose duration the header does not give.
#[test]
fn a_matroska_duration_tag_that_is_not_utf8_is_ignored() {
    let dir = temp_dir();
    let clip = render(dir.path(), "ok.webm", Codec::Vp9, (64, 48), 1.0, |_| {});
    let mut bytes = std::fs::read(&clip.path).unwrap();
    let tag = bytes
        .windows(8)
        .position(|w| w == b"DURATION")
        .expect("a DURATION tag");
    let value = tag
        + bytes[tag..]
            .windows(3)
            .position(|w| w == b"00:")
            .expect("its value");
    // As the fuzzer found it: a digit, then continuation bytes with no lead byte.
    let garbage: Vec<u8> = std::iter::once(b'0').chain([0x87; 17]).collect();
    bytes[value..value + garbage.len()].copy_from_slice(&garbage);
    let patched = write(dir.path(), "duration-not-utf8.webm", &bytes);
    let decoded = extract_trace(&patched, &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", e.code()));
    assert_eq!(decoded.trace.len(), clip.frame_count());
    assert!(!decoded.trace.truncated);
}
