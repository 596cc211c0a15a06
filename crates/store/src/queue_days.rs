//! Each UTC day's figures per queue (`queue_days`, `queue_day_waits`): what
//! `GET /api/v1/queues` shows for today, kept as events are appended rather than counted
//! again from the day's interactions on every request. The same per 15-minute interval
//! with wait and talk times (`queue_intervals`, `queue_interval_waits`: the day's report),
//! and each agent's contacts handled per day (`agent_days`).
//!
//! An interaction counts exactly as its record (`interactions`) says: on the UTC day its
//! `started_ns` falls in, in the queue its record names now, answered if the record has an
//! `answered_ns`, abandoned if it ended unanswered as `abandoned` or `caller_hangup`. Only
//! events that can change those columns (arrived, dialled, queued, answered, transferred,
//! escalated, ended) are looked at: the record's counted figures are read before and after
//! the event is applied to it, and the difference is added to the day's rows, in the same
//! transaction. A rebuild replays the log through the same code.

use std::collections::HashMap;

use hotline_model::{AgentId, EndReason, EventKind, Timestamp};

use crate::db::{Conn, q, q_owned};
use crate::{Result, Store};

const SECOND: i64 = 1_000_000_000;
/// A UTC day in nanoseconds.
pub const DAY_NS: i64 = 86_400 * SECOND;

/// UTC midnight of the day `at` falls in.
pub fn day_of(at: Timestamp) -> Timestamp {
    let ns = at.unix_nanos();
    Timestamp::from_unix_nanos(ns - ns.rem_euclid(DAY_NS))
}

/// A wait (arrival to answer) rounded up to whole seconds, 0 for none or a negative one:
/// for a whole number of seconds `t >= 0`, `wait_ns <= t * 1e9` exactly when
/// `wait_bucket(wait_ns) <= t`.
pub(crate) fn wait_bucket(wait_ns: i64) -> i64 {
    if wait_ns <= 0 {
        0
    } else {
        (wait_ns - 1) / SECOND + 1
    }
}

/// Minutes in a report interval.
pub const INTERVAL_MINUTES: i64 = 15;
/// A report interval in nanoseconds.
const INTERVAL_NS: i64 = INTERVAL_MINUTES * 60 * SECOND;

/// What one interaction's record counts for in a queue's day and interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Counted {
    day_ns: i64,
    /// The start of the 15-minute interval the interaction started in.
    interval_ns: i64,
    queue: String,
    /// `Some(wait bucket)` when answered.
    answered: Option<i64>,
    abandoned: bool,
    /// Arrival to answer, when answered.
    wait_ns: i64,
    /// Answer to end, when answered and ended.
    talk_ns: Option<i64>,
}

/// What one interaction's record counts for in every figure kept as a projection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Its queue's figures (`None`: it never reached a queue).
    queue: Option<Counted>,
    /// The UTC day it started and the agent who answered it, when an agent did.
    handled: Option<(i64, String)>,
}

/// Whether `kind` can change what an interaction's record counts for.
pub(crate) fn matters(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Arrived { .. }
            | EventKind::Dialled { .. }
            | EventKind::Queued { .. }
            | EventKind::Answered { .. }
            | EventKind::Transferred { .. }
            | EventKind::Escalated { .. }
            | EventKind::Ended { .. }
    )
}

