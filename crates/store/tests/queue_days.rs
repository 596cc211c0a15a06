//! The day's queue figures (`queue_days`), kept as events are appended, against counting
//! the day's interaction records as `GET /api/v1/queues` used to on every request: equal on
//! generated days with abandoned calls, waits on either side of a target, transfers between
//! queues, calls across midnight, events out of time order; and equal again after a
//! restart and after a rebuild from the log; on SQLite and on PostgreSQL when it can run.
//! The same for each queue's 15-minute intervals (`queue_intervals`, the day's report) and
//! each agent's contacts handled (`agent_days`).

mod common;

use common::*;
use hotline_model::*;
use std::collections::BTreeMap;

use hotline_store::{
    DAY_NS, Database, INTERVAL_MINUTES, QueueInterval, Store, StoreOptions, day_of,
};

const S: i64 = 1_000_000_000;
const QUEUES: [&str; 3] = ["accounts", "cards", "general"];
const TARGETS: [f64; 7] = [0.0, 1.0, 19.0, 20.0, 21.0, 60.0, 3600.0];

/// xorshift64*: the same days on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

fn at(ns: i64) -> Timestamp {
    Timestamp::from_unix_nanos(ns)
}

fn queued(i: InteractionId, ns: i64, queue: &str) -> Event {
    ev(
        i,
        at(ns),
        EventKind::Queued {
            queue: queue.into(),
            priority: 0,
        },
    )
}

fn ended(i: InteractionId, ns: i64, reason: EndReason) -> Event {
    ev(i, at(ns), EventKind::Ended { reason })
}

/// Answered by one of three agents, by the interaction's number.
fn answered(i: InteractionId, ns: i64) -> Event {
    let agent = ["1003", "1004", "1005"][(i.as_u128() % 3) as usize];
    ev(
        i,
        at(ns),
        EventKind::Answered {
            agent: agent.into(),
        },
    )
}

/// One interaction's events, starting at `start` (unix nanoseconds), in one of the shapes
/// that matter to the figures.
fn interaction(rng: &mut Rng, n: u64, start: i64) -> Vec<Event> {
    let i = InteractionId::from_parts(1_795_000_000_000 + n, u128::from(n));
    let q = QUEUES[rng.below(3) as usize];
    let other =
        QUEUES[(rng.below(2) as usize + 1 + QUEUES.iter().position(|x| *x == q).unwrap_or(0)) % 3];
    // Waits on and around the targets, to the nanosecond, and ordinary ones.
    let wait = match rng.below(8) {
        0 => 20 * S,
        1 => 20 * S + 1,
        2 => 20 * S - 1,
        3 => 0,
        4 => S,
        5 => rng.below(3_600) * S + rng.below(S as u64),
        _ => rng.below(40 * S as u64),
    };
    let mut v = vec![arrived(i, at(start), "+442079460018")];
    match rng.below(12) {
        // Answered, ended by either side.
        0..=3 => {
            v.push(queued(i, start + S, q));
            v.push(answered(i, start + wait));
            v.push(ended(i, start + wait + 90 * S, EndReason::AgentHangup));
        }
        4 => {
            v.push(queued(i, start + S, q));
            v.push(answered(i, start + wait));
            v.push(ended(i, start + wait + 30 * S, EndReason::CallerHangup));
        }
        // Abandoned while waiting.
        5 => {
            v.push(queued(i, start + S, q));
            v.push(ev(
                i,
                at(start + wait),
                EventKind::Abandoned {
                    wait_secs: wait as f64 / 1e9,
                },
            ));
            v.push(ended(i, start + wait, EndReason::Abandoned));
        }
        // The caller hangs up unanswered; or the centre ends it (not an abandon).
        6 => {
            v.push(queued(i, start + S, q));
            v.push(ended(i, start + wait, EndReason::CallerHangup));
        }
        7 => {
            v.push(queued(i, start + S, q));
            let r = [
                EndReason::Timeout,
                EndReason::Voicemail,
                EndReason::AgentHangup,
            ][rng.below(3) as usize];
            v.push(ended(i, start + wait, r));
        }
        // Transferred to another queue, answered there (counts in the second queue).
        8 => {
            v.push(queued(i, start + S, q));
            v.push(ev(
                i,
                at(start + 2 * S),
                EventKind::Transferred {
                    to: Target::Queue(other.into()),
                },
            ));
            v.push(answered(i, start + wait));
            v.push(ended(i, start + wait + 10 * S, EndReason::AgentHangup));
        }
        // Answered, then escalated to another queue; a second answer and end change
        // nothing (the record keeps the first).
        9 => {
            v.push(queued(i, start + S, q));
            v.push(answered(i, start + wait));
            v.push(ev(
                i,
                at(start + wait + 5 * S),
                EventKind::Escalated {
                    to: Target::Queue(other.into()),
                    reason: "senior".into(),
                },
            ));
            v.push(answered(i, start + wait + 9 * S));
            v.push(ended(i, start + wait + 60 * S, EndReason::CallerHangup));
            v.push(ended(i, start + wait + 61 * S, EndReason::Abandoned));
        }
        // Still waiting, or never queued.
        10 => v.push(queued(i, start + S, q)),
        _ => v.push(ended(i, start + 3 * S, EndReason::CallerHangup)),
    }
    v
}

