//! Workforce: the published schedule, and each agent's adherence to it.
//!
//! - `PUT /api/v1/workforce/schedule/{week}`: publishes the week starting Monday `week`
//!   (`YYYY-MM-DD`): JSON `{"agents": {"1001": [{"start", "end", "activity"}, ...]}}` or a CSV
//!   file (`text/csv`, header `agent,start,end,activity`). The week's plan is replaced: an
//!   agent planned that week before and absent now has nothing planned. Supervisors and
//!   administrators.
//! - `GET /api/v1/workforce/schedule?from=&to=[&agent=]`: the planned segments overlapping
//!   `[from, to)` (RFC 3339), by agent and time; agents see their own.
//!   `GET /api/v1/workforce/schedule.csv?from=&to=`: the same as CSV, for a spreadsheet.
//! - `GET /api/v1/workforce/adherence?from=&to=[&grace_seconds=]`: per agent, adherence and
//!   conformance over `[from, min(to, now))`, the stretches out of adherence longer than the
//!   grace (default 180 s), and the standing now.
//!
//! Each publication is one `schedule_published` event per agent in the log (stream
//! `workforce`); the plan is built from those events and caught up on each request with
//! what was appended since, so a node that takes over serves the same plan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use hotline_config::Role;
use hotline_model::{
    AgentState, MAX_SEGMENTS_PER_EVENT, PlannedSegment, Seq, SpecialDayEntry, Timestamp,
    WorkforceChange, WorkforceEvent,
};
use hotline_workforce::adherence::{self, Actual, StateChange};
use hotline_workforce::{Activity, Segment};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::campaigns::{csv_cell, csv_fields};
use crate::v1::{Principal, V1};

/// The most a query window may span.
const MAX_WINDOW_DAYS: i64 = 62;
/// How far before a window adherence looks for each agent's state when it opened.
const STATE_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(36 * 3600);
/// The default grace before a mismatch counts as an exception or flags an agent now.
const DEFAULT_GRACE_SECONDS: i64 = 180;

pub fn routes() -> axum::Router<V1> {
    axum::Router::new()
        .route("/api/v1/workforce/schedule", get(schedule))
        .route("/api/v1/workforce/schedule.csv", get(schedule_csv))
        .route("/api/v1/workforce/schedule/{week}", put(publish))
        .route("/api/v1/workforce/adherence", get(adherence_view))
        .route("/api/v1/workforce/adherence.csv", get(adherence_csv))
        .route("/api/v1/workforce/plan", axum::routing::post(make_plan))
        .route(
            "/api/v1/workforce/history",
            axum::routing::post(import_history),
        )
        .route(
            "/api/v1/workforce/special-days",
            get(special_days).put(set_special_days),
        )
        .route(
            "/api/v1/workforce/requests",
            get(list_requests).post(make_request),
        )
        .route(
            "/api/v1/workforce/requests/{id}/decision",
            axum::routing::post(decide_request),
        )
        .route("/api/v1/workforce/preferences", get(list_preferences))
        .route(
            "/api/v1/workforce/preferences/{agent}",
            put(set_preferences),
        )
}

/// The published plan: each (week, agent)'s segments, as of log position `seq`.
/// An agent's request for time off or a swap, and what became of it.
#[derive(Clone, Debug, serde::Serialize)]
struct Request {
    id: String,
    agent: String,
    kind: String,
    from: Timestamp,
    to: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    with_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    made_at: Timestamp,
    made_by: Option<String>,
    /// `pending`, `approved` or `denied`.
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision_note: Option<String>,
}

#[derive(Default, Clone)]
struct PlanState {
    seq: Seq,
    weeks: BTreeMap<(String, String), Vec<PlannedSegment>>,
    /// Imported history by (queue, channel, week).
    history: BTreeMap<(String, String, String), Vec<f64>>,
    special_days: Vec<SpecialDayEntry>,
    requests: BTreeMap<String, Request>,
    /// Start-time wishes agents set themselves: agent → (prefer, avoid).
    preferences: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

/// The plan, built from the log and kept up with it.
pub struct Plans {
    state: tokio::sync::Mutex<Arc<PlanState>>,
    /// Held from reading the plan to appending a change made from it (publishing, deciding a
    /// request), so that two changes at once do not both build on the same old plan.
    changing: tokio::sync::Mutex<()>,
    /// One plan computed at a time: a week's solve takes a core for up to seconds.
    planning: tokio::sync::Semaphore,
}

impl Plans {
    pub fn new() -> Arc<Plans> {
        Arc::new(Plans {
            state: tokio::sync::Mutex::default(),
            changing: tokio::sync::Mutex::new(()),
            planning: tokio::sync::Semaphore::new(1),
        })
    }

    /// The plan with every workforce event in the log applied.
    async fn current(&self, v1: &V1) -> Result<Arc<PlanState>, ApiError> {
        let mut guard = self.state.lock().await;
        let events = v1
            .centre
            .store()
            .workforce_events(guard.seq)
            .await
            .map_err(store_error)?;
        if events.is_empty() {
            return Ok(guard.clone());
        }
        let mut next = PlanState::clone(&guard);
        for e in events {
            next.seq = e.seq;
            match e.change {
                WorkforceChange::SchedulePublished {
                    week,
                    agent,
                    segments,
                } => {
                    if segments.is_empty() {
                        next.weeks.remove(&(week, agent));
                    } else {
                        next.weeks.insert((week, agent), segments);
                    }
                }
                WorkforceChange::HistoryImported {
                    queue,
                    channel,
                    week,
                    offered,
                } => {
                    next.history.insert((queue, channel, week), offered);
                }
                WorkforceChange::SpecialDays { days } => next.special_days = days,
                WorkforceChange::RequestMade {
                    request,
                    agent,
                    kind,
                    from,
                    to,
                    with_agent,
                    note,
                } => {
                    next.requests.insert(
                        request.clone(),
                        Request {
                            id: request,
                            agent,
                            kind,
                            from,
                            to,
                            with_agent,
                            note,
                            made_at: e.at,
                            made_by: e.by.clone(),
                            state: "pending",
                            decided_by: None,
                            decision_note: None,
                        },
                    );
                }
                WorkforceChange::RequestDecided {
                    request,
                    approved,
                    note,
                } => {
                    if let Some(r) = next.requests.get_mut(&request) {
                        r.state = if approved { "approved" } else { "denied" };
                        r.decided_by = e.by.clone();
                        r.decision_note = note;
                    }
                }
                WorkforceChange::PreferencesSet {
                    agent,
                    prefer_starts,
                    avoid_starts,
                } => {
                    next.preferences
                        .insert(agent, (prefer_starts, avoid_starts));
                }
                WorkforceChange::Unknown => {}
            }
        }
        *guard = Arc::new(next);
        Ok(guard.clone())
    }
}

/// Appends one change made by `user`; returns once it is durable.
async fn append_change(v1: &V1, user: &str, change: WorkforceChange) -> Result<(), ApiError> {
    let mut e = WorkforceEvent::new(Timestamp::now(), change);
    e.by = Some(user.to_string());
    v1.centre
        .store()
        .append(vec![hotline_model::Event::Workforce(e)])
        .await
        .map_err(store_error)?;
    Ok(())
}

fn store_error(e: hotline_store::Error) -> ApiError {
    if let hotline_store::Error::Invalid(why) = &e {
        return bad("invalid", why.to_string());
    }
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        format!("the store: {e}"),
    )
    .retry_after(1)
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message.into())
}

fn supervisor(v1: &V1, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let who = v1.auth.principal(headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "schedules are published by supervisors",
        ));
    }
    Ok(who)
}

/// Unix seconds of `YYYY-MM-DD` 00:00 UTC, if `week` is such a date and a Monday.
fn monday(week: &str) -> Result<i64, ApiError> {
    Ok(monday_day(week)? * 86_400)
}

