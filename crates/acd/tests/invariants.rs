//! Property tests: random sequences of agent and caller actions, checked against a model
//! after every output.

use std::collections::{BTreeMap, BTreeSet};

use hotline_acd::{
    AgentConfig, AgentId, AgentState, Arrival, ContactId, Engine, EngineConfig, Input, Instant,
    Output, OverflowStep, QueueConfig, QueueId, WellbeingRules,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Login(u8),
    Logout(u8),
    Ready(u8),
    NotReady(u8),
    Arrive {
        queue: u8,
        prio: u8,
    },
    Answer(u8),
    Reject(u8),
    Abandon(u8),
    End(u8),
    Callback(u8),
    Advance(u16),
    /// A supervisor changes the agent's levels of skills `a` and `b` (0: not held).
    SetSkills(u8, u8, u8),
    /// An administrator removes the agent (refused while it holds or is offered a contact).
    RemoveAgent(u8),
    /// An administrator adds an agent with levels of `a` and `b`, under the name of a removed
    /// agent when `reuse` and there is one.
    AddAgent {
        a: u8,
        b: u8,
        reuse: bool,
    },
    /// An administrator changes a queue: levels of `a` and `b` required (0: not), its
    /// priority, and an overflow step (after ms, levels lowered by, alternative level of `a`).
    SetQueue {
        queue: u8,
        a: u8,
        b: u8,
        prio: u8,
        step: Option<(u16, u8, u8)>,
    },
    /// An administrator changes the engine-wide rules: retry seconds, ring timeout, missed
    /// offers before not-ready.
    SetRules {
        retry: u8,
        timeout: u8,
        max_no_answer: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<u8>().prop_map(Op::Login),
        1 => any::<u8>().prop_map(Op::Logout),
        2 => any::<u8>().prop_map(Op::Ready),
        1 => any::<u8>().prop_map(Op::NotReady),
        5 => (0u8..3, 0u8..3).prop_map(|(queue, prio)| Op::Arrive { queue, prio }),
        4 => any::<u8>().prop_map(Op::Answer),
        1 => any::<u8>().prop_map(Op::Reject),
        1 => any::<u8>().prop_map(Op::Abandon),
        3 => any::<u8>().prop_map(Op::End),
        1 => any::<u8>().prop_map(Op::Callback),
        3 => (0u16..15_000).prop_map(Op::Advance),
        2 => (any::<u8>(), 0u8..=10, 0u8..=10).prop_map(|(g, a, b)| Op::SetSkills(g, a, b)),
        1 => any::<u8>().prop_map(Op::RemoveAgent),
        1 => (0u8..=10, 0u8..=10, any::<bool>()).prop_map(|(a, b, reuse)| Op::AddAgent { a, b, reuse }),
        1 => (
            0u8..3,
            0u8..=10,
            0u8..=10,
            0u8..3,
            proptest::option::of((1u16..20_000, 0u8..5, 0u8..=10))
        )
            .prop_map(|(queue, a, b, prio, step)| Op::SetQueue { queue, a, b, prio, step }),
        1 => (0u8..4, 0u8..3, 0u8..4)
            .prop_map(|(retry, timeout, max_no_answer)| Op::SetRules { retry, timeout, max_no_answer }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum MState {
    Waiting,
    Offered,
    Connected(u32),
}

#[derive(Debug, Clone)]
struct MContact {
    queue: u32,
    prio: i64,
    seq: u64,
    entered: u64,
    state: MState,
    /// Agents who did not take an offer of it, and until when they are not offered it again.
    /// Agents who did not take it: until when, and how many times in a row.
    rejected: BTreeMap<u32, (u64, u32)>,
    callback: bool,
}

/// Requirements of each queue by step: (after ms, alternatives of (skill, min level)).
type Reqs = Vec<Vec<(u64, Vec<Vec<(&'static str, u8)>>)>>;

fn reqs() -> Reqs {
    vec![
        vec![(0, vec![vec![("a", 3)]])],
        vec![(0, vec![vec![("a", 2), ("b", 2)]])],
        vec![
            (0, vec![vec![("b", 5)]]),
            (10_000, vec![vec![("b", 2)], vec![("a", 9)]]),
        ],
    ]
}

struct Harness {
    engine: Engine,
    now: u64,
    skills: Vec<BTreeMap<&'static str, u8>>,
    reqs: Reqs,
    contacts: BTreeMap<u64, MContact>,
    offers: Vec<(u64, u32)>,
    next_id: u64,
    callbacks_offered: u32,
    /// Agents not available (logged out, not ready): coming back ends their exclusions.
    away: BTreeSet<u32>,
    retry_ms: u64,
    /// Agents removed (never offered anything again).
    removed: BTreeSet<u32>,
    /// Each agent's name.
    names: Vec<String>,
    /// Each queue's priority.
    queue_prio: Vec<i64>,
    /// Rules as last set.
    rules: EngineConfig,
}

/// The model of a refusal: the agent waits `retry`, doubled for each refusal of the same
/// contact since the agent was last away, at most `max` (no wait at all without a retry).
fn refused(rejected: &mut BTreeMap<u32, (u64, u32)>, agent: u32, now: u64, retry: u64, max: u64) {
    if retry == 0 {
        return;
    }
    let times = rejected.get(&agent).map_or(0, |r| r.1) + 1;
    let wait = (retry << (times - 1).min(20)).min(max);
    rejected.insert(agent, (now + wait, times));
}

impl Harness {
    fn new(levels: &[(u8, u8)]) -> Self {
        let cfg = EngineConfig {
            wellbeing: WellbeingRules::off(),
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(cfg);
        let mut q0 = QueueConfig::new("q0", &[("a", 3)]);
        q0.priority = 0;
        engine.add_queue(q0).unwrap();
        engine
            .add_queue(QueueConfig::new("q1", &[("a", 2), ("b", 2)]))
            .unwrap();
        let mut q2 = QueueConfig::new("q2", &[("b", 5)]);
        q2.overflow.push(OverflowStep {
            after_seconds: 10.0,
            lower_levels_by: 3,
            add_skills: [("a".to_string(), 9)].into_iter().collect(),
            add_queues: vec![],
        });
        engine.add_queue(q2).unwrap();
        let mut skills = Vec::new();
        for (i, &(a, b)) in levels.iter().enumerate() {
            let mut m = BTreeMap::new();
            if a > 0 {
                m.insert("a", a);
            }
            if b > 0 {
                m.insert("b", b);
            }
            let list: Vec<(&str, u8)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            engine
                .add_agent(AgentConfig::new(format!("agent{i}"), &list))
                .unwrap();
            skills.push(m);
        }
        Harness {
            engine,
            now: 0,
            skills,
            reqs: reqs(),
            contacts: BTreeMap::new(),
            offers: Vec::new(),
            next_id: 1,
            callbacks_offered: 0,
            away: (0..levels.len() as u32).collect(),
            retry_ms: (EngineConfig::default().retry_seconds * 1000.0) as u64,
            removed: BTreeSet::new(),
            names: (0..levels.len()).map(|i| format!("agent{i}")).collect(),
            queue_prio: vec![0; 3],
            rules: EngineConfig {
                wellbeing: WellbeingRules::off(),
                ..EngineConfig::default()
            },
        }
    }

    fn retry_max_ms(&self) -> u64 {
        ((self.rules.retry_max_seconds * 1000.0) as u64).max(self.retry_ms)
    }

    fn eligible(&self, agent: u32, c: &MContact) -> bool {
        if c.rejected
            .get(&agent)
            .is_some_and(|&(until, _)| self.now < until)
        {
            return false;
        }
        let waited = self.now.saturating_sub(c.entered);
        let steps = &self.reqs[c.queue as usize];
        let Some((_, alts)) = steps.iter().rev().find(|(after, _)| waited >= *after) else {
            return false;
        };
        let sk = &self.skills[agent as usize];
        alts.iter().any(|alt| {
            alt.iter()
                .all(|(s, l)| sk.get(s).copied().unwrap_or(0) >= *l)
        })
    }

    fn input(&mut self, input: Input) -> bool {
        self.engine.handle(Instant(self.now), input).is_ok()
    }

    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Offer {
                    contact,
                    agent,
                    callback,
                } => {
                    let a = agent.0;
                    assert!(!self.removed.contains(&a), "removed agent {a} offered");
                    // No agent is offered a contact while holding a voice contact.
                    assert!(
                        !self
                            .contacts
                            .values()
                            .any(|c| c.state == MState::Connected(a)),
                        "agent {a} offered while on a call"
                    );
                    assert!(
                        !self.offers.iter().any(|o| o.1 == a),
                        "agent {a} offered twice"
                    );
                    let c = self
                        .contacts
                        .get(&contact.0)
                        .expect("offer of a live contact");
                    assert_eq!(c.state, MState::Waiting);
                    assert_eq!(c.callback, callback);
                    // Never below the required level unless a step allowed it.
                    assert!(
                        self.eligible(a, c),
                        "agent {a} not eligible for {c:?} at {}",
                        self.now
                    );
                    // Within a priority, first come first served (among contacts this
                    // agent may take).
                    for (id, other) in &self.contacts {
                        if other.state == MState::Waiting
                            && *id != contact.0
                            && self.eligible(a, other)
                        {
                            assert!(
                                (-other.prio, other.seq) > (-c.prio, c.seq),
                                "contact {id} ({other:?}) should come before {} ({c:?})",
                                contact.0
                            );
                        }
                    }
                    if callback {
                        self.callbacks_offered += 1;
                    }
                    self.contacts.get_mut(&contact.0).unwrap().state = MState::Offered;
                    self.offers.push((contact.0, a));
                }
                Output::OfferRescinded {
                    contact,
                    agent,
                    rang_out,
                } => {
                    self.offers
                        .retain(|&(c, a)| !(c == contact.0 && a == agent.0));
                    let (now, retry, max) = (self.now, self.retry_ms, self.retry_max_ms());
                    if let Some(c) = self.contacts.get_mut(&contact.0) {
                        if rang_out {
                            refused(&mut c.rejected, agent.0, now, retry, max);
                        }
                        if c.state == MState::Offered {
                            c.state = MState::Waiting;
                        }
                    }
                }
                Output::Queued { contact, .. } => {
                    assert!(self.contacts.contains_key(&contact.0));
                }
                Output::AgentState {
                    agent,
                    state: AgentState::NotReady { .. },
                } => {
                    self.away.insert(agent.0);
                }
                _ => {}
            }
        }
    }

    fn check_global(&self) {
        // At most one voice contact per agent.
        let mut per_agent: BTreeMap<u32, u32> = BTreeMap::new();
        for c in self.contacts.values() {
            if let MState::Connected(a) = c.state {
                *per_agent.entry(a).or_default() += 1;
            }
        }
        assert!(per_agent.values().all(|&n| n <= 1), "{per_agent:?}");
        // No waiting contact starves while an eligible agent is free.
        for a in 0..self.skills.len() as u32 {
            if self.removed.contains(&a) {
                assert_eq!(self.engine.agent_state(AgentId(a)), None);
                continue;
            }
            if self.engine.agent_state(AgentId(a)) != Some(AgentState::Available) {
                continue;
            }
            assert!(!per_agent.contains_key(&a));
            for (id, c) in &self.contacts {
                if c.state == MState::Waiting {
                    assert!(
                        !self.eligible(a, c),
                        "contact {id} waits while agent {a} is free"
                    );
                }
            }
        }
        // Positions agree with the model: contacts of the same queue ahead in line.
        for (id, c) in &self.contacts {
            if c.state != MState::Waiting {
                continue;
            }
            let ahead = self
                .contacts
                .values()
                .filter(|o| {
                    o.state == MState::Waiting
                        && o.queue == c.queue
                        && (-o.prio, o.seq) < (-c.prio, c.seq)
                })
                .count() as u32;
            let est = self
                .engine
                .wait_estimate(ContactId(*id))
                .expect("waiting has an estimate");
            assert_eq!(est.position, ahead, "position of {id}");
            assert!(est.estimated_wait_seconds.is_finite() && est.estimated_wait_seconds > 0.0);
        }
    }

    fn pick<T: Clone>(items: &[T], i: u8) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[i as usize % items.len()].clone())
        }
    }

    fn apply(&mut self, op: Op) {
        let n = self.skills.len() as u8;
        match op {
            Op::Login(a) | Op::Ready(a) => {
                let a = u32::from(a % n);
                let input = match op {
                    Op::Login(_) => Input::Login(AgentId(a)),
                    _ => Input::Ready(AgentId(a)),
                };
                // Back from a pause: the agent may be offered contacts it did not take.
                if self.input(input) && self.away.remove(&a) {
                    for c in self.contacts.values_mut() {
                        c.rejected.remove(&a);
                    }
                }
            }
            Op::Logout(a) => {
                let a = u32::from(a % n);
                if self.input(Input::Logout(AgentId(a))) {
                    self.away.insert(a);
                }
            }
            Op::NotReady(a) => {
                let a = u32::from(a % n);
                if self.input(Input::NotReady {
                    agent: AgentId(a),
                    reason: "lunch".into(),
                }) {
                    self.away.insert(a);
                }
            }
            Op::Arrive { queue, prio } => {
                let id = self.next_id;
                self.next_id += 1;
                self.contacts.insert(
                    id,
                    MContact {
                        queue: u32::from(queue),
                        prio: i64::from(prio) + self.queue_prio[queue as usize],
                        seq: id,
                        entered: self.now,
                        state: MState::Waiting,
                        rejected: BTreeMap::new(),
                        callback: false,
                    },
                );
                let mut ar = Arrival::new(ContactId(id), QueueId(u32::from(queue)));
                ar.priority = i32::from(prio);
                assert!(self.input(Input::Arrive(ar)));
            }
            Op::Answer(i) => {
                if let Some((c, a)) = Self::pick(&self.offers, i) {
                    assert!(self.input(Input::Answer {
                        contact: ContactId(c),
                        agent: AgentId(a)
                    }));
                    self.offers.retain(|o| o.0 != c);
                    self.contacts.get_mut(&c).unwrap().state = MState::Connected(a);
                }
            }
            Op::Reject(i) => {
                if let Some((c, a)) = Self::pick(&self.offers, i) {
                    self.offers.retain(|o| *o != (c, a));
                    let (now, retry, max) = (self.now, self.retry_ms, self.retry_max_ms());
                    let m = self.contacts.get_mut(&c).unwrap();
                    refused(&mut m.rejected, a, now, retry, max);
                    m.state = MState::Waiting;
                    assert!(self.input(Input::Reject {
                        contact: ContactId(c),
                        agent: AgentId(a),
                        no_answer: i % 2 == 0,
                    }));
                }
            }
            Op::Abandon(i) => {
                let live: Vec<u64> = self
                    .contacts
                    .iter()
                    .filter(|(_, c)| !matches!(c.state, MState::Connected(_)))
                    .map(|(id, _)| *id)
                    .collect();
                if let Some(c) = Self::pick(&live, i) {
                    self.contacts.remove(&c);
                    self.offers.retain(|o| o.0 != c);
                    assert!(self.input(Input::Abandon(ContactId(c))));
                }
            }
            Op::End(i) => {
                let live: Vec<u64> = self
                    .contacts
                    .iter()
                    .filter(|(_, c)| matches!(c.state, MState::Connected(_)))
                    .map(|(id, _)| *id)
                    .collect();
                if let Some(c) = Self::pick(&live, i) {
                    self.contacts.remove(&c);
                    assert!(self.input(Input::End {
                        contact: ContactId(c),
                        agitation: None,
                        abusive: false
                    }));
                }
            }
            Op::Callback(i) => {
                let waiting: Vec<u64> = self
                    .contacts
                    .iter()
                    .filter(|(_, c)| c.state == MState::Waiting)
                    .map(|(id, _)| *id)
                    .collect();
                if let Some(c) = Self::pick(&waiting, i) {
                    let before = self.engine.wait_estimate(ContactId(c)).map(|e| e.position);
                    assert!(self.input(Input::Callback(ContactId(c))));
                    self.contacts.get_mut(&c).unwrap().callback = true;
                    // A callback keeps its place in line.
                    let after = self.engine.wait_estimate(ContactId(c)).map(|e| e.position);
                    assert_eq!(before, after);
                }
            }
            Op::Advance(ms) => {
                self.now += u64::from(ms);
                self.engine.handle_timeout(Instant(self.now));
            }
            Op::SetSkills(g, a, b) => {
                let agent = u32::from(g % n);
                let mut m = BTreeMap::new();
                if a > 0 {
                    m.insert("a", a);
                }
                if b > 0 {
                    m.insert("b", b);
                }
                let skills = m.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
                let ok = self.input(Input::SetSkills {
                    agent: AgentId(agent),
                    skills,
                });
                assert_eq!(ok, !self.removed.contains(&agent));
                if !ok {
                    return;
                }
                // From the next decision on (checked below: nobody free the new skills
                // qualify for is left waiting; no offer below them).
                self.skills[agent as usize] = m;
            }
            Op::RemoveAgent(g) => {
                let a = u32::from(g % n);
                let busy = self.offers.iter().any(|o| o.1 == a)
                    || self
                        .contacts
                        .values()
                        .any(|c| c.state == MState::Connected(a));
                let r = self
                    .engine
                    .handle(Instant(self.now), Input::RemoveAgent(AgentId(a)));
                if self.removed.contains(&a) {
                    assert_eq!(r, Err(hotline_acd::Error::UnknownAgent(AgentId(a))));
                } else if busy {
                    assert_eq!(r, Err(hotline_acd::Error::AgentBusy(AgentId(a))));
                } else {
                    assert_eq!(r, Ok(()));
                    self.removed.insert(a);
                    self.away.insert(a);
                    assert_eq!(self.engine.agent_id(&self.names[a as usize]), None);
                }
            }
            Op::AddAgent { a, b, reuse } => {
                if self.skills.len() >= 12 {
                    return;
                }
                let free = self
                    .removed
                    .iter()
                    .map(|&r| self.names[r as usize].clone())
                    .find(|name| {
                        !(0..self.names.len() as u32)
                            .any(|x| !self.removed.contains(&x) && self.names[x as usize] == *name)
                    });
                let name = match free {
                    Some(name) if reuse => name,
                    _ => format!("agent{}", self.names.len()),
                };
                let mut m = BTreeMap::new();
                if a > 0 {
                    m.insert("a", a);
                }
                if b > 0 {
                    m.insert("b", b);
                }
                let list: Vec<(&str, u8)> = m.iter().map(|(k, v)| (*k, *v)).collect();
                assert!(self.input(Input::AddAgent(AgentConfig::new(name.clone(), &list))));
                let id = self.skills.len() as u32;
                assert_eq!(self.engine.agent_id(&name), Some(AgentId(id)));
                assert_eq!(
                    self.engine.agent_state(AgentId(id)),
                    Some(AgentState::LoggedOut)
                );
                self.skills.push(m);
                self.names.push(name);
                self.away.insert(id);
            }
            Op::SetQueue {
                queue,
                a,
                b,
                prio,
                step,
            } => {
                let qi = usize::from(queue);
                let mut base: Vec<(&'static str, u8)> = Vec::new();
                if a > 0 {
                    base.push(("a", a));
                }
                if b > 0 {
                    base.push(("b", b));
                }
                let mut cfg = QueueConfig::new(format!("q{qi}"), &base);
                cfg.priority = i32::from(prio);
                let mut model = vec![(0, vec![base.clone()])];
                if let Some((after, lower, alt)) = step {
                    let lowered: Vec<(&'static str, u8)> = base
                        .iter()
                        .map(|&(s, l)| (s, l.saturating_sub(lower).max(1)))
                        .collect();
                    let mut alts = vec![lowered];
                    let mut add = BTreeMap::new();
                    if alt > 0 {
                        add.insert("a".to_string(), alt);
                        alts.push(vec![("a", alt)]);
                    }
                    cfg.overflow.push(OverflowStep {
                        after_seconds: f64::from(after) / 1000.0,
                        lower_levels_by: lower,
                        add_skills: add,
                        add_queues: vec![],
                    });
                    model.push((u64::from(after), alts));
                }
                assert!(self.input(Input::SetQueue(cfg)));
                let delta = i64::from(prio) - self.queue_prio[qi];
                self.queue_prio[qi] = i64::from(prio);
                for c in self.contacts.values_mut() {
                    if c.queue == qi as u32 && !matches!(c.state, MState::Connected(_)) {
                        c.prio += delta;
                    }
                }
                self.reqs[qi] = model;
            }
            Op::SetRules {
                retry,
                timeout,
                max_no_answer,
            } => {
                let rules = EngineConfig {
                    retry_seconds: [0.0, 2.0, 5.0, 10.0][usize::from(retry)],
                    offer_timeout_seconds: [0.0, 5.0, 20.0][usize::from(timeout)],
                    max_no_answer: u32::from(max_no_answer),
                    ..self.rules.clone()
                };
                assert!(self.input(Input::SetRules(rules.clone())));
                self.retry_ms = (rules.retry_seconds * 1000.0) as u64;
                self.rules = rules;
            }
        }
        self.drain();
        self.engine.check_consistency().unwrap();
        self.check_global();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn routing_invariants_hold(
        levels in proptest::collection::vec((0u8..=10, 0u8..=10), 1..7),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut h = Harness::new(&levels);
        for o in ops {
            h.apply(o);
        }
        // Whatever happened, the engine's timers are never in the past.
        if let Some(t) = h.engine.poll_timeout() {
            prop_assert!(t.as_millis() > h.now);
        }
    }
}

/// A callback that keeps its place is offered before later callers, flagged as a callback.
#[test]
fn callback_keeps_place_and_is_offered_in_turn() {
    let mut h = Harness::new(&[(5, 0)]);
    h.apply(Op::Login(0));
    h.apply(Op::Arrive { queue: 0, prio: 0 }); // 1: offered at once
    h.apply(Op::Answer(0));
    h.apply(Op::Arrive { queue: 0, prio: 0 }); // 2: waits
    h.apply(Op::Arrive { queue: 0, prio: 0 }); // 3: waits
    h.apply(Op::Callback(0)); // contact 2 asks to be called back
    assert_eq!(
        h.engine.wait_estimate(ContactId(2)).map(|e| e.position),
        Some(0)
    );
    h.apply(Op::End(0));
    assert_eq!(h.offers, vec![(2, 0)]);
    assert_eq!(h.callbacks_offered, 1);
}

/// A queue's settings, some of them refused (bad levels, unknown queues, another channel).
fn any_queue() -> impl Strategy<Value = QueueConfig> {
    (
        0u8..5,
        0u8..12,
        0u8..12,
        -3i32..3,
        0u8..6,
        proptest::option::of((0.0f64..90.0, 0u8..4, 0u8..12, 0u8..6)),
        proptest::option::of((0.0f64..120.0, 0u8..6)),
        (
            0.0f64..20.0,
            proptest::option::of(0.0f64..30.0),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(q, a, b, priority, strategy, step, max_wait, (wrap, ring, chat))| {
                let mut skills = Vec::new();
                if a > 0 {
                    skills.push(("a", a));
                }
                if b > 0 {
                    skills.push(("b", b));
                }
                let mut cfg = QueueConfig::new(format!("q{q}"), &skills);
                cfg.priority = priority;
                cfg.strategy = [
                    hotline_acd::Strategy::LongestIdle,
                    hotline_acd::Strategy::FewestContacts,
                    hotline_acd::Strategy::LeastOccupied,
                    hotline_acd::Strategy::RoundRobin,
                    hotline_acd::Strategy::RingAll,
                    hotline_acd::Strategy::BestFit,
                ][usize::from(strategy)];
                if let Some((after, lower, alt, other)) = step {
                    cfg.overflow.push(OverflowStep {
                        after_seconds: after,
                        lower_levels_by: lower,
                        add_skills: if alt > 0 {
                            [("a".to_string(), alt)].into()
                        } else {
                            BTreeMap::new()
                        },
                        add_queues: if other < 5 {
                            vec![format!("q{other}")]
                        } else {
                            vec![]
                        },
                    });
                }
                cfg.max_wait = max_wait.map(|(seconds, to)| hotline_acd::MaxWait {
                    seconds,
                    action: if to < 5 {
                        hotline_acd::MaxWaitAction::Overflow {
                            queue: format!("q{to}"),
                        }
                    } else {
                        hotline_acd::MaxWaitAction::Voicemail
                    },
                });
                cfg.wrap_up_seconds = wrap;
                cfg.offer_timeout_seconds = ring;
                if chat {
                    cfg.channel = hotline_acd::Channel::Chat;
                }
                cfg
            },
        )
}

fn any_input() -> impl Strategy<Value = Input> {
    let agent = (0u32..8).prop_map(AgentId);
    let contact = (0u64..8).prop_map(ContactId);
    prop_oneof![
        agent.clone().prop_map(Input::Login),
        agent.clone().prop_map(Input::Logout),
        agent.clone().prop_map(Input::Ready),
        agent.clone().prop_map(|agent| Input::NotReady {
            agent,
            reason: "x".into()
        }),
        (agent.clone(), proptest::option::of(-5.0f64..500.0)).prop_map(|(agent, seconds)| {
            Input::Break {
                agent,
                reason: "b".into(),
                seconds,
            }
        }),
        (agent.clone(), -5.0f64..100.0)
            .prop_map(|(agent, seconds)| Input::ExtendWrapUp { agent, seconds }),
        agent.clone().prop_map(Input::EndWrapUp),
        (
            contact.clone(),
            0u32..4,
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0.0f32..1.0),
            proptest::option::of(0u32..7)
        )
            .prop_map(|(contact, q, vip, difficult, agitation, pref)| {
                let mut a = Arrival::new(contact, QueueId(q));
                a.vip = vip;
                a.difficult = difficult;
                a.agitation = agitation;
                a.escalate = vip && difficult;
                a.preferred_agent = pref.map(AgentId);
                Input::Arrive(a)
            }),
        (contact.clone(), agent.clone())
            .prop_map(|(contact, agent)| Input::Answer { contact, agent }),
        (contact.clone(), agent, any::<bool>()).prop_map(|(contact, agent, no_answer)| {
            Input::Reject {
                contact,
                agent,
                no_answer,
            }
        }),
        contact.clone().prop_map(Input::Abandon),
        (
            contact.clone(),
            proptest::option::of(0.0f32..1.0),
            any::<bool>()
        )
            .prop_map(|(contact, agitation, abusive)| Input::End {
                contact,
                agitation,
                abusive
            }),
        contact.clone().prop_map(Input::Callback),
        contact.prop_map(Input::Escalate),
        // Levels out of range too: refused, nothing changed.
        ((0u32..6).prop_map(AgentId), 0u8..12, 0u8..12, any::<bool>()).prop_map(
            |(agent, a, b, senior)| {
                let mut skills = BTreeMap::new();
                skills.insert("a".to_string(), a);
                skills.insert("b".to_string(), b);
                if senior {
                    skills.insert("senior".to_string(), 1);
                }
                Input::SetSkills { agent, skills }
            }
        ),
        ((0u32..8).prop_map(AgentId)).prop_map(Input::RemoveAgent),
        (0u8..8, 0u8..12, 0u8..12).prop_map(|(n, a, b)| {
            let mut skills = vec![];
            if a > 0 {
                skills.push(("a", a));
            }
            if b > 0 {
                skills.push(("b", b));
            }
            Input::AddAgent(AgentConfig::new(format!("a{n}"), &skills))
        }),
        any_queue().prop_map(Input::AddQueue),
        any_queue().prop_map(Input::SetQueue),
        (
            -5.0f64..40.0,
            0u32..4,
            -5.0f64..20.0,
            -200i32..200,
            -5.0f64..60.0,
            0usize..4,
            any::<bool>(),
            0u32..4,
        )
            .prop_map(
                |(timeout, max_no_answer, retry, vip, pref, ring_all, wb, in_row)| {
                    Input::SetRules(EngineConfig {
                        offer_timeout_seconds: timeout,
                        max_no_answer,
                        retry_seconds: retry,
                        vip_boost: vip,
                        preferred_agent_seconds: pref,
                        ring_all_limit: ring_all,
                        wellbeing: WellbeingRules {
                            enabled: wb,
                            max_difficult_in_row: in_row,
                            occupancy_ceiling: 0.5,
                            occupancy_window_minutes: 5.0,
                            ..WellbeingRules::default()
                        },
                        ..EngineConfig::default()
                    })
                }
            ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Any sequence of inputs, valid or not, with all wellbeing rules on: errors, never a
    /// panic, and timers never in the past.
    #[test]
    fn arbitrary_inputs_never_panic(
        steps in proptest::collection::vec((0u64..40_000, any_input()), 1..150),
    ) {
        let rules = WellbeingRules {
            occupancy_ceiling: 0.5,
            occupancy_window_minutes: 5.0,
            escalate_agitation: 0.9,
            ..WellbeingRules::default()
        };
        let mut e = Engine::new(EngineConfig { wellbeing: rules, ..EngineConfig::default() });
        let mut q = QueueConfig::new("q0", &[("a", 3)]);
        q.max_wait = Some(hotline_acd::MaxWait {
            seconds: 60.0,
            action: hotline_acd::MaxWaitAction::Overflow { queue: "q1".into() },
        });
        q.wrap_up_seconds = 5.0;
        e.add_queue(q).unwrap();
        let mut q1 = QueueConfig::new("q1", &[]);
        q1.strategy = hotline_acd::Strategy::RingAll;
        q1.max_wait = Some(hotline_acd::MaxWait { seconds: 30.0, action: hotline_acd::MaxWaitAction::Voicemail });
        e.add_queue(q1).unwrap();
        let mut q2 = QueueConfig::new("q2", &[("b", 2)]);
        q2.channel = hotline_acd::Channel::Chat;
        q2.strategy = hotline_acd::Strategy::FewestContacts;
        e.add_queue(q2).unwrap();
        for i in 0..5 {
            e.add_agent(AgentConfig::new(format!("a{i}"), &[("a", 2 + i as u8), ("b", 3), ("senior", 1)])).unwrap();
        }
        let mut now = 0;
        for (dt, input) in steps {
            now += dt;
            e.handle_timeout(Instant(now));
            let _ = e.handle(Instant(now), input);
            while e.poll_output().is_some() {}
            if let Err(why) = e.check_consistency() {
                return Err(TestCaseError::fail(why));
            }
            if let Some(t) = e.poll_timeout() {
                prop_assert!(t.as_millis() >= now);
            }
            for c in 0..8 {
                if let Some(w) = e.wait_estimate(ContactId(c)) {
                    prop_assert!(w.estimated_wait_seconds.is_finite());
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum WOp {
    Arrive {
        difficult: bool,
    },
    End {
        pick: u8,
        agitation: f32,
        abusive: bool,
    },
    Advance(u16),
    Break(u8),
    Ready(u8),
}

fn wop() -> impl Strategy<Value = WOp> {
    prop_oneof![
        4 => any::<bool>().prop_map(|difficult| WOp::Arrive { difficult }),
        4 => (any::<u8>(), 0.0f32..1.0, any::<bool>())
            .prop_map(|(pick, agitation, abusive)| WOp::End { pick, agitation, abusive }),
        2 => (0u16..20_000).prop_map(WOp::Advance),
        1 => any::<u8>().prop_map(WOp::Break),
        1 => any::<u8>().prop_map(WOp::Ready),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// With the cap on difficult contacts in a row, no agent who reached it is offered a
    /// contact announced as difficult; a recovery break follows every difficult contact
    /// when that rule is on, and is counted apart.
    #[test]
    fn wellbeing_rules_hold(
        agents in 1usize..6,
        recovery in any::<bool>(),
        ops in proptest::collection::vec(wop(), 1..150),
    ) {
        let cap = 2u32;
        let rules = WellbeingRules {
            recovery_break_seconds: if recovery { 60.0 } else { 0.0 },
            max_difficult_in_row: cap,
            ..WellbeingRules::default()
        };
        let mut e = Engine::new(EngineConfig { wellbeing: rules, ..EngineConfig::default() });
        let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
        let ids: Vec<AgentId> = (0..agents)
            .map(|i| e.add_agent(AgentConfig::new(format!("a{i}"), &[("x", 1)])).unwrap())
            .collect();
        for &a in &ids {
            e.handle(Instant(0), Input::Login(a)).unwrap();
        }
        let mut now = 0u64;
        let mut next = 0u64;
        let mut streak = vec![0u32; agents];
        let mut difficult_of: BTreeMap<u64, bool> = BTreeMap::new();
        let mut connected: Vec<(u64, u32)> = Vec::new();
        for op in ops {
            match op {
                WOp::Arrive { difficult } => {
                    next += 1;
                    difficult_of.insert(next, difficult);
                    let mut ar = Arrival::new(ContactId(next), q);
                    ar.difficult = difficult;
                    e.handle(Instant(now), Input::Arrive(ar)).unwrap();
                }
                WOp::End { pick, agitation, abusive } => {
                    if !connected.is_empty() {
                        let (c, a) = connected.swap_remove(pick as usize % connected.len());
                        let hard = abusive || agitation >= 0.7;
                        e.handle(Instant(now), Input::End { contact: ContactId(c), agitation: Some(agitation), abusive }).unwrap();
                        if hard {
                            streak[a as usize] += 1;
                            if recovery {
                                let st = e.agent_state(AgentId(a));
                                // Unless the agent had asked for a break of their own
                                // during the contact, which then goes first.
                                prop_assert!(
                                    matches!(
                                        st,
                                        Some(AgentState::Break { recovery: true, .. })
                                    ) || matches!(&st, Some(AgentState::Break { reason, recovery: false }) if reason == "tea"),
                                    "no recovery break after a difficult contact: {st:?}"
                                );
                            }
                        } else {
                            streak[a as usize] = 0;
                        }
                    }
                }
                WOp::Advance(ms) => {
                    now += u64::from(ms);
                    e.handle_timeout(Instant(now));
                }
                WOp::Break(i) => {
                    let a = ids[i as usize % agents];
                    let _ = e.handle(Instant(now), Input::Break { agent: a, reason: "tea".into(), seconds: Some(30.0) });
                }
                WOp::Ready(i) => {
                    let a = ids[i as usize % agents];
                    let _ = e.handle(Instant(now), Input::Ready(a));
                }
            }
            while let Some(o) = e.poll_output() {
                // A break that actually begins (the agent holds nothing) ends a run.
                if let Output::AgentState { agent, state: AgentState::Break { .. } } = &o
                    && !connected.iter().any(|c| c.1 == agent.0)
                {
                    streak[agent.0 as usize] = 0;
                }
                if let Output::Offer { contact, agent, .. } = o {
                    if difficult_of.get(&contact.0).copied().unwrap_or(false) {
                        prop_assert!(
                            streak[agent.0 as usize] < cap,
                            "agent {} at {} difficult in a row offered another",
                            agent.0,
                            streak[agent.0 as usize]
                        );
                    }
                    e.handle(Instant(now), Input::Answer { contact, agent }).unwrap();
                    connected.push((contact.0, agent.0));
                }
            }
        }
        for &a in &ids {
            let w = e.agent_wellbeing(a).unwrap();
            prop_assert!(w.recovery_seconds >= 0.0 && w.pause_seconds == 0.0);
            if !recovery {
                prop_assert_eq!(w.recovery_seconds, 0.0);
            }
        }
    }
}
