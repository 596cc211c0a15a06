//! The SMS provider's webhooks (`[sms.http]`): no login, a signature instead.
//!
//! - `POST /api/v1/sms/inbound` `{"id","from","to","text"}`: a customer's text. Answered
//!   200 `{"conversation","seq","duplicate"}` once it is durable in the log; the same `id`
//!   posted again answers the message already kept (`duplicate: true`).
//! - `POST /api/v1/sms/status` `{"id","status"}`: what became of a reply the provider took
//!   (its `id` from the answer to the centre's POST). Answered 200 `{"recorded"}`.
//!
//! Each request carries `X-Hotline-Timestamp: <unix seconds>` and
//! `X-Hotline-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>` under
//! `sms.http.secret`; without a matching one, or with a timestamp more than five minutes
//! off, it is refused with 401 `bad_signature` before the body is read as JSON (a request
//! captured on the way cannot be played again later). A source that keeps sending bad
//! signatures is held back (429 `too_many_attempts`) like failed logins.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hotline_switch::chat::ChatError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::throttle::{Throttle, ThrottleConfig};
use crate::v1::{V1, parse_json};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hotline-signature";
/// The header with the time the request was signed (Unix seconds), part of what is signed.
pub const TIMESTAMP_HEADER: &str = "x-hotline-timestamp";
/// How far a request's timestamp may be from the centre's clock.
const MAX_SKEW_SECS: u64 = 300;
/// Largest webhook body.
const MAX_BODY: usize = 64 * 1024;
/// Longest provider id of a message.
const MAX_ID: usize = 128;
/// Longest status word.
const MAX_STATUS: usize = 64;

pub fn routes() -> Router<V1> {
    Router::new()
        .route("/api/v1/sms/inbound", post(inbound))
        .route("/api/v1/sms/status", post(status))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

/// Bad signatures per source: after a free allowance, a back-off that doubles up to a
/// minute (no per-name limit: the provider is one caller).
fn throttle() -> &'static parking_lot::Mutex<Throttle> {
    static T: OnceLock<parking_lot::Mutex<Throttle>> = OnceLock::new();
    T.get_or_init(|| {
        parking_lot::Mutex::new(Throttle::new(ThrottleConfig {
            account_failures: 0,
            source_failures: 10,
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }))
    })
}

const WHO: &str = "sms-provider";

/// Checks the request's signature against the body; the source is throttled after
/// repeated failures.
fn verify(
    v1: &V1,
    source: Option<IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(secret) = v1.centre.texts().webhook_secret() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "sms_http_off",
            "this centre takes no text messages by HTTP ([sms.http] is not configured)",
        ));
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let given = header(SIGNATURE_HEADER)
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(hex_decode);
    let stamp = header(TIMESTAMP_HEADER).filter(|t| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        t.parse::<u64>()
            .is_ok_and(|t| t.abs_diff(now) <= MAX_SKEW_SECS)
    });
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
    let ok = match (stamp, given) {
        (Some(stamp), Some(tag)) => {
            let mut signed = Vec::with_capacity(stamp.len() + 1 + body.len());
            signed.extend_from_slice(stamp.as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(body);
            ring::hmac::verify(&key, &signed, &tag).is_ok()
        }
        _ => false,
    };
    // The signature first (it is cheap): a provider's good request is never held back by
    // someone else's bad ones from behind the same address.
    if ok {
        return Ok(());
    }
    if let Err(wait) = throttle().lock().check(WHO, source, Instant::now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many bad signatures; try again in {} s", wait.as_secs()),
        )
        .retry_after(wait.as_secs()));
    }
    if throttle().lock().failed(WHO, source, Instant::now()) {
        tracing::warn!(source = ?source, "SMS webhooks with bad signatures: the source is held back");
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "X-Hotline-Signature is missing or does not match, or X-Hotline-Timestamp is missing or more than 5 minutes off (sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\" under the shared secret>)",
    ))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn source(v1: &V1, ext: &axum::http::Extensions, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    v1.auth.client_of(peer, headers)
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// A provider's id: 1 to [`MAX_ID`] visible characters.
fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID || id.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(bad(
            "bad_id",
            format!("`id` must be 1 to {MAX_ID} characters, no spaces"),
        ));
    }
    Ok(())
}

fn switch_error(e: ChatError) -> ApiError {
    match e.code {
        "starting" => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code, e.message).retry_after(5)
        }
        "log_unavailable" | "busy" => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code, e.message).retry_after(5)
        }
        "sms_off" | "sms_http_off" => ApiError::new(StatusCode::NOT_FOUND, e.code, e.message),
        _ => ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message),
    }
}

#[derive(Deserialize)]
struct InboundBody {
    id: String,
    from: String,
    to: String,
    text: String,
}

async fn inbound(
    State(v1): State<V1>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    verify(&v1, source(&v1, &ext, &headers), &headers, &body)?;
    let b: InboundBody = parse_json(&body)?;
    check_id(&b.id)?;
    if b.text.trim().is_empty() {
        return Err(bad("bad_request", "`text` is empty"));
    }
    if b.to.len() > 64 {
        return Err(bad("bad_number", "`to` is no number"));
    }
    let r = v1
        .centre
        .texts()
        .provider_text(&b.id, &b.from, &b.text)
        .await
        .map_err(switch_error)?;
    if !r.duplicate {
        tracing::info!(id = %b.id, to = %b.to, conversation = %r.conversation, "a text message from the SMS provider");
    }
    Ok(Json(json!({
        "conversation": r.conversation,
        "seq": r.seq,
        "duplicate": r.duplicate,
    })))
}

#[derive(Deserialize)]
struct StatusBody {
    id: String,
    status: String,
}

async fn status(
    State(v1): State<V1>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    verify(&v1, source(&v1, &ext, &headers), &headers, &body)?;
    let b: StatusBody = parse_json(&body)?;
    check_id(&b.id)?;
    let word = b.status.trim().to_ascii_lowercase();
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if word.is_empty() || word.len() > MAX_STATUS || !word.chars().all(plain) {
        return Err(bad(
            "bad_status",
            format!(
                "`status` must be one word of at most {MAX_STATUS} letters, digits, `_`, `-` or `.`"
            ),
        ));
    }
    let recorded = v1
        .centre
        .texts()
        .provider_status(&b.id, &word)
        .await
        .map_err(switch_error)?;
    Ok(Json(json!({ "recorded": recorded })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_read_strictly() {
        assert_eq!(hex_decode("00ff7A"), Some(vec![0, 255, 122]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode("é1"), None, "not a char boundary");
    }
}
