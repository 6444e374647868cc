//! Opens an untrusted file with FFmpeg under limits: only our demuxers, decoders and the `file`
//! protocol, a bounded probe, a cap on the picture size, and an interrupt tied to cancel/deadline.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ff::format::context::Input;
use ff::media::Type as MediaType;
use ffmpeg_next as ff;

use crate::{DecodeOptions, VideoError};

/// Demuxers we accept (FFmpeg names): ISO BMFF (MP4, MOV) and Matroska (MKV, WebM).
pub(crate) const ACCEPTED_CONTAINERS: [&str; 2] = ["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"];
/// Codecs phones and browsers record. FFmpeg's own whitelists would let MPEG-4 Part 2 through.
pub(crate) const ACCEPTED_CODECS: [ff::codec::Id; 4] = [
    ff::codec::Id::H264,
    ff::codec::Id::HEVC,
    ff::codec::Id::VP8,
    ff::codec::Id::VP9,
];
/// The decoders (FFmpeg names) of `ACCEPTED_CODECS`: nothing else may see the bytes.
const DECODER_WHITELIST: &str = "h264,hevc,vp8,vp9";
/// Longest side of a picture we decode, whatever its area.
pub(crate) const MAX_PICTURE_SIDE: u32 = 8192;
/// Bytes FFmpeg may read to recognise the container and find the stream parameters. The
/// index (`moov`) is read whole regardless; this bounds the packets read ahead to probe them.
const PROBE_BYTES: u32 = 2 << 20;
/// Microseconds of packets read ahead to find the stream parameters.
const ANALYZE_DURATION_US: u32 = 2_000_000;
/// Streams a file may hold: phones write video, audio and a few metadata tracks.
const MAX_STREAMS: u32 = 16;
/// Confidence (FFmpeg probe score, 0-100) above which a refused file's container is named.
const NAMING_SCORE: i32 = 25;

/// When to give up: the caller's cancel flag or the deadline, whichever comes first. Checked by
/// the decode loop and, through FFmpeg's interrupt callback, inside every read FFmpeg makes.
#[derive(Clone)]
pub(crate) struct Stop {
    cancel: Option<Arc<AtomicBool>>,
    deadline: Option<Instant>,
}

impl Stop {
    pub(crate) fn new(opts: &DecodeOptions) -> Stop {
        Stop {
            cancel: opts.cancel.clone(),
            deadline: opts.deadline,
        }
    }

    fn reason(&self) -> Option<VideoError> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Some(VideoError::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(VideoError::TimedOut);
        }
        None
    }

    pub(crate) fn check(&self) -> Result<(), VideoError> {
        self.reason().map_or(Ok(()), Err)
    }
}

/// Opens `path` and reads its stream parameters, under the limits above and `opts.max_pixels`.
/// Every failure is a typed error: a refused container is named, a picture too large is refused
/// from its declared size before any frame is decoded.
pub(crate) fn open(path: &Path, opts: &DecodeOptions) -> Result<Input, VideoError> {
    let stop = Stop::new(opts);
    let url = {
        // `file:` keeps a path with a colon from being read as another protocol's URL.
        let mut url = b"file:".to_vec();
        url.extend_from_slice(path.as_os_str().as_bytes());
        CString::new(url).map_err(|_| VideoError::NotAVideo {
            detail: "the path contains a NUL byte".into(),
        })?
    };
    let mut format_options = ff::Dictionary::new();
    format_options.set("format_whitelist", &ACCEPTED_CONTAINERS.join(","));
    format_options.set("codec_whitelist", DECODER_WHITELIST);
    format_options.set("protocol_whitelist", "file");
    format_options.set("probesize", &PROBE_BYTES.to_string());
    format_options.set("analyzeduration", &ANALYZE_DURATION_US.to_string());
    format_options.set("max_streams", &MAX_STREAMS.to_string());
    // The MOV demuxer can follow references to other files (`dref`); never.
    format_options.set("enable_drefs", "0");

    let max_pixels = pixel_limit(opts);
    let mut input = {
        let interrupt_stop = stop.clone();
        let interrupt =
            ff::util::interrupt::new(Box::new(move || interrupt_stop.reason().is_some()));
        // SAFETY: the context is allocated here and handed to avformat_open_input, which frees
        // it on failure; on success it is owned by `Input` (closed on drop) together with the
        // interrupt's closure, which FFmpeg calls until the context is closed.
        unsafe {
            let mut ctx = ff::ffi::avformat_alloc_context();
            if ctx.is_null() {
                return Err(VideoError::Internal("out of memory".into()));
            }
            (*ctx).interrupt_callback = interrupt.interrupt;
            let mut raw_options = format_options.disown();
            let opened = ff::ffi::avformat_open_input(
                &mut ctx,
                url.as_ptr(),
                std::ptr::null(),
                &mut raw_options,
            );
            drop(ff::Dictionary::own(raw_options));
            if opened < 0 {
                return Err(open_failure(path, ff::Error::from(opened), &stop));
            }
            Input::wrap_with_interrupt(ctx, interrupt.guard)
        }
    };
    // Container headers declare the picture size: refuse a huge one before any decoder runs,
    // then again once the probe's parsers have read the size the bitstream declares.
    check_declared_sizes(&input, max_pixels)?;
    find_stream_info(&mut input, max_pixels).map_err(|err| open_failure(path, err, &stop))?;
    check_declared_sizes(&input, max_pixels)?;
    Ok(input)
}

