//! The body of `POST /v1/traces`: a colour trace measured by the client (the web page reads the
//! camera frames itself), as column arrays; parsing, limits and validation into an `oxicam_signal::Trace`.

use crate::error::ApiError;
use axum::http::StatusCode;
use oxicam_signal::{FrameSample, Trace};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Most samples in one trace (e.g. 120 s at 166 fps, 11 min at 30 fps).
pub const MAX_SAMPLES: usize = 20_000;
/// Largest accepted body: a full-length trace in the plain encoding fits with room to spare.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Channel means outside this range (8-bit scale, with the overshoot a YUV -> RGB conversion
/// of means can give) are not camera data.
const COLOUR_RANGE: (f64, f64) = (-64.0, 320.0);
const MAX_DEVICE_HINTS: usize = 32;
const MAX_HINT_KEY_CHARS: usize = 64;
const MAX_HINT_VALUE_CHARS: usize = 512;

/// Fixed-point steps of the `delta` encoding.
pub const STEP_T_S: f64 = 1e-4;
pub const STEP_RGB: f64 = 1e-3;
pub const STEP_CLIPPED: f64 = 1e-4;
pub const STEP_GRID_SD: f64 = 1e-2;

/// How the numbers of the columns are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Values as they are: seconds, 8-bit colour means, fractions.
    #[default]
    Plain,
    /// Integers, each the change from the previous entry of its column (the first from zero),
    /// in fixed steps: `t` 1e-4 s, `roi_rgb`/`full_rgb` 1e-3, `clipped_fraction` 1e-4,
    /// `luma_grid_sd` 1e-2. A 30 s trace at 30 fps is about 30 KB of JSON.
    Delta,
}

/// A colour trace: per camera frame its capture time and the R, G, B means of the central
/// region (and optionally of the whole frame), the share of clipped pixels and the luma grid
/// SD, with the definitions of the server's own video decoding (see the web page's
/// `framestats.js`). Columns are arrays of equal length, one entry per frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceUpload {
    #[serde(default)]
    pub encoding: Encoding,
    /// Capture time of each frame in seconds (any origin), finite and strictly increasing.
    #[serde(serialize_with = "compact::column")]
    pub t: Vec<f64>,
    /// Mean R, G, B over the central region (middle half of each dimension): three columns.
    #[serde(serialize_with = "compact::channels")]
    pub roi_rgb: [Vec<f64>; 3],
    /// Mean R, G, B over the whole frame; the central region's when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "compact::some_channels"
    )]
    pub full_rgb: Option<[Vec<f64>; 3]>,
    /// Share (0-1) of central-region pixels with R >= 250, G <= 5, B <= 5: three columns.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "compact::some_channels"
    )]
    pub clipped_fraction: Option<[Vec<f64>; 3]>,
    /// SD of the mean luma over an 8 x 8 grid on the central region (8-bit scale).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "compact::some_column"
    )]
    pub luma_grid_sd: Option<Vec<f64>>,
    /// Removed in report schema 4 (calibration made SpO2 worse on held-out subjects): a
    /// request carrying it is refused with `reference_spo2_removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_spo2: Option<f64>,
    /// Free-form facts about the device, browser and camera (strings, numbers, booleans), e.g.
    /// `extractor`, `frame_format`, `torch`, `frames_dropped`. Not stored, not logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub device: Option<BTreeMap<String, serde_json::Value>>,
}

/// A validated upload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReceivedTrace {
    pub trace: Trace,
    pub device: BTreeMap<String, serde_json::Value>,
}

fn bad(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// Reads a JSON body; every problem is a 4xx naming it.
pub(crate) fn parse(body: &[u8], max_duration_s: f64) -> Result<ReceivedTrace, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(
            "empty_body",
            "The request body is empty; send the trace as JSON.",
        ));
    }
    let upload: TraceUpload = serde_json::from_slice(body)
        .map_err(|e| bad("invalid_json", format!("The trace is not valid: {e}.")))?;
    upload.validate(max_duration_s)
}

