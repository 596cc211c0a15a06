//! The outbound simulation: the real campaign core (`hotline-dialer`) paces the dials, the
//! real routing engine (`hotline-acd`) hands answered calls to agents, in virtual time with
//! seeded randomness for the far ends (who answers, after how long) and the handle times.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use hotline_acd::{
    AgentConfig, AgentId, AgentState, Arrival, ContactId, Engine, EngineConfig, Input, Instant,
    Output, QueueConfig, QueueId, WellbeingRules,
};
use hotline_dialer::{
    CallId, CallingHours, CampaignConfig, Contact, Control, Decision, Dialer, Mode, Outcome, Time,
    local_day, zones_of_number,
};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::scenario::{Dist, Fraction, NonNeg, Scenario};
use crate::sim::{AgentReport, Report, Sampler, WellbeingReport};

const HOUR_MS: u64 = 3_600_000;

fn default_live() -> Fraction {
    Fraction(0.25)
}
fn default_machine() -> Fraction {
    Fraction(0.20)
}
fn default_busy() -> Fraction {
    Fraction(0.05)
}
fn default_ring_live() -> Dist {
    Dist::LogNormal { mean: 9.0, sd: 4.0 }
}
fn default_ring_machine() -> Dist {
    Dist::LogNormal { mean: 9.0, sd: 4.0 }
}
fn default_ring_busy() -> Dist {
    Dist::Fixed { value: 3.0 }
}
fn default_amd() -> NonNeg {
    NonNeg(3.0)
}
fn default_flow() -> Dist {
    Dist::Fixed { value: 60.0 }
}
fn default_preview() -> NonNeg {
    NonNeg(10.0)
}
fn default_start() -> i64 {
    // 2026-12-01 09:00 UTC, a Tuesday.
    1_764_579_600
}
fn default_ring_seconds() -> NonNeg {
    NonNeg(20.0)
}
fn default_limit() -> Fraction {
    Fraction(0.03)
}
fn default_margin() -> Fraction {
    Fraction(0.4)
}
fn default_min_agents() -> u32 {
    10
}
fn default_concurrency() -> u32 {
    10
}
fn default_contacts() -> u32 {
    50_000
}

/// An `[outbound]` scenario: one campaign, its agents and its far ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSpec {
    /// Dialling mode.
    pub mode: Mode,
    /// Agents logged in for the whole run (none for agentless).
    #[serde(default)]
    pub agents: u32,
    /// Contacts in the list (UK numbers); enough that the list does not run dry.
    #[serde(default = "default_contacts")]
    pub contacts: u32,
    /// Share of dials a person answers.
    #[serde(default = "default_live")]
    pub live_answer_rate: Fraction,
    /// Share of dials an answering machine answers.
    #[serde(default = "default_machine")]
    pub machine_rate: Fraction,
    /// Share of dials that are busy. The rest ring without answer.
    #[serde(default = "default_busy")]
    pub busy_rate: Fraction,
    /// Ring time before a person answers, seconds (an answer after the ring limit is lost).
    #[serde(default = "default_ring_live")]
    pub ring_live: Dist,
    /// Ring time before a machine answers, seconds.
    #[serde(default = "default_ring_machine")]
    pub ring_machine: Dist,
    /// Time to a busy signal, seconds.
    #[serde(default = "default_ring_busy")]
    pub ring_busy: Dist,
    /// Seconds answering-machine detection takes to say "machine" after the answer.
    #[serde(default = "default_amd")]
    pub amd_seconds: NonNeg,
    /// Talk time of a connected call, seconds.
    pub handle_time: Dist,
    /// Wrap-up after each call, seconds.
    #[serde(default)]
    pub wrap_up_seconds: NonNeg,
    /// Agentless: how long the flow runs on an answered call, seconds.
    #[serde(default = "default_flow")]
    pub flow_time: Dist,
    /// Preview: seconds the agent takes to decide to dial.
    #[serde(default = "default_preview")]
    pub preview_seconds: NonNeg,
    /// Unix seconds at which the run starts (the calling hours are checked against it).
    /// Default 2026-12-01 09:00 UTC, a Tuesday.
    #[serde(default = "default_start")]
    pub start_unix_seconds: i64,
    /// Whether the default calling hours apply (Mon-Sat 08:00-21:00 London time); `false`
    /// dials around the clock.
    #[serde(default)]
    pub calling_hours: bool,
    /// The campaign's ring limit, seconds (at least 15).
    #[serde(default = "default_ring_seconds")]
    pub ring_seconds: NonNeg,
    /// The campaign's abandon limit (at most 0.03).
    #[serde(default = "default_limit")]
    pub max_abandon_rate: Fraction,
    /// The pacer aims at `max_abandon_rate * (1 - safety_margin)`.
    #[serde(default = "default_margin")]
    pub safety_margin: Fraction,
    /// Below this many agents predictive paces progressively.
    #[serde(default = "default_min_agents")]
    pub predictive_min_agents: u32,
    /// Agentless concurrency.
    #[serde(default = "default_concurrency")]
    pub agentless_concurrency: u32,
    /// Share of contacts whose number is on the do-not-call list (given to the core at the
    /// start; the run checks that none is dialled).
    #[serde(default)]
    pub do_not_call_share: Fraction,
}

