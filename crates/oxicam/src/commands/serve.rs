//! `oxicam serve`: runs the HTTP service and web page (`oxicam_server`) with limits from flags
//! or environment; drains on SIGTERM/SIGINT and exits 0.

use oxicam_server::{Fault, LogFormat, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(after_help = "Environment:\n  \
    OXICAM_COLOR      blue/green colour reported by GET /version\n  \
    OXICAM_GIT_SHA    overrides the git sha reported by GET /version (default: build time)\n  \
    OXICAM_FAULT      testing only: `bad-run` makes POST /run answer 500 without a heart rate,\n                    \
    so a blue/green smoke test must fail on this build\n  \
    OXICAM_LOG        log filter (tracing EnvFilter syntax), default `info`")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "OXICAM_ADDR", default_value = "0.0.0.0:8000")]
    pub addr: SocketAddr,
    /// Largest accepted upload, in MB (answered 413 as soon as it is crossed).
    #[arg(long, env = "OXICAM_BODY_LIMIT_MB", default_value_t = 200)]
    pub body_limit_mb: u64,
    /// Longest accepted video, in seconds.
    #[arg(long, env = "OXICAM_MAX_DURATION_S", default_value_t = 120.0)]
    pub max_duration_s: f64,
    /// Analyses decoding at once (default: number of cores).
    #[arg(long, env = "OXICAM_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Analyses allowed to wait for a slot before new ones get 503 (default: 2 x cores).
    #[arg(long, env = "OXICAM_QUEUE")]
    pub queue: Option<usize>,
    /// Time limit for one analysis including queueing, in seconds.
    #[arg(long, env = "OXICAM_TIMEOUT_S", default_value_t = 120)]
    pub timeout_s: u64,
    /// Seconds an upload may send nothing before it is cut off with 408.
    #[arg(long, env = "OXICAM_UPLOAD_IDLE_TIMEOUT_S", default_value_t = 30)]
    pub upload_idle_timeout_s: u64,
    /// SpO2 model file (default: the model compiled into the binary).
    #[arg(long, env = "OXICAM_MODEL")]
    pub model: Option<PathBuf>,
    /// Directory for uploads while they are analysed (default: the system temp dir).
    #[arg(long, env = "OXICAM_TMP_DIR")]
    pub tmp_dir: Option<PathBuf>,
    /// After SIGTERM, seconds to keep accepting while /readyz reports false.
    #[arg(long, env = "OXICAM_DRAIN_GRACE_S", default_value_t = 5.0)]
    pub drain_grace_secs: f64,
    /// After the listener closed, seconds to wait for in-flight requests at most.
    #[arg(long, env = "OXICAM_DRAIN_TIMEOUT_S", default_value_t = 150.0)]
    pub drain_timeout_secs: f64,
    /// Decoder threads per analysis (default: cores, at most 4).
    #[arg(long, env = "OXICAM_DECODE_THREADS")]
    pub decode_threads: Option<usize>,
    /// Log format.
    #[arg(long, env = "OXICAM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormatArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LogFormatArg {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let defaults = ServerConfig::default();
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
        body_limit_bytes: args.body_limit_mb * 1024 * 1024,
        max_duration_s: args.max_duration_s,
        concurrency: args.concurrency.unwrap_or(defaults.concurrency).max(1),
        queue: args.queue.unwrap_or(defaults.queue),
        timeout: Duration::from_secs(args.timeout_s.max(1)),
        upload_idle_timeout: Duration::from_secs(args.upload_idle_timeout_s.max(1)),
        model_path: args.model,
        tmp_dir: args.tmp_dir,
        drain_grace: seconds("drain-grace-secs", args.drain_grace_secs)?,
        drain_timeout: seconds("drain-timeout-secs", args.drain_timeout_secs)?,
        decode_threads: args
            .decode_threads
            .unwrap_or(defaults.decode_threads)
            .max(1),
        log_format: match args.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        },
        color: std::env::var("OXICAM_COLOR").ok(),
        git_sha: std::env::var("OXICAM_GIT_SHA").ok(),
        fault: Fault::from_env(),
    };
    oxicam_server::run(config)?;
    Ok(ExitCode::SUCCESS)
}
