//! Live changes of an agent's skills: `PUT /api/v1/agents/{ext}/skills`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hotline_config::Role;
use hotline_switch::live::{self, ChangeError};
use serde_json::{Value, json};

use crate::ApiError;
use crate::v1::V1;

/// Why a change is refused.
#[derive(Debug)]
enum Refusal {
    /// A refused body: `400` with a stable code and the field it is about, e.g.
    /// `{"error": {"code": "bad_level", "field": "skills.accounts", "message": "..."}}`.
    Field {
        code: &'static str,
        field: String,
        message: String,
    },
    /// Any other refusal.
    Api(ApiError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Field {
                code,
                field,
                message,
            } => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": { "code": code, "field": field, "message": message } })),
            )
                .into_response(),
            Refusal::Api(e) => e.into_response(),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

fn refused(code: &'static str, field: &str, message: impl std::fmt::Display) -> Refusal {
    Refusal::Field {
        code,
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// The body `{"skills": {"accounts": 7, "general": 5}}`, checked like the configuration
/// file's `skills` of an agent.
fn parse(body: &Bytes) -> Result<BTreeMap<String, u8>, Refusal> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid JSON body: {e}"),
        )
    })?;
    let Some(obj) = v.as_object() else {
        return Err(refused(
            "bad_body",
            "",
            "the body is an object: {\"skills\": {\"accounts\": 7}}",
        ));
    };
    if let Some(other) = obj.keys().find(|k| *k != "skills") {
        return Err(refused(
            "unknown_field",
            other,
            format!("unknown field `{other}`; the body holds `skills` only"),
        ));
    }
    let Some(skills) = obj.get("skills") else {
        return Err(refused(
            "missing_field",
            "skills",
            "give `skills`: skill name → level 1..=10",
        ));
    };
    let Some(skills) = skills.as_object() else {
        return Err(refused(
            "bad_skills",
            "skills",
            "`skills` is an object: skill name → level 1..=10",
        ));
    };
    if skills.len() > live::MAX_AGENT_SKILLS {
        return Err(refused(
            "too_many_skills",
            "skills",
            format!(
                "an agent holds at most {} skills, not {}",
                live::MAX_AGENT_SKILLS,
                skills.len()
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, level) in skills {
        let field = format!("skills.{name}");
        if let Some(why) = live::skill_name_problem(name) {
            return Err(refused("bad_skill_name", &field, why));
        }
        let Some(n) = level.as_i64() else {
            return Err(refused(
                "bad_level",
                &field,
                "a skill level is a whole number from 1 to 10",
            ));
        };
        if let Some(why) = live::level_problem(n) {
            return Err(refused("bad_level", &field, why));
        }
        let Ok(n) = u8::try_from(n) else {
            return Err(refused(
                "bad_level",
                &field,
                "skill levels run from 1 to 10",
            ));
        };
        out.insert(name.clone(), n);
    }
    Ok(out)
}

/// `PUT /api/v1/agents/{ext}/skills` `{"skills": {"accounts": 7, "general": 5}}`
/// (supervisors and administrators): replaces the agent's skills and levels. The change is
/// written to the audit log (`agent_skills`, with who and the skills before and after)
/// before it takes effect; the next routing decision uses it, and it survives a restart.
pub(crate) async fn put_skills(
    State(v1): State<V1>,
    Path(ext): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match change(v1, ext, headers, body).await {
        Ok(answer) => answer.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn change(
    v1: V1,
    ext: String,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only supervisors and administrators change agents' skills",
        )
        .into());
    }
    let skills = parse(&body)?;
    match v1.centre.change_skills(&who.user, &ext, skills).await {
        Ok(change) => Ok(Json(json!({
            "agent": ext,
            "skills": change.new,
            "previous": change.old,
        }))),
        Err(ChangeError::UnknownAgent) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_agent",
            format!("no agent has extension {ext}"),
        )
        .into()),
        Err(ChangeError::Store(e)) => Err(crate::v1::store_error(e).into()),
        Err(ChangeError::Invalid(e)) => Err(refused("invalid", "skills", e)),
        Err(e @ ChangeError::Router(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "not_applied",
            e.to_string(),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn error_of(r: Refusal) -> (StatusCode, Value) {
        let r = r.into_response();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn bodies_are_checked_like_the_file_and_errors_name_the_field() {
        let ok = parse(&Bytes::from(r#"{"skills": {"accounts": 7, "普通话": 10}}"#)).unwrap();
        assert_eq!(ok.get("accounts"), Some(&7));
        assert_eq!(ok.get("普通话"), Some(&10));
        assert!(parse(&Bytes::from(r#"{"skills": {}}"#)).unwrap().is_empty());
        for (body, code, field) in [
            (
                r#"{"skills": {"accounts": 11}}"#,
                "bad_level",
                "skills.accounts",
            ),
            (
                r#"{"skills": {"accounts": 0}}"#,
                "bad_level",
                "skills.accounts",
            ),
            (
                r#"{"skills": {"accounts": 2.5}}"#,
                "bad_level",
                "skills.accounts",
            ),
            (
                r#"{"skills": {"accounts": "7"}}"#,
                "bad_level",
                "skills.accounts",
            ),
            (
                r#"{"skills": {"accounts": -3}}"#,
                "bad_level",
                "skills.accounts",
            ),
            (r#"{"skills": {"*": 3}}"#, "bad_skill_name", "skills.*"),
            (r#"{"skills": {"": 3}}"#, "bad_skill_name", "skills."),
            (r#"{"skills": [1]}"#, "bad_skills", "skills"),
            (r#"{}"#, "missing_field", "skills"),
            (
                r#"{"skills": {}, "senior": true}"#,
                "unknown_field",
                "senior",
            ),
            (r#"[]"#, "bad_body", ""),
        ] {
            let (status, v) = error_of(parse(&Bytes::from(body)).unwrap_err()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(v["error"]["code"], code, "{body}: {v}");
            assert_eq!(v["error"]["field"], field, "{body}: {v}");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        let many: serde_json::Map<String, Value> = (0..=live::MAX_AGENT_SKILLS)
            .map(|i| (format!("s{i}"), json!(1)))
            .collect();
        let body = json!({ "skills": many }).to_string();
        let (_, v) = error_of(parse(&Bytes::from(body)).unwrap_err()).await;
        assert_eq!(v["error"]["code"], "too_many_skills");
        let (status, v) = error_of(parse(&Bytes::from("{not json")).unwrap_err()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request"))
        );
    }
}
