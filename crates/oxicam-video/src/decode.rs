//! The demux/decode loop: opens and vets a file (container, codec, duration), then streams
//! its frames through the plane statistics into a trace with real timestamps and metadata.

use std::path::Path;

use std::ffi::c_int;

use ff::codec::packet::side_data::Type as SideDataType;
use ff::media::Type as MediaType;
use ffmpeg_next as ff;
use oxicam_signal::{FrameSample, Trace, VideoMeta};

use crate::frame::{ColourTags, LayoutKind, PixelFormat};
use crate::open::{
    check_picture_size, decoder_options, is_image_container, pixel_limit, Stop, ACCEPTED_CODECS,
    ACCEPTED_CONTAINERS,
};
use crate::stats::{frame_sample, ColorConversion, StatsScratch, Transfer};
use crate::{DecodeOptions, DecodedVideo, VideoError};

/// Report progress every this many frames.
const PROGRESS_EVERY: usize = 15;
/// Give up on a stream after this many consecutive unreadable packets.
const MAX_CONSECUTIVE_BAD_PACKETS: usize = 1000;

pub(crate) fn extract(path: &Path, opts: &DecodeOptions) -> Result<DecodedVideo, VideoError> {
    let io_err = |source| VideoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io_err)?.len();
    if size == 0 {
        return Err(VideoError::EmptyFile);
    }
    let stop = Stop::new(opts);
    let mut ictx = crate::open::open(path, opts)?;
    let vetted = vet(&ictx, opts)?;
    let stream_index = vetted.stream_index;

    let stream = ictx
        .stream(stream_index)
        .ok_or_else(|| VideoError::Internal("video stream vanished".into()))?;
    let time_base = f64::from(stream.time_base());
    if !(time_base.is_finite() && time_base > 0.0) {
        return Err(VideoError::InvalidTimestamps {
            detail: format!("time base {}", stream.time_base()),
        });
    }
    let start_pts = match stream.start_time() {
        ts if ts == ff::ffi::AV_NOPTS_VALUE => 0,
        ts => ts,
    };
    let nominal_interval = {
        let rate = f64::from(stream.avg_frame_rate());
        if rate.is_finite() && rate > 0.0 {
            1.0 / rate
        } else {
            1.0 / 30.0
        }
    };
    let indexed_packets = stream.frames().max(0) as u64;
    let mut context = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| VideoError::Internal(format!("decoder parameters: {e}")))?;
    context.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: opts.threads.max(1),
        ..Default::default()
    });
    let max_pixels = pixel_limit(opts);
    let decoder_refused = |e: ff::Error| VideoError::NoDecodableFrames {
        detail: format!("the {} decoder refused the stream: {e}", vetted.codec),
    };
    let codec = ff::decoder::find(context.id())
        .ok_or_else(|| decoder_refused(ff::Error::DecoderNotFound))?;
    let mut decoder = context
        .decoder()
        .open_as_with(codec, decoder_options(max_pixels))
        .and_then(|opened| opened.video())
        .map_err(decoder_refused)?;

    let mut state = FrameLoop {
        opts,
        stop: stop.clone(),
        max_pixels,
        frames_decoded: 0,
        time_base,
        start_pts,
        nominal_interval,
        total_s: vetted.declared_duration_s,
        samples: Vec::new(),
        scratch: StatsScratch::default(),
        conversion: None,
        frame: ff::frame::Video::empty(),
        format: None,
        size: None,
    };

    let mut truncated = false;
    let mut packets_read = 0u64;
    let mut decode_errors = 0usize;
    let mut consecutive_bad = 0usize;
    loop {
        // A fresh packet per read: av_read_frame() overwrites without unreferencing, so
        // reusing one would leak every packet's buffer (memory growing with file length).
        let mut packet = ff::Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => consecutive_bad = 0,
            Err(ff::Error::Eof) => break,
            Err(ff::Error::InvalidData) => {
                consecutive_bad += 1;
                if consecutive_bad > MAX_CONSECUTIVE_BAD_PACKETS {
                    truncated = true;
                    break;
                }
                continue;
            }
            Err(_) => {
                // Our interrupt (cancel, deadline) or a read error mid-file: the file is cut
                // short or damaged. Keep what we have.
                stop.check()?;
                truncated = true;
                break;
            }
        }
        if packet.stream() != stream_index {
            continue;
        }
        stop.check()?;
        packets_read += 1;
        if packet.is_corrupt() {
            truncated = true;
        }
        match decoder.send_packet(&packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == ff::error::EAGAIN => {
                state.drain(&mut decoder)?;
                if decoder.send_packet(&packet).is_err() {
                    decode_errors += 1;
                }
            }
            Err(_) => decode_errors += 1,
        }
        state.drain(&mut decoder)?;
    }
    if decoder.send_eof().is_ok() {
        state.drain(&mut decoder)?;
    }
    if indexed_packets > 0 && packets_read < indexed_packets {
        truncated = true;
    }

    if state.samples.is_empty() {
        // The decoder sets the size the bitstream declares, then refuses to allocate a picture
        // over `max_pixels`: name that rather than "no decodable frames".
        check_picture_size(decoder.width(), decoder.height(), max_pixels)?;
        let detail = if packets_read == 0 {
            "no video packets could be read".to_string()
        } else {
            format!("{packets_read} packets read, {decode_errors} failed to decode")
        };
        return Err(VideoError::NoDecodableFrames { detail });
    }
    if let Some(progress) = &opts.progress {
        progress(state.elapsed_s(), state.total_s);
    }

    if let Some(declared) = vetted.video_duration_s {
        // Containers without a per-frame index (Matroska) end quietly when cut: compare
        // what decoded with the duration the header promised.
        let decoded = state.elapsed_s() + nominal_interval;
        if decoded < declared - (3.0 * nominal_interval).max(0.25) {
            truncated = true;
        }
    }
    let samples = state.samples;
    let conversion = state.conversion.unwrap_or(ColorConversion::BT601_LIMITED);
    let (width, height) = state.size.unwrap_or((0, 0));
    let meta = build_meta(&samples, &vetted, conversion, width, height, truncated);
    Ok(DecodedVideo {
        trace: Trace { samples, truncated },
        meta,
    })
}

