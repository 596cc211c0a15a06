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

/// `GET /api/v1/interactions/{id}/export` (supervisors and administrators): one tar archive
/// for a complaint investigation: `record.json` (the interaction record), `events.json`
/// (every event of the interaction, in log order), `notes.json` (notes; the wrap-up is in the
/// record and the events), `recordings/<file>` (each recording and voicemail still on disk)
/// and `manifest.json` (who exported what, when, and any recording no longer on disk).
/// The export is written to the audit log before a byte is sent.
pub(crate) async fn export(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let who = v1.auth.principal(&headers)?;
    if who.role == hotline_config::Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "exports are for supervisors and administrators",
        ));
    }
    let record = crate::v1::interaction_record(&v1, &id).await?;
    let store = v1.centre.store();
    let events = store
        .interaction_events(record.id)
        .await
        .map_err(crate::v1::store_error)?;
    let notes = store
        .notes(record.id)
        .await
        .map_err(crate::v1::store_error)?;
    let mut paths: Vec<String> = store
        .recordings(record.id)
        .await
        .map_err(crate::v1::store_error)?
        .into_iter()
        .map(|r| r.path)
        .collect();
    for p in [&record.recording, &record.voicemail].into_iter().flatten() {
        if !paths.contains(p) {
            paths.push(p.clone());
        }
    }
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for p in paths {
        match tokio::fs::read(&p).await {
            Ok(bytes) => files.push((p, bytes)),
            Err(e) => missing.push(json!({ "path": p, "error": e.to_string() })),
        }
    }
    let now = Timestamp::now();
    let manifest = json!({
        "interaction": record.id,
        "exported_by": who.user,
        "exported_at": now,
        "recordings": files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        "missing_recordings": missing,
    });
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("manifest.json".into(), json_file(&manifest)),
        ("record.json".into(), json_file(&record)),
        ("events.json".into(), json_file(&events)),
        ("notes.json".into(), json_file(&notes)),
    ];
    for (n, (p, bytes)) in files.into_iter().enumerate() {
        let name = std::path::Path::new(&p)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("recording-{n}.wav"));
        // Two files of the same name (a call and its voicemail) stay apart.
        let name = if entries
            .iter()
            .any(|(e, _)| e == &format!("recordings/{name}"))
        {
            format!("{n}-{name}")
        } else {
            name
        };
        entries.push((format!("recordings/{name}"), bytes));
    }
    let archive = tar_of(&entries, now).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "export_failed",
            e.to_string(),
        )
    })?;
    let audit = hotline_model::AuditEvent::new(
        now,
        who.user.clone(),
        "interaction_export",
        record.id.to_string(),
    );
    store
        .append_one(Event::Audit(audit))
        .await
        .map_err(crate::v1::store_error)?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/x-tar".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"interaction-{}.tar\"", record.id),
            ),
        ],
        archive,
    )
        .into_response())
}

/// Pretty JSON of anything serialisable, as a file's bytes.
fn json_file<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A tar archive (ustar) of `entries` (name, bytes), each dated `at`.
fn tar_of(entries: &[(String, Vec<u8>)], at: Timestamp) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mtime = u64::try_from(at.unix_nanos() / 1_000_000_000).unwrap_or(0);
    for (name, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, bytes.as_slice())?;
    }
    b.into_inner()
}
