//! `oxicam eval`: scores the estimator on a data folder in the UW layout, leave-one-subject-out
//! (refitting per fold) or with a fixed model, next to the constant-mean baseline.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use oxicam_signal::dataset::{parse_reference_csv, parse_rgb_csv, LabelSource};
use oxicam_signal::evaluation::{evaluate, EvalOptions, EvalReport, Recording};
use oxicam_signal::Spo2Model;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum Label {
    /// Reference oximeter 4 (Nellcor N-600X), as the study did.
    #[default]
    Spo24,
    /// Mean of the four reference oximeters.
    Mean,
}

impl From<Label> for LabelSource {
    fn from(l: Label) -> Self {
        match l {
            Label::Spo24 => LabelSource::Oximeter4,
            Label::Mean => LabelSource::MeanOfFour,
        }
    }
}

/// Options shared by `eval` and `train`: where the data is and how labels pair with video.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Folder laid out like uw-phone-oximetry: ppg/{Left,Right}/<id>.csv, reference/<id>.csv.
    #[arg(long)]
    pub data: PathBuf,
    /// Seconds the reference trails the video (video second k <-> reference row k + lag).
    #[arg(long, default_value_t = 7.0)]
    pub lag: f64,
    /// Which reference readings are the labels.
    #[arg(long, value_enum, default_value_t = Label::Spo24)]
    pub label: Label,
    /// Frame rate of the trace CSVs.
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
}

impl DataArgs {
    pub fn eval_options(&self) -> EvalOptions {
        EvalOptions {
            lag_s: self.lag,
            label_source: self.label.into(),
            ..EvalOptions::default()
        }
    }
}

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

/// Loads every recording of a UW-layout folder, sorted by subject then hand.
pub fn load_recordings(data: &DataArgs) -> anyhow::Result<Vec<Recording>> {
    let dir = &data.data;
    let ppg = dir.join("ppg");
    if !ppg.is_dir() {
        bail!(
            "{} has no ppg/ folder (expected ppg/Left, ppg/Right, reference/)",
            dir.display()
        );
    }
    let mut out = Vec::new();
    for hand_entry in
        std::fs::read_dir(&ppg).with_context(|| format!("reading {}", ppg.display()))?
    {
        let hand_dir = hand_entry?.path();
        if !hand_dir.is_dir() {
            continue;
        }
        let hand = file_name(&hand_dir);
        for file in std::fs::read_dir(&hand_dir)? {
            let path = file?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("csv") {
                continue;
            }
            let subject = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let ref_path = dir.join("reference").join(format!("{subject}.csv"));
            let rgb = parse_rgb_csv(&read(&path)?).with_context(|| path.display().to_string())?;
            let reference = parse_reference_csv(&read(&ref_path)?, data.label.into())
                .with_context(|| ref_path.display().to_string())?;
            out.push(Recording {
                subject,
                hand: hand.clone(),
                rgb,
                fps: data.fps,
                reference,
            });
        }
    }
    if out.is_empty() {
        bail!("no trace CSVs found under {}", ppg.display());
    }
    out.sort_by(|a, b| (&a.subject, &a.hand).cmp(&(&b.subject, &b.hand)));
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string()
}

fn read(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

fn num(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}{unit}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1} %", 100.0 * v))
}

/// Human-readable tables of an evaluation.
pub fn print_report(r: &EvalReport) {
    println!(
        "mode: {}{}   subjects: {}   label: {} (lag {} s)   windows: {} s, hop {} s",
        r.mode,
        r.model_version
            .as_ref()
            .map_or(String::new(), |v| format!(" ({v})")),
        r.subjects.join(", "),
        r.label_source,
        r.lag_s,
        r.window_s,
        r.hop_s
    );
    println!();
    println!("{:<34} {:>12} {:>12}", "metric", "model", "baseline");
    let row = |name: &str, a: String, b: String| println!("{name:<34} {a:>12} {b:>12}");
    row(
        "heart rate MAE (bpm)",
        num(r.heart_rate_mae_bpm, ""),
        num(r.baseline_heart_rate_mae_bpm, ""),
    );
    row(
        "heart rate RMSE (bpm)",
        num(r.heart_rate_rmse_bpm, ""),
        "".into(),
    );
    row(
        "heart rate coverage",
        pct(Some(r.heart_rate_coverage)),
        "".into(),
    );
    row(
        "SpO2 MAE (%)",
        num(r.spo2_mae, ""),
        num(r.baseline_spo2_mae, ""),
    );
    row(
        "SpO2 RMSE (%)",
        num(r.spo2_rmse, ""),
        num(r.baseline_spo2_rmse, ""),
    );
    row(
        "SpO2 bias (%)",
        num(r.spo2_bias, ""),
        num(r.baseline_spo2_bias, ""),
    );
    for b in &r.arms_by_band {
        row(
            &format!("Arms {} % (n={})", b.band, b.windows),
            num(b.arms, ""),
            num(b.baseline_arms, ""),
        );
    }
    row(
        "sensitivity SpO2 < 90 %",
        pct(r.sensitivity_below_90),
        pct(r.baseline_sensitivity_below_90),
    );
    row(
        "specificity SpO2 < 90 %",
        pct(r.specificity_below_90),
        pct(r.baseline_specificity_below_90),
    );
    row(
        "coverage (windows with SpO2)",
        pct(Some(r.coverage)),
        "".into(),
    );
    let c = &r.calibration;
    row(
        &format!("calibrated SpO2 MAE (n={})", c.windows),
        num(c.spo2_mae_calibrated, ""),
        num(c.baseline_spo2_mae_calibrated, ""),
    );
    row(
        "  same windows, uncalibrated",
        num(c.spo2_mae_uncalibrated, ""),
        "".into(),
    );
    if c.change_model_windows > 0 {
        row(
            &format!("  change-tracking model (n={})", c.change_model_windows),
            num(c.spo2_mae_change_model, ""),
            "".into(),
        );
    }
    for f in &r.folds {
        println!(
            "fold without {}: chose {:?}, alpha {}, smoothing {} s (inner CV SpO2 MAE {})",
            f.held_out,
            f.candidate.feature_set,
            f.candidate.alpha,
            f.candidate.smoothing_s,
            num(f.inner_spo2_mae, "")
        );
    }
    println!();
    println!(
        "{:<8} {:<6} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "subject", "hand", "windows", "answered", "HR MAE", "SpO2 MAE", "bias", "baseline"
    );
    for p in &r.per_recording {
        println!(
            "{:<8} {:<6} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10}",
            p.subject,
            p.hand,
            p.windows,
            p.answered,
            num(p.heart_rate_mae_bpm, ""),
            num(p.spo2_mae, ""),
            num(p.spo2_bias, ""),
            num(p.baseline_spo2_mae, "")
        );
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let recordings = load_recordings(&args.data)?;
    let model = args
        .model
        .as_deref()
        .map(Spo2Model::from_path)
        .transpose()?;
    let report = evaluate(&recordings, model.as_ref(), &args.data.eval_options());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}
