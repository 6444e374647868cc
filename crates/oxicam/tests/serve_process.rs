//! Process-level tests of `oxicam serve`: the built binary on a loopback port, driven over raw
//! HTTP: SIGTERM drain with an upload in flight, JSON request logs, environment settings.

use oxicam_testkit::fixtures::synth_clip;
use oxicam_testkit::http::{
    exchange, get_request, multipart_body, multipart_type, post_request_with, read_response,
    RawResponse,
};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Served {
    child: Child,
    addr: SocketAddr,
    /// The operations listener (`/version`, `/metrics`).
    admin_addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    tmp_dir: PathBuf,
}

impl Served {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Served {
        let tmp_dir = scratch_dir("uploads");
        let mut child = Command::new(env!("CARGO_BIN_EXE_oxicam"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--tmp-dir",
            ])
            .arg(&tmp_dir)
            .args(args)
            .env_remove("OXICAM_FAULT")
            .env_remove("OXICAM_ADMIN_ADDR")
            .env_remove("OXICAM_COLOR")
            .env_remove("OXICAM_GIT_SHA")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("oxicam starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
                    for (message, field) in [
                        ("oxicam listening", "addr"),
                        ("oxicam operations endpoints listening", "admin_addr"),
                    ] {
                        if json["message"] == message {
                            let _ =
                                tx.send((field, json[field].as_str().unwrap_or("").to_string()));
                        }
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let (mut addr, mut admin_addr) = (None, None);
        while addr.is_none() || admin_addr.is_none() {
            let (field, value) = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("oxicam logs its listening addresses");
            let value: SocketAddr = value.parse().unwrap();
            if field == "addr" {
                addr = Some(value);
            } else {
                admin_addr = Some(value);
            }
        }
        let (addr, admin_addr) = (addr.unwrap(), admin_addr.unwrap());
        Served {
            child,
            admin_addr,
            addr,
            logs,
            tmp_dir,
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "oxicam did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_lines(&self) -> Vec<serde_json::Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("log line not JSON ({e}): {l}"))
            })
            .collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.tmp_dir);
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "oxicam-serve-test-{}-{n}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 30 s of the embedded real trace as a small H.264 clip, made once per test binary.
fn clip() -> PathBuf {
    synth_clip("clip.mp4", 30.0, 160, 120)
}

fn upload_request(path: &str, video: &[u8], headers: &[(&str, &str)]) -> Vec<u8> {
    let content_type = multipart_type();
    let mut headers = headers.to_vec();
    headers.push(("Content-Type", &content_type));
    let body = multipart_body(&[("file", Some("clip.mp4"), "video/mp4", video)]);
    post_request_with(path, &headers, &body)
}

fn get(addr: SocketAddr, path: &str) -> RawResponse {
    exchange(addr, &get_request(path))
}

#[test]
fn sigterm_turns_readiness_off_finishes_the_upload_in_flight_and_exits_0() {
    let mut served = Served::start(&["--drain-grace-secs", "1.5"], &[]);
    assert_eq!(get(served.addr, "/readyz").status, 200);

    let video = std::fs::read(clip()).unwrap();
    let request = upload_request("/run", &video, &[("X-Request-Id", "drain-test-1")]);
    let half = request.len() / 2;
    let mut in_flight = TcpStream::connect(served.addr).unwrap();
    in_flight.write_all(&request[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    served.terminate();
    std::thread::sleep(Duration::from_millis(200));
    let ready = get(served.addr, "/readyz");
    assert_eq!(
        ready.status, 503,
        "readiness is false at once: {}",
        ready.body
    );
    assert_eq!(
        get(served.addr, "/healthz").status,
        200,
        "still alive while draining"
    );

    std::thread::sleep(Duration::from_millis(2000));
    assert!(
        TcpStream::connect(served.addr).is_err(),
        "new connections are refused after the grace period"
    );
    in_flight.write_all(&request[half..]).unwrap();
    let answer = read_response(&mut in_flight);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("x-request-id").as_deref(),
        Some("drain-test-1")
    );
    let heart_rate = answer.json()["heart_rate_bpm"]
        .as_f64()
        .expect("a heart rate");

    let status = served.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert_eq!(std::fs::read_dir(&served.tmp_dir).unwrap().count(), 0);

    // One JSON line per request, with id, route, status and duration, and never the result.
    let lines = served.log_lines();
    let run_line = lines
        .iter()
        .find(|l| l["message"] == "request" && l["route"] == "/run")
        .unwrap_or_else(|| panic!("no request line for /run in {lines:?}"));
    assert_eq!(run_line["request_id"], "drain-test-1");
    assert_eq!(run_line["status"], 200);
    assert!(run_line["duration_ms"].as_f64().unwrap() > 0.0);
    let all = served.logs.lock().unwrap().join("\n");
    assert!(!all.contains("heart_rate"), "logs mention results: {all}");
    // Digits of the result turn up inside timestamps by chance (19:57:51.646567 holds "65"),
    // so look at the fields: the only numbers a log line may carry are these.
    const NUMERIC_LOG_FIELDS: [&str; 3] = ["status", "duration_ms", "grace_s"];
    for line in &lines {
        for (key, value) in line.as_object().expect("a JSON object per line") {
            if value.is_number() {
                assert!(
                    NUMERIC_LOG_FIELDS.contains(&key.as_str()),
                    "log field {key}={value} may carry a result (heart rate {heart_rate}): {line}"
                );
            } else if let Some(text) = value.as_str().filter(|_| {
                // Clock and client-chosen ids, not results.
                !["timestamp", "request_id"].contains(&key.as_str())
            }) {
                assert!(
                    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .all(|token| token.parse::<f64>() != Ok(heart_rate)),
                    "log field {key} holds the measured value {heart_rate}: {line}"
                );
            }
        }
    }
}

#[test]
fn environment_sets_colour_sha_and_the_bad_run_fault() {
    let served = Served::start(
        &[],
        &[
            ("OXICAM_COLOR", "blue"),
            ("OXICAM_GIT_SHA", "feedface"),
            ("OXICAM_FAULT", "bad-run"),
        ],
    );
    assert_eq!(
        get(served.addr, "/version").status,
        404,
        "not on the public listener"
    );
    let version = get(served.admin_addr, "/version");
    assert_eq!(version.status, 200);
    let version = version.json();
    assert_eq!(version["color"], "blue");
    assert_eq!(version["git_sha"], "feedface");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    let health = get(served.addr, "/healthz");
    let generated_id = health
        .header("x-request-id")
        .expect("a request id is generated");
    assert!(generated_id.len() >= 16);

    let video = std::fs::read(clip()).unwrap();
    let broken = exchange(served.addr, &upload_request("/run", &video, &[]));
    assert_eq!(broken.status, 500);
    assert!(broken.json().get("heart_rate_bpm").is_none());
    // The fault is limited to the legacy route the smoke test uses.
    let fine = exchange(served.addr, &upload_request("/v1/analyses", &video, &[]));
    assert_eq!(fine.status, 200, "{}", fine.body);
}

/// `oxicam smoke` learns version and colour from the public listener alone (a smoke Job in the
/// cluster cannot reach the admin port), and checks the build there only when given it.
#[test]
fn smoke_checks_the_colour_publicly_and_the_build_on_the_admin_listener() {
    let served = Served::start(
        &[],
        &[("OXICAM_COLOR", "blue"), ("OXICAM_GIT_SHA", "feedface")],
    );
    let smoke = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_oxicam"))
            .args(["smoke", "--url", &format!("http://{}", served.addr)])
            .args(args)
            .env_remove("OXICAM_SMOKE_ADMIN_URL")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success(), stdout)
    };
    let admin = format!("http://{}", served.admin_addr);
    let wrong = [
        "--expect-color",
        "green",
        "--admin-url",
        &admin,
        "--expect-git-sha",
        "deadbeef",
    ];
    // Each call renders and analyses a clip: both at once.
    let (public_only, wrong) = std::thread::scope(|scope| {
        let public_only = scope.spawn(|| smoke(&["--expect-color", "blue"]));
        let wrong = scope.spawn(|| smoke(&wrong));
        (public_only.join().unwrap(), wrong.join().unwrap())
    });

    let (passed, out) = public_only;
    assert!(passed, "{out}");
    let version = out.lines().find(|l| l.contains("version")).unwrap();
    assert!(
        version.starts_with("ok") && version.contains("color \"blue\""),
        "{out}"
    );
    assert!(
        !version.contains("git_sha"),
        "the admin listener was asked: {out}"
    );

    // The positive admin case runs in CI stage 60 against the image (--admin-url, --expect-git-sha).
    let (passed, out) = wrong;
    assert!(!passed, "{out}");
    let version = out.lines().find(|l| l.contains("version")).unwrap();
    assert!(version.starts_with("FAIL"), "{out}");
    assert!(
        version.contains(r#"color is "blue", expected "green""#)
            && version.contains(r#"git_sha is "feedface", expected "deadbeef""#),
        "{out}"
    );
    assert!(
        out.contains("ok    run"),
        "only the identity is wrong: {out}"
    );
}

#[test]
fn serve_refuses_bad_settings_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_oxicam"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--model",
            "/nonexistent/model.json",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model"), "{stderr}");
}
