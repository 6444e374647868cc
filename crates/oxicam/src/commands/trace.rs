//! `oxicam trace`: the colour trace of a video as the JSON body `POST /v1/traces` takes, for
//! comparing the web page's own measurement with the server's decoding, or sending it later.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use oxicam_server::trace_upload::TraceUpload;
use oxicam_video::{extract_trace, DecodeOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A video file.
    pub file: PathBuf,
    /// Write the compact delta encoding (what the web page sends) instead of plain numbers.
    #[arg(long)]
    pub delta: bool,
    /// Output file (default: standard output).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let decoded = extract_trace(&args.file, &DecodeOptions::default())
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let body = if args.delta {
        TraceUpload::delta(&decoded.trace)
    } else {
        TraceUpload::plain(&decoded.trace)
    };
    let json = serde_json::to_vec(&body)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&json)?;
            stdout.write_all(b"\n")?;
        }
    }
    eprintln!(
        "{} frames, {:.2} s{}",
        decoded.trace.len(),
        decoded.trace.duration_s(),
        if decoded.trace.truncated {
            " (truncated)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
