//! Outbound campaigns and the do-not-call list.
//!
//! - `GET /api/v1/campaigns`, `POST /api/v1/campaigns` (settings as JSON; 201 with the
//!   campaign, a draft), `GET /api/v1/campaigns/{id}`;
//! - `POST /api/v1/campaigns/{id}/contacts`: a CSV file (`text/csv`, a header line naming
//!   `phone` and optionally `id`, `name`, `time_zone`) or JSON `{"contacts": [...]}`; good
//!   lines are imported, bad ones reported by line number;
//! - `POST /api/v1/campaigns/{id}/state` `{"action": "start" | "pause" | "resume" | "finish"}`;
//! - `GET /api/v1/campaigns/{id}/results` (JSON) and `/results.csv`;
//! - `POST /api/v1/campaigns/{id}/previews/{contact}` `{"dial": bool}`: an agent's choice
//!   on a contact offered in preview;
//! - `GET /api/v1/dnc`, `POST /api/v1/dnc` (`{"numbers": [...]}` or a CSV file with a `phone`
//!   column, or one number a line), `DELETE /api/v1/dnc/{number}`.
//!
//! Campaigns are for supervisors and administrators; an agent may only answer a preview.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use hotline_config::Role;
use hotline_model::{CampaignContact, Timestamp};
use hotline_switch::campaign::{CampaignError, DiallerCmd};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::v1::{Principal, V1};

/// Most lines one import may carry.
const MAX_IMPORT_LINES: usize = 100_000;

pub fn routes() -> axum::Router<V1> {
    axum::Router::new()
        .route("/api/v1/campaigns", get(list).post(create))
        .route("/api/v1/campaigns/{id}", get(one))
        .route("/api/v1/campaigns/{id}/contacts", post(contacts))
        .route(
            "/api/v1/campaigns/{id}/contacts/from-interactions",
            post(from_interactions),
        )
        .route("/api/v1/campaigns/{id}/state", post(state))
        .route("/api/v1/campaigns/{id}/results", get(results))
        .route("/api/v1/campaigns/{id}/results.csv", get(results_csv))
        .route("/api/v1/campaigns/{id}/previews/{contact}", post(preview))
        .route("/api/v1/dnc", get(dnc_list).post(dnc_add))
        .route("/api/v1/dnc/{number}", delete(dnc_remove))
}

fn api_error(e: CampaignError) -> ApiError {
    match e {
        CampaignError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
        CampaignError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_campaign", m),
        CampaignError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        CampaignError::Unavailable(m) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m).retry_after(1)
        }
    }
}

/// Asks the dialler something it may refuse.
async fn ask<T>(
    v1: &V1,
    make: impl FnOnce(hotline_switch::campaign::Reply<T>) -> DiallerCmd,
) -> Result<T, ApiError> {
    v1.centre
        .dialler()
        .ask(make)
        .await
        .and_then(|r| r)
        .map_err(api_error)
}

fn supervisor(v1: &V1, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let who = v1.auth.principal(headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "campaigns are run by supervisors",
        ));
    }
    Ok(who)
}

async fn list(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let mut all = v1
        .centre
        .dialler()
        .ask(DiallerCmd::List)
        .await
        .map_err(api_error)?;
    // Agents see the running preview campaigns only: the contacts they may be offered.
    if who.role == Role::Agent {
        all.retain(|c| {
            c.state == hotline_dialer::CampaignState::Running && c.spec["mode"] == "preview"
        });
    }
    Ok(Json(json!({ "campaigns": all })))
}