/// What the record of interaction `id` counts for now.
pub(crate) async fn counted(conn: &mut Conn, id: &str) -> Result<Counts, sqlx::Error> {
    let Some(row) = q(
        "SELECT started_ns, queue, answered_ns, ended_ns, end_reason, agent FROM interactions WHERE id = ?",
    )
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Counts::default());
    };
    let started: i64 = row.get("started_ns")?;
    let answered: Option<i64> = row.get("answered_ns")?;
    let ended: Option<i64> = row.get("ended_ns")?;
    let day_ns = started - started.rem_euclid(DAY_NS);
    let handled = match (answered, row.get::<Option<String>>("agent")?) {
        (Some(_), Some(agent)) => Some((day_ns, agent)),
        _ => None,
    };
    let Some(queue) = row.get::<Option<String>>("queue")? else {
        return Ok(Counts {
            queue: None,
            handled,
        });
    };
    let reason: Option<String> = row.get("end_reason")?;
    let gave_up = reason.as_deref().is_some_and(|r| {
        r == EndReason::Abandoned.as_str() || r == EndReason::CallerHangup.as_str()
    });
    let wait_ns = answered.map_or(0, |a| a.saturating_sub(started));
    Ok(Counts {
        queue: Some(Counted {
            day_ns,
            interval_ns: started - started.rem_euclid(INTERVAL_NS),
            queue,
            answered: answered.map(|_| wait_bucket(wait_ns)),
            abandoned: answered.is_none() && ended.is_some() && gave_up,
            wait_ns,
            talk_ns: answered.zip(ended).map(|(a, e)| e.saturating_sub(a)),
        }),
        handled,
    })
}

/// The two grains a queue's figures are kept at.
#[derive(Clone, Copy)]
enum Grain {
    /// `queue_days`, `queue_day_waits`: offered, answered, abandoned.
    Day,
    /// `queue_intervals`, `queue_interval_waits`: the same, and wait and talk times.
    Interval,
}

/// What a record adds to its row: offered, answered, abandoned, wait, talked, talk.
fn figures(c: &Counted) -> [i64; 6] {
    let answered = c.answered.is_some();
    [
        1,
        i64::from(answered),
        i64::from(c.abandoned),
        if answered { c.wait_ns } else { 0 },
        i64::from(c.talk_ns.is_some()),
        c.talk_ns.unwrap_or(0),
    ]
}

impl Grain {
    fn key(self, c: &Counted) -> i64 {
        match self {
            Grain::Day => c.day_ns,
            Grain::Interval => c.interval_ns,
        }
    }

    /// How many of [`figures`] its row keeps.
    fn width(self) -> usize {
        match self {
            Grain::Day => 3,
            Grain::Interval => 6,
        }
    }
}

/// Moves every projected figure from what a record counted for `before` an event to what
/// it counts for `after`.
pub(crate) async fn change(
    conn: &mut Conn,
    before: Counts,
    after: Counts,
) -> Result<(), sqlx::Error> {
    if before == after {
        return Ok(());
    }
    for grain in [Grain::Day, Grain::Interval] {
        change_queue(conn, grain, before.queue.as_ref(), after.queue.as_ref()).await?;
    }
    if before.handled != after.handled {
        if let Some((day, agent)) = &before.handled {
            bump_handled(conn, *day, agent, -1).await?;
        }
        if let Some((day, agent)) = &after.handled {
            bump_handled(conn, *day, agent, 1).await?;
        }
    }
    Ok(())
}

async fn change_queue(
    conn: &mut Conn,
    grain: Grain,
    before: Option<&Counted>,
    after: Option<&Counted>,
) -> Result<(), sqlx::Error> {
    match (before, after) {
        (Some(b), Some(a)) if grain.key(b) == grain.key(a) && b.queue == a.queue => {
            let (fa, fb) = (figures(a), figures(b));
            let delta: [i64; 6] = std::array::from_fn(|i| fa[i] - fb[i]);
            if delta[..grain.width()].iter().any(|d| *d != 0) {
                bump(conn, grain, grain.key(a), &a.queue, delta).await?;
            }
            if b.answered != a.answered {
                if let Some(w) = b.answered {
                    bump_wait(conn, grain, grain.key(b), &b.queue, w, -1).await?;
                }
                if let Some(w) = a.answered {
                    bump_wait(conn, grain, grain.key(a), &a.queue, w, 1).await?;
                }
            }
        }
        _ => {
            if let Some(b) = before {
                add(conn, grain, b, -1).await?;
            }
            if let Some(a) = after {
                add(conn, grain, a, 1).await?;
            }
        }
    }
    Ok(())
}

