//! Uploads as an attacker sends them, on a real loopback socket: in progress they count against
//! capacity and the temp-volume budget; endless part headers and trickled bodies are cut off;
//! temp files a killed process left are removed at start.

mod common;

use common::*;
use oxicam_server::ServerConfig;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn probe() -> Vec<u8> {
    let body = multipart_body(&[("probe", None, "text/plain", b"no file field")]);
    post_request("/run", Some(&multipart_type()), &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_in_progress_count_against_capacity() {
    let server = TestServer::start(|c| {
        c.concurrency = 1;
        c.queue = 0;
    })
    .await;
    // Free: a probe (no `file`) gets its own 400.
    assert_eq!(raw_exchange(server.addr, &probe()).await.status, 400);

    // One upload in progress, not yet analysed, takes the only place.
    let good = std::fs::read(good_clip()).unwrap();
    let body = multipart_body(&[("file", Some("a.mp4"), "video/mp4", &good)]);
    let request = post_request("/run", Some(&multipart_type()), &body);
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(&request[..request.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = raw_exchange(server.addr, &probe()).await;
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.json()["error"]["code"], "busy");

    // When it completes, the place is free again.
    slow.write_all(&request[request.len() / 2..]).await.unwrap();
    assert_eq!(read_response(&mut slow).await.status, 200);
    assert_eq!(raw_exchange(server.addr, &probe()).await.status, 400);
    server.assert_tmp_empty_soon().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_past_the_temp_volume_budget_are_refused() {
    let server = TestServer::start(|c| c.upload_budget_bytes = 256 * 1024).await;
    let big = vec![0x42u8; 1024 * 1024];
    let body = multipart_body(&[("file", Some("a.mp4"), "video/mp4", &big)]);
    let response = raw_exchange(
        server.addr,
        &post_request("/run", Some(&multipart_type()), &body),
    )
    .await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.json()["error"]["code"], "storage_busy");
    assert!(response.header("retry-after").is_some());
    server.assert_tmp_empty_soon().await;
    // The space is given back: a small upload fits again.
    let small = multipart_body(&[("file", Some("b.mp4"), "video/mp4", b"tiny")]);
    let response = raw_exchange(
        server.addr,
        &post_request("/run", Some(&multipart_type()), &small),
    )
    .await;
    assert_eq!(response.status, 415, "{}", response.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endless_part_headers_are_cut_off() {
    let server = TestServer::start(|_| {}).await;
    let mut body =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Padding: ")
            .into_bytes();
    body.extend(std::iter::repeat_n(b'a', 4 * 1024 * 1024));
    body.extend_from_slice(format!("\r\n\r\nvideo\r\n--{BOUNDARY}--\r\n").as_bytes());
    let response = raw_exchange(
        server.addr,
        &post_request("/run", Some(&multipart_type()), &body),
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.json()["error"]["code"], "part_headers_too_large");
    server.assert_tmp_empty_soon().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trickled_upload_is_cut_off_at_the_whole_upload_deadline() {
    let server = TestServer::start(|c| {
        c.upload_timeout = Duration::from_secs(1);
        c.upload_idle_timeout = Duration::from_secs(30);
    })
    .await;
    let good = std::fs::read(good_clip()).unwrap();
    let body = multipart_body(&[("file", Some("a.mp4"), "video/mp4", &good)]);
    let request = post_request("/run", Some(&multipart_type()), &body);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&request[..4096]).await.unwrap();
    // A byte every 100 ms: never idle, never done. Bounded: at most 10 s of trickling.
    let trickle = async {
        for byte in &request[4096..4196] {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 408, "{}", response.body);
    assert_eq!(response.json()["error"]["code"], "upload_too_slow");
    server.assert_tmp_empty_soon().await;
    server.stop().await;
}

#[test]
fn temp_files_left_by_a_killed_process_are_removed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join("oxicam-upload-stale");
    std::fs::write(&stale, b"half an upload").unwrap();
    // Another live server's upload: it holds the lock, as servers do on their temp files.
    let live = tmp.path().join("oxicam-upload-live");
    std::fs::write(&live, b"in flight").unwrap();
    let held = std::fs::File::open(&live).unwrap();
    // SAFETY: flock on a descriptor `held` keeps open.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let unrelated = tmp.path().join("notes.txt");
    std::fs::write(&unrelated, b"not ours").unwrap();

    let config = ServerConfig {
        tmp_dir: Some(tmp.path().to_path_buf()),
        ..ServerConfig::default()
    };
    let _router = oxicam_server::router(&config).unwrap();
    assert!(!stale.exists(), "the stale upload was removed");
    assert!(live.exists(), "a live server's upload is kept");
    assert!(unrelated.exists());
    drop(held);
}
