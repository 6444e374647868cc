//! Runs analyses off the async runtime: a semaphore bounds decodes, a short queue absorbs bursts,
//! everything past it is refused with 503; a deadline cancels decodes that take too long.

use crate::error::ApiError;
use crate::trace_upload::ReceivedTrace;
use crate::upload::Upload;
use axum::http::StatusCode;
use oxicam_signal::{AnalysisOptions, Report, Spo2Model};
use oxicam_video::pipeline::{analyze_trace, analyze_video, PipelineOptions};
use oxicam_video::{DecodeOptions, VideoError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Highest frame rate decoded in full (phones' slow motion); sets the frame-count cap.
const MAX_FRAME_RATE_HZ: f64 = 240.0;

/// Seconds a refused client is told to wait before retrying.
const RETRY_AFTER_S: u64 = 5;

pub struct Analyzer {
    slots: Arc<Semaphore>,
    concurrency: usize,
    queue_capacity: usize,
    queued: AtomicUsize,
    running: Arc<AtomicUsize>,
    /// Uploads being received: they hold a connection and temp-volume space like a queued
    /// analysis, so they count against the same capacity.
    uploading: Arc<AtomicUsize>,
    model: Arc<Spo2Model>,
    timeout: Duration,
    max_duration_s: f64,
    decode_threads: usize,
}

/// Undoes a gauge increment when the holder goes away, whatever the path.
struct GaugeGuard {
    counter: Arc<AtomicUsize>,
    gauge: &'static str,
}

impl GaugeGuard {
    fn enter(counter: Arc<AtomicUsize>, gauge: &'static str) -> GaugeGuard {
        let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::gauge!(gauge).set(now as f64);
        GaugeGuard { counter, gauge }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        let now = self.counter.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!(self.gauge).set(now as f64);
    }
}

/// Asks the decoder to stop when the request is abandoned (client gone, deadline passed).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Analyzer {
    pub fn new(
        model: Spo2Model,
        concurrency: usize,
        queue_capacity: usize,
        timeout: Duration,
        max_duration_s: f64,
        decode_threads: usize,
    ) -> Analyzer {
        let concurrency = concurrency.max(1);
        Analyzer {
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            queue_capacity,
            queued: AtomicUsize::new(0),
            running: Arc::new(AtomicUsize::new(0)),
            uploading: Arc::new(AtomicUsize::new(0)),
            model: Arc::new(model),
            timeout,
            max_duration_s,
            decode_threads: decode_threads.max(1),
        }
    }

    pub fn model_version(&self) -> String {
        self.model.version().to_string()
    }

    /// Admits an upload, or refuses it before its body is read when uploads in progress,
    /// queued and running analyses already fill every slot and queue place (a saturated server
    /// does not make clients send 100 MB to learn it is busy). The upload counts until the
    /// returned guard is dropped, when its analysis is queued or it failed.
    pub fn admit_upload(&self) -> Result<impl Drop, ApiError> {
        let guard = GaugeGuard::enter(self.uploading.clone(), "oxicam_uploads_in_progress");
        let busy = self.running.load(Ordering::SeqCst)
            + self.queued.load(Ordering::SeqCst)
            + self.uploading.load(Ordering::SeqCst);
        // `busy` includes this upload.
        if busy > self.concurrency + self.queue_capacity {
            return Err(saturated());
        }
        Ok(guard)
    }

    /// Longest recording accepted, seconds.
    pub fn max_duration_s(&self) -> f64 {
        self.max_duration_s
    }

    /// Decodes and analyses an upload; `Ok` only for a usable report.
    pub async fn analyze(&self, upload: Upload) -> Result<Report, ApiError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let cancel = Arc::new(AtomicBool::new(false));
        let options = PipelineOptions {
            decode: DecodeOptions {
                threads: self.decode_threads,
                max_duration_s: Some(self.max_duration_s),
                // Phones record 30-60 fps, slow motion 240: more frames than that is a flood.
                max_frames: (self.max_duration_s * MAX_FRAME_RATE_HZ).ceil() as usize,
                cancel: Some(cancel.clone()),
                // The decoder stops itself at the deadline, inside FFmpeg's reads too, so the
                // slot is free when the client gets its 503 even if nobody sets `cancel`.
                deadline: Some(deadline.into_std()),
                ..DecodeOptions::default()
            },
            analysis: AnalysisOptions::default(),
        };
        self.run(deadline, cancel, move |model| {
            let report = analyze_video(upload.file.path(), model, &options);
            // The temporary file goes as soon as it is read, even when the request was
            // abandoned meanwhile.
            drop(upload);
            usable(report.map_err(video_error)?)
        })
        .await
    }

    /// Analyses a trace the client measured itself (the web page): from here on the same
    /// pipeline as a decoded video.
    pub async fn analyze_trace(&self, received: ReceivedTrace) -> Result<Report, ApiError> {
        let options = AnalysisOptions::default();
        let deadline = tokio::time::Instant::now() + self.timeout;
        self.run(deadline, Arc::new(AtomicBool::new(false)), move |model| {
            usable(analyze_trace(&received.trace, None, model, &options))
        })
        .await
    }

    /// Runs `job` off the async runtime under a slot, the in-flight gauge and `deadline`;
    /// `cancel` is raised when the request is abandoned or the deadline passes.
    async fn run(
        &self,
        deadline: tokio::time::Instant,
        cancel: Arc<AtomicBool>,
        job: impl FnOnce(&Spo2Model) -> Result<Report, ApiError> + Send + 'static,
    ) -> Result<Report, ApiError> {
        let permit = self.acquire_slot(deadline).await?;
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let model = self.model.clone();
        let running = self.running.clone();
        let task = tokio::task::spawn_blocking(move || {
            // The permit (and what the job owns, like an upload's temporary file) lives exactly
            // as long as the work, even when the request was abandoned: CPU stays bounded and
            // files are removed afterwards.
            let _permit: OwnedSemaphorePermit = permit;
            let _running = GaugeGuard::enter(running, "oxicam_analyses_in_flight");
            let started = Instant::now();
            let result = job(&model);
            metrics::histogram!("oxicam_analysis_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            result
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => {
                tracing::error!(error = %join_error, "analysis task failed");
                Err(ApiError::internal("The analysis failed unexpectedly."))
            }
            Err(_elapsed) => {
                cancel.store(true, Ordering::SeqCst);
                Err(timed_out(self.timeout))
            }
        }
    }

    async fn acquire_slot(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.queue_capacity {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(saturated());
        }
        metrics::gauge!("oxicam_analyses_queued").set(self.queued.load(Ordering::SeqCst) as f64);
        let waited = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await;
        let now_queued = self.queued.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("oxicam_analyses_queued").set(now_queued as f64);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(saturated()),
            Err(_elapsed) => Err(timed_out(self.timeout)),
        }
    }
}

/// `Ok` only for a usable report; a refused recording is a 422 carrying the report.
fn usable(report: Report) -> Result<Report, ApiError> {
    if report.usable {
        Ok(report)
    } else {
        Err(ApiError::unusable(report))
    }
}

/// The answer for a file that could not be decoded: 415 for what the client sent, 413 for a
/// video over the duration, picture or frame-count limit, 503 when we cancelled or the decode hit
/// its deadline, 500 for our own failures.
fn video_error(err: VideoError) -> ApiError {
    let code = err.code();
    let status = match &err {
        VideoError::Cancelled => {
            return ApiError::busy(code, "The analysis was cancelled.", RETRY_AFTER_S);
        }
        VideoError::Io { .. } | VideoError::Internal(_) => {
            tracing::error!(error = %err, code, "decoder failed on the server side");
            return ApiError::internal("The server could not read the upload.");
        }
        VideoError::TimedOut => return timed_out_decoding(),
        VideoError::TooLong { .. }
        | VideoError::PictureTooLarge { .. }
        | VideoError::TooManyFrames { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        VideoError::InvalidTimestamps { .. }
        | VideoError::EmptyFile
        | VideoError::NotAVideo { .. }
        | VideoError::Truncated { .. }
        | VideoError::UnsupportedContainer { .. }
        | VideoError::StillImage { .. }
        | VideoError::NoVideoStream { .. }
        | VideoError::UnsupportedCodec { .. }
        | VideoError::NoDecodableFrames { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    };
    ApiError::new(status, code, err.to_string())
}

fn saturated() -> ApiError {
    metrics::counter!("oxicam_analyses_rejected_total", "reason" => "saturated").increment(1);
    ApiError::busy(
        "busy",
        "The server is busy with other analyses; retry shortly.",
        RETRY_AFTER_S,
    )
}

/// The decoder hit its deadline: the same answer as the deadline seen from outside.
fn timed_out_decoding() -> ApiError {
    metrics::counter!("oxicam_analyses_rejected_total", "reason" => "timeout").increment(1);
    ApiError::busy(
        "timeout",
        "The analysis did not finish in time; retry later or send a shorter video.",
        RETRY_AFTER_S,
    )
}

fn timed_out(limit: Duration) -> ApiError {
    metrics::counter!("oxicam_analyses_rejected_total", "reason" => "timeout").increment(1);
    ApiError::busy(
        "timeout",
        format!(
            "The analysis did not finish within {} s; retry later or send a shorter video.",
            limit.as_secs()
        ),
        RETRY_AFTER_S,
    )
}