struct Vetted {
    stream_index: usize,
    codec: String,
    container: String,
    rotation_deg: i32,
    declared_duration_s: Option<f64>,
    video_duration_s: Option<f64>,
}

/// Checks container, stream, codec and declared duration before any decoding.
fn vet(ictx: &ff::format::context::Input, opts: &DecodeOptions) -> Result<Vetted, VideoError> {
    let container = ictx.format().name().to_string();
    let video = ictx.streams().find(|s| {
        s.parameters().medium() == MediaType::Video
            && !s
                .disposition()
                .contains(ff::format::stream::Disposition::ATTACHED_PIC)
    });
    let Some(stream) = video else {
        let found: Vec<String> = ictx
            .streams()
            .map(|s| {
                format!(
                    "{} {}",
                    media_name(s.parameters().medium()),
                    s.parameters().id().name()
                )
            })
            .collect();
        return Err(VideoError::NoVideoStream {
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        });
    };
    let codec_id = stream.parameters().id();
    let codec = codec_id.name().to_string();
    // An image codec in a video container with many frames (Motion JPEG) is a video in a
    // codec we do not take; alone or in an image demuxer it is a photo.
    if is_image_container(&container) || (is_image_codec(codec_id) && stream.frames() <= 1) {
        return Err(VideoError::StillImage { codec });
    }
    if !ACCEPTED_CONTAINERS.contains(&container.as_str()) {
        return Err(VideoError::UnsupportedContainer { format: container });
    }
    if !ACCEPTED_CODECS.contains(&codec_id) {
        return Err(VideoError::UnsupportedCodec { codec });
    }
    let (declared_duration_s, video_duration_s) = declared_durations(ictx, &stream);
    if let (Some(max_s), Some(duration_s)) = (opts.max_duration_s, declared_duration_s) {
        if duration_s > max_s {
            return Err(VideoError::TooLong { duration_s, max_s });
        }
    }
    Ok(Vetted {
        stream_index: stream.index(),
        codec,
        container,
        rotation_deg: rotation_of(&stream),
        declared_duration_s,
        video_duration_s,
    })
}

/// Durations the headers declare: `(file, video)`. The file's (longest stream) is what a
/// limit applies to; the video stream's own is what a complete decode must reach, known from
/// the stream, Matroska's per-track `DURATION` tag, or the file when video is all it holds.
fn declared_durations(
    ictx: &ff::format::context::Input,
    stream: &ff::format::stream::Stream,
) -> (Option<f64>, Option<f64>) {
    let container = ictx.duration();
    let file = (container > 0 && container != ff::ffi::AV_NOPTS_VALUE)
        .then(|| container as f64 / f64::from(ff::ffi::AV_TIME_BASE));
    let stream_duration = stream.duration();
    let video = if stream_duration > 0 && stream_duration != ff::ffi::AV_NOPTS_VALUE {
        Some(stream_duration as f64 * f64::from(stream.time_base()))
    } else if let Some(tag) = stream_tag(stream, c"DURATION") {
        parse_hms(&tag)
    } else if ictx.nb_streams() == 1 {
        file
    } else {
        None
    };
    (file.or(video), video)
}

