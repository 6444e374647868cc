//! The data folders `eval` and `train` read: a UW-layout folder of trace CSVs and reference
//! CSVs (with the flags that say how labels pair with the video), and a Welltory-layout folder
//! of timed trace CSVs with ECG RR intervals.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

use oxicam_signal::dataset::{
    parse_reference_csv, parse_rgb_csv, parse_rr_intervals, parse_trace_csv, LabelSource,
};
use oxicam_signal::evaluation::{EvalOptions, Recording};
use oxicam_signal::heart_rate::evaluation::BeatReferenced;

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

/// Loads a Welltory-layout folder: `subject_NN/PPG.csv` (`time,R,G,B`, ms) and
/// `subject_NN/RR.txt` (ECG RR intervals, ms), under `dir` or `dir/data`, sorted by name.
pub fn load_beat_referenced(dir: &Path) -> anyhow::Result<Vec<BeatReferenced>> {
    let root = if dir.join("data").is_dir() {
        dir.join("data")
    } else {
        dir.to_path_buf()
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))? {
        let rec = entry?.path();
        let (ppg, rr) = (rec.join("PPG.csv"), rec.join("RR.txt"));
        if !(ppg.is_file() && rr.is_file()) {
            continue;
        }
        let table = parse_trace_csv(&read(&ppg)?).with_context(|| ppg.display().to_string())?;
        if table.times_s.is_none() {
            bail!("{}: no time column (expected time,R,G,B)", ppg.display());
        }
        out.push(BeatReferenced {
            name: file_name(&rec),
            trace: table.into_trace(30.0),
            rr_s: parse_rr_intervals(&read(&rr)?).with_context(|| rr.display().to_string())?,
        });
    }
    if out.is_empty() {
        bail!(
            "no recordings (<name>/PPG.csv with <name>/RR.txt) under {}",
            root.display()
        );
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
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