async fn add(conn: &mut Conn, grain: Grain, c: &Counted, sign: i64) -> Result<(), sqlx::Error> {
    bump(
        conn,
        grain,
        grain.key(c),
        &c.queue,
        figures(c).map(|f| f * sign),
    )
    .await?;
    if let Some(w) = c.answered {
        bump_wait(conn, grain, grain.key(c), &c.queue, w, sign).await?;
    }
    Ok(())
}

async fn bump(
    conn: &mut Conn,
    grain: Grain,
    key: i64,
    queue: &str,
    [offered, answered, abandoned, wait_ns, talked, talk_ns]: [i64; 6],
) -> Result<(), sqlx::Error> {
    let query = match grain {
        Grain::Day => q(
            "INSERT INTO queue_days (day_ns, queue, offered, answered, abandoned) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (day_ns, queue) DO UPDATE SET
                 offered = queue_days.offered + excluded.offered,
                 answered = queue_days.answered + excluded.answered,
                 abandoned = queue_days.abandoned + excluded.abandoned",
        ),
        Grain::Interval => q(
            "INSERT INTO queue_intervals
                 (start_ns, queue, offered, answered, abandoned, wait_ns, talked, talk_ns)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (start_ns, queue) DO UPDATE SET
                 offered = queue_intervals.offered + excluded.offered,
                 answered = queue_intervals.answered + excluded.answered,
                 abandoned = queue_intervals.abandoned + excluded.abandoned,
                 wait_ns = queue_intervals.wait_ns + excluded.wait_ns,
                 talked = queue_intervals.talked + excluded.talked,
                 talk_ns = queue_intervals.talk_ns + excluded.talk_ns",
        ),
    };
    let query = query
        .bind(key)
        .bind(queue.to_owned())
        .bind(offered)
        .bind(answered)
        .bind(abandoned);
    let query = match grain {
        Grain::Day => query,
        Grain::Interval => query.bind(wait_ns).bind(talked).bind(talk_ns),
    };
    query.execute(&mut *conn).await.map(|_| ())
}

