//! Inputs fuzzing found, decoded through the real FFmpeg path: each once crashed or misbehaved,
//! and each must now decode or be refused with a typed error.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use oxicam_video::pipeline::{analyze_video, default_model, PipelineOptions};

/// The multipart upload (fuzz seed) holding a 32x32 VP9 WebM whose Matroska colour element
/// codes transfer characteristic 33, a value outside FFmpeg's enum. FFmpeg passes it through
/// to every frame; ffmpeg-next's `color_transfer_characteristic()` turned it into a Rust enum,
/// undefined behaviour that segfaulted the perf branch's frame loop.
const SEGFAULT_SEED: &str = "vp9-32x32-segfaulted-perf-branch";

fn seed(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds/multipart_upload")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The file part of a multipart seed: from the blank line after the part's headers to the
/// closing boundary.
fn file_part(body: &[u8]) -> &[u8] {
    let find = |needle: &[u8], from: usize| {
        body[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
            .expect("a multipart seed")
    };
    let start = find(b"Content-Type: video/webm\r\n\r\n", 0) + 28;
    let end = find(b"\r\n--oxfuzzB0und4ry--", start);
    &body[start..end]
}

/// Offset of the one-byte value of Matroska's TransferCharacteristics element (0x55BA).
fn transfer_offset(webm: &[u8]) -> usize {
    let at = webm
        .windows(3)
        .position(|w| w == [0x55, 0xba, 0x81])
        .expect("the colour element");
    at + 3
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_transfer_characteristic_outside_ffmpegs_enum_decodes_as_unspecified() {
    let dir = temp_dir();
    let webm = file_part(&seed(SEGFAULT_SEED)).to_vec();
    assert!(
        webm.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]),
        "a Matroska file"
    );
    let offset = transfer_offset(&webm);
    assert_eq!(webm[offset], 33, "the seed still codes transfer 33");

    let crashed = decode(&write(dir.path(), "trc33.webm", &webm));
    assert_eq!(crashed.trace.len(), 11, "every frame of the 1.1 s clip");
    assert_eq!((crashed.meta.width, crashed.meta.height), (32, 32));
    assert_eq!(crashed.meta.codec, "vp9");
    assert_eq!(crashed.meta.color_matrix, "bt709");
    assert_eq!(crashed.meta.color_range, "limited");

    // The same file tagged with a transfer FFmpeg knows: BT.709 (SDR) gives the same trace,
    // HLG one mapped to SDR light, so the tag is read, and 33 reads as unspecified (SDR).
    let mut tagged = webm.clone();
    tagged[offset] = 1;
    let sdr = decode(&write(dir.path(), "bt709.webm", &tagged));
    assert_eq!(crashed.trace.samples, sdr.trace.samples);
    tagged[offset] = 18;
    let hlg = decode(&write(dir.path(), "hlg.webm", &tagged));
    assert_eq!(hlg.trace.len(), 11);
    let (a, b) = (
        crashed.trace.samples[0].roi_rgb,
        hlg.trace.samples[0].roi_rgb,
    );
    assert!(
        a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1.0),
        "HLG mapping applied: {a:?} vs {b:?}"
    );

    // What main answers for this upload: a report refusing a 1 s recording as too short.
    let report = analyze_video(
        &dir.path().join("trc33.webm"),
        &default_model(),
        &PipelineOptions::default(),
    )
    .expect("a report");
    assert!(!report.usable);
    let codes: Vec<&str> = report
        .quality
        .reasons
        .iter()
        .map(|r| r.code.code())
        .collect();
    assert!(codes.contains(&"too_short"), "{codes:?}");
}

/// Every transfer value a byte can code goes through the frame path without crashing.
#[test]
fn every_coded_transfer_value_decodes() {
    let dir = temp_dir();
    let mut webm = file_part(&seed(SEGFAULT_SEED)).to_vec();
    let offset = transfer_offset(&webm);
    for value in (0..=255u8).step_by(7).chain([2, 3, 19, 33, 127, 128, 255]) {
        webm[offset] = value;
        let decoded = decode(&write(dir.path(), "trc.webm", &webm));
        assert_eq!(decoded.trace.len(), 11, "transfer {value}");
    }
}