async fn create(
    State(v1): State<V1>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let v: Value = crate::v1::parse_json(&body)?;
    let spec = v1.centre.campaign_spec(&v).map_err(api_error)?;
    let view = ask(&v1, |reply| DiallerCmd::Create {
        spec: Box::new(spec),
        by: who.user.clone(),
        reply,
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn one(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    supervisor(&v1, &headers)?;
    let view = ask(&v1, |reply| DiallerCmd::Get {
        campaign: id,
        reply,
    })
    .await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactsBody {
    contacts: Vec<ContactBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    #[serde(default)]
    id: Option<u64>,
    phone: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

/// A number as people write it (`+44 20 7946-0000`, `(+44) 20...`) in E.164.
fn normalise(phone: &str) -> String {
    phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect()
}

/// One CSV field list per line, with quotes (`"a, b"`, `""` for a quote).
pub(crate) fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) | (';', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

struct LineError {
    line: usize,
    message: String,
}

/// Reads an import: the contacts of good lines and an error for each bad one.
/// Contacts by line number.
type Lines = Vec<(usize, ContactBody)>;

fn read_csv(text: &str) -> Result<(Lines, Vec<LineError>), ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad_csv", m.to_string());
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(bad(
            "the file is empty: expected a header line naming `phone`",
        ));
    };
    let names: Vec<String> = csv_fields(header.trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let col = |n: &str| names.iter().position(|x| x == n);
    let Some(phone_col) = col("phone") else {
        return Err(bad("the header line names no `phone` column"));
    };
    let (id_col, name_col, tz_col) = (col("id"), col("name"), col("time_zone"));
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if ok.len() + errors.len() >= MAX_IMPORT_LINES {
            return Err(bad(&format!(
                "more than {MAX_IMPORT_LINES} lines: split the file"
            )));
        }
        let f = csv_fields(line);
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).filter(|v| !v.is_empty()).cloned();
        let id = match get(id_col).map(|v| v.parse::<u64>()) {
            None => None,
            Some(Ok(0)) | Some(Err(_)) => {
                errors.push(LineError {
                    line: n,
                    message: "`id` must be a whole number from 1".into(),
                });
                continue;
            }
            Some(Ok(v)) => Some(v),
        };
        let Some(phone) = get(Some(phone_col)) else {
            errors.push(LineError {
                line: n,
                message: "no phone number".into(),
            });
            continue;
        };
        ok.push((
            n,
            ContactBody {
                id,
                phone,
                name: get(name_col),
                time_zone: get(tz_col),
            },
        ));
    }
    Ok((ok, errors))
}

/// Checks each contact; numbers the ones without an id after `highest`.
fn check_contacts(
    lines: Lines,
    errors: &mut Vec<LineError>,
    taken: &std::collections::HashSet<u64>,
) -> Vec<CampaignContact> {
    let mut next = taken.iter().max().map_or(1, |m| m.saturating_add(1));
    let mut seen = taken.clone();
    let mut out = Vec::new();
    for (line, c) in lines {
        let phone = normalise(&c.phone);
        if let Err(e) = hotline_dialer::check_phone(&phone) {
            errors.push(LineError { line, message: e });
            continue;
        }
        if let Some(Err(message)) = c.time_zone.as_deref().map(hotline_dialer::check_time_zone) {
            errors.push(LineError { line, message });
            continue;
        }
        if c.id == Some(0) {
            errors.push(LineError {
                line,
                message: "`id` must be a whole number from 1".into(),
            });
            continue;
        }
        let id = c.id.unwrap_or_else(|| {
            while seen.contains(&next) && next < u64::MAX {
                next += 1;
            }
            next
        });
        if !seen.insert(id) {
            errors.push(LineError {
                line,
                message: format!("contact id {id} is taken (in the campaign or the file)"),
            });
            continue;
        }
        out.push(CampaignContact {
            id,
            phone,
            name: c.name.filter(|n| !n.is_empty()),
            time_zone: c.time_zone,
        });
    }
    out
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv") || v.starts_with("text/plain"))
}

async fn contacts(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let (lines, mut errors) = if is_csv(&headers) {
        let text = std::str::from_utf8(&body).map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_csv", "the file is not UTF-8")
        })?;
        read_csv(text)?
    } else {
        let b: ContactsBody = crate::v1::parse_json(&body)?;
        (
            b.contacts
                .into_iter()
                .enumerate()
                .map(|(i, c)| (i + 1, c))
                .collect(),
            Vec::new(),
        )
    };
    // Ids of the campaign's contacts so far: new ones without an id follow them.
    let known = ask(&v1, |reply| DiallerCmd::Results {
        campaign: id.clone(),
        reply,
    })
    .await?;
    let taken: std::collections::HashSet<u64> = known.iter().map(|c| c.contact).collect();
    let good = check_contacts(lines, &mut errors, &taken);
    let imported = if good.is_empty() {
        0
    } else {
        ask(&v1, |reply| DiallerCmd::AddContacts {
            campaign: id.clone(),
            contacts: good,
            by: who.user.clone(),
            reply,
        })
        .await?
    };
    errors.sort_by_key(|e| e.line);
    Ok(Json(json!({
        "imported": imported,
        "rejected": errors.len(),
        "errors": errors.iter().map(|e| json!({"line": e.line, "message": e.message})).collect::<Vec<_>>(),
    })))
}

