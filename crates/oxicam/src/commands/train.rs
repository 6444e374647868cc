//! `oxicam train`: fits the SpO2 model from a UW-layout data folder, deterministically, and
//! writes it with its provenance and leave-one-subject-out metrics.

use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

use oxicam_signal::evaluation::{evaluate, label_windows};
use oxicam_signal::training::{features_for, fit_model, TrainOptions, CHANNEL_SETS};

use super::eval::DataArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the model JSON.
    #[arg(long)]
    pub out: PathBuf,
    /// Version string written into the model.
    #[arg(long, default_value = "spo2-2026.1")]
    pub version: String,
    /// Ridge penalty per sample on standardised features (fixed a priori, not tuned on
    /// reported numbers).
    #[arg(long, default_value_t = TrainOptions::default().alpha)]
    pub alpha: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let recordings = super::eval::load_recordings(&args.data)?;
    let mut opts = args.data.eval_options();
    opts.train.alpha = args.alpha;

    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let labelled: Vec<_> = recordings.iter().map(|r| label_windows(r, &opts)).collect();
    for ws in &labelled {
        for w in ws {
            if let (Some(f), Some(y)) = (w.usable_features(), w.spo2_label) {
                rows.push(f);
                labels.push(y);
            }
        }
    }
    let loso = evaluate(&recordings, None, &opts);
    let mut subjects: Vec<&str> = recordings.iter().map(|r| r.subject.as_str()).collect();
    subjects.dedup();
    let provenance = json!({
        "trained_by": "oxicam train",
        "data": args.data.data.file_name().and_then(|s| s.to_str()).unwrap_or_default(),
        "training_subjects": subjects,
        "recordings": recordings.iter().map(|r| format!("{}/{}", r.subject, r.hand)).collect::<Vec<_>>(),
        "training_windows": rows.len(),
        "label_source": opts.label_source.name(),
        "label_lag_s": opts.lag_s,
        "window_s": opts.window_s,
        "hop_s": opts.hop_s,
        "method": "ridge regression on standardised features (clamped at 4 SD), one submodel per set of in-range channels",
        "alpha_per_sample": opts.train.alpha,
        "feature_sets": CHANNEL_SETS.iter().map(|s| json!({"channels": s, "features": features_for(s)})).collect::<Vec<_>>(),
        "leave_one_subject_out": {
            "heart_rate_mae_bpm": loso.heart_rate_mae_bpm,
            "spo2_mae": loso.spo2_mae,
            "spo2_rmse": loso.spo2_rmse,
            "spo2_bias": loso.spo2_bias,
            "baseline_spo2_mae": loso.baseline_spo2_mae,
            "arms_by_band": loso.arms_by_band,
            "coverage": loso.coverage,
            "calibrated_spo2_mae": loso.calibration.spo2_mae_calibrated,
        },
    });
    let model = fit_model(&args.version, &rows, &labels, &opts.train, provenance)
        .context("too few usable labelled windows to fit a model")?;
    std::fs::write(&args.out, model.to_json_pretty() + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} windows; LOSO SpO2 MAE {} vs baseline {})",
        args.out.display(),
        rows.len(),
        loso.spo2_mae.map_or("-".into(), |v| format!("{v:.2}")),
        loso.baseline_spo2_mae
            .map_or("-".into(), |v| format!("{v:.2}")),
    );
    Ok(ExitCode::SUCCESS)
}
