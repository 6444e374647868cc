//! `oxicam eval --plot DIR`: SVG pictures of an evaluation, a Bland-Altman plot of the answered
//! windows and one time series per recording (estimate, its 90 % interval, the reference).

use anyhow::Context;
use std::path::{Path, PathBuf};

use oxicam_signal::evaluation::{EvalReport, RecordingScore};
use oxicam_signal::{Hypoxaemia, Spo2Status};
use plotters::prelude::*;

const SIZE: (u32, u32) = (900, 420);
const ESTIMATE: RGBColor = RGBColor(0x1f, 0x5f, 0xbf);
const BAND: RGBColor = RGBColor(0x9f, 0xbf, 0xef);
const REFERENCE: RGBColor = RGBColor(0x20, 0x20, 0x20);
const LIKELY: RGBColor = RGBColor(0xc0, 0x30, 0x30);
const UNLIKELY: RGBColor = RGBColor(0x20, 0x90, 0x50);

fn plot_error<E: std::error::Error + Send + Sync + 'static>(
    path: &Path,
) -> impl FnOnce(DrawingAreaErrorKind<E>) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("drawing {}: {e}", path.display())
}

/// Writes `bland-altman.svg` and `series-<subject>-<hand>.svg` into `dir` (created if
/// missing); returns the files written.
pub fn write_plots(dir: &Path, report: &EvalReport) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = vec![bland_altman(&dir.join("bland-altman.svg"), report)?];
    for rec in &report.per_recording {
        let name = format!("series-{}-{}.svg", rec.subject, rec.hand.to_lowercase());
        written.push(series(&dir.join(name), rec)?);
    }
    Ok(written)
}

/// Mean of estimate and reference against their difference, with the bias and the 95 % limits
/// of agreement (bias +- 1.96 SD).
fn bland_altman(path: &Path, report: &EvalReport) -> anyhow::Result<PathBuf> {
    let pairs: Vec<(f64, f64)> = report
        .per_recording
        .iter()
        .flat_map(|r| r.series.iter())
        .filter_map(|w| Some((w.answer.percent?, w.label)))
        .map(|(p, y)| ((p + y) / 2.0, p - y))
        .collect();
    anyhow::ensure!(!pairs.is_empty(), "no answered windows to plot");
    let n = pairs.len() as f64;
    let bias = pairs.iter().map(|(_, d)| d).sum::<f64>() / n;
    let sd =
        (pairs.iter().map(|(_, d)| (d - bias).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let (lo, hi) = (bias - 1.96 * sd, bias + 1.96 * sd);
    let dmax = pairs
        .iter()
        .map(|(_, d)| d.abs())
        .fold(hi.abs().max(lo.abs()), f64::max)
        .ceil()
        + 1.0;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error(path))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "SpO2 Bland-Altman, leave-one-subject-out ({} windows): bias {bias:+.2}, \
                 limits {lo:+.1} / {hi:+.1}",
                pairs.len()
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(65.0..101.0, -dmax..dmax)
        .map_err(plot_error(path))?;
    chart
        .configure_mesh()
        .x_desc("mean of estimate and reference (%)")
        .y_desc("estimate - reference (points)")
        .draw()
        .map_err(plot_error(path))?;
    chart
        .draw_series(
            pairs
                .iter()
                .map(|&(m, d)| Circle::new((m, d), 2, ESTIMATE.mix(0.35).filled())),
        )
        .map_err(plot_error(path))?;
    for (y, style) in [
        (bias, REFERENCE.stroke_width(2)),
        (lo, LIKELY.stroke_width(1)),
        (hi, LIKELY.stroke_width(1)),
    ] {
        chart
            .draw_series(LineSeries::new([(65.0, y), (101.0, y)], style))
            .map_err(plot_error(path))?;
    }
    root.present().map_err(plot_error(path))?;
    Ok(path.to_path_buf())
}

/// One recording over time: the 90 % interval as a band, the estimate, the reference, and the
/// screen's verdict as a mark under each screened window (red likely, green unlikely, grey
/// uncertain).
fn series(path: &Path, rec: &RecordingScore) -> anyhow::Result<PathBuf> {
    let t_end = rec.series.iter().map(|w| w.centre_s).fold(10.0, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error(path))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "subject {} {} hand: estimate with 90 % interval (blue), reference (black), \
                 screen (marks)",
                rec.subject,
                rec.hand.to_lowercase()
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..t_end, 60.0..101.0)
        .map_err(plot_error(path))?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("SpO2 (%)")
        .draw()
        .map_err(plot_error(path))?;
    // The interval as one thin bar per window: gaps stay visible where nothing was answered.
    chart
        .draw_series(rec.series.iter().filter_map(|w| {
            let [lo, hi] = w.answer.interval?;
            Some(Rectangle::new(
                [(w.centre_s - 2.5, lo.max(60.0)), (w.centre_s + 2.5, hi)],
                BAND.mix(0.6).filled(),
            ))
        }))
        .map_err(plot_error(path))?;
    for run in runs(rec, |w| w.answer.percent.map(|p| (w.centre_s, p))) {
        chart
            .draw_series(LineSeries::new(run, ESTIMATE.stroke_width(2)))
            .map_err(plot_error(path))?;
    }
    chart
        .draw_series(LineSeries::new(
            rec.series.iter().map(|w| (w.centre_s, w.label)),
            REFERENCE.stroke_width(2),
        ))
        .map_err(plot_error(path))?;
    chart
        .draw_series(rec.series.iter().filter_map(|w| {
            let colour = match w.answer.hypoxaemia? {
                Hypoxaemia::Likely => LIKELY,
                Hypoxaemia::Unlikely => UNLIKELY,
                Hypoxaemia::Uncertain => RGBColor(0xa0, 0xa0, 0xa0),
            };
            Some(Rectangle::new(
                [(w.centre_s - 2.5, 60.5), (w.centre_s + 2.5, 62.0)],
                colour.filled(),
            ))
        }))
        .map_err(plot_error(path))?;
    chart
        .draw_series(
            rec.series
                .iter()
                .filter(|w| w.answer.status == Spo2Status::OutOfDomain)
                .map(|w| Cross::new((w.centre_s, 63.5), 3, REFERENCE.stroke_width(1))),
        )
        .map_err(plot_error(path))?;
    root.present().map_err(plot_error(path))?;
    Ok(path.to_path_buf())
}

