//! Test videos with known truth: renders a real R,G,B trace into textured, noisy frames and
//! encodes them through libavcodec/libavformat (no ffmpeg CLI), plus a real embedded trace.

use std::path::{Path, PathBuf};

use ff::format::Pixel;
use ffmpeg_next as ff;

use crate::stats::{frame_sample, ColorConversion, Colour, Plane, Planes, StatsScratch};
use oxicam_signal::FrameSample;

/// A ~40 s fingertip trace (R,G,B per frame at 30 fps) from the UW phone-oximetry data set
/// (subject 100002, right hand, video seconds 1010-1050; MIT licence, Hoffman et al. 2022;
/// see `assets/README.md`). Its reference oximeters agree on a steady pulse.
const EMBEDDED_TRACE_CSV: &str = include_str!("../assets/embedded-trace-100002-right.csv");

/// Frame rate of [`embedded_trace`].
pub const EMBEDDED_TRACE_FPS: f64 = 30.0;
/// Mean of the four reference oximeters' pulse over the embedded segment (7 s lag applied;
/// per-second values 64-66 bpm). A spectral check in the tests confirms the trace's peak.
pub const EMBEDDED_TRACE_HEART_RATE_BPM: f64 = 64.9;
/// Reference SpO2 (oximeter 4) over the same segment: 95-97 %, mostly 97.
pub const EMBEDDED_TRACE_SPO2_PERCENT: f64 = 96.7;

/// The embedded real trace: 1200 rows of whole-frame mean R, G, B at 30 fps.
pub fn embedded_trace() -> Vec<[f64; 3]> {
    parse_trace_csv(EMBEDDED_TRACE_CSV).expect("the embedded trace is valid CSV")
}

/// Reads a trace CSV in the UW layout: a header (`R,G,B`, optional BOM), then one row per
/// frame with at least three numeric columns.
pub fn read_trace_csv(path: &Path) -> Result<Vec<[f64; 3]>, SynthError> {
    let text = std::fs::read_to_string(path).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_trace_csv(&text)
}

/// The layout is the estimator's (`oxicam_signal::dataset::parse_rgb_csv`); a clip needs at
/// least two frames on top.
fn parse_trace_csv(text: &str) -> Result<Vec<[f64; 3]>, SynthError> {
    let rows = oxicam_signal::dataset::parse_rgb_csv(text)
        .map_err(|e| SynthError::BadTrace(e.to_string()))?;
    if rows.len() < 2 {
        return Err(SynthError::BadTrace("fewer than two rows".into()));
    }
    Ok(rows)
}

/// Video codec of a synthesized clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    Hevc,
    Vp8,
    Vp9,
}

impl Codec {
    fn encoder_name(self) -> &'static str {
        match self {
            Codec::H264 => "libx264",
            Codec::Hevc => "libx265",
            Codec::Vp8 => "libvpx",
            Codec::Vp9 => "libvpx-vp9",
        }
    }

    /// FFmpeg's codec name, as `VideoMeta::codec` reports it.
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Hevc => "hevc",
            Codec::Vp8 => "vp8",
            Codec::Vp9 => "vp9",
        }
    }

    /// Quality that keeps the sub-unit pulse of regional means through encoding.
    fn default_crf(self) -> u32 {
        match self {
            Codec::H264 => 12,
            Codec::Hevc => 8,
            Codec::Vp8 => 4,
            Codec::Vp9 => 4,
        }
    }
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "h264" | "avc" | "x264" => Ok(Codec::H264),
            "hevc" | "h265" | "x265" => Ok(Codec::Hevc),
            "vp8" => Ok(Codec::Vp8),
            "vp9" => Ok(Codec::Vp9),
            other => Err(format!("unknown codec `{other}` (h264, hevc, vp8, vp9)")),
        }
    }
}

