//! `oxicam eval`: scores the estimator on a data folder in the UW layout, leave-one-subject-out
//! (refitting per fold) or with a fixed model, next to the constant-mean baseline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use oxicam_signal::evaluation::{evaluate, EvalReport};
use oxicam_video::pipeline::load_model;

use super::data::{load_recordings, DataArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Score this fixed model on every recording (no refitting). Without it:
    /// leave-one-subject-out, refitting without each subject (both hands).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1} %", 100.0 * v))
}

/// The metric table: (metric, model, baseline), blank where there is no baseline.
fn metric_rows(r: &EvalReport) -> Vec<(String, String, String)> {
    let blank = String::new;
    let c = &r.calibration;
    let mut rows = vec![
        (
            "heart rate MAE (bpm)".to_string(),
            num(r.heart_rate_mae_bpm),
            num(r.baseline_heart_rate_mae_bpm),
        ),
        (
            "heart rate RMSE (bpm)".into(),
            num(r.heart_rate_rmse_bpm),
            blank(),
        ),
        (
            "heart rate coverage".into(),
            pct(Some(r.heart_rate_coverage)),
            blank(),
        ),
        (
            "SpO2 MAE (%)".into(),
            num(r.spo2_mae),
            num(r.baseline_spo2_mae),
        ),
        (
            "SpO2 RMSE (%)".into(),
            num(r.spo2_rmse),
            num(r.baseline_spo2_rmse),
        ),
        (
            "SpO2 bias (%)".into(),
            num(r.spo2_bias),
            num(r.baseline_spo2_bias),
        ),
    ];
    rows.extend(r.arms_by_band.iter().map(|b| {
        (
            format!("Arms {} % (n={})", b.band, b.windows),
            num(b.arms),
            num(b.baseline_arms),
        )
    }));
    rows.extend([
        (
            "sensitivity SpO2 < 90 %".into(),
            pct(r.sensitivity_below_90),
            pct(r.baseline_sensitivity_below_90),
        ),
        (
            "specificity SpO2 < 90 %".into(),
            pct(r.specificity_below_90),
            pct(r.baseline_specificity_below_90),
        ),
        (
            "coverage (windows with SpO2)".into(),
            pct(Some(r.coverage)),
            blank(),
        ),
        (
            format!("calibrated SpO2 MAE (n={})", c.windows),
            num(c.spo2_mae_calibrated),
            num(c.baseline_spo2_mae_calibrated),
        ),
        (
            "  same windows, uncalibrated".into(),
            num(c.spo2_mae_uncalibrated),
            blank(),
        ),
    ]);
    if c.change_model_windows > 0 {
        rows.push((
            format!("  change-tracking model (n={})", c.change_model_windows),
            num(c.spo2_mae_change_model),
            blank(),
        ));
    }
    rows
}

/// Human-readable tables of an evaluation.
pub fn write_report(out: &mut impl Write, r: &EvalReport) -> std::io::Result<()> {
    let model = r
        .model_version
        .as_ref()
        .map_or(String::new(), |v| format!(" ({v})"));
    writeln!(
        out,
        "mode: {}{model}   subjects: {}   label: {} (lag {} s)   windows: {} s, hop {} s",
        r.mode,
        r.subjects.join(", "),
        r.label_source,
        r.lag_s,
        r.window_s,
        r.hop_s
    )?;
    writeln!(out)?;
    writeln!(out, "{:<34} {:>12} {:>12}", "metric", "model", "baseline")?;
    for (name, model, baseline) in metric_rows(r) {
        writeln!(out, "{name:<34} {model:>12} {baseline:>12}")?;
    }
    for f in &r.folds {
        writeln!(
            out,
            "fold without {}: chose {:?}, alpha {}, smoothing {} s (inner CV SpO2 MAE {})",
            f.held_out,
            f.candidate.feature_set,
            f.candidate.alpha,
            f.candidate.smoothing_s,
            num(f.inner_spo2_mae)
        )?;
    }
    writeln!(out)?;
    let header = [
        "subject", "hand", "windows", "answered", "HR MAE", "SpO2 MAE", "bias", "baseline",
    ];
    let per_recording = r.per_recording.iter().map(|p| {
        [
            p.subject.clone(),
            p.hand.clone(),
            p.windows.to_string(),
            p.answered.to_string(),
            num(p.heart_rate_mae_bpm),
            num(p.spo2_mae),
            num(p.spo2_bias),
            num(p.baseline_spo2_mae),
        ]
    });
    for [subject, hand, windows, answered, hr, spo2, bias, baseline] in
        std::iter::once(header.map(String::from)).chain(per_recording)
    {
        writeln!(
            out,
            "{subject:<8} {hand:<6} {windows:>8} {answered:>8} {hr:>10} {spo2:>10} {bias:>10} {baseline:>10}"
        )?;
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let recordings = load_recordings(&args.data)?;
    let model = match &args.model {
        Some(path) => Some(load_model(Some(path))?),
        None => None,
    };
    let report = evaluate(&recordings, model.as_ref(), &args.data.eval_options());
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write_report(&mut out, &report)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
