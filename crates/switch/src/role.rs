//! Which node of a pair routes calls: the one holding the routing lease in the shared store.
//!
//! A sans-IO state machine, like the routing engine: the shell asks the store when
//! [`LeaseKeeper::poll_timeout`] says so ([`Action::Ask`]), hands the answer back
//! ([`LeaseKeeper::answered`]) and acts on what comes out: start routing with an epoch
//! ([`Action::Lead`]) or stop at once ([`Action::StepDown`]). No clock is read inside.
//!
//! Safety rests on two things:
//! - **Fencing** in the store: every write carries the epoch, and a write under an epoch
//!   that is no longer the lease's is refused. A node that lost its lease can never write
//!   again, whatever it believes.
//! - **Stepping down early**: a node counts its lease from when it *asked* (not when the
//!   answer came), and stops leading `margin` before that runs out unless a renewal came
//!   back, so it stops ringing phones before another node can take over. Each question has
//!   an id; an answer to a question no longer in flight (the shell gave up on it) is
//!   ignored, since the time it was asked can no longer be vouched for.
//!
//! The store's clock decides expiry for every node, so the nodes' clocks may disagree. What
//! must hold: clocks *run* at nearly the same rate over one lease, and, when the database
//! fails over to a standby on another host, that host's clock is within `margin` of the old
//! one's (NTP keeps both well within the default second).

use std::time::{Duration, Instant};

/// How the lease is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a lease lasts once taken or renewed (the store's `ttl`).
    pub ttl: Duration,
    /// How often the holder renews and a standby tries to take it.
    pub renew_every: Duration,
    /// How long before its lease runs out a holder without a renewal stops leading.
    pub margin: Duration,
}

impl Default for LeaseTiming {
    /// A 6 s lease renewed every 2 s: a dead node is replaced within about 8 s.
    fn default() -> Self {
        LeaseTiming {
            ttl: Duration::from_secs(6),
            renew_every: Duration::from_secs(2),
            margin: Duration::from_secs(1),
        }
    }
}

impl LeaseTiming {
    /// Checked: renewals must come well within the lease, the margin inside it (the rules
    /// of [`hotline_config::check_lease_timing`]).
    pub fn check(&self) -> Result<(), &'static str> {
        hotline_config::check_lease_timing(self.ttl, self.renew_every, self.margin)
    }
}

/// The store's answer to "take or renew the lease".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Held by this node, with this epoch.
    Held { epoch: u64 },
    /// Held by another node.
    Taken,
    /// The store could not be asked.
    Failed(String),
}

/// What the shell does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the store to take or renew the lease; answer with [`LeaseKeeper::answered`] and
    /// this id (or with [`Answer::Failed`] when the shell's own time limit passes).
    Ask { id: u64 },
    /// Start routing calls, writing under this epoch.
    Lead { epoch: u64 },
    /// Stop routing calls now (refuse new ones, end what this node anchors).
    StepDown { why: &'static str },
}

/// This node's view of the lease.
#[derive(Debug)]
pub struct LeaseKeeper {
    timing: LeaseTiming,
    /// The epoch this node leads under, if it leads.
    leading: Option<u64>,
    /// The question in flight: its id and when it was asked.
    asked: Option<(u64, Instant)>,
    /// The id of the last question asked.
    last_id: u64,
    /// Until when the lease is surely this node's (from when it was asked, less the margin).
    valid_until: Option<Instant>,
    /// When to ask next.
    next_ask: Instant,
}

impl LeaseKeeper {
    /// A node starting as a standby; it asks at once.
    pub fn new(timing: LeaseTiming, now: Instant) -> Self {
        LeaseKeeper {
            timing,
            leading: None,
            asked: None,
            last_id: 0,
            valid_until: None,
            next_ask: now,
        }
    }

    /// The epoch this node leads under, if it leads at `now`: never past the time its lease
    /// is vouched for, even if [`LeaseKeeper::handle_timeout`] was not called on time (a
    /// paused process must not act as leader on waking).
    pub fn leading(&self, now: Instant) -> Option<u64> {
        self.leading
            .filter(|_| self.valid_until.is_some_and(|v| now < v))
    }

    /// Until when this node's lease is vouched for, while it leads.
    pub fn valid_until(&self) -> Option<Instant> {
        self.leading.and(self.valid_until)
    }

