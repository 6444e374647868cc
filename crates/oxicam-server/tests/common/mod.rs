//! Shared helpers for the server's integration tests: a real server on a loopback port, video
//! fixtures rendered from the embedded real trace or made with the ffmpeg CLI, a raw HTTP client.

#![allow(dead_code)]

use oxicam_server::ServerConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct TestServer {
    pub addr: SocketAddr,
    pub tmp_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let tmp_dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            tmp_dir: Some(tmp_dir.path().to_path_buf()),
            drain_grace: Duration::ZERO,
            drain_timeout: Duration::from_secs(30),
            ..ServerConfig::default()
        };
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(oxicam_server::serve(listener, config, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            tmp_dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Files left in the upload directory.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.tmp_dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    /// Waits (bounded) until the upload directory is empty; panics naming what is left.
    pub async fn assert_tmp_empty_soon(&self) {
        for _ in 0..200 {
            if self.leftovers().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("temporary files left behind: {:?}", self.leftovers());
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

/// Tests run in parallel threads: a fixture is made once, by one of them.
static FIXTURE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A directory of fixtures shared by the tests of one test binary.
pub fn fixture_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// Renders `seconds` of the embedded real trace (known heart rate) into an H.264 MP4.
pub fn synth_clip(name: &str, seconds: f64, width: u32, height: u32) -> PathBuf {
    let _one_at_a_time = FIXTURE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = fixture_dir().join(name);
    if path.exists() {
        return path;
    }
    let options = oxicam_video::synth::SynthOptions {
        seconds: Some(seconds),
        width,
        height,
        ..oxicam_video::synth::SynthOptions::new(oxicam_video::synth::embedded_trace(), &path)
    };
    oxicam_video::synth::render(&options).expect("synth renders a clip");
    path
}

/// The default test clip: 30 s of the embedded trace, 160x120 H.264.
pub fn good_clip() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| synth_clip("good.mp4", 30.0, 160, 120))
        .clone()
}

/// Runs the ffmpeg CLI (installed by scripts/test.sh) to make an odd fixture.
pub fn ffmpeg(name: &str, args: &[&str]) -> PathBuf {
    let _one_at_a_time = FIXTURE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = fixture_dir().join(name);
    if path.exists() {
        return path;
    }
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&path)
        .status()
        .expect("the ffmpeg CLI is installed (scripts/test.sh installs it)");
    assert!(status.success(), "ffmpeg failed making {name}");
    path
}

pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
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
            if let Some(done) = complete_length(&buf) {
                if buf.len() >= done {
                    break;
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no complete response within 60 s");
    parse_response(&buf)
}

fn complete_length(buf: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(buf);
    let head_end = text.find("\r\n\r\n")?;
    let length = text[..head_end].lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    })?;
    Some(head_end + 4 + length)
}

fn parse_response(buf: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(buf).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    RawResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub const BOUNDARY: &str = "oxicamtestboundary7MA4YWxkTrZu0gW";

/// One multipart part: (field name, file name, content type, bytes).
pub fn multipart_body(parts: &[(&str, Option<&str>, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
                    .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A complete POST request with a body and `Connection: close`.
pub fn post_request(path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request
}

pub fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
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
pub async fn metric(server: &TestServer, name: &str) -> Option<f64> {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