/// Which interactions give a campaign its contacts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromInteractions {
    /// Started at or after (RFC 3339).
    since: String,
    /// Started before (RFC 3339).
    until: String,
    /// The disposition the agent gave, e.g. `callback` (any case).
    #[serde(default)]
    disposition: Option<String>,
    /// `resolved` or `unresolved`: complaints (queued to `complaints` or a disposition
    /// starting with `complaint`) whose disposition says they were (not) resolved.
    #[serde(default)]
    complaints: Option<String>,
    /// Only interactions of this queue.
    #[serde(default)]
    queue: Option<String>,
    /// The country code for numbers written without one (`86`: `13800138000` is
    /// `+8613800138000`, a leading trunk `0` dropped). Without it such numbers are refused.
    #[serde(default)]
    country_code: Option<String>,
}

/// A caller's number in E.164, if it can be told: `+` kept, `00` (the international
/// prefix) read as `+`, else `country_code` put in front of the national number (its trunk
/// `0` dropped).
fn e164_of(number: &str, country_code: Option<&str>) -> Option<String> {
    let n = hotline_model::normalize_phone(number)?;
    let n = if n.starts_with('+') {
        n
    } else if let Some(rest) = n.strip_prefix("00") {
        format!("+{rest}")
    } else {
        let cc = country_code?;
        format!("+{cc}{}", n.strip_prefix('0').unwrap_or(&n))
    };
    hotline_dialer::check_phone(&n).ok().map(|_| n)
}

/// `POST /api/v1/campaigns/{id}/contacts/from-interactions`: the callers of the centre's
/// own interactions become contacts, e.g. every complaint resolved yesterday, or every
/// caller whose disposition was `callback`. One contact a number; numbers that cannot be
/// told in E.164 are reported by interaction.
async fn from_interactions(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let b: FromInteractions = crate::v1::parse_json(&body)?;
    let when = |what: &str, s: &str| {
        Timestamp::parse_rfc3339(s).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`{what}`: {e}"),
            )
        })
    };
    let (since, until) = (when("since", &b.since)?, when("until", &b.until)?);
    let resolved = match b.complaints.as_deref() {
        None => None,
        Some("resolved") => Some(true),
        Some("unresolved") => Some(false),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`complaints`: `{other}` is not resolved or unresolved"),
            ));
        }
    };
    if b.country_code.as_deref().is_some_and(|c| {
        c.is_empty() || c.len() > 3 || !c.bytes().all(|x| x.is_ascii_digit()) || c.starts_with('0')
    }) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "`country_code`: one to three digits, not starting with 0",
        ));
    }
    let store = v1.centre.store();
    let found = store
        .interactions_between(since, until)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        })?;
    let known = ask(&v1, |reply| DiallerCmd::Results {
        campaign: id.clone(),
        reply,
    })
    .await?;
    let mut taken: std::collections::HashSet<u64> = known.iter().map(|c| c.contact).collect();
    let mut numbers: std::collections::HashSet<String> =
        known.iter().map(|c| c.phone.clone()).collect();
    let mut next = taken.iter().max().map_or(1, |m| m.saturating_add(1));
    let mut contacts = Vec::new();
    let mut errors = Vec::new();
    for r in found {
        let queue = r.queue.as_ref().map(|q| q.as_str());
        let disposition = r.disposition.as_deref();
        if b.queue.as_deref().is_some_and(|q| queue != Some(q)) {
            continue;
        }
        if b.disposition
            .as_deref()
            .is_some_and(|d| !disposition.is_some_and(|x| x.trim().eq_ignore_ascii_case(d.trim())))
        {
            continue;
        }
        if let Some(want) = resolved {
            let complaint = hotline_model::is_complaint(queue, disposition);
            let done = disposition.is_some_and(hotline_model::is_resolved_disposition);
            if !complaint || done != want {
                continue;
            }
        }
        // A campaign's own calls are not callers.
        if r.trunk
            .as_deref()
            .is_some_and(|t| t.starts_with("campaign:"))
        {
            continue;
        }
        let from = r.from.clone().unwrap_or_default();
        let Some(phone) = e164_of(&from, b.country_code.as_deref()) else {
            errors.push(json!({
                "interaction": r.id.to_string(),
                "message": format!("`{from}` is not a number in E.164 (give `country_code`)"),
            }));
            continue;
        };
        if !numbers.insert(phone.clone()) {
            continue;
        }
        let name = match &r.customer {
            Some(c) => store.customer(c).await.ok().flatten().map(|c| c.name),
            None => None,
        };
        while taken.contains(&next) {
            next = next.saturating_add(1);
        }
        taken.insert(next);
        contacts.push(CampaignContact {
            id: next,
            phone,
            name,
            time_zone: None,
        });
    }
    let imported = if contacts.is_empty() {
        0
    } else {
        ask(&v1, |reply| DiallerCmd::AddContacts {
            campaign: id.clone(),
            contacts,
            by: who.user.clone(),
            reply,
        })
        .await?
    };
    Ok(Json(json!({
        "imported": imported,
        "rejected": errors.len(),
        "errors": errors,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    action: String,
}

async fn state(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let b: StateBody = crate::v1::parse_json(&body)?;
    let control = match b.action.as_str() {
        "start" => hotline_dialer::Control::Start,
        "pause" => hotline_dialer::Control::Pause,
        "resume" => hotline_dialer::Control::Resume,
        "finish" => hotline_dialer::Control::Finish,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`action`: `{other}` is not start, pause, resume or finish"),
            ));
        }
    };
    let view = ask(&v1, |reply| DiallerCmd::Control {
        campaign: id,
        control,
        by: who.user.clone(),
        reply,
    })
    .await?;
    Ok(Json(json!(view)))
}

