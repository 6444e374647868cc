//! Tests of the HTTP API with real FFmpeg decoding of clips rendered from a real trace and a
//! corpus of bad inputs with expected codes. Route behaviour goes through the router request
//! by request (`TestApp`); a real server on a loopback port (`TestServer`) is used where the
//! socket matters: the original curl contract, streamed and stalled uploads, concurrency,
//! draining.

mod common;

use axum::body::Body;
use axum::http::{header, Request};
use common::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_curl_call_on_run_returns_the_known_heart_rate() {
    let server = TestServer::start(|_| {}).await;
    let response = post_file(&server.url("/run"), &good_clip()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let report: serde_json::Value = response.json().await.unwrap();
    let heart_rate = report["heart_rate_bpm"].as_f64().expect("a heart rate");
    let truth = oxicam_video::synth::EMBEDDED_TRACE_HEART_RATE_BPM;
    assert!(
        (heart_rate - truth).abs() <= 5.0,
        "heart rate {heart_rate} vs reference {truth}"
    );
    assert_eq!(report["usable"], true);
    assert!(report["notice"]
        .as_str()
        .unwrap()
        .contains("not a medical device"));
    assert_eq!(report["video"]["codec"], "h264");
    assert!(!report["windows"].as_array().unwrap().is_empty());
    assert!(server.leftovers().is_empty());

    let metrics = reqwest::get(server.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bytes = metric(&metrics, "oxicam_upload_bytes_total").unwrap();
    assert!(bytes >= std::fs::metadata(good_clip()).unwrap().len() as f64);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v1_analyses_refuses_the_removed_calibration_and_run_ignores_it() {
    let app = TestApp::new(|_| {});
    let bytes = std::fs::read(good_clip()).unwrap();
    let parts = [
        ("file", Some("clip.mp4"), "video/mp4", bytes.as_slice()),
        ("reference_spo2", None, "text/plain", b"97".as_slice()),
    ];
    let refused = app.upload("/v1/analyses", &parts).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let error = refused.json()["error"].clone();
    assert_eq!(error["code"], "reference_spo2_removed");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("Send the recording alone"));
    // The original route never took the field and still ignores it.
    let ok = app.upload("/run", &parts).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let report = ok.json();
    assert_eq!(report["schema_version"], "5");
    assert!(report.get("calibration").is_none());
    assert_eq!(report["spo2_status"], "estimated");
    assert!(["likely", "unlikely", "uncertain"].contains(&report["hypoxaemia"].as_str().unwrap()));
    app.assert_tmp_empty_soon().await;
}

struct Case {
    name: &'static str,
    request: Request<Body>,
    status: u16,
    /// Accepted `error.code` values (more than one where two decoder verdicts are both right).
    codes: &'static [&'static str],
}

/// A POST of `body` to `/run` with an optional content type.
fn post(content_type: Option<&str>, body: &[u8]) -> Request<Body> {
    let mut request = Request::post("/run");
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    request.body(Body::from(body.to_vec())).unwrap()
}

fn file_case(
    name: &'static str,
    bytes: &[u8],
    status: u16,
    codes: &'static [&'static str],
) -> Case {
    let body = multipart_body(&[(
        "file",
        Some("upload.bin"),
        "application/octet-stream",
        bytes,
    )]);
    Case {
        name,
        request: post(Some(&multipart_type()), &body),
        status,
        codes,
    }
}

fn fixture_bytes(path: std::path::PathBuf) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

const CORPUS_BODY_LIMIT: u64 = 4 * 1024 * 1024;
const CORPUS_MAX_DURATION_S: f64 = 35.0;

