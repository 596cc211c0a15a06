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

pub mod desk;
pub mod v1;
pub mod web;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub ready: Arc<AtomicBool>,
}

/// An API error: HTTP status, stable machine-readable code, human message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
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
        (self.status, axum::Json(body)).into_response()
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
}

async fn healthz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    if state.ready.load(Ordering::Acquire) {
        Ok("ok\n")
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "hotline is starting",
        ))
    }
}

async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
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
