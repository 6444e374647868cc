//! The HTTP routes: analyses (`/run`, `/v1/analyses`), health, version, metrics, OpenAPI and
//! the web page, assembled into one axum router with limits, request ids and logging.

use crate::analysis::Analyzer;
use crate::assets;
use crate::config::{Fault, ServerConfig};
use crate::error::{ApiError, ErrorBody};
use crate::security::{self, RateLimiter, SecurityHeaders};
use crate::telemetry::{self, REQUEST_ID_HEADER};
use crate::trace_upload::{self, Encoding, TraceUpload};
use crate::upload::{self, Limits};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use oxicam_signal::Report;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::{OpenApi, ToSchema};

pub struct AppState {
    pub analyzer: Analyzer,
    pub ready: AtomicBool,
    pub tmp_dir: PathBuf,
    pub body_limit: u64,
    pub upload_idle_timeout: std::time::Duration,
    pub upload_timeout: std::time::Duration,
    pub upload_budget: Arc<upload::DiskBudget>,
    pub fault: Fault,
    pub security_headers: Arc<SecurityHeaders>,
    pub allowed_origins: Arc<Vec<String>>,
    pub rate_limiter: Option<Arc<RateLimiter>>,
    pub version: VersionInfo,
    pub metrics: PrometheusHandle,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    pub version: String,
    pub git_sha: String,
    pub model_version: String,
    /// Blue/green colour of this deployment (`OXICAM_COLOR`), null when unset.
    pub color: Option<String>,
}

impl VersionInfo {
    pub fn new(config: &ServerConfig, model_version: String) -> VersionInfo {
        let git_sha = config
            .git_sha
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| env!("OXICAM_BUILD_GIT_SHA").to_string());
        VersionInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_sha,
            model_version,
            color: config.color.clone().filter(|c| !c.is_empty()),
        }
    }
}

/// Multipart form of `POST /run`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct RunForm {
    /// The fingertip video (MP4, MOV, WebM, MKV...).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Multipart form of `POST /v1/analyses`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AnalysisForm {
    /// The fingertip video (MP4, MOV, WebM, MKV...).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "oxicam",
        description = "Heart rate and an SpO2 screening estimate from a fingertip video. \
                       Not a medical device."
    ),
    paths(
        run,
        analyses,
        traces,
        healthz,
        readyz,
        about,
        version,
        metrics_text,
        openapi_json,
        index
    ),
    components(schemas(
        ErrorBody,
        VersionInfo,
        About,
        RunForm,
        AnalysisForm,
        TraceUpload,
        Encoding,
        Report,
        Health,
        Readiness
    ))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = usize::try_from(state.body_limit).unwrap_or(usize::MAX);
    let uploads = Router::new()
        .route("/run", post(run))
        .route("/v1/analyses", post(analyses))
        .layer(
            ServiceBuilder::new()
                .layer(middleware::map_response_with_state(
                    state.body_limit,
                    json_payload_too_large,
                ))
                .layer(RequestBodyLimitLayer::new(body_limit)),
        );
    // A trace is a few tens of kilobytes: its own, much smaller, body limit.
    let trace_limit = trace_upload::MAX_BODY_BYTES;
    let traces = Router::new().route("/v1/traces", post(traces)).layer(
        ServiceBuilder::new()
            .layer(middleware::map_response_with_state(
                trace_limit,
                json_payload_too_large,
            ))
            .layer(RequestBodyLimitLayer::new(trace_limit as usize)),
    );
    // Every analysis route, video or trace, sits behind the same gate.
    let mut analyses = uploads.merge(traces);
    // Outermost first: a refused request costs no body read and no rate token.
    if let Some(limiter) = &state.rate_limiter {
        analyses = analyses.layer(middleware::from_fn_with_state(
            limiter.clone(),
            security::rate_limit,
        ));
    }
    let analyses = analyses.layer(middleware::from_fn_with_state(
        state.allowed_origins.clone(),
        security::same_origin_only,
    ));
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/about", get(about))
        .merge(assets::router())
        .merge(analyses)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(telemetry::observe))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().on_failure(()).make_span_with(
                    |request: &axum::http::Request<_>| {
                        let id = request
                            .headers()
                            .get(&REQUEST_ID_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", request_id = %id)
                    },
                ))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER)),
        )
        .layer(middleware::from_fn(security::sanitize_request_id))
        .layer(middleware::from_fn_with_state(
            state.security_headers.clone(),
            security::security_headers,
        ))
        .with_state(state)
}

