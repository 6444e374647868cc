//! `oxicam serve`: runs the HTTP service and web page (`oxicam_server`). Every setting comes
//! from a flag or its environment variable, with the defaults of `oxicam_server::config`;
//! drains on SIGTERM/SIGINT and exits 0.

use oxicam_server::config::{
    self, Fault, LogFormat, ServerConfig, DEFAULT_ADDR, DEFAULT_BODY_LIMIT_MB,
    DEFAULT_DRAIN_GRACE_S, DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_LOG_FILTER, DEFAULT_MAX_DURATION_S,
    DEFAULT_TIMEOUT_S, DEFAULT_UPLOAD_IDLE_TIMEOUT_S,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "OXICAM_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Address of the operations endpoints (/metrics, /openapi.json, /version), kept off the
    /// public one; `off` serves none. Containers set 0.0.0.0:9090.
    #[arg(long, env = "OXICAM_ADMIN_ADDR", default_value = "127.0.0.1:9090", value_parser = parse_admin_addr)]
    pub admin_addr: AdminAddr,
    /// Largest accepted upload, in MB (answered 413 as soon as it is crossed).
    #[arg(long, env = "OXICAM_BODY_LIMIT_MB", default_value_t = DEFAULT_BODY_LIMIT_MB)]
    pub body_limit_mb: u64,
    /// Longest accepted video, in seconds.
    #[arg(long, env = "OXICAM_MAX_DURATION_S", default_value_t = DEFAULT_MAX_DURATION_S)]
    pub max_duration_s: f64,
    /// Analyses decoding at once (default: number of cores).
    #[arg(long, env = "OXICAM_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Analyses allowed to wait for a slot before new ones get 503 (default: 2 x cores).
    #[arg(long, env = "OXICAM_QUEUE")]
    pub queue: Option<usize>,
    /// Time limit for one analysis including queueing, in seconds.
    #[arg(long, env = "OXICAM_TIMEOUT_S", default_value_t = DEFAULT_TIMEOUT_S)]
    pub timeout_s: u64,
    /// Seconds an upload may send nothing before it is cut off with 408.
    #[arg(long, env = "OXICAM_UPLOAD_IDLE_TIMEOUT_S", default_value_t = DEFAULT_UPLOAD_IDLE_TIMEOUT_S)]
    pub upload_idle_timeout_s: u64,
    /// SpO2 model file (default: the model compiled into the binary).
    #[arg(long, env = "OXICAM_MODEL")]
    pub model: Option<PathBuf>,
    /// Directory for uploads while they are analysed (default: the system temp dir).
    #[arg(long, env = "OXICAM_TMP_DIR")]
    pub tmp_dir: Option<PathBuf>,
    /// After SIGTERM, seconds to keep accepting while /readyz reports false.
    #[arg(long, env = "OXICAM_DRAIN_GRACE_S", default_value_t = DEFAULT_DRAIN_GRACE_S)]
    pub drain_grace_secs: f64,
    /// After the listener closed, seconds to wait for in-flight requests at most.
    #[arg(long, env = "OXICAM_DRAIN_TIMEOUT_S", default_value_t = DEFAULT_DRAIN_TIMEOUT_S)]
    pub drain_timeout_secs: f64,
    /// Decoder threads per analysis (default: cores, at most 4).
    #[arg(long, env = "OXICAM_DECODE_THREADS")]
    pub decode_threads: Option<usize>,
    /// Log format.
    #[arg(long, env = "OXICAM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormatArg,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "OXICAM_LOG", default_value = DEFAULT_LOG_FILTER)]
    pub log: String,
    /// Blue/green colour reported by GET /version.
    #[arg(long, env = "OXICAM_COLOR")]
    pub color: Option<String>,
    /// Git commit reported by GET /version (default: the one recorded at build time).
    #[arg(long, env = "OXICAM_GIT_SHA")]
    pub git_sha: Option<String>,
    /// Testing only: `bad-run` makes POST /run answer 500 without a heart rate, so a blue/green
    /// smoke test must fail on this build. Any other value is no fault.
    #[arg(long, env = "OXICAM_FAULT", value_parser = parse_fault)]
    pub fault: Option<Fault>,
    /// Connections served at once on the public address.
    #[arg(long, env = "OXICAM_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (also closes idle connections).
    #[arg(long, env = "OXICAM_HEADER_READ_TIMEOUT_S", default_value_t = 10.0)]
    pub header_read_timeout_s: f64,
    /// A whole upload must arrive within this many seconds.
    #[arg(long, env = "OXICAM_UPLOAD_TIMEOUT_S", default_value_t = 600)]
    pub upload_timeout_s: u64,
    /// MB all uploads in progress or being analysed may hold on the temp volume together.
    #[arg(long, env = "OXICAM_UPLOAD_BUDGET_MB", default_value_t = 800)]
    pub upload_budget_mb: u64,
    /// Another origin (`https://host[:port]`) whose pages may post analyses (repeatable;
    /// comma-separated in the environment). The server's own origin always may.
    #[arg(
        long = "allowed-origin",
        env = "OXICAM_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Analyses one client may start per minute; 0 turns the limit off.
    #[arg(long, env = "OXICAM_RATE_PER_MINUTE", default_value_t = 20)]
    pub rate_per_minute: u32,
    /// Analyses one client may start at once before the per-minute rate applies.
    #[arg(long, env = "OXICAM_RATE_BURST", default_value_t = 10)]
    pub rate_burst: u32,
    /// Proxies of ours in front of the service appending to X-Forwarded-For (1 behind one load
    /// balancer); 0 keys the rate limit on the peer address.
    #[arg(long, env = "OXICAM_TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,
}