impl TraceUpload {
    /// Columns decoded to values, checked, and turned into a trace.
    pub(crate) fn validate(self, max_duration_s: f64) -> Result<ReceivedTrace, ApiError> {
        let n = self.t.len();
        if n == 0 {
            return Err(bad("empty_trace", "The trace has no samples."));
        }
        if n > MAX_SAMPLES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_samples",
                format!("The trace has {n} samples; at most {MAX_SAMPLES} are accepted."),
            ));
        }
        let decode = |name: &str, values: &[f64], step: f64| -> Result<Vec<f64>, ApiError> {
            if values.len() != n {
                return Err(bad(
                    "column_length_mismatch",
                    format!(
                        "Column `{name}` has {} entries but `t` has {n}; every column needs one \
                         entry per frame.",
                        values.len()
                    ),
                ));
            }
            match self.encoding {
                Encoding::Plain => Ok(values.to_vec()),
                Encoding::Delta => undelta(name, values, step),
            }
        };
        let t = decode("t", &self.t, STEP_T_S)?;
        let channels = |name: &str, columns: &[Vec<f64>; 3], step: f64| {
            let mut out = [Vec::new(), Vec::new(), Vec::new()];
            for (c, column) in columns.iter().enumerate() {
                out[c] = decode(&format!("{name}[{c}]"), column, step)?;
            }
            Ok::<_, ApiError>(out)
        };
        let roi = channels("roi_rgb", &self.roi_rgb, STEP_RGB)?;
        let full = match &self.full_rgb {
            Some(columns) => Some(channels("full_rgb", columns, STEP_RGB)?),
            None => None,
        };
        let clipped = match &self.clipped_fraction {
            Some(columns) => Some(channels("clipped_fraction", columns, STEP_CLIPPED)?),
            None => None,
        };
        let grid = match &self.luma_grid_sd {
            Some(column) => Some(decode("luma_grid_sd", column, STEP_GRID_SD)?),
            None => None,
        };

        check_times(&t, max_duration_s)?;
        let colour = |name: &str, cols: &[Vec<f64>; 3]| {
            cols.iter().try_for_each(|col| {
                in_range(
                    name,
                    col,
                    COLOUR_RANGE,
                    "an 8-bit colour mean (about 0-255)",
                )
            })
        };
        colour("roi_rgb", &roi)?;
        if let Some(full) = &full {
            colour("full_rgb", full)?;
        }
        if let Some(clipped) = &clipped {
            clipped.iter().try_for_each(|col| {
                in_range("clipped_fraction", col, (0.0, 1.0), "a fraction (0-1)")
            })?;
        }
        if let Some(grid) = &grid {
            in_range(
                "luma_grid_sd",
                grid,
                (0.0, 256.0),
                "an 8-bit standard deviation",
            )?;
        }
        if self.reference_spo2.is_some() {
            return Err(crate::upload::reference_spo2_removed());
        }
        let device = check_device(self.device.unwrap_or_default())?;

        let samples = (0..n)
            .map(|i| {
                let roi_rgb = [roi[0][i], roi[1][i], roi[2][i]];
                FrameSample {
                    t_s: t[i],
                    roi_rgb,
                    full_rgb: full
                        .as_ref()
                        .map_or(roi_rgb, |f| [f[0][i], f[1][i], f[2][i]]),
                    clipped_fraction: clipped.as_ref().map(|c| [c[0][i], c[1][i], c[2][i]]),
                    luma_grid_sd: grid.as_ref().map(|g| g[i]),
                }
            })
            .collect();
        Ok(ReceivedTrace {
            trace: Trace {
                samples,
                truncated: false,
            },
            device,
        })
    }

    /// A trace in the plain encoding (what `oxicam trace` prints).
    pub fn plain(trace: &Trace) -> TraceUpload {
        Self::encode(trace, Encoding::Plain)
    }

    /// A trace in the compact delta encoding the web page sends.
    pub fn delta(trace: &Trace) -> TraceUpload {
        Self::encode(trace, Encoding::Delta)
    }

    fn encode(trace: &Trace, encoding: Encoding) -> TraceUpload {
        let s = &trace.samples;
        let t0 = s.first().map_or(0.0, |x| x.t_s);
        let column = |pick: &dyn Fn(&FrameSample) -> f64, step: f64| -> Vec<f64> {
            let values = s.iter().map(pick);
            match encoding {
                Encoding::Plain => values.collect(),
                Encoding::Delta => {
                    let mut previous = 0.0;
                    values
                        .map(|v| {
                            let q = (v / step).round();
                            let d = q - previous;
                            previous = q;
                            d
                        })
                        .collect()
                }
            }
        };
        let rgb = |pick: fn(&FrameSample) -> [f64; 3]| {
            [0, 1, 2].map(|c| column(&|x| pick(x)[c], STEP_RGB))
        };
        let all_clipped = s.iter().all(|x| x.clipped_fraction.is_some());
        let all_grid = s.iter().all(|x| x.luma_grid_sd.is_some());
        TraceUpload {
            encoding,
            t: column(&|x| x.t_s - t0, STEP_T_S),
            roi_rgb: rgb(|x| x.roi_rgb),
            full_rgb: Some(rgb(|x| x.full_rgb)),
            clipped_fraction: all_clipped.then(|| {
                [0, 1, 2]
                    .map(|c| column(&|x| x.clipped_fraction.map_or(0.0, |f| f[c]), STEP_CLIPPED))
            }),
            luma_grid_sd: all_grid
                .then(|| column(&|x| x.luma_grid_sd.unwrap_or(0.0), STEP_GRID_SD)),
            reference_spo2: None,
            device: None,
        }
    }
}