/// The operations endpoints, for the admin listener only: metrics, the API document and the
/// deployment's identity (git commit, colour) are not for the internet.
pub fn admin_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// What both upload routes answer, besides their own 400. Documentation only: never built.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code, clippy::large_enum_variant)]
enum UploadResponses {
    /// The analysis report (same JSON as `oxicam analyze --json`)
    #[response(status = 200)]
    Analysed(Report),
    /// Upload or video duration over the limit
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Not a video oxicam can decode
    #[response(status = 415)]
    NotDecodable(ErrorBody),
    /// A video, but unusable: `reasons` and `report` say why
    #[response(status = 422)]
    Unusable(ErrorBody),
    /// A browser post from another site's page (`cross_origin`)
    #[response(status = 403)]
    CrossOrigin(ErrorBody),
    /// Too many analyses from this client (`rate_limited`); see Retry-After
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// Busy, temp-volume budget full, or too slow; see Retry-After
    #[response(status = 503)]
    Busy(ErrorBody),
    /// The upload stalled (nothing received for the idle timeout) or did not complete in time
    #[response(status = 408)]
    Stalled(ErrorBody),
    /// The server failed (or, on `/run`, a build started with the blue/green test fault)
    #[response(status = 500)]
    Failed(ErrorBody),
}

/// An upload route's answer: the report, or an error with its status.
type UploadReply = Result<Json<Report>, ApiError>;

/// Analyse a video (the original contract: `curl -F file=@finger.mp4 HOST/run`).
#[utoipa::path(post, path = "/run", request_body(content = RunForm, content_type = "multipart/form-data"),
    responses((status = 400, description = "No `file` field, empty file or malformed multipart", body = ErrorBody), UploadResponses))]
async fn run(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> UploadReply {
    analyze_upload(&state, &headers, body, Endpoint::Run).await
}

/// Analyse a video. The field `reference_spo2` (calibration) was removed in report schema 4
/// and is refused with `reference_spo2_removed`: it made SpO2 worse on held-out subjects.
#[utoipa::path(post, path = "/v1/analyses", operation_id = "create_analysis", request_body(content = AnalysisForm, content_type = "multipart/form-data"),
    responses((status = 400, description = "No `file` field, empty file, a `reference_spo2` field (removed) or malformed multipart", body = ErrorBody), UploadResponses))]
async fn analyses(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> UploadReply {
    analyze_upload(&state, &headers, body, Endpoint::Analyses).await
}

/// The routes that take a video upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `POST /run`: the original contract, field `file` only. The one route a blue/green smoke
    /// test calls, so the one [`Fault::BadRun`] breaks.
    Run,
    /// `POST /v1/analyses`: `file`; refuses the removed `reference_spo2`.
    Analyses,
}

impl Endpoint {
    fn refuses_reference_spo2(self) -> bool {
        match self {
            Endpoint::Run => false,
            Endpoint::Analyses => true,
        }
    }

    fn broken_by(self, fault: Fault) -> bool {
        match fault {
            Fault::None => false,
            Fault::BadRun => self == Endpoint::Run,
        }
    }
}

async fn analyze_upload(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    endpoint: Endpoint,
) -> UploadReply {
    let admitted = state.analyzer.admit_upload()?;
    let limits = Limits {
        body_bytes: state.body_limit,
        idle: state.upload_idle_timeout,
        refuse_reference_spo2: endpoint.refuses_reference_spo2(),
    };
    let receiving = upload::receive(headers, body, &state.tmp_dir, limits, &state.upload_budget);
    let upload = within_upload_timeout(state, receiving).await?;
    drop(admitted);
    if endpoint.broken_by(state.fault) {
        drop(upload);
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "fault_injected",
            "OXICAM_FAULT=bad-run is set: this build answers /run wrongly on purpose.",
        ));
    }
    state.analyzer.analyze(upload).await.map(Json)
}

/// `receiving`, or 408 `upload_too_slow` when the whole body takes longer than the upload timeout
/// (the idle timeout alone lets a client trickle a byte at a time).
async fn within_upload_timeout<T>(
    state: &AppState,
    receiving: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(state.upload_timeout, receiving)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload_too_slow",
                format!(
                    "The upload did not complete within {} s.",
                    state.upload_timeout.as_secs()
                ),
            )
        })?
}

