//! Browser-facing protections, request by request through the router: the page's security
//! headers, the `Origin` check, the per-client rate limit, request ids and metric labels.

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use http_body_util::BodyExt;
use oxicam_server::ServerConfig;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use tower::ServiceExt;

fn router(configure: impl FnOnce(&mut ServerConfig)) -> (Router, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ServerConfig {
        tmp_dir: Some(tmp.path().to_path_buf()),
        ..ServerConfig::default()
    };
    configure(&mut config);
    (oxicam_server::router(&config).unwrap(), tmp)
}

async fn send(router: &Router, request: Request<Body>) -> Response {
    router.clone().oneshot(request).await.unwrap()
}

async fn json(response: Response) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}"))
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

/// A multipart POST to `/run` without a file: it passes every gate before the upload is read
/// and ends in 400 `missing_file`, so a 403 or 429 can only come from the gate under test.
fn post_run(origin: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/run")
        .header(header::HOST, "oxicam.example")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    request.body(Body::from("--XyZ--\r\n")).unwrap()
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_that_still_admits_its_own_code() {
    let (router, _tmp) = router(|_| {});
    let response = send(&router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = header(&response, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    let permissions = header(&response, "permissions-policy");
    assert!(permissions.contains("camera=(self)"), "{permissions}");
    assert!(permissions.contains("microphone=()"), "{permissions}");

    // Every inline block of the page is allowed by its hash, and by nothing looser.
    let page = response.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8(page.to_vec()).unwrap();
    for (open, close, directive) in [
        ("<script>", "</script>", "script-src"),
        ("<style>", "</style>", "style-src"),
    ] {
        for block in page.split(open).skip(1) {
            let body = &block[..block.find(close).unwrap()];
            use base64::Engine;
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
            let sources = csp
                .split(';')
                .find(|d| d.trim().starts_with(directive))
                .unwrap();
            assert!(sources.contains(&hash), "{directive} lacks {hash}");
        }
    }
    assert!(
        !page.contains(" style=\""),
        "inline style attributes need 'unsafe-inline'"
    );
    // JSON answers carry the headers too.
    let about = send(
        &router,
        Request::get("/v1/about").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(header(&about, "x-content-type-options"), "nosniff");
    let about = json(about).await;
    assert!(about["model_version"].is_string() && about.get("git_sha").is_none());
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_curl_and_the_page_itself_pass() {
    let (router, _tmp) = router(|c| c.allowed_origins = vec!["https://app.example".into()]);
    let refused = send(&router, post_run(Some("https://evil.example"))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(refused).await["error"]["code"], "cross_origin");
    let null = send(&router, post_run(Some("null"))).await;
    assert_eq!(null.status(), StatusCode::FORBIDDEN);

    for origin in [
        None,
        Some("https://oxicam.example"),
        Some("http://oxicam.example"),
        Some("https://app.example"),
    ] {
        let response = send(&router, post_run(origin)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{origin:?}");
        assert_eq!(json(response).await["error"]["code"], "missing_file");
    }
}

#[tokio::test]
async fn each_client_gets_its_own_rate_limit() {
    let (router, _tmp) = router(|c| {
        c.rate_per_minute = 6;
        c.rate_burst = 2;
        c.trusted_proxy_hops = 1;
    });
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let router = router.layer(MockConnectInfo(peer));
    let from = |client: &str| {
        let mut request = post_run(None);
        request.headers_mut().insert(
            "x-forwarded-for",
            format!("1.2.3.4, {client}").parse().unwrap(),
        );
        request
    };
    for _ in 0..2 {
        assert_eq!(
            send(&router, from("198.51.100.1")).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    let limited = send(&router, from("198.51.100.1")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&limited, "retry-after").parse().unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_eq!(json(limited).await["error"]["code"], "rate_limited");
    // Another client behind the same load balancer is not affected.
    assert_eq!(
        send(&router, from("198.51.100.2")).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Only the analysis routes are limited.
    let health = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(send(&router, health).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn odd_request_ids_are_replaced_and_plain_ones_kept() {
    let (router, _tmp) = router(|_| {});
    let with_id = |id: &str| {
        Request::get("/healthz")
            .header("x-request-id", id)
            .body(Body::empty())
            .unwrap()
    };
    let kept = send(&router, with_id("trace-42.a_b")).await;
    assert_eq!(header(&kept, "x-request-id"), "trace-42.a_b");
    for hostile in ["x\" status=200 fake=\"", &"a".repeat(500), "line\tbreak"] {
        let replaced = send(&router, with_id(hostile)).await;
        let id = header(&replaced, "x-request-id");
        assert_ne!(id, hostile);
        assert_eq!(id.len(), 36, "a UUID: {id}");
    }
}

#[tokio::test]
async fn made_up_methods_share_one_metric_label() {
    let (router, _tmp) = router(|_| {});
    let method = Method::from_bytes(b"BREW").unwrap();
    let request = Request::builder()
        .method(method)
        .uri("/healthz")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&router, request).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    // The recorder is process-wide: the admin routes render what the public ones counted.
    let admin = oxicam_server::admin_router(&ServerConfig::default()).unwrap();
    let metrics = send(
        &admin,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    let text = metrics.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&text);
    assert!(!text.contains("BREW"), "raw method in the metrics");
    assert!(
        text.lines()
            .any(|l| l.starts_with("oxicam_http_requests_total")
                && l.contains("method=\"other\"")
                && l.contains("status=\"405\"")),
        "{text}"
    );
}