/// The figures as `GET /api/v1/queues` counted them from today's records, per queue and
/// target: (offered, answered, abandoned, answered within the target).
fn counted_from_records(
    records: &[InteractionRecord],
    queue: &str,
    target_seconds: f64,
) -> (u64, u64, u64, u64) {
    let mine: Vec<_> = records
        .iter()
        .filter(|r| r.queue.as_ref().is_some_and(|n| n.as_str() == queue))
        .collect();
    let answered = mine.iter().filter(|r| r.answered.is_some()).count() as u64;
    let target_nanos = (target_seconds * 1e9) as i64;
    let in_target = mine
        .iter()
        .filter(|r| {
            r.answered
                .is_some_and(|a| a.unix_nanos() - r.started.unix_nanos() <= target_nanos)
        })
        .count() as u64;
    let abandoned = mine
        .iter()
        .filter(|r| {
            r.answered.is_none()
                && r.ended.is_some()
                && matches!(
                    r.end_reason,
                    Some(EndReason::Abandoned) | Some(EndReason::CallerHangup)
                )
        })
        .count() as u64;
    (mine.len() as u64, answered, abandoned, in_target)
}

/// Compares the projection with the count from records from each midnight in `days`.
async fn assert_same(store: &Store, days: &[i64]) -> u64 {
    let mut compared = 0;
    for &day in days {
        let since = at(day);
        let records = store.interactions_since(since).await.unwrap();
        let figures = store.queue_days_since(since, 86_400).await.unwrap();
        for q in QUEUES.iter().chain(["nobody"].iter()) {
            let f = figures.get(*q).cloned().unwrap_or_default();
            for target in TARGETS {
                let want = counted_from_records(&records, q, target);
                let got = (
                    f.offered,
                    f.answered,
                    f.abandoned,
                    f.answered_within(target, 86_400).unwrap(),
                );
                assert_eq!(got, want, "queue {q}, day {day}, target {target}");
                compared += want.0;
            }
        }
        let end = at(day + DAY_NS);
        let day_records = store.interactions_between(since, end).await.unwrap();
        for (targets, default) in [
            (
                vec![("accounts".to_string(), 20), ("cards".to_string(), 0)],
                3_600,
            ),
            (Vec::new(), 19),
            (vec![("general".to_string(), 21)], 1),
        ] {
            let got = store
                .queue_intervals(since, end, &targets, default)
                .await
                .unwrap();
            let want = intervals_from_records(&day_records, &targets, default);
            assert_eq!(got, want, "intervals of day {day}, targets {targets:?}");
        }
        let mut handled: BTreeMap<String, u64> = BTreeMap::new();
        for r in store.interactions_since(since).await.unwrap() {
            if let (Some(_), Some(agent)) = (r.answered, &r.agent) {
                *handled.entry(agent.as_str().to_string()).or_default() += 1;
            }
        }
        let got: BTreeMap<String, u64> = store
            .handled_since(since)
            .await
            .unwrap()
            .into_iter()
            .map(|(a, n)| (a.as_str().to_string(), n))
            .collect();
        assert_eq!(got, handled, "handled from day {day}");
    }
    compared
}

