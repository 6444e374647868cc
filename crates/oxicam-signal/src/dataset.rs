//! Parsers for trace CSVs (fixed-rate `R,G,B`, or timed `time_ms,R,G,B` / `t,R,G,B` /
//! `time,R,G,B`), the UW reference CSVs (BOM, missing `Time` header, `Collection Halted`) and
//! RR-interval files, on text the caller has read.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum DatasetError {
    #[error("trace CSV: {0}")]
    Trace(String),
    #[error("reference CSV: {0}")]
    Reference(String),
    #[error("RR intervals: {0}")]
    Rr(String),
}

/// Which reference column(s) give the labels. Serialised as its [`name`](LabelSource::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LabelSource {
    /// Oximeter 4 (Nellcor N-600X), the study's own choice.
    #[default]
    #[serde(rename = "SpO2 4")]
    Oximeter4,
    /// Mean of oximeters 1, 2, 4, 5 (3 is unused).
    #[serde(rename = "mean of SpO2 1, 2, 4, 5")]
    MeanOfFour,
}

impl LabelSource {
    pub fn name(self) -> &'static str {
        match self {
            LabelSource::Oximeter4 => "SpO2 4",
            LabelSource::MeanOfFour => "mean of SpO2 1, 2, 4, 5",
        }
    }

    fn columns(self, kind: &str) -> Vec<String> {
        let ids: &[u8] = match self {
            LabelSource::Oximeter4 => &[4],
            LabelSource::MeanOfFour => &[1, 2, 4, 5],
        };
        ids.iter().map(|i| format!("{kind} {i}")).collect()
    }
}

impl std::fmt::Display for LabelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a fixed-rate trace CSV: header `R,G,B` (optional, case-insensitive, BOM tolerated),
/// then one row of three numbers per frame. Blank lines are skipped. A CSV with a time column
/// is refused here (see [`parse_trace_csv`]).
pub fn parse_rgb_csv(text: &str) -> Result<Vec<[f64; 3]>, DatasetError> {
    let table = parse_trace_csv(text)?;
    if table.times_s.is_some() {
        return Err(DatasetError::Trace(
            "this trace has a time column; fixed-rate R,G,B rows are needed here".into(),
        ));
    }
    Ok(table.rgb)
}

/// The time column of a timed trace CSV and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Milliseconds,
    Seconds,
}

impl TimeUnit {
    /// The unit a time column header names: `time_ms`, `time`, `timestamp_ms`, `timestamp`
    /// (Welltory and most phone apps write milliseconds); `t`, `t_s`, `time_s`, `seconds`.
    fn of_header(name: &str) -> Option<TimeUnit> {
        match name.to_ascii_lowercase().as_str() {
            "time_ms" | "time" | "timestamp_ms" | "timestamp" | "t_ms" => {
                Some(TimeUnit::Milliseconds)
            }
            "t" | "t_s" | "time_s" | "seconds" => Some(TimeUnit::Seconds),
            _ => None,
        }
    }

    fn seconds(self, v: f64) -> f64 {
        match self {
            TimeUnit::Milliseconds => v / 1000.0,
            TimeUnit::Seconds => v,
        }
    }
}

/// A trace CSV: per-frame R, G, B and, for the timed form, each frame's time (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceTable {
    pub times_s: Option<Vec<f64>>,
    pub rgb: Vec<[f64; 3]>,
}

impl TraceTable {
    /// The trace: real timestamps when the file has them, else `fps` frames per second.
    pub fn into_trace(self, fps: f64) -> crate::Trace {
        match self.times_s {
            Some(times) => crate::Trace::from_timed_rows(&times, &self.rgb),
            None => crate::Trace::from_rgb_rows(&self.rgb, fps),
        }
    }
}

