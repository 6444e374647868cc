//! Raw HTTP/1.1 for socket-level tests: requests built byte by byte (so broken ones too) and a
//! parser for the answers; a blocking exchange for tests that drive the `oxicam` binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub const BOUNDARY: &str = "oxicamtestboundary7MA4YWxkTrZu0gW";

/// `Content-Type` of a body built by [`multipart_body`].
pub fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// One multipart part: (field name, file name, content type, bytes).
pub type Part<'a> = (&'a str, Option<&'a str>, &'a str, &'a [u8]);

/// A multipart/form-data body with [`BOUNDARY`].
pub fn multipart_body(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match filename {
            Some(f) => {
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
            }
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A complete POST request with `Connection: close`, a `Content-Length` and the given headers.
pub fn post_request_with(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request
}

/// A complete POST request with a body, an optional `Content-Type` and `Connection: close`.
pub fn post_request(path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    match content_type {
        Some(ct) => post_request_with(path, &[("Content-Type", ct)], body),
        None => post_request_with(path, &[], body),
    }
}

/// A GET request with `Connection: close`.
pub fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

/// An answer read off the socket.
#[derive(Debug, Clone)]
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

/// Bytes a response takes once complete (head + `Content-Length`), when its head says.
pub fn complete_length(buf: &[u8]) -> Option<usize> {
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

/// Parses a whole HTTP response; panics naming what is wrong.
pub fn parse_response(buf: &[u8]) -> RawResponse {
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

/// Reads an answer off a blocking connection until the server closes (requests ask for
/// `Connection: close`) or the body is complete; 60 s at most per read.
pub fn read_response(stream: &mut TcpStream) -> RawResponse {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("sets a read timeout");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if complete_length(&buf).is_some_and(|done| buf.len() >= done) {
            break;
        }
    }
    parse_response(&buf)
}

/// Sends `request` on a new blocking connection and reads the answer.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).expect("connects");
    // The server may answer (e.g. 413) and close before reading everything: ignore write errors.
    let _ = stream.write_all(request);
    read_response(&mut stream)
}