/// The value of a stream's metadata tag, `None` when absent or not UTF-8. The file writes these
/// bytes; ffmpeg-next's `DictionaryRef::get` hands them out as `&str` unchecked, which is
/// undefined behaviour on a malformed file (found by fuzzing: a Matroska `DURATION` tag of
/// stray continuation bytes), so they are read and checked here.
fn stream_tag(stream: &ff::format::stream::Stream, key: &std::ffi::CStr) -> Option<String> {
    // SAFETY: the dictionary belongs to the input context `stream` borrows, so it and the
    // entry's NUL-terminated value live until the copy below is made; `av_dict_get` accepts a
    // null dictionary.
    unsafe {
        let metadata = stream.metadata();
        let entry = ff::ffi::av_dict_get(metadata.as_ptr(), key.as_ptr(), std::ptr::null(), 0);
        if entry.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*entry).value)
            .to_str()
            .ok()
            .map(str::to_owned)
    }
}

/// `HH:MM:SS.fraction` (Matroska's DURATION tag) in seconds.
fn parse_hms(text: &str) -> Option<f64> {
    let mut parts = text.trim().split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let seconds =
        h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?;
    seconds.is_finite().then_some(seconds)
}

fn media_name(medium: MediaType) -> &'static str {
    match medium {
        MediaType::Audio => "audio",
        MediaType::Video => "video",
        MediaType::Subtitle => "subtitle",
        MediaType::Data => "data",
        MediaType::Attachment => "attachment",
        MediaType::Unknown => "unknown",
    }
}

fn is_image_codec(id: ff::codec::Id) -> bool {
    use ff::codec::Id;
    matches!(
        id,
        Id::PNG | Id::APNG | Id::MJPEG | Id::BMP | Id::GIF | Id::WEBP | Id::TIFF | Id::JPEG2000
    )
}

/// Clockwise display rotation in degrees (0-359), as phones tag portrait videos (90).
fn rotation_of(stream: &ff::format::stream::Stream) -> i32 {
    for side in stream.side_data() {
        if side.kind() == SideDataType::DisplayMatrix && side.data().len() >= 36 {
            let m: Vec<f64> = side
                .data()
                .chunks_exact(4)
                .take(9)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64 / 65536.0)
                .collect();
            // av_display_rotation_get() is -atan2(m1, m0) (ffprobe's `rotation`, -90 for a
            // portrait phone video); phones' `rotate` tag, which we report, is its negation.
            let scale0 = m[0].hypot(m[3]);
            let scale1 = m[1].hypot(m[4]);
            if scale0 == 0.0 || scale1 == 0.0 {
                return 0;
            }
            let clockwise = (m[1] / scale1).atan2(m[0] / scale0).to_degrees();
            return clockwise.round().rem_euclid(360.0) as i32;
        }
    }
    stream_tag(stream, c"rotate")
        .and_then(|r| r.trim().parse::<f64>().ok())
        .map_or(0, |r| r.round().rem_euclid(360.0) as i32)
}

/// Per-frame state of the decode loop.
struct FrameLoop<'a> {
    opts: &'a DecodeOptions,
    stop: Stop,
    max_pixels: u64,
    frames_decoded: usize,
    time_base: f64,
    start_pts: i64,
    nominal_interval: f64,
    total_s: Option<f64>,
    samples: Vec<FrameSample>,
    scratch: StatsScratch,
    conversion: Option<ColorConversion>,
    frame: ff::frame::Video,
    /// The last frame's pixel format, looked up once per change.
    format: Option<PixelFormat>,
    size: Option<(u32, u32)>,
}

