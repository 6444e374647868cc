//! The real router of the service, built once per fuzzing process, and the checks every answer
//! to an outside request must pass (shared by the upload and trace targets).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
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

/// Sends the request through the router and checks the answer: a status the API documents for
/// bad input (never a 500), a JSON body, `{"error":{"code","message"}}` on errors,
/// `Retry-After` on 503, and no upload left in the temp directory.
pub fn check_answer(request: Request<Body>) {
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
}
