//! The browser pages, built into the binary: `/` (a landing page), `/agent` (the agent
//! desktop), `/wallboard` (the supervisors' wallboard), `/campaigns` (outbound campaigns), `/admin` (administration),
//! `/chat` (a demo page with the web chat widget, which any page loads from `/chat/widget.js`) and their
//! ES modules and CSS under `/static/`. No build step: the files in `web/` are served as they are.
//!
//! Every response carries an ETag (a hash of the file) and `Cache-Control: no-cache`, so
//! browsers revalidate and get `304 Not Modified` until the binary changes.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ApiError;

/// A file of the pages.
struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($name:literal, $ty:expr) => {
        Asset {
            name: $name,
            bytes: include_bytes!(concat!("../../../web/", $name)),
            content_type: $ty,
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static PAGES: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("agent.html", HTML),
    asset!("wallboard.html", HTML),
    asset!("admin.html", HTML),
    asset!("campaigns.html", HTML),
    asset!("chat.html", HTML),
    asset!("workforce.html", HTML),
];

static STATIC: &[Asset] = &[
    asset!("static/app.css", CSS),
    asset!("static/api.js", JS),
    asset!("static/i18n.js", JS),
    asset!("static/md.js", JS),
    asset!("static/ui.js", JS),
    asset!("static/agent.js", JS),
    asset!("static/wallboard.js", JS),
    asset!("static/admin.js", JS),
    asset!("static/campaigns.js", JS),
    asset!("static/workforce.js", JS),
    asset!("static/chat-widget.js", JS),
    asset!("static/chat-desk.js", JS),
    asset!("static/phone.js", JS),
    asset!("static/admin-words.js", JS),
    asset!("static/admin-grid.js", JS),
    asset!("static/admin-config.js", JS),
    asset!("static/admin-audit.js", JS),
    asset!("static/admin-items.js", JS),
    asset!("static/admin.css", CSS),
    asset!("static/favicon.svg", "image/svg+xml"),
];

/// The pages' content security policy: only this origin's scripts, styles and sockets.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn routes() -> Router {
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { page("index.html", &h) }),
        )
        .route(
            "/agent",
            get(|h: HeaderMap| async move { page("agent.html", &h) }),
        )
        .route(
            "/wallboard",
            get(|h: HeaderMap| async move { page("wallboard.html", &h) }),
        )
        .route(
            "/campaigns",
            get(|h: HeaderMap| async move { page("campaigns.html", &h) }),
        )
        .route(
            "/workforce",
            get(|h: HeaderMap| async move { page("workforce.html", &h) }),
        )
        .route(
            "/admin",
            get(|h: HeaderMap| async move { page("admin.html", &h) }),
        )
        .route(
            "/chat",
            get(|h: HeaderMap| async move { page("chat.html", &h) }),
        )
        .route(
            "/chat/widget.js",
            get(|h: HeaderMap| async move {
                // Any bank's page may load the widget as a module (a CORS request).
                let mut r = serve_static("chat-widget.js", &h);
                r.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                r
            }),
        )
        .route(
            "/favicon.ico",
            get(|h: HeaderMap| async move { serve_static("favicon.svg", &h) }),
        )
        .route(
            "/static/{file}",
            get(|Path(file): Path<String>, h: HeaderMap| async move { serve_static(&file, &h) }),
        )
}

fn page(name: &str, headers: &HeaderMap) -> Response {
    match PAGES.iter().find(|a| a.name == name) {
        Some(a) => respond(a, headers),
        None => not_found(),
    }
}

fn serve_static(file: &str, headers: &HeaderMap) -> Response {
    let name = format!("static/{file}");
    match STATIC.iter().find(|a| a.name == name) {
        Some(a) => respond(a, headers),
        None => not_found(),
    }
}

fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response()
}

/// FNV-1a of the bytes: a stable ETag for a file built into this binary.
fn etag(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}-{}\"", bytes.len())
}

fn respond(a: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(a.bytes);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.bytes.into_response()
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if a.content_type == HTML {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_the_content_type_of_its_extension() {
        for a in PAGES.iter().chain(STATIC) {
            let want = match a.name.rsplit_once('.').map(|(_, e)| e) {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                Some("svg") => "image/svg+xml",
                other => panic!("unexpected extension {other:?}"),
            };
            assert_eq!(a.content_type, want, "{}", a.name);
            assert!(!a.bytes.is_empty(), "{}", a.name);
        }
    }

    #[test]
    fn a_matching_etag_gets_304_and_another_the_file() {
        let a = &STATIC[0];
        let mut h = HeaderMap::new();
        let full = respond(a, &h);
        assert_eq!(full.status(), StatusCode::OK);
        let tag = full.headers()[header::ETAG].clone();
        h.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(respond(a, &h).status(), StatusCode::NOT_MODIFIED);
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(respond(a, &h).status(), StatusCode::OK);
        assert_eq!(
            serve_static("../Cargo.toml", &h).status(),
            StatusCode::NOT_FOUND
        );
    }
}
