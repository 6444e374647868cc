//! Receives a multipart upload: streams the `file` field to a temporary file (never whole into
//! memory) and reads the small form fields; the temporary file is deleted when dropped.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use futures_core::Stream;
use multer::Field;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

/// Most body bytes handed to the multipart parser before it must yield. The parser (multer)
/// buffers everything its input stream offers without waiting; on a fast link that is the whole
/// upload in memory. Yielding every burst keeps its buffer to about this size.
const BURST_BYTES: usize = 256 * 1024;

/// Name prefix of spooled uploads; at start, such files nobody holds are removed.
const TEMP_PREFIX: &str = "oxicam-upload-";
/// Most body bytes the parser may read while looking for the end of one part's headers (and
/// the boundary before them). multer has no such limit: it buffers, and rescans its buffer on
/// every read, until it finds the blank line, however far away. It reads greedily (a burst)
/// before it looks, so the bound leaves room for a burst and one large chunk.
const MAX_PART_HEADER_BYTES: usize = 1024 * 1024;

/// Bytes all spooled uploads may occupy together on the temp volume. Space is reserved chunk
/// by chunk before it is written, and released when the upload's temp file is removed.
#[derive(Debug)]
pub struct DiskBudget {
    limit: u64,
    used: AtomicU64,
}

impl DiskBudget {
    pub fn new(limit: u64) -> Arc<DiskBudget> {
        Arc::new(DiskBudget {
            limit,
            used: AtomicU64::new(0),
        })
    }

    fn reserve(self: &Arc<Self>, bytes: u64, held: &mut Reservation) -> Result<(), ApiError> {
        let taken = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            });
        if taken.is_err() {
            metrics::counter!("oxicam_analyses_rejected_total", "reason" => "disk_budget")
                .increment(1);
            return Err(ApiError::busy(
                "storage_busy",
                "The server holds too many uploads right now; retry shortly.",
                5,
            ));
        }
        held.bytes += bytes;
        metrics::gauge!("oxicam_upload_budget_used_bytes")
            .set(self.used.load(Ordering::SeqCst) as f64);
        Ok(())
    }
}

/// Space an upload holds in the [`DiskBudget`]; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<DiskBudget>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let now = self.budget.used.fetch_sub(self.bytes, Ordering::SeqCst) - self.bytes;
        metrics::gauge!("oxicam_upload_budget_used_bytes").set(now as f64);
    }
}

/// Removes spooled uploads left in `dir` by a process that was killed (a clean exit removes
/// its own). A live server holds a lock on each of its files, so those are kept: servers may
/// share a temp dir. Returns how many files were removed.
pub fn remove_leftovers(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let is_ours = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
        if !is_ours || !entry.file_type()?.is_file() {
            continue;
        }
        let Ok(file) = std::fs::File::open(entry.path()) else {
            continue;
        };
        if try_lock(&file).is_ok() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::warn!(removed, dir = %dir.display(), "removed uploads left by a killed process");
    }
    Ok(removed)
}

/// An exclusive advisory lock (flock) held while the file is open, released by the kernel when
/// the process dies.
fn try_lock(file: &std::fs::File) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor `file` keeps open.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A received upload. Dropping it removes the temporary file, on every path: success, error,
/// panic in the decoder, or the client going away mid-upload (the handler future is dropped).
#[derive(Debug)]
pub struct Upload {
    pub file: NamedTempFile,
    /// Dropped after `file` (field order): the space is given back once the file is gone.
    _space: Reservation,
}

/// Limits and accepted fields of one upload.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes: u64,
    pub idle: Duration,
    /// Whether the route refuses a `reference_spo2` field (the calibration the v1 API took
    /// until report schema 4) rather than ignoring it like any unknown field.
    pub refuse_reference_spo2: bool,
}

pub async fn receive(
    headers: &HeaderMap,
    body: Body,
    tmp_dir: &Path,
    limits: Limits,
    budget: &Arc<DiskBudget>,
) -> Result<Upload, ApiError> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "not_multipart",
                "Expected a multipart/form-data upload (with a boundary) carrying the video in \
                 field `file`.",
            )
        })?;
    let paced = Paced::new(body.into_data_stream());
    let in_part_headers = paced.in_part_headers.clone();
    let mut multipart = multer::Multipart::new(paced, boundary);
    let mut space = Reservation {
        budget: budget.clone(),
        bytes: 0,
    };
    let mut upload: Option<(NamedTempFile, u64)> = None;
    loop {
        in_part_headers.store(true, Ordering::SeqCst);
        let next = idle_guard(limits.idle, multipart.next_field()).await?;
        in_part_headers.store(false, Ordering::SeqCst);
        let Some(field) = next.map_err(|e| multipart_error(e, limits.body_bytes))? else {
            break;
        };
        match field.name() {
            Some("file") => {
                if upload.is_some() {
                    return Err(ApiError::bad_request(
                        "multiple_files",
                        "Send exactly one video in field `file`.",
                    ));
                }
                upload = Some(spool(field, tmp_dir, limits, &mut space).await?);
            }
            Some("reference_spo2") if limits.refuse_reference_spo2 => {
                return Err(reference_spo2_removed());
            }
            _ => drain(field, limits).await?,
        }
    }
    let Some((file, bytes)) = upload else {
        return Err(ApiError::bad_request(
            "missing_file",
            "No field named `file` in the upload; send the video as multipart field `file`.",
        ));
    };
    if bytes == 0 {
        return Err(ApiError::bad_request(
            "empty_file",
            "The uploaded file is empty.",
        ));
    }
    Ok(Upload {
        file,
        _space: space,
    })
}

