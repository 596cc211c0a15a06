//! The live configuration through the API: `GET /api/v1/config`, `PUT` and `DELETE
//! /api/v1/config/{kind}/{key}`, `POST /api/v1/config/reload`, `GET /api/v1/config/export`.
//! Supervisors read; administrators change. Every change is validated as strictly as the
//! files, audited and put into effect at once (see docs/live-changes.md).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use hotline_config::Role;
use hotline_switch::confdoc::{self, FieldError, Kind};
use hotline_switch::liveconfig::ChangeError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ApiError;
use crate::v1::{Principal, V1};

pub fn routes() -> Router<V1> {
    Router::new()
        .route("/api/v1/config", get(view))
        .route("/api/v1/config/reload", post(reload))
        .route("/api/v1/config/export", get(export))
        .route(
            "/api/v1/config/{kind}/{key}",
            put(put_item).delete(delete_item),
        )
}

/// A refusal naming the field: `400 {"error": {"code", "field", "message"}}`.
fn field_error(e: FieldError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": { "code": e.code, "field": e.field, "message": e.message } })),
    )
        .into_response()
}

fn change_error(e: ChangeError) -> Response {
    match e {
        ChangeError::Invalid(f) if f.code == "in_use" => (
            StatusCode::CONFLICT,
            Json(json!({ "error": { "code": "in_use", "field": f.field, "message": f.message } })),
        )
            .into_response(),
        ChangeError::Invalid(f) => field_error(f),
        ChangeError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()).into_response()
        }
        ChangeError::AgentBusy(_) => {
            ApiError::new(StatusCode::CONFLICT, "agent_busy", e.to_string()).into_response()
        }
        ChangeError::Store(s) => crate::v1::store_error(s).into_response(),
        ChangeError::Router(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "not_applied",
            e.to_string(),
        )
        .into_response(),
        ChangeError::NoFile => {
            ApiError::new(StatusCode::CONFLICT, "no_file", e.to_string()).into_response()
        }
    }
}

fn reader(v1: &V1, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let who = v1.auth.principal(headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the configuration is for supervisors and administrators",
        ));
    }
    Ok(who)
}

fn admin(v1: &V1, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let who = v1.auth.principal(headers)?;
    if who.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only administrators change the configuration (supervisors change agents' skills \
             with PUT /api/v1/agents/{ext}/skills)",
        ));
    }
    Ok(who)
}