/// Figures of an outbound run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundReport {
    /// Mode.
    pub mode: Mode,
    /// Agents.
    pub agents: u32,
    /// The campaign core's own counters at the end: dials, live answers, connects,
    /// abandons, machines, busy, no answer, do-not-call refusals, contacts done, its 24-hour
    /// Ofcom figure (a cross-check of the run's below) and the predictive gain.
    #[serde(flatten)]
    pub core: hotline_dialer::Stats,
    /// Time agents held calls or wrapped up, over their logged-in time (from the routing
    /// engine).
    pub occupancy: f64,
    /// Ofcom: abandoned over live calls (abandoned included), the worst 24 hours of the run.
    pub abandon_rate_ofcom: f64,
    /// TSR: abandoned over calls answered by a person, over the worst 30-day period.
    pub abandon_rate_tsr: f64,
    /// Dials per hour.
    pub dials_per_hour: f64,
    /// Connects per hour.
    pub connects_per_hour: f64,
    /// Agent idle time, hours in all.
    pub agent_idle_hours: f64,
    /// Idle seconds of an agent between calls (idle time over connects).
    pub idle_seconds_per_connect: f64,
    /// Connected calls the routing engine had to queue (no agent free after all): the core's
    /// count of free agents was wrong. Expected 0.
    pub queued_after_connect: u64,
    /// Share of pacing looks that dialled ahead (predictive) rather than progressively.
    pub predictive_share: f64,
    /// Most calls in flight at once.
    pub max_in_flight: u32,
    /// Dials that broke a rule, as the run checks each one independently of the core: a
    /// number on the do-not-call list, out of its calling hours, over the attempts per local
    /// day, or (predictive) within 72 h of an abandoned call to it. Expected 0.
    pub rule_violations: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    FarEnd(u64, u8),
    TalkEnd(u64),
    AgentFree(u64),
    FlowEnd(u64),
    PreviewDial(u64),
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Live => 0,
        Outcome::Machine => 1,
        Outcome::Busy => 2,
        Outcome::NoAnswer => 3,
        Outcome::Failed => 4,
    }
}

fn outcome_of(c: u8) -> Outcome {
    match c {
        0 => Outcome::Live,
        1 => Outcome::Machine,
        2 => Outcome::Busy,
        3 => Outcome::NoAnswer,
        _ => Outcome::Failed,
    }
}

