//! The discrete-event simulator: virtual time, seeded randomness, the real engine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hotline_acd::{
    AgentConfig, AgentId, Arrival, ContactId, Engine, EngineConfig, Input, Instant, Output,
    QueueConfig, QueueId, WellbeingRules,
};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::Error;
use crate::scenario::{Dist, Scenario};

const HOUR_MS: u64 = 3_600_000;

/// Figures of one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueReport {
    /// Queue name.
    pub name: String,
    /// Contacts that arrived (after the warm-up).
    pub offered: u64,
    /// Contacts answered by an agent.
    pub answered: u64,
    /// Contacts whose caller hung up while waiting.
    pub abandoned: u64,
    /// Contacts that left at the maximum wait (voicemail, disconnect).
    pub max_wait_exits: u64,
    /// Fraction of offered contacts answered within the target.
    pub service_level: f64,
    /// Mean wait of answered contacts, seconds.
    pub asa: f64,
    /// Mean handle (talk) time of answered contacts, seconds.
    pub aht: f64,
    /// Fraction of offered contacts that waited at all.
    pub p_wait: f64,
    /// Fraction of offered contacts abandoned.
    pub abandon_rate: f64,
    /// Mean absolute error of the estimated wait given on queueing, against the real wait of
    /// contacts that waited and were answered, seconds.
    pub estimated_wait_mae: f64,
    /// Contacts behind that figure.
    pub estimated_wait_samples: u64,
    /// The same counts per day of the run (24-hour buckets from its start, by arrival
    /// time, warm-up excluded), so a week's plan can be judged day by day.
    pub days: Vec<DayFigures>,
}

/// One day's figures of a queue, contacts counted on the day they arrived.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayFigures {
    /// Day of the run, 0 first.
    pub day: u32,
    /// Contacts that arrived that day (after the warm-up).
    pub offered: u64,
    /// Of those, answered by an agent.
    pub answered: u64,
    /// Of those, answered within the target.
    pub answered_within_target: u64,
    /// Of those, abandoned while waiting.
    pub abandoned: u64,
    /// `answered_within_target / offered` (1 for a day without contacts).
    pub service_level: f64,
}

/// Figures of one agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentReport {
    /// Agent name.
    pub name: String,
    /// Fraction of logged-in time spent holding contacts or in wrap-up.
    pub occupancy: f64,
    /// Contacts handled.
    pub handled: u64,
    /// Difficult contacts handled.
    pub difficult: u64,
    /// Longest run of difficult contacts in a row.
    pub max_difficult_in_row: u32,
    /// Recovery breaks granted, seconds.
    pub recovery_seconds: f64,
    /// Pauses imposed by the occupancy ceiling, seconds.
    pub pause_seconds: f64,
    /// Hours logged in.
    pub logged_in_hours: f64,
}

/// How stress was spread across agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WellbeingReport {
    /// Whether any rule was on.
    pub rules_enabled: bool,
    /// Difficult contacts handled in all.
    pub difficult_contacts: u64,
    /// Mean difficult contacts per agent who handled any contact.
    pub difficult_per_agent_mean: f64,
    /// Their standard deviation.
    pub difficult_per_agent_sd: f64,
    /// Fewest difficult contacts one agent handled.
    pub difficult_per_agent_min: u64,
    /// Most difficult contacts one agent handled.
    pub difficult_per_agent_max: u64,
    /// Longest run of difficult contacts in a row, over all agents.
    pub max_difficult_in_row: u32,
    /// Agents who had three or more difficult contacts in a row.
    pub agents_with_3_in_row: u32,
    /// Recovery breaks granted in all, hours.
    pub recovery_hours: f64,
    /// Occupancy-ceiling pauses in all, hours.
    pub pause_hours: f64,
    /// Highest agent occupancy.
    pub max_occupancy: f64,
    /// Alerts raised for supervisors (abusive callers, difficult calls in a row, occupancy).
    pub supervisor_alerts: u64,
}

