//! Parsers for the UW phone-oximetry layout (`R,G,B` trace CSVs, per-second reference CSVs),
//! on text the caller has read: the quirks (BOM, missing `Time` header, `Collection Halted`).

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum DatasetError {
    #[error("trace CSV: {0}")]
    Trace(String),
    #[error("reference CSV: {0}")]
    Reference(String),
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

/// Parses a trace CSV: header `R,G,B` (optional, case-insensitive, BOM tolerated), then one row
/// of three numbers per frame. Blank lines are skipped.
pub fn parse_rgb_csv(text: &str) -> Result<Vec<[f64; 3]>, DatasetError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if i == 0 && cells.iter().any(|c| c.parse::<f64>().is_err()) {
            let header: Vec<String> = cells.iter().map(|c| c.to_ascii_uppercase()).collect();
            if header.len() < 3 || header[..3] != ["R", "G", "B"] {
                return Err(DatasetError::Trace(format!(
                    "expected a header R,G,B or numbers, found {line:?}"
                )));
            }
            continue;
        }
        if cells.len() < 3 {
            return Err(DatasetError::Trace(format!(
                "line {}: expected 3 values R,G,B, found {}",
                i + 1,
                cells.len()
            )));
        }
        let mut rgb = [0.0; 3];
        for (k, cell) in cells[..3].iter().enumerate() {
            rgb[k] = cell
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    DatasetError::Trace(format!("line {}: {cell:?} is not a number", i + 1))
                })?;
        }
        rows.push(rgb);
    }
    if rows.is_empty() {
        return Err(DatasetError::Trace("no data rows".into()));
    }
    Ok(rows)
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
