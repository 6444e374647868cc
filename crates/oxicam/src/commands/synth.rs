//! `oxicam synth`: renders a real colour trace into an encoded test video with known truth.
//! Also hosts a hidden `--decode-only FILE` path that times trace extraction for the benchmark.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use oxicam_video::synth::{self, Codec, SynthOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trace CSV (`R,G,B` rows at 30 fps, the UW data layout); default: the embedded real trace.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Output video; the container follows the extension (mp4, mov, mkv, webm).
    #[arg(long, required_unless_present = "decode_only")]
    out: Option<PathBuf>,
    /// Video codec: h264, hevc, vp8, vp9.
    #[arg(long, default_value = "h264")]
    codec: Codec,
    /// Frame size, WxH (even numbers).
    #[arg(long, default_value = "640x360", value_parser = parse_size)]
    size: (u32, u32),
    /// Constant frame rate.
    #[arg(long, default_value_t = 30.0, conflicts_with = "vfr")]
    fps: f64,
    /// Variable frame rate (irregular intervals around 30 fps, like a phone camera).
    #[arg(long)]
    vfr: bool,
    /// Clip length in seconds (default: the whole trace).
    #[arg(long)]
    seconds: Option<f64>,
    /// Per-pixel noise standard deviation, 8-bit luma units.
    #[arg(long, default_value_t = 1.5)]
    noise: f64,
    /// Clockwise display rotation stored in the container (0, 90, 180, 270).
    #[arg(long, default_value_t = 0)]
    rotate: i32,
    /// Encoder quality (CRF); default keeps the pulse through encoding.
    #[arg(long)]
    crf: Option<u32>,
    /// MP4/MOV: index at the front of the file.
    #[arg(long)]
    faststart: bool,
    /// Benchmark hook: extract the trace of FILE and print frames and seconds.
    #[arg(long, hide = true, value_name = "FILE")]
    decode_only: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size `{s}`: expected WxH"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|e| format!("size `{s}`: {e}"))
    };
    Ok((parse(w)?, parse(h)?))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.decode_only {
        let started = Instant::now();
        let decoded = oxicam_video::extract_trace(file, &oxicam_video::DecodeOptions::default())
            .with_context(|| format!("decoding {}", file.display()))?;
        println!(
            "frames={} seconds={:.4}",
            decoded.trace.len(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let trace = match &args.trace {
        Some(path) => synth::read_trace_csv(path)?,
        None => synth::embedded_trace(),
    };
    let out = args.out.context("--out is required")?;
    let mut opts = SynthOptions::new(trace, out);
    opts.codec = args.codec;
    (opts.width, opts.height) = args.size;
    opts.fps = args.fps;
    opts.vfr = args.vfr;
    opts.seconds = args.seconds;
    opts.noise = args.noise;
    opts.rotation_deg = args.rotate;
    opts.crf = args.crf;
    opts.faststart = args.faststart;
    let summary = synth::render(&opts)?;
    eprintln!(
        "wrote {} ({}x{}, {} frames, {:.2} s)",
        summary.path.display(),
        summary.width,
        summary.height,
        summary.frame_count(),
        summary.timestamps_s.last().copied().unwrap_or(0.0)
    );
    Ok(ExitCode::SUCCESS)
}
