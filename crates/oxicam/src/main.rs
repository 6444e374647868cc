//! The `oxicam` command line: analyze, serve, eval, train, synth, trace and smoke.
//! Each subcommand lives in its own module under `commands/` and is a thin layer over the crates:
//! `analyze` over `oxicam_video::pipeline`, `serve` over `oxicam_server`, `eval` and `train` over
//! `oxicam_signal`'s evaluation and training (data folders read by `commands::data`), `synth`
//! over `oxicam_video::synth`, `trace` over `oxicam_video` and the server's trace format,
//! `smoke` a client of a running service.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "oxicam",
    version,
    about = "Heart rate and SpO2 screening estimate from a fingertip video (not a medical device)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze a video (or a trace CSV): heart rate, SpO2, quality verdict.
    Analyze(commands::analyze::Args),
    /// Run the HTTP service and web page.
    Serve(Box<commands::serve::Args>),
    /// Score the estimator on a data folder (leave-one-subject-out, or a fixed model).
    Eval(commands::eval::Args),
    /// Fit the SpO2 model from a data folder.
    Train(commands::train::Args),
    /// Print a video's colour trace as the JSON body of `POST /v1/traces`.
    Trace(commands::trace::Args),
    /// Render a real colour trace into an encoded test video with known truth.
    Synth(commands::synth::Args),
    /// Smoke-test a running oxicam service.
    Smoke(commands::smoke::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Serve(args) => commands::serve::run(*args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Trace(args) => commands::trace::run(args),
        Command::Smoke(args) => commands::smoke::run(args),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`oxicam analyze ... | head`): stop quietly, as Unix tools do.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("oxicam: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