/// What to render. [`SynthOptions::new`] gives a 640x360 H.264 CFR 30 fps clip of the whole
/// trace with light texture and noise.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// R, G, B whole-frame means per trace row (8-bit scale).
    pub trace: Vec<[f64; 3]>,
    /// Rate of the trace rows (30 for the UW data).
    pub trace_fps: f64,
    /// Output file; the container follows the extension (mp4, mov, mkv, webm).
    pub out: PathBuf,
    pub codec: Codec,
    pub width: u32,
    pub height: u32,
    /// Mean frame rate of the video.
    pub fps: f64,
    /// Variable frame rate: irregular frame intervals (0.7-1.4x, with occasional drops).
    pub vfr: bool,
    /// Clip length; `None` renders the whole trace.
    pub seconds: Option<f64>,
    /// Per-pixel noise standard deviation on the 8-bit luma scale (new noise every frame).
    pub noise: f64,
    /// Strength of the fixed spatial texture (vignette and blotches); 1 is fingertip-like.
    pub texture: f64,
    /// Clockwise display rotation written into the container (MP4/MOV display matrix).
    pub rotation_deg: i32,
    /// Encoder constant-quality setting; `None` picks one that keeps the pulse.
    pub crf: Option<u32>,
    /// MP4/MOV: put the index first (`movflags=+faststart`), as phone uploads often are.
    pub faststart: bool,
    pub seed: u64,
}

impl SynthOptions {
    pub fn new(trace: Vec<[f64; 3]>, out: impl Into<PathBuf>) -> SynthOptions {
        SynthOptions {
            trace,
            trace_fps: EMBEDDED_TRACE_FPS,
            out: out.into(),
            codec: Codec::H264,
            width: 640,
            height: 360,
            fps: 30.0,
            vfr: false,
            seconds: None,
            noise: 1.5,
            texture: 1.0,
            rotation_deg: 0,
            crf: None,
            faststart: false,
            seed: 1,
        }
    }
}

/// What was rendered: the truth a decoder should recover.
#[derive(Debug, Clone)]
pub struct SynthSummary {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Presentation time of each frame, seconds from the first.
    pub timestamps_s: Vec<f64>,
    /// Mean R, G, B over the central region of each frame as rendered (before encoding).
    pub roi_rgb: Vec<[f64; 3]>,
    /// Mean R, G, B over each whole frame as rendered (before encoding).
    pub full_rgb: Vec<[f64; 3]>,
    /// The trace value rendered into each frame (the whole-frame target before noise).
    pub trace_rgb: Vec<[f64; 3]>,
}

