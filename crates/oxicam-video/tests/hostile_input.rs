//! Files crafted to hurt the service: foreign demuxers reaching for other files, floods of tiny
//! frames, decodes that outlive their deadline. Each is refused with a typed error, in bounds.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use oxicam_testkit::fixtures::run_ffmpeg as ffmpeg;
use oxicam_video::synth::Codec;
use oxicam_video::{extract_trace, DecodeOptions, VideoError};

fn decode_err(path: &Path, opts: &DecodeOptions) -> VideoError {
    match extract_trace(path, opts) {
        Ok(d) => panic!("{} decoded to {} frames", path.display(), d.trace.len()),
        Err(e) => e,
    }
}

/// An HLS playlist named `.mp4` makes FFmpeg's HLS demuxer open the files it lists. The listed
/// segment is a FIFO: whoever opens it for reading shows up as a reader a writer can meet.
#[test]
fn a_playlist_is_refused_without_opening_the_files_it_names() {
    let dir = temp_dir();
    let segment = dir.path().join("seg0.ts");
    let made = Command::new("mkfifo").arg(&segment).status().unwrap();
    assert!(made.success(), "mkfifo");
    let playlist = dir.path().join("playlist.mp4");
    std::fs::write(
        &playlist,
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{}\n#EXT-X-ENDLIST\n",
            segment.display()
        ),
    )
    .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, segment) = (done.clone(), segment.clone());
        std::thread::spawn(move || {
            use std::os::unix::fs::OpenOptionsExt;
            // Opening a FIFO for writing without blocking succeeds only while a reader has it
            // open (ENXIO otherwise). A reader blocks in open() until a writer comes, so a
            // demuxer reaching for the segment is always caught here, then sees end of file.
            while !done.load(Ordering::SeqCst) {
                if std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&segment)
                    .is_ok()
                {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            false
        })
    };
    let err = decode_err(&playlist, &DecodeOptions::default());
    done.store(true, Ordering::SeqCst);
    let segment_opened = watcher.join().unwrap();
    assert!(
        !segment_opened,
        "FFmpeg opened the segment the playlist names"
    );
    assert_eq!(err.code(), "unsupported_container", "{err}");
    assert!(err.to_string().contains("hls"), "{err}");
}

#[test]
fn foreign_containers_and_images_are_named_without_being_demuxed() {
    let dir = temp_dir();
    let d = dir.path();
    let ts = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1:size=64x48:rate=10",
            "-c:v",
            "libx264",
            "-f",
            "mpegts",
        ],
        &d.join("transport.mp4"),
    );
    let err = decode_err(&ts, &DecodeOptions::default());
    assert_eq!(err.code(), "unsupported_container", "{err}");
    assert!(err.to_string().contains("mpegts"), "{err}");
    // No file name to go by (as for an upload): recognised from the bytes alone.
    let png = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=64x48",
            "-frames:v",
            "1",
            "-f",
            "image2pipe",
            "-c:v",
            "png",
        ],
        &d.join("upload-without-extension"),
    );
    let err = decode_err(&png, &DecodeOptions::default());
    assert_eq!(err.code(), "still_image", "{err}");
    assert!(err.to_string().contains("png"), "{err}");
}

#[test]
fn more_frames_than_the_limit_are_refused() {
    let dir = temp_dir();
    // Tiny frames a microsecond apart: 2000 of them are 0.002 s of "video" in a few KB.
    let flood = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=16x16:r=1000000",
            "-frames:v",
            "2000",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-video_track_timescale",
            "1000000",
        ],
        &dir.path().join("flood.mp4"),
    );
    assert!(std::fs::metadata(&flood).unwrap().len() < 200_000);
    let all = extract_trace(&flood, &DecodeOptions::default()).expect("under the default cap");
    assert_eq!(all.trace.len(), 2000);
    let capped = DecodeOptions {
        max_frames: 1000,
        ..DecodeOptions::default()
    };
    let err = decode_err(&flood, &capped);
    assert_eq!(err.code(), "too_many_frames", "{err}");
    assert!(err.is_client_error());
    assert!(err.to_string().contains("1000"), "{err}");
}

#[test]
fn a_deadline_stops_decoding_and_is_not_the_clients_fault() {
    let dir = temp_dir();
    let clip = render(dir.path(), "clip.mkv", Codec::H264, (160, 120), 3.0, |_| {});

    // Already past: FFmpeg's interrupt callback stops the open itself.
    let expired = DecodeOptions {
        deadline: Some(Instant::now()),
        ..DecodeOptions::default()
    };
    let err = decode_err(&clip.path, &expired);
    assert_eq!(err.code(), "timed_out", "{err}");
    assert!(!err.is_client_error());

    // Passing mid-decode: the first progress call (after 15 frames) outlasts the deadline;
    // decoding stops at the next frame instead of running on to the 90th.
    let deadline = Instant::now() + Duration::from_secs(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let mid = DecodeOptions {
        deadline: Some(deadline),
        progress: Some({
            let calls = calls.clone();
            Arc::new(move |_, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            })
        }),
        ..DecodeOptions::default()
    };
    let err = decode_err(&clip.path, &mid);
    assert_eq!(err.code(), "timed_out", "{err}");
    let calls = calls.load(Ordering::SeqCst);
    assert!(calls <= 1, "{calls} progress calls after the deadline");

    // A cancel flag set before the open wins over any verdict on the file's content.
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, b"not a video at all").unwrap();
    let cancelled = DecodeOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..DecodeOptions::default()
    };
    assert_eq!(decode_err(&garbage, &cancelled).code(), "cancelled");
}
