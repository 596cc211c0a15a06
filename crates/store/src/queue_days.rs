//! Each UTC day's figures per queue (`queue_days`, `queue_day_waits`): what
//! `GET /api/v1/queues` shows for today, kept as events are appended rather than counted
//! again from the day's interactions on every request.
//!
//! An interaction counts exactly as its record (`interactions`) says: on the UTC day its
//! `started_ns` falls in, in the queue its record names now, answered if the record has an
//! `answered_ns`, abandoned if it ended unanswered as `abandoned` or `caller_hangup`. Only
//! events that can change those columns (arrived, dialled, queued, answered, transferred,
//! escalated, ended) are looked at: the record's counted figures are read before and after
//! the event is applied to it, and the difference is added to the day's rows, in the same
//! transaction. A rebuild replays the log through the same code.

use std::collections::HashMap;

use hotline_model::{EndReason, EventKind, Timestamp};

use crate::db::{Conn, q};
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

/// What one interaction's record counts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Counted {
    day_ns: i64,
    queue: String,
    /// `Some(wait bucket)` when answered.
    answered: Option<i64>,
    abandoned: bool,
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

/// What the record of interaction `id` counts for now (`None`: no record, or never queued).
pub(crate) async fn counted(conn: &mut Conn, id: &str) -> Result<Option<Counted>, sqlx::Error> {
    let Some(row) = q(
        "SELECT started_ns, queue, answered_ns, ended_ns, end_reason FROM interactions WHERE id = ?",
    )
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let Some(queue) = row.get::<Option<String>>("queue")? else {
        return Ok(None);
    };
    let started: i64 = row.get("started_ns")?;
    let answered: Option<i64> = row.get("answered_ns")?;
    let ended: Option<i64> = row.get("ended_ns")?;
    let reason: Option<String> = row.get("end_reason")?;
    let gave_up = reason.as_deref().is_some_and(|r| {
        r == EndReason::Abandoned.as_str() || r == EndReason::CallerHangup.as_str()
    });
    Ok(Some(Counted {
        day_ns: started - started.rem_euclid(DAY_NS),
        queue,
        answered: answered.map(|a| wait_bucket(a.saturating_sub(started))),
        abandoned: answered.is_none() && ended.is_some() && gave_up,
    }))
}

/// Moves the day's figures from what a record counted for `before` an event to what it
/// counts for `after`.
pub(crate) async fn change(
    conn: &mut Conn,
    before: Option<Counted>,
    after: Option<Counted>,
) -> Result<(), sqlx::Error> {
    if before == after {
        return Ok(());
    }
    match (&before, &after) {
        (Some(b), Some(a)) if b.day_ns == a.day_ns && b.queue == a.queue => {
            let answered = i64::from(a.answered.is_some()) - i64::from(b.answered.is_some());
            let abandoned = i64::from(a.abandoned) - i64::from(b.abandoned);
            if answered != 0 || abandoned != 0 {
                bump(conn, a.day_ns, &a.queue, [0, answered, abandoned]).await?;
            }
            if b.answered != a.answered {
                if let Some(w) = b.answered {
                    bump_wait(conn, b.day_ns, &b.queue, w, -1).await?;
                }
                if let Some(w) = a.answered {
                    bump_wait(conn, a.day_ns, &a.queue, w, 1).await?;
                }
            }
        }
        _ => {
            if let Some(b) = &before {
                add(conn, b, -1).await?;
            }
            if let Some(a) = &after {
                add(conn, a, 1).await?;
            }
        }
    }
    Ok(())
}

async fn add(conn: &mut Conn, c: &Counted, sign: i64) -> Result<(), sqlx::Error> {
    let answered = if c.answered.is_some() { sign } else { 0 };
    let abandoned = if c.abandoned { sign } else { 0 };
    bump(conn, c.day_ns, &c.queue, [sign, answered, abandoned]).await?;
    if let Some(w) = c.answered {
        bump_wait(conn, c.day_ns, &c.queue, w, sign).await?;
    }
    Ok(())
}

async fn bump(
    conn: &mut Conn,
    day_ns: i64,
    queue: &str,
    [offered, answered, abandoned]: [i64; 3],
) -> Result<(), sqlx::Error> {
    q("INSERT INTO queue_days (day_ns, queue, offered, answered, abandoned) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (day_ns, queue) DO UPDATE SET
           offered = queue_days.offered + excluded.offered,
           answered = queue_days.answered + excluded.answered,
           abandoned = queue_days.abandoned + excluded.abandoned")
    .bind(day_ns)
    .bind(queue.to_owned())
    .bind(offered)
    .bind(answered)
    .bind(abandoned)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

async fn bump_wait(
    conn: &mut Conn,
    day_ns: i64,
    queue: &str,
    wait_s: i64,
    by: i64,
) -> Result<(), sqlx::Error> {
    q(
        "INSERT INTO queue_day_waits (day_ns, queue, wait_s, answered) VALUES (?, ?, ?, ?)
       ON CONFLICT (day_ns, queue, wait_s) DO UPDATE SET
           answered = queue_day_waits.answered + excluded.answered",
    )
    .bind(day_ns)
    .bind(queue.to_owned())
    .bind(wait_s)
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
