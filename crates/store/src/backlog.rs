//! What the writer has not committed yet (the backlog) and how long commits take.
//!
//! Every append queued for the writer is recorded here with the time it was queued and its
//! number of events; the writer removes appends as it commits (or fails) them, oldest first,
//! since the writer takes them in queue order. From this the store answers "how many events
//! are waiting, and since when" without asking the writer.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the commit-latency histogram's buckets; the last bucket is
/// everything above.
pub const COMMIT_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 15.0,
];

/// How long the writer's transactions took, from BEGIN to COMMIT returned (fsync included).
#[derive(Default)]
pub(crate) struct Histogram {
    /// One counter per bucket of [`COMMIT_BUCKETS`], plus one for above the last bound.
    buckets: [AtomicU64; COMMIT_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = COMMIT_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(COMMIT_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn snapshot(&self) -> CommitLatency {
        let buckets = COMMIT_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.buckets)
            .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
            .collect();
        CommitLatency {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// A snapshot of the commit-latency histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommitLatency {
    /// `(upper bound in seconds, commits in this bucket)`, not cumulative; the last bound
    /// is infinity.
    pub buckets: Vec<(f64, u64)>,
    /// Commits observed.
    pub count: u64,
    pub sum_seconds: f64,
}

/// Appends queued but not yet committed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Backlog {
    /// Appends waiting (or being committed).
    pub appends: usize,
    /// Events in them.
    pub events: usize,
    /// How long the oldest of them has waited (zero when there is none).
    pub oldest: Duration,
}

#[derive(Default)]
pub(crate) struct Queue {
    /// `(queued at, events)` per append, oldest first.
    waiting: Mutex<(VecDeque<(Instant, usize)>, usize)>,
}

impl Queue {
    /// Records an append as queued and runs `send` (the channel send) under the same lock,
    /// so that the order here is the writer's order.
    pub(crate) fn push(&self, events: usize, send: impl FnOnce()) {
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        w.0.push_back((Instant::now(), events));
        w.1 += events;
        send();
    }

    /// The writer is done with the `n` oldest appends.
    pub(crate) fn done(&self, n: usize) {
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..n {
            match w.0.pop_front() {
                Some((_, events)) => w.1 -= events,
                None => break,
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Backlog {
        let w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        Backlog {
            appends: w.0.len(),
            events: w.1,
            oldest: w.0.front().map_or(Duration::ZERO, |(at, _)| at.elapsed()),
        }
    }
}