fn corpus() -> Vec<Case> {
    let red = "color=c=0xB41E1E:s=160x120:r=30";
    let good = fixture_bytes(good_clip());
    let moov_at_end = fixture_bytes(ffmpeg(
        "moov_end.mp4",
        &[
            "-i",
            good_clip().to_str().unwrap(),
            "-c",
            "copy",
            "-f",
            "mp4",
        ],
    ));
    let png = fixture_bytes(ffmpeg(
        "still.png",
        &["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
    ));
    let jpeg = fixture_bytes(ffmpeg(
        "still.jpg",
        &["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
    ));
    let audio = fixture_bytes(ffmpeg(
        "audio.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:a",
            "aac",
        ],
    ));
    let one_frame = fixture_bytes(ffmpeg(
        "one_frame.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            red,
            "-frames:v",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    ));
    let mpeg4 = fixture_bytes(ffmpeg(
        "mpeg4.mp4",
        &["-f", "lavfi", "-i", red, "-t", "3", "-c:v", "mpeg4"],
    ));
    let scene = fixture_bytes(scene_clip());
    let dark = fixture_bytes(lavfi_h264("dark.mp4", "color=c=black:s=160x120:r=30", 25));
    let long = fixture_bytes(lavfi_h264("long.mp4", red, 40));
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let multipart = multipart_type();

    let mut cases = vec![
        Case {
            name: "empty body",
            request: post(Some(&multipart), b""),
            status: 400,
            codes: &["malformed_multipart", "missing_file"],
        },
        Case {
            name: "no content type",
            request: post(None, &good[..1000]),
            status: 400,
            codes: &["not_multipart"],
        },
        Case {
            name: "raw video body, not multipart",
            request: post(Some("video/mp4"), &good[..200_000]),
            status: 400,
            codes: &["not_multipart"],
        },
        Case {
            name: "json body",
            request: post(Some("application/json"), br#"{"file":"x"}"#),
            status: 400,
            codes: &["not_multipart"],
        },
        Case {
            name: "multipart without a boundary parameter",
            request: post(Some("multipart/form-data"), &good[..1000]),
            status: 400,
            codes: &["not_multipart"],
        },
        Case {
            name: "bogus boundary",
            request: post(
                Some("multipart/form-data; boundary=not-the-one-used"),
                &multipart_body(&[("file", Some("a.mp4"), "video/mp4", &good[..200_000])]),
            ),
            status: 400,
            codes: &["malformed_multipart", "missing_file"],
        },
        Case {
            name: "multipart cut before the closing boundary",
            request: {
                let body =
                    multipart_body(&[("file", Some("a.mp4"), "video/mp4", &good[..200_000])]);
                post(Some(&multipart), &body[..body.len() / 2])
            },
            status: 400,
            codes: &["malformed_multipart"],
        },
        Case {
            name: "wrong field name",
            request: post(
                Some(&multipart),
                &multipart_body(&[("video", Some("a.mp4"), "video/mp4", &good[..200_000])]),
            ),
            status: 400,
            codes: &["missing_file"],
        },
        Case {
            name: "text field only",
            request: post(
                Some(&multipart),
                &multipart_body(&[("comment", None, "text/plain", b"hello")]),
            ),
            status: 400,
            codes: &["missing_file"],
        },
        Case {
            name: "two files",
            request: post(
                Some(&multipart),
                &multipart_body(&[
                    ("file", Some("a.mp4"), "video/mp4", &good[..100_000]),
                    ("file", Some("b.mp4"), "video/mp4", &good[..100_000]),
                ]),
            ),
            status: 400,
            codes: &["multiple_files"],
        },
        file_case("empty file", b"", 400, &["empty_file"]),
        file_case(
            "text file",
            b"heart rate please\nthis is not a video at all\n",
            415,
            &["not_a_video"],
        ),
        file_case("random bytes", &garbage, 415, &["not_a_video"]),
        file_case("PNG image", &png, 415, &["still_image", "not_a_video"]),
        file_case("JPEG image", &jpeg, 415, &["still_image", "not_a_video"]),
        file_case("audio only", &audio, 415, &["no_video_stream"]),
        file_case(
            "truncated MP4 (index at the end, cut in half)",
            &moov_at_end[..moov_at_end.len() / 2],
            415,
            &["truncated", "not_a_video", "no_decodable_frames"],
        ),
        file_case(
            "MP4 header only",
            &moov_at_end[..64],
            415,
            &["truncated", "not_a_video"],
        ),
        // Decodes (one frame) but holds nothing to measure: refused with reasons.
        file_case("one-frame video", &one_frame, 422, &[]),
        file_case(
            "unsupported codec (MPEG-4 part 2)",
            &mpeg4,
            415,
            &["unsupported_codec"],
        ),
        file_case("video longer than the limit", &long, 413, &["too_long"]),
        Case {
            name: "declared body over the limit",
            request: Request::post("/run")
                .header(header::CONTENT_TYPE, &multipart)
                .header(header::CONTENT_LENGTH, CORPUS_BODY_LIMIT * 4)
                .body(Body::from(good[..1000].to_vec()))
                .unwrap(),
            status: 413,
            codes: &["body_too_large"],
        },
        Case {
            name: "GET on an upload route",
            request: Request::get("/run").body(Body::empty()).unwrap(),
            status: 405,
            codes: &["method_not_allowed"],
        },
    ];
    // A video, but not a fingertip recording: decodes fine, must be refused with reasons.
    for (name, bytes) in [
        ("camera not covered (test pattern)", scene),
        ("dark (no torch)", dark),
    ] {
        cases.push(file_case(name, &bytes, 422, &[]));
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_inputs_get_the_right_4xx_and_leave_nothing_behind() {
    let app = TestApp::new(|c| {
        c.body_limit_bytes = CORPUS_BODY_LIMIT;
        c.max_duration_s = CORPUS_MAX_DURATION_S;
    });
    let cases = corpus();
    assert!(cases.len() >= 20, "corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let response = app.send(case.request).await;
        let body = response.json();
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or("<none>")
            .to_string();
        let message_ok = body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.len() > 10);
        let code_ok = if case.status == 422 {
            !body["error"]["reasons"]
                .as_array()
                .is_none_or(|r| r.is_empty())
                && body["error"]["report"]["usable"] == false
        } else {
            case.codes.contains(&code.as_str())
        };
        if response.status != case.status || !code_ok || !message_ok {
            failures.push(format!(
                "{}: got {} {} (want {} {:?}): {}",
                case.name,
                response.status,
                code,
                case.status,
                case.codes,
                response.text()
            ));
        }
        if !app.leftovers().is_empty() {
            failures.push(format!("{}: left {:?}", case.name, app.leftovers()));
            app.assert_tmp_empty_soon().await;
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    // The service is still healthy and says where the refusals went.
    assert_eq!(app.get("/healthz").await.status, 200);
    let metrics = app.admin_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"route="/run",status="415""#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversize_is_refused_as_soon_as_the_limit_is_crossed() {
    let server = TestServer::start(|c| c.body_limit_bytes = 1024 * 1024).await;

    // Declared size over the limit: 413 before a byte of body is sent.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        multipart_type(),
        500 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"]["code"], "body_too_large");

    // Chunked upload with no declared size: 413 once the stream passes the limit, long
    // before the client is done sending.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        multipart_type()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let part_head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n\r\n"
    );
    let mut sent = 0usize;
    let chunk = vec![0x42u8; 64 * 1024];
    let mut payloads = vec![part_head.into_bytes()];
    payloads.extend(std::iter::repeat_n(chunk, 200)); // 12.5 MB offered, limit 1 MB
    for payload in payloads {
        let framed = [
            format!("{:x}\r\n", payload.len()).as_bytes(),
            &payload,
            b"\r\n",
        ]
        .concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
        sent += payload.len();
        if sent > 4 * 1024 * 1024 {
            break;
        }
    }
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 413, "{}", response.body);
    assert_eq!(response.json()["error"]["code"], "body_too_large");
    server.assert_tmp_empty_soon().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cut_off_and_stalled_uploads_leave_no_temp_files() {
    let server = TestServer::start(|c| c.upload_idle_timeout = Duration::from_millis(700)).await;
    let good = std::fs::read(good_clip()).unwrap();
    let body = multipart_body(&[("file", Some("a.mp4"), "video/mp4", &good)]);
    let request = post_request("/run", Some(&multipart_type()), &body);
    let half = request.len() / 2;

    // Client goes away mid-upload: the half-written temp file must go.
    {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&request[..half]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            server.leftovers().len(),
            1,
            "upload is spooled to the temp dir"
        );
    }
    server.assert_tmp_empty_soon().await;

    // Client stalls mid-upload: cut off with 408, temp file removed.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&request[..half]).await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 408);
    assert_eq!(response.json()["error"]["code"], "upload_stalled");
    server.assert_tmp_empty_soon().await;

    // Client goes away while its video is being decoded: removed once the decode stops.
    {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    server.assert_tmp_empty_soon().await;
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saturation_answers_503_with_retry_after() {
    let server = TestServer::start(|c| {
        c.concurrency = 1;
        c.queue = 0;
    })
    .await;
    let big = std::fs::read(synth_clip("big.mp4", 39.0, 320, 240)).unwrap();
    let body = multipart_body(&[("file", Some("big.mp4"), "video/mp4", &big)]);
    let first_request = post_request("/run", Some(&multipart_type()), &body);
    let probe = multipart_body(&[("probe", None, "text/plain", b"no file field")]);
    let probe = post_request("/run", Some(&multipart_type()), &probe);

    // The first upload holds the only slot while it decodes; a request during that time is
    // refused at once (before its body is read). Probes carry no `file`, so they never take
    // the slot themselves: when the server is free they get their own 400.
    let mut first = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    first.write_all(&first_request).await.unwrap();
    let mut busy = None;
    for _ in 0..400 {
        let response = raw_exchange(server.addr, &probe).await;
        if response.status == 503 {
            busy = Some(response);
            break;
        }
        assert_eq!(response.status, 400, "{}", response.body);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = busy.expect("a request got 503 while the only slot was taken");
    let retry: u64 = busy
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(busy.json()["error"]["code"], "busy");

    let first = read_response(&mut first).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // With the slot free again a normal request succeeds.
    assert_eq!(
        post_file(&server.url("/run"), &good_clip()).await.status(),
        200
    );
    server.assert_tmp_empty_soon().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_analysis_over_the_time_limit_is_cancelled_with_503() {
    let app = TestApp::new(|c| c.timeout = Duration::from_millis(30));
    let big = synth_clip("big.mp4", 39.0, 320, 240);
    let response = app.upload_file("/run", &big).await;
    assert_eq!(response.status, 503);
    assert!(response.headers.contains_key("retry-after"));
    assert_eq!(response.json()["error"]["code"], "timeout");
    // The cancelled decode stops and its file goes.
    app.assert_tmp_empty_soon().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_endpoints_answer() {
    let app = TestApp::new(|c| {
        c.color = Some("green".into());
        c.git_sha = Some("0123abc".into());
    });
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.get("/readyz").await.status, 200);

    let version = app.admin_get("/version").await.json();
    assert_eq!(version["color"], "green");
    assert_eq!(version["git_sha"], "0123abc");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(!version["model_version"].as_str().unwrap().is_empty());
    // The public identity: release, model and colour (a release's check that the public entry
    // point reached the new colour), no build details.
    let about = app.get("/v1/about").await.json();
    assert_eq!(about["color"], "green");
    assert_eq!(about["version"], version["version"]);
    assert_eq!(about["model_version"], version["model_version"]);
    assert!(about.get("git_sha").is_none(), "{about}");

    let echoed = app
        .send(
            Request::get("/healthz")
                .header("x-request-id", "test-id-42")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(echoed.headers["x-request-id"], "test-id-42");
    let generated = app.get("/healthz").await;
    assert!(generated.headers["x-request-id"].len() >= 16);

    let openapi = app.admin_get("/openapi.json").await.json();
    for path in [
        "/run",
        "/v1/analyses",
        "/v1/traces",
        "/healthz",
        "/readyz",
        "/version",
        "/metrics",
    ] {
        assert!(openapi["paths"][path].is_object(), "openapi lacks {path}");
    }
    let page = app.get("/").await;
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("Not a medical device"));
    assert!(html.contains(r#"<script type="module" src="/app.js">"#));
    let script = app.get("/app.js").await;
    assert!(script.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let script_text = script.text();
    assert!(script_text.contains("/v1/analyses") && script_text.contains("/v1/traces"));
    let revalidated = app
        .send(
            Request::get("/app.js")
                .header(header::IF_NONE_MATCH, script.headers["etag"].clone())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(revalidated.status, 304, "unchanged asset revalidates");

    // Operations endpoints are on the admin listener only.
    for path in ["/version", "/metrics", "/openapi.json"] {
        assert_eq!(
            app.get(path).await.status,
            404,
            "{path} on the public listener"
        );
    }
    let missing = app.get("/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");

    let metrics = app.admin_get("/metrics").await.text();
    for name in [
        "oxicam_http_requests_total",
        "oxicam_analyses_in_flight",
        "oxicam_analyses_queued",
        "oxicam_upload_bytes_total",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }
    assert!(
        metrics.contains(r#"route="/healthz",status="200""#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_bad_run_breaks_run_on_purpose() {
    let app = TestApp::new(|c| c.fault = oxicam_server::Fault::BadRun);
    let response = app.upload_file("/run", &good_clip()).await;
    assert_eq!(response.status, 500);
    let body = response.json();
    assert!(body.get("heart_rate_bpm").is_none());
    assert_eq!(body["error"]["code"], "fault_injected");
    // Only the legacy route the smoke test calls is broken.
    let fine = app.upload_file("/v1/analyses", &good_clip()).await;
    assert_eq!(fine.status, 200, "{}", fine.text());
    app.assert_tmp_empty_soon().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drain_turns_readiness_off_and_finishes_in_flight_work() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = oxicam_server::ServerConfig {
        tmp_dir: Some(tmp.path().to_path_buf()),
        drain_grace: Duration::from_millis(1500),
        ..Default::default()
    };
    let server = tokio::spawn(oxicam_server::serve(listener, config, async move {
        let _ = rx.await;
    }));
    let good = std::fs::read(good_clip()).unwrap();
    let body = multipart_body(&[("file", Some("a.mp4"), "video/mp4", &good)]);
    let request = post_request("/run", Some(&multipart_type()), &body);
    let half = request.len() / 2;
    let mut in_flight = tokio::net::TcpStream::connect(addr).await.unwrap();
    in_flight.write_all(&request[..half]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "readiness is false at once");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "new connections are refused after the grace period"
    );
    in_flight.write_all(&request[half..]).await.unwrap();
    let response = read_response(&mut in_flight).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.json()["heart_rate_bpm"].as_f64().is_some());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server returns after draining")
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
