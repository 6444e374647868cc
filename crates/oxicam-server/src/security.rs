//! Browser-facing protections: security headers (a strict CSP), the `Origin` check and a
//! per-client rate limit on the analysis routes, and validation of client request ids.

use crate::error::ApiError;
use crate::telemetry::REQUEST_ID_HEADER;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest client request id kept; longer or unusual ones are replaced by a fresh UUID.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Headers every response carries. The page is served from our own origin only: scripts,
/// styles, workers and fetches from 'self' (inline blocks of the page by hash), the camera as
/// the one powerful feature, no framing, no referrer.
#[derive(Clone)]
pub struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// The policy for `page`: hashes of its inline `<script>` and `<style>` blocks, if any.
    pub fn for_page(page: &str) -> SecurityHeaders {
        let scripts = inline_hashes(page, "script");
        let styles = inline_hashes(page, "style");
        let csp = format!(
            "default-src 'none'; script-src 'self'{scripts}; style-src 'self'{styles}; \
             img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
             worker-src 'self' blob:; manifest-src 'self'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        SecurityHeaders {
            csp: HeaderValue::from_str(&csp).expect("the policy is ASCII"),
        }
    }

    fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            "permissions-policy",
            HeaderValue::from_static(
                "camera=(self), microphone=(), geolocation=(), payment=(), usb=(), \
                 interest-cohort=()",
            ),
        );
    }
}

pub async fn security_headers(
    State(headers): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    headers.apply(response.headers_mut());
    response
}

/// `'sha256-...'` sources for the bodies of `<tag>` elements without `src` in `page`.
fn inline_hashes(page: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut sources = String::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(head_end) = after.find('>') else {
            break;
        };
        let attributes = &after[..head_end];
        let body_and_rest = &after[head_end + 1..];
        let Some(body_end) = body_and_rest.find(&close) else {
            break;
        };
        if !attributes.contains("src=") {
            let digest = Sha256::digest(&body_and_rest.as_bytes()[..body_end]);
            let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
            sources.push_str(&format!(" 'sha256-{b64}'"));
        }
        rest = &body_and_rest[body_end + close.len()..];
    }
    sources
}

/// Refuses cross-site browser posts to the analysis routes (a multipart POST needs no CORS
/// preflight, so any website could make its visitors' browsers send analyses). Requests
/// without `Origin` (curl, scripts) pass; so do the page's own and `allowed` origins.
pub async fn same_origin_only(
    State(allowed): State<Arc<Vec<String>>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let same = origin_authority(origin).is_some_and(|a| same_authority(&a, host));
        let listed = allowed.iter().any(|a| a.eq_ignore_ascii_case(origin));
        if !(same || listed) {
            metrics::counter!("oxicam_requests_refused_total", "reason" => "cross_origin")
                .increment(1);
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format!("Uploads from the web page at {origin} are not accepted here."),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// `(scheme, host[:port])` of an `Origin` value; `None` for `null` and anything malformed.
fn origin_authority(origin: &str) -> Option<(String, String)> {
    let (scheme, authority) = origin.split_once("://")?;
    if authority.is_empty() || authority.contains('/') {
        return None;
    }
    Some((scheme.to_ascii_lowercase(), authority.to_ascii_lowercase()))
}

/// Whether the origin names the host the request was sent to (default ports made explicit:
/// behind a TLS load balancer the origin is `https://host` and `Host` is `host`).
fn same_authority((scheme, authority): &(String, String), host: &str) -> bool {
    let default_port = if scheme == "https" { "443" } else { "80" };
    let with_port = |a: &str| {
        if a.rsplit_once(':')
            .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()) && !a.ends_with(']'))
        {
            a.to_string()
        } else {
            format!("{a}:{default_port}")
        }
    };
    let host = host.to_ascii_lowercase();
    with_port(authority) == with_port(&host) || *authority == host
}

/// Replaces a client's `x-request-id` that is too long or holds anything but letters, digits
/// and `-_.:` (it is logged and echoed back); the id layer then assigns a fresh one.
pub async fn sanitize_request_id(mut request: Request, next: Next) -> Response {
    let acceptable = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .map(|v| is_acceptable_request_id(v.as_bytes()));
    if acceptable == Some(false) {
        request.headers_mut().remove(&REQUEST_ID_HEADER);
    }
    next.run(request).await
}