/// What `POST /v1/traces` answers besides the report. Documentation only: never built.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code, clippy::large_enum_variant)]
enum TraceResponses {
    /// The analysis report, the same JSON as for a video (`video` is null)
    #[response(status = 200)]
    Analysed(Report),
    /// Not JSON of the trace schema (wrong types, unknown fields, NaN), columns of unequal
    /// length, times not increasing, values out of range, a bad `device`, or a `reference_spo2` (removed)
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// A browser post from another site's page (`cross_origin`)
    #[response(status = 403)]
    CrossOrigin(ErrorBody),
    /// Too many analyses from this client (`rate_limited`); see Retry-After
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// The body stalled (nothing received for the idle timeout) or did not complete in time
    #[response(status = 408)]
    Stalled(ErrorBody),
    /// Body, sample count or time span over the limit
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Not `Content-Type: application/json`
    #[response(status = 415)]
    NotJson(ErrorBody),
    /// A valid trace, but unusable: `reasons` and `report` say why
    #[response(status = 422)]
    Unusable(ErrorBody),
    /// Busy or too slow; see Retry-After
    #[response(status = 503)]
    Busy(ErrorBody),
}

/// Analyse a colour trace the client measured itself. The web page reads the camera frames and
/// sends only their colour means, so the video never leaves the phone; the answer is the same
/// report as for a video, from the same pipeline.
#[utoipa::path(post, path = "/v1/traces", operation_id = "create_trace_analysis",
    request_body(content = TraceUpload, content_type = "application/json"),
    responses(TraceResponses))]
async fn traces(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> UploadReply {
    let admitted = state.analyzer.admit_upload()?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_json",
            "Send the trace as JSON with `Content-Type: application/json`.",
        ));
    }
    let reading = upload::read_small_body(
        body,
        trace_upload::MAX_BODY_BYTES,
        state.upload_idle_timeout,
    );
    let bytes = within_upload_timeout(&state, reading).await?;
    drop(admitted);
    let received = trace_upload::parse(&bytes, state.analyzer.max_duration_s())?;
    drop(bytes);
    telemetry::count_trace_upload(&received.device);
    state.analyzer.analyze_trace(received).await.map(Json)
}

/// Rewrites the plain-text 413 of the body limit layer into the JSON error shape.
async fn json_payload_too_large<B>(State(limit): State<u64>, response: Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        let mut replaced = ApiError::too_large(limit).into_response();
        // The rest of the body is not read: tell the client this connection is finished.
        replaced
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return replaced;
    }
    response.map(axum::body::Body::new)
}

/// Liveness: the process answers.
/// Body of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok`: the process answers.
    status: String,
}

/// Body of `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    ready: bool,
    /// Why not ready (`draining`); absent when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_string(),
    })
}

/// Readiness: model loaded and not draining (false at once on SIGTERM).
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready for traffic", body = Readiness),
    (status = 503, description = "Draining; send no new traffic", body = Readiness)))]
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        Json(Readiness {
            ready: true,
            reason: None,
        })
        .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                ready: false,
                reason: Some("draining".to_string()),
            }),
        )
            .into_response()
    }
}

/// What the page shows: the release and the model; no build or host details.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct About {
    pub version: String,
    pub model_version: String,
    /// Blue/green colour that answered (`OXICAM_COLOR`), null when unset: how a release checks,
    /// through the public entry point alone, that traffic reached the new colour.
    pub color: Option<String>,
}

/// The release and model version, for the web page (public; `/version` is for operations).
#[utoipa::path(get, path = "/v1/about", responses((status = 200, body = About)))]
async fn about(State(state): State<Arc<AppState>>) -> Json<About> {
    Json(About {
        version: state.version.version.clone(),
        model_version: state.version.model_version.clone(),
        color: state.version.color.clone(),
    })
}

/// Build and deployment identity, used by blue/green switching (admin listener).
#[utoipa::path(get, path = "/version", responses((status = 200, body = VersionInfo)))]
async fn version(State(state): State<Arc<AppState>>) -> Json<VersionInfo> {
    Json(state.version.clone())
}

/// Prometheus metrics (admin listener).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// This document (admin listener).
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// The web page: measure with the phone camera (the trace is taken in the page) or pick a
/// file, then see the result. Its scripts and styles are served as files next to it.
#[utoipa::path(get, path = "/", responses((status = 200, description = "HTML page", content_type = "text/html")))]
async fn index(headers: HeaderMap) -> Response {
    assets::respond(assets::find("/"), &headers)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such route.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not accept that method.",
    )
}