/// Consecutive windows that have a value, as separate line runs.
fn runs(
    rec: &RecordingScore,
    value: impl Fn(&oxicam_signal::evaluation::WindowPoint) -> Option<(f64, f64)>,
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for w in &rec.series {
        match value(w) {
            Some(p) => out.last_mut().expect("never empty").push(p),
            None if out.last().is_some_and(|r| !r.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxicam_signal::evaluation::WindowPoint;
    use oxicam_signal::spo2::Spo2Answer;

    fn point(t: f64, label: f64, estimate: Option<f64>) -> WindowPoint {
        let mut answer = Spo2Answer::NONE;
        if let Some(v) = estimate {
            answer = Spo2Answer {
                status: Spo2Status::Estimated,
                estimate: Some(v),
                percent: Some(v),
                interval: Some([v - 5.0, v + 5.0]),
                issue: None,
                hypoxaemia: Some(if v < 85.0 {
                    Hypoxaemia::Likely
                } else {
                    Hypoxaemia::Uncertain
                }),
            };
        }
        WindowPoint {
            centre_s: t,
            label,
            answer,
        }
    }

    #[test]
    fn plots_are_svg_files_with_the_data_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let rec = RecordingScore {
            subject: "100009".into(),
            hand: "Left".into(),
            series: vec![
                point(5.0, 97.0, Some(95.0)),
                point(10.0, 96.0, Some(94.0)),
                point(15.0, 90.0, None),
                point(20.0, 82.0, Some(80.0)),
            ],
            ..RecordingScore::default()
        };
        let report = EvalReport {
            per_recording: vec![rec],
            ..EvalReport::default()
        };
        let files = write_plots(dir.path(), &report).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["bland-altman.svg", "series-100009-left.svg"]);
        let ba = std::fs::read_to_string(&files[0]).unwrap();
        assert!(ba.starts_with("<svg"), "{}", &ba[..80.min(ba.len())]);
        // Three answered windows: three dots, and the bias (-2) in the caption.
        assert_eq!(ba.matches("<circle").count(), 3, "{ba}");
        assert!(ba.contains("bias -2.00"), "{ba}");
        let ts = std::fs::read_to_string(&files[1]).unwrap();
        // The unanswered window splits the estimate into two runs; three interval bars.
        assert!(ts.contains("subject 100009 left hand"));
        assert_eq!(
            runs(&report.per_recording[0], |w| w
                .answer
                .percent
                .map(|p| (w.centre_s, p)))
            .len(),
            2
        );
        assert!(ts.matches("<rect").count() >= 3 + 3, "{ts}");
        // An evaluation without answers is an error, not an empty picture.
        let empty = EvalReport::default();
        assert!(write_plots(dir.path(), &empty).is_err());
    }
}
