//! The OpenAPI document is the contract: every route and method it lists is exercised here,
//! and every answer, success or error, must have a documented status and content type and a
//! body that validates (`jsonschema`) against the schema the document gives for it.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// The document `GET /openapi.json` serves, and what the tests have checked against it.
struct Contract {
    doc: Value,
    exercised: BTreeSet<(String, String, String)>,
}

impl Contract {
    async fn fetch(app: &TestApp) -> Contract {
        let response = app.admin_get("/openapi.json").await;
        assert_eq!(response.status, 200);
        Contract {
            doc: response.json(),
            exercised: BTreeSet::new(),
        }
    }

    /// A validator for `schema`, resolving `#/components/...` references in the document.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let mut root = schema.clone();
        root.as_object_mut()
            .expect("a schema object")
            .insert("components".into(), self.doc["components"].clone());
        jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}\n{schema}"))
    }

    fn check_body(&self, schema: &Value, body: &Value, what: &str) {
        let validator = self.validator(schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: body does not match the documented schema:\n{}\nbody: {body}",
            errors.join("\n")
        );
    }

    /// Checks one answer of `method path`: the status is documented, the content type is the
    /// documented one, and a JSON body matches the documented schema.
    fn check(&mut self, method: &Method, path: &str, response: &TestResponse) {
        let method = method.as_str().to_ascii_lowercase();
        let status = response.status.as_u16().to_string();
        let what = format!("{} {path} -> {status}", method.to_uppercase());
        let operation = &self.doc["paths"][path][&method];
        assert!(operation.is_object(), "{what}: route not documented");
        let documented = &operation["responses"][&status];
        assert!(documented.is_object(), "{what}: status not documented");
        self.exercised.insert((path.to_string(), method, status));
        let Some(content) = documented["content"].as_object() else {
            assert!(response.body.is_empty(), "{what}: undocumented body");
            return;
        };
        let content_type = response.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let (media, spec) = content
            .iter()
            .find(|(media, _)| content_type.starts_with(media.as_str()))
            .unwrap_or_else(|| panic!("{what}: content type {content_type} not documented"));
        if media == "application/json" {
            self.check_body(&spec["schema"], &response.json(), &what);
        }
    }

    /// Every route and method of the document was exercised, with every documented status
    /// except `unreachable` ones (route, method, status, why).
    fn assert_complete(&self, unreachable: &[(&str, &str, &str, &str)]) {
        let mut missing = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for status in operation["responses"].as_object().unwrap().keys() {
                    let key = (path.clone(), method.clone(), status.clone());
                    let excused = unreachable
                        .iter()
                        .any(|(p, m, s, _)| (*p, *m, *s) == (path, method, status));
                    if !self.exercised.contains(&key) && !excused {
                        missing.push(format!("{} {path} -> {status}", method.to_uppercase()));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "never exercised:\n{}",
            missing.join("\n")
        );
    }
}

fn file_part(bytes: &[u8]) -> Vec<u8> {
    multipart_body(&[("file", Some("clip.mp4"), "video/mp4", bytes)])
}