fn parse_time(what: &str, s: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(s).map_err(|_| format!("`{what}` is not an RFC 3339 time: {s:?}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    start: String,
    end: String,
    activity: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    agents: BTreeMap<String, Vec<SegmentBody>>,
}

/// Checks one agent's segments for the week starting at `week_start` (Unix seconds, UTC
/// midnight; the centre's Monday may begin up to 14 hours either side of it). Segments may
/// run into the next Monday (a night shift that starts on Sunday).
fn check_segments(week_start: i64, segs: &mut [PlannedSegment]) -> Result<(), String> {
    segs.sort_by_key(|s| s.start);
    // A Sunday-night shift ends on the next Monday morning.
    let (lo, hi) = (week_start - 14 * 3600, week_start + 8 * 86_400 + 14 * 3600);
    let mut last_end: Option<Timestamp> = None;
    for s in segs.iter() {
        let (a, b) = (
            s.start.unix_nanos().div_euclid(1_000_000_000),
            s.end.unix_nanos().div_euclid(1_000_000_000),
        );
        if s.start.unix_nanos() % 60_000_000_000 != 0 || s.end.unix_nanos() % 60_000_000_000 != 0 {
            return Err(format!(
                "{} to {}: plans are in whole minutes",
                s.start, s.end
            ));
        }
        if b <= a {
            return Err(format!("{} to {}: ends before it starts", s.start, s.end));
        }
        if a < lo || b > hi {
            return Err(format!("{} to {}: outside the week", s.start, s.end));
        }
        if Activity::from_name(&s.activity).is_none() {
            return Err(format!(
                "activity {:?}: one of work, break, lunch, offline",
                s.activity
            ));
        }
        if let Some(e) = last_end
            && s.start < e
        {
            return Err(format!("{} overlaps the segment before it", s.start));
        }
        last_end = Some(s.end);
    }
    if segs.len() > MAX_SEGMENTS_PER_EVENT {
        return Err(format!(
            "more than {MAX_SEGMENTS_PER_EVENT} segments in a week"
        ));
    }
    Ok(())
}

/// Reads a CSV schedule: `agent,start,end,activity` with a header line.
fn read_csv(text: &str) -> Result<BTreeMap<String, Vec<PlannedSegment>>, ApiError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(bad(
            "bad_csv",
            "the file is empty: expected a header line `agent,start,end,activity`",
        ));
    };
    let names: Vec<String> = csv_fields(header.trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    let col = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| bad("bad_csv", format!("line 1: no `{name}` column")))
    };
    let (ca, cs, ce, cv) = (col("agent")?, col("start")?, col("end")?, col("activity")?);
    let mut out: BTreeMap<String, Vec<PlannedSegment>> = BTreeMap::new();
    for (i, line) in lines {
        let f = csv_fields(line);
        let get = |c: usize, name: &str| {
            f.get(c)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| bad("bad_csv", format!("line {}: `{name}` is empty", i + 1)))
        };
        let at = |c: usize, name: &str| -> Result<Timestamp, ApiError> {
            parse_time(name, &get(c, name)?)
                .map_err(|m| bad("bad_csv", format!("line {}: {m}", i + 1)))
        };
        out.entry(get(ca, "agent")?)
            .or_default()
            .push(PlannedSegment {
                start: at(cs, "start")?,
                end: at(ce, "end")?,
                activity: get(cv, "activity")?.to_ascii_lowercase(),
            });
    }
    Ok(out)
}

/// `PUT /api/v1/workforce/schedule/{week}`.
async fn publish(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(week): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let week_start = monday(&week)?;
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let agents: BTreeMap<String, Vec<PlannedSegment>> = if csv {
        let text =
            std::str::from_utf8(&body).map_err(|_| bad("bad_csv", "the file is not UTF-8 text"))?;
        read_csv(text)?
    } else {
        let b: PublishBody = crate::v1::parse_json(&body)?;
        let mut out = BTreeMap::new();
        for (agent, segs) in b.agents {
            let mut list = Vec::with_capacity(segs.len());
            for s in segs {
                let e = |m: String| bad("bad_schedule", format!("agent {agent}: {m}"));
                list.push(PlannedSegment {
                    start: parse_time("start", &s.start).map_err(e)?,
                    end: parse_time("end", &s.end).map_err(e)?,
                    activity: s.activity,
                });
            }
            out.insert(agent, list);
        }
        out
    };
    publish_week(&v1, &who.user, &week, week_start, agents, true, &[])
        .await
        .map(Json)
}

/// Checks and publishes a week's plan for the agents given. With `replace_week`, each agent
/// planned that week before and left out now is cleared (the week is replaced); without it,
/// the other agents' plans stay as they are.
async fn publish_week(
    v1: &V1,
    by: &str,
    week: &str,
    week_start: i64,
    mut agents: BTreeMap<String, Vec<PlannedSegment>>,
    replace_week: bool,
    also_clear: &[String],
) -> Result<Value, ApiError> {
    let known: BTreeSet<String> = v1
        .centre
        .config()
        .agents
        .iter()
        .map(|a| a.extension.get_ref().clone())
        .collect();
    for (agent, segs) in agents.iter_mut() {
        if !known.contains(agent) {
            return Err(bad(
                "unknown_agent",
                format!("agent {agent} is not in the configuration"),
            ));
        }
        check_segments(week_start, segs)
            .map_err(|m| bad("bad_schedule", format!("agent {agent}: {m}")))?;
    }
    let _changing = v1.workforce.changing.lock().await;
    let plan = v1.workforce.current(v1).await?;
    // A week's plan may not overlap the agent's plan of another week (a Sunday night
    // shift and a Monday morning one published apart).
    for (agent, segs) in &agents {
        for ((w, a), other) in &plan.weeks {
            if a != agent || w == week {
                continue;
            }
            if let Some(s) = segs
                .iter()
                .find(|s| other.iter().any(|o| o.start < s.end && s.start < o.end))
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "overlaps_week",
                    format!(
                        "agent {agent}: {} to {} overlaps the plan published for the week of {w}",
                        s.start, s.end
                    ),
                ));
            }
        }
    }
    // Agents planned that week before and left out now (all of them when the week is
    // replaced, else those named in `also_clear`): their week is cleared.
    let cleared: Vec<String> = plan
        .weeks
        .keys()
        .filter(|(w, a)| {
            *w == week && !agents.contains_key(a) && (replace_week || also_clear.contains(a))
        })
        .map(|(_, a)| a.clone())
        .collect();
    let now = Timestamp::now();
    let mut events = Vec::new();
    let segments: usize = agents.values().map(Vec::len).sum();
    let planned = agents.len();
    for (agent, segs) in agents
        .into_iter()
        .chain(cleared.into_iter().map(|a| (a, vec![])))
    {
        let mut e = WorkforceEvent::new(
            now,
            WorkforceChange::SchedulePublished {
                week: week.to_string(),
                agent,
                segments: segs,
            },
        );
        e.by = Some(by.to_string());
        events.push(hotline_model::Event::Workforce(e));
    }
    let cleared_n = events.len() - planned;
    v1.centre
        .store()
        .append(events)
        .await
        .map_err(store_error)?;
    Ok(json!({
        "week": week,
        "agents": planned,
        "segments": segments,
        "cleared": cleared_n,
    }))
}

#[derive(Deserialize)]
struct WindowQuery {
    from: Option<String>,
    to: Option<String>,
    agent: Option<String>,
    grace_seconds: Option<String>,
}

/// The window `[from, to)` of a query, both required, at most [`MAX_WINDOW_DAYS`].
fn window(q: &WindowQuery) -> Result<(Timestamp, Timestamp), ApiError> {
    let need = |v: &Option<String>, name: &str| {
        v.as_deref()
            .ok_or_else(|| bad("bad_window", format!("`{name}` (RFC 3339) is required")))
            .and_then(|s| parse_time(name, s).map_err(|m| bad("bad_window", m)))
    };
    let (from, to) = (need(&q.from, "from")?, need(&q.to, "to")?);
    if to <= from {
        return Err(bad("bad_window", "`to` must be after `from`"));
    }
    if i128::from(to.unix_nanos()) - i128::from(from.unix_nanos())
        > i128::from(MAX_WINDOW_DAYS * 86_400 * 1_000_000_000)
    {
        return Err(bad(
            "bad_window",
            format!("at most {MAX_WINDOW_DAYS} days at a time"),
        ));
    }
    Ok((from, to))
}

/// Which agents a principal may see: all, or an agent's own.
fn visible(who: &Principal, asked: Option<&str>) -> Result<Option<String>, ApiError> {
    match (who.role, asked) {
        (Role::Agent, Some(a)) if who.agent.as_deref() != Some(a) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "agents see their own schedule",
        )),
        (Role::Agent, _) => Ok(Some(who.agent.clone().unwrap_or_default())),
        (_, a) => Ok(a.map(str::to_string)),
    }
}

/// Each agent's segments overlapping `[from, to)`, in time order.
fn segments_in(
    plan: &PlanState,
    from: Timestamp,
    to: Timestamp,
    only: Option<&str>,
) -> BTreeMap<String, Vec<(String, PlannedSegment)>> {
    let mut out: BTreeMap<String, Vec<(String, PlannedSegment)>> = BTreeMap::new();
    for ((week, agent), segs) in &plan.weeks {
        if only.is_some_and(|o| o != agent) {
            continue;
        }
        for s in segs.iter().filter(|s| s.end > from && s.start < to) {
            out.entry(agent.clone())
                .or_default()
                .push((week.clone(), s.clone()));
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|(_, s)| s.start);
    }
    out
}

async fn schedule(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let only = visible(&who, q.agent.as_deref())?;
    let (from, to) = window(&q)?;
    let plan = v1.workforce.current(&v1).await?;
    let mut rows = Vec::new();
    for (agent, segs) in segments_in(&plan, from, to, only.as_deref()) {
        for (week, s) in segs {
            rows.push(json!({
                "agent": agent,
                "week": week,
                "start": s.start,
                "end": s.end,
                "activity": s.activity,
            }));
        }
    }
    Ok(Json(json!({ "segments": rows })))
}

