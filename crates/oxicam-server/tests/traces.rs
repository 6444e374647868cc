//! `POST /v1/traces` through the router request by request: a trace the client measured gets
//! the same report as the video it came from, and bad traces get a 4xx naming the problem.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{header, Request};
use common::*;
use oxicam_server::trace_upload::{TraceUpload, MAX_BODY_BYTES, MAX_SAMPLES};
use serde_json::{json, Value};
use std::time::Duration;

const JSON: Option<&str> = Some("application/json");

/// The good clip's trace as the server's own decoder extracts it.
fn good_trace() -> oxicam_signal::Trace {
    oxicam_video::extract_trace(&good_clip(), &oxicam_video::DecodeOptions::default())
        .expect("the good clip decodes")
        .trace
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trace_gets_the_same_report_as_the_video_it_was_measured_from() {
    let app = TestApp::new(|_| {});
    let video = app.upload_file("/v1/analyses", &good_clip()).await;
    assert_eq!(video.status, 200, "{}", video.text());
    let video = video.json();
    let trace = good_trace();
    for (encoding, body) in [
        ("plain", TraceUpload::plain(&trace)),
        ("delta", TraceUpload::delta(&trace)),
    ] {
        let bytes = to_json(&body);
        let response = app.post("/v1/traces", JSON, bytes.clone()).await;
        assert_eq!(response.status, 200, "{encoding}: {}", response.text());
        let report = response.json();
        assert_eq!(report["usable"], true);
        assert_eq!(report["video"], Value::Null, "no video facts for a trace");
        if encoding == "plain" {
            // One pipeline after extraction: the very same numbers.
            for key in [
                "heart_rate_bpm",
                "spo2_percent",
                "perfusion_index",
                "windows",
            ] {
                assert_eq!(report[key], video[key], "{key}");
            }
        } else {
            // Only the delta encoding's rounding (1e-3 of 255) differs.
            for (key, tolerance) in [
                ("heart_rate_bpm", 0.2),
                ("spo2_percent", 0.2),
                ("perfusion_index", 0.01),
            ] {
                let (got, want) = (report[key].as_f64().unwrap(), video[key].as_f64().unwrap());
                assert!(
                    (got - want).abs() <= tolerance,
                    "{key}: trace {got}, video {want}"
                );
            }
        }
        if encoding == "delta" {
            assert!(bytes.len() < 100_000, "30 s trace: {} bytes", bytes.len());
        }
    }
    let metrics = app.admin_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"oxicam_trace_uploads_total{extractor="other"} 2"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trace_gets_the_screen_and_a_reference_spo2_is_refused() {
    let app = TestApp::new(|_| {});
    let mut body = serde_json::to_value(TraceUpload::delta(&good_trace())).unwrap();
    body["reference_spo2"] = json!(97);
    let refused = app.post("/v1/traces", JSON, to_json(&body)).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "reference_spo2_removed");
    body.as_object_mut().unwrap().remove("reference_spo2");
    body["device"] = json!({ "extractor": "webcodecs", "torch": false, "frames_dropped": 0 });
    let response = app.post("/v1/traces", JSON, to_json(&body)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert!(report.get("calibration").is_none());
    if matches!(
        report["spo2_status"].as_str(),
        Some("estimated" | "below_range")
    ) {
        let verdict = report["hypoxaemia"].as_str().unwrap();
        assert!(
            ["likely", "unlikely", "uncertain"].contains(&verdict),
            "{verdict}"
        );
    } else {
        assert!(report["hypoxaemia"].is_null());
    }
    let metrics = app.admin_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"oxicam_trace_uploads_total{extractor="webcodecs"} 1"#),
        "{metrics}"
    );
}

/// A small valid trace with `edit` applied to its JSON.
fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut body = json!({
        "t": [0.0, 0.033, 0.067, 0.1],
        "roi_rgb": [[200, 201, 199, 200], [60, 61, 60, 59], [30, 30, 31, 30]],
    });
    edit(&mut body);
    to_json(&body)
}