async fn results(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    supervisor(&v1, &headers)?;
    let r = ask(&v1, |reply| DiallerCmd::Results {
        campaign: id,
        reply,
    })
    .await?;
    Ok(Json(json!({ "contacts": r })))
}

pub(crate) fn csv_cell(s: &str) -> String {
    // A cell a spreadsheet would run as a formula is quoted as text (a phone number in E.164
    // is the one `+` that is not a formula).
    let formula =
        s.starts_with(['=', '+', '-', '@', '\t', '\r']) && hotline_dialer::check_phone(s).is_err();
    let s = if formula {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

async fn results_csv(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    supervisor(&v1, &headers)?;
    let r = ask(&v1, |reply| DiallerCmd::Results {
        campaign: id.clone(),
        reply,
    })
    .await?;
    let mut out = String::from("contact,phone,name,attempts,result,outcomes,interactions\r\n");
    for c in r {
        let outcomes = c.outcomes.join(" ");
        let interactions = c
            .interactions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            c.contact,
            csv_cell(&c.phone),
            csv_cell(c.name.as_deref().unwrap_or("")),
            c.attempts,
            csv_cell(&c.result),
            csv_cell(&outcomes),
            interactions
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"campaign-{id}.csv\""),
            ),
        ],
        out,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    dial: bool,
}

async fn preview(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path((id, contact)): Path<(String, u64)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent && who.agent.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an agent or a supervisor chooses for a preview",
        ));
    }
    let b: PreviewBody = crate::v1::parse_json(&body)?;
    ask(&v1, |reply| DiallerCmd::Preview {
        campaign: id,
        contact,
        dial: b.dial,
        by: who.user.clone(),
        agent: who.agent.clone(),
        reply,
    })
    .await?;
    Ok(Json(json!({ "contact": contact, "dial": b.dial })))
}