impl SynthSummary {
    pub fn frame_count(&self) -> usize {
        self.timestamps_s.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("bad trace: {0}")]
    BadTrace(String),
    #[error("bad options: {0}")]
    BadOptions(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Ffmpeg {
        what: String,
        #[source]
        source: ff::Error,
    },
}

fn ff_err(what: impl Into<String>) -> impl FnOnce(ff::Error) -> SynthError {
    let what = what.into();
    move |source| SynthError::Ffmpeg { what, source }
}

/// Colours are encoded as BT.709 limited range and tagged so, as phones do.
const SYNTH_CONVERSION: ColorConversion = ColorConversion::BT709_LIMITED;
const TIME_BASE: (i32, i32) = (1, 90_000);

/// Renders and encodes the clip; returns the per-frame truth.
pub fn render(opts: &SynthOptions) -> Result<SynthSummary, SynthError> {
    crate::init_ffmpeg().map_err(|e| SynthError::BadOptions(e.to_string()))?;
    validate(opts)?;
    let (w, h) = (opts.width as usize, opts.height as usize);
    let trace_s = (opts.trace.len() - 1) as f64 / opts.trace_fps;
    let seconds = opts.seconds.unwrap_or(trace_s);
    if seconds > trace_s + 1e-9 {
        return Err(SynthError::BadOptions(format!(
            "{seconds:.2} s asked but the trace covers {trace_s:.2} s"
        )));
    }
    let mut rng = XorShift::new(opts.seed);
    let timestamps = frame_times(seconds, opts.fps, opts.vfr, &mut rng);

    let texture = Texture::new(w, h, opts.texture, opts.noise, &mut rng);
    let mut encoder = Encoder::open(opts)?;
    let mut frame = ff::frame::Video::new(Pixel::YUV420P, opts.width, opts.height);
    frame.set_color_space(ff::color::Space::BT709);
    frame.set_color_range(ff::color::Range::MPEG);
    frame.set_color_primaries(ff::color::Primaries::BT709);
    frame.set_color_transfer_characteristic(ff::color::TransferCharacteristic::BT709);

    let mut roi_rgb = Vec::with_capacity(timestamps.len());
    let mut trace_rgb = Vec::with_capacity(timestamps.len());
    let mut full_rgb = Vec::with_capacity(timestamps.len());
    let mut scratch = StatsScratch::default();
    for &t in &timestamps {
        let rgb = interpolate(&opts.trace, t * opts.trace_fps);
        let yuv = SYNTH_CONVERSION.yuv_of_rgb(rgb);
        texture.paint(&mut frame, yuv, &mut rng);
        // The truth is measured on the frame as rendered (noise and rounding included), with
        // the same plane statistics the decoder uses, so tests see only the codec's loss.
        let rendered = rendered_sample(&frame, &mut scratch);
        roi_rgb.push(rendered.roi_rgb);
        full_rgb.push(rendered.full_rgb);
        trace_rgb.push(rgb);
        frame.set_pts(Some((t * TIME_BASE.1 as f64).round() as i64));
        encoder.send(Some(&frame))?;
    }
    encoder.send(None)?;
    encoder.finish()?;
    Ok(SynthSummary {
        path: opts.out.clone(),
        width: opts.width,
        height: opts.height,
        timestamps_s: timestamps,
        roi_rgb,
        full_rgb,
        trace_rgb,
    })
}

fn rendered_sample(frame: &ff::frame::Video, scratch: &mut StatsScratch) -> FrameSample {
    let plane = |i: usize| Plane {
        data: frame.data(i),
        stride: frame.stride(i),
    };
    let planes = Planes {
        width: frame.width() as usize,
        height: frame.height() as usize,
        bits: 8,
        luma: plane(0),
        colour: Colour::Yuv {
            u: plane(1),
            v: plane(2),
            shift: (1, 1),
        },
    };
    frame_sample(&planes, &SYNTH_CONVERSION, scratch, 0.0)
}

fn validate(opts: &SynthOptions) -> Result<(), SynthError> {
    let bad = |m: String| Err(SynthError::BadOptions(m));
    if opts.trace.len() < 2 {
        return bad("the trace needs at least two rows".into());
    }
    if opts.width < 16 || opts.height < 16 || opts.width % 2 == 1 || opts.height % 2 == 1 {
        return bad(format!(
            "size {}x{}: width and height must be even and at least 16",
            opts.width, opts.height
        ));
    }
    let rate_ok = |fps: f64| fps.is_finite() && fps > 0.0 && fps <= 240.0;
    if !rate_ok(opts.fps) || !rate_ok(opts.trace_fps) {
        return bad(format!("frame rate {} out of range", opts.fps));
    }
    if !(opts.noise.is_finite() && opts.texture.is_finite())
        || opts.noise < 0.0
        || opts.texture < 0.0
    {
        return bad("noise and texture must be non-negative".into());
    }
    if opts.rotation_deg.rem_euclid(90) != 0 {
        return bad(format!(
            "rotation {} is not a multiple of 90",
            opts.rotation_deg
        ));
    }
    if opts.trace.iter().flatten().any(|v| !v.is_finite()) {
        return bad("the trace has non-finite values".into());
    }
    Ok(())
}

/// Frame times: a regular grid, or for VFR irregular intervals around the mean like a phone
/// camera's (0.7-1.4x the nominal interval, and every ~25th frame a dropped frame).
fn frame_times(seconds: f64, fps: f64, vfr: bool, rng: &mut XorShift) -> Vec<f64> {
    let step = 1.0 / fps;
    let mut times = Vec::new();
    let mut t = 0.0;
    let mut i = 0usize;
    while t <= seconds + 1e-9 {
        times.push(t);
        i += 1;
        t = if vfr {
            let jitter = 0.7 + 0.7 * rng.uniform();
            let drop = if rng.uniform() < 0.04 { step } else { 0.0 };
            t + step * jitter + drop
        } else {
            i as f64 * step
        };
    }
    times
}

fn interpolate(trace: &[[f64; 3]], pos: f64) -> [f64; 3] {
    let pos = pos.clamp(0.0, (trace.len() - 1) as f64);
    let i = (pos.floor() as usize).min(trace.len() - 2);
    let f = pos - i as f64;
    [0, 1, 2].map(|c| trace[i][c] * (1.0 - f) + trace[i + 1][c] * f)
}

/// Fixed spatial pattern and noise source for the frames.
struct Texture {
    width: usize,
    height: usize,
    /// Relative luma modulation per pixel, zero mean over the whole frame.
    luma: Vec<f32>,
    /// Noise values (8-bit units); each frame reads them from a random offset.
    noise: Vec<f32>,
}

impl Texture {
    fn new(w: usize, h: usize, strength: f64, noise_sd: f64, rng: &mut XorShift) -> Texture {
        let phases: Vec<f64> = (0..6)
            .map(|_| rng.uniform() * std::f64::consts::TAU)
            .collect();
        let mut luma: Vec<f64> = Vec::with_capacity(w * h);
        for y in 0..h {
            let ny = (y as f64 + 0.5) / h as f64 * 2.0 - 1.0;
            for x in 0..w {
                let nx = (x as f64 + 0.5) / w as f64 * 2.0 - 1.0;
                let r2 = (nx * nx + ny * ny) / 2.0;
                let vignette = -0.25 * r2;
                let blotches = 0.03 * (3.1 * nx + phases[0]).sin() * (2.3 * ny + phases[1]).cos()
                    + 0.02 * (7.7 * nx + 5.3 * ny + phases[2]).sin()
                    + 0.015 * (13.0 * ny - 4.0 * nx + phases[3]).sin();
                luma.push(strength * (vignette + blotches));
            }
        }
        let mean = luma.iter().sum::<f64>() / luma.len() as f64;
        luma.iter_mut().for_each(|v| *v -= mean);
        // Approximately Gaussian: sum of four uniforms, scaled to unit variance.
        let noise = (0..w * h + 65_536)
            .map(|_| {
                let s: f64 = (0..4).map(|_| rng.uniform()).sum::<f64>() - 2.0;
                (s * (3.0f64).sqrt() * noise_sd) as f32
            })
            .collect();
        Texture {
            width: w,
            height: h,
            luma: luma.into_iter().map(|v| v as f32).collect(),
            noise,
        }
    }

