//! Runtime settings of the service: limits, concurrency, paths, identity and logging, with
//! their defaults defined once here. `oxicam serve` fills them from flags or environment (its
//! clap defaults are these constants); tests build the struct directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default listening address.
pub const DEFAULT_ADDR: &str = "0.0.0.0:8000";
/// Default largest upload, MB.
pub const DEFAULT_BODY_LIMIT_MB: u64 = 200;
/// Default longest video, seconds.
pub const DEFAULT_MAX_DURATION_S: f64 = 120.0;
/// Default time limit for one analysis including queueing, seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 120;
/// Default idle time after which an upload is cut off, seconds.
pub const DEFAULT_UPLOAD_IDLE_TIMEOUT_S: u64 = 30;
/// Default time readiness reports false before the listener closes, seconds.
pub const DEFAULT_DRAIN_GRACE_S: f64 = 5.0;
/// Default cap on finishing in-flight requests after the listener closed, seconds.
pub const DEFAULT_DRAIN_TIMEOUT_S: f64 = 150.0;
/// Default log filter (tracing `EnvFilter` syntax).
pub const DEFAULT_LOG_FILTER: &str = "info,tower_http=warn";

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Default analyses decoding at once: one per core.
pub fn default_concurrency() -> usize {
    cores()
}

/// Default analyses waiting for a slot: two per core.
pub fn default_queue() -> usize {
    cores() * 2
}

/// Default decoder threads per analysis: the cores, at most 4.
pub fn default_decode_threads() -> usize {
    cores().min(4)
}

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
    /// `bad-run`: `POST /run` answers 500 without a heart rate.
    BadRun,
}

impl Fault {
    /// The fault named `value`; anything but an exact name is no fault (a fault must be asked
    /// for exactly, so a stray value never breaks a build).
    pub fn from_name(value: &str) -> Fault {
        match value {
            "bad-run" => Fault::BadRun,
            _ => Fault::None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Operations listener (`/metrics`, `/openapi.json`, `/version`), kept off the public
    /// address; `None` serves no operations endpoints.
    pub admin_addr: Option<SocketAddr>,
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
    /// Connections served at once on the public listener.
    pub max_connections: usize,
    /// A client must send a request's headers within this (from connecting, or from the
    /// previous response on a kept-alive connection), else the connection is closed.
    pub header_read_timeout: Duration,
    /// A whole upload must arrive within this, however steadily it trickles (408 after).
    pub upload_timeout: Duration,
    /// Bytes all uploads in progress or being analysed may hold on the temp volume together;
    /// an upload that would cross it is refused with 503 (a full volume gets the pod evicted).
    pub upload_budget_bytes: u64,
    /// Origins (`https://host[:port]`) besides the server's own whose pages may post analyses.
    pub allowed_origins: Vec<String>,
    /// Analyses one client may start per minute (0: no limit), after a burst of `rate_burst`.
    pub rate_per_minute: u32,
    pub rate_burst: u32,
    /// Proxies of ours in front of the service that append to `X-Forwarded-For` (0: key the
    /// rate limit on the peer address; 1 behind one load balancer).
    pub trusted_proxy_hops: usize,
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
    /// Log filter (tracing `EnvFilter` syntax); an invalid one falls back to the default.
    pub log_filter: String,
    /// Blue/green colour reported by `GET /version`.
    pub color: Option<String>,
    /// Overrides the git commit (recorded at build time) reported by `GET /version`.
    pub git_sha: Option<String>,
    pub fault: Fault,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: DEFAULT_ADDR.parse().expect("the default address parses"),
            admin_addr: None,
            body_limit_bytes: DEFAULT_BODY_LIMIT_MB * 1024 * 1024,
            max_duration_s: DEFAULT_MAX_DURATION_S,
            concurrency: default_concurrency(),
            queue: default_queue(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_S),
            upload_idle_timeout: Duration::from_secs(DEFAULT_UPLOAD_IDLE_TIMEOUT_S),
            upload_timeout: Duration::from_secs(600),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            upload_budget_bytes: 800 * 1024 * 1024,
            allowed_origins: Vec::new(),
            rate_per_minute: 20,
            rate_burst: 10,
            trusted_proxy_hops: 0,
            model_path: None,
            tmp_dir: None,
            drain_grace: Duration::from_secs_f64(DEFAULT_DRAIN_GRACE_S),
            drain_timeout: Duration::from_secs_f64(DEFAULT_DRAIN_TIMEOUT_S),
            decode_threads: default_decode_threads(),
            log_format: LogFormat::Text,
            log_filter: DEFAULT_LOG_FILTER.to_string(),
            color: None,
            git_sha: None,
            fault: Fault::None,
        }
    }
}