struct Run {
    dialer: Dialer,
    acd: Engine,
    queue: QueueId,
    agents: Vec<AgentId>,
    free: HashSet<AgentId>,
    staffed: u32,
    reported: (u32, u32),
    rng: Pcg64Mcg,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    start_ms: i64,
    ring_live: Sampler,
    ring_machine: Sampler,
    ring_busy: Sampler,
    handle: Sampler,
    flow: Sampler,
    spec: OutboundSpec,
    ringing: HashSet<u64>,
    live_index: HashMap<u64, usize>,
    answered_at: Vec<(u64, bool)>,
    queued_after_connect: u64,
    looks: u64,
    predictive_looks: u64,
    max_in_flight: u32,
    events: u64,
    audit: Audit,
}

/// Checks an `[outbound]` table (called by the scenario parser).
pub(crate) fn validate(spec: &OutboundSpec) -> Result<(), String> {
    let shares = spec.live_answer_rate.0 + spec.machine_rate.0 + spec.busy_rate.0;
    if shares > 1.0 + 1e-9 {
        return Err(format!(
            "key `outbound`: live_answer_rate + machine_rate + busy_rate = {shares} is above 1"
        ));
    }
    if spec.mode != Mode::Agentless && spec.agents == 0 {
        return Err("key `outbound.agents`: at least one agent is needed".into());
    }
    if spec.agents > 100_000 || spec.contacts > 10_000_000 {
        return Err("key `outbound`: at most 100,000 agents and 10 million contacts".into());
    }
    campaign(spec)
        .validate()
        .map_err(|e| format!("key `outbound`: {e}"))
}

fn campaign(spec: &OutboundSpec) -> CampaignConfig {
    let mut cfg = CampaignConfig::new("simulated", spec.mode, "+442079460000");
    cfg.centre_time_zone = "Europe/London".into();
    if !spec.calling_hours {
        cfg.calling_hours = CallingHours::always();
    }
    cfg.rules.ring_seconds = spec.ring_seconds.0;
    cfg.rules.max_abandon_rate = spec.max_abandon_rate.0;
    cfg.rules.safety_margin = spec.safety_margin.0;
    cfg.predictive_min_agents = spec.predictive_min_agents;
    cfg.agentless_concurrency = spec.agentless_concurrency;
    // Retries close together, so that a run of hours meets the attempts-per-day cap and the
    // 72-hour block after an abandoned call.
    cfg.retries.no_answer.spacing_seconds = 1800;
    cfg.retries.no_answer.max_attempts = 5;
    cfg.retries.busy.spacing_seconds = 600;
    cfg.retries.busy.max_attempts = 5;
    cfg.retries.abandoned.spacing_seconds = 600;
    cfg.retries.abandoned.max_attempts = 5;
    cfg
}

/// Each dial checked against the rules, independently of the core.
struct Audit {
    hours: CallingHours,
    cap: u32,
    predictive: bool,
    dnc: HashSet<String>,
    per_day: HashMap<(u64, i64), u32>,
    abandoned: HashMap<u64, i64>,
    violations: u64,
}

impl Audit {
    fn dial(&mut self, at: Time, contact: u64, phone: &str) {
        let zones = zones_of_number(phone).unwrap_or_default();
        let mut bad = self.dnc.contains(phone) || !self.hours.holds_in_all(&zones, at);
        if let Some(z) = zones.first() {
            let n = self
                .per_day
                .entry((contact, local_day(*z, at)))
                .or_default();
            *n += 1;
            bad |= *n > self.cap;
        }
        if self.predictive
            && let Some(a) = self.abandoned.get(&contact)
        {
            bad |= at.0 - a < 72 * 3_600_000;
        }
        self.violations += u64::from(bad);
    }
}