/// Columns written with whole numbers as JSON integers (`333`, not `333.0`): a third of the
/// size of a delta-encoded trace.
mod compact {
    use serde::ser::{SerializeSeq, Serializer};

    /// Largest integer a double holds exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;

    struct Column<'a>(&'a [f64]);

    impl serde::Serialize for Column<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
            for &v in self.0 {
                if v.fract() == 0.0 && v.abs() <= EXACT {
                    seq.serialize_element(&(v as i64))?;
                } else {
                    seq.serialize_element(&v)?;
                }
            }
            seq.end()
        }
    }

    pub fn column<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&Column(values), serializer)
    }

    pub fn channels<S: Serializer>(
        values: &[Vec<f64>; 3],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let columns = [0, 1, 2].map(|c| Column(&values[c]));
        serde::Serialize::serialize(&columns, serializer)
    }

    pub fn some_channels<S: Serializer>(
        values: &Option<[Vec<f64>; 3]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match values {
            Some(values) => channels(values, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn some_column<S: Serializer>(
        values: &Option<Vec<f64>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match values {
            Some(values) => column(values, serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// Running sums of integer steps, back to values; integers beyond 2^53 are not exact in JSON.
fn undelta(name: &str, deltas: &[f64], step: f64) -> Result<Vec<f64>, ApiError> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let mut acc = 0i64;
    deltas
        .iter()
        .map(|&d| {
            if !(d.fract() == 0.0 && d.abs() <= EXACT) {
                return Err(bad(
                    "not_an_integer",
                    format!(
                        "Column `{name}` holds {d}, but the delta encoding takes whole numbers \
                         only."
                    ),
                ));
            }
            acc = acc
                .checked_add(d as i64)
                .filter(|a| a.unsigned_abs() <= EXACT as u64)
                .ok_or_else(|| {
                    bad(
                        "value_out_of_range",
                        format!("Column `{name}` adds up beyond any possible value."),
                    )
                })?;
            Ok(acc as f64 * step)
        })
        .collect()
}

fn check_times(t: &[f64], max_duration_s: f64) -> Result<(), ApiError> {
    if let Some(i) = t.iter().position(|v| !v.is_finite()) {
        return Err(bad(
            "non_finite_value",
            format!("Time {i} is not a finite number."),
        ));
    }
    if let Some(i) = t.windows(2).position(|w| w[1] <= w[0]) {
        return Err(bad(
            "times_not_increasing",
            format!(
                "Times must increase strictly from frame to frame; frame {} ({} s) does not come \
                 after frame {i} ({} s).",
                i + 1,
                t[i + 1],
                t[i]
            ),
        ));
    }
    let span = t[t.len() - 1] - t[0];
    if span > max_duration_s {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_long",
            format!("The trace spans {span:.1} s; at most {max_duration_s:.0} s are accepted."),
        ));
    }
    Ok(())
}

fn in_range(name: &str, values: &[f64], (lo, hi): (f64, f64), what: &str) -> Result<(), ApiError> {
    match values.iter().position(|v| !(lo..=hi).contains(v)) {
        None => Ok(()),
        Some(i) => Err(bad(
            if values[i].is_finite() {
                "value_out_of_range"
            } else {
                "non_finite_value"
            },
            format!(
                "Column `{name}` entry {i} is {}, which is not {what}.",
                values[i]
            ),
        )),
    }
}

fn check_device(
    device: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, serde_json::Value>, ApiError> {
    use serde_json::Value;
    if device.len() > MAX_DEVICE_HINTS {
        return Err(bad(
            "invalid_device",
            format!("Field `device` has more than {MAX_DEVICE_HINTS} entries."),
        ));
    }
    for (key, value) in &device {
        let scalar = match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => true,
            Value::String(s) => s.chars().count() <= MAX_HINT_VALUE_CHARS,
            Value::Array(_) | Value::Object(_) => false,
        };
        if key.chars().count() > MAX_HINT_KEY_CHARS || !scalar {
            return Err(bad(
                "invalid_device",
                format!(
                    "Field `device` entry `{}` must be a short name with a string (at most \
                     {MAX_HINT_VALUE_CHARS} characters), number, boolean or null.",
                    key.chars().take(MAX_HINT_KEY_CHARS).collect::<String>()
                ),
            ));
        }
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_trace(n: usize) -> Trace {
        let samples = (0..n)
            .map(|i| {
                let t = 3.0 + i as f64 / 30.0 + 0.004 * ((i * 7) % 5) as f64;
                let beat = (t * 2.0 * std::f64::consts::PI * 1.2).sin();
                FrameSample {
                    t_s: t,
                    roi_rgb: [200.0 + beat, 60.0 + 0.5 * beat, 30.123_456],
                    full_rgb: [190.0, 55.5, 28.25],
                    clipped_fraction: Some([0.012_34, 0.0, 0.5]),
                    luma_grid_sd: Some(4.567),
                }
            })
            .collect();
        Trace {
            samples,
            truncated: false,
        }
    }

    fn roundtrip(upload: &TraceUpload) -> Trace {
        let json = serde_json::to_vec(upload).unwrap();
        parse(&json, 120.0).unwrap().trace
    }

    #[test]
    fn both_encodings_round_trip_within_their_steps() {
        let trace = sample_trace(900);
        let t0 = trace.samples[0].t_s;
        let plain = roundtrip(&TraceUpload::plain(&trace));
        let delta = roundtrip(&TraceUpload::delta(&trace));
        for (i, want) in trace.samples.iter().enumerate() {
            let p = &plain.samples[i];
            for c in 0..3 {
                // serde_json's default float parsing may differ in the last bit.
                assert!((p.roi_rgb[c] - want.roi_rgb[c]).abs() < 1e-9);
            }
            assert!((p.t_s - (want.t_s - t0)).abs() < 1e-12);
            let d = &delta.samples[i];
            assert!((d.t_s - (want.t_s - t0)).abs() <= STEP_T_S / 2.0 + 1e-12);
            for c in 0..3 {
                assert!((d.roi_rgb[c] - want.roi_rgb[c]).abs() <= STEP_RGB / 2.0 + 1e-9);
                assert!((d.full_rgb[c] - want.full_rgb[c]).abs() <= STEP_RGB / 2.0 + 1e-9);
                let (got, exp) = (
                    d.clipped_fraction.unwrap()[c],
                    want.clipped_fraction.unwrap()[c],
                );
                assert!((got - exp).abs() <= STEP_CLIPPED / 2.0 + 1e-12);
            }
            assert!((d.luma_grid_sd.unwrap() - 4.567).abs() <= STEP_GRID_SD / 2.0 + 1e-9);
        }
        let json = serde_json::to_string(&TraceUpload::delta(&trace)).unwrap();
        assert!(
            !json.contains(".0,"),
            "whole numbers are written as integers"
        );
        assert!(json.len() < 60_000, "30 s at 30 fps: {} bytes", json.len());
    }

    #[test]
    fn optional_columns_may_be_left_out() {
        let json = br#"{"t":[0,0.5,1],"roi_rgb":[[1,2,3],[4,5,6],[7,8,9]]}"#;
        let got = parse(json, 120.0).unwrap();
        assert_eq!(got.trace.samples[1].full_rgb, [2.0, 5.0, 8.0]);
        assert_eq!(got.trace.samples[1].clipped_fraction, None);
        assert!(got.device.is_empty());
    }

    fn code_of(body: &[u8]) -> (u16, String) {
        let err = parse(body, 120.0).unwrap_err();
        (err.status.as_u16(), err.code)
    }

    #[test]
    fn bad_traces_are_refused_with_the_problem_named() {
        let cases: &[(&str, &str, u16)] = &[
            ("", "empty_body", 400),
            ("   ", "empty_body", 400),
            ("{", "invalid_json", 400),
            ("[]", "invalid_json", 400),
            (r#"{"t":[],"roi_rgb":[[],[],[]]}"#, "empty_trace", 400),
            (
                r#"{"t":"soon","roi_rgb":[[1],[2],[3]]}"#,
                "invalid_json",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4]]}"#,
                "invalid_json",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],["a","b"]]}"#,
                "invalid_json",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],[5,6]],"extra":1}"#,
                "invalid_json",
                400,
            ),
            (
                r#"{"t":[0,NaN],"roi_rgb":[[1,2],[3,4],[5,6]]}"#,
                "invalid_json",
                400,
            ),
            (
                r#"{"t":[0,1e999],"roi_rgb":[[1,2],[3,4],[5,6]]}"#,
                "invalid_json",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],[5]]}"#,
                "column_length_mismatch",
                400,
            ),
            (
                r#"{"t":[0,1,0.5],"roi_rgb":[[1,2,3],[3,4,5],[5,6,7]]}"#,
                "times_not_increasing",
                400,
            ),
            (
                r#"{"t":[0,0],"roi_rgb":[[1,2],[3,4],[5,6]]}"#,
                "times_not_increasing",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],[5,1000]]}"#,
                "value_out_of_range",
                400,
            ),
            (
                r#"{"t":[0,500],"roi_rgb":[[1,2],[3,4],[5,6]]}"#,
                "too_long",
                413,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],[5,6]],"clipped_fraction":[[0,0],[0,0],[0,2]]}"#,
                "value_out_of_range",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],[5,6]],"luma_grid_sd":[1,-1]}"#,
                "value_out_of_range",
                400,
            ),
            (
                r#"{"encoding":"delta","t":[0,0.5],"roi_rgb":[[1,2],[3,4],[5,6]]}"#,
                "not_an_integer",
                400,
            ),
            (
                r#"{"encoding":"delta","t":[0,9007199254740992,9007199254740992],"roi_rgb":[[1,2,3],[3,4,5],[5,6,7]]}"#,
                "value_out_of_range",
                400,
            ),
            (
                r#"{"encoding":"zip","t":[0,1],"roi_rgb":[[1,2],[3,4],[5,6]]}"#,
                "invalid_json",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],[5,6]],"reference_spo2":97}"#,
                "reference_spo2_removed",
                400,
            ),
            (
                r#"{"t":[0,1],"roi_rgb":[[1,2],[3,4],[5,6]],"device":{"a":[1]}}"#,
                "invalid_device",
                400,
            ),
        ];
        for (body, code, status) in cases {
            assert_eq!(
                code_of(body.as_bytes()),
                (*status, code.to_string()),
                "body {body}"
            );
        }
        let many = format!(
            r#"{{"t":[{}],"roi_rgb":[[1],[2],[3]]}}"#,
            (0..=MAX_SAMPLES)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(code_of(many.as_bytes()), (413, "too_many_samples".into()));
    }
}