fn is_acceptable_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// Token buckets per client address: `burst` analyses at once, refilled at `per_minute`.
pub struct RateLimiter {
    per_minute: f64,
    burst: f64,
    /// How many `X-Forwarded-For` entries, counted from the right, our own proxies added;
    /// 0 trusts none and keys on the peer address.
    trusted_hops: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Most clients tracked at once; past it, full (idle) buckets are forgotten first.
const MAX_TRACKED_CLIENTS: usize = 100_000;

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32, trusted_hops: usize) -> RateLimiter {
        RateLimiter {
            per_minute: f64::from(per_minute),
            burst: f64::from(burst.max(1)),
            trusted_hops,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The client's address: the peer, or the entry our trusted proxies put in front of them.
    fn client(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        if self.trusted_hops == 0 {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        // Our proxies append; the entry just left of theirs is what the outermost one saw.
        forwarded
            .len()
            .checked_sub(self.trusted_hops)
            .and_then(|i| forwarded.get(i))
            .and_then(|ip| ip.parse().ok())
            .or(peer)
    }

    /// Takes a token for `client`, or says how many seconds until one is available.
    fn take(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            let (per_minute, burst) = (self.per_minute, self.burst);
            buckets.retain(|_, b| refill(b, now, per_minute, burst) < burst);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let tokens = refill(bucket, now, self.per_minute, self.burst);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            let wait_s = (1.0 - tokens) * 60.0 / self.per_minute;
            Err(wait_s.ceil().max(1.0) as u64)
        }
    }
}

fn refill(bucket: &mut Bucket, now: Instant, per_minute: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * per_minute / 60.0).min(burst);
    bucket.updated = now;
    bucket.tokens
}

pub async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(client) = limiter.client(request.headers(), peer) {
        if let Err(retry_after_s) = limiter.take(client, Instant::now()) {
            metrics::counter!("oxicam_requests_refused_total", "reason" => "rate_limited")
                .increment(1);
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many analyses from your address; retry in {retry_after_s} s."),
            );
            error.retry_after_s = Some(retry_after_s);
            return error.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn inline_blocks_are_hashed_and_external_ones_are_not() {
        let page = "<style>b{}</style><script src=\"/app.js\"></script><script>go()</script>";
        let scripts = inline_hashes(page, "script");
        // sha256("go()") in base64, as `openssl dgst -sha256 -binary | base64` gives.
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"go()"));
        assert_eq!(scripts, format!(" 'sha256-{expected}'"));
        assert_eq!(inline_hashes(page, "style").matches("sha256-").count(), 1);
        assert_eq!(
            inline_hashes("<script src=\"/a.js\"></script>", "script"),
            ""
        );
    }

    #[test]
    fn origins_match_the_host_with_default_ports() {
        let same = |o: &str, h: &str| origin_authority(o).is_some_and(|a| same_authority(&a, h));
        assert!(same("http://127.0.0.1:8000", "127.0.0.1:8000"));
        assert!(same("https://oxicam.example", "oxicam.example"));
        assert!(same("https://OXICAM.example", "oxicam.example:443"));
        assert!(!same("https://evil.example", "oxicam.example"));
        assert!(!same("http://oxicam.example:8001", "oxicam.example:8000"));
        assert!(!same("null", "oxicam.example"));
        assert!(!same(
            "https://oxicam.example.evil.example",
            "oxicam.example"
        ));
    }

    #[test]
    fn request_ids_are_short_plain_tokens() {
        assert!(is_acceptable_request_id(b"3f2a-9b_c.1:x"));
        assert!(!is_acceptable_request_id(b""));
        assert!(!is_acceptable_request_id(&[b'a'; 65]));
        assert!(!is_acceptable_request_id(b"id\" injected=\"1"));
        assert!(!is_acceptable_request_id("ünïcode".as_bytes()));
    }

    #[test]
    fn buckets_refill_per_client_and_forwarded_hops_are_trusted_as_configured() {
        let limiter = RateLimiter::new(60, 2, 0);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        assert!(limiter.take(a, t0).is_ok());
        assert!(limiter.take(a, t0).is_ok());
        assert_eq!(limiter.take(a, t0), Err(1));
        assert!(
            limiter.take(b, t0).is_ok(),
            "another client has its own bucket"
        );
        assert!(
            limiter.take(a, t0 + Duration::from_secs(1)).is_ok(),
            "one per second"
        );

        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        let peer = Some("10.1.1.1".parse().unwrap());
        let direct = RateLimiter::new(60, 2, 0);
        assert_eq!(
            direct.client(&headers, peer),
            peer,
            "untrusted header ignored"
        );
        let behind_lb = RateLimiter::new(60, 2, 1);
        assert_eq!(
            behind_lb.client(&headers, peer),
            Some("203.0.113.7".parse().unwrap()),
            "the address the load balancer saw, not what the client claimed"
        );
    }
}
