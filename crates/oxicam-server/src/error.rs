//! The one error type handlers return, rendered as `{"error":{"code","message",..}}` with the
//! right status; every refusal of bad input goes through here so it never becomes a 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use oxicam_signal::{QualityReason, Report};
use serde::Serialize;
use utoipa::ToSchema;

/// Body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, snake_case (e.g. `missing_file`, `unsupported_codec`, `low_snr`).
    pub code: String,
    /// One human sentence naming the problem.
    pub message: String,
    /// For 422: every reason the recording was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<QualityReason>>,
    /// For 422: the full analysis report (per-window results, video facts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<Report>>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after_s: Option<u64>,
    pub report: Option<Box<Report>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after_s: None,
            report: None,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn too_large(limit_bytes: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "The upload is larger than the limit of {} MB.",
                limit_bytes.div_ceil(1024 * 1024)
            ),
        )
    }

    pub fn busy(code: &str, message: impl Into<String>, retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 422 for a video that decoded but cannot be measured: the reasons, and the report.
    pub fn unusable(report: Report) -> ApiError {
        let reasons = &report.quality.reasons;
        let code = reasons
            .first()
            .map_or("unusable_recording", |r| r.code.code())
            .to_string();
        let message = if reasons.is_empty() {
            "The recording could not be measured.".to_string()
        } else {
            reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        ApiError {
            report: Some(Box::new(report)),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, &code, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let reasons = self.report.as_ref().map(|r| r.quality.reasons.clone());
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                reasons,
                report: self.report,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
