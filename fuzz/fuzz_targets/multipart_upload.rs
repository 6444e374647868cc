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

#[path = "common/router.rs"]
mod router;

use axum::body::Body;
use axum::http::{header, Request};
use libfuzzer_sys::fuzz_target;

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

    router::check_answer(request);
});