async fn schedule_csv(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<WindowQuery>,
) -> Result<Response, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let only = visible(&who, q.agent.as_deref())?;
    let (from, to) = window(&q)?;
    let plan = v1.workforce.current(&v1).await?;
    let mut out = String::from("agent,start,end,activity\r\n");
    for (agent, segs) in segments_in(&plan, from, to, only.as_deref()) {
        for (_, s) in segs {
            out.push_str(&format!(
                "{},{},{},{}\r\n",
                csv_cell(&agent),
                s.start,
                s.end,
                csv_cell(&s.activity)
            ));
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"schedule.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

fn actual_of(state: &AgentState) -> Actual {
    match state {
        AgentState::Available => Actual::Ready,
        AgentState::Break { .. } => Actual::Break,
        AgentState::LoggedOut => Actual::LoggedOut,
        AgentState::LoggedIn | AgentState::NotReady { .. } | AgentState::Unknown => {
            Actual::NotReady
        }
    }
}

fn secs(t: Timestamp) -> i64 {
    t.unix_nanos().div_euclid(1_000_000_000)
}

fn at_secs(s: i64) -> Timestamp {
    Timestamp::from_unix_nanos(s.saturating_mul(1_000_000_000))
}

/// `GET /api/v1/workforce/adherence`.
async fn adherence_view(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    adherence_report(&v1, &headers, &q).await.map(Json)
}

/// `GET /api/v1/workforce/adherence.csv`: the same per agent, for a spreadsheet.
async fn adherence_csv(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<WindowQuery>,
) -> Result<Response, ApiError> {
    let v = adherence_report(&v1, &headers, &q).await?;
    let mut out = String::from(
        "agent,scheduled_minutes,in_adherence_minutes,adherence,planned_work_minutes,conformance,unscheduled_ready_minutes,exceptions,exception_minutes\r\n",
    );
    let min = |a: &Value, k: &str| {
        a[k].as_i64()
            .map_or(String::new(), |s| format!("{:.1}", s as f64 / 60.0))
    };
    let frac = |a: &Value, k: &str| a[k].as_f64().map_or(String::new(), |f| format!("{f:.4}"));
    for a in v["agents"].as_array().into_iter().flatten() {
        let ex = a["exceptions"].as_array().map_or(&[][..], Vec::as_slice);
        let ex_s: i64 = ex
            .iter()
            .filter_map(|e| {
                let t = |k: &str| e[k].as_str().and_then(|s| Timestamp::parse_rfc3339(s).ok());
                Some(secs(t("end")?) - secs(t("start")?))
            })
            .sum();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{:.1}\r\n",
            csv_cell(a["agent"].as_str().unwrap_or("")),
            min(a, "scheduled_seconds"),
            min(a, "in_adherence_seconds"),
            frac(a, "adherence"),
            min(a, "planned_work_seconds"),
            frac(a, "conformance"),
            min(a, "unscheduled_ready_seconds"),
            ex.len(),
            ex_s as f64 / 60.0,
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"adherence.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

async fn adherence_report(
    v1: &V1,
    headers: &HeaderMap,
    q: &WindowQuery,
) -> Result<Value, ApiError> {
    let who = v1.auth.principal(headers)?;
    let only = visible(&who, q.agent.as_deref())?;
    let (from, to) = window(q)?;
    let grace = match q.grace_seconds.as_deref() {
        None => DEFAULT_GRACE_SECONDS,
        Some(g) => g
            .parse::<i64>()
            .ok()
            .filter(|g| (0..=3600).contains(g))
            .ok_or_else(|| bad("bad_grace", "`grace_seconds` is 0 to 3600"))?,
    };
    let now = Timestamp::now();
    // Adherence so far: the part of the window still to come is not scored.
    let until = if to < now { to } else { now };
    let plan = v1.workforce.current(v1).await?;
    // The plan around the window: the segment running when it opens starts before it.
    let lookback =
        Timestamp::from_unix_nanos(from.unix_nanos().saturating_sub(86_400 * 1_000_000_000));
    let planned = segments_in(&plan, lookback, to, only.as_deref());
    let mut changes: BTreeMap<String, Vec<StateChange>> = BTreeMap::new();
    if until > from {
        let events = v1
            .centre
            .store()
            .agent_events_between(from, until, STATE_LOOKBACK)
            .await
            .map_err(store_error)?;
        for e in events {
            let agent = e.agent.as_str().to_string();
            if only.as_ref().is_some_and(|o| *o != agent) {
                continue;
            }
            changes.entry(agent).or_default().push(StateChange {
                at: secs(e.at),
                state: actual_of(&e.state),
            });
        }
    }
    // An agent whose current state began before the lookback has had it all along.
    let long_held: BTreeMap<String, Actual> = v1
        .centre
        .store()
        .agent_states()
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|st| {
            st.since.unix_nanos()
                <= from
                    .unix_nanos()
                    .saturating_sub(i64::try_from(STATE_LOOKBACK.as_nanos()).unwrap_or(i64::MAX))
        })
        .map(|st| (st.agent.as_str().to_string(), actual_of(&st.state)))
        .collect();
    let mut agents = Vec::new();
    for (agent, segs) in &planned {
        let before = long_held.get(agent).copied().unwrap_or(Actual::LoggedOut);
        let segs: Vec<Segment> = segs
            .iter()
            .filter_map(|(_, s)| {
                Some(Segment {
                    start: secs(s.start).div_euclid(60),
                    end: secs(s.end).div_euclid(60),
                    activity: Activity::from_name(&s.activity)?,
                })
            })
            .collect();
        let mut ch = changes.remove(agent).unwrap_or_default();
        // A log with two changes in one second keeps their order; the core wants them
        // ordered by time, which they are (the log is appended in time order per agent).
        ch.sort_by_key(|c| c.at);
        let score = if until > from {
            adherence::score(&segs, &ch, before, secs(from), secs(until), grace)
        } else {
            Ok(adherence::Adherence::default())
        };
        // The standing now, when now is in the window.
        let live =
            (from <= now && now < to).then(|| adherence::now(&segs, &ch, before, secs(now), grace));
        let (score, standing) = match (score, live.transpose()) {
            (Ok(score), Ok(standing)) => (score, standing),
            (Err(e), _) | (_, Err(e)) => {
                // One agent's unusable plan (overlapping segments published before they
                // were refused) does not hide the others.
                agents.push(json!({ "agent": agent, "error": e.to_string() }));
                continue;
            }
        };
        agents.push(json!({
            "agent": agent,
            "scheduled_seconds": score.scheduled,
            "in_adherence_seconds": score.in_adherence,
            "adherence": score.percent,
            "planned_work_seconds": score.planned_work,
            "conformance": score.conformance,
            "unscheduled_ready_seconds": score.unscheduled_ready,
            "exceptions": score.exceptions.iter().map(|e| json!({
                "start": at_secs(e.start),
                "end": at_secs(e.end),
                "planned": e.planned.name(),
                "actual": e.actual.name(),
            })).collect::<Vec<_>>(),
            "now": standing.map(|standing| json!({
                "planned": standing.planned.map(Activity::name),
                "actual": standing.actual.name(),
                "out_of_adherence": standing.out_of_adherence,
                "out_since": standing.out_since.map(at_secs),
            })),
        }));
    }
    Ok(json!({
        "from": from,
        "to": to,
        "scored_until": until,
        "grace_seconds": grace,
        "agents": agents,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_is_named_by_its_monday() {
        assert!(monday("2026-12-07").is_ok());
        // Only the canonical spelling: the week is a key.
        assert!(monday(" 2026-1-05").is_err());
        assert!(monday("+2026-1-05").is_err());
        assert!(monday("2026-12-08").is_err());
        assert!(monday("2026-13-07").is_err());
        assert!(monday("07-12-2026").is_err());
    }

    #[test]
    fn a_shift_across_a_clock_change_keeps_its_length_and_order() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        // The week of Monday 2027-03-22; the clocks go from 02:00 to 03:00 on Sunday
        // 2027-03-28 (day 6). A shift from Sunday 00:00: work 2.5 h, lunch 0.5 h, work 3 h.
        let week = monday_day("2027-03-22").unwrap() * 1440;
        let seg = |a: i64, b: i64, activity| Segment {
            start: 6 * 1440 + a,
            end: 6 * 1440 + b,
            activity,
        };
        let shift = sched::PlannedShift {
            pattern: "6h".into(),
            start: 6 * 1440,
            end: 6 * 1440 + 360,
            segments: vec![
                seg(0, 150, Activity::Work),
                seg(150, 180, Activity::Lunch),
                seg(180, 360, Activity::Work),
            ],
        };
        let out = shift_instants(tz, week, &shift);
        let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        // Midnight CET is 23:00 UTC; six real hours later is 05:00 UTC (07:00 CEST).
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].start, t("2027-03-27T23:00:00Z"));
        assert_eq!(out[0].end, out[1].start);
        assert_eq!(out[1].end, out[2].start);
        assert_eq!(out[2].end, t("2027-03-28T05:00:00Z"));
        let mut segs = out.clone();
        assert_eq!(
            check_segments(monday("2027-03-22").unwrap(), &mut segs),
            Ok(())
        );
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = read_csv("agent,start,end,activity\n1001,2026-12-07T08:00:00Z,,work\n")
            .err()
            .unwrap();
        assert!(e.message.contains("line 2"), "{}", e.message);
        let e = read_csv("agent,begin,end,activity\n").err().unwrap();
        assert!(e.message.contains("`start`"), "{}", e.message);
    }

    #[test]
    fn segments_must_be_whole_minutes_in_order_and_inside_the_week() {
        let w = monday("2026-12-07").unwrap();
        let seg = |a: &str, b: &str, act: &str| PlannedSegment {
            start: Timestamp::parse_rfc3339(a).unwrap(),
            end: Timestamp::parse_rfc3339(b).unwrap(),
            activity: act.into(),
        };
        let mut ok = vec![
            seg("2026-12-07T10:00:00Z", "2026-12-07T10:15:00Z", "break"),
            seg("2026-12-07T08:00:00Z", "2026-12-07T10:00:00Z", "work"),
        ];
        assert_eq!(check_segments(w, &mut ok), Ok(()));
        assert_eq!(ok[0].activity, "work");
        for bad in [
            vec![seg("2026-12-07T08:00:30Z", "2026-12-07T09:00:00Z", "work")],
            vec![seg("2026-12-07T09:00:00Z", "2026-12-07T08:00:00Z", "work")],
            vec![seg("2026-12-16T09:00:00Z", "2026-12-16T10:00:00Z", "work")],
            vec![seg("2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z", "nap")],
            vec![
                seg("2026-12-07T08:00:00Z", "2026-12-07T10:00:00Z", "work"),
                seg("2026-12-07T09:00:00Z", "2026-12-07T11:00:00Z", "work"),
            ],
        ] {
            let mut b = bad;
            assert!(check_segments(w, &mut b).is_err());
        }
    }
}

// ---- Planning: history, special days, and a week's plan --------------------------------

use chrono::{Datelike, NaiveDate, TimeZone};
use hotline_workforce::history;
use hotline_workforce::plan::{QueueInput, WeekInput, plan_week};
use hotline_workforce::schedule::{self as sched, BreakRule, ShiftPattern, StartTimes};
use hotline_workforce::staffing::{QueuePlan, ServiceTarget, Shrinkage, Wellbeing};

/// The most shift patterns, and breaks in one, a plan request may give: each adds to the
/// scheduler's work.
const MAX_PATTERNS: usize = 20;
const MAX_BREAKS: usize = 6;

/// Weeks of history a plan learns from unless asked otherwise.
const DEFAULT_HISTORY_WEEKS: usize = 26;
/// The handle time assumed for a queue with no answered contacts in its history.
const DEFAULT_HANDLE_SECONDS: f64 = 180.0;

fn queue_channel(q: &hotline_config::Queue) -> &'static str {
    match q.channel {
        hotline_config::QueueChannel::Voice => "voice",
        hotline_config::QueueChannel::Chat => "chat",
        hotline_config::QueueChannel::Email => "email",
    }
}

/// The centre's time zone (`centre.time_zone`, UTC when absent).
fn centre_zone(v1: &V1) -> chrono_tz::Tz {
    v1.centre
        .config()
        .centre
        .time_zone
        .as_ref()
        .and_then(|z| z.get_ref().parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

/// The instant of naive local minutes since 1970-01-01 00:00 in `tz`. A local time the
/// clocks skip (spring forward) is taken an hour later; a repeated one, at its first
/// occurrence.
fn instant_of(tz: chrono_tz::Tz, local_minute: i64) -> Option<Timestamp> {
    let naive = chrono::DateTime::UNIX_EPOCH
        .naive_utc()
        .checked_add_signed(chrono::Duration::minutes(local_minute))?;
    let dt = tz.from_local_datetime(&naive).earliest().or_else(|| {
        tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
    })?;
    Some(Timestamp::from_unix_nanos(
        dt.timestamp().checked_mul(1_000_000_000)?,
    ))
}

/// Naive local minutes since 1970-01-01 00:00 of a Unix second in `tz`.
fn local_minute(tz: chrono_tz::Tz, unix_secs: i64) -> Option<i64> {
    let dt = tz.timestamp_opt(unix_secs, 0).single()?;
    Some(dt.naive_local().and_utc().timestamp().div_euclid(60))
}

/// Days since 1970-01-01 of a Monday `YYYY-MM-DD`.
fn monday_day(week: &str) -> Result<i64, ApiError> {
    let canonical = week.len() == 10
        && week.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let d = NaiveDate::parse_from_str(week, "%Y-%m-%d")
        .ok()
        .filter(|_| canonical)
        .ok_or_else(|| bad("bad_week", "the week is its Monday's date, YYYY-MM-DD"))?;
    if d.weekday() != chrono::Weekday::Mon {
        return Err(bad(
            "bad_week",
            format!(
                "{week} is a {}, not a Monday: a week is named by its Monday",
                d.weekday()
            ),
        ));
    }
    Ok(i64::from(d.num_days_from_ce()) - 719_163)
}

fn date_of_day(day: i64) -> String {
    history::format_local_minute(day * 1440)[..10].to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternBody {
    name: String,
    hours: f64,
    /// Earliest and latest start, `HH:MM`, and the step between starts in minutes.
    first_start: String,
    last_start: String,
    every_minutes: i64,
    #[serde(default)]
    breaks: Vec<BreakBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakBody {
    activity: String,
    minutes: i64,
    /// Window, minutes after the shift's start.
    earliest_start: i64,
    latest_end: i64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ContractBody {
    weekly_hours: Option<f64>,
    min_weekly_hours: Option<f64>,
    days_off: Option<u32>,
    min_rest_hours: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ShrinkageBody {
    #[serde(default)]
    training: f64,
    #[serde(default)]
    absence: f64,
    #[serde(default)]
    other: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    week: String,
    #[serde(default)]
    history_weeks: Option<usize>,
    /// Queues to plan for; every queue when absent.
    #[serde(default)]
    queues: Option<Vec<String>>,
    /// Handle time per queue, seconds, instead of the one measured in the history.
    #[serde(default)]
    handle_seconds: BTreeMap<String, f64>,
    #[serde(default)]
    shrinkage: ShrinkageBody,
    #[serde(default)]
    occupancy_ceiling: Option<f64>,
    #[serde(default)]
    patterns: Option<Vec<PatternBody>>,
    #[serde(default)]
    contract: ContractBody,
    /// Agents to schedule; every configured agent when absent.
    #[serde(default)]
    agents: Option<Vec<String>>,
    /// Publish the schedule at once (else it is a draft to publish with PUT).
    #[serde(default)]
    publish: bool,
}

/// An 8-hour and a 10-hour day, starting on the half hour around the clock, each with a
/// 15-minute break before and after a 30-minute lunch.
fn default_patterns() -> Vec<ShiftPattern> {
    let brk = |activity, minutes, earliest_start, latest_end| BreakRule {
        activity,
        minutes,
        earliest_start,
        latest_end,
    };
    vec![
        ShiftPattern {
            name: "8h".into(),
            minutes: 480,
            starts: StartTimes {
                first: 0,
                last: 23 * 60 + 30,
                every: 30,
            },
            breaks: vec![
                brk(Activity::Break, 15, 90, 180),
                brk(Activity::Lunch, 30, 195, 315),
                brk(Activity::Break, 15, 330, 435),
            ],
        },
        ShiftPattern {
            name: "10h".into(),
            minutes: 600,
            starts: StartTimes {
                first: 0,
                last: 23 * 60 + 30,
                every: 30,
            },
            breaks: vec![
                brk(Activity::Break, 15, 90, 210),
                brk(Activity::Lunch, 30, 225, 390),
                brk(Activity::Break, 15, 405, 555),
            ],
        },
    ]
}

fn patterns_of(body: Option<Vec<PatternBody>>) -> Result<Vec<ShiftPattern>, ApiError> {
    let Some(list) = body else {
        return Ok(default_patterns());
    };
    if list.is_empty() || list.len() > MAX_PATTERNS {
        return Err(bad("bad_pattern", format!("1 to {MAX_PATTERNS} patterns")));
    }
    list.into_iter()
        .map(|p| {
            let e = |m: &str| bad("bad_pattern", format!("pattern {}: {m}", p.name));
            let minutes = (p.hours * 60.0).round() as i64;
            if !(p.hours > 0.0 && p.hours <= 16.0) || minutes % 15 != 0 {
                return Err(e(
                    "`hours` is more than 0 and at most 16, in quarter hours (7.5, 8, 8.25)",
                ));
            }
            if !(15..=1440).contains(&p.every_minutes) || p.every_minutes % 15 != 0 {
                return Err(e("`every_minutes` is 15 to 1440, in quarter hours"));
            }
            if p.breaks.len() > MAX_BREAKS {
                return Err(e(&format!("at most {MAX_BREAKS} breaks")));
            }
            if p.breaks.iter().any(|b| {
                !(15..=minutes).contains(&b.minutes)
                    || !(0..=minutes).contains(&b.earliest_start)
                    || !(0..=minutes).contains(&b.latest_end)
            }) {
                return Err(e(
                    "a break's `minutes`, `earliest_start` and `latest_end` lie within the shift",
                ));
            }
            Ok(ShiftPattern {
                name: p.name.clone(),
                minutes,
                starts: StartTimes {
                    first: hotline_config::parse_hhmm(&p.first_start)
                        .ok_or_else(|| e("`first_start` is HH:MM"))?,
                    last: hotline_config::parse_hhmm(&p.last_start)
                        .ok_or_else(|| e("`last_start` is HH:MM"))?,
                    every: p.every_minutes,
                },
                breaks: p
                    .breaks
                    .iter()
                    .map(|b| {
                        Ok(BreakRule {
                            activity: Activity::from_name(&b.activity)
                                .filter(|a| *a != Activity::Work)
                                .ok_or_else(|| {
                                    e("a break's `activity` is break, lunch or offline")
                                })?,
                            minutes: b.minutes,
                            earliest_start: b.earliest_start,
                            latest_end: b.latest_end,
                        })
                    })
                    .collect::<Result<_, ApiError>>()?,
            })
        })
        .collect()
}

/// `POST /api/v1/workforce/history`: a CSV of contacts offered per interval (see
/// [`hotline_workforce::history`]), stored one event per queue, channel and week.
async fn import_history(
    State(v1): State<V1>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let text =
        std::str::from_utf8(&body).map_err(|_| bad("bad_csv", "the file is not UTF-8 text"))?;
    let h = history::parse_history_csv(text).map_err(|e| bad("bad_csv", e.to_string()))?;
    // Only the configured queues, each on its own channel: anything else would be stored
    // and never used (and a file of many names would take much memory).
    let cfg = v1.centre.config();
    for s in &h.series {
        let Some(q) = cfg.queues.iter().find(|q| q.name.get_ref() == &s.queue) else {
            return Err(bad(
                "unknown_queue",
                format!("queue {:?} is not configured", s.queue),
            ));
        };
        let channel = queue_channel(q);
        if s.channel != channel {
            return Err(bad(
                "bad_channel",
                format!(
                    "queue {} takes channel {channel}, not {:?}",
                    s.queue, s.channel
                ),
            ));
        }
    }
    let first_day = h.start.div_euclid(1440);
    let now = Timestamp::now();
    let mut events = Vec::new();
    let mut series = Vec::new();
    for s in &h.series {
        let weeks = s
            .offered
            .len()
            .div_ceil(hotline_workforce::INTERVALS_PER_WEEK);
        for (w, chunk) in s
            .offered
            .chunks(hotline_workforce::INTERVALS_PER_WEEK)
            .enumerate()
        {
            let mut e = WorkforceEvent::new(
                now,
                WorkforceChange::HistoryImported {
                    queue: s.queue.clone(),
                    channel: s.channel.clone(),
                    week: date_of_day(first_day + 7 * w as i64),
                    offered: chunk.to_vec(),
                },
            );
            e.by = Some(who.user.clone());
            events.push(hotline_model::Event::Workforce(e));
        }
        series.push(json!({
            "queue": s.queue,
            "channel": s.channel,
            "first_week": date_of_day(first_day),
            "weeks": weeks,
            "offered": s.offered.iter().sum::<f64>(),
            "missing_intervals": s.missing_intervals,
        }));
    }
    v1.centre
        .store()
        .append(events)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({
        "rows": h.rows,
        "skipped_before_start": h.skipped_before_start,
        "duplicate_rows": h.duplicate_rows,
        "series": series,
    })))
}

async fn special_days(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    v1.auth.principal(&headers)?;
    let plan = v1.workforce.current(&v1).await?;
    Ok(Json(json!({ "days": plan.special_days })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecialDaysBody {
    days: Vec<SpecialDayEntry>,
}

/// `PUT /api/v1/workforce/special-days`: the whole list, replaced.
async fn set_special_days(
    State(v1): State<V1>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let b: SpecialDaysBody = crate::v1::parse_json(&body)?;
    let mut seen = BTreeSet::new();
    for d in &b.days {
        if history::parse_local_date(&d.date).is_none() {
            return Err(bad(
                "bad_special_day",
                format!("{:?} is not a date (YYYY-MM-DD)", d.date),
            ));
        }
        if d.label.trim().is_empty() || d.label.len() > 100 {
            return Err(bad(
                "bad_special_day",
                format!("{}: the label is 1 to 100 characters", d.date),
            ));
        }
        if !seen.insert(d.date.clone()) {
            return Err(bad(
                "bad_special_day",
                format!("{} is listed twice", d.date),
            ));
        }
    }
    append_change(
        &v1,
        &who.user,
        WorkforceChange::SpecialDays {
            days: b.days.clone(),
        },
    )
    .await?;
    Ok(Json(json!({ "days": b.days })))
}

/// `POST /api/v1/workforce/plan`: next week's plan from the centre's history.
async fn make_plan(
    State(v1): State<V1>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let b: PlanBody = crate::v1::parse_json(&body)?;
    let _planning = v1.workforce.planning.try_acquire().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "another plan is being made; try again in a few seconds",
        )
        .retry_after(2)
    })?;
    let sh = &b.shrinkage;
    if [sh.training, sh.absence, sh.other]
        .iter()
        .any(|f| !(0.0..0.9).contains(f))
        || sh.training + sh.absence + sh.other >= 0.9
    {
        return Err(bad(
            "bad_plan",
            "shrinkage: each fraction and their sum are 0 to below 0.9",
        ));
    }
    if b.occupancy_ceiling.is_some_and(|c| !(c > 0.0 && c <= 1.0)) {
        return Err(bad(
            "bad_plan",
            "`occupancy_ceiling` is above 0 and at most 1",
        ));
    }
    if let Some((q, h)) = b
        .handle_seconds
        .iter()
        .find(|(_, h)| !(**h > 0.0 && **h <= 7200.0))
    {
        return Err(bad(
            "bad_plan",
            format!("handle_seconds of {q}: {h} is not above 0 and at most 7200"),
        ));
    }
    let tz = centre_zone(&v1);
    let week_day = monday_day(&b.week)?;
    let history_weeks = b.history_weeks.unwrap_or(DEFAULT_HISTORY_WEEKS);
    if !(2..=156).contains(&history_weeks) {
        return Err(bad("bad_plan", "`history_weeks` is 2 to 156"));
    }
    let cfg = v1.centre.config();
    // The history ends at the last local midnight before the planned week or today,
    // whichever is first: the rest of this week has not happened yet.
    let now_s = secs(Timestamp::now());
    let today = local_minute(tz, now_s)
        .ok_or_else(|| bad("bad_plan", "the current local time is not representable"))?
        .div_euclid(1440);
    let epoch_day = week_day - 7 * history_weeks as i64;
    let end_day = week_day.min(today);
    if end_day <= epoch_day {
        return Err(bad("bad_plan", "no history before the planned week"));
    }
    let n = ((end_day - epoch_day) * 96) as usize;
    let from = instant_of(tz, epoch_day * 1440)
        .ok_or_else(|| bad("bad_plan", "the history's start is not representable"))?;
    let to = instant_of(tz, end_day * 1440)
        .ok_or_else(|| bad("bad_plan", "the history's end is not representable"))?;
    let slots = v1
        .centre
        .store()
        .queue_slots(from, to)
        .await
        .map_err(store_error)?;
    let plan_state = v1.workforce.current(&v1).await?;
    // Queues: the configuration's, or those asked for.
    let wanted: Vec<&hotline_config::Queue> = match &b.queues {
        None => cfg.queues.iter().collect(),
        Some(names) => names
            .iter()
            .enumerate()
            // A queue named twice is planned once.
            .filter(|(i, n)| !names[..*i].contains(n))
            .map(|(_, n)| {
                cfg.queues
                    .iter()
                    .find(|q| q.name.get_ref() == n)
                    .ok_or_else(|| bad("unknown_queue", format!("queue {n} is not configured")))
            })
            .collect::<Result<_, _>>()?,
    };
    let ceiling = b.occupancy_ceiling.unwrap_or_else(|| {
        cfg.wellbeing
            .occupancy_ceiling
            .as_ref()
            .map(|c| *c.get_ref())
            .filter(|c| *c > 0.0)
            .unwrap_or(1.0)
    });
    let mut inputs = Vec::new();
    let mut sources = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for q in &wanted {
        let name = q.name.get_ref().clone();
        let channel = queue_channel(q);
        let mut logged = vec![0.0; n];
        let (mut answered, mut talk_ms) = (0u64, 0u64);
        for s in slots.iter().filter(|s| s.queue == name) {
            let Some(m) = local_minute(tz, s.slot * 900) else {
                continue;
            };
            let i = (m - epoch_day * 1440).div_euclid(15);
            if let Some(v) = usize::try_from(i).ok().and_then(|i| logged.get_mut(i)) {
                *v += s.offered as f64;
            }
            answered += s.answered;
            talk_ms += s.talk_ms;
        }
        // A day without one logged contact takes the imported history's, if any.
        let mut series = logged;
        let (mut log_days, mut imported_days) = (0usize, 0usize);
        for d in 0..(end_day - epoch_day) as usize {
            let day = &mut series[d * 96..(d + 1) * 96];
            if day.iter().any(|v| *v > 0.0) {
                log_days += 1;
                continue;
            }
            let abs = epoch_day + d as i64;
            let monday = abs - (abs - epoch_day).rem_euclid(7);
            let key = (name.clone(), channel.to_string(), date_of_day(monday));
            if let Some(w) = plan_state.history.get(&key) {
                let off = ((abs - monday) * 96) as usize;
                if let Some(src) = w.get(off..off + 96) {
                    day.copy_from_slice(src);
                    if src.iter().any(|v| *v > 0.0) {
                        imported_days += 1;
                    }
                }
            }
        }
        // Weeks before the first with any contact are before the queue existed.
        let first_week = (0..series.len() / 672)
            .find(|w| series[w * 672..(w + 1) * 672].iter().any(|v| *v > 0.0));
        let Some(first_week) = first_week else {
            if b.queues.is_none() {
                // Every queue asked for by default: one that has had no contacts is left
                // out, and said so.
                skipped.push(name);
                continue;
            }
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_history",
                format!(
                    "queue {name}: no contacts in the {history_weeks} weeks before {}; import history (POST /api/v1/workforce/history) or plan a later week",
                    b.week
                ),
            ));
        };
        let mut series = series.split_off(first_week * 672);
        // Days after the last one with any contact are not known to be quiet (an import that
        // ends before the centre's own log begins): the history ends with the last day with
        // data, and the forecast reaches across the rest.
        let last_day = series.chunks(96).rposition(|d| d.iter().any(|v| *v > 0.0));
        series.truncate(last_day.map_or(0, |d| (d + 1) * 96));
        let handle = b
            .handle_seconds
            .get(&name)
            .copied()
            .or_else(|| (answered > 0).then(|| talk_ms as f64 / 1000.0 / answered as f64))
            .unwrap_or(DEFAULT_HANDLE_SECONDS);
        sources.push(json!({
            "queue": name,
            "log_days": log_days,
            "imported_days": imported_days,
            "handle_seconds": handle,
            "handle_from": if b.handle_seconds.contains_key(&name) { "request" } else if answered > 0 { "history" } else { "default" },
        }));
        let sl = (f64::from(*q.service_level_percent.get_ref()) / 100.0).min(0.99);
        inputs.push((
            first_week,
            QueueInput {
                plan: QueuePlan {
                    // Contacts an agent holds at once on this channel, as routing allows
                    // by default (`[routing.capacity]`).
                    concurrency: {
                        let cap = &cfg.routing.capacity;
                        let (_, chat, email) = cap.resolve(cap);
                        match q.channel {
                            hotline_config::QueueChannel::Voice => 1,
                            hotline_config::QueueChannel::Chat => u32::from(chat.max(1)),
                            hotline_config::QueueChannel::Email => u32::from(email.max(1)),
                        }
                    },
                    name,
                    handle_seconds: handle,
                    wrap_up_seconds: f64::from(q.wrap_up_seconds),
                    target: ServiceTarget {
                        service_level: sl,
                        target_seconds: f64::from(q.target_seconds),
                        abandon: None,
                    },
                    shrinkage: Shrinkage {
                        breaks: 0.0,
                        training: b.shrinkage.training,
                        absence: b.shrinkage.absence,
                        other: b.shrinkage.other,
                    },
                    wellbeing: Wellbeing {
                        occupancy_ceiling: ceiling,
                        ..Wellbeing::default()
                    },
                    min_agents: 0,
                },
                history: series,
                offset_days: 0,
            },
        ));
    }
    if inputs.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_history",
            format!(
                "no queue had contacts in the {history_weeks} weeks before {}; import history (POST /api/v1/workforce/history) or plan a later week",
                b.week
            ),
        ));
    }
    // Each queue's history starts at its own first week with contacts, counted from the
    // shared epoch.
    let queues: Vec<QueueInput> = inputs
        .into_iter()
        .map(|(w, mut q)| {
            q.offset_days = 7 * w;
            q
        })
        .collect();
    let hist_epoch = epoch_day;
    let special: Vec<hotline_workforce::forecast::SpecialDay> = plan_state
        .special_days
        .iter()
        .filter_map(|d| {
            let day = history::parse_local_date(&d.date)?;
            (day >= hist_epoch && day < week_day + 7).then(|| {
                hotline_workforce::forecast::SpecialDay {
                    day: (day - hist_epoch) as usize,
                    label: d.label.clone(),
                }
            })
        })
        .collect();
    let patterns = patterns_of(b.patterns)?;
    let weekly = b.contract.weekly_hours.unwrap_or(40.0);
    let min_weekly = b.contract.min_weekly_hours.unwrap_or(weekly);
    if !(0.0..=80.0).contains(&weekly) || !(0.0..=weekly).contains(&min_weekly) {
        return Err(bad(
            "bad_plan",
            "contract: `weekly_hours` is 0 to 80 and `min_weekly_hours` at most that",
        ));
    }
    let week_start_min = week_day * 1440;
    let agent_ids: Vec<String> = match &b.agents {
        Some(list) => list.clone(),
        None => cfg
            .agents
            .iter()
            .map(|a| a.extension.get_ref().clone())
            .collect(),
    };
    let mut agents = Vec::new();
    // Agents whose skills take none of the planned queues: nothing to plan them for.
    let mut unqualified: Vec<String> = Vec::new();
    // Days of approved time off per agent, for an error that names them.
    let mut time_off_days: BTreeMap<String, usize> = BTreeMap::new();
    for id in &agent_ids {
        let Some(a) = cfg.agents.iter().find(|a| a.extension.get_ref() == id) else {
            return Err(bad(
                "unknown_agent",
                format!("agent {id} is not in the configuration"),
            ));
        };
        // The queues the agent's skills let them take, as routing decides it: every skill
        // the queue asks for, at its level or higher.
        let takes: Vec<String> = queues
            .iter()
            .map(|q| q.plan.name.clone())
            .filter(|name| {
                cfg.queues
                    .iter()
                    .find(|q| q.name.get_ref() == name)
                    .is_some_and(|q| {
                        q.skills.iter().all(|(skill, min)| {
                            a.skills
                                .get(skill)
                                .is_some_and(|l| l.get_ref() >= min.get_ref())
                        })
                    })
            })
            .collect();
        if takes.is_empty() {
            unqualified.push(id.clone());
            continue;
        }
        // The rest rule looks back at the agent's last shift of the week before.
        let previous = monday_before(&plan_state, id, &date_of_day(week_day - 7))
            .and_then(|end| local_minute(tz, secs(end)))
            .map(|m| m - week_start_min);
        // The agent's own week from the configuration, the request's contract for the rest.
        let own = a.week.as_ref();
        let own_weekly = own
            .and_then(|w| w.weekly_hours.as_ref())
            .map(|h| *h.get_ref());
        let (weekly, min_weekly) = match own_weekly {
            Some(h) => (
                h,
                own.and_then(|w| w.min_weekly_hours.as_ref())
                    .map_or(h, |m| *m.get_ref()),
            ),
            None => (
                weekly,
                own.and_then(|w| w.min_weekly_hours.as_ref())
                    .map_or(min_weekly, |m| m.get_ref().min(weekly)),
            ),
        };
        let days_off = own
            .and_then(|w| w.days_off.as_ref())
            .map(|d| *d.get_ref())
            .or(b.contract.days_off)
            .unwrap_or(2);
        let mut agent_patterns = Vec::new();
        for p in own.map(|w| w.patterns.as_slice()).unwrap_or_default() {
            if !patterns.iter().any(|q| &q.name == p.get_ref()) {
                return Err(bad(
                    "bad_plan",
                    format!(
                        "agent {id} works pattern `{}` (agents.week.patterns), which this plan does not have: {}",
                        p.get_ref(),
                        patterns
                            .iter()
                            .map(|q| q.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            agent_patterns.push(p.get_ref().clone());
        }
        // The wishes the agent set on the page, else the configuration's.
        let (prefer, avoid) = wishes(&plan_state, &cfg, id);
        let mut preferences = Vec::new();
        for (list, weight) in [(prefer, PREFER_WEIGHT), (avoid, AVOID_WEIGHT)] {
            for r in &list {
                let Some((from, to)) = hotline_config::parse_time_range(r) else {
                    continue;
                };
                let to = if to > from { to } else { to + 1440 };
                for d in -1..7 {
                    preferences.push(sched::StartPreference {
                        range: sched::TimeRange {
                            start: d * 1440 + from,
                            end: d * 1440 + to,
                        },
                        weight,
                    });
                }
            }
        }
        // Approved time off in the week: no shift may touch it, and each day it touches
        // counts as a working day of the contract already given. What is left need not be
        // a sum of whole shifts (24 hours less a fifth), so the week then asks for at most
        // what is left and at least that less one shift.
        let unavailable = time_off_in_week(&plan_state, id, tz, week_start_min);
        let touched = (0..7i64)
            .filter(|d| {
                unavailable
                    .iter()
                    .any(|r| r.start < (d + 1) * 1440 && d * 1440 < r.end)
            })
            .count();
        let (mut min_minutes, mut max_minutes) = (
            (min_weekly * 60.0).round() as i64,
            (weekly * 60.0).round() as i64,
        );
        if touched > 0 {
            let per_day = weekly * 60.0 / f64::from(7u32.saturating_sub(days_off).max(1));
            let left = |m: i64| (m as f64 - touched as f64 * per_day).max(0.0);
            let longest = patterns
                .iter()
                .filter(|p| agent_patterns.is_empty() || agent_patterns.contains(&p.name))
                .map(|p| p.minutes)
                .max()
                .unwrap_or(0);
            max_minutes = (left(max_minutes) / 15.0).ceil() as i64 * 15;
            min_minutes = (((left(min_minutes) - longest as f64) / 15.0).floor() as i64 * 15)
                .clamp(0, max_minutes);
            time_off_days.insert(id.clone(), touched);
        }
        agents.push(sched::Agent {
            id: id.clone(),
            skills: a.skills.keys().cloned().collect(),
            queues: takes,
            patterns: agent_patterns,
            min_weekly_minutes: min_minutes,
            max_weekly_minutes: max_minutes,
            days_off,
            min_rest_minutes: (b.contract.min_rest_hours.unwrap_or(11.0) * 60.0).round() as i64,
            previous_shift_end: previous,
            unavailable,
            preferences,
        });
    }
    if agents.is_empty() && !unqualified.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_agents",
            format!(
                "no agent's skills take the planned queues (left out: {})",
                unqualified.join(", ")
            ),
        ));
    }
    let input = WeekInput {
        queues,
        special_days: special,
        forecast: hotline_workforce::forecast::ForecastConfig::default(),
        week_day: (week_day - hist_epoch) as usize,
        patterns,
        agents,
        options: sched::Options::default(),
    };
    // A week's solve takes up to a few seconds: off the async workers.
    let planned = tokio::task::spawn_blocking(move || plan_week(&input))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| {
            let mut message = e.to_string();
            if let hotline_workforce::plan::PlanError::Schedule(
                sched::ScheduleError::ContractImpossible { agent, .. },
            ) = &e
                && let Some(days) = time_off_days.get(agent)
            {
                message.push_str(&format!(" (after {days} day(s) of approved time off)"));
            }
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "cannot_plan", message)
        })?;
    // Minutes from the local Monday → instants.
    let mut by_agent: BTreeMap<String, Vec<PlannedSegment>> = BTreeMap::new();
    for a in &planned.schedule.agents {
        let mut segs = Vec::new();
        for shift in &a.shifts {
            segs.extend(shift_instants(tz, week_start_min, shift));
        }
        by_agent.insert(a.id.clone(), segs);
    }
    let published = if b.publish {
        let week_start =
            secs(instant_of(tz, week_start_min).unwrap_or(Timestamp::from_unix_nanos(0)));
        // A plan of every queue leaves an agent out for their skills: nothing is planned for
        // them this week any more. A plan of some queues leaves the others' agents alone.
        let every_queue = b.queues.is_none() && skipped.is_empty();
        let clear: &[String] = if every_queue { &unqualified } else { &[] };
        Some(
            publish_week(
                &v1,
                &who.user,
                &b.week,
                week_start,
                by_agent.clone(),
                false,
                clear,
            )
            .await?,
        )
    } else {
        None
    };
    let s = &planned.schedule;
    Ok(Json(json!({
        "week": b.week,
        "time_zone": tz.name(),
        "week_start": instant_of(tz, week_start_min),
        "history": sources,
        "skipped_queues": skipped,
        "skipped_agents": unqualified,
        "queues": planned.queues.iter().map(|q| json!({
            "queue": q.queue,
            "forecast": {
                "volumes": q.forecast.volumes,
                "daily_totals": q.forecast.daily_totals,
                "backtest": q.forecast.backtest.as_ref().map(|bt| json!({
                    "weeks": bt.weeks,
                    "wape": bt.wape,
                    "daily_wape": bt.daily_wape,
                    "bias": bt.bias,
                })),
            },
            "staffing": {
                "model": q.staffing.model,
                "on_phones": q.staffing.intervals.iter().map(|i| i.on_phones).collect::<Vec<_>>(),
                "scheduled": q.staffing.intervals.iter().map(|i| i.scheduled).collect::<Vec<_>>(),
                "service_level": q.staffing.intervals.iter().map(|i| i.service_level).collect::<Vec<_>>(),
                "scheduled_hours": q.staffing.scheduled_hours,
            },
            "covered": s.queues.iter().find(|c| c.name == q.queue).map(|c| &c.covered),
        })).collect::<Vec<_>>(),
        "requirement": planned.requirement,
        "working": s.coverage.iter().map(|c| c.working).collect::<Vec<_>>(),
        "covered": s.coverage.iter().map(|c| c.covered).collect::<Vec<_>>(),
        "total_shortfall": s.total_shortfall,
        "total_overstaffing": s.total_overstaffing,
        "short_intervals": s.short_intervals,
        "shifts": s.shift_count(),
        "agents": by_agent,
        "published": published,
    })))
}

/// Points a shift start inside an agent's `prefer_starts` earns, and one inside
/// `avoid_starts` (one point weighs one agent-interval of overstaffing).
const PREFER_WEIGHT: i64 = 2;
const AVOID_WEIGHT: i64 = -3;

/// An agent's start-time wishes: set by the agent on the page, else the configuration's
/// `week`.
fn wishes(
    plan: &PlanState,
    cfg: &hotline_config::Config,
    agent: &str,
) -> (Vec<String>, Vec<String>) {
    if let Some((p, a)) = plan.preferences.get(agent) {
        return (p.clone(), a.clone());
    }
    let week = cfg
        .agents
        .iter()
        .find(|a| a.extension.get_ref() == agent)
        .and_then(|a| a.week.as_ref());
    let Some(w) = week else {
        return (Vec::new(), Vec::new());
    };
    (
        w.prefer_starts
            .iter()
            .map(|s| s.get_ref().clone())
            .collect(),
        w.avoid_starts.iter().map(|s| s.get_ref().clone()).collect(),
    )
}

/// At most this many ranges in each list of wishes.
const MAX_WISHES: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreferencesBody {
    #[serde(default)]
    prefer_starts: Vec<String>,
    #[serde(default)]
    avoid_starts: Vec<String>,
}

/// `GET /api/v1/workforce/preferences`: every agent's start-time wishes (an agent: its own),
/// and whether the agent set them or they come from the configuration.
async fn list_preferences(
    State(v1): State<V1>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let plan = v1.workforce.current(&v1).await?;
    let cfg = v1.centre.config();
    let mut out = serde_json::Map::new();
    for a in &cfg.agents {
        let id = a.extension.get_ref();
        if who.role == Role::Agent && who.agent.as_deref() != Some(id.as_str()) {
            continue;
        }
        let (prefer, avoid) = wishes(&plan, &cfg, id);
        out.insert(
            id.clone(),
            json!({
                "prefer_starts": prefer,
                "avoid_starts": avoid,
                "set_by": if plan.preferences.contains_key(id) { "agent" } else { "configuration" },
            }),
        );
    }
    Ok(Json(json!({ "agents": out })))
}

/// `PUT /api/v1/workforce/preferences/{agent}`: an agent's start-time wishes, set by the
/// agent (or a supervisor for them). They replace the configuration's for the plan.
async fn set_preferences(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(agent): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent && who.agent.as_deref() != Some(agent.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "agents set their own wishes",
        ));
    }
    if !v1
        .centre
        .config()
        .agents
        .iter()
        .any(|a| a.extension.get_ref() == &agent)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_agent",
            format!("agent {agent} is not in the configuration"),
        ));
    }
    let b: PreferencesBody = crate::v1::parse_json(&body)?;
    for (name, list) in [
        ("prefer_starts", &b.prefer_starts),
        ("avoid_starts", &b.avoid_starts),
    ] {
        if list.len() > MAX_WISHES {
            return Err(bad(
                "bad_preferences",
                format!("`{name}`: at most {MAX_WISHES} ranges"),
            ));
        }
        for (i, r) in list.iter().enumerate() {
            if hotline_config::parse_time_range(r).is_none() {
                return Err(bad(
                    "bad_preferences",
                    format!(
                        "`{name}[{i}]`: `{r}` is not a range of start times like \"07:00-09:30\""
                    ),
                ));
            }
        }
    }
    append_change(
        &v1,
        &who.user,
        WorkforceChange::PreferencesSet {
            agent: agent.clone(),
            prefer_starts: b.prefer_starts.clone(),
            avoid_starts: b.avoid_starts.clone(),
        },
    )
    .await?;
    Ok(Json(json!({
        "agent": agent,
        "prefer_starts": b.prefer_starts,
        "avoid_starts": b.avoid_starts,
    })))
}

