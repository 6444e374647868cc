//! Fuzzes `POST /v1/traces` through the real router: the JSON trace a client measured itself
//! (plain and delta encodings, optional columns, device facts), its limits and validation, and
//! the analysis of every trace that passes. Same checks on the answer as the upload target.
#![no_main]

#[path = "common/router.rs"]
mod router;

use axum::body::Body;
use axum::http::{header, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let request = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(data.to_vec()))
        .expect("a request");
    router::check_answer(request);
});
