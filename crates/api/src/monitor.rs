//! Supervisors monitoring live calls: listen, whisper, barge, switch modes, stop, take over.
//! The supervisor's phone is rung by the centre; each step is an event of the interaction
//! (`monitor_started`, `monitor_mode_changed`, `monitor_stopped`, `taken_over`) and shows
//! in its record's `monitoring`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hotline_config::Role;
use hotline_model::MonitorMode;
use hotline_switch::session::call::SupervisorPhone;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::v1::{Principal, V1, interaction_record, parse_json};

pub(crate) fn routes() -> axum::Router<V1> {
    axum::Router::new()
        .route("/api/v1/interactions/{id}/monitor", post(start))
        .route("/api/v1/interactions/{id}/monitor/mode", post(mode))
        .route("/api/v1/interactions/{id}/monitor/stop", post(stop))
        .route("/api/v1/interactions/{id}/takeover", post(take_over))
        .route("/api/v1/monitors", axum::routing::get(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    mode: String,
    /// The extension of the SIP phone to ring (default: the user's own extension).
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: String,
}

fn supervisor(v1: &V1, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let who = v1.auth.principal(headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "monitoring calls is for supervisors and administrators",
        ));
    }
    Ok(who)
}

fn parse_mode(s: &str) -> Result<MonitorMode, ApiError> {
    MonitorMode::parse(s).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_mode",
            format!("mode must be listen, whisper or barge, not `{s}`"),
        )
    })
}

fn refused((code, why): (&'static str, String)) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, why)
}

/// `POST /api/v1/interactions/{id}/monitor` `{"mode","phone"?}`: the centre rings the
/// supervisor's phone; once it answers, the supervisor hears the call as `mode` says.
async fn start(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let b: StartBody = parse_json(&body)?;
    let mode = parse_mode(&b.mode)?;
    let Some(extension) = b.phone.or_else(|| who.agent.clone()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_phone",
            "name the extension of the phone to ring (`phone`)",
        ));
    };
    if extension.is_empty() || extension.len() > 64 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_phone",
            "the phone's extension is empty or too long",
        ));
    }
    let record = interaction_record(&v1, &id).await?;
    v1.centre
        .monitor(
            record.id,
            &who.user,
            SupervisorPhone::Sip {
                extension: extension.clone(),
            },
            mode,
        )
        .await
        .map_err(refused)?;
    Ok(Json(json!({
        "interaction": record.id,
        "supervisor": who.user,
        "mode": mode,
        "phone": extension,
    })))
}

/// `POST /api/v1/interactions/{id}/monitor/mode` `{"mode"}`: the monitoring supervisor
/// switches mode.
async fn mode(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let b: ModeBody = parse_json(&body)?;
    let mode = parse_mode(&b.mode)?;
    let record = interaction_record(&v1, &id).await?;
    v1.centre
        .monitor_mode(record.id, &who.user, mode)
        .await
        .map_err(refused)?;
    Ok(Json(
        json!({ "interaction": record.id, "supervisor": who.user, "mode": mode }),
    ))
}

/// `POST /api/v1/interactions/{id}/monitor/stop`: the supervisor's phone is hung up; the
/// call goes on between caller and agent.
async fn stop(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let record = interaction_record(&v1, &id).await?;
    v1.centre
        .monitor_stop(record.id, &who.user)
        .await
        .map_err(refused)?;
    Ok(Json(
        json!({ "interaction": record.id, "supervisor": who.user, "stopped": true }),
    ))
}

/// `POST /api/v1/interactions/{id}/takeover`: the monitoring supervisor replaces the
/// agent: the agent's leg is released, the caller talks to the supervisor.
async fn take_over(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let record = interaction_record(&v1, &id).await?;
    v1.centre
        .take_over(record.id, &who.user)
        .await
        .map_err(refused)?;
    Ok(Json(
        json!({ "interaction": record.id, "supervisor": who.user, "taken_over": true }),
    ))
}

/// `GET /api/v1/monitors`: the calls supervisors monitor now.
async fn list(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    supervisor(&v1, &headers)?;
    let monitors: Vec<Value> = v1
        .centre
        .monitors()
        .into_iter()
        .map(|(s, i)| json!({ "supervisor": s, "interaction": i }))
        .collect();
    Ok(Json(json!({ "monitors": monitors })))
}