/// `agent`'s approved time off overlapping the week that starts at local minute
/// `week_start_min`, in minutes from that start.
fn time_off_in_week(
    plan: &PlanState,
    agent: &str,
    tz: chrono_tz::Tz,
    week_start_min: i64,
) -> Vec<sched::TimeRange> {
    plan.requests
        .values()
        .filter(|r| r.agent == agent && r.kind == "time_off" && r.state == "approved")
        .filter_map(|r| {
            let start = local_minute(tz, secs(r.from))? - week_start_min;
            let end = local_minute(tz, secs(r.to))? - week_start_min;
            // Only what reaches into the week (and the day before, for the rest rule).
            let (start, end) = (start.max(-1440), end.min(8 * 1440));
            (start < end).then_some(sched::TimeRange { start, end })
        })
        .collect()
}

/// A planned shift's segments as instants: the shift's start in local time, then real
/// minutes from it, so that across a clock change the shift keeps its length and its
/// segments their order (a start the clocks skip is taken at the first instant after).
fn shift_instants(
    tz: chrono_tz::Tz,
    week_start_min: i64,
    shift: &sched::PlannedShift,
) -> Vec<PlannedSegment> {
    let Some(base) = instant_of(tz, week_start_min + shift.start) else {
        return Vec::new();
    };
    let at = |m: i64| {
        Timestamp::from_unix_nanos(base.unix_nanos() + (m - shift.start) * 60 * 1_000_000_000)
    };
    shift
        .segments
        .iter()
        .filter(|s| s.end > s.start)
        .map(|s| PlannedSegment {
            start: at(s.start),
            end: at(s.end),
            activity: s.activity.name().to_string(),
        })
        .collect()
}

