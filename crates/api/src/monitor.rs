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
    /// The extension of the SIP phone to ring (default: the browser phone open on the
    /// user's wallboard, else the user's own extension).
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

/// The phone a monitoring call rings: the extension named, else the supervisor's browser
/// phone if the wallboard has it open, else the user's own extension.
fn supervisor_phone(
    v1: &V1,
    who: &Principal,
    named: Option<String>,
) -> Result<SupervisorPhone, ApiError> {
    if let Some(extension) = named {
        if extension.is_empty() || extension.len() > 64 || extension.contains(':') {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_phone",
                "the phone's extension is empty, too long or not an extension",
            ));
        }
        return Ok(SupervisorPhone::Sip { extension });
    }
    let browser = hotline_switch::browser::user_phone(&who.user);
    if v1.centre.browser_phones().registered(&browser) {
        return Ok(SupervisorPhone::Browser {
            user: who.user.clone(),
        });
    }
    match &who.agent {
        Some(extension) => Ok(SupervisorPhone::Sip {
            extension: extension.clone(),
        }),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_phone",
            "open the browser phone on the wallboard, or name the extension of the phone to ring (`phone`)",
        )),
    }
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
    let phone = supervisor_phone(&v1, &who, b.phone)?;
    let record = interaction_record(&v1, &id).await?;
    v1.centre
        .monitor(record.id, &who.user, phone.clone(), mode)
        .await
        .map_err(refused)?;
    Ok(Json(json!({
        "interaction": record.id,
        "supervisor": who.user,
        "mode": mode,
        "phone": phone.name(),
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