fn upload(path: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, multipart_type())
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_matches_the_openapi_document() {
    const BODY_LIMIT: u64 = 32 * 1024 * 1024;
    let app = TestApp::new(|c| {
        c.body_limit_bytes = BODY_LIMIT;
        c.max_duration_s = 35.0;
        c.upload_idle_timeout = Duration::from_millis(300);
    });
    let mut contract = Contract::fetch(&app).await;
    let good = std::fs::read(good_clip()).unwrap();
    let long = std::fs::read(synth_clip("long.mp4", 39.0, 64, 48)).unwrap();
    let scene = std::fs::read(scene_clip()).unwrap();
    let text = b"not a video at all, just text".to_vec();
    let stalled = || {
        // The part header arrives, then nothing more.
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
        );
        let stream = futures_util::StreamExt::chain(
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(head))]),
            futures_util::stream::pending(),
        );
        Body::from_stream(stream)
    };

    for route in ["/", "/healthz", "/readyz", "/v1/about"] {
        let response = app.get(route).await;
        contract.check(&Method::GET, route, &response);
    }
    // The operations routes answer on the admin listener.
    for route in ["/version", "/metrics", "/openapi.json"] {
        let response = app.admin_get(route).await;
        contract.check(&Method::GET, route, &response);
    }
    for route in ["/run", "/v1/analyses"] {
        let cases: Vec<Request<Body>> = vec![
            upload(route, file_part(&good)),
            upload(
                route,
                multipart_body(&[("note", None, "text/plain", b"no file")]),
            ),
            Request::post(route)
                .header(header::CONTENT_TYPE, multipart_type())
                .header(header::CONTENT_LENGTH, BODY_LIMIT * 4)
                .body(Body::from(good[..1000].to_vec()))
                .unwrap(),
            upload(route, file_part(&long)),
            upload(route, file_part(&text)),
            upload(route, file_part(&scene)),
            Request::post(route)
                .header(header::CONTENT_TYPE, multipart_type())
                .body(stalled())
                .unwrap(),
        ];
        for request in cases {
            let response = app.send(request).await;
            contract.check(&Method::POST, route, &response);
        }
    }
    // Schema 5's fields are in the good clip's report and in the document: the beats of the
    // heart-rate channel and each window's beat coverage and motion share validate, and the
    // same report with any of them mistyped does not.
    let report = app
        .send(upload("/v1/analyses", file_part(&good)))
        .await
        .json();
    assert_eq!(report["schema_version"], "5");
    let beats = &report["beats"];
    let beat_count = beats["times_s"].as_array().unwrap().len();
    assert!(beat_count >= 10, "{beats}");
    assert_eq!(beats["quality"].as_array().unwrap().len(), beat_count);
    let window = &report["windows"][0];
    assert!(window["beat_coverage"].as_f64().unwrap() > 0.5, "{window}");
    assert!(window["motion_share"].as_f64().is_some(), "{window}");
    let report_schema = json!({ "$ref": "#/components/schemas/Report" });
    contract.check_body(&report_schema, &report, "good report");
    for (pointer, wrong) in [
        ("/beats/times_s", json!("1.0,2.0")),
        ("/beats/quality/0", json!("good")),
        ("/windows/0/beat_coverage", json!("high")),
        ("/windows/0/motion_share", json!([0.1])),
    ] {
        let mut mistyped = report.clone();
        *mistyped.pointer_mut(pointer).unwrap() = wrong;
        let caught = std::panic::catch_unwind(|| {
            contract.check_body(&report_schema, &mistyped, pointer);
        });
        assert!(
            caught.is_err(),
            "a report with {pointer} mistyped validated"
        );
    }

    // The trace route: the good clip's trace as the page would send it, and what can go wrong.
    let trace = oxicam_video::extract_trace(&good_clip(), &oxicam_video::DecodeOptions::default())
        .unwrap()
        .trace;
    let trace_json = |body: Vec<u8>| {
        Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let good_trace =
        serde_json::to_vec(&oxicam_server::trace_upload::TraceUpload::delta(&trace)).unwrap();
    let flat = serde_json::to_vec(&json!({
        "t": (0..600).map(|i| i as f64 / 30.0).collect::<Vec<_>>(),
        "roi_rgb": [vec![200.0; 600], vec![60.0; 600], vec![30.0; 600]],
    }))
    .unwrap();
    let stalled_json = Body::from_stream(futures_util::StreamExt::chain(
        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{\"t\":["))]),
        futures_util::stream::pending(),
    ));
    for request in [
        trace_json(good_trace.clone()),
        trace_json(br#"{"t":[1,0],"roi_rgb":[[1,2],[3,4],[5,6]]}"#.to_vec()),
        trace_json(br#"{"t":[0,5000],"roi_rgb":[[1,2],[3,4],[5,6]]}"#.to_vec()),
        trace_json(flat),
        Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::from("R,G,B\n1,2,3\n"))
            .unwrap(),
        Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "application/json")
            .body(stalled_json)
            .unwrap(),
    ] {
        let response = app.send(request).await;
        contract.check(&Method::POST, "/v1/traces", &response);
    }

    let calibrated = app
        .send(upload(
            "/v1/analyses",
            multipart_body(&[
                ("file", Some("clip.mp4"), "video/mp4", &good),
                ("reference_spo2", None, "text/plain", b"97"),
            ]),
        ))
        .await;
    assert_eq!(calibrated.status, 400, "calibration was removed");
    contract.check(&Method::POST, "/v1/analyses", &calibrated);

    // Over the time limit: 503 on the upload routes and the trace route.
    let slow = TestApp::new(|c| c.timeout = Duration::from_millis(1));
    for route in ["/run", "/v1/analyses"] {
        let response = slow.send(upload(route, file_part(&good))).await;
        assert_eq!(response.status, 503);
        contract.check(&Method::POST, route, &response);
    }
    let response = slow.send(trace_json(good_trace)).await;
    assert_eq!(response.status, 503);
    contract.check(&Method::POST, "/v1/traces", &response);
    // A cross-site browser post: 403. A client over its rate (keyed, behind one proxy, on the
    // address the proxy saw): 429.
    let limited = TestApp::new(|c| {
        c.rate_per_minute = 1;
        c.rate_burst = 1;
        c.trusted_proxy_hops = 1;
    });
    // Refused before the body is read, so any body will do.
    let probe = |route: &str| {
        if route == "/v1/traces" {
            trace_json(br#"{"t":[]}"#.to_vec())
        } else {
            upload(route, multipart_body(&[("note", None, "text/plain", b"x")]))
        }
    };
    for route in ["/run", "/v1/analyses", "/v1/traces"] {
        let mut cross_site = probe(route);
        cross_site
            .headers_mut()
            .insert(header::ORIGIN, "https://elsewhere.example".parse().unwrap());
        let response = limited.send(cross_site).await;
        assert_eq!(response.status, 403);
        contract.check(&Method::POST, route, &response);
        let from_one_client = || {
            let mut request = probe(route);
            request
                .headers_mut()
                .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
            request
        };
        let first = limited.send(from_one_client()).await;
        let second = limited.send(from_one_client()).await;
        assert_eq!(second.status, 429, "after {}", first.status);
        contract.check(&Method::POST, route, &second);
    }
    // The blue/green test fault: 500 on /run.
    let faulty = TestApp::new(|c| c.fault = oxicam_server::Fault::BadRun);
    let response = faulty.send(upload("/run", file_part(&good))).await;
    assert_eq!(response.status, 500);
    contract.check(&Method::POST, "/run", &response);

    contract.assert_complete(&[
        (
            "/readyz",
            "get",
            "503",
            "only while draining: serve's socket tests",
        ),
        (
            "/v1/analyses",
            "post",
            "500",
            "a server-side failure cannot be caused from outside",
        ),
    ]);

    // Answers outside the documented routes still use the documented error body.
    let error_body = json!({ "$ref": "#/components/schemas/ErrorBody" });
    for response in [app.get("/nope").await, app.get("/run").await] {
        assert!([404, 405].contains(&response.status.as_u16()));
        contract.check_body(&error_body, &response.json(), "fallback");
    }
    app.assert_tmp_empty_soon().await;
}

#[test]
fn a_body_off_the_document_is_caught() {
    // The checker itself must be able to fail: a report missing required fields and an error
    // with a number for its code do not validate.
    let doc = serde_json::to_value(oxicam_server::openapi()).unwrap();
    let contract = Contract {
        doc,
        exercised: BTreeSet::new(),
    };
    let report = json!({ "$ref": "#/components/schemas/Report" });
    let error = json!({ "$ref": "#/components/schemas/ErrorBody" });
    for (schema, body) in [
        (&report, json!({ "usable": true })),
        (&error, json!({ "error": { "code": 7, "message": "x" } })),
    ] {
        let caught = std::panic::catch_unwind(|| contract.check_body(schema, &body, "probe"));
        assert!(caught.is_err(), "{body} passed as {schema}");
    }
}