impl FrameLoop<'_> {
    fn elapsed_s(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => b.t_s - a.t_s,
            _ => 0.0,
        }
    }

    fn drain(&mut self, decoder: &mut ff::decoder::Video) -> Result<(), VideoError> {
        while decoder.receive_frame(&mut self.frame).is_ok() {
            self.on_frame()?;
        }
        Ok(())
    }

    fn on_frame(&mut self) -> Result<(), VideoError> {
        self.stop.check()?;
        // Counted before duplicates are dropped: a flood of same-time frames costs CPU too.
        self.frames_decoded += 1;
        if self.frames_decoded > self.opts.max_frames {
            return Err(VideoError::TooManyFrames {
                max_frames: self.opts.max_frames,
            });
        }
        let t_s = match self.frame.timestamp() {
            Some(pts) => ticks_since_start(pts, self.start_pts)? as f64 * self.time_base,
            None => self
                .samples
                .last()
                .map_or(0.0, |s| s.t_s + self.nominal_interval),
        };
        if let Some(last) = self.samples.last() {
            if t_s <= last.t_s {
                // A repeated or backwards timestamp carries no new time information.
                return Ok(());
            }
        }
        if let (Some(max_s), Some(first)) = (self.opts.max_duration_s, self.samples.first()) {
            if t_s - first.t_s > max_s {
                return Err(VideoError::TooLong {
                    duration_s: t_s - first.t_s,
                    max_s,
                });
            }
        }
        check_picture_size(self.frame.width(), self.frame.height(), self.max_pixels)?;
        let raw_format = crate::frame::raw_format(&self.frame);
        let format = match self.format {
            Some(known) if known.raw == raw_format => known,
            _ => *self.format.insert(PixelFormat::from_raw(raw_format)),
        };
        let Some(layout) = format.layout else {
            return Err(VideoError::NoDecodableFrames {
                detail: format!(
                    "the decoder gives frames in pixel format {} ({raw_format}), which oxicam \
                     does not read",
                    format.name
                ),
            });
        };
        let conversion = conversion_of(crate::frame::colour_tags(&self.frame), format);
        self.conversion.get_or_insert(conversion);
        self.size
            .get_or_insert((self.frame.width(), self.frame.height()));
        let planes = crate::frame::planes(&self.frame, layout).map_err(|misfit| {
            VideoError::NoDecodableFrames {
                detail: format!(
                    "decoded frame {} does not fit its pixel format {}: {misfit}",
                    self.frames_decoded, format.name
                ),
            }
        })?;
        let sample = frame_sample(&planes, &conversion, &mut self.scratch, t_s);
        self.samples.push(sample);
        if self.samples.len() % PROGRESS_EVERY == 0 {
            if let Some(progress) = &self.opts.progress {
                progress(self.elapsed_s(), self.total_s);
            }
        }
        Ok(())
    }
}

/// `pts - start_pts`, refused when crafted timestamps (64-bit in Matroska) overflow it.
fn ticks_since_start(pts: i64, start_pts: i64) -> Result<i64, VideoError> {
    pts.checked_sub(start_pts)
        .ok_or_else(|| VideoError::InvalidTimestamps {
            detail: format!("a frame at {pts} against a start at {start_pts} ticks"),
        })
}

/// The conversion the frame declares. Unspecified matrices are read as BT.601, as FFmpeg's
/// swscale (and so the ffmpeg CLI and OpenCV) do, so our traces match theirs. HLG and PQ
/// streams (HDR phone video) have their means mapped to SDR code values ([`Transfer`]).
fn conversion_of(tags: ColourTags, format: PixelFormat) -> ColorConversion {
    use ff::ffi::{
        AVColorRange as R, AVColorSpace as S, AVColorTransferCharacteristic as T,
        AVPixelFormat as P,
    };
    let (kr, kb) = match tags.space {
        s if s == S::AVCOL_SPC_BT709 as c_int => (0.2126, 0.0722),
        s if s == S::AVCOL_SPC_BT2020_NCL as c_int || s == S::AVCOL_SPC_BT2020_CL as c_int => {
            (0.2627, 0.0593)
        }
        s if s == S::AVCOL_SPC_SMPTE240M as c_int => (0.212, 0.087),
        s if s == S::AVCOL_SPC_FCC as c_int => (0.30, 0.11),
        _ => (0.299, 0.114),
    };
    let full_range = match tags.range {
        r if r == R::AVCOL_RANGE_JPEG as c_int => true,
        r if r == R::AVCOL_RANGE_MPEG as c_int => false,
        // Unspecified (or a value outside the enum): the deprecated JPEG formats say full
        // range, and RGB is full unless declared otherwise.
        _ => {
            [
                P::AV_PIX_FMT_YUVJ420P,
                P::AV_PIX_FMT_YUVJ422P,
                P::AV_PIX_FMT_YUVJ444P,
                P::AV_PIX_FMT_YUVJ440P,
            ]
            .iter()
            .any(|&p| p as c_int == format.raw)
                || format.layout.is_some_and(|l| l.kind == LayoutKind::Gbr)
        }
    };
    let transfer = match tags.transfer {
        t if t == T::AVCOL_TRC_ARIB_STD_B67 as c_int => Transfer::Hlg,
        t if t == T::AVCOL_TRC_SMPTE2084 as c_int => Transfer::Pq,
        _ => Transfer::Sdr,
    };
    ColorConversion {
        kr,
        kb,
        full_range,
        transfer,
    }
}