/// Runs an outbound scenario.
pub(crate) fn simulate(sc: &Scenario, spec: &OutboundSpec) -> Result<Report, Error> {
    let wall = std::time::Instant::now();
    let invalid = |message: String| Error::Invalid {
        path: String::new(),
        message,
    };
    let cfg = campaign(spec);
    let audit = Audit {
        hours: cfg.calling_hours,
        cap: cfg.rules.max_attempts_per_day,
        predictive: spec.mode == Mode::Predictive,
        dnc: HashSet::new(),
        per_day: HashMap::new(),
        abandoned: HashMap::new(),
        violations: 0,
    };
    let dialer = Dialer::new(cfg).map_err(|e| invalid(e.to_string()))?;
    let mut acd = Engine::new(EngineConfig {
        wellbeing: WellbeingRules::off(),
        ..EngineConfig::default()
    });
    let queue = acd
        .add_queue(QueueConfig {
            wrap_up_seconds: spec.wrap_up_seconds.0,
            expected_handle_seconds: spec.handle_time.mean() + spec.wrap_up_seconds.0,
            ..QueueConfig::new("outbound", &[("outbound", 1)])
        })
        .map_err(Error::Engine)?;
    let mut agents = Vec::new();
    for i in 0..spec.agents {
        agents.push(
            acd.add_agent(AgentConfig::new(
                format!("agent-{}", i + 1),
                &[("outbound", 5)],
            ))
            .map_err(Error::Engine)?,
        );
    }
    let sampler = |d: &Dist, key: &str| {
        Sampler::new(d).map_err(|e| invalid(format!("key `outbound.{key}`: {e}")))
    };
    let mut run = Run {
        dialer,
        acd,
        queue,
        agents,
        free: HashSet::new(),
        staffed: 0,
        reported: (u32::MAX, u32::MAX),
        rng: Pcg64Mcg::seed_from_u64(sc.seed),
        heap: BinaryHeap::new(),
        seq: 0,
        start_ms: spec.start_unix_seconds.saturating_mul(1000),
        ring_live: sampler(&spec.ring_live, "ring_live")?,
        ring_machine: sampler(&spec.ring_machine, "ring_machine")?,
        ring_busy: sampler(&spec.ring_busy, "ring_busy")?,
        handle: sampler(&spec.handle_time, "handle_time")?,
        flow: sampler(&spec.flow_time, "flow_time")?,
        spec: spec.clone(),
        ringing: HashSet::new(),
        live_index: HashMap::new(),
        answered_at: Vec::new(),
        queued_after_connect: 0,
        looks: 0,
        predictive_looks: 0,
        max_in_flight: 0,
        events: 0,
        audit,
    };
    let end_ms = Instant::from_secs_f64(sc.duration_hours.0 * 3600.0).as_millis();
    run.start(end_ms)?;
    let stats = run.dialer.stats(Time(run.start_ms + end_ms as i64));
    let wall_seconds = wall.elapsed().as_secs_f64();

    let mut agent_reports = Vec::new();
    let (mut occupied, mut logged) = (0.0, 0.0);
    for &id in &run.agents {
        let w = run.acd.agent_wellbeing(id).unwrap_or_default();
        occupied += w.occupied_seconds;
        logged += w.logged_in_seconds;
        agent_reports.push(AgentReport {
            name: run.acd.agent_name(id).unwrap_or("").to_string(),
            occupancy: if w.logged_in_seconds > 0.0 {
                w.occupied_seconds / w.logged_in_seconds
            } else {
                0.0
            },
            handled: w.handled,
            difficult: 0,
            max_difficult_in_row: 0,
            recovery_seconds: 0.0,
            pause_seconds: 0.0,
            logged_in_hours: w.logged_in_seconds / 3600.0,
        });
    }
    let hours = sc.duration_hours.0;
    let (ofcom, tsr) = regime_rates(&run.answered_at);
    let outbound = OutboundReport {
        mode: spec.mode,
        agents: spec.agents,
        occupancy: if logged > 0.0 { occupied / logged } else { 0.0 },
        abandon_rate_ofcom: ofcom,
        abandon_rate_tsr: tsr,
        dials_per_hour: stats.dials as f64 / hours,
        connects_per_hour: stats.connected as f64 / hours,
        agent_idle_hours: (logged - occupied) / 3600.0,
        idle_seconds_per_connect: if stats.connected > 0 {
            (logged - occupied) / stats.connected as f64
        } else {
            0.0
        },
        queued_after_connect: run.queued_after_connect,
        predictive_share: if run.looks > 0 {
            run.predictive_looks as f64 / run.looks as f64
        } else {
            0.0
        },
        max_in_flight: run.max_in_flight,
        rule_violations: run.audit.violations,
        core: stats,
    };
    let max_occupancy = agent_reports
        .iter()
        .map(|a| a.occupancy)
        .fold(0.0, f64::max);
    Ok(Report {
        queues: Vec::new(),
        agents: agent_reports,
        events_per_second: if wall_seconds > 0.0 {
            run.events as f64 / wall_seconds
        } else {
            0.0
        },
        events: run.events,
        contacts: outbound.core.dials,
        simulated_hours: hours,
        wall_seconds,
        estimated_wait_mae: 0.0,
        estimated_wait_samples: 0,
        wellbeing: WellbeingReport {
            rules_enabled: false,
            difficult_contacts: 0,
            difficult_per_agent_mean: 0.0,
            difficult_per_agent_sd: 0.0,
            difficult_per_agent_min: 0,
            difficult_per_agent_max: 0,
            max_difficult_in_row: 0,
            agents_with_3_in_row: 0,
            recovery_hours: 0.0,
            pause_hours: 0.0,
            max_occupancy,
            supervisor_alerts: 0,
        },
        outbound: Some(outbound),
    })
}