async fn bump_wait(
    conn: &mut Conn,
    grain: Grain,
    key: i64,
    queue: &str,
    wait_s: i64,
    by: i64,
) -> Result<(), sqlx::Error> {
    match grain {
        Grain::Day => q("INSERT INTO queue_day_waits (day_ns, queue, wait_s, answered) VALUES (?, ?, ?, ?)
             ON CONFLICT (day_ns, queue, wait_s) DO UPDATE SET
                 answered = queue_day_waits.answered + excluded.answered"),
        Grain::Interval => q(
            "INSERT INTO queue_interval_waits (start_ns, queue, wait_s, answered) VALUES (?, ?, ?, ?)
             ON CONFLICT (start_ns, queue, wait_s) DO UPDATE SET
                 answered = queue_interval_waits.answered + excluded.answered",
        ),
    }
    .bind(key)
    .bind(queue.to_owned())
    .bind(wait_s)
    .bind(by)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

async fn bump_handled(
    conn: &mut Conn,
    day_ns: i64,
    agent: &str,
    by: i64,
) -> Result<(), sqlx::Error> {
    q(
        "INSERT INTO agent_days (day_ns, agent, handled) VALUES (?, ?, ?)
       ON CONFLICT (day_ns, agent) DO UPDATE SET handled = agent_days.handled + excluded.handled",
    )
    .bind(day_ns)
    .bind(agent.to_owned())
    .bind(by)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// One queue's figures over the interactions started from a UTC midnight on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueDay {
    /// Interactions whose record names this queue.
    pub offered: u64,
    /// ... of which answered.
    pub answered: u64,
    /// ... of which ended unanswered as abandoned or by the caller hanging up.
    pub abandoned: u64,
    /// Answered ones by wait rounded up to whole seconds (up to the bound asked for).
    waits: Vec<(i64, u64)>,
}

impl QueueDay {
    /// Answered within `target_seconds` of arrival (`answered - started <= target`), or
    /// `None` when this cannot be told from whole-second buckets: a target that is not a
    /// whole number of seconds, is negative, or is above the bound the figures were read
    /// with.
    pub fn answered_within(&self, target_seconds: f64, bound: u32) -> Option<u64> {
        if !(0.0..=f64::from(bound)).contains(&target_seconds) || target_seconds.fract() != 0.0 {
            return None;
        }
        let t = target_seconds as i64;
        Some(
            self.waits
                .iter()
                .filter(|(w, _)| *w <= t)
                .map(|(_, n)| *n)
                .sum(),
        )
    }
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Each queue's figures over the interactions started at or after the UTC midnight
    /// `since` falls in (today's, with today's midnight), from the `queue_days` projection:
    /// a handful of rows whatever the day's volume. Answered-within figures are kept for
    /// targets up to `wait_bound` seconds (see [`QueueDay::answered_within`]).
    pub async fn queue_days_since(
        &self,
        since: Timestamp,
        wait_bound: u32,
    ) -> Result<HashMap<String, QueueDay>> {
        let day = day_of(since).unix_nanos();
        let pool = self.read_pool();
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
        let rows = q(
            "SELECT queue, CAST(SUM(offered) AS BIGINT), CAST(SUM(answered) AS BIGINT),
                        CAST(SUM(abandoned) AS BIGINT)
                 FROM queue_days WHERE day_ns >= ? GROUP BY queue",
        )
        .bind(day)
        .fetch_all(pool)
        .await?;
        let mut out: HashMap<String, QueueDay> = HashMap::with_capacity(rows.len());
        for r in &rows {
            out.insert(
                r.at(0)?,
                QueueDay {
                    offered: count(r.at(1)?),
                    answered: count(r.at(2)?),
                    abandoned: count(r.at(3)?),
                    waits: Vec::new(),
                },
            );
        }
        let waits = q(
            "SELECT queue, wait_s, CAST(SUM(answered) AS BIGINT) FROM queue_day_waits
             WHERE day_ns >= ? AND wait_s <= ? GROUP BY queue, wait_s",
        )
        .bind(day)
        .bind(i64::from(wait_bound))
        .fetch_all(pool)
        .await?;
        for r in &waits {
            let queue: String = r.at(0)?;
            let n = count(r.at(2)?);
            if n > 0 {
                out.entry(queue).or_default().waits.push((r.at(1)?, n));
            }
        }
        Ok(out)
    }
}

/// One queue's figures over one report interval (see [`Store::queue_intervals`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInterval {
    /// The interval's start ([`INTERVAL_MINUTES`] long, aligned on UTC midnight).
    pub start: Timestamp,
    pub queue: String,
    /// Interactions started in the interval whose record names this queue.
    pub offered: u64,
    /// ... of which answered.
    pub answered: u64,
    /// ... of which answered within the queue's target.
    pub answered_in_target: u64,
    /// ... of which ended unanswered as abandoned or by the caller hanging up.
    pub abandoned: u64,
    /// The answered ones' waits (arrival to answer), summed.
    pub wait_ns: i64,
    /// Answered and ended.
    pub talked: u64,
    /// Their times from answer to end, summed.
    pub talk_ns: i64,
}

impl Store {
    /// Each queue's figures per report interval over the interactions started in
    /// `[from, to)` (interval-aligned: the intervals starting in that span), from the
    /// `queue_intervals` projection: a few rows per queue and interval whatever the
    /// volume. `answered_in_target` counts the waits of at most the queue's target in
    /// `targets` (whole seconds; `default_target` for a queue not named there).
    pub async fn queue_intervals(
        &self,
        from: Timestamp,
        to: Timestamp,
        targets: &[(String, u32)],
        default_target: u32,
    ) -> Result<Vec<QueueInterval>> {
        let pool = self.read_pool();
        let rows = q(
            "SELECT start_ns, queue, offered, answered, abandoned, wait_ns, talked, talk_ns
             FROM queue_intervals WHERE start_ns >= ? AND start_ns < ? AND offered > 0
             ORDER BY start_ns, queue",
        )
        .bind(from.unix_nanos())
        .bind(to.unix_nanos())
        .fetch_all(pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut index: HashMap<(i64, String), usize> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let start: i64 = r.at(0)?;
            let queue: String = r.at(1)?;
            index.insert((start, queue.clone()), out.len());
            out.push(QueueInterval {
                start: Timestamp::from_unix_nanos(start),
                queue,
                offered: count(r.at(2)?),
                answered: count(r.at(3)?),
                answered_in_target: 0,
                abandoned: count(r.at(4)?),
                wait_ns: r.at(5)?,
                talked: count(r.at(6)?),
                talk_ns: r.at(7)?,
            });
        }
        // Each queue's own target, in one pass over the day's waits.
        let mut sql = String::from(
            "SELECT start_ns, queue, CAST(SUM(answered) AS BIGINT) FROM queue_interval_waits
             WHERE start_ns >= ? AND start_ns < ? AND wait_s <= ",
        );
        if targets.is_empty() {
            sql.push_str("CAST(? AS BIGINT)");
        } else {
            sql.push_str("CASE queue");
            for _ in targets {
                sql.push_str(" WHEN ? THEN CAST(? AS BIGINT)");
            }
            sql.push_str(" ELSE CAST(? AS BIGINT) END");
        }
        sql.push_str(" GROUP BY start_ns, queue");
        let mut query = q_owned(sql).bind(from.unix_nanos()).bind(to.unix_nanos());
        for (queue, target) in targets {
            query = query.bind(queue.clone()).bind(i64::from(*target));
        }
        let waits = query
            .bind(i64::from(default_target))
            .fetch_all(pool)
            .await?;
        for r in &waits {
            let key: (i64, String) = (r.at(0)?, r.at(1)?);
            if let Some(row) = index.get(&key).and_then(|&i| out.get_mut(i)) {
                // The two reads are not one snapshot: an answer committed between them
                // must not make more answered within the target than answered.
                row.answered_in_target = count(r.at(2)?).min(row.answered);
            }
        }
        Ok(out)
    }

    /// Interactions answered by each agent, over those started from the UTC midnight
    /// `since` falls in on (today's, with today's midnight), from the `agent_days`
    /// projection.
    pub async fn handled_since(&self, since: Timestamp) -> Result<Vec<(AgentId, u64)>> {
        let rows = q("SELECT agent, CAST(SUM(handled) AS BIGINT) FROM agent_days
             WHERE day_ns >= ? GROUP BY agent ORDER BY agent")
        .bind(day_of(since).unix_nanos())
        .fetch_all(self.read_pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let n = count(r.at(1)?);
            if n > 0 {
                out.push((AgentId::new(r.at::<String>(0)?), n));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_buckets_answer_whole_second_targets_exactly() {
        for t in [0i64, 1, 19, 20, 21, 3600] {
            for w in [
                -5 * SECOND,
                0,
                1,
                t * SECOND - 1,
                t * SECOND,
                t * SECOND + 1,
                (t + 1) * SECOND,
            ] {
                assert_eq!(w <= t * SECOND, wait_bucket(w) <= t, "wait {w} target {t}");
            }
        }
    }

    #[test]
    fn days_are_utc_midnights() {
        let at = Timestamp::from_unix_nanos(DAY_NS * 3 + 5);
        assert_eq!(day_of(at).unix_nanos(), DAY_NS * 3);
        let before_epoch = Timestamp::from_unix_nanos(-1);
        assert_eq!(day_of(before_epoch).unix_nanos(), -DAY_NS);
    }
}