/// The simulation report (`hotline sim`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Per queue, in the order of the scenario.
    pub queues: Vec<QueueReport>,
    /// Per agent.
    pub agents: Vec<AgentReport>,
    /// Events (arrivals, answers, ends, hang-ups, shift changes, engine timers) processed per
    /// wall-clock second.
    pub events_per_second: f64,
    /// Events processed.
    pub events: u64,
    /// Contacts simulated, warm-up included.
    pub contacts: u64,
    /// Simulated hours.
    pub simulated_hours: f64,
    /// Wall-clock seconds the run took.
    pub wall_seconds: f64,
    /// Mean absolute error of estimated waits over all queues, seconds.
    pub estimated_wait_mae: f64,
    /// Contacts behind that figure.
    pub estimated_wait_samples: u64,
    /// How stress was spread.
    pub wellbeing: WellbeingReport,
    /// The outbound campaign's figures, for an `[outbound]` scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound: Option<crate::outbound::OutboundReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival(u32),
    Abandon(u64),
    Complete(u64),
    ShiftStart(u32),
    ShiftEnd(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CStat {
    Waiting,
    Talking,
    Gone,
}

#[derive(Debug, Clone)]
struct SimContact {
    queue: u32,
    arrived: u64,
    handle_ms: u64,
    difficult: bool,
    ewt: Option<f64>,
    state: CStat,
    counted: bool,
}

#[derive(Debug, Default, Clone)]
struct QStat {
    offered: u64,
    answered: u64,
    abandoned: u64,
    exits: u64,
    within: u64,
    waited: u64,
    wait_sum: f64,
    handle_sum: f64,
    mae_sum: f64,
    mae_n: u64,
    /// Per day of the run: offered, answered, answered within target, abandoned.
    days: Vec<[u64; 4]>,
}

const DAY_MS: u64 = 24 * HOUR_MS;

impl QStat {
    fn day(&mut self, arrived: u64) -> &mut [u64; 4] {
        let d = (arrived / DAY_MS) as usize;
        if self.days.len() <= d {
            self.days.resize(d + 1, [0; 4]);
        }
        &mut self.days[d]
    }
}

pub(crate) enum Sampler {
    Exp(Exp<f64>),
    LogNormal(LogNormal<f64>),
    Fixed(f64),
}

impl Sampler {
    pub(crate) fn new(d: &Dist) -> Result<Self, String> {
        Ok(match *d {
            Dist::Exponential { mean } => {
                Sampler::Exp(Exp::new(1.0 / mean).map_err(|e| e.to_string())?)
            }
            Dist::LogNormal { mean, sd } => {
                let s2 = (1.0 + (sd * sd) / (mean * mean)).ln();
                let mu = mean.ln() - s2 / 2.0;
                Sampler::LogNormal(LogNormal::new(mu, s2.sqrt()).map_err(|e| e.to_string())?)
            }
            Dist::Fixed { value } => Sampler::Fixed(value),
        })
    }

    pub(crate) fn ms(&self, rng: &mut Pcg64Mcg) -> u64 {
        let s = match self {
            Sampler::Exp(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
            Sampler::Fixed(v) => *v,
        };
        Instant::from_secs_f64(s).as_millis()
    }
}

struct QueueRun {
    id: QueueId,
    rate_per_ms: f64,
    curve: Vec<f64>,
    curve_step_ms: u64,
    handle: Sampler,
    patience: Option<Sampler>,
    target_ms: u64,
    difficult: f64,
    known: f64,
    factor: f64,
    vip: f64,
}

/// When an agent is on duty.
enum Duty {
    /// The whole run.
    Always,
    /// Every day from one time of day to another (milliseconds into the day).
    Daily(u64, u64),
    /// These stretches of the run (milliseconds from its start), in order.
    Stretches(Vec<(u64, u64)>),
}

struct Sim {
    engine: Engine,
    rng: Pcg64Mcg,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    ev_seq: u64,
    contacts: Vec<SimContact>,
    queues: Vec<QueueRun>,
    stats: Vec<QStat>,
    agents: Vec<(AgentId, Duty)>,
    leaving: Vec<bool>,
    warmup_ms: u64,
    end_ms: u64,
    events: u64,
    alerts: u64,
    outputs: Vec<Output>,
}

/// Runs a scenario through the real engine and reports.
pub fn simulate(sc: &Scenario) -> Result<Report, Error> {
    if let Some(spec) = &sc.outbound {
        return crate::outbound::simulate(sc, spec);
    }
    let wall = std::time::Instant::now();
    let engine_cfg = EngineConfig {
        wellbeing: sc.wellbeing.clone().unwrap_or_else(WellbeingRules::off),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(engine_cfg);
    let invalid = |message: String| Error::Invalid {
        path: String::new(),
        message,
    };
    let mut queues = Vec::new();
    for q in &sc.queues {
        let cfg = QueueConfig {
            name: q.name.clone(),
            skills: q.skills.clone(),
            channel: q.channel,
            priority: q.priority,
            target_seconds: q.target_seconds.0,
            strategy: q.strategy,
            max_wait: q.max_wait.clone(),
            overflow: q.overflow.clone(),
            wrap_up_seconds: q.wrap_up_seconds.0,
            expected_handle_seconds: q.handle_time.mean() + q.wrap_up_seconds.0,
            offer_timeout_seconds: None,
        };
        let id = engine
            .add_queue(cfg)
            .map_err(|e| invalid(format!("queue `{}`: {e}", q.name)))?;
        let handle = Sampler::new(&q.handle_time)
            .map_err(|e| invalid(format!("queue `{}` key `handle_time`: {e}", q.name)))?;
        let patience = match &q.patience {
            Some(p) => Some(
                Sampler::new(p)
                    .map_err(|e| invalid(format!("queue `{}` key `patience`: {e}", q.name)))?,
            ),
            None => None,
        };
        queues.push(QueueRun {
            id,
            rate_per_ms: q.arrivals_per_hour.0 / HOUR_MS as f64,
            curve: q.curve.iter().map(|c| c.0).collect(),
            curve_step_ms: u64::from(q.curve_minutes.max(1)) * 60_000,
            handle,
            patience,
            target_ms: Instant::from_secs_f64(q.target_seconds.0).as_millis(),
            difficult: q.difficult_fraction.0,
            known: q.difficult_known_fraction.0,
            factor: q.difficult_handle_factor.0,
            vip: q.vip_fraction.0,
        });
    }
    let mut agents = Vec::new();
    for (bi, block) in sc.agents.iter().enumerate() {
        for i in 0..block.count {
            let name = match (&block.name, block.count) {
                (Some(n), 1) => n.clone(),
                (Some(n), _) => format!("{n}-{}", i + 1),
                (None, _) => format!("agents{}-{}", bi + 1, i + 1),
            };
            let id = engine
                .add_agent(AgentConfig {
                    name: name.clone(),
                    skills: block.skills.clone(),
                    capacity: Default::default(),
                })
                .map_err(|e| invalid(format!("agent `{name}`: {e}")))?;
            let ms = |h: f64| Instant::from_secs_f64(h * 3600.0).as_millis();
            let duty = if !block.on_duty.is_empty() {
                Duty::Stretches(
                    block
                        .on_duty
                        .iter()
                        .map(|w| (ms(w.start.0), ms(w.end.0)))
                        .collect(),
                )
            } else {
                match block.shift {
                    Some(s) if ms(s.start.0) != ms(s.end.0) => {
                        Duty::Daily(ms(s.start.0), ms(s.end.0))
                    }
                    _ => Duty::Always,
                }
            };
            agents.push((id, duty));
        }
    }
    let end_ms = Instant::from_secs_f64(sc.duration_hours.0 * 3600.0).as_millis();
    let n_agents = agents.len();
    let mut sim = Sim {
        engine,
        rng: Pcg64Mcg::seed_from_u64(sc.seed),
        heap: BinaryHeap::new(),
        ev_seq: 0,
        contacts: Vec::new(),
        stats: vec![QStat::default(); queues.len()],
        queues,
        agents,
        leaving: vec![false; n_agents],
        warmup_ms: Instant::from_secs_f64(sc.warmup_hours.0 * 3600.0).as_millis(),
        end_ms,
        events: 0,
        alerts: 0,
        outputs: Vec::new(),
    };
    sim.start()?;
    sim.run()?;
    let wall_seconds = wall.elapsed().as_secs_f64();
    Ok(sim.report(sc, wall_seconds))
}

impl Sim {
    fn push(&mut self, at: u64, ev: Ev) {
        self.ev_seq += 1;
        self.heap.push(Reverse((at, self.ev_seq, ev)));
    }

    fn rate_at(&self, q: usize, t: u64) -> f64 {
        let qr = &self.queues[q];
        if qr.curve.is_empty() {
            qr.rate_per_ms
        } else {
            let step = (t / qr.curve_step_ms) as usize % qr.curve.len();
            qr.rate_per_ms * qr.curve[step]
        }
    }

    /// Next arrival of a non-homogeneous Poisson process with a piecewise rate (steps of
    /// the queue's curve).
    fn next_arrival(&mut self, q: usize, from: u64) {
        let mut t = from as f64;
        loop {
            if t >= self.end_ms as f64 {
                return;
            }
            let step = self.queues[q].curve_step_ms;
            let seg_end = ((t as u64 / step) + 1) * step;
            let rate = self.rate_at(q, t as u64);
            if rate > 0.0 {
                let u: f64 = self.rng.random();
                let gap = -(1.0 - u).ln() / rate;
                if t + gap < seg_end as f64 {
                    let at = (t + gap).round() as u64;
                    self.push(at, Ev::Arrival(q as u32));
                    return;
                }
            }
            t = seg_end as f64;
        }
    }

    fn on_shift(duty: &Duty, t: u64) -> bool {
        match *duty {
            Duty::Always => true,
            Duty::Stretches(ref w) => w.iter().any(|&(s, e)| s <= t && t < e),
            Duty::Daily(s, e) => {
                let tod = t % (24 * HOUR_MS);
                if s < e {
                    tod >= s && tod < e
                } else {
                    tod >= s || tod < e
                }
            }
        }
    }

    fn start(&mut self) -> Result<(), Error> {
        for q in 0..self.queues.len() {
            self.next_arrival(q, 0);
        }
        for i in 0..self.agents.len() {
            let id = self.agents[i].0;
            if Self::on_shift(&self.agents[i].1, 0) {
                self.input(0, Input::Login(id))?;
            }
            if let Duty::Stretches(w) = &self.agents[i].1 {
                let w = w.clone();
                for (s, e) in w {
                    if s > 0 && s < self.end_ms {
                        self.push(s, Ev::ShiftStart(i as u32));
                    }
                    if e > 0 && e < self.end_ms {
                        self.push(e, Ev::ShiftEnd(i as u32));
                    }
                }
            }
            if let Duty::Daily(s, e) = self.agents[i].1 {
                // Every day's shift start and end inside the run.
                let mut day = 0;
                while day * 24 * HOUR_MS < self.end_ms {
                    let base = day * 24 * HOUR_MS;
                    if base + s > 0 && base + s < self.end_ms {
                        self.push(base + s, Ev::ShiftStart(i as u32));
                    }
                    if base + e > 0 && base + e < self.end_ms {
                        self.push(base + e, Ev::ShiftEnd(i as u32));
                    }
                    day += 1;
                }
            }
        }
        Ok(())
    }

    fn input(&mut self, now: u64, input: Input) -> Result<(), Error> {
        self.events += 1;
        self.engine
            .handle(Instant(now), input)
            .map_err(Error::Engine)?;
        self.drain(now)
    }

    /// Acts on the engine's outputs: simulated agents answer every offer at once.
    fn drain(&mut self, now: u64) -> Result<(), Error> {
        let mut outs = std::mem::take(&mut self.outputs);
        loop {
            outs.clear();
            while let Some(o) = self.engine.poll_output() {
                outs.push(o);
            }
            if outs.is_empty() {
                break;
            }
            for o in outs.drain(..) {
                match o {
                    Output::Offer { contact, agent, .. } => {
                        let c = &mut self.contacts[contact.0 as usize];
                        if c.state != CStat::Waiting {
                            continue;
                        }
                        c.state = CStat::Talking;
                        let wait = now - c.arrived;
                        let (q, handle, counted, ewt, arrived) =
                            (c.queue as usize, c.handle_ms, c.counted, c.ewt, c.arrived);
                        if counted {
                            let within = wait <= self.queues[q].target_ms;
                            let st = &mut self.stats[q];
                            let day = st.day(arrived);
                            day[1] += 1;
                            day[2] += u64::from(within);
                            st.answered += 1;
                            st.wait_sum += wait as f64 / 1000.0;
                            st.handle_sum += handle as f64 / 1000.0;
                            if wait > 0 {
                                st.waited += 1;
                            }
                            if within {
                                st.within += 1;
                            }
                            if let Some(e) = ewt {
                                st.mae_sum += (e - wait as f64 / 1000.0).abs();
                                st.mae_n += 1;
                            }
                        }
                        self.events += 1;
                        self.engine
                            .handle(Instant(now), Input::Answer { contact, agent })
                            .map_err(Error::Engine)?;
                        self.push(now + handle, Ev::Complete(contact.0));
                    }
                    Output::Queued {
                        contact,
                        estimated_wait_seconds,
                        ..
                    } => {
                        let c = &mut self.contacts[contact.0 as usize];
                        if c.ewt.is_none() {
                            c.ewt = Some(estimated_wait_seconds);
                        }
                    }
                    Output::MaxWaitReached { contact, .. } => {
                        let c = &mut self.contacts[contact.0 as usize];
                        c.state = CStat::Gone;
                        if c.counted {
                            let st = &mut self.stats[c.queue as usize];
                            st.exits += 1;
                            st.waited += 1;
                        }
                    }
                    Output::WellbeingAlert { .. } => self.alerts += 1,
                    Output::OfferRescinded { .. }
                    | Output::Overflowed { .. }
                    | Output::AgentState { .. } => {}
                }
            }
        }
        self.outputs = outs;
        Ok(())
    }

    fn run(&mut self) -> Result<(), Error> {
        loop {
            let ev_at = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let timer_at = self.engine.poll_timeout().map(Instant::as_millis);
            let next = match (ev_at, timer_at) {
                (None, None) => break,
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (Some(a), Some(b)) => a.min(b),
            };
            if next > self.end_ms {
                break;
            }
            if timer_at == Some(next) {
                self.events += 1;
                self.engine.handle_timeout(Instant(next));
                self.drain(next)?;
                continue;
            }
            let Some(Reverse((now, _, ev))) = self.heap.pop() else {
                break;
            };
            self.event(now, ev)?;
        }
        Ok(())
    }

    fn event(&mut self, now: u64, ev: Ev) -> Result<(), Error> {
        match ev {
            Ev::Arrival(q) => {
                let qi = q as usize;
                self.next_arrival(qi, now);
                let qr = &self.queues[qi];
                let difficult = qr.difficult > 0.0 && self.rng.random::<f64>() < qr.difficult;
                let known = difficult && self.rng.random::<f64>() < qr.known;
                let vip = qr.vip > 0.0 && self.rng.random::<f64>() < qr.vip;
                let mut handle_ms = qr.handle.ms(&mut self.rng);
                if difficult {
                    handle_ms = (handle_ms as f64 * qr.factor) as u64;
                }
                let patience = qr.patience.as_ref().map(|p| p.ms(&mut self.rng));
                let queue = qr.id;
                let counted = now >= self.warmup_ms;
                let cid = self.contacts.len() as u64;
                self.contacts.push(SimContact {
                    queue: q,
                    arrived: now,
                    handle_ms,
                    difficult,
                    ewt: None,
                    state: CStat::Waiting,
                    counted,
                });
                if counted {
                    self.stats[qi].offered += 1;
                    self.stats[qi].day(now)[0] += 1;
                }
                if let Some(p) = patience {
                    self.push(now + p, Ev::Abandon(cid));
                }
                let mut ar = Arrival::new(ContactId(cid), queue);
                ar.difficult = known;
                ar.vip = vip;
                self.input(now, Input::Arrive(ar))?;
            }
            Ev::Abandon(cid) => {
                let c = &mut self.contacts[cid as usize];
                if c.state == CStat::Waiting {
                    c.state = CStat::Gone;
                    if c.counted {
                        let st = &mut self.stats[c.queue as usize];
                        st.day(c.arrived)[3] += 1;
                        st.abandoned += 1;
                        st.waited += 1;
                    }
                    self.input(now, Input::Abandon(ContactId(cid)))?;
                }
            }
            Ev::Complete(cid) => {
                let c = &mut self.contacts[cid as usize];
                c.state = CStat::Gone;
                let (agitation, abusive) = if c.difficult {
                    let x: f64 = self.rng.random();
                    (0.75 + 0.25 * x, x < 0.3)
                } else {
                    (0.5 * self.rng.random::<f64>(), false)
                };
                let agent = self.engine.contact_agent(ContactId(cid));
                self.input(
                    now,
                    Input::End {
                        contact: ContactId(cid),
                        agitation: Some(agitation as f32),
                        abusive,
                    },
                )?;
                if let Some(a) = agent {
                    let i = a.0 as usize;
                    if self.leaving.get(i).copied().unwrap_or(false)
                        && self.engine.agent_holds_contacts(a) == Some(false)
                    {
                        self.leaving[i] = false;
                        self.input(now, Input::Logout(a))?;
                    }
                }
            }
            Ev::ShiftStart(i) => {
                let i = i as usize;
                let id = self.agents[i].0;
                if self.leaving[i] {
                    // Still finishing the last contact of the previous shift: stay on.
                    self.leaving[i] = false;
                    self.input(now, Input::Ready(id))?;
                } else if self.engine.agent_state(id) == Some(hotline_acd::AgentState::LoggedOut) {
                    self.input(now, Input::Login(id))?;
                }
            }
            Ev::ShiftEnd(i) => {
                let i = i as usize;
                let id = self.agents[i].0;
                match self.engine.agent_holds_contacts(id) {
                    Some(true) => {
                        self.leaving[i] = true;
                        self.input(
                            now,
                            Input::NotReady {
                                agent: id,
                                reason: "end-of-shift".into(),
                            },
                        )?;
                    }
                    Some(false)
                        if self.engine.agent_state(id)
                            != Some(hotline_acd::AgentState::LoggedOut) =>
                    {
                        self.input(now, Input::Logout(id))?;
                    }
                    _ => {}
                }
            }
        }
        self.events += 1;
        Ok(())
    }

    fn report(&self, sc: &Scenario, wall_seconds: f64) -> Report {
        let mut queues = Vec::new();
        let (mut mae_sum, mut mae_n) = (0.0, 0);
        for (i, q) in sc.queues.iter().enumerate() {
            let st = &self.stats[i];
            let off = st.offered.max(1) as f64;
            let ans = st.answered.max(1) as f64;
            mae_sum += st.mae_sum;
            mae_n += st.mae_n;
            queues.push(QueueReport {
                name: q.name.clone(),
                offered: st.offered,
                answered: st.answered,
                abandoned: st.abandoned,
                max_wait_exits: st.exits,
                service_level: if st.offered == 0 {
                    1.0
                } else {
                    st.within as f64 / off
                },
                asa: st.wait_sum / ans,
                aht: st.handle_sum / ans,
                p_wait: st.waited as f64 / off,
                abandon_rate: st.abandoned as f64 / off,
                estimated_wait_mae: if st.mae_n == 0 {
                    0.0
                } else {
                    st.mae_sum / st.mae_n as f64
                },
                estimated_wait_samples: st.mae_n,
                days: st
                    .days
                    .iter()
                    .chain(std::iter::repeat(&[0; 4]))
                    .take(st.days.len().max(self.end_ms.div_ceil(DAY_MS) as usize))
                    .enumerate()
                    .map(|(d, &[offered, answered, within, abandoned])| DayFigures {
                        day: d as u32,
                        offered,
                        answered,
                        answered_within_target: within,
                        abandoned,
                        service_level: if offered == 0 {
                            1.0
                        } else {
                            within as f64 / offered as f64
                        },
                    })
                    .collect(),
            });
        }
        let mut agents = Vec::new();
        for &(id, _) in &self.agents {
            let w = self.engine.agent_wellbeing(id).unwrap_or_default();
            agents.push(AgentReport {
                name: self.engine.agent_name(id).unwrap_or("").to_string(),
                occupancy: if w.logged_in_seconds > 0.0 {
                    w.occupied_seconds / w.logged_in_seconds
                } else {
                    0.0
                },
                handled: w.handled,
                difficult: w.difficult,
                max_difficult_in_row: w.max_difficult_in_row,
                recovery_seconds: w.recovery_seconds,
                pause_seconds: w.pause_seconds,
                logged_in_hours: w.logged_in_seconds / 3600.0,
            });
        }
        let working: Vec<&AgentReport> = agents.iter().filter(|a| a.handled > 0).collect();
        let n = working.len().max(1) as f64;
        let total: u64 = working.iter().map(|a| a.difficult).sum();
        let mean = total as f64 / n;
        let var = working
            .iter()
            .map(|a| (a.difficult as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let wellbeing = WellbeingReport {
            rules_enabled: sc.wellbeing.as_ref().is_some_and(|w| w.enabled),
            difficult_contacts: total,
            difficult_per_agent_mean: mean,
            difficult_per_agent_sd: var.sqrt(),
            difficult_per_agent_min: working.iter().map(|a| a.difficult).min().unwrap_or(0),
            difficult_per_agent_max: working.iter().map(|a| a.difficult).max().unwrap_or(0),
            max_difficult_in_row: agents
                .iter()
                .map(|a| a.max_difficult_in_row)
                .max()
                .unwrap_or(0),
            agents_with_3_in_row: agents
                .iter()
                .filter(|a| a.max_difficult_in_row >= 3)
                .count() as u32,
            recovery_hours: agents.iter().map(|a| a.recovery_seconds).sum::<f64>() / 3600.0,
            pause_hours: agents.iter().map(|a| a.pause_seconds).sum::<f64>() / 3600.0,
            max_occupancy: agents.iter().map(|a| a.occupancy).fold(0.0, f64::max),
            supervisor_alerts: self.alerts,
        };
        Report {
            queues,
            agents,
            events_per_second: if wall_seconds > 0.0 {
                self.events as f64 / wall_seconds
            } else {
                0.0
            },
            events: self.events,
            contacts: self.contacts.len() as u64,
            simulated_hours: sc.duration_hours.0,
            wall_seconds,
            estimated_wait_mae: if mae_n == 0 {
                0.0
            } else {
                mae_sum / mae_n as f64
            },
            estimated_wait_samples: mae_n,
            wellbeing,
            outbound: None,
        }
    }
}
