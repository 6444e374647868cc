//! The web page's static files (HTML, ES modules, stylesheet, icon), compiled into the binary and
//! served with their content types and ETags; no inline script or style, so a strict CSP applies.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One file of the page.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../static/", $file)),
        }
    };
}

/// Everything the page loads. `/` (the HTML) is routed in `routes` with its OpenAPI entry.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/app.css", "app.css", "text/css; charset=utf-8"),
    asset!("/app.js", "app.js", JS),
    asset!("/capture.js", "capture.js", JS),
    asset!("/framestats.js", "framestats.js", JS),
    asset!("/plots.js", "plots.js", JS),
    asset!("/pulse.js", "pulse.js", JS),
    asset!("/trace-worker.js", "trace-worker.js", JS),
    asset!("/traceformat.js", "traceformat.js", JS),
    asset!("/favicon.svg", "favicon.svg", "image/svg+xml"),
];

/// Strong validator of a file's bytes (FNV-1a, 64 bits): browsers revalidate (`no-cache`) and
/// get 304 for files that did not change since the last visit.
fn etag(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// The response for one asset, 304 when the client's copy is current.
pub fn respond(asset: &Asset, request_headers: &HeaderMap) -> Response {
    let tag = etag(asset.body);
    let fresh = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(&tag).expect("hex ETag is a valid header"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, asset.body).into_response()
}

pub fn find(path: &str) -> &'static Asset {
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .expect("asset path is in ASSETS")
}

/// Routes for every asset but `/`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .iter()
        .filter(|a| a.path != "/")
        .fold(Router::new(), |router, asset| {
            router.route(
                asset.path,
                get(move |headers: HeaderMap| async move { respond(asset, &headers) }),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        for asset in ASSETS.iter().filter(|a| a.content_type == JS) {
            for line in asset.body.lines() {
                let Some(rest) = line.split(" from \"./").nth(1) else {
                    continue;
                };
                let name = rest.split('"').next().unwrap();
                assert!(
                    served.contains(&format!("/{name}").as_str()),
                    "{} imports {name}, which is not served",
                    asset.path
                );
            }
        }
        let index = find("/").body;
        for link in ["/app.css", "/app.js", "/favicon.svg"] {
            assert!(index.contains(link), "index.html loads {link}");
            assert!(served.contains(&link));
        }
    }

    #[test]
    fn the_html_has_no_inline_script_or_style() {
        let index = find("/").body;
        assert!(!index.contains("<style"), "inline <style>");
        assert!(!index.contains(" style="), "inline style attribute");
        assert!(!index.contains("data:"), "data: URL");
        for (i, _) in index.match_indices("<script") {
            let tag = &index[i..i + index[i..].find('>').unwrap()];
            assert!(tag.contains(" src="), "inline script: {tag}");
            let close = &index[i + tag.len() + 1..];
            assert!(close.starts_with("</script>"), "script with a body");
        }
        for (_, body) in ASSETS.iter().map(|a| (a.path, a.body)) {
            assert!(!body.contains("eval("), "no eval");
        }
    }
}
