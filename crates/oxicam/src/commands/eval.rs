//! `oxicam eval`: scores the estimator on a data folder in the UW layout, leave-one-subject-out
//! (refitting per fold) or with a fixed model, next to the constant-mean baseline; with
//! `--welltory`, heart rate and heart-rate variability against ECG on many phones too, and the
//! heart-rate ablation.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use oxicam_signal::evaluation::{evaluate, EvalOptions, EvalReport, Recording, Spo2Scores};
use oxicam_signal::heart_rate::evaluation::{
    ablation_steps, evaluate_beat_referenced, oximeter_heart_rate, BeatReferenced, HeartRateEval,
    ScoredWindow,
};
use oxicam_signal::heart_rate::hrv::BeatTiming;
use oxicam_signal::heart_rate::hrv_evaluation::{
    evaluate_hrv, leave_one_out_choice, HrvErrors, HrvEval,
};
use oxicam_signal::heart_rate::HeartRateOptions;
use oxicam_signal::spo2::training::{Family, Regressor};
use oxicam_signal::AnalysisOptions;
use oxicam_video::pipeline::load_model;
use serde::Serialize;

use super::data::{load_beat_referenced, load_recordings, DataArgs};

/// Welltory's windows: those of `oxicam analyze` (10 s, hop 2 s).
const BEAT_REFERENCED_HOP_S: f64 = 2.0;

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
    /// SpO2 model families to score leave-one-subject-out (repeatable; the first is the
    /// product's and fills the summary table). Default: every family tried, ridge first.
    #[arg(long = "family", value_enum)]
    pub families: Vec<FamilyArg>,
    /// Also write SVG plots into this folder: a Bland-Altman plot of the answered windows
    /// and one time series per recording (estimate, 90 % interval, reference, screen).
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Also score heart rate against ECG on a Welltory-layout folder (<name>/PPG.csv with
    /// time,R,G,B and <name>/RR.txt), windows as `oxicam analyze` makes them.
    #[arg(long)]
    pub welltory: Option<PathBuf>,
    /// Write every heart-rate window of both sets (reference, estimate) to this CSV: the
    /// windows `bench/peers.sh` runs the other tools on.
    #[arg(long)]
    pub windows_csv: Option<PathBuf>,
    /// Print the heart-rate ablation (the path built up part by part) on both sets.
    #[arg(long)]
    pub ablation: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FamilyArg {
    Ridge,
    BoostedTrees,
}

impl From<FamilyArg> for Family {
    fn from(f: FamilyArg) -> Self {
        match f {
            FamilyArg::Ridge => Family::Ridge,
            FamilyArg::BoostedTrees => Family::BoostedTrees,
        }
    }
}

/// Heart rate of one configuration on both sets.
#[derive(Debug, Serialize)]
pub struct AblationRow {
    pub step: String,
    pub shared: HeartRateEval,
    pub welltory: Option<HeartRateEval>,
}

/// HRV against ECG: the product's timing, every timing, and the timing chosen
/// leave-one-recording-out.
#[derive(Debug, Serialize)]
pub struct WelltoryHrv {
    pub product: HrvEval,
    pub by_timing: Vec<HrvEval>,
    pub leave_one_out: HrvEval,
}

/// What `eval --json` prints: the UW report's keys, plus the optional sections.
#[derive(Debug, Serialize)]
struct FullReport<'a> {
    #[serde(flatten)]
    shared: &'a EvalReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    welltory: Option<&'a HeartRateEval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    welltory_hrv: Option<&'a WelltoryHrv>,
    #[serde(skip_serializing_if = "<[AblationRow]>::is_empty")]
    ablation: &'a [AblationRow],
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
    let sp = &r.spo2;
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
        ("SpO2 MAE (%)".into(), num(sp.mae), num(sp.baseline_mae)),
        ("SpO2 RMSE (%)".into(), num(sp.rmse), num(sp.baseline_rmse)),
        ("SpO2 bias (%)".into(), num(sp.bias), num(sp.baseline_bias)),
    ];
    rows.extend(sp.arms_by_band.iter().map(|b| {
        (
            format!("Arms {} % (n={})", b.band, b.windows),
            num(b.arms),
            num(b.baseline_arms),
        )
    }));
    rows.extend([
        (
            "sensitivity SpO2 < 90 %".into(),
            pct(sp.sensitivity_below_90),
            pct(sp.baseline_sensitivity_below_90),
        ),
        (
            "specificity SpO2 < 90 %".into(),
            pct(sp.specificity_below_90),
            pct(sp.baseline_specificity_below_90),
        ),
        (
            format!(
                "screen < 90 %: sensitivity (n={})",
                sp.screen.decided_below_90
            ),
            pct(sp.screen.sensitivity),
            pct(sp.baseline_screen.sensitivity),
        ),
        (
            format!(
                "screen < 90 %: specificity (n={})",
                sp.screen.decided_at_or_above_90
            ),
            pct(sp.screen.specificity),
            pct(sp.baseline_screen.specificity),
        ),
        (
            format!("screen: uncertain (of {})", sp.screen.windows),
            pct(sp.screen.uncertain_share),
            pct(sp.baseline_screen.uncertain_share),
        ),
        (
            "coverage (windows with SpO2)".into(),
            pct(Some(sp.coverage)),
            blank(),
        ),
        (
            "90 % interval: coverage".into(),
            pct(sp.interval_coverage),
            blank(),
        ),
        (
            "90 % interval: median width".into(),
            num(sp.interval_median_width),
            blank(),
        ),
        (
            format!(
                "below range (truly < 90 %: {})",
                sp.below_range_truly_below_90
            ),
            sp.below_range.to_string(),
            blank(),
        ),
        (
            "withheld out of domain".into(),
            sp.out_of_domain.to_string(),
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

/// One row of a family's per-fold table.
fn write_spo2_row(
    out: &mut impl Write,
    name: &str,
    s: &Spo2Scores,
    chosen: &str,
) -> std::io::Result<()> {
    let arms = s
        .arms_by_band
        .iter()
        .map(|b| num(b.arms))
        .collect::<Vec<_>>()
        .join("/");
    writeln!(
        out,
        "{:<8} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6} {:>17} {:>5} {:>4} {:>17}  {}",
        name,
        s.windows,
        pct(Some(s.coverage)),
        num(s.mae),
        num(s.rmse),
        num(s.bias),
        num(s.baseline_mae),
        pct(s.interval_coverage),
        num(s.interval_median_width),
        arms,
        s.below_range,
        s.out_of_domain,
        format!(
            "{}/{}/{}",
            pct(s.screen.sensitivity),
            pct(s.screen.specificity),
            pct(s.screen.uncertain_share)
        ),
        chosen
    )
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
    for f in &r.families {
        writeln!(out)?;
        writeln!(out, "SpO2, family {}: {}", f.family.name(), f.description)?;
        writeln!(
            out,
            "{:<8} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6} {:>17} {:>5} {:>4} {:>17}  chosen inside the fold",
            "fold", "labels", "answer", "MAE", "RMSE", "bias", "const", "in-int", "width",
            "Arms 70/80/90-100", "below", "ood", "screen sens/spec/unc"
        )?;
        for fold in &f.folds {
            let chosen = fold.selection.as_ref().map_or("-".to_string(), |s| {
                format!(
                    "{:?}, context {} s, {}, smoothing {} s, box q {} +{}, half-width {:.1} (inner MAE {}), screen {}",
                    s.candidate.features,
                    s.candidate.context_s,
                    match s.candidate.regressor {
                        Regressor::Ridge { alpha } => format!("alpha {alpha}"),
                        Regressor::BoostedTrees { depth, trees } =>
                            format!("{trees} trees of depth {depth}"),
                    },
                    s.candidate.smoothing_s,
                    s.box_quantile,
                    s.box_margin,
                    s.interval.half_width,
                    num(s.inner_spo2_mae),
                    s.screen.map_or("-".to_string(), |r| format!(
                        "{:.0} % +-{:.1}",
                        100.0 * r.interval.level,
                        r.interval.half_width
                    ))
                )
            });
            write_spo2_row(out, &fold.held_out, &fold.spo2, &chosen)?;
        }
        write_spo2_row(out, "pooled", &f.spo2, "")?;
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

/// Heart rate of one configuration of the path on both sets.
fn heart_rate_scores(
    recordings: &[Recording],
    welltory: &[BeatReferenced],
    eval_opts: &EvalOptions,
    heart_rate: &HeartRateOptions,
) -> (HeartRateEval, Option<HeartRateEval>) {
    let shared = oximeter_heart_rate(
        recordings,
        &EvalOptions {
            heart_rate: heart_rate.clone(),
            ..eval_opts.clone()
        },
    );
    let analysis = AnalysisOptions {
        hop_s: BEAT_REFERENCED_HOP_S,
        heart_rate: heart_rate.clone(),
        ..AnalysisOptions::default()
    };
    let welltory = (!welltory.is_empty()).then(|| evaluate_beat_referenced(welltory, &analysis));
    (shared, welltory)
}

fn hr_line(r: &HeartRateEval) -> String {
    format!(
        "{:>6} bpm {:>7} ({}/{})",
        num(r.heart_rate_mae_bpm),
        pct(Some(r.coverage)),
        r.answered,
        r.windows
    )
}

/// The Welltory section: totals and one line per recording.
pub fn write_beat_referenced(out: &mut impl Write, r: &HeartRateEval) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "heart rate vs ECG (Welltory layout): {} recordings, {} s windows, hop {} s",
        r.recordings, r.window_s, r.hop_s
    )?;
    writeln!(out, "{:<34} {:>12} {:>12}", "metric", "oxicam", "baseline")?;
    writeln!(
        out,
        "{:<34} {:>12} {:>12}",
        "heart rate MAE (bpm)",
        num(r.heart_rate_mae_bpm),
        num(r.baseline_heart_rate_mae_bpm)
    )?;
    writeln!(
        out,
        "{:<34} {:>12}",
        "heart rate RMSE (bpm)",
        num(r.heart_rate_rmse_bpm)
    )?;
    writeln!(
        out,
        "{:<34} {:>12}",
        "heart rate coverage",
        pct(Some(r.coverage))
    )?;
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>10}",
        "recording", "windows", "answered", "HR MAE"
    )?;
    for p in &r.per_recording {
        writeln!(
            out,
            "{:<12} {:>8} {:>8} {:>10}",
            p.recording,
            p.windows,
            p.answered,
            num(p.heart_rate_mae_bpm)
        )?;
    }
    Ok(())
}

/// The HRV table: per recording the phone against the ECG over the same beats, then the median
/// absolute errors over the recordings that qualified; then the errors of each beat timing and
/// of the timing chosen leave-one-recording-out.
pub fn write_hrv(out: &mut impl Write, h: &WelltoryHrv) -> std::io::Result<()> {
    let r = &h.product;
    let f1 = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    writeln!(out)?;
    writeln!(
        out,
        "heart-rate variability vs ECG (same beats, aligned by cross-correlation): phone / ECG"
    )?;
    writeln!(
        out,
        "{:<12} {:>7} {:>7} {:>5} {:>15} {:>15} {:>13} {:>17}  note",
        "recording", "seconds", "lag s", "r", "RMSSD ms", "SDNN ms", "pNN50 %", "mean NN ms"
    )?;
    for p in &r.per_recording {
        let pair = |f: &dyn Fn(&oxicam_signal::report::Hrv) -> f64| {
            format!(
                "{} / {}",
                f1(p.phone.as_ref().map(f)),
                f1(p.ecg.as_ref().map(f))
            )
        };
        writeln!(
            out,
            "{:<12} {:>7.1} {:>7} {:>5} {:>15} {:>15} {:>13} {:>17}  {}",
            p.recording,
            p.phone_seconds,
            p.lag_s
                .map_or_else(|| "-".to_string(), |v| format!("{v:.2}")),
            num(p.correlation),
            pair(&|h| h.rmssd_ms),
            pair(&|h| h.sdnn_ms),
            pair(&|h| h.pnn50_percent),
            pair(&|h| h.mean_nn_ms),
            p.reason
                .map_or(String::new(), |c| format!("no HRV: {}", c.code()))
        )?;
    }
    let pc = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} %"));
    let errors = |e: &HrvErrors| {
        format!(
            "RMSSD {}, SDNN {}, mean NN {}, pNN50 {} points",
            pc(e.rmssd_percent),
            pc(e.sdnn_percent),
            pc(e.mean_nn_percent),
            f1(e.pnn50_points)
        )
    };
    writeln!(
        out,
        "median absolute error over {} of {} recordings: {} (targets 15 %, 10 %, 1 %)",
        r.qualified,
        r.recordings,
        errors(&r.median_absolute_error)
    )?;
    for e in &h.by_timing {
        writeln!(
            out,
            "  beats timed by {:<26} ({} qualified): {}",
            e.timing.map_or("-", |t| t.name()),
            e.qualified,
            errors(&e.median_absolute_error)
        )?;
    }
    let l = &h.leave_one_out;
    writeln!(
        out,
        "  timing chosen leave-one-recording-out   ({} qualified): {}",
        l.qualified,
        errors(&l.median_absolute_error)
    )
}

