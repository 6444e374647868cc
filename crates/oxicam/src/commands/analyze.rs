//! `oxicam analyze`: heart rate, SpO2 and the quality verdict for one video or trace CSV,
//! as text tables or one JSON object; unusable input exits non-zero with a one-line reason.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use oxicam_signal::dataset::parse_trace_csv;
use oxicam_signal::{AnalysisOptions, Channel, Hypoxaemia, Report, Spo2Status, Trace};
use oxicam_video::pipeline::{analyze_trace, analyze_video, load_model, PipelineOptions};
use oxicam_video::DecodeOptions;

/// Exit code for a recording that was read but is unusable (refused with reasons).
const EXIT_UNUSABLE: u8 = 2;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A fingertip video, or a trace CSV: `R,G,B` rows at --fps, or rows with their own times
    /// (`time_ms,R,G,B`, `t,R,G,B` in seconds, or `time,R,G,B` in ms as Welltory writes).
    pub file: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// SpO2 model file (default: the model built into the binary).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Frame rate of a trace CSV.
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Seconds between window starts.
    #[arg(long, default_value_t = AnalysisOptions::default().hop_s)]
    pub hop: f64,
}

fn is_trace_csv(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

fn read_trace_csv(args: &Args) -> anyhow::Result<Trace> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let table = parse_trace_csv(&text).with_context(|| args.file.display().to_string())?;
    anyhow::ensure!(args.fps > 0.0, "--fps must be positive");
    Ok(table.into_trace(args.fps))
}

/// A decoding progress bar, on a terminal only.
fn progress_bar() -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("decoding {bar:30} {pos}/{len} s")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    })
}

fn names(channels: &[Channel]) -> String {
    let names: Vec<&str> = channels.iter().map(|c| c.name()).collect();
    names.join(", ")
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}{unit}"))
}