/// Name, content type, body, expected status and error code.
type Case = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_traces_get_a_4xx_naming_the_problem() {
    let app = TestApp::new(|c| c.max_duration_s = 120.0);
    let huge = vec![b' '; MAX_BODY_BYTES as usize + 1];
    let many = json!({
        "t": (0..=MAX_SAMPLES).map(|i| i as f64 / 1000.0).collect::<Vec<_>>(),
        "roi_rgb": [[1], [2], [3]],
    });
    let cases: Vec<Case> = vec![
        ("empty", JSON, Vec::new(), 400, "empty_body"),
        (
            "not json",
            JSON,
            b"R,G,B\n1,2,3\n".to_vec(),
            400,
            "invalid_json",
        ),
        ("array", JSON, b"[1,2,3]".to_vec(), 400, "invalid_json"),
        (
            "NaN literal",
            JSON,
            br#"{"t":[0,NaN],"roi_rgb":[[1,2],[3,4],[5,6]]}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "infinite number",
            JSON,
            br#"{"t":[0,1e400],"roi_rgb":[[1,2],[3,4],[5,6]]}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "time as text",
            JSON,
            edited(|b| b["t"] = json!("0,1,2,3")),
            400,
            "invalid_json",
        ),
        (
            "colour as text",
            JSON,
            edited(|b| b["roi_rgb"][1][2] = json!("60")),
            400,
            "invalid_json",
        ),
        (
            "two channels",
            JSON,
            edited(|b| b["roi_rgb"] = json!([[1, 2, 3, 4], [1, 2, 3, 4]])),
            400,
            "invalid_json",
        ),
        (
            "missing times",
            JSON,
            edited(|b| {
                b.as_object_mut().unwrap().remove("t");
            }),
            400,
            "invalid_json",
        ),
        (
            "unknown field",
            JSON,
            edited(|b| b["video"] = json!("x")),
            400,
            "invalid_json",
        ),
        (
            "unknown encoding",
            JSON,
            edited(|b| b["encoding"] = json!("gzip")),
            400,
            "invalid_json",
        ),
        (
            "no samples",
            JSON,
            edited(|b| {
                b["t"] = json!([]);
                b["roi_rgb"] = json!([[], [], []]);
            }),
            400,
            "empty_trace",
        ),
        (
            "short column",
            JSON,
            edited(|b| b["roi_rgb"][2] = json!([30, 30])),
            400,
            "column_length_mismatch",
        ),
        (
            "decreasing times",
            JSON,
            edited(|b| b["t"] = json!([0.0, 0.066, 0.033, 0.1])),
            400,
            "times_not_increasing",
        ),
        (
            "repeated time",
            JSON,
            edited(|b| b["t"] = json!([0.0, 0.033, 0.033, 0.1])),
            400,
            "times_not_increasing",
        ),
        (
            "colour out of range",
            JSON,
            edited(|b| b["roi_rgb"][0][1] = json!(1e6)),
            400,
            "value_out_of_range",
        ),
        (
            "negative clip share",
            JSON,
            edited(|b| {
                b["clipped_fraction"] = json!([[0, 0, 0, 0], [0, -0.1, 0, 0], [0, 0, 0, 0]])
            }),
            400,
            "value_out_of_range",
        ),
        (
            "fractional delta",
            JSON,
            edited(|b| b["encoding"] = json!("delta")),
            400,
            "not_an_integer",
        ),
        (
            "removed calibration field",
            JSON,
            edited(|b| b["reference_spo2"] = json!(97)),
            400,
            "reference_spo2_removed",
        ),
        (
            "nested device hint",
            JSON,
            edited(|b| b["device"] = json!({ "camera": { "torch": true } })),
            400,
            "invalid_device",
        ),
        (
            "hours long",
            JSON,
            edited(|b| b["t"] = json!([0.0, 1.0, 2.0, 7200.0])),
            413,
            "too_long",
        ),
        (
            "too many samples",
            JSON,
            to_json(&many),
            413,
            "too_many_samples",
        ),
        ("huge body", JSON, huge, 413, "body_too_large"),
        (
            "form instead of JSON",
            Some("multipart/form-data; boundary=x"),
            edited(|_| {}),
            415,
            "not_json",
        ),
        ("no content type", None, edited(|_| {}), 415, "not_json"),
    ];
    let mut failures = Vec::new();
    for (name, content_type, body, status, code) in cases {
        let response = app.post("/v1/traces", content_type, body).await;
        let json = response.json();
        let message = json["error"]["message"].as_str().unwrap_or("");
        if response.status.as_u16() != status || json["error"]["code"] != code || message.len() < 10
        {
            failures.push(format!(
                "{name}: got {} {} (want {status} {code})",
                response.status,
                response.text()
            ));
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert_eq!(app.get("/healthz").await.status, 200, "still healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_valid_but_unusable_trace_is_refused_with_the_report() {
    let app = TestApp::new(|_| {});
    // 20 s of a flat, finger-coloured frame: no pulse in it.
    let n = 600;
    let flat = json!({
        "t": (0..n).map(|i| i as f64 / 30.0).collect::<Vec<_>>(),
        "roi_rgb": [vec![200.0; n], vec![60.0; n], vec![30.0; n]],
    });
    let response = app.post("/v1/traces", JSON, to_json(&flat)).await;
    assert_eq!(response.status, 422, "{}", response.text());
    let body = response.json();
    assert_eq!(body["error"]["report"]["usable"], false);
    assert!(!body["error"]["reasons"].as_array().unwrap().is_empty());
    // Too short to analyse: refused the same way, with its own reason.
    let short = edited(|_| {});
    let response = app.post("/v1/traces", JSON, short).await;
    assert_eq!(response.status, 422);
    assert_eq!(response.json()["error"]["code"], "too_short");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_trace_body_is_cut_off() {
    let app = TestApp::new(|c| c.upload_idle_timeout = Duration::from_millis(200));
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{\"t\":[0,"))]),
        futures_util::stream::pending(),
    );
    let request = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), app.send(request))
        .await
        .expect("answered, not hung");
    assert_eq!(response.status, 408);
    assert_eq!(response.json()["error"]["code"], "upload_stalled");
}