    /// When [`LeaseKeeper::handle_timeout`] must next be called; `None` while a question is
    /// in flight and nothing else is due (the shell bounds the question with a timeout of
    /// its own and answers [`Answer::Failed`] when it passes).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ask = self.asked.is_none().then_some(self.next_ask);
        let lapse = self.leading.and(self.valid_until);
        match (ask, lapse) {
            (Some(a), Some(l)) => Some(a.min(l)),
            (a, l) => a.or(l),
        }
    }

    /// Time passed: ask again, or stop leading a lease that was not renewed in time.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.leading.is_some() && self.valid_until.is_some_and(|v| now >= v) {
            out.push(self.step_down("the lease was not renewed in time"));
        }
        if self.asked.is_none() && now >= self.next_ask {
            self.last_id += 1;
            self.asked = Some((self.last_id, now));
            out.push(Action::Ask { id: self.last_id });
        }
        out
    }

    /// The answer to question `id` (from the store, or [`Answer::Failed`] from the shell when
    /// its time limit passed). An answer to a question no longer in flight is ignored.
    pub fn answered(&mut self, now: Instant, id: u64, answer: Answer) -> Vec<Action> {
        let asked = match self.asked {
            Some((q, at)) if q == id => at,
            _ => return Vec::new(),
        };
        self.asked = None;
        let mut out = Vec::new();
        match answer {
            Answer::Held { epoch } => {
                let until = asked + self.timing.ttl.saturating_sub(self.timing.margin);
                if now >= until {
                    // The answer came too late to rely on: as if none came.
                    if self.leading.is_some() {
                        out.push(self.step_down("the lease was renewed too late"));
                    }
                    self.next_ask = now;
                    return out;
                }
                match self.leading {
                    Some(e) if e == epoch => {}
                    Some(_) => {
                        // Someone else held it in between: what this node did under the
                        // old epoch is fenced; start again under the new one.
                        out.push(self.step_down("the lease changed hands in between"));
                        out.push(Action::Lead { epoch });
                    }
                    None => out.push(Action::Lead { epoch }),
                }
                self.leading = Some(epoch);
                self.valid_until = Some(until);
                self.next_ask = asked + self.timing.renew_every;
            }
            Answer::Taken => {
                if self.leading.is_some() {
                    out.push(self.step_down("another node holds the lease"));
                }
                self.next_ask = now + self.timing.renew_every;
            }
            Answer::Failed(_) => {
                // Keep leading until the lease runs out; ask again soon.
                self.next_ask = now + self.timing.renew_every / 2;
            }
        }
        out
    }

    fn step_down(&mut self, why: &'static str) -> Action {
        self.leading = None;
        self.valid_until = None;
        Action::StepDown { why }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    /// Time passes to `now`, which must bring exactly one question: its id.
    fn ask(k: &mut LeaseKeeper, now: Instant) -> u64 {
        match k.handle_timeout(now).as_slice() {
            [Action::Ask { id }] => *id,
            other => panic!("expected one question, got {other:?}"),
        }
    }

    #[test]
    fn a_node_takes_a_free_lease_renews_it_and_keeps_its_epoch() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new(LeaseTiming::default(), t0);
        assert_eq!(k.poll_timeout(), Some(t0));
        let id = ask(&mut k, t0);
        assert_eq!(
            k.answered(at(t0, 20), id, Answer::Held { epoch: 7 }),
            vec![Action::Lead { epoch: 7 }]
        );
        assert_eq!(k.leading(at(t0, 20)), Some(7));
        // Renewed every 2 s from when it asked; no new action while the epoch holds.
        assert_eq!(k.poll_timeout(), Some(at(t0, 2_000)));
        for i in 1..10 {
            let now = at(t0, 2_000 * i);
            let id = ask(&mut k, now);
            assert!(k.answered(now, id, Answer::Held { epoch: 7 }).is_empty());
        }
        assert_eq!(k.leading(at(t0, 18_000)), Some(7));
    }

    #[test]
    fn a_leader_whose_renewals_fail_steps_down_before_its_lease_runs_out() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new(LeaseTiming::default(), t0);
        let id = ask(&mut k, t0);
        k.answered(t0, id, Answer::Held { epoch: 1 });
        // The store is unreachable from then on.
        let mut now = t0;
        let mut stepped = None;
        while stepped.is_none() {
            now = k.poll_timeout().expect("something is due");
            assert!(now <= at(t0, 6_000), "still leading at {now:?}");
            for a in k.handle_timeout(now) {
                match a {
                    Action::Ask { id } => {
                        assert!(
                            k.answered(now, id, Answer::Failed("down".into()))
                                .is_empty()
                        );
                    }
                    Action::StepDown { why } => stepped = Some(why),
                    Action::Lead { .. } => panic!("led again"),
                }
            }
        }
        // 1 s before the 6 s lease another node could take runs out.
        assert_eq!(now, at(t0, 5_000));
        assert_eq!(k.leading(now), None);
    }

    #[test]
    fn a_paused_leader_does_not_lead_on_waking_before_its_timeout_runs() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new(LeaseTiming::default(), t0);
        let id = ask(&mut k, t0);
        k.answered(t0, id, Answer::Held { epoch: 1 });
        assert_eq!(k.leading(at(t0, 4_999)), Some(1));
        // The process slept through its renewals: whatever it does first, it is no leader.
        assert_eq!(k.leading(at(t0, 5_000)), None);
        assert_eq!(k.valid_until(), Some(at(t0, 5_000)));
    }

    #[test]
    fn a_renewal_answered_after_the_lease_would_have_lapsed_is_not_trusted() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new(LeaseTiming::default(), t0);
        let id = ask(&mut k, t0);
        k.answered(at(t0, 10), id, Answer::Held { epoch: 1 });
        let id = ask(&mut k, at(t0, 2_000));
        // No answer by 5 s: counted from the last renewal asked at 0 s, the lease is over.
        assert_eq!(
            k.handle_timeout(at(t0, 5_000)),
            vec![Action::StepDown {
                why: "the lease was not renewed in time"
            }]
        );
        // The store answers at 7.5 s: counted from the question (2 s), too late to rely on.
        assert!(
            k.answered(at(t0, 7_500), id, Answer::Held { epoch: 1 })
                .is_empty()
        );
        assert_eq!(k.leading(at(t0, 7_500)), None);
        // It asks again at once and may lead again, under whatever epoch the store gives.
        let id = ask(&mut k, at(t0, 7_500));
        assert_eq!(
            k.answered(at(t0, 7_510), id, Answer::Held { epoch: 2 }),
            vec![Action::Lead { epoch: 2 }]
        );
    }

    #[test]
    fn an_answer_arriving_after_the_shell_gave_up_on_its_question_is_ignored() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new(LeaseTiming::default(), t0);
        let first = ask(&mut k, t0);
        // The shell's time limit passes: it answers Failed for that question.
        assert!(
            k.answered(at(t0, 3_000), first, Answer::Failed("timeout".into()))
                .is_empty()
        );
        // The store's real answer arrives later: it would make a lease counted from its
        // arrival, longer than the store's. Ignored.
        assert!(
            k.answered(at(t0, 3_500), first, Answer::Held { epoch: 1 })
                .is_empty()
        );
        assert_eq!(k.leading(at(t0, 3_500)), None);
        // So is an answer to the next question delivered with the wrong id.
        let again = k.poll_timeout().expect("asks again");
        let second = ask(&mut k, again);
        assert!(
            k.answered(at(t0, 4_100), first, Answer::Held { epoch: 1 })
                .is_empty()
        );
        assert_eq!(
            k.answered(at(t0, 4_100), second, Answer::Held { epoch: 1 }),
            vec![Action::Lead { epoch: 1 }]
        );
    }

    #[test]
    fn a_standby_keeps_asking_and_leads_once_the_holder_is_gone() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new(LeaseTiming::default(), t0);
        let mut now = t0;
        for _ in 0..5 {
            now = k.poll_timeout().expect("something is due");
            let id = ask(&mut k, now);
            assert!(k.answered(now, id, Answer::Taken).is_empty());
            assert_eq!(k.leading(now), None);
        }
        assert_eq!(now, at(t0, 8_000), "asks every 2 s");
        now = k.poll_timeout().expect("something is due");
        let id = ask(&mut k, now);
        assert_eq!(
            k.answered(now, id, Answer::Held { epoch: 4 }),
            vec![Action::Lead { epoch: 4 }]
        );
    }

    #[test]
    fn a_leader_that_finds_the_lease_taken_or_moved_steps_down() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new(LeaseTiming::default(), t0);
        let id = ask(&mut k, t0);
        k.answered(t0, id, Answer::Held { epoch: 3 });
        let now = k.poll_timeout().expect("something is due");
        let id = ask(&mut k, now);
        assert_eq!(
            k.answered(now, id, Answer::Taken),
            vec![Action::StepDown {
                why: "another node holds the lease"
            }]
        );
        let now = k.poll_timeout().expect("something is due");
        let id = ask(&mut k, now);
        k.answered(now, id, Answer::Held { epoch: 5 });
        let now = k.poll_timeout().expect("something is due");
        let id = ask(&mut k, now);
        assert_eq!(
            k.answered(now, id, Answer::Held { epoch: 6 }),
            vec![
                Action::StepDown {
                    why: "the lease changed hands in between"
                },
                Action::Lead { epoch: 6 }
            ]
        );
    }

    /// Two nodes and a store in virtual time, with questions and answers delayed or lost
    /// at random (seeded), and late answers delivered after the shell gave up on them: at
    /// no moment does a node lead unless the store holds the lease for it under that epoch,
    /// and the node never counts on it longer than the store will keep it.
    #[test]
    fn two_nodes_never_lead_at_once_whatever_the_delays() {
        #[derive(Clone, Copy)]
        struct Lease {
            holder: usize,
            epoch: u64,
            expires: u64,
        }
        /// Something on its way: a question to the store, or an answer to a node.
        enum Msg {
            Question {
                node: usize,
                id: u64,
            },
            Answer {
                node: usize,
                id: u64,
                answer: Answer,
            },
        }
        let timing = LeaseTiming::default();
        let ttl = timing.ttl.as_millis() as u64;
        let t0 = Instant::now();
        let ms = |t: Instant| t.duration_since(t0).as_millis() as u64;
        let mut took_over = 0;
        for seed in 1..=300u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut rand = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut lease: Option<Lease> = None;
            let mut keepers = [
                LeaseKeeper::new(timing, t0),
                LeaseKeeper::new(timing, at(t0, 50)),
            ];
            let mut pending: Vec<(u64, Msg)> = Vec::new();
            let mut leaders = Vec::new();
            let mut now = 0u64;
            while now < 120_000 {
                let mut next = u64::MAX;
                for k in &keepers {
                    if let Some(t) = k.poll_timeout() {
                        next = next.min(ms(t));
                    }
                }
                for p in &pending {
                    next = next.min(p.0);
                }
                now = next.max(now);
                let mut actions = Vec::new();
                if let Some(i) = pending.iter().position(|p| p.0 <= now) {
                    match pending.remove(i).1 {
                        Msg::Question { node, id } => {
                            // The store decides with its own clock, when the question arrives.
                            let answer = match lease {
                                Some(l) if l.holder == node && l.expires > now => {
                                    lease = Some(Lease {
                                        expires: now + ttl,
                                        ..l
                                    });
                                    Answer::Held { epoch: l.epoch }
                                }
                                Some(l) if l.expires > now => Answer::Taken,
                                other => {
                                    let epoch = other.map_or(1, |l| l.epoch + 1);
                                    lease = Some(Lease {
                                        holder: node,
                                        epoch,
                                        expires: now + ttl,
                                    });
                                    Answer::Held { epoch }
                                }
                            };
                            // Usually delayed a little; sometimes so late that the shell
                            // has given up (3 s) and answered Failed first.
                            let delay = if rand(8) == 0 {
                                3_000 + rand(4_000)
                            } else {
                                rand(2_500)
                            };
                            pending.push((now + delay, Msg::Answer { node, id, answer }));
                        }
                        Msg::Answer { node, id, answer } => actions.extend(
                            keepers[node]
                                .answered(at(t0, now), id, answer)
                                .into_iter()
                                .map(|a| (node, a)),
                        ),
                    }
                } else {
                    for (node, k) in keepers.iter_mut().enumerate() {
                        if k.poll_timeout().is_some_and(|t| t <= at(t0, now)) {
                            actions.extend(
                                k.handle_timeout(at(t0, now)).into_iter().map(|a| (node, a)),
                            );
                        }
                    }
                }
                for (node, a) in actions {
                    match a {
                        Action::Ask { id } => {
                            // The shell's time limit on every question.
                            pending.push((
                                now + 3_000,
                                Msg::Answer {
                                    node,
                                    id,
                                    answer: Answer::Failed("time limit".into()),
                                },
                            ));
                            // Node 0 is cut off from the store for a while in some runs;
                            // other questions are lost now and then.
                            let cut = seed % 3 == 0 && node == 0 && (30_000..60_000).contains(&now);
                            if !cut && rand(10) != 0 {
                                pending.push((now + rand(1_500), Msg::Question { node, id }));
                            }
                        }
                        Action::Lead { .. } => leaders.push(node),
                        Action::StepDown { .. } => {}
                    }
                }
                for (node, k) in keepers.iter().enumerate() {
                    if let Some(e) = k.leading(at(t0, now)) {
                        let l = lease.expect("a leader without a lease");
                        let until = k.valid_until().map_or(u64::MAX, ms);
                        assert!(
                            l.holder == node && l.epoch == e && until <= l.expires,
                            "seed {seed} at {now} ms: node {node} leads under {e} until \
                             {until}, the store has node {} under {} until {}",
                            l.holder,
                            l.epoch,
                            l.expires
                        );
                    }
                }
            }
            if leaders.contains(&0) && leaders.contains(&1) {
                took_over += 1;
            }
        }
        // The runs did exercise takeovers, not only one node leading throughout.
        assert!(took_over > 30, "{took_over} runs with a takeover");
    }

    #[test]
    fn timings_that_cannot_work_are_refused() {
        assert!(LeaseTiming::default().check().is_ok());
        let slow = LeaseTiming {
            renew_every: Duration::from_secs(4),
            ..LeaseTiming::default()
        };
        assert!(slow.check().is_err());
        let wide = LeaseTiming {
            margin: Duration::from_secs(4),
            ..LeaseTiming::default()
        };
        assert!(wide.check().is_err());
        let none = LeaseTiming {
            margin: Duration::ZERO,
            ..LeaseTiming::default()
        };
        assert!(none.check().is_err(), "no room for clocks running apart");
    }
}