/// Each queue's intervals counted from the records of interactions started in one day.
fn intervals_from_records(
    records: &[InteractionRecord],
    targets: &[(String, u32)],
    default: u32,
) -> Vec<QueueInterval> {
    let step = INTERVAL_MINUTES * 60 * S;
    let mut rows: BTreeMap<(i64, String), QueueInterval> = BTreeMap::new();
    for r in records {
        let Some(queue) = r.queue.as_ref().map(|q| q.as_str().to_string()) else {
            continue;
        };
        let started = r.started.unix_nanos();
        let start = started - started.rem_euclid(step);
        let target = targets
            .iter()
            .find(|(q, _)| *q == queue)
            .map_or(default, |(_, t)| *t);
        let (_, answered, abandoned, in_target) =
            counted_from_records(std::slice::from_ref(r), &queue, f64::from(target));
        let row = rows
            .entry((start, queue.clone()))
            .or_insert_with(|| QueueInterval {
                start: at(start),
                queue,
                offered: 0,
                answered: 0,
                answered_in_target: 0,
                abandoned: 0,
                wait_ns: 0,
                talked: 0,
                talk_ns: 0,
            });
        row.offered += 1;
        row.answered += answered;
        row.abandoned += abandoned;
        row.answered_in_target += in_target;
        if let Some(a) = r.answered {
            row.wait_ns += a.unix_nanos() - started;
            if let Some(e) = r.ended {
                row.talked += 1;
                row.talk_ns += e.unix_nanos() - a.unix_nanos();
            }
        }
    }
    rows.into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_days_figures_equal_counting_the_records_across_days_restarts_and_rebuilds() {
    for db in backends("the_days_figures_equal_counting_the_records").await {
        eprintln!("on {}", db.name);
        figures_equal_counting(&db.database).await;
    }
}

async fn figures_equal_counting(database: &Database) {
    let store = Store::open_database(database, StoreOptions::default())
        .await
        .unwrap();
    let day0 = t(0).unix_nanos();
    assert_eq!(day_of(t(0)).unix_nanos(), day0);
    let days: Vec<i64> = (-1..=3).map(|d| day0 + d * DAY_NS).collect();

    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut calls: Vec<Vec<Event>> = Vec::new();
    for n in 0..1_500u64 {
        // Most in the three days; some in the last minutes before a midnight, so that
        // they are answered and end on the next day.
        let start = match rng.below(5) {
            0 => day0 + rng.below(3) * DAY_NS - rng.below(120) * S,
            _ => day0 + rng.below(3 * DAY_NS as u64),
        };
        calls.push(interaction(&mut rng, n, start));
    }
    // A call whose first event is dated before midnight and whose arrival after it: the
    // record starts at the arrival, so it counts on the second day.
    let moved = InteractionId::from_parts(1_796_000_000_000, 7);
    calls.push(vec![
        ev(
            moved,
            at(day0 + DAY_NS - S),
            EventKind::CustomerIdentified {
                customer: "c-1".into(),
            },
        ),
        queued(moved, day0 + DAY_NS - S / 2, "cards"),
        arrived(moved, at(day0 + DAY_NS + S), "+442079460019"),
        answered(moved, day0 + DAY_NS + 21 * S),
    ]);

    // Interleave the calls' events as a live centre would: each call's in its own order,
    // the calls mixed, appended in groups.
    let mut cursors = vec![0usize; calls.len()];
    let mut left: usize = calls.iter().map(Vec::len).sum();
    let mut batch = Vec::new();
    let mut checked = usize::MAX;
    while left > 0 {
        let c = rng.below(calls.len() as u64) as usize;
        if cursors[c] < calls[c].len() {
            batch.push(calls[c][cursors[c]].clone());
            cursors[c] += 1;
            left -= 1;
        }
        if batch.len() >= 50 || left == 0 {
            store.append(std::mem::take(&mut batch)).await.unwrap();
        }
        // Look at the figures while the days are under way too.
        if left.is_multiple_of(1_000) && left > 0 && batch.is_empty() && checked != left {
            checked = left;
            assert_same(&store, &days).await;
        }
    }
    // Pages (on this engine too) give the records of interactions_since, in its order,
    // oldest first and newest first.
    let all = store.interactions_since(at(days[0])).await.unwrap();
    for newest_first in [false, true] {
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .interactions_page(at(days[0]), after.as_ref(), None, newest_first, 97)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(hotline_store::PageCursor::after(last));
            walked.extend(page.iter().map(|r| r.id));
        }
        let mut want: Vec<_> = all.iter().map(|r| r.id).collect();
        if newest_first {
            want.reverse();
        }
        assert_eq!(walked, want, "newest first: {newest_first}");
    }
    let compared = assert_same(&store, &days).await;
    assert!(compared > 1_000, "{compared}");
    let dump = store.dump_projections().await.unwrap();
    assert!(dump.contains("## queue_days ("), "{}", &dump[..200]);
    assert!(dump.contains("## queue_intervals ("), "{}", &dump[..200]);
    assert!(dump.contains("## agent_days ("), "{}", &dump[..200]);

    // A rebuild from the log gives the same rows.
    store.rebuild_projections().await.unwrap();
    assert_eq!(store.dump_projections().await.unwrap(), dump);
    store.close().await;

    // After a restart (which closes the open ones as interrupted: not abandons, so the
    // figures only lose nothing and gain nothing but those ends) they still agree.
    let store = Store::open_database(database, StoreOptions::default())
        .await
        .unwrap();
    assert!(!store.recovery().interrupted.is_empty());
    assert_same(&store, &days).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_built_before_the_figures_gets_them_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotline.db");
    let store = Store::open(&path).await.unwrap();
    let i = InteractionId::from_parts(1_795_000_000_000, 1);
    store
        .append(answered_call(i, 30, "c-1", "cards", "1003", "resolved"))
        .await
        .unwrap();
    store.close().await;
    // As an older build left it: no figures, projections of version 1.
    on_the_file(
        &path,
        &[
            "DELETE FROM queue_days",
            "DELETE FROM queue_day_waits",
            "DELETE FROM queue_intervals",
            "DELETE FROM queue_interval_waits",
            "DELETE FROM agent_days",
            "UPDATE meta SET value = '1' WHERE key = 'projection_version'",
        ],
    )
    .await;
    let store = Store::open(&path).await.unwrap();
    assert!(store.recovery().projections_rebuilt_from > 0);
    let f = store.queue_days_since(t(0), 60).await.unwrap();
    let cards = f.get("cards").cloned().unwrap_or_default();
    assert_eq!((cards.offered, cards.answered, cards.abandoned), (1, 1, 0));
    let day = day_of(t(0));
    let end = Timestamp::from_unix_nanos(day.unix_nanos() + DAY_NS);
    let intervals = store.queue_intervals(day, end, &[], 60).await.unwrap();
    assert_eq!(intervals.len(), 1, "{intervals:?}");
    assert_eq!(
        (
            intervals[0].offered,
            intervals[0].answered,
            intervals[0].talked
        ),
        (1, 1, 1)
    );
    let handled = store.handled_since(day).await.unwrap();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!((handled[0].0.as_str(), handled[0].1), ("1003", 1));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_the_intervals_gets_them_from_its_records_at_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotline.db");
    let store = Store::open(&path).await.unwrap();
    let day0 = t(0).unix_nanos();
    let days: Vec<i64> = (-1..=2).map(|d| day0 + d * DAY_NS).collect();
    let mut rng = Rng(0x0bad_cafe_f00d_1234);
    for n in 0..400u64 {
        let start = match rng.below(4) {
            0 => day0 + rng.below(2) * DAY_NS - rng.below(120) * S,
            _ => day0 + rng.below(2 * DAY_NS as u64),
        };
        store.append(interaction(&mut rng, n, start)).await.unwrap();
    }
    store.close().await;
    // As a build of schema 12 left it: no interval or agent tables.
    on_the_file(
        &path,
        &[
            "DROP TABLE queue_intervals",
            "DROP TABLE queue_interval_waits",
            "DROP TABLE agent_days",
            "DELETE FROM schema_migrations WHERE version = 13",
        ],
    )
    .await;
    // The migration fills them from the records; the log is not replayed.
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.recovery().projections_rebuilt_from, 0);
    assert!(assert_same(&store, &days).await > 100);
    store.close().await;
}

/// Runs `statements` on the SQLite file at `path` behind the store's back (as an older build
/// would have left it).
async fn on_the_file(path: &std::path::Path, statements: &[&'static str]) {
    use sqlx::ConnectOptions;
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap();
    for &sql in statements {
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}