/// The end of `agent`'s last segment in the published week `week`.
fn monday_before(plan: &PlanState, agent: &str, week: &str) -> Option<Timestamp> {
    plan.weeks
        .get(&(week.to_string(), agent.to_string()))
        .and_then(|s| s.iter().map(|s| s.end).max())
}

// ---- Requests: time off and swaps -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    /// `time_off` or `swap`.
    kind: String,
    from: String,
    to: String,
    /// The agent asking; an agent asks for itself (the default), a supervisor for anyone.
    #[serde(default)]
    agent: Option<String>,
    /// For a swap: the colleague whose plan in the window is exchanged.
    #[serde(default)]
    with_agent: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// The longest window a request may cover.
const MAX_REQUEST_DAYS: i64 = 31;

fn next_request_id() -> String {
    hotline_model::EventId::new().to_string()
}

/// `POST /api/v1/workforce/requests`.
async fn make_request(
    State(v1): State<V1>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let who = v1.auth.principal(&headers)?;
    let b: RequestBody = crate::v1::parse_json(&body)?;
    let agent = match (who.role, b.agent) {
        (Role::Agent, Some(a)) if who.agent.as_deref() != Some(a.as_str()) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "agents ask for themselves",
            ));
        }
        (Role::Agent, _) => who.agent.clone().unwrap_or_default(),
        (_, Some(a)) => a,
        (_, None) => {
            return Err(bad("bad_request", "`agent` names the agent asking"));
        }
    };
    let from = parse_time("from", &b.from).map_err(|m| bad("bad_request", m))?;
    let to = parse_time("to", &b.to).map_err(|m| bad("bad_request", m))?;
    if to <= from || secs(to) - secs(from) > MAX_REQUEST_DAYS * 86_400 {
        return Err(bad(
            "bad_request",
            format!("`to` is after `from`, at most {MAX_REQUEST_DAYS} days"),
        ));
    }
    let known = |a: &str| {
        v1.centre
            .config()
            .agents
            .iter()
            .any(|x| x.extension.get_ref() == a)
    };
    if !known(&agent) {
        return Err(bad(
            "unknown_agent",
            format!("agent {agent} is not in the configuration"),
        ));
    }
    match (b.kind.as_str(), &b.with_agent) {
        ("time_off", None) => {}
        ("swap", Some(w)) if w != &agent && known(w) => {}
        ("swap", Some(w)) if w == &agent => {
            return Err(bad("bad_request", "a swap is with another agent"));
        }
        ("swap", Some(w)) => {
            return Err(bad(
                "unknown_agent",
                format!("agent {w} is not in the configuration"),
            ));
        }
        ("swap", None) => return Err(bad("bad_request", "a swap names `with_agent`")),
        ("time_off", Some(_)) => {
            return Err(bad("bad_request", "time off names no `with_agent`"));
        }
        (k, _) => {
            return Err(bad(
                "bad_request",
                format!("`kind` {k:?}: `time_off` or `swap`"),
            ));
        }
    }
    let id = next_request_id();
    append_change(
        &v1,
        &who.user,
        WorkforceChange::RequestMade {
            request: id.clone(),
            agent,
            kind: b.kind,
            from,
            to,
            with_agent: b.with_agent,
            note: b.note,
        },
    )
    .await?;
    let plan = v1.workforce.current(&v1).await?;
    let r = plan.requests.get(&id).cloned();
    Ok((StatusCode::CREATED, Json(json!({ "request": r }))))
}