fn matrix_name(conv: &ColorConversion) -> &'static str {
    match (conv.kr * 10000.0).round() as i64 {
        2126 => "bt709",
        2627 => "bt2020",
        2120 => "smpte240m",
        3000 => "fcc",
        _ => "bt601",
    }
}

fn build_meta(
    samples: &[FrameSample],
    vetted: &Vetted,
    conversion: ColorConversion,
    width: u32,
    height: u32,
    truncated: bool,
) -> VideoMeta {
    let intervals: Vec<f64> = samples.windows(2).map(|w| w[1].t_s - w[0].t_s).collect();
    let (mean, min, max) = if intervals.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            intervals.iter().sum::<f64>() / intervals.len() as f64,
            intervals.iter().copied().fold(f64::INFINITY, f64::min),
            intervals.iter().copied().fold(0.0, f64::max),
        )
    };
    let span = samples.last().map_or(0.0, |l| l.t_s) - samples.first().map_or(0.0, |f| f.t_s);
    VideoMeta {
        codec: vetted.codec.clone(),
        container: vetted.container.clone(),
        width,
        height,
        rotation_deg: vetted.rotation_deg,
        frame_count: samples.len() as u64,
        // The decoded span plus the last frame's display time.
        duration_s: span + mean,
        frame_interval_mean_s: mean,
        frame_interval_min_s: min,
        frame_interval_max_s: max,
        color_matrix: matrix_name(&conversion).into(),
        color_range: if conversion.full_range {
            "full"
        } else {
            "limited"
        }
        .into(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The colour tags a file codes reach us as integers: FFmpeg's values are honoured, any
    /// other (a WebM coded transfer 33, which crashed the enum conversion) reads as unspecified.
    #[test]
    fn colour_tags_map_to_a_conversion_and_unknown_values_to_the_defaults() {
        use ff::ffi::{
            AVColorRange as R, AVColorSpace as S, AVColorTransferCharacteristic as T,
            AVPixelFormat as P,
        };
        let format = |p: P| PixelFormat::from_raw(p as c_int);
        let yuv = format(P::AV_PIX_FMT_YUV420P);
        let tags = |space: c_int, range: c_int, transfer: c_int| ColourTags {
            space,
            range,
            transfer,
        };
        let hlg = conversion_of(
            tags(
                S::AVCOL_SPC_BT2020_NCL as c_int,
                R::AVCOL_RANGE_MPEG as c_int,
                T::AVCOL_TRC_ARIB_STD_B67 as c_int,
            ),
            format(P::AV_PIX_FMT_YUV420P10LE),
        );
        assert_eq!((hlg.kr, hlg.kb, hlg.full_range), (0.2627, 0.0593, false));
        assert_eq!(hlg.transfer, Transfer::Hlg);
        let pq = conversion_of(tags(1, 2, T::AVCOL_TRC_SMPTE2084 as c_int), yuv);
        assert_eq!(
            pq,
            ColorConversion {
                full_range: true,
                transfer: Transfer::Pq,
                ..ColorConversion::BT709_LIMITED
            }
        );
        for (space, range, transfer) in [(99, 7, 33), (-1, -1, -1), (c_int::MAX, 3, 19)] {
            let unknown = tags(space, range, transfer);
            assert_eq!(conversion_of(unknown, yuv), ColorConversion::BT601_LIMITED);
            let jpeg = conversion_of(unknown, format(P::AV_PIX_FMT_YUVJ420P));
            assert!(jpeg.full_range, "{unknown:?}");
            assert!(conversion_of(unknown, format(P::AV_PIX_FMT_GBRP)).full_range);
        }
    }

    #[test]
    fn timestamps_that_overflow_against_the_start_are_refused() {
        assert_eq!(ticks_since_start(1_500, 500).unwrap(), 1_000);
        assert_eq!(ticks_since_start(-20, 10).unwrap(), -30);
        for (pts, start) in [(i64::MAX, -1), (i64::MIN + 1, 2), (1 << 62, -(1 << 62))] {
            let err = ticks_since_start(pts, start).unwrap_err();
            assert_eq!(err.code(), "invalid_timestamps", "{pts} - {start}");
            assert!(err.is_client_error());
        }
    }
}
