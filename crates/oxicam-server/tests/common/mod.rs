//! Shared helpers for the server's integration tests: the router driven request by request
//! (`TestApp`, no socket), a real server on a loopback port (`TestServer`) for what needs the
//! socket, and the fixtures and raw HTTP of `oxicam-testkit`.

#![allow(dead_code)]

#[allow(unused_imports)] // not every test binary renders fixtures
pub use oxicam_testkit::fixtures::*;
pub use oxicam_testkit::http::*;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use oxicam_server::ServerConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// The settings every test starts from: uploads in `tmp_dir`, no drain delays.
fn test_config(tmp_dir: &Path, configure: impl FnOnce(&mut ServerConfig)) -> ServerConfig {
    let mut config = ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        tmp_dir: Some(tmp_dir.to_path_buf()),
        drain_grace: Duration::ZERO,
        drain_timeout: Duration::from_secs(30),
        // Tests post many uploads from one address; the limit has its own test.
        rate_per_minute: 0,
        ..ServerConfig::default()
    };
    configure(&mut config);
    config
}

/// Files left in an upload directory.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Waits (bounded) until `dir` is empty; panics naming what is left.
async fn assert_empty_soon(dir: &Path) {
    for _ in 0..200 {
        if files_in(dir).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("temporary files left behind: {:?}", files_in(dir));
}

/// The service's router without a listener: each request goes through
/// `tower::ServiceExt::oneshot`.
pub struct TestApp {
    router: axum::Router,
    /// The operations routes (`/metrics`, `/openapi.json`, `/version`): another listener.
    admin: axum::Router,
    pub tmp_dir: tempfile::TempDir,
}

/// A response with its whole body.
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

impl TestApp {
    pub fn new(configure: impl FnOnce(&mut ServerConfig)) -> TestApp {
        let tmp_dir = tempfile::tempdir().unwrap();
        let config = test_config(tmp_dir.path(), configure);
        let router = oxicam_server::router(&config).expect("the router builds");
        let admin = oxicam_server::admin_router(&config).expect("the admin router builds");
        TestApp {
            router,
            admin,
            tmp_dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        collect(self.router.clone().oneshot(request).await.unwrap()).await
    }

    /// GET on the operations listener.
    pub async fn admin_get(&self, path: &str) -> TestResponse {
        let request = Request::get(path).body(Body::empty()).unwrap();
        collect(self.admin.clone().oneshot(request).await.unwrap()).await
    }
}

async fn collect(response: axum::response::Response) -> TestResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    TestResponse {
        status,
        headers,
        body,
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// POSTs `body` with an optional content type.
    pub async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> TestResponse {
        let mut request = Request::post(path);
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// POSTs a multipart upload of `parts`.
    pub async fn upload(&self, path: &str, parts: &[Part<'_>]) -> TestResponse {
        self.post(path, Some(&multipart_type()), multipart_body(parts))
            .await
    }

    /// POSTs the file at `video` in field `file`, as `curl -F file=@VIDEO` does.
    pub async fn upload_file(&self, path: &str, video: &Path) -> TestResponse {
        let bytes = std::fs::read(video).unwrap();
        self.upload(path, &[("file", Some("clip.mp4"), "video/mp4", &bytes)])
            .await
    }

    pub fn leftovers(&self) -> Vec<PathBuf> {
        files_in(self.tmp_dir.path())
    }

    pub async fn assert_tmp_empty_soon(&self) {
        assert_empty_soon(self.tmp_dir.path()).await;
    }
}

/// A real server on a loopback port, for what needs the socket: streamed and stalled uploads,
/// concurrency, draining.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The operations listener (`/metrics`, `/openapi.json`, `/version`).
    pub admin_addr: SocketAddr,
    pub tmp_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let tmp_dir = tempfile::tempdir().unwrap();
        let config = test_config(tmp_dir.path(), configure);
        let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_addr = admin.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(oxicam_server::serve_with_admin(
            listener,
            Some(admin),
            config,
            async move {
                let _ = rx.await;
            },
        ));
        TestServer {
            addr,
            admin_addr,
            tmp_dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin_addr, path)
    }

    /// Files left in the upload directory.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        files_in(self.tmp_dir.path())
    }

    /// Waits (bounded) until the upload directory is empty; panics naming what is left.
    pub async fn assert_tmp_empty_soon(&self) {
        assert_empty_soon(self.tmp_dir.path()).await;
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("server stops")
                .unwrap()
                .unwrap();
        }
    }
}

/// Sends raw bytes and reads the whole answer (the request asks for `Connection: close`).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (e.g. 413) and close before reading everything: ignore write errors.
    let _ = stream.write_all(request).await;
    read_response(&mut stream).await
}

pub async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if complete_length(&buf).is_some_and(|done| buf.len() >= done) {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no complete response within 60 s");
    parse_response(&buf)
}

/// Posts a file in field `file` with reqwest, the equivalent of `curl -F file=@PATH URL`.
pub async fn post_file(url: &str, path: &Path) -> reqwest::Response {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name)
            .mime_str("application/octet-stream")
            .unwrap(),
    );
    reqwest::Client::new()
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Reads `oxicam_<name>` from the Prometheus text (first series, labels ignored).
pub fn metric(metrics_text: &str, name: &str) -> Option<f64> {
    metrics_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