    fn paint(&self, frame: &mut ff::frame::Video, yuv: [f64; 3], rng: &mut XorShift) {
        let (w, h) = (self.width, self.height);
        let spare = self.noise.len() - w * h;
        let offset = (rng.next() as usize) % spare;
        let base = yuv[0] as f32;
        let gain = (yuv[0] - 16.0) as f32;
        let stride = frame.stride(0);
        let plane = frame.data_mut(0);
        for y in 0..h {
            let line = &mut plane[y * stride..y * stride + w];
            let tex = &self.luma[y * w..(y + 1) * w];
            let noise = &self.noise[offset + y * w..offset + (y + 1) * w];
            for ((px, &t), &n) in line.iter_mut().zip(tex).zip(noise) {
                *px = (base + gain * t + n + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
        for (index, value) in [(1usize, yuv[1] as f32), (2, yuv[2] as f32)] {
            let (cw, ch) = (w / 2, h / 2);
            let offset = (rng.next() as usize) % spare;
            let stride = frame.stride(index);
            let plane = frame.data_mut(index);
            for y in 0..ch {
                let line = &mut plane[y * stride..y * stride + cw];
                let noise = &self.noise[offset + y * cw..offset + (y + 1) * cw];
                for (px, &n) in line.iter_mut().zip(noise) {
                    *px = (value + n + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

/// The libavcodec encoder and libavformat muxer of one output file.
struct Encoder {
    octx: ff::format::context::Output,
    encoder: ff::encoder::Video,
    stream_index: usize,
    encoder_time_base: ff::Rational,
    /// Nominal frame duration in the encoder time base.
    frame_duration: i64,
}

impl Encoder {
    fn open(opts: &SynthOptions) -> Result<Encoder, SynthError> {
        let ext = opts
            .out
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match (ext.as_str(), opts.codec) {
            ("mp4" | "mov" | "mkv", _) => {}
            ("webm", Codec::Vp8 | Codec::Vp9) => {}
            ("webm", c) => {
                return Err(SynthError::BadOptions(format!(
                    "WebM holds VP8/VP9 only, not {}",
                    c.ffmpeg_name()
                )))
            }
            (other, _) => {
                return Err(SynthError::BadOptions(format!(
                    "output extension `{other}`: use mp4, mov, mkv or webm"
                )))
            }
        }
        let codec = ff::encoder::find_by_name(opts.codec.encoder_name()).ok_or_else(|| {
            SynthError::BadOptions(format!(
                "this FFmpeg has no {} encoder",
                opts.codec.encoder_name()
            ))
        })?;
        let mut octx = ff::format::output(&opts.out)
            .map_err(ff_err(format!("cannot create {}", opts.out.display())))?;
        let global_header = octx
            .format()
            .flags()
            .contains(ff::format::flag::Flags::GLOBAL_HEADER);

        let mut ctx = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(ff_err("encoder context"))?;
        let time_base = ff::Rational::new(TIME_BASE.0, TIME_BASE.1);
        ctx.set_width(opts.width);
        ctx.set_height(opts.height);
        ctx.set_format(Pixel::YUV420P);
        ctx.set_time_base(time_base);
        ctx.set_frame_rate(Some(ff::Rational::new(
            (opts.fps * 1000.0).round() as i32,
            1000,
        )));
        ctx.set_gop((opts.fps * 2.0).round().max(1.0) as u32);
        ctx.set_colorspace(ff::color::Space::BT709);
        ctx.set_color_range(ff::color::Range::MPEG);
        ctx.set_color_primaries(ff::color::Primaries::BT709);
        ctx.set_color_transfer_characteristic(ff::color::TransferCharacteristic::BT709);
        if global_header {
            ctx.set_flags(ff::codec::flag::Flags::GLOBAL_HEADER);
        }
        let crf = opts.crf.unwrap_or_else(|| opts.codec.default_crf());
        let mut dict = ff::Dictionary::new();
        dict.set("crf", &crf.to_string());
        match opts.codec {
            // The pulse is a fraction of a code value per frame, carried by noise-dithered
            // blocks: keep the encoders from zeroing small coefficients or skipping blocks.
            Codec::H264 => {
                dict.set("preset", "veryfast");
                dict.set(
                    "x264-params",
                    "no-dct-decimate=1:deadzone-inter=0:deadzone-intra=0:no-fast-pskip=1",
                );
            }
            Codec::Hevc => {
                dict.set("preset", "ultrafast");
                dict.set(
                    "x265-params",
                    "log-level=error:cbqpoffs=-4:crqpoffs=-4:rdoq-level=0:psy-rdoq=0",
                );
            }
            Codec::Vp8 | Codec::Vp9 => {
                // Measured: VP8 keeps the pulse only in `good` mode, VP9 better in realtime.
                if opts.codec == Codec::Vp8 {
                    dict.set("deadline", "good");
                    dict.set("cpu-used", "4");
                } else {
                    dict.set("deadline", "realtime");
                    dict.set("cpu-used", "8");
                }
                dict.set("b", if opts.codec == Codec::Vp8 { "50M" } else { "0" });
                dict.set("qmin", "0");
                dict.set("qmax", &crf.to_string());
            }
        }
        let encoder = ctx
            .open_with(dict)
            .map_err(ff_err(format!("cannot open the {} encoder", codec.name())))?;

        let mut stream = octx.add_stream(codec).map_err(ff_err("add stream"))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(time_base);
        let stream_index = stream.index();
        if opts.rotation_deg.rem_euclid(360) != 0 {
            set_display_rotation(&mut stream, opts.rotation_deg)?;
        }
        let mut header_opts = ff::Dictionary::new();
        if opts.faststart {
            header_opts.set("movflags", "+faststart");
        }
        octx.write_header_with(header_opts)
            .map_err(ff_err("write container header"))?;
        Ok(Encoder {
            octx,
            encoder,
            stream_index,
            encoder_time_base: time_base,
            frame_duration: (f64::from(TIME_BASE.1) / opts.fps).round() as i64,
        })
    }

    /// Sends a frame (or end of stream) and writes every packet the encoder has ready.
    fn send(&mut self, frame: Option<&ff::frame::Video>) -> Result<(), SynthError> {
        match frame {
            Some(frame) => self.encoder.send_frame(frame),
            None => self.encoder.send_eof(),
        }
        .map_err(ff_err("encode"))?;
        let stream_time_base = self
            .octx
            .stream(self.stream_index)
            .map(|s| s.time_base())
            .unwrap_or(self.encoder_time_base);
        let mut packet = ff::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.stream_index);
            if packet.duration() <= 0 {
                // Without a duration the MP4 muxer's edit list cuts the last frame off.
                packet.set_duration(self.frame_duration);
            }
            packet.rescale_ts(self.encoder_time_base, stream_time_base);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(ff_err("write packet"))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), SynthError> {
        self.octx
            .write_trailer()
            .map_err(ff_err("write container trailer"))
    }
}

/// Writes a display matrix (stream side data) that the MP4/MOV muxer stores in the track
/// header; `degrees` is clockwise, as the `rotate` tag of phone videos.
fn set_display_rotation(
    stream: &mut ff::format::stream::StreamMut<'_>,
    degrees: i32,
) -> Result<(), SynthError> {
    // The matrix phones write for a `rotate` tag of `degrees` (ffprobe shows rotation=-90
    // for 90): m1 = sin(degrees), m3 = -sin(degrees).
    let theta = (-(degrees as f64)).to_radians();
    let (c, s) = (theta.cos(), theta.sin());
    let fixed = |v: f64| (v * 65536.0).round() as i32;
    let matrix: [i32; 9] = [fixed(c), fixed(-s), 0, fixed(s), fixed(c), 0, 0, 0, 1 << 30];
    // SAFETY: the stream belongs to a live output context; FFmpeg allocates `size` bytes and
    // owns them; we write exactly 9 i32 into them.
    unsafe {
        let data = ff::ffi::av_stream_new_side_data(
            stream.as_mut_ptr(),
            ff::ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
            std::mem::size_of::<[i32; 9]>(),
        );
        if data.is_null() {
            return Err(SynthError::Ffmpeg {
                what: "display matrix".into(),
                source: ff::Error::Other {
                    errno: ff::error::ENOMEM,
                },
            });
        }
        std::ptr::copy_nonoverlapping(matrix.as_ptr() as *const u8, data, 36);
    }
    Ok(())
}

/// Small deterministic PRNG (xorshift64*): reproducible fixtures without a dependency.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_trace_has_40_seconds_of_plausible_fingertip_colour() {
        let trace = embedded_trace();
        assert_eq!(trace.len(), 1200);
        for row in &trace {
            assert!(row.iter().all(|v| (1.0..255.0).contains(v)), "{row:?}");
        }
    }

    #[test]
    fn csv_parsing_accepts_bom_and_header_and_rejects_garbage() {
        let rows = parse_trace_csv("\u{feff}R,G,B\n1,2,3\n4,5,6,\n").unwrap();
        assert_eq!(rows, vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert!(parse_trace_csv("R,G,B\n1,2,3\nx,y,z\n").is_err());
    }

    #[test]
    fn vfr_times_are_increasing_and_irregular() {
        let times = frame_times(5.0, 30.0, true, &mut XorShift::new(3));
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g > 0.0));
        let min = gaps.iter().copied().fold(f64::INFINITY, f64::min);
        let max = gaps.iter().copied().fold(0.0, f64::max);
        assert!(max / min > 1.5, "{min} {max}");
    }
}