/// Ofcom: the worst 24-hour window (a run shorter than a day is one window); TSR: the worst
/// 30-day period from the start. `events` are (ms, abandoned) of every live answer, in time
/// order.
fn regime_rates(events: &[(u64, bool)]) -> (f64, f64) {
    let rate = |w: &[(u64, bool)]| {
        if w.is_empty() {
            0.0
        } else {
            w.iter().filter(|e| e.1).count() as f64 / w.len() as f64
        }
    };
    let day = 24 * HOUR_MS;
    let mut ofcom = 0.0f64;
    let mut lo = 0;
    for (hi, &(t, _)) in events.iter().enumerate() {
        while events[lo].0 + day <= t {
            lo += 1;
        }
        // Only whole 24-hour windows, and the last one.
        if t >= day || hi + 1 == events.len() {
            ofcom = ofcom.max(rate(&events[lo..=hi]));
        }
    }
    let period = 30 * day;
    let mut tsr = 0.0f64;
    for chunk in events.chunk_by(|a, b| a.0 / period == b.0 / period) {
        tsr = tsr.max(rate(chunk));
    }
    (ofcom, tsr)
}

impl Run {
    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn t(&self, now: u64) -> Time {
        Time(self.start_ms + now as i64)
    }

    fn start(&mut self, end_ms: u64) -> Result<(), Error> {
        let contacts = (0..self.spec.contacts)
            .map(|i| Contact {
                id: u64::from(i),
                phone: format!("+447700{:06}", i % 1_000_000),
                time_zone: None,
            })
            .collect();
        // Numbers repeat past a million contacts; the ids keep them apart.
        let share = self.spec.do_not_call_share.0;
        for i in 0..self.spec.contacts.min(1_000_000) {
            if share > 0.0 && self.rng.random::<f64>() < share {
                let phone = format!("+447700{:06}", i % 1_000_000);
                self.audit.dnc.insert(phone.clone());
                self.dialer
                    .handle(self.t(0), hotline_dialer::Input::DncAdd(phone))
                    .map_err(|e| Error::Invalid {
                        path: String::new(),
                        message: e.to_string(),
                    })?;
            }
        }
        self.dialer
            .handle(self.t(0), hotline_dialer::Input::AddContacts(contacts))
            .map_err(|e| Error::Invalid {
                path: String::new(),
                message: e.to_string(),
            })?;
        for i in 0..self.agents.len() {
            let id = self.agents[i];
            self.acd
                .handle(Instant(0), Input::Login(id))
                .map_err(Error::Engine)?;
        }
        self.dial_input(0, hotline_dialer::Input::Control(Control::Start))?;
        self.pump(0)?;
        loop {
            let ev_at = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let acd_at = self.acd.poll_timeout().map(Instant::as_millis);
            let dial_at = self
                .dialer
                .poll_timeout()
                .map(|t| (t.0 - self.start_ms).max(0) as u64);
            let Some(next) = [ev_at, acd_at, dial_at].into_iter().flatten().min() else {
                break;
            };
            if next > end_ms {
                break;
            }
            self.events += 1;
            if acd_at == Some(next) {
                self.acd.handle_timeout(Instant(next));
            } else if dial_at == Some(next) {
                self.dialer.handle_timeout(self.t(next));
            } else if let Some(Reverse((now, _, ev))) = self.heap.pop() {
                self.event(now, ev)?;
            }
            self.pump(next)?;
        }
        Ok(())
    }

