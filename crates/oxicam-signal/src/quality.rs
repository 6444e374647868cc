//! Quality gates: each failure has a stable machine-readable code and one human sentence.
//! Window-level gates decide which windows count; recording-level gates decide refusals.

use serde::{Deserialize, Serialize};

use crate::report::QualityReason;

/// Every reason oxicam can give, with its code and sentence. Serialised as its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Scene instead of a fingertip: non-uniform frame, no pulse, colour of a scene.
    LensNotCovered,
    /// Every channel saturated (>= 250) or floored (<= 5): nothing in range to measure.
    ChannelClipped,
    /// Large movement: jumps in brightness or bursts far above the pulse amplitude.
    Motion,
    /// Less than the minimum usable duration after trimming the settling time.
    TooShort,
    /// The pulse does not stand out of the noise.
    LowSnr,
    /// The colour barely changes: far less pulsation than any real fingertip shows.
    NoPulse,
    /// The pulse rate found is outside 40-200 bpm.
    HrOutOfRange,
    /// No finite samples or no timestamps.
    InvalidTrace,
    /// The file ended early (only a part was analysed); informational.
    Truncated,
    /// Heart rate measured but no SpO2 could be estimated; informational.
    Spo2Unavailable,
    /// SpO2 withheld (heart rate given): outside what the model was trained on (another
    /// camera, a saturated channel, an estimate above the range). The report's sentence says
    /// which; informational for the recording.
    Spo2OutOfDomain,
    /// SpO2 below the lowest saturation the model was trained on: no number, an interval;
    /// informational.
    Spo2BelowRange,
}

impl Gate {
    pub fn code(self) -> &'static str {
        match self {
            Gate::LensNotCovered => "lens_not_covered",
            Gate::ChannelClipped => "channel_clipped",
            Gate::Motion => "motion",
            Gate::TooShort => "too_short",
            Gate::LowSnr => "low_snr",
            Gate::NoPulse => "no_pulse",
            Gate::HrOutOfRange => "hr_out_of_range",
            Gate::InvalidTrace => "invalid_trace",
            Gate::Truncated => "truncated",
            Gate::Spo2Unavailable => "spo2_unavailable",
            Gate::Spo2OutOfDomain => "spo2_out_of_domain",
            Gate::Spo2BelowRange => "spo2_below_range",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Gate::LensNotCovered => {
                "The camera does not seem to be covered by a fingertip: cover the rear camera \
                 and torch completely with one fingertip and hold still."
            }
            Gate::ChannelClipped => {
                "The image is over- or under-exposed in every colour channel, so no pulse can be \
                 measured: press more lightly or let the exposure settle."
            }
            Gate::Motion => {
                "Movement disturbed the recording: rest your hand on a table and keep the finger \
                 still."
            }
            Gate::TooShort => {
                "The recording is too short: at least 10 seconds are needed after the first \
                 seconds, so record 20-60 seconds."
            }
            Gate::LowSnr => {
                "The pulse is too weak or noisy to measure: cover the camera fully, press gently \
                 and keep still."
            }
            Gate::NoPulse => {
                "No pulse was found: the colour does not change with heartbeats as a fingertip \
                 with blood flow does. Cover the camera with a warm fingertip, press gently."
            }
            Gate::HrOutOfRange => {
                "The pulse rate found is outside 40-200 beats per minute, which is more likely a \
                 measurement problem than a real rate."
            }
            Gate::InvalidTrace => "The recording holds no usable frames or timestamps.",
            Gate::Truncated => {
                "The file ended early; only the part before the damage was analysed."
            }
            Gate::Spo2Unavailable => {
                "No SpO2 could be estimated from this recording, so only the heart rate is \
                 given."
            }
            Gate::Spo2OutOfDomain => {
                "SpO2 is withheld: the recording is outside what the model was trained on; the \
                 heart rate is still given."
            }
            Gate::Spo2BelowRange => {
                "SpO2 appears to be below the lowest saturation the model was trained on, so no \
                 number is given: see the interval."
            }
        }
    }

    pub fn reason(self) -> QualityReason {
        QualityReason {
            code: self,
            message: self.message().to_string(),
        }
    }

    /// Every gate, in declaration (and sort) order.
    pub const ALL: [Gate; 12] = [
        Gate::LensNotCovered,
        Gate::ChannelClipped,
        Gate::Motion,
        Gate::TooShort,
        Gate::LowSnr,
        Gate::NoPulse,
        Gate::HrOutOfRange,
        Gate::InvalidTrace,
        Gate::Truncated,
        Gate::Spo2Unavailable,
        Gate::Spo2OutOfDomain,
        Gate::Spo2BelowRange,
    ];
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_gates_are_their_codes() {
        for gate in Gate::ALL {
            assert_eq!(serde_json::to_value(gate).unwrap(), gate.code());
            let back: Gate = serde_json::from_value(gate.code().into()).unwrap();
            assert_eq!(back, gate);
        }
    }
}
