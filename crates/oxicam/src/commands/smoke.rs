//! `oxicam smoke`: checks a running oxicam service end to end (health, readiness, version and
//! colour, and a real `POST /run` with a clip rendered in-process from a trace of known heart rate).
//! Only public routes unless the build is asked for: `/version` lives on the admin listener,
//! which a smoke Job in the cluster cannot reach.

use anyhow::{bail, Context};
use oxicam_server::{About, VersionInfo};
use oxicam_signal::Report;
use reqwest::blocking::{multipart, Client};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Base URL of the service (plain HTTP), e.g. http://127.0.0.1:8000
    #[arg(long, env = "OXICAM_SMOKE_URL")]
    pub url: String,
    /// Base URL of the operations listener: when given (or with --expect-git-sha, then
    /// defaulting to --url's host on port 9090), `/version` is checked there too.
    #[arg(long, env = "OXICAM_SMOKE_ADMIN_URL")]
    pub admin_url: Option<String>,
    /// Fail unless the service reports this version.
    #[arg(long)]
    pub expect_version: Option<String>,
    /// Fail unless the service reports this colour (blue/green deployments; public `/v1/about`).
    #[arg(long)]
    pub expect_color: Option<String>,
    /// Fail unless `/version` (admin listener) reports this git commit (a prefix is enough).
    #[arg(long)]
    pub expect_git_sha: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Keep retrying `/healthz` for up to this many seconds before the first check counts
    /// (for a service that is still starting).
    #[arg(long, default_value_t = 0.0)]
    pub wait: f64,
    /// Only check `/healthz` (used by the container HEALTHCHECK).
    #[arg(long)]
    pub health_only: bool,
    /// Largest accepted distance between the reported heart rate and the clip's reference.
    #[arg(long, default_value_t = 10.0)]
    pub hr_tolerance_bpm: f64,
}

