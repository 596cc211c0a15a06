//! Coverage of several queues by agents with different skills, interval by interval.
//!
//! In each interval the working agents fall into *classes* (agents who can take the same set
//! of queues), and the agents a queue gets are a maximum flow from the classes to the queues,
//! capped by each queue's requirement: the most requirement the working agents can cover
//! whichever way they are spread. The flow is kept maximal as agents come and go, one agent
//! at a time (an augmenting path when one comes; when one goes, its unit is taken back and
//! re-routed if another path exists), so a change costs a few small searches rather than a
//! new flow. With one queue and one class this is `min(working, required)`.
//!
//! For the scheduler it answers the question the greedy and the local search ask: would one
//! more agent of class `k` working in interval `t` cover a missing agent somewhere (possibly
//! by moving another agent to a different queue)? That is whether a queue short of agents can
//! be reached from `k` in the flow's residual graph.

/// Of queues `a` and `b`, each `(missing, required)`, which is missing the larger share of
/// its requirement (compared exactly, without division): where one more agent goes when
/// several queues are short, so that few agents are shared out rather than all going to one.
pub fn cmp_share_missing(a: (u32, u32), b: (u32, u32)) -> std::cmp::Ordering {
    (u64::from(a.0) * u64::from(b.1)).cmp(&(u64::from(b.0) * u64::from(a.1)))
}

/// Per-interval flows of `classes` agent classes to `queues` queues.
#[derive(Clone, Debug)]
pub struct Matching {
    classes: usize,
    queues: usize,
    /// For each class, the queues it may take, as bits and (derived) as a list.
    serves_mask: Vec<u64>,
    serves: Vec<Vec<usize>>,
    /// `[t][q]`: requirement still uncovered.
    deficit: Vec<u32>,
    /// `[t][q]`: the requirement.
    required: Vec<u32>,
    /// `[t][k]`: agents of class `k` working and covering nothing.
    spare: Vec<u32>,
    /// `[t][k][q]`: agents of class `k` covering queue `q`.
    flow: Vec<u32>,
}

impl Matching {
    /// `requirement[q][t]` for each queue (at most 64); bit `q` of `serves_mask[k]` set when
    /// class `k` may take queue `q`.
    pub fn new(requirement: &[Vec<u32>], serves_mask: Vec<u64>) -> Self {
        let queues = requirement.len();
        let classes = serves_mask.len();
        let intervals = requirement.first().map_or(0, Vec::len);
        let mut deficit = vec![0; intervals * queues];
        for (q, r) in requirement.iter().enumerate() {
            for (t, &v) in r.iter().enumerate() {
                deficit[t * queues + q] = v;
            }
        }
        let serves = serves_mask
            .iter()
            .map(|m| (0..queues).filter(|q| m & (1 << q) != 0).collect())
            .collect();
        Matching {
            classes,
            queues,
            serves,
            serves_mask,
            required: deficit.clone(),
            deficit,
            spare: vec![0; intervals * classes],
            flow: vec![0; intervals * classes * queues],
        }
    }

    fn f(&self, t: usize, k: usize, q: usize) -> usize {
        (t * self.classes + k) * self.queues + q
    }

    /// Requirement of queue `q` left uncovered in interval `t`.
    pub fn deficit(&self, t: usize, q: usize) -> u32 {
        self.deficit[t * self.queues + q]
    }

    /// Agents covering queue `q` in interval `t`.
    pub fn covered(&self, t: usize, q: usize) -> u32 {
        (0..self.classes).map(|k| self.flow[self.f(t, k, q)]).sum()
    }

    /// One more agent of class `k` works in interval `t`.
    pub fn add(&mut self, t: usize, k: usize) {
        self.spare[t * self.classes + k] += 1;
        self.augment(t, k);
    }

    /// One agent of class `k` stops working in interval `t` (one must be working).
    pub fn remove(&mut self, t: usize, k: usize) {
        let s = t * self.classes + k;
        if self.spare[s] > 0 {
            self.spare[s] -= 1;
            return;
        }
        let Some(q) = (0..self.queues).find(|&q| self.flow[self.f(t, k, q)] > 0) else {
            return;
        };
        let i = self.f(t, k, q);
        self.flow[i] -= 1;
        self.deficit[t * self.queues + q] += 1;
        // The flow may now be one short of the maximum: only a path through `q` can be new,
        // and it starts at a class with a spare agent.
        for c in 0..self.classes {
            if self.spare[t * self.classes + c] > 0 && self.augment(t, c) {
                break;
            }
        }
    }