/// `--admin-addr`: an address, or `off`.
#[derive(Clone, Copy, Debug)]
pub struct AdminAddr(Option<SocketAddr>);

fn parse_admin_addr(value: &str) -> Result<AdminAddr, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(AdminAddr(None));
    }
    value
        .parse()
        .map(|addr| AdminAddr(Some(addr)))
        .map_err(|_| format!("{value:?} is neither an address (host:port) nor `off`"))
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LogFormatArg {
    Text,
    Json,
}

fn parse_fault(value: &str) -> Result<Fault, String> {
    Ok(Fault::from_name(value))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let seconds = |name: &str, value: f64| {
        anyhow::ensure!(
            value.is_finite() && value >= 0.0,
            "--{name} must be a non-negative number of seconds"
        );
        Ok(Duration::from_secs_f64(value))
    };
    anyhow::ensure!(args.body_limit_mb > 0, "--body-limit-mb must be positive");
    anyhow::ensure!(
        args.max_duration_s.is_finite() && args.max_duration_s > 0.0,
        "--max-duration-s must be positive"
    );
    let config = ServerConfig {
        addr: args.addr,
        admin_addr: args.admin_addr.0,
        body_limit_bytes: args.body_limit_mb * 1024 * 1024,
        max_duration_s: args.max_duration_s,
        concurrency: args
            .concurrency
            .unwrap_or_else(config::default_concurrency)
            .max(1),
        queue: args.queue.unwrap_or_else(config::default_queue),
        timeout: Duration::from_secs(args.timeout_s.max(1)),
        upload_idle_timeout: Duration::from_secs(args.upload_idle_timeout_s.max(1)),
        upload_timeout: Duration::from_secs(args.upload_timeout_s.max(1)),
        max_connections: args.max_connections.max(1),
        header_read_timeout: seconds("header-read-timeout-s", args.header_read_timeout_s)?
            .max(Duration::from_millis(100)),
        upload_budget_bytes: args.upload_budget_mb.saturating_mul(1024 * 1024),
        allowed_origins: args.allowed_origins,
        rate_per_minute: args.rate_per_minute,
        rate_burst: args.rate_burst,
        trusted_proxy_hops: args.trusted_proxy_hops,
        model_path: args.model,
        tmp_dir: args.tmp_dir,
        drain_grace: seconds("drain-grace-secs", args.drain_grace_secs)?,
        drain_timeout: seconds("drain-timeout-secs", args.drain_timeout_secs)?,
        decode_threads: args
            .decode_threads
            .unwrap_or_else(config::default_decode_threads)
            .max(1),
        log_format: match args.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        },
        log_filter: args.log,
        color: args.color,
        git_sha: args.git_sha,
        fault: args.fault.unwrap_or_default(),
    };
    oxicam_server::run(config)?;
    Ok(ExitCode::SUCCESS)
}