/// The admin listener of the service at `base`: same host, port 9090 (the containers' port).
fn default_admin_url(base: &str) -> String {
    let authority = base.trim_start_matches("http://");
    let authority = authority.split('/').next().unwrap_or(authority);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    format!("http://{host}:9090")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let base = args.url.trim_end_matches('/').to_string();
    if !base.starts_with("http://") {
        // No TLS stack on purpose: the smoke test talks to a colour or a load balancer over
        // plain HTTP inside the network; TLS ends at the edge.
        bail!(
            "--url must be a plain http:// URL (no TLS support), got {:?}",
            args.url
        );
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    let client = Client::builder()
        .timeout(Duration::from_secs_f64(args.timeout))
        .build()
        .context("building the HTTP client")?;
    let admin_base = match (&args.admin_url, &args.expect_git_sha) {
        (Some(url), _) => Some(url.trim_end_matches('/').to_string()),
        (None, Some(_)) => Some(default_admin_url(&base)),
        (None, None) => None,
    };
    if let Some(admin) = admin_base.as_ref().filter(|a| !a.starts_with("http://")) {
        bail!("--admin-url must be a plain http:// URL, got {admin:?}");
    }
    let smoke = Smoke {
        client,
        base,
        admin_base,
    };

    if args.wait > 0.0 {
        smoke.wait_for_health(Duration::from_secs_f64(args.wait));
    }

    let mut results = vec![smoke.check("healthz", |s| s.expect_ok("/healthz"))];
    if !args.health_only {
        results.push(smoke.check("readyz", |s| s.expect_ok("/readyz")));
        results.push(smoke.check("version", |s| s.version(&args)));
        results.push(smoke.check("run", |s| s.run_clip(args.hr_tolerance_bpm)));
    }
    let failed = results.iter().filter(|ok| !**ok).count();
    if failed == 0 {
        println!(
            "smoke: all {} checks passed against {}",
            results.len(),
            smoke.base
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "smoke: {failed} of {} checks FAILED against {}",
            results.len(),
            smoke.base
        );
        Ok(ExitCode::FAILURE)
    }
}

struct Smoke {
    client: Client,
    base: String,
    /// The operations listener (`/version`), when the build is to be checked.
    admin_base: Option<String>,
}

impl Smoke {
    /// Runs one check and prints `ok`/`FAIL` with its duration and detail.
    fn check(&self, name: &str, f: impl FnOnce(&Self) -> anyhow::Result<String>) -> bool {
        let start = Instant::now();
        let outcome = f(self);
        let ms = start.elapsed().as_millis();
        match outcome {
            Ok(detail) => {
                println!("ok    {name:<8} {ms:>6} ms  {detail}");
                true
            }
            Err(err) => {
                println!("FAIL  {name:<8} {ms:>6} ms  {err:#}");
                false
            }
        }
    }

    fn wait_for_health(&self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.expect_ok("/healthz").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        self.get_from(&self.base, path)
    }

    fn get_from(&self, base: &str, path: &str) -> anyhow::Result<(u16, String)> {
        let url = format!("{base}{path}");
        let resp = self
            .client
            .get(&url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .with_context(|| format!("reading the body of GET {url}"))?;
        Ok((status, body))
    }

    fn expect_ok(&self, path: &str) -> anyhow::Result<String> {
        let (status, body) = self.get(path)?;
        if status != 200 {
            bail!("GET {path} answered HTTP {status}: {}", snippet(&body));
        }
        Ok(format!("HTTP 200 {}", snippet(&body)))
    }

    /// Version and colour from the public `/v1/about`; with an admin listener, `/version` must
    /// agree with it and report the expected build.
    fn version(&self, args: &Args) -> anyhow::Result<String> {
        let about: About = self.get_json(&self.base, "/v1/about")?;
        if about.version.is_empty() {
            bail!("/v1/about has no \"version\"");
        }
        let color = about.color.clone().unwrap_or_default();
        let mut problems = Vec::new();
        if let Some(want) = &args.expect_version {
            if &about.version != want {
                problems.push(format!("version is {:?}, expected {want:?}", about.version));
            }
        }
        if let Some(want) = &args.expect_color {
            if &color != want {
                problems.push(format!("color is {color:?}, expected {want:?}"));
            }
        }
        let mut detail = format!(
            "version {}, color {color:?}, model {}",
            about.version, about.model_version
        );
        if let Some(admin) = &self.admin_base {
            let build: VersionInfo = self.get_json(admin, "/version")?;
            if (&build.version, &build.model_version, &build.color)
                != (&about.version, &about.model_version, &about.color)
            {
                problems.push(format!(
                    "/version on the admin listener ({} {} {:?}) is not the service at {} ({} {} {:?})",
                    build.version,
                    build.model_version,
                    build.color,
                    self.base,
                    about.version,
                    about.model_version,
                    about.color
                ));
            }
            if let Some(want) = &args.expect_git_sha {
                if want.is_empty() || !build.git_sha.starts_with(want.as_str()) {
                    problems.push(format!("git_sha is {:?}, expected {want:?}", build.git_sha));
                }
            }
            detail = format!("{detail}, git_sha {}", build.git_sha);
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        Ok(detail)
    }

    /// GET `base` + `path`, which must answer 200 with JSON of type T.
    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
    ) -> anyhow::Result<T> {
        let (status, body) = self.get_from(base, path)?;
        if status != 200 {
            bail!(
                "GET {base}{path} answered HTTP {status}: {}",
                snippet(&body)
            );
        }
        serde_json::from_str(&body)
            .with_context(|| format!("{path} is not the expected JSON: {}", snippet(&body)))
    }

    fn run_clip(&self, tolerance_bpm: f64) -> anyhow::Result<String> {
        let expected_bpm = SMOKE_CLIP_HEART_RATE_BPM;
        let size = SMOKE_CLIP.len();
        let part = multipart::Part::bytes(SMOKE_CLIP)
            .file_name("smoke.mp4")
            .mime_str("video/mp4")?;
        let form = multipart::Form::new().part("file", part);
        let url = format!("{}/run", self.base);
        let resp = self
            .client
            .post(&url)
            .multipart(form)
            .send()
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let body = resp.text().context("reading the /run response")?;
        if status != 200 {
            bail!("POST /run answered HTTP {status}: {}", snippet(&body));
        }
        let report: Report = serde_json::from_str(&body)
            .with_context(|| format!("/run answer is not a report: {}", snippet(&body)))?;
        let Some(hr) = report.heart_rate_bpm else {
            bail!("/run answer has no heart_rate_bpm: {}", snippet(&body));
        };
        if (hr - expected_bpm).abs() > tolerance_bpm {
            bail!(
                "heart rate {hr:.1} bpm is more than {tolerance_bpm} bpm from the clip's reference {expected_bpm:.1} bpm"
            );
        }
        let spo2 = report
            .spo2_percent
            .map_or("none".to_string(), |s| format!("{s:.1} %"));
        Ok(format!(
            "{} kB clip: heart rate {hr:.1} bpm (reference {expected_bpm:.1}), SpO2 {spo2}",
            size / 1024
        ))
    }
}

/// The clip `smoke` uploads: the embedded real trace (UW subject 100002) rendered by
/// `oxicam synth --size 160x120 --seconds 25 --noise 0.5 --crf 20 --faststart` on a host with
/// Debian's FFmpeg. Shipped rather than rendered at run time because the image's FFmpeg is built
/// with decoders only (deploy/docker/ffmpeg.sh); a unit test below checks it still reads as
/// [`SMOKE_CLIP_HEART_RATE_BPM`] through the product's pipeline.
pub const SMOKE_CLIP: &[u8] = include_bytes!("../../assets/smoke-clip.mp4");

/// The reference heart rate of [`SMOKE_CLIP`]'s trace.
pub const SMOKE_CLIP_HEART_RATE_BPM: f64 = oxicam_video::synth::EMBEDDED_TRACE_HEART_RATE_BPM;

/// The first 200 characters of a body, on one line.
fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().count() > 200 {
        format!("{one_line}...")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::default_admin_url;

    #[test]
    fn the_admin_url_defaults_to_the_same_host_on_9090() {
        assert_eq!(
            default_admin_url("http://127.0.0.1:8000"),
            "http://127.0.0.1:9090"
        );
        assert_eq!(
            default_admin_url("http://oxicam.internal"),
            "http://oxicam.internal:9090"
        );
        assert_eq!(default_admin_url("http://[::1]:8000"), "http://[::1]:9090");
    }
}

#[cfg(test)]
mod smoke_clip_tests {
    use super::*;
    use oxicam_video::pipeline::{analyze_video, default_model, PipelineOptions};

    #[test]
    fn the_shipped_smoke_clip_reads_as_its_reference_rate() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("smoke.mp4");
        std::fs::write(&clip, SMOKE_CLIP).unwrap();
        let report = analyze_video(&clip, &default_model(), &PipelineOptions::default()).unwrap();
        assert!(
            report.usable,
            "smoke clip refused: {:?}",
            report.quality.reasons
        );
        let hr = report.heart_rate_bpm.expect("a heart rate");
        assert!(
            (hr - SMOKE_CLIP_HEART_RATE_BPM).abs() < 1.0,
            "smoke clip reads {hr:.2} bpm, reference {SMOKE_CLIP_HEART_RATE_BPM}"
        );
    }
}
