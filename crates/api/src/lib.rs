//! hotline's HTTP API.
//!
//! `GET /healthz` (200 once the centre is ready), `GET /metrics` (Prometheus text), and the
//! `/api/v1` routes of [`v1`].
//! Every error is JSON `{"error":{"code","message"}}` with a fitting status and a stable code.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::Serialize;

pub mod campaigns;
pub mod chat;
mod config;
pub mod desk;
mod flows;
mod monitor;
pub mod phone;
pub mod queue_feed;
mod recording;
mod skills;
pub mod sms;
pub mod throttle;
pub mod v1;
pub mod web;
pub mod workforce;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub ready: Arc<AtomicBool>,
    /// Set when the centre drains before stopping: `/healthz` answers 503 `draining`.
    pub draining: Arc<AtomicBool>,
    /// If set, `/metrics` needs `Authorization: Bearer <token>` (`http.metrics_token`).
    pub metrics_token: Option<Arc<str>>,
}

/// An API error: HTTP status, stable machine-readable code, human message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 and 503 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error with a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = header::HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// The router with every route hotline serves.
pub fn router(state: ApiState, v1: Option<v1::V1>) -> Router {
    let base = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .with_state(state)
        .merge(web::routes());
    let app = match v1 {
        Some(v1) => base.merge(v1::routes(v1)),
        None => base,
    };
    app.fallback(not_found)
        .layer(axum::middleware::map_response(nosniff))
}

/// What a hot standby node serves until it takes over: `/healthz` and every API route
/// answer 503 `standby` (a load balancer or a proxy in front sends the centre's traffic to
/// the active node), `/metrics` the node's own figures (its role among them).
pub fn standby_router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(standby))
        .route("/metrics", get(metrics))
        .with_state(state)
        .fallback(standby)
        .layer(axum::middleware::map_response(nosniff))
}

async fn standby() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "standby",
        "this node is the hot standby: the active node serves the centre, and this one takes over if it stops",
    )
    .retry_after(2)
}

/// Every answer says its content type is the one to use (`X-Content-Type-Options: nosniff`):
/// a browser never guesses a JSON error or a recording to be HTML.
async fn nosniff(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    resp
}

async fn healthz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    if state.draining.load(Ordering::Acquire) {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "hotline is stopping: calls in progress finish, new calls are refused",
        ))
    } else if state.ready.load(Ordering::Acquire) {
        Ok("ok\n")
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "hotline is starting",
        ))
    }
}

async fn metrics(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(want) = &state.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), want.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "`/metrics` needs the metrics bearer token",
            ));
        }
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.registry).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics_failed",
            e.to_string(),
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The API described in OpenAPI 3.1 (kept beside the code; a test checks every documented
/// route is served).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