fn write_ablation(out: &mut impl Write, rows: &[AblationRow]) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "heart-rate ablation: MAE, coverage (answered/windows)")?;
    writeln!(
        out,
        "{:<38} {:>30} {:>30}",
        "step", "shared subjects (hop 5 s)", "Welltory (hop 2 s)"
    )?;
    for row in rows {
        writeln!(
            out,
            "{:<38} {:>30} {:>30}",
            row.step,
            hr_line(&row.shared),
            row.welltory.as_ref().map_or("-".to_string(), hr_line)
        )?;
    }
    Ok(())
}

/// The heart-rate windows of both sets as CSV (`set,subject,hand,start_s,end_s,reference_bpm,
/// oxicam_bpm`; empty cells for no reference / refused).
fn write_windows_csv(
    path: &std::path::Path,
    sets: &[(&str, &[ScoredWindow])],
) -> anyhow::Result<()> {
    let cell = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let mut text = String::from("set,subject,hand,start_s,end_s,reference_bpm,oxicam_bpm\n");
    for (set, windows) in sets {
        for w in windows.iter() {
            text += &format!(
                "{set},{},{},{:.3},{:.3},{},{}\n",
                w.recording,
                if w.hand.is_empty() { "-" } else { &w.hand },
                w.start_s,
                w.end_s,
                cell(w.reference_bpm),
                cell(w.estimate_bpm)
            );
        }
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let recordings = load_recordings(&args.data)?;
    let welltory = match &args.welltory {
        Some(dir) => load_beat_referenced(dir)?,
        None => Vec::new(),
    };
    let model = match &args.model {
        Some(path) => Some(load_model(Some(path))?),
        None => None,
    };
    let mut eval_opts = args.data.eval_options();
    eval_opts.families = if args.families.is_empty() {
        vec![Family::Ridge, Family::BoostedTrees]
    } else {
        args.families.iter().map(|&f| f.into()).collect()
    };
    let report = evaluate(&recordings, model.as_ref(), &eval_opts);
    let (shared_hr, welltory_hr) = if args.windows_csv.is_some() || !welltory.is_empty() {
        heart_rate_scores(
            &recordings,
            &welltory,
            &eval_opts,
            &HeartRateOptions::default(),
        )
    } else {
        (HeartRateEval::default(), None)
    };
    if let Some(path) = &args.windows_csv {
        let mut sets = vec![("uw", shared_hr.scored.as_slice())];
        if let Some(w) = &welltory_hr {
            sets.push(("welltory", w.scored.as_slice()));
        }
        write_windows_csv(path, &sets)?;
    }
    let ablation: Vec<AblationRow> = if args.ablation {
        ablation_steps()
            .into_iter()
            .map(|(step, hr)| {
                let (shared, welltory) = heart_rate_scores(&recordings, &welltory, &eval_opts, &hr);
                AblationRow {
                    step: step.to_string(),
                    shared,
                    welltory,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let welltory_hrv = (!welltory.is_empty()).then(|| {
        let analysis = AnalysisOptions {
            hop_s: BEAT_REFERENCED_HOP_S,
            ..AnalysisOptions::default()
        };
        let by_timing: Vec<HrvEval> = BeatTiming::ALL
            .iter()
            .map(|&t| evaluate_hrv(&welltory, &analysis, t))
            .collect();
        WelltoryHrv {
            product: by_timing
                .iter()
                .find(|e| e.timing == Some(BeatTiming::default()))
                .cloned()
                .unwrap_or_default(),
            leave_one_out: leave_one_out_choice(&by_timing),
            by_timing,
        }
    });
    let mut out = std::io::stdout().lock();
    if args.json {
        let full = FullReport {
            shared: &report,
            welltory: welltory_hr.as_ref(),
            welltory_hrv: welltory_hrv.as_ref(),
            ablation: &ablation,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&full)?)?;
    } else {
        write_report(&mut out, &report)?;
        if let Some(w) = &welltory_hr {
            write_beat_referenced(&mut out, w)?;
        }
        if let Some(h) = &welltory_hrv {
            write_hrv(&mut out, h)?;
        }
        if !ablation.is_empty() {
            write_ablation(&mut out, &ablation)?;
        }
    }
    out.flush()?;
    if let Some(dir) = &args.plot {
        for file in super::plot::write_plots(dir, &report)? {
            eprintln!("wrote {}", file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
