//! Logging (text or JSON, one line per request) and Prometheus metrics for the service.
//! Request lines carry id, route, status and duration only: never a measured value.

use crate::config::{LogFormat, DEFAULT_LOG_FILTER};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tracing_subscriber::EnvFilter;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global log subscriber once; later calls (tests) are no-ops. An invalid filter
/// falls back to the default.
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}

/// The process-wide Prometheus recorder (installed once, shared by every server in a process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("oxicam_analysis_duration_seconds".into()),
                    &[0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0],
                )
                .expect("bucket list is not empty")
                .set_buckets_for_metric(
                    Matcher::Full("oxicam_http_request_duration_seconds".into()),
                    &[0.005, 0.05, 0.25, 1.0, 4.0, 15.0, 60.0],
                )
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (embedding process); then we only render
            // our own, empty, view, which is still valid Prometheus text.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "oxicam_http_requests_total",
        "HTTP requests by method, route and status."
    );
    metrics::describe_histogram!(
        "oxicam_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request duration by route."
    );
    metrics::describe_histogram!(
        "oxicam_analysis_duration_seconds",
        metrics::Unit::Seconds,
        "Decode + analysis time of one upload."
    );
    metrics::describe_gauge!("oxicam_analyses_in_flight", "Analyses decoding now.");
    metrics::describe_gauge!(
        "oxicam_analyses_queued",
        "Analyses waiting for a decoding slot."
    );
    metrics::describe_counter!(
        "oxicam_upload_bytes_total",
        metrics::Unit::Bytes,
        "Bytes of uploaded video received."
    );
    metrics::describe_counter!(
        "oxicam_analyses_rejected_total",
        "Analyses refused with 503, by reason."
    );
    metrics::describe_gauge!(
        "oxicam_uploads_in_progress",
        "Uploads being received (they count against capacity)."
    );
    metrics::describe_gauge!(
        "oxicam_upload_budget_used_bytes",
        metrics::Unit::Bytes,
        "Temp-volume bytes held by uploads in progress or being analysed."
    );
    metrics::describe_counter!(
        "oxicam_requests_refused_total",
        "Requests refused before reading the upload, by reason (cross_origin, rate_limited)."
    );
    metrics::describe_counter!(
        "oxicam_trace_uploads_total",
        "Traces measured by clients (POST /v1/traces), by the page's frame extractor."
    );
    // Series exist from the start, so dashboards and tests see zeros rather than nothing.
    metrics::gauge!("oxicam_analyses_in_flight").set(0.0);
    metrics::gauge!("oxicam_analyses_queued").set(0.0);
    metrics::gauge!("oxicam_uploads_in_progress").set(0.0);
    metrics::gauge!("oxicam_upload_budget_used_bytes").set(0.0);
    metrics::counter!("oxicam_upload_bytes_total").increment(0);
}

/// Frame extractors the web page names in its device hints; anything else counts as `other`,
/// so a client cannot grow the label set.
const EXTRACTORS: &[&str] = &["webcodecs", "webcodecs-worker", "frame-callback"];

/// Counts a received trace by how the client read its frames (never the other hints).
pub fn count_trace_upload(device: &std::collections::BTreeMap<String, serde_json::Value>) {
    let extractor = device
        .get("extractor")
        .and_then(|v| v.as_str())
        .and_then(|name| EXTRACTORS.iter().find(|known| **known == name).copied())
        .unwrap_or("other");
    metrics::counter!("oxicam_trace_uploads_total", "extractor" => extractor).increment(1);
}

/// One log line and the request metrics per request.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let mut abandoned = AbandonedRequest {
        request_id: Some(request_id.clone()),
        method: method.to_string(),
        route: route.clone(),
        started,
    };
    let response = next.run(request).await;
    abandoned.request_id = None;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!(
        "oxicam_http_requests_total",
        "method" => method.to_string(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("oxicam_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        duration_ms = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
        "request"
    );
    response
}

/// The method as a metric label and log field: a fixed set, so made-up methods cannot create
/// unbounded series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Logs the request whose client went away before an answer (the handler future is dropped),
/// so every request still gets its one line; 499 as in nginx.
struct AbandonedRequest {
    request_id: Option<String>,
    method: String,
    route: String,
    started: Instant,
}

impl Drop for AbandonedRequest {
    fn drop(&mut self) {
        if let Some(request_id) = self.request_id.take() {
            metrics::counter!(
                "oxicam_http_requests_total",
                "method" => self.method.clone(),
                "route" => self.route.clone(),
                "status" => "499"
            )
            .increment(1);
            tracing::info!(
                request_id = %request_id,
                method = %self.method,
                route = %self.route,
                status = 499,
                duration_ms = (self.started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
                "request abandoned by the client"
            );
        }
    }
}