    /// Routes one spare agent of class `k` to a queue short of agents, moving other agents
    /// between queues on the way; whether it could.
    fn augment(&mut self, t: usize, k: usize) -> bool {
        if self.spare[t * self.classes + k] == 0 {
            return false;
        }
        // Most often a queue of its own is short: the one missing the largest share.
        let share = |q: usize| {
            let i = t * self.queues + q;
            (self.deficit[i], self.required[i])
        };
        if let Some(&q) = self.serves[k]
            .iter()
            .filter(|&&q| self.deficit[t * self.queues + q] > 0)
            .max_by(|&&a, &&b| cmp_share_missing(share(a), share(b)))
        {
            self.deficit[t * self.queues + q] -= 1;
            self.spare[t * self.classes + k] -= 1;
            let i = self.f(t, k, q);
            self.flow[i] += 1;
            return true;
        }
        // Breadth-first over queues; `via[q]` is the class that reaches `q` and the queue that
        // class came from (none for `k` itself).
        let mut via: Vec<Option<(usize, Option<usize>)>> = vec![None; self.queues];
        let mut frontier: Vec<usize> = Vec::new();
        for &q in &self.serves[k] {
            if via[q].is_none() {
                via[q] = Some((k, None));
                frontier.push(q);
            }
        }
        let mut found = None;
        let mut i = 0;
        while i < frontier.len() {
            let q = frontier[i];
            i += 1;
            if self.deficit[t * self.queues + q] > 0 {
                found = Some(q);
                break;
            }
            // An agent of another class covering `q` could move to a queue of its own.
            for c in 0..self.classes {
                if self.flow[self.f(t, c, q)] == 0 {
                    continue;
                }
                for &q2 in &self.serves[c] {
                    if via[q2].is_none() {
                        via[q2] = Some((c, Some(q)));
                        frontier.push(q2);
                    }
                }
            }
        }
        let Some(mut q) = found else {
            return false;
        };
        self.deficit[t * self.queues + q] -= 1;
        self.spare[t * self.classes + k] -= 1;
        while let Some((c, from)) = via[q] {
            let i = self.f(t, c, q);
            self.flow[i] += 1;
            match from {
                Some(prev) => {
                    let j = self.f(t, c, prev);
                    self.flow[j] -= 1;
                    q = prev;
                }
                None => break,
            }
        }
        true
    }

    /// For each class, whether one more of its agents working in interval `t` would cover
    /// a missing agent: `out[k]`. At most 64 queues (the scheduler checks).
    pub fn useful(&self, t: usize, out: &mut [bool]) {
        // Queues from which a short queue can be reached (a short queue itself, or one an
        // agent covers who could move to such a queue), grown to a fixpoint.
        let mut reach = 0u64;
        for q in 0..self.queues {
            if self.deficit[t * self.queues + q] > 0 {
                reach |= 1 << q;
            }
        }
        loop {
            let before = reach;
            for c in 0..self.classes {
                if self.serves_mask[c] & reach == 0 {
                    continue;
                }
                for q in 0..self.queues {
                    if self.flow[self.f(t, c, q)] > 0 {
                        reach |= 1 << q;
                    }
                }
            }
            if reach == before {
                break;
            }
        }
        for (k, o) in out.iter_mut().enumerate().take(self.classes) {
            *o = self.serves_mask[k] & reach != 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most requirement `working[k]` agents can cover, by trying every split (tiny cases).
    fn brute(req: &[u32], serves: &[Vec<usize>], working: &[u32]) -> u32 {
        fn go(k: usize, left: &mut Vec<u32>, serves: &[Vec<usize>], working: &[u32]) -> u32 {
            if k == working.len() {
                return 0;
            }
            // Class k's agents one at a time: each covers one queue it serves, or nothing.
            fn place(
                n: u32,
                k: usize,
                left: &mut Vec<u32>,
                serves: &[Vec<usize>],
                working: &[u32],
            ) -> u32 {
                if n == 0 {
                    return go(k + 1, left, serves, working);
                }
                let mut best = place(n - 1, k, left, serves, working);
                for &q in &serves[k] {
                    if left[q] > 0 {
                        left[q] -= 1;
                        best = best.max(1 + place(n - 1, k, left, serves, working));
                        left[q] += 1;
                    }
                }
                best
            }
            place(working[k], k, left, serves, working)
        }
        go(0, &mut req.to_vec(), serves, working)
    }

    #[test]
    fn the_flow_stays_maximal_as_agents_come_and_go() {
        let serves = vec![vec![0], vec![0, 1], vec![1, 2], vec![2]];
        let req = [2u32, 1, 2];
        let masks = serves
            .iter()
            .map(|qs| qs.iter().fold(0u64, |m, &q| m | 1 << q))
            .collect();
        let mut m = Matching::new(&req.iter().map(|&r| vec![r]).collect::<Vec<_>>(), masks);
        let mut working = [0u32; 4];
        // A fixed pseudo-random walk of arrivals and departures.
        let mut x = 7u32;
        for _ in 0..400 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let k = (x >> 16) as usize % 4;
            if (x >> 8).is_multiple_of(3) && working[k] > 0 {
                working[k] -= 1;
                m.remove(0, k);
            } else if working[k] < 3 {
                working[k] += 1;
                m.add(0, k);
            }
            let covered: u32 = (0..3).map(|q| m.covered(0, q)).sum();
            assert_eq!(covered, brute(&req, &serves, &working), "{working:?}");
            // One more agent of a class is useful exactly when it raises the best cover.
            let mut useful = [false; 4];
            m.useful(0, &mut useful);
            for k in 0..4 {
                let mut more = working;
                more[k] += 1;
                assert_eq!(
                    useful[k],
                    brute(&req, &serves, &more) > covered,
                    "class {k} with {working:?}"
                );
            }
        }
    }
}
