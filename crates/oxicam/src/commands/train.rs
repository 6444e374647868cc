//! `oxicam train`: fits the SpO2 model from a UW-layout data folder, deterministically, and
//! writes it with its provenance and (nested) leave-one-subject-out metrics.

use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

use oxicam_signal::evaluation::{
    evaluate_labelled, fit_groups, label_windows, select_candidate, Group,
};
use oxicam_signal::training::{candidates, features_for, CHANNEL_SETS};

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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let recordings = super::eval::load_recordings(&args.data)?;
    let opts = args.data.eval_options();
    let labelled: Vec<_> = recordings.iter().map(|r| label_windows(r, &opts)).collect();
    let groups: Vec<Group> = recordings
        .iter()
        .zip(&labelled)
        .map(|(r, ws)| (r.subject.as_str(), ws.as_slice()))
        .collect();
    // The reported metrics come from nested cross-validation (each outer fold chooses its own
    // candidate on its training subjects); the shipped model uses the choice made on all.
    let loso = evaluate_labelled(&recordings, &labelled, None, &opts);
    let (candidate, inner_mae) = select_candidate(&groups, &opts);
    let training_windows = labelled
        .iter()
        .flatten()
        .filter(|w| w.usable_features().is_some() && w.spo2_label.is_some())
        .count();
    let mut subjects: Vec<&str> = recordings.iter().map(|r| r.subject.as_str()).collect();
    subjects.dedup();
    let provenance = json!({
        "trained_by": "oxicam train",
        "data": args.data.data.file_name().and_then(|s| s.to_str()).unwrap_or_default(),
        "training_subjects": subjects,
        "recordings": recordings.iter().map(|r| format!("{}/{}", r.subject, r.hand)).collect::<Vec<_>>(),
        "training_windows": training_windows,
        "label_source": opts.label_source.name(),
        "label_lag_s": opts.lag_s,
        "window_s": opts.window_s,
        "hop_s": opts.hop_s,
        "method": "ridge regression on standardised features (clamped at 4 SD), one submodel per set of in-range channels; optional median smoothing of window estimates",
        "selection": {
            "how": "leave-one-subject-out over all training subjects; grid fixed in advance",
            "grid": candidates(),
            "chosen": candidate,
            "cv_spo2_mae_of_chosen": inner_mae,
        },
        "feature_sets": CHANNEL_SETS.iter().map(|s| json!({"channels": s, "features": features_for(s, candidate.feature_set)})).collect::<Vec<_>>(),
        "leave_one_subject_out": {
            "note": "nested: each held-out subject's model and candidate were chosen without it",
            "heart_rate_mae_bpm": loso.heart_rate_mae_bpm,
            "spo2_mae": loso.spo2_mae,
            "spo2_rmse": loso.spo2_rmse,
            "spo2_bias": loso.spo2_bias,
            "baseline_spo2_mae": loso.baseline_spo2_mae,
            "arms_by_band": loso.arms_by_band,
            "sensitivity_below_90": loso.sensitivity_below_90,
            "specificity_below_90": loso.specificity_below_90,
            "coverage": loso.coverage,
            "calibration": loso.calibration,
            "folds": loso.folds,
        },
    });
    let model = fit_groups(&groups, &candidate, &opts, &args.version, provenance)
        .context("too few usable labelled windows to fit a model")?;
    std::fs::write(&args.out, model.to_json_pretty() + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({training_windows} windows, {candidate:?}); nested LOSO SpO2 MAE {} vs baseline {}",
        args.out.display(),
        loso.spo2_mae.map_or("-".into(), |v| format!("{v:.2}")),
        loso.baseline_spo2_mae.map_or("-".into(), |v| format!("{v:.2}")),
    );
    Ok(ExitCode::SUCCESS)
}