    fn dial_input(&mut self, now: u64, input: hotline_dialer::Input) -> Result<(), Error> {
        self.dialer
            .handle(self.t(now), input)
            .map_err(|e| Error::Invalid {
                path: String::new(),
                message: format!("campaign core: {e}"),
            })
    }

    fn event(&mut self, now: u64, ev: Ev) -> Result<(), Error> {
        match ev {
            Ev::FarEnd(call, code) => {
                // The core may have given up ringing first.
                if self.ringing.remove(&call) {
                    let outcome = outcome_of(code);
                    if outcome == Outcome::Live {
                        self.live_index.insert(call, self.answered_at.len());
                        self.answered_at.push((now, false));
                    }
                    self.dial_input(
                        now,
                        hotline_dialer::Input::Outcome {
                            call: CallId(call),
                            outcome,
                        },
                    )?;
                }
            }
            Ev::TalkEnd(call) => {
                self.live_index.remove(&call);
                let wrap = Instant::from_secs_f64(self.spec.wrap_up_seconds.0).as_millis();
                if wrap == 0 {
                    // The agent is free at once: the core hears it before the agent count.
                    self.dial_input(now, hotline_dialer::Input::Ended { call: CallId(call) })?;
                }
                self.acd
                    .handle(
                        Instant(now),
                        Input::End {
                            contact: ContactId(call),
                            agitation: None,
                            abusive: false,
                        },
                    )
                    .map_err(Error::Engine)?;
                if wrap > 0 {
                    self.push(now + wrap, Ev::AgentFree(call));
                }
            }
            Ev::AgentFree(call) | Ev::FlowEnd(call) => {
                self.dial_input(now, hotline_dialer::Input::Ended { call: CallId(call) })?;
            }
            Ev::PreviewDial(contact) => {
                self.dial_input(now, hotline_dialer::Input::PreviewDial { contact })?;
            }
        }
        Ok(())
    }

