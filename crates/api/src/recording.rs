//! Recording policy on the API: pausing and resuming a call's recording while the caller
//! reads out card data.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hotline_model::{Event, Timestamp};
use serde_json::{Value, json};

use crate::ApiError;
use crate::v1::V1;

/// `POST /api/v1/interactions/{id}/recording/pause`: the agent on the call (or a
/// supervisor) pauses the recording; silence is recorded until it is resumed.
pub(crate) async fn pause(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    set_paused(v1, id, headers, true).await
}

/// `POST /api/v1/interactions/{id}/recording/resume`: the recording goes on.
pub(crate) async fn resume(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    set_paused(v1, id, headers, false).await
}

async fn set_paused(
    v1: V1,
    id: String,
    headers: HeaderMap,
    pause: bool,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let record = crate::v1::own_interaction(&v1, &who, &id).await?;
    v1.centre
        .pause_recording(record.id, pause)
        .await
        .map_err(|(code, why)| ApiError::new(StatusCode::CONFLICT, code, why))?;
    // Who paused is kept too: the interaction's own event says only that it happened.
    let audit = hotline_model::AuditEvent::new(
        Timestamp::now(),
        who.user.clone(),
        if pause {
            "recording_pause"
        } else {
            "recording_resume"
        },
        record.id.to_string(),
    );
    if let Err(e) = v1.centre.store().append_one(Event::Audit(audit)).await {
        tracing::warn!(interaction = %record.id, error = %e, "recording pause not audited");
    }
    Ok(Json(json!({ "interaction": record.id, "paused": pause })))
}
