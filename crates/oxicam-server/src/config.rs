//! Runtime settings of the service: limits, concurrency, paths and logging, with defaults.
//! Filled by `oxicam serve` from flags and environment; tests build it directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Fault injection for blue/green tests: a deliberately broken build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// `OXICAM_FAULT=bad-run`: `POST /run` answers 500 without a heart rate.
    BadRun,
}

impl Fault {
    /// Reads `OXICAM_FAULT`; unknown values are ignored (a fault must be asked for exactly).
    pub fn from_env() -> Fault {
        match std::env::var("OXICAM_FAULT").as_deref() {
            Ok("bad-run") => Fault::BadRun,
            _ => Fault::None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Largest accepted request body in bytes; crossing it answers 413 at once.
    pub body_limit_bytes: u64,
    /// Longest accepted video; longer ones are refused while decoding.
    pub max_duration_s: f64,
    /// Analyses decoding at the same time.
    pub concurrency: usize,
    /// Analyses allowed to wait for a decoding slot; beyond that, 503.
    pub queue: usize,
    /// Time limit for one analysis, waiting in the queue included.
    pub timeout: Duration,
    /// An upload that sends nothing for this long is cut off with 408.
    pub upload_idle_timeout: Duration,
    /// SpO2 model file; `None` uses the model compiled into the binary.
    pub model_path: Option<PathBuf>,
    /// Where uploads are spooled while they are analysed; `None` is the system temp dir.
    pub tmp_dir: Option<PathBuf>,
    /// After SIGTERM, how long the listener keeps accepting while readiness reports false.
    pub drain_grace: Duration,
    /// Hard cap on finishing in-flight requests after the listener closed.
    pub drain_timeout: Duration,
    /// Decoder threads per analysis.
    pub decode_threads: usize,
    pub log_format: LogFormat,
    pub color: Option<String>,
    pub git_sha: Option<String>,
    pub fault: Fault,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServerConfig {
            addr: SocketAddr::from(([0, 0, 0, 0], 8000)),
            body_limit_bytes: 200 * 1024 * 1024,
            max_duration_s: 120.0,
            concurrency: cores,
            queue: cores * 2,
            timeout: Duration::from_secs(120),
            upload_idle_timeout: Duration::from_secs(30),
            model_path: None,
            tmp_dir: None,
            drain_grace: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(150),
            decode_threads: cores.min(4),
            log_format: LogFormat::Text,
            color: None,
            git_sha: None,
            fault: Fault::None,
        }
    }
}