/// Parses a trace CSV in either form: `R,G,B` (header optional) at a fixed rate, or a header
/// naming a time column first (`time_ms,R,G,B`, `t,R,G,B`, Welltory's `time,R,G,B` in ms) with
/// one row per frame. Timed rows may jitter, repeat or skip (gaps); times must be finite and
/// must not all be equal. A BOM, blank lines and extra trailing columns are tolerated.
pub fn parse_trace_csv(text: &str) -> Result<TraceTable, DatasetError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((_, first)) = lines.clone().next() else {
        return Err(DatasetError::Trace("no data rows".into()));
    };
    let header: Vec<&str> = first.split(',').map(str::trim).collect();
    let has_header = header.iter().any(|c| c.parse::<f64>().is_err());
    let time_unit = if has_header {
        lines.next();
        let upper: Vec<String> = header.iter().map(|c| c.to_ascii_uppercase()).collect();
        if upper.len() >= 3 && upper[..3] == ["R", "G", "B"] {
            None
        } else if let (Some(unit), true) = (
            TimeUnit::of_header(header[0]),
            upper.len() >= 4 && upper[1..4] == ["R", "G", "B"],
        ) {
            Some(unit)
        } else {
            return Err(DatasetError::Trace(format!(
                "expected a header R,G,B or time_ms,R,G,B (also t,R,G,B in seconds, time,R,G,B \
                 in ms), found {first:?}"
            )));
        }
    } else {
        if header.len() >= 4 {
            return Err(DatasetError::Trace(format!(
                "{} columns without a header: name them (R,G,B or time_ms,R,G,B)",
                header.len()
            )));
        }
        None
    };
    let columns = if time_unit.is_some() { 4 } else { 3 };
    let mut rgb = Vec::new();
    let mut times = Vec::new();
    for (line_no, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() < columns {
            return Err(DatasetError::Trace(format!(
                "line {line_no}: expected {columns} values, found {}",
                cells.len()
            )));
        }
        let mut values = [0.0; 4];
        for (k, cell) in cells[..columns].iter().enumerate() {
            values[k] = cell
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    DatasetError::Trace(format!("line {line_no}: {cell:?} is not a number"))
                })?;
        }
        match time_unit {
            Some(unit) => {
                times.push(unit.seconds(values[0]));
                rgb.push([values[1], values[2], values[3]]);
            }
            None => rgb.push([values[0], values[1], values[2]]),
        }
    }
    if rgb.is_empty() {
        return Err(DatasetError::Trace("no data rows".into()));
    }
    if time_unit.is_some() {
        let (lo, hi) = times
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        if rgb.len() > 1 && hi <= lo {
            return Err(DatasetError::Trace(
                "every row has the same time: the time column does not advance".into(),
            ));
        }
    }
    Ok(TraceTable {
        times_s: time_unit.map(|_| times),
        rgb,
    })
}

/// Parses RR intervals (ms; whitespace- or comma-separated, e.g. a Polar H10 export) into
/// seconds. Zero, negative or absurd (> 3 s) intervals are errors, not beats.
pub fn parse_rr_intervals(text: &str) -> Result<Vec<f64>, DatasetError> {
    let mut out = Vec::new();
    for token in text
        .trim_start_matches('\u{feff}')
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        let ms: f64 = token
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0 && *v <= 3000.0)
            .ok_or_else(|| DatasetError::Rr(format!("{token:?} is not an RR interval in ms")))?;
        out.push(ms / 1000.0);
    }
    if out.len() < 2 {
        return Err(DatasetError::Rr("fewer than two RR intervals".into()));
    }
    Ok(out)
}

/// Per-second reference readings (row k = second k of the reference clock).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReferenceSeries {
    pub spo2: Vec<Option<f64>>,
    pub pulse: Vec<Option<f64>>,
}

/// Parses a reference CSV and averages the label columns per row (zeros and blanks are
/// missing readings).
pub fn parse_reference_csv(
    text: &str,
    source: LabelSource,
) -> Result<ReferenceSeries, DatasetError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| DatasetError::Reference("empty file".into()))?
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    let find = |names: Vec<String>| -> Result<Vec<usize>, DatasetError> {
        names
            .iter()
            .map(|n| {
                header
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| DatasetError::Reference(format!("no column {n:?}")))
            })
            .collect()
    };
    let spo2_cols = find(source.columns("SpO2"))?;
    let pulse_cols = find(source.columns("Pulse"))?;
    let mut out = ReferenceSeries::default();
    for line in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        // The recorder's last line is `Collection Halted`; data rows start with a time.
        if cells.first().is_none_or(|c| !c.contains(':')) {
            continue;
        }
        let avg = |cols: &[usize]| {
            let vals: Vec<f64> = cols
                .iter()
                .filter_map(|&i| cells.get(i)?.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect();
            (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
        };
        out.spo2.push(avg(&spo2_cols));
        out.pulse.push(avg(&pulse_cols));
    }
    if out.spo2.is_empty() {
        return Err(DatasetError::Reference("no data rows".into()));
    }
    Ok(out)
}

