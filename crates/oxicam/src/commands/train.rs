//! `oxicam train`: fits the SpO2 model from a UW-layout data folder, deterministically, and
//! writes it with its provenance and (nested) leave-one-subject-out metrics.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

use oxicam_signal::provenance::train;

use super::data::{load_recordings, DataArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the model JSON.
    #[arg(long)]
    pub out: PathBuf,
    /// Version string written into the model.
    #[arg(long, default_value = "spo2-2026.4")]
    pub version: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let recordings = load_recordings(&args.data)?;
    let data_name = args
        .data
        .data
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let trained = train(
        &recordings,
        &args.data.eval_options(),
        &args.version,
        data_name,
    )
    .context("too few usable labelled windows to fit a model")?;
    std::fs::write(&args.out, trained.model.to_json_pretty() + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let s = &trained.loso.spo2;
    eprintln!(
        "wrote {} ({} windows, {:?}); nested LOSO SpO2 MAE {} vs baseline {}, 90 % interval \
         coverage {} at median width {}",
        args.out.display(),
        trained.training_windows,
        trained.selection.candidate,
        num(s.mae),
        num(s.baseline_mae),
        num(s.interval_coverage),
        num(s.interval_median_width),
    );
    Ok(ExitCode::SUCCESS)
}
