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
    AgentState, MAX_SEGMENTS_PER_EVENT, PlannedSegment, Seq, Timestamp, WorkforceChange,
    WorkforceEvent,
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
}

/// The published plan: each (week, agent)'s segments, as of log position `seq`.
#[derive(Default)]
struct PlanState {
    seq: Seq,
    weeks: BTreeMap<(String, String), Vec<PlannedSegment>>,
}

/// The plan, built from the log and kept up with it.
#[derive(Default)]
pub struct Plans {
    state: tokio::sync::Mutex<Arc<PlanState>>,
}

impl Plans {
    pub fn new() -> Arc<Plans> {
        Arc::default()
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
        let mut next = PlanState {
            seq: guard.seq,
            weeks: guard.weeks.clone(),
        };
        for e in events {
            next.seq = e.seq;
            if let WorkforceChange::SchedulePublished {
                week,
                agent,
                segments,
            } = e.change
            {
                if segments.is_empty() {
                    next.weeks.remove(&(week, agent));
                } else {
                    next.weeks.insert((week, agent), segments);
                }
            }
        }
        *guard = Arc::new(next);
        Ok(guard.clone())
    }
}

fn store_error(e: hotline_store::Error) -> ApiError {
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

fn activity_of(s: &str) -> Option<Activity> {
    Some(match s {
        "work" => Activity::Work,
        "break" => Activity::Break,
        "lunch" => Activity::Lunch,
        "offline" => Activity::Offline,
        _ => return None,
    })
}

/// Unix seconds of `YYYY-MM-DD` 00:00 UTC, if `week` is such a date and a Monday.
fn monday(week: &str) -> Result<i64, ApiError> {
    let ts = (week.len() == 10)
        .then(|| Timestamp::parse_rfc3339(&format!("{week}T00:00:00Z")).ok())
        .flatten()
        .ok_or_else(|| bad("bad_week", "the week is its Monday's date, YYYY-MM-DD"))?;
    let secs = ts.unix_nanos().div_euclid(1_000_000_000);
    // 1970-01-01 was a Thursday.
    if (secs.div_euclid(86_400) + 3).rem_euclid(7) != 0 {
        return Err(bad(
            "bad_week",
            format!("{week} is not a Monday: a week is named by its Monday"),
        ));
    }
    Ok(secs)
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
/// midnight; the centre's Monday may begin up to 14 hours either side of it).
fn check_segments(week_start: i64, segs: &mut [PlannedSegment]) -> Result<(), String> {
    segs.sort_by_key(|s| s.start);
    let (lo, hi) = (week_start - 14 * 3600, week_start + 7 * 86_400 + 14 * 3600);
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
        if activity_of(&s.activity).is_none() {
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
    let mut agents: BTreeMap<String, Vec<PlannedSegment>> = if csv {
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
    // Agents planned that week before and left out now: their week is cleared.
    let plan = v1.workforce.current(&v1).await?;
    let cleared: Vec<String> = plan
        .weeks
        .keys()
        .filter(|(w, a)| *w == week && !agents.contains_key(a))
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
                week: week.clone(),
                agent,
                segments: segs,
            },
        );
        e.by = Some(who.user.clone());
        events.push(hotline_model::Event::Workforce(e));
    }
    let cleared_n = events.len() - planned;
    v1.centre
        .store()
        .submit(events)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({
        "week": week,
        "agents": planned,
        "segments": segments,
        "cleared": cleared_n,
    })))
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
    if to.unix_nanos() - from.unix_nanos() > MAX_WINDOW_DAYS * 86_400 * 1_000_000_000 {
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

fn activity_name(a: Activity) -> &'static str {
    match a {
        Activity::Work => "work",
        Activity::Break => "break",
        Activity::Lunch => "lunch",
        Activity::Offline => "offline",
    }
}

fn actual_name(a: Actual) -> &'static str {
    match a {
        Actual::Ready => "ready",
        Actual::NotReady => "not_ready",
        Actual::Break => "break",
        Actual::LoggedOut => "logged_out",
    }
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
    let who = v1.auth.principal(&headers)?;
    let only = visible(&who, q.agent.as_deref())?;
    let (from, to) = window(&q)?;
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
    let plan = v1.workforce.current(&v1).await?;
    // The plan around the window: the segment running when it opens starts before it.
    let lookback = Timestamp::from_unix_nanos(from.unix_nanos() - 86_400 * 1_000_000_000);
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
    let mut agents = Vec::new();
    for (agent, segs) in &planned {
        let segs: Vec<Segment> = segs
            .iter()
            .filter_map(|(_, s)| {
                Some(Segment {
                    start: secs(s.start).div_euclid(60),
                    end: secs(s.end).div_euclid(60),
                    activity: activity_of(&s.activity)?,
                })
            })
            .collect();
        let mut ch = changes.remove(agent).unwrap_or_default();
        // A log with two changes in one second keeps their order; the core wants them
        // ordered by time, which they are (the log is appended in time order per agent).
        ch.sort_by_key(|c| c.at);
        let score = if until > from {
            adherence::score(
                &segs,
                &ch,
                Actual::LoggedOut,
                secs(from),
                secs(until),
                grace,
            )
        } else {
            Ok(adherence::Adherence::default())
        }
        .map_err(|e| bad("bad_schedule", format!("agent {agent}: {e}")))?;
        let standing = adherence::now(&segs, &ch, Actual::LoggedOut, secs(now), grace)
            .map_err(|e| bad("bad_schedule", format!("agent {agent}: {e}")))?;
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
                "planned": activity_name(e.planned),
                "actual": actual_name(e.actual),
            })).collect::<Vec<_>>(),
            "now": {
                "planned": standing.planned.map(activity_name),
                "actual": actual_name(standing.actual),
                "out_of_adherence": standing.out_of_adherence,
                "out_since": standing.out_since.map(at_secs),
            },
        }));
    }
    Ok(Json(json!({
        "from": from,
        "to": to,
        "scored_until": until,
        "grace_seconds": grace,
        "agents": agents,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_is_named_by_its_monday() {
        assert!(monday("2026-12-07").is_ok());
        assert!(monday("2026-12-08").is_err());
        assert!(monday("2026-13-07").is_err());
        assert!(monday("07-12-2026").is_err());
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
            vec![seg("2026-12-20T09:00:00Z", "2026-12-20T10:00:00Z", "work")],
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