fn multipart_error(err: multer::Error, body_limit: u64) -> ApiError {
    if let multer::Error::StreamReadFailed(source) = &err {
        if is_length_limit(source.as_ref()) {
            return ApiError::too_large(body_limit);
        }
        if source.to_string().contains(PART_HEADERS_TOO_LARGE) {
            return ApiError::bad_request(
                "part_headers_too_large",
                format!(
                    "No multipart part's headers end within {} MB.",
                    MAX_PART_HEADER_BYTES / (1024 * 1024)
                ),
            );
        }
        return ApiError::bad_request(
            "upload_interrupted",
            "The upload was interrupted before it was complete.",
        );
    }
    ApiError::bad_request(
        "malformed_multipart",
        format!("The multipart upload is malformed: {err}."),
    )
}

/// Whether the body limit layer cut the stream (its error sits somewhere in the chain).
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// A body stream that yields (wakes itself and returns `Pending`) after every `BURST_BYTES`,
/// so the multipart parser hands data on instead of buffering the whole upload; and fails
/// once the parser has read `MAX_PART_HEADER_BYTES` looking for the end of a part's headers.
struct Paced<S> {
    inner: S,
    since_yield: usize,
    /// Set by the receiver while it waits for the next part (boundary and headers).
    in_part_headers: Arc<std::sync::atomic::AtomicBool>,
    header_bytes: usize,
}

const PART_HEADERS_TOO_LARGE: &str = "multipart part headers too large";

impl<S> Paced<S> {
    fn new(inner: S) -> Paced<S> {
        Paced {
            inner,
            since_yield: 0,
            in_part_headers: Arc::default(),
            header_bytes: 0,
        }
    }
}

impl<S> Stream for Paced<S>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.since_yield >= BURST_BYTES {
            self.since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if !self.in_part_headers.load(Ordering::SeqCst) {
            self.header_bytes = 0;
        } else if self.header_bytes > MAX_PART_HEADER_BYTES {
            // The parser asks for more although it already holds this many bytes of headers.
            return Poll::Ready(Some(Err(axum::Error::new(PART_HEADERS_TOO_LARGE))));
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &polled {
            self.since_yield += bytes.len();
            if self.in_part_headers.load(Ordering::SeqCst) {
                self.header_bytes += bytes.len();
            }
        }
        polled
    }
}

/// Fails with 408 when the client sends nothing for `idle` (a stalled or trickling upload
/// must not hold a connection and a temporary file forever).
async fn idle_guard<T>(
    idle: Duration,
    step: impl std::future::Future<Output = T>,
) -> Result<T, ApiError> {
    tokio::time::timeout(idle, step).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "upload_stalled",
            format!(
                "The upload stalled: nothing was received for {} s.",
                idle.as_secs_f64()
            ),
        )
    })
}

async fn next_chunk(
    field: &mut Field<'static>,
    limits: Limits,
) -> Result<Option<bytes::Bytes>, ApiError> {
    idle_guard(limits.idle, field.chunk())
        .await?
        .map_err(|e| multipart_error(e, limits.body_bytes))
}

async fn spool(
    mut field: Field<'static>,
    tmp_dir: &Path,
    limits: Limits,
    space: &mut Reservation,
) -> Result<(NamedTempFile, u64), ApiError> {
    let file = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(tmp_dir)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot create a temporary file");
            ApiError::internal("The server cannot store the upload right now.")
        })?;
    // Held while the file lives, so another server starting on this dir leaves it alone.
    try_lock(file.as_file()).map_err(|e| {
        tracing::error!(error = %e, "cannot lock the temporary file");
        ApiError::internal("The server cannot store the upload right now.")
    })?;
    let std_file = file.as_file().try_clone().map_err(|e| {
        tracing::error!(error = %e, "cannot open the temporary file");
        ApiError::internal("The server cannot store the upload right now.")
    })?;
    let mut out = tokio::fs::File::from_std(std_file);
    let mut bytes = 0u64;
    while let Some(chunk) = next_chunk(&mut field, limits).await? {
        space.budget.clone().reserve(chunk.len() as u64, space)?;
        bytes += chunk.len() as u64;
        metrics::counter!("oxicam_upload_bytes_total").increment(chunk.len() as u64);
        out.write_all(&chunk).await.map_err(|e| {
            tracing::error!(error = %e, "cannot write the temporary file");
            ApiError::internal("The server cannot store the upload right now.")
        })?;
    }
    out.flush().await.map_err(|e| {
        tracing::error!(error = %e, "cannot flush the temporary file");
        ApiError::internal("The server cannot store the upload right now.")
    })?;
    Ok((file, bytes))
}

/// Reads a small body (JSON) whole, up to `limit` bytes, failing with 408 when the client
/// sends nothing for `idle` and with 413 past the limit.
pub async fn read_small_body(body: Body, limit: u64, idle: Duration) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = idle_guard(idle, body.frame()).await? {
        let frame = frame.map_err(|e| {
            if is_length_limit(&e) {
                ApiError::too_large(limit)
            } else {
                ApiError::bad_request(
                    "upload_interrupted",
                    "The upload was interrupted before it was complete.",
                )
            }
        })?;
        if let Ok(data) = frame.into_data() {
            if (out.len() + data.len()) as u64 > limit {
                return Err(ApiError::too_large(limit));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// The answer to a `reference_spo2` field (video or trace upload): calibration is gone.
pub(crate) fn reference_spo2_removed() -> ApiError {
    ApiError::bad_request(
        "reference_spo2_removed",
        "Calibration with `reference_spo2` was removed: on people the model had not seen, a \
         reference reading made SpO2 worse. Send the recording alone.",
    )
}

/// Reads an unknown field to its end so the next one can be parsed; keeps nothing.
async fn drain(mut field: Field<'static>, limits: Limits) -> Result<(), ApiError> {
    while next_chunk(&mut field, limits).await?.is_some() {}
    Ok(())
}