async fn dnc_list(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    supervisor(&v1, &headers)?;
    let numbers = v1
        .centre
        .dialler()
        .ask(DiallerCmd::DncList)
        .await
        .map_err(api_error)?;
    Ok(Json(json!({ "numbers": numbers })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DncBody {
    numbers: Vec<String>,
}

async fn dnc_add(
    State(v1): State<V1>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let (numbers, source) = if is_csv(&headers) {
        let text = std::str::from_utf8(&body).map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_csv", "the file is not UTF-8")
        })?;
        let mut numbers = Vec::new();
        let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
        // A header line naming `phone` picks the column; else one number a line.
        let first = lines
            .peek()
            .map(|l| csv_fields(l.trim_start_matches('\u{feff}')))
            .unwrap_or_default();
        let col = first.iter().position(|n| n.eq_ignore_ascii_case("phone"));
        if col.is_some() {
            lines.next();
        }
        for l in lines {
            let f = csv_fields(l);
            if let Some(v) = f.get(col.unwrap_or(0)) {
                numbers.push(v.clone());
            }
        }
        (numbers, "import")
    } else {
        let b: DncBody = crate::v1::parse_json(&body)?;
        (b.numbers, "api")
    };
    let numbers: Vec<String> = numbers.iter().map(|n| normalise(n)).collect();
    let added = ask(&v1, |reply| DiallerCmd::DncAdd {
        phones: numbers,
        source: source.into(),
        by: who.user.clone(),
        reply,
    })
    .await?;
    Ok(Json(json!({ "added": added })))
}

async fn dnc_remove(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let removed = ask(&v1, |reply| DiallerCmd::DncRemove {
        phone: normalise(&number),
        by: who.user.clone(),
        reply,
    })
    .await?;
    if !removed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{number} is not on the do-not-call list"),
        ));
    }
    Ok(Json(json!({ "removed": number })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_are_read_with_quotes_and_errors_by_line() {
        let text = "id,phone,name,time_zone\n\
                    1,+44 20 7946 0001,\"Smith, Ann\",Europe/London\n\
                    x,+442079460002,Bob,\n\
                    \n\
                    3,,Nobody,\n\
                    ,+14155550100,\"Say \"\"hi\"\"\",America/Los_Angeles\n\
                    5,+442079460009,Taken,\n";
        let (ok, mut errors) = read_csv(text).expect("readable");
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].line, errors[1].line), (3, 5));
        // Ids 5 to 10 are the campaign's already.
        let contacts = check_contacts(ok, &mut errors, &(5..=10).collect());
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[2].line, 7);
        assert!(errors[2].message.contains("taken"), "{}", errors[2].message);
        assert_eq!(contacts.len(), 2);
        assert_eq!(contacts[0].phone, "+442079460001");
        assert_eq!(contacts[0].name.as_deref(), Some("Smith, Ann"));
        assert_eq!(contacts[1].id, 11);
        assert_eq!(contacts[1].name.as_deref(), Some("Say \"hi\""));
    }

    #[test]
    fn callers_numbers_are_told_in_e164() {
        assert_eq!(
            e164_of("+447700900001", None).as_deref(),
            Some("+447700900001")
        );
        assert_eq!(
            e164_of("sip:+44 7700 900001@h", None).as_deref(),
            Some("+447700900001")
        );
        assert_eq!(
            e164_of("13800138000", Some("86")).as_deref(),
            Some("+8613800138000")
        );
        assert_eq!(
            e164_of("02079460000", Some("44")).as_deref(),
            Some("+442079460000")
        );
        assert_eq!(
            e164_of("00447700900001", None).as_deref(),
            Some("+447700900001")
        );
        assert_eq!(e164_of("13800138000", None), None);
        assert_eq!(e164_of("anonymous", Some("86")), None);
    }

    #[test]
    fn results_cells_that_a_spreadsheet_would_run_are_text() {
        assert_eq!(csv_cell("+447700900001"), "+447700900001");
        assert_eq!(csv_cell("+HYPERLINK(\"x\")"), "\"'+HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("Smith, Ann"), "\"Smith, Ann\"");
    }

    #[test]
    fn bad_numbers_and_zones_are_refused_by_line() {
        let text = "phone,time_zone\n12345,\n+442079460003,Mars/Olympus\n+442079460004,\n";
        let (ok, mut errors) = read_csv(text).expect("readable");
        let contacts = check_contacts(ok, &mut errors, &Default::default());
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].id, 1);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3]);
        assert!(read_csv("name\nx\n").is_err());
        assert!(read_csv("").is_err());
    }
}