#[derive(Deserialize)]
struct RequestsQuery {
    state: Option<String>,
}

/// `GET /api/v1/workforce/requests[?state=pending]`: newest first; agents see the requests
/// they made and those that would swap with them.
async fn list_requests(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<RequestsQuery>,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let plan = v1.workforce.current(&v1).await?;
    let me = who.agent.clone().unwrap_or_default();
    let mut list: Vec<&Request> = plan
        .requests
        .values()
        .filter(|r| q.state.as_deref().is_none_or(|s| s == r.state))
        .filter(|r| {
            who.role != Role::Agent || r.agent == me || r.with_agent.as_deref() == Some(&me)
        })
        .collect();
    list.sort_by_key(|r| std::cmp::Reverse(r.made_at));
    Ok(Json(json!({ "requests": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    approve: bool,
    #[serde(default)]
    note: Option<String>,
}

/// An agent's published segments in `[from, to)`, cut at the window's edges, by week.
fn cut(
    plan: &PlanState,
    agent: &str,
    from: Timestamp,
    to: Timestamp,
) -> BTreeMap<String, (Vec<PlannedSegment>, Vec<PlannedSegment>)> {
    // week → (kept outside the window, the parts inside it)
    let mut out = BTreeMap::new();
    for ((week, a), segs) in &plan.weeks {
        if a != agent || !segs.iter().any(|s| s.end > from && s.start < to) {
            continue;
        }
        let (mut keep, mut inside) = (Vec::new(), Vec::new());
        for s in segs {
            if s.end <= from || s.start >= to {
                keep.push(s.clone());
                continue;
            }
            if s.start < from {
                keep.push(PlannedSegment {
                    end: from,
                    ..s.clone()
                });
            }
            inside.push(PlannedSegment {
                start: s.start.max(from),
                end: s.end.min(to),
                activity: s.activity.clone(),
            });
            if s.end > to {
                keep.push(PlannedSegment {
                    start: to,
                    ..s.clone()
                });
            }
        }
        out.insert(week.clone(), (keep, inside));
    }
    out
}

/// The shortest rest between two shifts of a plan (a shift: segments that touch), seconds.
fn shortest_rest(segs: &[PlannedSegment]) -> Option<i64> {
    let mut sorted: Vec<&PlannedSegment> = segs.iter().collect();
    sorted.sort_by_key(|s| s.start);
    sorted
        .windows(2)
        .map(|w| secs(w[1].start) - secs(w[0].end))
        .filter(|gap| *gap > 0)
        .min()
}

/// `POST /api/v1/workforce/requests/{id}/decision` `{"approve": bool, "note"?}`
/// (supervisors). Approving time off removes the agent's planned time in the window;
/// approving a swap exchanges the two agents' plans in it, refused when it would leave
/// either with less rest between shifts than `min_rest_hours` (11).
async fn decide_request(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = supervisor(&v1, &headers)?;
    let b: DecisionBody = crate::v1::parse_json(&body)?;
    let _changing = v1.workforce.changing.lock().await;
    let plan = v1.workforce.current(&v1).await?;
    let r = plan.requests.get(&id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no request {id}"),
        )
    })?;
    if r.state != "pending" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_decided",
            format!("request {id} was {} already", r.state),
        ));
    }
    let now = Timestamp::now();
    let mut events = Vec::new();
    let mut changed = Vec::new();
    if b.approve {
        let mut republish = |week: String, agent: &str, segs: Vec<PlannedSegment>| {
            changed.push(json!({ "week": week, "agent": agent, "segments": segs.len() }));
            let mut e = WorkforceEvent::new(
                now,
                WorkforceChange::SchedulePublished {
                    week,
                    agent: agent.to_string(),
                    segments: segs,
                },
            );
            e.by = Some(who.user.clone());
            events.push(hotline_model::Event::Workforce(e));
        };
        match (r.kind.as_str(), r.with_agent.as_deref()) {
            ("swap", Some(other)) => {
                let mine = cut(&plan, &r.agent, r.from, r.to);
                let theirs = cut(&plan, other, r.from, r.to);
                let weeks: BTreeSet<&String> = mine.keys().chain(theirs.keys()).collect();
                let mut plans: Vec<(String, String, Vec<PlannedSegment>)> = Vec::new();
                for week in weeks {
                    let whole = |a: &str| {
                        plan.weeks
                            .get(&(week.clone(), a.to_string()))
                            .cloned()
                            .unwrap_or_default()
                    };
                    let (a_keep, a_in) =
                        mine.get(week).cloned().unwrap_or((whole(&r.agent), vec![]));
                    let (b_keep, b_in) =
                        theirs.get(week).cloned().unwrap_or((whole(other), vec![]));
                    let mut a_new = a_keep;
                    a_new.extend(b_in);
                    let mut b_new = b_keep;
                    b_new.extend(a_in);
                    for (agent, mut segs) in [(r.agent.clone(), a_new), (other.to_string(), b_new)]
                    {
                        segs.sort_by_key(|s| s.start);
                        if shortest_rest(&segs).is_some_and(|g| g < 11 * 3600) {
                            return Err(ApiError::new(
                                StatusCode::CONFLICT,
                                "rule_broken",
                                format!(
                                    "the swap would leave agent {agent} less than 11 hours' rest between shifts in the week of {week}"
                                ),
                            ));
                        }
                        plans.push((week.clone(), agent, segs));
                    }
                }
                for (week, agent, segs) in plans {
                    republish(week, &agent, segs);
                }
            }
            _ => {
                for (week, (keep, _)) in cut(&plan, &r.agent, r.from, r.to) {
                    republish(week, &r.agent, keep);
                }
            }
        }
    }
    let mut e = WorkforceEvent::new(
        now,
        WorkforceChange::RequestDecided {
            request: id.clone(),
            approved: b.approve,
            note: b.note,
        },
    );
    e.by = Some(who.user);
    events.push(hotline_model::Event::Workforce(e));
    // The changed plans and the decision in one transaction.
    v1.centre
        .store()
        .append(events)
        .await
        .map_err(store_error)?;
    let plan = v1.workforce.current(&v1).await?;
    Ok(Json(json!({
        "request": plan.requests.get(&id),
        "changed": changed,
    })))
}