fn kind_of(segment: &str) -> Result<Kind, ApiError> {
    Kind::from_segment(segment).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no such kind `{segment}`; kinds: {}",
                Kind::ALL
                    .iter()
                    .map(|k| k.segment())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn redacted(kind: Kind, v: Option<Value>) -> Value {
    match v {
        Some(mut v) => {
            confdoc::redact(kind, &mut v);
            v
        }
        None => Value::Null,
    }
}

/// `GET /api/v1/config`: the live configuration, secrets left out.
async fn view(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    reader(&v1, &headers)?;
    let docs = v1.centre.live_docs().await;
    let mut out = Map::new();
    for kind in Kind::ALL {
        let seg = kind.segment();
        let entry = match kind {
            Kind::Routing | Kind::Wellbeing => match redacted(kind, docs.item(kind, "-")) {
                Value::Null => Value::Object(Map::new()),
                v => v,
            },
            Kind::Flows | Kind::Schedules => Value::Object(Map::new()),
            _ => Value::Array(Vec::new()),
        };
        out.insert(seg.to_string(), entry);
    }
    for ((kind, key), mut item) in docs.items() {
        confdoc::redact(kind, &mut item);
        match out.get_mut(kind.segment()) {
            Some(Value::Array(list)) => list.push(item),
            Some(Value::Object(map)) if matches!(kind, Kind::Flows | Kind::Schedules) => {
                map.insert(key, item);
            }
            _ => {}
        }
    }
    out.insert(
        "restart_only".to_string(),
        json!(v1.centre.pending_restart().await),
    );
    Ok(Json(Value::Object(out)))
}

/// `PUT /api/v1/config/{kind}/{key}`: adds or replaces one item (the body: the item as the
/// file writes it, as JSON; secrets as `password`, or left out to keep the old ones).
async fn put_item(
    State(v1): State<V1>,
    Path((segment, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let who = match admin(&v1, &headers) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let kind = match kind_of(&segment) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let mut value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid JSON body: {e}"),
            )
            .into_response();
        }
    };
    let Some(obj) = value.as_object_mut() else {
        return field_error(FieldError {
            code: "bad_item",
            field: String::new(),
            message: format!("the body is one {} item, as a JSON object", kind.segment()),
        });
    };
    // A user's password is hashed here, on the bounded pool; the item keeps the hash only.
    if kind == Kind::Users
        && let Some(pw) = obj.remove("password")
    {
        let Some(pw) = pw.as_str().filter(|p| !p.is_empty()) else {
            return field_error(FieldError {
                code: "invalid",
                field: "password".to_string(),
                message: "a password is a non-empty string".to_string(),
            });
        };
        match v1.auth.hash_password(pw).await {
            Ok(h) => {
                obj.insert("password_hash".to_string(), Value::String(h));
            }
            Err(e) => return e.into_response(),
        }
    }
    match v1.change_item(who.user, kind, key, Some(value)).await {
        Ok(done) => Json(json!({
            "kind": kind.segment(),
            "key": done.key,
            "item": redacted(kind, done.item),
            "previous": redacted(kind, done.previous),
        }))
        .into_response(),
        Err(e) => change_error(e),
    }
}

/// `DELETE /api/v1/config/{kind}/{key}`: removes one item.
async fn delete_item(
    State(v1): State<V1>,
    Path((segment, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let who = match admin(&v1, &headers) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let kind = match kind_of(&segment) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    match v1.change_item(who.user, kind, key, None).await {
        Ok(done) => Json(json!({
            "kind": kind.segment(),
            "key": done.key,
            "previous": redacted(kind, done.previous),
        }))
        .into_response(),
        Err(e) => change_error(e),
    }
}

/// `POST /api/v1/config/reload`: reads the files again and applies what they changed.
async fn reload(State(v1): State<V1>, headers: HeaderMap) -> Response {
    let who = match admin(&v1, &headers) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    tracing::info!(user = %who.user, "configuration reload asked through the API");
    let done = v1.reload().await;
    match done {
        Ok(r) => {
            Json(json!({
                "applied": r.applied.iter().map(|(k, key)| json!({"kind": k.segment(), "key": key})).collect::<Vec<_>>(),
                "restart_only": r.restart_only,
            }))
            .into_response()
        }
        Err(e) => change_error(e),
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    doc: Option<String>,
}

/// `GET /api/v1/config/export[?doc=flows]`: the live configuration as TOML that
/// `hotline check-config` accepts (the centre file, or the flows file).
async fn export(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Response {
    let who = match admin(&v1, &headers) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let flows_doc = match q.doc.as_deref() {
        None | Some("centre") => false,
        Some("flows") => true,
        Some(other) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`doc` is `centre` or `flows`, not `{other}`"),
            )
            .into_response();
        }
    };
    // The export holds the digests and hashes a start needs: who took it is audited.
    let audit = hotline_model::AuditEvent::new(
        hotline_model::Timestamp::now(),
        &who.user,
        "config_export",
        q.doc.as_deref().unwrap_or("centre"),
    );
    if let Err(e) = v1
        .centre
        .store()
        .append_one(hotline_model::Event::Audit(audit))
        .await
    {
        return crate::v1::store_error(e).into_response();
    }
    let (centre, flows) = v1.centre.live_docs().await.to_toml();
    let text = if flows_doc { flows } else { centre };
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}