impl ReferenceSeries {
    /// Mean of the readings paired with video seconds `[start_s, end_s)` when the reference
    /// trails the video by `lag_s` (video second k <-> reference row k + lag).
    pub fn window_mean(
        series: &[Option<f64>],
        start_s: f64,
        end_s: f64,
        lag_s: f64,
    ) -> Option<f64> {
        let first = (start_s + lag_s).floor().max(0.0) as usize;
        let last = ((end_s + lag_s).ceil().max(0.0) as usize).min(series.len());
        let vals: Vec<f64> = series.get(first..last)?.iter().flatten().copied().collect();
        // Half the window without readings: no label rather than a label from a few seconds.
        (vals.len() * 2 >= last.saturating_sub(first).max(1))
            .then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_csv_with_bom_and_header() {
        let rows = parse_rgb_csv("\u{feff}R,G,B\n1,2,3\n\n4.5,5,6\n").unwrap();
        assert_eq!(rows, vec![[1.0, 2.0, 3.0], [4.5, 5.0, 6.0]]);
        assert_eq!(parse_rgb_csv("1,2,3").unwrap().len(), 1);
        assert!(parse_rgb_csv("R,G,B\n1,2\n")
            .unwrap_err()
            .to_string()
            .contains("line 2"));
        assert!(parse_rgb_csv("x,y,z\n1,2,3").is_err());
        assert!(parse_rgb_csv("R,G,B\n1,nan,3").is_err());
        assert!(parse_rgb_csv("R,G,B\n").is_err());
    }

    #[test]
    fn timed_trace_csvs_in_every_spelling() {
        let ms =
            parse_trace_csv("time,R,G,B\n0,252.6,0.0,0.01\n39,252.5,0,0\n62,252.2,0,0\n").unwrap();
        assert_eq!(ms.times_s, Some(vec![0.0, 0.039, 0.062]));
        assert_eq!(ms.rgb[1], [252.5, 0.0, 0.0]);
        let ms2 =
            parse_trace_csv("\u{feff}time_ms, R, G, B\n1000,1,2,3\n1033,1,2,3,extra\n").unwrap();
        assert_eq!(ms2.times_s, Some(vec![1.0, 1.033]));
        let s = parse_trace_csv("t,R,G,B\n0.5,1,2,3\n0.533,1,2,3\n").unwrap();
        assert_eq!(s.times_s, Some(vec![0.5, 0.533]));
        let fixed = parse_trace_csv("R,G,B\n1,2,3\n4,5,6\n").unwrap();
        assert_eq!(fixed.times_s, None);
        assert_eq!(parse_trace_csv("1,2,3\n4,5,6\n").unwrap().rgb.len(), 2);
        // The trace keeps the real times: jitter and a gap survive into the samples.
        let trace = parse_trace_csv("time_ms,R,G,B\n0,1,2,3\n40,1,2,3\n400,1,2,3\n")
            .unwrap()
            .into_trace(30.0);
        assert_eq!(trace.samples[2].t_s, 0.4);
    }

    #[test]
    fn bad_timed_csvs_say_what_is_wrong() {
        let err = |t: &str| parse_trace_csv(t).unwrap_err().to_string();
        assert!(err("time_ms,R,G,B\n0,1,2\n").contains("line 2: expected 4 values"));
        assert!(err("frame,R,G,B\n0,1,2,3\n").contains("expected a header"));
        assert!(err("0,1,2,3\n1,1,2,3\n").contains("without a header"));
        assert!(err("t,R,G,B\n0,1,2,3\n0,1,2,3\n").contains("does not advance"));
        assert!(err("t,R,G,B\ninf,1,2,3\n").contains("not a number"));
        assert!(err("t,R,G,B\n").contains("no data rows"));
    }

    #[test]
    fn rr_intervals_in_ms() {
        assert_eq!(
            parse_rr_intervals("1203 1124\n974 ").unwrap(),
            vec![1.203, 1.124, 0.974]
        );
        assert!(parse_rr_intervals("1203 0 974").is_err());
        assert!(parse_rr_intervals("800").is_err());
    }

    #[test]
    fn reference_quirks() {
        let text = "\u{feff},SpO2 1,SpO2 2,SpO2 3,SpO2 4,SpO2 5,Pulse 1,Pulse 2,Pulse 3,Pulse 4,Pulse 5,,\n\
             09:00:00,96,98,0,97,97,60,61,0,62,61,,\n\
             09:00:01,95,,0,93,95,60,61,0,62,61,,\n\
             Collection Halted,,,,,,,,,,,,\n";
        let s4 = parse_reference_csv(text, LabelSource::Oximeter4).unwrap();
        assert_eq!(s4.spo2, vec![Some(97.0), Some(93.0)]);
        assert_eq!(s4.pulse, vec![Some(62.0), Some(62.0)]);
        let mean = parse_reference_csv(text, LabelSource::MeanOfFour).unwrap();
        assert_eq!(mean.spo2[0], Some(97.0));
        // A blank reading is missing, not zero: (95 + 93 + 95) / 3.
        assert!((mean.spo2[1].unwrap() - 283.0 / 3.0).abs() < 1e-12);
        assert!(parse_reference_csv("Time,Foo\n", LabelSource::Oximeter4).is_err());
    }

    #[test]
    fn label_sources_serialise_as_their_names() {
        for source in [LabelSource::Oximeter4, LabelSource::MeanOfFour] {
            assert_eq!(serde_json::to_value(source).unwrap(), source.name());
        }
    }

    #[test]
    fn window_labels_are_shifted_by_the_lag() {
        let s: Vec<Option<f64>> = (0..30).map(|k| Some(k as f64)).collect();
        // Video seconds 0..10 pair with reference rows 7..17: mean 11.5.
        assert_eq!(ReferenceSeries::window_mean(&s, 0.0, 10.0, 7.0), Some(11.5));
        assert_eq!(ReferenceSeries::window_mean(&s, 25.0, 35.0, 7.0), None);
    }
}