fn check_declared_sizes(input: &Input, max_pixels: u64) -> Result<(), VideoError> {
    for stream in input.streams() {
        let params = stream.parameters();
        if params.medium() == MediaType::Video {
            // SAFETY: `params` points at the stream's live codec parameters.
            let (width, height) = unsafe {
                let p = params.as_ptr();
                ((*p).width, (*p).height)
            };
            check_picture_size(width.max(0) as u32, height.max(0) as u32, max_pixels)?;
        }
    }
    Ok(())
}

/// Options of every decoder we open: our codecs only, and no picture over the limit (FFmpeg
/// refuses to allocate a larger frame, whatever the bitstream claims).
pub(crate) fn decoder_options(max_pixels: u64) -> ff::Dictionary<'static> {
    let mut options = ff::Dictionary::new();
    options.set("codec_whitelist", DECODER_WHITELIST);
    options.set("max_pixels", &max_pixels.to_string());
    options
}

pub(crate) fn pixel_limit(opts: &DecodeOptions) -> u64 {
    opts.max_pixels.clamp(1, i32::MAX as u64)
}

pub(crate) fn check_picture_size(
    width: u32,
    height: u32,
    max_pixels: u64,
) -> Result<(), VideoError> {
    if u64::from(width) * u64::from(height) > max_pixels
        || width > MAX_PICTURE_SIDE
        || height > MAX_PICTURE_SIDE
    {
        return Err(VideoError::PictureTooLarge {
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

/// `avformat_find_stream_info` with the decoder limits on every decoder it opens to probe.
fn find_stream_info(input: &mut Input, max_pixels: u64) -> Result<(), ff::Error> {
    // SAFETY: one dictionary per stream present now, as FFmpeg requires; each is freed after.
    unsafe {
        let ctx = input.as_mut_ptr();
        let mut per_stream: Vec<*mut ff::ffi::AVDictionary> = (0..(*ctx).nb_streams)
            .map(|_| decoder_options(max_pixels).disown())
            .collect();
        let found = ff::ffi::avformat_find_stream_info(ctx, per_stream.as_mut_ptr());
        for options in per_stream {
            drop(ff::Dictionary::own(options));
        }
        if found < 0 {
            return Err(ff::Error::from(found));
        }
    }
    Ok(())
}

/// Turns a failed open into the most precise error: stopped on request, a container we do not
/// take (named), a still image, a recognisable but unreadable MP4 or Matroska file (truncated
/// or damaged), anything else is not a video.
fn open_failure(path: &Path, err: ff::Error, stop: &Stop) -> VideoError {
    if let Some(stopped) = stop.reason() {
        return stopped;
    }
    let mut head = vec![0u8; 64 * 1024];
    let n = std::fs::File::open(path)
        .and_then(|f| f.take(head.len() as u64).read(&mut head))
        .unwrap_or(0);
    head.truncate(n);
    if let Some(format) = probe_format_name(&head) {
        let accepted = ACCEPTED_CONTAINERS.contains(&format.as_str());
        if is_image_container(&format) {
            let codec = format.trim_end_matches("_pipe").to_string();
            return VideoError::StillImage { codec };
        }
        if !accepted {
            return VideoError::UnsupportedContainer { format };
        }
    } else if let Some(foreign) = sniff_foreign(&head) {
        // The container image's FFmpeg has only our two demuxers, so nothing else probes there.
        return foreign;
    }
    let container = if head.len() >= 8 && &head[4..8] == b"ftyp" {
        Some("MP4/MOV")
    } else if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("Matroska/WebM")
    } else {
        None
    };
    match container {
        Some(container) => VideoError::Truncated {
            container: container.into(),
            detail: err.to_string(),
        },
        None => VideoError::NotAVideo {
            detail: err.to_string(),
        },
    }
}

/// The demuxer FFmpeg would pick for these first bytes (content only, no file name), when it
/// is confident; only FFmpeg's probe functions see the bytes, no demuxer is opened.
fn probe_format_name(head: &[u8]) -> Option<String> {
    if head.is_empty() {
        return None;
    }
    // FFmpeg's probes read up to AVPROBE_PADDING_SIZE bytes past the end: zeros.
    let mut buf = head.to_vec();
    buf.resize(head.len() + ff::ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let probe = ff::ffi::AVProbeData {
        filename: c"".as_ptr(),
        buf: buf.as_mut_ptr(),
        buf_size: head.len() as i32,
        mime_type: std::ptr::null(),
    };
    let mut score = NAMING_SCORE;
    // SAFETY: `probe` points at `buf`, padded as required, for the duration of the call; the
    // returned format is a static FFmpeg table entry.
    unsafe {
        let format = ff::ffi::av_probe_input_format2(&probe, 1, &mut score);
        if format.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr((*format).name);
        Some(name.to_string_lossy().into_owned())
    }
}

/// Still images and other containers by their signatures, named as a full FFmpeg's probe names
/// them: the answer when the FFmpeg linked in has no demuxer to recognise them (the image's).
fn sniff_foreign(head: &[u8]) -> Option<VideoError> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let image = |codec: &str| {
        Some(VideoError::StillImage {
            codec: codec.into(),
        })
    };
    let container = |format: &str| {
        Some(VideoError::UnsupportedContainer {
            format: format.into(),
        })
    };
    if at(0, b"\x89PNG\r\n\x1a\n") {
        image("png")
    } else if at(0, &[0xff, 0xd8, 0xff]) {
        image("jpeg")
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        image("gif")
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        image("webp")
    } else if at(0, b"BM") && head.len() >= 26 && at(6, &[0, 0, 0, 0]) {
        image("bmp")
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        container("avi")
    } else if at(0, b"FLV\x01") {
        container("flv")
    } else if at(0, b"OggS") {
        container("ogg")
    } else if at(0, &[0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11]) {
        container("asf")
    } else if at(0, &[0x00, 0x00, 0x01, 0xba]) {
        container("mpeg")
    } else if head.len() > 376 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47 {
        container("mpegts")
    } else if at(0, b"#EXTM3U") {
        // A playlist: the demuxers that read one open the files it lists.
        container("hls")
    } else if at(0, b"ffconcat version ") {
        container("concat")
    } else {
        None
    }
}

pub(crate) fn is_image_container(name: &str) -> bool {
    name.starts_with("image2") || name.ends_with("_pipe") || name == "apng" || name == "gif"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The signatures name photos and foreign containers exactly as the full FFmpeg's probe
    /// does, so the container image (only our two demuxers) answers as the host does.
    #[test]
    fn sniffed_photos_and_containers_match_what_a_full_ffmpeg_reports() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[&str]); 9] = [
            ("x.png", &["-frames:v", "1"]),
            ("x.jpg", &["-frames:v", "1"]),
            ("x.gif", &["-frames:v", "1"]),
            ("x.bmp", &["-frames:v", "1"]),
            ("x.avi", &["-c:v", "mpeg4"]),
            ("x.flv", &["-c:v", "flv"]),
            ("x.asf", &["-c:v", "wmv2"]),
            ("x.mpg", &["-c:v", "mpeg1video"]),
            ("x.ts", &["-c:v", "mpeg2video"]),
        ];
        for (name, args) in cases {
            let path = dir.path().join(name);
            let status = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
                .args(["-i", "testsrc=size=64x48:rate=25:duration=1"])
                .args(args)
                .arg(&path)
                .status()
                .expect("the ffmpeg CLI is installed (scripts/test.sh installs it)");
            assert!(status.success(), "{name}");
            let full = crate::extract_trace(&path, &DecodeOptions::default()).unwrap_err();
            let head = std::fs::read(&path).unwrap();
            let sniffed = sniff_foreign(&head[..head.len().min(64 * 1024)])
                .unwrap_or_else(|| panic!("{name}: not recognised"));
            assert_eq!(sniffed.code(), full.code(), "{name}: {sniffed} / {full}");
            assert_eq!(
                sniffed.to_string(),
                full.to_string(),
                "{name}: {sniffed} / {full}"
            );
        }
        // Playlists, as the full FFmpeg's probe names them (hls_demuxer, concat_demuxer).
        for (text, format) in [
            (
                &b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:2.0,\nseg0.ts\n"[..],
                "hls",
            ),
            (&b"ffconcat version 1.0\nfile 'a.mp4'\n"[..], "concat"),
        ] {
            let path = dir.path().join(format!("{format}.mp4"));
            std::fs::write(&path, text).unwrap();
            let full = crate::extract_trace(&path, &DecodeOptions::default()).unwrap_err();
            let sniffed = sniff_foreign(text).expect(format);
            assert_eq!(sniffed.to_string(), full.to_string(), "{format}");
        }
        assert!(sniff_foreign(b"\x00\x00\x00\x18ftypmp42").is_none());
        assert!(sniff_foreign(&[0x1a, 0x45, 0xdf, 0xa3]).is_none());
    }
}
