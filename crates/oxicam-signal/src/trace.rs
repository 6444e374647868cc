//! The colour trace: one sample per decoded frame with its real presentation time.
//! Produced by `oxicam-video` (or read from a CSV trace) and consumed by the estimator.

use serde::{Deserialize, Serialize};

/// A colour channel of the trace. Per-channel arrays (`[f64; 3]`) are indexed in this order,
/// red, green, blue, everywhere in oxicam; the serde names (`red`, `green`, `blue`) are the
/// ones reports and model files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Red,
    Green,
    Blue,
}

impl Channel {
    /// All channels, in index order.
    pub const ALL: [Channel; 3] = [Channel::Red, Channel::Green, Channel::Blue];

    /// Position in per-channel arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The channel at a position of a per-channel array (`None` past blue).
    pub fn from_index(index: usize) -> Option<Channel> {
        Channel::ALL.get(index).copied()
    }

    /// The serde name: `red`, `green` or `blue`.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Red => "red",
            Channel::Green => "green",
            Channel::Blue => "blue",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Statistics of one frame. Colour values are on the 8-bit scale (0-255), full range RGB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameSample {
    /// Presentation time in seconds from the stream start (first frame need not be 0).
    pub t_s: f64,
    /// Mean R, G, B over the central region of the frame.
    pub roi_rgb: [f64; 3],
    /// Mean R, G, B over the whole frame.
    pub full_rgb: [f64; 3],
    /// Fraction (0-1) of central-region pixels clipped per channel: R >= 250, G <= 5, B <= 5.
    /// `None` when the source (e.g. a CSV trace) has no pixel-level information.
    pub clipped_fraction: Option<[f64; 3]>,
    /// Standard deviation of the mean luma over a coarse grid of cells covering the central
    /// region (8-bit scale): small for a covered lens, large for a scene. `None` when unknown.
    pub luma_grid_sd: Option<f64>,
}

/// A whole recording's trace, in presentation order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub samples: Vec<FrameSample>,
    /// True when the file ended early (cut short) and the trace holds only the frames decoded
    /// before the damage.
    pub truncated: bool,
}

impl Trace {
    /// Builds a trace from whole-frame RGB means sampled at a constant rate, as in the CSV
    /// layout of the UW data set (`R,G,B` rows at 30 fps). ROI and full-frame means coincide.
    pub fn from_rgb_rows(rows: &[[f64; 3]], fps: f64) -> Trace {
        let times: Vec<f64> = (0..rows.len()).map(|i| i as f64 / fps).collect();
        Trace::from_timed_rows(&times, rows)
    }

    /// Builds a trace from frames with their own times (seconds; jitter, repeats and gaps kept
    /// as they are: the estimator resamples by time).
    pub fn from_timed_rows(times_s: &[f64], rows: &[[f64; 3]]) -> Trace {
        let samples = times_s
            .iter()
            .zip(rows)
            .map(|(&t_s, rgb)| FrameSample {
                t_s,
                roi_rgb: *rgb,
                full_rgb: *rgb,
                clipped_fraction: None,
                luma_grid_sd: None,
            })
            .collect();
        Trace {
            samples,
            truncated: false,
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Time span from the first to the last sample, in seconds.
    pub fn duration_s(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => b.t_s - a.t_s,
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_rows_get_timestamps_from_the_frame_rate() {
        let trace = Trace::from_rgb_rows(&[[1.0, 2.0, 3.0]; 61], 30.0);
        assert_eq!(trace.len(), 61);
        assert!((trace.duration_s() - 2.0).abs() < 1e-12);
        assert_eq!(trace.samples[30].roi_rgb, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn channels_index_arrays_and_serialise_by_name() {
        for (i, c) in Channel::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Channel::from_index(i), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
        assert_eq!(Channel::from_index(3), None);
    }
}
