//! oxicam-server: the HTTP service (`POST /run`, `/v1/analyses`, health, metrics) and the
//! phone web page, built on axum and tokio.
//!
//! # Layout
//!
//! A request flows: `routes` (router, middleware, handlers, the OpenAPI document) ->
//! `upload` (multipart streamed to a temporary file, form fields checked) -> `analysis` (a
//! bounded pool of decode slots running `oxicam_video::pipeline` off the async runtime, with
//! deadlines and cancellation) -> a `Report`, or an `error::ApiError` rendered as
//! `{"error":{"code","message"}}` with the right status.
//!
//! - [`config`]: every setting and its default ([`ServerConfig`]).
//! - `telemetry`: request logs (text or JSON, never a measured value) and Prometheus metrics.
//! - [`run`] / [`serve`] (here): the listener, SIGTERM handling and draining; [`router`] builds
//!   the same service without a listener, for tests that send requests one by one.

mod analysis;
mod assets;
pub mod config;
mod connections;
mod error;
mod routes;
mod security;
mod telemetry;
pub mod trace_upload;
mod upload;

pub use config::{Fault, LogFormat, ServerConfig};
pub use error::{ErrorBody, ErrorDetail};
pub use routes::{openapi, About, VersionInfo};

use anyhow::Context;
use oxicam_video::pipeline::load_model;
use routes::AppState;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Runs the service until SIGTERM or SIGINT, then drains and returns (exit code 0).
/// Builds its own tokio runtime; for `oxicam serve`.
pub fn run(config: ServerConfig) -> anyhow::Result<()> {
    telemetry::init_logging(config.log_format, &config.log_filter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oxicam-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        tracing::info!(addr = %listener.local_addr()?, "oxicam listening");
        serve(listener, config, termination_signal()).await
    })
}

/// Serves on `listener` (and the operations endpoints on `config.admin_addr`, when set) until
/// `shutdown` completes, then drains: readiness turns false at once, the listener keeps
/// accepting for `drain_grace` (load balancers catch up), then closes, and in-flight requests
/// finish (bounded by `drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let admin = match config.admin_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on the admin address {addr}"))?,
        ),
        None => None,
    };
    serve_with_admin(listener, admin, config, shutdown).await
}

/// [`serve`] with the admin listener given (tests bind port 0); `None` serves no operations
/// endpoints whatever `config.admin_addr` says. The admin listener answers until the public
/// one has drained, so metrics cover the drain.
pub async fn serve_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = Arc::new(build_state(&config)?);
    let app = routes::router(state.clone());
    let admin_task = match admin {
        Some(admin) => {
            tracing::info!(admin_addr = %admin.local_addr()?, "oxicam operations endpoints listening");
            let admin_app = routes::admin_router(state.clone());
            Some(tokio::spawn(async move {
                if let Err(err) = axum::serve(admin, admin_app).await {
                    tracing::error!(error = %err, "admin listener failed");
                }
            }))
        }
        None => None,
    };
    let _stop_admin = AbortOnDrop(admin_task);

    let stop_accepting = Arc::new(tokio::sync::Notify::new());
    let draining = {
        let state = state.clone();
        let stop_accepting = stop_accepting.clone();
        let grace = config.drain_grace;
        tokio::spawn(async move {
            shutdown.await;
            state.ready.store(false, Ordering::SeqCst);
            tracing::info!(
                grace_s = grace.as_secs_f64(),
                "draining: readiness is false"
            );
            tokio::time::sleep(grace).await;
            tracing::info!("draining: no new connections; finishing in-flight requests");
            stop_accepting.notify_one();
        })
    };
    let limits = connections::ConnectionLimits {
        max_connections: config.max_connections,
        header_read_timeout: config.header_read_timeout,
    };
    let server = connections::serve(listener, app, limits, {
        let stop_accepting = stop_accepting.clone();
        async move { stop_accepting.notified().await }
    });
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        () = async {
            let _ = draining.await;
            tokio::time::sleep(config.drain_timeout).await;
        } => {
            tracing::warn!("drain timeout: exiting with requests still in flight");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The operations routes for `config` without a listener, for `oneshot` tests.
pub fn admin_router(config: &ServerConfig) -> anyhow::Result<axum::Router> {
    Ok(routes::admin_router(Arc::new(build_state(config)?)))
}

/// The service's routes for `config` without a listener: what [`serve`] runs, for tests that
/// drive it request by request (`tower::ServiceExt::oneshot`). Fails as [`serve`] does on a
/// model that cannot be loaded or a temporary directory that cannot be created.
pub fn router(config: &ServerConfig) -> anyhow::Result<axum::Router> {
    Ok(routes::router(Arc::new(build_state(config)?)))
}

fn build_state(config: &ServerConfig) -> anyhow::Result<AppState> {
    let model = load_model(config.model_path.as_deref()).context("cannot load the model")?;
    let tmp_dir = config.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&tmp_dir)
        .with_context(|| format!("cannot create the temp dir {}", tmp_dir.display()))?;
    upload::remove_leftovers(&tmp_dir)
        .with_context(|| format!("cannot clean the temp dir {}", tmp_dir.display()))?;
    let analyzer = analysis::Analyzer::new(
        model,
        config.concurrency,
        config.queue,
        config.timeout,
        config.max_duration_s,
        config.decode_threads,
    );
    let version = VersionInfo::new(config, analyzer.model_version());
    Ok(AppState {
        analyzer,
        ready: AtomicBool::new(true),
        tmp_dir,
        body_limit: config.body_limit_bytes,
        upload_idle_timeout: config.upload_idle_timeout,
        upload_timeout: config.upload_timeout,
        upload_budget: upload::DiskBudget::new(config.upload_budget_bytes),
        fault: config.fault,
        security_headers: Arc::new(security::SecurityHeaders::for_page(assets::find("/").body)),
        allowed_origins: Arc::new(config.allowed_origins.clone()),
        rate_limiter: (config.rate_per_minute > 0).then(|| {
            Arc::new(security::RateLimiter::new(
                config.rate_per_minute,
                config.rate_burst,
                config.trusted_proxy_hops,
            ))
        }),
        version,
        metrics: telemetry::metrics_handle(),
    })
}

/// Completes on the first SIGTERM or SIGINT.
pub async fn termination_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