    /// Passes outputs between the routing engine and the campaign core until both are quiet.
    fn pump(&mut self, now: u64) -> Result<(), Error> {
        loop {
            let mut busy = false;
            while let Some(o) = self.acd.poll_output() {
                busy = true;
                match o {
                    Output::AgentState { agent, state } => {
                        match state {
                            AgentState::Available => {
                                self.free.insert(agent);
                            }
                            _ => {
                                self.free.remove(&agent);
                            }
                        }
                        self.staffed = self
                            .agents
                            .iter()
                            .filter(|a| self.acd.agent_state(**a) != Some(AgentState::LoggedOut))
                            .count() as u32;
                    }
                    Output::Offer { contact, agent, .. } => {
                        self.acd
                            .handle(Instant(now), Input::Answer { contact, agent })
                            .map_err(Error::Engine)?;
                        let talk = self.handle.ms(&mut self.rng);
                        self.push(now + talk.max(1), Ev::TalkEnd(contact.0));
                    }
                    Output::Queued { .. } => self.queued_after_connect += 1,
                    _ => {}
                }
            }
            let figures = (self.free.len() as u32, self.staffed);
            if figures != self.reported {
                busy = true;
                self.reported = figures;
                self.dial_input(
                    now,
                    hotline_dialer::Input::Agents {
                        free: figures.0,
                        staffed: figures.1,
                    },
                )?;
            }
            while let Some(d) = self.dialer.poll_decision() {
                busy = true;
                self.decision(now, d)?;
            }
            if !busy {
                break;
            }
        }
        Ok(())
    }

    fn decision(&mut self, now: u64, d: Decision) -> Result<(), Error> {
        match d {
            Decision::Dial {
                call,
                contact,
                phone,
                ..
            } => {
                self.audit.dial(self.t(now), contact, &phone);
                self.looks += 1;
                if self.dialer.stats(self.t(now)).pacing_predictive {
                    self.predictive_looks += 1;
                }
                self.ringing.insert(call.0);
                self.max_in_flight = self.max_in_flight.max(self.dialer.in_flight());
                let limit = Instant::from_secs_f64(self.spec.ring_seconds.0).as_millis();
                let u: f64 = self.rng.random();
                let s = &self.spec;
                let (live, machine, busy) = (s.live_answer_rate.0, s.machine_rate.0, s.busy_rate.0);
                let far = if u < live {
                    Some((self.ring_live.ms(&mut self.rng), Outcome::Live))
                } else if u < live + machine {
                    let amd = Instant::from_secs_f64(s.amd_seconds.0).as_millis();
                    Some((self.ring_machine.ms(&mut self.rng) + amd, Outcome::Machine))
                } else if u < live + machine + busy {
                    Some((self.ring_busy.ms(&mut self.rng), Outcome::Busy))
                } else {
                    None
                };
                // No event for a far end that does not answer within the ring limit: the
                // core's ring timeout ends the call.
                // (Detection time counts against the ring limit here.)
                if let Some((after, outcome)) = far
                    && after < limit
                {
                    self.push(
                        now + after.max(1),
                        Ev::FarEnd(call.0, outcome_code(outcome)),
                    );
                }
            }
            Decision::CancelDial { call } => {
                self.ringing.remove(&call.0);
            }
            Decision::Connect { call, priority, .. } => {
                let mut a = Arrival::new(ContactId(call.0), self.queue);
                a.priority = priority;
                self.acd
                    .handle(Instant(now), Input::Arrive(a))
                    .map_err(Error::Engine)?;
            }
            Decision::PlayAbandonMessage { call, contact } => {
                self.audit
                    .abandoned
                    .insert(contact, self.start_ms + now as i64);
                if let Some(i) = self.live_index.remove(&call.0) {
                    self.answered_at[i].1 = true;
                }
                self.dial_input(now, hotline_dialer::Input::Ended { call })?;
            }
            Decision::LeaveMessage { call } | Decision::HangUp { call } => {
                self.dial_input(now, hotline_dialer::Input::Ended { call })?;
            }
            Decision::RunFlow { call, .. } => {
                let t = self.flow.ms(&mut self.rng);
                self.push(now + t.max(1), Ev::FlowEnd(call.0));
            }
            Decision::OfferPreview { contact, .. } => {
                let t = Instant::from_secs_f64(self.spec.preview_seconds.0).as_millis();
                self.push(now + t, Ev::PreviewDial(contact));
            }
            Decision::PreviewWithdrawn { .. }
            | Decision::ContactDone { .. }
            | Decision::State(_) => {}
        }
        Ok(())
    }
}
