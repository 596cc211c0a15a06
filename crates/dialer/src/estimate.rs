//! Measured distributions the predictive pacing reads: ring-to-outcome times and handle
//! times, over a sliding window of recent calls.

use std::collections::VecDeque;

/// A sliding window of durations (ms) kept sorted for conditional probabilities.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    order: VecDeque<(u32, bool)>,
    all: Vec<u32>,
    marked: Vec<u32>,
    cap: usize,
}

fn insert(v: &mut Vec<u32>, x: u32) {
    let i = v.partition_point(|&y| y <= x);
    v.insert(i, x);
}

fn remove(v: &mut Vec<u32>, x: u32) {
    let i = v.partition_point(|&y| y < x);
    if v.get(i) == Some(&x) {
        v.remove(i);
    }
}

fn count_le(v: &[u32], x: u64) -> usize {
    v.partition_point(|&y| u64::from(y) <= x)
}

impl Window {
    pub(crate) fn new(cap: usize) -> Self {
        Window {
            order: VecDeque::with_capacity(cap + 1),
            all: Vec::with_capacity(cap + 1),
            marked: Vec::new(),
            cap,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    /// Adds a duration; `mark` sets it apart (a live answer among ring outcomes).
    pub(crate) fn push(&mut self, ms: u64, mark: bool) {
        let x = u32::try_from(ms).unwrap_or(u32::MAX);
        self.order.push_back((x, mark));
        insert(&mut self.all, x);
        if mark {
            insert(&mut self.marked, x);
        }
        if self.order.len() > self.cap
            && let Some((old, m)) = self.order.pop_front()
        {
            remove(&mut self.all, old);
            if m {
                remove(&mut self.marked, old);
            }
        }
    }

    /// Share of marked samples among those longer than `elapsed`: the chance that a call
    /// still ringing after `elapsed` ms ends in a live answer.
    pub(crate) fn marked_share_after(&self, elapsed: u64) -> f64 {
        let all = self.all.len() - count_le(&self.all, elapsed);
        if all == 0 {
            return 0.0;
        }
        let marked = self.marked.len() - count_le(&self.marked, elapsed);
        marked as f64 / all as f64
    }

    /// Mean of the marked samples, ms (None without any).
    pub(crate) fn marked_mean(&self) -> Option<f64> {
        if self.marked.is_empty() {
            return None;
        }
        Some(self.marked.iter().map(|&x| f64::from(x)).sum::<f64>() / self.marked.len() as f64)
    }

    /// Chance that a duration already longer than `elapsed` ends within `horizon` more.
    pub(crate) fn ends_within(&self, elapsed: u64, horizon: u64) -> f64 {
        let done = count_le(&self.all, elapsed);
        let left = self.all.len() - done;
        if left == 0 {
            // Longer than anything measured: as likely to end soon as not.
            return 0.5;
        }
        let within = count_le(&self.all, elapsed.saturating_add(horizon)) - done;
        within as f64 / left as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_shares() {
        let mut w = Window::new(4);
        for (ms, live) in [
            (5_000, true),
            (10_000, true),
            (20_000, false),
            (20_000, false),
        ] {
            w.push(ms, live);
        }
        assert!((w.marked_share_after(0) - 0.5).abs() < 1e-9);
        assert!((w.marked_share_after(6_000) - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(w.marked_share_after(20_000), 0.0);
        assert_eq!(w.marked_mean(), Some(7_500.0));
        assert!((w.ends_within(0, 10_000) - 0.5).abs() < 1e-9);
        assert!((w.ends_within(10_000, 10_000) - 1.0).abs() < 1e-9);
        // The window slides: the oldest sample leaves.
        w.push(30_000, false);
        assert_eq!(w.len(), 4);
        assert_eq!(w.marked_mean(), Some(10_000.0));
    }
}
