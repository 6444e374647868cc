//! Fuzzes the upload path of `POST /run` and `POST /v1/analyses` through the real router: the
//! Content-Type header, the multipart body (split into chunks of a fuzzed size, as a network
//! delivers it), the form fields, the body limit and, for a well-formed `file`, the decoder.
//!
//! Input layout: byte 0 chunk size (0 = one chunk), byte 1 flags (bit 0: /v1/analyses, bit 1:
//! send a Content-Length), then the Content-Type value up to the first `\n`, then the body.
//! Checked on every input: the answer is one the API documents for bad input (never a 500 or
//! another status), error bodies are `{"error":{"code","message"}}`, a 503 carries
//! Retry-After, and the upload directory is empty once the answer is out.
#![no_main]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use oxicam_server::ServerConfig;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tower::ServiceExt;

/// Small, so that the fuzzer reaches the body limit with inputs of a few kB.
const BODY_LIMIT_BYTES: u64 = 2048;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    tmp_dir: PathBuf,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let tmp_dir =
            std::env::temp_dir().join(format!("oxicam-fuzz-upload-{}", std::process::id()));
        let config = ServerConfig {
            body_limit_bytes: BODY_LIMIT_BYTES,
            concurrency: 1,
            queue: 1,
            decode_threads: 1,
            upload_idle_timeout: Duration::from_secs(5),
            tmp_dir: Some(tmp_dir.clone()),
            // The fuzzer is one client sending thousands of requests: the per-client rate
            // limit (its own tests cover it) would answer 429 to nearly all of them.
            rate_per_minute: 0,
            ..ServerConfig::default()
        };
        let router = oxicam_server::router(&config).expect("the service builds");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Harness {
            runtime,
            router,
            tmp_dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [chunk_selector, flags, rest @ ..] = data else {
        return;
    };
    let (content_type, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (&rest[..end], &rest[end + 1..]),
        None => (rest, &[][..]),
    };
    let chunk = match *chunk_selector {
        0 => body.len().max(1),
        n => usize::from(n),
    };
    let path = if flags & 1 == 0 {
        "/run"
    } else {
        "/v1/analyses"
    };
    let mut request = Request::post(path);
    if let Ok(value) = header::HeaderValue::from_bytes(content_type) {
        request = request.header(header::CONTENT_TYPE, value);
    }
    if flags & 2 != 0 {
        request = request.header(header::CONTENT_LENGTH, body.len());
    }
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let request = request
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("a request");

    let h = harness();
    let (status, retry_after, bytes) = h.runtime.block_on(async {
        let response = h.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let retry_after = response.headers().contains_key(header::RETRY_AFTER);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, retry_after, bytes)
    });

    let documented = [
        StatusCode::OK,
        StatusCode::BAD_REQUEST,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    assert!(
        documented.contains(&status),
        "undocumented answer {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    if status != StatusCode::OK {
        let code = json["error"]["code"].as_str().expect("error.code");
        assert!(!code.is_empty(), "empty error code");
        assert!(
            json["error"]["message"].is_string(),
            "no error.message: {json}"
        );
    }
    assert!(
        status != StatusCode::SERVICE_UNAVAILABLE || retry_after,
        "503 without Retry-After"
    );
    let left: Vec<_> = std::fs::read_dir(&h.tmp_dir)
        .expect("the upload directory")
        .collect();
    assert!(
        left.is_empty(),
        "{} upload file(s) left behind after {status}",
        left.len()
    );
});