fn write_human(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    writeln!(out, "heart rate   {}", opt(r.heart_rate_bpm, " bpm"))?;
    let spo2 = match (r.spo2_status, r.spo2_interval_percent) {
        (Spo2Status::Estimated, Some([lo, hi])) => format!(
            "{}, 90 % interval {lo:.1}-{hi:.1} %",
            opt(r.spo2_percent, " %")
        ),
        (Spo2Status::BelowRange, Some([_, hi])) => {
            format!("below the range the model knows (90 % interval up to {hi:.1} %)")
        }
        (Spo2Status::OutOfDomain, _) => "withheld (outside the model's domain)".to_string(),
        _ => "-".to_string(),
    };
    writeln!(out, "SpO2         {spo2}   (model {})", r.model.version)?;
    if let Some(h) = r.hypoxaemia {
        let verdict = match h {
            Hypoxaemia::Likely => {
                "likely (SpO2 < 90 %): repeat, and see a clinician if it persists"
            }
            Hypoxaemia::Unlikely => "unlikely (SpO2 >= 90 %)",
            Hypoxaemia::Uncertain => {
                "uncertain: the recording cannot tell whether SpO2 is below 90 %"
            }
        };
        writeln!(out, "hypoxaemia   {verdict}")?;
    }
    writeln!(
        out,
        "confidence   {:.2} (signal quality: share of the recording that passed the checks)",
        r.confidence
    )?;
    writeln!(
        out,
        "verdict      {}",
        if r.usable { "usable" } else { "UNUSABLE" }
    )?;
    for reason in &r.quality.reasons {
        writeln!(out, "  - {}: {}", reason.code, reason.message)?;
    }
    if let Some(ch) = &r.channels.heart_rate {
        let excluded = if r.channels.excluded.is_empty() {
            String::new()
        } else {
            format!("; out of range: {}", names(&r.channels.excluded))
        };
        writeln!(
            out,
            "channels     pulse from {ch}; SpO2 from {}{excluded}",
            names(&r.channels.in_range)
        )?;
    }
    if let Some(pi) = r.perfusion_index {
        writeln!(out, "perfusion    {pi:.2} %")?;
    }
    if let Some(v) = &r.video {
        writeln!(
            out,
            "video        {} in {}, {}x{}, {} frames, {:.1} s{}",
            v.codec,
            v.container,
            v.width,
            v.height,
            v.frame_count,
            v.duration_s,
            if v.truncated { " (truncated)" } else { "" }
        )?;
    }
    if !r.windows.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:>7} {:>7} {:>7} {:>6} {:>7} {:>6}  status",
            "start", "end", "HR", "SpO2", "SNR dB", "chan"
        )?;
        for w in &r.windows {
            writeln!(
                out,
                "{:>7.1} {:>7.1} {:>7} {:>6} {:>7} {:>6}  {}",
                w.start_s,
                w.end_s,
                opt(w.heart_rate_bpm, ""),
                match w.spo2_status {
                    Spo2Status::BelowRange => "<range".to_string(),
                    _ => opt(w.spo2_percent, ""),
                },
                opt(w.snr_db, ""),
                w.channel.map_or("-", |c| c.name()),
                if w.reasons.is_empty() {
                    "ok".to_string()
                } else {
                    let codes: Vec<&str> = w.reasons.iter().map(|g| g.code()).collect();
                    codes.join(",")
                }
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", r.notice)?;
    Ok(())
}

/// Reads the file and analyses it: the report `run` prints.
pub fn analyze_file(args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.hop > 0.0, "--hop must be positive");
    let model = load_model(args.model.as_deref())?;
    let analysis = AnalysisOptions {
        hop_s: args.hop,
        ..AnalysisOptions::default()
    };
    if is_trace_csv(&args.file) {
        let trace = read_trace_csv(args)?;
        return Ok(analyze_trace(&trace, None, &model, &analysis));
    }
    let bar = progress_bar();
    let mut decode = DecodeOptions::default();
    if let Some(bar) = &bar {
        let bar = bar.clone();
        decode.progress = Some(Arc::new(move |done: f64, total: Option<f64>| {
            if let Some(total) = total {
                bar.set_length(total.ceil() as u64);
            }
            bar.set_position(done as u64);
        }));
    }
    let report = analyze_video(&args.file, &model, &PipelineOptions { decode, analysis });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.with_context(|| format!("cannot analyze {}", args.file.display()))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = analyze_file(&args)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write_human(&mut out, &report)?;
    }
    out.flush()?;
    if report.usable {
        return Ok(ExitCode::SUCCESS);
    }
    let first = report.quality.reasons.first();
    eprintln!(
        "oxicam: unusable recording: {}",
        first.map_or("no usable window".to_string(), |r| format!(
            "{} ({})",
            r.message, r.code
        ))
    );
    Ok(ExitCode::from(EXIT_UNUSABLE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxicam_signal::Gate;
    use oxicam_video::synth::{
        embedded_trace, render, Codec, SynthOptions, EMBEDDED_TRACE_HEART_RATE_BPM,
    };

    fn args(file: PathBuf) -> Args {
        Args {
            file,
            json: false,
            model: None,
            fps: 30.0,
            hop: 2.0,
        }
    }

    #[test]
    fn synthesised_vfr_video_gives_the_known_heart_rate() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = SynthOptions::new(embedded_trace(), dir.path().join("clip.mp4"));
        opts.width = 160;
        opts.height = 120;
        opts.vfr = true;
        opts.codec = Codec::H264;
        opts.seconds = Some(25.0);
        render(&opts).unwrap();
        let report = analyze_file(&args(opts.out.clone())).unwrap();
        assert!(report.usable, "{:?}", report.quality.reasons);
        let hr = report.heart_rate_bpm.unwrap();
        assert!((hr - EMBEDDED_TRACE_HEART_RATE_BPM).abs() < 1.5, "{hr}");
        assert!(report.video.as_ref().is_some_and(|v| v.codec == "h264"));
        assert!(report.spo2_percent.is_some());
    }

    #[test]
    fn trace_csv_and_unusable_input() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("trace.csv");
        oxicam_testkit::fixtures::write_embedded_trace_csv(&csv);
        let report = analyze_file(&args(csv)).unwrap();
        assert!(report.usable && report.video.is_none());
        assert!((report.heart_rate_bpm.unwrap() - EMBEDDED_TRACE_HEART_RATE_BPM).abs() < 1.5);

        let short = dir.path().join("short.csv");
        std::fs::write(&short, "R,G,B\n200,60,40\n201,61,41\n").unwrap();
        let report = analyze_file(&args(short.clone())).unwrap();
        assert!(!report.usable);
        assert_eq!(report.quality.reasons[0].code, Gate::TooShort);
        assert_eq!(run(args(short)).unwrap(), ExitCode::from(EXIT_UNUSABLE));

        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "R,G,B\n1,2\n").unwrap();
        let err = analyze_file(&args(bad.clone())).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        std::fs::write(&bad, "time_ms,R,G,B\n0,1,2,3\n0,1,2,3\n").unwrap();
        let err = analyze_file(&args(bad)).unwrap_err();
        assert!(format!("{err:#}").contains("does not advance"), "{err:#}");
    }

    #[test]
    fn timed_trace_csv_with_jitter_and_a_gap() {
        // The embedded trace as a phone app writes it: capture times in ms, 20-47 ms apart
        // (every frame kept, its time jittered), and 0.6 s of frames lost at 20 s.
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("timed.csv");
        let mut text = String::from("time,R,G,B\n");
        let mut seed = 7u64;
        for (i, [r, g, b]) in embedded_trace().iter().enumerate() {
            let t = i as f64 / 30.0;
            if (20.0..20.6).contains(&t) {
                continue;
            }
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let jitter_ms = ((seed >> 33) % 11) as f64 - 5.0;
            text += &format!("{:.0},{r},{g},{b}\n", t * 1000.0 + jitter_ms);
        }
        std::fs::write(&csv, text).unwrap();
        let report = analyze_file(&args(csv)).unwrap();
        assert!(report.usable, "{:?}", report.quality.reasons);
        let hr = report.heart_rate_bpm.unwrap();
        assert!((hr - EMBEDDED_TRACE_HEART_RATE_BPM).abs() < 1.5, "{hr}");
        // The gap is cut out like motion: the windows over it say so.
        let over_gap = report
            .windows
            .iter()
            .find(|w| w.start_s <= 19.0 && w.end_s >= 22.0)
            .unwrap();
        assert!(over_gap.motion_share.unwrap() > 0.05, "{over_gap:?}");
    }
}
